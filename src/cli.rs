//! The command line: clap definitions and dispatch. This is the only place that
//! prints errors (with their help line) and turns outcomes into exit codes.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

use std::io::{IsTerminal, Write as _};

use crate::engine::{self, RunOptions};
use crate::error::Error;
use crate::eval::LoadError;
use crate::operator::Operator;
use crate::operator::headless::Headless;
use crate::operator::terminal::Terminal;
use crate::output::{Output, printable};
use crate::{list, plan, schema, validate};

#[derive(Debug, Parser)]
#[command(
    name = "runbook",
    version,
    about = "Declarative runbooks and checklists with gates."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// When to colour the output: `auto` on a terminal, unless `NO_COLOR` is set
    /// (`CLICOLOR_FORCE=1` forces it).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        value_name = "WHEN"
    )]
    color: crate::output::ColorChoice,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check runbook files and report every problem with its location.
    Validate {
        /// Files or directories (searched recursively for .yaml/.yml); `-` reads
        /// standard input; default `runbooks/`.
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: validate::Format,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Files checked at once (default: the number of cores). Output comes in
        /// the same order whatever the number.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        jobs: Option<u16>,
        /// The file name standard input (`-`) stands for, in diagnostics and for
        /// checking its id and child runbooks.
        #[arg(long, value_name = "NAME")]
        stdin_filename: Option<PathBuf>,
        /// Accept this warning in every file (reported as suppressed in SARIF).
        /// Repeatable.
        #[arg(long = "ignore", value_name = "CODE", value_parser = validate::parse_ignored)]
        ignore: Vec<crate::document::diagnostic::Code>,
    },
    /// Run a runbook step by step, with its gates.
    Run {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Show what a run would do, without doing it: no request, no write, no process.
    Plan {
        /// The runbook file.
        file: PathBuf,
        /// Answer an input or prompt: NAME=VALUE (not for secrets: use the
        /// environment or an answers file).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        sets: Vec<String>,
        /// A YAML file of `name: value` answers.
        #[arg(long, value_name = "FILE")]
        answers: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: plan::Format,
        /// Also send the probe steps' GET/HEAD requests (and `wait_for` polls) and show the results.
        #[arg(long)]
        probe: bool,
        /// Write a plan artifact that `run --plan` checks the run against.
        #[arg(long, value_name = "PLAN.json")]
        out: Option<PathBuf>,
    },
    /// Continue the latest unfinished run of a runbook.
    Resume {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        flags: RunFlags,
        /// Run this step again although it is in doubt: it started and its
        /// result was never recorded, so it may have happened. Repeatable.
        #[arg(long = "rerun", value_name = "STEP_ID")]
        rerun: Vec<String>,
    },
    /// Approve (or reject) a step waiting for approval in another user's run:
    /// shows what it would do and records your decision.
    Approve {
        /// The runbook file.
        file: PathBuf,
        /// The step, as the run names it (`revoke`, or `kid.revoke` in a child).
        step: String,
        /// The run; default the latest run that asked for this approval.
        #[arg(long = "run", value_name = "RUN_ID")]
        run: Option<String>,
        /// Reject the step: the run fails it with your reason.
        #[arg(long, requires = "reason")]
        reject: bool,
        /// Why you reject it (with `--reject`).
        #[arg(long, value_name = "TEXT", requires = "reject")]
        reason: Option<String>,
        #[command(flatten)]
        state: StateFlag,
    },
    /// End the latest unfinished run of a runbook without running anything more;
    /// the secrets it kept for resume and its setting backups are removed.
    Abandon {
        /// The runbook file.
        file: PathBuf,
        #[command(flatten)]
        state: StateFlag,
    },
    /// List the runbooks in a directory with their title, priority and estimate.
    List {
        /// The directory to list; default `runbooks/`.
        dir: Option<PathBuf>,
    },
    /// Print the JSON Schema of the runbook language.
    Schema,
    /// Print a shell's completion script: `source <(runbook completions bash)`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: crate::manual::Shell,
    },
    /// Print the man page, or write a page per command into a directory.
    Man {
        /// Write runbook.1, runbook-validate.1, … into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Rotate a (simulated) Cloudflare token end to end on this machine.
    Demo {
        /// Play a failure path instead of the happy one.
        #[arg(long, value_enum, default_value = "happy")]
        scenario: crate::demo::Scenario,
        /// Never prompt (the demo answers the new token itself).
        #[arg(long)]
        non_interactive: bool,
        /// Confirm plain confirmations and manual steps that are not irreversible.
        #[arg(long)]
        yes: bool,
        /// Confirm this step without a terminal. Repeatable.
        #[arg(long = "confirm", value_name = "STEP_ID")]
        confirm: Vec<String>,
        /// Keep the demo's temporary directory (journal, env file) afterwards.
        #[arg(long)]
        keep: bool,
    },
    /// Serve the simulated Cloudflare API and platform until Ctrl-C, for writing
    /// runbooks against them.
    Sandbox {
        /// The platform's env file (created with the sandbox's old token if missing).
        #[arg(long, default_value = ".env.auth")]
        env_file: PathBuf,
        /// The simulated Cloudflare API's port on 127.0.0.1 (0: any free port).
        #[arg(long, value_name = "PORT", default_value_t = 0)]
        api_port: u16,
        /// The simulated platform's port on 127.0.0.1: 8084, where the bundled
        /// runbooks and examples look for it (0: any free port).
        #[arg(long, value_name = "PORT", default_value_t = 8084)]
        platform_port: u16,
    },
    /// Restart the sandbox's platform service (what a runbook's restart command runs).
    #[command(hide = true)]
    SandboxRestart {
        /// The platform's URL or its restart URL.
        url: String,
    },
    /// Show where a checklist stands (its latest run), or every runbook's last run.
    Status {
        /// The runbook file; without it, every runbook under `runbooks/`.
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: crate::status::Format,
        #[command(flatten)]
        state: StateFlag,
    },
    /// Draw a runbook's steps, gates and rollback as a diagram.
    Graph {
        /// The runbook file.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value = "mermaid")]
        format: crate::graph::Format,
    },
    /// Check a run journal's hash chain: exit 0 when it holds, 1 when it breaks.
    Verify {
        /// A run id, a runbook file (its latest run) or a run journal.
        #[arg(value_name = "RUN_ID|FILE")]
        target: String,
    },
    /// The team state database: `runbook state init URL` sets it up.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Report what happened in a run: steps, evidence, gates, confirmations, rollback.
    Report {
        /// A run id, a runbook file (its latest run) or a run journal; default:
        /// the latest run of any runbook under `runbooks/`.
        #[arg(value_name = "RUN_ID|FILE")]
        target: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: crate::report::run_report::Format,
        #[command(flatten)]
        state: StateFlag,
    },
}

/// `runbook state …`.
#[derive(Debug, Subcommand)]
enum StateCommand {
    /// Create or upgrade the team state schema (versioned migrations; running it
    /// again applies only what is missing). Run it as the database's owner.
    Init {
        /// postgres://USER@HOST:PORT/DATABASE (default: `RUNBOOK_STATE_URL`; a
        /// password belongs there, not on the command line).
        url: Option<String>,
    },
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
    /// typed phrase without a terminal); a child runbook's step is
    /// `PARENT_STEP.ID`. Repeatable.
    #[arg(long = "confirm", value_name = "STEP_ID")]
    confirm: Vec<String>,
    /// Stream one JSON object per event to FILE, or `-` for standard output.
    #[arg(long, value_name = "FILE|-")]
    events: Option<String>,
    /// Refuse to start unless the runbook, its children and the inputs are the
    /// ones this plan artifact (`runbook plan --out`) was made with.
    #[arg(long, value_name = "PLAN.json")]
    plan: Option<PathBuf>,
    /// Keep no secret at rest for `resume` (it asks for them again).
    #[arg(long)]
    no_keep_secrets: bool,
    /// Who is at the keyboard (default: `RUNBOOK_OPERATOR`, then the user this
    /// process runs as).
    #[arg(long, value_name = "NAME")]
    operator: Option<String>,
    #[command(flatten)]
    state: StateFlag,
}

/// `--state URL`, shared by the commands that read or write run state.
#[derive(Debug, clap::Args)]
struct StateFlag {
    /// The team state database, postgres://USER@HOST:PORT/DATABASE (default:
    /// `RUNBOOK_STATE_URL`, where a password belongs): runs, events and the run
    /// lock live there too.
    #[arg(long = "state", value_name = "URL")]
    url: Option<String>,
}

impl StateFlag {
    fn resolve(&self) -> Result<Option<crate::postgres::StateUrl>, crate::postgres::PgError> {
        crate::postgres::StateUrl::from_flag_or_env(self.url.as_deref())
    }
}

impl RunFlags {
    fn options(self) -> Result<RunOptions, crate::postgres::PgError> {
        Ok(RunOptions {
            state: self.state.resolve()?,
            sets: self.sets,
            answers_file: self.answers,
            non_interactive: self.non_interactive,
            yes: self.yes,
            confirm: self.confirm.into_iter().collect(),
            events: self.events,
            plan: self.plan,
            rerun: std::collections::BTreeSet::new(),
            no_keep_secrets: self.no_keep_secrets,
            operator: self.operator,
            continue_with: None,
        })
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

fn run(file: &std::path::Path, options: RunOptions, resume: bool) -> i32 {
    // What was reviewed is what runs: checked before the lock, the journal or any step.
    if let Some(plan_path) = &options.plan
        && let Err(error) = plan::check_run(
            plan_path,
            file,
            &options.sets,
            options.answers_file.as_deref(),
        )
    {
        return report_plan(&error);
    }
    let operator = operator(&options);
    match engine::run(file, options, operator, resume) {
        Ok(end) => {
            if matches!(end, engine::RunEnd::Interrupted(_)) {
                restore_terminal();
            }
            end.exit_code()
        }
        Err(error) => report_engine(&error),
    }
}

/// What `approve` showed and recorded, in words: the step's plan as the run
/// resolved it (secrets already masked by the run), then the decision.
fn shown_approval(
    approval: &engine::approve::Approval,
    file: &std::path::Path,
    out: &mut Output,
) -> i32 {
    use crate::approval::Verdict;
    let asked = &approval.request.asked;
    let binding = &asked.binding;
    let mut text = format!(
        "{} · run {}
Step `{}`: {} · {}
  target: {}
  runbook sha256: {}
",
        approval.runbook,
        binding.run_id,
        binding.step,
        asked.title,
        approval.effect,
        binding.target,
        binding.runbook_sha256
    );
    if let Some(message) = &asked.message {
        text.push_str(&format!(
            "  message: {message}
"
        ));
    }
    text.push_str(&format!(
        "  asked by {} at {}: {} approval{} from {}
",
        approval.request.requested_by,
        approval.request.requested_at,
        asked.count,
        if asked.count == 1 { "" } else { "s" },
        asked.from.join(", ")
    ));
    if asked.evidence.is_empty() {
        text.push_str(
            "  evidence: none passed before it
",
        );
    }
    for evidence in &asked.evidence {
        text.push_str(&format!(
            "  evidence: `{}` passed at {}
",
            evidence.step, evidence.passed_at
        ));
    }
    for earlier in &approval.before.decisions {
        let what = match &earlier.verdict {
            Verdict::Approved => "approved".to_owned(),
            Verdict::Rejected { reason } => format!("rejected: {reason}"),
        };
        text.push_str(&format!(
            "  earlier: {} {what} at {}
",
            earlier.approver, earlier.decided_at
        ));
    }
    let decision = &approval.decision;
    let (what, next) = match &decision.verdict {
        Verdict::Approved => (
            "Approved".to_owned(),
            format!(
                "The run goes on when its operator resumes it (`runbook resume {}` …); a run waiting at a terminal goes on by itself.",
                file.display()
            ),
        ),
        Verdict::Rejected { reason } => (
            format!("Rejected ({reason})"),
            "The run fails the step with your reason when it gets there.".to_owned(),
        ),
    };
    text.push_str(&format!(
        "{what} by {} at {}, for this target and runbook only.
{next}
",
        decision.approver, decision.decided_at
    ));
    match out.write(&text) {
        Ok(()) => 0,
        Err(error) => report(&error),
    }
}

/// What `abandon` did, in words.
fn shown_abandoned(abandoned: &engine::abandon::Abandoned, out: &mut Output) -> i32 {
    let mut text = format!(
        "Run {} abandoned (journal {}).\n",
        abandoned.run_id,
        abandoned.journal.display()
    );
    if abandoned.had_secrets {
        text.push_str("Removed the secrets it kept for resume.\n");
    }
    if abandoned.had_backups {
        text.push_str("Removed the backups of the settings it replaced.\n");
    }
    text.push_str("What it changed stays as it is now; `runbook run FILE` starts afresh.\n");
    match out.write(&text) {
        Ok(()) => 0,
        Err(error) => report(&error),
    }
}

/// `runbook state init [URL]`.
fn state_init(url: Option<&str>, out: &mut Output) -> i32 {
    let url = match crate::postgres::StateUrl::from_flag_or_env(url) {
        Ok(Some(url)) => url,
        Ok(None) => {
            return fail(
                &crate::postgres::PgError::BadUrl {
                    shown: "(none)".to_owned(),
                    source: None,
                },
                Some(
                    "name the database: `runbook state init postgres://USER@HOST:PORT/DATABASE`, or set RUNBOOK_STATE_URL",
                ),
                crate::error::EXIT_USAGE,
            );
        }
        Err(error) => return fail(&error, error.help(), error.exit_code()),
    };
    let applied = crate::postgres::Session::connect(&url)
        .and_then(|session| crate::postgres::schema::init(&session));
    let applied = match applied {
        Ok(applied) => applied,
        Err(error) => return fail(&error, error.help(), error.exit_code()),
    };
    let done = if applied.from == applied.to {
        format!("is at schema version {} already; nothing to do", applied.to)
    } else {
        format!(
            "is set up: schema version {} (it was at {})",
            applied.to, applied.from
        )
    };
    let text = format!(
        "The team state database {} {done}.\nEach operator logs in as a role of their own, a member of {}: `CREATE ROLE alice LOGIN IN ROLE {}`.\n",
        url.shown(),
        crate::postgres::schema::TEAM_ROLE,
        crate::postgres::schema::TEAM_ROLE,
    );
    match out.write(&text) {
        Ok(()) => 0,
        Err(error) => report(&error),
    }
}

/// Prints an error that stopped a run (or a plan) before it could start.
fn report_engine(error: &engine::EngineError) -> i32 {
    print_error(
        error,
        diagnostics(error.invalid()).as_deref(),
        error.help().as_deref(),
    );
    error.exit_code()
}

fn report_plan(error: &plan::PlanError) -> i32 {
    print_error(
        error,
        diagnostics(error.invalid()).as_deref(),
        error.help().as_deref(),
    );
    error.exit_code()
}

/// An invalid runbook's diagnostics, rendered as `validate` shows them.
fn diagnostics(invalid: Option<&LoadError>) -> Option<String> {
    match invalid? {
        LoadError::Invalid {
            path,
            diagnostics,
            text,
            ..
        } => Some(crate::report::human::render(
            &path.display().to_string(),
            Some(text),
            diagnostics,
            false,
        )),
        LoadError::Read { .. } => None,
    }
}

/// Prints an error with its causes and help, and returns `code`.
fn fail(error: &dyn std::error::Error, help: Option<&str>, code: i32) -> i32 {
    print_error(error, None, help);
    code
}

/// The one place errors are printed: any diagnostics first, then the error,
/// each cause, and what to do about it.
fn print_error(error: &dyn std::error::Error, details: Option<&str>, help: Option<&str>) {
    let mut text = details.unwrap_or_default().to_owned();
    for line in error_lines(error, help) {
        // Messages quote runbook text and `--set` values: no control character of
        // theirs reaches the terminal.
        text.push_str(&printable(&line));
        text.push('\n');
    }
    // A closed stderr leaves nowhere to say anything: that must not panic.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The lines that tell of `error`: `error: …`, a `caused by: …` for each cause
/// not already said — a message that quotes its cause (`cannot read `x`: No
/// such file…`) is not followed by the same words again — and `help: …`.
fn error_lines(error: &dyn std::error::Error, help: Option<&str>) -> Vec<String> {
    let message = error.to_string();
    let mut said = message.clone();
    let mut lines = vec![format!("error: {message}")];
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !said.contains(&cause_text) {
            lines.push(format!("  caused by: {cause_text}"));
            said.push('\n');
            said.push_str(&cause_text);
        }
        source = cause.source();
    }
    if let Some(help) = help {
        lines.push(format!("help: {help}"));
    }
    lines
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
        // A terminal that hung up takes no more writes; that must not panic.
        let _ = write!(std::io::stderr(), "\x1b[?25h");
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
    crate::output::decide_colors(cli.color);
    let mut out = Output::stdout();
    let result = match cli.command {
        Command::Run { file, flags } => {
            return match flags.options() {
                Ok(options) => run(&file, options, false),
                Err(error) => fail(&error, error.help(), error.exit_code()),
            };
        }
        Command::Demo {
            scenario,
            non_interactive,
            yes,
            confirm,
            keep,
        } => {
            let options = crate::demo::DemoOptions {
                non_interactive,
                yes,
                confirm,
                keep,
            };
            return match crate::demo::run(scenario, &options) {
                Ok(code) => code,
                Err(error) => fail(&error, None, error.exit_code()),
            };
        }
        Command::Sandbox {
            env_file,
            api_port,
            platform_port,
        } => {
            let config = crate::sandbox::SandboxConfig {
                env_file,
                api_port,
                platform_port,
                ..crate::sandbox::SandboxConfig::default()
            };
            return match crate::sandbox::serve_forever(config) {
                Ok(()) => 0,
                Err(error) => fail(&error, error.help(), crate::error::EXIT_USAGE),
            };
        }
        Command::SandboxRestart { url } => {
            return match crate::sandbox::post_restart(&url) {
                Ok(()) => 0,
                Err(error) => fail(&error, error.help(), crate::error::EXIT_USAGE),
            };
        }
        Command::Resume { file, flags, rerun } => {
            return match flags.options() {
                Ok(options) => run(
                    &file,
                    RunOptions {
                        rerun: rerun.into_iter().collect(),
                        ..options
                    },
                    true,
                ),
                Err(error) => fail(&error, error.help(), error.exit_code()),
            };
        }
        Command::Approve {
            file,
            step,
            run,
            reject,
            reason,
            state,
        } => {
            let verdict = match (reject, reason) {
                (true, Some(reason)) => crate::approval::Verdict::Rejected { reason },
                _ => crate::approval::Verdict::Approved,
            };
            let approved = state.resolve().map_err(Into::into).and_then(|state| {
                engine::approve::approve(&file, &step, run.as_deref(), verdict, state.as_ref())
            });
            return match approved {
                Ok(approval) => shown_approval(&approval, &file, &mut out),
                Err(error) => report_engine(&error),
            };
        }
        Command::Abandon { file, state } => {
            let abandoned = state
                .resolve()
                .map_err(Into::into)
                .and_then(|state| engine::abandon::abandon(&file, state.as_ref()));
            return match abandoned {
                Ok(abandoned) => shown_abandoned(&abandoned, &mut out),
                Err(error) => report_engine(&error),
            };
        }
        Command::Plan {
            file,
            sets,
            answers,
            format,
            probe,
            out: artifact,
        } => {
            let options = plan::PlanOptions {
                file,
                sets,
                answers_file: answers,
                format,
                probe,
                out: artifact,
            };
            return plan::command(&options, &mut out).unwrap_or_else(|e| report_plan(&e));
        }
        Command::Validate {
            paths,
            format,
            deny_warnings,
            stdin_filename,
            ignore,
            jobs,
        } => validate::run(
            &validate::ValidateOptions {
                paths,
                format,
                deny_warnings,
                stdin_filename,
                ignore,
                jobs: jobs.map_or_else(
                    || std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                    usize::from,
                ),
            },
            &mut out,
        ),
        Command::List { dir } => list::run(dir.as_deref(), &mut out),
        Command::Schema => out.write(&schema::render()).map(|()| 0),
        Command::Completions { shell } => {
            crate::manual::completions(shell, Cli::command(), &mut out).map(|()| 0)
        }
        Command::Man { dir } => {
            crate::manual::pages(Cli::command(), dir.as_deref(), &mut out).map(|()| 0)
        }
        Command::Status {
            file,
            format,
            state,
        } => {
            return shown(state.resolve().map_err(Into::into).and_then(|state| {
                crate::status::run(file.as_deref(), format, state.as_ref(), &mut out)
            }));
        }
        Command::Graph { file, format } => {
            return shown(crate::graph::run(&file, format, &mut out));
        }
        Command::Verify { target } => {
            return shown(crate::verify::run(&target, &mut out));
        }
        Command::State {
            command: StateCommand::Init { url },
        } => return state_init(url.as_deref(), &mut out),
        Command::Report {
            target,
            format,
            state,
        } => {
            return shown(state.resolve().map_err(Into::into).and_then(|state| {
                crate::report::run_report::run(target.as_deref(), format, state.as_ref(), &mut out)
            }));
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => report(&error),
    }
}

/// The exit code of `status`, `graph` or `report`, printing the error if any.
fn shown(result: Result<i32, crate::report::run_report::ReportError>) -> i32 {
    let error = match result {
        Ok(code) => return code,
        Err(error) => error,
    };
    print_error(
        &error,
        diagnostics(error.invalid()).as_deref(),
        error.help().as_deref(),
    );
    error.exit_code()
}

fn report(error: &Error) -> i32 {
    print_error(error, None, error.help());
    error.exit_code()
}

#[cfg(test)]
mod tests {
    use super::error_lines;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("cannot read `x`: {0}")]
        Quoting(#[source] Inner),
        #[error("cannot lock `x`")]
        Silent(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the file: {0}")]
    struct Inner(#[source] std::io::Error);

    fn io() -> std::io::Error {
        std::io::Error::other("No such file")
    }

    #[test]
    fn a_cause_already_said_is_not_said_again() {
        assert_eq!(
            error_lines(&Outer::Quoting(Inner(io())), Some("check the path")),
            [
                "error: cannot read `x`: cannot open the file: No such file",
                "help: check the path"
            ]
        );
        assert_eq!(
            error_lines(&Outer::Silent(Inner(io())), None),
            [
                "error: cannot lock `x`",
                "  caused by: cannot open the file: No such file"
            ]
        );
    }
}
