#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use base64::Engine as _;

use super::fetch::{Fetcher, is_public};
use super::*;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-rest-of-a-png";
const JPEG: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF-rest";

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[test]
fn the_bytes_decide_the_type_not_the_claim() {
    assert_eq!(Kind::sniff(PNG), Some(Kind::Png));
    assert_eq!(Kind::sniff(JPEG), Some(Kind::Jpeg));
    let claimed_jpeg = read(&data_url("image/jpeg", PNG), "at", 1 << 20).unwrap();
    assert!(matches!(claimed_jpeg.source, Source::Bytes(_, Kind::Png)));
    for (bytes, what) in [
        (&b"GIF89a...."[..], "a GIF"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "a WebP image"),
        (b"<svg xmlns=", "an SVG"),
        (b"%PDF-1.7", "a PDF"),
        (b"hello", "not an image the proxy knows"),
    ] {
        let refused = read(
            &data_url("image/png", bytes),
            "messages[0].content[1]",
            1 << 20,
        )
        .unwrap_err();
        assert_eq!(refused.param, "messages[0].content[1]");
        assert!(refused.message.contains(what), "{}", refused.message);
        assert!(
            refused.message.contains("PNG and JPEG"),
            "{}",
            refused.message
        );
    }
}

#[test]
fn a_data_url_is_bounded_and_well_formed() {
    let big = [PNG, &[0u8; 4096][..]].concat();
    let refused = read(&data_url("image/png", &big), "p", 1024).unwrap_err();
    assert!(
        refused.message.contains("image_max_bytes"),
        "{}",
        refused.message
    );
    for bad in [
        "data:image/png,rawbytes",
        "data:image/png;base64",
        "data:image/png;base64,!!!not-base64!!!",
    ] {
        assert!(read(bad, "p", 1 << 20).is_err(), "{bad}");
    }
    for bad in [
        "file:///etc/passwd",
        "ftp://example.com/a.png",
        "not a url",
        "gopher://x",
    ] {
        let refused = read(bad, "p", 1 << 20).unwrap_err();
        assert!(
            refused.message.contains("http(s)"),
            "{bad}: {}",
            refused.message
        );
    }
    let by_url = read("https://example.com/cat.png", "p", 1 << 20).unwrap();
    assert!(matches!(by_url.source, Source::Url(_)));
}

#[test]
fn the_same_image_has_the_same_marker_on_every_turn() {
    let a = read(&data_url("image/png", PNG), "x", 1 << 20).unwrap();
    let b = read(&data_url("image/jpeg", PNG), "y", 1 << 20).unwrap();
    let c = read(&data_url("image/jpeg", JPEG), "z", 1 << 20).unwrap();
    assert_eq!(
        a.key, b.key,
        "the bytes name it, not where it is or what it claims"
    );
    assert_ne!(a.key, c.key);
}

#[test]
fn markers_are_found_and_filled_in_order_and_the_rest_is_left_alone() {
    let text = format!(
        "look {} and {} and {} again \u{FFFC} stray",
        marker("k1"),
        marker("k2"),
        marker("k1")
    );
    assert_eq!(markers_in(&text), ["k1", "k2"]);
    let filled = fill(&text, |key| (key == "k1").then(|| "ONE".to_owned()));
    assert_eq!(
        filled,
        format!("look ONE and {} and ONE again \u{FFFC} stray", marker("k2"))
    );
    assert_eq!(fill("no images here", |_| None), "no images here");
}

#[test]
fn a_description_is_labelled_as_one_and_tallied() {
    let a = read(&data_url("image/png", PNG), "a", 1 << 20).unwrap();
    let b = read(&data_url("image/jpeg", JPEG), "b", 1 << 20).unwrap();
    let query = format!("{}\nwhat differs from {}?", marker(&a.key), marker(&b.key));
    let images = Images::new(vec![a.clone(), b.clone()]);
    images.set(
        &a.key,
        Slot::Described {
            text: "a red square".into(),
            cached: true,
        },
    );
    assert!(!images.pending_in(&query), "b has no slot yet");
    images.set(
        &b.key,
        Slot::Pending {
            bytes: std::sync::Arc::new(JPEG.to_vec()),
            kind: Kind::Jpeg,
            hash: sha256_hex(JPEG),
        },
    );
    assert!(images.pending_in(&query));
    images.set(
        &b.key,
        Slot::Described {
            text: "a blue circle".into(),
            cached: false,
        },
    );
    let filled = images.fill(&query);
    assert!(filled.starts_with("[Image 1: the image itself is not available; on-demand.io's image agent describes it as follows]\na red square [End of image 1]"), "{filled}");
    assert!(filled.ends_with("what differs from [Image 2: the image itself is not available; on-demand.io's image agent describes it as follows]\na blue circle [End of image 2]?"), "{filled}");
    assert_eq!(
        images.tally(),
        Tally {
            described: 1,
            cached: 1,
            uploads: 0,
        }
    );
}

#[test]
fn only_public_addresses_are_fetched() {
    for private in [
        "127.0.0.1",
        "127.8.9.10",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "224.0.0.1",
        "192.0.2.1",
        "198.18.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",
        "2001:db8::1",
        "::127.0.0.1",
        // 6to4 and SIIT forms of 127.0.0.1, 10.0.0.1 and 169.254.169.254.
        "2002:7f00:1::1",
        "2002:a00:1::",
        "2002:a9fe:a9fe::1",
        "::ffff:0:7f00:1",
        "::ffff:0:a00:1",
    ] {
        let ip: IpAddr = private.parse().unwrap();
        assert!(!is_public(ip), "{private} is not public");
    }
    for public in [
        "1.1.1.1",
        "8.8.8.8",
        "93.184.216.34",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
        "::ffff:0:808:808",
    ] {
        let ip: IpAddr = public.parse().unwrap();
        assert!(is_public(ip), "{public} is public");
    }
}

/// A tiny HTTP/1.1 server on loopback (core has no web framework): `/img` answers `body`,
/// `/redirect` sends to `location`, anything else is a 404.
async fn image_server(body: &'static [u8], location: String) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let response = match path.as_str() {
                    "/redirect" => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes(),
                    "/img" => {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        r.extend_from_slice(body);
                        r
                    }
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = socket.write_all(&response).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_fetch_is_checked_bounded_and_never_reaches_a_private_address() {
    let addr = image_server(PNG, "file:///etc/passwd".into()).await;
    let open = Fetcher::allowing_private();
    let (bytes, kind) = open
        .fetch(&format!("http://{addr}/img"), "p", 1 << 20, "ua")
        .await
        .unwrap();
    assert_eq!((bytes.as_slice(), kind), (PNG, Kind::Png));
    let too_big = open
        .fetch(&format!("http://{addr}/img"), "p", 8, "ua")
        .await
        .unwrap_err();
    assert!(
        too_big.message.contains("image_max_bytes"),
        "{}",
        too_big.message
    );
    let missing = open
        .fetch(&format!("http://{addr}/nothing.png"), "p", 1 << 20, "ua")
        .await
        .unwrap_err();
    assert!(missing.message.contains("HTTP 404"), "{}", missing.message);
    let redirected = open
        .fetch(&format!("http://{addr}/redirect"), "p", 1 << 20, "ua")
        .await
        .unwrap_err();
    assert!(
        redirected.message.contains("could not be fetched"),
        "{}",
        redirected.message
    );

    // The real fetcher: loopback by IP, by name, and by a redirect are all refused, and
    // the server never hears of it.
    let strict = Fetcher::default();
    for url in [
        format!("http://{addr}/img"),
        format!("http://localhost:{}/img", addr.port()),
        format!("http://[::1]:{}/img", addr.port()),
        "http://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let refused = strict
            .fetch(&url, "messages[0].content[0]", 1 << 20, "ua")
            .await
            .unwrap_err();
        assert_eq!(refused.param, "messages[0].content[0]");
        assert!(
            refused.message.contains("not a public address")
                || refused.message.contains("this machine"),
            "{url}: {}",
            refused.message
        );
    }
}
