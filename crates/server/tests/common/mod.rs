//! Test harness: the real server on 127.0.0.1:0 in front of its own fake upstream on another
//! port-0 listener, with a temporary data directory. One harness per test, so tests run in
//! parallel.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod proxies;

use std::time::Duration;

use fake_ondemand::{FakeOnDemand, FakeOptions};
use ondemand_core::Secret;
use ondemand_core::config::{AccountConfig, AccountOptions, Config, Settings};
use ondemand_core::store::usage::UsageEvent;
use ondemand_core::store::writer::UsageWriter;
use ondemand_proxy::{AppState, bootstrap, serve};
use serde_json::Value;
use tokio::sync::oneshot;

pub const TOKEN: &str = "sk-test-client-token-0123456789";
pub const ADMIN: &str = "admin-password-for-tests-0123";

pub struct Harness {
    pub fake: FakeOnDemand,
    /// `http://127.0.0.1:PORT` of the proxy.
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    writer: Option<UsageWriter>,
    /// The data directory (database, token); `None` only after [`Harness::stop`].
    data: Option<tempfile::TempDir>,
    /// What the server was started with, for [`Harness::restart`].
    pub config: Config,
    /// The TLS fake's CA (PEM), removed with the harness.
    pub ca: Option<tempfile::TempPath>,
}

/// Fast settings for tests: no waits between retries, short timeouts, no rate limit.
pub fn test_settings(fake: &FakeOnDemand) -> Settings {
    Settings {
        base_url: fake.url(),
        auth_base_url: fake.url(),
        client_base_url: fake.url(),
        retry_delay: Duration::ZERO,
        request_timeout: Duration::from_secs(10),
        stream_timeout: Duration::from_secs(10),
        stream_idle_timeout: Duration::from_secs(10),
        // Tests send bursts; the rate-limit tests set their own.
        rate_limit: 0,
        ..Settings::default()
    }
}

pub fn key_account(key: &str) -> AccountConfig {
    AccountConfig::ApiKey {
        name: key.to_owned(),
        api_key: Secret::new(key),
        options: AccountOptions::default(),
    }
}

pub fn password_account(email: &str, password: &str) -> AccountConfig {
    AccountConfig::Password {
        name: email.to_owned(),
        email: email.to_owned(),
        password: Secret::new(password),
        options: AccountOptions::default(),
    }
}

impl Harness {
    /// A proxy with one API-key account per key, each known to the fake.
    pub async fn with_keys(keys: &[&str]) -> Self {
        Self::build(
            FakeOptions::default(),
            keys.iter().map(|k| key_account(k)).collect(),
            |_| {},
        )
        .await
    }

    pub async fn build(
        options: FakeOptions,
        accounts: Vec<AccountConfig>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let fake = FakeOnDemand::start(options).await.unwrap();
        Self::build_on(fake, accounts, tweak).await
    }

    /// As [`Harness::build`], with the fake serving HTTPS (HTTP/2 by ALPN) and the proxy
    /// trusting its CA through `upstream_ca_file` (in the fake's own temporary directory).
    pub async fn build_tls(
        options: FakeOptions,
        accounts: Vec<AccountConfig>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let fake = FakeOnDemand::start_tls(options).await.unwrap();
        let ca = tempfile::Builder::new().suffix(".pem").tempfile().unwrap();
        std::fs::write(ca.path(), fake.ca_pem().unwrap()).unwrap();
        let ca = ca.into_temp_path();
        let path = ca.display().to_string();
        let mut h = Self::build_on(fake, accounts, |settings| {
            settings.upstream_ca_file = path;
            tweak(settings);
        })
        .await;
        h.ca = Some(ca);
        h
    }

    async fn build_on(
        fake: FakeOnDemand,
        accounts: Vec<AccountConfig>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        for account in &accounts {
            match account {
                AccountConfig::ApiKey { api_key, .. } => fake.add_key(api_key.expose()),
                AccountConfig::Password {
                    email, password, ..
                } => fake.add_user(email, password.expose()),
            }
        }
        let mut settings = test_settings(&fake);
        tweak(&mut settings);
        let data = tempfile::tempdir().unwrap();
        let config = Config {
            api_access_token: Some(Secret::new(TOKEN)),
            admin_password: Some(Secret::new(ADMIN)),
            metrics_token: None,
            accounts,
            host: [127, 0, 0, 1].into(),
            port: 0,
            data_dir: Some(data.path().to_owned()),
            settings,
            pinned: Default::default(),
            file: None,
            unknown_keys: vec![],
            file_repaired: None,
        };
        Self::serve(fake, config, data).await
    }

    /// Opens the data directory as the binary does and serves it, once the first read of
    /// the endpoint catalogue has ended (so every test starts from the same catalogue), with
    /// the fake's record cleared.
    pub async fn serve(fake: FakeOnDemand, config: Config, data: tempfile::TempDir) -> Self {
        let (state, base, shutdown, task, writer) = start(&config, data.path()).await;
        fake.clear_requests();
        Self {
            fake,
            base,
            http: reqwest::Client::new(),
            state,
            shutdown: Some(shutdown),
            task: Some(task),
            writer: Some(writer),
            data: Some(data),
            config,
            ca: None,
        }
    }

    /// A graceful stop and a new start on the same data directory and config (a new port).
    pub async fn restart(&mut self) {
        self.shutdown_server().await;
        let (state, base, shutdown, task, writer) =
            start(&self.config, self.data.as_ref().unwrap().path()).await;
        self.state = state;
        self.base = base;
        self.shutdown = Some(shutdown);
        self.task = Some(task);
        self.writer = Some(writer);
    }

    async fn shutdown_server(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
        if let Some(writer) = self.writer.take() {
            writer.close().await;
        }
    }

    /// An admin API call with the admin password: status and JSON body (`null` if none).
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.url(path)).bearer_auth(ADMIN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A new client token with these fields (a name and limits): its id and secret.
    pub async fn new_token(&self, fields: Value) -> (i64, String) {
        let (status, created) = self.admin("POST", "/api/tokens", Some(fields)).await;
        assert_eq!(status, 201, "{created}");
        (
            created["id"].as_i64().unwrap(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// A chat completion with the given client token.
    pub async fn chat_as(&self, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

type Started = (
    AppState,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    UsageWriter,
);

async fn start(config: &Config, data: &std::path::Path) -> Started {
    let opened = bootstrap::open(config, data).unwrap();
    let (state, writer) = (opened.state, opened.writer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    let server_state = state.clone();
    let task = tokio::spawn(async move {
        serve(listener, server_state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    wait_for_catalogue(&state).await;
    (state, base, tx, task, writer)
}

/// Waits until every API-key account's first catalogue read has ended, well or badly.
pub async fn wait_for_catalogue(state: &AppState) {
    let engine = state.engine();
    let wanted = engine.catalogue_accounts();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let read = engine.endpoints();
        let done = wanted.iter().all(|name| {
            read.accounts()
                .any(|(n, v)| n == name && (v.ok_ms.is_some() || v.error.is_some()))
        });
        if done || std::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST /v1/chat/completions with the client token; returns status and JSON body.
    pub async fn chat(&self, body: Value) -> (u16, Value) {
        self.chat_as(TOKEN, body).await
    }

    /// A streaming chat: status, the parsed `data:` events (`"[DONE]"` as a string), and
    /// the raw body. A request that failed before the stream began has a plain JSON error
    /// body, returned as the only event.
    pub async fn stream(&self, body: Value) -> (u16, Vec<Value>, String) {
        let (status, raw) = self.stream_raw("/v1/chat/completions", &body).await;
        let events = if status == 200 {
            parse_sse(&raw)
        } else {
            vec![serde_json::from_str(&raw).unwrap()]
        };
        (status, events, raw)
    }

    /// POSTs `body` with `stream: true` to `path` with the client token: status, raw body.
    pub async fn stream_raw(&self, path: &str, body: &Value) -> (u16, String) {
        let mut body = body.clone();
        body["stream"] = Value::Bool(true);
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Starts a stream, reads its first bytes, and hangs up, as a client that goes away does.
    pub async fn abandon_stream(&self, body: Value) {
        use futures_util::StreamExt;
        let response = self
            .http
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut stream = response.bytes_stream();
        let _first = stream.next().await.unwrap().unwrap();
    }

    /// Each account's state name (`healthy`, `cooling_down`, …) and reason, by name.
    pub fn account_states(
        &self,
    ) -> std::collections::HashMap<String, (&'static str, Option<String>)> {
        let now = std::time::Instant::now();
        self.state
            .engine()
            .routing
            .pool
            .accounts()
            .iter()
            .map(|a| {
                let status = a.status(now);
                (status.name, (status.state.as_str(), status.reason))
            })
            .collect()
    }

    /// The id of the account named `name`, from the admin API.
    pub async fn account_id(&self, name: &str) -> i64 {
        let (_, list) = self.admin("GET", "/api/accounts", None).await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    pub fn account_state(&self, name: &str) -> &'static str {
        self.account_states()[name].0
    }

    /// The credentials (API key or email) of the upstream calls to paths ending in `suffix`,
    /// in the order the fake received them.
    pub fn seen(&self, suffix: &str) -> Vec<String> {
        self.fake
            .requests_to(suffix)
            .into_iter()
            .map(|r| r.credential.unwrap_or_default())
            .collect()
    }

    /// The ids of the upstream sessions the proxy deleted, in order; polls until there are
    /// at least `n` (deletes run in the background after the answer).
    pub async fn deleted_sessions(&self, n: usize) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let deleted: Vec<String> = self
                .fake
                .requests()
                .into_iter()
                .filter(|r| r.method == "DELETE")
                .filter_map(|r| r.path.rsplit('/').next().map(str::to_owned))
                .collect();
            if deleted.len() >= n || std::time::Instant::now() > deadline {
                return deleted;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Every usage row so far, oldest first (waits for the writer to commit).
    pub async fn usage(&self) -> Vec<UsageEvent> {
        self.state.usage().flush().await;
        let conn = ondemand_core::store::open(&self.database()).unwrap();
        let mut rows = ondemand_core::store::usage::recent(&conn, 100_000).unwrap();
        rows.reverse();
        rows
    }

    /// Polls until `n` usage rows exist (stream rows land when the stream's body ends).
    pub async fn usage_rows(&self, n: usize) -> Vec<UsageEvent> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let rows = self.usage().await;
            if rows.len() >= n || std::time::Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn database(&self) -> std::path::PathBuf {
        self.data
            .as_ref()
            .unwrap()
            .path()
            .join(bootstrap::DATABASE_FILE)
    }

    /// Graceful stop: drains requests, then writes the usage queued. Returns the data
    /// directory, so the test can read what was left on disk.
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.shutdown_server().await;
        self.data.take().unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn parse_sse(raw: &str) -> Vec<Value> {
    raw.split("\n\n")
        .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|data| {
            if data == "[DONE]" {
                Value::String("[DONE]".into())
            } else {
                serde_json::from_str(data).unwrap()
            }
        })
        .collect()
}

/// The events of a stream whose events are named (Anthropic's and the Responses API's), as
/// `(name, data)`; each event's data names its own type too, as those APIs do.
pub fn named_events(raw: &str) -> Vec<(String, Value)> {
    raw.split("\n\n")
        .filter(|e| e.starts_with("event: "))
        .map(|e| {
            let name = e.lines().next().unwrap().strip_prefix("event: ").unwrap();
            let data = e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let data: Value = serde_json::from_str(data).unwrap();
            assert_eq!(data["type"], name, "each event's data names its event");
            (name.to_owned(), data)
        })
        .collect()
}

/// POSTs `body` (with `stream: true`) to `path` with the client token: the status, and the
/// stream's named events, or the error body as the only event when it did not begin.
pub async fn named_stream(h: &Harness, path: &str, body: &Value) -> (u16, Vec<(String, Value)>) {
    let (status, raw) = h.stream_raw(path, body).await;
    if status != 200 {
        return (
            status,
            vec![(String::new(), serde_json::from_str(&raw).unwrap())],
        );
    }
    (status, named_events(&raw))
}

/// The concatenated `delta.content` of a parsed stream.
pub fn streamed_content(events: &[Value]) -> String {
    events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect()
}

pub fn user(text: &str) -> Value {
    serde_json::json!({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})
}

/// A GET with an optional bearer credential: status and JSON body (`null` if none).
pub async fn get(h: &Harness, path: &str, bearer: Option<&str>) -> (u16, Value) {
    let mut request = h.http.get(h.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

pub fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A request the admin API must refuse: method, path, body, status, and the field named.
pub type Refusal<'a> = (&'a str, &'a str, Option<Value>, u16, Option<&'a str>);

/// Sends each `(method, path, body)` as the admin and asserts its refusal: the status, and
/// the field named when given.
pub async fn refuses(h: &Harness, cases: &[Refusal<'_>]) {
    for (method, path, body, status, param) in cases {
        refused(&h.admin(method, path, body.clone()).await, *status, *param);
    }
}

/// Asserts a 4xx with the envelope, naming `param` when given.
pub fn refused(answer: &(u16, Value), status: u16, param: Option<&str>) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert!(
        answer.1["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.1
    );
    if let Some(param) = param {
        assert_eq!(answer.1["error"]["param"], param, "{}", answer.1);
    }
}
