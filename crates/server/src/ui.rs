//! The web UI, embedded in the binary: `ui/dist` (built by `npm run ui:build`) is compiled in
//! for release builds and read from disk in debug builds, so one file runs anywhere.
//!
//! The UI uses hash routing, so only `/`, its assets and the icon are served. It holds no
//! data: everything comes from `/api/`, which answers nothing until the browser signs in.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../../ui/dist"]
#[allow_missing = true]
struct Assets;

/// Scripts, styles and API calls from this origin only; Mantine sets inline styles.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>OnDemand Proxy</title>\
<body style=\"font-family:system-ui;max-width:40em;margin:4em auto\"><h1>OnDemand Proxy</h1>\
<p>The proxy is running, but this binary was built without its web UI. Build it with \
<code>npm ci &amp;&amp; npm run ui:build</code>, then rebuild the binary \
(<code>./scripts/run.sh</code> does both).</p><p>The OpenAI API is at <code>/v1</code>; the admin API at \
<code>/api</code>.</p>";

fn file(path: &str) -> Response {
    let Some(asset) = Assets::get(path) else {
        return crate::error::ApiError::not_found(format!("No file /{path} in the web UI."))
            .into_response();
    };
    let mime = asset.metadata.mimetype().to_owned();
    // Hashed asset names never change content; the page itself is always revalidated.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, cache.to_owned()),
        ],
        asset.data.into_owned(),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Whether the binary carries the UI.
pub fn built() -> bool {
    Assets::get("index.html").is_some()
}

pub async fn index() -> Response {
    if built() {
        file("index.html")
    } else {
        Html(NOT_BUILT).into_response()
    }
}

pub async fn asset(Path(path): Path<String>) -> Response {
    file(&format!("assets/{path}"))
}

pub async fn favicon() -> Response {
    file("favicon.svg")
}
