//! Stored responses (the Responses dialect's `store`): what `previous_response_id` continues
//! and `GET /v1/responses/{id}` returns. Each belongs to the client token that made it; no
//! other token sees it. Old ones expire, and the oldest go first when the total passes a cap.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// How long a response is kept (OpenAI keeps them 30 days).
pub const TTL_MS: i64 = 30 * 24 * 3600 * 1000;

/// How much stored responses may take.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// All of them together; the oldest go first.
    pub total_bytes: i64,
    /// One of them (its whole history); a larger one is not stored.
    pub each_bytes: usize,
}

pub const CAPS: Caps = Caps {
    total_bytes: 256 * 1024 * 1024,
    each_bytes: 32 * 1024 * 1024,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub id: String,
    pub token_id: i64,
    pub created_at: i64,
    pub history: String,
    pub response: String,
}

/// Stores a response, then drops what expired and, past the cap, the oldest. `false` when
/// it is too large to keep.
pub fn insert(
    tx: &Transaction<'_>,
    row: &StoredResponse,
    now: i64,
    caps: Caps,
) -> rusqlite::Result<bool> {
    let bytes = row.history.len() + row.response.len();
    if bytes > caps.each_bytes {
        return Ok(false);
    }
    tx.execute(
        "INSERT OR REPLACE INTO stored_responses (id, token_id, created_at, history, response, bytes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![row.id, row.token_id, row.created_at, row.history, row.response, bytes as i64],
    )?;
    tx.execute(
        "DELETE FROM stored_responses WHERE created_at < ?1",
        [now - TTL_MS],
    )?;
    let total: i64 = tx.query_row(
        "SELECT COALESCE(SUM(bytes), 0) FROM stored_responses",
        [],
        |r| r.get(0),
    )?;
    if total > caps.total_bytes {
        // Keep the newest that fit under the cap.
        tx.execute(
            "DELETE FROM stored_responses WHERE id IN (
                SELECT id FROM (SELECT id, SUM(bytes) OVER (ORDER BY created_at DESC, id DESC) AS running
                                FROM stored_responses) WHERE running > ?1)",
            [caps.total_bytes],
        )?;
    }
    Ok(true)
}

/// The token's unexpired response with this id.
pub fn get(
    conn: &Connection,
    id: &str,
    token_id: i64,
    now: i64,
) -> rusqlite::Result<Option<StoredResponse>> {
    conn.query_row(
        "SELECT id, token_id, created_at, history, response FROM stored_responses
         WHERE id = ?1 AND token_id = ?2 AND created_at >= ?3",
        params![id, token_id, now - TTL_MS],
        |r| {
            Ok(StoredResponse {
                id: r.get(0)?,
                token_id: r.get(1)?,
                created_at: r.get(2)?,
                history: r.get(3)?,
                response: r.get(4)?,
            })
        },
    )
    .optional()
}

/// Deletes the token's response with this id; `false` when there is none.
pub fn delete(tx: &Transaction<'_>, id: &str, token_id: i64) -> rusqlite::Result<bool> {
    Ok(tx.execute(
        "DELETE FROM stored_responses WHERE id = ?1 AND token_id = ?2",
        params![id, token_id],
    )? == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_in_memory;

    fn token(conn: &Connection, name: &str) -> i64 {
        conn.execute(
            "INSERT INTO client_tokens (name, secret_hash, prefix, created_at, updated_at) VALUES (?1, ?1, 'p', 0, 0)",
            [name],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    fn row(id: &str, token_id: i64, at: i64, size: usize) -> StoredResponse {
        StoredResponse {
            id: id.into(),
            token_id,
            created_at: at,
            history: "h".repeat(size),
            response: "{}".into(),
        }
    }

    #[test]
    fn a_response_is_its_owners_until_it_expires_or_is_deleted() {
        let mut conn = open_in_memory().unwrap();
        let (a, b) = (token(&conn, "a"), token(&conn, "b"));
        let tx = conn.transaction().unwrap();
        assert!(insert(&tx, &row("resp_1", a, 1_000, 10), 1_000, CAPS).unwrap());
        tx.commit().unwrap();
        assert!(get(&conn, "resp_1", a, 1_000).unwrap().is_some());
        assert!(
            get(&conn, "resp_1", b, 1_000).unwrap().is_none(),
            "another token's"
        );
        assert!(
            get(&conn, "resp_1", a, 1_000 + TTL_MS + 1)
                .unwrap()
                .is_none(),
            "expired"
        );
        let tx = conn.transaction().unwrap();
        assert!(!delete(&tx, "resp_1", b).unwrap());
        assert!(delete(&tx, "resp_1", a).unwrap());
        assert!(!insert(&tx, &row("big", a, 1, CAPS.each_bytes + 1), 1, CAPS).unwrap());
        tx.commit().unwrap();
    }

    #[test]
    fn deleting_the_token_deletes_its_responses() {
        let mut conn = open_in_memory().unwrap();
        let a = token(&conn, "a");
        let tx = conn.transaction().unwrap();
        insert(&tx, &row("resp_1", a, 1, 10), 1, CAPS).unwrap();
        tx.execute("DELETE FROM client_tokens WHERE id = ?1", [a])
            .unwrap();
        tx.commit().unwrap();
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM stored_responses", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn past_the_cap_the_oldest_go() {
        let mut conn = open_in_memory().unwrap();
        let a = token(&conn, "a");
        let caps = Caps {
            total_bytes: 3_000,
            each_bytes: 2_000,
        };
        let tx = conn.transaction().unwrap();
        for (i, id) in ["old", "mid", "new", "newest"].iter().enumerate() {
            // 998 history bytes and a 2-byte response: three fit.
            insert(&tx, &row(id, a, 10 + i as i64, 998), 20, caps).unwrap();
        }
        tx.commit().unwrap();
        let ids: Vec<String> = conn
            .prepare("SELECT id FROM stored_responses ORDER BY created_at")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids, ["mid", "new", "newest"]);
    }
}
