//! Team state on `PostgreSQL` (`--state postgres://…`, `RUNBOOK_STATE_URL`): run
//! journals mirrored as append-only rows, the run lock held by the server, and
//! the schema that `runbook state init URL` sets up.
//!
//! Everything here speaks in rows and journal lines (text), never in engine
//! types: the engine hands over each line exactly as its journal wrote it, and
//! the readers (`status`, `report`) parse the lines they get back. So this
//! module sits below both and imports neither (only `approval`, whose store it
//! implements, `error`, and `pem`, which reads the TLS files the URL names).
//!
//! One [`Session`] is one server connection, owned by a thread of its own: the
//! engine runs on a tokio runtime, and a blocking client may not block on a
//! runtime from inside one. The connection lives as long as the session — for a
//! run, the whole run — since the run lock is the connection's (a session-level
//! advisory lock), released by the server the moment the connection dies.
//!
//! The connection is TLS as the URL's `sslmode` asks ([`tls`]): across a
//! network, the server's certificate is checked by default.

pub mod approvals;
pub mod lock;
pub mod runs;
pub mod schema;
pub mod tls;

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

    /// The parser ends the credentials at the first `@`.
    #[error("`{shown}` has more than one `@`")]
    SecondAt { shown: String },

    /// A password on the command line is shown by `ps` and kept in shell history.
    #[error("`--state` holds a password, which `ps` and the shell's history would show")]
    PasswordInArgument,

    /// The URL's TLS parameters cannot be used.
    #[error("the TLS settings of `{url}` cannot be used: {problem}")]
    Tls {
        url: String,
        #[source]
        problem: tls::TlsError,
    },

    /// The server's certificate did not verify: nothing was sent to it.
    #[error(
        "the server at {hosts} is not trusted as the team state database `{url}`: its certificate {why}"
    )]
    Untrusted {
        url: String,
        hosts: String,
        why: String,
    },

    /// The server said no to TLS, which the URL's `sslmode` requires.
    #[error("the team state database `{url}` does not offer TLS, which `sslmode={mode}` asks for")]
    NoTlsOnServer { url: String, mode: tls::SslMode },

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
            | PgError::SecondAt { .. }
            | PgError::PasswordInArgument
            | PgError::Tls { .. }
            | PgError::Untrusted { .. }
            | PgError::NoTlsOnServer { .. }
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
            PgError::SecondAt { .. } => Some(
                "write an `@` in the user or the password as %40 (and `/`, `?`, `#` as %2F, %3F, %23)",
            ),
            PgError::PasswordInArgument => Some(
                "put the URL in RUNBOOK_STATE_URL instead (or leave the password out and let the server authenticate otherwise)",
            ),
            PgError::Tls { problem, .. } => Some(problem.help()),
            PgError::Untrusted { .. } => Some(
                "runbook stopped at the TLS handshake: neither the password nor anything of the run reached that server, and nothing ran. Check that sslrootcert is the CA that signed the server's certificate and that the URL names the host as that certificate does (sslmode=verify-ca checks the CA alone); if both are right, something in between is answering in the server's place",
            ),
            PgError::NoTlsOnServer { .. } => Some(
                "runbook stopped before logging in: neither the password nor anything of the run was sent, and nothing ran. Turn TLS on at the server (`ssl = on`, with `ssl_cert_file` and `ssl_key_file`), or, only over a network you trust (an SSH tunnel, a VPN), use sslmode=disable",
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
    tls: tls::Tls,
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

    /// Parses `postgres://…` or `postgresql://…`, and reads the TLS files it
    /// names.
    pub fn parse(text: &str) -> Result<StateUrl, PgError> {
        let text = text.trim();
        let bad = |source| PgError::BadUrl {
            shown: without_password(text),
            source,
        };
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            return Err(bad(None));
        }
        let tls_problem = |problem| PgError::Tls {
            url: without_password(text),
            problem,
        };
        let (rest, asked) = tls::take_parameters(text).map_err(tls_problem)?;
        let mut config = postgres::Config::from_str(&rest).map_err(|source| bad(Some(source)))?;
        // The parser ends the credentials at the first `@`: one more `@` is a
        // password's, which would otherwise be shown as part of the host.
        if config
            .get_hosts()
            .iter()
            .any(|host| matches!(host, postgres::config::Host::Tcp(name) if name.contains('@')))
        {
            return Err(PgError::SecondAt {
                shown: without_password(text),
            });
        }
        let tls = tls::Tls::new(asked, &config).map_err(tls_problem)?;
        config.ssl_mode(tls.negotiation());
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
        Ok(StateUrl { config, tls, shown })
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

/// Text that failed to parse, with nothing in it that could be a password:
/// before the last `@` only the user (a password may hold `@`, `/` or `?`),
/// no query (it may hold `password=`), and without any `@` no port that is not
/// a number (`postgres://alice:secret/db` is a URL that forgot its host).
fn without_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    let (user, rest) = match rest.rsplit_once('@') {
        Some((credentials, rest)) => {
            let user = credentials
                .split([':', '@', '/', '?'])
                .next()
                .unwrap_or_default();
            (format!("{user}@"), rest)
        }
        None => (String::new(), rest),
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = if user.is_empty() {
        authority
            .split(',')
            .map(numeric_port_only)
            .collect::<Vec<_>>()
            .join(",")
    } else {
        authority.to_owned()
    };
    let path = path.split('?').next().unwrap_or_default();
    format!("{scheme}://{user}{authority}{path}")
}

/// `host:port` as it is when the port is a number, else `host:…`.
fn numeric_port_only(chunk: &str) -> String {
    let host_end = chunk.rfind(']').map_or(0, |bracket| bracket + 1);
    match chunk[host_end..].find(':') {
        Some(colon) => {
            let (host, port) = chunk.split_at(host_end + colon);
            if port[1..].bytes().all(|byte| byte.is_ascii_digit()) {
                chunk.to_owned()
            } else {
                format!("{host}:…")
            }
        }
        None => chunk.to_owned(),
    }
}

type Job = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// Connects with TLS as the URL's mode asks (`None`: `sslmode=disable`).
fn connect(
    config: &postgres::Config,
    connector: Option<tokio_postgres_rustls::MakeRustlsConnect>,
) -> Result<postgres::Client, postgres::Error> {
    match connector {
        Some(connector) => config.connect(connector),
        None => config.connect(postgres::NoTls),
    }
}

/// The hosts a certificate is checked for: `` `db.internal` ``, or several.
fn tcp_hosts(config: &postgres::Config) -> String {
    let names: Vec<String> = config
        .get_hosts()
        .iter()
        .filter_map(|host| match host {
            postgres::config::Host::Tcp(name) => Some(format!("`{name}`")),
            postgres::config::Host::Unix(_) => None,
        })
        .collect();
    names.join(" or ")
}

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
        let connector = url.tls.connector();
        let thread = std::thread::Builder::new()
            .name("runbook-postgres".to_owned())
            .spawn(move || match connect(&config, connector) {
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
            Ok(Err(source)) => Err(match url.tls.refusal(&source) {
                Some(tls::Refusal::NoTlsOnServer) => PgError::NoTlsOnServer {
                    url: url.shown.clone(),
                    mode: url.tls.mode(),
                },
                Some(tls::Refusal::Certificate(why)) => PgError::Untrusted {
                    url: url.shown.clone(),
                    hosts: tcp_hosts(&url.config),
                    why,
                },
                None => PgError::Connect {
                    url: url.shown.clone(),
                    source,
                },
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
        let url = StateUrl::parse("postgres://alice:s3cr3t-pw@db.example:5433/ops?sslmode=require")
            .unwrap();
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
        let error = StateUrl::from_flag_or_env(Some("postgres://a:pw@localhost/db")).unwrap_err();
        assert!(matches!(error, PgError::PasswordInArgument), "{error:?}");
        assert!(error.help().unwrap().contains(STATE_URL_ENV));
    }

    #[test]
    fn a_password_is_never_shown_however_the_url_is_malformed() {
        // Each URL is refused (or, parsed, shown) without the password.
        for text in [
            "postgres://alice:s3cr3t@db.example:port/ops",
            "postgres://alice:s3cr3t/ops",
            "postgres://alice:s3cr3t",
            "postgres://alice:p@s3cr3t@db.example/ops",
            "postgres://alice:pa/s3cr3t@db.example:x/ops",
            "postgres://alice:pa?s3cr3t@db.example:x/ops",
            "postgres://alice@db.example:x/ops?password=s3cr3t&application_name=a@b",
            "postgres://alice@db.example/ops?password=s3cr3t&sslmode=bogus",
            "postgres://alice:s3cr3t@db.example/ops?sslmode=verify-full&sslrootcert=/no/such/ca.pem",
            "postgres://[::1]:s3cr3t/ops",
        ] {
            let error = match StateUrl::parse(text) {
                Ok(url) => {
                    assert!(!url.shown().contains("s3cr3t"), "{text}: {}", url.shown());
                    continue;
                }
                Err(error) => error,
            };
            let mut said = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                said.push_str(&cause.to_string());
                source = cause.source();
            }
            assert!(!said.contains("s3cr3t"), "{text}: {said}");
        }
    }

    #[test]
    fn a_password_that_ends_early_at_an_at_sign_is_refused() {
        let error = StateUrl::parse("postgres://alice:p@ss@db.example/ops").unwrap_err();
        assert!(matches!(error, PgError::SecondAt { .. }), "{error:?}");
        assert_eq!(error.to_string().matches("ss").count(), 0, "{error}");
    }
}
