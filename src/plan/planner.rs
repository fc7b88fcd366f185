//! Builds a [`Plan`] from a checked runbook and the answers known now: inputs
//! resolved (answers, then defaults), each step's target and gates rendered by
//! the placeholder [`Renderer`], child runbooks planned in place, and — with a
//! [`Prober`] — the probe steps sent for real.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;

use super::probe::Prober;
use super::render::Renderer;
use super::{
    Plan, PlannedApprove, PlannedConfirm, PlannedForEach, PlannedInput, PlannedNeed, PlannedOutput,
    PlannedPhase, PlannedStep, PlannedWhen, Summary, VERSION,
};
use crate::action::expect::Subject;
use crate::document::children;
use crate::document::model::{
    Action, Effect, Expect, FileSource, Runbook, Step, Timespan, WaitFor,
};
use crate::document::rules::parent_dir;
use crate::eval::answers::Answers;
use crate::eval::rendered;
use crate::eval::values::{RenderError, Values};

/// Child runbooks nest at most this deep in a plan; `validate` refuses cycles, so
/// this only bounds a file changed since.
const MAX_DEPTH: usize = 16;

/// The plan of `runbook` (read from `file`) with `answers`; probes are sent
/// when a `prober` is given.
pub fn plan(file: &Path, runbook: &Runbook, answers: &Answers, prober: Option<&Prober>) -> Plan {
    plan_at(file, runbook, answers, prober, 0, "", &BTreeMap::new())
}

/// `scope` is how `--confirm` names this runbook's steps: empty at the top,
/// `kid.` for the child run by step `kid`.
fn plan_at(
    file: &Path,
    runbook: &Runbook,
    answers: &Answers,
    prober: Option<&Prober>,
    depth: usize,
    scope: &str,
    placeholders: &BTreeMap<String, String>,
) -> Plan {
    let known = Known::of(runbook, answers);
    let renderer = Renderer::new(&known.inputs, &known.prompts, placeholders);
    let mut planner = Planner {
        file,
        runbook,
        answers,
        prober,
        depth,
        scope,
        renderer,
        problems: Vec::new(),
    };
    let mut number = 0;
    let phases = runbook
        .phases
        .iter()
        .map(|phase| PlannedPhase {
            id: phase.id.as_ref().map(|s| s.value.clone()),
            title: phase.title.as_ref().map(|s| s.value.clone()),
            description: phase.description.as_ref().map(|s| s.value.clone()),
            steps: phase
                .steps
                .iter()
                .map(|step| {
                    number += 1;
                    planner.step(step, number, true)
                })
                .collect(),
        })
        .collect::<Vec<_>>();
    let rollback = runbook
        .rollback
        .iter()
        .enumerate()
        .map(|(index, step)| planner.step(step, index + 1, false))
        .collect::<Vec<_>>();
    let inputs = runbook
        .inputs
        .iter()
        .map(|input| {
            let name = &input.name.value;
            let (value, secret) = known.inputs.get(name).cloned().unwrap_or((None, false));
            PlannedInput {
                name: name.clone(),
                description: input.description.as_ref().map(|d| d.value.clone()),
                secret,
                value: value.map(|v| {
                    if secret {
                        crate::template::mask(&v)
                    } else {
                        planner.renderer.redact(&v)
                    }
                }),
                source: known.sources.get(name).map(|s| (*s).to_owned()),
            }
        })
        .collect::<Vec<_>>();
    let summary = summary(&phases, &rollback, &inputs);
    Plan {
        version: VERSION,
        runbook: runbook.id.value.clone(),
        title: runbook
            .title
            .as_ref()
            .map_or_else(|| runbook.id.value.clone(), |t| t.value.clone()),
        description: runbook.description.as_ref().map(|d| d.value.clone()),
        file: file.display().to_string(),
        owner: runbook.owner.as_ref().map(|o| o.value.clone()),
        priority: runbook
            .priority
            .as_ref()
            .map(|p| p.value.as_str().to_owned()),
        estimate: runbook.estimate.as_ref().map(|e| span(e.value)),
        guide: runbook.guide.as_ref().map(|g| g.value.clone()),
        checklist: runbook.is_checklist(),
        probed: prober.is_some(),
        inputs,
        phases,
        rollback,
        summary,
        problems: planner.problems,
    }
}

fn summary(phases: &[PlannedPhase], rollback: &[PlannedStep], inputs: &[PlannedInput]) -> Summary {
    let steps: Vec<&PlannedStep> = phases.iter().flat_map(|p| p.steps.iter()).collect();
    let mut effects = BTreeMap::new();
    for step in &steps {
        *effects.entry(step.effect.clone()).or_insert(0) += 1;
    }
    Summary {
        steps: steps.len(),
        rollback_steps: rollback.len(),
        effects,
        irreversible: steps
            .iter()
            .filter(|s| s.irreversible)
            .map(|s| s.id.clone())
            .collect(),
        confirms: steps
            .iter()
            .filter(|s| s.confirm.is_some())
            .map(|s| s.id.clone())
            .collect(),
        unresolved_inputs: inputs
            .iter()
            .filter(|i| i.value.is_none())
            .map(|i| i.name.clone())
            .collect(),
    }
}

/// What is known before running: each input's value (when answered or given by
/// a default that can be rendered now) and the prompts answered up front.
pub struct Known {
    /// name → (value, secret).
    pub inputs: BTreeMap<String, (Option<String>, bool)>,
    /// name → where the value came from.
    pub sources: BTreeMap<String, &'static str>,
    /// prompt step id → (answer, secret).
    pub prompts: BTreeMap<String, (String, bool)>,
}

impl Known {
    pub fn of(runbook: &Runbook, answers: &Answers) -> Known {
        let mut inputs = BTreeMap::new();
        let mut sources = BTreeMap::new();
        for input in &runbook.inputs {
            let name = input.name.value.clone();
            let secret =
                input.secret.as_ref().is_some_and(|s| s.value) || answers.given_secret(&name);
            let value = answers.get(&name).map(|(value, source)| {
                sources.insert(name.clone(), source.as_str());
                value.to_owned()
            });
            inputs.insert(name, (value, secret));
        }
        // A default may read other inputs, so defaults are rendered in passes
        // until none more can be: what is left reads something unknown.
        loop {
            let mut values = Values::new(Json::Object(serde_json::Map::new()));
            for (name, (value, secret)) in &inputs {
                if let Some(value) = value {
                    values.set_input(name, value.clone(), *secret);
                }
            }
            let mut progress = false;
            for input in &runbook.inputs {
                let name = &input.name.value;
                let Some(default) = &input.default else {
                    continue;
                };
                if inputs.get(name).is_some_and(|(v, _)| v.is_some()) {
                    continue;
                }
                if let Ok(rendered) = values.render(&default.source, None)
                    && let Some(entry) = inputs.get_mut(name)
                {
                    entry.0 = Some(rendered.text);
                    sources.insert(name.clone(), "default");
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        let prompts = runbook
            .all_steps()
            .filter_map(|step| {
                let Action::Prompt(prompt) = &step.action else {
                    return None;
                };
                let (value, _) = answers.get(&step.id.value)?;
                let secret = prompt.secret.as_ref().is_some_and(|s| s.value)
                    || step.secret.as_ref().is_some_and(|s| s.value);
                Some((step.id.value.clone(), (value.to_owned(), secret)))
            })
            .collect();
        Known {
            inputs,
            sources,
            prompts,
        }
    }
}

struct Planner<'a> {
    file: &'a Path,
    runbook: &'a Runbook,
    answers: &'a Answers,
    prober: Option<&'a Prober>,
    depth: usize,
    scope: &'a str,
    renderer: Renderer,
    problems: Vec<String>,
}

impl Planner<'_> {
    fn step(&mut self, step: &Step, number: usize, main: bool) -> PlannedStep {
        let r = &self.renderer;
        let effect = step.effect().or_else(|| match &step.action {
            Action::Runbook(path) => {
                children::strongest_effect(&parent_dir(self.file).join(&path.value))
            }
            _ => None,
        });
        let irreversible = effect == Some(Effect::Irreversible);
        let mut details = Vec::new();
        let mut instructions = None;
        let mut child = None;
        let mut expect = Vec::new();
        let target = match &step.action {
            Action::Manual(text) => {
                instructions = Some(r.text(&text.source));
                "the operator does it, then answers done, defer (with a reason) or abort".to_owned()
            }
            Action::Prompt(prompt) => {
                let message = prompt
                    .message
                    .as_ref()
                    .map_or_else(|| step.title_or_id(), |m| r.text(&m.source));
                let secret = !step.secret_fields().is_empty();
                if secret {
                    details.push("secret: typed without echo, shown masked".to_owned());
                }
                if let Some(pattern) = &prompt.pattern {
                    details.push(format!("must match `{}`", pattern.value));
                }
                if !prompt.choices.is_empty() {
                    let choices: Vec<&str> =
                        prompt.choices.iter().map(|c| c.value.as_str()).collect();
                    details.push(format!("one of: {}", choices.join(", ")));
                }
                if let Some(default) = &prompt.default {
                    details.push(format!("default {}", r.text(&default.source)));
                }
                if let Some((value, source)) = self.answers.get(&step.id.value) {
                    let shown = if secret {
                        crate::template::mask(value)
                    } else {
                        r.redact(value)
                    };
                    details.push(format!("answered from {source}: {shown}"));
                }
                format!("ask \"{message}\"")
            }
            Action::ReadSetting(setting) => format!(
                "read {} from {}",
                setting.key.value,
                r.text(&setting.file.source)
            ),
            Action::SetSetting(setting) => {
                for (key, value) in &setting.values {
                    details.push(format!("{} = {}", key.value, r.text(&value.source)));
                }
                details.push(
                    "atomically (every key in one write), every other line kept; the previous file is backed up for restore_setting"
                        .to_owned(),
                );
                format!(
                    "set {} in {}",
                    setting.keys_text(),
                    r.text(&setting.file.source)
                )
            }
            Action::RestoreSetting(target) => {
                let written = self.runbook.all_steps().find_map(|s| match &s.action {
                    Action::SetSetting(set) if s.id.value == target.value => Some(set),
                    _ => None,
                });
                match written {
                    Some(set) => format!(
                        "restore {} in {} as it was before `{}`",
                        set.keys_text(),
                        r.text(&set.file.source),
                        target.value
                    ),
                    None => format!("restore what `{}` replaced", target.value),
                }
            }
            Action::WriteFile(file) => {
                match &file.source {
                    FileSource::Content(content) => {
                        let text = r.text(&content.source);
                        let lines = text.lines().count();
                        let first = text.lines().next().unwrap_or_default();
                        details.push(match lines {
                            0 | 1 => format!("content {first:?}"),
                            n => format!("content {first:?} … ({n} lines)"),
                        });
                    }
                    FileSource::From(from) => {
                        details.push(format!("content copied from {}", r.text(&from.source)));
                    }
                }
                details.push(match &file.mode {
                    Some(mode) => format!("mode {:04o}", mode.value),
                    None => "mode kept (0600 for a new file)".to_owned(),
                });
                details
                    .push("atomically; the previous file is backed up for restore_file".to_owned());
                format!("write {}", r.text(&file.path.source))
            }
            Action::GenerateSecret(generator) => {
                let alphabet: String = generator.alphabet().into_iter().collect();
                let shown = if generator.alphabet.is_some() {
                    format!("from {alphabet:?}")
                } else {
                    "of letters and digits".to_owned()
                };
                details.push(format!(
                    "{:.0} bits, from the OS's secure random source; a secret: masked everywhere",
                    generator.bits()
                ));
                format!(
                    "generate a secret of {} characters {shown}",
                    generator.length.value
                )
            }
            Action::RestoreFile(target) => {
                let written = self.runbook.all_steps().find_map(|s| match &s.action {
                    Action::WriteFile(file) if s.id.value == target.value => Some(file),
                    _ => None,
                });
                match written {
                    Some(file) => format!(
                        "restore {} as it was before `{}`",
                        r.text(&file.path.source),
                        target.value
                    ),
                    None => format!("restore the file `{}` replaced", target.value),
                }
            }
            Action::Http(spec) => {
                expect = self.expectation(step.expect.as_ref(), Subject::Http);
                match rendered::request(r, spec, None) {
                    Ok(request) => {
                        details.extend(request.details());
                        request.target()
                    }
                    Err(e) => cannot_show(&e),
                }
            }
            Action::Command(command) => {
                expect = self.expectation(step.expect.as_ref(), Subject::Command);
                match rendered::command(r, command, None, None) {
                    Ok(command) => {
                        details.extend(command.details());
                        command.target()
                    }
                    Err(e) => cannot_show(&e),
                }
            }
            // The checks a wait polls for are the step's checks, in `expect`
            // as every other step's are.
            Action::WaitFor(wait) => match rendered::wait(r, wait, None) {
                Ok(wait) => {
                    expect = wait.expectation.lines();
                    details.push(format!("polled {}, until every check holds", wait.pace()));
                    wait.target()
                }
                Err(e) => cannot_show(&e),
            },
            Action::Runbook(path) => {
                let child_file = child_path(self.file, &path.value);
                if self.depth >= MAX_DEPTH {
                    self.problems.push(format!(
                        "child runbooks nest deeper than {MAX_DEPTH} levels; `{}` is not planned",
                        child_file.display()
                    ));
                } else {
                    match crate::eval::load(&child_file) {
                        Ok(runbook) => {
                            let (given, shown) = self.given(step);
                            for (name, value) in &shown {
                                details.push(format!("with {name} = {value}"));
                            }
                            // A value only the run knows shows in the child as
                            // the parent's placeholder (`‹item›`), not its own.
                            let placeholders: BTreeMap<String, String> = shown
                                .iter()
                                .filter(|(name, _)| !given.contains_key(*name))
                                .filter_map(|(name, text)| {
                                    Some((name.clone(), single_placeholder(text)?.to_owned()))
                                })
                                .collect();
                            let answers = self.answers.with_given(given);
                            let mut plan = plan_at(
                                &child_file,
                                &runbook,
                                &answers,
                                self.prober,
                                self.depth + 1,
                                &format!("{}{}.", self.scope, step.id.value),
                                &placeholders,
                            );
                            // What `with:` gives, as this plan shows it: a
                            // placeholder for what only the run knows.
                            for input in &mut plan.inputs {
                                if let Some(value) = shown.get(&input.name) {
                                    input.value = Some(value.clone());
                                    input.source = Some("with".to_owned());
                                }
                            }
                            child = Some(Box::new(plan));
                        }
                        Err(error) => self.problems.push(format!(
                            "the child runbook `{}` cannot be planned: {error}",
                            child_file.display()
                        )),
                    }
                }
                format!("run child {}", child_file.display())
            }
        };
        let r = &self.renderer;
        if let Some(wait) = &step.then_wait {
            let (target, until) = self.wait(wait);
            details.push(format!("then {target} {until}"));
        }
        let confirm = step.confirm.as_ref().map(|confirm| {
            let id = format!("{}{}", self.scope, step.id.value);
            PlannedConfirm {
                message: confirm.message.as_ref().map(|m| r.text(&m.source)),
                phrase: confirm.phrase.as_ref().map(|p| r.text(&p.source)),
                non_interactive: if irreversible || confirm.phrase.is_some() {
                    format!("--confirm {id}")
                } else {
                    format!("--yes or --confirm {id}")
                },
            }
        });
        let probe = match self.prober {
            Some(prober) if main && effect == Some(Effect::Probe) => {
                Some(prober.probe(step, &self.renderer))
            }
            _ => None,
        };
        let r = &self.renderer;
        PlannedStep {
            number,
            id: step.id.value.clone(),
            title: step.title_or_id(),
            description: step.description.as_ref().map(|d| d.value.clone()),
            action: step.action.key().to_owned(),
            effect: effect.map_or("unknown", Effect::as_str).to_owned(),
            irreversible,
            target,
            details,
            instructions,
            expect,
            needs: step
                .needs
                .iter()
                .map(|need| PlannedNeed {
                    step: need.step.value.clone(),
                    within: need.within.as_ref().map(|w| span(w.value)),
                })
                .collect(),
            when: step.when.as_ref().map(|when| {
                let condition = r.condition(&when.source);
                PlannedWhen {
                    expression: condition.expression,
                    value: condition.value,
                }
            }),
            confirm,
            approve: step.approve.as_ref().map(|approve| PlannedApprove {
                count: approve.count.value,
                from: approve.from.iter().map(|n| n.value.clone()).collect(),
                message: approve.message.as_ref().map(|m| r.text(&m.source)),
            }),
            for_each: step.for_each.as_ref().map(|items| PlannedForEach {
                items: crate::eval::rendered::for_each_text(r, items)
                    .unwrap_or_else(|e| cannot_show(&e)),
                concurrency: step.concurrency(),
            }),
            retry: step.retry.as_ref().map(|retry| {
                let mut text = format!("up to {} attempts", retry.attempts.value);
                if let Some(delay) = &retry.delay {
                    text.push_str(&format!(", {} apart", span(delay.value)));
                }
                if let Some(backoff) = &retry.backoff {
                    text.push_str(&format!(", each wait ×{}", backoff.value));
                }
                text
            }),
            timeout: step.timeout.as_ref().map(|t| span(t.value)),
            secret: step.secret.as_ref().is_some_and(|s| s.value),
            outputs: step
                .outputs
                .iter()
                .map(|(name, value)| PlannedOutput {
                    name: name.value.clone(),
                    value: r.text(&value.source),
                })
                .collect(),
            priority: step.priority.as_ref().map(|p| p.value.as_str().to_owned()),
            estimate: step.estimate.as_ref().map(|e| span(e.value)),
            guide: step.guide.as_ref().map(|g| g.value.clone()),
            child,
            probe,
        }
    }

    /// What `with:` gives the child of `step`: the values known now (for the
    /// child's plan and its probes: a value with a placeholder in it is no
    /// value), and every one as this plan shows it, secrets masked.
    fn given(&self, step: &Step) -> (BTreeMap<String, (String, bool)>, BTreeMap<String, String>) {
        let r = &self.renderer;
        let mut given = BTreeMap::new();
        let mut shown = BTreeMap::new();
        for (name, template) in &step.with {
            let source = &template.source;
            // `item` is unknown too: each item's value is known when the run gets there.
            if r.unknowns(source).is_empty()
                && let Ok(rendered) = r.values().render(source, None)
            {
                given.insert(name.value.clone(), (rendered.text, rendered.secret));
            }
            shown.insert(name.value.clone(), r.text(source));
        }
        (given, shown)
    }

    /// Headers, bearer and body of a request, one line each.
    /// What `expect` asks for, one check per line: rendered as the run renders
    /// it, worded by the expectation itself.
    fn expectation(&self, expect: Option<&Expect>, subject: Subject) -> Vec<String> {
        match rendered::expectation(&self.renderer, expect, None, subject) {
            Ok(expectation) => expectation.lines(),
            Err(e) => vec![cannot_show(&e)],
        }
    }

    /// `wait for …` and `until …, every …, up to …`, with the run's defaults.
    fn wait(&self, wait: &WaitFor) -> (String, String) {
        match rendered::wait(&self.renderer, wait, None) {
            Ok(wait) => (wait.target(), wait.until()),
            Err(e) => (cannot_show(&e), String::new()),
        }
    }
}

/// The path of a text that is one placeholder and nothing else (`‹item›` →
/// `item`).
fn single_placeholder(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('‹')?.strip_suffix('›')?;
    (!inner.contains(['‹', '›'])).then_some(inner)
}

/// A template the plan cannot render (only a pattern that does not compile,
/// which `validate` refuses): said in its place, never silently replaced.
fn cannot_show(error: &RenderError) -> String {
    format!("‹cannot be shown: {}›", error.0)
}

/// A child runbook's path: relative to the parent's directory, as the run
/// resolves it, without a leading `./` when the parent is named without one.
fn child_path(file: &Path, path: &str) -> std::path::PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(path),
        _ => std::path::PathBuf::from(path),
    }
}

/// A duration as the runbook would write it: `30m`, `1h 30m`.
fn span(timespan: Timespan) -> String {
    humantime::format_duration(timespan.0).to_string()
}
