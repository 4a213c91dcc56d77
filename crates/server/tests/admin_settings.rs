//! Settings, the pause, export and import through the admin API, black box; and that
//! everything survives a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::*;
use fake_ondemand::FakeOptions;
use serde_json::{Value, json};

#[tokio::test]
async fn settings_validate_name_the_field_and_apply_live() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, all) = h.admin("GET", "/api/settings", None).await;
    assert_eq!(status, 200);
    let keys: BTreeSet<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    for key in [
        "rate_limit",
        "session_mode",
        "max_retries",
        "pool_strategy",
        "record_usage",
        "usage_retention_days",
    ] {
        assert!(keys.contains(key), "{key}");
    }
    let debug = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "debug_mode")
        .unwrap();
    assert_eq!(debug["editable"], false);

    let (status, after) = h
        .admin("PATCH", "/api/settings", Some(json!({"rate_limit": 2})))
        .await;
    assert_eq!(status, 200, "{after}");
    let rate = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "rate_limit")
        .unwrap()
        .clone();
    assert_eq!(
        (rate["value"].as_u64(), rate["source"].as_str()),
        (Some(2), Some("dashboard"))
    );
    assert_eq!(h.chat(user("a")).await.0, 200);
    assert_eq!(h.chat(user("b")).await.0, 200);
    assert_eq!(h.chat(user("c")).await.0, 429, "applied without a restart");

    for (body, field) in [
        (json!({"rate_limit": -1}), "rate_limit"),
        (json!({"session_mode": "sometimes"}), "session_mode"),
        (
            json!({"max_retries": 2, "retry_delay": "soon"}),
            "retry_delay",
        ),
        (json!({"no_such_setting": 1}), "no_such_setting"),
        (json!({"port": 9000}), "port"),
        (json!({"debug_mode": true}), "debug_mode"),
    ] {
        refused(
            &h.admin("PATCH", "/api/settings", Some(body)).await,
            400,
            Some(field),
        );
    }
    refuses(
        &h,
        &[
            ("PATCH", "/api/settings", Some(json!({})), 400, None),
            ("PATCH", "/api/settings", Some(json!([])), 400, None),
        ],
    )
    .await;
    assert_eq!(
        h.state.engine().settings().max_retries,
        3,
        "a refused change changes nothing"
    );

    h.admin("PATCH", "/api/settings", Some(json!({"rate_limit": null})))
        .await;
    assert_eq!(
        h.state.engine().settings().rate_limit,
        0,
        "null brings back the start-up value"
    );
}

#[tokio::test]
async fn pausing_refuses_v1_with_503_and_keeps_the_admin_api() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, proxy) = h.admin("GET", "/api/proxy", None).await;
    assert_eq!((status, &proxy["paused"]), (200, &json!(false)));
    assert_eq!(proxy["upstream_problem"], Value::Null);
    assert_eq!(proxy["session_cleanup"]["enabled"], true);
    for bad in [
        json!({}),
        json!({"paused": "yes"}),
        json!({"paused": true, "x": 1}),
    ] {
        refused(&h.admin("PUT", "/api/proxy", Some(bad)).await, 400, None);
    }
    assert_eq!(h.admin("GET", "/api/proxy", None).await.1["paused"], false);

    let paused = h
        .admin("PUT", "/api/proxy", Some(json!({"paused": true})))
        .await;
    assert_eq!((paused.0, &paused.1["paused"]), (200, &json!(true)));
    let (status, body) = h.chat(user("hi")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "proxy_paused");
    assert!(h.seen("/query").is_empty(), "nothing went upstream");
    let (status, _) = h.chat_as("sk-not-a-token", user("hi")).await;
    assert_eq!(status, 401, "a bad token is still refused as such");
    assert_eq!(h.admin("GET", "/api/settings", None).await.0, 200);
    let health = h.state.summary();
    assert!(
        health.paused
            && health.pool.accounts == 1
            && health.pool.usable == 1
            && !health.is_problem()
    );

    h.admin("PUT", "/api/proxy", Some(json!({"paused": false})))
        .await;
    let (status, body) = h.chat(user("hi")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn export_and_import_move_entries_between_proxies() {
    let a = Harness::with_keys(&["k1"]).await;
    let b = Harness::with_keys(&["k2"]).await;
    a.admin(
        "POST",
        "/api/accounts",
        Some(json!({"name": "moved", "api_key": "moved-key-0123456789"})),
    )
    .await;
    let (_, token) = a
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "laptop", "rpm": 30})),
        )
        .await;
    let secret = token["secret"].as_str().unwrap().to_owned();
    a.admin(
        "POST",
        "/api/aliases",
        Some(json!({"alias": "house", "endpoint_id": "predefined-minimax-m3"})),
    )
    .await;

    let plain = a
        .http
        .get(a.url("/api/export"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert!(
        plain.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let plain: Value = plain.json().await.unwrap();
    assert_eq!(plain["includes_secrets"], false);
    assert!(!plain.to_string().contains("moved-key-0123456789"));
    let (_, with) = a.admin("GET", "/api/export?secrets=true", None).await;
    assert_eq!(with["includes_secrets"], true);
    assert!(with.to_string().contains("moved-key-0123456789"));

    let mut bad = with.clone();
    bad["accounts"][1]["weight"] = json!(5000);
    refused(
        &b.admin("POST", "/api/import", Some(bad)).await,
        400,
        Some("accounts[1].weight"),
    );
    refused(
        &b.admin(
            "POST",
            "/api/import",
            Some(json!({"format": "other", "version": 1, "includes_secrets": false})),
        )
        .await,
        400,
        Some("format"),
    );
    refused(
        &b.admin("POST", "/api/import?mode=merge", Some(with.clone()))
            .await,
        400,
        Some("mode"),
    );
    assert_eq!(
        ids(&b.admin("GET", "/api/accounts", None).await.1),
        ["k2"],
        "a refused import changes nothing"
    );

    let (status, report) = b.admin("POST", "/api/import", Some(with)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["accounts"]["added"], json!(["k1", "moved"]));
    assert_eq!(report["tokens"]["skipped"][0]["name"], "default");
    assert_eq!(report["tokens"]["added"], json!(["laptop"]));
    let (status, _) = b
        .chat_as(
            &secret,
            json!({"model": "house", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    assert_eq!(status, 200, "the imported token and alias work on b");
}

#[tokio::test]
async fn everything_survives_a_restart() {
    let mut h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.session_mode = ondemand_core::config::SessionMode::Reuse;
    })
    .await;
    h.fake.add_key("api-key-0123456789abc");
    h.admin(
        "POST",
        "/api/accounts",
        Some(json!({"name": "added", "api_key": "api-key-0123456789abc", "weight": 4})),
    )
    .await;
    let (_, token) = h
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "kept", "rpm": 100, "models": ["gpt-4o"]})),
        )
        .await;
    let secret = token["secret"].as_str().unwrap().to_owned();
    h.admin(
        "POST",
        "/api/aliases",
        Some(json!({"alias": "house", "endpoint_id": "predefined-minimax-m3"})),
    )
    .await;
    h.admin(
        "PATCH",
        "/api/settings",
        Some(json!({"max_retries": 5, "pool_strategy": "weighted"})),
    )
    .await;
    // A reuse-mode conversation: its session must continue after the restart.
    let first =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "remember me"}]});
    let (status, answer) = h.chat_as(&secret, first).await;
    assert_eq!(status, 200);
    let reply = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions_before = h.fake.requests_to("/sessions").len();

    h.restart().await;

    let (_, accounts) = h.admin("GET", "/api/accounts", None).await;
    assert_eq!(ids(&accounts), ["k1", "added"]);
    assert_eq!(accounts["data"][1]["weight"], 4);
    let (_, tokens) = h.admin("GET", "/api/tokens", None).await;
    assert_eq!(tokens["data"][1]["rpm"], 100);
    assert_eq!(tokens["data"][1]["used_requests"], 1);
    assert_eq!(
        h.state.engine().catalog().resolve("house"),
        Ok("predefined-minimax-m3")
    );
    let settings = h.state.engine().settings();
    assert_eq!(
        (settings.max_retries, settings.pool_strategy.as_str()),
        (5, "weighted")
    );
    let second = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "remember me"},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "and now?"}
    ]});
    let (status, _) = h.chat_as(&secret, second).await;
    assert_eq!(status, 200);
    assert_eq!(
        h.fake.requests_to("/sessions").len(),
        sessions_before,
        "the stored session was reused, not a new one"
    );
    assert_eq!(h.usage().await.len(), 2, "usage rows survive too");
}

#[tokio::test]
async fn an_import_with_counters_past_what_can_be_added_to_is_refused() {
    let h = Harness::with_keys(&["k1"]).await;
    let doc = |used: u64| {
        json!({"format": "ondemand-proxy-export", "version": 1, "includes_secrets": false,
            "tokens": [{"name": "big", "enabled": true, "used_tokens": used}]})
    };
    let (status, body) = h
        .admin("POST", "/api/import", Some(doc(9_223_372_036_854_775_807)))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "tokens[0].used_tokens");
    let (status, _) = h.admin("POST", "/api/import", Some(doc(1_000))).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn values_that_cannot_be_sent_as_headers_are_refused() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"user_agent": "bad\u{7}agent"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "user_agent");
    let (status, body) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"api_key": "abc\u{1}def"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "api_key");
    assert_eq!(h.chat(user("still fine")).await.0, 200, "nothing changed");
}

#[tokio::test]
async fn model_patterns_are_edited_whole_kept_and_reset() {
    let mut h = Harness::with_keys(&["k"]).await;
    let endpoint_for = |h: &Harness, model: &'static str| {
        let http = h.http.clone();
        let url = h.url("/v1/chat/completions");
        async move {
            let response = http
                .post(url)
                .bearer_auth(TOKEN)
                .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };
    let (status, list) = h.admin("GET", "/api/patterns", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["builtin"], true);
    let opus = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pattern"] == "claude-*opus*")
        .unwrap();
    assert_eq!(
        opus["resolves_to"], "predefined-claude-opus-5",
        "the first target the live catalogue has active"
    );
    endpoint_for(&h, "claude-opus-4-1-20250805").await;
    let last =
        |h: &Harness| h.fake.requests_to("/query").last().unwrap().body["endpointId"].clone();
    assert_eq!(last(&h), "predefined-claude-opus-5");

    let (status, edited) = h
        .admin(
            "PUT",
            "/api/patterns",
            Some(json!({"patterns": [{"pattern": " claude-* ", "targets": ["predefined-claude-4-5-haiku"]}]})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["builtin"], false);
    assert_eq!(
        edited["data"],
        json!([{"pattern": "claude-*", "targets": ["predefined-claude-4-5-haiku"], "resolves_to": "predefined-claude-4-5-haiku"}])
    );
    endpoint_for(&h, "claude-opus-4-1-20250805").await;
    assert_eq!(last(&h), "predefined-claude-4-5-haiku");

    h.restart().await;
    let (_, kept) = h.admin("GET", "/api/patterns", None).await;
    assert_eq!(kept["data"], edited["data"], "kept across a restart");
    endpoint_for(&h, "claude-anything").await;
    assert_eq!(last(&h), "predefined-claude-4-5-haiku");

    refuses(
        &h,
        &[
            ("PUT", "/api/patterns", Some(json!({"patterns": [{"pattern": "x*", "targets": []}]})), 400, Some("patterns[0].targets")),
            ("PUT", "/api/patterns", Some(json!({"patterns": [{"pattern": "x*", "targets": ["not an id"]}]})), 400, Some("patterns[0].targets[0]")),
            ("PUT", "/api/patterns", Some(json!({"patterns": [{"pattern": "has space", "targets": ["predefined-a"]}]})), 400, Some("patterns[0].pattern")),
            ("PUT", "/api/patterns", Some(json!({"patterns": vec![json!({"pattern": "a*", "targets": ["predefined-a"]}); 65]})), 400, Some("patterns")),
            ("PUT", "/api/patterns", Some(json!({"list": []})), 400, None),
        ],
    )
    .await;

    let (status, reset) = h.admin("DELETE", "/api/patterns", None).await;
    assert_eq!(status, 200);
    assert_eq!(reset["builtin"], true);
    endpoint_for(&h, "claude-opus-4-1-20250805").await;
    assert_eq!(last(&h), "predefined-claude-opus-5");
}

#[tokio::test]
async fn an_import_the_client_gives_up_on_still_applies_whole() {
    let h = Harness::with_keys(&["k"]).await;
    let aliases: Vec<Value> = (0..8_000)
        .map(|i| json!({"alias": format!("bulk-{i}"), "endpoint_id": "predefined-gpt-5.6-luna"}))
        .collect();
    let doc = json!({"format": "ondemand-proxy-export", "version": 1, "includes_secrets": false, "aliases": aliases});
    // The client hangs up long before 8,000 aliases can be stored.
    let gave_up = h
        .http
        .post(h.url("/api/import?mode=replace"))
        .bearer_auth(ADMIN)
        .timeout(std::time::Duration::from_millis(20))
        .json(&doc)
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up");
    // The change still finishes: the database and the running proxy agree on all of them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let live = h
            .state
            .engine()
            .catalog()
            .aliases()
            .filter(|(a, _)| a.starts_with("bulk-"))
            .count();
        if live == 8_000 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {live} of 8000 aliases are live"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (_, listed) = h.admin("GET", "/api/aliases", None).await;
    let stored = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["alias"].as_str().unwrap().starts_with("bulk-"))
        .count();
    assert_eq!(stored, 8_000);
    assert_eq!(
        h.state.engine().catalog().resolve("BULK-7999"),
        Ok("predefined-gpt-5.6-luna")
    );
}
