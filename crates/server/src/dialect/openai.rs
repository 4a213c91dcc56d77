//! The OpenAI routes: `GET /v1/models`, `GET /v1/models/{id}` and
//! `POST /v1/chat/completions`, whose request every other dialect is decoded into.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ondemand_core::chat;
use ondemand_core::client_tokens::ClientToken;
use ondemand_core::openai::{ChatCompletionRequest, ModelEntry, ModelList};
use ondemand_core::relay::{self, ChunkEncoder};
use serde_json::json;

use super::pipeline::{Admitted, Answering};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::PathText;

/// Models are listed with a fixed creation time: the upstream publishes none.
const MODEL_CREATED: u64 = 1_735_689_600;

pub async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

fn model_entry(id: &str) -> ModelEntry {
    ModelEntry {
        id: id.to_owned(),
        object: "model",
        created: MODEL_CREATED,
        owned_by: "on-demand.io",
    }
}

/// The aliases this token may use.
pub async fn list_models(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
) -> Response {
    let catalog = state.engine().catalog();
    let data = catalog
        .listed(&state.engine().endpoints())
        .iter()
        .filter(|name| token.allows(name))
        .map(|name| model_entry(name))
        .collect();
    Json(ModelList {
        object: "list",
        data,
    })
    .into_response()
}

pub async fn get_model(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    PathText(model): PathText,
) -> Response {
    if let Err(e) = chat::check_model(&model) {
        return ApiError::from(e).into_response();
    }
    if !token.allows(&model) {
        return ApiError::model_not_allowed(&model).into_response();
    }
    match state
        .engine()
        .catalog()
        .resolve_live(&model, &state.engine().endpoints())
    {
        Ok(_) => Json(model_entry(&model)).into_response(),
        Err(e) => ApiError::from(chat::PlanError::from(e)).into_response(),
    }
}

pub async fn chat_completions(
    State(state): State<AppState>,
    Admitted(request, mut admission): Answering<ChatCompletionRequest>,
) -> Result<Response, Response> {
    let plan = admission.plan(&state, request)?;
    let whole =
        |plan: &_, done| std::future::ready(Json(relay::completion(plan, done)).into_response());
    Ok(admission
        .answer(&state, plan, ChunkEncoder::new, whole)
        .await)
}
