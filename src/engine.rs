//! The interpreter: runs a checked runbook step by step, enforcing gates, keeping
//! a durable journal, and resuming after an interruption. [`run`] is the entry
//! for both `runbook run` and `runbook resume`.

pub mod abandon;
pub mod approval_gate;
pub mod approve;
pub mod child;
pub mod fixed_inputs;
pub mod gate;
pub mod in_doubt;
pub mod interaction;
pub mod journal;
pub mod kept;
pub mod leftovers;
pub mod lock;
pub mod outcome;
pub mod perform;
pub mod resume;
pub mod runner;
pub mod state_dir;
pub mod step;
pub mod team;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::sys::signal::Signal;

use crate::document;
use crate::document::model::Runbook;
use crate::eval::{LoadError, answers, inputs, load};
use crate::operator::Operator;
pub use runner::{RunEnd, RunOptions};

/// Why a run could not start or had to stop: exit code 2, or 4 when its state
/// could not be read or written ([`EngineError::exit_code`]).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Answers(#[from] answers::AnswerError),
    #[error(transparent)]
    Inputs(#[from] inputs::InputError),
    #[error("{0}")]
    Input(String),
    #[error("`{flag} {id}` names no step of this runbook")]
    UnknownStep {
        flag: &'static str,
        id: String,
        help: String,
    },
    #[error(transparent)]
    StateDir(#[from] state_dir::StateDirError),
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Journal(#[from] journal::JournalError),
    #[error("resuming with these values would mix two targets in one run: {}", problems.join("; "))]
    ResumeDiffers { problems: Vec<String> },
    #[error(transparent)]
    Kept(#[from] kept::KeptError),
    #[error("there is no unfinished run of `{0}` to resume")]
    NothingToResume(String),
    #[error("`{}` changed since the run began; resuming would run steps that were not reviewed", path.display())]
    Changed { path: PathBuf },
    #[error("this run began in `{}`, not here; its relative paths (env files, commands) would mean other files", started_in.display())]
    OtherDirectory { started_in: PathBuf },
    #[error("`--rerun {id}` names no step in doubt in the run being resumed")]
    NotInDoubt { id: String },
    #[error("the unfinished run {run} left the irreversible {} in doubt: it may have happened, and a new run would do it again", steps.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))]
    InDoubtUnfinished {
        run: String,
        steps: Vec<String>,
        file: PathBuf,
    },
    #[error("cannot remove `{}`: {source}", path.display())]
    Cleanup {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP client: {0}")]
    Http(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Approval(#[from] crate::approval::ApprovalError),
    #[error(transparent)]
    Team(#[from] crate::postgres::PgError),
    /// The team state database stopped taking events mid-run.
    #[error("the team state database stopped taking this run's events, {}", if *at_end { "as it ended" } else { "so the run stopped before its next step" })]
    TeamLost {
        journal: PathBuf,
        /// Lost while the run ended (its last events), not before a step.
        at_end: bool,
        #[source]
        source: crate::postgres::PgError,
    },
    #[error(
        "run {run_id} was started on host {host} (database role {role}) and is unfinished; it is resumed there, where its journal, backups and kept secrets are"
    )]
    StartedElsewhere {
        run_id: String,
        host: String,
        role: String,
    },
    #[error(
        "run {run_id} is superseded in the team state database: run {by} began after it on host {host} (database role {role})"
    )]
    SupersededInTeam {
        run_id: String,
        by: String,
        host: String,
        role: String,
    },
    #[error(
        "run {run_id} had ended, so there is nothing to resume; the {uploaded} event(s) of it the team state database lacked are written there now"
    )]
    EndedRunUploaded { run_id: String, uploaded: usize },
    #[error("the team state database holds other events for run {run_id} than its journal `{}`", journal.display())]
    TeamDiffers { run_id: String, journal: PathBuf },
}

impl EngineError {
    /// The exit code of a run this stops.
    pub fn exit_code(&self) -> i32 {
        match self {
            EngineError::StateDir(e) => e.exit_code(),
            EngineError::Lock(e) => e.exit_code(),
            EngineError::Journal(e) => e.exit_code(),
            // The secrets kept at rest, or a backup, cannot be read or removed.
            // The team state database stopped taking the run's events.
            EngineError::Kept(_) | EngineError::Cleanup { .. } | EngineError::TeamLost { .. } => {
                crate::error::EXIT_IO
            }
            EngineError::Team(e) => e.exit_code(),
            // A gate the operator must open, like a step in doubt on resume.
            EngineError::InDoubtUnfinished { .. } => RunEnd::Blocked.exit_code(),
            EngineError::Approval(e) => e.exit_code(),
            EngineError::Load(_)
            | EngineError::Answers(_)
            | EngineError::Inputs(_)
            | EngineError::Input(_)
            | EngineError::ResumeDiffers { .. }
            | EngineError::UnknownStep { .. }
            | EngineError::NotInDoubt { .. }
            | EngineError::NothingToResume(_)
            | EngineError::Changed { .. }
            | EngineError::OtherDirectory { .. }
            | EngineError::Http(_)
            | EngineError::Runtime(_)
            | EngineError::StartedElsewhere { .. }
            | EngineError::SupersededInTeam { .. }
            | EngineError::TeamDiffers { .. }
            | EngineError::EndedRunUploaded { .. } => crate::error::EXIT_USAGE,
        }
    }

    pub fn help(&self) -> Option<String> {
        match self {
            EngineError::Load(e) => e.help(),
            EngineError::Inputs(e) => Some(e.help()),
            EngineError::UnknownStep { help, .. } => Some(help.clone()),
            EngineError::StateDir(e) => e.help().map(str::to_owned),
            EngineError::Lock(e) => e.help().map(str::to_owned),
            EngineError::Journal(e) => e.help().map(str::to_owned),
            EngineError::ResumeDiffers { .. } => Some(
                "resume with the run's values (or without these answers), or start a new run with `runbook run FILE` for the new ones".to_owned(),
            ),
            EngineError::Kept(e) => Some(e.help().to_owned()),
            EngineError::Approval(e) => e.help(),
            EngineError::NothingToResume(_) => Some("start a new run with `runbook run FILE`".to_owned()),
            EngineError::OtherDirectory { started_in } => Some(format!(
                "resume from that directory: `cd {}`",
                started_in.display()
            )),
            EngineError::NotInDoubt { .. } => Some(
                "`--rerun` is for a step that started and has no recorded result; resume without it".to_owned(),
            ),
            EngineError::InDoubtUnfinished { file, .. } => Some(format!(
                "resume that run to decide (`runbook resume {file}`), or end it with `runbook abandon {file}` and start again",
                file = file.display()
            )),
            EngineError::Changed { .. } => Some(
                "restore the file as it was, or start a new run with `runbook run FILE` (gates will ask for fresh evidence)".to_owned(),
            ),
            EngineError::Team(e) => e.help().map(str::to_owned),
            EngineError::EndedRunUploaded { .. } => Some(
                "`runbook status FILE` shows the run as the team sees it now; `runbook run FILE` starts a new one".to_owned(),
            ),
            EngineError::TeamLost { journal, .. } => Some(format!(
                "every event is in the local journal `{}`; once the database is back, `runbook resume FILE` uploads what it lacks and goes on",
                journal.display()
            )),
            EngineError::StartedElsewhere { host, .. } => Some(format!(
                "run `runbook resume FILE` on {host} (with the state directory that run uses), or start a new run here with `runbook run FILE`"
            )),
            EngineError::SupersededInTeam { .. } => Some(
                "a superseded run is never resumed (its steps may have been done again); `runbook status FILE --state URL` shows the newer one".to_owned(),
            ),
            EngineError::TeamDiffers { .. } => Some(
                "one of the two was changed after it was written: `runbook verify RUN` checks the journal; the database's rows are append-only".to_owned(),
            ),
            _ => None,
        }
    }

    /// The runbook's diagnostics, when it is the runbook that is invalid: the
    /// edge that prints the error shows them first.
    pub fn invalid(&self) -> Option<&LoadError> {
        match self {
            EngineError::Load(e @ LoadError::Invalid { .. }) => Some(e),
            _ => None,
        }
    }
}

/// Why the step loop stopped early.
#[derive(Debug)]
pub enum Stop {
    /// Ctrl-C (SIGINT), SIGTERM or SIGHUP: the journal has everything; `resume`
    /// continues.
    Interrupted(Signal),
    Fatal(EngineError),
}

/// Runs (or, with `resume`, continues) the runbook in `file`.
pub fn run(
    file: &Path,
    options: RunOptions,
    operator: Box<dyn Operator>,
    resume: bool,
) -> Result<RunEnd, EngineError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EngineError::Runtime)?;
    runtime.block_on(run_async(
        file,
        options,
        Arc::new(Mutex::new(operator)),
        resume,
    ))
}

async fn run_async(
    file: &Path,
    options: RunOptions,
    operator: runner::SharedOperator,
    resume: bool,
) -> Result<RunEnd, EngineError> {
    let runbook = load(file)?;
    let children = crate::eval::load::load_all(file, &runbook);
    let answers = answers::Answers::load(&options.sets, options.answers_file.as_deref())?;
    let all: Vec<&Runbook> = std::iter::once(&runbook)
        .chain(children.iter().map(|(_, r)| r))
        .collect();
    inputs::check_answers(
        &answers,
        &crate::eval::load::scoped(file, &runbook, &children),
    )?;
    check_confirms(&options, file, &runbook, &children)?;
    check_reruns(&options, &all)?;
    let interactive = !options.non_interactive && operator.lock().is_ok_and(|o| o.interactive());
    // A child runbook deferred up front never runs, so its inputs are not
    // missing: a rotation deferred until production needs no new token.
    let deferred = perform::deferred_children(file, &runbook, &answers);
    let missing = {
        let all = inputs::with_passed(file, &runbook, &children);
        inputs::check_not_shadowed(&answers, &all)?;
        // The top runbook first, then each child in the order of `children`.
        let needed: Vec<(&Runbook, BTreeSet<String>)> = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| {
                i.checked_sub(1)
                    .and_then(|c| children.get(c))
                    .is_none_or(|(path, _)| !deferred.contains(path))
            })
            .map(|(_, entry)| entry)
            .collect();
        inputs::missing(&answers, &needed)
    };
    if !interactive && !resume && !missing.is_empty() {
        return Err(inputs::InputError::Missing { names: missing }.into());
    }
    let client = crate::action::http::client().map_err(|e| EngineError::Http(e.to_string()))?;
    let mut engine = if resume {
        let engine = runner::Engine::resume(file, runbook, options, answers, operator, client)?;
        // As `run`: every answer still missing is named before any step runs, not
        // found at the step that needs it (perhaps after an irreversible one).
        let missing = engine.still_missing(missing);
        if !interactive && !missing.is_empty() {
            return Err(inputs::InputError::Missing { names: missing }.into());
        }
        engine
    } else {
        {
            let started = runner::Started {
                file,
                runbook,
                options,
                answers,
                operator,
                client,
            };
            runner::Engine::start(started, 0, None)?
        }
    };
    engine.drive().await
}

impl runner::Engine {
    /// Runs the steps and writes how the run ended.
    pub(crate) async fn drive(&mut self) -> Result<RunEnd, EngineError> {
        let ran = interaction::watching_signals(self.run_steps())
            .await
            .map_err(EngineError::Runtime)?;
        match ran {
            Ok(end) => {
                let end = self.render_outputs(end).await?;
                self.finish(&end)?;
                // The run ended here; the team must hear it did.
                if let Some(error) = self.team_lost(true) {
                    return Err(error);
                }
                Ok(end)
            }
            Err(Stop::Interrupted(signal)) => {
                self.record(journal::EventKind::Interrupted)?;
                let by = match signal {
                    Signal::SIGINT => String::new(),
                    other => format!(" by {other}"),
                };
                // The cursor may sit after a half-typed answer: start a fresh line.
                let carry_on = match &self.options.continue_with {
                    Some(_) => self.carry_on(),
                    None => format!("Nothing is lost: resume with `{}`", self.resume_command()),
                };
                // A child's run is continued by resuming its parent, which says so.
                if self.depth == 0 {
                    self.say(&format!("\nInterrupted{by}. {carry_on}"));
                }
                Ok(RunEnd::Interrupted(signal))
            }
            Err(Stop::Fatal(error)) => Err(error),
        }
    }
}

/// A `--confirm` that names no step would silently confirm nothing: the gate
/// the operator meant to open stays shut after the changes before it ran. A
/// child's step is named through the step that runs the child (`kid.destroy`).
fn check_confirms(
    options: &RunOptions,
    file: &Path,
    runbook: &Runbook,
    children: &[(PathBuf, Runbook)],
) -> Result<(), EngineError> {
    let mut names = Vec::new();
    confirm_names(file, runbook, "", children, 0, &mut names);
    for id in &options.confirm {
        if names.contains(id) {
            continue;
        }
        let nested = names
            .iter()
            .find(|name| name.rsplit('.').next() == Some(id.as_str()));
        let help = match nested {
            Some(name) => format!(
                "`{id}` is a step of a child runbook: name it through the step that runs the child, `--confirm {name}`"
            ),
            None => match document::diagnostic::did_you_mean(id, names.iter().map(String::as_str)) {
                Some(close) => format!("did you mean `--confirm {close}`?"),
                None => "`--confirm` takes the id of the step to confirm (`PARENT_STEP.ID` for a child runbook's step)".to_owned(),
            },
        };
        return Err(EngineError::UnknownStep {
            flag: "--confirm",
            id: id.clone(),
            help,
        });
    }
    Ok(())
}

/// A `--rerun` naming no step of the runbook or its children is refused, as
/// `--confirm` is: a typo must not leave a step in doubt blocked unnoticed.
fn check_reruns(options: &RunOptions, runbooks: &[&Runbook]) -> Result<(), EngineError> {
    let ids: Vec<&str> = runbooks
        .iter()
        .flat_map(|r| r.all_steps())
        .map(|s| s.id.value.as_str())
        .collect();
    for id in &options.rerun {
        if !ids.contains(&id.as_str()) {
            let help = match document::diagnostic::did_you_mean(id, ids.iter().copied()) {
                Some(close) => format!("did you mean `--rerun {close}`?"),
                None => "`--rerun` takes the id of a step".to_owned(),
            };
            return Err(EngineError::UnknownStep {
                flag: "--rerun",
                id: id.clone(),
                help,
            });
        }
    }
    Ok(())
}

/// Every name `--confirm` accepts for `runbook`'s steps and its children's,
/// each child's under `PREFIX` + the id of the step that runs it + `.`.
fn confirm_names(
    file: &Path,
    runbook: &Runbook,
    prefix: &str,
    children: &[(PathBuf, Runbook)],
    depth: usize,
    out: &mut Vec<String>,
) {
    // `validate` refuses cycles; this only bounds a file changed since.
    const MAX_DEPTH: usize = 32;
    let base = document::rules::parent_dir(file);
    for step in runbook.all_steps() {
        let name = format!("{prefix}{}", step.id.value);
        if let document::model::Action::Runbook(path) = &step.action
            && depth < MAX_DEPTH
        {
            let child_file = base.join(&path.value);
            if let Some((_, child)) = children.iter().find(|(p, _)| *p == child_file) {
                confirm_names(
                    &child_file,
                    child,
                    &format!("{name}."),
                    children,
                    depth + 1,
                    out,
                );
            }
        }
        out.push(name);
    }
}

/// The `--events` stream: a file, or standard output for `-`.
pub fn open_events(target: &str) -> Result<journal::Events, EngineError> {
    if target == "-" {
        Ok(journal::Events::stdout())
    } else {
        Ok(journal::Events::open(Path::new(target))?)
    }
}
