//! Operational metrics for Prometheus (`GET /metrics`): what the proxy did, how long the
//! upstream and the proxy itself took, and how its pool, usage writer and process are.
//!
//! Counted where they happen, in one registry per engine (tests run many servers in one
//! process): each finished request once, from its record; pool waits and failovers in the
//! failover loop. What is a state rather than an event (accounts by state, the usage queue,
//! the process's memory) is read when scraped ([`Scrape`]).
//!
//! Labels are bounded: a model is named only once it resolved to an endpoint (otherwise
//! `unresolved`), outcomes are the proxy's own error codes, dialects and blames are fixed
//! sets. A client cannot grow the series by sending made-up names.

use std::borrow::Cow;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::store::usage::UsageEvent;

/// The media type of [`Telemetry::render`]'s text (OpenMetrics, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Label = Cow<'static, str>;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: Label,
    dialect: Label,
    model: Label,
    stream: bool,
    outcome: Label,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    dialect: Label,
    stream: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DialectLabel {
    dialect: Label,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TokenLabels {
    model: Label,
    kind: Label,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BlameLabel {
    blame: Label,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: Label,
}

/// Histograms of seconds with doubling buckets from `start`.
#[derive(Debug, Clone, Copy)]
struct Buckets {
    start: f64,
    count: u16,
}

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(exponential_buckets(self.start, 2.0, self.count))
    }
}

type Timings<L = KindLabels> = Family<L, Histogram, Buckets>;

fn timings<L: Clone + Eq + std::hash::Hash>(start: f64, count: u16) -> Timings<L> {
    Family::new_with_constructor(Buckets { start, count })
}

/// The counters and histograms, shared by every request of one engine.
pub struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Timings,
    upstream: Timings,
    overhead: Timings,
    first_token: Timings<DialectLabel>,
    tokens: Family<TokenLabels, Counter>,
    pool_waits: Counter,
    pool_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    failovers: Family<BlameLabel, Counter>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry").finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

/// The route a dialect is served on.
fn route(dialect: &str) -> &'static str {
    match dialect {
        "messages" => "/v1/messages",
        "responses" => "/v1/responses",
        "completions" => "/v1/completions",
        _ => "/v1/chat/completions",
    }
}

/// A dialect's name as a label: one of the four, anything else `other`.
fn dialect(name: &str) -> Label {
    match name {
        "chat" => Cow::Borrowed("chat"),
        "messages" => Cow::Borrowed("messages"),
        "responses" => Cow::Borrowed("responses"),
        "completions" => Cow::Borrowed("completions"),
        _ => Cow::Borrowed("other"),
    }
}

impl Telemetry {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("ondemand_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests finished, by route, dialect, model (the alias or endpoint it resolved to, or unresolved), stream and outcome (ok, or the error code)",
            requests.clone(),
        );
        // 1 ms to about 9 minutes.
        let duration = timings(0.001, 20);
        registry.register_with_unit(
            "request_duration",
            "Time from a request's arrival to its end (a stream's last frame)",
            Unit::Seconds,
            duration.clone(),
        );
        let upstream = timings(0.001, 20);
        registry.register_with_unit(
            "upstream_duration",
            "Time spent waiting on on-demand.io for a request, over all its attempts",
            Unit::Seconds,
            upstream.clone(),
        );
        // 50 µs to about 3 s: the proxy's own share is small, and should stay so.
        let overhead = timings(0.000_05, 17);
        registry.register_with_unit(
            "overhead",
            "Proxy overhead: a request's time less its upstream time",
            Unit::Seconds,
            overhead.clone(),
        );
        let first_token = timings(0.005, 16);
        registry.register_with_unit(
            "time_to_first_token",
            "Time from a stream's arrival to its first content",
            Unit::Seconds,
            first_token.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Tokens counted, by model and kind (input or output)",
            tokens.clone(),
        );
        let pool_waits = Counter::default();
        registry.register(
            "pool_waits",
            "Times a request waited for an account to come free",
            pool_waits.clone(),
        );
        let pool_wait_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register_with_unit(
            "pool_wait",
            "Time requests spent waiting for an account",
            Unit::Seconds,
            pool_wait_seconds.clone(),
        );
        let failovers = Family::<BlameLabel, Counter>::default();
        registry.register(
            "failovers",
            "Failed upstream attempts after which the request went on to another attempt, by blame",
            failovers.clone(),
        );
        Self {
            registry,
            requests,
            duration,
            upstream,
            overhead,
            first_token,
            tokens,
            pool_waits,
            pool_wait_seconds,
            failovers,
        }
    }

    /// Counts one finished request from its usage row, with its time (`total`, finer than
    /// the row's milliseconds) and the part of it spent waiting on the upstream.
    pub fn finished(&self, event: &UsageEvent, total: Duration, upstream: Duration) {
        let dialect = dialect(&event.dialect);
        let model: Label = Cow::Owned(event.counted_model().to_owned());
        let outcome: Label = match (&event.error_class, event.status) {
            (None, 200..=299) => Cow::Borrowed("ok"),
            (Some(code), _) => Cow::Owned(code.chars().take(64).collect()),
            (None, _) => Cow::Borrowed("error"),
        };
        self.requests
            .get_or_create(&RequestLabels {
                route: Cow::Borrowed(route(&event.dialect)),
                dialect: dialect.clone(),
                model: model.clone(),
                stream: event.stream,
                outcome,
            })
            .inc();
        let kind = KindLabels {
            dialect: dialect.clone(),
            stream: event.stream,
        };
        self.duration
            .get_or_create(&kind)
            .observe(total.as_secs_f64());
        // Requests refused before any upstream work tell nothing about either share.
        if !upstream.is_zero() {
            self.upstream
                .get_or_create(&kind)
                .observe(upstream.as_secs_f64());
            self.overhead
                .get_or_create(&kind)
                .observe(total.saturating_sub(upstream).as_secs_f64());
        }
        if let Some(ttft) = event.ttft_ms {
            self.first_token
                .get_or_create(&DialectLabel { dialect })
                .observe(f64::from(ttft) / 1000.0);
        }
        if event.input_tokens + event.output_tokens > 0 {
            for (kind, n) in [
                ("input", event.input_tokens),
                ("output", event.output_tokens),
            ] {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: model.clone(),
                        kind: Cow::Borrowed(kind),
                    })
                    .inc_by(n);
            }
        }
    }

    /// A request waited `waited` for an account to come free.
    pub fn pool_waited(&self, waited: Duration) {
        self.pool_waits.inc();
        self.pool_wait_seconds.inc_by(waited.as_secs_f64());
    }

    /// An attempt failed with this blame and the request went on to another.
    pub fn failed_over(&self, blame: &'static str) {
        self.failovers
            .get_or_create(&BlameLabel {
                blame: Cow::Borrowed(blame),
            })
            .inc();
    }

    /// The exposition: everything counted so far, then what `scrape` read now.
    pub fn render(&self, scrape: &Scrape) -> String {
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail.
        let _ = text::encode_registry(&mut out, &self.registry);
        let _ = text::encode(&mut out, &scrape.registry());
        out
    }
}

/// What is read when scraped rather than counted as it happens.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Accounts by state name (`healthy`, `cooling_down`, …), every state named.
    pub accounts: Vec<(&'static str, i64)>,
    /// Requests holding an account now.
    pub in_flight: i64,
    /// Usage rows waiting for the writer.
    pub usage_queued: i64,
    /// Usage rows dropped because the writer's queue was full, since start.
    pub usage_dropped: u64,
}

impl Scrape {
    fn registry(&self) -> Registry {
        let gauge = |value: i64| {
            let g = Gauge::<i64>::default();
            g.set(value);
            g
        };
        let mut root = Registry::default();
        {
            let proxy = root.sub_registry_with_prefix("ondemand_proxy");
            let accounts = Family::<StateLabel, Gauge>::default();
            for (state, n) in &self.accounts {
                accounts
                    .get_or_create(&StateLabel {
                        state: Cow::Borrowed(state),
                    })
                    .set(*n);
            }
            proxy.register("accounts", "Accounts by state", accounts);
            proxy.register(
                "in_flight",
                "Requests holding an account now",
                gauge(self.in_flight),
            );
            proxy.register(
                "usage_queue_depth",
                "Usage rows waiting to be written to the database",
                gauge(self.usage_queued),
            );
            let dropped = Counter::<u64>::default();
            dropped.inc_by(self.usage_dropped);
            proxy.register(
                "usage_dropped",
                "Usage rows dropped because the writer fell behind",
                dropped,
            );
        }
        // The names every exporter uses for these, so stock dashboards find them.
        if let Some(rss) = process_rss() {
            root.register_with_unit(
                "process_resident_memory",
                "Resident memory of this process",
                Unit::Bytes,
                gauge(rss),
            );
        }
        if let Some(fds) = open_fds() {
            root.register("process_open_fds", "Open file descriptors", gauge(fds));
        }
        root
    }
}

/// Resident memory in bytes, from `/proc/self/status` (Linux; `None` elsewhere).
fn process_rss() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: i64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Open file descriptors, from `/proc/self/fd` (Linux; `None` elsewhere).
fn open_fds() -> Option<i64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(dialect: &str, model: &str, resolved: bool, error: Option<&str>) -> UsageEvent {
        UsageEvent {
            dialect: dialect.into(),
            model: model.into(),
            model_label: resolved.then(|| model.into()),
            endpoint_id: resolved.then(|| "predefined-x".into()),
            status: if error.is_some() { 502 } else { 200 },
            error_class: error.map(Into::into),
            stream: true,
            latency_ms: 250,
            ttft_ms: Some(40),
            input_tokens: 12,
            output_tokens: 30,
            ..UsageEvent::default()
        }
    }

    /// The value of the one series named exactly `series` (labels included).
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    #[test]
    fn a_request_is_counted_with_bounded_labels_and_its_overhead() {
        let t = Telemetry::new();
        t.finished(
            &event("messages", "claude", true, None),
            Duration::from_millis(250),
            Duration::from_millis(200),
        );
        t.finished(
            &event("chat", "made-up-name", false, Some("model_not_found")),
            Duration::from_micros(300),
            Duration::ZERO,
        );
        t.failed_over("account_rate_limited");
        t.pool_waited(Duration::from_millis(1500));
        let text = t.render(&Scrape {
            accounts: vec![("healthy", 2), ("cooling_down", 1)],
            usage_dropped: 3,
            ..Scrape::default()
        });
        assert!(text.ends_with("# EOF\n"), "{text}");
        let expect = |series: &str, wanted: f64| {
            assert_eq!(value(&text, series), Some(wanted), "{series} in:\n{text}");
        };
        expect(
            r#"ondemand_proxy_requests_total{route="/v1/messages",dialect="messages",model="claude",stream="true",outcome="ok"}"#,
            1.0,
        );
        // A model that never resolved is not a label of its own.
        assert!(!text.contains("made-up-name"), "{text}");
        expect(
            r#"ondemand_proxy_requests_total{route="/v1/chat/completions",dialect="chat",model="unresolved",stream="true",outcome="model_not_found"}"#,
            1.0,
        );
        // 250 ms in all, 200 upstream: 50 ms overhead, in the 51.2 ms bucket and not below.
        let overhead = r#"ondemand_proxy_overhead_seconds"#;
        expect(
            &format!(r#"{overhead}_sum{{dialect="messages",stream="true"}}"#),
            0.05,
        );
        expect(
            &format!(r#"{overhead}_bucket{{le="0.0512",dialect="messages",stream="true"}}"#),
            1.0,
        );
        expect(
            &format!(r#"{overhead}_bucket{{le="0.0256",dialect="messages",stream="true"}}"#),
            0.0,
        );
        // A refusal before any upstream work has no upstream time and no overhead.
        assert!(
            !text.contains(r#"ondemand_proxy_upstream_duration_seconds_count{dialect="chat""#),
            "{text}"
        );
        expect(
            r#"ondemand_proxy_time_to_first_token_seconds_count{dialect="messages"}"#,
            1.0,
        );
        expect(
            r#"ondemand_proxy_tokens_total{model="claude",kind="output"}"#,
            30.0,
        );
        expect(
            r#"ondemand_proxy_failovers_total{blame="account_rate_limited"}"#,
            1.0,
        );
        expect("ondemand_proxy_pool_waits_total", 1.0);
        expect("ondemand_proxy_pool_wait_seconds_total", 1.5);
        expect(r#"ondemand_proxy_accounts{state="cooling_down"}"#, 1.0);
        expect("ondemand_proxy_usage_dropped_total", 3.0);
        let rss = value(&text, "process_resident_memory_bytes").unwrap_or_default();
        assert!(rss > 1e6, "{text}");
        let fds = value(&text, "process_open_fds").unwrap_or_default();
        assert!(fds >= 3.0, "{text}");
    }
}
