//! Reuse mode's memory: which upstream session holds which conversation (§8, project
//! decision). Bounded by a TTL and a size cap, so it cannot grow without limit.
//!
//! A lookup *takes* the entry: two requests continuing the same history at once cannot both
//! append to one upstream session (the second starts a fresh one), and the winner stores
//! the conversation again under its new history when it succeeds.
//!
//! With [`SessionCache::journal`] on, every change is also noted for the store, which a
//! background task writes every second ([`SessionCache::drain_journal`]), so sessions
//! survive restarts and lose at most about a second to a crash.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::conversation::message_text;
use crate::openai::ChatMessage;
use crate::store::sessions::{SessionChange, StoredSession};

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
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, SessionEntry>,
    /// Changes not yet written to the store; `None` when nothing persists them.
    journal: Option<Vec<SessionChange>>,
}

impl Inner {
    fn note(&mut self, change: impl FnOnce() -> SessionChange) {
        if let Some(journal) = &mut self.journal {
            journal.push(change());
        }
    }
}

/// Unix ms of an `Instant` in the past.
fn wall_clock(at: Instant) -> i64 {
    crate::clock::now_ms() - Instant::now().saturating_duration_since(at).as_millis() as i64
}

impl SessionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts noting changes for [`SessionCache::drain_journal`].
    pub fn journal(&self) {
        self.lock().journal.get_or_insert_with(Vec::new);
    }

    /// The changes since the last drain, oldest first.
    pub fn drain_journal(&self) -> Vec<SessionChange> {
        self.lock()
            .journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Puts back sessions read from the store (not journaled: they are stored already).
    pub fn restore(&self, stored: Vec<StoredSession>) {
        let now = Instant::now();
        let now_ms = crate::clock::now_ms();
        let mut inner = self.lock();
        for s in stored {
            let age = Duration::from_millis(now_ms.saturating_sub(s.last_used).max(0) as u64);
            inner.entries.insert(
                s.key,
                SessionEntry {
                    session_id: s.session_id,
                    account: s.account,
                    last_used: now.checked_sub(age).unwrap_or(now),
                },
            );
        }
    }

    /// Removes and returns the session for `key`, unless it idled past `ttl`.
    pub fn take(&self, key: &str, now: Instant, ttl: Duration) -> Option<SessionEntry> {
        self.take_any(key)
            .filter(|e| now.saturating_duration_since(e.last_used) <= ttl)
    }

    /// Removes and returns the session for `key`, however old.
    pub fn take_any(&self, key: &str) -> Option<SessionEntry> {
        let mut inner = self.lock();
        let entry = inner.entries.remove(key)?;
        inner.note(|| SessionChange::Remove(key.to_owned()));
        Some(entry)
    }

    /// Remembers a session. Over `cap`, expired entries go first, then the least recently
    /// used tenth (evicting in batches keeps inserts cheap at the cap). Returns the entries
    /// that left, so their upstream sessions can be deleted.
    pub fn put(
        &self,
        key: String,
        entry: SessionEntry,
        cap: usize,
        ttl: Duration,
    ) -> Vec<SessionEntry> {
        let now = entry.last_used;
        let mut inner = self.lock();
        inner.note(|| {
            SessionChange::Put(StoredSession {
                key: key.clone(),
                session_id: entry.session_id.clone(),
                account: entry.account.clone(),
                last_used: wall_clock(entry.last_used),
            })
        });
        inner.entries.insert(key, entry);
        if inner.entries.len() <= cap {
            return Vec::new();
        }
        let Inner { entries, journal } = &mut *inner;
        let expired: Vec<String> = entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_used) > ttl)
            .map(|(k, _)| k.clone())
            .collect();
        let mut evicted = Vec::new();
        for key in expired {
            if let Some(entry) = entries.remove(&key) {
                evicted.push((key, entry));
            }
        }
        if entries.len() > cap {
            let mut ages: Vec<(Instant, String)> = entries
                .iter()
                .map(|(k, e)| (e.last_used, k.clone()))
                .collect();
            let excess = (entries.len() - cap + cap / 10).min(ages.len());
            ages.select_nth_unstable(excess - 1);
            for (_, key) in ages.into_iter().take(excess) {
                if let Some(entry) = entries.remove(&key) {
                    evicted.push((key, entry));
                }
            }
        }
        if let Some(journal) = journal {
            journal.extend(
                evicted
                    .iter()
                    .map(|(k, _)| SessionChange::Remove(k.clone())),
            );
        }
        evicted.into_iter().map(|(_, e)| e).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
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
        crate::client_tokens::to_hex(&self.0.clone().finalize())
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
        let mut left = 0;
        for i in 0..50_000u64 {
            left += cache
                .put(
                    format!("k{i}"),
                    entry("s", t0 + Duration::from_millis(i)),
                    1000,
                    ttl,
                )
                .len();
            assert!(cache.len() <= 1000);
        }
        assert_eq!(left + cache.len(), 50_000, "every eviction is handed back");
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
    fn the_journal_notes_every_change_and_restore_brings_sessions_back() {
        let cache = SessionCache::default();
        let t0 = Instant::now();
        let ttl = Duration::from_secs(3600);
        cache.put("before".into(), entry("s0", t0), 10, ttl);
        cache.journal();
        cache.put("k1".into(), entry("s1", t0), 2, ttl);
        cache.take("before", t0, ttl);
        cache.put("k2".into(), entry("s2", t0), 2, ttl);
        cache.put(
            "k3".into(),
            entry("s3", t0 + Duration::from_millis(1)),
            2,
            ttl,
        );
        let journal = cache.drain_journal();
        let kinds: Vec<String> = journal
            .iter()
            .map(|c| match c {
                SessionChange::Put(s) => format!("put {}", s.key),
                SessionChange::Remove(k) => format!("remove {k}"),
            })
            .collect();
        assert_eq!(kinds[..4], ["put k1", "remove before", "put k2", "put k3"]);
        assert_eq!(
            kinds.len(),
            5,
            "the eviction over the cap is noted: {kinds:?}"
        );
        assert!(cache.drain_journal().is_empty());
        let stored: Vec<StoredSession> = journal
            .into_iter()
            .filter_map(|c| match c {
                SessionChange::Put(s) => Some(s),
                SessionChange::Remove(_) => None,
            })
            .collect();
        let restored = SessionCache::default();
        restored.restore(stored);
        let back = restored.take("k3", Instant::now(), ttl).unwrap();
        assert_eq!(
            (back.session_id.as_str(), back.account.as_str()),
            ("s3", "a")
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
