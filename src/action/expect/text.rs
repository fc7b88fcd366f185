//! Text matchers — `{contains, not_contains, equals, not_equals, matches}` — on a response
//! body, a header, a command's stdout or stderr: how each rule is judged, how the
//! plan words it and how a failure says what came back.

use regex::Regex;
use serde_json::Value;

use super::{BODY_CHARS, Got, Mismatch, excerpt};
use crate::document::model::chomp;

/// One rendered rule of a text matcher.
#[derive(Debug, Clone)]
pub enum TextCheck {
    Contains(String),
    NotContains(String),
    /// The whole text; one trailing newline on either side is ignored, as
    /// `$(…)` drops it.
    Equals(String),
    /// Anything but that whole text (the same newline rule): "the served
    /// serial changed".
    NotEquals(String),
    /// Searched in the text without its trailing newline, so `ready$` matches
    /// what `echo ready` prints.
    Matches(Regex),
}

impl TextCheck {
    /// `contains "ready"`, `equals "0"`, `matches /^ok/`, as the plan says it.
    pub fn words(&self) -> String {
        match self {
            TextCheck::Contains(needle) => format!("contains {}", quoted(needle)),
            TextCheck::NotContains(needle) => format!("does not contain {}", quoted(needle)),
            TextCheck::Equals(whole) => format!("equals {}", quoted(whole)),
            TextCheck::NotEquals(whole) => format!("does not equal {}", quoted(whole)),
            TextCheck::Matches(regex) => format!("matches /{}/", regex.as_str()),
        }
    }

    /// What a failure says was expected.
    fn expected(&self) -> String {
        match self {
            TextCheck::Contains(needle) => format!("to contain {}", quoted(needle)),
            TextCheck::NotContains(needle) => format!("not to contain {}", quoted(needle)),
            TextCheck::Equals(whole) => quoted(chomp(whole)),
            TextCheck::NotEquals(whole) => format!("anything but {}", quoted(chomp(whole))),
            TextCheck::Matches(regex) => format!("to match /{}/", regex.as_str()),
        }
    }

    fn holds(&self, text: &str) -> bool {
        match self {
            TextCheck::Contains(needle) => text.contains(needle.as_str()),
            TextCheck::NotContains(needle) => !text.contains(needle.as_str()),
            TextCheck::Equals(whole) => chomp(text) == chomp(whole),
            TextCheck::NotEquals(whole) => chomp(text) != chomp(whole),
            TextCheck::Matches(regex) => regex.is_match(chomp(text)),
        }
    }
}

/// Judges every rule on `text` (`None`: the header is absent, which only
/// the negative rules, `not_contains` and `not_equals`, accept); `quote`
/// false keeps what came back out of the message.
pub(super) fn check_all(
    checks: &[TextCheck],
    what: &str,
    text: Option<&str>,
    quote: bool,
    mismatches: &mut Vec<Mismatch>,
) {
    for check in checks {
        let failed = match text {
            Some(text) => !check.holds(text),
            None => !matches!(check, TextCheck::NotContains(_) | TextCheck::NotEquals(_)),
        };
        if !failed {
            continue;
        }
        let actual = match text {
            None => Got::Absent,
            Some(_) if !quote => Got::Hidden,
            Some("") => Got::Text("nothing (it is empty)".to_owned()),
            Some(text) => Got::Text(quoted(chomp(text))),
        };
        mismatches.push(Mismatch::Text {
            what: what.to_owned(),
            expected: check.expected(),
            actual,
        });
    }
}

/// Judges every rule on a command's stream, `text` being what was read of it
/// and `cut` whether more came. Cut, only a `contains` found in what was read
/// holds: every other rule is about the whole text, which was not seen, and
/// would otherwise pass on its first MiB (`not_contains: ERROR` with the error
/// printed past it).
pub(super) fn check_stream(
    checks: &[TextCheck],
    what: &str,
    text: &str,
    cut: bool,
    quote: bool,
    mismatches: &mut Vec<Mismatch>,
) {
    if !cut {
        return check_all(checks, what, Some(text), quote, mismatches);
    }
    for check in checks {
        if matches!(check, TextCheck::Contains(_)) && check.holds(text) {
            continue;
        }
        mismatches.push(Mismatch::Text {
            what: what.to_owned(),
            expected: check.expected(),
            actual: Got::Cut,
        });
    }
}

/// A JSON string literal, so line breaks and quotes inside show as escapes,
/// cut to [`BODY_CHARS`].
pub(super) fn quoted(text: &str) -> String {
    excerpt(&Value::String(text.to_owned()).to_string(), BODY_CHARS)
}
