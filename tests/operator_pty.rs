//! The terminal operator under a real pseudo-terminal, through
//! `examples/operator_demo` (`cargo test` builds examples; `cargo test --test lib`
//! alone does not — run `cargo build --examples` first in that case).
//!
//! rexpect turns the PTY's echo off, so "the secret is never shown" here means
//! the program itself never writes it. rexpect also reads the output byte by
//! byte as if each were a character, so it can only wait for ASCII text; what
//! it returns is turned back into UTF-8 (`Screen`) before asserting on `✓` & co.

use std::path::PathBuf;
use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};

const SECRET: &str = "cfut_s3cretvalue1234";
const DOWN: &str = "\u{1b}[B";

fn demo() -> PathBuf {
    // target/debug/deps/lib-HASH → target/debug/examples/operator_demo
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples/operator_demo")))
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "{} is missing: run `cargo test` (which builds examples) or `cargo build --examples`",
        path.display()
    );
    path
}

fn spawn(no_color: bool) -> PtySession {
    let mut command = Command::new(demo());
    command.env("TERM", "xterm");
    if no_color {
        command.env("NO_COLOR", "1");
    } else {
        command.env_remove("NO_COLOR");
    }
    spawn_command(command, Some(10_000)).expect("the demo starts under a PTY")
}

/// Ctrl-C is a key only while console holds the terminal in raw mode; sent
/// earlier it would be a kernel SIGINT. Give the prompt time to start reading.
fn ctrl_c(session: &mut PtySession) {
    sleep(Duration::from_millis(300));
    session.send_control('c').expect("sent Ctrl-C");
}

/// Everything the demo printed so far, as UTF-8.
#[derive(Default)]
struct Screen(Vec<u8>);

impl Screen {
    /// Waits for `ascii` and returns what was printed up to and including it.
    fn wait(&mut self, session: &mut PtySession, ascii: &str) -> String {
        let before = session
            .exp_string(ascii)
            .unwrap_or_else(|e| panic!("waiting for {ascii:?}: {e}"));
        self.take(&before, ascii)
    }

    fn take(&mut self, before: &str, ascii: &str) -> String {
        // rexpect made one char of each byte; undo that.
        let bytes: Vec<u8> = before
            .chars()
            .chain(ascii.chars())
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        self.0.extend_from_slice(&bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

fn exit_code(session: &PtySession) -> Option<i32> {
    match session.process().wait() {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        _ => None,
    }
}

#[test]
fn a_whole_conversation_and_the_secret_is_never_shown() {
    let mut p = spawn(true);
    let mut screen = Screen::default();

    screen.wait(&mut p, "Paste the new token: ");
    p.send_line("short").expect("typed");
    screen.wait(
        &mut p,
        "error: the answer must match the pattern `[A-Za-z0-9_]{8,}`",
    );
    screen.wait(&mut p, "Paste the new token: ");
    p.send_line(SECRET).expect("typed");
    let shown = screen.wait(&mut p, "token: 20 characters");
    assert!(shown.contains("••••1234\r\n✓ token"), "{shown:?}");

    screen.wait(&mut p, "production");
    p.send(DOWN).expect("typed");
    p.send_line("").expect("typed");
    screen.wait(&mut p, "environment: production");

    screen.wait(&mut p, "type 1234 to confirm");
    p.send_line("9999").expect("typed");
    screen.wait(&mut p, "That does not match; type exactly: 1234");
    p.send_line("1234").expect("typed");
    screen.wait(&mut p, "confirmed: true");

    screen.wait(
        &mut p,
        "    Post in #ops that the token\r\n    ending in 1234 was rotated.",
    );
    screen.wait(&mut p, "Abort");
    p.send(DOWN).expect("typed");
    p.send_line("").expect("typed");
    screen.wait(&mut p, "Reason for deferring");
    p.send_line("").expect("typed");
    p.send_line("change freeze").expect("typed");
    let deferred = screen.wait(&mut p, "manual: deferred (change freeze)");
    assert!(
        deferred.ends_with("⏸ manual: deferred (change freeze)"),
        "{deferred:?}"
    );

    screen.wait(&mut p, "3 zones checked");
    let rest = p.exp_eof().expect("the demo ends");
    screen.take(&rest, "");
    assert_eq!(exit_code(&p), Some(0));
    let all = screen.text();
    assert!(!all.contains("s3cret"), "the secret was shown:\n{all}");
    assert!(
        !all.contains("\u{1b}[32m"),
        "coloured despite NO_COLOR:\n{all}"
    );
}

#[test]
fn narrative_is_coloured_on_a_terminal() {
    let mut p = spawn(false);
    let mut screen = Screen::default();
    screen.wait(&mut p, "\u{1b}[1m[1/4] Token\u{1b}[0m");
    screen.wait(&mut p, "Paste the new token: ");
    p.send_line(SECRET).expect("typed");
    let shown = screen.wait(&mut p, "token: 20 characters");
    assert!(
        shown.ends_with("\u{1b}[32m✓\u{1b}[0m token: 20 characters"),
        "{shown:?}"
    );
}

#[test]
fn ctrl_c_at_a_selection_interrupts_and_shows_the_cursor_again() {
    let mut p = spawn(true);
    let mut screen = Screen::default();
    screen.wait(&mut p, "Paste the new token: ");
    p.send_line(SECRET).expect("typed");
    screen.wait(&mut p, "production");
    ctrl_c(&mut p);
    let shown = screen.wait(&mut p, "interrupted");
    assert!(
        shown.contains("\u{1b}[?25h"),
        "the cursor stayed hidden: {shown:?}"
    );
    p.exp_eof().expect("the demo ends");
    assert_eq!(exit_code(&p), Some(130));
}

#[test]
fn ctrl_c_at_the_secret_prompt_interrupts() {
    let mut p = spawn(true);
    let mut screen = Screen::default();
    screen.wait(&mut p, "Paste the new token: ");
    p.send("cfut_half").expect("typed");
    ctrl_c(&mut p);
    screen.wait(&mut p, "interrupted");
    p.exp_eof().expect("the demo ends");
    assert_eq!(exit_code(&p), Some(130));
}

#[test]
fn ctrl_c_at_a_phrase_confirmation_interrupts() {
    let mut p = spawn(true);
    let mut screen = Screen::default();
    screen.wait(&mut p, "Paste the new token: ");
    p.send_line(SECRET).expect("typed");
    screen.wait(&mut p, "production");
    p.send_line("").expect("typed");
    screen.wait(&mut p, "type 1234 to confirm");
    ctrl_c(&mut p);
    screen.wait(&mut p, "interrupted");
    p.exp_eof().expect("the demo ends");
    assert_eq!(exit_code(&p), Some(130));
}
