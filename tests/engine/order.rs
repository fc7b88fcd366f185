//! The order of runs (issue 15 item 4, SPEC §4): `resume`, `status` and `report`
//! agree on which run is the latest — by each run's sequence number, never by
//! run ids that have one-second resolution — and a new run supersedes any older
//! unfinished one, so `resume` never revives it and its irreversible step never
//! runs twice.

use serde_json::Value;

use super::server::{Reply, Server};
use super::{Work, all, events, names, with_base};

/// A change, then a manual step that blocks without `--yes`.
const QUICK: &str = r"runbook: quick
steps:
  - id: note
    effect: change
    command: echo ran >> notes
  - id: look
    needs: [note]
    manual: Look at it.
";

/// The run id a run's banner shows.
fn run_id(out: &str) -> String {
    out.lines()
        .find_map(|line| line.strip_prefix("run "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no run id in:\n{out}"))
        .to_owned()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn after_200_quick_runs_status_report_and_resume_all_take_the_last() {
    let work = Work::new();
    work.write("quick.yaml", QUICK);
    let mut last = String::new();
    for _ in 0..200 {
        last = run_id(&work.runbook(["run", "quick.yaml"]).status(3).stdout);
    }
    let status = json(
        &work
            .runbook(["status", "quick.yaml", "--format", "json"])
            .status(0)
            .stdout,
    );
    assert_eq!(status["run"]["id"], last.as_str(), "{status}");
    let report = json(
        &work
            .runbook(["report", "quick.yaml", "--format", "json"])
            .status(0)
            .stdout,
    );
    assert_eq!(report["run"]["id"], last.as_str());
    let resumed = work.runbook(["resume", "quick.yaml", "--yes"]).status(0);
    assert_eq!(run_id(&resumed.stdout), last, "{}", resumed.stdout);

    // Each run superseded the one before it.
    let journals = work.journals(".runbook");
    assert_eq!(journals.len(), 200);
    let superseded = journals
        .iter()
        .filter(|j| {
            let events = events(&std::fs::read_to_string(j).expect("read a journal"));
            names(&events).last() == Some(&"superseded")
        })
        .count();
    assert_eq!(superseded, 199);
}

/// Probe, then an irreversible DELETE behind a confirmation.
const REVOKE: &str = r#"runbook: revoke
steps:
  - id: verify
    http: { url: "@BASE@/probe" }
  - id: revoke
    needs: [verify]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "@BASE@/token" }
    expect: { status: 204 }
"#;

#[test]
fn an_older_blocked_run_cannot_be_resumed_after_a_newer_run_passed() {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    server.route("DELETE", "/token", Reply::status(204));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));

    let first = work.runbook(["run", "revoke.yaml"]).status(3);
    let older = run_id(&first.stdout);
    let second = work
        .runbook(["run", "revoke.yaml", "--confirm", "revoke"])
        .status(0);
    assert!(
        second.stdout.contains(&format!(
            "the unfinished run {older} is superseded by this one"
        )),
        "{}",
        second.stdout
    );
    assert_eq!(server.count("DELETE", "/token"), 1);

    let ran = work
        .runbook(["resume", "revoke.yaml", "--confirm", "revoke"])
        .status(2);
    assert!(
        ran.stderr.contains("there is no unfinished run"),
        "{}",
        all(&ran)
    );
    assert_eq!(server.count("DELETE", "/token"), 1, "revoked twice");

    let report = json(
        &work
            .runbook([
                "report",
                &format!(".runbook/revoke/runs/{older}.jsonl"),
                "--format",
                "json",
            ])
            .status(0)
            .stdout,
    );
    assert_eq!(report["run"]["state"], "superseded", "{report}");
    assert_eq!(
        report["run"]["superseded_by"],
        run_id(&second.stdout).as_str()
    );
}

#[test]
fn a_damaged_old_journal_does_not_stop_a_new_run() {
    let work = Work::new();
    work.write("quick.yaml", QUICK);
    work.runbook(["run", "quick.yaml"]).status(3);
    let journal = work.journals(".runbook").remove(0);
    let mut text = std::fs::read_to_string(&journal).expect("read the journal");
    text.insert_str(text.find('\n').expect("a line") + 1, "{\"at\": garbage\n");
    std::fs::write(&journal, text).expect("damage the journal");
    let ran = work.runbook(["run", "quick.yaml", "--yes"]).status(0);
    assert_eq!(work.lines("notes"), 2, "{}", all(&ran));
}
