//! `runbook status`, `runbook graph` and `runbook report` on journals of real
//! runs: the built binary runs a runbook (against a loopback HTTP server when it
//! needs one), then the overview commands read what it wrote. Graphviz renders
//! the DOT output and headless Chromium renders the HTML report, as a reader's
//! tools would; CI installs both (`.ci/run`). Without them, those two tests skip
//! with a notice ([`outside_tool`](crate::support::outside_tool)).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Ran, binary, outside_tool, repo};

/// The secret the runs are given; it must never appear in anything shown.
const SECRET: &str = "s3cr3t-overview-token-9f7e";
const SECRET_LAST4: &str = "••••9f7e";

/// `runbook ARGS…` in `dir`, with the state kept in `dir/state` and `USER=ana`.
fn runbook(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut command = Command::new(binary());
    command
        .args(args)
        .current_dir(dir)
        .env("USER", "ana")
        .env("NO_COLOR", "1")
        .env_remove("RUNBOOK_STATE_DIR")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run the runbook binary");
    Ran {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn expect_status(ran: &Ran, status: i32, what: &str) {
    assert_eq!(
        ran.status, status,
        "{what}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        ran.stdout, ran.stderr
    );
}

fn write(dir: &Path, relative: &str, contents: &str) -> PathBuf {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dirs");
    }
    std::fs::write(&path, contents).expect("write a test file");
    path
}

/// A loopback HTTP server that answers every request: `/health` with
/// `{"status":"ok"}`, anything else with a Cloudflare-style zone list.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let address = listener.local_addr().expect("a local address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let body = if first.contains("/health") {
                r#"{"status":"ok"}"#
            } else {
                r#"{"success":true,"result":[{"id":"z1","name":"example.com"}]}"#
            };
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{address}")
}

/// The seed's checklist item — "Cloudflare API Token Rotation · Priority: P1 ·
/// Time: 15 minutes · Status: Deferred until production deployment" — as a
/// manual checklist item, with work done before it and blocked after it.
const CHECKLIST: &str = r#"
runbook: launch-checklist
title: Launch checklist
priority: P1
estimate: 1h
phases:
  - id: security
    title: "Phase 1: Security hardening"
    steps:
      - id: env_file_private
        title: The env file is private
        priority: P2
        estimate: 1m
        effect: probe
        command: "true"
      - id: cloudflare_token_rotation
        title: Cloudflare API token rotation
        priority: P1
        estimate: 15m
        guide: docs/CLOUDFLARE_TOKEN_ROTATION_GUIDE.md
        manual: Rotate the token (docs/CLOUDFLARE_TOKEN_ROTATION_GUIDE.md).
      - id: review_security_fix
        title: Review the token security fix
        needs: [cloudflare_token_rotation]
        priority: P1
        estimate: 10m
        manual: Review CLOUDFLARE_TOKEN_SECURITY_FIX.md.
  - id: release
    title: "Phase 2: Release"
    steps:
      - id: deploy
        title: Deploy the release
        priority: P1
        estimate: 20m
        manual: Deploy.
      - id: announce
        title: Announce the launch
        priority: P3
        manual: Tell everyone.
"#;

/// Runs the checklist with the seed's deferral in an answers file.
fn deferred_checklist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    write(dir.path(), "runbooks/launch-checklist.yaml", CHECKLIST);
    write(
        dir.path(),
        "answers.yaml",
        "cloudflare_token_rotation: \"defer: until production deployment\"\n",
    );
    let ran = runbook(
        dir.path(),
        &[
            "run",
            "runbooks/launch-checklist.yaml",
            "--answers",
            "answers.yaml",
            "--yes",
            "--non-interactive",
        ],
        &[],
    );
    // A deferred item ends the run "blocked, deferred or not confirmed".
    expect_status(&ran, 3, "the run with a deferred item");
    dir
}

fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_owned()
}

#[test]
fn status_shows_the_seed_deferral_with_its_reason_and_date() {
    let dir = deferred_checklist();
    let ran = runbook(
        dir.path(),
        &["status", "runbooks/launch-checklist.yaml"],
        &[],
    );
    expect_status(&ran, 0, "status");
    let out = &ran.stdout;
    let day = today();
    let line = |id: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {id} ")))
            .unwrap_or_else(|| panic!("no line for {id}:\n{out}"))
            .to_owned()
    };
    assert!(out.contains("Launch checklist · P1 · estimate 1h"), "{out}");
    assert!(out.contains("Phase 1: Security hardening"), "{out}");
    assert!(out.contains("Phase 2: Release"), "{out}");
    let deferred = line("cloudflare_token_rotation");
    assert!(deferred.trim_start().starts_with('⏸'), "{deferred}");
    assert!(
        deferred.contains(&format!(
            "P1  15m  deferred: until production deployment ({day})"
        )),
        "{deferred}"
    );
    let done = line("env_file_private");
    assert!(done.trim_start().starts_with('✓'), "{done}");
    assert!(done.contains(&format!("done {day} by ana")), "{done}");
    let blocked = line("review_security_fix");
    assert!(blocked.trim_start().starts_with('⛔'), "{blocked}");
    assert!(
        blocked.contains("blocked: `cloudflare_token_rotation` is deferred, not passed"),
        "{blocked}"
    );
    assert!(line("deploy").contains(&format!("done {day} by ana")));
    assert!(
        line("announce").contains("P3  -    done"),
        "{}",
        line("announce")
    );
    // Columns line up, whatever width the marks have.
    let columns: Vec<usize> = [
        "env_file_private",
        "cloudflare_token_rotation",
        "review_security_fix",
    ]
    .iter()
    .map(|id| console_column(&line(id), id))
    .collect();
    assert!(columns.iter().all(|c| *c == columns[0]), "{out}");
    assert!(
        out.contains("5 items: 3 done · 1 deferred · 1 blocked · 0 failed · 0 pending"),
        "{out}"
    );
    // Not done: the deferred 15m and the blocked 10m.
    assert!(out.contains("Still ahead: 25m"), "{out}");
}

/// The display column where `id` starts in `line`.
fn console_column(line: &str, id: &str) -> usize {
    let byte = line.find(id).unwrap_or(0);
    line[..byte]
        .chars()
        .map(|c| if c == '⛔' { 2 } else { 1 })
        .sum()
}

#[test]
fn status_as_json_and_markdown() {
    let dir = deferred_checklist();
    let ran = runbook(
        dir.path(),
        &[
            "status",
            "runbooks/launch-checklist.yaml",
            "--format",
            "json",
        ],
        &[],
    );
    expect_status(&ran, 0, "status --format json");
    let json: Value = serde_json::from_str(&ran.stdout).expect("status JSON");
    assert_eq!(json["runbook"], "launch-checklist");
    assert_eq!(json["checklist"], true);
    assert_eq!(json["run"]["state"], "blocked");
    assert_eq!(json["run"]["operator"], "ana");
    let items = json["phases"][0]["items"].as_array().expect("items");
    let deferred = &items[1];
    assert_eq!(deferred["id"], "cloudflare_token_rotation");
    assert_eq!(deferred["status"], "deferred");
    assert_eq!(deferred["priority"], "P1");
    assert_eq!(deferred["estimate"], "15m");
    assert_eq!(deferred["estimate_seconds"], 900);
    assert_eq!(deferred["reason"], "until production deployment");
    assert!(
        deferred["at"]
            .as_str()
            .is_some_and(|a| a.starts_with(&today()))
    );
    assert_eq!(items[2]["status"], "blocked");
    assert_eq!(json["totals"]["done"], 3);
    assert_eq!(json["totals"]["deferred"], 1);
    assert_eq!(json["totals"]["blocked"], 1);
    assert_eq!(json["totals"]["ahead_seconds"], 25 * 60);

    let ran = runbook(
        dir.path(),
        &[
            "status",
            "runbooks/launch-checklist.yaml",
            "--format",
            "markdown",
        ],
        &[],
    );
    expect_status(&ran, 0, "status --format markdown");
    let md = &ran.stdout;
    assert!(md.starts_with("# Launch checklist\n"), "{md}");
    assert!(md.contains("## Phase 1: Security hardening"), "{md}");
    assert!(
        md.contains(&format!(
            "| ⏸ | Cloudflare API token rotation (`cloudflare_token_rotation`) | P1 | 15m | deferred: until production deployment ({}) |",
            today()
        )),
        "{md}"
    );
    assert!(md.contains("**Still ahead: 25m"), "{md}");
}

#[test]
fn status_before_any_run_has_everything_pending() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write(dir.path(), "runbooks/launch-checklist.yaml", CHECKLIST);
    let ran = runbook(
        dir.path(),
        &["status", "runbooks/launch-checklist.yaml"],
        &[],
    );
    expect_status(&ran, 0, "status");
    assert!(ran.stdout.contains("no runs yet"), "{}", ran.stdout);
    assert!(
        ran.stdout
            .contains("5 items: 0 done · 0 deferred · 0 blocked · 0 failed · 5 pending"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("Still ahead: 46m (+ 1 item without an estimate)"),
        "{}",
        ran.stdout
    );
}

#[test]
fn status_without_a_file_lists_every_runbook_with_its_last_run() {
    let dir = deferred_checklist();
    write(
        dir.path(),
        "runbooks/other.yaml",
        "runbook: other\nsteps:\n  - id: look\n    effect: probe\n    command: \"true\"\n",
    );
    let ran = runbook(dir.path(), &["status"], &[]);
    expect_status(&ran, 0, "status");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert!(lines[0].starts_with("RUNBOOK"), "{}", ran.stdout);
    let checklist = lines
        .iter()
        .find(|l| l.starts_with("launch-checklist"))
        .expect("the checklist's line");
    assert!(checklist.contains("blocked"), "{checklist}");
    assert!(checklist.contains("3/5 done"), "{checklist}");
    assert!(checklist.contains(&today()), "{checklist}");
    let other = lines
        .iter()
        .find(|l| l.starts_with("other"))
        .expect("the other runbook's line");
    assert!(other.contains("never run"), "{other}");

    let ran = runbook(dir.path(), &["status", "--format", "json"], &[]);
    expect_status(&ran, 0, "status --format json");
    let json: Value = serde_json::from_str(&ran.stdout).expect("JSON");
    let runbooks = json["runbooks"].as_array().expect("runbooks");
    assert_eq!(runbooks.len(), 2);
    let checklist = runbooks
        .iter()
        .find(|r| r["runbook"] == "launch-checklist")
        .expect("the checklist");
    assert_eq!(checklist["last_run"]["state"], "blocked");
    assert_eq!(checklist["done"], 3);
}

#[test]
fn answers_that_cannot_answer_a_manual_step_stop_the_run_before_it_starts() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write(dir.path(), "runbooks/launch-checklist.yaml", CHECKLIST);
    for (answer, message) in [
        ("\"defer:\"", "`defer:` needs a reason"),
        ("maybe", "it must be `done` or `defer: REASON`"),
    ] {
        write(
            dir.path(),
            "answers.yaml",
            &format!("cloudflare_token_rotation: {answer}\n"),
        );
        let ran = runbook(
            dir.path(),
            &[
                "run",
                "runbooks/launch-checklist.yaml",
                "--answers",
                "answers.yaml",
                "--non-interactive",
            ],
            &[],
        );
        expect_status(&ran, 2, answer);
        assert!(ran.stderr.contains(message), "{}", ran.stderr);
    }
    // `done` in the answers file answers one manual item; the others still
    // need `--yes` and are blocked without it.
    write(dir.path(), "answers.yaml", "deploy: done\n");
    let ran = runbook(
        dir.path(),
        &[
            "run",
            "runbooks/launch-checklist.yaml",
            "--answers",
            "answers.yaml",
            "--non-interactive",
        ],
        &[],
    );
    expect_status(&ran, 3, "done for one item");
    let ran = runbook(
        dir.path(),
        &[
            "status",
            "runbooks/launch-checklist.yaml",
            "--format",
            "json",
        ],
        &[],
    );
    let json: Value = serde_json::from_str(&ran.stdout).expect("JSON");
    assert_eq!(json["phases"][1]["items"][0]["status"], "done");
    assert_eq!(json["phases"][0]["items"][1]["status"], "blocked");
}

/// The flagship production checklist, its first item deferred as on
/// 2025-10-23: the child runbook never runs, and status shows the item
/// deferred with its priority and estimate.
#[test]
fn the_flagship_checklist_defers_the_token_rotation() {
    let dir = tempfile::tempdir().expect("a temp dir");
    for name in [
        "production-deployment-checklist.yaml",
        "cloudflare-token-rotation.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join("runbooks").join(name))
            .expect("a flagship runbook");
        write(dir.path(), &format!("runbooks/{name}"), &text);
    }
    let env_file = write(
        dir.path(),
        ".env.auth",
        "CLOUDFLARE_API_TOKEN=old\nSTRIPE_SECRET_KEY=sk_live_overview_1234\nLAGO_API_KEY=lago\n",
    );
    std::fs::set_permissions(
        &env_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod the env file");
    let platform = serve();
    write(
        dir.path(),
        "answers.yaml",
        &format!(
            "cloudflare_token_rotation: \"defer: until production deployment\"\n\
             platform: \"{platform}\"\n\
             env_file: \"{}\"\n\
             site_url: \"https://example.com\"\n\
             keycloak_url: \"https://auth.example.com\"\n\
             keycloak_realm: platform\n\
             stripe_api_base: \"https://127.0.0.1:9\"\n",
            env_file.display()
        ),
    );
    let ran = runbook(
        dir.path(),
        &[
            "run",
            "runbooks/production-deployment-checklist.yaml",
            "--answers",
            "answers.yaml",
            "--yes",
            "--non-interactive",
        ],
        &[],
    );
    // Stripe is unreachable here, so the run fails in phase 2: the point is
    // phase 1.
    expect_status(&ran, 1, "the flagship checklist");
    let ran = runbook(
        dir.path(),
        &["status", "runbooks/production-deployment-checklist.yaml"],
        &[],
    );
    expect_status(&ran, 0, "status");
    let out = &ran.stdout;
    let line = out
        .lines()
        .find(|l| l.contains(" cloudflare_token_rotation "))
        .unwrap_or_else(|| panic!("no rotation line:\n{out}"));
    assert!(
        line.contains(&format!(
            "P1  15m  deferred: until production deployment ({})",
            today()
        )),
        "{line}"
    );
    let mark = |id: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {id} ")))
            .and_then(|l| l.trim_start().chars().next())
    };
    assert_eq!(mark("platform_reachable"), Some('✓'), "{out}");
    assert_eq!(mark("review_token_security_fix"), Some('⛔'), "{out}");
    assert_eq!(mark("stripe_connection"), Some('✗'), "{out}");
    assert_eq!(mark("deploy_release"), Some('·'), "{out}");
    // The child runbook was never started.
    assert!(
        !dir.path()
            .join("runbooks/.runbook/cloudflare-token-rotation")
            .exists()
    );
}

/// A run with HTTP evidence, a confirmation, a secret in a command's output, a
/// failure and a rollback: everything a report shows.
const DEPLOY: &str = r#"
runbook: deploy
title: Deploy <with> "evidence" & care
inputs:
  base: { default: "@BASE@" }
  token: { secret: true }
steps:
  - id: health
    title: The service is healthy
    http: { url: "{{ inputs.base }}/health" }
    expect:
      status: 200
      json: { status: ok }
  - id: announce
    title: Announce the deployment
    effect: change
    confirm: true
    needs: [health]
    command: echo "deploying with {{ inputs.token }}"
  - id: verify
    title: Verify the deployment took
    effect: probe
    needs: [{ step: health, within: 30m }, announce]
    command: "exit 3"
    explain:
      3: The deployment did not take.
  - id: never
    title: Never reached
    effect: probe
    command: "true"
rollback:
  - id: undo
    title: Undo the announcement
    effect: change
    command: echo undone
"#;

fn deploy_run() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let base = serve();
    write(
        dir.path(),
        "runbooks/deploy.yaml",
        &DEPLOY.replace("@BASE@", &base),
    );
    let ran = runbook(
        dir.path(),
        &["run", "runbooks/deploy.yaml", "--yes", "--non-interactive"],
        &[("RUNBOOK_INPUT_TOKEN", SECRET)],
    );
    expect_status(&ran, 1, "the deploy run");
    dir
}

fn assert_masked(text: &str) {
    assert!(!text.contains(SECRET), "the secret leaked:\n{text}");
    assert!(
        !text.contains("s3cr3t"),
        "part of the secret leaked:\n{text}"
    );
}

#[test]
fn report_markdown_tells_the_whole_run() {
    let dir = deploy_run();
    let ran = runbook(dir.path(), &["report", "runbooks/deploy.yaml"], &[]);
    expect_status(&ran, 0, "report");
    let md = &ran.stdout;
    assert_masked(md);
    assert!(
        md.starts_with("# Run report: Deploy <with> \"evidence\" & care\n"),
        "{md}"
    );
    assert!(md.contains("| Operator | ana |"), "{md}");
    assert!(md.contains("| Outcome | ✗ failed (exit code 1) |"), "{md}");
    assert!(
        md.contains("The service is healthy (`health`) | probe | ✓ passed"),
        "{md}"
    );
    assert!(md.contains("HTTP 200 in "), "{md}");
    assert!(
        md.contains("✓ status 200<br>✓ json status = \"ok\""),
        "{md}"
    );
    assert!(
        md.contains(&format!("stdout: deploying with {SECRET_LAST4}")),
        "{md}"
    );
    assert!(
        md.contains("✗ failed: exit code 3, expected 0 — The deployment did not take."),
        "{md}"
    );
    assert!(md.contains("`announce`: confirmed with --yes"), "{md}");
    assert!(md.contains("## Rollback\n\nStarted at "), "{md}");
    assert!(md.contains("because step `verify` failed."), "{md}");
    assert!(
        md.contains("Undo the announcement (`undo`) | change | ✓ passed"),
        "{md}"
    );
    assert!(
        md.contains("## Not reached\n\n- `never` — Never reached"),
        "{md}"
    );
    assert!(
        md.contains("| `token` | environment | secret (sha256:"),
        "{md}"
    );
}

#[test]
fn report_json_has_every_step_event_and_input() {
    let dir = deploy_run();
    let ran = runbook(
        dir.path(),
        &["report", "runbooks/deploy.yaml", "--format", "json"],
        &[],
    );
    expect_status(&ran, 0, "report --format json");
    assert_masked(&ran.stdout);
    let json: Value = serde_json::from_str(&ran.stdout).expect("report JSON");
    assert_eq!(json["report_version"], 1);
    assert_eq!(json["run"]["runbook"], "deploy");
    assert_eq!(json["run"]["operator"], "ana");
    assert_eq!(json["run"]["outcome"], "failed");
    assert_eq!(json["run"]["exit_code"], 1);
    assert_eq!(json["run"]["file_changed"], false);
    let steps = json["steps"].as_array().expect("steps");
    let ids: Vec<&str> = steps.iter().filter_map(|s| s["step"].as_str()).collect();
    assert_eq!(ids, ["health", "announce", "verify", "undo"]);
    assert_eq!(steps[0]["results"]["status"], 200);
    assert_eq!(steps[0]["effect"], "probe");
    assert_eq!(steps[2]["results"]["exit_code"], 3);
    assert_eq!(steps[3]["rollback"], true);
    assert!(steps.iter().all(|s| s["duration_ms"].is_u64()));
    let events: Vec<&str> = json["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["event"].as_str())
        .collect();
    assert_eq!(events, ["confirmed", "rollback_started"]);
    assert_eq!(json["inputs"][0]["name"], "base");
    let token = &json["inputs"][1];
    assert_eq!(token["name"], "token");
    assert_eq!(token["secret"], true);
    assert!(token["value"].is_null());
    assert_eq!(json["not_reached"][0]["step"], "never");
}

#[test]
fn report_finds_runs_by_id_journal_or_latest() {
    let dir = deploy_run();
    let runs = dir.path().join("runbooks/.runbook/deploy/runs");
    let journal = std::fs::read_dir(&runs)
        .expect("the runs directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .expect("a journal");
    let run_id = journal
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a run id")
        .to_owned();
    let journal = journal.display().to_string();
    for args in [
        vec!["report", run_id.as_str(), "--format", "json"],
        vec!["report", journal.as_str(), "--format", "json"],
        vec!["report", "--format", "json"],
    ] {
        let ran = runbook(dir.path(), &args, &[]);
        expect_status(&ran, 0, &args.join(" "));
        let json: Value = serde_json::from_str(&ran.stdout).expect("report JSON");
        assert_eq!(json["run"]["id"], run_id.as_str(), "{args:?}");
        // The runbook file is found from the journal, for titles and effects.
        assert_eq!(json["steps"][0]["title"], "The service is healthy");
        assert_eq!(json["steps"][0]["effect"], "probe", "{args:?}");
    }
    // With the state moved by RUNBOOK_STATE_DIR, a run id is found there.
    let state = dir.path().join("elsewhere");
    let ran = runbook(
        dir.path(),
        &["run", "runbooks/deploy.yaml", "--yes", "--non-interactive"],
        &[
            ("RUNBOOK_INPUT_TOKEN", SECRET),
            ("RUNBOOK_STATE_DIR", state.to_str().expect("a UTF-8 path")),
        ],
    );
    expect_status(&ran, 1, "a run with RUNBOOK_STATE_DIR");
    let moved = std::fs::read_dir(state.join("deploy/runs"))
        .expect("the moved runs directory")
        .filter_map(Result::ok)
        .find_map(|e| e.path().file_stem()?.to_str().map(str::to_owned))
        .expect("a moved run");
    let ran = runbook(
        dir.path(),
        &["report", &moved, "--format", "json"],
        &[("RUNBOOK_STATE_DIR", state.to_str().expect("a UTF-8 path"))],
    );
    expect_status(&ran, 0, "report of a moved run");
    assert!(ran.stdout.contains(&moved));
}

#[test]
fn report_errors_are_usage_errors() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write(dir.path(), "runbooks/launch-checklist.yaml", CHECKLIST);

    let ran = runbook(dir.path(), &["report", "20991231T000000Z-beef"], &[]);
    expect_status(&ran, 2, "an unknown run id");
    assert!(
        ran.stderr
            .contains("error: there is no run `20991231T000000Z-beef`"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("help: run ids look like"),
        "{}",
        ran.stderr
    );

    let ran = runbook(
        dir.path(),
        &["report", "runbooks/launch-checklist.yaml"],
        &[],
    );
    expect_status(&ran, 2, "a runbook never run");
    assert!(
        ran.stderr
            .contains("error: `launch-checklist` has not been run yet"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr
            .contains("help: start a run with `runbook run FILE`")
    );

    let ran = runbook(dir.path(), &["report"], &[]);
    expect_status(&ran, 2, "nothing run at all");
    assert!(
        ran.stderr
            .contains("no runbook under `runbooks/` has been run yet")
    );

    for args in [
        ["report", "runbooks/missing.yaml"],
        ["status", "runbooks/missing.yaml"],
        ["graph", "runbooks/missing.yaml"],
    ] {
        let ran = runbook(dir.path(), &args, &[]);
        expect_status(&ran, 2, &args.join(" "));
        assert!(
            ran.stderr
                .contains("error: `runbooks/missing.yaml` does not exist"),
            "{}",
            ran.stderr
        );
    }

    let ran = runbook(dir.path(), &["report", "../../etc/passwd-run"], &[]);
    expect_status(&ran, 2, "a path that is not there");

    let empty = tempfile::tempdir().expect("a temp dir");
    let ran = runbook(empty.path(), &["status"], &[]);
    expect_status(&ran, 2, "status without runbooks/");
    assert!(
        ran.stderr
            .contains("there is no `runbooks/` directory here")
    );

    write(
        dir.path(),
        "runbooks/broken.yaml",
        "runbook: broken\nsteps: 3\n",
    );
    let ran = runbook(dir.path(), &["graph", "runbooks/broken.yaml"], &[]);
    expect_status(&ran, 2, "graph of an invalid runbook");
    assert!(
        ran.stderr.contains("is not a valid runbook"),
        "{}",
        ran.stderr
    );
}

/// The HTML report is one file that loads nothing, and a browser renders it.
#[test]
fn report_html_is_self_contained_and_renders_in_chromium() {
    let dir = deploy_run();
    let ran = runbook(
        dir.path(),
        &["report", "runbooks/deploy.yaml", "--format", "html"],
        &[],
    );
    expect_status(&ran, 0, "report --format html");
    let html = &ran.stdout;
    assert_masked(html);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // URLs may appear as text (an input's value); nothing may be loaded or linked.
    for forbidden in [
        "<script", "src=", "href=", "url(", "@import", "<link", "<iframe", "<img",
    ] {
        assert!(
            !html.to_ascii_lowercase().contains(forbidden),
            "the report loads or links something ({forbidden}):\n{html}"
        );
    }
    assert!(
        html.contains("<h1>Deploy &lt;with&gt; &quot;evidence&quot; &amp; care</h1>"),
        "{html}"
    );
    assert!(html.contains("<svg class=\"timeline\""), "{html}");
    assert_eq!(
        html.matches("<rect ").count(),
        4,
        "one bar per finished step"
    );
    assert!(html.contains(&format!("stdout: deploying with {SECRET_LAST4}")));
    assert!(html.contains("confirmed with --yes"));
    assert!(html.contains("<h2>Rollback</h2>"));
    assert!(html.trim_end().ends_with("</html>"));

    let page = write(dir.path(), "report.html", html);
    let shot = dir.path().join("shot.png");
    let profile = dir.path().join("chromium-profile");
    let Some(chromium) = outside_tool(
        &["chromium", "chromium-browser"],
        "Debian: `apt-get install chromium`",
    ) else {
        return;
    };
    let output = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,900")
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let png = std::fs::read(&shot).expect("chromium wrote a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 1200×900 page compresses to a few hundred bytes; text, tables
    // and coloured bars make tens of kilobytes.
    assert!(
        png.len() > 8_000,
        "the screenshot is nearly empty: {} bytes",
        png.len()
    );
}

/// Graphviz must accept the DOT of every runbook in the repository.
#[test]
fn dot_renders_with_graphviz() {
    let Some(dot) = outside_tool(&["dot"], "Graphviz; Debian: `apt-get install graphviz`") else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    write(dir.path(), "runbooks/tricky.yaml", TRICKY);
    let mut files = vec![
        repo().join("runbooks/cloudflare-token-rotation.yaml"),
        repo().join("runbooks/production-deployment-checklist.yaml"),
        dir.path().join("runbooks/tricky.yaml"),
    ];
    files.extend(
        std::fs::read_dir(repo().join("runbooks/examples"))
            .expect("the examples")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml")),
    );
    for file in files {
        let shown = file.display().to_string();
        let ran = runbook(dir.path(), &["graph", &shown, "--format", "dot"], &[]);
        expect_status(&ran, 0, &shown);
        assert!(ran.stdout.starts_with("digraph "), "{}", ran.stdout);
        let mut child = Command::new(&dot)
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start dot");
        child
            .stdin
            .take()
            .expect("dot's stdin")
            .write_all(ran.stdout.as_bytes())
            .expect("feed dot");
        let output = child.wait_with_output().expect("dot finished");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stderr.trim().is_empty(),
            "dot rejected the graph of {shown}: {stderr}\n{}",
            ran.stdout
        );
        let svg = String::from_utf8_lossy(&output.stdout);
        assert!(svg.contains("<svg"), "{svg}");
    }
}

#[test]
fn dot_draws_effects_gates_and_the_rollback() {
    let file = repo().join("runbooks/cloudflare-token-rotation.yaml");
    let dir = tempfile::tempdir().expect("a temp dir");
    let ran = runbook(
        dir.path(),
        &["graph", &file.display().to_string(), "--format", "dot"],
        &[],
    );
    expect_status(&ran, 0, "graph --format dot");
    let dot = &ran.stdout;
    assert!(
        dot.starts_with("digraph \"cloudflare-token-rotation\" {"),
        "{dot}"
    );
    assert!(dot.contains("subgraph cluster_rollback {"), "{dot}");
    assert!(
        dot.contains("\"verify_zones\" -> \"revoke_old_token\" [label=\"within 30m\""),
        "{dot}"
    );
    let revoke = dot
        .lines()
        .find(|l| l.trim_start().starts_with("\"revoke_old_token\" ["))
        .expect("the revoke node");
    assert!(revoke.contains("shape=hexagon"), "{revoke}");
    assert!(revoke.contains("color=\"#c62828\""), "{revoke}");
    let create = dot
        .lines()
        .find(|l| l.trim_start().starts_with("\"create_token\" ["))
        .expect("the manual node");
    assert!(create.contains("shape=parallelogram"), "{create}");
    assert!(dot.contains("\"save_token\" -> \"restore_token\" [label=\"restores\""));
}

/// Ids and titles that would break a naive renderer.
const TRICKY: &str = r#"
runbook: tricky
title: Quotes " and \ backslashes; [brackets] {braces} (parens) <tags> | pipes # hash
phases:
  - id: end
    title: 'Phase "end"'
    steps:
      - id: end
        title: 'Say "end" [now] {x} (y) <b>bold</b> | a; b # c `d`'
        effect: probe
        command: "true"
      - id: class
        title: A step named class \N
        needs: [{ step: end, within: 1h 30m }]
        manual: Do it.
      - id: subgraph
        needs: [class]
        effect: irreversible
        confirm: true
        manual: Last.
"#;

#[test]
fn mermaid_is_well_formed() {
    let dir = tempfile::tempdir().expect("a temp dir");
    write(dir.path(), "runbooks/tricky.yaml", TRICKY);
    let files = [
        repo().join("runbooks/cloudflare-token-rotation.yaml"),
        repo().join("runbooks/production-deployment-checklist.yaml"),
        dir.path().join("runbooks/tricky.yaml"),
    ];
    for file in &files {
        let shown = file.display().to_string();
        let ran = runbook(dir.path(), &["graph", &shown], &[]);
        expect_status(&ran, 0, &shown);
        check_mermaid(&ran.stdout);
    }
    let ran = runbook(
        dir.path(),
        &[
            "graph",
            &files[0].display().to_string(),
            "--format",
            "mermaid",
        ],
        &[],
    );
    let text = &ran.stdout;
    assert!(text.contains("subgraph Rollback["), "{text}");
    assert!(
        text.contains("verify_zones -->|\"within 30m\"| revoke_old_token"),
        "{text}"
    );
    assert!(
        text.contains("revoke_old_token{{\"Revoke the old token through the API<br/>"),
        "{text}"
    );
    assert!(text.contains("create_token[/\""), "{text}");
    assert!(text.contains("verify_zones([\""), "{text}");
    assert!(text.contains("save_token[\""), "{text}");
    assert!(
        text.contains("class revoke_old_token,revoke_old_token_in_dashboard irreversible"),
        "{text}"
    );
    assert!(
        text.contains("classDef irreversible fill:#ffebee,stroke:#c62828"),
        "{text}"
    );

    let ran = runbook(dir.path(), &["graph", "runbooks/tricky.yaml"], &[]);
    let text = &ran.stdout;
    assert!(
        text.contains("subgraph Phase_end[\"Phase #quot;end#quot;\"]"),
        "{text}"
    );
    assert!(
        text.contains("    End([\"Say #quot;end#quot; #91;now#93;"),
        "{text}"
    );
    assert!(text.contains("End -->|\"within 1h 30m\"| Class"), "{text}");
    assert!(text.contains("Class --> Subgraph"), "{text}");
}

/// A structural check of Mermaid flowchart text: a known header, balanced
/// `subgraph`/`end`, node shapes whose brackets close, quoted labels with no
/// raw quote inside, and edges only between declared nodes.
fn check_mermaid(text: &str) {
    let mut lines = text.lines().filter(|l| !l.trim_start().starts_with("%%"));
    assert_eq!(lines.next(), Some("flowchart TD"), "header:\n{text}");
    let mut declared = std::collections::BTreeSet::new();
    let mut subgraphs = std::collections::BTreeSet::new();
    let mut edges = Vec::new();
    let mut depth = 0i32;
    let shapes = [
        ("([\"", "\"])"),
        ("[[\"", "\"]]"),
        ("[/\"", "\"/]"),
        ("{{\"", "\"}}"),
        ("[\"", "\"]"),
        ("(\"", "\")"),
    ];
    let is_id = |s: &str| {
        !s.is_empty()
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
    };
    for line in lines {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("subgraph ") {
            depth += 1;
            let (id, label) = rest.split_once("[\"").expect("a subgraph label");
            assert!(is_id(id), "subgraph id {id:?}");
            assert!(label.ends_with("\"]"), "subgraph label: {line}");
            assert!(!label[..label.len() - 2].contains('"'), "{line}");
            subgraphs.insert(id.to_owned());
            continue;
        }
        if line == "end" {
            depth -= 1;
            assert!(depth >= 0, "`end` without `subgraph`:\n{text}");
            continue;
        }
        if line.starts_with("classDef ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("class ") {
            let (ids, _) = rest.split_once(' ').expect("class ids and name");
            for id in ids.split(',') {
                assert!(declared.contains(id), "class of undeclared {id}");
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("style ") {
            let id = rest.split(' ').next().unwrap_or("");
            assert!(subgraphs.contains(id) || declared.contains(id), "{line}");
            continue;
        }
        if line.contains("-->") || line.contains("-.->") {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (from, to) = (words[0], words[words.len() - 1]);
            assert!(is_id(from) && is_id(to), "edge: {line}");
            if let Some(label) = line.split_once('|').map(|(_, l)| l) {
                let (label, _) = label.rsplit_once('|').expect("a closed edge label");
                assert!(label.starts_with('"') && label.ends_with('"'), "{line}");
                assert!(!label[1..label.len() - 1].contains('"'), "{line}");
            }
            edges.push((from.to_owned(), to.to_owned()));
            continue;
        }
        let (id, shape) = shapes
            .iter()
            .find_map(|(open, close)| {
                let (id, rest) = line.split_once(open)?;
                let label = rest.strip_suffix(close)?;
                Some((id, label))
            })
            .unwrap_or_else(|| panic!("not a node declaration: {line}"));
        assert!(is_id(id), "node id {id:?}");
        assert!(!shape.contains('"'), "a raw quote inside a label: {line}");
        for c in ['[', ']', '{', '}', '(', ')', '|', '#'] {
            // `#` appears only as the start of an entity code (`#quot;`).
            if c == '#' {
                assert!(
                    shape
                        .match_indices('#')
                        .all(|(i, _)| shape[i..].find(';').is_some()),
                    "{line}"
                );
            } else {
                assert!(!shape.contains(c), "a raw {c} inside a label: {line}");
            }
        }
        assert!(declared.insert(id.to_owned()), "node {id} declared twice");
    }
    assert_eq!(depth, 0, "unbalanced subgraph/end:\n{text}");
    assert!(!declared.is_empty(), "no nodes:\n{text}");
    for (from, to) in edges {
        assert!(declared.contains(&from), "edge from undeclared {from}");
        assert!(declared.contains(&to), "edge to undeclared {to}");
    }
    assert!(
        declared.is_disjoint(&subgraphs),
        "a subgraph shares an id with a node"
    );
}
