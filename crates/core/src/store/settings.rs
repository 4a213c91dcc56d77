//! Settings changed through the admin API, as `key → JSON value`. They sit between the
//! built-in defaults and `config.json`/env/flags (see [`crate::config`]).

use rusqlite::{Connection, Transaction, params};
use serde_json::{Map, Value};

pub fn load(conn: &Connection) -> rusqlite::Result<Map<String, Value>> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut map = Map::new();
    for row in rows {
        let (key, text) = row?;
        // A value this version cannot read is left out (and later overwritten), not fatal.
        if let Ok(value) = serde_json::from_str(&text) {
            map.insert(key, value);
        }
    }
    Ok(map)
}

/// Stores each value; `null` removes the key (back to the default).
pub fn save(tx: &Transaction<'_>, changes: &Map<String, Value>, now: i64) -> rusqlite::Result<()> {
    for (key, value) in changes {
        if value.is_null() {
            tx.execute("DELETE FROM settings WHERE key = ?1", [key])?;
        } else {
            tx.execute(
                "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![key, value.to_string(), now],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_in_memory;
    use serde_json::json;

    #[test]
    fn settings_round_trip_and_null_removes() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        let Value::Object(changes) = json!({"rate_limit": 5, "session_mode": "reuse"}) else {
            unreachable!()
        };
        save(&tx, &changes, 1).unwrap();
        let Value::Object(reset) = json!({"rate_limit": null}) else {
            unreachable!()
        };
        save(&tx, &reset, 2).unwrap();
        assert_eq!(
            Value::Object(load(&tx).unwrap()),
            json!({"session_mode": "reuse"})
        );
    }
}
