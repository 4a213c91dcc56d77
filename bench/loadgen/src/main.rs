//! `loadgen`: a small HTTP load generator for the proxy benchmarks.
//!
//! - `--rate N`: open loop. Requests are sent on a fixed schedule whatever the answers do, and
//!   each latency is measured from its scheduled start, so a stall cannot hide itself
//!   (no coordinated omission).
//! - `--concurrency N`: closed loop. N workers each send requests back to back (the
//!   "N concurrent streams" scenario).
//!
//! Targets: `proxy` sends one OpenAI chat completion; `direct` sends the same work straight to
//! the fake upstream (create a session, then query it), which is what the proxy itself does,
//! so the difference between the two is the proxy's added latency.

#![allow(clippy::print_stdout, clippy::print_stderr)] // a command-line tool: its report is its output

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use tokio::sync::Mutex;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Target {
    Proxy,
    Direct,
}

/// The API dialect the proxy is asked in (the same prompt and model in each).
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Dialect {
    Chat,
    Messages,
    Responses,
    Completions,
}

impl Dialect {
    fn path(self) -> &'static str {
        match self {
            Self::Chat => "/v1/chat/completions",
            Self::Messages => "/v1/messages",
            Self::Responses => "/v1/responses",
            Self::Completions => "/v1/completions",
        }
    }

    /// The request body: one user turn to `model`, and `stream`.
    fn body(self, model: &str, stream: bool) -> serde_json::Value {
        match self {
            Self::Chat => {
                serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": PROMPT}]})
            }
            Self::Messages => {
                serde_json::json!({"model": model, "stream": stream, "max_tokens": 1024, "messages": [{"role": "user", "content": PROMPT}]})
            }
            // As Codex sends it: nothing stored.
            Self::Responses => {
                serde_json::json!({"model": model, "stream": stream, "input": PROMPT, "store": false})
            }
            Self::Completions => {
                serde_json::json!({"model": model, "stream": stream, "prompt": PROMPT})
            }
        }
    }

    /// What marks the first answer text in the dialect's stream.
    fn marker(self) -> &'static [u8] {
        match self {
            // Any gateway's first content chunk, however it spaces and orders its JSON.
            Self::Chat => b"Echo",
            Self::Messages => b"\"delta\":{\"text\":\"Echo",
            Self::Responses => b"\"delta\":\"Echo",
            Self::Completions => b"\"text\":\"Echo",
        }
    }
}

#[derive(Parser)]
struct Args {
    /// Base URL: the proxy's (`http://127.0.0.1:8787`) or the fake's.
    #[arg(long)]
    url: String,
    #[arg(long, value_enum)]
    target: Target,
    /// Bearer token (proxy) or apikey (direct).
    #[arg(long)]
    key: String,
    #[arg(long)]
    stream: bool,
    /// Requests per second (open loop).
    #[arg(long, conflicts_with = "concurrency")]
    rate: Option<u64>,
    /// Concurrent workers (closed loop).
    #[arg(long)]
    concurrency: Option<u64>,
    /// Seconds of measured load (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Proxy only: continue this many multi-turn conversations, like a chat UI (each request
    /// sends the history with the answers so far; a conversation restarts after 8 turns).
    #[arg(long, default_value_t = 0)]
    conversations: usize,
    /// Proxy only: offer this many tools with each request (the answers call none, so this
    /// measures what offering tools costs: the protocol in the query, the parser on the answer).
    #[arg(long, default_value_t = 0)]
    tools: usize,
    /// Proxy only: the API dialect to ask in.
    #[arg(long, value_enum, default_value = "chat")]
    dialect: Dialect,
    /// Proxy only: the model asked for (another gateway may name it its own way).
    #[arg(long, default_value = "gpt-4o")]
    model: String,
    /// Proxy only: one more header, `Name: value` (repeatable), e.g. another gateway's routing
    /// headers.
    #[arg(long = "header", value_name = "NAME: VALUE", value_parser = header)]
    headers: Vec<(String, String)>,
    /// Also report a process's CPU over the measured seconds, `name=pid` (repeatable): its
    /// cores in use and its CPU ms per request. Loadgen's own is always reported.
    #[arg(long = "cpu", value_name = "NAME=PID", value_parser = process)]
    cpu: Vec<(String, u32)>,
    /// A label for the report line.
    #[arg(long, default_value = "")]
    label: String,
    /// For an `https://` URL: the PEM file of the CA to trust (`fake-ondemand --tls --ca-out`).
    /// Each worker then speaks HTTP/1.1 over its own TLS connection.
    #[arg(long, value_name = "PEM")]
    ca: Option<std::path::PathBuf>,
}

fn process(text: &str) -> Result<(String, u32), String> {
    let (name, pid) = text
        .split_once('=')
        .ok_or_else(|| format!("a process is `name=pid`, got {text:?}"))?;
    let pid = pid.parse().map_err(|_| format!("not a pid: {pid:?}"))?;
    Ok((name.to_owned(), pid))
}

/// A process's user + system CPU so far, in clock ticks (Linux's USER_HZ, 100 a second),
/// from `/proc/<pid>/stat`: the fields after the command name's closing parenthesis.
fn cpu_ticks(pid: Option<u32>) -> anyhow::Result<u64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |pid| format!("/proc/{pid}/stat"),
    );
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("no command name in stat")?
        .1
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15 of the whole line; 12 and 13 after the name.
    Ok(fields[11].parse::<u64>()? + fields[12].parse::<u64>()?)
}

const USER_HZ: f64 = 100.0;

fn header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("a header is `Name: value`, got {text:?}"))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

struct Shared {
    client: HttpClient,
    /// `Bearer <key>`.
    auth: String,
    /// The proxy request's body, built once (so building it is not measured).
    proxy_body: String,
    /// Conversation histories (`--conversations`), each used by one request at a time.
    conversations: Vec<Mutex<Vec<serde_json::Value>>>,
    next_conversation: AtomicU64,
    args: Args,
    latency: Mutex<Histogram<u64>>,
    first_byte: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

impl Shared {
    /// The proxy request's headers: the bearer key, and any `--header`.
    fn proxy_headers(&self) -> Vec<(&str, &str)> {
        std::iter::once(("authorization", self.auth.as_str()))
            .chain(
                self.args
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .collect()
    }
}

const PROMPT: &str = "Benchmark prompt: say something short about latency and throughput.";

async fn post(
    client: &HttpClient,
    url: String,
    headers: &[(&str, &str)],
    body: String,
) -> anyhow::Result<(u16, hyper::body::Incoming)> {
    let mut request = hyper::Request::post(url).header("content-type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    Ok((response.status().as_u16(), response.into_body()))
}

/// Reads a body to the end; returns when the first piece of answer text arrived: the first
/// data frame holding `marker`, or the first data at all when `marker` is empty (sync).
async fn drain(mut body: hyper::body::Incoming, marker: &[u8]) -> anyhow::Result<Option<Instant>> {
    let mut first = None;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        let hit = !data.is_empty()
            && (marker.is_empty() || data.windows(marker.len()).any(|w| w == marker));
        if hit && first.is_none() {
            first = Some(Instant::now());
        }
    }
    Ok(first)
}

/// What marks the first answer text in a stream: the upstream's `fulfillment` frame, or the
/// proxy's first non-empty text in the dialect asked. Sync bodies have no marker.
fn content_marker(target: Target, stream: bool, dialect: Dialect) -> &'static [u8] {
    match (stream, target) {
        (false, _) => b"",
        (true, Target::Direct) => b"\"eventType\": \"fulfillment\"",
        (true, Target::Proxy) => dialect.marker(),
    }
}

/// `n` tools as an agent offers them: a description and a schema of a few typed properties.
fn tools(n: usize) -> serde_json::Value {
    (0..n)
        .map(|i| {
            serde_json::json!({"type": "function", "function": {
                "name": format!("tool_{i}"),
                "description": format!("Tool number {i}: reads or changes something in the workspace, as coding agents' tools do."),
                "parameters": {"type": "object", "properties": {
                    "path": {"type": "string", "description": "A path relative to the workspace"},
                    "limit": {"type": "integer", "description": "Most lines to read"},
                    "recursive": {"type": "boolean"}
                }, "required": ["path"]}
            }})
        })
        .collect()
}

/// One unit of work; returns when its first answer text arrived.
async fn one(shared: &Shared) -> anyhow::Result<Instant> {
    let a = &shared.args;
    match a.target {
        Target::Proxy if !shared.conversations.is_empty() => {
            let n = shared.next_conversation.fetch_add(1, Ordering::Relaxed) as usize;
            let slot = n % shared.conversations.len();
            let Ok(mut history) = shared.conversations[slot].try_lock() else {
                bail!("conversation busy: raise --conversations");
            };
            if history.len() >= 16 {
                history.clear();
            }
            let turn = history.len() / 2 + 1;
            // Distinct content per conversation: identical histories share one key by design.
            history.push(serde_json::json!({"role": "user", "content": format!("{PROMPT} Conversation {slot}, turn {turn}.")}));
            let body = serde_json::json!({"model": a.model, "messages": *history});
            let (status, body) = post(
                &shared.client,
                format!("{}/v1/chat/completions", a.url),
                &shared.proxy_headers(),
                body.to_string(),
            )
            .await?;
            let bytes = body.collect().await?.to_bytes();
            let at = Instant::now();
            if status != 200 {
                history.pop();
                bail!("proxy answered {status}");
            }
            let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
            let content = answer["choices"][0]["message"]["content"]
                .as_str()
                .context("no content")?;
            history.push(serde_json::json!({"role": "assistant", "content": content}));
            Ok(at)
        }
        Target::Proxy => {
            let (status, body) = post(
                &shared.client,
                format!("{}{}", a.url, a.dialect.path()),
                &shared.proxy_headers(),
                shared.proxy_body.clone(),
            )
            .await?;
            let first = drain(body, content_marker(a.target, a.stream, a.dialect)).await?;
            if status != 200 {
                bail!("proxy answered {status}");
            }
            first.context("empty body")
        }
        Target::Direct => {
            let headers = [("apikey", a.key.as_str())];
            let (status, body) = post(
                &shared.client,
                format!("{}/chat/v1/sessions", a.url),
                &headers,
                r#"{"externalUserId":"bench","pluginIds":[]}"#.into(),
            )
            .await?;
            let bytes = body.collect().await?.to_bytes();
            if status != 201 {
                bail!("session create answered {status}");
            }
            let value: serde_json::Value = serde_json::from_slice(&bytes)?;
            let id = value["data"]["id"].as_str().context("no session id")?;
            let mode = if a.stream { "stream" } else { "sync" };
            let query = serde_json::json!({"query": PROMPT, "endpointId": "predefined-gpt-5.6-terra", "pluginIds": [], "responseMode": mode, "fulfillmentOnly": true});
            let (status, body) = post(
                &shared.client,
                format!("{}/chat/v1/sessions/{id}/query", a.url),
                &headers,
                query.to_string(),
            )
            .await?;
            let first = drain(body, content_marker(a.target, a.stream, a.dialect)).await?;
            if status != 200 {
                bail!("query answered {status}");
            }
            first.context("empty body")
        }
    }
}

async fn run_one(shared: Arc<Shared>, scheduled: Instant, measure: bool) {
    let now = shared.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::Relaxed);
    let result = one(&shared).await;
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
    match result {
        Ok(first) => {
            if measure {
                let done = Instant::now();
                let _ = shared
                    .latency
                    .lock()
                    .await
                    .record(done.duration_since(scheduled).as_micros() as u64);
                let _ = shared
                    .first_byte
                    .lock()
                    .await
                    .record(first.duration_since(scheduled).as_micros() as u64);
                shared.ok.fetch_add(1, Ordering::Relaxed);
            }
        }
        Err(e) => {
            if measure && shared.errors.fetch_add(1, Ordering::Relaxed) < 3 {
                eprintln!("request failed: {e:#}");
            }
        }
    }
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &args.ca {
        let pem = std::fs::read(path)?;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert?)?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(connector);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(4096)
        .build(connector);
    let duration = Duration::from_secs(args.duration);
    let warmup = Duration::from_secs(1);
    let mut proxy_body = args.dialect.body(&args.model, args.stream);
    if args.tools > 0 && args.dialect != Dialect::Chat {
        bail!("--tools is for --dialect chat");
    }
    if args.tools > 0 {
        proxy_body["tools"] = tools(args.tools);
    }
    let shared = Arc::new(Shared {
        client,
        auth: format!("Bearer {}", args.key),
        proxy_body: proxy_body.to_string(),
        latency: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
        first_byte: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3)?),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        in_flight: AtomicU64::new(0),
        max_in_flight: AtomicU64::new(0),
        conversations: (0..args.conversations)
            .map(|_| Mutex::new(Vec::new()))
            .collect(),
        next_conversation: AtomicU64::new(0),
        args,
    });
    let start = Instant::now();
    let end = start + warmup + duration;
    // CPU of each process named (and loadgen's own), sampled when the measured seconds begin
    // and when they end.
    let watched: Vec<(String, Option<u32>)> = std::iter::once(("loadgen".to_owned(), None))
        .chain(
            shared
                .args
                .cpu
                .iter()
                .map(|(name, pid)| (name.clone(), Some(*pid))),
        )
        .collect();
    let sampler = {
        let watched = watched.clone();
        tokio::spawn(async move {
            let sample = || -> anyhow::Result<Vec<u64>> {
                watched.iter().map(|(_, pid)| cpu_ticks(*pid)).collect()
            };
            tokio::time::sleep_until((start + warmup).into()).await;
            let before = sample()?;
            tokio::time::sleep_until(end.into()).await;
            let after = sample()?;
            anyhow::Ok(
                after
                    .iter()
                    .zip(before)
                    .map(|(a, b)| a - b)
                    .collect::<Vec<_>>(),
            )
        })
    };
    let mut tasks = tokio::task::JoinSet::new();
    match (shared.args.rate, shared.args.concurrency) {
        (Some(rate), _) => {
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            let mut n: u32 = 0;
            loop {
                let scheduled = start + interval * n;
                if scheduled >= end {
                    break;
                }
                tokio::time::sleep_until(scheduled.into()).await;
                let measure = scheduled >= start + warmup;
                tasks.spawn(run_one(shared.clone(), scheduled, measure));
                n += 1;
            }
        }
        (None, Some(workers)) => {
            for _ in 0..workers {
                let shared = shared.clone();
                tasks.spawn(async move {
                    loop {
                        let scheduled = Instant::now();
                        if scheduled >= end {
                            break;
                        }
                        run_one(shared.clone(), scheduled, scheduled >= start + warmup).await;
                    }
                });
            }
        }
        (None, None) => bail!("give --rate or --concurrency"),
    }
    while tasks.join_next().await.is_some() {}
    let ticks = sampler.await??;
    let elapsed = duration.as_secs_f64();
    let latency = shared.latency.lock().await;
    let first = shared.first_byte.lock().await;
    let ok = shared.ok.load(Ordering::Relaxed);
    let errors = shared.errors.load(Ordering::Relaxed);
    let cpu: serde_json::Map<String, serde_json::Value> = watched
        .iter()
        .zip(ticks)
        .map(|((name, _), ticks)| {
            let seconds = ticks as f64 / USER_HZ;
            (
                name.clone(),
                serde_json::json!({
                    "cores": seconds / elapsed,
                    "ms_per_request": if ok > 0 { seconds * 1000.0 / ok as f64 } else { 0.0 },
                }),
            )
        })
        .collect();
    let report = serde_json::json!({
        "label": shared.args.label, "ok": ok, "errors": errors, "rps": ok as f64 / elapsed,
        "p50_ms": ms(&latency, 0.5), "p90_ms": ms(&latency, 0.9), "p99_ms": ms(&latency, 0.99), "max_ms": latency.max() as f64 / 1000.0,
        "ttft_p50_ms": ms(&first, 0.5), "ttft_p99_ms": ms(&first, 0.99),
        "max_in_flight": shared.max_in_flight.load(Ordering::Relaxed),
        "cpu": cpu,
    });
    println!("{report}");
    Ok(())
}
