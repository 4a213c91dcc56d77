//! Connections that never finish, black box over raw sockets: a half-sent head is closed, a
//! body that never comes gets a 408, a declared oversized body its 413 at once, a shutdown
//! does not wait on a stalled client, a stream whose client reads nothing frees its
//! upstream slot, and an answer given before its body was read says the connection closes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use fake_ondemand::{Behaviour, FakeOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn quick(settings: impl FnOnce(&mut ondemand_core::config::Settings)) -> Harness {
    Harness::build(FakeOptions::default(), vec![key_account("k")], settings).await
}

async fn connect(h: &Harness) -> TcpStream {
    TcpStream::connect(h.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection or `within` runs out: what was read, and
/// whether it closed.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

fn head(extra: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n{extra}"
    )
}

#[tokio::test]
async fn a_half_sent_head_is_closed() {
    let h = quick(|s| s.header_read_timeout = Duration::from_secs(1)).await;
    let mut stream = connect(&h).await;
    stream
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127")
        .await
        .unwrap();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "the connection was left open");
}

#[tokio::test]
async fn a_body_that_never_comes_gets_a_408() {
    let h = quick(|s| s.body_read_timeout = Duration::from_secs(1)).await;
    let mut stream = connect(&h).await;
    let request = head("Content-Length: 100\r\n\r\n{\"model\":");
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_read_timeout"), "{answer}");
}

#[tokio::test]
async fn a_declared_oversized_body_is_refused_unread() {
    // The body never comes: only the declared length can decide, and it must at once.
    let h = quick(|s| s.body_read_timeout = Duration::from_secs(600)).await;
    let mut stream = connect(&h).await;
    let request = head("Content-Length: 50000000\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("max_body_bytes"), "{answer}");
}

/// An answer given before the request's body was read says `Connection: close`, as the
/// connection is closed after it; one given after reading the body keeps the connection.
#[tokio::test]
async fn an_early_refusal_with_its_body_unread_says_the_connection_closes() {
    let h = quick(|_| {}).await;
    let body = format!(
        "{{\"model\": \"gpt-4o\", \"pad\": \"{}\"}}",
        "x".repeat(200_000)
    );
    for (what, request) in [
        (
            "a wrong token",
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer wrong\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
        ),
        (
            "an unknown route",
            format!(
                "POST /v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
        ),
    ] {
        let mut stream = connect(&h).await;
        stream.write_all(request.as_bytes()).await.unwrap();
        // Only the head: the answer comes before the body is sent.
        let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        let head = answer
            .split("\r\n\r\n")
            .next()
            .unwrap()
            .to_ascii_lowercase();
        assert!(head.contains("connection: close"), "{what}: {answer}");
        assert!(closed, "{what}: closed as it says");
    }
    // Read first, then refused: the connection stays open for the next request.
    let mut stream = connect(&h).await;
    let missing =
        "{\"model\": \"no-such-model\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}";
    let request = head(&format!(
        "Content-Length: {}\r\n\r\n{missing}",
        missing.len()
    ));
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_millis(500)).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(!closed, "kept alive");
}

#[tokio::test]
async fn a_stalled_client_does_not_hold_up_the_shutdown() {
    let h = quick(|s| {
        s.header_read_timeout = Duration::from_secs(600);
        s.shutdown_grace = Duration::from_secs(1);
    })
    .await;
    let mut stalled = connect(&h).await;
    stalled
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 1")
        .await
        .unwrap();
    // A request in flight must have begun before the stop; give the server the head part.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopped = tokio::time::timeout(Duration::from_secs(15), h.stop()).await;
    assert!(stopped.is_ok(), "the shutdown waited on a stalled client");
}

#[tokio::test]
async fn a_stream_whose_client_reads_nothing_frees_its_upstream_slot() {
    let h = quick(|s| {
        s.stream_write_timeout = Duration::from_secs(1);
        s.max_concurrent_upstream = 1;
    })
    .await;
    // An answer far larger than the socket buffers, so the writes must block.
    h.fake.set_behaviour(
        "k",
        Behaviour {
            answer: Some("x".repeat(16 * 1024 * 1024)),
            delta_chars: Some(256 * 1024),
            ..Behaviour::default()
        },
    );
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut reader_that_never_reads = socket
        .connect(h.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let body = r#"{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let request = head(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    reader_that_never_reads
        .write_all(request.as_bytes())
        .await
        .unwrap();
    // The one upstream slot is held by that stream until its client is cut off; then another
    // request gets through.
    let began = std::time::Instant::now() + Duration::from_secs(10);
    while h.fake.requests_to("/query").is_empty() {
        assert!(std::time::Instant::now() < began, "the stream never began");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.fake.set_behaviour("k", Behaviour::default());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = h.chat(user("after")).await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot was never freed (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(reader_that_never_reads);
}
