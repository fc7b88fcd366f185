//! What a run knows of its inputs before any step runs. The values it is fixed
//! to, so that `resume` cannot mix two targets in one run: every answer given
//! when it started (recorded in `run_started`, a secret by fingerprint), every
//! value a step used (`input_provided`) and every literal default — a resume
//! given another value for one of them is refused, naming each; an answer the
//! run never had (it would have been asked for) is taken. And the secrets among
//! them, masked from the run's first byte.

use std::collections::BTreeMap;

use crate::document::model::{Action, Runbook};
use crate::engine::EngineError;
use crate::engine::journal::{Event, EventKind, InputRecord};
use crate::eval::answers::Answers;
use crate::eval::values::Values;
use crate::secret::fingerprint;

/// Every name an answer can give: the inputs, and the prompt steps by id, with
/// whether its value is secret (declared so, or given by a parent's `with:`
/// from a secret).
fn answerable(runbook: &Runbook, answers: &Answers) -> Vec<(String, bool)> {
    let inputs = runbook.inputs.iter().map(|input| {
        let secret = input.secret.as_ref().is_some_and(|s| s.value)
            || answers.given_secret(&input.name.value);
        (input.name.value.clone(), secret)
    });
    let prompts = runbook.all_steps().filter_map(|step| match &step.action {
        Action::Prompt(prompt) => {
            let secret = prompt.secret.as_ref().is_some_and(|s| s.value)
                || step.secret.as_ref().is_some_and(|s| s.value);
            Some((step.id.value.clone(), secret))
        }
        _ => None,
    });
    inputs.chain(prompts).collect()
}

/// What `run_started` records: every answer given up front.
pub fn at_start(runbook: &Runbook, answers: &Answers) -> BTreeMap<String, InputRecord> {
    answerable(runbook, answers)
        .into_iter()
        .filter_map(|(name, secret)| {
            let (value, source) = answers.get(&name)?;
            let record = if secret {
                InputRecord::secret(fingerprint(value), source.as_str())
            } else {
                InputRecord::plain(value, fingerprint(value), source.as_str())
            };
            Some((name, record))
        })
        .collect()
}

/// Every secret value known before any step runs: the answers for secret inputs
/// and secret prompts (answers file, environment), and the defaults of secret
/// inputs that can be rendered now (`{{ env.VAULT_TOKEN }}`).
pub fn known_secrets(runbook: &Runbook, answers: &Answers, values: &Values) -> Vec<String> {
    let mut secrets: Vec<String> = answerable(runbook, answers)
        .into_iter()
        .filter(|(_, secret)| *secret)
        .filter_map(|(name, _)| answers.get(&name).map(|(value, _)| value.to_owned()))
        .collect();
    for input in &runbook.inputs {
        if input.secret.as_ref().is_some_and(|s| s.value)
            && let Some(default) = &input.default
            // A default that reads another input or a step is rendered when used.
            && let Ok(rendered) = values.render(&default.source, None)
        {
            secrets.push(rendered.text);
        }
    }
    secrets
}

/// Refuses a resume whose answers differ from what the run is fixed to.
pub fn check_resume(
    runbook: &Runbook,
    answers: &Answers,
    events: &[Event],
) -> Result<(), EngineError> {
    let mut fixed: BTreeMap<String, (String, Option<String>, &str)> = BTreeMap::new();
    for input in &runbook.inputs {
        if let Some(default) = input.default.as_ref().filter(|d| d.is_literal()) {
            let shown = Some(default.source.clone());
            let entry = (fingerprint(&default.source), shown, "its default");
            fixed.insert(input.name.value.clone(), entry);
        }
    }
    for event in events {
        match &event.kind {
            EventKind::RunStarted { inputs, .. } => {
                for (name, record) in inputs {
                    let entry = (
                        record.fingerprint.clone(),
                        record.value.clone(),
                        "given when it started",
                    );
                    fixed.insert(name.clone(), entry);
                }
            }
            EventKind::InputProvided {
                name,
                fingerprint,
                value,
                ..
            } => {
                let entry = (fingerprint.clone(), value.clone(), "used by a step");
                fixed.insert(name.clone(), entry);
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    for (name, secret) in answerable(runbook, answers) {
        let (Some((value, source)), Some((expected, shown, how))) =
            (answers.get(&name), fixed.get(&name))
        else {
            continue;
        };
        if fingerprint(value) == *expected {
            continue;
        }
        let problem = match shown.as_ref().filter(|_| !secret) {
            Some(shown) => {
                format!("`{name}` is `{value}` ({source}), the run's is `{shown}` ({how})")
            }
            None => format!(
                "`{name}` ({source}) is not the value the run has ({how}; compared by fingerprint)"
            ),
        };
        problems.push(problem);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EngineError::ResumeDiffers { problems })
    }
}
