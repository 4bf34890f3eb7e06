//! Limits on a robot's own outbound calls (an LLM, a bibliographic API): a rate (calls per
//! second, with a burst) and a number of calls at once, per named service, shared by every
//! batch and reference of a runner and handed to [`Robot::enhance`](crate::Robot::enhance)
//! through [`Context::limiter`](crate::Context::limiter).
//!
//! ```
//! use destiny_robot::limits::{CallLimit, CallLimits};
//! let limits: CallLimits = "llm:5/s:4 crossref:50/s db::8".parse()?;
//! assert_eq!(limits.get("llm"), Some(&CallLimit::new().per_second(5).concurrent(4)));
//! assert_eq!(limits.get("db"), Some(&CallLimit::new().concurrent(8)));
//! # Ok::<(), String>(())
//! ```
//!
//! The rate is a GCRA (`governor`) on a clock of tokio's time, so a test that pauses
//! tokio's clock controls the limiter's too; the number at once is a tokio semaphore.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One service's limit: calls per second (bursts up to `burst`, by default the rate) and
/// calls at once. Unset parts do not limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallLimit {
    per_second: Option<NonZeroU32>,
    burst: Option<NonZeroU32>,
    concurrent: Option<usize>,
}

impl CallLimit {
    /// No limit yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` calls per second (0: no rate limit).
    #[must_use]
    pub fn per_second(mut self, n: u32) -> Self {
        self.per_second = NonZeroU32::new(n);
        self
    }

    /// Up to `n` calls at once after a quiet spell (default: the rate per second).
    #[must_use]
    pub fn burst(mut self, n: u32) -> Self {
        self.burst = NonZeroU32::new(n);
        self
    }

    /// At most `n` calls at once (0: no limit).
    #[must_use]
    pub fn concurrent(mut self, n: usize) -> Self {
        self.concurrent = (n > 0).then_some(n);
        self
    }
}

impl fmt::Display for CallLimit {
    /// As [`CallLimits`] parses it, without the name: `5/s:4`, `50/s`, `:8`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(rate) = self.per_second {
            write!(f, "{rate}/s")?;
        }
        if let Some(n) = self.concurrent {
            write!(f, ":{n}")?;
        }
        Ok(())
    }
}

/// Named limits, as `CALL_LIMITS` / `--call-limits` take them: entries separated by
/// spaces or commas, each `NAME:RATE/s[:AT_ONCE]` or `NAME::AT_ONCE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallLimits(BTreeMap<String, CallLimit>);

impl CallLimits {
    /// The limit of `name`.
    pub fn get(&self, name: &str) -> Option<&CallLimit> {
        self.0.get(name)
    }

    /// Sets the limit of `name`.
    pub fn insert(&mut self, name: impl Into<String>, limit: CallLimit) {
        self.0.insert(name.into(), limit);
    }

    /// No limit named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for CallLimits {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut limits = Self::default();
        for entry in text.split([' ', ',']).filter(|e| !e.is_empty()) {
            let bad = |why: &str| {
                format!("{entry:?}: {why} (expected NAME:RATE/s[:AT_ONCE] or NAME::AT_ONCE)")
            };
            let mut parts = entry.split(':');
            let name = parts.next().unwrap_or_default();
            let (rate, at_once) = (parts.next().unwrap_or_default(), parts.next());
            if name.is_empty() || parts.next().is_some() {
                return Err(bad("not a named limit"));
            }
            let mut limit = CallLimit::new();
            if !rate.is_empty() {
                let n = rate
                    .strip_suffix("/s")
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("the rate is not a positive number per second"))?;
                limit = limit.per_second(n);
            }
            if let Some(at_once) = at_once {
                let n = at_once
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("the calls at once are not a positive number"))?;
                limit = limit.concurrent(n);
            }
            if limit == CallLimit::new() {
                return Err(bad("it limits nothing"));
            }
            if limits.0.insert(name.to_owned(), limit).is_some() {
                return Err(bad("the name is given twice"));
            }
        }
        Ok(limits)
    }
}

impl fmt::Display for CallLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, limit) in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            // `NAME::AT_ONCE` when there is no rate; a burst is not written.
            write!(f, "{name}:{limit}")?;
        }
        Ok(())
    }
}

/// governor's clock on tokio's time (paused in tests).
#[derive(Debug, Clone)]
struct TokioClock {
    start: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

type Rate = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// One service's live limiter: clones share it.
#[derive(Clone)]
pub struct Limiter {
    name: Arc<str>,
    rate: Option<(Arc<Rate>, TokioClock)>,
    at_once: Option<Arc<Semaphore>>,
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limiter")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A call's turn: hold it for the length of the call (it holds one of the calls at once).
#[derive(Debug)]
pub struct CallPermit {
    _at_once: Option<OwnedSemaphorePermit>,
}

impl Limiter {
    /// A limiter of `limit`, its clock starting now.
    pub fn new(name: &str, limit: CallLimit) -> Self {
        let rate = limit.per_second.map(|rate| {
            let quota = Quota::per_second(rate).allow_burst(limit.burst.unwrap_or(rate));
            let clock = TokioClock {
                start: tokio::time::Instant::now(),
            };
            (
                Arc::new(RateLimiter::direct_with_clock(quota, clock.clone())),
                clock,
            )
        });
        Self {
            name: name.into(),
            rate,
            at_once: limit.concurrent.map(|n| Arc::new(Semaphore::new(n))),
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for a call's turn: a free place among the calls at once, then the rate.
    pub async fn acquire(&self) -> CallPermit {
        let at_once = match &self.at_once {
            // The semaphore is never closed.
            Some(s) => Arc::clone(s).acquire_owned().await.ok(),
            None => None,
        };
        if let Some((rate, clock)) = &self.rate {
            while let Err(not_until) = rate.check() {
                tokio::time::sleep(not_until.wait_time_from(clock.now())).await;
            }
        }
        CallPermit { _at_once: at_once }
    }

    /// Runs `call` in its turn.
    pub async fn run<F: std::future::Future>(&self, call: F) -> F::Output {
        let _permit = self.acquire().await;
        call.await
    }
}

/// The live limiters of a runner, by name (cheap to clone; clones share them).
#[derive(Debug, Clone, Default)]
pub struct Limiters(Arc<BTreeMap<String, Limiter>>);

impl Limiters {
    /// Live limiters for `limits`, their clocks starting now.
    pub fn new(limits: &CallLimits) -> Self {
        Self(Arc::new(
            limits
                .0
                .iter()
                .map(|(name, limit)| (name.clone(), Limiter::new(name, *limit)))
                .collect(),
        ))
    }

    /// The limiter of `name`.
    pub fn get(&self, name: &str) -> Option<&Limiter> {
        self.0.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_print_back() {
        let limits: CallLimits = "llm:5/s:4, crossref:50/s  db::8".parse().unwrap();
        assert_eq!(limits.to_string(), "crossref:50/s db::8 llm:5/s:4");
        assert_eq!(limits.to_string().parse::<CallLimits>().unwrap(), limits);
        assert!("".parse::<CallLimits>().unwrap().is_empty());
    }

    #[test]
    fn bad_limits_say_what_is_wrong() {
        for (text, why) in [
            ("llm", "limits nothing"),
            ("llm:", "limits nothing"),
            (":5/s", "not a named limit"),
            ("llm:5", "positive number per second"),
            ("llm:0/s", "positive number per second"),
            ("llm:5/s:0", "positive number"),
            ("llm:5/s:x", "positive number"),
            ("llm:5/s:1:2", "not a named limit"),
            ("llm:5/s llm::2", "given twice"),
        ] {
            let err = text.parse::<CallLimits>().unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_spaces_calls_after_the_burst() {
        let limiter = Limiter::new("llm", CallLimit::new().per_second(4).burst(2));
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for _ in 0..6 {
            drop(limiter.acquire().await);
            at.push(start.elapsed().as_millis());
        }
        // Two at once, then one every 250 ms.
        assert_eq!(at, [0, 0, 250, 500, 750, 1000]);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_at_once_wait_for_a_free_place() {
        let limiter = Limiter::new("db", CallLimit::new().concurrent(2));
        let first = limiter.acquire().await;
        let _second = limiter.acquire().await;
        let third = tokio::spawn({
            let limiter = limiter.clone();
            async move { limiter.run(async { tokio::time::Instant::now() }).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!third.is_finished(), "two calls hold both places");
        let freed = tokio::time::Instant::now();
        drop(first);
        assert!(third.await.unwrap() >= freed);
    }
}
