//! The health of one upstream account: what its last outcomes mean for its next requests.
//!
//! A pure state machine over explicit instants (`now` is always an argument), so every
//! transition is tested without waiting out a real cooldown.
//!
//! | outcome | state | leaves it when |
//! |---|---|---|
//! | 401/403, no credit, sign-in refused | `NeedsAttention` (reason) | a background re-check succeeds (backoff doubles), or a reset |
//! | 429 | `CoolingDown` until now + base·2^streak (capped) | the time passes; a success resets the streak |
//! | 5xx, timeout, broken stream, `circuit_failures` in a row | `CircuitOpen` until now + `circuit_open` | the time passes, then one half-open probe decides |
//! | the request's own fault (a 400) | unchanged | — |

use std::time::{Duration, Instant};

use crate::config::HealthPolicy;
use crate::upstream::error::Blame;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Healthy,
    CoolingDown {
        until: Instant,
        reason: String,
    },
    NeedsAttention {
        reason: String,
        next_check: Instant,
    },
    /// Resting after repeated failures; at `until` one probe request may go through.
    CircuitOpen {
        until: Instant,
        reason: String,
    },
}

/// Whether an account may take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Ready,
    /// The circuit's rest is over: this one request is the half-open probe.
    Probe,
    /// Not before this instant.
    NotBefore(Instant),
    /// Only a re-check (or a person) can bring it back.
    Parked,
}

#[derive(Debug, Clone)]
pub struct Health {
    state: State,
    /// 429s in a row, for the cooldown's doubling.
    rate_limit_streak: u32,
    /// Transient failures in a row, for the circuit.
    failure_streak: u32,
    /// Failed re-checks in a row, for the re-check backoff.
    recheck_streak: u32,
    /// A half-open probe is under way; no second one until it ends.
    probing: bool,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: State::Healthy,
            rate_limit_streak: 0,
            failure_streak: 0,
            recheck_streak: 0,
            probing: false,
        }
    }
}

fn doubled(base: Duration, streak: u32, max: Duration) -> Duration {
    base.saturating_mul(1u32.checked_shl(streak.min(20)).unwrap_or(u32::MAX))
        .min(max)
}

impl Health {
    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn availability(&self, now: Instant) -> Availability {
        match &self.state {
            State::Healthy => Availability::Ready,
            State::CoolingDown { until, .. } if now >= *until => Availability::Ready,
            State::CoolingDown { until, .. } => Availability::NotBefore(*until),
            State::CircuitOpen { until, .. } if now >= *until && !self.probing => {
                Availability::Probe
            }
            // A probe is out: the next chance is after it, at the earliest one rest later.
            State::CircuitOpen { until, .. } if now >= *until => {
                Availability::NotBefore(now + Duration::from_millis(100))
            }
            State::CircuitOpen { until, .. } => Availability::NotBefore(*until),
            State::NeedsAttention { .. } => Availability::Parked,
        }
    }

    /// The half-open probe is taken by a request.
    pub fn start_probe(&mut self) {
        self.probing = true;
    }

    pub fn on_success(&mut self) {
        *self = Self::default();
    }

    /// Applies a failed attempt. A request's own fault changes nothing.
    pub fn on_failure(&mut self, blame: Blame, reason: &str, now: Instant, policy: &HealthPolicy) {
        let was_probe = std::mem::take(&mut self.probing);
        match blame {
            // Not the account's doing; the caller keeps it out of the account's record.
            Blame::Request
            | Blame::Proxy
            | Blame::ModelRefused
            | Blame::Uploads
            | Blame::Network
            | Blame::Connection => {}
            Blame::AccountUnusable => {
                self.state = State::NeedsAttention {
                    reason: reason.to_owned(),
                    next_check: now + policy.recheck_base,
                };
                self.recheck_streak = 0;
            }
            Blame::AccountRateLimited => {
                let rest = doubled(
                    policy.cooldown_base,
                    self.rate_limit_streak,
                    policy.cooldown_max,
                );
                self.rate_limit_streak = self.rate_limit_streak.saturating_add(1);
                self.state = State::CoolingDown {
                    until: now + rest,
                    reason: reason.to_owned(),
                };
            }
            Blame::Transient => {
                self.failure_streak = self.failure_streak.saturating_add(1);
                if was_probe || self.failure_streak >= policy.circuit_failures.max(1) {
                    self.state = State::CircuitOpen {
                        until: now + policy.circuit_open,
                        reason: reason.to_owned(),
                    };
                }
            }
        }
    }

    /// Re-checks that are due (accounts that need attention, at `next_check`).
    pub fn recheck_due(&self, now: Instant) -> bool {
        matches!(&self.state, State::NeedsAttention { next_check, .. } if now >= *next_check)
    }

    /// A re-check failed: try again after a doubled wait, keeping the newest reason.
    pub fn on_recheck_failure(&mut self, reason: &str, now: Instant, policy: &HealthPolicy) {
        self.recheck_streak = self.recheck_streak.saturating_add(1);
        let wait = doubled(policy.recheck_base, self.recheck_streak, policy.recheck_max);
        self.state = State::NeedsAttention {
            reason: reason.to_owned(),
            next_check: now + wait,
        };
    }

    /// When this account is next worth waiting for, if it is not usable now.
    pub fn ready_at(&self, now: Instant) -> Option<Instant> {
        match self.availability(now) {
            Availability::Ready | Availability::Probe => Some(now),
            Availability::NotBefore(t) => Some(t),
            Availability::Parked => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HealthPolicy {
        HealthPolicy {
            cooldown_base: Duration::from_secs(60),
            cooldown_max: Duration::from_secs(300),
            circuit_failures: 3,
            circuit_open: Duration::from_secs(30),
            recheck_base: Duration::from_secs(10),
            recheck_max: Duration::from_secs(80),
        }
    }

    #[test]
    fn rate_limits_cool_down_with_doubling_to_a_cap_and_success_resets() {
        let (p, t0) = (policy(), Instant::now());
        let mut h = Health::default();
        let mut expected = [60, 120, 240, 300, 300].into_iter();
        let mut now = t0;
        for _ in 0..5 {
            h.on_failure(Blame::AccountRateLimited, "429", now, &p);
            let rest = Duration::from_secs(expected.next().unwrap());
            assert_eq!(h.availability(now), Availability::NotBefore(now + rest));
            now += rest;
            assert_eq!(
                h.availability(now),
                Availability::Ready,
                "usable again once the time passed"
            );
        }
        h.on_success();
        h.on_failure(Blame::AccountRateLimited, "429", now, &p);
        assert_eq!(
            h.availability(now),
            Availability::NotBefore(now + Duration::from_secs(60))
        );
    }

    #[test]
    fn auth_failures_park_the_account_until_a_recheck() {
        let (p, t0) = (policy(), Instant::now());
        let mut h = Health::default();
        h.on_failure(
            Blame::AccountUnusable,
            "HTTP 401 (unauthenticated): Invalid API Key",
            t0,
            &p,
        );
        assert_eq!(
            h.availability(t0 + Duration::from_secs(3600)),
            Availability::Parked
        );
        assert!(
            matches!(h.state(), State::NeedsAttention { reason, .. } if reason.contains("Invalid API Key"))
        );
        assert!(!h.recheck_due(t0 + Duration::from_secs(9)));
        assert!(h.recheck_due(t0 + Duration::from_secs(10)));
        let mut now = t0 + Duration::from_secs(10);
        for wait in [20, 40, 80, 80] {
            h.on_recheck_failure("still 401", now, &p);
            assert!(!h.recheck_due(now + Duration::from_secs(wait - 1)));
            now += Duration::from_secs(wait);
            assert!(h.recheck_due(now), "re-check backoff {wait}s");
        }
        h.on_success();
        assert_eq!(h.availability(now), Availability::Ready);
    }

    #[test]
    fn repeated_transient_failures_open_the_circuit_then_one_probe_decides() {
        let (p, t0) = (policy(), Instant::now());
        let mut h = Health::default();
        h.on_failure(Blame::Transient, "500", t0, &p);
        h.on_failure(Blame::Transient, "500", t0, &p);
        assert_eq!(
            h.availability(t0),
            Availability::Ready,
            "two failures are not yet a pattern"
        );
        h.on_failure(Blame::Transient, "500", t0, &p);
        assert_eq!(
            h.availability(t0),
            Availability::NotBefore(t0 + Duration::from_secs(30))
        );
        let later = t0 + Duration::from_secs(30);
        assert_eq!(h.availability(later), Availability::Probe);
        h.start_probe();
        assert!(
            matches!(h.availability(later), Availability::NotBefore(_)),
            "only one probe at a time"
        );
        h.on_failure(Blame::Transient, "500 again", later, &p);
        assert_eq!(
            h.availability(later),
            Availability::NotBefore(later + Duration::from_secs(30)),
            "a failed probe re-opens"
        );
        let again = later + Duration::from_secs(30);
        assert_eq!(h.availability(again), Availability::Probe);
        h.start_probe();
        h.on_success();
        assert_eq!(h.availability(again), Availability::Ready);
        assert_eq!(h.state(), &State::Healthy);
    }

    #[test]
    fn the_requests_own_fault_changes_nothing() {
        let (p, t0) = (policy(), Instant::now());
        let mut h = Health::default();
        for _ in 0..10 {
            h.on_failure(Blame::Request, "context_length_exceeded", t0, &p);
        }
        assert_eq!(h.state(), &State::Healthy);
        assert_eq!(h.availability(t0), Availability::Ready);
    }

    #[test]
    fn doubling_saturates() {
        assert_eq!(
            doubled(Duration::from_secs(1), 200, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
        assert_eq!(
            doubled(Duration::from_secs(1), 3, Duration::from_secs(100)),
            Duration::from_secs(8)
        );
    }
}
