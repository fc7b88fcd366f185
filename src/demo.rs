//! `runbook demo`: the Cloudflare token rotation, end to end, on this machine.
//! The bundled runbook runs unmodified against the sandbox (a simulated
//! Cloudflare API and platform service on 127.0.0.1) in a temporary directory
//! with its own `.env.auth`, so a newcomer watches the gates work — and, with a
//! scenario, watches them hold when something goes wrong.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;

use crate::engine::{self, RunEnd, RunOptions};
use crate::operator::headless::Headless;
use crate::operator::terminal::Terminal;
use crate::operator::{Interrupted, ManualAnswer, Operator, Progress, Question};
use crate::output::Output;
use crate::sandbox::{
    LoggedRequest, Sandbox, SandboxConfig, SandboxError, Service, restart_command,
};
use crate::template::mask;

/// The flagship runbook, exactly as committed.
const ROTATION: &str = include_str!("../runbooks/cloudflare-token-rotation.yaml");
const ROTATION_FILE: &str = "cloudflare-token-rotation.yaml";
/// The step whose confirmation the demo asks for (or `--confirm` gives): the API
/// revoke, or the dashboard step when the old token no longer works.
fn revoke_step(scenario: Scenario) -> &'static str {
    match scenario {
        Scenario::OldTokenRejected => "revoke_old_token_in_dashboard",
        _ => "revoke_old_token",
    }
}

/// What can go wrong, on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Everything works: the old token ends revoked, the new one in use.
    Happy,
    /// The pasted token is not a valid token: the test fails with 401, nothing is saved.
    BadToken,
    /// The new token lacks DNS permission: 403 with the seed's explanation; rolled back.
    MissingPermission,
    /// The platform does not pick up the new token: verification fails, the revoke is
    /// blocked, the rollback restores the old token.
    RestartKeepsOldToken,
    /// The API rate-limits: 429s are waited out, the rotation still completes.
    RateLimited,
    /// The seed's situation: the token in use already answers 401. The rotation goes
    /// on and ends with the dashboard step (confirm `revoke_old_token_in_dashboard`).
    OldTokenRejected,
    /// The old token may not delete tokens (made from the "Edit zone DNS" template):
    /// the revoke gets 403 after the switch is proven; the new token stays.
    RevokeRefused,
}

/// The demo's own flags (a subset of `run`'s).
#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    pub non_interactive: bool,
    pub yes: bool,
    pub confirm: Vec<String>,
    /// Keep the temporary directory (and say where it is).
    pub keep: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("cannot prepare the demo directory: {0}")]
    Setup(#[from] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    #[error(transparent)]
    Output(#[from] crate::error::Error),
}

impl DemoError {
    /// The exit code of a demo this stops: its temporary directory is its state.
    pub fn exit_code(&self) -> i32 {
        match self {
            DemoError::Setup(_) => crate::error::EXIT_IO,
            DemoError::Sandbox(_) => crate::error::EXIT_USAGE,
            DemoError::Engine(error) => error.exit_code(),
            DemoError::Output(error) => error.exit_code(),
        }
    }
}

/// Runs the demo and returns the run's exit code.
pub fn run(scenario: Scenario, options: &DemoOptions) -> Result<i32, DemoError> {
    let dir = tempfile::Builder::new().prefix("runbook-demo-").tempdir()?;
    let env_file = dir.path().join(".env.auth");
    // The sandbox creates the env file with the old token (and other settings the
    // rotation must leave alone) before the platform first reads it.
    let sandbox = Sandbox::start(config(scenario, &env_file))?;
    let old = sandbox.tokens().old;

    let file = dir.path().join(ROTATION_FILE);
    std::fs::write(&file, ROTATION)?;
    let new_token = new_token(scenario, &sandbox);
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let interactive = tty && !options.non_interactive;

    let answers = dir.path().join("answers.yaml");
    let mut lines = vec![
        format!("api_base: {:?}", sandbox.api_url()),
        format!("platform: {:?}", sandbox.platform_url()),
        format!("env_file: {:?}", env_file.display().to_string()),
        format!(
            "restart_command: {:?}",
            restart_command(&sandbox.platform_url())
        ),
        // The sandbox's tokens may delete themselves, as a token with User → API
        // Tokens → Edit may; there is no dashboard to send the operator to.
        "revoke_with: api".to_owned(),
    ];
    if !interactive {
        // Without a person to paste it, the demo answers for them (a fake token).
        lines.push(format!("new_token: {new_token:?}"));
    }
    write_private(&answers, &(lines.join("\n") + "\n"))?;

    // A closed pipe (`runbook demo | head`) ends what is shown, not the demo.
    let mut out = Output::stdout();
    out.write(&intro(scenario, &sandbox, &new_token, interactive))?;
    let again = again(scenario, options, interactive);
    let run_options = RunOptions {
        answers_file: Some(answers),
        non_interactive: !interactive,
        yes: options.yes,
        confirm: options.confirm.iter().cloned().collect(),
        // The sandbox and the directory end with the demo: there is nothing to
        // resume, and the demo is started again, with what lets it through.
        continue_with: Some(again.clone()),
        ..RunOptions::default()
    };
    let operator: Box<dyn Operator> = if interactive {
        Box::new(DemoOperator {
            inner: Terminal::new(),
            new_token: new_token.clone(),
        })
    } else {
        Box::new(Headless::new())
    };
    let end = engine::run(&file, run_options, operator, false)?;
    out.write(&outro(
        &sandbox,
        &end,
        &env_file,
        (&old, &new_token),
        &again,
    ))?;
    if options.keep {
        let kept = dir.keep();
        out.line(&format!("The demo directory is kept at {}", kept.display()))?;
    } else if matches!(end, RunEnd::Interrupted(_)) {
        out.line("The demo directory goes away with the sandbox (`--keep` keeps it).")?;
    }
    Ok(end.exit_code())
}

/// The demo command that gets past whatever stopped this one: at a terminal the
/// same command (the person answers); without one, `--yes` for the manual steps
/// and `--confirm` for the revoke, the flags already given kept.
fn again(scenario: Scenario, options: &DemoOptions, interactive: bool) -> String {
    let mut command = "runbook demo".to_owned();
    if scenario != Scenario::Happy {
        command.push_str(&format!(" --scenario {}", scenario_name(scenario)));
    }
    if options.non_interactive {
        command.push_str(" --non-interactive");
    }
    if !interactive {
        command.push_str(" --yes");
    }
    let revoke = revoke_step(scenario).to_owned();
    let mut confirm: Vec<String> = options.confirm.clone();
    if !interactive && !confirm.contains(&revoke) {
        confirm.push(revoke);
    }
    for id in confirm {
        command.push_str(&format!(" --confirm {id}"));
    }
    if options.keep {
        command.push_str(" --keep");
    }
    command
}

fn config(scenario: Scenario, env_file: &Path) -> SandboxConfig {
    let mut config = SandboxConfig {
        env_file: env_file.to_path_buf(),
        // A little latency makes the waits and the progress display visible.
        latency: std::time::Duration::from_millis(60),
        restart_delay: std::time::Duration::from_millis(1500),
        ..SandboxConfig::default()
    };
    match scenario {
        Scenario::RestartKeepsOldToken => config.keep_old_token_on_restart = true,
        Scenario::RateLimited => {
            config.request_budget = Some(2);
            config.retry_after_secs = 1;
        }
        Scenario::OldTokenRejected => config.old_token_revoked = true,
        Scenario::RevokeRefused => config.old_token_may_not_revoke = true,
        Scenario::Happy | Scenario::BadToken | Scenario::MissingPermission => {}
    }
    config
}

/// The token the operator "created in the dashboard" for this scenario.
fn new_token(scenario: Scenario, sandbox: &Sandbox) -> String {
    match scenario {
        Scenario::BadToken => "cfut_ThisTokenWasNeverIssuedByCloudflare0000".to_owned(),
        Scenario::MissingPermission => sandbox.tokens().limited,
        _ => sandbox.tokens().new,
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

/// What the demo says before the run: where the sandbox is, and what to paste.
fn intro(scenario: Scenario, sandbox: &Sandbox, new_token: &str, interactive: bool) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "runbook demo — scenario: {}", scenario_name(scenario));
    let _ = writeln!(text, "  simulated Cloudflare API  {}", sandbox.api_url());
    let _ = writeln!(
        text,
        "  simulated platform        {}",
        sandbox.platform_url()
    );
    let _ = writeln!(
        text,
        "  platform env file         {}",
        sandbox.env_file().display()
    );
    if interactive {
        // The sandbox's tokens are fake; showing the whole one is what lets the
        // newcomer paste it, as they would from the Cloudflare dashboard.
        text.push('\n');
        let _ = writeln!(
            text,
            "In the dashboard step, pretend you created this token (it is fake):"
        );
        let _ = writeln!(text, "    {new_token}");
        let _ = writeln!(text, "Paste it when asked, or just press Enter to take it.");
    }
    text.push('\n');
    text
}

/// What the demo says after the run: what the sandbox saw, where the tokens
/// stand, and — when the run stopped — the one command that gets past it.
fn outro(
    sandbox: &Sandbox,
    end: &RunEnd,
    env_file: &Path,
    (old, new): (&str, &str),
    again: &str,
) -> String {
    let mut text = String::new();
    text.push('\n');
    let _ = writeln!(
        text,
        "What the sandbox saw (token shown by its last 4 characters):"
    );
    for request in sandbox.requests() {
        let _ = writeln!(text, "  {}", describe(&request));
    }
    let file = std::fs::read_to_string(env_file).unwrap_or_default();
    let holds = if file.contains(new) {
        format!("the new token ({})", mask(new))
    } else if file.contains(old) {
        format!("the old token ({})", mask(old))
    } else {
        "neither token".to_owned()
    };
    text.push('\n');
    let _ = writeln!(text, "The env file now holds {holds}.");
    // What Cloudflare last said of the old token: 401 once it is gone.
    let old_last4 = crate::template::last4(old);
    let dead = sandbox
        .requests()
        .iter()
        .rev()
        .find(|r| r.service == Service::Api && r.token_last4.as_deref() == Some(old_last4.as_str()))
        .is_some_and(|r| r.status == 401);
    let _ = writeln!(
        text,
        "The old token is {}.",
        if dead {
            "dead: Cloudflare rejects it"
        } else {
            "NOT revoked: Cloudflare still accepts it"
        }
    );
    // The run's last lines said how to carry on, now above the sandbox's log:
    // said again here, last, where a newcomer looks.
    if let RunEnd::Blocked | RunEnd::Interrupted(_) = end {
        let _ = writeln!(
            text,
            "The run stopped before its end. Start again with `{again}`"
        );
    }
    text
}

fn describe(request: &LoggedRequest) -> String {
    let service = match request.service {
        Service::Platform => "platform",
        Service::Api => "api     ",
    };
    let token = request
        .token_last4
        .as_ref()
        .map_or_else(String::new, |t| format!(" (token ••••{t})"));
    format!(
        "{service} {:<6} {} → {}{token}",
        request.method, request.path, request.status
    )
}

/// The scenario as `--scenario` names it (clap derives the names), the happy one
/// spelled out.
fn scenario_name(scenario: Scenario) -> String {
    match clap::ValueEnum::to_possible_value(&scenario) {
        _ if scenario == Scenario::Happy => "happy path".to_owned(),
        Some(value) => value.get_name().to_owned(),
        None => format!("{scenario:?}"),
    }
}

/// The terminal, with one demo courtesy: pressing Enter at the new-token prompt
/// takes the token the sandbox made.
struct DemoOperator {
    inner: Terminal,
    new_token: String,
}

impl Operator for DemoOperator {
    fn interactive(&self) -> bool {
        self.inner.interactive()
    }
    fn say(&mut self, line: &str) {
        self.inner.say(line);
    }
    fn ask(&mut self, question: &Question) -> Result<String, Interrupted> {
        if question.name == "new_token" {
            let mut question = question.clone();
            question.default = Some(self.new_token.clone());
            return self.inner.ask(&question);
        }
        self.inner.ask(question)
    }
    fn manual(&mut self, title: &str, instructions: &str) -> Result<ManualAnswer, Interrupted> {
        self.inner.manual(title, instructions)
    }
    fn confirm(&mut self, message: &str, phrase: Option<&str>) -> Result<bool, Interrupted> {
        self.inner.confirm(message, phrase)
    }
    fn progress(&mut self, label: &str, total: Option<u64>) -> Box<dyn Progress> {
        self.inner.progress(label, total)
    }
}
