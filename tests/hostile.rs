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
