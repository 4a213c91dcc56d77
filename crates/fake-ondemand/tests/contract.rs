//! The fake against the upstream contract (§3, §4, §6, §11), over raw HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fake_ondemand::{Behaviour, Failure, FakeOnDemand, FakeOptions, Stage};
use serde_json::{Value, json};

async fn fake() -> (FakeOnDemand, reqwest::Client) {
    let fake = FakeOnDemand::start(FakeOptions::default()).await.unwrap();
    fake.add_key("key");
    (fake, reqwest::Client::new())
}

async fn post(http: &reqwest::Client, url: String, key: &str, body: Value) -> (u16, String) {
    let response = http
        .post(url)
        .header("apikey", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn session(fake: &FakeOnDemand, http: &reqwest::Client) -> String {
    let (status, body) = post(
        http,
        format!("{}/chat/v1/sessions", fake.url()),
        "key",
        json!({"externalUserId": "u", "pluginIds": []}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["message"], "Chat session created successfully");
    let id = v["data"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(v["data"]["externalUserId"], "u");
    id
}

fn query(mode: &str, text: &str) -> Value {
    json!({"query": text, "endpointId": "predefined-gpt-5.6-luna", "pluginIds": [], "responseMode": mode})
}

#[tokio::test]
async fn auth_and_session_errors_use_the_envelope() {
    let (fake, http) = fake().await;
    let (status, body) = post(
        &http,
        format!("{}/chat/v1/sessions", fake.url()),
        "nope",
        json!({"externalUserId": "u"}),
    )
    .await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (
            401,
            json!({"message": "Invalid API Key", "errorCode": "unauthenticated"})
        )
    );
    let (status, body) = post(
        &http,
        format!("{}/chat/v1/sessions", fake.url()),
        "key",
        json!({"pluginIds": []}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_request"));
    let (status, body) = post(
        &http,
        format!(
            "{}/chat/v1/sessions/000000000000000000000000/query",
            fake.url()
        ),
        "key",
        query("sync", "x"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("not_found"));
    // agentIds is accepted in place of pluginIds.
    let (status, _) = post(
        &http,
        format!("{}/chat/v1/sessions", fake.url()),
        "key",
        json!({"externalUserId": "u", "agentIds": []}),
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn query_validation() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    for bad in [
        json!({"endpointId": "predefined-gpt-5.6-luna", "responseMode": "sync"}),
        json!({"query": "x", "responseMode": "sync"}),
        json!({"query": "x", "endpointId": "predefined-gpt-5.6-luna", "responseMode": "fast"}),
        json!({"query": "x", "endpointId": "gpt-4o", "responseMode": "sync"}),
    ] {
        let (status, body) = post(&http, url.clone(), "key", bad.clone()).await;
        assert_eq!(status, 400, "{bad} -> {body}");
    }
    let mut effort = query("sync", "x");
    effort["reasoningEffort"] = json!("high");
    let (status, body) = post(&http, url.clone(), "key", effort).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (
            400,
            json!({"message": "reasoningEffort must be one of low, medium, max", "errorCode": "invalid_request"})
        )
    );
    let (status, body) = post(
        &http,
        url.clone(),
        "key",
        query("sync", "FAKE_CONTEXT_LENGTH_EXCEEDED"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("context_length_exceeded"));
    let (status, body) = post(&http, url, "key", query("webhook", "x")).await;
    assert_eq!(status, 200);
    assert!(body.contains("\"status\":\"processing\""));
}

#[tokio::test]
async fn sync_answer_with_and_without_metrics() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    let (status, body) = post(
        &http,
        url.clone(),
        "key",
        query("sync", "line one\nlast line"),
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"]["answer"], "Echo: last line");
    assert_eq!(v["data"]["status"], "completed");
    assert_eq!(v["data"]["sessionId"], id.as_str());
    assert_eq!(v["data"]["metrics"]["inputTokens"], 5);
    assert_eq!(v["data"]["metrics"]["outputTokens"], 4);
    assert_eq!(v["data"]["metrics"]["totalTokens"], 9);
    fake.set_behaviour(
        "key",
        Behaviour {
            no_metrics: true,
            ..Behaviour::default()
        },
    );
    let (_, body) = post(&http, url, "key", query("sync", "x")).await;
    assert!(
        serde_json::from_str::<Value>(&body).unwrap()["data"]
            .get("metrics")
            .is_none()
    );
}

#[tokio::test]
async fn stream_bytes_follow_the_recording() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    let response = http
        .post(url)
        .header("apikey", "key")
        .json(&query("stream", "Caf\u{e9} time"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert!(
        frames[0].starts_with("event:message\ndata:{\"sessionId\":\""),
        "{}",
        frames[0]
    );
    assert!(frames[0].contains("\"statusType\":\"fulfilling\""));
    assert!(frames[1].starts_with("event:heartbeat\ndata:"));
    // fulfillment frames: Python style, ASCII escapes, "eventIndex":N without a space.
    let fulfillment: Vec<&&str> = frames
        .iter()
        .filter(|f| f.contains("\"eventType\": \"fulfillment\""))
        .collect();
    assert_eq!(fulfillment.len(), 3, "{text}");
    assert!(
        fulfillment[1].contains("\"answer\": \" Caf\\u00e9\""),
        "{}",
        fulfillment[1]
    );
    assert!(fulfillment[0].contains(", \"eventIndex\":2, "));
    let completed = frames
        .iter()
        .find(|f| f.contains("fulfillment_completed"))
        .unwrap();
    assert!(
        completed.contains("\"answer\":\"Echo: Café time\""),
        "the full answer, raw UTF-8: {completed}"
    );
    assert!(
        frames
            .iter()
            .any(|f| f.contains("\"eventType\":\"metricsLog\"")
                && f.contains("\"publicMetrics\":{\"inputTokens\":3,"))
    );
    assert_eq!(
        frames[frames.len() - 2].split('\n').next(),
        Some("event:heartbeat"),
        "a heartbeat after metricsLog"
    );
    assert_eq!(*frames.last().unwrap(), "event:message\ndata:[DONE]");
}

#[tokio::test]
async fn scripted_failures_fire_n_times_at_their_stage() {
    let (fake, http) = fake().await;
    fake.set_behaviour(
        "key",
        Behaviour {
            failure: Some(
                Failure::new(429, "rate_limit_exceeded")
                    .times(2)
                    .at(Stage::Query),
            ),
            ..Behaviour::default()
        },
    );
    let id = session(&fake, &http).await;
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    for _ in 0..2 {
        let (status, body) = post(&http, url.clone(), "key", query("sync", "x")).await;
        assert_eq!(
            (
                status,
                serde_json::from_str::<Value>(&body).unwrap()["errorCode"].clone()
            ),
            (429, json!("rate_limit_exceeded"))
        );
    }
    assert_eq!(post(&http, url, "key", query("sync", "x")).await.0, 200);
    let recorded = fake.requests_to("/query");
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].credential.as_deref(), Some("key"));
    assert_eq!(recorded[0].body["responseMode"], "sync");
}

#[tokio::test]
async fn error_frame_and_cut_streams() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    fake.set_behaviour(
        "key",
        Behaviour {
            error_after_deltas: Some(1),
            stream_error_code: Some("model_error".into()),
            ..Behaviour::default()
        },
    );
    let text = http
        .post(&url)
        .header("apikey", "key")
        .json(&query("stream", "a b c"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.ends_with("event:message\ndata:[ERROR]:{\"message\":\"Model failed to generate a response\",\"errorCode\":\"model_error\"}\n\n"), "{text}");
    assert!(!text.contains("[DONE]"));
    fake.set_behaviour(
        "key",
        Behaviour {
            cut_after_frames: Some(3),
            cut_abruptly: true,
            ..Behaviour::default()
        },
    );
    let result = http
        .post(&url)
        .header("apikey", "key")
        .json(&query("stream", "a b c"))
        .send()
        .await
        .unwrap()
        .text()
        .await;
    assert!(result.is_err(), "an abrupt cut breaks the body");
}

#[tokio::test]
async fn sign_in_refresh_and_client_routes() {
    let (fake, http) = fake().await;
    fake.add_user("u@x.io", "pw");
    let signin = http
        .post(format!("{}/v1/auth/user/signin", fake.url()))
        .basic_auth("u@x.io", Some("pw"))
        .json(&json!({"accountType": "default"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signin.status(), 200);
    let v: Value = signin.json().await.unwrap();
    let token = v["data"]["tokenData"]["token"].as_str().unwrap().to_owned();
    let refresh = v["data"]["tokenData"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let company = v["data"]["user"]["default_company_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let user_id = v["data"]["user"]["userId"].as_str().unwrap().to_owned();
    let bad = http
        .post(format!("{}/v1/auth/user/signin", fake.url()))
        .basic_auth("u@x.io", Some("no"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let create = |token: String| {
        http.post(format!("{}/chat/v1/client/sessions", fake.url()))
            .bearer_auth(token)
            .header("x-company-id", &company)
            .header("x-user-id", &user_id)
            .json(&json!({"externalUserId": "u", "pluginIds": []}))
            .send()
    };
    assert_eq!(create(token.clone()).await.unwrap().status(), 201);
    let apikey_on_client_route = http
        .post(format!("{}/chat/v1/client/sessions", fake.url()))
        .header("apikey", "key")
        .json(&json!({"externalUserId": "u"}))
        .send()
        .await
        .unwrap();
    assert_eq!(apikey_on_client_route.status(), 401);
    assert!(
        apikey_on_client_route
            .text()
            .await
            .unwrap()
            .contains("No Authorization header")
    );
    fake.expire_tokens();
    assert_eq!(create(token.clone()).await.unwrap().status(), 401);
    let renewed = http
        .post(format!("{}/v1/auth/user/refresh_token", fake.url()))
        .json(&json!({"data": {"token": token, "refreshToken": refresh}}))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    let v: Value = renewed.json().await.unwrap();
    let new_token = v["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(create(new_token).await.unwrap().status(), 201);
    let reused = http
        .post(format!("{}/v1/auth/user/refresh_token", fake.url()))
        .json(&json!({"data": {"token": "x", "refreshToken": refresh}}))
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 401, "a refresh token works once");
}

#[tokio::test]
async fn unknown_routes_answer_like_the_gateway() {
    let (fake, http) = fake().await;
    let response = http
        .get(format!("{}/chat/v2/whatever", fake.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "no Route matched with those values");
    assert!(body["request_id"].is_string());
}

async fn catalogue(fake: &FakeOnDemand, http: &reqwest::Client, key: &str) -> (u16, String) {
    let response = http
        .get(format!("{}/config/v1/public/endpoints", fake.url()))
        .header("apikey", key)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn the_catalogue_is_the_2026_09_18_record_in_each_envelope() {
    let (fake, http) = fake().await;
    assert_eq!(catalogue(&fake, &http, "nope").await.0, 401);
    let (status, body) = catalogue(&fake, &http, "key").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["message"], "Success");
    let list = v["data"].as_array().unwrap();
    let active = |prefix: &str| {
        list.iter()
            .filter(|e| e["status"] == "active")
            .filter(|e| e["endpoint_id"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    assert_eq!(active("predefined-"), 22, "as on 2026-09-18");
    assert_eq!(active("byoi-"), 1, "and the account's own");
    let luna = list
        .iter()
        .find(|e| e["endpoint_id"] == "predefined-gpt-5.6-luna")
        .unwrap();
    assert_eq!(luna["reasoning_efforts"], json!(["low", "medium", "max"]));
    assert_eq!(luna["is_premium"], false);
    let gpt4o = list
        .iter()
        .find(|e| e["endpoint_id"] == "predefined-openai-gpt4o")
        .unwrap();
    assert_eq!(gpt4o["status"], "inactive");
    for (envelope, pointer) in [
        (fake_ondemand::Envelope::Bare, ""),
        (fake_ondemand::Envelope::Nested, "/data/endpoints"),
    ] {
        fake.set_options(FakeOptions {
            catalogue_envelope: envelope,
            ..FakeOptions::default()
        });
        let v: Value = serde_json::from_str(&catalogue(&fake, &http, "key").await.1).unwrap();
        assert_eq!(
            v.pointer(pointer).unwrap().as_array().unwrap().len(),
            list.len()
        );
    }
    fake.set_behaviour(
        "key",
        Behaviour {
            hidden_endpoints: vec!["predefined-gpt-5.6-luna".into()],
            ..Behaviour::default()
        },
    );
    let v: Value = serde_json::from_str(&catalogue(&fake, &http, "key").await.1).unwrap();
    assert!(
        !v.to_string().contains("gpt-5.6-luna"),
        "hidden from this key"
    );
    fake.set_options(FakeOptions {
        no_catalogue_route: true,
        ..FakeOptions::default()
    });
    let (status, body) = catalogue(&fake, &http, "key").await;
    assert_eq!(status, 404);
    assert!(body.contains("no Route matched"));
}

#[tokio::test]
async fn inactive_and_unknown_endpoints_are_refused_with_the_chosen_status() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    let ask =
        |endpoint: &str| json!({"query": "hi", "endpointId": endpoint, "responseMode": "sync"});
    for status in [400, 404, 500] {
        fake.set_options(FakeOptions {
            inactive_endpoint_status: status,
            ..FakeOptions::default()
        });
        for endpoint in ["predefined-openai-gpt4o", "predefined-never-was"] {
            assert_eq!(
                post(&http, url.clone(), "key", ask(endpoint)).await.0,
                status
            );
        }
        assert_eq!(
            post(&http, url.clone(), "key", ask("predefined-kimi-k3"))
                .await
                .0,
            200
        );
    }
    fake.set_options(FakeOptions {
        accept_unlisted: true,
        ..FakeOptions::default()
    });
    assert_eq!(
        post(&http, url.clone(), "key", ask("predefined-never-was"))
            .await
            .0,
        200
    );
    assert_eq!(
        post(&http, url, "key", ask("predefined-openai-gpt4o"))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn refusals_the_real_service_gives() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    let ask =
        |endpoint: &str| json!({"query": "hi", "endpointId": endpoint, "responseMode": "sync"});
    fake.set_behaviour(
        "key",
        Behaviour {
            refuse_premium: Some(403),
            ..Behaviour::default()
        },
    );
    let (status, body) = post(&http, url.clone(), "key", ask("predefined-claude-opus-5")).await;
    assert_eq!(status, 403);
    assert!(body.contains("subscribe"), "{body}");
    assert_eq!(
        post(
            &http,
            url.clone(),
            "key",
            ask("predefined-claude-4-5-haiku")
        )
        .await
        .0,
        200
    );
    fake.set_behaviour(
        "key",
        Behaviour {
            content_policy: true,
            ..Behaviour::default()
        },
    );
    let (status, body) = post(&http, url.clone(), "key", ask("predefined-kimi-k3")).await;
    assert_eq!(status, 403);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["errorCode"],
        "content_policy_violation"
    );
    fake.set_behaviour("key", Behaviour::default());
    fake.set_options(FakeOptions {
        firewall: true,
        ..FakeOptions::default()
    });
    let (status, body) = post(&http, url, "key", ask("predefined-kimi-k3")).await;
    assert_eq!(status, 403);
    assert!(body.starts_with("<!DOCTYPE html>") && body.contains("Error code: 1010"));
}

#[tokio::test]
async fn sessions_can_be_deleted() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    let delete = |key: &'static str| {
        http.delete(format!("{}/chat/v1/sessions/{id}", fake.url()))
            .header("apikey", key)
            .send()
    };
    assert_eq!(delete("nope").await.unwrap().status(), 401);
    assert!(fake.has_session(&id));
    let response = delete("key").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"message": "Chat session deleted successfully"})
    );
    assert!(!fake.has_session(&id));
    assert_eq!(delete("key").await.unwrap().status(), 404);
    assert_eq!(fake.requests_to(&id).len(), 3);
}

#[tokio::test]
async fn stream_variants_of_2026() {
    let (fake, http) = fake().await;
    let id = session(&fake, &http).await;
    fake.set_behaviour(
        "key",
        Behaviour {
            no_status_log: true,
            no_done: true,
            malformed_frame: true,
            ..Behaviour::default()
        },
    );
    let url = format!("{}/chat/v1/sessions/{id}/query", fake.url());
    let (_, body) = post(&http, url.clone(), "key", query("stream", "hello")).await;
    assert!(!body.contains("statusLog"), "{body}");
    assert!(!body.contains("[DONE]"));
    assert!(body.contains("metricsLog"));
    fake.set_behaviour(
        "key",
        Behaviour {
            completed_without_answer: true,
            ..Behaviour::default()
        },
    );
    let (_, body) = post(&http, url, "key", query("stream", "hello")).await;
    let completed = body
        .lines()
        .find(|l| l.contains("fulfillment_completed"))
        .unwrap();
    let v: Value = serde_json::from_str(completed.strip_prefix("data:").unwrap()).unwrap();
    assert!(v["currentStatusLog"].get("answer").is_none(), "{v}");
    assert!(body.contains("[DONE]"));
}

/// A raw upload as ondemand-media.md §1.1 records it; `agents` are the `plugins` values.
async fn upload(
    fake: &FakeOnDemand,
    http: &reqwest::Client,
    bytes: &[u8],
    agents: &[&str],
) -> (u16, Value) {
    let mut form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes.to_vec())
                .file_name("image.png")
                .mime_str("image/png")
                .unwrap(),
        )
        .text("name", "image.png")
        .text("responseMode", "sync")
        .text("sizeBytes", bytes.len().to_string());
    for agent in agents {
        form = form.text("plugins", agent.to_string());
    }
    let response = http
        .post(format!("{}/media/v1/public/file/raw", fake.url()))
        .header("apikey", "key")
        .multipart(form)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn the_media_api_describes_images_and_plays_its_recorded_errors() {
    let (fake, http) = fake().await;
    let png = b"\x89PNG\r\n\x1a\n0123456789";
    let (status, body) = upload(&fake, &http, png, &["plugin-1713958591"]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Media Created");
    let data = &body["data"];
    assert_eq!(data["actionStatus"], "completed");
    assert_eq!(data["mimeType"], "image/png");
    assert_eq!(data["context"], fake_ondemand::media::describe(png));
    assert_eq!(data["extractedText"], data["context"]);
    assert_eq!(data["id"].as_str().unwrap().len(), 24);

    // No agent: the recorded 500; a type the agent does not take: the recorded 400.
    let (status, body) = upload(&fake, &http, png, &[]).await;
    assert_eq!(
        (status, body),
        (
            500,
            json!({"message": "errors.no.executable.plugin.found", "errorCode": "server_error"})
        )
    );
    let (status, body) = upload(&fake, &http, b"GIF89a....", &["agent-1713958591"]).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], "errors.mime.type.not.supported");

    // Five uploads a minute per key: the sixth is refused with a 429.
    for _ in 0..4 {
        assert_eq!(
            upload(&fake, &http, png, &["plugin-1713958591"]).await.0,
            200
        );
    }
    let (status, body) = upload(&fake, &http, png, &["plugin-1713958591"]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errorCode"], "rate_limit_exceeded");
    fake.reset_upload_limits();

    // Delete, once; the JWT client routes refuse an API key.
    let id = data["id"].as_str().unwrap();
    let delete = || {
        http.delete(format!("{}/media/v1/public/file/{id}", fake.url()))
            .header("apikey", "key")
            .send()
    };
    let first = delete().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(
        first.json::<Value>().await.unwrap(),
        json!({"message": "Media Deleted!"})
    );
    assert_eq!(delete().await.unwrap().status(), 404);
    let client = http
        .post(format!("{}/media/v1/client/file/raw", fake.url()))
        .header("apikey", "key")
        .send()
        .await
        .unwrap();
    assert_eq!(client.status(), 401);

    // Still processing: no description yet.
    fake.set_options(FakeOptions {
        media_processing: true,
        ..FakeOptions::default()
    });
    let (status, body) = upload(&fake, &http, png, &["plugin-1713958591"]).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["actionStatus"], "processing");
    assert_eq!(body["data"]["context"], "");
}

/// The OpenAI-shaped route the peer benchmark puts other gateways in front of: the same
/// answer as the on-demand.io routes, whole or in the same deltas.
#[tokio::test]
async fn the_openai_route_answers_the_same_text_whole_or_streamed() {
    let (fake, http) = fake().await;
    let url = format!("{}/v1/chat/completions", fake.url());
    let ask = |stream: bool| json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hello there"}]});
    let (status, body) = post(&http, url.clone(), "any", ask(false)).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello there"
    );
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let (status, raw) = post(&http, url.clone(), "any", ask(true)).await;
    assert_eq!(status, 200);
    let events: Vec<&str> = raw
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"));
    let text: String = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Echo: hello there");
    assert_eq!(
        events.len(),
        1 + 3 + 1 + 1,
        "a role chunk, a chunk per word, the finish, [DONE]"
    );
    let (status, _) = post(&http, url, "any", json!({"messages": []})).await;
    assert_eq!(status, 400);
}
