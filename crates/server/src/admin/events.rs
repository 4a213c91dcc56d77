//! `GET /api/events`: the live dashboard's Server-Sent Events.
//!
//! Every interval (1 s by default) a listener gets one `tick` (running totals, per-second
//! rates, requests in flight, account health) and, when requests finished since the last
//! one, one `requests` event with the newest of them and a count of those left out. A burst
//! of thousands of requests therefore costs each listener two small messages a second.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Params;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use ondemand_core::engine::UpstreamProblem;
use ondemand_core::store::live::Totals;
use ondemand_core::store::usage::UsageEvent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::stats::AccountCount;
use crate::AppState;
use crate::error::ApiError;

/// Requests sent per update at most; the rest are counted as `skipped`.
const MAX_EVENTS: usize = 50;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Milliseconds between updates, 100–60000 (default 1000).
    interval_ms: Option<u64>,
}

/// The `tick` event: running totals and rates.
#[derive(Debug, Serialize, ToSchema)]
pub struct Tick {
    ts: i64,
    totals: Totals,
    per_second: Rates,
    in_flight: u32,
    accounts: AccountCount,
    /// `/v1/*` is paused (503 to clients).
    paused: bool,
    upstream_problem: Option<UpstreamProblem>,
}

/// [`Totals`] per second since the last tick.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rates {
    requests: f64,
    errors: f64,
    input_tokens: f64,
    output_tokens: f64,
}

/// The `requests` event: requests that finished since the last one.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestsUpdate {
    /// The newest of them, oldest first.
    events: Vec<UsageEvent>,
    /// How many more finished than are sent.
    skipped: u64,
}

/// Live events (Server-Sent Events): a `tick` ([`Tick`]) every interval, and a `requests`
/// event ([`RequestsUpdate`]) when requests finished.
#[utoipa::path(get, path = "/api/events", tag = "stats", params(EventsQuery),
    responses((status = 200, description = "`tick` and `requests` events", content_type = "text/event-stream", body = String)))]
pub async fn events(State(state): State<AppState>, Params(query): Params<EventsQuery>) -> Response {
    let interval_ms = query.interval_ms.unwrap_or(1000);
    if !(100..=60_000).contains(&interval_ms) {
        return ApiError::invalid("`interval_ms` must be from 100 to 60000.")
            .with_param("interval_ms")
            .into_response();
    }
    let closing = state.closing();
    // The stream ends when the server shuts down, or a graceful shutdown would wait for
    // every open dashboard to be closed.
    Sse::new(updates(state, Duration::from_millis(interval_ms)).take_until(closing))
        .keep_alive(KeepAlive::default())
        .into_response()
}

struct Listener {
    state: AppState,
    interval: tokio::time::Interval,
    seq: u64,
    last: (Totals, Instant),
    /// A `requests` event waiting to go out after the tick that read it.
    pending: Option<Event>,
}

fn updates(state: AppState, every: Duration) -> impl Stream<Item = Result<Event, Infallible>> {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let update = state.engine().watch.live.since(u64::MAX, 0);
    let listener = Listener {
        seq: update.seq,
        last: (update.totals, Instant::now()),
        state,
        interval,
        pending: None,
    };
    futures_util::stream::unfold(listener, |mut l| async move {
        if let Some(event) = l.pending.take() {
            return Some((Ok(event), l));
        }
        l.interval.tick().await;
        let engine = l.state.engine();
        let update = engine.watch.live.since(l.seq, MAX_EVENTS);
        let now = Instant::now();
        let elapsed = now.duration_since(l.last.1).as_secs_f64().max(0.001);
        let (before, t) = (l.last.0, update.totals);
        let rate = |a: u64, b: u64| (a.saturating_sub(b)) as f64 / elapsed;
        let health = l.state.summary();
        let tick = Tick {
            ts: ondemand_core::clock::now_ms(),
            totals: t,
            per_second: Rates {
                requests: rate(t.requests, before.requests),
                errors: rate(t.errors, before.errors),
                input_tokens: rate(t.input_tokens, before.input_tokens),
                output_tokens: rate(t.output_tokens, before.output_tokens),
            },
            in_flight: health.pool.in_flight,
            accounts: AccountCount::of(&l.state),
            paused: health.paused,
            upstream_problem: engine.problem(),
        };
        if !update.events.is_empty() {
            let requests = RequestsUpdate {
                events: update.events,
                skipped: update.skipped,
            };
            l.pending = Event::default().event("requests").json_data(requests).ok();
        }
        l.seq = update.seq;
        l.last = (t, now);
        let event = Event::default()
            .event("tick")
            .json_data(tick)
            .unwrap_or_else(|_| Event::default().comment("tick"));
        Some((Ok(event), l))
    })
}

/// This subject's routes.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}
