//! Inputs and bad input (SPEC §1, §3, §5): without a terminal every missing
//! answer is named before any step runs; secrets never come from `--set`;
//! unknown names, bad syntax, unreadable answers files, invalid runbooks and an
//! unusable state directory are usage errors (exit 2) and nothing runs.

use super::server::{Reply, Server};
use super::{Work, all, with_base};

/// Uses every input; its first step leaves a marker, its second calls the server.
const INPUTS: &str = r#"runbook: inputs
inputs:
  zone: { description: The zone }
  region: { choices: [eu, us] }
  token: { secret: true }
  base: { default: "@BASE@" }
steps:
  - id: marker
    effect: change
    command: touch marker
  - id: probe
    http:
      url: "{{ inputs.base }}/probe?zone={{ inputs.zone }}&region={{ inputs.region }}"
      bearer: "{{ inputs.token }}"
  - id: ticket
    prompt: { message: "Change ticket?" }
  - id: record
    effect: change
    command: printf '%s' "{{ steps.ticket.value }}" > ticket.txt
"#;

fn setup() -> (Server, Work) {
    let server = Server::start();
    server.route("GET", "/probe", Reply::status(200));
    let work = Work::new();
    work.write("inputs.yaml", with_base(INPUTS, &server));
    (server, work)
}

/// Asserts that nothing ran: no marker, no request, no journal.
fn nothing_ran(server: &Server, work: &Work) {
    assert!(!work.exists("marker"), "a step ran");
    assert_eq!(
        server.total(),
        0,
        "a request was sent: {:?}",
        server.order()
    );
    assert!(work.journals(".runbook").is_empty(), "a run was started");
}

#[test]
fn every_missing_answer_is_named_before_any_step_runs() {
    let (server, work) = setup();
    let ran = work.runbook(["run", "inputs.yaml"]).status(2);
    let out = all(&ran);
    for name in ["zone", "region", "token", "ticket"] {
        assert!(out.contains(name), "{name} is not named:\n{out}");
    }
    assert!(
        !out.contains("base"),
        "an input with a default is named:\n{out}"
    );
    assert!(out.contains("RUNBOOK_INPUT_"), "{out}");
    nothing_ran(&server, &work);
}

#[test]
fn non_interactive_names_what_is_still_missing() {
    let (server, work) = setup();
    let ran = work
        .runbook([
            "run",
            "inputs.yaml",
            "--non-interactive",
            "--set",
            "zone=example.com",
        ])
        .env("RUNBOOK_INPUT_TOKEN", "tok-1234")
        .status(2);
    let out = all(&ran);
    assert!(out.contains("region"), "{out}");
    assert!(out.contains("ticket"), "{out}");
    assert!(!out.contains("zone"), "an answered input is named:\n{out}");
    nothing_ran(&server, &work);
}

#[test]
fn all_answers_given_the_run_passes() {
    let (server, work) = setup();
    work.write("answers.yaml", "ticket: CHG-42\ntoken: tok-from-file\n");
    work.runbook([
        "run",
        "inputs.yaml",
        "--set",
        "zone=example.com",
        "--set",
        "region=eu",
        "--answers",
        "answers.yaml",
    ])
    .status(0);
    assert_eq!(work.read("ticket.txt"), "CHG-42");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].query.as_deref(), Some("zone=example.com&region=eu"));
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer tok-from-file")
    );
}

#[test]
fn a_secret_given_with_set_is_refused_without_echoing_it() {
    let (server, work) = setup();
    let secret = "Sup3rSecretValue-9xQk";
    let ran = work
        .runbook([
            "run",
            "inputs.yaml",
            "--set",
            "zone=example.com",
            "--set",
            "region=eu",
            "--set",
            "ticket=CHG-1",
            "--set",
            &format!("token={secret}"),
        ])
        .status(2);
    let out = all(&ran);
    assert!(out.contains("token"), "{out}");
    assert!(out.contains("RUNBOOK_INPUT_TOKEN"), "{out}");
    assert!(!out.contains("Sup3rSecret"), "the secret is echoed:\n{out}");
    nothing_ran(&server, &work);
}

#[test]
fn an_unknown_set_name_suggests_the_close_one() {
    let (server, work) = setup();
    let ran = work
        .runbook(["run", "inputs.yaml", "--set", "zoen=example.com"])
        .status(2);
    let out = all(&ran);
    assert!(out.contains("`zoen`"), "{out}");
    assert!(out.contains("did you mean `zone`?"), "{out}");
    nothing_ran(&server, &work);
}

#[test]
fn a_set_without_equals_is_a_usage_error() {
    let (server, work) = setup();
    let ran = work
        .runbook(["run", "inputs.yaml", "--set", "zone"])
        .status(2);
    assert!(all(&ran).contains("--set NAME=VALUE"), "{}", all(&ran));
    nothing_ran(&server, &work);
}

#[test]
fn an_answer_outside_its_choices_is_refused() {
    let (server, work) = setup();
    work.write("answers.yaml", "ticket: CHG-42\ntoken: tok-from-file\n");
    let ran = work
        .runbook([
            "run",
            "inputs.yaml",
            "--set",
            "zone=example.com",
            "--set",
            "region=mars",
            "--answers",
            "answers.yaml",
        ])
        .status(2);
    let out = all(&ran);
    assert!(out.contains("region"), "{out}");
    assert!(out.contains("eu, us"), "{out}");
    nothing_ran(&server, &work);
}

#[test]
fn an_unreadable_answers_file_is_a_usage_error() {
    let (server, work) = setup();
    let ran = work
        .runbook(["run", "inputs.yaml", "--answers", "missing.yaml"])
        .status(2);
    let out = all(&ran);
    assert!(out.contains("cannot read the answers file"), "{out}");
    assert!(out.contains("missing.yaml"), "{out}");
    nothing_ran(&server, &work);

    work.write("answers.yaml", "- a list\n- is not answers\n");
    let ran = work
        .runbook(["run", "inputs.yaml", "--answers", "answers.yaml"])
        .status(2);
    assert!(all(&ran).contains("answers.yaml"), "{}", all(&ran));
    nothing_ran(&server, &work);
}

#[test]
fn an_invalid_runbook_shows_the_validate_diagnostics_and_runs_nothing() {
    let work = Work::new();
    work.write(
        "broken.yaml",
        r"runbook: broken
steps:
  - id: restart
    command: touch marker
  - id: after
    needs: [restat]
    manual: Check the dashboard.
",
    );
    let validated = work.runbook(["validate", "broken.yaml"]).status(1);
    let ran = work.runbook(["run", "broken.yaml", "--yes"]).status(2);
    // The same diagnostics as `validate`, without its closing tally.
    let diagnostics = validated
        .stdout
        .trim_end()
        .rsplit_once('\n')
        .map_or(validated.stdout.as_str(), |(body, _tally)| body);
    assert!(diagnostics.contains("RB016"), "{diagnostics}");
    assert!(
        diagnostics.contains("did you mean `restart`?"),
        "{diagnostics}"
    );
    assert!(
        ran.stderr.contains(diagnostics.trim_end()),
        "run does not show the diagnostics:\n{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("nothing was run"), "{}", ran.stderr);
    assert!(!work.exists("marker"));
    assert!(
        !work.exists(".runbook"),
        "state was written for an invalid runbook"
    );
}

#[test]
fn a_missing_runbook_file_is_a_usage_error() {
    let work = Work::new();
    let ran = work.runbook(["run", "nowhere.yaml"]).status(2);
    assert!(all(&ran).contains("nowhere.yaml"), "{}", all(&ran));
}

#[test]
fn a_state_directory_that_is_a_file_stops_the_run_before_any_step() {
    let (server, work) = setup();
    work.write("state", "a regular file, not a directory\n");
    work.write("answers.yaml", "ticket: CHG-42\ntoken: tok-from-file\n");
    let ran = work
        .runbook([
            "run",
            "inputs.yaml",
            "--set",
            "zone=example.com",
            "--set",
            "region=eu",
            "--answers",
            "answers.yaml",
        ])
        .env("RUNBOOK_STATE_DIR", work.join("state"))
        // 4: the state cannot be written — not the runbook's fault, nor the input's.
        .status(4);
    let out = all(&ran);
    assert!(out.contains("state"), "{out}");
    assert!(out.contains("RUNBOOK_STATE_DIR"), "{out}");
    nothing_ran(&server, &work);
}

/// Two secret prompts: secret by the prompt's own flag, and by the step's.
const SECRET_PROMPTS: &str = r#"runbook: prompts
steps:
  - id: pin
    prompt: { message: "The PIN", secret: true }
  - id: otp
    secret: true
    prompt: { message: "The one-time code" }
  - id: use
    effect: change
    command: touch used
"#;

#[test]
fn a_secret_prompt_answered_with_set_is_refused() {
    let work = Work::new();
    work.write("prompts.yaml", SECRET_PROMPTS);
    let ran = work
        .runbook(["run", "prompts.yaml", "--set", "pin=PinValue-7391"])
        .env("RUNBOOK_INPUT_OTP", "otp-from-env-2468")
        .status(2);
    assert!(all(&ran).contains("`pin`"), "{}", all(&ran));
    assert!(!all(&ran).contains("PinValue"), "{}", all(&ran));
    assert!(!work.exists("used"));
}

#[test]
fn a_prompt_made_secret_by_its_step_answered_with_set_is_refused() {
    let work = Work::new();
    work.write("prompts.yaml", SECRET_PROMPTS);
    let ran = work
        .runbook(["run", "prompts.yaml", "--set", "otp=OtpValue-1357"])
        .env("RUNBOOK_INPUT_PIN", "pin-from-env-2468")
        .status(2);
    assert!(all(&ran).contains("`otp`"), "{}", all(&ran));
    assert!(!all(&ran).contains("OtpValue"), "{}", all(&ran));
    assert!(!work.exists("used"));
}
