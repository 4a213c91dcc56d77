//! The usage writer: one thread that owns a connection and writes usage in batches, so a
//! request handler only ever hands an event to a channel.
//!
//! A batch is committed 200 ms after its first event, so at most the last fraction of a
//! second of usage can be lost to a crash (`kill -9`), and thousands of events per second cost
//! only a handful of transactions. The thread wakes twice per batch, for its first event and
//! at the end of its window, however many events arrive in between: at a light 40 requests a
//! second, waking for each event (or polling for them) had cost a quarter of the proxy's CPU.
//! A flush or a stop wakes it at once. [`UsageWriter::close`] writes everything queued and
//! stops the thread (graceful shutdown).
//!
//! Each batch is published to the live feed once it is committed, so a dashboard that
//! refreshes on a live event always finds the rows it was told about.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::mpsc;

use super::usage::{RefusalSampler, UsageEvent, insert_sampled};
use super::{StoreError, open};
use crate::store::live::LiveFeed;

const BATCH_WINDOW: Duration = Duration::from_millis(200);
/// Events queued beyond this are dropped (and counted), never blocking a request.
const QUEUE: usize = 100_000;

enum Message {
    Event(Box<UsageEvent>),
    /// Write everything queued so far, then answer.
    Flush(std::sync::mpsc::SyncSender<()>),
    /// Write everything queued and end the thread.
    Stop,
    /// Delete raw rows older than this (Unix ms), in small slices between writes.
    Prune(i64),
}

/// Where request handlers send usage. Cheap to clone; sending never blocks.
#[derive(Debug, Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<Message>,
    /// The writer thread, woken from its batch window by a flush or a stop.
    writer: std::thread::Thread,
    /// Events refused because the queue was full (the disk fell far behind).
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Event(_) => "Event",
            Self::Flush(_) => "Flush",
            Self::Stop => "Stop",
            Self::Prune(_) => "Prune",
        })
    }
}

impl UsageSink {
    /// Queues an event; when the queue is full (or closed) it is counted as dropped and
    /// given back, so the caller can still show it live.
    pub fn record(&self, event: UsageEvent) -> Result<(), Box<UsageEvent>> {
        match self.tx.try_send(Message::Event(Box::new(event))) {
            Ok(()) => Ok(()),
            Err(error) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        dropped = n,
                        "usage queue full or closed: usage events dropped"
                    );
                }
                match error.into_inner() {
                    Message::Event(event) => Err(event),
                    _ => Ok(()),
                }
            }
        }
    }

    /// Asks the writer to delete raw rows older than `cutoff_ms` (never blocks).
    pub fn prune(&self, cutoff_ms: i64) {
        let _ = self.tx.try_send(Message::Prune(cutoff_ms));
    }

    /// Messages waiting for the writer now.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until everything sent before this call is committed (tests, shutdown).
    pub async fn flush(&self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        if self.send_now(Message::Flush(done)).await {
            let _ = tokio::task::spawn_blocking(move || wait.recv()).await;
        }
    }

    /// Sends a message the writer must act on now, not at the end of its batch window.
    async fn send_now(&self, message: Message) -> bool {
        let sent = self.tx.send(message).await.is_ok();
        self.writer.unpark();
        sent
    }
}

/// The writer thread; [`UsageWriter::close`] flushes and joins it.
pub struct UsageWriter {
    thread: Option<JoinHandle<()>>,
    sink: UsageSink,
}

impl UsageWriter {
    /// Opens the database at `path` for writing and starts the thread; committed batches
    /// are published to `feed`.
    pub fn start(path: &Path, feed: Arc<LiveFeed>) -> Result<(Self, UsageSink), StoreError> {
        let conn = open(path)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("usage-writer".into())
            .spawn(move || run(conn, rx, &feed))
            .map_err(|source| StoreError::Create {
                path: "usage-writer thread".into(),
                source,
            })?;
        let sink = UsageSink {
            tx,
            writer: thread.thread().clone(),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        Ok((
            Self {
                thread: Some(thread),
                sink: sink.clone(),
            },
            sink,
        ))
    }

    /// Writes everything queued and stops the thread. Events sent later are dropped.
    pub async fn close(mut self) {
        if !self.sink.send_now(Message::Stop).await {
            tracing::warn!("the usage writer had already stopped");
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// Rows deleted per slice when pruning, so writes never wait long behind a delete.
const PRUNE_SLICE: u32 = 5_000;

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Message>, feed: &LiveFeed) {
    let mut batch: Vec<UsageEvent> = Vec::new();
    let mut waiting: Vec<std::sync::mpsc::SyncSender<()>> = Vec::new();
    let mut prune_before: Option<i64> = None;
    let mut sampler = RefusalSampler::default();
    loop {
        // With a prune under way, an empty queue means: delete the next slice now.
        let first = match prune_before {
            Some(_) => match rx.try_recv() {
                Ok(message) => Some(message),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            },
            None => match rx.blocking_recv() {
                Some(message) => Some(message),
                None => break,
            },
        };
        let mut stop = false;
        if let Some(first) = first {
            let deadline = Instant::now() + BATCH_WINDOW;
            let mut next = Some(first);
            // Take what has arrived; then, while the window is open and nothing asks for
            // a write now, sleep until its end (or an unpark) and take what came meanwhile.
            loop {
                let now = match next.take() {
                    Some(Message::Event(e)) => {
                        batch.push(*e);
                        false
                    }
                    Some(Message::Flush(done)) => {
                        waiting.push(done);
                        true
                    }
                    Some(Message::Stop) => {
                        stop = true;
                        true
                    }
                    Some(Message::Prune(cutoff)) => {
                        prune_before = Some(cutoff);
                        false
                    }
                    None => false,
                };
                if now {
                    break;
                }
                match rx.try_recv() {
                    Ok(message) => next = Some(message),
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() || batch.is_empty() {
                            break;
                        }
                        std::thread::park_timeout(left);
                    }
                }
            }
            write(&mut conn, &mut batch, &mut sampler, feed);
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
        }
        if stop {
            return;
        }
        if let Some(cutoff) = prune_before {
            match super::usage::prune(&conn, cutoff, PRUNE_SLICE) {
                Ok(n) if n as u32 == PRUNE_SLICE => {}
                Ok(n) => {
                    if n > 0 {
                        tracing::info!(rows = n, "old usage rows deleted");
                    }
                    prune_before = None;
                }
                Err(error) => {
                    tracing::error!(%error, "deleting old usage rows failed");
                    prune_before = None;
                }
            }
        }
    }
    write(&mut conn, &mut batch, &mut sampler, feed);
}

fn write(
    conn: &mut Connection,
    batch: &mut Vec<UsageEvent>,
    sampler: &mut RefusalSampler,
    feed: &LiveFeed,
) {
    if batch.is_empty() {
        return;
    }
    let tallied = sampler.tallied(batch);
    let insert = |conn: &mut Connection, rows: &[UsageEvent], tallied: &[bool]| {
        conn.transaction().and_then(|tx| {
            insert_sampled(&tx, rows, tallied)?;
            tx.commit()
        })
    };
    if let Err(error) = insert(conn, batch, &tallied) {
        // One bad row must not cost the others: write them one by one, and lose only the
        // rows that fail alone.
        tracing::warn!(%error, rows = batch.len(), "writing a usage batch failed; writing its rows one by one");
        let lost = batch
            .chunks(1)
            .zip(tallied.chunks(1))
            .filter(|(row, tallied)| {
                insert(conn, row, tallied)
                    .inspect_err(|error| tracing::error!(%error, model = %row[0].model, "a usage row cannot be written; it is lost"))
                    .is_err()
            })
            .count();
        if lost > 0 {
            tracing::error!(lost, "usage rows lost");
        }
    }
    // Shown live even if the write failed: the requests did happen.
    feed.publish_all(batch);
    batch.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::usage::totals;

    fn event(i: u64) -> UsageEvent {
        UsageEvent {
            ts: 1_800_000_000_000 + i as i64,
            client_token: "t".into(),
            model: "m".into(),
            status: 200,
            input_tokens: i,
            ..UsageEvent::default()
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn batches_flushes_and_closes_without_losing_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        let (writer, sink) = UsageWriter::start(&path, Arc::default()).unwrap();
        for i in 0..2_500 {
            sink.record(event(i)).unwrap();
        }
        sink.flush().await;
        let reader = open(&path).unwrap();
        assert_eq!(
            totals(&reader, 0, i64::MAX).unwrap().0,
            2_500,
            "flush waits for the commit"
        );
        for i in 0..10 {
            sink.record(event(i)).unwrap();
        }
        writer.close().await;
        assert_eq!(
            totals(&reader, 0, i64::MAX).unwrap().0,
            2_510,
            "close writes what was queued"
        );
        assert!(sink.record(event(0)).is_err());
        assert_eq!(
            sink.dropped(),
            1,
            "after close, events are counted as dropped, never blocking"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn pruning_deletes_old_rows_in_slices_and_keeps_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        let (writer, sink) = UsageWriter::start(&path, Arc::default()).unwrap();
        for i in 0..12_000u64 {
            sink.record(event(i)).unwrap();
        }
        sink.record(UsageEvent {
            ts: 1_900_000_000_000,
            ..event(0)
        })
        .unwrap();
        sink.flush().await;
        sink.prune(1_800_000_000_000 + 20_000);
        // Three slices (5,000 + 5,000 + 2,000), done while the queue is idle.
        let reader = open(&path).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while totals(&reader, 0, i64::MAX).unwrap().0 != 1 {
            assert!(
                Instant::now() < deadline,
                "pruning stalled at {:?}",
                totals(&reader, 0, i64::MAX)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        writer.close().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_row_that_cannot_be_written_costs_no_other_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usage.db");
        // A row that fails on purpose: the database refuses the model "poison".
        open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TRIGGER poison BEFORE INSERT ON usage_events WHEN NEW.model = 'poison'
                 BEGIN SELECT RAISE(ABORT, 'poisoned on purpose'); END;",
            )
            .unwrap();
        let (writer, sink) = UsageWriter::start(&path, Arc::default()).unwrap();
        for i in 0..100 {
            sink.record(event(i)).unwrap();
            if i % 25 == 0 {
                sink.record(UsageEvent {
                    model: "poison".into(),
                    ..event(i)
                })
                .unwrap();
            }
        }
        sink.flush().await;
        let reader = open(&path).unwrap();
        assert_eq!(
            totals(&reader, 0, i64::MAX).unwrap().0,
            100,
            "every good row of the batches the poisoned rows were in is written"
        );
        writer.close().await;
    }
}
