//! Enhancement requests in flight, counted while they run, so that bulk work in the
//! background (a large request's pending enhancements and reference file, written after
//! its answer) steps aside between two of its chunks while one is answered. On a machine
//! of few cores the two otherwise share the CPU, and the answer waits for both.
//!
//! Polls are not counted: robots poll all the time, and bulk work that stepped aside for
//! each of them would write one chunk per [`MAX_WAIT`] while robots work.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// The longest bulk work waits at one time: a steady stream of requests slows it down,
/// but cannot hold it back for good.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// The count of foreground requests in flight (clones share it).
#[derive(Debug, Clone, Default)]
pub struct Foreground(Arc<Inner>);

#[derive(Debug, Default)]
struct Inner {
    busy: AtomicUsize,
    idle: Notify,
}

/// One foreground request in flight, counted while this lives.
#[derive(Debug)]
pub struct Busy(Arc<Inner>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl Foreground {
    /// Counts a foreground request until the answer is dropped.
    pub fn busy(&self) -> Busy {
        self.0.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.0.clone())
    }

    /// Foreground requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.0.busy.load(Ordering::Acquire)
    }

    /// Returns once no foreground request is in flight, or after [`MAX_WAIT`].
    pub async fn idle(&self) {
        let deadline = tokio::time::sleep(MAX_WAIT);
        tokio::pin!(deadline);
        loop {
            let woken = self.0.idle.notified();
            tokio::pin!(woken);
            // Registered before the count is read, so a request ending in between wakes it.
            woken.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            tokio::select! {
                () = woken => {}
                () = &mut deadline => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_the_last_request_or_the_longest_wait() {
        let foreground = Foreground::default();
        foreground.idle().await; // nothing in flight: at once
        let (a, b) = (foreground.busy(), foreground.busy());
        let waiting = tokio::spawn({
            let foreground = foreground.clone();
            async move { foreground.idle().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one request is still in flight");
        drop(b);
        waiting.await.expect("idle once the last one ended");

        let _held = foreground.busy();
        let started = tokio::time::Instant::now();
        foreground.idle().await;
        assert_eq!(started.elapsed(), MAX_WAIT, "a request never ending is waited for at most MAX_WAIT");
    }
}
