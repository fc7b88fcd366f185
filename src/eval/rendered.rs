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
use crate::action::expect::{Check, Expectation, Operand, Subject, TextCheck, TlsCheck};
use crate::action::http::Request;
use crate::action::tls::Connection;
use crate::action::wait::{Poll, Wait};
use crate::document::model::{
    Action, Axis, Command, Expect, ForEach, HttpRequest, Matcher, Number, Probe, Step, Template,
    TextMatch, TextRule, TlsMatch, WaitFor,
};
use crate::document::node::{Node, Value as Yaml};
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

    /// A template a matcher compares with (`ge: "{{ inputs.min_days }}"`),
    /// rendered and read by `parse`. What does not read as `wanted` is shown
    /// as it rendered — a plan's placeholder, a report's template as written —
    /// but fails a run ([`Values`]): no check is judged against a guess.
    fn operand<T>(
        &self,
        source: &str,
        item: Option<&Json>,
        parse: fn(&str) -> Option<T>,
        _wanted: &str,
    ) -> Result<Operand<T>, RenderError> {
        let text = self.text(source, item)?;
        Ok(parse(&text).map_or(Operand::Unknown(text), Operand::Known))
    }
}

impl Render for Values {
    fn text(&self, source: &str, item: Option<&Json>) -> Result<String, RenderError> {
        Ok(self.render(source, item)?.text)
    }

    fn node(&self, node: &Node, item: Option<&Json>) -> Result<Json, RenderError> {
        Ok(self.render_node(node, item)?.0)
    }

    fn operand<T>(
        &self,
        source: &str,
        item: Option<&Json>,
        parse: fn(&str) -> Option<T>,
        wanted: &str,
    ) -> Result<Operand<T>, RenderError> {
        let text = self.text(source, item)?;
        parse(&text).map(Operand::Known).ok_or_else(|| {
            RenderError(format!(
                "`{source}` gave `{text}`, which is not {wanted} to compare with: make it render to one"
            ))
        })
    }
}

/// Renders nothing: every template stays as the runbook wrote it. The run
/// report lists a passed step's checks so, worded by the expectation itself.
pub struct AsWritten;

impl Render for AsWritten {
    fn text(&self, source: &str, _item: Option<&Json>) -> Result<String, RenderError> {
        Ok(source.to_owned())
    }

    fn node(&self, node: &Node, _item: Option<&Json>) -> Result<Json, RenderError> {
        Ok(as_written(node))
    }
}

/// A YAML value as JSON, its strings left unrendered.
fn as_written(node: &Node) -> Json {
    match &node.value {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Int(n) => Json::from(*n),
        Yaml::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Yaml::Str(s) => Json::String(s.clone()),
        Yaml::Seq(items) => Json::Array(items.iter().map(as_written).collect()),
        Yaml::Map(entries) => Json::Object(
            entries
                .iter()
                .filter_map(|(key, value)| match &key.value {
                    Yaml::Str(key) => Some((key.clone(), as_written(value))),
                    _ => None,
                })
                .collect(),
        ),
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
    let url = r.text(&spec.url.source, item)?;
    let connection = connection(r, spec, &url, item)?;
    Ok(Request {
        method: spec.method(),
        url,
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
        connection,
    })
}

/// The step's `tls` files and `resolve` addresses. Relative paths stay
/// relative: they are read from the directory the run is in, as every file a
/// runbook names.
fn connection(
    r: &impl Render,
    spec: &HttpRequest,
    url: &str,
    item: Option<&Json>,
) -> Result<Connection, RenderError> {
    let path = |template: Option<&Template>| {
        template
            .map(|t| r.text(&t.source, item).map(PathBuf::from))
            .transpose()
    };
    let files = spec.tls.as_ref();
    let mut resolve = Vec::new();
    for (host, address) in &spec.resolve {
        resolve.push((r.text(&host.source, item)?, r.text(&address.source, item)?));
    }
    // A literal URL, or any URL outside a fan-out, has one host for the step,
    // and a `resolve` host that is not it would send the request to the real
    // host by DNS. A fan-out's templated URL may differ by item, each item's
    // host named in the client they share. (A URL that does not parse fails
    // when sent, saying so.)
    let url_host = (spec.url.is_literal() || item.is_none())
        .then(|| reqwest::Url::parse(url).ok())
        .flatten()
        .and_then(|url| url.host_str().map(str::to_owned));
    Ok(Connection {
        ca: path(files.and_then(|f| f.ca.as_ref()))?,
        cert: path(files.and_then(|f| f.cert.as_ref()))?,
        key: path(files.and_then(|f| f.key.as_ref()))?,
        resolve,
        url_host,
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
        json.push((path.value.clone(), value_check(r, matcher, item)?));
    }
    let mut tls = Vec::new();
    for (field, matcher) in &expect.tls {
        match matcher {
            // `days_left` is a number: `{equals: "{{ inputs.days }}"}` is one too.
            TlsMatch::Number(Matcher::Equals(Node {
                value: Yaml::Str(source),
                ..
            })) => {
                let check = match r.operand(source, item, number, "a number")? {
                    Operand::Known(n) => Check::Equals(
                        serde_json::Number::from_f64(n).map_or(Json::Null, Json::Number),
                    ),
                    Operand::Unknown(text) => Check::Equals(Json::String(text)),
                };
                tls.push((field.value, TlsCheck::Number(check)));
            }
            TlsMatch::Number(matcher) => {
                tls.push((
                    field.value,
                    TlsCheck::Number(value_check(r, matcher, item)?),
                ));
            }
            TlsMatch::Text(matcher) => {
                for check in text_checks(r, Some(matcher), item)? {
                    tls.push((field.value, TlsCheck::Text(check)));
                }
            }
            TlsMatch::Names(matcher) => {
                for rule in &matcher.rules {
                    let (name, wanted) = match rule {
                        TextRule::Contains(t) => (t, true),
                        TextRule::NotContains(t) => (t, false),
                        // `validate` lets only these two through.
                        TextRule::Equals(_) | TextRule::NotEquals(_) | TextRule::Matches(_) => {
                            continue;
                        }
                    };
                    tls.push((
                        field.value,
                        TlsCheck::Name(r.text(&name.source, item)?, wanted),
                    ));
                }
            }
        }
    }
    // The older `stdout_contains`/`body_contains` are the first `contains` rule.
    let legacy = |t: Option<&Template>| -> Result<Vec<TextCheck>, RenderError> {
        t.map(|t| Ok(TextCheck::Contains(r.text(&t.source, item)?)))
            .into_iter()
            .collect()
    };
    let mut stdout = legacy(expect.stdout_contains.as_ref())?;
    stdout.extend(text_checks(r, expect.stdout.as_ref(), item)?);
    let mut body = legacy(expect.body_contains.as_ref())?;
    body.extend(text_checks(r, expect.body.as_ref(), item)?);
    let mut headers = Vec::new();
    for (name, matcher) in &expect.headers {
        for check in text_checks(r, Some(matcher), item)? {
            headers.push((name.value.to_ascii_lowercase(), check));
        }
    }
    Ok(Expectation {
        subject,
        statuses: expect
            .status
            .iter()
            .filter_map(|s| u16::try_from(s.value).ok())
            .collect(),
        json,
        body,
        headers,
        exit_codes: expect
            .exit_code
            .iter()
            .filter_map(|c| i32::try_from(c.value).ok())
            .collect(),
        stdout,
        stderr: text_checks(r, expect.stderr.as_ref(), item)?,
        tls,
        secret_output: false,
    })
}

/// A JSON value check (`expect.json`, `expect.tls.days_left`), rendered.
fn value_check(
    r: &impl Render,
    matcher: &Matcher,
    item: Option<&Json>,
) -> Result<Check, RenderError> {
    Ok(match matcher {
        Matcher::Equals(node) => Check::Equals(r.node(node, item)?),
        Matcher::NotEmpty(b) => Check::NotEmpty(*b),
        Matcher::Exists(b) => Check::Exists(*b),
        Matcher::Compare(op, Number::Literal(n)) => Check::Compare(*op, Operand::Known(n.value)),
        Matcher::Compare(op, Number::Template(t)) => {
            Check::Compare(*op, r.operand(&t.source, item, number, "a number")?)
        }
        Matcher::Matches(pattern) => match regex::Regex::new(&pattern.value) {
            Ok(re) => Check::Matches(re),
            Err(e) => return Err(RenderError(e.to_string())),
        },
        Matcher::Len(Number::Literal(n)) => Check::Len(Operand::Known(n.value)),
        Matcher::Len(Number::Template(t)) => Check::Len(r.operand(
            &t.source,
            item,
            |text| text.trim().parse().ok(),
            "a length (a whole number of 0 or more)",
        )?),
    })
}

/// A rendered operand as a number: what YAML would read as one, finite.
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The rules of a text matcher, rendered.
fn text_checks(
    r: &impl Render,
    matcher: Option<&TextMatch>,
    item: Option<&Json>,
) -> Result<Vec<TextCheck>, RenderError> {
    let Some(matcher) = matcher else {
        return Ok(Vec::new());
    };
    let mut checks = Vec::new();
    for rule in &matcher.rules {
        checks.push(match rule {
            TextRule::Contains(t) => TextCheck::Contains(r.text(&t.source, item)?),
            TextRule::NotContains(t) => TextCheck::NotContains(r.text(&t.source, item)?),
            TextRule::Equals(t) => TextCheck::Equals(r.text(&t.source, item)?),
            TextRule::NotEquals(t) => TextCheck::NotEquals(r.text(&t.source, item)?),
            TextRule::Matches(pattern) => match regex::Regex::new(&pattern.value) {
                Ok(re) => TextCheck::Matches(re),
                Err(e) => return Err(RenderError(e.to_string())),
            },
        });
    }
    Ok(checks)
}

/// What a step's own `expect:` judges: a response, a finished command, or
/// nothing (`validate` refuses `expect` on every other action).
pub fn subject(action: &Action) -> Option<Subject> {
    match action {
        Action::Http(_) => Some(Subject::Http),
        Action::Command(_) => Some(Subject::Command),
        Action::Manual(_)
        | Action::Prompt(_)
        | Action::ReadSetting(_)
        | Action::SetSetting(_)
        | Action::RestoreSetting(_)
        | Action::WriteFile(_)
        | Action::RestoreFile(_)
        | Action::GenerateSecret(_)
        | Action::WaitFor(_)
        | Action::Runbook(_) => None,
    }
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

/// What a step acts on, resolved, in one line: what an approval is bound to
/// (`crate::approval::Binding::target`) and shows the approver. The action's
/// every part that decides what happens is in it (an HTTP request's headers and
/// body, a command's environment, a setting's values), so an approval given for
/// one thing never opens the step when it would do another. A `for_each` step
/// is shown as written, with the items it repeats over. Secrets are masked by
/// the caller, as everything it shows.
pub fn target(r: &impl Render, step: &Step) -> Result<String, RenderError> {
    if let Some(for_each) = &step.for_each {
        let items = for_each_text(r, for_each)?;
        let each = target_of(&AsWritten, step)?;
        return Ok(format!("for each item of {items}: {each}"));
    }
    target_of(r, step)
}

/// What a `for_each` runs over, in words: the list, or each list of a product
/// (`node in ‹inputs.nodes› × component in ["api","worker"]`).
pub fn for_each_text(r: &impl Render, for_each: &ForEach) -> Result<String, RenderError> {
    let axis = |axis: &Axis| match axis {
        Axis::Template(template) => r.text(&template.source, None),
        Axis::Items(node) => Ok(r.node(node, None)?.to_string()),
    };
    Ok(match for_each {
        ForEach::List(list) => axis(list)?,
        ForEach::Product { axes, .. } => axes
            .iter()
            .map(|(name, list)| Ok(format!("{} in {}", name.value, axis(list)?)))
            .collect::<Result<Vec<_>, RenderError>>()?
            .join(" × "),
    })
}

fn target_of(r: &impl Render, step: &Step) -> Result<String, RenderError> {
    let item = None;
    let mut parts = match &step.action {
        Action::Manual(text) => vec![format!(
            "the operator does: {}",
            r.text(&text.source, item)?
        )],
        Action::Prompt(prompt) => vec![format!(
            "ask \"{}\"",
            match &prompt.message {
                Some(message) => r.text(&message.source, item)?,
                None => step.title_or_id(),
            }
        )],
        Action::ReadSetting(setting) => vec![format!(
            "read {} from {}",
            setting.key.value,
            r.text(&setting.file.source, item)?
        )],
        Action::SetSetting(setting) => {
            let mut parts = vec![format!("set in {}", r.text(&setting.file.source, item)?)];
            for (key, value) in &setting.values {
                parts.push(format!("{}={}", key.value, r.text(&value.source, item)?));
            }
            parts
        }
        Action::RestoreSetting(written) => {
            vec![format!("restore what `{}` replaced", written.value)]
        }
        Action::WriteFile(file) => vec![format!("write {}", r.text(&file.path.source, item)?)],
        Action::RestoreFile(written) => {
            vec![format!("restore the file `{}` replaced", written.value)]
        }
        Action::GenerateSecret(generator) => vec![format!(
            "generate a secret of {} characters",
            generator.length.value
        )],
        Action::Http(spec) => {
            let request = request(r, spec, item)?;
            std::iter::once(request.target())
                .chain(request.details())
                .collect()
        }
        Action::Command(spec) => {
            let command = command(r, spec, item, None)?;
            std::iter::once(command.target())
                .chain(command.details())
                .collect()
        }
        Action::WaitFor(spec) => vec![wait(r, spec, item)?.target()],
        Action::Runbook(path) => vec![format!("run child {}", path.value)],
    };
    if let Some(then) = &step.then_wait {
        parts.push(format!("then {}", wait(r, then, item)?.target()));
    }
    Ok(parts.join(" · "))
}
