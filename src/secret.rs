//! Secrets in output. A secret is shown only as `••••` and its last four
//! characters (`template::mask`). The [`Redactor`] knows every secret of a run and
//! rewrites any text before it is written anywhere — terminal, events, journal,
//! reports, error messages — including the secrets' URL-encoded and base64 forms.
//! The journal keeps a [`fingerprint`], never the value.

use std::cell::RefCell;
use std::collections::HashSet;
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
/// WHATWG's `application/x-www-form-urlencoded` set: all but alphanumerics and
/// `*-._` (browsers, `URLSearchParams`).
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Every secret of a run, in the forms it may take in output. It learns through
/// a shared reference (`add(&self)`): rendering a template is a read of the run's
/// values, yet may reveal a new derived secret (a slice of a token) to hide.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: RefCell<Needles>,
}

/// The forms to find and what to write instead. Learning one is a set lookup
/// and a push; the list is put in order (longest first, so a secret inside a
/// longer one's encoding is not half-replaced) when it is next read, so adding
/// N secrets costs N pushes and one sort, not N sorts and N² comparisons.
#[derive(Debug, Clone, Default)]
struct Needles {
    /// (form to find, what to write instead), in the order learnt until sorted.
    list: Vec<(String, String)>,
    known: HashSet<String>,
    /// `list` is longest first. The sort is stable: forms of one length stay
    /// in the order they were learnt.
    sorted: bool,
}

impl Needles {
    fn learn(&mut self, form: String, masked: &str) {
        if !form.is_empty() && self.known.insert(form.clone()) {
            self.list.push((form, masked.to_owned()));
            self.sorted = false;
        }
    }
}

impl Redactor {
    /// Learns a secret. Empty values are ignored: there is nothing to hide.
    pub fn add(&self, secret: &str) {
        let mut needles = self.needles.borrow_mut();
        if secret.is_empty() || needles.known.contains(secret) {
            return;
        }
        let masked = mask(secret);
        needles.learn(secret.to_owned(), &masked);
        for form in percent_forms(secret)
            .into_iter()
            .chain(json_forms(secret))
            .chain(base64_forms(secret))
        {
            needles.learn(form, &masked);
        }
    }

    /// Learns every secret another redactor knows (a child run's).
    pub fn merge(&self, other: &Redactor) {
        let theirs = other.in_order().clone();
        let mut needles = self.needles.borrow_mut();
        for (needle, masked) in theirs {
            needles.learn(needle, &masked);
        }
    }

    /// Whether any secret is known.
    pub fn is_empty(&self) -> bool {
        self.needles.borrow().list.is_empty()
    }

    /// The forms, longest first.
    fn in_order(&self) -> std::cell::Ref<'_, Vec<(String, String)>> {
        {
            let mut needles = self.needles.borrow_mut();
            if !needles.sorted {
                needles
                    .list
                    .sort_by_key(|(needle, _)| std::cmp::Reverse(needle.len()));
                needles.sorted = true;
            }
        }
        std::cell::Ref::map(self.needles.borrow(), |needles| &needles.list)
    }

    /// `text` with every known secret, in every form, replaced by its mask.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (needle, masked) in self.in_order().iter() {
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
            .list
            .iter()
            .any(|(needle, _)| text.contains(needle.as_str()))
    }
}

/// The secret percent-encoded as URLs, query strings and form bodies carry it:
/// every set of kept characters in use (everything but alphanumerics; RFC 3986's
/// unreserved, as Python's `quote` and `quote_plus`; that and `/`, as `MiniJinja`'s
/// `urlencode`; WHATWG's form set), spaces as `%20` or `+`, hex digits in upper
/// or lower case.
fn percent_forms(secret: &str) -> Vec<String> {
    let sets = [percent_encoding::NON_ALPHANUMERIC, COMPONENT, PATH, FORM];
    let mut forms = Vec::new();
    for set in sets {
        let encoded = percent_encoding::utf8_percent_encode(secret, set).to_string();
        let plus = secret
            .split(' ')
            .map(|part| percent_encoding::utf8_percent_encode(part, set).to_string())
            .collect::<Vec<_>>()
            .join("+");
        for form in [encoded, plus] {
            forms.push(lower_hex(&form));
            forms.push(form);
        }
    }
    forms
}

/// A percent-encoded text with the two hex digits of each `%XX` in lower case.
fn lower_hex(encoded: &str) -> String {
    let mut out = String::with_capacity(encoded.len());
    let mut hex_left = 0;
    for c in encoded.chars() {
        if hex_left > 0 {
            out.push(c.to_ascii_lowercase());
            hex_left -= 1;
        } else {
            hex_left = if c == '%' { 2 } else { 0 };
            out.push(c);
        }
    }
    out
}

/// The secret inside a JSON string: as `serde_json` writes it (non-ASCII kept),
/// with every non-ASCII character as `\uXXXX` escapes (Python's `json.dumps`,
/// in lower case, and the same in upper case), each also with `/` as `\/` (PHP).
fn json_forms(secret: &str) -> Vec<String> {
    let plain = serde_json::to_string(secret).unwrap_or_default();
    let plain = plain
        .strip_prefix('"')
        .and_then(|p| p.strip_suffix('"'))
        .unwrap_or_default()
        .to_owned();
    let mut ascii = String::with_capacity(plain.len());
    for c in plain.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                let _ = write!(ascii, "\\u{unit:04x}");
            }
        }
    }
    let upper = upper_unicode_escapes(&ascii);
    let mut forms = Vec::new();
    for form in [plain, ascii, upper] {
        forms.push(form.replace('/', "\\/"));
        forms.push(form);
    }
    forms
}

/// `\uXXXX` escapes with upper-case hex digits; the rest is unchanged.
fn upper_unicode_escapes(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find("\\u") {
        let end = (at + 6).min(rest.len());
        out.push_str(&rest[..at + 2]);
        out.push_str(&rest[at + 2..end].to_ascii_uppercase());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The shortest base64 run hidden: two groups, six bytes of the secret. Shorter
/// runs would mask unrelated text by chance.
const MIN_BASE64_RUN: usize = 8;

/// The secret in base64, alone (with and without padding) and inside a longer
/// value — `Bearer <secret>`, `user:<secret>` for Basic auth. Inside a longer
/// value the encoding depends on where the secret falls in a 3-byte group, so
/// for each of the three offsets the groups made only of the secret's bytes are
/// hidden; the group shared with what comes before or after holds at most two of
/// its bytes at each end. Both alphabets (standard, URL-safe).
fn base64_forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let mut forms: Vec<String> = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .map(|engine| engine.encode(secret))
        .collect();
    for offset in 0..3 {
        let mut bytes = vec![0; offset];
        bytes.extend_from_slice(secret.as_bytes());
        let first = usize::from(offset > 0);
        let last = bytes.len() / 3;
        if last <= first || (last - first) * 4 < MIN_BASE64_RUN {
            continue;
        }
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            let encoded = engine.encode(&bytes);
            forms.push(encoded[first * 4..last * 4].to_owned());
        }
    }
    forms
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
    use crate::template::MASK;

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

    fn assert_hidden(redactor: &Redactor, form: &str, what: &str) {
        let text = format!("echo: {form} (end)");
        let out = redactor.redact(&text);
        assert!(!out.contains(form), "{what} `{form}` shown: {out}");
        assert!(out.contains(MASK), "{what}: no mask in {out}");
        assert!(!redactor.leaks(&out), "{what}: {out}");
    }

    #[test]
    fn redacts_lower_case_percent_encoding_and_quote_plus() {
        let secret = "cfut_s3cr3t/with+odd=chars 9Xy7";
        let redactor = Redactor::default();
        redactor.add(secret);
        // Python's `urllib.parse.quote(secret, safe="")` and `quote_plus(secret)`.
        let quote = "cfut_s3cr3t%2Fwith%2Bodd%3Dchars%209Xy7";
        let quote_plus = "cfut_s3cr3t%2Fwith%2Bodd%3Dchars+9Xy7";
        assert_hidden(&redactor, quote_plus, "quote_plus");
        assert_hidden(&redactor, &lower_hex(quote), "lower-case quote");
        assert_hidden(&redactor, &lower_hex(quote_plus), "lower-case quote_plus");
        let every =
            percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_hidden(&redactor, &lower_hex(&every), "lower-case full encoding");
        // Python keeps `~` and encodes `*`; WHATWG form encoding (browsers,
        // `URLSearchParams`) keeps `*` and encodes `~`.
        let odd = Redactor::default();
        odd.add("a~b*c d_e-f.g0123456789");
        assert_hidden(&odd, "a~b%2Ac+d_e-f.g0123456789", "quote_plus");
        assert_hidden(&odd, "a%7Eb*c+d_e-f.g0123456789", "form encoding");
        assert_hidden(
            &odd,
            "a%7eb*c+d_e-f.g0123456789",
            "lower-case form encoding",
        );
    }

    #[test]
    fn redacts_json_unicode_escapes_of_a_non_ascii_secret() {
        let secret = "pässwörd-ünïcode-🔑-1234";
        let redactor = Redactor::default();
        redactor.add(secret);
        // Python's `json.dumps(secret)` (ensure_ascii) and the same in upper case.
        let escaped = r"p\u00e4ssw\u00f6rd-\u00fcn\u00efcode-\ud83d\udd11-1234";
        assert_hidden(&redactor, escaped, "\\u escapes");
        let upper = r"p\u00E4ssw\u00F6rd-\u00FCn\u00EFcode-\uD83D\uDD11-1234";
        assert_hidden(&redactor, upper, "upper-case \\u escapes");
        // PHP's `json_encode` escapes `/` too.
        let slashed = Redactor::default();
        slashed.add("tok/en/with/slashes");
        assert_hidden(&slashed, r"tok\/en\/with\/slashes", "escaped slashes");
    }

    /// Whether six consecutive bytes of `secret` can still be decoded from a run
    /// of base64 characters in `text`, read at any alignment, in either alphabet.
    fn base64_recoverable(text: &str, secret: &str) -> bool {
        let windows: Vec<&[u8]> = secret.as_bytes().windows(6).collect();
        let runs = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '-' | '_')));
        let engines = [
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        for run in runs {
            for skip in 0..4.min(run.len()) {
                let rest = &run[skip..];
                let whole = &rest[..rest.len() / 4 * 4];
                for engine in engines {
                    let Ok(bytes) = engine.decode(whole) else {
                        continue;
                    };
                    if windows.iter().any(|w| bytes.windows(6).any(|b| b == *w)) {
                        return true;
                    }
                }
            }
        }
        false
    }

    #[test]
    fn redacts_base64_of_a_secret_inside_a_longer_value() {
        let secret = "cfut_Zx81Qa0Lm3Np5Rs7Tu9Vw2Yb4";
        let redactor = Redactor::default();
        redactor.add(secret);
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        // As servers echo credentials: a bearer header, Basic auth with users of
        // every length (every alignment), the secret followed by more.
        let mut values = vec![format!("Bearer {secret}"), format!("{secret}:x")];
        for user in ["", "a", "ab", "abc", "user", "admin", "deploy-bot"] {
            values.push(format!("{user}:{secret}"));
        }
        for value in &values {
            for engine in engines {
                let encoded = engine.encode(value);
                assert!(
                    base64_recoverable(&encoded, secret),
                    "the check itself: {value}"
                );
                let out = redactor.redact(&format!("Authorization: Basic {encoded}"));
                assert!(out.contains(MASK), "{value}: {out}");
                assert!(!base64_recoverable(&out, secret), "{value}: {out}");
            }
        }
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
