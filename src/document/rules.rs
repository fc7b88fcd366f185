//! The checks that need the whole runbook: ids and references, templates, gates
//! and the evidence rule, child runbooks, secrets and hygiene warnings. Each rule
//! reports with its own code (`diagnostic.rs`) and goes on, so one pass finds all.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

// foldhash: these maps hash every template and name of a file, and SipHash was
// 5% of `validate`'s instructions. Still seeded per process.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use minijinja::Environment;
use regex::Regex;

use super::diagnostic::{Code, Diagnostic, Suggestions, did_you_mean};
use super::evidence::{self, Finding};
use super::model::{Action, Effect, HttpRequest, Probe, Runbook, Spanned, Step, Template};
use super::node::{Node, Span, Value};
use super::templates::Stage;
use super::{children, locate, token};
use crate::output;
use crate::template::{self, mask};

mod approval;
mod child;
mod effects;
mod tls;

/// Names a template may start with besides its context (`inputs`, `steps`, …):
/// `MiniJinja`'s global functions.
const GLOBAL_FUNCTIONS: &[&str] = &["range", "dict", "namespace", "debug", "loop"];
const RUN_FIELDS: &[&str] = &["id", "started_at", "operator"];
/// Results every step has, whatever its action.
const COMMON_RESULTS: &[&str] = &[
    "outcome",
    "reason",
    "outputs",
    "results",
    "started_at",
    "finished_at",
];

/// Everything the rules look at.
pub struct Context<'a> {
    pub path: &'a Path,
    pub text: &'a str,
    pub root: &'a Node,
    pub runbook: &'a Runbook,
    /// Whether some step could not be fully read (no id, no action, a bad
    /// effect): the evidence rule then waits, since a step it would reason about
    /// is missing or half-read.
    pub incomplete: bool,
}

pub fn check(cx: &Context<'_>, diagnostics: &mut Vec<Diagnostic>) {
    let mut rules = Rules {
        cx,
        env: &ENVIRONMENT,
        out: diagnostics,
        used_inputs: HashSet::new(),
        references: HashMap::new(),
        unknown_calls: HashMap::new(),
        first: HashMap::new(),
        step_ids: Suggestions::new(Vec::new()),
        secrets: Secrets::of(cx.runbook),
        interfaces: HashMap::new(),
    };
    rules.run();
}

/// The template environment the rules check against, made once for every file
/// (`validate DIR` checks thousands, on several threads).
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(template::environment);

struct Rules<'a, 'b> {
    cx: &'a Context<'a>,
    env: &'static Environment<'static>,
    out: &'b mut Vec<Diagnostic>,
    used_inputs: HashSet<String>,
    /// What each template text reads, by text: runbooks repeat their templates
    /// (`{{ inputs.api_base }}/…`), and compiling one is most of the rules' time.
    references: HashMap<String, Result<Vec<String>, template::SyntaxError>>,
    /// The filters and tests each template text uses that do not exist, by text.
    unknown_calls: HashMap<String, Vec<template::UnknownCall>>,
    /// Where each step id first occurs among all steps (main, then rollback): every
    /// `earlier` list is a prefix of that order, so "is `x` an earlier step" is one
    /// lookup, not a scan (which made long files quadratic).
    first: HashMap<&'a str, usize>,
    /// Every step id in that order, for did-you-mean among the earlier ones.
    step_ids: Suggestions<'a>,
    secrets: Secrets,
    /// What each child runbook takes and gives, by file, read once.
    interfaces: HashMap<PathBuf, Option<children::Interface>>,
}

/// The template paths that hold a secret (`inputs.token`, `steps.old.value`),
/// and every path above one (`steps.old`, `steps`): reading either reads the
/// secret. Looked up by path, so a long runbook costs no more per step.
struct Secrets {
    paths: HashSet<String>,
    parents: HashSet<String>,
}

impl Secrets {
    fn of(runbook: &super::model::Runbook) -> Secrets {
        let inputs = runbook
            .inputs
            .iter()
            .filter(|input| input.secret.as_ref().is_some_and(|s| s.value))
            .map(|input| format!("inputs.{}", input.name.value));
        let results = runbook.all_steps().flat_map(|step| {
            step.secret_fields()
                .iter()
                .map(|field| format!("steps.{}.{field}", step.id.value))
        });
        let paths: HashSet<String> = inputs.chain(results).collect();
        let parents = paths
            .iter()
            .flat_map(|path| path.match_indices('.').map(|(at, _)| path[..at].to_owned()))
            .collect();
        Secrets { paths, parents }
    }

    /// Whether reading `reference` reads a secret: the secret itself, a part
    /// of it, or what holds it.
    fn read_by(&self, reference: &str) -> bool {
        self.parents.contains(reference)
            || std::iter::once(reference.len())
                .chain(reference.match_indices('.').map(|(at, _)| at))
                .any(|end| self.paths.contains(&reference[..end]))
    }
}

/// Where a template sits, which decides what it may reference.
struct Scope<'s> {
    /// Steps that have run before this one (in order).
    earlier: &'s [&'s Step],
    /// The step the template belongs to, if any.
    this: Option<&'s Step>,
    /// Whether the template may read the step's own results (`outputs`, `explain`).
    own_results: bool,
    /// Whether `item` is defined (templates of a `for_each` step).
    item: bool,
}

impl Rules<'_, '_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.out.push(diagnostic);
    }

    fn run(&mut self) {
        let runbook = self.cx.runbook;
        let all: Vec<&Step> = runbook.all_steps().collect();
        for (i, step) in all.iter().enumerate() {
            self.first.entry(step.id.value.as_str()).or_insert(i);
        }
        self.step_ids = Suggestions::new(all.iter().map(|s| s.id.value.as_str()).collect());
        self.duplicate_ids(&all);
        self.phase_ids();
        self.answers_shadowing_inputs(&all);
        for input in &runbook.inputs {
            if let Some(default) = &input.default {
                let scope = Scope {
                    earlier: &[],
                    this: None,
                    own_results: false,
                    item: false,
                };
                self.template(default, &scope, "input default");
            }
        }
        for (index, step) in all.iter().enumerate() {
            self.step(step, &all[..index]);
        }
        // A runbook's outputs are rendered after its main steps, for its parent.
        let main: Vec<&Step> = runbook.steps().collect();
        for (_, template) in &runbook.outputs {
            let scope = Scope {
                earlier: &main,
                this: None,
                own_results: false,
                item: false,
            };
            self.template(template, &scope, "the runbook's `outputs`");
        }
        self.unused_inputs();
        self.literal_secrets();
        self.control_characters();
        self.id_matches_file_name();
        if !self.cx.incomplete {
            // One pass over main and rollback: a main step's needs name only
            // earlier steps, so the rollback changes nothing the main steps see.
            self.evidence(&all);
        }
    }

    /// The first step among `earlier` (a prefix of all steps) with this id.
    fn earlier<'s>(&self, earlier: &[&'s Step], id: &str) -> Option<&'s Step> {
        let &index = self.first.get(id)?;
        earlier.get(index).copied()
    }

    fn duplicate_ids(&mut self, steps: &[&Step]) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for step in steps {
            let id = step.id.value.as_str();
            if id.is_empty() {
                continue;
            }
            if let Some(first) = seen.get(id) {
                let line = first.line;
                self.report(
                    Diagnostic::new(Code::DuplicateId, step.id.span, format!("step id `{id}` is already used on line {line}"))
                        .help("step ids are unique across the whole file, rollback included: rename one of them"),
                );
            } else {
                seen.insert(id, step.id.span);
            }
        }
    }

    /// An answer is looked up by name, and a step answered by its id takes the
    /// one given for the input of that name: the input could never be given.
    fn answers_shadowing_inputs(&mut self, steps: &[&Step]) {
        for step in steps.iter().filter(|s| s.action.answered_by_id()) {
            let id = &step.id.value;
            if let Some(input) = self.cx.runbook.input(id) {
                let line = input.name.span.line;
                self.report(
                    Diagnostic::new(
                        Code::AnswerShadowsInput,
                        step.id.span,
                        format!("{} step `{id}` has the name of the input `{id}` on line {line}: an answer for `{id}` (`--set`, the answers file, the environment) goes to the step, so the input can never be given", step.action.key()),
                    )
                    .help("rename the step or the input"),
                );
            }
        }
    }

    fn phase_ids(&mut self) {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for phase in &self.cx.runbook.phases {
            let Some(id) = &phase.id else { continue };
            if id.value.is_empty() {
                continue;
            }
            if let Some(first) = seen.get(id.value.as_str()) {
                let line = first.line;
                self.report(
                    Diagnostic::new(
                        Code::DuplicateId,
                        id.span,
                        format!("phase id `{}` is already used on line {line}", id.value),
                    )
                    .help("give each phase its own id"),
                );
            } else {
                seen.insert(&id.value, id.span);
            }
        }
    }

    fn step(&mut self, step: &Step, earlier: &[&Step]) {
        self.needs(step, earlier);
        let scope = Scope {
            earlier,
            this: Some(step),
            own_results: false,
            // A `for_each` that could not be read is reported already.
            item: step.for_each.is_some() || step.unread("for_each"),
        };
        let before = Scope {
            item: false,
            ..scope
        };
        let after = Scope {
            own_results: true,
            ..scope
        };
        for found in step.templates() {
            let scope = match found.stage {
                Stage::Gate | Stage::Confirm => &before,
                Stage::Action => &scope,
                Stage::After => &after,
            };
            self.template(&found.template, scope, found.place);
        }
        self.action_rules(step, earlier);
        self.effects(step);
        self.approval(step);
        self.tls(step);
        self.secret_on_command_line(step);
    }

    /// A secret written into a command line is shown by `ps` and
    /// `/proc/*/cmdline` to every user of the machine while the command runs —
    /// the reason `--set` is refused for secrets. The command's `env` is not.
    fn secret_on_command_line(&mut self, step: &Step) {
        if self.secrets.paths.is_empty() {
            return;
        }
        for line in step.command_lines() {
            // Every template was analysed by `template` before this rule runs.
            let Some(Ok(references)) = self.references.get(&line.source) else {
                continue;
            };
            let leaked: Vec<String> = references
                .iter()
                .filter(|r| self.secrets.read_by(r) && !only_masked(&line.source, r))
                .cloned()
                .collect();
            for reference in leaked {
                let variable = reference
                    .rsplit('.')
                    .find(|part| *part != "value")
                    .unwrap_or("SECRET")
                    .to_uppercase();
                self.report(
                Diagnostic::new(
                    Code::SecretOnCommandLine,
                    locate::needle(self.cx.text, line, &reference),
                    format!("the secret `{reference}` is written into a command line, which `ps` and /proc show to every user of the machine"),
                )
                .help(format!("pass it in the command's environment instead: `env: {{ {variable}: \"{{{{ {reference} }}}}\" }}`, and write `\"${variable}\"` in the command")),
            );
            }
        }
    }

    fn needs(&mut self, step: &Step, earlier: &[&Step]) {
        for need in &step.needs {
            let name = need.step.value.as_str();
            if self.earlier(earlier, name).is_some() {
                continue;
            }
            if name == step.id.value {
                self.report(
                    Diagnostic::new(
                        Code::LaterNeed,
                        need.step.span,
                        format!("step `{name}` needs itself"),
                    )
                    .help("`needs` names earlier steps whose outcome this step depends on"),
                );
            } else if self.first.contains_key(name) {
                self.report(
                    Diagnostic::new(
                        Code::LaterNeed,
                        need.step.span,
                        format!("`{name}` comes after step `{}`", step.id.value),
                    )
                    .help(format!(
                        "`needs` names earlier steps only: move `{name}` before `{}`",
                        step.id.value
                    )),
                );
            } else {
                let help = match self.step_ids.closest(name, earlier.len()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => "`needs` names the id of an earlier step".to_owned(),
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownNeed,
                        need.step.span,
                        format!("no step `{name}` to need"),
                    )
                    .help(help),
                );
            }
        }
    }

    /// A `restore_*` step names an earlier step of the action it undoes.
    fn restore_target(
        &mut self,
        target: &Spanned<String>,
        earlier: &[&Step],
        (restore, writer, code): (&str, &str, Code),
        writes: fn(&Action) -> bool,
    ) {
        match self.earlier(earlier, &target.value) {
            Some(s) if writes(&s.action) => {}
            Some(s) => self.report(
                Diagnostic::new(
                    code,
                    target.span,
                    format!(
                        "`{}` is a `{}` step, not a `{writer}`",
                        target.value,
                        s.action.key()
                    ),
                )
                .help(format!(
                    "`{restore}` names the `{writer}` step whose change it undoes"
                )),
            ),
            None => {
                let writers = earlier.iter().filter(|s| writes(&s.action));
                let help = match did_you_mean(&target.value, writers.map(|s| s.id.value.as_str())) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("`{restore}` names an earlier `{writer}` step"),
                };
                self.report(
                    Diagnostic::new(
                        code,
                        target.span,
                        format!("no earlier `{writer}` step `{}` to restore", target.value),
                    )
                    .help(help),
                );
            }
        }
    }

    fn action_rules(&mut self, step: &Step, earlier: &[&Step]) {
        let id = &step.id.value;
        let polls_command =
            matches!(&step.action, Action::WaitFor(w) if matches!(w.probe, Probe::Command(_)));
        if (matches!(step.action, Action::Command(_)) || polls_command)
            && step.effect.is_none()
            && !step.unread("effect")
        {
            let message = if polls_command {
                format!("`wait_for` step `{id}` polls a command and does not declare its effect")
            } else {
                format!("command step `{id}` does not declare its effect")
            };
            self.report(
                Diagnostic::new(Code::UndeclaredEffect, step.action_span, message)
                    .help("a command can do anything: add `effect: probe` if it only reads, `change` or `irreversible` if not"),
            );
        }
        if let Some(effect) = &step.effect
            && effect.value == Effect::Notify
            && !matches!(step.action, Action::Http(_) | Action::Command(_))
        {
            let key = step.action.key();
            self.report(
                Diagnostic::new(Code::NotifyMisplaced, effect.span, format!("a `{key}` step cannot be `notify`: only an `http` request or a `command` tells people"))
                    .help("declare `notify` on the webhook or message step, and give this step its own effect (or none)"),
            );
        }
        if step.effect() == Some(Effect::Irreversible) && step.confirm.is_none() {
            let span = step.effect.as_ref().map_or(step.action_span, |e| e.span);
            self.report(
                Diagnostic::new(Code::IrreversibleWithoutConfirm, span, format!("irreversible step `{id}` has no `confirm`"))
                    .help("add `confirm: true`, or `confirm: {phrase: …}` to make the operator type something"),
            );
        }
        if step.effect() == Some(Effect::Irreversible)
            && let Some(retry) = &step.retry
        {
            self.report(
                Diagnostic::new(Code::RetryIrreversible, retry.span, format!("irreversible step `{id}` has `retry`: one confirmation would let it run again after a failed attempt that may have done it"))
                    .help("remove `retry`: an irreversible step runs once per confirmation; retry the probe before it (or a `wait_for` after it) instead"),
            );
        }
        match &step.action {
            Action::RestoreSetting(target) => self.restore_target(
                target,
                earlier,
                ("restore_setting", "set_setting", Code::BadRestore),
                |action| matches!(action, Action::SetSetting(_)),
            ),
            Action::RestoreFile(target) => self.restore_target(
                target,
                earlier,
                ("restore_file", "write_file", Code::BadRestoreFile),
                |action| matches!(action, Action::WriteFile(_)),
            ),
            Action::Manual(_)
            | Action::Prompt(_)
            | Action::ReadSetting(_)
            | Action::SetSetting(_)
            | Action::WriteFile(_)
            | Action::GenerateSecret(_)
            | Action::Http(_)
            | Action::Command(_)
            | Action::WaitFor(_)
            | Action::Runbook(_) => {}
        }
        if let Action::Runbook(path) = &step.action {
            self.child(path);
            self.child_inputs(step);
        }
        for request in http_requests(step) {
            self.plain_http(&request.url);
            if let Some(bearer) = &request.bearer
                && bearer.is_literal()
                && !bearer.source.is_empty()
            {
                self.report(
                    Diagnostic::new(Code::LiteralSecret, bearer.span, format!("`bearer` holds a literal token ({})", mask(&bearer.source)))
                        .help("never write a token into a runbook: declare a `secret: true` input and use `bearer: \"{{ inputs.token }}\"`"),
                );
            }
            for (name, value) in &request.headers {
                if is_credential_header(&name.value)
                    && value.is_literal()
                    && !value.source.trim().is_empty()
                {
                    let name = &name.value;
                    let example = if name.eq_ignore_ascii_case("authorization") {
                        "Bearer {{ inputs.token }}"
                    } else {
                        "{{ inputs.token }}"
                    };
                    self.report(
                        Diagnostic::new(Code::LiteralSecret, value.span, format!("the `{name}` header holds a literal credential ({})", mask(&value.source)))
                            .help(format!("take the credential from a `secret: true` input: `{name}: \"{example}\"`")),
                    );
                }
            }
        }
    }

    fn child(&mut self, path: &super::model::Spanned<String>) {
        let base = parent_dir(self.cx.path);
        let target = base.join(&path.value);
        if !target.is_file() {
            let help = match sibling_names(&target) {
                Some(close) => {
                    format!("did you mean `{close}`? (paths are relative to this file's directory)")
                }
                None => format!(
                    "paths are relative to this file's directory, `{}`",
                    base.display()
                ),
            };
            self.report(
                Diagnostic::new(
                    Code::ChildNotFound,
                    path.span,
                    format!("child runbook `{}` does not exist", path.value),
                )
                .help(help),
            );
            return;
        }
        let mut chain: Vec<PathBuf> = vec![canonical(self.cx.path)];
        match children::find_cycle(&target, &mut chain) {
            Ok(None) => {}
            Ok(Some(cycle)) => {
                let names: Vec<String> = cycle
                    .iter()
                    .map(|p| {
                        p.file_name().map_or_else(
                            || p.display().to_string(),
                            |n| n.to_string_lossy().into_owned(),
                        )
                    })
                    .collect();
                self.report(
                    Diagnostic::new(Code::IncludeCycle, path.span, format!("running `{}` would never end: {}", path.value, names.join(" → ")))
                        .help("a runbook cannot run itself, directly or through its children: remove one link of the cycle"),
                );
            }
            Err(problem) => {
                self.report(
                    Diagnostic::new(
                        Code::ChildInvalid,
                        path.span,
                        format!("child runbook `{}` cannot be loaded: {problem}", path.value),
                    )
                    .help(format!(
                        "run `runbook validate {}` to see its problems",
                        target.display()
                    )),
                );
            }
        }
    }

    fn plain_http(&mut self, url: &Template) {
        if let Some(host) = plain_http_host(&url.source)
            && !is_loopback(host)
        {
            self.report(
                Diagnostic::new(
                    Code::PlainHttp,
                    url.span,
                    format!("`{host}` is reached over plain http://"),
                )
                .help("use https:// so tokens and responses are not sent in the clear"),
            );
        }
    }

    /// Syntax and references of one template.
    fn template(&mut self, template: &Template, scope: &Scope<'_>, place: &str) {
        let env = self.env;
        let known = cached(&mut self.references, &template.source, || {
            template::references(env, &template.source)
        });
        let references = match known {
            Ok(references) => references,
            Err(error) => {
                let span = match &error.range {
                    Some(range) => {
                        locate::within(self.cx.text, template.span, &template.source, range.clone())
                    }
                    None => template.span,
                };
                self.report(
                    Diagnostic::new(Code::TemplateSyntax, span, format!("template syntax error in {place}: {}", error.message))
                        .help("templates use MiniJinja syntax: `{{ inputs.name }}`, `{{ steps.id.value | last4 }}`"),
                );
                // The inputs it names are meant to be used; saying they are unused
                // would only add noise to the one real problem.
                for name in input_names(&template.source) {
                    self.used_inputs.insert(name);
                }
                return;
            }
        };
        self.unknown_calls(template, place);
        let constant = references
            .iter()
            .all(|r| GLOBAL_FUNCTIONS.contains(&r.split('.').next().unwrap_or_default()));
        if constant && !template.is_literal() {
            self.constant_template(template, place);
        }
        for reference in references {
            self.reference(template, &reference, scope);
        }
    }

    /// Filters and tests the environment does not have: `MiniJinja` would find
    /// them only when a rendering reaches them, at run time.
    fn unknown_calls(&mut self, template: &Template, place: &str) {
        let env = self.env;
        let calls = cached(&mut self.unknown_calls, &template.source, || {
            template::unknown_calls(env, &template.source)
        });
        for call in calls {
            let span = locate::within(self.cx.text, template.span, &template.source, call.range);
            let noun = call.kind.noun();
            let help = match did_you_mean(&call.name, template::suggestions(self.env, call.kind)) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!(
                    "runbook has MiniJinja's built-in {noun}s, and the filters `last4` and `mask`"
                ),
            };
            self.report(
                Diagnostic::new(
                    Code::UnknownCall,
                    span,
                    format!("there is no {noun} `{}` (in {place})", call.name),
                )
                .help(help),
            );
        }
    }

    /// A template that reads nothing renders the same now as at run time, so a
    /// runaway one (`{{ "a" * 99999999 }}`, loops in loops) is refused here, not
    /// when `plan` or `run` gets to it. Rendering is bounded (`template.rs`), so
    /// this takes milliseconds whatever the template.
    fn constant_template(&mut self, template: &Template, place: &str) {
        let Err(error) = self
            .env
            .render_str(&template.source, minijinja::context! {})
        else {
            return;
        };
        if let Some(why) = template::exceeded(&error) {
            self.report(
                Diagnostic::new(Code::TemplateTooCostly, template.span, format!("the template in {place} cannot be rendered: {why}"))
                    .help(format!("a rendering may take {} steps and write {} MiB: shorten the loop or the repeated text", template::FUEL, template::MAX_OUTPUT / (1024 * 1024))),
            );
        }
    }

    fn reference(&mut self, template: &Template, reference: &str, scope: &Scope<'_>) {
        let mut parts = reference.split('.');
        let root = parts.next().unwrap_or_default();
        let second = parts.next();
        let third = parts.next();
        let fourth = parts.next();
        // Found only when a diagnostic needs it: most references are fine.
        let text = self.cx.text;
        let span = || locate::needle(text, template, reference);
        match root {
            "inputs" => {
                let Some(name) = second else { return };
                if self.cx.runbook.input(name).is_some() {
                    self.used_inputs.insert(name.to_owned());
                    return;
                }
                let inputs = self.cx.runbook.inputs.iter().map(|i| i.name.value.as_str());
                let help = match did_you_mean(name, inputs) {
                    Some(close) => format!("did you mean `inputs.{close}`?"),
                    None => format!("declare it under `inputs:` (`{name}: {{ description: … }}`)"),
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownInput,
                        span(),
                        format!("there is no input `{name}`"),
                    )
                    .help(help),
                );
            }
            "steps" => {
                let Some(id) = second else { return };
                self.step_reference(&span, id, third, fourth, scope);
            }
            "item" => {
                if let Some(step) = scope.this.filter(|_| scope.item) {
                    self.item_field(step, second, span());
                }
                if !scope.item {
                    self.report(
                        Diagnostic::new(
                            Code::UnknownInput,
                            span(),
                            "`item` is only defined in a `for_each` step",
                        )
                        .help("add `for_each:` to this step, or read the value from `steps.<id>`"),
                    );
                }
            }
            "run" => {
                if let Some(field) = second
                    && !RUN_FIELDS.contains(&field)
                {
                    let help = match did_you_mean(field, RUN_FIELDS.iter().copied()) {
                        Some(close) => format!("did you mean `run.{close}`?"),
                        None => format!("`run` has: {}", RUN_FIELDS.join(", ")),
                    };
                    self.report(
                        Diagnostic::new(
                            Code::UnknownInput,
                            span(),
                            format!("`run.{field}` does not exist"),
                        )
                        .help(help),
                    );
                }
            }
            "env" => {}
            name if GLOBAL_FUNCTIONS.contains(&name) => {}
            name => {
                let roots = ["inputs", "steps", "item", "run", "env"];
                let own = scope
                    .this
                    .filter(|s| scope.own_results && s.action.result_fields().contains(&name));
                let help = match did_you_mean(name, roots) {
                    _ if own.is_some() => {
                        let id = own.map_or("", |s| s.id.value.as_str());
                        format!("a step reads its own results through its id: `steps.{id}.{name}`")
                    }
                    Some(close) => format!("did you mean `{close}`?"),
                    None if self.cx.runbook.input(name).is_some() => {
                        format!("inputs are read as `inputs.{name}`")
                    }
                    None => {
                        "a template reads `inputs.*`, `steps.<id>.*`, `item`, `run.*` or `env.*`"
                            .to_owned()
                    }
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownInput,
                        span(),
                        format!("`{name}` is not defined in templates"),
                    )
                    .help(help),
                );
            }
        }
    }

    fn step_reference(
        &mut self,
        span: &dyn Fn() -> Span,
        id: &str,
        field: Option<&str>,
        output: Option<&str>,
        scope: &Scope<'_>,
    ) {
        let own = scope.this.filter(|s| s.id.value == id && scope.own_results);
        let Some(step) = own.or_else(|| self.earlier(scope.earlier, id)) else {
            if scope.this.is_some_and(|s| s.id.value == id) {
                self.report(
                    Diagnostic::new(
                        Code::UnknownStepRef,
                        span(),
                        format!("step `{id}` reads its own results before it has run"),
                    )
                    .help("only `outputs` and `explain` may read the step's own results"),
                );
            } else if self.first.contains_key(id) {
                self.report(
                    Diagnostic::new(
                        Code::UnknownStepRef,
                        span(),
                        format!("step `{id}` has not run yet at this point"),
                    )
                    .help(format!(
                        "a template reads only earlier steps: move `{id}` before this one"
                    )),
                );
            } else {
                let help = match self.step_ids.closest(id, scope.earlier.len()) {
                    Some(close) => format!("did you mean `steps.{close}`?"),
                    None => "`steps.<id>` names an earlier step".to_owned(),
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownStepRef,
                        span(),
                        format!("there is no step `{id}`"),
                    )
                    .help(help),
                );
            }
            return;
        };
        let Some(field) = field else { return };
        if step.unread("action") {
            return;
        }
        let results = step.action.result_fields();
        if field == "outputs" {
            if let Some(name) = output
                && let Some(diagnostic) = self.unknown_output(step, name, span())
            {
                self.report(diagnostic);
            }
            return;
        }
        if results.contains(&field) || COMMON_RESULTS.contains(&field) {
            return;
        }
        let candidates = results.iter().chain(COMMON_RESULTS.iter()).copied();
        let help = match did_you_mean(field, candidates) {
            Some(close) => format!("did you mean `steps.{id}.{close}`?"),
            None => format!(
                "{} `{}` step has: {}",
                article(step.action.key()),
                step.action.key(),
                results
                    .iter()
                    .chain(COMMON_RESULTS.iter())
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.report(
            Diagnostic::new(
                Code::UnknownResult,
                span(),
                format!(
                    "{} `{}` step has no result `{field}`",
                    article(step.action.key()),
                    step.action.key()
                ),
            )
            .help(help),
        );
    }

    fn unused_inputs(&mut self) {
        for input in &self.cx.runbook.inputs {
            if !self.used_inputs.contains(&input.name.value) {
                self.report(
                    Diagnostic::new(
                        Code::UnusedInput,
                        input.name.span,
                        format!("input `{}` is never used", input.name.value),
                    )
                    .help(format!(
                        "use it as `{{{{ inputs.{} }}}}` or remove it",
                        input.name.value
                    )),
                );
            }
        }
    }

    /// Tokens written into the file, and literal defaults of secret inputs.
    fn literal_secrets(&mut self) {
        for input in &self.cx.runbook.inputs {
            let secret = input.secret.as_ref().is_some_and(|s| s.value);
            if let Some(default) = input
                .default
                .as_ref()
                .filter(|d| secret && d.is_literal() && !d.source.is_empty())
            {
                self.report(
                    Diagnostic::new(Code::LiteralSecret, default.span, format!("secret input `{}` has a literal default ({})", input.name.value, mask(&default.source)))
                        .help("a secret comes from a masked prompt, an answers file or RUNBOOK_INPUT_<NAME>, never from the runbook"),
                );
            }
        }
        let mut found = Vec::new();
        scan_strings(self.cx.root, &mut |node, text| {
            if let Some(range) = token::find(text) {
                let template = Template {
                    source: text.to_owned(),
                    span: node.span,
                };
                let span = locate::needle(self.cx.text, &template, &text[range.clone()]);
                found.push((span, text[range].to_owned()));
            }
        });
        // A `bearer` or header already reported for this very value says enough.
        // The reported places are gathered once (a file of many findings must
        // not compare every token with every finding); a token reported here
        // joins them, for a value an alias or merge key repeats at one place.
        let mut reported = Covered::new(
            self.out
                .iter()
                .filter(|d| d.code == Code::LiteralSecret)
                .map(|d| d.span.offset..d.span.offset + d.span.len),
        );
        for (span, token) in found {
            if reported.covers(span.offset) {
                continue;
            }
            reported.add(span.offset..span.offset + span.len);
            self.report(
                Diagnostic::new(Code::LiteralSecret, span, format!("this looks like a Cloudflare API token ({})", mask(&token)))
                    .help("remove it (and revoke it: it is in version control now); take it from a `secret: true` input"),
            );
        }
    }

    /// Strings holding characters a terminal obeys instead of showing (an ESC
    /// sequence, a carriage return, a bidirectional override). Every output
    /// shows them escaped; the file should not hold them at all.
    fn control_characters(&mut self) {
        let mut found = Vec::new();
        scan_strings(self.cx.root, &mut |node, text| {
            // Printable ASCII, newlines and tabs (nearly every string) hide nothing.
            if text
                .bytes()
                .all(|b| matches!(b, b' '..=b'~' | b'\n' | b'\t'))
            {
                return;
            }
            let mut hidden = text.chars().filter(|c| output::is_hidden(*c));
            if let Some(first) = hidden.next() {
                found.push((node.span, first, hidden.count() + 1));
            }
        });
        for (span, first, count) in found {
            let others = match count {
                1 => String::new(),
                2 => " and 1 more".to_owned(),
                n => format!(" and {} more", n - 1),
            };
            self.report(
                Diagnostic::new(Code::ControlCharacter, span, format!("this string holds the control character U+{:04X}{others}, shown as `{}`", u32::from(first), output::printable(&first.to_string())))
                    .help("remove it: a terminal obeys such characters (moving the cursor, hiding or reordering text), so what is shown could differ from what runs"),
            );
        }
    }

    fn id_matches_file_name(&mut self) {
        let id = &self.cx.runbook.id;
        let Some(stem) = self.cx.path.file_stem().and_then(|s| s.to_str()) else {
            return;
        };
        if !id.value.is_empty() && id.value != stem {
            self.report(
                Diagnostic::new(Code::IdMismatch, id.span, format!("runbook id `{}` differs from the file name `{stem}`", id.value))
                    .help(format!("rename the id to `{stem}` (or the file), so `runbook list` and state directories agree")),
            );
        }
    }

    /// SPEC §2's evidence rule for the irreversible steps of `steps`
    /// (`evidence.rs` computes it; here are the effects and the diagnostics).
    fn evidence(&mut self, steps: &[&Step]) {
        let mut latest: HashMap<&str, usize> = HashMap::new();
        let mut needs: Vec<Vec<usize>> = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            needs.push(
                step.needs
                    .iter()
                    .filter_map(|n| latest.get(n.step.value.as_str()).copied())
                    .collect(),
            );
            latest.insert(step.id.value.as_str(), i);
        }
        let base = parent_dir(self.cx.path);
        let effects: Vec<Option<Effect>> = steps
            .iter()
            .map(|s| s.effect().or_else(|| child_effect(s, base)))
            .collect();
        let fan_outs: Vec<bool> = steps.iter().map(|s| s.for_each.is_some()).collect();
        evidence::check(&effects, &needs, &fan_outs, |i, finding| {
            let step = steps[i];
            let id = &step.id.value;
            let span = step.effect.as_ref().map_or(step.action_span, |e| e.span);
            match finding {
                Finding::NoProbe => self.out.push(
                    Diagnostic::new(Code::NoEvidence, span, format!("irreversible step `{id}` needs no probe: nothing proves it is safe to run"))
                        .help(format!("add a step that verifies the change (an `http` GET or a `wait_for`) and list it in `{id}`'s `needs`")),
                ),
                Finding::Unverified(changes) => {
                    for change in changes {
                        let name = &steps[change].id.value;
                        self.out.push(
                            Diagnostic::new(Code::UnverifiedChange, span, format!("`{name}` changes something that no probe checks before irreversible step `{id}`"))
                                .help(format!("add a probe step with `needs: [{name}]` and list it in `{id}`'s `needs`: evidence must come after the last change")),
                        );
                    }
                }
                Finding::OnlyFanOuts(probes) => {
                    self.out.push(fan_out_only_evidence(step, span, &probes, steps));
                }
            }
        });
    }
}

/// An irreversible step whose only probes are fan-outs: over zero items a
/// fan-out verifies nothing (the run then skips it and blocks the step).
fn fan_out_only_evidence(step: &Step, span: Span, probes: &[usize], steps: &[&Step]) -> Diagnostic {
    let mut names: Vec<&str> = probes.iter().map(|&j| steps[j].id.value.as_str()).collect();
    names.sort_unstable();
    let names = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let id = &step.id.value;
    Diagnostic::new(Code::FanOutOnlyEvidence, span, format!("the only evidence for irreversible step `{id}` is the fan-out {names}: over zero items it checks nothing"))
                .help(format!("also need a probe that cannot pass on nothing (the list itself, with `expect: {{json: {{result: {{not_empty: true}}}}}}`); as it is, an empty list skips {names} and blocks `{id}`"))
}

/// What `make` says of a template text, worked out once per text. Looked up
/// before inserting: a hit (the usual case) copies no key.
fn cached<T: Clone>(cache: &mut HashMap<String, T>, text: &str, make: impl FnOnce() -> T) -> T {
    if let Some(known) = cache.get(text) {
        return known.clone();
    }
    let made = make();
    cache.insert(text.to_owned(), made.clone());
    made
}

/// "a" or "an" before an action's name, as it is read aloud.
fn article(key: &str) -> &'static str {
    if key == "http" { "an" } else { "a" }
}

fn http_requests(step: &Step) -> Vec<&HttpRequest> {
    let mut out = Vec::new();
    if let Action::Http(request) = &step.action {
        out.push(request);
    }
    for wait in step.waits() {
        if let Probe::Http(request) = &wait.probe {
            out.push(request);
        }
    }
    out
}

/// The strongest effect among a child runbook's steps, if the child can be read.
/// An irreversible child counts as a change here: its own gates guard it, and what
/// the parent must prove afterwards is that the change worked.
fn child_effect(step: &Step, base: &Path) -> Option<Effect> {
    let Action::Runbook(path) = &step.action else {
        return None;
    };
    let effect = children::strongest_effect(&base.join(&path.value))?;
    Some(effect.min(Effect::Change))
}

/// The directory a file is in; `.` for a bare file name (whose parent is empty).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
}

fn sibling_names(target: &Path) -> Option<String> {
    let dir = target.parent()?;
    let wanted = target.file_name()?.to_str()?;
    let names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| {
            let path = Path::new(n);
            path.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
        })
        .collect();
    did_you_mean(wanted, names.iter().map(String::as_str)).map(str::to_owned)
}

/// Whether a header's name says it carries a credential: `Authorization`,
/// `X-Api-Key`, `X-Auth-Token`, `X-Client-Secret`, `Cookie`, … An idempotency key
/// is a request id, not a credential.
fn is_credential_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let credential = [
        "auth",
        "key",
        "token",
        "secret",
        "passw",
        "credential",
        "cookie",
    ]
    .iter()
    .any(|word| name.contains(word));
    credential && !name.contains("idempotency")
}

/// Byte ranges of the file, answering whether an offset lies in one of them in
/// `O(log n)`.
struct Covered {
    /// Starts in order, each with the furthest end of the ranges starting at
    /// or before it (ranges may nest or overlap).
    starts: Vec<(usize, usize)>,
}

impl Covered {
    fn new(ranges: impl Iterator<Item = std::ops::Range<usize>>) -> Covered {
        let mut ranges: Vec<std::ops::Range<usize>> = ranges.collect();
        ranges.sort_by_key(|range| range.start);
        let mut furthest = 0;
        let starts = ranges
            .into_iter()
            .map(|range| {
                furthest = furthest.max(range.end);
                (range.start, furthest)
            })
            .collect();
        Covered { starts }
    }

    fn covers(&self, offset: usize) -> bool {
        let after = self.starts.partition_point(|(start, _)| *start <= offset);
        after > 0 && self.starts[after - 1].1 > offset
    }

    /// Adds a range; every later `covers` sees it.
    fn add(&mut self, range: std::ops::Range<usize>) {
        let at = self
            .starts
            .partition_point(|(start, _)| *start <= range.start);
        let before = if at == 0 { 0 } else { self.starts[at - 1].1 };
        self.starts.insert(at, (range.start, before.max(range.end)));
        for entry in &mut self.starts[at + 1..] {
            if entry.1 >= range.end {
                break;
            }
            entry.1 = range.end;
        }
    }
}

fn scan_strings(node: &Node, visit: &mut impl FnMut(&Node, &str)) {
    match &node.value {
        Value::Str(text) => visit(node, text),
        Value::Seq(items) => items.iter().for_each(|item| scan_strings(item, visit)),
        Value::Map(entries) => entries.iter().for_each(|(key, value)| {
            scan_strings(key, visit);
            scan_strings(value, visit);
        }),
        _ => {}
    }
}

/// The host of a literal `http://` URL (none when the host comes from a template).
fn plain_http_host(url: &str) -> Option<&str> {
    match literal_url(url)? {
        (false, host) => Some(host),
        (true, _) => None,
    }
}

/// Whether a URL is `https://` (else `http://`) and its host, when both are
/// written out (not templated).
fn literal_url(url: &str) -> Option<(bool, &str)> {
    let url = url.trim();
    let (https, rest) = if url.get(..7)?.eq_ignore_ascii_case("http://") {
        (false, &url[7..])
    } else if url.get(..8)?.eq_ignore_ascii_case("https://") {
        (true, &url[8..])
    } else {
        return None;
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = if host.starts_with('[') {
        host.split(']').next().map_or(host, |h| &host[..=h.len()])
    } else {
        host.split(':').next().unwrap_or(host)
    };
    (!host.is_empty() && !host.contains("{{")).then_some((https, host))
}

/// The input names a template mentions, found without parsing it (for a
/// template that does not parse).
fn input_names(source: &str) -> Vec<String> {
    let pattern = Regex::new(r"inputs\.([a-z][a-z0-9_]*)").expect("the input pattern is valid");
    pattern
        .captures_iter(source)
        .map(|c| c[1].to_owned())
        .collect()
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether every mention of `reference` in `source` goes through `mask` or
/// `last4` at once (`{{ steps.key.value | mask }}`): what the command line
/// then shows is not the secret.
fn only_masked(source: &str, reference: &str) -> bool {
    source.match_indices(reference).all(|(at, _)| {
        let rest = source[at + reference.len()..].trim_start();
        rest.strip_prefix('|').is_some_and(|filter| {
            let name: String = filter
                .trim_start()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            name == "mask" || name == "last4"
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_hosts_of_plain_http_urls() {
        assert_eq!(plain_http_host("http://example.com/x"), Some("example.com"));
        assert_eq!(
            plain_http_host("http://user@10.0.0.1:8080/x"),
            Some("10.0.0.1")
        );
        assert_eq!(plain_http_host("http://[::1]:80/"), Some("[::1]"));
        assert_eq!(plain_http_host("https://example.com"), None);
        assert_eq!(plain_http_host("HTTP://Example.com/x"), Some("Example.com"));
        assert_eq!(plain_http_host("http://{{ inputs.host }}/x"), None);
        assert!(is_loopback("127.0.0.1") && is_loopback("localhost") && is_loopback("[::1]"));
        assert!(!is_loopback("example.com"));
    }

    #[test]
    fn knows_headers_that_carry_credentials() {
        for name in [
            "Authorization",
            "proxy-authorization",
            "X-Api-Key",
            "X-API-KEY",
            "apikey",
            "X-Auth-Token",
            "X-Client-Secret",
            "X-Password",
            "Cookie",
            "X-Vault-Token",
        ] {
            assert!(is_credential_header(name), "{name}");
        }
        for name in [
            "Accept",
            "Content-Type",
            "X-Request-Id",
            "Idempotency-Key",
            "Keep-Alive",
        ] {
            assert!(!is_credential_header(name), "{name}");
        }
    }
}
