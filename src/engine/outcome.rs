//! The outcome of a step and of a run (SPEC §2).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pending,
    Passed,
    Failed,
    Blocked,
    Skipped,
    Deferred,
    /// A run only: it failed, and its rollback failed too, so something it
    /// changed may be left undone (exit code 5).
    RollbackFailed,
    /// A run only: ended by `runbook abandon` before it finished.
    Abandoned,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pending => "pending",
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Blocked => "blocked",
            Outcome::Skipped => "skipped",
            Outcome::Deferred => "deferred",
            Outcome::RollbackFailed => "rollback_failed",
            Outcome::Abandoned => "abandoned",
        }
    }

    /// The mark shown before a finished step.
    pub fn symbol(self) -> &'static str {
        match self {
            Outcome::Pending => "·",
            Outcome::Passed => "✓",
            Outcome::Failed => "✗",
            Outcome::Blocked => "⛔",
            Outcome::Skipped => "↷",
            Outcome::Deferred => "⏸",
            Outcome::RollbackFailed => "‼",
            Outcome::Abandoned => "∅",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
