//! Client authentication for `/v1/*`: `Authorization: Bearer <token>` (or Anthropic's
//! `x-api-key: <token>`), looked up by the
//! SHA-256 of the presented secret (so timing reveals nothing about stored tokens), then
//! the token's own limits: enabled, expiry, quotas. The token travels on with the request
//! as an extension, for its model allow-list, rate limit and usage.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

pub async fn require_client_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(presented) = crate::extract::client_key(request.headers()) else {
        return ApiError::unauthorized(
            "You didn't provide an API key. Send a client token as `Authorization: Bearer <token>` (or `x-api-key: <token>`).",
        )
        .into_response();
    };
    match state
        .engine()
        .clients
        .tokens
        .authorize(presented, ondemand_core::clock::now_ms())
    {
        Ok(_) if state.paused() => ApiError::paused().into_response(),
        Ok(token) => {
            request.extensions_mut().insert(token);
            next.run(request).await
        }
        Err(refusal) => {
            let now = std::time::Instant::now();
            if ondemand_core::quiet::REFUSALS.first(refusal.kind(), now) {
                tracing::info!(%refusal, "refused a client token (more like it this minute are counted, not logged)");
            }
            ApiError::from(refusal).into_response()
        }
    }
}
