//! Cloudflare API tokens written into a runbook's text (`cfut_…`, `cfat_…`):
//! what `validate` reports as a literal secret (RB022) and masks in the
//! snippets it shows and in suppression reasons. A token is what
//! `\bcf[ua]t_[A-Za-z0-9_\-]{16,}` matches. It is scanned for by hand: compiling
//! that pattern was a third of the instructions of validating one file, and
//! its search a tenth of the rules' on a directory.

use std::ops::Range;
use std::sync::LazyLock;

use memchr::memmem::Finder;

/// The bytes a token's body is made of, after its `cfut_` or `cfat_`.
fn body(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The shortest body a token has.
const MIN_BODY: usize = 16;

/// Where the tokens in `text` are, left to right, none overlapping another.
pub fn find_all(text: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    // Built once: `str::find` sets its search up on every call, which on the
    // short strings of a runbook cost more than the search.
    static CF: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new("cf"));
    let bytes = text.as_bytes();
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(found) = CF.find(&bytes[from..]) {
            let at = from + found;
            from = at + 2;
            if !matches!(bytes.get(at + 2..at + 5), Some([b'u' | b'a', b't', b'_'])) {
                continue;
            }
            // Not inside a word: `xcfut_…` is not a token, as `\b` says.
            let after_word = text[..at]
                .chars()
                .next_back()
                .is_some_and(regex_syntax::is_word_character);
            if after_word {
                continue;
            }
            let start = at + 5;
            let length = bytes[start..].iter().take_while(|b| body(**b)).count();
            if length >= MIN_BODY {
                from = start + length;
                return Some(at..from);
            }
        }
        None
    })
}

/// Where the first token in `text` is.
pub fn find(text: &str) -> Option<Range<usize>> {
    find_all(text).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_the_pattern_finds() {
        let pattern = regex::Regex::new(r"\bcf[ua]t_[A-Za-z0-9_\-]{16,}").unwrap();
        let pieces = [
            "cf",
            "u",
            "a",
            "t",
            "_",
            "cfut_",
            "cfat_",
            "0123456789abcdef",
            "0123456789abcde",
            "-",
            "x",
            " ",
            "é",
            "²",
            "\u{301}",
            "\u{200d}",
            "c",
        ];
        let texts = crate::test_support::sequences(&pieces, 4);
        for text in &texts {
            let found: Vec<Range<usize>> = find_all(text).collect();
            let expected: Vec<Range<usize>> = pattern.find_iter(text).map(|m| m.range()).collect();
            assert_eq!(found, expected, "in {text:?}");
        }
    }
}
