//! Restarting the simulated platform from a shell command, the way a runbook's
//! `restart_command` restarts a real one (`docker restart ops-center`).
//!
//! [`post_restart`] is a hand-written HTTP/1.1 POST over a std `TcpStream`: it
//! is called from a plain process (`runbook sandbox-restart URL`) and may be
//! called from inside a tokio runtime, where starting another runtime would panic.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use super::SandboxError;
use super::platform::RESTART_PATH;

/// How long connecting, sending and reading the answer may each take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A shell command that restarts the platform at `platform_url` with this very
/// executable (`runbook sandbox-restart URL`), for a runbook's `restart_command`.
/// Meant to be called from the `runbook` binary itself (the demo, `runbook
/// sandbox`); elsewhere the current executable is not `runbook`.
pub fn restart_command(platform_url: &str) -> String {
    let exe = std::env::current_exe().map_or_else(
        |_| "runbook".to_owned(),
        |path| path.to_string_lossy().into_owned(),
    );
    format!(
        "{} sandbox-restart {}",
        shell_quote(&exe),
        shell_quote(&restart_url(platform_url))
    )
}

/// The restart URL of the platform at `platform_url`.
pub fn restart_url(platform_url: &str) -> String {
    format!("{}{RESTART_PATH}", platform_url.trim_end_matches('/'))
}

/// Single-quotes `text` for `sh`.
pub(super) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// POSTs to the platform's restart URL and waits for its `200`. `url` is either
/// the restart URL itself or the platform's base URL (`http://127.0.0.1:PORT`),
/// to which the restart path is added. Plain `http` only: the sandbox is loopback.
pub fn post_restart(url: &str) -> Result<(), SandboxError> {
    let failed = |detail: String| SandboxError::Restart {
        url: url.to_owned(),
        detail,
    };
    let parsed = reqwest::Url::parse(url).map_err(|error| failed(format!("not a URL: {error}")))?;
    if parsed.scheme() != "http" {
        return Err(failed("only http:// URLs are supported".to_owned()));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| failed("the URL has no host".to_owned()))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let path = match parsed.path() {
        "" | "/" => RESTART_PATH,
        path => path,
    };
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|error| failed(format!("cannot resolve {host}: {error}")))?
        .next()
        .ok_or_else(|| failed(format!("{host} resolves to no address")))?;
    let mut stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)
        .map_err(|error| failed(format!("cannot connect: {error}")))?;
    let io = |error: std::io::Error| failed(error.to_string());
    stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(io)?;
    let answer = String::from_utf8_lossy(&answer);
    let status_line = answer.lines().next().unwrap_or_default();
    let status = status_line.split(' ').nth(1).unwrap_or_default();
    if status == "200" {
        Ok(())
    } else {
        Err(failed(format!("the platform answered `{status_line}`")))
    }
}
