//! Legacy completions, black box: a prompt goes upstream verbatim and comes back as
//! `text_completion` objects, whole or streamed; what cannot be done is named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

async fn post(h: &Harness, body: &Value) -> (u16, String) {
    let response = h
        .http
        .post(h.url("/v1/completions"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_prompt_is_completed_whole_and_streamed() {
    let h = Harness::with_keys(&["k"]).await;
    let (status, body) = post(
        &h,
        &json!({"model": "gpt-4o-mini", "prompt": "Once upon a time", "max_tokens": 16}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(body["object"], "text_completion");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["choices"],
        json!([{"text": "Echo: Once upon a time", "index": 0, "logprobs": null, "finish_reason": "stop"}])
    );
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 0);
    let sent = &h.fake.requests_to("/query")[0].body;
    assert_eq!(
        sent["query"], "Once upon a time",
        "the prompt goes upstream verbatim"
    );

    let (status, raw) = post(
        &h,
        &json!({"model": "gpt-4o-mini", "prompt": ["Stream me"], "echo": true, "stream": true,
            "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(status, 200);
    let events = parse_sse(&raw);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks = &events[..events.len() - 1];
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Stream meEcho: Stream me", "the prompt first, echoed");
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    let finishes: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, [&json!("stop")]);
    let usage = &chunks.last().unwrap()["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn what_cannot_be_done_is_named() {
    let h = Harness::with_keys(&["k"]).await;
    for (body, param) in [
        (json!({"model": "gpt-4o", "prompt": ["a", "b"]}), "prompt"),
        (json!({"model": "gpt-4o", "prompt": [1, 2]}), "prompt"),
        (
            json!({"model": "gpt-4o", "prompt": "x", "logprobs": 3}),
            "logprobs",
        ),
        (json!({"model": "gpt-4o", "prompt": "x", "n": 2}), "n"),
        (json!({"model": "nope", "prompt": "x"}), "model"),
    ] {
        let (status, error) = post(&h, &body).await;
        let error: Value = serde_json::from_str(&error).unwrap();
        assert!(status == 400 || status == 404, "{status} {error}");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
}
