//! A run from start to end: checks the runbook and the answers, takes the lock,
//! opens the journal, runs the steps in order (stopping at the first failure),
//! then the rollback, and ends with a summary. `resume` enters here too, with the
//! state replayed from the journal.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::json;

use crate::approval::ApprovalStore;
use crate::approval::local::LocalStore;
use crate::document::model::{Effect, Runbook, Step};
use crate::engine::gate::{StepRecord, short};
use crate::engine::interaction::caught_signal;
use crate::engine::journal::{Event, EventKind, Events, Journal, Replay};
use crate::engine::kept::Kept;
use crate::engine::leftovers;
use crate::engine::lock::{Holder, Lock};
use crate::engine::outcome::Outcome;
use crate::engine::state_dir::StateDir;
use crate::engine::team::Team;
use crate::engine::{EngineError, Stop};
use crate::eval::answers::Answers;
use crate::eval::values::Values;
use crate::operator::Operator;

/// The operator, shared with the blocking threads that wait on the keyboard.
pub type SharedOperator = Arc<Mutex<Box<dyn Operator>>>;

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub sets: Vec<String>,
    pub answers_file: Option<PathBuf>,
    pub non_interactive: bool,
    pub yes: bool,
    pub confirm: BTreeSet<String>,
    pub events: Option<String>,
    /// A plan artifact (`plan --out`) the run must match before it starts.
    pub plan: Option<PathBuf>,
    /// `resume --rerun ID`: run these in-doubt steps again.
    pub rerun: BTreeSet<String>,
    /// `--no-keep-secrets`: keep no secret at rest; `resume` asks again.
    pub no_keep_secrets: bool,
    /// `--operator NAME`: who is at the keyboard, for the journal and reports.
    pub operator: Option<String>,
    /// How the operator carries on after the run stopped (blocked or
    /// interrupted), when that is not `runbook resume`: the demo, whose sandbox
    /// ends with it, is started again instead.
    pub continue_with: Option<String>,
    /// `--state URL` / `RUNBOOK_STATE_URL`: the team state database every event
    /// is also written to (`engine::team`), which holds the run lock.
    pub state: Option<crate::postgres::StateUrl>,
}

/// How a run ended, and so its exit code (SPEC §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Passed,
    /// A step failed; the rollback (if any applied) ran and passed.
    Failed,
    /// A step failed, and so did rollback steps: these, left undone.
    RollbackFailed(Vec<String>),
    Blocked,
    /// Stopped by this signal (Ctrl-C is SIGINT); `resume` continues.
    Interrupted(nix::sys::signal::Signal),
}

impl RunEnd {
    pub fn exit_code(&self) -> i32 {
        match self {
            RunEnd::Passed => 0,
            RunEnd::Failed => 1,
            RunEnd::Blocked => 3,
            // Not 1: what the run changed may still be in place.
            RunEnd::RollbackFailed(_) => 5,
            // As a shell reports a process the signal ended: 130, 143, 129.
            RunEnd::Interrupted(signal) => 128 + *signal as i32,
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            RunEnd::Passed => Outcome::Passed,
            RunEnd::Failed => Outcome::Failed,
            RunEnd::RollbackFailed(_) => Outcome::RollbackFailed,
            RunEnd::Blocked => Outcome::Blocked,
            RunEnd::Interrupted(_) => Outcome::Pending,
        }
    }
}

/// One run of one runbook (a child runbook gets an engine of its own).
pub struct Engine {
    pub(super) file: PathBuf,
    pub(super) runbook: Runbook,
    pub(super) options: RunOptions,
    pub(super) answers: Answers,
    pub(super) operator: SharedOperator,
    pub(super) values: Values,
    pub(super) records: BTreeMap<String, StepRecord>,
    /// Secret results replayed from a journal: known by fingerprint only, asked
    /// again when a template needs them. `steps.<id>.<field>` → fingerprint.
    pub(super) pending_secrets: BTreeMap<String, String>,
    /// Secret inputs replayed from a journal, by fingerprint.
    pub(super) pending_inputs: BTreeMap<String, String>,
    /// Steps the journal shows started with no result recorded (a crash, a
    /// `kill -9`, a journal that could not be written): step id → when it started.
    pub(super) in_doubt: BTreeMap<String, String>,
    pub(super) journal: Journal,
    /// The secrets this run still needs, kept for `resume`.
    pub(super) kept: Kept,
    pub(super) events: Option<Events>,
    pub(super) client: reqwest::Client,
    pub(super) state: StateDir,
    pub(super) run_id: String,
    pub(super) _lock: Lock,
    /// The team state database, with `--state`.
    pub(super) team: Option<Team>,
    /// How deep in child runbooks this engine is (0 for the top).
    pub(super) depth: usize,
    /// How `--confirm` names this runbook's steps: empty at the top, `kid.` in
    /// the child run by step `kid` (`kid.sub.` below that), so a bare id never
    /// confirms a child's step of the same name.
    pub(super) scope: String,
    /// How approvals name this runbook's steps (`crate::approval::name`): as
    /// `scope`, but with the item of a fan-out (`kid["a"].`), so that each
    /// item's child run asks for — and is opened by — an approval of its own.
    pub(super) approval_scope: String,
    /// Evidence re-run for a gate (its `within` expired) that failed this time.
    pub(super) failed_evidence: Option<String>,
    /// The manual step whose instructions were shown before its confirmation was
    /// asked, so they are not shown twice.
    pub(super) instructions_shown: Option<String>,
    /// Steps blocked in this process for want of a confirmation that only
    /// `--confirm ID` gives: what the resume command must add.
    pub(super) unconfirmed: BTreeSet<String>,
    /// Steps are recorded without a line on the screen (rollback steps that
    /// all are skipped).
    pub(super) quiet: bool,
    /// The runbook's `outputs:` once the run passed, for its parent: name →
    /// (value, whether a secret went into it).
    pub(super) outputs: BTreeMap<String, (String, bool)>,
    /// In a fan-out's child run: the item, as messages name it (`item "b.test"`).
    pub(super) item: Option<String>,
    /// Secret results of the step being finished that are known by fingerprint
    /// only (a child's outputs read back from its journal): field → fingerprint.
    /// The step's record journals them so, and a template that reads one asks
    /// for it again, as on resume.
    pub(super) replayed_secrets: BTreeMap<String, String>,
    /// Items run side by side: each line of this child run starts with its
    /// item, or the lines of two runs could not be told apart.
    pub(super) tagged: bool,
    /// SHA-256 of the runbook file as the run began: what an approval binds.
    pub(super) file_hash: String,
    /// The Unix user that started the run, who may never approve its steps.
    pub(super) started_uid: Option<u32>,
    /// Where approvals are asked for and decided (`crate::approval`), and for
    /// which run and file: the top-level run's, which a child runbook's run
    /// shares — a child runs afresh on each resume of its parent, and an
    /// approval of its step must outlive that.
    pub(super) approvals: Arc<dyn ApprovalStore>,
    pub(super) approval_run: String,
    pub(super) approval_file: PathBuf,
    /// Steps blocked in this process waiting for approval, by the name the
    /// approval is bound to (`kid["a"].revoke`).
    pub(super) awaiting_approval: BTreeMap<String, Awaiting>,
    /// The approval events this run journaled (or its children forwarded),
    /// for a parent to journal too: a child's approvals then show in the
    /// parent's `status` and `report`, item by item.
    pub(super) approval_events: Vec<EventKind>,
}

/// A step waiting for approval, for the commands that carry on.
#[derive(Debug, Clone)]
pub(super) struct Awaiting {
    /// What it waits for (`1 approval from bob`).
    pub what: String,
    /// Its `--confirm` name (`kid.revoke`), when the command that carries on
    /// must also give it (the step's confirmation needs it without a terminal).
    pub confirm: Option<String>,
}

/// Where a child runbook's run belongs: the parent run and step that run it,
/// the item of a fan-out, and the item's own state directory.
#[derive(Debug, Clone)]
pub(super) struct ChildPlace {
    pub parent_run: String,
    pub step: String,
    pub item: Option<serde_json::Value>,
    /// The item as the child's `child_of` event records it, and as a resumed
    /// parent looks for it there: a journal never holds a secret, so an item
    /// with one is recorded by fingerprint (`Engine::item_named`).
    pub recorded_item: Option<serde_json::Value>,
    /// The item as messages name it (`item "b.test"`), secrets masked by the
    /// parent, who knows which parts of it are secret.
    pub shown_item: Option<String>,
    /// A fan-out item's state directory: items run side by side, so each has
    /// its own journals and lock; the runbook file's lock is held once for
    /// the whole fan-out.
    pub item_state: Option<StateDir>,
}

/// What a run is started or continued with, besides its state.
pub(super) struct Started<'a> {
    pub file: &'a Path,
    pub runbook: Runbook,
    pub options: RunOptions,
    pub answers: Answers,
    pub operator: SharedOperator,
    pub client: reqwest::Client,
}

/// What a started or resumed run has opened: the parts of an [`Engine`] that
/// differ between the two; the rest starts empty.
pub(super) struct Opened {
    pub file: PathBuf,
    pub runbook: Runbook,
    pub options: RunOptions,
    pub answers: Answers,
    pub operator: SharedOperator,
    pub values: Values,
    pub journal: Journal,
    pub events: Option<Events>,
    pub client: reqwest::Client,
    pub state: StateDir,
    pub run_id: String,
    pub lock: Lock,
    pub team: Option<Team>,
    pub depth: usize,
    /// SHA-256 of the runbook file as the run began (what it runs).
    pub file_hash: String,
    /// The Unix user that started the run.
    pub started_uid: Option<u32>,
}

impl Engine {
    /// The one place an engine is put together. Every secret known now is
    /// masked from the first byte the run writes, not from the step that first
    /// uses it (`fixed_inputs::known_secrets`).
    pub(super) fn new(opened: Opened) -> Engine {
        for secret in crate::engine::fixed_inputs::known_secrets(
            &opened.runbook,
            &opened.answers,
            &opened.values,
        ) {
            opened.values.redactor.add(&secret);
        }
        let keep = !opened.options.no_keep_secrets
            && opened.runbook.keep_secrets.as_ref().is_none_or(|k| k.value);
        let kept = Kept::new(keep.then(|| opened.state.kept_path(&opened.run_id)));
        // With team state, approvals are the database's, on the run's
        // connection (a child run is handed its parent's store: `child.rs`).
        let approvals: Arc<dyn ApprovalStore> = match &opened.team {
            Some(team) => Arc::new(team.approvals(&opened.runbook.id.value)),
            None => Arc::new(LocalStore::new(opened.state.approvals_dir())),
        };
        let (approval_run, approval_file) = (opened.run_id.clone(), opened.file.clone());
        Engine {
            file: opened.file,
            runbook: opened.runbook,
            options: opened.options,
            answers: opened.answers,
            operator: opened.operator,
            values: opened.values,
            records: BTreeMap::new(),
            pending_secrets: BTreeMap::new(),
            pending_inputs: BTreeMap::new(),
            in_doubt: BTreeMap::new(),
            journal: opened.journal,
            kept,
            events: opened.events,
            client: opened.client,
            state: opened.state,
            run_id: opened.run_id,
            _lock: opened.lock,
            team: opened.team,
            depth: opened.depth,
            scope: String::new(),
            approval_scope: String::new(),
            failed_evidence: None,
            instructions_shown: None,
            unconfirmed: BTreeSet::new(),
            quiet: false,
            outputs: BTreeMap::new(),
            item: None,
            replayed_secrets: BTreeMap::new(),
            tagged: false,
            file_hash: opened.file_hash,
            started_uid: opened.started_uid,
            approvals,
            approval_run,
            approval_file,
            awaiting_approval: BTreeMap::new(),
            approval_events: Vec::new(),
        }
    }

    /// Starts the engine on a new run: the lock is taken and the journal opened.
    pub(super) fn start(
        started: Started<'_>,
        depth: usize,
        place: Option<&ChildPlace>,
    ) -> Result<Engine, EngineError> {
        let Started {
            file,
            runbook,
            options,
            answers,
            operator,
            client,
        } = started;
        let item_state = place.and_then(|p| p.item_state.clone());
        let state = match &item_state {
            Some(state) => state.clone(),
            None => StateDir::for_runbook(file, &runbook.id.value)?,
        };
        state.ensure()?;
        let run_id = crate::engine::state_dir::new_run_id();
        let holder = Holder::this_process(&run_id, command_line());
        let lock = match &item_state {
            Some(_) => Lock::acquire(&state.lock_path(), &holder)?,
            None => Lock::acquire_runbook(file, &state.lock_path(), &holder)?,
        };
        // The team's database is asked before anything is written here: one
        // that cannot be reached, or whose lock another run holds, runs nothing.
        // A child run (each item of a fan-out too) is journaled here only: the
        // parent's events, in the database, carry its outcome and run id.
        let mut team = match &options.state {
            Some(url) if depth == 0 => Some(Team::start(url, &runbook.id.value, &run_id)?),
            _ => None,
        };
        // Under the lock: no other run of this runbook takes the same place,
        // and none writes what is read here. Each journal is read once.
        let runs = state.readable_runs()?;
        leftovers::clean(&state, &runs);
        let superseded = crate::engine::state_dir::unfinished(&runs);
        if depth == 0 {
            refuse_in_doubt(file, &runbook, &runs, &superseded)?;
        }
        let mut seq = state.next_seq()?;
        if let Some(team) = &team {
            seq = seq.max(team.next_seq(&runbook.id.value)?);
        }
        let operator_name = operator_name(options.operator.as_deref());
        let started_at = crate::engine::journal::now();
        let file_hash = crate::eval::load::file_hash(file)?;
        let started_uid = Some(nix::unistd::getuid().as_raw());
        let first = Event::now(EventKind::RunStarted {
            run_id: run_id.clone(),
            runbook: runbook.id.value.clone(),
            file: file.display().to_string(),
            file_hash: file_hash.clone(),
            child_file_hashes: crate::eval::load::child_hashes(file, &runbook),
            operator: operator_name.clone(),
            pid: std::process::id(),
            inputs: crate::engine::fixed_inputs::at_start(&runbook, &answers),
            cwd: working_directory(),
            seq: Some(seq),
            uid: started_uid,
        });
        let journal = Journal::create(&state.journal_path(&run_id), &first)?;
        if let Some(team) = &mut team {
            team.begin(&first);
        }
        let events = match &options.events {
            Some(target) if depth == 0 => Some(crate::engine::open_events(target)?),
            _ => None,
        };
        let mut values =
            Values::new(json!({"id": run_id, "started_at": started_at, "operator": operator_name}));
        values.declare_steps(&runbook);
        let mut engine = Engine::new(Opened {
            file: file.to_path_buf(),
            runbook,
            options,
            answers,
            operator,
            values,
            journal,
            events,
            client,
            state,
            run_id,
            lock,
            team,
            depth,
            file_hash,
            started_uid,
        });
        engine.emit_only(&first);
        if let Some(place) = place {
            engine.record(EventKind::ChildOf {
                parent_run: place.parent_run.clone(),
                step: place.step.clone(),
                item: place.recorded_item.clone(),
            })?;
        }
        engine.supersede(&superseded);
        if depth > 0 {
            engine.carry_in_doubt(&superseded)?;
        }
        Ok(engine)
    }

    /// Marks the older unfinished runs as superseded by this one. `resume` only
    /// continues the latest run whatever they say; this tells their reports.
    fn supersede(&self, older: &[PathBuf]) {
        for path in older {
            let marked = Journal::open(path).and_then(|(mut journal, _)| {
                journal.append(&Event::now(EventKind::Superseded {
                    by: self.run_id.clone(),
                }))
            });
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            match marked {
                Ok(_) => self.say(&format!(
                    "note: the unfinished run {name} is superseded by this one; it can no longer be resumed"
                )),
                Err(error) => self.say(&format!(
                    "note: the unfinished run {name} cannot be marked superseded ({error}); it can no longer be resumed all the same"
                )),
            }
        }
    }

    /// Appends an event to the journal (fsynced) and the `--events` stream.
    pub(super) fn record(&mut self, kind: EventKind) -> Result<(), EngineError> {
        let event = self.journal.append(&Event::now(kind))?;
        if let Some(team) = &mut self.team {
            team.mirror(&event);
        }
        self.emit_only(&event);
        Ok(())
    }

    /// Stops the run before its next step when the team state database has
    /// stopped taking its events: what it does next would be seen by nobody
    /// else. The local journal has every event, for `resume` to upload.
    fn team_check(&mut self) -> Result<(), Stop> {
        match self.team_lost(false) {
            Some(error) => Err(Stop::Fatal(error)),
            None => Ok(()),
        }
    }

    /// The error that says the team state database stopped taking this run's
    /// events, once it has (`at_end`: as the run ended).
    pub(super) fn team_lost(&mut self, at_end: bool) -> Option<EngineError> {
        let source = self.team.as_mut().and_then(Team::take_lost)?;
        Some(EngineError::TeamLost {
            journal: self.journal.path().to_owned(),
            at_end,
            source,
        })
    }

    fn emit_only(&mut self, event: &Event) {
        if let Some(events) = &mut self.events
            && events.emit(event).is_err()
        {
            // A consumer that went away must not stop the run; the journal has it all.
            self.events = None;
        }
    }

    /// Shows a line to the operator, secrets masked.
    pub(super) fn say(&self, line: &str) {
        let line = self.values.redactor.redact(line);
        let mut indent = "  ".repeat(self.depth);
        if let Some(item) = self.item.as_ref().filter(|_| self.tagged) {
            indent.push_str(&format!("{item} │ "));
        }
        // A prompt abandoned on Ctrl-C may still hold the operator; the line must
        // be shown all the same, so it goes straight to the terminal then.
        match self.operator.try_lock() {
            Ok(mut operator) => operator.say(&format!("{indent}{line}")),
            // A terminal that hung up cannot be written to: the journal has it.
            Err(_) => {
                use std::io::Write as _;
                let _ = writeln!(
                    std::io::stdout(),
                    "{indent}{}",
                    crate::output::printable(&line)
                );
            }
        }
    }

    /// The name `--confirm` gives `step` of this runbook (`destroy`, `kid.destroy`).
    pub(super) fn confirm_name(&self, step: &Step) -> String {
        format!("{}{}", self.scope, step.id.value)
    }

    pub(super) fn interactive(&self) -> bool {
        !self.options.non_interactive && self.operator.lock().is_ok_and(|o| o.interactive())
    }

    /// Runs every step not yet passed, then the rollback after a failure.
    pub(super) async fn run_steps(&mut self) -> Result<RunEnd, Stop> {
        self.banner();
        let steps: Vec<Step> = self.runbook.steps().cloned().collect();
        let total = steps.len();
        let mut failed: Option<String> = None;
        for (index, step) in steps.iter().enumerate() {
            self.team_check()?;
            if self
                .records
                .get(&step.id.value)
                .is_some_and(|r| r.outcome == Outcome::Passed)
            {
                self.say(&format!(
                    "[{}/{total}] {} · passed earlier in this run",
                    index + 1,
                    step.title_or_id()
                ));
                continue;
            }
            self.say(&format!(
                "[{}/{total}] {} · {}",
                index + 1,
                step.title_or_id(),
                effect_name(step)
            ));
            let outcome = self.run_step(step).await?;
            // A signal that came while an irreversible request was awaited.
            if let Some(signal) = caught_signal() {
                return Err(Stop::Interrupted(signal));
            }
            if outcome == Outcome::Failed {
                failed = Some(step.id.value.clone());
                break;
            }
            // Stale evidence gathered again for this step's gate may have failed:
            // that is a failure of the run, not merely a closed gate.
            if let Some(evidence) = self.failed_evidence.take() {
                failed = Some(evidence);
                break;
            }
            // In a runbook the order is the procedure: what comes after a step
            // that did not happen waits for it. A checklist's items are
            // independent, so it goes on to the others.
            if matches!(outcome, Outcome::Deferred | Outcome::Blocked)
                && !self.runbook.is_checklist()
            {
                self.say(&format!(
                    "  The steps after `{}` wait until it is done: in a runbook the order is the procedure.",
                    step.id.value
                ));
                break;
            }
        }
        let undone = match &failed {
            Some(step) => self.rollback(step).await?,
            None => Vec::new(),
        };
        let end = if !undone.is_empty() {
            RunEnd::RollbackFailed(undone)
        } else if failed.is_some() {
            RunEnd::Failed
        } else if steps.iter().all(|s| {
            self.records
                .get(&s.id.value)
                .is_some_and(|r| matches!(r.outcome, Outcome::Passed | Outcome::Skipped))
        }) {
            RunEnd::Passed
        } else {
            RunEnd::Blocked
        };
        self.summary(&steps, &end);
        Ok(end)
    }

    /// Runs the rollback after `failed` failed; returns the rollback steps that
    /// failed, which leave undone what they were to undo. The journal records
    /// the rollback and every step of it; the screen announces "Rolling back"
    /// at the first step whose `when` holds — skipped steps before it have no
    /// line of their own (the summary lists them), and a rollback whose every
    /// step is skipped is never announced.
    async fn rollback(&mut self, failed: &str) -> Result<Vec<String>, Stop> {
        if self.runbook.rollback.is_empty() {
            return Ok(Vec::new());
        }
        let reason = format!("step `{failed}` failed");
        self.record(EventKind::RollbackStarted {
            reason: reason.clone(),
        })?;
        let steps = self.runbook.rollback.clone();
        let total = steps.len();
        let mut undone = Vec::new();
        let mut announced = false;
        for (index, step) in steps.iter().enumerate() {
            if !announced && self.applies(step).await? {
                self.say(&format!("Rolling back: {reason}"));
                announced = true;
            }
            self.quiet = !announced;
            if announced {
                self.say(&format!(
                    "[rollback {}/{total}] {} · {}",
                    index + 1,
                    step.title_or_id(),
                    effect_name(step)
                ));
            }
            let outcome = self.run_step(step).await;
            self.quiet = false;
            if outcome? == Outcome::Failed {
                undone.push(step.id.value.clone());
            }
            if let Some(signal) = caught_signal() {
                return Err(Stop::Interrupted(signal));
            }
        }
        Ok(undone)
    }

    /// Whether a step's `when` holds now (or cannot be told: its failure is
    /// then the step's to report).
    async fn applies(&mut self, step: &Step) -> Result<bool, Stop> {
        let Some(when) = &step.when else {
            return Ok(true);
        };
        self.resolve_for(&[when.source.as_str()]).await?;
        Ok(!matches!(self.values.condition(&when.source), Ok(false)))
    }

    fn banner(&self) {
        let mut line = self
            .runbook
            .title
            .as_ref()
            .map_or_else(|| self.runbook.id.value.clone(), |t| t.value.clone());
        if let Some(priority) = &self.runbook.priority {
            line.push_str(&format!(" · {}", priority.value.as_str()));
        }
        if let Some(estimate) = &self.runbook.estimate {
            line.push_str(&format!(
                " · estimate {}",
                humantime::format_duration(estimate.value.0)
            ));
        }
        if let Some(item) = &self.item {
            line.push_str(&format!(" · {item}"));
        }
        self.say(&line);
        self.say(&format!(
            "run {} · journal {}",
            self.run_id,
            self.journal.path().display()
        ));
    }

    fn summary(&self, steps: &[Step], end: &RunEnd) {
        self.say("");
        self.say("Summary");
        let all = || steps.iter().chain(self.runbook.rollback.iter());
        // One column for the ids, as wide as the longest.
        let width = all()
            .map(|step| step.id.value.chars().count())
            .max()
            .unwrap_or(0);
        for step in all() {
            let Some(record) = self.records.get(&step.id.value) else {
                continue;
            };
            let took = short(std::time::Duration::from_millis(record.duration_ms));
            let mut line = format!(
                "  {} {:<width$} {:<9} {took}",
                record.outcome.symbol(),
                step.id.value,
                record.outcome.as_str()
            );
            if let Some(reason) = &record.reason {
                line.push_str(&format!("  {}", summary_reason(reason)));
            }
            self.say(&line);
        }
        let verdict = match end {
            RunEnd::Passed => "passed".to_owned(),
            RunEnd::Failed => "failed".to_owned(),
            RunEnd::RollbackFailed(undone) => format!(
                "failed, and its rollback failed too: left undone by {}; check by hand what those steps were to undo (the setting backups are kept in {})",
                undone
                    .iter()
                    .map(|id| format!("`{id}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.state.backups_dir(&self.run_id).display()
            ),
            RunEnd::Blocked => "blocked: some steps did not run (see above)".to_owned(),
            RunEnd::Interrupted(_) => "interrupted".to_owned(),
        };
        self.say(&format!("Run {} {verdict}", self.run_id));
        // A child's are its parent's to say, with the command that carries on.
        if *end == RunEnd::Blocked && self.depth == 0 {
            for (name, awaiting) in &self.awaiting_approval {
                self.say(&format!(
                    "`{name}` is {}: one of them approves it with `{}`",
                    awaiting.what,
                    self.approve_command(name)
                ));
            }
        }
        if *end == RunEnd::Blocked && self.depth == 0 {
            self.say(&self.carry_on());
        }
    }

    /// The one command, in a sentence, that carries on after the run stopped.
    pub(super) fn carry_on(&self) -> String {
        match &self.options.continue_with {
            Some(command) => format!("Start again with `{command}`"),
            None => format!("Resume with `{}`", self.resume_command()),
        }
    }

    /// The command that continues this run where it stopped: the confirmations
    /// it still needs (`--confirm` of the steps a missing one blocked), and
    /// `--yes` if this run had it.
    pub(super) fn resume_command(&self) -> String {
        let mut command = format!("runbook resume {}", self.file.display());
        if self.options.yes {
            command.push_str(" --yes");
        }
        // Items of a fan-out share their `--confirm` name: given once.
        let approved_then_confirmed: BTreeSet<&String> = self
            .awaiting_approval
            .values()
            .filter_map(|awaiting| awaiting.confirm.as_ref())
            .filter(|name| !self.unconfirmed.contains(*name))
            .collect();
        for id in self
            .unconfirmed
            .iter()
            .chain(approved_then_confirmed)
            .chain(&self.options.confirm)
        {
            command.push_str(&format!(" --confirm {id}"));
        }
        command
    }

    /// Writes the end of the run. A run that ended no longer needs the secrets
    /// kept for its resume, nor — once passed, or failed and rolled back — the
    /// backups of the settings it replaced (a crash before they are removed
    /// leaves them to the next run's cleanup). A blocked run is resumed to
    /// finish it: it keeps both. A run whose rollback failed keeps its
    /// backups: they are what the operator puts back by hand.
    pub(super) fn finish(&mut self, end: &RunEnd) -> Result<(), EngineError> {
        self.record(EventKind::RunFinished {
            outcome: end.outcome(),
            exit_code: end.exit_code(),
        })?;
        // A child run's secret outputs stay kept until its parent has them.
        let for_parent = self.depth > 0 && self.outputs.values().any(|(_, secret)| *secret);
        if !matches!(end, RunEnd::Blocked | RunEnd::Interrupted(_)) && !for_parent {
            Kept::remove(&self.state.kept_path(&self.run_id))?;
        }
        if leftovers::backups_unneeded(end.outcome()) {
            leftovers::remove_backups(&self.state, &self.run_id);
        }
        Ok(())
    }

    /// Keeps a secret value for `resume` (`inputs.NAME` or `steps.ID.FIELD`).
    pub(super) fn keep_secret(&mut self, key: &str, value: &str) -> Result<(), Stop> {
        self.kept
            .keep(key, value)
            .map_err(|e| Stop::Fatal(EngineError::Kept(e)))
    }

    pub(super) fn now() -> SystemTime {
        SystemTime::now()
    }
}

/// A reason cut to one line for the summary table; the step's own line above
/// has it whole. A cut never falls inside a `code span`: that is where the
/// flag or the command the operator needs is (`--confirm revoke_old_token`).
fn summary_reason(reason: &str) -> String {
    const WIDTH: usize = 100;
    let first = reason.lines().next().unwrap_or_default();
    let chars: Vec<char> = first.chars().collect();
    if chars.len() <= WIDTH {
        return first.to_owned();
    }
    let mut end = WIDTH;
    if chars[..end].iter().filter(|c| **c == '`').count() % 2 == 1 {
        // Inside a span: keep it to its closing backquote.
        end = chars[end..]
            .iter()
            .position(|c| *c == '`')
            .map_or(chars.len(), |at| end + at + 1);
    }
    if end >= chars.len() {
        return first.to_owned();
    }
    format!("{}…", chars[..end].iter().collect::<String>())
}

fn effect_name(step: &Step) -> &'static str {
    step.effect().map_or("child runbook", |e| e.as_str())
}

/// Who is at the keyboard: `--operator`, then `RUNBOOK_OPERATOR`, then the
/// login's `$USER`/`$LOGNAME`, then the account the process runs as — so a
/// container or CI job without `$USER` is still someone — then the uid.
fn operator_name(given: Option<&str>) -> String {
    let set = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    set(given.map(str::to_owned))
        .or_else(|| set(std::env::var(OPERATOR_ENV).ok()))
        .or_else(|| set(std::env::var("USER").ok()))
        .or_else(|| set(std::env::var("LOGNAME").ok()))
        .or_else(|| {
            set(nix::unistd::User::from_uid(nix::unistd::getuid())
                .ok()
                .flatten()
                .map(|user| user.name))
        })
        .unwrap_or_else(|| format!("uid {}", nix::unistd::getuid()))
}

/// The environment variable that names the operator when `--operator` does not.
pub const OPERATOR_ENV: &str = "RUNBOOK_OPERATOR";

/// Refuses a new run while an unfinished one left an irreversible step in doubt:
/// a new run would do it again without anyone deciding that it should. (A
/// child's are carried into its next run instead, where the operator decides.)
fn refuse_in_doubt(
    file: &Path,
    runbook: &Runbook,
    runs: &[(PathBuf, Replay)],
    unfinished: &[PathBuf],
) -> Result<(), EngineError> {
    for (path, replay) in runs.iter().filter(|(path, _)| unfinished.contains(path)) {
        let irreversible: Vec<String> = crate::engine::in_doubt::steps_in_doubt(&replay.events)
            .into_keys()
            .filter(|id| {
                runbook
                    .all_steps()
                    .any(|step| step.id.value == *id && step.effect() == Some(Effect::Irreversible))
            })
            .collect();
        if !irreversible.is_empty() {
            return Err(EngineError::InDoubtUnfinished {
                run: path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                steps: irreversible,
                file: file.to_path_buf(),
            });
        }
    }
    Ok(())
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The working directory as the journal records it (see `RunStarted::cwd`).
pub(super) fn working_directory() -> Option<String> {
    std::env::current_dir()
        .ok()
        .map(|dir| dir.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::summary_reason;

    #[test]
    fn a_summary_reason_is_never_cut_inside_the_flag_it_names() {
        let reason = "not confirmed: an irreversible step runs without a person at the terminal only with `--confirm revoke_old_token` and more words after it";
        let cut = summary_reason(reason);
        assert!(cut.contains("`--confirm revoke_old_token`"), "{cut}");
        assert!(cut.ends_with('…'), "{cut}");
        let short = "blocked: `x` is failed";
        assert_eq!(summary_reason(short), short);
        let long_plain = "word ".repeat(40);
        assert_eq!(summary_reason(&long_plain).chars().count(), 101);
    }
}
