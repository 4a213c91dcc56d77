//! The admin API's guards, black box: its own credential, the Host check, closed CORS,
//! sign-in and its throttle, and errors in the envelope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn only_the_admin_credential_opens_the_api() {
    let h = Harness::with_keys(&["k1"]).await;
    assert_eq!(get(&h, "/api/accounts", None).await.0, 401);
    let (status, body) = get(&h, "/api/accounts", Some(TOKEN)).await;
    assert_eq!(status, 401, "a client token never opens /api");
    assert_eq!(body["error"]["code"], "client_token_not_admin");
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
        .header("content-type", "application/json")
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
async fn guesses_are_throttled_before_the_password_is_checked() {
    let h = Harness::with_keys(&["k1"]).await;
    let login = |password: &'static str| {
        h.http
            .post(h.url("/api/login"))
            .json(&json!({"password": password}))
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(login("guess").await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // The right password gets no cookie while the source waits: it is not even checked.
    let right = login(ADMIN).await.unwrap();
    assert_eq!(right.status(), 429);
    assert!(right.headers().get("set-cookie").is_none());
    assert!(right.headers().contains_key("retry-after"));
    // Bearer guesses on /api count alike: this source is waiting.
    let bearer = get(&h, "/api/accounts", Some(ADMIN)).await;
    assert_eq!(bearer.0, 429, "{}", bearer.1);
    // The wait is short for the first strikes: the owner gets in once it has run out, and
    // the right password starts the source over.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let status = loop {
        let status = login(ADMIN).await.unwrap().status().as_u16();
        if status != 429 || std::time::Instant::now() > deadline {
            break status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(status, 204);
    assert_eq!(login("guess").await.unwrap().status(), 401, "a fresh count");
}

#[tokio::test]
async fn bearer_guesses_are_throttled_too() {
    let h = Harness::with_keys(&["k1"]).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(
            get(&h, "/api/accounts", Some(&format!("guess-{i}")))
                .await
                .0,
        );
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    assert_eq!(get(&h, "/api/accounts", Some(ADMIN)).await.0, 429);
}

#[tokio::test]
async fn a_cookie_change_must_come_from_the_dashboard_itself() {
    let h = Harness::with_keys(&["k1"]).await;
    let ok = h
        .http
        .post(h.url("/api/login"))
        .json(&json!({"password": ADMIN}))
        .send()
        .await
        .unwrap();
    let session = ok.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let own = h.base.clone();
    let doc = json!({"version": 1, "tokens": [{"name": "planted", "secret": "sk-odp-planted-0123456789abcdef"}]}).to_string();
    let send = |path: &str,
                body: String,
                content_type: &'static str,
                origin: Option<&str>,
                site: Option<&'static str>| {
        let mut request = h
            .http
            .post(h.url(path))
            .header("cookie", session.clone())
            .header("content-type", content_type)
            .body(body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        request.send()
    };
    for (content_type, origin, site) in [
        // The attack as found: text/plain from a page on another local port.
        (
            "text/plain",
            Some("http://127.0.0.1:9999"),
            Some("same-site"),
        ),
        ("text/plain", None, None),
        (
            "application/x-www-form-urlencoded",
            Some(own.as_str()),
            Some("same-origin"),
        ),
        ("application/json", Some("http://127.0.0.1:9999"), None),
        ("application/json", None, Some("cross-site")),
        ("application/json", None, Some("same-site")),
    ] {
        let response = send(
            "/api/import?mode=replace",
            doc.clone(),
            content_type,
            origin,
            site,
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 403, "{content_type} {origin:?} {site:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "cross_site_request");
    }
    let (_, tokens) = get(&h, "/api/tokens", Some(ADMIN)).await;
    assert!(
        !tokens.to_string().contains("planted"),
        "nothing was planted"
    );
    // From the dashboard itself it works, and a change without a body needs no type.
    let alias = json!({"alias": "made-here", "endpoint_id": "predefined-gpt-5.6-luna"}).to_string();
    let response = send(
        "/api/aliases",
        alias,
        "application/json",
        Some(own.as_str()),
        Some("same-origin"),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let logout = h
        .http
        .post(h.url("/api/logout"))
        .header("cookie", session.clone())
        .header("origin", own.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
}

#[tokio::test]
async fn unknown_admin_routes_answer_in_the_envelope() {
    let h = Harness::with_keys(&["k1"]).await;
    let (status, body) = get(&h, "/api/nothing-here", Some(ADMIN)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "unknown_url");
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

#[tokio::test]
async fn admin_answers_are_never_cached() {
    let h = Harness::with_keys(&["k1"]).await;
    for (path, password) in [
        ("/api/export?secrets=true", Some(ADMIN)),
        ("/api/accounts", Some(ADMIN)),
        ("/api/accounts", None),
        ("/api/openapi.json", None),
    ] {
        let mut request = h.http.get(h.url(path));
        if let Some(password) = password {
            request = request.bearer_auth(password);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path} ({})",
            response.status()
        );
    }
}

#[tokio::test]
async fn nobody_can_lock_the_owner_out() {
    let h = Harness::with_keys(&["k1"]).await;
    let login = |password: &'static str, origin: Option<&'static str>, json: bool| {
        let mut request = h.http.post(h.url("/api/login"));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let body = json!({"password": password}).to_string();
        let kind = if json {
            "application/json"
        } else {
            "text/plain"
        };
        request.header("content-type", kind).body(body).send()
    };
    // Sign-ins a hostile page could send: another origin, or a plain-text body. Refused
    // before they count.
    for _ in 0..6 {
        let cross = login("guess", Some("http://evil.example"), true)
            .await
            .unwrap();
        assert_eq!(cross.status(), 403);
        let plain = login("guess", None, false).await.unwrap();
        assert_eq!(plain.status(), 403);
    }
    // Client tokens on /api and /metrics are mistakes, not guesses.
    for path in ["/api/accounts", "/metrics", "/api/settings"] {
        for _ in 0..3 {
            let (status, body) = get(&h, path, Some(TOKEN)).await;
            assert_eq!(status, 401, "{path}: {body}");
        }
    }
    let (status, body) = get(&h, "/api/accounts", Some("sk-odp-not-even-a-real-one")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("client_token_not_admin"))
    );
    assert_eq!(
        login(ADMIN, None, true).await.unwrap().status(),
        204,
        "the owner signs in"
    );

    // Real guesses still make the source wait, the right password included; the hosting
    // app's own credential (the desktop window's) goes on working.
    for i in 0..6 {
        get(&h, "/api/accounts", Some(&format!("guess-{i}"))).await;
    }
    assert_eq!(get(&h, "/api/accounts", Some(ADMIN)).await.0, 429);
    let app_key = h.state.admin().app_key().expose().to_owned();
    assert_eq!(get(&h, "/api/accounts", Some(&app_key)).await.0, 200);
}
