//! `runbook validate`: finds runbook files, checks each one, and renders the
//! diagnostics in the chosen format. Files are checked on `--jobs` threads and
//! handed on in the order one thread would print them (`validate/ordered.rs`); in
//! the streaming formats each is printed as its turn comes, so memory stays flat
//! however many files there are.

mod ordered;

use std::path::{Path, PathBuf};

use crate::document::{self, diagnostic::Code};
use crate::error::Error;
use crate::output::Output;
use crate::report::{self, FileReport, Totals};
use crate::secret;

/// Output formats of `validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    Sarif,
    Junit,
}

/// Validates `paths` (default `runbooks/`) with `jobs` threads and returns the
/// exit code: 0 clean, 1 problems found (warnings count only with `deny_warnings`).
pub fn run(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    jobs: usize,
    out: &mut Output,
) -> Result<i32, Error> {
    let roots = if paths.is_empty() {
        let default = PathBuf::from("runbooks");
        if !default.is_dir() {
            return Err(Error::NoRunbooksDir);
        }
        vec![default]
    } else {
        paths.to_vec()
    };
    for root in &roots {
        if std::fs::symlink_metadata(root).is_err() {
            return Err(Error::NoSuchPath(root.clone()));
        }
    }
    let mut found = Vec::new();
    for root in &roots {
        let files = files(root);
        if files.is_empty() {
            return Err(Error::NothingToValidate(root.clone()));
        }
        found.extend(files);
    }
    let mut totals = Totals::default();
    let mut kept = Vec::new();
    if format == Format::Json {
        out.write(&report::json::header())?;
    }
    let mut sarif = match format {
        Format::Sarif => Some(report::sarif::Stream::start(out)?),
        Format::Human | Format::Json | Format::Github | Format::Junit => None,
    };
    let color = out.color();
    let work = |file: &PathBuf| check_file(file, format, color);
    ordered::map_in_order(&found, jobs, work, |(report, shown)| {
        if let Some(shown) = shown {
            out.write(&shown)?;
        }
        totals.add(&report);
        match format {
            // JSON is written file by file, so memory stays flat however many files.
            Format::Json => out.write(&report::json::file(&report, totals.files == 1))?,
            // SARIF too, but for its results: see `report/sarif.rs`.
            Format::Sarif => {
                if let Some(sarif) = &mut sarif {
                    sarif.file(&report, out)?;
                }
            }
            Format::Junit => kept.push(report),
            Format::Human | Format::Github => {}
        }
        Ok::<(), Error>(())
    })?;
    match format {
        Format::Human => {
            let summary = report::human::summary(totals);
            out.line(&summary)?;
        }
        Format::Github => {}
        Format::Json => out.line(&report::json::footer(totals))?,
        Format::Sarif => {
            if let Some(sarif) = sarif {
                sarif.finish(out)?;
            }
        }
        Format::Junit => out.write(&report::junit::render(&kept, totals))?,
    }
    let failed = totals.errors > 0 || (deny_warnings && totals.warnings > 0);
    Ok(i32::from(failed))
}

/// Checks one file: its report, and what the human and GitHub formats print for
/// it (rendered here, on the worker, since rendering is part of the work).
fn check_file(path: &Path, format: Format, color: bool) -> (FileReport, Option<String>) {
    let shown = path.display().to_string();
    let (text, checked) = match document::source::read(path) {
        Ok(source) => {
            let checked = document::check(path, &source.text);
            (Some(source.text), checked)
        }
        Err(diagnostic) => (
            None,
            document::Checked {
                runbook: None,
                diagnostics: vec![diagnostic],
            },
        ),
    };
    let report = FileReport {
        path: shown,
        runbook: checked
            .runbook
            .map(|r| r.id.value)
            .filter(|id| !id.is_empty()),
        diagnostics: checked.diagnostics,
    };
    let shown = match format {
        Format::Human if !report.diagnostics.is_empty() => {
            // A literal secret in the file must not be echoed again in the snippet.
            let secrets = report
                .diagnostics
                .iter()
                .filter(|d| d.code == Code::LiteralSecret)
                .map(|d| d.span.offset..d.span.offset + d.span.len);
            let text = text.map(|text| secret::redact_ranges(&text, secrets));
            Some(report::human::render(
                &report.path,
                text.as_deref(),
                &report.diagnostics,
                color,
            ))
        }
        Format::Github => Some(report::github::render(&report)),
        Format::Human | Format::Json | Format::Sarif | Format::Junit => None,
    };
    (report, shown)
}

/// The runbook files under `root`: the file itself, or every `.yaml`/`.yml` file
/// below a directory, sorted, skipping hidden directories (such as `.runbook/`
/// state). A file named explicitly is checked whatever its extension.
pub fn files(root: &Path) -> Vec<PathBuf> {
    if !root.is_dir() {
        return vec![root.to_path_buf()];
    }
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    // Directories already walked, by their real path: a symlink back up the
    // tree must not make a file count twice (or forever).
    let mut walked = std::collections::HashSet::new();
    while let Some(dir) = pending.pop() {
        if !walked.insert(dir.canonicalize().unwrap_or_else(|_| dir.clone())) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            // An unreadable directory is reported as a file that cannot be read.
            found.push(dir);
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                pending.push(path);
            } else if is_yaml(&path) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn is_yaml(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}
