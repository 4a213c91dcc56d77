//! Outbound proxies on loopback for the network tests: an HTTP CONNECT proxy and a SOCKS5
//! proxy (with or without a password), each recording what it was asked to reach. They
//! reach only loopback addresses and refuse anything else.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request a proxy handled: the target as the client named it, and the user it
/// authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    pub target: String,
    pub user: Option<String>,
}

pub struct TestProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Tunnel>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
enum Kind {
    Connect,
    Socks5 { login: Option<(String, String)> },
}

impl TestProxy {
    /// An HTTP proxy that takes `CONNECT host:port`.
    pub async fn connect() -> Self {
        Self::start(Kind::Connect).await
    }

    /// A SOCKS5 proxy; with `login`, it asks for that user and password.
    pub async fn socks5(login: Option<(&str, &str)>) -> Self {
        let login = login.map(|(u, p)| (u.to_owned(), p.to_owned()));
        Self::start(Kind::Socks5 { login }).await
    }

    async fn start(kind: Kind) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let kind = kind.clone();
                let record = record.clone();
                tokio::spawn(async move {
                    let _ = match kind {
                        Kind::Connect => connect(client, &record).await,
                        Kind::Socks5 { login } => socks5(client, login.as_ref(), &record).await,
                    };
                });
            }
        });
        Self { addr, seen, task }
    }

    /// The tunnels opened so far.
    pub fn seen(&self) -> Vec<Tunnel> {
        self.seen.lock().unwrap().clone()
    }

    /// `scheme://addr`, with `user:password@` if given.
    pub fn url(&self, scheme: &str, login: Option<(&str, &str)>) -> String {
        match login {
            Some((user, password)) => format!("{scheme}://{user}:{password}@{}", self.addr),
            None => format!("{scheme}://{}", self.addr),
        }
    }
}

/// A loopback address for `host:port`, or an error: the proxies reach nothing else.
async fn loopback(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.ip().is_loopback() && a.is_ipv4())
        .ok_or_else(|| std::io::Error::other(format!("{host} is not loopback")))
}

async fn connect(mut client: TcpStream, seen: &Mutex<Vec<Tunnel>>) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        client.read_exact(&mut byte).await?;
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head
        .strip_prefix("CONNECT ")
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned);
    let Some(target) = target else {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let user = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("proxy-authorization: ")
                .or_else(|| l.strip_prefix("Proxy-Authorization: "))
        })
        .map(str::to_owned);
    seen.lock().unwrap().push(Tunnel {
        target: target.clone(),
        user,
    });
    let (host, port) = target.rsplit_once(':').unwrap();
    let Ok(addr) = loopback(host.trim_matches(['[', ']']), port.parse().unwrap()).await else {
        client
            .write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let mut upstream = TcpStream::connect(addr).await?;
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn socks5(
    mut client: TcpStream,
    login: Option<&(String, String)>,
    seen: &Mutex<Vec<Tunnel>>,
) -> std::io::Result<()> {
    let mut greeting = [0u8; 2];
    client.read_exact(&mut greeting).await?;
    let mut methods = vec![0u8; usize::from(greeting[1])];
    client.read_exact(&mut methods).await?;
    let wanted = if login.is_some() { 2 } else { 0 };
    if greeting[0] != 5 || !methods.contains(&wanted) {
        client.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    client.write_all(&[5, wanted]).await?;
    let mut user = None;
    if let Some((want_user, want_password)) = login {
        let mut version = [0u8; 2];
        client.read_exact(&mut version).await?;
        let mut name = vec![0u8; usize::from(version[1])];
        client.read_exact(&mut name).await?;
        let mut length = [0u8; 1];
        client.read_exact(&mut length).await?;
        let mut password = vec![0u8; usize::from(length[0])];
        client.read_exact(&mut password).await?;
        let ok = name == want_user.as_bytes() && password == want_password.as_bytes();
        client.write_all(&[1, if ok { 0 } else { 1 }]).await?;
        if !ok {
            return Ok(());
        }
        user = Some(String::from_utf8_lossy(&name).into_owned());
    }
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut length = [0u8; 1];
            client.read_exact(&mut length).await?;
            let mut name = vec![0u8; usize::from(length[0])];
            client.read_exact(&mut name).await?;
            String::from_utf8_lossy(&name).into_owned()
        }
        _ => {
            client.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    seen.lock().unwrap().push(Tunnel {
        target: format!("{host}:{port}"),
        user,
    });
    let Ok(addr) = loopback(&host, port).await else {
        client.write_all(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    };
    let mut upstream = TcpStream::connect(addr).await?;
    client.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
