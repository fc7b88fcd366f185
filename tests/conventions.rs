//! The command-line conventions a Unix tool keeps: an error is said once, a
//! reader that goes away (`runbook validate | head`) ends the output quietly,
//! and output or state that cannot be written has its own exit code (4).

use std::fs::File;
use std::process::{Command, Stdio};

use crate::support::{Ran, Test, binary};

const CLEAN: &str = "\
runbook: clean
title: A clean runbook
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

/// How often `needle` occurs in `text`.
fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn an_error_says_its_cause_once() {
    let test = Test::new().file("clean.yaml", CLEAN);
    let missing = "No such file or directory";
    for args in [
        &["run", "nope.yaml"][..],
        &["plan", "nope.yaml"][..],
        &["run", "clean.yaml", "--answers", "nope.yml"][..],
        &["plan", "clean.yaml", "--out", "no/such/dir/plan.json"][..],
        &["run", "clean.yaml", "--plan", "nope.json"][..],
    ] {
        let ran = Test::new().file("clean.yaml", CLEAN).args(args).run();
        assert_eq!(count(&ran.stderr, missing), 1, "{args:?}:\n{}", ran.stderr);
        assert_eq!(
            count(&ran.stderr, "error: "),
            1,
            "{args:?}:\n{}",
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("caused by"),
            "{args:?}:\n{}",
            ran.stderr
        );
    }
    // A cause the message does not quote is still said, once.
    let ran = test
        .env("RUNBOOK_STATE_DIR", "clean.yaml/state")
        .args(["run", "clean.yaml", "--yes"])
        .status(4);
    assert_eq!(
        count(&ran.stderr, "caused by: Not a directory"),
        1,
        "{}",
        ran.stderr
    );
}

/// Runs `shell_line` with bash and `pipefail`, in `dir`, the built binary as
/// `$RUNBOOK`; returns (status, stdout, stderr).
fn pipeline(dir: &std::path::Path, shell_line: &str) -> (i32, String, String) {
    let output = Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {shell_line}")])
        .env("RUNBOOK", binary())
        .env_remove("NO_COLOR")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // Far more output than a pipe holds, so the writes after `head` exits fail.
    let mut test = Test::new().file("runbooks/clean.yaml", CLEAN);
    for n in 0..300 {
        test = test.file(&format!("runbooks/broken{n:03}.yaml"), BROKEN);
    }
    // The exit code stays the verdict on what was checked — problems found — so
    // a CI line `runbook validate | head` under `pipefail` cannot pass a broken
    // runbook; nothing is said about the pipe.
    for (line, status) in [
        ("\"$RUNBOOK\" validate runbooks | head -n 3", 1),
        (
            "\"$RUNBOOK\" validate runbooks --format json | head -c 100",
            1,
        ),
        (
            "\"$RUNBOOK\" validate runbooks --format sarif | head -n 1",
            1,
        ),
        ("\"$RUNBOOK\" list runbooks | head -n 1", 0),
        ("\"$RUNBOOK\" schema | head -n 1", 0),
        ("\"$RUNBOOK\" --help | head -n 1", 0),
    ] {
        let (got, stdout, stderr) = pipeline(test.dir(), line);
        assert_eq!(got, status, "{line}:\n{stderr}");
        assert_eq!(stderr, "", "{line}");
        assert!(!stdout.is_empty(), "{line}");
    }
}

#[test]
fn output_into_a_pipe_arrives_whole_and_in_order() {
    // Into a pipe `validate` writes in pieces of 64 KiB: output of several pieces
    // must arrive whole, in file order, and the same on one thread as on two.
    let mut test = Test::new().file("runbooks/clean.yaml", CLEAN);
    for n in 0..400 {
        test = test.file(&format!("runbooks/broken{n:03}.yaml"), BROKEN);
    }
    let validate = |jobs: &str, format: &str| {
        let output = Command::new(binary())
            .current_dir(test.dir())
            .args(["validate", "runbooks", "--jobs", jobs, "--format", format])
            .output()
            .expect("runbook runs");
        Ran::from(output).status(1)
    };
    let one = validate("1", "json");
    assert!(
        one.stdout.len() > 3 * 64 * 1024,
        "{} bytes",
        one.stdout.len()
    );
    let report: serde_json::Value = serde_json::from_str(&one.stdout).expect("one JSON document");
    let paths: Vec<&str> = report["files"]
        .as_array()
        .expect("a list of files")
        .iter()
        .map(|file| file["path"].as_str().expect("a path"))
        .collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths.len(), 401);
    assert_eq!(paths, sorted);
    assert!(
        one.stdout == validate("2", "json").stdout,
        "--jobs 2 differs"
    );
    let human = validate("2", "human");
    assert_eq!(count(&human.stdout, "error[RB004]"), 400);
    human.stdout_has("401 files checked");
}

#[test]
fn the_demo_goes_on_when_its_reader_goes_away() {
    let (status, stdout, stderr) = pipeline(
        Test::new().dir(),
        "\"$RUNBOOK\" demo --non-interactive --yes --confirm revoke_old_token | head -n 1",
    );
    assert_eq!(stdout, "runbook demo — scenario: happy path\n");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status, 0, "{stderr}");
}

/// Runs `runbook ARGS` in `dir` with stdout on `/dev/full`, where every write
/// fails with "No space left on device".
fn on_a_full_disk(test: &Test, args: &[&str]) -> (i32, String) {
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("open /dev/full");
    let output = Command::new(binary())
        .args(args)
        .current_dir(test.dir())
        .stdin(Stdio::null())
        .stdout(full)
        .output()
        .expect("run the runbook binary");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn output_that_cannot_be_written_exits_4() {
    let test = Test::new()
        .file("clean.yaml", CLEAN)
        .file("broken.yaml", BROKEN);
    for args in [
        &["schema"][..],
        &["validate", "clean.yaml"][..],
        // Not 1, "problems found": the verdict never reached its reader.
        &["validate", "broken.yaml", "--format", "json"][..],
        &["plan", "clean.yaml"][..],
        &["graph", "clean.yaml"][..],
        &["list", "."][..],
    ] {
        let (status, stderr) = on_a_full_disk(&test, args);
        assert_eq!(status, 4, "{args:?}:\n{stderr}");
        assert_eq!(
            count(
                &stderr,
                "error: cannot write the output: No space left on device"
            ),
            1,
            "{args:?}:\n{stderr}"
        );
    }
}

#[test]
fn state_that_cannot_be_written_exits_4() {
    // The state directory would have to be inside a regular file.
    Test::new()
        .file("clean.yaml", CLEAN)
        .env("RUNBOOK_STATE_DIR", "clean.yaml/state")
        .args(["run", "clean.yaml", "--yes"])
        .status(4)
        .stderr_has("cannot create the state directory")
        .stderr_has("help: ");
    Test::new()
        .file("clean.yaml", CLEAN)
        .args(["plan", "clean.yaml", "--out", "no/such/dir/plan.json"])
        .status(4)
        .stderr_has("cannot write the plan artifact");
}

#[test]
fn color_is_decided_by_the_flag_then_no_color_and_clicolor_force() {
    let test = Test::new().file("broken.yaml", BROKEN);
    let coloured = |ran: &crate::support::Ran| ran.stdout.contains("\x1b[");
    // Not a terminal: plain unless forced.
    let ran = Test::new()
        .file("broken.yaml", BROKEN)
        .args(["validate", "broken.yaml"])
        .status(1);
    assert!(!coloured(&ran), "{:?}", ran.stdout);
    for (env, args) in [
        (None, &["validate", "broken.yaml", "--color", "always"][..]),
        (
            Some(("CLICOLOR_FORCE", "1")),
            &["validate", "broken.yaml"][..],
        ),
        // The flag is the user's word for this command: it outranks NO_COLOR.
        (
            Some(("NO_COLOR", "1")),
            &["--color", "always", "validate", "broken.yaml"][..],
        ),
    ] {
        let mut run = Test::new().file("broken.yaml", BROKEN).args(args);
        if let Some((key, value)) = env {
            run = run.env(key, value);
        }
        let ran = run.status(1);
        assert!(coloured(&ran), "{env:?} {args:?}: {:?}", ran.stdout);
    }
    let ran = Test::new()
        .file("broken.yaml", BROKEN)
        .env("CLICOLOR_FORCE", "1")
        .args(["validate", "broken.yaml", "--color", "never"])
        .status(1);
    assert!(!coloured(&ran), "{:?}", ran.stdout);
    // Every command reads the one decision: the plan too.
    let ran = Test::new()
        .file("clean.yaml", CLEAN)
        .args(["plan", "clean.yaml", "--color", "always"])
        .status(0);
    assert!(coloured(&ran), "{:?}", ran.stdout);

    // On a terminal, `never` is plain.
    let command = format!(
        "'{}' validate broken.yaml --color never",
        binary().display()
    );
    let shown = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(test.dir())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null())
        .output()
        .expect("run util-linux `script` to get a pseudo-terminal");
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("RB004"), "{shown:?}");
    assert!(!shown.contains("\x1b["), "{shown:?}");
}

#[test]
fn bash_completes_commands_and_flags() {
    let complete = |words: &str| -> String {
        let (status, stdout, stderr) = pipeline(
            Test::new().dir(),
            &format!(
                "source <(\"$RUNBOOK\" completions bash); COMP_WORDS=({words}); \
                 COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
                 _runbook runbook \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        );
        assert_eq!(status, 0, "{stderr}");
        stdout
    };
    assert_eq!(complete("runbook val"), "validate\n");
    let flags = complete("runbook validate --");
    for flag in ["--stdin-filename", "--ignore", "--deny-warnings", "--color"] {
        assert!(flags.lines().any(|l| l == flag), "{flag} in {flags}");
    }
    let formats = complete("runbook validate --format ''");
    assert_eq!(formats, "human\njson\ngithub\nsarif\njunit\n");
}

#[test]
fn zsh_and_fish_scripts_are_for_runbook() {
    let script = |shell: &str| Test::new().args(["completions", shell]).status(0).stdout;
    let zsh = script("zsh");
    assert!(zsh.starts_with("#compdef runbook"), "{zsh}");
    assert!(zsh.contains("--stdin-filename"), "{zsh}");
    let fish = script("fish");
    assert!(
        fish.contains("complete -c runbook") && fish.contains("stdin-filename"),
        "{fish}"
    );
    Test::new()
        .args(["completions", "tcsh"])
        .status(2)
        .stderr_has("possible values");
}

#[test]
fn man_pages_describe_every_command() {
    let page = Test::new().args(["man"]).status(0).stdout;
    assert!(page.contains(".TH runbook 1"), "{page}");
    for command in [
        "validate",
        "plan",
        "run",
        "resume",
        "sandbox",
        "completions",
    ] {
        assert!(
            page.contains(&format!("runbook\\-{command}(1)")),
            "{command}: {page}"
        );
    }
    let test = Test::new().args(["man", "--dir", "share/man1"]);
    let ran = test.status(0);
    let validate = std::fs::read_to_string(test.dir().join("share/man1/runbook-validate.1"))
        .expect("runbook-validate.1 is written");
    assert!(validate.contains(".TH runbook-validate 1"), "{validate}");
    assert!(validate.contains("stdin\\-filename"), "{validate}");
    assert!(
        ran.stdout
            .lines()
            .any(|l| l.ends_with("share/man1/runbook.1")),
        "{}",
        ran.stdout
    );
    // Hidden commands get no page.
    assert!(
        !test
            .dir()
            .join("share/man1/runbook-sandbox-restart.1")
            .exists()
    );
    // A directory that cannot be made is the machine's failure.
    Test::new()
        .file("taken", "a file")
        .args(["man", "--dir", "taken/man1"])
        .status(4)
        .stderr_has("cannot write the man pages");
}
