//! Diagnostics as SARIF 2.1.0, the format code-scanning tools (GitHub code
//! scanning, IDE SARIF viewers) read. Every diagnostic code is a rule; a finding
//! accepted on purpose is a result with its `suppressions`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};

use serde_json::{Value, json};
use std::fmt::Write as _;

use super::FileReport;
use crate::document::diagnostic::{Code, Diagnostic, Severity};
use crate::document::suppression::Suppressed;
use crate::error::Error;
use crate::output::Output;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";
/// Where the entries of `artifacts` and `results` sit in the pretty document.
const ENTRY_INDENT: &str = "        ";
const CLOSING_INDENT: &str = "\n      ";

/// The document written as files are checked, so memory stays flat: each file's
/// artifact goes out at once. Its results belong after every artifact (the keys
/// are in order, `artifacts` before `results`), so they wait in an unnamed
/// temporary file until the last file, not in memory. The bytes are those of the
/// whole document pretty-printed at once.
pub struct Stream {
    spool: BufWriter<File>,
    artifacts: usize,
    results: usize,
    /// The document with no artifact and no result, cut where they go.
    between: String,
    after: String,
}

impl Stream {
    /// Writes the opening, up to the first artifact.
    pub fn start(out: &mut Output) -> Result<Self, Error> {
        let empty = serde_json::to_string_pretty(&skeleton()).unwrap_or_default();
        let cut = |key: &str, from: usize| {
            let needle = format!("\"{key}\": [");
            empty[from..]
                .find(&needle)
                .map_or(from, |at| from + at + needle.len())
        };
        let artifacts = cut("artifacts", 0);
        let results = cut("results", artifacts);
        out.write(&empty[..artifacts])?;
        Ok(Stream {
            spool: BufWriter::new(tempfile::tempfile().map_err(Error::Output)?),
            artifacts: 0,
            results: 0,
            between: empty[artifacts..results].to_owned(),
            after: empty[results..].to_owned(),
        })
    }

    /// One file: its artifact, written now, and its results, kept for the end.
    pub fn file(&mut self, report: &FileReport, out: &mut Output) -> Result<(), Error> {
        let artifact = self.artifacts;
        let entry = json!({"location": {"uri": uri(&report.path)}});
        out.write(&entry_text(&entry, artifact == 0))?;
        self.artifacts += 1;
        let open = report.diagnostics.iter().map(|d| (d, None));
        let accepted = report
            .suppressed
            .iter()
            .map(|accepted| (&accepted.diagnostic, Some(accepted)));
        for (diagnostic, suppressed) in open.chain(accepted) {
            let entry = result(diagnostic, &report.path, artifact, suppressed);
            self.spool
                .write_all(entry_text(&entry, self.results == 0).as_bytes())
                .map_err(Error::Output)?;
            self.results += 1;
        }
        Ok(())
    }

    /// Writes the results and the rest of the document.
    pub fn finish(self, out: &mut Output) -> Result<(), Error> {
        if self.artifacts > 0 {
            out.write(CLOSING_INDENT)?;
        }
        out.write(&self.between)?;
        let mut spool = self
            .spool
            .into_inner()
            .map_err(|e| Error::Output(e.into_error()))?;
        spool.rewind().map_err(Error::Output)?;
        // Written in pieces of some 64 KiB, whole lines each (an entry's lines
        // hold no raw newline: JSON escapes it).
        let mut lines = BufReader::new(spool);
        let mut piece = String::new();
        loop {
            let read = lines.read_line(&mut piece).map_err(Error::Output)?;
            if read == 0 || piece.len() >= 1 << 16 {
                out.write(&piece)?;
                piece.clear();
            }
            if read == 0 {
                break;
            }
        }
        if self.results > 0 {
            out.write(CLOSING_INDENT)?;
        }
        out.line(&self.after)
    }
}

/// An entry of `artifacts` or `results`, indented as in the whole document.
fn entry_text(entry: &Value, first: bool) -> String {
    let pretty = serde_json::to_string_pretty(entry).unwrap_or_default();
    let separator = if first { "\n" } else { ",\n" };
    format!(
        "{separator}{ENTRY_INDENT}{}",
        pretty.replace('\n', &format!("\n{ENTRY_INDENT}"))
    )
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

/// The whole document with no artifact and no result.
fn skeleton() -> Value {
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
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "runbook",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "artifacts": [],
            "results": [],
            "columnKind": "unicodeCodePoints",
        }],
    })
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
