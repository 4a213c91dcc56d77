//! Client tokens as stored: a SHA-256 hash of the secret (the secret itself is shown once,
//! at creation, and kept nowhere), a prefix for display, and the limits.
//!
//! Usage rows name the token, so a token's name is fixed once it is created.

use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};

use super::accounts::Source;

/// The limits a client token carries; `None` is unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenLimits {
    /// Unix ms after which the token is refused.
    pub expires_at: Option<i64>,
    /// Most successful requests over the token's life.
    pub quota_requests: Option<u64>,
    /// Most tokens (input + output) over the token's life.
    pub quota_tokens: Option<u64>,
    /// Model names (as requested) the token may use; `None` allows all.
    pub models: Option<Vec<String>>,
    /// Requests per minute; `None` uses the global `rate_limit`.
    pub rpm: Option<u32>,
    /// Requests in flight at once; `None` takes the default share (while other tokens exist,
    /// half of `max_concurrent_upstream`), so that one token cannot take every upstream slot.
    pub max_concurrent: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub secret_hash: String,
    /// The secret's first characters, for people to tell tokens apart.
    pub prefix: String,
    pub limits: TokenLimits,
    pub enabled: bool,
    pub source: Source,
    pub used_requests: u64,
    pub used_tokens: u64,
    /// Image uploads its requests made, failed ones included.
    pub used_uploads: u64,
    pub last_used_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, name, secret_hash, prefix, expires_at, quota_requests, quota_tokens, models, rpm, enabled, source, used_requests, used_tokens, last_used_at, created_at, updated_at, max_concurrent, used_uploads";

fn from_row(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    let models: Option<String> = r.get(7)?;
    Ok(TokenRow {
        id: r.get(0)?,
        name: r.get(1)?,
        secret_hash: r.get(2)?,
        prefix: r.get(3)?,
        limits: TokenLimits {
            expires_at: r.get(4)?,
            quota_requests: r.get::<_, Option<i64>>(5)?.map(|n| n as u64),
            quota_tokens: r.get::<_, Option<i64>>(6)?.map(|n| n as u64),
            models: models.and_then(|m| serde_json::from_str(&m).ok()),
            rpm: r.get(8)?,
            max_concurrent: r.get(16)?,
        },
        enabled: r.get(9)?,
        source: Source::parse(&r.get::<_, String>(10)?),
        used_requests: r.get::<_, i64>(11)? as u64,
        used_tokens: r.get::<_, i64>(12)? as u64,
        used_uploads: r.get::<_, i64>(17)? as u64,
        last_used_at: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
    })
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<TokenRow>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM client_tokens ORDER BY id"))?;
    stmt.query_map([], from_row)?.collect()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<TokenRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM client_tokens WHERE id = ?1"),
        [id],
        from_row,
    )
    .optional()
}

pub fn find_by_name(conn: &Connection, name: &str) -> rusqlite::Result<Option<TokenRow>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM client_tokens WHERE name = ?1"),
        [name],
        from_row,
    )
    .optional()
}

fn models_json(limits: &TokenLimits) -> Option<String> {
    limits
        .models
        .as_ref()
        .and_then(|m| serde_json::to_string(m).ok())
}

/// Inserts a token; `used_*` start at the row's values (an import carries them over).
pub fn insert(tx: &Transaction<'_>, row: &TokenRow) -> rusqlite::Result<i64> {
    let l = &row.limits;
    tx.execute(
        "INSERT INTO client_tokens (name, secret_hash, prefix, expires_at, quota_requests, quota_tokens, models, rpm,
            enabled, source, used_requests, used_tokens, last_used_at, created_at, updated_at, max_concurrent, used_uploads)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14, ?15, ?16)",
        params![
            row.name,
            row.secret_hash,
            row.prefix,
            l.expires_at,
            l.quota_requests.map(|n| n as i64),
            l.quota_tokens.map(|n| n as i64),
            models_json(l),
            l.rpm,
            row.enabled,
            row.source.as_str(),
            row.used_requests as i64,
            row.used_tokens as i64,
            row.last_used_at,
            row.created_at,
            l.max_concurrent,
            row.used_uploads as i64,
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Sets the limits and the enabled flag.
pub fn update(
    tx: &Transaction<'_>,
    id: i64,
    limits: &TokenLimits,
    enabled: bool,
    now: i64,
) -> rusqlite::Result<bool> {
    let n = tx.execute(
        "UPDATE client_tokens SET expires_at = ?2, quota_requests = ?3, quota_tokens = ?4, models = ?5, rpm = ?6,
            enabled = ?7, updated_at = ?8, max_concurrent = ?9 WHERE id = ?1",
        params![
            id,
            limits.expires_at,
            limits.quota_requests.map(|n| n as i64),
            limits.quota_tokens.map(|n| n as i64),
            models_json(limits),
            limits.rpm,
            enabled,
            now,
            limits.max_concurrent,
        ],
    )?;
    Ok(n == 1)
}

pub fn delete(tx: &Transaction<'_>, id: i64) -> rusqlite::Result<bool> {
    Ok(tx.execute("DELETE FROM client_tokens WHERE id = ?1", [id])? == 1)
}

/// Makes the config-managed token named `name` carry `secret_hash`: created, or its hash
/// replaced (its counters and history stay). Returns `false` when an admin-API token holds
/// the name.
pub fn sync_config(
    tx: &Transaction<'_>,
    name: &str,
    secret_hash: &str,
    prefix: &str,
    now: i64,
) -> rusqlite::Result<bool> {
    match find_by_name(tx, name)? {
        Some(row) if row.source == Source::Api => Ok(false),
        Some(row) if row.secret_hash == secret_hash => Ok(true),
        Some(row) => {
            tx.execute(
                "UPDATE client_tokens SET secret_hash = ?2, prefix = ?3, updated_at = ?4 WHERE id = ?1",
                params![row.id, secret_hash, prefix, now],
            )?;
            Ok(true)
        }
        None => {
            insert(
                tx,
                &TokenRow {
                    id: 0,
                    name: name.to_owned(),
                    secret_hash: secret_hash.to_owned(),
                    prefix: prefix.to_owned(),
                    limits: TokenLimits::default(),
                    enabled: true,
                    source: Source::Config,
                    used_requests: 0,
                    used_tokens: 0,
                    used_uploads: 0,
                    last_used_at: None,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            Ok(true)
        }
    }
}

/// What a batch of requests used of one token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Use {
    /// Requests that count against `quota_requests`.
    pub requests: u64,
    pub tokens: u64,
    /// Image uploads, failed requests' included.
    pub uploads: u64,
    /// Unix ms of the latest.
    pub last: i64,
}

/// Adds a batch's use to each token's counters (called by the usage writer, in the batch's
/// transaction), by token name.
pub fn add_use(tx: &Transaction<'_>, uses: &[(&str, Use)]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        // Saturating: a counter at the top stays there instead of failing the whole batch.
        "UPDATE client_tokens SET
            used_requests = CASE WHEN used_requests > 9223372036854775807 - ?2
                THEN 9223372036854775807 ELSE used_requests + ?2 END,
            used_tokens = CASE WHEN used_tokens > 9223372036854775807 - ?3
                THEN 9223372036854775807 ELSE used_tokens + ?3 END,
            used_uploads = CASE WHEN used_uploads > 9223372036854775807 - ?5
                THEN 9223372036854775807 ELSE used_uploads + ?5 END,
            last_used_at = MAX(COALESCE(last_used_at, 0), ?4) WHERE name = ?1",
    )?;
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    for (name, used) in uses {
        stmt.execute(params![
            name,
            count(used.requests),
            count(used.tokens),
            used.last,
            count(used.uploads)
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_in_memory;

    fn used(requests: u64, tokens: u64, uploads: u64, last: i64) -> Use {
        Use {
            requests,
            tokens,
            uploads,
            last,
        }
    }

    #[test]
    fn tokens_round_trip_sync_and_count_use() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        assert!(sync_config(&tx, "default", "h1", "sk-odp-ab", 1).unwrap());
        assert!(sync_config(&tx, "default", "h2", "sk-odp-cd", 2).unwrap());
        let row = find_by_name(&tx, "default").unwrap().unwrap();
        assert_eq!(
            (row.secret_hash.as_str(), row.source, row.created_at),
            ("h2", Source::Config, 1)
        );
        let limits = TokenLimits {
            expires_at: Some(5),
            quota_requests: Some(10),
            quota_tokens: None,
            models: Some(vec!["gpt-4o".into()]),
            rpm: Some(3),
            max_concurrent: Some(4),
        };
        assert!(update(&tx, row.id, &limits, false, 3).unwrap());
        add_use(
            &tx,
            &[("default", used(2, 30, 3, 7)), ("gone", used(1, 1, 1, 1))],
        )
        .unwrap();
        add_use(&tx, &[("default", used(1, 5, 1, 6))]).unwrap();
        let row = get(&tx, row.id).unwrap().unwrap();
        assert_eq!(row.limits, limits);
        assert!(!row.enabled);
        assert_eq!(
            (
                row.used_requests,
                row.used_tokens,
                row.used_uploads,
                row.last_used_at
            ),
            (3, 35, 4, Some(7))
        );
        assert!(delete(&tx, row.id).unwrap());
        assert!(!delete(&tx, row.id).unwrap());
    }

    #[test]
    fn use_counters_saturate_instead_of_failing() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        sync_config(&tx, "default", "h1", "sk-odp-ab", 1).unwrap();
        tx.execute(
            "UPDATE client_tokens SET used_tokens = 9223372036854775800 WHERE name = 'default'",
            [],
        )
        .unwrap();
        add_use(
            &tx,
            &[
                ("default", used(1, 100, 1, 5)),
                ("default", used(u64::MAX, u64::MAX, u64::MAX, 6)),
            ],
        )
        .unwrap();
        let row = find_by_name(&tx, "default").unwrap().unwrap();
        assert_eq!(row.used_tokens, i64::MAX as u64);
        assert_eq!(row.used_requests, i64::MAX as u64);
        assert_eq!(row.used_uploads, i64::MAX as u64);
    }
}
