//! `kill -9` in the middle of the rotation — after the new token is saved,
//! while the restarted platform is still coming up and nothing has verified it
//! yet — then `runbook resume`: the save is not repeated, the token is not
//! tested again, and the old token is deleted once, only after the resumed run
//! has verified the new one through the platform.

use std::time::Duration;

use runbook::sandbox::{LoggedRequest, SandboxConfig, Service};

use super::{
    Journal, Process, REVOKE, Rotation, everything, indices, is_delete, is_restart,
    is_verification, jsonl_files, last4, run, show, wait_until,
};

/// How many times `test_new_token` asked the API: the API's token checks with
/// the new token, less the ones the platform made for its own token check.
fn new_token_tests(log: &[LoggedRequest], new_last4: &str) -> usize {
    let checks = log
        .iter()
        .filter(|r| {
            r.service == Service::Api
                && r.path == "/client/v4/user/tokens/verify"
                && r.token_last4.as_deref() == Some(new_last4)
        })
        .count();
    let platform_checks = log
        .iter()
        .filter(|r| r.service == Service::Platform && r.path == "/api/cloudflare/token/verify")
        .count();
    checks - platform_checks
}

#[test]
fn resume_after_kill_9_between_save_and_verify_saves_once_and_revokes_once_after_verifying() {
    // A slow restart keeps the run inside the restart step's wait long enough
    // to be killed there.
    let rotation = Rotation::start(SandboxConfig {
        restart_delay: Duration::from_secs(4),
        ..SandboxConfig::default()
    });
    let tokens = rotation.sandbox.tokens();
    let new4 = last4(&tokens.new);
    let runs = rotation.path("state/cloudflare-token-rotation/runs");

    let first = Process::spawn(rotation.command("run", &tokens.new), rotation.root(), "run");
    wait_until("the save and the restart", Duration::from_secs(30), || {
        let saved = jsonl_files(&runs).first().is_some_and(|file| {
            Journal::read(file)
                .finished("save_token")
                .iter()
                .any(|e| e["outcome"] == "passed")
        });
        saved && rotation.log().iter().any(is_restart)
    });
    let (stdout, stderr) = first.kill();

    let killed_at = rotation.log().len();
    let journal = rotation.journal();
    let context = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(
        !journal.started("verify_zones"),
        "killed too late:\n{context}"
    );
    assert!(
        journal.finished("restart").is_empty(),
        "killed too late:\n{context}"
    );
    assert!(journal.of("run_finished").is_empty(), "{context}");
    // What was saved stays saved.
    let (text, mode) = rotation.env_file();
    assert_eq!(text, rotation.rotated(&tokens.new));
    assert_eq!(mode, 0o600);
    assert_eq!(new_token_tests(&rotation.log(), &new4), 1);
    assert!(indices(&rotation.log(), is_delete).is_empty());

    // Resume needs nothing given again: not the new token, and not the old one,
    // which the env file no longer holds. The run kept both at rest.
    let mut resume = rotation.unconfirmed("resume");
    resume.args(["--confirm", REVOKE]);
    let ran = run(resume, rotation.root(), "resume");
    let log = rotation.log();
    assert_eq!(ran.status, 0, "{}\n{}", everything(&ran), show(&log));

    let journal = rotation.journal();
    assert_eq!(journal.of("resumed").len(), 1);
    assert_eq!(journal.end(), ("passed".to_owned(), 0));
    // No passed step ran again.
    for step in [
        "create_token",
        "old_token",
        "identify_old_token",
        "test_new_token",
        "new_token_is_different",
        "save_token",
    ] {
        assert_eq!(journal.finished(step).len(), 1, "{step} ran again");
        assert_eq!(
            journal
                .of("step_started")
                .iter()
                .filter(|e| e["step"] == step)
                .count(),
            1,
            "{step} started again"
        );
    }
    assert_eq!(journal.outcome("restart"), "passed");
    assert_eq!(journal.outcome(REVOKE), "passed");
    assert_eq!(new_token_tests(&log, &new4), 1, "{}", show(&log));
    let old_checks = log
        .iter()
        .filter(|r| r.path == "/client/v4/user/tokens/verify" && r.status == 200)
        .filter(|r| r.token_last4.as_deref() == Some(&*last4(&tokens.old)))
        .count();
    assert_eq!(
        old_checks,
        1,
        "the old token was identified again: {}",
        show(&log)
    );

    // One DELETE, of the old token, after the resumed run's verification.
    let deletes = indices(&log, is_delete);
    assert_eq!(deletes.len(), 1, "{}", show(&log));
    let delete = deletes[0];
    assert_eq!(
        log[delete].path,
        format!(
            "/client/v4/user/tokens/{}",
            rotation.sandbox.token_ids().old
        )
    );
    assert_eq!(log[delete].status, 200);
    let verifications = indices(&log, is_verification);
    assert_eq!(verifications.len(), 2 + 7, "{}", show(&log));
    assert!(
        verifications.iter().all(|&i| killed_at <= i && i < delete),
        "verified before the kill or after the delete: {}",
        show(&log)
    );
    // The restart after the resume is the one the verification saw.
    let restarts = indices(&log, is_restart);
    assert!(
        restarts.iter().any(|&i| i >= killed_at),
        "the interrupted restart step was not run again: {}",
        show(&log)
    );

    let (text, mode) = rotation.env_file();
    assert_eq!(text, rotation.rotated(&tokens.new));
    assert_eq!(mode, 0o600);
    assert!(rotation.backups().is_empty(), "{:?}", rotation.backups());
    assert!(rotation.kept().is_empty(), "{:?}", rotation.kept());
    for token in [&tokens.old, &tokens.new] {
        assert!(
            !journal.text().contains(token.as_str()),
            "a token in the journal"
        );
        assert!(!ran.stdout.contains(token.as_str()), "{}", ran.stdout);
    }
}

#[test]
fn blocked_at_the_revoke_the_rotation_resumes_with_the_confirmation_alone() {
    // The README's path: `run … --yes` stops at the irreversible revoke (exit 3),
    // then `resume … --confirm revoke_old_token` finishes. By then the env file
    // holds the new token, so nobody could type the old one again.
    let rotation = Rotation::start(SandboxConfig::default());
    let tokens = rotation.sandbox.tokens();
    let mut first = rotation.unconfirmed("run");
    first.env("RUNBOOK_INPUT_NEW_TOKEN", &tokens.new);
    let ran = run(first, rotation.root(), "run");
    assert_eq!(ran.status, 3, "{}", everything(&ran));
    assert_eq!(rotation.journal().outcome(REVOKE), "blocked");
    assert_eq!(rotation.env_file().0, rotation.rotated(&tokens.new));
    assert!(indices(&rotation.log(), is_delete).is_empty());
    let kept = rotation.kept();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(super::file_mode(&kept[0]), 0o600);

    let mut resume = rotation.unconfirmed("resume");
    resume.args(["--confirm", REVOKE]);
    let ran = run(resume, rotation.root(), "resume");
    let log = rotation.log();
    assert_eq!(ran.status, 0, "{}\n{}", everything(&ran), show(&log));
    let journal = rotation.journal();
    let last = |event: Vec<&serde_json::Value>| event.last().map(|e| e["outcome"].clone());
    assert_eq!(last(journal.of("run_finished")), Some("passed".into()));
    assert_eq!(last(journal.finished(REVOKE)), Some("passed".into()));
    assert_eq!(
        last(journal.finished("old_token_revoked")),
        Some("passed".into())
    );
    let deletes = indices(&log, is_delete);
    assert_eq!(deletes.len(), 1, "{}", show(&log));
    assert_eq!(
        log[deletes[0]].token_last4.as_deref(),
        Some(&*last4(&tokens.old))
    );
    assert!(rotation.kept().is_empty(), "{:?}", rotation.kept());
    assert!(rotation.backups().is_empty(), "{:?}", rotation.backups());
    for token in [&tokens.old, &tokens.new] {
        assert!(
            !journal.text().contains(token.as_str()),
            "a token in the journal"
        );
        assert!(
            !everything(&ran).contains(token.as_str()),
            "{}",
            everything(&ran)
        );
    }
}

#[test]
fn with_no_keep_secrets_the_blocked_rotation_asks_for_the_old_token_again() {
    let rotation = Rotation::start(SandboxConfig::default());
    let tokens = rotation.sandbox.tokens();
    let mut first = rotation.unconfirmed("run");
    first
        .arg("--no-keep-secrets")
        .env("RUNBOOK_INPUT_NEW_TOKEN", &tokens.new);
    assert_eq!(run(first, rotation.root(), "run").status, 3);
    assert!(rotation.kept().is_empty(), "{:?}", rotation.kept());

    let mut resume = rotation.unconfirmed("resume");
    resume.args(["--confirm", REVOKE, "--no-keep-secrets"]);
    let ran = run(resume, rotation.root(), "resume");
    assert_eq!(ran.status, 2, "{}", everything(&ran));
    // Named before any step: the old token, which the revoke still reads (the
    // new one no step still to run reads).
    assert!(
        ran.stderr
            .contains("nobody can be asked without a terminal: old_token"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("new_token,"), "{}", ran.stderr);
    assert!(indices(&rotation.log(), is_delete).is_empty());
}
