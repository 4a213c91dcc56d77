use serde_json::{Value, json};

use super::encode::{self, ResponseEncoder, Shell};
use super::*;
use crate::engine::{Completion, Finish, StreamEvent, StreamFailure};
use crate::relay::Encoder;
use crate::tools::ToolCall;
use crate::upstream::SyncAnswer;
use crate::usage::TokenUsage;

fn decoded(body: Value) -> Result<Decoded, PlanError> {
    decode(serde_json::from_value(body).unwrap(), Vec::new())
}

fn param(result: Result<Decoded, PlanError>) -> String {
    match result {
        Err(PlanError::Invalid { param, .. }) => param.unwrap(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn roles(d: &Decoded) -> Vec<&str> {
    d.request.messages.iter().map(|m| m.role.as_str()).collect()
}

#[test]
fn items_become_messages_calls_and_results() {
    let d = decoded(json!({"model": "m", "instructions": "Be terse.", "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
        {"role": "user", "content": "weather?"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
        {"type": "custom_tool_call", "call_id": "call_2", "name": "exec", "input": "text(1)"},
        {"type": "function_call_output", "call_id": "call_1", "output": "5°C"},
        {"type": "custom_tool_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "1"}]}
    ]}))
    .unwrap();
    assert_eq!(
        roles(&d),
        ["system", "developer", "user", "assistant", "tool", "tool"]
    );
    let m = &d.request.messages;
    assert_eq!(
        m[3].tool_calls,
        Some(json!([
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "exec", "arguments": "{\"input\":\"text(1)\"}"}}
        ]))
    );
    assert_eq!(m[5].tool_call_id.as_deref(), Some("call_2"));
    assert!(
        d.echo.custom.contains("exec"),
        "a custom call's tool is custom"
    );
    // The instructions do not carry over into the stored history.
    assert_eq!(d.history.len(), m.len() - 1);
    assert_eq!(d.echo.fields["instructions"], "Be terse.");
}

#[test]
fn tools_flatten_and_custom_tools_take_one_string() {
    let d = decoded(json!({"model": "m", "input": [
        {"type": "additional_tools", "role": "developer", "tools": [{"type": "namespace", "name": "functions", "tools": [
            {"type": "custom", "name": "exec", "description": "Run JS", "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
            {"type": "function", "name": "wait", "parameters": {"type": "object"}, "strict": false}
        ]}]},
        {"role": "user", "content": "hi"}
    ], "tools": [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}],
       "tool_choice": {"type": "custom", "name": "exec"}, "parallel_tool_calls": false}))
    .unwrap();
    let tools = d.request.tools.unwrap();
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["get_weather", "exec", "wait"]);
    assert_eq!(
        tools[1]["function"]["parameters"]["required"],
        json!(["input"])
    );
    assert!(
        tools[1]["function"]["description"]
            .as_str()
            .unwrap()
            .contains("lark grammar:\nstart: /.+/")
    );
    assert_eq!(
        d.request.tool_choice,
        Some(json!({"type": "function", "function": {"name": "exec"}}))
    );
    assert_eq!(d.request.parallel_tool_calls, Some(false));
    assert!(d.echo.custom.contains("exec") && !d.echo.custom.contains("wait"));
}

#[test]
fn allowed_tools_narrow_what_is_offered() {
    let d = decoded(json!({"model": "m", "input": "x",
        "tools": [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}],
        "tool_choice": {"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "b"}]}}))
    .unwrap();
    assert_eq!(d.request.tools.unwrap().as_array().unwrap().len(), 1);
    assert_eq!(d.request.tool_choice, Some(json!("required")));
}

#[test]
fn parameters_map_and_what_cannot_be_done_is_named() {
    let d = decoded(json!({"model": "m", "input": "x", "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true}, "verbosity": "low"},
        "max_output_tokens": 100, "safety_identifier": "u1", "user": "u0", "temperature": 0.3,
        "store": false, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k"}))
    .unwrap();
    assert_eq!(d.request.reasoning_effort.as_deref(), Some("high"));
    assert_eq!(
        d.request.response_format,
        Some(
            json!({"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}})
        )
    );
    assert_eq!(d.request.max_tokens, Some(100));
    assert_eq!(d.request.user.as_deref(), Some("u1"));
    assert_eq!(d.echo.fields["store"], false);
    let with = |extra: Value| {
        let mut body = json!({"model": "m", "input": "x"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        decoded(body)
    };
    assert_eq!(
        param(with(json!({"tools": [{"type": "web_search"}]}))),
        "tools[0].type"
    );
    assert_eq!(
        param(with(
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]})
        )),
        "input[0].content[0].file_id"
    );
    assert_eq!(
        param(with(
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]})
        )),
        "input[0]"
    );
    assert_eq!(
        param(with(
            json!({"input": [{"type": "function_call_output", "output": "x"}]})
        )),
        "input[0].call_id"
    );
    assert_eq!(param(decoded(json!({"model": "m"}))), "input");
    assert_eq!(
        param(with(json!({"text": {"format": {"type": "yaml"}}}))),
        "text.format.type"
    );
}

fn shell() -> Shell {
    let d = decoded(json!({"model": "gpt-x", "input": "x",
        "tools": [{"type": "custom", "name": "exec"}, {"type": "function", "name": "get_weather"}]}))
    .unwrap();
    Shell::new("gpt-x", d.echo)
}

fn call(name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id: "call_1".into(),
        name: name.into(),
        arguments: arguments.into(),
    }
}

fn usage() -> TokenUsage {
    TokenUsage {
        prompt_tokens: 7,
        completion_tokens: 5,
        total_tokens: 12,
        reasoning_tokens: 2,
        ..TokenUsage::default()
    }
}

#[test]
fn a_whole_response_has_reasoning_message_and_both_kinds_of_calls() {
    let done = Completion {
        answer: SyncAnswer {
            answer: "On it.".into(),
            reasoning: "Plan.".into(),
            metrics: None,
        },
        calls: vec![
            call("get_weather", "{\"city\":\"Paris\"}"),
            call("exec", "{\"input\":\"text(42)\"}"),
        ],
        usage: usage(),
        stop: None,
    };
    let r = encode::response(&shell(), &done);
    assert!(r["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(r["object"], "response");
    assert_eq!(r["status"], "completed");
    let kinds: Vec<&str> = r["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["reasoning", "message", "function_call", "custom_tool_call"]
    );
    assert_eq!(r["output"][0]["summary"][0]["text"], "Plan.");
    assert_eq!(r["output"][1]["content"][0]["text"], "On it.");
    assert_eq!(r["output"][2]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(r["output"][3]["input"], "text(42)");
    assert_eq!(r["output"][3]["call_id"], "call_1");
    assert_eq!(r["usage"]["output_tokens_details"]["reasoning_tokens"], 2);
    assert_eq!(r["usage"]["total_tokens"], 12);
    // The stored history's answer turn.
    let turn = answer_turn(r["output"].as_array().unwrap());
    assert!(matches!(&turn.content, Some(MessageContent::Text(t)) if t == "On it."));
    assert_eq!(
        turn.tool_calls.unwrap()[1]["function"]["arguments"],
        "{\"input\":\"text(42)\"}"
    );
}

/// `(event type, data)` pairs of the SSE bytes.
fn frames(bytes: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|f| f.starts_with("event: "))
        .map(|f| {
            let name = f.lines().next().unwrap().strip_prefix("event: ").unwrap();
            let data: Value =
                serde_json::from_str(f.lines().nth(1).unwrap().strip_prefix("data: ").unwrap())
                    .unwrap();
            assert_eq!(data["type"], name);
            (name.to_owned(), data)
        })
        .collect()
}

#[test]
fn the_stream_numbers_every_event_and_ends_with_the_whole_response() {
    let mut enc = ResponseEncoder::new(shell());
    let mut out = enc.keepalive().to_vec();
    out.extend_from_slice(&enc.start());
    for event in [
        StreamEvent::Reasoning("Plan.".into()),
        StreamEvent::Text("On ".into()),
        StreamEvent::Reasoning("dropped".into()),
        StreamEvent::Text("it.".into()),
        StreamEvent::ToolCall(call("exec", "{\"input\":\"text(42)\"}")),
        StreamEvent::Text("\n".into()),
        StreamEvent::ToolCall(call("get_weather", "{}")),
        StreamEvent::Done {
            usage: usage(),
            finish: Finish::ToolCalls,
        },
    ] {
        out.extend_from_slice(&enc.event(&event));
    }
    let f = frames(&out);
    let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.custom_tool_call_input.delta",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (_, data)) in f.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64);
    }
    assert_eq!(f[12].1["text"], "On it.");
    assert_eq!(f[17].1["input"], "text(42)");
    let completed = &f.last().unwrap().1["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"].as_array().unwrap().len(), 4);
    assert_eq!(completed["output"][2]["output_index"], Value::Null);
    assert_eq!(f[2].1["output_index"], 0);
    assert_eq!(f[19].1["output_index"], 3);
    assert_eq!(enc.take_completed().as_ref(), Some(completed));
}

#[test]
fn failures_end_the_stream_as_response_failed() {
    let mut enc = ResponseEncoder::new(shell());
    let f = frames(&enc.event(&StreamEvent::Failed(StreamFailure {
        message: "cut".into(),
        code: "upstream_stream_error",
    })));
    let (name, data) = f.last().unwrap();
    assert_eq!(name, "response.failed");
    assert_eq!(data["response"]["status"], "failed");
    assert_eq!(
        data["response"]["error"],
        json!({"code": "upstream_stream_error", "message": "cut"})
    );
    assert!(enc.take_completed().is_none(), "nothing to store");
    // An empty answer is still a message.
    let mut enc = ResponseEncoder::new(shell());
    let f = frames(&enc.event(&StreamEvent::Done {
        usage: usage(),
        finish: Finish::Stop,
    }));
    let completed = &f.last().unwrap().1["response"];
    assert_eq!(completed["output"][0]["content"][0]["text"], "");
}
