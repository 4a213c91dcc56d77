//! *Test connection*: one catalogue call on a fresh connection of a route, and what it shows
//! of the way to on-demand.io: the address reached, the TLS version, the protocol ALPN chose,
//! who issued the certificate, the proxy taken, the time it took, and the answer.
//!
//! The call goes on a client of its own (the route's trust and proxy, nothing pooled), so the
//! connection is new and its handshake is the one measured.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::error::{NetworkKind, UpstreamError};
use super::transport::Route;
use super::{Caller, UpstreamClient};
use crate::config::Settings;

/// Bound on the whole probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// What a connection test found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Probe {
    /// The URL called (the catalogue on `base_url`).
    pub url: String,
    /// The address connected to: the upstream's, or the proxy's when one is taken.
    pub address: Option<String>,
    /// `TLSv1.3`, `TLSv1.2`; `None` over plain HTTP.
    pub tls_version: Option<String>,
    /// `h2` or `http/1.1`.
    pub protocol: Option<String>,
    /// The certificate's issuer (`CN`, else `O`).
    pub issuer: Option<String>,
    /// The proxy taken, its password masked.
    pub proxy: Option<String>,
    /// The proxy came from the environment (`HTTPS_PROXY`, `ALL_PROXY`).
    pub proxy_from_env: bool,
    /// Where the trusted roots came from: `system` or `bundled` (`None` over plain HTTP), and
    /// how many were added from `upstream_ca_file`.
    pub trust: Option<&'static str>,
    pub extra_roots: usize,
    /// From the start of the call to its answer's head, new connection included.
    pub latency_ms: f64,
    /// The catalogue call's HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Endpoints listed in the answer (with an API key).
    pub endpoints: Option<usize>,
    /// What went wrong, if anything; `fault` says whose: `certificate`, `proxy`, `dns`, or
    /// `upstream` (on-demand.io answered with an error), `connect` (anything else).
    pub fault: Option<&'static str>,
    pub error: Option<String>,
}

/// The TLS version of the one connection a probe client makes, read from the key log's
/// labels (TLS 1.3 logs traffic secrets, TLS 1.2 only `CLIENT_RANDOM`); the secrets
/// themselves are never kept.
#[derive(Debug, Default)]
struct VersionLog(Mutex<Option<&'static str>>);

impl rustls::KeyLog for VersionLog {
    fn log(&self, label: &str, _client_random: &[u8], _secret: &[u8]) {
        let version = if label == "CLIENT_RANDOM" {
            "TLSv1.2"
        } else {
            "TLSv1.3"
        };
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(version);
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

impl UpstreamClient {
    /// Tests the way `caller` (or, without one, the settings' own way) goes to on-demand.io:
    /// a catalogue call, with the caller's key when it has one.
    pub async fn probe(&self, caller: Option<Caller<'_>>, settings: &Settings) -> Probe {
        const PATH: &str = "/config/v1/public/endpoints";
        let key = match caller.map(|c| c.credential) {
            Some(super::auth::Credential::ApiKey(key)) => Some(key),
            _ => None,
        };
        let proxy = caller.and_then(|c| c.proxy);
        // An API key's way is the one its calls take (a simulated key's: the demo upstream).
        let target = match key {
            Some(key) => self.target(key, proxy, settings, PATH),
            None => self
                .transports
                .route(settings, proxy)
                .map(|route| (route, format!("{}{PATH}", settings.base_url))),
        };
        let (route, url) = match target {
            Ok(target) => target,
            Err(e) => return Probe::failed(format!("{}{PATH}", settings.base_url), None, &e),
        };
        let log = Arc::new(VersionLog::default());
        let http = match route.probe_client(log.clone()) {
            Ok(http) => http,
            Err(e) => return Probe::failed(url, Some(&route), &e),
        };
        let mut request = http
            .get(&url)
            .header("user-agent", &settings.user_agent)
            .header("accept", "application/json");
        if let Some(key) = key {
            request = request.header("apikey", key.expose());
        }
        let started = Instant::now();
        let sent = tokio::time::timeout(PROBE_TIMEOUT, request.send()).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let response = match sent {
            Err(_) => {
                let e = UpstreamError::Timeout(super::error::TimeoutPhase::Response);
                return Probe::failed(url, Some(&route), &e);
            }
            Ok(Err(e)) => return Probe::failed(url, Some(&route), &route.failure(&e)),
            Ok(Ok(response)) => response,
        };
        let mut probe = Probe::on(url, Some(&route));
        probe.latency_ms = latency_ms;
        probe.address = response.remote_addr().map(|a| a.to_string());
        probe.protocol = Some(
            match response.version() {
                reqwest::Version::HTTP_2 => "h2",
                _ => "http/1.1",
            }
            .to_owned(),
        );
        probe.tls_version =
            (*log.0.lock().unwrap_or_else(PoisonError::into_inner)).map(str::to_owned);
        probe.issuer = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(reqwest::tls::TlsInfo::peer_certificate)
            .and_then(issuer_name);
        let status = response.status().as_u16();
        probe.status = Some(status);
        let body = tokio::time::timeout(PROBE_TIMEOUT, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if (200..300).contains(&status) {
            probe.endpoints = crate::endpoints::parse(&body, crate::clock::now_ms())
                .ok()
                .map(|list| list.len());
        } else {
            probe.fault = Some("upstream");
            probe.error = Some(UpstreamError::from_status(status, &body).to_string());
        }
        probe
    }
}

impl Probe {
    /// A probe of `url` on `route`, nothing measured yet.
    fn on(url: String, route: Option<&Route>) -> Self {
        let tls = url.starts_with("https://");
        Self {
            url,
            address: None,
            tls_version: None,
            protocol: None,
            issuer: None,
            proxy: route.and_then(|r| r.proxy.clone()),
            proxy_from_env: route.is_some_and(|r| r.proxy_from_env),
            trust: route.filter(|_| tls).map(|r| r.trust.as_str()),
            extra_roots: route.map_or(0, |r| r.extra_roots),
            latency_ms: 0.0,
            status: None,
            endpoints: None,
            fault: None,
            error: None,
        }
    }

    fn failed(url: String, route: Option<&Route>, e: &UpstreamError) -> Self {
        let fault = match e {
            UpstreamError::Network(fault) => match fault.kind {
                NetworkKind::Certificate => "certificate",
                NetworkKind::Proxy => "proxy",
                NetworkKind::Dns => "dns",
            },
            _ => "connect",
        };
        Self {
            fault: Some(fault),
            error: Some(e.to_string()),
            ..Self::on(url, route)
        }
    }
}

/// The issuer's common name (else its organisation) of a DER certificate: a walk of
/// `Certificate → tbsCertificate → issuer`, no more of X.509 than that.
fn issuer_name(der: &[u8]) -> Option<String> {
    let (certificate, _) = tlv(der, 0x30)?;
    let (mut tbs, _) = tlv(certificate, 0x30)?;
    if tbs.first() == Some(&0xa0) {
        tbs = skip(tbs)?; // [0] version
    }
    tbs = skip(tbs)?; // serialNumber
    tbs = skip(tbs)?; // signature algorithm
    let (mut issuer, _) = tlv(tbs, 0x30)?;
    let (mut common, mut organisation) = (None, None);
    while !issuer.is_empty() {
        let (set, rest) = tlv(issuer, 0x31)?;
        issuer = rest;
        let (pair, _) = tlv(set, 0x30)?;
        let (oid, value) = tlv(pair, 0x06)?;
        let text = value
            .first()
            .filter(|tag| matches!(tag, 0x0c | 0x13 | 0x16))
            .and_then(|&tag| tlv(value, tag))
            .and_then(|(text, _)| std::str::from_utf8(text).ok())
            .map(str::to_owned);
        match oid {
            [0x55, 0x04, 0x03] => common = text,
            [0x55, 0x04, 0x0a] => organisation = text,
            _ => {}
        }
    }
    common.or(organisation)
}

/// The content of the DER element at the start of `input` with tag `tag`, and what follows.
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *input.first()? != tag {
        return None;
    }
    let first = *input.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let bytes = usize::from(first & 0x7f);
        if bytes == 0 || bytes > 4 {
            return None;
        }
        let length = input
            .get(2..2 + bytes)?
            .iter()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (length, 2 + bytes)
    };
    let end = header.checked_add(length)?;
    Some((input.get(header..end)?, input.get(end..)?))
}

/// `input` after its first DER element, whatever its tag.
fn skip(input: &[u8]) -> Option<&[u8]> {
    tlv(input, *input.first()?).map(|(_, rest)| rest)
}
