//! `runbook list [DIR]`: one line per runbook with its id, title, priority and
//! estimate, so a team sees at a glance what procedures exist.

use std::fmt::Write as _;
use std::path::Path;

use crate::document::{self, diagnostic::Severity};
use crate::error::Error;
use crate::output::{Output, printable};
use crate::validate;

/// Lists the runbooks under `dir` (default `runbooks/`). Files that cannot be read
/// as runbooks are listed as such, with a pointer to `validate`.
pub fn run(dir: Option<&Path>, out: &mut Output) -> Result<i32, Error> {
    let dir = dir.unwrap_or(Path::new("runbooks"));
    if !dir.exists() {
        return Err(if dir == Path::new("runbooks") {
            Error::NoRunbooksDir
        } else {
            Error::NoSuchPath(dir.to_path_buf())
        });
    }
    let mut rows = vec![[
        "ID".to_owned(),
        "PRIORITY".to_owned(),
        "ESTIMATE".to_owned(),
        "TITLE".to_owned(),
        "FILE".to_owned(),
    ]];
    for path in validate::files(dir) {
        let shown = path.display().to_string();
        let checked = document::source::read(&path)
            .ok()
            .map(|source| document::check(&path, &source.text));
        let errors = checked.as_ref().map_or(0, |c| {
            c.diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count()
        });
        let row = match checked.and_then(|c| c.runbook) {
            Some(runbook) if errors == 0 => [
                runbook.id.value.clone(),
                runbook
                    .priority
                    .map_or("-".to_owned(), |p| p.value.as_str().to_owned()),
                runbook.estimate.map_or("-".to_owned(), |e| {
                    humantime::format_duration(e.value.0).to_string()
                }),
                runbook.title.map_or_else(String::new, |t| t.value),
                shown,
            ],
            runbook => [
                runbook.map_or_else(|| "?".to_owned(), |r| r.id.value),
                "-".to_owned(),
                "-".to_owned(),
                format!("(not a valid runbook: see `runbook validate {shown}`)"),
                shown,
            ],
        };
        rows.push(row);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| {
            rows.iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i < 4 {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            } else {
                line.push_str(cell);
            }
        }
        out.line(&printable(line.trim_end()))?;
    }
    Ok(0)
}
