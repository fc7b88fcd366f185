//! Diagnostics as GitHub Actions workflow commands, which GitHub shows as
//! annotations on the pull request's diff.

use super::FileReport;
use crate::document::diagnostic::Severity;
use std::fmt::Write as _;

/// One `::error file=…,line=…,col=…,title=RB0xx::message` line per diagnostic.
pub fn render(report: &FileReport) -> String {
    let mut out = String::new();
    for d in &report.diagnostics {
        let command = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = d.message.clone();
        if let Some(help) = &d.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            property(&report.path),
            d.span.line,
            d.span.col,
            d.code,
            data(&message),
        );
    }
    out
}

/// Escaping of a command's message, as the Actions toolkit does it.
fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping of a property value, which also may not hold `:` or `,`.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_the_actions_toolkit() {
        assert_eq!(data("50%\nnext"), "50%25%0Anext");
        assert_eq!(property("a,b:c"), "a%2Cb%3Ac");
    }
}
