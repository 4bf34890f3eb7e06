//! `destiny results check --references REFS RESULTS`: a robot's result file checked
//! against its batch with the repository's rules and texts, before it is uploaded.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use destiny_sdk::jsonl::JsonlWriter;
use destiny_sdk::result_file::{Outcome, ResultFileCheck};
use uuid::Uuid;

use crate::error::CliError;

/// `destiny results ...`
#[derive(Debug, Args)]
pub struct ResultsArgs {
    /// What to do with result files.
    #[command(subcommand)]
    command: ResultsCommand,
}

#[derive(Debug, Subcommand)]
enum ResultsCommand {
    /// Check a result file against the reference file of its batch as the repository's
    /// import does: write the validation file it would write (JSONL, one line per result
    /// line, then one per reference without a line) and a summary on stderr. Exit codes:
    /// 0 the repository would take the file whole; 1 it would refuse a line or find a
    /// reference missing (or a file could not be read); 2 the reference file is not one.
    /// (Whether an enhancement duplicates one already stored is known only to the
    /// repository.)
    Check {
        /// The batch's reference file (JSONL; only each line's `id` is read).
        #[arg(long)]
        references: PathBuf,
        /// The result file (`-` for standard input).
        results: PathBuf,
        /// Write the validation lines to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// Runs `destiny results ...`.
///
/// # Errors
/// Unreadable files; a reference line without an id ([`CliError::Usage`]); a result file
/// the repository would not take whole ([`CliError::Rejected`]).
pub fn run(args: ResultsArgs) -> Result<(), CliError> {
    let ResultsCommand::Check {
        references,
        results,
        output,
    } = args.command;
    let batch = reference_ids(&references)?;
    let input: Box<dyn Read> = if results.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(open(&results)?)
    };
    let sink: Box<dyn Write> = match &output {
        Some(path) => Box::new(std::fs::File::create(path).map_err(|source| CliError::Io {
            what: format!("creating {}", path.display()),
            source,
        })?),
        None => Box::new(std::io::stdout().lock()),
    };
    let results_name = results.display().to_string();
    let (summary, rejected) = check(batch, BufReader::new(input), sink, &results_name)?;
    eprintln!("{summary}");
    if rejected {
        return Err(CliError::Rejected(format!(
            "{results_name}: the repository would not take this file whole (see the validation lines)"
        )));
    }
    Ok(())
}

/// Checks `results` against `batch`, writing the validation lines to `sink`; returns the
/// summary and whether a line was refused or a reference is missing.
fn check(
    batch: Vec<Uuid>,
    results: impl BufRead,
    sink: impl Write,
    results_name: &str,
) -> Result<(String, bool), CliError> {
    let references = batch.len();
    let mut check = ResultFileCheck::new(batch);
    let mut out = JsonlWriter::new(std::io::BufWriter::new(sink));
    let write_error =
        |e: destiny_sdk::jsonl::JsonlError| CliError::failed("writing the validation lines", e);
    let mut results = results;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = results
            .read_until(b'\n', &mut line)
            .map_err(|source| CliError::Io {
                what: format!("reading {results_name}"),
                source,
            })?;
        if n == 0 {
            break;
        }
        if let Some(validation) = check.check_bytes(&line) {
            out.write(&validation).map_err(write_error)?;
        }
    }
    let (lines, refused) = (check.entries(), check.refused());
    let done = check.finish();
    for validation in &done.missing {
        out.write(validation).map_err(write_error)?;
    }
    out.finish().map_err(write_error)?;
    let enhanced = done
        .outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Enhance(_)))
        .count();
    let missing = done.missing.len();
    let failed = references - enhanced - missing;
    let summary = format!(
        "{lines} result lines for {references} references: {enhanced} enhanced, {failed} failed \
         (LinkedRobotError or raw), {missing} missing, {refused} lines refused"
    );
    Ok((summary, refused > 0 || missing > 0))
}

/// The ids of a reference file, in order (blank lines skipped).
fn reference_ids(path: &Path) -> Result<Vec<Uuid>, CliError> {
    /// Just the id of a reference line.
    #[derive(serde::Deserialize)]
    struct IdOnly {
        /// The reference id.
        id: Uuid,
    }
    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in BufReader::new(open(path)?).lines().enumerate() {
        let line = line.map_err(|source| CliError::Io {
            what: format!("reading {}", path.display()),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let IdOnly { id } = serde_json::from_str(&line).map_err(|e| {
            CliError::Usage(format!(
                "{} line {}: not a reference with an id: {e}",
                path.display(),
                i + 1
            ))
        })?;
        if seen.insert(id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn open(path: &Path) -> Result<std::fs::File, CliError> {
    std::fs::File::open(path).map_err(|source| CliError::Io {
        what: format!("opening {}", path.display()),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_kind_of_line_and_writes_the_validation_file() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let enhancement = |id: Uuid| {
            format!(
                r#"{{"reference_id": "{id}", "source": "s", "visibility": "public", "content": {{"enhancement_type": "abstract", "process": "other", "abstract": "A."}}}}"#
            )
        };
        let file = [
            enhancement(ids[0]),
            format!(r#"{{"reference_id": "{}", "message": "no"}}"#, ids[1]),
            enhancement(ids[0]),
            "{".to_owned(),
        ]
        .join("\n");
        let mut written = Vec::new();
        let (summary, rejected) =
            check(ids.clone(), file.as_bytes(), &mut written, "results").unwrap();
        assert_eq!(
            summary,
            "4 result lines for 4 references: 1 enhanced, 1 failed (LinkedRobotError or raw), \
             2 missing, 2 lines refused"
        );
        assert!(rejected);
        let text = String::from_utf8(written).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert_eq!(lines[0], format!(r#"{{"reference_id":"{}"}}"#, ids[0]));
        assert!(lines[2].contains("Duplicate reference ID in enhancement result."));
        assert!(lines[3].starts_with(r#"{"error":"Entry 4 could not be parsed: "#));
        assert!(lines[5].contains(&ids[3].to_string()));

        let good = [enhancement(ids[0])].join("\n");
        let (_, rejected) = check(vec![ids[0]], good.as_bytes(), Vec::new(), "r").unwrap();
        assert!(!rejected);
    }
}
