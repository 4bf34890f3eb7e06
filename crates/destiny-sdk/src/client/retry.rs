//! The retry policy: how many attempts, how long to wait between them, and which
//! failures each kind of call may retry without doubling its effect.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How often and how patiently the client retries a failed request.
///
/// Delays grow exponentially from `base_delay`, are capped at `max_delay`, and are
/// jittered (a random point in the upper half of the delay) so robots that failed
/// together do not retry together. Which failures are retried depends on the call; see
/// the methods of [`RobotClient`](super::RobotClient).
///
/// ```
/// use destiny_sdk::client::RetryPolicy;
/// use std::time::Duration;
/// let policy = RetryPolicy::default();
/// assert_eq!(policy.max_attempts, 3);
/// assert!(policy.delay_before(2) <= Duration::from_millis(400));
/// assert_eq!(RetryPolicy::none().max_attempts, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The delay before the second attempt (before jitter).
    pub base_delay: Duration,
    /// The longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, 200 ms then 400 ms (jittered), capped at 5 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// A single attempt: no retries (the one retry of an expired timestamp still
    /// happens).
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The jittered delay before attempt number `attempt` (2 for the first retry):
    /// between half and all of `min(max_delay, base_delay * 2^(attempt - 2))`.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let full = self.full_delay(attempt);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            random_u64() % (spread + 1)
        };
        half + Duration::from_micros(jitter)
    }

    /// The delay before `attempt` without jitter.
    fn full_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(2).min(31);
        self.base_delay
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// What a call may retry, so that a retry never doubles an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Idempotent calls (GET batch, renew lease, download): transport errors, timeouts
    /// and 5xx.
    Idempotent,
    /// Calls with effects (submit): only when the request was never sent (connection
    /// failed).
    UnsentOnly,
    /// A poll: when the request was never sent, or when the repository refused it with
    /// 503 and `Retry-After` (it answers that before claiming anything, or after giving
    /// its claim back); never after a timeout or another 5xx, which may have leased work.
    UnsentOrRefused,
}

/// A random number from the standard library's per-process random hash keys (no extra
/// dependency; jitter needs no more).
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
    );
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
        };
        assert_eq!(p.full_delay(2), Duration::from_millis(200));
        assert_eq!(p.full_delay(3), Duration::from_millis(400));
        assert_eq!(p.full_delay(4), Duration::from_millis(800));
        assert_eq!(p.full_delay(5), Duration::from_secs(1));
        assert_eq!(p.full_delay(100), Duration::from_secs(1));
        for attempt in 2..12 {
            let full = p.full_delay(attempt);
            for _ in 0..50 {
                let d = p.delay_before(attempt);
                assert!(d >= full / 2 && d <= full, "{attempt}: {d:?} vs {full:?}");
            }
        }
    }

    #[test]
    fn jitter_varies() {
        let p = RetryPolicy::default();
        let delays: std::collections::HashSet<_> = (0..20).map(|_| p.delay_before(3)).collect();
        assert!(delays.len() > 1, "{delays:?}");
    }

    #[test]
    fn zero_delays_stay_zero() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        assert_eq!(p.delay_before(3), Duration::ZERO);
    }
}
