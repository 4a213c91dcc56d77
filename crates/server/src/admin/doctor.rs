//! *Diagnose*: the doctor run from the dashboard ([`ondemand_core::upstream::doctor`]), for
//! one account or every enabled one, its steps sent as they end. Never by itself; one run
//! at a time.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use ondemand_core::engine::DoctorRefusal;
use ondemand_core::upstream::doctor::{Report, Step};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorKind};
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

/// One line of the answer: a step as it ended (with its account's hash), or, last, the run.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    done: Option<DoctorRun>,
}

/// Checks the real on-demand.io with one account (or each enabled one) against what the
/// proxy expects: about six small upstream calls an account. The answer is JSON lines: each
/// step as it ends, then the whole run (`done`). Refused with 409 while another run goes on,
/// or while the account rests after a 429 (unless `force`).
#[utoipa::path(post, path = "/api/doctor", tag = "accounts", request_body = DoctorAsk,
    responses((status = 200, content_type = "application/x-ndjson", body = DoctorLine,
        description = "One line a step as it ends, then the run"),
        (status = 409, description = "Busy, or the account rests")))]
pub async fn run(
    State(state): State<AppState>,
    JsonBody(ask): JsonBody<DoctorAsk>,
) -> Result<Response, ApiError> {
    let Ok(one_at_a_time) = state.doctor_running().try_lock_owned() else {
        return Err(ApiError::new(
            ErrorKind::DoctorRunning,
            "A checkup is already running.",
        ));
    };
    let name = match ask.account {
        Some(id) => Some(state.control().account(id).await?.config.name().to_owned()),
        None => None,
    };
    let engine = state.engine_arc();
    let accounts = engine
        .doctor_accounts(name.as_deref(), ask.force)
        .map_err(|refusal| {
            let kind = match refusal {
                DoctorRefusal::Resting(_) => ErrorKind::AccountResting,
                DoctorRefusal::NoAccounts | DoctorRefusal::NoSuchAccount(_) => ErrorKind::NoAccount,
            };
            ApiError::new(kind, refusal.to_string())
        })?;
    let (lines, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let data_dir = state.data_dir();
    tokio::spawn(async move {
        let _one_at_a_time = one_at_a_time;
        let tell = |account: &str, step: &Step| {
            let line = DoctorLine {
                account: Some(account.to_owned()),
                step: Some(step.clone()),
                done: None,
            };
            let _ = lines.send(ndjson(&line));
        };
        let reports = engine.doctor(&accounts, ask.media, &tell).await;
        let file = data_dir
            .and_then(|dir| {
                crate::doctor::keep(&dir, &reports)
                    .map_err(|error| tracing::warn!(%error, "keeping the doctor's report failed"))
                    .ok()
            })
            .map(|path| path.display().to_string());
        let done = DoctorRun {
            text: reports
                .iter()
                .map(Report::text)
                .collect::<Vec<_>>()
                .join("\n"),
            exit_code: crate::doctor::exit_code(&reports),
            reports,
            file,
        };
        let _ = lines.send(ndjson(&DoctorLine {
            account: None,
            step: None,
            done: Some(done),
        }));
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, Infallible>(line), rx))
    });
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

fn ndjson(line: &DoctorLine) -> String {
    let mut text = serde_json::to_string(line).unwrap_or_default();
    text.push('\n');
    text
}

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run))
}
