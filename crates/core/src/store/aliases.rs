//! Model aliases people added or overrode; they sit over the built-in table.

use rusqlite::{Connection, Transaction, params};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRow {
    pub alias: String,
    pub endpoint_id: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<AliasRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT alias, endpoint_id, created_at, updated_at FROM model_aliases ORDER BY created_at, alias",
    )?;
    stmt.query_map([], |r| {
        Ok(AliasRow {
            alias: r.get(0)?,
            endpoint_id: r.get(1)?,
            created_at: r.get(2)?,
            updated_at: r.get(3)?,
        })
    })?
    .collect()
}

/// Creates or replaces the alias (matched case-insensitively, keeping the new spelling).
pub fn upsert(
    tx: &Transaction<'_>,
    alias: &str,
    endpoint_id: &str,
    now: i64,
) -> rusqlite::Result<()> {
    let created: Option<i64> = tx
        .query_row(
            "SELECT created_at FROM model_aliases WHERE alias = ?1 COLLATE NOCASE",
            [alias],
            |r| r.get(0),
        )
        .ok();
    tx.execute(
        "DELETE FROM model_aliases WHERE alias = ?1 COLLATE NOCASE",
        [alias],
    )?;
    tx.execute(
        "INSERT INTO model_aliases (alias, endpoint_id, created_at, updated_at) VALUES (?1, ?2, ?3, ?4)",
        params![alias, endpoint_id, created.unwrap_or(now), now],
    )?;
    Ok(())
}

pub fn delete(tx: &Transaction<'_>, alias: &str) -> rusqlite::Result<bool> {
    Ok(tx.execute(
        "DELETE FROM model_aliases WHERE alias = ?1 COLLATE NOCASE",
        [alias],
    )? == 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lookup_in_any_case_uses_an_index() {
        let conn = crate::store::open_in_memory().unwrap();
        let plan: String = conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT created_at FROM model_aliases WHERE alias = ?1 COLLATE NOCASE",
                ["x"],
                |r| r.get(3),
            )
            .unwrap();
        assert!(
            plan.contains("USING INDEX model_aliases_nocase")
                || plan.contains("USING COVERING INDEX model_aliases_nocase"),
            "{plan}"
        );
    }

    use super::*;
    use crate::store::open_in_memory;

    #[test]
    fn aliases_are_unique_case_insensitively() {
        let mut conn = open_in_memory().unwrap();
        let tx = conn.transaction().unwrap();
        upsert(&tx, "My-Model", "predefined-a", 1).unwrap();
        upsert(&tx, "my-model", "predefined-b", 2).unwrap();
        let rows = list(&tx).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].alias.as_str(), rows[0].endpoint_id.as_str()),
            ("my-model", "predefined-b")
        );
        assert_eq!((rows[0].created_at, rows[0].updated_at), (1, 2));
        assert!(delete(&tx, "MY-MODEL").unwrap());
        assert!(list(&tx).unwrap().is_empty());
    }
}
