//! What the `pattern` of an input or prompt means: the whole answer must match it,
//! as with HTML's `pattern` attribute (`https?://.+` accepts a URL, not any text
//! holding one).
//!
//! `validate` compiles every pattern with [`anchored`], so a runbook that runs —
//! `run`, `resume` and `plan` refuse one that does not validate — only has patterns
//! that compile.

use regex::Regex;

/// `pattern` anchored at both ends, compiled.
pub fn anchored(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&format!(r"\A(?:{pattern})\z"))
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
}
