//! The test builder: write runbook files into a temp directory, run the built
//! binary there, and assert on its status and output.
//!
//! ```ignore
//! Test::new().file("x.yaml", YAML).args(["validate", "x.yaml"]).status(1).stdout_has("RB004");
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `runbook` binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_runbook"))
}

/// Whether process `pid` still runs (a zombie does not count).
pub fn alive(pid: i32) -> bool {
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    if kill(Pid::from_raw(pid), None).is_err() {
        return false;
    }
    // kill(0) also succeeds on a zombie nobody reaped (a container's PID 1 may not).
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => !Path::new("/proc/self").exists(),
    }
}

/// The repository root (for the bundled runbooks and schema).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[must_use]
pub struct Test {
    dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
}

/// What a finished run printed.
pub struct Ran {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Default for Test {
    fn default() -> Self {
        Test::new()
    }
}

impl Test {
    pub fn new() -> Self {
        Test {
            dir: tempfile::tempdir().expect("a temp dir"),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (parent directories created) relative to the temp dir.
    pub fn file(self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&path, contents).expect("write test file");
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// What the binary reads on standard input (a pipe); none by default.
    pub fn stdin(mut self, text: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(text.into());
        self
    }

    /// Runs the binary in the temp dir, with `NO_COLOR` unset and no stdin
    /// unless [`Test::stdin`] gave one.
    pub fn run(&self) -> Ran {
        use std::process::Stdio;
        let mut command = Command::new(binary());
        command
            .args(&self.args)
            .current_dir(self.dir.path())
            .env_remove("NO_COLOR")
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("run the runbook binary");
        if let (Some(text), Some(mut pipe)) = (&self.stdin, child.stdin.take()) {
            // A binary that stops reading early closes the pipe: not the test's failure.
            let _ = pipe.write_all(text);
        }
        Ran::from(
            child
                .wait_with_output()
                .expect("wait for the runbook binary"),
        )
    }

    /// Runs and asserts the exit status.
    pub fn status(&self, expected: i32) -> Ran {
        let ran = self.run();
        assert_eq!(
            ran.status, expected,
            "exit status of {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args, ran.stdout, ran.stderr
        );
        ran
    }
}

/// What a process started some other way than [`Test`] printed.
impl From<Output> for Ran {
    fn from(output: Output) -> Self {
        Ran {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Ran {
    /// Asserts the exit status, for a process started some other way than
    /// [`Test`].
    pub fn status(self, expected: i32) -> Ran {
        assert_eq!(
            self.status, expected,
            "exit {}:\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        );
        self
    }

    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout
        );
        self
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// The first of `names` found on `PATH`. When none is, the test says so on the
/// terminal and is skipped (returns `None`), unless `RUNBOOK_REQUIRE_TOOLS=1` — set
/// by `.ci/run`, which installs the tools — makes that a failure: CI never passes by
/// skipping.
pub fn outside_tool(names: &[&str], install: &str) -> Option<PathBuf> {
    if let Some(found) = names.iter().find_map(|name| which(name)) {
        return Some(found);
    }
    skip(&format!(
        "{} is not installed ({install}; `.ci/run` installs it)",
        names.join(" or ")
    ));
    None
}

/// Says on the terminal that the running test is skipped, and why — or fails it
/// when `RUNBOOK_REQUIRE_TOOLS=1` (set by `.ci/run`, where nothing may be missing).
pub fn skip(message: &str) {
    assert!(
        std::env::var_os("RUNBOOK_REQUIRE_TOOLS").is_none_or(|value| value != "1"),
        "{message}; RUNBOOK_REQUIRE_TOOLS=1 makes a missing tool a failure"
    );
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    // Straight to the terminal: `eprintln!` is captured and hidden for passing tests.
    let _ = writeln!(std::io::stderr(), "SKIPPED in {test}: {message}");
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}
