//! Usage rows, rollups and the admin API's queries over them, on an in-memory database.

use super::*;
use crate::store::open_in_memory;

fn event(ts: i64, model: &str, status: u16, input: u64, output: u64) -> UsageEvent {
    UsageEvent {
        ts,
        client_token: "default".into(),
        account: Some("a".into()),
        model: model.into(),
        model_label: Some(model.into()),
        status,
        attempts: 1,
        latency_ms: 10,
        input_tokens: input,
        output_tokens: output,
        ..UsageEvent::default()
    }
}

#[test]
fn events_and_hourly_rollups_agree() {
    let mut conn = open_in_memory().unwrap();
    let hour = 1_800_000_000_000 / HOUR_MS * HOUR_MS;
    let events = vec![
        event(hour + 1, "gpt-4o", 200, 10, 5),
        event(hour + 2, "gpt-4o", 502, 0, 0),
        event(hour + HOUR_MS + 3, "gpt-4o", 200, 7, 3),
        UsageEvent {
            tokens_estimated: true,
            ..event(hour + 4, "claude-3.7-sonnet", 200, 4, 4)
        },
    ];
    let tx = conn.transaction().unwrap();
    insert_batch(&tx, &events).unwrap();
    tx.commit().unwrap();
    assert_eq!(totals(&conn, 0, i64::MAX).unwrap(), (4, 3, 21, 12));
    let rollup: (i64, i64, i64, i64) = conn
        .query_row(
            "SELECT requests, successes, input_tokens, latency_ms_sum FROM usage_hourly WHERE hour = ?1 AND model = 'gpt-4o'",
            [hour],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(rollup, (2, 1, 10, 20));
    let estimated: i64 = conn
        .query_row(
            "SELECT estimated_tokens FROM usage_hourly WHERE model = 'claude-3.7-sonnet'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(estimated, 8);
    let newest = recent(&conn, 1).unwrap();
    let stored = UsageEvent {
        model_label: None,
        ..events[3].clone()
    };
    assert_eq!(
        newest,
        vec![stored],
        "rows read back exactly (the label is not stored)"
    );
    assert_eq!(
        prune(&conn, hour + HOUR_MS, 2).unwrap(),
        2,
        "at most the limit per call"
    );
    assert_eq!(prune(&conn, hour + HOUR_MS, 100).unwrap(), 1);
    assert_eq!(
        totals(&conn, 0, i64::MAX).unwrap().0,
        1,
        "only the newer row is left"
    );
    let rollups: i64 = conn
        .query_row("SELECT SUM(requests) FROM usage_hourly", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rollups, 4, "rollups keep the history");
}

#[test]
fn series_buckets_follow_the_callers_offset_and_fill_gaps() {
    let mut conn = open_in_memory().unwrap();
    let day = 86_400_000;
    let midnight_utc = 1_800_057_600_000 / day * day;
    let tx = conn.transaction().unwrap();
    // 23:30 UTC on day 0 and 00:30 UTC on day 1.
    insert_batch(
        &tx,
        &[
            event(midnight_utc + day - 1_800_000, "gpt-4o", 200, 1, 1),
            event(midnight_utc + day + 1_800_000, "gpt-4o", 502, 2, 0),
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    let utc = series(&conn, midnight_utc, midnight_utc + 3 * day, day, 0).unwrap();
    assert_eq!(
        utc.iter().map(|b| b.requests).collect::<Vec<_>>(),
        [1, 1, 0],
        "UTC days"
    );
    // UTC+2: both are on local day 1 (01:30 and 02:30 local).
    let plus_two = series(
        &conn,
        midnight_utc,
        midnight_utc + 3 * day,
        day,
        2 * HOUR_MS,
    )
    .unwrap();
    assert_eq!(
        plus_two[0].start,
        midnight_utc - 2 * HOUR_MS,
        "local midnight"
    );
    let counts: Vec<u64> = plus_two.iter().map(|b| b.requests).collect();
    assert_eq!(counts.iter().sum::<u64>(), 2);
    assert_eq!(
        plus_two
            .iter()
            .find(|b| b.requests == 2)
            .map(|b| b.successes),
        Some(1),
        "{plus_two:?}"
    );
    let hours = series(
        &conn,
        midnight_utc + day - HOUR_MS,
        midnight_utc + day + HOUR_MS,
        HOUR_MS,
        0,
    )
    .unwrap();
    assert_eq!(
        hours
            .iter()
            .map(|b| (b.requests, b.input_tokens))
            .collect::<Vec<_>>(),
        [(1, 1), (1, 2)]
    );
}

#[test]
fn breakdowns_are_largest_first() {
    let mut conn = open_in_memory().unwrap();
    let t = 1_800_000_000_000;
    let tx = conn.transaction().unwrap();
    let mut other = event(t, "claude-3.7-sonnet", 200, 5, 5);
    other.account = Some("b".into());
    insert_batch(
        &tx,
        &[
            event(t, "gpt-4o", 200, 1, 1),
            event(t + 1, "gpt-4o", 200, 1, 1),
            other,
        ],
    )
    .unwrap();
    tx.commit().unwrap();
    let models = breakdown(&conn, 0, i64::MAX, Dimension::Model).unwrap();
    assert_eq!(
        models
            .iter()
            .map(|s| (s.key.as_str(), s.requests))
            .collect::<Vec<_>>(),
        [("gpt-4o", 2), ("claude-3.7-sonnet", 1)]
    );
    let accounts = breakdown(&conn, 0, i64::MAX, Dimension::Account).unwrap();
    assert_eq!(
        accounts
            .iter()
            .map(|s| (s.key.as_str(), s.input_tokens))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 5)]
    );
    assert_eq!(
        breakdown(&conn, 0, i64::MAX, Dimension::Token).unwrap()[0].key,
        "default"
    );
}

#[test]
fn breakdowns_from_days_and_edge_hours_equal_the_hourly_sums() {
    let mut conn = open_in_memory().unwrap();
    let t0 = 1_800_000_000_000 / DAY_MS * DAY_MS;
    let events: Vec<UsageEvent> = (0..400)
        .map(|i| {
            let mut e = event(
                t0 + i * 17 * 60_000 + i % 7,
                ["m1", "m2", "m3"][i as usize % 3],
                200,
                1 + (i as u64 % 5),
                1,
            );
            e.account = Some(["a", "b"][i as usize % 2].into());
            e
        })
        .collect();
    let tx = conn.transaction().unwrap();
    insert_batch(&tx, &events[..150]).unwrap();
    insert_batch(&tx, &events[150..]).unwrap();
    tx.commit().unwrap();
    let hourly_only = |from: i64, to: i64| -> Vec<(String, i64, i64)> {
        let mut stmt = conn
            .prepare("SELECT model, SUM(requests), SUM(input_tokens) FROM usage_hourly WHERE hour >= ?1 AND hour < ?2 GROUP BY model ORDER BY SUM(requests) DESC, model")
            .unwrap();
        stmt.query_map(params![from.div_euclid(HOUR_MS) * HOUR_MS, to], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let end = t0 + 5 * DAY_MS;
    for (from, to) in [
        (0, i64::MAX),
        (t0, end),
        (t0 + 5 * HOUR_MS + 123, end - 3 * HOUR_MS),
        (t0 + DAY_MS - 1, t0 + 2 * DAY_MS + 1),
        (t0 + 3 * HOUR_MS, t0 + 20 * HOUR_MS),
        (t0 + DAY_MS, t0 + 3 * DAY_MS),
    ] {
        let mixed: Vec<(String, i64, i64)> = breakdown(&conn, from, to, Dimension::Model)
            .unwrap()
            .into_iter()
            .map(|s| (s.key, s.requests as i64, s.input_tokens as i64))
            .collect();
        assert_eq!(mixed, hourly_only(from, to), "range {from}..{to}");
    }
}

#[test]
fn hourly_totals_always_match_the_detailed_rollups() {
    let mut conn = open_in_memory().unwrap();
    for batch in 0..3i64 {
        let events: Vec<UsageEvent> = (0..500u64)
            .map(|i| {
                let mut e = event(
                    1_800_000_000_000 + batch * HOUR_MS / 2 + i as i64 * 10_000,
                    ["a", "b", "c"][i as usize % 3],
                    200 + (i % 2) as u16 * 302,
                    i,
                    2 * i,
                );
                e.tokens_estimated = i % 5 == 0;
                e
            })
            .collect();
        let tx = conn.transaction().unwrap();
        insert_batch(&tx, &events).unwrap();
        tx.commit().unwrap();
    }
    let sums = |table: &str| -> Vec<(i64, i64, i64, i64, i64, i64, i64)> {
        let sql = format!(
            "SELECT hour, SUM(requests), SUM(successes), SUM(input_tokens), SUM(output_tokens), SUM(estimated_tokens), SUM(latency_ms_sum) FROM {table} GROUP BY hour ORDER BY hour"
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let detailed = sums("usage_hourly");
    assert!(detailed.len() >= 2);
    assert_eq!(sums("usage_hourly_totals"), detailed);
}

#[test]
fn the_rollup_migrations_backfill_existing_rollups() {
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    let migrations = crate::store::migrations();
    migrations.to_version(&mut conn, 1).unwrap();
    conn.execute(
        "INSERT INTO usage_hourly VALUES (3600000, 'm', 'a', 't', 3, 2, 10, 20, 0, 300), (3600000, 'n', 'a', 't', 1, 1, 1, 1, 1, 5)",
        [],
    )
    .unwrap();
    migrations.to_latest(&mut conn).unwrap();
    let totals: (i64, i64, i64) =
        conn.query_row("SELECT requests, input_tokens, latency_ms_sum FROM usage_hourly_totals WHERE hour = 3600000", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    assert_eq!(totals, (4, 11, 305));
    let daily: (i64, i64) = conn
        .query_row(
            "SELECT SUM(requests), COUNT(*) FROM usage_daily WHERE day = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(daily, (4, 2), "the daily migration backfills too");
}

#[test]
fn refusal_tallies_read_back_per_minute_newest_first() {
    let mut conn = open_in_memory().unwrap();
    let minute = 1_800_000_000_000 / MINUTE_MS * MINUTE_MS;
    let refused = |ts, class: &str| UsageEvent {
        error_class: Some(class.into()),
        attempts: 0,
        ..event(ts, "x", 429, 0, 0)
    };
    let events: Vec<UsageEvent> = (0..5)
        .map(|i| refused(minute + i, "rate_limit_exceeded"))
        .chain((0..3).map(|i| refused(minute + MINUTE_MS + i, "model_not_found")))
        .collect();
    // The first of each kind and minute is the log's sample; the rest are tallied.
    let tallied: Vec<bool> = (0..8).map(|i| i != 0 && i != 5).collect();
    let tx = conn.transaction().unwrap();
    insert_sampled(&tx, &events, &tallied).unwrap();
    tx.commit().unwrap();
    let read = refusals(&conn, minute, minute + 2 * MINUTE_MS, 10).unwrap();
    let seen: Vec<(i64, &str, u64)> = read
        .iter()
        .map(|r| (r.minute, r.error_class.as_str(), r.count))
        .collect();
    assert_eq!(
        seen,
        [
            (minute + MINUTE_MS, "model_not_found", 2),
            (minute, "rate_limit_exceeded", 4)
        ]
    );
    assert_eq!(
        refusals(&conn, minute, minute + 2 * MINUTE_MS, 1)
            .unwrap()
            .len(),
        1
    );
    assert!(
        refusals(&conn, minute + 2 * MINUTE_MS, i64::MAX, 10)
            .unwrap()
            .is_empty()
    );
}
