//! The plan as Markdown for a pull request or a change ticket: a numbered
//! checklist (`- [ ] 1. **Title** (`id`) — effect · needs …`) with each step's
//! target, checks and gates below it, irreversible steps in bold with ⚠️, and a
//! child runbook's steps as a nested checklist.

use std::fmt::Write as _;

use super::{Plan, PlannedStep};

/// The whole plan.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Plan: {}\n", escape(&plan.title));
    let mut facts = vec![
        format!("Runbook {}", code(&plan.runbook)),
        format!("file {}", code(&plan.file)),
    ];
    facts.extend(plan.owner.as_ref().map(|o| format!("owner {}", escape(o))));
    facts.extend(plan.priority.clone());
    facts.extend(plan.estimate.as_ref().map(|e| format!("estimate {e}")));
    facts.extend(plan.guide.as_ref().map(|g| format!("guide {}", code(g))));
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if let Some(description) = &plan.description {
        let _ = writeln!(out, "{}\n", escape(description));
    }
    let honesty = if plan.probed {
        "Made by `runbook plan --probe`, a dry run: only the probe steps' GET/HEAD requests were sent; nothing was written or run."
    } else {
        "Made by `runbook plan`, a dry run: nothing was requested, written or run to make it."
    };
    let _ = writeln!(out, "> {honesty}");
    for step in plan.steps().filter(|s| s.irreversible) {
        let _ = writeln!(
            out,
            ">\n> ⚠️ **Irreversible:** step {}, {} ({}), cannot be undone.",
            step.number,
            escape(&step.title),
            code(&step.id)
        );
    }
    for problem in &plan.problems {
        let _ = writeln!(out, ">\n> ⚠️ {}", escape(problem));
    }
    out.push('\n');
    if !plan.inputs.is_empty() {
        let _ = writeln!(out, "### Inputs\n");
        let _ = writeln!(out, "| Input | Value | From |\n|---|---|---|");
        for input in &plan.inputs {
            let name = if input.secret {
                format!("{} (secret)", code(&input.name))
            } else {
                code(&input.name)
            };
            let (value, from) = match &input.value {
                Some(value) => (code(value), input.source.clone().unwrap_or_default()),
                None => (
                    code(&format!("‹inputs.{}›", input.name)),
                    "no value yet: asked when a step first uses it".to_owned(),
                ),
            };
            let _ = writeln!(out, "| {name} | {} | {from} |", value.replace('|', "\\|"));
        }
        out.push('\n');
    }
    for phase in &plan.phases {
        let heading = match (&phase.title, &phase.id) {
            (Some(title), _) => escape(title),
            (None, Some(id)) => code(id),
            (None, None) => "Steps".to_owned(),
        };
        let _ = writeln!(out, "### {heading}\n");
        if let Some(description) = &phase.description {
            let _ = writeln!(out, "{}\n", escape(description));
        }
        for step in &phase.steps {
            self::step(&mut out, step, &step.number.to_string(), "");
        }
        out.push('\n');
    }
    if !plan.rollback.is_empty() {
        let _ = writeln!(
            out,
            "### Rollback\n\n_Runs only after a step fails, each step when its `when` holds._\n"
        );
        for step in &plan.rollback {
            self::step(&mut out, step, &format!("R{}", step.number), "");
        }
        out.push('\n');
    }
    let s = &plan.summary;
    let effects = s.effect_counts();
    let _ = writeln!(
        out,
        "**{} step(s):** {}; {} rollback step(s).",
        s.steps,
        effects.join(" · "),
        s.rollback_steps
    );
    if !s.unresolved_inputs.is_empty() {
        let names: Vec<String> = s.unresolved_inputs.iter().map(|n| code(n)).collect();
        let _ = writeln!(out, "Inputs with no value yet: {}.", names.join(", "));
    }
    out
}

fn step(out: &mut String, step: &PlannedStep, number: &str, indent: &str) {
    let effect = if step.irreversible {
        "⚠️ **IRREVERSIBLE**".to_owned()
    } else {
        step.effect.clone()
    };
    let mut line = format!(
        "{indent}- [ ] {number}. **{}** ({}) — {effect}",
        escape(&step.title),
        code(&step.id)
    );
    if !step.needs.is_empty() {
        let needs: Vec<String> = step
            .needs
            .iter()
            .map(|n| match &n.within {
                Some(within) => format!("{} within {within}", code(&n.step)),
                None => code(&n.step),
            })
            .collect();
        let _ = write!(line, " · needs {}", needs.join(", "));
    }
    if let Some(priority) = &step.priority {
        let _ = write!(line, " · {priority}");
    }
    if let Some(estimate) = &step.estimate {
        let _ = write!(line, " · ~{estimate}");
    }
    if step.secret {
        line.push_str(" · secret result");
    }
    let _ = writeln!(out, "{line}");
    let sub = format!("{indent}  ");
    let bullet = |out: &mut String, text: &str| {
        let _ = writeln!(out, "{sub}- {text}");
    };
    if step.target.contains('\n') {
        let _ = writeln!(out, "{sub}- ```text");
        for l in step.target.lines() {
            let _ = writeln!(out, "{sub}  {l}");
        }
        let _ = writeln!(out, "{sub}  ```");
    } else if step.action == "manual" {
        bullet(out, &escape(&step.target));
    } else {
        bullet(out, &code(&step.target));
    }
    for detail in &step.details {
        bullet(out, &code(detail));
    }
    if let Some(instructions) = &step.instructions {
        let _ = writeln!(out, "{sub}- <details><summary>Instructions</summary>\n");
        let _ = writeln!(out, "{sub}  ```text");
        for l in instructions.trim_end().lines() {
            let _ = writeln!(out, "{sub}  {l}");
        }
        let _ = writeln!(out, "{sub}  ```\n");
        let _ = writeln!(out, "{sub}  </details>");
    }
    if let Some(each) = &step.for_each {
        bullet(
            out,
            &format!(
                "for each item of {}, {} at a time",
                code(&each.items),
                each.concurrency
            ),
        );
    }
    if !step.expect.is_empty() {
        let checks: Vec<String> = step.expect.iter().map(|e| code(e)).collect();
        bullet(out, &format!("expect {}", checks.join(" · ")));
    }
    if let Some(when) = &step.when {
        let now = match when.value {
            Some(true) => " (true now)",
            Some(false) => " (false now: skipped)",
            None => "",
        };
        bullet(out, &format!("when {}{now}", code(&when.expression)));
    }
    if let Some(approve) = &step.approve {
        bullet(
            out,
            &format!(
                "approve: {} of {} (never the operator)",
                approve.count,
                approve
                    .from
                    .iter()
                    .map(|n| code(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if let Some(confirm) = &step.confirm {
        let how = match &confirm.phrase {
            Some(phrase) => format!("type {}", code(phrase)),
            None => "yes/no".to_owned(),
        };
        bullet(
            out,
            &format!(
                "confirm: {how} (without a terminal: {})",
                code(&confirm.non_interactive)
            ),
        );
    }
    if let Some(retry) = &step.retry {
        bullet(out, &format!("retry {retry}"));
    }
    if let Some(timeout) = &step.timeout {
        bullet(out, &format!("timeout {timeout}"));
    }
    for output in &step.outputs {
        bullet(
            out,
            &format!(
                "output {}",
                code(&format!("{} = {}", output.name, output.value))
            ),
        );
    }
    if let Some(guide) = &step.guide {
        bullet(out, &format!("guide {}", code(guide)));
    }
    if let Some(probe) = &step.probe {
        let mark = match probe.outcome.as_str() {
            "passed" => "✅ probe passed:",
            "failed" => "❌ probe failed:",
            _ => "probe:",
        };
        bullet(out, &format!("{mark} {}", escape(&probe.detail)));
    }
    if let Some(child) = &step.child {
        bullet(
            out,
            &format!("runs {} ({}):", escape(&child.title), code(&child.runbook)),
        );
        let nested = format!("{sub}  ");
        for child_step in child.steps() {
            self::step(
                out,
                child_step,
                &format!("{number}.{}", child_step.number),
                &nested,
            );
        }
        for rollback in &child.rollback {
            self::step(
                out,
                rollback,
                &format!("{number}.R{}", rollback.number),
                &nested,
            );
        }
    }
}

/// `text` as inline code, with a fence longer than any run of backticks in it.
fn code(text: &str) -> String {
    let text = text.replace('\n', " ⏎ ");
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    if longest == 0 {
        format!("{fence}{text}{fence}")
    } else {
        format!("{fence} {text} {fence}")
    }
}

/// Prose from the runbook (titles, descriptions) on one line. Authors write it
/// with Markdown in mind (`code`, *emphasis*), so that is kept; only what would
/// turn into HTML is escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_code_survives_backticks() {
        assert_eq!(code("a"), "`a`");
        assert_eq!(code("a `b` c"), "`` a `b` c ``");
    }

    #[test]
    fn keeps_prose_markdown_but_not_html() {
        assert_eq!(escape("a `b` <i>\nc"), "a `b` &lt;i&gt; c");
    }
}
