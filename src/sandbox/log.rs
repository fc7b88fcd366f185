//! The sandbox's request log: every request either server answered, in the order
//! the answers went out, shared by both servers, the tests and the demo.
//!
//! It is a witness for the order of events ("the old token was deleted only after
//! the platform proved it works"), so it must be safe to print and to serve: a
//! token appears only as its last four characters, like the engine masks secrets.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde::Serialize;

/// Which of the sandbox's servers answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    /// The simulated Cloudflare API.
    Api,
    /// The simulated platform service.
    Platform,
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// Position in the log, from 0: the order the responses were sent in.
    pub seq: u64,
    pub service: Service,
    pub method: String,
    /// The path with its query string, as the client sent it.
    pub path: String,
    /// The last four characters of the bearer token, if one was sent — never more.
    pub token_last4: Option<String>,
    pub status: u16,
    /// When the request arrived, in milliseconds since the sandbox started.
    pub at_ms: u64,
    /// How long answering took, in milliseconds.
    pub elapsed_ms: u64,
}

/// The shared log; cloning shares it.
#[derive(Debug, Clone)]
pub struct RequestLog {
    started: Instant,
    entries: Arc<Mutex<Vec<LoggedRequest>>>,
}

/// A request on its way through a server, logged when its answer is known.
#[derive(Debug)]
pub struct Pending {
    service: Service,
    method: String,
    path: String,
    token_last4: Option<String>,
    arrived: Instant,
}

impl Pending {
    /// Notes a request as it arrives; [`RequestLog::finish`] logs it.
    pub fn new(service: Service, method: &str, path: &str, headers: &HeaderMap) -> Pending {
        Pending {
            service,
            method: method.to_owned(),
            path: path.to_owned(),
            token_last4: bearer(headers).map(last4),
            arrived: Instant::now(),
        }
    }
}

impl RequestLog {
    pub fn new() -> RequestLog {
        RequestLog {
            started: Instant::now(),
            entries: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Logs a request with the status it was answered with.
    pub fn finish(&self, pending: Pending, status: u16) {
        let mut entries = self.lock();
        let seq = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        entries.push(LoggedRequest {
            seq,
            service: pending.service,
            method: pending.method,
            path: pending.path,
            token_last4: pending.token_last4,
            status,
            at_ms: millis(pending.arrived.saturating_duration_since(self.started)),
            elapsed_ms: millis(pending.arrived.elapsed()),
        });
    }

    /// Every request logged so far, oldest first.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<LoggedRequest>> {
        // A panic elsewhere while holding the lock leaves a log that is still a
        // list of complete entries, so keep serving it.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for RequestLog {
    fn default() -> Self {
        RequestLog::new()
    }
}

/// The credential of an `Authorization` header, whatever its scheme or shape, so
/// that even a malformed one is logged masked.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let credential = value.split_once(' ').map_or(value, |(_, rest)| rest).trim();
    (!credential.is_empty()).then_some(credential)
}

/// The last four characters — or nothing, when that would be the whole value.
fn last4(credential: &str) -> String {
    if credential.chars().count() <= 4 {
        String::new()
    } else {
        crate::template::last4(credential)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
