//! A private `PostgreSQL` cluster for the team-state tests: `initdb` in a temp
//! directory, a server of its own on a free loopback port, password (SCRAM)
//! authentication over TCP — so the role a test connects as is the role the
//! server authenticated, as in a team's real set-up. [`Cluster::start_tls`]
//! starts one with `ssl = on` and a certificate the test made (an rcgen CA's,
//! see `tls::server`); every cluster logs its connections, TLS or not.
//!
//! `PostgreSQL` refuses to run as root; when the tests do, the server runs as the
//! `postgres` system user (`runuser`), in a directory made accessible to it.
//! Without the server's binaries (Debian's `postgresql`) the tests are skipped
//! visibly, or fail under `RUNBOOK_REQUIRE_TOOLS=1` (see `support::outside_tool`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::outside_tool;

/// The admin role `initdb` creates: owns the database and runs `state init`.
pub const ADMIN: &str = "admin";
/// Every role's password in these tests.
pub const PASSWORD: &str = "pw-Xq7-team-secret";
/// The database the runbook tables live in.
pub const DATABASE: &str = "runbook";

pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// Run the server's programs as `postgres` (the tests run as root).
    as_postgres: bool,
    /// `ssl = on`, with `server.crt` and `server.key` in the cluster's directory.
    ssl: bool,
    /// `ssl_ca_file = client-ca.crt`, and `pg_hba.conf` asks for a certificate.
    client_certificates: bool,
}

/// The server's certificate and key, in PEM; with `client_ca`, a role
/// logs in over TCP only with a client certificate that CA signed for its
/// name (`hostssl … cert`), no password.
pub struct ServerTls<'a> {
    pub certificate: &'a str,
    pub key: &'a str,
    pub client_ca: Option<&'a str>,
}

/// The directory of the server's programs, newest version first.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return Some(bin);
    }
    outside_tool(
        &["initdb"],
        "PostgreSQL's server: `apt-get install postgresql`",
    )
    .and_then(|initdb| initdb.parent().map(Path::to_owned))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

impl Cluster {
    /// A new cluster, started, with the database [`DATABASE`] owned by
    /// [`ADMIN`]; `None` when `PostgreSQL` is not installed (skipped).
    pub fn start() -> Option<Cluster> {
        Cluster::start_with(None)
    }

    /// As [`Cluster::start`], the server with `ssl = on` and `tls` as its
    /// certificate; it still takes connections without TLS too.
    pub fn start_tls(tls: &ServerTls<'_>) -> Option<Cluster> {
        Cluster::start_with(Some(tls))
    }

    fn start_with(tls: Option<&ServerTls<'_>>) -> Option<Cluster> {
        let bin = server_bin()?;
        let as_postgres = nix::unistd::getuid().is_root();
        let dir = tempfile::tempdir().expect("a temp dir");
        let cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            ssl: tls.is_some(),
            client_certificates: tls.is_some_and(|tls| tls.client_ca.is_some()),
        };
        for sub in ["data", "sock"] {
            std::fs::create_dir(cluster.dir.path().join(sub)).expect("create a cluster dir");
        }
        std::fs::write(cluster.dir.path().join("pwfile"), PASSWORD).expect("write the pwfile");
        if let Some(tls) = tls {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::write(cluster.dir.path().join("server.crt"), tls.certificate)
                .expect("write the server's certificate");
            let key = cluster.dir.path().join("server.key");
            std::fs::write(&key, tls.key).expect("write the server's key");
            // The server refuses a key that others may read.
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .expect("make the server's key private");
            if let Some(ca) = tls.client_ca {
                std::fs::write(cluster.dir.path().join("client-ca.crt"), ca)
                    .expect("write the client CA");
            }
        }
        if as_postgres {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(cluster.dir.path(), std::fs::Permissions::from_mode(0o755))
                .expect("open the temp dir to postgres");
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(cluster.dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster to postgres");
        }
        let data = cluster.path("data");
        let pwfile = cluster.path("pwfile");
        cluster.server(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                ADMIN,
                "--pwfile",
                &pwfile,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        if cluster.client_certificates {
            // Replaces initdb's: the socket is the admin's (trust), TCP is by
            // certificate alone.
            std::fs::write(
                cluster.dir.path().join("data").join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 cert\n",
            )
            .expect("write pg_hba.conf");
        }
        cluster.start_server();
        cluster.admin(&format!("CREATE DATABASE {DATABASE}"), "postgres");
        Some(cluster)
    }

    fn path(&self, sub: &str) -> String {
        self.dir.path().join(sub).display().to_string()
    }

    /// Runs one of the server's programs (as `postgres` when we are root).
    fn server(&self, program: &str, args: &[&str]) -> Output {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}{}\n--- server log ---\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        );
        output
    }

    /// Starts the server (again, after [`Cluster::stop`]) and waits until it
    /// takes connections.
    pub fn start_server(&self) {
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c log_connections=on",
            self.port,
            self.path("sock")
        );
        if self.ssl {
            options.push_str(&format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                self.path("server.crt"),
                self.path("server.key")
            ));
        }
        if self.client_certificates {
            options.push_str(&format!(" -c ssl_ca_file={}", self.path("client-ca.crt")));
        }
        let (data, log) = (self.path("data"), self.path("log"));
        self.server(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
            ],
        );
    }

    /// Stops the server: every session is ended (`-m fast`), as a restart does.
    pub fn stop(&self) {
        let data = self.path("data");
        self.server("pg_ctl", &["-D", &data, "-w", "-m", "fast", "stop"]);
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server logged so far (each connection, with `SSL enabled`
    /// when it was TLS).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// The URL of the database as `role` (password included: for
    /// `RUNBOOK_STATE_URL`).
    pub fn url(&self, role: &str) -> String {
        format!(
            "postgres://{role}:{PASSWORD}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// Creates a login role that is a member of the team role.
    pub fn operator(&self, role: &str) {
        self.admin(
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' IN ROLE runbook_team"),
            DATABASE,
        );
    }

    /// Runs SQL as the admin over the cluster's socket; returns what it printed.
    pub fn admin(&self, sql: &str, database: &str) -> String {
        let output = self
            .psql_command(ADMIN, database, sql, true)
            .output()
            .expect("psql");
        assert!(
            output.status.success(),
            "psql as {ADMIN}: {sql}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs SQL as `role` over TCP with its password, as a client that bypasses
    /// runbook would: the whole output, failures included.
    pub fn psql(&self, role: &str, sql: &str) -> Output {
        self.psql_command(role, DATABASE, sql, false)
            .output()
            .expect("psql")
    }

    fn psql_command(&self, role: &str, database: &str, sql: &str, socket: bool) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        let host = if socket {
            self.path("sock")
        } else {
            "127.0.0.1".to_owned()
        };
        command
            .args(["-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", &host, "-p", &self.port.to_string()])
            .args(["-U", role, "-d", database, "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10");
        if socket && self.as_postgres {
            // The socket is the server's: root may use it as well; trust is local.
            command.env_remove("PGPASSWORD");
        }
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Immediate: the temp dir goes next; nothing in it is kept.
        let data = self.path("data");
        let path = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        };
        let _ = command
            .args(["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}
