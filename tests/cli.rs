//! The command line as a user and CI meet it: exit codes (SPEC §5), what
//! `validate` finds by default, colour only on a terminal, `list`, `schema`,
//! `--help`, and a reader that goes away mid-output (`runbook validate | head`).

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::{Test, binary, repo};

const CLEAN: &str = "\
runbook: clean
title: A clean runbook
priority: P2
estimate: 5m
steps:
  - id: look
    manual: Look around.
";

const WARNS: &str = "\
runbook: warns
title: Only a warning
inputs:
  unused:
    default: x
steps:
  - id: look
    manual: Look around.
";

const BROKEN: &str = "\
runbook: broken
title: A broken runbook
steps:
  - id: look
    manul: Look around.
";

/// A runbook with id `id` (the file must be `{id}.yaml` to stay warning-free).
fn runbook(id: &str) -> String {
    format!("runbook: {id}\ntitle: Runbook {id}\nsteps:\n  - id: look\n    manual: Look.\n")
}

fn paths_checked(stdout: &str) -> Vec<String> {
    let document: Value = serde_json::from_str(stdout).expect("the json format is JSON");
    document["files"]
        .as_array()
        .expect("files is an array")
        .iter()
        .map(|f| f["path"].as_str().expect("a path").to_owned())
        .collect()
}

#[test]
fn validate_exits_0_when_clean() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "clean.yaml"])
        .status(0)
        .stdout_has("1 file checked: 0 errors, 0 warnings");
}

#[test]
fn validate_exits_0_with_only_warnings() {
    Test::new()
        .file("warns.yaml", WARNS)
        .args(["validate", "warns.yaml"])
        .status(0)
        .stdout_has("warning[RB024]");
}

#[test]
fn validate_exits_1_with_warnings_under_deny_warnings() {
    Test::new()
        .file("warns.yaml", WARNS)
        .args(["validate", "--deny-warnings", "warns.yaml"])
        .status(1)
        .stdout_has("warning[RB024]");
}

#[test]
fn validate_exits_1_with_errors() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .file("broken.yaml", BROKEN)
        .args(["validate", "clean.yaml", "broken.yaml"])
        .status(1)
        .stdout_has("error[RB004]")
        .stdout_has("did you mean `manual`?");
}

#[test]
fn validate_exits_2_for_a_path_that_does_not_exist() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "clean.yaml", "missing.yaml"])
        .status(2)
        .stderr_has("`missing.yaml` does not exist");
}

#[test]
fn validate_exits_2_without_a_path_or_a_runbooks_dir() {
    Test::new()
        .file("elsewhere/clean.yaml", CLEAN)
        .args(["validate"])
        .status(2)
        .stderr_has("runbooks/");
}

#[test]
fn validate_exits_2_for_an_unknown_flag_or_format() {
    let test = Test::new().file("clean.yaml", CLEAN);
    let ran = test
        .args(["validate", "--frobnicate", "clean.yaml"])
        .status(2);
    assert!(ran.stderr.contains("--frobnicate"), "{}", ran.stderr);

    let ran = Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "--format", "xml", "clean.yaml"])
        .status(2);
    assert!(ran.stderr.contains("xml"), "{}", ran.stderr);
}

#[test]
fn validate_prints_the_same_whatever_the_number_of_jobs() {
    let corpus = repo().join("tests/corpus");
    let corpus = corpus.to_str().expect("a UTF-8 path");
    for format in ["human", "json", "github", "sarif", "junit"] {
        let one = Test::new()
            .args(["validate", "--jobs", "1", "--format", format, corpus])
            .status(1);
        let many = Test::new()
            .args(["validate", "--jobs", "4", "--format", format, corpus])
            .status(1);
        assert!(
            one.stdout == many.stdout,
            "--format {format}: --jobs 4 differs"
        );
        assert_eq!(one.stderr, many.stderr);
    }
}

#[test]
fn validate_refuses_zero_jobs() {
    Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "--jobs", "0", "clean.yaml"])
        .status(2)
        .stderr_has("--jobs <N>");
}

#[test]
fn usage_errors_exit_2() {
    Test::new().args(["frobnicate"]).status(2);
    Test::new().status(2);
}

#[test]
fn validate_without_a_path_checks_runbooks_recursively_skipping_hidden_dirs() {
    let ran = Test::new()
        .file("runbooks/top.yaml", runbook("top"))
        .file("runbooks/team/nested.yaml", runbook("nested"))
        .file("runbooks/team/deeper/deepest.yml", runbook("deepest"))
        .file("runbooks/README.md", "not a runbook")
        // State and other hidden directories are not runbooks, valid or not.
        .file("runbooks/.runbook/state.yaml", "not: [a runbook")
        .file("runbooks/team/.drafts/draft.yaml", BROKEN)
        // Nor is anything outside runbooks/.
        .file("other/broken.yaml", BROKEN)
        .args(["validate", "--format", "json"])
        .status(0);
    assert_eq!(
        paths_checked(&ran.stdout),
        [
            "runbooks/team/deeper/deepest.yml",
            "runbooks/team/nested.yaml",
            "runbooks/top.yaml",
        ]
    );
}

#[test]
fn validate_without_a_path_fails_on_a_nested_problem() {
    Test::new()
        .file("runbooks/top.yaml", runbook("top"))
        .file("runbooks/sub/broken.yaml", BROKEN)
        .args(["validate"])
        .status(1)
        .stdout_has("runbooks/sub/broken.yaml:5:5");
}

#[test]
fn no_colour_when_output_is_not_a_terminal() {
    let ran = Test::new()
        .file("broken.yaml", BROKEN)
        .args(["validate", "broken.yaml"])
        .status(1);
    assert!(!ran.stdout.contains('\x1b'), "{:?}", ran.stdout);
    assert!(!ran.stderr.contains('\x1b'), "{:?}", ran.stderr);
}

/// Runs `runbook ARGS` in `dir` under a pseudo-terminal (util-linux `script`),
/// with `NO_COLOR` set to `no_color` or removed, and returns what the terminal showed.
fn on_a_terminal(dir: &std::path::Path, args: &str, no_color: Option<&str>) -> String {
    let command = format!("'{}' {args}", binary().display());
    let mut script = Command::new("script");
    script
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("NO_COLOR");
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let output = script
        .output()
        .expect("run util-linux `script` to get a pseudo-terminal");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn colour_on_a_terminal_and_never_with_no_color() {
    let test = Test::new().file("broken.yaml", BROKEN);
    let shown = on_a_terminal(test.dir(), "validate broken.yaml", None);
    assert!(shown.contains("RB004"), "{shown:?}");
    assert!(shown.contains('\x1b'), "colour on a terminal: {shown:?}");

    let shown = on_a_terminal(test.dir(), "validate broken.yaml", Some("1"));
    assert!(shown.contains("RB004"), "{shown:?}");
    assert!(
        !shown.contains('\x1b'),
        "NO_COLOR=1 on a terminal: {shown:?}"
    );

    let ran = test
        .env("NO_COLOR", "1")
        .args(["validate", "broken.yaml"])
        .status(1);
    assert!(!ran.stdout.contains('\x1b'), "{:?}", ran.stdout);
}

#[test]
fn list_shows_id_title_priority_and_estimate_and_marks_invalid_files() {
    let ran = Test::new()
        .file("book/clean.yaml", CLEAN)
        .file(
            "book/ops/rotate.yaml",
            "runbook: rotate\ntitle: Rotate the key\npriority: P1\nestimate: 1h 30m\n\
             steps:\n  - id: look\n    manual: Look.\n",
        )
        .file("book/broken.yaml", "runbook: [unclosed\n")
        .args(["list", "book"])
        .status(0);
    let line = |needle: &str| -> String {
        ran.stdout
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line for {needle}:\n{}", ran.stdout))
            .to_owned()
    };
    let words =
        |line: &str| -> Vec<String> { line.split_whitespace().map(str::to_owned).collect() };

    let header = words(&line("ID"));
    assert_eq!(header, ["ID", "PRIORITY", "ESTIMATE", "TITLE", "FILE"]);
    let clean = line("clean.yaml");
    assert!(clean.starts_with("clean "), "{clean}");
    for cell in ["P2", "5m", "A clean runbook", "book/clean.yaml"] {
        assert!(clean.contains(cell), "{cell} in {clean}");
    }
    let rotate = line("rotate.yaml");
    assert!(rotate.starts_with("rotate "), "{rotate}");
    for cell in ["P1", "1h 30m", "Rotate the key", "book/ops/rotate.yaml"] {
        assert!(rotate.contains(cell), "{cell} in {rotate}");
    }
    let broken = line("broken.yaml");
    assert!(broken.contains("not a valid runbook"), "{broken}");
    assert!(
        broken.contains("runbook validate book/broken.yaml"),
        "{broken}"
    );
    assert_eq!(ran.stdout.lines().count(), 4, "{}", ran.stdout);
}

#[test]
fn list_defaults_to_runbooks_and_fails_without_it() {
    Test::new()
        .file("runbooks/clean.yaml", CLEAN)
        .args(["list"])
        .status(0)
        .stdout_has("runbooks/clean.yaml");
    Test::new().args(["list"]).status(2).stderr_has("runbooks/");
    Test::new()
        .args(["list", "nowhere"])
        .status(2)
        .stderr_has("nowhere");
}

#[test]
fn schema_prints_a_draft_07_json_schema() {
    let ran = Test::new().args(["schema"]).status(0);
    let schema: Value = serde_json::from_str(&ran.stdout).expect("the schema is JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    jsonschema::draft7::new(&schema).expect("a valid draft-07 schema");
}

#[test]
fn help_and_version_exit_0() {
    Test::new()
        .args(["--help"])
        .status(0)
        .stdout_has("validate")
        .stdout_has("schema");
    Test::new()
        .args(["validate", "--help"])
        .status(0)
        .stdout_has("--deny-warnings");
    Test::new()
        .args(["--version"])
        .status(0)
        .stdout_has(env!("CARGO_PKG_VERSION"));
}

/// Runs `runbook ARGS` in `dir` with its stdout a pipe whose read end is closed
/// at once, and returns (status, stderr).
fn with_closed_stdout(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the runbook binary");
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let status = child.wait().expect("wait for the runbook binary");
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn a_closed_stdout_is_not_a_panic() {
    // Enough output to overflow any pipe buffer.
    let mut test = Test::new();
    for n in 0..300 {
        test = test.file(&format!("runbooks/broken{n:03}.yaml"), BROKEN);
    }
    for (args, expected) in [
        (&["validate"][..], 1),
        (&["validate", "--format", "json"][..], 1),
        (&["validate", "--format", "github"][..], 1),
        (&["list"][..], 0),
        (&["schema"][..], 0),
    ] {
        let (status, stderr) = with_closed_stdout(test.dir(), args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(status, expected, "{args:?}: {stderr}");
    }
}
