//! The runbook language: the YAML node tree, the model, decoding, the rules that
//! check it, and the diagnostics they produce. [`check`] runs them all on one file.

pub mod children;
pub mod decode;
pub mod diagnostic;
pub mod evidence;
pub mod locate;
pub mod model;
pub mod node;
pub mod pattern;
pub mod rules;
pub mod source;
pub mod suppression;
pub mod templates;
pub mod token;

use std::path::Path;

use diagnostic::{Code, Diagnostic, Severity};
use model::Runbook;
pub use source::Source;

/// A file after every check: the runbook when it could be read, and every problem.
#[derive(Debug)]
pub struct Checked {
    pub runbook: Option<Runbook>,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// `text` as a snippet under `diagnostics` may show it: each literal secret
/// they found (RB022) and any token anywhere — a comment on a shown line too —
/// masked to its last four characters.
pub fn shown_text(text: &str, diagnostics: &[Diagnostic]) -> String {
    let literal = diagnostics
        .iter()
        .filter(|d| d.code == Code::LiteralSecret)
        .map(|d| d.span.offset..d.span.offset + d.span.len);
    crate::secret::redact_ranges(text, literal.chain(token::find_all(text)))
}

/// Parses, decodes and checks one runbook's text. Diagnostics come sorted by
/// position, so they read top to bottom like the file.
pub fn check(path: &Path, text: &str) -> Checked {
    let mut diagnostics = Vec::new();
    let root = match node::parse(text) {
        Ok(root) => root,
        Err(error) => {
            diagnostics.push(
                Diagnostic::new(Code::YamlSyntax, error.span, error.message).help(error.help),
            );
            return Checked {
                runbook: None,
                diagnostics,
            };
        }
    };
    let runbook = decode::decode(&root, text, &mut diagnostics);
    if let Some(runbook) = &runbook {
        let context = rules::Context {
            path,
            text,
            root: &root,
            runbook,
            incomplete: runbook
                .all_steps()
                .any(|s| !s.unread.is_empty() || s.id.value.is_empty()),
        };
        rules::check(&context, &mut diagnostics);
    }
    diagnostics.sort_by_key(|d| (d.span.offset, d.code));
    Checked {
        runbook,
        diagnostics,
    }
}
