//! Legacy completions, `POST /v1/completions`: a prompt in, `text_completion` objects out.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ondemand_core::completions::{self, CompletionRequest, TextEncoder};

use super::pipeline::{Admitted, Answering};
use crate::AppState;

pub async fn completions(
    State(state): State<AppState>,
    Admitted(request, mut admission): Answering<CompletionRequest>,
) -> Result<Response, Response> {
    let decoded = completions::decode(request).map_err(|e| admission.refuse_plan(e))?;
    let plan = admission.plan(&state, decoded.request)?;
    let (echo, whole_echo) = (decoded.echo.clone(), decoded.echo);
    let encoder = move |plan: &_| TextEncoder::new(plan, echo);
    let whole = move |plan: &_, done| {
        let body = completions::completion(plan, whole_echo.as_deref(), &done);
        std::future::ready(Json(body).into_response())
    };
    Ok(admission.answer(&state, plan, encoder, whole).await)
}
