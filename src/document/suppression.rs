//! Findings accepted on purpose: an inline comment `# runbook: ignore[RB024]
//! reason` on the line of the finding or on a line of its own just above it, and
//! `validate --ignore CODE` for every file. A suppressed finding is not counted,
//! but it is not lost either: SARIF reports it with its suppression (`inSource`
//! or `external`, with the reason as justification), the JSON format lists it.
//!
//! Only warnings can be accepted. An error means the runbook would not run, or
//! would run without a gate's guarantee; an ignore comment naming one — or a code
//! that does not exist — is itself a warning (RB050), so a typo does not silently
//! accept nothing.
//!
//! Comments are found line by line, as `#` at the start of a line or after a
//! blank: a line of a block scalar (`manual: |`) that looks like an ignore
//! comment counts as one too.

use regex::Regex;

use super::diagnostic::{Code, Diagnostic, Severity};
use super::node::Span;

/// Where the decision to accept a finding was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An ignore comment in the file.
    InSource,
    /// `--ignore CODE` on the command line.
    External,
}

impl Kind {
    /// SARIF's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::InSource => "inSource",
            Kind::External => "external",
        }
    }
}

/// A finding accepted on purpose.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppressed {
    pub diagnostic: Diagnostic,
    pub kind: Kind,
    /// The reason written after the comment, or `--ignore CODE` for the flag.
    pub justification: Option<String>,
}

/// One `# runbook: ignore[…] reason` comment.
struct Comment {
    line: u32,
    /// Whether the comment is all its line holds: then it speaks of the next line.
    own_line: bool,
    codes: Vec<Code>,
    reason: Option<String>,
}

fn pattern() -> &'static Regex {
    static PATTERN: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"(?:^|[ \t])#[ \t]*runbook:[ \t]*ignore\[([^\]\n]*)\]([^\n]*)")
            .expect("the ignore comment pattern is valid")
    })
}

/// Splits `diagnostics` into those still reported (with an RB050 for each bad
/// code in a comment) and those accepted by a comment in `text` or by `ignored`.
/// Both come back in file order.
pub fn apply(
    text: Option<&str>,
    diagnostics: Vec<Diagnostic>,
    ignored: &[Code],
) -> (Vec<Diagnostic>, Vec<Suppressed>) {
    let mut reported = Vec::with_capacity(diagnostics.len());
    let comments = match text {
        // Most files hold no ignore comment; the search is skipped for them.
        Some(text) if text.contains("ignore[") => comments(text, &mut reported),
        _ => Vec::new(),
    };
    let mut suppressed = Vec::new();
    for diagnostic in diagnostics.into_iter().chain(std::mem::take(&mut reported)) {
        match suppression(&diagnostic, &comments, ignored) {
            Some((kind, justification)) => suppressed.push(Suppressed {
                diagnostic,
                kind,
                justification,
            }),
            None => reported.push(diagnostic),
        }
    }
    reported.sort_by_key(|d| (d.span.offset, d.code));
    (reported, suppressed)
}

/// How `diagnostic` is accepted, if it is.
fn suppression(
    diagnostic: &Diagnostic,
    comments: &[Comment],
    ignored: &[Code],
) -> Option<(Kind, Option<String>)> {
    if diagnostic.severity != Severity::Warning {
        return None;
    }
    if ignored.contains(&diagnostic.code) {
        return Some((
            Kind::External,
            Some(format!("--ignore {}", diagnostic.code)),
        ));
    }
    let line = diagnostic.span.line;
    comments
        .iter()
        .find(|c| {
            (c.line == line || (c.own_line && c.line + 1 == line))
                && c.codes.contains(&diagnostic.code)
        })
        .map(|c| (Kind::InSource, c.reason.clone()))
}

/// The ignore comments of `text`; a bad code in one adds an RB050 to `out`.
fn comments(text: &str, out: &mut Vec<Diagnostic>) -> Vec<Comment> {
    let mut found = Vec::new();
    let mut offset = 0;
    for (index, line_text) in text.split_inclusive('\n').enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if let Some(captures) = pattern().captures(line_text)
            && let (Some(whole), Some(list), Some(rest)) =
                (captures.get(0), captures.get(1), captures.get(2))
        {
            let mut codes = Vec::new();
            let mut start = list.start();
            for written in list.as_str().split(',') {
                let trimmed = written.trim();
                let at = start + (written.len() - written.trim_start().len());
                let span = Span {
                    line,
                    col: column(line_text, at),
                    offset: offset + at,
                    len: trimmed.len(),
                };
                start += written.len() + 1;
                match Code::parse(trimmed) {
                    Some(code) if code.severity() == Severity::Warning => codes.push(code),
                    Some(code) => out.push(
                        Diagnostic::new(
                            Code::BadSuppression,
                            span,
                            format!("{code} is an error, and errors cannot be ignored"),
                        )
                        .help("fix the problem instead: an error means the runbook would not run, or would run without a gate's guarantee"),
                    ),
                    None => out.push(
                        Diagnostic::new(
                            Code::BadSuppression,
                            span,
                            format!("`{trimmed}` is not a diagnostic code, so this ignores nothing"),
                        )
                        .help("write the code as `validate` shows it (`RB024`), several separated by commas; the README's table of diagnostics lists them"),
                    ),
                }
            }
            let before = &line_text[..whole.start()];
            let reason = rest.as_str().trim();
            found.push(Comment {
                line,
                own_line: before.trim().is_empty(),
                codes,
                reason: (!reason.is_empty()).then(|| masked(reason)),
            });
        }
        offset += line_text.len();
    }
    found
}

/// The 1-based column, in characters, of byte `at` of `line`.
fn column(line: &str, at: usize) -> u32 {
    u32::try_from(line[..at].chars().count() + 1).unwrap_or(u32::MAX)
}

/// A reason as reports show it: a token pasted into it is masked, as everywhere.
fn masked(reason: &str) -> String {
    let mut shown = String::with_capacity(reason.len());
    let mut from = 0;
    for token in super::token::find_all(reason) {
        shown.push_str(&reason[from..token.start]);
        shown.push_str(&crate::template::mask(&reason[token.clone()]));
        from = token.end;
    }
    shown.push_str(&reason[from..]);
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warning(code: Code, line: u32) -> Diagnostic {
        Diagnostic::new(
            code,
            Span {
                line,
                col: 1,
                offset: line as usize * 10,
                len: 1,
            },
            "found",
        )
    }

    #[test]
    fn a_comment_accepts_its_line_or_the_next_one() {
        let text = "a: 1 # runbook: ignore[RB024] kept for later\n\
                    # runbook: ignore[rb023, RB025]\n\
                    b: 2\n\
                    c: 3\n";
        let (reported, suppressed) = apply(
            Some(text),
            vec![
                warning(Code::UnusedInput, 1),
                warning(Code::PlainHttp, 3),
                warning(Code::IdMismatch, 3),
                warning(Code::PlainHttp, 4),
                warning(Code::UnusedInput, 2),
            ],
            &[],
        );
        let lines = |ds: Vec<&Diagnostic>| -> Vec<(Code, u32)> {
            ds.into_iter().map(|d| (d.code, d.span.line)).collect()
        };
        assert_eq!(
            lines(reported.iter().collect()),
            [(Code::UnusedInput, 2), (Code::PlainHttp, 4)]
        );
        assert_eq!(
            lines(suppressed.iter().map(|s| &s.diagnostic).collect()),
            [
                (Code::UnusedInput, 1),
                (Code::PlainHttp, 3),
                (Code::IdMismatch, 3)
            ]
        );
        assert_eq!(suppressed[0].kind, Kind::InSource);
        assert_eq!(
            suppressed[0].justification.as_deref(),
            Some("kept for later")
        );
        assert_eq!(suppressed[1].justification, None);
    }

    #[test]
    fn a_trailing_comment_does_not_reach_the_next_line() {
        let text = "a: 1 # runbook: ignore[RB024]\nb: 2\n";
        let (reported, suppressed) = apply(Some(text), vec![warning(Code::UnusedInput, 2)], &[]);
        assert_eq!(reported.len(), 1);
        assert!(suppressed.is_empty());
    }

    #[test]
    fn a_bad_code_is_a_warning_where_it_is_written() {
        let text = "x: 1\n  # runbook: ignore[RB999, RB018] why\n";
        let (reported, suppressed) = apply(Some(text), Vec::new(), &[]);
        assert!(suppressed.is_empty());
        let found: Vec<(Code, u32, u32, usize)> = reported
            .iter()
            .map(|d| (d.code, d.span.line, d.span.col, d.span.len))
            .collect();
        assert_eq!(
            found,
            [
                (Code::BadSuppression, 2, 21, 5),
                (Code::BadSuppression, 2, 28, 5)
            ]
        );
        assert_eq!(&text[reported[0].span.offset..][..5], "RB999");
        assert_eq!(&text[reported[1].span.offset..][..5], "RB018");
        assert!(reported[1].message.contains("errors cannot be ignored"));
    }

    #[test]
    fn errors_are_never_accepted_and_the_flag_accepts_warnings_everywhere() {
        let error = Diagnostic::new(Code::NoEvidence, Span::START, "no probe");
        let (reported, suppressed) = apply(
            None,
            vec![error, warning(Code::UnusedInput, 7)],
            &[Code::NoEvidence, Code::UnusedInput],
        );
        assert_eq!(reported.len(), 1);
        assert_eq!(reported[0].code, Code::NoEvidence);
        assert_eq!(suppressed[0].kind, Kind::External);
        assert_eq!(
            suppressed[0].justification.as_deref(),
            Some("--ignore RB024")
        );
    }

    #[test]
    fn a_token_in_a_reason_is_masked() {
        let text = "a: 1 # runbook: ignore[RB024] old cfut_abcdefghijklmnop1234 gone\n";
        let (_, suppressed) = apply(Some(text), vec![warning(Code::UnusedInput, 1)], &[]);
        let reason = suppressed[0].justification.as_deref().unwrap_or_default();
        assert!(!reason.contains("cfut_abcdefghijklmnop"), "{reason}");
        assert!(reason.contains("1234"), "{reason}");
    }
}
