//! Fair blame (§14.2): failures that are not an account's fault never set an account aside.
//! Each case runs on `bad` (tried first) with a healthy `good` beside it, and asserts what
//! the client got, which accounts the fake saw, and the account states afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::{Behaviour, FakeOptions};
use ondemand_core::engine::ProblemKind;
use serde_json::{Value, json};

async fn bad_then_good() -> Harness {
    Harness::with_keys(&["bad", "good"]).await
}

fn ask(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hello"}]})
}

/// A request for `kimi-k3` on a fresh record, sync or streamed: a refusal before any content
/// comes back as a plain error, so the stream's one event is the error body.
async fn refused(h: &Harness, stream: bool) -> (u16, Value) {
    h.fake.clear_requests();
    if stream {
        let (status, events, _) = h.stream(ask("kimi-k3")).await;
        (status, events[0].clone())
    } else {
        h.chat(ask("kimi-k3")).await
    }
}

fn both_healthy(h: &Harness) {
    assert_eq!(h.account_state("bad"), "healthy");
    assert_eq!(h.account_state("good"), "healthy");
}

#[tokio::test]
async fn a_content_policy_refusal_is_the_requests_not_retried_and_costs_nothing() {
    let h = bad_then_good().await;
    h.fake.set_default_behaviour(Behaviour {
        content_policy: true,
        ..Behaviour::default()
    });
    for stream in [false, true] {
        let (status, body) = refused(&h, stream).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "content_policy_violation");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("flagged by the content policy"),
            "the upstream's message is passed on: {body}"
        );
        assert_eq!(h.seen("/query").len(), 1, "not retried elsewhere");
        both_healthy(&h);
    }
    assert!(h.state.engine().problem().is_none());
}

#[tokio::test]
async fn cloudflares_html_403_is_a_proxy_wide_problem_not_each_accounts() {
    let h = bad_then_good().await;
    h.fake.set_options(FakeOptions {
        firewall: true,
        ..FakeOptions::default()
    });
    for stream in [false, true] {
        let (status, body) = refused(&h, stream).await;
        assert_eq!(status, 502, "{body}");
        assert_eq!(body["error"]["code"], "upstream_blocked");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("refuses this machine or user agent")
                && message.contains("Cloudflare error 1010"),
            "{message}"
        );
        assert_eq!(
            h.fake.requests().len(),
            1,
            "one call, then no other account is tried"
        );
        both_healthy(&h);
    }
    let problem = h.state.engine().problem().unwrap();
    assert_eq!(problem.kind, ProblemKind::Firewall);
    assert!(h.state.summary().is_problem(), "the tray shows it");
    let (_, proxy) = h.admin("GET", "/api/proxy", None).await;
    assert_eq!(proxy["upstream_problem"]["kind"], "firewall");
    let (_, overview) = h.admin("GET", "/api/stats/overview", None).await;
    assert_eq!(overview["upstream_problem"]["kind"], "firewall");

    h.fake.set_options(FakeOptions::default());
    assert_eq!(h.chat(ask("kimi-k3")).await.0, 200);
    assert!(h.state.engine().problem().is_none(), "cleared by a success");
    assert!(!h.state.summary().is_problem());
}

#[tokio::test]
async fn a_gateway_404_is_a_wrong_base_url_not_a_lost_session() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![key_account("bad"), key_account("good")],
        |s| s.base_url.push_str("/v9"),
    )
    .await;
    let (status, body) = h.chat(ask("gpt-4o")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_misconfigured");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no Route matched") && message.contains("base_url"),
        "{message}"
    );
    let paths: Vec<String> = h.fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v9/chat/v1/sessions"], "no other account tried");
    both_healthy(&h);
    assert_eq!(h.state.engine().problem().unwrap().kind, ProblemKind::Route);
}

#[tokio::test]
async fn a_plan_refusal_skips_the_account_for_that_model_only() {
    let h = bad_then_good().await;
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            refuse_premium: Some(403),
            ..Behaviour::default()
        },
    );
    let (status, body) = h.chat(ask("claude-opus-5")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.seen("/query"), ["bad", "good"]);
    both_healthy(&h);
    let (_, accounts) = h.admin("GET", "/api/accounts", None).await;
    let bad = accounts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "bad")
        .unwrap()
        .clone();
    assert_eq!(bad["state"], "healthy");
    assert_eq!(
        bad["model_blocks"][0]["endpoint_id"],
        "predefined-claude-opus-5"
    );
    assert!(
        bad["model_blocks"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("subscribe")
    );

    h.fake.clear_requests();
    for _ in 0..3 {
        let (status, events, _) = h.stream(ask("claude-opus-5")).await;
        assert_eq!(
            (status, streamed_content(&events).as_str()),
            (200, "Echo: hello")
        );
    }
    assert_eq!(
        h.seen("/query"),
        ["good"; 3],
        "bad is skipped for this model"
    );
    h.fake.clear_requests();
    for _ in 0..4 {
        assert_eq!(h.chat(ask("claude-4-5-haiku")).await.0, 200);
    }
    let mut seen = h.seen("/query");
    seen.sort();
    assert_eq!(
        seen,
        ["bad", "bad", "good", "good"],
        "bad serves other models"
    );

    h.fake.set_behaviour(
        "good",
        Behaviour {
            refuse_premium: Some(400),
            ..Behaviour::default()
        },
    );
    let (status, body) = h.chat(ask("gpt-5.6-sol")).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_available");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("subscribe")
    );
    let (status, body) = h.chat(ask("gpt-5.6-sol")).await;
    assert_eq!(status, 403, "refused up front now: {body}");
    assert_eq!(body["error"]["code"], "model_not_available");
    both_healthy(&h);
}
