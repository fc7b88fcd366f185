//! Team state on a real PostgreSQL server (`--state`, `RUNBOOK_STATE_URL`,
//! `runbook state init`): each test starts a private cluster
//! (`pg_cluster`), with operators as database roles of their own, and drives
//! the built binary as separate processes — two operators, two "machines" (two
//! checkouts, two state directories).

use crate::pg_cluster::{ADMIN, Cluster, PASSWORD};
use crate::support::Test;

/// A cluster with the schema set up and the operators `alice` and `bob`.
fn team() -> Option<Cluster> {
    let cluster = Cluster::start()?;
    Test::new()
        .env("RUNBOOK_STATE_URL", &cluster.url(ADMIN))
        .args(["state", "init"])
        .status(0)
        .stdout_has("schema version 1 (it was at 0)");
    cluster.operator("alice");
    cluster.operator("bob");
    Some(cluster)
}

#[test]
fn state_init_is_idempotent_and_refuses_a_newer_schema() {
    let Some(cluster) = team() else { return };
    let again = Test::new()
        .env("RUNBOOK_STATE_URL", &cluster.url(ADMIN))
        .args(["state", "init"])
        .status(0);
    again.stdout_has("at schema version 1 already; nothing to do");
    assert!(!again.stdout.contains(PASSWORD), "{}", again.stdout);
    // A password on the command line is refused: `ps` would show it.
    Test::new()
        .args(["state", "init", &cluster.url(ADMIN)])
        .status(2)
        .stderr_has("RUNBOOK_STATE_URL");
    cluster.admin(
        "INSERT INTO runbook_schema_version (version) VALUES (99)",
        crate::pg_cluster::DATABASE,
    );
    let newer = Test::new()
        .env("RUNBOOK_STATE_URL", &cluster.url(ADMIN))
        .args(["state", "init"])
        .status(2);
    newer.stderr_has("schema version 99, this runbook knows up to 1");
}
