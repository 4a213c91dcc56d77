//! Settings, the proxy switch, and export and import.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use ondemand_core::control::{ExportDocument, ImportMode, ImportReport, SettingView};
use ondemand_core::engine::UpstreamProblem;
use ondemand_core::janitor::JanitorStats;
use ondemand_core::upstream::probe::Probe;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, List};
use crate::AppState;
use crate::error::{ApiError, ErrorKind};
use crate::extract::{JsonBody, Params};

/// Every setting: value, default, source, whether editable, and how to show it.
#[utoipa::path(get, path = "/api/settings", tag = "settings",
    responses((status = 200, body = List<SettingView>)))]
pub async fn get(State(state): State<AppState>) -> Answer<List<SettingView>> {
    Ok(Json(state.control().settings_view(state.engine()).into()))
}

/// Changes settings live: `{"key": value, …}`, `null` resets a key. All apply, or none.
#[utoipa::path(patch, path = "/api/settings", tag = "settings",
    request_body(content = Object, description = "Setting keys and their new values; null resets"),
    responses((status = 200, body = List<SettingView>)))]
pub async fn update(
    State(state): State<AppState>,
    JsonBody(changes): JsonBody<Map<String, Value>>,
) -> Answer<List<SettingView>> {
    let keys: Vec<String> = changes.keys().cloned().collect();
    state
        .control()
        .update_settings(state.engine(), changes)
        .await?;
    tracing::info!(?keys, "settings changed");
    get(State(state)).await
}

/// Whether `/v1/*` is paused, a proxy-wide upstream problem, and the session cleanup.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Proxy)]
pub struct ProxyView {
    paused: bool,
    /// A problem every account meets alike (the upstream's firewall, a wrong base URL).
    upstream_problem: Option<UpstreamProblem>,
    session_cleanup: SessionCleanup,
}

/// Whether finished sessions are deleted upstream, and what that has done since start.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCleanup {
    enabled: bool,
    stats: JanitorStats,
}

/// Whether `/v1/*` is paused, the proxy-wide upstream problem if one stands, and what the
/// session cleanup has done.
#[utoipa::path(get, path = "/api/proxy", tag = "settings",
    responses((status = 200, body = ProxyView)))]
pub async fn proxy(State(state): State<AppState>) -> Answer<ProxyView> {
    let engine = state.engine();
    Ok(Json(ProxyView {
        paused: state.paused(),
        upstream_problem: engine.problem(),
        session_cleanup: SessionCleanup {
            enabled: engine.settings().delete_sessions,
            stats: engine.janitor_stats(),
        },
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxyInput {
    paused: bool,
}

/// Pauses or resumes `/v1/*` (paused: a 503 `proxy_paused`; this API keeps working).
#[utoipa::path(put, path = "/api/proxy", tag = "settings", request_body = ProxyInput,
    responses((status = 200, body = ProxyView)))]
pub async fn put_proxy(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<ProxyInput>,
) -> Answer<ProxyView> {
    state.set_paused(input.paused);
    proxy(State(state)).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Include account secrets and token hashes.
    #[serde(default)]
    secrets: bool,
}

/// Accounts, tokens and aliases as one document (a download).
#[utoipa::path(get, path = "/api/export", tag = "transfer", params(ExportQuery),
    responses((status = 200, body = ExportDocument)))]
pub async fn export(
    State(state): State<AppState>,
    Params(query): Params<ExportQuery>,
) -> Result<impl IntoResponse, ApiError> {
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
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )],
        Json(doc),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `skip` (default) keeps entries that exist here; `replace` overwrites them.
    #[param(inline)]
    #[serde(default, deserialize_with = "crate::extract::blank_is_none")]
    mode: Option<ImportMode>,
}

/// Imports a document: checked whole, then applied in one transaction.
#[utoipa::path(post, path = "/api/import", tag = "transfer", params(ImportQuery),
    request_body = ExportDocument, responses((status = 200, body = ImportReport)))]
pub async fn import(
    State(state): State<AppState>,
    Params(query): Params<ImportQuery>,
    JsonBody(doc): JsonBody<ExportDocument>,
) -> Answer<ImportReport> {
    let mode = query.mode.unwrap_or_default();
    let report = state.control().import(state.engine(), doc, mode).await?;
    Ok(Json(report))
}

/// Which way a connection test takes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionTest {
    /// An account's id: its own proxy, and its key for the catalogue call. Without one, the
    /// settings' proxy and no key (the answer is then on-demand.io's 401, which still shows
    /// the way works).
    account: Option<i64>,
}

/// Tests the way to on-demand.io on a new connection: address, TLS version, protocol,
/// certificate issuer, proxy, time, and the catalogue's answer. A failure is a result, so the
/// answer is `200` either way.
#[utoipa::path(post, path = "/api/network/test", tag = "settings", request_body = ConnectionTest,
    responses((status = 200, body = Probe)))]
pub async fn test_connection(
    State(state): State<AppState>,
    JsonBody(test): JsonBody<ConnectionTest>,
) -> Answer<Probe> {
    let name = match test.account {
        Some(id) => Some(state.control().account(id).await?.config.name().to_owned()),
        None => None,
    };
    let probe = state.engine().probe_connection(name.as_deref()).await;
    probe.map(Json).ok_or_else(|| {
        ApiError::new(
            ErrorKind::AccountNotRunning,
            "That account is not in the pool (disabled, or not loaded yet).",
        )
    })
}

/// This subject's routes.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(test_connection))
        .routes(routes!(get, update))
        .routes(routes!(proxy, put_proxy))
        .routes(routes!(export))
        .routes(routes!(import))
}
