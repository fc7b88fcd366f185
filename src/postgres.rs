//! Team state on `PostgreSQL` (`--state postgres://…`, `RUNBOOK_STATE_URL`): run
//! journals mirrored as append-only rows, the run lock held by the server, and
//! the schema that `runbook state init URL` sets up.
//!
//! Everything here speaks in rows and journal lines (text), never in engine
//! types: the engine hands over each line exactly as its journal wrote it, and
//! the readers (`status`, `report`) parse the lines they get back. So this
//! module sits below both and imports neither (only `approval`, whose store it
//! implements, and `error`).
//!
//! One [`Session`] is one server connection, owned by a thread of its own: the
//! engine runs on a tokio runtime, and a blocking client may not block on a
//! runtime from inside one. The connection lives as long as the session — for a
//! run, the whole run — since the run lock is the connection's (a session-level
//! advisory lock), released by the server the moment the connection dies.

pub mod approvals;
pub mod lock;
pub mod runs;
pub mod schema;

use std::str::FromStr as _;
use std::sync::mpsc;
use std::time::Duration;

/// The variable that names the team state database when `--state` does not.
pub const STATE_URL_ENV: &str = "RUNBOOK_STATE_URL";

/// How long a connection attempt may take before the database counts as
/// unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take before the database counts as lost: a run
/// must not hang on a server that stopped answering.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("`{shown}` is not a PostgreSQL URL (postgres://USER@HOST:PORT/DATABASE)")]
    BadUrl {
        shown: String,
        #[source]
        source: Option<postgres::Error>,
    },

    /// A password on the command line is shown by `ps` and kept in shell history.
    #[error("`--state` holds a password, which `ps` and the shell's history would show")]
    PasswordInArgument,

    #[error("`{url}` asks for TLS (`sslmode={mode}`), which this build of runbook does not speak")]
    TlsRequired { url: String, mode: &'static str },

    #[error("cannot reach the team state database `{url}`")]
    Connect {
        url: String,
        #[source]
        source: postgres::Error,
    },

    /// The connection went away, or a request failed, after it was made.
    #[error("the team state database `{url}` failed: {what}")]
    Request {
        url: String,
        what: String,
        #[source]
        source: Option<postgres::Error>,
    },

    #[error("the team state database `{url}` has no runbook schema yet")]
    NoSchema { url: String },

    #[error(
        "the team state database `{url}` is at schema version {found}, this runbook knows up to {known}"
    )]
    NewerSchema { url: String, found: i32, known: i32 },

    #[error(
        "the team state database `{url}` is at schema version {found}; this runbook needs {known}"
    )]
    OlderSchema { url: String, found: i32, known: i32 },

    /// Another run holds the server's lock on this runbook.
    #[error("{}", held_message(runbook, holder.as_deref()))]
    Held {
        runbook: String,
        holder: Option<Box<lock::Holder>>,
    },

    /// The server refused what was written (a trigger or a grant): the message
    /// is the server's.
    #[error("the team state database refused it: {message}")]
    Refused {
        /// The SQLSTATE (e.g. `schema::SELF_APPROVAL`), empty when not the server's.
        code: String,
        message: String,
    },
}

impl PgError {
    /// Exit code: the database that cannot be reached or used is the machine's
    /// failure (4); a URL, a schema to set up or a run in the way is for the
    /// person to sort out (2).
    pub fn exit_code(&self) -> i32 {
        match self {
            PgError::Connect { .. } | PgError::Request { .. } | PgError::Refused { .. } => {
                crate::error::EXIT_IO
            }
            PgError::BadUrl { .. }
            | PgError::PasswordInArgument
            | PgError::TlsRequired { .. }
            | PgError::NoSchema { .. }
            | PgError::NewerSchema { .. }
            | PgError::OlderSchema { .. }
            | PgError::Held { .. } => crate::error::EXIT_USAGE,
        }
    }

    pub fn help(&self) -> Option<&'static str> {
        match self {
            PgError::BadUrl { .. } => Some(
                "write it as postgres://USER@HOST:PORT/DATABASE (a password belongs in RUNBOOK_STATE_URL, not on the command line)",
            ),
            PgError::PasswordInArgument => Some(
                "put the URL in RUNBOOK_STATE_URL instead (or leave the password out and let the server authenticate otherwise)",
            ),
            PgError::TlsRequired { .. } => Some(
                "reach the server over a network you trust (a Unix socket, an SSH tunnel, a VPN) with sslmode=disable or prefer",
            ),
            PgError::Connect { .. } => Some(
                "check that the server is up and the URL (RUNBOOK_STATE_URL or --state) is right; nothing ran",
            ),
            PgError::Request { .. } => Some(
                "every event is in the local journal: once the database is back, `runbook resume FILE --state URL` uploads what it lacks",
            ),
            PgError::NoSchema { .. } | PgError::OlderSchema { .. } => Some(
                "set it up (or upgrade it) with `runbook state init URL`, as the database's owner",
            ),
            PgError::NewerSchema { .. } => Some(
                "a newer runbook set this database up: use that version (this one would misread its rows)",
            ),
            PgError::Held { .. } => Some(
                "the lock is the holder's connection: the server releases it the moment that process ends or loses its connection, so once it has, simply try again",
            ),
            PgError::Refused { .. } => None,
        }
    }
}

fn held_message(runbook: &str, holder: Option<&lock::Holder>) -> String {
    let who = match holder {
        Some(h) => format!(
            "run {} on host {} (pid {}, database role {}, since {})",
            h.run_id, h.host, h.pid, h.role, h.since
        ),
        None => "another session".to_owned(),
    };
    format!(
        "another run of `{runbook}` is in progress: {who} holds its lock in the team state database"
    )
}

/// A team state database, as named by `--state` or `RUNBOOK_STATE_URL`.
#[derive(Clone)]
pub struct StateUrl {
    config: postgres::Config,
    /// The URL as errors and reports show it: no password.
    shown: String,
}

impl std::fmt::Debug for StateUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl StateUrl {
    /// `--state`, else `RUNBOOK_STATE_URL`, else none (the local state
    /// directory). A password given as an argument is refused.
    pub fn from_flag_or_env(flag: Option<&str>) -> Result<Option<StateUrl>, PgError> {
        if let Some(text) = flag {
            let url = StateUrl::parse(text)?;
            if url.config.get_password().is_some() {
                return Err(PgError::PasswordInArgument);
            }
            return Ok(Some(url));
        }
        match std::env::var(STATE_URL_ENV) {
            Ok(text) if !text.trim().is_empty() => StateUrl::parse(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// Parses `postgres://…` or `postgresql://…`.
    pub fn parse(text: &str) -> Result<StateUrl, PgError> {
        let text = text.trim();
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(PgError::BadUrl {
                shown: without_password(text),
                source: None,
            });
        }
        let mut config = postgres::Config::from_str(text).map_err(|source| PgError::BadUrl {
            shown: without_password(text),
            source: Some(source),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server gone silent (a cable pulled) is found in about a minute,
        // not after the operating system's two hours.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name("runbook");
        let shown = shown(&config);
        if let postgres::config::SslMode::Require = config.get_ssl_mode() {
            return Err(PgError::TlsRequired {
                url: shown,
                mode: "require",
            });
        }
        Ok(StateUrl { config, shown })
    }

    /// The URL without its password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The database alone, the same for every role: `postgres://HOST:PORT/DB`.
    pub fn place(&self) -> String {
        match self.config.get_user() {
            Some(user) => self.shown.replacen(&format!("{user}@"), "", 1),
            None => self.shown.clone(),
        }
    }
}

/// `postgres://USER@HOST:PORT/DB`, from what the URL says: never the password.
fn shown(config: &postgres::Config) -> String {
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let name = match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            match config.get_ports().get(index).or(config.get_ports().first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let db = config
        .get_dbname()
        .map(|d| format!("/{d}"))
        .unwrap_or_default();
    format!("postgres://{user}{}{db}", hosts.join(","))
}

/// Text that failed to parse, with anything between `:` and `@` after the
/// scheme (a password) cut out.
fn without_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let path = path.split('?').next().unwrap_or_default();
    format!("{scheme}://{authority}{path}")
}

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// One connection to the team state database, on a thread of its own (see the
/// module doc). Dropping it closes the connection, which releases its lock.
pub struct Session {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    url: String,
}

impl Session {
    /// Connects; a server that cannot be reached in time is [`PgError::Connect`].
    pub fn connect(url: &StateUrl) -> Result<Session, PgError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (jobs_tx, jobs_rx) = mpsc::channel::<Job>();
        let config = url.config.clone();
        let thread = std::thread::Builder::new()
            .name("runbook-postgres".to_owned())
            .spawn(move || match config.connect(postgres::NoTls) {
                Ok(mut client) => {
                    let _ = ready_tx.send(Ok(()));
                    for job in jobs_rx {
                        job(&mut client);
                    }
                }
                Err(error) => {
                    let _ = ready_tx.send(Err(error));
                }
            })
            .map_err(|error| PgError::Request {
                url: url.shown.clone(),
                what: format!("cannot start its thread: {error}"),
                source: None,
            })?;
        let lost = |url: &StateUrl| PgError::Request {
            url: url.shown.clone(),
            what: "the connection attempt did not end".to_owned(),
            source: None,
        };
        match ready_rx.recv_timeout(CONNECT_TIMEOUT + REQUEST_TIMEOUT) {
            Ok(Ok(())) => Ok(Session {
                jobs: Some(jobs_tx),
                thread: Some(thread),
                url: url.shown.clone(),
            }),
            Ok(Err(source)) => Err(PgError::Connect {
                url: url.shown.clone(),
                source,
            }),
            Err(_) => Err(lost(url)),
        }
    }

    /// The URL this session speaks to, without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs `work` on the connection and waits for its result, for
    /// [`REQUEST_TIMEOUT`] at most.
    pub fn call<R: Send + 'static>(
        &self,
        what: &str,
        work: impl FnOnce(&mut postgres::Client) -> Result<R, postgres::Error> + Send + 'static,
    ) -> Result<R, PgError> {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |client| {
            let _ = tx.send(work(client));
        });
        let gone = || PgError::Request {
            url: self.url.clone(),
            what: format!("{what}: the connection is gone"),
            source: None,
        };
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        match rx.recv_timeout(REQUEST_TIMEOUT) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(self.failed(what, source)),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(PgError::Request {
                url: self.url.clone(),
                what: format!("{what}: no answer in {}s", REQUEST_TIMEOUT.as_secs()),
                source: None,
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(gone()),
        }
    }

    /// A request's error: what the server refused (a trigger, a grant) is told
    /// in its own words; anything else is the database failing.
    fn failed(&self, what: &str, source: postgres::Error) -> PgError {
        match source.as_db_error() {
            Some(db)
                if !db.code().code().starts_with("08") && !db.code().code().starts_with("57") =>
            {
                PgError::Refused {
                    code: db.code().code().to_owned(),
                    message: db.message().to_owned(),
                }
            }
            _ => PgError::Request {
                url: self.url.clone(),
                what: what.to_owned(),
                source: Some(source),
            },
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing the job channel ends the thread, which drops the client and
        // with it the connection (and the server's lock).
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The name of this machine, as runs record where they started.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_url_never_holds_the_password() {
        let url = StateUrl::parse("postgres://alice:s3cr3t-pw@db.example:5433/ops").unwrap();
        assert_eq!(url.shown(), "postgres://alice@db.example:5433/ops");
        assert!(!format!("{url:?}").contains("s3cr3t"));
        let Err(error) = StateUrl::parse("postgres://alice:s3cr3t-pw@db.example:port/ops") else {
            panic!("a bad port is refused");
        };
        assert!(!error.to_string().contains("s3cr3t"), "{error}");
        assert!(
            error.to_string().contains("alice@db.example:port/ops"),
            "{error}"
        );
    }

    #[test]
    fn only_postgres_urls_are_taken() {
        for text in ["mysql://x", "host=localhost user=x", "", "/tmp/state"] {
            assert!(
                matches!(StateUrl::parse(text), Err(PgError::BadUrl { .. })),
                "{text}"
            );
        }
        assert!(StateUrl::parse("postgresql://ops@localhost/runbook").is_ok());
    }

    #[test]
    fn a_password_on_the_command_line_is_refused() {
        let error = StateUrl::from_flag_or_env(Some("postgres://a:pw@h/db")).unwrap_err();
        assert!(matches!(error, PgError::PasswordInArgument), "{error:?}");
        assert!(error.help().unwrap().contains(STATE_URL_ENV));
    }

    #[test]
    fn tls_that_is_required_is_refused_up_front() {
        let error = StateUrl::parse("postgres://a@h/db?sslmode=require").unwrap_err();
        assert!(matches!(error, PgError::TlsRequired { .. }), "{error:?}");
    }
}
