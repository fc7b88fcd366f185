//! State, locking and resume (SPEC §4, §5): where the journal lives, that it is
//! JSON lines, that a second run is refused naming the first, that `kill -9`
//! loses nothing and `resume` repeats no passed step, and the `--events` stream.

use std::io::Write;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Child;

use serde_json::Value;

use super::server::{Reply, Server};
use super::{
    Work, all, events, files_under, finished, names, wait_for_exit, wait_until_started, with_base,
};

/// Changes a setting, probes, appends to a marker, then holds in `hold` until
/// the file `go` exists, then appends to another marker. A `hold` orphaned by
/// `kill -9` gives up when its directory is gone (or after 20 s), so no test
/// leaves a process behind.
const HELD: &str = r#"runbook: held
inputs:
  value: { default: new-value }
steps:
  - id: save
    set_setting: { file: app.env, key: API_TOKEN, value: "{{ inputs.value }}" }
  - id: probe
    needs: [save]
    http: { url: "@BASE@/probe" }
  - id: mark
    effect: change
    command: echo ran >> marker
  - id: hold
    effect: none
    command: 'n=0; while [ ! -f go ] && [ -f held.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f go'
  - id: after
    needs: [probe]
    effect: change
    command: echo ran >> after
"#;

/// Writes the held runbook and starts it; returns once `hold` has started.
fn start_held(work: &Work, server: &Server, name: &str) -> (Child, std::path::PathBuf) {
    work.write("app.env", "API_TOKEN=old-value\n");
    start_holding(work, server, HELD, &[], None, name)
}

/// Writes `yaml` (a runbook with a `hold` step) and runs it with `flags`, and
/// with `token` as `RUNBOOK_INPUT_TOKEN` when given; returns once `hold` has
/// started.
fn start_holding(
    work: &Work,
    server: &Server,
    yaml: &str,
    flags: &[&str],
    token: Option<&str>,
    name: &str,
) -> (Child, PathBuf) {
    server.route("GET", "/probe", Reply::status(200));
    work.write("held.yaml", with_base(yaml, server));
    let mut invocation = work.runbook(["run", "held.yaml"].iter().chain(flags));
    if let Some(token) = token {
        invocation = invocation.env("RUNBOOK_INPUT_TOKEN", token);
    }
    let mut child = invocation.spawn(work, name);
    let journal = wait_until_started(work, ".runbook", "hold", &mut child);
    (child, journal)
}

/// `kill -9`s a run inside `hold`.
fn kill_in_hold(work: &Work, mut child: Child) {
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    // Lets the orphaned `hold` loop end; a resumed `hold` passes at once.
    work.write("go", "");
}

/// Starts the held runbook and `kill -9`s it inside `hold`; returns the journal.
fn killed_mid_run(work: &Work, server: &Server) -> std::path::PathBuf {
    let (child, journal) = start_held(work, server, "first");
    kill_in_hold(work, child);
    journal
}

#[test]
fn state_lives_next_to_the_runbook_file_wherever_it_is_run_from() {
    let work = Work::new();
    work.write(
        "books/where.yaml",
        r"runbook: where
steps:
  - id: hello
    effect: none
    command: echo hello
",
    );
    work.runbook(["run", "books/where.yaml"]).status(0);
    assert_eq!(work.journals("books/.runbook/where/runs").len(), 1);
    assert!(!work.exists(".runbook"), "state was written in the cwd");

    let events = work.only_journal("books/.runbook");
    let names = names(&events);
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(names.last(), Some(&"run_finished"));
    assert!(names.contains(&"step_started"), "{names:?}");
    assert_eq!(
        finished(&events, "hello").expect("hello")["outcome"],
        "passed"
    );
    assert_eq!(events.last().expect("an event")["exit_code"], 0);
}

#[test]
fn state_lives_under_runbook_state_dir_when_it_is_set() {
    let work = Work::new();
    work.write(
        "books/where.yaml",
        r"runbook: where
steps:
  - id: hello
    effect: none
    command: echo hello
",
    );
    work.runbook(["run", "books/where.yaml"])
        .env("RUNBOOK_STATE_DIR", work.join("state"))
        .status(0);
    assert_eq!(work.journals("state/where/runs").len(), 1);
    assert!(!work.exists("books/.runbook"));
    assert!(!work.exists(".runbook"));
}

#[test]
fn a_second_run_is_refused_naming_the_first() {
    let server = Server::start();
    let work = Work::new();
    let (mut first, journal) = start_held(&work, &server, "first");
    let run_id = journal
        .file_stem()
        .expect("a journal name")
        .to_string_lossy()
        .into_owned();
    let second = work.runbook(["run", "held.yaml"]).status(2);
    let resumed = work.runbook(["resume", "held.yaml"]).status(2);
    work.write("go", "");
    let status = wait_for_exit(&mut first);

    let out = all(&second);
    assert!(
        out.contains(&run_id),
        "the holder's run id is not named:\n{out}"
    );
    assert!(
        out.contains(&format!("pid {}", first.id())),
        "the holder's pid is not named:\n{out}"
    );
    assert!(
        all(&resumed).contains(&run_id),
        "resume while the run goes on is not refused naming it:\n{}",
        all(&resumed)
    );
    assert_eq!(status, 0, "{}", work.read("first.out"));
    // The refused runs touched nothing.
    assert_eq!(work.lines("marker"), 1);
    assert_eq!(server.count("GET", "/probe"), 1);
    assert_eq!(work.journals(".runbook").len(), 1);
}

#[test]
fn resume_after_kill_9_repeats_no_passed_step_and_finishes() {
    let server = Server::start();
    let work = Work::new();
    killed_mid_run(&work, &server);
    assert_eq!(work.lines("marker"), 1);
    assert_eq!(work.lines("after"), 0);

    let ran = work.runbook(["resume", "held.yaml"]).status(0);
    assert_eq!(server.count("GET", "/probe"), 1, "{}", ran.stdout);
    assert_eq!(work.lines("marker"), 1, "a passed step ran again");
    assert_eq!(work.lines("after"), 1);
    assert_eq!(work.read("app.env"), "API_TOKEN=new-value\n");
    assert!(
        ran.stdout.contains("passed earlier in this run"),
        "{}",
        ran.stdout
    );

    // One journal for the whole run, resumed and finished.
    let events = work.only_journal(".runbook");
    let names = names(&events);
    assert!(names.contains(&"resumed"), "{names:?}");
    assert_eq!(names.last(), Some(&"run_finished"));
    let saves = events
        .iter()
        .filter(|e| e["event"] == "step_started" && e["step"] == "save")
        .count();
    assert_eq!(saves, 1, "{names:?}");

    // Finished: there is nothing left to resume.
    let again = work.runbook(["resume", "held.yaml"]).status(2);
    assert!(all(&again).contains("no unfinished run"), "{}", all(&again));
}

#[test]
fn resume_tolerates_and_reports_a_torn_last_journal_line() {
    let server = Server::start();
    let work = Work::new();
    let journal = killed_mid_run(&work, &server);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .expect("open the journal");
    file.write_all(br#"{"at":"2026-11-28T05:30:12.345Z","event":"step_fini"#)
        .expect("tear the journal");
    drop(file);

    let ran = work.runbook(["resume", "held.yaml"]).status(0);
    assert!(all(&ran).contains("cut short"), "{}", all(&ran));
    assert_eq!(work.lines("marker"), 1);
    assert_eq!(work.lines("after"), 1);
    // The torn line is gone and every line is whole again.
    let text = std::fs::read_to_string(&journal).expect("read the journal");
    assert!(!text.contains("step_fini\""), "{text}");
    events(&text);
}

#[test]
fn resume_refuses_a_changed_runbook_file() {
    let server = Server::start();
    let work = Work::new();
    killed_mid_run(&work, &server);
    let mut text = work.read("held.yaml");
    text.push_str("# edited after the run began\n");
    work.write("held.yaml", text);

    let ran = work.runbook(["resume", "held.yaml"]).status(2);
    assert!(all(&ran).contains("changed"), "{}", all(&ran));
    assert_eq!(work.lines("marker"), 1);
    assert_eq!(work.lines("after"), 0);
    assert_eq!(server.count("GET", "/probe"), 1);
}

#[test]
fn resume_with_no_run_to_resume_is_a_usage_error() {
    let work = Work::new();
    work.write(
        "never.yaml",
        r"runbook: never
steps:
  - id: hello
    effect: change
    command: echo ran >> marker
",
    );
    let ran = work.runbook(["resume", "never.yaml"]).status(2);
    assert!(all(&ran).contains("no unfinished run"), "{}", all(&ran));
    assert_eq!(work.lines("marker"), 0);
}

/// A short runbook for the event streams.
const EVENTS: &str = r"runbook: events
steps:
  - id: greet
    title: Say hello
    effect: none
    command: echo hello
  - id: announce
    manual: Tell the team.
";

#[test]
fn events_file_holds_one_json_object_per_event() {
    let work = Work::new();
    work.write("events.yaml", EVENTS);
    work.runbook(["run", "events.yaml", "--yes", "--events", "events.jsonl"])
        .status(0);
    let streamed = events(&work.read("events.jsonl"));
    let names = names(&streamed);
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(names.last(), Some(&"run_finished"));
    for name in ["step_started", "step_finished"] {
        assert!(names.contains(&name), "{name} missing: {names:?}");
    }
    assert_eq!(
        finished(&streamed, "announce").expect("announce")["outcome"],
        "passed"
    );
    // The stream and the journal tell the same story.
    let journal = work.only_journal(".runbook");
    assert_eq!(names, super::names(&journal));
}

#[test]
fn events_on_stdout_are_json_lines_and_the_human_lines_go_to_stderr() {
    let work = Work::new();
    work.write("events.yaml", EVENTS);
    let ran = work
        .runbook(["run", "events.yaml", "--yes", "--events", "-"])
        .status(0);
    let streamed = events(&ran.stdout);
    let names = names(&streamed);
    assert_eq!(names.first(), Some(&"run_started"));
    assert_eq!(names.last(), Some(&"run_finished"));
    assert!(
        streamed.iter().all(Value::is_object),
        "not all objects:\n{}",
        ran.stdout
    );
    assert!(ran.stderr.contains("Say hello"), "{}", ran.stderr);
    assert!(ran.stderr.contains("Summary"), "{}", ran.stderr);
}

#[test]
fn resume_gathers_again_evidence_whose_within_expired_meanwhile() {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    server.route("POST", "/apply", Reply::status(200));
    let work = Work::new();
    work.write(
        "stale.yaml",
        with_base(
            r#"runbook: stale
steps:
  - id: probe
    http: { url: "@BASE@/probe" }
  - id: hold
    effect: none
    command: 'n=0; while [ ! -f go ] && [ -f stale.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f go'
  - id: apply
    needs: [{ step: probe, within: 1s }]
    http: { method: POST, url: "@BASE@/apply" }
"#,
            &server,
        ),
    );
    let mut child = work.runbook(["run", "stale.yaml"]).spawn(&work, "first");
    wait_until_started(&work, ".runbook", "hold", &mut child);
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    work.write("go", "");
    // Long enough for the probe to be older than its `within`.
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let ran = work.runbook(["resume", "stale.yaml"]).status(0);
    assert_eq!(
        server.order(),
        ["GET /probe", "GET /probe", "POST /apply"],
        "{}",
        ran.stdout
    );
}

/// Uses a secret input before holding, and again after.
const SECRET_HELD: &str = r#"runbook: secret-held
inputs:
  token: { secret: true }
steps:
  - id: check
    http: { url: "@BASE@/probe", bearer: "{{ inputs.token }}" }
  - id: hold
    effect: none
    command: 'n=0; while [ ! -f go ] && [ -f held.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f go'
  - id: use
    effect: change
    command:
      run: 'printf %s "$T" > used.txt'
      env: { T: "{{ inputs.token }}" }
"#;

#[test]
fn without_kept_secrets_resume_needs_a_secret_again_and_checks_it_is_the_same() {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    let work = Work::new();
    work.write("held.yaml", with_base(SECRET_HELD, &server));
    let mut child = work
        .runbook(["run", "held.yaml", "--no-keep-secrets"])
        .env("RUNBOOK_INPUT_TOKEN", "first-token-1234")
        .spawn(&work, "first");
    wait_until_started(&work, ".runbook", "hold", &mut child);
    assert!(
        !work.exists(".runbook/secret-held/secrets"),
        "a secret kept"
    );
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    work.write("go", "");
    // The journal keeps a fingerprint, never the value.
    let journal = work.journals(".runbook");
    let text = std::fs::read_to_string(&journal[0]).expect("read the journal");
    assert!(!text.contains("first-token"), "{text}");

    let missing = work.runbook(["resume", "held.yaml"]).status(2);
    assert!(all(&missing).contains("token"), "{}", all(&missing));
    assert!(!work.exists("used.txt"));

    let other = work
        .runbook(["resume", "held.yaml"])
        .env("RUNBOOK_INPUT_TOKEN", "other-token-5678")
        .status(2);
    assert!(all(&other).contains("token"), "{}", all(&other));
    assert!(!all(&other).contains("other-token"), "{}", all(&other));
    assert!(!work.exists("used.txt"));

    work.runbook(["resume", "held.yaml"])
        .env("RUNBOOK_INPUT_TOKEN", "first-token-1234")
        .status(0);
    assert_eq!(work.read("used.txt"), "first-token-1234");
    assert_eq!(server.count("GET", "/probe"), 1);
}

/// Starts [`SECRET_HELD`] with the token in the environment, with `flags`, and
/// `kill -9`s it inside `hold`; returns the journal's path.
fn secret_killed_in_hold(work: &Work, server: &Server, yaml: &str, flags: &[&str]) -> PathBuf {
    let (child, journal) =
        start_holding(work, server, yaml, flags, Some("first-token-1234"), "first");
    kill_in_hold(work, child);
    journal
}

#[test]
fn a_secret_kept_at_rest_lets_resume_finish_with_nothing_given_again() {
    let server = Server::start();
    let work = Work::new();
    let journal = secret_killed_in_hold(&work, &server, SECRET_HELD, &[]);
    let secrets = work.join(".runbook/secret-held/secrets");
    let kept: Vec<PathBuf> = std::fs::read_dir(&secrets)
        .expect("the secrets directory")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&kept[0]), 0o600);
    assert_eq!(mode(&secrets), 0o700);
    assert!(
        std::fs::read_to_string(&kept[0])
            .expect("read")
            .contains("first-token-1234")
    );
    // The journal still holds only the fingerprint.
    let text = std::fs::read_to_string(&journal).expect("read the journal");
    assert!(!text.contains("first-token"), "{text}");

    // Nothing given again: the kept token is checked against its fingerprint and used.
    let ran = work.runbook(["resume", "held.yaml"]).status(0);
    assert!(!all(&ran).contains("first-token"), "{}", all(&ran));
    assert_eq!(work.read("used.txt"), "first-token-1234");
    assert_eq!(server.count("GET", "/probe"), 1);
    // The run ended: nothing is kept any more.
    assert!(!kept[0].exists(), "the kept secrets outlived the run");
}

#[test]
fn a_kept_secret_that_does_not_match_its_fingerprint_is_asked_for_again() {
    let server = Server::start();
    let work = Work::new();
    secret_killed_in_hold(&work, &server, SECRET_HELD, &[]);
    let kept = work.join(".runbook/secret-held/secrets");
    let file = std::fs::read_dir(&kept)
        .expect("kept")
        .next()
        .expect("one")
        .expect("entry")
        .path();
    std::fs::write(&file, r#"{"inputs.token": "planted-token-0000"}"#).expect("plant a value");

    let ran = work.runbook(["resume", "held.yaml"]).status(2);
    let said = all(&ran);
    assert!(said.contains("fingerprint differs"), "{said}");
    assert!(said.contains("token"), "{said}");
    assert!(!said.contains("planted-token"), "{said}");
    assert!(!work.exists("used.txt"));
}

#[test]
fn a_runbook_that_says_keep_secrets_false_keeps_none() {
    let server = Server::start();
    let work = Work::new();
    let yaml = SECRET_HELD.replace("inputs:\n", "keep_secrets: false\ninputs:\n");
    secret_killed_in_hold(&work, &server, &yaml, &[]);
    assert!(
        !work.exists(".runbook/secret-held/secrets"),
        "a secret kept"
    );
    let missing = work.runbook(["resume", "held.yaml"]).status(2);
    assert!(all(&missing).contains("token"), "{}", all(&missing));
    work.runbook(["resume", "held.yaml"])
        .env("RUNBOOK_INPUT_TOKEN", "first-token-1234")
        .status(0);
    assert_eq!(work.read("used.txt"), "first-token-1234");
}

#[test]
fn a_non_interactive_resume_names_every_missing_answer_before_any_step() {
    let server = Server::start();
    let work = Work::new();
    // A change between the hold and the step that reads the secret again: found
    // missing only at that step, the change would already have been made.
    let yaml = SECRET_HELD.replace(
        "  - id: use\n",
        "  - id: mark\n    effect: change\n    command: echo ran >> marker\n  - id: use\n",
    );
    secret_killed_in_hold(&work, &server, &yaml, &["--no-keep-secrets"]);
    let ran = work.runbook(["resume", "held.yaml"]).status(2);
    let said = all(&ran);
    assert!(said.contains("missing"), "{said}");
    assert!(said.contains("token"), "{said}");
    assert_eq!(
        work.lines("marker"),
        0,
        "a step ran before the missing answer was named"
    );
    let recorded = work.only_journal(".runbook");
    assert_eq!(names(&recorded).last(), Some(&"resumed"), "a step started");
}

#[test]
fn the_operator_is_the_flag_then_runbook_operator_then_the_user_the_process_runs_as() {
    let work = Work::new();
    work.write(
        "quick.yaml",
        "runbook: quick\nsteps:\n  - id: one\n    effect: none\n    command: \"true\"\n",
    );
    let operator_of_run = |invocation: super::Invocation| {
        let mut invocation = invocation;
        invocation.command.env_remove("USER").env_remove("LOGNAME");
        invocation.status(0);
        let recorded = work.only_journal(".runbook");
        // Run ids begun in the same second do not sort in order: one at a time.
        std::fs::remove_dir_all(work.join(".runbook")).expect("remove the state");
        recorded[0]["operator"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    // No $USER, no $LOGNAME (a container, a CI job): the account the process runs as.
    let whoami = std::process::Command::new("id")
        .arg("-un")
        .output()
        .expect("run id -un");
    let account = String::from_utf8_lossy(&whoami.stdout).trim().to_owned();
    assert!(!account.is_empty());
    assert_eq!(
        operator_of_run(work.runbook(["run", "quick.yaml"])),
        account
    );
    assert_eq!(
        operator_of_run(
            work.runbook(["run", "quick.yaml"])
                .env("RUNBOOK_OPERATOR", "ana")
        ),
        "ana"
    );
    assert_eq!(
        operator_of_run(
            work.runbook(["run", "quick.yaml", "--operator", "bo"])
                .env("RUNBOOK_OPERATOR", "ana")
        ),
        "bo"
    );
}

#[test]
fn abandon_ends_the_run_and_removes_its_kept_secrets_and_backups() {
    let server = Server::start();
    let work = Work::new();
    work.write("app.env", "API_TOKEN=old-value-9876\n");
    let yaml = SECRET_HELD.replace(
        "  - id: hold\n",
        "  - id: save\n    set_setting: { file: app.env, key: API_TOKEN, value: \"{{ inputs.token }}\" }\n  - id: hold\n",
    );
    let journal = secret_killed_in_hold(&work, &server, &yaml, &[]);
    let root = ".runbook/secret-held";
    assert!(!files_under(&work.join(&format!("{root}/secrets"))).is_empty());
    assert!(!files_under(&work.join(&format!("{root}/backups"))).is_empty());

    let ran = work.runbook(["abandon", "held.yaml"]).status(0);
    assert!(ran.stdout.contains("abandoned"), "{}", ran.stdout);
    assert!(files_under(&work.join(&format!("{root}/secrets"))).is_empty());
    assert!(files_under(&work.join(&format!("{root}/backups"))).is_empty());
    let recorded = events(&std::fs::read_to_string(&journal).expect("read the journal"));
    let last = recorded.last().expect("events");
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["outcome"], "abandoned");
    // What it changed stays; there is nothing left to resume or abandon.
    assert_eq!(work.read("app.env"), "API_TOKEN=first-token-1234\n");
    let again = work.runbook(["resume", "held.yaml"]).status(2);
    assert!(all(&again).contains("no unfinished run"), "{}", all(&again));
    work.runbook(["abandon", "held.yaml"]).status(2);
    assert!(!work.exists("used.txt"));
}

#[test]
fn ctrl_c_saves_the_state_exits_130_and_resume_finishes() {
    let server = Server::start();
    let work = Work::new();
    let (mut child, journal) = start_held(&work, &server, "first");
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    let status = wait_for_exit(&mut child);
    let out = work.read("first.out");
    assert_eq!(status, 130, "{out}");
    assert!(out.contains("runbook resume"), "{out}");
    let recorded = events(&std::fs::read_to_string(&journal).expect("read the journal"));
    assert_eq!(names(&recorded).last(), Some(&"interrupted"));
    assert_eq!(work.lines("after"), 0);

    work.write("go", "");
    work.runbook(["resume", "held.yaml"]).status(0);
    assert_eq!(work.lines("marker"), 1);
    assert_eq!(work.lines("after"), 1);
    assert_eq!(server.count("GET", "/probe"), 1);
}

/// A run that changes a file named relative to the working directory, then stops
/// blocked before an irreversible step that appends to another.
const BLOCKED: &str = r#"runbook: blocked
steps:
  - id: change
    effect: change
    command: echo ran >> marker
  - id: check
    needs: [change]
    effect: probe
    command: "true"
  - id: finish
    needs: [check]
    effect: irreversible
    confirm: true
    command: echo ran >> finished
"#;

#[test]
fn resume_from_another_directory_is_refused_where_relative_paths_would_differ() {
    let work = Work::new();
    work.write("blocked.yaml", BLOCKED);
    work.runbook(["run", "blocked.yaml", "--yes"]).status(3);
    std::fs::create_dir(work.join("elsewhere")).expect("mkdir");

    let mut elsewhere = work.runbook(["resume", "../blocked.yaml", "--confirm", "finish"]);
    elsewhere.command.current_dir(work.join("elsewhere"));
    let ran = elsewhere.status(2);
    let said = all(&ran);
    assert!(said.contains("this run began in"), "{said}");
    assert!(
        said.contains(&format!("cd {}", work.path().display())),
        "{said}"
    );
    assert_eq!(work.lines("finished"), 0);
    assert_eq!(work.lines("elsewhere/finished"), 0);

    // From where it began, it finishes.
    work.runbook(["resume", "blocked.yaml", "--confirm", "finish"])
        .status(0);
    assert_eq!(work.lines("finished"), 1);
    assert_eq!(work.lines("marker"), 1);
}

#[test]
fn resume_continues_a_run_blocked_on_a_confirmation() {
    let work = Work::new();
    work.write("blocked.yaml", BLOCKED);
    work.runbook(["run", "blocked.yaml", "--yes"]).status(3);
    assert_eq!(work.lines("marker"), 1);
    assert_eq!(work.lines("finished"), 0);
    let ran = work
        .runbook(["resume", "blocked.yaml", "--confirm", "finish"])
        .status(0);
    assert_eq!(
        work.lines("marker"),
        1,
        "a passed change ran again:\n{}",
        ran.stdout
    );
    assert_eq!(work.lines("finished"), 1);
}

/// Saves a setting, then fails; the rollback restores it, then runs `undo`.
fn failing(undo: &str, when: &str) -> String {
    format!(
        r#"runbook: failing
steps:
  - id: save
    set_setting: {{ file: app.env, key: API_TOKEN, value: new-value-5678 }}
  - id: boom
    effect: change
    command: "false"
rollback:
  - id: restore
    when: "{when}"
    restore_setting: save
  - id: undo
    when: "{when}"
    effect: change
    command: "{undo}"
"#
    )
}

#[test]
fn a_failed_run_rolled_back_leaves_no_backup_behind() {
    let work = Work::new();
    work.write("app.env", "API_TOKEN=old-value-1234\n");
    work.write("failing.yaml", failing("true", "{{ true }}"));
    let ran = work.runbook(["run", "failing.yaml"]).status(1);
    assert!(ran.stdout.contains("Rolling back"), "{}", ran.stdout);
    assert_eq!(work.read("app.env"), "API_TOKEN=old-value-1234\n");
    let backups = files_under(&work.join(".runbook/failing/backups"));
    assert!(
        backups.is_empty(),
        "the old value kept in clear: {backups:?}"
    );
}

#[test]
fn no_rolling_back_is_announced_when_every_rollback_step_is_skipped() {
    let work = Work::new();
    work.write("app.env", "API_TOKEN=old-value-1234\n");
    work.write("failing.yaml", failing("true", "{{ false }}"));
    let ran = work.runbook(["run", "failing.yaml"]).status(1);
    assert!(!ran.stdout.contains("Rolling back"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("[rollback"), "{}", ran.stdout);
    // The journal still says what happened: a rollback whose steps were skipped.
    let recorded = work.only_journal(".runbook");
    let skipped = recorded
        .iter()
        .filter(|e| e["event"] == "step_finished" && e["outcome"] == "skipped")
        .count();
    assert_eq!(skipped, 2, "{recorded:?}");
}

#[test]
fn a_run_whose_rollback_failed_has_its_own_outcome_and_says_what_was_left_undone() {
    let work = Work::new();
    work.write("app.env", "API_TOKEN=old-value-1234\n");
    work.write("failing.yaml", failing("false", "{{ true }}"));
    let ran = work.runbook(["run", "failing.yaml"]).status(5);
    assert!(
        ran.stdout
            .contains("its rollback failed too: left undone by `undo`"),
        "{}",
        ran.stdout
    );
    let recorded = work.only_journal(".runbook");
    let last = recorded.last().expect("events");
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["outcome"], "rollback_failed");
    assert_eq!(last["exit_code"], 5);
    // What the operator puts back by hand is kept, and said where.
    let backups = files_under(&work.join(".runbook/failing/backups"));
    assert!(!backups.is_empty());
    assert!(ran.stdout.contains("backups are kept in"), "{}", ran.stdout);
    let report = work
        .runbook(["report", "failing.yaml", "--format", "json"])
        .status(0);
    assert!(
        report.stdout.contains("rollback_failed"),
        "{}",
        report.stdout
    );
}

/// A secret read by the first step, then a confirmation only a flag gives.
const SECRET_BLOCKED: &str = r#"runbook: sec
estimate: 10m
inputs:
  token: { secret: true }
steps:
  - id: use
    effect: none
    command:
      run: "true"
      env: { T: "{{ inputs.token }}" }
  - id: finish
    effect: change
    confirm: true
    command: echo ran >> finished
"#;

#[test]
fn status_says_what_is_ahead_who_holds_secrets_and_how_to_resume() {
    let work = Work::new();
    work.write("runbooks/sec.yaml", SECRET_BLOCKED);
    work.runbook(["run", "runbooks/sec.yaml"])
        .env("RUNBOOK_INPUT_TOKEN", "the-token-4321")
        .status(3);

    let status = work.runbook(["status", "runbooks/sec.yaml"]).status(0);
    let said = &status.stdout;
    assert!(said.contains("Still ahead: up to 10m"), "{said}");
    assert!(
        said.contains("Secrets kept at rest for resume by run"),
        "{said}"
    );
    assert!(!said.contains("the-token"), "{said}");
    let overview = work.runbook(["status"]).status(0);
    assert!(
        overview
            .stdout
            .contains("sec holds secrets at rest for resume"),
        "{}",
        overview.stdout
    );
    let json = work
        .runbook(["status", "runbooks/sec.yaml", "--format", "json"])
        .status(0);
    let json: Value = serde_json::from_str(&json.stdout).expect("status JSON");
    assert_eq!(json["secrets_at_rest"].as_array().map(Vec::len), Some(1));

    // The hint, typed as printed, finishes the run.
    let start = said.rfind("Resume with `").expect("a resume hint") + "Resume with `".len();
    let hint = &said[start..start + said[start..].find('`').expect("closing backquote")];
    assert_eq!(hint, "runbook resume runbooks/sec.yaml --confirm finish");
    let words: Vec<&str> = hint.split_whitespace().skip(1).collect();
    work.runbook(&words).status(0);
    assert_eq!(work.lines("finished"), 1);

    let after = work.runbook(["status", "runbooks/sec.yaml"]).status(0);
    assert!(!after.stdout.contains("Resume with"), "{}", after.stdout);
    assert!(!after.stdout.contains("Secrets kept"), "{}", after.stdout);
    assert!(after.stdout.contains("Still ahead: 0m"), "{}", after.stdout);
}

#[test]
fn a_secret_a_step_generated_is_kept_so_resume_can_finish_with_it() {
    let work = Work::new();
    // A password made by the run itself: nobody could give it again.
    work.write(
        "held.yaml",
        r#"runbook: generated
steps:
  - id: password
    effect: none
    secret: true
    command: "printf %s generated-$$-pass"
  - id: hold
    effect: none
    command: 'n=0; while [ ! -f go ] && [ -f held.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f go'
  - id: use
    effect: change
    command:
      run: 'printf %s "$P" > used.txt'
      env: { P: "{{ steps.password.stdout }}" }
"#,
    );
    let mut child = work.runbook(["run", "held.yaml"]).spawn(&work, "first");
    let journal = wait_until_started(&work, ".runbook", "hold", &mut child);
    child.kill().expect("kill -9 the run");
    child.wait().expect("reap the run");
    work.write("go", "");
    let text = std::fs::read_to_string(&journal).expect("read the journal");
    assert!(!text.contains("-pass"), "{text}");

    let ran = work.runbook(["resume", "held.yaml"]).status(0);
    let used = work.read("used.txt");
    assert!(
        used.starts_with("generated-") && used.ends_with("-pass"),
        "{used}"
    );
    assert!(!all(&ran).contains(&used), "{}", all(&ran));
}

#[test]
fn ctrl_c_inside_a_child_runbook_says_once_to_resume_the_parent() {
    let work = Work::new();
    work.write(
        "parent.yaml",
        "runbook: parent\nsteps:\n  - id: inner\n    runbook: child.yaml\n  - id: after\n    effect: change\n    command: echo ran >> after\n",
    );
    work.write(
        "child.yaml",
        "runbook: child\nsteps:\n  - id: hold\n    effect: none\n    command: 'n=0; while [ ! -f go ] && [ -f child.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f go'\n",
    );
    let mut child = work.runbook(["run", "parent.yaml"]).spawn(&work, "first");
    wait_until_started(&work, ".runbook/child", "hold", &mut child);
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
    assert_eq!(wait_for_exit(&mut child), 130);
    let out = work.read("first.out");
    assert_eq!(out.matches("Interrupted").count(), 1, "{out}");
    assert!(
        out.contains("resume with `runbook resume parent.yaml`"),
        "{out}"
    );
    assert!(!out.contains("runbook resume child.yaml"), "{out}");
}
