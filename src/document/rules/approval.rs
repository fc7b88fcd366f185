//! The approval part of the rules: `approve:` gates a step that changes
//! something — on a step that only reads or tells it would make people wait
//! for nothing — and never a rollback step, which runs after a failure to put
//! things back and must not wait for someone to answer.

use super::Rules;
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{Effect, Step};

impl Rules<'_, '_> {
    pub(super) fn approval(&mut self, step: &Step) {
        let Some(approve) = &step.approve else {
            return;
        };
        if self
            .cx
            .runbook
            .rollback
            .iter()
            .any(|rollback| std::ptr::eq(rollback, step))
        {
            self.report(
                Diagnostic::new(
                    Code::ApprovalInRollback,
                    approve.span,
                    format!("rollback step `{}` cannot wait for approval", step.id.value),
                )
                .help("a rollback runs after a failure to put things back, with nobody to wait for: gate the step that changes things instead"),
            );
            return;
        }
        let gates_something = match step.effect() {
            Some(Effect::Change | Effect::Irreversible | Effect::Manual) | None => true,
            Some(Effect::None | Effect::Probe | Effect::Notify) => false,
        };
        if !gates_something {
            let effect = step.effect().map_or("unknown", Effect::as_str);
            self.report(
                Diagnostic::new(
                    Code::ApprovalOfNothing,
                    approve.span,
                    format!("step `{}` asks for approval, but its effect is `{effect}`: it changes nothing", step.id.value),
                )
                .help("approve the step that changes or destroys something; a read or a notification needs nobody's approval"),
            );
        }
    }
}
