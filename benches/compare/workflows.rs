//! GitHub Actions workflows for actionlint, written to a given size out of the same
//! vocabulary as the generated runbooks and doing the same kinds of work: HTTP
//! checks and changes (`curl`, with the check written out), commands with
//! environment and working directory, settings written and read, a wait, a manual
//! approval (an environment), jobs that need earlier jobs and read their outputs,
//! expressions reading inputs, secrets and earlier steps. Every one is clean under
//! actionlint, so it reads all of it.

use super::rng::Rng;
use super::runbooks::{PATHS, SERVICES, SETTINGS, sentence};

/// A workflow of at least `target` bytes (and a step's few hundred more at most).
pub fn workflow(rng: &mut Rng, target: usize) -> String {
    let service = SERVICES[rng.below(SERVICES.len())];
    let mut out = Workflow {
        rng,
        text: String::with_capacity(target + 1024),
        service,
        jobs: Vec::new(),
    };
    out.header();
    while out.text.len() < target || out.jobs.is_empty() {
        out.job(target);
    }
    out.text
}

struct Workflow<'r> {
    rng: &'r mut Rng,
    text: String,
    service: &'static str,
    /// Earlier jobs, each with the output it declares.
    jobs: Vec<String>,
}

impl Workflow<'_> {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn sentence(&mut self, words: usize) -> String {
        sentence(self.rng, words)
    }

    fn header(&mut self) {
        let service = self.service;
        let comment = self.sentence(10);
        self.line(&format!("# {comment}"));
        let title = self.sentence(5);
        self.line(&format!("name: \"{service}: {title}\""));
        self.line("on:");
        self.line("  push:");
        self.line("    branches: [main]");
        self.line("  pull_request:");
        self.line("  workflow_dispatch:");
        self.line("    inputs:");
        self.line("      region:");
        self.line("        description: Region the change applies to.");
        self.line("        type: choice");
        self.line("        options: [eu-west-1, us-east-1, ap-south-1]");
        self.line("        default: eu-west-1");
        self.line("      replicas:");
        let s = self.sentence(6);
        self.line(&format!("        description: {s}"));
        self.line("        type: string");
        self.line("        default: \"3\"");
        self.line("permissions:");
        self.line("  contents: read");
        self.line("concurrency:");
        self.line("  group: ${{ github.workflow }}-${{ github.ref }}");
        self.line("  cancel-in-progress: true");
        self.line("env:");
        self.line(&format!("  ENV_FILE: .env.{service}"));
        self.line(&format!(
            "  BASE_URL: https://{service}.internal.example.com"
        ));
        self.line("jobs:");
    }

    /// A job of a few steps, fewer if the workflow reaches `target` bytes first.
    fn job(&mut self, target: usize) {
        let id = format!("job_{}", self.jobs.len() + 1);
        let title = self.sentence(4);
        self.line(&format!("  {id}:"));
        self.line(&format!("    name: \"{title}\""));
        self.line("    runs-on: ubuntu-latest");
        let minutes = 5 + self.rng.below(25);
        self.line(&format!("    timeout-minutes: {minutes}"));
        if let Some(last) = self.jobs.last().cloned() {
            self.line(&format!("    needs: [{last}]"));
        }
        if self.rng.below(4) == 0 {
            self.line("    if: ${{ github.event_name != 'pull_request' }}");
        }
        if self.rng.below(4) == 0 {
            // A person approves the job before it starts: the manual gate.
            self.line("    environment: production");
        }
        let first = format!("check_{}_1", self.service);
        self.line("    outputs:");
        self.line(&format!(
            "      status: ${{{{ steps.{first}.outputs.status }}}}"
        ));
        self.line("    steps:");
        self.line("      - uses: actions/checkout@v5");
        self.http_get(&first);
        let steps = 3 + self.rng.below(5);
        for n in 2..=steps {
            if self.text.len() >= target {
                break;
            }
            let step = format!("{}_{}", self.service, n);
            match self.rng.below(6) {
                0 => self.http_post(&step),
                1 => self.command(&step),
                2 => self.set_setting(&step),
                3 => self.read_setting(&step),
                4 => self.wait_for(&step),
                _ => self.http_get(&format!("check_{step}")),
            }
        }
        self.jobs.push(id);
    }

    fn when(&mut self) {
        if self.rng.below(6) == 0 {
            self.line("        if: ${{ inputs.region == 'eu-west-1' }}");
        }
    }

    fn http_get(&mut self, id: &str) {
        let title = self.sentence(5);
        let path = PATHS[self.rng.below(PATHS.len())];
        self.line(&format!("      - name: \"{title}\""));
        self.line(&format!("        id: {id}"));
        self.when();
        self.line("        env:");
        self.line("          API_TOKEN: ${{ secrets.API_TOKEN }}");
        if let Some(last) = self.jobs.last().cloned() {
            self.line(&format!(
                "          PREVIOUS: ${{{{ needs.{last}.outputs.status }}}}"
            ));
        }
        self.line("        run: |");
        self.line(&format!(
            "          body=\"$(curl -fsS -H \"Authorization: Bearer $API_TOKEN\" \"$BASE_URL/{path}\")\""
        ));
        self.line(
            "          echo \"$body\" | jq -e '.success == true and (.errors | length) == 0'",
        );
        let s = self.sentence(9);
        self.line(&format!("          echo \"{s}\""));
        self.line("          echo \"status=$(echo \"$body\" | jq -r .result.status)\" >> \"$GITHUB_OUTPUT\"");
    }

    fn http_post(&mut self, id: &str) {
        let title = self.sentence(5);
        let path = PATHS[self.rng.below(PATHS.len())];
        let reason = self.sentence(6);
        self.line(&format!("      - name: \"{title}\""));
        self.line(&format!("        id: update_{id}"));
        self.when();
        self.line("        env:");
        self.line("          API_TOKEN: ${{ secrets.API_TOKEN }}");
        self.line("          REPLICAS: ${{ inputs.replicas }}");
        self.line("        run: |");
        self.line("          curl -fsS -X POST -H \"Authorization: Bearer $API_TOKEN\" \\");
        self.line("            -H 'Content-Type: application/json' \\");
        self.line(&format!(
            "            -d \"{{\\\"replicas\\\": \\\"$REPLICAS\\\", \\\"reason\\\": \\\"{reason}\\\"}}\" \\"
        ));
        self.line(&format!("            \"$BASE_URL/{path}\""));
    }

    fn command(&mut self, id: &str) {
        let title = self.sentence(5);
        let service = self.service;
        self.line(&format!("      - name: \"{title}\""));
        self.line(&format!("        id: run_{id}"));
        self.when();
        self.line(&format!("        working-directory: /srv/{service}"));
        self.line("        env:");
        self.line("          VALUE: ${{ github.sha }}");
        self.line("          REGION: ${{ inputs.region }}");
        self.line("        run: |");
        self.line(
            "          test -n \"$VALUE\" && echo \"checked $VALUE in $REGION\" | grep -q checked",
        );
        self.line(&format!("          systemctl is-active {service}"));
    }

    fn set_setting(&mut self, id: &str) {
        let title = self.sentence(5);
        let key = SETTINGS[self.rng.below(SETTINGS.len())];
        self.line(&format!("      - name: \"{title}\""));
        self.line(&format!("        id: set_{id}"));
        self.line("        env:");
        self.line("          NEW_VALUE: ${{ inputs.replicas }}");
        self.line("        run: |");
        self.line(&format!(
            "          sed -i \"s/^{key}=.*/{key}=$NEW_VALUE/\" \"$ENV_FILE\""
        ));
    }

    fn read_setting(&mut self, id: &str) {
        let title = self.sentence(5);
        let key = SETTINGS[self.rng.below(SETTINGS.len())];
        self.line(&format!("      - name: \"{title}\""));
        self.line(&format!("        id: read_{id}"));
        self.line("        run: |");
        self.line(&format!(
            "          value=\"$(grep -m1 '^{key}=' \"$ENV_FILE\" | cut -d= -f2-)\""
        ));
        self.line("          echo \"::add-mask::$value\"");
        self.line("          echo \"value=$value\" >> \"$GITHUB_OUTPUT\"");
    }

    fn wait_for(&mut self, id: &str) {
        let title = self.sentence(5);
        let path = PATHS[self.rng.below(PATHS.len())];
        self.line(&format!("      - name: \"{title}\""));
        self.line(&format!("        id: wait_{id}"));
        self.line("        timeout-minutes: 3");
        self.line("        run: |");
        self.line(&format!(
            "          until curl -fsS -o /dev/null \"$BASE_URL/{path}\"; do sleep 5; done"
        ));
    }
}
