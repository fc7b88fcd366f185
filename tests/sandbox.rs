//! The flagship runbook, unmodified, end to end against the sandbox: the built
//! binary rotates the token in the platform's env file, restarts the simulated
//! platform, proves through it that the new token works, and only then revokes
//! the old token — which the sandbox's request log must show in that order.

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use runbook::sandbox::{LoggedRequest, Sandbox, SandboxConfig, Service};

use crate::support::{binary, repo};

/// The restart command the demo gives the runbook: this binary's hidden
/// `sandbox-restart`, which POSTs to the platform's restart URL.
fn restart_command(url: &str) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    format!(
        "{} sandbox-restart {}",
        quote(&binary().to_string_lossy()),
        quote(url)
    )
}

fn position(log: &[LoggedRequest], what: impl Fn(&LoggedRequest) -> bool) -> Option<usize> {
    log.iter().position(what)
}

#[test]
fn the_rotation_runbook_passes_against_the_sandbox() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let env_file = dir.path().join(".env.auth");
    let sandbox = Sandbox::start(SandboxConfig {
        env_file: env_file.clone(),
        restart_delay: Duration::from_millis(200),
        ..SandboxConfig::default()
    })
    .expect("the sandbox starts");
    let tokens = sandbox.tokens();
    let ids = sandbox.token_ids();
    // A mode other than the 0600 the sandbox creates, to see that the rotation keeps it.
    std::fs::set_permissions(&env_file, std::fs::Permissions::from_mode(0o640))
        .expect("chmod the env file");
    let before = std::fs::read_to_string(&env_file).expect("read the env file");

    let output = Command::new(binary())
        .current_dir(dir.path())
        .args(["run"])
        .arg(own_copy(dir.path()))
        .args([
            "--non-interactive",
            "--yes",
            "--confirm",
            "revoke_old_token",
        ])
        .arg(format!("--set=api_base={}", sandbox.api_url()))
        .arg(format!("--set=platform={}", sandbox.platform_url()))
        .arg(format!("--set=env_file={}", env_file.display()))
        .arg(format!(
            "--set=restart_command={}",
            restart_command(&sandbox.restart_url())
        ))
        .arg("--set=revoke_with=api")
        .env("RUNBOOK_INPUT_NEW_TOKEN", &tokens.new)
        .env("RUNBOOK_STATE_DIR", dir.path().join("state"))
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("run the runbook binary");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let log = sandbox.requests();
    assert_eq!(
        output.status.code(),
        Some(0),
        "--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- sandbox log ---\n{log:#?}"
    );
    for secret in [&tokens.old, &tokens.new] {
        assert!(
            !stdout.contains(secret.as_str()) && !stderr.contains(secret.as_str()),
            "a token in the output"
        );
    }

    // The env file holds the new token, every other line kept, its mode unchanged.
    let after = std::fs::read_to_string(&env_file).expect("read the env file");
    assert_eq!(
        after,
        before.replace(
            &format!("CLOUDFLARE_API_TOKEN={}", tokens.old),
            &format!("CLOUDFLARE_API_TOKEN={}", tokens.new)
        )
    );
    let mode = std::fs::metadata(&env_file)
        .expect("the env file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);

    // The old token was deleted, by id, only after the restarted platform loaded
    // zones with the new token and every zone's DNS records loaded.
    let last4 = |token: &str| runbook::template::last4(token);
    let delete = position(&log, |r| {
        r.method == "DELETE" && r.path == format!("/client/v4/user/tokens/{}", ids.old)
    })
    .expect("the old token was deleted");
    assert_eq!(log[delete].status, 200);
    assert_eq!(
        log[delete].token_last4.as_deref(),
        Some(last4(&tokens.old).as_str())
    );
    let restart = position(&log, |r| {
        r.method == "POST" && r.path == "/__sandbox/restart"
    })
    .expect("the platform was restarted");
    let platform_zones = position(&log, |r| {
        r.service == Service::Platform && r.path == "/api/cloudflare/zones" && r.status == 200
    })
    .expect("the platform served zones");
    assert!(
        restart < platform_zones && platform_zones < delete,
        "{log:#?}"
    );
    let upstream_zones = log[restart..platform_zones]
        .iter()
        .rev()
        .find(|r| r.service == Service::Api && r.path.starts_with("/client/v4/zones"))
        .expect("the platform called the API");
    assert_eq!(
        upstream_zones.token_last4.as_deref(),
        Some(last4(&tokens.new).as_str()),
        "the restarted platform used the new token"
    );
    let dns: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.path.ends_with("/dns_records"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(dns.len(), 7, "one DNS listing per zone: {log:#?}");
    for &i in &dns {
        assert_eq!(log[i].status, 200);
        assert!(platform_zones < i && i < delete, "{log:#?}");
    }
    // And the proof that it is dead came after.
    let dead = log[delete..]
        .iter()
        .find(|r| r.path == "/client/v4/user/tokens/verify")
        .expect("the old token was checked after the delete");
    assert_eq!(dead.status, 401);
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The status line of `GET path` on 127.0.0.1:`port`, over a real socket, with a
/// token the sandbox does not know.
fn status_line(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer cfut_unknown\r\n\
         Connection: close\r\n\r\n"
    )
    .expect("send a request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn the_sandbox_listens_on_the_ports_asked_for() {
    use std::io::{BufRead as _, BufReader};
    let dir = tempfile::tempdir().expect("a temp dir");
    let (api, platform) = (free_port(), free_port());
    let mut child = Command::new(binary())
        .args(["sandbox", "--api-port", &api.to_string()])
        .args(["--platform-port", &platform.to_string()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the sandbox");
    let mut banner = String::new();
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    for line in lines.by_ref() {
        let line = line.expect("read the banner");
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert!(
        banner.contains(&format!("http://127.0.0.1:{api}/client/v4")),
        "{banner}"
    );
    assert!(
        banner.contains(&format!("http://127.0.0.1:{platform}")),
        "{banner}"
    );
    assert_eq!(status_line(platform, "/health"), "HTTP/1.1 200 OK");
    assert_eq!(
        status_line(api, "/client/v4/user/tokens/verify"),
        "HTTP/1.1 401 Unauthorized"
    );

    // A port already taken is named, with what to do.
    let taken = Command::new(binary())
        .args(["sandbox", "--platform-port", &platform.to_string()])
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run a second sandbox");
    let stderr = String::from_utf8_lossy(&taken.stderr);
    assert_eq!(taken.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("error: cannot listen on 127.0.0.1:{platform}")),
        "{stderr}"
    );
    assert!(stderr.contains("help: choose another port"), "{stderr}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("a pid")),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("send Ctrl-C");
    let status = child.wait().expect("wait for the sandbox");
    assert_eq!(status.code(), Some(0));
}

/// The bundled rotation runbook, copied byte for byte into `dir`: a run locks
/// its runbook file, and other tests run the bundled one at the same time.
fn own_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("cloudflare-token-rotation.yaml");
    std::fs::copy(
        repo().join("runbooks/cloudflare-token-rotation.yaml"),
        &file,
    )
    .expect("copy the rotation runbook");
    file
}
