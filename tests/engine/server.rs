//! A scriptable loopback HTTP server for the engine tests, started by
//! [`crate::loopback`] so a plain `#[test]` can run the `runbook` binary
//! against it. It counts every request by method
//! and path, remembers them in arrival order, tracks how many were in flight at
//! once, and answers each path as the test scripted it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::loopback::{Connections, Loopback, Setup};

/// How one path answers.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    body: Value,
    delay: Duration,
    /// The first `throttled` requests get `429` with this `Retry-After`.
    throttled: usize,
    retry_after: String,
    /// The next `failing` requests (after the throttled ones) get `failing_status`.
    failing: usize,
    failing_status: u16,
    /// Answer with what the request carried instead of `body`.
    echo: bool,
}

impl Reply {
    /// `status` with an empty JSON object.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            body: json!({}),
            delay: Duration::ZERO,
            throttled: 0,
            retry_after: "1".to_owned(),
            failing: 0,
            failing_status: 503,
            echo: false,
        }
    }

    /// `status` with a JSON body.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            body,
            ..Reply::status(status)
        }
    }

    /// Answers with the request itself: `query`, `authorization`, `bearer_b64`
    /// (the bearer token base64-encoded) and `body`.
    pub fn echo(status: u16) -> Reply {
        Reply {
            echo: true,
            ..Reply::status(status)
        }
    }

    /// Waits this long before answering.
    #[must_use]
    pub fn delay(self, delay: Duration) -> Reply {
        Reply { delay, ..self }
    }

    /// The first `n` requests get `429 Too Many Requests` with `Retry-After: seconds`.
    #[must_use]
    pub fn throttle(self, n: usize, seconds: &str) -> Reply {
        Reply {
            throttled: n,
            retry_after: seconds.to_owned(),
            ..self
        }
    }

    /// The first `n` requests (after any throttled ones) get `status` instead.
    #[must_use]
    pub fn failing_first(self, n: usize, status: u16) -> Reply {
        Reply {
            failing: n,
            failing_status: status,
            ..self
        }
    }
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub body: String,
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Reply>>,
    counts: Mutex<HashMap<String, usize>>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// The running server; dropping it stops it.
pub struct Server {
    loopback: Loopback,
    shared: Arc<Shared>,
}

fn key(method: &str, path: &str) -> String {
    format!("{} {path}", method.to_ascii_uppercase())
}

impl Server {
    /// Starts a server that answers `404` to everything not scripted.
    pub fn start() -> Server {
        Server::start_with(Setup {
            workers: 2,
            ..Setup::SINGLE
        })
    }

    /// Like [`Server::start`], on a runtime and socket set up as `setup` says.
    pub fn start_with(setup: Setup) -> Server {
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        Server {
            loopback: Loopback::start(router, setup),
            shared,
        }
    }

    /// Scripts how `method path` answers (replacing any earlier script).
    pub fn route(&self, method: &str, path: &str, reply: Reply) -> &Server {
        lock(&self.shared.routes).insert(key(method, path), reply);
        self
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.loopback.address)
    }

    /// How many `method path` requests arrived.
    pub fn count(&self, method: &str, path: &str) -> usize {
        lock(&self.shared.counts)
            .get(&key(method, path))
            .copied()
            .unwrap_or(0)
    }

    /// How many requests arrived in all.
    pub fn total(&self) -> usize {
        lock(&self.shared.counts).values().sum()
    }

    /// Every request, in arrival order, as `METHOD /path`.
    pub fn order(&self) -> Vec<String> {
        lock(&self.shared.seen)
            .iter()
            .map(|s| key(&s.method, &s.path))
            .collect()
    }

    /// Every request, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.shared.seen).clone()
    }

    /// The most requests that were being answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The connections the server accepted.
    pub fn connections(&self) -> &Connections {
        &self.loopback.connections
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn answer(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let name = key(method.as_str(), &path);
    let nth = {
        let mut counts = lock(&shared.counts);
        let count = counts.entry(name.clone()).or_default();
        *count += 1;
        *count
    };
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let seen = Seen {
        method: method.as_str().to_owned(),
        path,
        query: uri.query().map(str::to_owned),
        authorization,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    lock(&shared.seen).push(seen.clone());
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = lock(&shared.routes).get(&name).cloned();
    let response = match reply {
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": format!("nothing scripted for {name}")})),
        )
            .into_response(),
        Some(reply) => {
            tokio::time::sleep(reply.delay).await;
            respond(&reply, nth, &seen)
        }
    };
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

fn respond(reply: &Reply, nth: usize, seen: &Seen) -> Response {
    let code = |n: u16| StatusCode::from_u16(n).expect("a valid status in the script");
    if nth <= reply.throttled {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("Retry-After", reply.retry_after.clone())],
            axum::Json(
                json!({"success": false, "errors": [{"code": 10000, "message": "rate limited"}]}),
            ),
        )
            .into_response();
    }
    if nth <= reply.throttled + reply.failing {
        return (
            code(reply.failing_status),
            axum::Json(json!({"success": false, "attempt": nth})),
        )
            .into_response();
    }
    let body = if reply.echo {
        let bearer = seen
            .authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default();
        json!({
            "query": seen.query,
            "authorization": seen.authorization,
            "bearer_b64": base64::engine::general_purpose::STANDARD.encode(bearer),
            "body": seen.body,
        })
    } else {
        reply.body.clone()
    };
    (code(reply.status), axum::Json(body)).into_response()
}
