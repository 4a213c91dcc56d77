use serde_json::{Value, json};

use super::encode::{self, MessageEncoder};
use super::*;
use crate::engine::{Completion, Finish, StreamEvent, StreamFailure};
use crate::openai::MessageContent;
use crate::relay::Encoder;
use crate::upstream::SyncAnswer;
use crate::usage::TokenUsage;

fn decoded(body: Value) -> Result<Decoded, PlanError> {
    decode(serde_json::from_value(body).unwrap())
}

fn param(result: Result<Decoded, PlanError>) -> String {
    match result {
        Err(PlanError::Invalid { param, .. }) => param.unwrap(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn tool_results_come_first_and_calls_keep_their_ids() {
    let d = decoded(json!({"model": "m", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "5°C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
             "content": [{"type": "text", "text": "timeout"}]},
            {"type": "text", "text": "thanks", "cache_control": {"type": "ephemeral"}}]}
    ]}))
    .unwrap();
    let m = &d.request.messages;
    let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "tool", "user"]);
    assert_eq!(
        m[1].tool_calls,
        Some(json!([{"id": "toolu_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]))
    );
    assert_eq!(m[2].tool_call_id.as_deref(), Some("toolu_1"));
    assert!(matches!(&m[3].content, Some(MessageContent::Text(t)) if t == "Error: timeout"));
}

#[test]
fn tools_and_choices_translate() {
    let d = decoded(json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "a", "description": "A", "input_schema": {"type": "object"}, "defer_loading": true},
                  {"type": "custom", "name": "b", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}))
    .unwrap();
    assert_eq!(
        d.request.tools,
        Some(json!([
            {"type": "function", "function": {"name": "a", "description": "A", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}}
        ]))
    );
    assert_eq!(d.request.tool_choice, Some(json!("required")));
    assert_eq!(d.request.parallel_tool_calls, Some(false));
    // A choice with no tools is dropped, as Claude Code sends `auto` with none.
    let d = decoded(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tool_choice": {"type": "auto"}}),
    )
    .unwrap();
    assert_eq!(d.request.tool_choice, None);
}

#[test]
fn thinking_maps_to_an_effort() {
    let effort = |extra: Value| {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        decoded(body).unwrap().request.reasoning_effort
    };
    let enabled = |budget: u64| json!({"thinking": {"type": "enabled", "budget_tokens": budget}});
    assert_eq!(effort(enabled(1024)).as_deref(), Some("low"));
    assert_eq!(effort(enabled(8000)).as_deref(), Some("medium"));
    assert_eq!(effort(enabled(32000)).as_deref(), Some("high"));
    assert_eq!(effort(json!({"thinking": {"type": "adaptive"}})), None);
    assert_eq!(
        effort(json!({"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}}))
            .as_deref(),
        Some("max")
    );
    assert_eq!(effort(json!({"thinking": {"type": "disabled"}})), None);
    assert_eq!(effort(json!({})), None);
}

#[test]
fn what_the_upstream_cannot_do_is_named() {
    let user =
        |content: Value| json!({"model": "m", "messages": [{"role": "user", "content": content}]});
    assert_eq!(
        param(decoded(user(json!([{"type": "document", "source": {}}])))),
        "messages[0].content[0]"
    );
    assert_eq!(
        param(decoded(user(json!([{"type": "text"}])))),
        "messages[0].content[0].text"
    );
    assert_eq!(
        param(decoded(user(
            json!([{"type": "tool_result", "content": "x"}])
        ))),
        "messages[0].content[0].tool_use_id"
    );
    let mut body = user(json!("x"));
    body["tools"] = json!([{"type": "bash_20250124", "name": "bash"}]);
    assert_eq!(param(decoded(body)), "tools[0].type");
    let mut body = user(json!("x"));
    body["stop_sequences"] = json!(["a", "b", "c", "d", "e"]);
    assert_eq!(param(decoded(body)), "stop_sequences");
    let mut body = user(json!("x"));
    body["messages"][0]["role"] = json!("robot");
    assert_eq!(param(decoded(body)), "messages[0].role");
    assert_eq!(
        param(decoded(json!({"model": "m", "messages": []}))),
        "messages"
    );
    // The core's paths, in this dialect's names.
    let renamed = in_dialect(PlanError::Invalid {
        message: "m".into(),
        param: Some("tools[2].function.parameters".into()),
    });
    assert!(
        matches!(renamed, PlanError::Invalid { param: Some(p), .. } if p == "tools[2].input_schema")
    );
}

#[test]
fn structured_output_becomes_a_response_format() {
    let d = decoded(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}}),
    )
    .unwrap();
    assert_eq!(
        d.request.response_format,
        Some(
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}}})
        )
    );
}

fn plan() -> crate::chat::ChatPlan {
    let request =
        decoded(json!({"model": "claude-x", "messages": [{"role": "user", "content": "x"}]}))
            .unwrap()
            .request;
    crate::chat::plan(
        request,
        &crate::models::ModelCatalog::new(vec![("claude-x".into(), "predefined-x".into())]),
        &crate::endpoints::EndpointCatalog::default(),
        &crate::config::Settings::default(),
        "c",
    )
    .unwrap()
}

fn call() -> crate::tools::ToolCall {
    crate::tools::ToolCall {
        id: "call_abc".into(),
        name: "get_weather".into(),
        arguments: "{\"city\":\"Paris\"}".into(),
    }
}

fn usage() -> TokenUsage {
    TokenUsage {
        prompt_tokens: 7,
        completion_tokens: 3,
        total_tokens: 10,
        estimated: false,
        ..TokenUsage::default()
    }
}

#[test]
fn a_whole_answer_has_thinking_text_and_tool_use_blocks() {
    let done = Completion {
        answer: SyncAnswer {
            answer: "Let me check.".into(),
            reasoning: "They want weather.".into(),
            metrics: None,
        },
        calls: vec![call()],
        usage: usage(),
        stop: None,
    };
    let plan = plan();
    let body = serde_json::to_value(encode::message(&plan, &done)).unwrap();
    assert_eq!(
        body["content"],
        json!([
            {"type": "thinking", "thinking": "They want weather.", "signature": ""},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_abc", "name": "get_weather", "input": {"city": "Paris"}}
        ])
    );
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0})
    );
}

/// The SSE bytes of a sequence of encoder calls, as `(event, data)` pairs.
fn frames(bytes: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let name = f.lines().next().unwrap().strip_prefix("event: ").unwrap();
            let data = f.lines().nth(1).unwrap().strip_prefix("data: ").unwrap();
            (name.to_owned(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

#[test]
fn the_stream_opens_before_any_ping_and_blank_text_makes_no_block() {
    let mut enc = MessageEncoder::new(&plan());
    let mut out = enc.keepalive().to_vec();
    out.extend_from_slice(&enc.keepalive());
    out.extend_from_slice(&enc.start());
    for event in [
        StreamEvent::Reasoning("hm".into()),
        StreamEvent::Text("Calling.".into()),
        // Reasoning after the text has begun would split the answer: not passed on.
        StreamEvent::Reasoning("more".into()),
        StreamEvent::ToolCall(call()),
        StreamEvent::Text("\n".into()),
        StreamEvent::KeepAlive,
        StreamEvent::Done {
            usage: usage(),
            finish: Finish::ToolCalls,
        },
    ] {
        out.extend_from_slice(&enc.event(&event));
    }
    let names: Vec<String> = frames(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "ping",
            "message_delta",
            "message_stop"
        ]
    );
    let f = frames(&out);
    assert_eq!(f[3].1["content_block"]["type"], "thinking");
    assert_eq!(f[9].1["content_block"]["id"], "toolu_abc");
    assert_eq!(f[10].1["delta"]["partial_json"], "{\"city\":\"Paris\"}");
    assert_eq!(f[13].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(f[13].1["usage"]["output_tokens"], 3);
}

#[test]
fn failures_are_error_events_with_anthropics_types() {
    let mut enc = MessageEncoder::new(&plan());
    let f = frames(&enc.event(&StreamEvent::Failed(StreamFailure {
        message: "cut".into(),
        code: "upstream_stream_error",
    })));
    assert_eq!(f[0].0, "message_start");
    assert_eq!(f[1].0, "error");
    assert_eq!(
        f[1].1,
        json!({"type": "error", "error": {"type": "api_error", "message": "cut"}})
    );
    let refused = frames(&MessageEncoder::new(&plan()).refused(
        429,
        crate::openai::ErrorObject {
            message: "slow down".into(),
            kind: "requests",
            param: None,
            code: None,
        },
    ));
    assert_eq!(refused[0].1["error"]["type"], "rate_limit_error");
    for (status, kind) in [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (503, "overloaded_error"),
        (502, "api_error"),
    ] {
        assert_eq!(encode::error_type(status), kind);
    }
}
