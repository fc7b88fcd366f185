//! Team state on a real `PostgreSQL` server (`--state`, `RUNBOOK_STATE_URL`,
//! `runbook state init`): each test starts a private cluster
//! (`pg_cluster`), with operators as database roles of their own, and drives
//! the built binary as separate processes — two operators, two "machines" (two
//! checkouts, two state directories).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use std::time::{Duration, Instant};

use crate::approval::{approve_lines, path_with_runbook};
use crate::pg_cluster::{ADMIN, Cluster, DATABASE, PASSWORD};
use crate::support::{Ran, Test, binary};
use crate::tty::Tty;

/// A cluster with the schema set up and the operators `alice` and `bob`.
fn team() -> Option<Cluster> {
    let cluster = Cluster::start()?;
    Test::new()
        .env("RUNBOOK_STATE_URL", &cluster.url(ADMIN))
        .args(["state", "init"])
        .status(0)
        .stdout_has("schema version 1 (it was at 0)");
    cluster.operator("alice");
    cluster.operator("bob");
    Some(cluster)
}

#[test]
fn state_init_is_idempotent_and_refuses_a_newer_schema() {
    let Some(cluster) = team() else { return };
    let again = Test::new()
        .env("RUNBOOK_STATE_URL", &cluster.url(ADMIN))
        .args(["state", "init"])
        .status(0);
    again.stdout_has("at schema version 1 already; nothing to do");
    assert!(!again.stdout.contains(PASSWORD), "{}", again.stdout);
    // A password on the command line is refused: `ps` would show it.
    Test::new()
        .args(["state", "init", &cluster.url(ADMIN)])
        .status(2)
        .stderr_has("RUNBOOK_STATE_URL");
    cluster.admin(
        "INSERT INTO runbook_schema_version (version) VALUES (99)",
        DATABASE,
    );
    let newer = Test::new()
        .env("RUNBOOK_STATE_URL", &cluster.url(ADMIN))
        .args(["state", "init"])
        .status(2);
    newer.stderr_has("schema version 99, this runbook knows up to 1");
}

/// A runbook whose step waits for the file `go` (touching `started` first).
const HOLDS: &str = r#"runbook: rotate
title: Rotate
steps:
  - id: hold
    effect: change
    command: "touch started; while [ ! -e go ]; do sleep 0.1; done"
"#;

/// Three steps; the second records that it began and waits for `go`.
const STEADY: &str = r#"runbook: steady
title: Steady
steps:
  - id: one
    effect: change
    command: "echo one >> ran"
  - id: two
    effect: change
    command: "echo two >> ran; touch at-two; while [ ! -e go ]; do sleep 0.1; done"
  - id: three
    effect: change
    command: "echo three >> ran"
"#;

/// `runbook ARGS` started in `dir` as `role`, not waited for.
fn spawn(dir: &Path, cluster: &Cluster, role: &str, args: &[&str]) -> Child {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .env("RUNBOOK_STATE_URL", cluster.url(role))
        .env_remove("RUNBOOK_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start runbook")
}

/// `runbook ARGS` run in `dir` as `role`, to its end.
fn at(dir: &Path, cluster: &Cluster, role: &str, args: &[&str]) -> Ran {
    Ran::from(
        spawn(dir, cluster, role, args)
            .wait_with_output()
            .expect("wait for runbook"),
    )
}

/// What `runbook run FILE`, run as alice in `dir`, printed when the server
/// was stopped inside a step: once `marker` appears the server stops, then the
/// step is let end (the file `go`).
fn stopped_inside_a_step(cluster: &Cluster, dir: &Path, file: &str, marker: &str) -> Ran {
    let child = spawn(dir, cluster, "alice", &["run", file, "--non-interactive"]);
    wait_for(&dir.join(marker));
    cluster.stop();
    std::fs::write(dir.join("go"), "").expect("let the step end");
    Ran::from(child.wait_with_output().expect("the run ends"))
}

/// Waits for `path` to exist (30 s at most).
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The one run journal of `runbook` in `dir`'s default state directory.
fn journal(dir: &Path, runbook: &str) -> PathBuf {
    let runs = dir.join(".runbook").join(runbook).join("runs");
    let mut journals: Vec<PathBuf> = std::fs::read_dir(&runs)
        .expect("runs/")
        .map(|e| e.expect("an entry").path())
        .collect();
    assert_eq!(journals.len(), 1, "{journals:?}");
    journals.remove(0)
}

fn run_id(journal: &Path) -> String {
    journal
        .file_stem()
        .expect("a journal name")
        .to_string_lossy()
        .into_owned()
}

/// Every line of run `run_id` the database holds, in order, as the admin sees them.
fn rows(cluster: &Cluster, run_id: &str) -> String {
    cluster.admin(
        &format!("SELECT line FROM runbook_events WHERE run_id = '{run_id}' ORDER BY seq"),
        DATABASE,
    )
}

#[test]
fn the_lock_is_held_across_machines_and_released_when_the_holder_is_killed() {
    let Some(cluster) = team() else { return };
    let alice_machine = Test::new().file("rotate.yaml", HOLDS);
    let bob_machine = Test::new().file("rotate.yaml", HOLDS).file("go", "");
    let mut alice = spawn(
        alice_machine.dir(),
        &cluster,
        "alice",
        &["run", "rotate.yaml", "--non-interactive"],
    );
    wait_for(&alice_machine.dir().join("started"));

    let bob = || {
        at(
            bob_machine.dir(),
            &cluster,
            "bob",
            &["run", "rotate.yaml", "--non-interactive"],
        )
    };
    let refused = bob();
    assert_eq!(refused.status, 2, "{}{}", refused.stdout, refused.stderr);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    for needle in [
        "another run of `rotate` is in progress",
        &format!("on host {}", host.trim()),
        &format!("pid {}", alice.id()),
        "database role alice",
    ] {
        assert!(
            refused.stderr.contains(needle),
            "{needle}: {}",
            refused.stderr
        );
    }
    assert!(!refused.stderr.contains(PASSWORD), "{}", refused.stderr);
    assert!(
        !bob_machine.dir().join("started").exists(),
        "bob's step never ran"
    );

    // kill -9: no goodbye to the server, whose session ends with the connection.
    alice.kill().expect("kill -9 alice's run");
    alice.wait().expect("reap it");
    let deadline = Instant::now() + Duration::from_secs(20);
    let through = loop {
        let ran = bob();
        if ran.status != 2 || Instant::now() > deadline {
            break ran;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(through.status, 0, "{}{}", through.stdout, through.stderr);
    assert!(bob_machine.dir().join("started").exists());
}

#[test]
fn the_server_stopped_mid_run_stops_it_before_the_next_step_and_resume_reconciles() {
    let Some(cluster) = team() else { return };
    let machine = Test::new().file("steady.yaml", STEADY);
    let dir = machine.dir();
    let ended = stopped_inside_a_step(&cluster, dir, "steady.yaml", "at-two");
    assert_eq!(ended.status, 4, "{}", ended.stderr);
    ended.stderr_has("stopped taking this run's events, so the run stopped before its next step");
    ended.stderr_has("runbook resume FILE");
    assert_eq!(
        std::fs::read_to_string(dir.join("ran")).unwrap(),
        "one\ntwo\n"
    );

    cluster.start_server();
    let resumed = at(
        dir,
        &cluster,
        "alice",
        &["resume", "steady.yaml", "--non-interactive"],
    );
    assert_eq!(resumed.status, 0, "{}{}", resumed.stdout, resumed.stderr);
    resumed.stdout_has("the team state database lacked 1 event(s) of this run");
    // Step two's result, which the database missed; nothing repeated, nothing lost.
    assert_eq!(
        std::fs::read_to_string(dir.join("ran")).unwrap(),
        "one\ntwo\nthree\n"
    );
    let journal = journal(dir, "steady");
    assert_eq!(
        rows(&cluster, &run_id(&journal)),
        std::fs::read_to_string(&journal).unwrap(),
        "the database holds the journal, line for line"
    );
}

#[test]
fn an_unreachable_database_at_start_runs_nothing() {
    let Some(cluster) = team() else { return };
    let url = cluster.url("alice").replace(
        &format!(":{}/", cluster.port()),
        &format!(":{}/", closed_port()),
    );
    let machine = Test::new()
        .file("steady.yaml", STEADY)
        .env("RUNBOOK_STATE_URL", &url)
        .args(["run", "steady.yaml", "--non-interactive"]);
    let ran = machine.status(4);
    ran.stderr_has("cannot reach the team state database `postgres://alice@127.0.0.1:")
        .stderr_has("nothing ran");
    assert!(!ran.stderr.contains(PASSWORD), "{}", ran.stderr);
    assert!(!machine.dir().join("ran").exists());
    let runs = machine.dir().join(".runbook/steady/runs");
    assert_eq!(
        std::fs::read_dir(&runs).map_or(0, Iterator::count),
        0,
        "no journal was begun"
    );
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

const CHECKLIST: &str = r"runbook: deploy
title: Deploy checklist
phases:
  - id: prep
    title: Preparation
    steps:
      - id: backup
        title: Take a backup
        priority: P1
        estimate: 5m
        manual: Take a backup.
      - id: notify
        title: Tell the team
        estimate: 2m
        manual: Tell the team.
";

#[test]
fn the_status_of_a_checklist_is_the_same_on_both_machines() {
    let Some(cluster) = team() else { return };
    let alice_machine = Test::new().file("deploy.yaml", CHECKLIST).file(
        "answers.yaml",
        "backup: done\nnotify: \"defer: after the release\"\n",
    );
    let ran = at(
        alice_machine.dir(),
        &cluster,
        "alice",
        &[
            "run",
            "deploy.yaml",
            "--answers",
            "answers.yaml",
            "--non-interactive",
            "--operator",
            "Alice",
        ],
    );
    assert_eq!(ran.status, 3, "{}{}", ran.stdout, ran.stderr);
    let bob_machine = Test::new().file("deploy.yaml", CHECKLIST);
    let status = |dir: &Path, role: &str, format: &str| {
        let ran = at(
            dir,
            &cluster,
            role,
            &["status", "deploy.yaml", "--format", format],
        );
        assert_eq!(ran.status, 0, "{}{}", ran.stdout, ran.stderr);
        ran.stdout
    };
    let seen_by_bob = status(bob_machine.dir(), "bob", "human");
    for needle in [
        "done 20",
        "by Alice",
        "deferred: after the release",
        "2 items: 1 done · 1 deferred",
    ] {
        assert!(seen_by_bob.contains(needle), "{needle}:\n{seen_by_bob}");
    }
    assert_eq!(
        status(bob_machine.dir(), "bob", "json"),
        status(alice_machine.dir(), "alice", "json"),
        "both machines see the same status"
    );
    // Without the database, bob's machine knows of no run.
    Test::new()
        .file("deploy.yaml", CHECKLIST)
        .args(["status", "deploy.yaml"])
        .status(0)
        .stdout_has("2 items: 0 done");
    // The report reads the same run from the database, by file or by run id.
    let id = run_id(&journal(alice_machine.dir(), "deploy"));
    for target in ["deploy.yaml", id.as_str()] {
        let report = at(bob_machine.dir(), &cluster, "bob", &["report", target]);
        assert_eq!(report.status, 0, "{}{}", report.stdout, report.stderr);
        report.stdout_has(&id);
        report.stdout_has("after the release");
    }
}

#[test]
fn the_server_refuses_self_approval_forged_identities_and_rewrites_even_by_direct_sql() {
    let Some(cluster) = team() else { return };
    let machine = Test::new().file("steady.yaml", STEADY).file("go", "");
    let ran = at(machine.dir(), &cluster, "alice", &["run", "steady.yaml"]);
    assert_eq!(ran.status, 0, "{}{}", ran.stdout, ran.stderr);
    let id = run_id(&journal(machine.dir(), "steady"));
    let sql = |role: &str, sql: &str| {
        let output = cluster.psql(role, sql);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let approve = |approver: &str| {
        format!(
            "INSERT INTO runbook_approvals (run_id, step, runbook_hash, target, decision, approver, decided_at)
             VALUES ('{id}', 'three', 'h', 't', 'approved', '{approver}', now())"
        )
    };
    let (ok, _, stderr) = sql(
        "alice",
        &format!(
            "INSERT INTO runbook_approval_requests (run_id, step, request, requested_by, requested_at)
             VALUES ('{id}', 'three', '{{\"from\": [\"alice\", \"bob\"]}}', 'bob', now())"
        ),
    );
    assert!(ok, "{stderr}");
    // The operator, bypassing runbook, claiming to be bob.
    let (ok, _, stderr) = sql("alice", &approve("bob"));
    assert!(!ok, "alice approved her own run");
    assert!(
        stderr.contains("self-approval refused: alice runs"),
        "{stderr}"
    );
    // Bob may approve; whatever name he writes, the row says bob.
    let (ok, _, stderr) = sql("bob", &approve("carol"));
    assert!(ok, "{stderr}");
    let (_, approver, _) = sql(
        "bob",
        &format!("SELECT approver FROM runbook_approvals WHERE run_id = '{id}'"),
    );
    assert_eq!(approver, "bob");
    // Nobody writes into another's run, and nothing written is rewritten.
    let (ok, _, stderr) = sql(
        "bob",
        &format!(
            "INSERT INTO runbook_events (run_id, seq, line, hash, written_by, written_at) VALUES ('{id}', 99, '{{}}', '', 'alice', now())"
        ),
    );
    assert!(!ok);
    assert!(
        stderr.contains("are written by its operator alice, not by bob"),
        "{stderr}"
    );
    for role in ["alice", "bob"] {
        for change in [
            "UPDATE runbook_events SET line = line",
            "DELETE FROM runbook_approvals",
            "TRUNCATE runbook_runs CASCADE",
        ] {
            let (ok, _, stderr) = sql(role, change);
            assert!(!ok, "{role}: {change} went through");
            assert!(stderr.contains("permission denied"), "{stderr}");
        }
    }
    // Even the owner cannot rewrite history: the triggers refuse.
    for change in [
        "UPDATE runbook_events SET line = line",
        "DELETE FROM runbook_approvals",
    ] {
        let output = cluster.psql(ADMIN, change);
        assert!(
            !output.status.success(),
            "{change} went through for the owner"
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("runbook state is append-only"),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_run_is_resumed_on_the_machine_it_started_on() {
    let Some(cluster) = team() else { return };
    let blocked = r#"runbook: gated
steps:
  - id: first
    effect: change
    command: "true"
  - id: later
    manual: Do it by hand.
"#;
    let alice_machine = Test::new().file("gated.yaml", blocked);
    let ran = at(
        alice_machine.dir(),
        &cluster,
        "alice",
        &["run", "gated.yaml", "--non-interactive"],
    );
    assert_eq!(ran.status, 3, "{}{}", ran.stdout, ran.stderr);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let elsewhere = at(
        Test::new().file("gated.yaml", blocked).dir(),
        &cluster,
        "bob",
        &["resume", "gated.yaml", "--non-interactive"],
    );
    assert_eq!(
        elsewhere.status, 2,
        "{}{}",
        elsewhere.stdout, elsewhere.stderr
    );
    for needle in [
        "was started on host",
        host.trim(),
        "database role alice",
        "it is resumed there",
    ] {
        assert!(
            elsewhere.stderr.contains(needle),
            "{needle}: {}",
            elsewhere.stderr
        );
    }
    let resumed = at(
        alice_machine.dir(),
        &cluster,
        "alice",
        &["resume", "gated.yaml", "--yes"],
    );
    assert_eq!(resumed.status, 0, "{}{}", resumed.stdout, resumed.stderr);
}

#[test]
fn no_secret_reaches_the_database_nor_the_commands_environment() {
    const TOKEN: &str = "tok-9f8e7d6c5b4a-SECRET";
    let Some(cluster) = team() else { return };
    let runbook = r#"runbook: secretive
inputs:
  token: { secret: true }
steps:
  - id: use
    effect: probe
    command:
      run: 'echo "token=$TOKEN"'
      env: { TOKEN: "{{ inputs.token }}" }
  - id: environment
    effect: probe
    command: env > env.txt
  - id: wait
    manual: Later.
"#;
    let machine = Test::new().file("secretive.yaml", runbook);
    let output = Command::new(binary())
        .args(["run", "secretive.yaml", "--non-interactive"])
        .current_dir(machine.dir())
        .env("RUNBOOK_STATE_URL", cluster.url("alice"))
        .env("RUNBOOK_INPUT_TOKEN", TOKEN)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("token=••••CRET"), "{stdout}");
    // The state URL (with its password) is not in a command's environment.
    let environment = std::fs::read_to_string(machine.dir().join("env.txt")).unwrap();
    assert!(environment.contains("PATH="), "{environment}");
    assert!(!environment.contains("RUNBOOK_STATE_URL"), "{environment}");
    assert!(!environment.contains(PASSWORD), "{environment}");
    let everything = cluster.admin(
        "SELECT string_agg(line, E'\\n') FROM runbook_events
         UNION ALL SELECT string_agg(r::text, E'\\n') FROM runbook_runs r
         UNION ALL SELECT string_agg(h::text, E'\\n') FROM runbook_lock_holders h",
        DATABASE,
    );
    assert!(
        everything.contains("token=••••CRET"),
        "the rows hold the run:\n{everything}"
    );
    for form in [
        TOKEN.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(TOKEN),
        PASSWORD.to_owned(),
    ] {
        assert!(
            !everything.contains(&form),
            "{form} reached the database:\n{everything}"
        );
        assert!(!stdout.contains(&form), "{form} was shown:\n{stdout}");
    }
    // The secret the run keeps for resume stays on this machine.
    assert!(machine.dir().join(".runbook/secretive/secrets").is_dir());
}

#[test]
fn approvals_on_the_server_name_the_role_and_a_changed_runbook_voids_them() {
    use runbook::approval::tally::tally;
    use runbook::approval::{ApprovalError, ApprovalStore, Binding, NewRequest, Verdict};
    use runbook::postgres::StateUrl;
    use runbook::postgres::approvals::PgStore;

    let Some(cluster) = team() else { return };
    cluster.operator("dave");
    let machine = Test::new().file("steady.yaml", STEADY).file("go", "");
    let ran = at(machine.dir(), &cluster, "alice", &["run", "steady.yaml"]);
    assert_eq!(ran.status, 0, "{}{}", ran.stdout, ran.stderr);
    let id = run_id(&journal(machine.dir(), "steady"));
    let store = |role: &str| {
        PgStore::connect(&StateUrl::parse(&cluster.url(role)).unwrap(), "steady")
            .expect("connect the approval store")
    };
    let (alice, bob, dave) = (store("alice"), store("bob"), store("dave"));
    let binding = Binding {
        run_id: id.clone(),
        step: "three".to_owned(),
        runbook_sha256: runbook::eval::load::sha256_hex(STEADY.as_bytes()),
        target: "$ echo three >> ran".to_owned(),
    };
    let asked = NewRequest {
        binding: binding.clone(),
        runbook: "steady".to_owned(),
        title: "three".to_owned(),
        count: 1,
        from: vec!["alice".to_owned(), "bob".to_owned(), "carol".to_owned()],
        message: Some("Run three?".to_owned()),
        evidence: Vec::new(),
    };
    // Only the run's operator asks; the server says who that is.
    assert!(matches!(
        bob.request(asked.clone()),
        Err(ApprovalError::Store { .. })
    ));
    let request = alice.request(asked).expect("alice asks");
    assert_eq!(request.requested_by, "alice");
    assert_eq!(
        bob.find_request(None, "three").unwrap().as_ref(),
        Some(&request),
        "bob sees what alice asked"
    );

    let refused = alice.decide(&binding, Verdict::Approved).unwrap_err();
    assert!(
        matches!(refused, ApprovalError::SelfApproval { .. }),
        "{refused:?}"
    );
    let refused = dave.decide(&binding, Verdict::Approved).unwrap_err();
    assert!(
        matches!(refused, ApprovalError::NotAnApprover { .. }),
        "{refused:?}"
    );
    let decision = bob
        .decide(&binding, Verdict::Approved)
        .expect("bob approves");
    assert_eq!(decision.approver, "bob");
    let again = bob.decide(&binding, Verdict::Approved).unwrap_err();
    assert!(
        matches!(again, ApprovalError::AlreadyDecided { .. }),
        "{again:?}"
    );

    let operators = ["alice".to_owned()];
    let decisions = alice.decisions(&id, "three").unwrap();
    assert_eq!(decisions.decisions.len(), 1);
    assert!(tally(&request, &operators, &binding, &decisions).approved());
    // The runbook changed since bob approved: his approval is void.
    let changed = Binding {
        runbook_sha256: runbook::eval::load::sha256_hex(b"runbook: steady # changed\n"),
        ..binding.clone()
    };
    let judged = tally(&request, &operators, &changed, &decisions);
    assert!(!judged.approved());
    assert!(
        judged.not_counted[0].contains("the approval by bob")
            && judged.not_counted[0].contains("is void: it approved the runbook with sha256"),
        "{:?}",
        judged.not_counted
    );
}

#[test]
fn the_server_stopped_as_a_run_ends_is_said_and_resume_writes_the_end() {
    let Some(cluster) = team() else { return };
    let machine = Test::new().file("rotate.yaml", HOLDS);
    let dir = machine.dir();
    let ended = stopped_inside_a_step(&cluster, dir, "rotate.yaml", "started");
    assert_eq!(ended.status, 4, "{}", ended.stderr);
    ended.stderr_has("stopped taking this run's events, as it ended");
    cluster.start_server();
    let resumed = at(dir, &cluster, "alice", &["resume", "rotate.yaml"]);
    assert_eq!(resumed.status, 2, "{}{}", resumed.stdout, resumed.stderr);
    resumed.stderr_has("had ended, so there is nothing to resume; the 2 event(s) of it the team state database lacked are written there now");
    let journal = journal(dir, "rotate");
    assert_eq!(
        rows(&cluster, &run_id(&journal)),
        std::fs::read_to_string(&journal).unwrap()
    );
    let status = at(dir, &cluster, "bob", &["status", "rotate.yaml"]);
    status.stdout_has("passed");
}

#[test]
fn a_run_superseded_while_its_database_was_away_is_never_resumed() {
    let Some(cluster) = team() else { return };
    let alice_machine = Test::new().file("steady.yaml", STEADY);
    let dir = alice_machine.dir();
    let child = spawn(
        dir,
        &cluster,
        "alice",
        &["run", "steady.yaml", "--non-interactive"],
    );
    wait_for(&dir.join("at-two"));
    cluster.stop();
    std::fs::write(dir.join("go"), "").expect("let step two end");
    assert_eq!(
        child
            .wait_with_output()
            .expect("the run ends")
            .status
            .code(),
        Some(4)
    );
    cluster.start_server();
    // The lock went with alice's connection: bob runs the runbook anew.
    let bob_machine = Test::new().file("steady.yaml", STEADY).file("go", "");
    let ran = at(bob_machine.dir(), &cluster, "bob", &["run", "steady.yaml"]);
    assert_eq!(ran.status, 0, "{}{}", ran.stdout, ran.stderr);
    let resumed = at(dir, &cluster, "alice", &["resume", "steady.yaml"]);
    assert_eq!(resumed.status, 2, "{}{}", resumed.stdout, resumed.stderr);
    resumed
        .stderr_has("is superseded in the team state database: run")
        .stderr_has("(database role bob)");
    assert_eq!(
        std::fs::read_to_string(dir.join("ran")).unwrap(),
        "one\ntwo\n"
    );
}

#[test]
fn an_abandoned_run_is_over_for_the_whole_team() {
    let Some(cluster) = team() else { return };
    let blocked = "runbook: gated\nsteps:\n  - id: later\n    manual: Do it by hand.\n";
    let alice_machine = Test::new().file("gated.yaml", blocked);
    let ran = at(
        alice_machine.dir(),
        &cluster,
        "alice",
        &["run", "gated.yaml", "--non-interactive"],
    );
    assert_eq!(ran.status, 3, "{}{}", ran.stdout, ran.stderr);
    let abandoned = at(
        alice_machine.dir(),
        &cluster,
        "alice",
        &["abandon", "gated.yaml"],
    );
    assert_eq!(
        abandoned.status, 0,
        "{}{}",
        abandoned.stdout, abandoned.stderr
    );
    let bob_machine = Test::new().file("gated.yaml", blocked);
    let resumed = at(
        bob_machine.dir(),
        &cluster,
        "bob",
        &["resume", "gated.yaml"],
    );
    assert_eq!(resumed.status, 2, "{}{}", resumed.stdout, resumed.stderr);
    resumed.stderr_has("there is no unfinished run of `gated` to resume");
    let status = at(
        bob_machine.dir(),
        &cluster,
        "bob",
        &["status", "gated.yaml"],
    );
    status.stdout_has("abandoned");
}

#[test]
fn a_checklist_that_runs_a_child_runbook_is_seen_with_the_childs_outcome() {
    let Some(cluster) = team() else { return };
    let parent = r"runbook: release
phases:
  - id: only
    title: Only
    steps:
      - id: kid
        title: Run the child
        runbook: kid.yaml
";
    let kid = "runbook: kid\nsteps:\n  - id: work\n    effect: change\n    command: \"echo kid >> ran\"\n";
    let machine = Test::new()
        .file("release.yaml", parent)
        .file("kid.yaml", kid);
    let ran = at(machine.dir(), &cluster, "alice", &["run", "release.yaml"]);
    assert_eq!(ran.status, 0, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(
        std::fs::read_to_string(machine.dir().join("ran")).unwrap(),
        "kid\n"
    );
    let runs = cluster.admin("SELECT runbook FROM runbook_runs", DATABASE);
    assert_eq!(
        runs.trim(),
        "release",
        "the child run is journaled locally only"
    );
    let elsewhere = Test::new()
        .file("release.yaml", parent)
        .file("kid.yaml", kid);
    let status = at(
        elsewhere.dir(),
        &cluster,
        "bob",
        &["status", "release.yaml"],
    );
    assert_eq!(status.status, 0, "{}{}", status.stdout, status.stderr);
    status.stdout_has(": 1 done");
}

/// An irreversible step that alice or bob must approve.
const APPROVED: &str = r#"runbook: rb
steps:
  - id: check
    effect: probe
    command: "true"
  - id: revoke
    needs: [check]
    effect: irreversible
    approve: { count: 1, from: [alice, bob] }
    confirm: true
    command: "echo revoked >> revoked.txt"
"#;

#[test]
fn a_step_is_approved_from_another_machine_by_another_role_never_by_the_operator() {
    let Some(cluster) = team() else { return };
    let alice_machine = Test::new().file("rb.yaml", APPROVED);
    let dir = alice_machine.dir();
    let first = at(
        dir,
        &cluster,
        "alice",
        &["run", "rb.yaml", "--confirm", "revoke"],
    );
    assert_eq!(first.status, 3, "{}{}", first.stdout, first.stderr);
    first.stdout_has("waiting for 1 approval from bob");
    let id = run_id(&journal(dir, "rb"));
    let approve = ["approve", "rb.yaml", "revoke", "--run", id.as_str()];
    // The operator's own role: refused, whatever the client is told.
    let own = at(dir, &cluster, "alice", &approve);
    assert_eq!(own.status, 2, "{}{}", own.stdout, own.stderr);
    own.stderr_has("alice asked for this approval");
    // Bob reading another runbook than the one the run runs: refused.
    let changed = Test::new().file("rb.yaml", format!("{APPROVED}# changed\n"));
    let void = at(changed.dir(), &cluster, "bob", &approve);
    assert_eq!(void.status, 2, "{}{}", void.stdout, void.stderr);
    void.stderr_has("has sha256");
    // Bob, on his machine, with the runbook the run runs.
    let bob_machine = Test::new().file("rb.yaml", APPROVED);
    let approved = at(bob_machine.dir(), &cluster, "bob", &approve);
    assert_eq!(approved.status, 0, "{}{}", approved.stdout, approved.stderr);
    assert_eq!(
        cluster
            .admin("SELECT approver FROM runbook_approvals", DATABASE)
            .trim(),
        "bob"
    );
    let resumed = at(
        dir,
        &cluster,
        "alice",
        &["resume", "rb.yaml", "--confirm", "revoke"],
    );
    assert_eq!(resumed.status, 0, "{}{}", resumed.stdout, resumed.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("revoked.txt")).unwrap(),
        "revoked\n"
    );
}

#[test]
fn a_child_runbooks_step_is_approved_through_the_top_level_run_in_the_database() {
    let Some(cluster) = team() else { return };
    let parent = "runbook: release\nsteps:\n  - id: kid\n    runbook: rb.yaml\n";
    let alice_machine = Test::new()
        .file("release.yaml", parent)
        .file("rb.yaml", APPROVED);
    let dir = alice_machine.dir();
    let first = at(
        dir,
        &cluster,
        "alice",
        &["run", "release.yaml", "--confirm", "kid.revoke"],
    );
    assert_eq!(first.status, 3, "{}{}", first.stdout, first.stderr);
    let id = run_id(&journal(dir, "release"));
    let bob_machine = Test::new()
        .file("release.yaml", parent)
        .file("rb.yaml", APPROVED);
    let approved = at(
        bob_machine.dir(),
        &cluster,
        "bob",
        &[
            "approve",
            "release.yaml",
            "kid.revoke",
            "--run",
            id.as_str(),
        ],
    );
    assert_eq!(approved.status, 0, "{}{}", approved.stdout, approved.stderr);
    let resumed = at(
        dir,
        &cluster,
        "alice",
        &["resume", "release.yaml", "--confirm", "kid.revoke"],
    );
    assert_eq!(resumed.status, 0, "{}{}", resumed.stdout, resumed.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("revoked.txt")).unwrap(),
        "revoked\n"
    );
}

/// `line` (a command a run printed, `runbook …`) run by `sh` as printed, in
/// `dir` as `role`.
fn at_line(dir: &Path, cluster: &Cluster, role: &str, line: &str) -> Ran {
    let output = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path_with_runbook(dir))
        .env("RUNBOOK_STATE_URL", cluster.url(role))
        .env_remove("RUNBOOK_STATE_DIR")
        .stdin(Stdio::null())
        .output()
        .expect("run sh");
    Ran {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn each_item_of_a_fan_out_child_is_approved_on_its_own_in_the_database() {
    let Some(cluster) = team() else { return };
    let parent = "runbook: release\nsteps:\n  - id: kid\n    for_each: [a, b]\n    runbook: rb.yaml\n    with: { target: \"{{ item }}\" }\n";
    let child = r#"runbook: rb
inputs:
  target: {}
steps:
  - id: check
    effect: probe
    command: "true"
  - id: revoke
    needs: [check]
    effect: change
    approve: { count: 1, from: [alice, bob] }
    command: "echo {{ inputs.target }} >> revoked.txt"
"#;
    let alice_machine = Test::new()
        .file("release.yaml", parent)
        .file("rb.yaml", child);
    let dir = alice_machine.dir();
    let first = at(dir, &cluster, "alice", &["run", "release.yaml"]);
    assert_eq!(first.status, 3, "{}{}", first.stdout, first.stderr);
    let lines = approve_lines(&first.stdout);
    assert_eq!(lines.len(), 2, "{}", first.stdout);
    assert!(lines[0].contains(r#"'kid["a"].revoke'"#), "{lines:?}");
    assert!(lines[1].contains(r#"'kid["b"].revoke'"#), "{lines:?}");
    let bob_machine = Test::new()
        .file("release.yaml", parent)
        .file("rb.yaml", child);
    // Alice's own role cannot approve either item, even named right.
    let own = at_line(dir, &cluster, "alice", &lines[0]);
    assert_eq!(own.status, 2, "{}{}", own.stdout, own.stderr);
    let approved = at_line(bob_machine.dir(), &cluster, "bob", &lines[0]);
    assert_eq!(approved.status, 0, "{}{}", approved.stdout, approved.stderr);
    assert_eq!(
        cluster
            .admin(
                "SELECT step || ' ' || approver || ' ' || target FROM runbook_approvals",
                DATABASE
            )
            .trim(),
        r#"kid["a"].revoke bob $ echo a >> revoked.txt"#
    );
    let resume = ["resume", "release.yaml"];
    let second = at(dir, &cluster, "alice", &resume);
    assert_eq!(second.status, 3, "{}{}", second.stdout, second.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("revoked.txt")).unwrap(),
        "a\n"
    );
    // Bob sees, from his machine, that item a is approved and b is not.
    let status = at(
        bob_machine.dir(),
        &cluster,
        "bob",
        &["status", "release.yaml"],
    );
    assert_eq!(status.status, 0, "{}{}", status.stdout, status.stderr);
    status.stdout_has(r#"kid["a"].revoke approved by bob"#);
    assert!(
        !status.stdout.contains(r#"kid["b"].revoke approved"#),
        "{}",
        status.stdout
    );
    let lines = approve_lines(&second.stdout);
    assert_eq!(lines.len(), 1, "{}", second.stdout);
    assert!(lines[0].contains(r#"'kid["b"].revoke'"#), "{lines:?}");
    let approved = at_line(bob_machine.dir(), &cluster, "bob", &lines[0]);
    assert_eq!(approved.status, 0, "{}{}", approved.stdout, approved.stderr);
    let done = at(dir, &cluster, "alice", &resume);
    assert_eq!(done.status, 0, "{}{}", done.stdout, done.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("revoked.txt")).unwrap(),
        "a\nb\n"
    );
    let report = at(
        bob_machine.dir(),
        &cluster,
        "bob",
        &["report", "release.yaml", "--format", "markdown"],
    );
    assert_eq!(report.status, 0, "{}{}", report.stdout, report.stderr);
    report.stdout_has(r#"`kid` (`kid["a"].revoke`): approved by bob at "#);
    report.stdout_has(r#"`kid` (`kid["b"].revoke`): approved by bob at "#);
}

/// The production checklist of the issue's "done means": a child runbook
/// rotates a token, and its irreversible revoke needs bob's approval.
const RELEASE: &str = r#"runbook: release
title: Production release
steps:
  - id: tests_green
    title: The release candidate's tests are green
    effect: probe
    command: "true"
  - id: rotate
    title: Rotate the service token
    needs: [tests_green]
    runbook: rotate.yaml
  - id: smoke
    title: The service answers with the new token
    needs: [rotate]
    effect: probe
    command: cat service.env
    expect: { stdout: { contains: "TOKEN=" } }
"#;

const ROTATE: &str = r#"runbook: rotate
title: Rotate the service token
steps:
  - id: new_token
    generate_secret: { length: 32 }
  - id: save
    effect: change
    set_setting: { file: service.env, key: TOKEN, value: "{{ steps.new_token.value }}" }
  - id: verify
    needs: [save]
    effect: probe
    command: cat service.env
    expect: { stdout: { contains: "TOKEN=" } }
  - id: revoke_old
    title: Revoke the old token
    needs: [{ step: verify, within: 30m }]
    effect: irreversible
    approve: { count: 1, from: [bob], message: "Revoke the old token?" }
    confirm: { phrase: revoke }
    command: "echo revoked >> revoked.txt"
"#;

/// The issue's "done means", end to end: alice runs the release checklist at
/// her terminal and waits at the revoke; bob, on his own machine, sees where it
/// stands, approves from his terminal; alice's run goes on by itself once he has,
/// she types the confirmation, and both see the same finished checklist with who
/// approved what.
#[test]
fn two_people_on_two_machines_run_the_release_together() {
    let Some(cluster) = team() else { return };
    let machine = || {
        Test::new()
            .file("release.yaml", RELEASE)
            .file("rotate.yaml", ROTATE)
    };
    let (alice_machine, bob_machine) = (machine(), machine());
    let mut command = Command::new(binary());
    command
        .args(["run", "release.yaml"])
        .current_dir(alice_machine.dir())
        .env("RUNBOOK_STATE_URL", cluster.url("alice"))
        .env_remove("RUNBOOK_STATE_DIR")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    let mut alice = Tty::spawn(command, 60_000);
    alice.wait("waiting for 1 approval from bob");
    assert!(!alice_machine.dir().join("revoked.txt").exists());
    let status = |dir: &Path, role: &str| {
        let ran = at(
            dir,
            &cluster,
            role,
            &["status", "release.yaml", "--format", "json"],
        );
        assert_eq!(ran.status, 0, "{}{}", ran.stdout, ran.stderr);
        ran.stdout
    };
    let waiting = status(bob_machine.dir(), "bob");
    assert_eq!(waiting, status(alice_machine.dir(), "alice"));
    assert!(waiting.contains("\"tests_green\""), "{waiting}");
    // Bob approves at his own terminal, naming the step as the run printed it.
    let mut approve = Command::new(binary());
    approve
        .args(["approve", "release.yaml", "rotate.revoke_old"])
        .current_dir(bob_machine.dir())
        .env("RUNBOOK_STATE_URL", cluster.url("bob"))
        .env_remove("RUNBOOK_STATE_DIR")
        .env("TERM", "xterm");
    let (shown, code) = Tty::spawn(approve, 60_000).finish();
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("Revoke the old token?"), "{shown}");
    alice.wait("approved by bob");
    alice.wait("type revoke to confirm");
    alice.line("revoke");
    let (screen, code) = alice.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        std::fs::read_to_string(alice_machine.dir().join("revoked.txt")).unwrap(),
        "revoked\n"
    );
    let done = status(bob_machine.dir(), "bob");
    assert_eq!(
        done,
        status(alice_machine.dir(), "alice"),
        "both see the same"
    );
    let human = at(
        bob_machine.dir(),
        &cluster,
        "bob",
        &["status", "release.yaml"],
    );
    human.stdout_has("3 items: 3 done");
    human.stdout_has("rotate.revoke_old approved by bob");
    let report = at(
        bob_machine.dir(),
        &cluster,
        "bob",
        &["report", "release.yaml", "--format", "markdown"],
    );
    report.stdout_has("`rotate` (`rotate.revoke_old`): approved by bob at ");
}
