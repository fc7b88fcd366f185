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
