//! The live endpoint catalogue as stored: replaced whole after each read, loaded at start.

use rusqlite::{Connection, Transaction, params};

use crate::endpoints::{AccountView, Endpoint, EndpointCatalog};

/// Replaces the stored catalogue with `catalogue`.
pub fn save(tx: &Transaction<'_>, catalogue: &EndpointCatalog) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DELETE FROM endpoint_accounts; DELETE FROM endpoint_reads; DELETE FROM endpoints;",
    )?;
    let mut endpoint = tx.prepare_cached(
        "INSERT INTO endpoints (id, name, model_id, active, premium, reasoning_efforts,
            context_length, streaming, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for e in catalogue.endpoints() {
        endpoint.execute(params![
            e.id,
            e.name,
            e.model_id,
            e.active,
            e.premium,
            serde_json::to_string(&e.reasoning_efforts).unwrap_or_else(|_| "[]".into()),
            e.context_length.map(|n| n.min(i64::MAX as u64) as i64),
            e.streaming,
            e.last_seen_ms,
        ])?;
    }
    let mut read = tx.prepare_cached(
        "INSERT INTO endpoint_reads (account, ok_at, error, error_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut listed =
        tx.prepare_cached("INSERT INTO endpoint_accounts (endpoint_id, account) VALUES (?1, ?2)")?;
    for (account, view) in catalogue.accounts() {
        read.execute(params![account, view.ok_ms, view.error, view.error_ms])?;
        for id in &view.endpoints {
            listed.execute(params![id, account])?;
        }
    }
    Ok(())
}

/// The stored catalogue (empty when none was ever read).
pub fn load(conn: &Connection) -> rusqlite::Result<EndpointCatalog> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, model_id, active, premium, reasoning_efforts, context_length,
            streaming, last_seen FROM endpoints",
    )?;
    let endpoints = stmt
        .query_map([], |r| {
            let efforts: String = r.get(5)?;
            Ok(Endpoint {
                id: r.get(0)?,
                name: r.get(1)?,
                model_id: r.get(2)?,
                active: r.get(3)?,
                premium: r.get(4)?,
                reasoning_efforts: serde_json::from_str(&efforts).unwrap_or_default(),
                context_length: r.get::<_, Option<i64>>(6)?.map(|n| n.max(0) as u64),
                streaming: r.get(7)?,
                last_seen_ms: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt =
        conn.prepare_cached("SELECT account, ok_at, error, error_at FROM endpoint_reads")?;
    let mut accounts = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                AccountView {
                    ok_ms: r.get(1)?,
                    error: r.get(2)?,
                    error_ms: r.get(3)?,
                    endpoints: Default::default(),
                },
            ))
        })?
        .collect::<rusqlite::Result<std::collections::BTreeMap<_, _>>>()?;
    let mut stmt = conn.prepare_cached("SELECT endpoint_id, account FROM endpoint_accounts")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (id, account) = row?;
        if let Some(view) = accounts.get_mut(&account) {
            view.endpoints.insert(id);
        }
    }
    Ok(EndpointCatalog::from_parts(endpoints, accounts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoints::parse;

    #[test]
    fn a_catalogue_survives_a_round_trip() {
        let mut conn = crate::store::open_in_memory().unwrap();
        let body = br#"[{"endpoint_id":"predefined-a","endpoint_name":"A","status":"active",
            "is_premium":true,"reasoning_efforts":["low","max"],"context_length":1000},
            {"endpoint_id":"predefined-b","status":"inactive","streaming_supported":false}]"#;
        let catalogue = EndpointCatalog::default()
            .with_read("one", parse(body, 5), 5)
            .with_read("two", Err("HTTP 404".into()), 6);
        let tx = conn.transaction().unwrap();
        save(&tx, &catalogue).unwrap();
        tx.commit().unwrap();
        assert_eq!(load(&conn).unwrap(), catalogue);
        let tx = conn.transaction().unwrap();
        save(&tx, &EndpointCatalog::default()).unwrap();
        tx.commit().unwrap();
        assert!(!load(&conn).unwrap().is_known(), "replaced whole");
    }
}
