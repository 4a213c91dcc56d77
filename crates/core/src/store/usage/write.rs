//! Writing usage rows, with their rollups and the tokens' use counters, in one transaction.

use super::*;

/// Which refusals are kept as rows: the first of each kind (client token, status, error)
/// per minute; the rest are tallied. Remembers the current minutes only.
#[derive(Debug, Default)]
pub struct RefusalSampler {
    seen: std::collections::HashSet<(i64, String, u16, String)>,
}

impl RefusalSampler {
    /// For each event: whether it is only tallied (a refusal of a kind already sampled this
    /// minute) instead of stored as a row.
    pub fn tallied(&mut self, events: &[UsageEvent]) -> Vec<bool> {
        if let Some(newest) = events.iter().map(|e| e.ts).max() {
            let current = newest.div_euclid(MINUTE_MS);
            self.seen.retain(|(minute, ..)| *minute + 1 >= current);
        }
        events
            .iter()
            .map(|e| {
                e.refused()
                    && !self.seen.insert((
                        e.ts.div_euclid(MINUTE_MS),
                        e.client_token.clone(),
                        e.status,
                        e.error_class.clone().unwrap_or_default(),
                    ))
            })
            .collect()
    }
}

/// The measures every rollup table sums, in the order of the `[i64; 8]` sums below.
const ROLLUP_MEASURES: [&str; 8] = [
    "requests",
    "successes",
    "input_tokens",
    "output_tokens",
    "estimated_tokens",
    "latency_ms_sum",
    "tool_requests",
    "corrected",
];

/// `INSERT … ON CONFLICT DO UPDATE` adding one row of sums to a rollup table keyed by `keys`.
fn rollup_upsert(table: &str, keys: &[&str]) -> String {
    let columns: Vec<&str> = keys.iter().chain(ROLLUP_MEASURES.iter()).copied().collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let updates: Vec<String> = ROLLUP_MEASURES
        .iter()
        .map(|m| format!("{m} = {m} + excluded.{m}"))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}",
        columns.join(", "),
        placeholders.join(", "),
        keys.join(", "),
        updates.join(", ")
    )
}

/// Inserts events and folds them into the rollups (`usage_hourly`, `usage_hourly_totals`,
/// `usage_daily`), in the caller's transaction.
pub fn insert_batch(tx: &Transaction<'_>, events: &[UsageEvent]) -> rusqlite::Result<()> {
    insert_sampled(tx, events, &[])
}

/// [`insert_batch`], where the events marked in `tallied` are counted (in the rollups and
/// `usage_refusals`) but not stored as rows.
pub fn insert_sampled(
    tx: &Transaction<'_>,
    events: &[UsageEvent],
    tallied: &[bool],
) -> rusqlite::Result<()> {
    let mut tallies: HashMap<(i64, &str, u16, &str), i64> = HashMap::new();
    let mut insert = tx.prepare_cached(
        "INSERT INTO usage_events (ts, client_token, account, model, endpoint_id, stream, status, error_class,
            attempts, latency_ms, ttft_ms, input_tokens, output_tokens, tokens_estimated, session_reused, failed_attempts,
            notes, tools, tool_calls, corrected, response_format, dialect, client, images_described, images_cached, images_uploaded)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    )?;
    let mut rollup = tx.prepare_cached(&rollup_upsert(
        "usage_hourly",
        &["hour", "model", "account", "client_token"],
    ))?;
    // Rollups are summed per (hour, model, account, token) in memory first: a batch of a
    // thousand rows usually touches a handful of rollup rows, so this saves most upserts.
    let mut sums: HashMap<(i64, &str, &str, &str), [i64; 8]> = HashMap::new();
    let mut per_client: HashMap<(i64, &str, &str), [i64; 8]> = HashMap::new();
    // Saturating: a row with absurd counts must not wrap the sums of the others.
    let add = |into: &mut [i64; 8], sum: [i64; 8]| {
        for (t, v) in into.iter_mut().zip(sum) {
            *t = t.saturating_add(v);
        }
    };
    for (i, e) in events.iter().enumerate() {
        let input = i64::try_from(e.input_tokens).unwrap_or(i64::MAX);
        let output = i64::try_from(e.output_tokens).unwrap_or(i64::MAX);
        if tallied.get(i).copied().unwrap_or(false) {
            let key = (
                e.ts.div_euclid(MINUTE_MS) * MINUTE_MS,
                e.client_token.as_str(),
                e.status,
                e.error_class.as_deref().unwrap_or(""),
            );
            *tallies.entry(key).or_default() += 1;
        } else {
            insert.execute(params![
                e.ts,
                e.client_token,
                e.account,
                e.model,
                e.endpoint_id,
                e.stream,
                e.status,
                e.error_class,
                e.attempts,
                e.latency_ms,
                e.ttft_ms,
                input,
                output,
                e.tokens_estimated,
                e.session_reused,
                json_list(&e.failed_attempts),
                e.notes,
                e.tools,
                json_list(&e.tool_calls),
                e.corrected,
                e.response_format,
                e.dialect,
                e.client,
                e.images_described,
                e.images_cached,
                e.images_uploaded,
            ])?;
        }
        let key = (
            e.ts.div_euclid(HOUR_MS) * HOUR_MS,
            e.counted_model(),
            e.account.as_deref().unwrap_or(""),
            e.client_token.as_str(),
        );
        let estimated = if e.tokens_estimated {
            input.saturating_add(output)
        } else {
            0
        };
        let row = [
            1,
            i64::from(e.succeeded()),
            input,
            output,
            estimated,
            i64::from(e.latency_ms),
            i64::from(e.tools > 0),
            i64::from(e.corrected),
        ];
        add(sums.entry(key).or_default(), row);
        add(
            per_client
                .entry((key.0, e.dialect.as_str(), e.client.as_str()))
                .or_default(),
            row,
        );
    }
    let mut clients = tx.prepare_cached(&rollup_upsert(
        "usage_clients_hourly",
        &["hour", "dialect", "client"],
    ))?;
    for ((hour, dialect, client), [a, b, c, d, e, f, g, h]) in per_client {
        clients.execute(params![hour, dialect, client, a, b, c, d, e, f, g, h])?;
    }
    let mut totals = tx.prepare_cached(&rollup_upsert("usage_hourly_totals", &["hour"]))?;
    let mut per_hour: HashMap<i64, [i64; 8]> = HashMap::new();
    let mut per_day: HashMap<(i64, &str, &str, &str), [i64; 8]> = HashMap::new();
    for ((hour, model, account, token), sum) in sums {
        let [a, b, c, d, e, f, g, h] = sum;
        rollup.execute(params![hour, model, account, token, a, b, c, d, e, f, g, h])?;
        add(per_hour.entry(hour).or_default(), sum);
        let day = hour.div_euclid(DAY_MS) * DAY_MS;
        add(
            per_day.entry((day, model, account, token)).or_default(),
            sum,
        );
    }
    let mut daily = tx.prepare_cached(&rollup_upsert(
        "usage_daily",
        &["day", "model", "account", "client_token"],
    ))?;
    for ((day, model, account, token), [a, b, c, d, e, f, g, h]) in per_day {
        daily.execute(params![day, model, account, token, a, b, c, d, e, f, g, h])?;
    }
    for (hour, [a, b, c, d, e, f, g, h]) in per_hour {
        totals.execute(params![hour, a, b, c, d, e, f, g, h])?;
    }
    // What each client token used, for its quotas: the requests that count, every token,
    // every image upload (a failed request's too).
    let mut per_token: HashMap<&str, crate::store::client_tokens::Use> = HashMap::new();
    for e in events {
        let used = per_token.entry(e.client_token.as_str()).or_default();
        used.requests += u64::from(e.counts_as_request());
        used.tokens += e.input_tokens + e.output_tokens;
        used.uploads += u64::from(e.images_uploaded);
        used.last = used.last.max(e.ts);
    }
    let uses: Vec<(&str, crate::store::client_tokens::Use)> = per_token.into_iter().collect();
    crate::store::client_tokens::add_use(tx, &uses)?;
    crate::store::latency::add(tx, events)?;
    let mut tally = tx.prepare_cached(
        "INSERT INTO usage_refusals (minute, client_token, status, error_class, count) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (minute, client_token, status, error_class) DO UPDATE SET count = count + excluded.count",
    )?;
    for ((minute, token, status, class), count) in tallies {
        tally.execute(params![minute, token, status, class, count])?;
    }
    Ok(())
}

/// Deletes raw rows older than `cutoff_ms`, at most `limit` of them (small batches keep
/// the writer's lock short); returns how many went. Rollups are untouched.
pub fn prune(conn: &Connection, cutoff_ms: i64, limit: u32) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM usage_events WHERE id IN (SELECT id FROM usage_events WHERE ts < ?1 ORDER BY ts LIMIT ?2)",
        params![cutoff_ms, limit],
    )
}
