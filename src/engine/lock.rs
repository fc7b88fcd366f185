//! One run of a runbook at a time (SPEC §4): an OS file lock on the runbook
//! file itself, and one on `<state>/<runbook-id>/lock`.
//!
//! The lock that makes the promise is the one on the runbook file, reached
//! through every symlink: it belongs to the file, so no path, symlink, hard link
//! or `RUNBOOK_STATE_DIR` gets a second run past it — a lock in the state
//! directory alone was one per state directory, and the same runbook ran three
//! times at once. It needs only read access, so a read-only checkout is locked
//! as well. The state directory's lock file describes the holder, so that a
//! second run can say who is in the way; when the holder uses another state
//! directory, the kernel's table of locks (`/proc/locks`) names its process.
//!
//! Both locks are the kernel's (`File::try_lock`, `flock(2)` on Linux), so they
//! are released whenever their process ends, even by `kill -9`: a lock file left
//! behind is never mistaken for a run in progress.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub run_id: String,
    pub pid: u32,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// The command line, e.g. `runbook run runbooks/rotate.yaml`.
    pub command: String,
}

impl Holder {
    /// This process, starting run `run_id` now.
    pub fn this_process(run_id: impl Into<String>, command: impl Into<String>) -> Self {
        Holder {
            run_id: run_id.into(),
            pid: std::process::id(),
            started_at: crate::engine::journal::now(),
            command: command.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot open the lock file `{}`", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot lock `{}`", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot record this run in the lock file `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Another process holds the lock. `holder` is `None` when its description
    /// could not be read (it is written just after the lock is taken).
    #[error("{}", held_message(path, holder.as_ref()))]
    Held {
        path: PathBuf,
        holder: Option<Holder>,
    },

    /// Another process holds the runbook file's lock, starting from another
    /// path or state directory: the kernel names its process, if it can.
    #[error("{}", held_elsewhere_message(path, process.as_ref()))]
    HeldElsewhere {
        path: PathBuf,
        /// The holder's pid and command line.
        process: Option<(u32, String)>,
    },
}

impl LockError {
    /// The exit code of a command this stops: the lock file cannot be used
    /// ([`EXIT_IO`](crate::error::EXIT_IO)), or another run holds it.
    pub fn exit_code(&self) -> i32 {
        match self {
            LockError::Open { .. } | LockError::Lock { .. } | LockError::Write { .. } => {
                crate::error::EXIT_IO
            }
            LockError::Held { .. } | LockError::HeldElsewhere { .. } => crate::error::EXIT_USAGE,
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            LockError::Open { .. } | LockError::Lock { .. } | LockError::Write { .. } => {
                Some("check the permissions of the state directory, or set RUNBOOK_STATE_DIR")
            }
            LockError::Held { .. } | LockError::HeldElsewhere { .. } => Some(
                "once that run has stopped, `runbook resume FILE` continues it (with the state directory it uses)",
            ),
        }
    }
}

/// Held has no underlying cause to chain, so its message carries the advice too.
fn held_message(path: &Path, holder: Option<&Holder>) -> String {
    let (who, stop) = match holder {
        Some(holder) => (
            format!(
                "run {} (pid {}, started {}, `{}`)",
                holder.run_id, holder.pid, holder.started_at, holder.command
            ),
            format!("stop it (`kill {}`)", holder.pid),
        ),
        None => ("another process".to_owned(), "stop it".to_owned()),
    };
    format!(
        "another run of this runbook is in progress: {who} holds the lock `{}`; wait for it to \
         finish, or {stop} if it is stuck — the lock is released the moment that process exits, \
         so if it is gone, simply try again",
        path.display()
    )
}

fn held_elsewhere_message(path: &Path, process: Option<&(u32, String)>) -> String {
    let (who, stop) = match process {
        Some((pid, command)) => (
            format!("process {pid} (`{command}`)"),
            format!("stop it (`kill {pid}`)"),
        ),
        None => ("another process".to_owned(), "stop it".to_owned()),
    };
    format!(
        "another run of this runbook is in progress: {who} holds the runbook file `{}` \
         (it may have reached it through another path or RUNBOOK_STATE_DIR); wait for it to \
         finish, or {stop} if it is stuck — the lock is released the moment that process \
         exits, so if it is gone, simply try again",
        path.display()
    )
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct Lock {
    file: File,
    path: PathBuf,
    /// The runbook file, locked (see the module doc).
    _runbook: Option<File>,
}

impl Lock {
    /// Takes the lock of the runbook in `runbook_file` — the file's own, then the
    /// state directory's at `path` for `holder` — without waiting.
    pub fn acquire_runbook(
        runbook_file: &Path,
        path: &Path,
        holder: &Holder,
    ) -> Result<Lock, LockError> {
        let canonical = runbook_file
            .canonicalize()
            .map_err(|source| LockError::Open {
                path: runbook_file.to_owned(),
                source,
            })?;
        let runbook = File::open(&canonical).map_err(|source| LockError::Open {
            path: canonical.clone(),
            source,
        })?;
        match runbook.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // A holder in the same state directory describes itself there;
                // a description nobody holds locked is an old run's.
                if let Ok(mut file) = File::open(path)
                    && matches!(file.try_lock(), Err(TryLockError::WouldBlock))
                    && let Some(holder) = read_holder(&mut file)
                {
                    return Err(LockError::Held {
                        path: path.to_owned(),
                        holder: Some(holder),
                    });
                }
                return Err(LockError::HeldElsewhere {
                    process: flock_holder(&runbook),
                    path: canonical,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: canonical,
                    source,
                });
            }
        }
        Lock::take(path, holder, Some(runbook))
    }

    /// Takes the lock at `path` for `holder`, without waiting: a run that is in
    /// the way is reported at once as [`LockError::Held`], naming it.
    pub fn acquire(path: &Path, holder: &Holder) -> Result<Lock, LockError> {
        Lock::take(path, holder, None)
    }

    /// [`Lock::acquire`], keeping the locked runbook file (if any) with it.
    fn take(path: &Path, holder: &Holder, runbook: Option<File>) -> Result<Lock, LockError> {
        // Not truncated on open: until we hold the lock, the text is the
        // holder's. Std opens it close-on-exec, so commands the run spawns do
        // not inherit it and cannot keep it locked after we are gone.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|source| LockError::Open {
                path: path.to_owned(),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::Held {
                    path: path.to_owned(),
                    holder: read_holder(&mut file),
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: path.to_owned(),
                    source,
                });
            }
        }
        let text = serde_json::to_string(holder).map_err(|source| LockError::Write {
            path: path.to_owned(),
            source: source.into(),
        })?;
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(text.as_bytes()))
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_data())
            .map_err(|source| LockError::Write {
                path: path.to_owned(),
                source,
            })?;
        Ok(Lock {
            file,
            path: path.to_owned(),
            _runbook: runbook,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Closing the file would release the lock anyway; unlocking first makes
        // it explicit and immediate. Nothing to do if it fails: the close that
        // follows releases it regardless.
        let _ = self.file.unlock();
    }
}

/// The process holding an `flock` on `file`, from the kernel's table of locks
/// (`/proc/locks`: `1: FLOCK ADVISORY WRITE PID MAJOR:MINOR:INODE 0 EOF`, the
/// device in hex), with its command line.
fn flock_holder(file: &File) -> Option<(u32, String)> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let wanted = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let table = std::fs::read_to_string("/proc/locks").ok()?;
    let pid: u32 = table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == "FLOCK")?;
        (fields.get(at + 4) == Some(&wanted.as_str()))
            .then(|| fields.get(at + 3)?.parse().ok())
            .flatten()
    })?;
    let command = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let command = String::from_utf8_lossy(&command)
        .split('\0')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Some((pid, command))
}

/// The holder described in the lock file, if it can be read. Half-written or
/// empty text (a holder between locking and writing) is simply unknown.
fn read_holder(file: &mut File) -> Option<Holder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    fn holder(run_id: &str) -> Holder {
        Holder {
            run_id: run_id.to_owned(),
            pid: 4242,
            started_at: "2026-11-28T05:30:12.345Z".to_owned(),
            command: "runbook run runbooks/rotate.yaml".to_owned(),
        }
    }

    #[test]
    fn a_second_acquire_is_refused_naming_the_holder() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("lock");
        let first = Lock::acquire(&path, &holder("20261128T053012Z-3fa1")).unwrap();

        // A separate open file description conflicts even within one process.
        let error = Lock::acquire(&path, &holder("20261128T060000Z-0000")).unwrap_err();
        match &error {
            LockError::Held { holder: found, .. } => {
                assert_eq!(found.as_ref(), Some(&holder("20261128T053012Z-3fa1")));
            }
            other => panic!("expected Held, got {other:?}"),
        }
        let message = error.to_string();
        assert!(message.contains("run 20261128T053012Z-3fa1"), "{message}");
        assert!(message.contains("pid 4242"), "{message}");
        assert!(message.contains("2026-11-28T05:30:12.345Z"), "{message}");
        assert!(
            message.contains("runbook run runbooks/rotate.yaml"),
            "{message}"
        );
        assert!(message.contains("wait for it to finish"), "{message}");
        assert!(message.contains("kill 4242"), "{message}");
        assert!(message.contains("if it is gone"), "{message}");
        assert!(error.help().unwrap().contains("runbook resume"));

        // The refused attempt must not have wiped the holder's description.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("20261128T053012Z-3fa1"), "{text}");

        drop(first);
        let again = Lock::acquire(&path, &holder("20261128T060000Z-0000")).unwrap();
        assert_eq!(again.path(), path);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            serde_json::from_str::<Holder>(text.trim()).unwrap(),
            holder("20261128T060000Z-0000")
        );
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_free() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("lock");
        // What a `kill -9`ed run leaves: the text, but no lock.
        let stale = serde_json::to_string(&holder("20261128T053012Z-dead")).unwrap();
        std::fs::write(&path, format!("{stale}\n")).unwrap();

        let lock = Lock::acquire(&path, &holder("20261128T060000Z-0001")).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert!(text.contains("20261128T060000Z-0001"), "{text}");
        assert!(!text.contains("dead"), "{text}");
    }

    #[test]
    fn an_unreadable_description_still_reports_the_lock_as_held() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("lock");
        let _first = Lock::acquire(&path, &holder("r1")).unwrap();
        std::fs::write(&path, "{\"run_id\":").unwrap();
        let error = Lock::acquire(&path, &holder("r2")).unwrap_err();
        assert!(
            matches!(error, LockError::Held { holder: None, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("another process holds the lock"));
    }

    #[test]
    fn a_missing_directory_is_an_open_error() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("missing/lock");
        let error = Lock::acquire(&path, &holder("r1")).unwrap_err();
        assert!(matches!(error, LockError::Open { .. }), "{error:?}");
        assert!(error.to_string().contains("missing/lock"));
    }

    #[test]
    fn a_lock_held_by_another_process_is_refused_until_it_exits() {
        // `flock(1)` takes the same kind of lock `File::try_lock` does (flock(2)).
        if Command::new("flock").arg("--version").output().is_err() {
            eprintln!("skipped: no flock(1) on this machine");
            return;
        }
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("lock");
        let described = serde_json::to_string(&holder("20261128T053012Z-0ther")).unwrap();
        std::fs::write(&path, described).unwrap();

        // One process, so that killing it frees the lock: the shell opens the
        // file, flock(1) locks that open file, and `sleep` inherits it.
        let mut child = Command::new("sh")
            .args([
                "-c",
                r#"exec 9>>"$1" && flock --exclusive 9 && echo locked && exec sleep 30"#,
                "sh",
            ])
            .arg(&path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "locked\n");

        let error = Lock::acquire(&path, &holder("mine")).unwrap_err();
        let result = match &error {
            LockError::Held {
                holder: Some(found),
                ..
            } => Ok(found.run_id.clone()),
            other => Err(format!("{other:?}")),
        };

        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(result, Ok("20261128T053012Z-0ther".to_owned()));

        // The kernel released it with the process.
        Lock::acquire(&path, &holder("mine")).unwrap();
    }
}
