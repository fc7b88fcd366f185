//! The plan for a terminal: one block per step with what it does, its checks and
//! its gates; irreversible steps marked `⚠ IRREVERSIBLE` (in red when colour is
//! on: a terminal without `NO_COLOR`). A child runbook's plan is shown indented
//! under the step that runs it.

use std::fmt::Write as _;

use console::Style;

use super::{Plan, PlannedStep, ProbeResult};

/// The width of the label column (`confirm` is the longest label).
const LABEL: usize = 8;

/// Colours, or none.
struct Paint(bool);

impl Paint {
    fn style(&self, style: &Style, text: &str) -> String {
        if self.0 {
            style.clone().force_styling(true).apply_to(text).to_string()
        } else {
            text.to_owned()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.style(&Style::new().bold(), text)
    }

    fn dim(&self, text: &str) -> String {
        self.style(&Style::new().dim(), text)
    }

    fn danger(&self, text: &str) -> String {
        self.style(&Style::new().red().bold(), text)
    }

    fn effect(&self, effect: &str) -> String {
        match effect {
            "irreversible" => self.danger(effect),
            "change" => self.style(&Style::new().yellow(), effect),
            "probe" => self.style(&Style::new().green(), effect),
            "manual" => self.style(&Style::new().cyan(), effect),
            "notify" => self.style(&Style::new().magenta(), effect),
            _ => self.dim(effect),
        }
    }

    /// `text` with its `‹placeholders›` in colour, so what the run decides stands out.
    fn values(&self, text: &str) -> String {
        if !self.0 {
            return text.to_owned();
        }
        let style = Style::new().magenta();
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find('‹') {
            let Some(len) = rest[start..].find('›') else {
                break;
            };
            let end = start + len + '›'.len_utf8();
            out.push_str(&rest[..start]);
            out.push_str(&self.style(&style, &rest[start..end]));
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

/// The whole plan.
pub fn render(plan: &Plan, color: bool) -> String {
    let paint = Paint(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} ({})",
        paint.bold("Plan:"),
        paint.bold(&plan.title),
        plan.runbook
    );
    let mut facts = vec![format!("file {}", plan.file)];
    facts.extend(plan.owner.as_ref().map(|o| format!("owner {o}")));
    facts.extend(plan.priority.clone());
    facts.extend(plan.estimate.as_ref().map(|e| format!("estimate {e}")));
    facts.extend(plan.guide.as_ref().map(|g| format!("guide {g}")));
    let _ = writeln!(out, "  {}", facts.join(" · "));
    let honesty = if plan.probed {
        "A dry run: only the probe steps' GET/HEAD requests were sent; nothing was written or run."
    } else {
        "A dry run: nothing was requested, written or run to make this plan."
    };
    let _ = writeln!(out, "  {}", paint.dim(honesty));
    for problem in &plan.problems {
        let _ = writeln!(out, "  {} {problem}", paint.danger("⚠"));
    }
    if !plan.inputs.is_empty() {
        let _ = writeln!(out, "\n{}", paint.bold("Inputs"));
        let width = plan.inputs.iter().map(|i| i.name.len()).max().unwrap_or(0);
        for input in &plan.inputs {
            let (value, note) = match (&input.value, &input.source) {
                (Some(value), Some(source)) => (value.clone(), format!("({source})")),
                (Some(value), None) => (value.clone(), String::new()),
                (None, _) => (
                    format!("‹inputs.{}›", input.name),
                    "no value yet: asked when a step first uses it".to_owned(),
                ),
            };
            let note = if input.secret {
                format!("secret {note}")
            } else {
                note
            };
            let _ = writeln!(
                out,
                "  {:<width$}  {}  {}",
                input.name,
                paint.values(&value),
                paint.dim(note.trim())
            );
        }
    }
    steps(&mut out, plan, "  ", "", &paint);
    summary(&mut out, plan, &paint);
    out
}

/// The phases and the rollback of `plan`, each step under `indent`, numbered
/// after `number_prefix` (`2.` for the steps of a child run by step 2).
fn steps(out: &mut String, plan: &Plan, indent: &str, number_prefix: &str, paint: &Paint) {
    let top = number_prefix.is_empty();
    for phase in &plan.phases {
        if top {
            let heading = match (&phase.title, &phase.id) {
                (Some(title), _) => title.clone(),
                (None, Some(id)) => id.clone(),
                (None, None) => "Steps".to_owned(),
            };
            let _ = writeln!(out, "\n{}", paint.bold(&heading));
            if let Some(description) = &phase.description {
                let _ = writeln!(out, "  {}", paint.dim(description));
            }
        }
        for step in &phase.steps {
            let number = format!("{number_prefix}{}", step.number);
            self::step(out, step, &number, indent, paint);
        }
    }
    if !plan.rollback.is_empty() {
        if top {
            let _ = writeln!(
                out,
                "\n{} {}",
                paint.bold("Rollback"),
                paint.dim("— runs only after a step fails, each step when its `when` holds")
            );
        } else {
            let _ = writeln!(out, "{indent}{}", paint.dim("rollback of this runbook:"));
        }
        for step in &plan.rollback {
            let number = format!("{number_prefix}R{}", step.number);
            self::step(out, step, &number, indent, paint);
        }
    }
}

fn step(out: &mut String, step: &PlannedStep, number: &str, indent: &str, paint: &Paint) {
    let mut heading = format!(
        "{indent}{:>3}. {}  [{}]",
        number,
        paint.bold(&step.title),
        step.id
    );
    if step.irreversible {
        let _ = write!(heading, "  {}", paint.danger("⚠ IRREVERSIBLE"));
    } else {
        let _ = write!(heading, " · {}", paint.effect(&step.effect));
    }
    if step.secret {
        let _ = write!(heading, " · {}", paint.dim("secret result"));
    }
    let _ = writeln!(out, "{heading}");
    let body = format!("{indent}     ");
    let mut row = |label: &str, lines: &[String]| {
        for (index, line) in lines.iter().enumerate() {
            let label = if index == 0 { label } else { "" };
            for (n, part) in line.split('\n').enumerate() {
                let label = if n == 0 { label } else { "" };
                let _ = writeln!(
                    out,
                    "{body}{}{}",
                    paint.dim(&format!("{label:<LABEL$} ")),
                    paint.values(part)
                );
            }
        }
    };
    let mut does = vec![step.target.clone()];
    does.extend(step.details.iter().cloned());
    if let Some(instructions) = &step.instructions {
        does.extend(instructions.trim_end().lines().map(|l| format!("│ {l}")));
    }
    row("does", &does);
    if let Some(each) = &step.for_each {
        row(
            "each",
            &[format!(
                "item of {}, {} at a time",
                each.items, each.concurrency
            )],
        );
    }
    if !step.expect.is_empty() {
        row("expect", &[step.expect.join(" · ")]);
    }
    if !step.needs.is_empty() {
        let needs: Vec<String> = step
            .needs
            .iter()
            .map(|n| match &n.within {
                Some(within) => format!("{} (passed within {within})", n.step),
                None => n.step.clone(),
            })
            .collect();
        row("needs", &[needs.join(" · ")]);
    }
    if let Some(when) = &step.when {
        let now = match when.value {
            Some(true) => " (true now)",
            Some(false) => " (false now: the step will be skipped)",
            None => " (decided when the run gets there)",
        };
        row("when", &[format!("{}{now}", when.expression)]);
    }
    if let Some(approve) = &step.approve {
        let mut lines = vec![format!(
            "{} of {} (never the operator), each with `runbook approve FILE {}`",
            approve.count,
            approve.from.join(", "),
            step.id
        )];
        lines.extend(
            approve
                .message
                .as_ref()
                .map(|m| format!("\"{}\"", m.trim())),
        );
        row("approve", &lines);
    }
    if let Some(confirm) = &step.confirm {
        let mut lines = Vec::new();
        match &confirm.phrase {
            Some(phrase) => lines.push(format!("type {phrase}")),
            None => lines.push("yes/no at the terminal".to_owned()),
        }
        lines.extend(
            confirm
                .message
                .as_ref()
                .map(|m| format!("\"{}\"", m.trim())),
        );
        lines.push(format!("without a terminal: {}", confirm.non_interactive));
        row("confirm", &lines);
    }
    if let Some(retry) = &step.retry {
        row("retry", std::slice::from_ref(retry));
    }
    if let Some(timeout) = &step.timeout {
        row("timeout", std::slice::from_ref(timeout));
    }
    if !step.outputs.is_empty() {
        let outputs: Vec<String> = step
            .outputs
            .iter()
            .map(|o| format!("{} = {}", o.name, o.value))
            .collect();
        row("outputs", &outputs);
    }
    if let Some(probe) = &step.probe {
        row("probe", &[probe_line(probe, paint)]);
    }
    if let Some(child) = &step.child {
        let _ = writeln!(
            out,
            "{body}{}",
            paint.dim(&format!(
                "child runbook: {} ({})",
                child.title, child.runbook
            ))
        );
        for problem in &child.problems {
            let _ = writeln!(out, "{body}{} {problem}", paint.danger("⚠"));
        }
        steps(
            out,
            child,
            &format!("{indent}    "),
            &format!("{number}."),
            paint,
        );
    }
}

fn probe_line(probe: &ProbeResult, paint: &Paint) -> String {
    match probe.outcome.as_str() {
        "passed" => format!(
            "{} {}",
            paint.style(&Style::new().green(), "✓ passed:"),
            probe.detail
        ),
        "failed" => format!("{} {}", paint.danger("✗ failed:"), probe.detail),
        _ => paint.dim(&probe.detail),
    }
}

/// The irreversible steps themselves, a child runbook's included (numbered
/// `10.3` under step 10): a step that only runs an irreversible child is opened
/// by its child's confirmations, not its own.
fn irreversible_steps<'p>(plan: &'p Plan, prefix: &str, out: &mut Vec<(String, &'p PlannedStep)>) {
    for step in plan.steps().filter(|st| st.irreversible) {
        let number = format!("{prefix}{}", step.number);
        match &step.child {
            Some(child) => irreversible_steps(child, &format!("{number}."), out),
            None => out.push((number, step)),
        }
    }
}

fn summary(out: &mut String, plan: &Plan, paint: &Paint) {
    let s = &plan.summary;
    let effects = s.effect_counts();
    let _ = writeln!(
        out,
        "\n{} {} step(s): {}; {} rollback step(s)",
        paint.bold("Summary:"),
        s.steps,
        effects.join(", "),
        s.rollback_steps
    );
    let mut irreversible = Vec::new();
    irreversible_steps(plan, "", &mut irreversible);
    for (number, step) in irreversible {
        let flag = step.confirm.as_ref().map_or_else(
            || format!("--confirm {}", step.id),
            |c| c.non_interactive.clone(),
        );
        let _ = writeln!(
            out,
            "  {} step {number} `{}` cannot be undone; without a terminal it runs only with {flag}",
            paint.danger("⚠ IRREVERSIBLE:"),
            step.id,
        );
    }
    if !s.unresolved_inputs.is_empty() {
        let _ = writeln!(
            out,
            "  inputs with no value yet (asked when first used; without a terminal give them up front): {}",
            s.unresolved_inputs.join(", ")
        );
    }
    if plan.probed {
        let probes: Vec<&ProbeResult> = all_probes(plan);
        let count = |o: &str| probes.iter().filter(|p| p.outcome == o).count();
        let _ = writeln!(
            out,
            "  probes: {} passed, {} failed, {} not probed, {} skipped",
            count("passed"),
            count("failed"),
            count("not_probed"),
            count("skipped")
        );
    }
}

/// The probe results of a plan and of its children.
pub fn all_probes(plan: &Plan) -> Vec<&ProbeResult> {
    let mut out = Vec::new();
    for step in plan.steps() {
        out.extend(step.probe.iter());
        if let Some(child) = &step.child {
            out.extend(all_probes(child));
        }
    }
    out
}
