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
    let lines = text.map(Lines::of);
    for diagnostic in diagnostics {
        let level = match diagnostic.severity {
            Severity::Error => Level::ERROR,
            Severity::Warning => Level::WARNING,
        };
        let title = level
            .primary_title(diagnostic.message.as_str())
            .id(diagnostic.code.as_str());
        let rendered = match (text, &lines) {
            (Some(text), Some(lines)) => {
                let span = diagnostic.span;
                let start = span.offset.min(text.len());
                let end = start + caret_len(text, start, span.len);
                // Only the caret's line is shown: hand annotate-snippets that
                // line, not the whole file (which it would read through for
                // every finding, making a file of many findings quadratic).
                let (number, line) = lines.around(start);
                let mut group = title.element(
                    Snippet::source(&text[line.clone()])
                        .line_start(number)
                        .path(path)
                        .annotation(AnnotationKind::Primary.span(
                            start - line.start..end.clamp(start, line.end.max(start)) - line.start,
                        )),
                );
                if let Some(help) = &diagnostic.help {
                    group = group.element(Level::HELP.message(help.as_str()));
                }
                renderer.render(&[group])
            }
            _ => {
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

/// Where each line of a file starts.
struct Lines<'t> {
    text: &'t str,
    starts: Vec<usize>,
}

impl<'t> Lines<'t> {
    fn of(text: &'t str) -> Lines<'t> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Lines { text, starts }
    }

    /// The line holding byte `offset`: its number (from 1) and its bytes,
    /// without the line break (`\n` or `\r\n`).
    fn around(&self, offset: usize) -> (usize, std::ops::Range<usize>) {
        let index = self.starts.partition_point(|&start| start <= offset).max(1) - 1;
        let start = self.starts[index];
        let rest = &self.text[start..];
        let line = match rest.find('\n') {
            Some(at) => rest[..at].strip_suffix('\r').unwrap_or(&rest[..at]),
            None => rest,
        };
        (index + 1, start..start + line.len())
    }
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
