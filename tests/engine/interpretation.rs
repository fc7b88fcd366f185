//! One interpretation of a step (issue "One interpretation of a step"): what
//! `plan` shows of a check is what `run` renders, sends and judges — the
//! `expect` of a command, of a `wait_for`, of a fan-out item — and a failure
//! names what it was about.

use serde_json::Value;

use super::server::{Reply, Server};
use super::{Work, all, events, finished, with_base};

#[test]
fn a_wait_for_command_is_judged_by_its_stdout_not_only_its_exit_code() {
    let work = Work::new();
    work.write(
        "wait.yaml",
        r"runbook: wait
steps:
  - id: ready
    effect: probe
    wait_for:
      command: echo not-yet
      expect: { stdout_contains: ready }
      interval: 100ms
      timeout: 300ms
",
    );
    let plan = work.runbook(["plan", "wait.yaml"]).status(0);
    assert!(
        plan.stdout
            .contains("exit code 0 · stdout contains \"ready\""),
        "{}",
        plan.stdout
    );
    let ran = work.runbook(["run", "wait.yaml"]).status(1);
    assert!(
        all(&ran).contains("stdout: expected to contain \"ready\""),
        "{}",
        all(&ran)
    );
    work.write("ready", "");
    work.write(
        "wait.yaml",
        r"runbook: wait
steps:
  - id: ready
    effect: probe
    wait_for:
      command: cat ready && echo ready
      expect: { stdout_contains: ready }
      interval: 100ms
      timeout: 2s
",
    );
    work.runbook(["run", "wait.yaml"]).status(0);
}

#[test]
fn an_input_read_only_by_an_expect_is_resolved() {
    let server = Server::start();
    server.route(
        "GET",
        "/hello",
        Reply::json(200, serde_json::json!({"word": "hello"})),
    );
    let work = Work::new();
    work.write(
        "needle.yaml",
        with_base(
            r#"runbook: needle
inputs:
  needle: {}
steps:
  - id: said
    effect: probe
    command: echo hello world
    expect: { stdout_contains: "{{ inputs.needle }}" }
  - id: served
    http: { url: "@BASE@/hello" }
    expect: { json: { word: "{{ inputs.needle }}" }, body_contains: "{{ inputs.needle }}" }
"#,
            &server,
        ),
    );
    work.runbook(["run", "needle.yaml", "--set", "needle=hello"])
        .status(0);
    let ran = work
        .runbook(["run", "needle.yaml", "--set", "needle=goodbye"])
        .status(1);
    assert!(
        all(&ran).contains("stdout: expected to contain \"goodbye\""),
        "{}",
        all(&ran)
    );
}

#[test]
fn a_fan_out_command_renders_item_in_its_expect_and_waits_per_item() {
    let work = Work::new();
    work.write(
        "fan.yaml",
        r#"runbook: fan
steps:
  - id: each
    effect: change
    for_each: "{{ ['a.test', 'b.test'] }}"
    command: "echo {{ item }} > {{ item }}.out; echo {{ item }}"
    expect: { stdout_contains: "{{ item }}" }
    wait_for:
      command: "cat {{ item }}.out"
      expect: { stdout_contains: "{{ item }}" }
      interval: 100ms
      timeout: 2s
"#,
    );
    let ran = work.runbook(["run", "fan.yaml"]).status(0);
    assert!(ran.stdout.contains("2 of 2 items passed"), "{}", ran.stdout);
    // One item fails: it is named by its value, and the count is right.
    work.write(
        "fan.yaml",
        r#"runbook: fan
steps:
  - id: each
    effect: probe
    for_each: "{{ ['a.test', 'b.test'] }}"
    command: "test {{ item }} = a.test"
"#,
    );
    let ran = work.runbook(["run", "fan.yaml"]).status(1);
    let text = all(&ran);
    assert!(
        text.contains("1 of 2 items failed: item \"b.test\": exit code 1, expected 0"),
        "{text}"
    );
    assert!(!text.contains("Some("), "{text}");
}

#[test]
fn a_secret_commands_stdout_is_masked_on_screen_without_a_stray_newline() {
    let work = Work::new();
    work.write(
        "gen.yaml",
        r"runbook: gen
steps:
  - id: generate
    effect: none
    secret: true
    command: echo s3cr3t-generated-9b2f
",
    );
    let ran = work
        .runbook(["run", "gen.yaml", "--events", "events.jsonl"])
        .status(0);
    let text = all(&ran);
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("••••9b2f"), "{text}");
    let events = events(&work.read("events.jsonl"));
    let step = finished(&events, "generate").expect("finished");
    let stdout = step["results"]["stdout"].as_str().unwrap_or_default();
    assert!(!stdout.contains("s3cr3t"), "{stdout}");
    assert!(stdout.starts_with("••••9b2f"), "{stdout:?}");
    assert_eq!(step["results"]["stdout"], Value::from("••••9b2f\n"));
}

#[test]
fn a_bare_when_is_a_condition_and_text_mixed_with_braces_is_refused() {
    let work = Work::new();
    let yaml = r"runbook: cond
inputs:
  flag: { default: 'no' }
steps:
  - id: only_if_yes
    when: inputs.flag == 'yes'
    effect: change
    command: touch ran
";
    work.write("cond.yaml", yaml);
    work.runbook(["validate", "cond.yaml"]).status(0);
    let plan = work.runbook(["plan", "cond.yaml"]).status(0);
    assert!(plan.stdout.contains("false now"), "{}", plan.stdout);
    let ran = work.runbook(["run", "cond.yaml"]).status(0);
    assert!(ran.stdout.contains("skipped"), "{}", ran.stdout);
    assert!(!work.exists("ran"));
    work.runbook(["run", "cond.yaml", "--set", "flag=yes"])
        .status(0);
    assert!(work.exists("ran"));
    // Braces keep working.
    work.write(
        "cond.yaml",
        yaml.replace(
            "when: inputs.flag == 'yes'",
            "when: \"{{ inputs.flag == 'yes' }}\"",
        ),
    );
    let plan = work.runbook(["plan", "cond.yaml"]).status(0);
    assert!(plan.stdout.contains("false now"), "{}", plan.stdout);
    // Text around braces would always be true: refused at its line.
    work.write(
        "cond.yaml",
        yaml.replace(
            "when: inputs.flag == 'yes'",
            "when: \"flag is {{ inputs.flag }}\"",
        ),
    );
    let checked = work.runbook(["validate", "cond.yaml"]).status(1);
    let text = all(&checked);
    assert!(
        text.contains("RB013") && text.contains("cond.yaml:6:"),
        "{text}"
    );
    assert!(text.contains("`when` is not a condition"), "{text}");
}
