//! `--demo`: an in-process simulated on-demand.io (the project's fake, serving today's
//! catalogue) and one demo account, so every feature can be tried without an account.
//! Behind the `demo` feature, which the headless binary has and the desktop app leaves out.

use fake_ondemand::{FakeOnDemand, FakeOptions};
use ondemand_core::config::{AccountConfig, AccountOptions, Config, Origin, key_fingerprint};

use crate::bootstrap::generate_token;

/// Every demo answer starts with this, so nobody mistakes it for a model's words.
pub const DEMO_ANSWER_PREFIX: &str =
    "[Simulated answer: OnDemand Proxy demo mode, no model was called] You said: ";

/// Starts the in-process fake upstream for `--demo` and points `config` at it, with one
/// demo account in place of any configured ones. Keep the returned fake alive.
pub async fn start(config: &mut Config) -> std::io::Result<FakeOnDemand> {
    let fake = FakeOnDemand::start(FakeOptions {
        accept_any_key: true,
        answer_prefix: DEMO_ANSWER_PREFIX.into(),
        // Demo traffic is never inspected; don't let a long demo grow memory.
        record: false,
        ..FakeOptions::default()
    })
    .await?;
    config.settings.base_url = fake.url();
    config.settings.auth_base_url = fake.url();
    config.settings.client_base_url = fake.url();
    // The simulated upstream's address is not a setting anyone should edit (or take for
    // the default): the dashboard shows it locked, from the --demo flag.
    for key in ["base_url", "auth_base_url", "client_base_url"] {
        config.pinned.pin(key, Origin::Flag("--demo"));
    }
    let api_key = generate_token();
    let name = format!("demo ({})", key_fingerprint(&api_key));
    config.accounts = vec![AccountConfig::ApiKey {
        name,
        api_key,
        options: AccountOptions::default(),
    }];
    Ok(fake)
}
