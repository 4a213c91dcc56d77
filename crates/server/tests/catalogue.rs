//! The live endpoint catalogue (§14.1): what `/v1/models` lists answers, everything else is
//! refused before anything goes upstream, and the proxy keeps serving when the catalogue
//! cannot be read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use fake_ondemand::{Behaviour, FakeOptions};
use serde_json::{Value, json};

async fn listed(h: &Harness) -> Vec<String> {
    let list: Value = h
        .http
        .get(h.url("/v1/models"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn ask(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

#[tokio::test]
async fn every_listed_model_answers_and_every_other_is_refused_before_any_upstream_call() {
    let h = Harness::with_keys(&["k1"]).await;
    let models = listed(&h).await;
    for must in [
        "gpt-4o",
        "claude-3.7-sonnet",
        "deepseek-r1",
        "gpt-5.6-luna",
        "predefined-gpt-5.6-luna",
        "claude-sonnet-5",
        "deepseek-v4-pro",
        "muse-spark-1.3",
        "byoi-6e314690-4eaf-4def-a33c-380809acf1f5",
    ] {
        assert!(models.iter().any(|m| m == must), "{must} is not listed");
    }
    for original in ondemand_core::models::ORIGINAL_PROXY_ALIASES {
        assert!(
            models.iter().any(|m| m == original),
            "{original} is not listed"
        );
    }
    for model in &models {
        let (status, body) = h.chat(ask(model)).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(body["model"], model.as_str());
        let (status, events, _) = h.stream(ask(model)).await;
        assert_eq!(
            (status, streamed_content(&events).as_str()),
            (200, "Echo: hello"),
            "{model} streamed"
        );
    }
    // Let the background session deletes of those requests finish before looking.
    h.deleted_sessions(2 * models.len()).await;
    h.admin(
        "POST",
        "/api/aliases",
        Some(json!({"alias": "old-house", "endpoint_id": "predefined-openai-gpt4o"})),
    )
    .await;
    assert!(!listed(&h).await.contains(&"old-house".to_owned()));
    h.fake.clear_requests();
    for model in [
        "predefined-openai-gpt4o",
        "predefined-claude-3.7-sonnet",
        "predefined-never-was",
        "gemini-3.7-flash",
        "gpt-9000",
        "old-house",
        "openai-gpt4o",
    ] {
        let (status, body) = h.chat(ask(model)).await;
        assert_eq!(status, 404, "{model}: {body}");
        assert_eq!(body["error"]["code"], "model_not_found", "{model}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Models that work now, nearest first:"),
            "{model}: {message}"
        );
        let (status, _, _) = h.stream(ask(model)).await;
        assert_eq!(status, 404, "{model} streamed");
        let one = h
            .http
            .get(h.url(&format!("/v1/models/{model}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(one.status(), 404, "{model}");
    }
    let (_, body) = h.chat(ask("old-house")).await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("predefined-openai-gpt4o` is inactive"),
        "the dead target is named: {body}"
    );
    assert!(
        h.fake.requests().is_empty(),
        "nothing went upstream: {:?}",
        h.fake.requests()
    );
    let (_, aliases) = h.admin("GET", "/api/aliases", None).await;
    let flag = |alias: &str| {
        aliases["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["alias"] == alias)
            .unwrap()["target_available"]
            .clone()
    };
    assert_eq!(
        (flag("gpt-4o"), flag("old-house")),
        (json!(true), json!(false))
    );
}

#[tokio::test]
async fn reasoning_effort_only_where_the_endpoint_takes_it_and_long_chats_are_refused_up_front() {
    let h = Harness::with_keys(&["k1"]).await;
    let mut body = ask("kimi-k3");
    body["reasoning_effort"] = json!("high");
    assert_eq!(h.chat(body).await.0, 200);
    let mut body = ask("gpt-5.6-luna");
    body["reasoning_effort"] = json!("high");
    assert_eq!(h.chat(body).await.0, 200);
    let queries = h.fake.requests_to("/query");
    assert!(
        queries[0].body.get("reasoningEffort").is_none(),
        "kimi takes none"
    );
    assert_eq!(queries[1].body["reasoningEffort"], "max");
    let rows = h.usage_rows(2).await;
    assert_eq!(
        rows[0].notes.as_deref(),
        Some("reasoning_effort dropped: predefined-kimi-k3 takes none")
    );
    assert_eq!(rows[1].notes, None);
    let (_, page) = h.admin("GET", "/api/requests", None).await;
    assert_eq!(
        page["data"][1]["notes"],
        "reasoning_effort dropped: predefined-kimi-k3 takes none"
    );

    h.fake.clear_requests();
    // muse_spark_1.3 takes 64,000 tokens; this is about 100,000.
    let long = "lorem ipsum dolor sit amet ".repeat(20_000);
    let (status, body) = h
        .chat(json!({"model": "muse-spark-1.3",
        "messages": [{"role": "user", "content": long}]}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().contains("64000"));
    assert!(h.fake.requests().is_empty(), "no upstream call");
    assert_eq!(h.account_state("k1"), "healthy");
}

#[tokio::test]
async fn the_proxy_serves_without_a_catalogue_route_from_the_alias_table() {
    let h = Harness::build(
        FakeOptions {
            no_catalogue_route: true,
            ..FakeOptions::default()
        },
        vec![key_account("k1")],
        |_| {},
    )
    .await;
    let (_, catalogue) = h.admin("GET", "/api/catalogue", None).await;
    assert_eq!(catalogue["known"], false);
    let error = catalogue["reads"][0]["error"].as_str().unwrap();
    assert!(error.contains("no such route"), "{error}");
    let models = listed(&h).await;
    assert_eq!(
        models.len(),
        ondemand_core::models::ModelCatalog::builtin()
            .aliases()
            .count(),
        "the alias table is the catalogue"
    );
    assert_eq!(h.chat(ask("gpt-4o")).await.0, 200);
    assert!(
        h.state.engine().problem().is_none(),
        "a missing catalogue route is not a proxy-wide problem"
    );
}

#[tokio::test]
async fn a_failed_or_hanging_refresh_keeps_the_last_good_catalogue() {
    // One proxy per case: asked refreshes are read at most once per 10 s.
    for options in [
        FakeOptions {
            catalogue_fails: true,
            ..FakeOptions::default()
        },
        FakeOptions {
            catalogue_delay_ms: 30_000,
            ..FakeOptions::default()
        },
    ] {
        let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
            s.request_timeout = Duration::from_millis(500);
        })
        .await;
        let before = listed(&h).await;
        h.fake.set_options(options);
        let refresh = h.admin("POST", "/api/catalogue/refresh", None);
        // While the read hangs (or fails), requests are served from the catalogue held.
        let (chat, (status, catalogue)) = tokio::join!(h.chat(ask("gpt-5.6-luna")), refresh);
        assert_eq!(chat.0, 200);
        assert_eq!(status, 200);
        assert_eq!(catalogue["known"], true);
        assert!(catalogue["reads"][0]["error"].is_string(), "{catalogue}");
        assert!(catalogue["reads"][0]["ok_at"].is_i64());
        assert_eq!(listed(&h).await, before, "nothing was emptied");
    }
}

#[tokio::test]
async fn asked_refreshes_read_the_catalogues_at_most_once_per_ten_seconds() {
    let h = Harness::with_keys(&["k1"]).await;
    for _ in 0..5 {
        let (status, catalogue) = h.admin("POST", "/api/catalogue/refresh", None).await;
        assert_eq!(status, 200);
        assert_eq!(catalogue["known"], true);
    }
    assert_eq!(
        h.fake.requests_to("/config/v1/public/endpoints").len(),
        1,
        "five asks, one read upstream"
    );
}

#[tokio::test]
async fn the_catalogue_is_kept_across_a_restart_and_read_for_a_new_account() {
    let mut h = Harness::with_keys(&["k1"]).await;
    h.fake.set_options(FakeOptions {
        no_catalogue_route: true,
        ..FakeOptions::default()
    });
    h.restart().await;
    let (_, catalogue) = h.admin("GET", "/api/catalogue", None).await;
    assert_eq!(catalogue["known"], true, "the stored catalogue");
    assert_eq!(h.chat(ask("gpt-9000")).await.0, 404);

    h.fake.set_options(FakeOptions::default());
    h.fake.add_key("k2");
    h.fake.set_behaviour(
        "k2",
        Behaviour {
            hidden_endpoints: vec!["predefined-kimi-k3".into()],
            ..Behaviour::default()
        },
    );
    let (status, _) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"name": "k2", "api_key": "k2"})),
        )
        .await;
    assert_eq!(status, 201);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let catalogue = loop {
        let (_, catalogue) = h.admin("GET", "/api/catalogue", None).await;
        let read = catalogue["reads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["account"] == "k2" && r["ok_at"].is_i64());
        if read || std::time::Instant::now() > deadline {
            break catalogue;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let kimi = catalogue["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "predefined-kimi-k3")
        .unwrap();
    assert_eq!(kimi["accounts"], json!(["k1"]), "k2 does not see it");
    assert_eq!(kimi["clean_id"], "kimi-k3");
    h.fake.clear_requests();
    for _ in 0..4 {
        assert_eq!(h.chat(ask("kimi-k3")).await.0, 200);
    }
    assert_eq!(h.seen("/query"), ["k1"; 4], "only the account that sees it");
}

#[tokio::test]
async fn the_catalogue_is_read_again_as_often_as_the_setting_says_and_a_change_applies_live() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.catalogue_refresh = Duration::from_millis(200);
    })
    .await;
    let reads = || h.seen("/public/endpoints").len();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reads() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "read again: {}",
            reads()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, changed) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"catalogue_refresh_seconds": 3600})),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    let (_, catalogue) = h.admin("GET", "/api/catalogue", None).await;
    assert_eq!(catalogue["refresh_every_s"], 3600);
    // The loop heeds the change at its next wake (at most one more read, already due).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let settled = reads();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(reads(), settled, "no read before the new period");
    let (status, refused) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"catalogue_refresh_seconds": 5})),
        )
        .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["param"], "catalogue_refresh_seconds");
}
