//! The person running the runbook, behind a small trait so the engine can be
//! driven by a real terminal (`terminal.rs`) or by nobody (`headless.rs`: no TTY
//! or `--non-interactive`, never asks). Tests drive the terminal for real, in a
//! pseudo-terminal (tests/pty.rs).
//!
//! Everything the engine shows goes through [`Operator::say`] already redacted;
//! an operator never sees a secret except the one it is typing.

pub mod headless;
pub mod terminal;

use regex::Regex;

/// The operator pressed Ctrl-C or closed the input: the run stops, state saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("interrupted by the operator")]
pub struct Interrupted;

/// A value to ask for: an input or a `prompt` step.
#[derive(Debug, Clone)]
pub struct Question {
    /// The input name or step id, for messages.
    pub name: String,
    /// The text shown to the operator.
    pub prompt: String,
    /// Read without echo; shown masked.
    pub secret: bool,
    /// The whole answer must match.
    pub pattern: Option<Regex>,
    /// The answer is one of these (shown as a selection).
    pub choices: Vec<String>,
    /// Taken when the operator just presses Enter.
    pub default: Option<String>,
}

/// How the operator answered a `manual` step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualAnswer {
    Done,
    Defer { reason: String },
    Abort,
}

/// What the engine asks of a person.
pub trait Operator: Send {
    /// Whether a person is there to answer: false means every answer must come
    /// from the command line, an answers file or the environment.
    fn interactive(&self) -> bool;

    /// Shows one line of the run's narrative (already redacted).
    fn say(&mut self, line: &str);

    /// Asks for a value, re-asking until it matches `pattern`/`choices`.
    fn ask(&mut self, question: &Question) -> Result<String, Interrupted>;

    /// Shows a manual step's instructions and asks done / defer (with a reason) / abort.
    fn manual(&mut self, title: &str, instructions: &str) -> Result<ManualAnswer, Interrupted>;

    /// Asks for confirmation: yes/no, or — with `phrase` — the operator must type
    /// the phrase exactly (a wrong phrase is refused and asked again). `Ok(false)`
    /// means the operator declined.
    fn confirm(&mut self, message: &str, phrase: Option<&str>) -> Result<bool, Interrupted>;

    /// Starts showing long work: a bar when `total` is known, a spinner otherwise.
    fn progress(&mut self, label: &str, total: Option<u64>) -> Box<dyn Progress>;
}

/// Long work in progress (a poll, a fan-out).
pub trait Progress: Send {
    /// Replaces the message shown beside the bar or spinner (already redacted).
    fn message(&mut self, text: &str);
    /// Advances the bar by `n` items.
    fn advance(&mut self, n: u64);
    /// Removes the bar or spinner; `summary` is printed in its place.
    fn finish(&mut self, summary: &str);
}
