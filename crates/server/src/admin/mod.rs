//! The admin API under `/api/`: what the web UI reads and changes. JSON in, JSON out, errors
//! in the same envelope as `/v1/*`. Every route but `/api/login` and `/api/openapi.json`
//! requires the admin credential ([`auth`]).
//!
//! Each handler declares its route and its types in one `#[utoipa::path]`, and each subject's
//! `routes()` lists its handlers: the router and the OpenAPI document ([`document`], served
//! at `/api/openapi.json`) are both built from those, and the UI's types are generated from
//! the document. Adding a route touches its subject's file only.

mod accounts;
pub mod auth;
mod clients;
mod demo;
mod doctor;
mod events;
mod models;
mod settings;
mod stats;
mod tokens;

use std::sync::LazyLock;

use axum::response::{IntoResponse, Response};
use axum::{Json, Router, middleware};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, ResponseBuilder, content::Content};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorKind};

/// What a handler answers: its JSON, or an error in the envelope.
type Answer<T> = Result<Json<T>, ApiError>;

/// A list of `T` (`{"data": [...]}`, the shape every list has).
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    data: Vec<T>,
}

impl<T> From<Vec<T>> for List<T> {
    fn from(data: Vec<T>) -> Self {
        Self { data }
    }
}

/// The routes that need the admin credential: each subject's, listed beside its handlers.
fn protected() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(accounts::routes())
        .merge(clients::routes())
        .merge(demo::routes())
        .merge(doctor::routes())
        .merge(tokens::routes())
        .merge(models::routes())
        .merge(settings::routes())
        .merge(events::routes())
        .merge(stats::routes())
}

/// The routes open without a sign-in (still only on a local `Host`).
fn open() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::login))
        .routes(routes!(openapi))
}

/// A change runs to its end once it has begun, whether or not the client still waits: a
/// client that gives up during a long import must not leave the database changed and the
/// running proxy unchanged.
async fn finish_changes(request: axum::extract::Request, next: middleware::Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(error) => {
            tracing::error!(%error, "an admin change failed to finish");
            crate::error::ApiError::new(
                ErrorKind::InternalError,
                "The change could not finish; see the log.",
            )
            .into_response()
        }
    }
}

/// Nothing the admin API answers is kept in a cache: exports may hold secrets, and every
/// other answer is live state.
async fn no_store(request: axum::extract::Request, next: middleware::Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// `/api/*`, with its guards (merged at the root: the paths are written whole).
pub fn router(state: AppState) -> Router<AppState> {
    let protected = protected()
        .route_layer(middleware::from_fn(finish_changes))
        .route_layer(middleware::from_fn_with_state(state, auth::require_admin));
    let open = open().route_layer(middleware::from_fn(auth::require_local_host));
    protected
        .merge(open)
        .route_layer(middleware::from_fn(no_store))
        .split_for_parts()
        .0
}

/// The OpenAPI document of `/api/*`, built from the handlers' declarations and types
/// (`ondemand-proxy openapi` prints it).
pub fn document() -> Document {
    let mut doc = Description::openapi();
    doc.merge(protected().merge(open()).into_openapi());
    Description::finish(&mut doc);
    doc
}

static DOCUMENT: LazyLock<String> =
    LazyLock::new(|| document().to_pretty_json().unwrap_or_default());

/// The OpenAPI document of `/api/*` (open, like any API description; it holds no data).
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta", security(()),
    responses((status = 200, description = "This document", content_type = "application/json")))]
async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "OnDemand Proxy admin API",
        version = "1",
        description = "Manage accounts, client tokens, model aliases and settings, and read usage. Errors use the OpenAI envelope. Only localhost or IP-literal Host headers are answered."
    ),
    servers((url = "/")),
    security(("adminPassword" = []), ("session" = [])),
    components(schemas(events::Tick, events::RequestsUpdate, ondemand_core::openai::ErrorEnvelope)),
    modifiers(&Description)
)]
struct Description;

impl Modify for Description {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminPassword",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The admin password"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::COOKIE,
                "From POST /api/login",
            ))),
        );
        components.responses.insert(
            "Error".to_owned(),
            RefOr::T(
                ResponseBuilder::new()
                    .description("An error in the OpenAI envelope")
                    .content(
                        "application/json",
                        Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                            "Error",
                        )))),
                    )
                    .build(),
            ),
        );
    }
}

impl Description {
    /// Every operation may fail with the error envelope: said once here, not per route.
    fn finish(doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                // Handlers are named within their subject (`accounts::list`): the tag makes
                // the id unique.
                if let (Some(tag), Some(id)) = (
                    operation.tags.as_ref().and_then(|t| t.first()),
                    operation.operation_id.as_mut(),
                ) && !id.starts_with(tag.as_str())
                {
                    *id = format!("{tag}_{id}");
                }
                for range in ["4XX", "5XX"] {
                    operation.responses.responses.insert(
                        range.to_owned(),
                        RefOr::Ref(utoipa::openapi::Ref::from_response_name("Error")),
                    );
                }
            }
        }
    }
}

fn store_failed(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(%error, "admin query failed");
    ApiError::new(
        ErrorKind::StoreError,
        "The database could not answer; see the log.",
    )
}
