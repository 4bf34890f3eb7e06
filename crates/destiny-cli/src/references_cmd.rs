//! `destiny references generate N --seed S`: seeded sample references as JSONL.

use clap::{Args, Subcommand};
use destiny_sdk::jsonl::JsonlWriter;
use destiny_sdk::samples::ReferenceGenerator;
use std::io::Write;
use std::path::PathBuf;

use crate::error::CliError;

/// `destiny references ...`
#[derive(Debug, Args)]
pub struct ReferencesArgs {
    /// What to do with references.
    #[command(subcommand)]
    command: ReferencesCommand,
}

/// Which repository's reference shapes to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shapes {
    /// 2025's (SDK 0.7.4).
    #[value(name = "2025")]
    Y2025,
    /// Today's (SDK 0.17.6).
    Today,
}

#[derive(Debug, Subcommand)]
enum ReferencesCommand {
    /// Write N generated references (every identifier type; bibliographic, abstract,
    /// location and annotation enhancements; non-ASCII text) as JSONL, the same for the
    /// same seed.
    Generate {
        /// How many references.
        count: u64,
        /// Seed of the generator.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Which repository's shapes: `2025` (what SDK 0.7.4 reads) or `today` (adds
        /// `url` identifiers, non-ASCII DOIs, pagination, publication venues, linked_data,
        /// full_text and tombstone enhancements, ids and created_at; SDK 0.17.6).
        #[arg(long, value_enum, default_value_t = Shapes::Y2025)]
        shapes: Shapes,
    },
}

/// Runs `destiny references ...`.
///
/// # Errors
/// I/O failures writing the output.
pub fn run(args: ReferencesArgs) -> Result<(), CliError> {
    let ReferencesCommand::Generate {
        count,
        seed,
        output,
        shapes,
    } = args.command;
    let io = |what: &str| {
        let what = what.to_owned();
        move |source| CliError::Io { what, source }
    };
    let sink: Box<dyn Write> = match &output {
        Some(path) => Box::new(
            std::fs::File::create(path).map_err(io(&format!("creating {}", path.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = JsonlWriter::new(std::io::BufWriter::new(sink));
    let generator = match shapes {
        Shapes::Y2025 => ReferenceGenerator::new(seed),
        Shapes::Today => ReferenceGenerator::new(seed).today(),
    };
    for reference in generator.take(count as usize) {
        out.write(&reference)
            .map_err(|e| CliError::failed("writing references", e))?;
    }
    out.finish()
        .map_err(|e| CliError::failed("writing references", e))?;
    Ok(())
}
