//! Every request leaves one usage row, however it ended, with what the charts need.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions, Stage};
use ondemand_core::config::SessionMode;
use serde_json::json;

#[tokio::test]
async fn a_completion_records_its_account_tokens_and_timing() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, body) = h.chat(user("count me")).await;
    assert_eq!(status, 200);
    let rows = h.usage().await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.status, r.error_class.as_deref(), r.stream),
        (200, None, false)
    );
    assert_eq!(
        (r.model.as_str(), r.endpoint_id.as_deref()),
        ("gpt-4o", Some("predefined-gpt-5.6-terra"))
    );
    assert_eq!(
        (r.account.as_deref(), r.attempts, r.client_token.as_str()),
        (Some("k1"), 1, "default")
    );
    assert_eq!(
        r.input_tokens,
        body["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        r.output_tokens,
        body["usage"]["completion_tokens"].as_u64().unwrap()
    );
    assert!(!r.tokens_estimated && !r.session_reused);
    assert!(r.ts > 1_700_000_000_000 && r.ttft_ms.is_none());
}

#[tokio::test]
async fn a_stream_records_time_to_first_content_and_estimated_tokens() {
    let h = Harness::with_keys(&["k1"]).await;
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            no_metrics: true,
            frame_delay_ms: 20,
            ..Behaviour::default()
        },
    );
    let (status, _, _) = h.stream(user("a b c d")).await;
    assert_eq!(status, 200);
    let r = &h.usage_rows(1).await[0];
    assert_eq!(
        (r.status, r.error_class.as_deref(), r.stream),
        (200, None, true)
    );
    assert!(r.tokens_estimated && r.input_tokens > 0 && r.output_tokens > 0);
    let ttft = r.ttft_ms.unwrap();
    assert!(
        ttft >= 40 && ttft < r.latency_ms,
        "first content after status + heartbeat frames: {ttft} < {}",
        r.latency_ms
    );
}

#[tokio::test]
async fn refusals_and_failures_are_recorded_with_their_class() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.rate_limit = 6;
        s.health.circuit_failures = 100;
    })
    .await;
    let raw = |body: &'static str| {
        h.http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .body(body)
            .send()
    };
    assert_eq!(raw("{oops").await.unwrap().status(), 400);
    let mut unknown = user("x");
    unknown["model"] = json!("gpt-9");
    assert_eq!(h.chat(unknown).await.0, 404);
    assert_eq!(h.chat(user("FAKE_CONTEXT_LENGTH_EXCEEDED")).await.0, 400);
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            failure: Some(Failure::new(500, "model_error")),
            ..Behaviour::default()
        },
    );
    assert_eq!(h.chat(user("x")).await.0, 502);
    h.fake.set_behaviour("k1", Behaviour::default());
    assert_eq!(h.chat(user("ok")).await.0, 200);
    assert_eq!(h.chat(user("ok")).await.0, 200);
    assert_eq!(h.chat(user("over the limit")).await.0, 429);
    let rows = h.usage().await;
    let summary: Vec<(u16, Option<&str>, &str)> = rows
        .iter()
        .map(|r| (r.status, r.error_class.as_deref(), r.model.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (400, None, ""),
            (404, Some("model_not_found"), "gpt-9"),
            (400, Some("context_length_exceeded"), "gpt-4o"),
            (502, Some("upstream_error"), "gpt-4o"),
            (200, None, "gpt-4o"),
            (200, None, "gpt-4o"),
            (429, Some("rate_limit_exceeded"), ""),
        ]
    );
    assert_eq!(
        (rows[3].account.as_deref(), rows[3].attempts),
        (Some("k1"), 4),
        "the upstream failure names its attempts"
    );
}

#[tokio::test]
async fn a_stream_broken_midway_and_an_abandoned_stream_are_recorded() {
    let h = Harness::with_keys(&["k1"]).await;
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            error_after_deltas: Some(2),
            ..Behaviour::default()
        },
    );
    let (status, _, _) = h.stream(user("one two three four")).await;
    assert_eq!(status, 200);
    let broken = h.usage_rows(1).await.remove(0);
    assert_eq!(
        (broken.status, broken.error_class.as_deref()),
        (200, Some("upstream_stream_error"))
    );
    assert!(
        broken.output_tokens > 0,
        "tokens of the partial answer count"
    );

    h.fake.set_behaviour(
        "k1",
        Behaviour {
            frame_delay_ms: 100,
            ..Behaviour::default()
        },
    );
    h.abandon_stream(json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "w ".repeat(50)}]}))
        .await;
    let rows = h.usage_rows(2).await;
    assert_eq!(
        rows.len(),
        2,
        "the abandoned stream is recorded when the client leaves"
    );
    assert_eq!(
        (rows[1].status, rows[1].error_class.as_deref()),
        (200, Some("client_disconnected"))
    );
}

#[tokio::test]
async fn reuse_hits_are_marked() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.session_mode = SessionMode::Reuse
    })
    .await;
    let (_, first) = h.chat(user("turn one")).await;
    let answer = first["choices"][0]["message"]["content"].clone();
    let body = json!({"model": "gpt-4o", "messages": [
        {"role": "user", "content": "turn one"}, {"role": "assistant", "content": answer}, {"role": "user", "content": "turn two"}]});
    assert_eq!(h.chat(body).await.0, 200);
    let reused: Vec<bool> = h.usage().await.iter().map(|r| r.session_reused).collect();
    assert_eq!(reused, [false, true]);
}

#[tokio::test]
async fn a_graceful_stop_writes_every_row() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    h.fake.set_behaviour(
        "k2",
        Behaviour {
            failure: Some(Failure::new(401, "unauthenticated").at(Stage::Query)),
            ..Behaviour::default()
        },
    );
    let requests = (0..50).map(|i| h.chat(user(&format!("r{i}"))));
    assert!(
        futures_util::future::join_all(requests)
            .await
            .iter()
            .all(|(s, _)| *s == 200)
    );
    let database = h.database();
    let _data = h.stop().await;
    let conn = ondemand_core::store::open(&database).unwrap();
    let (requests, successes, _, _) =
        ondemand_core::store::usage::totals(&conn, 0, i64::MAX).unwrap();
    assert_eq!((requests, successes), (50, 50));
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[tokio::test]
async fn with_record_usage_off_nothing_is_stored() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.record_usage = false
    })
    .await;
    assert_eq!(h.chat(user("private")).await.0, 200);
    assert!(h.usage().await.is_empty());
}

#[tokio::test]
async fn failover_leaves_the_trail_of_failed_attempts_in_the_row() {
    let h = Harness::with_keys(&["bad", "good"]).await;
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            failure: Some(Failure::new(429, "rate_limit_exceeded")),
            ..Behaviour::default()
        },
    );
    // Round-robin starts at "bad" for the first request.
    assert_eq!(h.chat(user("a")).await.0, 200);
    let rows = h.usage().await;
    let r = &rows[0];
    assert_eq!((r.attempts, r.account.as_deref()), (2, Some("good")));
    assert_eq!(r.failed_attempts.len(), 1);
    let failed = &r.failed_attempts[0];
    assert_eq!(
        (
            failed.account.as_str(),
            failed.status,
            failed.code.as_deref()
        ),
        ("bad", Some(429), Some("rate_limit_exceeded"))
    );
    let (_, page) = h.admin("GET", "/api/requests", None).await;
    assert_eq!(page["data"][0]["failed_attempts"][0]["account"], "bad");
    assert_eq!(h.chat(user("b")).await.0, 200);
    assert!(
        h.usage().await[1].failed_attempts.is_empty(),
        "the resting account is not tried again"
    );
}

#[tokio::test]
async fn a_flood_of_refusals_is_tallied_not_stored_row_by_row() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.rate_limit = 1;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..300 {
        statuses.push(h.chat(user("again")).await.0);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 299);
    let rows = h.usage().await;
    let (_, overview) = get(&h, "/api/stats/overview", Some(ADMIN)).await;
    assert_eq!(
        overview["requests"], 300,
        "every refusal is counted: {overview}"
    );
    let refused_rows = rows.iter().filter(|r| r.status == 429).count();
    // One sample per minute (the flood may straddle a minute boundary).
    assert!(
        (1..=2).contains(&refused_rows),
        "{refused_rows} rows of refusals"
    );
    let conn = rusqlite::Connection::open(h.database()).unwrap();
    let tallied: i64 = conn
        .query_row(
            "SELECT SUM(count) FROM usage_refusals WHERE status = 429 AND error_class = 'rate_limit_exceeded'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tallied as usize + refused_rows, 299);
}
