//! The exact bytes of the OpenAI stream the encoder produces.

use serde_json::{Value, json};

use super::*;
use crate::config::Settings;
use crate::engine::StreamFailure;
use crate::models::ModelCatalog;
use crate::upstream::SyncAnswer;

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

fn exact(input: u64, output: u64) -> TokenUsage {
    TokenUsage {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: input + output,
        estimated: false,
        ..TokenUsage::default()
    }
}

#[test]
fn role_then_deltas_then_finish_then_usage_then_done() {
    let plan = plan(true);
    let mut enc = ChunkEncoder::new(&plan);
    let mut out = enc.start().to_vec();
    for event in [
        StreamEvent::Reasoning("think".into()),
        StreamEvent::Text("Hel".into()),
        StreamEvent::Text("lo".into()),
        StreamEvent::Done {
            usage: exact(5, 2),
            finish: Finish::Stop,
        },
    ] {
        out.extend_from_slice(&enc.event(&event));
    }
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
fn no_usage_field_unless_asked() {
    let plan = plan(false);
    let mut enc = ChunkEncoder::new(&plan);
    let ev = events(&enc.event(&StreamEvent::Text("Whole".into())));
    assert_eq!(ev[0]["choices"][0]["delta"], json!({"content": "Whole"}));
    assert!(ev[0].get("usage").is_none());
    let end = events(&enc.event(&StreamEvent::Done {
        usage: exact(1, 1),
        finish: Finish::Stop,
    }));
    assert_eq!(end.len(), 2);
    assert_eq!(end[1], "[DONE]");
}

#[test]
fn a_broken_stream_ends_with_an_error_event_and_no_done() {
    let mut enc = ChunkEncoder::new(&plan(true));
    let ev = events(&enc.event(&StreamEvent::Failed(StreamFailure {
        message: "cut".into(),
        code: "upstream_stream_error",
    })));
    assert_eq!(
        ev,
        [
            json!({"error": {"message": "cut", "type": "server_error", "param": null, "code": "upstream_stream_error"}})
        ]
    );
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
        Completion {
            answer: SyncAnswer {
                answer: "A".into(),
                reasoning: "R".into(),
                metrics: None,
            },
            calls: vec![],
            usage: exact(3, 4),
            stop: None,
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
    assert_eq!(v["usage"]["total_tokens"], 7);
}
