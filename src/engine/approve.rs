//! `runbook approve FILE STEP [--run ID] [--reject --reason TEXT]`: another
//! person's decision on a step waiting for approval. It finds the request the
//! run recorded (in the latest run that asked, or `--run ID`), refuses when the
//! runbook file the approver reads is not the one the run runs, and records the
//! decision in the approval store, which names the approver itself.

use std::path::Path;

use crate::approval::local::LocalStore;
use crate::approval::store::{Decisions, short_hash};
use crate::approval::{ApprovalError, ApprovalStore, Decision, Request, Verdict};
use crate::document::model::Step;
use crate::engine::EngineError;
use crate::engine::state_dir::StateDir;
use crate::eval::load;
use crate::postgres::StateUrl;
use crate::postgres::approvals::PgStore;

/// What `approve` looked at and recorded, for the edge to show.
#[derive(Debug)]
pub struct Approval {
    /// The runbook's title (or id).
    pub runbook: String,
    /// The step as the runbook file has it.
    pub effect: String,
    pub request: Request,
    /// The decisions recorded before this one.
    pub before: Decisions,
    pub decision: Decision,
}

/// Records this user's `verdict` on `step` (its qualified id) of the run
/// `run_id`, or of the latest run that asked for it — in the team state
/// database with `team`, where the approver is the role it authenticated.
pub fn approve(
    file: &Path,
    step: &str,
    run_id: Option<&str>,
    verdict: Verdict,
    team: Option<&StateUrl>,
) -> Result<Approval, EngineError> {
    let runbook = load(file)?;
    let own_id = step.rsplit('.').next().unwrap_or(step);
    let found: Option<&Step> = runbook.all_steps().find(|s| s.id.value == own_id);
    let Some(found) = found.filter(|s| s.approve.is_some()) else {
        return Err(EngineError::UnknownStep {
            flag: "approve",
            id: step.to_owned(),
            help: format!(
                "name a step of `{}` that has `approve:`; the run prints the command to use",
                file.display()
            ),
        });
    };
    let state = StateDir::for_runbook(file, &runbook.id.value)?;
    let store: Box<dyn ApprovalStore> = match team {
        Some(url) => Box::new(PgStore::connect(url, &runbook.id.value)?),
        None => Box::new(LocalStore::new(state.approvals_dir())),
    };
    let request = store
        .find_request(run_id, step)?
        .ok_or_else(|| ApprovalError::NoRequest {
            step: step.to_owned(),
            run: run_id.map(str::to_owned),
        })?;
    let hash = crate::eval::load::file_hash(file)?;
    if hash != request.asked.binding.runbook_sha256 {
        return Err(ApprovalError::Mismatch {
            differences: vec![format!(
                "`{}` as you read it has sha256 {}, the run runs {}",
                file.display(),
                short_hash(&hash),
                short_hash(&request.asked.binding.runbook_sha256)
            )],
        }
        .into());
    }
    let binding = request.asked.binding.clone();
    let before = store.decisions(&binding.run_id, &binding.step)?;
    let decision = store.decide(&binding, verdict)?;
    Ok(Approval {
        runbook: runbook
            .title
            .as_ref()
            .map_or_else(|| runbook.id.value.clone(), |t| t.value.clone()),
        effect: found
            .effect()
            .map_or("child runbook", |e| e.as_str())
            .to_owned(),
        request,
        before,
        decision,
    })
}
