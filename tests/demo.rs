//! The issue's end-to-end tests of the flagship, through the built binary and
//! against the sandbox: `runbook demo` itself (here), each failure scenario run
//! with `runbook run` against an in-process [`Sandbox`] so the request log can be
//! asserted exactly (`scenarios`), resume after `kill -9` between the save and
//! the verification (`resume`), the production deployment checklist running the
//! rotation as a child item (`checklist`), and the demo at a terminal, typed
//! like a person would (`pty`). `tests/sandbox.rs` already holds the happy path
//! through `runbook run`; the happy path here goes through `runbook demo`.

mod checklist;
mod pty;
mod resume;
mod scenarios;

use std::fs::File;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use runbook::sandbox::{LoggedRequest, Sandbox, SandboxConfig, SeededTokens, Service};
use serde_json::Value;

use crate::support::{Ran, binary, repo};

/// Generous for a slow CI machine running the suite in parallel; a hang still
/// fails the test instead of the whole suite.
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The step whose confirmation only `--confirm` gives non-interactively.
const REVOKE: &str = "revoke_old_token";

/// The token the bad-token scenario pastes: Cloudflare never issued it.
const BOGUS_TOKEN: &str = "cfut_ThisTokenWasNeverIssuedByCloudflare0000";

// ---------------------------------------------------------------------------
// Processes

/// The built binary with no `RUNBOOK_*` or `NO_COLOR` leaking in from the
/// caller, run in `dir`, with no stdin.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("RUNBOOK_") {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    command
}

/// A running binary whose output goes to files (so a chatty run never blocks on
/// a full pipe), waited for with a deadline.
struct Process {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Process {
    /// Spawns `command`, its output in `dir/<name>.stdout` and `.stderr`.
    fn spawn(mut command: Command, dir: &Path, name: &str) -> Process {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command
            .stdout(File::create(&stdout).expect("create the stdout file"))
            .stderr(File::create(&stderr).expect("create the stderr file"))
            .spawn()
            .expect("spawn the runbook binary");
        Process {
            child,
            stdout,
            stderr,
        }
    }

    fn output(&self) -> (String, String) {
        let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
        (read(&self.stdout), read(&self.stderr))
    }

    /// Waits for the exit, killing the process past [`RUN_TIMEOUT`].
    fn finish(mut self) -> Ran {
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the binary") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let (stdout, stderr) = self.output();
                panic!("the run did not end in {RUN_TIMEOUT:?}\n{stdout}\n{stderr}");
            }
            sleep(Duration::from_millis(20));
        };
        let (stdout, stderr) = self.output();
        Ran {
            status: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }

    /// `kill -9`, and reaps it.
    fn kill(mut self) -> (String, String) {
        self.child.kill().expect("SIGKILL the run");
        self.child.wait().expect("reap the killed run");
        self.output()
    }
}

/// Runs `command` to its end.
fn run(command: Command, dir: &Path, name: &str) -> Ran {
    Process::spawn(command, dir, name).finish()
}

/// Polls `done` every 20 ms until it holds, failing past `limit`.
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20));
    }
}

fn everything(ran: &Ran) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        ran.status, ran.stdout, ran.stderr
    )
}

// ---------------------------------------------------------------------------
// The sandbox and the rotation runbook

/// The seeded tokens' values and ids, the same in every sandbox.
fn seeded() -> (SeededTokens, SeededTokens) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let sandbox = Sandbox::start(SandboxConfig {
        env_file: dir.path().join(".env.auth"),
        ..SandboxConfig::default()
    })
    .expect("the sandbox starts");
    (sandbox.tokens(), sandbox.token_ids())
}

fn last4(token: &str) -> String {
    runbook::template::last4(token)
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// What the demo gives the runbook as `restart_command`: this binary's hidden
/// `sandbox-restart`. (`runbook::sandbox::restart_command` names the current
/// executable, which in a test is the test binary.)
fn restart_command(sandbox: &Sandbox) -> String {
    format!(
        "{} sandbox-restart {}",
        shell_quote(&binary().to_string_lossy()),
        shell_quote(&sandbox.restart_url())
    )
}

/// The bundled rotation runbook, unmodified, against a sandbox of its own in a
/// temp dir that holds the platform's env file and the run's state.
struct Rotation {
    // Declared first so the servers stop before the directory goes.
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    /// The env file as the sandbox created it.
    before: String,
}

impl Rotation {
    #[allow(clippy::needless_pass_by_value)] // called with literals: `Rotation::start(SandboxConfig { .. })`
    fn start(config: SandboxConfig) -> Rotation {
        let dir = tempfile::tempdir().expect("a temp dir");
        let sandbox = Sandbox::start(SandboxConfig {
            env_file: dir.path().join(".env.auth"),
            ..config
        })
        .expect("the sandbox starts");
        let before = std::fs::read_to_string(sandbox.env_file()).expect("the env file exists");
        Rotation {
            sandbox,
            dir,
            before,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `runbook VERB runbooks/cloudflare-token-rotation.yaml`, non-interactive,
    /// `--yes --confirm revoke_old_token`, revoking through the API, pointed at the sandbox, with
    /// `new_token` in the environment and the state in the temp dir. The runbook is
    /// copied there byte for byte: a run locks its file, so tests running at once
    /// must each run a file of their own.
    fn command(&self, verb: &str, new_token: &str) -> Command {
        let mut command = self.unconfirmed(verb);
        command
            .args(["--confirm", REVOKE])
            .env("RUNBOOK_INPUT_NEW_TOKEN", new_token);
        command
    }

    /// `runbook VERB …` as [`Rotation::command`], with neither `--confirm` nor
    /// the new token: what the operator adds is up to the test.
    fn unconfirmed(&self, verb: &str) -> Command {
        let mut command = self.at_terminal(verb);
        command.args(["--non-interactive", "--yes"]);
        command
    }

    /// `runbook VERB …` pointed at the sandbox as [`Rotation::command`], with no
    /// answer that a person at a terminal gives: no flag, no token.
    fn at_terminal(&self, verb: &str) -> Command {
        let file = self.path("cloudflare-token-rotation.yaml");
        if !file.exists() {
            std::fs::copy(
                repo().join("runbooks/cloudflare-token-rotation.yaml"),
                &file,
            )
            .expect("copy the rotation runbook");
        }
        let mut command = command(self.dir.path(), &[verb]);
        command
            .arg(file)
            .arg(format!("--set=api_base={}", self.sandbox.api_url()))
            .arg(format!("--set=platform={}", self.sandbox.platform_url()))
            .arg(format!(
                "--set=env_file={}",
                self.sandbox.env_file().display()
            ))
            .arg(format!(
                "--set=restart_command={}",
                restart_command(&self.sandbox)
            ))
            .arg("--set=revoke_with=api")
            .env("RUNBOOK_STATE_DIR", self.path("state"));
        command
    }

    fn run(&self, new_token: &str) -> Ran {
        run(self.command("run", new_token), self.dir.path(), "run")
    }

    fn log(&self) -> Vec<LoggedRequest> {
        self.sandbox.requests()
    }

    /// The env file's content and permission bits now.
    fn env_file(&self) -> (String, u32) {
        let path = self.sandbox.env_file();
        let text = std::fs::read_to_string(path).expect("the env file is there");
        let mode = std::fs::metadata(path)
            .expect("the env file")
            .permissions()
            .mode();
        (text, mode & 0o777)
    }

    /// The env file as the rotation leaves it when it succeeds.
    fn rotated(&self, new_token: &str) -> String {
        let old = self.sandbox.tokens().old;
        assert!(self.before.contains(&old), "{}", self.before);
        self.before.replace(
            &format!("CLOUDFLARE_API_TOKEN={old}"),
            &format!("CLOUDFLARE_API_TOKEN={new_token}"),
        )
    }

    /// The events of the rotation's one run.
    fn journal(&self) -> Journal {
        let runs = self.path("state/cloudflare-token-rotation/runs");
        let files = jsonl_files(&runs);
        assert_eq!(files.len(), 1, "one run expected: {files:?}");
        Journal::read(&files[0])
    }

    /// Files left in the rotation's backup directory.
    fn backups(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(
            &self.path("state/cloudflare-token-rotation/backups"),
            &mut found,
        );
        found
    }

    /// The rotation's files of secrets kept at rest for `resume`.
    fn kept(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        walk(
            &self.path("state/cloudflare-token-rotation/secrets"),
            &mut found,
        );
        found
    }

    /// GETs a platform path now, after the run: what the platform itself says.
    fn platform_get(&self, path: &str) -> (u16, Value) {
        http_get(&format!("{}{path}", self.sandbox.platform_url()))
    }
}

fn walk(dir: &Path, into: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, into);
        } else {
            into.push(path);
        }
    }
}

/// The `*.jsonl` files in `dir`, oldest run first (run ids sort by time).
fn jsonl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    files
}

/// A plain HTTP/1.1 GET on loopback: status and JSON body.
fn http_get(url: &str) -> (u16, Value) {
    http("GET", url, None)
}

/// A plain HTTP/1.1 request on loopback, with a bearer token if given: status and
/// JSON body.
fn http(method: &str, url: &str, bearer: Option<&str>) -> (u16, Value) {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the sandbox");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a read timeout");
    let authorization = bearer.map_or(String::new(), |token| {
        format!("Authorization: Bearer {token}\r\n")
    });
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}Connection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// A run's journal: its JSON-lines events.
struct Journal {
    events: Vec<Value>,
}

impl Journal {
    fn read(path: &Path) -> Journal {
        let text = std::fs::read_to_string(path).expect("read the journal");
        let events = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a journal line is JSON"))
            .collect();
        Journal { events }
    }

    fn of(&self, event: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["event"] == event).collect()
    }

    /// Every `step_finished` of `step`.
    fn finished(&self, step: &str) -> Vec<&Value> {
        self.of("step_finished")
            .into_iter()
            .filter(|e| e["step"] == step)
            .collect()
    }

    /// The outcome `step` finished with, asserting it finished exactly once.
    fn outcome(&self, step: &str) -> String {
        let finished = self.finished(step);
        assert_eq!(finished.len(), 1, "{step} finished {finished:?}");
        finished[0]["outcome"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn started(&self, step: &str) -> bool {
        self.of("step_started").iter().any(|e| e["step"] == step)
    }

    fn end(&self) -> (String, i64) {
        let finished = self.of("run_finished");
        assert_eq!(finished.len(), 1, "{finished:?}");
        (
            finished[0]["outcome"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            finished[0]["exit_code"].as_i64().unwrap_or(-1),
        )
    }

    fn text(&self) -> String {
        self.events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

// ---------------------------------------------------------------------------
// The request log

fn is_delete(r: &LoggedRequest) -> bool {
    r.method == "DELETE"
}

/// The requests that prove the new token works through the restarted platform:
/// the platform's zone list and token check, and every zone's DNS records.
fn is_verification(r: &LoggedRequest) -> bool {
    (r.service == Service::Platform
        && (r.path == "/api/cloudflare/zones" || r.path == "/api/cloudflare/token/verify"))
        || (r.service == Service::Api && r.path.ends_with("/dns_records"))
}

fn is_restart(r: &LoggedRequest) -> bool {
    r.service == Service::Platform && r.method == "POST" && r.path == "/__sandbox/restart"
}

fn indices(log: &[LoggedRequest], what: impl Fn(&LoggedRequest) -> bool) -> Vec<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, r)| what(r))
        .map(|(i, _)| i)
        .collect()
}

/// One line per request, for failure messages.
fn show(log: &[LoggedRequest]) -> String {
    log.iter()
        .map(|r| {
            format!(
                "{:>3} {:?} {} {} → {} {}",
                r.seq,
                r.service,
                r.method,
                r.path,
                r.status,
                r.token_last4.as_deref().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// `runbook demo`, without a terminal

/// `runbook demo ARGS --keep` in a temp dir that is also its `TMPDIR`, so the
/// kept demo directory is cleaned up with it. Returns the run and the kept dir.
fn demo(tmp: &Path, args: &[&str]) -> (Ran, PathBuf) {
    let mut command = command(tmp, &["demo"]);
    command.args(args).arg("--keep").env("TMPDIR", tmp);
    let ran = run(command, tmp, "demo");
    let kept = ran
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("The demo directory is kept at "))
        .map_or_else(
            || panic!("no kept directory:\n{}", everything(&ran)),
            PathBuf::from,
        );
    assert!(
        kept.starts_with(tmp),
        "{} is not under {}",
        kept.display(),
        tmp.display()
    );
    (ran, kept)
}

/// The demo's closing request log: one `(service, method, path, status, token)`
/// per line of "What the sandbox saw".
fn printed_log(stdout: &str) -> Vec<(String, String, String, u16, Option<String>)> {
    let Some((_, after)) = stdout.split_once("What the sandbox saw") else {
        panic!("no request log:\n{stdout}");
    };
    after
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|line| {
            let (request, answer) = line.split_once(" → ").expect("`request → status`");
            let mut words = request.split_whitespace();
            let (service, method, path) = (
                words.next().unwrap_or_default().to_owned(),
                words.next().unwrap_or_default().to_owned(),
                words.next().unwrap_or_default().to_owned(),
            );
            let status = answer
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok())
                .expect("a status");
            let token = answer
                .split_once("(token ••••")
                .map(|(_, t)| t.trim_end_matches(')').to_owned());
            (service, method, path, status, token)
        })
        .collect()
}

/// The kept demo's one journal.
fn demo_journal(kept: &Path) -> Journal {
    let files = jsonl_files(&kept.join(".runbook/cloudflare-token-rotation/runs"));
    assert_eq!(files.len(), 1, "{files:?}");
    Journal::read(&files[0])
}

fn file_mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("the file exists")
        .permissions()
        .mode()
        & 0o777
}

fn has_spinner(text: &str) -> bool {
    // indicatif's default spinner is drawn with braille patterns.
    text.chars().any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
}

#[test]
fn the_demo_without_a_terminal_rotates_revokes_after_verifying_and_prints_plain_lines() {
    let (tokens, ids) = seeded();
    let tmp = tempfile::tempdir().expect("a temp dir");
    // No `--non-interactive`: with no terminal the demo must see that by itself.
    let (ran, kept) = demo(tmp.path(), &["--yes", "--confirm", REVOKE]);
    assert_eq!(ran.status, 0, "{}", everything(&ran));
    ran.stdout_has("runbook demo — scenario: happy path")
        .stdout_has("The env file now holds the new token (••••R7kd).")
        .stdout_has("The old token is dead: Cloudflare rejects it.");

    // The request log it prints: the old token deleted by id, once, by itself,
    // after every request that verified the new token through the platform.
    let log = printed_log(&ran.stdout);
    let shown = ran
        .stdout
        .split_once("What the sandbox saw")
        .map(|(_, l)| l);
    let deletes: Vec<usize> = (0..log.len()).filter(|&i| log[i].1 == "DELETE").collect();
    assert_eq!(deletes.len(), 1, "{shown:?}");
    let delete = &log[deletes[0]];
    assert_eq!(
        (delete.2.as_str(), delete.3, delete.4.as_deref()),
        (
            format!("/client/v4/user/tokens/{}", ids.old).as_str(),
            200,
            Some(last4(&tokens.old).as_str())
        ),
        "{shown:?}"
    );
    let verifications: Vec<usize> = (0..log.len())
        .filter(|&i| {
            log[i].2 == "/api/cloudflare/zones"
                || log[i].2 == "/api/cloudflare/token/verify"
                || log[i].2.ends_with("/dns_records")
        })
        .collect();
    assert_eq!(verifications.len(), 2 + 7, "{shown:?}");
    assert!(
        verifications
            .iter()
            .all(|&i| i < deletes[0] && log[i].3 == 200),
        "{shown:?}"
    );

    // The env file holds the new token, every other line kept, still 0600.
    let env_file = kept.join(".env.auth");
    let text = std::fs::read_to_string(&env_file).expect("the env file");
    assert!(
        text.contains(&format!("\nCLOUDFLARE_API_TOKEN={}\n", tokens.new)),
        "{text}"
    );
    assert!(!text.contains(&tokens.old), "{text}");
    assert!(text.contains("PLATFORM_NAME=ops-center\n"), "{text}");
    assert!(
        text.contains("CLOUDFLARE_EMAIL=ops@example.com\n"),
        "{text}"
    );
    assert_eq!(file_mode(&env_file), 0o600);

    // The journal says the same, holds no token, and the backup is gone.
    let journal = demo_journal(&kept);
    assert_eq!(journal.end(), ("passed".to_owned(), 0));
    assert_eq!(journal.outcome(REVOKE), "passed");
    for token in [&tokens.old, &tokens.new] {
        assert!(
            !journal.text().contains(token.as_str()),
            "a token in the journal"
        );
        assert!(!ran.stdout.contains(token.as_str()) && !ran.stderr.contains(token.as_str()));
    }
    let mut backups = Vec::new();
    walk(
        &kept.join(".runbook/cloudflare-token-rotation/backups"),
        &mut backups,
    );
    assert!(
        backups.is_empty(),
        "backups left after a passed run: {backups:?}"
    );

    // Without a terminal the waits are plain lines: no spinner, no escape codes.
    ran.stdout_has("waiting for http://127.0.0.1:")
        .stdout_has("7 of 7 items passed");
    for (name, text) in [("stdout", &ran.stdout), ("stderr", &ran.stderr)] {
        assert!(!text.contains('\u{1b}'), "escape codes on {name}: {text:?}");
        assert!(!text.contains('\r'), "carriage returns on {name}: {text:?}");
        assert!(!has_spinner(text), "a spinner on {name}: {text:?}");
    }
}

#[test]
fn the_demo_without_confirm_stops_blocked_at_the_revoke_and_says_how_to_confirm() {
    let (tokens, _) = seeded();
    let tmp = tempfile::tempdir().expect("a temp dir");
    let (ran, kept) = demo(tmp.path(), &["--non-interactive", "--yes"]);
    assert_eq!(ran.status, 3, "{}", everything(&ran));
    ran.stdout_has(
        "Start again with `runbook demo --non-interactive --yes --confirm revoke_old_token --keep`",
    )
    .stdout_has("The old token is NOT revoked: Cloudflare still accepts it.")
    .stdout_has("The env file now holds the new token (••••R7kd).");
    let log = printed_log(&ran.stdout);
    assert!(log.iter().all(|r| r.1 != "DELETE"), "{log:?}");

    let journal = demo_journal(&kept);
    assert_eq!(journal.end(), ("blocked".to_owned(), 3));
    assert_eq!(journal.outcome(REVOKE), "blocked");
    let reason = journal.finished(REVOKE)[0]["reason"].to_string();
    assert!(reason.contains("--confirm revoke_old_token"), "{reason}");
    // Blocked is not failed: nothing is rolled back, the new token stays.
    assert!(journal.of("rollback_started").is_empty());
    let text = std::fs::read_to_string(kept.join(".env.auth")).expect("the env file");
    assert!(text.contains(&tokens.new), "{text}");
}

/// The command a stopped demo printed last to carry on, as the arguments
/// after `runbook`.
fn demo_hint(stdout: &str) -> Vec<String> {
    let line = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("The run stopped before its end. Start again with `"))
        .unwrap_or_else(|| panic!("no hint:\n{stdout}"));
    let mut words: Vec<String> = line
        .trim_end_matches('`')
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(words.remove(0), "runbook", "{line}");
    words
}

#[test]
fn every_hint_a_stopped_demo_prints_finishes_it_when_typed_as_printed() {
    for (args, stopped_at) in [
        (&["--non-interactive"][..], "create_token"),
        (&["--non-interactive", "--yes"][..], REVOKE),
        (
            &["--non-interactive", "--confirm", REVOKE][..],
            "create_token",
        ),
    ] {
        let tmp = tempfile::tempdir().expect("a temp dir");
        let (ran, kept) = demo(tmp.path(), args);
        assert_eq!(ran.status, 3, "{args:?}\n{}", everything(&ran));
        let journal = demo_journal(&kept);
        let blocked: Vec<&Value> = journal.of("step_finished");
        assert_eq!(
            blocked.last().map(|e| e["step"].clone()),
            Some(stopped_at.into()),
            "{args:?}\n{}",
            everything(&ran)
        );
        let hint = demo_hint(&ran.stdout);
        assert!(!ran.stdout.contains("runbook resume"), "{}", ran.stdout);
        let mut again = command(tmp.path(), &[]);
        again.args(&hint).env("TMPDIR", tmp.path());
        let ran = run(again, tmp.path(), "again");
        assert_eq!(ran.status, 0, "{hint:?}\n{}", everything(&ran));
    }
}

#[test]
fn the_demo_old_token_rejected_scenario_rotates_and_ends_at_the_dashboard() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let args = [
        "--non-interactive",
        "--yes",
        "--scenario",
        "old-token-rejected",
    ];
    // Without the dashboard step's confirmation it stops there, and says how to go on.
    let (ran, _) = demo(tmp.path(), &args);
    assert_eq!(ran.status, 3, "{}", everything(&ran));
    assert_eq!(
        demo_hint(&ran.stdout),
        [
            "demo",
            "--scenario",
            "old-token-rejected",
            "--non-interactive",
            "--yes",
            "--confirm",
            "revoke_old_token_in_dashboard",
            "--keep"
        ]
    );

    let tmp = tempfile::tempdir().expect("a temp dir");
    let mut confirmed = args.to_vec();
    confirmed.extend(["--confirm", "revoke_old_token_in_dashboard"]);
    let (ran, kept) = demo(tmp.path(), &confirmed);
    assert_eq!(ran.status, 0, "{}", everything(&ran));
    let (tokens, _) = seeded();
    ran.stdout_has("runbook demo — scenario: old-token-rejected")
        .stdout_has(&format!(
            "The env file now holds the new token (••••{}).",
            last4(&tokens.new)
        ))
        .stdout_has("The old token is dead: Cloudflare rejects it.");
    // Nothing was deleted: the token was gone before the rotation began.
    let log = printed_log(&ran.stdout);
    assert!(log.iter().all(|r| r.1 != "DELETE"), "{}", ran.stdout);
    let journal =
        Journal::read(&jsonl_files(&kept.join(".runbook/cloudflare-token-rotation/runs"))[0]);
    assert_eq!(journal.outcome("revoke_old_token"), "skipped");
    assert_eq!(journal.outcome("old_token_revoked"), "passed");
}

#[test]
fn the_demo_revoke_refused_scenario_keeps_the_new_token() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let (ran, _) = demo(
        tmp.path(),
        &[
            "--non-interactive",
            "--yes",
            "--confirm",
            REVOKE,
            "--scenario",
            "revoke-refused",
        ],
    );
    assert_eq!(ran.status, 1, "{}", everything(&ran));
    let (tokens, _) = seeded();
    ran.stdout_has("Revoke it in the dashboard instead")
        .stdout_has(&format!(
            "The env file now holds the new token (••••{}).",
            last4(&tokens.new)
        ))
        .stdout_has("The old token is NOT revoked: Cloudflare still accepts it.");
    let log = printed_log(&ran.stdout);
    assert!(
        log.iter().any(|r| r.1 == "DELETE" && r.3 == 403),
        "{}",
        ran.stdout
    );
}

#[test]
fn the_demo_bad_token_scenario_fails_and_saves_nothing() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let (ran, kept) = demo(
        tmp.path(),
        &[
            "--non-interactive",
            "--yes",
            "--confirm",
            REVOKE,
            "--scenario",
            "bad-token",
        ],
    );
    assert_eq!(ran.status, 1, "{}", everything(&ran));
    ran.stdout_has("runbook demo — scenario: bad-token")
        .stdout_has("The token is invalid, revoked or expired.")
        .stdout_has("The env file now holds the old token (••••egC_).")
        .stdout_has("The old token is NOT revoked: Cloudflare still accepts it.");
    let log = printed_log(&ran.stdout);
    let expected = vec![
        ("api", "/client/v4/user/tokens/verify", 200, "egC_"),
        ("api", "/client/v4/user/tokens/verify", 401, "0000"),
    ];
    let got: Vec<(&str, &str, u16, &str)> = log
        .iter()
        .map(|r| {
            (
                r.0.as_str(),
                r.2.as_str(),
                r.3,
                r.4.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(got, expected, "{}", ran.stdout);
    assert_eq!(file_mode(&kept.join(".env.auth")), 0o600);
}
