//! The admin API's figures, black box: the overview, the charts' series and breakdowns, the
//! request log, and the live events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn overview_counts_requests_and_tokens() {
    let h = Harness::with_keys(&["k1"]).await;
    for _ in 0..3 {
        assert_eq!(h.chat(user("hello")).await.0, 200);
    }
    let mut unknown = user("x");
    unknown["model"] = json!("nope");
    assert_eq!(h.chat(unknown).await.0, 404);
    h.usage().await;
    let (status, o) = get(&h, "/api/stats/overview", Some(ADMIN)).await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(
        (o["requests"].as_u64(), o["successes"].as_u64()),
        (Some(4), Some(3))
    );
    assert_eq!(o["success_rate"].as_f64(), Some(0.75));
    assert!(o["input_tokens"].as_u64().unwrap() > 0 && o["output_tokens"].as_u64().unwrap() > 0);
    assert_eq!(o["accounts"], json!({"total": 1, "healthy": 1}));
    let (status, body) = get(&h, "/api/stats/overview?from=10&to=5", Some(ADMIN)).await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("from"))
    );
    let (status, _) = get(&h, "/api/stats/overview?from=yesterday", Some(ADMIN)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn series_and_breakdowns_for_the_charts() {
    let h = Harness::with_keys(&["k1", "k2"]).await;
    for i in 0..6 {
        let mut body = user("x");
        if i % 3 == 0 {
            body["model"] = json!("claude-3.7-sonnet");
        }
        assert_eq!(h.chat(body).await.0, 200);
    }
    h.usage().await;
    let (status, hourly) = get(&h, "/api/stats/series?bucket=hour", Some(ADMIN)).await;
    assert_eq!(status, 200, "{hourly}");
    let buckets = hourly["data"].as_array().unwrap();
    assert!(
        (24..=25).contains(&buckets.len()),
        "the last 24 hours, every bucket present: {}",
        buckets.len()
    );
    assert_eq!(
        buckets
            .iter()
            .map(|b| b["requests"].as_u64().unwrap())
            .sum::<u64>(),
        6
    );
    let recent: u64 = buckets[buckets.len() - 2..]
        .iter()
        .map(|b| b["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(
        recent, 6,
        "this hour holds them all (or it and the last, across the hour's turn)"
    );
    let (_, daily) = get(
        &h,
        "/api/stats/series?bucket=day&tz_offset=480",
        Some(ADMIN),
    )
    .await;
    let days = daily["data"].as_array().unwrap();
    assert!((30..=31).contains(&days.len()));
    let first = days[0]["start"].as_i64().unwrap();
    assert_eq!(
        (first + 480 * 60_000) % 86_400_000,
        0,
        "days start at local midnight (UTC+8)"
    );
    let (_, models) = get(&h, "/api/stats/breakdown?by=model", Some(ADMIN)).await;
    let keys: Vec<(&str, u64)> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["key"].as_str().unwrap(), m["requests"].as_u64().unwrap()))
        .collect();
    assert_eq!(keys, [("gpt-4o", 4), ("claude-3.7-sonnet", 2)]);
    let (_, accounts) = get(&h, "/api/stats/breakdown?by=account", Some(ADMIN)).await;
    assert_eq!(accounts["data"].as_array().unwrap().len(), 2);
    for bad in [
        "/api/stats/series?bucket=week",
        "/api/stats/series?tz_offset=9999",
        "/api/stats/series?bucket=hour&from=0&to=999999999999",
        "/api/stats/breakdown?by=color",
        "/api/stats/breakdown",
        "/api/stats/breakdown?by=model&from=10&to=5",
        // Times that would wrap a subtraction (it once grew a bucket list until the
        // process aborted), and times out of range, are refused.
        "/api/stats/series?from=-9223372036851774000",
        "/api/stats/series?bucket=day&from=-9223372036854775808",
        "/api/stats/overview?from=-9223372036854775808",
        "/api/stats/overview?to=9223372036854775807",
        "/api/stats/breakdown?by=token&from=-1",
        "/api/stats/series?to=253402300800000",
    ] {
        let (status, body) = get(&h, bad, Some(ADMIN)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn the_request_log_pages_by_keyset_and_filters() {
    let h = Harness::with_keys(&["k1"]).await;
    for i in 0..25 {
        let mut body = user(&format!("r{i}"));
        if i % 5 == 0 {
            body["model"] = json!("no-such-model");
        }
        h.chat(body).await;
    }
    h.usage().await;
    let mut seen = HashSet::new();
    let mut before: Option<i64> = None;
    let mut sizes = Vec::new();
    loop {
        let path = match before {
            Some(id) => format!("/api/requests?limit=10&before={id}"),
            None => "/api/requests?limit=10".to_owned(),
        };
        let (status, page) = get(&h, &path, Some(ADMIN)).await;
        assert_eq!(status, 200, "{page}");
        let rows = page["data"].as_array().unwrap();
        sizes.push(rows.len());
        let ids: Vec<i64> = rows.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
        assert!(ids.iter().all(|id| seen.insert(*id)), "no row twice");
        match page["next_before"].as_i64() {
            Some(id) => before = Some(id),
            None => break,
        }
    }
    // 20 answers, and one sample of the 5 identical refusals (the rest are tallied).
    assert_eq!(sizes, [10, 10, 1]);
    let (_, errors) = get(&h, "/api/requests?outcome=error", Some(ADMIN)).await;
    let errors = errors["data"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(
        errors
            .iter()
            .all(|r| r["status"] == 404 && r["error_class"] == "model_not_found")
    );
    let (_, by_model) = get(&h, "/api/requests?model=gpt-4o&limit=100", Some(ADMIN)).await;
    assert_eq!(by_model["data"].as_array().unwrap().len(), 20);
    assert!(by_model["next_before"].is_null());
    for bad in [
        "/api/requests?outcome=maybe",
        "/api/requests?limit=0",
        "/api/requests?before=x",
    ] {
        let (status, body) = get(&h, bad, Some(ADMIN)).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn live_events_coalesce_a_burst_into_a_few_updates() {
    use futures_util::StreamExt;
    let h = Harness::with_keys(&["k1"]).await;
    let response = h
        .http
        .get(h.url("/api/events?interval_ms=300"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut body = response.bytes_stream();
    let burst = 200;
    let mut chats = Vec::new();
    for i in 0..burst {
        let http = h.http.clone();
        let url = h.url("/v1/chat/completions");
        chats.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(TOKEN)
                .json(&user(&format!("n{i}")))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for chat in chats {
        assert_eq!(chat.await.unwrap(), 200);
    }
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut seen, mut updates, mut ticks) = (0u64, 0, 0);
    while seen < burst && tokio::time::Instant::now() < deadline {
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let kind = frame
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            let data: Value = serde_json::from_str(data).unwrap();
            match kind {
                "requests" => {
                    updates += 1;
                    let events = data["events"].as_array().unwrap();
                    assert!(events.len() <= 50);
                    assert!(
                        events
                            .iter()
                            .all(|e| e["client_token"] == "default" && e["status"] == 200)
                    );
                    seen += events.len() as u64 + data["skipped"].as_u64().unwrap();
                }
                "tick" => {
                    ticks += 1;
                    assert!(
                        data["totals"]["requests"].as_u64().is_some()
                            && data["accounts"]["total"] == 1
                    );
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    assert_eq!(seen, burst, "every finished request is counted");
    assert!(
        updates <= 5 && ticks >= 1,
        "{burst} requests cost {updates} request updates"
    );
    refused(
        &h.admin("GET", "/api/events?interval_ms=5", None).await,
        400,
        Some("interval_ms"),
    );
}

#[tokio::test]
async fn one_request_of_the_log_by_its_id() {
    let h = Harness::with_keys(&["k1"]).await;
    h.chat(user("first")).await;
    let mut missing = user("second");
    missing["model"] = json!("no-such-model");
    h.chat(missing).await;
    h.usage().await;
    let (_, page) = get(&h, "/api/requests", Some(ADMIN)).await;
    for row in page["data"].as_array().unwrap() {
        let id = row["id"].as_i64().unwrap();
        let (status, one) = get(&h, &format!("/api/requests/{id}"), Some(ADMIN)).await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(&one, row, "the same row as in the list");
    }
    let newest = page["data"][0]["id"].as_i64().unwrap();
    for path in [
        format!("/api/requests/{}", newest + 1),
        "/api/requests/0".to_owned(),
        "/api/requests/-5".to_owned(),
        "/api/requests/x".to_owned(),
        format!("/api/requests/{}", i64::MAX),
    ] {
        let (status, body) = get(&h, &path, Some(ADMIN)).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    let (status, _) = get(&h, &format!("/api/requests/{newest}"), None).await;
    assert_eq!(status, 401, "the admin credential is needed");
}

#[tokio::test]
async fn usage_is_broken_down_by_dialect_and_client() {
    let h = Harness::with_keys(&["k"]).await;
    let send = |path: &'static str, agent: &'static str, body: serde_json::Value| {
        let h = &h;
        async move {
            let response = h
                .http
                .post(h.url(path))
                .bearer_auth(TOKEN)
                .header("user-agent", agent)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{path}");
        }
    };
    let chat = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    send("/v1/chat/completions", "OpenAI/Python 3.57.0", chat.clone()).await;
    send("/v1/chat/completions", "OpenAI/Python 3.57.0", chat).await;
    send(
        "/v1/messages",
        "claude-cli/2.1.328 (external, sdk-cli)",
        json!({"model": "claude-sonnet-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    send(
        "/v1/responses",
        "codex_exec/0.169.0",
        json!({"model": "gpt-5.6-luna", "input": "hi"}),
    )
    .await;
    send(
        "/v1/completions",
        "curl/8.14.1",
        json!({"model": "gpt-4o", "prompt": "hi"}),
    )
    .await;
    let rows = h.usage_rows(5).await;
    let mut seen: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.dialect.clone(), r.client.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("chat".into(), "openai_sdk".into()),
            ("chat".into(), "openai_sdk".into()),
            ("completions".into(), "curl".into()),
            ("messages".into(), "claude_code".into()),
            ("responses".into(), "codex".into()),
        ]
    );
    let (_, page) = get(&h, "/api/requests?limit=1", Some(ADMIN)).await;
    assert_eq!(page["data"][0]["dialect"], "completions");
    assert_eq!(page["data"][0]["client"], "curl");
    let keys = |list: &serde_json::Value| -> Vec<(String, u64)> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["key"].as_str().unwrap().to_owned(),
                    s["requests"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (_, dialects) = get(&h, "/api/stats/breakdown?by=dialect", Some(ADMIN)).await;
    assert_eq!(
        keys(&dialects),
        [
            ("chat".into(), 2),
            ("completions".into(), 1),
            ("messages".into(), 1),
            ("responses".into(), 1)
        ]
    );
    let (_, clients) = get(&h, "/api/stats/breakdown?by=client", Some(ADMIN)).await;
    assert_eq!(keys(&clients)[0], ("openai_sdk".into(), 2));
    assert_eq!(keys(&clients).len(), 4);
}
