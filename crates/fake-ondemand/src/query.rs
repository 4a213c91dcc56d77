//! The query route (§3.3): validation as the real service does it (the endpoint must be
//! active in the catalogue), the refusals it can give, and the sync, stream and webhook
//! answers.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::caller::{ApiKey, Caller, Jwt};
use crate::routes::{Fake, scripted_failure, upstream_error};
use crate::stream::{self, stream_response};
use crate::tools;
use crate::wire::{answer_for, metrics_json, tokens_for};
use crate::{Behaviour, FakeOptions, Stage};

pub(crate) async fn query(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    Caller { who: key, seen, .. }: Caller<ApiKey>,
) -> Response {
    run_query(shared, key, id, &seen.body, false).await
}

pub(crate) async fn client_query(
    State(shared): State<Fake>,
    Path(id): Path<String>,
    Caller {
        who: email, seen, ..
    }: Caller<Jwt>,
) -> Response {
    run_query(shared, email, id, &seen.body, true).await
}

/// The catalogue entry a query may use: active, and not hidden from this credential.
/// `Ok(None)` is an unlisted well-formed id the options accept.
fn usable_endpoint<'a>(
    options: &'a FakeOptions,
    behaviour: &Behaviour,
    endpoint: &str,
) -> Result<Option<&'a crate::FakeEndpoint>, ()> {
    let well_formed = ["predefined-", "byoi-"].iter().any(|p| {
        endpoint.strip_prefix(p).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
    });
    if !well_formed || behaviour.hidden_endpoints.iter().any(|h| h == endpoint) {
        return Err(());
    }
    match options.endpoints.iter().find(|e| e.id == endpoint) {
        Some(e) if e.active => Ok(Some(e)),
        Some(_) => Err(()),
        None if options.accept_unlisted => Ok(None),
        None => Err(()),
    }
}

async fn run_query(
    shared: Fake,
    owner: String,
    session_id: String,
    body: &[u8],
    client_route: bool,
) -> Response {
    let behaviour = shared.behaviour(&owner);
    if behaviour.header_delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.header_delay_ms)).await;
    }
    if let Some(response) = scripted_failure(&shared, &owner, Stage::Query) {
        return response;
    }
    let options = shared.lock().options.clone();
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return upstream_error(
            400,
            "invalid_request",
            "Input params are missing or invalid",
        );
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    let (Some(query), Some(endpoint), Some(mode)) =
        (text("query"), text("endpointId"), text("responseMode"))
    else {
        return upstream_error(
            400,
            "invalid_request",
            "Input params are missing or invalid",
        );
    };
    if query.is_empty() || !matches!(mode, "sync" | "stream" | "webhook") {
        return upstream_error(
            400,
            "invalid_request",
            "Input params are missing or invalid",
        );
    }
    let tools = {
        let mut state = shared.lock();
        match state.sessions.get_mut(&session_id) {
            Some(s) if s.owner == owner => {
                s.queries += 1;
                if let Some(block) = tools::block(query) {
                    s.tools = Some(block.to_owned());
                }
                s.tools.clone()
            }
            _ => return upstream_error(404, "not_found", "Session not found"),
        }
    };
    let listed = match usable_endpoint(&options, &behaviour, endpoint) {
        Ok(listed) => listed,
        Err(()) => {
            let status = options.inactive_endpoint_status;
            let code = match status {
                404 => "not_found",
                403 => "unauthorized",
                500..=599 => "model_error",
                _ => "invalid_request",
            };
            return upstream_error(
                status,
                code,
                &format!("Invalid endpointId: {endpoint} is not active"),
            );
        }
    };
    if behaviour.content_policy {
        return upstream_error(
            403,
            "content_policy_violation",
            "The request was rejected because it was flagged by the content policy",
        );
    }
    if let (Some(status), Some(e)) = (behaviour.refuse_premium, listed)
        && e.premium
    {
        return upstream_error(
            status,
            if status == 400 {
                "invalid_request"
            } else {
                "unauthorized"
            },
            "Please subscribe to a premium plan to use this model",
        );
    }
    let effort = body.get("reasoningEffort");
    if effort.is_some_and(|e| !matches!(e.as_str(), Some("low" | "medium" | "max"))) {
        return upstream_error(
            400,
            "invalid_request",
            "reasoningEffort must be one of low, medium, max",
        );
    }
    let too_long = query.contains("FAKE_CONTEXT_LENGTH_EXCEEDED")
        || query.chars().count() > options.max_query_chars;
    let message_id = shared.object_id();
    let answer = match &behaviour.answer {
        Some(scripted) => scripted.clone(),
        None => tools::answer(&options.answer_prefix, query, tools.as_deref())
            .unwrap_or_else(|| answer_for(&options.answer_prefix, tools::latest_turn(query))),
    };
    let thinking = behaviour.thinking || effort.is_some() || endpoint.contains("deepseek-r1");
    match mode {
        "webhook" => axum::Json(json!({
            "message": "Chat query submitted successfully",
            "data": {"sessionId": session_id, "messageId": message_id, "status": "processing"}
        }))
        .into_response(),
        "stream" => stream_response(
            &shared,
            &behaviour,
            &stream::Turn {
                session_id: &session_id,
                message_id: &message_id,
                query,
                answer: &answer,
                too_long,
                thinking,
            },
        ),
        _ if too_long => upstream_error(
            400,
            "context_length_exceeded",
            "Model context length exceeded",
        ),
        _ if client_route && options.client_sync_as_sse => stream_response(
            &shared,
            &behaviour,
            &stream::Turn {
                session_id: &session_id,
                message_id: &message_id,
                query,
                answer: &answer,
                too_long: false,
                thinking,
            },
        ),
        _ => {
            let metrics = (options.sync_metrics && !behaviour.no_metrics)
                .then(|| metrics_json(tokens_for(query), tokens_for(&answer)));
            let body = format!(
                "{{\"message\":\"Chat query submitted successfully\",\"data\":{{\"sessionId\":\"{session_id}\",\"messageId\":\"{message_id}\",\"answer\":{}{},\"status\":\"completed\"}}}}",
                serde_json::Value::from(answer.as_str()),
                metrics
                    .map(|m| format!(",\"metrics\":{m}"))
                    .unwrap_or_default()
            );
            (
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body,
            )
                .into_response()
        }
    }
}
