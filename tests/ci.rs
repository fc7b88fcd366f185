//! `runbook` in CI pipelines and editors: `validate -` on standard input with
//! `--stdin-filename`, findings accepted on purpose (ignore comments, `--ignore`)
//! and reported as SARIF suppressions, the pre-commit hook run by pre-commit
//! itself in a temporary git repository, and the GitHub Action's validate step.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::formats::sarif_violations;
use crate::support::{Test, binary, outside_tool, repo};

/// A runbook whose only problem is a warning: an input nothing uses (RB024).
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

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn validate_reads_standard_input() {
    let ran = Test::new().stdin(BROKEN).args(["validate", "-"]).status(1);
    ran.stdout_has("<stdin>:5:5").stdout_has("RB004");

    // Named, it is checked as that file: its id against the name, its place in
    // the diagnostics.
    let ran = Test::new()
        .stdin(BROKEN)
        .args([
            "validate",
            "-",
            "--stdin-filename",
            "runbooks/other.yaml",
            "--format",
            "json",
        ])
        .status(1);
    let report = json(&ran.stdout);
    let file = &report["files"][0];
    assert_eq!(file["path"], "runbooks/other.yaml");
    let codes: Vec<&str> = file["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["RB025", "RB004"], "{}", ran.stdout);

    // Unnamed, there is no file name for the id to differ from.
    Test::new()
        .stdin(WARNS.replace("unused:\n    default: x\n", "{}\n"))
        .args(["validate", "-", "--deny-warnings"])
        .status(0)
        .stdout_has("1 file checked: 0 errors, 0 warnings");

    // With files beside it, and as binary input, as a file gets it.
    Test::new()
        .file("warns.yaml", WARNS)
        .stdin(b"runbook: x\0".to_vec())
        .args(["validate", "warns.yaml", "-"])
        .status(1)
        .stdout_has("<stdin>")
        .stdout_has("RB002")
        .stdout_has("RB024");
}

#[test]
fn stdin_filename_without_stdin_is_a_usage_error() {
    Test::new()
        .file("warns.yaml", WARNS)
        .args(["validate", "warns.yaml", "--stdin-filename", "x.yaml"])
        .status(2)
        .stderr_has("`--stdin-filename` is given")
        .stderr_has("help: ");
    Test::new()
        .stdin(WARNS)
        .args(["validate", "-", "-"])
        .status(2)
        .stderr_has("standard input (`-`) is named twice");
}

/// WARNS with the unused input accepted on purpose, on the line above it.
const ACCEPTED: &str = "\
runbook: accepted
title: A warning accepted on purpose
inputs:
  # runbook: ignore[RB024] read by the platform's own script
  unused:
    default: x
  plain: { default: \"http://example.com\" } # runbook: ignore[RB023]
steps:
  - id: look
    manual: \"Look around {{ inputs.plain }}.\"
";

#[test]
fn an_ignore_comment_accepts_a_warning_and_sarif_says_so() {
    let test = Test::new().file("accepted.yaml", ACCEPTED);
    let ran = test
        .args(["validate", "accepted.yaml", "--deny-warnings"])
        .status(0);
    assert!(!ran.stdout.contains("RB024"), "{}", ran.stdout);
    ran.stdout_has("0 warnings, 1 ignored");

    let ran = Test::new()
        .file("accepted.yaml", ACCEPTED)
        .args(["validate", "accepted.yaml", "--format", "sarif"])
        .status(0);
    let document = json(&ran.stdout);
    assert_eq!(sarif_violations(&document), Vec::<String>::new());
    let results = document["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(results[0]["ruleId"], "RB024");
    assert_eq!(
        results[0]["suppressions"],
        serde_json::json!([{
            "kind": "inSource",
            "status": "accepted",
            "justification": "read by the platform's own script",
        }])
    );
}

#[test]
fn the_ignore_flag_accepts_a_warning_in_every_file() {
    let test = Test::new()
        .file("a/warns.yaml", WARNS)
        .file("b/warns.yaml", WARNS);
    let ran = test
        .args([
            "validate",
            "a",
            "b",
            "--ignore",
            "RB024",
            "--ignore",
            "rb023",
            "--deny-warnings",
            "--format",
            "sarif",
        ])
        .status(0);
    let document = json(&ran.stdout);
    assert_eq!(sarif_violations(&document), Vec::<String>::new());
    let suppressions: Vec<&Value> = document["runs"][0]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| &r["suppressions"][0])
        .collect();
    assert_eq!(suppressions.len(), 2);
    for suppression in suppressions {
        assert_eq!(suppression["kind"], "external");
        assert_eq!(suppression["justification"], "--ignore RB024");
    }
    // JSON lists them apart, uncounted.
    let ran = Test::new()
        .file("warns.yaml", WARNS)
        .args([
            "validate",
            "warns.yaml",
            "--ignore",
            "RB024",
            "--format",
            "json",
        ])
        .status(0);
    let report = json(&ran.stdout);
    assert_eq!(report["summary"]["warnings"], 0);
    assert_eq!(report["summary"]["suppressed"], 1);
    assert_eq!(report["files"][0]["suppressed"][0]["code"], "RB024");
    assert_eq!(
        report["files"][0]["suppressed"][0]["suppression"]["kind"],
        "external"
    );
}

#[test]
fn an_unknown_or_error_code_accepts_nothing_and_says_so() {
    let ran = Test::new()
        .file(
            "bad.yaml",
            WARNS.replace("  unused:", "  # runbook: ignore[RB240] typo\n  unused:"),
        )
        .args(["validate", "bad.yaml"])
        .status(0);
    ran.stdout_has("warning[RB050]")
        .stdout_has("`RB240` is not a diagnostic code")
        .stdout_has("bad.yaml:4:21")
        .stdout_has("warning[RB024]");

    Test::new()
        .file(
            "bad.yaml",
            BROKEN.replace("    manul:", "    # runbook: ignore[RB004]\n    manul:"),
        )
        .args(["validate", "bad.yaml"])
        .status(1)
        .stdout_has("RB004 is an error, and errors cannot be ignored")
        .stdout_has("error[RB004]");

    // On the command line, a usage error: it would accept nothing in any file.
    for (code, says) in [
        ("RB240", "`RB240` is not a diagnostic code"),
        ("RB004", "errors cannot be ignored"),
    ] {
        Test::new()
            .file("warns.yaml", WARNS)
            .args(["validate", "warns.yaml", "--ignore", code])
            .status(2)
            .stderr_has(says);
    }
}

/// Runs `program ARGS` in `dir`; panics with its output unless it exits 0.
fn ok(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{program} {args:?}:\n{text}");
    text
}

/// The built binary's directory first on `PATH`, as an installed `runbook` is.
fn path_with_runbook() -> std::ffi::OsString {
    let dir = binary()
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let rest = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(dir).chain(std::env::split_paths(&rest))).expect("a PATH")
}

#[test]
fn pre_commit_runs_the_hook_on_runbooks_only() {
    let Some(pre_commit) = outside_tool(
        &["pre-commit"],
        "`python3 -m pip install pre-commit==4.7.0`",
    ) else {
        return;
    };
    let pre_commit = pre_commit.to_string_lossy().into_owned();
    // The hook repository: this one's `.pre-commit-hooks.yaml`, as pre-commit
    // clones it from a tag.
    let hooks = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(
        repo().join(".pre-commit-hooks.yaml"),
        hooks.path().join(".pre-commit-hooks.yaml"),
    )
    .expect("copy the hooks file");
    ok(hooks.path(), "git", &["init", "--quiet"]);
    ok(hooks.path(), "git", &["add", "."]);
    ok(hooks.path(), "git", &["commit", "--quiet", "-m", "hooks"]);
    let rev = ok(hooks.path(), "git", &["rev-parse", "HEAD"]);

    let project = Test::new()
        .file("runbooks/warns.yaml", WARNS)
        .file("runbooks/broken.yaml", BROKEN)
        // YAML that is not a runbook: the hook must leave it alone.
        .file(".github/workflows/ci.yml", "on: push\njobs: {}\n")
        .file(
            ".pre-commit-config.yaml",
            format!(
                "repos:\n  - repo: {}\n    rev: {}\n    hooks:\n      - id: runbook-validate\n",
                hooks.path().display(),
                rev.trim()
            ),
        );
    let dir = project.dir();
    ok(dir, "git", &["init", "--quiet"]);
    ok(dir, "git", &["add", "."]);
    let cache = tempfile::tempdir().expect("a temp dir");
    let run = || {
        Command::new(&pre_commit)
            .args(["run", "--all-files", "--color", "never"])
            .current_dir(dir)
            .env("PATH", path_with_runbook())
            .env("PRE_COMMIT_HOME", cache.path())
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .expect("run pre-commit")
    };
    let output = run();
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("runbook validate"), "{shown}");
    assert!(shown.contains("runbooks/broken.yaml:5:5"), "{shown}");
    assert!(shown.contains("RB004"), "{shown}");
    assert!(!shown.contains("ci.yml"), "{shown}");

    std::fs::remove_file(dir.join("runbooks/broken.yaml")).expect("remove");
    ok(dir, "git", &["add", "--all"]);
    let output = run();
    let shown = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("Passed"), "{shown}");
}

/// Runs the action's validate step (`.github/action/validate.sh`) as
/// `action.yml` runs it: inputs in the environment, `runbook` on PATH.
fn action(dir: &Path, inputs: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new("bash");
    command
        .arg(repo().join(".github/action/validate.sh"))
        .current_dir(dir)
        .env("PATH", path_with_runbook())
        .stdin(Stdio::null());
    for (name, value) in inputs {
        command.env(name, value);
    }
    let output = command.output().expect("run the action's script");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn the_github_action_annotates_every_problem() {
    let text = std::fs::read_to_string(repo().join("action.yml")).expect("read action.yml");
    let action_yml: Value = serde_saphyr::from_str(&text).expect("action.yml is YAML");
    assert_eq!(action_yml["runs"]["using"], "composite");
    let validate = &action_yml["runs"]["steps"][1];
    assert!(
        validate["run"]
            .as_str()
            .is_some_and(|run| run.contains(".github/action/validate.sh")),
        "{validate:#?}"
    );
    for input in ["paths", "deny-warnings", "ignore"] {
        assert!(action_yml["inputs"][input].is_object(), "input {input}");
        assert!(
            validate["env"]
                .as_object()
                .into_iter()
                .flatten()
                .any(|(_, v)| v.as_str() == Some(&format!("${{{{ inputs.{input} }}}}"))),
            "input {input} reaches the step: {validate:#?}"
        );
    }

    let test = Test::new()
        .file("runbooks/warns.yaml", WARNS)
        .file("checks/broken.yaml", BROKEN);
    let (status, stdout) = action(test.dir(), &[]);
    assert_eq!(status, 0, "{stdout}");
    assert!(
        stdout.starts_with("::warning file=runbooks/warns.yaml,line=4,col=3,title=RB024::"),
        "{stdout}"
    );
    let (status, _) = action(test.dir(), &[("RUNBOOK_DENY_WARNINGS", "true")]);
    assert_eq!(status, 1);
    let (status, stdout) = action(
        test.dir(),
        &[
            ("RUNBOOK_DENY_WARNINGS", "true"),
            ("RUNBOOK_IGNORE", "RB024 RB023"),
        ],
    );
    assert_eq!((status, stdout.as_str()), (0, ""));
    let (status, stdout) = action(
        test.dir(),
        &[("RUNBOOK_PATHS", "runbooks checks/broken.yaml")],
    );
    assert_eq!(status, 1);
    assert!(
        stdout.contains("::error file=checks/broken.yaml,line=5,col=5,title=RB004::"),
        "{stdout}"
    );
}

#[test]
fn a_literal_token_is_never_echoed_by_a_snippet() {
    let token = "cfut_Zx81Qa0Lm3Np5Rs7Tu9Vw2Yb4";
    let yaml = format!(
        "runbook: leak\ntitle: Leak\nsteps:\n  - id: call\n    http:\n      url: https://api.example.com/x\n      bearer: {token} # runbook: ignore[RB022] {token}\n"
    );
    for format in ["human", "json", "sarif", "github", "junit"] {
        let ran = Test::new()
            .stdin(yaml.clone())
            .args(["validate", "-", "--format", format])
            .status(1);
        assert!(ran.stdout.contains("RB022"), "{format}: {}", ran.stdout);
        assert!(
            !ran.stdout.contains(token) && !ran.stderr.contains(token),
            "{format} shows the token:\n{}",
            ran.stdout
        );
    }
    // `run` and `plan` show an invalid runbook's diagnostics as `validate` does.
    for command in ["run", "plan"] {
        let ran = Test::new()
            .file("leak.yaml", &yaml)
            .args([command, "leak.yaml"])
            .status(2);
        assert!(ran.stderr.contains("RB022"), "{command}: {}", ran.stderr);
        assert!(
            !ran.stdout.contains(token) && !ran.stderr.contains(token),
            "{command} shows the token:\n{}",
            ran.stderr
        );
    }
}
