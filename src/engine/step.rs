//! One step through its gates: `when`, `needs` (re-running stale evidence),
//! the run-time evidence check, `confirm` — then the action, and the record of
//! what happened in the journal and on the screen.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value as Json, json};

use crate::document::model::{Action, Effect, Step};
use crate::engine::gate::{self, Confirmation, NeedState, StepRecord};
use crate::engine::journal::{ConfirmedHow, EventKind};
use crate::engine::outcome::Outcome;
use crate::engine::perform::Done;
use crate::engine::runner::Engine;
use crate::engine::{EngineError, Stop};
use crate::secret::fingerprint;

impl Engine {
    /// Runs one step through its gates and records the outcome.
    pub(super) fn run_step<'a>(
        &'a mut self,
        step: &'a Step,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Outcome, Stop>> + 'a>> {
        Box::pin(async move {
            let started = Instant::now();
            if let Some(started_at) = self.in_doubt.remove(&step.id.value)
                && let Some(settled) = self.settle_in_doubt(step, &started_at, started).await?
            {
                return Ok(settled);
            }
            if let Some(when) = &step.when {
                self.resolve_for(&[when.source.as_str()]).await?;
                let holds = self
                    .values
                    .condition(&when.source)
                    .map_err(|e| self.render_failed(step, "when", &e.0));
                match holds {
                    Ok(false) => {
                        return self.finish_step(
                            step,
                            started,
                            Outcome::Skipped,
                            Some("`when` is false".to_owned()),
                            json!({}),
                            &[],
                        );
                    }
                    Ok(true) => {}
                    Err(reason) => {
                        return self.finish_step(
                            step,
                            started,
                            Outcome::Failed,
                            Some(reason),
                            json!({}),
                            &[],
                        );
                    }
                }
            }
            if let Some(reason) = self.check_needs(step).await? {
                self.record(EventKind::GateBlocked {
                    step: step.id.value.clone(),
                    reason: reason.clone(),
                })?;
                return self.finish_step(
                    step,
                    started,
                    Outcome::Blocked,
                    Some(reason),
                    json!({}),
                    &[],
                );
            }
            if step.effect() == Some(Effect::Irreversible)
                && let Err(reason) = self.evidence_holds(step)
            {
                self.record(EventKind::GateBlocked {
                    step: step.id.value.clone(),
                    reason: reason.clone(),
                })?;
                return self.finish_step(
                    step,
                    started,
                    Outcome::Blocked,
                    Some(reason),
                    json!({}),
                    &[],
                );
            }
            if let Some((outcome, reason)) = self.check_approval(step).await? {
                return self.finish_step(step, started, outcome, Some(reason), json!({}), &[]);
            }
            if step.confirm.is_some()
                && let Some(reason) = self.check_confirm(step).await?
            {
                return self.finish_step(
                    step,
                    started,
                    Outcome::Blocked,
                    Some(reason),
                    json!({}),
                    &[],
                );
            }
            self.record(EventKind::StepStarted {
                step: step.id.value.clone(),
                attempt: 1,
                title: step.title_or_id(),
            })?;
            let done = self.perform(step).await?;
            let Done {
                outcome,
                reason,
                mut results,
                secret_fields,
            } = done;
            if outcome == Outcome::Passed && !step.outputs.is_empty() {
                // Outputs read the step's own results, so they are rendered after it.
                self.values
                    .set_step(&step.id.value, results.clone(), &secret_fields);
                let mut outputs = serde_json::Map::new();
                for (name, template) in &step.outputs {
                    match self.values.render(&template.source, None) {
                        Ok(rendered) => {
                            outputs.insert(name.value.clone(), Json::String(rendered.text));
                        }
                        Err(e) => {
                            let reason =
                                self.render_failed(step, &format!("outputs.{}", name.value), &e.0);
                            return self.finish_step(
                                step,
                                started,
                                Outcome::Failed,
                                Some(reason),
                                results,
                                &secret_fields,
                            );
                        }
                    }
                }
                // A child runbook's own outputs are there already; the step's join them.
                match results.get_mut("outputs") {
                    Some(Json::Object(theirs)) => theirs.extend(outputs),
                    _ => results["outputs"] = Json::Object(outputs),
                }
            }
            self.finish_step(step, started, outcome, reason, results, &secret_fields)
        })
    }

    /// Records the outcome: values for later templates, the journal (secrets as
    /// fingerprints), the screen.
    pub(super) fn finish_step(
        &mut self,
        step: &Step,
        started: Instant,
        outcome: Outcome,
        reason: Option<String>,
        mut results: Json,
        secret_fields: &[String],
    ) -> Result<Outcome, Stop> {
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if let Json::Object(map) = &mut results {
            map.insert("outcome".into(), json!(outcome.as_str()));
            map.insert("reason".into(), json!(reason));
        }
        self.values
            .set_step(&step.id.value, results.clone(), secret_fields);
        let mut secret_fingerprints = BTreeMap::new();
        for field in secret_fields {
            if let Some(Json::String(value)) = crate::eval::values::field(&results, field) {
                secret_fingerprints.insert(field.clone(), fingerprint(value));
                // Kept before the journal says the step passed: a crash between
                // the two re-runs the step rather than losing its value.
                self.keep_secret(&format!("steps.{}.{field}", step.id.value), value)?;
            }
        }
        for (field, fingerprint) in std::mem::take(&mut self.replayed_secrets) {
            self.pending_secrets.insert(
                format!("steps.{}.{field}", step.id.value),
                fingerprint.clone(),
            );
            secret_fingerprints.insert(field, fingerprint);
        }
        let redacted = redact_json(&self.values.redactor, &results);
        let reason = reason.map(|r| self.values.redactor.redact(&r));
        self.record(EventKind::StepFinished {
            step: step.id.value.clone(),
            outcome,
            reason: reason.clone(),
            results: redacted,
            secret_fingerprints,
            duration_ms,
        })?;
        self.records.insert(
            step.id.value.clone(),
            StepRecord {
                outcome,
                finished_at: Engine::now(),
                duration_ms,
                reason: reason.clone(),
            },
        );
        if self.quiet {
            return Ok(outcome);
        }
        for line in details(step, &results) {
            self.say(&format!("    {line}"));
        }
        let took = gate::short(std::time::Duration::from_millis(duration_ms));
        let line = match &reason {
            Some(reason) => format!(
                "  {} {} ({took}): {reason}",
                outcome.symbol(),
                outcome.as_str()
            ),
            None => format!("  {} {} ({took})", outcome.symbol(), outcome.as_str()),
        };
        self.say(&line);
        Ok(outcome)
    }

    /// `None` when every need holds; otherwise why the step is blocked. Passed
    /// evidence older than its `within` is gathered again when the needed step
    /// only reads (a probe); anything else that went stale blocks.
    async fn check_needs(&mut self, step: &Step) -> Result<Option<String>, Stop> {
        for need in &step.needs {
            let id = &need.step.value;
            let mut state = gate::need_state(need, self.records.get(id), Engine::now());
            if let NeedState::Stale { .. } | NeedState::Ahead { .. } = state {
                let evidence = self
                    .runbook
                    .all_steps()
                    .find(|s| s.id.value == *id)
                    .filter(|s| matches!(s.effect(), Some(Effect::Probe | Effect::None)))
                    .cloned();
                if let Some(evidence) = evidence {
                    let why = if let NeedState::Ahead { .. } = state {
                        "is dated in the future"
                    } else {
                        "is older than `within`"
                    };
                    self.say(&format!("  ↻ `{id}` {why}: checking it again"));
                    if self.run_step(&evidence).await? == Outcome::Failed {
                        self.failed_evidence = Some(id.clone());
                    }
                    state = gate::need_state(need, self.records.get(id), Engine::now());
                }
            }
            if state != NeedState::Satisfied {
                return Ok(Some(gate::unmet_reason(need, &state)));
            }
        }
        Ok(None)
    }

    /// The evidence rule at run time, on what actually happened: every change
    /// this irreversible step depends on must be followed by a passed probe it
    /// also depends on. The validator checks the shape; this checks the run.
    fn evidence_holds(&self, step: &Step) -> Result<(), String> {
        let needed = self.transitive_needs(step);
        let passed_at = |id: &str| {
            self.records
                .get(id)
                .filter(|r| r.outcome == Outcome::Passed)
                .map(|r| r.finished_at)
        };
        let effect_of = |id: &str| {
            self.runbook
                .all_steps()
                .find(|s| s.id.value == id)
                .and_then(Step::effect)
        };
        let probes: Vec<_> = needed
            .iter()
            .filter(|id| effect_of(id) == Some(Effect::Probe))
            .filter_map(|id| passed_at(id))
            .collect();
        if probes.is_empty() {
            return Err("no probe this step depends on has passed in this run".to_owned());
        }
        for id in &needed {
            if matches!(effect_of(id), Some(Effect::Change | Effect::Irreversible))
                && let Some(changed) = passed_at(id)
                && !probes.iter().any(|p| *p >= changed)
            {
                return Err(format!(
                    "no probe has passed since `{id}` changed something"
                ));
            }
        }
        Ok(())
    }

    pub(super) fn transitive_needs(&self, step: &Step) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        let mut stack: Vec<String> = step.needs.iter().map(|n| n.step.value.clone()).collect();
        while let Some(id) = stack.pop() {
            if seen.contains(&id) {
                continue;
            }
            if let Some(s) = self.runbook.all_steps().find(|s| s.id.value == id) {
                stack.extend(s.needs.iter().map(|n| n.step.value.clone()));
            }
            seen.push(id);
        }
        seen
    }

    /// `None` when the step is confirmed; otherwise why not.
    async fn check_confirm(&mut self, step: &Step) -> Result<Option<String>, Stop> {
        let id = step.id.value.clone();
        let name = self.confirm_name(step);
        let decision = gate::confirmation(
            step,
            &name,
            self.interactive(),
            self.options.yes,
            &self.options.confirm,
        );
        match decision {
            Confirmation::Given(flag) => {
                let how = if flag == "--yes" {
                    ConfirmedHow::Yes
                } else {
                    ConfirmedHow::ConfirmFlag
                };
                self.record(EventKind::Confirmed { step: id, how })?;
                Ok(None)
            }
            Confirmation::Missing(reason) => {
                if !self.options.confirm.contains(&id) {
                    self.unconfirmed.insert(id.clone());
                }
                self.record(EventKind::GateBlocked {
                    step: id,
                    reason: reason.clone(),
                })?;
                Ok(Some(reason))
            }
            Confirmation::Ask => {
                let Some(confirm) = step.confirm.clone() else {
                    return Ok(None);
                };
                let mut templates = Vec::new();
                templates.extend(confirm.message.iter().map(|t| t.source.as_str()));
                templates.extend(confirm.phrase.iter().map(|t| t.source.as_str()));
                self.resolve_for(&templates).await?;
                let message = match &confirm.message {
                    Some(t) => self.values.render(&t.source, None).map(|r| r.text),
                    None => Ok(format!(
                        "Run `{}` ({})?",
                        step.title_or_id(),
                        step.effect().map_or("child runbook", Effect::as_str)
                    )),
                };
                let phrase = confirm
                    .phrase
                    .as_ref()
                    .map(|t| self.values.render(&t.source, None).map(|r| r.text))
                    .transpose();
                let (message, phrase) = match (message, phrase) {
                    (Ok(m), Ok(p)) => (m, p),
                    (Err(e), _) | (_, Err(e)) => {
                        return Ok(Some(self.render_failed(step, "confirm", &e.0)));
                    }
                };
                let message = self.values.redactor.redact(&message);
                // A manual step's instructions come first: the operator should know
                // what they are confirming before they type the phrase.
                if let Action::Manual(text) = &step.action {
                    self.resolve_for(&[text.source.as_str()]).await?;
                    if let Ok(rendered) = self.values.render(&text.source, None) {
                        for line in rendered.text.lines() {
                            self.say(&format!("    {line}"));
                        }
                        self.instructions_shown = Some(id.clone());
                    }
                }
                let yes = self
                    .ask_operator(move |op| op.confirm(&message, phrase.as_deref()))
                    .await?;
                if yes {
                    self.record(EventKind::Confirmed {
                        step: id,
                        how: ConfirmedHow::Interactive,
                    })?;
                    Ok(None)
                } else {
                    let reason = "not confirmed: the operator declined".to_owned();
                    self.record(EventKind::GateBlocked {
                        step: id,
                        reason: reason.clone(),
                    })?;
                    Ok(Some(reason))
                }
            }
        }
    }

    /// A template that failed at run time, as a failure reason.
    pub(super) fn render_failed(&self, step: &Step, field: &str, error: &str) -> String {
        self.values.redactor.redact(&format!(
            "the `{field}` template of `{}` failed: {error}",
            step.id.value
        ))
    }
}

/// What the operator should see of a step's results: the evidence in brief.
/// Secrets in it are masked by `say` like everything else.
fn details(step: &Step, results: &Json) -> Vec<String> {
    let text = |field: &str| results.get(field).and_then(Json::as_str);
    let mut out = Vec::new();
    match &step.action {
        Action::Http(_) if step.for_each.is_none() => {
            if let (Some(status), Some(ms)) = (results.get("status"), results.get("elapsed_ms")) {
                out.push(format!("HTTP {status} in {ms}ms"));
            }
            out.extend(results.get("tls").and_then(crate::action::tls::summary));
        }
        // An HTTP fan-out's progress display already ends with this count.
        Action::Http(_) if step.for_each.is_some() => {}
        Action::Command(_) | Action::Runbook(_) if step.for_each.is_some() => {
            if let Some(items) = results.get("results").and_then(Json::as_array) {
                let passed = items
                    .iter()
                    .filter(|i| i.get("outcome").and_then(Json::as_str) == Some("passed"))
                    .count();
                out.push(format!("{passed} of {} items passed", items.len()));
            }
        }
        // A secret command's output is the secret itself: shown masked, whole.
        Action::Command(_) if step.secret.as_ref().is_some_and(|s| s.value) => {
            if let Some(stdout) = text("stdout") {
                out.push(format!("stdout: {}", crate::template::mask(stdout.trim())));
            }
        }
        Action::Command(_) => {
            if let Some(stdout) = text("stdout") {
                let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
                let start = lines.len().saturating_sub(3);
                out.extend(lines[start..].iter().map(|l| format!("| {l}")));
            }
        }
        Action::Prompt(_) | Action::ReadSetting(_) => {
            if let Some(value) = text("value") {
                out.push(format!("value: {value}"));
            }
        }
        Action::SetSetting(setting) => {
            if let Some(file) = text("file") {
                out.push(format!("wrote {} in {file}", setting.keys_text()));
            }
        }
        Action::WriteFile(_) => {
            if let Some(file) = text("file") {
                out.push(format!("wrote {file}"));
            }
        }
        _ => {}
    }
    out
}

/// Results as the journal keeps them: every known secret masked.
pub fn redact_json(redactor: &crate::secret::Redactor, value: &Json) -> Json {
    match value {
        Json::String(s) => Json::String(redactor.redact(s)),
        Json::Array(items) => Json::Array(items.iter().map(|v| redact_json(redactor, v)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), redact_json(redactor, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

impl From<EngineError> for Stop {
    fn from(error: EngineError) -> Self {
        Stop::Fatal(error)
    }
}
