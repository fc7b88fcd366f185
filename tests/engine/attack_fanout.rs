//! Hostile cases for fan-outs of child runbooks: items the fan-out cannot tell
//! apart, and items that are secrets, through a `kill -9` and `resume`.

use super::{Work, all, files_under, wait_for_exit};

/// A child that appends its item to `acted` in an irreversible step, and for
/// item names ending in `hold` adds a line to `holding` and waits until `go`
/// exists (to be killed there).
const ACTS: &str = r#"runbook: acts
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
      run: 'echo "$NAME" >> acted'
      env: { NAME: "{{ inputs.name }}" }
  - id: hold
    needs: [act]
    effect: none
    command:
      run: 'case "$NAME" in *hold) echo x >> holding; n=0; while [ ! -f go ] && [ $n -lt 400 ]; do n=$((n+1)); sleep 0.05; done; test -f go;; esac'
      env: { NAME: "{{ inputs.name }}" }
"#;

fn parent(inputs: &str, for_each: &str, concurrency: u32) -> String {
    format!(
        r#"runbook: parent
{inputs}steps:
  - id: fan
    runbook: acts.yaml
    for_each: {for_each}
    concurrency: {concurrency}
    with: {{ name: "{{{{ item }}}}" }}
"#
    )
}

#[test]
fn a_repeated_item_is_refused_before_any_item_runs_never_passed_as_the_first() {
    for concurrency in [1, 3] {
        let work = Work::new();
        work.write("acts.yaml", ACTS);
        work.write("parent.yaml", parent("", "[a, b, a]", concurrency));
        let ran = work
            .runbook(["run", "parent.yaml", "--confirm", "fan.act"])
            .status(1);
        let shown = all(&ran);
        // Before: one `a` ran, the second was "passed earlier in this run"
        // (concurrency 1) or failed on the first's lock (concurrency 3).
        assert!(
            shown.contains(r#"`for_each` gives item "a" twice"#),
            "concurrency {concurrency}: {shown}"
        );
        assert!(!shown.contains("passed earlier"), "{shown}");
        assert!(!work.exists("acted"), "an item ran: {}", work.read("acted"));
    }
}

#[test]
fn secret_items_killed_mid_fan_out_resume_once_each_and_no_journal_holds_them() {
    let work = Work::new();
    work.write("acts.yaml", ACTS);
    work.write(
        "parent.yaml",
        parent(
            "inputs:\n  hosts: { secret: true }\n",
            "\"{{ inputs.hosts | split(',') }}\"",
            2,
        ),
    );
    // Two at a time: `first…hold` holds one slot while the second, the third
    // and `fourth…hold` pass through the other; the fifth has not started
    // when both holders are killed.
    let hosts =
        "firstSECREThold,secondSECRETvalue,thirdSECRETvalue,fourthSECREThold,fifthSECRETvalue";
    let mut first = work
        .runbook(["run", "parent.yaml", "--confirm", "fan.act"])
        .env("RUNBOOK_INPUT_HOSTS", hosts)
        .spawn(&work, "first");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while work.lines("holding") < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the holding items did not start: {}",
            work.read("first.out")
        );
        assert!(
            first.try_wait().expect("poll the run").is_none(),
            "the run ended early: {}",
            work.read("first.out")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.kill().expect("kill -9 the run");
    first.wait().expect("reap the run");
    work.write("go", "");
    let before = work.read("acted");
    let mut resumed = work
        .runbook(["resume", "parent.yaml", "--confirm", "fan.act"])
        .env("RUNBOOK_INPUT_HOSTS", hosts)
        .spawn(&work, "resumed");
    assert_eq!(
        wait_for_exit(&mut resumed),
        0,
        "{}\n{}",
        work.read("resumed.out"),
        work.read("resumed.err")
    );
    // Every item acted exactly once, whether it had acted before the kill or not.
    let mut acted: Vec<String> = work.read("acted").lines().map(str::to_owned).collect();
    acted.sort();
    let mut expected: Vec<String> = hosts.split(',').map(str::to_owned).collect();
    expected.sort();
    assert_eq!(acted, expected, "acted before the kill: {before}");
    // Nothing written holds an item: not the screen, not a journal (the
    // child's `child_of` recorded the item as it was before).
    for file in files_under(work.path()) {
        if file.components().any(|c| c.as_os_str() == "secrets") || file.ends_with("acted") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            !text.contains("SECRET"),
            "{} holds a secret item:\n{text}",
            file.display()
        );
    }
}
