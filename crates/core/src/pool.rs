//! The account pool: which on-demand.io account serves the next attempt.
//!
//! - Strategies: round-robin (default), least-in-flight, weighted (exactly proportional to
//!   the weights over every `sum(weights)` picks while all accounts are usable).
//! - Per account: enabled, weight, an optional cap on concurrent requests, and its
//!   [`Health`]. A pick returns a [`Lease`] that counts the request in flight until dropped.
//! - No lock serialises the request path: the list is an `ArcSwap` snapshot, in-flight counts
//!   and caps are atomics (compare-and-swap, so a cap is never exceeded), and a clean account's
//!   health is read from an atomic flag. An account's health mutex is only taken when it is
//!   not clean, for a few instructions, never across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::{AccountConfig, HealthPolicy, Strategy};
use crate::health::{Availability, Health, State};
use crate::upstream::auth::{Credential, PasswordLogin};
use crate::upstream::error::Blame;

#[derive(Debug)]
pub struct Account {
    /// What it was built from, so an update can tell an unchanged account from an edit.
    config: AccountConfig,
    /// Unique within the pool; what logs, usage and errors name (never the secret).
    pub name: String,
    pub credential: Credential,
    pub weight: u32,
    /// At most this many requests at once on this account; `None` is unlimited.
    pub max_concurrent: Option<u32>,
    pub enabled: bool,
    in_flight: AtomicU32,
    health: Mutex<Health>,
    /// Healthy with no failure streak: the fast path reads this instead of the mutex.
    clean: AtomicBool,
    /// Endpoints this account was refused (a plan or premium refusal, §14.2): endpoint id →
    /// until when, and why. The account serves every other model meanwhile.
    model_blocks: Mutex<HashMap<String, (Instant, String)>>,
    /// `model_blocks` is not empty: the fast path reads this instead of the mutex.
    has_model_blocks: AtomicBool,
    /// Image uploads were refused with a 429 (the Media API's own limit): no upload on this
    /// account before then. Its chat is not affected.
    uploads_rest_until: Mutex<Option<Instant>>,
}

/// A model an account may not use for now ([`Account::block_model`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelBlock {
    pub endpoint_id: String,
    pub reason: String,
    pub retry_in: Duration,
}

/// An account's state as people see it: the health machine's [`State`] without its
/// timers, plus `disabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    Healthy,
    CoolingDown,
    NeedsAttention,
    CircuitOpen,
    Disabled,
}

impl AccountState {
    pub const ALL: [Self; 5] = [
        Self::Healthy,
        Self::CoolingDown,
        Self::NeedsAttention,
        Self::CircuitOpen,
        Self::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::CoolingDown => "cooling_down",
            Self::NeedsAttention => "needs_attention",
            Self::CircuitOpen => "circuit_open",
            Self::Disabled => "disabled",
        }
    }

    /// The state's name as stored (`accounts.state`), back.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Serving, or resting for a moment: it will serve without anyone doing anything.
    pub fn usable(self) -> bool {
        matches!(self, Self::Healthy | Self::CoolingDown)
    }
}

impl std::fmt::Display for AccountState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for AccountState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An account's state as people see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountStatus {
    pub name: String,
    pub kind: &'static str,
    pub state: AccountState,
    pub reason: Option<String>,
    /// When it may be used (or re-checked) again, if it is waiting.
    pub retry_in: Option<Duration>,
    pub in_flight: u32,
    pub weight: u32,
    /// Models refused to this account for now.
    pub model_blocks: Vec<ModelBlock>,
}

impl Account {
    /// Who the account calls on-demand.io as, and which way.
    pub fn caller(&self) -> crate::upstream::Caller<'_> {
        crate::upstream::Caller {
            credential: &self.credential,
            proxy: self.config.options().proxy.as_ref(),
        }
    }

    /// Whether `other` goes out the same way (the demo upstream, or the same proxy): a
    /// failure of the way would meet both alike.
    pub fn same_way(&self, other: &Account) -> bool {
        self.simulated() == other.simulated()
            && self.config.options().proxy == other.config.options().proxy
    }

    /// A simulated account (the demo's): its calls go to the in-process demo upstream.
    pub fn simulated(&self) -> bool {
        self.config.simulated()
    }

    pub fn from_config(config: &AccountConfig) -> Self {
        let (name, credential, weight, max_concurrent, enabled) = match config {
            AccountConfig::ApiKey {
                name,
                api_key,
                options,
            } => (
                name,
                Credential::ApiKey(api_key.clone()),
                options.weight,
                options.max_concurrent,
                options.enabled,
            ),
            AccountConfig::Password {
                name,
                email,
                password,
                options,
            } => (
                name,
                Credential::Password(Arc::new(PasswordLogin::new(
                    email.clone(),
                    password.clone(),
                ))),
                options.weight,
                options.max_concurrent,
                options.enabled,
            ),
        };
        Self {
            config: config.clone(),
            name: name.clone(),
            credential,
            weight,
            max_concurrent,
            enabled,
            in_flight: AtomicU32::new(0),
            health: Mutex::new(Health::default()),
            clean: AtomicBool::new(true),
            model_blocks: Mutex::default(),
            has_model_blocks: AtomicBool::new(false),
            uploads_rest_until: Mutex::default(),
        }
    }

    /// No image uploads on this account until `until` (its uploads were rate limited).
    pub fn rest_uploads(&self, until: Instant) {
        *self
            .uploads_rest_until
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(until);
    }

    /// Whether this account's image uploads are resting at `now`.
    pub fn uploads_resting(&self, now: Instant) -> bool {
        self.uploads_rest_until
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|until| now < until)
    }

    fn blocks(&self) -> MutexGuard<'_, HashMap<String, (Instant, String)>> {
        self.model_blocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps this account away from `endpoint_id` until `until`: it was refused that model.
    pub fn block_model(&self, endpoint_id: &str, reason: &str, until: Instant) {
        self.blocks()
            .insert(endpoint_id.to_owned(), (until, reason.to_owned()));
        self.has_model_blocks.store(true, Ordering::Release);
    }

    /// Whether `endpoint_id` is refused to this account now.
    pub fn model_blocked(&self, endpoint_id: &str, now: Instant) -> bool {
        self.has_model_blocks.load(Ordering::Acquire)
            && self
                .blocks()
                .get(endpoint_id)
                .is_some_and(|(until, _)| *until > now)
    }

    fn model_block_list(&self, now: Instant) -> Vec<ModelBlock> {
        if !self.has_model_blocks.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut blocks = self.blocks();
        blocks.retain(|_, (until, _)| *until > now);
        let mut list: Vec<ModelBlock> = blocks
            .iter()
            .map(|(id, (until, reason))| ModelBlock {
                endpoint_id: id.clone(),
                reason: reason.clone(),
                retry_in: until.saturating_duration_since(now),
            })
            .collect();
        list.sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
        list
    }

    pub fn kind(&self) -> &'static str {
        match self.credential {
            Credential::ApiKey(_) => "api_key",
            Credential::Password(_) => "email_password",
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one more request in flight unless the cap is reached.
    fn try_reserve(&self) -> bool {
        let cap = self.max_concurrent.unwrap_or(u32::MAX);
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_ok()
    }

    pub fn record_success(&self) {
        if !self.clean.load(Ordering::Acquire) {
            self.health().on_success();
            self.clean.store(true, Ordering::Release);
        }
    }

    pub fn record_failure(&self, blame: Blame, reason: &str, now: Instant, policy: &HealthPolicy) {
        if matches!(blame, Blame::Request | Blame::Proxy | Blame::ModelRefused) {
            return;
        }
        let mut health = self.health();
        self.clean.store(false, Ordering::Release);
        health.on_failure(blame, reason, now, policy);
    }

    pub fn recheck_due(&self, now: Instant) -> bool {
        !self.clean.load(Ordering::Acquire) && self.health().recheck_due(now)
    }

    pub fn record_recheck_failure(&self, reason: &str, now: Instant, policy: &HealthPolicy) {
        self.health().on_recheck_failure(reason, now, policy);
    }

    /// Marks the account as needing attention (it did before a restart), so it is
    /// re-checked before it serves again.
    pub fn mark_needs_attention(&self, reason: &str, policy: &HealthPolicy) {
        self.record_failure(Blame::AccountUnusable, reason, Instant::now(), policy);
    }

    /// Back to healthy, as after an edit or a person's reset: model refusals are forgotten
    /// too (a person may have upgraded the plan).
    pub fn reset(&self) {
        self.health().on_success();
        self.clean.store(true, Ordering::Release);
        self.blocks().clear();
        self.has_model_blocks.store(false, Ordering::Release);
    }

    pub fn status(&self, now: Instant) -> AccountStatus {
        use AccountState as S;
        let (state, reason, until) = if !self.enabled {
            (S::Disabled, None, None)
        } else if self.clean.load(Ordering::Acquire) {
            (S::Healthy, None, None)
        } else {
            match self.health().state().clone() {
                State::Healthy => (S::Healthy, None, None),
                State::CoolingDown { until, .. } if until <= now => (S::Healthy, None, None),
                State::CoolingDown { until, reason } => (S::CoolingDown, Some(reason), Some(until)),
                State::NeedsAttention { reason, next_check } => {
                    (S::NeedsAttention, Some(reason), Some(next_check))
                }
                State::CircuitOpen { until, reason } => (S::CircuitOpen, Some(reason), Some(until)),
            }
        };
        AccountStatus {
            name: self.name.clone(),
            kind: self.kind(),
            state,
            reason,
            retry_in: until.map(|t| t.saturating_duration_since(now)),
            in_flight: self.in_flight(),
            weight: self.weight,
            model_blocks: self.model_block_list(now),
        }
    }
}

/// The pool at a glance ([`Pool::summary`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolSummary {
    pub accounts: usize,
    pub healthy: usize,
    /// Healthy, or resting for a moment (cooling down).
    pub usable: usize,
    /// Needing attention or with an open circuit.
    pub needs_attention: usize,
    /// Requests upstream right now.
    pub in_flight: u32,
}

/// One request's hold on an account; the in-flight count drops with it.
#[derive(Debug)]
pub struct Lease {
    account: Arc<Account>,
}

impl Lease {
    pub fn account(&self) -> &Arc<Account> {
        &self.account
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.account.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Why no account was picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPick {
    /// No enabled account at all.
    Empty,
    /// Every account is resting, busy or parked; `earliest` is when one may be usable.
    Unavailable { earliest: Option<Instant> },
    /// No enabled account may serve this request's model (none sees it, or it was refused
    /// to each).
    NoneForModel,
}

/// How long to wait before looking again at an account that is at its concurrency cap.
const BUSY_RECHECK: Duration = Duration::from_millis(20);

#[derive(Debug, Default)]
pub struct Pool {
    accounts: ArcSwap<Vec<Arc<Account>>>,
    cursor: AtomicUsize,
}

impl Pool {
    pub fn new(accounts: Vec<Account>) -> Self {
        Self {
            accounts: ArcSwap::from_pointee(accounts.into_iter().map(Arc::new).collect()),
            cursor: AtomicUsize::new(0),
        }
    }

    /// Applies a new configuration: unchanged accounts keep their live state (health,
    /// in-flight count, signed-in session); new or edited ones start fresh, since an edit is
    /// what a person does to fix an account. Requests in flight are not disturbed.
    pub fn update(&self, configs: &[AccountConfig]) {
        let current = self.accounts.load_full();
        let next = configs
            .iter()
            .map(|config| {
                current
                    .iter()
                    .find(|a| a.config == *config)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Account::from_config(config)))
            })
            .collect();
        self.accounts.store(Arc::new(next));
    }

    pub fn accounts(&self) -> Arc<Vec<Arc<Account>>> {
        self.accounts.load_full()
    }

    pub fn len(&self) -> usize {
        self.accounts.load().len()
    }

    /// How many accounts are in each condition, and the requests in flight.
    pub fn summary(&self, now: Instant) -> PoolSummary {
        let accounts = self.accounts.load();
        let mut summary = PoolSummary {
            accounts: accounts.len(),
            ..PoolSummary::default()
        };
        for account in accounts.iter() {
            summary.in_flight += account.in_flight();
            let state = account.status(now).state;
            summary.healthy += usize::from(state == AccountState::Healthy);
            summary.usable += usize::from(state.usable());
            summary.needs_attention += usize::from(matches!(
                state,
                AccountState::NeedsAttention | AccountState::CircuitOpen
            ));
        }
        summary
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many accounts are in each state, every state named.
    pub fn by_state(&self, now: Instant) -> [(AccountState, usize); 5] {
        let mut counts = AccountState::ALL.map(|state| (state, 0));
        for account in self.accounts.load().iter() {
            let state = account.status(now).state;
            if let Some((_, n)) = counts.iter_mut().find(|(s, _)| *s == state) {
                *n += 1;
            }
        }
        counts
    }

    /// The accounts in the order the strategy would try them for this pick.
    fn order(&self, accounts: &[Arc<Account>], strategy: Strategy) -> Vec<usize> {
        let n = accounts.len();
        let turn = self.cursor.fetch_add(1, Ordering::Relaxed);
        let start = match strategy {
            Strategy::RoundRobin | Strategy::LeastInFlight => turn % n,
            Strategy::Weighted => {
                let total: u64 = accounts
                    .iter()
                    .filter(|a| a.enabled)
                    .map(|a| u64::from(a.weight))
                    .sum();
                let mut slot = if total == 0 { 0 } else { turn as u64 % total };
                accounts
                    .iter()
                    .position(|a| {
                        let w = if a.enabled { u64::from(a.weight) } else { 0 };
                        if slot < w {
                            return true;
                        }
                        slot -= w;
                        false
                    })
                    .unwrap_or(0)
            }
        };
        let mut order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        if strategy == Strategy::LeastInFlight {
            order.sort_by_key(|&i| accounts[i].in_flight());
        }
        order
    }

    /// Picks an account for one attempt: usable now, preferring one this request has not
    /// `tried`.
    pub fn pick(
        &self,
        strategy: Strategy,
        tried: &[String],
        now: Instant,
    ) -> Result<Lease, NoPick> {
        self.pick_for(strategy, tried, now, &|_| true)
    }

    /// [`Pool::pick`] among the accounts that `serves` (those that may serve this request's
    /// model).
    pub fn pick_for(
        &self,
        strategy: Strategy,
        tried: &[String],
        now: Instant,
        serves: &dyn Fn(&Account) -> bool,
    ) -> Result<Lease, NoPick> {
        let accounts = self.accounts.load();
        if !accounts.iter().any(|a| a.enabled) {
            return Err(NoPick::Empty);
        }
        if !accounts.iter().any(|a| a.enabled && serves(a)) {
            return Err(NoPick::NoneForModel);
        }
        let order = self.order(&accounts, strategy);
        let mut earliest: Option<Instant> = None;
        for untried_only in [true, false] {
            for &i in &order {
                let account = &accounts[i];
                if !account.enabled
                    || (untried_only && tried.contains(&account.name))
                    || !serves(account)
                {
                    continue;
                }
                match account.try_lease(now) {
                    Ok(lease) => return Ok(lease),
                    Err(Some(at)) => earliest = Some(earliest.map_or(at, |e| e.min(at))),
                    Err(None) => {}
                }
            }
        }
        Err(NoPick::Unavailable { earliest })
    }

    /// The named account, if it is enabled and usable now (reuse mode's own session).
    pub fn pick_named(&self, name: &str, now: Instant) -> Option<Lease> {
        let accounts = self.accounts.load();
        let account = accounts.iter().find(|a| a.enabled && a.name == name)?;
        account.try_lease(now).ok()
    }
}

impl Account {
    /// A lease on this account if it is usable now; else when it may be (`None`: only a
    /// re-check can bring it back).
    fn try_lease(self: &Arc<Self>, now: Instant) -> Result<Lease, Option<Instant>> {
        if self.clean.load(Ordering::Acquire) {
            return if self.try_reserve() {
                Ok(Lease {
                    account: self.clone(),
                })
            } else {
                Err(Some(now + BUSY_RECHECK))
            };
        }
        let mut health = self.health();
        match health.availability(now) {
            Availability::Ready if self.try_reserve() => Ok(Lease {
                account: self.clone(),
            }),
            Availability::Probe if self.try_reserve() => {
                health.start_probe();
                Ok(Lease {
                    account: self.clone(),
                })
            }
            Availability::Ready | Availability::Probe => Err(Some(now + BUSY_RECHECK)),
            Availability::NotBefore(at) => Err(Some(at)),
            Availability::Parked => Err(None),
        }
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
