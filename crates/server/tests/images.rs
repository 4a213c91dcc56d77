//! Images in, black box: each dialect's image form is described by the (fake) image agent,
//! the description reaches the query where the image stood, the same image again costs no
//! upload, and every failure of `ondemand-media.md` is met as the issue asks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use fake_ondemand::media::describe;
use fake_ondemand::{Behaviour, Failure, FakeOptions, Stage};
use serde_json::{Value, json};

/// A real 1×1 PNG, and a second image (a JPEG header is all the agent checks).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn data_url(bytes: &[u8]) -> String {
    format!("data:image/png;base64,{}", b64(bytes))
}

fn chat_with(image: &[u8], text: &str) -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": text},
        {"type": "image_url", "image_url": {"url": data_url(image), "detail": "high"}},
    ]}]})
}

fn queries(h: &Harness) -> Vec<String> {
    h.fake
        .requests_to("/query")
        .into_iter()
        .map(|r| r.body["query"].as_str().unwrap().to_owned())
        .collect()
}

fn uploads(h: &Harness) -> Vec<fake_ondemand::Recorded> {
    h.fake.requests_to("/media/v1/public/file/raw")
}

/// POSTs `body` to `path` with the client token (Bearer, which every dialect takes).
async fn post(h: &Harness, path: &str, body: &Value) -> (u16, Value) {
    let response = h
        .http
        .post(h.url(path))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_chat_image_is_described_where_it_stood_and_the_same_image_again_costs_no_upload() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, answer) = h.chat(chat_with(PNG, "What is in this picture?")).await;
    assert_eq!(status, 200, "{answer}");
    let query = &queries(&h)[0];
    assert!(
        query.contains(&format!(
            "What is in this picture?\n[Image 1: the image itself is not available; on-demand.io's image agent describes it as follows]\n{} [End of image 1]",
            describe(PNG)
        )),
        "{query}"
    );
    assert!(!query.contains('\u{FFFC}'), "no marker is left: {query}");
    // The upload: multipart, the image agent, sync, the request's own session.
    let upload = &uploads(&h)[0];
    assert_eq!(upload.body["agents"], json!(["plugin-1713958591"]));
    assert_eq!(upload.body["responseMode"], "sync");
    assert_eq!(upload.body["file"]["contentType"], "image/png");
    assert_eq!(upload.body["file"]["bytes"], PNG.len());
    let session = h.fake.requests_to("/query")[0].path.clone();
    assert!(
        session.contains(upload.body["sessionId"].as_str().unwrap()),
        "uploaded in the query's session: {session} {}",
        upload.body
    );

    // A second turn resends the image: its description comes from the cache.
    let mut second = chat_with(PNG, "What is in this picture?");
    second["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": "A dot."}),
        json!({"role": "user", "content": "And its colour?"}),
    ]);
    let (status, _) = h.chat(second).await;
    assert_eq!(status, 200);
    assert_eq!(uploads(&h).len(), 1, "no second upload");
    assert!(queries(&h)[1].contains(&describe(PNG)));
    let rows = h.usage_rows(2).await;
    assert_eq!((rows[0].images_described, rows[0].images_cached), (1, 0));
    assert_eq!((rows[1].images_described, rows[1].images_cached), (0, 1));

    // The upload is deleted in the background, as sessions are.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !h.fake.media().iter().all(|m| m.3) {
        assert!(std::time::Instant::now() < deadline, "{:?}", h.fake.media());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn anthropic_and_responses_images_reach_the_query_too() {
    let h = Harness::with_keys(&["k1"]).await;
    let messages = json!({"model": "claude-sonnet-5", "max_tokens": 100, "messages": [
        {"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(JPEG)}},
            {"type": "text", "text": "Describe it."}]}]});
    let (status, body) = post(&h, "/v1/messages", &messages).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        queries(&h)[0].contains(&describe(JPEG)),
        "{:?}",
        queries(&h)
    );

    let responses = json!({"model": "gpt-4o", "input": [{"role": "user", "content": [
        {"type": "input_text", "text": "Which is it?"},
        {"type": "input_image", "image_url": data_url(PNG), "detail": "auto"}]}]});
    let (status, body) = post(&h, "/v1/responses", &responses).await;
    assert_eq!(status, 200, "{body}");
    assert!(queries(&h)[1].contains(&describe(PNG)));

    // An image a tool returned (Claude Code's Read on a screenshot) is described as well.
    let tool_image = json!({"model": "claude-sonnet-5", "max_tokens": 100, "messages": [
        {"role": "user", "content": "Look at the screenshot."},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "s.png"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64(PNG)}}]}]}],
        "tools": [{"name": "Read", "input_schema": {"type": "object"}}]});
    let (status, body) = post(&h, "/v1/messages", &tool_image).await;
    assert_eq!(status, 200, "{body}");
    assert!(queries(&h)[2].contains(&describe(PNG)));
    assert_eq!(uploads(&h).len(), 2, "the PNG was described once, for both");
}

#[tokio::test]
async fn bad_images_are_refused_by_name_before_anything_goes_upstream() {
    let h = Harness::with_keys(&["k1"]).await;
    let gif = b"GIF89a\x01\x00\x01\x00";
    let (status, body) = h.chat(chat_with(gif, "x")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "messages[0].content[1]");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("a GIF"),
        "{body}"
    );

    let anthropic = json!({"model": "claude-sonnet-5", "max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "file", "file_id": "file_1"}}]}]});
    let (status, body) = post(&h, "/v1/messages", &anthropic).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("messages[0].content[0].source.type"),
        "{body}"
    );

    // A URL at a loopback address (or one that redirects there) is never fetched.
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    {
        let hits = hits.clone();
        tokio::spawn(async move {
            while let Ok((_socket, _)) = listener.accept().await {
                hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }
    for url in [
        format!("http://127.0.0.1:{port}/secret.png"),
        format!("http://localhost:{port}/secret.png"),
        format!("http://[::ffff:127.0.0.1]:{port}/secret.png"),
        "http://169.254.169.254/latest/meta-data/iam".to_owned(),
        "file:///etc/passwd".to_owned(),
    ] {
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": url}}]}]});
        let (status, body) = h.chat(body).await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["error"]["param"], "messages[0].content[0]", "{url}");
    }
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing reached the loopback server"
    );
    assert!(uploads(&h).is_empty() && queries(&h).is_empty());

    let h = Harness::build(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.image_input = ondemand_core::config::ImageInput::Refuse;
    })
    .await;
    let (status, body) = h.chat(chat_with(PNG, "x")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("image_input = refuse"),
        "{body}"
    );
}

#[tokio::test]
async fn a_429_rests_uploads_only_and_a_5xx_tries_another_account() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            failure: Some(Failure::new(429, "rate_limit_exceeded").at(Stage::Media)),
            ..Behaviour::default()
        },
    );
    for (image, text) in [(PNG, "first"), (JPEG, "second")] {
        let (status, body) = h.chat(chat_with(image, text)).await;
        assert_eq!(status, 200, "{body}");
        h.fake.reset_upload_limits();
    }
    assert_eq!(h.account_state("k1"), "healthy", "its chat was not blamed");
    assert_eq!(
        h.seen("/media/v1/public/file/raw"),
        ["k1", "k2", "k2"],
        "k1 was not asked again within the minute"
    );
    assert_eq!(h.seen("/query"), ["k2", "k2"]);
    assert_eq!(
        h.seen("/sessions"),
        ["k1", "k2", "k2"],
        "no session was made on k1 for the second image"
    );
    // Requests with nothing to upload (text, or an image described before) still use k1.
    for body in [
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
        chat_with(PNG, "again"),
    ] {
        assert_eq!(h.chat(body).await.0, 200);
    }
    assert_eq!(h.seen("/query")[2..], ["k1", "k2"]);
    assert_eq!(uploads(&h).len(), 3);

    // Every account limited: a 429 with Retry-After, not an answer without the image.
    let h = Harness::with_keys(&["k1"]).await;
    h.fake.set_default_behaviour(Behaviour {
        failure: Some(Failure::new(429, "rate_limit_exceeded").at(Stage::Media)),
        ..Behaviour::default()
    });
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&chat_with(PNG, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "image_uploads_limited", "{body}");
    assert!(
        queries(&h).is_empty(),
        "never answered as if no image was sent"
    );

    // A 5xx on one account's upload: the next account describes it.
    let h = Harness::with_keys(&["k1", "k2"]).await;
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            failure: Some(
                Failure::new(500, "server_error")
                    .message("errors.server_error")
                    .at(Stage::Media),
            ),
            ..Behaviour::default()
        },
    );
    let (status, body) = h.chat(chat_with(PNG, "x")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.seen("/media/v1/public/file/raw"), ["k1", "k2"]);
    assert!(queries(&h).last().unwrap().contains(&describe(PNG)));
}

#[tokio::test]
async fn an_empty_description_fails_honestly_and_password_accounts_leave_images_to_others() {
    let h = Harness::build(
        FakeOptions {
            media_processing: true,
            ..FakeOptions::default()
        },
        vec![key_account("k1")],
        |s| s.max_retries = 0,
    )
    .await;
    let (status, body) = h.chat(chat_with(PNG, "x")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "image_not_described");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("messages[0].content[1]") && message.contains("processing"),
        "{message}"
    );
    assert!(
        queries(&h).is_empty(),
        "never answered as if no image was sent"
    );

    // An email/password account cannot upload: an API-key account does it.
    let h = Harness::build(
        FakeOptions::default(),
        vec![
            password_account("me@example.com", "pw-0123456789"),
            key_account("k1"),
        ],
        |_| {},
    )
    .await;
    for _ in 0..2 {
        let (status, body) = h.chat(chat_with(PNG, "x")).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(h.seen("/media/v1/public/file/raw"), ["k1"]);
    assert_eq!(h.account_state("me@example.com"), "healthy");

    let h = Harness::build(
        FakeOptions::default(),
        vec![password_account("me@example.com", "pw-0123456789")],
        |_| {},
    )
    .await;
    let (status, body) = h.chat(chat_with(PNG, "x")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "image_uploads_unavailable", "{body}");
}

#[tokio::test]
async fn a_stream_waiting_on_a_description_is_kept_alive() {
    let h = Harness::build(
        FakeOptions {
            media_delay_ms: 700,
            ..FakeOptions::default()
        },
        vec![key_account("k1")],
        |s| s.stream_keepalive = Duration::from_millis(100),
    )
    .await;
    let (status, raw) = h
        .stream_raw("/v1/chat/completions", &chat_with(PNG, "What is it?"))
        .await;
    assert_eq!(status, 200);
    let first_data = raw.find("data:").unwrap();
    let keepalives = raw[..first_data].matches(": keep-alive").count();
    assert!(
        keepalives >= 3,
        "{keepalives} keep-alives before the answer: {raw}"
    );
    assert!(raw.contains("[DONE]"));
    assert!(queries(&h)[0].contains(&describe(PNG)));

    // Anthropic's stream keeps alive its own way (`ping` events).
    let body = json!({"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": b64(JPEG)}},
        {"type": "text", "text": "Describe it."}]}]});
    let (status, raw) = h.stream_raw("/v1/messages", &body).await;
    assert_eq!(status, 200);
    let first_block = raw.find("event: content_block_start").unwrap();
    let pings = raw[..first_block].matches("event: ping").count();
    assert!(pings >= 3, "{pings} pings before the answer: {raw}");
    assert!(raw.contains("message_stop"));
}

#[tokio::test]
async fn too_many_different_images_are_refused_before_any_upload() {
    let h = Harness::with_keys(&["k1"]).await;
    // Nine different images (each a PNG with a different trailing byte after IEND).
    let parts: Vec<Value> = (0..9u8)
        .map(|i| {
            let mut bytes = PNG.to_vec();
            bytes.push(i);
            json!({"type": "image_url", "image_url": {"url": data_url(&bytes)}})
        })
        .collect();
    let mut content = vec![json!({"type": "text", "text": "so many"})];
    content.extend(parts.iter().cloned());
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}]});
    let (status, answer) = post(&h, "/v1/chat/completions", &body).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("image_max_count"),
        "{answer}"
    );
    assert_eq!(answer["error"]["param"], "messages[0].content[9]");
    assert!(uploads(&h).is_empty(), "nothing was uploaded");
    // The same image many times is one image.
    let same: Vec<Value> = std::iter::repeat_n(parts[0].clone(), 12).collect();
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": same}]});
    let (status, answer) = post(&h, "/v1/chat/completions", &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(uploads(&h).len(), 1);
}

/// Uploads spend the accounts' Media API allowance whether or not the request then
/// succeeds: each request's row and its client token count every upload, failed ones too.
#[tokio::test]
async fn every_upload_is_counted_to_the_request_and_its_token_even_when_the_request_fails() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    let (id, secret) = h.new_token(json!({"name": "pictures"})).await;
    // Both accounts' uploads fail: the request fails after an upload to each, or more.
    h.fake.set_default_behaviour(Behaviour {
        failure: Some(Failure::new(500, "server_error").at(Stage::Media)),
        ..Behaviour::default()
    });
    let (status, _) = h.chat_as(&secret, chat_with(PNG, "x")).await;
    assert_ne!(status, 200);
    let failed = h.seen("/media/v1/public/file/raw").len() as u32;
    assert!(failed >= 2, "both accounts tried");
    // Then one that works.
    h.fake.set_default_behaviour(Behaviour::default());
    let (status, body) = h.chat_as(&secret, chat_with(JPEG, "y")).await;
    assert_eq!(status, 200, "{body}");
    let rows = h.usage_rows(2).await;
    let uploaded: Vec<(u32, u32)> = rows
        .iter()
        .map(|r| (r.images_uploaded, r.images_described))
        .collect();
    assert_eq!(uploaded, [(failed, 0), (1, 1)], "{rows:?}");
    let (_, token) = h.admin("GET", &format!("/api/tokens/{id}"), None).await;
    assert_eq!(token["used_uploads"], failed + 1, "{token}");
    assert_eq!(token["used_requests"], 1, "{token}");
}
