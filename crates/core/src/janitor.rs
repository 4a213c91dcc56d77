//! Session hygiene: upstream sessions the proxy has finished with are deleted in the
//! background (`DELETE /chat/v1/sessions/{id}`, §14.3), so stateless mode does not leave one
//! session per request in the user's on-demand.io history; and so are the images it
//! uploaded for a description (`DELETE /media/v1/public/file/{id}`), which would otherwise
//! pile up in the account.
//!
//! - Never on the request path: a finished session is handed over with a non-blocking
//!   `try_send` (by dropping its [`SessionTicket`]), and a background task deletes it.
//! - Bounded: the queue holds at most [`QUEUE`] sessions; past that a session is dropped and
//!   counted, never waited for. At most [`CONCURRENCY`] deletes run at once.
//! - Failures are ignored (a session left behind is harmless) and counted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::mpsc;

/// Sessions waiting to be deleted, at most.
pub const QUEUE: usize = 4096;
/// Deletes in flight at once, at most.
pub const CONCURRENCY: usize = 4;

/// What is left upstream to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    Session,
    /// An uploaded image.
    Media,
}

/// One thing to delete: the account it belongs to (by name, looked up when the delete
/// runs, so no credential waits in the queue), what it is, and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub account: String,
    pub what: Leftover,
    pub id: String,
}

/// What the janitor has done since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct JanitorStats {
    pub deleted: u64,
    pub failed: u64,
    /// Not queued because the queue was full.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    deleted: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

/// The queue's sending side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Janitor {
    tx: mpsc::Sender<Finished>,
    counters: Arc<Counters>,
}

/// The queue's receiving side, for the background task.
#[derive(Debug)]
pub struct JanitorQueue {
    rx: mpsc::Receiver<Finished>,
    counters: Arc<Counters>,
}

impl Janitor {
    pub fn new() -> (Self, JanitorQueue) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        (
            Self {
                tx,
                counters: counters.clone(),
            },
            JanitorQueue { rx, counters },
        )
    }

    /// Queues a session for deletion without waiting.
    pub fn finished(&self, account: &str, session_id: &str) {
        self.queue(account, Leftover::Session, session_id);
    }

    /// Queues an uploaded image for deletion without waiting.
    pub fn uploaded(&self, account: &str, media_id: &str) {
        self.queue(account, Leftover::Media, media_id);
    }

    fn queue(&self, account: &str, what: Leftover, id: &str) {
        let job = Finished {
            account: account.to_owned(),
            what,
            id: id.to_owned(),
        };
        if self.tx.try_send(job).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A ticket that queues the session when dropped, unless disarmed first.
    pub fn ticket(&self, account: &str, session_id: &str) -> SessionTicket {
        SessionTicket(Some((
            self.clone(),
            account.to_owned(),
            session_id.to_owned(),
        )))
    }

    pub fn stats(&self) -> JanitorStats {
        let c = &self.counters;
        JanitorStats {
            deleted: c.deleted.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }
}

impl JanitorQueue {
    /// Runs `delete` for every queued session, [`CONCURRENCY`] at a time, until `stop`
    /// resolves (what is still queued then stays upstream).
    pub async fn run<F, Fut>(mut self, delete: F, stop: impl std::future::Future<Output = ()>)
    where
        F: Fn(Finished) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        use futures_util::StreamExt;
        use futures_util::stream::FuturesUnordered;
        tokio::pin!(stop);
        let mut running = FuturesUnordered::new();
        let counters = self.counters.clone();
        loop {
            tokio::select! {
                () = &mut stop => return,
                Some(result) = running.next(), if !running.is_empty() => {
                    let counter = match result {
                        Ok(()) => &counters.deleted,
                        Err(error) => {
                            tracing::debug!(%error, "deleting a finished upstream session failed");
                            &counters.failed
                        }
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                job = self.rx.recv(), if running.len() < CONCURRENCY => match job {
                    Some(job) => running.push(delete(job)),
                    None if running.is_empty() => return,
                    None => {}
                },
            }
        }
    }
}

/// A session in use. Dropped while armed, it is queued for deletion: however the request
/// ends (answered, failed, abandoned by its client), its session is cleaned up.
#[derive(Debug, Default)]
pub struct SessionTicket(Option<(Janitor, String, String)>);

impl SessionTicket {
    /// A ticket that does nothing (cleanup is off).
    pub fn none() -> Self {
        Self(None)
    }

    /// Keeps the session: reuse mode remembers it (it is deleted when it leaves the cache),
    /// or the upstream has lost it already.
    pub fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for SessionTicket {
    fn drop(&mut self) {
        if let Some((janitor, account, session_id)) = self.0.take() {
            janitor.finished(&account, &session_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn tickets_queue_on_drop_unless_disarmed_and_counts_add_up() {
        let (janitor, queue) = Janitor::new();
        drop(janitor.ticket("a", "s1"));
        let mut kept = janitor.ticket("a", "s2");
        kept.disarm();
        drop(kept);
        drop(SessionTicket::none());
        janitor.finished("b", "s3");
        janitor.uploaded("a", "m1");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let seen = seen.clone();
            tokio::spawn(queue.run(
                move |job: Finished| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().unwrap().push(job.id.clone());
                        if job.account == "b" {
                            Err("404".into())
                        } else {
                            Ok(())
                        }
                    }
                },
                async move {
                    let _ = stop_rx.await;
                },
            ))
        };
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while janitor.stats().deleted + janitor.stats().failed < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                janitor.stats()
            );
            tokio::task::yield_now().await;
        }
        let _ = stop_tx.send(());
        task.await.unwrap();
        assert_eq!(*seen.lock().unwrap(), ["s1", "s3", "m1"]);
        assert_eq!(
            janitor.stats(),
            JanitorStats {
                deleted: 2,
                failed: 1,
                dropped: 0
            }
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (janitor, _queue) = Janitor::new();
        for i in 0..QUEUE + 10 {
            janitor.finished("a", &i.to_string());
        }
        assert_eq!(janitor.stats().dropped, 10);
    }
}
