//! Time, injected: the server reads the clock through [`Clock`] so tests can move it.

use jiff::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that tests set and advance by hand.
///
/// ```
/// use destiny_repository::clock::{Clock, ManualClock};
/// let clock = ManualClock::new(jiff::Timestamp::from_second(1_700_000_000).unwrap());
/// clock.advance(std::time::Duration::from_secs(60));
/// assert_eq!(clock.now().as_second(), 1_700_000_060);
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn new(at: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(at.as_microsecond())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let micros = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.0.fetch_add(micros, Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, at: Timestamp) {
        self.0.store(at.as_microsecond(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_microsecond(self.0.load(Ordering::SeqCst)).unwrap_or(Timestamp::UNIX_EPOCH)
    }
}

/// Microseconds since the Unix epoch: how times are stored.
pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

#[cfg(test)]
mod tests {
    use super::*;

    use destiny_sdk::expiry::python_isoformat;

    /// The renew-lease body's time, as the server writes it (the SDK's function).
    #[test]
    fn isoformat_like_python() {
        let t: Timestamp = "2025-12-05T04:26:55.123456Z".parse().unwrap();
        assert_eq!(python_isoformat(&t), "2025-12-05T04:26:55.123456+00:00");
        let t: Timestamp = "2025-12-05T04:26:55Z".parse().unwrap();
        assert_eq!(python_isoformat(&t), "2025-12-05T04:26:55+00:00");
        let t: Timestamp = "2025-12-05T04:26:55.1Z".parse().unwrap();
        assert_eq!(python_isoformat(&t), "2025-12-05T04:26:55.100000+00:00");
    }
}
