//! Every error a client can meet arrives in the OpenAI envelope with a fitting status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions};
use serde_json::{Value, json};

/// Asserts the envelope's exact shape and returns the inner error object.
fn envelope(body: &Value) -> &Value {
    let error = &body["error"];
    let keys: Vec<&String> = error.as_object().expect("an error object").keys().collect();
    assert_eq!(keys.len(), 4, "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    error
}

async fn raw_post(
    h: &Harness,
    path: &str,
    body: &'static str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = h.http.post(h.url(path)).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_requests() {
    let h = Harness::with_keys(&["k"]).await;
    let cases: [(&str, u16, Option<&str>); 7] = [
        ("{not json", 400, None),
        ("", 400, None),
        (
            r#"{"messages": [{"role": "user", "content": "x"}]}"#,
            400,
            None,
        ),
        (
            r#"{"model": "gpt-4o", "messages": "hello"}"#,
            400,
            Some("messages"),
        ),
        (
            r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}"#,
            400,
            Some("temperature"),
        ),
        (
            r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "n": 3}"#,
            400,
            Some("n"),
        ),
        (
            r#"{"model": "gpt-4o", "messages": [{"content": "x"}]}"#,
            400,
            Some("messages[0]"),
        ),
    ];
    for (body, status, param) in cases {
        let (got, answer) = raw_post(&h, "/v1/chat/completions", body, Some(TOKEN)).await;
        assert_eq!(got, status, "{body} -> {answer}");
        let error = envelope(&answer);
        assert_eq!(error["type"], "invalid_request_error");
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{body} -> {answer}");
        }
    }
    assert!(
        h.fake.requests().is_empty(),
        "nothing invalid reaches the upstream"
    );
}

#[tokio::test]
async fn unsupported_features_are_refused_clearly() {
    let h = Harness::with_keys(&["k"]).await;
    let mut tools = user("x");
    tools["tools"] = json!([{"type": "retrieval"}]);
    let (status, body) = h.chat(tools).await;
    assert_eq!(status, 400);
    assert_eq!(envelope(&body)["param"], "tools[0].type");
    assert!(
        envelope(&body)["message"]
            .as_str()
            .unwrap()
            .contains("only `function`")
    );
    let image = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]});
    let (status, body) = h.chat(image).await;
    assert_eq!(status, 400);
    assert_eq!(envelope(&body)["param"], "messages[0].content[0]");
    let mut unknown = user("x");
    unknown["model"] = json!("gpt-9000");
    let (status, body) = h.chat(unknown).await;
    assert_eq!(status, 404);
    assert_eq!(envelope(&body)["code"], "model_not_found");
    assert!(h.fake.requests().is_empty());
}

#[tokio::test]
async fn oversized_body_is_413() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k")], |s| {
        s.max_body_bytes = 4096
    })
    .await;
    let big = user(&"a".repeat(10_000));
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(envelope(&body)["code"], "request_too_large");
    assert!(
        envelope(&body)["message"]
            .as_str()
            .unwrap()
            .contains("setting max_body_bytes")
    );
    // The sign-in's limit is fixed: its message names no setting.
    let login = h
        .http
        .post(h.url("/api/login"))
        .json(&serde_json::json!({"password": "p".repeat(100_000)}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 413);
    let body: Value = login.json().await.unwrap();
    let message = envelope(&body)["message"].as_str().unwrap().to_owned();
    assert!(!message.contains("max_body_bytes"), "{message}");
    // A text part without its text is named as such.
    let null_text = serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": null}]}]});
    let (status, body) = h.chat(null_text).await;
    assert_eq!(status, 400);
    assert_eq!(envelope(&body)["param"], "messages[0].content[0].text");
}

#[tokio::test]
async fn default_body_limit_is_ten_mebibytes() {
    let h = Harness::with_keys(&["k"]).await;
    let big = user(&"a".repeat(10 * 1024 * 1024 + 1));
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let h = Harness::with_keys(&["k"]).await;
    for path in ["/v1/nope", "/v2/chat/completions", "/nothing/here"] {
        let response = h
            .http
            .get(h.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(envelope(&body)["code"], "unknown_url");
        assert!(body["error"]["message"].as_str().unwrap().contains(path));
    }
    let response = h
        .http
        .delete(h.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap();
    assert_eq!(envelope(&body)["code"], "method_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/chat/completions")
    );
}

#[tokio::test]
async fn missing_or_wrong_token() {
    let h = Harness::with_keys(&["k"]).await;
    for token in [
        None,
        Some("wrong"),
        Some("sk-test-client-token-012345678"),
        Some("sk-test-client-token-01234567890"),
    ] {
        let (status, body) = raw_post(
            &h,
            "/v1/chat/completions",
            r#"{"model":"gpt-4o","messages":[]}"#,
            token,
        )
        .await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(envelope(&body)["code"], "invalid_api_key");
        assert!(
            !body.to_string().contains(TOKEN),
            "the real token is never echoed"
        );
    }
    let models = h.http.get(h.url("/v1/models")).send().await.unwrap();
    assert_eq!(models.status(), 401);
    assert_eq!(models.headers()["www-authenticate"], "Bearer");
    assert!(h.fake.requests().is_empty());
}

#[tokio::test]
async fn upstream_rejection_of_the_request_is_a_400_without_retry() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    let (status, body) = h.chat(user("FAKE_CONTEXT_LENGTH_EXCEEDED")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(envelope(&body)["code"], "context_length_exceeded");
    assert_eq!(
        h.fake.requests_to("/query").len(),
        1,
        "a request's own fault is not retried"
    );
    // The same as a stream: the [ERROR] frame arrives before any content.
    let (status, events, raw) = h.stream(user("FAKE_CONTEXT_LENGTH_EXCEEDED")).await;
    assert_eq!(status, 400, "{raw}");
    assert_eq!(events[0]["error"]["code"], "context_length_exceeded");
    assert_eq!(h.fake.requests_to("/query").len(), 2);
    // A bad reasoningEffort (if the upstream ever refused one) is the request's fault too.
    h.fake.set_default_behaviour(Behaviour {
        failure: Some(
            Failure::new(400, "invalid_request")
                .message("reasoningEffort must be one of low, medium, max"),
        ),
        ..Behaviour::default()
    });
    let (status, body) = h.chat(user("x")).await;
    assert_eq!(status, 400);
    assert!(
        envelope(&body)["message"]
            .as_str()
            .unwrap()
            .contains("reasoningEffort")
    );
}

/// A proxy with two accounts that both answer every call with `failure`.
async fn both_failing(failure: Failure) -> Harness {
    let h = Harness::build(
        FakeOptions::default(),
        vec![key_account("k1"), key_account("k2")],
        |s| {
            s.request_timeout = Duration::from_millis(300);
        },
    )
    .await;
    h.fake.set_default_behaviour(Behaviour {
        failure: Some(failure),
        ..Behaviour::default()
    });
    h
}

async fn chat_with_headers(h: &Harness) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn server_errors_on_every_account_are_a_502_after_every_attempt() {
    let h = both_failing(Failure::new(500, "model_error")).await;
    let (status, body) = h.chat(user("x")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(envelope(&body)["code"], "upstream_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("4 attempts"),
        "{body}"
    );
    assert_eq!(
        h.fake.requests_to("/sessions").len(),
        4,
        "1 + max_retries attempts"
    );
}

#[tokio::test]
async fn bad_keys_on_every_account_are_a_503_with_the_reason_and_retry_after() {
    let h = both_failing(Failure::new(401, "unauthenticated")).await;
    let (status, headers, body) = chat_with_headers(&h).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(envelope(&body)["code"], "upstream_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Invalid API Key"), "{message}");
    assert!(
        !message.contains("k1 ") && !message.contains("k2 "),
        "no key in the message: {message}"
    );
    assert!(headers.contains_key("retry-after"));
    assert_eq!(
        h.fake.requests_to("/sessions").len(),
        2,
        "each bad account is tried once, then set aside"
    );
}

#[tokio::test]
async fn rate_limits_on_every_account_are_a_503_with_retry_after() {
    let h = both_failing(Failure::new(429, "rate_limit_exceeded")).await;
    let (status, headers, body) = chat_with_headers(&h).await;
    assert_eq!(status, 503, "{body}");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (55..=60).contains(&retry_after),
        "the 60 s cooldown: {retry_after}"
    );
}

#[tokio::test]
async fn a_slow_upstream_is_a_504_within_request_timeout() {
    let h = both_failing(Failure::new(500, "unused")).await;
    h.fake.set_default_behaviour(Behaviour {
        header_delay_ms: 2_000,
        ..Behaviour::default()
    });
    let started = std::time::Instant::now();
    let (status, body) = h.chat(user("x")).await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(envelope(&body)["code"], "upstream_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "request_timeout bounds the whole request"
    );
}

#[tokio::test]
async fn no_accounts_is_a_clear_503() {
    let h = Harness::build(FakeOptions::default(), vec![], |_| {}).await;
    let (status, body) = h.chat(user("x")).await;
    assert_eq!(status, 503);
    let error = envelope(&body);
    assert_eq!(error["code"], "no_accounts");
    // It speaks to a desktop user first (the dashboard), and to a headless one too.
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("Accounts page") && message.contains("Try the demo"),
        "{message}"
    );
    assert!(
        message.contains("ONDEMAND_ACCOUNTS") && message.contains("--demo"),
        "{message}"
    );
}

#[tokio::test]
async fn a_huge_model_name_is_refused_before_it_is_stored_or_echoed() {
    let h = Harness::with_keys(&["k"]).await;
    let mut body = user("x");
    body["model"] = json!("m".repeat(3 * 1024 * 1024));
    let (status, answer) = h.chat(body).await;
    assert_eq!(status, 400);
    assert_eq!(envelope(&answer)["param"], "model");
    assert!(answer.to_string().len() < 1_000, "nothing echoed");
    let rows = h.usage_rows(1).await;
    assert!(rows[0].model.is_empty(), "not stored");
    let long = "m".repeat(300);
    let response = h
        .http
        .get(h.url(&format!("/v1/models/{long}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_path_that_does_not_decode_is_a_400_in_the_envelope() {
    let h = Harness::with_keys(&["k1"]).await;
    for (method, path, credential) in [
        ("GET", "/v1/models/%ff", TOKEN),
        ("GET", "/v1/responses/%ff", TOKEN),
        ("DELETE", "/v1/responses/%ff", TOKEN),
        ("DELETE", "/api/aliases/%ff", ADMIN),
        ("GET", "/api/accounts/%ff", ADMIN),
    ] {
        let method: reqwest::Method = method.parse().unwrap();
        let response = h
            .http
            .request(method.clone(), h.url(path))
            .bearer_auth(credential)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert!(
            envelope(&body)["message"]
                .as_str()
                .unwrap()
                .contains("percent-encoding"),
            "{body}"
        );
    }
}
