//! A loopback HTTP server that records every request whole — method, path and
//! query, headers, body — and answers `METHOD /path` from a script (404 with
//! `{}` otherwise): the other side of what `plan --probe` and `run` send, for
//! tests that must see exactly what went out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;

use crate::loopback::{Loopback, Setup};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    /// `METHOD /path`, without the query.
    pub fn line(&self) -> String {
        let path = self.target.split('?').next().unwrap_or_default();
        format!("{} {path}", self.method)
    }
}

/// What the server answers, by `METHOD /path`: a status and a JSON body.
type Script = BTreeMap<String, (u16, String)>;

type Shared = (Arc<Mutex<Vec<Seen>>>, Arc<Mutex<Script>>);

pub struct Server {
    pub address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<Script>>,
    /// Serving until the server is dropped.
    _loopback: Loopback,
}

impl Server {
    /// A server answering `routes` (`("GET /health", 200, json!({}))`).
    pub fn start(routes: &[(&str, u16, Value)]) -> Server {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(Script::new()));
        let state: Shared = (Arc::clone(&seen), Arc::clone(&script));
        let router = Router::new().fallback(answer).with_state(state);
        let loopback = Loopback::start(router, Setup::SINGLE);
        let server = Server {
            address: loopback.address,
            seen,
            script,
            _loopback: loopback,
        };
        for (key, status, body) in routes {
            server.answer_on(key, *status, body.to_string());
        }
        server
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Answers `key` (`METHOD /path`) with `status` and `body` from now on.
    pub fn answer_on(&self, key: &str, status: u16, body: String) {
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.to_owned(), (status, body));
    }

    /// What the server answers `key` with, if it is scripted.
    pub fn answer_for(&self, key: &str) -> Option<(u16, String)> {
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Every request so far, as `METHOD /path`.
    pub fn seen(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(Seen::line)
            .collect()
    }

    /// Every request since the last call, whole.
    pub fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

async fn answer(
    axum::extract::State((seen, script)): axum::extract::State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let request = Seen {
        method: method.to_string(),
        target: uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), ToString::to_string),
        headers,
        body,
    };
    let key = request.line();
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request);
    let answer = script
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    let (status, body) = answer.unwrap_or((404, "{}".to_owned()));
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}
