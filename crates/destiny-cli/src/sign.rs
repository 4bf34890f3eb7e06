//! `destiny sign`: print the three HMAC headers of a request, as the Python SDK signs it.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use destiny_sdk::auth::{create_signature, pyfloat};
use destiny_sdk::secret::Secret;
use uuid::Uuid;

use crate::config::parse_secret;
use crate::error::CliError;

/// Arguments of `destiny sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The client secret (the HMAC key, used as UTF-8 text).
    #[arg(long, env = "ROBOT_SECRET", hide_env_values = true, value_parser = parse_secret)]
    secret: Secret,
    /// The client id (a UUID).
    #[arg(long, env = "ROBOT_ID")]
    client_id: Uuid,
    /// The timestamp, as any text Python's `float()` reads (default: now). It is signed
    /// and printed as Python's `repr()` of that float, e.g. `1.73338e9` as `1733380000.0`.
    #[arg(long, value_parser = parse_timestamp, allow_hyphen_values = true)]
    timestamp: Option<f64>,
    /// A file holding the exact request body, `-` for stdin (default: empty body).
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
}

/// Prints `Authorization: Signature <hex>`, `X-Client-Id: <uuid>` and
/// `X-Request-Timestamp: <repr>`, one per line.
///
/// # Errors
/// [`CliError::Io`] when the body cannot be read.
pub fn run(args: SignArgs) -> Result<(), CliError> {
    let body = match &args.body_file {
        None => Vec::new(),
        Some(path) if path.as_os_str() == "-" => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|source| CliError::Io {
                    what: "cannot read the body from stdin".to_owned(),
                    source,
                })?;
            body
        }
        Some(path) => std::fs::read(path).map_err(|source| CliError::Io {
            what: format!("cannot read the body file {}", path.display()),
            source,
        })?,
    };
    let timestamp = args.timestamp.unwrap_or_else(destiny_sdk::auth::system_now);
    let signature = create_signature(args.secret.expose(), &body, &args.client_id, timestamp);
    println!("Authorization: Signature {signature}");
    println!("X-Client-Id: {}", args.client_id.hyphenated());
    println!("X-Request-Timestamp: {}", pyfloat::repr(timestamp));
    Ok(())
}

/// Python's `float(text)`.
fn parse_timestamp(text: &str) -> Result<f64, String> {
    pyfloat::parse(text).map_err(|e| e.to_string())
}
