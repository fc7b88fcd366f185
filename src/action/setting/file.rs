//! `write_file` and `restore_file`: a whole file (a certificate, a kubeconfig)
//! written atomically after the previous one is saved, and put back from that
//! backup. The same atomic replace, backup format and crash rules as a setting:
//! a retry or a resume keeps the backup of the original, never of our own write.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use super::backup::{self, Backup, Previous};
use super::{
    MAX_FILE_BYTES, SettingError, atomic, load_backup, locate, read_at_most, require_parent,
    save_backup, unreadable,
};
use crate::secret::fingerprint;

/// What `write_file` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWritten {
    /// [`fingerprint`] of the previous content, `None` when there was no file.
    pub previous_fingerprint: Option<String>,
    /// [`fingerprint`] of what was written.
    pub fingerprint: String,
}

/// Writes `bytes` to `path` in one atomic replace, after saving the file there
/// (if any) to `backup`. `mode` given is applied; otherwise an existing file
/// keeps its mode and a new one is owner-only (0600): it may hold a secret.
pub fn write_file(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    backup: &Path,
) -> Result<FileWritten, SettingError> {
    let target = locate(path)?;
    let current = current_bytes(path, &target)?;
    if current.is_none() {
        require_parent(path, &target)?;
    }
    let (existing_mode, owner) = match &target.existing {
        Some(metadata) => (
            metadata.mode() & 0o7777,
            Some((metadata.uid(), metadata.gid())),
        ),
        None => (0o600, None),
    };
    let ours = current.as_deref().map(backup::content_hash);
    let previous = match load_backup(path, backup)? {
        Some(earlier) if ours.as_ref() == Some(&earlier.written) => earlier.previous,
        _ => current.as_ref().map(|bytes| Previous {
            mode: existing_mode,
            bytes: bytes.clone(),
        }),
    };
    let previous_fingerprint = previous
        .as_ref()
        .map(|p| fingerprint(&String::from_utf8_lossy(&p.bytes)));
    save_backup(
        path,
        backup,
        &Backup {
            previous,
            written: backup::content_hash(bytes),
        },
    )?;
    let mode = mode.unwrap_or(existing_mode);
    let unchanged = current.as_deref() == Some(bytes) && existing_mode == mode;
    if !unchanged {
        atomic::replace(&target.path, bytes, mode, owner).map_err(|failure| {
            SettingError::Write {
                path: path.to_path_buf(),
                step: failure.step,
                cause: failure.source,
            }
        })?;
    }
    Ok(FileWritten {
        previous_fingerprint,
        fingerprint: fingerprint(&String::from_utf8_lossy(bytes)),
    })
}

/// Puts back the file `write_file` replaced, bytes and mode, from `backup`; a
/// file it created goes. The backup is kept, so a restore can be repeated.
pub fn restore_file(path: &Path, backup: &Path) -> Result<(), SettingError> {
    let saved = load_backup(path, backup)?.ok_or_else(|| SettingError::BackupMissing {
        path: path.to_path_buf(),
        backup: backup.to_path_buf(),
    })?;
    let target = locate(path)?;
    let result = match &saved.previous {
        None if target.existing.is_none() => return Ok(()),
        None => atomic::remove(&target.path),
        Some(previous) => {
            if target.existing.is_none() {
                require_parent(path, &target)?;
            }
            atomic::replace(&target.path, &previous.bytes, previous.mode, None)
        }
    };
    result.map_err(|failure| SettingError::Restore {
        path: path.to_path_buf(),
        backup: backup.to_path_buf(),
        step: failure.step,
        cause: failure.source,
    })
}

/// The bytes `from:` names, within the size a backup can hold.
pub fn read_source(path: &Path) -> Result<Vec<u8>, SettingError> {
    let target = locate(path)?;
    if target.existing.is_none() {
        return Err(SettingError::Unreadable {
            path: path.to_path_buf(),
            cause: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    current_bytes(path, &target)?.ok_or_else(|| SettingError::TooLarge {
        path: path.to_path_buf(),
    })
}

fn current_bytes(path: &Path, target: &super::Target) -> Result<Option<Vec<u8>>, SettingError> {
    let Some(metadata) = &target.existing else {
        return Ok(None);
    };
    let too_large = || SettingError::TooLarge {
        path: path.to_path_buf(),
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    read_at_most(&target.path, MAX_FILE_BYTES)
        .map_err(|cause| unreadable(path, cause))?
        .ok_or_else(too_large)
        .map(Some)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("stat").permissions().mode() & 0o7777
    }

    #[test]
    fn a_file_is_replaced_whole_and_restored_with_its_mode() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let path = tmp.path().join("tls.crt");
        fs::write(&path, "OLD CERT\n").expect("fixture");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let backup = tmp.path().join("state/backups/renew.bak");
        let written = write_file(&path, b"NEW CERT\n", Some(0o640), &backup).expect("write");
        assert_eq!(fs::read(&path).expect("read"), b"NEW CERT\n");
        assert_eq!(mode(&path), 0o640);
        assert_eq!(
            written.previous_fingerprint,
            Some(fingerprint("OLD CERT\n"))
        );
        assert_eq!(mode(&backup), 0o600, "the backup may hold a secret");
        // A retry keeps the original in the backup, not our own write.
        write_file(&path, b"NEWER CERT\n", None, &backup).expect("again");
        restore_file(&path, &backup).expect("restore");
        assert_eq!(fs::read(&path).expect("read"), b"OLD CERT\n");
        assert_eq!(mode(&path), 0o644);
        restore_file(&path, &backup).expect("a restore can be repeated");
    }

    #[test]
    fn a_created_file_is_owner_only_and_removed_by_the_restore() {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let path = tmp.path().join("kubeconfig");
        let backup = tmp.path().join("b");
        write_file(&path, b"token: s3cr3t\n", None, &backup).expect("create");
        assert_eq!(mode(&path), 0o600);
        restore_file(&path, &backup).expect("restore");
        assert!(!path.exists());
        let missing = write_file(&tmp.path().join("no/dir/x"), b"x", None, &backup);
        assert!(
            matches!(missing, Err(SettingError::ParentMissing { .. })),
            "{missing:?}"
        );
    }
}
