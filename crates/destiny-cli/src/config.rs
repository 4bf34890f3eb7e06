//! The robot's credentials, from flags or the environment, and the client built from
//! them.

use clap::Args;
use destiny_sdk::client::RobotClient;
use destiny_sdk::secret::Secret;
use uuid::Uuid;

use crate::error::CliError;

/// Where the repository is and who the robot is. Flags override the environment.
///
/// The secret's value is never shown (`--help` hides the environment's value).
#[derive(Debug, Clone, Args)]
pub struct Credentials {
    /// The repository's URL (with or without `/v1`).
    #[arg(long, env = "DESTINY_REPOSITORY_URL", global = true)]
    pub base_url: Option<String>,
    /// The robot's client id (its robot id).
    #[arg(long, env = "ROBOT_ID", global = true)]
    pub client_id: Option<Uuid>,
    /// The robot's client secret (prefer the environment variable: command lines are
    /// visible to other users of the machine).
    #[arg(
        long,
        env = "ROBOT_SECRET",
        hide_env_values = true,
        global = true,
        value_parser = parse_secret
    )]
    pub secret: Option<Secret>,
}

impl Credentials {
    /// The client id, required.
    ///
    /// # Errors
    /// [`CliError::Usage`] when neither `--client-id` nor `ROBOT_ID` is set.
    pub fn client_id(&self) -> Result<Uuid, CliError> {
        self.client_id
            .ok_or_else(|| missing("--client-id", "ROBOT_ID"))
    }

    /// A robot API client from these credentials.
    ///
    /// # Errors
    /// [`CliError::Usage`] when a credential is missing or the URL is invalid.
    pub fn client(&self) -> Result<RobotClient, CliError> {
        let base_url = self
            .base_url
            .as_deref()
            .ok_or_else(|| missing("--base-url", "DESTINY_REPOSITORY_URL"))?;
        let secret = self
            .secret
            .clone()
            .ok_or_else(|| missing("--secret", "ROBOT_SECRET"))?;
        Ok(RobotClient::new(base_url, secret, self.client_id()?)?)
    }
}

fn missing(flag: &str, env: &str) -> CliError {
    CliError::Usage(format!("{flag} is required (or set {env})"))
}

/// Wraps a secret (never fails; exists so clap keeps the value in a [`Secret`]).
pub fn parse_secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}
