//! The production deployment checklist with the rotation as a child item: the
//! rotation runs for real against the sandbox (its inputs from the checklist's
//! answers and environment), one manual item is deferred with a reason from the
//! answers file, and the checklist ends blocked on that deferral, which
//! `runbook status` then shows.
//!
//! Phase 1 only ("Security hardening", the phase that runs the rotation): the
//! later phases probe Stripe, Lago and Keycloak over `https://` — inputs whose
//! patterns require https — and the sandbox simulates none of them, so a run
//! of the whole file stops failed at `stripe_secret_key`. The checklist here is
//! the bundled file, byte for byte, up to its second phase.

use runbook::sandbox::{Sandbox, SandboxConfig};

use super::{
    Journal, REVOKE, command, everything, indices, is_delete, is_verification, jsonl_files, run,
    show,
};
use crate::support::repo;

const DEFERRED: &str = "review_token_security_fix";
const REASON: &str = "until production deployment";

/// The bundled checklist's first phase, with everything before it.
fn phase_one() -> String {
    let full =
        std::fs::read_to_string(repo().join("runbooks/production-deployment-checklist.yaml"))
            .expect("the bundled checklist");
    let cut = full
        .find("\n  - id: platform_settings\n")
        .expect("the checklist has a platform_settings phase");
    let phase = &full[..=cut];
    assert!(phase.contains("runbook: cloudflare-token-rotation.yaml"));
    phase.to_owned()
}

#[test]
fn the_checklist_runs_the_rotation_as_a_child_defers_an_item_and_status_shows_where_it_stands() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let sandbox = Sandbox::start(SandboxConfig {
        env_file: dir.path().join(".env.auth"),
        ..SandboxConfig::default()
    })
    .expect("the sandbox starts");
    let tokens = sandbox.tokens();
    let runbooks = dir.path().join("runbooks");
    std::fs::create_dir(&runbooks).expect("mkdir runbooks");
    std::fs::copy(
        repo().join("runbooks/cloudflare-token-rotation.yaml"),
        runbooks.join("cloudflare-token-rotation.yaml"),
    )
    .expect("copy the rotation");
    std::fs::write(
        runbooks.join("production-deployment-checklist.yaml"),
        phase_one(),
    )
    .expect("write the checklist");
    let quoted = |s: &str| serde_json::to_string(s).expect("a JSON string");
    let answers = [
        ("api_base", sandbox.api_url()),
        ("platform", sandbox.platform_url()),
        ("env_file", sandbox.env_file().display().to_string()),
        ("restart_command", super::restart_command(&sandbox)),
        ("revoke_with", "api".to_owned()),
        ("site_url", "https://ops.example.com".to_owned()),
        ("keycloak_url", "https://auth.example.com".to_owned()),
        ("keycloak_realm", "ops".to_owned()),
        (DEFERRED, format!("defer: {REASON}")),
    ]
    .iter()
    .fold(String::new(), |mut yaml, (key, value)| {
        yaml.push_str(&format!("{key}: {}\n", quoted(value)));
        yaml
    });
    std::fs::write(dir.path().join("answers.yaml"), answers).expect("write the answers");

    let state = dir.path().join("state");
    let mut checklist = command(
        dir.path(),
        &[
            "run",
            "runbooks/production-deployment-checklist.yaml",
            "--answers",
            "answers.yaml",
            "--non-interactive",
            "--yes",
            "--confirm",
            // The rotation's revoke, named through the checklist item that runs it.
            &format!("cloudflare_token_rotation.{REVOKE}"),
        ],
    );
    checklist
        .env("RUNBOOK_INPUT_NEW_TOKEN", &tokens.new)
        .env("RUNBOOK_STATE_DIR", &state);
    let ran = run(checklist, dir.path(), "run");
    let log = sandbox.requests();

    // Blocked by the deferral (3), not failed: everything else passed.
    assert_eq!(ran.status, 3, "{}\n{}", everything(&ran), show(&log));
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.contains("⏸") && l.contains(DEFERRED) && l.contains(REASON)),
        "{}",
        ran.stdout
    );
    let files = jsonl_files(&state.join("production-deployment-checklist/runs"));
    assert_eq!(files.len(), 1, "{files:?}");
    let journal = Journal::read(&files[0]);
    assert_eq!(journal.end(), ("blocked".to_owned(), 3));
    assert_eq!(journal.outcome("platform_reachable"), "passed");
    assert_eq!(journal.outcome("cloudflare_token_rotation"), "passed");
    assert_eq!(journal.outcome(DEFERRED), "deferred");
    assert_eq!(journal.finished(DEFERRED)[0]["reason"], REASON);
    assert_eq!(journal.outcome("env_file_private"), "passed");

    // The child item really ran the rotation, in a run of its own.
    let child = &journal.finished("cloudflare_token_rotation")[0]["results"];
    assert_eq!(child["child_outcome"], "passed", "{child}");
    let child_run = child["run_id"].as_str().expect("the child's run id");
    let child_journal =
        Journal::read(&state.join(format!("cloudflare-token-rotation/runs/{child_run}.jsonl")));
    assert_eq!(child_journal.end(), ("passed".to_owned(), 0));
    assert_eq!(child_journal.outcome(REVOKE), "passed");
    let deletes = indices(&log, is_delete);
    assert_eq!(deletes.len(), 1, "{}", show(&log));
    assert!(
        indices(&log, is_verification)
            .iter()
            .all(|&i| i < deletes[0]),
        "{}",
        show(&log)
    );
    let env = std::fs::read_to_string(sandbox.env_file()).expect("the env file");
    assert!(
        env.contains(&format!("\nCLOUDFLARE_API_TOKEN={}\n", tokens.new)),
        "{env}"
    );
    for token in [&tokens.old, &tokens.new] {
        assert!(
            !ran.stdout.contains(token.as_str()),
            "a token on the screen"
        );
        assert!(
            !journal.text().contains(token.as_str()),
            "a token in the journal"
        );
    }

    // Where the checklist stands.
    let mut status = command(
        dir.path(),
        &["status", "runbooks/production-deployment-checklist.yaml"],
    );
    status.env("RUNBOOK_STATE_DIR", &state);
    let shown = run(status, dir.path(), "status");
    assert_eq!(shown.status, 0, "{}", everything(&shown));
    let line = |id: &str| {
        shown
            .stdout
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(id))
            .unwrap_or_else(|| panic!("no line for {id}:\n{}", shown.stdout))
            .to_owned()
    };
    for done in [
        "platform_reachable",
        "cloudflare_token_rotation",
        "env_file_private",
    ] {
        let line = line(done);
        assert!(line.starts_with("  ✓") && line.contains(" done "), "{line}");
    }
    let deferred = line(DEFERRED);
    assert!(deferred.starts_with("  ⏸"), "{deferred}");
    assert!(
        deferred.contains(&format!("deferred: {REASON} (")),
        "{deferred}"
    );
    assert!(
        deferred.contains("P1") && deferred.contains("10m"),
        "{deferred}"
    );
    shown
        .stdout_has("4 items: 3 done · 1 deferred · 0 blocked · 0 failed · 0 pending")
        .stdout_has("Still ahead: 10m");
}
