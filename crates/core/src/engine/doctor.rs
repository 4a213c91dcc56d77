//! The doctor run over the pool: each enabled account (or the one named) checked in turn
//! against the real on-demand.io, on its own way out ([`crate::upstream::doctor`]).

use std::time::Instant;

use crate::pool::AccountState;
use crate::upstream::doctor::{Checkup, Report};

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
    /// Checks `account` (else every enabled account), with the media step when `media`.
    /// An account cooling down (a 429) is left alone unless `force`.
    pub async fn doctor(
        &self,
        account: Option<&str>,
        media: bool,
        force: bool,
    ) -> Result<Vec<Report>, DoctorRefusal> {
        let accounts = self.pool.accounts();
        let chosen: Vec<_> = match account {
            Some(name) => vec![
                accounts
                    .iter()
                    .find(|a| a.name == name)
                    .ok_or_else(|| DoctorRefusal::NoSuchAccount(name.to_owned()))?,
            ],
            // A simulated account is checked only where the demo upstream runs.
            None => accounts
                .iter()
                .filter(|a| a.enabled && (!a.simulated() || self.upstream.simulating()))
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
        let catalog = self.catalog();
        let mut targets: Vec<String> = catalog.aliases().map(|(_, t)| t.to_owned()).collect();
        targets.sort();
        targets.dedup();
        let settings = self.settings();
        let mut reports = Vec::with_capacity(chosen.len());
        for account in chosen {
            let checkup = Checkup {
                name: &account.name,
                caller: account.caller(),
                alias_targets: &targets,
                media,
            };
            reports.push(self.upstream.doctor(checkup, &settings).await);
        }
        Ok(reports)
    }
}
