//! Upstream accounts through the admin API, black box: created, edited, tested, reset and
//! deleted with masked secrets; config accounts synced at start. Bad input gets a clear 4xx
//! naming the field, and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::{Behaviour, Failure};
use serde_json::{Value, json};

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
    assert_eq!(h.state.engine().routing.pool.len(), 1);
}

#[tokio::test]
async fn accounts_show_state_and_reason_but_never_a_secret() {
    let h = Harness::with_keys(&["sk-secret-key-one-0001", "sk-secret-key-two-0002"]).await;
    h.fake.set_behaviour(
        "sk-secret-key-one-0001",
        Behaviour {
            failure: Some(Failure::new(401, "unauthenticated")),
            ..Behaviour::default()
        },
    );
    assert_eq!(h.chat(user("x")).await.0, 200);
    let response = h
        .http
        .get(h.url("/api/accounts"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let states: Vec<(&str, &str)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("api_key", "needs_attention"), ("api_key", "healthy")]
    );
    assert!(
        body["data"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("Invalid API Key")
    );
    assert!(body["data"][0]["retry_in_s"].as_f64().unwrap() > 0.0);
    // The harness names accounts after their keys; a real config uses a name or a fingerprint.
    let without_names = text
        .replace("\"name\":\"sk-secret-key-one-0001\"", "")
        .replace("\"name\":\"sk-secret-key-two-0002\"", "");
    assert!(!without_names.contains("sk-secret-key"), "{text}");
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
    let (good_id, bad_id) = (h.account_id("good").await, h.account_id("bad").await);
    let (status, ok) = h
        .admin("POST", &format!("/api/accounts/{good_id}/test"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(ok["ok"], true, "{ok}");
    assert!(
        ok["latency_ms"].as_u64().is_some() && ok["answer"].as_str().is_some_and(|a| !a.is_empty())
    );
    let (_, bad) = h
        .admin("POST", &format!("/api/accounts/{bad_id}/test"), None)
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
        .admin("POST", &format!("/api/accounts/{bad_id}/reset"), None)
        .await;
    assert_eq!((status, reset["state"].as_str()), (200, Some("healthy")));
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
