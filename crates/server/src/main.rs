//! `ondemand-proxy`: the headless server.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use ondemand_core::config::{self, Sources};
use ondemand_proxy::bootstrap::{self, TokenOrigin};
use ondemand_proxy::{AppState, serve};

#[derive(Parser)]
#[command(
    name = "ondemand-proxy",
    version,
    about = "OpenAI-compatible API in front of on-demand.io"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy server.
    Serve(ServeArgs),
}

/// Flags override environment variables, which override the config file.
#[derive(Args)]
struct ServeArgs {
    /// Config file (JSON, the original proxy's format). Default: ./config.json if present.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1]. Anything but loopback exposes the proxy.
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on; 0 picks a free one [default: 8787].
    #[arg(long)]
    port: Option<String>,
    /// Where the client token (and later the database) live [default: the OS data dir].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Start with an in-process fake on-demand.io and a demo account: every answer is simulated.
    #[arg(long)]
    demo: bool,
    /// More verbose logs (DEBUG_MODE).
    #[arg(long)]
    debug: bool,
    /// Client token for /v1/* (API_ACCESS_TOKEN). Visible in the process list: prefer the env var.
    #[arg(long, value_name = "TOKEN")]
    api_access_token: Option<String>,
    #[arg(long, value_name = "MINUTES")]
    session_timeout_minutes: Option<String>,
    #[arg(long, value_name = "N")]
    max_retries: Option<String>,
    #[arg(long, value_name = "SECONDS")]
    retry_delay: Option<String>,
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<String>,
    #[arg(long, value_name = "SECONDS")]
    stream_timeout: Option<String>,
    /// Requests per minute per client token; 0 = unlimited.
    #[arg(long, value_name = "RPM")]
    rate_limit: Option<String>,
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    #[arg(long, value_name = "URL")]
    auth_base_url: Option<String>,
    #[arg(long, value_name = "UA")]
    user_agent: Option<String>,
    /// Forward max_tokens upstream (undocumented there; off by default).
    #[arg(long)]
    forward_max_tokens: bool,
    #[arg(long, value_name = "BYTES")]
    max_body_bytes: Option<String>,
}

impl ServeArgs {
    /// The flags that were given, as `(config key, raw value)`.
    fn flags(&self) -> Vec<(&'static str, String)> {
        let mut flags = Vec::new();
        let mut put = |key: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                flags.push((key, v.clone()));
            }
        };
        put("host", &self.host);
        put("port", &self.port);
        put("data_dir", &self.data_dir);
        put("api_access_token", &self.api_access_token);
        put("session_timeout_minutes", &self.session_timeout_minutes);
        put("max_retries", &self.max_retries);
        put("retry_delay", &self.retry_delay);
        put("request_timeout", &self.request_timeout);
        put("stream_timeout", &self.stream_timeout);
        put("rate_limit", &self.rate_limit);
        put("base_url", &self.base_url);
        put("auth_base_url", &self.auth_base_url);
        put("user_agent", &self.user_agent);
        put("max_body_bytes", &self.max_body_bytes);
        if self.debug {
            flags.push(("debug_mode", "true".into()));
        }
        if self.forward_max_tokens {
            flags.push(("forward_max_tokens", "true".into()));
        }
        flags
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let Command::Serve(args) = Cli::parse().command;
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("ondemand-proxy: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging(debug: bool) {
    let default = if debug {
        "debug,hyper=info,reqwest=info,h2=info"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok();
    let mut config = config::load(Sources {
        file: args.config.as_deref(),
        default_file: Some(std::path::Path::new("config.json")),
        env: &env,
        flags: args.flags(),
    })?;
    init_logging(config.settings.debug_mode);
    if let Some(file) = &config.file {
        tracing::info!(file = %file.display(), "read configuration");
    }
    if !config.unknown_keys.is_empty() {
        tracing::warn!(keys = ?config.unknown_keys, "config file keys this version does not use were ignored");
    }
    let _demo = if args.demo {
        if !config.accounts.is_empty() {
            tracing::warn!(
                "--demo: the configured accounts are not used; answers come from a simulated upstream"
            );
        }
        Some(
            bootstrap::demo(&mut config)
                .await
                .context("starting the demo upstream")?,
        )
    } else {
        None
    };
    if config.accounts.is_empty() {
        tracing::warn!(
            "no on-demand.io accounts configured: chat requests will fail until one is added (or use --demo)"
        );
    }
    let data_dir = config
        .data_dir
        .clone()
        .unwrap_or_else(bootstrap::default_data_dir);
    let (token, origin) = bootstrap::client_token(config.api_access_token.clone(), &data_dir)
        .with_context(|| {
            format!(
                "reading or creating the client token in {}",
                data_dir.display()
            )
        })?;
    let engine = bootstrap::engine(&config).context("building the upstream client")?;
    let addr = SocketAddr::new(config.host, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "listening on a non-loopback address: anyone who can reach it can use the proxy with the client token");
    }
    announce(local, &token, &origin, args.demo);
    tracing::info!(accounts = config.accounts.len(), "ready");
    serve(listener, AppState::new(engine, token), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// The one message for the person at the terminal: where to point clients, and the token
/// the first time it exists.
#[allow(clippy::print_stdout)]
fn announce(local: SocketAddr, token: &ondemand_core::Secret, origin: &TokenOrigin, demo: bool) {
    let host = if local.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        local.ip().to_string()
    };
    let host = if local.is_ipv6() && !local.ip().is_unspecified() {
        format!("[{host}]")
    } else {
        host
    };
    println!("OnDemand Proxy listening on http://{host}:{}", local.port());
    println!("OpenAI base URL: http://{host}:{}/v1", local.port());
    match origin {
        TokenOrigin::Configured => println!("Client token: the configured api_access_token"),
        TokenOrigin::Stored(path) => println!("Client token: stored in {}", path.display()),
        TokenOrigin::Generated(path) => {
            println!(
                "Client token (generated now, shown once, stored in {}):",
                path.display()
            );
            println!("  {}", token.expose());
        }
    }
    if demo {
        println!("Demo mode: answers come from a simulated upstream, not a model.");
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
