//! The runner's configuration from the environment: [`RunnerConfig`] (where the
//! repository is, who the robot is) and [`RunnerSettings`] (how it runs).
//!
//! The variables are named in [`env`](mod@env), their defaults in [`defaults`], and each field
//! of [`RunnerSettings`] says what it does; the README's table of them is checked against
//! `destiny robot run --help`, whose flags are these fields.
//!
//! Durations take ISO 8601 (`PT30S`) or friendly (`30s`, `1m30s`, `500ms`) forms.

use std::net::SocketAddr;
use std::time::Duration;

use destiny_sdk::duration::{DurationError, LeaseDuration};
use destiny_sdk::secret::Secret;
use uuid::Uuid;

use crate::breaker::{BreakerPolicy, FailureRatio, WhenOpen};
use crate::limits::CallLimits;

/// The environment variable names.
pub mod env {
    /// The repository's URL.
    pub const REPOSITORY_URL: &str = "DESTINY_REPOSITORY_URL";
    /// The robot's id.
    pub const ROBOT_ID: &str = "ROBOT_ID";
    /// The robot's client secret.
    pub const ROBOT_SECRET: &str = "ROBOT_SECRET";
    /// References per poll.
    pub const BATCH_SIZE: &str = "BATCH_SIZE";
    /// Lease per poll and renewal.
    pub const LEASE: &str = "LEASE";
    /// Batches at once.
    pub const CONCURRENT_BATCHES: &str = "CONCURRENT_BATCHES";
    /// References at once per batch.
    pub const REFERENCE_CONCURRENCY: &str = "REFERENCE_CONCURRENCY";
    /// Wait after an empty poll.
    pub const POLL_INTERVAL: &str = "POLL_INTERVAL";
    /// Time in-flight batches get on shutdown.
    pub const SHUTDOWN_GRACE: &str = "SHUTDOWN_GRACE";
    /// Address of the health server.
    pub const HEALTH_LISTEN: &str = "HEALTH_LISTEN";
    /// Stop once nothing is left to do.
    pub const RUN_UNTIL_DRAINED: &str = "RUN_UNTIL_DRAINED";
    /// Limits on the robot's own outbound calls.
    pub const CALL_LIMITS: &str = "CALL_LIMITS";
    /// Transient failures in a row that open the circuit breaker.
    pub const BREAKER_FAILURES: &str = "BREAKER_FAILURES";
    /// A failure ratio that opens the circuit breaker.
    pub const BREAKER_RATIO: &str = "BREAKER_RATIO";
    /// How long the circuit breaker stays open before a probe.
    pub const BREAKER_OPEN_FOR: &str = "BREAKER_OPEN_FOR";
    /// What becomes of held references when the circuit breaker opens.
    pub const BREAKER_WHEN_OPEN: &str = "BREAKER_WHEN_OPEN";
}

/// Each runner setting's default, as its flag and variable take it (one source for
/// [`RunnerSettings::default`] and the `destiny robot run` flags).
pub mod defaults {
    /// `BATCH_SIZE`.
    pub const BATCH_SIZE: &str = "100";
    /// `LEASE`.
    pub const LEASE: &str = "PT10M";
    /// `CONCURRENT_BATCHES`.
    pub const CONCURRENT_BATCHES: &str = "2";
    /// `REFERENCE_CONCURRENCY`.
    pub const REFERENCE_CONCURRENCY: &str = "16";
    /// `POLL_INTERVAL`.
    pub const POLL_INTERVAL: &str = "5s";
    /// `SHUTDOWN_GRACE`.
    pub const SHUTDOWN_GRACE: &str = "30s";
    /// `BREAKER_FAILURES` (0: off).
    pub const BREAKER_FAILURES: &str = "0";
    /// `BREAKER_OPEN_FOR`.
    pub const BREAKER_OPEN_FOR: &str = "30s";
    /// `BREAKER_WHEN_OPEN`.
    pub const BREAKER_WHEN_OPEN: &str = "lapse";
    /// `RUN_UNTIL_DRAINED`.
    pub const RUN_UNTIL_DRAINED: &str = "false";
}

/// A variable that is missing or does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable's value is not valid (the secret's value is never shown).
    #[error("{name}: {reason}")]
    Invalid {
        /// The variable (or setting) name.
        name: &'static str,
        /// What is wrong, quoting the value.
        reason: String,
    },
}

/// How the runner runs (everything but the credentials).
///
/// ```
/// use destiny_robot::RunnerSettings;
/// let env = [("BATCH_SIZE", "500"), ("LEASE", "PT2M"), ("POLL_INTERVAL", "250ms")];
/// let s = RunnerSettings::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))?;
/// assert_eq!(s.batch_size, 500);
/// assert_eq!(s.lease.as_std().as_secs(), 120);
/// assert_eq!(s.poll_interval.as_millis(), 250);
/// assert_eq!(s.concurrent_batches, RunnerSettings::default().concurrent_batches);
/// # Ok::<(), destiny_robot::ConfigError>(())
/// ```
///
/// With the `cli` feature the settings are also `clap` flags (`--batch-size` and so on,
/// each reading its variable), which `destiny robot run` flattens: names, variables and
/// defaults are defined here once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[non_exhaustive]
pub struct RunnerSettings {
    /// References per poll.
    #[cfg_attr(feature = "cli", arg(long, env = env::BATCH_SIZE, default_value = defaults::BATCH_SIZE, value_parser = parse_positive::<u32>))]
    pub batch_size: u32,
    /// Lease per poll and renewal, e.g. PT10M or 10m.
    #[cfg_attr(feature = "cli", arg(long, env = env::LEASE, default_value = defaults::LEASE))]
    pub lease: LeaseDuration,
    /// Batches processed at once.
    #[cfg_attr(feature = "cli", arg(long, env = env::CONCURRENT_BATCHES, default_value = defaults::CONCURRENT_BATCHES, value_parser = parse_positive::<usize>))]
    pub concurrent_batches: usize,
    /// References in the robot's hands at once, per batch.
    #[cfg_attr(feature = "cli", arg(long, env = env::REFERENCE_CONCURRENCY, default_value = defaults::REFERENCE_CONCURRENCY, value_parser = parse_positive::<usize>))]
    pub reference_concurrency: usize,
    /// Wait after an empty poll (jittered), e.g. 5s.
    #[cfg_attr(feature = "cli", arg(long, env = env::POLL_INTERVAL, default_value = defaults::POLL_INTERVAL, value_parser = parse_duration))]
    pub poll_interval: Duration,
    /// Time in-flight batches get to finish on shutdown, e.g. 30s.
    #[cfg_attr(feature = "cli", arg(long, env = env::SHUTDOWN_GRACE, default_value = defaults::SHUTDOWN_GRACE, value_parser = parse_duration))]
    pub shutdown_grace: Duration,
    /// Serve /health and /metrics on this address, e.g. 0.0.0.0:9000 (none by default).
    #[cfg_attr(feature = "cli", arg(long, env = env::HEALTH_LISTEN))]
    pub health_listen: Option<SocketAddr>,
    /// Stop once a poll finds no work and no batch is in flight, failing if a batch
    /// failed or was given up (for scheduled jobs; by default the runner polls until
    /// stopped). The variable takes true/false, 1/0, yes/no or on/off.
    #[cfg_attr(feature = "cli", arg(long, env = env::RUN_UNTIL_DRAINED, value_parser = parse_switch, num_args = 0..=1, default_missing_value = "true", default_value = defaults::RUN_UNTIL_DRAINED))]
    pub until_drained: bool,
    /// Limits on the robot's own outbound calls, shared by all its batches, e.g.
    /// `llm:5/s:4 crossref:50/s db::8` (`NAME:RATE/s[:AT_ONCE]` or `NAME::AT_ONCE`); the robot
    /// takes a call's turn with `Context::limited` (none by default).
    #[cfg_attr(feature = "cli", arg(long, env = env::CALL_LIMITS, default_value = "", hide_default_value = true))]
    pub call_limits: CallLimits,
    /// Circuit breaker: transient failures in a row that open it (0: never). While open
    /// no batch is taken; then a one-reference batch probes.
    #[cfg_attr(feature = "cli", arg(long, env = env::BREAKER_FAILURES, default_value = defaults::BREAKER_FAILURES))]
    pub breaker_failures: u32,
    /// Circuit breaker: opens when more than this share of the latest outcomes failed
    /// transiently, e.g. `50%/100` (none by default).
    #[cfg_attr(feature = "cli", arg(long, env = env::BREAKER_RATIO))]
    pub breaker_ratio: Option<FailureRatio>,
    /// Circuit breaker: how long it stays open before a probe, e.g. 30s.
    #[cfg_attr(feature = "cli", arg(long, env = env::BREAKER_OPEN_FOR, default_value = defaults::BREAKER_OPEN_FOR, value_parser = parse_duration))]
    pub breaker_open_for: Duration,
    /// Circuit breaker: what becomes of the references held when it opens: `lapse`
    /// (their batches stop unreported; the leases lapse) or `report` (each a
    /// LinkedRobotError).
    #[cfg_attr(feature = "cli", arg(long, env = env::BREAKER_WHEN_OPEN, default_value = defaults::BREAKER_WHEN_OPEN))]
    pub breaker_when_open: WhenOpen,
}

impl Default for RunnerSettings {
    /// The values of [`defaults`]. (The fallbacks are never used: a test parses each
    /// default.)
    fn default() -> Self {
        Self {
            batch_size: parse_positive(defaults::BATCH_SIZE).unwrap_or(1),
            lease: defaults::LEASE.parse().unwrap_or(LeaseDuration::DEFAULT),
            concurrent_batches: parse_positive(defaults::CONCURRENT_BATCHES).unwrap_or(1),
            reference_concurrency: parse_positive(defaults::REFERENCE_CONCURRENCY).unwrap_or(1),
            poll_interval: parse_duration(defaults::POLL_INTERVAL).unwrap_or_default(),
            shutdown_grace: parse_duration(defaults::SHUTDOWN_GRACE).unwrap_or_default(),
            health_listen: None,
            until_drained: parse_switch(defaults::RUN_UNTIL_DRAINED).unwrap_or_default(),
            call_limits: CallLimits::default(),
            breaker_failures: defaults::BREAKER_FAILURES.parse().unwrap_or_default(),
            breaker_ratio: None,
            breaker_open_for: parse_duration(defaults::BREAKER_OPEN_FOR).unwrap_or_default(),
            breaker_when_open: defaults::BREAKER_WHEN_OPEN.parse().unwrap_or_default(),
        }
    }
}

impl RunnerSettings {
    /// The settings from the process environment; unset or empty variables keep their
    /// defaults.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a value that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The settings from `lookup` (a variable's value by name).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a value that does not parse.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let mut s = Self::default();
        if let Some(v) = get(env::BATCH_SIZE) {
            s.batch_size = parse_count(env::BATCH_SIZE, &v)?;
        }
        if let Some(v) = get(env::LEASE) {
            s.lease = v
                .trim()
                .parse()
                .map_err(|e: DurationError| invalid(env::LEASE, e.to_string()))?;
        }
        if let Some(v) = get(env::CONCURRENT_BATCHES) {
            s.concurrent_batches = parse_count(env::CONCURRENT_BATCHES, &v)?;
        }
        if let Some(v) = get(env::REFERENCE_CONCURRENCY) {
            s.reference_concurrency = parse_count(env::REFERENCE_CONCURRENCY, &v)?;
        }
        if let Some(v) = get(env::POLL_INTERVAL) {
            s.poll_interval = parse_duration(&v).map_err(|e| invalid(env::POLL_INTERVAL, e))?;
        }
        if let Some(v) = get(env::SHUTDOWN_GRACE) {
            s.shutdown_grace = parse_duration(&v).map_err(|e| invalid(env::SHUTDOWN_GRACE, e))?;
        }
        if let Some(v) = get(env::HEALTH_LISTEN) {
            s.health_listen = Some(v.trim().parse().map_err(|e| {
                invalid(
                    env::HEALTH_LISTEN,
                    format!("{v:?} is not an address such as 0.0.0.0:9000: {e}"),
                )
            })?);
        }
        if let Some(v) = get(env::BREAKER_FAILURES) {
            s.breaker_failures = v
                .trim()
                .parse()
                .map_err(|_| invalid(env::BREAKER_FAILURES, format!("{v:?} is not a count")))?;
        }
        if let Some(v) = get(env::BREAKER_RATIO) {
            s.breaker_ratio = Some(v.parse().map_err(|e| invalid(env::BREAKER_RATIO, e))?);
        }
        if let Some(v) = get(env::BREAKER_OPEN_FOR) {
            s.breaker_open_for =
                parse_duration(&v).map_err(|e| invalid(env::BREAKER_OPEN_FOR, e))?;
        }
        if let Some(v) = get(env::BREAKER_WHEN_OPEN) {
            s.breaker_when_open = v.parse().map_err(|e| invalid(env::BREAKER_WHEN_OPEN, e))?;
        }
        if let Some(v) = get(env::CALL_LIMITS) {
            s.call_limits = v.parse().map_err(|e| invalid(env::CALL_LIMITS, e))?;
        }
        if let Some(v) = get(env::RUN_UNTIL_DRAINED) {
            s.until_drained = parse_switch(&v).map_err(|e| invalid(env::RUN_UNTIL_DRAINED, e))?;
        }
        Ok(s)
    }
}

impl RunnerSettings {
    /// The circuit breaker these settings describe.
    pub fn breaker_policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            consecutive: self.breaker_failures,
            ratio: self.breaker_ratio,
            open_for: self.breaker_open_for,
            when_open: self.breaker_when_open,
        }
    }
}

/// A yes/no setting: `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`, in any case.
///
/// # Errors
/// Any other text, quoted.
pub fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("{text:?} is not true or false")),
    }
}

/// Everything the runner needs: the repository, the robot's credentials and the
/// [`RunnerSettings`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunnerConfig {
    /// The repository's URL (`DESTINY_REPOSITORY_URL`).
    pub repository_url: String,
    /// The robot's id, also its client id (`ROBOT_ID`).
    pub robot_id: Uuid,
    /// The robot's client secret (`ROBOT_SECRET`; never printed).
    pub robot_secret: Secret,
    /// How the runner runs.
    pub settings: RunnerSettings,
}

impl RunnerConfig {
    /// The configuration from the process environment.
    ///
    /// # Errors
    /// [`ConfigError::Missing`] for an unset required variable,
    /// [`ConfigError::Invalid`] for a value that does not parse.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The configuration from `lookup` (a variable's value by name).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    ///
    /// ```
    /// use destiny_robot::{ConfigError, RunnerConfig};
    /// let env = [("DESTINY_REPOSITORY_URL", "http://localhost:8000"),
    ///            ("ROBOT_ID", "3a533776-c9ad-4aac-a089-d654d509490c")];
    /// let err = RunnerConfig::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()))
    ///     .unwrap_err();
    /// assert_eq!(err, ConfigError::Missing("ROBOT_SECRET"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or(ConfigError::Missing(name))
        };
        let repository_url = get(env::REPOSITORY_URL)?.trim().to_owned();
        let id_text = get(env::ROBOT_ID)?;
        let robot_id = Uuid::parse_str(id_text.trim())
            .map_err(|e| invalid(env::ROBOT_ID, format!("{id_text:?} is not a UUID: {e}")))?;
        let robot_secret = Secret::new(get(env::ROBOT_SECRET)?);
        Ok(Self {
            repository_url,
            robot_id,
            robot_secret,
            settings: RunnerSettings::from_lookup(&lookup)?,
        })
    }
}

/// Parses a duration as `LEASE` does (`PT30S`, `30s`, `1m30s`, `500ms`...), also
/// accepting zero (`0`, `0s`, `PT0S`).
///
/// # Errors
/// The reason the text is not a duration.
///
/// ```
/// use destiny_robot::config::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("PT30S"), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
/// assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
/// assert!(parse_duration("-5s").is_err());
/// assert!(parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    match text.parse::<LeaseDuration>() {
        Ok(d) => Ok(d.as_std()),
        Err(DurationError::NotPositive { .. }) if !text.starts_with('-') => Ok(Duration::ZERO),
        Err(e) => Err(e.to_string()),
    }
}

fn parse_count<T: std::str::FromStr + PartialOrd + Default>(
    name: &'static str,
    text: &str,
) -> Result<T, ConfigError> {
    parse_positive(text).map_err(|message| invalid(name, message))
}

/// A whole number above zero, as the count settings (`BATCH_SIZE`, `CONCURRENT_BATCHES`,
/// `REFERENCE_CONCURRENCY`) take it.
///
/// ```
/// use destiny_robot::config::parse_positive;
/// assert_eq!(parse_positive::<u32>(" 100 "), Ok(100));
/// assert!(parse_positive::<u32>("0").is_err());
/// ```
///
/// # Errors
/// The text, quoted, and what it should be.
pub fn parse_positive<T: std::str::FromStr + PartialOrd + Default>(
    text: &str,
) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("{text:?} is not a whole number above zero")),
    }
}

fn invalid(name: &'static str, reason: String) -> ConfigError {
    ConfigError::Invalid { name, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_parse_to_the_documented_values() {
        assert!(parse_positive::<u32>(defaults::BATCH_SIZE).is_ok());
        assert!(defaults::LEASE.parse::<LeaseDuration>().is_ok());
        assert!(parse_positive::<usize>(defaults::CONCURRENT_BATCHES).is_ok());
        assert!(parse_positive::<usize>(defaults::REFERENCE_CONCURRENCY).is_ok());
        assert!(parse_duration(defaults::POLL_INTERVAL).is_ok_and(|d| !d.is_zero()));
        assert!(parse_duration(defaults::SHUTDOWN_GRACE).is_ok_and(|d| !d.is_zero()));
        assert_eq!(parse_switch(defaults::RUN_UNTIL_DRAINED), Ok(false));
        assert_eq!(defaults::BREAKER_FAILURES.parse::<u32>(), Ok(0));
        assert!(parse_duration(defaults::BREAKER_OPEN_FOR).is_ok_and(|d| !d.is_zero()));
        assert!(defaults::BREAKER_WHEN_OPEN.parse::<WhenOpen>().is_ok());
        let s = RunnerSettings::default();
        assert_eq!(
            (s.batch_size, s.concurrent_batches, s.reference_concurrency),
            (100, 2, 16)
        );
        assert_eq!(s.lease, LeaseDuration::DEFAULT);
        assert_eq!(
            (s.poll_interval.as_secs(), s.shutdown_grace.as_secs()),
            (5, 30)
        );
    }

    #[test]
    fn every_variable_is_read() {
        let vars = [
            ("DESTINY_REPOSITORY_URL", "http://repo:8000/v1"),
            ("ROBOT_ID", "3a533776-c9ad-4aac-a089-d654d509490c"),
            ("ROBOT_SECRET", "do-not-print-me"),
            ("BATCH_SIZE", "1000"),
            ("LEASE", "PT30S"),
            ("CONCURRENT_BATCHES", "4"),
            ("REFERENCE_CONCURRENCY", "64"),
            ("POLL_INTERVAL", "2s"),
            ("SHUTDOWN_GRACE", "PT1M"),
            ("HEALTH_LISTEN", "127.0.0.1:9100"),
            ("RUN_UNTIL_DRAINED", "True"),
            ("CALL_LIMITS", "llm:5/s:2"),
            ("BREAKER_FAILURES", "7"),
            ("BREAKER_RATIO", "40%/50"),
            ("BREAKER_OPEN_FOR", "1m"),
            ("BREAKER_WHEN_OPEN", "report"),
        ];
        let c = RunnerConfig::from_lookup(lookup(&vars)).unwrap();
        assert_eq!(c.repository_url, "http://repo:8000/v1");
        assert_eq!(c.robot_secret.expose(), "do-not-print-me");
        let s = &c.settings;
        assert_eq!(s.batch_size, 1000);
        assert_eq!(s.lease.as_std(), Duration::from_secs(30));
        assert_eq!(s.concurrent_batches, 4);
        assert_eq!(s.reference_concurrency, 64);
        assert_eq!(s.poll_interval, Duration::from_secs(2));
        assert_eq!(s.shutdown_grace, Duration::from_secs(60));
        assert_eq!(s.health_listen, Some("127.0.0.1:9100".parse().unwrap()));
        assert!(s.until_drained);
        assert_eq!(s.call_limits.to_string(), "llm:5/s:2");
        let breaker = s.breaker_policy();
        assert_eq!(breaker.consecutive, 7);
        assert_eq!(
            breaker.ratio.map(|r| r.to_string()).as_deref(),
            Some("40%/50")
        );
        assert_eq!(breaker.open_for, Duration::from_secs(60));
        assert_eq!(breaker.when_open, crate::breaker::WhenOpen::Report);
        assert!(!RunnerSettings::default().breaker_policy().is_on());
        assert!(!RunnerSettings::default().until_drained);
        assert!(!format!("{c:?}").contains("do-not-print-me"));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("BATCH_SIZE", "0"),
            ("BATCH_SIZE", "ten"),
            ("LEASE", "PT0S"),
            ("LEASE", "10x"),
            ("CONCURRENT_BATCHES", "-1"),
            ("POLL_INTERVAL", "later"),
            ("SHUTDOWN_GRACE", "-3s"),
            ("HEALTH_LISTEN", "localhost"),
            ("RUN_UNTIL_DRAINED", "sometimes"),
            ("CALL_LIMITS", "llm:fast"),
            ("BREAKER_FAILURES", "-1"),
            ("BREAKER_RATIO", "most"),
            ("BREAKER_OPEN_FOR", "soon"),
            ("BREAKER_WHEN_OPEN", "panic"),
        ] {
            let vars = [(name, value)];
            let err = RunnerSettings::from_lookup(lookup(&vars)).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { name: n, .. } if *n == name),
                "{name}={value}: {err}"
            );
            assert!(err.to_string().starts_with(name), "{err}");
        }
        let vars = [("ROBOT_ID", "x"), ("DESTINY_REPOSITORY_URL", "http://h")];
        let err = RunnerConfig::from_lookup(lookup(&vars)).unwrap_err();
        assert!(
            matches!(&err, ConfigError::Invalid { name: "ROBOT_ID", reason } if reason.starts_with("\"x\" is not a UUID")),
            "{err}"
        );
        assert_eq!(
            RunnerConfig::from_lookup(lookup(&[])).unwrap_err(),
            ConfigError::Missing("DESTINY_REPOSITORY_URL")
        );
        let shutdown_zero = [("SHUTDOWN_GRACE", "0s"), ("BATCH_SIZE", " ")];
        let s = RunnerSettings::from_lookup(lookup(&shutdown_zero)).unwrap();
        assert_eq!(s.shutdown_grace, Duration::ZERO);
        assert_eq!(s.batch_size, 100);
    }
}
