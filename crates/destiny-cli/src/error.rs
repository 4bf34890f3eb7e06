//! [`CliError`]: what a subcommand can fail with, and the exit code of each.

use std::process::ExitCode;

use destiny_sdk::client::ClientError;

/// A failed subcommand. `Display` is the message after `error: ` on stderr; it never
/// contains the secret.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The repository answered with an error: `<status> <detail>`.
    #[error("{status} {detail}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The server's detail.
        detail: String,
    },
    /// Any other failure of a robot API call (network, timeout, unexpected body...).
    #[error("{0}")]
    Client(ClientError),
    /// A file or stream could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Something other than I/O failed while doing `what` (a JSONL line could not be
    /// written, the robot runner stopped...).
    #[error("{what}: {message}")]
    Failed {
        /// What was being done.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// The input was read but is not acceptable, such as a result file the repository
    /// would refuse in part (exit code 1).
    #[error("{0}")]
    Rejected(String),
    /// The command line or configuration is unusable (exit code 2).
    #[error("{0}")]
    Usage(String),
}

impl CliError {
    /// 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

impl From<ClientError> for CliError {
    fn from(err: ClientError) -> Self {
        match (&err, err.status(), err.detail()) {
            (_, Some(status), Some(detail)) => Self::Api {
                status,
                detail: detail.to_owned(),
            },
            (ClientError::InvalidBaseUrl { .. } | ClientError::Config(_), _, _) => {
                Self::Usage(err.to_string())
            }
            _ => Self::Client(err),
        }
    }
}

impl CliError {
    /// A [`CliError::Failed`] while doing `what`.
    pub fn failed(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Failed {
            what: what.into(),
            message: message.to_string(),
        }
    }
}

/// The multi-threaded async runtime the long-running subcommands (`serve`, `demo`,
/// `robot run`) run on.
///
/// # Errors
/// [`CliError::Io`] when the runtime cannot start.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Runtime::new().map_err(|source| CliError::Io {
        what: "starting the async runtime".into(),
        source,
    })
}
