//! Pool behaviour under load and over time: spread by strategy, failover under concurrency,
//! caps, bounded waiting, re-checks, rate limits, keep-alive, live changes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions, Stage};
use ondemand_core::Secret;
use ondemand_core::config::Strategy;
use ondemand_core::config::{AccountConfig, AccountOptions, Settings};

fn weighted(name: &str, weight: u32, max_concurrent: Option<u32>) -> AccountConfig {
    AccountConfig::ApiKey {
        name: name.into(),
        api_key: Secret::new(name),
        options: AccountOptions {
            weight,
            max_concurrent,
            enabled: true,
            proxy: None,
        },
    }
}

async fn parallel(h: &Harness, n: usize) -> Vec<u16> {
    let requests = (0..n).map(|i| async move { h.chat(user(&format!("request {i}"))).await.0 });
    futures_util::future::join_all(requests).await
}

fn per_account(h: &Harness) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for key in h.seen("/query") {
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn two_hundred_parallel_requests_spread_round_robin() {
    let h = Harness::with_keys(&["a", "b", "c"]).await;
    assert!(parallel(&h, 200).await.iter().all(|s| *s == 200));
    let counts = per_account(&h);
    for key in ["a", "b", "c"] {
        assert!((66..=67).contains(&counts[key]), "{counts:?}");
    }
}

#[tokio::test]
async fn two_hundred_parallel_requests_spread_by_weight() {
    let accounts = vec![
        weighted("a", 1, None),
        weighted("b", 2, None),
        weighted("c", 5, None),
    ];
    let h = Harness::build(FakeOptions::default(), accounts, |s| {
        s.pool_strategy = Strategy::Weighted
    })
    .await;
    assert!(parallel(&h, 200).await.iter().all(|s| *s == 200));
    let counts = per_account(&h);
    assert_eq!(
        (counts["a"], counts["b"], counts["c"]),
        (25, 50, 125),
        "exactly proportional"
    );
}

#[tokio::test]
async fn least_in_flight_sends_less_to_a_slow_account() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![key_account("slow"), key_account("fast")],
        |s| {
            s.pool_strategy = Strategy::LeastInFlight;
        },
    )
    .await;
    h.fake.set_behaviour(
        "slow",
        Behaviour {
            header_delay_ms: 200,
            ..Behaviour::default()
        },
    );
    let statuses = futures_util::future::join_all((0..40).map(|i| {
        let h = &h;
        async move {
            tokio::time::sleep(Duration::from_millis(i * 10)).await;
            h.chat(user("x")).await.0
        }
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 200));
    let counts = per_account(&h);
    assert!(counts["slow"] * 3 < counts["fast"], "{counts:?}");
}

#[tokio::test]
async fn with_one_account_failing_every_request_still_succeeds() {
    let h = Harness::with_keys(&["a", "broken", "c"]).await;
    h.fake.set_behaviour(
        "broken",
        Behaviour {
            failure: Some(Failure::new(500, "model_error")),
            ..Behaviour::default()
        },
    );
    let statuses = parallel(&h, 200).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let broken_tries = h
        .seen("/sessions")
        .iter()
        .filter(|k| *k == "broken")
        .count();
    assert!(
        broken_tries < 200 / 3,
        "the circuit opened and traffic moved away: {broken_tries}"
    );
    assert_eq!(h.account_state("broken"), "circuit_open");
}

#[tokio::test]
async fn per_account_cap_is_respected_and_excess_waits() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![weighted("only", 1, Some(1))],
        |_| {},
    )
    .await;
    h.fake.set_behaviour(
        "only",
        Behaviour {
            header_delay_ms: 150,
            ..Behaviour::default()
        },
    );
    let started = Instant::now();
    let statuses = parallel(&h, 3).await;
    assert_eq!(statuses, [200, 200, 200]);
    assert!(
        started.elapsed() >= Duration::from_millis(440),
        "one at a time: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_global_upstream_cap_is_respected() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![key_account("a"), key_account("b")],
        |s| {
            s.max_concurrent_upstream = 1;
        },
    )
    .await;
    h.fake.set_default_behaviour(Behaviour {
        header_delay_ms: 150,
        ..Behaviour::default()
    });
    let started = Instant::now();
    assert_eq!(parallel(&h, 3).await, [200, 200, 200]);
    assert!(
        started.elapsed() >= Duration::from_millis(440),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_request_waits_for_a_cooling_account_within_no_account_wait() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("only")], |s| {
        s.health.cooldown_base = Duration::from_millis(300);
        s.no_account_wait = Duration::from_secs(2);
    })
    .await;
    h.fake.set_behaviour(
        "only",
        Behaviour {
            failure: Some(Failure::new(429, "rate_limit_exceeded").times(1)),
            ..Behaviour::default()
        },
    );
    let started = Instant::now();
    let (status, body) = h.chat(user("patience")).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "it waited out the cooldown"
    );
    assert_eq!(
        h.account_state("only"),
        "healthy",
        "a success ends the cooldown"
    );
}

#[tokio::test]
async fn a_parked_account_comes_back_after_a_background_recheck() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![key_account("flaky"), key_account("steady")],
        |s| {
            s.health.recheck_base = Duration::from_millis(100);
        },
    )
    .await;
    h.fake.set_behaviour(
        "flaky",
        Behaviour {
            failure: Some(Failure::new(401, "unauthenticated")),
            ..Behaviour::default()
        },
    );
    assert_eq!(h.chat(user("x")).await.0, 200);
    assert_eq!(h.account_state("flaky"), "needs_attention");
    // Still broken: re-checks fail and back off; the account stays parked.
    let rechecks = || {
        h.fake
            .requests_to("/sessions")
            .iter()
            .filter(|r| r.body["externalUserId"] == "ondemand-proxy-recheck")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while rechecks() < 2 {
        assert!(
            Instant::now() < deadline,
            "never re-checked in the background"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.account_state("flaky"), "needs_attention");
    // Fixed upstream (say the user renewed the key): the next re-check brings it back.
    h.fake.set_behaviour("flaky", Behaviour::default());
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.account_state("flaky") != "healthy" {
        assert!(Instant::now() < deadline, "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Until it recovered, flaky opened no session but the re-check's: its delete is that one.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !h
        .fake
        .requests()
        .iter()
        .any(|r| r.method == "DELETE" && r.credential.as_deref() == Some("flaky"))
    {
        assert!(
            Instant::now() < deadline,
            "the re-check's session was left upstream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.fake.clear_requests();
    for _ in 0..4 {
        assert_eq!(h.chat(user("x")).await.0, 200);
    }
    assert!(h.seen("/query").contains(&"flaky".to_owned()));
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("a")], |s| {
        s.rate_limit = 3
    })
    .await;
    for _ in 0..3 {
        assert_eq!(h.chat(user("x")).await.0, 200);
    }
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&wait), "{wait}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(
        h.seen("/query").len(),
        3,
        "the refused request never reached the upstream"
    );
}

#[tokio::test]
async fn a_slow_first_content_keeps_the_client_alive_with_comments() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("a")], |s| {
        s.stream_keepalive = Duration::from_millis(100);
    })
    .await;
    h.fake.set_behaviour(
        "a",
        Behaviour {
            header_delay_ms: 450,
            ..Behaviour::default()
        },
    );
    let (status, events, raw) = h.stream(user("eventually")).await;
    assert_eq!(status, 200);
    assert!(raw.starts_with(": keep-alive\n\n"), "{raw}");
    assert!(raw.matches(": keep-alive").count() >= 2, "{raw}");
    assert_eq!(streamed_content(&events), "Echo: eventually");
    assert_eq!(events.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn a_failure_after_keepalives_arrives_as_an_error_event() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("a")], |s| {
        s.stream_keepalive = Duration::from_millis(50);
    })
    .await;
    h.fake.set_behaviour(
        "a",
        Behaviour {
            header_delay_ms: 200,
            failure: Some(Failure::new(400, "context_length_exceeded").at(Stage::Query)),
            ..Behaviour::default()
        },
    );
    let (status, events, raw) = h.stream(user("x")).await;
    assert_eq!(status, 200, "already committed by the keep-alives");
    assert!(raw.starts_with(": keep-alive"));
    assert_eq!(
        events.last().unwrap()["error"]["code"],
        "context_length_exceeded",
        "{raw}"
    );
    assert!(!raw.contains("[DONE]"));
}

#[tokio::test]
async fn settings_and_accounts_change_live_without_dropping_requests_in_flight() {
    let h = Harness::with_keys(&["a", "b"]).await;
    h.fake.add_key("c");
    h.fake.set_behaviour(
        "a",
        Behaviour {
            frame_delay_ms: 40,
            ..Behaviour::default()
        },
    );
    let slow = h.stream(user("one two three four five six"));
    let change = async {
        // Once the stream's query is upstream, replace the pool mid-stream, and switch
        // strategy and retries.
        let deadline = Instant::now() + Duration::from_secs(5);
        while h.fake.requests_to("/query").is_empty() {
            assert!(Instant::now() < deadline, "the stream never went upstream");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let engine = h.state.engine();
        engine.routing.pool.update(&[key_account("c")]);
        engine.set_settings(Settings {
            max_retries: 0,
            pool_strategy: Strategy::LeastInFlight,
            ..(*engine.settings()).clone()
        });
    };
    let ((status, events, raw), ()) = tokio::join!(slow, change);
    assert_eq!(status, 200);
    assert_eq!(
        streamed_content(&events),
        "Echo: one two three four five six",
        "{raw}"
    );
    assert_eq!(events.last().unwrap(), "[DONE]");
    h.fake.clear_requests();
    for _ in 0..3 {
        assert_eq!(h.chat(user("x")).await.0, 200);
    }
    assert_eq!(
        h.seen("/query"),
        ["c", "c", "c"],
        "new requests use the new pool"
    );
    h.fake.set_behaviour(
        "c",
        Behaviour {
            failure: Some(Failure::new(500, "model_error").times(1)),
            ..Behaviour::default()
        },
    );
    assert_eq!(
        h.chat(user("x")).await.0,
        502,
        "max_retries 0 applies at once"
    );
}
