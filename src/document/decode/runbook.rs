//! Decoding the top of a file: the runbook's own keys, its inputs and phases.

use super::Decoder;
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{Input, Phase, Priority, Runbook, Spanned, Step};
use crate::document::node::{Node, Value};

const RUNBOOK_KEYS: &[&str] = &[
    "runbook",
    "title",
    "description",
    "owner",
    "priority",
    "estimate",
    "guide",
    "keep_secrets",
    "inputs",
    "steps",
    "phases",
    "rollback",
    "outputs",
];
const INPUT_KEYS: &[&str] = &[
    "description",
    "default",
    "secret",
    "prompt",
    "pattern",
    "choices",
];
const PHASE_KEYS: &[&str] = &["id", "title", "description", "steps"];

impl Decoder<'_> {
    pub(super) fn runbook(&mut self, root: &Node) -> Option<Runbook> {
        if root.value == Value::Null {
            self.report(
                Diagnostic::new(Code::Unreadable, root.span, "the file is empty")
                    .help("a runbook starts with `runbook: <id>` followed by `steps:`"),
            );
            return None;
        }
        let fields = self.fields(root, "the runbook", RUNBOOK_KEYS)?;
        let id = match fields.get("runbook") {
            Some(node) => self.id(node, "runbook id", true),
            None => {
                self.report(
                    Diagnostic::new(
                        Code::MissingKey,
                        fields.span,
                        "the file has no `runbook:` id",
                    )
                    .help("start the file with `runbook: <id>`, the file name without `.yaml`"),
                );
                None
            }
        }
        .unwrap_or_else(|| Spanned::new(String::new(), fields.span));
        let mut runbook = Runbook {
            id,
            title: None,
            description: None,
            owner: None,
            priority: None,
            estimate: None,
            guide: None,
            keep_secrets: None,
            inputs: Vec::new(),
            phases: Vec::new(),
            rollback: Vec::new(),
            outputs: Vec::new(),
        };
        runbook.title = fields.get("title").and_then(|n| self.text(n, "`title`"));
        runbook.description = fields
            .get("description")
            .and_then(|n| self.text(n, "`description`"));
        runbook.owner = fields.get("owner").and_then(|n| self.text(n, "`owner`"));
        runbook.priority = fields.get("priority").and_then(|n| self.priority(n));
        runbook.estimate = fields
            .get("estimate")
            .and_then(|n| self.duration(n, "`estimate`"));
        runbook.guide = fields.get("guide").and_then(|n| self.text(n, "`guide`"));
        runbook.keep_secrets = fields
            .get("keep_secrets")
            .and_then(|n| self.boolean(n, "`keep_secrets`"));
        if let Some(node) = fields.get("inputs") {
            runbook.inputs = self.inputs(node);
        }
        match (fields.get("steps"), fields.get("phases")) {
            (Some(_), Some(_)) => {
                let span = fields.key_span("phases").unwrap_or(fields.span);
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        span,
                        "a runbook has either `steps` or `phases`, not both",
                    )
                    .help("move the steps into a phase, or drop `phases`"),
                );
            }
            (Some(steps), None) => runbook.phases.push(Phase {
                id: None,
                title: None,
                description: None,
                steps: self.steps(steps, "`steps`"),
            }),
            (None, Some(phases)) => {
                runbook.phases = self
                    .list(phases, "`phases`")
                    .iter()
                    .filter_map(|phase| self.phase(phase))
                    .collect();
            }
            (None, None) => self.missing(
                &fields,
                "steps",
                "the runbook",
                "add `steps:` (a list of steps) or `phases:` for a checklist",
            ),
        }
        if let Some(node) = fields.get("rollback") {
            runbook.rollback = self.steps(node, "`rollback`");
        }
        if let Some(node) = fields.get("outputs") {
            runbook.outputs = self.template_map(node, "`outputs`");
            for (name, _) in &runbook.outputs {
                self.check_id(name, "output name");
            }
        }
        Some(runbook)
    }

    pub(super) fn priority(&mut self, node: &Node) -> Option<Spanned<Priority>> {
        let text = self.text(node, "`priority`")?;
        if let Some(priority) = Priority::parse(&text.value) {
            return Some(Spanned::new(priority, node.span));
        }
        let help = match Priority::parse(&text.value.to_ascii_uppercase()) {
            Some(_) => format!("did you mean `{}`?", text.value.to_ascii_uppercase()),
            None => "priority is one of P0, P1, P2, P3".to_owned(),
        };
        self.report(
            Diagnostic::new(
                Code::InvalidValue,
                node.span,
                format!("`{}` is not a priority", text.value),
            )
            .help(help),
        );
        None
    }

    pub(super) fn inputs(&mut self, node: &Node) -> Vec<Input> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "`inputs`", "a map of input names to their settings");
            return Vec::new();
        };
        let mut inputs: Vec<Input> = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.id(key, "input name", false) else {
                continue;
            };
            if let Some(first) = inputs.iter().find(|input| input.name.value == name.value) {
                let line = first.name.span.line;
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!(
                            "input `{}` is declared twice (first on line {line})",
                            name.value
                        ),
                    )
                    .help("keep one declaration"),
                );
                continue;
            }
            let mut input = Input {
                name,
                description: None,
                default: None,
                secret: None,
                prompt: None,
                pattern: None,
                choices: Vec::new(),
            };
            if value.value != Value::Null {
                let what = format!("input `{}`", input.name.value);
                if let Some(fields) = self.fields(value, &what, INPUT_KEYS) {
                    input.description = fields
                        .get("description")
                        .and_then(|n| self.text(n, "`description`"));
                    input.default = fields
                        .get("default")
                        .and_then(|n| self.template(n, "`default`"));
                    input.secret = fields
                        .get("secret")
                        .and_then(|n| self.boolean(n, "`secret`"));
                    input.prompt = fields.get("prompt").and_then(|n| self.text(n, "`prompt`"));
                    input.pattern = fields.get("pattern").and_then(|n| {
                        self.regex(n, "`pattern`", crate::document::pattern::Use::Whole)
                    });
                    if let Some(n) = fields.get("choices") {
                        input.choices = self.string_list(n, "`choices`");
                    }
                }
            }
            inputs.push(input);
        }
        inputs
    }

    pub(super) fn phase(&mut self, node: &Node) -> Option<Phase> {
        let fields = self.fields(node, "a phase", PHASE_KEYS)?;
        let id = match fields.get("id") {
            Some(n) => self.id(n, "phase id", false),
            None => {
                self.missing(
                    &fields,
                    "id",
                    "this phase",
                    "give the phase an `id`, e.g. `id: security_hardening`",
                );
                None
            }
        };
        let steps = match fields.get("steps") {
            Some(n) => self.steps(n, "`steps`"),
            None => {
                self.missing(&fields, "steps", "this phase", "add the phase's `steps:`");
                Vec::new()
            }
        };
        Some(Phase {
            id: Some(id.unwrap_or_else(|| Spanned::new(String::new(), fields.span))),
            title: fields.get("title").and_then(|n| self.text(n, "`title`")),
            description: fields
                .get("description")
                .and_then(|n| self.text(n, "`description`")),
            steps,
        })
    }

    pub(super) fn steps(&mut self, node: &Node, what: &str) -> Vec<Step> {
        self.list(node, what)
            .iter()
            .filter_map(|step| self.step(step))
            .collect()
    }
}
