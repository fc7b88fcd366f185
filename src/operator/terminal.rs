//! A person at a terminal: the narrative goes to stdout (coloured as `--color`
//! decides), questions are dialoguer prompts on stderr, long work is an
//! indicatif bar or spinner on stdout that narrative lines never tear.
//!
//! Ctrl-C: console reads every key in raw mode, so Ctrl-C reaches it as a byte; it
//! then raises SIGINT at the process and returns `io::ErrorKind::Interrupted`,
//! which becomes [`Interrupted`]. The engine must therefore listen for SIGINT
//! (`tokio::signal`) before the first prompt — without a handler that raised
//! signal ends the process on the spot.

use std::borrow::Cow;
use std::io::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use console::{Key, Style, Term};
use dialoguer::{Confirm, Input, Select};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Interrupted, ManualAnswer, Operator, Progress, Question};
use crate::output::{is_hidden, printable};
use crate::template::mask;

/// What the operator is told after typing a phrase that is not the one asked for.
pub(crate) fn phrase_mismatch(phrase: &str) -> String {
    format!("That does not match; type exactly: {phrase}")
}

/// Why `answer` is not acceptable for `question`, or `None` when it is.
fn refusal(question: &Question, answer: &str) -> Option<String> {
    if !question.choices.is_empty() && !question.choices.iter().any(|c| c == answer) {
        return Some(format!("choose one of: {}", question.choices.join(", ")));
    }
    match &question.pattern {
        Some(pattern) if !matches_whole(pattern, answer) => Some(format!(
            "the answer must match the pattern `{}`",
            pattern.as_str()
        )),
        // An empty answer is only meant when a pattern says so (or a default
        // stands in for it, which the prompts handle before asking us).
        None if answer.is_empty() => Some("an answer is required".to_owned()),
        _ => None,
    }
}

/// Whether `pattern` matches all of `text`, not just a part of it.
fn matches_whole(pattern: &regex::Regex, text: &str) -> bool {
    // Anchoring the pattern itself respects alternations (`a|ab` against "ab");
    // checking a found match's bounds would not.
    match regex::Regex::new(&format!(r"\A(?:{})\z", pattern.as_str())) {
        Ok(anchored) => anchored.is_match(text),
        Err(_) => pattern
            .find(text)
            .is_some_and(|m| m.range() == (0..text.len())),
    }
}

/// `line` with its leading outcome symbol or `[n/m]` header styled. Any other
/// text passes through untouched.
fn paint(line: &str) -> String {
    let body = line.trim_start();
    let indent = &line[..line.len() - body.len()];
    if is_step_header(body) {
        return format!(
            "{indent}{}",
            Style::new().bold().force_styling(true).apply_to(body)
        );
    }
    let symbols = [
        ("✓", Style::new().green()),
        ("✗", Style::new().red()),
        ("⛔", Style::new().red()),
        ("↷", Style::new().dim()),
        ("⏸", Style::new().yellow()),
    ];
    for (symbol, style) in symbols {
        if let Some(rest) = body.strip_prefix(symbol) {
            let symbol = style.force_styling(true).apply_to(symbol);
            return format!("{indent}{symbol}{rest}");
        }
    }
    line.to_owned()
}

/// Whether `text` starts with a `[3/9]` step counter.
fn is_step_header(text: &str) -> bool {
    let Some((counter, _)) = text.strip_prefix('[').and_then(|t| t.split_once(']')) else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    counter
        .split_once('/')
        .is_some_and(|(done, total)| digits(done) && digits(total))
}

/// Where narrative lines go, shared with the progress bars so a line printed
/// while a bar is drawn appears above it instead of through it.
#[derive(Clone)]
struct Screen {
    colour: bool,
    bars: MultiProgress,
    /// Bars currently drawn; indicatif is only involved while there are some.
    active: Arc<AtomicUsize>,
}

impl Screen {
    /// Prints one narrative line (or several, if `text` holds newlines), its
    /// control characters escaped before the narrative's own colours go on.
    fn print(&self, text: &str, styled: bool) {
        let rendered: String = text
            .lines()
            .map(|line| {
                let line = printable(line);
                let line = if styled && self.colour {
                    paint(&line)
                } else {
                    line.into_owned()
                };
                line + "\n"
            })
            .collect();
        // A closed stdout (a pager quit early) is no reason to stop a run.
        self.while_bars_hidden(|| {
            let mut out = io::stdout().lock();
            let _ = out.write_all(rendered.as_bytes());
            let _ = out.flush();
        });
    }

    /// Runs `f` with any bars taken off the screen, so a prompt or a line is not
    /// drawn over and a spinner does not tick through the operator's typing.
    fn while_bars_hidden<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.active.load(Ordering::SeqCst) == 0 {
            f()
        } else {
            self.bars.suspend(f)
        }
    }
}

/// A person at a terminal.
pub struct Terminal {
    screen: Screen,
    /// Prompts are drawn on stderr, dialoguer's habit, so stdout stays the narrative.
    prompts: Term,
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

impl Terminal {
    /// Colour as decided once for the process ([`crate::output::decide_colors`]).
    pub fn new() -> Self {
        let colour = crate::output::colors();
        Self {
            screen: Screen {
                colour,
                bars: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                active: Arc::new(AtomicUsize::new(0)),
            },
            prompts: Term::stderr(),
        }
    }

    /// Runs a prompt with the bars out of the way; any failure — Ctrl-C, end of
    /// input, a terminal error — ends the run as an interruption, with the cursor
    /// shown again (`Select` and `Confirm` hide it and do not restore it when a
    /// read fails).
    fn prompt<T>(&self, ask: impl FnOnce(&Term) -> io::Result<T>) -> Result<T, Interrupted> {
        let result = self.screen.while_bars_hidden(|| ask(&self.prompts));
        result.map_err(|_| {
            let _ = self.prompts.show_cursor();
            Interrupted
        })
    }
}

/// Reads a secret without echo, re-asking until it is acceptable.
///
/// Not dialoguer's `Password`: it reads a whole line in canonical mode, where
/// Ctrl-C is a kernel SIGINT rather than a key. With the engine's SIGINT handler
/// installed (`SA_RESTART`) the read then resumes and the prompt looks frozen;
/// without one the process dies with echo still off. Reading key by key in raw
/// mode turns Ctrl-C into an answer like any other.
fn read_secret(term: &Term, question: &Question) -> io::Result<String> {
    loop {
        term.write_str(&format!("{}: ", printable(&question.prompt)))?;
        term.flush()?;
        let mut typed = String::new();
        loop {
            match term.read_key_raw()? {
                Key::Enter => break,
                Key::CtrlC => return Err(io::ErrorKind::Interrupted.into()),
                // Ctrl-D on an empty answer: the operator closed the input.
                Key::Char('\u{4}') if typed.is_empty() => {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                Key::Backspace => {
                    typed.pop();
                }
                Key::Char(c) if !c.is_control() => typed.push(c),
                _ => {}
            }
        }
        let answer = match &question.default {
            Some(default) if typed.is_empty() => default.clone(),
            _ => typed,
        };
        // Enough to recognise which token was pasted; short values show nothing.
        let shown = if answer.chars().count() > 8 {
            mask(&answer)
        } else {
            "••••".to_owned()
        };
        term.write_line(&shown)?;
        match refusal(question, &answer) {
            Some(reason) => term.write_line(&format!("error: {reason}"))?,
            None => return Ok(answer),
        }
    }
}

fn ask_choice(term: &Term, question: &Question) -> io::Result<String> {
    let default = question
        .default
        .as_ref()
        .and_then(|d| question.choices.iter().position(|c| c == d))
        .unwrap_or(0);
    let shown: Vec<Cow<'_, str>> = question.choices.iter().map(|c| printable(c)).collect();
    let index = Select::new()
        .with_prompt(printable(&question.prompt))
        .items(&shown)
        .default(default)
        .interact_on(term)?;
    question
        .choices
        .get(index)
        .cloned()
        .ok_or_else(|| io::Error::other("the selection is not one of the choices"))
}

fn ask_text(term: &Term, question: &Question) -> io::Result<String> {
    let mut prompt = printable(&question.prompt).into_owned();
    // dialoguer shows a default as it is; one with control characters is shown
    // escaped in the prompt instead (Enter still takes it unchanged).
    let hidden = question
        .default
        .as_ref()
        .is_some_and(|d| d.chars().any(is_hidden));
    if let Some(default) = question.default.as_ref().filter(|_| hidden) {
        prompt = format!("{prompt} [{}]", printable(default));
    }
    let mut input = Input::<String>::new()
        .with_prompt(prompt)
        .allow_empty(true)
        .validate_with(|answer: &String| refusal(question, answer).map_or(Ok(()), Err));
    if let Some(default) = &question.default {
        input = input.default(default.clone()).show_default(!hidden);
    }
    Ok(input.interact_text_on(term)?)
}

impl Operator for Terminal {
    fn interactive(&self) -> bool {
        true
    }

    fn say(&mut self, line: &str) {
        self.screen.print(line, true);
    }

    fn ask(&mut self, question: &Question) -> Result<String, Interrupted> {
        self.prompt(|term| {
            if question.secret {
                read_secret(term, question)
            } else if question.choices.is_empty() {
                ask_text(term, question)
            } else {
                ask_choice(term, question)
            }
        })
    }

    fn manual(&mut self, title: &str, instructions: &str) -> Result<ManualAnswer, Interrupted> {
        if !instructions.is_empty() {
            let indented: Vec<String> = instructions.lines().map(|l| format!("    {l}")).collect();
            self.screen.print(&indented.join("\n"), false);
        }
        self.prompt(|term| {
            let choice = Select::new()
                .with_prompt(printable(title))
                .items(["Done", "Defer (with a reason)", "Abort"])
                .default(0)
                .interact_on(term)?;
            Ok(match choice {
                0 => ManualAnswer::Done,
                1 => {
                    let reason = Input::<String>::new()
                        .with_prompt("Reason for deferring")
                        .validate_with(|r: &String| {
                            if r.trim().is_empty() {
                                Err("a reason is required")
                            } else {
                                Ok(())
                            }
                        })
                        .interact_text_on(term)?;
                    ManualAnswer::Defer {
                        reason: reason.trim().to_owned(),
                    }
                }
                _ => ManualAnswer::Abort,
            })
        })
    }

    fn confirm(&mut self, message: &str, phrase: Option<&str>) -> Result<bool, Interrupted> {
        self.prompt(|term| {
            let Some(phrase) = phrase else {
                // Waiting for Enter: a stray `y` must not confirm on its own.
                return Ok(Confirm::new()
                    .with_prompt(printable(message))
                    .default(false)
                    .wait_for_newline(true)
                    .interact_on(term)?);
            };
            let prompt = format!(
                "{} — type {} to confirm, or nothing to decline",
                printable(message),
                printable(phrase)
            );
            loop {
                let typed = Input::<String>::new()
                    .with_prompt(&prompt)
                    .allow_empty(true)
                    .interact_text_on(term)?;
                if typed.is_empty() {
                    return Ok(false);
                }
                if typed == phrase {
                    return Ok(true);
                }
                term.write_line(&phrase_mismatch(&printable(phrase)))?;
            }
        })
    }

    fn progress(&mut self, label: &str, total: Option<u64>) -> Box<dyn Progress> {
        let bar = match total {
            Some(total) => self.screen.bars.add(ProgressBar::new(total)).with_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
            None => {
                let bar = self.screen.bars.add(ProgressBar::new_spinner()).with_style(
                    ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            }
        };
        bar.set_prefix(printable(label).into_owned());
        self.screen.active.fetch_add(1, Ordering::SeqCst);
        Box::new(TerminalProgress {
            bar,
            screen: self.screen.clone(),
            closed: false,
        })
    }
}

/// A bar or spinner on the terminal.
struct TerminalProgress {
    bar: ProgressBar,
    screen: Screen,
    closed: bool,
}

impl TerminalProgress {
    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            self.bar.finish_and_clear();
            self.screen.bars.remove(&self.bar);
            self.screen.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Progress for TerminalProgress {
    fn message(&mut self, text: &str) {
        self.bar.set_message(printable(text).into_owned());
    }

    fn advance(&mut self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&mut self, summary: &str) {
        self.close();
        self.screen.print(summary, true);
    }
}

impl Drop for TerminalProgress {
    /// indicatif leaves a dropped, unfinished bar on screen; work abandoned by an
    /// error should not leave one behind.
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    fn question(pattern: Option<&str>, choices: &[&str]) -> Question {
        Question {
            name: "zone".to_owned(),
            prompt: "Zone".to_owned(),
            secret: false,
            pattern: pattern.and_then(|p| Regex::new(p).ok()),
            choices: choices.iter().map(|c| (*c).to_owned()).collect(),
            default: None,
        }
    }

    #[test]
    fn leading_symbols_and_headers_are_styled_and_other_text_is_not() {
        assert_eq!(paint("✓ saved"), "\u{1b}[32m✓\u{1b}[0m saved");
        assert_eq!(paint("  ✗ failed"), "  \u{1b}[31m✗\u{1b}[0m failed");
        assert_eq!(paint("[3/9] Restart"), "\u{1b}[1m[3/9] Restart\u{1b}[0m");
        for plain in [
            "plain",
            "[x/9] not a header",
            "[3/] nor this",
            "",
            "saved ✓",
        ] {
            assert_eq!(paint(plain), plain);
        }
    }

    #[test]
    fn patterns_must_match_the_whole_answer() {
        let q = question(Some("a|ab"), &[]);
        assert_eq!(refusal(&q, "ab"), None);
        assert_eq!(refusal(&q, "a"), None);
        assert_eq!(
            refusal(&q, "abc").as_deref(),
            Some("the answer must match the pattern `a|ab`")
        );
    }

    #[test]
    fn empty_answers_need_a_pattern_that_allows_them() {
        assert_eq!(
            refusal(&question(None, &[]), "").as_deref(),
            Some("an answer is required")
        );
        assert_eq!(refusal(&question(Some("[0-9]*"), &[]), ""), None);
    }

    #[test]
    fn choices_are_checked() {
        let q = question(None, &["staging", "production"]);
        assert_eq!(refusal(&q, "production"), None);
        assert_eq!(
            refusal(&q, "prod").as_deref(),
            Some("choose one of: staging, production")
        );
    }
}
