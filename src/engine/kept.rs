//! Secret values a run still needs to finish, kept at rest until it ends, so
//! that `resume` never asks for a value nobody can give: the old token read
//! from an env file the run has since overwritten, a password a step generated.
//!
//! They live in one JSON file per run, `<state>/<runbook-id>/secrets/<run-id>.json`
//! (directory 0700, file 0600, replaced atomically at each new value) and never
//! in the journal, which keeps only their fingerprints: `resume` checks each kept
//! value against its fingerprint before it uses it. The file goes when the run
//! ends (passed, failed, abandoned); a run that is blocked or interrupted keeps
//! it. `--no-keep-secrets` or `keep_secrets: false` keeps nothing, and `resume`
//! asks for the secrets again.

use std::collections::BTreeMap;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use crate::action::setting::atomic;

/// Why the kept secrets could not be written or removed.
#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    #[error("cannot keep the run's secrets in `{}`: {step}: {source}", path.display())]
    Write {
        path: PathBuf,
        step: &'static str,
        source: io::Error,
    },
}

impl KeptError {
    pub fn help(&self) -> &'static str {
        "make the state directory writable, or run with `--no-keep-secrets` (resume then asks for the secrets again)"
    }
}

/// The kept secrets of one run: `inputs.NAME` or `steps.ID.FIELD` → value.
#[derive(Debug)]
pub struct Kept {
    /// Where they are kept; `None` when the operator or the runbook opted out.
    path: Option<PathBuf>,
    values: BTreeMap<String, String>,
}

impl Kept {
    /// Kept secrets for a run, written to `path` unless `path` is `None`.
    pub fn new(path: Option<PathBuf>) -> Kept {
        Kept {
            path,
            values: BTreeMap::new(),
        }
    }

    /// Whether this run keeps its secrets at rest.
    pub fn enabled(&self) -> bool {
        self.path.is_some()
    }

    /// Keeps `value` under `key` (durably, before the run moves on).
    pub fn keep(&mut self, key: &str, value: &str) -> Result<(), KeptError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.values.get(key).map(String::as_str) == Some(value) {
            return Ok(());
        }
        self.values.insert(key.to_owned(), value.to_owned());
        let written = |step: &'static str| {
            let path = path.clone();
            move |source| KeptError::Write { path, step, source }
        };
        let dir = atomic::parent(path);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(written("create the directory"))?;
        let bytes = serde_json::to_vec_pretty(&self.values)
            .map_err(|e| io::Error::other(e.to_string()))
            .map_err(written("serialise"))?;
        atomic::replace(path, &bytes, 0o600, None).map_err(|failure| KeptError::Write {
            path: path.clone(),
            step: failure.step,
            source: failure.source,
        })
    }

    /// The values kept at `path` by an earlier process of the same run. A file
    /// that is missing holds nothing; one that cannot be read is reported, and
    /// its secrets are asked for again.
    pub fn load(&mut self, path: &Path) -> Result<BTreeMap<String, String>, String> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(error) => return Err(format!("cannot read `{}`: {error}", path.display())),
        };
        let values: BTreeMap<String, String> = serde_json::from_slice(&text)
            .map_err(|error| format!("`{}` is not a kept-secrets file: {error}", path.display()))?;
        self.values.clone_from(&values);
        Ok(values)
    }

    /// Removes the kept secrets of a run that has ended.
    pub fn remove(path: &Path) -> Result<(), KeptError> {
        atomic::remove(path).map_err(|failure| KeptError::Write {
            path: path.to_owned(),
            step: failure.step,
            source: failure.source,
        })
    }
}

/// The runs of a runbook that hold secrets at rest now, by run id, oldest first.
pub fn held(state: &crate::engine::state_dir::StateDir) -> Vec<String> {
    let dir = state.kept_path("-");
    let Some(dir) = dir.parent() else {
        return Vec::new();
    };
    let mut runs: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    runs.sort();
    runs
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn values_are_kept_owner_only_and_read_back() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("secrets/r1.json");
        let mut kept = Kept::new(Some(path.clone()));
        kept.keep("steps.old_token.value", "cfut_old").unwrap();
        kept.keep("inputs.new_token", "cfut_new").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&temp.path().join("secrets")), 0o700);

        let mut again = Kept::new(Some(path.clone()));
        let values = again.load(&path).unwrap();
        assert_eq!(values["steps.old_token.value"], "cfut_old");
        assert_eq!(values["inputs.new_token"], "cfut_new");

        Kept::remove(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(again.load(&path).unwrap(), BTreeMap::new());
    }

    #[test]
    fn nothing_is_written_when_the_run_opted_out() {
        let temp = tempfile::tempdir().unwrap();
        let mut kept = Kept::new(None);
        kept.keep("inputs.new_token", "cfut_new").unwrap();
        assert!(!kept.enabled());
        assert_eq!(std::fs::read_dir(temp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_damaged_file_is_reported_not_trusted() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("r1.json");
        std::fs::write(&path, "{not json").unwrap();
        let error = Kept::new(None).load(&path).unwrap_err();
        assert!(error.contains("is not a kept-secrets file"), "{error}");
    }
}
