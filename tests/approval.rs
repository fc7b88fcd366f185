//! Four-eyes approval (`approve:`) with two real Unix users on one shared host:
//! the tests run as root (the operator) and run `runbook approve` as the user
//! `runbook-approver` (created by `.ci/run`) through `setpriv`, in a temp
//! directory set up as the README says — a setgid state directory of the
//! approvers' group, the operator's `umask 007`. Without root or that user the
//! tests say so and are skipped (a failure under `RUNBOOK_REQUIRE_TOOLS=1`).
//!
//! Each test follows the commands the run prints, literally: the approve
//! command another user runs, then the resume command.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value as Json;

use crate::support::{Ran, binary, outside_tool, skip};
use crate::tty::Tty;

const APPROVER: &str = "runbook-approver";
const TIMEOUT_MS: u64 = 15_000;
const SECRET: &str = "cfut_approvalsecret9876";

/// The second user, when this machine has one the tests can act as.
#[derive(Clone, Copy)]
struct Approver {
    uid: u32,
    gid: u32,
}

fn approver() -> Option<Approver> {
    if !nix::unistd::geteuid().is_root() {
        skip(
            "acting as a second Unix user (`runbook approve` by someone else) needs root; CI runs the tests as root",
        );
        return None;
    }
    outside_tool(&["setpriv"], "Debian package util-linux")?;
    match nix::unistd::User::from_name(APPROVER) {
        Ok(Some(user)) => Some(Approver {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }),
        _ => {
            skip(&format!(
                "there is no user `{APPROVER}`: `useradd --system --no-create-home {APPROVER}` (as .ci/run does)"
            ));
            None
        }
    }
}

impl Ran {
    /// The command the output quotes after `lead`, up to the next backquote.
    fn quoted_after(&self, lead: &str) -> Vec<String> {
        let at = self
            .stdout
            .find(lead)
            .unwrap_or_else(|| panic!("no {lead:?} in:\n{}", self.stdout));
        let rest = &self.stdout[at + lead.len()..];
        let end = rest.find('`').expect("a closing backquote");
        let words: Vec<String> = rest[..end].split_whitespace().map(str::to_owned).collect();
        assert_eq!(words[0], "runbook", "{words:?}");
        words[1..].to_vec()
    }

    /// The approve command the run printed for another user.
    fn approve_hint(&self) -> Vec<String> {
        self.quoted_after("approves it with `")
    }

    /// The resume command the run printed.
    fn resume_hint(&self) -> Vec<String> {
        self.quoted_after("Resume with `")
    }
}

/// A shared ops host in a temp directory: the runbook readable by everyone, the
/// state directory setgid to the approver's group and writable by it.
struct Host {
    dir: tempfile::TempDir,
    approver: Approver,
}

impl Host {
    fn new(approver: Approver, runbook: &str) -> Host {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the temp dir");
        let host = Host { dir, approver };
        host.write("rb.yaml", runbook);
        let state = host.path("state");
        std::fs::create_dir(&state).expect("the state directory");
        nix::unistd::chown(&state, None, Some(nix::unistd::Gid::from_raw(approver.gid)))
            .expect("chgrp the state directory");
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o2770))
            .expect("chmod the state directory");
        host
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write a file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }

    fn prepare(&self, command: &mut Command) {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RUNBOOK_") {
                command.env_remove(key);
            }
        }
        command
            .current_dir(self.dir.path())
            .env("RUNBOOK_STATE_DIR", self.path("state"))
            .env("NO_COLOR", "1");
    }

    /// `runbook ARGS` as the operator (root), with the shared host's umask.
    fn operator(&self, args: &[&str]) -> Command {
        let mut command = Command::new("sh");
        command
            .args(["-c", "umask 007; exec \"$0\" \"$@\""])
            .arg(binary())
            .args(args);
        self.prepare(&mut command);
        command
    }

    /// `runbook ARGS` as the approver.
    fn as_approver(&self, args: &[String]) -> Command {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.approver.uid))
            .arg(format!("--regid={}", self.approver.gid))
            .arg("--init-groups")
            .arg(binary())
            .args(args);
        self.prepare(&mut command);
        command
    }

    fn run(&self, args: &[&str]) -> Ran {
        ran(self.operator(args))
    }

    fn approve(&self, args: &[String]) -> Ran {
        ran(self.as_approver(args))
    }

    /// The one request directory of the run (`approvals/<run>/revoke`).
    fn request_dir(&self) -> PathBuf {
        let runs = self.path("state/rb/approvals");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&runs)
            .expect("the approvals directory")
            .map(|e| e.expect("an entry").path().join("revoke"))
            .collect();
        dirs.sort();
        dirs.pop().expect("a request")
    }

    /// Every file under the state directory, concatenated.
    fn state_files(&self) -> String {
        fn walk(dir: &Path, into: &mut String) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, into);
                } else if let Ok(text) = std::fs::read_to_string(&path) {
                    into.push_str(&text);
                }
            }
        }
        let mut all = String::new();
        walk(&self.path("state"), &mut all);
        all
    }
}

fn ran(mut command: Command) -> Ran {
    Ran::from(command.output().expect("the command ran"))
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// A probe, then an irreversible command that `alice` or the approver must
/// approve; it appends the target to `revoked.txt`.
const REVOKE: &str = r#"
runbook: rb
inputs:
  target: { default: token-1 }
steps:
  - id: check
    effect: probe
    command: "true"
  - id: revoke
    needs: [check]
    effect: irreversible
    approve: { count: 1, from: [alice, runbook-approver], message: "Revoke {{ inputs.target }}?" }
    confirm: true
    command: "echo {{ inputs.target }} >> revoked.txt"
"#;

#[test]
fn the_operator_cannot_approve_and_no_flag_or_answer_opens_the_gate() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, REVOKE);
    host.write("answers.yaml", "target: token-1\n");
    let first = host
        .run(&[
            "run",
            "rb.yaml",
            "--yes",
            "--confirm",
            "revoke",
            "--answers",
            "answers.yaml",
        ])
        .status(3);
    first.stdout_has("waiting for 1 approval from alice, runbook-approver");
    assert!(!host.path("revoked.txt").exists());
    // The operator runs the command meant for someone else: refused.
    let hint: Vec<String> = first.approve_hint();
    let refused =
        ran(host.operator(&hint.iter().map(String::as_str).collect::<Vec<_>>())).status(2);
    refused.stderr_has("root asked for this approval");
    refused.stderr_has("separation of duties");
    // Whatever the operator claims to be.
    let claimed = host
        .run(&[
            "resume",
            "rb.yaml",
            "--yes",
            "--confirm",
            "revoke",
            "--operator",
            APPROVER,
        ])
        .status(3);
    claimed.stdout_has("waiting for 1 approval");
    assert!(!host.path("revoked.txt").exists());
}

#[test]
fn another_users_approval_lets_resume_go_on_and_every_output_says_who_and_what() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, REVOKE);
    let first = host
        .run(&[
            "run",
            "rb.yaml",
            "--confirm",
            "revoke",
            "--events",
            "events.jsonl",
        ])
        .status(3);
    let approved = host.approve(&first.approve_hint()).status(0);
    for shown in [
        "target: $ echo token-1 >> revoked.txt",
        "message: Revoke token-1?",
        "asked by root at ",
        "evidence: `check` passed at ",
        "Approved by runbook-approver at ",
    ] {
        assert!(
            approved.stdout.contains(shown),
            "{shown:?} in:\n{}",
            approved.stdout
        );
    }
    let again = host.approve(&first.approve_hint()).status(2);
    again.stderr_has("already decided");

    let resume: Vec<String> = first
        .resume_hint()
        .into_iter()
        .chain(strings(&["--events", "events2.jsonl"]))
        .collect();
    let resumed =
        ran(host.operator(&resume.iter().map(String::as_str).collect::<Vec<_>>())).status(0);
    resumed.stdout_has("approved by runbook-approver at ");
    assert_eq!(
        std::fs::read_to_string(host.path("revoked.txt")).unwrap(),
        "token-1\n"
    );

    let hash = runbook::engine::journal::sha256_hex(&std::fs::read(host.path("rb.yaml")).unwrap());
    let report: Json = serde_json::from_str(
        &host
            .run(&["report", "rb.yaml", "--format", "json"])
            .status(0)
            .stdout,
    )
    .expect("a JSON report");
    let events = report["events"].as_array().expect("events");
    let approval = events
        .iter()
        .find(|e| e["event"] == "approved")
        .unwrap_or_else(|| panic!("no approval in {events:?}"));
    assert_eq!(approval["step"], "revoke");
    assert_eq!(approval["approvals"][0]["approver"], APPROVER);
    assert_eq!(approval["target"], "$ echo token-1 >> revoked.txt");
    assert_eq!(approval["runbook_sha256"], hash.as_str());
    let requested = events
        .iter()
        .find(|e| e["event"] == "approval_requested")
        .expect("the request");
    assert_eq!(requested["requested_by"], "root");
    for format in ["markdown", "html"] {
        let shown = host
            .run(&["report", "rb.yaml", "--format", format])
            .status(0)
            .stdout;
        assert!(
            shown.contains("approved by runbook-approver at "),
            "{format}:\n{shown}"
        );
    }
    let status = host.run(&["status", "rb.yaml"]).status(0).stdout;
    assert!(status.contains("approved by runbook-approver"), "{status}");
    let status: Json = serde_json::from_str(
        &host
            .run(&["status", "rb.yaml", "--format", "json"])
            .status(0)
            .stdout,
    )
    .expect("JSON status");
    let items = status["phases"][0]["items"]
        .as_array()
        .expect("items")
        .clone();
    let revoke = items.iter().find(|i| i["id"] == "revoke").expect("revoke");
    assert_eq!(
        revoke["approved"]["approvals"][0]["approver"], APPROVER,
        "{revoke}"
    );
    let streamed = std::fs::read_to_string(host.path("events.jsonl")).unwrap();
    assert!(
        streamed.contains(r#""event":"approval_requested""#),
        "{streamed}"
    );
    let streamed = std::fs::read_to_string(host.path("events2.jsonl")).unwrap();
    assert!(streamed.contains(r#""event":"approved""#), "{streamed}");
    assert!(streamed.contains(&hash), "{streamed}");
    // The journal stays one chain.
    host.run(&["verify", "rb.yaml"]).status(0);
}

#[test]
fn a_rejection_fails_the_step_with_its_reason() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, REVOKE);
    let first = host
        .run(&["run", "rb.yaml", "--confirm", "revoke"])
        .status(3);
    let reject: Vec<String> = first
        .approve_hint()
        .into_iter()
        .chain(strings(&["--reject", "--reason", "not during the freeze"]))
        .collect();
    let rejected = host.approve(&reject).status(0);
    rejected.stdout_has("Rejected (not during the freeze)");
    let resume: Vec<String> = first.resume_hint();
    let failed =
        ran(host.operator(&resume.iter().map(String::as_str).collect::<Vec<_>>())).status(1);
    failed.stdout_has("rejected by runbook-approver at ");
    failed.stdout_has("not during the freeze");
    assert!(!host.path("revoked.txt").exists());
    let report = host
        .run(&["report", "rb.yaml", "--format", "markdown"])
        .status(0)
        .stdout;
    assert!(report.contains("rejected by runbook-approver"), "{report}");
}

#[test]
fn an_approval_does_not_open_another_run_nor_another_target() {
    let Some(approver) = approver() else { return };
    // The token to revoke is looked up by a probe, gathered again on resume
    // once its `within` has passed.
    let host = Host::new(
        approver,
        r#"
runbook: rb
inputs:
  target: { default: token-1 }
steps:
  - id: lookup
    effect: probe
    command: "cat token-id.txt"
  - id: revoke
    needs: [{ step: lookup, within: 1s }]
    effect: irreversible
    approve: { from: [runbook-approver] }
    confirm: true
    command: "echo {{ inputs.target }} {{ steps.lookup.stdout | trim }} >> revoked.txt"
"#,
    );
    host.write("token-id.txt", "id-1\n");
    let first = host
        .run(&[
            "run",
            "rb.yaml",
            "--confirm",
            "revoke",
            "--set",
            "target=token-1",
        ])
        .status(3);
    host.approve(&first.approve_hint()).status(0);
    // Another value of the input is another run: resume refuses it, and a new
    // run waits for an approval of its own.
    host.run(&[
        "resume",
        "rb.yaml",
        "--confirm",
        "revoke",
        "--set",
        "target=token-2",
    ])
    .status(2);
    let other = host
        .run(&[
            "run",
            "rb.yaml",
            "--confirm",
            "revoke",
            "--set",
            "target=token-2",
        ])
        .status(3);
    other.stdout_has("waiting for 1 approval from runbook-approver");
    assert!(!host.path("revoked.txt").exists());
    host.approve(&other.approve_hint()).status(0);
    // The probe finds another token after the approval: the approval is void.
    host.write("token-id.txt", "id-2\n");
    std::thread::sleep(Duration::from_millis(1100));
    let voided = host
        .run(&["resume", "rb.yaml", "--confirm", "revoke"])
        .status(3);
    voided.stdout_has("is void: it approved the target `$ echo token-2 id-1 >> revoked.txt`, the step now acts on `$ echo token-2 id-2 >> revoked.txt`");
    assert!(!host.path("revoked.txt").exists());
    // Approved again, for what it does now, it goes on.
    host.approve(&voided.approve_hint()).status(0);
    host.run(&["resume", "rb.yaml", "--confirm", "revoke"])
        .status(0);
    assert_eq!(
        std::fs::read_to_string(host.path("revoked.txt")).unwrap(),
        "token-2 id-2\n"
    );
}

#[test]
fn an_approval_is_void_for_another_runbook_and_a_changed_file_is_not_approved() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, REVOKE);
    let first = host
        .run(&["run", "rb.yaml", "--confirm", "revoke"])
        .status(3);
    host.approve(&first.approve_hint()).status(0);
    // The decision as if made on another version of the file (only root can
    // rewrite it and keep its owner).
    let decision = std::fs::read_dir(host.request_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("decided-by-")
        })
        .expect("the decision file");
    let text = std::fs::read_to_string(&decision).unwrap();
    let hash = runbook::engine::journal::sha256_hex(&std::fs::read(host.path("rb.yaml")).unwrap());
    std::fs::write(&decision, text.replace(&hash, &"0".repeat(64))).unwrap();
    let voided = host
        .run(&["resume", "rb.yaml", "--confirm", "revoke"])
        .status(3);
    voided.stdout_has("is void: it approved the runbook with sha256 000000000000, this run runs");
    assert!(!host.path("revoked.txt").exists());
    // The approver reads a changed file: nothing is approved.
    host.write("rb.yaml", &format!("{REVOKE}# edited\n"));
    let refused = host.approve(&first.approve_hint()).status(2);
    refused.stderr_has("as you read it has sha256");
    host.run(&["resume", "rb.yaml", "--confirm", "revoke"])
        .status(2);
}

#[test]
fn a_decision_file_the_operator_writes_in_the_approvers_name_is_not_counted() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, REVOKE);
    let first = host
        .run(&["run", "rb.yaml", "--confirm", "revoke"])
        .status(3);
    let dir = host.request_dir();
    let request: Json =
        serde_json::from_str(&std::fs::read_to_string(dir.join("request.json")).unwrap()).unwrap();
    let forged = serde_json::json!({
        "binding": request["binding"],
        "verdict": "approved",
        "approver": APPROVER,
        "decided_at": "2026-12-03T09:00:00.000Z",
    });
    let path = dir.join(format!("decided-by-{}.json", approver.uid));
    std::fs::write(&path, forged.to_string()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().uid(), 0);
    let resumed = host
        .run(&["resume", "rb.yaml", "--confirm", "revoke"])
        .status(3);
    resumed.stdout_has(&format!(
        "says it is uid {}'s decision, but root wrote it",
        approver.uid
    ));
    assert!(!host.path("revoked.txt").exists());
    // The forged file is in the way of the approver's real decision: said so.
    let blocked = host.approve(&first.approve_hint()).status(2);
    blocked.stderr_has("is a decision in your name that root wrote: it does not count");
}

/// The same, with the revoke confirmed by typing a phrase at the terminal.
const REVOKE_TYPED: &str = r#"
runbook: rb
steps:
  - id: check
    effect: probe
    command: "true"
  - id: revoke
    needs: [check]
    effect: irreversible
    approve: { from: [runbook-approver] }
    confirm: { phrase: revoke }
    command: "echo done >> revoked.txt"
"#;

#[test]
fn at_a_terminal_the_run_waits_with_a_spinner_and_goes_on_once_approved() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, REVOKE_TYPED);
    let mut command = host.operator(&["run", "rb.yaml"]);
    command.env_remove("NO_COLOR").env("TERM", "xterm");
    let mut tty = Tty::spawn(command, TIMEOUT_MS);
    let before = tty.wait("another user approves with `");
    assert!(!before.contains("blocked"), "{before}");
    let line = tty.wait("`");
    let hint: Vec<String> = line
        .trim_end_matches('`')
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect();
    tty.wait("waiting for 1 approval from runbook-approver");
    assert!(!host.path("revoked.txt").exists());
    host.approve(&hint).status(0);
    tty.wait("approved by runbook-approver");
    tty.wait("type revoke to confirm");
    tty.line("revoke");
    let (screen, code) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        std::fs::read_to_string(host.path("revoked.txt")).unwrap(),
        "done\n"
    );
}

#[test]
fn ctrl_c_while_waiting_leaves_the_request_open_for_resume() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, REVOKE_TYPED);
    let mut command = host.operator(&["run", "rb.yaml"]);
    command.env_remove("NO_COLOR").env("TERM", "xterm");
    let mut tty = Tty::spawn(command, TIMEOUT_MS);
    tty.wait("waiting for 1 approval from runbook-approver");
    tty.ctrl_c();
    let (screen, code) = tty.finish();
    assert_eq!(code, 130, "{screen}");
    assert!(
        screen.contains("the request for approval stays open"),
        "{screen}"
    );
    let request = host.request_dir().join("request.json");
    assert!(request.exists(), "{screen}");
    let run_id = host
        .request_dir()
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    host.approve(&strings(&[
        "approve", "rb.yaml", "revoke", "--run", &run_id,
    ]))
    .status(0);
    host.run(&["resume", "rb.yaml", "--confirm", "revoke"])
        .status(0);
    assert!(host.path("revoked.txt").exists());
}

#[test]
fn the_approval_shows_and_records_secrets_masked_only() {
    let Some(approver) = approver() else { return };
    let host = Host::new(
        approver,
        r#"
runbook: rb
inputs:
  token: { secret: true }
steps:
  - id: check
    effect: probe
    command: "true"
  - id: revoke
    needs: [check]
    effect: irreversible
    approve: { from: [runbook-approver], message: "Revoke {{ inputs.token }}?" }
    confirm: true
    command: { run: "echo revoking", env: { TOKEN: "{{ inputs.token }}" } }
"#,
    );
    let with_secret = |mut command: Command| {
        command.env("RUNBOOK_INPUT_TOKEN", SECRET);
        ran(command)
    };
    let mut seen = Vec::new();
    let first = with_secret(host.operator(&[
        "run",
        "rb.yaml",
        "--confirm",
        "revoke",
        "--no-keep-secrets",
        "--events",
        "events.jsonl",
    ]))
    .status(3);
    let approved = host.approve(&first.approve_hint()).status(0);
    approved.stdout_has("env TOKEN=••••9876");
    approved.stdout_has("message: Revoke ••••9876?");
    let resumed = with_secret(host.operator(&[
        "resume",
        "rb.yaml",
        "--confirm",
        "revoke",
        "--no-keep-secrets",
    ]))
    .status(0);
    seen.extend([first.stdout, first.stderr, approved.stdout, approved.stderr]);
    seen.extend([resumed.stdout, resumed.stderr]);
    for format in ["markdown", "html", "json"] {
        seen.push(
            host.run(&["report", "rb.yaml", "--format", format])
                .status(0)
                .stdout,
        );
    }
    seen.push(
        host.run(&["status", "rb.yaml", "--format", "json"])
            .status(0)
            .stdout,
    );
    seen.push(std::fs::read_to_string(host.path("events.jsonl")).unwrap());
    seen.push(host.state_files());
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET);
    for text in &seen {
        assert!(!text.contains(SECRET), "the secret leaked:\n{text}");
        assert!(
            !text.contains(&encoded),
            "the secret leaked in base64:\n{text}"
        );
    }
    assert!(host.state_files().contains("Revoke ••••9876?"));
}

#[test]
fn the_plan_shows_the_approval_gate_before_the_confirmation() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("rb.yaml"), REVOKE).unwrap();
    let plan = |format: &str| {
        let mut command = Command::new(binary());
        command
            .args(["plan", "rb.yaml", "--format", format])
            .current_dir(dir.path())
            .env("NO_COLOR", "1");
        ran(command).status(0).stdout
    };
    let human = plan("human");
    let approve = human
        .find("approve  1 of alice, runbook-approver (never the operator), each with `runbook approve FILE revoke`")
        .unwrap_or_else(|| panic!("{human}"));
    assert!(
        approve < human.find("confirm  yes/no").expect("the confirm"),
        "{human}"
    );
    assert!(human.contains("\"Revoke token-1?\""), "{human}");
    let markdown = plan("markdown");
    assert!(
        markdown.contains("approve: 1 of `alice`, `runbook-approver` (never the operator)"),
        "{markdown}"
    );
    let json: Json = serde_json::from_str(&plan("json")).expect("a JSON plan");
    let steps = json["phases"][0]["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["approve"], Json::Null);
    assert_eq!(
        steps[1]["approve"],
        serde_json::json!({"count": 1, "from": ["alice", APPROVER], "message": "Revoke token-1?"})
    );
}

#[test]
fn runbook_approve_says_what_is_wrong_with_what_it_is_given() {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("rb.yaml"), REVOKE).unwrap();
    let approve = |args: &[&str]| {
        let mut command = Command::new(binary());
        command
            .arg("approve")
            .args(args)
            .current_dir(dir.path())
            .env("RUNBOOK_STATE_DIR", dir.path().join("state"))
            .env("NO_COLOR", "1");
        ran(command)
    };
    let unknown = approve(&["rb.yaml", "revokee"]).status(2);
    unknown.stderr_has("`runbook approve FILE revokee` names no step of this runbook");
    let plain = approve(&["rb.yaml", "check"]).status(2);
    plain.stderr_has("step `check` of `rb.yaml` has no `approve:`");
    let early = approve(&["rb.yaml", "revoke"]).status(2);
    early.stderr_has("no approval was asked for step `revoke`");
    early.stderr_has("when it reaches the step");
    let usage = approve(&["rb.yaml", "revoke", "--reject"]).status(2);
    usage.stderr_has("--reason");
}

#[test]
fn a_gate_only_the_operator_could_open_ends_blocked_at_once() {
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .expect("this user has a name")
        .name;
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(
        dir.path().join("rb.yaml"),
        REVOKE
            .replace(
                "from: [alice, runbook-approver]",
                &format!("count: 2, from: [alice, {me}]"),
            )
            .replace("count: 1, ", ""),
    )
    .unwrap();
    let mut command = Command::new(binary());
    command
        .args(["run", "rb.yaml", "--confirm", "revoke"])
        .current_dir(dir.path())
        .env("RUNBOOK_STATE_DIR", dir.path().join("state"))
        .env("NO_COLOR", "1");
    let blocked = ran(command).status(3);
    blocked.stdout_has(&format!(
        "cannot be approved: it needs 2 approvals and only 1 of alice, {me} may give one"
    ));
}

#[test]
fn a_child_runbooks_step_is_approved_through_its_parent_and_outlives_the_childs_rerun() {
    let Some(approver) = approver() else { return };
    let host = Host::new(
        approver,
        "runbook: rb\nsteps:\n  - id: kid\n    runbook: child.yaml\n",
    );
    host.write(
        "child.yaml",
        &REVOKE_TYPED.replace("runbook: rb", "runbook: child"),
    );
    let first = host.run(&["run", "rb.yaml"]).status(3);
    let hint = first.approve_hint();
    assert_eq!(
        hint[..3],
        strings(&["approve", "rb.yaml", "kid.revoke"]),
        "{hint:?}"
    );
    assert_eq!(
        first.resume_hint(),
        strings(&["resume", "rb.yaml", "--confirm", "kid.revoke"])
    );
    host.approve(&hint).status(0);
    // Resuming the parent runs the child afresh (another child run): the
    // approval, bound to the parent's run, still holds.
    let resume = first.resume_hint();
    ran(host.operator(&resume.iter().map(String::as_str).collect::<Vec<_>>())).status(0);
    assert_eq!(
        std::fs::read_to_string(host.path("revoked.txt")).unwrap(),
        "done\n"
    );
}

/// A parent that runs `child.yaml` for each of two items; the child's
/// `revoke` must be approved by the approver, item by item.
const FAN_OUT: &str = r#"
runbook: rb
steps:
  - id: kid
    for_each: [a, b]
    runbook: child.yaml
    with: { target: "{{ item }}" }
"#;

const FAN_OUT_CHILD: &str = r#"
runbook: child
inputs:
  target: {}
steps:
  - id: check
    effect: probe
    command: "true"
  - id: revoke
    needs: [check]
    effect: change
    approve: { from: [runbook-approver] }
    command: "echo {{ inputs.target }} >> revoked.txt"
"#;

/// Each approve command a run printed in `stdout`, as the shell line it is.
pub(crate) fn approve_lines(stdout: &str) -> Vec<String> {
    let lead = "approves it with `";
    stdout
        .match_indices(lead)
        .map(|(at, _)| {
            let rest = &stdout[at + lead.len()..];
            rest[..rest.find('`').expect("a closing backquote")].to_owned()
        })
        .collect()
}

/// A `PATH` on which `runbook` is the built binary (linked in `dir/bin`), so
/// a command line the run printed runs under `sh -c` as printed.
pub(crate) fn path_with_runbook(dir: &Path) -> String {
    let bin = dir.join("bin");
    if !bin.exists() {
        std::fs::create_dir(&bin).expect("a bin directory");
        std::os::unix::fs::symlink(binary(), bin.join("runbook")).expect("link runbook");
    }
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", bin.display())
}

impl Ran {
    fn approve_lines(&self) -> Vec<String> {
        approve_lines(&self.stdout)
    }
}

impl Host {
    /// A shell line the run printed (`runbook …`), run by `sh` exactly as
    /// printed, as the approver: quoting and all.
    fn approve_line(&self, line: &str) -> Ran {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={}", self.approver.uid))
            .arg(format!("--regid={}", self.approver.gid))
            .arg("--init-groups")
            .args(["sh", "-c", line]);
        self.prepare(&mut command);
        command.env("PATH", path_with_runbook(self.dir.path()));
        ran(command)
    }
}

#[test]
fn each_item_of_a_fan_out_child_is_approved_on_its_own_and_named_by_its_value() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, FAN_OUT);
    host.write("child.yaml", FAN_OUT_CHILD);
    let first = host.run(&["run", "rb.yaml"]).status(3);
    let lines = first.approve_lines();
    assert_eq!(
        lines.len(),
        2,
        "one approve command per item:\n{}",
        first.stdout
    );
    for (line, item) in lines.iter().zip(["a", "b"]) {
        assert!(
            line.starts_with(&format!(
                "runbook approve rb.yaml 'kid[\"{item}\"].revoke' --run "
            )),
            "{line}"
        );
        first.stdout_has(&format!(
            "`kid[\"{item}\"].revoke` is waiting for 1 approval from runbook-approver"
        ));
    }
    // The name without the item names no request: it says how to name one.
    let bare = host
        .approve(&strings(&["approve", "rb.yaml", "kid.revoke"]))
        .status(2);
    assert!(
        bare.stderr.contains(r#"kid["a"].revoke"#) || bare.stderr.contains("kid[ITEM].revoke"),
        "{}",
        bare.stderr
    );
    // Item a approved, as the run printed it: only a goes on.
    let approved = host.approve_line(&lines[0]).status(0);
    approved.stdout_has("$ echo a >> revoked.txt");
    let resume = first.resume_hint();
    let second =
        ran(host.operator(&resume.iter().map(String::as_str).collect::<Vec<_>>())).status(3);
    assert_eq!(
        std::fs::read_to_string(host.path("revoked.txt")).unwrap(),
        "a\n"
    );
    second.stdout_has(r#"`kid["b"].revoke` is waiting for 1 approval"#);
    assert!(
        !second.stdout.contains(r#"`kid["a"].revoke` is waiting"#),
        "{}",
        second.stdout
    );
    // Status shows the approval of item a, and of no other.
    let status = host.run(&["status", "rb.yaml"]).status(0).stdout;
    assert!(
        status.contains(r#"kid["a"].revoke approved by runbook-approver"#),
        "{status}"
    );
    assert!(!status.contains(r#"kid["b"].revoke approved"#), "{status}");
    // The same item, typed without its quotes, is the same request: decided already.
    let again = host
        .approve(&strings(&["approve", "rb.yaml", "kid[a].revoke"]))
        .status(2);
    again.stderr_has("already decided");
    // Item b, by the command the second run printed.
    let lines = second.approve_lines();
    assert_eq!(lines.len(), 1, "{}", second.stdout);
    host.approve_line(&lines[0]).status(0);
    ran(host.operator(&resume.iter().map(String::as_str).collect::<Vec<_>>())).status(0);
    assert_eq!(
        std::fs::read_to_string(host.path("revoked.txt")).unwrap(),
        "a\nb\n"
    );
    let status: Json = serde_json::from_str(
        &host
            .run(&["status", "rb.yaml", "--format", "json"])
            .status(0)
            .stdout,
    )
    .expect("JSON status");
    let kid = &status["phases"][0]["items"][0];
    for item in ["a", "b"] {
        assert_eq!(
            kid["approved_by_name"][format!("kid[\"{item}\"].revoke")]["approvals"][0]["approver"],
            APPROVER,
            "{kid}"
        );
    }
    let report: Json = serde_json::from_str(
        &host
            .run(&["report", "rb.yaml", "--format", "json"])
            .status(0)
            .stdout,
    )
    .expect("a JSON report");
    let approved: Vec<(String, String)> = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["event"] == "approved")
        .map(|e| {
            (
                e["approval"].as_str().unwrap_or_default().to_owned(),
                e["target"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        approved,
        vec![
            (
                r#"kid["a"].revoke"#.to_owned(),
                "$ echo a >> revoked.txt".to_owned()
            ),
            (
                r#"kid["b"].revoke"#.to_owned(),
                "$ echo b >> revoked.txt".to_owned()
            ),
        ],
        "{report}"
    );
    let markdown = host
        .run(&["report", "rb.yaml", "--format", "markdown"])
        .status(0)
        .stdout;
    assert!(
        markdown.contains(r#"`kid` (`kid["b"].revoke`): approved by runbook-approver at "#),
        "{markdown}"
    );
    host.run(&["verify", "rb.yaml"]).status(0);
}

#[test]
fn a_rejection_of_one_item_fails_that_item_only() {
    let Some(approver) = approver() else { return };
    let host = Host::new(approver, FAN_OUT);
    host.write("child.yaml", FAN_OUT_CHILD);
    let first = host.run(&["run", "rb.yaml"]).status(3);
    let lines = first.approve_lines();
    assert_eq!(lines.len(), 2, "{}", first.stdout);
    host.approve_line(&format!("{} --reject --reason 'not b'", lines[1]))
        .status(0);
    host.approve_line(&lines[0]).status(0);
    let resumed = ran(host.operator(
        &first
            .resume_hint()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    ));
    assert_eq!(resumed.status, 1, "{}", resumed.stdout);
    assert_eq!(
        std::fs::read_to_string(host.path("revoked.txt")).unwrap(),
        "a\n"
    );
    assert!(
        resumed.stdout.contains("rejected by runbook-approver") && resumed.stdout.contains("not b"),
        "{}",
        resumed.stdout
    );
}

#[test]
fn a_void_approval_is_journaled_with_why_and_reported() {
    let Some(approver) = approver() else { return };
    let host = Host::new(
        approver,
        r#"
runbook: rb
steps:
  - id: lookup
    effect: probe
    command: "cat token-id.txt"
  - id: revoke
    needs: [{ step: lookup, within: 1s }]
    effect: change
    approve: { from: [runbook-approver] }
    command: "echo {{ steps.lookup.stdout | trim }} >> revoked.txt"
"#,
    );
    host.write("token-id.txt", "id-1\n");
    let first = host.run(&["run", "rb.yaml"]).status(3);
    host.approve(&first.approve_hint()).status(0);
    host.write("token-id.txt", "id-2\n");
    std::thread::sleep(Duration::from_millis(1100));
    host.run(&["resume", "rb.yaml", "--events", "events.jsonl"])
        .status(3);
    let why = "it approved the target `$ echo id-1 >> revoked.txt`, the step now acts on `$ echo id-2 >> revoked.txt`";
    let streamed = std::fs::read_to_string(host.path("events.jsonl")).unwrap();
    let void: Json = streamed
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .find(|e| e["event"] == "approval_void")
        .unwrap_or_else(|| panic!("no approval_void in {streamed}"));
    assert_eq!(void["step"], "revoke", "{void}");
    assert_eq!(void["approver"], APPROVER, "{void}");
    assert_eq!(void["verdict"], "approved", "{void}");
    assert_eq!(void["why"], why, "{void}");
    let report: Json = serde_json::from_str(
        &host
            .run(&["report", "rb.yaml", "--format", "json"])
            .status(0)
            .stdout,
    )
    .expect("a JSON report");
    let reported = report["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["event"] == "approval_void")
        .unwrap_or_else(|| panic!("no approval_void in {report}"))
        .clone();
    assert_eq!(reported["approver"], APPROVER, "{reported}");
    assert_eq!(reported["why"], why, "{reported}");
    let markdown = host
        .run(&["report", "rb.yaml", "--format", "markdown"])
        .status(0)
        .stdout;
    assert!(
        markdown.contains("`revoke`: the approval by runbook-approver at ")
            && markdown.contains(why),
        "{markdown}"
    );
    // Journaled once by the resume that judged it.
    let events = report["events"].as_array().expect("events");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "approval_void")
            .count(),
        1,
        "{report}"
    );
    host.run(&["verify", "rb.yaml"]).status(0);
}

#[test]
fn a_secret_item_names_its_approval_by_fingerprint_and_never_leaks() {
    let Some(approver) = approver() else { return };
    let host = Host::new(
        approver,
        r#"
runbook: rb
inputs:
  token: { secret: true }
steps:
  - id: kid
    for_each: ["{{ inputs.token }}", plain]
    runbook: child.yaml
    with: { target: "{{ item }}" }
"#,
    );
    host.write("child.yaml", FAN_OUT_CHILD);
    let with_secret = |mut command: Command| {
        command.env("RUNBOOK_INPUT_TOKEN", SECRET);
        ran(command)
    };
    let first = with_secret(host.operator(&["run", "rb.yaml", "--no-keep-secrets"])).status(3);
    let lines = first.approve_lines();
    assert_eq!(lines.len(), 2, "one request per item:\n{}", first.stdout);
    let fingerprint = runbook::secret::fingerprint(&format!("\"{SECRET}\""));
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("'kid[\"{fingerprint}\"].revoke'"))),
        "{lines:?}"
    );
    let mut seen = vec![first.stdout.clone(), first.stderr.clone()];
    for line in &lines {
        let approved = host.approve_line(line).status(0);
        seen.extend([approved.stdout, approved.stderr]);
    }
    let resumed = with_secret(host.operator(&["resume", "rb.yaml", "--no-keep-secrets"])).status(0);
    seen.extend([resumed.stdout, resumed.stderr]);
    for format in ["markdown", "html", "json"] {
        seen.push(
            host.run(&["report", "rb.yaml", "--format", format])
                .status(0)
                .stdout,
        );
    }
    seen.push(host.run(&["status", "rb.yaml"]).status(0).stdout);
    // The approvals' directories and files: names and contents. (The child
    // run's own journal records its item in `child_of`, raw: not an approval
    // path, and reported separately.)
    for request in std::fs::read_dir(host.path("state/rb/approvals"))
        .unwrap()
        .flat_map(|run| std::fs::read_dir(run.unwrap().path()).unwrap())
    {
        let request = request.unwrap().path();
        seen.push(request.display().to_string());
        for file in std::fs::read_dir(&request).unwrap() {
            seen.push(std::fs::read_to_string(file.unwrap().path()).unwrap());
        }
    }
    let parent_journals = host.path("state/rb/runs");
    for journal in std::fs::read_dir(parent_journals).unwrap() {
        seen.push(std::fs::read_to_string(journal.unwrap().path()).unwrap());
    }
    for text in &seen {
        assert!(!text.contains(SECRET), "the secret leaked:\n{text}");
    }
}
