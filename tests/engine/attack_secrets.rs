//! Hostile cases for secrets in fan-outs: items drawn from a secret are parts
//! of it, and every message names an item by its value — so the value must be
//! masked wherever a message goes.

use super::{Work, all, files_under};

/// The secret list: each host is a part of it, none equal to it.
const HOSTS: &str = "alphaSECRETone,betaSECRETtwo";

#[test]
fn items_split_from_a_secret_are_masked_in_every_message_journal_and_report() {
    let work = Work::new();
    work.write(
        "kid.yaml",
        r"runbook: kid
inputs:
  name: { description: The host }
  pin: { description: A number, pattern: '[0-9]+' }
steps:
  - id: show
    effect: none
    command: 'true'
",
    );
    work.write(
        "fan.yaml",
        r#"runbook: fan
inputs:
  hosts: { secret: true }
steps:
  - id: each
    for_each: "{{ inputs.hosts | split(',') }}"
    effect: probe
    command:
      run: 'exit 3'
      env: { HOST: "{{ item }}" }
"#,
    );
    work.write(
        "children.yaml",
        r#"runbook: children
inputs:
  hosts: { secret: true }
steps:
  - id: each
    runbook: kid.yaml
    for_each: "{{ inputs.hosts | split(',') }}"
    with: { name: "{{ item }}", pin: "not a number" }
"#,
    );
    let events = work.join("events.jsonl");
    for file in ["fan.yaml", "children.yaml"] {
        let ran = work
            .runbook(["run", file, "--events", events.to_str().expect("UTF-8")])
            .env("RUNBOOK_INPUT_HOSTS", HOSTS)
            .status(1);
        let shown = all(&ran);
        // Before, `item "alphaSECRETone": exit code 3, expected 0` (and the
        // child's `with: {pin}` refusal) named the item in full.
        assert!(shown.contains("item \"••••Tone\""), "{file}: {shown}");
        assert!(!shown.contains("SECRET"), "{file}: {shown}");
        for format in ["markdown", "json", "html"] {
            let report = work.runbook(["report", file, "--format", format]).status(0);
            assert!(!all(&report).contains("SECRET"), "{file} {format}");
        }
        let plan = work
            .runbook(["plan", file, "--probe"])
            .env("RUNBOOK_INPUT_HOSTS", HOSTS)
            .run();
        assert!(!all(&plan).contains("SECRET"), "{file}: {}", all(&plan));
    }
    for written in files_under(work.path()) {
        let text = std::fs::read_to_string(&written).unwrap_or_default();
        assert!(
            !text.contains("SECRET"),
            "{} holds a part of the secret:\n{text}",
            written.display()
        );
    }
}
