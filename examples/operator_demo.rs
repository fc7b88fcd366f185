//! The terminal operator on its own, for the PTY tests in `tests/operator_pty.rs`
//! (and for trying the prompts by hand: `cargo run --example operator_demo`).
//! It asks a secret, a choice, a phrase confirmation and a manual step, and
//! prints what came back — the secret only as its length.

use std::process::ExitCode;

use regex::Regex;
use runbook::operator::terminal::Terminal;
use runbook::operator::{Interrupted, ManualAnswer, Operator, Question};
use tokio::signal::unix::{SignalKind, signal};

fn main() -> ExitCode {
    // As the engine must: listen for SIGINT before prompting, because console
    // re-raises it when it reads Ctrl-C, and unhandled it would end the process
    // before the prompt could return `Interrupted`.
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let _entered = runtime.enter();
    let Ok(_sigint) = signal(SignalKind::interrupt()) else {
        return ExitCode::FAILURE;
    };

    let mut operator = Terminal::new();
    match converse(&mut operator) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Interrupted) => {
            operator.say("⏸ interrupted");
            ExitCode::from(130)
        }
    }
}

fn converse(operator: &mut Terminal) -> Result<(), Interrupted> {
    operator.say("[1/4] Token");
    let token = operator.ask(&Question {
        name: "new_token".to_owned(),
        prompt: "Paste the new token".to_owned(),
        secret: true,
        pattern: Regex::new("[A-Za-z0-9_]{8,}").ok(),
        choices: Vec::new(),
        default: None,
    })?;
    operator.say(&format!("✓ token: {} characters", token.chars().count()));

    operator.say("[2/4] Environment");
    let environment = operator.ask(&Question {
        name: "environment".to_owned(),
        prompt: "Environment".to_owned(),
        secret: false,
        pattern: None,
        choices: vec!["staging".to_owned(), "production".to_owned()],
        default: Some("staging".to_owned()),
    })?;
    operator.say(&format!("✓ environment: {environment}"));

    operator.say("[3/4] Revoke");
    let confirmed = operator.confirm("Revoke the old token", Some("1234"))?;
    operator.say(&format!("✓ confirmed: {confirmed}"));

    operator.say("[4/4] Announce");
    let answer = operator.manual(
        "Announce the rotation",
        "Post in #ops that the token\nending in 1234 was rotated.",
    )?;
    operator.say(&match answer {
        ManualAnswer::Done => "✓ manual: done".to_owned(),
        ManualAnswer::Defer { reason } => format!("⏸ manual: deferred ({reason})"),
        ManualAnswer::Abort => "✗ manual: aborted".to_owned(),
    });

    let mut work = operator.progress("checking zones", Some(3));
    for zone in ["a.example", "b.example", "c.example"] {
        work.message(zone);
        work.advance(1);
    }
    work.finish("✓ 3 zones checked");
    Ok(())
}
