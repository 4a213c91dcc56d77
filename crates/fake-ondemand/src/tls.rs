//! HTTPS with HTTP/2, as on-demand.io's Cloudflare front serves it: a CA made at start signs a
//! server certificate for `localhost` and `127.0.0.1`, and ALPN offers `h2` and `http/1.1`.
//!
//! HTTP/2 limits are set as Cloudflare's edge advertises them to clients (public HTTP/2
//! fingerprint captures): at most 256 concurrent streams per connection and a 64 KiB initial
//! stream window. A client that wants more streams must open more connections or wait.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::Shared;

/// Concurrent streams one HTTP/2 connection may carry (Cloudflare's edge: 256).
pub const MAX_CONCURRENT_STREAMS: u32 = 256;
/// The initial stream window (Cloudflare's edge: 65,536 bytes).
const INITIAL_STREAM_WINDOW: u32 = 65_536;

/// A CA and a server certificate it signed, made for one run of the fake.
pub struct Certificates {
    /// The CA's certificate, PEM: what a client must trust.
    pub ca_pem: String,
    config: Arc<ServerConfig>,
}

impl Certificates {
    /// Makes a new CA (`fake-ondemand test CA`) and a certificate for `localhost` and
    /// `127.0.0.1` signed by it.
    pub fn generate() -> std::io::Result<Self> {
        Self::make().map_err(std::io::Error::other)
    }

    fn make() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake-ondemand test CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = rcgen::Issuer::new(ca_params, ca_key);

        let server_key = rcgen::KeyPair::generate()?;
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fake on-demand.io");
        let server_cert = params.signed_by(&server_key, &issuer)?;

        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into());
        let chain = vec![server_cert.der().clone(), ca_cert.der().clone()];
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            config: Arc::new(config),
        })
    }
}

/// Accepts TLS connections on `listener` and serves `app` over HTTP/2 or HTTP/1.1, as the
/// client's ALPN chose, until `shutdown` fires. Connections in flight are left to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    certificates: &Certificates,
    app: Router,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let acceptor = TlsAcceptor::from(certificates.config.clone());
    loop {
        let (tcp, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "fake on-demand.io: accept failed");
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let shared = shared.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    tracing::debug!(error = %e, "fake on-demand.io: TLS handshake failed");
                    return;
                }
            };
            let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            shared.tls_connections[usize::from(!h2)].fetch_add(1, Ordering::SeqCst);
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http2()
                .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
                .initial_stream_window_size(INITIAL_STREAM_WINDOW);
            let connection = builder.serve_connection(TokioIo::new(tls), service);
            let mut connection = std::pin::pin!(connection);
            let go_away = shared.go_away.notified();
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                () = go_away => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "fake on-demand.io: connection ended with an error");
            }
        });
    }
}
