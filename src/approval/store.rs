//! The approval store: where requests for approval and the decisions on them
//! live. A small trait so that the state directory ([`super::local`]) and a
//! database can both hold them; the engine and `runbook approve` see only this.
//!
//! The identity of whoever requests or decides is always supplied by the store
//! from something the caller cannot forge (the kernel's file owner, the role a
//! database server authenticated), never taken from the caller.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What an approval is bound to. A decision counts only for the binding it was
/// given for: if the run, the step, the runbook's bytes or the step's resolved
/// target differ when the step runs, the decision is void.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// The run's id.
    pub run_id: String,
    /// The step's qualified id (`revoke`, or `kid.revoke` in a child runbook).
    pub step: String,
    /// SHA-256 (lowercase hex) of the runbook file's bytes the run runs.
    pub runbook_sha256: String,
    /// What the step acts on, resolved, secrets masked (`DELETE https://…/tokens/••••1a2b`).
    pub target: String,
}

impl Binding {
    /// How `self` (what was approved) differs from `now` (what is about to
    /// run), in words; empty when they are the same.
    pub fn differences(&self, now: &Binding) -> Vec<String> {
        let mut differences = Vec::new();
        if self.run_id != now.run_id {
            differences.push(format!(
                "it is for run {}, not this run {}",
                self.run_id, now.run_id
            ));
        }
        if self.step != now.step {
            differences.push(format!(
                "it is for step `{}`, not `{}`",
                self.step, now.step
            ));
        }
        if self.runbook_sha256 != now.runbook_sha256 {
            differences.push(format!(
                "it approved the runbook with sha256 {}, this run runs {}",
                short_hash(&self.runbook_sha256),
                short_hash(&now.runbook_sha256)
            ));
        }
        if self.target != now.target {
            differences.push(format!(
                "it approved the target `{}`, the step now acts on `{}`",
                self.target, now.target
            ));
        }
        differences
    }
}

/// The first 12 hex digits of a hash, as people compare them.
pub fn short_hash(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// A step that passed before the approval was asked for, shown to the approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The step's id.
    pub step: String,
    /// RFC 3339, when it passed.
    pub passed_at: String,
}

/// What the engine asks for when a run reaches a step with `approve:`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRequest {
    pub binding: Binding,
    /// The runbook's id.
    pub runbook: String,
    /// The step's title, for the approver.
    pub title: String,
    /// How many approvals open the gate.
    pub count: u32,
    /// Who may approve.
    pub from: Vec<String>,
    /// The step's `approve.message`, rendered, secrets masked.
    pub message: Option<String>,
    /// The steps the run passed so far (its needs among them), with when.
    pub evidence: Vec<Evidence>,
}

/// A request as the store holds it: what was asked, plus who asked and when,
/// as the store established them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    #[serde(flatten)]
    pub asked: NewRequest,
    /// Who asked (the run's operator), as the store knows them.
    pub requested_by: String,
    /// RFC 3339.
    pub requested_at: String,
}

/// What an approver decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Rejected { reason: String },
}

/// A decision as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What it approved (or rejected).
    pub binding: Binding,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Who decided, as the store established it (never a name the client gave).
    pub approver: String,
    /// RFC 3339.
    pub decided_at: String,
}

/// Where the approvals of runs live. `run_id` and `step` name a request as
/// [`Binding::run_id`] and [`Binding::step`] do.
///
/// Methods may block (files, a database connection): the engine calls them off
/// its async thread (`spawn_blocking`), so an implementation may use a blocking
/// client. Identities are plain names: a Unix user name locally, a role on a
/// database server; `from` in the runbook lists the same names.
pub trait ApprovalStore: Send + Sync {
    /// Who this process is, to the store: the identity a decision recorded now
    /// would carry, and the one a request recorded now is asked by.
    fn whoami(&self) -> Result<String, ApprovalError>;

    /// Records that the run waits for approval of a step, and returns the
    /// request as stored (its asker set by the store). Asking again for the same
    /// run and step replaces the request (on resume, the target may have been
    /// resolved anew); decisions already recorded stay and are judged against it.
    fn request(&self, request: NewRequest) -> Result<Request, ApprovalError>;

    /// The request for `step` in `run_id`, or, without a run id, in the latest
    /// run that asked for one; `None` when there is none.
    fn find_request(
        &self,
        run_id: Option<&str>,
        step: &str,
    ) -> Result<Option<Request>, ApprovalError>;

    /// Every decision recorded for the request of `step` in `run_id`, in the
    /// order they were made, each with its approver as the store established it.
    /// Decisions that are not what they claim to be are left out and said so in
    /// [`Decisions::refused`].
    fn decisions(&self, run_id: &str, step: &str) -> Result<Decisions, ApprovalError>;

    /// Records this process's decision on the request `binding` names. The store
    /// supplies the approver and refuses a decision by whoever asked for the
    /// approval ([`ApprovalError::SelfApproval`]), by someone not in its `from`,
    /// a binding that differs from the request's, and a second decision by the
    /// same approver on the same request (one on an earlier request of the same
    /// run and step, whose target has changed since, is replaced).
    fn decide(&self, binding: &Binding, verdict: Verdict) -> Result<Decision, ApprovalError>;
}

/// What [`ApprovalStore::decisions`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    pub decisions: Vec<Decision>,
    /// Entries that are not decisions the store can vouch for (a file written
    /// by someone other than its name says, one anybody could rewrite), in words.
    pub refused: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    #[error("no approval was asked for step `{step}`{}", run.as_ref().map(|r| format!(" in run {r}")).unwrap_or_default())]
    NoRequest { step: String, run: Option<String> },

    #[error("{approver} asked for this approval (ran the run), and may not approve it")]
    SelfApproval { approver: String },

    #[error("{approver} is not among those who may approve `{step}` ({})", from.join(", "))]
    NotAnApprover {
        approver: String,
        step: String,
        from: Vec<String>,
    },

    #[error("{approver} already decided on `{step}` in run {run}")]
    AlreadyDecided {
        approver: String,
        step: String,
        run: String,
    },

    #[error("the approval asked for differs from what would be approved: {}", differences.join("; "))]
    Mismatch { differences: Vec<String> },

    #[error("`{}` is a decision in your name that {writer} wrote: it does not count, and it is in the way of yours", path.display())]
    InYourName { path: PathBuf, writer: String },

    #[error("cannot tell who this process is: uid {uid} has no user name")]
    Unknown { uid: u32 },

    #[error("cannot {what} `{}`", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{}` is not an approval record runbook can read", path.display())]
    Malformed {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// The store's database failed (the team state on `PostgreSQL`).
    #[error("cannot {what} in the team state database")]
    Store {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ApprovalError {
    /// The exit code of a command this stops.
    pub fn exit_code(&self) -> i32 {
        match self {
            ApprovalError::Io { .. } | ApprovalError::Store { .. } => crate::error::EXIT_IO,
            ApprovalError::NoRequest { .. }
            | ApprovalError::SelfApproval { .. }
            | ApprovalError::NotAnApprover { .. }
            | ApprovalError::AlreadyDecided { .. }
            | ApprovalError::Mismatch { .. }
            | ApprovalError::InYourName { .. }
            | ApprovalError::Unknown { .. }
            | ApprovalError::Malformed { .. } => crate::error::EXIT_USAGE,
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> Option<String> {
        match self {
            ApprovalError::NoRequest { .. } => Some(
                "the run asks for approval when it reaches the step; `runbook status FILE` shows where it stands".to_owned(),
            ),
            ApprovalError::SelfApproval { .. } => Some(
                "separation of duties: another person in the step's `approve.from` must approve it".to_owned(),
            ),
            ApprovalError::NotAnApprover { .. } => Some(
                "ask one of them, or change `approve.from` in the runbook (and start a new run)".to_owned(),
            ),
            ApprovalError::AlreadyDecided { .. } => None,
            ApprovalError::Mismatch { .. } => Some(
                "review the runbook file the run runs, as it is now (`runbook approve FILE STEP` shows it)".to_owned(),
            ),
            ApprovalError::InYourName { writer, .. } => Some(format!(
                "ask {writer} (who owns the directory) to remove it, then approve again; and ask them why it is there"
            )),
            ApprovalError::Unknown { .. } => Some("run as a user with an entry in the user database".to_owned()),
            ApprovalError::Io { .. } => Some(
                "on a shared host the state directory must be writable by the approvers' group: see README, Approvals".to_owned(),
            ),
            ApprovalError::Malformed { .. } => Some(
                "the file was changed by hand or by another version; remove it to ask again".to_owned(),
            ),
            ApprovalError::Store { .. } => Some(
                "check that the database is up and the URL (RUNBOOK_STATE_URL or --state) is right".to_owned(),
            ),
        }
    }
}
