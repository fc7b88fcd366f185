//! Child runbooks (`runbook: PATH`): the child runs as part of this run, with the
//! same answers, flags and operator — plus the inputs its step gives in `with:`,
//! rendered here, above every other answer — in an engine (journal, lock) of its
//! own; its outcome is the step's outcome. With `for_each`, one child run per
//! item, at most `concurrency` at once, each with its own state directory,
//! gates, journal and outcome; the step passes only if every item passed.
//!
//! A child run records the parent run and step it belongs to (`child_of`). When
//! the parent reaches the step again in the same run — resumed after a crash,
//! or after the child was blocked — a child run that passed is not run again,
//! and one that did not finish is continued, not started over: no passed child
//! step (an irreversible one above all) runs twice.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::approval::ApprovalStore;
use crate::approval::name::child_scope;
use crate::document::model::{Runbook, Step};
use crate::document::rules::parent_dir;
use crate::engine::journal::{EventKind, Replay};
use crate::engine::lock::{Holder, Lock};
use crate::engine::outcome::Outcome;
use crate::engine::perform::Done;
use crate::engine::runner::{
    Awaiting, ChildPlace, Engine, RunEnd, RunOptions, SharedOperator, Started,
};
use crate::engine::state_dir::StateDir;
use crate::engine::{EngineError, Stop};
use crate::eval::answers::Answers;
use crate::eval::inputs::Spec;
use crate::eval::items::{label, repeated};
use crate::eval::load;
use crate::secret::Redactor;

/// Why an item that was never started has no run: a fan-out of child runs
/// stops starting items at the first failure (those in flight finish), since
/// each item changes something and the failure may be the pattern.
const NOT_STARTED: &str = "not started: an earlier item failed";

/// A child run's outputs: name → (value, whether a secret went into it).
type Outputs = BTreeMap<String, (String, bool)>;

/// One child run to make, with everything it needs owned, so that several run
/// side by side.
struct ChildRun {
    file: PathBuf,
    runbook: Runbook,
    options: RunOptions,
    answers: Answers,
    operator: SharedOperator,
    client: reqwest::Client,
    depth: usize,
    /// How `--confirm` names the child's steps: `kid.`.
    scope: String,
    /// How approvals name them: `kid.`, or `kid["a"].` for an item.
    approval_scope: String,
    place: ChildPlace,
    /// Approvals of the child's steps are asked and decided through the
    /// parent's file and run (`runbook approve parent.yaml kid.revoke`), so they
    /// outlive the child being run again on resume.
    approvals: Arc<dyn ApprovalStore>,
    approval_run: String,
    approval_file: PathBuf,
    /// Whether other items' runs may write to the screen meanwhile.
    side_by_side: bool,
}

/// What one child run gave.
struct ChildEnd {
    item: Option<Json>,
    outcome: Outcome,
    reason: Option<String>,
    run_id: Option<String>,
    child_outcome: Option<Outcome>,
    outputs: Outputs,
    /// Secret outputs of a child run that passed earlier, known by
    /// fingerprint only: name → fingerprint.
    replayed: BTreeMap<String, String>,
    /// The secrets the child learnt, for this run's output.
    redactor: Option<Redactor>,
    /// The child's steps left waiting for approval, for the command that
    /// carries on (see `Engine::awaiting_approval`).
    awaiting_approval: BTreeMap<String, Awaiting>,
    /// The approval events the child run journaled, for this run's journal.
    approval_events: Vec<EventKind>,
    /// The child run's kept secrets, held past its end for its secret
    /// outputs: removed once this run has them.
    kept: Option<PathBuf>,
    stop: Option<Stop>,
}

impl ChildEnd {
    fn failed(item: Option<Json>, reason: String) -> ChildEnd {
        ChildEnd {
            item,
            outcome: Outcome::Failed,
            reason: Some(reason),
            run_id: None,
            child_outcome: None,
            outputs: BTreeMap::new(),
            replayed: BTreeMap::new(),
            redactor: None,
            awaiting_approval: BTreeMap::new(),
            approval_events: Vec::new(),
            kept: None,
            stop: None,
        }
    }

    /// The item's entry in `steps.<id>.results`, or the step's own results.
    fn results(&self) -> Json {
        let outputs: serde_json::Map<String, Json> = self
            .outputs
            .iter()
            .map(|(name, (value, _))| (name.clone(), json!(value)))
            .collect();
        let mut results = json!({
            "run_id": self.run_id,
            "child_outcome": self.child_outcome.map(Outcome::as_str),
            "outputs": outputs,
        });
        if let Some(item) = &self.item {
            results["item"] = item.clone();
            results["outcome"] = json!(self.outcome.as_str());
            results["reason"] = json!(self.reason);
        }
        results
    }
}

impl Engine {
    /// A `runbook:` step: one child run, or one per item of its `for_each`.
    pub(super) async fn child_step(
        &mut self,
        step: &Step,
        path: &str,
        items: Option<&[Json]>,
    ) -> Result<Done, Stop> {
        let file = parent_dir(&self.file).join(path);
        let runbook = match load(&file) {
            Ok(runbook) => runbook,
            Err(error) => return Ok(failed(error.to_string())),
        };
        let Some(items) = items else {
            let run = match self.child_run(step, &file, &runbook, None) {
                Ok(run) => run,
                Err(reason) => return Ok(failed(reason)),
            };
            let end = run.run().await;
            return self.one_child(step, end);
        };
        if let Some(twice) = repeated(items) {
            return Ok(failed(format!(
                "`for_each` gives {} twice: each item is one child run, known by its value, so the second would be taken for the first (drop the repeat, or make the items differ)",
                label(twice)
            )));
        }
        // The runbook file is locked once for the whole fan-out: its items run
        // side by side, each under its own state directory's lock.
        let locked = StateDir::for_runbook(&file, &runbook.id.value)
            .and_then(|state| state.ensure().map(|()| state))
            .map_err(EngineError::from)
            .and_then(|state| {
                let holder = Holder::this_process(
                    &self.run_id,
                    std::env::args().collect::<Vec<_>>().join(" "),
                );
                let lock = Lock::acquire_runbook(&file, &state.lock_path(), &holder)?;
                Ok((state, lock))
            });
        let (main_state, _lock) = match locked {
            Ok(locked) => locked,
            Err(error) => return Ok(failed(error.to_string())),
        };
        let mut runs = Vec::with_capacity(items.len());
        for item in items {
            let mut run = match self.child_run(step, &file, &runbook, Some(item)) {
                Ok(run) => run,
                Err(reason) => return Ok(failed(format!("{}: {reason}", label(item)))),
            };
            let key = item_key(&self.runbook.id.value, &step.id.value, item);
            run.place.item_state = Some(main_state.item(&key));
            runs.push(run);
        }
        let concurrency = step.concurrency() as usize;
        let stopped = Cell::new(false);
        let ends = crate::action::fan_out::for_each(
            runs,
            concurrency,
            |run: ChildRun| {
                let stopped = &stopped;
                async move {
                    if stopped.get() {
                        return ChildEnd {
                            outcome: Outcome::Pending,
                            ..ChildEnd::failed(run.place.item.clone(), NOT_STARTED.to_owned())
                        };
                    }
                    let end = run.run().await;
                    if end.outcome == Outcome::Failed || end.stop.is_some() {
                        stopped.set(true);
                    }
                    end
                }
            },
            |_| {},
        )
        .await;
        self.fanned_out_children(step, ends)
    }

    /// Prepares the child run of `step` (for `item`): its inputs from `with:`,
    /// rendered here and checked against what the child declares.
    fn child_run(
        &self,
        step: &Step,
        file: &Path,
        runbook: &Runbook,
        item: Option<&Json>,
    ) -> Result<ChildRun, String> {
        let mut given = BTreeMap::new();
        for (name, template) in &step.with {
            let rendered = self
                .values
                .render(&template.source, item)
                .map_err(|e| self.render_failed(step, &format!("with.{}", name.value), &e.0))?;
            if let Some(input) = runbook.input(&name.value) {
                Spec::of_input(input)
                    .check(&rendered.text)
                    .map_err(|reason| {
                        format!(
                            "`with: {{{}}}` is not a valid value for the child's input: {reason}",
                            name.value
                        )
                    })?;
            }
            if rendered.secret {
                // Masked in this run's output too, from now on.
                self.values.redactor.add(&rendered.text);
            }
            given.insert(name.value.clone(), (rendered.text, rendered.secret));
        }
        let named = self.item_named(item);
        Ok(ChildRun {
            file: file.to_path_buf(),
            runbook: runbook.clone(),
            options: self.options.clone(),
            answers: self.answers.with_given(given),
            operator: std::sync::Arc::clone(&self.operator),
            client: self.client.clone(),
            depth: self.depth + 1,
            scope: format!("{}.", self.confirm_name(step)),
            approval_scope: child_scope(&self.approval_name(step), named.as_ref()),
            side_by_side: item.is_some() && step.concurrency.as_ref().is_some_and(|c| c.value > 1),
            place: ChildPlace {
                parent_run: self.run_id.clone(),
                step: step.id.value.clone(),
                item: item.cloned(),
                recorded_item: named,
                shown_item: item.map(|i| self.values.redactor.redact(&label(i))),
                item_state: None,
            },
            approvals: Arc::clone(&self.approvals),
            approval_run: self.approval_run.clone(),
            approval_file: self.approval_file.clone(),
        })
    }

    /// An item as an approval's name and a child run's `child_of` event hold
    /// it: by its value, or — when a secret is in it — by its fingerprint
    /// (`"sha256:…"`), which tells two secret items apart as a mask could not,
    /// and shows neither.
    fn item_named(&self, item: Option<&Json>) -> Option<Json> {
        item.map(|item| {
            let text = item.to_string();
            if self.values.redactor.leaks(&text) {
                Json::String(crate::secret::fingerprint(&text))
            } else {
                item.clone()
            }
        })
    }

    /// The outcome of a step that ran its child once.
    fn one_child(&mut self, step: &Step, mut end: ChildEnd) -> Result<Done, Stop> {
        // Secrets the child learnt must stay masked in this run's output too,
        // the lines an interruption writes included.
        if let Some(redactor) = &end.redactor {
            self.values.redactor.merge(redactor);
        }
        self.awaiting_approval
            .extend(std::mem::take(&mut end.awaiting_approval));
        self.forward_approvals(step, std::mem::take(&mut end.approval_events))?;
        if let Some(stop) = end.stop.take() {
            return Err(stop);
        }
        release_kept(std::slice::from_ref(&end));
        let reason = end.reason.take();
        for (name, fingerprint) in std::mem::take(&mut end.replayed) {
            self.replayed_secrets
                .insert(format!("outputs.{name}"), fingerprint);
        }
        let secret_fields = end
            .outputs
            .iter()
            .filter(|(_, (_, secret))| *secret)
            .map(|(name, _)| format!("outputs.{name}"))
            .collect();
        Ok(Done {
            outcome: end.outcome,
            reason: reason.map(|r| self.values.redactor.redact(&r)),
            results: end.results(),
            secret_fields,
        })
    }

    /// A fan-out's outcome: passed only if every item passed; failed if one
    /// failed; deferred if every other one was deferred; else blocked.
    fn fanned_out_children(&mut self, step: &Step, mut ends: Vec<ChildEnd>) -> Result<Done, Stop> {
        release_kept(&ends);
        let mut stop = None;
        for end in &mut ends {
            if let Some(redactor) = &end.redactor {
                self.values.redactor.merge(redactor);
            }
            self.awaiting_approval
                .extend(std::mem::take(&mut end.awaiting_approval));
            self.forward_approvals(step, std::mem::take(&mut end.approval_events))?;
        }
        let total = ends.len();
        // An item's secret output is a secret of this step: fingerprinted in the
        // journal, kept for resume, asked again when it is not.
        let secret_fields: Vec<String> = ends
            .iter()
            .enumerate()
            .flat_map(|(index, end)| {
                end.outputs
                    .iter()
                    .filter(|(_, (_, secret))| *secret)
                    .map(move |(name, _)| format!("results.{index}.outputs.{name}"))
            })
            .collect();
        for (index, end) in ends.iter().enumerate() {
            for (name, fingerprint) in &end.replayed {
                self.replayed_secrets.insert(
                    format!("results.{index}.outputs.{name}"),
                    fingerprint.clone(),
                );
            }
        }
        let mut results = Vec::with_capacity(total);
        let mut failed = Vec::new();
        let mut unfinished = Vec::new();
        let mut all_deferred = true;
        for mut end in ends {
            if stop.is_none() {
                stop = end.stop.take();
            }
            let what = end.item.as_ref().map_or_else(String::new, label);
            let why = end.reason.clone().unwrap_or_default();
            match end.outcome {
                Outcome::Passed | Outcome::Skipped => {}
                Outcome::Failed | Outcome::RollbackFailed | Outcome::Abandoned => {
                    failed.push(format!("{what}: {why}"));
                }
                Outcome::Deferred => unfinished.push(format!("{what}: deferred: {why}")),
                Outcome::Blocked | Outcome::Pending => {
                    all_deferred = false;
                    unfinished.push(format!("{what}: {why}"));
                }
            }
            results.push(end.results());
        }
        if let Some(stop) = stop {
            return Err(stop);
        }
        let results = json!({ "results": results });
        let (outcome, reason) = if !failed.is_empty() {
            let reason = format!(
                "{} of {total} items failed: {}",
                failed.len(),
                crate::engine::perform::first_failures(&failed)
            );
            (Outcome::Failed, Some(reason))
        } else if !unfinished.is_empty() {
            let reason = format!(
                "{} of {total} items did not finish: {}",
                unfinished.len(),
                crate::engine::perform::first_failures(&unfinished)
            );
            let outcome = if all_deferred {
                Outcome::Deferred
            } else {
                Outcome::Blocked
            };
            (outcome, Some(reason))
        } else {
            (Outcome::Passed, None)
        };
        Ok(Done {
            outcome,
            reason: reason.map(|r| self.values.redactor.redact(&r)),
            results,
            secret_fields,
        })
    }

    /// Renders the runbook's `outputs:` when the run passed (for a parent to
    /// read), and journals them, secrets masked. One that cannot be rendered
    /// fails the run: the parent would read nothing where it expects a value.
    pub(super) async fn render_outputs(&mut self, end: RunEnd) -> Result<RunEnd, EngineError> {
        if end != RunEnd::Passed || self.runbook.outputs.is_empty() {
            return Ok(end);
        }
        let outputs = self.runbook.outputs.clone();
        let sources: Vec<&str> = outputs.iter().map(|(_, t)| t.source.as_str()).collect();
        match self.resolve_for(&sources).await {
            Ok(()) => {}
            Err(Stop::Fatal(error)) => return Err(error),
            Err(Stop::Interrupted(signal)) => return Ok(RunEnd::Interrupted(signal)),
        }
        let mut shown = BTreeMap::new();
        let mut secret_fingerprints = BTreeMap::new();
        for (name, template) in &outputs {
            match self.values.render(&template.source, None) {
                Ok(rendered) => {
                    if rendered.secret {
                        secret_fingerprints.insert(
                            name.value.clone(),
                            crate::secret::fingerprint(&rendered.text),
                        );
                        // Kept past this run's end, until the parent has kept it
                        // (`ChildEnd::kept`): a parent that comes back to a passed
                        // child run reads it from there.
                        self.kept
                            .keep(&format!("outputs.{}", name.value), &rendered.text)?;
                    }
                    shown.insert(
                        name.value.clone(),
                        self.values.redactor.redact(&rendered.text),
                    );
                    self.outputs
                        .insert(name.value.clone(), (rendered.text, rendered.secret));
                }
                Err(error) => {
                    self.say(&format!(
                        "  ✗ the output `{}` cannot be rendered: {}",
                        name.value, error.0
                    ));
                    self.outputs.clear();
                    return Ok(RunEnd::Failed);
                }
            }
        }
        self.record(EventKind::OutputsRendered {
            outputs: shown,
            secret_fingerprints,
        })?;
        Ok(end)
    }
}

impl ChildRun {
    /// Runs the child — or finds it passed, or continues it, when the parent
    /// reaches it again in the same run.
    async fn run(self) -> ChildEnd {
        let ChildRun {
            file,
            runbook,
            options,
            answers,
            operator,
            client,
            depth,
            scope,
            approval_scope,
            place,
            side_by_side,
            approvals,
            approval_run,
            approval_file,
        } = self;
        let item = place.item.clone();
        let state = match &place.item_state {
            Some(state) => state.clone(),
            None => match StateDir::for_runbook(&file, &runbook.id.value) {
                Ok(state) => state,
                Err(error) => return ChildEnd::failed(item, error.to_string()),
            },
        };
        let started = match earlier_run(&state, &place) {
            Some((
                _,
                Earlier::Passed {
                    run_id,
                    outputs,
                    secret_fingerprints,
                },
            )) => {
                let kept = state.kept_path(&run_id);
                let (outputs, replayed, redactor) = read_back(outputs, &secret_fingerprints, &kept);
                let shown = place
                    .shown_item
                    .as_ref()
                    .map_or_else(String::new, |i| format!("{i} · "));
                if let Ok(mut operator) = operator.lock() {
                    operator.say(&format!(
                        "{}{shown}child run {run_id} passed earlier in this run",
                        "  ".repeat(depth)
                    ));
                }
                return ChildEnd {
                    item,
                    outcome: Outcome::Passed,
                    reason: None,
                    run_id: Some(run_id),
                    child_outcome: Some(Outcome::Passed),
                    outputs,
                    replayed,
                    redactor: Some(redactor),
                    kept: Some(kept),
                    awaiting_approval: BTreeMap::new(),
                    approval_events: Vec::new(),
                    stop: None,
                };
            }
            Some((path, Earlier::Open)) => {
                let run_id = path
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                let holder =
                    Holder::this_process(&run_id, std::env::args().collect::<Vec<_>>().join(" "));
                let lock = match &place.item_state {
                    Some(_) => Lock::acquire(&state.lock_path(), &holder),
                    None => Lock::acquire_runbook(&file, &state.lock_path(), &holder),
                };
                lock.map_err(EngineError::from).and_then(|lock| {
                    let started = Started {
                        file: &file,
                        runbook,
                        options,
                        answers,
                        operator,
                        client,
                    };
                    Engine::reopen(started, state, &path, lock, depth)
                })
            }
            None => {
                let started = Started {
                    file: &file,
                    runbook,
                    options,
                    answers,
                    operator,
                    client,
                };
                Engine::start(started, depth, Some(&place))
            }
        };
        let mut child = match started {
            Ok(child) => child,
            Err(error) => return ChildEnd::failed(item, error.to_string()),
        };
        child.scope = scope;
        child.approval_scope = approval_scope;
        child.item.clone_from(&place.shown_item);
        child.approvals = approvals;
        child.approval_run = approval_run;
        child.approval_file = approval_file;
        child.tagged = side_by_side;
        let end = match Box::pin(child.drive()).await {
            Ok(end) => end,
            Err(error) => {
                return ChildEnd {
                    stop: Some(Stop::Fatal(error)),
                    ..ChildEnd::failed(item, String::new())
                };
            }
        };
        let redactor = Some(child.values.redactor.clone());
        let failed = || {
            let at = child.runbook.steps().find_map(|s| {
                let record = child.records.get(&s.id.value)?;
                (record.outcome == Outcome::Failed).then(|| {
                    let why = record.reason.as_deref().unwrap_or("failed");
                    format!(" at `{}`: {why}", s.id.value)
                })
            });
            format!(
                "child runbook `{}` failed{}",
                place.step,
                at.unwrap_or_default()
            )
        };
        let (outcome, reason) = match &end {
            RunEnd::Passed => (Outcome::Passed, None),
            RunEnd::Failed => (Outcome::Failed, Some(failed())),
            RunEnd::RollbackFailed(undone) => (
                Outcome::Failed,
                Some(format!(
                    "{}, and its rollback failed too ({})",
                    failed(),
                    undone.join(", ")
                )),
            ),
            RunEnd::Blocked => {
                let deferred = child
                    .records
                    .values()
                    .find(|r| r.outcome == Outcome::Deferred);
                match deferred {
                    Some(record) => (Outcome::Deferred, record.reason.clone()),
                    None => (
                        Outcome::Blocked,
                        Some("the child runbook is blocked".to_owned()),
                    ),
                }
            }
            RunEnd::Interrupted(signal) => {
                return ChildEnd {
                    stop: Some(Stop::Interrupted(*signal)),
                    redactor,
                    ..ChildEnd::failed(item, String::new())
                };
            }
        };
        ChildEnd {
            item,
            outcome,
            reason,
            run_id: Some(child.run_id.clone()),
            child_outcome: Some(end.outcome()),
            kept: child
                .outputs
                .values()
                .any(|(_, secret)| *secret)
                .then(|| child.state.kept_path(&child.run_id)),
            outputs: std::mem::take(&mut child.outputs),
            replayed: BTreeMap::new(),
            redactor,
            awaiting_approval: std::mem::take(&mut child.awaiting_approval),
            approval_events: std::mem::take(&mut child.approval_events),
            stop: None,
        }
    }
}

/// What the parent's run left of a child run in `state`.
enum Earlier {
    /// It passed: not run again.
    Passed {
        run_id: String,
        outputs: BTreeMap<String, String>,
        /// The secret outputs (masked in `outputs`), by fingerprint.
        secret_fingerprints: BTreeMap<String, String>,
    },
    /// It did not finish (interrupted, blocked): continued.
    Open,
}

/// The outputs of a child run that passed earlier, from its journal: a secret
/// one (masked there) from the secrets the child kept for its parent, checked
/// against its fingerprint; one not kept is known by fingerprint only
/// (`replayed`), and asked for again when it is read.
fn read_back(
    outputs: BTreeMap<String, String>,
    secret_fingerprints: &BTreeMap<String, String>,
    kept: &Path,
) -> (Outputs, BTreeMap<String, String>, Redactor) {
    let held = crate::engine::kept::Kept::new(None)
        .load(kept)
        .unwrap_or_default();
    let redactor = Redactor::default();
    let mut replayed = BTreeMap::new();
    let mut read = BTreeMap::new();
    for (name, shown) in outputs {
        let Some(expected) = secret_fingerprints.get(&name) else {
            read.insert(name, (shown, false));
            continue;
        };
        match held.get(&format!("outputs.{name}")) {
            Some(value) if crate::secret::fingerprint(value) == *expected => {
                redactor.add(value);
                read.insert(name, (value.clone(), true));
            }
            _ => {
                replayed.insert(name.clone(), expected.clone());
                read.insert(name, (shown, false));
            }
        }
    }
    (read, replayed, redactor)
}

/// The latest child run in `state` that `place` (this parent run, step and
/// item) started, if it passed or is still open. One that failed, or was
/// superseded, is over: the parent starts a new one.
fn earlier_run(state: &StateDir, place: &ChildPlace) -> Option<(PathBuf, Earlier)> {
    let runs: Vec<(PathBuf, Replay)> = state.readable_runs().ok()?;
    let (path, replay) = runs.into_iter().rev().find(|(_, replay)| {
        replay.events.iter().any(|event| {
            matches!(&event.kind, EventKind::ChildOf { parent_run, step, item }
                if *parent_run == place.parent_run && *step == place.step && *item == place.recorded_item)
        })
    })?;
    let last = &replay.events.last()?.kind;
    if let EventKind::RunFinished {
        outcome: Outcome::Passed,
        ..
    } = last
    {
        let (outputs, secret_fingerprints) = replay
            .events
            .iter()
            .find_map(|event| match &event.kind {
                EventKind::OutputsRendered {
                    outputs,
                    secret_fingerprints,
                } => Some((outputs.clone(), secret_fingerprints.clone())),
                _ => None,
            })
            .unwrap_or_default();
        let run_id = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        return Some((
            path,
            Earlier::Passed {
                run_id,
                outputs,
                secret_fingerprints,
            },
        ));
    }
    crate::engine::state_dir::is_open(last).then_some((path, Earlier::Open))
}

/// Removes what child runs kept past their end for their secret outputs: this
/// run has them now, and keeps them itself (the step's secret fields).
fn release_kept(ends: &[ChildEnd]) {
    for path in ends.iter().filter_map(|end| end.kept.as_ref()) {
        // Best effort: a file left holds one run's outputs, 0600, in its state.
        let _ = crate::engine::kept::Kept::remove(path);
    }
}

/// The name of an item's state directory: the parent runbook, the step and a
/// digest of the item, so the same item of the same step finds its run again,
/// and another runbook's fan-out over the same child never takes it over.
fn item_key(parent: &str, step: &str, item: &Json) -> String {
    let digest = crate::eval::load::sha256_hex(item.to_string().as_bytes());
    format!("{parent}.{step}-{}", &digest[..16])
}

fn failed(reason: String) -> Done {
    Done {
        outcome: Outcome::Failed,
        reason: Some(reason),
        results: json!({}),
        secret_fields: Vec::new(),
    }
}
