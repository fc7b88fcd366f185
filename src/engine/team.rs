//! The engine's side of team state (`--state postgres://…`, `RUNBOOK_STATE_URL`):
//! the local journal stays the run's write-ahead record on the machine that
//! runs it — backups and kept secrets stay there too — and every event it
//! writes is then also written, as the same line, to the team's database
//! (`crate::postgres`), where `status` and `report` read it from any machine.
//!
//! - At the start, before anything is written here: the database must answer,
//!   hold the schema this runbook knows, and grant the server's run lock (held
//!   by the connection, for the whole run). Otherwise nothing runs.
//! - An event the database did not take (it went away mid-run) is in the local
//!   journal; the run stops before its next step ([`Team::take_lost`]), and
//!   `resume` uploads what the database lacks ([`Team::resume`]), each line
//!   checked against the hashes the database already holds — nothing lost,
//!   nothing repeated.
//! - A run is resumed on the machine it started on, where its journal is; the
//!   database says which one when it is not here.

use std::path::Path;
use std::sync::Arc;

use crate::engine::EngineError;
use crate::engine::journal::{self, Event, EventKind};
use crate::engine::state_dir::StateDir;
use crate::postgres::approvals::PgStore;
use crate::postgres::{PgError, Session, StateUrl, lock, runs, schema};

/// A run's connection to the team state database.
pub struct Team {
    /// Shared with the run's approval store ([`Team::approvals`]).
    session: Arc<Session>,
    run_id: String,
    /// How many of the run's journal lines the database holds.
    written: i64,
    /// Why the database stopped taking events, once it has.
    lost: Option<PgError>,
}

impl Team {
    /// Connects for run `run_id` of `runbook`, checks the schema and takes the
    /// server's run lock.
    fn connect(url: &StateUrl, runbook: &str, run_id: &str) -> Result<Team, PgError> {
        let session = Session::connect(url)?;
        schema::check(&session)?;
        lock::acquire(
            &session,
            runbook,
            run_id,
            &crate::postgres::host_name(),
            std::process::id(),
        )?;
        Ok(Team {
            session: Arc::new(session),
            run_id: run_id.to_owned(),
            written: 0,
            lost: None,
        })
    }

    /// For a new run: connected and locked, before its journal exists.
    pub fn start(url: &StateUrl, runbook: &str, run_id: &str) -> Result<Team, EngineError> {
        Ok(Team::connect(url, runbook, run_id)?)
    }

    /// The run's approval store, on the run's connection: approvals of its
    /// steps are asked for and decided in the team state database.
    pub fn approvals(&self, runbook: &str) -> PgStore {
        PgStore::on(Arc::clone(&self.session), runbook)
    }

    /// The `seq` of a new run in the team's order of runs.
    pub fn next_seq(&self, runbook: &str) -> Result<u64, EngineError> {
        let next = runs::next_seq(&self.session, runbook)?;
        Ok(u64::try_from(next).unwrap_or_default())
    }

    /// Registers the run from its first event and writes that event.
    pub fn begin(&mut self, first: &Event) {
        if let Err(error) = register(&self.session, first) {
            self.lost = Some(error);
            return;
        }
        self.mirror(first);
    }

    /// Writes `event` (as its journal wrote it, link included) to the database.
    /// A failure is kept, not returned: the local journal has the event, and
    /// the run stops before its next step ([`Team::take_lost`]).
    pub fn mirror(&mut self, event: &Event) {
        if self.lost.is_some() {
            return;
        }
        let line = match journal::encode(event) {
            Ok(mut line) => {
                line.pop();
                String::from_utf8_lossy(&line).into_owned()
            }
            Err(error) => {
                self.lost = Some(PgError::Refused {
                    code: String::new(),
                    message: error.to_string(),
                });
                return;
            }
        };
        match runs::append(&self.session, &self.run_id, self.written + 1, line) {
            Ok(()) => self.written += 1,
            Err(error) => self.lost = Some(error),
        }
    }

    /// Why the database stopped taking this run's events, if it did: taken
    /// out, for the error that stops the run.
    pub fn take_lost(&mut self) -> Option<PgError> {
        self.lost.take()
    }

    /// For `resume` of the run whose journal is at `path` and holds `events`
    /// (first event `first`): connected and locked; refused if the team has a
    /// newer run of the runbook; then the database is brought level with the
    /// local journal.
    pub fn resume(
        url: &StateUrl,
        runbook: &str,
        path: &Path,
        events: &[Event],
    ) -> Result<(Team, usize), EngineError> {
        let Some(first) = events.first() else {
            return Err(EngineError::NothingToResume(runbook.to_owned()));
        };
        let EventKind::RunStarted { run_id, seq, .. } = &first.kind else {
            return Err(EngineError::NothingToResume(runbook.to_owned()));
        };
        let mut team = Team::connect(url, runbook, run_id)?;
        if let Some(latest) = runs::latest(&team.session, runbook)?
            && latest.run_id != *run_id
            && latest.seq > i64::try_from(seq.unwrap_or(0)).unwrap_or(i64::MAX)
        {
            return Err(EngineError::SupersededInTeam {
                run_id: run_id.clone(),
                by: latest.run_id,
                host: latest.host,
                role: latest.operator_role,
            });
        }
        register(&team.session, first)?;
        let uploaded = team.reconcile(path, events.len())?;
        Ok((team, uploaded))
    }

    /// When the latest run here has ended but the database lacks some of its
    /// events (it was lost as the run ended): uploads them. Returns the run and
    /// how many were uploaded, or `None` when there was nothing to do.
    pub fn level_ended(
        url: &StateUrl,
        runbook: &str,
        state: &StateDir,
    ) -> Result<Option<(String, usize)>, EngineError> {
        let Some(path) = state.journals()?.pop() else {
            return Ok(None);
        };
        let replay = journal::read(&path)?;
        let Some(first) = replay.events.first() else {
            return Ok(None);
        };
        let EventKind::RunStarted { run_id, .. } = &first.kind else {
            return Ok(None);
        };
        let mut team = Team::connect(url, runbook, run_id)?;
        if runs::latest(&team.session, runbook)?.is_some_and(|latest| latest.run_id != *run_id)
            && runs::by_id(&team.session, run_id)?.is_some()
        {
            // A newer run is the team's latest; this one is history as it stands.
            return Ok(None);
        }
        register(&team.session, first)?;
        let uploaded = team.reconcile(&path, replay.events.len())?;
        Ok((uploaded > 0).then(|| (run_id.clone(), uploaded)))
    }

    /// Uploads the lines of the journal at `path` (its first `count` events)
    /// that the database lacks, after checking that those it has are the same.
    fn reconcile(&mut self, path: &Path, count: usize) -> Result<usize, EngineError> {
        let bytes = std::fs::read(path).map_err(|source| journal::JournalError::Read {
            path: path.to_owned(),
            source,
        })?;
        let lines: Vec<&[u8]> = bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .take(count)
            .collect();
        let held = runs::hashes(&self.session, &self.run_id)?;
        let differs = held.len() > lines.len()
            || held
                .iter()
                .zip(&lines)
                .any(|(hash, line)| *hash != journal::chain::link(line));
        if differs {
            return Err(EngineError::TeamDiffers {
                run_id: self.run_id.clone(),
                journal: path.to_owned(),
            });
        }
        self.written = i64::try_from(held.len()).unwrap_or(i64::MAX);
        let mut uploaded = 0;
        for line in &lines[held.len()..] {
            let line = String::from_utf8_lossy(line).into_owned();
            runs::append(&self.session, &self.run_id, self.written + 1, line)?;
            self.written += 1;
            uploaded += 1;
        }
        Ok(uploaded)
    }
}

/// Registers the run that `first` starts (once; again changes nothing).
fn register(session: &Session, first: &Event) -> Result<(), PgError> {
    let EventKind::RunStarted {
        run_id,
        runbook,
        file_hash,
        operator,
        pid,
        seq,
        ..
    } = &first.kind
    else {
        return Err(PgError::Refused {
            code: String::new(),
            message: "a run's first event starts it".to_owned(),
        });
    };
    runs::register(
        session,
        runs::NewRun {
            run_id: run_id.clone(),
            runbook: runbook.clone(),
            seq: i64::try_from(seq.unwrap_or(0)).unwrap_or(i64::MAX),
            host: crate::postgres::host_name(),
            operator: operator.clone(),
            pid: *pid,
            file_hash: file_hash.clone(),
        },
    )
}

/// When there is no run to resume here: refused, naming where, if the team's
/// latest run of `runbook` is unfinished — it started on another machine (or
/// with another state directory), which is where it is resumed.
pub fn resumed_elsewhere(url: &StateUrl, runbook: &str) -> Result<(), EngineError> {
    let session = Session::connect(url)?;
    schema::check(&session)?;
    let Some(latest) = runs::latest(&session, runbook)? else {
        return Ok(());
    };
    let lines = runs::lines(&session, &latest.run_id)?;
    let open = lines
        .last()
        .and_then(|line| serde_json::from_str::<Event>(line).ok())
        .is_some_and(|event| crate::engine::state_dir::is_open(&event.kind));
    if open {
        return Err(EngineError::StartedElsewhere {
            run_id: latest.run_id,
            host: latest.host,
            role: latest.operator_role,
        });
    }
    Ok(())
}
