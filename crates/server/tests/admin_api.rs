//! The admin API's managing routes, black box: accounts, client tokens, aliases, settings,
//! export/import, live events, the OpenAPI document, and that everything survives a restart.
//! Bad input gets a clear 4xx naming the field, and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions};
use serde_json::{Value, json};

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A request the admin API must refuse: method, path, body, status, and the field named.
type Refusal<'a> = (&'a str, &'a str, Option<Value>, u16, Option<&'a str>);

/// Sends each `(method, path, body)` as the admin and asserts its refusal: the status, and
/// the field named when given.
async fn refuses(h: &Harness, cases: &[Refusal<'_>]) {
    for (method, path, body, status, param) in cases {
        refused(&h.admin(method, path, body.clone()).await, *status, *param);
    }
}

/// Asserts a 4xx with the envelope, naming `param` when given.
fn refused(answer: &(u16, Value), status: u16, param: Option<&str>) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.1
    );
    if let Some(param) = param {
        assert_eq!(answer.1["error"]["param"], param, "{}", answer.1);
    }
}

#[tokio::test]
async fn accounts_crud_with_masked_secrets_and_clear_refusals() {
    let h = Harness::with_keys(&["cfg-key"]).await;
    h.fake.add_key("new-key-0123456789abcdef");
    let (status, created) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"name": "mine", "api_key": "new-key-0123456789abcdef", "weight": 2})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert!(
        !created.to_string().contains("new-key-0123456789abcdef"),
        "secret never in a response"
    );
    assert_eq!(created["secret_hint"], "ne…ef");
    assert_eq!(
        (created["source"].as_str(), created["state"].as_str()),
        (Some("api"), Some("healthy"))
    );
    let id = created["id"].as_i64().unwrap();

    let (_, list) = h.admin("GET", "/api/accounts", None).await;
    assert_eq!(ids(&list), ["cfg-key", "mine"]);
    assert_eq!(list["data"][0]["source"], "config");
    let before = list.clone();

    // Bad input: each refused with the field named, and nothing changes.
    refuses(
        &h,
        &[
            (
                "POST",
                "/api/accounts",
                Some(json!({"name": "mine", "api_key": "x"})),
                409,
                Some("name"),
            ),
            (
                "POST",
                "/api/accounts",
                Some(json!({"api_key": 42})),
                400,
                Some("api_key"),
            ),
            (
                "POST",
                "/api/accounts",
                Some(json!({"api_key": "k", "weight": 0})),
                400,
                Some("weight"),
            ),
            (
                "POST",
                "/api/accounts",
                Some(json!({"api_key": "k", "colour": "red"})),
                400,
                None,
            ),
            (
                "POST",
                "/api/accounts",
                Some(json!({"email": "x@y.z"})),
                400,
                Some("password"),
            ),
            ("POST", "/api/accounts", Some(json!([1, 2])), 400, None),
            (
                "PATCH",
                &format!("/api/accounts/{id}"),
                Some(json!({"name": "renamed"})),
                400,
                Some("name"),
            ),
            (
                "PATCH",
                "/api/accounts/9999",
                Some(json!({"weight": 3})),
                404,
                None,
            ),
            ("GET", "/api/accounts/not-a-number", None, 404, None),
            ("DELETE", "/api/accounts/9999", None, 404, None),
        ],
    )
    .await;
    let cfg_id = list["data"][0]["id"].as_i64().unwrap();
    let read_only = h
        .admin(
            "PATCH",
            &format!("/api/accounts/{cfg_id}"),
            Some(json!({"weight": 3})),
        )
        .await;
    refused(&read_only, 403, None);
    assert_eq!(read_only.1["error"]["code"], "managed_by_config");
    refused(
        &h.admin("DELETE", &format!("/api/accounts/{cfg_id}"), None)
            .await,
        403,
        None,
    );
    let huge = "x".repeat(5 * 1024 * 1024);
    refused(
        &h.admin("POST", "/api/accounts", Some(json!({"api_key": huge})))
            .await,
        413,
        None,
    );
    let raw = h
        .http
        .post(h.url("/api/accounts"))
        .bearer_auth(ADMIN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert_eq!(
        h.admin("GET", "/api/accounts", None).await.1,
        before,
        "refusals changed nothing"
    );

    // Disable both: requests find no account; enable one back.
    let (status, patched) = h
        .admin(
            "PATCH",
            &format!("/api/accounts/{id}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!((status, patched["state"].as_str()), (200, Some("disabled")));
    h.fake.clear_requests();
    for _ in 0..3 {
        assert_eq!(h.chat(user("hi")).await.0, 200);
    }
    assert!(
        h.seen("/query").iter().all(|k| k == "cfg-key"),
        "a disabled account gets no traffic"
    );
    h.admin(
        "PATCH",
        &format!("/api/accounts/{id}"),
        Some(json!({"enabled": true})),
    )
    .await;
    h.fake.clear_requests();
    for _ in 0..4 {
        h.chat(user("hi")).await;
    }
    assert!(
        h.seen("/query")
            .contains(&"new-key-0123456789abcdef".to_owned()),
        "enabled again, it serves"
    );

    assert_eq!(
        h.admin("DELETE", &format!("/api/accounts/{id}"), None)
            .await
            .0,
        204
    );
    refused(
        &h.admin("GET", &format!("/api/accounts/{id}"), None).await,
        404,
        None,
    );
    assert_eq!(h.state.engine().pool.len(), 1);
}

#[tokio::test]
async fn an_account_test_reports_latency_or_the_upstream_error_and_reset_heals() {
    let h = Harness::with_keys(&["good", "bad"]).await;
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            failure: Some(Failure::new(401, "unauthorized").message("API key revoked")),
            ..Behaviour::default()
        },
    );
    let (_, list) = h.admin("GET", "/api/accounts", None).await;
    let id_of = |name: &str| {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (status, ok) = h
        .admin(
            "POST",
            &format!("/api/accounts/{}/test", id_of("good")),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(
        ok["latency_ms"].as_u64().is_some() && ok["answer"].as_str().is_some_and(|a| !a.is_empty())
    );
    let (_, bad) = h
        .admin(
            "POST",
            &format!("/api/accounts/{}/test", id_of("bad")),
            None,
        )
        .await;
    assert_eq!(
        (bad["ok"].as_bool(), bad["error"]["status"].as_u64()),
        (Some(false), Some(401)),
        "{bad}"
    );
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    refused(
        &h.admin("POST", "/api/accounts/999/test", None).await,
        404,
        None,
    );

    // Traffic sets the bad account aside; a reset puts it back.
    for _ in 0..3 {
        h.chat(user("hi")).await;
    }
    assert_eq!(h.account_state("bad"), "needs_attention");
    let (status, reset) = h
        .admin(
            "POST",
            &format!("/api/accounts/{}/reset", id_of("bad")),
            None,
        )
        .await;
    assert_eq!((status, reset["state"].as_str()), (200, Some("healthy")));
}

#[tokio::test]
async fn client_tokens_are_shown_once_and_their_limits_hold_on_v1() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, created) = h
        .admin("POST", "/api/tokens", Some(json!({"name": "ci"})))
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("sk-odp-") && created["prefix"].as_str().unwrap().ends_with('…'));
    let id = created["id"].as_i64().unwrap();
    let (_, list) = h.admin("GET", "/api/tokens", None).await;
    assert_eq!(ids(&list), ["default", "ci"]);
    assert!(
        !list.to_string().contains(&secret),
        "the secret is never shown again"
    );
    assert!(!list.to_string().contains(TOKEN));

    assert_eq!(h.chat_as(&secret, user("hi")).await.0, 200);
    let (_, one) = h.admin("GET", &format!("/api/tokens/{id}"), None).await;
    assert_eq!(
        (
            one["used_requests"].as_u64(),
            one["used_tokens"].as_u64().map(|n| n > 0)
        ),
        (Some(1), Some(true))
    );

    // Model allow-list, on /v1/models and on chats.
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"models": ["gpt-4o"]})),
    )
    .await;
    let models: Value = h
        .http
        .get(h.url("/v1/models"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    let denied = h
        .chat_as(
            &secret,
            json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    refused(&denied, 403, Some("model"));
    assert_eq!(denied.1["error"]["code"], "model_not_allowed");

    // Per-token rpm.
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"models": null, "rpm": 2})),
    )
    .await;
    // A fresh bucket of two: the requests made while unlimited do not count.
    assert_eq!(h.chat_as(&secret, user("a")).await.0, 200);
    assert_eq!(h.chat_as(&secret, user("a2")).await.0, 200);
    let limited = h.chat_as(&secret, user("b")).await;
    assert_eq!(limited.0, 429, "{}", limited.1);
    assert_eq!(limited.1["error"]["code"], "rate_limit_exceeded");
    assert_eq!(h.chat(user("other token is not limited")).await.0, 200);

    // Quota of successful requests (three used so far; refusals do not count).
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"rpm": null, "quota_requests": 4})),
    )
    .await;
    assert_eq!(h.chat_as(&secret, user("c")).await.0, 200);
    let quota = h.chat_as(&secret, user("d")).await;
    assert_eq!(
        (quota.0, quota.1["error"]["code"].as_str()),
        (429, Some("insufficient_quota"))
    );

    // Expiry, then revocation.
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"quota_requests": null, "expires_at": 1})),
    )
    .await;
    let expired = h.chat_as(&secret, user("e")).await;
    assert_eq!(expired.0, 401);
    assert!(
        expired.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    h.admin(
        "PATCH",
        &format!("/api/tokens/{id}"),
        Some(json!({"expires_at": null})),
    )
    .await;
    assert_eq!(h.chat_as(&secret, user("f")).await.0, 200);
    assert_eq!(
        h.admin("DELETE", &format!("/api/tokens/{id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(h.chat_as(&secret, user("g")).await.0, 401);

    // Bad input.
    refuses(
        &h,
        &[
            ("POST", "/api/tokens", Some(json!({})), 400, Some("name")),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "default"})),
                409,
                Some("name"),
            ),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "x", "rpm": "fast"})),
                400,
                Some("rpm"),
            ),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "x", "models": ["gpt-9000"]})),
                400,
                Some("models[0]"),
            ),
            (
                "POST",
                "/api/tokens",
                Some(json!({"name": "x", "quota_tokens": 0})),
                400,
                Some("quota_tokens"),
            ),
            (
                "PATCH",
                "/api/tokens/777",
                Some(json!({"rpm": 1})),
                404,
                None,
            ),
        ],
    )
    .await;
    let default_id = list["data"][0]["id"].as_i64().unwrap();
    refused(
        &h.admin("DELETE", &format!("/api/tokens/{default_id}"), None)
            .await,
        403,
        None,
    );
    assert_eq!(
        ids(&h.admin("GET", "/api/tokens", None).await.1),
        ["default"]
    );
}

#[tokio::test]
async fn aliases_add_override_and_delete_and_requests_follow_them() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, _) = h
        .admin(
            "POST",
            "/api/aliases",
            Some(json!({"alias": "house", "endpoint_id": "predefined-kimi-k3"})),
        )
        .await;
    assert_eq!(status, 201);
    h.fake.clear_requests();
    assert_eq!(
        h.chat(json!({"model": "House", "messages": [{"role": "user", "content": "x"}]}))
            .await
            .0,
        200
    );
    assert_eq!(
        h.fake.requests_to("/query")[0].body["endpointId"],
        "predefined-kimi-k3"
    );

    let (status, _) = h
        .admin(
            "PUT",
            "/api/aliases/gpt-4o",
            Some(json!({"endpoint_id": "predefined-glm-5.3"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, list) = h.admin("GET", "/api/aliases", None).await;
    let gpt4o = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alias"] == "gpt-4o")
        .unwrap();
    assert_eq!(
        (
            gpt4o["endpoint_id"].as_str(),
            gpt4o["overrides_builtin"].as_bool()
        ),
        (Some("predefined-glm-5.3"), Some(true))
    );
    assert_eq!(h.admin("DELETE", "/api/aliases/gpt-4o", None).await.0, 204);
    assert_eq!(
        h.state.engine().catalog().resolve("gpt-4o"),
        Ok("predefined-gpt-5.6-terra"),
        "the built-in returns"
    );

    refuses(
        &h,
        &[
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "HOUSE", "endpoint_id": "predefined-x"})),
                409,
                Some("alias"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "two words", "endpoint_id": "predefined-x"})),
                400,
                Some("alias"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "predefined-x", "endpoint_id": "predefined-x"})),
                400,
                Some("alias"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "ok", "endpoint_id": "has space"})),
                400,
                Some("endpoint_id"),
            ),
            (
                "POST",
                "/api/aliases",
                Some(json!({"alias": "ok"})),
                400,
                None,
            ),
            ("DELETE", "/api/aliases/gpt-4.1", None, 400, Some("alias")),
            ("DELETE", "/api/aliases/nothing-here", None, 404, None),
        ],
    )
    .await;
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
async fn live_events_coalesce_a_burst_into_a_few_updates() {
    use futures_util::StreamExt;
    let h = Harness::with_keys(&["k1"]).await;
    let response = h
        .http
        .get(h.url("/api/events?interval_ms=300"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = response.bytes_stream();
    let burst = 200;
    let mut chats = Vec::new();
    for i in 0..burst {
        let http = h.http.clone();
        let url = h.url("/v1/chat/completions");
        chats.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(TOKEN)
                .json(&user(&format!("n{i}")))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for chat in chats {
        assert_eq!(chat.await.unwrap(), 200);
    }
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut seen, mut updates, mut ticks) = (0u64, 0, 0);
    while seen < burst && tokio::time::Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let kind = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let data: Value = serde_json::from_str(data).unwrap();
            match kind {
                "requests" => {
                    updates += 1;
                    let events = data["events"].as_array().unwrap();
                    assert!(events.len() <= 50);
                    assert!(
                        events
                            .iter()
                            .all(|e| e["client_token"] == "default" && e["status"] == 200)
                    );
                    seen += events.len() as u64 + data["skipped"].as_u64().unwrap();
                }
                "tick" => {
                    ticks += 1;
                    assert!(
                        data["totals"]["requests"].as_u64().is_some()
                            && data["accounts"]["total"] == 1
                    );
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    assert_eq!(seen, burst, "every finished request is counted");
    assert!(
        updates <= 5 && ticks >= 1,
        "{burst} requests cost {updates} request updates"
    );
    refused(
        &h.admin("GET", "/api/events?interval_ms=5", None).await,
        400,
        Some("interval_ms"),
    );
}

/// Every property `schema` names, through `$ref` and `allOf`.
fn properties<'d>(doc: &'d Value, schema: &'d Value, into: &mut BTreeSet<&'d str>) {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return properties(doc, &doc["components"]["schemas"][name], into);
    }
    into.extend(
        schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.as_str()),
    );
    for part in schema["allOf"].as_array().into_iter().flatten() {
        properties(doc, part, into);
    }
}

/// Whether `value` fits `schema` (the subset of JSON Schema the server's document uses:
/// `$ref`, `allOf`, `oneOf`, `type`, `enum`, `properties`, `required`, `items`), and names
/// no field the document does not.
fn fits(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return fits(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        if !options.iter().any(|o| fits(doc, o, value, at).is_ok()) {
            return Err(format!("{at}: {value} fits none of {options:?}"));
        }
    }
    if let Some(choices) = schema["enum"].as_array() {
        if !choices.contains(value) {
            return Err(format!("{at}: {value} is not one of {choices:?}"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types.is_empty()
        && !types
            .iter()
            .any(|t| *t == kind || (*t == "number" && kind == "integer"))
    {
        return Err(format!(
            "{at}: {value} is {kind}, the document says {types:?}"
        ));
    }
    if let Value::Object(fields) = value {
        let mut named = BTreeSet::new();
        properties(doc, schema, &mut named);
        for part in schema["allOf"].as_array().into_iter().flatten() {
            let mut required = part;
            while let Some(r) = required["$ref"].as_str() {
                required =
                    &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")];
            }
            for name in required["required"].as_array().into_iter().flatten() {
                if !fields.contains_key(name.as_str().unwrap()) {
                    return Err(format!("{at}: required {name} is missing"));
                }
            }
        }
        for name in schema["required"].as_array().into_iter().flatten() {
            if !fields.contains_key(name.as_str().unwrap()) {
                return Err(format!("{at}: required {name} is missing"));
            }
        }
        for (name, field) in fields {
            if !named.is_empty() && !named.contains(name.as_str()) {
                return Err(format!("{at}: `{name}` is not in the document"));
            }
            if let Some(s) = field_schema(doc, schema, name) {
                fits(doc, s, field, &format!("{at}.{name}"))?;
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (value, schema.get("items")) {
        for (i, v) in items.iter().enumerate() {
            fits(doc, item, v, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The schema of field `name` of an object `schema`, through `$ref` and `allOf`.
fn field_schema<'d>(doc: &'d Value, schema: &'d Value, name: &str) -> Option<&'d Value> {
    if let Some(reference) = schema["$ref"].as_str() {
        let target = reference.trim_start_matches("#/components/schemas/");
        return field_schema(doc, &doc["components"]["schemas"][target], name);
    }
    schema["properties"].get(name).or_else(|| {
        schema["allOf"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|part| field_schema(doc, part, name))
    })
}

#[tokio::test]
async fn the_openapi_document_is_open_and_describes_what_the_routes_answer() {
    let h = Harness::with_keys(&["k1"]).await;
    let response = h.http.get(h.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200, "no credential needed");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Something to show on every page.
    h.admin(
        "POST",
        "/api/tokens",
        Some(json!({"name": "app", "rpm": 5})),
    )
    .await;
    h.chat(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    h.admin(
        "POST",
        "/api/aliases",
        Some(json!({"alias": "house", "endpoint_id": "predefined-kimi-k3"})),
    )
    .await;
    let operations: Vec<&Value> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|i| i.as_object().unwrap().values())
        .collect();
    let ids: BTreeSet<_> = operations
        .iter()
        .map(|o| o["operationId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids.len(),
        operations.len(),
        "operation ids are unique: {ids:?}"
    );
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let route = format!("{} {path}", method.to_uppercase());
            let path = path.replace("{id}", "1").replace("{alias}", "house");
            // Only what reads: a GET changes nothing, and the events stream never ends.
            if method != "get" || path.ends_with("/events") {
                continue;
            }
            let path = if path.ends_with("/breakdown") {
                format!("{path}?by=model")
            } else {
                path
            };
            let response = h
                .http
                .get(h.url(&path))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{route}");
            let body: Value = response.json().await.unwrap();
            let schema = &operation["responses"]["200"]["content"]["application/json"]["schema"];
            fits(&doc, schema, &body, &route).unwrap();
            checked += 1;
        }
    }
    assert!(checked >= 12, "{checked} answers checked");
    // Errors come in the envelope the document names.
    let error = h.admin("GET", "/api/accounts/999", None).await;
    fits(
        &doc,
        &json!({"$ref": "#/components/schemas/Error"}),
        &error.1,
        "error",
    )
    .unwrap();
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
async fn config_accounts_sync_at_start_by_name_and_keep_their_history() {
    let mut h = Harness::with_keys(&["k1", "k2"]).await;
    h.admin(
        "POST",
        "/api/accounts",
        Some(json!({"name": "api-made", "api_key": "api-key-0123456789"})),
    )
    .await;
    assert_eq!(h.chat(user("one")).await.0, 200);
    let (_, before) = h.admin("GET", "/api/accounts", None).await;

    // The same config again: nothing changes, ids included.
    h.restart().await;
    assert_eq!(
        h.admin("GET", "/api/accounts", None).await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let ids_of = |list: &Value| -> Vec<(String, i64)> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["name"].as_str().unwrap().to_owned(),
                    a["id"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        ids_of(&h.admin("GET", "/api/accounts", None).await.1),
        ids_of(&before)
    );

    // k1 gets a new secret under the same name, k2 leaves the config.
    h.fake.add_key("k1-rotated");
    h.config.accounts = vec![ondemand_core::config::AccountConfig::ApiKey {
        name: "k1".into(),
        api_key: ondemand_core::Secret::new("k1-rotated"),
        options: Default::default(),
    }];
    h.restart().await;
    let (_, after) = h.admin("GET", "/api/accounts", None).await;
    let after_ids = ids_of(&after);
    assert_eq!(
        after_ids
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["k1", "api-made"]
    );
    assert_eq!(
        after_ids[0],
        ids_of(&before)[0],
        "the renamed key kept its row"
    );
    let (_, by_account) = h
        .admin("GET", "/api/stats/breakdown?by=account", None)
        .await;
    assert!(
        by_account.to_string().contains("\"k1\"") || by_account.to_string().contains("\"k2\""),
        "history by name stays: {by_account}"
    );
    h.fake.clear_requests();
    for _ in 0..2 {
        assert_eq!(h.chat(user("two")).await.0, 200);
    }
    assert!(
        h.seen("/query").iter().all(|k| k != "k1" && k != "k2"),
        "the old secret and the removed account get no traffic"
    );
}
