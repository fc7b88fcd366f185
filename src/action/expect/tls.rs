//! `expect.tls`: checks on the certificate an HTTPS server presented. The
//! text fields are judged by the text matchers (`text.rs`), `days_left` by the
//! JSON value checks, and the list of names by whether it holds a name
//! exactly — `sans: {contains: a.test}` must not pass for `ba.test`.

use serde_json::Value;

use super::text::{self, TextCheck, quoted};
use super::{Check, Document, Got, Mismatch, check_path, relation, render};
use crate::action::tls::Certificate;
use crate::document::model::TlsField;

/// One rendered rule on one certificate field.
#[derive(Debug, Clone)]
pub enum TlsCheck {
    /// On a text field (`subject`, `sha256`, …).
    Text(TextCheck),
    /// On `sans`: `true` when the name must be there, `false` when it must not.
    Name(String, bool),
    /// On `days_left`.
    Number(Check),
}

impl TlsCheck {
    /// `contains "a.test"`, `includes "a.test"`, `≥ 30`, as the plan says it
    /// after the field's name.
    pub fn words(&self) -> String {
        match self {
            TlsCheck::Text(check) => check.words(),
            TlsCheck::Name(name, true) => format!("include {}", quoted(name)),
            TlsCheck::Name(name, false) => format!("do not include {}", quoted(name)),
            TlsCheck::Number(check) => relation(check),
        }
    }
}

/// Every way the served certificate fails `checks`; one mismatch for all of
/// them when there is no certificate to look at.
pub(super) fn check_all(
    checks: &[(TlsField, TlsCheck)],
    served: Option<&Result<Certificate, String>>,
    mismatches: &mut Vec<Mismatch>,
) {
    if checks.is_empty() {
        return;
    }
    let certificate = match served {
        Some(Ok(certificate)) => certificate,
        Some(Err(why)) => return no_certificate(checks, why.clone(), mismatches),
        None => {
            return no_certificate(
                checks,
                "no certificate came (the response came over plain HTTP)".to_owned(),
                mismatches,
            );
        }
    };
    let document = certificate.to_json();
    for (field, check) in checks {
        let key = field.key();
        match check {
            TlsCheck::Text(rule) => {
                let value = certificate.field(*field);
                let value = value.as_str().unwrap_or_default();
                text::check_all(
                    std::slice::from_ref(rule),
                    &format!("tls.{key}"),
                    Some(value),
                    true,
                    mismatches,
                );
            }
            TlsCheck::Name(name, wanted) => {
                if certificate.sans.contains(name) != *wanted {
                    let expected = if *wanted {
                        format!("to include {}", quoted(name))
                    } else {
                        format!("not to include {}", quoted(name))
                    };
                    mismatches.push(Mismatch::Text {
                        what: format!("tls.{key}"),
                        expected,
                        actual: Got::Text(render(&Value::from(certificate.sans.clone()))),
                    });
                }
            }
            TlsCheck::Number(rule) => {
                mismatches.extend(check_path(Document::Tls, &document, key, rule));
            }
        }
    }
}

fn no_certificate(checks: &[(TlsField, TlsCheck)], why: String, mismatches: &mut Vec<Mismatch>) {
    let mut fields: Vec<String> = checks.iter().map(|(f, _)| f.key().to_owned()).collect();
    fields.dedup();
    mismatches.push(Mismatch::NoCertificate { fields, why });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::model::Comparison;

    fn served() -> Certificate {
        Certificate {
            subject: "CN=a.test".to_owned(),
            issuer: "CN=Our CA".to_owned(),
            sans: vec!["ba.test".to_owned(), "www.a.test".to_owned()],
            not_before: "2026-01-01T00:00:00Z".to_owned(),
            not_after: "2026-04-01T00:00:00Z".to_owned(),
            days_left: 12,
            sha256: "ab".repeat(32),
            serial: "0A".to_owned(),
        }
    }

    fn messages(
        checks: &[(TlsField, TlsCheck)],
        served: Option<&Result<Certificate, String>>,
    ) -> Vec<String> {
        let mut mismatches = Vec::new();
        check_all(checks, served, &mut mismatches);
        mismatches.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_name_must_be_there_exactly_not_inside_another() {
        let checks = [
            (TlsField::Sans, TlsCheck::Name("a.test".to_owned(), true)),
            (
                TlsField::Sans,
                TlsCheck::Name("www.a.test".to_owned(), true),
            ),
            (TlsField::Sans, TlsCheck::Name("ba.test".to_owned(), false)),
        ];
        assert_eq!(
            messages(&checks, Some(&Ok(served()))),
            [
                r#"tls.sans: expected to include "a.test", got ["ba.test","www.a.test"]"#,
                r#"tls.sans: expected not to include "ba.test", got ["ba.test","www.a.test"]"#,
            ]
        );
    }

    #[test]
    fn numbers_and_texts_say_expected_and_got() {
        let checks = [
            (
                TlsField::DaysLeft,
                TlsCheck::Number(Check::Compare(Comparison::Ge, 30.0.into())),
            ),
            (
                TlsField::Issuer,
                TlsCheck::Text(TextCheck::Contains("Their CA".to_owned())),
            ),
            (
                TlsField::Serial,
                TlsCheck::Text(TextCheck::Equals("0A".to_owned())),
            ),
        ];
        assert_eq!(
            messages(&checks, Some(&Ok(served()))),
            [
                "`tls.days_left`: expected >= 30, got 12",
                r#"tls.issuer: expected to contain "Their CA", got "CN=Our CA""#,
            ]
        );
        assert_eq!(checks[0].1.words(), "≥ 30");
        assert_eq!(checks[1].1.words(), r#"contains "Their CA""#);
    }

    #[test]
    fn without_a_certificate_every_check_fails_once_saying_why() {
        let checks = [
            (
                TlsField::DaysLeft,
                TlsCheck::Number(Check::Compare(Comparison::Ge, 30.0.into())),
            ),
            (TlsField::Sans, TlsCheck::Name("a.test".to_owned(), true)),
        ];
        assert_eq!(
            messages(&checks, None),
            [
                "`tls.days_left`, `tls.sans` cannot be checked: no certificate came (the response came over plain HTTP)"
            ]
        );
        assert!(messages(&[], None).is_empty());
    }
}
