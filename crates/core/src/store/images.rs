//! Image descriptions by the SHA-256 of the image's bytes: what the image agent said about
//! an image, for the same image sent again. Only the hash and the description are kept.
//! A description older than the TTL is not used (and goes at the next write); past
//! [`MAX_ENTRIES`] the least recently used go first.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// Descriptions kept at most (a few hundred bytes to a few KiB each).
pub const MAX_ENTRIES: i64 = 10_000;

/// The descriptions kept for these hashes that are younger than `ttl_ms`, by hash.
pub fn get_many(
    conn: &Connection,
    hashes: &[String],
    now: i64,
    ttl_ms: i64,
) -> rusqlite::Result<HashMap<String, String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT description FROM image_descriptions WHERE hash = ?1 AND created_ms >= ?2",
    )?;
    let mut found = HashMap::new();
    for hash in hashes {
        if let Some(description) = stmt
            .query_row(params![hash, now - ttl_ms], |r| r.get::<_, String>(0))
            .optional()?
        {
            found.insert(hash.clone(), description);
        }
    }
    Ok(found)
}

/// Marks descriptions as used now (they are kept ahead of those not used lately).
pub fn touch(tx: &Transaction<'_>, hashes: &[String], now: i64) -> rusqlite::Result<()> {
    let mut stmt =
        tx.prepare_cached("UPDATE image_descriptions SET used_ms = ?2 WHERE hash = ?1")?;
    for hash in hashes {
        stmt.execute(params![hash, now])?;
    }
    Ok(())
}

/// Keeps a description; drops the expired, and past `max_entries` the least recently used.
pub fn put(
    tx: &Transaction<'_>,
    hash: &str,
    description: &str,
    now: i64,
    ttl_ms: i64,
    max_entries: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO image_descriptions (hash, description, created_ms, used_ms)
         VALUES (?1, ?2, ?3, ?3)",
        params![hash, description, now],
    )?;
    tx.execute(
        "DELETE FROM image_descriptions WHERE created_ms < ?1",
        [now - ttl_ms],
    )?;
    tx.execute(
        "DELETE FROM image_descriptions WHERE hash IN (
            SELECT hash FROM image_descriptions ORDER BY used_ms DESC LIMIT -1 OFFSET ?1)",
        [max_entries],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(conn: &Connection, hash: &str, now: i64, ttl_ms: i64) -> Option<String> {
        get_many(conn, &[hash.to_owned()], now, ttl_ms)
            .unwrap()
            .remove(hash)
    }

    #[test]
    fn kept_until_old_and_the_least_recently_used_go_first() {
        let mut conn = crate::store::open_in_memory().unwrap();
        let day = 86_400_000;
        let write = |conn: &mut Connection, f: &dyn Fn(&Transaction<'_>)| {
            let tx = conn.transaction().unwrap();
            f(&tx);
            tx.commit().unwrap();
        };
        write(&mut conn, &|tx| {
            put(tx, "a", "an apple", 0, day, 2).unwrap()
        });
        write(&mut conn, &|tx| put(tx, "b", "a bee", 10, day, 2).unwrap());
        assert_eq!(get(&conn, "a", 20, day).as_deref(), Some("an apple"));
        assert_eq!(get(&conn, "a", day + 1, day), None, "too old to use");
        write(&mut conn, &|tx| touch(tx, &["a".into()], 30).unwrap());
        write(&mut conn, &|tx| put(tx, "c", "a cat", 40, day, 2).unwrap());
        assert_eq!(get(&conn, "b", 50, day), None, "b was used least lately");
        assert!(get(&conn, "a", 50, day).is_some());
        assert!(get(&conn, "c", 50, day).is_some());
        write(&mut conn, &|tx| {
            put(tx, "d", "a dog", 2 * day, day, 10).unwrap()
        });
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM image_descriptions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 1, "the expired went at the write");
    }
}
