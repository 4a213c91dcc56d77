//! Keeping the live endpoint catalogue (§14.1): read at start, every few hours, when an
//! account is added or its key changes, and when a person asks; stored after each read so a
//! restart begins from the last good one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::{Control, ControlError};
use crate::clock::now_ms;
use crate::endpoints::EndpointCatalog;
use crate::engine::Engine;
use crate::store::endpoints as rows;

/// How soon a changed `catalogue_refresh_seconds` is heeded at most.
const RECONSIDER: Duration = Duration::from_secs(60);

/// How long an endpoint that no account lists any more is still shown (as gone).
const KEEP_UNLISTED_MS: i64 = 30 * 86_400_000;

/// Shortest time between two reads of the catalogues asked for through the admin API.
pub const ASKED_REFRESH_COOLDOWN: std::time::Duration = std::time::Duration::from_secs(10);

impl Control {
    /// A refresh a person (or a script) asked for: the catalogues are read at most once per
    /// [`ASKED_REFRESH_COOLDOWN`]; an ask within it gets the catalogue just read, and costs
    /// on-demand.io nothing.
    pub async fn refresh_endpoints_asked(
        &self,
        engine: &Engine,
    ) -> Result<Arc<EndpointCatalog>, ControlError> {
        let now = std::time::Instant::now();
        {
            let mut last = self
                .asked_refresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.is_some_and(|at| now.duration_since(at) < ASKED_REFRESH_COOLDOWN) {
                return Ok(engine.endpoints());
            }
            *last = Some(now);
        }
        self.refresh_endpoints(engine, None).await
    }

    /// Reads the catalogue for every API-key account (or those `only` names), keeps the
    /// result in the engine and the store, and returns it. A failed read keeps that
    /// account's last good list; reads are serialised so none is lost.
    pub async fn refresh_endpoints(
        &self,
        engine: &Engine,
        only: Option<&[String]>,
    ) -> Result<Arc<EndpointCatalog>, ControlError> {
        let _one_at_a_time = self.catalogue_order.lock().await;
        let reads = engine.read_endpoints(only).await;
        let now = now_ms();
        let mut next = (*engine.endpoints()).clone();
        for (account, read) in reads {
            if let Err(error) = &read {
                tracing::warn!(%account, %error, "reading the endpoint catalogue failed; keeping the last good one");
            }
            next = next.with_read(&account, read, now);
        }
        let names = engine.catalogue_accounts();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let next = next.retain_accounts(&names, now, KEEP_UNLISTED_MS);
        if next != *engine.endpoints() {
            let stored = next.clone();
            self.store
                .write(move |tx| -> Result<(), ControlError> { Ok(rows::save(tx, &stored)?) })
                .await?;
            engine.set_endpoints(next);
        }
        Ok(engine.endpoints())
    }

    /// Reads every catalogue now and every `catalogue_refresh_seconds` (a change is heeded
    /// within a minute), and the accounts named by [`Engine::wake_catalogue`] when woken,
    /// until `stop` resolves.
    pub async fn run_catalogue(&self, engine: &Engine, stop: impl Future<Output = ()>) {
        use tokio::time::{Instant, sleep_until};
        tokio::pin!(stop);
        let mut last_full: Option<Instant> = None;
        loop {
            let next_full =
                last_full.map_or_else(Instant::now, |at| at + engine.settings().catalogue_refresh);
            let only = tokio::select! {
                () = &mut stop => return,
                () = sleep_until(next_full.min(Instant::now() + RECONSIDER)) => {
                    if Instant::now() < next_full {
                        continue;
                    }
                    last_full = Some(Instant::now());
                    None
                }
                due = engine.catalogue_woken() => Some(due),
            };
            if only.as_ref().is_some_and(Vec::is_empty) {
                continue;
            }
            if let Err(error) = self.refresh_endpoints(engine, only.as_deref()).await {
                tracing::warn!(%error, "storing the endpoint catalogue failed");
            }
        }
    }
}
