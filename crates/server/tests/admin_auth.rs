//! The admin API's guards, black box: its own credential, the Host check, closed CORS,
//! sign-in and its throttle, and errors in the envelope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

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
