//! `POST /v1/chat/completions` in OpenAI's shape, for the peer benchmark (`bench/peers.sh`):
//! the gateways a user might pick instead of this proxy (LiteLLM, Portkey) call an
//! OpenAI-compatible upstream, so they are measured in front of this route. It answers what
//! the on-demand.io routes answer (the prefix and the last user turn), streamed in the same
//! deltas at the same pace (the default behaviour's `frame_delay_ms`), so each gateway's
//! upstream does the same work as ours. Any bearer key is accepted; nothing is recorded.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::routes::Fake;
use crate::wire::{deltas, tokens_for};

/// The text of the last user message (a string, or the text parts of a list).
fn last_user_text(request: &Value) -> Option<String> {
    let message = request["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?;
    match &message["content"] {
        Value::String(text) => Some(text.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

fn refuse(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
    )
        .into_response()
}

pub(crate) async fn chat_completions(State(shared): State<Fake>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return refuse("the body is not JSON");
    };
    let Some(prompt) = last_user_text(&request) else {
        return refuse("no user message");
    };
    let model = request["model"].as_str().unwrap_or("gpt-4o").to_owned();
    let answer = format!("{}{prompt}", shared.lock().options.answer_prefix);
    let usage = json!({
        "prompt_tokens": tokens_for(&prompt),
        "completion_tokens": tokens_for(&answer),
        "total_tokens": tokens_for(&prompt) + tokens_for(&answer),
    });
    let id = format!("chatcmpl-{}", shared.object_id());
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if request["stream"] != true {
        return axum::Json(json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        let chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {chunk}\n\n")
    };
    let mut frames = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    frames.extend(
        deltas(&answer)
            .into_iter()
            .map(|d| chunk(json!({"content": d}), None)),
    );
    frames.push(chunk(json!({}), Some("stop")));
    frames.push("data: [DONE]\n\n".to_owned());
    let delay = Duration::from_millis(shared.lock().default_behaviour.frame_delay_ms);
    let body = futures_util::stream::unfold(
        (frames.into_iter(), true),
        move |(mut frames, first)| async move {
            let frame = frames.next()?;
            if !first && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some((Ok::<_, std::io::Error>(Bytes::from(frame)), (frames, false)))
        },
    );
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| refuse("the fake failed to build a stream"))
}
