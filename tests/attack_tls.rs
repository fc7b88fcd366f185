//! Hostile cases for `http.resolve` and `http.tls`: a `resolve` that would not
//! be used must never let the request go to the host DNS names.

use crate::support::{Ran, Test, binary};
use crate::tls::runbook;
use crate::tls::server::{Ca, TlsServer};

/// The URL's host and the `resolve` host both come from inputs. `localhost` is
/// the URL's host, served on loopback (its DNS answer) with a certificate the
/// step trusts; `resolve` names another host, to be reached at 127.0.0.2.
/// Were the request sent, it would go to `localhost` by DNS — the real host,
/// the one `resolve` was written to keep it from. It must fail before anything
/// is sent, in `run`, in a `wait_for` and in `plan --probe`.
#[test]
fn a_resolve_host_that_is_not_a_templated_urls_host_sends_nothing_to_the_real_host() {
    let ca = Ca::new("Runbook Test CA");
    let leaf = ca.leaf(&["localhost"], -1, 90, &[0x33]);
    let server = TlsServer::start(&[("localhost", &leaf)], None);
    let port = server.port();
    let yaml = format!(
        r#"runbook: any
inputs:
  server_name: {{ default: localhost }}
  resolve_name: {{ default: other.test }}
steps:
  - id: request
    http:
      url: "https://{{{{ inputs.server_name }}}}:{port}/"
      resolve: {{ "{{{{ inputs.resolve_name }}}}": 127.0.0.2 }}
      tls: {{ ca: ca.pem }}
"#
    );
    let polled = format!(
        r#"runbook: polled
inputs:
  server_name: {{ default: localhost }}
  resolve_name: {{ default: other.test }}
steps:
  - id: poll
    wait_for:
      http:
        url: "https://{{{{ inputs.server_name }}}}:{port}/"
        resolve: {{ "{{{{ inputs.resolve_name }}}}": 127.0.0.2 }}
        tls: {{ ca: ca.pem }}
      timeout: 1s
      interval: 200ms
"#
    );
    let test = Test::new()
        .file("any.yaml", &yaml)
        .file("polled.yaml", &polled)
        .file("ca.pem", ca.pem());
    let said =
        "resolve names `other.test`, but the URL's host is `localhost`: it would never be used";
    for args in [
        &["run", "any.yaml"][..],
        &["run", "polled.yaml"],
        &["plan", "any.yaml", "--probe"],
    ] {
        let ran = runbook(&test, args, None);
        let shown = format!("{}\n{}", ran.stdout, ran.stderr);
        assert!(shown.contains(said), "{args:?}: {shown}");
        assert_eq!(
            server.connections(),
            0,
            "{args:?} connected to the real host: {shown}"
        );
    }
    // The same runbook with the names agreeing reaches the server it names
    // (at 127.0.0.1, where `localhost` is served): the check above is not
    // what stops every request.
    let agreeing = runbook(
        &test,
        &["run", "any.yaml", "--set", "resolve_name=localhost"],
        None,
    );
    assert_eq!(agreeing.status, 1, "127.0.0.2 serves nothing");
    assert_eq!(server.connections(), 0);
    let reached = yaml.replace("127.0.0.2", "127.0.0.1");
    let test = test.file("reached.yaml", reached);
    let ran = runbook(
        &test,
        &["run", "reached.yaml", "--set", "resolve_name=localhost"],
        None,
    );
    assert_eq!(ran.status, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(server.connections(), 1);
}

/// `runbook ARGS` in `test`'s directory, killed (and the test failed) if it
/// has not ended within ten seconds.
fn ends(test: &Test, args: &[&str]) -> Ran {
    use std::process::Stdio;
    let mut child = std::process::Command::new(binary())
        .args(args)
        .current_dir(test.dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the runbook binary");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().expect("poll the binary").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`runbook {args:?}` still reading after 10s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ran::from(child.wait_with_output().expect("the binary's output"))
}

/// A TLS file that is a device or a pipe never ends (or never starts): read as
/// a file, `/dev/zero` filled the memory of `validate` and of the run. It is
/// refused as not a regular file, named literally or through an input.
#[test]
fn a_tls_file_that_is_a_device_or_a_pipe_is_refused_not_read_forever() {
    let test = Test::new().file(
        "zero.yaml",
        r#"runbook: zero
inputs:
  ca: { default: /dev/zero }
steps:
  - id: literal
    http: { url: "https://a.test/", tls: { ca: /dev/zero } }
  - id: templated
    http: { url: "https://a.test/", tls: { ca: "{{ inputs.ca }}" } }
"#,
    );
    let fifo = test.dir().join("fifo.pem");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("make a FIFO");
    let said = "tls.ca `/dev/zero` cannot be read: it is not a regular file";
    let validated = ends(&test, &["validate", "zero.yaml"]);
    assert_eq!(validated.status, 1);
    validated.stdout_has(said);
    let yaml = std::fs::read_to_string(test.dir().join("zero.yaml")).expect("the runbook");
    let test = test.file(
        "templated.yaml",
        yaml.replace("runbook: zero", "runbook: templated").replace(
            "  - id: literal\n    http: { url: \"https://a.test/\", tls: { ca: /dev/zero } }\n",
            "",
        ),
    );
    for ca in ["/dev/zero", "fifo.pem"] {
        let ran = ends(
            &test,
            &["run", "templated.yaml", "--set", &format!("ca={ca}")],
        );
        assert_eq!(ran.status, 1, "{}\n{}", ran.stdout, ran.stderr);
        ran.stdout_has(&format!(
            "tls.ca `{ca}` cannot be read: it is not a regular file"
        ));
    }
}
