//! The fault-injection matrix (issue: account pool). Each test injects one fault on account
//! `bad` (tried first: round-robin starts with it), with a healthy `good` beside it, and
//! asserts what the client got, which accounts the fake saw in what order, and the account
//! states afterwards. Durations are tiny or explicit; nothing waits out a real cooldown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions, Stage};
use ondemand_core::config::Settings;

async fn bad_then_good(tweak: impl FnOnce(&mut Settings)) -> Harness {
    Harness::build(
        FakeOptions::default(),
        vec![key_account("bad"), key_account("good")],
        tweak,
    )
    .await
}

fn failing(failure: Failure) -> Behaviour {
    Behaviour {
        failure: Some(failure),
        ..Behaviour::default()
    }
}

/// One status/errorCode on `bad`: the client still gets its answer from `good` (sync and
/// stream), and `bad` ends in `state`.
async fn status_case(status: u16, code: &str, message: Option<&str>, state: &str) {
    let h = bad_then_good(|_| {}).await;
    let mut failure = Failure::new(status, code);
    if let Some(m) = message {
        failure = failure.message(m);
    }
    h.fake.set_behaviour("bad", failing(failure));
    let (got, body) = h.chat(user("hello")).await;
    assert_eq!(got, 200, "{status} {code}: {body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: hello");
    assert_eq!(h.seen("/sessions"), ["bad", "good"], "{status} {code}");
    let (name, reason) = h.account_states()["bad"].clone();
    assert_eq!(name, state, "{status} {code}");
    if state != "healthy" {
        let reason = reason.unwrap();
        assert!(
            reason.contains(&status.to_string()),
            "the reason names the failure: {reason}"
        );
    }
    assert_eq!(h.account_state("good"), "healthy");
    let (got, events, _) = h.stream(user("again")).await;
    assert_eq!(got, 200);
    assert_eq!(streamed_content(&events), "Echo: again");
}

#[tokio::test]
async fn each_upstream_status_puts_the_account_where_it_belongs_and_the_client_is_served() {
    // (status, errorCode, message, the state `bad` ends in)
    let cases: [(u16, &str, Option<&str>, &str); 9] = [
        (401, "unauthenticated", None, "needs_attention"),
        (403, "unauthorized", None, "needs_attention"),
        (
            400,
            "invalid_request",
            Some("Insufficient credits on this account"),
            "needs_attention",
        ),
        (429, "rate_limit_exceeded", None, "cooling_down"),
        (500, "model_error", None, "healthy"),
        (500, "server_error", None, "healthy"),
        (502, "bad_gateway", None, "healthy"),
        (503, "resource_unavailable", None, "healthy"),
        (504, "plugin_execution_timeout", None, "healthy"),
    ];
    for (status, code, message, state) in cases {
        status_case(status, code, message, state).await;
    }
}

#[tokio::test]
async fn a_request_the_upstream_refuses_is_a_400_and_costs_no_account() {
    for code in ["context_length_exceeded", "invalid_request"] {
        let h = bad_then_good(|_| {}).await;
        h.fake.set_behaviour(
            "bad",
            failing(
                Failure::new(400, code).message("reasoningEffort must be one of low, medium, max"),
            ),
        );
        let (got, body) = h.chat(user("x")).await;
        assert_eq!(got, 400, "{code}: {body}");
        assert_eq!(body["error"]["code"], code);
        assert_eq!(
            h.seen("/sessions"),
            ["bad"],
            "no retry for the request's own fault"
        );
        assert_eq!(h.account_state("bad"), "healthy", "no penalty");
    }
}

#[tokio::test]
async fn repeated_server_errors_open_the_circuit_then_a_probe_closes_it() {
    let h = bad_then_good(|s| {
        s.health.circuit_failures = 2;
        s.health.circuit_open = Duration::from_millis(300);
    })
    .await;
    h.fake
        .set_behaviour("bad", failing(Failure::new(500, "model_error")));
    for _ in 0..4 {
        assert_eq!(h.chat(user("x")).await.0, 200);
    }
    assert_eq!(h.account_state("bad"), "circuit_open");
    let seen = h.seen("/sessions");
    assert_eq!(
        seen.iter().filter(|k| *k == "bad").count(),
        2,
        "no traffic once open: {seen:?}"
    );
    h.fake.set_behaviour("bad", Behaviour::default());
    tokio::time::sleep(Duration::from_millis(350)).await;
    h.fake.clear_requests();
    for _ in 0..4 {
        assert_eq!(h.chat(user("x")).await.0, 200);
    }
    assert!(
        h.seen("/sessions").contains(&"bad".to_owned()),
        "the probe went through"
    );
    assert_eq!(h.account_state("bad"), "healthy");
}

#[tokio::test]
async fn a_delay_before_the_headers_fails_over_for_streams() {
    let h = bad_then_good(|s| s.stream_timeout = Duration::from_millis(200)).await;
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            header_delay_ms: 1_000,
            ..Behaviour::default()
        },
    );
    let started = std::time::Instant::now();
    let (got, events, raw) = h.stream(user("slow")).await;
    assert_eq!(got, 200, "{raw}");
    assert_eq!(streamed_content(&events), "Echo: slow");
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(h.seen("/query"), ["bad", "good"]);
    assert_eq!(
        h.account_state("bad"),
        "healthy",
        "one timeout is not yet a circuit"
    );
    assert_eq!(h.account_state("good"), "healthy");
}

#[tokio::test]
async fn a_delay_before_the_headers_is_bounded_by_request_timeout_for_sync() {
    let h = bad_then_good(|s| s.request_timeout = Duration::from_millis(200)).await;
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            header_delay_ms: 1_000,
            ..Behaviour::default()
        },
    );
    let (got, body) = h.chat(user("slow")).await;
    assert_eq!(got, 504, "{body}");
    assert_eq!(h.seen("/query"), ["bad"]);
    assert_eq!(
        h.account_state("bad"),
        "healthy",
        "the request deadline ended it, not the account"
    );
}

#[tokio::test]
async fn an_idle_stall_after_content_ends_with_an_error_event_and_counts_against_the_account() {
    let h = bad_then_good(|s| {
        s.stream_idle_timeout = Duration::from_millis(150);
        s.health.circuit_failures = 1;
    })
    .await;
    // Frames: status, heartbeat, "Echo:", then a 400 ms silence, past the 150 ms idle limit.
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            stall_after_frames: Some(3),
            stall_ms: 400,
            ..Behaviour::default()
        },
    );
    let (got, events, raw) = h.stream(user("one two three")).await;
    assert_eq!(got, 200, "{raw}");
    let last = events.last().unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_error", "{raw}");
    assert!(
        last["error"]["message"].as_str().unwrap().contains("quiet"),
        "{raw}"
    );
    assert!(!raw.contains("[DONE]"));
    assert_eq!(h.seen("/query"), ["bad"], "content had been sent: no retry");
    assert_eq!(h.account_state("bad"), "circuit_open");
}

/// A stream through `bad` (tried first) with `fault`: the harness, events and raw body.
async fn stream_with(fault: Behaviour, prompt: &str) -> (Harness, Vec<serde_json::Value>, String) {
    let h = bad_then_good(|_| {}).await;
    h.fake.set_behaviour("bad", fault);
    let (got, events, raw) = h.stream(user(prompt)).await;
    assert_eq!(got, 200, "{raw}");
    (h, events, raw)
}

#[tokio::test]
async fn a_broken_stream_fails_over_before_content_and_ends_with_an_error_after() {
    // Before any content: the client never sees the failure; `good` answers.
    for fault in [
        Behaviour {
            cut_after_frames: Some(2),
            ..Behaviour::default()
        },
        Behaviour {
            error_after_deltas: Some(0),
            ..Behaviour::default()
        },
    ] {
        let (h, events, _) = stream_with(fault.clone(), "x y").await;
        assert_eq!(streamed_content(&events), "Echo: x y", "{fault:?}");
        assert_eq!(h.seen("/query"), ["bad", "good"], "{fault:?}");
    }
    // After content: an error event, no [DONE], no retry; one failure is not yet a circuit.
    for (fault, content) in [
        (
            Behaviour {
                cut_after_frames: Some(4),
                cut_abruptly: true,
                ..Behaviour::default()
            },
            None,
        ),
        (
            Behaviour {
                error_after_deltas: Some(1),
                ..Behaviour::default()
            },
            Some("Echo:"),
        ),
    ] {
        let (h, events, raw) = stream_with(fault.clone(), "x y z").await;
        if let Some(content) = content {
            assert_eq!(streamed_content(&events), content, "{fault:?}");
        }
        assert_eq!(
            events.last().unwrap()["error"]["code"],
            "upstream_stream_error",
            "{raw}"
        );
        assert!(!raw.contains("[DONE]"), "{fault:?}");
        assert_eq!(h.seen("/query"), ["bad"], "{fault:?}");
        assert_eq!(h.account_state("bad"), "healthy", "{fault:?}");
        assert_eq!(h.account_state("good"), "healthy", "{fault:?}");
    }
}

#[tokio::test]
async fn a_frame_that_is_not_json_is_skipped_not_failed_over() {
    let h = bad_then_good(|_| {}).await;
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            malformed_frame: true,
            ..Behaviour::default()
        },
    );
    let (got, events, _) = h.stream(user("m")).await;
    assert_eq!((got, streamed_content(&events).as_str()), (200, "Echo: m"));
    assert_eq!(
        h.seen("/query"),
        ["bad"],
        "as every public consumer does (§14.3)"
    );
    assert_eq!(h.account_state("bad"), "healthy");
}

#[tokio::test]
async fn a_refresh_failure_signs_in_again_and_a_refused_sign_in_needs_attention() {
    let h = Harness::build(
        FakeOptions {
            fail_refresh: true,
            ..FakeOptions::default()
        },
        vec![password_account("me@x.io", "pw"), key_account("good")],
        |_| {},
    )
    .await;
    assert_eq!(h.chat(user("1")).await.0, 200);
    h.fake.expire_tokens();
    h.fake.clear_requests();
    // Round-robin: request 2 goes to `good`; request 3 to the email account.
    assert_eq!(h.chat(user("2")).await.0, 200);
    assert_eq!(h.chat(user("3")).await.0, 200);
    let paths: Vec<String> = h.fake.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.contains(&"/v1/auth/user/refresh_token".to_owned())
            && paths.contains(&"/v1/auth/user/signin".to_owned()),
        "{paths:?}"
    );
    assert_eq!(h.account_state("me@x.io"), "healthy");

    h.fake.expire_tokens();
    h.fake.set_behaviour(
        "me@x.io",
        failing(
            Failure::new(401, "unauthenticated")
                .message("Account locked")
                .at(Stage::SignIn),
        ),
    );
    for n in 4..=5 {
        assert_eq!(
            h.chat(user(&n.to_string())).await.0,
            200,
            "served by `good`"
        );
    }
    let (state, reason) = h.account_states()["me@x.io"].clone();
    assert_eq!(state, "needs_attention");
    assert!(reason.unwrap().contains("Account locked"));
}
