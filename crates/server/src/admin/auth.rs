//! Admin authentication for `/api/*`, separate from client tokens.
//!
//! - The admin credential is a password: `Authorization: Bearer <password>`, or a session
//!   cookie from `POST /api/login` (HttpOnly, SameSite=Strict, scoped to `/api`).
//! - A client token never opens `/api/`: only the admin password or a session does.
//! - DNS rebinding: a browser tricked into sending our cookie under an attacker's domain
//!   still sends that domain as `Host`, so `/api` answers only Hosts that are `localhost`
//!   or an IP literal.
//! - CORS stays closed: no `Access-Control-*` headers are sent, so other origins cannot read
//!   admin answers; only the desktop shell names its own webview's origin
//!   ([`crate::bootstrap::open_with`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ondemand_core::Secret;
use rand::Rng;
use rand::distr::Alphanumeric;
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ApiError;

pub const COOKIE: &str = "odp_admin";
/// How long a browser session lasts without a new login.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed logins allowed per minute (over all clients) before 429s.
const LOGIN_ATTEMPTS_PER_MINUTE: u32 = 10;

/// The admin password and the browser sessions it opened.
#[derive(Debug)]
pub struct AdminAuth {
    password: Secret,
    /// Session id → expiry. Sessions live in memory: a restart signs browsers out.
    sessions: Mutex<HashMap<String, Instant>>,
    failures: ondemand_core::limits::RateLimiter,
}

impl AdminAuth {
    pub fn new(password: Secret) -> Self {
        Self {
            password,
            sessions: Mutex::new(HashMap::new()),
            failures: Default::default(),
        }
    }

    /// The admin password, for the one place that shows it (first start, desktop shell).
    pub fn password(&self) -> &Secret {
        &self.password
    }

    fn password_matches(&self, presented: &str) -> bool {
        bool::from(
            presented
                .as_bytes()
                .ct_eq(self.password.expose().as_bytes()),
        )
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn session_valid(&self, id: &str, now: Instant) -> bool {
        let mut sessions = self.sessions();
        sessions.retain(|_, expires| *expires > now);
        sessions.contains_key(id)
    }

    fn open_session(&self, now: Instant) -> String {
        let id: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(43)
            .map(char::from)
            .collect();
        self.sessions().insert(id.clone(), now + SESSION_TTL);
        id
    }

    fn close_session(&self, id: &str) {
        self.sessions().remove(id);
    }
}

/// `localhost` or an IP literal, with or without a port.
fn host_allowed(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

fn cookie_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE).then(|| value.to_owned())
        })
}

/// Largest sign-in body: a password, with room to spare.
const LOGIN_BODY: usize = 16 * 1024;

fn forbidden_host() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "invalid_request_error",
        Some("host_not_allowed"),
        "The admin API answers only on localhost or an IP address.",
    )
    .into_response()
}

/// The Host check alone, for routes open without a login (`/api/login`).
pub async fn require_local_host(request: Request, next: Next) -> Response {
    if host_allowed(request.headers()) {
        next.run(request).await
    } else {
        forbidden_host()
    }
}

/// Host check, then the admin password or a live session.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let allowed = {
        let headers = request.headers();
        if !host_allowed(headers) {
            return forbidden_host();
        }
        let auth = state.admin();
        crate::extract::bearer(headers).is_some_and(|p| auth.password_matches(p))
            || cookie_session(headers).is_some_and(|id| auth.session_valid(&id, Instant::now()))
    };
    if allowed {
        next.run(request).await
    } else {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("admin_auth_required"),
            "Sign in with the admin password.",
        )
        .into_response()
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct Login {
    password: String,
}

/// Signs in with the admin password; sets the session cookie (`odp_admin`).
#[utoipa::path(post, path = "/api/login", tag = "auth", security(()), request_body = Login,
    responses((status = 204, description = "Signed in")))]
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    let auth = state.admin();
    let Login { password } = match crate::extract::read_json(request, LOGIN_BODY, None).await {
        Ok(login) => login,
        Err(error) => return error.into_response(),
    };
    let now = Instant::now();
    if !auth.password_matches(&password) {
        if let Err(wait) = auth.failures.check("login", LOGIN_ATTEMPTS_PER_MINUTE, now) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                Some("too_many_attempts"),
                "Too many failed sign-ins; wait a minute.",
            );
            e.retry_after = Some(wait);
            return e.into_response();
        }
        tracing::warn!("failed admin sign-in");
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("wrong_password"),
            "Wrong admin password.",
        )
        .into_response();
    }
    let id = auth.open_session(now);
    let cookie = format!(
        "{COOKIE}={id}; Path=/api; HttpOnly; SameSite=Strict; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Whether the caller is signed in (this answers only when it is), and the proxy's version.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Session {
    authenticated: bool,
    version: &'static str,
}

/// Whether the caller is signed in, and the proxy's version.
#[utoipa::path(get, path = "/api/session", tag = "auth",
    responses((status = 200, body = Session)))]
pub async fn session() -> axum::Json<Session> {
    axum::Json(Session {
        authenticated: true,
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Ends the browser session.
#[utoipa::path(post, path = "/api/logout", tag = "auth",
    responses((status = 204, description = "Signed out")))]
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie_session(&headers) {
        state.admin().close_session(&id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("odp_admin=; Path=/api; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// This subject's routes that need the admin credential (`login` is open).
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logout))
        .routes(routes!(session))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_localhost_and_ip_literals_pass_the_host_check() {
        for ok in [
            "127.0.0.1:8787",
            "localhost:8787",
            "LOCALHOST",
            "[::1]:8787",
            "192.168.1.5:8787",
            "10.0.0.2",
        ] {
            assert!(host_allowed(&host(ok)), "{ok}");
        }
        for bad in [
            "evil.example:8787",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8787",
            "attacker",
        ] {
            assert!(!host_allowed(&host(bad)), "{bad}");
        }
        assert!(!host_allowed(&HeaderMap::new()));
    }

    #[test]
    fn sessions_expire_and_close() {
        let auth = AdminAuth::new(Secret::new("pw"));
        let now = Instant::now();
        let id = auth.open_session(now);
        assert!(auth.session_valid(&id, now));
        assert!(!auth.session_valid(&id, now + SESSION_TTL + Duration::from_secs(1)));
        let id = auth.open_session(now);
        auth.close_session(&id);
        assert!(!auth.session_valid(&id, now));
        assert!(!auth.session_valid("made-up", now));
    }
}
