//! Secrets in output. A secret is shown only as `••••` and its last four
//! characters (`template::mask`). The [`Redactor`] knows every secret of a run and
//! rewrites any text before it is written anywhere — terminal, events, journal,
//! reports, error messages — including the secrets' URL-encoded and base64 forms.
//! The journal keeps a [`fingerprint`], never the value.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::ops::Range;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::template::mask;

/// Characters percent-encoded in a URL component: all but RFC 3986's unreserved.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`COMPONENT`], keeping `/` too (`MiniJinja`'s `urlencode` on a string).
const PATH: &percent_encoding::AsciiSet = &COMPONENT.remove(b'/');

/// Every secret of a run, in the forms it may take in output. It learns through
/// a shared reference (`add(&self)`): rendering a template is a read of the run's
/// values, yet may reveal a new derived secret (a slice of a token) to hide.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// (form to find, what to write instead), longest first so a secret inside a
    /// longer one's encoding is not half-replaced.
    needles: RefCell<Vec<(String, String)>>,
}

impl Redactor {
    /// Learns a secret. Empty values are ignored: there is nothing to hide.
    pub fn add(&self, secret: &str) {
        let mut needles = self.needles.borrow_mut();
        if secret.is_empty() || needles.iter().any(|(n, _)| n == secret) {
            return;
        }
        let masked = mask(secret);
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let mut forms = vec![
            secret.to_owned(),
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            // How URL components are usually encoded (RFC 3986 unreserved kept), and
            // how MiniJinja's `urlencode` filter does it (`/` kept as well).
            percent_encoding::utf8_percent_encode(secret, COMPONENT).to_string(),
            percent_encoding::utf8_percent_encode(secret, PATH).to_string(),
            form_urlencoded(secret),
            serde_json::to_string(secret)
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
        ];
        forms.extend(engines.iter().map(|engine| engine.encode(secret)));
        for form in forms {
            if !form.is_empty() && !needles.iter().any(|(n, _)| *n == form) {
                needles.push((form, masked.clone()));
            }
        }
        needles.sort_by_key(|(needle, _)| std::cmp::Reverse(needle.len()));
    }

    /// Learns every secret another redactor knows (a child run's).
    pub fn merge(&self, other: &Redactor) {
        let theirs = other.needles.borrow().clone();
        let mut needles = self.needles.borrow_mut();
        for (needle, masked) in theirs {
            if !needles.iter().any(|(n, _)| *n == needle) {
                needles.push((needle, masked));
            }
        }
        needles.sort_by_key(|(needle, _)| std::cmp::Reverse(needle.len()));
    }

    /// Whether any secret is known.
    pub fn is_empty(&self) -> bool {
        self.needles.borrow().is_empty()
    }

    /// `text` with every known secret, in every form, replaced by its mask.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (needle, masked) in self.needles.borrow().iter() {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), masked);
            }
        }
        out
    }

    /// Whether `text` holds a known secret in any form.
    pub fn leaks(&self, text: &str) -> bool {
        self.needles
            .borrow()
            .iter()
            .any(|(needle, _)| text.contains(needle.as_str()))
    }
}

/// How a secret is encoded in an `application/x-www-form-urlencoded` body or
/// query: like percent-encoding, but spaces become `+`.
fn form_urlencoded(secret: &str) -> String {
    secret
        .split(' ')
        .map(|part| {
            percent_encoding::utf8_percent_encode(part, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("+")
}

/// A stable, one-way identifier of a value: `sha256:` and 16 hex digits. Enough
/// to tell whether a value re-entered on resume is the one used before, useless
/// for recovering it.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut out = String::from("sha256:");
    for byte in digest.iter().take(8) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

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
    fn redacts_every_form_of_a_secret() {
        let secret = "cfut_s3cr3t/with+odd=chars 9Xy7";
        let redactor = Redactor::default();
        redactor.add(secret);
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let url = percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let text = format!(
            "raw {secret} b64 {b64} url {url} json {}",
            serde_json::to_string(secret).unwrap()
        );
        let out = redactor.redact(&text);
        assert!(!redactor.leaks(&out), "{out}");
        assert!(!out.contains("s3cr3t"), "{out}");
        assert_eq!(out.matches("••••9Xy7").count(), 4, "{out}");
    }

    #[test]
    fn fingerprints_are_stable_and_do_not_hold_the_value() {
        assert_eq!(fingerprint("abc"), fingerprint("abc"));
        assert_ne!(fingerprint("abc"), fingerprint("abd"));
        assert!(fingerprint("abc").starts_with("sha256:"));
        assert_eq!(fingerprint("abc").len(), "sha256:".len() + 16);
        assert!(!fingerprint("topsecretvalue").contains("topsecret"));
    }

    #[test]
    fn hides_all_but_the_last_four_characters_and_keeps_offsets() {
        let text = "bearer: cfut_secretvalue1234 # ok";
        let start = text.find("cfut").unwrap();
        let end = start + "cfut_secretvalue1234".len();
        let redacted = redact_ranges(text, std::iter::once(start..end));
        assert_eq!(redacted, "bearer: ****************1234 # ok");
        assert_eq!(redacted.len(), text.len());
    }

    #[test]
    fn keeps_the_quotes_of_a_quoted_scalar() {
        let text = "bearer: \"abcdefgh\"";
        assert_eq!(
            redact_ranges(text, std::iter::once(8..text.len())),
            "bearer: \"****efgh\""
        );
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
