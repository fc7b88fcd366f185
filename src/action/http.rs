//! The `http` action: one request, already rendered by the engine, sent with a
//! shared client, and its response read into a [`Response`] that expectations
//! (`expect.rs`) and templates (`steps.<id>.json`, …) can look at.
//!
//! Two choices differ from a browser's and are deliberate:
//! - Redirects are **not** followed. A runbook's check is evidence; a `302` to a
//!   login page that answers `200` must not pass as "the endpoint is up". The 3xx
//!   is reported as it is, and `expect.status` can accept it when intended.
//! - Failures are classified (refused, DNS, timeout, TLS, …) and every message
//!   names the URL exactly as the runbook gave it, so the engine's redactor can
//!   mask a secret inside it. Header values are never part of a message: the
//!   bearer token travels there.
//!
//! [`send_patiently`] waits out `429 Too Many Requests` as the server asks
//! (`Retry-After`), which is what fan-out over a rate-limited API needs.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use super::connections::Refused;
use super::tls::{self, Certificate, Connection};
use crate::document::model::Method;

/// How long to wait for a TCP (and TLS) connection before giving up. A service
/// that does not accept a connection in this time is down, whatever the step's
/// own timeout says.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a response body kept. Evidence is a status and a JSON document,
/// not a download; a runaway body must not exhaust memory.
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How long to wait after a `429` that does not say (`Retry-After` absent or
/// unreadable).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The shortest wait after a `429`, even when the server says `Retry-After: 0`:
/// retrying in a tight loop against a rate limiter only deepens the hole.
const MIN_RETRY_AFTER: Duration = Duration::from_millis(100);

/// How long a step without `timeout` waits out `429`s (an HTTP step, each
/// attempt of it, and a whole fan-out): a server that answers `429` forever must
/// not hold a run forever. Documented in the README.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(5 * 60);

/// A `429` that [`send_patiently`] met: how long it asks to wait, the
/// `Retry-After` it sent, and whether that wait is sat out (`false`: it ends
/// past the deadline, so the `429` is returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub wait: Duration,
    pub retry_after: Option<String>,
    pub waiting: bool,
}

/// One request, every template already rendered.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Sent as given; also the URL every error message names.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Sent as `Authorization: Bearer …`, replacing any `Authorization` header.
    pub bearer: Option<String>,
    /// A JSON body (with `Content-Type: application/json` unless a header sets
    /// one). `validate` refuses `json` together with `body`; should both arrive,
    /// `json` is sent.
    pub json: Option<serde_json::Value>,
    pub body: Option<String>,
    /// The whole exchange: connecting, sending, and reading the body.
    pub timeout: Duration,
    /// The step's own TLS files and addresses (`tls`, `resolve`); the default
    /// connects as the run's shared client does.
    pub connection: Connection,
}

impl Request {
    /// `GET https://…`: what the step acts on, as the plan shows it — the URL
    /// as it goes on the wire (`x y` becomes `x%20y`, as the URL parser the
    /// request is sent with makes it), or as written when it does not parse
    /// (sending it then fails, saying why).
    pub fn target(&self) -> String {
        // A host the parser turned into punycode (`‹item›` in a fan-out's
        // plan, a name in Unicode) reads better as written.
        let punycoded = |url: &reqwest::Url| {
            url.host_str().is_some_and(|host| host.contains("xn--")) && !self.url.contains("xn--")
        };
        let url = parse_url(&self.url)
            .ok()
            .filter(|url| !punycoded(url))
            .map_or_else(
                || self.url.clone(),
                // The plan's placeholders (`‹inputs.name›`) stay readable rather
                // than shown as the bytes they would be sent as.
                |url| {
                    url.as_str()
                        .replace("%E2%80%B9", "\u{2039}")
                        .replace("%E2%80%BA", "\u{203a}")
                },
            );
        format!("{} {url}", self.method.as_str())
    }

    /// The rest of what is sent, a line each, as the plan shows it: headers,
    /// the bearer token, the body, and how long the exchange may take.
    pub fn details(&self) -> Vec<String> {
        let mut details: Vec<String> = self
            .headers
            .iter()
            .map(|(name, value)| format!("header {name}: {value}"))
            .collect();
        details.extend(self.bearer.iter().map(|bearer| format!("bearer {bearer}")));
        details.extend(self.json.iter().map(|json| format!("json {json}")));
        details.extend(self.body.iter().map(|body| format!("body {body}")));
        details.extend(self.connection.details());
        details.push(format!(
            "request timeout {}",
            humantime::format_duration(self.timeout)
        ));
        details
    }

    /// A `GET` of `url` with no headers or body.
    pub fn get(url: impl Into<String>, timeout: Duration) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            bearer: None,
            json: None,
            body: None,
            timeout,
            connection: Connection::default(),
        }
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    /// Lower-case names; a header sent several times has its values joined by `, `.
    pub headers: BTreeMap<String, String>,
    /// The body as text (invalid UTF-8 replaced by `�`).
    pub body: String,
    /// The body parsed as JSON, whatever the `Content-Type` said; `None` when it
    /// is empty or not JSON.
    pub json: Option<serde_json::Value>,
    /// From sending the request to having read the whole body.
    pub elapsed_ms: u64,
    /// The certificate an HTTPS server presented (`None` over plain HTTP), or
    /// why it could not be read.
    pub tls: Option<Result<Certificate, String>>,
}

/// Which timeout expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// [`CONNECT_TIMEOUT`]: no connection could be made.
    Connect,
    /// The request's own `timeout`: connected, but the whole response did not
    /// arrive in time.
    Request,
}

/// Why a request got no response. Each message names the method and the URL as
/// given; none holds a header value.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("`{url}` is not a URL runbook can request: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A header name or value that HTTP cannot carry (a newline in a token, …).
    /// Only the name is said: the value may be a secret.
    #[error("{} {url}: header `{name}` cannot be sent: {reason}", method.as_str())]
    InvalidHeader {
        method: Method,
        url: String,
        name: String,
        reason: &'static str,
    },

    #[error("{} {url}: cannot resolve the host name ({detail})", method.as_str())]
    Dns {
        method: Method,
        url: String,
        detail: String,
    },

    #[error("{} {url}: connection refused", method.as_str())]
    Refused { method: Method, url: String },

    #[error("{} {url}: {}", method.as_str(), timeout_text(*kind, *after))]
    Timeout {
        method: Method,
        url: String,
        kind: TimeoutKind,
        after: Duration,
    },

    #[error("{} {url}: TLS handshake failed ({detail})", method.as_str())]
    Tls {
        method: Method,
        url: String,
        detail: String,
    },

    #[error(
        "{} {url}: the response body is larger than {} MiB, the most runbook reads",
        method.as_str(),
        MAX_BODY_BYTES / (1024 * 1024)
    )]
    BodyTooLarge { method: Method, url: String },

    /// The HTTP client could not be set up at all (no TLS backend, …).
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),

    #[error("{} {url}: {detail}", method.as_str())]
    Other {
        method: Method,
        url: String,
        detail: String,
    },
}

impl HttpError {
    /// What the operator can do about it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            HttpError::InvalidUrl { .. } => {
                Some("a URL starts with http:// or https:// and names a host")
            }
            HttpError::InvalidHeader { .. } => Some(
                "a header value cannot hold a line break; check the value or the input it comes from",
            ),
            HttpError::Dns { .. } => {
                Some("check the host name, and that this machine can resolve it")
            }
            HttpError::Refused { .. } => Some(
                "nothing accepts connections there: is the service running, on that host and port?",
            ),
            HttpError::Timeout {
                kind: TimeoutKind::Connect,
                ..
            } => Some("the host does not answer: check the address, a firewall or a VPN"),
            HttpError::Timeout {
                kind: TimeoutKind::Request,
                ..
            } => Some(
                "the server accepted the connection but answered too slowly; raise the step's `timeout` if that is expected",
            ),
            HttpError::Tls { .. } => Some(
                "check that the port speaks HTTPS (not plain HTTP) and that its certificate is valid for the host",
            ),
            HttpError::BodyTooLarge { .. } => {
                Some("point the step at an endpoint that returns less (a page, a filter)")
            }
            HttpError::Client(_) | HttpError::Other { .. } => None,
        }
    }
}

fn timeout_text(kind: TimeoutKind, after: Duration) -> String {
    let after = humantime::format_duration(after);
    match kind {
        TimeoutKind::Connect => format!("could not connect within {after} (the connect timeout)"),
        TimeoutKind::Request => {
            format!("no complete response within {after} (the request timeout)")
        }
    }
}

/// The client a run shares for all its requests (connections are pooled): rustls
/// with the Mozilla roots, a [`CONNECT_TIMEOUT`], a `runbook/<version>` user
/// agent, proxies from the environment as reqwest reads them, no redirects.
///
/// Build one per run and clone it (a clone shares the pool); a client is tied to
/// the tokio runtime its connections were made on.
pub fn client() -> Result<reqwest::Client, HttpError> {
    client_builder()
        .build()
        .map_err(|error| HttpError::Client(cause_text(&error)))
}

/// The settings every client has; a step with its own TLS files or
/// addresses builds its client from these too (`tls.rs`). The served
/// certificate is kept, for `steps.<id>.tls`.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("runbook/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .tls_info(true)
}

/// Sends `request` and reads the whole response.
pub async fn send(client: &reqwest::Client, request: &Request) -> Result<Response, HttpError> {
    let url = parse_url(&request.url)?;
    let headers = headers(request)?;
    let build = || {
        let builder = client
            .request(reqwest_method(request.method), url.clone())
            .headers(headers.clone())
            .timeout(request.timeout);
        if let Some(json) = &request.json {
            builder.json(json)
        } else if let Some(body) = &request.body {
            builder.body(body.clone())
        } else {
            builder
        }
    };

    let started = std::time::Instant::now();
    let mut refusals = 0;
    let mut response = loop {
        match build().send().await {
            Ok(response) => break response,
            // A fan-out lane's connection is still on its way back to the
            // pool; nothing was sent, so sending again is safe.
            Err(error) => match Refused::in_error(&error) {
                Some(refused) => refused.wait(&mut refusals, started.into()).await,
                None => return Err(classify(&error, request)),
            },
        }
    };
    let status = response.status().as_u16();
    let headers = response_headers(response.headers());
    let served = response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(reqwest::tls::TlsInfo::peer_certificate)
        .map(|der| Certificate::read(der, SystemTime::now()));

    // A declared length over the cap fails before anything is read.
    if response
        .content_length()
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
    {
        return Err(too_large(request));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| classify(&error, request))?
    {
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large(request));
        }
        bytes.extend_from_slice(&chunk);
    }
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

    let body = String::from_utf8_lossy(&bytes).into_owned();
    let json = if body.trim().is_empty() {
        None
    } else {
        serde_json::from_str(&body).ok()
    };
    Ok(Response {
        status,
        headers,
        body,
        json,
        elapsed_ms,
        tls: served,
    })
}

/// Like [`send`], but a `429 Too Many Requests` is waited out and retried: the
/// server said "later", not "no". It waits what `Retry-After` says (seconds or
/// an HTTP date; 1 s when absent), never past `deadline`: when the next attempt
/// could not start before it, the `429` is returned as the response.
///
/// Returns the response and how many `429`s were waited out; `on_429` hears of
/// each `429`, so the wait can be shown. `deadline` is tokio's `Instant`; a
/// `std::time::Instant` converts with `.into()`.
pub async fn send_patiently(
    client: &reqwest::Client,
    request: &Request,
    deadline: Instant,
    mut on_429: impl FnMut(&Throttled),
) -> Result<(Response, u32), HttpError> {
    let mut waited = 0u32;
    loop {
        let response = send(client, request).await?;
        if response.status != 429 {
            return Ok((response, waited));
        }
        let header = response.headers.get("retry-after").cloned();
        let wait = header
            .as_deref()
            .and_then(|value| retry_after(value, SystemTime::now()))
            .unwrap_or(DEFAULT_RETRY_AFTER)
            .max(MIN_RETRY_AFTER);
        let retry_at = Instant::now()
            .checked_add(wait)
            .filter(|at| *at <= deadline);
        on_429(&Throttled {
            wait,
            retry_after: header,
            waiting: retry_at.is_some(),
        });
        match retry_at {
            Some(retry_at) => {
                tokio::time::sleep_until(retry_at).await;
                waited = waited.saturating_add(1);
            }
            None => return Ok((response, waited)),
        }
    }
}

/// How long a `Retry-After` value asks to wait, measured from `now`: either
/// delay-seconds or an HTTP date (IMF-fixdate, the form servers send). A date in
/// the past means no wait. `None` when the value is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 §5.6.7).
/// The two obsolete date forms are not accepted; an unreadable `Retry-After`
/// falls back to the default wait, which is harmless.
fn http_date(text: &str) -> Option<SystemTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let parts: Vec<&str> = text.split_ascii_whitespace().collect();
    let [weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    weekday.strip_suffix(',')?;
    let day: u64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let month = MONTHS.iter().position(|m| m == month)?;
    let year: i64 = year.parse().ok().filter(|y| *y >= 1970)?;
    let mut clock = time.split(':').map(|n| n.parse::<u64>().ok());
    let (Some(Some(hour)), Some(Some(minute)), Some(Some(second)), None) =
        (clock.next(), clock.next(), clock.next(), clock.next())
    else {
        return None;
    };
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_since_epoch(year, month, day)?;
    let seconds = days
        .checked_mul(86_400)?
        .checked_add(hour * 3600 + minute * 60 + second)?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Days from 1970-01-01 to the given date (`month` 0-based), by the civil-calendar
/// algorithm of Howard Hinnant's `days_from_civil`.
fn days_since_epoch(year: i64, month: usize, day: u64) -> Option<u64> {
    let month = i64::try_from(month).ok()? + 1;
    let day = i64::try_from(day).ok()?;
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    u64::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

fn parse_url(given: &str) -> Result<reqwest::Url, HttpError> {
    let invalid = |reason: String| HttpError::InvalidUrl {
        url: given.to_owned(),
        reason,
    };
    let url = reqwest::Url::parse(given).map_err(|error| invalid(error.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme is `{}`, not http or https",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host".to_owned()));
    }
    Ok(url)
}

fn headers(request: &Request) -> Result<HeaderMap, HttpError> {
    let invalid = |name: &str, reason| HttpError::InvalidHeader {
        method: request.method,
        url: request.url.clone(),
        name: name.to_owned(),
        reason,
    };
    let mut map = HeaderMap::new();
    for (name, value) in &request.headers {
        let header = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| invalid(name, "not a valid header name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            invalid(
                name,
                "the value holds a character HTTP headers cannot carry",
            )
        })?;
        // Any header may carry a credential (`X-Api-Key`, `Cookie`); keep them all
        // out of the HTTP stack's debug output.
        value.set_sensitive(true);
        map.append(header, value);
    }
    if let Some(token) = &request.bearer {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            invalid(
                "Authorization",
                "the bearer token holds a character HTTP headers cannot carry",
            )
        })?;
        value.set_sensitive(true);
        map.insert(AUTHORIZATION, value);
    }
    // reqwest computes the length of the body it sends; a stale one from the
    // runbook would corrupt the request.
    map.remove(CONTENT_LENGTH);
    Ok(map)
}

fn reqwest_method(method: Method) -> reqwest::Method {
    match method {
        Method::Get => reqwest::Method::GET,
        Method::Head => reqwest::Method::HEAD,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        Method::Options => reqwest::Method::OPTIONS,
    }
}

fn response_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

fn too_large(request: &Request) -> HttpError {
    HttpError::BodyTooLarge {
        method: request.method,
        url: request.url.clone(),
    }
}

/// Sorts a reqwest failure into the cases an operator tells apart. reqwest says
/// only "connect" or "timeout"; the cause chain (hyper, the resolver, rustls, the
/// OS) says which.
fn classify(error: &reqwest::Error, request: &Request) -> HttpError {
    let method = request.method;
    let url = request.url.clone();
    if error.is_timeout() {
        let (kind, after) = if error.is_connect() {
            (TimeoutKind::Connect, CONNECT_TIMEOUT.min(request.timeout))
        } else {
            (TimeoutKind::Request, request.timeout)
        };
        return HttpError::Timeout {
            method,
            url,
            kind,
            after,
        };
    }
    // A refused handshake can surface after connecting (TLS 1.3 servers
    // judge a client certificate then), so it is looked for first.
    if let Some(failure) = tls::rustls_error(error) {
        return HttpError::Tls {
            method,
            url,
            detail: tls::handshake_failure(failure),
        };
    }
    let detail = cause_text(error);
    if error.is_connect() {
        let io_kinds: Vec<std::io::ErrorKind> = causes(error)
            .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
            .flat_map(io_kinds)
            .collect();
        if io_kinds.contains(&std::io::ErrorKind::ConnectionRefused) {
            return HttpError::Refused { method, url };
        }
        if causes(error).any(|cause| cause.to_string() == "dns error") {
            return HttpError::Dns {
                method,
                url,
                detail,
            };
        }
        // hyper-rustls reports a failed handshake as an `InvalidData` I/O error
        // wrapping rustls's; nothing else in connecting an https URL does.
        if io_kinds.contains(&std::io::ErrorKind::InvalidData) {
            return HttpError::Tls {
                method,
                url,
                detail,
            };
        }
    }
    HttpError::Other {
        method,
        url,
        detail,
    }
}

/// The kinds of an I/O error and of the I/O errors it wraps. hyper-rustls wraps
/// rustls's error in an `InvalidData` I/O error inside an `Other` one, and an I/O
/// error's `source()` skips the error it wraps, so the chain alone never shows
/// the `InvalidData`.
fn io_kinds(error: &std::io::Error) -> Vec<std::io::ErrorKind> {
    let mut kinds = vec![error.kind()];
    let mut inner = error.get_ref();
    while let Some(wrapped) = inner.and_then(|e| e.downcast_ref::<std::io::Error>()) {
        kinds.push(wrapped.kind());
        inner = wrapped.get_ref();
    }
    kinds
}

/// The error's causes, outermost first, the error itself excluded.
fn causes<'e>(
    error: &'e (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |cause| (*cause).source())
}

/// The innermost cause, which says what actually happened ("Connection refused",
/// "received corrupt message …"); the wrappers above it only say where
/// ("client error (Connect)"), and reqwest's own repeats the URL in its
/// normalised form, past the redactor's reach.
fn cause_text(error: &reqwest::Error) -> String {
    let innermost = causes(error)
        .last()
        .map(ToString::to_string)
        .filter(|text| !text.is_empty());
    if let Some(text) = innermost {
        text
    } else {
        // No cause to quote: say what stage failed, in reqwest's terms.
        let stage = if error.is_builder() {
            "the request could not be built"
        } else if error.is_body() || error.is_decode() {
            "the response body could not be read"
        } else if error.is_redirect() {
            "a redirect could not be followed"
        } else {
            "the request failed"
        };
        stage.to_owned()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::Json;
    use axum::Router;
    use axum::http::{HeaderMap as AxumHeaders, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use serde_json::{Value, json};

    use super::*;

    /// Serves `router` on an ephemeral loopback port for the rest of the test.
    pub(crate) async fn serve(router: Router) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        address
    }

    pub(crate) fn test_client() -> reqwest::Client {
        client().expect("the HTTP client builds")
    }

    const TIMEOUT: Duration = Duration::from_secs(10);

    /// Echoes what arrived: method, the headers a test looks at, and the body.
    async fn echo(
        method: axum::http::Method,
        headers: AxumHeaders,
        body: String,
    ) -> impl IntoResponse {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let status = if method == axum::http::Method::POST {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (
            status,
            [("X-Echo", "yes"), ("X-Multi", "one")],
            Json(json!({
                "method": method.as_str(),
                "authorization": header("authorization"),
                "x_custom": header("x-custom"),
                "content_type": header("content-type"),
                "user_agent": header("user-agent"),
                "body": body,
            })),
        )
    }

    fn echo_router() -> Router {
        Router::new()
            .route("/echo", get(echo).post(echo).put(echo))
            .route(
                "/gone",
                axum::routing::delete(|| async { StatusCode::NO_CONTENT }),
            )
            .route("/text", get(|| async { "plain words" }))
            .route(
                "/moved",
                get(|| async { (StatusCode::FOUND, [("Location", "/echo")]) }),
            )
    }

    #[test]
    fn a_placeholder_host_is_shown_as_written_not_in_punycode() {
        let request = Request::get("https://\u{2039}item\u{203a}:8443/x y", TIMEOUT);
        assert_eq!(
            request.target(),
            "GET https://\u{2039}item\u{203a}:8443/x y"
        );
        let plain = Request::get("https://a.test/x y", TIMEOUT);
        assert_eq!(plain.target(), "GET https://a.test/x%20y");
    }

    #[test]
    fn the_plan_details_name_the_tls_files_and_addresses_but_no_content() {
        let mut request = Request::get("https://a.test/", TIMEOUT);
        request.connection = Connection {
            ca: Some("pki/ca.pem".into()),
            cert: Some("pki/me.pem".into()),
            key: Some("pki/me-key.pem".into()),
            resolve: vec![("a.test".into(), "127.0.0.1".into())],
            url_host: None,
        };
        let details = request.details();
        assert!(
            details
                .contains(&"tls ca pki/ca.pem (trusted instead of the built-in roots)".to_owned()),
            "{details:?}"
        );
        assert!(
            details.contains(&"tls client certificate pki/me.pem (key pki/me-key.pem)".to_owned()),
            "{details:?}"
        );
        assert!(
            details.contains(&"resolve a.test to 127.0.0.1".to_owned()),
            "{details:?}"
        );
    }

    #[tokio::test]
    async fn get_sends_headers_and_bearer_and_reads_json() {
        let address = serve(echo_router()).await;
        let mut request = Request::get(format!("http://{address}/echo"), TIMEOUT);
        request.headers = vec![("X-Custom".into(), "custom value".into())];
        request.bearer = Some("s3cr3t-token".into());

        let response = send(&test_client(), &request).await.expect("a response");

        assert_eq!(response.status, 200);
        let json = response.json.expect("a JSON body");
        assert_eq!(json["method"], "GET");
        assert_eq!(json["authorization"], "Bearer s3cr3t-token");
        assert_eq!(json["x_custom"], "custom value");
        assert_eq!(
            json["user_agent"],
            concat!("runbook/", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            response.headers.get("x-echo").map(String::as_str),
            Some("yes")
        );
        assert!(response.headers.contains_key("content-type"));
    }

    #[tokio::test]
    async fn post_sends_json_with_its_content_type() {
        let address = serve(echo_router()).await;
        let mut request = Request::get(format!("http://{address}/echo"), TIMEOUT);
        request.method = Method::Post;
        request.json = Some(json!({"name": "runbook", "count": 2}));

        let response = send(&test_client(), &request).await.expect("a response");

        assert_eq!(response.status, 201);
        let json = response.json.expect("a JSON body");
        assert_eq!(json["method"], "POST");
        assert_eq!(json["content_type"], "application/json");
        let sent: Value = serde_json::from_str(json["body"].as_str().unwrap_or_default())
            .expect("the server got JSON");
        assert_eq!(sent, json!({"name": "runbook", "count": 2}));
    }

    #[tokio::test]
    async fn put_sends_a_raw_body() {
        let address = serve(echo_router()).await;
        let mut request = Request::get(format!("http://{address}/echo"), TIMEOUT);
        request.method = Method::Put;
        request.headers = vec![("Content-Type".into(), "text/plain".into())];
        request.body = Some("KEY=value".into());

        let response = send(&test_client(), &request).await.expect("a response");

        let json = response.json.expect("a JSON body");
        assert_eq!(json["body"], "KEY=value");
        assert_eq!(json["content_type"], "text/plain");
    }

    #[tokio::test]
    async fn delete_with_an_empty_body_has_no_json() {
        let address = serve(echo_router()).await;
        let mut request = Request::get(format!("http://{address}/gone"), TIMEOUT);
        request.method = Method::Delete;

        let response = send(&test_client(), &request).await.expect("a response");

        assert_eq!(response.status, 204);
        assert_eq!(response.body, "");
        assert_eq!(response.json, None);
    }

    #[tokio::test]
    async fn a_text_body_is_kept_and_is_not_json() {
        let address = serve(echo_router()).await;
        let request = Request::get(format!("http://{address}/text"), TIMEOUT);

        let response = send(&test_client(), &request).await.expect("a response");

        assert_eq!(response.body, "plain words");
        assert_eq!(response.json, None);
    }

    #[tokio::test]
    async fn redirects_are_reported_not_followed() {
        let address = serve(echo_router()).await;
        let request = Request::get(format!("http://{address}/moved"), TIMEOUT);

        let response = send(&test_client(), &request).await.expect("a response");

        assert_eq!(response.status, 302);
        assert_eq!(
            response.headers.get("location").map(String::as_str),
            Some("/echo")
        );
    }

    #[tokio::test]
    async fn connection_refused_names_the_url() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let url = format!("http://127.0.0.1:{port}/health");
        let error = send(&test_client(), &Request::get(&url, TIMEOUT))
            .await
            .expect_err("nothing listens there");

        assert!(matches!(error, HttpError::Refused { .. }), "{error:?}");
        assert_eq!(error.to_string(), format!("GET {url}: connection refused"));
        assert!(error.help().is_some());
    }

    #[tokio::test]
    async fn a_slow_server_hits_the_request_timeout() {
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        );
        let address = serve(router).await;
        let url = format!("http://{address}/slow");
        let error = send(
            &test_client(),
            &Request::get(&url, Duration::from_millis(200)),
        )
        .await
        .expect_err("the server is too slow");

        assert!(
            matches!(
                error,
                HttpError::Timeout {
                    kind: TimeoutKind::Request,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("GET {url}: no complete response within 200ms (the request timeout)")
        );
    }

    #[tokio::test]
    async fn invalid_urls_are_refused_before_sending() {
        for url in [
            "not a url",
            "ftp://example.com/file",
            "http://",
            "/relative/path",
        ] {
            let error = send(&test_client(), &Request::get(url, TIMEOUT))
                .await
                .expect_err("not a usable URL");
            assert!(
                matches!(error, HttpError::InvalidUrl { .. }),
                "{url}: {error:?}"
            );
            assert!(error.to_string().contains(url), "{error}");
        }
    }

    #[tokio::test]
    async fn a_bad_header_is_named_but_its_value_is_not_shown() {
        let mut request = Request::get("http://127.0.0.1:9/", TIMEOUT);
        request.headers = vec![("X-Api-Key".into(), "abc\ndef-secret".into())];
        let error = send(&test_client(), &request)
            .await
            .expect_err("a newline cannot be sent");
        assert!(
            matches!(error, HttpError::InvalidHeader { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("X-Api-Key"), "{error}");
        assert!(!error.to_string().contains("secret"), "{error}");

        let mut request = Request::get("http://127.0.0.1:9/", TIMEOUT);
        request.bearer = Some("tok\r\nen-secret".into());
        let error = send(&test_client(), &request)
            .await
            .expect_err("a newline cannot be sent");
        assert!(error.to_string().contains("Authorization"), "{error}");
        assert!(!error.to_string().contains("secret"), "{error}");
    }

    #[tokio::test]
    async fn https_to_a_plain_http_port_is_a_tls_error() {
        let address = serve(echo_router()).await;
        let url = format!("https://{address}/echo");
        let error = send(&test_client(), &Request::get(&url, TIMEOUT))
            .await
            .expect_err("the port speaks plain HTTP");

        assert!(matches!(error, HttpError::Tls { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("GET {url}: TLS handshake failed (")),
            "{message}"
        );
    }

    #[tokio::test]
    async fn an_unresolvable_host_is_a_dns_error() {
        // `.invalid` never resolves (RFC 6761), whatever the network.
        let url = "http://runbook-test.invalid/health";
        let error = send(&test_client(), &Request::get(url, TIMEOUT))
            .await
            .expect_err("the host does not exist");

        assert!(matches!(error, HttpError::Dns { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("GET {url}: cannot resolve")),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_huge_body_is_refused() {
        let router = Router::new().route(
            "/declared",
            get(|| async { vec![b'x'; MAX_BODY_BYTES + 1] }),
        );
        let declared = serve(router).await;
        let streamed = serve_unsized_body(MAX_BODY_BYTES + 1).await;
        for url in [
            format!("http://{declared}/declared"),
            format!("http://{streamed}/streamed"),
        ] {
            let error = send(&test_client(), &Request::get(&url, TIMEOUT))
                .await
                .expect_err("over the cap");
            assert!(
                matches!(error, HttpError::BodyTooLarge { .. }),
                "{url}: {error:?}"
            );
            assert!(error.to_string().contains(&url), "{error}");
        }
    }

    /// A server that answers once with `size` bytes and no `Content-Length` (the
    /// body ends when the connection closes), so only counting can stop it.
    async fn serve_unsized_body(size: usize) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .await;
            let chunk = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < size {
                if socket.write_all(&chunk).await.is_err() {
                    return;
                }
                sent += chunk.len();
            }
        });
        address
    }

    /// Answers `429` with `Retry-After: 1` to the first `limited` requests, then `200`.
    fn rate_limited(limited: u32) -> (Router, Arc<AtomicU32>) {
        let calls = Arc::new(AtomicU32::new(0));
        let counter = Arc::clone(&calls);
        let router = Router::new().route(
            "/limited",
            get(move || {
                let counter = Arc::clone(&counter);
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) < limited {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("Retry-After", "1")],
                            "slow down",
                        )
                            .into_response()
                    } else {
                        Json(json!({"ok": true})).into_response()
                    }
                }
            }),
        );
        (router, calls)
    }

    #[tokio::test]
    async fn a_429_is_waited_out_and_counted() {
        let (router, calls) = rate_limited(1);
        let address = serve(router).await;
        let request = Request::get(format!("http://{address}/limited"), TIMEOUT);

        // The engine keeps std's clock; tokio's converts from it.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let (response, waited) = send_patiently(&test_client(), &request, deadline.into(), |_| {})
            .await
            .expect("a response");

        assert_eq!(response.status, 200);
        assert_eq!(waited, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_429_past_the_deadline_is_returned_without_waiting() {
        let (router, calls) = rate_limited(u32::MAX);
        let address = serve(router).await;
        let request = Request::get(format!("http://{address}/limited"), TIMEOUT);

        // Retry-After: 1 would end past this deadline, so no second attempt.
        let deadline = Instant::now() + Duration::from_millis(300);
        let (response, waited) = send_patiently(&test_client(), &request, deadline, |_| {})
            .await
            .expect("a response");

        assert_eq!(response.status, 429);
        assert_eq!(waited, 0);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means no wait"
        );
        assert_eq!(
            http_date("Thu, 29 Feb 2024 23:59:59 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_251_199))
        );
        for garbage in [
            "",
            "soon",
            "-5",
            "1.5",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(retry_after(garbage, now), None, "{garbage:?}");
        }
    }
}
