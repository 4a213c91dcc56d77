//! Client tokens: what local apps present on `/v1`. The secret is shown once, at creation.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ondemand_core::control::TokenInput;
use ondemand_core::store::accounts::Source;
use ondemand_core::store::client_tokens::{TokenLimits, TokenRow};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, List};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Id, JsonBody};

/// A client token as the admin API shows it: the prefix only, never the secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Token)]
pub struct TokenView {
    id: i64,
    name: String,
    /// The secret's first characters.
    prefix: String,
    #[serde(flatten)]
    limits: TokenLimits,
    enabled: bool,
    source: Source,
    used_requests: u64,
    used_tokens: u64,
    /// Image uploads its requests made, failed ones included (as of the last usage write).
    used_uploads: u64,
    last_used_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

/// A token just created, with its secret: shown this once; only its hash is kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    #[serde(flatten)]
    token: TokenView,
    secret: String,
}

fn token_view(state: &AppState, row: TokenRow) -> TokenView {
    let live = state.engine().clients.tokens.by_id(row.id);
    let used = |stored: u64, live: Option<u64>| live.unwrap_or(0).max(stored);
    TokenView {
        id: row.id,
        used_requests: used(row.used_requests, live.as_ref().map(|t| t.used_requests())),
        used_tokens: used(row.used_tokens, live.as_ref().map(|t| t.used_tokens())),
        used_uploads: row.used_uploads,
        last_used_at: live
            .as_ref()
            .and_then(|t| t.last_used_at())
            .max(row.last_used_at),
        name: row.name,
        prefix: row.prefix,
        limits: row.limits,
        enabled: row.enabled,
        source: row.source,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Every client token (prefix only).
#[utoipa::path(get, path = "/api/tokens", tag = "tokens",
    responses((status = 200, body = List<TokenView>)))]
pub async fn list(State(state): State<AppState>) -> Answer<List<TokenView>> {
    let rows = state.control().tokens().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| token_view(&state, r))
            .collect::<Vec<_>>()
            .into(),
    ))
}

/// One client token.
#[utoipa::path(get, path = "/api/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 200, body = TokenView)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Answer<TokenView> {
    let row = state.control().token(id).await?;
    Ok(Json(token_view(&state, row)))
}

/// Creates a token and returns its secret: the only time it is ever shown.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = TokenInput,
    responses((status = 201, body = NewToken)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<TokenInput>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let new = state.control().create_token(state.engine(), input).await?;
    tracing::info!(token = %new.row.name, "client token created");
    let secret = new.secret.expose().to_owned();
    let token = token_view(&state, new.row);
    Ok((StatusCode::CREATED, Json(NewToken { token, secret })))
}

/// Edits limits, expiry, models or `enabled`; missing fields keep their value and `null`
/// removes a limit.
#[utoipa::path(patch, path = "/api/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    request_body = TokenInput, responses((status = 200, body = TokenView)))]
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<TokenInput>,
) -> Answer<TokenView> {
    let row = state
        .control()
        .update_token(state.engine(), id, input)
        .await?;
    Ok(Json(token_view(&state, row)))
}

/// Revokes the token for good.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked")))]
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    state.control().delete_token(state.engine(), id).await?;
    tracing::info!(id, "client token revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// This subject's routes.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}
