//! The one exponential backoff of the toolkit: the client's retries, the runner's
//! waits, a reference's transient retries and the repository's import retries.
//!
//! Delays double from a base up to a cap. [`Backoff::delay`] jitters them to a random
//! point in their upper half ("equal jitter"), so robots that failed together do not
//! retry together; the repository's import queue uses the plain [`Backoff::full`] delay.
//!
//! Why not `backon`: its jitter adds a random amount below the *first* delay, so at a
//! 60 s cap robots that failed together retry within the same second; our callers also
//! need the delay of retry number N on its own (a reference's attempts, a lease's
//! deadline), not an iterator owned by a retry loop.
//!
//! ```
//! use destiny_sdk::backoff::Backoff;
//! use std::time::Duration;
//! let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
//! assert_eq!(b.full(1), Duration::from_millis(100));
//! assert_eq!(b.full(3), Duration::from_millis(400));
//! assert_eq!(b.full(9), Duration::from_millis(500));
//! let d = b.delay(2);
//! assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(200));
//! ```

use std::time::Duration;

/// Delays that double from `base` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay of the first retry, before jitter.
    base: Duration,
    /// The longest delay, before jitter.
    max: Duration,
}

impl Backoff {
    /// Delays from `base`, capped at `max`.
    pub const fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The jittered delay before retry number `retry` (1 for the first retry): a random
    /// point between half of [`full`](Self::full) and all of it.
    pub fn delay(&self, retry: u32) -> Duration {
        jitter(self.full(retry))
    }

    /// The delay before retry number `retry` (1 for the first), without jitter:
    /// `min(max, base * 2^(retry - 1))`.
    pub fn full(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// A random point between half of `delay` and all of it.
pub fn jitter(delay: Duration) -> Duration {
    let half = delay / 2;
    let spread = u64::try_from((delay - half).as_micros()).unwrap_or(u64::MAX);
    if spread == 0 {
        return delay;
    }
    half + Duration::from_micros(random_u64() % (spread + 1))
}

/// A random number from the OS source; the time's nanoseconds if it has none (a jitter
/// needs no more).
pub fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_nanos()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps_and_jitters_in_the_upper_half() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(b.full(0), Duration::from_millis(100));
        assert_eq!(b.full(2), Duration::from_millis(200));
        assert_eq!(b.full(4), Duration::from_millis(500));
        assert_eq!(b.full(u32::MAX), Duration::from_millis(500));
        for retry in 1..10 {
            let full = b.full(retry);
            for _ in 0..20 {
                let d = b.delay(retry);
                assert!(d >= full / 2 && d <= full, "{retry}: {d:?}");
            }
        }
    }

    #[test]
    fn jitter_varies_and_zero_stays_zero() {
        let set: std::collections::HashSet<_> =
            (0..20).map(|_| jitter(Duration::from_secs(1))).collect();
        assert!(set.len() > 1);
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
