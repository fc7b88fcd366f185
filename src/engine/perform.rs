//! Performing a step's action once its gates are open: rendering the templates,
//! calling the action module, checking expectations, retrying, and turning what
//! happened into an outcome with results for later templates.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use crate::action::command::{self, CommandSpec};
use crate::action::connections::Lanes;
use crate::action::expect::{self, Expectation, Subject};
use crate::action::http::{self, Request, Response};
use crate::action::wait::Poll;
use crate::action::{fan_out, generate, setting};
use crate::document::model::{self, Action, Effect, Expect, HttpRequest, Step};
use crate::document::templates::Stage;
use crate::engine::Stop;
use crate::engine::journal::EventKind;
use crate::engine::outcome::Outcome;
use crate::engine::runner::Engine;
use crate::eval::items::label;
use crate::eval::rendered;
use crate::eval::values::RenderError;
use crate::operator::ManualAnswer;

/// What an action did.
pub struct Done {
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub results: Json,
    /// Result fields holding secrets.
    pub secret_fields: Vec<String>,
}

impl Done {
    fn passed(results: Json) -> Done {
        Done {
            outcome: Outcome::Passed,
            reason: None,
            results,
            secret_fields: Vec::new(),
        }
    }

    fn failed(reason: impl Into<String>, results: Json) -> Done {
        Done {
            outcome: Outcome::Failed,
            reason: Some(reason.into()),
            results,
            secret_fields: Vec::new(),
        }
    }

    /// Marks the result fields the step declares secret ([`Step::secret_fields`]).
    fn declare_secrets(&mut self, step: &Step) {
        self.secret_fields
            .extend(step.secret_fields().iter().map(|&field| field.to_owned()));
    }

    fn with(outcome: Outcome, reason: impl Into<String>) -> Done {
        Done {
            outcome,
            reason: Some(reason.into()),
            results: json!({}),
            secret_fields: Vec::new(),
        }
    }
}

impl Engine {
    /// Runs the action, with `retry` and the step's `timeout`.
    pub(super) async fn perform(&mut self, step: &Step) -> Result<Done, Stop> {
        let attempts = step.retry.as_ref().map_or(1, |r| r.attempts.value);
        let mut attempt = 1;
        loop {
            let done = match step.timeout.as_ref().map(|t| t.value.0) {
                Some(limit) if !matches!(step.action, Action::Manual(_) | Action::Prompt(_)) => {
                    match tokio::time::timeout(limit, self.attempt(step)).await {
                        Ok(done) => done?,
                        Err(_) => Done::failed(
                            format!("timed out after {}", humantime::format_duration(limit)),
                            json!({}),
                        ),
                    }
                }
                _ => self.attempt(step).await?,
            };
            // Only failures of actions that can be tried again are retried: an
            // operator's answer or a gate is not a flake.
            let retriable = done.outcome == Outcome::Failed
                && !matches!(
                    step.action,
                    Action::Manual(_)
                        | Action::Prompt(_)
                        | Action::Runbook(_)
                        | Action::SetSetting(_)
                        | Action::RestoreSetting(_)
                        | Action::WriteFile(_)
                        | Action::RestoreFile(_)
                );
            if !retriable || attempt >= attempts {
                return Ok(done);
            }
            let delay = step
                .retry
                .as_ref()
                .map_or(Duration::ZERO, |r| r.delay_before(attempt + 1));
            self.say(&format!(
                "  ↻ attempt {attempt}/{attempts} failed: {}; trying again in {}",
                done.reason.as_deref().unwrap_or("failed"),
                humantime::format_duration(delay)
            ));
            self.interruptible(tokio::time::sleep(delay)).await?;
            attempt += 1;
        }
    }

    async fn attempt(&mut self, step: &Step) -> Result<Done, Stop> {
        // Every input the step reads is asked for before it starts, not half-way.
        let templates = step.template_sources(&[Stage::Gate, Stage::Action, Stage::After]);
        self.resolve_for(&templates.iter().map(String::as_str).collect::<Vec<_>>())
            .await?;
        let items = match self.items(step) {
            Ok(items) => items,
            Err(done) => return Ok(done),
        };
        if items.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Done {
                results: json!({ "results": [] }),
                ..Done::with(Outcome::Skipped, fan_out::NO_ITEMS)
            });
        }
        let done = match &step.action {
            Action::Manual(text) => self.manual(step, &text.source).await?,
            Action::Prompt(_) => self.prompt_step(step).await?,
            Action::ReadSetting(setting) => self.read_setting(step, setting),
            Action::SetSetting(setting) => self.set_setting(step, setting)?,
            Action::RestoreSetting(target) => self.restore_setting(&target.value),
            Action::WriteFile(file) => self.write_file(step, file)?,
            Action::RestoreFile(target) => self.restore_file(&target.value),
            Action::GenerateSecret(generator) => self.generate_secret(step, generator),
            Action::Http(request) => match &items {
                Some(items) => self.http_fan_out(step, request, items).await?,
                None => self.http_step(step, request).await?,
            },
            Action::Command(command) => self.command_step(step, command, items.as_deref()).await?,
            Action::WaitFor(wait) => self.wait(step, wait, None).await?,
            // A checklist item that runs a child runbook can be deferred up front too
            // (the seed's "deferred until production deployment"); never marked done.
            Action::Runbook(path) => match self.answered(step) {
                Some(Ok(ManualAnswer::Defer { reason })) => Done::with(Outcome::Deferred, reason),
                _ => self.child_step(step, &path.value, items.as_deref()).await?,
            },
        };
        if done.outcome == Outcome::Passed
            && let Some(wait) = &step.then_wait
        {
            // A fan-out waits for each item as it acted on each item.
            let per_item: Vec<Option<&Json>> = match &items {
                Some(items) => items.iter().map(Some).collect(),
                None => vec![None],
            };
            for item in per_item {
                let waited = self.wait(step, wait, item).await?;
                if waited.outcome != Outcome::Passed {
                    let reason = match item {
                        Some(item) => waited.reason.map(|r| format!("{}: {r}", label(item))),
                        None => waited.reason,
                    };
                    return Ok(Done {
                        results: done.results,
                        reason,
                        ..waited
                    });
                }
            }
        }
        Ok(done)
    }

    /// The items of a `for_each` (`None` without one); a failed step when a
    /// template fails or gives something other than a list.
    fn items(&self, step: &Step) -> Result<Option<Vec<Json>>, Done> {
        let Some(for_each) = &step.for_each else {
            return Ok(None);
        };
        match crate::eval::items::items(&self.values, for_each) {
            Ok(items) => Ok(Some(items)),
            Err(crate::eval::items::ItemsError::Render { place, error }) => {
                Err(self.render_failure(step, &place, &error.0))
            }
            Err(other) => Err(Done::failed(other.to_string(), json!({}))),
        }
    }

    async fn manual(&mut self, step: &Step, text: &str) -> Result<Done, Stop> {
        let instructions = match self.values.render(text, None) {
            Ok(r) => r.text,
            Err(e) => {
                return Ok(self.render_failure(step, "manual", &e.0));
            }
        };
        let irreversible = step.effect() == Some(Effect::Irreversible);
        // An answer given up front (answers file, `--set`, environment) answers the
        // step as an operator would — except that `done` never opens an
        // irreversible step: only `--confirm ID` does that.
        match self.answered(step) {
            Some(Ok(ManualAnswer::Defer { reason })) => {
                return Ok(Done::with(Outcome::Deferred, reason));
            }
            Some(Ok(ManualAnswer::Done)) if !irreversible => return Ok(Done::passed(json!({}))),
            _ => {}
        }
        if !self.interactive() {
            let name = self.confirm_name(step);
            if self.options.confirm.contains(&name) || (self.options.yes && !irreversible) {
                return Ok(Done::passed(json!({})));
            }
            self.unconfirmed.insert(step.id.value.clone());
            let how = if irreversible {
                format!("`--confirm {name}`")
            } else {
                format!("`--yes` or `--confirm {name}`")
            };
            return Ok(Done::with(
                Outcome::Blocked,
                format!(
                    "a manual step needs an operator: run at a terminal, or pass {how} once it is done"
                ),
            ));
        }
        let step_title = step.title_or_id();
        let instructions = if self.instructions_shown.take().as_ref() == Some(&step.id.value) {
            // Shown before the confirmation: the operator has just read them.
            String::new()
        } else {
            self.values.redactor.redact(&instructions)
        };
        let answer = self
            .ask_operator(move |op| op.manual(&step_title, &instructions))
            .await?;
        Ok(match answer {
            ManualAnswer::Done => Done::passed(json!({})),
            ManualAnswer::Defer { reason } => Done::with(Outcome::Deferred, reason),
            ManualAnswer::Abort => Done::failed("aborted by the operator", json!({})),
        })
    }

    /// The answer given up front for a manual or child-runbook step, by its id.
    fn answered(&self, step: &Step) -> Option<Result<ManualAnswer, String>> {
        self.answers
            .get(&step.id.value)
            .map(|(value, _)| step_answer(value))
    }

    async fn prompt_step(&mut self, step: &Step) -> Result<Done, Stop> {
        let Action::Prompt(prompt) = &step.action else {
            return Ok(Done::failed("not a prompt", json!({})));
        };
        let secret = !step.secret_fields().is_empty();
        let value = self.answer_prompt(step, prompt, secret).await?;
        let Some(value) = value else {
            return Ok(Done::with(
                Outcome::Blocked,
                format!("no answer for the prompt `{}`", step.id.value),
            ));
        };
        let mut done = Done::passed(json!({ "value": value }));
        done.declare_secrets(step);
        Ok(done)
    }

    fn read_setting(&mut self, step: &Step, setting: &model::SettingRef) -> Done {
        let file = match self.values.render(&setting.file.source, None) {
            Ok(r) => PathBuf::from(r.text),
            Err(e) => return self.render_failure(step, "file", &e.0),
        };
        match setting::read(&file, &setting.key.value) {
            Ok(Some(value)) => {
                let mut done = Done::passed(json!({ "value": value }));
                done.declare_secrets(step);
                done
            }
            Ok(None) => Done::failed(
                format!("`{}` is not set in `{}`", setting.key.value, file.display()),
                json!({}),
            ),
            Err(e) => Done::failed(self.values.redactor.redact(&e.to_string()), json!({})),
        }
    }

    fn set_setting(&mut self, step: &Step, setting: &model::SetSetting) -> Result<Done, Stop> {
        let rendered = self
            .values
            .render(&setting.file.source, None)
            .and_then(|file| {
                let mut values = Vec::with_capacity(setting.values.len());
                for (key, value) in &setting.values {
                    values.push((key.value.as_str(), self.values.render(&value.source, None)?));
                }
                Ok((file, values))
            });
        let (file, values) = match rendered {
            Ok((file, values)) => (PathBuf::from(file.text), values),
            Err(e) => {
                return Ok(self.render_failure(step, "set_setting", &e.0));
            }
        };
        for (_, value) in &values {
            if value.secret {
                self.values.redactor.add(&value.text);
            }
        }
        self.journal_write(step, &file)?;
        let backup = self
            .state
            .backups_dir(&self.run_id)
            .join(format!("{}.bak", step.id.value));
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(key, value)| (*key, value.text.as_str()))
            .collect();
        Ok(match setting::write(&file, &pairs, &backup) {
            Ok(written) => {
                let fingerprints: serde_json::Map<String, Json> = pairs
                    .iter()
                    .zip(&written.previous_fingerprints)
                    .map(|((key, _), fp)| ((*key).to_owned(), json!(fp)))
                    .collect();
                let mut results = json!({
                    "previous_fingerprints": fingerprints,
                    "file": file.display().to_string(),
                    "backup": written.backup.display().to_string(),
                });
                if let [only] = written.previous_fingerprints.as_slice() {
                    results["previous_fingerprint"] = json!(only);
                }
                Done::passed(results)
            }
            Err(e) => Done::failed(self.values.redactor.redact(&e.to_string()), json!({})),
        })
    }

    /// The file the step `target` wrote and the backup it kept, for the
    /// `restore_*` step that undoes it; a failed step when it wrote nothing.
    fn written_by(&self, target: &str) -> Result<(String, String), Done> {
        let Some(results) = self.values.step(target) else {
            return Err(Done::failed(
                format!("`{target}` has not run, so there is nothing to restore"),
                json!({}),
            ));
        };
        match (
            results.get("file").and_then(Json::as_str),
            results.get("backup").and_then(Json::as_str),
        ) {
            (Some(file), Some(backup)) => Ok((file.to_owned(), backup.to_owned())),
            _ => Err(Done::failed(
                format!("`{target}` wrote nothing, so there is nothing to restore"),
                json!({}),
            )),
        }
    }

    fn restore_setting(&mut self, target: &str) -> Done {
        let (file, backup) = match self.written_by(target) {
            Ok(written) => written,
            Err(not) => return not,
        };
        let (file, backup) = (file.as_str(), backup.as_str());
        // `validate` proved the target is a `set_setting` step (RB028).
        let set = self.runbook.all_steps().find_map(|s| match &s.action {
            Action::SetSetting(set) if s.id.value == target => Some(set),
            _ => None,
        });
        let Some(set) = set else {
            return Done::failed(format!("`{target}` is not a set_setting step"), json!({}));
        };
        let keys: Vec<&str> = set
            .values
            .iter()
            .map(|(key, _)| key.value.as_str())
            .collect();
        match setting::restore(&PathBuf::from(file), &keys, &PathBuf::from(backup)) {
            Ok(()) => Done::passed(json!({ "file": file })),
            Err(e) => Done::failed(self.values.redactor.redact(&e.to_string()), json!({})),
        }
    }

    fn write_file(&mut self, step: &Step, file: &model::WriteFile) -> Result<Done, Stop> {
        let rendered = self
            .values
            .render(&file.path.source, None)
            .and_then(|path| {
                let source = match &file.source {
                    model::FileSource::Content(t) | model::FileSource::From(t) => t,
                };
                Ok((path, self.values.render(&source.source, None)?))
            });
        let (path, source) = match rendered {
            Ok((path, source)) => (PathBuf::from(path.text), source),
            Err(e) => {
                return Ok(self.render_failure(step, "write_file", &e.0));
            }
        };
        let bytes = match &file.source {
            model::FileSource::Content(_) => source.text.clone().into_bytes(),
            model::FileSource::From(_) => match setting::read_source(Path::new(&source.text)) {
                Ok(bytes) => bytes,
                Err(e) => {
                    return Ok(Done::failed(
                        self.values.redactor.redact(&e.to_string()),
                        json!({}),
                    ));
                }
            },
        };
        let secret = source.secret || step.secret.as_ref().is_some_and(|s| s.value);
        if secret {
            // The whole content is the secret; its lines are masked wherever
            // one of them turns up on its own.
            let text = String::from_utf8_lossy(&bytes).into_owned();
            self.values.redactor.add(&text);
            for line in text.lines().filter(|l| l.trim().len() >= 8) {
                self.values.redactor.add(line.trim());
            }
        }
        let backup = self
            .state
            .backups_dir(&self.run_id)
            .join(format!("{}.bak", step.id.value));
        self.journal_write(step, &path)?;
        Ok(
            match setting::write_file(&path, &bytes, file.mode.as_ref().map(|m| m.value), &backup) {
                Ok(written) => Done::passed(json!({
                    "file": path.display().to_string(),
                    "backup": backup.display().to_string(),
                    "fingerprint": written.fingerprint,
                    "previous_fingerprint": written.previous_fingerprint,
                })),
                Err(e) => Done::failed(self.values.redactor.redact(&e.to_string()), json!({})),
            },
        )
    }

    /// Journals the file a step is about to write, before the write: should
    /// the run die during it, the next run or resume knows where to look for
    /// the temporary file the write left (it may hold a secret).
    fn journal_write(&mut self, step: &Step, file: &Path) -> Result<(), Stop> {
        self.record(EventKind::SettingWrite {
            step: step.id.value.clone(),
            file: std::path::absolute(file)
                .unwrap_or_else(|_| file.to_path_buf())
                .display()
                .to_string(),
        })?;
        Ok(())
    }

    fn generate_secret(&mut self, step: &Step, generator: &model::GenerateSecret) -> Done {
        let length = usize::try_from(generator.length.value).unwrap_or(usize::MAX);
        match generate::generate(length, &generator.alphabet()) {
            Ok(value) => {
                // Masked from the first byte anyone could see.
                self.values.redactor.add(&value);
                let mut done = Done::passed(json!({ "value": value }));
                done.declare_secrets(step);
                done
            }
            Err(e) => Done::failed(e.to_string(), json!({})),
        }
    }

    fn restore_file(&mut self, target: &str) -> Done {
        let (file, backup) = match self.written_by(target) {
            Ok(written) => written,
            Err(not) => return not,
        };
        let (file, backup) = (file.as_str(), backup.as_str());
        match setting::restore_file(Path::new(file), Path::new(backup)) {
            Ok(()) => Done::passed(json!({ "file": file })),
            Err(e) => Done::failed(self.values.redactor.redact(&e.to_string()), json!({})),
        }
    }

    fn request(&self, spec: &HttpRequest, item: Option<&Json>) -> Result<Request, RenderError> {
        rendered::request(&self.values, spec, item)
    }

    fn expectation(
        &self,
        expect: Option<&Expect>,
        item: Option<&Json>,
        subject: Subject,
    ) -> Result<Expectation, RenderError> {
        rendered::expectation(&self.values, expect, item, subject)
    }

    async fn http_step(&mut self, step: &Step, spec: &HttpRequest) -> Result<Done, Stop> {
        let (request, expectation) = match self.request(spec, None).and_then(|r| {
            Ok((
                r,
                self.expectation(step.expect.as_ref(), None, Subject::Http)?,
            ))
        }) {
            Ok(pair) => pair,
            Err(e) => {
                return Ok(self.render_failure(step, "http", &e.0));
            }
        };
        let client = match request.connection.client_or(&self.client) {
            Ok(client) => client,
            Err(e) => {
                return Ok(Done::failed(
                    self.values.redactor.redact(&e.reason()),
                    json!({}),
                ));
            }
        };
        let (deadline, shown) = self.patience(step);
        let result = self
            .acting(
                step,
                http::send_patiently(&client, &request, deadline.into(), |throttled| {
                    shown.show(throttled);
                }),
            )
            .await?;
        Ok(self.judge_response(step, result.map(|(response, _)| response), &expectation))
    }

    /// Turns a response (or the error that stood in for one) into an outcome.
    fn judge_response(
        &self,
        step: &Step,
        result: Result<Response, http::HttpError>,
        expectation: &Expectation,
    ) -> Done {
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                let mut reason = error.to_string();
                if let Some(help) = error.help() {
                    reason.push_str(&format!(" ({help})"));
                }
                return Done::failed(self.values.redactor.redact(&reason), json!({}));
            }
        };
        let results = response_results(&response);
        let mismatches = expect::check(expectation, &response);
        if mismatches.is_empty() {
            return Done::passed(results);
        }
        let reason = self.explained(step, expect::describe(&mismatches), response.status);
        Done::failed(self.values.redactor.redact(&reason), results)
    }

    /// A failure reason with the step's `explain:` for the status or exit code.
    fn explained(&self, step: &Step, mut reason: String, code: impl Into<i64>) -> String {
        let explains = step.explains();
        if let Some(explanation) = expect::explain(&explains, code) {
            match self.values.render(explanation, None) {
                Ok(rendered) => reason.push_str(&format!(" — {}", rendered.text.trim())),
                Err(e) => reason.push_str(&format!(" (its `explain` template failed: {})", e.0)),
            }
        }
        reason
    }

    async fn http_fan_out(
        &mut self,
        step: &Step,
        spec: &HttpRequest,
        items: &[Json],
    ) -> Result<Done, Stop> {
        let mut prepared = Vec::with_capacity(items.len());
        for item in items {
            match self.request(spec, Some(item)).and_then(|r| {
                Ok((
                    r,
                    self.expectation(step.expect.as_ref(), Some(item), Subject::Http)?,
                ))
            }) {
                Ok(pair) => prepared.push(pair),
                Err(e) => {
                    return Ok(self.render_failure(
                        step,
                        "http",
                        &format!("{}: {}", label(item), e.0),
                    ));
                }
            }
        }
        let concurrency = step.concurrency() as usize;
        let (deadline, shown) = self.patience(step);
        let total = prepared.len() as u64;
        let progress = self.progress(
            &format!("{} ({} items)", step.title_or_id(), total),
            Some(total),
        );
        // One connection set-up for every item: `tls` and `resolve` cannot
        // read `item`. A bad file fails the step before anything is sent.
        let connection = prepared
            .first()
            .map(|(request, _)| request.connection.clone())
            .unwrap_or_default();
        let lanes = match Lanes::new(connection) {
            Ok(lanes) => lanes,
            Err(e) => {
                return Ok(Done::failed(
                    self.values.redactor.redact(&e.reason()),
                    json!({}),
                ));
            }
        };
        let progress_handle = progress.clone();
        let outcomes = self
            .acting(
                step,
                fan_out::for_each(
                    prepared,
                    concurrency,
                    |(request, expectation): (Request, Expectation)| {
                        let lanes = &lanes;
                        let shown = shown.clone();
                        async move {
                            let result = lanes
                                .send_patiently(&request, deadline.into(), |throttled| {
                                    shown.show(throttled);
                                })
                                .await;
                            (request.url, result, expectation)
                        }
                    },
                    move |_done| {
                        if let Ok(mut p) = progress_handle.lock() {
                            p.advance(1);
                        }
                    },
                ),
            )
            .await?;
        let mut results = Vec::new();
        let mut failures = Vec::new();
        for (item, (url, result, expectation)) in items.iter().zip(outcomes) {
            let done = self.judge_response(step, result.map(|(r, _)| r), &expectation);
            let mut entry = done.results;
            entry["outcome"] = json!(done.outcome.as_str());
            entry["url"] = json!(url);
            entry["item"] = item.clone();
            if let Some(reason) = &done.reason {
                entry["reason"] = json!(reason);
                failures.push(format!("{} ({url}): {reason}", label(item)));
            }
            results.push(entry);
        }
        if let Ok(mut p) = progress.lock() {
            p.finish(&format!(
                "    {} of {} items passed",
                results.len() - failures.len(),
                results.len()
            ));
        }
        Ok(self.fanned_out(results, &failures))
    }

    /// Until when an HTTP step waits out `429`s — its `timeout`, else
    /// [`http::DEFAULT_PATIENCE`] — and what shows each wait on the screen.
    fn patience(&self, step: &Step) -> (Instant, ShowThrottle) {
        let bound = step.timeout.as_ref().map(|t| t.value.0);
        let shown = ShowThrottle {
            operator: std::sync::Arc::clone(&self.operator),
            redactor: self.values.redactor.clone(),
            indent: "  ".repeat(self.depth),
            bound,
        };
        let deadline = Instant::now() + bound.unwrap_or(http::DEFAULT_PATIENCE);
        (deadline, shown)
    }

    /// A step that failed before acting because its `field` template did not
    /// render: nothing was done, so it has no results.
    fn render_failure(&self, step: &Step, field: &str, error: &str) -> Done {
        Done::failed(self.render_failed(step, field, error), json!({}))
    }

    /// A fan-out's outcome: passed only if every item passed.
    fn fanned_out(&self, results: Vec<Json>, failures: &[String]) -> Done {
        let total = results.len();
        let results = json!({ "results": Json::Array(results) });
        if failures.is_empty() {
            Done::passed(results)
        } else {
            let reason = format!(
                "{} of {total} items failed: {}",
                failures.len(),
                first_failures(failures)
            );
            Done::failed(self.values.redactor.redact(&reason), results)
        }
    }

    async fn command_step(
        &mut self,
        step: &Step,
        spec: &model::Command,
        items: Option<&[Json]>,
    ) -> Result<Done, Stop> {
        let timeout = step.timeout.as_ref().map(|t| t.value.0);
        let per_item: Vec<Option<&Json>> = match items {
            Some(items) => items.iter().map(Some).collect(),
            None => vec![None],
        };
        let mut prepared = Vec::with_capacity(per_item.len());
        for item in &per_item {
            let rendered = rendered::command(&self.values, spec, *item, timeout).and_then(|c| {
                let mut expectation =
                    self.expectation(step.expect.as_ref(), *item, Subject::Command)?;
                expectation.secret_output = step.secret.as_ref().is_some_and(|s| s.value);
                Ok((c, expectation))
            });
            match rendered {
                Ok(pair) => prepared.push(pair),
                Err(e) => {
                    let error = match item {
                        Some(item) => format!("{}: {}", label(item), e.0),
                        None => e.0,
                    };
                    return Ok(self.render_failure(step, "command", &error));
                }
            }
        }
        let concurrency = step.concurrency() as usize;
        let outputs = self
            .acting(
                step,
                fan_out::for_each(
                    prepared,
                    concurrency,
                    |(s, expectation): (CommandSpec, Expectation)| async move {
                        (command::run(&s).await, expectation)
                    },
                    |_| {},
                ),
            )
            .await?;
        let mut done = if let Some(items) = items {
            let mut results = Vec::new();
            let mut failures = Vec::new();
            for (item, (output, expectation)) in items.iter().zip(outputs) {
                let (mut entry, failure) = self.judge_command(step, output, &expectation);
                entry["item"] = item.clone();
                entry["outcome"] = json!(if failure.is_some() {
                    "failed"
                } else {
                    "passed"
                });
                if let Some(failure) = failure {
                    entry["reason"] = json!(failure);
                    failures.push(format!("{}: {failure}", label(item)));
                }
                results.push(entry);
            }
            self.fanned_out(results, &failures)
        } else {
            let (output, expectation) = outputs.into_iter().next().unwrap_or_else(|| {
                (
                    Err(command::CommandError::Wait(std::io::Error::other(
                        "the command did not run",
                    ))),
                    Expectation::default(),
                )
            });
            match self.judge_command(step, output, &expectation) {
                (entry, None) => Done::passed(entry),
                (entry, Some(failure)) => Done::failed(failure, entry),
            }
        };
        done.declare_secrets(step);
        done.reason = done.reason.map(|r| self.values.redactor.redact(&r));
        Ok(done)
    }

    /// Results and the failure (if any) of one finished command.
    fn judge_command(
        &self,
        step: &Step,
        output: Result<command::CommandOutput, command::CommandError>,
        expectation: &Expectation,
    ) -> (Json, Option<String>) {
        let output = match output {
            Ok(output) => output,
            Err(error) => return (json!({}), Some(error.to_string())),
        };
        // Masked, then cut: a cut through a secret would leave a prefix that no
        // longer looks like it.
        let redactor = &self.values.redactor;
        let results = json!({
            "exit_code": output.exit_code,
            "stdout": command::cut(&redactor.redact(&output.stdout)),
            "stderr": command::cut(&redactor.redact(&output.stderr)),
            "elapsed_ms": output.elapsed_ms,
        });
        if output.timed_out {
            return (
                results,
                Some("timed out; the command and everything it started were stopped".to_owned()),
            );
        }
        let mismatches = expect::check_command(expectation, &output);
        if mismatches.is_empty() {
            return (results, None);
        }
        let mut reason = expect::describe(&mismatches);
        if let Some(code) = output.exit_code {
            reason = self.explained(step, reason, code);
        }
        // A secret command's output is the secret: it is not quoted.
        let secret = !step.secret_fields().is_empty();
        let tail = last_lines(&output.stderr, 5).or_else(|| last_lines(&output.stdout, 5));
        if let Some(tail) = tail.filter(|_| !secret) {
            reason.push_str(&format!("\n{tail}"));
        }
        (results, Some(reason))
    }

    /// Polls `wait_for` (for one item of a fan-out, or for the step) until its
    /// expectation holds or its timeout passes.
    pub(super) async fn wait(
        &mut self,
        step: &Step,
        wait: &model::WaitFor,
        item: Option<&Json>,
    ) -> Result<Done, Stop> {
        let mut wait = match rendered::wait(&self.values, wait, item) {
            Ok(wait) => wait,
            Err(e) => {
                return Ok(Done::failed(
                    self.render_failed(step, "wait_for", &e.0),
                    json!({ "attempts": 0 }),
                ));
            }
        };
        wait.expectation.secret_output = step.secret.as_ref().is_some_and(|s| s.value);
        let label = match &wait.poll {
            Poll::Request(request) => format!("waiting for {}", request.url),
            Poll::Command(command) => format!("waiting for `{}`", command.run),
        };
        let client = match wait.client(&self.client) {
            Ok(client) => client,
            Err(e) => {
                return Ok(Done::failed(
                    self.values.redactor.redact(&e.reason()),
                    json!({ "attempts": 0 }),
                ));
            }
        };
        let progress = self.progress(&label, None);
        let shown = progress.clone();
        let redactor = self.values.redactor.clone();
        let polled = self
            .interruptible(wait.poll(&client, move |attempt, failure| {
                if let Ok(mut p) = shown.lock() {
                    p.message(&redactor.redact(&format!("attempt {attempt}: {failure}")));
                }
            }))
            .await?;
        let attempts = polled.attempts;
        if polled.ready {
            if let Ok(mut p) = progress.lock() {
                p.finish(&format!("    ready after {attempts} attempt(s)"));
            }
            return Ok(Done::passed(json!({ "attempts": attempts })));
        }
        if let Ok(mut p) = progress.lock() {
            p.finish(&format!("    gave up after {attempts} attempt(s)"));
        }
        let last = polled.last_failure.unwrap_or_default();
        Ok(Done::failed(
            self.values.redactor.redact(&format!(
                "not ready after {} ({attempts} attempts); last: {last}",
                humantime::format_duration(wait.timeout)
            )),
            json!({ "attempts": attempts }),
        ))
    }
}

/// Shows the `429`s an HTTP step meets, as they come: a wait the operator
/// cannot see looks like a hung run.
#[derive(Clone)]
struct ShowThrottle {
    operator: crate::engine::runner::SharedOperator,
    redactor: crate::secret::Redactor,
    indent: String,
    /// The step's `timeout`; `None` when it waits [`http::DEFAULT_PATIENCE`].
    bound: Option<Duration>,
}

impl ShowThrottle {
    fn show(&self, throttled: &http::Throttled) {
        let line = self.redactor.redact(&throttle_line(throttled, self.bound));
        if let Ok(mut operator) = self.operator.try_lock() {
            operator.say(&format!("{}    {line}", self.indent));
        }
    }
}

/// `waiting 30s: the server said 429 Too Many Requests, Retry-After: 30`, or
/// why that wait is not sat out.
fn throttle_line(throttled: &http::Throttled, bound: Option<Duration>) -> String {
    // Whole seconds, as `Retry-After` gives them; a shorter wait in milliseconds.
    let wait = if throttled.wait < Duration::from_secs(1) {
        format!("{}ms", throttled.wait.as_millis())
    } else {
        humantime::format_duration(Duration::from_secs(throttled.wait.as_secs())).to_string()
    };
    let said = match &throttled.retry_after {
        Some(value) => format!("the server said 429 Too Many Requests, Retry-After: {value}"),
        None => "the server said 429 Too Many Requests, without Retry-After".to_owned(),
    };
    if throttled.waiting {
        return format!("waiting {wait}: {said}");
    }
    let why = match bound {
        Some(bound) => format!(
            "that is past this step's `timeout: {}`",
            humantime::format_duration(bound)
        ),
        None => format!(
            "this step waits out 429s for {} at most (give it a `timeout` to wait longer)",
            humantime::format_duration(http::DEFAULT_PATIENCE)
        ),
    };
    format!("not waiting {wait}: {said}; {why}")
}

/// Reads an answer to a manual step given up front: `done`, or `defer: REASON`
/// (a deferral without its reason would leave the checklist unexplained).
pub fn step_answer(value: &str) -> Result<ManualAnswer, String> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("done") {
        return Ok(ManualAnswer::Done);
    }
    match value.strip_prefix("defer:").map(str::trim) {
        Some("") => Err("`defer:` needs a reason: `defer: REASON`".to_owned()),
        Some(reason) => Ok(ManualAnswer::Defer {
            reason: reason.to_owned(),
        }),
        None => Err("it must be `done` or `defer: REASON`".to_owned()),
    }
}

/// The files of the child runbooks that the answers defer (`ID: "defer: …"`
/// for a `runbook:` step of `runbook`, defined in `file`).
pub fn deferred_children(
    file: &std::path::Path,
    runbook: &model::Runbook,
    answers: &crate::eval::answers::Answers,
) -> Vec<PathBuf> {
    let base = crate::document::rules::parent_dir(file);
    runbook
        .all_steps()
        .filter_map(|step| match &step.action {
            Action::Runbook(path) => Some((step, path)),
            _ => None,
        })
        .filter(|(step, _)| {
            answers.get(&step.id.value).is_some_and(|(value, _)| {
                matches!(step_answer(value), Ok(ManualAnswer::Defer { .. }))
            })
        })
        .map(|(_, path)| base.join(&path.value))
        .collect()
}

fn response_results(response: &Response) -> Json {
    let mut results = json!({
        "status": response.status,
        "json": response.json,
        "headers": response.headers,
        "body": response.body,
        "elapsed_ms": response.elapsed_ms,
    });
    // Over HTTPS only: `steps.<id>.tls` is the served certificate.
    if let Some(Ok(certificate)) = &response.tls {
        results["tls"] = certificate.to_json();
    }
    results
}

/// The first few item failures, and how many more there are: the full list is
/// in the step's `results`, the screen needs the pattern.
pub(super) fn first_failures(failures: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = failures
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if failures.len() > SHOWN {
        text.push_str(&format!("; and {} more", failures.len() - SHOWN));
    }
    text
}

/// The last `n` non-empty lines of a process's output, indented, if any.
fn last_lines(text: &str, n: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return None;
    }
    let start = lines.len().saturating_sub(n);
    Some(
        lines[start..]
            .iter()
            .map(|l| format!("      | {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}
