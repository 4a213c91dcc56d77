//! The exact bytes of the OpenAI stream the encoder produces.

use serde_json::{Value, json};

use super::*;
use crate::config::Settings;
use crate::models::ModelCatalog;
use crate::usage::Metrics;

fn plan(include_usage: bool) -> ChatPlan {
    let request = serde_json::from_value(json!({
        "model": "gpt-4o", "stream": true, "stream_options": {"include_usage": include_usage},
        "messages": [{"role": "user", "content": "hello"}]
    }))
    .unwrap();
    crate::chat::plan(
        request,
        &ModelCatalog::builtin(),
        &crate::endpoints::EndpointCatalog::default(),
        &Settings::default(),
        "client",
    )
    .unwrap()
}

fn events(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let data = e.strip_prefix("data: ").unwrap();
            if data == "[DONE]" {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(data).unwrap()
            }
        })
        .collect()
}

#[test]
fn role_then_deltas_then_finish_then_usage_then_done() {
    let plan = plan(true);
    let mut enc = ChunkEncoder::new(&plan);
    let mut out = enc.start().to_vec();
    for event in [
        UpstreamEvent::Reasoning("think".into()),
        UpstreamEvent::Content("Hel".into()),
        UpstreamEvent::Other,
        UpstreamEvent::Content("lo".into()),
        UpstreamEvent::CompletedAnswer("Hello".into()),
        UpstreamEvent::Metrics(Metrics {
            input_tokens: 5,
            output_tokens: 2,
            total_tokens: 7,
        }),
    ] {
        if let Some(bytes) = enc.event(event) {
            out.extend_from_slice(&bytes);
        }
    }
    out.extend_from_slice(&enc.finish(&plan.query));
    let ev = events(&out);
    assert_eq!(ev.len(), 7, "{ev:#?}");
    assert_eq!(
        ev[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        ev[1]["choices"][0]["delta"],
        json!({"reasoning_content": "think"})
    );
    assert_eq!(ev[2]["choices"][0]["delta"], json!({"content": "Hel"}));
    assert_eq!(ev[3]["choices"][0]["delta"], json!({"content": "lo"}));
    assert_eq!(ev[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(ev[4]["usage"], Value::Null);
    assert_eq!(ev[5]["choices"], json!([]));
    assert_eq!(
        ev[5]["usage"],
        json!({"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7})
    );
    assert_eq!(ev[6], "[DONE]");
    for chunk in &ev[..6] {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-4o");
        assert_eq!(chunk["id"], ev[0]["id"]);
    }
}

#[test]
fn no_usage_field_unless_asked_and_completed_answer_fills_an_empty_stream() {
    let plan = plan(false);
    let mut enc = ChunkEncoder::new(&plan);
    let fill = enc
        .event(UpstreamEvent::CompletedAnswer("Whole".into()))
        .unwrap();
    let ev = events(&fill);
    assert_eq!(ev[0]["choices"][0]["delta"], json!({"content": "Whole"}));
    assert!(ev[0].get("usage").is_none());
    let end = events(&enc.finish(&plan.query));
    assert_eq!(end.len(), 2);
    assert_eq!(end[1], "[DONE]");
    // Without metrics, usage is estimated.
    assert!(enc.usage(&plan.query).estimated);
}

#[test]
fn failure_sends_an_error_event_and_no_done() {
    let bytes = error_event(ErrorObject {
        message: "broke".into(),
        kind: "server_error",
        param: None,
        code: Some("x".into()),
    });
    let ev = events(&bytes);
    assert_eq!(
        ev,
        [
            json!({"error": {"message": "broke", "type": "server_error", "param": null, "code": "x"}})
        ]
    );
}

#[test]
fn non_stream_completion_shape() {
    let plan = plan(false);
    let body = completion(
        &plan,
        SyncAnswer {
            answer: "A".into(),
            reasoning: "R".into(),
            metrics: None,
        },
    );
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o");
    assert_eq!(
        v["choices"][0]["message"],
        json!({"role": "assistant", "content": "A", "reasoning_content": "R", "refusal": null})
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
}
