//! A fan-out keeps to its `concurrency` in connections, not only in requests
//! (SPEC: "never exceeds concurrency requests in flight"; README Speed: 16
//! connections reused for `concurrency: 16`), against a server whose listen
//! queue is short, so that connections opened in a hurry are the ones that
//! wait and lose the race to a connection coming back.

use std::time::Duration;

use serde_json::json;

use super::server::{Reply, Server};
use super::{Work, with_base};
use crate::loopback::Setup;

const ITEMS: usize = 200;
const CONCURRENCY: usize = 16;
const ROUNDS: usize = 4;

#[test]
fn a_fan_out_opens_at_most_its_concurrency_in_connections_and_reuses_them() {
    let server = Server::start_with(Setup {
        workers: 1,
        backlog: 4,
        accept_pause: Duration::from_millis(3),
    });
    server.route(
        "GET",
        "/item",
        // A body larger than one read, so a connection goes back to the
        // client's pool only after the item that used it has finished.
        Reply::json(200, json!({ "padding": "x".repeat(48 * 1024) }))
            .delay(Duration::from_millis(15)),
    );
    let work = Work::new();
    work.write(
        "fan.yaml",
        with_base(
            &format!(
                r#"runbook: fan
steps:
  - id: items
    for_each: "{{{{ range({ITEMS}) | list }}}}"
    concurrency: {CONCURRENCY}
    http: {{ url: "@BASE@/item?n={{{{ item }}}}" }}
    expect: {{ status: 200 }}
"#
            ),
            &server,
        ),
    );
    for round in 1..=ROUNDS {
        work.runbook(["run", "fan.yaml"]).status(0);
        // The run's connections close with its process; the next round starts
        // from none, so the most open at once is one run's.
        server
            .connections()
            .wait_all_closed(Duration::from_secs(10));
        assert_eq!(server.count("GET", "/item"), ITEMS * round);
    }
    let connections = server.connections();
    assert!(
        connections.max_open() <= CONCURRENCY,
        "{} connections open at once for concurrency {CONCURRENCY}",
        connections.max_open()
    );
    // Reused: each run opens its connections once, not one per item.
    assert!(
        connections.accepted() <= ROUNDS * CONCURRENCY,
        "{} connections accepted for {ROUNDS} runs of {ITEMS} items",
        connections.accepted()
    );
}
