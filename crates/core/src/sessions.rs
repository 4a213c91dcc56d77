//! Reuse mode's memory: which upstream session holds which conversation (§8, project
//! decision). Bounded by a TTL and a size cap, so it cannot grow without limit.
//!
//! A lookup *takes* the entry: two requests continuing the same history at once cannot both
//! append to one upstream session (the second starts a fresh one), and the winner stores
//! the conversation again under its new history when it succeeds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::conversation::message_text;
use crate::openai::ChatMessage;

/// An upstream session that holds a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    pub session_id: String,
    /// The account the session belongs to (sessions do not move between accounts).
    pub account: String,
    pub last_used: Instant,
}

#[derive(Debug, Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, SessionEntry>>,
}

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes and returns the session for `key`, unless it idled past `ttl`.
    pub fn take(&self, key: &str, now: Instant, ttl: Duration) -> Option<SessionEntry> {
        self.lock()
            .remove(key)
            .filter(|e| now.saturating_duration_since(e.last_used) <= ttl)
    }

    /// Remembers a session. Over `cap`, expired entries go first, then the least recently
    /// used tenth (evicting in batches keeps inserts cheap at the cap).
    pub fn put(&self, key: String, entry: SessionEntry, cap: usize, ttl: Duration) {
        let now = entry.last_used;
        let mut entries = self.lock();
        entries.insert(key, entry);
        if entries.len() <= cap {
            return;
        }
        entries.retain(|_, e| now.saturating_duration_since(e.last_used) <= ttl);
        if entries.len() > cap {
            let mut ages: Vec<(Instant, String)> = entries
                .iter()
                .map(|(k, e)| (e.last_used, k.clone()))
                .collect();
            let excess = (entries.len() - cap + cap / 10).min(ages.len());
            ages.select_nth_unstable(excess - 1);
            for (_, key) in ages.into_iter().take(excess) {
                entries.remove(&key);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A running hash of a conversation's exact history, scoped to a client and a model.
/// Fields are length-prefixed, so no two different histories share an encoding.
#[derive(Debug, Clone)]
pub struct HistoryHash(Sha256);

impl HistoryHash {
    pub fn new(client: &str, model: &str) -> Self {
        let mut hash = Self(Sha256::new());
        hash.field(client.as_bytes());
        hash.field(model.as_bytes());
        hash
    }

    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    pub fn push(&mut self, role: &str, name: Option<&str>, text: &str) {
        self.field(role.as_bytes());
        self.field(name.unwrap_or("").as_bytes());
        self.field(text.as_bytes());
    }

    pub fn push_message(&mut self, message: &ChatMessage) {
        self.push(
            &message.role,
            message.name.as_deref(),
            &message_text(message),
        );
    }

    /// The key for the history pushed so far.
    pub fn key(&self) -> String {
        self.0
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The key the next request will present: this history plus the assistant's `answer`.
    pub fn key_after(&self, answer: &str) -> String {
        let mut next = self.clone();
        next.push("assistant", None, answer);
        next.key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, at: Instant) -> SessionEntry {
        SessionEntry {
            session_id: id.into(),
            account: "a".into(),
            last_used: at,
        }
    }

    #[test]
    fn take_removes_and_respects_the_ttl() {
        let cache = SessionCache::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        cache.put("k".into(), entry("s1", t0), 10, ttl);
        assert_eq!(
            cache.take("k", t0 + ttl, ttl).map(|e| e.session_id),
            Some("s1".into())
        );
        assert_eq!(cache.take("k", t0, ttl), None, "taken once");
        cache.put("k".into(), entry("s2", t0), 10, ttl);
        assert_eq!(
            cache.take("k", t0 + ttl + Duration::from_secs(1), ttl),
            None,
            "idle too long"
        );
    }

    #[test]
    fn memory_is_bounded_by_the_cap() {
        let cache = SessionCache::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(3600);
        for i in 0..50_000u64 {
            cache.put(
                format!("k{i}"),
                entry("s", t0 + Duration::from_millis(i)),
                1000,
                ttl,
            );
            assert!(cache.len() <= 1000);
        }
        assert!(
            cache
                .take("k49999", t0 + Duration::from_secs(60), ttl)
                .is_some(),
            "the newest survive"
        );
        assert!(
            cache
                .take("k0", t0 + Duration::from_secs(60), ttl)
                .is_none(),
            "the oldest went first"
        );
    }

    #[test]
    fn history_hash_is_exact_and_unambiguous() {
        let key = |pairs: &[(&str, &str)]| {
            let mut h = HistoryHash::new("client", "gpt-4o");
            for (role, text) in pairs {
                h.push(role, None, text);
            }
            h.key()
        };
        let base = key(&[("user", "hi"), ("assistant", "hello")]);
        assert_eq!(base, key(&[("user", "hi"), ("assistant", "hello")]));
        assert_ne!(
            base,
            key(&[("user", "hi"), ("assistant", "hello ")]),
            "one space differs"
        );
        assert_ne!(key(&[("user", "ab")]), key(&[("user", "a"), ("user", "b")]));
        assert_ne!(base, HistoryHash::new("client", "gpt-4.1").key());
        let mut h = HistoryHash::new("client", "gpt-4o");
        h.push("user", None, "hi");
        assert_eq!(h.key_after("hello"), base);
    }
}
