//! `fake-ondemand`: the fake upstream as a process, for benchmarks and manual trials.

use clap::Parser;
use fake_ondemand::{FakeOnDemand, FakeOptions};

#[derive(Parser)]
#[command(about = "A fake on-demand.io chat API on loopback, for tests and benchmarks")]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// An API key to accept (repeatable). Without any, every non-empty key is accepted.
    #[arg(long = "key")]
    keys: Vec<String>,
    /// An email:password account to accept (repeatable).
    #[arg(long = "user")]
    users: Vec<String>,
    /// Do not record requests (for long benchmarks).
    #[arg(long)]
    no_record: bool,
    /// Make one key fail every call: KEY=STATUS:ERROR_CODE, e.g. bad=429:rate_limit_exceeded.
    #[arg(long = "fail", value_name = "KEY=STATUS:CODE")]
    failures: Vec<String>,
    /// Pause between stream frames, for every credential (benchmarks of long streams).
    #[arg(long, default_value_t = 0)]
    frame_delay_ms: u64,
    /// Serve HTTPS with HTTP/2 (ALPN h2 and http/1.1), with a CA made at start.
    #[arg(long)]
    tls: bool,
    /// Put before every answer (the demo's marks its answers as simulated).
    #[arg(long, value_name = "TEXT")]
    answer_prefix: Option<String>,
    /// With --tls: where to write the CA's certificate (PEM) for clients to trust.
    #[arg(long, value_name = "PATH", requires = "tls")]
    ca_out: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind((args.host, args.port)).await?;
    let defaults = FakeOptions::default();
    let options = FakeOptions {
        accept_any_key: args.keys.is_empty(),
        record: !args.no_record,
        answer_prefix: args
            .answer_prefix
            .clone()
            .unwrap_or(defaults.answer_prefix.clone()),
        ..defaults
    };
    let fake = if args.tls {
        FakeOnDemand::serve_tls(listener, options)?
    } else {
        FakeOnDemand::serve(listener, options)?
    };
    let ca_path = match fake.ca_pem() {
        Some(pem) => {
            let path = args.ca_out.clone().unwrap_or_else(|| {
                std::env::temp_dir().join(format!("fake-ondemand-ca-{}.pem", fake.addr().port()))
            });
            std::fs::write(&path, pem)?;
            Some(path)
        }
        None => None,
    };
    fake.set_default_behaviour(fake_ondemand::Behaviour {
        frame_delay_ms: args.frame_delay_ms,
        ..Default::default()
    });
    for spec in &args.failures {
        let parsed = spec.split_once('=').and_then(|(key, rest)| {
            let (status, code) = rest.split_once(':')?;
            Some((key, status.parse::<u16>().ok()?, code))
        });
        let (key, status, code) =
            parsed.ok_or_else(|| anyhow::anyhow!("--fail takes KEY=STATUS:CODE, got {spec}"))?;
        fake.set_behaviour(
            key,
            fake_ondemand::Behaviour {
                failure: Some(fake_ondemand::Failure::new(status, code)),
                frame_delay_ms: args.frame_delay_ms,
                ..Default::default()
            },
        );
    }
    for key in &args.keys {
        fake.add_key(key);
    }
    for user in &args.users {
        let (email, password) = user
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--user takes email:password"))?;
        fake.add_user(email, password);
    }
    #[allow(clippy::print_stdout)]
    {
        println!("fake on-demand.io listening on {}", fake.url());
        if let Some(path) = &ca_path {
            println!("CA certificate: {}", path.display());
        }
    }
    tokio::signal::ctrl_c().await?;
    fake.stop().await;
    Ok(())
}
