//! The loop over accounts: pick one the model may use, attempt, classify the failure by its
//! blame, and go on to the next account or stop.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{DispatchError, Engine, Hold};
use crate::chat::ChatPlan;
use crate::config::Settings;
use crate::pool::{Account, AccountState, Lease, NoPick};
use crate::record::Attempts;
use crate::upstream::error::{Blame, UpstreamError};

/// What to do when no account could be picked.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum WhenNone {
    /// Wait until then and pick again.
    Wait(Instant),
    /// Stop with this error (`None`: every attempt is spent; the last failure decides).
    Stop(Option<DispatchError>),
}

/// The decision after a failed pick: wait for the earliest account if it comes back before
/// `wait_until`, else stop with why. Pure, so the rules are tested without a clock.
pub(super) fn when_none(
    why: NoPick,
    now: Instant,
    wait_until: Instant,
    recheck_base: Duration,
    endpoint_id: &str,
    last: Option<UpstreamError>,
) -> WhenNone {
    match why {
        NoPick::Empty => WhenNone::Stop(None),
        NoPick::NoneForModel => WhenNone::Stop(Some(DispatchError::ModelRefused {
            endpoint_id: endpoint_id.to_owned(),
            last,
        })),
        NoPick::Unavailable { earliest: Some(at) } if at <= wait_until => {
            WhenNone::Wait(at.max(now + Duration::from_millis(1)))
        }
        NoPick::Unavailable { earliest } => WhenNone::Stop(Some(DispatchError::Unavailable {
            retry_after: earliest
                .map(|at| at.saturating_duration_since(now))
                .or(Some(recheck_base)),
            last,
        })),
    }
}

/// What a failed attempt means for the request and its account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AfterFailure {
    /// The request's own fault: answer the client now; the account is not touched.
    Reject,
    /// Every account would fail alike: note the proxy-wide problem and stop.
    ProxyProblem,
    /// This account may not use this model: keep it off the model, try another.
    BlockModel,
    /// Record it in the account's health (which may set it aside) and try another.
    NextAccount,
    /// Try another, leaving the account's health alone (it cannot upload images now).
    OtherAccount,
    /// The way out failed (certificate, proxy, name lookup): note the problem, leave every
    /// account's health alone, and try only accounts that go out another way.
    OtherWay,
}

pub(super) fn after_failure(blame: Blame) -> AfterFailure {
    match blame {
        Blame::Request => AfterFailure::Reject,
        Blame::Proxy => AfterFailure::ProxyProblem,
        Blame::ModelRefused => AfterFailure::BlockModel,
        Blame::AccountUnusable | Blame::AccountRateLimited | Blame::Transient => {
            AfterFailure::NextAccount
        }
        Blame::Uploads | Blame::Connection => AfterFailure::OtherAccount,
        Blame::Network => AfterFailure::OtherWay,
    }
}

impl Engine {
    /// Runs `attempt` on accounts in turn until one succeeds or the rules say stop.
    /// `attempts` counts as it goes, so a caller's timeout can still report it.
    /// `resume` is reuse mode's first choice: a lease on the conversation's account and the
    /// session to continue; the attempt gets the session id, later attempts `None`.
    pub(super) async fn with_failover<T, F, Fut>(
        &self,
        settings: &Settings,
        plan: &ChatPlan,
        attempts: &Attempts,
        mut resume: Option<(Lease, String)>,
        mut attempt: F,
    ) -> Result<(T, Hold, u32), DispatchError>
    where
        F: FnMut(Arc<Account>, Option<String>) -> Fut,
        Fut: Future<Output = Result<T, UpstreamError>>,
    {
        let mut tried: Vec<String> = Vec::new();
        let mut last: Option<(UpstreamError, String)> = None;
        // Since when this request has waited for an account to come free, if it is waiting.
        let mut waiting: Option<Instant> = None;
        let wait_until = Instant::now() + settings.no_account_wait;
        let endpoint = plan.endpoint_id.as_str();
        let pool = &self.routing.pool;
        while attempts.count() <= settings.max_retries {
            let now = Instant::now();
            let serves = |a: &Account| self.serves(a, endpoint, now);
            let (lease, session) = match resume.take() {
                Some((lease, session)) => (lease, Some(session)),
                None => match pool.pick_for(settings.pool_strategy, &tried, now, &serves) {
                    Ok(lease) => {
                        self.waited_for_account(settings, waiting.take());
                        (lease, None)
                    }
                    Err(why) => {
                        let last_error = last.as_ref().map(|(e, _)| e.clone());
                        let recheck = settings.health.recheck_base;
                        let next = when_none(why, now, wait_until, recheck, endpoint, last_error);
                        if !matches!(next, WhenNone::Wait(_)) {
                            self.waited_for_account(settings, waiting.take());
                        }
                        match next {
                            WhenNone::Wait(at) => {
                                waiting.get_or_insert(now);
                                tokio::time::sleep_until(at.into()).await;
                                continue;
                            }
                            WhenNone::Stop(Some(error)) => return Err(error),
                            WhenNone::Stop(None) => break,
                        }
                    }
                },
            };
            let account = lease.account().clone();
            if let Some((error, _)) = &last
                && settings.metrics
            {
                self.watch.telemetry.failed_over(error.blame().as_str());
            }
            if tried.contains(&account.name) && !settings.retry_delay.is_zero() {
                tokio::time::sleep(settings.retry_delay).await;
            }
            let Ok(permit) = self
                .routing
                .gate
                .acquire(settings.max_concurrent_upstream, wait_until.into())
                .await
            else {
                tracing::warn!(
                    in_flight = self.routing.gate.in_flight(),
                    "the upstream concurrency cap stayed full"
                );
                return Err(DispatchError::Unavailable {
                    retry_after: Some(Duration::from_secs(1)),
                    last: last.map(|(e, _)| e),
                });
            };
            let n = attempts.begin();
            match attempts.upstream(attempt(account.clone(), session)).await {
                Ok(value) => {
                    account.record_success();
                    self.clear_problem();
                    return Ok((
                        value,
                        Hold {
                            lease,
                            _permit: permit,
                        },
                        n,
                    ));
                }
                Err(error) => {
                    let blame = error.blame();
                    tracing::warn!(account = %account.name, attempt = n, ?blame, %error, "upstream attempt failed");
                    attempts.failed(&account.name, &error);
                    match after_failure(blame) {
                        AfterFailure::Reject => {
                            return Err(DispatchError::Rejected {
                                error,
                                account: account.name.clone(),
                            });
                        }
                        AfterFailure::ProxyProblem => {
                            self.set_problem(&error);
                            return Err(DispatchError::Proxy {
                                error,
                                account: account.name.clone(),
                            });
                        }
                        AfterFailure::BlockModel => {
                            tracing::warn!(account = %account.name, endpoint, "this account may not use this model; it serves the others");
                            account.block_model(
                                endpoint,
                                &error.to_string(),
                                Instant::now() + settings.health.recheck_max,
                            );
                        }
                        AfterFailure::NextAccount => {
                            account.record_failure(
                                blame,
                                &error.to_string(),
                                Instant::now(),
                                &settings.health,
                            );
                            Self::log_set_aside(&account);
                        }
                        AfterFailure::OtherAccount => {}
                        AfterFailure::OtherWay => {
                            self.set_problem(&error);
                            let accounts = pool.accounts();
                            let same_way = |a: &Account| a.same_way(&account);
                            if accounts
                                .iter()
                                .all(|a| same_way(a) || tried.contains(&a.name))
                            {
                                return Err(DispatchError::Exhausted {
                                    last: error,
                                    attempts: attempts.count(),
                                    account: account.name.clone(),
                                });
                            }
                            for other in accounts.iter().filter(|a| same_way(a)) {
                                if !tried.contains(&other.name) {
                                    tried.push(other.name.clone());
                                }
                            }
                        }
                    }
                    if !tried.contains(&account.name) {
                        tried.push(account.name.clone());
                    }
                    last = Some((error, account.name.clone()));
                }
            }
        }
        match last {
            Some((last, account)) => Err(DispatchError::Exhausted {
                last,
                attempts: attempts.count(),
                account,
            }),
            None => Err(DispatchError::NoAccounts),
        }
    }

    /// Counts a wait for an account (in `/metrics`), once it is over.
    fn waited_for_account(&self, settings: &Settings, since: Option<Instant>) {
        if let Some(since) = since
            && settings.metrics
        {
            self.watch.telemetry.pool_waited(since.elapsed());
        }
    }

    /// Says so when a failure took an account out of rotation, with why and for how long:
    /// until the admin API shows states, the log is where a headless user sees them.
    pub(super) fn log_set_aside(account: &Account) {
        let status = account.status(Instant::now());
        if !matches!(status.state, AccountState::Healthy | AccountState::Disabled) {
            tracing::warn!(
                account = %account.name,
                state = %status.state,
                reason = status.reason.as_deref().unwrap_or(""),
                retry_in_s = status.retry_in.map(|d| d.as_secs_f64()),
                "account set aside"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_no_account_can_be_picked() {
        let now = Instant::now();
        let until = now + Duration::from_secs(10);
        let recheck = Duration::from_secs(60);
        let soon = now + Duration::from_secs(3);
        assert_eq!(
            when_none(
                NoPick::Unavailable {
                    earliest: Some(soon)
                },
                now,
                until,
                recheck,
                "e",
                None
            ),
            WhenNone::Wait(soon),
            "an account back within no_account_wait is waited for"
        );
        assert_eq!(
            when_none(
                NoPick::Unavailable {
                    earliest: Some(now)
                },
                now,
                until,
                recheck,
                "e",
                None
            ),
            WhenNone::Wait(now + Duration::from_millis(1)),
            "never a busy loop"
        );
        let late = now + Duration::from_secs(30);
        assert_eq!(
            when_none(
                NoPick::Unavailable {
                    earliest: Some(late)
                },
                now,
                until,
                recheck,
                "e",
                None
            ),
            WhenNone::Stop(Some(DispatchError::Unavailable {
                retry_after: Some(Duration::from_secs(30)),
                last: None
            })),
            "later than the wait: a 503 with when to come back"
        );
        assert_eq!(
            when_none(
                NoPick::Unavailable { earliest: None },
                now,
                until,
                recheck,
                "e",
                None
            ),
            WhenNone::Stop(Some(DispatchError::Unavailable {
                retry_after: Some(recheck),
                last: None
            })),
            "only a re-check can help: suggest its interval"
        );
        assert_eq!(
            when_none(NoPick::Empty, now, until, recheck, "e", None),
            WhenNone::Stop(None)
        );
        let refusal = UpstreamError::Truncated;
        assert_eq!(
            when_none(
                NoPick::NoneForModel,
                now,
                until,
                recheck,
                "e",
                Some(refusal.clone())
            ),
            WhenNone::Stop(Some(DispatchError::ModelRefused {
                endpoint_id: "e".into(),
                last: Some(refusal)
            }))
        );
    }

    #[test]
    fn what_a_failure_means() {
        assert_eq!(after_failure(Blame::Request), AfterFailure::Reject);
        assert_eq!(after_failure(Blame::Proxy), AfterFailure::ProxyProblem);
        assert_eq!(after_failure(Blame::ModelRefused), AfterFailure::BlockModel);
        for blame in [
            Blame::AccountUnusable,
            Blame::AccountRateLimited,
            Blame::Transient,
        ] {
            assert_eq!(after_failure(blame), AfterFailure::NextAccount);
        }
    }
}
