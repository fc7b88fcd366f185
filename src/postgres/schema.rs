//! The team state schema and its versioned migrations (`runbook state init URL`).
//!
//! Each migration is applied once, in order, in one transaction with the
//! version it brings recorded in `runbook_schema_version`; `init` run again
//! applies only what is missing, and refuses a database a newer runbook set up
//! (it would misread rows it does not know). A run checks the version before
//! anything else, so an old or missing schema is said up front.
//!
//! What the schema promises, so that a modified client cannot break it — the
//! server enforces it, whatever the client sends:
//! - *Append-only*: triggers refuse `UPDATE`, `DELETE` and `TRUNCATE` on every
//!   table (for the owner too); the team role is granted `SELECT` and `INSERT`
//!   only.
//! - *Identity is the server's*: who started a run, wrote an event, holds a lock
//!   or gave an approval is `session_user`, the role the server authenticated,
//!   set by a trigger over whatever the client wrote.
//! - *One writer per run*: a run's events are written by the role that started
//!   it, each linked to the one before (the journal's hash chain, checked by the
//!   server: `hash` is its own SHA-256 of the line, and `prev` must be the hash
//!   of the event before).
//! - *No self-approval*: an approval by the role that runs the run is refused,
//!   and so is one by a role the run's request does not name in its `from`; only
//!   the run's operator asks for approval of its steps.

use crate::postgres::{PgError, Session};

/// The migrations, in order: version `n` is `MIGRATIONS[n - 1]`. Never edit one
/// that has shipped; add the next.
const MIGRATIONS: &[&str] = &[V1];

/// The schema version this runbook reads and writes.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "a handful of migrations"
)]
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// The SQLSTATE codes the triggers raise, so a client can tell them apart:
/// self-approval, an approver the request does not name, no request.
pub const SELF_APPROVAL: &str = "RBSLF";
pub const NOT_AN_APPROVER: &str = "RBNAP";
pub const NO_REQUEST: &str = "RBNRQ";

/// The team role `init` grants the tables to: `GRANT runbook_team TO alice`.
pub const TEAM_ROLE: &str = "runbook_team";

/// Advisory lock namespace of `init` itself (two `init`s at once wait in turn).
const INIT_LOCK: i64 = 0x5242_0000;

const V1: &str = r"
CREATE TABLE runbook_runs (
    run_id        text PRIMARY KEY,
    runbook       text NOT NULL,
    seq           bigint NOT NULL,
    host          text NOT NULL,
    operator      text NOT NULL,
    operator_role text NOT NULL,
    pid           integer NOT NULL,
    file_hash     text NOT NULL,
    started_at    timestamptz NOT NULL,
    UNIQUE (runbook, seq)
);

CREATE TABLE runbook_events (
    run_id     text NOT NULL REFERENCES runbook_runs (run_id),
    seq        integer NOT NULL CHECK (seq >= 1),
    line       text NOT NULL,
    hash       text NOT NULL,
    written_by text NOT NULL,
    written_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE runbook_lock_holders (
    runbook     text NOT NULL,
    run_id      text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    role        text NOT NULL,
    backend_pid integer NOT NULL,
    since       timestamptz NOT NULL
);
CREATE INDEX runbook_lock_holders_backend ON runbook_lock_holders (backend_pid, since);

CREATE TABLE runbook_approval_requests (
    id           bigserial PRIMARY KEY,
    run_id       text NOT NULL REFERENCES runbook_runs (run_id),
    step         text NOT NULL,
    request      jsonb NOT NULL,
    requested_by text NOT NULL,
    requested_at timestamptz NOT NULL
);

CREATE TABLE runbook_approvals (
    id           bigserial PRIMARY KEY,
    run_id       text NOT NULL REFERENCES runbook_runs (run_id),
    step         text NOT NULL,
    runbook_hash text NOT NULL,
    target       text NOT NULL,
    decision     text NOT NULL CHECK (decision IN ('approved', 'rejected')),
    reason       text,
    approver     text NOT NULL,
    decided_at   timestamptz NOT NULL,
    UNIQUE (run_id, step, approver)
);

CREATE FUNCTION runbook_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'runbook state is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION runbook_run_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.operator_role := session_user;
    NEW.started_at := now();
    RETURN NEW;
END $$;

CREATE FUNCTION runbook_event_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    runs_by text;
    before  text;
BEGIN
    SELECT operator_role INTO runs_by FROM runbook_runs WHERE run_id = NEW.run_id;
    IF runs_by IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'the events of run % are written by its operator %, not by %',
            NEW.run_id, runs_by, session_user USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.written_by := session_user;
    NEW.written_at := now();
    NEW.hash := encode(sha256(convert_to(NEW.line, 'UTF8')), 'hex');
    IF NEW.seq > 1 THEN
        SELECT hash INTO before FROM runbook_events WHERE run_id = NEW.run_id AND seq = NEW.seq - 1;
        IF before IS NULL THEN
            RAISE EXCEPTION 'event % of run % comes before event %', NEW.seq, NEW.run_id, NEW.seq - 1;
        END IF;
        IF (NEW.line::jsonb ->> 'prev') IS DISTINCT FROM before THEN
            RAISE EXCEPTION 'event % of run % does not link to event % (the chain breaks)',
                NEW.seq, NEW.run_id, NEW.seq - 1;
        END IF;
    ELSIF NEW.line::jsonb ? 'prev' THEN
        RAISE EXCEPTION 'the first event of run % links to an event before it', NEW.run_id;
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION runbook_lock_holder_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.role := session_user;
    NEW.backend_pid := pg_backend_pid();
    NEW.since := now();
    RETURN NEW;
END $$;

CREATE FUNCTION runbook_approval_request_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    runs_by text;
BEGIN
    SELECT operator_role INTO runs_by FROM runbook_runs WHERE run_id = NEW.run_id;
    IF runs_by IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'approval for run % is asked by its operator %, not by %',
            NEW.run_id, runs_by, session_user USING ERRCODE = 'insufficient_privilege';
    END IF;
    NEW.requested_by := session_user;
    NEW.requested_at := now();
    RETURN NEW;
END $$;

CREATE FUNCTION runbook_approval_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    runs_by text;
    asked   jsonb;
BEGIN
    NEW.approver := session_user;
    NEW.decided_at := now();
    SELECT operator_role INTO runs_by FROM runbook_runs WHERE run_id = NEW.run_id;
    IF runs_by IS NULL THEN
        RAISE EXCEPTION 'there is no run %', NEW.run_id;
    END IF;
    IF runs_by = session_user THEN
        RAISE EXCEPTION 'self-approval refused: % runs %, so another person must approve it',
            session_user, NEW.run_id USING ERRCODE = 'RBSLF';
    END IF;
    SELECT request INTO asked FROM runbook_approval_requests
        WHERE run_id = NEW.run_id AND step = NEW.step ORDER BY id DESC LIMIT 1;
    IF asked IS NULL THEN
        RAISE EXCEPTION 'no approval was asked for step % in run %', NEW.step, NEW.run_id
            USING ERRCODE = 'RBNRQ';
    END IF;
    IF NOT (asked -> 'from') ? session_user THEN
        RAISE EXCEPTION '% is not among those who may approve % (%)', session_user, NEW.step,
            asked -> 'from' USING ERRCODE = 'RBNAP';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER runbook_runs_insert BEFORE INSERT ON runbook_runs
    FOR EACH ROW EXECUTE FUNCTION runbook_run_insert();
CREATE TRIGGER runbook_events_insert BEFORE INSERT ON runbook_events
    FOR EACH ROW EXECUTE FUNCTION runbook_event_insert();
CREATE TRIGGER runbook_lock_holders_insert BEFORE INSERT ON runbook_lock_holders
    FOR EACH ROW EXECUTE FUNCTION runbook_lock_holder_insert();
CREATE TRIGGER runbook_approval_requests_insert BEFORE INSERT ON runbook_approval_requests
    FOR EACH ROW EXECUTE FUNCTION runbook_approval_request_insert();
CREATE TRIGGER runbook_approvals_insert BEFORE INSERT ON runbook_approvals
    FOR EACH ROW EXECUTE FUNCTION runbook_approval_insert();

CREATE TRIGGER runbook_runs_append_only BEFORE UPDATE OR DELETE ON runbook_runs
    FOR EACH ROW EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_events_append_only BEFORE UPDATE OR DELETE ON runbook_events
    FOR EACH ROW EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_lock_holders_append_only BEFORE UPDATE OR DELETE ON runbook_lock_holders
    FOR EACH ROW EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_approval_requests_append_only BEFORE UPDATE OR DELETE ON runbook_approval_requests
    FOR EACH ROW EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_approvals_append_only BEFORE UPDATE OR DELETE ON runbook_approvals
    FOR EACH ROW EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_runs_no_truncate BEFORE TRUNCATE ON runbook_runs
    FOR EACH STATEMENT EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_events_no_truncate BEFORE TRUNCATE ON runbook_events
    FOR EACH STATEMENT EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_lock_holders_no_truncate BEFORE TRUNCATE ON runbook_lock_holders
    FOR EACH STATEMENT EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_approval_requests_no_truncate BEFORE TRUNCATE ON runbook_approval_requests
    FOR EACH STATEMENT EXECUTE FUNCTION runbook_append_only();
CREATE TRIGGER runbook_approvals_no_truncate BEFORE TRUNCATE ON runbook_approvals
    FOR EACH STATEMENT EXECUTE FUNCTION runbook_append_only();

DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'runbook_team') THEN
        CREATE ROLE runbook_team NOLOGIN;
    END IF;
END $$;
REVOKE ALL ON runbook_runs, runbook_events, runbook_lock_holders, runbook_approval_requests,
    runbook_approvals FROM PUBLIC;
GRANT SELECT, INSERT ON runbook_runs, runbook_events, runbook_lock_holders,
    runbook_approval_requests, runbook_approvals TO runbook_team;
GRANT USAGE ON SEQUENCE runbook_approval_requests_id_seq, runbook_approvals_id_seq
    TO runbook_team;
GRANT SELECT ON runbook_schema_version TO runbook_team;
";

/// What `init` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The version the database was at (0: none).
    pub from: i32,
    pub to: i32,
}

/// Brings the database to [`VERSION`], applying the migrations it lacks, all in
/// one transaction (so a failure leaves it as it was).
pub fn init(session: &Session) -> Result<Applied, PgError> {
    let url = session.url().to_owned();
    let outcome = session.call("set up the schema", move |client| {
        let mut transaction = client.transaction()?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK])?;
        transaction.batch_execute(
            "CREATE TABLE IF NOT EXISTS runbook_schema_version (
                 version    integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 applied_by text NOT NULL DEFAULT session_user
             )",
        )?;
        let from: i32 = transaction
            .query_one(
                "SELECT coalesce(max(version), 0) FROM runbook_schema_version",
                &[],
            )?
            .get(0);
        if from > VERSION {
            return Ok(Err(from));
        }
        for (index, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(from.unsigned_abs() as usize)
        {
            let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
            transaction.batch_execute(migration)?;
            transaction.execute(
                "INSERT INTO runbook_schema_version (version) VALUES ($1)",
                &[&version],
            )?;
        }
        transaction.commit()?;
        Ok(Ok(from))
    })?;
    match outcome {
        Ok(from) => Ok(Applied { from, to: VERSION }),
        Err(found) => Err(PgError::NewerSchema {
            url,
            found,
            known: VERSION,
        }),
    }
}

/// Checks that the database is at [`VERSION`].
pub fn check(session: &Session) -> Result<(), PgError> {
    let url = session.url().to_owned();
    let found = session.call("read the schema version", |client| {
        let exists: bool = client
            .query_one(
                "SELECT to_regclass('runbook_schema_version') IS NOT NULL",
                &[],
            )?
            .get(0);
        if !exists {
            return Ok(None);
        }
        let version: i32 = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM runbook_schema_version",
                &[],
            )?
            .get(0);
        Ok(Some(version))
    })?;
    match found {
        None | Some(0) => Err(PgError::NoSchema { url }),
        Some(found) if found > VERSION => Err(PgError::NewerSchema {
            url,
            found,
            known: VERSION,
        }),
        Some(found) if found < VERSION => Err(PgError::OlderSchema {
            url,
            found,
            known: VERSION,
        }),
        Some(_) => Ok(()),
    }
}
