//! The approval gate at run time (`approve:` on a step). Once the step's needs
//! and evidence hold, the run asks for approval in the store — bound to this
//! run, the step, the runbook's hash and the step's resolved target — and looks
//! at the decisions: enough approvals by people other than the run's operator
//! open the gate, a rejection fails the step with its reason, a decision bound
//! to something else is void and said so. At a terminal the run waits with a
//! spinner, polling the store (Ctrl-C leaves the request open); without one
//! the step ends blocked, with the commands that go on.
//!
//! Nothing the operator holds opens this gate: not `--yes`, an answers file or
//! `--confirm` — they are never read here.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::approval::local::name_of;
use crate::approval::tally::{tally, unreachable};
use crate::approval::{
    ApprovalError, ApprovalStore, Binding, Evidence, NewRequest, Request, Verdict,
};
use crate::document::model::Step;
use crate::document::templates::Stage;
use crate::engine::gate::{self, Confirmation};
use crate::engine::in_doubt::quoted;
use crate::engine::journal::{ApprovalRecord, EventKind};
use crate::engine::outcome::Outcome;
use crate::engine::runner::{Awaiting, Engine};
use crate::engine::{EngineError, Stop};

/// How often a run waiting at a terminal looks for new decisions.
const POLL: Duration = Duration::from_millis(500);

impl Engine {
    /// `None` when the step may go on (no `approve:`, or approved); otherwise
    /// the outcome it ends with and why.
    pub(super) async fn check_approval(
        &mut self,
        step: &Step,
    ) -> Result<Option<(Outcome, String)>, Stop> {
        let Some(approve) = step.approve.clone() else {
            return Ok(None);
        };
        let sources: Vec<String> = step
            .templates()
            .iter()
            .filter(|t| matches!(t.stage, Stage::Action | Stage::Confirm | Stage::Gate))
            .map(|t| t.template.source.clone())
            .collect();
        let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
        self.resolve_for(&sources).await?;
        let target = match crate::eval::rendered::target(&self.values, step) {
            Ok(target) => self.values.redactor.redact(&target),
            Err(e) => {
                return Ok(Some((
                    Outcome::Failed,
                    self.render_failed(step, "approve", &e.0),
                )));
            }
        };
        let message = match &approve.message {
            Some(template) => match self.values.render(&template.source, None) {
                Ok(rendered) => Some(self.values.redactor.redact(&rendered.text)),
                Err(e) => {
                    return Ok(Some((
                        Outcome::Failed,
                        self.render_failed(step, "approve.message", &e.0),
                    )));
                }
            },
            None => None,
        };
        let name = self.approval_name(step);
        let binding = Binding {
            run_id: self.approval_run.clone(),
            step: name.clone(),
            runbook_sha256: self.file_hash.clone(),
            target,
        };
        let asked = NewRequest {
            binding: binding.clone(),
            runbook: self.runbook.id.value.clone(),
            title: step.title_or_id(),
            count: approve.count.value,
            from: approve.from.iter().map(|n| n.value.clone()).collect(),
            message,
            evidence: self.evidence_so_far(step),
        };
        let request = self.ask_for_approval(&step.id.value, asked).await?;
        // The name is journaled where it says more than the step's id.
        let approval = (name != step.id.value).then(|| name.clone());
        let mut operators = vec![request.requested_by.clone()];
        operators.extend(self.started_uid.map(name_of));
        if let Some(why) = unreachable(&request, &operators) {
            let reason = format!("cannot be approved: {why}");
            self.record(EventKind::GateBlocked {
                step: step.id.value.clone(),
                reason: reason.clone(),
            })?;
            return Ok(Some((Outcome::Blocked, reason)));
        }
        let mut said = BTreeSet::new();
        let mut voided = BTreeSet::new();
        let mut waiting: Option<crate::engine::interaction::SharedProgress> = None;
        loop {
            let (run, step_name) = (binding.run_id.clone(), name.clone());
            let decisions = self
                .approval_store(move |store| store.decisions(&run, &step_name))
                .await?;
            let tally = tally(&request, &operators, &binding, &decisions);
            for why in &tally.not_counted {
                if said.insert(why.clone()) {
                    self.say(&format!("  note: {why}"));
                }
            }
            for (decision, why) in &tally.void {
                let key = (decision.approver.clone(), decision.decided_at.clone());
                if voided.insert(key) {
                    self.record_approval(EventKind::ApprovalVoid {
                        step: step.id.value.clone(),
                        approval: approval.clone(),
                        approver: decision.approver.clone(),
                        decided_at: decision.decided_at.clone(),
                        verdict: match decision.verdict {
                            Verdict::Approved => "approved",
                            Verdict::Rejected { .. } => "rejected",
                        }
                        .to_owned(),
                        why: self.values.redactor.redact(why),
                        target: binding.target.clone(),
                        runbook_sha256: binding.runbook_sha256.clone(),
                    })?;
                }
            }
            if let Some((rejection, reason)) = tally.rejection {
                finish(
                    waiting.as_ref(),
                    &format!("    ✗ rejected by {}", rejection.approver),
                );
                self.record_approval(EventKind::ApprovalRejected {
                    step: step.id.value.clone(),
                    approval: approval.clone(),
                    approver: rejection.approver.clone(),
                    decided_at: rejection.decided_at.clone(),
                    reason: self.values.redactor.redact(&reason),
                    target: binding.target.clone(),
                    runbook_sha256: binding.runbook_sha256.clone(),
                })?;
                return Ok(Some((
                    Outcome::Failed,
                    format!(
                        "rejected by {} at {}: {reason}",
                        rejection.approver, rejection.decided_at
                    ),
                )));
            }
            if tally.approved() {
                let approvals: Vec<ApprovalRecord> = tally
                    .approvals
                    .iter()
                    .map(|d| ApprovalRecord {
                        approver: d.approver.clone(),
                        decided_at: d.decided_at.clone(),
                    })
                    .collect();
                let by: Vec<String> = approvals
                    .iter()
                    .map(|a| format!("{} at {}", a.approver, a.decided_at))
                    .collect();
                let line = format!(
                    "    ✓ approved by {} for `{}`",
                    by.join(", "),
                    binding.target
                );
                match &waiting {
                    Some(_) => finish(waiting.as_ref(), &line),
                    None => self.say(&line),
                }
                self.record_approval(EventKind::Approved {
                    step: step.id.value.clone(),
                    approval: approval.clone(),
                    approvals,
                    target: binding.target.clone(),
                    runbook_sha256: binding.runbook_sha256.clone(),
                })?;
                self.awaiting_approval.remove(&name);
                return Ok(None);
            }
            let what = format!("waiting for {}", tally.waiting_for(&request, &operators));
            if !self.interactive() {
                // Once approved, the step still needs its confirmation: the
                // command that carries on gives it up front.
                let confirm_name = self.confirm_name(step);
                let confirm = (step.confirm.is_some()
                    && matches!(
                        gate::confirmation(
                            step,
                            &confirm_name,
                            false,
                            self.options.yes,
                            &self.options.confirm
                        ),
                        Confirmation::Missing(_)
                    ))
                .then_some(confirm_name);
                self.awaiting_approval.insert(
                    name.clone(),
                    Awaiting {
                        what: what.clone(),
                        confirm,
                    },
                );
                self.record(EventKind::GateBlocked {
                    step: step.id.value.clone(),
                    reason: what.clone(),
                })?;
                return Ok(Some((Outcome::Blocked, what)));
            }
            match &waiting {
                Some(progress) => {
                    if let Ok(mut progress) = progress.lock() {
                        progress.message(&what);
                    }
                }
                None => {
                    self.say(&format!(
                        "    another user approves with `{}`",
                        self.approve_command(&name)
                    ));
                    waiting = Some(self.progress("approval:", None));
                    if let Some(Ok(mut progress)) = waiting.as_ref().map(|p| p.lock()) {
                        progress.message(&what);
                    }
                }
            }
            if let Err(stop) = self.interruptible(tokio::time::sleep(POLL)).await {
                finish(
                    waiting.as_ref(),
                    "    the request for approval stays open: `runbook resume` waits for it again",
                );
                return Err(stop);
            }
        }
    }

    /// The name an approval of `step` is bound to: its id through the steps
    /// (and items) that run this runbook (`kid["a"].revoke`).
    pub(super) fn approval_name(&self, step: &Step) -> String {
        format!("{}{}", self.approval_scope, step.id.value)
    }

    /// The command another user runs to approve step `name` of this run (a
    /// child runbook's step through the top-level runbook and run), quoted as
    /// a shell takes it.
    pub(super) fn approve_command(&self, name: &str) -> String {
        format!(
            "runbook approve {} {} --run {}",
            quoted(&self.approval_file.display().to_string()),
            quoted(name),
            self.approval_run
        )
    }

    /// Journals an approval event, and keeps it for a parent run to journal
    /// too (`Engine::forward_approvals`).
    fn record_approval(&mut self, kind: EventKind) -> Result<(), Stop> {
        self.record(kind.clone())?;
        if self.depth > 0 {
            self.approval_events.push(kind);
        }
        Ok(())
    }

    /// Journals the approval events of the child run(s) of `step`, as events
    /// of `step`, naming each approval: so the parent's `status`, `report` and
    /// `--events` show its children's approvals item by item.
    pub(super) fn forward_approvals(
        &mut self,
        step: &Step,
        events: Vec<EventKind>,
    ) -> Result<(), Stop> {
        for mut kind in events {
            match &mut kind {
                EventKind::ApprovalRequested { step: of, .. }
                | EventKind::Approved { step: of, .. }
                | EventKind::ApprovalRejected { step: of, .. }
                | EventKind::ApprovalVoid { step: of, .. } => step.id.value.clone_into(of),
                _ => continue,
            }
            self.record_approval(kind)?;
        }
        Ok(())
    }

    /// The passed steps this one depends on, with when they passed: what the
    /// approver is shown.
    fn evidence_so_far(&self, step: &Step) -> Vec<Evidence> {
        let mut evidence: Vec<Evidence> = self
            .transitive_needs(step)
            .into_iter()
            .filter_map(|id| {
                let record = self.records.get(&id)?;
                (record.outcome == Outcome::Passed).then(|| Evidence {
                    passed_at: humantime::format_rfc3339_millis(record.finished_at).to_string(),
                    step: id,
                })
            })
            .collect();
        evidence.sort_by(|a, b| a.passed_at.cmp(&b.passed_at));
        evidence
    }

    /// The request for this approval: the one already in the store when it asks
    /// for the same thing (a resume), else a new one, journaled.
    async fn ask_for_approval(&mut self, id: &str, asked: NewRequest) -> Result<Request, Stop> {
        let (run, step) = (asked.binding.run_id.clone(), asked.binding.step.clone());
        let asked_name = step.clone();
        let existing = self
            .approval_store(move |store| store.find_request(Some(&run), &step))
            .await?;
        if let Some(existing) = existing
            && existing.asked.binding == asked.binding
            && existing.asked.count == asked.count
            && existing.asked.from == asked.from
        {
            return Ok(existing);
        }
        let request = self
            .approval_store(move |store| store.request(asked))
            .await?;
        let approval = (asked_name != id).then(|| asked_name.clone());
        self.record_approval(EventKind::ApprovalRequested {
            step: id.to_owned(),
            approval,
            target: request.asked.binding.target.clone(),
            runbook_sha256: request.asked.binding.runbook_sha256.clone(),
            count: request.asked.count,
            from: request.asked.from.clone(),
            message: request.asked.message.clone(),
            requested_by: request.requested_by.clone(),
        })?;
        self.say(&format!(
            "    approval asked of {} ({} needed) for `{}`",
            request.asked.from.join(", "),
            request.asked.count,
            request.asked.binding.target
        ));
        Ok(request)
    }

    /// Calls the approval store on a blocking thread (it may block on files or
    /// a database connection).
    async fn approval_store<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn ApprovalStore) -> Result<T, ApprovalError> + Send + 'static,
    ) -> Result<T, Stop> {
        let store = Arc::clone(&self.approvals);
        match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Stop::Fatal(EngineError::Approval(error))),
            Err(join) => Err(Stop::Fatal(EngineError::Runtime(std::io::Error::other(
                join.to_string(),
            )))),
        }
    }
}

/// Ends a spinner, if one runs, with `summary` in its place.
fn finish(progress: Option<&crate::engine::interaction::SharedProgress>, summary: &str) {
    if let Some(progress) = progress
        && let Ok(mut progress) = progress.lock()
    {
        progress.finish(summary);
    }
}
