//! Diagnostics as one JSON document, for tools: stable field names, 1-based lines
//! and columns (columns count characters). It is written in pieces — header, one
//! entry per file as it is checked, footer — so memory stays flat.

use serde_json::{Value, json};

use super::{FileReport, Totals};
use crate::document::diagnostic::Diagnostic;

/// The format version; bumped only when a field changes meaning or disappears.
pub const VERSION: u32 = 1;

/// The opening of the document, before the first file.
pub fn header() -> String {
    format!("{{\n  \"version\": {VERSION},\n  \"files\": [")
}

/// One file's entry, written as soon as the file is checked.
pub fn file(report: &FileReport, first: bool) -> String {
    let entry = json!({
        "path": report.path,
        "runbook": report.runbook,
        "diagnostics": report.diagnostics.iter().map(|d| diagnostic(&report.path, d)).collect::<Vec<_>>(),
        "suppressed": report.suppressed.iter().map(|s| {
            let mut entry = diagnostic(&report.path, &s.diagnostic);
            entry["suppression"] = json!({"kind": s.kind.as_str(), "justification": s.justification});
            entry
        }).collect::<Vec<_>>(),
    });
    let separator = if first { "\n    " } else { ",\n    " };
    format!(
        "{separator}{}",
        serde_json::to_string(&entry).unwrap_or_default()
    )
}

/// The end of the document: the totals.
pub fn footer(totals: Totals) -> String {
    let summary = json!({
        "files": totals.files,
        "errors": totals.errors,
        "warnings": totals.warnings,
        "suppressed": totals.suppressed,
    });
    format!("\n  ],\n  \"summary\": {summary}\n}}")
}

fn diagnostic(path: &str, d: &Diagnostic) -> Value {
    json!({
        "code": d.code.as_str(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "help": d.help,
        "path": path,
        "line": d.span.line,
        "column": d.span.col,
    })
}
