//! Client authentication for `/v1/*`: `Authorization: Bearer <token>`, compared in constant
//! time so response timing reveals nothing about the token.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

pub async fn require_client_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(presented) = presented.filter(|t| !t.is_empty()) else {
        return ApiError::unauthorized(
            "You didn't provide an API key. Send the proxy's client token as `Authorization: Bearer <token>`.",
        )
        .into_response();
    };
    let expected = state.client_token();
    if bool::from(presented.as_bytes().ct_eq(expected.expose().as_bytes())) {
        next.run(request).await
    } else {
        tracing::info!("rejected a request with a wrong client token");
        ApiError::unauthorized("Incorrect API key provided. Use the client token the proxy printed or was configured with.")
            .into_response()
    }
}
