//! The control plane against a real database file and a live engine.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::config::{AccountOptions, Settings};
use crate::pool::Pool;
use crate::upstream::UpstreamClient;

fn engine() -> Engine {
    Engine::new(
        UpstreamClient::new(),
        Pool::default(),
        ModelCatalog::builtin(),
        Settings::default(),
        crate::engine::Watch::default(),
        None,
    )
}

fn key(name: &str) -> AccountConfig {
    AccountConfig::ApiKey {
        name: name.into(),
        api_key: Secret::new(format!("key-of-{name}")),
        options: AccountOptions::default(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(crate::store::open(&path).unwrap());
    Fixture {
        store: Arc::new(Store::new(&path)),
        _dir: dir,
    }
}

fn start(f: &Fixture, configured: &[AccountConfig], engine: &Engine) -> (Control, StartReport) {
    Control::start(
        f.store.clone(),
        Pinned::default(),
        configured,
        &Secret::new("sk-configured-token-0123456789abcdef"),
        engine,
    )
    .unwrap()
}

fn input<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_apply_live_and_survive_a_restart() {
    let f = fixture();
    let engine = engine();
    let (control, report) = start(&f, &[key("cfg")], &engine);
    assert_eq!(report.accounts.added, ["cfg"]);
    assert!(
        engine
            .clients
            .tokens
            .authorize("sk-configured-token-0123456789abcdef", 0)
            .is_ok()
    );

    let row = control
        .create_account(
            &engine,
            input(json!({"name": "mine", "api_key": "k1", "weight": 3})),
        )
        .await
        .unwrap();
    assert_eq!(engine.routing.pool.len(), 2);
    let err = control
        .create_account(&engine, input(json!({"name": "mine", "api_key": "k2"})))
        .await
        .unwrap_err();
    assert!(matches!(err, ControlError::Conflict { .. }), "{err}");
    let cfg_id = control.accounts().await.unwrap()[0].id;
    let err = control
        .update_account(&engine, cfg_id, input(json!({"weight": 2})))
        .await
        .unwrap_err();
    assert!(matches!(err, ControlError::ReadOnly { .. }), "{err}");
    control
        .update_account(&engine, row.id, input(json!({"enabled": false})))
        .await
        .unwrap();
    assert!(
        !engine.routing.pool.accounts()[1].enabled,
        "the edit reached the pool"
    );

    let new = control
        .create_token(
            &engine,
            input(json!({"name": "ci", "rpm": 5, "models": ["gpt-4o"]})),
        )
        .await
        .unwrap();
    let live = engine
        .clients
        .tokens
        .authorize(new.secret.expose(), 0)
        .unwrap();
    assert!(live.allows("gpt-4o") && !live.allows("gpt-4.1"));
    control
        .put_alias(&engine, "house", "predefined-house-model", true)
        .await
        .unwrap();
    assert_eq!(
        engine.catalog().resolve("HOUSE"),
        Ok("predefined-house-model")
    );
    control
        .update_settings(
            &engine,
            input(json!({"rate_limit": 9, "session_mode": "reuse"})),
        )
        .await
        .unwrap();
    assert_eq!(engine.settings().rate_limit, 9);
    let err = control
        .update_settings(&engine, input(json!({"rate_limit": -1, "max_retries": 2})))
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("rate_limit"));
    assert_eq!(
        engine.settings().max_retries,
        3,
        "a refused change changes nothing"
    );

    // A restart: a new engine and control plane over the same file.
    let engine2 = self::engine();
    let (_control2, report) = start(&f, &[key("cfg")], &engine2);
    assert_eq!(
        report.accounts,
        Default::default(),
        "the same config changes nothing"
    );
    assert_eq!(engine2.routing.pool.len(), 2);
    assert!(!engine2.routing.pool.accounts()[1].enabled);
    assert!(
        engine2
            .clients
            .tokens
            .authorize(new.secret.expose(), 0)
            .is_ok()
    );
    assert_eq!(
        engine2.catalog().resolve("house"),
        Ok("predefined-house-model")
    );
    assert_eq!(engine2.settings().rate_limit, 9);
    assert_eq!(
        engine2.settings().session_mode,
        crate::config::SessionMode::Reuse
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn export_then_import_elsewhere_moves_everything_and_says_what_it_skipped() {
    let (a, b) = (fixture(), fixture());
    let (engine_a, engine_b) = (engine(), engine());
    let (control_a, _) = start(&a, &[], &engine_a);
    let (control_b, _) = start(&b, &[], &engine_b);
    control_a
        .create_account(&engine_a, input(json!({"name": "acc", "api_key": "k1"})))
        .await
        .unwrap();
    let token = control_a
        .create_token(
            &engine_a,
            input(json!({"name": "t1", "quota_requests": 10})),
        )
        .await
        .unwrap();
    control_a
        .put_alias(&engine_a, "house", "predefined-x", true)
        .await
        .unwrap();

    let without = control_a.export(false).await.unwrap();
    let text = serde_json::to_string(&without).unwrap();
    assert!(!text.contains("k1") && !text.contains(&token.row.secret_hash));
    let report = control_b
        .import(&engine_b, without, ImportMode::Skip)
        .await
        .unwrap();
    assert_eq!(report.accounts.skipped.len(), 1, "no secret, no account");
    assert_eq!(report.tokens.added, ["t1"]);
    assert_eq!(
        report.new_token_secrets.len(),
        1,
        "a token without its hash gets a new secret"
    );

    let with = control_a.export(true).await.unwrap();
    assert!(with.includes_secrets);
    let report = control_b
        .import(&engine_b, with.clone(), ImportMode::Replace)
        .await
        .unwrap();
    assert_eq!(report.accounts.added, ["acc"]);
    assert_eq!(report.tokens.replaced, ["t1"]);
    assert_eq!(report.aliases.replaced, ["house"]);
    assert_eq!(engine_b.routing.pool.len(), 1);

    let mut bad = with;
    bad.aliases.push(transfer::ExportedAlias {
        alias: "bad alias".into(),
        endpoint_id: "x".into(),
    });
    bad.accounts[0].name = "other".into();
    let err = control_b
        .import(&engine_b, bad, ImportMode::Skip)
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("aliases[1].alias"));
    assert!(
        control_b
            .accounts()
            .await
            .unwrap()
            .iter()
            .all(|r| r.config.name() != "other"),
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_needs_attention_is_stored_and_still_needs_it_after_a_restart() {
    let f = fixture();
    let engine = engine();
    let (control, _) = start(&f, &[key("flaky")], &engine);
    control.persist_account_states(&engine).await.unwrap();
    let account = engine.routing.pool.accounts()[0].clone();
    account.mark_needs_attention("401 key revoked", &engine.settings().health);
    control.persist_account_states(&engine).await.unwrap();
    let row = &control.accounts().await.unwrap()[0];
    assert_eq!(
        (row.state.as_str(), row.state_reason.as_deref()),
        ("needs_attention", Some("401 key revoked"))
    );
    let engine2 = self::engine();
    let _ = start(&f, &[key("flaky")], &engine2);
    let status = engine2.routing.pool.accounts()[0].status(std::time::Instant::now());
    assert_eq!(
        (status.state.as_str(), status.reason.as_deref()),
        ("needs_attention", Some("401 key revoked"))
    );
}
