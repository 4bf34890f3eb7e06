//! `destiny client ...`: one robot API call per invocation, its answer on stdout as
//! compact JSON on one line (the renewal prints the new expiry as Python `isoformat()`
//! text; an empty poll prints nothing).
//!
//! Besides the batch calls, the robot routes of today's repository (SDK 0.17.6):
//! enhancement requests, automations and search-based enhancement requests. Their file
//! inputs are read by `client_input`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use destiny_sdk::client::{python_isoformat, RobotClient};
use destiny_sdk::duration::LeaseDuration;
use destiny_sdk::models::{
    EnhancementRequestIn, RobotAutomationIn, RobotEnhancementBatchResult, RobotError, RobotResult,
    SearchEnhancementRequestIn,
};
use uuid::Uuid;

use crate::client_input;
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
    /// Ask for references to be enhanced by a robot; prints the enhancement request.
    Request {
        /// The robot to enhance them (default: the client id).
        #[arg(long)]
        robot_id: Option<Uuid>,
        /// A reference to enhance (repeat for more).
        #[arg(long = "reference-id", value_name = "ID")]
        reference_ids: Vec<Uuid>,
        /// A file of reference ids, one per line (`-`: stdin); blank and `#` lines skipped.
        #[arg(long, value_name = "FILE")]
        references_file: Option<PathBuf>,
        /// Where the request comes from.
        #[arg(long)]
        source: Option<String>,
    },
    /// Fetch an enhancement request and its status; prints it.
    RequestStatus {
        /// The enhancement request id.
        request_id: Uuid,
    },
    /// Robot automations: standing queries that request enhancements when references
    /// or enhancements matching them arrive.
    #[command(subcommand)]
    Automation(AutomationCall),
    /// Ask for every reference a search matches to be enhanced (or, with --dry-run,
    /// count them); prints the search request (or the count).
    SearchRequest {
        /// The Lucene query selecting the references (without a field: titles and
        /// abstracts).
        #[arg(long)]
        search_query: String,
        /// The robot to enhance them (default: the client id).
        #[arg(long)]
        robot_id: Option<Uuid>,
        /// Where the request comes from.
        #[arg(long)]
        source: Option<String>,
        /// Only count the matching references; request nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Fetch a search enhancement request and its progress; prints it.
    SearchRequestStatus {
        /// The search enhancement request id.
        request_id: Uuid,
    },
}

/// `destiny client automation ...`.
#[derive(Debug, Subcommand)]
enum AutomationCall {
    /// Register an automation; prints it with its id.
    Add {
        /// The robot to enhance matching references (default: the client id).
        #[arg(long)]
        robot_id: Option<Uuid>,
        /// A file holding the percolator query, a JSON object (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        query_file: PathBuf,
    },
    /// Replace an automation's robot and query; prints it.
    Update {
        /// The automation id.
        automation_id: Uuid,
        /// The robot to enhance matching references (default: the client id).
        #[arg(long)]
        robot_id: Option<Uuid>,
        /// A file holding the percolator query, a JSON object (`-`: stdin).
        #[arg(long, value_name = "FILE")]
        query_file: PathBuf,
    },
    /// List the automations; prints a JSON array.
    List,
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
        ClientCall::Request {
            robot_id,
            reference_ids,
            references_file,
            source,
        } => {
            let reference_ids =
                client_input::reference_ids(reference_ids, references_file.as_deref())?;
            let request = EnhancementRequestIn {
                robot_id: robot_id.unwrap_or(client.client_id()),
                reference_ids,
                source,
            };
            json(&client.create_enhancement_request(&request).await?)?
        }
        ClientCall::RequestStatus { request_id } => {
            json(&client.get_enhancement_request(request_id).await?)?
        }
        ClientCall::Automation(call) => automation(client, call).await?,
        ClientCall::SearchRequest {
            search_query,
            robot_id,
            source,
            dry_run,
        } => {
            let request = SearchEnhancementRequestIn {
                robot_id: robot_id.unwrap_or(client.client_id()),
                search_query,
                source,
            };
            if dry_run {
                json(&client.request_search_enhancement_dry_run(&request).await?)?
            } else {
                json(&client.request_search_enhancement(&request).await?)?
            }
        }
        ClientCall::SearchRequestStatus { request_id } => {
            json(&client.get_search_enhancement_request(request_id).await?)?
        }
    };
    Ok(Some(text))
}

/// An automation call's answer as the text to print.
async fn automation(client: &RobotClient, call: AutomationCall) -> Result<String, CliError> {
    let automation_in = |robot_id: Option<Uuid>, file: &std::path::Path| {
        Ok::<_, CliError>(RobotAutomationIn {
            robot_id: robot_id.unwrap_or(client.client_id()),
            query: client_input::query(file)?,
        })
    };
    match call {
        AutomationCall::Add {
            robot_id,
            query_file,
        } => {
            let automation = automation_in(robot_id, &query_file)?;
            json(&client.create_robot_automation(&automation).await?)
        }
        AutomationCall::Update {
            automation_id,
            robot_id,
            query_file,
        } => {
            let automation = automation_in(robot_id, &query_file)?;
            json(
                &client
                    .update_robot_automation(automation_id, &automation)
                    .await?,
            )
        }
        AutomationCall::List => json(&client.list_robot_automations().await?),
    }
}

fn json(value: &impl serde::Serialize) -> Result<String, CliError> {
    serde_json::to_string(value).map_err(|e| CliError::Io {
        what: "cannot write the answer as JSON".to_owned(),
        source: e.into(),
    })
}
