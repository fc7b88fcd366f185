//! No secret leaks from a run (SPEC §3): one runbook puts a known secret
//! through every action kind — bearer, URL query, command environment echoed to
//! stdout and stderr, a settings file written and read back, a child runbook,
//! failing expectations and an explanation that echo it — and then every byte
//! the run wrote is searched for the secret in its raw, URL-encoded and base64
//! forms. Only `••••` and its last four characters may appear.

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::server::{Reply, Server};
use super::{Work, events, files_under, with_base};

/// Characters that URL-encode and base64-encode differently from the raw text,
/// none of which the `urlencode` filter leaves as they are.
const SECRET: &str = "Zq8v+LrT=3nWx5!YbK2pMd7Hs9J";
/// Also holds `/`, `-` and `_`, which the `urlencode` filter keeps while other
/// characters are encoded: a URL-encoded form of its own.
const SLASHED_SECRET: &str = "Zq8v/LrT+3nWx5=YbK-2pMd_7Hs9J";
const MASKED: &str = "••••Hs9J";

/// What `{{ value | urlencode }}` keeps as it is (Jinja's set).
const JINJA_URLENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'.')
    .remove(b'-')
    .remove(b'_');

/// Every form of the secret that must never be written.
pub(super) fn forbidden(secret: &str) -> Vec<(String, String)> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms = vec![
        ("raw".to_owned(), secret.to_owned()),
        (
            "all but the last four".to_owned(),
            secret[..secret.len() - 4].to_owned(),
        ),
        (
            "percent-encoded".to_owned(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
        ),
        (
            "urlencode filter".to_owned(),
            utf8_percent_encode(secret, JINJA_URLENCODE).to_string(),
        ),
    ];
    for (name, engine) in [
        ("base64", &STANDARD),
        ("base64 unpadded", &STANDARD_NO_PAD),
        ("base64url", &URL_SAFE),
        ("base64url unpadded", &URL_SAFE_NO_PAD),
    ] {
        forms.push((name.to_owned(), engine.encode(secret)));
    }
    forms
}

const LEAKY: &str = r#"runbook: leaky
inputs:
  token: { secret: true, description: The API token }
  base: { default: "@BASE@" }
steps:
  - id: pin
    prompt: { message: "The PIN", secret: true }
  - id: announce
    title: Announce the rotation
    manual: "Rotating the token ending {{ inputs.token | last4 }} ({{ inputs.token }})"
  - id: verify
    http:
      url: "{{ inputs.base }}/verify?token={{ inputs.token | urlencode }}"
      bearer: "{{ inputs.token }}"
    expect: { status: 200 }
  - id: healthy
    wait_for:
      http:
        url: "{{ inputs.base }}/health?token={{ inputs.token | urlencode }}"
        headers: { X-Api-Key: "{{ inputs.token }}" }
      expect: { status: 200 }
      interval: 50ms
      timeout: 10s
  - id: shell
    effect: probe
    command:
      run: 'echo "out:$TOKEN"; echo "err:$TOKEN" >&2; printf %s "$TOKEN" | base64; echo "pin:{{ steps.pin.value }}"'
      env: { TOKEN: "{{ inputs.token }}" }
  - id: save
    set_setting: { file: secret.env, key: API_TOKEN, value: "{{ inputs.token }}" }
  - id: save_many
    set_setting:
      file: many.env
      values: { API_USER: bot, API_TOKEN: "{{ inputs.token }}" }
  - id: key_file
    write_file:
      path: tls.key
      content: "-----BEGIN KEY-----\n{{ inputs.token }}\n-----END KEY-----\n"
  - id: read
    needs: [save]
    read_setting: { file: secret.env, key: API_TOKEN }
    secret: true
  - id: fan
    for_each: '{{ ["a", "b"] }}'
    concurrency: 2
    http:
      url: "{{ inputs.base }}/items/{{ item }}?token={{ steps.read.value | urlencode }}"
      bearer: "{{ steps.read.value }}"
    expect: { status: 200 }
  - id: child
    runbook: child.yaml
  - id: mismatch
    http:
      method: POST
      url: "{{ inputs.base }}/echo?token={{ steps.read.value | urlencode }}"
      bearer: "{{ steps.read.value }}"
      json: { token: "{{ inputs.token }}" }
    expect:
      status: 201
      json:
        query: nope
        authorization: nope
        bearer_b64: nope
        body: { matches: "^nope$" }
      body: { equals: nope }
      headers: { content-type: { equals: nope } }
    explain:
      200: "The service accepted {{ inputs.token }} but answered 200."
rollback:
  - id: restore
    when: "{{ steps.save.outcome == 'passed' }}"
    restore_setting: save
  - id: cleanup
    effect: change
    command:
      run: 'echo "rollback:$TOKEN"; echo "rollback-err:$TOKEN" >&2; exit 3'
      env: { TOKEN: "{{ inputs.token }}" }
    expect:
      stdout: { equals: nope }
      stderr: { contains: nope }
      json: { token: nope }
"#;

const CHILD: &str = r#"runbook: child
inputs:
  token: { secret: true }
steps:
  - id: inner
    effect: probe
    command:
      run: 'echo "child:$TOKEN"; echo "child-err:$TOKEN" >&2; exit 0'
      env: { TOKEN: "{{ inputs.token }}" }
"#;

/// Some text either side of `text[index..index + len]`, for the failure message.
fn around(text: &str, index: usize, len: usize) -> &str {
    let mut start = index.saturating_sub(60);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (index + len + 20).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    &text[start..end]
}

/// Runs the leaky runbook with `secret` and asserts nothing written holds it.
fn assert_no_leak(secret: &str) {
    let server = Server::start();
    server.route("GET", "/verify", Reply::echo(200));
    server.route("GET", "/health", Reply::echo(200).failing_first(1, 503));
    server.route("GET", "/items/a", Reply::echo(200));
    server.route("GET", "/items/b", Reply::echo(200));
    server.route("POST", "/echo", Reply::echo(200));
    let work = Work::new();
    work.write("leaky.yaml", with_base(LEAKY, &server));
    work.write("child.yaml", CHILD);
    work.write("secret.env", "API_TOKEN=old-token-value\n");

    let ran = work
        .runbook(["run", "leaky.yaml", "--yes", "--events", "events.jsonl"])
        .env("RUNBOOK_INPUT_TOKEN", secret)
        .env("RUNBOOK_INPUT_PIN", secret)
        .env("RUNBOOK_STATE_DIR", work.join("state"))
        .status(5);

    // The run did what it says, so the secret really went everywhere.
    assert_eq!(server.count("POST", "/echo"), 1, "{}", ran.stdout);
    let sent = server.seen();
    assert!(
        sent.iter()
            .all(|s| s.path == "/health" || s.authorization.is_some() || s.query.is_some()),
        "{sent:?}"
    );
    assert!(
        sent.iter()
            .any(|s| s.authorization.as_deref() == Some(&format!("Bearer {secret}"))),
        "{sent:?}"
    );
    assert!(
        ran.stdout.contains("query"),
        "the failed expectation is not reported:\n{}",
        ran.stdout
    );
    assert!(
        work.journals("state").len() >= 2,
        "the parent and child journals"
    );
    events(&work.read("events.jsonl"));

    let mut written = vec![
        ("stdout".to_owned(), ran.stdout.clone()),
        ("stderr".to_owned(), ran.stderr.clone()),
    ];
    let settings = [
        work.join("secret.env"),
        work.join("many.env"),
        work.join("tls.key"),
    ];
    for path in files_under(work.path()) {
        if settings.contains(&path) {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read a written file");
        written.push((
            path.strip_prefix(work.path())
                .unwrap_or(&path)
                .display()
                .to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    assert!(
        written.iter().any(|(name, _)| name.starts_with("state/")),
        "{:?}",
        written.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );

    let mut leaks = Vec::new();
    for (name, text) in &written {
        for (form, needle) in forbidden(secret) {
            for (index, _) in text.match_indices(needle.as_str()) {
                leaks.push(format!(
                    "{name}: {form}: …{}…",
                    around(text, index, needle.len())
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "the secret leaked {} time(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    let shown = written.iter().filter(|(_, t)| t.contains(MASKED)).count();
    assert!(shown > 0, "the masked form appears nowhere");
}

#[test]
fn no_secret_leaks_from_anything_a_run_writes() {
    assert_no_leak(SECRET);
}

#[test]
fn no_secret_leaks_in_the_form_the_urlencode_filter_gives_it() {
    assert_no_leak(SLASHED_SECRET);
}

/// A generated secret is one by construction: after a run that echoes it, fails
/// a check quoting it and writes it to a settings file, the settings file is the
/// only place that holds it.
#[test]
fn a_generated_secret_is_masked_everywhere() {
    let work = Work::new();
    work.write(
        "generate.yaml",
        r#"runbook: generate
steps:
  - id: password
    generate_secret: { length: 40 }
  - id: save
    set_setting: { file: db.env, values: { DB_USER: app, DB_PASSWORD: "{{ steps.password.value }}" } }
  - id: echo
    effect: probe
    command:
      run: 'echo "out:$PW"; echo "err:$PW" >&2'
      env: { PW: "{{ steps.password.value }}" }
    expect: { stdout: { equals: nope } }
"#,
    );
    let ran = work
        .runbook(["run", "generate.yaml", "--events", "events.jsonl"])
        .env("RUNBOOK_STATE_DIR", work.join("state"))
        .status(1);
    let saved = work.read("db.env");
    let value = saved
        .lines()
        .find_map(|l| l.strip_prefix("DB_PASSWORD="))
        .expect("the password was written")
        .to_owned();
    assert_eq!(value.chars().count(), 40, "{saved}");
    assert!(
        ran.stdout.contains("stdout: expected \"nope\""),
        "{}",
        ran.stdout
    );
    let report = work
        .runbook(["report", "generate.yaml", "--format", "json"])
        .env("RUNBOOK_STATE_DIR", work.join("state"))
        .run();
    let mut written = vec![
        ("stdout".to_owned(), ran.stdout.clone()),
        ("stderr".to_owned(), ran.stderr.clone()),
        ("report".to_owned(), report.stdout.clone()),
    ];
    for path in files_under(work.path()) {
        if path == work.join("db.env") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read a written file");
        written.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    for (name, text) in &written {
        for (form, needle) in forbidden(&value) {
            assert!(
                !text.contains(&needle),
                "{name} holds the {form} secret:\n{text}"
            );
        }
    }
}
