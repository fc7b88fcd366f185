//! `runbook approve FILE STEP [--run ID] [--reject --reason TEXT]`: another
//! person's decision on a step waiting for approval. It finds the request the
//! run recorded (in the latest run that asked, or `--run ID`), refuses when the
//! runbook file the approver reads is not the one the run runs, and records the
//! decision in the approval store, which names the approver itself.

use std::path::{Path, PathBuf};

use crate::approval::local::LocalStore;
use crate::approval::name;
use crate::approval::store::{Decisions, short_hash};
use crate::approval::{ApprovalError, ApprovalStore, Decision, Request, Verdict};
use crate::document::model::{Action, Runbook};
use crate::document::rules::parent_dir;
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
    let segments = name::parse(step).map_err(|help| EngineError::UnknownStep {
        flag: "runbook approve FILE",
        id: step.to_owned(),
        help,
    })?;
    // The one spelling the stores hold (`kid[a].revoke` is `kid["a"].revoke`).
    let step = &name::join(&segments);
    let (defining, own) = defining(file, &runbook, step, &segments)?;
    let own_id = segments.last().map_or(step.as_str(), |s| s.step.as_str());
    let Some(found) = own.all_steps().find(|s| s.id.value == own_id) else {
        return Err(EngineError::UnknownStep {
            flag: "runbook approve FILE",
            id: step.to_owned(),
            help: format!(
                "name a step of `{}` that has `approve:`, as the run names it in the command it prints",
                file.display()
            ),
        });
    };
    if found.approve.is_none() {
        return Err(EngineError::Input(format!(
            "step `{own_id}` of `{}` has no `approve:`: nobody approves it",
            defining.display()
        )));
    }
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
    let hash = crate::eval::load::file_hash(&defining)?;
    if hash != request.asked.binding.runbook_sha256 {
        return Err(ApprovalError::Mismatch {
            differences: vec![format!(
                "`{}` as you read it has sha256 {}, the run runs {}",
                defining.display(),
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

/// The runbook file that defines the step `qualified` names (read into
/// `segments`), and its runbook: `file` itself for `revoke`; for `kid.revoke`,
/// the child runbook that step `kid` of `file` runs (and so on down). A step
/// that runs its child `for_each` item is named with the item
/// (`kid["a"].revoke`): each item's child asks for its own approval.
fn defining(
    file: &Path,
    runbook: &Runbook,
    qualified: &str,
    segments: &[name::Segment],
) -> Result<(PathBuf, Runbook), EngineError> {
    let parents = &segments[..segments.len().saturating_sub(1)];
    let mut at = (file.to_path_buf(), runbook.clone());
    for (at_segment, segment) in parents.iter().enumerate() {
        let parent = segment.step.as_str();
        let child = at.1.all_steps().find_map(|s| match &s.action {
            Action::Runbook(path) if s.id.value == parent => {
                Some((path.value.clone(), s.for_each.is_some()))
            }
            _ => None,
        });
        let Some((child, fans_out)) = child else {
            return Err(EngineError::UnknownStep {
                flag: "runbook approve FILE",
                id: qualified.to_owned(),
                help: format!(
                    "`{parent}` is not a step of `{}` that runs a child runbook; name the step as the run printed it",
                    at.0.display()
                ),
            });
        };
        // `kid[ITEM].revoke`: the name with a placeholder for the item.
        let unnamed = || {
            let mut named = segments.to_vec();
            named[at_segment].item = Some("ITEM".into());
            name::join(&named).replace(r#"["ITEM"]"#, "[ITEM]")
        };
        match (fans_out, &segment.item) {
            (true, None) => {
                return Err(EngineError::UnknownStep {
                    flag: "runbook approve FILE",
                    id: qualified.to_owned(),
                    help: format!(
                        "`{parent}` runs its child runbook for each item, and each item's run asks for its own approval: name the item, `{}` (the blocked run prints each one's command; `runbook report FILE` lists the requests)",
                        unnamed()
                    ),
                });
            }
            (false, Some(_)) => {
                return Err(EngineError::UnknownStep {
                    flag: "runbook approve FILE",
                    id: qualified.to_owned(),
                    help: format!(
                        "`{parent}` of `{}` has no `for_each`: name its child's step without an item",
                        at.0.display()
                    ),
                });
            }
            _ => {}
        }
        let path = parent_dir(&at.0).join(child);
        let loaded = load(&path)?;
        at = (path, loaded);
    }
    Ok(at)
}
