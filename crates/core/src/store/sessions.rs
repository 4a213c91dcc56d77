//! Reuse-mode conversation sessions, so a conversation continues on its upstream session
//! after a restart. The cache in memory is the truth; changes are written behind it.

use rusqlite::{Connection, Transaction, params};

/// One stored session: the conversation key, its upstream session and account, and when it
/// was last used (Unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    pub key: String,
    pub session_id: String,
    pub account: String,
    pub last_used: i64,
}

/// A change to write: a session remembered, or one forgotten (taken or evicted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    Put(StoredSession),
    Remove(String),
}

pub fn apply(tx: &Transaction<'_>, changes: &[SessionChange]) -> rusqlite::Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT INTO conversation_sessions (key, session_id, account, last_used) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET session_id = excluded.session_id, account = excluded.account,
            last_used = excluded.last_used",
    )?;
    let mut remove = tx.prepare_cached("DELETE FROM conversation_sessions WHERE key = ?1")?;
    for change in changes {
        match change {
            SessionChange::Put(s) => {
                put.execute(params![s.key, s.session_id, s.account, s.last_used])?;
            }
            SessionChange::Remove(key) => {
                remove.execute([key])?;
            }
        }
    }
    Ok(())
}

/// Sessions used since `since` (Unix ms), the most recent first, at most `limit`; older
/// ones are deleted.
pub fn load(
    tx: &Transaction<'_>,
    since: i64,
    limit: usize,
) -> rusqlite::Result<Vec<StoredSession>> {
    tx.execute(
        "DELETE FROM conversation_sessions WHERE last_used < ?1",
        [since],
    )?;
    let mut stmt = tx.prepare_cached(
        "SELECT key, session_id, account, last_used FROM conversation_sessions
         ORDER BY last_used DESC LIMIT ?1",
    )?;
    stmt.query_map([limit as i64], |r| {
        Ok(StoredSession {
            key: r.get(0)?,
            session_id: r.get(1)?,
            account: r.get(2)?,
            last_used: r.get(3)?,
        })
    })?
    .collect()
}

pub fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COUNT(*) FROM conversation_sessions", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_in_memory;

    fn s(key: &str, last_used: i64) -> StoredSession {
        StoredSession {
            key: key.into(),
            session_id: format!("sid-{key}"),
            account: "a".into(),
            last_used,
        }
    }

    #[test]
    fn changes_apply_and_old_sessions_expire_on_load() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        apply(
            &tx,
            &[
                SessionChange::Put(s("old", 1)),
                SessionChange::Put(s("k1", 10)),
                SessionChange::Put(s("k2", 20)),
                SessionChange::Remove("k1".into()),
                SessionChange::Put(s("k3", 30)),
            ],
        )
        .unwrap();
        let loaded = load(&tx, 5, 10).unwrap();
        assert_eq!(loaded, vec![s("k3", 30), s("k2", 20)]);
        assert_eq!(count(&tx).unwrap(), 2, "expired rows are deleted");
        assert_eq!(load(&tx, 5, 1).unwrap(), vec![s("k3", 30)]);
    }
}
