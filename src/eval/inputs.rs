//! Resolving inputs and `prompt` answers: from the answers given up front, the
//! input's default, or — interactively, when a step first uses it — the operator.
//! Without an operator, every missing answer is found before any step runs.

use std::collections::BTreeSet;

use regex::Regex;

use crate::document::diagnostic::did_you_mean;
use crate::document::model::{Action, Input, Runbook};
use crate::document::pattern::anchored;
use crate::eval::answers::{Answers, Source, env_var};
use crate::operator::Question;

/// Why the answers cannot start a run. Exit code 2: nothing has started.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("`{name}` (from {origin}) is not an input or prompt of this runbook")]
    Unknown {
        name: String,
        origin: Source,
        help: String,
    },

    #[error("the secret input `{name}` cannot be given with --set")]
    SecretOnCommandLine { name: String },

    #[error("the answer to `{name}` ({origin}) is not valid: {reason}")]
    Invalid {
        name: String,
        origin: Source,
        reason: String,
    },

    #[error("{} missing, and nobody can be asked without a terminal: {}", plural(.names.len()), .names.join(", "))]
    Missing { names: Vec<String> },

    #[error(
        "`{name}` (from {origin}) would change nothing: it is an input only of child runbooks, and the steps that run them give it in `with:`"
    )]
    GivenByWith { name: String, origin: Source },
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        "an answer is"
    } else {
        "answers are"
    }
}

impl InputError {
    pub fn help(&self) -> String {
        match self {
            InputError::Unknown { help, .. } => help.clone(),
            InputError::SecretOnCommandLine { name } => format!(
                "a value on the command line sits in shell history and `ps`: set {} in the environment, put it in an --answers file, or let the run ask for it",
                env_var(name)
            ),
            InputError::Invalid { .. } => "fix the value and run again".to_owned(),
            InputError::GivenByWith { .. } => "`with:` comes before every other answer: remove this one, or change the `with:` of the step that runs the child".to_owned(),
            InputError::Missing { names } => {
                let first = names.first().map_or("name", String::as_str);
                format!(
                    "give each with --set NAME=VALUE (not for secrets), an --answers FILE, or {} environment variables; or run at a terminal",
                    env_var(first)
                )
            }
        }
    }
}

/// What can answer a question by name: an input or a `prompt` step.
pub struct Spec {
    pub name: String,
    pub secret: bool,
    pub prompt: String,
    pub pattern: Option<Regex>,
    pub choices: Vec<String>,
}

impl Spec {
    pub fn of_input(input: &Input) -> Spec {
        let name = input.name.value.clone();
        Spec {
            prompt: input
                .prompt
                .as_ref()
                .or(input.description.as_ref())
                .map_or_else(|| name.clone(), |p| p.value.clone()),
            secret: input.secret.as_ref().is_some_and(|s| s.value),
            // Compiles: `validate`, which every run passes first, checked this very form.
            pattern: input.pattern.as_ref().and_then(|p| anchored(&p.value).ok()),
            choices: input.choices.iter().map(|c| c.value.clone()).collect(),
            name,
        }
    }

    /// Checks an answer against `pattern` and `choices`.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if !self.choices.is_empty() && !self.choices.iter().any(|c| c == value) {
            return Err(format!("it must be one of: {}", self.choices.join(", ")));
        }
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(value)
        {
            return Err(format!("it must match `{}`", pattern.as_str()));
        }
        Ok(())
    }

    pub fn question(&self, default: Option<String>) -> Question {
        Question {
            name: self.name.clone(),
            prompt: self.prompt.clone(),
            secret: self.secret,
            pattern: self.pattern.clone(),
            choices: self.choices.clone(),
            default,
        }
    }
}

/// Checks the answers given up front against the runbooks they are for: every
/// name must be an input or a prompt step of one of them, secrets may not come
/// from `--set`, and values must fit their pattern and choices. Each runbook
/// comes with how `--confirm` names its steps (`kid.` for a child's), so a
/// message names a child's step as `--confirm` does.
pub fn check_answers(answers: &Answers, runbooks: &[(&Runbook, String)]) -> Result<(), InputError> {
    let mut known: BTreeSet<&str> = BTreeSet::new();
    for (runbook, _) in runbooks {
        known.extend(runbook.inputs.iter().map(|i| i.name.value.as_str()));
        known.extend(
            runbook
                .all_steps()
                // Manual and child-runbook steps take `done` / `defer: REASON`.
                .filter(|s| {
                    matches!(
                        s.action,
                        Action::Prompt(_) | Action::Manual(_) | Action::Runbook(_)
                    )
                })
                .map(|s| s.id.value.as_str()),
        );
    }
    for (name, source) in answers.explicit_names() {
        if !known.contains(name) {
            let help = match did_you_mean(name, known.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None if known.is_empty() => "this runbook takes no inputs".to_owned(),
                None => format!(
                    "the inputs and prompts are: {}",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            };
            return Err(InputError::Unknown {
                name: name.to_owned(),
                origin: source,
                help,
            });
        }
    }
    for (runbook, scope) in runbooks {
        for input in &runbook.inputs {
            let spec = Spec::of_input(input);
            if let Some((value, source)) = answers.get(&spec.name) {
                if spec.secret && source == Source::Set {
                    return Err(InputError::SecretOnCommandLine { name: spec.name });
                }
                spec.check(value).map_err(|reason| InputError::Invalid {
                    name: spec.name.clone(),
                    origin: source,
                    reason,
                })?;
            }
        }
        for step in runbook.all_steps() {
            if matches!(step.action, Action::Manual(_) | Action::Runbook(_))
                && let Some((value, origin)) = answers.get(&step.id.value)
            {
                let answer = crate::engine::perform::step_answer(value);
                let reason = match answer {
                    Err(reason) => Some(reason),
                    Ok(crate::operator::ManualAnswer::Done)
                        if matches!(step.action, Action::Runbook(_)) =>
                    {
                        Some("a child runbook item can only be deferred (`defer: REASON`); running it is what marks it done".to_owned())
                    }
                    Ok(crate::operator::ManualAnswer::Done)
                        if step.effect() == Some(crate::document::model::Effect::Irreversible) =>
                    {
                        Some(format!("an irreversible step is done only with `--confirm {scope}{}`", step.id.value))
                    }
                    Ok(_) => None,
                };
                if let Some(reason) = reason {
                    return Err(InputError::Invalid {
                        name: format!("{scope}{}", step.id.value),
                        origin,
                        reason,
                    });
                }
            }
            if let Action::Prompt(prompt) = &step.action
                && let Some((_, Source::Set)) = answers.get(&step.id.value)
                && (prompt.secret.as_ref().is_some_and(|s| s.value)
                    || step.secret.as_ref().is_some_and(|s| s.value))
            {
                return Err(InputError::SecretOnCommandLine {
                    name: step.id.value.clone(),
                });
            }
        }
    }
    Ok(())
}

/// The answers a run without an operator would lack: inputs with neither an
/// answer nor a default, and prompt steps with neither. Each runbook comes with
/// the inputs its parent's `with:` passes it, which need no answer.
pub fn missing(answers: &Answers, runbooks: &[(&Runbook, BTreeSet<String>)]) -> Vec<String> {
    let mut names = BTreeSet::new();
    for (runbook, passed) in runbooks {
        for input in &runbook.inputs {
            if input.default.is_none()
                && !passed.contains(&input.name.value)
                && answers.get(&input.name.value).is_none()
            {
                names.insert(input.name.value.clone());
            }
        }
        for step in runbook.all_steps() {
            if let Action::Prompt(prompt) = &step.action
                && prompt.default.is_none()
                && answers.get(&step.id.value).is_none()
            {
                names.insert(step.id.value.clone());
            }
        }
    }
    names.into_iter().collect()
}

/// An answer given up front for a name that only child inputs have, all of
/// them given by `with:` in the steps that run them, would silently change
/// nothing (`with:` comes first): refused, as an unknown name is. `runbooks`:
/// the top runbook first, then each child with the inputs `with:` gives it.
pub fn check_not_shadowed(
    answers: &Answers,
    runbooks: &[(&Runbook, BTreeSet<String>)],
) -> Result<(), InputError> {
    for (name, origin) in answers.explicit_names() {
        let mut declared = false;
        let mut reached = false;
        for (runbook, passed) in runbooks {
            let input = runbook.input(name).is_some();
            let step = runbook.all_steps().any(|s| s.id.value == name);
            declared |= input || step;
            reached |= step || (input && !passed.contains(name));
        }
        if declared && !reached {
            return Err(InputError::GivenByWith {
                name: name.to_owned(),
                origin,
            });
        }
    }
    Ok(())
}

/// `runbook` (in `file`) and then each of `children`, in their order, each
/// with the inputs `with:` gives it (none for the top): what [`missing`] and
/// [`check_not_shadowed`] read.
pub fn with_passed<'a>(
    file: &std::path::Path,
    runbook: &'a Runbook,
    children: &'a [(std::path::PathBuf, Runbook)],
) -> Vec<(&'a Runbook, BTreeSet<String>)> {
    let passed = passed_by_with(file, runbook, children);
    // A child run by several steps (a fan-out and the rollback that undoes it)
    // is listed once per step: each listing is given the same inputs.
    std::iter::once((runbook, BTreeSet::new()))
        .chain(
            children
                .iter()
                .map(|(path, child)| (child, passed.get(path).cloned().unwrap_or_default())),
        )
        .collect()
}

/// The inputs each child runbook is given by `with:` in every step that runs
/// it, by the child's file: `file` holds `runbook`, `children` every runbook
/// below. An input one of those steps leaves out is not given.
fn passed_by_with(
    file: &std::path::Path,
    runbook: &Runbook,
    children: &[(std::path::PathBuf, Runbook)],
) -> std::collections::BTreeMap<std::path::PathBuf, BTreeSet<String>> {
    let mut passed: std::collections::BTreeMap<std::path::PathBuf, BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let parents =
        std::iter::once((file, runbook)).chain(children.iter().map(|(p, r)| (p.as_path(), r)));
    for (parent, runbook) in parents {
        let base = crate::document::rules::parent_dir(parent);
        for step in runbook.all_steps() {
            if let Action::Runbook(path) = &step.action {
                let given: BTreeSet<String> = step
                    .with
                    .iter()
                    .map(|(name, _)| name.value.clone())
                    .collect();
                passed
                    .entry(base.join(&path.value))
                    .and_modify(|all| all.retain(|name| given.contains(name)))
                    .or_insert(given);
            }
        }
    }
    passed
}
