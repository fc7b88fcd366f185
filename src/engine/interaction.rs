//! Where the run meets the operator and the keyboard: asking (on a blocking
//! thread, so Ctrl-C is seen even while a prompt waits), progress displays,
//! inputs resolved when a step first needs them, and interruption — by Ctrl-C,
//! or by SIGTERM or SIGHUP (systemd stopping a unit, an ssh session closing).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::document::model::{Effect, Prompt, Step};
use crate::document::pattern::anchored;
use crate::engine::journal::EventKind;
use crate::engine::runner::Engine;
use crate::engine::{EngineError, Stop};
use crate::eval::answers::Source;
use crate::eval::inputs::Spec;
use crate::operator::{Interrupted, Operator, Progress};
use crate::secret::fingerprint;

/// A progress display shared with the tasks that advance it.
pub type SharedProgress = Arc<Mutex<Box<dyn Progress>>>;

/// How long an answer that failed waits for the signal behind it.
const SIGNAL_WITH_FAILED_READ: Duration = Duration::from_millis(200);

tokio::task_local! {
    /// The signal that asked the run to stop, once one came.
    static STOP_SIGNAL: watch::Receiver<Option<Signal>>;
}

/// Runs `steps` with SIGINT, SIGTERM and SIGHUP caught from the start: one that
/// arrives while no step waits is kept, and the next wait stops the run. A child
/// runbook's steps run inside their parent's watch.
pub(super) async fn watching_signals<T>(steps: impl Future<Output = T>) -> std::io::Result<T> {
    if STOP_SIGNAL.try_with(|_| ()).is_ok() {
        return Ok(steps.await);
    }
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let (tell, told) = watch::channel(None);
    let listen = async move {
        let caught = tokio::select! {
            Some(()) = interrupt.recv() => Signal::SIGINT,
            Some(()) = terminate.recv() => Signal::SIGTERM,
            Some(()) = hangup.recv() => Signal::SIGHUP,
            else => std::future::pending().await,
        };
        tell.send_replace(Some(caught));
        std::future::pending::<std::convert::Infallible>().await
    };
    tokio::select! {
        // The listener first: a wait woken together with a signal sees it.
        biased;
        never = listen => match never {},
        value = STOP_SIGNAL.scope(told, steps) => Ok(value),
    }
}

/// The signal that asked the run to stop, if one came already.
pub(super) fn caught_signal() -> Option<Signal> {
    STOP_SIGNAL.try_with(|told| *told.borrow()).ok().flatten()
}

/// Resolves, to the signal, once one asked the run to stop.
async fn stop_signal() -> Signal {
    // Every run's steps run inside `watching_signals` (see `drive`).
    let mut told = STOP_SIGNAL.with(watch::Receiver::clone);
    match told.wait_for(Option::is_some).await.map(|caught| *caught) {
        Ok(Some(caught)) => caught,
        // The listener outlives the steps it watches over: never reached.
        _ => std::future::pending().await,
    }
}

impl Engine {
    /// Awaits `work`, or stops the run if a signal (Ctrl-C, SIGTERM, SIGHUP)
    /// came first or comes meanwhile. Dropping `work` stops it: a running
    /// command's process group is killed.
    pub(super) async fn interruptible<T>(&self, work: impl Future<Output = T>) -> Result<T, Stop> {
        tokio::select! {
            // Work that is done is kept; the next wait stops the run.
            biased;
            value = work => Ok(value),
            caught = stop_signal() => Err(Stop::Interrupted(caught)),
        }
    }

    /// Awaits the request (or command) of `step`: as [`Engine::interruptible`],
    /// except that an irreversible one is never abandoned half-way. Once sent, it
    /// may have happened or not, and only its answer tells; so a signal waits for
    /// that answer, says so, and the run stops as soon as the result is journaled.
    pub(super) async fn acting<T>(
        &self,
        step: &Step,
        work: impl Future<Output = T>,
    ) -> Result<T, Stop> {
        if step.effect() != Some(Effect::Irreversible) {
            return self.interruptible(work).await;
        }
        let mut work = std::pin::pin!(work);
        tokio::select! {
            biased;
            value = &mut work => return Ok(value),
            caught = stop_signal() => {
                let by = match caught {
                    Signal::SIGINT => "Ctrl-C".to_owned(),
                    other => other.to_string(),
                };
                self.say(&format!(
                    "  {by}: waiting for the answer to `{}` first: it is irreversible, and abandoned half-way nobody could tell whether it happened. The run stops right after.",
                    step.id.value
                ));
            }
        }
        Ok(work.await)
    }

    /// Asks the operator on a blocking thread, watching for Ctrl-C meanwhile.
    pub(super) async fn ask_operator<T: Send + 'static>(
        &self,
        ask: impl FnOnce(&mut dyn Operator) -> Result<T, Interrupted> + Send + 'static,
    ) -> Result<T, Stop> {
        let operator = Arc::clone(&self.operator);
        let asked = tokio::task::spawn_blocking(move || {
            let mut operator = operator.lock().map_err(|_| Interrupted)?;
            ask(operator.as_mut())
        });
        match self.interruptible(asked).await? {
            Ok(Ok(value)) => Ok(value),
            // The terminal raises SIGINT at Ctrl-C, and a hung-up one fails the
            // read as SIGHUP comes: the signal, if one comes at once, names the
            // interruption. An operator who cannot answer (no terminal) stops
            // the run as Ctrl-C does.
            Ok(Err(Interrupted)) | Err(_) => Err(Stop::Interrupted(
                tokio::time::timeout(SIGNAL_WITH_FAILED_READ, stop_signal())
                    .await
                    .unwrap_or(Signal::SIGINT),
            )),
        }
    }

    pub(super) fn progress(&self, label: &str, total: Option<u64>) -> SharedProgress {
        // Indented like the step's other lines.
        let label = format!(
            "{}    {}",
            "  ".repeat(self.depth),
            self.values.redactor.redact(label)
        );
        let progress = match self.operator.lock() {
            Ok(mut operator) => operator.progress(&label, total),
            Err(_) => Box::new(NoProgress),
        };
        Arc::new(Mutex::new(progress))
    }

    /// Gives a value to every input these templates read that has none yet:
    /// from the answers, the default, or the operator (SPEC §1: asked when a step
    /// first uses it). Secrets replayed from a journal are asked again.
    pub(super) async fn resolve_for(&mut self, templates: &[&str]) -> Result<(), Stop> {
        for template in templates {
            for name in self.values.missing_inputs(template) {
                self.resolve_input(&name).await?;
            }
            self.resolve_pending_secrets(template).await?;
        }
        Ok(())
    }

    async fn resolve_input(&mut self, name: &str) -> Result<(), Stop> {
        let Some(input) = self.runbook.input(name).cloned() else {
            return Ok(());
        };
        let spec = Spec::of_input(&input);
        let (value, source) = if let Some((value, source)) = self.answers.get(name) {
            (value.to_owned(), source)
        } else if let Some(default) = input
            .default
            .as_ref()
            .filter(|_| !self.pending_inputs.contains_key(name))
        {
            // A default may read other inputs; boxed, since that recursion is async.
            Box::pin(self.resolve_for(&[default.source.as_str()])).await?;
            let value = self.values.render(&default.source, None).map_err(|e| {
                Stop::Fatal(EngineError::Input(format!(
                    "the default of input `{name}` failed: {}",
                    e.0
                )))
            })?;
            (value.text, Source::Default)
        } else if self.interactive() {
            let question = spec.question(None);
            let value = match self.pending_inputs.get(name).cloned() {
                Some(expected) => self.ask_matching(question, &expected).await?,
                None => self.ask_operator(move |op| op.ask(&question)).await?,
            };
            (value, Source::Operator)
        } else {
            return Err(Stop::Fatal(EngineError::Input(format!(
                "the input `{name}` has no value and nobody can be asked"
            ))));
        };
        if let Some(expected) = self.pending_inputs.remove(name)
            && fingerprint(&value) != expected
        {
            return Err(Stop::Fatal(EngineError::Input(format!(
                "the value given for `{name}` is not the one this run started with (its fingerprint differs)"
            ))));
        }
        // A parent's secret passed in `with:` is a secret here too.
        let secret = spec.secret || self.answers.given_secret(name);
        self.values.set_input(name, value.clone(), secret);
        if secret {
            self.keep_secret(&format!("inputs.{name}"), &value)?;
        }
        self.record(EventKind::InputProvided {
            name: name.to_owned(),
            fingerprint: fingerprint(&value),
            secret,
            value: (!secret).then(|| value.clone()),
            source: source.as_str().to_owned(),
        })?;
        Ok(())
    }

    /// On resume, secret step results are known only by fingerprint; when a
    /// template reads one, the operator (or the answers, under the step id) gives
    /// it again and the fingerprint proves it is the same value.
    async fn resolve_pending_secrets(&mut self, template: &str) -> Result<(), Stop> {
        let env = crate::template::environment();
        let references = crate::template::references(&env, template).unwrap_or_default();
        let wanted: Vec<(String, String)> = self
            .pending_secrets
            .iter()
            .filter(|(path, _)| reads(&references, path))
            .map(|(p, f)| (p.clone(), f.clone()))
            .collect();
        for (path, expected) in wanted {
            let mut parts = path.splitn(3, '.');
            let (_, step_id, field) = (
                parts.next(),
                parts.next().unwrap_or_default().to_owned(),
                parts.next().unwrap_or_default().to_owned(),
            );
            // A child's output is answered by nobody up front: the step id is
            // the child-runbook step's, whose answers are `done` or `defer`.
            let output = field.contains("outputs.");
            let value = if let Some((value, _)) = self.answers.get(&step_id).filter(|_| !output) {
                value.to_owned()
            } else if self.interactive() {
                let masked = self
                    .values
                    .step(&step_id)
                    .and_then(|r| crate::eval::values::field(r, &field))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned();
                let question = crate::operator::Question {
                    name: step_id.clone(),
                    prompt: format!("Resuming: enter again the secret `{path}` ({masked})"),
                    secret: true,
                    pattern: None,
                    choices: Vec::new(),
                    default: None,
                };
                self.ask_matching(question, &expected).await?
            } else if output {
                return Err(Stop::Fatal(EngineError::Input(format!(
                    "resuming needs the secret output `{path}` of a child runbook again, and it was not kept (`--no-keep-secrets` or `keep_secrets: false`): resume at a terminal to enter it"
                ))));
            } else {
                return Err(Stop::Fatal(EngineError::Input(format!(
                    "resuming needs the secret `{path}` again: give it in an --answers file or RUNBOOK_INPUT_{} under the step id",
                    step_id.to_ascii_uppercase()
                ))));
            };
            if fingerprint(&value) != expected {
                return Err(Stop::Fatal(EngineError::Input(format!(
                    "the value given for `{path}` is not the one this run used (its fingerprint differs)"
                ))));
            }
            self.keep_secret(&path, &value)?;
            self.restore_secret(&path, value);
        }
        Ok(())
    }

    /// Puts back a secret step result (`steps.ID.FIELD`) that a resumed run knew
    /// only by fingerprint.
    pub(super) fn restore_secret(&mut self, path: &str, value: String) {
        let mut parts = path.splitn(3, '.');
        let (_, step_id, field) = (
            parts.next(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default().to_owned(),
        );
        let mut results = self.values.step(step_id).cloned().unwrap_or_default();
        crate::eval::values::set_field(&mut results, &field, serde_json::Value::String(value));
        self.values.set_step(step_id, results, &[field]);
        self.pending_secrets.remove(path);
    }

    /// Asks for a value this run used before, until the answer has the recorded
    /// fingerprint: a mistyped paste is asked again, three tries in all.
    async fn ask_matching(
        &mut self,
        question: crate::operator::Question,
        expected: &str,
    ) -> Result<String, Stop> {
        for _ in 0..3 {
            let asked = question.clone();
            let value = self.ask_operator(move |op| op.ask(&asked)).await?;
            if fingerprint(&value) == expected {
                return Ok(value);
            }
            self.say("  That is not the value this run used before; try again.");
        }
        Err(Stop::Fatal(EngineError::Input(format!(
            "the value given for `{}` is not the one this run used (its fingerprint differs)",
            question.name
        ))))
    }

    /// The answer to a `prompt` step: given up front (under the step id), asked,
    /// or its default.
    pub(super) async fn answer_prompt(
        &mut self,
        step: &Step,
        prompt: &Prompt,
        secret: bool,
    ) -> Result<Option<String>, Stop> {
        let id = step.id.value.clone();
        if let Some((value, _)) = self.answers.get(&id) {
            return Ok(Some(value.to_owned()));
        }
        let default = match &prompt.default {
            Some(t) => Some(
                self.values
                    .render(&t.source, None)
                    .map_err(|e| Stop::Fatal(EngineError::Input(e.0)))?
                    .text,
            ),
            None => None,
        };
        if !self.interactive() {
            return Ok(default);
        }
        let message = match &prompt.message {
            Some(t) => {
                self.values
                    .render(&t.source, None)
                    .map_err(|e| Stop::Fatal(EngineError::Input(e.0)))?
                    .text
            }
            None => step.title_or_id(),
        };
        let question = crate::operator::Question {
            name: id,
            prompt: self.values.redactor.redact(&message),
            secret,
            // Compiles: `validate`, which every run passes first, checked this very form.
            pattern: prompt
                .pattern
                .as_ref()
                .and_then(|p| anchored(&p.value).ok()),
            choices: prompt.choices.iter().map(|c| c.value.clone()).collect(),
            default,
        };
        Ok(Some(self.ask_operator(move |op| op.ask(&question)).await?))
    }
}

/// Whether a template with these references reads the value at `path` (or a
/// part of it, or a whole that holds it).
pub(super) fn reads(references: &[String], path: &str) -> bool {
    references.iter().any(|r| {
        r == path || r.starts_with(&format!("{path}.")) || path.starts_with(&format!("{r}."))
    })
}

/// A progress display that shows nothing (when the operator is unavailable).
struct NoProgress;

impl Progress for NoProgress {
    fn message(&mut self, _: &str) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_signal_that_came_while_nothing_waited_stops_the_next_wait() {
        let caught = watching_signals(async {
            // Caught from here on: the handlers were installed before the steps began.
            nix::sys::signal::raise(Signal::SIGTERM).expect("raise SIGTERM");
            // Not a wait that watches for signals: this one runs to its end.
            tokio::time::sleep(Duration::from_millis(200)).await;
            tokio::time::timeout(Duration::from_secs(10), stop_signal()).await
        })
        .await
        .expect("the handlers installed");
        assert_eq!(caught.ok(), Some(Signal::SIGTERM), "the signal was lost");
    }
}
