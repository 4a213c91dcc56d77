//! Limits that protect the accounts and share them fairly:
//! - [`Gate`]: a cap on upstream requests in flight over all accounts, changeable live;
//! - [`RateLimiter`]: requests per minute per client token, as a token bucket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A live-adjustable cap on concurrent upstream requests. Waiters are woken when a permit is
/// returned, so a freed slot is used at once.
#[derive(Debug, Default)]
pub struct Gate {
    in_flight: AtomicU32,
    freed: Notify,
}

/// One slot of the [`Gate`], returned when dropped. Owns its gate, so a stream can keep it.
#[derive(Debug)]
pub struct GatePermit {
    gate: Arc<Gate>,
}

impl Drop for GatePermit {
    fn drop(&mut self) {
        self.gate.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.gate.freed.notify_one();
    }
}

impl Gate {
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn try_acquire(self: &Arc<Self>, limit: u32) -> Option<GatePermit> {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| GatePermit { gate: self.clone() })
    }

    /// A slot under `limit` (0 = unlimited: no permit needed), waiting until `deadline`.
    pub async fn acquire(
        self: &Arc<Self>,
        limit: u32,
        deadline: tokio::time::Instant,
    ) -> Result<Option<GatePermit>, ()> {
        if limit == 0 {
            return Ok(None);
        }
        loop {
            // Register for the wake-up before looking, so a slot freed in between is not missed.
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(permit) = self.try_acquire(limit) {
                return Ok(Some(permit));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(());
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets per key: `rpm` requests per minute, with bursts up to a minute's worth.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Buckets kept before idle ones are swept (a full bucket carries no state worth keeping).
const SWEEP_ABOVE: usize = 10_000;

impl RateLimiter {
    /// Takes one request for `key`, or says how long until one is allowed.
    pub fn check(&self, key: &str, rpm: u32, now: Instant) -> Result<(), Duration> {
        if rpm == 0 {
            return Ok(());
        }
        let capacity = f64::from(rpm);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|_, b| {
                now.saturating_duration_since(b.last).as_secs_f64() * per_second < capacity
            });
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }

    pub fn tracked_keys(&self) -> usize {
        self.buckets.lock().map(|b| b.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_of_burst_then_the_steady_rate() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check("a", 60, t0).is_ok());
        }
        let wait = limiter.check("a", 60, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        assert!(limiter.check("b", 60, t0).is_ok(), "keys are independent");
        assert!(
            limiter
                .check("a", 60, t0 + Duration::from_millis(999))
                .is_err()
        );
        assert!(limiter.check("a", 60, t0 + Duration::from_secs(1)).is_ok());
        assert!(limiter.check("a", 0, t0).is_ok(), "0 = unlimited");
    }

    #[test]
    fn idle_buckets_are_swept_so_memory_stays_bounded() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..(SWEEP_ABOVE + 100) {
            let _ = limiter.check(&format!("k{i}"), 60, t0);
        }
        let later = t0 + Duration::from_secs(120);
        let _ = limiter.check("fresh", 60, later);
        assert!(limiter.tracked_keys() <= 2, "{}", limiter.tracked_keys());
    }

    #[tokio::test]
    async fn the_gate_caps_and_hands_freed_slots_to_waiters() {
        let gate = Arc::new(Gate::default());
        let far = tokio::time::Instant::now() + Duration::from_secs(5);
        let a = gate.acquire(2, far).await.unwrap();
        let _b = gate.acquire(2, far).await.unwrap();
        assert_eq!(gate.in_flight(), 2);
        let soon = tokio::time::Instant::now() + Duration::from_millis(20);
        assert!(
            gate.acquire(2, soon).await.is_err(),
            "full until the deadline"
        );
        let waiter = async { gate.acquire(2, far).await.map(|p| p.is_some()) };
        let release = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(a);
        };
        let (got, ()) = tokio::join!(waiter, release);
        assert_eq!(got, Ok(true));
        assert!(
            matches!(gate.acquire(0, soon).await, Ok(None)),
            "0 = unlimited"
        );
    }
}
