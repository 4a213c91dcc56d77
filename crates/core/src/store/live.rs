//! The live feed behind the dashboard's event stream: running totals and the most recent
//! finished requests, numbered so each listener can ask "what is new since N".
//!
//! Publishing (by the usage writer, once a batch is committed) is a short lock and a push
//! onto a bounded ring; listeners read at their own
//! pace (once a second), so a burst of thousands of requests costs each listener one
//! update, with the latest requests and a count of the ones left out.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::store::usage::UsageEvent;

/// Finished requests kept for listeners.
const RECENT: usize = 256;

/// Running totals since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, Default)]
pub struct LiveFeed {
    inner: Mutex<Inner>,
}

impl Inner {
    fn push(&mut self, event: &UsageEvent) {
        self.seq += 1;
        let t = &mut self.totals;
        t.requests += 1;
        t.errors += u64::from(!event.succeeded());
        t.input_tokens += event.input_tokens;
        t.output_tokens += event.output_tokens;
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(event.clone());
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Number of the last request published.
    seq: u64,
    recent: VecDeque<UsageEvent>,
    totals: Totals,
}

/// What is new for one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Pass this as `since` next time.
    pub seq: u64,
    /// The newest requests since `since`, oldest first, at most `max`.
    pub events: Vec<UsageEvent>,
    /// Requests since `since` that are not in `events`.
    pub skipped: u64,
    pub totals: Totals,
}

impl LiveFeed {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn publish(&self, event: &UsageEvent) {
        self.publish_all(std::slice::from_ref(event));
    }

    /// Publishes a batch under one lock.
    pub fn publish_all(&self, events: &[UsageEvent]) {
        let mut inner = self.lock();
        for event in events {
            inner.push(event);
        }
    }

    /// The requests published after `since`, the newest `max` of them.
    pub fn since(&self, since: u64, max: usize) -> Update {
        let inner = self.lock();
        let new = inner.seq.saturating_sub(since) as usize;
        let available = new.min(inner.recent.len());
        let shown = available.min(max);
        let events = inner
            .recent
            .iter()
            .skip(inner.recent.len() - shown)
            .cloned()
            .collect();
        Update {
            seq: inner.seq,
            events,
            skipped: (new - shown) as u64,
            totals: inner.totals,
        }
    }

    pub fn seq(&self) -> u64 {
        self.lock().seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(status: u16, tokens: u64) -> UsageEvent {
        UsageEvent {
            status,
            input_tokens: tokens,
            ..UsageEvent::default()
        }
    }

    #[test]
    fn a_burst_costs_a_listener_one_bounded_update() {
        let feed = LiveFeed::default();
        let start = feed.seq();
        for i in 0..5_000 {
            feed.publish(&event(if i % 10 == 0 { 500 } else { 200 }, 2));
        }
        let update = feed.since(start, 50);
        assert_eq!(update.events.len(), 50);
        assert_eq!(update.skipped, 4_950);
        assert_eq!(
            update.totals,
            Totals {
                requests: 5_000,
                errors: 500,
                input_tokens: 10_000,
                output_tokens: 0
            }
        );
        let quiet = feed.since(update.seq, 50);
        assert!(quiet.events.is_empty() && quiet.skipped == 0);
        feed.publish(&event(200, 1));
        assert_eq!(feed.since(update.seq, 50).events.len(), 1);
    }
}
