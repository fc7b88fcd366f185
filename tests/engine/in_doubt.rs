//! Steps in doubt (SPEC §7): a step whose start is journaled and whose result is
//! not. An irreversible one — here a token DELETE — is never sent again on resume
//! unless the operator decides so (`--rerun ID` without a terminal; the terminal
//! choice is in tests/pty.rs), and Ctrl-C during it waits for its answer.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::server::{Reply, Server};
use super::{Work, all, names, wait_for_exit, with_base};

/// Probe, revoke (irreversible, confirmed), then a step after it.
const REVOKE: &str = r#"runbook: revoke
steps:
  - id: verify
    http: { url: "@BASE@/probe" }
  - id: revoke
    needs: [verify]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "@BASE@/token" }
    expect: { status: 204 }
  - id: after
    needs: [revoke]
    effect: change
    command: echo ran >> after
"#;

/// A server whose DELETE takes `delay` to answer.
fn server(delay: Duration) -> Server {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    server.route("DELETE", "/token", Reply::status(204).delay(delay));
    server
}

/// Starts the run and returns once the DELETE has reached the server.
fn start_revoke(work: &Work, server: &Server) -> std::process::Child {
    work.write("revoke.yaml", with_base(REVOKE, server));
    let mut child = work
        .runbook(["run", "revoke.yaml", "--confirm", "revoke"])
        .spawn(work, "first");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.count("DELETE", "/token") == 0 {
        assert!(
            child.try_wait().expect("poll the run").is_none(),
            "the run ended before its DELETE: {}",
            work.read("first.out")
        );
        assert!(Instant::now() < deadline, "no DELETE within 10s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn an_irreversible_step_cut_off_by_kill_9_is_not_sent_again_and_the_hint_goes_on() {
    let server = server(Duration::from_secs(30));
    let work = Work::new();
    let mut child = start_revoke(&work, &server);
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    server.route("DELETE", "/token", Reply::status(204));

    let ran = work.runbook(["resume", "revoke.yaml"]).status(3);
    let out = all(&ran);
    assert_eq!(server.count("DELETE", "/token"), 1, "sent again:\n{out}");
    assert!(out.contains("it may have happened"), "{out}");
    assert!(!work.exists("after"), "{out}");
    // Blocked again, as often as it is resumed without a decision.
    work.runbook(["resume", "revoke.yaml"]).status(3);
    assert_eq!(server.count("DELETE", "/token"), 1);

    let hint = out
        .split("to run it again: `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no hint in:\n{out}"));
    assert_eq!(
        hint,
        "runbook resume revoke.yaml --rerun revoke --confirm revoke"
    );
    let words: Vec<&str> = hint.split_whitespace().collect();
    let ran = work.runbook(&words[1..]).status(0);
    assert_eq!(server.count("DELETE", "/token"), 2, "{}", all(&ran));
    assert_eq!(work.lines("after"), 1);
    let events = work.only_journal(".runbook");
    let decided = events
        .iter()
        .find(|e| e["event"] == "in_doubt")
        .unwrap_or_else(|| panic!("no decision journaled: {events:?}"));
    assert_eq!(decided["step"], "revoke");
    assert_eq!(decided["decision"], "rerun");
    assert_eq!(decided["interactive"], false);
}

#[test]
fn a_new_run_is_refused_while_an_unfinished_one_left_an_irreversible_step_in_doubt() {
    let server = server(Duration::from_secs(30));
    let work = Work::new();
    let mut child = start_revoke(&work, &server);
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    server.route("DELETE", "/token", Reply::status(204));

    let again = ["run", "revoke.yaml", "--confirm", "revoke"];
    let refused = work.runbook(again).status(3);
    let out = all(&refused);
    assert_eq!(server.count("DELETE", "/token"), 1, "sent again:\n{out}");
    assert!(
        out.contains("left the irreversible `revoke` in doubt"),
        "{out}"
    );
    let hints: Vec<&str> = out.split('`').skip(1).step_by(2).collect();
    let resume = hints
        .iter()
        .find(|h| h.starts_with("runbook resume"))
        .unwrap_or_else(|| panic!("no resume hint in:\n{out}"));
    let abandon = hints
        .iter()
        .find(|h| h.starts_with("runbook abandon"))
        .unwrap_or_else(|| panic!("no abandon hint in:\n{out}"));
    // Resuming decides there (it blocks on the step in doubt and says how to go on);
    // abandoning ends that run, and then a new one may start.
    let resumed = work
        .runbook(resume.split_whitespace().skip(1).collect::<Vec<_>>())
        .status(3);
    assert!(
        all(&resumed).contains("it may have happened"),
        "{}",
        all(&resumed)
    );
    work.runbook(abandon.split_whitespace().skip(1).collect::<Vec<_>>())
        .status(0);
    assert_eq!(server.count("DELETE", "/token"), 1);
    let ran = work.runbook(again).status(0);
    assert_eq!(server.count("DELETE", "/token"), 2, "{}", all(&ran));
}

#[test]
fn rerun_names_only_a_step_in_doubt() {
    let server = server(Duration::from_secs(30));
    let work = Work::new();
    let mut child = start_revoke(&work, &server);
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    let ran = work
        .runbook(["resume", "revoke.yaml", "--rerun", "verify"])
        .status(2);
    assert!(ran.stderr.contains("`--rerun verify`"), "{}", ran.stderr);
    assert_eq!(server.count("DELETE", "/token"), 1);
}

#[test]
fn ctrl_c_during_an_irreversible_request_waits_for_its_answer() {
    let server = server(Duration::from_millis(1500));
    let work = Work::new();
    let mut child = start_revoke(&work, &server);
    let pid = i32::try_from(child.id()).expect("a pid");
    kill(Pid::from_raw(pid), Signal::SIGINT).expect("Ctrl-C the run");
    let status = wait_for_exit(&mut child);
    let out = work.read("first.out");
    assert_eq!(status, 130, "{out}");
    assert!(
        out.contains("Ctrl-C: waiting for the answer to `revoke` first"),
        "{out}"
    );
    let events = work.only_journal(".runbook");
    let revoke = super::finished(&events, "revoke")
        .unwrap_or_else(|| panic!("the DELETE's answer was not journaled: {events:?}"));
    assert_eq!(revoke["outcome"], "passed");
    assert_eq!(names(&events).last(), Some(&"interrupted"));
    assert!(!work.exists("after"), "the run went on after Ctrl-C");

    work.runbook(["resume", "revoke.yaml"]).status(0);
    assert_eq!(server.count("DELETE", "/token"), 1, "sent twice");
    assert_eq!(work.lines("after"), 1);
}

/// A parent whose one step runs the revoke as a child runbook.
const PARENT: &str = r"runbook: parent
steps:
  - id: rotate
    runbook: revoke.yaml
";

#[test]
fn a_child_runbooks_step_in_doubt_stays_in_doubt_when_the_parent_resumes() {
    let server = server(Duration::from_secs(30));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));
    work.write("parent.yaml", PARENT);
    let mut child = work
        .runbook(["run", "parent.yaml", "--confirm", "rotate.revoke"])
        .spawn(&work, "first");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.count("DELETE", "/token") == 0 {
        assert!(Instant::now() < deadline, "no DELETE within 10s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    server.route("DELETE", "/token", Reply::status(204));

    // The child runs afresh, and its revoke is still in doubt: not sent, twice.
    let mut out = String::new();
    for _ in 0..2 {
        let ran = work
            .runbook(["resume", "parent.yaml", "--confirm", "rotate.revoke"])
            .status(3);
        out = all(&ran);
        assert_eq!(server.count("DELETE", "/token"), 1, "sent again:\n{out}");
    }
    let hint = out
        .split("to run it again: `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no hint in:\n{out}"));
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(words[..2], ["runbook", "resume"], "{hint}");
    let ran = work.runbook(&words[1..]).status(0);
    assert_eq!(server.count("DELETE", "/token"), 2, "{}", all(&ran));
    assert_eq!(work.lines("after"), 1);
}
