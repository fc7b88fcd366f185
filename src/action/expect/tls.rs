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
