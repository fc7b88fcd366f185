//! Steps in doubt (SPEC §7): the journal shows a step started but holds no
//! result — the run was killed, the machine lost power, or the result could not
//! be written. Whatever it did may or may not have happened. A step that is not
//! irreversible runs again; an irreversible one never does without the
//! operator's decision: at a terminal, run it again, say it happened (the probe
//! that follows checks), or abort; without one, `resume --rerun ID`.
//!
//! A child runbook runs afresh each time its parent reaches it, so the steps an
//! earlier run of the child left in doubt are carried into the new one.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::json;

use crate::document::model::{Action, Effect, Step};
use crate::engine::gate::StepRecord;
use crate::engine::journal::{Event, EventKind, InDoubtDecision};
use crate::engine::outcome::Outcome;
use crate::engine::runner::Engine;
use crate::engine::{EngineError, Stop};
use crate::operator::Question;

/// The choices at the terminal, in the order shown.
const RERUN: &str = "run it again";
const HAPPENED: &str = "it happened (the probe that follows checks it)";
const ABORT: &str = "abort (decide later)";

/// The steps these events leave in doubt (started, or carried in doubt, with no
/// result after): step id → when it started.
pub fn steps_in_doubt(events: &[Event]) -> BTreeMap<String, String> {
    let mut in_doubt = BTreeMap::new();
    for event in events {
        match &event.kind {
            EventKind::StepStarted { step, .. } => {
                in_doubt.insert(step.clone(), event.at.clone());
            }
            EventKind::InDoubtCarried {
                step, started_at, ..
            } => {
                in_doubt.insert(step.clone(), started_at.clone());
            }
            EventKind::StepFinished { step, .. } => {
                in_doubt.remove(step);
            }
            _ => {}
        }
    }
    in_doubt
}

impl Engine {
    /// Carries into this (child) run the steps the runs it supersedes left in
    /// doubt.
    pub(super) fn carry_in_doubt(
        &mut self,
        superseded: &[std::path::PathBuf],
    ) -> Result<(), EngineError> {
        for path in superseded {
            let run = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let events = crate::engine::journal::read(path)?.events;
            for (step, started_at) in steps_in_doubt(&events) {
                self.record(EventKind::InDoubtCarried {
                    step: step.clone(),
                    started_at: started_at.clone(),
                    run: run.clone(),
                })?;
                self.in_doubt.insert(step, started_at);
            }
        }
        Ok(())
    }

    /// Settles a step found in doubt on resume. `None`: run the step (again)
    /// through its gates; `Some`: it is settled without running.
    pub(super) async fn settle_in_doubt(
        &mut self,
        step: &Step,
        started_at: &str,
        started: Instant,
    ) -> Result<Option<Outcome>, Stop> {
        let id = step.id.value.clone();
        if matches!(step.action, Action::Runbook(_)) {
            // The child's own journal knows which of its steps are done: its run
            // (each item's, in a fan-out) is continued, not started over.
            self.say(&format!(
                "  ↻ `{id}` started at {started_at} and did not finish: its child runs are continued where they stopped"
            ));
            return Ok(None);
        }
        if step.effect() != Some(Effect::Irreversible) {
            self.say(&format!(
                "  ↻ `{id}` started at {started_at} and its result was never recorded; it is not irreversible, so it runs again"
            ));
            return Ok(None);
        }
        self.say(&format!(
            "  ? `{id}` is irreversible, started at {started_at}, and its result was never recorded: it may have happened"
        ));
        let (decision, interactive) = if self.options.rerun.contains(&id) {
            (InDoubtDecision::Rerun, false)
        } else if self.interactive() {
            let question = Question {
                name: id.clone(),
                prompt: format!("`{id}` is in doubt. What now?"),
                secret: false,
                pattern: None,
                choices: [RERUN, HAPPENED, ABORT].map(str::to_owned).to_vec(),
                default: None,
            };
            let answer = self.ask_operator(move |op| op.ask(&question)).await?;
            let decision = match answer.as_str() {
                RERUN => InDoubtDecision::Rerun,
                HAPPENED => InDoubtDecision::Happened,
                _ => InDoubtDecision::Abort,
            };
            (decision, true)
        } else {
            let reason = format!(
                "in doubt: check whether it happened; to run it again: `{}`",
                self.rerun_hint(step)
            );
            return self.block_in_doubt(step, started, &reason).map(Some);
        };
        self.record(EventKind::InDoubt {
            step: id.clone(),
            decision,
            interactive,
        })?;
        match decision {
            InDoubtDecision::Rerun => {
                self.say(&format!("  ↻ running `{id}` again, as decided"));
                Ok(None)
            }
            InDoubtDecision::Happened => {
                match self.probe_after(step) {
                    Some(probe) => self.say(&format!("  `{probe}`, which follows, checks it")),
                    None => self.say("  no probe after it checks it: make sure it did happen"),
                }
                self.finish_step(
                    step,
                    started,
                    Outcome::Passed,
                    Some("in doubt: the operator says it happened".to_owned()),
                    json!({}),
                    &[],
                )
                .map(Some)
            }
            InDoubtDecision::Abort => {
                let reason = format!(
                    "in doubt, left for later: to run it again, `{}`",
                    self.rerun_hint(step)
                );
                self.block_in_doubt(step, started, &reason).map(Some)
            }
        }
    }

    /// Blocks the step with no result recorded, so that it stays in doubt for
    /// the next resume.
    fn block_in_doubt(
        &mut self,
        step: &Step,
        started: Instant,
        reason: &str,
    ) -> Result<Outcome, Stop> {
        self.record(EventKind::GateBlocked {
            step: step.id.value.clone(),
            reason: reason.to_owned(),
        })?;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.records.insert(
            step.id.value.clone(),
            StepRecord {
                outcome: Outcome::Blocked,
                finished_at: Engine::now(),
                duration_ms,
                reason: Some(reason.to_owned()),
            },
        );
        self.say(&format!(
            "  {} {}: {reason}",
            Outcome::Blocked.symbol(),
            Outcome::Blocked.as_str()
        ));
        Ok(Outcome::Blocked)
    }

    /// This command line with `--rerun ID` (and `--confirm NAME`, which its
    /// gate asks for without a terminal) added.
    fn rerun_hint(&self, step: &Step) -> String {
        let id = &step.id.value;
        let mut words: Vec<String> = std::env::args().skip(1).map(|a| quoted(&a)).collect();
        words.insert(0, "runbook".to_owned());
        words.extend(["--rerun".to_owned(), id.clone()]);
        // A child's step is confirmed through its parent step (`kid.revoke`).
        let name = self.confirm_name(step);
        if step.confirm.is_some() && !self.options.confirm.contains(&name) {
            words.extend(["--confirm".to_owned(), name]);
        }
        words.join(" ")
    }

    /// The first probe after `step` in the runbook that depends on it.
    fn probe_after(&self, step: &Step) -> Option<String> {
        self.runbook
            .all_steps()
            .skip_while(|s| s.id.value != step.id.value)
            .skip(1)
            .find(|s| {
                s.effect() == Some(Effect::Probe)
                    && self.transitive_needs(s).contains(&step.id.value)
            })
            .map(|s| s.id.value.clone())
    }
}

/// A word as a POSIX shell reads it back unchanged.
pub(super) fn quoted(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn words_are_quoted_only_when_a_shell_would_change_them() {
        assert_eq!(quoted("runbooks/x.yaml"), "runbooks/x.yaml");
        assert_eq!(quoted("--set=zone=a.com"), "--set=zone=a.com");
        assert_eq!(quoted("two words"), "'two words'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        assert_eq!(quoted(""), "''");
    }
}
