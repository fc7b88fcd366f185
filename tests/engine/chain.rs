//! The journal's hash chain (issue 10 item 10): a journal edited by hand — a
//! failed probe flipped to passed, a line removed, two lines swapped, the links
//! stripped — is refused by `resume`, so the irreversible step it would open
//! never runs; `runbook verify` says where the chain breaks (exit 1) or that it
//! holds (exit 0) with the head the run report carries too.

use serde_json::Value;

use super::server::{Reply, Server};
use super::{Work, with_base};

/// Probe, a change, then an irreversible DELETE behind a confirmation.
const REVOKE: &str = r#"runbook: revoke
steps:
  - id: verify
    http: { url: "@BASE@/probe" }
  - id: mark
    needs: [verify]
    effect: change
    command: echo ran >> marker
  - id: revoke
    needs: [verify]
    effect: irreversible
    confirm: true
    http: { method: DELETE, url: "@BASE@/token" }
    expect: { status: 204 }
"#;

fn setup(probe: u16) -> (Server, Work) {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(probe));
    server.route("DELETE", "/token", Reply::status(204));
    let work = Work::new();
    work.write("revoke.yaml", with_base(REVOKE, &server));
    (server, work)
}

/// The only journal's lines.
fn lines(work: &Work) -> (std::path::PathBuf, Vec<String>) {
    let journals = work.journals(".runbook");
    assert_eq!(journals.len(), 1, "{journals:?}");
    let text = std::fs::read_to_string(&journals[0]).expect("read the journal");
    (
        journals[0].clone(),
        text.lines().map(str::to_owned).collect(),
    )
}

fn rewrite(path: &std::path::Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").expect("rewrite the journal");
}

/// A run that ended blocked on the revoke's confirmation: resumable.
fn blocked(work: &Work) {
    work.runbook(["run", "revoke.yaml"]).status(3);
}

/// `resume` refuses with exit 2 naming the break, and nothing is sent.
fn resume_refuses(work: &Work, server: &Server, line: usize) {
    let ran = work
        .runbook(["resume", "revoke.yaml", "--confirm", "revoke"])
        .status(2);
    assert!(
        ran.stderr
            .contains(&format!("its chain of events breaks at line {line}")),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("runbook verify"), "{}", ran.stderr);
    assert_eq!(server.count("DELETE", "/token"), 0, "the gate opened");
    let verify = work.runbook(["verify", "revoke.yaml"]).status(1);
    assert!(
        verify
            .stdout
            .contains(&format!("the chain breaks at line {line}")),
        "{}",
        verify.stdout
    );
}

#[test]
fn a_failed_probe_flipped_to_passed_by_hand_is_refused_on_resume() {
    let (server, work) = setup(500);
    work.runbook(["run", "revoke.yaml", "--confirm", "revoke"])
        .status(1);
    let (path, mut lines) = lines(&work);
    let mut probe_line = 0;
    for (n, line) in lines.iter_mut().enumerate() {
        if line.contains(r#""event":"step_finished""#) && line.contains(r#""step":"verify""#) {
            *line = line.replace(r#""outcome":"failed""#, r#""outcome":"passed""#);
            probe_line = n + 1;
        }
        // And the run made to look blocked, so that `resume` takes it up.
        if line.contains(r#""event":"run_finished""#) {
            *line = line
                .replace(r#""outcome":"failed""#, r#""outcome":"blocked""#)
                .replace(r#""exit_code":1"#, r#""exit_code":3"#);
        }
    }
    assert!(probe_line > 0, "{lines:?}");
    rewrite(&path, &lines);
    resume_refuses(&work, &server, probe_line + 1);
}

#[test]
fn a_removed_line_is_refused_on_resume() {
    let (server, work) = setup(200);
    blocked(&work);
    let (path, mut lines) = lines(&work);
    lines.remove(2);
    rewrite(&path, &lines);
    resume_refuses(&work, &server, 3);
}

#[test]
fn two_lines_swapped_are_refused_on_resume() {
    let (server, work) = setup(200);
    blocked(&work);
    let (path, mut lines) = lines(&work);
    lines.swap(1, 2);
    rewrite(&path, &lines);
    resume_refuses(&work, &server, 2);
}

#[test]
fn a_journal_without_links_is_refused_with_a_clear_message() {
    let (server, work) = setup(200);
    blocked(&work);
    let (path, lines) = lines(&work);
    // As journals were written before the chain.
    let stripped: Vec<String> = lines
        .iter()
        .map(|line| {
            let mut event: Value = serde_json::from_str(line).expect("an event");
            event.as_object_mut().expect("an object").remove("prev");
            event.to_string()
        })
        .collect();
    rewrite(&path, &stripped);
    let ran = work
        .runbook(["resume", "revoke.yaml", "--confirm", "revoke"])
        .status(2);
    assert!(
        ran.stderr
            .contains("written before runbook chained its events"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("runbook run FILE"), "{}", ran.stderr);
    assert_eq!(server.count("DELETE", "/token"), 0);
    let verify = work.runbook(["verify", "revoke.yaml"]).status(1);
    assert!(
        verify.stdout.contains("it has no chain"),
        "{}",
        verify.stdout
    );
}

#[test]
fn an_untouched_journal_verifies_with_the_head_the_report_carries() {
    let (server, work) = setup(200);
    blocked(&work);
    let verify = work.runbook(["verify", "revoke.yaml"]).status(0);
    let head = verify
        .stdout
        .split("head ")
        .nth(1)
        .unwrap_or_else(|| panic!("no head in:\n{}", verify.stdout))
        .trim();
    assert_eq!(head.len(), 64, "{head}");
    let report: Value = serde_json::from_str(
        &work
            .runbook(["report", "revoke.yaml", "--format", "json"])
            .status(0)
            .stdout,
    )
    .expect("report JSON");
    assert_eq!(report["run"]["chain"]["state"], "intact");
    assert_eq!(report["run"]["chain"]["head"], head);
    let markdown = work.runbook(["report", "revoke.yaml"]).status(0).stdout;
    assert!(
        markdown.contains(&format!("| Journal chain | intact, head {head} |")),
        "{markdown}"
    );
    // The same by run id and by journal path.
    let (path, _) = lines(&work);
    let run_id = path
        .file_stem()
        .and_then(|s| s.to_str())
        .expect("a run id")
        .to_owned();
    let journal = path.display().to_string();
    for target in [run_id.as_str(), journal.as_str()] {
        let again = work.runbook(["verify", target]).status(0);
        assert!(again.stdout.contains(head), "{target}: {}", again.stdout);
    }
    // Resume goes on from it, and the chain still holds.
    work.runbook(["resume", "revoke.yaml", "--confirm", "revoke"])
        .status(0);
    assert_eq!(server.count("DELETE", "/token"), 1);
    work.runbook(["verify", "revoke.yaml"]).status(0);
}

#[test]
fn verify_of_a_run_that_does_not_exist_is_a_usage_error() {
    let work = Work::new();
    let ran = work.runbook(["verify", "20991231T000000Z-beef"]).status(2);
    assert!(ran.stderr.contains("there is no run"), "{}", ran.stderr);
}

#[test]
fn a_line_that_is_not_json_is_where_verify_finds_the_break() {
    let (_server, work) = setup(200);
    blocked(&work);
    let (path, mut lines) = lines(&work);
    lines[3] = "{\"at\": garbage".to_owned();
    rewrite(&path, &lines);
    let verify = work.runbook(["verify", "revoke.yaml"]).status(1);
    assert!(
        verify
            .stdout
            .contains("the chain breaks at line 4: it is not JSON"),
        "{}",
        verify.stdout
    );
}
