//! A real HTTPS server on loopback for the TLS tests: a private CA made with
//! rcgen, certificates it signs (names, validity and serial chosen by the
//! test), served by rustls by SNI name, optionally requiring a client
//! certificate. Each answer says what the server saw: the `Host` header, the
//! SNI name and whether a client certificate came; it counts connections, so
//! a test can tell one client from many.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair,
    SerialNumber,
};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A private CA.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as the server uses them and as files hold them.
pub struct Leaf {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub key_pem: String,
    key_der: Vec<u8>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        let key = KeyPair::generate().expect("a CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a CA certificate"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `names` (the first is its CN), valid from
    /// `from_days` days from now to `to_days` days and 12 hours from now (so
    /// exactly `to_days` whole days are left), with `serial`.
    pub fn leaf(&self, names: &[&str], from_days: i64, to_days: i64, serial: &[u8]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names[0].as_str());
        dn.push(DnType::OrganizationName, "Runbook Tests");
        params.distinguished_name = dn;
        let now = OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(from_days);
        params.not_after = now + time::Duration::days(to_days) + time::Duration::hours(12);
        params.serial_number = Some(SerialNumber::from_slice(serial));
        let key = KeyPair::generate().expect("a leaf key");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("a leaf certificate");
        Leaf {
            der: certificate.der().clone(),
            pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }

    fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }
}

impl Leaf {
    fn certified(&self) -> Arc<CertifiedKey> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let signing = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(key)
            .expect("rustls loads the key");
        Arc::new(CertifiedKey::new(vec![self.der.clone()], signing))
    }
}

/// Serves by SNI name; a hello without one (or with another) gets the first.
#[derive(Debug)]
struct BySni(Vec<(String, Arc<CertifiedKey>)>);

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = hello.server_name();
        self.0
            .iter()
            .find(|(host, _)| Some(host.as_str()) == name)
            .or_else(|| self.0.first())
            .map(|(_, key)| Arc::clone(key))
    }
}

pub struct TlsServer {
    pub address: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl TlsServer {
    /// Serves each `(name, certificate)`; with `clients`, only a client
    /// certificate that CA signed is let in.
    pub fn start(vhosts: &[(&str, &Leaf)], clients: Option<&Ca>) -> TlsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match clients {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.der()).expect("the client CA is usable");
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .build()
                        .expect("a client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let resolver = BySni(
            vhosts
                .iter()
                .map(|(name, leaf)| ((*name).to_owned(), leaf.certified()))
                .collect(),
        );
        let mut config = builder.with_cert_resolver(Arc::new(resolver));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the TLS server");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind a loopback port");
                address_tx
                    .send(listener.local_addr().expect("an address"))
                    .expect("the test waits for the address");
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        return;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        // A refused handshake is what some tests want.
                        if let Ok(stream) = acceptor.accept(socket).await {
                            answer(stream).await;
                        }
                    });
                }
            });
        });
        let address = address_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the TLS server started");
        TlsServer {
            address,
            connections,
        }
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// How many TCP connections came so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Answers every request on one connection (keep-alive) with what it saw.
async fn answer(mut stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>) {
    let (_, session) = stream.get_ref();
    let sni = session.server_name().map(str::to_owned);
    let client = session.peer_certificates().is_some_and(|c| !c.is_empty());
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
        buffer.drain(..end + 4);
        let host = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("host")
                    .then(|| value.trim().to_owned())
            })
            .unwrap_or_default();
        let body = serde_json::json!({ "host": host, "sni": sni, "client": client }).to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
