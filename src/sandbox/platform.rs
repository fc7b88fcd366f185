//! The simulated platform service ("ops-center" in the incident): it reads
//! `CLOUDFLARE_API_TOKEN` from its env file when it starts, and from then on uses
//! the token it *loaded*, whatever the file says now — like a real process whose
//! environment was fixed at start. That is the point of the simulation: only a
//! check that goes through the restarted service proves it uses the new token.
//!
//! Endpoints: `GET /health` (503 while restarting), `GET /api/cloudflare/zones`
//! (the Cloudflare DNS page's zone list, fetched upstream with the loaded token),
//! `GET /api/cloudflare/token/verify` (the loaded token checked upstream: its
//! Cloudflare id tells which token the service really uses), and
//! `POST /__sandbox/restart` (what `docker restart` is to the real one).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::log::{Pending, RequestLog, Service};

/// The key the platform reads from its env file.
pub const TOKEN_KEY: &str = "CLOUDFLARE_API_TOKEN";

/// Where the platform's restart is triggered.
pub const RESTART_PATH: &str = "/__sandbox/restart";

/// How the platform starts and restarts.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub env_file: PathBuf,
    /// The Cloudflare API it calls, e.g. `http://127.0.0.1:PORT/client/v4`.
    pub api_url: String,
    /// How long a restart keeps the service unhealthy.
    pub restart_delay: Duration,
    /// The scenario where a restart does not pick up the changed env file (the
    /// service reads another file than the one the operator changed).
    pub keep_old_token_on_restart: bool,
}

/// The platform's router. `client` makes the upstream calls; it must be used
/// inside the runtime that serves the router.
pub fn router(config: PlatformConfig, client: reqwest::Client, log: RequestLog) -> Router {
    let token = load_token(&config.env_file);
    let state = Arc::new(PlatformState {
        config,
        client,
        log,
        token: Mutex::new(token),
        restarts: AtomicU64::new(0),
        restarting: Mutex::new(None),
    });
    Router::new()
        .route("/health", get(health))
        .route("/api/cloudflare/zones", get(zones))
        .route("/api/cloudflare/token/verify", get(verify_token))
        .route(RESTART_PATH, post(restart))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&state), logged))
        .with_state(state)
}

struct PlatformState {
    config: PlatformConfig,
    client: reqwest::Client,
    log: RequestLog,
    /// The token loaded at the last (re)start; `None` when the file had none.
    token: Mutex<Option<String>>,
    restarts: AtomicU64,
    /// The restart in progress, by number: only the latest one may finish, so
    /// two restarts in a row keep the service down until the second is done.
    restarting: Mutex<Option<u64>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a single assignment or read, so poisoned data is whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PlatformState {
    fn is_restarting(&self) -> bool {
        lock(&self.restarting).is_some()
    }

    fn loaded_token(&self) -> Option<String> {
        lock(&self.token).clone()
    }
}

async fn logged(State(state): State<Arc<PlatformState>>, request: Request, next: Next) -> Response {
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |p| p.as_str().to_owned(),
    );
    let pending = Pending::new(
        Service::Platform,
        request.method().as_str(),
        &path,
        request.headers(),
    );
    let response = next.run(request).await;
    state.log.finish(pending, response.status().as_u16());
    response
}

async fn health(State(state): State<Arc<PlatformState>>) -> Response {
    if state.is_restarting() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "restarting"})),
        )
            .into_response()
    } else {
        Json(json!({"status": "ok"})).into_response()
    }
}

/// What a request gets while the service is down for a restart.
fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "success": false,
            "errors": [{"code": 503, "message": "The platform service is restarting"}],
        })),
    )
        .into_response()
}

/// The Cloudflare DNS page's zone list. Fewer than 50 zones are seeded, so one
/// upstream page of 50 is all of them.
async fn zones(State(state): State<Arc<PlatformState>>) -> Response {
    upstream(&state, "/zones?per_page=50", "Failed to load zones").await
}

/// Checks the loaded token upstream; `result.id` names the token in use.
async fn verify_token(State(state): State<Arc<PlatformState>>) -> Response {
    upstream(
        &state,
        "/user/tokens/verify",
        "Failed to verify the Cloudflare API token",
    )
    .await
}

/// Calls the API with the loaded token: its envelope on success, otherwise `502`
/// carrying the upstream errors, like the platform in the incident ("Failed to
/// load zones").
async fn upstream(state: &PlatformState, path: &str, failure: &str) -> Response {
    if state.is_restarting() {
        return unavailable();
    }
    let mut request = state.client.get(format!("{}{path}", state.config.api_url));
    if let Some(token) = state.loaded_token() {
        request = request.bearer_auth(token);
    }
    let errors = match request.send().await {
        Ok(response) => {
            let status = response.status();
            let body = response.json::<Value>().await;
            match body {
                Ok(body) if status.is_success() => return (StatusCode::OK, Json(body)).into_response(),
                Ok(body) => body
                    .get("errors")
                    .filter(|errors| errors.is_array())
                    .cloned()
                    .unwrap_or_else(|| json!([{"code": status.as_u16(), "message": "Cloudflare answered without an error list"}])),
                Err(_) => json!([{"code": status.as_u16(), "message": "Cloudflare answered with a body that is not JSON"}]),
            }
        }
        // reqwest's message names the URL, never the bearer token.
        Err(error) => {
            json!([{"code": 502, "message": format!("Cloudflare API unreachable: {error}")}])
        }
    };
    (
        StatusCode::BAD_GATEWAY,
        Json(json!({"success": false, "errors": errors, "message": failure})),
    )
        .into_response()
}

/// Takes the service down at once (so the caller's next health check sees it
/// down), then brings it back after the configured delay with the env file
/// read again — unless the scenario says the restart misses the change.
async fn restart(State(state): State<Arc<PlatformState>>) -> Response {
    let number = state.restarts.fetch_add(1, Ordering::SeqCst) + 1;
    *lock(&state.restarting) = Some(number);
    let background = Arc::clone(&state);
    tokio::spawn(async move {
        tokio::time::sleep(background.config.restart_delay).await;
        let mut restarting = lock(&background.restarting);
        if *restarting == Some(number) {
            if !background.config.keep_old_token_on_restart {
                *lock(&background.token) = load_token(&background.config.env_file);
            }
            *restarting = None;
        }
    });
    Json(json!({"status": "restarting", "restart": number})).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"success": false, "errors": [{"code": 404, "message": "Not found"}]})),
    )
        .into_response()
}

/// The token in the env file, or `None` when the file cannot be read or lacks it
/// (the service then starts unconfigured, as a real one would).
pub fn load_token(env_file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(env_file).ok()?;
    dotenv_value(&text, TOKEN_KEY).filter(|value| !value.is_empty())
}

/// The value of `key` in dotenv text: `KEY=value`, an optional `export `, single
/// or double quotes, `#` comments. Deliberately not the engine's parser, so the
/// sandbox is an independent witness of what the engine writes. The last
/// assignment wins, as it does when a shell sources the file.
pub fn dotenv_value(text: &str, key: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let (name, value) = line.split_once('=')?;
        (name.trim() == key).then(|| unquote(value.trim()))
    })
}

fn unquote(value: &str) -> String {
    if let Some(rest) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => break,
                },
                other => out.push(other),
            }
        }
        out
    } else if let Some(rest) = value.strip_prefix('\'') {
        rest.split('\'').next().unwrap_or_default().to_owned()
    } else {
        // An unquoted value ends where a ` #` comment starts.
        value
            .split(" #")
            .next()
            .unwrap_or_default()
            .trim_end()
            .to_owned()
    }
}
