//! The certificate an HTTPS server presented, read from its DER into the
//! fields a runbook reads (`steps.<id>.tls.*`) and checks (`expect.tls`).
//!
//! The spellings are the ones operators compare with by hand: `sha256` as
//! `openssl x509 -outform der | sha256sum` prints it (lower-case hex), `serial`
//! as `openssl x509 -noout -serial` does (upper-case hex), times in RFC 3339
//! UTC, names as `openssl x509 -noout -subject` lists them (`CN=…, O=…`).

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::document::model::TlsField;

const SECONDS_PER_DAY: i64 = 86_400;

/// A served certificate's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses (and any e-mail or URI names), in the
    /// certificate's order.
    pub sans: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// Whole days until `not_after`, counted from when the response came:
    /// negative once expired, 0 on its last day.
    pub days_left: i64,
    pub sha256: String,
    pub serial: String,
}

impl Certificate {
    /// Reads a DER certificate; `now` is when it was served. `Err` says why
    /// it cannot be read (the handshake accepted it, so this is rare).
    pub fn read(der: &[u8], now: SystemTime) -> Result<Certificate, String> {
        let (_, certificate) = X509Certificate::from_der(der)
            .map_err(|error| format!("the served certificate cannot be read: {error}"))?;
        let validity = certificate.validity();
        let not_after = validity.not_after.timestamp();
        let now = match now.duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
        };
        let mut sans = Vec::new();
        if let Ok(Some(extension)) = certificate.subject_alternative_name() {
            for name in &extension.value.general_names {
                match name {
                    GeneralName::DNSName(text)
                    | GeneralName::RFC822Name(text)
                    | GeneralName::URI(text) => sans.push((*text).to_owned()),
                    GeneralName::IPAddress(bytes) => sans.extend(ip_text(bytes)),
                    GeneralName::OtherName(..)
                    | GeneralName::X400Address(_)
                    | GeneralName::DirectoryName(_)
                    | GeneralName::EDIPartyName(_)
                    | GeneralName::RegisteredID(_)
                    | GeneralName::Invalid(..) => {}
                }
            }
        }
        Ok(Certificate {
            subject: certificate.subject().to_string(),
            issuer: certificate.issuer().to_string(),
            sans,
            not_before: time_text(validity.not_before.timestamp()),
            not_after: time_text(not_after),
            days_left: not_after.saturating_sub(now).div_euclid(SECONDS_PER_DAY),
            sha256: hex(&Sha256::digest(der), false),
            serial: serial_text(certificate.raw_serial()),
        })
    }

    /// One field as results hold it: a string, a list of strings, or a number.
    pub fn field(&self, field: TlsField) -> Value {
        match field {
            TlsField::Subject => json!(self.subject),
            TlsField::Issuer => json!(self.issuer),
            TlsField::Sans => json!(self.sans),
            TlsField::NotBefore => json!(self.not_before),
            TlsField::NotAfter => json!(self.not_after),
            TlsField::DaysLeft => json!(self.days_left),
            TlsField::Sha256 => json!(self.sha256),
            TlsField::Serial => json!(self.serial),
        }
    }

    /// Every field, as `steps.<id>.tls`.
    pub fn to_json(&self) -> Value {
        Value::Object(
            TlsField::ALL
                .into_iter()
                .map(|field| (field.key().to_owned(), self.field(field)))
                .collect(),
        )
    }
}

/// The served certificate in one line, from `steps.<id>.tls` as results hold
/// it (the run's screen and the report both show it):
/// `certificate CN=a.test from CN=Our CA, 89 days left (until 2027-03-01T12:00:00Z), serial 0A, sha256 ab12…`.
pub fn summary(tls: &Value) -> Option<String> {
    let text = |field: TlsField| tls.get(field.key()).and_then(Value::as_str);
    let subject = text(TlsField::Subject)?;
    let mut line = format!("certificate {subject}");
    if let Some(issuer) = text(TlsField::Issuer) {
        line.push_str(&format!(" from {issuer}"));
    }
    if let Some(days) = tls.get(TlsField::DaysLeft.key()).and_then(Value::as_i64) {
        line.push_str(&format!(", {days} days left"));
    }
    if let Some(until) = text(TlsField::NotAfter) {
        line.push_str(&format!(" (until {until})"));
    }
    if let Some(serial) = text(TlsField::Serial) {
        line.push_str(&format!(", serial {serial}"));
    }
    if let Some(sha256) = text(TlsField::Sha256) {
        line.push_str(&format!(", sha256 {sha256}"));
    }
    Some(line)
}

/// `2026-12-03T08:00:00Z`.
fn time_text(timestamp: i64) -> String {
    OffsetDateTime::from_unix_timestamp(timestamp)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{timestamp} seconds since 1970"))
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv4Addr::from(b).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}

/// The serial without the sign byte DER may put in front, as openssl shows it.
fn serial_text(raw: &[u8]) -> String {
    let start = raw
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    hex(&raw[start..], true)
}

fn hex(bytes: &[u8], upper: bool) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = if upper {
            write!(text, "{byte:02X}")
        } else {
            write!(text, "{byte:02x}")
        };
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType, SerialNumber};

    use super::*;

    /// A certificate rcgen makes, valid from 2026-01-01 for `days` days.
    fn generated(days: i64) -> (rcgen::Certificate, SystemTime) {
        let mut params = CertificateParams::new(vec!["a.test".to_owned()]).expect("params");
        params
            .subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().expect("an IP")));
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "a.test");
        name.push(DnType::OrganizationName, "Runbook Tests");
        params.distinguished_name = name;
        params.serial_number = Some(SerialNumber::from_slice(&[0x00, 0x8f, 0x01, 0xab]));
        let start = OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("2026-01-01");
        params.not_before = start;
        params.not_after = start + time::Duration::days(days);
        let key = KeyPair::generate().expect("a key");
        let certificate = params.self_signed(&key).expect("a certificate");
        (certificate, UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    #[test]
    fn the_fields_are_read_as_generated() {
        let (generated, start) = generated(90);
        let der = generated.der().to_vec();
        // Ten days and an hour in: 79 whole days are left.
        let now = start + Duration::from_secs(10 * 86_400 + 3600);

        let certificate = Certificate::read(&der, now).expect("readable");

        assert_eq!(certificate.subject, "CN=a.test, O=Runbook Tests");
        assert_eq!(certificate.issuer, certificate.subject, "self-signed");
        assert_eq!(certificate.sans, ["a.test", "127.0.0.1"]);
        assert_eq!(certificate.not_before, "2026-01-01T00:00:00Z");
        assert_eq!(certificate.not_after, "2026-04-01T00:00:00Z");
        assert_eq!(certificate.days_left, 79);
        assert_eq!(certificate.serial, "8F01AB");
        assert_eq!(certificate.sha256, hex(&Sha256::digest(&der), false));
        assert_eq!(certificate.sha256.len(), 64);
        assert_eq!(certificate.to_json()["days_left"], 79);
        assert_eq!(
            summary(&certificate.to_json()).as_deref(),
            Some(
                format!(
                    "certificate CN=a.test, O=Runbook Tests from CN=a.test, O=Runbook Tests, 79 days left (until 2026-04-01T00:00:00Z), serial 8F01AB, sha256 {}",
                    certificate.sha256
                )
                .as_str()
            )
        );
        assert_eq!(certificate.to_json()["sans"][1], "127.0.0.1");
    }

    #[test]
    fn days_left_is_negative_once_expired() {
        let (generated, start) = generated(1);
        let now = start + Duration::from_secs(3 * 86_400);
        let certificate = Certificate::read(generated.der(), now).expect("readable");
        assert_eq!(certificate.days_left, -2);
    }

    #[test]
    fn a_broken_certificate_is_an_error_not_a_panic() {
        let error =
            Certificate::read(b"not DER at all", SystemTime::now()).expect_err("not a certificate");
        assert!(
            error.starts_with("the served certificate cannot be read"),
            "{error}"
        );
    }
}
