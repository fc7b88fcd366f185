//! Diagnostics as `JUnit` XML, which CI systems show as a test report: one test case
//! per file, failing when the file has errors (warnings go to its `system-out`).

use std::fmt::Write as _;

use super::{FileReport, Totals};
use crate::document::diagnostic::Severity;

pub fn render(reports: &[FileReport], totals: Totals) -> String {
    let failures = reports
        .iter()
        .filter(|r| r.count(Severity::Error) > 0)
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"runbook validate\" tests=\"{}\" failures=\"{failures}\">",
        totals.files
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"runbook validate\" tests=\"{}\" failures=\"{failures}\" errors=\"0\">",
        totals.files
    );
    for report in reports {
        let name = escape(&report.path);
        let _ = write!(
            out,
            "    <testcase classname=\"runbook.validate\" name=\"{name}\""
        );
        if report.diagnostics.is_empty() {
            out.push_str("/>\n");
            continue;
        }
        out.push_str(">\n");
        let (errors, warnings): (Vec<_>, Vec<_>) = report
            .diagnostics
            .iter()
            .partition(|d| d.severity == Severity::Error);
        let line = |d: &crate::document::diagnostic::Diagnostic| {
            let help = d
                .help
                .as_deref()
                .map(|h| format!(" (help: {h})"))
                .unwrap_or_default();
            format!(
                "{}:{}:{}: {} {}: {}{help}",
                report.path, d.span.line, d.span.col, d.severity, d.code, d.message
            )
        };
        if let Some(first) = errors.first() {
            let body: Vec<String> = errors.iter().map(|d| line(d)).collect();
            let _ = writeln!(
                out,
                "      <failure type=\"{}\" message=\"{}\">{}</failure>",
                first.code,
                escape(&format!(
                    "{} error(s); first: {}",
                    errors.len(),
                    first.message
                )),
                escape(&body.join("\n"))
            );
        }
        if !warnings.is_empty() {
            let body: Vec<String> = warnings.iter().map(|d| line(d)).collect();
            let _ = writeln!(
                out,
                "      <system-out>{}</system-out>",
                escape(&body.join("\n"))
            );
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

/// XML text and attribute escaping; control characters XML 1.0 forbids are dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
