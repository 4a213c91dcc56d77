//! Fetching an image a client gave by `http(s)` URL. The proxy fetches it, never the
//! upstream (a URL without an extension has been seen to hang the upstream's fetcher), and
//! fetches it as an untrusted party would:
//!
//! - `http` and `https` only, at every redirect too (at most [`MAX_REDIRECTS`]);
//! - never a private, loopback, link-local or otherwise non-public address: a host name is
//!   resolved by [`PublicOnly`], which drops such addresses, and an IP literal is checked
//!   before the request and at each redirect; no system proxy (it would resolve for us);
//! - bounded: [`TIMEOUT`] for the whole fetch, `max_bytes` for the body, read as it comes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;

use super::{Kind, Refused, check_bytes};

/// The whole fetch, headers and body.
pub const TIMEOUT: Duration = Duration::from_secs(15);
pub const MAX_REDIRECTS: usize = 3;

/// Whether `ip` is an address on the public internet: not loopback, private, link-local,
/// shared (CGNAT), documentation, benchmarking, multicast, reserved or unspecified.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            let v4 = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                Ipv4Addr::new(a, b, c, d)
            };
            // NAT64 (64:ff9b::/96) and SIIT's IPv4-translated addresses (::ffff:0:0/96)
            // embed an IPv4 address in their last 32 bits; 6to4 (2002::/16) in bits 16–48.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0, 0, 0, 0, 0xffff, 0] {
                return is_public_v4(v4(s[6], s[7]));
            }
            if s[0] == 0x2002 {
                return is_public_v4(v4(s[1], s[2]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments (Teredo…)
                || s[..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// A resolver that keeps only public addresses: a name that resolves to nothing else is an
/// error, so no request (the first, or one after a redirect) reaches a private address.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly {
    /// Tests only: let loopback through (the tests' servers are all on loopback).
    allow_private: bool,
}

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Fetches images by URL; one per engine.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Why there is none: the client could not be built (no TLS backend), so no image is
    /// fetched.
    http: Result<reqwest::Client, String>,
    allow_private: bool,
}

impl Default for Fetcher {
    fn default() -> Self {
        Self::build(false)
    }
}

impl Fetcher {
    /// For tests whose image servers are on loopback.
    #[cfg(test)]
    pub fn allowing_private() -> Self {
        Self::build(true)
    }

    fn build(allow_private: bool) -> Self {
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else if let Err(why) = allowed(attempt.url(), allow_private) {
                attempt.error(why)
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(policy)
            .dns_resolver(Arc::new(PublicOnly { allow_private }))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string());
        if let Err(error) = &http {
            tracing::error!(%error, "images given by URL cannot be fetched");
        }
        Self {
            http,
            allow_private,
        }
    }

    /// The image at `url`, checked to be PNG or JPEG within `max_bytes`; any failure is
    /// refused, naming `at`.
    pub async fn fetch(
        &self,
        url: &str,
        at: &str,
        max_bytes: usize,
        user_agent: &str,
    ) -> Result<(Vec<u8>, Kind), Refused> {
        let refused = |why: String| {
            Refused::new(
                at,
                format!("The image at this URL could not be fetched: {why}."),
            )
        };
        let http = self.http.as_ref().map_err(|e| refused(e.clone()))?;
        let parsed = reqwest::Url::parse(url).map_err(|e| refused(e.to_string()))?;
        allowed(&parsed, self.allow_private).map_err(refused)?;
        let bytes = tokio::time::timeout(TIMEOUT, async {
            let response = http
                .get(parsed)
                .header("user-agent", user_agent)
                .header("accept", "image/png,image/jpeg,image/*;q=0.8")
                .send()
                .await
                .map_err(|e| refused(reason(&e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(refused(format!("it answered HTTP {}", status.as_u16())));
            }
            if response
                .content_length()
                .is_some_and(|n| n > max_bytes as u64)
            {
                return Err(super::too_large(at, max_bytes));
            }
            let mut body = response.bytes_stream();
            let mut bytes = Vec::new();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| refused(reason(&e)))?;
                if bytes.len() + chunk.len() > max_bytes {
                    return Err(super::too_large(at, max_bytes));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        })
        .await
        .map_err(|_| refused(format!("no answer within {} s", TIMEOUT.as_secs())))??;
        let kind = check_bytes(&bytes, at, max_bytes)?;
        Ok((bytes, kind))
    }
}

/// Whether the proxy may fetch `url`: `http(s)`, and an IP literal only if public (a host
/// name is checked when it is resolved).
fn allowed(url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{}:` URLs are not fetched", url.scheme()));
    }
    let Some(host) = url.host_str() else {
        return Err("it has no host".into());
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let Ok(ip) = literal.parse::<IpAddr>() else {
        // `localhost` and its subdomains never leave the machine, whatever DNS says.
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
            return Err("it points at this machine".into());
        }
        return Ok(());
    };
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(format!("{ip} is not a public address"))
    }
}

/// Why a fetch failed, without reqwest's nested wording.
fn reason(error: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut why = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        why = inner.to_string();
        source = inner.source();
    }
    why
}
