//! Structured output through the proxy, black box: `response_format` goes upstream as
//! instructions, the answer's JSON comes back alone (fence and prose stripped), whole or
//! streamed; an answer that does not fit gets one corrective follow-up, and one that still
//! does not comes back as it is, with the request log saying so. Strict tools' arguments are
//! checked the same way.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::Behaviour;
use serde_json::{Value, json};

fn person_format() -> Value {
    json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"], "additionalProperties": false
    }}})
}

fn ask(format: Value) -> Value {
    let mut body = user("Describe a person.");
    body["response_format"] = format;
    body
}

#[tokio::test]
async fn the_answer_is_the_json_alone_whole_or_streamed() {
    let h = Harness::with_keys(&["k"]).await;
    let (status, body) = h.chat(ask(person_format())).await;
    assert_eq!(status, 200, "{body}");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        content, "{\"age\":3,\"name\":\"example\"}",
        "the fence and prose stripped"
    );
    let query = h.fake.requests_to("/query")[0].body["query"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(query.starts_with("[SYSTEM]\n# Answer format\n"), "{query}");
    assert!(query.contains("<schema>\n{\"additionalProperties\":false"));

    let (_, events, raw) = h.stream(ask(person_format())).await;
    assert_eq!(streamed_content(&events), content, "{raw}");
    let (_, body) = h.chat(ask(json!({"type": "json_object"}))).await;
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(content).unwrap(),
        json!({"echo": "Describe a person."})
    );
    let (_, body) = h.chat(ask(json!({"type": "text"}))).await;
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: Describe a person."
    );
    assert_eq!(
        h.fake.requests_to("/query").len(),
        4,
        "no follow-up was needed"
    );
}

#[tokio::test]
async fn an_answer_that_does_not_fit_gets_one_follow_up_then_comes_back_as_it_is() {
    let h = Harness::with_keys(&["k"]).await;
    h.fake.set_behaviour(
        "k",
        Behaviour {
            answer: Some("Sure: {\"name\": \"Ann\"}".into()),
            delta_chars: Some(3),
            ..Behaviour::default()
        },
    );
    for stream in [false, true] {
        h.fake.clear_requests();
        let content = if stream {
            let (_, events, _) = h.stream(ask(person_format())).await;
            streamed_content(&events)
        } else {
            let (_, body) = h.chat(ask(person_format())).await;
            body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(content, "Sure: {\"name\": \"Ann\"}", "as it came back");
        let queries = h.fake.requests_to("/query");
        assert_eq!(queries.len(), 2, "one follow-up");
        let follow_up = queries[1].body["query"].as_str().unwrap();
        assert!(follow_up.contains("\"age\""), "{follow_up}");
        assert!(follow_up.contains("Answer again with only the JSON"));
    }
    let rows = h.usage_rows(2).await;
    for row in rows {
        assert!(row.corrected);
        assert_eq!(row.response_format.as_deref(), Some("json_schema"));
        assert!(
            row.notes
                .as_deref()
                .is_some_and(|n| n.contains("response_format not met")),
            "{row:?}"
        );
    }
    let (status, body) = h
        .chat(ask(
            json!({"type": "json_schema", "json_schema": {"schema": {"type": "bogus"}}}),
        ))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "response_format.json_schema.schema");
}

#[tokio::test]
async fn strict_tool_arguments_that_do_not_validate_get_a_follow_up() {
    let h = Harness::with_keys(&["k"]).await;
    h.fake.set_behaviour(
        "k",
        Behaviour {
            answer: Some(
                "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"town\": \"Oslo\"}}</tool_call>"
                    .into(),
            ),
            ..Behaviour::default()
        },
    );
    let mut body = user("Weather?");
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "strict": true,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}}}]);
    let (_, answer) = h.chat(body).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let queries = h.fake.requests_to("/query");
    assert_eq!(queries.len(), 2, "one follow-up");
    assert!(
        queries[1].body["query"]
            .as_str()
            .unwrap()
            .contains("The arguments of `get_weather` do not follow its schema")
    );
}

#[tokio::test]
async fn a_held_answer_keeps_the_stream_alive() {
    let h = Harness::build(
        fake_ondemand::FakeOptions::default(),
        vec![key_account("k")],
        |s| s.stream_keepalive = std::time::Duration::from_millis(100),
    )
    .await;
    h.fake.set_behaviour(
        "k",
        Behaviour {
            answer: Some("{\"name\": \"Ann\", \"age\": 3, \"note\": \"a long answer\"}".into()),
            delta_chars: Some(5),
            frame_delay_ms: 60,
            ..Behaviour::default()
        },
    );
    let (status, events, raw) = h.stream(ask(person_format())).await;
    assert_eq!(status, 200);
    let first_content = raw.find("\"content\":\"{").unwrap();
    let alive = raw[..first_content].matches(": keep-alive").count();
    assert!(
        alive >= 3,
        "{alive} keep-alives while the answer was held: {raw}"
    );
    assert!(streamed_content(&events).starts_with("{\"name\""));
}
