//! Turns the YAML node tree into the model (`model.rs`), reporting every structural
//! problem — wrong types, unknown or missing keys, bad ids, durations and actions —
//! at the node that has it, and carrying on so one pass finds them all.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::diagnostic::{Code, Diagnostic, did_you_mean};
use super::model::{
    Action, Command, Comparison, Confirm, Effect, Expect, HttpRequest, Input, Matcher, Method,
    Need, Phase, Priority, Probe, Prompt, Retry, Runbook, SetSetting, SettingRef, Spanned, Step,
    Template, Timespan, WaitFor,
};
use super::node::{Node, Span, Value};

const RUNBOOK_KEYS: &[&str] = &[
    "runbook",
    "title",
    "description",
    "owner",
    "priority",
    "estimate",
    "guide",
    "inputs",
    "steps",
    "phases",
    "rollback",
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
/// Step keys other than the action keys (`Action::KEYS`).
const STEP_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "needs",
    "when",
    "effect",
    "confirm",
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
];
const PROMPT_KEYS: &[&str] = &["message", "secret", "pattern", "choices", "default"];
const HTTP_KEYS: &[&str] = &[
    "method", "url", "headers", "bearer", "json", "body", "timeout",
];
const COMMAND_KEYS: &[&str] = &["run", "env", "cwd"];
const WAIT_KEYS: &[&str] = &["http", "command", "expect", "interval", "timeout"];
const EXPECT_KEYS: &[&str] = &[
    "status",
    "json",
    "exit_code",
    "stdout_contains",
    "body_contains",
];
const MATCHER_KEYS: &[&str] = &[
    "equals",
    "not_empty",
    "exists",
    "gt",
    "ge",
    "lt",
    "le",
    "matches",
    "len",
];
const NEED_KEYS: &[&str] = &["step", "within"];
const CONFIRM_KEYS: &[&str] = &["message", "phrase"];
const RETRY_KEYS: &[&str] = &["attempts", "delay", "backoff"];

/// Decodes a whole document. Returns `None` only when the root is not a map at all.
pub fn decode(root: &Node, source: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Runbook> {
    Decoder {
        source,
        diagnostics,
    }
    .runbook(root)
}

struct Decoder<'a> {
    source: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
}

/// The entries of one YAML map, checked for duplicate and unknown keys.
struct Fields<'n> {
    span: Span,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, _, value)| *value)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, key, _)| key.span)
    }
}

impl Decoder<'_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        let found = node.value.kind();
        self.report(
            Diagnostic::new(
                Code::WrongType,
                node.span,
                format!("{what} must be {expected}, found {found}"),
            )
            .help(format!("write {what} as {expected}")),
        );
    }

    /// Reads a map's keys, reporting duplicates and keys outside `known`.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, what, "a map");
            return None;
        };
        let mut fields = Fields {
            span: node.span,
            entries: Vec::with_capacity(entries.len()),
        };
        for (key, value) in entries {
            let Value::Str(name) = &key.value else {
                self.report(
                    Diagnostic::new(
                        Code::WrongType,
                        key.span,
                        format!("keys of {what} must be strings"),
                    )
                    .help(format!("the keys {what} takes are: {}", known.join(", "))),
                );
                continue;
            };
            if let Some(first) = fields.key_span(name) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!(
                            "`{name}` is given twice in {what} (first on line {})",
                            first.line
                        ),
                    )
                    .help("keep one of them; YAML would silently use the last"),
                );
                continue;
            }
            if !known.contains(&name.as_str()) {
                let help = match did_you_mean(name, known.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("the keys {what} takes are: {}", known.join(", ")),
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownKey,
                        key.span,
                        format!("unknown key `{name}` in {what}"),
                    )
                    .help(help),
                );
                continue;
            }
            fields.entries.push((name.as_str(), key, value));
        }
        Some(fields)
    }

    fn missing(&mut self, fields: &Fields<'_>, key: &str, what: &str, help: &str) {
        self.report(
            Diagnostic::new(
                Code::MissingKey,
                fields.span,
                format!("{what} has no `{key}`"),
            )
            .help(help.to_owned()),
        );
    }

    /// A scalar read as text: numbers and booleans keep their source spelling.
    fn text(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let text = match &node.value {
            Value::Str(text) => text.clone(),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => self
                .source
                .get(node.span.offset..node.span.offset + node.span.len)
                .map_or_else(|| scalar_text(&node.value), str::to_owned),
            _ => {
                self.wrong_type(node, what, "a string");
                return None;
            }
        };
        Some(Spanned::new(text, node.span))
    }

    fn template(&mut self, node: &Node, what: &str) -> Option<Template> {
        self.text(node, what).map(|text| Template {
            source: text.value,
            span: text.span,
        })
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<Spanned<bool>> {
        if let Value::Bool(value) = node.value {
            Some(Spanned::new(value, node.span))
        } else {
            self.wrong_type(node, what, "true or false");
            None
        }
    }

    fn integer(&mut self, node: &Node, what: &str) -> Option<Spanned<i64>> {
        if let Value::Int(value) = node.value {
            Some(Spanned::new(value, node.span))
        } else {
            self.wrong_type(node, what, "an integer");
            None
        }
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        match node.value {
            #[allow(clippy::cast_precision_loss)]
            Value::Int(value) => Some(Spanned::new(value as f64, node.span)),
            Value::Float(value) => Some(Spanned::new(value, node.span)),
            _ => {
                self.wrong_type(node, what, "a number");
                None
            }
        }
    }

    fn positive(&mut self, node: &Node, what: &str) -> Option<Spanned<u32>> {
        let value = self.integer(node, what)?;
        match u32::try_from(value.value) {
            Ok(n) if n >= 1 => Some(Spanned::new(n, value.span)),
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        node.span,
                        format!(
                            "{what} must be a whole number of at least 1, not {}",
                            value.value
                        ),
                    )
                    .help(format!("set {what} to 1 or more")),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Spanned<Timespan>> {
        if let Value::Int(_) | Value::Float(_) = node.value {
            let text = scalar_text(&node.value);
            self.report(
                Diagnostic::new(
                    Code::InvalidDuration,
                    node.span,
                    format!("{what} `{text}` has no unit"),
                )
                .help(format!("write a unit, e.g. `{text}s` or `{text}m`")),
            );
            return None;
        }
        let text = self.text(node, what)?;
        match humantime::parse_duration(text.value.trim()) {
            Ok(duration) => Some(Spanned::new(Timespan(duration), node.span)),
            Err(error) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidDuration,
                        node.span,
                        format!("{what} `{}` is not a duration: {error}", text.value),
                    )
                    .help("write a duration such as `30s`, `15m`, `1h 30m` or `500ms`"),
                );
                None
            }
        }
    }

    fn id(&mut self, node: &Node, what: &str, kebab: bool) -> Option<Spanned<String>> {
        let id = self.text(node, what)?;
        let valid = id
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && id.value.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (kebab && c == '-')
            });
        if !valid {
            let rule = if kebab {
                "a lowercase letter, then lowercase letters, digits, `_` or `-`"
            } else {
                "a lowercase letter, then lowercase letters, digits or `_`"
            };
            let suggestion = suggest_id(&id.value, kebab);
            let mut help = format!("{what} must be {rule}");
            if !suggestion.is_empty() {
                let _ = write!(help, ", e.g. `{suggestion}`");
            }
            self.report(
                Diagnostic::new(
                    Code::InvalidId,
                    node.span,
                    format!("`{}` is not a valid {what}", id.value),
                )
                .help(help),
            );
        }
        Some(id)
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.wrong_type(node, what, "a list");
                &[]
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        self.list(node, what)
            .iter()
            .filter_map(|item| self.text(item, what))
            .collect()
    }

    fn template_map(&mut self, node: &Node, what: &str) -> Vec<(Spanned<String>, Template)> {
        let Value::Map(entries) = &node.value else {
            if node.value != Value::Null {
                self.wrong_type(node, what, "a map");
            }
            return Vec::new();
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.text(key, &format!("a key of {what}")) else {
                continue;
            };
            if !seen.insert(name.value.clone()) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{}` is given twice in {what}", name.value),
                    )
                    .help("keep one of them"),
                );
                continue;
            }
            if let Some(template) = self.template(value, &format!("`{what}.{}`", name.value)) {
                out.push((name, template));
            }
        }
        out
    }

    fn regex(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let pattern = self.text(node, what)?;
        if let Err(error) = regex::Regex::new(&pattern.value) {
            let reason = error.to_string();
            let last = reason.lines().last().unwrap_or("invalid").trim().to_owned();
            self.report(
                Diagnostic::new(Code::InvalidValue, node.span, format!("{what} is not a valid regular expression: {last}"))
                    .help("fix the pattern (Rust `regex` syntax); escape literal characters such as `.` or `(` with `\\`"),
            );
        }
        Some(pattern)
    }

    fn runbook(&mut self, root: &Node) -> Option<Runbook> {
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
                self.missing(
                    &fields,
                    "runbook",
                    "the runbook",
                    "start the file with `runbook: <id>`, the file name without `.yaml`",
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
            inputs: Vec::new(),
            phases: Vec::new(),
            rollback: Vec::new(),
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
        Some(runbook)
    }

    fn priority(&mut self, node: &Node) -> Option<Spanned<Priority>> {
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

    fn inputs(&mut self, node: &Node) -> Vec<Input> {
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
                    input.pattern = fields
                        .get("pattern")
                        .and_then(|n| self.regex(n, "`pattern`"));
                    if let Some(n) = fields.get("choices") {
                        input.choices = self.string_list(n, "`choices`");
                    }
                }
            }
            inputs.push(input);
        }
        inputs
    }

    fn phase(&mut self, node: &Node) -> Option<Phase> {
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

    fn steps(&mut self, node: &Node, what: &str) -> Vec<Step> {
        self.list(node, what)
            .iter()
            .filter_map(|step| self.step(step))
            .collect()
    }

    fn step(&mut self, node: &Node) -> Option<Step> {
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
            expect: None,
        };
        step.title = fields.get("title").and_then(|n| self.text(n, "`title`"));
        step.description = fields
            .get("description")
            .and_then(|n| self.text(n, "`description`"));
        if let Some(n) = fields.get("needs") {
            step.needs = self.needs(n);
        }
        step.when = fields.get("when").and_then(|n| self.template(n, "`when`"));
        step.effect = fields.get("effect").and_then(|n| self.effect(n));
        step.confirm = fields.get("confirm").and_then(|n| self.confirm(n));
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
        step.for_each = fields
            .get("for_each")
            .and_then(|n| self.template(n, "`for_each`"));
        step.concurrency = fields
            .get("concurrency")
            .and_then(|n| self.positive(n, "`concurrency`"));
        step.expect = fields.get("expect").and_then(|n| self.expect(n));
        self.check_placement(&step, &fields);
        Some(step)
    }

    fn check_id(&mut self, name: &Spanned<String>, what: &str) {
        let node = Node {
            value: Value::Str(name.value.clone()),
            span: name.span,
        };
        self.id(&node, what, false);
    }

    /// Fields that only make sense with some actions.
    fn check_placement(&mut self, step: &Step, fields: &Fields<'_>) {
        let action = step.action.key();
        let fan_out = matches!(step.action, Action::Http(_) | Action::Command(_));
        if step.for_each.is_some() && !fan_out {
            self.misplaced(
                fields,
                "for_each",
                &format!("`for_each` repeats an `http` or `command` action, not `{action}`"),
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

    fn check_expect_kind(&mut self, expect: &Expect, http: bool) {
        let wrong: Vec<(&str, Span)> = if http {
            expect
                .exit_code
                .iter()
                .map(|e| ("exit_code", e.span))
                .chain(
                    expect
                        .stdout_contains
                        .iter()
                        .map(|t| ("stdout_contains", t.span)),
                )
                .collect()
        } else {
            expect
                .status
                .first()
                .map(|s| ("status", s.span))
                .into_iter()
                .chain(expect.json.first().map(|(path, _)| ("json", path.span)))
                .chain(
                    expect
                        .body_contains
                        .iter()
                        .map(|t| ("body_contains", t.span)),
                )
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

    fn misplaced(&mut self, fields: &Fields<'_>, key: &str, message: &str) {
        let span = fields.key_span(key).unwrap_or(fields.span);
        self.report(
            Diagnostic::new(Code::MisplacedField, span, message.to_owned())
                .help(format!("remove `{key}` from this step")),
        );
    }

    fn action(&mut self, key: &str, node: &Node) -> Option<Action> {
        Some(match key {
            "manual" => Action::Manual(self.template(node, "`manual`")?),
            "prompt" => Action::Prompt(self.prompt(node)?),
            "read_setting" => {
                let fields = self.fields(node, "`read_setting`", &["file", "key"])?;
                let (file, key) = self.file_and_key(&fields, "read_setting")?;
                Action::ReadSetting(SettingRef { file, key })
            }
            "set_setting" => {
                let fields = self.fields(node, "`set_setting`", &["file", "key", "value"])?;
                let file_key = self.file_and_key(&fields, "set_setting");
                let value = match fields.get("value") {
                    Some(n) => self.template(n, "`value`"),
                    None => {
                        self.missing(
                            &fields,
                            "value",
                            "`set_setting`",
                            "add the `value` to write",
                        );
                        None
                    }
                };
                let ((file, key), value) = (file_key?, value?);
                Action::SetSetting(SetSetting { file, key, value })
            }
            "restore_setting" => {
                Action::RestoreSetting(self.id(node, "`restore_setting`", false)?)
            }
            "http" => Action::Http(self.http(node)?),
            "command" => Action::Command(self.command(node)?),
            "wait_for" => Action::WaitFor(Box::new(self.wait_for(node)?)),
            _ => Action::Runbook(self.text(node, "`runbook`")?),
        })
    }

    fn file_and_key(
        &mut self,
        fields: &Fields<'_>,
        what: &str,
    ) -> Option<(Template, Spanned<String>)> {
        let file = match fields.get("file") {
            Some(n) => self.template(n, "`file`"),
            None => {
                self.missing(
                    fields,
                    "file",
                    &format!("`{what}`"),
                    "add the dotenv `file` to use, e.g. `file: .env`",
                );
                None
            }
        };
        let key = match fields.get("key") {
            Some(n) => self.text(n, "`key`"),
            None => {
                self.missing(
                    fields,
                    "key",
                    &format!("`{what}`"),
                    "add the `key` (variable name) in that file",
                );
                None
            }
        };
        if let Some(key) = &key {
            let valid = key
                .value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && key
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if !valid {
                self.report(
                    Diagnostic::new(Code::InvalidValue, key.span, format!("`{}` is not a dotenv variable name", key.value))
                        .help("use letters, digits and `_`, not starting with a digit, e.g. `CLOUDFLARE_API_TOKEN`"),
                );
            }
        }
        Some((file?, key?))
    }

    fn prompt(&mut self, node: &Node) -> Option<Prompt> {
        let mut prompt = Prompt {
            message: None,
            secret: None,
            pattern: None,
            choices: Vec::new(),
            default: None,
        };
        if let Value::Str(_) = node.value {
            prompt.message = self.template(node, "`prompt`");
            return Some(prompt);
        }
        let fields = self.fields(node, "`prompt`", PROMPT_KEYS)?;
        prompt.message = fields
            .get("message")
            .and_then(|n| self.template(n, "`message`"));
        prompt.secret = fields
            .get("secret")
            .and_then(|n| self.boolean(n, "`secret`"));
        prompt.pattern = fields
            .get("pattern")
            .and_then(|n| self.regex(n, "`pattern`"));
        if let Some(n) = fields.get("choices") {
            prompt.choices = self.string_list(n, "`choices`");
        }
        prompt.default = fields
            .get("default")
            .and_then(|n| self.template(n, "`default`"));
        Some(prompt)
    }

    fn http(&mut self, node: &Node) -> Option<HttpRequest> {
        if let Value::Str(_) = node.value {
            return Some(HttpRequest {
                method: None,
                url: self.template(node, "`http`")?,
                headers: Vec::new(),
                bearer: None,
                json: None,
                body: None,
                timeout: None,
            });
        }
        let fields = self.fields(node, "`http`", HTTP_KEYS)?;
        let method = fields.get("method").and_then(|n| {
            let text = self.text(n, "`method`")?;
            let method = Method::parse(&text.value);
            if method.is_none() {
                let help = match Method::parse(&text.value.to_ascii_uppercase()) {
                    Some(m) => format!("methods are upper case: did you mean `{}`?", m.as_str()),
                    None => format!("use one of {}", Method::NAMES.join(", ")),
                };
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        n.span,
                        format!("`{}` is not an HTTP method", text.value),
                    )
                    .help(help),
                );
            }
            method.map(|m| Spanned::new(m, n.span))
        });
        let url = match fields.get("url") {
            Some(n) => self.template(n, "`url`"),
            None => {
                self.missing(&fields, "url", "`http`", "add the `url` to request");
                None
            }
        };
        let headers = fields
            .get("headers")
            .map(|n| self.template_map(n, "`headers`"))
            .unwrap_or_default();
        if let (Some(_), Some(_)) = (fields.get("json"), fields.get("body")) {
            let span = fields.key_span("body").unwrap_or(fields.span);
            self.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    span,
                    "`http` takes either `json` or `body`, not both",
                )
                .help("send the payload once: `json` for a JSON body, `body` for raw text"),
            );
        }
        Some(HttpRequest {
            method,
            url: url?,
            headers,
            bearer: fields
                .get("bearer")
                .and_then(|n| self.template(n, "`bearer`")),
            json: fields.get("json").cloned(),
            body: fields.get("body").and_then(|n| self.template(n, "`body`")),
            timeout: fields
                .get("timeout")
                .and_then(|n| self.duration(n, "`timeout`")),
        })
    }

    fn command(&mut self, node: &Node) -> Option<Command> {
        if let Value::Str(_) = node.value {
            return Some(Command {
                run: self.template(node, "`command`")?,
                env: Vec::new(),
                cwd: None,
            });
        }
        if let Value::Seq(_) = node.value {
            self.wrong_type(
                node,
                "`command`",
                "a string (run by `sh -c`) or a map with `run`",
            );
            return None;
        }
        let fields = self.fields(node, "`command`", COMMAND_KEYS)?;
        let run = match fields.get("run") {
            Some(n) => self.template(n, "`run`"),
            None => {
                self.missing(
                    &fields,
                    "run",
                    "`command`",
                    "add `run:` with the command line",
                );
                None
            }
        };
        let env = fields
            .get("env")
            .map(|n| self.template_map(n, "`env`"))
            .unwrap_or_default();
        Some(Command {
            run: run?,
            env,
            cwd: fields.get("cwd").and_then(|n| self.template(n, "`cwd`")),
        })
    }

    fn wait_for(&mut self, node: &Node) -> Option<WaitFor> {
        let fields = self.fields(node, "`wait_for`", WAIT_KEYS)?;
        let probe = match (fields.get("http"), fields.get("command")) {
            (Some(http), None) => self.http(http).map(Probe::Http),
            (None, Some(command)) => self.command(command).map(Probe::Command),
            (Some(_), Some(_)) => {
                let span = fields.key_span("command").unwrap_or(fields.span);
                self.report(
                    Diagnostic::new(
                        Code::TwoActions,
                        span,
                        "`wait_for` polls one thing: `http` or `command`, not both",
                    )
                    .help("split the wait into two steps"),
                );
                None
            }
            (None, None) => {
                self.missing(
                    &fields,
                    "http",
                    "`wait_for`",
                    "say what to poll: `http: {url: …}` or `command: …`",
                );
                None
            }
        };
        let expect = fields.get("expect").and_then(|n| self.expect(n));
        if let (Some(expect), Some(probe)) = (&expect, &probe) {
            self.check_expect_kind(expect, matches!(probe, Probe::Http(_)));
        }
        Some(WaitFor {
            span: fields.span,
            probe: probe?,
            expect,
            interval: fields
                .get("interval")
                .and_then(|n| self.duration(n, "`interval`")),
            timeout: fields
                .get("timeout")
                .and_then(|n| self.duration(n, "`timeout`")),
        })
    }

    fn expect(&mut self, node: &Node) -> Option<Expect> {
        let fields = self.fields(node, "`expect`", EXPECT_KEYS)?;
        let mut expect = Expect {
            span: fields.span,
            ..Expect::default()
        };
        if let Some(n) = fields.get("status") {
            let items: Vec<&Node> = match &n.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![n],
            };
            for item in items {
                if let Some(status) = self.integer(item, "`status`") {
                    if (100..=599).contains(&status.value) {
                        expect.status.push(status);
                    } else {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidValue,
                                item.span,
                                format!("{} is not an HTTP status", status.value),
                            )
                            .help("an HTTP status is between 100 and 599"),
                        );
                    }
                }
            }
        }
        if let Some(n) = fields.get("json") {
            self.json_expectations(n, "", &mut expect.json);
        }
        expect.exit_code = fields
            .get("exit_code")
            .and_then(|n| self.integer(n, "`exit_code`"));
        expect.stdout_contains = fields
            .get("stdout_contains")
            .and_then(|n| self.template(n, "`stdout_contains`"));
        expect.body_contains = fields
            .get("body_contains")
            .and_then(|n| self.template(n, "`body_contains`"));
        Some(expect)
    }

    /// `json:` maps dotted paths to values or matchers; a nested map that is not a
    /// matcher continues the path, so `{result: {status: active}}` reads as
    /// `{result.status: active}`.
    fn json_expectations(
        &mut self,
        node: &Node,
        prefix: &str,
        out: &mut Vec<(Spanned<String>, Matcher)>,
    ) {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                "`expect.json`",
                "a map of JSON paths to expected values",
            );
            return;
        };
        for (key, value) in entries {
            let Some(part) = self.text(key, "a JSON path") else {
                continue;
            };
            let path = if prefix.is_empty() {
                part.value.clone()
            } else {
                format!("{prefix}.{}", part.value)
            };
            if path.split('.').any(str::is_empty) {
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        key.span,
                        format!("`{path}` is not a JSON path"),
                    )
                    .help("write the path as names and indexes joined by dots, e.g. `result.0.id`"),
                );
                continue;
            }
            let path = Spanned::new(path, key.span);
            match &value.value {
                Value::Map(inner) if is_matcher(inner) => {
                    if let Some(matcher) = self.matcher(value) {
                        out.push((path, matcher));
                    }
                }
                Value::Map(inner) if !inner.is_empty() => {
                    self.json_expectations(value, &path.value, out);
                }
                _ => out.push((path, Matcher::Equals(value.clone()))),
            }
        }
    }

    fn matcher(&mut self, node: &Node) -> Option<Matcher> {
        let fields = self.fields(node, "a JSON matcher", MATCHER_KEYS)?;
        if fields.entries.len() != 1 {
            self.report(
                Diagnostic::new(Code::InvalidValue, fields.span, "a JSON matcher has exactly one key")
                    .help("split the checks: one path per matcher, or use `{equals: …}` to compare a whole object"),
            );
            return None;
        }
        let (key, _, value) = fields.entries[0];
        Some(match key {
            "equals" => Matcher::Equals(value.clone()),
            "not_empty" => Matcher::NotEmpty(self.boolean(value, "`not_empty`")?.value),
            "exists" => Matcher::Exists(self.boolean(value, "`exists`")?.value),
            "matches" => Matcher::Matches(self.regex(value, "`matches`")?),
            "len" => {
                let len = self.integer(value, "`len`")?;
                let Ok(n) = u64::try_from(len.value) else {
                    self.report(
                        Diagnostic::new(Code::InvalidValue, value.span, "`len` cannot be negative")
                            .help("give a length of 0 or more"),
                    );
                    return None;
                };
                Matcher::Len(Spanned::new(n, len.span))
            }
            op => {
                let comparison = match op {
                    "gt" => Comparison::Gt,
                    "ge" => Comparison::Ge,
                    "lt" => Comparison::Lt,
                    _ => Comparison::Le,
                };
                Matcher::Compare(comparison, self.number(value, &format!("`{op}`"))?)
            }
        })
    }

    fn needs(&mut self, node: &Node) -> Vec<Need> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Str(_) => vec![node],
            _ => {
                self.wrong_type(node, "`needs`", "a list of step ids");
                return Vec::new();
            }
        };
        let mut needs = Vec::new();
        for item in items {
            if let Value::Map(_) = item.value {
                let Some(fields) = self.fields(item, "a `needs` entry", NEED_KEYS) else {
                    continue;
                };
                let Some(step) = fields.get("step") else {
                    self.missing(
                        &fields,
                        "step",
                        "this `needs` entry",
                        "name the step: `{step: verify, within: 30m}`",
                    );
                    continue;
                };
                let within = fields
                    .get("within")
                    .and_then(|n| self.duration(n, "`within`"));
                if let Some(step) = self.text(step, "`step`") {
                    needs.push(Need { step, within });
                }
            } else if let Some(step) = self.text(item, "a `needs` entry") {
                needs.push(Need { step, within: None });
            }
        }
        needs
    }

    fn effect(&mut self, node: &Node) -> Option<Spanned<Effect>> {
        let text = self.text(node, "`effect`")?;
        if let Some(effect) = Effect::parse(&text.value) {
            return Some(Spanned::new(effect, node.span));
        }
        let help = match did_you_mean(&text.value, Effect::NAMES) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("an effect is one of: {}", Effect::NAMES.join(", ")),
        };
        self.report(
            Diagnostic::new(
                Code::InvalidValue,
                node.span,
                format!("`{}` is not an effect", text.value),
            )
            .help(help),
        );
        None
    }

    fn confirm(&mut self, node: &Node) -> Option<Confirm> {
        if let Value::Bool(yes) = node.value {
            return yes.then_some(Confirm {
                span: node.span,
                message: None,
                phrase: None,
            });
        }
        let fields = self.fields(node, "`confirm`", CONFIRM_KEYS)?;
        Some(Confirm {
            span: fields.span,
            message: fields
                .get("message")
                .and_then(|n| self.template(n, "`message`")),
            phrase: fields
                .get("phrase")
                .and_then(|n| self.template(n, "`phrase`")),
        })
    }

    fn retry(&mut self, node: &Node) -> Option<Retry> {
        let fields = self.fields(node, "`retry`", RETRY_KEYS)?;
        let Some(attempts) = fields.get("attempts") else {
            self.missing(
                &fields,
                "attempts",
                "`retry`",
                "say how many `attempts` in all, e.g. `attempts: 3`",
            );
            return None;
        };
        let attempts = self.positive(attempts, "`attempts`");
        let delay = fields
            .get("delay")
            .and_then(|n| self.duration(n, "`delay`"));
        let backoff = fields.get("backoff").and_then(|n| {
            let factor = self.number(n, "`backoff`")?;
            if factor.value < 1.0 || !factor.value.is_finite() {
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        n.span,
                        format!("`backoff` {} would shrink the delay", factor.value),
                    )
                    .help(
                        "`backoff` multiplies each delay: use 1 for a fixed delay, 2 to double it",
                    ),
                );
                return None;
            }
            Some(factor)
        });
        Some(Retry {
            span: fields.span,
            attempts: attempts?,
            delay,
            backoff,
        })
    }

    fn explain(&mut self, node: &Node) -> Vec<(Spanned<i64>, Template)> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                "`explain`",
                "a map of status or exit codes to messages",
            );
            return Vec::new();
        };
        let mut out: Vec<(Spanned<i64>, Template)> = Vec::new();
        for (key, value) in entries {
            let code = match &key.value {
                Value::Int(code) => Some(*code),
                Value::Str(text) => text.trim().parse().ok(),
                _ => None,
            };
            let Some(code) = code else {
                self.report(
                    Diagnostic::new(
                        Code::WrongType,
                        key.span,
                        "keys of `explain` must be status or exit codes",
                    )
                    .help("write e.g. `401: The token is invalid.`"),
                );
                continue;
            };
            if out.iter().any(|(seen, _)| seen.value == code) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{code}` is explained twice"),
                    )
                    .help("keep one message"),
                );
                continue;
            }
            if let Some(message) = self.template(value, "an `explain` message") {
                out.push((Spanned::new(code, key.span), message));
            }
        }
        out
    }
}

fn is_matcher(entries: &[(Node, Node)]) -> bool {
    entries
        .iter()
        .any(|(key, _)| matches!(&key.value, Value::Str(k) if MATCHER_KEYS.contains(&k.as_str())))
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Str(text) => text.clone(),
        Value::Int(n) => n.to_string(),
        Value::Float(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A valid id close to an invalid one: `Restart-Service` → `restart_service`.
fn suggest_id(text: &str, kebab: bool) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (kebab && c == '-') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out
        .trim_matches('_')
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
    trimmed.to_owned()
}
