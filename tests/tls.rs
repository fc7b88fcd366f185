//! `http.tls`, `http.resolve` and `expect.tls` against a real HTTPS server on
//! loopback (`tls/server.rs`) with a CA generated for each test: trusting a
//! private CA, client certificates, SNI vhosts on one address, the served
//! certificate's fields, `days_left`, one client per fan-out, and the key file
//! kept out of everything runbook writes.

pub mod server;

use sha2::{Digest, Sha256};

use self::server::{Ca, Leaf, TlsServer};
use crate::support::{Ran, Test, binary};

/// Runs the binary in `test`'s directory with `args`; `status` is asserted
/// when given. (A [`Test`] runs one command line; these tests run several on
/// one directory.)
pub fn runbook(test: &Test, args: &[&str], status: Option<i32>) -> Ran {
    let output = std::process::Command::new(binary())
        .args(args)
        .current_dir(test.dir())
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the runbook binary");
    let ran = Ran {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    if let Some(status) = status {
        assert_eq!(
            ran.status, status,
            "{args:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            ran.stdout, ran.stderr
        );
    }
    ran
}

/// A test directory holding the runbook `name` and `ca`'s certificate as `ca.pem`.
fn with_ca(ca: &Ca, name: &str, runbook: &str) -> Test {
    Test::new().file(name, runbook).file("ca.pem", ca.pem())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, b| {
        let _ = write!(text, "{b:02x}");
        text
    })
}

/// A step checking `https://HOST:PORT/` with `extra` lines under `http:` and
/// `expect` under `expect:`, then a step writing its `tls` results to
/// `tls.json`.
fn check(host: &str, port: u16, extra: &str, expect: &str) -> String {
    format!(
        r#"runbook: check
steps:
  - id: served
    http:
      url: "https://{host}:{port}/health"
      resolve: {{ {host}: 127.0.0.1 }}
{extra}
    expect:
      status: 200
{expect}
  - id: record
    needs: [served]
    effect: change
    command: |
      cat > tls.txt <<'EOF'
      subject={{{{ steps.served.tls.subject }}}}
      issuer={{{{ steps.served.tls.issuer }}}}
      sans={{{{ steps.served.tls.sans | join(",") }}}}
      not_before={{{{ steps.served.tls.not_before }}}}
      not_after={{{{ steps.served.tls.not_after }}}}
      days_left={{{{ steps.served.tls.days_left }}}}
      sha256={{{{ steps.served.tls.sha256 }}}}
      serial={{{{ steps.served.tls.serial }}}}
      EOF
"#
    )
}

/// What the second step wrote of `steps.served.tls`, field by field.
fn served_fields(test: &Test) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(test.dir().join("tls.txt")).expect("tls.txt written");
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

#[test]
fn a_private_ca_is_trusted_when_given_and_the_certificate_is_reported() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test", "www.a.test"], -1, 90, &[0x42, 0x0b]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = check(
        "a.test",
        server.port(),
        "      tls: { ca: ca.pem }",
        "      tls:\n        days_left: { ge: 30 }\n        sans: { contains: www.a.test }",
    );
    let test = with_ca(&ca, "check.yaml", &yaml);
    let ran = runbook(&test, &["run", "check.yaml"], Some(0));
    let summary = format!(
        "certificate CN=a.test, O=Runbook Tests from CN=Runbook Test CA, 90 days left (until {}",
        served_fields(&test)["not_after"]
    );
    ran.stdout_has(&summary);
    runbook(&test, &["report", "check.yaml"], Some(0)).stdout_has(&summary);

    let fields = served_fields(&test);
    assert_eq!(fields["subject"], "CN=a.test, O=Runbook Tests");
    assert_eq!(fields["issuer"], "CN=Runbook Test CA");
    assert_eq!(fields["sans"], "a.test,www.a.test");
    assert_eq!(fields["serial"], "420B");
    assert_eq!(fields["sha256"], hex(&Sha256::digest(&leaf.der)));
    assert_eq!(fields["days_left"], "90");
    let not_after = &fields["not_after"];
    assert!(
        not_after.ends_with('Z') && not_after.len() == 20,
        "{not_after}"
    );
}

#[test]
fn without_the_ca_the_certificate_is_not_trusted() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[1]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = check("a.test", server.port(), "", "");
    let ran = Test::new()
        .file("check.yaml", &yaml)
        .args(["run", "check.yaml"])
        .status(1);
    ran.stdout_has("certificate not trusted: it is not signed by a CA this step trusts");
}

#[test]
fn a_ca_replaces_the_built_in_roots_so_another_ca_is_not_trusted() {
    let ca = Ca::new("Runbook Test CA");
    let other = Ca::new("Some Other CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[1]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = check("a.test", server.port(), "      tls: { ca: other.pem }", "");
    Test::new()
        .file("check.yaml", &yaml)
        .file("other.pem", other.pem())
        .args(["run", "check.yaml"])
        .status(1)
        .stdout_has("certificate not trusted");
}

#[test]
fn a_client_certificate_opens_a_server_that_requires_one() {
    let ca = Ca::new("Runbook Test CA");
    let clients = Ca::new("Runbook Client CA");
    let leaf = ca.leaf(&["api.test"], -1, 90, &[2]);
    let client = clients.leaf(&["operator"], -1, 90, &[3]);
    let server = TlsServer::start(&[("api.test", &leaf)], Some(&clients));
    let with_cert = check(
        "api.test",
        server.port(),
        "      tls: { ca: ca.pem, cert: client.pem, key: client-key.pem }",
        "      json: { client: true }",
    );
    with_ca(&ca, "check.yaml", &with_cert)
        .file("client.pem", &client.pem)
        .file("client-key.pem", &client.key_pem)
        .args(["run", "check.yaml"])
        .status(0);

    let without = check("api.test", server.port(), "      tls: { ca: ca.pem }", "");
    let ran = with_ca(&ca, "check.yaml", &without)
        .args(["run", "check.yaml"])
        .status(1);
    ran.stdout_has("requires a client certificate");
}

#[test]
fn resolve_reaches_two_sni_vhosts_on_one_address() {
    let ca = Ca::new("Runbook Test CA");
    let a = ca.leaf(&["a.test"], -1, 90, &[0x0a]);
    let b = ca.leaf(&["b.test"], -1, 90, &[0x0b]);
    let server = TlsServer::start(&[("a.test", &a), ("b.test", &b)], None);
    let port = server.port();
    let step = |host: &str, serial: &str| {
        format!(
            r#"  - id: {id}
    http:
      url: "https://{host}:{port}/"
      resolve: {{ {host}: 127.0.0.1 }}
      tls: {{ ca: ca.pem }}
    expect:
      json: {{ sni: {host}, host: "{host}:{port}" }}
      tls:
        subject: {{ contains: "CN={host}" }}
        serial: {{ equals: "{serial}" }}
"#,
            id = host.replace(".test", "")
        )
    };
    let yaml = format!(
        "runbook: vhosts\nsteps:\n{}{}",
        step("a.test", "0A"),
        step("b.test", "0B")
    );
    with_ca(&ca, "vhosts.yaml", &yaml)
        .args(["run", "vhosts.yaml"])
        .status(0);
}

#[test]
fn days_left_tells_a_soon_expiring_certificate_and_an_expired_one_is_refused() {
    let ca = Ca::new("Runbook Test CA");
    let soon = ca.leaf(&["a.test"], -80, 10, &[4]);
    let server = TlsServer::start(&[("a.test", &soon)], None);
    let renewed = check(
        "a.test",
        server.port(),
        "      tls: { ca: ca.pem }",
        "      tls:\n        days_left: { ge: 30 }",
    );
    let ran = with_ca(&ca, "check.yaml", &renewed)
        .args(["run", "check.yaml"])
        .status(1);
    ran.stdout_has("`tls.days_left`: expected >= 30, got 10");

    let due = check(
        "a.test",
        server.port(),
        "      tls: { ca: ca.pem }",
        "      tls:\n        days_left: { lt: 30 }",
    );
    with_ca(&ca, "check.yaml", &due)
        .args(["run", "check.yaml"])
        .status(0);

    let expired = ca.leaf(&["a.test"], -90, -1, &[5]);
    let server = TlsServer::start(&[("a.test", &expired)], None);
    let yaml = check("a.test", server.port(), "      tls: { ca: ca.pem }", "");
    with_ca(&ca, "check.yaml", &yaml)
        .args(["run", "check.yaml"])
        .status(1)
        .stdout_has("certificate not trusted: it has expired");
}

#[test]
fn a_failed_tls_check_says_what_was_expected_and_what_was_served() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[6]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = check(
        "a.test",
        server.port(),
        "      tls: { ca: ca.pem }",
        "      tls:\n        sans: { contains: b.test }\n        sha256: { equals: \"00\" }",
    );
    let ran = with_ca(&ca, "check.yaml", &yaml)
        .args(["run", "check.yaml"])
        .status(1);
    ran.stdout_has(r#"tls.sans: expected to include "b.test", got ["a.test"]"#);
    ran.stdout_has(&format!(
        r#"tls.sha256: expected "00", got "{}""#,
        hex(&Sha256::digest(&leaf.der))
    ));
}

#[test]
fn a_fan_out_sends_every_item_with_one_client() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[7]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = format!(
        r#"runbook: fan
steps:
  - id: each
    for_each: "{{{{ [1, 2, 3, 4] }}}}"
    concurrency: 1
    http:
      url: "https://a.test:{port}/item/{{{{ item }}}}"
      resolve: {{ a.test: 127.0.0.1 }}
      tls: {{ ca: ca.pem }}
    expect:
      tls:
        days_left: {{ gt: 0 }}
  - id: record
    needs: [each]
    effect: change
    command: printf '%s' '{{{{ steps.each.results | map(attribute="tls") | map(attribute="sha256") | join(",") }}}}' > tls.txt
"#,
        port = server.port()
    );
    let test = with_ca(&ca, "fan.yaml", &yaml).args(["run", "fan.yaml"]);
    test.status(0);
    let digest = hex(&Sha256::digest(&leaf.der));
    let recorded = std::fs::read_to_string(test.dir().join("tls.txt")).expect("tls.txt");
    assert_eq!(recorded, [digest.as_str(); 4].join(","));
    // One client keeps its connection alive; a client per item would open four.
    assert_eq!(server.connections(), 1);
}

#[test]
fn plan_shows_the_tls_files_the_addresses_and_each_check() {
    let yaml = check(
        "a.test",
        8443,
        "      tls: { ca: ca.pem, cert: client.pem, key: client-key.pem }",
        "      tls:\n        days_left: { ge: 30 }\n        subject: { contains: CN=a.test }\n        sans: { contains: a.test }",
    );
    let ca = Ca::new("Runbook Test CA");
    let client = ca.leaf(&["operator"], -1, 90, &[8]);
    let test = with_ca(&ca, "check.yaml", &yaml)
        .file("client.pem", &client.pem)
        .file("client-key.pem", &client.key_pem);
    let plan = test.args(["plan", "check.yaml"]).status(0);
    for line in [
        "tls ca ca.pem (trusted instead of the built-in roots)",
        "tls client certificate client.pem (key client-key.pem)",
        "resolve a.test to 127.0.0.1",
        "tls days_left ≥ 30",
        r#"tls subject contains "CN=a.test""#,
        r#"tls sans include "a.test""#,
    ] {
        plan.stdout_has(line);
    }
    assert!(
        !plan
            .stdout
            .contains(client.key_pem.lines().nth(1).unwrap_or("-"))
    );
}

/// The key's text, line by line (each base64 line is long enough to be unique).
fn key_lines(leaf: &Leaf) -> Vec<String> {
    leaf.key_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .map(str::to_owned)
        .collect()
}

/// Every file under `dir` but `except`, as text.
fn everything_written(dir: &std::path::Path, except: &str) -> String {
    let mut all = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().and_then(|n| n.to_str()) != Some(except) {
                all.push_str(&String::from_utf8_lossy(
                    &std::fs::read(&path).unwrap_or_default(),
                ));
            }
        }
    }
    all
}

#[test]
fn the_key_file_never_appears_in_output_journal_or_report() {
    let ca = Ca::new("Runbook Test CA");
    let clients = Ca::new("Runbook Client CA");
    let leaf = ca.leaf(&["api.test"], -1, 90, &[9]);
    let client = clients.leaf(&["operator"], -1, 90, &[10]);
    let server = TlsServer::start(&[("api.test", &leaf)], Some(&clients));
    // A failing check too, so a reason is written.
    let yaml = check(
        "api.test",
        server.port(),
        "      tls: { ca: ca.pem, cert: client.pem, key: client-key.pem }",
        "      tls:\n        days_left: { ge: 1000 }",
    );
    let test = with_ca(&ca, "check.yaml", &yaml)
        .file("client.pem", &client.pem)
        .file("client-key.pem", &client.key_pem);
    let mut seen = String::new();
    for args in [
        vec!["validate", "check.yaml"],
        vec!["plan", "check.yaml", "--format", "json"],
        vec!["plan", "check.yaml", "--format", "markdown"],
        vec!["run", "check.yaml"],
        vec!["report", "check.yaml", "--format", "json"],
        vec!["report", "check.yaml"],
        vec!["status", "check.yaml"],
    ] {
        let ran = runbook(&test, &args, None);
        seen.push_str(&ran.stdout);
        seen.push_str(&ran.stderr);
    }
    seen.push_str(&everything_written(test.dir(), "client-key.pem"));
    assert!(seen.contains("days_left"), "the run was reported");
    for line in key_lines(&client) {
        assert!(!seen.contains(&line), "a line of the key leaked: {line}");
    }
}

#[test]
fn a_damaged_key_is_named_but_never_quoted() {
    let ca = Ca::new("Runbook Test CA");
    let client = ca.leaf(&["operator"], -1, 90, &[11]);
    let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==TOPSECRET!!\n-----END PRIVATE KEY-----\n";
    let literal = check(
        "a.test",
        8443,
        "      tls: { ca: ca.pem, cert: client.pem, key: client-key.pem }",
        "",
    );
    // Templated, the path is known only at run time, where it is checked.
    let templated = literal
        .replace("key: client-key.pem", "key: \"{{ inputs.key }}\"")
        .replacen(
            "runbook: check\n",
            "runbook: check\ninputs:\n  key: { default: client-key.pem }\n",
            1,
        );
    let test = Test::new()
        .file(
            "literal.yaml",
            literal.replace("runbook: check", "runbook: literal"),
        )
        .file("check.yaml", &templated)
        .file("ca.pem", ca.pem())
        .file("client.pem", &client.pem)
        .file("client-key.pem", secret);
    let validated = runbook(&test, &["validate", "literal.yaml"], Some(1));
    validated.stdout_has("RB075");
    validated.stdout_has("tls.key `client-key.pem` is a PEM file with a damaged section");
    let ran = runbook(&test, &["run", "check.yaml"], Some(1));
    ran.stdout_has("tls.key `client-key.pem` is a PEM file with a damaged section");
    let everything = format!(
        "{}{}{}{}{}",
        validated.stdout,
        validated.stderr,
        ran.stdout,
        ran.stderr,
        everything_written(test.dir(), "client-key.pem")
    );
    assert!(!everything.contains("TOPSECRET"), "{everything}");
    assert!(!everything.contains("c2VjcmV0"), "{everything}");
}

#[test]
fn the_bundled_example_passes_against_two_vhosts_requiring_a_client_certificate() {
    let ca = Ca::new("Runbook Test CA");
    let a = ca.leaf(&["a.test"], -1, 60, &[0x0a]);
    let b = ca.leaf(&["b.test"], -1, 60, &[0x0b]);
    let operator = ca.leaf(&["operator"], -1, 60, &[0x0c]);
    let server = TlsServer::start(&[("a.test", &a), ("b.test", &b)], Some(&ca));
    let example = crate::support::repo().join("runbooks/examples/tls.yaml");
    let example = example.to_str().expect("a UTF-8 path");
    let port = format!("port={}", server.port());
    let test = Test::new()
        .file("pki/ca.pem", ca.pem())
        .file("pki/operator.pem", &operator.pem)
        .file("pki/operator-key.pem", &operator.key_pem);
    let ran = runbook(&test, &["run", example, "--set", &port], Some(0));
    ran.stdout_has("2 of 2 items passed");
    // Both items went through one client: one connection per vhost at most
    // (concurrency 2), and the first step's own client one more.
    assert!(server.connections() <= 3, "{}", server.connections());
    let plan = runbook(&test, &["plan", example, "--set", &port], Some(0));
    plan.stdout_has("GET https://‹item›:");
    assert!(!format!("{}{}", ran.stdout, plan.stdout).contains(&key_lines(&operator)[0]));
}

#[test]
fn plan_probe_connects_as_the_run_does() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[12]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let trusting = check(
        "a.test",
        server.port(),
        "      tls: { ca: ca.pem }",
        "      tls:\n        days_left: { ge: 30 }",
    );
    let test = Test::new()
        .file("check.yaml", &trusting)
        .file(
            "plain.yaml",
            check("a.test", server.port(), "", "").replace("runbook: check", "runbook: plain"),
        )
        .file("ca.pem", ca.pem());
    runbook(&test, &["plan", "check.yaml", "--probe"], Some(0))
        .stdout_has("probe    ✓ passed: 200");
    runbook(&test, &["plan", "plain.yaml", "--probe"], None).stdout_has(
        "probe    ✗ failed: GET https://a.test:PORT/health: TLS handshake failed (certificate not trusted"
            .replace("PORT", &server.port().to_string())
            .as_str(),
    );
}

/// A runbook for any server: the name `resolve` connects for comes from an
/// input, as the URL's does. It is rendered in the plan and in the run (the
/// name then reaches the loopback server, never DNS). Beside a literal URL,
/// one that renders to another host fails the step before anything is sent.
#[test]
fn a_templated_resolve_host_is_rendered_from_an_input() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[0x2a]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = format!(
        r#"runbook: any
inputs:
  server_name: {{ default: a.test }}
  resolve_name: {{ default: a.test }}
steps:
  - id: templated
    http:
      url: "https://{{{{ inputs.server_name }}}}:{port}/"
      resolve: {{ "{{{{ inputs.server_name }}}}": 127.0.0.1 }}
      tls: {{ ca: ca.pem }}
    expect:
      json: {{ sni: a.test }}
      tls:
        serial: {{ equals: "2A" }}
  - id: literal
    http:
      url: "https://a.test:{port}/"
      resolve: {{ "{{{{ inputs.resolve_name }}}}": 127.0.0.1 }}
      tls: {{ ca: ca.pem }}
    expect:
      json: {{ sni: a.test }}
"#,
        port = server.port()
    );
    let test = with_ca(&ca, "any.yaml", &yaml);
    runbook(&test, &["validate", "any.yaml"], Some(0));
    runbook(&test, &["plan", "any.yaml"], Some(0)).stdout_has("resolve a.test to 127.0.0.1");
    runbook(&test, &["run", "any.yaml"], Some(0));
    assert_eq!(server.connections(), 2);

    let other = with_ca(&ca, "any.yaml", &yaml);
    let ran = runbook(
        &other,
        &["run", "any.yaml", "--set", "resolve_name=b.test"],
        Some(1),
    );
    ran.stdout_has(
        "resolve names `b.test`, but the URL's host is `a.test`: it would never be used",
    );
    // The first step connected; the second sent nothing.
    assert_eq!(server.connections(), 3);
}

/// "The served serial changed": `not_equals` of the serial served before,
/// given as an input, fails while the old certificate is served and passes
/// once another is; the plan says it in words.
#[test]
fn not_equals_tells_that_the_served_serial_changed() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[0x0a]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = format!(
        r#"runbook: renewed
inputs:
  old_serial: {{ default: 0A }}
steps:
  - id: served
    http:
      url: "https://a.test:{port}/"
      resolve: {{ a.test: 127.0.0.1 }}
      tls: {{ ca: ca.pem }}
    expect:
      tls:
        serial: {{ not_equals: "{{{{ inputs.old_serial }}}}" }}
"#,
        port = server.port()
    );
    let test = with_ca(&ca, "renewed.yaml", &yaml);
    runbook(&test, &["plan", "renewed.yaml"], Some(0))
        .stdout_has(r#"tls serial does not equal "0A""#);
    runbook(&test, &["run", "renewed.yaml"], Some(1))
        .stdout_has(r#"tls.serial: expected anything but "0A", got "0A""#);
    let renewed = with_ca(&ca, "renewed.yaml", &yaml);
    runbook(
        &renewed,
        &["run", "renewed.yaml", "--set", "old_serial=09"],
        Some(0),
    );
}

/// `days_left: {ge: "{{ inputs.min_days }}"}`: the number comes from an
/// input, rendered when the step runs (and in the plan); one that does not
/// render to a number fails the step, saying so, before anything is judged.
#[test]
fn a_number_matcher_takes_a_template_that_renders_to_a_number() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["a.test"], -1, 90, &[0x31]);
    let server = TlsServer::start(&[("a.test", &leaf)], None);
    let yaml = format!(
        r#"runbook: days
inputs:
  min_days: {{ default: "30" }}
  exact: {{ default: "90" }}
steps:
  - id: served
    http:
      url: "https://a.test:{port}/"
      resolve: {{ a.test: 127.0.0.1 }}
      tls: {{ ca: ca.pem }}
    expect:
      tls:
        days_left: {{ ge: "{{{{ inputs.min_days }}}}" }}
      json:
        sni: {{ len: "{{{{ inputs.exact | int // 15 }}}}" }}
  - id: exactly
    http:
      url: "https://a.test:{port}/"
      resolve: {{ a.test: 127.0.0.1 }}
      tls: {{ ca: ca.pem }}
    expect:
      tls:
        days_left: {{ equals: "{{{{ inputs.exact }}}}" }}
"#,
        port = server.port()
    );
    let dir = || with_ca(&ca, "days.yaml", &yaml);
    let test = dir();
    runbook(&test, &["validate", "days.yaml"], Some(0));
    runbook(&test, &["plan", "days.yaml"], Some(0))
        .stdout_has("tls days_left ≥ 30")
        .stdout_has("json sni has length 6");
    runbook(&test, &["run", "days.yaml"], Some(0));

    let ran = runbook(
        &dir(),
        &["run", "days.yaml", "--set", "min_days=100"],
        Some(1),
    );
    ran.stdout_has("`tls.days_left`: expected >= 100, got 90");

    let ran = runbook(
        &dir(),
        &["run", "days.yaml", "--set", "min_days=soon"],
        Some(1),
    );
    ran.stdout_has("`{{ inputs.min_days }}` gave `soon`, which is not a number to compare with");
}

/// The new failures quote what a template gave — a number matcher's operand,
/// a `resolve` host — and a secret among them is masked in the output, the
/// journal and the report.
#[test]
fn a_secret_in_an_operand_or_a_resolve_host_is_masked_when_it_fails() {
    const SECRET: &str = "TOPSECRET-operand-81";
    let runbook_with = |step: &str| {
        format!("runbook: masked\ninputs:\n  token: {{ secret: true }}\nsteps:\n{step}")
    };
    let operand = runbook_with(
        "  - id: count\n    effect: probe\n    command: \"echo '{\\\"n\\\": 1}'\"\n    expect:\n      json:\n        n: { ge: \"{{ inputs.token }}\" }\n",
    );
    let host = runbook_with(
        "  - id: served\n    http:\n      url: https://a.test:1/\n      resolve: { \"{{ inputs.token }}\": 127.0.0.1 }\n",
    );
    for (yaml, says) in [
        (operand, "which is not a number to compare with"),
        (host, "but the URL's host is `a.test`"),
    ] {
        let test = Test::new().file("masked.yaml", &yaml);
        let output = std::process::Command::new(binary())
            .args(["run", "masked.yaml"])
            .current_dir(test.dir())
            .env("RUNBOOK_INPUT_TOKEN", SECRET)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the runbook binary");
        let ran = Ran {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert_eq!(ran.status, 1, "{}{}", ran.stdout, ran.stderr);
        ran.stdout_has(says);
        let report = runbook(&test, &["report", "masked.yaml"], None);
        let everything = format!(
            "{}{}{}{}{}",
            ran.stdout,
            ran.stderr,
            report.stdout,
            report.stderr,
            everything_written(test.dir(), "masked.yaml")
        );
        assert!(!everything.contains(SECRET), "{everything}");
    }
}
