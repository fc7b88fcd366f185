//! The run report as one self-contained HTML page: inline CSS, an inline SVG
//! timeline of the step durations, no script and nothing fetched from the
//! network — it can be attached to a ticket and opened anywhere, offline.
//! Every piece of text is HTML-escaped.

use std::fmt::Write as _;

use super::markdown::{notes, verdict};
use super::{
    HappeningKind, Report, RunState, StepRun, clock, describe_chain, minute, short_ms, time,
};
use crate::engine::outcome::Outcome;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escaped text with `code` spans (as engine messages write ids) as `<code>`.
fn text(raw: &str) -> String {
    let escaped = escape(raw);
    if !escaped.matches('`').count().is_multiple_of(2) {
        return escaped;
    }
    escaped
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

/// The colour of an outcome, the same in the table and the timeline.
fn colour(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "#2e7d32",
        Outcome::Failed | Outcome::RollbackFailed => "#c62828",
        Outcome::Blocked => "#e65100",
        Outcome::Deferred => "#b8860b",
        Outcome::Skipped | Outcome::Abandoned => "#757575",
        Outcome::Pending => "#9e9e9e",
    }
}

const STYLE: &str = "
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2rem auto; max-width: 72rem; padding: 0 1.5rem; color: #1f2328; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
code { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { text-align: left; vertical-align: top; padding: .35rem .6rem; border-bottom: 1px solid #e5e7eb; }
th { background: #f6f8fa; font-weight: 600; }
table.meta th { width: 9rem; background: none; color: #57606a; font-weight: 500; }
.badge { display: inline-block; padding: .05rem .55rem; border-radius: 999px; color: #fff; font-weight: 600; font-size: 13px; white-space: nowrap; }
.reason { color: #57606a; font-size: 13px; margin-top: .2rem; }
ul.evidence { margin: 0; padding-left: 1.1rem; font-size: 13px; }
.note { background: #fff8e1; border-left: 4px solid #b8860b; padding: .5rem .8rem; margin: .8rem 0; }
.timeline { max-width: 100%; height: auto; }
.timeline text { font: 12px system-ui, sans-serif; fill: #1f2328; }
.timeline .axis { font-size: 11px; fill: #57606a; }
.muted { color: #57606a; }
";

pub fn render(report: &Report) -> String {
    let run = &report.run;
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No network: even a stray URL in the text cannot load anything.
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    let _ = writeln!(
        h,
        "<title>Run {} · {}</title>",
        escape(&run.id),
        escape(&report.title())
    );
    let _ = writeln!(h, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(h, "<h1>{}</h1>", escape(&report.title()));
    let _ = writeln!(
        h,
        "<p class=\"muted\">Run report · <code>{}</code></p>",
        escape(&run.id)
    );

    h.push_str("<table class=\"meta\">\n");
    let file = report
        .runbook_file
        .as_ref()
        .map_or_else(|| run.file.clone(), |f| f.display().to_string());
    let mut meta = |key: &str, value: String| {
        let _ = writeln!(h, "<tr><th>{key}</th><td>{value}</td></tr>");
    };
    meta(
        "Runbook",
        format!("<code>{}</code> ({})", escape(&run.runbook), escape(&file)),
    );
    meta("Operator", escape(&run.operator));
    meta("Started", escape(&minute(&run.started_at)));
    match run.finished_at() {
        Some(at) => meta("Finished", escape(&minute(at))),
        None => meta("Last event", escape(&minute(&run.last_at))),
    }
    if let Some(duration) = run.duration() {
        meta(
            "Duration",
            escape(&short_ms(
                u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            )),
        );
    }
    let outcome = match run.state {
        RunState::Finished { outcome, .. } => outcome,
        _ => Outcome::Pending,
    };
    meta(
        "Outcome",
        format!(
            "<span class=\"badge\" style=\"background:{}\">{}</span>",
            colour(outcome),
            escape(&verdict(report))
        ),
    );
    meta(
        "Journal",
        format!(
            "<code>{}</code>",
            escape(&run.journal.display().to_string())
        ),
    );
    meta("Journal chain", escape(&describe_chain(&run.chain)));
    h.push_str("</table>\n");
    for note in notes(report) {
        let _ = writeln!(h, "<p class=\"note\">{}</p>", escape(&note));
    }

    h.push_str("<h2>Timeline</h2>\n");
    timeline(&mut h, report);

    h.push_str("<h2>Steps</h2>\n");
    steps_table(&mut h, report, run.steps.iter().filter(|s| !s.rollback));

    let happenings: Vec<_> = run
        .happenings
        .iter()
        .filter(|x| !matches!(x.what, HappeningKind::RollbackStarted(_)))
        .collect();
    if !happenings.is_empty() {
        h.push_str("<h2>Gates and confirmations</h2>\n<table>\n<tr><th>Time</th><th>Step</th><th>Decision</th></tr>\n");
        for x in happenings {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(clock(&x.at)),
                x.step.as_ref().map_or_else(String::new, |s| {
                    let mut cell = format!("<code>{}</code>", escape(s));
                    if let Some(approval) = &x.approval {
                        cell.push_str(&format!(" (<code>{}</code>)", escape(approval)));
                    }
                    cell
                }),
                text(&x.what.describe())
            );
        }
        h.push_str("</table>\n");
    }

    let rollback_reason = run.happenings.iter().find_map(|x| match &x.what {
        HappeningKind::RollbackStarted(reason) => Some((x.at.as_str(), reason.as_str())),
        _ => None,
    });
    if let Some((at, reason)) = rollback_reason {
        let _ = writeln!(
            h,
            "<h2>Rollback</h2>\n<p>Started at {} because {}.</p>",
            escape(clock(at)),
            text(reason)
        );
        let rolled: Vec<_> = run.steps.iter().filter(|s| s.rollback).collect();
        if rolled.is_empty() {
            h.push_str("<p class=\"muted\">No rollback step finished.</p>\n");
        } else {
            steps_table(&mut h, report, rolled.into_iter());
        }
    }

    let not_reached = report.not_reached();
    if !not_reached.is_empty() {
        h.push_str("<h2>Not reached</h2>\n<ul>\n");
        for step in not_reached {
            let title = step
                .title
                .as_ref()
                .map_or_else(String::new, |t| format!(" — {}", escape(&t.value)));
            let _ = writeln!(h, "<li><code>{}</code>{title}</li>", escape(&step.id.value));
        }
        h.push_str("</ul>\n");
    }

    if !run.inputs.is_empty() {
        h.push_str(
            "<h2>Inputs</h2>\n<table>\n<tr><th>Input</th><th>From</th><th>Value</th></tr>\n",
        );
        for input in &run.inputs {
            let value = match (&input.value, input.secret) {
                (Some(value), false) => format!("<code>{}</code>", escape(value)),
                _ => format!(
                    "<span class=\"muted\">secret ({})</span>",
                    escape(&input.fingerprint)
                ),
            };
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td>{}</td><td>{value}</td></tr>",
                escape(&input.name),
                escape(&input.source)
            );
        }
        h.push_str("</table>\n");
    }
    let _ = writeln!(
        h,
        "<p class=\"muted\">Generated by runbook {} from the run journal; secrets appear only masked.</p>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    h
}

fn steps_table<'a>(h: &mut String, report: &Report, steps: impl Iterator<Item = &'a StepRun>) {
    h.push_str("<table class=\"steps\">\n<tr><th>#</th><th>Step</th><th>Effect</th><th>Outcome</th><th>Took</th><th>Evidence</th></tr>\n");
    for (index, step) in steps.enumerate() {
        let name = if step.title == step.step {
            format!("<code>{}</code>", escape(&step.step))
        } else {
            format!(
                "{}<br><code>{}</code>",
                escape(&step.title),
                escape(&step.step)
            )
        };
        let mut outcome = format!(
            "<span class=\"badge\" style=\"background:{}\">{} {}</span>",
            colour(step.outcome),
            step.outcome.symbol(),
            step.outcome
        );
        if let Some(reason) = &step.reason {
            let _ = write!(outcome, "<div class=\"reason\">{}</div>", text(reason));
        }
        let evidence = report.evidence(step);
        let evidence = if evidence.is_empty() {
            String::new()
        } else {
            let items = evidence.iter().fold(String::new(), |mut items, e| {
                let _ = write!(items, "<li>{}</li>", text(e));
                items
            });
            format!("<ul class=\"evidence\">{items}</ul>")
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{name}</td><td>{}</td><td>{outcome}</td><td>{}</td><td>{evidence}</td></tr>",
            index + 1,
            escape(report.effect(&step.step).unwrap_or("-")),
            escape(&short_ms(step.duration_ms))
        );
    }
    h.push_str("</table>\n");
}

// The timeline's geometry, in SVG user units: the label column, the bars, room
// for the duration after the longest bar, the row height and the top margin.
const LABEL: f64 = 240.0;
const BARS: f64 = 620.0;
const TAIL: f64 = 90.0;
const ROW: f64 = 24.0;
const TOP: f64 = 8.0;

/// An SVG Gantt of the steps: each bar starts when the step began and is as
/// long as it took, on one time axis from the run's start to its last event.
fn timeline(h: &mut String, report: &Report) {
    let run = &report.run;
    if run.steps.is_empty() {
        h.push_str("<p class=\"muted\">No step finished in this run.</p>\n");
        return;
    }
    let start = time(&run.started_at);
    let offset_ms = |at: &str| -> f64 {
        match (start, time(at)) {
            (Some(s), Some(t)) => t
                .duration_since(s)
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            _ => 0.0,
        }
    };
    let span_ms = run
        .steps
        .iter()
        .map(|s| offset_ms(&s.finished_at))
        .fold(offset_ms(&run.last_at), f64::max)
        .max(1.0);
    let rows = run.steps.len();
    #[allow(clippy::cast_precision_loss)]
    let height = TOP + ROW * rows as f64 + 28.0;
    let width = LABEL + BARS + TAIL;
    let _ = writeln!(
        h,
        "<svg class=\"timeline\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Timeline of step durations\">"
    );
    for (index, step) in run.steps.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = TOP + ROW * index as f64;
        #[allow(clippy::cast_precision_loss)]
        let x = LABEL + BARS * (offset_ms(&step.started_at) / span_ms).clamp(0.0, 1.0);
        #[allow(clippy::cast_precision_loss)]
        let w = (BARS * step.duration_ms as f64 / span_ms).clamp(2.0, LABEL + BARS - x + 2.0);
        let mut label = step.step.clone();
        if step.rollback {
            label.insert_str(0, "↩ ");
        }
        if label.chars().count() > 32 {
            label = label.chars().take(31).collect::<String>() + "…";
        }
        let _ = writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LABEL - 8.0,
            y + 15.0,
            escape(&label)
        );
        let _ = writeln!(
            h,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"16\" rx=\"3\" fill=\"{}\"><title>{} · {} · {}</title></rect>",
            y + 3.0,
            colour(step.outcome),
            escape(&step.step),
            step.outcome,
            escape(&short_ms(step.duration_ms))
        );
        let _ = writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + w + 5.0,
            y + 15.0,
            escape(&short_ms(step.duration_ms))
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let axis_y = TOP + ROW * rows as f64 + 4.0;
    let _ = writeln!(
        h,
        "<line x1=\"{LABEL}\" y1=\"{axis_y:.1}\" x2=\"{:.1}\" y2=\"{axis_y:.1}\" stroke=\"#d0d7de\"/>",
        LABEL + BARS
    );
    for tick in 0..=4 {
        let fraction = f64::from(tick) / 4.0;
        let x = LABEL + BARS * fraction;
        // The axis labels are whole milliseconds of the run's span.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ms = (span_ms * fraction).round() as u64;
        let anchor = match tick {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = writeln!(
            h,
            "<text class=\"axis\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            axis_y + 16.0,
            escape(&if tick == 0 {
                "0".to_owned()
            } else {
                short_ms(ms)
            })
        );
    }
    h.push_str("</svg>\n");
}
