//! Usage statistics: totals over a range, a time series, shares, and the request log.

use axum::Json;
use axum::extract::State;
use ondemand_core::clock::now_ms;
use ondemand_core::engine::UpstreamProblem;
use ondemand_core::store::usage::{
    self, Bucket, Dimension, Outcome, Overview, RefusalTally, RequestFilter, Share, UsageEvent,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, List, store_failed};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Id, Params};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// A time range; both ends optional.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// Unix ms, inclusive (default: `span` before `to`).
    from: Option<i64>,
    /// Unix ms, exclusive (default: now).
    to: Option<i64>,
}

/// The latest time a range may name: the end of the year 9999, in Unix ms. Bounding both
/// ends keeps every sum and difference of them far from overflow.
const MAX_MS: i64 = 253_402_300_799_999;

impl Range {
    /// `(from, to)`, with `from` defaulting to `span` before `to`. Times before 1970 or
    /// after 9999 are refused.
    fn resolve(&self, span: i64) -> Result<(i64, i64), ApiError> {
        for (name, value) in [("from", self.from), ("to", self.to)] {
            if value.is_some_and(|v| !(0..=MAX_MS).contains(&v)) {
                return Err(ApiError::invalid(format!(
                    "`{name}` must be Unix milliseconds from 0 to {MAX_MS}."
                ))
                .with_param(name));
            }
        }
        let to = self.to.unwrap_or_else(now_ms);
        let from = self.from.unwrap_or(to.saturating_sub(span).max(0));
        if from >= to {
            return Err(ApiError::invalid("`from` must be before `to`.").with_param("from"));
        }
        Ok((from, to))
    }
}

/// How many accounts there are, and how many can serve now.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountCount {
    total: usize,
    healthy: usize,
}

impl AccountCount {
    pub fn of(state: &AppState) -> Self {
        let pool = state.summary().pool;
        Self {
            total: pool.accounts,
            healthy: pool.healthy,
        }
    }
}

/// Totals over a range.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Overview)]
pub struct OverviewView {
    from: i64,
    to: i64,
    #[serde(flatten)]
    figures: Overview,
    /// Successes over requests; `null` without requests.
    success_rate: Option<f64>,
    accounts: AccountCount,
    upstream_problem: Option<UpstreamProblem>,
}

/// Totals over a range (default: the last 24 hours).
#[utoipa::path(get, path = "/api/stats/overview", tag = "stats", params(Range),
    responses((status = 200, body = OverviewView)))]
pub async fn overview(
    State(state): State<AppState>,
    Params(range): Params<Range>,
) -> Answer<OverviewView> {
    let (from, to) = range.resolve(DAY_MS)?;
    let figures = state
        .store()
        .read(move |conn| usage::overview(conn, from, to))
        .await
        .map_err(store_failed)?;
    Ok(Json(OverviewView {
        from,
        to,
        success_rate: (figures.requests > 0)
            .then(|| figures.successes as f64 / figures.requests as f64),
        figures,
        accounts: AccountCount::of(&state),
        upstream_problem: state.engine().problem(),
    }))
}

/// Most buckets one series may have (a year of days, or ~80 days of hours).
const MAX_BUCKETS: i64 = 2_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SeriesQuery {
    /// `hour` (default) or `day`.
    #[param(inline)]
    bucket: Option<BucketSize>,
    /// Unix ms, inclusive (default: a day, or 30 for day buckets, before `to`).
    from: Option<i64>,
    /// Unix ms, exclusive (default: now).
    to: Option<i64>,
    /// The caller's offset from UTC in minutes, east positive (UTC+8 is 480), -840 to 840.
    tz_offset: Option<i64>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BucketSize {
    Hour,
    Day,
}

/// Buckets of totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct Series {
    bucket_ms: i64,
    data: Vec<Bucket>,
}

/// Hourly or daily buckets in the caller's time zone.
#[utoipa::path(get, path = "/api/stats/series", tag = "stats", params(SeriesQuery),
    responses((status = 200, body = Series)))]
pub async fn series(
    State(state): State<AppState>,
    Params(q): Params<SeriesQuery>,
) -> Answer<Series> {
    let (bucket_ms, span) = match q.bucket.unwrap_or(BucketSize::Hour) {
        BucketSize::Hour => (HOUR_MS, DAY_MS),
        BucketSize::Day => (DAY_MS, 30 * DAY_MS),
    };
    let offset_minutes = q.tz_offset.unwrap_or(0);
    if !(-14 * 60..=14 * 60).contains(&offset_minutes) {
        return Err(
            ApiError::invalid("`tz_offset` must be minutes from -840 to 840.")
                .with_param("tz_offset"),
        );
    }
    let (from, to) = Range {
        from: q.from,
        to: q.to,
    }
    .resolve(span)?;
    if (to - from) / bucket_ms > MAX_BUCKETS {
        return Err(ApiError::invalid(format!(
            "At most {MAX_BUCKETS} buckets per series; narrow the range or use day buckets."
        ))
        .with_param("from"));
    }
    let offset_ms = offset_minutes * 60_000;
    let data = state
        .store()
        .read(move |conn| usage::series(conn, from, to, bucket_ms, offset_ms))
        .await
        .map_err(store_failed)?;
    Ok(Json(Series { bucket_ms, data }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakdownQuery {
    /// What to share by.
    #[param(inline)]
    by: Dimension,
    /// Unix ms, inclusive (default: 24 hours before `to`).
    from: Option<i64>,
    /// Unix ms, exclusive (default: now).
    to: Option<i64>,
}

/// Shares by model, account or client token, largest first.
#[utoipa::path(get, path = "/api/stats/breakdown", tag = "stats", params(BreakdownQuery),
    responses((status = 200, body = List<Share>)))]
pub async fn breakdown(
    State(state): State<AppState>,
    Params(q): Params<BreakdownQuery>,
) -> Answer<List<Share>> {
    let (from, to) = Range {
        from: q.from,
        to: q.to,
    }
    .resolve(DAY_MS)?;
    let by = q.by;
    let data = state
        .store()
        .read(move |conn| usage::breakdown(conn, from, to, by))
        .await
        .map_err(store_failed)?;
    Ok(Json(data.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// Rows older than this id (the previous page's `next_before`).
    before: Option<i64>,
    /// 1–1000, default 50.
    limit: Option<u32>,
    /// Empty is no filter.
    #[param(inline)]
    #[serde(default, deserialize_with = "crate::extract::blank_is_none")]
    outcome: Option<Outcome>,
    /// The model as requested.
    model: Option<String>,
    account: Option<String>,
    /// The client token's name.
    token: Option<String>,
    /// Unix ms, inclusive.
    from: Option<i64>,
    /// Unix ms, exclusive.
    to: Option<i64>,
}

/// One request in the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestRow {
    id: i64,
    #[serde(flatten)]
    event: UsageEvent,
}

/// A page of the request log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestPage {
    data: Vec<RequestRow>,
    /// Pass as `before` for the next page; `null` on the last.
    next_before: Option<i64>,
}

/// Recent requests, newest first, keyset-paged.
#[utoipa::path(get, path = "/api/requests", tag = "stats", params(RequestsQuery),
    responses((status = 200, body = RequestPage)))]
pub async fn requests(
    State(state): State<AppState>,
    Params(q): Params<RequestsQuery>,
) -> Answer<RequestPage> {
    let limit = page_limit(q.limit, 50)?;
    let filter = RequestFilter {
        outcome: q.outcome,
        model: q.model,
        account: q.account,
        client_token: q.token,
        from_ms: q.from,
        to_ms: q.to,
    };
    let before = q.before;
    let rows = state
        .store()
        .read(move |conn| usage::page(conn, before, limit, &filter))
        .await
        .map_err(store_failed)?;
    let next_before = (rows.len() == limit as usize)
        .then(|| rows.last().map(|(id, _)| *id))
        .flatten();
    let data = rows
        .into_iter()
        .map(|(id, event)| RequestRow { id, event })
        .collect();
    Ok(Json(RequestPage { data, next_before }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefusalsQuery {
    /// Unix ms, inclusive (default: an hour before `to`).
    from: Option<i64>,
    /// Unix ms, exclusive (default: now).
    to: Option<i64>,
    /// 1–1000, default 200.
    limit: Option<u32>,
}

/// Refusals counted but not kept as rows: beyond the first of each kind in a minute (which
/// the request log keeps as the sample), per minute, client token and kind, newest first.
#[utoipa::path(get, path = "/api/requests/refusals", tag = "stats", params(RefusalsQuery),
    responses((status = 200, body = List<RefusalTally>)))]
pub async fn refusals(
    State(state): State<AppState>,
    Params(q): Params<RefusalsQuery>,
) -> Answer<List<RefusalTally>> {
    let limit = page_limit(q.limit, 200)?;
    let (from, to) = Range {
        from: q.from,
        to: q.to,
    }
    .resolve(HOUR_MS)?;
    let data = state
        .store()
        .read(move |conn| usage::refusals(conn, from, to, limit))
        .await
        .map_err(store_failed)?;
    Ok(Json(data.into()))
}

/// One request of the log, by its id (a link to it stays good while the row is kept).
#[utoipa::path(get, path = "/api/requests/{id}", tag = "stats", params(("id" = i64, Path)),
    responses((status = 200, body = RequestRow)))]
pub async fn request(State(state): State<AppState>, Id(id): Id) -> Answer<RequestRow> {
    let at_most = Some(id.saturating_add(1));
    let rows = state
        .store()
        .read(move |conn| usage::page(conn, at_most, 1, &RequestFilter::default()))
        .await
        .map_err(store_failed)?;
    match rows.into_iter().next() {
        Some((found, event)) if found == id => Ok(Json(RequestRow { id, event })),
        _ => Err(ApiError::not_found(format!("No request with id {id}."))),
    }
}

/// A page's `limit`: 1–1000, `default` when absent.
fn page_limit(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("`limit` must be from 1 to 1000.").with_param("limit"));
    }
    Ok(limit)
}

/// This subject's routes.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(series))
        .routes(routes!(breakdown))
        .routes(routes!(requests))
        .routes(routes!(refusals))
        .routes(routes!(request))
}
