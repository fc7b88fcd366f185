//! Gates (SPEC §2): whether a step may run. `needs` must have passed in this run
//! — recently enough with `within` — and a `confirm` must be given by the
//! operator or, non-interactively, by `--confirm ID` (or `--yes` for plain
//! confirms of steps that are not irreversible). Nothing else opens a gate.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use crate::document::model::{Effect, Need, Step};
use crate::engine::outcome::Outcome;

/// What the run knows of a finished step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub outcome: Outcome,
    pub finished_at: SystemTime,
    pub duration_ms: u64,
    pub reason: Option<String>,
}

/// How one `needs` entry stands.
#[derive(Debug, Clone, PartialEq)]
pub enum NeedState {
    Satisfied,
    /// Passed, but longer ago than `within`: the evidence must be gathered again.
    Stale {
        age: Duration,
        within: Duration,
    },
    /// Passed at a time later than now — the clock went back (NTP, a restored
    /// snapshot) or the record was edited: how recent the evidence is cannot be
    /// known, so it is gathered again like stale evidence.
    Ahead {
        ahead: Duration,
        within: Duration,
    },
    /// Not passed in this run (skipped, failed, deferred, blocked or not run).
    Unmet {
        outcome: Outcome,
    },
}

pub fn need_state(need: &Need, record: Option<&StepRecord>, now: SystemTime) -> NeedState {
    let Some(record) = record else {
        return NeedState::Unmet {
            outcome: Outcome::Pending,
        };
    };
    if record.outcome != Outcome::Passed {
        return NeedState::Unmet {
            outcome: record.outcome,
        };
    }
    match &need.within {
        Some(within) => {
            let age = match now.duration_since(record.finished_at) {
                Ok(age) => age,
                Err(ahead) => {
                    return NeedState::Ahead {
                        ahead: ahead.duration(),
                        within: within.value.0,
                    };
                }
            };
            if age > within.value.0 {
                NeedState::Stale {
                    age,
                    within: within.value.0,
                }
            } else {
                NeedState::Satisfied
            }
        }
        None => NeedState::Satisfied,
    }
}

/// Why a step is blocked, in words for the operator.
pub fn unmet_reason(need: &Need, state: &NeedState) -> String {
    let id = &need.step.value;
    match state {
        NeedState::Satisfied => format!("`{id}` passed"),
        NeedState::Stale { age, within } => format!(
            "`{id}` passed {} ago, longer than its `within: {}`",
            short(*age),
            short(*within)
        ),
        NeedState::Ahead { ahead, within } => format!(
            "`{id}` passed {} from now, in the future: the clock went back, so nothing shows it passed within its `within: {}`",
            short(*ahead),
            short(*within)
        ),
        NeedState::Unmet {
            outcome: Outcome::Pending,
        } => format!("`{id}` has not run"),
        NeedState::Unmet { outcome } => format!("`{id}` is {outcome}, not passed"),
    }
}

/// How a confirmation was, or can be, given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// Ask the operator (interactive runs).
    Ask,
    /// Given on the command line: `--confirm ID` or `--yes`.
    Given(&'static str),
    /// Not given; the reason says how to give it.
    Missing(String),
}

/// Decides how a step's `confirm` is satisfied. `phrase` confirms and
/// irreversible steps accept only `--confirm NAME` when nobody can be asked;
/// `name` is the step's id as `--confirm` names it (`kid.destroy` for a child's).
pub fn confirmation(
    step: &Step,
    name: &str,
    interactive: bool,
    yes: bool,
    confirmed: &BTreeSet<String>,
) -> Confirmation {
    let id = name;
    if confirmed.contains(id) {
        return Confirmation::Given("--confirm");
    }
    if interactive {
        return Confirmation::Ask;
    }
    let irreversible = step.effect() == Some(Effect::Irreversible);
    let phrase = step.confirm.as_ref().is_some_and(|c| c.phrase.is_some());
    if yes && !irreversible && !phrase {
        return Confirmation::Given("--yes");
    }
    let why = if irreversible {
        "an irreversible step"
    } else if phrase {
        "a step whose confirmation is a typed phrase"
    } else {
        "this step"
    };
    Confirmation::Missing(format!(
        "not confirmed: {why} runs without a person at the terminal only with `--confirm {id}`"
    ))
}

/// A duration as people say it: `45s`, `12m`, `2h 5m`.
pub fn short(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => format!("{}ms", duration.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        _ => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::model::{Spanned, Timespan};
    use crate::document::node::Span;

    fn need(within: Option<u64>) -> Need {
        Need {
            step: Spanned::new("verify".to_owned(), Span::START),
            within: within.map(|s| Spanned::new(Timespan(Duration::from_secs(s)), Span::START)),
        }
    }

    fn record(outcome: Outcome, ago: u64, now: SystemTime) -> StepRecord {
        StepRecord {
            outcome,
            finished_at: now - Duration::from_secs(ago),
            duration_ms: 1,
            reason: None,
        }
    }

    #[test]
    fn only_a_recent_pass_satisfies_a_need() {
        let now = SystemTime::now();
        assert_eq!(
            need_state(&need(None), Some(&record(Outcome::Passed, 9999, now)), now),
            NeedState::Satisfied
        );
        assert_eq!(
            need_state(
                &need(Some(60)),
                Some(&record(Outcome::Passed, 30, now)),
                now
            ),
            NeedState::Satisfied
        );
        assert!(matches!(
            need_state(
                &need(Some(60)),
                Some(&record(Outcome::Passed, 61, now)),
                now
            ),
            NeedState::Stale { .. }
        ));
        for outcome in [
            Outcome::Skipped,
            Outcome::Failed,
            Outcome::Deferred,
            Outcome::Blocked,
        ] {
            assert_eq!(
                need_state(&need(None), Some(&record(outcome, 1, now)), now),
                NeedState::Unmet { outcome }
            );
        }
        assert_eq!(
            need_state(&need(None), None, now),
            NeedState::Unmet {
                outcome: Outcome::Pending
            }
        );
    }

    #[test]
    fn evidence_dated_in_the_future_is_not_fresh() {
        let now = SystemTime::now();
        let ten_years = Duration::from_secs(10 * 365 * 24 * 3600);
        let future = StepRecord {
            finished_at: now + ten_years,
            ..record(Outcome::Passed, 0, now)
        };
        let state = need_state(&need(Some(60)), Some(&future), now);
        assert_eq!(
            state,
            NeedState::Ahead {
                ahead: ten_years,
                within: Duration::from_secs(60)
            }
        );
        assert!(unmet_reason(&need(Some(60)), &state).contains("in the future"));
        let soon = StepRecord {
            finished_at: now + Duration::from_millis(1),
            ..record(Outcome::Passed, 0, now)
        };
        assert!(matches!(
            need_state(&need(Some(60)), Some(&soon), now),
            NeedState::Ahead { .. }
        ));
        // Without `within`, when it passed does not matter.
        assert_eq!(
            need_state(&need(None), Some(&future), now),
            NeedState::Satisfied
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(short(Duration::from_secs(45)), "45s");
        assert_eq!(short(Duration::from_secs(125)), "2m 5s");
        assert_eq!(short(Duration::from_secs(7500)), "2h 5m");
    }
}
