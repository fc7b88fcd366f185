//! The runbook language as Rust types: what `decode` builds from the YAML tree and
//! what the rules, the planner and the engine read. Each value keeps the span of
//! the node it came from, so any later check can point at it.
//!
//! `runbook schema` (schema.rs) derives the enums' schemas from here; the shapes a
//! Rust struct does not express (a step is one action among several keys) are
//! written out there.

use std::time::Duration;

use schemars::JsonSchema;

use super::node::{Node, Span};

/// A value with the span of the node it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// A string that may hold `MiniJinja` `{{ … }}` expressions, rendered at run time.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub source: String,
    pub span: Span,
}

impl Template {
    /// Whether the text contains any template syntax at all.
    pub fn is_literal(&self) -> bool {
        !crate::template::has_blocks(&self.source)
    }
}

/// A duration written as `30s`, `15m` or `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timespan(pub Duration);

/// One runbook file. A checklist is a runbook written with `phases:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Runbook {
    pub id: Spanned<String>,
    pub title: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub owner: Option<Spanned<String>>,
    pub priority: Option<Spanned<Priority>>,
    pub estimate: Option<Spanned<Timespan>>,
    pub guide: Option<Spanned<String>>,
    /// `keep_secrets: false`: the secrets a run still needs are not kept at rest
    /// for `resume`, which asks for them again (see `engine::kept`).
    pub keep_secrets: Option<Spanned<bool>>,
    pub inputs: Vec<Input>,
    /// A runbook written with `steps:` has one phase with no id.
    pub phases: Vec<Phase>,
    pub rollback: Vec<Step>,
    /// `outputs:` — name → template, rendered when the run passed: what a
    /// parent reads as `steps.<id>.outputs.NAME` of the step that ran it.
    pub outputs: Vec<(Spanned<String>, Template)>,
}

impl Runbook {
    /// Whether the file groups its steps in `phases:`.
    pub fn is_checklist(&self) -> bool {
        self.phases.iter().any(|phase| phase.id.is_some())
    }

    /// The main steps in execution order, across phases.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|phase| phase.steps.iter())
    }

    /// Every step of the file, the rollback included.
    pub fn all_steps(&self) -> impl Iterator<Item = &Step> {
        self.steps().chain(self.rollback.iter())
    }

    pub fn input(&self, name: &str) -> Option<&Input> {
        self.inputs.iter().find(|input| input.name.value == name)
    }
}

/// P0 (drop everything) … P3 (when convenient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub enum Priority {
    P0,
    P1,
    P2,
    P3,
}

impl Priority {
    pub const NAMES: [&'static str; 4] = ["P0", "P1", "P2", "P3"];

    pub fn as_str(self) -> &'static str {
        Priority::NAMES[self as usize]
    }

    pub fn parse(text: &str) -> Option<Priority> {
        match text {
            "P0" => Some(Priority::P0),
            "P1" => Some(Priority::P1),
            "P2" => Some(Priority::P2),
            "P3" => Some(Priority::P3),
            _ => None,
        }
    }
}

/// A value the runbook needs from the operator, the command line or the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub name: Spanned<String>,
    pub description: Option<Spanned<String>>,
    pub default: Option<Template>,
    pub secret: Option<Spanned<bool>>,
    /// The question asked when the value is missing at an interactive run.
    pub prompt: Option<Spanned<String>>,
    /// A regular expression the whole answer must match.
    pub pattern: Option<Spanned<String>>,
    pub choices: Vec<Spanned<String>>,
}

/// A named group of checklist steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub id: Option<Spanned<String>>,
    pub title: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub steps: Vec<Step>,
}

/// What a step does to the world, from reading nothing to destroying something.
/// `Notify` tells people (a webhook, a message) and changes nothing under work:
/// it is never evidence, and no probe is owed after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    None,
    Probe,
    Notify,
    Manual,
    Change,
    Irreversible,
}

impl Effect {
    pub const NAMES: [&'static str; 6] = [
        "none",
        "probe",
        "change",
        "irreversible",
        "manual",
        "notify",
    ];

    pub fn parse(text: &str) -> Option<Effect> {
        match text {
            "none" => Some(Effect::None),
            "probe" => Some(Effect::Probe),
            "change" => Some(Effect::Change),
            "irreversible" => Some(Effect::Irreversible),
            "manual" => Some(Effect::Manual),
            "notify" => Some(Effect::Notify),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effect::None => "none",
            Effect::Probe => "probe",
            Effect::Change => "change",
            Effect::Irreversible => "irreversible",
            Effect::Manual => "manual",
            Effect::Notify => "notify",
        }
    }
}

/// One step: exactly one action and the gates around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: Spanned<String>,
    /// The whole step map, for problems that belong to no single key.
    pub span: Span,
    pub title: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub action: Action,
    /// The key that named the action (`http`, `manual`, …).
    pub action_span: Span,
    /// A poll that follows a `command` in the same step (`command` + `wait_for`).
    pub then_wait: Option<WaitFor>,
    pub needs: Vec<Need>,
    pub when: Option<Template>,
    pub effect: Option<Spanned<Effect>>,
    pub confirm: Option<Confirm>,
    /// `approve:`, the four-eyes gate (`crate::approval`).
    pub approve: Option<Approve>,
    pub secret: Option<Spanned<bool>>,
    pub timeout: Option<Spanned<Timespan>>,
    pub retry: Option<Retry>,
    pub explain: Vec<(Spanned<i64>, Template)>,
    pub outputs: Vec<(Spanned<String>, Template)>,
    pub priority: Option<Spanned<Priority>>,
    pub estimate: Option<Spanned<Timespan>>,
    pub guide: Option<Spanned<String>>,
    pub for_each: Option<ForEach>,
    pub concurrency: Option<Spanned<u32>>,
    /// `with:` on a `runbook:` step — the child's inputs, each a template
    /// rendered in this runbook's context (with `item` in a fan-out).
    pub with: Vec<(Spanned<String>, Template)>,
    pub expect: Option<Expect>,
    /// Keys given in the file whose values could not be read (`action` when no
    /// action could be read at all): later checks that would only repeat the
    /// problem skip what depends on them.
    pub unread: Vec<&'static str>,
}

/// `for_each` without `concurrency` runs one item (or child run) at a time.
pub const DEFAULT_CONCURRENCY: u32 = 1;

impl Step {
    /// How many items of its `for_each` run at once: `concurrency`, else
    /// [`DEFAULT_CONCURRENCY`] — what `run`, `plan` and `plan --probe` all use.
    pub fn concurrency(&self) -> u32 {
        self.concurrency
            .as_ref()
            .map_or(DEFAULT_CONCURRENCY, |c| c.value)
    }

    /// `explain:` as code → message source, for [`crate::action::expect::explain`].
    pub fn explains(&self) -> Vec<(i64, String)> {
        self.explain
            .iter()
            .map(|(code, message)| (code.value, message.source.clone()))
            .collect()
    }

    /// The title, or the id when there is none.
    pub fn title_or_id(&self) -> String {
        self.title
            .as_ref()
            .map_or_else(|| self.id.value.clone(), |t| t.value.clone())
    }

    /// The result fields of this step that hold a secret by declaration
    /// (`secret: true` on the step, or on its prompt): the run masks their
    /// values everywhere, and `validate` warns when one is written into a
    /// command line. Decided here once for both.
    pub fn secret_fields(&self) -> &'static [&'static str] {
        let declared = self.secret.as_ref().is_some_and(|s| s.value);
        match &self.action {
            Action::Prompt(prompt)
                if declared || prompt.secret.as_ref().is_some_and(|s| s.value) =>
            {
                &["value"]
            }
            Action::ReadSetting(_) if declared => &["value"],
            Action::Command(_) if declared => &["stdout", "stderr"],
            // Secret by construction.
            Action::GenerateSecret(_) => &["value"],
            Action::Manual(_)
            | Action::Prompt(_)
            | Action::ReadSetting(_)
            | Action::SetSetting(_)
            | Action::RestoreSetting(_)
            | Action::WriteFile(_)
            | Action::RestoreFile(_)
            | Action::Http(_)
            | Action::Command(_)
            | Action::WaitFor(_)
            | Action::Runbook(_) => &[],
        }
    }

    /// Whether the file gave this key but its value could not be read.
    pub fn unread(&self, key: &str) -> bool {
        self.unread.contains(&key)
    }

    /// The effect the engine treats this step as having: the stronger of the
    /// declared one and what the action implies (`command` implies none and must
    /// declare). A declaration may raise what the engine knows, never lower it:
    /// `effect: probe` on a POST is still a change (and refused by `validate`).
    pub fn effect(&self) -> Option<Effect> {
        let declared = self.effect.as_ref().map(|effect| effect.value);
        if self.notifies() {
            return declared;
        }
        declared.max(self.action.implied_effect())
    }

    /// Whether the step is a notification that stands: `effect: notify` on a
    /// command or a request that sends something (a POST to a chat webhook is
    /// no change to the system under work). A DELETE removes, and never only
    /// tells: declared `notify`, it keeps its effect (and `validate` refuses it).
    pub fn notifies(&self) -> bool {
        let declared = self.effect.as_ref().map(|effect| effect.value);
        declared == Some(Effect::Notify)
            && match &self.action {
                Action::Command(_) => true,
                Action::Http(request) => request.method() != Method::Delete,
                _ => false,
            }
    }

    /// The polls of this step: a `wait_for` action, or one after a `command`.
    pub fn waits(&self) -> impl Iterator<Item = &WaitFor> {
        let action = match &self.action {
            Action::WaitFor(wait) => Some(wait.as_ref()),
            _ => None,
        };
        action.into_iter().chain(self.then_wait.iter())
    }
}

/// `for_each:` — the items a step repeats its action over.
#[derive(Debug, Clone, PartialEq)]
pub enum ForEach {
    /// `for_each: TEMPLATE` that gives a list, or a list written out; `item`
    /// is each element.
    List(Axis),
    /// `for_each: {name: LIST, …}` — every combination of the lists (a matrix,
    /// the first name varying slowest); `item.name` is that list's element.
    Product {
        span: Span,
        axes: Vec<(Spanned<String>, Axis)>,
    },
}

impl ForEach {
    pub fn span(&self) -> Span {
        match self {
            ForEach::List(axis) => axis.span(),
            ForEach::Product { span, .. } => *span,
        }
    }

    /// The names `item` has in a product (`item.node`); none for a list.
    pub fn names(&self) -> Vec<&str> {
        match self {
            ForEach::List(_) => Vec::new(),
            ForEach::Product { axes, .. } => axes.iter().map(|(n, _)| n.value.as_str()).collect(),
        }
    }
}

/// One list of a `for_each`.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// A template that gives a list: `"{{ inputs.nodes }}"`.
    Template(Template),
    /// A list written out: `[api, worker]` (its strings are templates).
    Items(Node),
}

impl Axis {
    pub fn span(&self) -> Span {
        match self {
            Axis::Template(template) => template.span,
            Axis::Items(node) => node.span,
        }
    }
}

/// The one thing a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Manual(Template),
    Prompt(Prompt),
    ReadSetting(SettingRef),
    SetSetting(SetSetting),
    RestoreSetting(Spanned<String>),
    WriteFile(WriteFile),
    RestoreFile(Spanned<String>),
    GenerateSecret(GenerateSecret),
    Http(HttpRequest),
    Command(Command),
    WaitFor(Box<WaitFor>),
    Runbook(Spanned<String>),
}

impl Action {
    /// The YAML key of each action, in the order the docs list them.
    pub const KEYS: [&'static str; 12] = [
        "manual",
        "prompt",
        "read_setting",
        "set_setting",
        "restore_setting",
        "write_file",
        "restore_file",
        "generate_secret",
        "http",
        "command",
        "wait_for",
        "runbook",
    ];

    pub fn key(&self) -> &'static str {
        match self {
            Action::Manual(_) => "manual",
            Action::Prompt(_) => "prompt",
            Action::ReadSetting(_) => "read_setting",
            Action::SetSetting(_) => "set_setting",
            Action::RestoreSetting(_) => "restore_setting",
            Action::WriteFile(_) => "write_file",
            Action::RestoreFile(_) => "restore_file",
            Action::GenerateSecret(_) => "generate_secret",
            Action::Http(_) => "http",
            Action::Command(_) => "command",
            Action::WaitFor(_) => "wait_for",
            Action::Runbook(_) => "runbook",
        }
    }

    /// Whether an answer given up front (`--set ID=…`, the answers file,
    /// `RUNBOOK_INPUT_ID`) under the step's id is this step's: a prompt's value,
    /// a manual step's or a child runbook's `done`/`defer`.
    pub fn answered_by_id(&self) -> bool {
        match self {
            Action::Manual(_) | Action::Prompt(_) | Action::Runbook(_) => true,
            Action::ReadSetting(_)
            | Action::SetSetting(_)
            | Action::RestoreSetting(_)
            | Action::WriteFile(_)
            | Action::RestoreFile(_)
            | Action::GenerateSecret(_)
            | Action::Http(_)
            | Action::Command(_)
            | Action::WaitFor(_) => false,
        }
    }

    /// What the engine knows of the action's effect. `command` runs anything, so it
    /// implies nothing — polled by `wait_for` too; a child runbook's effect depends
    /// on the child.
    pub fn implied_effect(&self) -> Option<Effect> {
        match self {
            Action::Manual(_) => Some(Effect::Manual),
            Action::Prompt(_) | Action::ReadSetting(_) | Action::GenerateSecret(_) => {
                Some(Effect::None)
            }
            Action::SetSetting(_)
            | Action::RestoreSetting(_)
            | Action::WriteFile(_)
            | Action::RestoreFile(_) => Some(Effect::Change),
            Action::Http(request) => Some(request.effect()),
            Action::WaitFor(wait) => match &wait.probe {
                Probe::Http(request) => Some(request.effect()),
                Probe::Command(_) => None,
            },
            Action::Command(_) | Action::Runbook(_) => None,
        }
    }

    /// The result fields `steps.<id>.…` of this action (SPEC §1's table).
    pub fn result_fields(&self) -> &'static [&'static str] {
        match self {
            // A manual step has only the results every step has (`outcome`, `reason`).
            Action::Manual(_) | Action::RestoreSetting(_) | Action::RestoreFile(_) => &[],
            Action::WriteFile(_) => &["file", "fingerprint", "previous_fingerprint"],
            Action::Prompt(_) | Action::ReadSetting(_) | Action::GenerateSecret(_) => &["value"],
            Action::SetSetting(_) => &["previous_fingerprint", "previous_fingerprints"],
            Action::Http(_) => &["status", "json", "headers", "elapsed_ms", "body", "tls"],
            Action::Command(_) => &["exit_code", "stdout", "stderr"],
            Action::WaitFor(_) => &["attempts"],
            Action::Runbook(_) => &["run_id", "child_outcome"],
        }
    }
}

/// `prompt:` — ask the operator for a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub message: Option<Template>,
    pub secret: Option<Spanned<bool>>,
    pub pattern: Option<Spanned<String>>,
    pub choices: Vec<Spanned<String>>,
    pub default: Option<Template>,
}

/// `read_setting:` — one key of a dotenv file.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingRef {
    pub file: Template,
    pub key: Spanned<String>,
}

/// `set_setting:` — write keys of a dotenv file, all in one atomic write
/// (`key` + `value` is the one-key form).
#[derive(Debug, Clone, PartialEq)]
pub struct SetSetting {
    pub file: Template,
    pub values: Vec<(Spanned<String>, Template)>,
}

impl SetSetting {
    /// `API_TOKEN`, or `DB_USER, DB_PASSWORD`.
    pub fn keys_text(&self) -> String {
        self.values
            .iter()
            .map(|(key, _)| key.value.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `generate_secret:` — a new secret drawn from the OS's secure random source.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateSecret {
    pub length: Spanned<u32>,
    /// The characters to draw from, each once; letters and digits when absent.
    pub alphabet: Option<Spanned<String>>,
}

impl GenerateSecret {
    pub const DEFAULT_ALPHABET: &'static str =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    /// Longer than any password or token field takes.
    pub const MAX_LENGTH: u32 = 4096;
    /// Below this a secret can be guessed offline; `validate` warns.
    pub const MIN_BITS: f64 = 64.0;

    pub fn alphabet(&self) -> Vec<char> {
        self.alphabet
            .as_ref()
            .map_or(Self::DEFAULT_ALPHABET, |a| a.value.as_str())
            .chars()
            .collect()
    }

    /// The entropy of one value: `length × log2(alphabet size)`.
    pub fn bits(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let size = self.alphabet().len() as f64;
        f64::from(self.length.value) * size.log2()
    }
}

/// `write_file:` — a whole file, written atomically after a backup of the
/// previous one (which `restore_file` puts back).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteFile {
    pub path: Template,
    pub source: FileSource,
    /// Permission bits, `0640`; when absent an existing file keeps its mode and
    /// a new one is owner-only.
    pub mode: Option<Spanned<u32>>,
}

/// What `write_file` writes.
#[derive(Debug, Clone, PartialEq)]
pub enum FileSource {
    /// `content:` — the text itself, a template.
    Content(Template),
    /// `from:` — the path of a file whose bytes are copied, read at run time.
    From(Template),
}

/// HTTP methods `http:` may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

impl Method {
    pub const NAMES: [&'static str; 7] =
        ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

    pub fn parse(text: &str) -> Option<Method> {
        match text {
            "GET" => Some(Method::Get),
            "HEAD" => Some(Method::Head),
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            "OPTIONS" => Some(Method::Options),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Method::NAMES[self as usize]
    }
}

/// `http:` — one request.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequest {
    /// Defaults to GET.
    pub method: Option<Spanned<Method>>,
    pub url: Template,
    pub headers: Vec<(Spanned<String>, Template)>,
    /// Sent as `Authorization: Bearer …`.
    pub bearer: Option<Template>,
    /// A JSON body; strings in it are templates.
    pub json: Option<Node>,
    pub body: Option<Template>,
    pub timeout: Option<Spanned<Timespan>>,
    /// PEM files to trust and to present (`http.tls`); boxed, as few
    /// requests have it.
    pub tls: Option<Box<TlsFiles>>,
    /// Host names and the IP address to connect to for each (`http.resolve`);
    /// both are templates (`{"{{ inputs.server_name }}": 127.0.0.1}`).
    pub resolve: Vec<(Template, Template)>,
}

/// `http.tls: {ca, cert, key}` — paths of PEM files, each a template.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub span: Span,
    /// The CA that must have signed the served certificate, instead of the
    /// built-in roots.
    pub ca: Option<Template>,
    /// A client certificate, sent when the server asks for one.
    pub cert: Option<Template>,
    /// The private key of `cert`: a secret file, never shown.
    pub key: Option<Template>,
}

/// An address as `http.resolve` takes it: an IP address (`127.0.0.1`, `::1`
/// or `[::1]`), no port — the port is the URL's.
pub fn resolve_address(text: &str) -> Option<std::net::IpAddr> {
    let text = text.trim();
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse().ok()
}

impl TlsFiles {
    /// Each file with its key in `tls:`, in the order the plan names them.
    pub fn paths(&self) -> impl Iterator<Item = (&'static str, &Template)> {
        [("ca", &self.ca), ("cert", &self.cert), ("key", &self.key)]
            .into_iter()
            .filter_map(|(key, template)| template.as_ref().map(|t| (key, t)))
    }
}

impl HttpRequest {
    pub fn method(&self) -> Method {
        self.method
            .as_ref()
            .map_or(Method::Get, |method| method.value)
    }

    /// GET and HEAD only read (SPEC §1); everything else may change something.
    pub fn effect(&self) -> Effect {
        if self.reads_only() {
            Effect::Probe
        } else {
            Effect::Change
        }
    }

    /// Whether the method is GET or HEAD: the only requests that are evidence,
    /// that `plan --probe` sends and that `wait_for` may poll.
    pub fn reads_only(&self) -> bool {
        match self.method() {
            Method::Get | Method::Head => true,
            Method::Post | Method::Put | Method::Patch | Method::Delete | Method::Options => false,
        }
    }
}

/// `command:` — a process to run, through `sh -c`.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub run: Template,
    pub env: Vec<(Spanned<String>, Template)>,
    pub cwd: Option<Template>,
}

/// What `wait_for` polls (a request boxed: it is much the larger).
#[derive(Debug, Clone, PartialEq)]
pub enum Probe {
    Http(Box<HttpRequest>),
    Command(Command),
}

/// `wait_for:` — poll until `expect` holds or `timeout` passes.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitFor {
    pub span: Span,
    pub probe: Probe,
    pub expect: Option<Expect>,
    pub interval: Option<Spanned<Timespan>>,
    pub timeout: Option<Spanned<Timespan>>,
}

/// `expect:` — what a response or a process must show for the step to pass.
/// `json` is the response body or, on a command, its stdout parsed as JSON; the
/// empty path is the whole document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expect {
    pub span: Span,
    pub status: Vec<Spanned<i64>>,
    pub json: Vec<(Spanned<String>, Matcher)>,
    /// Accepted exit codes: one or a list.
    pub exit_code: Vec<Spanned<i64>>,
    /// The older spelling of `stdout: {contains: …}`, still read.
    pub stdout_contains: Option<Template>,
    pub stdout: Option<TextMatch>,
    pub stderr: Option<TextMatch>,
    /// The older spelling of `body: {contains: …}`, still read.
    pub body_contains: Option<Template>,
    pub body: Option<TextMatch>,
    /// Response header names (any case) and what their value must show.
    pub headers: Vec<(Spanned<String>, TextMatch)>,
    /// The served certificate's fields and what each must show.
    pub tls: Vec<(Spanned<TlsField>, TlsMatch)>,
}

/// A field of the certificate an HTTPS server presented
/// (`steps.<id>.tls.<field>`, `expect.tls.<field>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsField {
    Subject,
    Issuer,
    Sans,
    NotBefore,
    NotAfter,
    DaysLeft,
    Sha256,
    Serial,
}

impl TlsField {
    pub const ALL: [TlsField; 8] = [
        TlsField::Subject,
        TlsField::Issuer,
        TlsField::Sans,
        TlsField::NotBefore,
        TlsField::NotAfter,
        TlsField::DaysLeft,
        TlsField::Sha256,
        TlsField::Serial,
    ];

    /// The key, as results and `expect.tls` spell it.
    pub fn key(self) -> &'static str {
        match self {
            TlsField::Subject => "subject",
            TlsField::Issuer => "issuer",
            TlsField::Sans => "sans",
            TlsField::NotBefore => "not_before",
            TlsField::NotAfter => "not_after",
            TlsField::DaysLeft => "days_left",
            TlsField::Sha256 => "sha256",
            TlsField::Serial => "serial",
        }
    }

    pub fn parse(key: &str) -> Option<TlsField> {
        TlsField::ALL.into_iter().find(|field| field.key() == key)
    }
}

/// What one certificate field must show: text fields take a text matcher, the
/// list of names `{contains | not_contains: NAME}` (a name exactly), and
/// `days_left` a number matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum TlsMatch {
    Text(TextMatch),
    Names(TextMatch),
    Number(Matcher),
}

/// A text matcher: `{contains, not_contains, equals, not_equals, matches}`, every rule given
/// must hold.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMatch {
    pub span: Span,
    pub rules: Vec<TextRule>,
}

/// One rule of a text matcher.
#[derive(Debug, Clone, PartialEq)]
pub enum TextRule {
    Contains(Template),
    NotContains(Template),
    /// The whole text, one trailing newline on either side ignored.
    Equals(Template),
    /// Anything but that whole text, the same newline ignored.
    NotEquals(Template),
    Matches(Spanned<String>),
}

/// The text without one trailing newline: what `equals` and `not_equals`
/// compare, as `$(…)` drops it. `validate` finds contradictions by it, and the
/// judge judges by it.
pub fn chomp(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// A check on one value of a JSON response.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// A plain value or `{equals: …}`.
    Equals(Node),
    NotEmpty(bool),
    Exists(bool),
    Compare(Comparison, Number<f64>),
    Matches(Spanned<String>),
    Len(Number<u64>),
}

/// The number a matcher compares with: written (`ge: 30`), or a template that
/// renders to one when the step runs (`ge: "{{ inputs.min_days }}"`), which
/// `validate` cannot check.
#[derive(Debug, Clone, PartialEq)]
pub enum Number<T> {
    Literal(Spanned<T>),
    Template(Template),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    pub fn key(self) -> &'static str {
        match self {
            Comparison::Gt => "gt",
            Comparison::Ge => "ge",
            Comparison::Lt => "lt",
            Comparison::Le => "le",
        }
    }
}

/// One entry of `needs:`.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    pub step: Spanned<String>,
    /// The evidence must have passed no longer ago than this.
    pub within: Option<Spanned<Timespan>>,
}

/// `confirm: true` or `{message, phrase}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    pub span: Span,
    pub message: Option<Template>,
    /// Text the operator must type exactly.
    pub phrase: Option<Template>,
}

/// `approve: {count, from, message}`: the step runs only once `count` of the
/// people in `from` — never the run's operator — approved it.
#[derive(Debug, Clone, PartialEq)]
pub struct Approve {
    pub span: Span,
    /// How many approvals open the gate (1 when not given).
    pub count: Spanned<u32>,
    /// Who may approve: user names (the local store) or database roles.
    pub from: Vec<Spanned<String>>,
    /// Shown to the approvers; a template.
    pub message: Option<Template>,
}

/// `retry: {attempts, delay, backoff}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub span: Span,
    pub attempts: Spanned<u32>,
    pub delay: Option<Spanned<Timespan>>,
    /// Each delay is the previous one times this factor.
    pub backoff: Option<Spanned<f64>>,
}

impl Retry {
    /// The wait before the first retry when `delay` is not given.
    pub const DEFAULT_DELAY: Duration = Duration::from_secs(1);
    /// The longest wait between two attempts, whatever `delay` and `backoff`
    /// say: a retry is for a flake, and an hour is past any flake.
    pub const MAX_DELAY: Duration = Duration::from_secs(60 * 60);
    /// The largest `backoff` accepted: ten times the last wait is already steep.
    pub const MAX_BACKOFF: f64 = 10.0;

    /// The wait before attempt `attempt` (2 is the first retry): `delay` times
    /// `backoff` once per retry before it, never more than [`Retry::MAX_DELAY`].
    /// The arithmetic saturates, so no factor or attempt count can overflow.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        let delay = self
            .delay
            .as_ref()
            .map_or(Self::DEFAULT_DELAY, |d| d.value.0);
        if delay.is_zero() {
            return delay;
        }
        let backoff = self.backoff.as_ref().map_or(1.0, |b| b.value);
        let retries_before = i32::try_from(attempt.saturating_sub(2)).unwrap_or(i32::MAX);
        let seconds = delay.as_secs_f64() * backoff.powi(retries_before);
        Duration::try_from_secs_f64(seconds).map_or(Self::MAX_DELAY, |d| d.min(Self::MAX_DELAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(delay: Option<Duration>, backoff: Option<f64>) -> Retry {
        let span = Span::default();
        Retry {
            span,
            attempts: Spanned::new(5, span),
            delay: delay.map(|d| Spanned::new(Timespan(d), span)),
            backoff: backoff.map(|b| Spanned::new(b, span)),
        }
    }

    fn fan_out(concurrency: &str) -> Step {
        let text = format!(
            "runbook: fan\nsteps:\n  - id: each\n    effect: probe\n    for_each: [a, b]\n{concurrency}    command: 'echo {{{{ item }}}}'\n"
        );
        let checked = crate::document::check(std::path::Path::new("fan.yaml"), &text);
        let runbook = checked.runbook.expect("a runbook");
        runbook.steps().next().expect("a step").clone()
    }

    #[test]
    fn a_fan_out_runs_its_concurrency_or_one_item_at_a_time() {
        assert_eq!(fan_out("").concurrency(), DEFAULT_CONCURRENCY);
        assert_eq!(DEFAULT_CONCURRENCY, 1);
        assert_eq!(fan_out("    concurrency: 4\n").concurrency(), 4);
    }

    #[test]
    fn delays_grow_by_the_backoff_from_the_first_retry() {
        let retry = retry(Some(Duration::from_secs(2)), Some(3.0));
        let waits: Vec<u64> = (2..=5).map(|a| retry.delay_before(a).as_secs()).collect();
        assert_eq!(waits, [2, 6, 18, 54]);
        let fixed = self::retry(None, None);
        assert_eq!(fixed.delay_before(2), Retry::DEFAULT_DELAY);
        assert_eq!(fixed.delay_before(9), Retry::DEFAULT_DELAY);
    }

    #[test]
    fn delays_saturate_at_the_cap_instead_of_overflowing() {
        for backoff in [1e300, f64::MAX] {
            let retry = retry(Some(Duration::from_secs(1)), Some(backoff));
            for attempt in [3, 40, u32::MAX] {
                assert_eq!(
                    retry.delay_before(attempt),
                    Retry::MAX_DELAY,
                    "×{backoff} at {attempt}"
                );
            }
        }
        let steep = retry(Some(Duration::from_secs(1)), Some(Retry::MAX_BACKOFF));
        assert_eq!(steep.delay_before(5), Duration::from_secs(1000));
        assert_eq!(steep.delay_before(6), Retry::MAX_DELAY);
        assert_eq!(steep.delay_before(u32::MAX), Retry::MAX_DELAY);
        let long = retry(Some(Duration::from_secs(10 * 24 * 3600)), None);
        assert_eq!(long.delay_before(2), Retry::MAX_DELAY);
        let none = retry(Some(Duration::ZERO), Some(10.0));
        assert_eq!(none.delay_before(u32::MAX), Duration::ZERO);
    }
}
