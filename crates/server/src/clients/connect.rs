//! Connecting an agent to this proxy, as `ondemand-proxy connect` and the admin API do it:
//! the proxy's address, a client token it accepts, and a model its catalogue serves.

use std::path::Path;

use ondemand_core::client_tokens::{Refusal, TokenRegistry};
use ondemand_core::endpoints::EndpointCatalog;
use ondemand_core::models::ModelCatalog;

use super::{Agent, Clients, Homes, Target, model_for};
use crate::AppState;

/// What a connection is made from: the proxy's tokens and its model catalogue.
pub struct Known<'a> {
    /// The `default` client token's secret.
    pub default_token: &'a str,
    pub tokens: &'a TokenRegistry,
    pub catalog: &'a ModelCatalog,
    pub live: &'a EndpointCatalog,
}

impl Known<'_> {
    /// What to point `agent` at: the proxy at `origin`, with `token` (the `default` client
    /// token when `None`; another must be one the proxy accepts now), and the model the
    /// catalogue serves for the agent.
    pub fn target(
        &self,
        agent: Agent,
        origin: String,
        token: Option<&str>,
    ) -> Result<Target, String> {
        let token = match token.map(str::trim) {
            None | Some("") => self.default_token.to_owned(),
            Some(token) => {
                if let Err(refusal) = self.tokens.authorize(token, ondemand_core::clock::now_ms()) {
                    let why = match refusal {
                        Refusal::Unknown => "this proxy has no such token".to_owned(),
                        other => other.to_string().trim_end_matches('.').to_owned(),
                    };
                    return Err(format!(
                        "That client token cannot be used ({why}). Name one from the Client tokens page that is enabled and not expired, or leave it out for the default token."
                    ));
                }
                token.to_owned()
            }
        };
        Ok(Target {
            origin,
            token,
            model: model_for(agent, self.catalog, self.live),
        })
    }
}

/// What a running server knows, for the admin API.
pub fn target(
    state: &AppState,
    agent: Agent,
    origin: String,
    token: Option<&str>,
) -> Result<Target, String> {
    let engine = state.engine();
    let known = Known {
        default_token: state.client_token().expose(),
        tokens: &engine.clients.tokens,
        catalog: &engine.catalog(),
        live: &engine.endpoints(),
    };
    known.target(agent, origin, token)
}

/// The agents of the user this process runs as, with their backups in `data_dir`.
pub fn for_this_user(data_dir: &Path) -> Clients {
    Clients::new(Homes::from_env(), data_dir)
}

/// What `ondemand-proxy connect` was asked.
#[derive(Debug, Default)]
pub struct Asked {
    /// `None`: show each agent's state.
    pub agent: Option<Agent>,
    pub undo: bool,
    pub dry_run: bool,
    pub token: Option<String>,
}

/// `ondemand-proxy connect`: reads the data directory (the default client token, the
/// tokens and the catalogue, as `serve` left them), then shows, previews, makes or takes back a connection
/// to the proxy that `config`'s host and port name. Returns what to print.
pub async fn run(
    config: &ondemand_core::config::Config,
    data_dir: &Path,
    asked: &Asked,
) -> anyhow::Result<String> {
    let origin = super::client_origin((config.host, config.port).into());
    let clients = for_this_user(data_dir);
    let Some(agent) = asked.agent else {
        return Ok(clients.status(&origin).iter().map(describe).collect());
    };
    if asked.undo {
        let change = clients.undo(agent)?;
        let how = if change.restored {
            "is back as it was before the first connect"
        } else {
            "had changed since: only the proxy's keys were taken back"
        };
        return Ok(format!(
            "Disconnected {}: {} {how}.\n{}",
            agent.name(),
            change.config_file,
            change.diff
        ));
    }
    // Read as `serve` left it; nothing the running server keeps is changed.
    let (default_token, _) =
        crate::bootstrap::client_token(config.api_access_token.clone(), data_dir)?;
    let conn = ondemand_core::store::open(&data_dir.join(crate::bootstrap::DATABASE_FILE))?;
    let (catalog, live) = ondemand_core::control::stored_catalog(&conn)?;
    let tokens = TokenRegistry::default();
    tokens.load(&ondemand_core::store::client_tokens::list(&conn)?);
    let known = Known {
        default_token: default_token.expose(),
        tokens: &tokens,
        catalog: &catalog,
        live: &live,
    };
    let target = known
        .target(agent, origin, asked.token.as_deref())
        .map_err(anyhow::Error::msg)?;
    let change = if asked.dry_run {
        clients.preview(agent, &target)?
    } else {
        clients.apply(agent, &target)?
    };
    let model = change
        .model
        .as_deref()
        .map_or(String::new(), |m| format!(", model {m}"));
    let done = match (asked.dry_run, change.diff.is_empty()) {
        (_, true) => format!(
            "{} already points at {}: nothing to change.\n",
            agent.name(),
            target.origin
        ),
        (true, false) => format!(
            "Would change {} ({}{model}):\n",
            change.config_file,
            agent.name()
        ),
        (false, false) => format!(
            "Connected {} to {}{model}: wrote {}{}.\n",
            agent.name(),
            target.origin,
            change.config_file,
            change.backup.as_deref().map_or(String::new(), |b| format!(
                " (the file as it was is kept in {b}; `--undo` puts it back)"
            )),
        ),
    };
    Ok(format!("{done}{}", change.diff))
}

/// One line per agent, for `connect` with no agent named.
fn describe(status: &super::AgentStatus) -> String {
    let file = status.config_file.as_deref().unwrap_or("no home directory");
    let state = match status {
        super::AgentStatus {
            problem: Some(problem),
            ..
        } => format!("cannot be edited: {problem}"),
        super::AgentStatus {
            connected: true,
            applied: true,
            ..
        } => "connected here (`--undo` takes it back)".to_owned(),
        super::AgentStatus {
            connected: true, ..
        } => "points here (set by hand)".to_owned(),
        super::AgentStatus { applied: true, .. } => {
            "connected here earlier, changed since (`--undo` takes back the proxy's keys)"
                .to_owned()
        }
        super::AgentStatus {
            installed: true, ..
        } => "installed, not connected".to_owned(),
        _ => "not found on PATH, not connected".to_owned(),
    };
    format!("{:<12} {state}\n{:<12} {file}\n", status.name, "")
}
