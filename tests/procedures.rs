//! The procedures under `runbooks/procedures/`: real rotations and renewals written
//! with their checks in YAML. Each validates clean, its plan shows every check in
//! words and no command hides one in shell, the `PostgreSQL` rotation runs for
//! real against a private cluster (skipped visibly without `PostgreSQL`), and the
//! nginx renewal against the test TLS server with a stand-in for nginx.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::pg_cluster::{ADMIN, Cluster, DATABASE, PASSWORD};
use crate::redis_server::{ADMIN_PASSWORD, Redis};
use crate::support::{Test, binary, outside_tool, repo};
use crate::tls::server::{Ca, TlsServer};

/// Every procedure the directory holds, children included.
const PROCEDURES: &[&str] = &[
    "postgres-credential-rotation.yaml",
    "postgres-consumer.yaml",
    "redis-credential-rotation.yaml",
    "redis-consumer.yaml",
    "nginx-certificate-renewal.yaml",
    "kubeadm-certificate-renewal.yaml",
    "stop-instances-approved.yaml",
    "release-checklist.yaml",
];

/// Shell that hides a check from the plan: a comparison, a merged stderr, a filter.
const HIDDEN_CHECKS: &[&str] = &["test \"$(", "2>&1", "| awk", "| grep"];

fn procedure(name: &str) -> PathBuf {
    repo().join("runbooks/procedures").join(name)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

#[test]
fn every_procedure_validates_clean() {
    let mut args = vec!["validate".to_owned(), "--deny-warnings".to_owned()];
    args.extend(
        PROCEDURES
            .iter()
            .map(|name| procedure(name).display().to_string()),
    );
    let ran = Test::new().args(&args).status(0);
    assert!(
        ran.stdout.contains(&format!(
            "{} files checked: 0 errors, 0 warnings",
            PROCEDURES.len()
        )),
        "{}",
        ran.stdout
    );
}

#[test]
fn the_directory_holds_exactly_the_listed_procedures() {
    let mut found: Vec<String> = std::fs::read_dir(repo().join("runbooks/procedures"))
        .expect("runbooks/procedures/ exists")
        .map(|entry| {
            entry
                .expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| {
            Path::new(name)
                .extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("yaml"))
        })
        .collect();
    found.sort();
    let mut listed: Vec<String> = PROCEDURES.iter().map(|&name| name.to_owned()).collect();
    listed.sort();
    assert_eq!(
        found, listed,
        "PROCEDURES lists every procedure, so each is checked"
    );
}

/// The JSON plan of a procedure, made in its own directory.
fn plan(name: &str) -> Value {
    let output = Command::new(binary())
        .args(["plan", "--format", "json", name])
        .current_dir(repo().join("runbooks/procedures"))
        .output()
        .expect("run runbook plan");
    assert!(
        output.status.success(),
        "plan {name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the json plan is JSON")
}

/// Every step of a plan, its children's and its rollback's included.
fn steps(plan: &Value) -> Vec<&Value> {
    let mut found = Vec::new();
    let phases = plan["phases"].as_array().into_iter().flatten();
    let own = phases
        .flat_map(|phase| phase["steps"].as_array().into_iter().flatten())
        .chain(plan["rollback"].as_array().into_iter().flatten());
    for step in own {
        found.push(step);
        if step["child"].is_object() {
            found.extend(steps(&step["child"]));
        }
    }
    found
}

/// What the plan says a step checks: its `expect` lines (a wait's too).
fn checks_in_words(step: &Value) -> Vec<String> {
    step["expect"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_check_is_in_the_plan_in_words_and_none_in_shell() {
    for name in PROCEDURES {
        let plan = plan(name);
        for step in steps(&plan) {
            let id = step["id"].as_str().unwrap_or_default();
            let target = step["target"].as_str().unwrap_or_default();
            for hidden in HIDDEN_CHECKS {
                assert!(
                    !target.contains(hidden),
                    "{name}: step `{id}` hides a check in shell ({hidden}): {target}"
                );
            }
            if matches!(
                step["action"].as_str(),
                Some("command" | "http" | "wait_for")
            ) {
                assert!(
                    !checks_in_words(step).is_empty(),
                    "{name}: step `{id}` checks nothing the plan shows: {step:#}"
                );
            }
        }
    }
}

/// A check each procedure must show, as the plan words it: the evidence its
/// irreversible step rests on.
const KEY_CHECKS: &[(&str, &str, &str)] = &[
    (
        "postgres-credential-rotation.yaml",
        "new_logs_in",
        "stdout equals \"1\"",
    ),
    (
        "postgres-credential-rotation.yaml",
        "old_refused",
        "exit code 2",
    ),
    (
        "postgres-credential-rotation.yaml",
        "old_refused",
        "stderr contains \"password authentication failed\"",
    ),
    (
        "postgres-credential-rotation.yaml",
        "alter_role",
        "stdout equals \"ALTER ROLE\"",
    ),
    (
        "postgres-consumer.yaml",
        "env_logs_in",
        "stdout equals \"1\"",
    ),
];

#[test]
fn the_evidence_of_each_procedure_reads_as_words() {
    for (name, id, words) in KEY_CHECKS {
        let plan = plan(name);
        let step = steps(&plan)
            .into_iter()
            .find(|step| step["id"] == *id)
            .unwrap_or_else(|| panic!("{name} has a step `{id}`"));
        let checks = checks_in_words(step);
        assert!(
            checks.iter().any(|line| line == words),
            "{name}: `{id}` shows {checks:?}, not {words:?}"
        );
    }
}

/// The rotated role, its password before the run, and the consumers.
const ROLE: &str = "app";
const OLD: &str = "old-Pw-7f3a-rotate-me";
const CONSUMERS: [&str; 2] = ["web", "worker"];

/// psql as `role` with `password` over TCP: (exit code, stdout, stderr).
fn login(cluster: &Cluster, role: &str, password: &str) -> (i32, String, String) {
    let output = Command::new("psql")
        .args(["-X", "-w", "-tA", "-h", "127.0.0.1"])
        .args([
            "-p",
            &cluster.port().to_string(),
            "-U",
            role,
            "-d",
            DATABASE,
        ])
        .args(["-c", "select 1"])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("run psql");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The value of `key` in a dotenv file as the rotation writes it.
fn setting(path: &Path, key: &str) -> String {
    read(path)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .map_or_else(
            || panic!("{} has no {key}", path.display()),
            |value| value.trim_matches(['"', '\'']).to_owned(),
        )
}

#[test]
fn the_postgres_rotation_runs_for_real_and_leaves_only_the_new_password() {
    if outside_tool(
        &["psql"],
        "PostgreSQL's client: `apt-get install postgresql-client`",
    )
    .is_none()
    {
        return;
    }
    let Some(cluster) = Cluster::start() else {
        return;
    };
    cluster.admin(
        &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{OLD}'"),
        DATABASE,
    );

    let mut test = Test::new();
    for name in PROCEDURES {
        test = test.file(name, read(&procedure(name)));
    }
    for consumer in CONSUMERS {
        test = test.file(
            &format!("env/{consumer}.env"),
            format!("APP_NAME={consumer}\nDB_USER={ROLE}\nDB_PASSWORD={OLD}\n"),
        );
    }
    // A session opened with the old password before the run: the last step ends it.
    let mut old_session = Command::new("psql")
        .args(["-X", "-w", "-tA", "-h", "127.0.0.1"])
        .args([
            "-p",
            &cluster.port().to_string(),
            "-U",
            ROLE,
            "-d",
            DATABASE,
        ])
        .args(["-c", "select pg_sleep(120)"])
        .env("PGPASSWORD", OLD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("open a session with the old password");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cluster
        .admin(
            &format!("SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE}'"),
            DATABASE,
        )
        .trim()
        .eq("1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the old session never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The session must have begun before the run's start (whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let port = cluster.port().to_string();
    let test = test
        .env("RUNBOOK_INPUT_ADMIN_PASSWORD", PASSWORD)
        .args([
            "run",
            "postgres-credential-rotation.yaml",
            "--non-interactive",
        ])
        .args([
            "--set",
            "pg_host=127.0.0.1",
            "--set",
            &format!("pg_port={port}"),
        ])
        .args(["--set", &format!("pg_database={DATABASE}")])
        .args([
            "--set",
            &format!("admin_user={ADMIN}"),
            "--set",
            &format!("role={ROLE}"),
        ])
        .args(["--set", "consumers=web,worker", "--set", "env_dir=env"])
        .args([
            "--set",
            "restart_with=echo restarting",
            "--set",
            "health_with=true",
        ])
        .args(["--confirm", "end_old_sessions"]);
    let ran = test.status(0);

    let web = test.dir().join("env/web.env");
    let new = setting(&web, "DB_PASSWORD");
    assert_ne!(new, OLD, "the env file holds a new password");
    assert_eq!(new.len(), 32, "the generated password has its length");
    for consumer in CONSUMERS {
        let file = test.dir().join(format!("env/{consumer}.env"));
        assert_eq!(
            setting(&file, "DB_PASSWORD"),
            new,
            "{consumer} has the new password"
        );
        assert_eq!(setting(&file, "DB_USER"), ROLE);
        assert_eq!(setting(&file, "APP_NAME"), consumer, "other lines are kept");
    }
    let (code, stdout, stderr) = login(&cluster, ROLE, &new);
    assert_eq!(
        (code, stdout.trim()),
        (0, "1"),
        "the new password logs in: {stderr}"
    );
    let (code, _, stderr) = login(&cluster, ROLE, OLD);
    assert_eq!(code, 2, "the old password is refused");
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );

    let ended = old_session.wait().expect("reap the old session");
    assert!(
        !ended.success(),
        "the session opened with the old password was ended"
    );

    assert_no_secret(&test, &ran, &[&new, OLD, PASSWORD]);
}

#[test]
fn the_checklist_has_24_items_and_runs_the_rotation_with_its_inputs() {
    let plan = plan("release-checklist.yaml");
    assert_eq!(plan["checklist"], true);
    let items: Vec<&Value> = plan["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|phase| phase["steps"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(items.len(), 24, "the checklist's items");
    let child = items
        .iter()
        .find(|item| item["id"] == "rotate_db_password")
        .map(|item| &item["child"])
        .expect("item 12 runs a child runbook");
    assert_eq!(child["runbook"], "postgres-credential-rotation");
    let given: Vec<&str> = child["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|input| input["source"] == "with")
        .filter_map(|input| input["name"].as_str())
        .collect();
    assert_eq!(
        given,
        ["pg_host", "role", "consumers", "env_dir"],
        "{child:#}"
    );
}

#[test]
fn the_stop_waits_for_another_persons_approval_after_its_evidence() {
    let plan = plan("stop-instances-approved.yaml");
    let stop = steps(&plan)
        .into_iter()
        .find(|step| step["id"] == "stop")
        .expect("a step `stop`");
    assert_eq!(stop["irreversible"], true, "{stop:#}");
    assert!(stop["approve"].is_object(), "{stop:#}");
    let needs: Vec<&str> = stop["needs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|need| need["step"].as_str())
        .collect();
    assert_eq!(needs, ["running", "idle", "listed", "announce"]);
}

/// A stand-in for nginx: `-t` reports as nginx does (on stderr), and `-s reload`
/// loads the certificate file the configuration names, as nginx reads it at a
/// reload — the test server serves what `loaded.pem` holds.
const FAKE_NGINX: &str = r#"case "$1" in
  -t) echo "nginx: the configuration file nginx.conf syntax is ok" >&2
      echo "nginx: configuration file nginx.conf test is successful" >&2 ;;
  -s) cp tls/server.crt loaded.pem ;;
  *) exit 1 ;;
esac
"#;

#[test]
fn the_nginx_renewal_runs_against_a_real_tls_server_and_serves_the_new_serial() {
    if outside_tool(&["openssl"], "OpenSSL: `apt-get install openssl`").is_none() {
        return;
    }
    let ca = Ca::new("Procedures Test CA");
    let old = ca.leaf(&["localhost"], -300, 20, &[0x11, 0x22]);
    let new = ca.leaf(&["localhost"], -1, 90, &[0x33, 0x44]);
    let test = Test::new()
        .file(
            "nginx-certificate-renewal.yaml",
            read(&procedure("nginx-certificate-renewal.yaml")),
        )
        .file("pki/ca.pem", ca.pem())
        .file("tls/server.crt", &old.pem)
        .file("tls/server.key", &old.key_pem)
        .file("loaded.pem", &old.pem)
        .file("new.crt", &new.pem)
        .file("new.key", &new.key_pem)
        .file("nginx", FAKE_NGINX);
    let server = TlsServer::start_reloading(&[&old, &new], &test.dir().join("loaded.pem"));
    let port = server.port().to_string();
    let test = test
        .args(["run", "nginx-certificate-renewal.yaml", "--non-interactive"])
        .args([
            "--set",
            "server_name=localhost",
            "--set",
            &format!("port={port}"),
        ])
        .args([
            "--set",
            "ca=pki/ca.pem",
            "--set",
            "cert_path=tls/server.crt",
        ])
        .args([
            "--set",
            "key_path=tls/server.key",
            "--set",
            "new_cert=new.crt",
        ])
        .args(["--set", "new_key=new.key", "--set", "nginx=sh nginx"]);
    let ran = test.status(0);

    let dir = test.dir();
    assert_eq!(
        read(&dir.join("loaded.pem")),
        new.pem,
        "the reload loaded the new certificate"
    );
    assert_eq!(read(&dir.join("tls/server.crt")), new.pem);
    assert_eq!(read(&dir.join("tls/server.key")), new.key_pem);
    assert_eq!(
        read(&dir.join("tls/server.crt.previous")),
        old.pem,
        "kept for the revocation"
    );
    let mode = std::fs::metadata(dir.join("tls/server.key"))
        .map(|meta| std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777)
        .expect("the key's mode");
    assert_eq!(mode, 0o600, "the key is owner-only");
    // The key's base64 lines appear in nothing runbook printed or journaled.
    let key_lines: Vec<&str> = new
        .key_pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    assert_no_secret(&test, &ran, &key_lines);
}

/// Every journal and event file a run left under `dir/.runbook/`, children's included.
fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.join(".runbook")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "jsonl") {
                found.push(path);
            }
        }
    }
    assert!(
        !found.is_empty(),
        "the run left a journal under {}",
        dir.display()
    );
    found
}

/// No secret in what the run printed, nor in any journal it wrote.
fn assert_no_secret(test: &Test, ran: &crate::support::Ran, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !ran.stdout.contains(secret),
            "a secret on stdout:\n{}",
            ran.stdout
        );
        assert!(
            !ran.stderr.contains(secret),
            "a secret on stderr:\n{}",
            ran.stderr
        );
        for journal in journals(test.dir()) {
            assert!(
                !read(&journal).contains(secret),
                "a secret in {}",
                journal.display()
            );
        }
    }
}

/// SHA-256 in hex, as Redis keeps a password in its ACL file.
fn sha256_hex(text: &str) -> String {
    use sha2::{Digest as _, Sha256};
    use std::fmt::Write as _;
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::new(), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[test]
fn the_redis_rotation_runs_for_real_and_leaves_only_the_new_password() {
    let Some(redis) = Redis::start(&[(ROLE, OLD)]) else {
        return;
    };
    let mut test = Test::new();
    for name in ["redis-credential-rotation.yaml", "redis-consumer.yaml"] {
        test = test.file(name, read(&procedure(name)));
    }
    for consumer in CONSUMERS {
        test = test.file(
            &format!("env/{consumer}.env"),
            format!("APP_NAME={consumer}\nREDIS_USER={ROLE}\nREDIS_PASSWORD={OLD}\n"),
        );
    }
    let port = redis.port().to_string();
    let test = test
        .env("RUNBOOK_INPUT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .args(["run", "redis-credential-rotation.yaml", "--non-interactive"])
        .args([
            "--set",
            "redis_host=127.0.0.1",
            "--set",
            &format!("redis_port={port}"),
        ])
        .args([
            "--set",
            &format!("user={ROLE}"),
            "--set",
            "consumers=web,worker",
        ])
        .args(["--set", "env_dir=env", "--set", "persist=acl_save"])
        .args([
            "--set",
            "restart_with=echo restarting",
            "--set",
            "health_with=true",
        ])
        .args(["--confirm", "revoke_old"]);
    let ran = test.status(0);

    let new = setting(&test.dir().join("env/web.env"), "REDIS_PASSWORD");
    assert_eq!(new.len(), 40, "the generated password has its length");
    for consumer in CONSUMERS {
        let file = test.dir().join(format!("env/{consumer}.env"));
        assert_eq!(
            setting(&file, "REDIS_PASSWORD"),
            new,
            "{consumer} has the new password"
        );
        assert_eq!(setting(&file, "REDIS_USER"), ROLE);
    }
    assert_eq!(
        redis.ping(ROLE, &new).0,
        "PONG",
        "the new password is accepted"
    );
    let (stdout, stderr) = redis.ping(ROLE, OLD);
    assert_ne!(stdout, "PONG", "the old password is refused");
    assert!(stderr.contains("WRONGPASS"), "{stderr}");

    // ACL SAVE wrote the user with the new password only.
    let acl = read(&redis.acl_file());
    let user = acl
        .lines()
        .find(|line| line.starts_with(&format!("user {ROLE} ")))
        .unwrap_or_else(|| panic!("the ACL file keeps {ROLE}:\n{acl}"));
    assert!(user.contains(&format!("#{}", sha256_hex(&new))), "{user}");
    assert!(!user.contains(&sha256_hex(OLD)), "{user}");

    assert_no_secret(&test, &ran, &[&new, OLD, ADMIN_PASSWORD]);
}
