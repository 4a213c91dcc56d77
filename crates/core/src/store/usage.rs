//! Usage events: one row per request, and the hourly rollups and client tokens' use counters
//! kept in the same transaction.

use std::collections::HashMap;

use rusqlite::{Connection, Transaction, params};

/// One request, however it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UsageEvent {
    /// Unix ms when the request arrived.
    pub ts: i64,
    /// The client token's name.
    pub client_token: String,
    /// The account that served it (the last one tried), if any was.
    pub account: Option<String>,
    /// The model as requested.
    pub model: String,
    pub endpoint_id: Option<String>,
    pub stream: bool,
    /// The HTTP status the client got (200 for a stream that began, even if it broke).
    pub status: u16,
    /// Why it failed, for failures: an error code (`upstream_timeout`,
    /// `upstream_stream_error`, `client_disconnected`, …).
    pub error_class: Option<String>,
    pub attempts: u32,
    pub latency_ms: u32,
    /// Time to the first content, for streams that got one.
    pub ttft_ms: Option<u32>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The token counts are the proxy's estimate, not the upstream's metrics.
    pub tokens_estimated: bool,
    /// Reuse mode continued an upstream session.
    pub session_reused: bool,
    /// The attempts that failed before the outcome, in order (failover's trail).
    pub failed_attempts: Vec<FailedAttempt>,
    /// What the proxy changed about the request to suit its endpoint (e.g. a dropped
    /// `reasoning_effort`), one note per line.
    pub notes: Option<String>,
    /// Tools the request offered (0: none, or `tool_choice: none`).
    pub tools: u32,
    /// The calls the answer made: names and argument sizes, never the arguments.
    pub tool_calls: Vec<CallSummary>,
    /// A corrective follow-up was needed: the answer left out a call it had to make,
    /// arguments did not follow a strict tool's schema, or the answer did not fit its format.
    pub corrected: bool,
    /// The answer format asked for: `json_object` or `json_schema` (`None`: text).
    pub response_format: Option<String>,
    /// The API dialect: `chat`, `messages`, `responses` or `completions`.
    pub dialect: String,
    /// The client family, from the user agent: `claude_code`, `codex`, `cherry_studio`,
    /// `openai_sdk`, `anthropic_sdk`, `cline`, `roo_code`, `curl` or `other`.
    pub client: String,
    /// Images described by on-demand.io's image agent for this request.
    pub images_described: u32,
    /// Images whose description came from the cache.
    pub images_cached: u32,
}

/// A call an answer made, as the request log keeps it.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct CallSummary {
    pub name: String,
    /// The size of the arguments' JSON.
    pub argument_bytes: u64,
}

/// One upstream attempt that failed: on which account, and how.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct FailedAttempt {
    pub account: String,
    /// The upstream's HTTP status, when it answered with one.
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: String,
}

/// A list as the JSON column keeps it (`NULL` when empty).
fn json_list<T: serde::Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty())
        .then(|| serde_json::to_string(items).ok())
        .flatten()
}

impl UsageEvent {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status) && self.error_class.is_none()
    }

    /// Answered with an error before anything went upstream (a rate limit, a quota, a bad
    /// request): the kind of row a client can make by the thousand.
    pub fn refused(&self) -> bool {
        self.attempts == 0 && self.status >= 400
    }
}

const MINUTE_MS: i64 = 60_000;

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

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

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
            notes, tools, tool_calls, corrected, response_format, dialect, client, images_described, images_cached)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
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
            ])?;
        }
        let key = (
            e.ts.div_euclid(HOUR_MS) * HOUR_MS,
            e.model.as_str(),
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
    // What each client token used, for its quotas: successful requests and every token.
    let mut per_token: HashMap<&str, (u64, u64, i64)> = HashMap::new();
    for e in events {
        let used = per_token.entry(e.client_token.as_str()).or_default();
        used.0 += u64::from(e.succeeded());
        used.1 += e.input_tokens + e.output_tokens;
        used.2 = used.2.max(e.ts);
    }
    let uses: Vec<(&str, u64, u64, i64)> = per_token
        .into_iter()
        .map(|(name, (requests, tokens, last))| (name, requests, tokens, last))
        .collect();
    super::tokens::add_use(tx, &uses)?;
    super::latency::add(tx, events)?;
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

/// Totals over `[from, to)`: requests, successes, input and output tokens.
pub fn totals(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
) -> rusqlite::Result<(u64, u64, u64, u64)> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(status BETWEEN 200 AND 299 AND error_class IS NULL), 0),
                COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0)
         FROM usage_events WHERE ts >= ?1 AND ts < ?2",
        params![from_ms, to_ms],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
            ))
        },
    )
}

/// The most recent events, newest first.
pub fn recent(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<UsageEvent>> {
    Ok(page(conn, None, limit, &RequestFilter::default())?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

/// Filters for the request log; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// `ok` (2xx without error) or `error` (everything else).
    pub outcome: Option<Outcome>,
    pub model: Option<String>,
    pub account: Option<String>,
    pub client_token: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// How a request ended, as the request log filters it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Error,
}

/// One page of the request log, newest first, strictly older than `before_id` (keyset
/// pagination: stable while new rows arrive, and as fast on page 1,000 as on page 1).
pub fn page(
    conn: &Connection,
    before_id: Option<i64>,
    limit: u32,
    filter: &RequestFilter,
) -> rusqlite::Result<Vec<(i64, UsageEvent)>> {
    let mut sql = String::from(
        "SELECT id, ts, client_token, account, model, endpoint_id, stream, status, error_class, attempts,
                latency_ms, ttft_ms, input_tokens, output_tokens, tokens_estimated, session_reused, failed_attempts,
                notes, tools, tool_calls, corrected, response_format, dialect, client,
                images_described, images_cached
         FROM usage_events WHERE id < ?1",
    );
    let mut args: Vec<rusqlite::types::Value> = vec![before_id.unwrap_or(i64::MAX).into()];
    let mut push = |clause: &str, value: rusqlite::types::Value| {
        args.push(value);
        sql.push_str(&format!(" AND {clause} ?{}", args.len()));
    };
    if let Some(model) = &filter.model {
        push("model =", model.clone().into());
    }
    if let Some(account) = &filter.account {
        push("account =", account.clone().into());
    }
    if let Some(token) = &filter.client_token {
        push("client_token =", token.clone().into());
    }
    if let Some(from) = filter.from_ms {
        push("ts >=", from.into());
    }
    if let Some(to) = filter.to_ms {
        push("ts <", to.into());
    }
    match filter.outcome {
        Some(Outcome::Ok) => {
            sql.push_str(" AND status BETWEEN 200 AND 299 AND error_class IS NULL")
        }
        Some(Outcome::Error) => {
            sql.push_str(" AND (status NOT BETWEEN 200 AND 299 OR error_class IS NOT NULL)")
        }
        None => {}
    }
    args.push(i64::from(limit.max(1)).into());
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| {
        Ok((
            r.get(0)?,
            UsageEvent {
                ts: r.get(1)?,
                client_token: r.get(2)?,
                account: r.get(3)?,
                model: r.get(4)?,
                endpoint_id: r.get(5)?,
                stream: r.get(6)?,
                status: r.get(7)?,
                error_class: r.get(8)?,
                attempts: r.get(9)?,
                latency_ms: r.get(10)?,
                ttft_ms: r.get(11)?,
                input_tokens: r.get::<_, i64>(12)? as u64,
                output_tokens: r.get::<_, i64>(13)? as u64,
                tokens_estimated: r.get(14)?,
                session_reused: r.get(15)?,
                failed_attempts: r
                    .get::<_, Option<String>>(16)?
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or_default(),
                notes: r.get(17)?,
                tools: r.get(18)?,
                tool_calls: r
                    .get::<_, Option<String>>(19)?
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or_default(),
                corrected: r.get(20)?,
                response_format: r.get(21)?,
                dialect: r.get(22)?,
                client: r.get(23)?,
                images_described: r.get(24)?,
                images_cached: r.get(25)?,
            },
        ))
    })?;
    rows.collect()
}

/// Figures over a range, from the hourly rollups (the range is widened to whole hours).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Figures)]
pub struct Overview {
    pub requests: u64,
    pub successes: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Of the tokens above, how many are the proxy's estimate.
    pub estimated_tokens: u64,
    pub latency_ms_avg: u64,
    /// Estimated from the hourly histograms (within about 10 %); `None` without requests.
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
    /// Time to first content, streams only.
    pub ttft_ms_p50: Option<f64>,
    pub ttft_ms_p95: Option<f64>,
}

pub fn overview(conn: &Connection, from_ms: i64, to_ms: i64) -> rusqlite::Result<Overview> {
    use super::latency::{Kind, quantiles};
    let from = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
    let latency = quantiles(conn, Kind::Latency, from_ms, to_ms, &[0.5, 0.95])?;
    let ttft = quantiles(conn, Kind::FirstToken, from_ms, to_ms, &[0.5, 0.95])?;
    let at = |q: &Option<Vec<f64>>, i: usize| q.as_ref().map(|v| v[i]);
    conn.query_row(
        "SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(successes), 0), COALESCE(SUM(input_tokens), 0),
                COALESCE(SUM(output_tokens), 0), COALESCE(SUM(estimated_tokens), 0), COALESCE(SUM(latency_ms_sum), 0)
         FROM usage_hourly_totals WHERE hour >= ?1 AND hour < ?2",
        params![from, to_ms],
        |r| {
            let requests = r.get::<_, i64>(0)? as u64;
            Ok(Overview {
                requests,
                successes: r.get::<_, i64>(1)? as u64,
                input_tokens: r.get::<_, i64>(2)? as u64,
                output_tokens: r.get::<_, i64>(3)? as u64,
                estimated_tokens: r.get::<_, i64>(4)? as u64,
                latency_ms_avg: (r.get::<_, i64>(5)? as u64).checked_div(requests).unwrap_or(0),
                latency_ms_p50: at(&latency, 0),
                latency_ms_p95: at(&latency, 1),
                ttft_ms_p50: at(&ttft, 0),
                ttft_ms_p95: at(&ttft, 1),
            })
        },
    )
}

/// Totals of one time bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// Unix ms where the bucket starts (a local hour or midnight in the caller's offset).
    pub start: i64,
    pub requests: u64,
    pub successes: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Requests and tokens per bucket of `bucket_ms` (an hour or a day) over `[from, to)`, with
/// bucket edges at local time for a UTC offset of `offset_ms`. Every bucket is present,
/// empty ones as zeros, so a chart needs no gap filling. Built from the hourly rollups, so
/// offsets that are not whole hours place each hour by its start.
pub fn series(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
    bucket_ms: i64,
    offset_ms: i64,
) -> rusqlite::Result<Vec<Bucket>> {
    let align = |t: i64| (t + offset_ms).div_euclid(bucket_ms) * bucket_ms - offset_ms;
    let first = align(from_ms);
    let mut buckets: Vec<Bucket> = (0..)
        .map(|i| first + i * bucket_ms)
        .take_while(|start| *start < to_ms)
        .map(|start| Bucket {
            start,
            ..Bucket::default()
        })
        .collect();
    let mut stmt = conn.prepare_cached(
        "SELECT ((hour + ?3) / ?4) * ?4 - ?3 AS bucket, SUM(requests), SUM(successes), SUM(input_tokens), SUM(output_tokens)
         FROM usage_hourly_totals WHERE hour >= ?1 AND hour < ?2 GROUP BY bucket",
    )?;
    let rows = stmt.query_map(params![first, to_ms, offset_ms, bucket_ms], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (start, requests, successes, input, output) = row?;
        if let Some(b) = buckets.get_mut(((start - first) / bucket_ms) as usize) {
            *b = Bucket {
                start,
                requests: requests as u64,
                successes: successes as u64,
                input_tokens: input as u64,
                output_tokens: output as u64,
            };
        }
    }
    Ok(buckets)
}

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Model,
    Account,
    Token,
    /// The API dialect the requests spoke.
    Dialect,
    /// The client family that sent them.
    Client,
}

/// One slice of a breakdown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Share {
    pub key: String,
    pub requests: u64,
    pub successes: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Requests that offered tools.
    pub tool_requests: u64,
    /// Requests that needed a corrective follow-up.
    pub corrected: u64,
}

/// Totals per model, account, client token, dialect or client over `[from, to)`, largest
/// first.
pub fn breakdown(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
    by: Dimension,
) -> rusqlite::Result<Vec<Share>> {
    let column = match by {
        Dimension::Model => "model",
        Dimension::Account => "account",
        Dimension::Token => "client_token",
        Dimension::Dialect => "dialect",
        Dimension::Client => "client",
    };
    if matches!(by, Dimension::Dialect | Dimension::Client) {
        // Few rows per hour: the hourly rollup alone is quick for any range.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {column}, SUM(requests), SUM(successes), SUM(input_tokens), SUM(output_tokens),
                SUM(tool_requests), SUM(corrected)
             FROM usage_clients_hourly WHERE hour >= ?1 AND hour < ?2
             GROUP BY 1 ORDER BY SUM(requests) DESC, 1"
        ))?;
        let from_hour = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
        return stmt.query_map(params![from_hour, to_ms], share)?.collect();
    }
    // Whole UTC days in the middle come from the daily rollup, the hours at the edges from
    // the hourly one: the same sums as hours alone, reading ~24 times fewer rows.
    let from_hour = from_ms.div_euclid(HOUR_MS) * HOUR_MS;
    let first_day = from_hour.saturating_add(DAY_MS - 1).div_euclid(DAY_MS) * DAY_MS;
    let end_day = to_ms.div_euclid(DAY_MS) * DAY_MS;
    let (first_day, end_day) = if first_day < end_day {
        (first_day, end_day)
    } else {
        (to_ms, to_ms)
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT k, SUM(r), SUM(s), SUM(i), SUM(o), SUM(t), SUM(c) FROM (
            SELECT {column} AS k, requests AS r, successes AS s, input_tokens AS i, output_tokens AS o,
                tool_requests AS t, corrected AS c
            FROM usage_hourly WHERE hour >= ?1 AND hour < ?2
            UNION ALL
            SELECT {column}, requests, successes, input_tokens, output_tokens, tool_requests, corrected
            FROM usage_daily WHERE day >= ?2 AND day < ?3
            UNION ALL
            SELECT {column}, requests, successes, input_tokens, output_tokens, tool_requests, corrected
            FROM usage_hourly WHERE hour >= ?3 AND hour < ?4
         ) GROUP BY k ORDER BY SUM(r) DESC, k"
    ))?;
    let rows = stmt.query_map(params![from_hour, first_day, end_day, to_ms], share)?;
    rows.collect()
}

fn share(r: &rusqlite::Row<'_>) -> rusqlite::Result<Share> {
    Ok(Share {
        key: r.get(0)?,
        requests: r.get::<_, i64>(1)? as u64,
        successes: r.get::<_, i64>(2)? as u64,
        input_tokens: r.get::<_, i64>(3)? as u64,
        output_tokens: r.get::<_, i64>(4)? as u64,
        tool_requests: r.get::<_, i64>(5)? as u64,
        corrected: r.get::<_, i64>(6)? as u64,
    })
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
