//! Diagnostics as one JSON document, for tools: stable field names, 1-based lines
//! and columns (columns count characters).

use serde_json::{Value, json};

use super::{FileReport, Totals};
use crate::document::diagnostic::Diagnostic;

/// The format version; bumped only when a field changes meaning or disappears.
pub const VERSION: u32 = 1;

pub fn render(reports: &[FileReport], totals: Totals) -> String {
    let files: Vec<Value> = reports
        .iter()
        .map(|report| {
            json!({
                "path": report.path,
                "runbook": report.runbook,
                "diagnostics": report.diagnostics.iter().map(|d| diagnostic(&report.path, d)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let document = json!({
        "version": VERSION,
        "files": files,
        "summary": {"files": totals.files, "errors": totals.errors, "warnings": totals.warnings},
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
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
