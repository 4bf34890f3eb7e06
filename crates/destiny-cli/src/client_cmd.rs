//! `destiny client ...`: one robot API call per invocation, its answer on stdout as
//! compact JSON on one line (the renewal prints the new expiry as Python `isoformat()`
//! text; an empty poll prints nothing).

use clap::{Args, Subcommand};
use destiny_sdk::client::{python_isoformat, RobotClient};
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::models::{RobotEnhancementBatchResult, RobotError, RobotResult};
use uuid::Uuid;

use crate::config::Credentials;
use crate::error::CliError;

/// Arguments of `destiny client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Where the repository is and who the robot is.
    #[command(flatten)]
    credentials: Credentials,
    /// The call to make.
    #[command(subcommand)]
    call: ClientCall,
}

/// The robot API calls.
#[derive(Debug, Subcommand)]
enum ClientCall {
    /// Lease a batch of work; prints the batch, or nothing when none is pending.
    Poll {
        /// The robot to poll for (default: the client id).
        #[arg(long)]
        robot_id: Option<Uuid>,
        /// The most references to lease.
        #[arg(long, default_value_t = 10)]
        limit: u32,
        /// The lease, e.g. PT10M or 10m (default: the repository's, 10 minutes).
        #[arg(long)]
        lease: Option<LeaseDuration>,
    },
    /// Extend a batch's lease; prints the new expiry.
    Renew {
        /// The batch id.
        batch_id: Uuid,
        /// The lease, e.g. PT10M or 10m (default: the repository's, 10 minutes).
        #[arg(long)]
        lease: Option<LeaseDuration>,
    },
    /// Fetch a batch (fresh storage URLs); prints it.
    Get {
        /// The batch id.
        batch_id: Uuid,
    },
    /// Report a batch's result (its file uploaded, or --error); prints the repository's
    /// view of the batch.
    Submit {
        /// The batch id.
        batch_id: Uuid,
        /// Report the whole batch as failed with this message.
        #[arg(long)]
        error: Option<String>,
    },
    /// Report a legacy enhancement request's result; prints the request.
    SubmitRequest {
        /// The enhancement request id.
        request_id: Uuid,
        /// Report the whole request as failed with this message.
        #[arg(long)]
        error: Option<String>,
    },
}

/// Makes the call and prints its answer.
///
/// # Errors
/// [`CliError::Usage`] for missing credentials, [`CliError::Api`] for an error answer,
/// [`CliError::Client`] for other failures.
pub fn run(args: ClientArgs) -> Result<(), CliError> {
    let client = args.credentials.client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            what: "cannot start the async runtime".to_owned(),
            source,
        })?;
    let output = runtime.block_on(call(&client, args.call))?;
    if let Some(text) = output {
        println!("{text}");
    }
    Ok(())
}

/// The call's answer as the text to print (`None`: print nothing).
async fn call(client: &RobotClient, call: ClientCall) -> Result<Option<String>, CliError> {
    let text = match call {
        ClientCall::Poll {
            robot_id,
            limit,
            lease,
        } => {
            let robot_id = robot_id.unwrap_or(client.client_id());
            match client
                .poll_robot_enhancement_batch(robot_id, limit, lease)
                .await?
            {
                Some(batch) => json(&batch)?,
                None => return Ok(None),
            }
        }
        ClientCall::Renew { batch_id, lease } => {
            let expiry = client
                .renew_robot_enhancement_batch_lease(batch_id, lease)
                .await?;
            python_isoformat(&expiry)
        }
        ClientCall::Get { batch_id } => json(&client.get_robot_enhancement_batch(batch_id).await?)?,
        ClientCall::Submit { batch_id, error } => {
            let result = RobotEnhancementBatchResult {
                request_id: batch_id,
                error: error.map(|message| RobotError { message }),
            };
            json(&client.send_robot_enhancement_batch_result(&result).await?)?
        }
        ClientCall::SubmitRequest { request_id, error } => {
            let result = RobotResult {
                request_id,
                error: error.map(|message| RobotError { message }),
            };
            json(&client.send_robot_result(&result).await?)?
        }
    };
    Ok(Some(text))
}

fn json(value: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string(value).map_err(|e| CliError::Io {
        what: "cannot write the answer as JSON".to_owned(),
        source: e.into(),
    })
}
