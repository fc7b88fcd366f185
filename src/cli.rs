//! The command line: clap definitions and dispatch. This is the only place that
//! prints errors (with their help line) and turns outcomes into exit codes.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::Error;
use crate::output::Output;
use crate::{list, schema, validate};

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Declarative runbooks and checklists with gates."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check runbook files and report every problem with its location.
    Validate {
        /// Files or directories (searched recursively for .yaml/.yml); default `runbooks/`.
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: validate::Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
    },
    /// List the runbooks in a directory with their title, priority and estimate.
    List {
        /// The directory to list; default `runbooks/`.
        dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of the runbook language.
    Schema,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with status 0; usage errors exit 2.
            let _ = error.print();
            return if error.use_stderr() { 2 } else { 0 };
        }
    };
    let mut out = Output::stdout();
    let result = match cli.command {
        Command::Validate {
            paths,
            format,
            deny_warnings,
        } => validate::run(&paths, format, deny_warnings, &mut out),
        Command::List { dir } => list::run(dir.as_deref(), &mut out),
        Command::Schema => out.write(&schema::render()).map(|()| 0),
    };
    match result {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

fn report(error: &Error) -> i32 {
    let mut message = format!("error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    eprintln!("{message}");
    if let Some(help) = error.help() {
        eprintln!("help: {help}");
    }
    error.exit_code()
}
