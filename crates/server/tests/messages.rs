//! The Anthropic Messages dialect, black box: `POST /v1/messages` whole and streamed, a tool
//! round trip, thinking, `count_tokens`, and every error in Anthropic's envelope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::{Behaviour, FakeOptions};
use serde_json::{Value, json};

const MODEL: &str = "claude-sonnet-5";

fn ask(text: &str) -> Value {
    json!({"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": text}]})
}

fn weather() -> Value {
    json!({"name": "get_weather", "description": "The weather now in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "cache_control": {"type": "ephemeral"}})
}

/// A Messages request with `x-api-key`: status, `request-id`, JSON body.
async fn post(h: &Harness, path: &str, body: &Value) -> (u16, Option<String>, Value) {
    let response = h
        .http
        .post(h.url(path))
        .header("x-api-key", TOKEN)
        .header("anthropic-version", "2023-06-01")
        .header(
            "anthropic-beta",
            "claude-code-20250219,some-future-beta-2027-01-01",
        )
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let id = response
        .headers()
        .get("request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, id, response.json().await.unwrap_or(Value::Null))
}

async fn message(h: &Harness, body: &Value) -> (u16, Value) {
    let (status, _, body) = post(h, "/v1/messages", body).await;
    (status, body)
}

/// A streamed Messages request (as Claude Code sends it, `?beta=true`): status and events.
async fn stream(h: &Harness, body: &Value) -> (u16, Vec<(String, Value)>) {
    named_stream(h, "/v1/messages?beta=true", body).await
}

/// Checks the event grammar (`message_start`, then blocks each opened, filled and closed in
/// index order, then `message_delta`, `message_stop`) and rebuilds the message from it, as
/// the SDKs' stream helpers do.
fn assemble(events: &[(String, Value)]) -> Value {
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    let mut message = events[0].1["message"].clone();
    let mut open: Option<usize> = None;
    let mut partial_json = String::new();
    for (name, data) in &events[1..] {
        match name.as_str() {
            "ping" => {}
            "content_block_start" => {
                assert!(open.is_none(), "a block opens after the last closed");
                let index = data["index"].as_u64().unwrap() as usize;
                assert_eq!(index, message["content"].as_array().unwrap().len());
                message["content"]
                    .as_array_mut()
                    .unwrap()
                    .push(data["content_block"].clone());
                open = Some(index);
            }
            "content_block_delta" => {
                let index = open.expect("a delta inside an open block");
                assert_eq!(data["index"], index);
                let block = &mut message["content"][index];
                let delta = &data["delta"];
                match delta["type"].as_str().unwrap() {
                    "text_delta" => {
                        block["text"] = json!(format!(
                            "{}{}",
                            block["text"].as_str().unwrap(),
                            delta["text"].as_str().unwrap()
                        ))
                    }
                    "thinking_delta" => {
                        block["thinking"] = json!(format!(
                            "{}{}",
                            block["thinking"].as_str().unwrap(),
                            delta["thinking"].as_str().unwrap()
                        ))
                    }
                    "input_json_delta" => {
                        partial_json.push_str(delta["partial_json"].as_str().unwrap())
                    }
                    other => panic!("unexpected delta {other}"),
                }
            }
            "content_block_stop" => {
                let index = open.take().expect("a stop closes an open block");
                assert_eq!(data["index"], index);
                if !partial_json.is_empty() {
                    message["content"][index]["input"] =
                        serde_json::from_str(&std::mem::take(&mut partial_json)).unwrap();
                }
            }
            "message_delta" => {
                assert!(open.is_none(), "every block closed before message_delta");
                message["stop_reason"] = data["delta"]["stop_reason"].clone();
                message["usage"] = data["usage"].clone();
            }
            "message_stop" => {}
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(
        &names[names.len() - 2..],
        ["message_delta", "message_stop"],
        "{names:?}"
    );
    message
}

fn texts(message: &Value) -> String {
    message["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "text")
        .map(|b| b["text"].as_str().unwrap())
        .collect()
}

fn tool_uses(message: &Value) -> Vec<&Value> {
    message["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .collect()
}

fn last_query(h: &Harness) -> Value {
    h.fake.requests_to("/query").last().unwrap().body.clone()
}

#[tokio::test]
async fn a_message_is_answered_in_anthropics_shape() {
    let h = Harness::with_keys(&["k"]).await;
    let (status, id, body) = post(&h, "/v1/messages?beta=true", &ask("Hello there")).await;
    assert_eq!(status, 200, "{body}");
    assert!(id.is_some_and(|id| id.starts_with("req_")));
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Echo: Hello there"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    let usage = &body["usage"];
    assert!(usage["input_tokens"].as_u64().unwrap() > 0);
    assert!(usage["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(usage["cache_creation_input_tokens"], 0);
    assert_eq!(usage["cache_read_input_tokens"], 0);
    let row = &h.usage_rows(1).await[0];
    assert_eq!(row.model, MODEL);
    assert_eq!(row.status, 200);
}

#[tokio::test]
async fn the_request_maps_onto_the_upstream_query() {
    let h = Harness::with_keys(&["k"]).await;
    let body = json!({
        "model": MODEL, "max_tokens": 64,
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"},
                {"type": "text", "text": "Hello."}]},
            {"role": "user", "content": "What is 2+2?"},
            {"role": "system", "content": "A reminder inside messages."}
        ],
        "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop_sequences": ["END"],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "user-7"},
        "context_management": {"edits": []}, "output_config": {}, "some_future_field": {"a": 1}
    });
    let (status, answer) = message(&h, &body).await;
    assert_eq!(status, 200, "{answer}");
    let sent = last_query(&h);
    assert_eq!(
        sent["query"],
        "[SYSTEM]\nBe terse.\n\n[USER]\nHi\n\n[ASSISTANT]\nHello.\n\n[USER]\nWhat is 2+2?\n\n[SYSTEM]\nA reminder inside messages."
    );
    assert_eq!(
        sent["reasoningEffort"], "low",
        "a small budget is low effort"
    );
    assert_eq!(
        sent["modelConfigs"],
        json!({"temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]})
    );
    let session = &h.fake.requests_to("/sessions")[0];
    assert_eq!(session.body["externalUserId"], "user-7");
    let row = &h.usage_rows(1).await[0];
    assert!(row.notes.as_deref().unwrap().contains("top_k dropped"));
}

#[tokio::test]
async fn a_stream_follows_anthropics_event_grammar() {
    let h = Harness::with_keys(&["k"]).await;
    h.fake.set_behaviour(
        "k",
        Behaviour {
            thinking: true,
            ..Behaviour::default()
        },
    );
    let (status, events) = stream(&h, &ask("Think, then say hello")).await;
    assert_eq!(status, 200);
    let message = assemble(&events);
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(texts(&message), "Echo: Think, then say hello");
    let kinds: Vec<&str> = message["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"thinking"), "{kinds:?}");
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn a_tool_round_trip_works_whole_and_streamed() {
    let h = Harness::with_keys(&["k"]).await;
    for streamed in [false, true] {
        let mut body = ask("Please use get_weather for me");
        body["tools"] = json!([weather()]);
        body["tool_choice"] = json!({"type": "auto"});
        let answer = if streamed {
            let (status, events) = stream(&h, &body).await;
            assert_eq!(status, 200);
            assemble(&events)
        } else {
            let (status, answer) = message(&h, &body).await;
            assert_eq!(status, 200, "{answer}");
            answer
        };
        assert_eq!(answer["stop_reason"], "tool_use", "{answer}");
        let calls = tool_uses(&answer);
        assert_eq!(calls.len(), 1, "{answer}");
        let id = calls[0]["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("toolu_"), "{id}");
        assert_eq!(calls[0]["name"], "get_weather");
        assert_eq!(calls[0]["input"], json!({"city": "Paris"}));
        // The query offered the tool in the protocol.
        assert!(
            last_query(&h)["query"]
                .as_str()
                .unwrap()
                .contains("\"name\": \"get_weather\"")
        );
        // The client runs it and sends the result back.
        let mut next = body.clone();
        next["messages"] = json!([
            body["messages"][0],
            {"role": "assistant", "content": answer["content"]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": "18°C and sunny"}]}
            ]}
        ]);
        let (status, done) = message(&h, &next).await;
        assert_eq!(status, 200, "{done}");
        assert_eq!(done["stop_reason"], "end_turn");
        assert!(
            texts(&done).contains("get_weather returned: 18°C and sunny"),
            "{done}"
        );
        let query = last_query(&h)["query"].as_str().unwrap().to_owned();
        assert!(query.contains(&id), "the result names its call: {query}");
    }
}

#[tokio::test]
async fn tool_choice_any_and_a_named_tool_require_a_call() {
    let h = Harness::with_keys(&["k"]).await;
    for choice in [
        json!({"type": "any"}),
        json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true}),
    ] {
        let mut body = ask("What should I wear in Paris?");
        body["tools"] = json!([weather()]);
        body["tool_choice"] = choice.clone();
        let (status, answer) = message(&h, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["stop_reason"], "tool_use", "{choice}: {answer}");
        assert_eq!(tool_uses(&answer)[0]["name"], "get_weather");
    }
    // `none` keeps the tools out of the query.
    let mut body = ask("Hello");
    body["tools"] = json!([weather()]);
    body["tool_choice"] = json!({"type": "none"});
    let (status, answer) = message(&h, &body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["stop_reason"], "end_turn");
    assert_eq!(last_query(&h)["query"], "Hello");
}

#[tokio::test]
async fn errors_come_in_anthropics_envelope() {
    let h = Harness::with_keys(&["k"]).await;
    let expect = |(status, body): (u16, Value), want: u16, kind: &str, says: &str| {
        assert_eq!(status, want, "{body}");
        assert_eq!(body["type"], "error", "{body}");
        assert_eq!(body["error"]["type"], kind, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    };
    let image = json!({"model": MODEL, "max_tokens": 10, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}]});
    expect(
        message(&h, &image).await,
        400,
        "invalid_request_error",
        // Images are taken, but only PNG and JPEG, by their bytes.
        "messages[0].content[1]: The image is not an image the proxy knows; on-demand.io's image agent takes PNG and JPEG only.",
    );
    let mut search = ask("Search the web");
    search["tools"] = json!([{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]);
    expect(
        message(&h, &search).await,
        400,
        "invalid_request_error",
        "The server tool `web_search`",
    );
    let mut unknown = ask("Hi");
    unknown["model"] = json!("no-such-model");
    expect(
        message(&h, &unknown).await,
        404,
        "not_found_error",
        "no-such-model",
    );
    let mut hot = ask("Hi");
    hot["temperature"] = json!(1.5);
    expect(
        message(&h, &hot).await,
        400,
        "invalid_request_error",
        "temperature",
    );
    let mut bad_tool = ask("Hi");
    bad_tool["tools"] = json!([{"name": "has space", "input_schema": {"type": "object"}}]);
    expect(
        message(&h, &bad_tool).await,
        400,
        "invalid_request_error",
        "tools[0].name",
    );
    expect(
        message(&h, &json!({"model": MODEL, "messages": "nope"})).await,
        400,
        "invalid_request_error",
        "messages",
    );
    // A bad token, in either header.
    let response = h
        .http
        .post(h.url("/v1/messages"))
        .header("x-api-key", "sk-wrong")
        .json(&ask("Hi"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("request-id"));
    expect(
        (response.status().as_u16(), response.json().await.unwrap()),
        401,
        "authentication_error",
        "API key",
    );
    let response = h
        .http
        .post(h.url("/v1/messages/count_tokens"))
        .json(&ask("Hi"))
        .send()
        .await
        .unwrap();
    expect(
        (response.status().as_u16(), response.json().await.unwrap()),
        401,
        "authentication_error",
        "x-api-key",
    );
    // A stream that fails before it begins gets a real status, in the envelope too.
    let (status, events) = stream(&h, &unknown).await;
    assert_eq!(status, 404);
    assert_eq!(events[0].1["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn a_failure_mid_stream_is_an_error_event() {
    let h = Harness::with_keys(&["k"]).await;
    h.fake.set_behaviour(
        "k",
        Behaviour {
            error_after_deltas: Some(2),
            stream_error_code: Some("model_error".into()),
            ..Behaviour::default()
        },
    );
    let (status, events) = stream(&h, &ask("one two three four five")).await;
    assert_eq!(status, 200);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(
        !events.iter().any(|(n, _)| n == "message_stop"),
        "a broken answer never looks complete"
    );
}

#[tokio::test]
async fn tokens_are_counted_as_the_query_would_be_sent() {
    let h = Harness::with_keys(&["k"]).await;
    let count = |body: Value| {
        let h = &h;
        async move {
            let (status, _, body) = post(h, "/v1/messages/count_tokens", &body).await;
            assert_eq!(status, 200, "{body}");
            body["input_tokens"].as_u64().unwrap()
        }
    };
    let plain = count(ask("Hello there, how are you today?")).await;
    assert!(plain > 3 && plain < 20, "{plain}");
    let mut with_tools = ask("Hello there, how are you today?");
    with_tools["tools"] = json!([weather()]);
    assert!(
        count(with_tools).await > plain + 20,
        "the tools are part of the prompt"
    );
    let (status, _, body) = post(
        &h,
        "/v1/messages/count_tokens",
        &json!({"model": "no-such-model", "messages": [{"role": "user", "content": "Hi"}]}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(
        h.fake.requests_to("/query").is_empty(),
        "counting sends nothing upstream"
    );
}

#[tokio::test]
async fn a_stop_sequence_the_upstream_ignores_still_ends_the_answer() {
    // The fake plays an endpoint that does not honour `stopSequences` (§13.4).
    let h = Harness::with_keys(&["k"]).await;
    let mut body = ask("alpha beta STOP gamma delta");
    body["stop_sequences"] = json!(["NEVER", "STOP"]);
    let (status, whole) = message(&h, &body).await;
    assert_eq!(status, 200, "{whole}");
    assert_eq!(texts(&whole), "Echo: alpha beta ");
    assert_eq!(whole["stop_reason"], "stop_sequence");
    assert_eq!(whole["stop_sequence"], "STOP");
    assert_eq!(
        last_query(&h)["modelConfigs"]["stopSequences"],
        json!(["NEVER", "STOP"]),
        "still sent upstream"
    );
    let (status, events) = stream(&h, &body).await;
    assert_eq!(status, 200);
    let streamed = assemble(&events);
    assert_eq!(texts(&streamed), "Echo: alpha beta ");
    assert_eq!(streamed["stop_reason"], "stop_sequence");
    let delta = &events.iter().find(|(n, _)| n == "message_delta").unwrap().1;
    assert_eq!(delta["delta"]["stop_sequence"], "STOP");
    // Chat Completions cuts the same way; its finish reason stays `stop`.
    let (status, chat) = h
        .chat(json!({"model": MODEL, "stop": "STOP", "messages": [{"role": "user", "content": "alpha beta STOP gamma"}]}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        chat["choices"][0]["message"]["content"],
        "Echo: alpha beta "
    );
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn counting_tokens_takes_its_turn_under_the_rate_limit() {
    let h = Harness::build(FakeOptions::default(), vec![key_account("k")], |s| {
        s.rate_limit = 2
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, _, body) = post(&h, "/v1/messages/count_tokens", &ask("Count me")).await;
        statuses.push(status);
        if status == 429 {
            assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
    let (status, _, _) = post(&h, "/v1/messages", &ask("and now a message")).await;
    assert_eq!(status, 429, "counting and asking share the token's minute");
    let rows = h.usage().await;
    assert_eq!(
        rows.iter()
            .map(|r| (r.dialect.as_str(), r.status))
            .collect::<Vec<_>>(),
        [("messages", 429)],
        "counting leaves no usage row; the refused message does"
    );
}
