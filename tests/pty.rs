//! `runbook run` and `runbook resume` under a real pseudo-terminal, the way an
//! operator meets them: masked secrets, phrase confirmations, manual steps,
//! Ctrl-C and resume, progress on long waits, and colour. (`operator_pty`
//! drives the terminal operator alone through an example; this drives the
//! whole binary, engine and journal included.)
//!
//! rexpect turns the PTY's echo off, so "the secret is never shown" means the
//! program itself never writes it. rexpect also hands back each byte as a
//! `char`, so it can only wait for ASCII text; [`Tty`] turns what it read back
//! into UTF-8 before asserting on `✓`, `⏸` & co.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::{alive, binary};
use crate::tty::Tty;

/// Long enough for a slow CI machine, short enough that a hang fails the test.
const TIMEOUT_MS: u64 = 10_000;
const SECRET: &str = "cfut_s3cretvalue1234";
const DOWN: &str = "\u{1b}[B";

/// A temp directory holding runbooks, their state (`RUNBOOK_STATE_DIR`) and
/// whatever files their commands leave behind.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().expect("a temp dir"))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    /// `path(name)` as text, for use inside a runbook's shell command.
    fn shell(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn write(&self, name: &str, contents: &str) -> &Self {
        std::fs::write(self.path(name), contents).expect("write a test file");
        self
    }

    fn read(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.path(name)).ok()
    }

    /// The built binary with `args`, run in this directory, its state kept
    /// here, with no `RUNBOOK_*` or `NO_COLOR` leaking in from the caller.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command.args(args);
        self.prepare(&mut command);
        command
    }

    fn prepare(&self, command: &mut Command) {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RUNBOOK_") {
                command.env_remove(key);
            }
        }
        command
            .current_dir(self.0.path())
            .env("TERM", "xterm")
            .env("RUNBOOK_STATE_DIR", self.path("state"))
            .env_remove("NO_COLOR");
    }

    /// Every file the engine wrote under its state directory, concatenated.
    fn state_files(&self) -> String {
        fn walk(dir: &Path, into: &mut String) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, into);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    into.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
        let mut all = String::new();
        walk(&self.path("state"), &mut all);
        all
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_millis(TIMEOUT_MS);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// 1. Secrets

fn secret_runbook() -> &'static str {
    // The command prints the token on both streams: whatever the engine shows of
    // them, the value itself must not reach the screen.
    r#"runbook: secret
title: Use a secret
inputs:
  token: { secret: true, prompt: "Paste the new API token" }
steps:
  - id: use_token
    title: Check the token's length
    effect: probe
    command:
      run: 'echo "token=$TOKEN"; echo "token=$TOKEN" >&2; printf "len=%s\n" "$(printf %s "$TOKEN" | wc -c | tr -d " ")"'
      env: { TOKEN: "{{ inputs.token }}" }
    expect: { stdout_contains: "len=20" }
"#
}

#[test]
fn a_secret_is_asked_masked_and_never_shown() {
    let dir = Dir::new();
    dir.write("secret.yaml", secret_runbook());
    let mut tty = Tty::spawn(dir.command(&["run", "secret.yaml"]), TIMEOUT_MS);

    tty.wait("Paste the new API token");
    // A typo corrected with Backspace: the step's `len=20` proves the edit took.
    tty.send(&format!("{SECRET}9\u{7f}\r"));
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("Paste the new API token"), "{screen}");
    for leak in [SECRET, &SECRET[..12], &SECRET[5..]] {
        assert!(
            !screen.contains(leak),
            "the screen shows {leak:?}:\n{screen}"
        );
    }
    let masked_or_hidden = screen.contains("••••1234") || !screen.contains("1234");
    assert!(
        masked_or_hidden,
        "the secret shows other than as ••••1234:\n{screen}"
    );
    let state = dir.state_files();
    assert!(!state.is_empty(), "no journal was written");
    assert!(
        !state.contains(SECRET),
        "the journal holds the secret:\n{state}"
    );
}

// ---------------------------------------------------------------------------
// 2. Phrase confirmations

/// An irreversible step gated on a passed probe; it creates `marker`. Its phrase
/// is the last four characters of a secret, as in the token rotation.
fn phrase_runbook(dir: &Dir) -> String {
    format!(
        r#"runbook: destroy
title: Destroy the old token
inputs:
  token: {{ secret: true, prompt: "Paste the old API token" }}
steps:
  - id: check
    title: Check the new token works
    effect: probe
    command: "true"
  - id: revoke
    title: Revoke the old token
    needs: [check]
    effect: irreversible
    confirm: {{ phrase: "{{{{ inputs.token | last4 }}}}" }}
    command: 'touch "{marker}"'
"#,
        marker = dir.shell("marker")
    )
}

#[test]
fn a_wrong_phrase_is_refused_and_asked_again_and_the_right_one_runs_the_step() {
    let dir = Dir::new();
    dir.write("destroy.yaml", &phrase_runbook(&dir));
    let mut tty = Tty::spawn(dir.command(&["run", "destroy.yaml"]), TIMEOUT_MS);

    tty.wait("Paste the old API token");
    tty.line(SECRET);
    tty.wait("type 1234 to confirm");
    tty.line("1235");
    let refused = tty.wait("That does not match; type exactly: 1234");
    assert!(refused.contains("1235"), "{refused:?}");
    tty.wait("type 1234 to confirm");
    assert!(
        !dir.path("marker").exists(),
        "the step ran before it was confirmed"
    );
    tty.line("1234");
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    assert!(
        dir.path("marker").exists(),
        "the step did not run:\n{screen}"
    );
    assert!(!screen.contains(SECRET), "{screen}");
}

#[test]
fn an_empty_phrase_declines_and_the_step_is_blocked() {
    let dir = Dir::new();
    dir.write("destroy.yaml", &phrase_runbook(&dir));
    let mut tty = Tty::spawn(dir.command(&["run", "destroy.yaml"]), TIMEOUT_MS);

    tty.wait("Paste the old API token");
    tty.line(SECRET);
    tty.wait("type 1234 to confirm");
    tty.line("");
    let (screen, code) = tty.finish();

    assert_eq!(code, 3, "{screen}");
    assert!(!dir.path("marker").exists(), "a declined step ran");
    assert!(screen.contains("⛔"), "{screen}");
    assert!(screen.contains("not confirmed"), "{screen}");
}

// ---------------------------------------------------------------------------
// 3. Manual steps

fn manual_runbook(dir: &Dir) -> String {
    format!(
        r#"runbook: backups
title: Before the upgrade
steps:
  - id: check_backups
    title: Check last night's backup
    manual: |
      Open the backup dashboard and check
      that last night's backup finished.
  - id: upgrade
    title: Upgrade the database
    needs: [check_backups]
    effect: change
    command: 'touch "{marker}"'
"#,
        marker = dir.shell("marker")
    )
}

#[test]
fn a_deferred_manual_step_shows_its_reason_and_stops_the_runbook_there() {
    let dir = Dir::new();
    dir.write("backups.yaml", &manual_runbook(&dir));
    let mut tty = Tty::spawn(dir.command(&["run", "backups.yaml"]), TIMEOUT_MS);

    tty.wait("that last night's backup finished.");
    tty.wait("Abort");
    tty.send(DOWN);
    tty.send("\r");
    tty.wait("Reason for deferring");
    tty.line("change freeze");
    let (screen, code) = tty.finish();

    assert_eq!(code, 3, "{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("⏸") && l.contains("change freeze")),
        "no ⏸ line with the reason:\n{screen}"
    );
    assert!(
        screen.contains("The steps after `check_backups` wait"),
        "the upgrade is not shown waiting for the deferred step:\n{screen}"
    );
    assert!(
        screen.contains("Resume with `runbook resume backups.yaml`"),
        "{screen}"
    );
    assert!(
        !dir.path("marker").exists(),
        "a step after the deferred one ran"
    );
}

#[test]
fn a_done_manual_step_lets_what_needs_it_run() {
    let dir = Dir::new();
    dir.write("backups.yaml", &manual_runbook(&dir));
    let mut tty = Tty::spawn(dir.command(&["run", "backups.yaml"]), TIMEOUT_MS);

    tty.wait("Abort");
    tty.send("\r");
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    assert!(dir.path("marker").exists(), "the upgrade did not run");
}

#[test]
fn manual_instructions_are_shown_once() {
    let dir = Dir::new();
    dir.write("backups.yaml", &manual_runbook(&dir));
    let mut tty = Tty::spawn(dir.command(&["run", "backups.yaml"]), TIMEOUT_MS);

    tty.wait("Abort");
    tty.send("\r");
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        screen.matches("that last night's backup finished.").count(),
        1,
        "{screen}"
    );
}

// ---------------------------------------------------------------------------
// 4. Ctrl-C and resume

#[test]
fn ctrl_c_at_a_manual_step_exits_130_leaves_the_terminal_sane_and_resume_finishes() {
    let dir = Dir::new();
    let lines = dir.shell("lines");
    let done = dir.shell("done");
    dir.write(
        "deploy.yaml",
        &format!(
            r#"runbook: deploy
title: Deploy
steps:
  - id: announce
    title: Announce the deploy
    effect: change
    command: 'echo announced >> "{lines}"'
  - id: smoke_test
    title: Smoke-test by hand
    needs: [announce]
    manual: Click through the login page.
  - id: finish
    title: Record the deploy
    needs: [smoke_test]
    effect: change
    command: 'touch "{done}"'
"#
        ),
    );

    // A shell around the run reports, on the same terminal once it has ended,
    // its status and the terminal's modes. Its INT trap is reset for the child.
    let mut command = Command::new("sh");
    command.args([
        "-c",
        r#"trap : INT; "$0" run deploy.yaml; status=$?; echo "exit=$status"; stty -a; exit $status"#,
    ]);
    command.arg(binary());
    dir.prepare(&mut command);
    let mut tty = Tty::spawn(command, TIMEOUT_MS);
    tty.wait("Abort");
    tty.ctrl_c();
    let shown = tty.wait("Interrupted");
    let (screen, code) = tty.finish();

    assert_eq!(code, 130, "{screen}");
    assert!(screen.contains("exit=130"), "{screen}");
    assert!(
        screen.contains("resume with `runbook resume deploy.yaml`"),
        "no resume hint:\n{screen}"
    );
    // The selection hid the cursor; it must be shown again.
    let hidden = shown.rfind("\u{1b}[?25l");
    let shown_again = shown.rfind("\u{1b}[?25h");
    assert!(
        hidden.is_none() || shown_again > hidden,
        "the cursor stayed hidden: {shown:?}"
    );
    let stty = &screen[screen.find("exit=130").unwrap_or(0)..];
    let modes: Vec<&str> = stty.split_whitespace().collect();
    for mode in ["icanon", "isig", "iexten", "icrnl", "opost"] {
        assert!(
            modes.contains(&mode),
            "the terminal was left without `{mode}`:\n{stty}"
        );
    }
    assert_eq!(dir.read("lines").as_deref(), Some("announced\n"));
    assert!(!dir.path("done").exists());

    let mut tty = Tty::spawn(dir.command(&["resume", "deploy.yaml"]), TIMEOUT_MS);
    tty.wait("Abort");
    tty.send("\r");
    let (screen, code) = tty.finish();

    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        dir.read("lines").as_deref(),
        Some("announced\n"),
        "resume repeated a passed step:\n{screen}"
    );
    assert!(
        dir.path("done").exists(),
        "resume did not finish:\n{screen}"
    );
}

#[test]
fn ctrl_c_during_a_command_kills_it_exits_130_and_resume_finishes() {
    let dir = Dir::new();
    let (lines, pid, go, done) = (
        dir.shell("lines"),
        dir.shell("pid"),
        dir.shell("go"),
        dir.shell("done"),
    );
    dir.write(
        "migrate.yaml",
        &format!(
            r#"runbook: migrate
title: Migrate
steps:
  - id: announce
    title: Announce the migration
    effect: change
    command: 'echo announced >> "{lines}"'
  - id: migrate
    title: Run the migration
    needs: [announce]
    effect: change
    command: 'test -f "{go}" || {{ echo $$ > "{pid}.tmp" && mv "{pid}.tmp" "{pid}" && exec sleep 30; }}'
  - id: finish
    title: Record the migration
    needs: [migrate]
    effect: change
    command: 'touch "{done}"'
"#
        ),
    );

    let mut tty = Tty::spawn(dir.command(&["run", "migrate.yaml"]), TIMEOUT_MS);
    tty.wait("Run the migration");
    wait_until("the command to start", || dir.path("pid").exists());
    let pid: i32 = dir
        .read("pid")
        .and_then(|p| p.trim().parse().ok())
        .expect("the command wrote its pid");
    tty.ctrl_c();
    tty.wait("resume with `runbook resume migrate.yaml`");
    let (screen, code) = tty.finish();

    assert_eq!(code, 130, "{screen}");
    wait_until("the interrupted command to end", || !alive(pid));
    assert_eq!(dir.read("lines").as_deref(), Some("announced\n"));
    assert!(!dir.path("done").exists());

    dir.write("go", "");
    let resumed = dir
        .command(&["resume", "migrate.yaml", "--non-interactive"])
        .stdin(Stdio::null())
        .output()
        .expect("resume ran");
    let stdout = String::from_utf8_lossy(&resumed.stdout);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
    );
    assert_eq!(
        dir.read("lines").as_deref(),
        Some("announced\n"),
        "resume repeated a passed step:\n{stdout}"
    );
    assert!(
        dir.path("done").exists(),
        "resume did not finish:\n{stdout}"
    );
}

#[test]
fn resume_at_a_terminal_asks_a_secret_again_and_never_shows_it() {
    let dir = Dir::new();
    dir.write(
        "rotate.yaml",
        r#"runbook: rotate
title: Rotate
inputs:
  token: { secret: true, prompt: "Paste the new API token" }
steps:
  - id: verify
    title: Verify the token
    effect: probe
    command: { run: 'test -n "$T"', env: { T: "{{ inputs.token }}" } }
  - id: dashboard
    title: Check the dashboard
    needs: [verify]
    manual: Open the dashboard.
  - id: verify_again
    title: Verify the token again
    needs: [dashboard]
    effect: probe
    command: { run: 'test "${#T}" -eq 20', env: { T: "{{ inputs.token }}" } }
"#,
    );
    // Kept at rest, the secret is not asked again (`engine::state`); without
    // keeping, it is.
    let mut tty = Tty::spawn(
        dir.command(&["run", "rotate.yaml", "--no-keep-secrets"]),
        TIMEOUT_MS,
    );
    tty.wait("Paste the new API token");
    tty.line(SECRET);
    tty.wait("Abort");
    tty.ctrl_c();
    let (first, code) = tty.finish();
    assert_eq!(code, 130, "{first}");

    let mut tty = Tty::spawn(dir.command(&["resume", "rotate.yaml"]), TIMEOUT_MS);
    tty.wait("Abort");
    tty.send("\r");
    tty.wait("Paste the new API token");
    tty.line(SECRET);
    let (second, code) = tty.finish();

    assert_eq!(code, 0, "{second}");
    for screen in [&first, &second] {
        assert!(!screen.contains(SECRET), "the secret was shown:\n{screen}");
    }
    assert!(
        !dir.state_files().contains(SECRET),
        "the journal holds the secret"
    );
}

// ---------------------------------------------------------------------------
// 5. Progress

/// A loopback health endpoint answering 503 until `delay` after its first
/// request, then 200. Stops when dropped.
struct Health {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Health {
    fn healthy_after(delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("a local address");
        listener.set_nonblocking(true).expect("nonblocking accept");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut first: Option<Instant> = None;
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let since = *first.get_or_insert_with(Instant::now);
                        let status = if since.elapsed() >= delay {
                            "200 OK"
                        } else {
                            "503 Service Unavailable"
                        };
                        respond(stream, status);
                    }
                    Err(_) => sleep(Duration::from_millis(10)),
                }
            }
        });
        Health { addr, stop }
    }

    fn url(&self) -> String {
        format!("http://{}/health", self.addr)
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn respond(mut stream: TcpStream, status: &str) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    );
}

fn wait_runbook(url: &str) -> String {
    format!(
        r#"runbook: wait
title: Wait for the service
steps:
  - id: healthy
    title: Wait until healthy
    wait_for:
      http: {{ url: "{url}" }}
      expect: {{ status: 200 }}
      interval: 100ms
      timeout: 10s
"#
    )
}

fn has_spinner(text: &str) -> bool {
    // indicatif's default spinner is drawn with braille patterns.
    text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
}

#[test]
fn a_long_wait_shows_a_spinner_on_a_terminal() {
    let health = Health::healthy_after(Duration::from_secs(1));
    let dir = Dir::new();
    dir.write("wait.yaml", &wait_runbook(&health.url()));
    let (screen, code) = Tty::spawn(dir.command(&["run", "wait.yaml"]), TIMEOUT_MS).finish();

    assert_eq!(code, 0, "{screen}");
    assert!(has_spinner(&screen), "no spinner:\n{screen:?}");
    assert!(
        screen.matches(&health.url()).count() >= 2,
        "the progress line was not redrawn:\n{screen:?}"
    );
    assert!(screen.contains("✓"), "{screen}");
}

#[test]
fn ctrl_c_during_a_wait_takes_the_spinner_away_and_exits_130() {
    let health = Health::healthy_after(Duration::from_secs(60));
    let dir = Dir::new();
    dir.write("wait.yaml", &wait_runbook(&health.url()));
    let mut tty = Tty::spawn(dir.command(&["run", "wait.yaml"]), TIMEOUT_MS);
    // Drawn twice: the spinner is up and ticking.
    tty.wait(&health.url());
    tty.wait(&health.url());
    tty.ctrl_c();
    tty.wait("Interrupted");
    let (screen, code) = tty.finish();

    assert_eq!(code, 130, "{screen}");
    let after = &screen[screen.rfind("Interrupted").unwrap_or(0)..];
    assert!(
        !has_spinner(after),
        "the spinner outlived the run: {after:?}"
    );
    assert!(after.contains("runbook resume wait.yaml"), "{after:?}");
}

#[test]
fn a_long_wait_prints_plain_lines_without_a_terminal() {
    let health = Health::healthy_after(Duration::from_secs(1));
    let dir = Dir::new();
    dir.write("wait.yaml", &wait_runbook(&health.url()));
    let ran = dir
        .command(&["run", "wait.yaml"])
        .stdin(Stdio::null())
        .output()
        .expect("run the binary");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let stderr = String::from_utf8_lossy(&ran.stderr);

    assert_eq!(ran.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&health.url()), "{stdout}");
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!text.contains('\u{1b}'), "escape codes on {name}: {text:?}");
        assert!(!text.contains('\r'), "carriage returns on {name}: {text:?}");
        assert!(!has_spinner(text), "a spinner on {name}: {text:?}");
    }
}

// ---------------------------------------------------------------------------
// 6. Colour

const PLAIN_RUNBOOK: &str = r#"runbook: plain
title: One probe
steps:
  - id: probe
    title: Probe
    effect: probe
    command: "true"
"#;

#[test]
fn no_color_means_no_colour_on_a_terminal() {
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN_RUNBOOK);
    let mut command = dir.command(&["run", "plain.yaml"]);
    command.env("NO_COLOR", "1");
    let (screen, code) = Tty::spawn(command, TIMEOUT_MS).finish();

    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("✓"), "{screen}");
    for sgr in ["\u{1b}[3", "\u{1b}[9", "\u{1b}[1m"] {
        assert!(
            !screen.contains(sgr),
            "{sgr:?} despite NO_COLOR: {screen:?}"
        );
    }
}

#[test]
fn the_passed_line_is_coloured_on_a_terminal() {
    let dir = Dir::new();
    dir.write("plain.yaml", PLAIN_RUNBOOK);
    let (screen, code) = Tty::spawn(dir.command(&["run", "plain.yaml"]), TIMEOUT_MS).finish();

    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("\u{1b}[32m✓\u{1b}[0m passed"),
        "no green ✓: {screen:?}"
    );
}

// ---------------------------------------------------------------------------
// 6. A step in doubt

/// Starts the irreversible `revoke` without a terminal and `kill -9`s the run
/// while it is in flight; returns the directory, with `sent` holding one line.
fn revoke_in_doubt() -> Dir {
    let dir = Dir::new();
    let (sent, pid, go) = (dir.shell("sent"), dir.shell("pid"), dir.shell("go"));
    dir.write(
        "revoke.yaml",
        &format!(
            r#"runbook: revoke
steps:
  - id: check
    effect: probe
    command: 'true'
  - id: revoke
    title: Revoke the old token
    needs: [check]
    effect: irreversible
    confirm: true
    command: 'echo sent >> "{sent}"; test -f "{go}" || {{ echo $$ > "{pid}.tmp" && mv "{pid}.tmp" "{pid}" && exec sleep 30; }}'
  - id: gone
    title: The old token is gone
    needs: [revoke]
    effect: probe
    command: 'test -f "{sent}"'
"#
        ),
    );
    let mut run = dir
        .command(&["run", "revoke.yaml", "--confirm", "revoke"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start the run");
    wait_until("the revoke to start", || dir.path("pid").exists());
    run.kill().expect("kill -9 the run");
    run.wait().expect("reap the run");
    let sleeping: i32 = dir
        .read("pid")
        .and_then(|p| p.trim().parse().ok())
        .expect("the command wrote its pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeping),
        nix::sys::signal::Signal::SIGKILL,
    );
    dir.write("go", "");
    dir
}

#[test]
fn at_a_terminal_a_step_in_doubt_is_settled_by_the_operator_it_happened() {
    let dir = revoke_in_doubt();
    let mut tty = Tty::spawn(dir.command(&["resume", "revoke.yaml"]), TIMEOUT_MS);
    tty.wait("is in doubt. What now?");
    tty.send(DOWN);
    tty.send("\r");
    let (screen, code) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(dir.read("sent").as_deref(), Some("sent\n"), "{screen}");
    assert!(
        screen.contains("`gone`, which follows, checks it"),
        "{screen}"
    );
}

#[test]
fn at_a_terminal_a_step_in_doubt_runs_again_only_when_chosen() {
    let dir = revoke_in_doubt();
    let mut tty = Tty::spawn(dir.command(&["resume", "revoke.yaml"]), TIMEOUT_MS);
    tty.wait("is in doubt. What now?");
    // Abort: nothing is sent, the run ends blocked and stays in doubt.
    tty.send(DOWN);
    tty.send(DOWN);
    tty.send("\r");
    let (screen, code) = tty.finish();
    assert_eq!(code, 3, "{screen}");
    assert_eq!(dir.read("sent").as_deref(), Some("sent\n"), "{screen}");

    let mut tty = Tty::spawn(dir.command(&["resume", "revoke.yaml"]), TIMEOUT_MS);
    tty.wait("is in doubt. What now?");
    tty.send("\r");
    // Run again: through its gates, so its confirmation is asked once more.
    tty.wait("Revoke the old token");
    tty.wait("[y/N]");
    tty.send("y\r");
    let (screen, code) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(
        dir.read("sent").as_deref(),
        Some("sent\nsent\n"),
        "{screen}"
    );
}
