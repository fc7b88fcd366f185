//! `runbook report [RUN_ID|FILE]`: what happened in one run, read back from its
//! journal — who ran it and when, each step's outcome, duration and evidence,
//! the gate decisions, confirmations and rollback — as Markdown, one
//! self-contained HTML page, or JSON.
//!
//! [`Run`] is a journal summarised; `runbook status` reads runs through it too.
//! Everything shown comes from the journal, which the engine wrote with every
//! secret already masked (SPEC §3), or from the runbook file's own text (titles,
//! expectations as written). Nothing here renders a template, so no value an
//! operator entered can appear unless the journal already shows it masked.

pub mod html;
pub mod json;
pub mod markdown;
pub mod team;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value as Json;

use crate::action::expect::Subject;
use crate::approval::store::short_hash;
use crate::document::model::{Effect, Probe, Runbook, Step, TlsField};
use crate::engine;
use crate::engine::journal::chain::Chain;
use crate::engine::journal::{
    self, ApprovalRecord, ConfirmedHow, EventKind, InDoubtDecision, JournalError,
};
use crate::engine::outcome::Outcome;
use crate::engine::state_dir::{DEFAULT_DIR_NAME, STATE_DIR_ENV, StateDir, StateDirError};
use crate::eval::LoadError;
use crate::eval::rendered::{self, AsWritten};
use crate::output::Output;
use crate::postgres::StateUrl;

/// The formats of `runbook report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

/// Why `status`, `graph` or `report` cannot show what was asked: exit code 2,
/// the command was pointed at something that is not there — or 4, state that
/// cannot be read or output that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Load(#[from] LoadError),

    #[error(transparent)]
    StateDir(#[from] StateDirError),

    #[error(transparent)]
    Journal(#[from] JournalError),

    #[error("`{}` does not exist", .0.display())]
    NoSuchPath(PathBuf),

    #[error("there is no `runbooks/` directory here")]
    NoRunbooksDir,

    #[error("`{runbook}` has not been run yet: there is no journal in `{}`", dir.display())]
    NoRuns { runbook: String, dir: PathBuf },

    #[error("there is no run `{run_id}`")]
    UnknownRun {
        run_id: String,
        /// The state directories looked in.
        searched: Vec<PathBuf>,
    },

    #[error("no runbook under `runbooks/` has been run yet")]
    NothingRun,

    #[error("the journal `{}` records no run (it does not begin with `run_started`)", .0.display())]
    NotARun(PathBuf),

    #[error(transparent)]
    Output(#[from] crate::error::Error),

    #[error(transparent)]
    Team(#[from] crate::postgres::PgError),
}

impl ReportError {
    pub fn exit_code(&self) -> i32 {
        match self {
            ReportError::Output(error) => error.exit_code(),
            ReportError::Team(error) => error.exit_code(),
            ReportError::StateDir(error) => error.exit_code(),
            ReportError::Journal(error) => error.exit_code(),
            ReportError::Load(_)
            | ReportError::NoSuchPath(_)
            | ReportError::NoRunbooksDir
            | ReportError::NoRuns { .. }
            | ReportError::UnknownRun { .. }
            | ReportError::NothingRun
            | ReportError::NotARun(_) => crate::error::EXIT_USAGE,
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            ReportError::Load(error) => error.help(),
            ReportError::StateDir(error) => error.help().map(str::to_owned),
            ReportError::Journal(error) => error.help().map(str::to_owned),
            ReportError::NoSuchPath(_) => {
                Some("name a runbook file, a run id, or a run journal (.jsonl)".to_owned())
            }
            ReportError::NoRunbooksDir => {
                Some("run it from the repository root, or name a runbook file".to_owned())
            }
            ReportError::NoRuns { .. } | ReportError::NothingRun => {
                Some("start a run with `runbook run FILE`".to_owned())
            }
            ReportError::UnknownRun { searched, .. } => {
                let mut help = "run ids look like `20261128T053012Z-3fa1`; `runbook status` shows the last run of each runbook".to_owned();
                if searched.is_empty() {
                    help.push_str(" (no state directory was found to search)");
                } else {
                    let dirs: Vec<String> =
                        searched.iter().map(|d| d.display().to_string()).collect();
                    help.push_str(&format!("; searched {}", dirs.join(", ")));
                }
                help.push_str(&format!(
                    "; set {STATE_DIR_ENV} if the runs were kept elsewhere"
                ));
                Some(help)
            }
            ReportError::NotARun(_) => Some(
                "the run was cut off before it recorded anything; nothing ran in it".to_owned(),
            ),
            ReportError::Output(error) => error.help().map(str::to_owned),
            ReportError::Team(error) => error.help().map(str::to_owned),
        }
    }

    /// The invalid runbook, whose diagnostics are shown before the error line.
    pub fn invalid(&self) -> Option<&LoadError> {
        match self {
            ReportError::Load(error @ LoadError::Invalid { .. }) => Some(error),
            _ => None,
        }
    }
}

/// How a run stands, from the last of its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// `run_finished` was recorded.
    Finished { outcome: Outcome, exit_code: i32 },
    /// Stopped by Ctrl-C; `runbook resume` continues it.
    Interrupted,
    /// Still running, or cut off by a crash or `kill -9`.
    Unfinished,
    /// Left unfinished, then a newer run of the runbook began: over, never resumed.
    Superseded,
}

impl RunState {
    /// One word for tables: the outcome of a finished run, else how it stopped.
    pub fn label(self) -> &'static str {
        match self {
            RunState::Finished { outcome, .. } => outcome.as_str(),
            RunState::Interrupted => "interrupted",
            RunState::Unfinished => "unfinished",
            RunState::Superseded => "superseded",
        }
    }
}

/// One `step_finished`: a step as it ended (a step can finish more than once
/// in a run, when `resume` or a stale `within` runs it again).
#[derive(Debug, Clone, PartialEq)]
pub struct StepRun {
    pub step: String,
    pub title: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// As the journal holds them: secrets masked.
    pub results: Json,
    pub duration_ms: u64,
    pub finished_at: String,
    /// `finished_at` less the duration: the moment the step's gates were
    /// checked, which is when a blocked step (never started) ended too.
    pub started_at: String,
    /// Whether it ran as part of the rollback.
    pub rollback: bool,
}

/// A value the run used, as recorded: secrets by fingerprint only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputUse {
    pub name: String,
    pub source: String,
    pub secret: bool,
    pub fingerprint: String,
    /// Only for values that are not secret.
    pub value: Option<String>,
    pub at: String,
}

/// Something that happened to the run as a whole, or to one gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Happening {
    pub at: String,
    /// The step it concerns, if any.
    pub step: Option<String>,
    /// For an approval of a child runbook's step: the name it is bound to
    /// (`kid["a"].revoke`), which tells the items of a fan-out apart.
    pub approval: Option<String>,
    pub what: HappeningKind,
}

impl Happening {
    /// The step it concerns as a reader names it: `` `kid` (`kid["a"].revoke`) ``.
    pub fn step_shown(&self) -> Option<String> {
        let step = self.step.as_ref()?;
        Some(match &self.approval {
            Some(approval) => format!("`{step}` (`{approval}`)"),
            None => format!("`{step}`"),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HappeningKind {
    Confirmed(ConfirmedHow),
    GateBlocked(String),
    RollbackStarted(String),
    /// What the operator decided for a step in doubt.
    InDoubt(InDoubtDecision),
    /// The run asked for approval of the step.
    ApprovalRequested {
        target: String,
        runbook_sha256: String,
        count: u32,
        from: Vec<String>,
        requested_by: String,
    },
    /// The step's approval gate opened: who approved, when, and what.
    Approved {
        approvals: Vec<ApprovalRecord>,
        target: String,
        runbook_sha256: String,
    },
    /// Someone rejected the step.
    ApprovalRejected {
        approver: String,
        decided_at: String,
        reason: String,
        target: String,
        runbook_sha256: String,
    },
    /// A decision bound to something else than what the step was about to
    /// do: it did not count.
    ApprovalVoid {
        approver: String,
        decided_at: String,
        verdict: String,
        why: String,
        target: String,
        runbook_sha256: String,
    },
    Interrupted,
    Resumed,
}

impl HappeningKind {
    /// A short description for tables and timelines.
    pub fn describe(&self) -> String {
        match self {
            HappeningKind::Confirmed(how) => format!("confirmed {}", confirmed_how(*how)),
            HappeningKind::GateBlocked(reason) => format!("gate closed: {reason}"),
            HappeningKind::RollbackStarted(reason) => format!("rollback started: {reason}"),
            HappeningKind::InDoubt(decision) => format!(
                "in doubt (started, no result recorded): {}",
                in_doubt_decision(*decision)
            ),
            HappeningKind::ApprovalRequested {
                target,
                runbook_sha256,
                count,
                from,
                requested_by,
            } => format!(
                "approval asked by {requested_by}: {count} of {} for `{target}` (runbook sha256 {})",
                from.join(", "),
                short_hash(runbook_sha256)
            ),
            HappeningKind::Approved {
                approvals,
                target,
                runbook_sha256,
            } => {
                let by: Vec<String> = approvals
                    .iter()
                    .map(|a| format!("{} at {}", a.approver, a.decided_at))
                    .collect();
                format!(
                    "approved by {} for `{target}` (runbook sha256 {})",
                    by.join(", "),
                    short_hash(runbook_sha256)
                )
            }
            HappeningKind::ApprovalRejected {
                approver,
                decided_at,
                reason,
                target,
                runbook_sha256,
            } => format!(
                "rejected by {approver} at {decided_at}: {reason} (for `{target}`, runbook sha256 {})",
                short_hash(runbook_sha256)
            ),
            HappeningKind::ApprovalVoid {
                approver,
                decided_at,
                verdict,
                why,
                ..
            } => {
                let what = if verdict == "rejected" {
                    "rejection"
                } else {
                    "approval"
                };
                format!("the {what} by {approver} at {decided_at} is void: {why}")
            }
            HappeningKind::Interrupted => {
                "interrupted (state saved; `runbook resume` continues)".to_owned()
            }
            HappeningKind::Resumed => "resumed".to_owned(),
        }
    }

    /// The name the JSON report uses.
    pub fn kind(&self) -> &'static str {
        match self {
            HappeningKind::Confirmed(_) => "confirmed",
            HappeningKind::GateBlocked(_) => "gate_blocked",
            HappeningKind::RollbackStarted(_) => "rollback_started",
            HappeningKind::InDoubt(_) => "in_doubt",
            HappeningKind::ApprovalRequested { .. } => "approval_requested",
            HappeningKind::Approved { .. } => "approved",
            HappeningKind::ApprovalRejected { .. } => "approval_rejected",
            HappeningKind::ApprovalVoid { .. } => "approval_void",
            HappeningKind::Interrupted => "interrupted",
            HappeningKind::Resumed => "resumed",
        }
    }
}

/// How a confirmation was given, as a reader says it.
pub fn confirmed_how(how: ConfirmedHow) -> &'static str {
    match how {
        ConfirmedHow::Interactive => "at the terminal",
        ConfirmedHow::ConfirmFlag => "with --confirm",
        ConfirmedHow::Yes => "with --yes",
    }
}

/// The journal's hash chain, as a reader says it.
pub fn describe_chain(chain: &Chain) -> String {
    match chain {
        Chain::Intact { head } => format!("intact, head {head}"),
        Chain::Broken { line, why } => format!(
            "BROKEN at line {line} ({why}): the journal was changed after it was written; `runbook verify` shows where"
        ),
        Chain::Unchained => {
            "none (written before runbook chained journals; a change cannot be detected)".to_owned()
        }
    }
}

/// A decision on a step in doubt, as a reader says it.
pub fn in_doubt_decision(decision: InDoubtDecision) -> &'static str {
    match decision {
        InDoubtDecision::Rerun => "run again",
        InDoubtDecision::Happened => "the operator says it happened",
        InDoubtDecision::Abort => "left for later",
    }
}

/// One run, read back from its journal.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub journal: PathBuf,
    pub id: String,
    /// The runbook id.
    pub runbook: String,
    /// The runbook file as named on the command line of the run.
    pub file: String,
    pub file_hash: String,
    pub operator: String,
    pub started_at: String,
    /// When the last event was written.
    pub last_at: String,
    pub state: RunState,
    pub steps: Vec<StepRun>,
    pub inputs: Vec<InputUse>,
    pub happenings: Vec<Happening>,
    /// The journal's last line was cut short (power loss mid-write); it is left out.
    pub torn: bool,
    /// The newer run that superseded this one.
    pub superseded_by: Option<String>,
    /// Whether the journal's hash chain holds, and its head.
    pub chain: Chain,
}

impl Run {
    /// Reads the journal at `path`.
    pub fn read(path: &Path) -> Result<Run, ReportError> {
        Run::from_replay(path, journal::read(path)?)
    }

    /// A journal read back: from its file at `path`, or from the team state
    /// database (`path` then names the run there).
    pub fn from_replay(path: &Path, replay: journal::Replay) -> Result<Run, ReportError> {
        let mut events = replay.events.into_iter();
        let Some(first) = events.next() else {
            return Err(ReportError::NotARun(path.to_owned()));
        };
        let EventKind::RunStarted {
            run_id,
            runbook,
            file,
            file_hash,
            operator,
            ..
        } = first.kind
        else {
            return Err(ReportError::NotARun(path.to_owned()));
        };
        let mut run = Run {
            journal: path.to_owned(),
            id: run_id,
            runbook,
            file,
            file_hash,
            operator,
            started_at: first.at.clone(),
            last_at: first.at,
            state: RunState::Unfinished,
            steps: Vec::new(),
            inputs: Vec::new(),
            happenings: Vec::new(),
            torn: replay.torn.is_some(),
            superseded_by: None,
            chain: replay.chain.clone(),
        };
        let mut titles: Vec<(String, String)> = Vec::new();
        let mut in_rollback = false;
        for event in events {
            run.last_at.clone_from(&event.at);
            let at = event.at;
            let named = |step: Option<String>, approval: Option<String>, what| Happening {
                at: at.clone(),
                step,
                approval,
                what,
            };
            let happening = |step: Option<String>, what| named(step, None, what);
            match event.kind {
                EventKind::StepStarted { step, title, .. } => titles.push((step, title)),
                EventKind::StepFinished {
                    step,
                    outcome,
                    reason,
                    results,
                    duration_ms,
                    ..
                } => {
                    let title = titles
                        .iter()
                        .rev()
                        .find(|(id, _)| *id == step)
                        .map_or_else(|| step.clone(), |(_, t)| t.clone());
                    run.steps.push(StepRun {
                        started_at: minus(&at, duration_ms),
                        finished_at: at,
                        title,
                        step,
                        outcome,
                        reason,
                        results,
                        duration_ms,
                        rollback: in_rollback,
                    });
                }
                EventKind::Confirmed { step, how } => run
                    .happenings
                    .push(happening(Some(step), HappeningKind::Confirmed(how))),
                EventKind::GateBlocked { step, reason } => run
                    .happenings
                    .push(happening(Some(step), HappeningKind::GateBlocked(reason))),
                EventKind::InputProvided {
                    name,
                    fingerprint,
                    secret,
                    value,
                    source,
                } => run.inputs.push(InputUse {
                    name,
                    source,
                    secret,
                    fingerprint,
                    // The journal never holds a secret's value; this makes sure a
                    // hand-edited journal cannot make a report show one either.
                    value: value.filter(|_| !secret),
                    at,
                }),
                EventKind::InDoubt { step, decision, .. } => run
                    .happenings
                    .push(happening(Some(step), HappeningKind::InDoubt(decision))),
                EventKind::ApprovalRequested {
                    step,
                    approval,
                    target,
                    runbook_sha256,
                    count,
                    from,
                    requested_by,
                    message: _,
                } => run.happenings.push(named(
                    Some(step),
                    approval,
                    HappeningKind::ApprovalRequested {
                        target,
                        runbook_sha256,
                        count,
                        from,
                        requested_by,
                    },
                )),
                EventKind::Approved {
                    step,
                    approval,
                    approvals,
                    target,
                    runbook_sha256,
                } => run.happenings.push(named(
                    Some(step),
                    approval,
                    HappeningKind::Approved {
                        approvals,
                        target,
                        runbook_sha256,
                    },
                )),
                EventKind::ApprovalRejected {
                    step,
                    approval,
                    approver,
                    decided_at,
                    reason,
                    target,
                    runbook_sha256,
                } => run.happenings.push(named(
                    Some(step),
                    approval,
                    HappeningKind::ApprovalRejected {
                        approver,
                        decided_at,
                        reason,
                        target,
                        runbook_sha256,
                    },
                )),
                EventKind::ApprovalVoid {
                    step,
                    approval,
                    approver,
                    decided_at,
                    verdict,
                    why,
                    target,
                    runbook_sha256,
                } => run.happenings.push(named(
                    Some(step),
                    approval,
                    HappeningKind::ApprovalVoid {
                        approver,
                        decided_at,
                        verdict,
                        why,
                        target,
                        runbook_sha256,
                    },
                )),
                EventKind::RollbackStarted { reason } => {
                    in_rollback = true;
                    run.happenings
                        .push(happening(None, HappeningKind::RollbackStarted(reason)));
                }
                EventKind::Interrupted => {
                    run.state = RunState::Interrupted;
                    run.happenings
                        .push(happening(None, HappeningKind::Interrupted));
                }
                EventKind::Resumed { .. } => {
                    run.state = RunState::Unfinished;
                    // A resumed run starts its step loop again: what comes next
                    // is the main steps, not the rollback.
                    in_rollback = false;
                    run.happenings.push(happening(None, HappeningKind::Resumed));
                }
                EventKind::RunFinished { outcome, exit_code } => {
                    run.state = RunState::Finished { outcome, exit_code };
                }
                EventKind::Superseded { by } => {
                    run.state = RunState::Superseded;
                    run.superseded_by = Some(by);
                }
                // Where a crashed write may have left a temporary file: for cleanup.
                EventKind::RunStarted { .. }
                | EventKind::SettingWrite { .. }
                | EventKind::InDoubtCarried { .. }
                | EventKind::ChildOf { .. }
                | EventKind::OutputsRendered { .. } => {}
            }
        }
        Ok(run)
    }

    /// The last time `step` finished in this run.
    pub fn last(&self, step: &str) -> Option<&StepRun> {
        self.steps.iter().rev().find(|s| s.step == step)
    }

    /// From the start to the last event.
    pub fn duration(&self) -> Option<Duration> {
        let start = time(&self.started_at)?;
        time(&self.last_at)?.duration_since(start).ok()
    }

    pub fn finished_at(&self) -> Option<&str> {
        matches!(self.state, RunState::Finished { .. }).then_some(self.last_at.as_str())
    }
}

/// A journal timestamp as a time (journals write RFC 3339 UTC).
pub fn time(at: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(at).ok()
}

/// `at` less `ms` milliseconds, in the journal's format (`at` itself when it
/// cannot be read).
fn minus(at: &str, ms: u64) -> String {
    time(at)
        .and_then(|t| t.checked_sub(Duration::from_millis(ms)))
        .map_or_else(
            || at.to_owned(),
            |t| humantime::format_rfc3339_millis(t).to_string(),
        )
}

/// `2026-11-28T05:30:12.345Z` → `2026-11-28`.
pub fn date(at: &str) -> &str {
    at.get(..10).unwrap_or(at)
}

/// `2026-11-28T05:30:12.345Z` → `2026-11-28 05:30 UTC`.
pub fn minute(at: &str) -> String {
    match (at.get(..10), at.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => at.to_owned(),
    }
}

/// `2026-11-28T05:30:12.345Z` → `05:30:12`.
pub fn clock(at: &str) -> &str {
    at.get(11..19).unwrap_or(at)
}

/// A duration as the run summary shows it: `25ms`, `3s`, `2m 5s`, `1h 10m`.
pub fn short_ms(ms: u64) -> String {
    engine::gate::short(Duration::from_millis(ms))
}

// ---------------------------------------------------------------------------
// Finding runs

/// The runbook files under `runbooks/`, or the error for its absence.
fn runbooks_dir_files() -> Result<Vec<PathBuf>, ReportError> {
    let dir = Path::new("runbooks");
    if !dir.is_dir() {
        return Err(ReportError::NoRunbooksDir);
    }
    Ok(crate::validate::files(dir)
        .into_iter()
        .filter(|p| p.is_file())
        .collect())
}

/// The id a runbook file declares, when it can be read that far (even with
/// other problems: its past runs are still worth showing).
pub fn declared_id(file: &Path) -> Option<String> {
    let source = crate::document::source::read(file).ok()?;
    crate::document::check(file, &source.text)
        .runbook
        .map(|runbook| runbook.id.value)
}

/// The state directories that may hold runs: `$RUNBOOK_STATE_DIR`, and
/// `.runbook/` next to every runbook file under `runbooks/` and here.
fn state_bases(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut bases = Vec::new();
    if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|v| !v.is_empty()) {
        bases.push(PathBuf::from(dir));
    }
    let dirs = files
        .iter()
        .filter_map(|file| file.parent())
        .chain(std::iter::once(Path::new(".")));
    for dir in dirs {
        let base = dir.join(DEFAULT_DIR_NAME);
        if base.is_dir() && !bases.contains(&base) {
            bases.push(base);
        }
    }
    bases
}

/// The state directory of every runbook under the state directories `bases`.
fn state_dirs(bases: &[PathBuf]) -> Vec<StateDir> {
    let mut dirs = Vec::new();
    for base in bases {
        let Ok(entries) = std::fs::read_dir(base) else {
            continue;
        };
        // `.gitignore` sits there too.
        for entry in entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        {
            let id = entry.file_name().to_string_lossy().into_owned();
            if let Ok(dir) = StateDir::at(base, &id) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// Every journal under the state directories `bases`.
fn all_journals(bases: &[PathBuf]) -> Vec<PathBuf> {
    state_dirs(bases)
        .iter()
        .filter_map(|dir| dir.journals().ok())
        .flatten()
        .collect()
}

/// The newest run of the runbook `id` defined in `file` that recorded anything:
/// in the team state database with `state`, else in its state directory.
pub fn latest_run(
    file: &Path,
    id: &str,
    state: Option<&StateUrl>,
) -> Result<Option<Run>, ReportError> {
    match state {
        Some(state) => team::latest(state, id),
        None => latest_in(&StateDir::for_runbook(file, id)?),
    }
}

/// The newest run in one runbook's state directory, in the order of runs that
/// `resume` follows too.
fn latest_in(dir: &StateDir) -> Result<Option<Run>, ReportError> {
    for journal in dir.journals()?.into_iter().rev() {
        match Run::read(&journal) {
            Ok(run) => return Ok(Some(run)),
            // Cut off before its first event: nothing ran; look further back.
            Err(ReportError::NotARun(_)) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

/// What `report` was pointed at, found: the run and, when it can be found,
/// the runbook file it ran.
pub struct Found {
    pub run: Run,
    pub runbook_file: Option<PathBuf>,
}

/// Resolves `runbook report`'s argument: a runbook file (its latest run), a run
/// journal (`.jsonl`), a run id, or nothing (the latest run of any runbook
/// under `runbooks/`).
pub fn find(target: Option<&str>, state: Option<&StateUrl>) -> Result<Found, ReportError> {
    let Some(target) = target else {
        return latest_anywhere(state);
    };
    let path = Path::new(target);
    if path.is_file() {
        if path.extension().is_some_and(|e| e == "jsonl") {
            let run = Run::read(path)?;
            let runbook_file = runbook_file_for(&run, Some(path));
            return Ok(Found { run, runbook_file });
        }
        // A runbook file: it must be one, or nothing can be said of its runs.
        let id = match declared_id(path) {
            Some(id) => id,
            None => crate::eval::load(path)?.id.value,
        };
        let run = latest_run(path, &id, state)?.ok_or_else(|| ReportError::NoRuns {
            dir: StateDir::for_runbook(path, &id)
                .map(|d| d.runs_dir())
                .unwrap_or_default(),
            runbook: id,
        })?;
        return Ok(Found {
            run,
            runbook_file: Some(path.to_owned()),
        });
    }
    if looks_like_path(target) {
        return Err(ReportError::NoSuchPath(path.to_owned()));
    }
    if let Some(state) = state {
        let run = team::by_id(state, target)?.ok_or_else(|| ReportError::UnknownRun {
            run_id: target.to_owned(),
            searched: Vec::new(),
        })?;
        let runbook_file = runbook_file_for(&run, None);
        return Ok(Found { run, runbook_file });
    }
    by_run_id(target)
}

/// Whether an argument that names nothing was meant as a path rather than a run id.
fn looks_like_path(target: &str) -> bool {
    target.contains(['/', '\\'])
        || [".yaml", ".yml", ".jsonl"]
            .iter()
            .any(|ext| target.ends_with(ext))
}

fn by_run_id(run_id: &str) -> Result<Found, ReportError> {
    let files = if Path::new("runbooks").is_dir() {
        runbooks_dir_files()?
    } else {
        Vec::new()
    };
    let bases = state_bases(&files);
    let unknown = || ReportError::UnknownRun {
        run_id: run_id.to_owned(),
        searched: bases.clone(),
    };
    // A run id is a file name in a state directory; anything that could step
    // out of one is not a run id.
    if run_id.is_empty()
        || !run_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(unknown());
    }
    let wanted = format!("{run_id}.jsonl");
    let journal = all_journals(&bases)
        .into_iter()
        .find(|j| j.file_name().is_some_and(|n| n.to_string_lossy() == wanted))
        .ok_or_else(unknown)?;
    let run = Run::read(&journal)?;
    let runbook_file = runbook_file_for(&run, Some(&journal));
    Ok(Found { run, runbook_file })
}

fn latest_anywhere(state: Option<&StateUrl>) -> Result<Found, ReportError> {
    let files = runbooks_dir_files()?;
    if let Some(state) = state {
        return latest_anywhere_in_team(state, &files);
    }
    let bases = state_bases(&files);
    // Each runbook's latest run in the order of its runs; of those, the latest by
    // last activity: a checklist's child runs start after their parent but end
    // before it, and the parent is what was run.
    let mut best: Option<Run> = None;
    for dir in state_dirs(&bases) {
        let Some(run) = latest_in(&dir)? else {
            continue;
        };
        let newer = best
            .as_ref()
            .is_none_or(|b| (&run.last_at, &run.id) > (&b.last_at, &b.id));
        if newer {
            best = Some(run);
        }
    }
    let run = best.ok_or(ReportError::NothingRun)?;
    let runbook_file = runbook_file_for(&run, Some(&run.journal));
    Ok(Found { run, runbook_file })
}

/// [`latest_anywhere`] in the team state database: of the runbooks in `files`,
/// the run last active.
fn latest_anywhere_in_team(state: &StateUrl, files: &[PathBuf]) -> Result<Found, ReportError> {
    let mut best: Option<Run> = None;
    for file in files {
        let Some(id) = declared_id(file) else {
            continue;
        };
        let Some(run) = team::latest(state, &id)? else {
            continue;
        };
        if best
            .as_ref()
            .is_none_or(|b| (&run.last_at, &run.id) > (&b.last_at, &b.id))
        {
            best = Some(run);
        }
    }
    let run = best.ok_or(ReportError::NothingRun)?;
    let runbook_file = runbook_file_for(&run, None);
    Ok(Found { run, runbook_file })
}

/// The runbook file a run ran, if it is still where the run or its state
/// directory says: the path recorded in the journal, else `<id>.yaml` next to the
/// default state directory, else anywhere under `runbooks/`.
fn runbook_file_for(run: &Run, journal: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from(&run.file)];
    // <dir>/.runbook/<id>/runs/<run>.jsonl → <dir>
    if let Some(dir) = journal.and_then(|j| j.ancestors().nth(4)).filter(|_| {
        journal
            .and_then(|j| j.ancestors().nth(3))
            .and_then(Path::file_name)
            .is_some_and(|n| n == DEFAULT_DIR_NAME)
    }) {
        for ext in ["yaml", "yml"] {
            candidates.push(dir.join(format!("{}.{ext}", run.runbook)));
        }
    }
    if let Ok(files) = runbooks_dir_files() {
        candidates.extend(files.into_iter().filter(|f| {
            f.file_stem()
                .is_some_and(|s| s.to_string_lossy() == run.runbook)
        }));
    }
    candidates
        .into_iter()
        .find(|c| c.is_file() && declared_id(c).as_deref() == Some(run.runbook.as_str()))
}

// ---------------------------------------------------------------------------
// The report

/// A run with what the runbook file says about its steps.
pub struct Report {
    pub run: Run,
    /// The runbook as it is now, when its file was found and is valid.
    pub runbook: Option<Runbook>,
    pub runbook_file: Option<PathBuf>,
    /// Whether the file differs from the one the run began with.
    pub file_changed: Option<bool>,
}

impl Report {
    pub fn new(found: Found) -> Report {
        let Found { run, runbook_file } = found;
        let runbook = runbook_file
            .as_deref()
            .and_then(|file| crate::eval::load(file).ok());
        let file_changed = runbook_file
            .as_deref()
            .and_then(|file| crate::eval::load::file_hash(file).ok())
            .map(|hash| hash != run.file_hash);
        Report {
            run,
            runbook,
            runbook_file,
            file_changed,
        }
    }

    pub fn title(&self) -> String {
        self.runbook
            .as_ref()
            .and_then(|r| r.title.as_ref())
            .map_or_else(|| self.run.runbook.clone(), |t| t.value.clone())
    }

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.runbook
            .as_ref()
            .and_then(|r| r.all_steps().find(|s| s.id.value == id))
    }

    /// The effect of a step, as the runbook declares or implies it.
    pub fn effect(&self, id: &str) -> Option<&'static str> {
        self.step(id)
            .map(|s| s.effect().map_or("child runbook", Effect::as_str))
    }

    /// The main steps the runbook has that this run never finished.
    pub fn not_reached(&self) -> Vec<&Step> {
        self.runbook.as_ref().map_or_else(Vec::new, |runbook| {
            runbook
                .steps()
                .filter(|s| self.run.last(&s.id.value).is_none())
                .collect()
        })
    }

    /// The evidence of one finished step, one line each: what came back and
    /// what it was checked against.
    pub fn evidence(&self, step: &StepRun) -> Vec<String> {
        evidence(self.step(&step.step), step)
    }
}

/// Evidence lines from a step's results and, when the step passed, the
/// expectations it was held to (each one held, or it would not have passed).
pub fn evidence(model: Option<&Step>, step: &StepRun) -> Vec<String> {
    let results = &step.results;
    let text = |field: &str| results.get(field).and_then(Json::as_str);
    let mut out = Vec::new();
    if let Some(items) = results.get("results").and_then(Json::as_array) {
        let passed = items
            .iter()
            .filter(|i| i.get("outcome").and_then(Json::as_str) == Some("passed"))
            .count();
        out.push(format!("{passed} of {} items passed", items.len()));
        for item in items {
            let mut line = String::from("  ");
            if let Some(outcome) = item.get("outcome").and_then(Json::as_str) {
                line.push_str(outcome);
            }
            // Named by its value, as every message names an item.
            if let Some(value) = item.get("item") {
                line.push_str(&format!(" {}", crate::eval::items::label(value)));
            }
            if let Some(url) = item.get("url").and_then(Json::as_str) {
                line.push_str(&format!(" {url}"));
            }
            if let Some(status) = item.get("status").and_then(Json::as_u64) {
                line.push_str(&format!(" → HTTP {status}"));
            }
            if let Some(code) = item.get("exit_code").and_then(Json::as_i64) {
                line.push_str(&format!(" → exit code {code}"));
            }
            if let Some(days) = item
                .get("tls")
                .and_then(|tls| tls.get(TlsField::DaysLeft.key()))
                .and_then(Json::as_i64)
            {
                line.push_str(&format!(", certificate {days} days left"));
            }
            if let Some(run) = item.get("run_id").and_then(Json::as_str) {
                line.push_str(&format!(" → child run {run}"));
            }
            if let Some(outputs) = item.get("outputs").and_then(Json::as_object) {
                for (name, value) in outputs {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    line.push_str(&format!(" · {name} = {value}"));
                }
            }
            if let Some(reason) = item.get("reason").and_then(Json::as_str) {
                line.push_str(&format!(": {reason}"));
            }
            out.push(line);
        }
    }
    if let Some(status) = results.get("status").and_then(Json::as_u64) {
        let mut line = format!("HTTP {status}");
        if let Some(ms) = results.get("elapsed_ms").and_then(Json::as_u64) {
            line.push_str(&format!(" in {ms}ms"));
        }
        out.push(line);
        out.extend(results.get("tls").and_then(crate::action::tls::summary));
    }
    if let Some(code) = results.get("exit_code") {
        match code.as_i64() {
            Some(code) => out.push(format!("exit code {code}")),
            None => out.push("no exit code (killed by a signal)".to_owned()),
        }
        if let Some(stdout) = text("stdout") {
            let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
            let start = lines.len().saturating_sub(3);
            out.extend(lines[start..].iter().map(|l| format!("stdout: {l}")));
        }
    }
    if let Some(attempts) = results.get("attempts").and_then(Json::as_u64) {
        out.push(format!("held after {attempts} attempt(s)"));
    }
    if let Some(value) = text("value") {
        out.push(format!("value: {value}"));
    }
    if let Some(file) = text("file") {
        out.push(format!("wrote {file}"));
    }
    if let Some(child) = text("run_id") {
        let outcome = text("child_outcome").unwrap_or("?");
        out.push(format!("child run {child}: {outcome}"));
    }
    if let Some(outputs) = results.get("outputs").and_then(Json::as_object) {
        for (name, value) in outputs {
            let value = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            out.push(format!("output {name} = {value}"));
        }
    }
    if step.outcome == Outcome::Passed
        && let Some(model) = model
    {
        out.extend(expectations(model).into_iter().map(|e| format!("✓ {e}")));
    }
    out
}

/// A step's expectations as written in the runbook, one line each, worded as
/// the plan words them.
pub fn expectations(step: &Step) -> Vec<String> {
    let own = step.expect.as_ref().zip(rendered::subject(&step.action));
    let waits = step.waits().filter_map(|wait| {
        let subject = match wait.probe {
            Probe::Http(_) => Subject::Http,
            Probe::Command(_) => Subject::Command,
        };
        wait.expect.as_ref().map(|expect| (expect, subject))
    });
    own.into_iter()
        .chain(waits)
        .flat_map(|(expect, subject)| {
            match rendered::expectation(&AsWritten, Some(expect), None, subject) {
                Ok(expectation) => expectation.lines(),
                // Only a pattern that does not compile fails, which `validate` refuses.
                Err(e) => vec![format!("(cannot show: {})", e.0)],
            }
        })
        .collect()
}

/// `runbook report [RUN_ID|FILE|JOURNAL]`.
pub fn run(
    target: Option<&str>,
    format: Format,
    state: Option<&StateUrl>,
    out: &mut Output,
) -> Result<i32, ReportError> {
    let report = Report::new(find(target, state)?);
    match format {
        Format::Markdown => out.show(|_| markdown::render(&report))?,
        Format::Html => out.show(|_| html::render(&report))?,
        Format::Json => out.write(&json::render(&report))?,
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOURNAL: &str = r#"{"at":"2026-11-28T05:30:00.000Z","event":"run_started","run_id":"20261128T053000Z-0001","runbook":"rotate","file":"runbooks/rotate.yaml","file_hash":"abc","operator":"ana","pid":1}
{"at":"2026-11-28T05:30:01.000Z","event":"input_provided","name":"token","fingerprint":"sha256:1","secret":true,"value":"leaked-by-hand","source":"environment"}
{"at":"2026-11-28T05:30:02.000Z","event":"step_started","step":"check","attempt":1,"title":"Check it"}
{"at":"2026-11-28T05:30:02.500Z","event":"step_finished","step":"check","outcome":"failed","reason":"HTTP 503","results":{"status":503},"duration_ms":500}
{"at":"2026-11-28T05:30:03.000Z","event":"interrupted"}
{"at":"2026-11-28T06:00:00.000Z","event":"resumed","pid":2}
{"at":"2026-11-28T06:00:01.000Z","event":"step_finished","step":"check","outcome":"passed","results":{"status":200,"elapsed_ms":12},"duration_ms":1000}
{"at":"2026-11-28T06:00:02.000Z","event":"gate_blocked","step":"change","reason":"not confirmed"}
{"at":"2026-11-28T06:00:02.000Z","event":"step_finished","step":"change","outcome":"failed","reason":"boom","duration_ms":0}
{"at":"2026-11-28T06:00:03.000Z","event":"rollback_started","reason":"step `change` failed"}
{"at":"2026-11-28T06:00:04.000Z","event":"step_finished","step":"undo","outcome":"passed","duration_ms":250}
{"at":"2026-11-28T06:00:05.000Z","event":"run_finished","outcome":"failed","exit_code":1}
{"at":"2026-11-28T06:00:0"#;

    #[test]
    fn a_journal_reads_back_as_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, JOURNAL).unwrap();
        let run = Run::read(&path).unwrap();
        assert_eq!(run.id, "20261128T053000Z-0001");
        assert_eq!(run.operator, "ana");
        assert!(run.torn, "the cut-off last line is reported");
        assert_eq!(
            run.state,
            RunState::Finished {
                outcome: Outcome::Failed,
                exit_code: 1
            }
        );
        assert_eq!(run.finished_at(), Some("2026-11-28T06:00:05.000Z"));
        assert_eq!(run.duration(), Some(Duration::from_secs(30 * 60 + 5)));
        // Both finishes of `check` are kept; the last one is what it ended as.
        assert_eq!(run.steps.len(), 4);
        let check = run.last("check").unwrap();
        assert_eq!(check.outcome, Outcome::Passed);
        assert_eq!(check.title, "Check it");
        assert_eq!(check.started_at, "2026-11-28T06:00:00.000Z");
        assert_eq!(
            evidence(None, check),
            ["HTTP 200 in 12ms".to_owned()],
            "evidence from the results"
        );
        assert!(!run.last("change").unwrap().rollback);
        assert!(run.last("undo").unwrap().rollback);
        // A hand-edited journal cannot make a report show a secret's value.
        assert_eq!(run.inputs[0].value, None);
        let kinds: Vec<&str> = run.happenings.iter().map(|h| h.what.kind()).collect();
        assert_eq!(
            kinds,
            ["interrupted", "resumed", "gate_blocked", "rollback_started"]
        );
    }

    #[test]
    fn a_journal_that_never_started_is_not_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.jsonl");
        std::fs::write(&path, "{\"at\":").unwrap();
        assert!(matches!(Run::read(&path), Err(ReportError::NotARun(_))));
    }

    #[test]
    fn times_are_shown_in_utc() {
        let at = "2026-11-28T05:30:12.345Z";
        assert_eq!(date(at), "2026-11-28");
        assert_eq!(minute(at), "2026-11-28 05:30 UTC");
        assert_eq!(clock(at), "05:30:12");
        assert_eq!(minus(at, 12_345), "2026-11-28T05:30:00.000Z");
        assert_eq!(date("odd"), "odd");
    }
}
