//! The processes a run starts and the signals it gets: SIGTERM and SIGHUP stop
//! a run as Ctrl-C does (the command's process group stopped, the interruption
//! journaled, exit 128 + signal, and the printed `resume` goes on); a command's
//! background children outlive it when it exits by itself; commands do not
//! inherit the `RUNBOOK_INPUT_*` variables.

use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{Work, names, wait_for_exit, wait_until_started};
use crate::support::{alive, binary};

/// Kills a process a test left running, whatever its assertions did.
struct Reap(i32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

/// Marks, then holds in `sleep 30` (its pid written to `pid`) unless `go`
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

/// Starts the held runbook and returns once its command sleeps, with that pid.
fn start_held(work: &Work) -> (std::process::Child, Reap) {
    work.write("held.yaml", HELD);
    let mut run = work.runbook(["run", "held.yaml"]).spawn(work, "first");
    wait_until_started(work, ".runbook", "hold", &mut run);
    // `mv` makes the file whole when it appears.
    assert!(soon(|| work.exists("pid")), "the held command wrote no pid");
    let pid = work.read("pid").trim().parse().expect("a pid");
    (run, Reap(pid))
}

/// Whether `done` holds within ten seconds.
fn soon(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done()
}

/// Sends `signal` to a run held in a command and checks what SIGINT does for
/// Ctrl-C: the exit code, the command gone, the interruption journaled, and
/// that the `resume` the run printed, typed as shown, finishes the run.
fn a_signal_stops_the_run_like_ctrl_c(signal: Signal, code: i32) {
    let work = Work::new();
    let (mut run, sleep) = start_held(&work);
    let runbook = i32::try_from(run.id()).expect("a pid");
    kill(Pid::from_raw(runbook), signal).expect("signal the run");

    let status = wait_for_exit(&mut run);
    let out = work.read("first.out");
    assert_eq!(status, code, "{out}");
    assert!(soon(|| !alive(sleep.0)), "the command outlived the run");
    let events = work.only_journal(".runbook");
    assert_eq!(names(&events).last(), Some(&"interrupted"), "{events:?}");
    assert!(out.contains(&format!("Interrupted by {signal}.")), "{out}");

    let hint = out
        .split("resume with `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no resume hint in:\n{out}"));
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"runbook"), "{hint}");
    work.write("go", "");
    work.runbook(&words[1..]).status(0);
    assert_eq!(work.lines("first"), 1, "a passed step ran again");
    assert_eq!(work.lines("after"), 1);
}

#[test]
fn sigterm_stops_the_command_journals_exits_143_and_resume_goes_on() {
    a_signal_stops_the_run_like_ctrl_c(Signal::SIGTERM, 143);
}

#[test]
fn sighup_stops_the_command_journals_exits_129_and_resume_goes_on() {
    a_signal_stops_the_run_like_ctrl_c(Signal::SIGHUP, 129);
}

#[test]
fn sigint_still_exits_130_naming_no_signal() {
    let work = Work::new();
    let (mut run, _sleep) = start_held(&work);
    let runbook = i32::try_from(run.id()).expect("a pid");
    kill(Pid::from_raw(runbook), Signal::SIGINT).expect("signal the run");
    let status = wait_for_exit(&mut run);
    let out = work.read("first.out");
    assert_eq!(status, 130, "{out}");
    assert!(
        out.contains("Interrupted. Nothing is lost: resume with `runbook resume held.yaml`"),
        "{out}"
    );
}

/// What an ssh session closing does: the terminal hangs up while a manual step
/// waits for its answer. The terminal's controlling process (runbook, through
/// `setsid -c`) gets SIGHUP and its read fails at once; the signal names the stop.
#[test]
fn a_terminal_hanging_up_at_a_prompt_exits_129_and_resume_goes_on() {
    use std::io::Read as _;
    let work = Work::new();
    work.write(
        "ask.yaml",
        r"runbook: ask
steps:
  - id: first
    effect: change
    command: echo ran >> first
  - id: ask
    manual: Check the dashboard
",
    );
    let pty = nix::pty::openpty(None, None).expect("a pseudo-terminal");
    // openpty's descriptors are inherited otherwise: runbook holding the master
    // would keep its own terminal from ever hanging up.
    for fd in [&pty.master, &pty.slave] {
        let cloexec = nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC);
        nix::fcntl::fcntl(fd, cloexec).expect("close-on-exec");
    }
    let slave = || Stdio::from(pty.slave.try_clone().expect("the terminal again"));
    let mut command = Command::new("setsid");
    command
        .arg("-c")
        .arg(binary())
        .args(["run", "ask.yaml"])
        .current_dir(work.path())
        .stdin(slave())
        .stdout(slave())
        .stderr(slave());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUNBOOK_") {
            command.env_remove(key);
        }
    }
    let mut run = command.spawn().expect("spawn runbook on the terminal");
    drop((command, pty.slave));
    // Reads the screen until the prompt, then closes the terminal's last end.
    let mut master = std::fs::File::from(pty.master);
    let (tell, shown) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut screen = Vec::new();
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&screen).contains("Check the dashboard") {
            match master.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => screen.extend_from_slice(&buffer[..n]),
            }
        }
        let _ = tell.send(String::from_utf8_lossy(&screen).into_owned());
    });
    let screen = shown
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the prompt within 10s");
    assert!(screen.contains("Check the dashboard"), "{screen}");

    assert_eq!(wait_for_exit(&mut run), 129, "{screen}");
    let events = work.only_journal(".runbook");
    assert_eq!(names(&events).last(), Some(&"interrupted"), "{events:?}");
    work.runbook(["resume", "ask.yaml", "--yes"]).status(0);
    assert_eq!(work.lines("first"), 1, "a passed step ran again");
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
    let mut run = work.runbook(["run", "daemon.yaml"]).spawn(&work, "run");
    let status = wait_for_exit(&mut run);
    let daemon = Reap(work.read("pid").trim().parse().expect("a pid"));
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
    work.runbook(["run", "env.yaml"])
        .env("RUNBOOK_INPUT_TOKEN", "tok-4f9a-secret")
        .env("RUNBOOK_INPUT_REGION", "us")
        .env("KEPT_FOR_COMMANDS", "yes")
        .status(0);
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
