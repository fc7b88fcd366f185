//! Secrets in output. A secret is shown only as `••••` and its last four
//! characters (`template::mask`); this module hides secrets that sit inside text
//! the program quotes back, such as a source line in a diagnostic snippet.

use std::ops::Range;

/// `text` with each range hidden but for its last four characters. Each hidden
/// character becomes `*` bytes of the same length, so byte offsets into the text —
/// the spans diagnostics point at — stay valid.
pub fn redact_ranges(text: &str, ranges: impl IntoIterator<Item = Range<usize>>) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for range in ranges {
        let Some(secret) = text.get(range.clone()) else {
            continue;
        };
        // A quoted scalar's span includes its quotes; the secret is inside them.
        let quoted = secret.len() >= 2
            && (secret.starts_with('"') && secret.ends_with('"')
                || secret.starts_with('\'') && secret.ends_with('\''));
        let (range, secret) = if quoted {
            (range.start + 1..range.end - 1, &secret[1..secret.len() - 1])
        } else {
            (range, secret)
        };
        let keep = secret
            .chars()
            .rev()
            .take(4)
            .map(char::len_utf8)
            .sum::<usize>();
        let hide = secret.len() - keep;
        bytes[range.start..range.start + hide].fill(b'*');
    }
    // Whole characters were replaced by ASCII, so the bytes are still UTF-8.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_all_but_the_last_four_characters_and_keeps_offsets() {
        let text = "bearer: cfut_secretvalue1234 # ok";
        let start = text.find("cfut").unwrap();
        let end = start + "cfut_secretvalue1234".len();
        let redacted = redact_ranges(text, [start..end]);
        assert_eq!(redacted, "bearer: ****************1234 # ok");
        assert_eq!(redacted.len(), text.len());
    }

    #[test]
    fn keeps_the_quotes_of_a_quoted_scalar() {
        let text = "bearer: \"abcdefgh\"";
        assert_eq!(redact_ranges(text, [8..text.len()]), "bearer: \"****efgh\"");
    }

    #[test]
    fn handles_multibyte_characters_and_bad_ranges() {
        let text = "k: ééééé€€€€";
        let redacted = redact_ranges(text, [3..text.len(), 1..2, 100..200]);
        assert!(redacted.ends_with("€€€€"));
        assert!(!redacted.contains('é'));
        assert_eq!(redacted.len(), text.len());
    }
}
