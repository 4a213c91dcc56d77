//! The way to on-demand.io: which roots are trusted, which proxy carries the calls, and HTTP/2.
//!
//! - Trust: the operating system's store (the system bundle on Linux, honouring
//!   `SSL_CERT_FILE` and `SSL_CERT_DIR`; the Keychain on macOS; the system store on Windows),
//!   plus the roots in `upstream_ca_file`. Where the OS has no roots at all, the bundled web
//!   roots stand in.
//! - Proxy: `upstream_proxy` when set; else the environment's `HTTPS_PROXY`, `ALL_PROXY` and
//!   `NO_PROXY`, as curl reads them.
//! - HTTP/2: offered by ALPN over TLS, so concurrent calls share a connection when the
//!   upstream agrees (Cloudflare does); HTTP/1.1 otherwise.
//!
//! One route is built per proxy and trust on first use and kept until the settings change.
//! A route stripes its calls over lanes, each a client with its own connection pool: HTTP/2
//! puts every call to a host on one connection, which the server caps (Cloudflare's edge at
//! 256 streams) and which would make thousands of streams queue behind each other. A call
//! takes the lane with the fewest calls in flight, and once answers come over HTTP/2 a new
//! lane (a new connection) opens when every lane carries [`STREAMS_PER_LANE`]. Over HTTP/1.1
//! a route keeps one lane, whose pool opens a connection per call in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::error::{NetworkFault, NetworkKind, UpstreamError};
use crate::config::{ProxyUrl, Settings, read_ca_file};

/// Calls one lane carries before another is opened: below Cloudflare's 256 streams a
/// connection, so a burst does not wait for a stream to free up.
pub const STREAMS_PER_LANE: usize = 192;
/// Most lanes of one route: 64 × 192, about 12,000 calls at once before calls share.
const MAX_LANES: usize = 64;

/// The proxy variables read from the environment when `upstream_proxy` is empty, in the
/// order reqwest reads them for an `https://` upstream.
const PROXY_ENV: [&str; 4] = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"];

/// Where a client's trusted roots come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustSource {
    /// The operating system's store.
    System,
    /// The bundled web roots: the OS had none.
    Bundled,
}

impl TrustSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Bundled => "bundled",
        }
    }
}

/// One way out: its lanes and what they are built with.
#[derive(Debug)]
pub struct Route {
    lanes: Mutex<Vec<Arc<Lane>>>,
    /// To the demo upstream: no proxy at all.
    direct: bool,
    tls: rustls::ClientConfig,
    proxy_setting: Option<reqwest::Proxy>,
    /// The proxy taken, masked, and whether it came from the environment.
    pub proxy: Option<String>,
    pub proxy_from_env: bool,
    pub trust: TrustSource,
    /// Extra roots from `upstream_ca_file`.
    pub extra_roots: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RouteKey {
    proxy: Option<ProxyUrl>,
    ca_file: String,
    /// To the in-process demo upstream on loopback: never through a proxy, whatever the
    /// settings or the environment say.
    direct: bool,
}

/// The clients of every route in use.
#[derive(Debug, Default)]
pub struct Transports {
    routes: Mutex<HashMap<RouteKey, Arc<Route>>>,
}

impl Transports {
    /// Forgets every route: the next call builds its client from the settings again (and
    /// reads `upstream_ca_file` again).
    pub fn reset(&self) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The way to the loopback demo upstream: never proxied, trusting `upstream_ca_file`
    /// (which `--demo-tls` points at its CA).
    pub fn direct(&self, settings: &Settings) -> Result<Arc<Route>, UpstreamError> {
        self.get(RouteKey {
            proxy: None,
            ca_file: settings.upstream_ca_file.clone(),
            direct: true,
        })
    }

    /// The route the settings give (`proxy` overrides `upstream_proxy`), built on first use.
    pub fn route(
        &self,
        settings: &Settings,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Arc<Route>, UpstreamError> {
        self.get(RouteKey {
            proxy: proxy.or(settings.upstream_proxy.as_ref()).cloned(),
            ca_file: settings.upstream_ca_file.clone(),
            direct: false,
        })
    }

    fn get(&self, key: RouteKey) -> Result<Arc<Route>, UpstreamError> {
        let mut routes = self.routes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(route) = routes.get(&key) {
            return Ok(route.clone());
        }
        let route = Arc::new(build(&key)?);
        routes.insert(key, route.clone());
        Ok(route)
    }
}

/// What every upstream client shares.
fn common() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // Idle connections go after 30 s: after a burst of 5,000 streams the 1,024 kept idle
        // held ~40 MiB for up to three minutes at 90 s (hyper evicts once per timeout); at
        // 30 s they are gone within a minute, at the same stream rate. A request after a
        // longer pause pays one new handshake.
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
}

fn build(key: &RouteKey) -> Result<Route, UpstreamError> {
    let extra = match key.ca_file.as_str() {
        "" => Vec::new(),
        path => read_ca_file(std::path::Path::new(path)).map_err(|detail| {
            UpstreamError::Network(NetworkFault {
                kind: NetworkKind::Certificate,
                detail: format!("upstream_ca_file: {detail}"),
                proxy: None,
            })
        })?,
    };
    let extra_roots = extra.len();
    let (tls, trust) = tls_config(extra).map_err(|detail| {
        UpstreamError::Network(NetworkFault {
            kind: NetworkKind::Certificate,
            detail,
            proxy: None,
        })
    })?;
    let (proxy_setting, proxy, proxy_from_env) = match &key.proxy {
        Some(url) => {
            let proxy = reqwest::Proxy::all(url.expose()).map_err(|e| {
                UpstreamError::Network(NetworkFault {
                    kind: NetworkKind::Proxy,
                    detail: format!("the proxy URL is not usable ({e})"),
                    proxy: Some(url.masked()),
                })
            })?;
            (Some(proxy), Some(url.masked()), false)
        }
        None if key.direct => (None, None, false),
        None => (None, env_proxy(), true),
    };
    let route = Route {
        lanes: Mutex::new(Vec::new()),
        direct: key.direct,
        tls,
        proxy_setting,
        proxy_from_env: proxy_from_env && proxy.is_some(),
        proxy,
        trust,
        extra_roots,
    };
    route.open_lane()?;
    tracing::info!(
        proxy = route.proxy.as_deref().unwrap_or("none"),
        proxy_from_env = route.proxy_from_env,
        trust = ?route.trust,
        extra_roots,
        "upstream route ready"
    );
    Ok(route)
}

/// A client with its own connection pool, and the calls in flight on it.
#[derive(Debug)]
struct Lane {
    http: reqwest::Client,
    in_flight: AtomicUsize,
    /// Its first call has been answered, so its connection is up. Until then it gets no other
    /// call: before ALPN has said h2, each concurrent call would open a connection of its own.
    ready: AtomicBool,
    /// Its answers came over HTTP/2, so its calls share one connection. Over HTTP/1.1 each
    /// call has a connection of its own anyway, and more lanes would only split the pool.
    multiplexed: AtomicBool,
}

/// A call's hold on its lane, from sending until its answer is read or dropped. Kept in the
/// answer's extensions (hence `Clone`: the clones share one hold).
#[derive(Debug, Clone)]
pub struct Lease(Arc<Held>);

#[derive(Debug)]
struct Held(Arc<Lane>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A call ready to send: its request, built on its lane, and the lane's hold.
pub struct Outgoing {
    request: reqwest::RequestBuilder,
    lease: Lease,
}

impl Outgoing {
    /// The same call with `f` applied to its request (headers, body).
    pub fn map(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Self {
            request: f(self.request),
            lease: self.lease,
        }
    }

    /// Sends it; the answer keeps the lane's hold in its extensions until it is dropped.
    pub async fn send(self) -> Result<reqwest::Response, reqwest::Error> {
        let sent = self.request.send().await;
        let lane = &self.lease.0.0;
        lane.ready.store(true, Ordering::Relaxed);
        let mut response = sent?;
        if response.version() == reqwest::Version::HTTP_2 {
            lane.multiplexed.store(true, Ordering::Relaxed);
        }
        response.extensions_mut().insert(self.lease);
        Ok(response)
    }
}

impl Route {
    /// A lane for one call: the least busy ready one, or a new one when every lane carries
    /// [`STREAMS_PER_LANE`] (up to [`MAX_LANES`], one opening at a time).
    fn lease(&self) -> Result<Lease, UpstreamError> {
        let mut lanes = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        let busy = |lane: &&Arc<Lane>| lane.in_flight.load(Ordering::Relaxed);
        let ready = |lane: &&Arc<Lane>| lane.ready.load(Ordering::Relaxed);
        let least_ready = lanes.iter().filter(ready).min_by_key(busy).cloned();
        let least = lanes.iter().min_by_key(busy).cloned();
        let opening = lanes.iter().any(|lane| !ready(&lane));
        let multiplexed = lanes
            .iter()
            .any(|lane| lane.multiplexed.load(Ordering::Relaxed));
        let wait = opening || !multiplexed || lanes.len() >= MAX_LANES;
        let lane = match (least_ready, least) {
            (Some(lane), _)
                if wait || lane.in_flight.load(Ordering::Relaxed) < STREAMS_PER_LANE =>
            {
                lane
            }
            (None, Some(lane)) if wait => lane,
            (_, least) => match self.build_lane() {
                Ok(lane) => {
                    lanes.push(lane.clone());
                    lane
                }
                // Building failed where it worked before: share the least busy lane.
                Err(e) => least.ok_or(e)?,
            },
        };
        lane.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok(Lease(Arc::new(Held(lane))))
    }

    /// A `method` call to `url` on the least busy lane.
    pub fn request(&self, method: reqwest::Method, url: &str) -> Result<Outgoing, UpstreamError> {
        let lease = self.lease()?;
        Ok(Outgoing {
            request: lease.0.0.http.request(method, url),
            lease,
        })
    }

    /// Lanes open now (for tests and the bench).
    pub fn lanes(&self) -> usize {
        self.lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn open_lane(&self) -> Result<(), UpstreamError> {
        let lane = self.build_lane()?;
        self.lanes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(lane);
        Ok(())
    }

    /// A client of this route's trust and proxy: with `key_log`, pooling nothing and keeping
    /// the certificate, for one probe on a connection of its own.
    fn client(
        &self,
        key_log: Option<Arc<dyn rustls::KeyLog>>,
    ) -> Result<reqwest::Client, UpstreamError> {
        let mut builder = common();
        let mut tls = self.tls.clone();
        if let Some(log) = &key_log {
            tls.key_log = log.clone();
        }
        builder = builder.use_preconfigured_tls(tls);
        if self.direct {
            builder = builder.no_proxy();
        }
        if key_log.is_some() {
            builder = builder.pool_max_idle_per_host(0).tls_info(true);
        }
        if let Some(proxy) = &self.proxy_setting {
            builder = builder.proxy(proxy.clone());
        }
        builder
            .build()
            .map_err(|e| UpstreamError::Connect(e.to_string()))
    }

    /// A client for a connection test ([`super::probe`]).
    pub(super) fn probe_client(
        &self,
        key_log: Arc<dyn rustls::KeyLog>,
    ) -> Result<reqwest::Client, UpstreamError> {
        self.client(Some(key_log))
    }

    fn build_lane(&self) -> Result<Arc<Lane>, UpstreamError> {
        let http = self.client(None)?;
        Ok(Arc::new(Lane {
            http,
            in_flight: AtomicUsize::new(0),
            ready: AtomicBool::new(false),
            multiplexed: AtomicBool::new(false),
        }))
    }
}

/// The environment's proxy for `https://` calls, masked, when one is set.
fn env_proxy() -> Option<String> {
    PROXY_ENV.iter().find_map(|name| {
        let value = std::env::var(name).ok()?;
        let value = value.trim();
        if value.is_empty() {
            return None;
        }
        Some(ProxyUrl::parse(value).map_or_else(|_| format!("${name}"), |p| p.masked()))
    })
}

/// TLS with the OS verifier and `extra` roots, HTTP/2 and HTTP/1.1 offered by ALPN.
fn tls_config(
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<(rustls::ClientConfig, TrustSource), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    // Without extra roots, the plain OS verifier: on Windows the one with extra roots needs
    // a chain engine of its own (`hExclusiveRoot`), which an OS can refuse (Wine does), and
    // that must not cost a user without a CA file the Windows store.
    let verifier = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(
            extra.iter().cloned(),
            provider.clone(),
        )
    };
    let mut config = match verifier {
        Ok(verifier) if !system_store_empty() => (
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth(),
            TrustSource::System,
        ),
        unusable => {
            if let Err(error) = unusable {
                tracing::warn!(%error, "the system's certificate verifier cannot take upstream_ca_file's roots here; trusting the bundled web roots and that file instead");
            }
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for certificate in extra {
                roots
                    .add(certificate)
                    .map_err(|e| format!("upstream_ca_file: a certificate is not usable ({e})"))?;
            }
            (
                builder.with_root_certificates(roots).with_no_client_auth(),
                TrustSource::Bundled,
            )
        }
    };
    config.0.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Whether the OS offers no root at all (a bare container without CA certificates); on
/// macOS and Windows the OS verifier always has its store.
fn system_store_empty() -> bool {
    #[cfg(all(unix, not(target_vendor = "apple")))]
    {
        rustls_native_certs::load_native_certs().certs.is_empty()
    }
    #[cfg(not(all(unix, not(target_vendor = "apple"))))]
    {
        false
    }
}

impl Route {
    /// A failed send on this route, typed: an untrusted certificate, a failing proxy or an
    /// unknown name is the way's fault ([`UpstreamError::Network`]); anything else is a
    /// time-out or a plain connection failure, as before.
    pub fn failure(&self, e: &reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            return UpstreamError::Timeout(super::error::TimeoutPhase::Response);
        }
        let detail = super::describe_reqwest(e);
        let fault = |kind| {
            UpstreamError::Network(NetworkFault {
                kind,
                detail: detail.clone(),
                proxy: self.proxy.clone(),
            })
        };
        if cause::<rustls::Error>(e).is_some_and(is_certificate) {
            return fault(NetworkKind::Certificate);
        }
        // The server closed an HTTP/2 connection under this call (GOAWAY), or refused the
        // stream unprocessed: a new connection will do, and the account did nothing wrong.
        if cause::<h2::Error>(e)
            .is_some_and(|h2| h2.is_go_away() || h2.reason() == Some(h2::Reason::REFUSED_STREAM))
        {
            return UpstreamError::ConnectionLost(detail);
        }
        if e.is_connect() && self.proxy.is_some() {
            return fault(NetworkKind::Proxy);
        }
        let lower = detail.to_ascii_lowercase();
        if e.is_connect() && (lower.contains("dns error") || lower.contains("failed to lookup")) {
            return fault(NetworkKind::Dns);
        }
        UpstreamError::Connect(detail)
    }
}

/// The error of type `T` somewhere in `e`'s causes. rustls's error comes wrapped in
/// `io::Error`s (two deep through hyper), whose `source()` skips what they wrap, so each is
/// opened.
fn cause<T: std::error::Error + 'static>(e: &reqwest::Error) -> Option<&T> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = cause {
        if let Some(found) = inner.downcast_ref::<T>() {
            return Some(found);
        }
        cause = match inner.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|wrapped| wrapped as &(dyn std::error::Error + 'static)),
            None => inner.source(),
        };
    }
    None
}

fn is_certificate(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType
    )
}
