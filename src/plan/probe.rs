//! `plan --probe`: sends the plan's read-only requests for real and reports what
//! came back, still changing nothing. Only HTTP `GET`/`HEAD` steps and
//! `wait_for` over HTTP `GET`/`HEAD` are sent — never a command, whatever effect
//! it declares, since a process can do anything — and only when every value
//! they read is known now (a request built from a placeholder would test
//! nothing). Each probe is sent once (a `429` is waited out as the run would);
//! `wait_for` polls as it would in the run.

use std::io::Write as _;
use std::time::{Duration, Instant};

use super::ProbeResult;
use super::render::Renderer;
use crate::action::connections::Lanes;
use crate::action::expect::{self, Expectation, Subject};
use crate::action::fan_out;
use crate::action::http::{self, Request, Response};
use crate::document::model::{Expect, ForEach, HttpRequest, Probe, Step, WaitFor};
use crate::document::templates::Stage;

/// Sends probes: one runtime and one HTTP client for the whole plan.
pub struct Prober {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

/// What a probe step sends.
enum Sends<'a> {
    Request(&'a HttpRequest, Option<&'a Expect>),
    Poll(&'a WaitFor),
}

/// The request a step would send, if `--probe` may send it; otherwise why not.
fn sends(step: &Step) -> Result<Sends<'_>, String> {
    let read_only = HttpRequest::reads_only;
    match (&step.action, &step.then_wait) {
        (crate::document::model::Action::Http(spec), None) if read_only(spec) => {
            Ok(Sends::Request(spec, step.expect.as_ref()))
        }
        (crate::document::model::Action::Http(spec), None) => Err(format!(
            "{} may change something; only GET and HEAD are probed",
            spec.method().as_str()
        )),
        (crate::document::model::Action::WaitFor(wait), None) => match &wait.probe {
            Probe::Http(spec) if read_only(spec) => Ok(Sends::Poll(wait)),
            Probe::Http(spec) => Err(format!(
                "it polls with {}; only GET and HEAD are probed",
                spec.method().as_str()
            )),
            Probe::Command(_) => Err("it polls a command; a plan runs no process".to_owned()),
        },
        (crate::document::model::Action::Command(_), _) => Err(
            "it runs a command; a plan runs no process, whatever effect the step declares"
                .to_owned(),
        ),
        _ => Err("it sends no HTTP request".to_owned()),
    }
}

fn not_probed(detail: impl Into<String>) -> ProbeResult {
    ProbeResult {
        outcome: "not_probed".to_owned(),
        detail: detail.into(),
        status: None,
        elapsed_ms: None,
    }
}

impl Prober {
    pub fn new() -> Result<Prober, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = http::client().map_err(|e| e.to_string())?;
        Ok(Prober { runtime, client })
    }

    /// Probes one step whose effect is `probe`.
    pub fn probe(&self, step: &Step, renderer: &Renderer) -> ProbeResult {
        let sends = match sends(step) {
            Ok(sends) => sends,
            Err(why) => return not_probed(format!("not probed: {why}")),
        };
        let templates = step.template_sources(&[Stage::Gate, Stage::Action]);
        // `item` is each element of `for_each`, known once `for_each` is.
        let per_item =
            |r: &String| step.for_each.is_some() && (r == "item" || r.starts_with("item."));
        let mut unknown: Vec<String> = templates
            .iter()
            .flat_map(|t| renderer.unknowns(t))
            .filter(|r| !per_item(r))
            .map(|r| format!("‹{r}›"))
            .collect();
        unknown.sort();
        unknown.dedup();
        if !unknown.is_empty() {
            return not_probed(format!(
                "not probed: it reads {}, known only when the run gets there",
                unknown.join(", ")
            ));
        }
        if let Some(when) = &step.when {
            match renderer.condition(&when.source).value {
                Some(true) => {}
                Some(false) => {
                    return ProbeResult {
                        outcome: "skipped".to_owned(),
                        detail: "skipped: its `when` is false now".to_owned(),
                        status: None,
                        elapsed_ms: None,
                    };
                }
                None => return not_probed("not probed: its `when` cannot be decided now"),
            }
        }
        let limit = step.timeout.as_ref().map(|t| t.value.0);
        let mut result = match sends {
            Sends::Request(spec, expect) => match &step.for_each {
                Some(items) => self.fan_out(step, spec, expect, items, renderer),
                None => self.once(step, spec, expect, limit, renderer),
            },
            Sends::Poll(wait) => self.poll(wait, step, renderer),
        };
        result.detail = renderer.redact(&result.detail);
        result
    }

    fn once(
        &self,
        step: &Step,
        spec: &HttpRequest,
        expect: Option<&Expect>,
        limit: Option<Duration>,
        renderer: &Renderer,
    ) -> ProbeResult {
        let values = renderer.values();
        let prepared = crate::eval::rendered::request(values, spec, None).and_then(|r| {
            Ok((
                r,
                crate::eval::rendered::expectation(values, expect, None, Subject::Http)?,
            ))
        });
        let (request, expectation) = match prepared {
            Ok(pair) => pair,
            Err(e) => return not_probed(format!("not probed: {}", e.0)),
        };
        let client = match request.connection.client_or(&self.client) {
            Ok(client) => client,
            Err(e) => return failed(e.reason()),
        };
        let deadline = Instant::now() + limit.unwrap_or(request.timeout);
        let result = self.runtime.block_on(http::send_patiently(
            &client,
            &request,
            deadline.into(),
            |_| {},
        ));
        judge(
            step,
            result.map(|(response, _)| response),
            &expectation,
            renderer,
        )
    }

    fn fan_out(
        &self,
        step: &Step,
        spec: &HttpRequest,
        expect: Option<&Expect>,
        for_each: &ForEach,
        renderer: &Renderer,
    ) -> ProbeResult {
        let values = renderer.values();
        let items = match crate::eval::items::items(values, for_each) {
            Ok(items) => items,
            Err(e @ crate::eval::items::ItemsError::Render { .. }) => {
                return not_probed(format!("not probed: {e}"));
            }
            Err(e) => return failed(e.to_string()),
        };
        if items.is_empty() {
            return ProbeResult {
                outcome: "skipped".to_owned(),
                detail: format!("skipped: {}", fan_out::NO_ITEMS),
                status: None,
                elapsed_ms: None,
            };
        }
        let mut prepared = Vec::with_capacity(items.len());
        for item in &items {
            match crate::eval::rendered::request(values, spec, Some(item)).and_then(|r| {
                Ok((
                    r,
                    crate::eval::rendered::expectation(values, expect, Some(item), Subject::Http)?,
                ))
            }) {
                Ok(pair) => prepared.push(pair),
                Err(e) => return not_probed(format!("not probed: {}", e.0)),
            }
        }
        let concurrency = step.concurrency() as usize;
        // One connection set-up for every item, as the run has.
        let connection = prepared
            .first()
            .map(|(request, _)| request.connection.clone())
            .unwrap_or_default();
        let lanes = &match Lanes::new(connection) {
            Ok(lanes) => lanes,
            Err(e) => return failed(e.reason()),
        };
        let outcomes = self.runtime.block_on(fan_out::for_each(
            prepared,
            concurrency,
            |(request, expectation): (Request, Expectation)| async move {
                let deadline = Instant::now() + request.timeout;
                let result = lanes
                    .send_patiently(&request, deadline.into(), |_| {})
                    .await;
                (result.map(|(response, _)| response), expectation)
            },
            |_| {},
        ));
        let total = outcomes.len();
        let mut failures = Vec::new();
        for (item, (result, expectation)) in items.iter().zip(outcomes) {
            let judged = judge(step, result, &expectation, renderer);
            if judged.outcome != "passed" {
                failures.push(format!(
                    "{}: {}",
                    crate::eval::items::label(item),
                    judged.detail
                ));
            }
        }
        if failures.is_empty() {
            ProbeResult {
                outcome: "passed".to_owned(),
                detail: format!("all {total} items passed"),
                status: None,
                elapsed_ms: None,
            }
        } else {
            failed(format!(
                "{} of {total} items failed: {}",
                failures.len(),
                failures.join("; ")
            ))
        }
    }

    fn poll(&self, wait: &WaitFor, step: &Step, renderer: &Renderer) -> ProbeResult {
        let wait = match crate::eval::rendered::wait(renderer.values(), wait, None) {
            Ok(wait) => wait,
            Err(e) => return not_probed(format!("not probed: {}", e.0)),
        };
        // A poll can take a while; say so, on stderr, so the plan itself stays clean.
        let _ = writeln!(
            std::io::stderr(),
            "probing `{}`: {} (up to {})",
            step.id.value,
            renderer.redact(&wait.target()),
            humantime::format_duration(wait.timeout)
        );
        let client = match wait.client(&self.client) {
            Ok(client) => client,
            Err(e) => return failed(e.reason()),
        };
        let polled = self.runtime.block_on(wait.poll(&client, |_, _| {}));
        let attempts = polled.attempts;
        let got = polled.status.map(|s| format!(": {s}")).unwrap_or_default();
        let (outcome, detail) = match polled.last_failure {
            None => ("passed", format!("ready after {attempts} attempt(s){got}")),
            Some(last) => (
                "failed",
                format!(
                    "not ready after {} ({attempts} attempts); last: {last}",
                    humantime::format_duration(wait.timeout)
                ),
            ),
        };
        ProbeResult {
            outcome: outcome.to_owned(),
            detail,
            status: polled.status,
            elapsed_ms: None,
        }
    }
}

fn failed(detail: impl Into<String>) -> ProbeResult {
    ProbeResult {
        outcome: "failed".to_owned(),
        detail: detail.into(),
        status: None,
        elapsed_ms: None,
    }
}

/// A response (or the error that stood in for one) judged against `expect`.
fn judge(
    step: &Step,
    result: Result<Response, http::HttpError>,
    expectation: &Expectation,
    renderer: &Renderer,
) -> ProbeResult {
    let response = match result {
        Ok(response) => response,
        Err(error) => {
            let mut detail = error.to_string();
            if let Some(help) = error.help() {
                detail.push_str(&format!(" ({help})"));
            }
            return failed(detail);
        }
    };
    let mismatches = expect::check(expectation, &response);
    let status = Some(response.status);
    let elapsed_ms = Some(response.elapsed_ms);
    if mismatches.is_empty() {
        return ProbeResult {
            outcome: "passed".to_owned(),
            detail: format!("{} in {} ms", response.status, response.elapsed_ms),
            status,
            elapsed_ms,
        };
    }
    let mut detail = expect::describe(&mismatches);
    let explains = step.explains();
    if let Some(explanation) = expect::explain(&explains, response.status) {
        detail.push_str(&format!(" — {}", renderer.text(explanation).trim()));
    }
    ProbeResult {
        outcome: "failed".to_owned(),
        detail,
        status,
        elapsed_ms,
    }
}
