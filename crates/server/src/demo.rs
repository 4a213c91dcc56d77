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
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    FakeOnDemand::serve(
        tokio::net::TcpListener::from_std(listener)?,
        FakeOptions {
            accept_any_key: true,
            answer_prefix: DEMO_ANSWER_PREFIX.into(),
            // Demo traffic is never inspected; don't let a long demo grow memory.
            record: false,
            // No one may read the demo's prompts or script its answers over the network.
            control_routes: false,
            ..FakeOptions::default()
        },
    )
}

/// Starts the in-process fake upstream for `--demo` and points `config` at it, with one
/// demo account in place of any configured ones. Keep the returned fake alive.
pub fn start(config: &mut Config) -> std::io::Result<FakeOnDemand> {
    let fake = upstream()?;
    config.settings.base_url = fake.url();
    config.settings.auth_base_url = fake.url();
    config.settings.client_base_url = fake.url();
    // The simulated upstream's address is not a setting anyone should edit (or take for
    // the default): the dashboard shows it locked, from the --demo flag.
    for key in ["base_url", "auth_base_url", "client_base_url"] {
        config.pinned.pin(key, Origin::Flag("--demo"));
    }
    let api_key = simulated_key();
    let name = format!("demo ({})", key_fingerprint(&api_key));
    config.accounts = vec![AccountConfig::ApiKey {
        name,
        api_key,
        options: AccountOptions::default(),
    }];
    Ok(fake)
}
