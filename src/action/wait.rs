//! `wait_for`: polls a request or a command until its expectation holds or the
//! timeout passes. The one poll loop, used by `run` and by `plan --probe`; each
//! attempt is judged by the same checks as a step's `expect`.

use std::time::{Duration, Instant};

use super::command::{self, CommandSpec};
use super::expect::{self, Expectation};
use super::http::{self, Request};
use super::tls::ConnectionError;

/// What a `wait_for` sends each time it polls.
#[derive(Debug, Clone)]
pub enum Poll {
    Request(Request),
    Command(CommandSpec),
}

/// A `wait_for` ready to poll: what it sends, what must hold, how often, how long.
#[derive(Debug, Clone)]
pub struct Wait {
    pub poll: Poll,
    pub expectation: Expectation,
    pub interval: Duration,
    pub timeout: Duration,
}

/// How a poll ended.
#[derive(Debug, Clone)]
pub struct Polled {
    pub ready: bool,
    pub attempts: u32,
    /// Why the last attempt was not ready (when it was not).
    pub last_failure: Option<String>,
    /// The status of the last response, when it polls over HTTP.
    pub status: Option<u16>,
}

impl Wait {
    /// `wait for GET …` / `wait for $ …`, as the plan shows the target.
    pub fn target(&self) -> String {
        match &self.poll {
            Poll::Request(request) => format!("wait for {}", request.target()),
            Poll::Command(command) => format!("wait for {}", command.target()),
        }
    }

    /// The client the poll sends with: the run's `shared` one, or the
    /// request's own when it has `tls` or `resolve` (built once, for every
    /// attempt).
    pub fn client(&self, shared: &reqwest::Client) -> Result<reqwest::Client, ConnectionError> {
        match &self.poll {
            Poll::Request(request) => request.connection.client_or(shared),
            Poll::Command(_) => Ok(shared.clone()),
        }
    }

    /// `until …, every …, up to …`: a `then_wait`, shown in one line after
    /// its step's own checks.
    pub fn until(&self) -> String {
        format!(
            "until {}, {}",
            self.expectation.lines().join(", "),
            self.pace()
        )
    }

    /// `every …, up to …`: a `wait_for` step's checks are its own (the
    /// plan's `expect`), so this is what its details add.
    pub fn pace(&self) -> String {
        format!(
            "every {}, up to {}",
            humantime::format_duration(self.interval),
            humantime::format_duration(self.timeout)
        )
    }

    /// Polls until ready or out of time; `on_attempt` hears of every attempt
    /// that was not ready (its number and why), to show progress.
    pub async fn poll(
        &self,
        client: &reqwest::Client,
        mut on_attempt: impl FnMut(u32, &str),
    ) -> Polled {
        let started = Instant::now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            // No attempt may outlast the wait itself.
            let left = self
                .timeout
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(100));
            let (failure, status) = self.attempt(client, left).await;
            let Some(failure) = failure else {
                return Polled {
                    ready: true,
                    attempts,
                    last_failure: None,
                    status,
                };
            };
            if started.elapsed() + self.interval > self.timeout {
                return Polled {
                    ready: false,
                    attempts,
                    last_failure: Some(failure),
                    status,
                };
            }
            on_attempt(attempts, &failure);
            tokio::time::sleep(self.interval).await;
        }
    }

    /// One attempt: `None` when the expectation holds, else why not; and the
    /// response's status over HTTP.
    async fn attempt(
        &self,
        client: &reqwest::Client,
        left: Duration,
    ) -> (Option<String>, Option<u16>) {
        let mismatches = match &self.poll {
            Poll::Request(request) => {
                let mut request = request.clone();
                request.timeout = request.timeout.min(left);
                match http::send(client, &request).await {
                    Ok(response) => {
                        let mismatches = expect::check(&self.expectation, &response);
                        let failure =
                            (!mismatches.is_empty()).then(|| expect::describe(&mismatches));
                        return (failure, Some(response.status));
                    }
                    Err(error) => return (Some(error.to_string()), None),
                }
            }
            Poll::Command(spec) => {
                let mut spec = spec.clone();
                spec.timeout = Some(spec.timeout.map_or(left, |t| t.min(left)));
                match command::run(&spec).await {
                    Ok(output) if output.timed_out => {
                        return (Some("timed out; the command was stopped".to_owned()), None);
                    }
                    Ok(output) => expect::check_command(&self.expectation, &output),
                    Err(error) => return (Some(error.to_string()), None),
                }
            }
        };
        (
            (!mismatches.is_empty()).then(|| expect::describe(&mismatches)),
            None,
        )
    }
}
