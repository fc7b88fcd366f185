//! Replacing a file so that every reader, and every crash, sees either the old
//! content or the new one: write a temporary file in the same directory, fsync it,
//! rename it over the target, fsync the directory so the rename itself is durable.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Which step of a replacement failed, and the system's reason.
#[derive(Debug)]
pub struct Failure {
    pub step: &'static str,
    pub source: io::Error,
}

fn failed(step: &'static str) -> impl FnOnce(io::Error) -> Failure {
    move |source| Failure { step, source }
}

/// Symbolic links allowed on the way to a file, as Linux's own `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;

/// The file `path` designates once symbolic links are followed, existing or not: a
/// settings file is often a link into a shared directory, and replacing the link
/// with a regular file would silently fork the configuration. `None` when the links
/// loop.
pub fn resolve(path: &Path) -> io::Result<Option<PathBuf>> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&current) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(Some(current)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Some(current)),
            Err(error) => return Err(error),
        }
    }
    Ok(None)
}

/// The directory holding `path` (`.` for a bare file name).
pub fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Replaces `target` (already resolved, not a link) with `bytes`, giving it `mode`
/// and, when known and permitted, the `owner` (uid, gid) the old file had.
pub fn replace(
    target: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<(), Failure> {
    let dir = parent(target);
    let (temp_path, mut temp) =
        create_temp(dir, target).map_err(failed("create a temporary file"))?;
    let result = (|| {
        temp.write_all(bytes)
            .map_err(failed("write the temporary file"))?;
        // fchmod, not the creation mode: that one is cut by the umask.
        temp.set_permissions(Permissions::from_mode(mode))
            .map_err(failed("set the file mode"))?;
        if let Some((uid, gid)) = owner {
            // Keeping the owner needs privileges we may not have; the content and
            // mode matter more than failing the whole write over it.
            let _ = std::os::unix::fs::fchown(&temp, Some(uid), Some(gid));
        }
        temp.sync_all()
            .map_err(failed("fsync the temporary file"))?;
        fs::rename(&temp_path, target).map_err(failed("rename the temporary file over the target"))
    })();
    if result.is_err() {
        // Best effort: a leftover temporary file is harmless but may hold a secret.
        let _ = fs::remove_file(&temp_path);
    }
    result?;
    sync_dir(dir)
}

/// Removes `target` if it exists, durably.
pub fn remove(target: &Path) -> Result<(), Failure> {
    match fs::remove_file(target) {
        Ok(()) => sync_dir(parent(target)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Failure {
            step: "remove the file",
            source,
        }),
    }
}

fn sync_dir(dir: &Path) -> Result<(), Failure> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(failed("fsync the directory"))
}

/// A new, empty, owner-only file next to `target`, named after it so a leftover
/// from a crash says where it came from.
fn create_temp(dir: &Path, target: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map_or_else(|| "setting".into(), |name| name.to_string_lossy());
    let mut attempts = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{name}.runbook-{}-{n}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            // Only a leftover of a crashed process with our pid can collide.
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                attempts += 1;
            }
            Err(error) => return Err(error),
        }
    }
}
