//! Upstream accounts: a thin mapping onto the control plane ([`ondemand_core::control`]),
//! which validates, stores and applies.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ondemand_core::config::{AccountKind, ProxyUrl};
use ondemand_core::control::AccountInput;
use ondemand_core::pool::{Account, AccountState};
use ondemand_core::store::accounts::{AccountRow, Source};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, List};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Id, JsonBody};

/// An account as the admin API shows it: never its secret, only a hint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountView {
    id: i64,
    name: String,
    kind: AccountKind,
    /// The sign-in email of an email/password account.
    email: Option<String>,
    /// A few characters of the key or password, to tell them apart; never the secret.
    secret_hint: String,
    weight: u32,
    max_concurrent: Option<u32>,
    enabled: bool,
    /// The account's own proxy, its password masked; `None` takes the global setting.
    proxy: Option<String>,
    /// `config` entries (config.json, environment) are read-only here.
    source: Source,
    /// Simulated (the dashboard's *Try the demo*, or `--demo`): its answers are made up by
    /// the in-process demo upstream; nothing reaches on-demand.io.
    simulated: bool,
    state: AccountState,
    reason: Option<String>,
    /// Seconds until it may be used or re-checked again.
    retry_in_s: Option<f64>,
    in_flight: u32,
    /// Models refused to this account (a plan or premium refusal): it serves the others.
    model_blocks: Vec<ModelBlock>,
    created_at: i64,
    updated_at: i64,
}

/// A model refused to one account, for a while.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelBlock {
    endpoint_id: String,
    reason: String,
    retry_in_s: f64,
}

fn account_view(row: &AccountRow, live: Option<&Account>, now: Instant) -> AccountView {
    let config = &row.config;
    let options = config.options();
    let status = live.map(|a| a.status(now));
    AccountView {
        id: row.id,
        name: row.config.name().to_owned(),
        kind: config.kind(),
        email: config.email().map(str::to_owned),
        secret_hint: config.secret().hint(),
        weight: options.weight,
        max_concurrent: options.max_concurrent,
        enabled: options.enabled,
        proxy: options.proxy.as_ref().map(ProxyUrl::masked),
        source: row.source,
        simulated: simulated(row),
        state: status.as_ref().map_or(AccountState::Disabled, |s| s.state),
        reason: status.as_ref().and_then(|s| s.reason.clone()),
        retry_in_s: status
            .as_ref()
            .and_then(|s| s.retry_in)
            .map(|d| d.as_secs_f64()),
        in_flight: status.as_ref().map_or(0, |s| s.in_flight),
        model_blocks: status
            .iter()
            .flat_map(|s| &s.model_blocks)
            .map(|b| ModelBlock {
                endpoint_id: b.endpoint_id.clone(),
                reason: b.reason.clone(),
                retry_in_s: b.retry_in.as_secs_f64(),
            })
            .collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Whether the account is a simulated one (its key says so).
pub(super) fn simulated(row: &AccountRow) -> bool {
    row.config.simulated()
}

pub(super) fn view_of(state: &AppState, row: &AccountRow) -> AccountView {
    let accounts = state.engine().routing.pool.accounts();
    let live = accounts.iter().find(|a| a.name == row.config.name());
    account_view(row, live.map(AsRef::as_ref), Instant::now())
}

/// Every account, secrets masked.
#[utoipa::path(get, path = "/api/accounts", tag = "accounts",
    responses((status = 200, body = List<AccountView>)))]
pub async fn list(State(state): State<AppState>) -> Answer<List<AccountView>> {
    let rows = state.control().accounts().await?;
    Ok(Json(
        rows.iter()
            .map(|r| view_of(&state, r))
            .collect::<Vec<_>>()
            .into(),
    ))
}

/// One account.
#[utoipa::path(get, path = "/api/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = AccountView)))]
pub async fn get(State(state): State<AppState>, Id(id): Id) -> Answer<AccountView> {
    let row = state.control().account(id).await?;
    Ok(Json(view_of(&state, &row)))
}

/// Adds an account; its catalogue is read at once.
#[utoipa::path(post, path = "/api/accounts", tag = "accounts", request_body = AccountInput,
    responses((status = 201, body = AccountView)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<AccountInput>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let row = state
        .control()
        .create_account(state.engine(), input)
        .await?;
    tracing::info!(account = %row.config.name(), "account created");
    Ok((StatusCode::CREATED, Json(view_of(&state, &row))))
}

/// Edits an account (enable or disable it with `enabled`); missing fields keep their value.
#[utoipa::path(patch, path = "/api/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    request_body = AccountInput, responses((status = 200, body = AccountView)))]
pub async fn update(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<AccountInput>,
) -> Answer<AccountView> {
    let row = state
        .control()
        .update_account(state.engine(), id, input)
        .await?;
    tracing::info!(account = %row.config.name(), "account updated");
    Ok(Json(view_of(&state, &row)))
}

/// Deletes an account (its usage history stays).
#[utoipa::path(delete, path = "/api/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(State(state): State<AppState>, Id(id): Id) -> Result<StatusCode, ApiError> {
    state.control().delete_account(state.engine(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Puts the account back to healthy.
#[utoipa::path(post, path = "/api/accounts/{id}/reset", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = AccountView)))]
pub async fn reset(State(state): State<AppState>, Id(id): Id) -> Answer<AccountView> {
    state.control().reset_account(state.engine(), id).await?;
    get(State(state), Id(id)).await
}

/// How a test query through one account went.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountTest {
    ok: bool,
    latency_ms: u64,
    /// The start of the answer, when it worked.
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<String>,
    /// Why not, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<TestError>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestError {
    message: String,
    status: Option<u16>,
    code: Option<String>,
}

/// Sends a real minimal query through the account. A failing account is a successful test
/// that reports the failure, so the answer is `200` either way.
#[utoipa::path(post, path = "/api/accounts/{id}/test", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = AccountTest)))]
pub async fn test(State(state): State<AppState>, Id(id): Id) -> Answer<AccountTest> {
    let outcome = state.control().test_account(state.engine(), id).await?;
    let latency_ms = outcome.latency.as_millis() as u64;
    Ok(Json(match outcome.result {
        Ok(answer) => AccountTest {
            ok: true,
            latency_ms,
            answer: Some(answer.chars().take(200).collect()),
            error: None,
        },
        Err(error) => AccountTest {
            ok: false,
            latency_ms,
            answer: None,
            error: Some(TestError {
                message: error.to_string(),
                status: error.status(),
                code: error.code().map(str::to_owned),
            }),
        },
    }))
}

/// This subject's routes.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(test))
        .routes(routes!(reset))
}
