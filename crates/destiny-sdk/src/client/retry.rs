//! The retry policy: how many attempts, how long to wait between them, and which
//! failures each kind of call may retry without doubling its effect.

use std::time::Duration;

use crate::backoff::Backoff;

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
        self.backoff().delay(attempt.saturating_sub(1))
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(self.base_delay, self.max_delay)
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
        assert_eq!(p.backoff().full(1), Duration::from_millis(200));
        assert_eq!(p.backoff().full(2), Duration::from_millis(400));
        assert_eq!(p.backoff().full(3), Duration::from_millis(800));
        assert_eq!(p.backoff().full(4), Duration::from_secs(1));
        assert_eq!(p.backoff().full(99), Duration::from_secs(1));
        for attempt in 2..12 {
            let full = p.backoff().full(attempt - 1);
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
