//! `ondemand-proxy`: the headless server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Command};
use ondemand_core::config::{self, Sources, all_names};
use ondemand_proxy::bootstrap::{self, TokenOrigin};
use ondemand_proxy::launch;

/// jemalloc rather than glibc's allocator, which after a burst of 5,000 streams kept all of
/// its 330 MiB (malloc_trim would have handed back three quarters); jemalloc, with the
/// options in `.cargo/config.toml`, is back under 85 MiB within seconds, at the same
/// throughput (bench/run.sh scale; mimalloc kept more than glibc). Not on Windows, where
/// jemalloc's GNU build does not link: the system allocator serves there.
#[cfg(not(windows))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The command line. Every configuration key has a flag, made from the one table of keys
/// (`config::all_names`), so flags, env vars and `config.json` keys can never drift apart.
/// Flags override environment variables, which override the config file.
fn cli() -> Command {
    let mut serve = configured(Command::new("serve").about("Run the proxy server"));
    #[cfg(feature = "demo")]
    {
        serve = serve.arg(
            Arg::new("demo")
                .long("demo")
                .action(ArgAction::SetTrue)
                .help("Start with an in-process simulated on-demand.io and a demo account: every answer is simulated"),
        )
        .arg(
            Arg::new("demo-tls")
                .long("demo-tls")
                .action(ArgAction::SetTrue)
                .help("As --demo, with the simulated on-demand.io speaking HTTPS and HTTP/2 through a CA made at start, as the real one is reached"),
        );
    }
    let switch = |name: &'static str, help: &'static str| {
        Arg::new(name)
            .long(name)
            .action(ArgAction::SetTrue)
            .help(help)
    };
    let doctor = configured(Command::new("doctor").about(
        "Check the real on-demand.io with your accounts against what this proxy expects, in a report safe to share (about 6 small upstream calls per account)",
    ))
    .arg(
        Arg::new("account")
            .long("account")
            .value_name("NAME")
            .help("Check this account only [default: each enabled account]"),
    )
    .arg(switch("json", "Print the report as JSON"))
    .arg(switch("with-media", "Include a 1x1 PNG upload to the image agent (one more call, and its delete)"))
    .arg(switch("force", "Run even for an account resting after a 429"));
    let connect = configured(Command::new("connect").about(
        "Point a coding agent at this proxy by writing its own config file (Claude Code: ~/.claude/settings.json; Codex CLI: ~/.codex/config.toml), keeping a backup; or take it back with --undo",
    ))
    .arg(
        Arg::new("agent")
            .value_parser(["claude-code", "codex"])
            .help("The agent [default: show each agent's state]"),
    )
    .arg(switch("undo", "Take the connection back: the backup when the file is as it was written, else only the proxy's keys"))
    .arg(switch("dry-run", "Print the change as a diff without making it"))
    .arg(
        Arg::new("token")
            .long("token")
            .value_name("SECRET")
            .help("The client token the agent sends [default: the default client token]"),
    );
    Command::new("ondemand-proxy")
        .version(env!("CARGO_PKG_VERSION"))
        .about("OpenAI-compatible API in front of on-demand.io")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(serve)
        .subcommand(doctor)
        .subcommand(connect)
        .subcommand(
            Command::new("openapi")
                .about("Print the admin API's OpenAPI document (what /api/openapi.json serves)"),
        )
}

/// `command` with the configuration's flags: `--config` and one per configuration key.
fn configured(mut command: Command) -> Command {
    command = command.arg(
        Arg::new("config")
            .long("config")
            .value_name("FILE")
            .value_parser(clap::value_parser!(PathBuf))
            .help("Config file (JSON, the original proxy's format) [default: ./config.json if present]"),
    );
    for field in all_names() {
        let arg = Arg::new(field.key)
            .long(field.flag.trim_start_matches("--"))
            .help(field.help());
        command = command.arg(if field.switch {
            arg.action(ArgAction::SetTrue)
        } else {
            arg.value_name(field.env)
        });
    }
    command
}

/// The configuration as the flags, the environment and the config file give it.
fn load(args: &ArgMatches) -> anyhow::Result<config::Config> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(config::load(Sources {
        file: args.get_one::<PathBuf>("config").map(PathBuf::as_path),
        default_file: Some(std::path::Path::new("config.json")),
        env: &env,
        flags: flags(args),
    })?)
}

/// For a command whose output is its answer (`doctor`, `connect`): the configuration, the
/// data directory `serve` would use, and logging at `info` on stderr (held while it runs).
fn load_quietly(
    args: &ArgMatches,
) -> anyhow::Result<(config::Config, PathBuf, ondemand_proxy::logging::LogGuards)> {
    let config = load(args)?;
    let logs = ondemand_proxy::logging::init(false, None);
    let data_dir = config
        .data_dir
        .clone()
        .unwrap_or_else(bootstrap::default_data_dir);
    Ok((config, data_dir, logs))
}

/// The flags that were given, as `(config key, raw value)`.
fn flags(matches: &ArgMatches) -> Vec<(&'static str, String)> {
    all_names()
        .filter_map(|f| {
            if f.switch {
                matches.get_flag(f.key).then(|| (f.key, "true".to_owned()))
            } else {
                matches.get_one::<String>(f.key).map(|v| (f.key, v.clone()))
            }
        })
        .collect()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let matches = cli().get_matches();
    let result = match matches.subcommand() {
        Some(("serve", args)) => run(args).await,
        Some(("doctor", args)) => return doctor(args).await,
        Some(("connect", args)) => connect(args).await,
        Some(("openapi", _)) => print_openapi(),
        _ => return std::process::ExitCode::FAILURE,
    };
    match result {
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

/// `doctor`: the reports on stdout (text, or JSON with `--json`); the exit status says how
/// it went (0 clean, 1 deviations or failures, 2 nothing reached, 3 it could not run).
#[allow(clippy::print_stdout, clippy::print_stderr)]
async fn doctor(args: &ArgMatches) -> std::process::ExitCode {
    let asked = ondemand_proxy::doctor::Asked {
        account: args.get_one::<String>("account").cloned(),
        media: args.get_flag("with-media"),
        force: args.get_flag("force"),
    };
    let ran = async {
        // Only warnings: the report is the output.
        let (config, data_dir, _logs) = load_quietly(args)?;
        ondemand_proxy::doctor::run(&config, &data_dir, &asked).await
    };
    match ran.await {
        Ok(reports) => {
            if args.get_flag("json") {
                match serde_json::to_string_pretty(&reports) {
                    Ok(json) => println!("{json}"),
                    Err(e) => eprintln!("ondemand-proxy: {e}"),
                }
            } else {
                for report in &reports {
                    println!("{}", report.text());
                }
            }
            std::process::ExitCode::from(ondemand_proxy::doctor::exit_code(&reports))
        }
        Err(e) => {
            eprintln!("ondemand-proxy doctor: {e:#}");
            std::process::ExitCode::from(3)
        }
    }
}

/// `connect`: what changed (or would change) on stdout.
#[allow(clippy::print_stdout)]
async fn connect(args: &ArgMatches) -> anyhow::Result<()> {
    use ondemand_proxy::clients::{Agent, connect};
    let (config, data_dir, _logs) = load_quietly(args)?;
    let asked = connect::Asked {
        agent: args
            .get_one::<String>("agent")
            .and_then(|a| Agent::from_id(a)),
        undo: args.get_flag("undo"),
        dry_run: args.get_flag("dry-run"),
        token: args.get_one::<String>("token").cloned(),
    };
    anyhow::ensure!(
        asked.agent.is_some() || !(asked.undo || asked.dry_run || asked.token.is_some()),
        "name the agent: `connect claude-code` or `connect codex`"
    );
    print!("{}", connect::run(&config, &data_dir, &asked).await?);
    Ok(())
}

#[allow(clippy::print_stdout)]
fn print_openapi() -> anyhow::Result<()> {
    println!("{}", ondemand_proxy::admin::document().to_pretty_json()?);
    Ok(())
}

/// The demo's simulated upstream: its URL, and what keeps it running while held.
type DemoUpstream = Option<(String, Box<dyn std::any::Any + Send>)>;

/// `--demo`: an in-process simulated on-demand.io in place of the configured accounts.
#[cfg(feature = "demo")]
async fn demo(args: &ArgMatches, config: &mut config::Config) -> anyhow::Result<DemoUpstream> {
    let tls = args.get_flag("demo-tls");
    if !args.get_flag("demo") && !tls {
        return Ok(None);
    }
    if !config.accounts.is_empty() {
        tracing::warn!(
            "--demo: the configured accounts are not used; answers come from a simulated upstream"
        );
    }
    let demo = ondemand_proxy::demo::start(config, tls)
        .map_err(|e| anyhow::anyhow!("starting the demo upstream: {e}"))?;
    Ok(Some((demo.url(), Box::new(demo))))
}

/// Built without the `demo` feature: no `--demo`.
#[cfg(not(feature = "demo"))]
async fn demo(_: &ArgMatches, _: &mut config::Config) -> anyhow::Result<DemoUpstream> {
    Ok(None)
}

async fn run(args: &ArgMatches) -> anyhow::Result<()> {
    let signal = launch::shutdown_signal();
    let mut config = load(args)?;
    let _logs = ondemand_proxy::logging::init(config.settings.debug_mode, None);
    ondemand_proxy::fds::log(ondemand_proxy::fds::raise_limit());
    if let Some(file) = &config.file {
        tracing::info!(file = %file.display(), "read configuration");
    }
    if let Some(repaired) = &config.file_repaired {
        tracing::warn!(%repaired, "the config file was not private");
    }
    if !config.unknown_keys.is_empty() {
        tracing::warn!(keys = ?config.unknown_keys, "config file keys this version does not use were ignored");
    }
    let demo_upstream = demo(args, &mut config).await?;
    let demo = demo_upstream.is_some();
    let data_dir = config
        .data_dir
        .clone()
        .unwrap_or_else(bootstrap::default_data_dir);
    let opened = bootstrap::open(&config, &data_dir)?;
    if let Some((url, keep)) = demo_upstream {
        opened.state.set_demo();
        opened.state.simulate_with(url, keep);
    }
    report(&opened.report);
    let listener = launch::bind(
        SocketAddr::new(config.host, config.port),
        config.settings.listen_backlog,
    )?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "listening on a non-loopback address: anyone who can reach it can use the proxy with a client token");
    }
    announce(
        local,
        opened.state.client_token(),
        &opened.token_origin,
        demo,
    );
    announce_admin(opened.state.admin().password(), &opened.admin_origin);
    let accounts = opened.state.engine().routing.pool.len();
    if accounts == 0 {
        tracing::warn!(
            "no on-demand.io accounts yet: chat requests will fail until one is added (dashboard, config, or --demo)"
        );
    }
    tracing::info!(accounts, "ready");
    launch::Running::start(opened, listener)?
        .until(signal)
        .await?;
    tracing::info!("stopped; usage written");
    Ok(())
}

/// What start-up changed in the database, for the log.
fn report(report: &ondemand_core::control::StartReport) {
    let a = &report.accounts;
    if !(a.added.is_empty() && a.updated.is_empty() && a.removed.is_empty()) {
        tracing::info!(added = ?a.added, updated = ?a.updated, removed = ?a.removed, "config accounts synced");
    }
    if !a.shadowed.is_empty() {
        tracing::warn!(names = ?a.shadowed, "config accounts skipped: accounts with these names were created in the dashboard; rename one of them");
    }
    if report.default_token_shadowed {
        tracing::warn!(
            "the configured client token was not stored: a dashboard token is named \"default\""
        );
    }
    for ignored in &report.ignored_settings {
        tracing::warn!(setting = %ignored, "a dashboard setting this version refuses was ignored");
    }
    if report.sessions_restored > 0 {
        tracing::info!(
            sessions = report.sessions_restored,
            "reuse-mode sessions restored"
        );
    }
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
        TokenOrigin::Generated(path) => show_generated("Client token", token, path),
    }
    if demo {
        println!("Demo mode: answers come from a simulated upstream, not a model.");
    }
}

/// The admin password, printed only the one time it is generated.
#[allow(clippy::print_stdout)]
fn announce_admin(password: &ondemand_core::Secret, origin: &TokenOrigin) {
    match origin {
        TokenOrigin::Configured => println!("Admin password: the configured admin_password"),
        TokenOrigin::Stored(path) => println!("Admin password: stored in {}", path.display()),
        TokenOrigin::Generated(path) => show_generated("Admin password for /api", password, path),
    }
}

/// A secret generated at this start: shown once on a terminal; otherwise (a service, a
/// container, a pipe, where the output is likely kept in a log) only where it is stored.
#[allow(clippy::print_stdout)]
fn show_generated(what: &str, secret: &ondemand_core::Secret, path: &std::path::Path) {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!(
            "{what} (generated now, shown once, stored in {}):",
            path.display()
        );
        println!("  {}", secret.expose());
    } else {
        println!(
            "{what}: generated now and stored in {} (not printed: this output is not a terminal, and may be kept in a log)",
            path.display()
        );
    }
}
