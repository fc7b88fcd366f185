//! The PEM files of `http.tls` — a CA to trust, a client certificate and its
//! key — read and checked in one place: `validate` checks the files a runbook
//! names literally, and a run reads them (templated paths included) before its
//! request is sent. Both say what is wrong the same way. The team state
//! database's URL names the same three files (`sslrootcert`, `sslcert`,
//! `sslkey`), read here too.
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

/// Where the files were named, so that a message calls a file what the
/// operator called it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    /// A runbook's `http.tls`.
    HttpTls,
    /// The team state database's URL, in libpq's words.
    StateUrl,
}

/// A file in its role, as named where it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct File {
    pub role: Role,
    pub naming: Naming,
}

impl fmt::Display for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.naming, self.role) {
            (Naming::HttpTls, Role::Ca) => "tls.ca",
            (Naming::HttpTls, Role::Cert) => "tls.cert",
            (Naming::HttpTls, Role::Key) => "tls.key",
            (Naming::StateUrl, Role::Ca) => "sslrootcert",
            (Naming::StateUrl, Role::Cert) => "sslcert",
            (Naming::StateUrl, Role::Key) => "sslkey",
        })
    }
}

/// Why a TLS file cannot be used. Each names the file and its role; none
/// quotes its content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    #[error("{file} `{}` does not exist", path.display())]
    NotFound { file: File, path: PathBuf },

    #[error("{file} `{}` cannot be read: {reason}", path.display())]
    Unreadable {
        file: File,
        path: PathBuf,
        reason: String,
    },

    #[error("{file} `{}` is not a PEM file (no `-----BEGIN …-----` line)", path.display())]
    NotPem { file: File, path: PathBuf },

    #[error("{file} `{}` is a PEM file with a damaged section", path.display())]
    Damaged { file: File, path: PathBuf },

    #[error("{file} `{}` holds no certificate", path.display())]
    NoCertificate { file: File, path: PathBuf },

    #[error("{} `{}` holds no private key", File { role: Role::Key, naming: *naming }, path.display())]
    NoKey { naming: Naming, path: PathBuf },

    #[error("{} `{}` is not a key runbook can use", File { role: Role::Key, naming: *naming }, path.display())]
    UnusableKey { naming: Naming, path: PathBuf },

    #[error(
        "{} `{}` does not match the certificate in {} `{}`",
        File { role: Role::Key, naming: *naming }, key.display(),
        File { role: Role::Cert, naming: *naming }, cert.display()
    )]
    KeyMismatch {
        naming: Naming,
        cert: PathBuf,
        key: PathBuf,
    },
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
            PemError::NotFound { file, .. }
            | PemError::Unreadable { file, .. }
            | PemError::NotPem { file, .. }
            | PemError::Damaged { file, .. }
            | PemError::NoCertificate { file, .. } => file.role,
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
pub fn ca(naming: Naming, path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let file = File {
        role: Role::Ca,
        naming,
    };
    let bytes = read(file, path)?;
    certificates(file, path, &bytes)
}

/// A client certificate (with any chain after it) and its key, checked to
/// belong together. `pem` keeps both files' text, as the HTTP client reads
/// an identity; `key` is the key, as rustls takes one.
pub struct Identity {
    pub certificates: Vec<CertificateDer<'static>>,
    pub pem: Vec<u8>,
    pub key: PrivateKeyDer<'static>,
}

impl fmt::Debug for Identity {
    // The key's text must not reach a debug print.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("certificates", &self.certificates.len())
            .finish_non_exhaustive()
    }
}

pub fn identity(naming: Naming, cert_path: &Path, key_path: &Path) -> Result<Identity, PemError> {
    let cert_file = File {
        role: Role::Cert,
        naming,
    };
    let cert_bytes = read(cert_file, cert_path)?;
    let certificates = certificates(cert_file, cert_path, &cert_bytes)?;
    let key_bytes = read(
        File {
            role: Role::Key,
            naming,
        },
        key_path,
    )?;
    let key = private_key(naming, key_path, &key_bytes)?;
    let unusable = || PemError::UnusableKey {
        naming,
        path: key_path.to_owned(),
    };
    let signing = ring::default_provider()
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|_| unusable())?;
    match CertifiedKey::new(certificates.clone(), signing).keys_match() {
        // `Unknown`: a key type whose public half rustls cannot derive; the
        // server will say whether it fits.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(PemError::KeyMismatch {
                naming,
                cert: cert_path.to_owned(),
                key: key_path.to_owned(),
            });
        }
    }
    let mut pem = cert_bytes;
    pem.push(b'\n');
    pem.extend_from_slice(&key_bytes);
    Ok(Identity {
        certificates,
        pem,
        key,
    })
}

fn read(file: File, path: &Path) -> Result<Vec<u8>, PemError> {
    use std::io::Read as _;
    let failed = |error: std::io::Error| match error.kind() {
        std::io::ErrorKind::NotFound => PemError::NotFound {
            file,
            path: path.to_owned(),
        },
        _ => PemError::Unreadable {
            file,
            path: path.to_owned(),
            reason: error.to_string(),
        },
    };
    let unreadable = |reason: &str| PemError::Unreadable {
        file,
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
        .and_then(|opened| opened.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes))
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
    file: File,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let mut found = Vec::new();
    for certificate in CertificateDer::pem_slice_iter(bytes) {
        found.push(certificate.map_err(|_| damaged(file, path, bytes))?);
    }
    if found.is_empty() {
        return Err(if is_pem(bytes) {
            PemError::NoCertificate {
                file,
                path: path.to_owned(),
            }
        } else {
            PemError::NotPem {
                file,
                path: path.to_owned(),
            }
        });
    }
    Ok(found)
}

fn private_key(
    naming: Naming,
    path: &Path,
    bytes: &[u8],
) -> Result<PrivateKeyDer<'static>, PemError> {
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(key),
        Err(rustls_pki_types::pem::Error::NoItemsFound) if is_pem(bytes) => Err(PemError::NoKey {
            naming,
            path: path.to_owned(),
        }),
        Err(_) => Err(damaged(
            File {
                role: Role::Key,
                naming,
            },
            path,
            bytes,
        )),
    }
}

fn damaged(file: File, path: &Path, bytes: &[u8]) -> PemError {
    let path = path.to_owned();
    if is_pem(bytes) {
        PemError::Damaged { file, path }
    } else {
        PemError::NotPem { file, path }
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
        assert_eq!(
            ca(Naming::HttpTls, &good).expect("a bundle of two").len(),
            2
        );

        let text = write(dir.path(), "text.pem", "hello, not a certificate");
        assert!(matches!(
            ca(Naming::HttpTls, &text),
            Err(PemError::NotPem { .. })
        ));
        let only_key = write(dir.path(), "key.pem", &key);
        let error = ca(Naming::HttpTls, &only_key).expect_err("no certificate in a key file");
        assert_eq!(
            error.to_string(),
            format!("tls.ca `{}` holds no certificate", only_key.display())
        );
        let missing = ca(Naming::HttpTls, &dir.path().join("nope.pem")).expect_err("not there");
        assert!(missing.is_missing(), "{missing}");
        let directory = ca(Naming::HttpTls, dir.path()).expect_err("a directory");
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

        let identity = identity(Naming::HttpTls, &cert_path, &key_path).expect("a matching pair");
        assert_eq!(identity.certificates.len(), 1);
        assert!(!format!("{identity:?}").contains("PRIVATE"), "{identity:?}");

        let mismatch =
            super::identity(Naming::HttpTls, &cert_path, &other_path).expect_err("another key");
        assert!(
            matches!(mismatch, PemError::KeyMismatch { .. }),
            "{mismatch:?}"
        );
        assert_eq!(mismatch.role(), Role::Key);
        let no_key = super::identity(Naming::HttpTls, &cert_path, &cert_path)
            .expect_err("a certificate as the key");
        assert!(matches!(no_key, PemError::NoKey { .. }), "{no_key:?}");

        let damaged_text =
            "-----BEGIN PRIVATE KEY-----\nTOPSECRET!!not*base64\n-----END PRIVATE KEY-----\n";
        let damaged = write(dir.path(), "damaged.pem", damaged_text);
        let error = super::identity(Naming::HttpTls, &cert_path, &damaged).expect_err("damaged");
        let message = format!("{error} {error:?} {}", error.help());
        assert!(!message.contains("TOPSECRET"), "{message}");
        assert!(message.contains("damaged.pem"), "{message}");
    }
}
