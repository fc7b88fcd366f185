//! An operator played from a script, for the engine's unit tests: answers come
//! from a queue and everything the engine shows or asks is recorded.
//!
//! It follows the terminal's rules — an answer that breaks a question's
//! `pattern`/`choices` is refused and the next one taken, a wrong phrase is
//! refused, an empty phrase declines — so a test sees what a person would.
//! It never panics: when the script runs out, or the next answer does not fit the
//! question, the call returns [`Interrupted`] and [`Scripted::problems`] says why.
//!
//! `Scripted` is a handle: clone it before giving it to the engine and read the
//! records through the clone afterwards.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::terminal::{phrase_mismatch, refusal};
use super::{Interrupted, ManualAnswer, Operator, Progress, Question};

/// One scripted reply, consumed in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Answers [`Operator::ask`]; an empty text takes the question's default.
    Text(String),
    /// Answers [`Operator::manual`].
    Manual(ManualAnswer),
    /// Answers a confirmation without a phrase.
    Confirm(bool),
    /// Typed at a confirmation with a phrase; empty declines.
    Phrase(String),
    /// Ctrl-C at whatever is asked next.
    Interrupt,
}

/// Something the engine asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Value {
        name: String,
        prompt: String,
        secret: bool,
    },
    Manual {
        title: String,
        instructions: String,
    },
    Confirm {
        message: String,
        phrase: Option<String>,
    },
}

/// What the engine did with a piece of long work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressEvent {
    Started { label: String, total: Option<u64> },
    Message(String),
    Advanced(u64),
    Finished(String),
}

#[derive(Debug, Default)]
struct Record {
    answers: VecDeque<Answer>,
    lines: Vec<String>,
    questions: Vec<Asked>,
    progress: Vec<ProgressEvent>,
    problems: Vec<String>,
}

impl Record {
    /// The next answer, or `None` (recorded as a problem) when the script is spent.
    fn next(&mut self, wanted: &str) -> Option<Answer> {
        let answer = self.answers.pop_front();
        if answer.is_none() {
            self.problems.push(format!(
                "script exhausted: {wanted} asked with no answer left"
            ));
        }
        answer
    }

    fn mismatch(&mut self, wanted: &str, got: &Answer) -> Interrupted {
        self.problems.push(format!(
            "script mismatch: {wanted} asked, but the next answer is {got:?}"
        ));
        Interrupted
    }
}

/// The scripted operator.
#[derive(Debug, Clone, Default)]
pub struct Scripted {
    record: Arc<Mutex<Record>>,
}

impl Scripted {
    pub fn new(answers: impl IntoIterator<Item = Answer>) -> Self {
        let record = Record {
            answers: answers.into_iter().collect(),
            ..Record::default()
        };
        Self {
            record: Arc::new(Mutex::new(record)),
        }
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        // A test that panicked mid-call should still be able to read what happened.
        self.record.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Everything said, in order: narrative lines, refusals of answers, and the
    /// summaries of finished progress.
    pub fn lines(&self) -> Vec<String> {
        self.record().lines.clone()
    }

    /// Every question asked, in order (a re-asked question appears once).
    pub fn questions(&self) -> Vec<Asked> {
        self.record().questions.clone()
    }

    /// Every progress call, in order, across all pieces of work.
    pub fn progress_events(&self) -> Vec<ProgressEvent> {
        self.record().progress.clone()
    }

    /// Why a call returned [`Interrupted`] without a scripted `Interrupt`:
    /// the script ran out or did not fit. Empty when all went as scripted.
    pub fn problems(&self) -> Vec<String> {
        self.record().problems.clone()
    }

    /// How many answers are still unused.
    pub fn remaining(&self) -> usize {
        self.record().answers.len()
    }
}

impl Operator for Scripted {
    fn interactive(&self) -> bool {
        true
    }

    fn say(&mut self, line: &str) {
        self.record().lines.push(line.to_owned());
    }

    fn ask(&mut self, question: &Question) -> Result<String, Interrupted> {
        let mut record = self.record();
        record.questions.push(Asked::Value {
            name: question.name.clone(),
            prompt: question.prompt.clone(),
            secret: question.secret,
        });
        let wanted = format!("a value for `{}`", question.name);
        loop {
            let text = match record.next(&wanted).ok_or(Interrupted)? {
                Answer::Text(text) => text,
                Answer::Interrupt => return Err(Interrupted),
                other => return Err(record.mismatch(&wanted, &other)),
            };
            let answer = match &question.default {
                Some(default) if text.is_empty() => default.clone(),
                _ => text,
            };
            match refusal(question, &answer) {
                Some(reason) => record.lines.push(format!("error: {reason}")),
                None => return Ok(answer),
            }
        }
    }

    fn manual(&mut self, title: &str, instructions: &str) -> Result<ManualAnswer, Interrupted> {
        let mut record = self.record();
        record.questions.push(Asked::Manual {
            title: title.to_owned(),
            instructions: instructions.to_owned(),
        });
        let wanted = format!("manual step `{title}`");
        match record.next(&wanted).ok_or(Interrupted)? {
            // The terminal insists on a reason; a script without one is a broken test.
            Answer::Manual(ManualAnswer::Defer { reason }) if reason.trim().is_empty() => {
                record
                    .problems
                    .push(format!("{wanted} deferred without a reason"));
                Err(Interrupted)
            }
            Answer::Manual(answer) => Ok(answer),
            Answer::Interrupt => Err(Interrupted),
            other => Err(record.mismatch(&wanted, &other)),
        }
    }

    fn confirm(&mut self, message: &str, phrase: Option<&str>) -> Result<bool, Interrupted> {
        let mut record = self.record();
        record.questions.push(Asked::Confirm {
            message: message.to_owned(),
            phrase: phrase.map(str::to_owned),
        });
        let wanted = match phrase {
            Some(phrase) => format!("confirmation `{message}` (phrase {phrase})"),
            None => format!("confirmation `{message}`"),
        };
        loop {
            match (record.next(&wanted).ok_or(Interrupted)?, phrase) {
                (Answer::Interrupt, _) => return Err(Interrupted),
                (Answer::Confirm(yes), None) => return Ok(yes),
                (Answer::Phrase(typed), Some(phrase)) => {
                    if typed.is_empty() {
                        return Ok(false);
                    }
                    if typed == phrase {
                        return Ok(true);
                    }
                    record.lines.push(phrase_mismatch(phrase));
                }
                (other, _) => return Err(record.mismatch(&wanted, &other)),
            }
        }
    }

    fn progress(&mut self, label: &str, total: Option<u64>) -> Box<dyn Progress> {
        self.record().progress.push(ProgressEvent::Started {
            label: label.to_owned(),
            total,
        });
        Box::new(ScriptedProgress {
            scripted: self.clone(),
        })
    }
}

struct ScriptedProgress {
    scripted: Scripted,
}

impl Progress for ScriptedProgress {
    fn message(&mut self, text: &str) {
        self.scripted
            .record()
            .progress
            .push(ProgressEvent::Message(text.to_owned()));
    }

    fn advance(&mut self, n: u64) {
        self.scripted
            .record()
            .progress
            .push(ProgressEvent::Advanced(n));
    }

    fn finish(&mut self, summary: &str) {
        let mut record = self.scripted.record();
        record
            .progress
            .push(ProgressEvent::Finished(summary.to_owned()));
        // The terminal prints the summary in the bar's place: it is narrative too.
        record.lines.push(summary.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;

    fn question(name: &str) -> Question {
        Question {
            name: name.to_owned(),
            prompt: format!("Value for {name}"),
            secret: false,
            pattern: None,
            choices: Vec::new(),
            default: None,
        }
    }

    fn text(s: &str) -> Answer {
        Answer::Text(s.to_owned())
    }

    fn phrase(s: &str) -> Answer {
        Answer::Phrase(s.to_owned())
    }

    #[test]
    fn answers_in_order_and_records_what_was_asked_and_said() {
        let mut op = Scripted::new([text("example.com"), Answer::Manual(ManualAnswer::Done)]);
        let handle = op.clone();
        assert!(op.interactive());
        op.say("[1/2] Zone");
        let token = Question {
            secret: true,
            ..question("new_token")
        };
        assert_eq!(op.ask(&token), Ok("example.com".to_owned()));
        assert_eq!(
            op.manual("Create the token", "In the dashboard…"),
            Ok(ManualAnswer::Done)
        );
        assert_eq!(handle.lines(), ["[1/2] Zone"]);
        assert_eq!(
            handle.questions(),
            [
                Asked::Value {
                    name: "new_token".to_owned(),
                    prompt: "Value for new_token".to_owned(),
                    secret: true,
                },
                Asked::Manual {
                    title: "Create the token".to_owned(),
                    instructions: "In the dashboard…".to_owned(),
                },
            ]
        );
        assert_eq!(handle.remaining(), 0);
        assert!(handle.problems().is_empty());
    }

    #[test]
    fn answers_breaking_the_pattern_or_choices_are_refused_and_the_next_taken() {
        let mut op = Scripted::new([text("12ab"), text("1234"), text("prod"), text("production")]);
        let digits = Question {
            pattern: Regex::new("[0-9]+").ok(),
            ..question("pin")
        };
        assert_eq!(op.ask(&digits), Ok("1234".to_owned()));
        let env = Question {
            choices: vec!["staging".to_owned(), "production".to_owned()],
            ..question("env")
        };
        assert_eq!(op.ask(&env), Ok("production".to_owned()));
        assert_eq!(
            op.lines(),
            [
                "error: the answer must match the pattern `[0-9]+`",
                "error: choose one of: staging, production",
            ]
        );
        assert_eq!(op.questions().len(), 2);
    }

    #[test]
    fn an_empty_text_takes_the_default() {
        let mut op = Scripted::new([text("")]);
        let q = Question {
            default: Some("staging".to_owned()),
            ..question("env")
        };
        assert_eq!(op.ask(&q), Ok("staging".to_owned()));
    }

    #[test]
    fn a_phrase_confirm_refuses_wrong_phrases_until_the_right_one() {
        let mut op = Scripted::new([phrase("123"), phrase("abcd"), phrase("1234")]);
        assert_eq!(op.confirm("Revoke the old token", Some("1234")), Ok(true));
        let refusal = "That does not match; type exactly: 1234";
        assert_eq!(op.lines(), [refusal, refusal]);
    }

    #[test]
    fn an_empty_phrase_declines() {
        let mut op = Scripted::new([phrase("nope"), phrase("")]);
        assert_eq!(op.confirm("Revoke the old token", Some("1234")), Ok(false));
        assert_eq!(op.lines().len(), 1);
    }

    #[test]
    fn plain_confirms_take_a_yes_or_no() {
        let mut op = Scripted::new([Answer::Confirm(false), Answer::Confirm(true)]);
        assert_eq!(op.confirm("Restart?", None), Ok(false));
        assert_eq!(op.confirm("Restart?", None), Ok(true));
        assert_eq!(
            op.questions()[0],
            Asked::Confirm {
                message: "Restart?".to_owned(),
                phrase: None
            }
        );
    }

    #[test]
    fn a_scripted_interrupt_interrupts_anything() {
        let mut op = Scripted::new([Answer::Interrupt, Answer::Interrupt, Answer::Interrupt]);
        assert_eq!(op.ask(&question("x")), Err(Interrupted));
        assert_eq!(op.manual("t", "i"), Err(Interrupted));
        assert_eq!(op.confirm("m", Some("p")), Err(Interrupted));
        assert!(op.problems().is_empty());
    }

    #[test]
    fn running_out_of_script_interrupts_and_says_so() {
        let mut op = Scripted::new([]);
        assert_eq!(op.confirm("Restart?", None), Err(Interrupted));
        assert_eq!(
            op.problems(),
            ["script exhausted: confirmation `Restart?` asked with no answer left"]
        );
    }

    #[test]
    fn an_answer_of_the_wrong_kind_interrupts_and_says_so() {
        let mut op = Scripted::new([Answer::Confirm(true), text("")]);
        assert_eq!(op.manual("Create the token", "…"), Err(Interrupted));
        assert_eq!(
            op.problems(),
            [
                "script mismatch: manual step `Create the token` asked, but the next answer is Confirm(true)"
            ]
        );
        // A phrase confirm wants what a person would type, not a yes.
        assert_eq!(op.confirm("Revoke?", Some("1234")), Err(Interrupted));
        assert_eq!(op.problems().len(), 2);
    }

    #[test]
    fn a_defer_without_a_reason_is_a_broken_script() {
        let mut op = Scripted::new([Answer::Manual(ManualAnswer::Defer {
            reason: " ".to_owned(),
        })]);
        assert_eq!(op.manual("Announce", "…"), Err(Interrupted));
        assert_eq!(
            op.problems(),
            ["manual step `Announce` deferred without a reason"]
        );
    }

    #[test]
    fn progress_is_recorded_and_its_summary_said() {
        let mut op = Scripted::new([]);
        let mut work = op.progress("verifying zones", Some(2));
        work.advance(1);
        work.message("example.com");
        work.finish("✓ 2 zones verified");
        assert_eq!(
            op.progress_events(),
            [
                ProgressEvent::Started {
                    label: "verifying zones".to_owned(),
                    total: Some(2)
                },
                ProgressEvent::Advanced(1),
                ProgressEvent::Message("example.com".to_owned()),
                ProgressEvent::Finished("✓ 2 zones verified".to_owned()),
            ]
        );
        assert_eq!(op.lines(), ["✓ 2 zones verified"]);
    }
}
