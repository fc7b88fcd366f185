//! Gates (SPEC §2) cannot be bypassed: a failed probe, a missing `--confirm`, a
//! typed phrase, a skipped step and stale evidence each keep the gated request
//! from ever reaching the server.

use serde_json::json;

use super::server::{Reply, Server};
use super::{Work, all, with_base};

/// Probe, then an irreversible DELETE that needs it and a confirmation.
const REVOKE: &str = r#"runbook: revoke
steps:
  - id: verify
    title: The new token works
    http: { url: "@BASE@/probe" }
    expect:
      status: 200
      json: { state: active }
  - id: revoke
    title: Revoke the old token
    needs: [verify]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "@BASE@/token" }
    expect: { status: 204 }
"#;

fn revoke_server(probe: Reply) -> Server {
    let server = Server::start();
    server.route("GET", "/probe", probe);
    server.route("DELETE", "/token", Reply::status(204));
    server
}

#[test]
fn a_failing_probe_keeps_the_irreversible_request_from_being_sent() {
    let server = revoke_server(Reply::json(500, json!({"state": "active"})));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));
    let ran = work
        .runbook(["run", "revoke.yaml", "--yes", "--confirm", "revoke"])
        .status(1);
    assert_eq!(server.count("GET", "/probe"), 1);
    assert_eq!(server.count("DELETE", "/token"), 0, "{}", all(&ran));
    assert!(
        ran.stdout.contains("expected 200, got 500"),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_mismatched_expectation_keeps_the_irreversible_request_from_being_sent() {
    let server = revoke_server(Reply::json(200, json!({"state": "revoked"})));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));
    let ran = work
        .runbook(["run", "revoke.yaml", "--yes", "--confirm", "revoke"])
        .status(1);
    assert_eq!(server.count("DELETE", "/token"), 0, "{}", all(&ran));
    assert!(ran.stdout.contains("revoked"), "{}", ran.stdout);
}

#[test]
fn yes_does_not_confirm_an_irreversible_step() {
    let server = revoke_server(Reply::json(200, json!({"state": "active"})));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));
    let ran = work.runbook(["run", "revoke.yaml", "--yes"]).status(3);
    assert_eq!(server.count("GET", "/probe"), 1);
    assert_eq!(server.count("DELETE", "/token"), 0, "{}", all(&ran));
    assert!(all(&ran).contains("--confirm revoke"), "{}", all(&ran));
}

#[test]
fn confirm_flag_sends_the_irreversible_request_exactly_once() {
    let server = revoke_server(Reply::json(200, json!({"state": "active"})));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));
    work.runbook(["run", "revoke.yaml", "--confirm", "revoke"])
        .status(0);
    assert_eq!(server.count("GET", "/probe"), 1);
    assert_eq!(server.count("DELETE", "/token"), 1);
    assert_eq!(server.order(), ["GET /probe", "DELETE /token"]);
}

#[test]
fn an_irreversible_manual_step_is_not_done_by_yes() {
    let server = revoke_server(Reply::json(200, json!({"state": "active"})));
    let work = Work::new();
    work.write(
        "manual.yaml",
        with_base(
            r#"runbook: manual
steps:
  - id: verify
    http: { url: "@BASE@/probe" }
  - id: revoke
    needs: [verify]
    effect: irreversible
    confirm: true
    manual: Revoke the old token in the dashboard.
  - id: after
    needs: [revoke]
    effect: change
    command: touch after-revoke
"#,
            &server,
        ),
    );
    let ran = work.runbook(["run", "manual.yaml", "--yes"]).status(3);
    assert!(all(&ran).contains("--confirm revoke"), "{}", all(&ran));
    assert!(!work.exists("after-revoke"));
    work.runbook(["run", "manual.yaml", "--confirm", "revoke"])
        .status(0);
    assert!(work.exists("after-revoke"));
}

/// A reversible change whose confirmation is a typed phrase.
const PHRASE: &str = r#"runbook: phrase
steps:
  - id: purge
    effect: change
    confirm: { phrase: "purge the cache" }
    http: { method: POST, url: "@BASE@/purge" }
"#;

#[test]
fn a_phrase_is_not_confirmed_by_yes() {
    let server = Server::start();
    server.route("POST", "/purge", Reply::status(200));
    let work = Work::new();
    work.write("phrase.yaml", with_base(PHRASE, &server));
    let ran = work.runbook(["run", "phrase.yaml", "--yes"]).status(3);
    assert_eq!(server.count("POST", "/purge"), 0, "{}", all(&ran));
    assert!(all(&ran).contains("--confirm purge"), "{}", all(&ran));
}

#[test]
fn a_phrase_is_not_confirmed_by_an_answers_file() {
    let server = Server::start();
    server.route("POST", "/purge", Reply::status(200));
    let work = Work::new();
    work.write("phrase.yaml", with_base(PHRASE, &server));
    work.write("answers.yaml", "purge: purge the cache\n");
    let ran = work
        .runbook(["run", "phrase.yaml", "--yes", "--answers", "answers.yaml"])
        .run();
    assert_eq!(server.count("POST", "/purge"), 0, "{}", all(&ran));
    // The answer names no input or prompt: refused up front as a usage error.
    assert_eq!(ran.status, 2, "{}", all(&ran));
    assert!(all(&ran).contains("`purge`"), "{}", all(&ran));
    work.runbook(["run", "phrase.yaml", "--confirm", "purge"])
        .status(0);
    assert_eq!(server.count("POST", "/purge"), 1);
}

#[test]
fn a_skipped_step_does_not_satisfy_needs() {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    server.route("POST", "/apply", Reply::status(200));
    let work = Work::new();
    work.write(
        "skip.yaml",
        with_base(
            r#"runbook: skip
inputs:
  check: { default: "no" }
steps:
  - id: probe
    when: "{{ inputs.check == 'yes' }}"
    http: { url: "@BASE@/probe" }
  - id: apply
    needs: [probe]
    http: { method: POST, url: "@BASE@/apply" }
"#,
            &server,
        ),
    );
    let ran = work.runbook(["run", "skip.yaml", "--yes"]).status(3);
    assert_eq!(server.total(), 0, "{:?}", server.order());
    assert!(ran.stdout.contains("skipped"), "{}", ran.stdout);
    assert!(ran.stdout.contains("blocked"), "{}", ran.stdout);
    assert!(ran.stdout.contains("`probe`"), "{}", ran.stdout);
}

#[test]
fn evidence_older_than_within_is_gathered_again_before_the_gated_step() {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    server.route("POST", "/apply", Reply::status(200));
    let work = Work::new();
    work.write(
        "within.yaml",
        with_base(
            r#"runbook: within
steps:
  - id: probe
    http: { url: "@BASE@/probe" }
  - id: pause
    effect: none
    command: sleep 1.3
  - id: apply
    needs: [{ step: probe, within: 1s }]
    http: { method: POST, url: "@BASE@/apply" }
"#,
            &server,
        ),
    );
    work.runbook(["run", "within.yaml"]).status(0);
    assert_eq!(server.count("GET", "/probe"), 2);
    assert_eq!(server.count("POST", "/apply"), 1);
    assert_eq!(server.order(), ["GET /probe", "GET /probe", "POST /apply"]);
}

#[test]
fn fresh_evidence_within_its_window_is_not_gathered_again() {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    server.route("POST", "/apply", Reply::status(200));
    let work = Work::new();
    work.write(
        "within.yaml",
        with_base(
            r#"runbook: within
steps:
  - id: probe
    http: { url: "@BASE@/probe" }
  - id: apply
    needs: [{ step: probe, within: 1m }]
    http: { method: POST, url: "@BASE@/apply" }
"#,
            &server,
        ),
    );
    work.runbook(["run", "within.yaml"]).status(0);
    assert_eq!(server.order(), ["GET /probe", "POST /apply"]);
}

/// Runs a `within` gate whose evidence goes bad during a pause: returns the
/// exit status and stdout. The rollback touches `rolled-back`.
fn run_with_evidence_going_bad(work: &Work, server: &Server) -> (i32, String) {
    server.route("GET", "/probe", Reply::status(200));
    server.route("POST", "/apply", Reply::status(200));
    work.write(
        "within.yaml",
        with_base(
            r#"runbook: within
steps:
  - id: probe
    http: { url: "@BASE@/probe" }
  - id: pause
    effect: none
    command: sleep 1.3
  - id: apply
    needs: [{ step: probe, within: 1s }]
    http: { method: POST, url: "@BASE@/apply" }
rollback:
  - id: undo
    effect: change
    command: touch rolled-back
"#,
            server,
        ),
    );
    let mut child = work.runbook(["run", "within.yaml"]).spawn(work, "run");
    super::wait_until_started(work, ".runbook", "pause", &mut child);
    server.route("GET", "/probe", Reply::status(500));
    let status = super::wait_for_exit(&mut child);
    (status, work.read("run.out"))
}

#[test]
fn stale_evidence_that_fails_again_keeps_the_gated_step_from_running() {
    let server = Server::start();
    let work = Work::new();
    let (status, out) = run_with_evidence_going_bad(&work, &server);
    assert_ne!(status, 0, "{out}");
    assert_eq!(server.count("GET", "/probe"), 2, "{out}");
    assert_eq!(server.count("POST", "/apply"), 0, "{out}");
}

#[test]
fn stale_evidence_that_fails_again_fails_the_run() {
    let server = Server::start();
    let work = Work::new();
    let (status, out) = run_with_evidence_going_bad(&work, &server);
    // A step failed (the re-checked probe): SPEC §2 and §5 say the run fails.
    assert_eq!(status, 1, "{out}");
    assert!(
        work.exists("rolled-back"),
        "the rollback did not run:\n{out}"
    );
}

#[test]
fn a_confirm_naming_no_step_is_a_usage_error_before_anything_runs() {
    let server = revoke_server(Reply::json(200, json!({"state": "active"})));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));
    let ran = work
        .runbook(["run", "revoke.yaml", "--confirm", "revokee"])
        .status(2);
    assert!(
        all(&ran).contains("did you mean `--confirm revoke`?"),
        "{}",
        all(&ran)
    );
    assert_eq!(server.total(), 0);
}

#[test]
fn yes_confirms_a_plain_confirm_of_a_reversible_change() {
    let server = Server::start();
    server.route("POST", "/restart", Reply::status(200));
    let work = Work::new();
    work.write(
        "restart.yaml",
        with_base(
            r#"runbook: restart
steps:
  - id: restart
    effect: change
    confirm: { message: "Restart the service?" }
    http: { method: POST, url: "@BASE@/restart" }
"#,
            &server,
        ),
    );
    let ran = work.runbook(["run", "restart.yaml"]).status(3);
    assert_eq!(server.count("POST", "/restart"), 0, "{}", all(&ran));
    assert!(all(&ran).contains("--confirm restart"), "{}", all(&ran));
    work.runbook(["run", "restart.yaml", "--yes"]).status(0);
    assert_eq!(server.count("POST", "/restart"), 1);
}

/// The command a stopped run printed to carry on ("Resume with …"), as the
/// arguments after `runbook`: a test types it literally.
fn printed_hint(said: &str) -> Vec<String> {
    let start = said
        .rfind("Resume with `")
        .unwrap_or_else(|| panic!("no resume hint:\n{said}"))
        + "Resume with `".len();
    let command = &said[start..start + said[start..].find('`').expect("a closing backquote")];
    let mut words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
    assert_eq!(words.remove(0), "runbook", "{command}");
    words
}

/// Two steps with no `needs` between them: only the order says the second comes after.
const ORDERED: &str = r"runbook: ordered
steps:
  - id: tell
    title: Tell the team
    manual: Post in the channel that the token changes.
  - id: rewrite
    effect: change
    command: echo ran >> marker
";

#[test]
fn a_deferred_manual_step_stops_a_runbook_there_and_the_printed_hints_finish_it() {
    let work = Work::new();
    work.write("ordered.yaml", ORDERED);
    let ran = work
        .runbook(["run", "ordered.yaml"])
        .env("RUNBOOK_INPUT_TELL", "defer: the team is in a meeting")
        .status(3);
    assert_eq!(work.lines("marker"), 0, "a step after the deferred one ran");
    let said = all(&ran);
    assert!(said.contains("The steps after `tell` wait"), "{said}");

    // The hint, typed as printed: without a terminal the manual step needs
    // confirming, and the run says so, with the next command.
    let hint = printed_hint(&said);
    assert_eq!(hint, ["resume", "ordered.yaml"]);
    let ran = work.runbook(&hint).status(3);
    assert_eq!(work.lines("marker"), 0);
    let hint = printed_hint(&all(&ran));
    assert_eq!(hint, ["resume", "ordered.yaml", "--confirm", "tell"]);
    work.runbook(&hint).status(0);
    assert_eq!(work.lines("marker"), 1);
}

#[test]
fn a_step_blocked_at_its_confirmation_stops_a_runbook_there() {
    let work = Work::new();
    work.write(
        "confirmed.yaml",
        r"runbook: confirmed
steps:
  - id: first
    effect: change
    confirm: true
    command: echo ran >> first
  - id: second
    effect: change
    command: echo ran >> second
",
    );
    let ran = work.runbook(["run", "confirmed.yaml"]).status(3);
    assert_eq!(work.lines("first"), 0);
    assert_eq!(work.lines("second"), 0, "a step after the blocked one ran");
    let hint = printed_hint(&all(&ran));
    assert_eq!(hint, ["resume", "confirmed.yaml", "--confirm", "first"]);
    work.runbook(&hint).status(0);
    assert_eq!((work.lines("first"), work.lines("second")), (1, 1));
}

#[test]
fn a_deferred_item_of_a_checklist_leaves_the_other_items_to_run() {
    let work = Work::new();
    work.write(
        "list.yaml",
        r"runbook: list
phases:
  - id: one
    title: One
    steps:
      - id: tell
        manual: Tell the team.
      - id: other
        effect: change
        command: echo ran >> marker
",
    );
    work.runbook(["run", "list.yaml"])
        .env("RUNBOOK_INPUT_TELL", "defer: later")
        .status(3);
    assert_eq!(work.lines("marker"), 1, "the other item did not run");
}
