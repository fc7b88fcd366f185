//! Fan-out beyond one request (issue 12 §2): child runbooks given inputs by
//! `with:`, `for_each` on `runbook:` steps (one child run per item, each with
//! its own gates, journal and outcome), a child's `outputs:` read by its
//! parent, items named by value, and resume of a half-done fan-out running
//! only what is left — an irreversible child step exactly once, even across
//! `kill -9`.

use super::{Work, all, events, files_under, finished, wait_for_exit, wait_until_started};

/// A parent secret, given through the environment as operators do.
const TOKEN: &str = "fanout_SECRET_token_9Xq2";

/// A child whose `password` input is not declared secret: a parent's secret
/// passed to it must be one all the same. It dumps a command's environment,
/// so a secret that leaked into one (other than through `env:`) would be found.
const CONSUMER: &str = r#"runbook: consumer
inputs:
  host: { description: The consumer }
  password: { description: Its new password }
steps:
  - id: save
    effect: change
    command:
      run: 'echo "$HOST" >> hosts; echo "password is $PASSWORD"'
      env: { HOST: "{{ inputs.host }}", PASSWORD: "{{ inputs.password }}" }
  - id: dump
    effect: none
    command:
      run: 'env > "env-$HOST"'
      env: { HOST: "{{ inputs.host }}" }
outputs:
  saved: "{{ inputs.host }}"
  secret_echo: "{{ inputs.password }}"
"#;

#[test]
fn with_values_reach_the_child_above_set_and_a_parent_secret_stays_secret_in_it() {
    let work = Work::new();
    work.write("consumer.yaml", CONSUMER);
    work.write(
        "parent.yaml",
        r#"runbook: parent
inputs:
  token: { secret: true }
  host: { description: This runbook's own host }
steps:
  - id: own
    effect: none
    command:
      run: 'echo "$HOST" >> parent-host'
      env: { HOST: "{{ inputs.host }}" }
  - id: one
    runbook: consumer.yaml
    with: { host: from-with, password: "{{ inputs.token }}" }
  - id: read_back
    needs: [one]
    effect: probe
    command:
      run: 'echo "saved $SAVED $ECHOED"'
      env: { SAVED: "{{ steps.one.outputs.saved }}", ECHOED: "{{ steps.one.outputs.secret_echo }}" }
"#,
    );
    let events_file = work.join("events.jsonl");
    let ran = work
        .runbook([
            "run",
            "parent.yaml",
            "--set",
            "host=from-set",
            "--events",
            events_file.to_str().expect("UTF-8"),
        ])
        .env("RUNBOOK_INPUT_TOKEN", TOKEN)
        .status(0);
    // `with:` is a layer above `--set`: the child's input is what `with:` gives,
    // the parent's own input of that name what `--set` gives.
    assert_eq!(work.read("hosts"), "from-with\n");
    assert_eq!(work.read("parent-host"), "from-set\n");
    let shown = all(&ran);
    assert!(shown.contains("saved from-with ••••9Xq2"), "{shown}");
    assert!(shown.contains("password is ••••9Xq2"), "{shown}");
    // Nothing the run wrote holds the secret: the screen, the events, every
    // journal (parent's and child's), the command's environment.
    assert!(!shown.contains(TOKEN), "{shown}");
    let mut written = files_under(work.path());
    written.retain(|p| !p.components().any(|c| c.as_os_str() == "secrets"));
    for file in &written {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        assert!(!text.contains(TOKEN), "{} holds the secret", file.display());
    }
    assert!(work.exists("env-from-with"), "the child ran its command");
    let child = work.journals(".runbook/consumer/runs");
    let child = events(&std::fs::read_to_string(&child[0]).expect("the child's journal"));
    let provided: Vec<&serde_json::Value> = child
        .iter()
        .filter(|e| e["event"] == "input_provided" && e["name"] == "password")
        .collect();
    assert_eq!(provided.len(), 1, "{child:?}");
    assert_eq!(
        provided[0]["secret"], true,
        "a parent's secret is one in the child"
    );
    assert_eq!(provided[0]["source"], "with");
    // The plan shows the child with the values `with:` gives, the secret masked.
    for format in ["human", "markdown", "json"] {
        let plan = work
            .runbook(["plan", "parent.yaml", "--format", format])
            .env("RUNBOOK_INPUT_TOKEN", TOKEN)
            .status(0);
        assert!(!all(&plan).contains(TOKEN), "{format}: {}", all(&plan));
        assert!(
            plan.stdout.contains("••••9Xq2"),
            "{format}: {}",
            plan.stdout
        );
        assert!(
            plan.stdout.contains("from-with"),
            "{format}: {}",
            plan.stdout
        );
    }
    // The report reads the journals: masked there too.
    let report = work
        .runbook(["report", "parent.yaml", "--format", "json"])
        .status(0);
    assert!(!all(&report).contains(TOKEN));
}

#[test]
fn an_answer_that_only_a_with_value_would_take_is_refused() {
    let work = Work::new();
    work.write("consumer.yaml", CONSUMER);
    work.write(
        "parent.yaml",
        r#"runbook: parent
steps:
  - id: one
    runbook: consumer.yaml
    with: { host: from-with, password: "{{ 'x' * 8 }}" }
"#,
    );
    for command in ["run", "plan"] {
        let ran = work
            .runbook([command, "parent.yaml", "--set", "host=from-set"])
            .status(2);
        assert!(
            all(&ran).contains("`host` (from --set) would change nothing"),
            "{command}: {}",
            all(&ran)
        );
    }
    assert!(!work.exists("hosts"), "nothing ran");
}

/// A child that checks its item: `b` fails.
const CHECK: &str = r#"runbook: check
inputs:
  name: { description: The item }
steps:
  - id: act
    effect: change
    command:
      run: 'echo "$NAME" >> acted; test "$NAME" != b'
      env: { NAME: "{{ inputs.name }}" }
"#;

#[test]
fn a_failed_item_fails_the_step_names_the_item_and_closes_the_gate() {
    let work = Work::new();
    work.write("check.yaml", CHECK);
    work.write(
        "parent.yaml",
        r#"runbook: parent
steps:
  - id: fan
    runbook: check.yaml
    for_each: [a, b, c]
    with: { name: "{{ item }}" }
  - id: after
    needs: [fan]
    effect: change
    command: echo ran >> after
"#,
    );
    let ran = work.runbook(["run", "parent.yaml"]).status(1);
    let shown = all(&ran);
    assert!(
        shown.contains(r#"item "b": child runbook `fan` failed at `act`: exit code 1, expected 0"#),
        "{shown}"
    );
    // The first failure stops the fan-out: `c` never started, `after` never ran.
    assert_eq!(work.read("acted"), "a\nb\n");
    assert!(!work.exists("after"));
    let parent = work.journals(".runbook/parent/runs");
    let parent = events(&std::fs::read_to_string(&parent[0]).expect("the journal"));
    let fan = finished(&parent, "fan").expect("fan finished");
    assert_eq!(fan["outcome"], "failed");
    let results = fan["results"]["results"]
        .as_array()
        .expect("per-item results");
    let items: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["item"].as_str().unwrap_or_default(),
                r["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(items, [("a", "passed"), ("b", "failed"), ("c", "pending")]);
}

/// A child with an irreversible step gated by a probe; for item `b` it then
/// waits for an approval (blocked without `--yes`), or holds until the file
/// `go` exists (to be killed there).
const GATED: &str = r#"runbook: gated
inputs:
  name: { description: The item }
  hold: { default: "no" }
steps:
  - id: look
    effect: probe
    command: 'true'
  - id: act
    needs: [look]
    effect: irreversible
    confirm: true
    command:
      run: 'echo "$NAME" >> acted'
      env: { NAME: "{{ inputs.name }}" }
  - id: approve
    when: inputs.name == 'b' and inputs.hold == 'no'
    manual: Approve the result for {{ inputs.name }}.
  - id: hold
    when: inputs.name == 'b' and inputs.hold == 'yes'
    effect: none
    command: 'n=0; while [ ! -f go ] && [ -f gated.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f go'
outputs:
  done: "{{ inputs.name }}"
"#;

fn gated_parent(hold: &str) -> String {
    format!(
        r#"runbook: parent
steps:
  - id: fan
    runbook: gated.yaml
    for_each: [a, b, c]
    with: {{ name: "{{{{ item }}}}", hold: "{hold}" }}
  - id: report
    needs: [fan]
    effect: probe
    command: 'echo "done: {{{{ steps.fan.results | map(attribute="outputs") | map(attribute="done") | join(",") }}}}"'
"#
    )
}

#[test]
fn a_blocked_item_is_finished_on_resume_and_no_item_acts_twice() {
    let work = Work::new();
    work.write("gated.yaml", GATED);
    work.write("parent.yaml", gated_parent("no"));
    let ran = work
        .runbook(["run", "parent.yaml", "--confirm", "fan.act"])
        .status(3);
    assert!(all(&ran).contains(r#"item "b""#), "{}", all(&ran));
    // A blocked item stops nothing else: `c` ran too.
    assert_eq!(work.read("acted"), "a\nb\nc\n");
    let resumed = work
        .runbook(["resume", "parent.yaml", "--confirm", "fan.act", "--yes"])
        .status(0);
    let shown = all(&resumed);
    assert!(shown.contains("passed earlier in this run"), "{shown}");
    assert!(shown.contains("done: a,b,c"), "{shown}");
    assert_eq!(work.read("acted"), "a\nb\nc\n", "an item acted twice");
}

#[test]
fn a_fan_out_killed_mid_item_resumes_what_is_left_and_acts_once_per_item() {
    let work = Work::new();
    work.write("gated.yaml", GATED);
    work.write("parent.yaml", gated_parent("yes"));
    let mut first = work
        .runbook(["run", "parent.yaml", "--confirm", "fan.act"])
        .spawn(&work, "first");
    wait_until_started(&work, ".runbook", "hold", &mut first);
    first.kill().expect("kill -9 the run");
    first.wait().expect("reap the run");
    work.write("go", "");
    assert_eq!(work.read("acted"), "a\nb\n");
    let mut resumed = work
        .runbook(["resume", "parent.yaml", "--confirm", "fan.act"])
        .spawn(&work, "resumed");
    assert_eq!(
        wait_for_exit(&mut resumed),
        0,
        "{}",
        work.read("resumed.out")
    );
    // `a` passed before the kill; `b` had acted and was holding: neither acts
    // again. `c` had not started.
    assert_eq!(
        work.read("acted"),
        "a\nb\nc\n",
        "an irreversible step ran twice"
    );
    assert!(work.read("resumed.out").contains("done: a,b,c"));
}

#[test]
fn an_answers_file_error_names_a_childs_manual_step_as_confirm_does() {
    let work = Work::new();
    work.write(
        "kid.yaml",
        r"runbook: kid
steps:
  - id: look
    effect: probe
    command: 'true'
  - id: destroy
    needs: [look]
    effect: irreversible
    confirm: true
    manual: Destroy the old cluster.
",
    );
    work.write(
        "parent.yaml",
        "runbook: parent\nsteps:\n  - id: teardown\n    runbook: kid.yaml\n",
    );
    work.write("answers.yaml", "destroy: done\n");
    let ran = work
        .runbook(["run", "parent.yaml", "--answers", "answers.yaml"])
        .status(2);
    let shown = all(&ran);
    assert!(
        shown.contains("the answer to `teardown.destroy` (answers file) is not valid"),
        "{shown}"
    );
    assert!(shown.contains("`--confirm teardown.destroy`"), "{shown}");
}

#[test]
fn an_items_secret_output_is_the_real_value_after_the_parent_resumes() {
    let work = Work::new();
    work.write(
        "minter.yaml",
        r#"runbook: minter
inputs:
  name: { description: The item }
steps:
  - id: gen
    generate_secret: { length: 20 }
  - id: keep
    effect: change
    command:
      run: 'printf %s "$V" > "minted-$NAME"'
      env: { V: "{{ steps.gen.value }}", NAME: "{{ inputs.name }}" }
outputs:
  pw: "{{ steps.gen.value }}"
"#,
    );
    work.write(
        "parent.yaml",
        r#"runbook: parent
steps:
  - id: fan
    runbook: minter.yaml
    for_each: [a, b]
    with: { name: "{{ item }}" }
  - id: wait
    needs: [fan]
    manual: Carry on when ready.
  - id: use
    needs: [wait]
    effect: change
    command:
      run: 'printf %s "$PW" > used'
      env: { PW: "{{ steps.fan.results[1].outputs.pw }}" }
"#,
    );
    work.runbook(["run", "parent.yaml"]).status(3);
    let minted = work.read("minted-b");
    assert_eq!(minted.len(), 20);
    let parent = work.journals(".runbook/parent/runs");
    let journal = std::fs::read_to_string(&parent[0]).expect("the journal");
    assert!(
        !journal.contains(&minted),
        "the secret output is journaled in clear"
    );
    work.runbook(["resume", "parent.yaml", "--yes"]).status(0);
    assert_eq!(work.read("used"), minted, "resume used a masked stand-in");
}

#[test]
fn rerun_of_one_items_step_in_doubt_leaves_the_other_items_runs_alone() {
    let work = Work::new();
    work.write(
        "gated.yaml",
        r#"runbook: gated
inputs:
  name: { description: The item }
steps:
  - id: look
    effect: probe
    command: 'true'
  - id: act
    needs: [look]
    effect: irreversible
    confirm: true
    command:
      run: 'echo "$NAME" >> acted; if [ "$NAME" = b ]; then n=0; while [ ! -f go ] && [ -f gated.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; fi'
      env: { NAME: "{{ inputs.name }}" }
  - id: approve
    when: inputs.name == 'a'
    manual: Approve the result for a.
"#,
    );
    work.write(
        "parent.yaml",
        "runbook: parent\nsteps:\n  - id: fan\n    runbook: gated.yaml\n    for_each: [a, b]\n    with: { name: \"{{ item }}\" }\n",
    );
    let mut first = work
        .runbook(["run", "parent.yaml", "--confirm", "fan.act"])
        .spawn(&work, "first");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while work.lines("acted") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "b's `act` did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.kill().expect("kill -9 the run");
    first.wait().expect("reap the run");
    work.write("go", "");
    // `b`'s irreversible `act` is in doubt; `a`'s passed and `a` waits for its
    // approval. `--rerun act` is for `b`'s run: `a`'s is continued as it is.
    let resumed = work
        .runbook([
            "resume",
            "parent.yaml",
            "--confirm",
            "fan.act",
            "--rerun",
            "act",
        ])
        .status(3);
    let shown = all(&resumed);
    assert!(!shown.contains("names no step in doubt"), "{shown}");
    assert!(shown.contains("a manual step needs an operator"), "{shown}");
    assert_eq!(work.read("acted"), "a\nb\nb\n", "a's act ran again");
}

#[test]
fn http_command_and_probe_fan_outs_name_a_failed_item_by_its_value() {
    let server = super::server::Server::start();
    server.route("GET", "/health/a.test", super::server::Reply::status(200));
    server.route("GET", "/health/b.test", super::server::Reply::status(503));
    let work = Work::new();
    work.write(
        "fan.yaml",
        super::with_base(
            r#"runbook: fan
steps:
  - id: requests
    for_each: [a.test, b.test]
    http: { url: "@BASE@/health/{{ item }}" }
    expect: { status: 200 }
"#,
            &server,
        ),
    );
    let ran = work.runbook(["run", "fan.yaml"]).status(1);
    assert!(all(&ran).contains(r#"item "b.test" ("#), "{}", all(&ran));
    let probed = work
        .runbook(["plan", "fan.yaml", "--probe", "--format", "json"])
        .status(0);
    probed.stdout_has(r#"item \"b.test\": "#);
    assert!(!probed.stdout.contains("item 1:"), "{}", probed.stdout);
    work.write(
        "commands.yaml",
        r#"runbook: commands
steps:
  - id: each
    for_each: { node: [a.test, b.test], component: [api] }
    effect: probe
    command:
      run: 'test "$NODE" != b.test'
      env: { NODE: "{{ item.node }}" }
"#,
    );
    let ran = work.runbook(["run", "commands.yaml"]).status(1);
    assert!(
        all(&ran).contains(r#"item {"component":"api","node":"b.test"}: exit code 1, expected 0"#),
        "{}",
        all(&ran)
    );
}

/// A fan-out whose child mints a secret for item `a` and gives it back as an
/// output; item `b` holds until `go` exists. Runs it, `kill -9`s it while `b`
/// holds, and returns the secret `a` minted.
fn killed_after_an_item_minted(work: &Work, flags: &[&str]) -> String {
    work.write(
        "minter.yaml",
        r#"runbook: minter
inputs:
  name: { description: The item }
steps:
  - id: gen
    when: inputs.name == 'a'
    generate_secret: { length: 20 }
  - id: keep
    when: inputs.name == 'a'
    effect: change
    command:
      run: 'printf %s "$V" > minted-a'
      env: { V: "{{ steps.gen.value }}" }
  - id: hold
    when: inputs.name == 'b'
    effect: none
    command: 'touch started-b; n=0; while [ ! -f go ] && [ -f minter.yaml ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done'
outputs:
  pw: "{{ steps.gen.value | default('none') }}"
"#,
    );
    work.write(
        "parent.yaml",
        r#"runbook: parent
steps:
  - id: fan
    runbook: minter.yaml
    for_each: [a, b]
    with: { name: "{{ item }}" }
  - id: use
    needs: [fan]
    effect: change
    command:
      run: 'printf %s "$PW" > used'
      env: { PW: "{{ steps.fan.results[0].outputs.pw }}" }
"#,
    );
    let mut args = vec!["run", "parent.yaml"];
    args.extend(flags);
    let mut first = work.runbook(args).spawn(work, "first");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !work.exists("started-b") {
        assert!(std::time::Instant::now() < deadline, "b did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.kill().expect("kill -9 the run");
    first.wait().expect("reap the run");
    work.write("go", "");
    work.read("minted-a")
}

#[test]
fn a_secret_output_of_an_item_that_passed_before_a_kill_is_the_real_value_on_resume() {
    let work = Work::new();
    let minted = killed_after_an_item_minted(&work, &[]);
    // `a` passed before the kill: its output is masked in its journal, and read
    // back from what its run kept for the parent.
    work.runbook(["resume", "parent.yaml"]).status(0);
    assert_eq!(work.read("used"), minted, "resume used a masked stand-in");
    let left: Vec<_> = files_under(work.path())
        .into_iter()
        .filter(|p| p.components().any(|c| c.as_os_str() == "secrets"))
        .collect();
    assert!(left.is_empty(), "secrets left at rest: {left:?}");
}

#[test]
fn a_secret_output_that_was_not_kept_is_asked_for_never_replaced_by_its_mask() {
    let work = Work::new();
    killed_after_an_item_minted(&work, &["--no-keep-secrets"]);
    let stopped = work
        .runbook(["resume", "parent.yaml", "--no-keep-secrets"])
        .status(2);
    assert!(
        all(&stopped).contains("secret output `steps.fan.results.0.outputs.pw`"),
        "{}",
        all(&stopped)
    );
    assert!(!work.exists("used"), "a step ran with the masked stand-in");
}

#[test]
fn the_plan_shows_a_fan_out_child_with_the_parents_placeholders_and_decides_nothing_on_them() {
    let work = Work::new();
    work.write("check.yaml", CHECK.replace(
        "  - id: act\n",
        "  - id: only_a\n    when: inputs.name == 'a'\n    effect: none\n    command: 'echo only a'\n  - id: act\n",
    ));
    work.write(
        "parent.yaml",
        "runbook: parent\nsteps:\n  - id: fan\n    runbook: check.yaml\n    for_each: [a, b]\n    with: { name: \"{{ item }}\" }\n",
    );
    let plan = work
        .runbook(["plan", "parent.yaml", "--format", "json"])
        .status(0);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).expect("a JSON plan");
    let fan = &plan["phases"][0]["steps"][0];
    assert_eq!(fan["for_each"]["items"], "[\"a\",\"b\"]");
    assert!(
        fan["details"].to_string().contains("with name = ‹item›"),
        "{fan}"
    );
    let child = &fan["child"]["phases"][0]["steps"];
    assert_eq!(
        child[0]["when"]["value"],
        serde_json::Value::Null,
        "{child}"
    );
    assert!(
        child[1]["details"].to_string().contains("NAME=‹item›"),
        "{child}"
    );
    assert_eq!(fan["child"]["inputs"][0]["source"], "with");
}

#[test]
fn a_rollback_that_fans_out_a_child_runs_each_non_interactively() {
    let work = Work::new();
    work.write(
        "undo.yaml",
        r#"runbook: undo
inputs:
  name: { description: What to undo }
steps:
  - id: undo
    effect: change
    command:
      run: 'echo "$NAME" >> undone'
      env: { NAME: "{{ inputs.name }}" }
"#,
    );
    // The same child fans out forward and back: each step gives `name`.
    work.write(
        "parent.yaml",
        r#"runbook: parent
steps:
  - id: do_each
    runbook: undo.yaml
    for_each: [a, b]
    with: { name: "do-{{ item }}" }
  - id: break
    effect: change
    command: 'exit 3'
rollback:
  - id: undo_each
    runbook: undo.yaml
    for_each: [a, b]
    with: { name: "{{ item }}" }
"#,
    );
    let ran = work
        .runbook(["run", "parent.yaml", "--non-interactive"])
        .status(1);
    assert!(!all(&ran).contains("missing"), "{}", all(&ran));
    assert_eq!(work.read("undone"), "do-a\ndo-b\na\nb\n", "{}", all(&ran));
}

#[test]
fn a_child_input_one_of_its_steps_leaves_out_is_missing_up_front() {
    let work = Work::new();
    work.write("consumer.yaml", CONSUMER);
    work.write(
        "parent.yaml",
        r#"runbook: parent
steps:
  - id: one
    runbook: consumer.yaml
    with: { host: a, password: "{{ 'x' * 8 }}" }
  - id: two
    runbook: consumer.yaml
    with: { host: b }
"#,
    );
    let ran = work
        .runbook(["run", "parent.yaml", "--non-interactive"])
        .status(2);
    assert!(
        all(&ran).contains("nobody can be asked without a terminal: password\n"),
        "{}",
        all(&ran)
    );
    assert!(!work.exists("hosts"), "{}", all(&ran));
}
