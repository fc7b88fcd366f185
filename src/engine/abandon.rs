//! `runbook abandon FILE`: ends the latest unfinished run without running
//! anything — the operator has decided it will not be finished. Its journal ends
//! `abandoned`, and what it kept at rest goes: the secrets kept for `resume` and
//! the backups of the settings it replaced. What it changed stays as it is now.

use std::path::{Path, PathBuf};

use crate::engine::EngineError;
use crate::engine::journal::{Event, EventKind, Journal};
use crate::engine::kept::Kept;
use crate::engine::lock::{Holder, Lock};
use crate::engine::outcome::Outcome;
use crate::engine::state_dir::StateDir;
use crate::engine::team::Team;
use crate::eval::load;
use crate::postgres::StateUrl;

/// What `abandon` ended, for the edge to say.
#[derive(Debug)]
pub struct Abandoned {
    pub run_id: String,
    pub journal: PathBuf,
    /// Whether secrets kept for resume were removed.
    pub had_secrets: bool,
    /// Whether setting backups were removed.
    pub had_backups: bool,
}

/// The exit code an abandoned run's journal records: it did not pass.
const ABANDONED_EXIT_CODE: i32 = 1;

/// Ends the latest unfinished run of the runbook in `file`; with `team`, the
/// team state database is told too.
pub fn abandon(file: &Path, team: Option<&StateUrl>) -> Result<Abandoned, EngineError> {
    let runbook = load(file)?;
    let state = StateDir::for_runbook(file, &runbook.id.value)?;
    let journal_path = state
        .latest_unfinished()?
        .ok_or_else(|| EngineError::NothingToResume(runbook.id.value.clone()))?;
    let run_id = journal_path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    // A run still going holds the lock: it is not abandoned under its feet.
    let _lock = Lock::acquire(
        &state.lock_path(),
        &Holder::this_process(&run_id, std::env::args().collect::<Vec<_>>().join(" ")),
    )?;
    let (mut journal, _) = Journal::open(&journal_path)?;
    journal.append(&Event::now(EventKind::RunFinished {
        outcome: Outcome::Abandoned,
        exit_code: ABANDONED_EXIT_CODE,
    }))?;
    if let Some(url) = team {
        Team::level_ended(url, &runbook.id.value, &state)?;
    }
    let kept = state.kept_path(&run_id);
    let had_secrets = kept.exists();
    Kept::remove(&kept)?;
    let backups = state.backups_dir(&run_id);
    let had_backups = backups.exists();
    if had_backups {
        std::fs::remove_dir_all(&backups).map_err(|source| EngineError::Cleanup {
            path: backups.clone(),
            source,
        })?;
    }
    Ok(Abandoned {
        run_id,
        journal: journal_path,
        had_secrets,
        had_backups,
    })
}
