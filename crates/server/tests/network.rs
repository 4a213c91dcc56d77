//! The network path users take, black box: HTTPS with HTTP/2 to the fake (a CA of its own,
//! trusted through `upstream_ca_file`), an untrusted certificate, and outbound proxies (HTTP
//! CONNECT and SOCKS5 on loopback) that record what went through them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::proxies::{TestProxy, Tunnel};
use common::*;
use fake_ondemand::{Behaviour, Failure, FakeOptions};
use serde_json::{Value, json};

fn hello() -> Value {
    user("hello over TLS")
}

/// A 1×1 PNG as a data URL.
fn png_url() -> String {
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
        0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let b64 = base64::engine::general_purpose::STANDARD.encode(PNG);
    format!("data:image/png;base64,{b64}")
}

fn fake_port(h: &Harness) -> u16 {
    h.fake.addr().port()
}

#[tokio::test]
async fn tls_and_http2_carry_chat_streams_failover_deletes_the_catalogue_and_images() {
    let h = Harness::build_tls(
        FakeOptions::default(),
        vec![key_account("k1"), key_account("k2")],
        |_| {},
    )
    .await;

    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("hello over TLS")
    );

    let (status, events, raw) = h.stream(hello()).await;
    assert_eq!(status, 200, "{raw}");
    assert!(
        streamed_content(&events).contains("hello over TLS"),
        "{raw}"
    );

    // Every session the proxy opened is deleted upstream, over the same way.
    let created = h
        .fake
        .requests_to("/sessions")
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(h.deleted_sessions(created).await.len(), created);

    // Failover: k1 is rate limited; k2 answers, and only k1 is set aside.
    h.fake.set_behaviour(
        "k1",
        Behaviour {
            failure: Some(Failure::new(429, "rate_limit_exceeded")),
            ..Default::default()
        },
    );
    for _ in 0..2 {
        let (status, body) = h.chat(hello()).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(h.account_state("k2"), "healthy");
    h.fake.set_behaviour("k1", Behaviour::default());

    // The catalogue is read over TLS too.
    h.fake.clear_requests();
    let (status, body) = h.admin("POST", "/api/catalogue/refresh", None).await;
    assert!(status < 300, "{status} {body}");
    assert!(!h.fake.requests_to("/config/v1/public/endpoints").is_empty());

    // An image is uploaded to the Media API (multipart) over TLS.
    let (status, body) = h
        .chat(
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": png_url()}}]}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.fake.media().len(), 1);

    // Everything went over HTTP/2, on few connections.
    let (h2, h1) = h.fake.tls_connections();
    assert_eq!(h1, 0, "no HTTP/1.1 connection");
    assert!(h2 >= 1);

    // Concurrent streams share connections: 24 at once open far fewer than 24.
    let before = h.fake.tls_connections().0;
    let streams = (0..24).map(|_| h.stream(hello()));
    for (status, _, raw) in futures_util::future::join_all(streams).await {
        assert_eq!(status, 200, "{raw}");
    }
    let opened = h.fake.tls_connections().0 - before;
    assert!(
        opened <= 4,
        "24 concurrent streams opened {opened} connections"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_blames_no_account_and_names_the_setting() {
    let h = Harness::build_tls(
        FakeOptions::default(),
        vec![key_account("k1"), key_account("k2")],
        |settings| settings.upstream_ca_file = String::new(),
    )
    .await;
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        body["error"]["code"], "upstream_certificate_untrusted",
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("certificate is not trusted"), "{message}");
    assert!(message.contains("upstream_ca_file"), "{message}");
    assert!(
        message.contains("after 1 attempt"),
        "one try, not one per account: {message}"
    );
    for (name, (state, _)) in h.account_states() {
        assert_eq!(state, "healthy", "{name} was blamed");
    }
    let (_, overview) = h.admin("GET", "/api/stats/overview", None).await;
    assert_eq!(
        overview["upstream_problem"]["kind"], "certificate",
        "{overview}"
    );
    assert!(h.fake.requests().is_empty(), "nothing reached the fake");

    // Trusting the CA in the dashboard heals it at the next request, no restart.
    let ca = tempfile::Builder::new().suffix(".pem").tempfile().unwrap();
    std::fs::write(ca.path(), h.fake.ca_pem().unwrap()).unwrap();
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"upstream_ca_file": ca.path().display().to_string()})),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "{body}");
    let (_, overview) = h.admin("GET", "/api/stats/overview", None).await;
    assert!(overview["upstream_problem"].is_null(), "{overview}");
}

#[tokio::test]
async fn a_ca_file_that_does_not_parse_is_refused_naming_the_file() {
    let h = Harness::with_keys(&["k1"]).await;
    let junk = tempfile::Builder::new().suffix(".pem").tempfile().unwrap();
    std::fs::write(junk.path(), "not a certificate").unwrap();
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"upstream_ca_file": junk.path().display().to_string()})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("upstream_ca_file") && message.contains("no certificate"),
        "{body}"
    );
}

#[tokio::test]
async fn an_http_connect_proxy_carries_every_call() {
    let proxy = TestProxy::connect().await;
    let url = proxy.url("http", None);
    let h = Harness::build_tls(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.upstream_proxy = Some(ondemand_core::config::ProxyUrl::parse(&url).unwrap());
    })
    .await;
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, raw) = h.stream(hello()).await;
    assert_eq!(status, 200, "{raw}");
    let target = format!("127.0.0.1:{}", fake_port(&h));
    let seen = proxy.seen();
    assert!(
        !seen.is_empty() && seen.iter().all(|t| t.target == target),
        "{seen:?}"
    );
    assert!(!h.fake.requests_to("/query").is_empty());
}

#[tokio::test]
async fn a_socks5h_proxy_resolves_names_and_takes_a_password_that_is_never_shown() {
    let proxy = TestProxy::socks5(Some(("odp", "hunter2-secret"))).await;
    let url = proxy.url("socks5h", Some(("odp", "hunter2-secret")));
    let h = Harness::build_tls(FakeOptions::default(), vec![key_account("k1")], |s| {
        // A name, not an address: socks5h hands it to the proxy to resolve.
        s.base_url = s.base_url.replace("127.0.0.1", "localhost");
        s.upstream_proxy = Some(ondemand_core::config::ProxyUrl::parse(&url).unwrap());
    })
    .await;
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "{body}");
    let seen = proxy.seen();
    assert!(
        seen.contains(&Tunnel {
            target: format!("localhost:{}", fake_port(&h)),
            user: Some("odp".into())
        }),
        "{seen:?}"
    );

    // The admin API shows the proxy with its password masked, and sending that back
    // keeps the password.
    let (_, settings) = h.admin("GET", "/api/settings", None).await;
    let text = settings.to_string();
    assert!(!text.contains("hunter2"), "the password leaked: {text}");
    let shown = settings["data"]
        .as_array()
        .or_else(|| settings.as_array())
        .unwrap()
        .iter()
        .find(|s| s["key"] == "upstream_proxy")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        shown.contains("odp:") && shown.contains(ondemand_core::config::PASSWORD_MASK),
        "{shown}"
    );
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"upstream_proxy": shown})),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let before = proxy.seen().len();
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "the kept password still signs in: {body}");
    assert!(proxy.seen().len() > before);
}

#[tokio::test]
async fn a_proxy_that_is_down_is_the_ways_fault_not_the_accounts() {
    // A port that refuses: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("socks5://odp:topsecret@{closed}");
    let h = Harness::build_tls(
        FakeOptions::default(),
        vec![key_account("k1"), key_account("k2")],
        |s| {
            s.upstream_proxy = Some(ondemand_core::config::ProxyUrl::parse(&url).unwrap());
        },
    )
    .await;
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_proxy_failed", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "socks5://odp:{}@{closed}",
            ondemand_core::config::PASSWORD_MASK
        )),
        "{message}"
    );
    assert!(!body.to_string().contains("topsecret"), "{body}");
    assert!(message.contains("after 1 attempt"), "{message}");
    for (name, (state, _)) in h.account_states() {
        assert_eq!(state, "healthy", "{name} was blamed");
    }
    let (_, overview) = h.admin("GET", "/api/stats/overview", None).await;
    assert_eq!(overview["upstream_problem"]["kind"], "proxy", "{overview}");
}

#[tokio::test]
async fn a_proxy_setting_is_checked_and_applies_at_the_next_request() {
    let proxy = TestProxy::connect().await;
    let h = Harness::build_tls(FakeOptions::default(), vec![key_account("k1")], |_| {}).await;
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"upstream_proxy": "ftp://nope:1"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("upstream_proxy"), "{body}");

    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "{body}");
    assert!(proxy.seen().is_empty(), "no proxy set yet");
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"upstream_proxy": proxy.url("http", None)})),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(proxy.seen().len(), 1, "the next request took the proxy");
}

#[tokio::test]
async fn an_accounts_own_proxy_overrides_the_global_one_and_a_dead_one_fails_over() {
    let global = TestProxy::connect().await;
    let own = TestProxy::socks5(Some(("acct", "own-secret"))).await;
    let global_url = global.url("http", None);
    let h = Harness::build_tls(FakeOptions::default(), vec![], |s| {
        s.upstream_proxy = Some(ondemand_core::config::ProxyUrl::parse(&global_url).unwrap());
    })
    .await;
    for key in ["k-own", "k-global"] {
        h.fake.add_key(key);
    }
    let (status, own_account) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"name": "own", "api_key": "k-own",
                        "proxy": own.url("socks5h", Some(("acct", "own-secret")))})),
        )
        .await;
    assert_eq!(status, 201, "{own_account}");
    let masked = own_account["proxy"].as_str().unwrap().to_owned();
    assert!(
        !own_account.to_string().contains("own-secret"),
        "{own_account}"
    );
    let (status, body) = h
        .admin(
            "POST",
            "/api/accounts",
            Some(json!({"name": "global", "api_key": "k-global"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["proxy"].is_null(), "{body}");

    // Round robin: each account goes out its own way.
    for _ in 0..4 {
        let (status, body) = h.chat(hello()).await;
        assert_eq!(status, 200, "{body}");
    }
    let by_key = |key: &str| {
        h.fake
            .requests_to("/query")
            .iter()
            .filter(|r| r.credential.as_deref() == Some(key))
            .count()
    };
    assert!(by_key("k-own") >= 1 && by_key("k-global") >= 1);
    assert!(own.seen().iter().all(|t| t.user.as_deref() == Some("acct")));
    assert!(!own.seen().is_empty() && !global.seen().is_empty());

    // Sending the masked proxy back keeps it; a dead proxy on one account fails over to the
    // account that goes another way, and blames neither.
    let id = own_account["id"].as_i64().unwrap();
    let (status, body) = h
        .admin(
            "PATCH",
            &format!("/api/accounts/{id}"),
            Some(json!({"proxy": masked})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = h.chat(hello()).await;
    assert_eq!(status, 200, "the kept password still works: {body}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (status, body) = h
        .admin(
            "PATCH",
            &format!("/api/accounts/{id}"),
            Some(json!({"proxy": format!("socks5://{closed}")})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..4 {
        let (status, body) = h.chat(hello()).await;
        assert_eq!(status, 200, "{body}");
    }
    for (name, (state, _)) in h.account_states() {
        assert_eq!(state, "healthy", "{name} was blamed for a proxy");
    }
    let (status, body) = h
        .admin(
            "PATCH",
            &format!("/api/accounts/{id}"),
            Some(json!({"proxy": "gopher://x"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "proxy", "{body}");
}

#[tokio::test]
async fn more_streams_than_one_connection_carries_open_another_connection() {
    let h = Harness::build_tls(FakeOptions::default(), vec![key_account("k1")], |s| {
        s.max_concurrent_upstream = 0;
    })
    .await;
    // Streams that stay open ~1 s, so that all of them are in flight at once.
    h.fake.set_default_behaviour(Behaviour {
        frame_delay_ms: 100,
        ..Default::default()
    });
    let n = ondemand_core::upstream::transport::STREAMS_PER_LANE + 60;
    let streams = (0..n).map(|_| h.stream(hello()));
    for (status, _, raw) in futures_util::future::join_all(streams).await {
        assert_eq!(status, 200, "{raw}");
    }
    let (h2, h1) = h.fake.tls_connections();
    assert_eq!(h1, 0);
    assert!(h2 >= 2, "{n} streams at once went on {h2} connection(s)");
    assert!(h2 <= 4, "{n} streams at once opened {h2} connections");
}

#[tokio::test]
async fn test_connection_shows_the_way_and_names_what_fails() {
    let proxy = TestProxy::socks5(Some(("probe", "probe-secret"))).await;
    let h = Harness::build_tls(FakeOptions::default(), vec![key_account("k1")], |_| {}).await;
    let id = h.account_id("k1").await;
    let (status, probe) = h
        .admin("POST", "/api/network/test", Some(json!({"account": id})))
        .await;
    assert_eq!(status, 200, "{probe}");
    assert!(probe["fault"].is_null(), "{probe}");
    assert_eq!(probe["protocol"], "h2", "{probe}");
    assert_eq!(probe["tls_version"], "TLSv1.3", "{probe}");
    assert_eq!(probe["issuer"], "fake-ondemand test CA", "{probe}");
    assert_eq!(
        probe["address"],
        format!("127.0.0.1:{}", fake_port(&h)),
        "{probe}"
    );
    assert_eq!(probe["status"], 200);
    assert!(probe["endpoints"].as_u64().unwrap() > 0, "{probe}");
    assert_eq!(probe["trust"], "system");
    assert_eq!(probe["extra_roots"], 1);
    assert!(probe["proxy"].is_null());

    // Without an account: the way works, on-demand.io refuses the keyless call.
    let (_, probe) = h.admin("POST", "/api/network/test", Some(json!({}))).await;
    assert_eq!(probe["fault"], "upstream", "{probe}");
    assert_eq!(probe["protocol"], "h2", "{probe}");

    // Through a proxy: the address reached is the proxy's, shown masked.
    let url = proxy.url("socks5h", Some(("probe", "probe-secret")));
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"upstream_proxy": url})),
        )
        .await;
    assert!(status < 300, "{body}");
    let (_, probe) = h
        .admin("POST", "/api/network/test", Some(json!({"account": id})))
        .await;
    assert!(probe["fault"].is_null(), "{probe}");
    assert_eq!(probe["address"], proxy.addr.to_string(), "{probe}");
    assert!(!probe.to_string().contains("probe-secret"), "{probe}");
    assert!(
        probe["proxy"]
            .as_str()
            .unwrap()
            .contains(ondemand_core::config::PASSWORD_MASK)
    );

    // A CA no longer trusted: the certificate, in so many words.
    let (status, body) = h
        .admin(
            "PATCH",
            "/api/settings",
            Some(json!({"upstream_proxy": "", "upstream_ca_file": ""})),
        )
        .await;
    assert!(status < 300, "{body}");
    let (_, probe) = h
        .admin("POST", "/api/network/test", Some(json!({"account": id})))
        .await;
    assert_eq!(probe["fault"], "certificate", "{probe}");
    assert!(
        probe["error"]
            .as_str()
            .unwrap()
            .contains("upstream_ca_file"),
        "{probe}"
    );
}

/// Cloudflare's edge recycles connections with a GOAWAY. The streams in flight on them finish
/// whole, calls that race it and the calls after it (the sessions' deletes among them) go on
/// a new connection, and no account is blamed.
#[tokio::test]
async fn a_goaway_lets_the_streams_in_flight_finish_and_moves_later_calls_to_a_new_connection() {
    let h = Harness::build_tls(
        FakeOptions::default(),
        vec![key_account("k1"), key_account("k2")],
        |_| {},
    )
    .await;
    h.fake.set_default_behaviour(Behaviour {
        frame_delay_ms: 40,
        ..Default::default()
    });
    const STREAMS: usize = 6;
    let streams = futures_util::future::join_all((0..STREAMS).map(|_| h.stream(hello())));
    let go_away = async {
        // Once every stream is being written, the edge goes away.
        while h.fake.open_streams() < STREAMS {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let before = h.fake.tls_connections().0;
        h.fake.go_away();
        before
    };
    // Calls that start as the GOAWAY is sent.
    let racing = async {
        while h.fake.open_streams() < STREAMS {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        futures_util::future::join_all((0..8).map(|_| h.chat(hello()))).await
    };
    let (finished, before, raced) = tokio::join!(streams, go_away, racing);
    for (status, body) in raced {
        assert_eq!(status, 200, "a call racing the GOAWAY failed: {body}");
    }
    for (status, events, raw) in finished {
        assert_eq!(status, 200, "{raw}");
        assert!(
            streamed_content(&events).contains("hello over TLS") && raw.contains("[DONE]"),
            "a stream was cut short by the GOAWAY: {raw}"
        );
    }
    for _ in 0..3 {
        let (status, body) = h.chat(hello()).await;
        assert_eq!(status, 200, "{body}");
    }
    let created = h
        .fake
        .requests_to("/sessions")
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(h.deleted_sessions(created).await.len(), created);
    assert!(
        h.fake.tls_connections().0 > before,
        "the calls after the GOAWAY went on a new connection"
    );
    for (name, (state, _)) in h.account_states() {
        assert_eq!(state, "healthy", "{name} was blamed for a GOAWAY");
    }
}
