//! Refusals in the log, without a flood: the first refusal of each kind in an interval is
//! logged in full, the rest are only counted, and the counts are summarised in one line when
//! the interval ends. A client sending bad requests by the hundred thousand (a review wrote
//! 62 MB of log in 10 s with wrong tokens) then writes a few lines a minute.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the counts are summarised.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Kinds beyond this many in one interval are counted together as `other`, so the tally
/// stays small whatever the refusals say.
const MAX_KINDS: usize = 32;

/// The process's refusal tally (refusals come from every listener and engine alike).
pub static REFUSALS: Tally = Tally::new();

#[derive(Debug)]
pub struct Tally {
    state: Mutex<Option<State>>,
}

#[derive(Debug)]
struct State {
    since: Instant,
    counts: BTreeMap<String, u64>,
}

impl Tally {
    pub const fn new() -> Self {
        Self {
            state: Mutex::new(None),
        }
    }

    /// Counts one refusal of `kind`: `true` when it is the first of its kind this interval
    /// and should be logged in full.
    pub fn first(&self, kind: &str, now: Instant) -> bool {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        summarise_if_due(&mut guard, now);
        let state = guard.get_or_insert_with(|| State {
            since: now,
            counts: BTreeMap::new(),
        });
        let kind = if state.counts.contains_key(kind) || state.counts.len() < MAX_KINDS {
            kind
        } else {
            "other"
        };
        let count = state.counts.entry(kind.to_owned()).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// Writes the summary if the interval has ended (the upkeep calls it, so the last
    /// counts are told even when the refusals stop).
    pub fn tick(&self, now: Instant) {
        summarise_if_due(
            &mut self.state.lock().unwrap_or_else(|e| e.into_inner()),
            now,
        );
    }

    /// Summarises every [`INTERVAL`] until `stop`.
    pub async fn run(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(INTERVAL) => self.tick(Instant::now()),
            }
        }
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

/// The counts past the first of each kind (those not logged), as `kind: n` pairs, and their
/// sum; `None` when every refusal was logged.
fn unlogged(counts: &BTreeMap<String, u64>) -> Option<(u64, String)> {
    let more: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(kind, n)| format!("{kind}: {}", n - 1))
        .collect();
    let total = counts.values().map(|n| n - 1).sum();
    (total > 0).then(|| (total, more.join(", ")))
}

fn summarise_if_due(state: &mut Option<State>, now: Instant) {
    let Some(current) = state else { return };
    let took = now.saturating_duration_since(current.since);
    if took < INTERVAL {
        return;
    }
    if let Some((total, kinds)) = unlogged(&current.counts) {
        tracing::info!(
            refusals = total,
            seconds = took.as_secs(),
            %kinds,
            "more refusals than were logged one by one (the first of each kind was)"
        );
    }
    *state = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_of_each_kind_is_logged_and_the_rest_counted_for_the_summary() {
        let tally = Tally::new();
        let start = Instant::now();
        assert!(tally.first("unknown_token", start));
        assert!(!tally.first("unknown_token", start));
        assert!(tally.first("rate_limited", start));
        for _ in 0..1000 {
            assert!(!tally.first("unknown_token", start));
        }
        let counts = tally.state.lock().unwrap().as_ref().unwrap().counts.clone();
        assert_eq!(
            unlogged(&counts),
            Some((1001, "unknown_token: 1001".to_owned()))
        );
        // A new interval logs the first of each kind again.
        tally.tick(start + INTERVAL);
        assert!(tally.state.lock().unwrap().is_none());
        assert!(tally.first("unknown_token", start + INTERVAL));
    }

    #[test]
    fn made_up_kinds_are_counted_together_past_a_bound() {
        let tally = Tally::new();
        let now = Instant::now();
        for i in 0..1000 {
            tally.first(&format!("kind-{i}"), now);
        }
        let counts = tally.state.lock().unwrap().as_ref().unwrap().counts.clone();
        assert_eq!(counts.len(), MAX_KINDS + 1);
        assert_eq!(counts["other"], 1000 - MAX_KINDS as u64);
    }
}
