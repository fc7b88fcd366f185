//! Gate bypasses found by an attack on the engine (issue 10), each closed: a
//! fan-out over zero items proves nothing, a declared effect never lowers what
//! the engine knows, a `--confirm` names one step of one runbook, the run lock
//! holds whatever path or state directory reaches the runbook, `resume` keeps
//! the values the run began with, and a server answering 429 forever is not
//! waited on forever.

use serde_json::json;

use super::server::{Reply, Server};
use super::{Work, all, finished, with_base};

/// A probe that fans out over what the server lists, then an irreversible
/// DELETE that needs only it.
const FAN_OUT_EVIDENCE: &str = r#"runbook: fan
steps:
  - id: zones
    http: { url: "@BASE@/zones" }
  - id: check_each
    needs: [zones]
    for_each: "{{ steps.zones.json.result }}"
    http: { url: "@BASE@/zones/{{ item }}" }
    expect: { status: 200 }
  - id: destroy
    needs: [check_each]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "@BASE@/everything" }
"#;

#[test]
fn a_fan_out_over_zero_items_is_skipped_and_opens_no_gate() {
    let server = Server::start();
    server.route("GET", "/zones", Reply::json(200, json!({"result": []})));
    server.route("DELETE", "/everything", Reply::status(200));
    let work = Work::new();
    work.write("fan.yaml", with_base(FAN_OUT_EVIDENCE, &server));
    let ran = work
        .runbook([
            "run",
            "fan.yaml",
            "--confirm",
            "destroy",
            "--events",
            "events.jsonl",
        ])
        .status(3);
    assert_eq!(server.count("DELETE", "/everything"), 0, "{}", all(&ran));
    let events = super::events(&work.read("events.jsonl"));
    let check = finished(&events, "check_each").expect("check_each finished");
    assert_eq!(check["outcome"], "skipped", "{check}");
    assert!(
        check["reason"]
            .as_str()
            .is_some_and(|r| r.contains("no items")),
        "{check}"
    );
    let destroy = finished(&events, "destroy").expect("destroy finished");
    assert_eq!(destroy["outcome"], "blocked", "{destroy}");
    assert!(ran.stdout.contains("no items"), "{}", ran.stdout);
}

#[test]
fn a_fan_out_over_items_still_opens_the_gate() {
    let server = Server::start();
    server.route(
        "GET",
        "/zones",
        Reply::json(200, json!({"result": ["a", "b"]})),
    );
    server.route("GET", "/zones/a", Reply::status(200));
    server.route("GET", "/zones/b", Reply::status(200));
    server.route("DELETE", "/everything", Reply::status(200));
    let work = Work::new();
    work.write("fan.yaml", with_base(FAN_OUT_EVIDENCE, &server));
    work.runbook(["run", "fan.yaml", "--confirm", "destroy"])
        .status(0);
    assert_eq!(server.count("DELETE", "/everything"), 1);
}

/// The same irreversible step, its only probe a fan-out over an input.
const FAN_OUT_ONLY: &str = r#"runbook: fan
inputs:
  zones: { description: "zone ids, comma-separated" }
steps:
  - id: check_each
    for_each: "{{ inputs.zones | split(',') }}"
    http: { url: "http://127.0.0.1:9/zones/{{ item }}" }
  - id: destroy
    needs: [check_each]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "http://127.0.0.1:9/everything" }
"#;

#[test]
fn validate_warns_where_a_fan_out_is_the_only_evidence() {
    let work = Work::new();
    work.write("fan.yaml", FAN_OUT_ONLY);
    let ran = work.runbook(["validate", "fan.yaml"]).status(0);
    assert!(ran.stdout.contains("warning[RB036]"), "{}", all(&ran));
    assert!(ran.stdout.contains("`check_each`"), "{}", ran.stdout);
    work.runbook(["validate", "--deny-warnings", "fan.yaml"])
        .status(1);
    // A probe of the list before the fan-out is evidence that cannot pass on nothing.
    work.write(
        "fan.yaml",
        FAN_OUT_EVIDENCE.replace("@BASE@", "http://127.0.0.1:9"),
    );
    let ran = work
        .runbook(["validate", "--deny-warnings", "fan.yaml"])
        .status(0);
    assert!(!ran.stdout.contains("RB036"), "{}", ran.stdout);
}

/// `EFFECT` and `REQUEST` filled in: an irreversible DELETE whose only evidence
/// is the step `check`.
fn evidence_by(check: &str, server: &Server) -> String {
    with_base(
        &format!(
            r#"runbook: lowered
steps:
{check}
  - id: destroy
    needs: [check]
    effect: irreversible
    confirm: true
    http: {{ method: DELETE, url: "@BASE@/everything" }}
"#
        ),
        server,
    )
}

fn nothing_sent(server: &Server) {
    assert_eq!(server.total(), 0, "{:?}", server.order());
}

#[test]
fn effect_probe_on_a_post_is_refused_at_its_line_and_nothing_is_sent() {
    let server = Server::start();
    server.route("POST", "/reset", Reply::status(200));
    server.route("DELETE", "/everything", Reply::status(200));
    let work = Work::new();
    let check = r#"  - id: check
    effect: probe
    http: { method: POST, url: "@BASE@/reset" }"#;
    work.write("lowered.yaml", evidence_by(check, &server));
    let ran = work.runbook(["validate", "lowered.yaml"]).status(1);
    assert!(ran.stdout.contains("error[RB035]"), "{}", ran.stdout);
    assert!(ran.stdout.contains("lowered.yaml:4:13"), "{}", ran.stdout);
    assert!(ran.stdout.contains("POST"), "{}", ran.stdout);
    let ran = work
        .runbook(["run", "lowered.yaml", "--confirm", "destroy"])
        .status(2);
    assert!(all(&ran).contains("RB035"), "{}", all(&ran));
    work.runbook(["plan", "lowered.yaml"]).status(2);
    nothing_sent(&server);
}

#[test]
fn effect_probe_on_a_manual_step_is_refused() {
    let server = Server::start();
    let work = Work::new();
    let check = "  - id: check\n    effect: probe\n    manual: Look at the dashboard.";
    work.write("lowered.yaml", evidence_by(check, &server));
    let ran = work.runbook(["validate", "lowered.yaml"]).status(1);
    assert!(ran.stdout.contains("error[RB035]"), "{}", ran.stdout);
    assert!(ran.stdout.contains("manual"), "{}", ran.stdout);
}

#[test]
fn a_declared_effect_raises_and_the_plan_shows_the_real_one() {
    let server = Server::start();
    let work = Work::new();
    // A GET declared irreversible is irreversible; a DELETE is never shown as less.
    let yaml = with_base(
        r#"runbook: raised
steps:
  - id: check
    http: { url: "@BASE@/check" }
  - id: fire
    needs: [check]
    effect: irreversible
    confirm: true
    http: { url: "@BASE@/fire" }
  - id: purge
    needs: [check]
    http: { method: DELETE, url: "@BASE@/cache" }
"#,
        &server,
    );
    work.write("raised.yaml", yaml);
    let ran = work
        .runbook(["plan", "raised.yaml", "--format", "json"])
        .status(0);
    let plan: serde_json::Value = serde_json::from_str(&ran.stdout).expect("a JSON plan");
    let effects: Vec<&str> = plan["phases"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["effect"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(effects, ["probe", "irreversible", "change"]);
    nothing_sent(&server);
}

#[test]
fn wait_for_polls_only_with_get_or_head() {
    let server = Server::start();
    server.route("DELETE", "/token", Reply::status(200));
    server.route("DELETE", "/everything", Reply::status(200));
    let work = Work::new();
    let check = r#"  - id: check
    wait_for:
      http: { method: DELETE, url: "@BASE@/token" }
      timeout: 2s"#;
    work.write("lowered.yaml", evidence_by(check, &server));
    let ran = work.runbook(["validate", "lowered.yaml"]).status(1);
    assert!(ran.stdout.contains("error[RB026]"), "{}", ran.stdout);
    assert!(ran.stdout.contains("GET or HEAD"), "{}", ran.stdout);
    assert!(ran.stdout.contains("lowered.yaml:5:23"), "{}", ran.stdout);
    work.runbook(["run", "lowered.yaml", "--confirm", "destroy"])
        .status(2);
    nothing_sent(&server);
}

#[test]
fn a_polled_command_is_evidence_only_when_declared_a_probe() {
    let server = Server::start();
    server.route("DELETE", "/everything", Reply::status(200));
    let work = Work::new();
    let check =
        "  - id: check\n    wait_for:\n      command: rm -f precious && true\n      timeout: 2s";
    work.write("lowered.yaml", evidence_by(check, &server));
    let ran = work.runbook(["validate", "lowered.yaml"]).status(1);
    assert!(ran.stdout.contains("error[RB016]"), "{}", ran.stdout);
    assert!(ran.stdout.contains("polls a command"), "{}", ran.stdout);
    work.runbook(["run", "lowered.yaml", "--confirm", "destroy"])
        .status(2);
    nothing_sent(&server);
    let declared = "  - id: check\n    effect: probe\n    wait_for:\n      command: \"true\"\n      timeout: 2s";
    work.write("lowered.yaml", evidence_by(declared, &server));
    work.runbook(["run", "lowered.yaml", "--confirm", "destroy"])
        .status(0);
    assert_eq!(server.count("DELETE", "/everything"), 1);
}

/// A parent whose own irreversible step and whose child's are both `destroy`.
const PARENT: &str = r#"runbook: parent
steps:
  - id: check
    http: { url: "@BASE@/check" }
  - id: kid
    needs: [check]
    runbook: kid.yaml
  - id: after
    needs: [kid]
    http: { url: "@BASE@/check" }
  - id: destroy
    needs: [after]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "@BASE@/parent" }
"#;

const KID: &str = r#"runbook: kid
steps:
  - id: check
    http: { url: "@BASE@/check" }
  - id: destroy
    needs: [check]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "@BASE@/kid" }
"#;

fn parent_and_kid() -> (Server, Work) {
    let server = Server::start();
    server.route("GET", "/check", Reply::status(200));
    server.route("DELETE", "/parent", Reply::status(200));
    server.route("DELETE", "/kid", Reply::status(200));
    let work = Work::new();
    work.write("parent.yaml", with_base(PARENT, &server));
    work.write("kid.yaml", with_base(KID, &server));
    (server, work)
}

#[test]
fn a_bare_confirm_opens_only_the_top_level_step_of_that_name() {
    let (server, work) = parent_and_kid();
    let ran = work
        .runbook(["run", "parent.yaml", "--confirm", "destroy"])
        .status(3);
    assert_eq!(server.count("DELETE", "/kid"), 0, "{}", all(&ran));
    // The child is blocked, so the parent's own `destroy` never gets its needs.
    assert_eq!(server.count("DELETE", "/parent"), 0, "{}", all(&ran));
    assert!(all(&ran).contains("--confirm kid.destroy"), "{}", all(&ran));
}

#[test]
fn a_childs_step_is_confirmed_through_its_parent_step() {
    let (server, work) = parent_and_kid();
    let ran = work
        .runbook(["run", "parent.yaml", "--confirm", "kid.destroy"])
        .status(3);
    assert_eq!(server.count("DELETE", "/kid"), 1, "{}", all(&ran));
    assert_eq!(server.count("DELETE", "/parent"), 0, "{}", all(&ran));
    assert!(all(&ran).contains("--confirm destroy"), "{}", all(&ran));
    let (server, work) = parent_and_kid();
    work.runbook([
        "run",
        "parent.yaml",
        "--confirm",
        "kid.destroy",
        "--confirm",
        "destroy",
    ])
    .status(0);
    assert_eq!(
        server
            .order()
            .iter()
            .filter(|r| r.starts_with("DELETE"))
            .count(),
        2
    );
}

#[test]
fn a_confirm_naming_only_a_childs_step_says_how_to_name_it() {
    let server = Server::start();
    let work = Work::new();
    work.write(
        "parent.yaml",
        with_base(
            "runbook: parent\nsteps:\n  - id: kid\n    runbook: kid.yaml\n",
            &server,
        ),
    );
    work.write("kid.yaml", with_base(KID, &server));
    let ran = work
        .runbook(["run", "parent.yaml", "--confirm", "destroy"])
        .status(2);
    assert!(
        all(&ran).contains("`--confirm kid.destroy`"),
        "{}",
        all(&ran)
    );
    assert_eq!(server.total(), 0);
}

#[test]
fn the_plan_names_a_childs_confirmation_through_its_parent_step() {
    let (server, work) = parent_and_kid();
    let ran = work
        .runbook(["plan", "parent.yaml", "--format", "json"])
        .status(0);
    let plan: serde_json::Value = serde_json::from_str(&ran.stdout).expect("a JSON plan");
    let steps = &plan["phases"][0]["steps"];
    assert_eq!(steps[3]["confirm"]["non_interactive"], "--confirm destroy");
    let kid = &steps[1]["child"]["phases"][0]["steps"][1];
    assert_eq!(
        kid["confirm"]["non_interactive"], "--confirm kid.destroy",
        "{kid}"
    );
    let human = work.runbook(["plan", "parent.yaml"]).status(0);
    assert!(
        human
            .stdout
            .contains("step 2.2 `destroy` cannot be undone; without a terminal it runs only with --confirm kid.destroy"),
        "{}",
        human.stdout
    );
    assert_eq!(server.total(), 0);
}

/// Holds inside `hold` until the file `go` exists in `@DIR@` (giving up after
/// 20 s or when the directory is gone), then "destroys": appends to `destroyed`.
const HELD: &str = r"runbook: rb
steps:
  - id: hold
    effect: none
    command: 'n=0; while [ ! -f @DIR@/go ] && [ -d @DIR@ ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f @DIR@/go'
  - id: destroy
    effect: change
    command: echo destroyed >> @DIR@/destroyed
";

#[test]
fn the_run_lock_holds_whatever_path_or_state_directory_reaches_the_runbook() {
    let work = Work::new();
    work.write(
        "real/rb.yaml",
        HELD.replace("@DIR@", &work.path().display().to_string()),
    );
    std::os::unix::fs::symlink(work.join("real/rb.yaml"), work.join("real/link.yaml"))
        .expect("a symlink");
    std::fs::create_dir_all(work.join("elsewhere")).expect("a directory");
    std::os::unix::fs::symlink(work.join("real/rb.yaml"), work.join("elsewhere/rb.yaml"))
        .expect("a symlink");
    let mut first = work
        .runbook(["run", "rb.yaml"])
        .env("RUNBOOK_STATE_DIR", work.join("state-one"));
    first.command.current_dir(work.join("real"));
    let mut first = first.spawn(&work, "first");
    super::wait_until_started(&work, "state-one", "hold", &mut first);
    let pid = format!("{}", first.id());

    // Another state directory, through a symlink, from another directory; the
    // default state directory through a symlink elsewhere; the same file by
    // another spelling of its path.
    let attempts = [
        (vec!["run", "real/link.yaml"], Some("state-two")),
        (vec!["run", "elsewhere/rb.yaml"], None),
        (vec!["run", "./real/../real/rb.yaml"], Some("state-three")),
        (vec!["resume", "elsewhere/rb.yaml"], Some("state-one")),
    ];
    let mut refused = Vec::new();
    for (args, state) in attempts {
        let mut invocation = work.runbook(&args);
        if let Some(state) = state {
            invocation = invocation.env("RUNBOOK_STATE_DIR", work.join(state));
        }
        refused.push((args, invocation.run()));
    }
    work.write("go", "");
    let status = super::wait_for_exit(&mut first);
    assert_eq!(status, 0, "{}", work.read("first.out"));
    for (args, ran) in &refused {
        assert_eq!(ran.status, 2, "{args:?} was not refused:\n{}", all(ran));
        let out = all(ran);
        assert!(
            out.contains("another run of this runbook"),
            "{args:?}:\n{out}"
        );
        assert!(
            out.contains(&pid),
            "{args:?} does not name pid {pid}:\n{out}"
        );
    }
    assert_eq!(work.lines("destroyed"), 1, "destroyed more than once");
    // Once the first run is over, the runbook runs again through any path.
    work.runbook(["run", "real/link.yaml"])
        .env("RUNBOOK_STATE_DIR", work.join("state-two"))
        .status(0);
    assert_eq!(work.lines("destroyed"), 2);
}

/// `apply` acts on every target but waits for a confirmation: the first run
/// stops blocked after `first` was used, the others given but not used yet.
const TWO_TARGETS: &str = r#"runbook: targets
inputs:
  first: { description: used by the first step }
  second: { description: "given at the start, used later" }
  third: { default: "A" }
  token: { secret: true }
steps:
  - id: touch_first
    effect: change
    command: echo "first {{ inputs.first }}" >> log
  - id: apply
    effect: change
    confirm: true
    command: echo "then {{ inputs.second }} {{ inputs.third }} {{ inputs.token | last4 }}" >> log
"#;

const RUN_TOKEN: &str = "tok-run-value-AAAA";

#[test]
fn resume_refuses_values_that_differ_from_the_runs_naming_them() {
    let work = Work::new();
    work.write("targets.yaml", TWO_TARGETS);
    work.runbook([
        "run",
        "targets.yaml",
        "--set",
        "first=A",
        "--set",
        "second=A",
    ])
    .env("RUNBOOK_INPUT_TOKEN", RUN_TOKEN)
    .status(3);
    assert_eq!(work.read("log"), "first A\n");
    let refused = [
        (vec!["--set", "first=B"], "first", RUN_TOKEN),
        (vec!["--set", "second=B"], "second", RUN_TOKEN),
        (vec!["--set", "third=B"], "third", RUN_TOKEN),
        (vec![], "token", "tok-other-value-BBBB"),
    ];
    for (sets, name, token) in refused {
        let mut args = vec!["resume", "targets.yaml", "--confirm", "apply"];
        args.extend(sets.iter().copied());
        let ran = work
            .runbook(&args)
            .env("RUNBOOK_INPUT_TOKEN", token)
            .status(2);
        let out = all(&ran);
        assert!(
            out.contains(&format!("`{name}`")),
            "{args:?} does not name `{name}`:\n{out}"
        );
        assert!(
            out.contains("runbook run"),
            "{args:?} does not say what to do:\n{out}"
        );
        assert!(!out.contains("tok-other"), "a secret was shown:\n{out}");
        assert_eq!(work.read("log"), "first A\n", "{args:?} ran a step:\n{out}");
    }
    // The run's own values (given again or not at all) resume it.
    work.runbook([
        "resume",
        "targets.yaml",
        "--confirm",
        "apply",
        "--set",
        "first=A",
    ])
    .env("RUNBOOK_INPUT_TOKEN", RUN_TOKEN)
    .status(0);
    assert_eq!(work.read("log"), "first A\nthen A A AAAA\n");
}

/// A server whose `/busy` answers as `reply` says, and a runbook of one GET
/// of it.
fn busy(reply: Reply) -> (Server, Work) {
    let server = Server::start();
    server.route("GET", "/busy", reply);
    let work = Work::new();
    work.write(
        "busy.yaml",
        with_base(
            "runbook: busy\nsteps:\n  - id: check\n    http: { url: \"@BASE@/busy\" }\n",
            &server,
        ),
    );
    (server, work)
}

#[test]
fn a_429_wait_is_shown_on_screen() {
    let (server, work) = busy(Reply::status(200).throttle(2, "1"));
    let ran = work.runbook(["run", "busy.yaml"]).status(0);
    assert_eq!(server.count("GET", "/busy"), 3);
    assert!(
        ran.stdout
            .contains("waiting 1s: the server said 429 Too Many Requests, Retry-After: 1"),
        "{}",
        ran.stdout
    );
}

#[test]
fn a_server_always_answering_429_is_not_waited_on_past_the_steps_bound() {
    // A day: far past the 5 minutes a step without `timeout` waits out 429s.
    let (server, work) = busy(Reply::status(200).throttle(usize::MAX, "86400"));
    let ran = work.runbook(["run", "busy.yaml"]).status(1);
    assert_eq!(server.count("GET", "/busy"), 1);
    assert!(
        ran.stdout.contains("not waiting 1day: the server said 429 Too Many Requests, Retry-After: 86400; this step waits out 429s for 5m at most (give it a `timeout` to wait longer)"),
        "{}",
        ran.stdout
    );
}
