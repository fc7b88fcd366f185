//! Diagnostics for a person at a terminal: compiler-style snippets with a caret
//! under the offending node, drawn by annotate-snippets.

use annotate_snippets::{AnnotationKind, Level, Renderer, Snippet};

use super::Totals;
use crate::document::diagnostic::{Diagnostic, Severity};

/// Renders one file's diagnostics. `text` is the file's source, when it could be
/// read; without it (an unreadable file) the message stands alone.
pub fn render(path: &str, text: Option<&str>, diagnostics: &[Diagnostic], color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for diagnostic in diagnostics {
        let level = match diagnostic.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = level
            .primary_title(diagnostic.message.as_str())
            .id(diagnostic.code.as_str());
        let rendered = match text {
            Some(text) => {
                let span = diagnostic.span;
                let start = span.offset.min(text.len());
                let end = start + caret_len(text, start, span.len);
                let mut group = title.element(
                    Snippet::source(text)
                        .path(path)
                        .annotation(AnnotationKind::Primary.span(start..end)),
                );
                if let Some(help) = &diagnostic.help {
                    group = group.element(Level::HELP.message(help.as_str()));
                }
                renderer.render(&[group])
            }
            None => {
                let mut group = title
                    .element(Snippet::<annotate_snippets::Annotation<'_>>::source("").path(path));
                if let Some(help) = &diagnostic.help {
                    group = group.element(Level::HELP.message(help.as_str()));
                }
                renderer.render(&[group])
            }
        };
        out.push_str(&rendered);
        out.push_str("\n\n");
    }
    out
}

/// How many bytes the caret covers: the node on its first line, at least one
/// character, never past the end of the line.
fn caret_len(text: &str, start: usize, len: usize) -> usize {
    let rest = &text[start..];
    let line_end = rest.find('\n').unwrap_or(rest.len());
    let len = len.min(line_end);
    if len > 0 {
        return len;
    }
    rest.chars()
        .next()
        .filter(|c| *c != '\n')
        .map_or(0, char::len_utf8)
}

/// The closing line: `3 files checked: 2 errors, 1 warning` (`, 1 ignored` when
/// a finding was accepted on purpose).
pub fn summary(totals: Totals) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let ignored = if totals.suppressed > 0 {
        format!(", {} ignored", totals.suppressed)
    } else {
        String::new()
    };
    format!(
        "{} checked: {}, {}{ignored}",
        plural(totals.files, "file"),
        plural(totals.errors, "error"),
        plural(totals.warnings, "warning")
    )
}
