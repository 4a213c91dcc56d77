//! The engine's background work: re-checking accounts that need attention, reading the
//! endpoint catalogue, and deleting finished upstream sessions.

use std::future::Future;
use std::time::{Duration, Instant};

use super::Engine;
use crate::upstream::auth::Credential;

impl Engine {
    /// Reads the endpoint catalogue for every API-key account (or those `only` names), all
    /// at once. Email/password accounts have no catalogue route and are left out.
    pub async fn read_endpoints(
        &self,
        only: Option<&[String]>,
    ) -> Vec<(String, Result<Vec<crate::endpoints::Endpoint>, String>)> {
        let settings = self.settings();
        let now = crate::clock::now_ms();
        let accounts = self.routing.pool.accounts();
        let reads = accounts.iter().filter_map(|account| {
            if !matches!(account.credential, Credential::ApiKey(_)) {
                return None;
            }
            if only.is_some_and(|names| !names.contains(&account.name)) {
                return None;
            }
            let settings = settings.clone();
            Some(async move {
                let read = self
                    .routing
                    .upstream
                    .list_endpoints(account.caller(), &settings, now)
                    .await
                    .map_err(|e| e.to_string());
                (account.name.clone(), read)
            })
        });
        futures_util::future::join_all(reads).await
    }

    /// The names of the accounts that can read the catalogue (API-key accounts).
    pub fn catalogue_accounts(&self) -> Vec<String> {
        self.routing
            .pool
            .accounts()
            .iter()
            .filter(|a| matches!(a.credential, Credential::ApiKey(_)))
            .map(|a| a.name.clone())
            .collect()
    }

    /// Asks the catalogue task to read these accounts' catalogues soon (an account was
    /// added, or its key changed).
    pub fn wake_catalogue(&self, accounts: &[String]) {
        self.routing
            .catalogue_due
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(accounts.iter().cloned());
        self.routing.catalogue_wake.notify_one();
    }

    /// Waits for [`Engine::wake_catalogue`] and returns the accounts it named (none when two
    /// wakes were taken at once).
    pub async fn catalogue_woken(&self) -> Vec<String> {
        self.routing.catalogue_wake.notified().await;
        std::mem::take(
            &mut *self
                .routing
                .catalogue_due
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Deletes finished upstream sessions (queued by their tickets) until `stop` resolves.
    /// Runs once: a second call returns at once.
    pub async fn run_janitor(&self, stop: impl Future<Output = ()>) {
        let queue = self
            .sessions
            .janitor_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(queue) = queue else {
            return;
        };
        let delete = |job: crate::janitor::Finished| async move {
            // Whether to clean up was decided when the session was queued: one queued before
            // `delete_sessions` was turned off is still deleted (and counted as such).
            let settings = self.settings();
            let account = self
                .routing
                .pool
                .accounts()
                .iter()
                .find(|a| a.name == job.account)
                .cloned()
                .ok_or_else(|| format!("account {} is gone", job.account))?;
            let deleted = match job.what {
                crate::janitor::Leftover::Session => {
                    self.routing
                        .upstream
                        .delete_session(account.caller(), &settings, &job.id)
                        .await
                }
                crate::janitor::Leftover::Media => {
                    self.routing
                        .upstream
                        .delete_media(account.caller(), &settings, &job.id)
                        .await
                }
            };
            deleted.map_err(|e| e.to_string())
        };
        queue.run(delete, stop).await;
    }

    /// Re-checks accounts that need attention, each when its backoff says, until `stop`
    /// resolves. A re-check is the cheapest real call: creating a session.
    pub async fn run_rechecks(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let settings = self.settings();
            let tick = (settings.health.recheck_base / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(1));
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(tick) => {}
            }
            for account in self.routing.pool.accounts().iter() {
                if !account.enabled || !account.recheck_due(Instant::now()) {
                    continue;
                }
                match self
                    .routing
                    .upstream
                    .create_session(account.caller(), &settings, "ondemand-proxy-recheck")
                    .await
                {
                    Ok(session_id) => {
                        tracing::info!(account = %account.name, "account re-check succeeded; back in rotation");
                        account.reset();
                        // The probe's session is finished at once: clean it up like any other.
                        drop(self.ticket(&settings, &account.name, &session_id));
                    }
                    Err(error) => {
                        tracing::info!(account = %account.name, %error, "account re-check failed; will try again later");
                        account.record_recheck_failure(
                            &error.to_string(),
                            Instant::now(),
                            &settings.health,
                        );
                    }
                }
            }
        }
    }
}
