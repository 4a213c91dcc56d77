//! Stored responses as the Responses dialect keeps them: found by the client token that made
//! them (for `previous_response_id` and `GET /v1/responses/{id}`), kept when complete (before
//! a stream's last bytes go out), deleted on request. The rows and their caps are
//! [`crate::store::responses`]'s; this is the facade the routes use.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::encode::ResponseEncoder;
use crate::clock::now_ms;
use crate::engine::StreamEvent;
use crate::openai::{ChatMessage, ErrorObject};
use crate::relay::{Encoder, Settling};
use crate::store::responses::{self as rows, StoredResponse};
use crate::store::{Store, StoreError};

/// Most bytes of a response id looked up; a longer one names no response.
pub const MAX_ID_BYTES: usize = 128;

/// Why a stored conversation could not be continued.
#[derive(Debug, thiserror::Error)]
pub enum Previous {
    /// No response of this token has that id (or it expired, or its history is unreadable).
    #[error("no stored response has that id")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The token's stored response `id`, if there is one.
pub async fn find(
    store: &Arc<Store>,
    token_id: i64,
    id: &str,
) -> Result<Option<StoredResponse>, StoreError> {
    if id.len() > MAX_ID_BYTES {
        return Ok(None);
    }
    let key = id.to_owned();
    store
        .read(move |conn| rows::get(conn, &key, token_id, now_ms()))
        .await
}

/// The stored conversation `previous_response_id` continues, its answer last.
pub async fn previous(
    store: &Arc<Store>,
    token_id: i64,
    id: &str,
) -> Result<Vec<ChatMessage>, Previous> {
    let row = find(store, token_id, id).await?.ok_or(Previous::NotFound)?;
    serde_json::from_str(&row.history).map_err(|e| {
        tracing::error!(%e, "a stored response's history does not parse");
        Previous::NotFound
    })
}

/// Deletes the token's stored response `id`; `false` when it has none.
pub async fn delete(store: &Arc<Store>, token_id: i64, id: &str) -> Result<bool, StoreError> {
    if id.len() > MAX_ID_BYTES {
        return Ok(false);
    }
    let key = id.to_owned();
    store
        .write(move |tx| rows::delete(tx, &key, token_id).map_err(StoreError::from))
        .await
}

/// Where a completed response goes, when it is to be stored.
#[derive(Clone)]
pub struct Keeper {
    pub store: Arc<Store>,
    pub token_id: i64,
    /// The conversation so far; the response's answer is added to it.
    pub history: Vec<ChatMessage>,
}

impl Keeper {
    /// Stores the completed `response`, its history now ending with its answer. A failure is
    /// logged: the client has its answer either way.
    pub async fn keep(self, response: Value) {
        let Some(id) = response["id"].as_str().map(str::to_owned) else {
            return;
        };
        let mut history = self.history;
        let output = response["output"].as_array().map_or(&[][..], Vec::as_slice);
        history.push(super::answer_turn(output));
        let row = StoredResponse {
            id,
            token_id: self.token_id,
            created_at: now_ms(),
            history: serde_json::to_string(&history).unwrap_or_default(),
            response: response.to_string(),
        };
        let kept = self
            .store
            .write(move |tx| rows::insert(tx, &row, now_ms(), rows::CAPS).map_err(StoreError::from))
            .await;
        match kept {
            Ok(true) => {}
            Ok(false) => tracing::warn!("a response was too large to store"),
            Err(error) => tracing::error!(%error, "a response could not be stored"),
        }
    }
}

/// The Responses stream, storing the completed response before its last bytes go out.
pub struct Storing {
    pub inner: ResponseEncoder,
    pub keeper: Option<Keeper>,
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
