//! TLS to the team state database, in libpq's words: the URL parameters
//! `sslmode`, `sslrootcert`, `sslcert` and `sslkey` (and libpq's files under
//! `~/.postgresql/` when they are left out), spoken with rustls (ring), as the
//! rest of runbook speaks TLS.
//!
//! tokio-postgres parses only `sslmode=disable|prefer|require` and no file, so
//! these parameters are taken out of the URL here before it parses the rest,
//! and the verification each mode asks for is the verifier built here.
//!
//! One choice differs from libpq: without `sslmode`, a server across the
//! network is `verify-full` (libpq's `prefer` lets anyone in between drop TLS
//! or answer with a certificate of their own, and the approvals are only as
//! trustworthy as the server answering them); `prefer` stays the default for
//! `localhost`, loopback addresses and Unix sockets, where nothing crosses a
//! network.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::pem::{self, Naming, PemError};

/// libpq's `sslmode`, but `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, its certificate checked only against a
    /// CA that was named (as libpq does); without TLS when it does not.
    Prefer,
    /// TLS or nothing; the certificate checked against a CA only when one was
    /// named (libpq's `require`, which then behaves as `verify-ca`).
    Require,
    /// TLS, and a certificate signed by the named CA.
    VerifyCa,
    /// TLS, a certificate signed by the named CA, for the URL's host.
    VerifyFull,
}

impl SslMode {
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Result<SslMode, TlsError> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-ca" => Ok(SslMode::VerifyCa),
            "verify-full" => Ok(SslMode::VerifyFull),
            "allow" => Err(TlsError::Allow),
            other => Err(TlsError::UnknownMode(other.to_owned())),
        }
    }

    /// How tokio-postgres is to negotiate: whether TLS may be done without.
    fn negotiation(self) -> postgres::config::SslMode {
        match self {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        }
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the URL's TLS parameters cannot be used. None holds a byte of a file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("`sslmode={0}` is not one of disable, prefer, require, verify-ca, verify-full")]
    UnknownMode(String),

    #[error(
        "`sslmode=allow` is not supported: it connects without TLS whenever the server lets it"
    )]
    Allow,

    #[error("`sslrootcert=system` is not supported")]
    SystemRoots,

    #[error("{}, and no CA to check it against is named", no_root_cert(*.mode, *.defaulted))]
    NoRootCert { mode: SslMode, defaulted: bool },

    #[error("`{given}` is given without `{missing}`")]
    HalfIdentity {
        given: &'static str,
        missing: &'static str,
    },

    #[error(transparent)]
    File(#[from] PemError),

    #[error("sslrootcert `{}` holds no CA certificate runbook can use", path.display())]
    UnusableCa { path: PathBuf },

    #[error("sslkey `{}` may be read by others than its owner (its mode is {mode:o})", path.display())]
    KeyReadable { path: PathBuf, mode: u32 },
}

fn no_root_cert(mode: SslMode, defaulted: bool) -> String {
    if defaulted {
        "the server is across the network, so its certificate is checked (`sslmode=verify-full` by default)".to_owned()
    } else {
        format!("`sslmode={mode}` checks the server's certificate")
    }
}

impl TlsError {
    pub fn help(&self) -> &'static str {
        match self {
            TlsError::UnknownMode(_) | TlsError::Allow => {
                "write sslmode=verify-full (with sslrootcert=PATH, the CA that signed the server's certificate), or prefer, or disable"
            }
            TlsError::SystemRoots => {
                "name a CA file: sslrootcert=/etc/ssl/certs/ca-certificates.crt trusts the system's CAs"
            }
            TlsError::NoRootCert { .. } => {
                "add sslrootcert=PATH, the CA that signed the server's certificate (or put it at ~/.postgresql/root.crt); only over a network you trust (an SSH tunnel, a VPN), sslmode=require or disable"
            }
            TlsError::HalfIdentity { .. } => {
                "a client certificate needs both: sslcert=PATH&sslkey=PATH"
            }
            TlsError::File(error) => error.help(),
            TlsError::UnusableCa { .. } => {
                "give the certificate of the CA that signed the server's certificate, in PEM"
            }
            TlsError::KeyReadable { .. } => "make it the owner's alone: chmod 600 FILE",
        }
    }
}

/// The URL's TLS parameters, as written.
#[derive(Debug, Default)]
pub struct Asked {
    mode: Option<SslMode>,
    root_cert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

/// Takes `sslmode`, `sslrootcert`, `sslcert` and `sslkey` out of a
/// `postgres://` URL: the URL without them, and what they asked for. The
/// query is found where tokio-postgres finds it, after the credentials.
pub fn take_parameters(text: &str) -> Result<(String, Asked), TlsError> {
    let credentials_end = text.find('@').map_or(0, |at| at + 1);
    let Some(query_start) = text[credentials_end..]
        .find('?')
        .map(|index| credentials_end + index)
    else {
        return Ok((text.to_owned(), Asked::default()));
    };
    let mut asked = Asked::default();
    let mut kept = Vec::new();
    for pair in text[query_start + 1..].split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value).decode_utf8_lossy();
        match key {
            "sslmode" => asked.mode = Some(SslMode::parse(&value)?),
            "sslrootcert" if value == "system" => return Err(TlsError::SystemRoots),
            "sslrootcert" => asked.root_cert = Some(PathBuf::from(value.as_ref())),
            "sslcert" => asked.cert = Some(PathBuf::from(value.as_ref())),
            "sslkey" => asked.key = Some(PathBuf::from(value.as_ref())),
            _ => kept.push(pair),
        }
    }
    let mut rest = text[..query_start].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, asked))
}

/// How to speak to the server: the mode in force and, unless it is
/// `disable`, the rustls client that checks what the mode asks.
#[derive(Clone)]
pub struct Tls {
    mode: SslMode,
    connector: Option<MakeRustlsConnect>,
    /// The CA file certificates are checked against, when there is one.
    root_cert: Option<PathBuf>,
}

impl Tls {
    /// What `asked` asks of the connection `config` makes, with the files it
    /// names read (so that a file that cannot be used stops everything
    /// before anything runs).
    pub fn new(asked: Asked, config: &postgres::Config) -> Result<Tls, TlsError> {
        let hosts = config.get_hosts();
        let defaulted = asked.mode.is_none();
        // Local: every host a name or address that is, and every `hostaddr`
        // (where the connection really goes) a loopback address.
        let local =
            hosts.iter().all(is_local) && config.get_hostaddrs().iter().all(IpAddr::is_loopback);
        let mode = match asked.mode {
            // The server does not speak TLS on a Unix socket, and libpq does not ask.
            _ if !hosts.is_empty() && hosts.iter().all(is_socket) => SslMode::Disable,
            Some(mode) => mode,
            None if local => SslMode::Prefer,
            None => SslMode::VerifyFull,
        };
        if mode == SslMode::Disable {
            return Ok(Tls {
                mode,
                connector: None,
                root_cert: None,
            });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let root_cert = asked
            .root_cert
            .or_else(|| libpq_default("root.crt").filter(|path| path.exists()));
        let roots = match &root_cert {
            Some(path) => Some(webpki(path, pem::ca(Naming::StateUrl, path)?, &provider)?),
            None => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
            (SslMode::VerifyFull, Some(roots)) => roots,
            (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
                return Err(TlsError::NoRootCert { mode, defaulted });
            }
            (_, chain) => Arc::new(Lenient {
                chain,
                provider: Arc::clone(&provider),
            }),
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports rustls' default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match identity(asked.cert, asked.key)? {
            Some((identity, key_path)) => builder
                .with_client_auth_cert(identity.certificates, identity.key)
                .map_err(|_| PemError::UnusableKey {
                    naming: Naming::StateUrl,
                    path: key_path,
                })?,
            None => builder.with_no_client_auth(),
        };
        Ok(Tls {
            mode,
            connector: Some(MakeRustlsConnect::new(config)),
            root_cert,
        })
    }

    pub fn mode(&self) -> SslMode {
        self.mode
    }

    /// The tokio-postgres negotiation for [`Tls::mode`].
    pub fn negotiation(&self) -> postgres::config::SslMode {
        self.mode.negotiation()
    }

    /// The rustls client, `None` under `sslmode=disable`.
    pub fn connector(&self) -> Option<MakeRustlsConnect> {
        self.connector.clone()
    }
}

fn is_socket(host: &postgres::config::Host) -> bool {
    matches!(host, postgres::config::Host::Unix(_))
}

/// Whether talking to `host` crosses no network.
fn is_local(host: &postgres::config::Host) -> bool {
    match host {
        postgres::config::Host::Unix(_) => true,
        postgres::config::Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
    }
}

/// libpq's file `~/.postgresql/NAME`.
fn libpq_default(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".postgresql").join(name))
}

/// The client certificate: `sslcert` and `sslkey`, else libpq's
/// `~/.postgresql/postgresql.crt` and `.key` when that certificate exists.
fn identity(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<(pem::Identity, PathBuf)>, TlsError> {
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert, key),
        (Some(_), None) => {
            return Err(TlsError::HalfIdentity {
                given: "sslcert",
                missing: "sslkey",
            });
        }
        (None, Some(_)) => {
            return Err(TlsError::HalfIdentity {
                given: "sslkey",
                missing: "sslcert",
            });
        }
        (None, None) => match (
            libpq_default("postgresql.crt").filter(|path| path.exists()),
            libpq_default("postgresql.key"),
        ) {
            (Some(cert), Some(key)) => (cert, key),
            _ => return Ok(None),
        },
    };
    key_is_private(&key)?;
    let identity = pem::identity(Naming::StateUrl, &cert, &key)?;
    Ok(Some((identity, key)))
}

/// libpq's rule for a key file: its owner's alone (or, owned by root, also
/// readable by its group).
fn key_is_private(path: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(metadata) = std::fs::metadata(path) else {
        // Missing or unreadable: reading it says which, in one place.
        return Ok(());
    };
    let mode = metadata.mode() & 0o777;
    let allowed = if metadata.uid() == 0 { 0o740 } else { 0o700 };
    if mode & !allowed != 0 {
        return Err(TlsError::KeyReadable {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// The verifier of certificates signed by the CA file at `path`.
fn webpki(
    path: &Path,
    roots: Vec<CertificateDer<'static>>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    store.add_parsable_certificates(roots);
    // Only a store with no usable CA in it fails to build.
    WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(provider))
        .build()
        .map_err(|_| TlsError::UnusableCa {
            path: path.to_owned(),
        })
}

/// Every mode but `verify-full`: with a CA (`verify-ca`, and libpq's
/// `require` or `prefer` with one) the chain is checked and the name is not —
/// webpki checks the name last, so a name error means the chain was good;
/// without one (`require`, `prefer`) any certificate is taken, as in libpq.
/// Either way the handshake's signatures are checked, so the server holds
/// the key of the certificate it shows.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why a connection was refused at its TLS step, when that is why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The server answered the request for TLS with "no": nothing else was sent.
    NoTlsOnServer,
    /// The server's certificate did not verify: nothing else was sent.
    Certificate(String),
}

impl Tls {
    /// What the TLS step of a failed connection says, if it failed there.
    /// tokio-postgres wraps the rustls error in an I/O error (whose `source()`
    /// skips what it wraps, hence `get_ref`); its own refusal is a plain
    /// message.
    pub fn refusal(&self, error: &postgres::Error) -> Option<Refusal> {
        let cause = std::error::Error::source(error)?;
        if cause.to_string() == "server does not support TLS" {
            return Some(Refusal::NoTlsOnServer);
        }
        let rustls = cause
            .downcast_ref::<std::io::Error>()?
            .get_ref()?
            .downcast_ref::<rustls::Error>()?;
        let rustls::Error::InvalidCertificate(problem) = rustls else {
            return None;
        };
        let ca = self.root_cert.as_deref().map_or_else(
            || "a CA runbook was given".to_owned(),
            |path| format!("the CA in `{}`", path.display()),
        );
        Some(Refusal::Certificate(match problem {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                format!("is not signed by {ca}")
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "is not for that name (sslmode=verify-full checks the name)".to_owned()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "has expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "is not valid yet".to_owned()
            }
            other => format!("is not valid: {other:?}"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(url: &str) -> Result<Tls, TlsError> {
        let (rest, asked) = take_parameters(url)?;
        let config: postgres::Config = rest.parse().expect("the rest parses");
        Tls::new(asked, &config)
    }

    #[test]
    fn the_tls_parameters_are_taken_out_and_the_rest_is_kept() {
        let (rest, asked) = take_parameters(
            "postgres://a:p?w@h/db?sslmode=verify-ca&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://a:p?w@h/db?application_name=x");
        assert_eq!(asked.mode, Some(SslMode::VerifyCa));
        assert_eq!(asked.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        let (rest, _) = take_parameters("postgres://h/db?sslmode=disable").unwrap();
        assert_eq!(rest, "postgres://h/db");
    }

    #[test]
    fn across_a_network_the_default_is_verify_full_and_locally_prefer() {
        let error = tls("postgres://a@db.internal/db")
            .err()
            .expect("no CA is named");
        assert!(
            matches!(
                error,
                TlsError::NoRootCert {
                    mode: SslMode::VerifyFull,
                    defaulted: true
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("verify-full` by default"),
            "{error}"
        );
        for local in [
            "postgres://a@localhost/db",
            "postgres://a@127.0.0.1/db",
            "postgres://a@[::1]/db",
        ] {
            assert_eq!(tls(local).unwrap().mode(), SslMode::Prefer, "{local}");
        }
        // One host across the network makes it verify-full, and so does a
        // `hostaddr` that is not loopback, whatever the host's name.
        assert!(tls("postgres://a@localhost,db.internal/db").is_err());
        assert!(tls("postgres://a@localhost/db?hostaddr=192.0.2.7").is_err());
        assert!(tls("postgres://a@/db?hostaddr=192.0.2.7").is_err());
        assert_eq!(
            tls("postgres://a@db.internal/db?sslmode=require")
                .unwrap()
                .mode(),
            SslMode::Require
        );
    }

    #[test]
    fn a_unix_socket_never_speaks_tls() {
        let tls = tls("postgres://a@%2Fvar%2Frun%2Fpostgresql/db?sslmode=verify-full").unwrap();
        assert_eq!(tls.mode(), SslMode::Disable);
        assert!(tls.connector().is_none());
    }

    #[test]
    fn what_libpq_has_that_runbook_has_not_is_refused_clearly() {
        assert!(matches!(
            tls("postgres://h/db?sslmode=allow"),
            Err(TlsError::Allow)
        ));
        assert!(matches!(
            tls("postgres://h/db?sslmode=verify"),
            Err(TlsError::UnknownMode(mode)) if mode == "verify"
        ));
        assert!(matches!(
            tls("postgres://h/db?sslrootcert=system"),
            Err(TlsError::SystemRoots)
        ));
        assert!(matches!(
            tls("postgres://localhost/db?sslcert=/tmp/c.pem"),
            Err(TlsError::HalfIdentity {
                given: "sslcert",
                ..
            })
        ));
        let error = tls("postgres://h/db?sslmode=verify-ca&sslrootcert=/no/such/ca.pem")
            .err()
            .expect("a missing CA file");
        assert_eq!(
            error.to_string(),
            "sslrootcert `/no/such/ca.pem` does not exist"
        );
    }

    #[test]
    fn a_client_key_that_others_may_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("client.key");
        std::fs::write(&key, "not read").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let url = format!(
            "postgres://localhost/db?sslcert=/tmp/c.pem&sslkey={}",
            key.display()
        );
        assert!(
            matches!(tls(&url), Err(TlsError::KeyReadable { mode: 0o644, .. })),
            "{:?}",
            tls(&url).err()
        );
    }
}
