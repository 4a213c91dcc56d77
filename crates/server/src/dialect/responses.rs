//! The OpenAI Responses routes: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`.
//! A request is admitted and planned as every dialect's is. A response asked to be stored
//! (the default) is kept with its conversation, for `previous_response_id` and retrieval, by
//! the client token that made it ([`ondemand_core::responses::kept`]); it is in place before
//! the client hears the answer is complete.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ondemand_core::client_tokens::ClientToken;
use ondemand_core::responses::encode::{self, ResponseEncoder, Shell};
use ondemand_core::responses::kept::{self, Keeper, MAX_ID_BYTES, Previous, Storing};
use ondemand_core::responses::{self, ResponsesRequest};
use ondemand_core::store::StoreError;
use serde_json::{Value, json};

use super::pipeline::{Admitted, Answering};
use crate::AppState;
use crate::error::{ApiError, ErrorKind};
use crate::extract::PathText;

fn not_found(id: &str, param: Option<&str>) -> ApiError {
    let shown: String = id.chars().take(MAX_ID_BYTES).collect();
    let error = ApiError::not_found(format!(
        "No response `{shown}` is stored for this client token. Responses are kept for 30 days unless sent with `store: false`, and only the token that made one sees it."
    ));
    match param {
        Some(param) => error.with_param(param),
        None => error,
    }
}

fn store_error(error: StoreError) -> ApiError {
    tracing::error!(%error, "stored responses could not be read or written");
    ApiError::new(
        ErrorKind::StoreError,
        "The database could not read or keep the response; see the log.",
    )
}

pub async fn create(
    State(state): State<AppState>,
    Admitted(request, mut admission): Answering<ResponsesRequest>,
) -> Result<Response, Response> {
    let token_id = admission.token.id;
    let history = match request.previous_response_id.as_deref() {
        Some(id) => match kept::previous(state.store(), token_id, id).await {
            Ok(history) => history,
            Err(Previous::NotFound) => {
                return Err(admission.refuse(not_found(id, Some("previous_response_id"))));
            }
            Err(Previous::Store(e)) => return Err(admission.refuse(store_error(e))),
        },
        None => Vec::new(),
    };
    let store = request.store != Some(false);
    let model = request.model.clone();
    let decoded = responses::decode(request, history).map_err(|e| admission.refuse_plan(e))?;
    let plan = admission.plan(&state, decoded.request)?;
    let shell = Shell::new(&model, decoded.echo);
    let keeper = store.then(|| Keeper {
        store: state.store().clone(),
        token_id,
        history: decoded.history,
    });
    let (stream_keeper, stream_shell) = (keeper.clone(), shell.clone());
    let encoder = move |_: &_| Storing {
        inner: ResponseEncoder::new(stream_shell),
        keeper: stream_keeper,
    };
    let whole = move |_: &_, done| async move {
        let response = encode::response(&shell, &done);
        if let Some(keeper) = keeper {
            keeper.keep(response.clone()).await;
        }
        Json(response).into_response()
    };
    Ok(admission.answer(&state, plan, encoder, whole).await)
}

/// A stored response, as it was answered.
pub async fn retrieve(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    PathText(id): PathText,
) -> Response {
    match kept::find(state.store(), token.id, &id).await {
        Ok(Some(row)) => match serde_json::from_str::<Value>(&row.response) {
            Ok(response) => Json(response).into_response(),
            Err(_) => not_found(&id, None).into_response(),
        },
        Ok(None) => not_found(&id, None).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}

/// Deletes a stored response.
pub async fn delete(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    PathText(id): PathText,
) -> Response {
    match kept::delete(state.store(), token.id, &id).await {
        Ok(true) => Json(json!({"id": id, "object": "response", "deleted": true})).into_response(),
        Ok(false) => not_found(&id, None).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}
