//! Models: the alias table and the live endpoint catalogue.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ondemand_core::control::{AliasView, PatternsView};
use ondemand_core::endpoints::{Endpoint, EndpointCatalog};
use ondemand_core::models::PASSTHROUGH_PREFIXES;
use ondemand_core::models::Pattern;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Answer;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::{JsonBody, PathText};

/// The alias table, built-in and custom.
#[derive(Debug, Serialize, ToSchema)]
pub struct Aliases {
    data: Vec<AliasView>,
    /// Native ids with these prefixes pass through as model names.
    passthrough_prefixes: Vec<&'static str>,
}

/// The alias table: built-in and custom.
#[utoipa::path(get, path = "/api/aliases", tag = "models",
    responses((status = 200, body = Aliases)))]
pub async fn list_aliases(State(state): State<AppState>) -> Answer<Aliases> {
    let data = state.control().aliases(state.engine()).await?;
    Ok(Json(Aliases {
        data,
        passthrough_prefixes: PASSTHROUGH_PREFIXES.to_vec(),
    }))
}

/// An alias and where it points.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAlias {
    alias: String,
    endpoint_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasTarget {
    endpoint_id: String,
}

/// Adds an alias (a built-in name is overridden).
#[utoipa::path(post, path = "/api/aliases", tag = "models", request_body = NewAlias,
    responses((status = 201, body = NewAlias)))]
pub async fn create_alias(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewAlias>,
) -> Result<(StatusCode, Json<NewAlias>), ApiError> {
    state
        .control()
        .put_alias(state.engine(), &input.alias, &input.endpoint_id, true)
        .await?;
    let alias = NewAlias {
        alias: input.alias.trim().to_owned(),
        endpoint_id: input.endpoint_id.trim().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(alias)))
}

/// Points an alias at an endpoint (creates it, or overrides a built-in one).
#[utoipa::path(put, path = "/api/aliases/{alias}", tag = "models", params(("alias" = String, Path)),
    request_body = AliasTarget, responses((status = 200, body = NewAlias)))]
pub async fn put_alias(
    State(state): State<AppState>,
    PathText(alias): PathText,
    JsonBody(input): JsonBody<AliasTarget>,
) -> Answer<NewAlias> {
    state
        .control()
        .put_alias(state.engine(), &alias, &input.endpoint_id, false)
        .await?;
    Ok(Json(NewAlias {
        alias,
        endpoint_id: input.endpoint_id.trim().to_owned(),
    }))
}

/// Deletes a custom alias (a built-in one it overrode comes back).
#[utoipa::path(delete, path = "/api/aliases/{alias}", tag = "models", params(("alias" = String, Path)),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_alias(
    State(state): State<AppState>,
    PathText(alias): PathText,
) -> Result<StatusCode, ApiError> {
    state.control().delete_alias(state.engine(), &alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The model patterns: the names agents send, and where they go.
#[utoipa::path(get, path = "/api/patterns", tag = "models",
    responses((status = 200, body = PatternsView)))]
pub async fn list_patterns(State(state): State<AppState>) -> Answer<PatternsView> {
    Ok(Json(state.control().patterns(state.engine()).await?))
}

/// The whole ordered list of patterns, to replace the current one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPatterns {
    patterns: Vec<Pattern>,
}

/// Replaces the pattern list (an empty list brings the built-in one back).
#[utoipa::path(put, path = "/api/patterns", tag = "models", request_body = NewPatterns,
    responses((status = 200, body = PatternsView)))]
pub async fn put_patterns(
    State(state): State<AppState>,
    JsonBody(input): JsonBody<NewPatterns>,
) -> Answer<PatternsView> {
    let control = state.control();
    control.put_patterns(state.engine(), input.patterns).await?;
    Ok(Json(control.patterns(state.engine()).await?))
}

/// Brings the built-in pattern list back.
#[utoipa::path(delete, path = "/api/patterns", tag = "models",
    responses((status = 200, body = PatternsView)))]
pub async fn reset_patterns(State(state): State<AppState>) -> Answer<PatternsView> {
    let control = state.control();
    control.put_patterns(state.engine(), Vec::new()).await?;
    Ok(Json(control.patterns(state.engine()).await?))
}

/// One endpoint of the live catalogue as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Endpoint)]
pub struct EndpointView {
    #[serde(flatten)]
    endpoint: Endpoint,
    /// The OpenAI-style name clients may use (`byoi-…` endpoints have none).
    clean_id: Option<String>,
    /// Active and listed by some account now: requests may use it.
    available: bool,
    /// The accounts whose last good read lists it.
    accounts: Vec<String>,
}

/// What one account's reads of the catalogue gave.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueRead {
    account: String,
    /// When a read last succeeded (Unix ms).
    ok_at: Option<i64>,
    /// The last read's error, if it failed (the list is then the last good one).
    error: Option<String>,
    error_at: Option<i64>,
    endpoints: usize,
}

/// The live endpoint catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalogue {
    /// Whether any read succeeded; without one the alias table is the catalogue.
    known: bool,
    refresh_every_s: u64,
    reads: Vec<CatalogueRead>,
    endpoints: Vec<EndpointView>,
}

impl Catalogue {
    fn of(catalogue: &EndpointCatalog, refresh_every: Duration) -> Self {
        let endpoints = catalogue
            .endpoints()
            .map(|e| EndpointView {
                clean_id: e.clean_id(),
                available: catalogue.available(&e.id),
                accounts: catalogue
                    .seen_by(&e.id)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                endpoint: e.clone(),
            })
            .collect();
        let reads = catalogue
            .accounts()
            .map(|(account, view)| CatalogueRead {
                account: account.to_owned(),
                ok_at: view.ok_ms,
                error: view.error.clone(),
                error_at: view.error_ms,
                endpoints: view.endpoints.len(),
            })
            .collect();
        Self {
            known: catalogue.is_known(),
            refresh_every_s: refresh_every.as_secs(),
            reads,
            endpoints,
        }
    }
}

/// The live endpoint catalogue: every endpoint seen, which are available, which account
/// sees which, and how each account's last read went.
#[utoipa::path(get, path = "/api/catalogue", tag = "models",
    responses((status = 200, body = Catalogue)))]
pub async fn catalogue(State(state): State<AppState>) -> Answer<Catalogue> {
    let engine = state.engine();
    let every = engine.settings().catalogue_refresh;
    Ok(Json(Catalogue::of(&engine.endpoints(), every)))
}

/// Reads every account's catalogue now and answers with the result (a failed read keeps the
/// last good list and shows its error). At most one read per 10 s: an ask within that gets
/// the catalogue just read.
#[utoipa::path(post, path = "/api/catalogue/refresh", tag = "models",
    responses((status = 200, body = Catalogue)))]
pub async fn refresh_catalogue(State(state): State<AppState>) -> Answer<Catalogue> {
    let catalogue = state
        .control()
        .refresh_endpoints_asked(state.engine())
        .await?;
    let every = state.engine().settings().catalogue_refresh;
    Ok(Json(Catalogue::of(&catalogue, every)))
}

/// This subject's routes.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_aliases, create_alias))
        .routes(routes!(put_alias, delete_alias))
        .routes(routes!(list_patterns, put_patterns, reset_patterns))
        .routes(routes!(catalogue))
        .routes(routes!(refresh_catalogue))
}
