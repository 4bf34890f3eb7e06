//! Admission of polls: a bounded, first-come-first-served queue in front of the claim.
//!
//! A poll claims rows (one short write) and then writes its reference file (reads and
//! file I/O). Letting every poll at the database at once makes them compete for the
//! pool's connections, and under load the tail waits past the pool's acquire timeout
//! and fails. Instead, at most `concurrency` polls run at a time and the rest wait here,
//! in arrival order, for up to `max_wait`; a poll that would wait longer, or that
//! arrives when `max_queue` polls are already waiting, is refused with
//! [`ApiError::Busy`] (503 with `Retry-After`) before it has claimed anything, so the
//! client may safely poll again.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// How many polls run at once and how long others may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Polls claiming or writing their reference file at the same time.
    pub concurrency: usize,
    /// Polls allowed to wait; one more is refused at once.
    pub max_queue: usize,
    /// The longest a poll waits for its turn.
    pub max_wait: Duration,
}

/// The queue in front of the claim; cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    refused: Arc<AtomicU64>,
    limits: AdmissionLimits,
}

/// A poll's turn; the next waiting poll goes when this is dropped.
#[derive(Debug)]
pub struct Turn {
    _permit: OwnedSemaphorePermit,
}

/// The pause a refused poll is told to take (`Retry-After`, whole seconds).
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

impl Admission {
    /// A queue with these limits (a concurrency of 0 is taken as 1).
    pub fn new(limits: AdmissionLimits) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limits.concurrency.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            refused: Arc::new(AtomicU64::new(0)),
            limits,
        }
    }

    /// Waits for this poll's turn.
    ///
    /// # Errors
    /// [`ApiError::Busy`] when the queue is full or the wait ran past `max_wait`.
    pub async fn enter(&self) -> Result<Turn, ApiError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(Turn { _permit: permit });
        }
        let queued = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _leave = Leave(&self.waiting);
        if queued >= self.limits.max_queue {
            self.refused.fetch_add(1, Ordering::AcqRel);
            return Err(ApiError::Busy(format!(
                "{queued} polls are already waiting for their turn"
            )));
        }
        match tokio::time::timeout(self.limits.max_wait, self.permits.clone().acquire_owned()).await
        {
            Ok(Ok(permit)) => Ok(Turn { _permit: permit }),
            Ok(Err(closed)) => Err(ApiError::Internal(closed.to_string())),
            Err(_) => {
                self.refused.fetch_add(1, Ordering::AcqRel);
                Err(ApiError::Busy(format!(
                    "a poll waited {} ms for its turn",
                    self.limits.max_wait.as_millis()
                )))
            }
        }
    }

    /// Polls waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }

    /// Polls refused since start (queue full or waited too long).
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Acquire)
    }
}

/// Takes a poll off the waiting count however its wait ends (cancelled included).
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(concurrency: usize, max_queue: usize, wait_ms: u64) -> AdmissionLimits {
        AdmissionLimits {
            concurrency,
            max_queue,
            max_wait: Duration::from_millis(wait_ms),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polls_wait_in_arrival_order() {
        let gate = Admission::new(limits(1, 10, 60_000));
        let first = gate.enter().await.expect("a free turn");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..3 {
            let (waiter, tx) = (gate.clone(), tx.clone());
            tokio::spawn(async move {
                let turn = waiter.enter().await.expect("a turn");
                tx.send(i).expect("send");
                drop(turn);
            });
            // Each waiter is queued before the next arrives.
            while gate.waiting() < i + 1 {
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        let order: Vec<usize> = [rx.recv().await, rx.recv().await, rx.recv().await]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(order, vec![0, 1, 2]);
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_at_once() {
        let gate = Admission::new(limits(1, 1, 60_000));
        let _held = gate.enter().await.expect("a free turn");
        let waiter = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter().await.map(drop) })
        };
        while gate.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        let refused = gate.enter().await.expect_err("the queue is full");
        assert!(matches!(refused, ApiError::Busy(_)), "{refused:?}");
        assert_eq!(refused.status().as_u16(), 503);
        assert_eq!(gate.refused(), 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(gate.waiting(), 0, "a cancelled wait leaves the queue");
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_the_limit_is_refused() {
        let gate = Admission::new(limits(1, 10, 500));
        let _held = gate.enter().await.expect("a free turn");
        let started = tokio::time::Instant::now();
        let refused = gate.enter().await.expect_err("no turn within 500 ms");
        assert!(matches!(refused, ApiError::Busy(_)), "{refused:?}");
        assert_eq!(started.elapsed(), Duration::from_millis(500));
        assert_eq!(gate.waiting(), 0);
    }
}
