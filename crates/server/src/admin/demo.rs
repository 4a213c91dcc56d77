//! *Try the demo*: a simulated account beside any real ones, so a new user can send a request
//! and watch the dashboard move before owning an on-demand.io key. Its calls go to the
//! in-process simulated upstream (the one `--demo` runs), never to on-demand.io; removing it
//! is one call. It serves only while there is no real account: adding one ends it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ondemand_core::control::AccountInput;
use ondemand_core::store::accounts::Source;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::accounts::{AccountView, simulated, view_of};
use crate::AppState;
use crate::error::{ApiError, ErrorKind};

/// The name of the account *Try the demo* adds.
pub const DEMO_ACCOUNT: &str = "Demo (simulated)";

/// Adds the simulated account (starting the simulated upstream), or returns the one there is.
/// Refused while a real account exists; adding a real account removes it.
#[utoipa::path(post, path = "/api/demo", tag = "accounts",
    responses((status = 201, body = AccountView, description = "Added"),
        (status = 200, body = AccountView, description = "There was one already"),
        (status = 409, description = "A real account exists")))]
pub async fn start(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<AccountView>), ApiError> {
    let _one_at_a_time = state.demo_change().await;
    let rows = state.control().accounts().await?;
    if let Some(row) = rows.iter().find(|r| simulated(r)) {
        return Ok((StatusCode::OK, Json(view_of(&state, row))));
    }
    if rows.iter().any(|r| !simulated(r)) {
        return Err(ApiError::new(
            ErrorKind::DemoBesideReal,
            "The demo runs only while there is no real account: a simulated account never \
             serves beside a real one.",
        ));
    }
    state.simulate().map_err(|error| {
        tracing::warn!(%error, "the simulated upstream could not start");
        ApiError::new(
            ErrorKind::DemoUnavailable,
            format!("The simulated upstream could not start: {error}"),
        )
    })?;
    let input = AccountInput {
        name: Some(DEMO_ACCOUNT.to_owned()),
        api_key: Some(ondemand_core::upstream::simulated_key().expose().to_owned()),
        ..AccountInput::default()
    };
    let row = state
        .control()
        .create_account(state.engine(), input)
        .await?;
    tracing::info!(account = %row.config.name(), "demo account added");
    Ok((StatusCode::CREATED, Json(view_of(&state, &row))))
}

/// Removes the simulated accounts added here (their usage history stays).
#[utoipa::path(delete, path = "/api/demo", tag = "accounts",
    responses((status = 204, description = "Removed")))]
pub async fn end(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    let _one_at_a_time = state.demo_change().await;
    let rows = state.control().accounts().await?;
    for row in rows
        .iter()
        .filter(|r| simulated(r) && r.source == Source::Api)
    {
        state
            .control()
            .delete_account(state.engine(), row.id)
            .await?;
        tracing::info!(account = %row.config.name(), "demo account removed");
    }
    Ok(StatusCode::NO_CONTENT)
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start, end))
}
