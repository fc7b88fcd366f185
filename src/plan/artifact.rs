//! The plan artifact (`plan --out PLAN.json`) and its check (`run --plan
//! PLAN.json`), so that what was reviewed is what runs. The artifact holds the
//! SHA-256 of the runbook file and of every child runbook file, and the value of
//! every input known when planning — non-secret values as they are, secrets as a
//! [`fingerprint`] — with a hash over those. A run given the artifact recomputes
//! them all before anything starts and refuses, naming each difference.
//!
//! An input that had no value when planning (shown as `‹inputs.x›`) may be given
//! any value at run time: the reviewer saw that it is decided then. Every other
//! input must have the value it was planned with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::planner::Known;
use super::{Plan, PlanError, VERSION};
use crate::document::model::{Action, Runbook};
use crate::document::rules::parent_dir;
use crate::eval::answers::Answers;
use crate::eval::load::{file_hash, load, load_all, sha256_hex};
use crate::secret::fingerprint;

/// What the artifact says it is, so any other JSON file is refused clearly.
const KIND: &str = "runbook-plan";

/// Child runbooks nest at most this deep; `validate` refuses cycles.
const MAX_DEPTH: usize = 16;

/// `plan --out` writes this.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    pub version: u32,
    pub kind: String,
    /// The runbook id.
    pub runbook: String,
    /// The runbook file as it was named when planning (informational).
    pub file: String,
    /// Lowercase hex SHA-256 of the runbook file's bytes.
    pub file_hash: String,
    /// Every child runbook file (children of children too), by its path relative
    /// to the runbook file's directory → SHA-256 hex.
    pub child_file_hashes: BTreeMap<String, String>,
    /// Every input and answered prompt, by key (see [`input_values`]).
    pub inputs: BTreeMap<String, PlannedValue>,
    /// SHA-256 hex of the known entries of `inputs` as compact JSON.
    pub inputs_hash: String,
    /// RFC 3339.
    pub created_at: String,
    /// The plan as `plan --format json` prints it.
    pub plan: serde_json::Value,
}

/// An input's value when planning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedValue {
    pub secret: bool,
    /// The value of a non-secret input; absent when secret or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `sha256:` + 16 hex digits of a secret's value; absent when not secret or unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

impl PlannedValue {
    fn new(value: Option<&str>, secret: bool) -> PlannedValue {
        PlannedValue {
            secret,
            value: value.filter(|_| !secret).map(str::to_owned),
            fingerprint: value.filter(|_| secret).map(fingerprint),
        }
    }

    fn known(&self) -> bool {
        self.value.is_some() || self.fingerprint.is_some()
    }
}

/// Writes the artifact for `plan` to `path`: the only file `plan` writes.
pub fn write(
    path: &Path,
    file: &Path,
    runbook: &Runbook,
    answers: &Answers,
    plan: &Plan,
) -> Result<(), PlanError> {
    let file_hash = file_hash(file).map_err(|e| PlanError::Read {
        path: file.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let inputs = input_values(file, runbook, answers);
    let artifact = Artifact {
        version: VERSION,
        kind: KIND.to_owned(),
        runbook: runbook.id.value.clone(),
        file: file.display().to_string(),
        file_hash,
        child_file_hashes: child_file_hashes(file, runbook),
        inputs_hash: inputs_hash(&inputs),
        inputs,
        created_at: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        plan: serde_json::to_value(plan).unwrap_or(serde_json::Value::Null),
    };
    let mut text = serde_json::to_string_pretty(&artifact).unwrap_or_default();
    text.push('\n');
    std::fs::write(path, text).map_err(|source| PlanError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// Refuses a run whose runbook, children or inputs are not the ones the plan
/// at `plan_path` was made with, naming every difference.
pub fn verify(
    plan_path: &Path,
    file: &Path,
    runbook: &Runbook,
    answers: &Answers,
) -> Result<(), PlanError> {
    let text = std::fs::read_to_string(plan_path).map_err(|source| PlanError::Read {
        path: plan_path.to_path_buf(),
        source,
    })?;
    let invalid = |reason: String| PlanError::Invalid {
        path: plan_path.to_path_buf(),
        reason,
    };
    let artifact: Artifact =
        serde_json::from_str(&text).map_err(|e| invalid(format!("it is not a plan: {e}")))?;
    if artifact.kind != KIND {
        return Err(invalid(format!("its kind is `{}`", artifact.kind)));
    }
    if artifact.version != VERSION {
        return Err(invalid(format!(
            "it is version {}; this runbook reads version {VERSION}",
            artifact.version
        )));
    }
    if inputs_hash(&artifact.inputs) != artifact.inputs_hash {
        return Err(invalid(
            "its inputs do not match their hash: the file was edited".to_owned(),
        ));
    }
    if artifact.runbook != runbook.id.value {
        return Err(PlanError::OtherRunbook {
            path: plan_path.to_path_buf(),
            planned: artifact.runbook,
            running: runbook.id.value.clone(),
        });
    }
    let mut changes = Vec::new();
    let now = std::fs::read(file).map(|bytes| sha256_hex(&bytes));
    if now.as_deref().ok() != Some(artifact.file_hash.as_str()) {
        changes.push(format!(
            "the runbook file `{}` changed since the plan was made",
            file.display()
        ));
    }
    let children = child_file_hashes(file, runbook);
    for (path, planned) in &artifact.child_file_hashes {
        match children.get(path) {
            Some(hash) if hash == planned => {}
            Some(_) => changes.push(format!(
                "the child runbook `{path}` changed since the plan was made"
            )),
            None => changes.push(format!(
                "the child runbook `{path}` is no longer run or cannot be read"
            )),
        }
    }
    for path in children.keys() {
        if !artifact.child_file_hashes.contains_key(path) {
            changes.push(format!("the child runbook `{path}` is not in the plan"));
        }
    }
    let inputs = input_values(file, runbook, answers);
    for (key, planned) in artifact.inputs.iter().filter(|(_, v)| v.known()) {
        let current = inputs.get(key);
        if current == Some(planned) {
            continue;
        }
        let current = current.filter(|c| c.known());
        changes.push(match (current, planned.secret) {
            (None, _) => format!(
                "the input `{key}` has no value now; the plan was made with {}",
                shown(planned)
            ),
            (Some(_), true) => format!(
                "the secret input `{key}` is not the value the plan was made with (its fingerprint differs)"
            ),
            (Some(current), false) => format!(
                "the input `{key}` is {} now; the plan was made with {}",
                shown(current),
                shown(planned)
            ),
        });
    }
    if changes.is_empty() {
        Ok(())
    } else {
        Err(PlanError::Changed {
            path: plan_path.to_path_buf(),
            changes,
        })
    }
}

fn shown(value: &PlannedValue) -> String {
    match (&value.value, value.secret) {
        (Some(v), false) => format!("`{v}`"),
        _ => "a secret value".to_owned(),
    }
}

/// Every input and answered prompt of the runbook and its children, with the
/// value it has now. Keys: the input name (`env_file`) or `steps.ID` for a
/// prompt; a child's are prefixed with its runbook id (`child-id.env_file`),
/// since a child may give the same input another default.
pub fn input_values(
    file: &Path,
    runbook: &Runbook,
    answers: &Answers,
) -> BTreeMap<String, PlannedValue> {
    let mut out = BTreeMap::new();
    let mut add = |prefix: &str, runbook: &Runbook| {
        let known = Known::of(runbook, answers);
        for (name, (value, secret)) in &known.inputs {
            out.insert(
                format!("{prefix}{name}"),
                PlannedValue::new(value.as_deref(), *secret),
            );
        }
        for step in runbook.all_steps() {
            if let Action::Prompt(prompt) = &step.action {
                let id = &step.id.value;
                let secret = prompt.secret.as_ref().is_some_and(|s| s.value)
                    || step.secret.as_ref().is_some_and(|s| s.value);
                let value = known.prompts.get(id).map(|(v, _)| v.as_str());
                out.insert(
                    format!("{prefix}steps.{id}"),
                    PlannedValue::new(value, secret),
                );
            }
        }
    };
    add("", runbook);
    for (_, child) in load_all(file, runbook) {
        add(&format!("{}.", child.id.value), &child);
    }
    out
}

/// SHA-256 hex over the known entries, as compact JSON (keys sorted).
pub fn inputs_hash(inputs: &BTreeMap<String, PlannedValue>) -> String {
    let known: BTreeMap<&String, &PlannedValue> =
        inputs.iter().filter(|(_, v)| v.known()).collect();
    sha256_hex(serde_json::to_string(&known).unwrap_or_default().as_bytes())
}

/// Every child runbook file below `file`, by its path relative to `file`'s
/// directory → SHA-256 hex of its bytes (`missing` when it cannot be read).
pub fn child_file_hashes(file: &Path, runbook: &Runbook) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    collect(parent_dir(file), file, runbook, 0, &mut out);
    out
}

fn collect(
    top: &Path,
    file: &Path,
    runbook: &Runbook,
    depth: usize,
    out: &mut BTreeMap<String, String>,
) {
    for step in runbook.all_steps() {
        let Action::Runbook(path) = &step.action else {
            continue;
        };
        let child_file: PathBuf = parent_dir(file).join(&path.value);
        let key = child_file
            .strip_prefix(top)
            .unwrap_or(&child_file)
            .to_string_lossy()
            .replace('\\', "/");
        let hash =
            std::fs::read(&child_file).map_or_else(|_| "missing".to_owned(), |b| sha256_hex(&b));
        out.insert(key, hash);
        if depth < MAX_DEPTH
            && let Ok(child) = load(&child_file)
        {
            collect(top, &child_file, &child, depth + 1, out);
        }
    }
}
