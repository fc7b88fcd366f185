//! `runbook graph FILE`: the runbook as a diagram — steps as nodes shaped and
//! coloured by their effect, `needs` as edges (labelled with `within`), phases
//! and the rollback as clusters — in Mermaid (for Markdown that renders it) or
//! Graphviz DOT. A reviewer sees at a glance what evidence stands before each
//! irreversible step.
//!
//! Ids and labels come from the runbook file, so both renderers escape them
//! (control characters shown as `\u{1b}`, as in every human output);
//! Mermaid gets node ids that cannot collide with its keywords.

use std::fmt::Write as _;
use std::path::Path;

use crate::document::model::{Action, Effect, ForEach, Runbook, Step};
use crate::output::{Output, printable};
use crate::report::run_report::ReportError;

/// The formats of `runbook graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Mermaid,
    Dot,
}

/// How a step is drawn: its effect, or a child runbook (whose effect is the
/// child's strongest, known only by reading the child).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Effect(Effect),
    Child,
}

impl Kind {
    fn of(step: &Step) -> Kind {
        match (&step.action, step.effect()) {
            (_, Some(effect)) => Kind::Effect(effect),
            (Action::Runbook(_), None) => Kind::Child,
            // A command with no declared effect is rejected by validation; draw it
            // as the change it may be.
            (_, None) => Kind::Effect(Effect::Change),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Effect(effect) => effect.as_str(),
            Kind::Child => "runbook",
        }
    }

    /// Fill and border colours, shared by both formats.
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            Kind::Effect(Effect::None) => ("#f5f5f5", "#9e9e9e"),
            Kind::Effect(Effect::Probe) => ("#e3f2fd", "#1565c0"),
            Kind::Effect(Effect::Manual) => ("#f3e5f5", "#6a1b9a"),
            Kind::Effect(Effect::Notify) => ("#e8f5e9", "#2e7d32"),
            Kind::Effect(Effect::Change) => ("#fff3e0", "#ef6c00"),
            Kind::Effect(Effect::Irreversible) => ("#ffebee", "#c62828"),
            Kind::Child => ("#e0f2f1", "#00695c"),
        }
    }
}

/// Every kind, in the order the legend and class definitions list them.
const KINDS: [Kind; 7] = [
    Kind::Effect(Effect::None),
    Kind::Effect(Effect::Probe),
    Kind::Effect(Effect::Manual),
    Kind::Effect(Effect::Notify),
    Kind::Effect(Effect::Change),
    Kind::Effect(Effect::Irreversible),
    Kind::Child,
];

/// The text inside a node: the title (or id), then the id and effect.
fn label_lines(step: &Step) -> (String, String) {
    let mut detail = match &step.action {
        Action::Runbook(path) => format!("{} · runs {}", step.id.value, path.value),
        _ => format!("{} · {}", step.id.value, Kind::of(step).name()),
    };
    // A fan-out acts once per item: the graph says so, and over what.
    match &step.for_each {
        Some(ForEach::List(_)) => detail.push_str(" · each item"),
        Some(ForEach::Product { axes, .. }) => {
            let names: Vec<&str> = axes.iter().map(|(n, _)| n.value.as_str()).collect();
            detail.push_str(&format!(" · each {}", names.join(" × ")));
        }
        None => {}
    }
    let title = step
        .title
        .as_ref()
        .map_or_else(|| step.id.value.clone(), |t| t.value.clone());
    (single_line(&title), single_line(&detail))
}

fn single_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `within` as written: `30m`, `1h 30m`.
fn within(step: &Step, need: usize) -> Option<String> {
    step.needs
        .get(need)
        .and_then(|n| n.within.as_ref())
        .map(|w| format!("within {}", humantime::format_duration(w.value.0)))
}

// ---------------------------------------------------------------------------
// Mermaid

/// Words Mermaid's flowchart grammar reserves; a node named so breaks the chart.
const MERMAID_KEYWORDS: [&str; 14] = [
    "end",
    "graph",
    "flowchart",
    "subgraph",
    "style",
    "classdef",
    "class",
    "click",
    "linkstyle",
    "direction",
    "call",
    "href",
    "default",
    "interpolate",
];

/// A Mermaid node id for a step id. Step ids are lower-case, so capitalising a
/// keyword (`end` → `End`) cannot collide with another step, nor with the
/// subgraph ids, which all contain upper case.
fn mermaid_id(step_id: &str) -> String {
    if MERMAID_KEYWORDS.contains(&step_id) {
        let mut chars = step_id.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_ascii_uppercase().to_string() + chars.as_str()
        })
    } else {
        step_id.to_owned()
    }
}

/// Text inside a quoted Mermaid label: quotes, angle brackets and the characters
/// Mermaid treats specially become entity codes (`#quot;`).
fn mermaid_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable(text).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '|' => out.push_str("#124;"),
            '{' => out.push_str("#123;"),
            '}' => out.push_str("#125;"),
            '[' => out.push_str("#91;"),
            ']' => out.push_str("#93;"),
            '(' => out.push_str("#40;"),
            ')' => out.push_str("#41;"),
            ';' => out.push_str("#59;"),
            c => out.push(c),
        }
    }
    out
}

/// The node's shape brackets: stadium for probes, rectangle for changes, hexagon
/// for irreversible steps, parallelogram for manual ones, rounded for steps that
/// touch nothing, a subroutine box for child runbooks.
fn mermaid_shape(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Effect(Effect::Probe) => ("([", "])"),
        Kind::Effect(Effect::Change) => ("[", "]"),
        Kind::Effect(Effect::Irreversible) => ("{{", "}}"),
        Kind::Effect(Effect::Manual) => ("[/", "/]"),
        Kind::Effect(Effect::Notify) => (">", "]"),
        Kind::Effect(Effect::None) => ("(", ")"),
        Kind::Child => ("[[", "]]"),
    }
}

fn mermaid_node(out: &mut String, indent: &str, step: &Step) {
    let (open, close) = mermaid_shape(Kind::of(step));
    let (title, detail) = label_lines(step);
    let _ = writeln!(
        out,
        "{indent}{}{open}\"{}<br/>{}\"{close}",
        mermaid_id(&step.id.value),
        mermaid_text(&title),
        mermaid_text(&detail)
    );
}

fn mermaid_edges(out: &mut String, step: &Step) {
    let to = mermaid_id(&step.id.value);
    for (index, need) in step.needs.iter().enumerate() {
        let from = mermaid_id(&need.step.value);
        match within(step, index) {
            Some(label) => {
                let _ = writeln!(out, "    {from} -->|\"{}\"| {to}", mermaid_text(&label));
            }
            None => {
                let _ = writeln!(out, "    {from} --> {to}");
            }
        }
    }
    if let Action::RestoreSetting(target) | Action::RestoreFile(target) = &step.action {
        let _ = writeln!(
            out,
            "    {} -.->|\"restores\"| {to}",
            mermaid_id(&target.value)
        );
    }
}

pub fn mermaid(runbook: &Runbook) -> String {
    let mut out = String::new();
    let title = runbook
        .title
        .as_ref()
        .map_or_else(|| runbook.id.value.clone(), |t| t.value.clone());
    let _ = writeln!(out, "%% {} ({})", single_line(&title), runbook.id.value);
    out.push_str("flowchart TD\n");
    for phase in &runbook.phases {
        let indent = match &phase.id {
            Some(id) => {
                let label = phase
                    .title
                    .as_ref()
                    .map_or_else(|| id.value.clone(), |t| t.value.clone());
                let _ = writeln!(
                    out,
                    "    subgraph Phase_{}[\"{}\"]",
                    id.value,
                    mermaid_text(&single_line(&label))
                );
                "        "
            }
            None => "    ",
        };
        for step in &phase.steps {
            mermaid_node(&mut out, indent, step);
        }
        if phase.id.is_some() {
            out.push_str("    end\n");
        }
    }
    if !runbook.rollback.is_empty() {
        out.push_str("    subgraph Rollback[\"Rollback (after a failure)\"]\n");
        for step in &runbook.rollback {
            mermaid_node(&mut out, "        ", step);
        }
        out.push_str("    end\n");
    }
    for step in runbook.all_steps() {
        mermaid_edges(&mut out, step);
    }
    for kind in KINDS {
        let (fill, stroke) = kind.colours();
        let width = if kind == Kind::Effect(Effect::Irreversible) {
            "3px"
        } else {
            "1px"
        };
        let _ = writeln!(
            out,
            "    classDef {} fill:{fill},stroke:{stroke},stroke-width:{width},color:#1f2328",
            kind.name()
        );
    }
    for kind in KINDS {
        let members: Vec<String> = runbook
            .all_steps()
            .filter(|s| Kind::of(s) == kind)
            .map(|s| mermaid_id(&s.id.value))
            .collect();
        if !members.is_empty() {
            let _ = writeln!(out, "    class {} {}", members.join(","), kind.name());
        }
    }
    if !runbook.rollback.is_empty() {
        out.push_str("    style Rollback fill:#fafafa,stroke:#9e9e9e,stroke-dasharray:5 5\n");
    }
    out
}

// ---------------------------------------------------------------------------
// DOT

/// Text for inside a DOT double-quoted string: backslashes and quotes escaped,
/// so that no escape sequence of the runbook's text reaches Graphviz.
fn dot_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in printable(text).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A DOT double-quoted string.
fn dot_string(text: &str) -> String {
    format!("\"{}\"", dot_escape(text))
}

/// Shape and style: rounded boxes for probes, boxes for changes, bold hexagons
/// for irreversible steps, parallelograms for manual ones, ellipses for steps
/// that touch nothing, 3-D boxes for child runbooks.
fn dot_shape(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Effect(Effect::Probe) => ("box", "rounded,filled"),
        Kind::Effect(Effect::Change) => ("box", "filled"),
        Kind::Effect(Effect::Irreversible) => ("hexagon", "filled,bold"),
        Kind::Effect(Effect::Manual) => ("parallelogram", "filled"),
        Kind::Effect(Effect::Notify) => ("note", "filled"),
        Kind::Effect(Effect::None) => ("ellipse", "filled"),
        Kind::Child => ("box3d", "filled"),
    }
}

fn dot_node(out: &mut String, indent: &str, step: &Step) {
    let kind = Kind::of(step);
    let (fill, stroke) = kind.colours();
    let (shape, style) = dot_shape(kind);
    let (title, detail) = label_lines(step);
    let penwidth = if kind == Kind::Effect(Effect::Irreversible) {
        "3"
    } else {
        "1"
    };
    // `\n` between the two escaped texts is DOT's line break.
    let _ = writeln!(
        out,
        "{indent}{} [label=\"{}\\n{}\", shape={shape}, style=\"{style}\", fillcolor=\"{fill}\", color=\"{stroke}\", penwidth={penwidth}];",
        dot_string(&step.id.value),
        dot_escape(&title),
        dot_escape(&detail)
    );
}

pub fn dot(runbook: &Runbook) -> String {
    let mut out = String::new();
    let title = runbook
        .title
        .as_ref()
        .map_or_else(|| runbook.id.value.clone(), |t| t.value.clone());
    let _ = writeln!(out, "digraph {} {{", dot_string(&runbook.id.value));
    let _ = writeln!(
        out,
        "    graph [label={}, labelloc=t, fontname=\"Helvetica\", rankdir=TB, compound=true];",
        dot_string(&single_line(&title))
    );
    out.push_str("    node [fontname=\"Helvetica\", fontsize=11];\n");
    out.push_str("    edge [fontname=\"Helvetica\", fontsize=10];\n");
    for (index, phase) in runbook.phases.iter().enumerate() {
        match &phase.id {
            Some(id) => {
                let label = phase
                    .title
                    .as_ref()
                    .map_or_else(|| id.value.clone(), |t| t.value.clone());
                let _ = writeln!(
                    out,
                    "    subgraph {} {{",
                    dot_string(&format!("cluster_phase_{index}_{}", id.value))
                );
                let _ = writeln!(
                    out,
                    "        label={}; style=\"rounded\"; color=\"#9e9e9e\";",
                    dot_string(&single_line(&label))
                );
                for step in &phase.steps {
                    dot_node(&mut out, "        ", step);
                }
                out.push_str("    }\n");
            }
            None => {
                for step in &phase.steps {
                    dot_node(&mut out, "    ", step);
                }
            }
        }
    }
    if !runbook.rollback.is_empty() {
        out.push_str("    subgraph cluster_rollback {\n");
        out.push_str(
            "        label=\"Rollback (after a failure)\"; style=\"dashed\"; color=\"#9e9e9e\";\n",
        );
        for step in &runbook.rollback {
            dot_node(&mut out, "        ", step);
        }
        out.push_str("    }\n");
    }
    for step in runbook.all_steps() {
        let to = dot_string(&step.id.value);
        for (index, need) in step.needs.iter().enumerate() {
            let from = dot_string(&need.step.value);
            match within(step, index) {
                Some(label) => {
                    let _ = writeln!(
                        out,
                        "    {from} -> {to} [label={}, color=\"#c62828\"];",
                        dot_string(&label)
                    );
                }
                None => {
                    let _ = writeln!(out, "    {from} -> {to};");
                }
            }
        }
        if let Action::RestoreSetting(target) | Action::RestoreFile(target) = &step.action {
            let _ = writeln!(
                out,
                "    {} -> {to} [label=\"restores\", style=dashed];",
                dot_string(&target.value)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// `runbook graph FILE`.
pub fn run(file: &Path, format: Format, out: &mut Output) -> Result<i32, ReportError> {
    if !file.exists() {
        return Err(ReportError::NoSuchPath(file.to_owned()));
    }
    let runbook = crate::eval::load(file)?;
    out.show(|_| match format {
        Format::Mermaid => mermaid(&runbook),
        Format::Dot => dot(&runbook),
    })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fan_out_says_it_acts_per_item_and_over_what() {
        let text = "runbook: g\nsteps:\n  - id: each\n    effect: probe\n    for_each: { node: [a], component: [b] }\n    command: echo\n  - id: list\n    effect: probe\n    for_each: [a]\n    command: echo\n";
        let checked = crate::document::check(std::path::Path::new("g.yaml"), text);
        let runbook = checked.runbook.expect("a runbook");
        let steps: Vec<&Step> = runbook.steps().collect();
        assert_eq!(
            label_lines(steps[0]).1,
            "each · probe · each node × component"
        );
        assert_eq!(label_lines(steps[1]).1, "list · probe · each item");
    }

    #[test]
    fn mermaid_keywords_get_ids_no_step_can_have() {
        assert_eq!(mermaid_id("end"), "End");
        assert_eq!(mermaid_id("class"), "Class");
        assert_eq!(mermaid_id("verify_zones"), "verify_zones");
    }

    #[test]
    fn labels_cannot_break_out_of_their_quotes() {
        assert_eq!(
            mermaid_text(r#"say "hi" <b> [x] {y} (z) a|b #1; `c`"#),
            "say #quot;hi#quot; #lt;b#gt; #91;x#93; #123;y#125; #40;z#41; a#124;b #35;1#59; #96;c#96;"
        );
        assert_eq!(dot_string(r#"a "b" \N c"#), r#""a \"b\" \\N c""#);
    }
}
