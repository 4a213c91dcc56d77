//! Chat completions end to end: what the client gets and what the fake upstream received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::{Behaviour, FakeOptions};
use serde_json::{Value, json};

#[tokio::test]
async fn non_stream_answer_usage_and_upstream_request() {
    let h = Harness::with_keys(&["key-a"]).await;
    let (status, body) = h
        .chat(json!({
            "model": "gpt-4o", "temperature": 0.2, "top_p": 0.8, "presence_penalty": 0.1,
            "frequency_penalty": 0.4, "stop": "END", "user": "user-42", "reasoning_effort": "medium",
            "max_tokens": 99,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Tell me a joke"}]
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: Tell me a joke"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    let transcript =
        "[SYSTEM]\nBe brief.\n\n[USER]\nHi\n\n[ASSISTANT]\nHello!\n\n[USER]\nTell me a joke";
    // Usage is the fake's deterministic metrics: ceil(chars / 4).
    let prompt = transcript.chars().count().div_ceil(4) as u64;
    let completion = "Echo: Tell me a joke".len().div_ceil(4) as u64;
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
    );

    let sessions = h.fake.requests_to("/chat/v1/sessions");
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0].body,
        json!({"externalUserId": "user-42", "pluginIds": []})
    );
    let queries = h.fake.requests_to("/query");
    assert_eq!(queries.len(), 1);
    let q = &queries[0];
    assert_eq!(q.header("apikey"), Some("key-a"));
    assert!(
        q.header("user-agent").unwrap().starts_with("Mozilla/5.0"),
        "browser-like UA"
    );
    assert_eq!(q.header("accept"), Some("application/json"));
    assert_eq!(q.header("content-type"), Some("application/json"));
    assert!(
        q.header("authorization").is_none(),
        "the client token never goes upstream"
    );
    assert_eq!(
        q.body,
        json!({
            "query": transcript, "endpointId": "predefined-gpt-5.6-terra", "pluginIds": [],
            "responseMode": "sync", "fulfillmentOnly": true, "reasoningEffort": "medium",
            "modelConfigs": {"temperature": 0.2, "topP": 0.8, "presencePenalty": 0.1,
                             "frequencyPenalty": 0.4, "stopSequences": ["END"]}
        })
    );
    let session_id = q.path.split('/').nth(4).unwrap();
    let created = h.fake.requests_to("/sessions");
    assert_eq!(created.len(), 1);
    assert_eq!(
        h.deleted_sessions(1).await,
        [session_id],
        "the query went to the session just created, which is then deleted"
    );
    assert!(!h.fake.has_session(session_id));
}

#[tokio::test]
async fn stream_chunks_in_openai_order_with_usage() {
    let h = Harness::with_keys(&["key-a"]).await;
    let mut body = user("Stream me, please");
    body["stream_options"] = json!({"include_usage": true});
    let (status, events, raw) = h.stream(body).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(
        events[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(streamed_content(&events), "Echo: Stream me, please");
    let n = events.len();
    assert_eq!(events[n - 1], "[DONE]");
    assert_eq!(events[n - 2]["choices"], json!([]));
    assert_eq!(
        events[n - 2]["usage"]["completion_tokens"],
        "Echo: Stream me, please".len().div_ceil(4) as u64
    );
    assert_eq!(events[n - 3]["choices"][0]["finish_reason"], "stop");
    for e in &events[..n - 2] {
        assert_eq!(
            e["usage"],
            Value::Null,
            "usage is null until the last chunk when include_usage is set"
        );
        assert_eq!(e["model"], "gpt-4o");
        assert_eq!(e["object"], "chat.completion.chunk");
    }
    let q = &h.fake.requests_to("/query")[0];
    assert_eq!(q.body["responseMode"], "stream");
    assert_eq!(q.header("accept"), Some("text/event-stream"));
    assert_eq!(
        q.body["query"], "Stream me, please",
        "a lone user message goes verbatim"
    );
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage_field() {
    let h = Harness::with_keys(&["key-a"]).await;
    let (_, events, _) = h.stream(user("x")).await;
    assert!(
        events
            .iter()
            .filter(|e| e.is_object())
            .all(|e| e.get("usage").is_none())
    );
}

#[tokio::test]
async fn byte_split_stream_with_unicode_thinking_and_unknown_frames() {
    let h = Harness::with_keys(&["key-a"]).await;
    h.fake.set_behaviour(
        "key-a",
        Behaviour {
            split_writes: Some(1),
            thinking: true,
            unknown_events: true,
            ..Behaviour::default()
        },
    );
    let text = "日食 ’s 😀 café";
    let (status, events, raw) = h.stream(user(text)).await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(streamed_content(&events), format!("Echo: {text}"));
    let reasoning: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert!(
        reasoning.starts_with("Thinking about part 0."),
        "{reasoning}"
    );
    assert_eq!(events.last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn non_stream_reasoning_content() {
    let h = Harness::build(
        FakeOptions {
            client_sync_as_sse: true,
            ..FakeOptions::default()
        },
        vec![password_account("r@x.io", "pw")],
        |_| {},
    )
    .await;
    h.fake.set_behaviour(
        "r@x.io",
        Behaviour {
            thinking: true,
            ..Behaviour::default()
        },
    );
    let (status, body) = h.chat(user("why?")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: why?");
    assert!(
        body["choices"][0]["message"]["reasoning_content"]
            .as_str()
            .unwrap()
            .contains("Thinking about")
    );
}

#[tokio::test]
async fn usage_is_estimated_when_the_upstream_sends_no_metrics() {
    let h = Harness::with_keys(&["key-a"]).await;
    h.fake.set_behaviour(
        "key-a",
        Behaviour {
            no_metrics: true,
            ..Behaviour::default()
        },
    );
    let long = "word ".repeat(200);
    let (status, body) = h.chat(user(&long)).await;
    assert_eq!(status, 200);
    let prompt = body["usage"]["prompt_tokens"].as_u64().unwrap();
    // The fake's own count would be 250 (1000 chars / 4): the estimate is the tokenizer's.
    assert!((150..=260).contains(&prompt) && prompt != 250, "{prompt}");
    let mut streamed = user(&long);
    streamed["stream_options"] = json!({"include_usage": true});
    let (_, events, _) = h.stream(streamed).await;
    let usage = &events[events.len() - 2]["usage"];
    assert_eq!(usage["prompt_tokens"].as_u64().unwrap(), prompt);
}

#[tokio::test]
async fn native_endpoint_ids_pass_through_and_aliases_are_case_insensitive() {
    let h = Harness::with_keys(&["key-a"]).await;
    for (model, endpoint) in [
        ("predefined-kimi-k3", "predefined-kimi-k3"),
        (
            "byoi-6e314690-4eaf-4def-a33c-380809acf1f5",
            "byoi-6e314690-4eaf-4def-a33c-380809acf1f5",
        ),
        ("Claude-3.7-Sonnet", "predefined-claude-sonnet-5"),
        ("GPT-5.6-LUNA", "predefined-gpt-5.6-luna"),
        ("muse-spark-1.3", "predefined-muse_spark_1.3"),
    ] {
        let mut body = user("x");
        body["model"] = json!(model);
        let (status, answer) = h.chat(body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["model"], model, "the model is echoed as requested");
        assert_eq!(
            h.fake.requests_to("/query").last().unwrap().body["endpointId"],
            endpoint
        );
    }
}

#[tokio::test]
async fn models_list_and_lookup() {
    let h = Harness::with_keys(&["key-a"]).await;
    let list: Value = h
        .http
        .get(h.url("/v1/models"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    let newer = ["claude-opus-5", "gpt-5.6-sol"];
    for original in ondemand_core::models::ORIGINAL_PROXY_ALIASES
        .iter()
        .chain(&newer)
    {
        assert!(ids.contains(original), "{original} missing");
    }
    assert_eq!(list["data"][0]["object"], "model");
    let one = h
        .http
        .get(h.url("/v1/models/gpt-4o"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let missing = h
        .http
        .get(h.url("/v1/models/gpt-9"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn every_request_gets_a_fresh_session_in_stateless_mode() {
    let h = Harness::with_keys(&["key-a"]).await;
    for _ in 0..3 {
        assert_eq!(h.chat(user("again")).await.0, 200);
    }
    let paths: std::collections::HashSet<String> = h
        .fake
        .requests_to("/query")
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(paths.len(), 3);
}

#[tokio::test]
async fn email_password_accounts_sign_in_and_use_the_client_routes() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![password_account("me@x.io", "pw")],
        |_| {},
    )
    .await;
    let (status, body) = h.chat(user("hello")).await;
    assert_eq!(status, 200, "{body}");
    let requests = h.fake.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths[0], "/v1/auth/user/signin");
    assert!(
        requests[0]
            .header("authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(
        requests[0].header("referer"),
        Some("https://app.on-demand.io/")
    );
    assert_eq!(paths[1], "/chat/v1/client/sessions");
    assert!(
        requests[1]
            .header("authorization")
            .unwrap()
            .starts_with("Bearer jwt.")
    );
    assert!(
        requests[1].header("x-company-id").is_some() && requests[1].header("x-user-id").is_some()
    );
    assert!(paths[2].starts_with("/chat/v1/client/sessions/") && paths[2].ends_with("/query"));
    assert!(requests[2].header("apikey").is_none());
    // The second request reuses the sign-in.
    assert_eq!(h.chat(user("again")).await.0, 200);
    assert_eq!(h.fake.requests_to("/signin").len(), 1);
}
