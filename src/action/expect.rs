//! `expect:` on an HTTP response (the status, values at JSON paths, text matchers
//! on the body and headers) and on a finished command (exit codes, text matchers
//! on stdout and stderr, stdout read as JSON). [`check`] and [`check_command`]
//! return every [`Mismatch`], not just the first, and each one
//! reads like a Hurl assert failure — which path, what was expected, what came
//! back — so an operator sees why a step failed without re-running it by hand:
//!
//! ```text
//! status: expected 200, got 401
//! `result.status`: expected "active", got "disabled"
//! `result`: expected not empty, got []
//! `result.0.id`: expected to exist, got nothing (`result` has no element 0: it is empty)
//! body is not JSON, so `result.status` cannot be checked (got: <html>…)
//! stdout: expected "0", got "10"
//! ```
//!
//! The engine resolves the document's `Expect` (templates rendered, YAML values
//! turned into JSON) into an [`Expectation`]; nothing here reads YAML.

use std::fmt;

use regex::Regex;
use serde_json::Value;

mod path;
mod text;
#[cfg(test)]
mod text_tests;
mod tls;

pub use text::TextCheck;
pub use tls::TlsCheck;

use path::Lookup;

use super::command::CommandOutput;
use super::http::Response;
use crate::document::model::{Comparison, TlsField};

/// The most characters of a value shown in a message; an operator needs to
/// recognise it, not read it all.
const VALUE_CHARS: usize = 80;

/// The most characters of a body quoted when the body itself is the problem.
const BODY_CHARS: usize = 200;

/// What an expectation is checked against, which decides its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subject {
    /// An HTTP response: any `2xx` unless statuses are given.
    #[default]
    Http,
    /// A finished command: exit code 0 unless codes are given.
    Command,
}

/// What a response or a finished command must show, every template already
/// rendered. The plan shows it ([`Expectation::lines`]); the run and
/// `--probe` judge by it ([`check`], [`check_command`]).
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    pub subject: Subject,
    /// Accepted statuses; empty means any `2xx`.
    pub statuses: Vec<u16>,
    /// Dotted paths (`result.0.id`) and what the value there must satisfy, in
    /// the body or a command's stdout; the empty path is the whole document.
    pub json: Vec<(String, Check)>,
    pub body: Vec<TextCheck>,
    /// Lower-case header names, each with one rule.
    pub headers: Vec<(String, TextCheck)>,
    /// Accepted exit codes; empty means 0.
    pub exit_codes: Vec<i32>,
    pub stdout: Vec<TextCheck>,
    pub stderr: Vec<TextCheck>,
    /// Fields of the served certificate, each with one rule.
    pub tls: Vec<(TlsField, TlsCheck)>,
    /// The command's output is a secret: a failed check says what it expected,
    /// never what came back.
    pub secret_output: bool,
}

impl Expectation {
    /// Every check, one line each, as the plan shows them: `status 200`,
    /// `json result.status = "active"`, `exit code 0`, `stdout contains "ready"`.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        match self.subject {
            Subject::Http if self.statuses.is_empty() => lines.push("status 2xx".to_owned()),
            Subject::Http => {
                let statuses: Vec<String> = self.statuses.iter().map(u16::to_string).collect();
                lines.push(format!("status {}", statuses.join(" or ")));
            }
            Subject::Command => {
                lines.push(format!("exit code {}", exit_codes_text(&self.exit_codes)));
            }
        }
        for (path, check) in &self.json {
            let relation = relation(check);
            if path.is_empty() {
                lines.push(format!("json {relation}"));
            } else if path::has_every(path) {
                lines.push(format!(
                    "json {path} {relation} for each `*` (at least one)"
                ));
            } else {
                lines.push(format!("json {path} {relation}"));
            }
        }
        let texts = [
            ("stdout", &self.stdout),
            ("stderr", &self.stderr),
            ("body", &self.body),
        ];
        for (what, checks) in texts {
            lines.extend(
                checks
                    .iter()
                    .map(|check| format!("{what} {}", check.words())),
            );
        }
        for (name, check) in &self.headers {
            lines.push(format!("header {name} {}", check.words()));
        }
        lines.extend(
            self.tls
                .iter()
                .map(|(field, check)| format!("tls {} {}", field.key(), check.words())),
        );
        lines
    }
}

/// How a JSON value must relate, as the plan says it: `= "active"`, `≥ 30`.
fn relation(check: &Check) -> String {
    match check {
        Check::Equals(value) => format!("= {value}"),
        Check::NotEmpty(true) => "not empty".to_owned(),
        Check::NotEmpty(false) => "empty".to_owned(),
        Check::Exists(true) => "exists".to_owned(),
        Check::Exists(false) => "absent".to_owned(),
        Check::Compare(comparison, operand) => {
            let sign = match comparison {
                Comparison::Gt => ">",
                Comparison::Ge => "≥",
                Comparison::Lt => "<",
                Comparison::Le => "≤",
            };
            format!("{sign} {}", operand.text())
        }
        Check::Matches(regex) => format!("matches /{}/", regex.as_str()),
        Check::Len(length) => format!("has length {}", length.text()),
    }
}

/// Which document `json:` reads, as messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    Body,
    Stdout,
    /// The served certificate's fields (`expect.tls`).
    Tls,
}

impl Document {
    fn name(self) -> &'static str {
        match self {
            Document::Body => "body",
            Document::Stdout => "stdout",
            Document::Tls => "certificate",
        }
    }
}

/// `0`, or `0 or 3`.
fn exit_codes_text(codes: &[i32]) -> String {
    if codes.is_empty() {
        return "0".to_owned();
    }
    codes
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// One check on the value at a JSON path.
#[derive(Debug, Clone)]
pub enum Check {
    /// Equal as JSON, numbers by value (`1` equals `1.0`).
    Equals(Value),
    /// `true`: a non-empty string, list or object, or any number or boolean.
    /// `false`: `null`, `""`, `[]` or `{}`.
    NotEmpty(bool),
    /// `false` passes only when the path leads nowhere.
    Exists(bool),
    /// The value is a number and compares so with the operand.
    Compare(Comparison, Operand<f64>),
    /// The regex finds a match in the string (numbers and booleans are matched
    /// by their JSON text).
    Matches(Regex),
    /// Characters of a string, elements of a list, keys of an object.
    Len(Operand<u64>),
}

/// The number a check compares with. A plan or a report may show a template
/// that has not given one yet (`‹inputs.min_days›`, or the template as
/// written); a run never judges with one: rendering it fails the step first
/// (`eval::rendered`).
#[derive(Debug, Clone, PartialEq)]
pub enum Operand<T> {
    Known(T),
    Unknown(String),
}

impl<T> From<T> for Operand<T> {
    fn from(number: T) -> Self {
        Operand::Known(number)
    }
}

impl Operand<f64> {
    fn text(&self) -> String {
        match self {
            Operand::Known(number) => number_text(*number),
            Operand::Unknown(text) => text.clone(),
        }
    }
}

impl Operand<u64> {
    fn text(&self) -> String {
        match self {
            Operand::Known(number) => number.to_string(),
            Operand::Unknown(text) => text.clone(),
        }
    }
}

/// One way the response differs from the expectation. `Display` is the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// `expected` empty means "any 2xx" was expected.
    Status { expected: Vec<u16>, actual: u16 },
    /// The value at `path` fails its check; both sides are already worded.
    Json {
        document: Document,
        path: String,
        expected: String,
        actual: String,
    },
    /// JSON checks could not run at all: the body (or stdout) is not JSON.
    NotJson {
        document: Document,
        paths: Vec<String>,
        body: String,
    },
    /// A text rule failed on `what` (`stdout`, `body`, `header x-id`).
    Text {
        what: String,
        expected: String,
        actual: Got,
    },
    /// A command ended with another exit code (`None`: killed by a signal).
    ExitCode {
        expected: Vec<i32>,
        actual: Option<i32>,
    },
    /// `expect.tls` could not run: no certificate came (plain HTTP), or it
    /// could not be read.
    NoCertificate { fields: Vec<String>, why: String },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Status { expected, actual } => {
                write!(f, "status: expected ")?;
                match expected.as_slice() {
                    [] => write!(f, "2xx")?,
                    [one] => write!(f, "{one}")?,
                    many => {
                        let list: Vec<String> = many.iter().map(u16::to_string).collect();
                        write!(f, "one of {}", list.join(", "))?;
                    }
                }
                write!(f, ", got {actual}")
            }
            Mismatch::Json {
                document,
                path,
                expected,
                actual,
            } => write!(
                f,
                "{}: expected {expected}, got {actual}",
                path_label(*document, path)
            ),
            Mismatch::NotJson {
                document,
                paths,
                body,
            } => {
                let paths: Vec<String> = paths
                    .iter()
                    .map(|path| path_label(*document, path))
                    .collect();
                write!(
                    f,
                    "{} is not JSON, so {} cannot be checked ({})",
                    document.name(),
                    paths.join(", "),
                    quote_body(*document, body)
                )
            }
            Mismatch::Text {
                what,
                expected,
                actual,
            } => {
                write!(f, "{what}: expected {expected}, got ")?;
                match actual {
                    Got::Text(text) => f.write_str(text),
                    Got::Hidden => f.write_str("something else (not shown: the output is secret)"),
                    Got::Absent => f.write_str("no such header"),
                    Got::Cut => f.write_str(
                        "more than the first MiB runbook reads of it, so the whole text cannot be judged",
                    ),
                }
            }
            Mismatch::ExitCode {
                expected,
                actual: Some(code),
            } => write!(
                f,
                "exit code {code}, expected {}",
                exit_codes_text(expected)
            ),
            Mismatch::ExitCode {
                expected,
                actual: None,
            } => write!(
                f,
                "the command was killed by a signal, expected exit code {}",
                exit_codes_text(expected)
            ),
            Mismatch::NoCertificate { fields, why } => {
                let fields: Vec<String> = fields.iter().map(|f| format!("`tls.{f}`")).collect();
                write!(f, "{} cannot be checked: {why}", fields.join(", "))
            }
        }
    }
}

/// What came back, as a failed text rule says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// Already worded: a quoted excerpt, or that it was empty.
    Text(String),
    /// The output is secret.
    Hidden,
    /// No such header in the response.
    Absent,
    /// A command's stream was longer than runbook reads of it.
    Cut,
}

/// A path as messages name it; the empty path is the whole document.
fn path_label(document: Document, path: &str) -> String {
    if document == Document::Tls {
        format!("`tls.{path}`")
    } else if path.is_empty() {
        format!("the JSON {}", document.name())
    } else {
        format!("`{path}`")
    }
}

fn quote_body(document: Document, body: &str) -> String {
    if body.is_empty() {
        format!("got an empty {}", document.name())
    } else {
        format!("got: {body}")
    }
}

/// Every way `response` fails `expect`, in the order the runbook lists them
/// (status first); empty when it passes.
pub fn check(expect: &Expectation, response: &Response) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();

    let status_ok = if expect.statuses.is_empty() {
        (200..300).contains(&response.status)
    } else {
        expect.statuses.contains(&response.status)
    };
    if !status_ok {
        mismatches.push(Mismatch::Status {
            expected: expect.statuses.clone(),
            actual: response.status,
        });
    }

    check_json(
        expect,
        Document::Body,
        response.json.as_ref(),
        &response.body,
        &mut mismatches,
    );
    text::check_all(
        &expect.body,
        "body",
        Some(&response.body),
        true,
        &mut mismatches,
    );
    for (name, rule) in &expect.headers {
        let value = response.headers.get(name).map(String::as_str);
        text::check_all(
            std::slice::from_ref(rule),
            &format!("header {name}"),
            value,
            true,
            &mut mismatches,
        );
    }
    tls::check_all(&expect.tls, response.tls.as_ref(), &mut mismatches);
    mismatches
}

/// The `json:` checks on a document, or one mismatch saying it is not JSON.
fn check_json(
    expect: &Expectation,
    document: Document,
    parsed: Option<&Value>,
    text: &str,
    mismatches: &mut Vec<Mismatch>,
) {
    if expect.json.is_empty() {
        return;
    }
    let quote = !expect.secret_output;
    match parsed {
        Some(value) => {
            for (path, check) in &expect.json {
                if let Some(mut mismatch) = check_path(document, value, path, check) {
                    if let Mismatch::Json {
                        actual,
                        path: shown,
                        ..
                    } = &mut mismatch
                        && !quote
                    {
                        "something else (not shown: the output is secret)".clone_into(actual);
                        // A `*` names the element by its key, which is the
                        // output's too: the path as the runbook wrote it.
                        path.clone_into(shown);
                    }
                    mismatches.push(mismatch);
                }
            }
        }
        None => mismatches.push(Mismatch::NotJson {
            document,
            paths: expect.json.iter().map(|(path, _)| path.clone()).collect(),
            body: if quote {
                body_excerpt(text)
            } else {
                "not shown".to_owned()
            },
        }),
    }
}

/// Every way a finished command fails `expect`; empty when it passes.
pub fn check_command(expect: &Expectation, output: &CommandOutput) -> Vec<Mismatch> {
    let exit_code = output.exit_code;
    let mut mismatches = Vec::new();
    let code_ok = match exit_code {
        Some(code) if expect.exit_codes.is_empty() => code == 0,
        Some(code) => expect.exit_codes.contains(&code),
        None => false,
    };
    if !code_ok {
        mismatches.push(Mismatch::ExitCode {
            expected: expect.exit_codes.clone(),
            actual: exit_code,
        });
    }
    let quote = !expect.secret_output;
    if !expect.json.is_empty() {
        let parsed = serde_json::from_str::<Value>(&output.stdout).ok();
        check_json(
            expect,
            Document::Stdout,
            parsed.as_ref(),
            &output.stdout,
            &mut mismatches,
        );
    }
    text::check_stream(
        &expect.stdout,
        "stdout",
        &output.stdout,
        output.stdout_cut,
        quote,
        &mut mismatches,
    );
    text::check_stream(
        &expect.stderr,
        "stderr",
        &output.stderr,
        output.stderr_cut,
        quote,
        &mut mismatches,
    );
    mismatches
}

/// Every mismatch in one line, as a failed step's reason says them.
pub fn describe(mismatches: &[Mismatch]) -> String {
    mismatches
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The message `explain:` gives for a status (or an exit code), if any.
pub fn explain(explain: &[(i64, String)], code: impl Into<i64>) -> Option<&str> {
    let code = code.into();
    explain
        .iter()
        .find(|(key, _)| *key == code)
        .map(|(_, message)| message.as_str())
}

/// The check at `path` — at every place it leads to, for a path with `*` —
/// or the first place that fails it, saying how many of how many failed.
fn check_path(root: Document, document: &Value, path: &str, check: &Check) -> Option<Mismatch> {
    let places = path::places(root, document, path);
    if !path::has_every(path) {
        let place = places.into_iter().next()?;
        return judge(root, path, place.lookup, check);
    }
    let total = places.len();
    let mut failed = places
        .into_iter()
        .filter_map(|place| judge(root, &place.path, place.lookup, check));
    let mut first = failed.next()?;
    let more = failed.count();
    if let Mismatch::Json { actual, .. } = &mut first {
        let failing = more + 1;
        let of = if failing == 1 && total == 1 {
            String::new()
        } else {
            format!(" ({failing} of {total} places `{path}` leads to fail)")
        };
        actual.push_str(&of);
    }
    Some(first)
}

/// The check on what one place holds (`lookup`), named `path` in its message.
fn judge(root: Document, path: &str, lookup: Lookup<'_>, check: &Check) -> Option<Mismatch> {
    let mismatch = |expected: String, actual: String| {
        Some(Mismatch::Json {
            document: root,
            path: path.to_owned(),
            expected,
            actual,
        })
    };
    let value = match lookup {
        Lookup::Found(value) => value,
        Lookup::Missing(_) if matches!(check, Check::Exists(false)) => return None,
        Lookup::Missing(reason) | Lookup::NoElements(reason) => {
            return mismatch(expected_text(check), format!("nothing ({reason})"));
        }
    };
    let passes = match check {
        Check::Equals(expected) => json_equal(expected, value),
        Check::NotEmpty(wanted) => is_empty(value) != *wanted,
        Check::Exists(wanted) => *wanted,
        Check::Compare(_, Operand::Unknown(_)) | Check::Len(Operand::Unknown(_)) => false,
        Check::Compare(comparison, Operand::Known(operand)) => match value.as_f64() {
            Some(number) => compare(*comparison, number, *operand),
            None => {
                return mismatch(
                    format!("a number {}", expected_text(check)),
                    format!("{} ({})", render(value), kind(value)),
                );
            }
        },
        Check::Matches(regex) => match match_text(value) {
            Some(text) => regex.is_match(&text),
            None => {
                return mismatch(
                    format!("a string {}", expected_text(check)),
                    format!("{} ({})", render(value), kind(value)),
                );
            }
        },
        Check::Len(Operand::Known(wanted)) => match length(value) {
            Some(actual) => actual == *wanted,
            None => {
                return mismatch(
                    expected_text(check),
                    format!("{} ({}, which has no length)", render(value), kind(value)),
                );
            }
        },
    };
    if passes {
        return None;
    }
    let actual = match (check, length(value)) {
        (Check::Len(_), Some(actual)) => format!("length {actual}: {}", render(value)),
        _ => render(value),
    };
    mismatch(expected_text(check), actual)
}

/// What the check asks for, as the message says it after "expected".
fn expected_text(check: &Check) -> String {
    match check {
        Check::Equals(value) => render(value),
        Check::NotEmpty(true) => "not empty".to_owned(),
        Check::NotEmpty(false) => "empty".to_owned(),
        Check::Exists(true) => "to exist".to_owned(),
        Check::Exists(false) => "not to exist".to_owned(),
        Check::Compare(comparison, operand) => {
            let symbol = match comparison {
                Comparison::Gt => ">",
                Comparison::Ge => ">=",
                Comparison::Lt => "<",
                Comparison::Le => "<=",
            };
            format!("{symbol} {}", operand.text())
        }
        Check::Matches(regex) => format!("matching /{}/", regex.as_str()),
        Check::Len(length) => format!("length {}", length.text()),
    }
}

/// `3` rather than `3.0` for whole operands, and `25920000000000000` rather
/// than `2.592e+16`, as the runbook wrote them.
#[expect(
    clippy::cast_possible_truncation,
    reason = "only a whole number well inside i64's range is cast"
)]
fn number_text(number: f64) -> String {
    if number.fract() == 0.0 && number.abs() < 9.0e15 * 1000.0 {
        return (number as i64).to_string();
    }
    serde_json::Number::from_f64(number).map_or_else(
        || number.to_string(),
        |n| {
            let text = n.to_string();
            text.strip_suffix(".0").map_or(text.clone(), str::to_owned)
        },
    )
}

fn compare(comparison: Comparison, value: f64, operand: f64) -> bool {
    match comparison {
        Comparison::Gt => value > operand,
        Comparison::Ge => value >= operand,
        Comparison::Lt => value < operand,
        Comparison::Le => value <= operand,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(list) => list.is_empty(),
        Value::Object(map) => map.is_empty(),
        // A number or a boolean is a value, never "empty".
        Value::Number(_) | Value::Bool(_) => false,
    }
}

fn length(value: &Value) -> Option<u64> {
    let length = match value {
        Value::String(text) => text.chars().count(),
        Value::Array(list) => list.len(),
        Value::Object(map) => map.len(),
        Value::Null | Value::Bool(_) | Value::Number(_) => return None,
    };
    u64::try_from(length).ok()
}

/// The text a regex is run on: strings as they are, numbers and booleans as JSON
/// writes them; nothing for the rest.
fn match_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// JSON equality, except that numbers compare by value: the runbook's `1` (an
/// integer in YAML) equals a response's `1.0`.
#[expect(
    clippy::float_cmp,
    reason = "`equals` means the same number, not a close one"
)]
fn json_equal(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => {
            a == b || matches!((a.as_f64(), b.as_f64()), (Some(x), Some(y)) if x == y)
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| json_equal(x, y)))
        }
        _ => expected == actual,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as compact JSON, cut to [`VALUE_CHARS`] characters.
pub(super) fn render(value: &Value) -> String {
    excerpt(&value.to_string(), VALUE_CHARS)
}

/// The start of a body on one line: an HTML error page's line breaks and
/// indentation would scatter the message.
pub(super) fn body_excerpt(body: &str) -> String {
    // Only the start is shown, so only the start is scanned; a cut there keeps
    // its `…` through the flattening.
    let start = excerpt(body, BODY_CHARS * 4);
    let flat: Vec<&str> = start.split_whitespace().collect();
    excerpt(&flat.join(" "), BODY_CHARS)
}

/// The first `limit` characters of `text`, with `…` when there was more.
pub(super) fn excerpt(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::routing::get;
    use serde_json::json;

    use super::*;
    use crate::action::http::tests::{serve, test_client};
    use crate::action::http::{Request, send};

    /// A Cloudflare-style envelope, fetched for real from a loopback server.
    async fn envelope() -> Response {
        let router = Router::new().route(
            "/verify",
            get(|| async {
                axum::Json(json!({
                    "success": true,
                    "errors": [],
                    "messages": [{"code": 10000, "message": "This API Token is valid and active"}],
                    "result": {
                        "id": "ed17574386854bf78a67040be0a770b0",
                        "status": "disabled",
                        "expires_on": null,
                        "not_before": "",
                        "ttl": 3600,
                        "ratio": 1.0,
                        "enabled": false,
                        "policies": [{"id": "p1"}, {"id": "p2"}],
                        "tags": {}
                    },
                    "result_info": {"page": 1, "count": 2, "total_count": 2}
                }))
            }),
        );
        let address = serve(router).await;
        let request = Request::get(
            format!("http://{address}/verify"),
            std::time::Duration::from_secs(10),
        );
        send(&test_client(), &request).await.expect("a response")
    }

    fn expecting(json: Vec<(&str, Check)>) -> Expectation {
        Expectation {
            statuses: vec![200],
            json: json
                .into_iter()
                .map(|(path, check)| (path.to_owned(), check))
                .collect(),
            ..Expectation::default()
        }
    }

    /// The messages for one check at one path.
    fn messages(response: &Response, path: &str, check: Check) -> Vec<String> {
        check_messages(&expecting(vec![(path, check)]), response)
    }

    fn check_messages(expect: &Expectation, response: &Response) -> Vec<String> {
        check(expect, response)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn regex(pattern: &str) -> Regex {
        Regex::new(pattern).expect("a valid test regex")
    }

    #[tokio::test]
    async fn a_response_meeting_every_check_passes() {
        let response = envelope().await;
        let expect = Expectation {
            statuses: vec![200, 204],
            json: vec![
                ("success".into(), Check::Equals(json!(true))),
                ("result.status".into(), Check::Equals(json!("disabled"))),
                ("result.ttl".into(), Check::Equals(json!(3600.0))),
                ("result.ratio".into(), Check::Equals(json!(1))),
                ("result.policies".into(), Check::NotEmpty(true)),
                ("result.ttl".into(), Check::NotEmpty(true)),
                ("errors".into(), Check::NotEmpty(false)),
                ("result.expires_on".into(), Check::NotEmpty(false)),
                ("result.not_before".into(), Check::NotEmpty(false)),
                ("result.tags".into(), Check::NotEmpty(false)),
                ("result.id".into(), Check::Exists(true)),
                ("result.expires_on".into(), Check::Exists(true)),
                ("result.missing".into(), Check::Exists(false)),
                ("result.policies.5.id".into(), Check::Exists(false)),
                (
                    "result.ttl".into(),
                    Check::Compare(Comparison::Ge, 3600.0.into()),
                ),
                (
                    "result_info.count".into(),
                    Check::Compare(Comparison::Gt, 0.0.into()),
                ),
                (
                    "result_info.count".into(),
                    Check::Compare(Comparison::Lt, 2.5.into()),
                ),
                (
                    "result_info.page".into(),
                    Check::Compare(Comparison::Le, 1.0.into()),
                ),
                ("result.id".into(), Check::Matches(regex("^[0-9a-f]{32}$"))),
                ("result.ttl".into(), Check::Matches(regex("^36"))),
                ("result.enabled".into(), Check::Matches(regex("^false$"))),
                ("result.policies".into(), Check::Len(2.into())),
                ("result.id".into(), Check::Len(32.into())),
                ("result_info".into(), Check::Len(3.into())),
                ("result.policies.1.id".into(), Check::Equals(json!("p2"))),
                (
                    "messages.0".into(),
                    Check::Equals(
                        json!({"message": "This API Token is valid and active", "code": 10000}),
                    ),
                ),
            ],
            body: vec![TextCheck::Contains("valid and active".into())],
            ..Expectation::default()
        };
        assert_eq!(check_messages(&expect, &response), Vec::<String>::new());
    }

    #[tokio::test]
    async fn each_mismatch_says_path_expected_and_actual() {
        let response = envelope().await;
        let cases: Vec<(&str, Check, &str)> = vec![
            (
                "result.status",
                Check::Equals(json!("active")),
                "`result.status`: expected \"active\", got \"disabled\"",
            ),
            (
                "result.ttl",
                Check::Equals(json!("3600")),
                "`result.ttl`: expected \"3600\", got 3600",
            ),
            (
                "errors",
                Check::NotEmpty(true),
                "`errors`: expected not empty, got []",
            ),
            (
                "result.expires_on",
                Check::NotEmpty(true),
                "`result.expires_on`: expected not empty, got null",
            ),
            (
                "result.policies",
                Check::NotEmpty(false),
                "`result.policies`: expected empty, got [{\"id\":\"p1\"},{\"id\":\"p2\"}]",
            ),
            (
                "result.token",
                Check::Exists(true),
                "`result.token`: expected to exist, got nothing (`result` has no key `token`)",
            ),
            (
                "result.id",
                Check::Exists(false),
                "`result.id`: expected not to exist, got \"ed17574386854bf78a67040be0a770b0\"",
            ),
            (
                "result.ttl",
                Check::Compare(Comparison::Gt, 3600.0.into()),
                "`result.ttl`: expected > 3600, got 3600",
            ),
            (
                "result.ratio",
                Check::Compare(Comparison::Lt, 0.5.into()),
                "`result.ratio`: expected < 0.5, got 1.0",
            ),
            (
                "result.status",
                Check::Compare(Comparison::Ge, 1.0.into()),
                "`result.status`: expected a number >= 1, got \"disabled\" (a string)",
            ),
            (
                "result.status",
                Check::Matches(regex("^act")),
                "`result.status`: expected matching /^act/, got \"disabled\"",
            ),
            (
                "result.tags",
                Check::Matches(regex("x")),
                "`result.tags`: expected a string matching /x/, got {} (an object)",
            ),
            (
                "result.policies",
                Check::Len(3.into()),
                "`result.policies`: expected length 3, got length 2: [{\"id\":\"p1\"},{\"id\":\"p2\"}]",
            ),
            (
                "result.ttl",
                Check::Len(1.into()),
                "`result.ttl`: expected length 1, got 3600 (a number, which has no length)",
            ),
            (
                "result.policies.2.id",
                Check::Equals(json!("p3")),
                "`result.policies.2.id`: expected \"p3\", got nothing (`result.policies` has no element 2: it has 2)",
            ),
            (
                "errors.0.code",
                Check::Exists(true),
                "`errors.0.code`: expected to exist, got nothing (`errors` has no element 0: it is empty)",
            ),
            (
                "result.policies.first",
                Check::Exists(true),
                "`result.policies.first`: expected to exist, got nothing (`result.policies` is a list, and `first` is not an index (0, 1, …, or * for every element))",
            ),
            (
                "result.ttl.unit",
                Check::Exists(true),
                "`result.ttl.unit`: expected to exist, got nothing (`result.ttl` is 3600, which has no `unit`)",
            ),
            (
                "data.id",
                Check::Exists(true),
                "`data.id`: expected to exist, got nothing (the body has no key `data`)",
            ),
            (
                "",
                Check::Len(1.into()),
                "the JSON body: expected length 1, got length 5: {\"errors\":[],\"messages\":[{\"code\":10000,\"message\":\"This API Token is valid and ac…",
            ),
        ];
        for (path, check, message) in cases {
            assert_eq!(
                messages(&response, path, check),
                vec![message.to_owned()],
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn a_star_checks_every_element_and_names_the_one_that_fails() {
        let response = envelope().await;
        // Every element holds: passes.
        for (path, check) in [
            ("result.policies.*.id", Check::Matches(regex("^p[12]$"))),
            ("messages.*.code", Check::Equals(json!(10000))),
            ("result_info.*", Check::Compare(Comparison::Ge, 1.0.into())),
            ("result.policies.*.name", Check::Exists(false)),
        ] {
            assert_eq!(
                messages(&response, path, check),
                Vec::<String>::new(),
                "{path}"
            );
        }
        let cases = [
            (
                "result.policies.*.id",
                Check::Equals(json!("p1")),
                "`result.policies.1.id`: expected \"p1\", got \"p2\" (1 of 2 places `result.policies.*.id` leads to fail)",
            ),
            (
                "result.policies.*.id",
                Check::Equals(json!("p3")),
                "`result.policies.0.id`: expected \"p3\", got \"p1\" (2 of 2 places `result.policies.*.id` leads to fail)",
            ),
            // Nothing to check is no evidence, not even that nothing is there.
            (
                "errors.*.code",
                Check::Exists(false),
                "`errors.*`: expected not to exist, got nothing (`errors` is empty: `*` needs at least one element)",
            ),
            (
                "result.tags.*",
                Check::NotEmpty(true),
                "`result.tags.*`: expected not empty, got nothing (`result.tags` is empty: `*` needs at least one element)",
            ),
            (
                "result.ttl.*",
                Check::Exists(true),
                "`result.ttl.*`: expected to exist, got nothing (`result.ttl` is 3600 (a number), which has no elements)",
            ),
            (
                "result.policies.*.id.x",
                Check::Exists(true),
                "`result.policies.0.id.x`: expected to exist, got nothing (`result.policies.0.id` is \"p1\", which has no `x`) (2 of 2 places `result.policies.*.id.x` leads to fail)",
            ),
        ];
        for (path, check, message) in cases {
            assert_eq!(
                messages(&response, path, check),
                vec![message.to_owned()],
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn long_values_are_cut() {
        let response = envelope().await;
        let found = messages(&response, "result", Check::Equals(json!(null)));
        let [message] = found.as_slice() else {
            panic!("one mismatch expected: {found:?}");
        };
        assert!(
            message.starts_with("`result`: expected null, got {\"enabled\":false,"),
            "{message}"
        );
        assert!(message.ends_with('…'), "{message}");
        assert!(message.chars().count() < 40 + VALUE_CHARS, "{message}");
    }

    #[tokio::test]
    async fn status_mismatches_say_what_was_accepted() {
        let response = envelope().await;
        let cases = [
            (vec![401], "status: expected 401, got 200"),
            (vec![201, 204], "status: expected one of 201, 204, got 200"),
        ];
        for (statuses, message) in cases {
            let expect = Expectation {
                statuses,
                ..Expectation::default()
            };
            assert_eq!(check_messages(&expect, &response), vec![message.to_owned()]);
        }
        // No status given: any 2xx passes, anything else fails.
        assert!(check(&Expectation::default(), &response).is_empty());
        let mut teapot = response.clone();
        teapot.status = 418;
        assert_eq!(
            check_messages(&Expectation::default(), &teapot),
            vec!["status: expected 2xx, got 418".to_owned()]
        );
    }

    #[tokio::test]
    async fn a_non_json_body_fails_every_json_check_at_once() {
        let router = Router::new().route(
            "/html",
            get(|| async {
                (
                    axum::http::StatusCode::BAD_GATEWAY,
                    "<html>\n  <body>\n    <h1>502 Bad Gateway</h1>\n  </body>\n</html>\n",
                )
            }),
        );
        let address = serve(router).await;
        let request = Request::get(
            format!("http://{address}/html"),
            std::time::Duration::from_secs(10),
        );
        let response = send(&test_client(), &request).await.expect("a response");

        let expect = expecting(vec![
            ("result.status", Check::Equals(json!("active"))),
            ("success", Check::Equals(json!(true))),
        ]);
        assert_eq!(
            check_messages(&expect, &response),
            vec![
                "status: expected 200, got 502".to_owned(),
                "body is not JSON, so `result.status`, `success` cannot be checked \
                 (got: <html> <body> <h1>502 Bad Gateway</h1> </body> </html>)"
                    .to_owned(),
            ]
        );
    }

    #[tokio::test]
    async fn body_contains_quotes_the_start_of_the_body() {
        let response = envelope().await;
        let expect = Expectation {
            body: vec![TextCheck::Contains("zone".into())],
            ..Expectation::default()
        };
        let found = check_messages(&expect, &response);
        let [message] = found.as_slice() else {
            panic!("one mismatch expected: {found:?}");
        };
        assert!(
            message.starts_with("body: expected to contain \"zone\", got \"{\\\""),
            "{message}"
        );
        assert!(message.ends_with('…'), "{message}");
    }

    #[test]
    fn an_empty_body_is_said_to_be_empty() {
        let response = Response {
            status: 200,
            headers: std::collections::BTreeMap::new(),
            body: String::new(),
            json: None,
            elapsed_ms: 0,
            tls: None,
        };
        assert_eq!(
            check_messages(
                &expecting(vec![("result", Check::NotEmpty(true))]),
                &response
            ),
            vec!["body is not JSON, so `result` cannot be checked (got an empty body)".to_owned()]
        );
    }

    #[test]
    fn explain_finds_the_message_for_a_code() {
        let explain = vec![
            (401, "The token is invalid.".to_owned()),
            (403, "The token lacks a permission.".to_owned()),
        ];
        assert_eq!(
            explain_for(&explain, 403u16),
            Some("The token lacks a permission.")
        );
        assert_eq!(explain_for(&explain, 500u16), None);
        assert_eq!(
            explain_for(&[(1, "exit 1".to_owned())], 1i32),
            Some("exit 1")
        );
    }

    fn explain_for(explain_list: &[(i64, String)], code: impl Into<i64>) -> Option<&str> {
        super::explain(explain_list, code)
    }
}
