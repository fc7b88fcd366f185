//! The run lock held by the server: a session-level advisory lock on a key
//! derived from the runbook id, taken on the connection a run keeps open from
//! its start to its end. The server releases it the moment that connection
//! dies — the process ended, was killed, or its machine vanished (once TCP
//! keepalives find out) — so a crashed laptop never wedges the team.
//!
//! The lock itself carries no description, so its holder is recorded in
//! `runbook_lock_holders` (host, pid, run, and the server-set role and backend
//! pid); a run that finds the lock taken names the holder by joining the
//! server's table of locks (`pg_locks`) to it.

use crate::postgres::{PgError, Session};

/// The advisory lock namespace of run locks ("RB"): the first of the two keys.
const NAMESPACE: i32 = 0x5242;

/// Who holds a runbook's lock, as the holder recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub run_id: String,
    pub host: String,
    pub pid: i32,
    /// The database role the server authenticated.
    pub role: String,
    /// RFC 3339 UTC.
    pub since: String,
}

/// The second key of a runbook's lock: from a hash of its id, so every machine
/// of the team computes the same.
fn key(runbook: &str) -> i32 {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("runbook lock {runbook}").as_bytes());
    let high = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) & 0x7fff_ffff;
    i32::try_from(high).unwrap_or_default()
}

/// Takes the lock of `runbook` for run `run_id` on `session`, without waiting:
/// a run in the way is [`PgError::Held`], naming it.
pub fn acquire(
    session: &Session,
    runbook: &str,
    run_id: &str,
    host: &str,
    pid: u32,
) -> Result<(), PgError> {
    let (runbook, run_id, host) = (runbook.to_owned(), run_id.to_owned(), host.to_owned());
    let pid = i32::try_from(pid).unwrap_or(i32::MAX);
    let key = key(&runbook);
    let name = runbook.clone();
    let held = session.call("take the run lock", move |client| {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&NAMESPACE, &key])?
            .get(0);
        if !got {
            return holder(client, &runbook, key).map(|holder| Some(holder.map(Box::new)));
        }
        client.execute(
            "INSERT INTO runbook_lock_holders (runbook, run_id, host, pid, role, backend_pid, since)
             VALUES ($1, $2, $3, $4, '', 0, now())",
            &[&runbook, &run_id, &host, &pid],
        )?;
        Ok(None)
    })?;
    match held {
        None => Ok(()),
        Some(holder) => Err(PgError::Held {
            runbook: name,
            holder,
        }),
    }
}

/// The holder of `runbook`'s lock, from the server's table of locks.
fn holder(
    client: &mut postgres::Client,
    runbook: &str,
    key: i32,
) -> Result<Option<Holder>, postgres::Error> {
    let row = client.query_opt(
        "SELECT h.run_id, h.host, h.pid, h.role,
                to_char(h.since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
           FROM pg_locks l
           JOIN runbook_lock_holders h ON h.backend_pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
            AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND h.runbook = $3
          ORDER BY h.since DESC
          LIMIT 1",
        &[&i64::from(NAMESPACE), &i64::from(key), &runbook],
    )?;
    Ok(row.map(|row| Holder {
        run_id: row.get(0),
        host: row.get(1),
        pid: row.get(2),
        role: row.get(3),
        since: row.get(4),
    }))
}
