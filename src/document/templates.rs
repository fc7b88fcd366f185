//! Every template a step has, listed once. `validate` checks them, `plan` and
//! `--probe` find what they read, and `run` resolves the inputs they read before
//! the step starts — all from this one list, so a template cannot be checked in
//! one place and forgotten in another. The matches are exhaustive (no `_ =>`):
//! a new action or field makes the compiler point here.

use std::borrow::Cow;

use super::model::{
    Action, Axis, Command, Expect, FileSource, ForEach, HttpRequest, Matcher, Number, Probe, Step,
    Template, TextMatch, TextRule, TlsMatch,
};
use super::node::{Node, Value};

/// When a template is rendered, which decides what it may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before the step: `when`, `for_each` — no `item`, no own results.
    Gate,
    /// The confirmation, asked before the action: as `Gate`.
    Confirm,
    /// The action itself, its `wait_for` and its `expect`: `item` in a fan-out.
    Action,
    /// After the action: `explain`, `outputs` — the step's own results too.
    After,
}

/// One template of a step: where it is and what it is for.
#[derive(Debug, Clone)]
pub struct StepTemplate<'a> {
    pub template: Cow<'a, Template>,
    pub stage: Stage,
    /// Where, as a diagnostic names it: "`when`", "the `json` body".
    pub place: &'static str,
}

impl Step {
    /// Every template of this step, in the order the run meets them.
    pub fn templates(&self) -> Vec<StepTemplate<'_>> {
        let mut out = Templates(Vec::new());
        out.text(self.when.as_ref(), Stage::Gate, "`when`");
        match &self.for_each {
            Some(ForEach::List(axis)) => out.axis(axis),
            Some(ForEach::Product { axes, .. }) => axes.iter().for_each(|(_, axis)| out.axis(axis)),
            None => {}
        }
        if let Some(confirm) = &self.confirm {
            out.text(confirm.message.as_ref(), Stage::Confirm, "`confirm`");
            out.text(confirm.phrase.as_ref(), Stage::Confirm, "`confirm`");
        }
        if let Some(approve) = &self.approve {
            out.text(
                approve.message.as_ref(),
                Stage::Confirm,
                "`approve.message`",
            );
        }
        match &self.action {
            Action::Manual(text) => out.text(Some(text), Stage::Action, "this step"),
            Action::Prompt(prompt) => {
                out.text(prompt.message.as_ref(), Stage::Action, "this step");
                out.text(prompt.default.as_ref(), Stage::Action, "this step");
            }
            Action::ReadSetting(setting) => {
                out.text(Some(&setting.file), Stage::Action, "this step");
            }
            Action::SetSetting(setting) => {
                out.text(Some(&setting.file), Stage::Action, "this step");
                for (_, value) in &setting.values {
                    out.text(Some(value), Stage::Action, "this step");
                }
            }
            Action::Http(request) => out.http(request),
            Action::Command(command) => out.command(command),
            Action::WriteFile(file) => {
                out.text(Some(&file.path), Stage::Action, "this step");
                let (FileSource::Content(source) | FileSource::From(source)) = &file.source;
                out.text(Some(source), Stage::Action, "this step");
            }
            Action::Runbook(_) => {
                for (_, value) in &self.with {
                    out.text(Some(value), Stage::Action, "`with`");
                }
            }
            Action::WaitFor(_)
            | Action::RestoreSetting(_)
            | Action::RestoreFile(_)
            | Action::GenerateSecret(_) => {}
        }
        out.expect(self.expect.as_ref());
        for wait in self.waits() {
            match &wait.probe {
                Probe::Http(request) => out.http(request),
                Probe::Command(command) => out.command(command),
            }
            out.expect(wait.expect.as_ref());
        }
        for (_, message) in &self.explain {
            out.text(Some(message), Stage::After, "`explain`");
        }
        for (_, value) in &self.outputs {
            out.text(Some(value), Stage::After, "`outputs`");
        }
        out.0
    }

    /// The command lines this step runs (its `command`, a `wait_for` command):
    /// what `ps` and `/proc/*/cmdline` show every user of the machine, unlike
    /// a command's `env`.
    pub fn command_lines(&self) -> Vec<&Template> {
        let action = match &self.action {
            Action::Command(command) => Some(&command.run),
            Action::Manual(_)
            | Action::Prompt(_)
            | Action::ReadSetting(_)
            | Action::SetSetting(_)
            | Action::RestoreSetting(_)
            | Action::WriteFile(_)
            | Action::RestoreFile(_)
            | Action::GenerateSecret(_)
            | Action::Http(_)
            | Action::WaitFor(_)
            | Action::Runbook(_) => None,
        };
        let waits = self.waits().filter_map(|wait| match &wait.probe {
            Probe::Command(command) => Some(&command.run),
            Probe::Http(_) => None,
        });
        action.into_iter().chain(waits).collect()
    }

    /// The sources of the templates rendered in `stages`.
    pub fn template_sources(&self, stages: &[Stage]) -> Vec<String> {
        self.templates()
            .into_iter()
            .filter(|t| stages.contains(&t.stage))
            .map(|t| t.template.into_owned().source)
            .collect()
    }
}

struct Templates<'a>(Vec<StepTemplate<'a>>);

impl<'a> Templates<'a> {
    fn text(&mut self, template: Option<&'a Template>, stage: Stage, place: &'static str) {
        if let Some(template) = template {
            self.0.push(StepTemplate {
                template: Cow::Borrowed(template),
                stage,
                place,
            });
        }
    }

    /// One list of a `for_each`, read before the step runs.
    fn axis(&mut self, axis: &'a Axis) {
        match axis {
            Axis::Template(template) => self.text(Some(template), Stage::Gate, "`for_each`"),
            Axis::Items(node) => self.node_at(node, Stage::Gate, "`for_each`"),
        }
    }

    /// The strings inside a YAML value (a `json:` body, an `equals:` value) are
    /// templates too, each at its own node.
    fn node(&mut self, node: &Node, place: &'static str) {
        self.node_at(node, Stage::Action, place);
    }

    fn node_at(&mut self, node: &Node, stage: Stage, place: &'static str) {
        match &node.value {
            Value::Str(text) => self.0.push(StepTemplate {
                template: Cow::Owned(Template {
                    source: text.clone(),
                    span: node.span,
                }),
                stage,
                place,
            }),
            Value::Seq(items) => items
                .iter()
                .for_each(|item| self.node_at(item, stage, place)),
            Value::Map(entries) => entries
                .iter()
                .for_each(|(_, value)| self.node_at(value, stage, place)),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
        }
    }

    fn http(&mut self, request: &'a HttpRequest) {
        self.text(Some(&request.url), Stage::Action, "this step");
        for (_, value) in &request.headers {
            self.text(Some(value), Stage::Action, "this step");
        }
        self.text(request.bearer.as_ref(), Stage::Action, "this step");
        self.text(request.body.as_ref(), Stage::Action, "this step");
        if let Some(json) = &request.json {
            self.node(json, "the `json` body");
        }
        for (_, path) in request.tls.iter().flat_map(|files| files.paths()) {
            self.text(Some(path), Stage::Action, "`tls`");
        }
        for (host, address) in &request.resolve {
            self.text(Some(host), Stage::Action, "`resolve`");
            self.text(Some(address), Stage::Action, "`resolve`");
        }
    }

    fn command(&mut self, command: &'a Command) {
        self.text(Some(&command.run), Stage::Action, "this step");
        for (_, value) in &command.env {
            self.text(Some(value), Stage::Action, "this step");
        }
        self.text(command.cwd.as_ref(), Stage::Action, "this step");
    }

    fn expect(&mut self, expect: Option<&'a Expect>) {
        let Some(expect) = expect else {
            return;
        };
        let tls_numbers = expect.tls.iter().filter_map(|(_, m)| match m {
            TlsMatch::Number(matcher) => Some(matcher),
            TlsMatch::Text(_) | TlsMatch::Names(_) => None,
        });
        for matcher in expect.json.iter().map(|(_, m)| m).chain(tls_numbers) {
            match matcher {
                Matcher::Equals(node) => self.node(node, "`expect`"),
                Matcher::Compare(_, Number::Template(t)) | Matcher::Len(Number::Template(t)) => {
                    self.text(Some(t), Stage::Action, "`expect`");
                }
                Matcher::NotEmpty(_)
                | Matcher::Exists(_)
                | Matcher::Compare(_, Number::Literal(_))
                | Matcher::Matches(_)
                | Matcher::Len(Number::Literal(_)) => {}
            }
        }
        self.text(expect.stdout_contains.as_ref(), Stage::Action, "`expect`");
        self.text(expect.body_contains.as_ref(), Stage::Action, "`expect`");
        let headers = expect.headers.iter().map(|(_, matcher)| matcher);
        let tls_texts = expect.tls.iter().filter_map(|(_, m)| match m {
            TlsMatch::Text(matcher) | TlsMatch::Names(matcher) => Some(matcher),
            TlsMatch::Number(_) => None,
        });
        let texts = [&expect.stdout, &expect.stderr, &expect.body];
        for matcher in texts.into_iter().flatten().chain(headers).chain(tls_texts) {
            self.text_match(matcher);
        }
    }

    fn text_match(&mut self, matcher: &'a TextMatch) {
        for rule in &matcher.rules {
            match rule {
                TextRule::Contains(t)
                | TextRule::NotContains(t)
                | TextRule::Equals(t)
                | TextRule::NotEquals(t) => {
                    self.text(Some(t), Stage::Action, "`expect`");
                }
                TextRule::Matches(_) => {}
            }
        }
    }
}
