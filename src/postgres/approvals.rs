//! The approval store on the team state database: requests in
//! `runbook_approval_requests` (the latest row of a run's step is its request),
//! decisions in `runbook_approvals`. Who asked and who decided is the role the
//! server authenticated — set by the schema's triggers, never by this client —
//! and the server itself refuses a decision by the run's operator, by a role the
//! request does not name, or a second one by the same role (see `schema`). The
//! checks made here first ([`eligible`], the binding) only word the refusal
//! before it is sent.

use std::sync::Arc;

use crate::approval::store::Decisions;
use crate::approval::tally::decider;
use crate::approval::{
    ApprovalError, ApprovalStore, Binding, Decision, NewRequest, Request, Verdict,
};
use crate::postgres::{PgError, Session, StateUrl, schema};

/// The time as rows show it: RFC 3339 UTC with milliseconds.
const UTC: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

/// The approvals of one runbook's runs in the team state database.
pub struct PgStore {
    session: Arc<Session>,
    runbook: String,
}

impl PgStore {
    /// Connects to the database at `url` for the runbook `runbook` (its id).
    pub fn connect(url: &StateUrl, runbook: &str) -> Result<PgStore, PgError> {
        let session = Session::connect(url)?;
        schema::check(&session)?;
        Ok(PgStore::on(Arc::new(session), runbook))
    }

    /// The store on a connection already open (a run's, whose schema was
    /// checked when it connected).
    pub fn on(session: Arc<Session>, runbook: &str) -> PgStore {
        PgStore {
            session,
            runbook: runbook.to_owned(),
        }
    }
}

fn store_error(what: &'static str) -> impl FnOnce(PgError) -> ApprovalError {
    move |error| match error {
        PgError::Refused { code, message } if code == schema::SELF_APPROVAL => {
            ApprovalError::SelfApproval {
                approver: message
                    .strip_prefix("self-approval refused: ")
                    .and_then(|rest| rest.split(' ').next())
                    .unwrap_or("this role")
                    .to_owned(),
            }
        }
        other => ApprovalError::Store {
            what,
            source: Box::new(other),
        },
    }
}

/// A request row's `request` column: what was asked (who asked and when are
/// the row's server-set columns).
fn encode(request: &NewRequest) -> Result<String, ApprovalError> {
    serde_json::to_string(request).map_err(|source| ApprovalError::Store {
        what: "write the approval request",
        source: Box::new(source),
    })
}

fn decode(text: &str) -> Result<NewRequest, ApprovalError> {
    serde_json::from_str(text).map_err(|source| ApprovalError::Store {
        what: "read the approval request",
        source: Box::new(source),
    })
}

impl ApprovalStore for PgStore {
    fn whoami(&self) -> Result<String, ApprovalError> {
        self.session
            .call("ask who this is", |client| {
                Ok(client.query_one("SELECT session_user::text", &[])?.get(0))
            })
            .map_err(store_error("ask who this is"))
    }

    fn request(&self, request: NewRequest) -> Result<Request, ApprovalError> {
        let text = encode(&request)?;
        let (run_id, step) = (request.binding.run_id.clone(), request.binding.step.clone());
        let query = format!(
            "INSERT INTO runbook_approval_requests (run_id, step, request, requested_by, requested_at)
             VALUES ($1, $2, CAST($3::text AS jsonb), '', now())
             RETURNING requested_by, to_char(requested_at AT TIME ZONE 'UTC', {UTC})"
        );
        let (requested_by, requested_at) = self
            .session
            .call("record the approval request", move |client| {
                let row = client.query_one(&query, &[&run_id, &step, &text])?;
                Ok((row.get(0), row.get(1)))
            })
            .map_err(store_error("record the approval request"))?;
        Ok(Request {
            asked: request,
            requested_by,
            requested_at,
        })
    }

    fn find_request(
        &self,
        run_id: Option<&str>,
        step: &str,
    ) -> Result<Option<Request>, ApprovalError> {
        let query = format!(
            "SELECT q.request::text, q.requested_by,
                    to_char(q.requested_at AT TIME ZONE 'UTC', {UTC})
               FROM runbook_approval_requests q
               JOIN runbook_runs r ON r.run_id = q.run_id
              WHERE r.runbook = $1 AND q.step = $2 AND ($3::text IS NULL OR q.run_id = $3)
              ORDER BY q.id DESC
              LIMIT 1"
        );
        let (runbook, step, run_id) = (
            self.runbook.clone(),
            step.to_owned(),
            run_id.map(str::to_owned),
        );
        let row: Option<(String, String, String)> = self
            .session
            .call("read the approval request", move |client| {
                Ok(client
                    .query_opt(&query, &[&runbook, &step, &run_id])?
                    .map(|row| (row.get(0), row.get(1), row.get(2))))
            })
            .map_err(store_error("read the approval request"))?;
        row.map(|(text, requested_by, requested_at)| {
            Ok(Request {
                asked: decode(&text)?,
                requested_by,
                requested_at,
            })
        })
        .transpose()
    }

    fn decisions(&self, run_id: &str, step: &str) -> Result<Decisions, ApprovalError> {
        let query = format!(
            "SELECT run_id, step, runbook_hash, target, decision, reason, approver,
                    to_char(decided_at AT TIME ZONE 'UTC', {UTC})
               FROM runbook_approvals WHERE run_id = $1 AND step = $2 ORDER BY id"
        );
        let (run_id, step) = (run_id.to_owned(), step.to_owned());
        let rows: Vec<Decision> = self
            .session
            .call("read the decisions", move |client| {
                Ok(client
                    .query(&query, &[&run_id, &step])?
                    .iter()
                    .map(|row| {
                        let decision: String = row.get(4);
                        let reason: Option<String> = row.get(5);
                        Decision {
                            binding: Binding {
                                run_id: row.get(0),
                                step: row.get(1),
                                runbook_sha256: row.get(2),
                                target: row.get(3),
                            },
                            verdict: if decision == "approved" {
                                Verdict::Approved
                            } else {
                                Verdict::Rejected {
                                    reason: reason.unwrap_or_default(),
                                }
                            },
                            approver: row.get(6),
                            decided_at: row.get(7),
                        }
                    })
                    .collect())
            })
            .map_err(store_error("read the decisions"))?;
        Ok(Decisions {
            decisions: rows,
            refused: Vec::new(),
        })
    }

    fn decide(&self, binding: &Binding, verdict: Verdict) -> Result<Decision, ApprovalError> {
        let me = decider(self, binding)?;
        let (decision, reason) = match &verdict {
            Verdict::Approved => ("approved", None),
            Verdict::Rejected { reason } => ("rejected", Some(reason.clone())),
        };
        let query = format!(
            "INSERT INTO runbook_approvals
                 (run_id, step, runbook_hash, target, decision, reason, approver, decided_at)
             VALUES ($1, $2, $3, $4, $5, $6, '', now())
             ON CONFLICT (run_id, step, approver) DO NOTHING
             RETURNING approver, to_char(decided_at AT TIME ZONE 'UTC', {UTC})"
        );
        let b = binding.clone();
        let stored: Option<(String, String)> = self
            .session
            .call("record the decision", move |client| {
                Ok(client
                    .query_opt(
                        &query,
                        &[
                            &b.run_id,
                            &b.step,
                            &b.runbook_sha256,
                            &b.target,
                            &decision,
                            &reason,
                        ],
                    )?
                    .map(|row| (row.get(0), row.get(1))))
            })
            .map_err(store_error("record the decision"))?;
        let Some((approver, decided_at)) = stored else {
            return Err(ApprovalError::AlreadyDecided {
                approver: me,
                step: binding.step.clone(),
                run: binding.run_id.clone(),
            });
        };
        Ok(Decision {
            binding: binding.clone(),
            verdict,
            approver,
            decided_at,
        })
    }
}
