//! The clock the verifier reads, injectable so tests never sleep.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in seconds since the Unix epoch, as Python's `time.time()`.
///
/// Any `Fn() -> f64 + Send + Sync + 'static` is a clock, so a test can pin the time:
///
/// ```
/// use destiny_sdk::auth::{Clock, SystemClock};
/// let pinned = || 1733380000.0;
/// assert_eq!(pinned.now(), 1733380000.0);
/// assert!(SystemClock.now() > 1.7e9);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> f64;
}

impl<F> Clock for F
where
    F: Fn() -> f64 + Send + Sync + 'static,
{
    fn now(&self) -> f64 {
        self()
    }
}

/// The system clock ([`SystemTime::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        system_now()
    }
}

/// `time.time()`: seconds since the Unix epoch as a float (negative before 1970).
pub fn system_now() -> f64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// A shared, type-erased clock.
pub type SharedClock = Arc<dyn Clock>;
