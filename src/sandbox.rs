//! The sandbox (SPEC §6): a simulated Cloudflare API v4 and a simulated platform
//! service, real HTTP servers on 127.0.0.1, so that `runbook demo` and the tests
//! run the token rotation end to end without touching Cloudflare.
//!
//! [`Sandbox::start`] runs both servers on their own tokio runtime in a
//! background thread, so sync code (the demo) and async tests use it alike, and
//! dropping the [`Sandbox`] stops them. The engine knows nothing of any of this:
//! the sandbox is only ever something a runbook talks to over HTTP and a shell
//! command.

mod cloudflare;
mod log;
mod platform;
mod restart;
mod seed;
#[cfg(test)]
mod tests;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub use log::{LoggedRequest, Service};
pub use restart::{post_restart, restart_command};
pub use seed::SeededTokens;

use log::RequestLog;

/// How the sandbox behaves; [`Default`] is a well-behaved Cloudflare and platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// Added before every API answer, to make waits and spinners visible.
    pub latency: Duration,
    /// API requests each token may make before it gets `429`; `None` for no limit.
    pub request_budget: Option<u32>,
    /// The `Retry-After` of a `429`, in seconds; the budget is whole again after it.
    pub retry_after_secs: u64,
    /// How long a platform restart keeps `/health` at `503`.
    pub restart_delay: Duration,
    /// The "restart-keeps-old-token" scenario: a restart does not re-read the env
    /// file, as when the service reads another file than the one that changed.
    pub keep_old_token_on_restart: bool,
    /// The old token was made from the "Edit zone DNS" template, like most real ones:
    /// without User → API Tokens → Edit it may not delete tokens, itself included.
    pub old_token_may_not_revoke: bool,
    /// The seed's situation: the token in the env file was revoked before anyone
    /// rotated it, so Cloudflare answers 401 for it from the start.
    pub old_token_revoked: bool,
    /// The platform's env file. Created with the `old` token (mode 0600) when it
    /// does not exist; left alone when it does.
    pub env_file: PathBuf,
    /// The loopback ports to listen on; 0 for any free one.
    pub api_port: u16,
    pub platform_port: u16,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            latency: Duration::ZERO,
            request_budget: None,
            retry_after_secs: 1,
            restart_delay: Duration::from_millis(500),
            keep_old_token_on_restart: false,
            old_token_may_not_revoke: false,
            old_token_revoked: false,
            env_file: PathBuf::from(".env.auth"),
            api_port: 0,
            platform_port: 0,
        }
    }
}

/// Why the sandbox could not start or do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot create the platform's env file `{}`", path.display())]
    EnvFile {
        path: PathBuf,
        #[source]
        cause: io::Error,
    },

    #[error("cannot listen on 127.0.0.1:{port}")]
    Bind {
        port: u16,
        #[source]
        source: io::Error,
    },

    #[error("cannot start the sandbox's servers")]
    Runtime(#[source] io::Error),

    #[error("cannot build the platform's HTTP client")]
    Client(#[source] reqwest::Error),

    #[error("the sandbox's servers did not start within 10 seconds")]
    Startup,

    #[error("cannot restart the platform at {url}: {detail}")]
    Restart { url: String, detail: String },

    #[error("cannot wait for Ctrl-C")]
    Signal(#[source] io::Error),

    #[error("cannot write to the terminal")]
    Output(#[source] io::Error),
}

impl SandboxError {
    /// What the user can do about it.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            SandboxError::EnvFile { .. } => {
                Some("check that the env file's directory exists and is writable")
            }
            SandboxError::Bind { .. } => Some(
                "choose another port with --api-port or --platform-port (0 takes any free one), or stop what listens there",
            ),
            SandboxError::Restart { .. } => Some(
                "check that `runbook sandbox` (or the demo) is still running and that the URL is its platform's",
            ),
            _ => None,
        }
    }
}

/// The running sandbox; dropping it stops both servers.
#[derive(Debug)]
pub struct Sandbox {
    api: SocketAddr,
    platform: SocketAddr,
    env_file: PathBuf,
    log: RequestLog,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts the API and the platform on their loopback ports (ephemeral
    /// unless the config names them) and returns
    /// once both accept connections. The platform loads its token now.
    pub fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let SandboxConfig {
            latency,
            request_budget,
            retry_after_secs,
            restart_delay,
            keep_old_token_on_restart,
            old_token_may_not_revoke,
            old_token_revoked,
            env_file,
            api_port,
            platform_port,
        } = config;
        let env_file = std::path::absolute(&env_file).map_err(|cause| SandboxError::EnvFile {
            path: env_file.clone(),
            cause,
        })?;
        ensure_env_file(&env_file)?;
        let bind = |port: u16| -> Result<(std::net::TcpListener, SocketAddr), SandboxError> {
            let failed = |source| SandboxError::Bind { port, source };
            let listener = std::net::TcpListener::bind(("127.0.0.1", port)).map_err(failed)?;
            listener.set_nonblocking(true).map_err(failed)?;
            let address = listener.local_addr().map_err(failed)?;
            Ok((listener, address))
        };
        let (api_listener, api) = bind(api_port)?;
        let (platform_listener, platform) = bind(platform_port)?;

        let log = RequestLog::new();
        let api_router = cloudflare::router(
            cloudflare::ApiConfig {
                latency,
                request_budget,
                retry_after: Duration::from_secs(retry_after_secs),
                old_token_may_not_revoke,
                old_token_revoked,
            },
            log.clone(),
        );
        let platform_config = platform::PlatformConfig {
            env_file: env_file.clone(),
            api_url: format!("http://{api}{}", cloudflare::BASE_PATH),
            restart_delay,
            keep_old_token_on_restart,
        };
        let platform_log = log.clone();

        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), SandboxError>>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("runbook-sandbox".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(SandboxError::Runtime(error)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let serving = async {
                        let api_listener = tokio::net::TcpListener::from_std(api_listener)
                            .map_err(SandboxError::Runtime)?;
                        let platform_listener =
                            tokio::net::TcpListener::from_std(platform_listener)
                                .map_err(SandboxError::Runtime)?;
                        // Platform calls go to loopback only: never through a proxy.
                        let client = reqwest::Client::builder()
                            .no_proxy()
                            .timeout(Duration::from_secs(30))
                            .build()
                            .map_err(SandboxError::Client)?;
                        let platform_router =
                            platform::router(platform_config, client, platform_log);
                        Ok::<_, SandboxError>((
                            axum::serve(api_listener, api_router),
                            axum::serve(platform_listener, platform_router),
                        ))
                    };
                    let (api_server, platform_server) = match serving.await {
                        Ok(servers) => servers,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    // Stopping drops the runtime, which ends every connection at once;
                    // a graceful shutdown would wait for clients' idle keep-alives.
                    tokio::select! {
                        _ = api_server => {}
                        _ = platform_server => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(SandboxError::Runtime)?;

        let sandbox = Sandbox {
            api,
            platform,
            env_file,
            log,
            stop: Some(stop),
            thread: Some(thread),
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(sandbox),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(SandboxError::Startup),
        }
    }

    /// The API's base URL, like `https://api.cloudflare.com/client/v4`.
    pub fn api_url(&self) -> String {
        format!("http://{}{}", self.api, cloudflare::BASE_PATH)
    }

    /// The platform's base URL (serves `/health` and `/api/cloudflare/zones`).
    pub fn platform_url(&self) -> String {
        format!("http://{}", self.platform)
    }

    /// `POST` here restarts the platform.
    pub fn restart_url(&self) -> String {
        restart::restart_url(&self.platform_url())
    }

    /// Where the request log is served as JSON.
    pub fn requests_url(&self) -> String {
        format!("http://{}{}", self.api, cloudflare::REQUESTS_PATH)
    }

    /// The platform's env file (absolute).
    pub fn env_file(&self) -> &Path {
        &self.env_file
    }

    /// The seeded tokens' values. They are fake and work only here.
    pub fn tokens(&self) -> SeededTokens {
        seed::seeded(|token| token.value)
    }

    /// The seeded tokens' Cloudflare ids (32 hex digits), e.g. to find a `DELETE`
    /// of the old token in [`Sandbox::requests`].
    pub fn token_ids(&self) -> SeededTokens {
        seed::seeded(|token| token.id)
    }

    /// Every request either server answered so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.log.entries()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Writes the env file with the old token when it does not exist yet, mode 0600
/// because it holds a (fake) secret, with a few neighbouring keys that a rotation
/// must keep.
fn ensure_env_file(path: &Path) -> Result<(), SandboxError> {
    let contents = format!(
        "# The sandbox platform service reads {key} from this file when it (re)starts.\n\
         PLATFORM_NAME=ops-center\n\
         {key}={value}\n\
         CLOUDFLARE_EMAIL=ops@example.com\n",
        key = platform::TOKEN_KEY,
        value = seed::seeded(|token| token.value).old,
    );
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    let mut file = match created {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(cause) => {
            return Err(SandboxError::EnvFile {
                path: path.to_owned(),
                cause,
            });
        }
    };
    file.write_all(contents.as_bytes())
        .map_err(|cause| SandboxError::EnvFile {
            path: path.to_owned(),
            cause,
        })
}

/// `runbook sandbox`: starts the sandbox, prints how to use it and blocks until
/// Ctrl-C. Prints the seeded token values: they are fake and work only against
/// this sandbox.
pub fn serve_forever(config: SandboxConfig) -> Result<(), SandboxError> {
    let sandbox = Sandbox::start(config)?;
    say(&banner(&sandbox))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SandboxError::Signal)?;
    runtime
        .block_on(tokio::signal::ctrl_c())
        .map_err(SandboxError::Signal)?;
    drop(sandbox);
    say("sandbox stopped\n")
}

/// Writes to stdout; a closed pipe is not an error (ripgrep's rule).
fn say(text: &str) -> Result<(), SandboxError> {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => Err(SandboxError::Output(error)),
        _ => Ok(()),
    }
}

fn banner(sandbox: &Sandbox) -> String {
    let tokens = sandbox.tokens();
    let restart = restart_command(&sandbox.platform_url());
    let env_file = sandbox.env_file().display().to_string();
    format!(
        "runbook sandbox: a simulated Cloudflare API and platform service on 127.0.0.1\n\
         \n\
         \x20 Cloudflare API   {api}\n\
         \x20 platform         {platform}  (GET /health, GET /api/cloudflare/zones)\n\
         \x20 restart          POST {restart_url}\n\
         \x20 request log      {requests}\n\
         \x20 env file         {env_file}\n\
         \n\
         Seeded tokens (fake: they work only against this sandbox, so printing them is fine):\n\
         \x20 old       {old}  (in the env file; holds API Tokens: Edit, so it may delete itself)\n\
         \x20 new       {new}  (the \"Edit zone DNS\" template)\n\
         \x20 limited   {limited}  (Zone:Read only: DNS records answer 403)\n\
         \x20 disabled  {disabled}\n\
         \x20 expired   {expired}\n\
         \n\
         Rotate the token against it:\n\
         \n\
         \x20 RUNBOOK_INPUT_NEW_TOKEN={new_q} runbook run runbooks/cloudflare-token-rotation.yaml \\\n\
         \x20   --set api_base={api} --set platform={platform} \\\n\
         \x20   --set env_file={env_file_q} \\\n\
         \x20   --set restart_command={restart_q} \\\n\
         \x20   --set revoke_with=api\n\
         \n\
         Press Ctrl-C to stop.\n",
        api = sandbox.api_url(),
        platform = sandbox.platform_url(),
        restart_url = sandbox.restart_url(),
        requests = sandbox.requests_url(),
        old = tokens.old,
        new = tokens.new,
        limited = tokens.limited,
        disabled = tokens.disabled,
        expired = tokens.expired,
        new_q = restart::shell_quote(&tokens.new),
        env_file_q = restart::shell_quote(&env_file),
        restart_q = restart::shell_quote(&restart),
    )
}
