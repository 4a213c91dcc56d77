//! The OpenAI Responses dialect, black box: responses whole and streamed, stored and
//! continued with `previous_response_id`, retrieved and deleted by their token only, function
//! and custom tool round trips, structured output, and what is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

const MODEL: &str = "gpt-5.6-luna";

async fn call(
    h: &Harness,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = h.http.request(method, h.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn create(h: &Harness, body: &Value) -> (u16, Value) {
    call(h, "POST", "/v1/responses", TOKEN, Some(body)).await
}

/// A streamed response: status and its events, numbered in order.
async fn stream(h: &Harness, body: &Value) -> (u16, Vec<(String, Value)>) {
    let (status, events) = named_stream(h, "/v1/responses", body).await;
    if status == 200 {
        for (i, (_, data)) in events.iter().enumerate() {
            assert_eq!(data["sequence_number"], i as u64, "numbered in order");
        }
    }
    (status, events)
}

fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .map(|p| p["text"].as_str().unwrap())
        .collect()
}

fn items<'a>(response: &'a Value, kind: &str) -> Vec<&'a Value> {
    response["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == kind)
        .collect()
}

fn last_query(h: &Harness) -> String {
    h.fake.requests_to("/query").last().unwrap().body["query"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_response_is_stored_continued_retrieved_and_deleted() {
    let h = Harness::with_keys(&["k"]).await;
    let (status, first) = create(
        &h,
        &json!({"model": MODEL, "instructions": "Be terse.", "input": "My name is Ada",
            "metadata": {"run": "1"}, "prompt_cache_key": "k", "include": ["reasoning.encrypted_content"]}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"));
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["model"], MODEL);
    assert_eq!(first["instructions"], "Be terse.");
    assert_eq!(first["metadata"], json!({"run": "1"}));
    assert_eq!(output_text(&first), "Echo: My name is Ada");
    assert!(first["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        last_query(&h),
        "[SYSTEM]\nBe terse.\n\n[USER]\nMy name is Ada"
    );

    // Continued: the history goes upstream; the first instructions do not carry over.
    let (status, second) = create(
        &h,
        &json!({"model": MODEL, "input": "What is my name?", "previous_response_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["previous_response_id"], id);
    assert_eq!(
        last_query(&h),
        "[USER]\nMy name is Ada\n\n[ASSISTANT]\nEcho: My name is Ada\n\n[USER]\nWhat is my name?"
    );

    let (status, got) = call(&h, "GET", &format!("/v1/responses/{id}"), TOKEN, None).await;
    assert_eq!(status, 200);
    assert_eq!(got, first, "retrieved as it was answered");
    // Another token sees nothing of it.
    let (_, other) = h
        .admin("POST", "/api/tokens", Some(json!({"name": "other"})))
        .await;
    let other = other["secret"].as_str().unwrap().to_owned();
    let (status, _) = call(&h, "GET", &format!("/v1/responses/{id}"), &other, None).await;
    assert_eq!(status, 404);
    let (status, refused) = call(
        &h,
        "POST",
        "/v1/responses",
        &other,
        Some(&json!({"model": MODEL, "input": "x", "previous_response_id": id})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(refused["error"]["param"], "previous_response_id");
    let (status, _) = call(&h, "DELETE", &format!("/v1/responses/{id}"), &other, None).await;
    assert_eq!(status, 404);

    let (status, deleted) = call(&h, "DELETE", &format!("/v1/responses/{id}"), TOKEN, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (status, _) = call(&h, "GET", &format!("/v1/responses/{id}"), TOKEN, None).await;
    assert_eq!(status, 404);

    // `store: false` keeps nothing.
    let (_, unstored) = create(&h, &json!({"model": MODEL, "input": "x", "store": false})).await;
    assert_eq!(unstored["store"], false);
    let path = format!("/v1/responses/{}", unstored["id"].as_str().unwrap());
    assert_eq!(call(&h, "GET", &path, TOKEN, None).await.0, 404);
}

#[tokio::test]
async fn deleting_a_token_deletes_its_responses() {
    let h = Harness::with_keys(&["k"]).await;
    let (_, token) = h
        .admin("POST", "/api/tokens", Some(json!({"name": "temp"})))
        .await;
    let secret = token["secret"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &h,
        "POST",
        "/v1/responses",
        &secret,
        Some(&json!({"model": MODEL, "input": "remember me"})),
    )
    .await;
    assert_eq!(status, 200);
    let count = || {
        let conn = rusqlite::Connection::open(h.database()).unwrap();
        conn.query_row("SELECT COUNT(*) FROM stored_responses", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap()
    };
    assert_eq!(count(), 1);
    let id = token["id"].as_i64().unwrap();
    let (status, _) = h.admin("DELETE", &format!("/api/tokens/{id}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(count(), 0);
}

#[tokio::test]
async fn a_stream_has_the_full_event_sequence_and_is_stored_when_it_completes() {
    let h = Harness::with_keys(&["k"]).await;
    let (status, events) = stream(&h, &json!({"model": MODEL, "input": "Stream this"})).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        &names[..4],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added"
        ]
    );
    assert_eq!(
        &names[names.len() - 4..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, d)| d["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Echo: Stream this");
    let completed = &events.last().unwrap().1["response"];
    assert_eq!(output_text(completed), text);
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    // Stored before the client heard it was complete: retrievable at once.
    let id = completed["id"].as_str().unwrap();
    let (status, got) = call(&h, "GET", &format!("/v1/responses/{id}"), TOKEN, None).await;
    assert_eq!(status, 200);
    assert_eq!(&got, completed);
}

fn tools() -> Value {
    json!([
        {"type": "function", "name": "get_weather", "description": "The weather now",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        {"type": "custom", "name": "exec", "description": "Run JavaScript",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /[\\s\\S]+/"}}
    ])
}

#[tokio::test]
async fn function_and_custom_tool_round_trips_work_whole_and_streamed() {
    let h = Harness::with_keys(&["k"]).await;
    for streamed in [false, true] {
        let ask = json!({"model": MODEL, "tools": tools(),
            "input": "Use get_weather, then exec to run `text(6 * 7)`"});
        let first = if streamed {
            let (status, events) = stream(&h, &ask).await;
            assert_eq!(status, 200);
            let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
            assert!(names.contains(&"response.function_call_arguments.done"));
            assert!(names.contains(&"response.custom_tool_call_input.delta"));
            events.last().unwrap().1["response"].clone()
        } else {
            let (status, body) = create(&h, &ask).await;
            assert_eq!(status, 200, "{body}");
            body
        };
        let function = items(&first, "function_call");
        let custom = items(&first, "custom_tool_call");
        assert_eq!(function.len(), 1, "{first}");
        assert_eq!(function[0]["name"], "get_weather");
        assert_eq!(function[0]["arguments"], "{\"city\":\"Paris\"}");
        assert!(
            function[0]["call_id"]
                .as_str()
                .unwrap()
                .starts_with("call_")
        );
        assert_eq!(custom.len(), 1, "{first}");
        assert_eq!(custom[0]["input"], "text(6 * 7)");
        // The client runs both and continues, with the items sent back.
        let mut input = vec![json!({"role": "user", "content": ask["input"]})];
        input.extend(first["output"].as_array().unwrap().iter().cloned());
        input.push(json!({"type": "function_call_output", "call_id": function[0]["call_id"], "output": "18°C"}));
        input.push(json!({"type": "custom_tool_call_output", "call_id": custom[0]["call_id"], "output": "42"}));
        let (status, second) = create(
            &h,
            &json!({"model": MODEL, "tools": tools(), "input": input, "store": false}),
        )
        .await;
        assert_eq!(status, 200, "{second}");
        assert_eq!(
            output_text(&second),
            "Echo: get_weather returned: 18°C; exec returned: 42"
        );
        let query = last_query(&h);
        assert!(
            query.contains("\"name\":\"exec\"") || query.contains("\"name\": \"exec\""),
            "{query}"
        );
        assert!(
            query.contains("text(6 * 7)"),
            "the custom call's input is in the history"
        );
    }
}

#[tokio::test]
async fn structured_output_follows_text_format() {
    let h = Harness::with_keys(&["k"]).await;
    let (status, body) = create(
        &h,
        &json!({"model": MODEL, "input": "Give me a city",
            "text": {"format": {"type": "json_schema", "name": "city", "strict": true, "schema": {
                "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                "additionalProperties": false}}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&output_text(&body)).unwrap();
    assert_eq!(answer, json!({"city": "Paris"}));
    assert_eq!(body["text"]["format"]["name"], "city");
}

#[tokio::test]
async fn what_the_upstream_cannot_do_is_refused_by_name() {
    let h = Harness::with_keys(&["k"]).await;
    for (body, param) in [
        (
            json!({"model": MODEL, "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0].type",
        ),
        (
            json!({"model": MODEL, "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file_1"}]}]}),
            "input[0].content[0]",
        ),
        (
            json!({"model": MODEL, "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file_1"}]}]}),
            "input[0].content[0].file_id",
        ),
        (
            json!({"model": MODEL, "input": "x", "previous_response_id": "resp_nope"}),
            "previous_response_id",
        ),
        (json!({"model": MODEL}), "input"),
        (json!({"model": "no-such-model", "input": "x"}), "model"),
        (
            json!({"model": MODEL, "input": "x", "reasoning": {"effort": "extreme"}}),
            "reasoning.effort",
        ),
    ] {
        let (status, error) = create(&h, &body).await;
        assert!(status == 400 || status == 404, "{status} {error}");
        assert_eq!(error["error"]["param"], param, "{error}");
    }
    assert!(
        h.fake.requests_to("/query").is_empty(),
        "nothing went upstream"
    );
}
