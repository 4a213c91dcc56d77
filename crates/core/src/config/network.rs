//! The way out to on-demand.io, as settings: an outbound proxy URL and an extra file of trusted
//! root certificates. Both are checked when they are set (at start, or in the dashboard), so
//! a typo is an error then rather than a failure at the first request.

use std::fmt;
use std::path::Path;

/// Largest CA file read (a system bundle is about 200 KiB).
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// What a proxy's password shows as, in the admin API, the UI and logs.
pub const PASSWORD_MASK: &str = "••••••";

/// An outbound proxy: `http://`, `https://`, `socks5://` or `socks5h://` (names resolved by
/// the proxy), with an optional `user:password@`. `Debug` and `Display` mask the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ProxyUrl(String);

impl ProxyUrl {
    /// Checks a proxy URL; the error says what is wrong without repeating a password.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let url = reqwest::Url::parse(text).map_err(|e| {
            format!("expected a proxy URL such as http://host:port or socks5://host:port ({e})")
        })?;
        if !matches!(url.scheme(), "http" | "https" | "socks5" | "socks5h") {
            return Err(format!(
                "a proxy URL starts with http://, https://, socks5:// or socks5h://, not {}://",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("a proxy URL names a host".into());
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err("a proxy URL has no path, query or fragment".into());
        }
        if text.len() > 2048 || text.chars().any(char::is_control) {
            return Err(
                "a proxy URL is at most 2048 characters, with no control characters".into(),
            );
        }
        Ok(Self(text.trim_end_matches('/').to_owned()))
    }

    /// The URL with its password, for building the connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by [`PASSWORD_MASK`].
    pub fn masked(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(url) if url.password().is_some() => {
                let host = url.host_str().unwrap_or_default();
                let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!(
                    "{}://{}:{PASSWORD_MASK}@{host}{port}",
                    url.scheme(),
                    url.username()
                )
            }
            _ => self.0.clone(),
        }
    }

    /// `value` as the admin API may send it back after showing [`Self::masked`]: the same
    /// URL with the mask for a password means "keep the password".
    pub fn unmask(value: &str, current: Option<&Self>) -> String {
        match current {
            Some(current) if value.trim() == current.masked() => current.0.clone(),
            _ => value.to_owned(),
        }
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// The certificates in a PEM file of roots to trust beside the system's. The error names the
/// file and what is wrong with it.
pub fn read_ca_file(
    path: &Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .len();
    if size > MAX_CA_FILE_BYTES {
        return Err(format!(
            "{shown} is larger than {} MiB; it should hold PEM certificates",
            MAX_CA_FILE_BYTES >> 20
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let certificates = rustls::pki_types::CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown} is not a PEM file of certificates ({e})"))?;
    if certificates.is_empty() {
        return Err(format!(
            "{shown} holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)"
        ));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_checked_and_their_passwords_masked() {
        for ok in [
            "http://proxy.corp:3128",
            "https://proxy.corp",
            "socks5://127.0.0.1:7890",
            "socks5h://user:pa%40ss@127.0.0.1:1080/",
        ] {
            assert!(ProxyUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "proxy.corp:3128",
            "ftp://proxy",
            "socks4://h:1",
            "http://h:1/path",
            "http://h:1?x=1",
            "http://",
        ] {
            assert!(ProxyUrl::parse(bad).is_err(), "{bad}");
        }
        let secret = ProxyUrl::parse("socks5h://me:hunter2@127.0.0.1:1080").unwrap();
        assert_eq!(
            secret.masked(),
            format!("socks5h://me:{PASSWORD_MASK}@127.0.0.1:1080")
        );
        assert!(!format!("{secret:?} {secret}").contains("hunter2"));
        assert_eq!(secret.expose(), "socks5h://me:hunter2@127.0.0.1:1080");
        assert_eq!(
            ProxyUrl::unmask(&secret.masked(), Some(&secret)),
            secret.expose()
        );
        assert_eq!(
            ProxyUrl::unmask("http://other:1", Some(&secret)),
            "http://other:1"
        );
        let bad = ProxyUrl::parse("ftp://me:hunter2@h").unwrap_err();
        assert!(!bad.contains("hunter2"), "{bad}");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_ca_file(&dir.path().join("none.pem")).unwrap_err();
        assert!(missing.contains("cannot read"), "{missing}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = read_ca_file(&junk).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(read_ca_file(&broken).is_err());
    }
}
