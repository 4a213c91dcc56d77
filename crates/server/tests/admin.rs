//! The admin API: its own credential, Host check, closed CORS, and the first read routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::*;
use fake_ondemand::{Behaviour, Failure};
use serde_json::{Value, json};

async fn get(h: &Harness, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = h.http.get(h.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn only_the_admin_credential_opens_the_api() {
    let h = Harness::with_keys(&["k1"]).await;
    assert_eq!(get(&h, "/api/accounts", None).await.0, 401);
    let (status, body) = get(&h, "/api/accounts", Some(TOKEN)).await;
    assert_eq!(status, 401, "a client token never opens /api");
    assert_eq!(body["error"]["code"], "admin_auth_required");
    assert_eq!(get(&h, "/api/accounts", Some(ADMIN)).await.0, 200);
    // And the admin password is no client token.
    let (status, _) = h.chat(user("x")).await;
    assert_eq!(status, 200);
    let response = h
        .http
        .post(h.url("/v1/chat/completions"))
        .bearer_auth(ADMIN)
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_foreign_host_is_refused_even_with_the_password() {
    let h = Harness::with_keys(&["k1"]).await;
    for host in ["evil.example", "rebind.attacker.test:8787"] {
        let response = h
            .http
            .get(h.url("/api/accounts"))
            .bearer_auth(ADMIN)
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{host}");
        let login = h
            .http
            .post(h.url("/api/login"))
            .header("host", host)
            .json(&json!({"password": ADMIN}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 403, "{host}");
    }
    let response = h
        .http
        .get(h.url("/api/accounts"))
        .bearer_auth(ADMIN)
        .header("host", "localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn cors_stays_closed() {
    let h = Harness::with_keys(&["k1"]).await;
    let response = h
        .http
        .get(h.url("/api/accounts"))
        .bearer_auth(ADMIN)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
    let preflight = h
        .http
        .request(reqwest::Method::OPTIONS, h.url("/api/accounts"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(!preflight.status().is_success());
    assert!(
        preflight
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

#[tokio::test]
async fn login_sets_a_session_cookie_and_logout_ends_it() {
    let h = Harness::with_keys(&["k1"]).await;
    let wrong = h
        .http
        .post(h.url("/api/login"))
        .json(&json!({"password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let bad = h
        .http
        .post(h.url("/api/login"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let ok = h
        .http
        .post(h.url("/api/login"))
        .json(&json!({"password": ADMIN}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 204);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/api"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    assert!(
        !session.contains(ADMIN),
        "the cookie is a session id, not the password"
    );
    let with_cookie = |path: &str| {
        h.http
            .get(h.url(path))
            .header("cookie", session.clone())
            .send()
    };
    assert_eq!(with_cookie("/api/accounts").await.unwrap().status(), 200);
    let out = h
        .http
        .post(h.url("/api/logout"))
        .header("cookie", session.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(with_cookie("/api/accounts").await.unwrap().status(), 401);
}

#[tokio::test]
async fn repeated_wrong_passwords_are_throttled() {
    let h = Harness::with_keys(&["k1"]).await;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        statuses.push(
            h.http
                .post(h.url("/api/login"))
                .json(&json!({"password": "guess"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(&statuses[..10], [401; 10]);
    assert_eq!(&statuses[10..], [429, 429]);
}

#[tokio::test]
async fn accounts_show_state_and_reason_but_never_a_secret() {
    let h = Harness::with_keys(&["sk-secret-key-one-0001", "sk-secret-key-two-0002"]).await;
    h.fake.set_behaviour(
        "sk-secret-key-one-0001",
        Behaviour {
            failure: Some(Failure::new(401, "unauthenticated")),
            ..Behaviour::default()
        },
    );
    assert_eq!(h.chat(user("x")).await.0, 200);
    let response = h
        .http
        .get(h.url("/api/accounts"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let states: Vec<(&str, &str)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["kind"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [("api_key", "needs_attention"), ("api_key", "healthy")]
    );
    assert!(
        body["data"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("Invalid API Key")
    );
    assert!(body["data"][0]["retry_in_s"].as_f64().unwrap() > 0.0);
    // The harness names accounts after their keys; a real config uses a name or a fingerprint.
    let without_names = text
        .replace("\"name\":\"sk-secret-key-one-0001\"", "")
        .replace("\"name\":\"sk-secret-key-two-0002\"", "");
    assert!(!without_names.contains("sk-secret-key"), "{text}");
}

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
    assert_eq!(sizes, [10, 10, 5]);
    let (_, errors) = get(&h, "/api/requests?outcome=error", Some(ADMIN)).await;
    let errors = errors["data"].as_array().unwrap();
    assert_eq!(errors.len(), 5);
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
async fn unknown_admin_routes_answer_in_the_envelope() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, body) = get(&h, "/api/nothing-here", Some(ADMIN)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "unknown_url");
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
    ] {
        let (status, body) = get(&h, bad, Some(ADMIN)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive_on_both_apis_and_bad_queries_name_the_parameter() {
    let h = Harness::with_keys(&["k1"]).await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let admin = h
            .http
            .get(h.url("/api/session"))
            .header("authorization", format!("{scheme} {ADMIN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200, "/api with {scheme}");
        let v1 = h
            .http
            .get(h.url("/v1/models"))
            .header("authorization", format!("{scheme} {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(v1.status(), 200, "/v1 with {scheme}");
    }
    let (status, body) = get(&h, "/api/stats/overview?from=yesterday", Some(ADMIN)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "from");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`from`")
    );
}
