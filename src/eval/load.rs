//! Loading a runbook to plan or run it: read, parsed and checked; one with
//! errors is refused with its diagnostics (rendered by the edge that prints
//! them). Also the hashes that tie a run or a plan to the files it was made from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::document::diagnostic::{Diagnostic, Severity};
use crate::document::model::{Action, Runbook};
use crate::document::rules::parent_dir;
use crate::document::{self, Checked};

/// Child runbooks nest at most this deep; `validate` refuses cycles, so this
/// only bounds a file changed since it was checked.
pub const MAX_CHILD_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("`{}` is not a valid runbook ({errors} error(s)); nothing was run", path.display())]
    Invalid {
        path: PathBuf,
        errors: usize,
        /// Every diagnostic, as `validate` would show them.
        diagnostics: Vec<Diagnostic>,
        /// The file's text with literal secrets blanked, for the snippets.
        text: String,
    },
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LoadError {
    pub fn help(&self) -> Option<String> {
        match self {
            LoadError::Invalid { .. } => {
                Some("fix the problems above; `runbook validate FILE` shows them again".to_owned())
            }
            LoadError::Read { .. } => None,
        }
    }
}

/// Reads and checks a runbook; one with errors is never planned or run.
pub fn load(file: &Path) -> Result<Runbook, LoadError> {
    let source = document::source::read(file).map_err(|d| LoadError::Read {
        path: file.to_path_buf(),
        source: std::io::Error::other(d.message),
    })?;
    let Checked {
        runbook,
        diagnostics,
    } = document::check(file, &source.text);
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    match runbook {
        Some(runbook) if errors == 0 => Ok(runbook),
        _ => {
            let text = document::shown_text(&source.text, &diagnostics);
            Err(LoadError::Invalid {
                path: file.to_path_buf(),
                errors: errors.max(1),
                diagnostics,
                text,
            })
        }
    }
}

/// Every child runbook below `file`, loaded (the ones that load), for checking
/// answers before anything starts.
pub fn load_all(file: &Path, runbook: &Runbook) -> Vec<(PathBuf, Runbook)> {
    let mut out = Vec::new();
    collect(file, runbook, 0, &mut out);
    out
}

fn collect(file: &Path, runbook: &Runbook, depth: usize, out: &mut Vec<(PathBuf, Runbook)>) {
    if depth > MAX_CHILD_DEPTH {
        return;
    }
    let base = parent_dir(file);
    for step in runbook.all_steps() {
        if let Action::Runbook(path) = &step.action {
            let child_file = base.join(&path.value);
            if let Ok(child) = load(&child_file) {
                collect(&child_file, &child, depth + 1, out);
                out.push((child_file, child));
            }
        }
    }
}

/// The runbook and every child below it, each with how `--confirm` names its
/// steps: empty at the top, `kid.` for the child that step `kid` runs,
/// `kid.sub.` below that (the first such name, for a child run by several steps).
pub fn scoped<'a>(
    file: &Path,
    runbook: &'a Runbook,
    children: &'a [(PathBuf, Runbook)],
) -> Vec<(&'a Runbook, String)> {
    let mut out = vec![(runbook, String::new())];
    let mut seen = Vec::new();
    scope_children(file, runbook, "", children, 0, &mut seen, &mut out);
    out
}

fn scope_children<'a>(
    file: &Path,
    runbook: &Runbook,
    prefix: &str,
    children: &'a [(PathBuf, Runbook)],
    depth: usize,
    seen: &mut Vec<PathBuf>,
    out: &mut Vec<(&'a Runbook, String)>,
) {
    if depth > MAX_CHILD_DEPTH {
        return;
    }
    let base = parent_dir(file);
    for step in runbook.all_steps() {
        let Action::Runbook(path) = &step.action else {
            continue;
        };
        let child_file = base.join(&path.value);
        if seen.contains(&child_file) {
            continue;
        }
        if let Some((_, child)) = children.iter().find(|(p, _)| *p == child_file) {
            seen.push(child_file.clone());
            let scope = format!("{prefix}{}.", step.id.value);
            out.push((child, scope.clone()));
            scope_children(&child_file, child, &scope, children, depth + 1, seen, out);
        }
    }
}

/// The hash a journal or a plan keeps of a runbook file, to refuse a changed one.
pub fn file_hash(file: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(file).map_err(|source| LoadError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    Ok(sha256_hex(&bytes))
}

/// Hashes of the child runbook files, by path.
pub fn child_hashes(file: &Path, runbook: &Runbook) -> BTreeMap<String, String> {
    let base = parent_dir(file);
    runbook
        .all_steps()
        .filter_map(|s| match &s.action {
            Action::Runbook(path) => Some(base.join(&path.value)),
            _ => None,
        })
        .filter_map(|path| Some((path.display().to_string(), file_hash(&path).ok()?)))
        .collect()
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}
