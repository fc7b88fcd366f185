//! Realistic, valid runbooks for the benches to read (2–10 KB each: manual, http with
//! `expect.json`, commands with an effect, settings, prompts, waits, `needs` with
//! `within`, templates reading inputs and earlier steps, phases, rollbacks), and the
//! vocabulary they are written in, which the compare bench also writes its GitHub
//! workflows and Ansible playbooks in, so every tool reads text of the same kind.
//!
//! Included by the benches with `#[path]` (a file directly under `benches/` would be
//! a bench target of its own); it needs `rng` beside it in the including crate.

use std::path::{Path, PathBuf};

use super::rng::Rng;

/// The first this many files go under `first/`, the rest under `rest/`.
pub const SMALL_SET: usize = 1_000;

/// Writes `count` runbooks: the first 1,000 under `first/`, the rest under `rest/`,
/// so one directory holds the small set and the root holds them all.
pub fn generate(root: &Path, count: usize) -> (Vec<PathBuf>, Vec<usize>) {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let mut files = Vec::with_capacity(count);
    let mut sizes = Vec::with_capacity(count);
    for n in 0..count {
        let dir = root.join(if n < SMALL_SET { "first" } else { "rest" });
        if n == 0 || n == SMALL_SET {
            std::fs::create_dir_all(&dir).expect("create a bench dir");
        }
        let id = format!("rb-{n:05}");
        // Steps come in chunks of a few hundred bytes: draw again until one lands in 2–10 KB.
        let text = loop {
            let text = Generator::new(&mut rng).runbook(&id);
            if (2_048..=10_240).contains(&text.len()) {
                break text;
            }
        };
        let path = dir.join(format!("{id}.yaml"));
        std::fs::write(&path, &text).expect("write a generated runbook");
        sizes.push(text.len());
        files.push(path);
    }
    (files, sizes)
}

pub const SERVICES: &[&str] = &[
    "billing",
    "auth",
    "search",
    "payments",
    "gateway",
    "ledger",
    "notifier",
    "scheduler",
    "reports",
    "inventory",
    "checkout",
    "media",
];
const TEAMS: &[&str] = &["platform", "sre", "payments", "identity", "data", "edge"];
pub const WORDS: &[&str] = &[
    "the",
    "service",
    "configuration",
    "token",
    "replica",
    "database",
    "cache",
    "is",
    "checked",
    "before",
    "after",
    "every",
    "deployment",
    "and",
    "rolled",
    "back",
    "when",
    "health",
    "probe",
    "fails",
    "operator",
    "confirms",
    "certificate",
    "renewed",
    "region",
    "traffic",
    "drained",
    "from",
    "old",
    "new",
    "credentials",
    "rotated",
    "safely",
    "within",
    "window",
    "maintenance",
    "queue",
    "backlog",
    "metrics",
    "dashboard",
];
pub const PATHS: &[&str] = &[
    "health",
    "api/v1/status",
    "api/v1/replicas",
    "api/v2/queues",
    "api/v1/certificates",
    "api/v1/keys",
    "metrics/summary",
    "api/v1/regions",
];
pub const SETTINGS: &[&str] = &[
    "LOG_LEVEL",
    "FEATURE_FLAGS",
    "REPLICA_COUNT",
    "API_TOKEN",
    "CACHE_TTL",
    "UPSTREAM_URL",
    "MAX_CONNECTIONS",
];

/// `words` words of the vocabulary as a sentence: capitalised, with a full stop.
pub fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut sentence = String::new();
    for i in 0..words {
        if i > 0 {
            sentence.push(' ');
        }
        sentence.push_str(WORDS[rng.below(WORDS.len())]);
    }
    let mut chars = sentence.chars();
    let first = chars.next().map_or('T', |c| c.to_ascii_uppercase());
    format!("{first}{}.", chars.as_str())
}

/// What a generated step produces, so later templates read real results.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Manual,
    HttpGet,
    HttpPost,
    Command,
    SetSetting,
    ReadSetting,
    WaitFor,
    Prompt,
}

struct Generator<'r> {
    rng: &'r mut Rng,
    out: String,
    steps: Vec<(String, Kind)>,
    inputs: Vec<&'static str>,
    service: &'static str,
}

impl<'r> Generator<'r> {
    fn new(rng: &'r mut Rng) -> Self {
        let service = SERVICES[rng.below(SERVICES.len())];
        Generator {
            rng,
            out: String::with_capacity(12 * 1024),
            steps: Vec::new(),
            inputs: Vec::new(),
            service,
        }
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len())]
    }

    fn sentence(&mut self, words: usize) -> String {
        sentence(self.rng, words)
    }

    fn line(&mut self, text: &str) {
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn runbook(mut self, id: &str) -> String {
        let target = 1_900 + self.rng.below(7_700);
        let service = self.service;
        self.line("# yaml-language-server: $schema=../schema/runbook.schema.json");
        let comment = self.sentence(10);
        self.line(&format!("#\n# {comment}"));
        self.line(&format!("runbook: {id}"));
        let title = self.sentence(5);
        self.line(&format!("title: {title}"));
        self.line("description: >-");
        for _ in 0..2 + self.rng.below(3) {
            let words = 8 + self.rng.below(6);
            let s = self.sentence(words);
            self.line(&format!("  {s}"));
        }
        let team = self.pick(TEAMS);
        self.line(&format!("owner: {team}"));
        let priority = self.rng.below(4);
        self.line(&format!("priority: P{priority}"));
        let estimate = 5 + self.rng.below(55);
        self.line(&format!("estimate: {estimate}m"));
        self.line(&format!("guide: docs/{service}/RUNBOOK.md\n"));
        self.inputs();

        let phased = self.rng.below(10) < 3;
        let indent = if phased { "      " } else { "  " };
        if phased {
            self.line("phases:");
        } else {
            self.line("steps:");
        }
        let mut phase = 0;
        let mut in_phase = 0;
        let mut irreversible_at_end = self.rng.below(10) < 4;
        while self.out.len() < target || self.steps.is_empty() {
            if phased && (in_phase == 0 || (in_phase >= 3 && self.rng.below(3) == 0)) {
                phase += 1;
                in_phase = 0;
                let title = self.sentence(4);
                self.line(&format!("  - id: phase_{phase}"));
                self.line(&format!("    title: \"Phase {phase}: {title}\""));
                if self.rng.below(2) == 0 {
                    let s = self.sentence(12);
                    self.line(&format!("    description: {s}"));
                }
                self.line("    steps:");
            }
            self.step(indent);
            in_phase += 1;
        }
        if irreversible_at_end && self.steps.len() < 2 {
            irreversible_at_end = false;
        }
        if irreversible_at_end {
            self.verified_irreversible(indent);
        }
        self.rollback();
        self.out
    }

    fn inputs(&mut self) {
        let service = self.service;
        self.line("inputs:");
        self.line("  env_file:");
        let s = self.sentence(7);
        self.line(&format!("    description: {s}"));
        self.line(&format!("    default: .env.{service}"));
        self.line("  base_url:");
        self.line(&format!("    description: Base URL of the {service} API."));
        self.line(&format!(
            "    default: \"https://{service}.internal.example.com\""
        ));
        self.line("    pattern: \"^https://\"");
        self.inputs = vec!["env_file", "base_url"];
        if self.rng.below(2) == 0 {
            self.line("  api_token:");
            self.line(&format!("    description: The {service} API token."));
            self.line("    secret: true");
            self.line(&format!("    prompt: Paste the {service} API token"));
            self.inputs.push("api_token");
        }
        if self.rng.below(2) == 0 {
            self.line("  region:");
            self.line("    description: Region the change applies to.");
            self.line("    default: eu-west-1");
            self.line("    choices: [eu-west-1, us-east-1, ap-south-1]");
            self.inputs.push("region");
        }
        if self.rng.below(2) == 0 {
            self.line("  restart_command:");
            self.line("    description: Restarts the service so it reloads its settings.");
            self.line(&format!("    default: systemctl restart {service}"));
            self.inputs.push("restart_command");
        }
        self.line("  replicas: { default: \"3\", pattern: \"^[0-9]+$\" }");
        self.inputs.push("replicas");
        self.line("");
    }

    fn input(&mut self) -> &'static str {
        let inputs = self.inputs.clone();
        self.pick(&inputs)
    }

    /// A template reading an input or an earlier step's result.
    fn reference(&mut self) -> String {
        let readable: Vec<(String, Kind)> = self
            .steps
            .iter()
            .filter(|(_, k)| !matches!(k, Kind::Manual | Kind::WaitFor | Kind::SetSetting))
            .cloned()
            .collect();
        if readable.is_empty() || self.rng.below(2) == 0 {
            let input = self.input();
            return format!("{{{{ inputs.{input} }}}}");
        }
        let (id, kind) = self.pick_owned(&readable);
        let field = match kind {
            Kind::HttpGet | Kind::HttpPost => {
                *self.pick_ref(&["status", "elapsed_ms", "json.result.id", "json.result.name"])
            }
            Kind::Command => *self.pick_ref(&["exit_code", "stdout"]),
            _ => "value",
        };
        format!("{{{{ steps.{id}.{field} }}}}")
    }

    fn pick_owned<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.rng.below(items.len())].clone()
    }

    fn pick_ref<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.below(items.len())]
    }

    /// `needs`: the previous step (runbooks run in order), sometimes with a freshness
    /// bound, sometimes an earlier one too.
    fn needs(&mut self, indent: &str) {
        let Some((last, _)) = self.steps.last().cloned() else {
            return;
        };
        if self.steps.len() > 3 && self.rng.below(4) == 0 {
            let earlier = self.steps[self.rng.below(self.steps.len() - 1)].0.clone();
            self.line(&format!("{indent}  needs:"));
            self.line(&format!("{indent}    - {last}"));
            self.line(&format!("{indent}    - {{ step: {earlier}, within: 30m }}"));
        } else if self.rng.below(5) == 0 {
            self.line(&format!(
                "{indent}  needs: [{{ step: {last}, within: 15m }}]"
            ));
        } else {
            self.line(&format!("{indent}  needs: [{last}]"));
        }
    }

    fn step(&mut self, indent: &str) {
        let kind = match self.rng.below(20) {
            0..=4 => Kind::Manual,
            5..=8 => Kind::HttpGet,
            9 | 10 => Kind::HttpPost,
            11..=13 => Kind::Command,
            14 | 15 => Kind::SetSetting,
            16 | 17 => Kind::ReadSetting,
            18 => Kind::WaitFor,
            _ => Kind::Prompt,
        };
        // The first step shows every input, so none is unused.
        let kind = if self.steps.is_empty() {
            Kind::Manual
        } else {
            kind
        };
        let name = match kind {
            Kind::Manual => "review",
            Kind::HttpGet => "check",
            Kind::HttpPost => "update",
            Kind::Command => "run",
            Kind::SetSetting => "set",
            Kind::ReadSetting => "read",
            Kind::WaitFor => "wait",
            Kind::Prompt => "ask",
        };
        let id = format!("{name}_{}_{}", self.service, self.steps.len() + 1);
        self.line(&format!("{indent}- id: {id}"));
        let words = 4 + self.rng.below(4);
        let title = self.sentence(words);
        self.line(&format!("{indent}  title: {title}"));
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}  description: >-"));
            for _ in 0..=self.rng.below(3) {
                let s = self.sentence(10);
                self.line(&format!("{indent}    {s}"));
            }
        }
        self.needs(indent);
        if self.rng.below(3) == 0 {
            let p = self.rng.below(4);
            let e = 1 + self.rng.below(20);
            self.line(&format!("{indent}  priority: P{p}"));
            self.line(&format!("{indent}  estimate: {e}m"));
        }
        if self.inputs.contains(&"region") && self.rng.below(8) == 0 {
            self.line(&format!(
                "{indent}  when: \"{{{{ inputs.region == 'eu-west-1' }}}}\""
            ));
        }
        match kind {
            Kind::Manual => self.manual(indent),
            Kind::HttpGet => self.http_get(indent),
            Kind::HttpPost => self.http_post(indent),
            Kind::Command => self.command(indent),
            Kind::SetSetting => self.set_setting(indent),
            Kind::ReadSetting => self.read_setting(indent),
            Kind::WaitFor => self.wait_for(indent),
            Kind::Prompt => self.prompt(indent),
        }
        self.line("");
        self.steps.push((id, kind));
    }

    fn manual(&mut self, indent: &str) {
        self.line(&format!("{indent}  manual: |"));
        if self.steps.is_empty() {
            let inputs = self.inputs.clone();
            for input in inputs {
                self.line(&format!("{indent}    - {input}: {{{{ inputs.{input} }}}}"));
            }
        }
        for n in 1..=2 + self.rng.below(5) {
            let words = 6 + self.rng.below(8);
            let s = self.sentence(words);
            let r = self.reference();
            self.line(&format!("{indent}    {n}. {s} See {r}."));
        }
    }

    fn explain(&mut self, indent: &str, codes: &[u16]) {
        self.line(&format!("{indent}  explain:"));
        for code in codes {
            let s = self.sentence(9);
            self.line(&format!("{indent}    {code}: {s}"));
        }
    }

    fn http_get(&mut self, indent: &str) {
        let path = self.pick(PATHS);
        self.line(&format!("{indent}  http:"));
        self.line(&format!(
            "{indent}    url: \"{{{{ inputs.base_url }}}}/{path}\""
        ));
        if self.inputs.contains(&"api_token") && self.rng.below(2) == 0 {
            self.line(&format!(
                "{indent}    bearer: \"{{{{ inputs.api_token }}}}\""
            ));
        }
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}    headers:"));
            self.line(&format!("{indent}      Accept: application/json"));
        }
        if self.rng.below(3) == 0 {
            self.line(&format!("{indent}  timeout: 10s"));
            self.line(&format!(
                "{indent}  retry: {{ attempts: 3, delay: 2s, backoff: 2 }}"
            ));
        }
        self.line(&format!("{indent}  expect:"));
        self.line(&format!("{indent}    status: 200"));
        self.line(&format!("{indent}    json:"));
        let matchers = [
            "success: true",
            "result.status: active",
            "result.id: { not_empty: true }",
            "result.items: { exists: true }",
            "result.count: { ge: 1 }",
            "errors: { len: 0 }",
            "result.version: { matches: \"^v[0-9]+\" }",
            "result.region: { equals: eu-west-1 }",
        ];
        let first = self.rng.below(matchers.len());
        for i in 0..=self.rng.below(4) {
            let matcher = matchers[(first + i) % matchers.len()];
            self.line(&format!("{indent}      {matcher}"));
        }
        self.explain(indent, &[401, 503]);
        if self.rng.below(3) == 0 {
            self.line(&format!("{indent}  outputs:"));
            let id = format!("check_{}_{}", self.service, self.steps.len() + 1);
            self.line(&format!(
                "{indent}    replica_count: \"{{{{ steps.{id}.json.result.count }}}}\""
            ));
        }
    }

    fn http_post(&mut self, indent: &str) {
        let path = self.pick(PATHS);
        let method = self.pick(&["POST", "PUT", "PATCH"]);
        self.line(&format!("{indent}  http:"));
        self.line(&format!("{indent}    method: {method}"));
        self.line(&format!(
            "{indent}    url: \"{{{{ inputs.base_url }}}}/{path}\""
        ));
        if self.inputs.contains(&"api_token") {
            self.line(&format!(
                "{indent}    bearer: \"{{{{ inputs.api_token }}}}\""
            ));
        }
        self.line(&format!("{indent}    json:"));
        let r = self.reference();
        self.line(&format!("{indent}      name: \"{r}\""));
        self.line(&format!(
            "{indent}      replicas: \"{{{{ inputs.replicas }}}}\""
        ));
        let reason = self.sentence(6);
        self.line(&format!("{indent}      reason: {reason}"));
        self.line(&format!("{indent}  expect:"));
        self.line(&format!("{indent}    status: [200, 201, 204]"));
        self.explain(indent, &[400, 409]);
    }

    fn command(&mut self, indent: &str) {
        let effect = self.pick(&["probe", "probe", "change", "none"]);
        self.line(&format!("{indent}  effect: {effect}"));
        if self.rng.below(2) == 0 {
            let service = self.service;
            let command = if self.inputs.contains(&"restart_command") && effect == "change" {
                "\"{{ inputs.restart_command }}\"".to_owned()
            } else {
                format!("systemctl is-active {service}")
            };
            self.line(&format!("{indent}  command: {command}"));
        } else {
            let r = self.reference();
            self.line(&format!("{indent}  command:"));
            self.line(&format!(
                "{indent}    run: 'test -n \"$VALUE\" && echo \"checked $VALUE in $REGION\"'"
            ));
            self.line(&format!("{indent}    env:"));
            self.line(&format!("{indent}      VALUE: \"{r}\""));
            self.line(&format!(
                "{indent}      REGION: \"{{{{ inputs.env_file }}}}\""
            ));
            self.line(&format!("{indent}    cwd: /srv/{}", self.service));
            self.line(&format!("{indent}  expect:"));
            self.line(&format!("{indent}    exit_code: 0"));
            self.line(&format!("{indent}    stdout_contains: checked"));
        }
        self.explain(indent, &[1, 127]);
    }

    fn set_setting(&mut self, indent: &str) {
        let key = self.pick(SETTINGS);
        let r = self.reference();
        self.line(&format!("{indent}  set_setting:"));
        self.line(&format!("{indent}    file: \"{{{{ inputs.env_file }}}}\""));
        self.line(&format!("{indent}    key: {key}"));
        self.line(&format!("{indent}    value: \"{r}\""));
    }

    fn read_setting(&mut self, indent: &str) {
        let key = self.pick(SETTINGS);
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}  secret: true"));
        }
        self.line(&format!(
            "{indent}  read_setting: {{ file: \"{{{{ inputs.env_file }}}}\", key: {key} }}"
        ));
    }

    fn wait_for(&mut self, indent: &str) {
        let path = self.pick(PATHS);
        self.line(&format!("{indent}  wait_for:"));
        self.line(&format!("{indent}    http:"));
        self.line(&format!(
            "{indent}      url: \"{{{{ inputs.base_url }}}}/{path}\""
        ));
        self.line(&format!("{indent}    expect:"));
        self.line(&format!("{indent}      status: 200"));
        self.line(&format!("{indent}    interval: 5s"));
        self.line(&format!("{indent}    timeout: 3m"));
    }

    fn prompt(&mut self, indent: &str) {
        let s = self.sentence(6);
        self.line(&format!("{indent}  prompt:"));
        self.line(&format!("{indent}    message: \"{s}\""));
        if self.rng.below(2) == 0 {
            self.line(&format!("{indent}    choices: [yes-continue, stop]"));
        } else {
            self.line(&format!("{indent}    pattern: \"^[a-z0-9-]+$\""));
        }
    }

    /// A probe that needs everything before it, then an irreversible step gated on
    /// that probe's fresh pass and a confirmation.
    fn verified_irreversible(&mut self, indent: &str) {
        let service = self.service;
        let last = self
            .steps
            .last()
            .map(|(id, _)| id.clone())
            .unwrap_or_default();
        let verify = format!("verify_{service}_final");
        self.line(&format!("{indent}- id: {verify}"));
        self.line(&format!(
            "{indent}  title: Verify {service} end to end before the point of no return"
        ));
        self.line(&format!("{indent}  needs: [{last}]"));
        self.line(&format!("{indent}  http:"));
        self.line(&format!(
            "{indent}    url: \"{{{{ inputs.base_url }}}}/health\""
        ));
        self.line(&format!("{indent}  expect:"));
        self.line(&format!("{indent}    status: 200"));
        self.line(&format!(
            "{indent}    json: {{ status: ok, checks: {{ not_empty: true }} }}"
        ));
        self.line("");
        self.line(&format!("{indent}- id: decommission_{service}_old"));
        self.line(&format!(
            "{indent}  title: Decommission the old {service} deployment"
        ));
        self.line(&format!(
            "{indent}  needs: [{{ step: {verify}, within: 30m }}]"
        ));
        self.line(&format!("{indent}  effect: irreversible"));
        self.line(&format!("{indent}  confirm:"));
        self.line(&format!(
            "{indent}    message: Delete the old {service} deployment? This cannot be undone."
        ));
        self.line(&format!(
            "{indent}    phrase: \"{{{{ inputs.env_file }}}}\""
        ));
        self.line(&format!("{indent}  manual: |"));
        self.line(&format!(
            "{indent}    Delete the old {service} deployment in the console; the checks of {{{{ steps.{verify}.status }}}} passed."
        ));
        self.line("");
        self.steps.push((verify, Kind::HttpGet));
    }

    fn rollback(&mut self) {
        let setters: Vec<String> = self
            .steps
            .iter()
            .filter(|(_, k)| *k == Kind::SetSetting)
            .map(|(id, _)| id.clone())
            .collect();
        if setters.is_empty() {
            return;
        }
        self.line("rollback:");
        for id in setters {
            self.line(&format!("  - id: undo_{id}"));
            self.line(&format!("    title: Put back what {id} replaced"));
            self.line(&format!(
                "    when: \"{{{{ steps.{id}.outcome == 'passed' }}}}\""
            ));
            self.line(&format!("    restore_setting: {id}"));
        }
    }
}
