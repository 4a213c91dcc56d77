//! The agents the proxy can connect, where they keep their config, and what it sets there.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Target;
use super::doc::Doc;

/// The provider name Codex's config gets.
pub(super) const PROVIDER: &str = "ondemand-proxy";

/// A coding agent whose config the proxy can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Agent {
    ClaudeCode,
    Codex,
}

impl Agent {
    pub const ALL: [Agent; 2] = [Agent::ClaudeCode, Agent::Codex];

    /// Its id in the CLI and the API: `claude-code` or `codex`.
    pub fn id(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Codex => "codex",
        }
    }

    pub fn from_id(id: &str) -> Option<Agent> {
        Self::ALL.into_iter().find(|a| a.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "Claude Code",
            Agent::Codex => "Codex CLI",
        }
    }

    /// The program it installs, looked for on `PATH`.
    fn program(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude",
            Agent::Codex => "codex",
        }
    }

    /// A name its model setting accepts, to be resolved by the proxy's catalogue: Claude
    /// Code's Sonnet family, Codex's own family (a Responses model).
    pub fn model_probe(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-sonnet",
            Agent::Codex => "gpt-5-codex",
        }
    }

    /// The prefix of the names the agent can use, for a fallback from the listed models.
    pub fn model_family(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-",
            Agent::Codex => "gpt-",
        }
    }

    /// Its config file's text, parsed in its format (`None`: there is no file yet).
    pub(super) fn doc(self, text: Option<&str>) -> Result<Doc, super::DocError> {
        Doc::parse(self == Agent::Codex, text)
    }

    /// The keys it sets and their values.
    pub(super) fn settings(self, target: &Target) -> Vec<(Vec<&'static str>, String)> {
        let mut set = match self {
            Agent::ClaudeCode => vec![
                (vec!["env", "ANTHROPIC_BASE_URL"], target.origin.clone()),
                (vec!["env", "ANTHROPIC_AUTH_TOKEN"], target.token.clone()),
            ],
            Agent::Codex => vec![
                (vec!["model_provider"], PROVIDER.to_owned()),
                (
                    vec!["model_providers", PROVIDER, "name"],
                    "OnDemand Proxy".to_owned(),
                ),
                (
                    vec!["model_providers", PROVIDER, "base_url"],
                    format!("{}/v1", target.origin),
                ),
                (
                    vec!["model_providers", PROVIDER, "wire_api"],
                    "responses".to_owned(),
                ),
                (
                    vec!["model_providers", PROVIDER, "experimental_bearer_token"],
                    target.token.clone(),
                ),
            ],
        };
        if let Some(model) = &target.model {
            set.insert(0, (vec!["model"], model.clone()));
        }
        set
    }

    /// Whether `doc` points the agent at `origin`.
    pub(super) fn points_at(self, doc: &Doc, origin: &str) -> bool {
        match self {
            Agent::ClaudeCode => {
                doc.get_str(&["env", "ANTHROPIC_BASE_URL"]).as_deref() == Some(origin)
            }
            Agent::Codex => {
                doc.get_str(&["model_provider"]).as_deref() == Some(PROVIDER)
                    && doc.get_str(&["model_providers", PROVIDER, "base_url"])
                        == Some(format!("{origin}/v1"))
            }
        }
    }
}

/// The base URL clients use for a server listening on `addr`: loopback for an address that
/// listens everywhere.
pub fn client_origin(addr: SocketAddr) -> String {
    let ip = addr.ip();
    match ip {
        _ if ip.is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        std::net::IpAddr::V6(v6) => format!("http://[{v6}]:{}", addr.port()),
        std::net::IpAddr::V4(v4) => format!("http://{v4}:{}", addr.port()),
    }
}

/// The model to set for `agent`: what its family's name resolves to now, under the name
/// `/v1/models` lists; else the first listed name of its family; `None` when none fits
/// (the agent then keeps its own choice, which the proxy's patterns resolve).
pub fn model_for(
    agent: Agent,
    catalog: &ondemand_core::models::ModelCatalog,
    live: &ondemand_core::endpoints::EndpointCatalog,
) -> Option<String> {
    let listed = catalog.listed(live);
    let resolved = catalog.resolve_live(agent.model_probe(), live).ok();
    let clean = resolved.and_then(|r| ondemand_core::endpoints::clean_id(&r.endpoint_id));
    clean
        .filter(|c| listed.iter().any(|l| l.eq_ignore_ascii_case(c)))
        .or_else(|| {
            let family = agent.model_family();
            listed.into_iter().find(|l| l.starts_with(family))
        })
}

/// Where the current user's agents keep their config, and where programs are found.
#[derive(Debug, Clone, Default)]
pub struct Homes {
    pub home: Option<PathBuf>,
    /// `CLAUDE_CONFIG_DIR`.
    pub claude_dir: Option<PathBuf>,
    /// `CODEX_HOME`.
    pub codex_home: Option<PathBuf>,
    /// `PATH`.
    pub path: Option<OsString>,
}

impl Homes {
    /// The user this process runs as: `HOME` (the profile directory on Windows),
    /// `CLAUDE_CONFIG_DIR`, `CODEX_HOME` and `PATH`.
    pub fn from_env() -> Self {
        let dir = |name| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Self {
            home: dirs::home_dir(),
            claude_dir: dir("CLAUDE_CONFIG_DIR"),
            codex_home: dir("CODEX_HOME"),
            path: std::env::var_os("PATH"),
        }
    }

    /// The agent's config file.
    pub fn config_file(&self, agent: Agent) -> Option<PathBuf> {
        match agent {
            Agent::ClaudeCode => self
                .claude_dir
                .clone()
                .or_else(|| Some(self.home.as_ref()?.join(".claude")))
                .map(|d| d.join("settings.json")),
            Agent::Codex => self
                .codex_home
                .clone()
                .or_else(|| Some(self.home.as_ref()?.join(".codex")))
                .map(|d| d.join("config.toml")),
        }
    }

    /// Whether the agent's program is on `PATH`.
    pub(super) fn installed(&self, agent: Agent) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let names: &[&str] = if cfg!(windows) {
            &["", ".exe", ".cmd", ".bat"]
        } else {
            &[""]
        };
        std::env::split_paths(path).any(|dir| {
            let file = dir.join(agent.program());
            names.iter().any(|ext| {
                let mut candidate = file.clone().into_os_string();
                candidate.push(ext);
                Path::new(&candidate).is_file()
            })
        })
    }
}
