//! Latency and time-to-first-token histograms per hour: log-spaced buckets 20 % wide, so a
//! quantile read from them is within about 10 % of the true value, and p50/p95 over a month
//! sum at most a few thousand rows.
//!
//! Raw rows are pruned after `usage_retention_days`; these histograms, like the other
//! rollups, are kept.

use std::collections::HashMap;

use rusqlite::{Connection, Transaction, params};

use super::usage::UsageEvent;

const GROWTH: f64 = 1.2;
const HOUR_MS: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Latency = 0,
    FirstToken = 1,
}

/// The bucket of a duration: bucket `b` holds `(1.2^(b-1), 1.2^b]` ms; 0 holds up to 1 ms.
pub fn bucket(ms: u32) -> i64 {
    if ms <= 1 {
        0
    } else {
        (f64::from(ms).ln() / GROWTH.ln()).ceil() as i64
    }
}

/// The value a bucket stands for: its geometric middle.
pub fn bucket_value(bucket: i64) -> f64 {
    if bucket <= 0 {
        1.0
    } else {
        GROWTH.powf(bucket as f64 - 0.5)
    }
}

/// Folds a batch into the histograms, in the caller's transaction.
pub fn add(tx: &Transaction<'_>, events: &[UsageEvent]) -> rusqlite::Result<()> {
    let mut counts: HashMap<(i64, Kind, i64), i64> = HashMap::new();
    for e in events {
        let hour = e.ts.div_euclid(HOUR_MS) * HOUR_MS;
        *counts
            .entry((hour, Kind::Latency, bucket(e.latency_ms)))
            .or_default() += 1;
        if let Some(ttft) = e.ttft_ms {
            *counts
                .entry((hour, Kind::FirstToken, bucket(ttft)))
                .or_default() += 1;
        }
    }
    let mut upsert = tx.prepare_cached(
        "INSERT INTO usage_latency_hourly (hour, kind, bucket, count) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (hour, kind, bucket) DO UPDATE SET count = count + excluded.count",
    )?;
    for ((hour, kind, bucket), count) in counts {
        upsert.execute(params![hour, kind as i64, bucket, count])?;
    }
    Ok(())
}

/// Estimated quantiles (`qs` in 0–1) of one kind over `[from, to)`; `None` without data.
pub fn quantiles(
    conn: &Connection,
    kind: Kind,
    from_ms: i64,
    to_ms: i64,
    qs: &[f64],
) -> rusqlite::Result<Option<Vec<f64>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT bucket, SUM(count) FROM usage_latency_hourly
         WHERE kind = ?1 AND hour >= ?2 AND hour < ?3 GROUP BY bucket ORDER BY bucket",
    )?;
    let buckets: Vec<(i64, i64)> = stmt
        .query_map(
            params![kind as i64, from_ms.div_euclid(HOUR_MS) * HOUR_MS, to_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    let total: i64 = buckets.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return Ok(None);
    }
    Ok(Some(
        qs.iter()
            .map(|q| {
                let rank = (q * total as f64).ceil().max(1.0) as i64;
                let mut seen = 0;
                let found = buckets.iter().find(|(_, n)| {
                    seen += n;
                    seen >= rank
                });
                found.map_or(0.0, |(b, _)| bucket_value(*b))
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::open_in_memory;

    #[test]
    fn buckets_are_a_fifth_wide_and_quantiles_land_within_ten_percent() {
        for ms in [2u32, 10, 99, 1_000, 45_000, 600_000] {
            let value = bucket_value(bucket(ms));
            assert!(
                (value / f64::from(ms) - 1.0).abs() < 0.1,
                "{ms} ms stands as {value}"
            );
        }
        let mut conn = open_in_memory().unwrap();
        let t = 1_800_000_000_000;
        let events: Vec<UsageEvent> = (1..=1000u32)
            .map(|i| UsageEvent {
                ts: t + i64::from(i) * 10_000,
                latency_ms: i,
                ttft_ms: (i % 2 == 0).then_some(i / 2),
                ..UsageEvent::default()
            })
            .collect();
        let tx = conn.transaction().unwrap();
        add(&tx, &events).unwrap();
        tx.commit().unwrap();
        let q = quantiles(&conn, Kind::Latency, 0, i64::MAX, &[0.5, 0.95])
            .unwrap()
            .unwrap();
        assert!((q[0] / 500.0 - 1.0).abs() < 0.1, "p50 {}", q[0]);
        assert!((q[1] / 950.0 - 1.0).abs() < 0.1, "p95 {}", q[1]);
        let ttft = quantiles(&conn, Kind::FirstToken, 0, i64::MAX, &[0.95])
            .unwrap()
            .unwrap();
        assert!((ttft[0] / 475.0 - 1.0).abs() < 0.1, "ttft p95 {}", ttft[0]);
        assert_eq!(
            quantiles(&conn, Kind::Latency, 0, t, &[0.5]).unwrap(),
            None,
            "no data, no figure"
        );
    }
}
