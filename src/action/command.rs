//! `command`: runs `sh -c RUN` as its own process group, with a timeout that
//! kills the whole group (a shell's children included), and captures its output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;

/// How much of each output stream is kept; a command that prints more is still
/// run to the end, its output cut.
const MAX_CAPTURE: usize = 1024 * 1024;
/// After the timeout, how long the group has to exit on SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// A command with every template already rendered.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub run: String,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub timeout: Option<Duration>,
}

/// What a finished command did.
#[derive(Debug, Clone, Default)]
pub struct CommandOutput {
    /// `None` when the process was killed by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed_ms: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("cannot start `sh` to run the command: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("the working directory `{}` does not exist", .0.display())]
    NoCwd(PathBuf),
    #[error("waiting for the command failed: {0}")]
    Wait(#[source] std::io::Error),
}

/// Kills the process group when dropped — on timeout, and when the run is
/// interrupted while the command is still going.
struct GroupGuard {
    pgid: Option<Pid>,
}

impl GroupGuard {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // The group may already be gone; that is the goal, not an error.
            let _ = killpg(pgid, signal);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

pub async fn run(spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
    if let Some(cwd) = &spec.cwd
        && !cwd.is_dir()
    {
        return Err(CommandError::NoCwd(cwd.clone()));
    }
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(&spec.run)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group: the timeout can kill `sh` and everything it started, and
        // the terminal's Ctrl-C reaches runbook, which then stops the group itself.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(CommandError::Spawn)?;
    let mut guard = GroupGuard {
        pgid: child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let read_out = tokio::spawn(capture(stdout));
    let read_err = tokio::spawn(capture(stderr));

    let mut timed_out = false;
    let status = match spec.timeout {
        None => child.wait().await.map_err(CommandError::Wait)?,
        Some(limit) => {
            if let Ok(status) = tokio::time::timeout(limit, child.wait()).await {
                status.map_err(CommandError::Wait)?
            } else {
                timed_out = true;
                guard.signal(Signal::SIGTERM);
                match tokio::time::timeout(GRACE, child.wait()).await {
                    Ok(status) => status.map_err(CommandError::Wait)?,
                    Err(_) => {
                        guard.signal(Signal::SIGKILL);
                        child.wait().await.map_err(CommandError::Wait)?
                    }
                }
            }
        }
    };
    // Whatever is left of the group (a daemonised grandchild holding the pipes)
    // goes too: a step's processes do not outlive the step.
    guard.signal(Signal::SIGKILL);
    guard.pgid = None;
    let stdout = read_out.await.unwrap_or_default();
    let stderr = read_err.await.unwrap_or_default();
    Ok(CommandOutput {
        exit_code: status.code(),
        stdout,
        stderr,
        timed_out,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

async fn capture<R: tokio::io::AsyncRead + Unpin>(stream: Option<R>) -> String {
    let Some(mut stream) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_CAPTURE.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(run: &str) -> CommandSpec {
        CommandSpec {
            run: run.to_owned(),
            env: Vec::new(),
            cwd: None,
            timeout: None,
        }
    }

    #[tokio::test]
    async fn captures_exit_code_and_output() {
        let mut s = spec("echo out; echo err >&2; printf %s \"$GREETING\"; exit 3");
        s.env.push(("GREETING".into(), "hello".into()));
        let out = run(&s).await.unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(out.stdout, "out\nhello");
        assert_eq!(out.stderr, "err\n");
        assert!(!out.timed_out);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("survived");
        // A grandchild that would write the marker after the timeout if it survived.
        let mut s = spec(&format!("(sleep 2; touch {}) & sleep 30", marker.display()));
        s.timeout = Some(Duration::from_millis(300));
        let out = run(&s).await.unwrap();
        assert!(out.timed_out);
        assert_eq!(out.exit_code, None, "killed by a signal");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }

    #[tokio::test]
    async fn a_missing_working_directory_is_a_clear_error() {
        let mut s = spec("true");
        s.cwd = Some(PathBuf::from("/definitely/not/here"));
        let err = run(&s).await.unwrap_err();
        assert!(err.to_string().contains("/definitely/not/here"), "{err}");
    }

    #[tokio::test]
    async fn runs_in_the_given_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec("pwd");
        s.cwd = Some(dir.path().to_path_buf());
        let out = run(&s).await.unwrap();
        let reported = PathBuf::from(out.stdout.trim());
        assert_eq!(
            reported.canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }
}
