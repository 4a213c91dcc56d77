//! *Diagnose*: the doctor run from the dashboard ([`ondemand_core::upstream::doctor`]), for
//! one account or every enabled one. Never by itself; one run at a time.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ondemand_core::engine::DoctorRefusal;
use ondemand_core::upstream::doctor::Report;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Answer;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonBody;

/// What to check.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DoctorAsk {
    /// An account's id; none: every enabled account.
    #[serde(default)]
    account: Option<i64>,
    /// Include the media step (a 1×1 PNG to the image agent, then deleted).
    #[serde(default)]
    media: bool,
    /// Run even for an account resting after a 429.
    #[serde(default)]
    force: bool,
}

/// The reports, the same as text (to copy into a bug report), and the worst exit status.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorRun {
    reports: Vec<Report>,
    text: String,
    /// As `doctor`'s: 0 clean, 1 deviations or failures, 2 on-demand.io not reached.
    exit_code: u8,
    /// Where the report was kept in the data directory, if it could be.
    file: Option<String>,
}

/// Checks the real on-demand.io with one account (or each enabled one) against what the
/// proxy expects: about six small upstream calls an account. Refused with 409 while another
/// run goes on, or while the account rests after a 429 (unless `force`).
#[utoipa::path(post, path = "/api/doctor", tag = "accounts", request_body = DoctorAsk,
    responses((status = 200, body = DoctorRun), (status = 409, description = "Busy, or the account rests")))]
pub async fn run(
    State(state): State<AppState>,
    JsonBody(ask): JsonBody<DoctorAsk>,
) -> Answer<DoctorRun> {
    let Ok(_one_at_a_time) = state.doctor_running().try_lock() else {
        return Err(conflict(
            "doctor_running",
            "A checkup is already running.".into(),
        ));
    };
    let name = match ask.account {
        Some(id) => Some(state.control().account(id).await?.config.name().to_owned()),
        None => None,
    };
    let reports = state
        .engine()
        .doctor(name.as_deref(), ask.media, ask.force)
        .await
        .map_err(|refusal| {
            let code = match refusal {
                DoctorRefusal::Resting(_) => "account_resting",
                DoctorRefusal::NoAccounts | DoctorRefusal::NoSuchAccount(_) => "no_account",
            };
            conflict(code, refusal.to_string())
        })?;
    let data_dir = state.store().path().parent().map(std::path::Path::to_owned);
    let file = data_dir
        .and_then(|dir| {
            crate::doctor::keep(&dir, &reports)
                .map_err(|error| tracing::warn!(%error, "keeping the doctor's report failed"))
                .ok()
        })
        .map(|path| path.display().to_string());
    Ok(Json(DoctorRun {
        text: reports
            .iter()
            .map(Report::text)
            .collect::<Vec<_>>()
            .join("\n"),
        exit_code: crate::doctor::exit_code(&reports),
        reports,
        file,
    }))
}

fn conflict(code: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "invalid_request_error",
        Some(code),
        message,
    )
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run))
}
