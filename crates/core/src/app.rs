//! The application: the engine, the control plane that changes it, where usage rows go, and
//! the database, built once and shared by the server and the desktop shell; and the
//! background upkeep they need while serving, all in one place.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::now_ms;
use crate::control::Control;
use crate::engine::Engine;
use crate::store::writer::UsageSink;
use crate::store::{Store, StoreError};

pub struct App {
    /// The domain: accounts, settings, model aliases and the catalogue, client tokens, the
    /// upstream client. In an `Arc` because a stream's body outlives its request handler.
    pub engine: Arc<Engine>,
    /// Changes people make: stored, then applied to `engine`.
    pub control: Control,
    /// Where each request's usage goes (the writer thread batches it into SQLite).
    pub usage: UsageSink,
    /// Reads from the database, off the async threads.
    pub store: Arc<Store>,
}

impl App {
    /// Runs every background task until `stop` (called once per task) resolves: account
    /// re-checks, the endpoint catalogue, deleting finished upstream sessions, usage
    /// retention, and persisting reuse sessions and account states.
    pub async fn run_upkeep<F, Fut>(&self, stop: F)
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ()>,
    {
        let engine = &*self.engine;
        tokio::join!(
            engine.run_rechecks(stop()),
            engine.run_janitor(stop()),
            self.control.run_catalogue(engine, stop()),
            self.prune_usage(stop()),
            self.persist(stop()),
            crate::quiet::REFUSALS.run(stop()),
        );
    }

    /// Requests that finished since `from_ms` (Unix ms), from the hourly totals.
    pub async fn requests_since(&self, from_ms: i64) -> Result<u64, StoreError> {
        let to = now_ms() + 1;
        let overview = self
            .store
            .read(move |conn| crate::store::usage::overview(conn, from_ms, to))
            .await?;
        Ok(overview.requests)
    }

    /// Asks the usage writer to drop raw rows past `usage_retention_days`, at start and
    /// every ten minutes.
    async fn prune_usage(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let days = i64::from(self.engine.settings().usage_retention_days);
            self.usage.prune(now_ms() - days * 86_400_000);
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(Duration::from_secs(600)) => {}
            }
        }
    }

    /// Writes reuse-mode session changes every second and account states every few
    /// seconds, and both once more at `stop`, so a restart finds them.
    async fn persist(&self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut tick: u32 = 0;
        loop {
            let stopping = tokio::select! {
                () = &mut stop => true,
                () = tokio::time::sleep(Duration::from_secs(1)) => false,
            };
            tick = tick.wrapping_add(1);
            let (control, engine) = (&self.control, &*self.engine);
            if let Err(error) = control.persist_sessions(engine).await {
                tracing::warn!(%error, "writing reuse-mode sessions failed; will retry");
            }
            if (stopping || tick % 5 == 0)
                && let Err(error) = control.persist_account_states(engine).await
            {
                tracing::warn!(%error, "writing account states failed; will retry");
            }
            if stopping {
                return;
            }
        }
    }
}
