//! The approval store in the state directory, for one machine shared by its
//! operators (a shared ops host):
//!
//! ```text
//! <state>/<runbook-id>/approvals/<run-id>/<step>/
//!     request.json              written by the run (its owner is the operator)
//!     decided-by-<uid>.json     one per approver, written by `runbook approve`
//! ```
//!
//! Who asked and who decided is the uid that **owns** each file, as the kernel
//! set it when the file was created — not a name written inside, which anyone
//! who can write the directory could write. A file that others could rewrite
//! (group- or world-writable), a symbolic link, a file with more than one link or
//! one whose name says another uid than its owner is not vouched for. Only root
//! can forge an owner; the `PostgreSQL` store is for separation that root on one
//! machine cannot break.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::unistd::{Uid, User, geteuid};

use super::store::{
    ApprovalError, ApprovalStore, Binding, Decision, Decisions, NewRequest, Request, Verdict,
};
use super::tally::decider;

const REQUEST_FILE: &str = "request.json";
const DECISION_PREFIX: &str = "decided-by-";
const DECISION_SUFFIX: &str = ".json";

/// The approvals of one runbook: `<state>/<runbook-id>/approvals/`.
#[derive(Debug, Clone)]
pub struct LocalStore {
    dir: PathBuf,
}

/// A decision as written in its file: no approver (the file's owner is).
#[derive(serde::Serialize, serde::Deserialize)]
struct DecisionFile {
    binding: Binding,
    #[serde(flatten)]
    verdict: Verdict,
    decided_at: String,
}

impl LocalStore {
    /// The store in `dir` (`<state>/<runbook-id>/approvals`); nothing is
    /// created until a request is recorded.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalStore { dir: dir.into() }
    }

    fn step_dir(&self, run_id: &str, step: &str) -> Result<PathBuf, ApprovalError> {
        if step.is_empty()
            || run_id.is_empty()
            || run_id.starts_with('.')
            || run_id.contains(['/', '\\', '\0'])
        {
            return Err(ApprovalError::NoRequest {
                step: step.to_owned(),
                run: Some(run_id.to_owned()),
            });
        }
        Ok(self.dir.join(run_id).join(dir_name(step)))
    }
}

/// The directory of the approval named `step`: the name itself when it is a
/// plain qualified id (`revoke`, `kid.revoke`); a fan-out item's name
/// (`kid["a/b"].revoke`) with every other byte as `%XX`, so no item makes a
/// path of it; a digest of the name when that is too long for a file name.
/// `request.json` inside holds the name as it is.
fn dir_name(step: &str) -> String {
    const LONGEST: usize = 200;
    let mut name = String::with_capacity(step.len());
    for (at, byte) in step.bytes().enumerate() {
        let plain =
            byte.is_ascii_alphanumeric() || b"_-".contains(&byte) || (byte == b'.' && at > 0);
        if plain {
            name.push(char::from(byte));
        } else {
            name.push_str(&format!("%{byte:02X}"));
        }
    }
    if name.len() > LONGEST {
        format!("sha256-{}", crate::eval::load::sha256_hex(step.as_bytes()))
    } else {
        name
    }
}

/// The user name of `uid`, or `uid N` when it has none.
pub fn name_of(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        Ok(None) | Err(_) => format!("uid {uid}"),
    }
}

fn io_error<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ApprovalError + 'a {
    move |source| ApprovalError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// Creates `dir` and its parents. Group-writable as the umask allows (a shared
/// host's `umask 007` lets the approvers' group in; see README), and sticky, so
/// nobody can remove or rename a file someone else wrote in it.
fn create_shared_dir(dir: &Path) -> Result<(), ApprovalError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o1770)
        .create(dir)
        .map_err(io_error("create the approvals directory", dir))
}

/// Writes `bytes` to a new file `path`, never over an existing one (`link`
/// fails if one is there).
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), ApprovalError> {
    let tmp = write_tmp(path, bytes)?;
    let result = fs::hard_link(&tmp, path).map_err(io_error("create", path));
    let _ = fs::remove_file(&tmp);
    result
}

/// Replaces `path` with `bytes` atomically (a rename).
fn replace(path: &Path, bytes: &[u8]) -> Result<(), ApprovalError> {
    let tmp = write_tmp(path, bytes)?;
    let result = fs::rename(&tmp, path).map_err(io_error("replace", path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A new temporary file beside `path` holding `bytes`, fsynced, mode 0644
/// whatever the umask: nothing secret is in it, and both the run and its
/// approvers must read it.
fn write_tmp(path: &Path, bytes: &[u8]) -> Result<PathBuf, ApprovalError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), unique()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)
            .map_err(io_error("create", &tmp))?;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_error("set the mode of", &tmp))?;
        file.write_all(bytes).map_err(io_error("write", &tmp))?;
        file.sync_all().map_err(io_error("write", &tmp))
    })();
    match written {
        Ok(()) => Ok(tmp),
        Err(error) => {
            let _ = fs::remove_file(&tmp);
            Err(error)
        }
    }
}

/// The current time as the journal records it (RFC 3339, milliseconds).
fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The owner of `path` if the file can be vouched for: a regular file, one
/// link, writable by its owner alone. `Err` says why not.
fn vouched_owner(path: &Path) -> Result<u32, String> {
    let meta = fs::symlink_metadata(path)
        .map_err(|e| format!("`{}` cannot be read: {e}", path.display()))?;
    let name = path.display();
    if !meta.file_type().is_file() {
        return Err(format!(
            "`{name}` is not a regular file (a link?), so who wrote it is unknown"
        ));
    }
    if meta.nlink() != 1 {
        return Err(format!(
            "`{name}` has {} links: it may have been written for something else",
            meta.nlink()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "`{name}` is writable by others than its owner ({}, mode {:o}): anyone could have written it",
            name_of(meta.uid()),
            meta.mode() & 0o7777
        ));
    }
    Ok(meta.uid())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ApprovalError> {
    let bytes = fs::read(path).map_err(io_error("read", path))?;
    serde_json::from_slice(&bytes).map_err(|source| ApprovalError::Malformed {
        path: path.to_owned(),
        source,
    })
}

fn encode<T: serde::Serialize>(value: &T, path: &Path) -> Result<Vec<u8>, ApprovalError> {
    let mut bytes =
        serde_json::to_vec_pretty(value).map_err(|source| ApprovalError::Malformed {
            path: path.to_owned(),
            source,
        })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The request in `path`, asked by the file's owner.
fn read_request(path: &Path) -> Result<Request, ApprovalError> {
    let owner = vouched_owner(path).map_err(|why| ApprovalError::Io {
        what: "trust the approval request",
        path: path.to_owned(),
        source: io::Error::other(why),
    })?;
    let mut request: Request = read_json(path)?;
    // Who asked is the file's owner, whatever the file says.
    request.requested_by = name_of(owner);
    Ok(request)
}

impl ApprovalStore for LocalStore {
    fn whoami(&self) -> Result<String, ApprovalError> {
        Ok(name_of(geteuid().as_raw()))
    }

    fn request(&self, request: NewRequest) -> Result<Request, ApprovalError> {
        let dir = self.step_dir(&request.binding.run_id, &request.binding.step)?;
        create_shared_dir(&dir)?;
        let stored = Request {
            asked: request,
            requested_by: self.whoami()?,
            requested_at: now(),
        };
        let path = dir.join(REQUEST_FILE);
        replace(&path, &encode(&stored, &path)?)?;
        Ok(stored)
    }

    fn find_request(
        &self,
        run_id: Option<&str>,
        step: &str,
    ) -> Result<Option<Request>, ApprovalError> {
        let runs: Vec<String> = match run_id {
            Some(run) => vec![run.to_owned()],
            None => match fs::read_dir(&self.dir) {
                Ok(entries) => entries
                    .filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_error("list", &self.dir)(e)),
            },
        };
        let mut latest: Option<Request> = None;
        for run in runs {
            let Ok(dir) = self.step_dir(&run, step) else {
                continue;
            };
            let path = dir.join(REQUEST_FILE);
            match fs::symlink_metadata(&path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_error("read", &path)(e)),
                Ok(_) => {}
            }
            let request = read_request(&path)?;
            // Ties (one millisecond) go to the later run id, which starts with its time.
            let key = |r: &Request| (r.requested_at.clone(), r.asked.binding.run_id.clone());
            if latest.as_ref().is_none_or(|l| key(l) < key(&request)) {
                latest = Some(request);
            }
        }
        Ok(latest)
    }

    fn decisions(&self, run_id: &str, step: &str) -> Result<Decisions, ApprovalError> {
        let dir = self.step_dir(run_id, step)?;
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Decisions::default()),
            Err(e) => return Err(io_error("list", &dir)(e)),
        };
        let mut found = Decisions::default();
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| name.starts_with(DECISION_PREFIX) && name.ends_with(DECISION_SUFFIX))
            .collect();
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let owner = match vouched_owner(&path) {
                Ok(owner) => owner,
                Err(why) => {
                    found.refused.push(format!("not counted: {why}"));
                    continue;
                }
            };
            let claimed = &name[DECISION_PREFIX.len()..name.len() - DECISION_SUFFIX.len()];
            if claimed != owner.to_string() {
                found.refused.push(format!(
                    "not counted: `{}` says it is uid {claimed}'s decision, but {} wrote it",
                    path.display(),
                    name_of(owner)
                ));
                continue;
            }
            let file: DecisionFile = match read_json(&path) {
                Ok(file) => file,
                Err(error) => {
                    found.refused.push(format!("not counted: {error}"));
                    continue;
                }
            };
            found.decisions.push(Decision {
                binding: file.binding,
                verdict: file.verdict,
                approver: name_of(owner),
                decided_at: file.decided_at,
            });
        }
        found
            .decisions
            .sort_by(|a, b| a.decided_at.cmp(&b.decided_at));
        Ok(found)
    }

    fn decide(&self, binding: &Binding, verdict: Verdict) -> Result<Decision, ApprovalError> {
        let me = decider(self, binding)?;
        let uid = geteuid().as_raw();
        let path = self
            .step_dir(&binding.run_id, &binding.step)?
            .join(format!("{DECISION_PREFIX}{uid}{DECISION_SUFFIX}"));
        let file = DecisionFile {
            binding: binding.clone(),
            verdict: verdict.clone(),
            decided_at: now(),
        };
        // A decision of this approver on what is asked now is final; one on an
        // earlier request (the run asked again: its target changed) is replaced.
        let earlier = match fs::symlink_metadata(&path) {
            // A file in this approver's name that someone else wrote: never
            // counted, but in the way of the real decision.
            Ok(meta) if meta.uid() != uid => {
                return Err(ApprovalError::InYourName {
                    path: path.clone(),
                    writer: name_of(meta.uid()),
                });
            }
            Ok(_) => Some(read_json::<DecisionFile>(&path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        let written = match earlier {
            Some(Ok(earlier)) if earlier.binding == *binding => {
                return Err(ApprovalError::AlreadyDecided {
                    approver: me,
                    step: binding.step.clone(),
                    run: binding.run_id.clone(),
                });
            }
            Some(_) => replace(&path, &encode(&file, &path)?),
            None => write_new(&path, &encode(&file, &path)?),
        };
        match written {
            Err(ApprovalError::Io { source, .. })
                if source.kind() == io::ErrorKind::AlreadyExists =>
            {
                Err(ApprovalError::AlreadyDecided {
                    approver: me,
                    step: binding.step.clone(),
                    run: binding.run_id.clone(),
                })
            }
            Err(other) => Err(other),
            Ok(()) => Ok(Decision {
                binding: file.binding,
                verdict: file.verdict,
                approver: me,
                decided_at: file.decided_at,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::store::Evidence;

    fn new_request(run: &str, from: Vec<String>) -> NewRequest {
        NewRequest {
            binding: Binding {
                run_id: run.to_owned(),
                step: "revoke".to_owned(),
                runbook_sha256: "cd".repeat(32),
                target: "DELETE https://api.test/tokens/1".to_owned(),
            },
            runbook: "rotation".to_owned(),
            title: "Revoke the old token".to_owned(),
            count: 1,
            from,
            message: Some("Revoke ••••egC_?".to_owned()),
            evidence: vec![Evidence {
                step: "verify".to_owned(),
                passed_at: "2026-12-03T09:00:00.000Z".to_owned(),
            }],
        }
    }

    #[test]
    fn each_items_request_has_a_directory_of_its_own_that_no_item_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("approvals"));
        let mut names = Vec::new();
        for item in ["a", "a/../b", "..", &"x".repeat(300)] {
            let mut asked = new_request("r1", vec!["alice".to_owned()]);
            asked.binding.step =
                crate::approval::name::child_scope("kid", Some(&item.into())) + "revoke";
            asked.binding.target = format!("$ revoke {item}");
            store.request(asked.clone()).unwrap();
            names.push(asked.binding.step);
        }
        for name in &names {
            let found = store
                .find_request(None, name)
                .unwrap()
                .expect("its request");
            assert_eq!(&found.asked.binding.step, name);
        }
        let dirs: Vec<String> = fs::read_dir(dir.path().join("approvals/r1"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(dirs.len(), 4, "{dirs:?}");
        assert!(
            dirs.contains(&"kid%5B%22a%22%5D.revoke".to_owned()),
            "{dirs:?}"
        );
        assert_eq!(dir_name("kid.revoke"), "kid.revoke");
    }

    #[test]
    fn a_request_is_found_and_its_asker_is_the_files_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("approvals"));
        let me = store.whoami().unwrap();
        let mut asked = new_request("r1", vec!["alice".to_owned()]);
        store.request(asked.clone()).unwrap();
        asked.binding.run_id = "r2".to_owned();
        store.request(asked).unwrap();
        // Whatever the file says, the owner asked.
        let path = dir.path().join("approvals/r1/revoke/request.json");
        let text = fs::read_to_string(&path)
            .unwrap()
            .replace(&format!("\"{me}\""), "\"alice\"");
        replace(&path, text.as_bytes()).unwrap();
        let found = store.find_request(Some("r1"), "revoke").unwrap().unwrap();
        assert_eq!(found.requested_by, me);
        assert_eq!(
            store
                .find_request(None, "revoke")
                .unwrap()
                .unwrap()
                .asked
                .binding
                .run_id,
            "r2"
        );
        assert!(store.find_request(None, "other").unwrap().is_none());
    }

    #[test]
    fn the_asker_cannot_decide_and_a_file_in_someone_elses_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("approvals"));
        let me = store.whoami().unwrap();
        let request = store
            .request(new_request("r1", vec![me.clone(), "alice".to_owned()]))
            .unwrap();
        let refused = store.decide(&request.asked.binding, Verdict::Approved);
        assert!(
            matches!(refused, Err(ApprovalError::SelfApproval { .. })),
            "{refused:?}"
        );
        // A decision file written by hand, naming another uid, is not counted.
        let forged = dir.path().join("approvals/r1/revoke/decided-by-4242.json");
        let file = DecisionFile {
            binding: request.asked.binding.clone(),
            verdict: Verdict::Approved,
            decided_at: now(),
        };
        write_new(&forged, &encode(&file, &forged).unwrap()).unwrap();
        let found = store.decisions("r1", "revoke").unwrap();
        assert!(found.decisions.is_empty());
        assert!(
            found.refused[0].contains("says it is uid 4242's decision"),
            "{:?}",
            found.refused
        );
        // Nor is one anybody could rewrite, even in the writer's own name.
        let own = dir
            .path()
            .join(format!("approvals/r1/revoke/decided-by-{}.json", geteuid()));
        write_new(&own, &encode(&file, &own).unwrap()).unwrap();
        fs::set_permissions(&own, fs::Permissions::from_mode(0o666)).unwrap();
        let found = store.decisions("r1", "revoke").unwrap();
        assert!(found.decisions.is_empty());
        assert!(
            found
                .refused
                .iter()
                .any(|r| r.contains("writable by others")),
            "{:?}",
            found.refused
        );
        fs::set_permissions(&own, fs::Permissions::from_mode(0o644)).unwrap();
        let found = store.decisions("r1", "revoke").unwrap();
        assert_eq!(found.decisions[0].approver, me);
    }

    #[test]
    fn a_decision_needs_a_request_and_its_binding() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("approvals"));
        let request = new_request("r1", vec!["alice".to_owned()]);
        assert!(matches!(
            store.decide(&request.binding, Verdict::Approved),
            Err(ApprovalError::NoRequest { .. })
        ));
        let me = store.whoami().unwrap();
        // Asked by someone else is simulated by a `from` that names this user and
        // a request file whose owner is this user too: still refused as the asker.
        store.request(new_request("r1", vec![me])).unwrap();
        let mut other = request.binding.clone();
        other.step = "../x".to_owned();
        assert!(matches!(
            store.decide(&other, Verdict::Approved),
            Err(ApprovalError::NoRequest { .. })
        ));
    }
}
