//! Four-eyes approval (`approve:` on a step): a gate that only people other than
//! the run's operator open.
//!
//! A run that reaches a step with `approve:` records a [`Request`] in an
//! [`ApprovalStore`]; other people record their [`Decision`] with `runbook
//! approve`. Each decision is bound to what it approved ([`Binding`]: the run,
//! the step, the runbook's hash and the step's resolved target) and names its
//! approver as the store established it — the owner of the decision file
//! ([`local`]), the database role (`PostgreSQL`) — never as the client claims.
//! [`tally`] is the one place that decides which decisions count.

pub mod local;
pub mod name;
pub mod store;
pub mod tally;

pub use store::{
    ApprovalError, ApprovalStore, Binding, Decision, Decisions, Evidence, NewRequest, Request,
    Verdict,
};
