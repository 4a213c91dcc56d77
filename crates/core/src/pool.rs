//! The account pool: which on-demand.io account serves the next attempt.
//!
//! Round-robin over a snapshot of the account list. The list is swapped atomically
//! (`ArcSwap`), so selection takes no lock and a change applies to the next request without
//! disturbing requests in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::config::AccountConfig;
use crate::upstream::auth::{Credential, PasswordLogin};

#[derive(Debug)]
pub struct Account {
    /// Unique within the pool; what logs, usage and errors name (never the secret).
    pub name: String,
    pub credential: Credential,
}

impl Account {
    pub fn from_config(config: &AccountConfig) -> Self {
        match config {
            AccountConfig::ApiKey { name, api_key } => Self {
                name: name.clone(),
                credential: Credential::ApiKey(api_key.clone()),
            },
            AccountConfig::Password {
                name,
                email,
                password,
            } => Self {
                name: name.clone(),
                credential: Credential::Password(Arc::new(PasswordLogin::new(
                    email.clone(),
                    password.clone(),
                ))),
            },
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.credential {
            Credential::ApiKey(_) => "api_key",
            Credential::Password(_) => "email_password",
        }
    }
}

#[derive(Debug, Default)]
pub struct Pool {
    accounts: ArcSwap<Vec<Arc<Account>>>,
    cursor: AtomicUsize,
}

/// A chosen account, and whether this request had not tried it yet.
pub struct Pick {
    pub account: Arc<Account>,
    pub fresh: bool,
}

impl Pool {
    pub fn new(accounts: Vec<Account>) -> Self {
        Self {
            accounts: ArcSwap::from_pointee(accounts.into_iter().map(Arc::new).collect()),
            cursor: AtomicUsize::new(0),
        }
    }

    pub fn replace(&self, accounts: Vec<Account>) {
        self.accounts
            .store(Arc::new(accounts.into_iter().map(Arc::new).collect()));
    }

    pub fn len(&self) -> usize {
        self.accounts.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next account in turn that is not `excluded`, preferring one not yet `tried` by
    /// this request.
    pub fn pick(&self, tried: &[String], excluded: &[String]) -> Option<Pick> {
        let accounts = self.accounts.load();
        let n = accounts.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed);
        let mut in_turn = (0..n).map(|i| &accounts[(start + i) % n]);
        let usable = |a: &&Arc<Account>| !excluded.contains(&a.name);
        let untried = in_turn
            .clone()
            .filter(usable)
            .find(|a| !tried.contains(&a.name));
        match untried {
            Some(account) => Some(Pick {
                account: account.clone(),
                fresh: true,
            }),
            None => in_turn.find(usable).map(|a| Pick {
                account: a.clone(),
                fresh: false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn pool(names: &[&str]) -> Pool {
        Pool::new(
            names
                .iter()
                .map(|n| {
                    Account::from_config(&AccountConfig::ApiKey {
                        name: (*n).into(),
                        api_key: Secret::new("k"),
                    })
                })
                .collect(),
        )
    }

    #[test]
    fn round_robin_spreads_evenly() {
        let p = pool(&["a", "b", "c"]);
        let picks: Vec<_> = (0..6)
            .map(|_| p.pick(&[], &[]).unwrap().account.name.clone())
            .collect();
        assert_eq!(picks, ["a", "b", "c", "a", "b", "c"]);
    }

    #[test]
    fn prefers_untried_and_skips_excluded() {
        let p = pool(&["a", "b", "c"]);
        let pick = p.pick(&["a".into(), "b".into()], &[]).unwrap();
        assert_eq!((pick.account.name.as_str(), pick.fresh), ("c", true));
        let all: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let again = p.pick(&all, &["a".into()]).unwrap();
        assert!(!again.fresh);
        assert_ne!(again.account.name, "a");
        assert!(p.pick(&all, &all).is_none());
        assert!(pool(&[]).pick(&[], &[]).is_none());
    }
}
