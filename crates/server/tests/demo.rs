//! *Try the demo* (`POST /api/demo`): a simulated account beside real ones. Its calls go to
//! the in-process simulated upstream, never to on-demand.io (here, the fake that plays it);
//! real accounts keep going where they went; one call removes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

async fn demo_account(h: &Harness) -> Value {
    let (status, accounts) = h.admin("GET", "/api/accounts", None).await;
    assert_eq!(status, 200);
    accounts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["simulated"] == true)
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_demo_account_answers_from_the_simulated_upstream_and_one_call_removes_it() {
    let h = Harness::with_keys(&[]).await;
    assert_eq!(h.chat(user("before")).await.0, 503, "no account yet");

    let (status, added) = h.admin("POST", "/api/demo", None).await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["name"], "Demo (simulated)");
    assert_eq!(added["simulated"], true);
    assert_eq!(added["source"], "api");
    // Never the key: only a hint, as for any account.
    assert!(!added.to_string().contains("odp-demo-"), "{added}");
    // Twice is the same account, not a second one.
    let (status, again) = h.admin("POST", "/api/demo", None).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], added["id"]);

    let (status, body) = h.chat(user("hello demo")).await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("[Simulated answer") && content.ends_with("hello demo"),
        "{content}"
    );
    let (status, events, _) = h.stream(user("streamed")).await;
    assert_eq!(status, 200);
    assert!(
        streamed_content(&events).ends_with("streamed"),
        "{events:?}"
    );
    // The upstream this proxy is configured for (on-demand.io, played by the fake) saw none of it.
    assert!(h.seen("/query").is_empty(), "{:?}", h.seen("/query"));
    assert!(h.seen("/sessions").is_empty());

    assert_eq!(h.admin("DELETE", "/api/demo", None).await.0, 204);
    assert_eq!(demo_account(&h).await, Value::Null);
    assert_eq!(h.chat(user("after")).await.0, 503, "no account again");
    // The demo's requests stay in the usage history.
    let rows = h.usage().await;
    assert!(
        rows.iter()
            .any(|r| r.account.as_deref() == Some("Demo (simulated)")),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_simulated_key_never_reaches_on_demand_io_even_without_the_simulated_upstream() {
    let h = Harness::with_keys(&[]).await;
    // An account whose key looks simulated, added while no simulated upstream runs: its calls
    // go nowhere rather than to on-demand.io.
    let (status, _) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"api_key": "odp-demo-handmade0123", "name": "odd"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_ne!(h.chat(user("x")).await.0, 200);
    assert!(h.fake.requests().is_empty(), "{:?}", h.fake.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clicks_at_the_same_moment_add_one_demo_account() {
    let h = Harness::with_keys(&[]).await;
    for round in 0..5 {
        let answers =
            futures_util::future::join_all((0..4).map(|_| h.admin("POST", "/api/demo", None)))
                .await;
        let mut statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 200, 200, 201], "round {round}: {answers:?}");
        assert!(
            answers.windows(2).all(|w| w[0].1["id"] == w[1].1["id"]),
            "round {round}: {answers:?}"
        );
        let (_, accounts) = h.admin("GET", "/api/accounts", None).await;
        assert_eq!(accounts["data"].as_array().unwrap().len(), 1, "{accounts}");
        assert_eq!(h.admin("DELETE", "/api/demo", None).await.0, 204);
    }
}

/// A simulated account never serves beside a real one: real prompts would reach the demo
/// upstream and real work would get made-up answers. Adding a real account ends the demo.
#[tokio::test]
async fn adding_a_real_account_ends_the_demo_and_every_request_goes_to_it() {
    let h = Harness::with_keys(&[]).await;
    assert_eq!(h.admin("POST", "/api/demo", None).await.0, 201);
    assert_eq!(h.chat(user("demo turn")).await.0, 200);
    assert!(h.seen("/query").is_empty());

    h.fake.add_key("real");
    let (status, _) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"api_key": "real", "name": "real"})),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(demo_account(&h).await, Value::Null, "the demo ended");
    for i in 0..6 {
        let (status, body) = h.chat(user(&format!("real turn {i}"))).await;
        assert_eq!(status, 200);
        let content = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(!content.starts_with("[Simulated"), "{content}");
    }
    assert_eq!(
        h.seen("/query"),
        ["real"; 6],
        "every real request reached on-demand.io"
    );

    // While a real account exists, the demo cannot start, nor can a simulated key be added.
    let (status, body) = h.admin("POST", "/api/demo", None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "demo_beside_real");
    let (status, body) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"api_key": "odp-demo-handmade0123", "name": "odd"})),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["param"], "api_key");
    let (_, accounts) = h.admin("GET", "/api/accounts", None).await;
    assert_eq!(accounts["data"].as_array().unwrap().len(), 1, "{accounts}");
    // The demo's request stays in the usage history.
    assert!(
        h.usage()
            .await
            .iter()
            .any(|r| r.account.as_deref() == Some("Demo (simulated)"))
    );
}

/// An import that brings a real account ends the demo too.
#[tokio::test]
async fn importing_a_real_account_ends_the_demo() {
    let h = Harness::with_keys(&[]).await;
    assert_eq!(h.admin("POST", "/api/demo", None).await.0, 201);
    h.fake.add_key("imported-key");
    let doc = json!({
        "format": "ondemand-proxy-export",
        "version": 1,
        "includes_secrets": true,
        "accounts": [{"name": "imported", "kind": "api_key", "api_key": "imported-key",
            "weight": 1, "enabled": true}],
    });
    let (status, report) = h.admin("POST", "/api/import", Some(doc)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        report["demo_ended"],
        json!(["Demo (simulated)"]),
        "{report}"
    );
    assert_eq!(demo_account(&h).await, Value::Null);
    assert_eq!(h.chat(user("x")).await.0, 200);
    assert_eq!(h.seen("/query"), ["imported-key"]);
}
