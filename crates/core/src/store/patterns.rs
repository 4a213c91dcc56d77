//! Model patterns people edited: the whole ordered list, which replaces the built-in one
//! while it is stored.

use rusqlite::{Connection, Transaction, params};

use crate::models::Pattern;

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Pattern>> {
    let mut stmt =
        conn.prepare_cached("SELECT pattern, targets FROM model_patterns ORDER BY position")?;
    stmt.query_map([], |r| {
        let targets: String = r.get(1)?;
        Ok(Pattern {
            pattern: r.get(0)?,
            targets: serde_json::from_str(&targets).unwrap_or_default(),
        })
    })?
    .collect()
}

/// Replaces the stored list (an empty one brings the built-in list back).
pub fn replace(tx: &Transaction<'_>, patterns: &[Pattern], now: i64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM model_patterns", [])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO model_patterns (position, pattern, targets, updated_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, p) in patterns.iter().enumerate() {
        let targets = serde_json::to_string(&p.targets).unwrap_or_else(|_| "[]".into());
        insert.execute(params![i as i64, p.pattern, targets, now])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_in_memory;

    #[test]
    fn the_list_keeps_its_order_and_is_replaced_whole() {
        let mut conn = open_in_memory().unwrap();
        let p = |pattern: &str, targets: &[&str]| Pattern {
            pattern: pattern.into(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
        };
        let tx = conn.transaction().unwrap();
        replace(
            &tx,
            &[
                p("b*", &["predefined-b"]),
                p("a*", &["predefined-a", "byoi-1"]),
            ],
            1,
        )
        .unwrap();
        tx.commit().unwrap();
        assert_eq!(
            list(&conn).unwrap(),
            [
                p("b*", &["predefined-b"]),
                p("a*", &["predefined-a", "byoi-1"])
            ]
        );
        let tx = conn.transaction().unwrap();
        replace(&tx, &[], 2).unwrap();
        tx.commit().unwrap();
        assert!(list(&conn).unwrap().is_empty());
    }
}
