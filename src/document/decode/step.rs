//! Decoding one step: its id, its one action, and the fields around it, with
//! the checks of which fields go with which action.

use super::{Decoder, Fields};
use crate::document::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::document::model::{Action, Expect, Spanned, Step, Template};
use crate::document::node::{Node, Span, Value};

/// Step keys other than the action keys (`Action::KEYS`).
const STEP_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "needs",
    "when",
    "effect",
    "confirm",
    "approve",
    "secret",
    "timeout",
    "retry",
    "explain",
    "outputs",
    "priority",
    "estimate",
    "guide",
    "for_each",
    "concurrency",
    "expect",
    "with",
];

impl Decoder<'_> {
    pub(super) fn step(&mut self, node: &Node) -> Option<Step> {
        let known: Vec<&str> = STEP_KEYS
            .iter()
            .chain(Action::KEYS.iter())
            .copied()
            .collect();
        let fields = self.fields(node, "a step", &known)?;
        let id = match fields.get("id") {
            Some(n) => self.id(n, "step id", false),
            None => {
                self.missing(
                    &fields,
                    "id",
                    "this step",
                    "give every step an `id`, e.g. `id: restart_service`",
                );
                None
            }
        }
        .unwrap_or_else(|| Spanned::new(String::new(), fields.span));

        let present: Vec<&str> = Action::KEYS
            .iter()
            .copied()
            .filter(|key| fields.get(key).is_some())
            .collect();
        let (action_key, then_wait_key) = match present.as_slice() {
            // A misspelt action key (`mnual`) is already reported with its
            // correction; saying the step has no action would repeat it.
            [] if misspelt_action(node) => (None, None),
            [] => {
                let name = if id.value.is_empty() {
                    "this step".to_owned()
                } else {
                    format!("step `{}`", id.value)
                };
                self.report(
                    Diagnostic::new(Code::NoAction, id.span, format!("{name} has no action"))
                        .help(format!("add exactly one of: {}", Action::KEYS.join(", "))),
                );
                (None, None)
            }
            [one] => (Some(*one), None),
            ["command", "wait_for"] => (Some("command"), Some("wait_for")),
            [first, rest @ ..] => {
                for extra in rest {
                    let span = fields.key_span(extra).unwrap_or(fields.span);
                    self.report(
                        Diagnostic::new(
                            Code::TwoActions,
                            span,
                            format!("step `{}` already has the action `{first}`; `{extra}` would be a second", id.value),
                        )
                        .help("a step does exactly one thing: split this into two steps, the second with `needs` on the first"),
                    );
                }
                (Some(*first), None)
            }
        };
        let action = action_key.and_then(|key| {
            let node = fields.get(key)?;
            self.action(key, node)
        });
        let action_span = action_key
            .and_then(|key| fields.key_span(key))
            .unwrap_or(fields.span);
        let then_wait = then_wait_key
            .and_then(|key| fields.get(key))
            .and_then(|node| self.wait_for(node));

        let action_missing = action.is_none();
        let mut step = Step {
            id,
            span: fields.span,
            title: None,
            description: None,
            // A step whose action is broken is kept (with an empty manual action) so
            // its id still resolves and references to it raise no second error.
            action: action.unwrap_or_else(|| {
                Action::Manual(Template {
                    source: String::new(),
                    span: action_span,
                })
            }),
            action_span,
            then_wait,
            needs: Vec::new(),
            when: None,
            effect: None,
            confirm: None,
            approve: None,
            secret: None,
            timeout: None,
            retry: None,
            explain: Vec::new(),
            outputs: Vec::new(),
            priority: None,
            estimate: None,
            guide: None,
            for_each: None,
            concurrency: None,
            with: Vec::new(),
            expect: None,
            unread: Vec::new(),
        };
        if action_missing {
            step.unread.push("action");
        }
        step.title = fields.get("title").and_then(|n| self.text(n, "`title`"));
        step.description = fields
            .get("description")
            .and_then(|n| self.text(n, "`description`"));
        if let Some(n) = fields.get("needs") {
            step.needs = self.needs(n);
        }
        step.when = fields.get("when").and_then(|n| self.condition(n));
        step.effect = fields.get("effect").and_then(|n| self.effect(n));
        if fields.get("effect").is_some() && step.effect.is_none() {
            step.unread.push("effect");
        }
        step.confirm = fields.get("confirm").and_then(|n| self.confirm(n));
        step.approve = fields.get("approve").and_then(|n| self.approve(n));
        step.secret = fields
            .get("secret")
            .and_then(|n| self.boolean(n, "`secret`"));
        step.timeout = fields
            .get("timeout")
            .and_then(|n| self.duration(n, "`timeout`"));
        step.retry = fields.get("retry").and_then(|n| self.retry(n));
        if let Some(n) = fields.get("explain") {
            step.explain = self.explain(n);
        }
        if let Some(n) = fields.get("outputs") {
            step.outputs = self.template_map(n, "`outputs`");
            for (name, _) in &step.outputs {
                self.check_id(name, "output name");
            }
        }
        step.priority = fields.get("priority").and_then(|n| self.priority(n));
        step.estimate = fields
            .get("estimate")
            .and_then(|n| self.duration(n, "`estimate`"));
        step.guide = fields.get("guide").and_then(|n| self.text(n, "`guide`"));
        step.for_each = fields.get("for_each").and_then(|n| self.for_each(n));
        if fields.get("for_each").is_some() && step.for_each.is_none() {
            step.unread.push("for_each");
        }
        if let Some(n) = fields.get("with") {
            step.with = self.template_map(n, "`with`");
        }
        step.concurrency = fields
            .get("concurrency")
            .and_then(|n| self.positive(n, "`concurrency`"));
        step.expect = fields.get("expect").and_then(|n| self.expect(n));
        self.check_placement(&step, &fields);
        Some(step)
    }

    pub(super) fn check_id(&mut self, name: &Spanned<String>, what: &str) {
        let node = Node {
            value: Value::Str(name.value.clone()),
            span: name.span,
        };
        self.id(&node, what, false);
    }

    /// Fields that only make sense with some actions.
    pub(super) fn check_placement(&mut self, step: &Step, fields: &Fields<'_>) {
        if step.unread("action") {
            return;
        }
        let action = step.action.key();
        let fan_out = matches!(
            step.action,
            Action::Http(_) | Action::Command(_) | Action::Runbook(_)
        );
        if step.for_each.is_some() && !fan_out {
            self.misplaced(
                fields,
                "for_each",
                &format!(
                    "`for_each` repeats an `http`, `command` or `runbook` action, not `{action}`"
                ),
            );
        }
        if !step.with.is_empty() && !matches!(step.action, Action::Runbook(_)) {
            self.misplaced(
                fields,
                "with",
                &format!("`with` gives a child runbook its inputs; a `{action}` step runs none"),
            );
        }
        if step.concurrency.is_some() && step.for_each.is_none() {
            self.misplaced(
                fields,
                "concurrency",
                "`concurrency` limits a `for_each`; this step has none",
            );
        }
        if let Some(expect) = &step.expect {
            let http = matches!(step.action, Action::Http(_));
            let command = matches!(step.action, Action::Command(_));
            if !http && !command {
                let help = if matches!(step.action, Action::WaitFor(_)) {
                    "put `expect` inside `wait_for:`"
                } else {
                    "only `http` and `command` steps take `expect`"
                };
                self.report(
                    Diagnostic::new(
                        Code::MisplacedField,
                        fields.key_span("expect").unwrap_or(fields.span),
                        format!("a `{action}` step has nothing to expect"),
                    )
                    .help(help),
                );
            } else {
                self.check_expect_kind(expect, http);
            }
        }
        if step.confirm.is_some()
            && matches!(step.action, Action::Prompt(_) | Action::ReadSetting(_))
        {
            self.misplaced(
                fields,
                "confirm",
                &format!("a `{action}` step changes nothing, so there is nothing to confirm"),
            );
        }
    }

    pub(super) fn check_expect_kind(&mut self, expect: &Expect, http: bool) {
        // `json` applies to both: a response body, or a command's stdout.
        let text = |key: &'static str, m: &Option<crate::document::model::TextMatch>| {
            m.as_ref().map(|m| (key, m.span))
        };
        let wrong: Vec<(&str, Span)> = if http {
            expect
                .exit_code
                .first()
                .map(|e| ("exit_code", e.span))
                .into_iter()
                .chain(
                    expect
                        .stdout_contains
                        .iter()
                        .map(|t| ("stdout_contains", t.span)),
                )
                .chain(text("stdout", &expect.stdout))
                .chain(text("stderr", &expect.stderr))
                .collect()
        } else {
            expect
                .status
                .first()
                .map(|s| ("status", s.span))
                .into_iter()
                .chain(
                    expect
                        .body_contains
                        .iter()
                        .map(|t| ("body_contains", t.span)),
                )
                .chain(text("body", &expect.body))
                .chain(
                    expect
                        .headers
                        .first()
                        .map(|(name, _)| ("headers", name.span)),
                )
                .chain(expect.tls.first().map(|(field, _)| ("tls", field.span)))
                .collect()
        };
        let (this, other) = if http {
            ("an HTTP response", "`command`")
        } else {
            ("a command", "`http`")
        };
        for (key, span) in wrong {
            self.report(
                Diagnostic::new(
                    Code::MisplacedField,
                    span,
                    format!("`expect.{key}` does not apply to {this}"),
                )
                .help(format!("`{key}` is checked on {other} steps")),
            );
        }
    }

    pub(super) fn misplaced(&mut self, fields: &Fields<'_>, key: &str, message: &str) {
        let span = fields.key_span(key).unwrap_or(fields.span);
        self.report(
            Diagnostic::new(Code::MisplacedField, span, message.to_owned())
                .help(format!("remove `{key}` from this step")),
        );
    }
}

/// Whether the step map has a key that is a near miss of an action key.
fn misspelt_action(node: &Node) -> bool {
    let Value::Map(entries) = &node.value else {
        return false;
    };
    entries.iter().any(|(key, _)| match &key.value {
        Value::Str(name) => {
            !Action::KEYS.contains(&name.as_str())
                && !STEP_KEYS.contains(&name.as_str())
                && did_you_mean(name, Action::KEYS).is_some()
        }
        _ => false,
    })
}
