//! One-click client setup (`/api/clients`): which coding agents are installed and pointed
//! here, the change a connection makes (a diff, before anything is written), the change
//! itself, and its undo. It is [`crate::clients`], the code `ondemand-proxy connect` runs.
//!
//! In the desktop app each apply is asked natively first (the app's [`confirmer`]), so no
//! script in a page can rewrite a user's agent config; headless, the admin credential is
//! what allows it.
//!
//! [`confirmer`]: crate::AppState::confirmer

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Answer, List};
use crate::AppState;
use crate::clients::{Agent, AgentChange, AgentStatus, ClientError, Clients, Target, connect};
use crate::error::{ApiError, ErrorKind};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(preview))
        .routes(routes!(apply))
        .routes(routes!(undo))
}

/// What a connection uses.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectAgent {
    /// A client token's secret; the app's `default` token when absent.
    #[schema(max_length = 256)]
    token: Option<String>,
}

/// The coding agents, whether each is installed, and whether its config points here.
#[utoipa::path(get, path = "/api/clients", tag = "clients",
    responses((status = 200, body = List<AgentStatus>)))]
async fn list(State(state): State<AppState>) -> Answer<List<AgentStatus>> {
    let (clients, origin) = (clients(&state)?, origin(&state)?);
    let status = off_runtime(move || Ok(clients.status(&origin))).await?;
    Ok(Json(status.into()))
}

/// The change connecting the agent would make, as a diff; nothing is written.
#[utoipa::path(post, path = "/api/clients/{agent}/preview", tag = "clients",
    params(("agent" = String, Path, description = "`claude-code` or `codex`")),
    request_body = ConnectAgent,
    responses((status = 200, body = AgentChange), (status = 422, description = "The file cannot be edited")))]
async fn preview(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    body: Option<Json<ConnectAgent>>,
) -> Answer<AgentChange> {
    let (agent, target) = asked(&state, &agent, body)?;
    let clients = clients(&state)?;
    Ok(Json(
        off_runtime(move || clients.preview(agent, &target)).await?,
    ))
}

/// Connects the agent: a backup of its file first, then the file. In the desktop app the
/// person at the machine is asked natively first; a no changes nothing (403 `declined`).
#[utoipa::path(post, path = "/api/clients/{agent}/apply", tag = "clients",
    params(("agent" = String, Path, description = "`claude-code` or `codex`")),
    request_body = ConnectAgent,
    responses((status = 200, body = AgentChange), (status = 403, description = "Not confirmed"),
        (status = 422, description = "The file cannot be edited")))]
async fn apply(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    body: Option<Json<ConnectAgent>>,
) -> Answer<AgentChange> {
    let (agent, target) = asked(&state, &agent, body)?;
    let clients = clients(&state)?;
    if let Some(confirmer) = state.confirmer() {
        let (clients, target) = (clients.clone(), target.clone());
        let change = off_runtime(move || clients.preview(agent, &target)).await?;
        let values = [
            ("agent", agent.name()),
            ("file", change.config_file.as_str()),
        ];
        if !confirmer.ask_about("connect", &values).await {
            return Err(ApiError::new(
                ErrorKind::Declined,
                "Not confirmed; nothing was changed.",
            ));
        }
    }
    let change = off_runtime(move || clients.apply(agent, &target)).await?;
    tracing::info!(agent = agent.id(), file = %change.config_file, "connected an agent");
    Ok(Json(change))
}

/// Takes the connection back: the backup byte for byte when the file is as it was
/// written, else only the proxy's own keys.
#[utoipa::path(post, path = "/api/clients/{agent}/undo", tag = "clients",
    params(("agent" = String, Path, description = "`claude-code` or `codex`")),
    responses((status = 200, body = AgentChange), (status = 404, description = "Not connected here")))]
async fn undo(State(state): State<AppState>, Path(agent): Path<String>) -> Answer<AgentChange> {
    let agent = agent_named(&agent)?;
    let clients = clients(&state)?;
    let change = off_runtime(move || clients.undo(agent)).await?;
    tracing::info!(agent = agent.id(), file = %change.config_file, "disconnected an agent");
    Ok(Json(change))
}

/// Runs `work` off the runtime's threads: it reads and writes the agents' files and looks
/// along `PATH` for their programs.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done.map_err(failed),
        Err(_) => Err(server_error(
            "The agent's files could not be read or written.",
        )),
    }
}

fn agent_named(id: &str) -> Result<Agent, ApiError> {
    Agent::from_id(id).ok_or_else(|| {
        ApiError::not_found(format!(
            "No agent `{id}`: the agents are `claude-code` and `codex`."
        ))
    })
}

fn asked(
    state: &AppState,
    agent: &str,
    body: Option<Json<ConnectAgent>>,
) -> Result<(Agent, Target), ApiError> {
    let agent = agent_named(agent)?;
    let ConnectAgent { token } = body.map(|Json(b)| b).unwrap_or_default();
    if token.as_ref().is_some_and(|t| t.len() > 256) {
        return Err(ApiError::invalid("`token` is longer than 256 characters.").with_param("token"));
    }
    let target = connect::target(state, agent, origin(state)?, token.as_deref())
        .map_err(|message| ApiError::invalid(message).with_param("token"))?;
    Ok((agent, target))
}

fn clients(state: &AppState) -> Result<Clients, ApiError> {
    let dir = state
        .data_dir()
        .ok_or_else(|| server_error("The data directory is unknown."))?;
    Ok(connect::for_this_user(&dir))
}

fn origin(state: &AppState) -> Result<String, ApiError> {
    state
        .origin()
        .ok_or_else(|| server_error("The proxy is not listening."))
}

fn server_error(message: &str) -> ApiError {
    ApiError::new(ErrorKind::InternalError, message)
}

fn failed(error: ClientError) -> ApiError {
    let kind = match &error {
        ClientError::NotApplied(_) => ErrorKind::NotConnected,
        ClientError::Invalid { .. } | ClientError::TooLarge { .. } => ErrorKind::ConfigNotEditable,
        ClientError::NoHome(_) | ClientError::Io { .. } => ErrorKind::ConfigNotWritten,
    };
    ApiError::new(kind, error.to_string())
}
