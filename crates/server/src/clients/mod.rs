//! One-click client setup: points a coding agent at this proxy by writing the agent's own
//! config file, and takes it back. Claude Code reads `~/.claude/settings.json` (or
//! `$CLAUDE_CONFIG_DIR/settings.json`): `env.ANTHROPIC_BASE_URL`, `env.ANTHROPIC_AUTH_TOKEN`
//! and `model`. Codex CLI reads `~/.codex/config.toml` (or `$CODEX_HOME/config.toml`): a
//! provider `[model_providers.ondemand-proxy]` speaking the Responses API, chosen by
//! `model_provider`, with `model`.
//!
//! Every other key of the file stays as the user wrote it ([`doc`]). Before the first write
//! the file is copied to the data directory (`clients/<agent>.backup`), beside a record of
//! what was set and what each key held before. Undo puts the backup back byte for byte when
//! the file is still exactly what was written; when something else changed since, it puts
//! back only its own keys (each one only if it still holds what was set). Files are written
//! whole (a temporary file renamed over), owner-only.
//!
//! Used by `ondemand-proxy connect` and the admin API (`/api/clients`), so it is the same
//! code headless and in the desktop app.

mod agent;
pub mod connect;
mod diff;
mod doc;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use agent::{Agent, Homes, client_origin, model_for};
pub use doc::DocError;

/// Agent config files larger than this are not edited (they are a few KiB).
const MAX_FILE: u64 = 1 << 20;

/// What a connection points an agent at.
#[derive(Debug, Clone)]
pub struct Target {
    /// The proxy's base URL without `/v1` (`http://127.0.0.1:8787`).
    pub origin: String,
    /// The client token the agent sends.
    pub token: String,
    /// The model it asks for; `None` leaves the agent's own choice.
    pub model: Option<String>,
}

/// An agent, as the ConnectAgent page and `connect` show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentStatus {
    pub agent: Agent,
    pub name: &'static str,
    /// Its program is on `PATH`.
    pub installed: bool,
    /// The config file it reads; `None` when there is no home directory.
    pub config_file: Option<String>,
    /// The file exists.
    pub exists: bool,
    /// The file points the agent at this proxy.
    pub connected: bool,
    /// The proxy wrote it and keeps a backup: undo is possible.
    pub applied: bool,
    /// Why the file cannot be read or edited, if it cannot.
    pub problem: Option<String>,
}

/// A change to an agent's config file: shown before it is made, and reported after.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentChange {
    pub agent: Agent,
    pub config_file: String,
    /// A unified diff of the file; empty when nothing changes.
    pub diff: String,
    /// The model it sets, if any.
    pub model: Option<String>,
    /// Where the file as it was before the first apply is kept.
    pub backup: Option<String>,
    /// An undo put the file back exactly as it was before the first apply; `false` when it
    /// took back only the proxy's own keys (the file had changed since), and for an apply.
    pub restored: bool,
}

/// Why a change could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("there is no home directory to find {0}'s config in")]
    NoHome(&'static str),
    #[error("{path} is larger than 1 MiB; it was not changed")]
    TooLarge { path: String },
    #[error("{path} could not be read or written: {error}")]
    Io { path: String, error: std::io::Error },
    #[error("{path} was not changed: {error}")]
    Invalid { path: String, error: DocError },
    #[error("{0} was not connected by this proxy: there is nothing to undo")]
    NotApplied(&'static str),
}

/// What the proxy remembers of an apply, to undo it.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    config_file: PathBuf,
    /// The file existed before the first apply (its bytes are in the backup).
    existed: bool,
    /// The text last written.
    written: String,
    keys: Vec<Key>,
    /// The tables the apply made, to remove if they are left empty.
    made: Vec<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Key {
    path: Vec<String>,
    /// The value set.
    set: String,
    /// What the key held before the first apply, as source text; `None`: it was absent.
    previous: Option<String>,
}

/// The agents of one user, and where the proxy keeps their backups.
#[derive(Clone)]
pub struct Clients {
    homes: Homes,
    dir: PathBuf,
}

impl Clients {
    /// Backups and records go in `data_dir/clients`.
    pub fn new(homes: Homes, data_dir: &Path) -> Self {
        Self {
            homes,
            dir: data_dir.join("clients"),
        }
    }

    /// Every agent, and whether it points at `origin`.
    pub fn status(&self, origin: &str) -> Vec<AgentStatus> {
        Agent::ALL
            .into_iter()
            .map(|agent| {
                let file = self.homes.config_file(agent);
                let read = file.as_deref().map(read).transpose();
                let (exists, connected, problem) = match &read {
                    Ok(text) => {
                        let text = text.as_ref().and_then(Option::as_deref);
                        match agent.doc(text) {
                            Ok(doc) => (text.is_some(), agent.points_at(&doc, origin), None),
                            Err(e) => (true, false, Some(e.to_string())),
                        }
                    }
                    Err(e) => (true, false, Some(e.to_string())),
                };
                AgentStatus {
                    agent,
                    name: agent.name(),
                    installed: self.homes.installed(agent),
                    config_file: file.map(|f| f.display().to_string()),
                    exists,
                    connected,
                    applied: self.record(agent).is_some(),
                    problem,
                }
            })
            .collect()
    }

    /// The change [`Clients::apply`] would make, without making it.
    pub fn preview(&self, agent: Agent, target: &Target) -> Result<AgentChange, ClientError> {
        self.plan(agent, target).map(|(change, ..)| change)
    }

    /// Points the agent at `target`: the backup first (on the first apply), then the
    /// record, then the file.
    pub fn apply(&self, agent: Agent, target: &Target) -> Result<AgentChange, ClientError> {
        let (change, record, before, first) = self.plan(agent, target)?;
        let fail = |path: &Path| {
            let path = path.display().to_string();
            move |error| ClientError::Io { path, error }
        };
        crate::bootstrap::private_dir(&self.dir).map_err(fail(&self.dir))?;
        let backup = self.backup_file(agent);
        if let (Some(before), true) = (&before, first) {
            crate::bootstrap::write_private(&backup, before.as_bytes()).map_err(fail(&backup))?;
        }
        let records = self.record_file(agent);
        let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
        crate::bootstrap::write_private(&records, &json).map_err(fail(&records))?;
        let file = &record.config_file;
        if let Some(parent) = file.parent() {
            create_dir(parent).map_err(fail(parent))?;
        }
        crate::bootstrap::write_private(file, record.written.as_bytes()).map_err(fail(file))?;
        Ok(change)
    }

    /// Takes the apply back: the backup byte for byte when the file is still what was
    /// written, else only the proxy's own keys.
    pub fn undo(&self, agent: Agent) -> Result<AgentChange, ClientError> {
        let record = self
            .record(agent)
            .ok_or(ClientError::NotApplied(agent.name()))?;
        let file = &record.config_file;
        let path = file.display().to_string();
        let io = |error| ClientError::Io {
            path: path.clone(),
            error,
        };
        let now = read(file)?;
        let backup = self.backup_file(agent);
        let restored = now.as_deref() == Some(record.written.as_str());
        let after = if restored {
            if record.existed {
                Some(std::fs::read_to_string(&backup).map_err(io)?)
            } else {
                None
            }
        } else if let Some(now) = &now {
            let mut doc = agent.doc(Some(now)).map_err(|error| ClientError::Invalid {
                path: path.clone(),
                error,
            })?;
            for key in &record.keys {
                let key_path: Vec<&str> = key.path.iter().map(String::as_str).collect();
                if doc.get_str(&key_path).as_deref() != Some(key.set.as_str()) {
                    continue; // changed since: the user's now
                }
                match &key.previous {
                    Some(source) => {
                        doc.put_source(&key_path, source)
                            .map_err(|error| ClientError::Invalid {
                                path: path.clone(),
                                error,
                            })?
                    }
                    None => doc.remove(&key_path),
                }
            }
            let mut made = record.made.clone();
            made.sort_by_key(|p| std::cmp::Reverse(p.len()));
            for table in made {
                let table: Vec<&str> = table.iter().map(String::as_str).collect();
                if doc.is_empty_table(&table) {
                    doc.remove(&table);
                }
            }
            Some(doc.render())
        } else {
            None // removed since: nothing to take back
        };
        match &after {
            Some(text) if now.as_deref() != Some(text.as_str()) => {
                crate::bootstrap::write_private(file, text.as_bytes()).map_err(io)?;
            }
            None if now.is_some() => std::fs::remove_file(file).map_err(io)?,
            _ => {}
        }
        for kept in [self.record_file(agent), backup] {
            match std::fs::remove_file(&kept) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(ClientError::Io {
                        path: kept.display().to_string(),
                        error: e,
                    });
                }
                _ => {}
            }
        }
        Ok(AgentChange {
            agent,
            diff: shown(diff::unified(
                &path,
                now.as_deref().unwrap_or_default(),
                after.as_deref().unwrap_or_default(),
            )),
            config_file: path,
            model: None,
            backup: None,
            restored,
        })
    }

    /// The change, the record it leaves, the file's text before it, and whether this is the
    /// first apply (no record yet: the backup is to be written).
    fn plan(
        &self,
        agent: Agent,
        target: &Target,
    ) -> Result<(AgentChange, Record, Option<String>, bool), ClientError> {
        let file = self
            .homes
            .config_file(agent)
            .ok_or(ClientError::NoHome(agent.name()))?;
        // A link (a dotfiles manager's) is followed: the file it names is edited.
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        let path = file.display().to_string();
        let before = read(&file)?;
        let invalid = |error| ClientError::Invalid {
            path: path.clone(),
            error,
        };
        let mut doc = agent.doc(before.as_deref()).map_err(invalid)?;
        let earlier = self.record(agent);
        let mut made = earlier.as_ref().map(|r| r.made.clone()).unwrap_or_default();
        let mut keys = Vec::new();
        for (key, value) in agent.settings(target) {
            let named: Vec<String> = key.iter().map(|s| (*s).to_owned()).collect();
            let previous = match earlier
                .as_ref()
                .and_then(|r| r.keys.iter().find(|k| k.path == named))
            {
                Some(kept) => kept.previous.clone(),
                None => doc.get_source(&key),
            };
            doc.set_str(&key, &value, &mut made).map_err(invalid)?;
            keys.push(Key {
                path: named,
                set: value,
                previous,
            });
        }
        let written = doc.render();
        let change = AgentChange {
            agent,
            diff: shown(diff::unified(
                &path,
                before.as_deref().unwrap_or_default(),
                &written,
            )),
            config_file: path,
            model: target.model.clone(),
            restored: false,
            backup: Some(self.backup_file(agent).display().to_string())
                .filter(|_| before.is_some() || earlier.as_ref().is_some_and(|r| r.existed)),
        };
        let record = Record {
            config_file: file,
            existed: earlier.as_ref().map_or(before.is_some(), |r| r.existed),
            written,
            keys,
            made,
        };
        Ok((change, record, before, earlier.is_none()))
    }

    fn record(&self, agent: Agent) -> Option<Record> {
        let text = std::fs::read(self.record_file(agent)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    fn record_file(&self, agent: Agent) -> PathBuf {
        self.dir.join(format!("{}.json", agent.id()))
    }

    fn backup_file(&self, agent: Agent) -> PathBuf {
        self.dir.join(format!("{}.backup", agent.id()))
    }
}

/// A diff fit to show: the value of every line whose key names a secret (a token, a key, a
/// password) is cut to a hint, the proxy's client token and the user's own keys alike.
fn shown(diff: String) -> String {
    const SECRET_WORDS: [&str; 5] = ["token", "key", "secret", "password", "authorization"];
    let mask = |line: &str| -> Option<String> {
        let split = line.find([':', '='])?;
        let key = line[..split].to_ascii_lowercase();
        let named = SECRET_WORDS.iter().any(|w| key.contains(w)) && !key.contains("env_key");
        let value = &line[split + 1..];
        let (open, close) = (value.find('"')?, value.rfind('"')?);
        if !named || close <= open + 1 {
            return None;
        }
        let hint = ondemand_core::Secret::new(&value[open + 1..close]).hint();
        let (head, tail) = (&value[..open], &value[close + 1..]);
        Some(format!("{}{head}\"{hint}\"{tail}", &line[..=split]))
    };
    diff.lines()
        .map(|line| mask(line).unwrap_or_else(|| line.to_owned()) + "\n")
        .collect()
}

/// The file's text; `None` when it does not exist.
fn read(file: &Path) -> Result<Option<String>, ClientError> {
    let io = |error| ClientError::Io {
        path: file.display().to_string(),
        error,
    };
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
        Ok(meta) if meta.len() > MAX_FILE => {
            return Err(ClientError::TooLarge {
                path: file.display().to_string(),
            });
        }
        Ok(_) => {}
    }
    std::fs::read_to_string(file).map(Some).map_err(io)
}

/// Makes the agent's directory if it has none yet (owner-only, as the agents make it).
fn create_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests;
