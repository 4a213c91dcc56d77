//! The web UI is served at `/` from the binary; `/api/` stays closed until sign-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[tokio::test]
async fn the_ui_is_served_with_strict_headers_and_the_api_stays_closed() {
    let h = Harness::with_keys(&["k1"]).await;
    let page = h.http.get(h.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let built = ondemand_proxy::ui::built();
    if built {
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(page.headers()["x-frame-options"], "DENY");
    }
    let html = page.text().await.unwrap();
    if built {
        assert!(html.contains("<div id=\"root\">"), "{html}");
        // Every asset the page names is served, as immutable.
        let assets: Vec<&str> = html
            .split('"')
            .filter(|s| s.starts_with("./assets/"))
            .collect();
        assert!(!assets.is_empty(), "{html}");
        for asset in assets {
            let response = h
                .http
                .get(h.url(asset.trim_start_matches('.')))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{asset}");
            assert!(
                response.headers()["cache-control"]
                    .to_str()
                    .unwrap()
                    .contains("immutable")
            );
        }
        let icon = h.http.get(h.url("/favicon.svg")).send().await.unwrap();
        assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    } else {
        assert!(html.contains("built without its web UI"), "{html}");
    }
    let missing = h.http.get(h.url("/assets/nope.js")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "not_found",
        "the envelope, as everywhere"
    );
    let closed = h.http.get(h.url("/api/session")).send().await.unwrap();
    assert_eq!(closed.status(), 401, "nothing from /api/ before sign-in");
    let (status, session) = h.admin("GET", "/api/session", None).await;
    assert_eq!(
        (status, session["authenticated"].as_bool()),
        (200, Some(true))
    );
}

#[tokio::test]
async fn only_a_named_origin_gets_cors_and_a_running_server_stops_gracefully() {
    use ondemand_core::Secret;
    use ondemand_core::config::Config;
    use ondemand_proxy::{bootstrap, launch};
    let fake = fake_ondemand::FakeOnDemand::start(Default::default())
        .await
        .unwrap();
    fake.add_key("k1");
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        api_access_token: Some(Secret::new(TOKEN)),
        admin_password: Some(Secret::new(ADMIN)),
        metrics_token: None,
        accounts: vec![key_account("k1")],
        host: [127, 0, 0, 1].into(),
        port: 0,
        data_dir: Some(data.path().to_owned()),
        settings: test_settings(&fake),
        pinned: Default::default(),
        file: None,
        unknown_keys: vec![],
        file_repaired: None,
    };
    let opened =
        bootstrap::open_with(&config, data.path(), vec!["tauri://localhost".into()]).unwrap();
    let listener = launch::bind("127.0.0.1:0".parse().unwrap(), 64).unwrap();
    let running = launch::Running::start(opened, listener).unwrap();
    let base = running.base_url();
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(reqwest::Method::OPTIONS, format!("{base}/api/accounts"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("tauri://localhost").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "tauri://localhost"
    );
    let foreign = preflight("http://evil.example").await.unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let chat = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&user("before shutdown"))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);
    running.shutdown().await.unwrap();
    let conn = ondemand_core::store::open(&data.path().join(bootstrap::DATABASE_FILE)).unwrap();
    let rows = ondemand_core::store::usage::totals(&conn, 0, i64::MAX)
        .unwrap()
        .0;
    assert_eq!(rows, 1, "shutdown wrote the usage row");
    assert!(
        reqwest::get(format!("{base}/health")).await.is_err(),
        "it no longer listens"
    );
}
