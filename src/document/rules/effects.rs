//! The effect part of the rules: a declared `effect` may raise what the engine
//! knows of an action, never lower it (a POST or a manual step is never a
//! probe, a child runbook is at least as strong as its strongest step), and a
//! `wait_for` polls only with GET or HEAD, since a poll repeats its request.

use super::{Rules, parent_dir};
use crate::document::children;
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{Action, Effect, Probe, Step};

impl Rules<'_, '_> {
    pub(super) fn effects(&mut self, step: &Step) {
        self.polls_read_only(step);
        self.declared_not_lower(step);
    }

    /// A poll sends its request again and again: only a read may be repeated.
    fn polls_read_only(&mut self, step: &Step) {
        for wait in step.waits() {
            let Probe::Http(request) = &wait.probe else {
                continue;
            };
            if request.reads_only() {
                continue;
            }
            let method = request.method().as_str();
            let span = request.method.as_ref().map_or(wait.span, |m| m.span);
            self.report(
                Diagnostic::new(Code::InvalidValue, span, format!("`wait_for` polls with GET or HEAD only, not {method}: a poll sends its request again and again, and a {method} may change something each time"))
                    .help(format!("make the {method} a step of its own (`http: {{method: {method}, …}}`), then wait for its result with a GET in a step that needs it")),
            );
        }
    }

    /// `effect:` below what the engine knows of the action is refused at its line.
    fn declared_not_lower(&mut self, step: &Step) {
        let Some(declared) = &step.effect else {
            return;
        };
        let (known, why) = match &step.action {
            Action::Runbook(path) => {
                let file = parent_dir(self.cx.path).join(&path.value);
                let Some(known) = children::strongest_effect(&file) else {
                    return;
                };
                (
                    known,
                    format!(
                        "child runbook `{}` has a step whose effect is `{}`",
                        path.value,
                        known.as_str()
                    ),
                )
            }
            // A poll that is not a read is refused above; its effect says no more.
            Action::WaitFor(wait) if matches!(&wait.probe, Probe::Http(r) if !r.reads_only()) => {
                return;
            }
            action => {
                let Some(known) = action.implied_effect() else {
                    return;
                };
                (known, implied_because(action))
            }
        };
        // A notification stands in for what its action implies (see
        // `Step::notifies`); on other actions it is RB042's to refuse.
        let notifies = step.notifies()
            || (declared.value == Effect::Notify && !matches!(step.action, Action::Http(_)));
        if declared.value >= known || notifies {
            return;
        }
        let id = &step.id.value;
        let (declared_name, known_name) = (declared.value.as_str(), known.as_str());
        let help = if known == Effect::Change && matches!(step.action, Action::Http(_)) {
            "remove `effect:`, or declare `change` or `irreversible`; a request that only reads uses GET or HEAD".to_owned()
        } else {
            format!(
                "remove `effect:` (the step is `{known_name}` without it), or declare a stronger one"
            )
        };
        self.report(
            Diagnostic::new(Code::EffectLowered, declared.span, format!("step `{id}` declares `effect: {declared_name}`, but {why}: a declared effect may raise what the engine knows, never lower it"))
                .help(help),
        );
    }
}

/// Why the engine knows an action's effect, in words for the diagnostic.
fn implied_because(action: &Action) -> String {
    match action {
        Action::Manual(_) => {
            "a person acts on a `manual` step, which the engine cannot see (`manual`)".to_owned()
        }
        Action::Prompt(_) | Action::ReadSetting(_) => {
            format!("a `{}` step is `none`", action.key())
        }
        Action::SetSetting(_) | Action::RestoreSetting(_) => {
            format!(
                "a `{}` step writes a settings file (`change`)",
                action.key()
            )
        }
        Action::WriteFile(_) | Action::RestoreFile(_) => {
            format!("a `{}` step writes a file (`change`)", action.key())
        }
        Action::GenerateSecret(_) => "a `generate_secret` step is `none`".to_owned(),
        Action::Http(request) => format!(
            "a {} request may change something (`{}`)",
            request.method().as_str(),
            request.effect().as_str()
        ),
        Action::WaitFor(_) => "a `wait_for` over GET or HEAD is a `probe`".to_owned(),
        Action::Command(_) | Action::Runbook(_) => {
            format!("a `{}` step's effect is declared", action.key())
        }
    }
}
