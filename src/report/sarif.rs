//! Diagnostics as SARIF 2.1.0, the format code-scanning tools (GitHub code
//! scanning, IDE SARIF viewers) read. Every diagnostic code is a rule; a finding
//! accepted on purpose is a result with its `suppressions`.

use serde_json::{Value, json};
use std::fmt::Write as _;

use super::FileReport;
use crate::document::diagnostic::{Code, Diagnostic, Severity};
use crate::document::suppression::Suppressed;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

pub fn render(reports: &[FileReport]) -> String {
    let rules: Vec<Value> = Code::ALL
        .iter()
        .map(|code| {
            json!({
                "id": code.as_str(),
                "name": rule_name(code.title()),
                "shortDescription": {"text": code.title()},
                "defaultConfiguration": {"level": level(code.severity())},
                "help": {"text": format!("See {} in the table of diagnostics of runbook's README.", code.as_str())},
            })
        })
        .collect();
    let mut artifacts = Vec::new();
    let mut results = Vec::new();
    for report in reports {
        let artifact = artifacts.len();
        artifacts.push(json!({"location": {"uri": uri(&report.path)}}));
        for d in &report.diagnostics {
            results.push(result(d, &report.path, artifact, None));
        }
        for accepted in &report.suppressed {
            results.push(result(
                &accepted.diagnostic,
                &report.path,
                artifact,
                Some(accepted),
            ));
        }
    }
    let document = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "runbook",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "artifacts": artifacts,
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

/// One result; a finding accepted on purpose carries its suppression, which
/// SARIF viewers show as dismissed instead of open.
fn result(d: &Diagnostic, path: &str, artifact: usize, suppressed: Option<&Suppressed>) -> Value {
    let rule = Code::ALL.iter().position(|c| *c == d.code).unwrap_or(0);
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        let _ = write!(message, "\nhelp: {help}");
    }
    let mut result = json!({
        "ruleId": d.code.as_str(),
        "ruleIndex": rule,
        "level": level(d.severity),
        "message": {"text": message},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri(path), "index": artifact},
                "region": {"startLine": d.span.line.max(1), "startColumn": d.span.col.max(1)},
            }
        }],
    });
    if let Some(accepted) = suppressed {
        let mut suppression = json!({"kind": accepted.kind.as_str(), "status": "accepted"});
        if let Some(justification) = &accepted.justification {
            suppression["justification"] = json!(justification);
        }
        result["suppressions"] = json!([suppression]);
    }
    result
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `unknown key` → `UnknownKey`, the `PascalCase` name SARIF viewers show.
fn rule_name(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A relative file path as a URI reference (forward slashes, spaces escaped).
fn uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    path.replace('\\', "/")
        .replace('%', "%25")
        .replace(' ', "%20")
}
