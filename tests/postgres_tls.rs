//! TLS to the team state database against a real server: a private cluster
//! (`pg_cluster`) with `ssl = on` and a certificate for `localhost` and
//! `db.example` signed by a CA made with rcgen (`tls::server`). What is
//! checked: that the URL's `sslmode` is kept (the server's log says whether a
//! connection was TLS), that a certificate that does not verify stops
//! everything before a byte of the password is sent, and that no output holds
//! the password. A loopback stand-in that answers "no TLS", as a man in the
//! middle would, shows what `require` and `prefer` send then.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::pg_cluster::{ADMIN, Cluster, DATABASE, PASSWORD, ServerTls};
use crate::support::{Ran, Test};
use crate::tls::server::Ca;

const TOUCH: &str = r#"runbook: rotate
title: Rotate
steps:
  - id: touch
    effect: change
    command: "touch ran"
"#;

/// The CA files a test trusts: the server's CA, and another one.
struct Cas {
    dir: tempfile::TempDir,
    ours: PathBuf,
    other: PathBuf,
}

impl Cas {
    fn new(ca: &Ca) -> Cas {
        let dir = tempfile::tempdir().expect("a temp dir");
        let ours = dir.path().join("ca.pem");
        let other = dir.path().join("other-ca.pem");
        std::fs::write(&ours, ca.pem()).expect("write the CA");
        std::fs::write(&other, Ca::new("Someone Else's CA").pem()).expect("write the other CA");
        Cas { dir, ours, other }
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write a TLS file");
        path
    }
}

/// A cluster with `ssl = on`, its certificate signed by a fresh CA.
fn tls_cluster() -> Option<(Cluster, Cas)> {
    let ca = Ca::new("Runbook Test Database CA");
    let leaf = ca.leaf(&["localhost", "db.example"], -1, 30, &[7]);
    let cluster = Cluster::start_tls(&ServerTls {
        certificate: &leaf.pem,
        key: &leaf.key_pem,
        client_ca: None,
    })?;
    Some((cluster, Cas::new(&ca)))
}

/// The database at `host` as `role`, password included, with `query`.
fn url(cluster: &Cluster, role: &str, host: &str, query: &str) -> String {
    format!(
        "postgres://{role}:{PASSWORD}@{host}:{}/{DATABASE}?{query}",
        cluster.port()
    )
}

/// A fresh machine whose `HOME` is its own directory (no `~/.postgresql/`
/// but what the test puts there), with the runbook `rotate.yaml` and `url`
/// as `RUNBOOK_STATE_URL`.
fn machine(url: &str) -> Test {
    let test = Test::new().file("rotate.yaml", TOUCH);
    let home = test.dir().display().to_string();
    test.env("HOME", &home).env("RUNBOOK_STATE_URL", url)
}

/// Asserts that neither output holds the password, and returns the run.
fn no_password(ran: Ran) -> Ran {
    for text in [&ran.stdout, &ran.stderr] {
        assert!(!text.contains(PASSWORD), "the password is shown:\n{text}");
    }
    ran
}

/// Whether `state init` left a schema.
fn has_schema(cluster: &Cluster) -> bool {
    cluster
        .admin(
            "SELECT to_regclass('runbook_schema_version') IS NOT NULL",
            DATABASE,
        )
        .trim()
        == "t"
}

/// The server's log lines of the connections runbook made that it let in
/// as `role` (the test's own `psql` is not runbook).
fn authorized(cluster: &Cluster, role: &str) -> Vec<String> {
    cluster
        .log()
        .lines()
        .filter(|line| {
            line.contains(&format!("connection authorized: user={role} "))
                && line.contains("application_name=runbook")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn state_init_and_a_run_work_over_verify_full_with_a_private_ca() {
    let Some((cluster, cas)) = tls_cluster() else {
        return;
    };
    let query = format!("sslmode=verify-full&sslrootcert={}", cas.ours.display());
    let init = machine(&url(&cluster, ADMIN, "localhost", &query)).args(["state", "init"]);
    no_password(init.status(0)).stdout_has("schema version 1 (it was at 0)");
    cluster.operator("alice");
    // The SCRAM login is bound to the TLS channel, or it fails.
    let bound = format!("{query}&channel_binding=require");
    let run = machine(&url(&cluster, "alice", "localhost", &bound)).args([
        "run",
        "rotate.yaml",
        "--non-interactive",
    ]);
    no_password(run.status(0));
    assert!(run.dir().join("ran").exists());
    let events = cluster.admin("SELECT count(*) FROM runbook_events", DATABASE);
    assert_ne!(events.trim(), "0", "the run's events are in the database");
    for role in [ADMIN, "alice"] {
        let lines = authorized(&cluster, role);
        assert!(!lines.is_empty(), "{role} connected:\n{}", cluster.log());
        for line in lines {
            assert!(line.contains("SSL enabled"), "over TLS: {line}");
        }
    }
}

#[test]
fn a_server_whose_certificate_another_ca_signed_is_refused_and_nothing_is_written() {
    let Some((cluster, cas)) = tls_cluster() else {
        return;
    };
    let query = format!("sslmode=verify-full&sslrootcert={}", cas.other.display());
    let init = machine(&url(&cluster, ADMIN, "localhost", &query)).args(["state", "init"]);
    let ran = no_password(init.status(2));
    ran.stderr_has(&format!(
        "the server at `localhost` is not trusted as the team state database `postgres://admin@localhost:{}/runbook`: its certificate is not signed by the CA in `{}`",
        cluster.port(),
        cas.other.display()
    ))
    .stderr_has("neither the password nor anything of the run reached that server, and nothing ran");
    assert!(!has_schema(&cluster), "state init wrote nothing");
    assert!(authorized(&cluster, ADMIN).is_empty(), "{}", cluster.log());
    // A run is refused the same way, before its first step and its journal.
    let run = machine(&url(&cluster, ADMIN, "localhost", &query)).args([
        "run",
        "rotate.yaml",
        "--non-interactive",
    ]);
    no_password(run.status(2)).stderr_has("is not signed by the CA in `");
    assert!(!run.dir().join("ran").exists());
    let runs = run.dir().join(".runbook/rotate/runs");
    assert_eq!(
        std::fs::read_dir(&runs).map_or(0, Iterator::count),
        0,
        "no journal was begun"
    );
}

#[test]
fn a_host_the_certificate_is_not_for_is_refused_under_verify_full_and_taken_under_verify_ca() {
    let Some((cluster, cas)) = tls_cluster() else {
        return;
    };
    let full = format!("sslmode=verify-full&sslrootcert={}", cas.ours.display());
    let init = machine(&url(&cluster, ADMIN, "127.0.0.1", &full)).args(["state", "init"]);
    no_password(init.status(2))
        .stderr_has("the server at `127.0.0.1` is not trusted as the team state database")
        .stderr_has("its certificate is not for that name (sslmode=verify-full checks the name)");
    assert!(!has_schema(&cluster));
    // verify-ca checks who signed it, not the name.
    let ca_only = format!("sslmode=verify-ca&sslrootcert={}", cas.ours.display());
    let init = machine(&url(&cluster, ADMIN, "127.0.0.1", &ca_only)).args(["state", "init"]);
    no_password(init.status(0));
    assert!(has_schema(&cluster));
    // libpq's `require` with a CA named is verify-ca: the wrong CA is refused.
    let other = format!("sslmode=require&sslrootcert={}", cas.other.display());
    let init = machine(&url(&cluster, ADMIN, "127.0.0.1", &other)).args(["state", "init"]);
    no_password(init.status(2)).stderr_has("is not signed by the CA in `");
}

#[test]
fn an_expired_certificate_is_refused_even_when_its_ca_is_trusted() {
    let ca = Ca::new("Runbook Test Database CA");
    let expired = ca.leaf(&["localhost"], -30, -2, &[8]);
    let Some(cluster) = Cluster::start_tls(&ServerTls {
        certificate: &expired.pem,
        key: &expired.key_pem,
        client_ca: None,
    }) else {
        return;
    };
    let cas = Cas::new(&ca);
    for mode in ["verify-full", "verify-ca", "require"] {
        let query = format!("sslmode={mode}&sslrootcert={}", cas.ours.display());
        let init = machine(&url(&cluster, ADMIN, "localhost", &query)).args(["state", "init"]);
        no_password(init.status(2)).stderr_has("its certificate has expired");
    }
    assert!(!has_schema(&cluster));
}

#[test]
fn across_a_network_the_certificate_is_checked_by_default() {
    let Some((cluster, cas)) = tls_cluster() else {
        return;
    };
    // `db.example`, reached at 127.0.0.1: a host name that is not loopback.
    let remote = url(&cluster, ADMIN, "db.example", "hostaddr=127.0.0.1");
    let init = machine(&remote).args(["state", "init"]);
    no_password(init.status(2))
        .stderr_has("the server is across the network, so its certificate is checked (`sslmode=verify-full` by default), and no CA to check it against is named")
        .stderr_has("help: add sslrootcert=PATH");
    assert!(!has_schema(&cluster));
    // libpq's own place for the CA, `~/.postgresql/root.crt`, is looked in.
    let init = machine(&remote).args(["state", "init"]);
    let home = init.dir().join(".postgresql");
    std::fs::create_dir(&home).expect("~/.postgresql");
    std::fs::copy(&cas.ours, home.join("root.crt")).expect("root.crt");
    no_password(init.status(0));
    assert!(authorized(&cluster, ADMIN)[0].contains("SSL enabled"));
    // Another CA there: refused, as with sslrootcert.
    let init = machine(&remote).args(["state", "init"]);
    let home = init.dir().join(".postgresql");
    std::fs::create_dir(&home).expect("~/.postgresql");
    std::fs::copy(&cas.other, home.join("root.crt")).expect("root.crt");
    no_password(init.status(2)).stderr_has(&format!(
        "is not signed by the CA in `{}`",
        home.join("root.crt").display()
    ));
}

#[test]
fn on_loopback_the_default_is_tls_when_offered_and_disable_is_plain() {
    let Some((cluster, _cas)) = tls_cluster() else {
        return;
    };
    let init = machine(&url(&cluster, ADMIN, "127.0.0.1", "")).args(["state", "init"]);
    no_password(init.status(0));
    cluster.operator("alice");
    let plain = machine(&url(&cluster, "alice", "127.0.0.1", "sslmode=disable")).args([
        "run",
        "rotate.yaml",
        "--non-interactive",
    ]);
    no_password(plain.status(0));
    assert!(plain.dir().join("ran").exists());
    assert!(
        authorized(&cluster, ADMIN)[0].contains("SSL enabled"),
        "prefer took TLS"
    );
    let alice = authorized(&cluster, "alice");
    assert!(!alice.is_empty());
    assert!(
        alice.iter().all(|line| !line.contains("SSL enabled")),
        "{alice:?}"
    );
}

#[test]
fn require_against_a_server_without_tls_fails_clearly() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    for mode in ["require", "verify-full"] {
        let cas = Cas::new(&Ca::new("Unused CA"));
        let query = format!("sslmode={mode}&sslrootcert={}", cas.ours.display());
        let init = machine(&url(&cluster, ADMIN, "localhost", &query)).args(["state", "init"]);
        no_password(init.status(2))
            .stderr_has(&format!(
                "the team state database `postgres://admin@localhost:{}/runbook` does not offer TLS, which `sslmode={mode}` asks for",
                cluster.port()
            ))
            .stderr_has("Turn TLS on at the server");
    }
    assert!(!has_schema(&cluster));
    assert!(authorized(&cluster, ADMIN).is_empty(), "{}", cluster.log());
    let plain =
        machine(&url(&cluster, ADMIN, "localhost", "sslmode=disable")).args(["state", "init"]);
    no_password(plain.status(0));
}

/// A loopback stand-in for a server (or for a man in the middle) that
/// answers the request for TLS with "no"; it hands back what the client sent
/// after that answer, until the client hung up or had sent something.
fn refuses_tls() -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("an address").port();
    let serving = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("the client connects");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .expect("a read timeout");
        let mut request = [0u8; 8];
        stream.read_exact(&mut request).expect("the SSLRequest");
        // Length 8, code 80877103: PostgreSQL's request for TLS.
        assert_eq!(request, [0, 0, 0, 8, 4, 210, 22, 47]);
        stream.write_all(b"N").expect("answer no");
        let mut after = vec![0u8; 4096];
        let read = stream.read(&mut after).unwrap_or(0);
        after.truncate(read);
        after
    });
    (port, serving)
}

#[test]
fn a_refusal_of_tls_in_between_gets_nothing_under_require_and_the_user_name_under_prefer() {
    let (port, serving) = refuses_tls();
    let url = format!("postgres://alice:{PASSWORD}@localhost:{port}/{DATABASE}?sslmode=require");
    no_password(machine(&url).args(["state", "init"]).status(2)).stderr_has("does not offer TLS");
    assert_eq!(
        serving.join().expect("the stand-in"),
        b"",
        "nothing after the refusal"
    );
    // `prefer` (the loopback default) goes on without TLS, as libpq's does:
    // which is why it is never the default across a network.
    let (port, serving) = refuses_tls();
    let url = format!("postgres://alice:{PASSWORD}@localhost:{port}/{DATABASE}?sslmode=prefer");
    no_password(machine(&url).args(["state", "init"]).status(4));
    let startup = serving.join().expect("the stand-in");
    assert!(
        startup.windows(11).any(|window| window == b"user\0alice\0"),
        "the startup message went in clear: {startup:?}"
    );
}

#[test]
fn a_client_certificate_logs_in_as_the_role_it_names() {
    let server_ca = Ca::new("Runbook Test Database CA");
    let client_ca = Ca::new("Runbook Test Client CA");
    let leaf = server_ca.leaf(&["localhost"], -1, 30, &[9]);
    let Some(cluster) = Cluster::start_tls(&ServerTls {
        certificate: &leaf.pem,
        key: &leaf.key_pem,
        client_ca: Some(&client_ca.pem()),
    }) else {
        return;
    };
    let cas = Cas::new(&server_ca);
    let identity = |role: &str| {
        let certificate = client_ca.leaf(&[role], -1, 30, &[3]);
        let cert = cas.file(&format!("{role}.crt"), &certificate.pem);
        let key = cas.file(&format!("{role}.key"), &certificate.key_pem);
        private(&key);
        format!(
            "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
            cas.ours.display(),
            cert.display(),
            key.display()
        )
    };
    // No password in these URLs: the certificate is the login.
    let at = |role: &str, query: &str| {
        format!(
            "postgres://{role}@localhost:{}/{DATABASE}?{query}",
            cluster.port()
        )
    };
    machine(&at(ADMIN, &identity(ADMIN)))
        .args(["state", "init"])
        .status(0);
    cluster.operator("alice");
    let run =
        machine(&at("alice", &identity("alice"))).args(["run", "rotate.yaml", "--non-interactive"]);
    run.status(0);
    let roles = cluster.admin("SELECT DISTINCT written_by FROM runbook_events", DATABASE);
    assert_eq!(roles.trim(), "alice");
    // Without one the server lets nobody in.
    let query = format!("sslmode=verify-full&sslrootcert={}", cas.ours.display());
    machine(&at("alice", &query))
        .args(["run", "rotate.yaml", "--non-interactive"])
        .status(4)
        .stderr_has("cannot reach the team state database");
    // A key that others may read is refused before anything is sent, as libpq does.
    let key = cas.dir.path().join("alice.key");
    open_to_all(&key);
    machine(&at("alice", &identity_with_key(&cas, &key)))
        .args(["run", "rotate.yaml", "--non-interactive"])
        .status(2)
        .stderr_has("may be read by others than its owner")
        .stderr_has("chmod 600");
}

fn identity_with_key(cas: &Cas, key: &Path) -> String {
    format!(
        "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        cas.ours.display(),
        cas.dir.path().join("alice.crt").display(),
        key.display()
    )
}

fn private(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

fn open_to_all(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).expect("chmod 644");
}

#[test]
fn a_url_is_never_shown_with_its_password_whatever_is_wrong_with_it() {
    const SECRET: &str = "s3cr3t-Pw";
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port");
    let urls = [
        // Unreachable, or TLS settings that cannot be used.
        format!("postgres://alice:{SECRET}@127.0.0.1:{closed}/runbook"),
        format!("postgres://alice:{SECRET}@127.0.0.1:{closed}/runbook?sslmode=verify-full"),
        format!("postgres://alice:{SECRET}@db.example/runbook?sslrootcert=/no/such/ca.pem"),
        format!("postgres://alice:{SECRET}@db.example/runbook?sslmode=sometimes"),
        // Malformed where a password hides: no host, `/`, `?` or `@` in it, in the query.
        format!("postgres://alice:{SECRET}/runbook"),
        format!("postgres://alice:pa/{SECRET}@localhost:x/runbook"),
        format!("postgres://alice:pa?{SECRET}@localhost:x/runbook"),
        format!("postgres://alice:pa@{SECRET}@localhost/runbook"),
        format!("postgres://alice@localhost:x/runbook?password={SECRET}"),
    ];
    for url in &urls {
        for args in [
            &["state", "init"][..],
            &["run", "rotate.yaml", "--non-interactive"],
            &["status", "rotate.yaml"],
        ] {
            let ran = machine(url).args(args).run();
            assert_ne!(ran.status, 0, "{url} {args:?}");
            for text in [&ran.stdout, &ran.stderr] {
                assert!(!text.contains(SECRET), "{url} {args:?}:\n{text}");
            }
            assert!(
                ran.stderr.contains("error: "),
                "{url} {args:?}:\n{}",
                ran.stderr
            );
        }
    }
}
