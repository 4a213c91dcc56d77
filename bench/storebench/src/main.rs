//! `storebench`: how fast the usage writer gets rows onto disk.
//!
//! Sends N realistic usage events through the real writer (its own thread, batched
//! transactions, WAL, the same pragmas as the proxy) into a fresh database file, and reports
//! rows per second from the first send to the last commit.
#![allow(clippy::print_stdout)] // a command-line tool: its report is its output

use std::time::Instant;

use clap::Parser;
use ondemand_core::store::usage::{FailedAttempt, UsageEvent, totals};
use ondemand_core::store::writer::UsageWriter;
use ondemand_core::tools::CallSummary;

#[derive(Parser)]
struct Args {
    /// Rows to write through the usage writer.
    #[arg(long, default_value_t = 500_000)]
    rows: u64,
    /// Instead: fill a database with this many rows spread over 90 days, then time the
    /// admin API's queries on it (p50/p95 of 50 runs each).
    #[arg(long)]
    query_rows: Option<u64>,
    /// Instead: fill the database file at this path (created and migrated if needed) with
    /// `--rows` rows spread over the last 90 days, and stop (for the UI benchmark).
    #[arg(long)]
    fill: Option<std::path::PathBuf>,
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
        model_label: Some(models[(i % 4) as usize].to_owned()),
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
        notes: None,
        // One request in 4 offers tools and calls one; one in 40 needed a correction.
        tools: if i % 4 == 0 { 3 } else { 0 },
        tool_calls: if i % 4 == 0 {
            vec![CallSummary {
                name: "get_weather".to_owned(),
                argument_bytes: 17,
            }]
        } else {
            vec![]
        },
        corrected: i % 40 == 0,
        response_format: (i % 20 == 0).then(|| "json_schema".to_owned()),
        // The dialects and clients in the proportions a mixed desktop might see.
        dialect: ["chat", "chat", "messages", "responses"][(i % 4) as usize].to_owned(),
        client: [
            "openai_sdk",
            "cherry_studio",
            "claude_code",
            "codex",
            "curl",
        ][(i % 5) as usize]
            .to_owned(),
        // One request in 25 carries an image, described or (more often) from the cache.
        images_described: u32::from(i % 100 == 0),
        images_cached: u32::from(i % 25 == 5),
        images_uploaded: u32::from(i % 25 == 0),
        // One request in 50 failed over once, as with a flaky account.
        failed_attempts: if i % 50 == 1 {
            vec![FailedAttempt {
                account: "acct-0".to_owned(),
                status: Some(429),
                code: Some("rate_limit_exceeded".to_owned()),
                message: "on-demand.io answered HTTP 429".to_owned(),
            }]
        } else {
            Vec::new()
        },
    }
}

/// Fills a database with `rows` events over the last 90 days, in large transactions.
fn fill(path: &std::path::Path, rows: u64) -> anyhow::Result<()> {
    let mut conn = ondemand_core::store::open(path)?;
    let now = ondemand_core::clock::now_ms();
    let span = 90 * 86_400_000_i64;
    let chunk = 100_000;
    let mut done = 0;
    while done < rows {
        let n = chunk.min(rows - done);
        let events: Vec<UsageEvent> = (done..done + n)
            .map(|i| UsageEvent {
                ts: now - span + (i as i64 * span / rows as i64),
                ..event(i, 0)
            })
            .collect();
        let tx = conn.transaction()?;
        ondemand_core::store::usage::insert_batch(&tx, &events)?;
        tx.commit()?;
        done += n;
    }
    Ok(())
}

/// Times `query` `runs` times; returns (p50, p95) in ms.
fn time<T>(
    runs: usize,
    mut query: impl FnMut(usize) -> rusqlite::Result<T>,
) -> anyhow::Result<(f64, f64)> {
    let mut ms = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = Instant::now();
        query(i)?;
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms[runs / 2], ms[runs * 95 / 100]))
}

fn queries(rows: u64) -> anyhow::Result<()> {
    use ondemand_core::store::usage::{
        Dimension, Outcome, RequestFilter, breakdown, overview, page, series,
    };
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("big.db");
    let started = Instant::now();
    fill(&path, rows)?;
    let fill_s = started.elapsed().as_secs_f64();
    let conn = ondemand_core::store::open(&path)?;
    let now = ondemand_core::clock::now_ms();
    let (day, hour) = (86_400_000_i64, 3_600_000_i64);
    let report = |label: &str, (p50, p95): (f64, f64)| {
        println!(
            "{}",
            serde_json::json!({"label": label, "rows": rows, "p50_ms": p50, "p95_ms": p95, "target_p95_ms": 50})
        );
    };
    let all = RequestFilter::default();
    let by_model = RequestFilter {
        model: Some("deepseek-r1".into()),
        ..RequestFilter::default()
    };
    let errors = RequestFilter {
        outcome: Some(Outcome::Error),
        account: Some("account-3".into()),
        ..RequestFilter::default()
    };
    let newest: i64 = conn.query_row("SELECT MAX(id) FROM usage_events", [], |r| r.get(0))?;
    report(
        "overview, last 30 days",
        time(50, |i| {
            overview(&conn, now - 30 * day - i as i64 * hour, now)
        })?,
    );
    report(
        "series, 24 hourly buckets",
        time(50, |i| {
            series(&conn, now - day - i as i64 * hour, now, hour, 0)
        })?,
    );
    report(
        "series, 30 daily buckets (UTC+8)",
        time(50, |_| series(&conn, now - 30 * day, now, day, 8 * hour))?,
    );
    report(
        "breakdown by model, 7 days",
        time(50, |_| {
            breakdown(&conn, now - 7 * day, now, Dimension::Model)
        })?,
    );
    report(
        "breakdown by model, 30 days",
        time(50, |_| {
            breakdown(&conn, now - 30 * day, now, Dimension::Model)
        })?,
    );
    report(
        "requests page, newest",
        time(50, |_| page(&conn, None, 50, &all))?,
    );
    report(
        "requests page, deep (keyset)",
        time(50, |i| {
            page(&conn, Some(newest - newest / 10 * (i as i64 % 9)), 50, &all)
        })?,
    );
    report(
        "requests page, model filter",
        time(50, |_| page(&conn, None, 50, &by_model))?,
    );
    report(
        "requests page, errors of one account",
        time(50, |_| page(&conn, None, 50, &errors))?,
    );
    println!(
        "{}",
        serde_json::json!({"label": "fill", "rows": rows, "seconds": fill_s})
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(rows) = args.query_rows {
        return queries(rows);
    }
    if let Some(path) = args.fill {
        let started = Instant::now();
        fill(&path, args.rows)?;
        println!(
            "{}",
            serde_json::json!({"label": "fill", "rows": args.rows, "seconds": started.elapsed().as_secs_f64()})
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.db");
    let (writer, sink) = UsageWriter::start(&path, Default::default())?;
    let now = ondemand_core::clock::now_ms();
    let started = Instant::now();
    let mut sent = 0;
    while sent < args.rows {
        // Hand over in chunks and let the writer drain, as bursts of requests would.
        for _ in 0..10_000.min(args.rows - sent) {
            if sink.record(event(sent, now)).is_err() {
                anyhow::bail!("the writer's queue overflowed at row {sent}");
            }
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
