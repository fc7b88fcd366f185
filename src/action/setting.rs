//! The settings actions (`read_setting`, `set_setting`, `restore_setting`, SPEC §1):
//! keys of a dotenv file, read the way python-dotenv reads them, written in place
//! and atomically with every other byte kept — several keys in one write, so a
//! user and its password are never half-switched — and put back from a backup
//! that survives a crash (SPEC §4).
//!
//! The engine calls these with values it has already rendered. A value may be a
//! secret, so no error here ever contains one.

pub(crate) mod atomic;
mod backup;
mod dotenv;
mod file;

pub use file::{FileWritten, read_source, restore_file, write_file};

use std::fs::{self, DirBuilder, File, Metadata};
use std::io::{self, Read as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use backup::{Backup, Previous};

// A settings file is a few lines; the cap that keeps a huge runbook file out of
// memory keeps a huge settings file out too (and out of its backup).
use crate::document::source::MAX_FILE_BYTES;
use crate::secret::fingerprint;

/// What `set_setting` did, for the journal and for `restore_setting`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// [`fingerprint`] of the value each key had before (in the order given),
    /// `None` for a key that had none.
    pub previous_fingerprints: Vec<Option<String>>,
    /// Where the previous file is kept; [`restore`] takes it.
    pub backup: PathBuf,
}

/// Why a settings action could not do its job. Messages name the file and say what
/// to do; they never include the value being written.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error(
        "`{key}` is not a valid setting key: use ASCII letters, digits and `_`, not starting with a digit, so that shells accept it"
    )]
    InvalidKey { key: String },

    #[error(
        "cannot read the settings file `{}`: {cause}; check the path and that this user may read it",
        path.display()
    )]
    Unreadable { path: PathBuf, cause: io::Error },

    #[error(
        "the settings file `{}` is not UTF-8 text (invalid byte at offset {offset}); convert it to UTF-8 before runbook edits it",
        path.display()
    )]
    NotUtf8 { path: PathBuf, offset: usize },

    #[error(
        "the settings file `{}` is larger than {} MiB, too large for a dotenv file; point `file:` at the dotenv file itself",
        path.display(),
        MAX_FILE_BYTES / 1024 / 1024
    )]
    TooLarge { path: PathBuf },

    #[error(
        "`{}` is a directory, not a settings file; point `file:` at the dotenv file itself",
        path.display()
    )]
    Directory { path: PathBuf },

    #[error(
        "`{}` is not a regular file (a device, socket or FIFO); point `file:` at a dotenv file",
        path.display()
    )]
    NotRegular { path: PathBuf },

    #[error(
        "cannot create the settings file `{}`: its directory `{}` does not exist; create it or fix the `file:` path",
        path.display(),
        dir.display()
    )]
    ParentMissing { path: PathBuf, dir: PathBuf },

    #[error(
        "`{}` cannot be a settings file: part of its directory path is a file, not a directory; fix the `file:` path",
        path.display()
    )]
    ParentNotDirectory { path: PathBuf },

    #[error(
        "`{}` is a loop of symbolic links; point `file:` at the real file or fix the links",
        path.display()
    )]
    SymlinkLoop { path: PathBuf },

    #[error(
        "cannot write `{key}` to `{}`: the value {reason}, so bash and python-dotenv would not both read it back as given; the file is unchanged — use another value or edit the file by hand",
        path.display()
    )]
    Unrepresentable {
        path: PathBuf,
        key: String,
        reason: &'static str,
    },

    #[error(
        "cannot write `{key}` to `{}`: an earlier line (an unterminated quote?) would change how the new line is read; the file is unchanged — fix the file by hand, then retry",
        path.display()
    )]
    WouldCorrupt { path: PathBuf, key: String },

    #[error(
        "cannot write the settings file `{}`: failed to {step}: {cause}; check that its directory is writable and the disk not full, then retry",
        path.display()
    )]
    Write {
        path: PathBuf,
        step: &'static str,
        cause: io::Error,
    },

    #[error(
        "cannot save the backup `{}` of `{}`: failed to {step}: {cause}; the settings file is unchanged — make the backup's directory writable, then retry",
        backup.display(),
        path.display()
    )]
    Backup {
        path: PathBuf,
        backup: PathBuf,
        step: &'static str,
        cause: io::Error,
    },

    #[error(
        "cannot read the backup `{}` of `{}`: {cause}; check that this user may read it",
        backup.display(),
        path.display()
    )]
    BackupUnreadable {
        path: PathBuf,
        backup: PathBuf,
        cause: io::Error,
    },

    #[error(
        "cannot restore `{}`: its backup `{}` does not exist (the set_setting step never saved it, or it was deleted); put the previous value back by hand",
        path.display(),
        backup.display()
    )]
    BackupMissing { path: PathBuf, backup: PathBuf },

    #[error(
        "`{}` is not a usable backup of `{}`: {reason}; move it away (runbook never overwrites it) or restore the file by hand",
        backup.display(),
        path.display()
    )]
    BackupCorrupt {
        path: PathBuf,
        backup: PathBuf,
        reason: &'static str,
    },

    #[error(
        "cannot restore `{}` from `{}`: failed to {step}: {cause}; the backup is kept — fix the cause and run the rollback again",
        path.display(),
        backup.display()
    )]
    Restore {
        path: PathBuf,
        backup: PathBuf,
        step: &'static str,
        cause: io::Error,
    },
}

/// The value of `key` in the dotenv file at `path`; `None` when the file or the key
/// is absent (or the key has no `=`). With several occurrences the last one wins, as
/// for python-dotenv and bash.
pub fn read(path: &Path, key: &str) -> Result<Option<String>, SettingError> {
    check_key(key)?;
    let target = locate(path)?;
    Ok(read_text(path, &target)?.and_then(|text| dotenv::get(&text, key)))
}

/// Sets each key to its value in the dotenv file at `path` (on every line that
/// sets it), all in one atomic write, creating the file (mode 0600) if needed,
/// after saving the previous file to `backup`.
///
/// `backup` should be unique to the run and step. If it already holds the backup of
/// an earlier attempt whose write landed (a retry, or a resume after a crash between
/// the write and the journal), that backup is kept: it is the only copy of the
/// original. A file at `backup` that is not a settings backup is never overwritten.
pub fn write(path: &Path, values: &[(&str, &str)], backup: &Path) -> Result<Written, SettingError> {
    for (key, _) in values {
        check_key(key)?;
    }
    let target = locate(path)?;
    let current = read_text(path, &target)?;
    if current.is_none() {
        require_parent(path, &target)?;
    }
    // One key after the other, each edit checked against the text before it;
    // only the last text is written.
    let mut edited = current.clone().unwrap_or_default();
    for (key, value) in values {
        let encoded = dotenv::encode(value).map_err(|reason| SettingError::Unrepresentable {
            path: path.to_path_buf(),
            key: (*key).to_owned(),
            reason,
        })?;
        let next = dotenv::set(&edited, key, &encoded);
        if !dotenv::edit_is_faithful(&edited, &next, key, value) {
            return Err(SettingError::WouldCorrupt {
                path: path.to_path_buf(),
                key: (*key).to_owned(),
            });
        }
        edited = next;
    }

    let (mode, owner) = match &target.existing {
        Some(metadata) => (
            metadata.mode() & 0o7777,
            Some((metadata.uid(), metadata.gid())),
        ),
        None => (0o600, None),
    };
    let ours = current
        .as_deref()
        .map(|text| backup::content_hash(text.as_bytes()));
    let previous = match load_backup(path, backup)? {
        Some(earlier) if ours.as_ref() == Some(&earlier.written) => earlier.previous,
        _ => current.as_ref().map(|text| Previous {
            mode,
            bytes: text.clone().into_bytes(),
        }),
    };
    let previous_text = match &previous {
        Some(previous) => Some(
            std::str::from_utf8(&previous.bytes)
                .map_err(|_| corrupt(path, backup, "the file it keeps is not UTF-8"))?,
        ),
        None => None,
    };
    let previous_fingerprints = values
        .iter()
        .map(|(key, _)| {
            previous_text
                .and_then(|text| dotenv::get(text, key))
                .as_deref()
                .map(fingerprint)
        })
        .collect();
    let written = backup::content_hash(edited.as_bytes());
    save_backup(path, backup, &Backup { previous, written })?;

    if current.as_deref() != Some(edited.as_str()) {
        atomic::replace(&target.path, edited.as_bytes(), mode, owner).map_err(|failure| {
            SettingError::Write {
                path: path.to_path_buf(),
                step: failure.step,
                cause: failure.source,
            }
        })?;
    }
    Ok(Written {
        previous_fingerprints,
        backup: backup.to_path_buf(),
    })
}

/// Puts back what `write` replaced of `keys`, from the file it saved to
/// `backup`, in one atomic write: each key's previous value, or no such line if
/// it had none. Every other line keeps what it holds now — a rollback of two
/// settings of one file, in any order, puts back both. A file the write
/// created, left with nothing else in it, goes. The backup is kept, so a
/// restore can be repeated.
pub fn restore(path: &Path, keys: &[&str], backup: &Path) -> Result<(), SettingError> {
    for key in keys {
        check_key(key)?;
    }
    let saved = load_backup(path, backup)?.ok_or_else(|| SettingError::BackupMissing {
        path: path.to_path_buf(),
        backup: backup.to_path_buf(),
    })?;
    let previous_text = match &saved.previous {
        Some(previous) => Some(
            std::str::from_utf8(&previous.bytes)
                .map_err(|_| corrupt(path, backup, "the file it keeps is not UTF-8"))?,
        ),
        None => None,
    };
    let target = locate(path)?;
    let current = read_text(path, &target)?;
    let mut restored = current.clone().unwrap_or_default();
    for key in keys {
        restored = match previous_text.and_then(|text| dotenv::get(text, key)) {
            Some(value) => {
                let encoded =
                    dotenv::encode(&value).map_err(|reason| SettingError::Unrepresentable {
                        path: path.to_path_buf(),
                        key: (*key).to_owned(),
                        reason,
                    })?;
                dotenv::set(&restored, key, &encoded)
            }
            None => dotenv::unset(&restored, key),
        };
    }
    if current.as_deref() == Some(restored.as_str()) {
        return Ok(());
    }
    let result = if saved.previous.is_none() && restored.trim().is_empty() {
        atomic::remove(&target.path)
    } else {
        if target.existing.is_none() {
            require_parent(path, &target)?;
        }
        let (mode, owner) = match (&target.existing, &saved.previous) {
            (Some(metadata), _) => (
                metadata.mode() & 0o7777,
                Some((metadata.uid(), metadata.gid())),
            ),
            (None, Some(previous)) => (previous.mode, None),
            (None, None) => (0o600, None),
        };
        atomic::replace(&target.path, restored.as_bytes(), mode, owner)
    };
    result.map_err(|failure| SettingError::Restore {
        path: path.to_path_buf(),
        backup: backup.to_path_buf(),
        step: failure.step,
        cause: failure.source,
    })
}

/// Keys are shell variable names: anything else bash would refuse to `source`.
fn check_key(key: &str) -> Result<(), SettingError> {
    let mut chars = key.chars();
    let valid = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(SettingError::InvalidKey {
            key: key.to_owned(),
        })
    }
}

/// Removes what a crash in the middle of writing `path` left beside it: the
/// temporary files holding the new content (maybe a secret) of writers no longer
/// running. Best effort, like the removal every write does first.
pub fn remove_leftovers(path: &Path) {
    if let Ok(Some(target)) = atomic::resolve(path) {
        atomic::remove_leftovers(&target);
    }
}

/// The same for every file in `dir` (a directory of backups).
pub fn remove_leftovers_in(dir: &Path) {
    atomic::remove_all_leftovers(dir);
}

/// The file a settings path designates, links followed.
struct Target {
    path: PathBuf,
    /// `None` when no file is there yet.
    existing: Option<Metadata>,
}

fn locate(path: &Path) -> Result<Target, SettingError> {
    let resolved = match atomic::resolve(path) {
        Ok(Some(resolved)) => resolved,
        Ok(None) => {
            return Err(SettingError::SymlinkLoop {
                path: path.to_path_buf(),
            });
        }
        Err(cause) => return Err(unreadable(path, cause)),
    };
    match fs::metadata(&resolved) {
        Ok(metadata) if metadata.is_dir() => Err(SettingError::Directory {
            path: path.to_path_buf(),
        }),
        Ok(metadata) if !metadata.is_file() => Err(SettingError::NotRegular {
            path: path.to_path_buf(),
        }),
        Ok(metadata) => Ok(Target {
            path: resolved,
            existing: Some(metadata),
        }),
        Err(cause) if cause.kind() == io::ErrorKind::NotFound => Ok(Target {
            path: resolved,
            existing: None,
        }),
        Err(cause) => Err(unreadable(path, cause)),
    }
}

fn unreadable(path: &Path, cause: io::Error) -> SettingError {
    if cause.kind() == io::ErrorKind::NotADirectory {
        SettingError::ParentNotDirectory {
            path: path.to_path_buf(),
        }
    } else {
        SettingError::Unreadable {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// A file that does not exist yet can only be created in a directory that does.
fn require_parent(path: &Path, target: &Target) -> Result<(), SettingError> {
    let dir = atomic::parent(&target.path);
    match fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(SettingError::ParentNotDirectory {
            path: path.to_path_buf(),
        }),
        Err(cause) if cause.kind() == io::ErrorKind::NotFound => Err(SettingError::ParentMissing {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        }),
        Err(cause) => Err(unreadable(path, cause)),
    }
}

fn read_text(path: &Path, target: &Target) -> Result<Option<String>, SettingError> {
    let Some(metadata) = &target.existing else {
        return Ok(None);
    };
    let too_large = || SettingError::TooLarge {
        path: path.to_path_buf(),
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    // It may have grown since the `stat`.
    let bytes = read_at_most(&target.path, MAX_FILE_BYTES)
        .map_err(|cause| unreadable(path, cause))?
        .ok_or_else(too_large)?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|error| SettingError::NotUtf8 {
            path: path.to_path_buf(),
            offset: error.utf8_error().valid_up_to(),
        })
}

fn corrupt(path: &Path, backup: &Path, reason: &'static str) -> SettingError {
    SettingError::BackupCorrupt {
        path: path.to_path_buf(),
        backup: backup.to_path_buf(),
        reason,
    }
}

/// The bytes of `file`, or `None` when it holds more than `limit`: at most one byte
/// past the limit is read, however large the file.
fn read_at_most(file: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    File::open(file)?.take(limit + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

fn load_backup(path: &Path, backup: &Path) -> Result<Option<Backup>, SettingError> {
    match read_at_most(backup, backup::MAX_BYTES) {
        Ok(Some(bytes)) => Backup::from_bytes(&bytes)
            .map(Some)
            .map_err(|reason| corrupt(path, backup, reason)),
        Ok(None) => Err(corrupt(
            path,
            backup,
            "it is larger than any backup runbook writes",
        )),
        // No backup can exist under a file: writing one will then say why it can't.
        Err(cause)
            if matches!(
                cause.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(cause) => Err(SettingError::BackupUnreadable {
            path: path.to_path_buf(),
            backup: backup.to_path_buf(),
            cause,
        }),
    }
}

/// The backup holds the previous value, maybe a secret: owner-only, like its
/// directory, and replaced atomically so a crash leaves the old backup or the new.
fn save_backup(path: &Path, backup: &Path, saved: &Backup) -> Result<(), SettingError> {
    let failed = |step: &'static str| {
        move |cause: io::Error| SettingError::Backup {
            path: path.to_path_buf(),
            backup: backup.to_path_buf(),
            step,
            cause,
        }
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(atomic::parent(backup))
        .map_err(failed("create the backup's directory"))?;
    atomic::replace(backup, &saved.to_bytes(), 0o600, None)
        .map_err(|failure| failed(failure.step)(failure.source))
}

#[cfg(test)]
mod roundtrip_tests;
#[cfg(test)]
mod tests;
