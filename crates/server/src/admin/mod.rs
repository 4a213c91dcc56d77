//! The admin API under `/api/`: what the web UI reads and changes. JSON in, JSON out, errors
//! in the same envelope as `/v1/*`. Every route but `/api/login` and `/api/openapi.json`
//! requires the admin credential ([`auth`]). This file holds the statistics; [`manage`] the
//! routes that change things; [`events`] the live stream.

pub mod auth;
mod events;
mod manage;

use axum::Json;
use axum::extract::State;

use crate::extract::Params;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Router, middleware};
use ondemand_core::store::usage::{self, Dimension, Outcome, RequestFilter, UsageEvent};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

pub fn router(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/logout", post(auth::logout))
        .route("/session", get(session))
        .route(
            "/accounts",
            get(manage::list_accounts).post(manage::create_account),
        )
        .route(
            "/accounts/{id}",
            get(manage::get_account)
                .patch(manage::update_account)
                .delete(manage::delete_account),
        )
        .route("/accounts/{id}/test", post(manage::test_account))
        .route("/accounts/{id}/reset", post(manage::reset_account))
        .route(
            "/tokens",
            get(manage::list_tokens).post(manage::create_token),
        )
        .route(
            "/tokens/{id}",
            get(manage::get_token)
                .patch(manage::update_token)
                .delete(manage::delete_token),
        )
        .route(
            "/aliases",
            get(manage::list_aliases).post(manage::create_alias),
        )
        .route(
            "/aliases/{alias}",
            put(manage::put_alias).delete(manage::delete_alias),
        )
        .route(
            "/settings",
            get(manage::get_settings).patch(manage::update_settings),
        )
        .route("/proxy", get(manage::get_proxy).put(manage::put_proxy))
        .route("/catalogue", get(manage::get_catalogue))
        .route("/catalogue/refresh", post(manage::refresh_catalogue))
        .route("/export", get(manage::export))
        .route("/import", post(manage::import))
        .route("/events", get(events::events))
        .route("/stats/overview", get(overview))
        .route("/stats/series", get(series))
        .route("/stats/breakdown", get(breakdown))
        .route("/requests", get(requests))
        .route_layer(middleware::from_fn_with_state(state, auth::require_admin));
    let open = Router::new()
        .route("/login", post(auth::login))
        .route("/openapi.json", get(openapi))
        .route_layer(middleware::from_fn(auth::require_local_host));
    protected.merge(open)
}

/// Whether the caller is signed in (this answers only when it is), and what it talks to.
async fn session() -> Response {
    Json(json!({ "authenticated": true, "version": env!("CARGO_PKG_VERSION") })).into_response()
}

/// The OpenAPI document of `/api/*` (open, like any API description; it holds no data).
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

/// Written by hand and checked by a test against the router's routes.
pub const OPENAPI: &str = include_str!("openapi.json");

fn store_failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "admin query failed");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        Some("store_error"),
        "The database could not answer; see the log.",
    )
    .into_response()
}

#[derive(Deserialize)]
struct Range {
    /// Unix ms, inclusive; default 24 hours ago.
    from: Option<i64>,
    /// Unix ms, exclusive; default now.
    to: Option<i64>,
}

async fn overview(State(state): State<AppState>, Params(range): Params<Range>) -> Response {
    let to = range.to.unwrap_or_else(ondemand_core::store::now_ms);
    let from = range.from.unwrap_or(to - 86_400_000);
    if from >= to {
        return ApiError::invalid("`from` must be before `to`.")
            .with_param("from")
            .into_response();
    }
    let figures = match state
        .store()
        .read(move |conn| usage::overview(conn, from, to))
        .await
    {
        Ok(figures) => figures,
        Err(e) => return store_failed(e),
    };
    let health = state.summary();
    Json(json!({
        "from": from, "to": to,
        "requests": figures.requests,
        "successes": figures.successes,
        "success_rate": if figures.requests == 0 { None } else { Some(figures.successes as f64 / figures.requests as f64) },
        "input_tokens": figures.input_tokens,
        "output_tokens": figures.output_tokens,
        "estimated_tokens": figures.estimated_tokens,
        "latency_ms_avg": figures.latency_ms_avg,
        "latency_ms_p50": figures.latency_ms_p50,
        "latency_ms_p95": figures.latency_ms_p95,
        "ttft_ms_p50": figures.ttft_ms_p50,
        "ttft_ms_p95": figures.ttft_ms_p95,
        "accounts": {"total": health.pool.accounts, "healthy": health.pool.healthy},
        "upstream_problem": state.engine().problem(),
    }))
    .into_response()
}

/// Most buckets one series may have (a year of days, or ~80 days of hours).
const MAX_BUCKETS: i64 = 2_000;

#[derive(Deserialize)]
struct SeriesQuery {
    /// `hour` or `day`.
    bucket: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
    /// The caller's offset from UTC in minutes, east positive (UTC+8 is 480).
    tz_offset: Option<i64>,
}

async fn series(State(state): State<AppState>, Params(query): Params<SeriesQuery>) -> Response {
    let q = query;
    let bucket_ms = match q.bucket.as_deref().unwrap_or("hour") {
        "hour" => 3_600_000,
        "day" => 86_400_000,
        other => {
            return ApiError::invalid(format!("`bucket` must be hour or day, got {other:?}."))
                .with_param("bucket")
                .into_response();
        }
    };
    let offset_minutes = q.tz_offset.unwrap_or(0);
    if !(-14 * 60..=14 * 60).contains(&offset_minutes) {
        return ApiError::invalid("`tz_offset` must be minutes from -840 to 840.")
            .with_param("tz_offset")
            .into_response();
    }
    let to = q.to.unwrap_or_else(ondemand_core::store::now_ms);
    let from = q.from.unwrap_or(
        to - if bucket_ms == 3_600_000 {
            86_400_000
        } else {
            30 * 86_400_000
        },
    );
    if from >= to {
        return ApiError::invalid("`from` must be before `to`.")
            .with_param("from")
            .into_response();
    }
    if (to - from) / bucket_ms > MAX_BUCKETS {
        return ApiError::invalid(format!(
            "At most {MAX_BUCKETS} buckets per series; narrow the range or use day buckets."
        ))
        .with_param("from")
        .into_response();
    }
    let offset_ms = offset_minutes * 60_000;
    match state
        .store()
        .read(move |conn| usage::series(conn, from, to, bucket_ms, offset_ms))
        .await
    {
        Ok(data) => Json(json!({ "bucket_ms": bucket_ms, "data": data })).into_response(),
        Err(e) => store_failed(e),
    }
}

#[derive(Deserialize)]
struct BreakdownQuery {
    /// `model`, `account` or `token`.
    by: String,
    from: Option<i64>,
    to: Option<i64>,
}

async fn breakdown(
    State(state): State<AppState>,
    Params(query): Params<BreakdownQuery>,
) -> Response {
    let q = query;
    let by = match q.by.as_str() {
        "model" => Dimension::Model,
        "account" => Dimension::Account,
        "token" => Dimension::Token,
        other => {
            return ApiError::invalid(format!(
                "`by` must be model, account or token, got {other:?}."
            ))
            .with_param("by")
            .into_response();
        }
    };
    let to = q.to.unwrap_or_else(ondemand_core::store::now_ms);
    let from = q.from.unwrap_or(to - 86_400_000);
    match state
        .store()
        .read(move |conn| usage::breakdown(conn, from, to, by))
        .await
    {
        Ok(data) => Json(json!({ "data": data })).into_response(),
        Err(e) => store_failed(e),
    }
}

#[derive(Deserialize)]
struct RequestsQuery {
    /// Return rows older than this id (the previous page's `next_before`).
    before: Option<i64>,
    /// 1–1000, default 50.
    limit: Option<u32>,
    /// `ok` or `error`.
    outcome: Option<String>,
    model: Option<String>,
    account: Option<String>,
    token: Option<String>,
    from: Option<i64>,
    to: Option<i64>,
}

#[derive(Serialize)]
struct RequestView {
    id: i64,
    #[serde(flatten)]
    event: EventView,
}

/// The wire form of a usage row.
#[derive(Serialize)]
pub(crate) struct EventView {
    ts: i64,
    client_token: String,
    account: Option<String>,
    model: String,
    endpoint_id: Option<String>,
    stream: bool,
    status: u16,
    error_class: Option<String>,
    attempts: u32,
    latency_ms: u32,
    ttft_ms: Option<u32>,
    input_tokens: u64,
    output_tokens: u64,
    tokens_estimated: bool,
    session_reused: bool,
    /// The attempts that failed before the outcome: account, status, code, message.
    failed_attempts: Vec<ondemand_core::store::usage::FailedAttempt>,
    /// What the proxy changed about the request to suit its endpoint, one note per line.
    notes: Option<String>,
}

impl From<UsageEvent> for EventView {
    fn from(e: UsageEvent) -> Self {
        Self {
            ts: e.ts,
            client_token: e.client_token,
            account: e.account,
            model: e.model,
            endpoint_id: e.endpoint_id,
            stream: e.stream,
            status: e.status,
            error_class: e.error_class,
            attempts: e.attempts,
            latency_ms: e.latency_ms,
            ttft_ms: e.ttft_ms,
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            tokens_estimated: e.tokens_estimated,
            session_reused: e.session_reused,
            failed_attempts: e.failed_attempts,
            notes: e.notes,
        }
    }
}

async fn requests(State(state): State<AppState>, Params(query): Params<RequestsQuery>) -> Response {
    let q = query;
    let outcome = match q.outcome.as_deref() {
        None | Some("") => None,
        Some("ok") => Some(Outcome::Ok),
        Some("error") => Some(Outcome::Error),
        Some(other) => {
            return ApiError::invalid(format!("`outcome` must be ok or error, got {other:?}."))
                .with_param("outcome")
                .into_response();
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return ApiError::invalid("`limit` must be from 1 to 1000.")
            .with_param("limit")
            .into_response();
    }
    let filter = RequestFilter {
        outcome,
        model: q.model,
        account: q.account,
        client_token: q.token,
        from_ms: q.from,
        to_ms: q.to,
    };
    let before = q.before;
    let rows = match state
        .store()
        .read(move |conn| usage::page(conn, before, limit, &filter))
        .await
    {
        Ok(rows) => rows,
        Err(e) => return store_failed(e),
    };
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|(id, _)| *id))
        .flatten();
    let data: Vec<RequestView> = rows
        .into_iter()
        .map(|(id, event)| RequestView {
            id,
            event: event.into(),
        })
        .collect();
    Json(json!({ "data": data, "next_before": next_before })).into_response()
}
