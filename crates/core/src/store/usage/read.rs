//! The admin API's queries over usage rows: totals, the request log, the overview, series
//! and shares.

use super::*;

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
                images_described, images_cached, images_uploaded
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
                model_label: None,
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
                images_uploaded: r.get(26)?,
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
    use crate::store::latency::{Kind, quantiles};
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

/// Refusals counted but not stored one row each: beyond each minute's first of a kind, which
/// the request log keeps as its sample (see `0013_refusal_tallies.sql`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RefusalTally {
    /// The minute's start (Unix ms).
    pub minute: i64,
    pub client_token: String,
    pub status: u16,
    pub error_class: String,
    /// How many more like the sample were refused that minute.
    pub count: u64,
}

/// The refusal tallies of the minutes in `[from, to)`, newest first, at most `limit`.
pub fn refusals(
    conn: &Connection,
    from_ms: i64,
    to_ms: i64,
    limit: u32,
) -> rusqlite::Result<Vec<RefusalTally>> {
    let mut stmt = conn.prepare_cached(
        "SELECT minute, client_token, status, error_class, count FROM usage_refusals
         WHERE minute >= ?1 AND minute < ?2 ORDER BY minute DESC, count DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![from_ms, to_ms, limit], |r| {
        Ok(RefusalTally {
            minute: r.get(0)?,
            client_token: r.get(1)?,
            status: r.get(2)?,
            error_class: r.get(3)?,
            count: r.get::<_, i64>(4)? as u64,
        })
    })?;
    rows.collect()
}
