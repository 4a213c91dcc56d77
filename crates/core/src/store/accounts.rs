//! Upstream accounts as stored: the pool is rebuilt from these rows, and config-managed ones
//! are synced from `config.json`/the environment at every start.
//!
//! An account's identity is its `name` (unique): usage rows name it, so a named account
//! keeps its history when its secret changes.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::config::{AccountConfig, AccountOptions};
use crate::secret::Secret;

/// Who manages an entry: `config` entries are read-only in the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Api,
    Config,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Config => "config",
        }
    }

    pub(crate) fn parse(text: &str) -> Self {
        if text == "config" {
            Self::Config
        } else {
            Self::Api
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountRow {
    pub id: i64,
    pub config: AccountConfig,
    /// The last state the proxy saw (`healthy`, `needs_attention`, …) and why.
    pub state: String,
    pub state_reason: Option<String>,
    pub source: Source,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, kind, email, secret, weight, max_concurrent, enabled, state, state_reason, source, created_at, updated_at, proxy";

fn from_row(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    let name: String = r.get(1)?;
    let kind: String = r.get(2)?;
    let email: Option<String> = r.get(3)?;
    let secret = Secret::new(r.get::<_, String>(4)?);
    let options = AccountOptions {
        weight: r.get(5)?,
        max_concurrent: r.get(6)?,
        enabled: r.get(7)?,
        // A stored proxy that no longer parses (none should) is dropped, not fatal.
        proxy: r
            .get::<_, Option<String>>(13)?
            .and_then(|p| crate::config::ProxyUrl::parse(&p).ok()),
    };
    let config = match (kind.as_str(), email) {
        ("email_password", Some(email)) => AccountConfig::Password {
            name,
            email,
            password: secret,
            options,
        },
        _ => AccountConfig::ApiKey {
            name,
            api_key: secret,
            options,
        },
    };
    Ok(AccountRow {
        id: r.get(0)?,
        config,
        state: r.get(8)?,
        state_reason: r.get(9)?,
        source: Source::parse(&r.get::<_, String>(10)?),
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<AccountRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM accounts ORDER BY id"))?;
    stmt.query_map([], from_row)?.collect()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<AccountRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM accounts WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

pub fn find_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<AccountRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM accounts WHERE name = ?1"),
        [name],
        from_row,
    )
    .optional()
}

/// The columns an [`AccountConfig`] sets, in `kind, email, secret, options` order.
fn fields(config: &AccountConfig) -> (&'static str, Option<&str>, &str, &AccountOptions) {
    (
        config.kind().as_str(),
        config.email(),
        config.secret().expose(),
        config.options(),
    )
}

fn proxy(options: &AccountOptions) -> Option<&str> {
    options.proxy.as_ref().map(crate::config::ProxyUrl::expose)
}

pub fn insert(
    tx: &Transaction<'_>,
    config: &AccountConfig,
    source: Source,
    now: i64,
) -> rusqlite::Result<i64> {
    let (kind, email, secret, o) = fields(config);
    tx.execute(
        "INSERT INTO accounts (name, kind, email, secret, weight, max_concurrent, enabled, source, created_at, updated_at, proxy)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
        params![config.name(), kind, email, secret, o.weight, o.max_concurrent, o.enabled, source.as_str(), now, proxy(o)],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Replaces everything but the name, source and creation time. An edit is what a person
/// does to fix an account, so its recorded state goes back to healthy.
pub fn update(
    tx: &Transaction<'_>,
    id: i64,
    config: &AccountConfig,
    now: i64,
) -> rusqlite::Result<bool> {
    let (kind, email, secret, o) = fields(config);
    let n = tx.execute(
        "UPDATE accounts SET kind = ?2, email = ?3, secret = ?4, weight = ?5, max_concurrent = ?6, enabled = ?7,
            state = 'healthy', state_reason = NULL, updated_at = ?8, proxy = ?9
         WHERE id = ?1",
        params![id, kind, email, secret, o.weight, o.max_concurrent, o.enabled, now, proxy(o)],
    )?;
    Ok(n == 1)
}

pub fn delete(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<bool> {
    Ok(tx.execute("DELETE FROM accounts WHERE id = ?1", [id])? == 1)
}

/// Ends the demo once a real account exists: removes the simulated accounts added from the
/// dashboard (their usage history stays) and names them. A simulated account never serves
/// beside a real one, so no real request gets a made-up answer or reaches the demo upstream.
pub fn end_demo_beside_real(tx: &Transaction<'_>) -> rusqlite::Result<Vec<String>> {
    let rows = list(tx)?;
    if rows.iter().all(|r| r.config.simulated()) {
        return Ok(Vec::new());
    }
    let mut ended = Vec::new();
    for row in rows
        .into_iter()
        .filter(|r| r.config.simulated() && r.source == Source::Api)
    {
        delete(tx, row.id)?;
        ended.push(row.config.name().to_owned());
    }
    Ok(ended)
}

/// Whether any account is a real one (not simulated).
pub fn any_real(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(list(conn)?.iter().any(|r| !r.config.simulated()))
}

/// Records the state the proxy saw, for display after a restart; only changed rows are
/// written.
pub fn record_state(
    tx: &Transaction<'_>,
    name: &str,
    state: &str,
    reason: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE accounts SET state = ?2, state_reason = ?3
         WHERE name = ?1 AND (state IS NOT ?2 OR state_reason IS NOT ?3)",
        params![name, state, reason],
    )?;
    Ok(())
}

/// What a config sync did, for the start-up log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub removed: Vec<String>,
    /// Config accounts skipped because an admin-API account already has their name.
    pub shadowed: Vec<String>,
    /// Simulated accounts removed because the config brought real ones.
    pub demo_ended: Vec<String>,
}

/// Makes the config-managed accounts match `configured`: added or updated by name,
/// removed when they left the config. Accounts created through the admin API are never
/// touched; a config account whose name one of them holds is skipped and reported.
pub fn sync_config(
    tx: &Transaction<'_>,
    configured: &[AccountConfig],
    now: i64,
) -> rusqlite::Result<SyncReport> {
    let mut report = SyncReport::default();
    for config in configured {
        match find_by_name(tx, config.name())? {
            None => {
                insert(tx, config, Source::Config, now)?;
                report.added.push(config.name().to_owned());
            }
            Some(row) if row.source == Source::Api => {
                report.shadowed.push(config.name().to_owned());
            }
            Some(row) if row.config != *config => {
                update(tx, row.id, config, now)?;
                report.updated.push(config.name().to_owned());
            }
            Some(_) => {}
        }
    }
    for row in list(tx)? {
        let name = row.config.name();
        if row.source == Source::Config && !configured.iter().any(|c| c.name() == name) {
            delete(tx, row.id)?;
            report.removed.push(name.to_owned());
        }
    }
    report.demo_ended = end_demo_beside_real(tx)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_in_memory;

    fn key(name: &str, key: &str) -> AccountConfig {
        AccountConfig::ApiKey {
            name: name.into(),
            api_key: Secret::new(key),
            options: AccountOptions::default(),
        }
    }

    #[test]
    fn sync_adds_updates_and_removes_only_config_entries() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        insert(&tx, &key("mine", "k-mine"), Source::Api, 1).unwrap();
        let first = sync_config(&tx, &[key("a", "k1"), key("b", "k2")], 2).unwrap();
        assert_eq!(first.added, ["a", "b"]);
        let again = sync_config(&tx, &[key("a", "k1"), key("b", "k2")], 3).unwrap();
        assert_eq!(
            again,
            SyncReport::default(),
            "a second start changes nothing"
        );
        let a_id = find_by_name(&tx, "a").unwrap().unwrap().id;
        let edited = sync_config(&tx, &[key("a", "k1-new"), key("mine", "x")], 4).unwrap();
        assert_eq!(edited.updated, ["a"]);
        assert_eq!(edited.removed, ["b"]);
        assert_eq!(edited.shadowed, ["mine"]);
        let a = find_by_name(&tx, "a").unwrap().unwrap();
        assert_eq!(
            a.id, a_id,
            "a new secret keeps the row (and the name's history)"
        );
        assert_eq!((a.created_at, a.updated_at), (2, 4));
        let mine = find_by_name(&tx, "mine").unwrap().unwrap();
        assert_eq!(
            mine.config,
            key("mine", "k-mine"),
            "API entries are untouched"
        );
        assert_eq!(mine.source, Source::Api);
        let names: Vec<String> = list(&tx)
            .unwrap()
            .iter()
            .map(|r| r.config.name().to_owned())
            .collect();
        assert_eq!(names, ["mine", "a"]);
    }

    #[test]
    fn a_start_with_real_accounts_in_the_config_ends_the_dashboards_demo() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        insert(&tx, &key("demo", "odp-demo-abc"), Source::Api, 1).unwrap();
        let alone = sync_config(&tx, &[], 2).unwrap();
        assert!(alone.demo_ended.is_empty(), "alone, the demo stays");
        let with_real = sync_config(&tx, &[key("real", "k1")], 3).unwrap();
        assert_eq!(with_real.demo_ended, ["demo"]);
        assert!(find_by_name(&tx, "demo").unwrap().is_none());
        assert!(any_real(&tx).unwrap());
    }

    #[test]
    fn password_accounts_round_trip() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        let config = AccountConfig::Password {
            name: "p".into(),
            email: "p@example.com".into(),
            password: Secret::new("pw"),
            options: AccountOptions {
                weight: 3,
                max_concurrent: Some(2),
                enabled: false,
                proxy: crate::config::ProxyUrl::parse("socks5h://u:p@127.0.0.1:1080").ok(),
            },
        };
        let id = insert(&tx, &config, Source::Api, 1).unwrap();
        assert_eq!(get(&tx, id).unwrap().unwrap().config, config);
        record_state(&tx, "p", "needs_attention", Some("401")).unwrap();
        let row = get(&tx, id).unwrap().unwrap();
        assert_eq!(
            (row.state.as_str(), row.state_reason.as_deref()),
            ("needs_attention", Some("401"))
        );
    }
}
