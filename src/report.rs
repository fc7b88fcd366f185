//! Renderers: every way `runbook` shows results to a person or a machine. For
//! `validate`, each format renders the same [`FileReport`]s.

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod run_report;
pub mod sarif;

use crate::document::diagnostic::{Diagnostic, Severity};
use crate::document::suppression::Suppressed;

/// The outcome of validating one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as the user wrote it (or as found under a directory they named).
    pub path: String,
    /// The runbook id, when the file could be read that far.
    pub runbook: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// Findings accepted on purpose: not counted, still shown by SARIF and JSON.
    pub suppressed: Vec<Suppressed>,
}

impl FileReport {
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }
}

/// Totals over all files, for the closing line of every format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    pub suppressed: usize,
}

impl Totals {
    pub fn add(&mut self, report: &FileReport) {
        self.files += 1;
        self.errors += report.count(Severity::Error);
        self.warnings += report.count(Severity::Warning);
        self.suppressed += report.suppressed.len();
    }
}
