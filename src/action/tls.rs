//! How an `http` step connects when it says more than the URL: `tls` (a CA to
//! trust instead of the built-in roots, a client certificate and key) and
//! `resolve` (the address to connect to for a host name, which still goes in
//! SNI and `Host`, as curl's `--resolve`). Such a step gets its own client,
//! built once for the step — every item of a fan-out shares it — from the
//! files [`crate::pem`] reads and checks.
//!
//! `ca` replaces the built-in roots rather than adding to them: a step that
//! names its private CA means "this server's certificate comes from that CA",
//! and a certificate from any public CA for the same name must not pass.
//!
//! The served certificate is read into a [`Certificate`]
//! (`certificate.rs`); a failed handshake is worded from rustls's own error
//! ([`handshake_failure`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use rustls::{AlertDescription, CertificateError};

use super::http;
use crate::document::model::resolve_address;
use crate::pem::{self, PemError};

mod certificate;

pub use certificate::{Certificate, summary};

/// A step's connection settings, every template rendered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Connection {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Host names (as the URL has them) and the IP address to connect to.
    pub resolve: Vec<(String, String)>,
    /// The host of a literal URL: a `resolve` host must be it. A templated
    /// host can only be compared here, once rendered (`validate` compares
    /// literal ones: RB078). `None` for a templated URL, whose host may differ
    /// by item of a fan-out sharing the client.
    pub url_host: Option<String>,
}

/// Why a step's connection cannot be set up. None holds a file's content.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(transparent)]
    File(#[from] PemError),

    #[error("tls.{given} is given without tls.{missing}")]
    HalfIdentity {
        given: &'static str,
        missing: &'static str,
    },

    #[error("resolve `{host}`: `{address}` is not an IP address")]
    Address { host: String, address: String },

    #[error("resolve names `{host}`, but the URL's host is `{url_host}`: it would never be used")]
    UnusedHost { host: String, url_host: String },

    #[error("cannot set up the HTTP client for this step's TLS files: {0}")]
    Client(String),
}

impl ConnectionError {
    /// The message and what to do, as a failed step's reason says them.
    pub fn reason(&self) -> String {
        format!("{self} ({})", self.help())
    }

    pub fn help(&self) -> &'static str {
        match self {
            ConnectionError::File(error) => error.help(),
            ConnectionError::HalfIdentity { .. } => {
                "a client certificate needs its key: give both `tls.cert` and `tls.key`"
            }
            ConnectionError::Address { .. } => {
                "give an IPv4 or IPv6 address without a port (the port comes from the URL), e.g. `127.0.0.1`"
            }
            ConnectionError::UnusedHost { .. } => {
                "make the `resolve` host render to the URL's host, e.g. both from the same input"
            }
            ConnectionError::Client(_) => "check that the files are the PEM files they should be",
        }
    }
}

impl Connection {
    /// Whether the step connects as the run's shared client does.
    pub fn is_default(&self) -> bool {
        self.ca.is_none() && self.cert.is_none() && self.key.is_none() && self.resolve.is_empty()
    }

    /// A line each for the plan: which files, which addresses. Paths only: the
    /// key file's name is not a secret, its content is.
    pub fn details(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(ca) = &self.ca {
            lines.push(format!(
                "tls ca {} (trusted instead of the built-in roots)",
                ca.display()
            ));
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => lines.push(format!(
                "tls client certificate {} (key {})",
                cert.display(),
                key.display()
            )),
            (Some(cert), None) => lines.push(format!("tls client certificate {}", cert.display())),
            (None, Some(key)) => lines.push(format!("tls key {}", key.display())),
            (None, None) => {}
        }
        lines.extend(
            self.resolve
                .iter()
                .map(|(host, address)| format!("resolve {host} to {address}")),
        );
        lines
    }

    /// The client a step sends with: the run's `shared` one when it says
    /// nothing of its own, else one with these files and addresses (and the
    /// run's other settings), built now — a bad file fails the step before
    /// anything is sent. A fan-out asks once and sends every item with it.
    pub fn client_or(&self, shared: &reqwest::Client) -> Result<reqwest::Client, ConnectionError> {
        if self.is_default() {
            return Ok(shared.clone());
        }
        self.builder()?
            .build()
            .map_err(|error| ConnectionError::Client(cause(&error)))
    }

    /// The run's client settings with these files and addresses: what every
    /// client of the step is built from (a fan-out's lanes add their own pool
    /// and connector, `connections.rs`). Reads and checks the files now.
    pub fn builder(&self) -> Result<reqwest::ClientBuilder, ConnectionError> {
        let mut builder = http::client_builder();
        if let Some(ca) = &self.ca {
            builder = builder.tls_built_in_root_certs(false);
            for certificate in pem::ca(pem::Naming::HttpTls, ca)? {
                let certificate = reqwest::Certificate::from_der(certificate.as_ref())
                    .map_err(|error| ConnectionError::Client(cause(&error)))?;
                builder = builder.add_root_certificate(certificate);
            }
        }
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let identity = pem::identity(pem::Naming::HttpTls, cert, key)?;
                let identity = reqwest::Identity::from_pem(&identity.pem)
                    .map_err(|error| ConnectionError::Client(cause(&error)))?;
                builder = builder.identity(identity);
            }
            (Some(_), None) => {
                return Err(ConnectionError::HalfIdentity {
                    given: "cert",
                    missing: "key",
                });
            }
            (None, Some(_)) => {
                return Err(ConnectionError::HalfIdentity {
                    given: "key",
                    missing: "cert",
                });
            }
            (None, None) => {}
        }
        for (host, address) in &self.resolve {
            if let Some(url_host) = &self.url_host
                && !host.eq_ignore_ascii_case(url_host)
            {
                return Err(ConnectionError::UnusedHost {
                    host: host.clone(),
                    url_host: url_host.clone(),
                });
            }
            let ip = resolve_address(address).ok_or_else(|| ConnectionError::Address {
                host: host.clone(),
                address: address.clone(),
            })?;
            // Port 0: the URL's port (or its scheme's) is used.
            builder = builder.resolve(&host.to_ascii_lowercase(), SocketAddr::new(ip, 0));
        }
        Ok(builder)
    }
}

/// reqwest's builder errors say only "builder error"; the cause says what.
/// Neither holds a file's content (the identity parser reports a kind).
fn cause(error: &reqwest::Error) -> String {
    let mut innermost: &dyn std::error::Error = error;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    innermost.to_string()
}

/// The rustls error behind a failed request, if a TLS failure is what it is:
/// hyper-rustls wraps it in I/O errors, whose `source()` skips the error they
/// wrap, so the chain is walked through `get_ref` too.
pub fn rustls_error<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    let mut next = Some(error);
    while let Some(current) = next {
        if let Some(found) = current.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io) = current.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(found) = rustls_error(inner)
        {
            return Some(found);
        }
        next = current.source();
    }
    None
}

/// What went wrong in a handshake, as an operator reads it.
pub fn handshake_failure(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(problem) => match problem {
            CertificateError::UnknownIssuer => "certificate not trusted: it is not signed by a CA this step trusts — the built-in roots, or `tls.ca` when given".to_owned(),
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate not trusted: it has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not trusted: it is not valid yet".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate not trusted: it is not valid for the URL's host name".to_owned()
            }
            CertificateError::Revoked => "certificate not trusted: it is revoked".to_owned(),
            other => format!("certificate not trusted: {other:?}"),
        },
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure,
        ) => "the server refused the connection: it requires a client certificate (`tls.cert` and `tls.key`) and got none it accepts".to_owned(),
        rustls::Error::AlertReceived(
            AlertDescription::UnknownCA | AlertDescription::BadCertificate,
        ) => "the server refused the client certificate (`tls.cert`): it does not trust it".to_owned(),
        other => other.to_string(),
    }
}
