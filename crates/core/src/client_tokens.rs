//! Client tokens at run time: who may call `/v1/*`, and within which limits.
//!
//! - A presented token is hashed (SHA-256) and looked up; the secret itself is never kept.
//!   Tokens are long random strings, so a fast hash is enough, and a lookup by hash leaks
//!   nothing useful through timing.
//! - Limits: enabled, expiry, a model allow-list, a per-token rpm (else the global
//!   `rate_limit`), and life-time quotas of successful requests and of tokens.
//! - Use counters live here in memory for the quota checks; the usage writer adds the same
//!   amounts to the database in each batch, and a reload keeps whichever count is higher.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use arc_swap::ArcSwap;
use sha2::{Digest, Sha256};

use crate::store::accounts::Source;
use crate::store::client_tokens::{TokenLimits, TokenRow};

/// The name of the token given as `api_access_token` (or generated at first start).
pub const DEFAULT_TOKEN_NAME: &str = "default";

/// Characters of a secret shown as its prefix.
const PREFIX_CHARS: usize = 10;

/// Prefix of generated client tokens, so they are recognisable in a config or a leak scan.
pub const SECRET_PREFIX: &str = "sk-odp-";

/// A new random client token: `sk-odp-` and 40 alphanumerics (~238 bits).
pub fn generate_secret() -> crate::Secret {
    crate::Secret::random(SECRET_PREFIX)
}

/// Hex SHA-256 of a token's secret, as stored.
pub fn hash_secret(secret: &str) -> String {
    to_hex(&Sha256::digest(secret.as_bytes()))
}

/// Lower-case hex, in one allocation (digests are hexed on every request).
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// What people see of a secret: its first few characters (for generated tokens, the
/// `sk-odp-` mark and three random characters).
pub fn display_prefix(secret: &str) -> String {
    let head: String = secret.chars().take(PREFIX_CHARS).collect();
    if secret.chars().count() > PREFIX_CHARS * 2 {
        format!("{head}…")
    } else {
        // A short (hand-chosen) secret would be half revealed by a prefix.
        "…".to_owned()
    }
}

#[derive(Debug)]
pub struct ClientToken {
    pub id: i64,
    pub name: String,
    pub limits: TokenLimits,
    pub enabled: bool,
    pub source: Source,
    used_requests: AtomicU64,
    /// Requests admitted and not finished, counted against `quota_requests` so that
    /// concurrent requests cannot overshoot it.
    reserved: AtomicU64,
    used_tokens: AtomicU64,
    /// Prompt tokens of requests admitted and not finished, counted against `quota_tokens`.
    reserved_tokens: AtomicU64,
    /// Requests admitted and not finished, against the concurrency cap.
    in_flight: AtomicU32,
    last_used_at: AtomicI64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Incorrect API key provided. Use a client token the proxy printed or created.")]
    Unknown,
    #[error("This client token is disabled.")]
    Disabled,
    #[error("This client token expired.")]
    Expired,
    #[error("This client token has used its quota of {0} requests.")]
    RequestQuota(u64),
    #[error("This client token has used its quota of {0} tokens.")]
    TokenQuota(u64),
    #[error(
        "This prompt is about {prompt} tokens, more than the {left} left of this client token's quota of {quota} tokens."
    )]
    PromptOverQuota { prompt: u64, left: u64, quota: u64 },
    #[error(
        "This client token has {0} requests in flight, as many as it may have at once; retry when one ends."
    )]
    Concurrency(u32),
}

impl Refusal {
    /// A short name for the kind of refusal (for the log's tally).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unknown => "unknown_token",
            Self::Disabled => "token_disabled",
            Self::Expired => "token_expired",
            Self::RequestQuota(_) => "request_quota_used",
            Self::TokenQuota(_) => "token_quota_used",
            Self::PromptOverQuota { .. } => "prompt_over_token_quota",
            Self::Concurrency(_) => "too_many_concurrent_requests",
        }
    }
}

impl ClientToken {
    pub fn from_row(row: &TokenRow) -> Self {
        Self {
            id: row.id,
            name: row.name.clone(),
            limits: row.limits.clone(),
            enabled: row.enabled,
            source: row.source,
            used_requests: AtomicU64::new(row.used_requests),
            reserved: AtomicU64::new(0),
            used_tokens: AtomicU64::new(row.used_tokens),
            reserved_tokens: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            last_used_at: AtomicI64::new(row.last_used_at.unwrap_or(0)),
        }
    }

    /// Whether the token may make a request now (before its model is known).
    pub fn check(&self, now_ms: i64) -> Result<(), Refusal> {
        let l = &self.limits;
        if !self.enabled {
            return Err(Refusal::Disabled);
        }
        if l.expires_at.is_some_and(|at| now_ms >= at) {
            return Err(Refusal::Expired);
        }
        if let Some(quota) = l.quota_requests
            && self.used_requests() + self.reserved.load(Ordering::Acquire) >= quota
        {
            return Err(Refusal::RequestQuota(quota));
        }
        if let Some(quota) = l.quota_tokens
            && self.used_tokens() + self.reserved_tokens.load(Ordering::Acquire) >= quota
        {
            return Err(Refusal::TokenQuota(quota));
        }
        Ok(())
    }

    /// Whether the token may use `model` (as requested, compared case-insensitively).
    pub fn allows(&self, model: &str) -> bool {
        self.limits
            .models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m.eq_ignore_ascii_case(model)))
    }

    /// Admits a request against `quota_requests`: reserves one of the requests left, or
    /// refuses. `true` when a reservation was made (release it with [`Self::release`]).
    pub fn reserve(&self) -> Result<bool, Refusal> {
        let Some(quota) = self.limits.quota_requests else {
            return Ok(false);
        };
        let mut reserved = self.reserved.load(Ordering::Acquire);
        loop {
            if self.used_requests() + reserved >= quota {
                return Err(Refusal::RequestQuota(quota));
            }
            match self.reserved.compare_exchange_weak(
                reserved,
                reserved + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(true),
                Err(now) => reserved = now,
            }
        }
    }

    /// Gives back a reservation, after the request was counted.
    pub fn release(&self) {
        self.reserved.fetch_sub(1, Ordering::AcqRel);
    }

    /// Admits a planned request against `quota_tokens`: reserves its `prompt` tokens out of
    /// those left, or refuses a prompt larger than what is left. Returns what was reserved
    /// (give it back with [`Self::release_tokens`] once the request's use is counted).
    pub fn reserve_tokens(&self, prompt: u64) -> Result<u64, Refusal> {
        let Some(quota) = self.limits.quota_tokens else {
            return Ok(0);
        };
        let mut reserved = self.reserved_tokens.load(Ordering::Acquire);
        loop {
            let left = quota.saturating_sub(self.used_tokens() + reserved);
            if left == 0 {
                return Err(Refusal::TokenQuota(quota));
            }
            if prompt > left {
                return Err(Refusal::PromptOverQuota {
                    prompt,
                    left,
                    quota,
                });
            }
            match self.reserved_tokens.compare_exchange_weak(
                reserved,
                reserved + prompt,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(prompt),
                Err(now) => reserved = now,
            }
        }
    }

    /// The most requests this token may have in flight at once: its own `max_concurrent`;
    /// else, while other tokens exist (`shared`) to be starved, half of `upstream`
    /// (`max_concurrent_upstream`, where 0 is unlimited); else no cap (`None`).
    pub fn concurrency_cap(&self, upstream: u32, shared: bool) -> Option<u32> {
        self.limits
            .max_concurrent
            .or((shared && upstream > 0).then(|| (upstream / 2).max(1)))
    }

    /// Admits a request under the concurrency cap (see [`Self::concurrency_cap`]), or
    /// refuses. `true` when a slot was taken (give it back with [`Self::leave`]).
    pub fn enter(&self, upstream: u32, shared: bool) -> Result<bool, Refusal> {
        let Some(cap) = self.concurrency_cap(upstream, shared) else {
            return Ok(false);
        };
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .map(|_| true)
            .map_err(|_| Refusal::Concurrency(cap))
    }

    /// Gives back a slot taken by [`Self::enter`].
    pub fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Gives back `tokens` reserved by [`Self::reserve_tokens`].
    pub fn release_tokens(&self, tokens: u64) {
        self.reserved_tokens.fetch_sub(tokens, Ordering::AcqRel);
    }

    /// Counts a finished request.
    pub fn record_use(&self, succeeded: bool, tokens: u64, now_ms: i64) {
        self.used_requests
            .fetch_add(u64::from(succeeded), Ordering::Relaxed);
        self.used_tokens.fetch_add(tokens, Ordering::Relaxed);
        self.last_used_at.fetch_max(now_ms, Ordering::Relaxed);
    }

    pub fn used_requests(&self) -> u64 {
        self.used_requests.load(Ordering::Relaxed)
    }

    pub fn used_tokens(&self) -> u64 {
        self.used_tokens.load(Ordering::Relaxed)
    }

    pub fn last_used_at(&self) -> Option<i64> {
        Some(self.last_used_at.load(Ordering::Relaxed)).filter(|t| *t > 0)
    }
}

/// Every client token, by the hash of its secret; swapped whole when one changes.
#[derive(Debug, Default)]
pub struct TokenRegistry {
    by_hash: ArcSwap<HashMap<String, Arc<ClientToken>>>,
}

impl TokenRegistry {
    /// Replaces the tokens with `rows`. A token already loaded keeps the higher of its
    /// in-memory and stored use counts (the store lags by one writer batch).
    pub fn load(&self, rows: &[TokenRow]) {
        let current = self.by_hash.load();
        let next = rows
            .iter()
            .map(|row| {
                let token = ClientToken::from_row(row);
                if let Some(old) = current.values().find(|t| t.id == row.id) {
                    token
                        .used_requests
                        .fetch_max(old.used_requests(), Ordering::Relaxed);
                    token
                        .used_tokens
                        .fetch_max(old.used_tokens(), Ordering::Relaxed);
                    token
                        .last_used_at
                        .fetch_max(old.last_used_at.load(Ordering::Relaxed), Ordering::Relaxed);
                }
                (row.secret_hash.clone(), Arc::new(token))
            })
            .collect();
        self.by_hash.store(Arc::new(next));
    }

    /// The token a client presented, if it may make a request now.
    pub fn authorize(&self, presented: &str, now_ms: i64) -> Result<Arc<ClientToken>, Refusal> {
        let token = self
            .by_hash
            .load()
            .get(&hash_secret(presented))
            .cloned()
            .ok_or(Refusal::Unknown)?;
        token.check(now_ms)?;
        Ok(token)
    }

    /// Whether `presented` is a client token's secret (live or not): the admin API tells such
    /// a mistake apart from a guess at its password.
    pub fn is_client_token(&self, presented: &str) -> bool {
        presented.starts_with(SECRET_PREFIX)
            || self.by_hash.load().contains_key(&hash_secret(presented))
    }

    /// The live token with this id (for its use counters).
    pub fn by_id(&self, id: i64) -> Option<Arc<ClientToken>> {
        self.by_hash.load().values().find(|t| t.id == id).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_hash.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A token's stored row, as the store would give it (other modules' tests use it too).
    pub(crate) fn row(id: i64, secret: &str, limits: TokenLimits) -> TokenRow {
        TokenRow {
            id,
            name: format!("t{id}"),
            secret_hash: hash_secret(secret),
            prefix: display_prefix(secret),
            limits,
            enabled: true,
            source: Source::Api,
            used_requests: 0,
            used_tokens: 0,
            used_uploads: 0,
            last_used_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn limits_are_enforced() {
        let registry = TokenRegistry::default();
        let limits = TokenLimits {
            expires_at: Some(1_000),
            quota_requests: Some(2),
            quota_tokens: Some(100),
            models: Some(vec!["GPT-4o".into()]),
            rpm: None,
            max_concurrent: None,
        };
        registry.load(&[
            row(1, "secret-one", limits),
            row(2, "secret-two", TokenLimits::default()),
        ]);
        assert_eq!(registry.authorize("nope", 0).unwrap_err(), Refusal::Unknown);
        let token = registry.authorize("secret-one", 0).unwrap();
        assert!(token.allows("gpt-4o") && !token.allows("claude-3-opus"));
        assert_eq!(
            registry.authorize("secret-one", 1_000).unwrap_err(),
            Refusal::Expired
        );
        token.record_use(true, 10, 5);
        token.record_use(false, 0, 6);
        assert!(
            registry.authorize("secret-one", 0).is_ok(),
            "failures do not use the quota"
        );
        token.record_use(true, 10, 7);
        assert_eq!(
            registry.authorize("secret-one", 0).unwrap_err(),
            Refusal::RequestQuota(2)
        );
        let other = registry.authorize("secret-two", 0).unwrap();
        other.record_use(true, 5, 1);
        assert!(other.allows("anything"));
    }

    #[test]
    fn reloads_keep_the_higher_use_count_and_apply_edits() {
        let registry = TokenRegistry::default();
        registry.load(&[row(1, "secret-one", TokenLimits::default())]);
        registry
            .authorize("secret-one", 0)
            .unwrap()
            .record_use(true, 50, 9);
        let mut edited = row(
            1,
            "secret-one",
            TokenLimits {
                quota_tokens: Some(40),
                ..TokenLimits::default()
            },
        );
        edited.used_tokens = 20;
        registry.load(&[edited]);
        assert_eq!(
            registry.authorize("secret-one", 0).unwrap_err(),
            Refusal::TokenQuota(40)
        );
        let mut disabled = row(1, "secret-one", TokenLimits::default());
        disabled.enabled = false;
        registry.load(&[disabled]);
        assert_eq!(
            registry.authorize("secret-one", 0).unwrap_err(),
            Refusal::Disabled
        );
        assert_eq!(registry.by_id(1).unwrap().used_tokens(), 50);
    }

    #[test]
    fn prefixes_never_reveal_short_secrets() {
        assert_eq!(
            display_prefix("sk-odp-abcdefghijklmnopqrstuvwxyz0123456789abcd"),
            "sk-odp-abc…"
        );
        assert_eq!(display_prefix("short-secret"), "…");
        assert_ne!(hash_secret("a"), hash_secret("b"));
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "SHA-256, lower-case hex"
        );
    }
}
