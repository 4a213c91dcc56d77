//! The control plane: the changes people make to accounts, client tokens, model aliases and
//! settings. Each change is validated, committed to the store, and then applied to the live
//! [`Engine`] (pool, token registry, catalog, settings) without a restart.
//!
//! - Changes are serialised, so the engine always reflects the last committed change.
//! - Config-managed entries (`source = config`) are synced at start ([`Control::start`]) and
//!   read-only here.
//! - Errors name the field at fault ([`ControlError`]); nothing changes when one is returned.

mod accounts;
mod catalogue;
mod settings;
mod tokens;
mod transfer;

pub use accounts::AccountInput;
pub use settings::{AliasSource, AliasView, PatternView, PatternsView, SettingSource, SettingView};
pub use tokens::{NewToken, TokenInput};
pub use transfer::{ExportDocument, ImportMode, ImportReport};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::client_tokens::{DEFAULT_TOKEN_NAME, display_prefix, hash_secret};
use crate::clock::now_ms;
use crate::config::{AccountConfig, Pinned, Settings};
use crate::engine::Engine;
use crate::models::ModelCatalog;
use crate::pool::AccountState;
use crate::secret::Secret;
use crate::store::accounts::SyncReport;
use crate::store::endpoints as endpoint_rows;
use crate::store::{Store, StoreError, accounts as account_rows, aliases, sessions};
use crate::store::{client_tokens as token_rows, settings as setting_rows};

/// An account's state name and reason, as stored.
type StoredState = (String, Option<String>);

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("No {what} with id {id}.")]
    NotFound { what: &'static str, id: String },
    /// The entry comes from `config.json` or the environment.
    #[error("The {what} {name:?} is managed in the config file or environment; change it there.")]
    ReadOnly { what: &'static str, name: String },
    /// A name already taken, and the like.
    #[error("{message}")]
    Conflict { field: String, message: String },
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for ControlError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Store(StoreError::Sqlite(e))
    }
}

impl ControlError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The request field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Conflict { field, .. } | Self::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// A stored entry people manage by id (an account, a client token): how it is read, and
/// whether config manages it. One way to get one, refuse a missing one, and refuse to edit
/// a config-managed one.
pub(crate) trait Entry: Sized + Send + 'static {
    /// What people call it, in messages.
    const WHAT: &'static str;
    fn get(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<Self>>;
    fn source(&self) -> crate::store::accounts::Source;
    fn name(&self) -> &str;
}

pub(crate) fn not_found<R: Entry>(id: i64) -> ControlError {
    ControlError::NotFound {
        what: R::WHAT,
        id: id.to_string(),
    }
}

/// The entry to change, if it exists and is not config-managed.
pub(crate) fn editable<R: Entry>(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
) -> Result<R, ControlError> {
    let row = R::get(tx, id)?.ok_or_else(|| not_found::<R>(id))?;
    if row.source() == crate::store::accounts::Source::Config {
        return Err(ControlError::ReadOnly {
            what: R::WHAT,
            name: row.name().to_owned(),
        });
    }
    Ok(row)
}

/// What start-up found and did, for its log.
#[derive(Debug, Default)]
pub struct StartReport {
    pub accounts: SyncReport,
    /// An admin-API token holds the name `default`, so the configured token was not synced.
    pub default_token_shadowed: bool,
    /// Dashboard settings that no longer validate and were ignored, with why.
    pub ignored_settings: Vec<String>,
    pub sessions_restored: usize,
}

pub struct Control {
    store: Arc<Store>,
    /// The settings the configuration gave (defaults, config.json, env, flags): what a
    /// dashboard setting reverts to when it is reset.
    base: Settings,
    /// Which of them config/env/flags gave: those win over the dashboard's.
    pinned: Pinned,
    /// The dashboard's settings as stored.
    stored: Mutex<Map<String, Value>>,
    /// Each account's state as last stored, so only changes are written.
    states: Mutex<HashMap<String, StoredState>>,
    /// Held from a change's commit to its application to the engine, so changes apply in
    /// the order they were committed.
    order: tokio::sync::Mutex<()>,
    /// Held through a catalogue refresh, so two refreshes cannot lose each other's reads.
    catalogue_order: tokio::sync::Mutex<()>,
    /// When a refresh asked for through the admin API last read the catalogues.
    asked_refresh: Mutex<Option<std::time::Instant>>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

/// Names people give to accounts and tokens: 1–64 characters, no control characters.
pub(crate) fn check_name(field: &str, name: &str) -> Result<String, ControlError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ControlError::invalid(
            field,
            format!("`{field}` must be 1 to 64 characters without control characters."),
        ));
    }
    Ok(name.to_owned())
}

impl Control {
    /// Syncs the config-managed entries, loads everything into `engine`, and returns the
    /// control plane. Runs on the calling thread (start-up, before serving).
    pub fn start(
        store: Arc<Store>,
        pinned: Pinned,
        configured: &[AccountConfig],
        default_token: &Secret,
        engine: &Engine,
    ) -> Result<(Self, StartReport), ControlError> {
        let now = now_ms();
        let session_ttl = engine.settings().session_timeout;
        let session_cap = engine.settings().session_cache_size;
        let (mut report, stored, stored_sessions) =
            store.write_blocking(|tx| -> Result<_, ControlError> {
                let accounts = account_rows::sync_config(tx, configured, now)?;
                let synced = token_rows::sync_config(
                    tx,
                    DEFAULT_TOKEN_NAME,
                    &hash_secret(default_token.expose()),
                    &display_prefix(default_token.expose()),
                    now,
                )?;
                let since = now - session_ttl.as_millis() as i64;
                let sessions = sessions::load(tx, since, session_cap)?;
                let report = StartReport {
                    accounts,
                    default_token_shadowed: !synced,
                    ..StartReport::default()
                };
                Ok((report, setting_rows::load(tx)?, sessions))
            })?;
        let control = Self {
            store,
            base: engine.settings().as_ref().clone(),
            pinned,
            stored: Mutex::new(Map::new()),
            states: Mutex::new(HashMap::new()),
            order: tokio::sync::Mutex::new(()),
            catalogue_order: tokio::sync::Mutex::new(()),
            asked_refresh: Mutex::new(None),
        };
        accounts::demo_ended(&report.accounts.demo_ended);
        report.ignored_settings = control.apply_stored_settings(stored, engine);
        report.sessions_restored = stored_sessions.len();
        engine.sessions.cache.restore(stored_sessions);
        engine.sessions.cache.journal();
        let conn = control.store.reader_blocking()?;
        let accounts = account_rows::list(&conn)?;
        apply_accounts(engine, &accounts);
        engine.clients.tokens.load(&token_rows::list(&conn)?);
        let (catalog, endpoints) = stored_catalog(&conn)?;
        engine.set_catalog(catalog);
        engine.set_endpoints(endpoints);
        drop(conn);
        for row in &accounts {
            if AccountState::parse(&row.state) == Some(AccountState::NeedsAttention)
                && let Some(account) = engine
                    .routing
                    .pool
                    .accounts()
                    .iter()
                    .find(|a| a.name == row.config.name())
            {
                account.mark_needs_attention(
                    row.state_reason
                        .as_deref()
                        .unwrap_or("needed attention before the restart"),
                    &engine.settings().health,
                );
            }
        }
        *control.states_lock() = accounts
            .into_iter()
            .map(|row| (row.config.name().to_owned(), (row.state, row.state_reason)))
            .collect();
        Ok((control, report))
    }

    /// Takes the dashboard's settings over the defaults, dropping (and reporting) any that
    /// this version refuses, then applies them.
    fn apply_stored_settings(
        &self,
        mut stored: Map<String, Value>,
        engine: &Engine,
    ) -> Vec<String> {
        let mut ignored = Vec::new();
        loop {
            match crate::config::settings_with(&self.base, &self.pinned, &stored) {
                Ok(settings) => {
                    engine.set_settings(settings);
                    break;
                }
                Err(crate::config::ConfigError::Invalid { field, reason, .. })
                    if stored.remove(&field).is_some() =>
                {
                    ignored.push(format!("{field}: {reason}"));
                }
                Err(other) => {
                    ignored.push(other.to_string());
                    stored.clear();
                }
            }
        }
        *self.stored_lock() = stored;
        ignored
    }

    fn stored_lock(&self) -> std::sync::MutexGuard<'_, Map<String, Value>> {
        self.stored.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Commits `change`, reads the resulting `list` in the same transaction and `apply`s
    /// it to the engine, all in commit order.
    async fn change<T, R>(
        &self,
        engine: &Engine,
        change: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, ControlError> + Send + 'static,
        list: fn(&rusqlite::Connection) -> rusqlite::Result<Vec<R>>,
        apply: fn(&Engine, &[R]),
    ) -> Result<T, ControlError>
    where
        T: Send + 'static,
        R: Send + 'static,
    {
        let _order = self.order.lock().await;
        let (value, all) = self
            .store
            .write(move |tx| {
                let value = change(tx)?;
                Ok::<_, ControlError>((value, list(tx)?))
            })
            .await?;
        apply(engine, &all);
        Ok(value)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// One entry by id.
    async fn entry<R: Entry>(&self, id: i64) -> Result<R, ControlError> {
        self.store
            .read(move |conn| R::get(conn, id))
            .await?
            .ok_or_else(|| not_found::<R>(id))
    }

    /// Writes the changes reuse mode made to its sessions since the last call.
    pub async fn persist_sessions(&self, engine: &Engine) -> Result<(), ControlError> {
        let changes = engine.sessions.cache.drain_journal();
        if changes.is_empty() {
            return Ok(());
        }
        self.store
            .write(move |tx| -> Result<(), ControlError> { Ok(sessions::apply(tx, &changes)?) })
            .await
    }

    fn states_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, StoredState>> {
        self.states.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the accounts whose state changed since the last call, as the pool sees it,
    /// for display and re-checks after a restart. Nothing changed: nothing is written.
    pub async fn persist_account_states(&self, engine: &Engine) -> Result<(), ControlError> {
        let now = std::time::Instant::now();
        let changed: Vec<(String, StoredState)> = {
            let known = self.states_lock();
            engine
                .routing
                .pool
                .accounts()
                .iter()
                .map(|a| {
                    let status = a.status(now);
                    (
                        status.name,
                        (status.state.as_str().to_owned(), status.reason),
                    )
                })
                .filter(|(name, state)| known.get(name) != Some(state))
                .collect()
        };
        if changed.is_empty() {
            return Ok(());
        }
        let written = changed.clone();
        self.store
            .write(move |tx| -> Result<(), ControlError> {
                for (name, (state, reason)) in &written {
                    account_rows::record_state(tx, name, state, reason.as_deref())?;
                }
                Ok(())
            })
            .await?;
        self.states_lock().extend(changed);
        Ok(())
    }
}

/// How many entries an import document plans, or why it is refused (for the property tests:
/// the decoder and the checks alone, no database).
#[cfg(test)]
pub(crate) fn check_import(doc: &ExportDocument, engine: &Engine) -> Result<usize, ControlError> {
    transfer::plan(doc, engine).map(|planned| planned.len())
}

fn apply_accounts(engine: &Engine, rows: &[account_rows::AccountRow]) {
    let configs: Vec<AccountConfig> = rows.iter().map(|r| r.config.clone()).collect();
    engine.routing.pool.update(&configs);
}

fn apply_aliases(engine: &Engine, rows: &[aliases::AliasRow]) {
    let custom: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.alias.clone(), r.endpoint_id.clone()))
        .collect();
    let patterns = engine.catalog().patterns().to_vec();
    engine.set_catalog(ModelCatalog::with_custom(&custom).with_patterns(patterns));
}

/// The model catalogue the database holds: the custom aliases over the built-in ones, the
/// stored patterns (the built-in ones when none are stored), and the endpoints last read.
pub fn stored_catalog(
    conn: &rusqlite::Connection,
) -> Result<(ModelCatalog, crate::endpoints::EndpointCatalog), rusqlite::Error> {
    let custom: Vec<(String, String)> = aliases::list(conn)?
        .into_iter()
        .map(|r| (r.alias, r.endpoint_id))
        .collect();
    let stored = crate::store::patterns::list(conn)?;
    let patterns = if stored.is_empty() {
        ModelCatalog::builtin_patterns().to_vec()
    } else {
        stored
    };
    let catalog = ModelCatalog::with_custom(&custom).with_patterns(patterns);
    Ok((catalog, endpoint_rows::load(conn)?))
}

/// The stored patterns, or the built-in ones when none are stored.
fn apply_patterns(engine: &Engine, rows: &[crate::models::Pattern]) {
    let patterns = if rows.is_empty() {
        ModelCatalog::builtin_patterns().to_vec()
    } else {
        rows.to_vec()
    };
    let catalog = engine.catalog().as_ref().clone().with_patterns(patterns);
    engine.set_catalog(catalog);
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
