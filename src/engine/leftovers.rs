//! What a crash leaves behind holding secrets, removed on the next run or
//! resume of the runbook (issue 10 item 15): the temporary files of a settings
//! write cut off before its rename (they hold the new content), and the backups
//! of a run that passed but died before removing them (they hold the old).
//! A run's own end removes its backups through the same [`remove_backups`].

use std::path::{Path, PathBuf};

use crate::action::setting;
use crate::engine::journal::{EventKind, Replay};
use crate::engine::outcome::Outcome;
use crate::engine::state_dir::StateDir;

/// Whether a run that ended `outcome` no longer needs its backups: a passed run
/// has nothing to roll back, a failed one was rolled back, an abandoned one was
/// given up. The backups hold old secrets in clear, so they go. A blocked or
/// interrupted run may still be resumed, and a run whose rollback failed keeps
/// them for the operator to put back by hand.
pub fn backups_unneeded(outcome: Outcome) -> bool {
    // A failed run was rolled back; a run whose rollback failed keeps them for
    // the operator to put back by hand.
    matches!(
        outcome,
        Outcome::Passed | Outcome::Failed | Outcome::Abandoned
    )
}

/// Removes `backups/<run-id>/`.
pub fn remove_backups(state: &StateDir, run_id: &str) {
    // Best effort: what cannot be removed now is tried again on the next run.
    let _ = std::fs::remove_dir_all(state.backups_dir(run_id));
}

/// Cleans up after the earlier runs of the runbook in `state`, as read by
/// [`StateDir::readable_runs`].
pub fn clean(state: &StateDir, runs: &[(PathBuf, Replay)]) {
    for (path, replay) in runs {
        for event in &replay.events {
            if let EventKind::SettingWrite { file, .. } = &event.kind {
                setting::remove_leftovers(Path::new(file));
            }
        }
        let Some(run_id) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let passed = replay.events.last().is_some_and(|event| {
            matches!(event.kind, EventKind::RunFinished { outcome, .. } if backups_unneeded(outcome))
        });
        if passed {
            remove_backups(state, &run_id);
        } else {
            setting::remove_leftovers_in(&state.backups_dir(&run_id));
        }
    }
}
