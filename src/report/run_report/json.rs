//! The run report as one JSON document, for dashboards and audits. Times are the
//! journal's RFC 3339 UTC strings; durations are milliseconds.

use serde_json::{Value as Json, json};

use crate::engine::journal::chain::Chain;

use super::{HappeningKind, Report, RunState, confirmed_how, in_doubt_decision};

/// Bumped when a field changes meaning or goes away.
const VERSION: u32 = 1;

/// The journal's hash chain: its state, and its head or where it breaks.
fn chain(chain: &Chain) -> Json {
    match chain {
        Chain::Intact { head } => json!({ "state": "intact", "head": head }),
        Chain::Broken { line, why } => json!({ "state": "broken", "line": line, "why": why }),
        Chain::Unchained => json!({ "state": "none" }),
    }
}

pub fn render(report: &Report) -> String {
    let run = &report.run;
    let (outcome, exit_code) = match run.state {
        RunState::Finished { outcome, exit_code } => (Some(outcome.as_str()), Some(exit_code)),
        _ => (None, None),
    };
    let steps: Vec<Json> = run
        .steps
        .iter()
        .map(|step| {
            json!({
                "step": step.step,
                "title": step.title,
                "effect": report.effect(&step.step),
                "outcome": step.outcome.as_str(),
                "reason": step.reason,
                "started_at": step.started_at,
                "finished_at": step.finished_at,
                "duration_ms": step.duration_ms,
                "rollback": step.rollback,
                "evidence": report.evidence(step),
                "results": step.results,
            })
        })
        .collect();
    let events: Vec<Json> = run
        .happenings
        .iter()
        .map(|h| {
            let mut event = json!({ "at": h.at, "event": h.what.kind(), "step": h.step });
            if let Some(approval) = &h.approval {
                event["approval"] = json!(approval);
            }
            match &h.what {
                HappeningKind::Confirmed(how) => event["how"] = json!(confirmed_how(*how)),
                HappeningKind::GateBlocked(reason) | HappeningKind::RollbackStarted(reason) => {
                    event["reason"] = json!(reason);
                }
                HappeningKind::InDoubt(decision) => {
                    event["decision"] = json!(in_doubt_decision(*decision));
                }
                HappeningKind::ApprovalRequested {
                    target,
                    runbook_sha256,
                    count,
                    from,
                    requested_by,
                } => {
                    event["target"] = json!(target);
                    event["runbook_sha256"] = json!(runbook_sha256);
                    event["count"] = json!(count);
                    event["from"] = json!(from);
                    event["requested_by"] = json!(requested_by);
                }
                HappeningKind::Approved {
                    approvals,
                    target,
                    runbook_sha256,
                } => {
                    event["approvals"] = json!(approvals);
                    event["target"] = json!(target);
                    event["runbook_sha256"] = json!(runbook_sha256);
                }
                HappeningKind::ApprovalRejected {
                    approver,
                    decided_at,
                    reason,
                    target,
                    runbook_sha256,
                } => {
                    event["approver"] = json!(approver);
                    event["decided_at"] = json!(decided_at);
                    event["reason"] = json!(reason);
                    event["target"] = json!(target);
                    event["runbook_sha256"] = json!(runbook_sha256);
                }
                HappeningKind::ApprovalVoid {
                    approver,
                    decided_at,
                    verdict,
                    why,
                    target,
                    runbook_sha256,
                } => {
                    event["approver"] = json!(approver);
                    event["decided_at"] = json!(decided_at);
                    event["verdict"] = json!(verdict);
                    event["why"] = json!(why);
                    event["target"] = json!(target);
                    event["runbook_sha256"] = json!(runbook_sha256);
                }
                HappeningKind::Interrupted | HappeningKind::Resumed => {}
            }
            event
        })
        .collect();
    let inputs: Vec<Json> = run
        .inputs
        .iter()
        .map(|i| {
            json!({
                "name": i.name,
                "source": i.source,
                "secret": i.secret,
                "fingerprint": i.fingerprint,
                "value": if i.secret { None } else { i.value.as_deref() },
            })
        })
        .collect();
    let not_reached: Vec<Json> = report
        .not_reached()
        .into_iter()
        .map(|s| json!({ "step": s.id.value, "title": s.title.as_ref().map(|t| &t.value) }))
        .collect();
    let document = json!({
        "report_version": VERSION,
        "run": {
            "id": run.id,
            "runbook": run.runbook,
            "title": report.title(),
            "file": report.runbook_file.as_ref().map_or_else(|| run.file.clone(), |f| f.display().to_string()),
            "file_hash": run.file_hash,
            "file_changed": report.file_changed,
            "journal": run.journal.display().to_string(),
            "operator": run.operator,
            "started_at": run.started_at,
            "last_event_at": run.last_at,
            "finished_at": run.finished_at(),
            "duration_ms": run.duration().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            "state": match run.state {
                RunState::Finished { .. } => "finished",
                RunState::Interrupted => "interrupted",
                RunState::Unfinished => "unfinished",
                RunState::Superseded => "superseded",
            },
            "superseded_by": run.superseded_by,
            "outcome": outcome,
            "exit_code": exit_code,
            "journal_torn": run.torn,
            "chain": chain(&run.chain),
        },
        "steps": steps,
        "events": events,
        "inputs": inputs,
        "not_reached": not_reached,
    });
    let mut text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "{}".to_owned());
    text.push('\n');
    text
}
