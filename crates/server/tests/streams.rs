//! Stream faults: before the first content a failure fails over invisibly; after it, the
//! stream ends with an error event and never with a `[DONE]` that looks like success.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions};

fn queried_keys(h: &Harness) -> Vec<String> {
    h.fake
        .requests_to("/query")
        .into_iter()
        .map(|r| r.credential.unwrap())
        .collect()
}

#[tokio::test]
async fn failure_before_content_fails_over_invisibly() {
    let h = Harness::with_keys(&["bad", "good"]).await;
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            cut_after_frames: Some(2),
            cut_abruptly: true,
            ..Behaviour::default()
        },
    );
    for _ in 0..2 {
        let (status, events, raw) = h.stream(user("hello")).await;
        assert_eq!(status, 200, "{raw}");
        assert_eq!(streamed_content(&events), "Echo: hello");
        assert_eq!(events.last().unwrap(), "[DONE]");
    }
    let keys = queried_keys(&h);
    assert!(keys.contains(&"bad".to_owned()), "{keys:?}");
    assert_eq!(keys.iter().filter(|k| *k == "good").count(), 2, "{keys:?}");
}

#[tokio::test]
async fn clean_eof_without_done_is_a_failure_not_a_success() {
    let h = Harness::with_keys(&["only"]).await;
    // Content arrives, then the body ends cleanly without [DONE].
    h.fake.set_behaviour(
        "only",
        Behaviour {
            cut_after_frames: Some(4),
            ..Behaviour::default()
        },
    );
    let (status, events, raw) = h.stream(user("one two three four")).await;
    assert_eq!(status, 200, "{raw}");
    assert!(!raw.contains("[DONE]"), "{raw}");
    let last = events.last().unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_error", "{raw}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("before it was complete")
    );
    assert!(
        events
            .iter()
            .all(|e| e["choices"][0]["finish_reason"].is_null()),
        "no finish_reason on a broken stream"
    );
}

#[tokio::test]
async fn error_frame_after_content_ends_with_an_error_event() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    h.fake.set_default_behaviour(Behaviour {
        error_after_deltas: Some(2),
        ..Behaviour::default()
    });
    let (status, events, raw) = h.stream(user("alpha beta gamma delta")).await;
    assert_eq!(status, 200);
    assert_eq!(
        streamed_content(&events),
        "Echo: alpha",
        "two deltas then the error"
    );
    assert_eq!(
        events.last().unwrap()["error"]["code"],
        "upstream_stream_error"
    );
    assert!(!raw.contains("[DONE]"));
    assert_eq!(
        queried_keys(&h).len(),
        1,
        "content was sent: no silent retry"
    );
}

#[tokio::test]
async fn error_frame_before_content_fails_over() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            error_after_deltas: Some(0),
            ..Behaviour::default()
        },
    );
    h.fake.set_behaviour(
        "k2",
        Behaviour {
            error_after_deltas: Some(0),
            ..Behaviour::default()
        },
    );
    let (status, body) = {
        let (status, events, _) = h.stream(user("x")).await;
        (status, events)
    };
    assert_eq!(
        status, 502,
        "model_error on every account before content: {body:?}"
    );
    h.fake.set_behaviour("k2", Behaviour::default());
    let (status, events, _) = h.stream(user("x")).await;
    assert_eq!(status, 200);
    assert_eq!(streamed_content(&events), "Echo: x");
}

#[tokio::test]
async fn a_frame_that_is_not_json_before_content_is_skipped() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            malformed_frame: true,
            ..Behaviour::default()
        },
    );
    let (status, events, raw) = h.stream(user("x")).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(streamed_content(&events), "Echo: x");
    assert_eq!(queried_keys(&h), ["k1"]);
}

#[tokio::test]
async fn idle_stall_mid_stream_times_out_with_an_error_event() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k")], |s| {
        s.stream_timeout = Duration::from_millis(200);
    })
    .await;
    h.fake.set_behaviour(
        "k",
        Behaviour {
            frame_delay_ms: 600,
            ..Behaviour::default()
        },
    );
    let started = std::time::Instant::now();
    let (status, events, raw) = h.stream(user("x")).await;
    // The first frame comes at once; the second is 600 ms late, past the 200 ms idle limit.
    assert_eq!(
        status, 504,
        "no content was sent yet, so the client gets a plain error: {raw}"
    );
    assert_eq!(events[0]["error"]["code"], "upstream_timeout");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn status_failures_on_one_account_fail_over_to_the_next() {
    let h = Harness::with_keys(&["k1", "k2", "k3"]).await;
    for (status, code) in [
        (500, "model_error"),
        (503, "resource_unavailable"),
        (429, "rate_limit_exceeded"),
        (403, "unauthorized"),
    ] {
        h.fake.clear_requests();
        h.fake.set_behaviour(
            "k1",
            Behaviour {
                failure: Some(Failure::new(status, code)),
                ..Behaviour::default()
            },
        );
        h.fake.set_behaviour(
            "k2",
            Behaviour {
                failure: Some(Failure::new(status, code)),
                ..Behaviour::default()
            },
        );
        for stream in [false, true] {
            let body = user("x");
            let got = if stream {
                h.stream(body).await.0
            } else {
                h.chat(body).await.0
            };
            assert_eq!(got, 200, "{status} {code} stream={stream}");
        }
        let sessions: Vec<String> = h
            .fake
            .requests_to("/sessions")
            .into_iter()
            .map(|r| r.credential.unwrap())
            .collect();
        assert!(
            sessions.iter().filter(|k| *k == "k3").count() == 2,
            "{status}: {sessions:?}"
        );
    }
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_stream() {
    let h = Harness::with_keys(&["k"]).await;
    h.fake.set_behaviour(
        "k",
        Behaviour {
            frame_delay_ms: 100,
            ..Behaviour::default()
        },
    );
    // 100 words at 100 ms a frame: ~10 s if nobody cancels it.
    h.abandon_stream(serde_json::json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "word ".repeat(100)}]}))
        .await;
    // The proxy's upstream connection closes; the fake's writer notices at its next send.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let open = h.fake.open_streams();
        if open == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "upstream stream still open after the client left"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn streams_of_2026_complete_without_status_logs_done_or_a_completion_answer() {
    let h = Harness::with_keys(&["k1"]).await;
    for behaviour in [
        Behaviour {
            no_status_log: true,
            ..Behaviour::default()
        },
        Behaviour {
            no_done: true,
            ..Behaviour::default()
        },
        Behaviour {
            completed_without_answer: true,
            no_done: true,
            ..Behaviour::default()
        },
        Behaviour {
            no_status_log: true,
            no_done: true,
            unknown_events: true,
            malformed_frame: true,
            ..Behaviour::default()
        },
    ] {
        h.fake.set_behaviour("k1", behaviour.clone());
        let (status, events, raw) = h.stream(user("tolerant")).await;
        assert_eq!(status, 200, "{behaviour:?}: {raw}");
        assert_eq!(streamed_content(&events), "Echo: tolerant", "{behaviour:?}");
        assert_eq!(events.last().unwrap(), "[DONE]", "{behaviour:?}");
        let (status, body) = h.chat(user("sync")).await;
        assert_eq!(status, 200, "{behaviour:?}: {body}");
    }
    assert_eq!(h.account_state("k1"), "healthy");
    // Without the completion log or the metrics, an end without [DONE] is still truncated.
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            no_status_log: true,
            no_metrics: true,
            no_done: true,
            ..Behaviour::default()
        },
    );
    let (status, events, raw) = h.stream(user("cut")).await;
    assert_eq!(status, 200);
    assert_ne!(events.last().unwrap(), "[DONE]", "{raw}");
    assert!(raw.contains("upstream_stream_error"), "{raw}");
}
