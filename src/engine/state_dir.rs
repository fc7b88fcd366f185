//! Where a runbook's state lives (SPEC §4): run journals, the one-run-at-a-time
//! lock and the backups `set_setting` makes.
//!
//! The state sits in `.runbook/` next to the runbook file — so `runbooks/x.yaml`
//! keeps it in `runbooks/.runbook/` whichever directory it is run from — or in
//! `$RUNBOOK_STATE_DIR` when that is set. Each runbook id gets its own directory:
//!
//! ```text
//! <state>/<runbook-id>/
//!     lock
//!     runs/<run-id>.jsonl      (ordered by the `seq` of their first event)
//!     backups/<run-id>/
//! ```

use std::ffi::OsStr;
use std::fs::DirBuilder;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::unistd::{AccessFlags, access};

use crate::engine::journal::{self, Event, EventKind, JournalError, Replay};
use crate::engine::outcome::Outcome;

/// The variable that moves all state elsewhere.
pub const STATE_DIR_ENV: &str = "RUNBOOK_STATE_DIR";

/// The directory next to a runbook file that holds its state by default.
pub const DEFAULT_DIR_NAME: &str = ".runbook";

const JOURNAL_EXTENSION: &str = "jsonl";

#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// The runbook id would not stay one directory inside the state directory.
    #[error("the runbook id `{id}` cannot name a state directory")]
    BadRunbookId { id: String },

    #[error("cannot create the state directory `{}`", path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("the state directory `{}` is not writable", path.display())]
    NotWritable {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },

    #[error("cannot list the run journals in `{}`", path.display())]
    ListRuns {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl StateDirError {
    /// The exit code of a command this stops (see [`JournalError::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            StateDirError::BadRunbookId { .. } => crate::error::EXIT_USAGE,
            StateDirError::Create { .. }
            | StateDirError::NotWritable { .. }
            | StateDirError::ListRuns { .. } => crate::error::EXIT_IO,
            StateDirError::Journal(error) => error.exit_code(),
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            StateDirError::BadRunbookId { .. } => Some(
                "a runbook id is snake- or kebab-case letters and digits; `runbook validate` checks it",
            ),
            StateDirError::Create { .. } | StateDirError::NotWritable { .. } => Some(
                "make that path a writable directory, or set RUNBOOK_STATE_DIR to one where runbook may keep its state",
            ),
            StateDirError::ListRuns { .. } => {
                Some("check the permissions of the state directory, or set RUNBOOK_STATE_DIR")
            }
            StateDirError::Journal(error) => error.help(),
        }
    }
}

/// The state directory of one runbook: `<state>/<runbook-id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    /// `<state>`: `.runbook/` next to the file, or `$RUNBOOK_STATE_DIR`.
    base: PathBuf,
    /// `<state>/<runbook-id>`.
    root: PathBuf,
    /// Whether `base` is the default `.runbook/` (which we may annotate with a
    /// `.gitignore`) rather than a directory the user chose.
    default_location: bool,
}

impl StateDir {
    /// The state directory of the runbook `id` defined in `runbook_file`,
    /// honouring `$RUNBOOK_STATE_DIR`.
    pub fn for_runbook(runbook_file: &Path, id: &str) -> Result<Self, StateDirError> {
        Self::resolve(runbook_file, id, std::env::var_os(STATE_DIR_ENV).as_deref())
    }

    /// [`StateDir::for_runbook`] with the value of `$RUNBOOK_STATE_DIR` passed in,
    /// so that it can be tested without changing the process environment.
    pub fn resolve(
        runbook_file: &Path,
        id: &str,
        env_value: Option<&OsStr>,
    ) -> Result<Self, StateDirError> {
        match env_value.filter(|value| !value.is_empty()) {
            Some(base) => Self::at(PathBuf::from(base), id),
            None => {
                // `x.yaml` has the parent "", which is the current directory.
                let parent = runbook_file
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let mut dir = Self::at(parent.join(DEFAULT_DIR_NAME), id)?;
                dir.default_location = true;
                Ok(dir)
            }
        }
    }

    /// The state directory of the runbook `id` under an explicit `base`.
    pub fn at(base: impl Into<PathBuf>, id: &str) -> Result<Self, StateDirError> {
        // The id comes from the document; refuse anything that would escape `base`
        // or collapse into it, whatever validation did or did not run before.
        if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\\', '\0']) {
            return Err(StateDirError::BadRunbookId { id: id.to_owned() });
        }
        let base = base.into();
        let root = base.join(id);
        Ok(StateDir {
            base,
            root,
            default_location: false,
        })
    }

    /// `<state>`, shared by all runbooks.
    pub fn base(&self) -> &Path {
        &self.base
    }

    /// `<state>/<runbook-id>`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<state>/<runbook-id>/items/<key>`: the state of one item of a
    /// fan-out over this (child) runbook, with journals and a lock of its own.
    #[must_use]
    pub fn item(&self, key: &str) -> StateDir {
        StateDir {
            base: self.base.clone(),
            root: self.root.join("items").join(key),
            default_location: self.default_location,
        }
    }

    /// `<state>/<runbook-id>/lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// `<state>/<runbook-id>/runs`.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// `<state>/<runbook-id>/runs/<run-id>.jsonl`.
    pub fn journal_path(&self, run_id: &str) -> PathBuf {
        self.runs_dir()
            .join(format!("{run_id}.{JOURNAL_EXTENSION}"))
    }

    /// `<state>/<runbook-id>/backups`.
    pub fn backups_root(&self) -> PathBuf {
        self.root.join("backups")
    }

    /// `<state>/<runbook-id>/backups/<run-id>`.
    pub fn backups_dir(&self, run_id: &str) -> PathBuf {
        self.backups_root().join(run_id)
    }

    /// `<state>/<runbook-id>/approvals`: requests for approval and the
    /// decisions on them (`approval::local`), written by other users too.
    pub fn approvals_dir(&self) -> PathBuf {
        self.root.join("approvals")
    }

    /// `<state>/<runbook-id>/secrets/<run-id>.json`: the secrets the run still
    /// needs, kept for `resume` (see `engine::kept`).
    pub fn kept_path(&self, run_id: &str) -> PathBuf {
        self.root.join("secrets").join(format!("{run_id}.json"))
    }

    /// Creates the directories (mode 0700: journals and backups may hold what an
    /// operator typed or a settings file held) and checks that they are writable,
    /// so that a run fails before its first step rather than after a change it
    /// could not record.
    pub fn ensure(&self) -> Result<(), StateDirError> {
        let fresh_default = self.default_location && !self.base.exists();
        // The runbook's directory (and a new `<state>`) may be passed through
        // by the group, never listed: approvers reach `approvals/` that way (see
        // README, Approvals); everything else in it is 0700.
        DirBuilder::new()
            .recursive(true)
            .mode(0o710)
            .create(&self.root)
            .map_err(|source| StateDirError::Create {
                path: self.root.clone(),
                source,
            })?;
        for dir in [self.runs_dir(), self.backups_root()] {
            create_private_dir(&dir)?;
            writable(&dir)?;
        }
        if fresh_default {
            // Backups of settings files land here, inside the user's repository;
            // keep them out of commits. Best effort: state works without it.
            let _ = std::fs::write(self.base.join(".gitignore"), "*\n");
        }
        Ok(())
    }

    /// Creates `backups/<run-id>/` (mode 0700) and returns it.
    pub fn ensure_backups_dir(&self, run_id: &str) -> Result<PathBuf, StateDirError> {
        let dir = self.backups_dir(run_id);
        create_private_dir(&dir)?;
        writable(&dir)?;
        Ok(dir)
    }

    /// The run journals, oldest first, in the one order `resume`, `status` and
    /// `report` share: by each run's `seq` (journals written before it count as
    /// 0), then its start time to the millisecond, then the file name. A journal
    /// whose first event is missing or torn (cut off before it recorded
    /// anything) comes first. No `runs/` yet means no runs.
    pub fn journals(&self) -> Result<Vec<PathBuf>, StateDirError> {
        let runs = self.runs_dir();
        let entries = match std::fs::read_dir(&runs) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateDirError::ListRuns { path: runs, source }),
        };
        let mut journals = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| StateDirError::ListRuns {
                path: runs.clone(),
                source,
            })?;
            let path = entry.path();
            if path.extension() == Some(OsStr::new(JOURNAL_EXTENSION)) && path.is_file() {
                journals.push((RunOrder::of(&path)?, path));
            }
        }
        journals.sort();
        Ok(journals.into_iter().map(|(_, path)| path).collect())
    }

    /// The run `runbook resume` continues: the latest run, when it is not over.
    /// Only the latest — an older unfinished run was superseded by a newer one,
    /// and reviving it would repeat what the newer run did. A journal with no
    /// complete event is passed over: its run was cut off before it recorded
    /// anything, so nothing ran and there is nothing to continue.
    pub fn latest_unfinished(&self) -> Result<Option<PathBuf>, StateDirError> {
        for path in self.journals()?.into_iter().rev() {
            let replay = journal::read(&path)?;
            match replay.events.last() {
                None => {}
                Some(event) => return Ok(is_open(&event.kind).then_some(path)),
            }
        }
        Ok(None)
    }

    /// Every run journal that can be read, oldest first, with what it holds. One
    /// that cannot (damaged, unreadable) is left out: it can never be resumed
    /// (`resume` and `verify` say why), and it must not stop a new run.
    pub fn readable_runs(&self) -> Result<Vec<(PathBuf, Replay)>, StateDirError> {
        Ok(self
            .journals()?
            .into_iter()
            .filter_map(|path| journal::read(&path).ok().map(|replay| (path, replay)))
            .collect())
    }

    /// The `seq` of a new run: one more than the highest so far. Call it under
    /// the lock, so that no other run takes the same.
    pub fn next_seq(&self) -> Result<u64, StateDirError> {
        let highest = match self.journals()?.last() {
            Some(path) => RunOrder::of(path)?.seq,
            None => 0,
        };
        Ok(highest + 1)
    }
}

/// Whether a run whose last event is `last` is not over: `resume` may continue
/// it. A run that ended blocked (a gate not opened, an item deferred) is not
/// over: resuming it later, with the confirmation given or the item done, is how
/// it gets finished. A superseded run is over.
pub fn is_open(last: &EventKind) -> bool {
    match last {
        EventKind::RunFinished { outcome, .. } => *outcome == Outcome::Blocked,
        EventKind::Superseded { .. } => false,
        _ => true,
    }
}

/// Of `runs`, those not over yet, oldest first: what a new run supersedes.
pub fn unfinished(runs: &[(PathBuf, Replay)]) -> Vec<PathBuf> {
    runs.iter()
        .filter(|(_, replay)| {
            replay
                .events
                .last()
                .is_some_and(|event| is_open(&event.kind))
        })
        .map(|(path, _)| path.clone())
        .collect()
}

/// Where a run stands in the order of runs (see [`StateDir::journals`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RunOrder {
    seq: u64,
    started: Option<SystemTime>,
}

impl RunOrder {
    fn of(path: &Path) -> Result<RunOrder, StateDirError> {
        Ok(match journal::first_event(path)? {
            Some(Event {
                at,
                kind: EventKind::RunStarted { seq, .. },
                ..
            }) => RunOrder {
                seq: seq.unwrap_or(0),
                started: humantime::parse_rfc3339(&at).ok(),
            },
            _ => RunOrder {
                seq: 0,
                started: None,
            },
        })
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StateDirError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StateDirError::Create {
            path: dir.to_owned(),
            source,
        })
}

fn writable(dir: &Path) -> Result<(), StateDirError> {
    access(dir, AccessFlags::W_OK | AccessFlags::X_OK).map_err(|source| {
        StateDirError::NotWritable {
            path: dir.to_owned(),
            source,
        }
    })
}

/// A new run id: the UTC start time to the second, then four hex digits, e.g.
/// `20261128T053012Z-3fa1`. The suffix tells apart runs begun in the same second
/// (the journal is created with `create_new`, so even a collision overwrites
/// nothing). Ids name runs; they do not order them: `seq` does (see
/// [`StateDir::journals`]).
pub fn new_run_id() -> String {
    let now = SystemTime::now();
    let stamp: String = humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{stamp}-{:04x}", run_id_suffix(now))
}

fn run_id_suffix(now: SystemTime) -> u64 {
    // No `rand` for four digits: `RandomState` is seeded randomly per process, and
    // the pid, the clock and a counter make ids within one process differ too.
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    now.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default()
        .hash(&mut hasher);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
    hasher.finish() & 0xffff
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::engine::journal::{Event, Journal};
    use crate::engine::outcome::Outcome;

    fn started(run_id: &str) -> Event {
        started_at(run_id, None, &journal::now())
    }

    fn started_at(run_id: &str, seq: Option<u64>, at: &str) -> Event {
        Event {
            at: at.to_owned(),
            prev: None,
            kind: started_kind(run_id, seq),
        }
    }

    fn started_kind(run_id: &str, seq: Option<u64>) -> EventKind {
        EventKind::RunStarted {
            run_id: run_id.to_owned(),
            runbook: "rotate".to_owned(),
            file: "runbooks/rotate.yaml".to_owned(),
            file_hash: journal::sha256_hex(b"steps: []"),
            child_file_hashes: BTreeMap::new(),
            operator: "ops".to_owned(),
            pid: 1,
            inputs: BTreeMap::new(),
            cwd: None,
            seq,
            uid: None,
        }
    }

    fn finished() -> Event {
        Event::now(EventKind::RunFinished {
            outcome: Outcome::Passed,
            exit_code: 0,
        })
    }

    #[test]
    fn the_default_is_next_to_the_runbook_file() {
        let dir = StateDir::resolve(Path::new("runbooks/x.yaml"), "x", None).unwrap();
        assert_eq!(dir.base(), Path::new("runbooks/.runbook"));
        assert_eq!(dir.root(), Path::new("runbooks/.runbook/x"));
        assert_eq!(dir.lock_path(), Path::new("runbooks/.runbook/x/lock"));
        assert_eq!(
            dir.journal_path("20261128T053012Z-3fa1"),
            Path::new("runbooks/.runbook/x/runs/20261128T053012Z-3fa1.jsonl")
        );
        assert_eq!(
            dir.backups_dir("r1"),
            Path::new("runbooks/.runbook/x/backups/r1")
        );

        let bare = StateDir::resolve(Path::new("x.yaml"), "x", None).unwrap();
        assert_eq!(bare.root(), Path::new("./.runbook/x"));

        let absolute = StateDir::resolve(Path::new("/srv/ops/x.yaml"), "x", None).unwrap();
        assert_eq!(absolute.root(), Path::new("/srv/ops/.runbook/x"));
    }

    #[test]
    fn the_environment_variable_moves_the_state() {
        let dir = StateDir::resolve(
            Path::new("runbooks/x.yaml"),
            "x",
            Some(OsStr::new("/var/lib/runbook")),
        )
        .unwrap();
        assert_eq!(dir.root(), Path::new("/var/lib/runbook/x"));

        // Set but empty counts as unset, as with most tools' variables.
        let empty =
            StateDir::resolve(Path::new("runbooks/x.yaml"), "x", Some(OsStr::new(""))).unwrap();
        assert_eq!(empty.root(), Path::new("runbooks/.runbook/x"));
    }

    #[test]
    fn ids_that_would_leave_the_state_directory_are_refused() {
        for id in ["", ".", "..", "a/b", "../x"] {
            let error = StateDir::at("/tmp/state", id).unwrap_err();
            assert!(matches!(error, StateDirError::BadRunbookId { .. }), "{id}");
        }
    }

    #[test]
    fn ensure_creates_private_directories_and_a_gitignore() {
        let temp = tempfile::tempdir().unwrap();
        let file = temp.path().join("runbooks/x.yaml");
        let dir = StateDir::resolve(&file, "x", None).unwrap();
        dir.ensure().unwrap();
        for path in [dir.runs_dir(), dir.backups_root()] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", path.display());
        }
        // Approvers pass through the runbook's directory to `approvals/`; they
        // cannot list it.
        let mode = std::fs::metadata(dir.root()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0o010, "{mode:o}");
        assert_eq!(
            std::fs::read_to_string(temp.path().join("runbooks/.runbook/.gitignore")).unwrap(),
            "*\n"
        );
        // Idempotent.
        dir.ensure().unwrap();
        let backups = dir.ensure_backups_dir("r1").unwrap();
        assert!(backups.is_dir());
    }

    #[test]
    fn a_directory_the_user_chose_gets_no_gitignore() {
        let temp = tempfile::tempdir().unwrap();
        let dir = StateDir::at(temp.path().join("state"), "x").unwrap();
        dir.ensure().unwrap();
        assert!(!temp.path().join("state/.gitignore").exists());
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_a_clear_error() {
        let temp = tempfile::tempdir().unwrap();
        std::fs::write(temp.path().join(".runbook"), "not a directory").unwrap();
        let dir = StateDir::resolve(&temp.path().join("x.yaml"), "x", None).unwrap();
        let error = dir.ensure().unwrap_err();
        assert!(matches!(error, StateDirError::Create { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("cannot create the state directory"),
            "{message}"
        );
        assert!(message.contains(".runbook/x"), "{message}");
        assert!(error.help().unwrap().contains("RUNBOOK_STATE_DIR"));
    }

    #[test]
    fn run_ids_are_sortable_and_distinct() {
        let ids: Vec<String> = (0..50).map(|_| new_run_id()).collect();
        for id in &ids {
            // 20261128T053012Z-3fa1
            assert_eq!(id.len(), 21, "{id}");
            assert_eq!(&id[8..9], "T", "{id}");
            assert_eq!(&id[15..17], "Z-", "{id}");
            assert!(id[..8].chars().all(|c| c.is_ascii_digit()), "{id}");
            assert!(id[17..].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        // Four hex digits make a clash among 50 ids unlikely, not impossible.
        assert!(distinct.len() >= 48, "{ids:?}");
        assert!(ids[0][..16] <= ids[49][..16]);
    }

    #[test]
    fn latest_unfinished_is_only_ever_the_latest_run() {
        let temp = tempfile::tempdir().unwrap();
        let dir = StateDir::at(temp.path(), "x").unwrap();
        assert_eq!(dir.latest_unfinished().unwrap(), None, "no runs/ yet");
        dir.ensure().unwrap();

        let older = dir.journal_path("20260101T000000Z-0001");
        Journal::create(&older, &started("20260101T000000Z-0001")).unwrap();
        assert_eq!(dir.latest_unfinished().unwrap(), Some(older.clone()));

        let finished_run = dir.journal_path("20260102T000000Z-0002");
        let mut journal =
            Journal::create(&finished_run, &started("20260102T000000Z-0002")).unwrap();
        journal.append(&finished()).unwrap();
        // Cut off while writing its first event: nothing ran.
        std::fs::write(dir.journal_path("20260103T000000Z-0003"), b"{\"at\":").unwrap();
        // Not a journal.
        std::fs::write(dir.runs_dir().join("notes.txt"), b"x").unwrap();

        // A newer run passed: the older unfinished one is not revived.
        assert_eq!(dir.latest_unfinished().unwrap(), None);
        assert_eq!(unfinished(&dir.readable_runs().unwrap()), vec![older]);
        // A damaged journal is left out, rather than stopping a new run.
        let damaged = dir.journal_path("20260101T000000Z-0000");
        std::fs::write(&damaged, b"{\"at\": garbage\n{}\n").unwrap();
        assert_eq!(
            dir.readable_runs().unwrap().len(),
            3,
            "older, finished, cut off"
        );

        let newest = dir.journal_path("20260104T000000Z-0004");
        Journal::create(&newest, &started("20260104T000000Z-0004")).unwrap();
        assert_eq!(dir.latest_unfinished().unwrap(), Some(newest));
        assert_eq!(dir.journals().unwrap().len(), 5);
    }

    #[test]
    fn runs_are_ordered_by_seq_then_start_time_never_by_name() {
        let temp = tempfile::tempdir().unwrap();
        let dir = StateDir::at(temp.path(), "x").unwrap();
        dir.ensure().unwrap();
        assert_eq!(dir.next_seq().unwrap(), 1);
        // Same second, names in the reverse of the order the runs began.
        let at = "2026-01-01T00:00:00.000Z";
        let runs = [
            ("20260101T000000Z-ffff", None, "2026-01-01T00:00:00.001Z"),
            ("20260101T000000Z-eeee", None, "2026-01-01T00:00:00.002Z"),
            ("20260101T000000Z-dddd", Some(1), at),
            ("20260101T000000Z-cccc", Some(2), at),
        ];
        for (id, seq, at) in runs {
            Journal::create(&dir.journal_path(id), &started_at(id, seq, at)).unwrap();
        }
        let order: Vec<PathBuf> = runs.iter().map(|(id, ..)| dir.journal_path(id)).collect();
        assert_eq!(dir.journals().unwrap(), order);
        assert_eq!(dir.next_seq().unwrap(), 3);
        assert_eq!(
            dir.latest_unfinished().unwrap().as_ref(),
            order.last(),
            "the latest by seq"
        );
    }

    #[test]
    fn a_superseded_run_is_over() {
        let temp = tempfile::tempdir().unwrap();
        let dir = StateDir::at(temp.path(), "x").unwrap();
        dir.ensure().unwrap();
        let path = dir.journal_path("r1");
        let mut journal = Journal::create(&path, &started("r1")).unwrap();
        journal
            .append(&Event::now(EventKind::Superseded {
                by: "r2".to_owned(),
            }))
            .unwrap();
        assert_eq!(dir.latest_unfinished().unwrap(), None);
        assert!(unfinished(&dir.readable_runs().unwrap()).is_empty());
    }
}
