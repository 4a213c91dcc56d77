//! The admin routes that change things: accounts, client tokens, model aliases, settings,
//! export and import. Each is a thin mapping onto the control plane
//! ([`ondemand_core::control`]), which validates, stores and applies.

use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ondemand_core::control::{AccountInput, ExportDocument, ImportMode, TokenInput};
use ondemand_core::pool::{Account, AccountState};
use ondemand_core::store::accounts::{AccountRow, Source};
use ondemand_core::store::tokens::{TokenLimits, TokenRow};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Id, JsonBody, Params};

type Answer = Result<Response, ApiError>;

/// An account as the admin API shows it: never its secret, only a hint.
#[derive(Serialize)]
pub struct AccountView {
    id: i64,
    name: String,
    /// `api_key` or `email_password`.
    kind: &'static str,
    /// The sign-in email of an email/password account.
    email: Option<String>,
    /// A few characters of the key or password, to tell them apart.
    secret_hint: String,
    weight: u32,
    max_concurrent: Option<u32>,
    enabled: bool,
    /// `api` (managed here) or `config` (config.json / environment: read-only here).
    source: Source,
    state: AccountState,
    reason: Option<String>,
    /// Seconds until it may be used or re-checked again.
    retry_in_s: Option<f64>,
    in_flight: u32,
    /// Models refused to this account (a plan or premium refusal): it serves the others.
    model_blocks: Vec<ModelBlockView>,
    created_at: i64,
    updated_at: i64,
}

#[derive(Serialize)]
pub struct ModelBlockView {
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
        source: row.source,
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
            .map(|b| ModelBlockView {
                endpoint_id: b.endpoint_id.clone(),
                reason: b.reason.clone(),
                retry_in_s: b.retry_in.as_secs_f64(),
            })
            .collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn view_of(state: &AppState, row: &AccountRow) -> AccountView {
    let accounts = state.engine().pool.accounts();
    let live = accounts.iter().find(|a| a.name == row.config.name());
    account_view(row, live.map(AsRef::as_ref), Instant::now())
}

pub async fn list_accounts(State(state): State<AppState>) -> Answer {
    let rows = state.control().accounts().await?;
    let data: Vec<AccountView> = rows.iter().map(|r| view_of(&state, r)).collect();
    Ok(Json(json!({ "data": data })).into_response())
}

pub async fn get_account(State(state): State<AppState>, Id(id): Id) -> Answer {
    let row = state.control().account(id).await?;
    Ok(Json(view_of(&state, &row)).into_response())
}

pub async fn create_account(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<AccountInput>,
) -> Answer {
    let row = state
        .control()
        .create_account(state.engine(), input)
        .await?;
    tracing::info!(account = %row.config.name(), "account created");
    Ok((StatusCode::CREATED, Json(view_of(&state, &row))).into_response())
}

pub async fn update_account(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<AccountInput>,
) -> Answer {
    let row = state
        .control()
        .update_account(state.engine(), id, input)
        .await?;
    tracing::info!(account = %row.config.name(), "account updated");
    Ok(Json(view_of(&state, &row)).into_response())
}

pub async fn delete_account(State(state): State<AppState>, Id(id): Id) -> Answer {
    state.control().delete_account(state.engine(), id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn reset_account(State(state): State<AppState>, Id(id): Id) -> Answer {
    state.control().reset_account(state.engine(), id).await?;
    get_account(State(state), Id(id)).await
}

/// Sends a real minimal query through the account. A failing account is a successful test
/// that reports the failure, so the answer is `200` either way.
pub async fn test_account(State(state): State<AppState>, Id(id): Id) -> Answer {
    let outcome = state.control().test_account(state.engine(), id).await?;
    let latency_ms = outcome.latency.as_millis() as u64;
    Ok(Json(match outcome.result {
        Ok(answer) => json!({
            "ok": true,
            "latency_ms": latency_ms,
            "answer": answer.chars().take(200).collect::<String>(),
        }),
        Err(error) => json!({
            "ok": false,
            "latency_ms": latency_ms,
            "error": {
                "message": error.to_string(),
                "status": error.status(),
                "code": error.code(),
            },
        }),
    })
    .into_response())
}

/// A client token as the admin API shows it: the prefix only, never the secret.
#[derive(Serialize)]
pub struct TokenView {
    id: i64,
    name: String,
    prefix: String,
    #[serde(flatten)]
    limits: TokenLimits,
    enabled: bool,
    source: Source,
    used_requests: u64,
    used_tokens: u64,
    last_used_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

fn token_view(state: &AppState, row: TokenRow) -> TokenView {
    let live = state.engine().tokens.by_id(row.id);
    let used = |stored: u64, live: Option<u64>| live.unwrap_or(0).max(stored);
    TokenView {
        id: row.id,
        used_requests: used(row.used_requests, live.as_ref().map(|t| t.used_requests())),
        used_tokens: used(row.used_tokens, live.as_ref().map(|t| t.used_tokens())),
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

pub async fn list_tokens(State(state): State<AppState>) -> Answer {
    let rows = state.control().tokens().await?;
    let data: Vec<TokenView> = rows.into_iter().map(|r| token_view(&state, r)).collect();
    Ok(Json(json!({ "data": data })).into_response())
}

pub async fn get_token(State(state): State<AppState>, Id(id): Id) -> Answer {
    let row = state.control().token(id).await?;
    Ok(Json(token_view(&state, row)).into_response())
}

/// Creates a token and returns its secret: the only time it is ever shown.
pub async fn create_token(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<TokenInput>,
) -> Answer {
    let new = state.control().create_token(state.engine(), input).await?;
    tracing::info!(token = %new.row.name, "client token created");
    let mut body = serde_json::to_value(token_view(&state, new.row)).unwrap_or_default();
    body["secret"] = Value::from(new.secret.expose());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

pub async fn update_token(
    State(state): State<AppState>,
    Id(id): Id,
    JsonBody(input): JsonBody<TokenInput>,
) -> Answer {
    let row = state
        .control()
        .update_token(state.engine(), id, input)
        .await?;
    Ok(Json(token_view(&state, row)).into_response())
}

/// Revokes the token for good.
pub async fn delete_token(State(state): State<AppState>, Id(id): Id) -> Answer {
    state.control().delete_token(state.engine(), id).await?;
    tracing::info!(id, "client token revoked");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list_aliases(State(state): State<AppState>) -> Answer {
    let data = state.control().aliases(state.engine()).await?;
    Ok(Json(json!({
        "data": data,
        "passthrough_prefixes": ondemand_core::models::PASSTHROUGH_PREFIXES,
    }))
    .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAlias {
    alias: String,
    endpoint_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AliasTarget {
    endpoint_id: String,
}

pub async fn create_alias(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewAlias>,
) -> Answer {
    state
        .control()
        .put_alias(state.engine(), &input.alias, &input.endpoint_id, true)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"alias": input.alias.trim(), "endpoint_id": input.endpoint_id.trim()})),
    )
        .into_response())
}

/// Sets where an alias points (a built-in one is overridden).
pub async fn put_alias(
    State(state): State<AppState>,
    Path(alias): Path<String>,
    JsonBody(input): JsonBody<AliasTarget>,
) -> Answer {
    state
        .control()
        .put_alias(state.engine(), &alias, &input.endpoint_id, false)
        .await?;
    Ok(Json(json!({"alias": alias, "endpoint_id": input.endpoint_id.trim()})).into_response())
}

pub async fn delete_alias(State(state): State<AppState>, Path(alias): Path<String>) -> Answer {
    state.control().delete_alias(state.engine(), &alias).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn get_settings(State(state): State<AppState>) -> Answer {
    Ok(Json(json!({ "data": state.control().settings_view(state.engine()) })).into_response())
}

/// `{"key": value, …}`; `null` resets a key. All apply at once, or none.
pub async fn update_settings(
    State(state): State<AppState>,
    JsonBody(changes): JsonBody<Map<String, Value>>,
) -> Answer {
    let keys: Vec<String> = changes.keys().cloned().collect();
    state
        .control()
        .update_settings(state.engine(), changes)
        .await?;
    tracing::info!(?keys, "settings changed");
    get_settings(State(state)).await
}

/// Whether `/v1/*` is paused, the proxy-wide upstream problem if one stands, and what the
/// session cleanup has done.
pub async fn get_proxy(State(state): State<AppState>) -> Answer {
    let engine = state.engine();
    Ok(Json(json!({
        "paused": state.paused(),
        "upstream_problem": engine.problem(),
        "session_cleanup": {
            "enabled": engine.settings().delete_sessions,
            "stats": engine.janitor_stats(),
        },
    }))
    .into_response())
}

/// One endpoint of the live catalogue as the admin API shows it.
#[derive(Serialize)]
pub struct EndpointView<'a> {
    #[serde(flatten)]
    endpoint: &'a ondemand_core::endpoints::Endpoint,
    /// The OpenAI-style name clients may use (`byoi-…` endpoints have none).
    clean_id: Option<String>,
    /// Active and listed by some account now: requests may use it.
    available: bool,
    /// The accounts whose last good read lists it.
    accounts: Vec<&'a str>,
}

/// What one account's reads of the catalogue gave.
#[derive(Serialize)]
pub struct CatalogueReadView<'a> {
    account: &'a str,
    ok_at: Option<i64>,
    error: Option<&'a str>,
    error_at: Option<i64>,
    endpoints: usize,
}

fn catalogue_view(catalogue: &ondemand_core::endpoints::EndpointCatalog) -> Value {
    let endpoints: Vec<EndpointView<'_>> = catalogue
        .endpoints()
        .map(|e| EndpointView {
            endpoint: e,
            clean_id: e.clean_id(),
            available: catalogue.available(&e.id),
            accounts: catalogue.seen_by(&e.id),
        })
        .collect();
    let reads: Vec<CatalogueReadView<'_>> = catalogue
        .accounts()
        .map(|(account, view)| CatalogueReadView {
            account,
            ok_at: view.ok_ms,
            error: view.error.as_deref(),
            error_at: view.error_ms,
            endpoints: view.endpoints.len(),
        })
        .collect();
    json!({
        "known": catalogue.is_known(),
        "refresh_every_s": ondemand_core::control::REFRESH_EVERY.as_secs(),
        "reads": reads,
        "endpoints": endpoints,
    })
}

/// The live endpoint catalogue: every endpoint seen, which are available, which account
/// sees which, and how each account's last read went.
pub async fn get_catalogue(State(state): State<AppState>) -> Answer {
    Ok(Json(catalogue_view(&state.engine().endpoints())).into_response())
}

/// Reads every account's catalogue now; answers with the result (a failed read keeps the
/// last good list and shows its error).
pub async fn refresh_catalogue(State(state): State<AppState>) -> Answer {
    let catalogue = state
        .control()
        .refresh_endpoints(state.engine(), None)
        .await?;
    Ok(Json(catalogue_view(&catalogue)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyInput {
    paused: bool,
}

/// Pauses or resumes `/v1/*` (the dashboard and this API keep working).
pub async fn put_proxy(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<ProxyInput>,
) -> Answer {
    state.set_paused(input.paused);
    get_proxy(State(state)).await
}

#[derive(Deserialize)]
pub struct ExportQuery {
    /// Include account secrets and token hashes.
    #[serde(default)]
    secrets: bool,
}

pub async fn export(State(state): State<AppState>, Params(query): Params<ExportQuery>) -> Answer {
    let doc = state.control().export(query.secrets).await?;
    if query.secrets {
        tracing::info!("exported with secrets");
    }
    let name = if query.secrets {
        "ondemand-proxy-export-with-secrets.json"
    } else {
        "ondemand-proxy-export.json"
    };
    Ok((
        [(
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )],
        Json(doc),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ImportQuery {
    /// `skip` (default) keeps entries that exist here; `replace` overwrites them.
    mode: Option<String>,
}

pub async fn import(
    State(state): State<AppState>,
    Params(query): Params<ImportQuery>,
    JsonBody(doc): JsonBody<ExportDocument>,
) -> Answer {
    let mode = match query.mode.as_deref() {
        None | Some("skip") => ImportMode::Skip,
        Some("replace") => ImportMode::Replace,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "`mode` must be skip or replace, got {other:?}."
            ))
            .with_param("mode"));
        }
    };
    let report = state.control().import(state.engine(), doc, mode).await?;
    Ok(Json(report).into_response())
}
