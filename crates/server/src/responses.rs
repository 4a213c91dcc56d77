//! The OpenAI Responses routes: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`.
//! A request is admitted and planned as every dialect's is. A response asked to be stored
//! (the default) is kept with its conversation, for `previous_response_id` and retrieval, by
//! the client token that made it; it is in place before the client hears the answer is
//! complete.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use ondemand_core::chat::PlanError;
use ondemand_core::clock::now_ms;
use ondemand_core::engine::StreamEvent;
use ondemand_core::openai::{ChatMessage, ErrorObject};
use ondemand_core::relay::{Encoder, Settling};
use ondemand_core::responses::encode::{self, ResponseEncoder, Shell};
use ondemand_core::responses::{self, ResponsesRequest};
use ondemand_core::store::Store;
use ondemand_core::store::responses::{self as stored, StoredResponse};
use ondemand_core::tokens::ClientToken;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::PathText;
use crate::v1::{self, Asking};

impl Asking for ResponsesRequest {
    const DIALECT: &'static str = "responses";
    fn model(&self) -> &str {
        &self.model
    }
    fn stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }
}

/// Most bytes of a response id looked up.
const MAX_ID_BYTES: usize = 128;

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

fn in_dialect(error: PlanError) -> ApiError {
    ApiError::from(responses::in_dialect(error))
}

/// The token's stored response `id`, if there is one (an id too long to be one is none).
async fn find(
    store: &Arc<Store>,
    token: &ClientToken,
    id: &str,
) -> Result<Option<StoredResponse>, ApiError> {
    if id.len() > MAX_ID_BYTES {
        return Ok(None);
    }
    let (key, token_id) = (id.to_owned(), token.id);
    store
        .read(move |conn| stored::get(conn, &key, token_id, now_ms()))
        .await
        .map_err(store_error)
}

/// The stored conversation `previous_response_id` continues.
async fn previous(
    store: &Arc<Store>,
    token: &ClientToken,
    id: &str,
) -> Result<Vec<ChatMessage>, ApiError> {
    let row = find(store, token, id)
        .await?
        .ok_or_else(|| not_found(id, Some("previous_response_id")))?;
    serde_json::from_str(&row.history).map_err(|e| {
        tracing::error!(%e, "a stored response's history does not parse");
        not_found(id, Some("previous_response_id"))
    })
}

fn store_error(error: ondemand_core::store::StoreError) -> ApiError {
    tracing::error!(%error, "stored responses could not be read or written");
    ApiError::internal(
        "store_error",
        "The database could not read or keep the response; see the log.",
    )
}

/// Where a completed response goes, when it is to be stored.
#[derive(Clone)]
struct Keeper {
    store: Arc<Store>,
    token_id: i64,
    history: Vec<ChatMessage>,
}

impl Keeper {
    /// Stores the completed `response`, its history now ending with its answer.
    async fn keep(self, response: Value) {
        let Some(id) = response["id"].as_str().map(str::to_owned) else {
            return;
        };
        let mut history = self.history;
        let output = response["output"].as_array().map_or(&[][..], Vec::as_slice);
        history.push(responses::answer_turn(output));
        let row = StoredResponse {
            id,
            token_id: self.token_id,
            created_at: now_ms(),
            history: serde_json::to_string(&history).unwrap_or_default(),
            response: response.to_string(),
        };
        let kept = self
            .store
            .write(move |tx| {
                stored::insert(tx, &row, now_ms(), stored::CAPS)
                    .map_err(ondemand_core::store::StoreError::from)
            })
            .await;
        match kept {
            Ok(true) => {}
            Ok(false) => tracing::warn!("a response was too large to store"),
            Err(error) => {
                tracing::error!(%error, "a response could not be stored");
            }
        }
    }
}

/// The Responses stream, storing the completed response before its last bytes go out.
struct Storing {
    inner: ResponseEncoder,
    keeper: Option<Keeper>,
}

impl Encoder for Storing {
    fn start(&mut self) -> Bytes {
        self.inner.start()
    }

    fn event(&mut self, event: &StreamEvent) -> Bytes {
        self.inner.event(event)
    }

    fn keepalive(&mut self) -> Bytes {
        self.inner.keepalive()
    }

    fn refused(&mut self, status: u16, error: ErrorObject) -> Bytes {
        self.inner.refused(status, error)
    }

    fn settle(&mut self) -> Option<Settling> {
        let response = self.inner.take_completed()?;
        let keeper = self.keeper.take()?;
        Some(Box::pin(keeper.keep(response)))
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    request: Request,
) -> Response {
    let (mut record, parsed) = match v1::admit::<ResponsesRequest>(&state, &token, request).await {
        Ok(admitted) => admitted,
        Err(refused) => return refused,
    };
    let history = match parsed.previous_response_id.as_deref() {
        Some(id) => match previous(state.store(), &token, id).await {
            Ok(history) => history,
            Err(e) => return v1::refuse(&mut record, e),
        },
        None => Vec::new(),
    };
    let store = parsed.store != Some(false);
    let model = parsed.model.clone();
    let decoded = match responses::decode(parsed, history) {
        Ok(decoded) => decoded,
        Err(e) => return v1::refuse(&mut record, in_dialect(e)),
    };
    let plan = match v1::plan(&state, &token, &mut record, decoded.request) {
        Ok(plan) => plan,
        Err(e) => return v1::refuse(&mut record, in_dialect(e)),
    };
    let shell = Shell::new(&model, decoded.echo);
    let keeper = store.then(|| Keeper {
        store: state.store().clone(),
        token_id: token.id,
        history: decoded.history,
    });
    let stream_keeper = keeper.clone();
    let stream_shell = shell.clone();
    v1::answer(
        &state,
        plan,
        record,
        move |_| Storing {
            inner: ResponseEncoder::new(stream_shell),
            keeper: stream_keeper,
        },
        move |_, done| async move {
            let response = encode::response(&shell, &done);
            if let Some(keeper) = keeper {
                keeper.keep(response.clone()).await;
            }
            Json(response).into_response()
        },
    )
    .await
}

/// A stored response, as it was answered.
pub async fn retrieve(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    PathText(id): PathText,
) -> Response {
    match find(state.store(), &token, &id).await {
        Ok(Some(row)) => match serde_json::from_str::<Value>(&row.response) {
            Ok(response) => Json(response).into_response(),
            Err(_) => not_found(&id, None).into_response(),
        },
        Ok(None) => not_found(&id, None).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Deletes a stored response.
pub async fn delete(
    State(state): State<AppState>,
    Extension(token): Extension<Arc<ClientToken>>,
    PathText(id): PathText,
) -> Response {
    if id.len() > MAX_ID_BYTES {
        return not_found(&id, None).into_response();
    }
    let (key, token_id) = (id.clone(), token.id);
    let deleted = state
        .store()
        .write(move |tx| {
            stored::delete(tx, &key, token_id).map_err(ondemand_core::store::StoreError::from)
        })
        .await;
    match deleted {
        Ok(true) => Json(json!({"id": id, "object": "response", "deleted": true})).into_response(),
        Ok(false) => not_found(&id, None).into_response(),
        Err(e) => store_error(e).into_response(),
    }
}
