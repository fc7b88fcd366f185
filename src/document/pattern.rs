//! What the `pattern` of an input or prompt means: the whole answer must match it,
//! as with HTML's `pattern` attribute (`https?://.+` accepts a URL, not any text
//! holding one).
//!
//! `validate` parses each pattern in the form the engine compiles ([`Use::source`]:
//! anchored for inputs and prompts, as written for `matches`). A pattern can be valid
//! syntax and still not compile: the compiled program must fit the `regex` crate's
//! size limit (10 MiB), and counted repetitions multiply (`\w{1000}` does not fit).
//! Compiling takes tens of microseconds, as long as the rest of `validate`'s work on a
//! file, so `validate` compiles only the patterns [`may_exceed_size_limit`] cannot
//! vouch for. Together: a runbook that runs — `run`, `resume` and `plan` refuse one
//! that does not validate — only has patterns that compile.

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};

/// `pattern` anchored at both ends, compiled.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&anchored_source(pattern))
}

/// The text [`anchored`] compiles. A pattern can be valid alone and not in here: in
/// `(?x)` mode a trailing `# comment` swallows the closing `)`.
pub fn anchored_source(pattern: &str) -> String {
    format!(r"\A(?:{pattern})\z")
}

/// How the engine uses a regular expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// An input's or prompt's `pattern`: it must match the whole answer ([`anchored`]).
    Whole,
    /// A `matches` matcher: it must match somewhere in the value, as written.
    Search,
}

impl Use {
    /// The text the engine compiles for `pattern`.
    pub fn source(self, pattern: &str) -> std::borrow::Cow<'_, str> {
        match self {
            Use::Whole => anchored_source(pattern).into(),
            Use::Search => pattern.into(),
        }
    }
}

/// Whether the compiled `hir` could come anywhere near the size limit. An upper
/// estimate of the compiled bytes, from what this crate's `regex` produces (measured:
/// a literal byte ≈ 20 bytes, `[a-z]` ≈ 40, `.` ≈ 640, `\d` ≈ 5 KB, `\w` ≈ 40 KB, about
/// 50–70 bytes per Unicode range), checked against a tenth of the limit.
pub fn may_exceed_size_limit(hir: &Hir) -> bool {
    estimate(hir) > LIMIT / 10
}

/// The `regex` crate's default size limit.
const LIMIT: u64 = 10 * 1024 * 1024;

fn estimate(hir: &Hir) -> u64 {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 20,
        HirKind::Literal(literal) => 20 * literal.0.len() as u64,
        HirKind::Class(Class::Unicode(class)) => 640 + 80 * class.ranges().len() as u64,
        HirKind::Class(Class::Bytes(class)) => 640 + 80 * class.ranges().len() as u64,
        HirKind::Repetition(repetition) => {
            // An unbounded repetition compiles its body once more than its minimum.
            let copies = repetition
                .max
                .unwrap_or(repetition.min.saturating_add(1))
                .max(1);
            estimate(&repetition.sub).saturating_mul(u64::from(copies))
        }
        HirKind::Capture(capture) => estimate(&capture.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => {
            parts.iter().map(estimate).fold(0, u64::saturating_add)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_answer_must_match_alternations_included() {
        let url = anchored("https?://.+").unwrap();
        assert!(url.is_match("https://example.com"));
        assert!(!url.is_match("see https://example.com"));
        let either = anchored("a|ab").unwrap();
        assert!(either.is_match("ab"));
        assert!(!either.is_match("abc"));
    }

    #[test]
    fn a_pattern_too_large_to_compile_is_an_error() {
        let error = anchored(r"\w{1000}{1000}").unwrap_err();
        assert!(error.to_string().contains("size limit"), "{error}");
    }

    fn hir(pattern: &str) -> Hir {
        regex_syntax::Parser::new().parse(pattern).unwrap()
    }

    #[test]
    fn everyday_patterns_are_vouched_for_without_compiling() {
        for pattern in [
            "https?://.+",
            "[0-9]+",
            "[a-z0-9-]+",
            r"cfut_[A-Za-z0-9_\-]{16,}",
            r"\w+@\w+\.\w+",
            "(?i)yes|no",
            r"\d{4}-\d{2}-\d{2}",
        ] {
            assert!(!may_exceed_size_limit(&hir(pattern)), "{pattern}");
        }
    }

    /// The property the engine relies on: every pattern the estimate vouches for
    /// compiles. Swept over the classes that compile largest, repeated ever more.
    #[test]
    fn whatever_the_estimate_vouches_for_compiles() {
        let mut flagged = 0;
        for base in [
            "a",
            "ab",
            ".",
            "[a-z]",
            "[^a]",
            r"\d",
            r"\w",
            r"\pL",
            "(?i)k",
            r"(?:\w|\d)",
        ] {
            for count in (0..14).map(|shift| 1u32 << shift) {
                let pattern = format!("(?:{base}){{{count}}}");
                if may_exceed_size_limit(&hir(&pattern)) {
                    flagged += 1;
                } else {
                    assert!(
                        anchored(&pattern).is_ok(),
                        "vouched for, but does not compile: {pattern}"
                    );
                }
            }
        }
        // And the sweep reached the patterns that do not fit.
        assert!(flagged >= 30, "only {flagged} patterns flagged");
        assert!(may_exceed_size_limit(&hir(r"\w{1000}{1000}")));
        assert!(may_exceed_size_limit(&hir(r"\w{256}")));
    }
}
