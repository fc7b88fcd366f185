//! `runbook run` and `runbook resume` through the built binary (SPEC §1–§5):
//! gates, every action kind, rollback, inputs, the journal, the lock, resume
//! after `kill -9`, exit codes, and that no secret leaks into anything written.
//! HTTP goes to a scripted loopback server that counts what it is sent, so a
//! test can prove a request was never made.

mod actions;
mod attack_fanout;
mod attack_matchers;
mod attack_secrets;
mod bypass;
mod chain;
mod connections;
mod fan_out;
mod gates;
mod in_doubt;
mod inputs;
mod interpretation;
mod leak;
mod leftovers;
mod order;
mod processes;
mod secrets_at_start;
mod server;
mod state;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Ran, binary};

/// The text every runbook uses for the test server's base URL.
const BASE: &str = "@BASE@";

/// `yaml` with `@BASE@` replaced by the server's URL.
fn with_base(yaml: &str, server: &server::Server) -> String {
    yaml.replace(BASE, &server.url(""))
}

/// A temp directory to run the binary in, with the files a test writes.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes a file (parent directories created).
    fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> &Work {
        let path = self.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&path, contents).expect("write a test file");
        self
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.join(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    fn exists(&self, relative: &str) -> bool {
        self.join(relative).exists()
    }

    /// How many lines a marker file holds (0 when it does not exist).
    fn lines(&self, relative: &str) -> usize {
        std::fs::read_to_string(self.join(relative)).map_or(0, |t| t.lines().count())
    }

    /// `runbook ARGS…` run in this directory.
    fn runbook<I, S>(&self, args: I) -> Invocation
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(binary());
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        // The test process's own settings must not steer the binary.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RUNBOOK_") {
                command.env_remove(key);
            }
        }
        Invocation { command }
    }

    /// Every run journal under `relative`, oldest first.
    fn journals(&self, relative: &str) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = files_under(&self.join(relative))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        found.sort();
        found
    }

    /// The only journal under `relative`, as parsed events.
    fn only_journal(&self, relative: &str) -> Vec<Value> {
        let journals = self.journals(relative);
        assert_eq!(
            journals.len(),
            1,
            "expected one journal under {relative}: {journals:?}"
        );
        events(&std::fs::read_to_string(&journals[0]).expect("read the journal"))
    }
}

/// One invocation of the binary.
struct Invocation {
    command: Command,
}

impl Invocation {
    #[must_use]
    fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Invocation {
        self.command.env(key, value);
        self
    }

    fn run(mut self) -> Ran {
        let output = self.command.output().expect("run the runbook binary");
        Ran {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Runs and asserts the exit status.
    fn status(self, expected: i32) -> Ran {
        let shown = format!("{:?}", self.command);
        let ran = self.run();
        assert_eq!(
            ran.status, expected,
            "exit status of {shown}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            ran.stdout, ran.stderr
        );
        ran
    }

    /// Starts it in the background; its output goes to `out` and `err` in `work`.
    fn spawn(mut self, work: &Work, name: &str) -> Child {
        let out = std::fs::File::create(work.join(&format!("{name}.out"))).expect("stdout file");
        let err = std::fs::File::create(work.join(&format!("{name}.err"))).expect("stderr file");
        self.command
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn the runbook binary")
    }
}

/// Both streams, for messages that may go to either.
fn all(ran: &Ran) -> String {
    format!("{}\n{}", ran.stdout, ran.stderr)
}

/// Every regular file below `dir` (none if it does not exist).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// JSON lines, each of which must be an object with an `event` name.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
            assert!(
                value.get("event").and_then(Value::as_str).is_some(),
                "an event without a name: {line}"
            );
            value
        })
        .collect()
}

/// The event names, in order.
fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .filter_map(|e| e.get("event").and_then(Value::as_str))
        .collect()
}

/// The `step_finished` event of `step`, if any.
fn finished<'a>(events: &'a [Value], step: &str) -> Option<&'a Value> {
    events.iter().find(|e| {
        e["event"] == "step_finished" && e.get("step").and_then(Value::as_str) == Some(step)
    })
}

/// Polls until a journal under `relative` records that `step` started; panics
/// after ten seconds or if `child` exits first.
fn wait_until_started(work: &Work, relative: &str, step: &str, child: &mut Child) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for journal in work.journals(relative) {
            let text = std::fs::read_to_string(&journal).unwrap_or_default();
            let started = text.lines().any(|line| {
                serde_json::from_str::<Value>(line).is_ok_and(|e| {
                    e["event"] == "step_started"
                        && e.get("step").and_then(Value::as_str) == Some(step)
                })
            });
            if started {
                return journal;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the run ended ({status}) before `{step}` started");
        }
        assert!(
            Instant::now() < deadline,
            "`{step}` did not start within 10s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a background run to end, killing it after ten seconds.
fn wait_for_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the background run did not end within 10s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
