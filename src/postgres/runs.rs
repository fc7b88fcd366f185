//! Runs and their events as rows: `runbook_runs` (one per run: which runbook,
//! its place in the order of runs, where and by whom it started) and
//! `runbook_events` (the run's journal, one row per line, exactly as the local
//! journal wrote it, numbered from 1). The server fills in who wrote each row
//! and checks that each line links to the one before (see `schema`).

use crate::postgres::{PgError, Session};

/// The time as rows show it: RFC 3339 UTC with milliseconds, as journals do.
const UTC: &str = r#"'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'"#;

/// A run as its row records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub run_id: String,
    pub runbook: String,
    pub seq: i64,
    pub host: String,
    /// The name the journal records (`--operator`, `$USER`).
    pub operator: String,
    /// The database role that started it, set by the server.
    pub operator_role: String,
    pub pid: i32,
    pub file_hash: String,
    pub started_at: String,
}

/// A new run, to register.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub run_id: String,
    pub runbook: String,
    pub seq: i64,
    pub host: String,
    pub operator: String,
    pub pid: u32,
    pub file_hash: String,
}

/// Records a run (once: registering it again, on resume, changes nothing).
pub fn register(session: &Session, run: NewRun) -> Result<(), PgError> {
    session.call("register the run", move |client| {
        let pid = i32::try_from(run.pid).unwrap_or(i32::MAX);
        client.execute(
            "INSERT INTO runbook_runs
                 (run_id, runbook, seq, host, operator, operator_role, pid, file_hash, started_at)
             VALUES ($1, $2, $3, $4, $5, '', $6, $7, now())
             ON CONFLICT (run_id) DO NOTHING",
            &[
                &run.run_id,
                &run.runbook,
                &run.seq,
                &run.host,
                &run.operator,
                &pid,
                &run.file_hash,
            ],
        )?;
        Ok(())
    })
}

/// Appends line `seq` (1-based) of run `run_id`'s journal.
pub fn append(session: &Session, run_id: &str, seq: i64, line: String) -> Result<(), PgError> {
    let run_id = run_id.to_owned();
    let seq = i32::try_from(seq).unwrap_or(i32::MAX);
    session.call("write an event", move |client| {
        client.execute(
            "INSERT INTO runbook_events (run_id, seq, line, hash, written_by, written_at)
             VALUES ($1, $2, $3, '', '', now())",
            &[&run_id, &seq, &line],
        )?;
        Ok(())
    })
}

/// The hashes of run `run_id`'s lines the database holds, in order.
pub fn hashes(session: &Session, run_id: &str) -> Result<Vec<String>, PgError> {
    let run_id = run_id.to_owned();
    session.call("read the run's events", move |client| {
        Ok(client
            .query(
                "SELECT hash FROM runbook_events WHERE run_id = $1 ORDER BY seq",
                &[&run_id],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect())
    })
}

/// Run `run_id`'s journal lines, in order.
pub fn lines(session: &Session, run_id: &str) -> Result<Vec<String>, PgError> {
    let run_id = run_id.to_owned();
    session.call("read the run's events", move |client| {
        Ok(client
            .query(
                "SELECT line FROM runbook_events WHERE run_id = $1 ORDER BY seq",
                &[&run_id],
            )?
            .iter()
            .map(|row| row.get(0))
            .collect())
    })
}

/// The `seq` of a new run of `runbook`: one more than the highest recorded.
/// Call it under the run lock.
pub fn next_seq(session: &Session, runbook: &str) -> Result<i64, PgError> {
    let runbook = runbook.to_owned();
    session.call("read the order of runs", move |client| {
        Ok(client
            .query_one(
                "SELECT coalesce(max(seq), 0) + 1 FROM runbook_runs WHERE runbook = $1",
                &[&runbook],
            )?
            .get(0))
    })
}

/// The latest run of `runbook`, by `seq`.
pub fn latest(session: &Session, runbook: &str) -> Result<Option<RunRow>, PgError> {
    select_one(session, "runbook = $1 ORDER BY seq DESC LIMIT 1", runbook)
}

/// Run `run_id`.
pub fn by_id(session: &Session, run_id: &str) -> Result<Option<RunRow>, PgError> {
    select_one(session, "run_id = $1", run_id)
}

fn select_one(session: &Session, filter: &str, value: &str) -> Result<Option<RunRow>, PgError> {
    let query = format!(
        "SELECT run_id, runbook, seq, host, operator, operator_role, pid, file_hash,
                to_char(started_at AT TIME ZONE 'UTC', {UTC})
           FROM runbook_runs WHERE {filter}"
    );
    let value = value.to_owned();
    session.call("read the runs", move |client| {
        Ok(client.query_opt(&query, &[&value])?.map(|row| RunRow {
            run_id: row.get(0),
            runbook: row.get(1),
            seq: row.get(2),
            host: row.get(3),
            operator: row.get(4),
            operator_role: row.get(5),
            pid: row.get(6),
            file_hash: row.get(7),
            started_at: row.get(8),
        }))
    })
}
