//! `--demo`: an in-process simulated on-demand.io (the project's fake, serving today's
//! catalogue) and one demo account, so every feature can be tried without an account.
//! The same simulated upstream serves the dashboard's *Try the demo*: a simulated account
//! beside real ones ([`crate::AppState::simulate`]). Behind the `demo` feature.

use fake_ondemand::{FakeOnDemand, FakeOptions};
use ondemand_core::config::{AccountConfig, AccountOptions, Config, Origin, key_fingerprint};
use ondemand_core::upstream::simulated_key;

/// Every demo answer starts with this, so nobody mistakes it for a model's words.
pub const DEMO_ANSWER_PREFIX: &str =
    "[Simulated answer: OnDemand Proxy demo mode, no model was called] You said: ";

/// The in-process simulated on-demand.io: any key, every answer marked as simulated.
pub fn upstream() -> std::io::Result<FakeOnDemand> {
    FakeOnDemand::serve(loopback()?, options())
}

/// The simulated upstream over HTTPS with HTTP/2 (`--demo-tls`), as on-demand.io is reached,
/// with a CA made now and written to a file of its own for `upstream_ca_file`.
fn upstream_tls() -> std::io::Result<(FakeOnDemand, CaFile)> {
    let fake = FakeOnDemand::serve_tls(loopback()?, options())?;
    let path = std::env::temp_dir().join(format!(
        "ondemand-proxy-demo-ca-{}-{:016x}.pem",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&path, fake.ca_pem().unwrap_or_default())?;
    Ok((fake, CaFile(path)))
}

fn loopback() -> std::io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

/// The demo CA's file, removed when the demo ends.
struct CaFile(std::path::PathBuf);

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The running demo upstream: keep it alive while the proxy serves.
pub struct Demo {
    fake: FakeOnDemand,
    _ca_file: Option<CaFile>,
}

impl Demo {
    pub fn url(&self) -> String {
        self.fake.url()
    }
}

fn options() -> FakeOptions {
    FakeOptions {
        accept_any_key: true,
        answer_prefix: DEMO_ANSWER_PREFIX.into(),
        // Demo traffic is never inspected; don't let a long demo grow memory.
        record: false,
        // No one may read the demo's prompts or script its answers over the network.
        control_routes: false,
        ..FakeOptions::default()
    }
}

/// Starts the in-process fake upstream for `--demo` (over HTTPS and HTTP/2 with `tls`, for
/// `--demo-tls`) and points `config` at it, with one demo account in place of any
/// configured ones. Keep the returned demo alive.
pub fn start(config: &mut Config, tls: bool) -> std::io::Result<Demo> {
    let (fake, ca_file) = if tls {
        let (fake, ca_file) = upstream_tls()?;
        (fake, Some(ca_file))
    } else {
        (upstream()?, None)
    };
    let flag = if tls { "--demo-tls" } else { "--demo" };
    config.settings.base_url = fake.url();
    config.settings.auth_base_url = fake.url();
    config.settings.client_base_url = fake.url();
    // The simulated upstream's address is not a setting anyone should edit (or take for
    // the default): the dashboard shows it locked, from the --demo flag.
    for key in ["base_url", "auth_base_url", "client_base_url"] {
        config.pinned.pin(key, Origin::Flag(flag));
    }
    if let Some(CaFile(path)) = &ca_file {
        config.settings.upstream_ca_file = path.display().to_string();
        config.pinned.pin("upstream_ca_file", Origin::Flag(flag));
    }
    let api_key = simulated_key();
    let name = format!("demo ({})", key_fingerprint(&api_key));
    config.accounts = vec![AccountConfig::ApiKey {
        name,
        api_key,
        options: AccountOptions::default(),
    }];
    Ok(Demo {
        fake,
        _ca_file: ca_file,
    })
}
