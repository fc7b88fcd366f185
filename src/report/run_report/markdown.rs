//! The run report as Markdown: a header table, the steps with their evidence,
//! gate decisions and confirmations, the rollback, and the inputs used — for a
//! ticket, a pull request or a post-incident note.

use std::fmt::Write as _;

use super::{HappeningKind, Report, RunState, StepRun, clock, describe_chain, minute, short_ms};

/// A table cell: pipes escaped, lines joined with `<br>`.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .lines()
        .collect::<Vec<_>>()
        .join("<br>")
}

/// The outcome line of the header.
pub(super) fn verdict(report: &Report) -> String {
    match report.run.state {
        RunState::Finished { outcome, exit_code } => {
            format!("{} {outcome} (exit code {exit_code})", outcome.symbol())
        }
        RunState::Interrupted => {
            "interrupted — the state is saved; `runbook resume` continues it".to_owned()
        }
        RunState::Unfinished => {
            "not finished — still running, or cut off (`runbook resume` continues it)".to_owned()
        }
        RunState::Superseded => format!(
            "superseded by the newer run {} — over; `runbook resume` never continues it",
            report.run.superseded_by.as_deref().unwrap_or("?")
        ),
    }
}

pub fn render(report: &Report) -> String {
    let run = &report.run;
    let mut md = String::new();
    let _ = writeln!(md, "# Run report: {}\n", cell(&report.title()));
    md.push_str("| | |\n|---|---|\n");
    let file = report
        .runbook_file
        .as_ref()
        .map_or_else(|| run.file.clone(), |f| f.display().to_string());
    let _ = writeln!(md, "| Runbook | `{}` ({}) |", run.runbook, cell(&file));
    let _ = writeln!(md, "| Run | `{}` |", run.id);
    let _ = writeln!(md, "| Operator | {} |", cell(&run.operator));
    let _ = writeln!(md, "| Started | {} |", minute(&run.started_at));
    match run.finished_at() {
        Some(at) => {
            let _ = writeln!(md, "| Finished | {} |", minute(at));
        }
        None => {
            let _ = writeln!(md, "| Last event | {} |", minute(&run.last_at));
        }
    }
    if let Some(duration) = run.duration() {
        let _ = writeln!(
            md,
            "| Duration | {} |",
            short_ms(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
        );
    }
    let _ = writeln!(md, "| Outcome | {} |", cell(&verdict(report)));
    let _ = writeln!(
        md,
        "| Journal | `{}` |",
        cell(&run.journal.display().to_string())
    );
    let _ = writeln!(
        md,
        "| Journal chain | {} |",
        cell(&describe_chain(&run.chain))
    );
    md.push('\n');
    for note in notes(report) {
        let _ = writeln!(md, "> {note}\n");
    }

    md.push_str("## Steps\n\n");
    steps_table(&mut md, report, run.steps.iter().filter(|s| !s.rollback));

    let happenings: Vec<_> = run
        .happenings
        .iter()
        .filter(|h| !matches!(h.what, HappeningKind::RollbackStarted(_)))
        .collect();
    if !happenings.is_empty() {
        md.push_str("\n## Gates and confirmations\n\n");
        for h in happenings {
            let step = h.step_shown().map_or_else(String::new, |s| format!(" {s}"));
            let _ = writeln!(md, "- {}{step}: {}", clock(&h.at), h.what.describe());
        }
    }

    let rollback_reason = run.happenings.iter().find_map(|h| match &h.what {
        HappeningKind::RollbackStarted(reason) => Some((h.at.as_str(), reason.as_str())),
        _ => None,
    });
    if let Some((at, reason)) = rollback_reason {
        let _ = writeln!(
            md,
            "\n## Rollback\n\nStarted at {} because {}.\n",
            clock(at),
            cell(reason)
        );
        let rolled: Vec<_> = run.steps.iter().filter(|s| s.rollback).collect();
        if rolled.is_empty() {
            md.push_str("No rollback step finished.\n");
        } else {
            steps_table(&mut md, report, rolled.into_iter());
        }
    }

    let not_reached = report.not_reached();
    if !not_reached.is_empty() {
        md.push_str("\n## Not reached\n\n");
        for step in not_reached {
            let title = step
                .title
                .as_ref()
                .map_or_else(String::new, |t| format!(" — {}", t.value));
            let _ = writeln!(md, "- `{}`{}", step.id.value, cell(&title));
        }
    }

    if !run.inputs.is_empty() {
        md.push_str("\n## Inputs\n\n| Input | From | Value |\n|---|---|---|\n");
        for input in &run.inputs {
            let value = match (&input.value, input.secret) {
                (Some(value), false) => format!("`{}`", cell(value)),
                _ => format!("secret ({})", input.fingerprint),
            };
            let _ = writeln!(md, "| `{}` | {} | {value} |", input.name, input.source);
        }
    }
    md
}

/// Things a reader must know before trusting the report.
pub(super) fn notes(report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    if report.file_changed == Some(true) {
        notes.push("The runbook file has changed since this run began; titles and expectations shown are from the current file.".to_owned());
    }
    if report.runbook.is_none() {
        notes.push(
            "The runbook file was not found (or is not valid now): steps are shown as the journal recorded them.".to_owned(),
        );
    }
    if report.run.torn {
        notes.push("The journal's last line was cut short (power loss or a crash mid-write) and is left out.".to_owned());
    }
    notes
}

fn steps_table<'a>(md: &mut String, report: &Report, steps: impl Iterator<Item = &'a StepRun>) {
    md.push_str("| # | Step | Effect | Outcome | Took | Evidence |\n|---|---|---|---|---|---|\n");
    for (index, step) in steps.enumerate() {
        let name = if step.title == step.step {
            format!("`{}`", step.step)
        } else {
            format!("{} (`{}`)", cell(&step.title), step.step)
        };
        let mut outcome = format!("{} {}", step.outcome.symbol(), step.outcome);
        if let Some(reason) = &step.reason {
            let _ = write!(outcome, ": {}", cell(reason));
        }
        let evidence = report.evidence(step).join("\n");
        let _ = writeln!(
            md,
            "| {} | {name} | {} | {outcome} | {} | {} |",
            index + 1,
            report.effect(&step.step).unwrap_or("-"),
            short_ms(step.duration_ms),
            cell(&evidence)
        );
    }
}
