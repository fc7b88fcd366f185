//! The PEM files of `http.tls` — a CA to trust, a client certificate and its
//! key — read and checked in one place: `validate` checks the files a runbook
//! names literally, and a run reads them (templated paths included) before its
//! request is sent. Both say what is wrong the same way.
//!
//! The key file is a secret. No message here holds a byte of any file: the PEM
//! parser's own errors quote the line they stumbled on, so they are never
//! passed on; every error is worded from what was found, not from what it said.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::document::source::MAX_FILE_BYTES;
use rustls::crypto::ring;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Which file of `tls:` a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Ca,
    Cert,
    Key,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Ca => "tls.ca",
            Role::Cert => "tls.cert",
            Role::Key => "tls.key",
        })
    }
}

/// Why a TLS file cannot be used. Each names the file and its role; none
/// quotes its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("{role} `{}` does not exist", path.display())]
    NotFound { role: Role, path: PathBuf },

    #[error("{role} `{}` cannot be read: {reason}", path.display())]
    Unreadable {
        role: Role,
        path: PathBuf,
        reason: String,
    },

    #[error("{role} `{}` is not a PEM file (no `-----BEGIN …-----` line)", path.display())]
    NotPem { role: Role, path: PathBuf },

    #[error("{role} `{}` is a PEM file with a damaged section", path.display())]
    Damaged { role: Role, path: PathBuf },

    #[error("{role} `{}` holds no certificate", path.display())]
    NoCertificate { role: Role, path: PathBuf },

    #[error("tls.key `{}` holds no private key", path.display())]
    NoKey { path: PathBuf },

    #[error("tls.key `{}` is not a key runbook can use", path.display())]
    UnusableKey { path: PathBuf },

    #[error("tls.key `{}` does not match the certificate in tls.cert `{}`", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
}

impl PemError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            PemError::NotFound { .. } => {
                "check the path; a relative path is relative to the directory runbook runs in"
            }
            PemError::Unreadable { .. } => "name a regular PEM file you may read",
            PemError::NotPem { .. } | PemError::Damaged { .. } => {
                "give a PEM file (`openssl x509 -in FILE -inform der -out FILE.pem` converts a DER certificate)"
            }
            PemError::NoCertificate { .. } => {
                "the file must hold a `-----BEGIN CERTIFICATE-----` section"
            }
            PemError::NoKey { .. } | PemError::UnusableKey { .. } => {
                "the file must hold a PKCS#8, RSA or EC private key (`-----BEGIN PRIVATE KEY-----`)"
            }
            PemError::KeyMismatch { .. } => {
                "give the key the client certificate was issued for (compare `openssl x509 -pubkey` with `openssl pkey -pubout`)"
            }
        }
    }

    /// Which file it is about (the key, for a key that does not match).
    pub fn role(&self) -> Role {
        match self {
            PemError::NotFound { role, .. }
            | PemError::Unreadable { role, .. }
            | PemError::NotPem { role, .. }
            | PemError::Damaged { role, .. }
            | PemError::NoCertificate { role, .. } => *role,
            PemError::NoKey { .. }
            | PemError::UnusableKey { .. }
            | PemError::KeyMismatch { .. } => Role::Key,
        }
    }

    /// Whether the file is simply not there (which `validate` only warns of:
    /// it may be created before the run, or be relative to another directory).
    pub fn is_missing(&self) -> bool {
        matches!(self, PemError::NotFound { .. })
    }
}

/// The certificates a CA file holds (a bundle may hold several).
pub fn ca(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let bytes = read(Role::Ca, path)?;
    certificates(Role::Ca, path, &bytes)
}

/// A client certificate (with any chain after it) and its key, checked to
/// belong together. `pem` keeps both files' text, as the HTTP client reads
/// an identity.
pub struct Identity {
    pub certificates: Vec<CertificateDer<'static>>,
    pub pem: Vec<u8>,
}

impl fmt::Debug for Identity {
    // The key's text must not reach a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.certificates.len())
            .finish_non_exhaustive()
    }
}

pub fn identity(cert_path: &Path, key_path: &Path) -> Result<Identity, PemError> {
    let cert_bytes = read(Role::Cert, cert_path)?;
    let certificates = certificates(Role::Cert, cert_path, &cert_bytes)?;
    let key_bytes = read(Role::Key, key_path)?;
    let key = private_key(key_path, &key_bytes)?;
    let unusable = || PemError::UnusableKey {
        path: key_path.to_owned(),
    };
    let signing = ring::default_provider()
        .key_provider
        .load_private_key(key)
        .map_err(|_| unusable())?;
    match CertifiedKey::new(certificates.clone(), signing).keys_match() {
        // `Unknown`: a key type whose public half rustls cannot derive; the
        // server will say whether it fits.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(PemError::KeyMismatch {
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            });
        }
    }
    let mut pem = cert_bytes;
    pem.push(b'\n');
    pem.extend_from_slice(&key_bytes);
    Ok(Identity { certificates, pem })
}

fn read(role: Role, path: &Path) -> Result<Vec<u8>, PemError> {
    use std::io::Read as _;
    let failed = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => PemError::NotFound {
            role,
            path: path.to_owned(),
        },
        _ => PemError::Unreadable {
            role,
            path: path.to_owned(),
            reason: error.to_string(),
        },
    };
    let unreadable = |reason: &str| PemError::Unreadable {
        role,
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    // Only a regular file of a bounded size is read: a device (`/dev/zero`) or
    // a pipe would block `validate` and the run, or fill the memory.
    let metadata = std::fs::metadata(path).map_err(failed)?;
    if metadata.is_dir() {
        return Err(unreadable("it is a directory"));
    }
    if !metadata.is_file() {
        return Err(unreadable("it is not a regular file"));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(failed)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(unreadable(&format!(
            "it is larger than {} MiB, which no PEM file of keys and certificates is",
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    Ok(bytes)
}

fn certificates(
    role: Role,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let mut found = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(bytes) {
        found.push(certificate.map_err(|_| damaged(role, path, bytes))?);
    }
    if found.is_empty() {
        return Err(if is_pem(bytes) {
            PemError::NoCertificate {
                role,
                path: path.to_owned(),
            }
        } else {
            PemError::NotPem {
                role,
                path: path.to_owned(),
            }
        });
    }
    Ok(found)
}

fn private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, PemError> {
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(key),
        Err(rustls_pki_types::pem::Error::NoItemsFound) if is_pem(bytes) => Err(PemError::NoKey {
            path: path.to_owned(),
        }),
        Err(_) => Err(damaged(Role::Key, path, bytes)),
    }
}

fn damaged(role: Role, path: &Path, bytes: &[u8]) -> PemError {
    let path = path.to_owned();
    if is_pem(bytes) {
        PemError::Damaged { role, path }
    } else {
        PemError::NotPem { role, path }
    }
}

/// Whether the text has a PEM section start at all.
fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|window| window == b"-----BEGIN ")
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair};

    use super::*;

    /// A certificate (PEM) and its key (PEM).
    fn pair(name: &str) -> (String, String) {
        let key = KeyPair::generate().expect("a key");
        let params = CertificateParams::new(vec![name.to_owned()]).expect("params");
        let certificate = params.self_signed(&key).expect("a certificate");
        (certificate.pem(), key.serialize_pem())
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write a test file");
        path
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate_in_pem() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (cert, key) = pair("ca.test");
        let good = write(dir.path(), "ca.pem", &format!("{cert}{cert}"));
        assert_eq!(ca(&good).expect("a bundle of two").len(), 2);

        let text = write(dir.path(), "text.pem", "hello, not a certificate");
        assert!(matches!(ca(&text), Err(PemError::NotPem { .. })));
        let only_key = write(dir.path(), "key.pem", &key);
        let error = ca(&only_key).expect_err("no certificate in a key file");
        assert_eq!(
            error.to_string(),
            format!("tls.ca `{}` holds no certificate", only_key.display())
        );
        let missing = ca(&dir.path().join("nope.pem")).expect_err("not there");
        assert!(missing.is_missing(), "{missing}");
        let directory = ca(dir.path()).expect_err("a directory");
        assert!(
            directory.to_string().contains("it is a directory"),
            "{directory}"
        );
    }

    #[test]
    fn a_client_key_must_be_the_certificates_and_is_never_quoted() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (cert, key) = pair("me.test");
        let (_, other_key) = pair("other.test");
        let cert_path = write(dir.path(), "me.pem", &cert);
        let key_path = write(dir.path(), "me-key.pem", &key);
        let other_path = write(dir.path(), "other-key.pem", &other_key);

        let identity = identity(&cert_path, &key_path).expect("a matching pair");
        assert_eq!(identity.certificates.len(), 1);
        assert!(!format!("{identity:?}").contains("PRIVATE"), "{identity:?}");

        let mismatch = super::identity(&cert_path, &other_path).expect_err("another key");
        assert!(
            matches!(mismatch, PemError::KeyMismatch { .. }),
            "{mismatch:?}"
        );
        assert_eq!(mismatch.role(), Role::Key);
        let no_key = super::identity(&cert_path, &cert_path).expect_err("a certificate as the key");
        assert!(matches!(no_key, PemError::NoKey { .. }), "{no_key:?}");

        let damaged_text =
            "-----BEGIN PRIVATE KEY-----\nTOPSECRET!!not*base64\n-----END PRIVATE KEY-----\n";
        let damaged = write(dir.path(), "damaged.pem", damaged_text);
        let error = super::identity(&cert_path, &damaged).expect_err("damaged");
        let message = format!("{error} {error:?} {}", error.help());
        assert!(!message.contains("TOPSECRET"), "{message}");
        assert!(message.contains("damaged.pem"), "{message}");
    }
}
