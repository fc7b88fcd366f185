//! Hostile runbooks through the built binary: templates written to exhaust the
//! machine end at once with an error naming them, and control characters from
//! the runbook (terminal escape sequences) are shown escaped in every human
//! output, never passed to the terminal.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Ran, Test, binary};

/// How long a command may run before the test calls it a hang. Far above what
/// any of these takes when bounded; a runaway template took minutes.
const HANG: Duration = Duration::from_secs(120);

/// Runs `runbook ARGS` in `test`'s directory, killing it if it hangs.
fn bounded_run(test: &Test, args: &[&str]) -> Ran {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(test.dir())
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the runbook binary");
    let started = Instant::now();
    while child.try_wait().expect("poll the child").is_none() {
        if started.elapsed() > HANG {
            let _ = child.kill();
            panic!("`runbook {}` still running after {HANG:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collect the output");
    Ran {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A repeated string of 100 MB, and loops in loops, in templates that read
/// nothing: the kind `validate` can judge before anything runs.
const RUNAWAY: &str = r#"runbook: runaway
steps:
  - id: note
    manual: 'Hello {{ "a" * 99999999 }}'
  - id: count
    effect: none
    command: 'echo {% for a in range(10000) %}{% for b in range(10000) %}.{% endfor %}{% endfor %}'
"#;

#[test]
fn plan_refuses_runaway_templates_naming_them() {
    let test = Test::new().file("runaway.yaml", RUNAWAY);
    let ran = bounded_run(&test, &["plan", "runaway.yaml"]);
    assert_eq!(ran.status, 2, "{}\n{}", ran.stdout, ran.stderr);
    let shown = format!("{}{}", ran.stdout, ran.stderr);
    assert_eq!(shown.matches("error[RB033]").count(), 2, "{shown}");
    assert!(shown.contains("runaway.yaml:4:13"), "{shown}");
    assert!(shown.contains("runaway.yaml:7:14"), "{shown}");
    assert!(
        shown.contains("does more work than a template may"),
        "{shown}"
    );
}

/// The same work, reached through an input: only the run can know.
const RUNAWAY_INPUT: &str = r"runbook: runaway_input
inputs:
  times: { default: '10000' }
steps:
  - id: count
    effect: none
    command: 'echo {% for a in range(inputs.times | int) %}{% for b in range(inputs.times | int) %}.{% endfor %}{% endfor %}'
";

#[test]
fn a_runaway_template_fed_by_an_input_fails_its_step_at_once() {
    let test = Test::new().file("runaway_input.yaml", RUNAWAY_INPUT);
    let plan = bounded_run(&test, &["plan", "runaway_input.yaml"]);
    assert_eq!(plan.status, 0, "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.len() < 10_000,
        "{} bytes of plan",
        plan.stdout.len()
    );

    let ran = bounded_run(&test, &["run", "runaway_input.yaml", "--non-interactive"]);
    assert_eq!(ran.status, 1, "{}\n{}", ran.stdout, ran.stderr);
    assert!(
        ran.stdout
            .contains("the `command` template of `count` failed"),
        "{}",
        ran.stdout
    );
    assert!(ran.stdout.contains("ran out of fuel"), "{}", ran.stdout);
    assert!(
        ran.stdout.len() < 10_000,
        "{} bytes of narrative",
        ran.stdout.len()
    );
}

/// Escape sequences in titles, a step's command and an input's default: a
/// concealed-text sequence (`ESC[8m`), a carriage return that would let the
/// line after it overwrite the title, a bell.
const ESCAPES: &str = r#"runbook: escapes
title: "Rotate \e[8mthe token"
inputs:
  target: { default: "prod\e[2K" }
steps:
  - id: tidy
    title: "Tidy the logs\r$ gzip /var/log/*.1"
    effect: none
    command: "echo {{ inputs.target }} \a done"
"#;

/// What every human output must show for [`ESCAPES`]: the escapes written out.
const SHOWN: [&str; 2] = [r"Rotate \u{1b}[8mthe token", r"Tidy the logs\u{d}$ gzip"];

/// Asserts that `text` holds no control character but newline and tab, and
/// shows each of `expected`.
fn assert_escaped(what: &str, text: &str, expected: &[&str]) {
    let raw: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(raw.is_empty(), "{what} printed {raw:?} raw:\n{text}");
    for shown in expected {
        assert!(text.contains(shown), "{what} lacks {shown:?}:\n{text}");
    }
}

#[test]
fn every_human_output_shows_control_characters_escaped() {
    let test = Test::new().file("escapes.yaml", ESCAPES);
    let validated = test.args(["validate", "escapes.yaml"]).status(0);
    assert_eq!(
        validated.stdout.matches("warning[RB034]").count(),
        4,
        "{}",
        validated.stdout
    );

    let test = Test::new().file("escapes.yaml", ESCAPES);
    let run = bounded_run(&test, &["run", "escapes.yaml", "--non-interactive"]);
    assert_eq!(run.status, 0, "{}\n{}", run.stdout, run.stderr);
    // Without a terminal, escape sequences are stripped and the rest escaped.
    assert_escaped(
        "run",
        &run.stdout,
        &[r"Tidy the logs\u{d}$ gzip", "Rotate the token"],
    );

    let outputs: [&[&str]; 9] = [
        &["plan", "escapes.yaml"],
        &["plan", "escapes.yaml", "--format", "markdown"],
        &["status", "escapes.yaml"],
        &["status", "escapes.yaml", "--format", "markdown"],
        &["report", "escapes.yaml"],
        &["report", "escapes.yaml", "--format", "html"],
        &["graph", "escapes.yaml"],
        &["graph", "escapes.yaml", "--format", "dot"],
        &["list", "."],
    ];
    for args in outputs {
        let ran = bounded_run(&test, args);
        assert_eq!(ran.status, 0, "{args:?}: {}\n{}", ran.stdout, ran.stderr);
        let expected: &[&str] = match args[0] {
            // Diagrams show titles on one line (a carriage return is a space
            // there); DOT doubles backslashes.
            "graph" if args.len() > 2 => &[r"Rotate \\u{1b}[8mthe token", "Tidy the logs $ gzip"],
            "graph" => &[r"Rotate \u{1b}[8mthe token", "Tidy the logs $ gzip"],
            // The status table and `list` name steps by id, the runbook by title.
            "list" => &[r"Rotate \u{1b}[8mthe token"],
            "status" if args.len() == 2 => &[r"Rotate \u{1b}[8mthe token"],
            _ => &SHOWN,
        };
        assert_escaped(&args.join(" "), &ran.stdout, expected);
    }
    let plan = bounded_run(&test, &["plan", "escapes.yaml"]);
    assert_escaped("plan", &plan.stdout, &[r"prod\u{1b}[2K", r"\u{7} done"]);
    // A value given on the command line is shown escaped too.
    let set = bounded_run(
        &test,
        &["plan", "escapes.yaml", "--set", "target=db\u{1b}[2J"],
    );
    assert_eq!(set.status, 0, "{}\n{}", set.stdout, set.stderr);
    assert_escaped("plan --set", &set.stdout, &[r"db\u{1b}[2J"]);
}

/// Runs `runbook ARGS` in `dir` under a pseudo-terminal (util-linux `script`),
/// with colour allowed, and returns what the terminal was sent.
fn on_a_terminal(dir: &std::path::Path, args: &str) -> String {
    let command = format!("'{}' {args}", binary().display());
    let output = Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("NO_COLOR")
        .output()
        .expect("run util-linux `script` to get a pseudo-terminal");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn on_a_terminal_the_content_is_escaped_and_only_clean_plans_are_coloured() {
    let test = Test::new().file("escapes.yaml", ESCAPES);
    let shown = on_a_terminal(test.dir(), "run escapes.yaml");
    assert!(shown.contains(r"Rotate \u{1b}[8mthe token"), "{shown:?}");
    assert!(shown.contains(r"Tidy the logs\u{d}$ gzip"), "{shown:?}");
    assert!(!shown.contains("\u{1b}[8m"), "{shown:?}");
    assert!(!shown.contains('\u{7}'), "{shown:?}");

    // A plan with escapes in its content loses its colours, not its escapes.
    let shown = on_a_terminal(test.dir(), "plan escapes.yaml");
    assert!(shown.contains(r"Rotate \u{1b}[8mthe token"), "{shown:?}");
    assert!(!shown.contains('\u{1b}'), "{shown:?}");
    let clean = Test::new().file(
        "clean.yaml",
        ESCAPES
            .replace(r"\e[8m", "")
            .replace(r"\r", " ")
            .replace(r"\e[2K", "")
            .replace(r"\a", ""),
    );
    let shown = on_a_terminal(clean.dir(), "plan clean.yaml");
    assert!(
        shown.contains("\u{1b}["),
        "a clean plan is coloured: {shown:?}"
    );
}
