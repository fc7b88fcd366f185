//! How `runbook run` treats the processes it starts and the signals it gets,
//! through the built binary: SIGTERM and SIGHUP stop a run as Ctrl-C does (the
//! command's process group stopped, the interruption journaled, exit 128 +
//! signal, and the printed `resume` goes on); a command's background children
//! outlive it when it exits by itself; commands do not inherit the
//! `RUNBOOK_INPUT_*` variables.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::binary;

/// A temp directory the binary runs in.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        Work {
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn join(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, contents: &str) {
        std::fs::write(self.join(relative), contents).expect("write a test file");
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.join(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    /// How many lines a marker file holds (0 when it does not exist).
    fn lines(&self, relative: &str) -> usize {
        std::fs::read_to_string(self.join(relative)).map_or(0, |t| t.lines().count())
    }

    /// `PROGRAM ARGS…` in this directory, none of the test's own `RUNBOOK_*`
    /// settings passed on.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RUNBOOK_") {
                command.env_remove(key);
            }
        }
        command
    }

    /// Starts `runbook ARGS…` in the background, its output to `NAME.out`.
    fn spawn(&self, args: &[&str], name: &str) -> Child {
        let out = std::fs::File::create(self.join(&format!("{name}.out"))).expect("an output file");
        let err = out.try_clone().expect("the output file again");
        self.command(&binary(), args)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn the runbook binary")
    }

    /// The events of the only journal in the state directory.
    fn journal(&self) -> Vec<serde_json::Value> {
        let runs = self.join(".runbook");
        let mut journals = Vec::new();
        collect_journals(&runs, &mut journals);
        assert_eq!(journals.len(), 1, "one journal: {journals:?}");
        std::fs::read_to_string(&journals[0])
            .expect("read the journal")
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

fn collect_journals(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_journals(&path, found);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            found.push(path);
        }
    }
}

/// Waits for `what` to hold, for ten seconds at most.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 10s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a background run to end (killing it after ten seconds); its exit
/// code, -1 when a signal ended it (runbook did not handle the signal).
fn exit_code(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().expect("poll the run") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run did not end within 10s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` still runs: a zombie nobody reaped (a container's PID 1
/// may not) does not count.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

/// Kills a process a test left running, whatever its assertions did.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

/// The pid a command wrote to `relative`.
fn pid_in(work: &Work, relative: &str) -> i32 {
    work.read(relative)
        .trim()
        .parse()
        .expect("the command wrote its pid")
}

/// Marks, then holds in `sleep 30` (whose pid it writes to `pid`) unless `go`
/// exists, then marks again.
const HELD: &str = r"runbook: held
steps:
  - id: first
    effect: change
    command: echo ran >> first
  - id: hold
    needs: [first]
    effect: change
    command: 'test -f go || { echo $$ > pid.tmp && mv pid.tmp pid && exec sleep 30; }'
  - id: after
    needs: [hold]
    effect: change
    command: echo ran >> after
";

/// Sends `signal` to a run held in a command; checks what SIGINT does for
/// Ctrl-C: the command gone, the interruption journaled, the exit code, and
/// that the `resume` the run printed, typed as shown, finishes the run.
fn a_signal_stops_the_run_like_ctrl_c(signal: Signal, name: &str, code: i32) {
    let work = Work::new();
    work.write("held.yaml", HELD);
    let mut run = work.spawn(&["run", "held.yaml"], "first");
    wait_until("the held command to start", || {
        work.join("pid").exists() || run.try_wait().is_ok_and(|s| s.is_some())
    });
    let sleep = Reap(pid_in(&work, "pid"));
    let runbook = i32::try_from(run.id()).expect("a pid");
    kill(Pid::from_raw(runbook), signal).expect("signal the run");

    let status = exit_code(&mut run);
    let out = work.read("first.out");
    assert_eq!(status, code, "{out}");
    wait_until("the interrupted command to end", || !alive(sleep.0));
    let events = work.journal();
    assert_eq!(
        events.last().and_then(|e| e["event"].as_str()),
        Some("interrupted"),
        "{events:?}"
    );
    assert!(out.contains(&format!("Interrupted by {name}.")), "{out}");

    let hint = out
        .split("resume with `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no resume hint in:\n{out}"));
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"runbook"), "{hint}");
    work.write("go", "");
    let resumed = work
        .command(&binary(), &words[1..])
        .output()
        .expect("run the hint");
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&resumed.stdout),
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(work.lines("first"), 1, "a passed step ran again");
    assert_eq!(work.lines("after"), 1);
}

#[test]
fn sigterm_stops_the_command_journals_exits_143_and_resume_goes_on() {
    a_signal_stops_the_run_like_ctrl_c(Signal::SIGTERM, "SIGTERM", 143);
}

#[test]
fn sighup_stops_the_command_journals_exits_129_and_resume_goes_on() {
    a_signal_stops_the_run_like_ctrl_c(Signal::SIGHUP, "SIGHUP", 129);
}

#[test]
fn sigint_still_exits_130() {
    let work = Work::new();
    work.write("held.yaml", HELD);
    let mut run = work.spawn(&["run", "held.yaml"], "first");
    wait_until("the held command to start", || work.join("pid").exists());
    let sleep = Reap(pid_in(&work, "pid"));
    let runbook = i32::try_from(run.id()).expect("a pid");
    kill(Pid::from_raw(runbook), Signal::SIGINT).expect("signal the run");
    let status = exit_code(&mut run);
    let out = work.read("first.out");
    assert_eq!(status, 130, "{out}");
    assert!(
        out.contains("Interrupted. Nothing is lost: resume with `runbook resume held.yaml`"),
        "{out}"
    );
    wait_until("the interrupted command to end", || !alive(sleep.0));
}

#[test]
fn a_background_child_outlives_its_command_and_the_next_step_finds_it() {
    let work = Work::new();
    // `sleep` keeps the command's stdout and stderr open: the step ends all the same.
    work.write(
        "daemon.yaml",
        r#"runbook: daemon
steps:
  - id: start
    effect: change
    command: 'echo starting; sleep 30 & echo $! > pid'
  - id: health
    needs: [start]
    effect: probe
    command: 'grep -q "^State:[[:space:]]*[RS]" /proc/$(cat pid)/status'
"#,
    );
    let mut run = work.spawn(&["run", "daemon.yaml"], "run");
    let status = exit_code(&mut run);
    let daemon = Reap(pid_in(&work, "pid"));
    assert_eq!(status, 0, "{}", work.read("run.out"));
    assert!(
        alive(daemon.0),
        "the background child was killed with its command"
    );
}

#[test]
fn commands_do_not_inherit_the_runbook_input_variables() {
    let work = Work::new();
    work.write(
        "env.yaml",
        r#"runbook: env
inputs:
  token: { secret: true }
  region: { default: eu }
steps:
  - id: show
    effect: none
    command:
      run: env > env.txt
      env: { API_TOKEN: "{{ inputs.token }}" }
"#,
    );
    let ran = work
        .command(&binary(), &["run", "env.yaml"])
        .env("RUNBOOK_INPUT_TOKEN", "tok-4f9a-secret")
        .env("RUNBOOK_INPUT_REGION", "us")
        .env("KEPT_FOR_COMMANDS", "yes")
        .output()
        .expect("run the binary");
    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let env = work.read("env.txt");
    assert!(!env.contains("RUNBOOK_INPUT_"), "{env}");
    assert_eq!(
        env.matches("tok-4f9a-secret").count(),
        1,
        "the value only under the name `env:` gave it:\n{env}"
    );
    assert!(env.contains("API_TOKEN=tok-4f9a-secret"), "{env}");
    assert!(env.contains("KEPT_FOR_COMMANDS=yes"), "{env}");
}
