//! The doctor run over the pool: each enabled account (or the one named) checked in turn
//! against the real on-demand.io, on its own way out ([`crate::upstream::doctor`]).

use std::sync::Arc;
use std::time::Instant;

use crate::pool::{Account, AccountState};
use crate::upstream::doctor::{Checkup, Progress, Report};

use super::Engine;

/// Why the doctor did not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DoctorRefusal {
    #[error("no account named {0:?}")]
    NoSuchAccount(String),
    #[error("no enabled account to check")]
    NoAccounts,
    #[error(
        "account {0:?} is resting after a 429 from on-demand.io; checking it now would spend its allowance (force to run anyway)"
    )]
    Resting(String),
}

impl Engine {
    /// The accounts a checkup of `account` (else of every enabled account) would cover;
    /// one cooling down after a 429 is refused unless `force`.
    pub fn doctor_accounts(
        &self,
        account: Option<&str>,
        force: bool,
    ) -> Result<Vec<Arc<Account>>, DoctorRefusal> {
        let accounts = self.routing.pool.accounts();
        let chosen: Vec<Arc<Account>> = match account {
            Some(name) => vec![
                accounts
                    .iter()
                    .find(|a| a.name == name)
                    .cloned()
                    .ok_or_else(|| DoctorRefusal::NoSuchAccount(name.to_owned()))?,
            ],
            // A simulated account is checked only where the demo upstream runs.
            None => accounts
                .iter()
                .filter(|a| a.enabled && (!a.simulated() || self.routing.upstream.simulating()))
                .cloned()
                .collect(),
        };
        if chosen.is_empty() {
            return Err(DoctorRefusal::NoAccounts);
        }
        let now = Instant::now();
        if !force
            && let Some(resting) = chosen
                .iter()
                .find(|a| a.status(now).state == AccountState::CoolingDown)
        {
            return Err(DoctorRefusal::Resting(resting.name.clone()));
        }
        Ok(chosen)
    }

    /// Checks each of `accounts` in turn (with the media step when `media`), telling
    /// `progress` of each step as it ends.
    pub async fn doctor(
        &self,
        accounts: &[Arc<Account>],
        media: bool,
        progress: Progress<'_>,
    ) -> Vec<Report> {
        let catalog = self.catalog();
        let mut targets: Vec<String> = catalog.aliases().map(|(_, t)| t.to_owned()).collect();
        targets.sort();
        targets.dedup();
        let settings = self.settings();
        let mut reports = Vec::with_capacity(accounts.len());
        for account in accounts {
            let checkup = Checkup {
                name: &account.name,
                caller: account.caller(),
                alias_targets: &targets,
                media,
            };
            reports.push(
                self.routing
                    .upstream
                    .doctor(checkup, &settings, progress)
                    .await,
            );
        }
        reports
    }
}
