//! `GET /metrics` (Prometheus): who may scrape it, and that each family is there with sane
//! values after real traffic through the fake (a failover, a stream, a refusal).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions};
use serde_json::json;

const METRICS_TOKEN: &str = "metrics-token-for-tests-0123";

/// The exposition's value of the series `name` whose labels include each of `labels`.
fn value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or(("", ""));
            let bare = series.split('{').next() == Some(name);
            bare && labels.iter().all(|label| series.contains(label))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn scrape(h: &Harness, bearer: Option<&str>, host: Option<&str>) -> (u16, String, String) {
    let mut request = h.http.get(h.url("/metrics"));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        response.status().as_u16(),
        kind,
        response.text().await.unwrap(),
    )
}

#[tokio::test]
async fn metrics_cover_requests_timings_accounts_and_the_process_after_traffic() {
    let h = Harness::build(
        FakeOptions::default(),
        vec![key_account("bad"), key_account("good")],
        |_| {},
    )
    .await;
    // `bad` (tried first) is rate limited: the first request fails over to `good`.
    h.fake.set_behaviour(
        "bad",
        Behaviour {
            failure: Some(Failure::new(429, "rate_limit_exceeded")),
            ..Behaviour::default()
        },
    );
    assert_eq!(h.chat(user("one")).await.0, 200);
    // Some upstream time to see: the fake waits 30 ms before its headers.
    h.fake.set_behaviour(
        "good",
        Behaviour {
            header_delay_ms: 30,
            ..Behaviour::default()
        },
    );
    let (status, events, _) = h.stream(user("two")).await;
    assert_eq!(status, 200);
    assert_eq!(streamed_content(&events), "Echo: two");
    let (status, _) = h
        .chat(json!({"model": "no-such-model-x", "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(status, 404);
    let messages = h
        .http
        .post(h.url("/v1/messages"))
        .header("x-api-key", TOKEN)
        .json(&json!({"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "three"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(messages.status(), 200);
    messages.bytes().await.unwrap();
    h.usage_rows(4).await;

    let (status, kind, text) = scrape(&h, Some(ADMIN), None).await;
    assert_eq!(status, 200, "{text}");
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let requests = |labels: &[&str]| value(&text, "ondemand_proxy_requests_total", labels);
    assert_eq!(
        requests(&[
            "dialect=\"chat\"",
            "model=\"gpt-4o\"",
            "stream=\"false\"",
            "outcome=\"ok\""
        ]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        requests(&[
            "route=\"/v1/chat/completions\"",
            "stream=\"true\"",
            "outcome=\"ok\""
        ]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        requests(&[
            "route=\"/v1/messages\"",
            "dialect=\"messages\"",
            "outcome=\"ok\""
        ]),
        Some(1.0),
        "{text}"
    );
    // The unknown model is counted, under no label of its own.
    assert_eq!(
        requests(&["model=\"unresolved\"", "outcome=\"model_not_found\""]),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("no-such-model-x"), "{text}");
    assert_eq!(
        value(
            &text,
            "ondemand_proxy_failovers_total",
            &["blame=\"account_rate_limited\""]
        ),
        Some(1.0),
        "{text}"
    );

    // Timings: the stream's upstream time holds the fake's 30 ms; the overhead is what
    // is left of the request's time, and small.
    let stream = ["dialect=\"chat\"", "stream=\"true\""];
    let upstream = value(
        &text,
        "ondemand_proxy_upstream_duration_seconds_sum",
        &stream,
    )
    .unwrap();
    let total = value(
        &text,
        "ondemand_proxy_request_duration_seconds_sum",
        &stream,
    )
    .unwrap();
    let overhead = value(&text, "ondemand_proxy_overhead_seconds_sum", &stream).unwrap();
    assert!(upstream >= 0.03, "{upstream}");
    assert!(total >= upstream, "{total} {upstream}");
    assert!(
        (total - upstream - overhead).abs() < 0.001,
        "{total} {upstream} {overhead}"
    );
    assert!(overhead < 0.05, "{overhead}");
    assert_eq!(
        value(
            &text,
            "ondemand_proxy_time_to_first_token_seconds_count",
            &["dialect=\"chat\""]
        ),
        Some(1.0),
        "{text}"
    );
    let first_token = value(
        &text,
        "ondemand_proxy_time_to_first_token_seconds_sum",
        &["dialect=\"chat\""],
    )
    .unwrap();
    assert!(
        (0.03..total + 0.001).contains(&first_token),
        "{first_token}"
    );
    // The refusal did no upstream work: no upstream time for it.
    assert_eq!(
        value(
            &text,
            "ondemand_proxy_upstream_duration_seconds_count",
            &["dialect=\"chat\"", "stream=\"false\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            "ondemand_proxy_tokens_total",
            &["model=\"gpt-4o\"", "kind=\"output\""]
        )
        .unwrap()
            > 0.0,
        "{text}"
    );

    // States read when scraped: `bad` rests after its 429.
    assert_eq!(
        value(&text, "ondemand_proxy_accounts", &["state=\"healthy\""]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "ondemand_proxy_accounts",
            &["state=\"cooling_down\""]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "ondemand_proxy_accounts", &["state=\"disabled\""]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "ondemand_proxy_in_flight", &[]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "ondemand_proxy_usage_queue_depth", &[]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "ondemand_proxy_usage_dropped_total", &[]),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "ondemand_proxy_pool_waits_total", &[]),
        Some(0.0),
        "{text}"
    );
    let rss = value(&text, "process_resident_memory_bytes", &[]).unwrap();
    assert!((1e6..4e9).contains(&rss), "{rss}");
    let fds = value(&text, "process_open_fds", &[]).unwrap();
    assert!((3.0..10_000.0).contains(&fds), "{fds}");

    // Every series the shipped Grafana dashboard queries is one the proxy serves.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../packaging/grafana-dashboard.json"
    ))
    .unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let mut queried = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for name in expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("ondemand_proxy_") || w.starts_with("process_"))
            {
                queried += 1;
                let served = text.lines().any(|l| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with(['{', ' ']))
                });
                assert!(
                    served,
                    "the dashboard queries {name}, which /metrics does not serve"
                );
            }
        }
    }
    assert!(queried > 20, "{queried}");

    // Counters go on from where they were: a second scrape after one more request.
    assert_eq!(h.chat(user("four")).await.0, 200);
    h.usage_rows(5).await;
    let (_, _, again) = scrape(&h, Some(ADMIN), None).await;
    assert_eq!(
        value(
            &again,
            "ondemand_proxy_requests_total",
            &[
                "dialect=\"chat\"",
                "model=\"gpt-4o\"",
                "stream=\"false\"",
                "outcome=\"ok\""
            ]
        ),
        Some(2.0),
        "{again}"
    );
}

#[tokio::test]
async fn metrics_take_the_admin_credential_or_their_own_token() {
    let mut h = Harness::with_keys(&["a"]).await;
    // Without a metrics token: the admin password, on a local Host only.
    assert_eq!(scrape(&h, None, None).await.0, 401);
    assert_eq!(
        scrape(&h, Some(TOKEN), None).await.0,
        401,
        "a client token does not open it"
    );
    assert_eq!(scrape(&h, Some(METRICS_TOKEN), None).await.0, 401);
    assert_eq!(scrape(&h, Some(ADMIN), Some("proxy.example")).await.0, 403);
    assert_eq!(scrape(&h, Some(ADMIN), None).await.0, 200);

    h.config.metrics_token = Some(ondemand_core::Secret::new(METRICS_TOKEN));
    h.restart().await;
    // Its own token, from a Prometheus server that names this host as it likes.
    let (status, _, text) = scrape(&h, Some(METRICS_TOKEN), Some("proxy.example:8787")).await;
    assert_eq!(status, 200);
    assert!(text.contains("ondemand_proxy_accounts"), "{text}");
    assert_eq!(
        scrape(&h, Some(ADMIN), None).await.0,
        200,
        "the admin password still does"
    );
    assert_eq!(
        scrape(&h, Some("metrics-token-for-tests-0124"), None)
            .await
            .0,
        401
    );
    // Off: nothing is counted, and /metrics says so.
    assert_eq!(h.chat(user("counted")).await.0, 200);
    let before = scrape(&h, Some(ADMIN), None).await.2;
    let count = |text: &str| value(text, "ondemand_proxy_requests_total", &["outcome=\"ok\""]);
    assert_eq!(
        h.admin("PATCH", "/api/settings", Some(json!({"metrics": false})))
            .await
            .0,
        200
    );
    assert_eq!(h.chat(user("uncounted")).await.0, 200);
    let (status, _, text) = scrape(&h, Some(ADMIN), None).await;
    assert_eq!(status, 404, "{text}");
    assert!(text.contains("metrics_off"), "{text}");
    assert_eq!(
        h.admin("PATCH", "/api/settings", Some(json!({"metrics": true})))
            .await
            .0,
        200
    );
    assert_eq!(
        count(&scrape(&h, Some(ADMIN), None).await.2),
        count(&before)
    );

    // The metrics token opens nothing else.
    assert_eq!(get(&h, "/api/accounts", Some(METRICS_TOKEN)).await.0, 401);
    assert_eq!(get(&h, "/v1/models", Some(METRICS_TOKEN)).await.0, 401);
}

#[tokio::test]
async fn a_request_that_waits_for_a_busy_account_is_counted_as_a_pool_wait() {
    let one_at_a_time = ondemand_core::config::AccountConfig::ApiKey {
        name: "only".into(),
        api_key: ondemand_core::Secret::new("only"),
        options: ondemand_core::config::AccountOptions {
            weight: 1,
            max_concurrent: Some(1),
            enabled: true,
            proxy: None,
        },
    };
    let h = Harness::build(FakeOptions::default(), vec![one_at_a_time], |s| {
        s.no_account_wait = std::time::Duration::from_secs(5);
    })
    .await;
    h.fake.set_behaviour(
        "only",
        Behaviour {
            header_delay_ms: 100,
            ..Behaviour::default()
        },
    );
    let (a, b) = tokio::join!(h.chat(user("first")), h.chat(user("second")));
    assert_eq!((a.0, b.0), (200, 200));
    h.usage_rows(2).await;
    let (_, _, text) = scrape(&h, Some(ADMIN), None).await;
    assert_eq!(
        value(&text, "ondemand_proxy_pool_waits_total", &[]),
        Some(1.0),
        "one request waited, however many times it looked: {text}"
    );
    let waited = value(&text, "ondemand_proxy_pool_wait_seconds_total", &[]).unwrap();
    assert!(waited >= 0.05, "{waited}");
}

/// Clients may write model names without end: a pattern (`claude-*`) resolves them all, and
/// an alias answers in any case. Series and rollup rows are kept for good, so they count
/// each request under a bounded name: the alias as the catalogue spells it, the endpoint, or
/// `unresolved`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_made_up_model_names_mint_no_series_and_no_rollup_rows() {
    use futures_util::StreamExt;
    let h = Harness::with_keys(&["k1"]).await;
    let name = |i: usize| match i % 3 {
        0 => format!("claude-made-up-{i}"),
        // gpt-4o in a case of its own.
        1 => "gpt-4o"
            .chars()
            .enumerate()
            .map(|(bit, c)| {
                if i >> bit & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect(),
        _ => format!("no-such-model-{i}"),
    };
    let statuses: Vec<u16> = futures_util::stream::iter(0..1000)
        .map(|i| h.chat(json!({"model": name(i), "messages": [{"role": "user", "content": "x"}]})))
        .buffer_unordered(16)
        .map(|(status, _)| status)
        .collect()
        .await;
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(served, 667, "the made-up names resolve");
    assert_eq!(statuses.iter().filter(|s| **s == 404).count(), 333);

    let (_, _, text) = scrape(&h, Some(ADMIN), None).await;
    let models: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("ondemand_proxy_requests_total{"))
        .filter_map(|l| l.split("model=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        ["gpt-4o", "predefined-claude-sonnet-5", "unresolved"],
        "{text}"
    );
    assert!(text.len() < 64 * 1024, "{} bytes", text.len());

    h.state.usage().flush().await;
    let conn = rusqlite::Connection::open(h.database()).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT SUM(requests) FROM usage_hourly"), 1000);
    assert_eq!(count("SELECT COUNT(DISTINCT model) FROM usage_hourly"), 3);
    assert!(count("SELECT COUNT(*) FROM usage_hourly") <= 6);
    assert!(count("SELECT COUNT(*) FROM usage_daily") <= 6);
}
