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
//! - Cross-site writes: `SameSite` ignores ports, so a page on another local port carries the
//!   cookie. A change made with the cookie must come from the dashboard's own origin (`Origin`
//!   and `Sec-Fetch-Site` say so) and, with a body, be `application/json` (which no page can
//!   send elsewhere without CORS allowing it).
//! - Guessing: failed passwords (sign-in or Bearer) are counted per client address and
//!   overall, and checked before the password is: past a few, each source waits longer
//!   (doubling, capped), so the owner on loopback is slowed for minutes at most, and a
//!   guesser gets a handful of tries an hour instead of thousands a second.

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
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ErrorKind};

pub const COOKIE: &str = "odp_admin";
/// How long a browser session lasts without a new login.
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Failed passwords a source may make before it must wait; overall, over all sources.
const FREE_FAILURES: u32 = 5;
const FREE_FAILURES_OVERALL: u32 = 50;
/// The first wait, doubling with each further failure, up to the longest.
const FIRST_WAIT: Duration = Duration::from_secs(1);
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// Sources remembered before idle ones are forgotten.
const MAX_SOURCES: usize = 10_000;

/// Failed passwords so far, and until when the next try must wait.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    until: Instant,
}

impl Strikes {
    fn add(&mut self, free: u32, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.failures >= free {
            let doublings = (self.failures - free).min(16);
            self.until = now + FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT);
        }
    }
}

/// Failed passwords per source address and overall.
#[derive(Debug, Default)]
pub struct Throttle {
    sources: Mutex<HashMap<std::net::IpAddr, Strikes>>,
    overall: Mutex<Option<Strikes>>,
}

impl Throttle {
    /// How long `source` must still wait before its password is even checked.
    fn wait(&self, source: Option<std::net::IpAddr>, now: Instant) -> Option<Duration> {
        let overall = self
            .overall
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|s| s.until);
        let own = source.and_then(|ip| {
            let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            sources.get(&ip).map(|s| s.until)
        });
        [overall, own]
            .into_iter()
            .flatten()
            .filter(|until| *until > now)
            .max()
            .map(|until| until - now)
    }

    fn failed(&self, source: Option<std::net::IpAddr>, now: Instant) {
        let fresh = Strikes {
            failures: 0,
            until: now,
        };
        self.overall
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(fresh)
            .add(FREE_FAILURES_OVERALL, now);
        if let Some(ip) = source {
            let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
            if sources.len() >= MAX_SOURCES {
                sources.retain(|_, s| s.until + LONGEST_WAIT > now);
            }
            sources.entry(ip).or_insert(fresh).add(FREE_FAILURES, now);
        }
    }

    /// The right password: this source starts over (the overall count keeps decaying on its
    /// own, by the waits running out).
    fn succeeded(&self, source: Option<std::net::IpAddr>) {
        if let Some(ip) = source {
            self.sources
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&ip);
        }
    }
}

/// The client's address, when the server knows it.
fn source(request: &Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

fn too_many(wait: Duration) -> Response {
    let mut e = ApiError::new(
        ErrorKind::TooManyAttempts,
        format!(
            "Too many wrong admin passwords from here; try again in {} s.",
            wait.as_secs().max(1)
        ),
    );
    e.retry_after = Some(wait);
    e.into_response()
}

/// The admin password and the browser sessions it opened.
#[derive(Debug)]
pub struct AdminAuth {
    password: Secret,
    /// The credential of the app that hosts the server (the desktop shell hands it to its own
    /// window): made at random for this process, never stored, never throttled, so that
    /// someone guessing the password cannot lock the app's window out.
    app_key: Secret,
    /// Session id → expiry. Sessions live in memory: a restart signs browsers out.
    sessions: Mutex<HashMap<String, Instant>>,
    throttle: Throttle,
}

impl AdminAuth {
    pub fn new(password: Secret) -> Self {
        Self {
            password,
            app_key: Secret::new(random_text(43)),
            sessions: Mutex::new(HashMap::new()),
            throttle: Throttle::default(),
        }
    }

    /// The admin password, for the one place that shows it (the first start).
    pub fn password(&self) -> &Secret {
        &self.password
    }

    /// The hosting app's own credential ([`AdminAuth::app_key`]'s field), for its window.
    pub fn app_key(&self) -> &Secret {
        &self.app_key
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
        let id = random_text(43);
        self.sessions().insert(id.clone(), now + SESSION_TTL);
        id
    }

    fn close_session(&self, id: &str) {
        self.sessions().remove(id);
    }
}

/// `n` random letters and digits (about 5.95 bits each).
fn random_text(n: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
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
        ErrorKind::HostNotAllowed,
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

/// Why a change made with the session cookie is refused, if it is: it must come from the
/// dashboard's own origin (or the desktop shell's) and carry JSON.
fn cross_site(request: &Request, allowed_origins: &[String]) -> Option<&'static str> {
    let method = request.method();
    if method.is_safe() {
        return None;
    }
    let headers = request.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Some("the browser says the request comes from another site");
    }
    if let Some(origin) = text(header::ORIGIN) {
        let own = text(header::HOST).is_some_and(|host| {
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
        });
        if !own && !allowed_origins.iter().any(|o| o == origin) {
            return Some("it comes from another origin");
        }
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || text(header::CONTENT_LENGTH).is_some_and(|n| n != "0");
    let json = text(header::CONTENT_TYPE).is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    (has_body && !json).then_some("its body is not application/json")
}

/// Host check, then the admin password or a live session; guesses are throttled before the
/// password is looked at, and cookie-borne changes must come from the dashboard itself.
pub async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    if !host_allowed(headers) {
        return forbidden_host();
    }
    let auth = state.admin();
    let now = Instant::now();
    let from = source(&request);
    let allowed = match crate::extract::bearer(headers) {
        // The hosting app's own key: random, so not worth throttling, and the window that
        // uses it keeps working while someone guesses at the password.
        Some(presented) if auth.app_key.matches(presented) => true,
        // A client token is a mistake, not a guess at the password: refused, not counted.
        Some(presented) if state.engine().clients.tokens.is_client_token(presented) => {
            return ApiError::new(
                ErrorKind::ClientTokenNotAdmin,
                "That is a client token, for /v1; the admin API takes the admin password.",
            )
            .into_response();
        }
        Some(presented) => {
            if let Some(wait) = auth.throttle.wait(from, now) {
                return too_many(wait);
            }
            let right = auth.password.matches(presented);
            if right {
                auth.throttle.succeeded(from);
            } else {
                auth.throttle.failed(from, now);
            }
            right
        }
        None => match cookie_session(headers).filter(|id| auth.session_valid(id, now)) {
            Some(_) => {
                if let Some(why) = cross_site(&request, &state.0.allowed_origins) {
                    return ApiError::new(
                        ErrorKind::CrossSiteRequest,
                        format!("This change was refused: {why}. Make it from the dashboard."),
                    )
                    .into_response();
                }
                true
            }
            None => false,
        },
    };
    if allowed {
        next.run(request).await
    } else {
        ApiError::new(
            ErrorKind::AdminAuthRequired,
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
    let now = Instant::now();
    let from = source(&request);
    // A sign-in from another site (or one that is not JSON, which a page can send without
    // asking) is refused before it can count as a guess: no page can lock the owner out.
    if let Some(why) = cross_site(&request, &state.0.allowed_origins) {
        return ApiError::new(
            ErrorKind::CrossSiteRequest,
            format!("This sign-in was refused: {why}. Sign in from the dashboard."),
        )
        .into_response();
    }
    // Throttled before the password is looked at: a waiting source learns nothing.
    if let Some(wait) = auth.throttle.wait(from, now) {
        return too_many(wait);
    }
    let Login { password } = match crate::extract::read_json(
        request,
        crate::extract::BodyLimit::admin(LOGIN_BODY),
    )
    .await
    {
        Ok(login) => login,
        Err(error) => return error.into_response(),
    };
    if !auth.password.matches(&password) {
        auth.throttle.failed(from, now);
        if ondemand_core::quiet::REFUSALS.first("wrong_admin_password", std::time::Instant::now()) {
            tracing::warn!("failed admin sign-in (more this minute are counted, not logged)");
        }
        return ApiError::new(ErrorKind::WrongPassword, "Wrong admin password.").into_response();
    }
    auth.throttle.succeeded(from);
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
    /// The upstream is simulated (`--demo`): every answer is made up, every key accepted.
    demo: bool,
}

/// Whether the caller is signed in, and the proxy's version.
#[utoipa::path(get, path = "/api/session", tag = "auth",
    responses((status = 200, body = Session)))]
pub async fn session(State(state): State<AppState>) -> axum::Json<Session> {
    axum::Json(Session {
        authenticated: true,
        version: env!("CARGO_PKG_VERSION"),
        demo: state.demo(),
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
    fn waits_double_per_source_up_to_a_cap_and_a_success_starts_over() {
        let throttle = Throttle::default();
        let (me, other) = (
            Some("127.0.0.1".parse().unwrap()),
            Some("10.0.0.9".parse().unwrap()),
        );
        let now = Instant::now();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(me, now);
        }
        assert_eq!(throttle.wait(me, now), None, "a few mistakes cost nothing");
        throttle.failed(me, now);
        assert_eq!(throttle.wait(me, now), Some(FIRST_WAIT));
        throttle.failed(me, now);
        assert_eq!(throttle.wait(me, now), Some(FIRST_WAIT * 2));
        for _ in 0..40 {
            throttle.failed(me, now);
        }
        assert_eq!(throttle.wait(me, now), Some(LONGEST_WAIT));
        assert_eq!(
            throttle.wait(other, now),
            None,
            "another source is not held up"
        );
        throttle.succeeded(me);
        assert_eq!(throttle.wait(me, now), None);
        // Overall: past many failures from anywhere, everyone waits a little.
        let many = Throttle::default();
        for i in 0..FREE_FAILURES_OVERALL {
            many.failed(
                Some(std::net::IpAddr::from([
                    10,
                    0,
                    (i / 250) as u8,
                    (i % 250) as u8,
                ])),
                now,
            );
        }
        assert!(many.wait(other, now).is_some());
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
