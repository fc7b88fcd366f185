//! Runs read back from the team state database (`--state`): the journal lines
//! the database holds, read as the journal file would be, so a run looks the
//! same to every machine of the team — and the same as on the machine that ran
//! it.

use std::path::PathBuf;

use crate::engine::journal;
use crate::postgres::{Session, StateUrl, runs, schema};
use crate::report::run_report::{ReportError, Run};

/// The latest run of the runbook `id`.
pub fn latest(state: &StateUrl, id: &str) -> Result<Option<Run>, ReportError> {
    let session = open(state)?;
    match runs::latest(&session, id)? {
        Some(row) => read(&session, state, &row.run_id).map(Some),
        None => Ok(None),
    }
}

/// Run `run_id`, if the database has it.
pub fn by_id(state: &StateUrl, run_id: &str) -> Result<Option<Run>, ReportError> {
    let session = open(state)?;
    match runs::by_id(&session, run_id)? {
        Some(row) => read(&session, state, &row.run_id).map(Some),
        None => Ok(None),
    }
}

fn open(state: &StateUrl) -> Result<Session, ReportError> {
    let session = Session::connect(state)?;
    schema::check(&session)?;
    Ok(session)
}

fn read(session: &Session, state: &StateUrl, run_id: &str) -> Result<Run, ReportError> {
    let lines = runs::lines(session, run_id)?;
    let place = PathBuf::from(format!("{}/runs/{run_id}", state.place()));
    let replay = journal::read_lines(&place, &lines)?;
    Run::from_replay(&place, replay)
}
