//! Child runbooks (`runbook: PATH`): the child runs as part of this run, with the
//! same answers, flags and operator, in an engine (journal, lock) of its own; its
//! outcome is the step's outcome.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use crate::document::model::{Action, Runbook, Step};
use crate::document::rules::parent_dir;
use crate::engine::outcome::Outcome;
use crate::engine::perform::Done;
use crate::engine::runner::{Engine, RunEnd};
use crate::engine::{Stop, load};

/// Every child runbook below `file`, loaded (the ones that load), for checking
/// answers before the run starts. Cycles are refused by `validate`; the depth
/// bound only guards against a file changed since.
pub fn load_all(file: &Path, runbook: &Runbook) -> Vec<(PathBuf, Runbook)> {
    let mut out = Vec::new();
    collect(file, runbook, 0, &mut out);
    out
}

fn collect(file: &Path, runbook: &Runbook, depth: usize, out: &mut Vec<(PathBuf, Runbook)>) {
    if depth > 16 {
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

impl Engine {
    pub(super) async fn child(&mut self, step: &Step, path: &str) -> Result<Done, Stop> {
        let file = parent_dir(&self.file).join(path);
        let runbook = match load(&file) {
            Ok(runbook) => runbook,
            Err(error) => {
                return Ok(Done {
                    outcome: Outcome::Failed,
                    reason: Some(error.to_string()),
                    results: json!({}),
                    secret_fields: Vec::new(),
                });
            }
        };
        let mut child = match Engine::start(
            &file,
            runbook,
            self.options.clone(),
            self.answers.clone(),
            Arc::clone(&self.operator),
            self.client.clone(),
            self.depth + 1,
        ) {
            Ok(child) => child,
            Err(error) => {
                return Ok(Done {
                    outcome: Outcome::Failed,
                    reason: Some(error.to_string()),
                    results: json!({}),
                    secret_fields: Vec::new(),
                });
            }
        };
        let end = Box::pin(child.drive()).await.map_err(Stop::Fatal)?;
        let run_id = child.run_id.clone();
        // Secrets the child learnt must stay masked in this run's output too.
        self.values.redactor.merge(&child.values.redactor);
        let (outcome, reason) = match end {
            RunEnd::Passed => (Outcome::Passed, None),
            RunEnd::Failed => (
                Outcome::Failed,
                Some(format!("child runbook `{}` failed", step.id.value)),
            ),
            RunEnd::Blocked => {
                let deferred = child
                    .records
                    .values()
                    .find(|r| r.outcome == Outcome::Deferred);
                match deferred {
                    Some(record) => (Outcome::Deferred, record.reason.clone()),
                    None => (
                        Outcome::Blocked,
                        Some("the child runbook is blocked".to_owned()),
                    ),
                }
            }
            RunEnd::Interrupted(signal) => return Err(Stop::Interrupted(signal)),
        };
        Ok(Done {
            outcome,
            reason,
            results: json!({ "run_id": run_id, "child_outcome": end.outcome().as_str() }),
            secret_fields: Vec::new(),
        })
    }
}
