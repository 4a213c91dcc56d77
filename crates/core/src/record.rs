//! One request's record: what it asked, how it went, and its usage row, written when the
//! record is dropped, however the request ended (answered, refused, failed upstream, broken
//! mid-stream, or abandoned by its client). The engine and its stream fill it in; the HTTP
//! layer only creates it and, for refusals, says with what status it answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use crate::client_tokens::ClientToken;
use crate::store::live::LiveFeed;
use crate::store::usage::{FailedAttempt, UsageEvent};
use crate::store::writer::UsageSink;
use crate::telemetry::Telemetry;
use crate::upstream::error::UpstreamError;
use crate::usage::TokenUsage;

pub struct RequestRecord {
    /// `None` when `record_usage` is off: nothing about the request is stored.
    sink: Option<UsageSink>,
    /// The client token, whose quotas count the request.
    token: Arc<ClientToken>,
    /// The dashboard's live feed, for what the usage writer will not publish.
    live: Arc<LiveFeed>,
    /// Where `/metrics` counts the request (`None`: the `metrics` setting is off).
    telemetry: Option<Arc<Telemetry>>,
    /// The upstream attempts so far, with the trail of those that failed.
    pub attempts: Attempts,
    /// The row being filled in.
    pub event: UsageEvent,
    started: Instant,
    /// A reservation of the token's request quota is held.
    reserved: bool,
    /// A slot under the token's concurrency cap is held.
    entered: bool,
    /// Prompt tokens reserved of the token's token quota.
    reserved_tokens: u64,
}

impl std::fmt::Debug for RequestRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRecord")
            .field("event", &self.event)
            .finish_non_exhaustive()
    }
}

impl RequestRecord {
    /// What the request asked of the answer: the tools it offered, the format.
    pub fn asked(&mut self, plan: &crate::chat::ChatPlan) {
        self.event.tools = plan.tools.as_ref().map_or(0, |t| t.tools.len() as u32);
        self.event.response_format = plan.format.as_ref().map(|f| f.name().to_owned());
    }

    /// Admits the request against its token's request quota ([`ClientToken::reserve`]) and
    /// its concurrency cap ([`ClientToken::enter`]: a share of `upstream_cap` while other
    /// tokens exist, when `shared`); both end when the record is dropped.
    pub fn reserve(
        &mut self,
        upstream_cap: u32,
        shared: bool,
    ) -> Result<(), crate::client_tokens::Refusal> {
        self.entered = self.token.enter(upstream_cap, shared)?;
        self.reserved = self.token.reserve()?;
        Ok(())
    }

    /// Admits the planned request against its token's token quota: the tokens of the
    /// `query` it sends upstream are reserved, or a prompt larger than what is left is
    /// refused. Settled when the record is dropped. Counts nothing for a token without one.
    pub fn reserve_tokens(&mut self, query: &str) -> Result<(), crate::client_tokens::Refusal> {
        if self.token.limits.quota_tokens.is_some() {
            let prompt = crate::usage::count_tokens(query);
            self.reserved_tokens += self.token.reserve_tokens(prompt)?;
        }
        Ok(())
    }

    /// Adds a line to the row's notes (what the proxy changed or saw about the request).
    pub fn note(&mut self, line: &str) {
        match &mut self.event.notes {
            Some(notes) => {
                notes.push('\n');
                notes.push_str(line);
            }
            None => self.event.notes = Some(line.to_owned()),
        }
    }

    /// A record for one request of `token`; `sink` is `None` when usage is not recorded, and
    /// `telemetry` when `/metrics` is off, as the settings say.
    pub fn new(
        sink: Option<UsageSink>,
        live: Arc<LiveFeed>,
        telemetry: Option<Arc<Telemetry>>,
        token: Arc<ClientToken>,
    ) -> Self {
        Self {
            sink,
            live,
            telemetry,
            event: UsageEvent {
                ts: crate::clock::now_ms(),
                client_token: token.name.clone(),
                // Overwritten on every path that finishes; a panic leaves this behind.
                status: 500,
                error_class: Some("internal_error".into()),
                dialect: "chat".into(),
                client: "other".into(),
                ..UsageEvent::default()
            },
            started: Instant::now(),
            attempts: Attempts::default(),
            reserved: false,
            entered: false,
            reserved_tokens: 0,
            token,
        }
    }

    pub fn token(&self) -> &Arc<ClientToken> {
        &self.token
    }

    /// The request was answered with an error before or instead of upstream work.
    pub fn refused(&mut self, status: u16, code: Option<String>) {
        self.event.status = status;
        self.event.error_class = code;
    }

    /// The upstream answered on `account` after `attempts` attempts.
    pub(crate) fn answered_by(&mut self, account: &str, attempts: u32, reused: bool) {
        let e = &mut self.event;
        e.status = 200;
        e.error_class = None;
        e.account = Some(account.to_owned());
        e.attempts = attempts;
        e.session_reused = reused;
    }

    /// A stream's first content arrived now: until it ends one way or the other, a drop
    /// means the client went away.
    pub(crate) fn stream_began(&mut self) {
        self.event.ttft_ms = Some(self.started.elapsed().as_millis() as u32);
        self.event.error_class = Some(crate::store::usage::CLIENT_LEFT.into());
    }

    /// What became of the request's images: described now, or found in the cache.
    pub(crate) fn images(&mut self, plan: &crate::chat::ChatPlan) {
        if let Some(images) = &plan.images {
            let tally = images.tally();
            self.event.images_described = tally.described;
            self.event.images_cached = tally.cached;
            self.event.images_uploaded = tally.uploads;
        }
    }

    pub(crate) fn count(&mut self, usage: &TokenUsage) {
        self.event.input_tokens = usage.prompt_tokens;
        self.event.output_tokens = usage.completion_tokens;
        self.event.tokens_estimated = usage.estimated;
    }
}

impl Drop for RequestRecord {
    fn drop(&mut self) {
        let e = &mut self.event;
        let took = self.started.elapsed();
        e.latency_ms = took.as_millis() as u32;
        e.failed_attempts = self.attempts.take_failed();
        if let Some(telemetry) = &self.telemetry {
            telemetry.finished(e, took, self.attempts.upstream_time());
        }
        // Refusals (before any upstream work) can come by the hundred thousand: the first of
        // each kind a minute is logged, the rest summarised.
        let logged = !e.refused()
            || crate::quiet::REFUSALS.first(
                e.error_class.as_deref().unwrap_or("refused"),
                Instant::now(),
            );
        if logged {
            tracing::info!(
            model = %e.model, stream = e.stream, status = e.status, error = e.error_class.as_deref().unwrap_or(""),
            account = e.account.as_deref().unwrap_or(""), attempts = e.attempts, reused = e.session_reused,
            prompt_tokens = e.input_tokens, completion_tokens = e.output_tokens, estimated = e.tokens_estimated,
            ms = e.latency_ms, "request"
            );
        }
        self.token.record_use(
            e.counts_as_request(),
            e.input_tokens.saturating_add(e.output_tokens),
            e.ts + i64::from(e.latency_ms),
        );
        // Counted first, then released: used plus reserved never dips below the truth.
        if self.reserved {
            self.token.release();
        }
        self.token.release_tokens(self.reserved_tokens);
        if self.entered {
            self.token.leave();
        }
        // The writer shows a row live once it is committed; what is not stored shows now.
        match &self.sink {
            Some(sink) => {
                if let Err(event) = sink.record(std::mem::take(e)) {
                    self.live.publish(&event);
                }
            }
            None => self.live.publish(e),
        }
    }
}
/// The client family a request came from, for the dashboard: read from its user agent (and
/// the `X-Title` / `HTTP-Referer` that Cline and Roo Code send, as they use the OpenAI SDK).
pub fn client_family(user_agent: &str, title: &str) -> &'static str {
    let title = title.to_ascii_lowercase();
    if title.contains("roo") {
        return "roo_code";
    }
    if title.contains("cline") {
        return "cline";
    }
    let agent = user_agent.to_ascii_lowercase();
    let families: [(&str, &'static str); 8] = [
        ("claude-cli/", "claude_code"),
        ("claude-code", "claude_code"),
        ("codex_", "codex"),
        ("cherrystudio", "cherry_studio"),
        ("anthropic/", "anthropic_sdk"),
        ("openai/", "openai_sdk"),
        ("curl/", "curl"),
        ("codex/", "codex"),
    ];
    families
        .iter()
        .find(|(mark, _)| agent.contains(mark))
        .map_or("other", |(_, family)| family)
}

#[cfg(test)]
mod tests {
    use super::client_family;

    #[test]
    fn clients_are_told_apart_by_what_they_send() {
        for (agent, title, family) in [
            ("claude-cli/2.1.328 (external, sdk-cli)", "", "claude_code"),
            ("codex_exec/0.169.0 (Debian 12; x86_64) xterm", "", "codex"),
            ("codex_cli_rs/0.169.0", "", "codex"),
            (
                "Mozilla/5.0 CherryStudio/1.5.3 Chrome/134",
                "",
                "cherry_studio",
            ),
            ("Anthropic/Python 2.14.0", "", "anthropic_sdk"),
            ("Anthropic/JS 1.14.0", "", "anthropic_sdk"),
            ("OpenAI/Python 3.57.0", "", "openai_sdk"),
            ("OpenAI/JS 7.57.0", "Cline", "cline"),
            ("OpenAI/JS 7.57.0", "Roo Code", "roo_code"),
            ("curl/8.14.1", "", "curl"),
            ("python-requests/2.32", "", "other"),
            ("", "", "other"),
        ] {
            assert_eq!(client_family(agent, title), family, "{agent} / {title}");
        }
    }
}

/// One request's attempts: how many were made, and the trail of those that failed (for
/// its usage row), kept in its record so a timeout or failure can still report them.
#[derive(Debug, Default)]
pub struct Attempts {
    count: AtomicU32,
    failed: std::sync::Mutex<Vec<FailedAttempt>>,
    /// Time spent waiting on the upstream, in microseconds: attempts, and a stream's reads.
    upstream_us: std::sync::atomic::AtomicU64,
}

impl Attempts {
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// Counts one more attempt; gives its number (the first is 1).
    pub(crate) fn begin(&self) -> u32 {
        self.count.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// `call` (a wait on the upstream), adding the time it takes to the upstream's.
    ///
    /// A combinator rather than an `async fn`: an `async fn` keeps its argument beside the
    /// copy it awaits, which doubled the size of every upstream call in flight (3 KiB of
    /// each waiting stream's 9).
    pub(crate) fn upstream<'a, F: Future + 'a>(
        &'a self,
        call: F,
    ) -> impl Future<Output = F::Output> + 'a {
        use futures_util::FutureExt;
        let began = std::time::Instant::now();
        call.inspect(move |_| {
            let us = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.upstream_us.fetch_add(us, Ordering::Relaxed);
        })
    }

    /// The time spent waiting on the upstream so far.
    pub fn upstream_time(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.upstream_us.load(Ordering::Relaxed))
    }

    pub(crate) fn failed(&self, account: &str, error: &UpstreamError) {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(FailedAttempt {
                account: account.to_owned(),
                status: error.status(),
                code: error.code().map(|c| c.chars().take(64).collect()),
                // The upstream's words are kept short: they are stored with every row.
                message: error.to_string().chars().take(500).collect(),
            });
    }

    /// The failed attempts, in order.
    pub fn take_failed(&self) -> Vec<FailedAttempt> {
        std::mem::take(&mut *self.failed.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
