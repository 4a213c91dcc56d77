//! A client token's quotas hold against clients that try to slip past them: a stream left
//! just before its end still counts, and a token quota is reserved at admission, so
//! concurrent requests cannot overshoot it and a prompt larger than what is left is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

/// The token's `field` once it reaches `want` (its record is written when the request's
/// last piece drops, a moment after the client has gone).
async fn wait_for_use(h: &Harness, id: i64, field: &str, want: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, token) = h.admin("GET", &format!("/api/tokens/{id}"), None).await;
        if token[field].as_u64() >= Some(want) || Instant::now() > deadline {
            return token;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A prompt of `words` words, each one token.
fn prompt(words: usize) -> Value {
    user(&vec!["apple"; words].join(" "))
}

#[tokio::test]
async fn a_stream_its_client_leaves_after_the_content_counts_against_the_request_quota() {
    let mut h = Harness::with_keys(&["k1"]).await;
    // The whole answer in one piece, then a pause before the stream's end.
    h.fake.set_behaviour(
        "k1",
        fake_ondemand::Behaviour {
            answer: Some("the whole answer".into()),
            delta_chars: Some(100),
            frame_delay_ms: 400,
            ..Default::default()
        },
    );
    let (id, secret) = h
        .new_token(json!({"name": "two", "quota_requests": 2}))
        .await;
    for turn in 1..=2u64 {
        let mut body = user("hi");
        body["stream"] = json!(true);
        let response = h
            .http
            .post(h.url("/v1/chat/completions"))
            .bearer_auth(&secret)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut stream = response.bytes_stream();
        let mut seen = String::new();
        while !seen.contains("the whole answer") {
            let chunk = stream.next().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(!seen.contains("[DONE]"), "left before the end: {seen}");
        drop(stream);
        let used = wait_for_use(&h, id, "used_requests", turn).await;
        assert_eq!(used["used_requests"], turn, "turn {turn}: {used}");
    }
    let (status, body) = h.chat_as(&secret, user("a third")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_quota");
    let rows = h.usage_rows(3).await;
    assert_eq!(
        rows.iter()
            .filter(|r| r.error_class.as_deref() == Some("client_disconnected"))
            .count(),
        2,
        "{rows:?}"
    );
    // The database counts them the same way: a restart keeps the quota spent.
    h.restart().await;
    let (_, after) = h.admin("GET", &format!("/api/tokens/{id}"), None).await;
    assert_eq!(after["used_requests"], 2, "{after}");
    assert_eq!(h.chat_as(&secret, user("a fourth")).await.0, 429);
}

#[tokio::test]
async fn a_prompt_larger_than_what_is_left_of_the_token_quota_is_refused_before_upstream() {
    let h = Harness::with_keys(&["k1"]).await;
    let (_, secret) = h
        .new_token(json!({"name": "small", "quota_tokens": 10}))
        .await;
    let (status, body) = h.chat_as(&secret, prompt(40)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_quota");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("more than the 10 left"), "{message}");
    assert!(h.seen("/query").is_empty(), "nothing went upstream");
    // A prompt that fits is served.
    assert_eq!(h.chat_as(&secret, user("hi")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_cannot_overshoot_a_token_quota() {
    let h = Harness::with_keys(&["k1"]).await;
    h.fake.set_behaviour(
        "k1",
        fake_ondemand::Behaviour {
            header_delay_ms: 300,
            ..Default::default()
        },
    );
    // Each prompt is over half the quota: one at a time fits, two at once do not.
    let (id, secret) = h
        .new_token(json!({"name": "fifty", "quota_tokens": 50}))
        .await;
    let answers =
        futures_util::future::join_all((0..20).map(|_| h.chat_as(&secret, prompt(30)))).await;
    let served = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused = answers
        .iter()
        .filter(|(status, body)| *status == 429 && body["error"]["code"] == "insufficient_quota")
        .count();
    assert_eq!((served, refused), (1, 19), "{answers:?}");
    assert_eq!(h.seen("/query").len(), 1);
    // Settled afterwards: what the answer used is counted, and the quota is spent.
    let used = wait_for_use(&h, id, "used_tokens", 31).await;
    assert!(used["used_tokens"].as_u64().unwrap() > 30, "{used}");
    assert_eq!(h.chat_as(&secret, user("more")).await.0, 429);
}

/// One token cannot take every upstream slot: by default it may have half of
/// `max_concurrent_upstream` in flight, and its own `max_concurrent` when set; past that it
/// gets 429 at once, while another token is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_token_cannot_take_every_upstream_slot() {
    let h = Harness::build(
        fake_ondemand::FakeOptions::default(),
        vec![key_account("k1")],
        |s| s.max_concurrent_upstream = 4,
    )
    .await;
    h.fake.set_behaviour(
        "k1",
        fake_ondemand::Behaviour {
            header_delay_ms: 400,
            ..Default::default()
        },
    );
    let (_, greedy) = h.new_token(json!({"name": "greedy"})).await;
    let (_, other) = h.new_token(json!({"name": "other"})).await;
    let (burst, late) = tokio::join!(
        futures_util::future::join_all((0..8).map(|_| h.chat_as(&greedy, user("mine")))),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            h.chat_as(&other, user("me too")).await
        }
    );
    let served = burst.iter().filter(|(status, _)| *status == 200).count();
    let refused: Vec<&Value> = burst
        .iter()
        .filter(|(status, _)| *status == 429)
        .map(|(_, body)| body)
        .collect();
    assert_eq!((served, refused.len()), (2, 6), "{burst:?}");
    assert_eq!(
        refused[0]["error"]["code"], "too_many_concurrent_requests",
        "{refused:?}"
    );
    assert_eq!(late.0, 200, "the other token is served: {late:?}");

    // A token's own cap.
    let (_, one) = h
        .new_token(json!({"name": "one", "max_concurrent": 1}))
        .await;
    let pair = futures_util::future::join_all((0..2).map(|_| h.chat_as(&one, user("x")))).await;
    let mut statuses: Vec<u16> = pair.iter().map(|(s, _)| *s).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429]);
    // And after the burst, the slots are free again.
    assert_eq!(h.chat_as(&greedy, user("again")).await.0, 200);
    let (status, body) = h
        .admin(
            "POST",
            "/api/tokens",
            Some(json!({"name": "bad", "max_concurrent": 0})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "max_concurrent");
}
