//! Child runbooks (`runbook: PATH`): the child runs as part of this run, with the
//! same answers, flags and operator, in an engine (journal, lock) of its own; its
//! outcome is the step's outcome.

use std::sync::Arc;

use serde_json::json;

use crate::document::model::Step;
use crate::document::rules::parent_dir;
use crate::engine::Stop;
use crate::engine::outcome::Outcome;
use crate::engine::perform::Done;
use crate::engine::runner::{Engine, RunEnd};
use crate::eval::load;

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
        child.scope = format!("{}.", self.confirm_name(step));
        child.approvals = Arc::clone(&self.approvals);
        child.approval_run.clone_from(&self.approval_run);
        child.approval_file.clone_from(&self.approval_file);
        let end = Box::pin(child.drive()).await.map_err(Stop::Fatal)?;
        self.awaiting_approval
            .extend(std::mem::take(&mut child.awaiting_approval));
        let run_id = child.run_id.clone();
        // Secrets the child learnt must stay masked in this run's output too.
        self.values.redactor.merge(&child.values.redactor);
        let (outcome, reason) = match &end {
            RunEnd::Passed => (Outcome::Passed, None),
            RunEnd::Failed => (
                Outcome::Failed,
                Some(format!("child runbook `{}` failed", step.id.value)),
            ),
            RunEnd::RollbackFailed(undone) => (
                Outcome::Failed,
                Some(format!(
                    "child runbook `{}` failed, and its rollback failed too ({})",
                    step.id.value,
                    undone.join(", ")
                )),
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
            RunEnd::Interrupted(signal) => return Err(Stop::Interrupted(*signal)),
        };
        Ok(Done {
            outcome,
            reason,
            results: json!({ "run_id": run_id, "child_outcome": end.outcome().as_str() }),
            secret_fields: Vec::new(),
        })
    }
}
