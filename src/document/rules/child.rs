//! The rules of a step that runs a child runbook, seen from the parent: `with:`
//! names only inputs the child declares (RB070) and gives a secret one no
//! literal (RB022), a fan-out passes every input
//! the child requires (RB071, a warning: the run would give each item the one
//! answer from outside), `steps.<id>.outputs.NAME` names an output the child
//! declares (RB074); and in a product `for_each`, `item.NAME` names one of its
//! lists (RB073).

use super::{Rules, parent_dir};
use crate::document::children::{self, Interface};
use crate::document::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::document::model::{Action, ForEach, Step};
use crate::document::node::Span;
use crate::template::mask;

impl Rules<'_, '_> {
    /// What the child of `step` takes and gives, read once per file.
    pub(super) fn interface(&mut self, step: &Step) -> Option<Interface> {
        let Action::Runbook(path) = &step.action else {
            return None;
        };
        let file = parent_dir(self.cx.path).join(&path.value);
        self.interfaces
            .entry(file.clone())
            .or_insert_with(|| children::interface(&file))
            .clone()
    }

    pub(super) fn child_inputs(&mut self, step: &Step) {
        let Some(interface) = self.interface(step) else {
            return;
        };
        let names = || interface.inputs.iter().map(|i| i.name.as_str());
        for (name, value) in &step.with {
            if let Some(input) = interface.inputs.iter().find(|i| i.name == name.value) {
                // A secret written into the file, as a literal default of a
                // secret input would be.
                if input.secret && value.is_literal() && !value.source.is_empty() {
                    self.report(
                        Diagnostic::new(
                            Code::LiteralSecret,
                            value.span,
                            format!("the child's input `{}` is secret, and `with:` gives it a literal ({})", name.value, mask(&value.source)),
                        )
                        .help(format!("pass a secret of this runbook: `{}: \"{{{{ inputs.{} }}}}\"` with a `secret: true` input", name.value, name.value)),
                    );
                }
                continue;
            }
            let help = match did_you_mean(&name.value, names()) {
                Some(close) => format!("did you mean `{close}`?"),
                None if interface.inputs.is_empty() => {
                    "the child runbook declares no inputs".to_owned()
                }
                None => format!(
                    "the child's inputs are: {}",
                    names().collect::<Vec<_>>().join(", ")
                ),
            };
            self.report(
                Diagnostic::new(
                    Code::UnknownChildInput,
                    name.span,
                    format!("the child runbook has no input `{}`", name.value),
                )
                .help(help),
            );
        }
        let Some(for_each) = &step.for_each else {
            return;
        };
        let missing: Vec<&str> = interface
            .inputs
            .iter()
            .filter(|i| i.required && !step.with.iter().any(|(n, _)| n.value == i.name))
            .map(|i| i.name.as_str())
            .collect();
        if missing.is_empty() {
            return;
        }
        let list = missing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let first = missing[0];
        self.report(
            Diagnostic::new(
                Code::ChildInputNotPassed,
                for_each.span(),
                format!("each item's child run needs {list}, which `with:` does not pass: every item would get the one answer given for the whole run"),
            )
            .help(format!("pass it per item: `with: {{ {first}: \"{{{{ item }}}}\" }}`, or give the child input a `default`")),
        );
    }

    /// `steps.<id>.outputs.NAME` of a step: its own `outputs:`, or its child's.
    /// `None` when the name is one of them, else the diagnostic.
    pub(super) fn unknown_output(
        &mut self,
        step: &Step,
        name: &str,
        span: Span,
    ) -> Option<Diagnostic> {
        let id = &step.id.value;
        let own = step.outputs.iter().map(|(n, _)| n.value.clone());
        let child = self.interface(step).map(|i| i.outputs).unwrap_or_default();
        if step.for_each.is_some() && child.iter().any(|n| n == name) {
            // Each item's child run has its own outputs.
            return Some(
                Diagnostic::new(
                    Code::UnknownChildOutput,
                    span,
                    format!("step `{id}` runs its child once per item, so `{name}` is an output of each item, not of the step"),
                )
                .help(format!("read one item's: `steps.{id}.results[0].outputs.{name}`, or all of them in a loop over `steps.{id}.results`")),
            );
        }
        let known: Vec<String> = own.chain(child).collect();
        if known.iter().any(|n| n == name) {
            return None;
        }
        let runs_child = matches!(step.action, Action::Runbook(_));
        let help = match did_you_mean(name, known.iter().map(String::as_str)) {
            Some(close) => format!("did you mean `steps.{id}.outputs.{close}`?"),
            None if runs_child => format!(
                "declare it in the child runbook's `outputs:` (or in step `{id}`'s own `outputs:`)"
            ),
            None => format!("declare it in step `{id}`'s `outputs:`"),
        };
        let (code, message) = if runs_child {
            (
                Code::UnknownChildOutput,
                format!("step `{id}` and the runbook it runs have no output `{name}`"),
            )
        } else {
            (
                Code::UnknownResult,
                format!("step `{id}` has no output `{name}`"),
            )
        };
        Some(Diagnostic::new(code, span, message).help(help))
    }

    /// `item.NAME` in a step whose `for_each` is a product names one of its lists.
    pub(super) fn item_field(&mut self, step: &Step, field: Option<&str>, span: Span) {
        let (Some(for_each @ ForEach::Product { .. }), Some(field)) = (&step.for_each, field)
        else {
            return;
        };
        let names = for_each.names();
        if names.contains(&field) {
            return;
        }
        let help = match did_you_mean(field, names.iter().copied()) {
            Some(close) => format!("did you mean `item.{close}`?"),
            None => format!(
                "`item` has one field per list of `for_each`: {}",
                names
                    .iter()
                    .map(|n| format!("`item.{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.report(
            Diagnostic::new(
                Code::UnknownItemField,
                span,
                format!("`for_each` has no list `{field}`, so `item.{field}` is never defined"),
            )
            .help(help),
        );
    }
}
