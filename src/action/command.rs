//! `command`: runs `sh -c RUN` as its own process group and captures its
//! output. A timeout or an interruption stops the whole group (a shell's children
//! included); a command that exits by itself leaves its background children
//! running (`nohup app &` starts a daemon that must outlive the step).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

/// How much of each output stream a step keeps: [`cut`] applies it.
const MAX_CAPTURE: usize = 1024 * 1024;
/// Read beyond [`MAX_CAPTURE`], so that a secret straddling the cut is whole
/// when the caller masks it, and [`cut`] after masking leaks no prefix of it.
/// A secret (in any of its encodings) longer than this could still straddle.
const MASKING_MARGIN: usize = 64 * 1024;
/// After the timeout, how long the group has to exit on SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(2);
/// After the shell exits, how long its output is still read: a background child
/// that inherited the pipes (`app &`) would otherwise hold the step forever.
const PIPE_GRACE: Duration = Duration::from_secs(1);
/// The variables that answer runbook's inputs (`RUNBOOK_INPUT_NEW_TOKEN`): they
/// are runbook's, and a secret among them must not reach every command.
const INPUT_VARIABLES: &str = "RUNBOOK_INPUT_";

/// A command with every template already rendered.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub run: String,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    pub timeout: Option<Duration>,
}

impl CommandSpec {
    /// `$ …`: what the step runs, as the plan shows it.
    pub fn target(&self) -> String {
        format!("$ {}", self.run)
    }

    /// Its environment and directory, a line each, as the plan shows them.
    pub fn details(&self) -> Vec<String> {
        let mut details: Vec<String> = self
            .env
            .iter()
            .map(|(name, value)| format!("env {name}={value}"))
            .collect();
        details.extend(self.cwd.iter().map(|cwd| format!("in {}", cwd.display())));
        details
    }
}

/// What a finished command did.
#[derive(Debug, Clone, Default)]
pub struct CommandOutput {
    /// `None` when the process was killed by a signal.
    pub exit_code: Option<i32>,
    /// Up to [`MAX_CAPTURE`] + [`MASKING_MARGIN`] bytes: mask it, then [`cut`] it.
    pub stdout: String,
    /// As `stdout`.
    pub stderr: String,
    /// Whether more came on stdout than was read: a check of the whole text
    /// (`not_contains`, `equals`, …) cannot be judged on what was.
    pub stdout_cut: bool,
    /// As `stdout_cut`.
    pub stderr_cut: bool,
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

/// Kills the process group when dropped while the command still runs: the run
/// was interrupted. Disarmed once the shell has exited.
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

/// Output cut to what a step keeps ([`MAX_CAPTURE`] bytes, on a character
/// boundary). Apply it after masking secrets, never before: a cut through a
/// secret leaves a prefix the masking no longer recognises.
pub fn cut(text: &str) -> String {
    let mut end = text.len().min(MAX_CAPTURE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

pub async fn run(spec: &CommandSpec) -> Result<CommandOutput, CommandError> {
    if let Some(cwd) = &spec.cwd
        && !cwd.is_dir()
    {
        return Err(CommandError::NoCwd(cwd.clone()));
    }
    let mut command = tokio::process::Command::new("sh");
    for (key, _) in std::env::vars_os() {
        // The team state URL may hold the operator's database password.
        if key.to_string_lossy().starts_with(INPUT_VARIABLES)
            || key == crate::postgres::STATE_URL_ENV
        {
            command.env_remove(key);
        }
    }
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
    let (stop_reading, reading_stopped) = watch::channel(false);
    let read_out = tokio::spawn(capture(child.stdout.take(), reading_stopped.clone()));
    let read_err = tokio::spawn(capture(child.stderr.take(), reading_stopped));

    let mut timed_out = false;
    let status = match spec.timeout {
        None => child.wait().await.map_err(CommandError::Wait)?,
        Some(limit) => {
            if let Ok(status) = tokio::time::timeout(limit, child.wait()).await {
                status.map_err(CommandError::Wait)?
            } else {
                timed_out = true;
                guard.signal(Signal::SIGTERM);
                let status = match tokio::time::timeout(GRACE, child.wait()).await {
                    Ok(status) => status.map_err(CommandError::Wait)?,
                    Err(_) => {
                        guard.signal(Signal::SIGKILL);
                        child.wait().await.map_err(CommandError::Wait)?
                    }
                };
                // What the shell started and SIGTERM did not stop goes too: a
                // timed-out step leaves nothing behind.
                guard.signal(Signal::SIGKILL);
                status
            }
        }
    };
    guard.pgid = None;
    let readers = async { (read_out.await, read_err.await) };
    tokio::pin!(readers);
    let (stdout, stderr) = match tokio::time::timeout(PIPE_GRACE, &mut readers).await {
        Ok(read) => read,
        Err(_) => {
            let _ = stop_reading.send(true);
            readers.await
        }
    };
    let (stdout, stdout_cut) = stdout.unwrap_or_default();
    let (stderr, stderr_cut) = stderr.unwrap_or_default();
    Ok(CommandOutput {
        exit_code: status.code(),
        stdout,
        stderr,
        stdout_cut,
        stderr_cut,
        timed_out,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Reads a stream to its end, keeping what fits, and whether more came than
/// fitted. Told to stop, it returns what it kept and leaves the stream to a
/// task that drains it: a background child still writing to it would die of
/// SIGPIPE if its reader went away.
async fn capture<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    stream: Option<R>,
    mut stop: watch::Receiver<bool>,
) -> (String, bool) {
    let Some(mut stream) = stream else {
        return (String::new(), false);
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buffer = [0u8; 8192];
    loop {
        let read = tokio::select! {
            read = stream.read(&mut buffer) => read,
            _ = stop.wait_for(|stop| *stop) => {
                tokio::spawn(async move { tokio::io::copy(&mut stream, &mut tokio::io::sink()).await });
                break;
            }
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = (MAX_CAPTURE + MASKING_MARGIN).saturating_sub(kept.len());
                cut |= n > room;
                kept.extend_from_slice(&buffer[..n.min(room)]);
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
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

    /// Whether a process still runs: a zombie nobody reaped (a container's PID 1
    /// may not) does not count.
    fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            !stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
    }

    /// The pid a command wrote to `file`.
    fn pid_in(file: &std::path::Path) -> i32 {
        let text = std::fs::read_to_string(file).unwrap();
        text.trim().parse().unwrap()
    }

    /// Kills the background child a test started, whatever its assertions did.
    struct Reap(i32);

    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }

    #[tokio::test]
    async fn a_background_child_outlives_a_command_that_exits_normally() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The sleep inherits stdout and stderr: reading them to their end would
        // wait for it, so the capture stops once the shell has gone.
        let s = spec(&format!(
            "echo started; sleep 30 & echo $! > {}",
            pidfile.display()
        ));
        let out = tokio::time::timeout(Duration::from_secs(10), run(&s))
            .await
            .expect("the step ends although its background child holds the pipes")
            .unwrap();
        let daemon = Reap(pid_in(&pidfile));
        assert_eq!(out.exit_code, Some(0));
        assert_eq!(out.stdout, "started\n");
        assert!(
            alive(daemon.0),
            "the background child was killed with the step"
        );
    }

    #[tokio::test]
    async fn a_background_child_may_write_to_its_output_after_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // Writes once the capture has stopped: without a reader it would die of SIGPIPE.
        let late = PIPE_GRACE + Duration::from_millis(500);
        let out = run(&spec(&format!(
            "sh -c 'sleep {}; echo late; echo late >&2; exec sleep 30' & echo $! > {}",
            late.as_secs_f64(),
            pidfile.display()
        )))
        .await
        .unwrap();
        let daemon = Reap(pid_in(&pidfile));
        assert_eq!(out.stdout, "");
        tokio::time::sleep(late + Duration::from_millis(500)).await;
        assert!(
            alive(daemon.0),
            "the background child died writing its output"
        );
    }

    #[tokio::test]
    async fn output_is_read_past_the_cut_so_masking_then_cutting_leaks_no_prefix() {
        let secret = "s3cr3t-straddling-the-cut";
        // The secret begins 5 bytes before the cut.
        let s = spec(&format!(
            "head -c {} /dev/zero | tr '\\0' a; printf %s {secret}; echo after",
            MAX_CAPTURE - 5
        ));
        let out = run(&s).await.unwrap();
        assert!(out.stdout.ends_with(&format!("{secret}after\n")));
        let redactor = crate::secret::Redactor::default();
        redactor.add(secret);
        let kept = cut(&redactor.redact(&out.stdout));
        assert!(kept.len() <= MAX_CAPTURE);
        assert!(kept.starts_with(&"a".repeat(MAX_CAPTURE - 5)));
        assert!(!kept.contains('s'), "{:?}", &kept[MAX_CAPTURE - 5..]);
    }

    #[tokio::test]
    async fn capture_stops_at_the_margin_past_the_cut() {
        let out = run(&spec(&format!(
            "head -c {} /dev/zero | tr '\\0' a",
            MAX_CAPTURE + MASKING_MARGIN + 4096
        )))
        .await
        .unwrap();
        assert_eq!(out.exit_code, Some(0), "the command runs to its end");
        assert_eq!(out.stdout.len(), MAX_CAPTURE + MASKING_MARGIN);
        assert_eq!(cut(&out.stdout).len(), MAX_CAPTURE);
    }

    #[test]
    fn cut_keeps_short_text_and_cuts_on_a_character_boundary() {
        assert_eq!(cut("short"), "short");
        // `é` is two bytes; one of them would sit past the cut.
        let text = format!("{}é", "a".repeat(MAX_CAPTURE - 1));
        assert_eq!(cut(&text), "a".repeat(MAX_CAPTURE - 1));
        let exact = "a".repeat(MAX_CAPTURE + 10);
        assert_eq!(cut(&exact).len(), MAX_CAPTURE);
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
