//! [`RunnerBuilder`]: where the repository is, who the robot is, and how it runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use destiny_sdk::client::RobotClient;
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::secret::Secret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Runner, Shared};
use crate::breaker::Breaker;
use crate::config::{env, ConfigError, RunnerConfig, RunnerSettings};
use crate::failure::TransientPolicy;
use crate::limits::{CallLimit, Limiters};
use crate::metrics::Metrics;
use crate::robot::Robot;
use destiny_sdk::backoff::Backoff;

/// Builder methods that each set one field: `name(arg: Type) => field = value;`.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$($field).+ = $value;
                self
            }
        )*
    };
}

/// Configures a [`Runner`]; start with [`Runner::builder`].
///
/// Give it either a [`RobotClient`] ([`client`](Self::client)) or credentials
/// ([`repository`](Self::repository) or [`config`](Self::config)).
///
/// ```
/// use destiny_robot::{Runner, ToyRobot, TransientPolicy};
/// use std::time::Duration;
/// let robot_id = uuid::Uuid::new_v4();
/// let runner = Runner::builder(ToyRobot::new())
///     .repository("http://localhost:8000", robot_id, "secret")
///     .batch_size(500)
///     .lease("PT2M".parse().unwrap())
///     .renew_every(Duration::from_secs(40))
///     .concurrent_batches(4)
///     .reference_concurrency(32)
///     .poll_interval(Duration::from_secs(2))
///     .shutdown_grace(Duration::from_secs(20))
///     .transient_policy(TransientPolicy::default())
///     .build()?;
/// # let _ = runner;
/// # Ok::<(), destiny_robot::ConfigError>(())
/// ```
#[must_use]
pub struct RunnerBuilder<R> {
    /// The robot.
    robot: R,
    /// A ready client, if given.
    client: Option<RobotClient>,
    /// Credentials to build a client from, if given.
    credentials: Option<(String, Uuid, Secret)>,
    /// The robot id to poll for (default: the client id).
    robot_id: Option<Uuid>,
    /// Batch size, lease, concurrency, intervals.
    settings: RunnerSettings,
    /// Time between renewals (default half the lease).
    renew_every: Option<Duration>,
    /// Retries of transient robot failures.
    transient: TransientPolicy,
    /// A shutdown token given by the caller.
    shutdown: Option<CancellationToken>,
    /// A bound listener for the health server.
    health_listener: Option<TcpListener>,
    /// Metrics shared with other runners, if given.
    metrics: Option<Metrics>,
}

impl<R: Robot> RunnerBuilder<R> {
    pub(super) fn new(robot: R) -> Self {
        Self {
            robot,
            client: None,
            credentials: None,
            robot_id: None,
            settings: RunnerSettings::default(),
            renew_every: None,
            transient: TransientPolicy::default(),
            shutdown: None,
            health_listener: None,
            metrics: None,
        }
    }

    /// Builds a client for the repository at `url` with the robot's id and secret.
    pub fn repository(
        mut self,
        url: impl Into<String>,
        robot_id: Uuid,
        secret: impl Into<Secret>,
    ) -> Self {
        self.credentials = Some((url.into(), robot_id, secret.into()));
        self
    }

    /// Credentials and settings, as read from the environment.
    pub fn config(self, config: RunnerConfig) -> Self {
        let RunnerConfig {
            repository_url,
            robot_id,
            robot_secret,
            settings,
        } = config;
        self.repository(repository_url, robot_id, robot_secret)
            .settings(settings)
    }

    setters! {
        /// Uses this client (its client id is the robot id unless
        /// [`robot_id`](Self::robot_id) says otherwise).
        client(client: RobotClient) => client = Some(client);
        /// All settings at once.
        settings(settings: RunnerSettings) => settings = settings;
        /// The robot id to poll for (default: the client id).
        robot_id(robot_id: Uuid) => robot_id = Some(robot_id);
        /// References per poll (default 100).
        batch_size(batch_size: u32) => settings.batch_size = batch_size;
        /// Lease asked for on polls and renewals (default 10 minutes).
        lease(lease: LeaseDuration) => settings.lease = lease;
        /// Time between lease renewals of a batch (default half the lease; must be shorter
        /// than the lease).
        renew_every(every: Duration) => renew_every = Some(every);
        /// Batches processed at once (default 2).
        concurrent_batches(n: usize) => settings.concurrent_batches = n;
        /// References in the robot's hands at once, per batch (default 16).
        reference_concurrency(n: usize) => settings.reference_concurrency = n;
        /// Wait after an empty poll, jittered (default 5 s).
        poll_interval(interval: Duration) => settings.poll_interval = interval;
        /// Time in-flight batches get to finish on shutdown (default 30 s).
        shutdown_grace(grace: Duration) => settings.shutdown_grace = grace;
        /// Stop once a poll finds no work and no batch is in flight (default: poll until
        /// stopped); [`Runner::run`] then fails with
        /// [`RunError::Unfinished`](crate::RunError::Unfinished) if a batch
        /// failed or was given up.
        until_drained(until_drained: bool) => settings.until_drained = until_drained;
        /// Serve `/health` and `/metrics` on this address.
        health_listen(addr: SocketAddr) => settings.health_listen = Some(addr);
        /// Serve `/health` and `/metrics` on this bound listener (takes precedence over
        /// [`health_listen`](Self::health_listen); handy with port 0).
        health_listener(listener: TcpListener) => health_listener = Some(listener);
        /// How transient robot failures are retried (default [`TransientPolicy::default`]).
        transient_policy(policy: TransientPolicy) => transient = policy;
        /// Stop when this token is cancelled (default: a token of the runner's own, see
        /// [`Runner::shutdown_token`]).
        shutdown_token(token: CancellationToken) => shutdown = Some(token);
        /// Counts into these metrics (default: the runner's own), so several runners of
        /// one process can report together: their counters add up and their poll
        /// latencies form one sample.
        metrics(metrics: Metrics) => metrics = Some(metrics);
    }

    /// Limits the robot's own outbound calls to the service `name` (default: no limit);
    /// the robot takes a call's turn with [`Context::limited`](crate::Context::limited).
    /// All batches of the runner share the limit.
    pub fn call_limit(mut self, name: &str, limit: CallLimit) -> Self {
        self.settings.call_limits.insert(name, limit);
        self
    }

    /// Builds the runner.
    ///
    /// # Errors
    /// [`ConfigError`] when no client or credentials were given, the URL is invalid, or
    /// a setting is out of range (zero counts, a renewal interval not shorter than the
    /// lease).
    pub fn build(self) -> Result<Runner<R>, ConfigError> {
        let client = match (self.client, self.credentials) {
            (Some(client), _) => client,
            (None, Some((url, id, secret))) => {
                RobotClient::new(&url, secret, id).map_err(|e| ConfigError::Invalid {
                    name: env::REPOSITORY_URL,
                    reason: e.to_string(),
                })?
            }
            (None, None) => return Err(ConfigError::Missing(env::REPOSITORY_URL)),
        };
        let s = &self.settings;
        for (name, value) in [
            (env::BATCH_SIZE, s.batch_size as usize),
            (env::CONCURRENT_BATCHES, s.concurrent_batches),
            (env::REFERENCE_CONCURRENCY, s.reference_concurrency),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "must be above zero".to_owned(),
                });
            }
        }
        let lease = s.lease.as_std();
        let renew_every = self.renew_every.unwrap_or(lease / 2);
        if renew_every.is_zero() || renew_every >= lease {
            return Err(ConfigError::Invalid {
                name: "renew_every",
                reason: format!(
                    "{renew_every:?} must be above zero and shorter than the lease ({lease:?})"
                ),
            });
        }
        let limiters = Limiters::new(&self.settings.call_limits);
        let metrics = self.metrics.unwrap_or_default();
        let breaker = Arc::new(Breaker::new(
            self.settings.breaker_policy(),
            metrics.clone(),
        ));
        Ok(Runner {
            shared: Arc::new(Shared {
                robot: self.robot,
                robot_id: self.robot_id.unwrap_or_else(|| client.client_id()),
                client,
                settings: self.settings,
                renew_every,
                transient: self.transient,
                io_attempts: 5,
                io_backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
                metrics,
                limiters,
                breaker,
            }),
            shutdown: self.shutdown.unwrap_or_default(),
            abandon: CancellationToken::new(),
            health_listener: self.health_listener,
        })
    }
}
