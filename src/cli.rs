//! The command line: clap definitions and dispatch. This is the only place that
//! prints errors (with their help line) and turns outcomes into exit codes.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use std::io::IsTerminal;

use crate::engine::{self, RunOptions};
use crate::error::Error;
use crate::operator::Operator;
use crate::operator::headless::Headless;
use crate::operator::terminal::Terminal;
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
    /// Run a runbook step by step, with its gates.
    Run {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Continue the latest unfinished run of a runbook.
    Resume {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// List the runbooks in a directory with their title, priority and estimate.
    List {
        /// The directory to list; default `runbooks/`.
        dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of the runbook language.
    Schema,
}

/// The flags `run` and `resume` share.
#[derive(Debug, clap::Args)]
struct RunFlags {
    /// Answer an input or prompt: NAME=VALUE (not for secrets: use the environment
    /// or an answers file).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
    /// A YAML file of `name: value` answers.
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Never prompt; a missing answer is an error before any step runs.
    #[arg(long)]
    non_interactive: bool,
    /// Confirm plain confirmations and manual steps that are not irreversible.
    #[arg(long)]
    yes: bool,
    /// Confirm this step (the only way to confirm an irreversible step or a
    /// typed phrase without a terminal). Repeatable.
    #[arg(long = "confirm", value_name = "STEP_ID")]
    confirm: Vec<String>,
    /// Stream one JSON object per event to FILE, or `-` for standard output.
    #[arg(long, value_name = "FILE|-")]
    events: Option<String>,
}

impl RunFlags {
    fn options(self) -> RunOptions {
        RunOptions {
            sets: self.sets,
            answers_file: self.answers,
            non_interactive: self.non_interactive,
            yes: self.yes,
            confirm: self.confirm.into_iter().collect(),
            events: self.events,
        }
    }
}

/// The operator for a run: a person at a terminal when there is one and the run
/// may ask, otherwise plain lines (to stderr when events take stdout).
fn operator(options: &RunOptions) -> Box<dyn Operator> {
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let events_on_stdout = options.events.as_deref() == Some("-");
    if tty && !options.non_interactive && !events_on_stdout {
        Box::new(Terminal::new())
    } else if events_on_stdout {
        Box::new(Headless::with_output(std::io::stderr()))
    } else {
        Box::new(Headless::new())
    }
}

fn run(file: &std::path::Path, flags: RunFlags, resume: bool) -> i32 {
    let options = flags.options();
    let operator = operator(&options);
    match engine::run(file, options, operator, resume) {
        Ok(end) => {
            if end == engine::RunEnd::Interrupted {
                restore_terminal();
            }
            end.exit_code()
        }
        Err(error) => {
            if let Some(details) = error.details() {
                eprint!("{details}");
            }
            eprintln!("error: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            if let Some(help) = error.help() {
                eprintln!("help: {help}");
            }
            2
        }
    }
}

/// After Ctrl-C during a prompt, the thread reading the keyboard is abandoned
/// mid-read, possibly with echo off (a secret prompt): put the terminal back
/// into its ordinary mode and show the cursor before exiting.
fn restore_terminal() {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return;
    }
    if let Ok(mut mode) = tcgetattr(&stdin) {
        mode.local_flags |= LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG;
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &mode);
    }
    if std::io::stderr().is_terminal() {
        eprint!("\x1b[?25h");
    }
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
        Command::Run { file, flags } => return run(&file, flags, false),
        Command::Resume { file, flags } => return run(&file, flags, true),
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
