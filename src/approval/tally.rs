//! Which decisions count: the one place that says so, for the engine deciding
//! whether a step's approval gate is open and for the store refusing a decision
//! it should never record.

use super::store::{ApprovalError, ApprovalStore, Binding, Decision, Decisions, Request, Verdict};

/// Whether `approver` may decide on `request`: never whoever asked for it, nor
/// one of `operators` (the run's operator as recorded when it started), and
/// only someone named in its `from`.
pub fn eligible(
    request: &Request,
    operators: &[String],
    approver: &str,
) -> Result<(), ApprovalError> {
    if request.requested_by == approver || operators.iter().any(|o| o == approver) {
        return Err(ApprovalError::SelfApproval {
            approver: approver.to_owned(),
        });
    }
    if !request.asked.from.iter().any(|name| name == approver) {
        return Err(ApprovalError::NotAnApprover {
            approver: approver.to_owned(),
            step: request.asked.binding.step.clone(),
            from: request.asked.from.clone(),
        });
    }
    Ok(())
}

/// Who decides (this process, to the store) on the request `binding` names,
/// once it is there, they may decide on it, and it is bound as `binding` says:
/// what every store checks before it records a decision (the database checks it
/// again itself, so a bypassed client cannot skip it).
pub fn decider(
    store: &(impl ApprovalStore + ?Sized),
    binding: &Binding,
) -> Result<String, ApprovalError> {
    let request = store
        .find_request(Some(&binding.run_id), &binding.step)?
        .ok_or_else(|| ApprovalError::NoRequest {
            step: binding.step.clone(),
            run: Some(binding.run_id.clone()),
        })?;
    let me = store.whoami()?;
    eligible(&request, &[], &me)?;
    let differences = binding.differences(&request.asked.binding);
    if !differences.is_empty() {
        return Err(ApprovalError::Mismatch { differences });
    }
    Ok(me)
}

/// Why `request` can never be approved, when the people who may approve it
/// are fewer than it needs (the operator is among `from`, who never counts).
pub fn unreachable(request: &Request, operators: &[String]) -> Option<String> {
    let deciders: Vec<&String> = request
        .asked
        .from
        .iter()
        .filter(|name| eligible(request, operators, name).is_ok())
        .collect();
    (deciders.len() < request.asked.count as usize).then(|| {
        format!(
            "it needs {} approval{} and only {} of {} may give one: the run's operator never approves their own run",
            request.asked.count,
            if request.asked.count == 1 { "" } else { "s" },
            deciders.len(),
            request.asked.from.join(", ")
        )
    })
}

/// How a step's approval stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    /// The approvals that count, one per approver, in the order given.
    pub approvals: Vec<Decision>,
    /// The first rejection that counts, with its reason: it fails the step.
    pub rejection: Option<(Decision, String)>,
    /// Decisions that do not count, each with why (void: bound to something
    /// else; or by someone who may not decide), and entries the store refused.
    pub not_counted: Vec<String>,
    /// The void decisions among them, each with how its binding differs
    /// from what the step is about to do: the run journals these.
    pub void: Vec<(Decision, String)>,
    /// How many approvals open the gate.
    pub needed: u32,
}

impl Tally {
    /// Whether the gate is open: enough approvals and no rejection.
    pub fn approved(&self) -> bool {
        self.rejection.is_none() && self.approvals.len() >= self.needed as usize
    }

    /// What the gate still waits for, in words: `1 approval from alice, bob, carol`.
    pub fn waiting_for(&self, request: &Request, operators: &[String]) -> String {
        let missing = (self.needed as usize).saturating_sub(self.approvals.len());
        let given: Vec<&str> = self.approvals.iter().map(|d| d.approver.as_str()).collect();
        let from: Vec<&str> = request
            .asked
            .from
            .iter()
            .map(String::as_str)
            .filter(|name| !given.contains(name) && eligible(request, operators, name).is_ok())
            .collect();
        format!(
            "{missing} approval{} from {}",
            if missing == 1 { "" } else { "s" },
            from.join(", ")
        )
    }
}

/// Judges `decisions` on `request` for the step about to run as `now`.
pub fn tally(
    request: &Request,
    operators: &[String],
    now: &Binding,
    decisions: &Decisions,
) -> Tally {
    let mut tally = Tally {
        approvals: Vec::new(),
        rejection: None,
        not_counted: decisions.refused.clone(),
        void: Vec::new(),
        needed: request.asked.count,
    };
    for decision in &decisions.decisions {
        let who = &decision.approver;
        if let Err(why) = eligible(request, operators, who) {
            tally
                .not_counted
                .push(format!("the decision of {who} does not count: {why}"));
            continue;
        }
        let differences = decision.binding.differences(now);
        if !differences.is_empty() {
            let what = match decision.verdict {
                Verdict::Approved => "approval",
                Verdict::Rejected { .. } => "rejection",
            };
            let why = differences.join("; ");
            tally.not_counted.push(format!(
                "the {what} by {who} at {} is void: {why}",
                decision.decided_at
            ));
            tally.void.push((decision.clone(), why));
            continue;
        }
        match &decision.verdict {
            Verdict::Approved => {
                if !tally.approvals.iter().any(|d| &d.approver == who) {
                    tally.approvals.push(decision.clone());
                }
            }
            Verdict::Rejected { reason } => {
                if tally.rejection.is_none() {
                    tally.rejection = Some((decision.clone(), reason.clone()));
                }
            }
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::store::NewRequest;

    fn binding() -> Binding {
        Binding {
            run_id: "r1".to_owned(),
            step: "revoke".to_owned(),
            runbook_sha256: "ab".repeat(32),
            target: "DELETE https://api.test/tokens/1".to_owned(),
        }
    }

    fn request(count: u32) -> Request {
        Request {
            asked: NewRequest {
                binding: binding(),
                runbook: "rotation".to_owned(),
                title: "Revoke".to_owned(),
                count,
                from: vec!["alice".to_owned(), "bob".to_owned(), "ops".to_owned()],
                message: None,
                evidence: Vec::new(),
            },
            requested_by: "ops".to_owned(),
            requested_at: "2026-12-03T09:00:00.000Z".to_owned(),
        }
    }

    fn decision(approver: &str, verdict: Verdict, binding: Binding) -> Decision {
        Decision {
            binding,
            verdict,
            approver: approver.to_owned(),
            decided_at: "2026-12-03T09:01:00.000Z".to_owned(),
        }
    }

    fn of(decisions: Vec<Decision>) -> Decisions {
        Decisions {
            decisions,
            refused: Vec::new(),
        }
    }

    #[test]
    fn the_asker_and_the_runs_operator_never_count_nor_strangers() {
        let request = request(1);
        let operators = vec!["root".to_owned()];
        let decisions = of(vec![
            decision("ops", Verdict::Approved, binding()),
            decision("root", Verdict::Approved, binding()),
            decision("mallory", Verdict::Approved, binding()),
        ]);
        let tally = tally(&request, &operators, &binding(), &decisions);
        assert!(!tally.approved());
        assert_eq!(tally.not_counted.len(), 3, "{:?}", tally.not_counted);
        assert_eq!(
            tally.waiting_for(&request, &operators),
            "1 approval from alice, bob"
        );
    }

    #[test]
    fn a_gate_only_the_operator_could_open_is_said_to_be_unreachable() {
        let mut request = request(3);
        assert!(
            unreachable(&request, &[]).is_some_and(|why| why.contains("only 2 of alice, bob, ops")),
            "the asker `ops` is in `from`"
        );
        request.asked.count = 2;
        assert_eq!(unreachable(&request, &[]), None);
        assert!(unreachable(&request, &["alice".to_owned()]).is_some());
    }

    #[test]
    fn an_approval_bound_to_something_else_is_void() {
        let request = request(1);
        let mut changed = binding();
        changed.target = "DELETE https://api.test/tokens/2".to_owned();
        let tally = tally(
            &request,
            &[],
            &changed,
            &of(vec![decision("alice", Verdict::Approved, binding())]),
        );
        assert!(!tally.approved());
        assert!(
            tally.not_counted[0].contains("is void: it approved the target"),
            "{:?}",
            tally.not_counted
        );
        assert_eq!(tally.void.len(), 1);
        assert_eq!(
            tally.void[0].1,
            "it approved the target `DELETE https://api.test/tokens/1`, the step now acts on `DELETE https://api.test/tokens/2`"
        );
    }

    #[test]
    fn count_distinct_approvers_and_a_rejection_wins() {
        let request = request(2);
        let twice = of(vec![
            decision("alice", Verdict::Approved, binding()),
            decision("alice", Verdict::Approved, binding()),
        ]);
        assert!(!tally(&request, &[], &binding(), &twice).approved());
        let two = of(vec![
            decision("alice", Verdict::Approved, binding()),
            decision("bob", Verdict::Approved, binding()),
        ]);
        assert!(tally(&request, &[], &binding(), &two).approved());
        let rejected = of(vec![
            decision("alice", Verdict::Approved, binding()),
            decision(
                "bob",
                Verdict::Rejected {
                    reason: "not today".to_owned(),
                },
                binding(),
            ),
        ]);
        let tally = tally(&request, &[], &binding(), &rejected);
        assert!(!tally.approved());
        assert_eq!(
            tally.rejection.map(|(d, reason)| (d.approver, reason)),
            Some(("bob".to_owned(), "not today".to_owned()))
        );
    }
}
