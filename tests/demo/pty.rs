//! `runbook demo` at a pseudo-terminal, typed like a person: "Done" at the
//! manual step, the token pasted at the masked prompt (and never shown after
//! the intro that hands it out), a wrong confirmation phrase refused and asked
//! again, then the right one. The progress display is drawn here; the demo
//! without a terminal (`the_demo_without_a_terminal_…` in `demo.rs`) draws none.
//!
//! rexpect turns the PTY's echo off, so whatever of the token is on the screen
//! the program wrote itself. It also hands back each byte as a `char`: waits
//! are on ASCII text, and what was read is turned back into UTF-8 before
//! asserting on `••••` & co.

use std::path::Path;
use std::process::Command;

use runbook::sandbox::SandboxConfig;

use super::{REVOKE, Rotation, has_spinner, indices, is_delete, last4, seeded, show};
use crate::support::binary;
use crate::tty::Tty;

const TIMEOUT_MS: u64 = 20_000;
/// The end of the revoke's phrase prompt, the same on every ask.
const PHRASE_PROMPT: &str = "or nothing to decline";

/// `runbook demo ARGS…` in `tmp` (also its `TMPDIR`), at a terminal.
fn demo(tmp: &Path, args: &[&str]) -> Tty {
    let mut command = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUNBOOK_") {
            command.env_remove(key);
        }
    }
    command
        .arg("demo")
        .args(args)
        .current_dir(tmp)
        .env("TMPDIR", tmp)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR");
    Tty::spawn(command, TIMEOUT_MS)
}

/// The token the intro hands out: the line after "pretend you created this token".
fn handed_out(intro: &str) -> String {
    let mut lines = intro.lines();
    lines
        .find(|l| l.contains("pretend you created this token"))
        .and_then(|_| lines.next())
        .map_or_else(
            || panic!("no token in the intro:\n{intro}"),
            |l| l.trim().to_owned(),
        )
}

#[test]
fn at_a_terminal_the_pasted_token_is_masked_a_wrong_phrase_is_asked_again_and_the_old_token_revoked()
 {
    let (tokens, _) = seeded();
    let tmp = tempfile::tempdir().expect("a temp dir");
    let mut tty = demo(tmp.path(), &[]);

    let intro = tty.wait("Paste it when asked");
    let token = handed_out(&intro);
    assert_eq!(token, tokens.new, "{intro}");

    // The manual step: Enter picks the first item, "Done".
    tty.wait("Abort");
    tty.send("\r");
    tty.wait("Paste the new Cloudflare API token");
    tty.send(&format!("{token}\r"));
    let pasted = tty.wait("HTTP 200 in");

    // The revoke asks for the old token's last four characters; a wrong answer
    // is refused, said so, and asked again.
    tty.wait(PHRASE_PROMPT);
    tty.send("egc_\r");
    let refused = tty.wait("That does not match; type exactly: egC_");
    tty.wait(PHRASE_PROMPT);
    assert!(
        !refused.contains("passed"),
        "the revoke ran unconfirmed: {refused}"
    );
    tty.send("egC_\r");
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("The old token is dead: Cloudflare rejects it."),
        "{screen}"
    );
    assert!(
        screen.contains("The env file now holds the new token (••••R7kd)."),
        "{screen}"
    );
    // After the intro, the token is only ever `••••R7kd`: not at the paste,
    // not in the narrative, not in the closing log.
    let after_intro = &screen[screen.find("Paste it when asked").unwrap_or(0)..];
    for leak in [
        &token[..],
        &token[..12],
        &token[5..],
        &token[token.len() - 12..],
    ] {
        assert!(
            !after_intro.contains(leak),
            "the screen shows {leak:?} after the intro:\n{after_intro}"
        );
    }
    assert!(
        pasted.contains("••••R7kd"),
        "the paste is not acknowledged masked: {pasted:?}"
    );
    // The phrase was confirmed once, by the second answer.
    assert_eq!(screen.matches("That does not match").count(), 1, "{screen}");
}

#[test]
fn at_a_terminal_the_demo_draws_its_progress() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let mut tty = demo(tmp.path(), &[]);

    tty.wait("Abort");
    tty.send("\r");
    // Enter alone takes the token the sandbox made, the demo's courtesy.
    tty.wait("Paste the new Cloudflare API token");
    tty.send("\r");
    let progress = tty.wait(PHRASE_PROMPT);
    tty.send("egC_\r");
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    // The restart's wait is a spinner; the DNS fan-out a bar of its 7 zones.
    assert!(has_spinner(&progress), "no spinner:\n{progress:?}");
    assert!(
        progress.contains("/7"),
        "no progress bar over the 7 zones:\n{progress:?}"
    );
    assert!(
        progress.contains('\u{1b}'),
        "drawn without escape codes?\n{progress:?}"
    );
    assert!(
        screen.contains("The old token is dead: Cloudflare rejects it."),
        "{screen}"
    );
}

#[test]
fn at_a_terminal_the_seed_situation_ends_with_the_dashboard_step() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let mut tty = demo(tmp.path(), &["--scenario", "old-token-rejected"]);

    tty.wait("Abort");
    tty.send("\r");
    tty.wait("Paste the new Cloudflare API token");
    tty.send("\r");
    // The old token answered 401: no API revoke, the dashboard step instead. Its
    // instructions come first, then the confirmation by the old token's last four,
    // then "Done" — without the instructions shown a second time.
    let gate = tty.wait(PHRASE_PROMPT);
    let instructions = "Cloudflare no longer accepts the old token (401)";
    assert!(gate.contains(instructions), "{gate}");
    assert!(gate.contains("state: invalid"), "{gate}");
    tty.send("egC_\r");
    let done = tty.wait("Abort");
    assert!(!done.contains(instructions), "shown twice:\n{done}");
    tty.send("\r");
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("The env file now holds the new token (••••R7kd)."),
        "{screen}"
    );
    assert!(
        screen.contains("The old token is dead: Cloudflare rejects it."),
        "{screen}"
    );
    assert!(
        !screen.contains(" DELETE "),
        "nothing to delete through the API:\n{screen}"
    );
    // The instructions shown before the confirmation go through the redactor too.
    let (tokens, _) = seeded();
    for leak in [&tokens.old[..], &tokens.old[..12], &tokens.old[5..]] {
        assert!(
            !screen.contains(leak),
            "the screen shows {leak:?}:\n{screen}"
        );
    }
}

#[test]
fn a_person_resuming_the_rotation_after_ctrl_c_at_the_revoke_types_only_the_phrase() {
    let rotation = Rotation::start(SandboxConfig::default());
    let tokens = rotation.sandbox.tokens();
    let at_terminal = |verb: &str| {
        let mut command = rotation.at_terminal(verb);
        // The terminal is the PTY the session hands the child.
        command
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::inherit());
        Tty::spawn(command, TIMEOUT_MS)
    };

    let mut tty = at_terminal("run");
    tty.wait("Abort");
    tty.send("\r");
    tty.wait("Paste the new Cloudflare API token");
    tty.send(&format!("{}\r", tokens.new));
    tty.wait(PHRASE_PROMPT);
    tty.ctrl_c();
    let (screen, code) = tty.finish();
    assert_eq!(code, 130, "{screen}");
    let hint = "resume with `runbook resume ";
    assert!(screen.contains(hint), "{screen}");
    assert!(indices(&rotation.log(), is_delete).is_empty());

    // The printed command, at a terminal: the run picks up at the revoke, and
    // the one thing asked is the confirmation phrase — not the new token, not
    // the old one (which the env file no longer holds).
    let mut tty = at_terminal("resume");
    let asked = tty.wait(PHRASE_PROMPT);
    for not_asked in ["Paste the new", "enter again", "Resuming:"] {
        assert!(!asked.contains(not_asked), "asked again: {asked}");
    }
    assert!(asked.contains("passed earlier in this run"), "{asked}");
    tty.send(&format!("{}\r", last4(&tokens.old)));
    let (screen, code) = tty.finish();
    let log = rotation.log();
    assert_eq!(code, 0, "{screen}\n{}", show(&log));
    assert_eq!(indices(&log, is_delete).len(), 1, "{}", show(&log));
    assert!(screen.contains(&format!("{REVOKE} ")), "{screen}");
    for token in [&tokens.old, &tokens.new] {
        assert!(
            !screen.contains(token.as_str()),
            "a token on the screen:\n{screen}"
        );
    }
    assert!(rotation.kept().is_empty(), "{:?}", rotation.kept());
}

#[test]
fn ctrl_c_in_the_demo_never_points_at_a_directory_it_deletes() {
    for keep in [false, true] {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let args: &[&str] = if keep { &["--keep"] } else { &[] };
        let mut tty = demo(tmp.path(), args);
        tty.wait("Abort");
        tty.send("\r");
        tty.wait("Paste the new Cloudflare API token");
        tty.send("\r");
        tty.wait(PHRASE_PROMPT);
        tty.ctrl_c();
        let (screen, code) = tty.finish();
        assert_eq!(code, 130, "{screen}");
        assert!(!screen.contains("runbook resume"), "{screen}");
        let again = if keep {
            "runbook demo --keep"
        } else {
            "runbook demo"
        };
        assert!(
            screen.contains(&format!("Start again with `{again}`")),
            "{screen}"
        );
        assert_eq!(screen.contains("goes away"), !keep, "{screen}");
        assert_eq!(screen.contains("is kept at"), keep, "{screen}");
    }
}
