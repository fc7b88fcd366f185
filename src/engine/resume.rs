//! `runbook resume FILE`: continues the latest unfinished run. The journal is
//! replayed — outcomes, when steps passed, non-secret results and inputs — so
//! no passed step runs again; secrets are known to the journal only by
//! fingerprint and come back from the values kept at rest (`engine::kept`),
//! checked against it, or are asked for again; a changed runbook file is refused.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use serde_json::json;

use crate::document::model::Runbook;
use crate::engine::gate::StepRecord;
use crate::engine::in_doubt::steps_in_doubt;
use crate::engine::interaction::reads;
use crate::engine::journal::{Event, EventKind, Journal};
use crate::engine::kept::Kept;
use crate::engine::lock::{Holder, Lock};
use crate::engine::outcome::Outcome;
use crate::engine::runner::{
    Engine, Opened, RunOptions, SharedOperator, Started, working_directory,
};
use crate::engine::state_dir::StateDir;
use crate::engine::team::Team;
use crate::engine::{EngineError, open_events};
use crate::eval::answers::Answers;
use crate::eval::load::{child_hashes, file_hash};
use crate::eval::values::Values;
use crate::secret::fingerprint;

impl Engine {
    pub(super) fn resume(
        file: &Path,
        runbook: Runbook,
        options: RunOptions,
        answers: Answers,
        operator: SharedOperator,
        client: reqwest::Client,
    ) -> Result<Engine, EngineError> {
        let state = StateDir::for_runbook(file, &runbook.id.value)?;
        state.ensure()?;
        let Some(path) = state.latest_unfinished()? else {
            if let Some(url) = &options.state {
                // This machine's last run ended, and the database may not know.
                if let Some((run_id, uploaded)) = Team::level_ended(url, &runbook.id.value, &state)?
                {
                    return Err(EngineError::EndedRunUploaded { run_id, uploaded });
                }
                crate::engine::team::resumed_elsewhere(url, &runbook.id.value)?;
            }
            return Err(EngineError::NothingToResume(runbook.id.value.clone()));
        };
        let run_id = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let lock = Lock::acquire_runbook(
            file,
            &state.lock_path(),
            &Holder::this_process(&run_id, std::env::args().collect::<Vec<_>>().join(" ")),
        )?;
        let started = Started {
            file,
            runbook,
            options,
            answers,
            operator,
            client,
        };
        Engine::reopen(started, state, &path, lock, 0)
    }

    /// Continues the run whose journal is `path`, under `lock`: the part of
    /// `resume` a child run shares (its parent reached it again in the same run).
    pub(super) fn reopen(
        started: Started<'_>,
        state: StateDir,
        path: &Path,
        lock: Lock,
        depth: usize,
    ) -> Result<Engine, EngineError> {
        let Started {
            file,
            runbook,
            options,
            answers,
            operator,
            client,
        } = started;
        let run_id = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        crate::engine::leftovers::clean(&state, &state.readable_runs()?);
        let (journal, replay) = Journal::open(path)?;
        let first = replay
            .events
            .first()
            .ok_or_else(|| EngineError::NothingToResume(runbook.id.value.clone()))?;
        let EventKind::RunStarted {
            file_hash: hash,
            child_file_hashes,
            operator: started_by,
            cwd: started_in,
            uid: started_uid,
            ..
        } = &first.kind
        else {
            return Err(EngineError::NothingToResume(runbook.id.value.clone()));
        };
        if let Some(started_in) = started_in
            && working_directory().as_ref() != Some(started_in)
        {
            return Err(EngineError::OtherDirectory {
                started_in: started_in.into(),
            });
        }
        let at_started = first.at.clone();
        if file_hash(file)? != *hash {
            return Err(EngineError::Changed {
                path: file.to_path_buf(),
            });
        }
        for (child, expected) in child_file_hashes {
            if child_hashes(file, &runbook).get(child) != Some(expected) {
                return Err(EngineError::Changed { path: child.into() });
            }
        }
        crate::engine::fixed_inputs::check_resume(&runbook, &answers, &replay.events)?;
        // The team's database is brought level with the journal before the
        // run goes on: the events it could not take when it was lost. (A
        // child run is journaled here only, as when it started.)
        let (team, uploaded) = match &options.state {
            Some(url) if depth == 0 => {
                let (team, uploaded) =
                    Team::resume(url, &runbook.id.value, journal.path(), &replay.events)?;
                (Some(team), uploaded)
            }
            _ => (None, 0),
        };
        let events = match &options.events {
            Some(target) if depth == 0 => Some(open_events(target)?),
            _ => None,
        };
        let mut values =
            Values::new(json!({"id": run_id, "started_at": at_started, "operator": started_by}));
        values.declare_steps(&runbook);
        let events_so_far = replay.events.clone();
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
            file_hash: hash.clone(),
            started_uid: *started_uid,
        });
        if uploaded > 0 {
            engine.say(&format!(
                "note: the team state database lacked {uploaded} event(s) of this run; they are written there now"
            ));
        }
        if let Some(torn) = replay.torn {
            engine.say(&format!(
                "note: the journal's last line ({} bytes, line {}) was cut short, probably by a crash; it was dropped",
                torn.bytes, torn.line_number
            ));
        }
        engine.replay(&events_so_far);
        engine.in_doubt = steps_in_doubt(&events_so_far);
        // A child runbook's step is checked when the child runs (`check_flags`
        // made sure it names one). A child run continued by its parent is not
        // checked: `--rerun act` is for the item whose `act` is in doubt, and the
        // other items' runs have theirs done.
        let own = |id: &str| engine.runbook.all_steps().any(|s| s.id.value == id);
        if let Some(id) = engine
            .options
            .rerun
            .iter()
            .filter(|_| depth == 0)
            .find(|id| own(id) && !engine.in_doubt.contains_key(*id))
        {
            return Err(EngineError::NotInDoubt { id: id.clone() });
        }
        for (step, at) in &engine.in_doubt {
            engine.say(&format!(
                "note: `{step}` started at {at} and its result was never recorded: it is in doubt"
            ));
        }
        engine.restore_kept();
        engine.record(EventKind::Resumed {
            pid: std::process::id(),
        })?;
        Ok(engine)
    }

    /// Gives back the secrets this run kept at rest, each checked against the
    /// fingerprint the journal recorded; what is not kept (or does not match)
    /// stays pending and is asked for again. A resume that opts out of keeping
    /// secrets removes what an earlier process kept.
    fn restore_kept(&mut self) {
        let path = self.state.kept_path(&self.run_id);
        if !self.kept.enabled() {
            if path.exists() && Kept::remove(&path).is_ok() {
                self.say("note: the secrets kept for this run were removed (--no-keep-secrets); they are asked for again");
            }
            return;
        }
        let kept = match self.kept.load(&path) {
            Ok(kept) => kept,
            Err(problem) => {
                self.say(&format!(
                    "note: {problem}; the secrets it held are asked for again"
                ));
                return;
            }
        };
        for (key, value) in kept {
            if let Some(name) = key.strip_prefix("inputs.") {
                match self.pending_inputs.get(name) {
                    Some(expected) if *expected == fingerprint(&value) => {
                        self.pending_inputs.remove(name);
                        self.values.set_input(name, value, true);
                    }
                    Some(_) => self.mismatch(&key),
                    None => {}
                }
            } else {
                match self.pending_secrets.get(&key) {
                    Some(expected) if *expected == fingerprint(&value) => {
                        self.restore_secret(&key, value);
                    }
                    Some(_) => self.mismatch(&key),
                    None => {}
                }
            }
        }
    }

    /// Of the answers a new run would miss (`missing`: inputs and prompts with
    /// neither an answer nor a default), those this run still needs — an input
    /// its journal has no value for, a prompt not yet answered — and the secrets
    /// it knows only by fingerprint (neither kept nor answered) that a step still
    /// to run reads: under the input's name or the step id, as they are given.
    pub(super) fn still_missing(&self, missing: Vec<String>) -> Vec<String> {
        let passed = |id: &str| {
            self.records
                .get(id)
                .is_some_and(|r| r.outcome == Outcome::Passed)
        };
        let mut names: BTreeSet<String> = missing
            .into_iter()
            // A secret input the journal knows by fingerprint is missing only
            // if a step still to run reads it (below).
            .filter(|name| {
                !self.values.has_input(name)
                    && !self.pending_inputs.contains_key(name)
                    && !passed(name)
            })
            .collect();
        let env = crate::template::environment();
        let ahead: Vec<String> = self
            .runbook
            .all_steps()
            .filter(|step| !passed(&step.id.value))
            .flat_map(crate::document::model::Step::templates)
            .flat_map(|t| crate::template::references(&env, &t.template.source).unwrap_or_default())
            .collect();
        let read = |path: &str| reads(&ahead, path);
        for name in self.pending_inputs.keys() {
            if self.answers.get(name).is_none() && read(&format!("inputs.{name}")) {
                names.insert(name.clone());
            }
        }
        for path in self.pending_secrets.keys() {
            let step = path.split('.').nth(1).unwrap_or_default();
            if self.answers.get(step).is_none() && read(path) {
                names.insert(step.to_owned());
            }
        }
        names.into_iter().collect()
    }

    fn mismatch(&self, key: &str) {
        self.say(&format!(
            "note: the kept value of `{key}` is not the one the journal recorded (its fingerprint differs); it is asked for again"
        ));
    }

    fn replay(&mut self, events: &[Event]) {
        for event in events {
            match &event.kind {
                // Answers the run was given up front are its values still, even
                // those no step has used yet (`fixed_inputs`).
                EventKind::RunStarted { inputs, .. } => {
                    for (name, record) in inputs {
                        if self.runbook.input(name).is_none() {
                            continue;
                        }
                        match (&record.value, record.secret) {
                            (Some(value), false) => {
                                self.values.set_input(name, value.clone(), false);
                            }
                            _ => {
                                self.pending_inputs
                                    .insert(name.clone(), record.fingerprint.clone());
                            }
                        }
                    }
                }
                EventKind::InputProvided {
                    name,
                    fingerprint,
                    secret,
                    value,
                    ..
                } => match (secret, value) {
                    (false, Some(value)) => self.values.set_input(name, value.clone(), false),
                    _ => {
                        self.pending_inputs
                            .insert(name.clone(), fingerprint.clone());
                    }
                },
                EventKind::StepFinished {
                    step,
                    outcome,
                    reason,
                    results,
                    secret_fingerprints,
                    duration_ms,
                } => {
                    let finished_at =
                        humantime::parse_rfc3339(&event.at).unwrap_or_else(|_| SystemTime::now());
                    self.records.insert(
                        step.clone(),
                        StepRecord {
                            outcome: *outcome,
                            finished_at,
                            duration_ms: *duration_ms,
                            reason: reason.clone(),
                        },
                    );
                    self.values.set_step(step, results.clone(), &[]);
                    for (field, fingerprint) in secret_fingerprints {
                        self.pending_secrets
                            .insert(format!("steps.{step}.{field}"), fingerprint.clone());
                    }
                }
                _ => {}
            }
        }
    }
}
