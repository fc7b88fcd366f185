//! The corpus of invalid runbooks in `tests/corpus/`: one file per problem (a few
//! mix several on purpose, to prove one pass reports them all). Each file says in
//! its leading comment lines exactly what `validate` must report about it:
//!
//! ```text
//! # expect: RB004 9:5     a diagnostic: its code and the line:col of the node at fault
//! # expect: clean         no diagnostic at all (a helper file, such as a valid child)
//! # schema: reject        the JSON Schema must reject this file too (checked elsewhere)
//! ```
//!
//! The multiset of (code, line, col) must match exactly, so a spurious cascading
//! diagnostic fails as surely as a missing one, and the exit status must be 1 when an
//! error is expected, 0 when only warnings are.
//!
//! Subdirectories hold the cases that need several files (child runbooks). Every
//! file is validated from its own directory, so output names it by its bare file
//! name. `NAME.out` beside `NAME.yaml` is the whole human output, byte for byte.
//!
//! What cannot carry a comment — an empty, binary, non-UTF-8 or oversized file, a
//! broken symlink — is generated into a temp dir by the tests at the end.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use runbook::document::diagnostic::{Code, Severity};
use serde_json::Value;

use crate::support::{Test, binary, repo};

/// A diagnostic reduced to what the corpus pins down: code, line and column.
type Found = (String, u64, u64);

/// One corpus file and what its header declares.
struct Case {
    path: PathBuf,
    /// Sorted, so two multisets compare with `==`.
    expected: Vec<Found>,
    schema_reject: bool,
}

/// What `validate --format json` said about one file.
struct Outcome {
    status: i32,
    /// Sorted, like [`Case::expected`].
    found: Vec<Found>,
}

fn corpus_dir() -> PathBuf {
    repo().join("tests").join("corpus")
}

/// Every `.yaml` file under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a corpus directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The corpus path relative to `tests/corpus/`, for messages.
fn shown(path: &Path) -> String {
    let dir = corpus_dir();
    path.strip_prefix(&dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Reads a file's header: the comment lines before the first line of YAML.
fn case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).expect("a corpus file is UTF-8");
    let name = shown(path);
    let mut case = Case {
        path: path.to_path_buf(),
        expected: Vec::new(),
        schema_reject: false,
    };
    let mut clean = false;
    for line in text.lines().take_while(|line| line.starts_with('#')) {
        if let Some(rest) = line.strip_prefix("# expect: ") {
            if rest == "clean" {
                clean = true;
                continue;
            }
            let parsed = rest.split_once(' ').and_then(|(code, at)| {
                let (line, col) = at.split_once(':')?;
                Some((code.to_owned(), line.parse().ok()?, col.parse().ok()?))
            });
            let Some(expected) = parsed else {
                panic!("{name}: `{line}` is not `# expect: RBnnn LINE:COL`");
            };
            assert!(
                code(&expected.0).is_some(),
                "{name}: `{}` is not a diagnostic code",
                expected.0
            );
            case.expected.push(expected);
        } else if line == "# schema: reject" {
            case.schema_reject = true;
        }
    }
    assert_eq!(
        clean,
        case.expected.is_empty(),
        "{name}: declare either `# expect: clean` or at least one `# expect: RBnnn LINE:COL`"
    );
    case.expected.sort();
    case
}

fn cases() -> Vec<Case> {
    yaml_files(&corpus_dir()).iter().map(|p| case(p)).collect()
}

fn code(name: &str) -> Option<Code> {
    Code::ALL.iter().copied().find(|c| c.as_str() == name)
}

/// The exit status `validate` owes a file with these diagnostics.
fn status_for(expected: &[Found]) -> i32 {
    let errors = expected
        .iter()
        .any(|(name, _, _)| code(name).is_some_and(|c| c.severity() == Severity::Error));
    i32::from(errors)
}

/// Runs `validate --format json` on `path` from the file's own directory, and
/// checks what holds for every file: no panic, one file reported, and each
/// diagnostic's severity the one its code always has.
fn validate_json(path: &Path) -> Outcome {
    let dir = path.parent().expect("a file has a directory");
    let name = path.file_name().expect("a file has a name");
    let output = Command::new(binary())
        .args(["validate", "--format", "json"])
        .arg(name)
        .current_dir(dir)
        .output()
        .expect("run the runbook binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown = shown(path);
    assert!(
        !stderr.contains("panicked"),
        "{shown}: validate panicked:\n{stderr}"
    );
    let document: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("{shown}: the json output is not JSON ({e}):\n{stdout}{stderr}")
    });
    let files = document["files"].as_array().expect("`files` is an array");
    assert_eq!(files.len(), 1, "{shown}: one file checked:\n{stdout}");
    let mut found: Vec<Found> = files[0]["diagnostics"]
        .as_array()
        .expect("`diagnostics` is an array")
        .iter()
        .map(|d| {
            let name = d["code"].as_str().expect("a code").to_owned();
            let severity = code(&name).map(|c| c.severity().as_str());
            assert_eq!(
                d["severity"].as_str(),
                severity,
                "{shown}: severity of {name}"
            );
            let line = d["line"].as_u64().expect("a line");
            let column = d["column"].as_u64().expect("a column");
            (name, line, column)
        })
        .collect();
    found.sort();
    Outcome {
        status: output.status.code().unwrap_or(-1),
        found,
    }
}

fn list(found: &[Found]) -> String {
    if found.is_empty() {
        return "(nothing)".to_owned();
    }
    let items: Vec<String> = found
        .iter()
        .map(|(code, line, col)| format!("{code} {line}:{col}"))
        .collect();
    items.join(", ")
}

#[test]
fn every_corpus_file_reports_exactly_what_it_expects() {
    let mut failures = Vec::new();
    for case in &cases() {
        let outcome = validate_json(&case.path);
        let status = status_for(&case.expected);
        if outcome.found != case.expected || outcome.status != status {
            failures.push(format!(
                "{}:\n  expected {} (exit {status})\n  found    {} (exit {})",
                shown(&case.path),
                list(&case.expected),
                list(&outcome.found),
                outcome.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The corpus must keep up with the table of codes: a new code needs a file.
#[test]
fn corpus_covers_every_code_a_file_can_produce() {
    let cases = cases();
    let covered: Vec<&str> = cases
        .iter()
        .flat_map(|c| c.expected.iter().map(|(code, _, _)| code.as_str()))
        .collect();
    // RB002 (a file that is not YAML text) cannot carry a header: generated below.
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| *c != "RB002" && !covered.contains(c))
        .collect();
    assert!(missing.is_empty(), "no corpus file expects {missing:?}");
    assert!(cases.len() >= 45, "only {} corpus files", cases.len());
    let rejected = cases.iter().filter(|c| c.schema_reject).count();
    assert!(
        rejected >= 12,
        "only {rejected} files are `# schema: reject`"
    );
    let several = cases.iter().filter(|c| c.expected.len() >= 3).count();
    assert!(
        several >= 3,
        "only {several} files prove one pass reports several problems"
    );
}

#[test]
fn human_output_matches_snapshots() {
    let snapshots: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("read the corpus")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "out"))
        .collect();
    assert!(snapshots.len() >= 5, "only {} snapshots", snapshots.len());
    for snapshot in snapshots {
        let yaml = snapshot.with_extension("yaml");
        let name = yaml.file_name().expect("a file name");
        let expected = std::fs::read_to_string(&snapshot).expect("read a snapshot");
        // Not a terminal, so no colour — even with NO_COLOR unset.
        let output = Command::new(binary())
            .arg("validate")
            .arg(name)
            .current_dir(corpus_dir())
            .env_remove("NO_COLOR")
            .output()
            .expect("run the runbook binary");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            expected,
            "human output of {}",
            shown(&yaml)
        );
        assert_eq!(
            output.status.code(),
            Some(status_for(&case(&yaml).expected)),
            "exit status of {}",
            shown(&yaml)
        );
    }
}

// Files that cannot declare what they expect, generated into a temp dir.

/// Writes `contents` as `name` into a fresh temp dir and validates it there.
fn generated(name: &str, contents: impl AsRef<[u8]>) -> Outcome {
    let test = Test::new().file(name, contents);
    validate_json(&test.dir().join(name))
}

/// The one diagnostic a file that is not a runbook at all gets: RB002 at 1:1.
fn assert_unreadable(outcome: &Outcome) {
    assert_eq!(outcome.found, [("RB002".to_owned(), 1, 1)]);
    assert_eq!(outcome.status, 1);
}

/// Only the code, where the position is the parser's (depth and size budgets).
fn assert_only(outcome: &Outcome, expected: &str) {
    let codes: Vec<&str> = outcome.found.iter().map(|(c, _, _)| c.as_str()).collect();
    assert_eq!(codes, [expected], "found {}", list(&outcome.found));
    assert_eq!(outcome.status, 1);
}

#[test]
fn empty_file() {
    assert_unreadable(&generated("empty.yaml", ""));
}

#[test]
fn file_of_blank_lines_and_comments() {
    assert_unreadable(&generated("blank.yaml", "\n   \n# nothing to see\n\n"));
}

#[test]
fn binary_file() {
    assert_unreadable(&generated(
        "binary.yaml",
        b"runbook: binary\n\x00\x01\x02\xff\xfe",
    ));
}

#[test]
fn file_that_is_not_utf8() {
    // Latin-1 `é`: valid text to an old editor, not UTF-8.
    assert_unreadable(&generated("latin1.yaml", b"runbook: caf\xe9\nsteps: []\n"));
}

#[test]
fn file_over_the_size_limit_is_refused_unread() {
    // 10 MiB of nesting: refused for its size before a parser ever recurses into it.
    assert_unreadable(&generated("huge.yaml", "[".repeat(10 * 1024 * 1024)));
}

#[test]
fn deep_flow_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let text = format!("runbook: deep\nsteps: {}", "[".repeat(1024 * 1024));
    assert_only(&generated("deep.yaml", text), "RB001");
}

#[test]
fn deep_block_nesting_is_a_syntax_error_not_a_stack_overflow() {
    let mut text = "runbook: deep\nsteps:\n".to_owned();
    for depth in 1..=500 {
        text.push_str(&"  ".repeat(depth));
        text.push_str("- a:\n");
    }
    assert_only(&generated("deep.yaml", text), "RB001");
}

#[test]
fn alias_bomb_is_refused() {
    // Each level refers ten times to the one before: 10^9 nodes once expanded.
    let mut text = "runbook: bomb\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
    for level in 1..10 {
        let refs = vec![format!("*l{}", level - 1); 10].join(", ");
        let _ = writeln!(text, "l{level}: &l{level} [{refs}]");
    }
    text.push_str("steps: []\n");
    assert_only(&generated("bomb.yaml", text), "RB001");
}

#[test]
fn byte_order_mark_and_crlf_do_not_shift_positions() {
    let lines = [
        "runbook: NAME",
        "steps:",
        "  - id: check",
        "    nedds: []",
        "    manual: Look.",
    ];
    let unix = lines.join("\n").replace("NAME", "bom");
    let bom = generated("bom.yaml", format!("\u{feff}{unix}\n"));
    assert_eq!(bom.found, [("RB004".to_owned(), 4, 5)]);
    let crlf = lines.join("\r\n").replace("NAME", "crlf");
    let crlf = generated("crlf.yaml", format!("{crlf}\r\n"));
    assert_eq!(crlf.found, [("RB004".to_owned(), 4, 5)]);
}

#[cfg(unix)]
#[test]
fn broken_symlink() {
    let test = Test::new();
    let link = test.dir().join("gone.yaml");
    std::os::unix::fs::symlink(test.dir().join("nowhere.yaml"), &link).expect("a symlink");
    assert_unreadable(&validate_json(&link));
}

/// A directory named like a runbook is walked, not read as a file; a broken
/// symlink found on the walk is reported like any file that cannot be opened.
#[cfg(unix)]
#[test]
fn directory_named_like_a_runbook() {
    let test = Test::new().file(
        "ops.yaml/inner.yaml",
        "runbook: inner\nsteps:\n  - id: check\n    nedds: []\n    manual: Look.\n",
    );
    std::os::unix::fs::symlink("nowhere.yaml", test.dir().join("ops.yaml/gone.yaml"))
        .expect("a symlink");
    let ran = test
        .args(["validate", "--format", "json", "ops.yaml"])
        .status(1);
    assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    let document: Value = serde_json::from_str(&ran.stdout).expect("the json output is JSON");
    let reported: Vec<(String, String)> = document["files"]
        .as_array()
        .expect("`files` is an array")
        .iter()
        .flat_map(|file| {
            let path = file["path"].as_str().expect("a path").to_owned();
            let diagnostics = file["diagnostics"].as_array().expect("diagnostics").clone();
            diagnostics
                .into_iter()
                .map(move |d| (path.clone(), d["code"].as_str().expect("a code").to_owned()))
        })
        .collect();
    assert_eq!(
        reported,
        [
            ("ops.yaml/gone.yaml".to_owned(), "RB002".to_owned()),
            ("ops.yaml/inner.yaml".to_owned(), "RB004".to_owned()),
        ]
    );
}

#[cfg(unix)]
#[test]
fn symlink_loop_checks_each_file_once() {
    let test = Test::new().file("ops/check.yaml", "runbook: check\nsteps: []\n");
    std::os::unix::fs::symlink(".", test.dir().join("ops/again")).expect("a symlink");
    std::os::unix::fs::symlink("..", test.dir().join("ops/up")).expect("a symlink");
    let ran = test.args(["validate", "--format", "json", "ops"]).status(0);
    let document: Value = serde_json::from_str(&ran.stdout).expect("the json output is JSON");
    assert_eq!(document["summary"]["files"], 1, "{}", ran.stdout);
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_instead_of_blocking_for_a_writer() {
    let test = Test::new();
    let fifo = test.dir().join("pipe.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let ran = test
        .args(["validate", "--format", "json", "pipe.yaml"])
        .status(1);
    let document: Value = serde_json::from_str(&ran.stdout).expect("the json output is JSON");
    assert_eq!(
        document["files"][0]["diagnostics"][0]["code"], "RB002",
        "{}",
        ran.stdout
    );
}
