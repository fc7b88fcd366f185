//! Hostile cases for text matchers: a check must never pass on output it did
//! not see.

use super::{Work, all};

/// A command printing `before`, then 2 MB of `a`, then `after`: more than the
/// first MiB runbook reads of a stream.
fn long_output(before: &str, after: &str, matcher: &str) -> String {
    format!(
        r#"runbook: long
steps:
  - id: printed
    effect: probe
    command: 'echo {before}; head -c 2000000 /dev/zero | tr "\0" a; echo; echo {after}'
    expect: {{ stdout: {matcher} }}
"#
    )
}

#[test]
fn a_whole_text_rule_fails_on_output_longer_than_what_was_read() {
    for (matcher, said) in [
        // Before, both passed: the error sat past the first MiB, and the last
        // line runbook read was all `a`s.
        (
            "{ not_contains: ERROR }",
            r#"stdout: expected not to contain "ERROR", got more than the first MiB runbook reads of it"#,
        ),
        (
            r#"{ matches: "a$" }"#,
            "stdout: expected to match /a$/, got more than the first MiB",
        ),
        (
            "{ not_equals: done }",
            r#"stdout: expected anything but "done", got more than the first MiB"#,
        ),
    ] {
        let work = Work::new();
        work.write("long.yaml", long_output("READY", "ERROR", matcher));
        let ran = work.runbook(["run", "long.yaml"]).status(1);
        assert!(all(&ran).contains(said), "{matcher}: {}", all(&ran));
    }
    // What was read holds a `contains`: that is evidence, cut or not.
    let work = Work::new();
    work.write(
        "long.yaml",
        long_output("READY", "ERROR", "{ contains: READY }"),
    );
    work.runbook(["run", "long.yaml"]).status(0);
    // And a short output is judged whole, as before.
    let work = Work::new();
    work.write(
        "short.yaml",
        "runbook: short\nsteps:\n  - id: printed\n    effect: probe\n    command: 'echo READY'\n    expect: { stdout: { not_contains: ERROR, matches: \"Y$\" } }\n",
    );
    work.runbook(["run", "short.yaml"]).status(0);
}
