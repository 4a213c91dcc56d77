//! The headless binary as a user runs it: `ondemand-proxy serve`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "common/process.rs"]
mod process;

#[cfg(unix)]
use process::start_demo_limited;
use process::{binary, start, start_demo};

async fn get_json(url: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn token_is_generated_printed_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut first = start(
        &["--port", "0", "--data-dir", data.to_str().unwrap()],
        &[],
        dir.path(),
    );
    // Piped, as under a service manager: where the secrets are, never the secrets.
    let line = first.wait_for("Client token: generated now and stored in ");
    first.wait_for("Admin password for /api: generated now and stored in ");
    let path = line
        .split("stored in ")
        .nth(1)
        .and_then(|rest| rest.split(" (not printed").next())
        .unwrap();
    let token = std::fs::read_to_string(path).unwrap().trim().to_owned();
    assert!(token.starts_with("sk-odp-"), "{token}");
    let base = first.base_url();
    assert!(
        base.starts_with("http://127.0.0.1:") && !base.ends_with(":0/v1"),
        "{base}"
    );
    let (status, models) = get_json(&format!("{base}/models"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(models["object"], "list");
    let (status, _) = get_json(&format!("{base}/models"), "wrong").await;
    assert_eq!(status, 401);
    let (exit, stderr, stdout) = first.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(!stderr.contains(&token), "the token is never logged");
    assert!(
        !stdout.join("\n").contains(&token),
        "nor printed where the output is not a terminal"
    );

    let mut second = start(
        &["--port", "0", "--data-dir", data.to_str().unwrap()],
        &[],
        dir.path(),
    );
    second.wait_for("Client token: stored in");
    second.wait_for("Admin password: stored in");
    let base = second.base_url();
    assert_eq!(
        get_json(&format!("{base}/models"), &token).await.0,
        200,
        "same token after restart"
    );
    let (exit, stderr, stdout) = second.terminate();
    assert!(exit.success());
    assert!(
        !stdout.join("\n").contains(&token) && !stderr.contains(&token),
        "printed only the first time"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("client_token")).unwrap(),
        token
    );
}

/// One setting as `GET /api/settings` describes it.
async fn setting(origin: &str, admin: &str, key: &str) -> Value {
    let settings: Value = reqwest::Client::new()
        .get(format!("{origin}/api/settings"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    settings["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no setting {key}: {settings}"))
        .clone()
}

/// `--demo-tls`: the simulated upstream speaks HTTPS with HTTP/2 through a CA made at start,
/// which the proxy trusts through a file of its own (shown locked in the settings, and gone
/// when the proxy stops).
#[tokio::test]
async fn demo_over_tls_answers_through_https_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let token = "sk-demo-tls-test-token-abcdef";
    let admin = "an-admin-password-for-the-tls-demo";
    let data = dir.path().to_str().unwrap();
    let mut proxy = start(
        &["--demo-tls", "--port", "0", "--data-dir", data],
        &[("API_ACCESS_TOKEN", token), ("ADMIN_PASSWORD", admin)],
        dir.path(),
    );
    let base = proxy.base_url();
    proxy.wait_for("Demo mode");
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/chat/completions"))
        .bearer_auth(token)
        .json(&json!({"model": "gpt-4o", "stream": true,
            "messages": [{"role": "user", "content": "Hello over TLS"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("[Simulated") && text.contains("[DONE]"),
        "{text}"
    );

    let origin = base.trim_end_matches("/v1");
    let probe: Value = client
        .post(format!("{origin}/api/network/test"))
        .bearer_auth(admin)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(probe["protocol"], "h2", "{probe}");
    assert_eq!(probe["extra_roots"], 1, "{probe}");
    assert!(
        probe["url"]
            .as_str()
            .unwrap()
            .starts_with("https://127.0.0.1:"),
        "{probe}"
    );
    assert_ne!(probe["fault"], "certificate", "{probe}");
    let ca_file = setting(origin, admin, "upstream_ca_file").await;
    let path = ca_file["value"].as_str().unwrap().to_owned();
    assert!(std::path::Path::new(&path).is_file(), "{ca_file}");
    assert_eq!(ca_file["editable"], false, "{ca_file}");
    assert!(
        ca_file["locked_reason"]
            .as_str()
            .unwrap()
            .contains("--demo-tls"),
        "{ca_file}"
    );
    let (status, _, _) = proxy.terminate();
    assert!(status.success());
    assert!(
        !std::path::Path::new(&path).exists(),
        "the demo's CA file outlived it"
    );
}

#[tokio::test]
async fn demo_mode_answers_and_says_it_is_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let token = "sk-demo-test-token-abcdef";
    let admin = "an-admin-password-for-the-demo";
    let mut proxy = start_demo(
        dir.path().to_str().unwrap(),
        &[("API_ACCESS_TOKEN", token), ("ADMIN_PASSWORD", admin)],
        dir.path(),
    );
    proxy.wait_for("Client token: the configured");
    let base = proxy.base_url();
    proxy.wait_for("Demo mode");
    let response = reqwest::Client::new()
        .post(format!("{base}/chat/completions"))
        .bearer_auth(token)
        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello demo"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("[Simulated answer") && content.ends_with("Hello demo"),
        "{content}"
    );

    // The simulated upstream listens on loopback, where any local user can reach it: it has
    // no control routes, so nobody reads the prompts or scripts the answers.
    let origin = base.trim_end_matches("/v1");
    let upstream = setting(origin, admin, "base_url").await["value"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(upstream.starts_with("http://127.0.0.1:"), "{upstream}");
    let client = reqwest::Client::new();
    let catalogue = client
        .get(format!("{upstream}/config/v1/public/endpoints"))
        .header("apikey", "anything")
        .send()
        .await
        .unwrap();
    assert_eq!(catalogue.status(), 200, "it is the simulated upstream");
    for (method, path, body) in [
        (reqwest::Method::GET, "/_fake/requests", json!(null)),
        (reqwest::Method::DELETE, "/_fake/requests", json!(null)),
        (
            reqwest::Method::PUT,
            "/_fake/options",
            json!({"record": true}),
        ),
        (
            reqwest::Method::PUT,
            "/_fake/behaviour",
            json!({"answer": "curl x | sh"}),
        ),
        (reqwest::Method::PUT, "/_fake/behaviour/anything", json!({})),
    ] {
        let answer = client
            .request(method.clone(), format!("{upstream}{path}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 404, "{method} {path}");
    }
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
}

/// Refusals can come by the hundred thousand: the log tells the first of each kind a
/// minute and counts the rest, rather than writing a line for each.
#[tokio::test]
async fn a_flood_of_refused_requests_writes_a_line_per_kind_not_per_request() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let token = "sk-flood-test-token-abcdef";
    let mut proxy = start_demo(
        dir.path().to_str().unwrap(),
        &[("API_ACCESS_TOKEN", token)],
        dir.path(),
    );
    let base = proxy.base_url();
    let client = reqwest::Client::new();
    let statuses: Vec<u16> = futures_util::stream::iter(0..2000)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                // Half with a wrong token, half with a model that does not exist.
                let (bearer, model) = if i % 2 == 0 {
                    ("sk-wrong-token-0123456789", "gpt-4o")
                } else {
                    (token, "no-such-model")
                };
                client
                    .post(format!("{base}/chat/completions"))
                    .bearer_auth(bearer)
                    .json(&json!({"model": model, "messages": [{"role": "user", "content": "x"}]}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 1000);
    // The demo's rate limit (60 a minute) refuses most of the others first.
    let (missing, limited) = (
        statuses.iter().filter(|s| **s == 404).count(),
        statuses.iter().filter(|s| **s == 429).count(),
    );
    assert_eq!(
        (missing + limited, missing.min(1), limited.min(1)),
        (1000, 1, 1)
    );
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert_eq!(
        stderr.matches("refused a client token").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.matches("model_not_found").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("rate_limit_exceeded").count(), 1, "{stderr}");
    assert!(stderr.lines().count() < 40, "{stderr}");
}

/// A local user opening idle connections by the thousand (cleartext HTTP/2 among them) must
/// not starve the proxy of file descriptors under the usual desktop limit of 1,024: the
/// limit is raised at start, connections are capped below it, h2c is refused, and an idle
/// connection is closed after `header_read_timeout`. `/health` answers throughout.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_by_the_thousand_leave_health_answering() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut proxy = start_demo_limited("-Sn 1024", dir.path(), &[("HEADER_READ_TIMEOUT", "2")]);
    let base = proxy.base_url();
    let origin = base.trim_end_matches("/v1").to_owned();
    let address = origin.trim_start_matches("http://").to_owned();
    let health = || async {
        reqwest::Client::new()
            .get(format!("{origin}/health"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().as_u16())
    };

    // Cleartext HTTP/2 with prior knowledge: not spoken here, so the connection ends at once.
    let mut h2c = tokio::net::TcpStream::connect(&address).await.unwrap();
    h2c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), h2c.read_to_end(&mut answer))
        .await
        .expect("an h2c connection is closed, not kept")
        .unwrap();

    let mut idle = Vec::new();
    for _ in 0..1100 {
        idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    assert_eq!(
        health().await.unwrap(),
        200,
        "with 1,100 idle connections open"
    );
    // Idle connections end after header_read_timeout, and the limit was raised.
    let mut closed = 0;
    for stream in idle.iter_mut().take(20) {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte)).await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, 20, "idle connections are closed");
    assert_eq!(health().await.unwrap(), 200);
    drop(idle);
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(stderr.contains("raised the open-file limit"), "{stderr}");
    assert!(stderr.contains("before=1024"), "{stderr}");
    assert!(!stderr.contains("Too many open files"), "{stderr}");
}

/// Where the limit cannot be raised, connections past the cap below it are closed at once,
/// with one line in the log, and served again once the crowd leaves.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once_and_the_log_says_so() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    // A hard limit of 400: 144 connections, with 256 kept for the rest.
    let mut proxy = start_demo_limited("-n 400", dir.path(), &[]);
    let base = proxy.base_url();
    let address = base
        .trim_end_matches("/v1")
        .trim_start_matches("http://")
        .to_owned();
    let mut open = Vec::new();
    for _ in 0..200 {
        open.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    // All at once, well within header_read_timeout (10 s), which closes idle ones too.
    let reads = futures_util::future::join_all(open.iter_mut().map(|stream| async move {
        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut byte)).await;
        matches!(read, Ok(Ok(0) | Err(_)))
    }))
    .await;
    let closed = reads.iter().filter(|closed| **closed).count();
    assert_eq!(closed, 200 - 144, "past the cap of 144");
    drop(open);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = get_json(&format!("{base}/models"), "wrong").await;
    assert_eq!(status, 401, "served again");
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert_eq!(
        stderr.matches("too many client connections").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("connections=144"), "{stderr}");
}

#[tokio::test]
async fn an_open_dashboard_does_not_hold_up_a_graceful_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let admin = "an-admin-password-for-shutdown";
    let mut proxy = start_demo(
        dir.path().to_str().unwrap(),
        &[("ADMIN_PASSWORD", admin)],
        dir.path(),
    );
    let base = proxy.base_url().trim_end_matches("/v1").to_owned();
    let mut events = reqwest::Client::new()
        .get(format!("{base}/api/events?interval_ms=100"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    assert!(
        events.chunk().await.unwrap().is_some(),
        "the stream is live"
    );
    let started = Instant::now();
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    while let Ok(Some(_)) = events.chunk().await {}
}

/// A data directory someone else could have prepared is not trusted as found: what another
/// user owns or can write is refused, naming the file; what others can only read is made
/// private again, and the log says so. The same holds for `config.json`.
#[cfg(unix)]
#[tokio::test]
async fn a_data_directory_others_could_plant_secrets_in_is_refused_or_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let set = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    set(&data, 0o777);
    let refusal = |needle: &str| {
        let out = binary()
            .args(["serve", "--demo", "--port", "0", "--data-dir"])
            .arg(&data)
            .current_dir(work.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(needle), "{needle}: {stderr}");
        stderr
    };

    // Planted where anyone may write it: refused, and left as found.
    let token = data.join("client_token");
    std::fs::write(&token, "sk-planted-token-0123456789").unwrap();
    set(&token, 0o666);
    let first = refusal("client_token can be written by other users (mode 666)");
    assert_eq!(mode(&token), 0o666);
    // The directory itself was made private first, and the log said so.
    assert!(
        first.contains("data was readable by other users (mode 777)"),
        "{first}"
    );
    assert_eq!(mode(&data), 0o700);
    // Planted by another user (only root can hand a file over; elsewhere this case cannot
    // be made here).
    set(&token, 0o600);
    if std::os::unix::fs::chown(&token, Some(4242), None).is_ok() {
        refusal("client_token belongs to another user (uid 4242)");
    }
    std::fs::remove_file(&token).unwrap();
    // A config.json others may write.
    let config = work.path().join("config.json");
    std::fs::write(&config, "{}").unwrap();
    set(&config, 0o666);
    refusal("config.json can be written by other users");
    set(&config, 0o644);

    // Readable by others only: made private, with a line in the log each.
    let password = data.join("admin_password");
    std::fs::write(&password, "an-admin-password-of-mine").unwrap();
    set(&password, 0o644);
    let mut proxy = start(
        &[
            "--demo",
            "--port",
            "0",
            "--data-dir",
            data.to_str().unwrap(),
        ],
        &[],
        work.path(),
    );
    let base = proxy.base_url();
    let (status, _) = get_json(&format!("{base}/models"), "sk-planted-token-0123456789").await;
    assert_eq!(status, 401, "the planted token opens nothing");
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert_eq!(stderr.matches("was not private").count(), 2, "{stderr}");
    let database = data.join("ondemand-proxy.db");
    assert_eq!(
        [mode(&data), mode(&password), mode(&config), mode(&database)],
        [0o700, 0o600, 0o600, 0o600]
    );
    for journal in ["ondemand-proxy.db-wal", "ondemand-proxy.db-shm"] {
        if let Ok(meta) = std::fs::metadata(data.join(journal)) {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{journal}");
        }
    }
}

#[test]
fn bad_configuration_fails_at_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    /// Flags, environment, and what the error must name.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case<'_>; 6] = [
        (&["--port", "99999"], &[], "`port`"),
        (&["--ca-file", "no-such-ca.pem"], &[], "no-such-ca.pem"),
        (
            &[],
            &[("ONDEMAND_PROXY", "ftp://me:pw@h:1")],
            "ONDEMAND_PROXY",
        ),
        (&[], &[("MAX_RETRIES", "many")], "MAX_RETRIES"),
        (
            &[],
            &[("ONDEMAND_ACCOUNTS", "[{\"email\":\"x@y\"}]")],
            "accounts[0]",
        ),
        (&["--config", "missing.json"], &[], "missing.json"),
    ];
    for (args, envs, needle) in cases {
        let mut cmd = binary();
        cmd.arg("serve")
            .args(args)
            .args(["--data-dir", dir.path().to_str().unwrap()])
            .current_dir(dir.path());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?} {envs:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{needle} not in {stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing started: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn a_taken_port_stops_start_up_naming_the_port() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = binary()
        .args(["serve", "--port", &port, "--data-dir"])
        .arg(dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("port {port} on 127.0.0.1 is already in use")),
        "{stderr}"
    );
}

#[tokio::test]
async fn config_json_in_the_working_directory_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"api_access_token": "sk-from-config-file-123", "accounts": [], "stats_file_path": "old.json"}"#,
    )
    .unwrap();
    let mut proxy = start(
        &[
            "--port",
            "0",
            "--data-dir",
            dir.path().join("d").to_str().unwrap(),
        ],
        &[],
        dir.path(),
    );
    proxy.wait_for("Client token: the configured");
    let base = proxy.base_url();
    assert_eq!(
        get_json(&format!("{base}/models"), "sk-from-config-file-123")
            .await
            .0,
        200
    );
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success());
    assert!(
        stderr.contains("stats_file_path"),
        "unknown keys are reported: {stderr}"
    );
}

#[tokio::test]
async fn usage_is_written_on_shutdown_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = "sk-usage-restart-test-token";
    let run = |n: usize| {
        let data = data.clone();
        let dir = dir.path().to_owned();
        async move {
            let mut proxy =
                start_demo(data.to_str().unwrap(), &[("API_ACCESS_TOKEN", token)], &dir);
            let base = proxy.base_url();
            for _ in 0..n {
                let response = reqwest::Client::new()
                    .post(format!("{base}/chat/completions"))
                    .bearer_auth(token)
                    .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "count"}]}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
            let (exit, stderr, _) = proxy.terminate();
            assert!(exit.success(), "{stderr}");
        }
    };
    run(3).await;
    let count = || {
        let conn = ondemand_core::store::open(&data.join(ondemand_proxy::bootstrap::DATABASE_FILE))
            .unwrap();
        ondemand_core::store::usage::totals(&conn, 0, i64::MAX)
            .unwrap()
            .0
    };
    assert_eq!(count(), 3, "SIGTERM wrote every row");
    run(2).await;
    assert_eq!(count(), 5, "the second run appended to the same database");
}

#[tokio::test]
async fn kill_9_under_load_loses_at_most_the_last_second_and_reopens_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let token = "sk-crash-test-token-123456";
    let admin = "crash-test-admin-password";
    let envs = [
        ("API_ACCESS_TOKEN", token),
        ("RATE_LIMIT", "0"),
        ("ADMIN_PASSWORD", admin),
    ];
    let mut proxy = start_demo(data.to_str().unwrap(), &envs, dir.path());
    let base = proxy.base_url();
    let started = Instant::now();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Acknowledged admin changes so far, to kill only once the load is well under way.
    let changed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, base, stop) = (client.clone(), base.clone(), stop.clone());
            tokio::spawn(async move {
                let mut acked = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = client
                        .post(format!("{base}/chat/completions"))
                        .bearer_auth(token)
                        .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "load"}]}))
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    if response.status() != 200 || response.bytes().await.is_err() {
                        break;
                    }
                    acked.push(Instant::now());
                }
                acked
            })
        })
        .collect();
    // Meanwhile a person makes changes: each acknowledged one must survive the crash.
    let api = base.trim_end_matches("/v1").to_owned() + "/api";
    let changes = {
        let (client, stop, changed) = (client.clone(), stop.clone(), changed.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let (path, body) = match i % 3 {
                    0 => ("tokens", json!({"name": format!("t{i}")})),
                    1 => (
                        "accounts",
                        json!({"name": format!("a{i}"), "api_key": format!("key-{i}")}),
                    ),
                    _ => ("settings", json!({"usage_retention_days": 100 + i})),
                };
                let method = if path == "settings" {
                    reqwest::Method::PATCH
                } else {
                    reqwest::Method::POST
                };
                let Ok(response) = client
                    .request(method, format!("{api}/{path}"))
                    .bearer_auth(admin)
                    .json(&body)
                    .send()
                    .await
                else {
                    break;
                };
                if !response.status().is_success() {
                    break;
                }
                acked.push((path, i));
                changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            acked
        })
    };
    // Kill mid-flight: once dozens of changes and many requests were acknowledged.
    let deadline = Instant::now() + Duration::from_secs(30);
    while changed.load(std::sync::atomic::Ordering::Relaxed) < 40 {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_at = Instant::now();
    Command::new("kill")
        .args(["-KILL", &proxy.child.id().to_string()])
        .status()
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = proxy.child.wait();
    let mut acked = Vec::new();
    for worker in workers {
        acked.extend(worker.await.unwrap());
    }
    let last_second = acked
        .iter()
        .filter(|t| killed_at.duration_since(**t) < Duration::from_secs(1))
        .count();
    let conn =
        ondemand_core::store::open(&data.join(ondemand_proxy::bootstrap::DATABASE_FILE)).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let rows = ondemand_core::store::usage::totals(&conn, 0, i64::MAX)
        .unwrap()
        .0 as usize;
    eprintln!(
        "kill -9 after {} acknowledged requests ({last_second} in the last second): {rows} rows",
        acked.len()
    );
    assert!(
        acked.len() > 100,
        "the load ran: {} requests in {:?}",
        acked.len(),
        killed_at - started
    );
    assert!(
        rows + last_second >= acked.len(),
        "lost more than the last second: {rows} rows, {} acknowledged, {last_second} in the last second",
        acked.len()
    );
    assert!(
        rows <= acked.len() + 8,
        "no phantom rows: {rows} rows for {} acknowledged",
        acked.len()
    );
    let changes = changes.await.unwrap();
    assert!(changes.len() > 10, "the changes ran: {}", changes.len());
    for (path, i) in &changes {
        let found: i64 = match *path {
            "tokens" => conn.query_row("SELECT COUNT(*) FROM client_tokens WHERE name = ?1", [format!("t{i}")], |r| r.get(0)),
            "accounts" => conn.query_row("SELECT COUNT(*) FROM accounts WHERE name = ?1", [format!("a{i}")], |r| r.get(0)),
            _ => conn.query_row(
                "SELECT COUNT(*) FROM settings WHERE key = 'usage_retention_days' AND CAST(value AS INTEGER) >= ?1",
                [100 + i],
                |r| r.get(0),
            ),
        }
        .unwrap();
        assert_eq!(found, 1, "acknowledged change {path} #{i} was lost");
    }
}

/// On a terminal (a pseudo-terminal from `script`), a generated secret is shown once.
#[test]
fn on_a_terminal_a_generated_token_is_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let command = format!(
        "timeout 5 {} serve --port 0 --data-dir {}",
        env!("CARGO_BIN_EXE_ondemand-proxy"),
        data.display()
    );
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Client token (generated now, shown once"),
        "{text}"
    );
    let stored = std::fs::read_to_string(data.join("client_token")).unwrap();
    assert!(
        text.contains(stored.trim()),
        "the stored token was shown: {text}"
    );
}

#[tokio::test]
async fn a_demo_account_from_the_dashboard_still_answers_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let token = "sk-try-the-demo-token-0123";
    let chat = |base: String| async move {
        let response = reqwest::Client::new()
            .post(format!("{base}/chat/completions"))
            .bearer_auth(token)
            .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "still here?"}]}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (status, body["choices"][0]["message"]["content"].clone())
    };
    let args = ["--port", "0", "--data-dir", data];
    let mut proxy = start(&args, &[("API_ACCESS_TOKEN", token)], dir.path());
    let base = proxy.base_url();
    let admin = std::fs::read_to_string(dir.path().join("data/admin_password")).unwrap();
    let added = reqwest::Client::new()
        .post(format!("{}/api/demo", base.trim_end_matches("/v1")))
        .bearer_auth(admin.trim())
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let (status, content) = chat(base).await;
    assert_eq!(status, 200, "{content}");
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");

    // No --demo: the stored demo account brings its simulated upstream back.
    let mut proxy = start(&args, &[("API_ACCESS_TOKEN", token)], dir.path());
    let (status, content) = chat(proxy.base_url()).await;
    assert_eq!(status, 200, "{content}");
    assert!(
        content.as_str().unwrap().starts_with("[Simulated answer"),
        "{content}"
    );
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
}

#[path = "common/proxies.rs"]
mod proxies;

/// The fake over HTTPS, taking any key, and its CA written to `dir/ca.pem`.
async fn tls_fake(dir: &std::path::Path) -> (fake_ondemand::FakeOnDemand, std::path::PathBuf) {
    let fake = fake_ondemand::FakeOnDemand::start_tls(fake_ondemand::FakeOptions {
        accept_any_key: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, fake.ca_pem().unwrap()).unwrap();
    (fake, ca)
}

#[tokio::test]
async fn the_environments_proxy_is_used_unless_a_proxy_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, ca) = tls_fake(dir.path()).await;
    let from_env = proxies::TestProxy::connect().await;
    let from_setting = proxies::TestProxy::connect().await;
    let token = "sk-proxy-env-test-token-0123";
    let base = fake.url();
    let ca = ca.to_str().unwrap().to_owned();
    let env_url = from_env.url("http", None);
    let envs = [
        ("API_ACCESS_TOKEN", token),
        (
            "ONDEMAND_ACCOUNTS",
            r#"[{"api_key": "k-env", "name": "env"}]"#,
        ),
        ("ONDEMAND_BASE_URL", base.as_str()),
        ("ONDEMAND_CA_FILE", ca.as_str()),
        ("HTTPS_PROXY", env_url.as_str()),
    ];
    let chat = |base: String| async move {
        reqwest::Client::new()
            .post(format!("{base}/chat/completions"))
            .bearer_auth(token)
            .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "via?"}]}))
            .send()
            .await
            .unwrap()
            .status()
    };
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let mut proxy = start(&["--port", "0", "--data-dir", data], &envs, dir.path());
    assert_eq!(chat(proxy.base_url()).await, 200);
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert!(!from_env.seen().is_empty(), "HTTPS_PROXY was honoured");

    let before = from_env.seen().len();
    let setting_url = from_setting.url("http", None);
    let args = [
        "--port",
        "0",
        "--data-dir",
        data,
        "--proxy",
        setting_url.as_str(),
    ];
    let mut proxy = start(&args, &envs, dir.path());
    assert_eq!(chat(proxy.base_url()).await, 200);
    let (exit, stderr, _) = proxy.terminate();
    assert!(exit.success(), "{stderr}");
    assert_eq!(
        from_env.seen().len(),
        before,
        "--proxy overrides HTTPS_PROXY"
    );
    assert!(!from_setting.seen().is_empty());
}

#[tokio::test]
async fn the_system_trust_store_is_the_one_ssl_cert_file_names() {
    // SSL_CERT_FILE replaces the system bundle: naming the fake's CA there is enough to trust
    // it, with no upstream_ca_file; naming an empty file leaves only the bundled web roots,
    // which do not know the fake's CA.
    let dir = tempfile::tempdir().unwrap();
    let (fake, ca) = tls_fake(dir.path()).await;
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let token = "sk-trust-store-test-token-01";
    let base = fake.url();
    let nowhere = dir.path().join("no-such-dir");
    for (bundle, trusted, trust) in [(&ca, true, "system"), (&empty, false, "bundled")] {
        let envs = [
            ("API_ACCESS_TOKEN", token),
            (
                "ONDEMAND_ACCOUNTS",
                r#"[{"api_key": "k-trust", "name": "trust"}]"#,
            ),
            ("ONDEMAND_BASE_URL", base.as_str()),
            ("SSL_CERT_FILE", bundle.to_str().unwrap()),
            ("SSL_CERT_DIR", nowhere.to_str().unwrap()),
        ];
        let data = dir.path().join(format!("data-{trust}"));
        let mut proxy = start(
            &["--port", "0", "--data-dir", data.to_str().unwrap()],
            &envs,
            dir.path(),
        );
        let base_url = proxy.base_url();
        let status = reqwest::Client::new()
            .post(format!("{base_url}/chat/completions"))
            .bearer_auth(token)
            .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "trust?"}]}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status == 200, trusted, "{bundle:?}: {status}");
        let (exit, stderr, _) = proxy.terminate();
        assert!(exit.success(), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "trust={}",
                if trust == "system" {
                    "System"
                } else {
                    "Bundled"
                }
            )),
            "{stderr}"
        );
    }
}
