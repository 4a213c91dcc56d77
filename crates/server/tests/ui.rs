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
    assert_eq!(
        h.http
            .get(h.url("/assets/nope.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let closed = h.http.get(h.url("/api/session")).send().await.unwrap();
    assert_eq!(closed.status(), 401, "nothing from /api/ before sign-in");
    let (status, session) = h.admin("GET", "/api/session", None).await;
    assert_eq!(
        (status, session["authenticated"].as_bool()),
        (200, Some(true))
    );
}
