//! A step's action specs rendered from their templates: the HTTP request, the
//! command, the poll of a `wait_for`, and the expectation each is judged by.
//! The same functions serve `plan` (rendering with placeholders for what is not
//! known yet), `plan --probe` and `run` (rendering real values): what the plan
//! shows is what the run sends and checks. A template that fails is an error,
//! never replaced by its own text.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

use crate::action::command::CommandSpec;
use crate::action::expect::{Check, Expectation, Subject};
use crate::action::http::Request;
use crate::action::wait::{Poll, Wait};
use crate::document::model::{Command, Expect, HttpRequest, Matcher, Probe, WaitFor};
use crate::document::node::Node;
use crate::eval::values::{RenderError, Values};

/// How long an HTTP request may take when neither it nor its step says.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `wait_for` polls, and how often, when it does not say.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_WAIT_INTERVAL: Duration = Duration::from_secs(2);

/// Renders template text and YAML values: real values in a run, placeholders
/// for unknown ones in a plan.
pub trait Render {
    fn text(&self, source: &str, item: Option<&Json>) -> Result<String, RenderError>;
    fn node(&self, node: &Node, item: Option<&Json>) -> Result<Json, RenderError>;
}

impl Render for Values {
    fn text(&self, source: &str, item: Option<&Json>) -> Result<String, RenderError> {
        Ok(self.render(source, item)?.text)
    }

    fn node(&self, node: &Node, item: Option<&Json>) -> Result<Json, RenderError> {
        Ok(self.render_node(node, item)?.0)
    }
}

/// The request an `http` step (or one item of its `for_each`) sends.
pub fn request(
    r: &impl Render,
    spec: &HttpRequest,
    item: Option<&Json>,
) -> Result<Request, RenderError> {
    let mut headers = Vec::new();
    for (name, value) in &spec.headers {
        headers.push((name.value.clone(), r.text(&value.source, item)?));
    }
    Ok(Request {
        method: spec.method(),
        url: r.text(&spec.url.source, item)?,
        headers,
        bearer: spec
            .bearer
            .as_ref()
            .map(|b| r.text(&b.source, item))
            .transpose()?,
        json: spec
            .json
            .as_ref()
            .map(|node| r.node(node, item))
            .transpose()?,
        body: spec
            .body
            .as_ref()
            .map(|b| r.text(&b.source, item))
            .transpose()?,
        timeout: spec
            .timeout
            .as_ref()
            .map_or(DEFAULT_HTTP_TIMEOUT, |t| t.value.0),
    })
}

/// The command a `command` step (or one item of its `for_each`) runs.
pub fn command(
    r: &impl Render,
    spec: &Command,
    item: Option<&Json>,
    timeout: Option<Duration>,
) -> Result<CommandSpec, RenderError> {
    let mut env = Vec::new();
    for (name, value) in &spec.env {
        env.push((name.value.clone(), r.text(&value.source, item)?));
    }
    Ok(CommandSpec {
        run: r.text(&spec.run.source, item)?,
        env,
        cwd: spec
            .cwd
            .as_ref()
            .map(|c| r.text(&c.source, item))
            .transpose()?
            .map(PathBuf::from),
        timeout,
    })
}

/// An `expect:` with its values rendered, judging a response or a command.
pub fn expectation(
    r: &impl Render,
    expect: Option<&Expect>,
    item: Option<&Json>,
    subject: Subject,
) -> Result<Expectation, RenderError> {
    let Some(expect) = expect else {
        return Ok(Expectation {
            subject,
            ..Expectation::default()
        });
    };
    let mut json = Vec::new();
    for (path, matcher) in &expect.json {
        let check = match matcher {
            Matcher::Equals(node) => Check::Equals(r.node(node, item)?),
            Matcher::NotEmpty(b) => Check::NotEmpty(*b),
            Matcher::Exists(b) => Check::Exists(*b),
            Matcher::Compare(op, n) => Check::Compare(*op, n.value),
            Matcher::Matches(pattern) => match regex::Regex::new(&pattern.value) {
                Ok(re) => Check::Matches(re),
                Err(e) => return Err(RenderError(e.to_string())),
            },
            Matcher::Len(n) => Check::Len(n.value),
        };
        json.push((path.value.clone(), check));
    }
    let text = |t: Option<&crate::document::model::Template>| {
        t.map(|t| r.text(&t.source, item)).transpose()
    };
    Ok(Expectation {
        subject,
        statuses: expect
            .status
            .iter()
            .filter_map(|s| u16::try_from(s.value).ok())
            .collect(),
        json,
        body_contains: text(expect.body_contains.as_ref())?,
        exit_codes: expect
            .exit_code
            .iter()
            .filter_map(|c| i32::try_from(c.value).ok())
            .collect(),
        stdout_contains: text(expect.stdout_contains.as_ref())?,
    })
}

/// A `wait_for` (or one item's) rendered, its defaults applied.
pub fn wait(r: &impl Render, wait: &WaitFor, item: Option<&Json>) -> Result<Wait, RenderError> {
    let timeout = wait
        .timeout
        .as_ref()
        .map_or(DEFAULT_WAIT_TIMEOUT, |t| t.value.0);
    let interval = wait
        .interval
        .as_ref()
        .map_or(DEFAULT_WAIT_INTERVAL, |t| t.value.0);
    let (poll, subject) = match &wait.probe {
        Probe::Http(spec) => (Poll::Request(request(r, spec, item)?), Subject::Http),
        Probe::Command(spec) => (
            Poll::Command(command(r, spec, item, Some(timeout))?),
            Subject::Command,
        ),
    };
    Ok(Wait {
        poll,
        expectation: expectation(r, wait.expect.as_ref(), item, subject)?,
        interval,
        timeout,
    })
}
