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
//! One client is built per route (proxy and trust) on first use and kept until the settings
//! change, so connections are pooled per route.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::error::{NetworkFault, NetworkKind, UpstreamError};
use crate::config::{ProxyUrl, Settings, read_ca_file};

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

/// One way out: a client and what it was built with.
#[derive(Debug, Clone)]
pub struct Route {
    pub http: reqwest::Client,
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
}

/// The clients of every route in use.
#[derive(Debug)]
pub struct Transports {
    routes: Mutex<HashMap<RouteKey, Arc<Route>>>,
    /// For simulated accounts: the in-process demo upstream on loopback, never proxied.
    direct: Arc<Route>,
}

impl Transports {
    pub fn new() -> Result<Self, UpstreamError> {
        let direct = common()
            .no_proxy()
            .build()
            .map_err(|e| UpstreamError::Connect(e.to_string()))?;
        Ok(Self {
            routes: Mutex::new(HashMap::new()),
            direct: Arc::new(Route {
                http: direct,
                proxy: None,
                proxy_from_env: false,
                trust: TrustSource::Bundled,
                extra_roots: 0,
            }),
        })
    }

    /// Forgets every route: the next call builds its client from the settings again (and
    /// reads `upstream_ca_file` again).
    pub fn reset(&self) {
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The way to the loopback demo upstream.
    pub fn direct(&self) -> Arc<Route> {
        self.direct.clone()
    }

    /// The route the settings give (`proxy` overrides `upstream_proxy`), built on first use.
    pub fn route(
        &self,
        settings: &Settings,
        proxy: Option<&ProxyUrl>,
    ) -> Result<Arc<Route>, UpstreamError> {
        let key = RouteKey {
            proxy: proxy.or(settings.upstream_proxy.as_ref()).cloned(),
            ca_file: settings.upstream_ca_file.clone(),
        };
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
    let mut builder = common().use_preconfigured_tls(tls);
    let (proxy, proxy_from_env) = match &key.proxy {
        Some(url) => {
            let proxy = reqwest::Proxy::all(url.expose()).map_err(|e| {
                UpstreamError::Network(NetworkFault {
                    kind: NetworkKind::Proxy,
                    detail: format!("the proxy URL is not usable ({e})"),
                    proxy: Some(url.masked()),
                })
            })?;
            builder = builder.proxy(proxy);
            (Some(url.masked()), false)
        }
        None => (env_proxy(), true),
    };
    let http = builder
        .build()
        .map_err(|e| UpstreamError::Connect(e.to_string()))?;
    tracing::info!(
        proxy = proxy.as_deref().unwrap_or("none"),
        proxy_from_env = proxy_from_env && proxy.is_some(),
        trust = ?trust,
        extra_roots,
        "upstream route ready"
    );
    Ok(Route {
        http,
        proxy_from_env: proxy_from_env && proxy.is_some(),
        proxy,
        trust,
        extra_roots,
    })
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
    let mut config = match rustls_platform_verifier::Verifier::new_with_extra_roots(
        extra.iter().cloned(),
        provider.clone(),
    ) {
        Ok(verifier) if !system_store_empty() => (
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth(),
            TrustSource::System,
        ),
        _ => {
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
        if let Some(tls) = tls_error(e) {
            if is_certificate(tls) {
                return fault(NetworkKind::Certificate);
            }
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

/// The TLS error somewhere in `e`'s causes. rustls's error comes wrapped in `io::Error`s
/// (two deep through hyper), whose `source()` skips what they wrap, so each is opened.
fn tls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(inner) = cause {
        if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
            return Some(tls);
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
