//! `GET /metrics`: the proxy's metrics for Prometheus ([`ondemand_core::telemetry`]).
//!
//! Opened by the metrics token (`METRICS_TOKEN`), meant for a Prometheus server elsewhere
//! (any `Host`, since a browser never sends a bearer token on its own), or else by the
//! admin credential, with every check `/api` makes. A wrong token counts as a failed admin
//! password, so guessing is throttled alike.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use ondemand_core::telemetry::{CONTENT_TYPE, Scrape};

use crate::AppState;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state, require_metrics))
}

/// The metrics token, or else the admin credential.
async fn require_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let token_matches = state.0.metrics_token.as_ref().is_some_and(|token| {
        crate::extract::bearer(request.headers()).is_some_and(|presented| token.matches(presented))
    });
    if token_matches {
        return next.run(request).await;
    }
    crate::admin::auth::require_admin(State(state), request, next).await
}

async fn metrics(State(state): State<AppState>) -> Response {
    let engine = state.engine();
    if !engine.settings().metrics {
        return crate::error::ApiError::new(
            crate::error::ErrorKind::MetricsOff,
            "Metrics are off: turn on the metrics setting to count them.",
        )
        .into_response();
    }
    let summary = engine.routing.pool.summary(std::time::Instant::now());
    let scrape = Scrape {
        accounts: engine
            .routing
            .pool
            .by_state(std::time::Instant::now())
            .map(|(state, n)| (state.as_str(), n as i64))
            .to_vec(),
        in_flight: summary.in_flight as i64,
        usage_queued: state.usage().queued() as i64,
        usage_dropped: state.usage().dropped(),
    };
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        engine.watch.telemetry.render(&scrape),
    )
        .into_response()
}
