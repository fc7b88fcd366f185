//! Action specs rendered from their templates with a run's values: the HTTP
//! request and the expectation it is checked against. `run` and `plan --probe`
//! send the very same requests.

use std::time::Duration;

use serde_json::Value as Json;

use crate::action::expect::{Check, Expectation};
use crate::action::http::Request;
use crate::document::model::{Expect, HttpRequest, Matcher};
use crate::eval::values::{RenderError, Values};

/// How long an HTTP request may take when neither it nor its step says.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The request an `http` step (or one item of its `for_each`) sends.
pub fn request(
    values: &Values,
    spec: &HttpRequest,
    item: Option<&Json>,
) -> Result<Request, RenderError> {
    let mut headers = Vec::new();
    for (name, value) in &spec.headers {
        headers.push((name.value.clone(), values.render(&value.source, item)?.text));
    }
    Ok(Request {
        method: spec.method(),
        url: values.render(&spec.url.source, item)?.text,
        headers,
        bearer: spec
            .bearer
            .as_ref()
            .map(|b| values.render(&b.source, item))
            .transpose()?
            .map(|r| r.text),
        json: spec
            .json
            .as_ref()
            .map(|node| values.render_node(node, item))
            .transpose()?
            .map(|(v, _)| v),
        body: spec
            .body
            .as_ref()
            .map(|b| values.render(&b.source, item))
            .transpose()?
            .map(|r| r.text),
        timeout: spec
            .timeout
            .as_ref()
            .map_or(DEFAULT_HTTP_TIMEOUT, |t| t.value.0),
    })
}

/// An `expect:` with its values rendered.
pub fn expectation(
    values: &Values,
    expect: Option<&Expect>,
    item: Option<&Json>,
) -> Result<Expectation, RenderError> {
    let Some(expect) = expect else {
        return Ok(Expectation::default());
    };
    let mut json = Vec::new();
    for (path, matcher) in &expect.json {
        let check = match matcher {
            Matcher::Equals(node) => Check::Equals(values.render_node(node, item)?.0),
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
    Ok(Expectation {
        statuses: expect
            .status
            .iter()
            .filter_map(|s| u16::try_from(s.value).ok())
            .collect(),
        json,
        body_contains: expect
            .body_contains
            .as_ref()
            .map(|t| values.render(&t.source, item))
            .transpose()?
            .map(|r| r.text),
    })
}
