//! `storebench`: how fast the usage writer gets rows onto disk.
//!
//! Sends N realistic usage events through the real writer (its own thread, batched
//! transactions, WAL, the same pragmas as the proxy) into a fresh database file, and reports
//! rows per second from the first send to the last commit.
#![allow(clippy::print_stdout)] // a command-line tool: its report is its output

use std::time::Instant;

use clap::Parser;
use ondemand_core::store::usage::{UsageEvent, totals};
use ondemand_core::store::writer::UsageWriter;

#[derive(Parser)]
struct Args {
    /// Rows to write.
    #[arg(long, default_value_t = 500_000)]
    rows: u64,
}

fn event(i: u64, now: i64) -> UsageEvent {
    let models = [
        "gpt-4o",
        "claude-3.7-sonnet",
        "deepseek-r1",
        "gemini-2.0-flash",
    ];
    UsageEvent {
        ts: now + (i as i64 % 3_600_000),
        client_token: format!("token-{}", i % 5),
        account: Some(format!("account-{}", i % 7)),
        model: models[(i % 4) as usize].to_owned(),
        endpoint_id: Some(format!("predefined-{}", models[(i % 4) as usize])),
        stream: i % 2 == 0,
        status: if i % 50 == 0 { 502 } else { 200 },
        error_class: (i % 50 == 0).then(|| "upstream_error".to_owned()),
        attempts: 1 + (i % 3) as u32,
        latency_ms: 200 + (i % 1000) as u32,
        ttft_ms: Some(50 + (i % 200) as u32),
        input_tokens: 1000 + i % 500,
        output_tokens: 200 + i % 300,
        tokens_estimated: i % 10 == 0,
        session_reused: i % 3 == 0,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let (writer, sink) = UsageWriter::start(&path)?;
    let now = ondemand_core::store::now_ms();
    let started = Instant::now();
    let mut sent = 0;
    while sent < args.rows {
        // Hand over in chunks and let the writer drain, as bursts of requests would.
        for _ in 0..10_000.min(args.rows - sent) {
            sink.record(event(sent, now));
            sent += 1;
        }
        sink.flush().await;
    }
    writer.close().await;
    let elapsed = started.elapsed().as_secs_f64();
    let conn = ondemand_core::store::open(&path)?;
    let (rows, ..) = totals(&conn, 0, i64::MAX)?;
    anyhow::ensure!(
        rows == args.rows,
        "wrote {rows} of {} rows (dropped {})",
        args.rows,
        sink.dropped()
    );
    let report = serde_json::json!({
        "label": "usage writer insert rate", "rows": rows, "seconds": elapsed,
        "rows_per_s": rows as f64 / elapsed, "target_rows_per_s": 20_000,
    });
    println!("{report}");
    Ok(())
}
