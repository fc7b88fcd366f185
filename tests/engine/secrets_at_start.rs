//! Every secret known when a run starts — a secret input answered by the
//! environment or an answers file, a secret prompt answered up front, a secret
//! input's default read from the environment — is masked from the first byte
//! the run writes, not only from the step that first uses it. Steps before any
//! use print each secret; screen, `--events`, the journal and every report
//! format are then searched for it in every form `leak::forbidden` knows.

use super::server::{Reply, Server};
use super::{Work, files_under, with_base};

const FROM_ENV: &str = "env-SECRET-Zq8v+LrT=3nWx5!Yb1111";
const FROM_FILE: &str = "file-SECRET-Kp2/Md7Hs9J+aQw2222";
const PROMPTED: &str = "prompt-SECRET-Xc4=Vb6Nm8L/3333";
const DEFAULTED: &str = "default-SECRET-Rt5+Yu7Io9P4444";

const EARLY: &str = r#"runbook: early
inputs:
  env_token: { secret: true }
  file_token: { secret: true }
  vault_token: { secret: true, default: "{{ env.VAULT_TOKEN }}" }
steps:
  - id: print_everything
    title: Print what nobody used yet
    effect: probe
    command: cat secrets.txt; cat secrets.txt >&2; exit 1
    expect: { exit_code: 1, stdout_contains: never-there }
  - id: pin
    prompt: { message: The PIN, secret: true }
  - id: use
    needs: [print_everything]
    http:
      url: "@BASE@/use"
      bearer: "{{ inputs.env_token }}{{ inputs.file_token }}{{ inputs.vault_token }}{{ steps.pin.value }}"
"#;

#[test]
fn every_secret_known_at_start_is_masked_from_the_first_byte() {
    let server = Server::start();
    server.route("GET", "/use", Reply::echo(200));
    let work = Work::new();
    work.write("early.yaml", with_base(EARLY, &server));
    work.write(
        "secrets.txt",
        format!("{FROM_ENV}\n{FROM_FILE}\n{PROMPTED}\n{DEFAULTED}\n"),
    );
    work.write(
        "answers.yaml",
        format!("file_token: \"{FROM_FILE}\"\npin: \"{PROMPTED}\"\n"),
    );
    let ran = work
        .runbook([
            "run",
            "early.yaml",
            "--answers",
            "answers.yaml",
            "--events",
            "events.jsonl",
        ])
        .env("RUNBOOK_INPUT_ENV_TOKEN", FROM_ENV)
        .env("VAULT_TOKEN", DEFAULTED)
        .env("RUNBOOK_STATE_DIR", work.join("state"))
        .status(1);
    assert!(ran.stdout.contains("never-there"), "{}", ran.stdout);
    assert_eq!(
        server.count("GET", "/use"),
        0,
        "the first step did not fail"
    );
    let mut written = vec![
        ("stdout".to_owned(), ran.stdout.clone()),
        ("stderr".to_owned(), ran.stderr.clone()),
    ];
    for format in ["markdown", "json", "html"] {
        let report = work
            .runbook(["report", "early.yaml", "--format", format])
            .env("RUNBOOK_STATE_DIR", work.join("state"))
            .status(0);
        written.push((format!("report --format {format}"), report.stdout));
    }
    let inputs = [work.join("secrets.txt"), work.join("answers.yaml")];
    for path in files_under(work.path()) {
        if inputs.contains(&path) {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        written.push((path.display().to_string(), text));
    }
    assert!(
        written
            .iter()
            .any(|(name, _)| name.contains("/state/") && name.contains("/runs/"))
    );
    assert!(written.iter().any(|(name, _)| name.contains("events.json")));
    let mut leaks = Vec::new();
    for secret in [FROM_ENV, FROM_FILE, PROMPTED, DEFAULTED] {
        for (name, text) in &written {
            for (form, needle) in super::leak::forbidden(secret) {
                if text.contains(needle.as_str()) {
                    leaks.push(format!("{name}: {form} of {secret}"));
                }
            }
        }
        let masked = format!("••••{}", &secret[secret.len() - 4..]);
        assert!(
            all_text(&written).contains(&masked),
            "{masked} is shown nowhere"
        );
    }
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
}

fn all_text(written: &[(String, String)]) -> String {
    written.iter().map(|(_, text)| text.as_str()).collect()
}
