//! The run journal: an append-only file of JSON lines, one [`Event`] per line,
//! each written and fsynced before the engine moves on (SPEC §4). It is what lets
//! Ctrl-C, a crash or `kill -9` lose nothing: `runbook resume` replays it.
//!
//! Power loss can leave the last line half-written. [`read`] tolerates exactly
//! that — a torn *last* line — and reports it; [`Journal::open`] cuts it off so the
//! next event starts on a fresh line. Damage anywhere else is not something a
//! crash does, so it is an error.
//!
//! Events are hash-chained ([`chain`]): each carries the hash of the line before
//! it, so a hand edit, a removed line or a reordering is found; a journal whose
//! chain does not hold is never continued.
//!
//! The same event lines stream to `--events FILE|-` through [`Events`].

pub mod chain;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::engine::outcome::Outcome;
use crate::error::{EXIT_IO, EXIT_USAGE};
use chain::{Chain, Walk};

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot create the run journal `{}`", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot open the run journal `{}`", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot read the run journal `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The run cannot go on: what it does next could not be recorded.
    #[error("cannot write to the run journal `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A failed write left a partial line that could not be cut off again;
    /// appending after it would damage the journal.
    #[error(
        "the run journal `{}` is left unusable by an earlier failed write",
        path.display()
    )]
    Unusable { path: PathBuf },

    /// A line before the last is not JSON: not the mark of a crash mid-write.
    #[error("line {line} of the run journal `{}` is damaged (it is not JSON)", path.display())]
    Damaged {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    /// A line is JSON but not an event this version knows.
    #[error("line {line} of the run journal `{}` is not an event runbook knows", path.display())]
    UnknownEvent {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },

    /// The chain of events does not hold: the journal was changed after it was
    /// written.
    #[error("the run journal `{}` was changed after it was written: its chain of events breaks at line {line} ({why})", path.display())]
    Broken {
        path: PathBuf,
        line: usize,
        why: String,
    },

    /// Written before journals were chained: a change to it cannot be detected.
    #[error("the run journal `{}` was written before runbook chained its events, so a change to it cannot be detected; it is not continued", path.display())]
    Unchained { path: PathBuf },

    #[error("cannot encode a journal event as JSON")]
    Encode(#[source] serde_json::Error),

    #[error("cannot open `{}` for --events", path.display())]
    EventsOpen {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot write the --events stream to {target}")]
    EventsWrite {
        target: String,
        #[source]
        source: io::Error,
    },
}

impl JournalError {
    /// The exit code of a command this stops: a file that cannot be read or
    /// written is the machine's failure ([`EXIT_IO`]); a journal that reads but
    /// holds what it should not is for the person to sort out ([`EXIT_USAGE`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            JournalError::Create { .. }
            | JournalError::Open { .. }
            | JournalError::Read { .. }
            | JournalError::Write { .. }
            | JournalError::Unusable { .. }
            | JournalError::Encode(_)
            | JournalError::EventsOpen { .. }
            | JournalError::EventsWrite { .. } => EXIT_IO,
            JournalError::Damaged { .. }
            | JournalError::UnknownEvent { .. }
            | JournalError::Broken { .. }
            | JournalError::Unchained { .. } => EXIT_USAGE,
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            JournalError::Create { .. } | JournalError::Open { .. } | JournalError::Read { .. } => {
                Some("check the permissions of the state directory, or set RUNBOOK_STATE_DIR")
            }
            JournalError::Write { .. } | JournalError::Unusable { .. } => Some(
                "free disk space or fix the state directory, then `runbook resume` continues from the last recorded event",
            ),
            JournalError::Damaged { .. } => Some(
                "the file was changed after it was written; restore it, or move it out of `runs/` to start a new run",
            ),
            JournalError::UnknownEvent { .. } => Some(
                "it was probably written by a newer runbook; use that version, or move the file out of `runs/`",
            ),
            JournalError::Broken { .. } => Some(
                "`runbook verify RUN` shows where; restore the journal, or start a new run with `runbook run FILE` (gates ask for fresh evidence)",
            ),
            JournalError::Unchained { .. } => Some(
                "start a new run with `runbook run FILE`; `runbook report` still reads this one",
            ),
            JournalError::Encode(_) => None,
            JournalError::EventsOpen { .. } | JournalError::EventsWrite { .. } => {
                Some("name a writable file for --events, or `-` for standard output")
            }
        }
    }
}

/// One line of the journal: when it happened and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339 UTC with milliseconds, e.g. `2026-11-28T05:30:12.345Z`.
    pub at: String,
    /// The link to the line before ([`chain::link`]); `None` on the first event
    /// (and in journals written before the chain). Set by [`Journal::append`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// `kind`, happening now.
    pub fn now(kind: EventKind) -> Self {
        Event {
            at: now(),
            prev: None,
            kind,
        }
    }
}

/// The current time as journal events record it.
pub fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

pub use crate::eval::load::sha256_hex;

/// What happened. Values are already redacted by the engine: secrets appear
/// only as fingerprints (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    RunStarted {
        run_id: String,
        /// The runbook id.
        runbook: String,
        /// The runbook file as named on the command line.
        file: String,
        /// [`sha256_hex`] of the runbook file's bytes.
        file_hash: String,
        /// The same for each child runbook file, by path.
        #[serde(default)]
        child_file_hashes: BTreeMap<String, String>,
        /// Who ran it.
        operator: String,
        pid: u32,
        #[serde(default)]
        inputs: BTreeMap<String, InputRecord>,
        /// The working directory it started in: relative paths (env files, commands)
        /// resolve against it, so `resume` must run there too. `None` in journals
        /// written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        /// The run's place among the runs of its runbook in this state directory:
        /// one more than the highest before it, taken under the lock. Runs are
        /// ordered by it (journals written before it count as 0, then by start
        /// time); run ids, to the second, do not order quick runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        /// The Unix user (uid) that started the run, as the kernel says: who may
        /// never approve its steps. `None` in journals written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u32>,
    },
    StepStarted {
        step: String,
        attempt: u32,
        title: String,
    },
    StepFinished {
        step: String,
        outcome: Outcome,
        #[serde(default)]
        reason: Option<String>,
        /// The step's results, secrets already masked.
        #[serde(default)]
        results: serde_json::Value,
        /// Result field → fingerprint, for results that are secret.
        #[serde(default)]
        secret_fingerprints: BTreeMap<String, String>,
        duration_ms: u64,
    },
    Confirmed {
        step: String,
        how: ConfirmedHow,
    },
    GateBlocked {
        step: String,
        reason: String,
    },
    InputProvided {
        name: String,
        fingerprint: String,
        secret: bool,
        /// The value itself, only when it is not secret (so resume can reuse it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
        source: String,
    },
    /// A settings file is about to be written: if the run crashes mid-write, the
    /// next run or resume knows where to look for the temporary file left holding
    /// the new content.
    SettingWrite {
        step: String,
        /// Absolute, so it means the same file from any directory.
        file: String,
    },
    /// In a child runbook's run: a step that an earlier run of the child, now
    /// superseded by this one, left in doubt. It stays in doubt here, so a
    /// parent's resume never runs it again without the operator.
    InDoubtCarried {
        step: String,
        /// When it started, in the earlier run.
        started_at: String,
        /// That run's id.
        run: String,
    },
    /// The operator's decision on a step found in doubt on resume.
    InDoubt {
        step: String,
        decision: InDoubtDecision,
        /// Decided at the terminal, rather than by `--rerun`.
        interactive: bool,
    },
    /// Right after `run_started` in a child runbook's run: the parent run and
    /// step it belongs to (and the item, in a fan-out). A parent that reaches
    /// the step again in the same run — resumed after a crash, or after the
    /// child was blocked — continues this run instead of starting over, so no
    /// passed child step, irreversible ones above all, runs twice.
    ChildOf {
        parent_run: String,
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        item: Option<serde_json::Value>,
    },
    /// A passed run's `outputs:` for its parent, secrets masked; a secret one
    /// also by fingerprint, so a parent that reads it back asks for it again.
    OutputsRendered {
        outputs: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        secret_fingerprints: BTreeMap<String, String>,
    },
    /// The run reached a step with `approve:` and asked for approval.
    ApprovalRequested {
        step: String,
        /// The name the approval is bound to, when not `step` itself (a child
        /// runbook's step: `kid["a"].revoke`; see `crate::approval::name`).
        /// A parent journals its children's approval events too, with
        /// `step` its own step that runs the child.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<String>,
        /// What the step acts on, resolved, secrets masked.
        target: String,
        runbook_sha256: String,
        count: u32,
        from: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// Who asked, as the approval store established it.
        requested_by: String,
    },
    /// Enough people approved the step, bound to this target and runbook: the
    /// gate opened.
    Approved {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<String>,
        approvals: Vec<ApprovalRecord>,
        target: String,
        runbook_sha256: String,
    },
    /// Someone who may decide rejected the step: it fails with their reason.
    ApprovalRejected {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<String>,
        approver: String,
        decided_at: String,
        reason: String,
        target: String,
        runbook_sha256: String,
    },
    /// A decision on the step that does not count, because it is bound to
    /// something else than what the step is about to do (another runbook
    /// hash, another target): `why` says how it differs.
    ApprovalVoid {
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approval: Option<String>,
        approver: String,
        decided_at: String,
        /// `approved` or `rejected`.
        verdict: String,
        why: String,
        /// What the step acts on now, and the runbook it runs.
        target: String,
        runbook_sha256: String,
    },
    RollbackStarted {
        reason: String,
    },
    Interrupted,
    Resumed {
        pid: u32,
    },
    /// A newer run of the runbook began while this one was unfinished: this one
    /// is over, and `resume` never continues it.
    Superseded {
        /// The newer run's id.
        by: String,
    },
    RunFinished {
        outcome: Outcome,
        exit_code: i32,
    },
}

/// An input as the run used it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    pub fingerprint: String,
    pub secret: bool,
    /// The value itself, only when it is not secret.
    #[serde(default)]
    pub value: Option<String>,
    /// Where it came from: `--set`, `env`, `answers`, `prompt`, `default`…
    pub source: String,
}

impl InputRecord {
    /// A record of an input whose value may be kept.
    pub fn plain(value: &str, fingerprint: String, source: impl Into<String>) -> Self {
        InputRecord {
            fingerprint,
            secret: false,
            value: Some(value.to_owned()),
            source: source.into(),
        }
    }

    /// A record of a secret input: its fingerprint, never its value.
    pub fn secret(fingerprint: String, source: impl Into<String>) -> Self {
        InputRecord {
            fingerprint,
            secret: true,
            value: None,
            source: source.into(),
        }
    }
}

/// One approval that opened a gate: who (as the approval store established
/// it) and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub approver: String,
    pub decided_at: String,
}

/// What to do with a step that started and has no recorded result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InDoubtDecision {
    /// Run it again.
    Rerun,
    /// It happened: record it as passed; the probe that follows checks it.
    Happened,
    /// Leave it in doubt; the run ends blocked.
    Abort,
}

/// How a confirm gate was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfirmedHow {
    #[serde(rename = "interactive")]
    Interactive,
    #[serde(rename = "--confirm")]
    ConfirmFlag,
    #[serde(rename = "--yes")]
    Yes,
}

/// A journal as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub events: Vec<Event>,
    /// A half-written last line, left out of `events`; the caller reports it.
    pub torn: Option<TornTail>,
    /// Whether the events' hash chain holds.
    pub chain: Chain,
}

/// A last line cut short, typically by power loss during a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TornTail {
    /// 1-based.
    pub line_number: usize,
    /// How many bytes it holds (all dropped).
    pub bytes: usize,
}

/// `read` plus where the good part ends, for `open` to cut the file there.
struct Parsed {
    replay: Replay,
    /// Length of the file without the torn tail.
    good_len: usize,
    /// Whether the good part ends without `\n` (a complete last event whose
    /// newline was lost), so `open` must add one.
    needs_newline: bool,
}

/// Reads the journal at `path`.
pub fn read(path: &Path) -> Result<Replay, JournalError> {
    let bytes = std::fs::read(path).map_err(|source| JournalError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &bytes).map(|parsed| parsed.replay)
}

/// A journal's lines as the team state database holds them (one line each,
/// without newlines), read as the file would be; `origin` names them in errors.
pub fn read_lines(origin: &Path, lines: &[String]) -> Result<Replay, JournalError> {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    parse(origin, &bytes).map(|parsed| parsed.replay)
}

/// The first event of the journal at `path`, read alone (a run's order and id
/// are there): `None` when the first line is missing, torn or no event.
pub fn first_event(path: &Path) -> Result<Option<Event>, JournalError> {
    use std::io::BufRead as _;
    let file = File::open(path).map_err(|source| JournalError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut line = Vec::new();
    io::BufReader::new(file)
        .read_until(b'\n', &mut line)
        .map_err(|source| JournalError::Read {
            path: path.to_owned(),
            source,
        })?;
    Ok(serde_json::from_slice(&line).ok())
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed, JournalError> {
    let mut events = Vec::new();
    let mut torn = None;
    let mut good_len = 0;
    let mut needs_newline = false;
    let mut start = 0;
    let mut line_number = 0;
    let mut walk = Walk::default();
    while start < bytes.len() {
        line_number += 1;
        let (line, end) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(offset) => (&bytes[start..start + offset], start + offset + 1),
            None => (&bytes[start..], bytes.len()),
        };
        // Last as in nothing but blank space follows.
        let is_last = bytes[end..].iter().all(u8::is_ascii_whitespace);
        if !line.iter().all(u8::is_ascii_whitespace) {
            // Two stages, so that a line that is JSON but no known event — say,
            // from a newer version — is never mistaken for a torn tail and cut off.
            // A torn line is never JSON: every event is an object, and no proper
            // prefix of an object is.
            let value: serde_json::Value = match serde_json::from_slice(line) {
                Ok(value) => value,
                Err(_) if is_last => {
                    torn = Some(TornTail {
                        line_number,
                        bytes: bytes.len() - start,
                    });
                    break;
                }
                Err(source) => {
                    return Err(JournalError::Damaged {
                        path: path.to_owned(),
                        line: line_number,
                        source,
                    });
                }
            };
            let event = Event::deserialize(value).map_err(|source| JournalError::UnknownEvent {
                path: path.to_owned(),
                line: line_number,
                source,
            })?;
            walk.step(line_number, line, event.prev.as_deref());
            events.push(event);
        }
        good_len = end;
        needs_newline = !bytes[..end].ends_with(b"\n");
        start = end;
    }
    Ok(Parsed {
        replay: Replay {
            events,
            torn,
            chain: walk.finish(),
        },
        good_len,
        needs_newline,
    })
}

/// An open journal that events are appended to.
#[derive(Debug)]
pub struct Journal {
    file: File,
    path: PathBuf,
    /// The length of the file as of the last complete event, to cut a failed
    /// write back to.
    len: u64,
    unusable: bool,
    /// The link to the last line written: the next event's `prev`.
    head: Option<String>,
}

impl Journal {
    /// Creates the journal of a new run with its first event. Never overwrites:
    /// an existing file is an error. Mode 0600, as it holds what was entered.
    pub fn create(path: &Path, first: &Event) -> Result<Journal, JournalError> {
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| JournalError::Create {
                path: path.to_owned(),
                source,
            })?;
        // The new name must survive power loss too, or the fsynced events would
        // sit in a file no directory lists. Best effort: some filesystems refuse
        // to fsync a directory, and the events themselves are synced regardless.
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = File::open(parent).and_then(|dir| dir.sync_all());
        }
        let mut journal = Journal {
            file,
            path: path.to_owned(),
            len: 0,
            unusable: false,
            head: None,
        };
        journal.append(first)?;
        Ok(journal)
    }

    /// Opens an existing journal to continue a run, with what it holds so far.
    /// A torn last line is cut off first (and reported in the returned
    /// [`Replay`]) so that the next event starts on a fresh line. A journal
    /// whose chain does not hold, or that has none, is refused untouched.
    pub fn open(path: &Path) -> Result<(Journal, Replay), JournalError> {
        let open_error = |source| JournalError::Open {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .open(path)
            .map_err(open_error)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|source| JournalError::Read {
                path: path.to_owned(),
                source,
            })?;
        let parsed = parse(path, &bytes)?;
        let head = match &parsed.replay.chain {
            Chain::Intact { head } => head.clone(),
            Chain::Unchained => {
                return Err(JournalError::Unchained {
                    path: path.to_owned(),
                });
            }
            Chain::Broken { line, why } => {
                return Err(JournalError::Broken {
                    path: path.to_owned(),
                    line: *line,
                    why: why.clone(),
                });
            }
        };
        let mut journal = Journal {
            file,
            path: path.to_owned(),
            len: bytes.len() as u64,
            unusable: false,
            head: (!parsed.replay.events.is_empty()).then_some(head),
        };
        if parsed.replay.torn.is_some() || parsed.needs_newline {
            journal.repair(parsed.good_len as u64, parsed.needs_newline)?;
        }
        Ok((journal, parsed.replay))
    }

    fn repair(&mut self, good_len: u64, needs_newline: bool) -> Result<(), JournalError> {
        let write_error = |source| JournalError::Write {
            path: self.path.clone(),
            source,
        };
        self.file.set_len(good_len).map_err(write_error)?;
        if needs_newline {
            self.file.write_all(b"\n").map_err(write_error)?;
        }
        self.file.sync_data().map_err(write_error)?;
        self.len = good_len + u64::from(needs_newline);
        Ok(())
    }

    /// Appends `event` as one line, linked to the line before, and waits until
    /// it is on disk: when this returns `Ok`, the event survives a crash or power
    /// loss. Returns the event as written, link included.
    pub fn append(&mut self, event: &Event) -> Result<Event, JournalError> {
        if self.unusable {
            return Err(JournalError::Unusable {
                path: self.path.clone(),
            });
        }
        let event = Event {
            prev: self.head.clone(),
            ..event.clone()
        };
        let line = encode(&event)?;
        let written = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            // A partial line (a full disk mid-write) followed by the next event
            // would be damage in the middle. Cut it off; if even that fails,
            // refuse to write more.
            if self
                .file
                .set_len(self.len)
                .and_then(|()| self.file.sync_data())
                .is_err()
            {
                self.unusable = true;
            }
            return Err(JournalError::Write {
                path: self.path.clone(),
                source,
            });
        }
        self.len += line.len() as u64;
        self.head = Some(chain::link(&line[..line.len() - 1]));
        Ok(event)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One event as one line, newline included: exactly what the journal writes
/// (the team state database stores the same line).
pub fn encode(event: &Event) -> Result<Vec<u8>, JournalError> {
    let mut line = serde_json::to_vec(event).map_err(JournalError::Encode)?;
    line.push(b'\n');
    Ok(line)
}

/// The `--events FILE|-` stream: the journal's event lines, as they happen, to
/// a file or standard output. A reader that goes away (`--events - | head`)
/// ends the stream quietly, not the run.
pub struct Events {
    sink: Box<dyn Write>,
    target: String,
    closed: bool,
}

impl Events {
    /// `-` is standard output; anything else a file, created (mode 0600) or
    /// truncated.
    pub fn open(target: &Path) -> Result<Events, JournalError> {
        if target.as_os_str() == "-" {
            return Ok(Events::stdout());
        }
        // Owner-only like the journal it mirrors (a new file; one that exists
        // keeps the mode its owner gave it, SPEC §3).
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(target)
            .map_err(|source| JournalError::EventsOpen {
                path: target.to_owned(),
                source,
            })?;
        Ok(Events::to_writer(
            Box::new(file),
            format!("`{}`", target.display()),
        ))
    }

    pub fn stdout() -> Events {
        Events::to_writer(Box::new(io::stdout()), "standard output".to_owned())
    }

    /// Any writer; `target` names it in errors.
    pub fn to_writer(sink: Box<dyn Write>, target: String) -> Events {
        Events {
            sink,
            target,
            closed: false,
        }
    }

    /// Writes `event` as one line and flushes it, so a consumer sees it now.
    pub fn emit(&mut self, event: &Event) -> Result<(), JournalError> {
        if self.closed {
            return Ok(());
        }
        let line = encode(event)?;
        match self.sink.write_all(&line).and_then(|()| self.sink.flush()) {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(source) => Err(JournalError::EventsWrite {
                target: self.target.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use serde_json::json;

    use super::*;

    fn every_kind() -> Vec<Event> {
        let mut inputs = BTreeMap::new();
        inputs.insert(
            "zone".to_owned(),
            InputRecord::plain("example.com", "sha256:0123456789abcdef".to_owned(), "--set"),
        );
        inputs.insert(
            "token".to_owned(),
            InputRecord::secret("sha256:fedcba9876543210".to_owned(), "prompt"),
        );
        let mut children = BTreeMap::new();
        children.insert("runbooks/child.yaml".to_owned(), sha256_hex(b"child"));
        let mut secret_fingerprints = BTreeMap::new();
        secret_fingerprints.insert("value".to_owned(), "sha256:1111222233334444".to_owned());
        [
            EventKind::RunStarted {
                run_id: "20261128T053012Z-3fa1".to_owned(),
                runbook: "rotate".to_owned(),
                file: "runbooks/rotate.yaml".to_owned(),
                file_hash: sha256_hex(b"runbook: rotate\n"),
                child_file_hashes: children,
                operator: "ops".to_owned(),
                pid: 4242,
                inputs,
                cwd: Some("/srv/ops".to_owned()),
                seq: Some(7),
                uid: Some(1000),
            },
            EventKind::StepStarted {
                step: "create_token".to_owned(),
                attempt: 1,
                title: "Create the token".to_owned(),
            },
            EventKind::StepFinished {
                step: "create_token".to_owned(),
                outcome: Outcome::Passed,
                reason: None,
                results: json!({"value": "••••abcd", "status": 200}),
                secret_fingerprints,
                duration_ms: 1234,
            },
            EventKind::StepFinished {
                step: "verify".to_owned(),
                outcome: Outcome::Failed,
                reason: Some("status 401".to_owned()),
                results: serde_json::Value::Null,
                secret_fingerprints: BTreeMap::new(),
                duration_ms: 0,
            },
            EventKind::Confirmed {
                step: "revoke".to_owned(),
                how: ConfirmedHow::Interactive,
            },
            EventKind::Confirmed {
                step: "revoke".to_owned(),
                how: ConfirmedHow::ConfirmFlag,
            },
            EventKind::Confirmed {
                step: "revoke".to_owned(),
                how: ConfirmedHow::Yes,
            },
            EventKind::GateBlocked {
                step: "revoke".to_owned(),
                reason: "evidence `verify` has not passed".to_owned(),
            },
            EventKind::InputProvided {
                name: "token".to_owned(),
                fingerprint: "sha256:fedcba9876543210".to_owned(),
                secret: true,
                value: None,
                source: "prompt".to_owned(),
            },
            EventKind::RollbackStarted {
                reason: "step `verify` failed".to_owned(),
            },
            EventKind::Interrupted,
            EventKind::Resumed { pid: 4343 },
            EventKind::Superseded {
                by: "20261128T053013Z-3fa2".to_owned(),
            },
            EventKind::SettingWrite {
                step: "save".to_owned(),
                file: "/srv/ops/.env".to_owned(),
            },
            EventKind::InDoubtCarried {
                step: "revoke".to_owned(),
                started_at: "2026-11-28T05:30:12.345Z".to_owned(),
                run: "20261128T053012Z-3fa1".to_owned(),
            },
            EventKind::InDoubt {
                step: "revoke".to_owned(),
                decision: InDoubtDecision::Happened,
                interactive: true,
            },
            EventKind::ChildOf {
                parent_run: "20261128T053000Z-0a1b".to_owned(),
                step: "consumers".to_owned(),
                item: Some(json!("b.test")),
            },
            EventKind::OutputsRendered {
                outputs: BTreeMap::from([("restarted".to_owned(), "b.test".to_owned())]),
                secret_fingerprints: BTreeMap::new(),
            },
            EventKind::RunFinished {
                outcome: Outcome::Failed,
                exit_code: 1,
            },
            EventKind::ApprovalRequested {
                step: "revoke".to_owned(),
                approval: None,
                target: "DELETE https://api.test/tokens/1".to_owned(),
                runbook_sha256: sha256_hex(b"runbook: rotate\n"),
                count: 1,
                from: vec!["alice".to_owned(), "bob".to_owned()],
                message: Some("Revoke ••••egC_?".to_owned()),
                requested_by: "ops".to_owned(),
            },
            EventKind::Approved {
                step: "revoke".to_owned(),
                approval: Some(r#"kid["a"].revoke"#.to_owned()),
                approvals: vec![ApprovalRecord {
                    approver: "alice".to_owned(),
                    decided_at: "2026-11-28T05:31:00.000Z".to_owned(),
                }],
                target: "DELETE https://api.test/tokens/1".to_owned(),
                runbook_sha256: sha256_hex(b"runbook: rotate\n"),
            },
            EventKind::ApprovalRejected {
                step: "revoke".to_owned(),
                approval: None,
                approver: "bob".to_owned(),
                decided_at: "2026-11-28T05:31:00.000Z".to_owned(),
                reason: "not during the freeze".to_owned(),
                target: "DELETE https://api.test/tokens/1".to_owned(),
                runbook_sha256: sha256_hex(b"runbook: rotate\n"),
            },
            EventKind::ApprovalVoid {
                step: "revoke".to_owned(),
                approval: None,
                approver: "bob".to_owned(),
                decided_at: "2026-11-28T05:31:00.000Z".to_owned(),
                verdict: "approved".to_owned(),
                why: "it approved the target `$ revoke 1`, the step now acts on `$ revoke 2`"
                    .to_owned(),
                target: "$ revoke 2".to_owned(),
                runbook_sha256: sha256_hex(b"runbook: rotate\n"),
            },
        ]
        .into_iter()
        .map(Event::now)
        .collect()
    }

    fn started() -> Event {
        every_kind().remove(0)
    }

    /// Events without their links, to compare with the events appended.
    fn unlinked(events: &[Event]) -> Vec<Event> {
        events
            .iter()
            .map(|e| Event {
                prev: None,
                ..e.clone()
            })
            .collect()
    }

    #[test]
    fn each_event_links_to_the_line_before_and_the_last_is_the_head() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut journal = Journal::create(&path, &events[0]).unwrap();
        for event in &events[1..3] {
            journal.append(event).unwrap();
        }
        drop(journal);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let replay = read(&path).unwrap();
        assert_eq!(replay.events[0].prev, None);
        for n in 1..3 {
            assert_eq!(
                replay.events[n].prev.as_deref(),
                Some(chain::link(lines[n - 1].as_bytes()).as_str())
            );
        }
        assert_eq!(
            replay.chain,
            Chain::Intact {
                head: chain::link(lines[2].as_bytes())
            }
        );
        // Reopened, the chain goes on from the head.
        let (mut journal, _) = Journal::open(&path).unwrap();
        journal.append(&events[3]).unwrap();
        assert!(matches!(read(&path).unwrap().chain, Chain::Intact { .. }));
    }

    #[test]
    fn a_journal_whose_chain_does_not_hold_is_not_opened_nor_touched() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut journal = Journal::create(&path, &events[0]).unwrap();
        for event in &events[1..5] {
            journal.append(event).unwrap();
        }
        drop(journal);
        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace(r#""outcome":"failed""#, r#""outcome":"passed""#);
        std::fs::write(&path, &edited).unwrap();
        assert!(matches!(
            read(&path).unwrap().chain,
            Chain::Broken { line: 5, .. }
        ));
        let error = Journal::open(&path).unwrap_err();
        assert!(
            matches!(error, JournalError::Broken { line: 5, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("breaks at line 5"), "{error}");
        assert!(error.help().unwrap().contains("runbook verify"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);

        // Written before the chain: every link missing.
        let old: Vec<u8> = events[..3]
            .iter()
            .flat_map(|e| encode(e).unwrap())
            .collect();
        std::fs::write(&path, &old).unwrap();
        assert_eq!(read(&path).unwrap().chain, Chain::Unchained);
        let error = Journal::open(&path).unwrap_err();
        assert!(matches!(error, JournalError::Unchained { .. }), "{error:?}");
    }

    #[test]
    fn every_event_kind_round_trips_through_a_journal() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut journal = Journal::create(&path, &events[0]).unwrap();
        for event in &events[1..] {
            journal.append(event).unwrap();
        }
        drop(journal);

        let replay = read(&path).unwrap();
        assert_eq!(replay.torn, None);
        assert_eq!(unlinked(&replay.events), events);

        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), events.len());
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_line_format_is_flat_and_tagged() {
        let line = String::from_utf8(encode(&every_kind()[4]).unwrap()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["event"], "confirmed");
        assert_eq!(value["step"], "revoke");
        assert_eq!(value["how"], "interactive");
        assert!(value["at"].as_str().unwrap().ends_with('Z'));
        // Millisecond precision: 2026-11-28T05:30:12.345Z
        assert_eq!(value["at"].as_str().unwrap().len(), 24);

        let interrupted = String::from_utf8(encode(&every_kind()[10]).unwrap()).unwrap();
        assert!(
            interrupted.contains(r#""event":"interrupted""#),
            "{interrupted}"
        );

        let flag = serde_json::to_value(ConfirmedHow::ConfirmFlag).unwrap();
        assert_eq!(flag, "--confirm");
    }

    #[test]
    fn a_secret_input_keeps_no_value() {
        let line = String::from_utf8(encode(&started()).unwrap()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["inputs"]["token"]["value"], serde_json::Value::Null);
        assert_eq!(value["inputs"]["token"]["secret"], true);
        assert_eq!(value["inputs"]["zone"]["value"], "example.com");
    }

    #[test]
    fn the_journal_is_private_and_never_overwritten() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        Journal::create(&path, &started()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);

        let error = Journal::create(&path, &started()).unwrap_err();
        assert!(matches!(error, JournalError::Create { .. }), "{error:?}");
        assert_eq!(read(&path).unwrap().events.len(), 1);
    }

    #[test]
    fn a_torn_last_line_is_reported_and_cut_off_on_reopen() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut journal = Journal::create(&path, &events[0]).unwrap();
        journal.append(&events[1]).unwrap();
        drop(journal);

        let torn = br#"{"at":"2026-11-28T05:30:12.345Z","event":"step_fin"#;
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(torn).unwrap();
        drop(file);

        let replay = read(&path).unwrap();
        assert_eq!(unlinked(&replay.events), events[..2]);
        assert_eq!(
            replay.torn,
            Some(TornTail {
                line_number: 3,
                bytes: torn.len()
            })
        );

        let (mut journal, replay) = Journal::open(&path).unwrap();
        assert_eq!(unlinked(&replay.events), events[..2]);
        assert!(replay.torn.is_some(), "open reports it too");
        journal.append(&events[2]).unwrap();
        drop(journal);

        let replay = read(&path).unwrap();
        assert_eq!(replay.torn, None);
        assert_eq!(unlinked(&replay.events), events[..3]);
    }

    #[test]
    fn a_torn_tail_of_zeros_with_a_newline_is_still_the_last_line() {
        // Some filesystems extend the file before the data lands: NULs.
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        Journal::create(&path, &started()).unwrap();
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[0; 40]).unwrap();
        file.write_all(b"\n").unwrap();
        drop(file);

        let replay = read(&path).unwrap();
        assert_eq!(replay.events.len(), 1);
        assert_eq!(
            replay.torn,
            Some(TornTail {
                line_number: 2,
                bytes: 41
            })
        );
        let (_, _) = Journal::open(&path).unwrap();
        assert_eq!(read(&path).unwrap().torn, None);
    }

    #[test]
    fn a_complete_last_event_that_lost_its_newline_is_kept() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut bytes = encode(&events[0]).unwrap();
        bytes.pop();
        std::fs::write(&path, &bytes).unwrap();

        let replay = read(&path).unwrap();
        assert_eq!(unlinked(&replay.events), events[..1]);
        assert_eq!(replay.torn, None);

        let (mut journal, _) = Journal::open(&path).unwrap();
        journal.append(&events[1]).unwrap();
        assert_eq!(unlinked(&read(&path).unwrap().events), events[..2]);
    }

    #[test]
    fn damage_in_the_middle_is_an_error_naming_the_line() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut bytes = encode(&events[0]).unwrap();
        bytes.extend_from_slice(b"{\"at\": garbage\n");
        bytes.extend(encode(&events[1]).unwrap());
        std::fs::write(&path, &bytes).unwrap();

        let error = read(&path).unwrap_err();
        assert!(
            matches!(error, JournalError::Damaged { line: 2, .. }),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("line 2"), "{message}");
        assert!(message.contains("run.jsonl"), "{message}");
        assert!(error.help().is_some());

        // Opening to append must not cut a damaged journal either.
        let before = std::fs::read(&path).unwrap();
        assert!(Journal::open(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn an_unknown_event_is_an_error_even_on_the_last_line() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let mut bytes = encode(&started()).unwrap();
        bytes.extend_from_slice(br#"{"at":"2026-11-28T05:30:12.345Z","event":"teleported"}"#);
        std::fs::write(&path, &bytes).unwrap();

        let error = read(&path).unwrap_err();
        assert!(
            matches!(error, JournalError::UnknownEvent { line: 2, .. }),
            "{error:?}"
        );
        assert!(Journal::open(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing was cut off");
    }

    #[test]
    fn blank_lines_are_ignored() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut bytes = encode(&events[0]).unwrap();
        bytes.extend_from_slice(b"\n");
        bytes.extend(encode(&events[1]).unwrap());
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(unlinked(&read(&path).unwrap().events), events[..2]);
    }

    #[test]
    fn a_failed_write_is_an_error_and_leaves_no_partial_line() {
        // /dev/full fails every write with ENOSPC: the fsync path's failure mode.
        if !Path::new("/dev/full").exists() {
            return;
        }
        let file = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let mut journal = Journal {
            file,
            path: PathBuf::from("/dev/full"),
            len: 0,
            unusable: false,
            head: None,
        };
        let error = journal.append(&started()).unwrap_err();
        assert!(matches!(error, JournalError::Write { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("cannot write to the run journal"),
            "{message}"
        );
        assert!(error.help().unwrap().contains("resume"));
        // Truncating a device fails, so the journal refuses further writes rather
        // than writing after what may be a partial line.
        let again = journal.append(&started()).unwrap_err();
        assert!(matches!(again, JournalError::Unusable { .. }), "{again:?}");
    }

    #[test]
    fn each_append_is_on_disk_when_it_returns() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("run.jsonl");
        let events = every_kind();
        let mut journal = Journal::create(&path, &events[0]).unwrap();
        for (count, event) in events[1..].iter().enumerate() {
            journal.append(event).unwrap();
            // Visible to a separate reader while the journal is still open.
            assert_eq!(read(&path).unwrap().events.len(), count + 2);
        }
    }

    #[test]
    fn reading_a_missing_journal_names_it() {
        let error = read(Path::new("/nonexistent/run.jsonl")).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/run.jsonl"));
    }

    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn events_stream_the_same_lines() {
        let buffer = Shared::default();
        let mut events = Events::to_writer(Box::new(buffer.clone()), "test".to_owned());
        let all = every_kind();
        for event in &all {
            events.emit(event).unwrap();
        }
        let text = String::from_utf8(buffer.0.borrow().clone()).unwrap();
        let expected: Vec<u8> = all.iter().flat_map(|e| encode(e).unwrap()).collect();
        assert_eq!(text.as_bytes(), expected);
    }

    #[test]
    fn a_closed_pipe_ends_the_event_stream_quietly() {
        let mut events = Events::to_writer(Box::new(ClosedPipe), "standard output".to_owned());
        events.emit(&started()).unwrap();
        events.emit(&started()).unwrap();
    }

    #[test]
    fn events_go_to_a_file() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("events.jsonl");
        let event = started();
        let mut events = Events::open(&path).unwrap();
        events.emit(&event).unwrap();
        drop(events);
        assert_eq!(read(&path).unwrap().events, vec![event]);

        let Err(error) = Events::open(&temp.path().join("missing/events.jsonl")) else {
            panic!("a file in a missing directory cannot be created");
        };
        assert!(error.to_string().contains("--events"), "{error}");
    }

    #[test]
    fn sha256_hex_is_the_standard_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
