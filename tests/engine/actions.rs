//! Every action kind (SPEC §1) doing its job for real: manual and prompt
//! answered non-interactively, dotenv settings written, read and restored,
//! HTTP with expectations and `explain`, commands with expectations, `wait_for`,
//! `for_each` fan-out with `429`, `retry`, `timeout`, child runbooks, `when`,
//! `outputs` — and a failure that stops the run and rolls back.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use serde_json::json;

use super::server::{Reply, Server};
use super::{Work, all, finished, with_base};

fn mode(work: &Work, relative: &str) -> u32 {
    std::fs::metadata(work.join(relative))
        .expect("the file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_manual_step_is_done_with_yes_and_blocks_without_it() {
    let work = Work::new();
    work.write(
        "manual.yaml",
        r"runbook: manual
steps:
  - id: announce
    title: Tell the team
    manual: Post in the channel that the rotation starts.
  - id: after
    needs: [announce]
    effect: change
    command: touch after
",
    );
    let ran = work.runbook(["run", "manual.yaml"]).status(3);
    assert!(!work.exists("after"));
    assert!(ran.stdout.contains("--yes"), "{}", ran.stdout);
    work.runbook(["run", "manual.yaml", "--yes"]).status(0);
    assert!(work.exists("after"));
}

/// A prompt step and an input, both written to files by a later step.
const ASK: &str = r#"runbook: ask
inputs:
  zone: { description: The zone to work on }
steps:
  - id: region
    prompt: { message: "Which region?" }
  - id: record
    effect: change
    command: printf '%s %s' "{{ steps.region.value }}" "{{ inputs.zone }}" > answer.txt
"#;

#[test]
fn a_prompt_and_an_input_are_answered_by_set() {
    let work = Work::new();
    work.write("ask.yaml", ASK);
    work.runbook([
        "run",
        "ask.yaml",
        "--set",
        "region=eu-west",
        "--set",
        "zone=example.com",
    ])
    .status(0);
    assert_eq!(work.read("answer.txt"), "eu-west example.com");
}

#[test]
fn a_prompt_and_an_input_are_answered_by_the_environment() {
    let work = Work::new();
    work.write("ask.yaml", ASK);
    work.runbook(["run", "ask.yaml"])
        .env("RUNBOOK_INPUT_REGION", "us-east")
        .env("RUNBOOK_INPUT_ZONE", "example.org")
        .status(0);
    assert_eq!(work.read("answer.txt"), "us-east example.org");
}

#[test]
fn a_prompt_and_an_input_are_answered_by_an_answers_file() {
    let work = Work::new();
    work.write("ask.yaml", ASK);
    work.write("answers.yaml", "region: ap-south\nzone: example.net\n");
    work.runbook(["run", "ask.yaml", "--answers", "answers.yaml"])
        .status(0);
    assert_eq!(work.read("answer.txt"), "ap-south example.net");
}

#[test]
fn set_beats_the_answers_file_which_beats_the_environment() {
    let work = Work::new();
    work.write("ask.yaml", ASK);
    work.write("answers.yaml", "region: from-file\nzone: from-file\n");
    work.runbook([
        "run",
        "ask.yaml",
        "--answers",
        "answers.yaml",
        "--set",
        "region=from-set",
    ])
    .env("RUNBOOK_INPUT_REGION", "from-env")
    .env("RUNBOOK_INPUT_ZONE", "from-env")
    .status(0);
    assert_eq!(work.read("answer.txt"), "from-set from-file");
}

const NEW_SETTING: &str = r#"runbook: settings
inputs:
  token: { secret: true }
steps:
  - id: save
    set_setting: { file: new.env, key: API_TOKEN, value: "{{ inputs.token }}" }
  - id: read
    needs: [save]
    read_setting: { file: new.env, key: API_TOKEN }
  - id: show
    effect: change
    command: printf '%s' "{{ steps.read.value }}" > read.txt
"#;

#[test]
fn set_setting_creates_a_new_file_with_mode_0600_and_read_setting_reads_it() {
    let work = Work::new();
    work.write("settings.yaml", NEW_SETTING);
    work.runbook(["run", "settings.yaml"])
        .env("RUNBOOK_INPUT_TOKEN", "tok-123")
        .status(0);
    assert_eq!(work.read("new.env"), "API_TOKEN=tok-123\n");
    assert_eq!(mode(&work, "new.env"), 0o600);
    assert_eq!(work.read("read.txt"), "tok-123");
}

const EXISTING: &str = "# the platform's settings\nOTHER=keep me\nAPI_TOKEN=old-value\n\nexport TRAILING=\"x y\" # note\n";

#[test]
fn set_setting_changes_one_key_and_keeps_every_other_line_and_the_mode() {
    let work = Work::new();
    work.write("platform.env", EXISTING);
    std::fs::set_permissions(
        work.join("platform.env"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    work.write(
        "settings.yaml",
        r#"runbook: settings
steps:
  - id: before
    read_setting: { file: platform.env, key: API_TOKEN }
  - id: save
    set_setting: { file: platform.env, key: API_TOKEN, value: new-value }
  - id: after
    needs: [save]
    read_setting: { file: platform.env, key: API_TOKEN }
  - id: show
    effect: change
    command: printf '%s>%s' "{{ steps.before.value }}" "{{ steps.after.value }}" > read.txt
"#,
    );
    work.runbook(["run", "settings.yaml"]).status(0);
    assert_eq!(
        work.read("platform.env"),
        EXISTING.replace("API_TOKEN=old-value", "API_TOKEN=new-value")
    );
    assert_eq!(mode(&work, "platform.env"), 0o640);
    assert_eq!(work.read("read.txt"), "old-value>new-value");
}

#[test]
fn a_failure_stops_the_run_and_the_rollback_restores_the_setting() {
    let work = Work::new();
    work.write("platform.env", EXISTING);
    std::fs::set_permissions(
        work.join("platform.env"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    work.write(
        "rollback.yaml",
        r#"runbook: rollback
steps:
  - id: save
    set_setting: { file: platform.env, key: API_TOKEN, value: new-value }
  - id: before_failure
    effect: change
    command: echo ran >> before
  - id: restart
    effect: change
    command: "echo restarting; echo the service did not come back >&2; exit 4"
  - id: after_failure
    effect: change
    command: echo ran >> after
rollback:
  - id: restore
    when: "{{ steps.save.outcome == 'passed' }}"
    restore_setting: save
  - id: restore_noted
    when: "{{ steps.save.outcome == 'passed' }}"
    effect: change
    command: echo ran >> rolled-back
  - id: not_needed
    when: "{{ steps.before_failure.outcome == 'failed' }}"
    effect: change
    command: echo ran >> not-needed
"#,
    );
    let ran = work.runbook(["run", "rollback.yaml"]).status(1);
    assert_eq!(work.lines("before"), 1);
    assert_eq!(work.lines("after"), 0, "a step after the failure ran");
    assert_eq!(work.lines("rolled-back"), 1, "{}", ran.stdout);
    assert_eq!(
        work.lines("not-needed"),
        0,
        "a rollback step whose `when` is false ran"
    );
    assert_eq!(work.read("platform.env"), EXISTING);
    assert_eq!(mode(&work, "platform.env"), 0o640);
    // The failure says why, with the command's own words.
    assert!(ran.stdout.contains("exit code 4"), "{}", ran.stdout);
    assert!(
        ran.stdout.contains("the service did not come back"),
        "{}",
        ran.stdout
    );
    let events = work.only_journal(".runbook");
    assert!(finished(&events, "after_failure").is_none());
    assert_eq!(
        finished(&events, "restart").expect("restart")["outcome"],
        "failed"
    );
    assert_eq!(
        finished(&events, "restore").expect("restore")["outcome"],
        "passed"
    );
    assert_eq!(
        finished(&events, "not_needed").expect("not_needed")["outcome"],
        "skipped"
    );
}

#[test]
fn a_rollback_when_on_a_step_that_never_ran_is_false() {
    // The flagship rotation's rollback reads `steps.save_token.outcome`; when an
    // earlier step fails, `save_token` never ran and its outcome is `pending`.
    let work = Work::new();
    work.write(
        "rollback.yaml",
        r#"runbook: rollback
steps:
  - id: check
    effect: probe
    command: exit 1
  - id: save
    set_setting: { file: app.env, key: API_TOKEN, value: new-value }
rollback:
  - id: restore
    when: "{{ steps.save.outcome == 'passed' }}"
    restore_setting: save
  - id: always
    effect: change
    command: touch rolled-back
"#,
    );
    let ran = work.runbook(["run", "rollback.yaml"]).status(1);
    let events = work.only_journal(".runbook");
    assert_eq!(
        finished(&events, "restore").expect("restore")["outcome"],
        "skipped",
        "{}",
        ran.stdout
    );
    assert!(work.exists("rolled-back"));
}

#[test]
fn restoring_a_setting_that_created_its_file_removes_the_file() {
    let work = Work::new();
    work.write(
        "rollback.yaml",
        r"runbook: rollback
steps:
  - id: save
    set_setting: { file: fresh.env, key: API_TOKEN, value: new-value }
  - id: fail
    effect: probe
    command: exit 1
rollback:
  - id: restore
    restore_setting: save
",
    );
    work.runbook(["run", "rollback.yaml"]).status(1);
    assert!(!work.exists("fresh.env"), "{:?}", work.read("fresh.env"));
}

#[test]
fn http_expectations_pass_with_every_matcher_and_outputs_reach_later_steps() {
    let server = Server::start();
    server.route(
        "GET",
        "/zones",
        Reply::json(
            200,
            json!({
                "success": true,
                "errors": [],
                "result": [{"id": "z1", "name": "example.com"}, {"id": "z2", "name": "example.org"}],
                "result_info": {"total_count": 2, "page": 1}
            }),
        ),
    );
    let work = Work::new();
    work.write(
        "zones.yaml",
        with_base(
            r#"runbook: zones
steps:
  - id: zones
    http: { url: "@BASE@/zones", headers: { Accept: application/json } }
    expect:
      status: [200, 204]
      json:
        success: true
        errors: { len: 0 }
        result: { not_empty: true }
        result.1.name: { equals: example.org }
        result.0.name: { matches: "^example\\." }
        result_info.total_count: { ge: 2 }
        result_info.page: { lt: 2 }
        result_info.missing: { exists: false }
    outputs:
      count: "{{ steps.zones.json.result | length }}"
  - id: report
    effect: change
    command: printf '%s %s %s' "{{ steps.zones.outputs.count }}" "{{ steps.zones.status }}" "{{ steps.zones.json.result[0].id }}" > report.txt
"#,
            &server,
        ),
    );
    work.runbook(["run", "zones.yaml"]).status(0);
    assert_eq!(work.read("report.txt"), "2 200 z1");
    assert_eq!(server.count("GET", "/zones"), 1);
}

#[test]
fn a_failed_http_expectation_names_the_path_the_values_and_the_explanation() {
    let server = Server::start();
    server.route(
        "GET",
        "/user/tokens/verify",
        Reply::json(
            403,
            json!({"success": false, "result": {"status": "disabled"}}),
        ),
    );
    let work = Work::new();
    work.write(
        "verify.yaml",
        with_base(
            r#"runbook: verify
steps:
  - id: verify
    http: { url: "@BASE@/user/tokens/verify" }
    expect:
      status: 200
      json: { result.status: active }
    explain:
      401: The token is invalid, revoked or expired.
      403: The token lacks a permission (Zone → DNS → Edit).
  - id: after
    effect: change
    command: touch after
"#,
            &server,
        ),
    );
    let ran = work.runbook(["run", "verify.yaml"]).status(1);
    for needle in [
        "result.status",
        "\"active\"",
        "\"disabled\"",
        "expected 200, got 403",
        "The token lacks a permission (Zone → DNS → Edit).",
    ] {
        assert!(
            ran.stdout.contains(needle),
            "lacks {needle:?}:\n{}",
            ran.stdout
        );
    }
    assert!(!ran.stdout.contains("revoked or expired"), "{}", ran.stdout);
    assert!(!work.exists("after"));
}

#[test]
fn a_command_passes_on_its_expected_exit_code_and_output() {
    let work = Work::new();
    work.write(
        "command.yaml",
        r#"runbook: command
steps:
  - id: status
    effect: probe
    command:
      run: 'echo "$SERVICE is up"; exit 3'
      env: { SERVICE: ops-center }
    expect: { exit_code: 3, stdout_contains: "ops-center is up" }
  - id: report
    effect: change
    command: printf '%s|%s' "{{ steps.status.exit_code }}" "{{ steps.status.stdout | trim }}" > report.txt
"#,
    );
    work.runbook(["run", "command.yaml"]).status(0);
    assert_eq!(work.read("report.txt"), "3|ops-center is up");
}

#[test]
fn a_command_fails_on_missing_output_and_on_an_explained_exit_code() {
    let work = Work::new();
    work.write(
        "contains.yaml",
        r"runbook: contains
steps:
  - id: status
    effect: probe
    command: echo starting
    expect: { stdout_contains: ready }
",
    );
    let ran = work.runbook(["run", "contains.yaml"]).status(1);
    assert!(
        ran.stdout
            .contains("stdout: expected to contain \"ready\", got \"starting\""),
        "{}",
        ran.stdout
    );
    work.write(
        "explained.yaml",
        r"runbook: explained
steps:
  - id: backup
    effect: change
    command: exit 2
    explain:
      2: The disk is full.
",
    );
    let ran = work.runbook(["run", "explained.yaml"]).status(1);
    assert!(
        ran.stdout
            .contains("exit code 2, expected 0 — The disk is full."),
        "{}",
        ran.stdout
    );
}

#[test]
fn wait_for_polls_until_the_service_is_healthy() {
    let server = Server::start();
    server.route("GET", "/health", Reply::status(200).failing_first(3, 503));
    let work = Work::new();
    work.write(
        "wait.yaml",
        with_base(
            r#"runbook: wait
steps:
  - id: healthy
    wait_for:
      http: { url: "@BASE@/health" }
      expect: { status: 200 }
      interval: 100ms
      timeout: 10s
  - id: report
    effect: change
    command: printf '%s' "{{ steps.healthy.attempts }}" > attempts.txt
"#,
            &server,
        ),
    );
    work.runbook(["run", "wait.yaml"]).status(0);
    assert_eq!(server.count("GET", "/health"), 4);
    assert_eq!(work.read("attempts.txt"), "4");
}

#[test]
fn wait_for_gives_up_at_its_timeout() {
    let server = Server::start();
    server.route("GET", "/health", Reply::status(503));
    let work = Work::new();
    work.write(
        "wait.yaml",
        with_base(
            r#"runbook: wait
steps:
  - id: healthy
    wait_for:
      http: { url: "@BASE@/health" }
      expect: { status: 200 }
      interval: 100ms
      timeout: 600ms
"#,
            &server,
        ),
    );
    let started = Instant::now();
    let ran = work.runbook(["run", "wait.yaml"]).status(1);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(ran.stdout.contains("not ready after"), "{}", ran.stdout);
    assert!(ran.stdout.contains("got 503"), "{}", ran.stdout);
    assert!(server.count("GET", "/health") >= 2);
}

#[test]
fn a_command_then_wait_for_in_one_step() {
    let server = Server::start();
    server.route("GET", "/health", Reply::status(200).failing_first(2, 503));
    let work = Work::new();
    work.write(
        "restart.yaml",
        with_base(
            r#"runbook: restart
steps:
  - id: restart
    effect: change
    command: touch restarted
    wait_for:
      http: { url: "@BASE@/health" }
      expect: { status: 200 }
      interval: 100ms
      timeout: 10s
  - id: started
    effect: change
    command: touch started
    wait_for:
      command: test -f started
      interval: 50ms
      timeout: 10s
"#,
            &server,
        ),
    );
    work.runbook(["run", "restart.yaml"]).status(0);
    assert!(work.exists("restarted"));
    assert_eq!(server.count("GET", "/health"), 3);
    let events = work.only_journal(".runbook");
    assert_eq!(
        finished(&events, "restart").expect("restart")["outcome"],
        "passed"
    );
}

#[test]
fn a_command_whose_wait_fails_fails_the_step() {
    let server = Server::start();
    server.route("GET", "/health", Reply::status(500));
    let work = Work::new();
    work.write(
        "restart.yaml",
        with_base(
            r#"runbook: restart
steps:
  - id: restart
    effect: change
    command: touch restarted
    wait_for:
      http: { url: "@BASE@/health" }
      expect: { status: 200 }
      interval: 100ms
      timeout: 400ms
  - id: after
    effect: change
    command: touch after
"#,
            &server,
        ),
    );
    work.runbook(["run", "restart.yaml"]).status(1);
    assert!(work.exists("restarted"));
    assert!(!work.exists("after"));
}

#[test]
fn for_each_fans_out_over_an_earlier_answer_and_waits_out_429() {
    let server = Server::start();
    server.route(
        "GET",
        "/zones",
        Reply::json(
            200,
            json!({"result": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]}),
        ),
    );
    let slow = Reply::json(200, json!({"result": []})).delay(Duration::from_millis(300));
    server.route("GET", "/zones/a/dns_records", slow.clone().throttle(1, "1"));
    for id in ["b", "c", "d"] {
        server.route("GET", &format!("/zones/{id}/dns_records"), slow.clone());
    }
    let work = Work::new();
    work.write(
        "fan.yaml",
        with_base(
            r#"runbook: fan
steps:
  - id: zones
    http: { url: "@BASE@/zones" }
    expect: { json: { result: { len: 4 } } }
  - id: records
    needs: [zones]
    for_each: "{{ steps.zones.json.result }}"
    concurrency: 2
    http: { url: "@BASE@/zones/{{ item.id }}/dns_records" }
    expect: { status: 200 }
  - id: report
    needs: [records]
    effect: change
    command: printf '%s' "{{ steps.records.results | length }}" > report.txt
"#,
            &server,
        ),
    );
    let ran = work.runbook(["run", "fan.yaml"]).status(0);
    assert_eq!(
        server.count("GET", "/zones/a/dns_records"),
        2,
        "the 429 was not retried after its Retry-After:\n{}",
        ran.stdout
    );
    for id in ["b", "c", "d"] {
        assert_eq!(server.count("GET", &format!("/zones/{id}/dns_records")), 1);
    }
    // Two at a time, never more: `/zones` itself came before the fan-out.
    assert_eq!(server.max_in_flight(), 2);
    assert_eq!(work.read("report.txt"), "4");
}

#[test]
fn for_each_fails_when_one_item_fails_and_says_which() {
    let server = Server::start();
    for id in ["a", "c"] {
        server.route("GET", &format!("/items/{id}"), Reply::status(200));
    }
    server.route("GET", "/items/b", Reply::status(500));
    let work = Work::new();
    work.write(
        "fan.yaml",
        with_base(
            r#"runbook: fan
inputs:
  ids: { default: "a,b,c" }
steps:
  - id: items
    for_each: "{{ inputs.ids | split(',') }}"
    concurrency: 3
    http: { url: "@BASE@/items/{{ item }}" }
    expect: { status: 200 }
"#,
            &server,
        ),
    );
    let ran = work.runbook(["run", "fan.yaml"]).status(1);
    assert_eq!(server.total(), 3);
    assert!(ran.stdout.contains("1 of 3 items failed"), "{}", ran.stdout);
    assert!(ran.stdout.contains("/items/b"), "{}", ran.stdout);
}

#[test]
fn for_each_runs_a_command_per_item() {
    let work = Work::new();
    work.write(
        "each.yaml",
        r#"runbook: each
inputs:
  names: { default: "alpha,beta,gamma" }
steps:
  - id: greet
    for_each: "{{ inputs.names | split(',') }}"
    concurrency: 2
    effect: change
    command:
      run: 'echo "$NAME" >> greeted'
      env: { NAME: "{{ item }}" }
"#,
    );
    work.runbook(["run", "each.yaml"]).status(0);
    let mut greeted: Vec<String> = work.read("greeted").lines().map(str::to_owned).collect();
    greeted.sort();
    assert_eq!(greeted, ["alpha", "beta", "gamma"]);
}

#[test]
fn retry_runs_a_failing_command_again_up_to_its_attempts() {
    let work = Work::new();
    let flaky = |attempts: u32| {
        format!(
            r#"runbook: flaky
steps:
  - id: flaky
    effect: probe
    retry: {{ attempts: {attempts}, delay: 100ms }}
    command: 'echo x >> tries; test "$(wc -l < tries)" -ge 3'
"#
        )
    };
    work.write("flaky.yaml", flaky(3));
    work.runbook(["run", "flaky.yaml"]).status(0);
    assert_eq!(work.lines("tries"), 3);

    std::fs::remove_file(work.join("tries")).expect("remove tries");
    work.write("flaky.yaml", flaky(2));
    work.runbook(["run", "flaky.yaml"]).status(1);
    assert_eq!(work.lines("tries"), 2);
}

#[test]
fn retry_sends_a_failing_request_again() {
    let server = Server::start();
    server.route("GET", "/flaky", Reply::status(200).failing_first(2, 500));
    let work = Work::new();
    work.write(
        "flaky.yaml",
        with_base(
            r#"runbook: flaky
steps:
  - id: flaky
    retry: { attempts: 3, delay: 100ms }
    http: { url: "@BASE@/flaky" }
    expect: { status: 200 }
"#,
            &server,
        ),
    );
    work.runbook(["run", "flaky.yaml"]).status(0);
    assert_eq!(server.count("GET", "/flaky"), 3);
}

/// Whether the process `pid` has ended (gone, or a zombie nobody reaped).
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn a_command_past_its_timeout_is_killed_and_the_step_fails() {
    let work = Work::new();
    work.write(
        "slow.yaml",
        r"runbook: slow
steps:
  - id: slow
    effect: none
    timeout: 500ms
    command: 'sleep 30 & echo $! > sleeper.pid; wait'
  - id: after
    effect: change
    command: touch after
",
    );
    let started = Instant::now();
    let ran = work.runbook(["run", "slow.yaml"]).status(1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("timed out"), "{}", ran.stdout);
    assert!(!work.exists("after"));
    let pid = work.read("sleeper.pid");
    let pid = pid.trim();
    let deadline = Instant::now() + Duration::from_secs(3);
    while !ended(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ended(pid), "the command's child {pid} is still running");
}

const PARENT: &str = r"runbook: parent
steps:
  - id: first
    effect: change
    command: echo parent-first >> log
  - id: child
    runbook: child.yaml
  - id: after
    needs: [child]
    effect: change
    command: echo parent-after >> log
";

#[test]
fn a_child_runbook_runs_as_a_step() {
    let work = Work::new();
    work.write("parent.yaml", PARENT);
    work.write(
        "child.yaml",
        r"runbook: child
steps:
  - id: inner
    effect: change
    command: echo child-inner >> log
",
    );
    work.runbook(["run", "parent.yaml"]).status(0);
    assert_eq!(
        work.read("log"),
        "parent-first\nchild-inner\nparent-after\n"
    );
}

#[test]
fn a_failing_child_runbook_fails_its_step() {
    let work = Work::new();
    work.write("parent.yaml", PARENT);
    work.write(
        "child.yaml",
        r"runbook: child
steps:
  - id: inner
    effect: change
    command: exit 7
",
    );
    let ran = work.runbook(["run", "parent.yaml"]).status(1);
    assert_eq!(work.read("log"), "parent-first\n", "{}", ran.stdout);
}

#[test]
fn a_blocked_child_runbook_blocks_its_step() {
    let work = Work::new();
    work.write("parent.yaml", PARENT);
    work.write(
        "child.yaml",
        r"runbook: child
steps:
  - id: inner
    manual: Do the thing by hand.
",
    );
    let ran = work.runbook(["run", "parent.yaml"]).status(3);
    assert_eq!(work.read("log"), "parent-first\n", "{}", ran.stdout);
    work.runbook(["run", "parent.yaml", "--yes"]).status(0);
}

#[test]
fn when_skips_a_step_whose_condition_is_false() {
    let work = Work::new();
    work.write(
        "when.yaml",
        r#"runbook: when
inputs:
  mode: { default: fast, choices: [fast, slow] }
steps:
  - id: fast
    when: "{{ inputs.mode == 'fast' }}"
    effect: change
    command: touch fast
  - id: slow
    when: "{{ inputs.mode == 'slow' }}"
    effect: change
    command: touch slow
"#,
    );
    work.runbook(["run", "when.yaml"]).status(0);
    assert!(work.exists("fast"));
    assert!(!work.exists("slow"));
    let events = work.only_journal(".runbook");
    assert_eq!(
        finished(&events, "slow").expect("slow")["outcome"],
        "skipped"
    );

    std::fs::remove_file(work.join("fast")).expect("remove fast");
    let ran = work
        .runbook(["run", "when.yaml", "--set", "mode=slow"])
        .status(0);
    assert!(work.exists("slow"), "{}", all(&ran));
    assert!(!work.exists("fast"));
}

#[test]
fn command_checks_are_read_in_the_plan_and_judged_by_the_run() {
    let work = Work::new();
    work.write(
        "checks.yaml",
        r#"runbook: checks
steps:
  - id: count
    effect: probe
    command: "echo 'count = 10'; echo 'slow disk' >&2; exit 3"
    expect:
      exit_code: [0, 3]
      stdout: { equals: "count = 10", not_contains: error }
      stderr: { contains: slow }
  - id: replicas
    effect: probe
    command: "echo '{\"ready\": 2}'"
    expect:
      json: { ready: { ge: 2 } }
  - id: queue
    effect: probe
    command: echo 0
    wait_for:
      command: echo 0
      expect: { json: { lt: 1 } }
      interval: 50ms
      timeout: 5s
    expect: { json: { equals: 0 } }
"#,
    );
    let plan = work.runbook(["plan", "checks.yaml"]).status(0);
    for words in [
        "exit code 0 or 3",
        "stdout equals \"count = 10\"",
        "stdout does not contain \"error\"",
        "stderr contains \"slow\"",
        "json ready ≥ 2",
        "until exit code 0, json < 1",
        "json = 0",
    ] {
        assert!(plan.stdout.contains(words), "{words}:\n{}", plan.stdout);
    }
    work.runbook(["run", "checks.yaml"]).status(0);

    work.write(
        "zero.yaml",
        r#"runbook: zero
steps:
  - id: count
    effect: probe
    command: "echo 'count = 10'"
    expect:
      stdout: { equals: "count = 0" }
"#,
    );
    let ran = work.runbook(["run", "zero.yaml"]).status(1);
    assert!(
        ran.stdout
            .contains("stdout: expected \"count = 0\", got \"count = 10\""),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_notification_owes_no_probe_and_is_shown_as_one() {
    let server = Server::start();
    server.route("GET", "/health", Reply::status(200));
    server.route("POST", "/hook", Reply::status(200));
    let work = Work::new();
    work.write(
        "announce.yaml",
        with_base(
            r#"runbook: announce
steps:
  - id: healthy
    http: { url: "@BASE@/health" }
  - id: announce
    needs: [healthy]
    effect: notify
    http:
      method: POST
      url: "@BASE@/hook"
      json: { text: "purging now" }
  - id: purge
    needs: [healthy, announce]
    effect: irreversible
    confirm: true
    command: echo purged
"#,
            &server,
        ),
    );
    // A POST is a change unless it is declared a notification; a change would
    // need a probe after it before `purge`.
    work.runbook(["validate", "announce.yaml"]).status(0);
    let plan = work.runbook(["plan", "announce.yaml"]).status(0);
    assert!(
        plan.stdout.contains("[announce] · notify"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("1 notify"), "{}", plan.stdout);
    let json = work
        .runbook(["plan", "announce.yaml", "--format", "json"])
        .status(0);
    let plan: serde_json::Value = serde_json::from_str(&json.stdout).expect("a JSON plan");
    assert_eq!(plan["phases"][0]["steps"][1]["effect"], "notify", "{plan}");
    let markdown = work
        .runbook(["plan", "announce.yaml", "--format", "markdown"])
        .status(0);
    assert!(
        markdown.stdout.contains("(`announce`) — notify"),
        "{}",
        markdown.stdout
    );
    let ran = work
        .runbook([
            "run",
            "announce.yaml",
            "--non-interactive",
            "--confirm",
            "purge",
        ])
        .status(0);
    assert_eq!(server.count("POST", "/hook"), 1, "{}", ran.stdout);

    // Without the declaration the POST is a change no probe checks.
    work.write(
        "announce.yaml",
        work.read("announce.yaml")
            .replace("    effect: notify\n", ""),
    );
    work.runbook(["validate", "announce.yaml"])
        .status(1)
        .stdout_has("RB019");
}

#[test]
fn several_settings_switch_together_and_roll_back_together() {
    let work = Work::new();
    work.write(".env", "DB_USER=app_v1\nDB_PASSWORD=old-password\nKEEP=1\n");
    work.write(
        "rotate.yaml",
        r#"runbook: rotate
inputs:
  password: { secret: true }
steps:
  - id: switch
    set_setting:
      file: .env
      values: { DB_USER: app_v2, DB_PASSWORD: "{{ inputs.password }}" }
  - id: check
    needs: [switch]
    effect: probe
    command: "grep -c app_v2 .env"
    expect: { stdout: { equals: "2" } }
rollback:
  - id: restore
    when: "{{ steps.switch.outcome == 'passed' }}"
    restore_setting: switch
"#,
    );
    let plan = work.runbook(["plan", "rotate.yaml"]).status(0);
    assert!(
        plan.stdout.contains("set DB_USER, DB_PASSWORD in .env"),
        "{}",
        plan.stdout
    );
    let ran = work
        .runbook(["run", "rotate.yaml"])
        .env("RUNBOOK_INPUT_PASSWORD", "n3w-Passw0rd-xyz")
        .status(1);
    assert!(
        ran.stdout.contains("stdout: expected \"2\", got \"1\""),
        "{}",
        ran.stdout
    );
    assert!(!ran.stdout.contains("n3w-Passw0rd"), "{}", ran.stdout);
    assert_eq!(
        work.read(".env"),
        "DB_USER=app_v1\nDB_PASSWORD=old-password\nKEEP=1\n"
    );
}

#[test]
fn a_whole_file_is_written_atomically_and_restored_by_the_rollback() {
    let work = Work::new();
    work.write("tls.crt", "OLD CERT\n");
    std::fs::set_permissions(work.join("tls.crt"), std::fs::Permissions::from_mode(0o644))
        .expect("chmod");
    work.write("new.crt", "NEW CERT\n");
    work.write(
        "renew.yaml",
        r#"runbook: renew
inputs:
  key: { secret: true }
steps:
  - id: cert
    write_file: { path: tls.crt, from: new.crt, mode: "0640" }
  - id: key
    write_file: { path: tls.key, content: "{{ inputs.key }}" }
  - id: served
    needs: [cert, key]
    effect: probe
    command: cat tls.crt
    expect: { stdout: { equals: "OLD CERT" } }
rollback:
  - id: restore_key
    when: "{{ steps.key.outcome == 'passed' }}"
    restore_file: key
  - id: restore_cert
    when: "{{ steps.cert.outcome == 'passed' }}"
    restore_file: cert
"#,
    );
    let plan = work
        .runbook(["plan", "renew.yaml"])
        .env("RUNBOOK_INPUT_KEY", "PRIVATE-KEY-abcdef-1234")
        .status(0);
    assert!(plan.stdout.contains("write tls.key"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("content copied from new.crt"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains("PRIVATE-KEY"), "{}", plan.stdout);
    let ran = work
        .runbook(["run", "renew.yaml", "--events", "events.jsonl"])
        .env("RUNBOOK_INPUT_KEY", "PRIVATE-KEY-abcdef-1234")
        .status(1);
    // The check saw the new file; the rollback put the old one back, mode too,
    // and removed the key file it had created.
    assert!(
        ran.stdout
            .contains("stdout: expected \"OLD CERT\", got \"NEW CERT\""),
        "{}",
        ran.stdout
    );
    assert_eq!(work.read("tls.crt"), "OLD CERT\n");
    assert_eq!(mode(&work, "tls.crt"), 0o644);
    assert!(!work.exists("tls.key"), "{}", ran.stdout);
    let everything = format!("{}{}{}", ran.stdout, ran.stderr, work.read("events.jsonl"));
    assert!(!everything.contains("PRIVATE-KEY"), "{everything}");
}
