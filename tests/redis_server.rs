//! A private Redis server for the procedure tests: `redis-server` on a free
//! loopback port, its users in an ACL file of its own (so `ACL SAVE` writes
//! there), nothing persisted otherwise. Without Debian's `redis-server` the tests
//! are skipped visibly, or fail under `RUNBOOK_REQUIRE_TOOLS=1`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::outside_tool;

/// The admin (`default`) user's password.
pub const ADMIN_PASSWORD: &str = "admin-Rd-9c1e-secret";

pub struct Redis {
    dir: tempfile::TempDir,
    port: u16,
    server: Child,
}

impl Redis {
    /// A started server whose ACL file holds the `default` user and `users`
    /// (`(name, password)`, each allowed everything); `None` when Redis is not
    /// installed (skipped).
    pub fn start(users: &[(&str, &str)]) -> Option<Redis> {
        let server = outside_tool(&["redis-server"], "`apt-get install redis-server`")?;
        outside_tool(&["redis-cli"], "`apt-get install redis-tools`")?;
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut acl = format!("user default on >{ADMIN_PASSWORD} ~* &* +@all\n");
        for (name, password) in users {
            acl.push_str(&format!("user {name} on >{password} ~* &* +@all\n"));
        }
        std::fs::write(dir.path().join("users.acl"), acl).expect("write the ACL file");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free loopback port");
        let server = Command::new(server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--aclfile")
            .arg(dir.path().join("users.acl"))
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = Redis { dir, port, server };
        let deadline = Instant::now() + Duration::from_secs(20);
        while redis.ping("default", ADMIN_PASSWORD).0 != "PONG" {
            assert!(Instant::now() < deadline, "redis-server never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(redis)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The ACL file the server reads and `ACL SAVE` writes.
    pub fn acl_file(&self) -> PathBuf {
        self.dir.path().join("users.acl")
    }

    /// `PING` as `user` with `password`: (stdout trimmed, stderr).
    pub fn ping(&self, user: &str, password: &str) -> (String, String) {
        let output = Command::new("redis-cli")
            .args(["--no-auth-warning", "-h", "127.0.0.1"])
            .args(["-p", &self.port.to_string(), "--user", user, "PING"])
            .env("REDISCLI_AUTH", password)
            .current_dir(Path::new("/"))
            .output()
            .expect("run redis-cli");
        (
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // Ours alone: the child this harness started.
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
