//! The demo's failure scenarios, played with `runbook run` on the bundled
//! rotation runbook against a sandbox configured like `runbook demo --scenario`
//! configures it, so the sandbox's request log is asserted request by request:
//! the gates hold, the old token is never deleted, the rollback restores the
//! env file byte for byte — and, for `rate-limited`, the 429s are sat out.

use runbook::sandbox::{SandboxConfig, Service};

use super::{
    BOGUS_TOKEN, REVOKE, Rotation, everything, http, indices, is_delete, is_restart,
    is_verification, last4, run, show,
};

/// The env file is as the sandbox created it, with the mode it created it with.
fn assert_untouched(rotation: &Rotation) {
    let (text, mode) = rotation.env_file();
    assert_eq!(text, rotation.before, "the env file changed");
    assert_eq!(mode, 0o600, "the env file's mode changed");
}

/// After the run, the platform itself says it uses the old token again.
fn assert_platform_uses_old_token(rotation: &Rotation) {
    let (status, body) = rotation.platform_get("/api/cloudflare/token/verify");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["id"],
        rotation.sandbox.token_ids().old.as_str(),
        "the platform does not use the old token: {body}"
    );
}

#[test]
fn bad_token_fails_the_test_and_nothing_is_saved_restarted_or_revoked() {
    let rotation = Rotation::start(SandboxConfig::default());
    let tokens = rotation.sandbox.tokens();
    let ran = rotation.run(BOGUS_TOKEN);
    let log = rotation.log();

    assert_eq!(ran.status, 1, "{}", everything(&ran));
    ran.stdout_has("The token is invalid, revoked or expired.");
    let journal = rotation.journal();
    assert_eq!(journal.outcome("test_new_token"), "failed");
    for later in ["new_token_is_different", "save_token", "restart", REVOKE] {
        assert!(
            !journal.started(later),
            "{later} started after the failed test"
        );
    }
    // The rollback has nothing to undo.
    assert_eq!(journal.outcome("restore_token"), "skipped");
    assert_eq!(journal.outcome("restart_again"), "skipped");
    assert_eq!(journal.end(), ("failed".to_owned(), 1));

    assert_untouched(&rotation);
    assert!(rotation.backups().is_empty(), "{:?}", rotation.backups());
    // The old token identified, the bogus one refused: nothing else was asked.
    let got: Vec<(Service, &str, &str, u16, Option<&str>)> = log
        .iter()
        .map(|r| {
            (
                r.service,
                r.method.as_str(),
                r.path.as_str(),
                r.status,
                r.token_last4.as_deref(),
            )
        })
        .collect();
    let verify = "/client/v4/user/tokens/verify";
    assert_eq!(
        got,
        vec![
            (
                Service::Api,
                "GET",
                verify,
                200,
                Some(last4(&tokens.old).as_str())
            ),
            (Service::Api, "GET", verify, 401, Some("0000")),
        ],
        "{}",
        show(&log)
    );
}

#[test]
fn missing_permission_is_explained_and_rolled_back_and_the_old_token_kept() {
    let rotation = Rotation::start(SandboxConfig::default());
    let tokens = rotation.sandbox.tokens();
    let ran = rotation.run(&tokens.limited);
    let log = rotation.log();

    assert_eq!(ran.status, 1, "{}", everything(&ran));
    // The 403 is shown with the runbook's explanation, not just a status.
    assert!(
        ran.stdout.lines().any(|l| l.contains("✗")
            && l.contains("got 403")
            && l.contains("lacks the DNS permission (Zone → DNS → Edit)")),
        "{}",
        everything(&ran)
    );
    let journal = rotation.journal();
    assert_eq!(journal.outcome("save_token"), "passed");
    assert_eq!(journal.outcome("verify_dns_records"), "failed");
    assert!(!journal.started(REVOKE), "the revoke started");
    assert_eq!(journal.outcome("restore_token"), "passed");
    assert_eq!(journal.outcome("restart_again"), "passed");
    assert_eq!(journal.end(), ("failed".to_owned(), 1));

    // The env file is back to the byte, its mode kept, and the platform,
    // restarted again, uses the old token.
    assert_untouched(&rotation);
    assert_platform_uses_old_token(&rotation);

    let limited = last4(&tokens.limited);
    let dns = indices(&log, |r| r.path.ends_with("/dns_records"));
    assert_eq!(dns.len(), 7, "{}", show(&log));
    assert!(
        dns.iter()
            .all(|&i| log[i].status == 403 && log[i].token_last4.as_deref() == Some(&*limited)),
        "{}",
        show(&log)
    );
    assert!(indices(&log, is_delete).is_empty(), "{}", show(&log));
    let restarts = indices(&log, is_restart);
    assert_eq!(restarts.len(), 2, "{}", show(&log));
    assert!(
        dns.iter().all(|&i| restarts[0] < i && i < restarts[1]),
        "the rollback's restart must follow the failed check: {}",
        show(&log)
    );
}

#[test]
fn restart_keeping_the_old_token_is_caught_the_revoke_never_runs_and_it_is_rolled_back() {
    let rotation = Rotation::start(SandboxConfig {
        keep_old_token_on_restart: true,
        ..SandboxConfig::default()
    });
    let tokens = rotation.sandbox.tokens();
    let ran = rotation.run(&tokens.new);
    let log = rotation.log();

    assert_eq!(ran.status, 1, "{}", everything(&ran));
    ran.stdout_has("The platform still uses another token");
    let journal = rotation.journal();
    assert_eq!(journal.outcome("restart"), "passed");
    assert_eq!(journal.outcome("verify_platform_token"), "failed");
    assert!(!journal.started(REVOKE), "the revoke started");
    assert_eq!(journal.outcome("restore_token"), "passed");
    assert_eq!(journal.outcome("restart_again"), "passed");
    assert_eq!(journal.end(), ("failed".to_owned(), 1));
    assert_untouched(&rotation);
    assert_platform_uses_old_token(&rotation);

    // The restarted platform went on calling the API with the old token, which
    // is what the check caught; the old token was never deleted.
    let restart = indices(&log, is_restart)[0];
    let upstream: Vec<_> = log[restart..]
        .iter()
        .filter(|r| r.service == Service::Api)
        .collect();
    assert!(!upstream.is_empty(), "{}", show(&log));
    assert!(
        upstream
            .iter()
            .all(|r| r.token_last4.as_deref() == Some(&*last4(&tokens.old))),
        "{}",
        show(&log)
    );
    assert!(indices(&log, is_delete).is_empty(), "{}", show(&log));
}

/// After the run, the platform itself says it uses the new token.
fn assert_platform_uses_new_token(rotation: &Rotation) {
    let (status, body) = rotation.platform_get("/api/cloudflare/token/verify");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["id"],
        rotation.sandbox.token_ids().new.as_str(),
        "the platform does not use the new token: {body}"
    );
}

#[test]
fn the_seed_situation_an_old_token_cloudflare_already_rejects_is_rotated_all_the_same() {
    // The seed: the token in the env file already answers 401. Here it was revoked
    // before the run, through the API, by itself.
    let rotation = Rotation::start(SandboxConfig::default());
    let tokens = rotation.sandbox.tokens();
    let ids = rotation.sandbox.token_ids();
    let url = format!("{}/user/tokens/{}", rotation.sandbox.api_url(), ids.old);
    let (status, body) = http("DELETE", &url, Some(&tokens.old));
    assert_eq!(status, 200, "{body}");

    let dashboard = "revoke_old_token_in_dashboard";
    let mut command = rotation.command("run", &tokens.new);
    command.args(["--confirm", dashboard]);
    let ran = run(command, rotation.dir.path(), "run");
    let log = rotation.log();

    assert_eq!(ran.status, 0, "{}\n{}", everything(&ran), show(&log));
    let journal = rotation.journal();
    assert_eq!(journal.outcome("identify_old_token"), "passed");
    // `revoke_with: api` was asked for, but a dead token cannot delete itself: the
    // operator is sent to the dashboard, and the proof that it is dead follows.
    assert_eq!(journal.outcome(REVOKE), "skipped");
    assert_eq!(journal.outcome(dashboard), "passed");
    assert_eq!(journal.outcome("old_token_revoked"), "passed");
    assert_eq!(journal.end(), ("passed".to_owned(), 0));

    assert_eq!(rotation.env_file().0, rotation.rotated(&tokens.new));
    assert_platform_uses_new_token(&rotation);
    // The only DELETE is the one before the run.
    assert_eq!(indices(&log, is_delete).len(), 1, "{}", show(&log));
}

#[test]
fn an_old_token_cloudflare_already_rejected_is_not_put_back_by_the_rollback() {
    // The seed's dead token, and a new token lacking DNS permission: the DNS check
    // fails, and the rollback has no working token to go back to.
    let rotation = Rotation::start(SandboxConfig {
        old_token_revoked: true,
        ..SandboxConfig::default()
    });
    let tokens = rotation.sandbox.tokens();
    let ran = rotation.run(&tokens.limited);
    let log = rotation.log();

    assert_eq!(ran.status, 1, "{}\n{}", everything(&ran), show(&log));
    let journal = rotation.journal();
    assert_eq!(journal.outcome("verify_dns_records"), "failed");
    assert_eq!(journal.outcome("restore_token"), "skipped");
    assert_eq!(journal.outcome("restart_again"), "skipped");
    assert_eq!(rotation.env_file().0, rotation.rotated(&tokens.limited));
    assert_eq!(indices(&log, is_restart).len(), 1, "{}", show(&log));
}

#[test]
fn a_revoke_refused_after_the_switch_is_proven_keeps_the_new_token() {
    // Most real tokens are made from the "Edit zone DNS" template: they may not
    // delete tokens. The refusal comes after the platform proved the new token
    // works, so the rollback must not bring the old token back.
    let rotation = Rotation::start(SandboxConfig {
        old_token_may_not_revoke: true,
        ..SandboxConfig::default()
    });
    let tokens = rotation.sandbox.tokens();
    let ran = rotation.run(&tokens.new);
    let log = rotation.log();

    assert_eq!(ran.status, 1, "{}\n{}", everything(&ran), show(&log));
    ran.stdout_has("Revoke it in the dashboard instead");
    let journal = rotation.journal();
    assert_eq!(journal.outcome("verify_dns_records"), "passed");
    assert_eq!(journal.outcome(REVOKE), "failed");
    assert_eq!(journal.outcome("restore_token"), "skipped");
    assert_eq!(journal.outcome("restart_again"), "skipped");
    assert_eq!(journal.end(), ("failed".to_owned(), 1));

    assert_eq!(rotation.env_file().0, rotation.rotated(&tokens.new));
    assert_platform_uses_new_token(&rotation);
    let deletes = indices(&log, is_delete);
    assert_eq!(deletes.len(), 1, "{}", show(&log));
    assert_eq!(log[deletes[0]].status, 403, "{}", show(&log));
    assert_eq!(indices(&log, is_restart).len(), 1, "{}", show(&log));
}

#[test]
fn rate_limited_sits_out_the_429s_and_completes() {
    // As `runbook demo --scenario rate-limited` configures the sandbox.
    let rotation = Rotation::start(SandboxConfig {
        request_budget: Some(2),
        retry_after_secs: 1,
        ..SandboxConfig::default()
    });
    let tokens = rotation.sandbox.tokens();
    let ran = rotation.run(&tokens.new);
    let log = rotation.log();

    assert_eq!(ran.status, 0, "{}\n{}", everything(&ran), show(&log));
    let journal = rotation.journal();
    assert_eq!(journal.end(), ("passed".to_owned(), 0));
    let (text, mode) = rotation.env_file();
    assert_eq!(text, rotation.rotated(&tokens.new));
    assert_eq!(mode, 0o600);

    // The API did rate-limit, and every zone's DNS records loaded in the end.
    assert!(log.iter().any(|r| r.status == 429), "{}", show(&log));
    let mut zones: Vec<&str> = log
        .iter()
        .filter(|r| r.path.ends_with("/dns_records") && r.status == 200)
        .map(|r| r.path.as_str())
        .collect();
    zones.sort_unstable();
    zones.dedup();
    assert_eq!(zones.len(), 7, "{}", show(&log));
    // Each refused DNS listing was retried only after its `Retry-After` (1 s).
    let refused_dns =
        |r: &&runbook::sandbox::LoggedRequest| r.status == 429 && r.path.ends_with("/dns_records");
    for (i, refused) in log.iter().enumerate().filter(|(_, r)| refused_dns(r)) {
        if let Some(retry) = log[i + 1..].iter().find(|r| r.path == refused.path) {
            assert!(
                retry.at_ms >= refused.at_ms + 900,
                "{} retried after {} ms: {}",
                refused.path,
                retry.at_ms - refused.at_ms,
                show(&log)
            );
        }
    }
    // The old token deleted once, after every verification.
    let deletes = indices(&log, is_delete);
    assert_eq!(deletes.len(), 1, "{}", show(&log));
    assert_eq!(log[deletes[0]].status, 200, "{}", show(&log));
    assert!(
        indices(&log, is_verification)
            .iter()
            .all(|&i| i < deletes[0]),
        "{}",
        show(&log)
    );
}
