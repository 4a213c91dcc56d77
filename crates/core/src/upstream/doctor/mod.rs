//! `doctor`: the real on-demand.io, checked from a user's machine against the contract this
//! client implements (`ondemand-api.md`), in a report that is safe to share.
//!
//! For one account, in order: the connection (what *Test connection* shows), the catalogue,
//! a session, a one-word sync query, the same streamed, and the session's delete; with
//! `media`, a 1×1 PNG to the image agent and its delete. Six upstream calls without media.
//! Each step is compared with what the client expects: what it could not do is a failure,
//! and what differs but works (an unknown event type, a field the client can do without, an
//! envelope it had to guess) is a deviation, which the project needs to hear about even when
//! everything still works.
//!
//! The report holds no key, password, email, JWT, session or media id (names and ids are
//! hashed), and no text beyond the fixed probe words.

mod steps;
mod stream;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::Digest;

use super::{Caller, UpstreamClient};
use crate::config::Settings;

/// The contract the answers are compared with.
pub const CONTRACT: &str = "ondemand-api.md, 2026-10 (§3, §4, §14)";

/// What the probe asks: a one-word answer, the only text a report may carry.
pub const PROBE_QUERY: &str = "Reply with exactly one word: pong";

/// What to check, and for whom.
#[derive(Debug, Clone, Copy)]
pub struct Checkup<'a> {
    /// The account's name (only its hash goes into the report).
    pub name: &'a str,
    pub caller: Caller<'a>,
    /// The alias targets the client would send (for whether they are active).
    pub alias_targets: &'a [String],
    /// Include the media step.
    pub media: bool,
}

/// One account's report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DoctorReport)]
pub struct Report {
    /// This proxy's version.
    pub version: &'static str,
    /// `linux x86_64`, `windows x86_64`, …
    pub os: String,
    pub contract: &'static str,
    /// A hash of the account's name.
    pub account: String,
    /// `api_key` or `email_password`.
    pub kind: &'static str,
    pub steps: Vec<Step>,
}

/// One step: whether it did what the client needs, what differed, and what it measured.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = DoctorStep)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    /// Not run (an earlier step failed, or it does not apply): says why in `error`.
    pub skipped: bool,
    pub deviations: Vec<String>,
    #[schema(value_type = Object)]
    pub figures: BTreeMap<&'static str, Value>,
    pub error: Option<String>,
}

impl Step {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            ok: true,
            skipped: false,
            deviations: Vec::new(),
            figures: BTreeMap::new(),
            error: None,
        }
    }

    fn figure(&mut self, name: &'static str, value: impl Into<Value>) {
        self.figures.insert(name, value.into());
    }

    fn deviate(&mut self, what: impl Into<String>) {
        self.deviations.push(what.into());
    }

    fn fail(&mut self, why: impl Into<String>) {
        self.ok = false;
        self.error = Some(why.into());
    }

    fn skipped(name: &'static str, why: &str) -> Self {
        Self {
            skipped: true,
            error: Some(why.to_owned()),
            ..Self::new(name)
        }
    }
}

impl Report {
    /// 0: every step passed with no deviation; 1: deviations or failures; 2: on-demand.io
    /// could not be reached at all.
    pub fn exit_code(&self) -> u8 {
        match self.steps.first() {
            Some(first) if !first.ok => 2,
            _ if self.steps.iter().any(|s| !s.ok || !s.deviations.is_empty()) => 1,
            _ => 0,
        }
    }

    /// The report as text for a terminal or a bug report.
    pub fn text(&self) -> String {
        let mut out = format!(
            "OnDemand Proxy doctor {} · {} · compared with {}\naccount {} ({})\n",
            self.version, self.os, self.contract, self.account, self.kind
        );
        for step in &self.steps {
            let mark = match (step.skipped, step.ok, step.deviations.is_empty()) {
                (true, _, _) => "-",
                (_, false, _) => "✗",
                (_, true, false) => "!",
                (_, true, true) => "✓",
            };
            let figures: Vec<String> = step
                .figures
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => format!("{k}={s}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            out.push_str(&format!(
                "  {mark} {:<10} {}\n",
                step.name,
                figures.join(" ")
            ));
            if let Some(error) = &step.error {
                out.push_str(&format!("      {error}\n"));
            }
            for deviation in &step.deviations {
                out.push_str(&format!("      deviation: {deviation}\n"));
            }
        }
        let deviations: usize = self.steps.iter().map(|s| s.deviations.len()).sum();
        let failures = self.steps.iter().filter(|s| !s.ok).count();
        out.push_str(&format!(
            "{failures} failed, {deviations} deviations. The report holds no key, password, email, session or media id: paste it into a bug report as it is.\n"
        ));
        out
    }
}

/// A short, stable stand-in for a name or id: the first 12 hex digits of its SHA-256.
pub fn hashed(text: &str) -> String {
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Told of each step as it ends, with the account's hash (for a dashboard that shows the
/// steps as they run).
pub type Progress<'a> = &'a (dyn Fn(&str, &Step) + Sync);

/// The steps of a report, each told as it is added.
struct Steps<'a> {
    account: String,
    steps: Vec<Step>,
    progress: Progress<'a>,
}

impl Steps<'_> {
    fn add(&mut self, step: Step) {
        (self.progress)(&self.account, &step);
        self.steps.push(step);
    }
}

impl UpstreamClient {
    /// Runs the checkup for one account, telling `progress` of each step as it ends. Never
    /// on the request path: only when asked.
    pub async fn doctor(
        &self,
        checkup: Checkup<'_>,
        settings: &Settings,
        progress: Progress<'_>,
    ) -> Report {
        let kind = match checkup.caller.credential {
            super::auth::Credential::ApiKey(_) => "api_key",
            super::auth::Credential::Password(_) => "email_password",
        };
        let mut steps = Steps {
            account: hashed(checkup.name),
            steps: Vec::new(),
            progress,
        };
        self.steps(checkup, settings, &mut steps).await;
        Report {
            version: env!("CARGO_PKG_VERSION"),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            contract: CONTRACT,
            account: steps.account,
            kind,
            steps: steps.steps,
        }
    }

    async fn steps(&self, checkup: Checkup<'_>, settings: &Settings, out: &mut Steps<'_>) {
        let connection = steps::connection(self, checkup, settings).await;
        let reached = connection.ok;
        out.add(connection);
        if !reached {
            for name in ["catalogue", "session", "sync", "stream", "delete"] {
                out.add(Step::skipped(name, "on-demand.io was not reached"));
            }
            return;
        }
        let (catalogue, endpoint) = steps::catalogue(self, checkup, settings).await;
        out.add(catalogue);
        let (session, id) = steps::session(self, checkup, settings).await;
        out.add(session);
        match (id, endpoint) {
            (Some(id), Some(endpoint)) => {
                out.add(steps::sync(self, checkup, settings, &id, &endpoint).await);
                out.add(stream::stream(self, checkup, settings, &id, &endpoint).await);
                if checkup.media {
                    out.add(steps::media(self, checkup, settings, &id).await);
                }
                out.add(steps::delete(self, checkup, settings, &id).await);
            }
            (id, endpoint) => {
                let why = if endpoint.is_none() {
                    "no active endpoint to ask"
                } else {
                    "no session"
                };
                for name in ["sync", "stream"] {
                    out.add(Step::skipped(name, why));
                }
                if let Some(id) = id {
                    out.add(steps::delete(self, checkup, settings, &id).await);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_code_says_reached_deviated_or_clean() {
        let mut report = Report {
            version: "0",
            os: "x".into(),
            contract: CONTRACT,
            account: hashed("me@example.com"),
            kind: "api_key",
            steps: vec![Step::new("connection"), Step::new("catalogue")],
        };
        assert_eq!(report.exit_code(), 0);
        report.steps[1].deviate("something new");
        assert_eq!(report.exit_code(), 1);
        report.steps[0].fail("refused");
        assert_eq!(report.exit_code(), 2);
        assert_eq!(report.account.len(), 12);
        assert!(!report.text().contains("example.com"));
    }
}
