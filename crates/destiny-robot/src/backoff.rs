//! Capped exponential backoff with jitter, so robots that failed together do not retry
//! together.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Delays that double from `base` up to `max`, each jittered to a random point in its
/// upper half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// The delay of the first retry, before jitter.
    base: Duration,
    /// The longest delay, before jitter.
    max: Duration,
}

impl Backoff {
    /// Delays from `base`, capped at `max`.
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self { base, max }
    }

    /// The jittered delay before retry number `retry` (1 for the first retry).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        jitter(self.full(retry))
    }

    /// The delay before retry number `retry`, without jitter.
    fn full(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// A random point between half of `delay` and all of it.
pub(crate) fn jitter(delay: Duration) -> Duration {
    let half = delay / 2;
    let spread = u64::try_from((delay - half).as_micros()).unwrap_or(u64::MAX);
    if spread == 0 {
        return delay;
    }
    half + Duration::from_micros(random_u64() % (spread + 1))
}

/// A random number from the standard library's per-process random hash keys mixed with
/// a counter (no extra dependency; jitter needs no more).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        assert_eq!(b.full(1), Duration::from_millis(100));
        assert_eq!(b.full(2), Duration::from_millis(200));
        assert_eq!(b.full(3), Duration::from_millis(400));
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
