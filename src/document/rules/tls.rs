//! The TLS part of the rules: the files `http.tls` names literally are read and
//! checked as the run will read them ([`crate::pem`]): not a PEM file, no
//! certificate, a key that does not match its certificate (RB075); a file not
//! there is only warned of (RB076: it may be made before the run, or the run
//! may start in another directory). `resolve` takes IP addresses of hosts the
//! URL names (RB078). TLS settings and checks where no TLS can happen — an
//! `http://` URL, or per item of a fan-out, which shares one client — are
//! refused (RB079).

use std::path::Path;

use super::{Rules, http_requests, literal_url};
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{HttpRequest, Probe, Step, Template, TlsFiles, resolve_address};
use crate::document::node::Span;
use crate::pem::{self, PemError};
use crate::template;

impl Rules<'_, '_> {
    pub(super) fn tls(&mut self, step: &Step) {
        for request in http_requests(step) {
            if let Some(files) = &request.tls {
                self.tls_files(files);
                self.tls_over_plain_http(request, files.span, "`tls`");
            }
            self.resolve(request);
            if step.for_each.is_some() {
                self.per_item(request);
            }
        }
        // `expect.tls` on the step's own request, and on each poll's.
        let own = match &step.action {
            crate::document::model::Action::Http(request) => Some((request, step.expect.as_ref())),
            _ => None,
        };
        let polls = step.waits().filter_map(|wait| match &wait.probe {
            Probe::Http(request) => Some((&**request, wait.expect.as_ref())),
            Probe::Command(_) => None,
        });
        for (request, expect) in own.into_iter().chain(polls) {
            if let Some((field, _)) = expect.and_then(|e| e.tls.first()) {
                self.tls_over_plain_http(request, field.span, "`expect.tls`");
            }
        }
    }

    /// TLS on an `http://` URL: there is no handshake to use it in.
    fn tls_over_plain_http(&mut self, request: &HttpRequest, span: Span, what: &str) {
        if let Some((false, _)) = literal_url(&request.url.source) {
            self.report(
                Diagnostic::new(
                    Code::TlsMisplaced,
                    span,
                    format!("{what} on an http:// URL: nothing is encrypted, so no certificate is sent or checked"),
                )
                .help("use an https:// URL, or remove it"),
            );
        }
    }

    /// `resolve: {host: address}`: an IP address, for a host the URL names.
    fn resolve(&mut self, request: &HttpRequest) {
        let url_host = literal_url(&request.url.source).map(|(_, host)| host.to_ascii_lowercase());
        for (host, address) in &request.resolve {
            if address.is_literal() && resolve_address(&address.source).is_none() {
                let has_port = address.source.rsplit_once(':').is_some_and(|(ip, port)| {
                    resolve_address(ip).is_some() && port.parse::<u16>().is_ok()
                });
                let help = if has_port {
                    "give the address without a port: the port is the URL's"
                } else {
                    "give an IPv4 or IPv6 address, e.g. `127.0.0.1` (a host name would need resolving itself)"
                };
                self.report(
                    Diagnostic::new(
                        Code::BadResolve,
                        address.span,
                        format!(
                            "resolve `{}`: `{}` is not an IP address",
                            host.source, address.source
                        ),
                    )
                    .help(help),
                );
            }
            // A templated host is compared when the step runs, rendered
            // (`action::tls::Connection::builder`).
            if let Some(url_host) = &url_host
                && host.is_literal()
                && !host.source.eq_ignore_ascii_case(url_host)
            {
                self.report(
                    Diagnostic::new(
                        Code::BadResolve,
                        host.span,
                        format!("resolve names `{}`, but the URL's host is `{url_host}`: it is never used", host.source),
                    )
                    .help(format!("name the URL's host: `resolve: {{{url_host}: …}}`")),
                );
            }
        }
    }

    /// A fan-out sends every item with one client, so what the client is
    /// built from cannot vary by item.
    fn per_item(&mut self, request: &HttpRequest) {
        let templates = request
            .tls
            .iter()
            .flat_map(|files| files.paths())
            .map(|(_, t)| t)
            .chain(
                request
                    .resolve
                    .iter()
                    .flat_map(|(host, address)| [host, address]),
            );
        for t in templates {
            let reads_item = template::references(self.env, &t.source)
                .is_ok_and(|refs| refs.iter().any(|r| r == "item" || r.starts_with("item.")));
            if reads_item {
                self.report(
                    Diagnostic::new(
                        Code::TlsMisplaced,
                        t.span,
                        "`tls` and `resolve` cannot read `item`: every item of a fan-out is sent with one client",
                    )
                    .help("give the same files and addresses to every item, or make a step per target"),
                );
            }
        }
    }

    fn tls_files(&mut self, files: &TlsFiles) {
        fn literal(t: Option<&Template>) -> Option<&Template> {
            t.filter(|t| t.is_literal())
        }
        if let Some(ca) = literal(files.ca.as_ref())
            && let Err(error) = pem::ca(pem::Naming::HttpTls, Path::new(&ca.source))
        {
            self.pem_problem(&error, ca);
        }
        if let (Some(cert), Some(key)) = (literal(files.cert.as_ref()), literal(files.key.as_ref()))
            && let Err(error) = pem::identity(
                pem::Naming::HttpTls,
                Path::new(&cert.source),
                Path::new(&key.source),
            )
        {
            let at = match error.role() {
                pem::Role::Key => key,
                pem::Role::Cert | pem::Role::Ca => cert,
            };
            self.pem_problem(&error, at);
        }
    }

    fn pem_problem(&mut self, error: &PemError, at: &Template) {
        let code = if error.is_missing() {
            Code::MissingTlsFile
        } else {
            Code::BadTlsFile
        };
        self.report(Diagnostic::new(code, at.span, error.to_string()).help(error.help()));
    }
}
