//! Replacing a file so that every reader, and every crash, sees either the old
//! content or the new one: write a temporary file in the same directory, fsync it,
//! rename it over the target, fsync the directory so the rename itself is durable.
//!
//! A crash between creating the temporary file and the rename leaves it behind,
//! holding the new content — maybe a secret. Its name carries the writer's pid, so
//! the next replacement of the same file removes the leftovers of writers that are
//! no longer running.

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
    let name = temp_prefix(target);
    remove_stale_temps(dir, &name);
    let (temp_path, mut temp) =
        create_temp(dir, &name).map_err(failed("create a temporary file"))?;
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

/// `.NAME.runbook-`: how the temporary files replacing `target` start, named after
/// it so a leftover from a crash says where it came from. The pid and a counter
/// follow, then `.tmp`.
fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map_or_else(|| "setting".into(), |name| name.to_string_lossy());
    format!(".{name}.runbook-")
}

/// A new, empty, owner-only file in `dir`, its name starting with `prefix`.
fn create_temp(dir: &Path, prefix: &str) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut attempts = 0;
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{prefix}{}-{n}.tmp", std::process::id()));
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

/// Removes what crashed replacements of `target` (resolved, not a link) left
/// beside it: the temporary files of writers no longer running.
pub fn remove_leftovers(target: &Path) {
    remove_stale_temps(parent(target), &temp_prefix(target));
}

/// Removes every leftover in `dir`, whatever file it was replacing (a directory
/// of backups), of writers no longer running.
pub fn remove_all_leftovers(dir: &Path) {
    remove_stale_temps(dir, ".");
}

/// Removes the temporary files in `dir` named with `prefix` whose writer is no longer
/// running. Best effort: a leftover that cannot be listed or removed does not stop
/// the write. A live writer's file (another `runbook` in the middle of its own write,
/// or a thread of this one) is left alone.
fn remove_stale_temps(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let writer = name
            .to_str()
            .filter(|name| name.starts_with(prefix))
            .and_then(writer_pid);
        if writer.is_some_and(|pid| pid > 0 && !is_running(pid)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The pid in a temporary file's name, `.NAME.runbook-PID-N.tmp`.
fn writer_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tail) = rest.rsplit_once(".runbook-")?;
    let (pid, n) = tail.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process `pid` exists (signal 0 checks without sending anything). One we
/// may not signal exists too.
fn is_running(pid: i32) -> bool {
    if u32::try_from(pid).is_ok_and(|pid| pid == std::process::id()) {
        return true;
    }
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_files_name_gives_its_writers_pid() {
        assert_eq!(writer_pid(".app.env.runbook-4242-7.tmp"), Some(4242));
        assert_eq!(writer_pid(".a.runbook-b.runbook-12-0.tmp"), Some(12));
        for other in [
            "app.env",
            ".app.env.runbook-4242-.tmp",
            ".app.env.runbook-4242-x.tmp",
            "app.env.runbook-4242-1.tmp",
            ".app.env.runbook-4242-1",
        ] {
            assert_eq!(writer_pid(other), None, "{other}");
        }
    }

    #[test]
    fn every_dead_writers_leftover_in_a_directory_goes() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let gone = [
            dir.path().join(format!(".save.bak.runbook-{dead}-0.tmp")),
            dir.path().join(format!(".other.bak.runbook-{dead}-3.tmp")),
        ];
        let kept = [
            dir.path()
                .join(format!(".save.bak.runbook-{}-0.tmp", std::process::id())),
            dir.path().join("save.bak"),
        ];
        for path in gone.iter().chain(&kept) {
            fs::write(path, "old-secret").unwrap();
        }
        remove_all_leftovers(dir.path());
        assert!(gone.iter().all(|p| !p.exists()));
        assert!(kept.iter().all(|p| p.exists()));
    }
}
