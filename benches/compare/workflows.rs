//! GitHub Actions workflows for actionlint, written to a given size out of the same
//! vocabulary as the generated runbooks and doing the same kinds of work: HTTP
//! checks and changes (`curl`, with the check written out), commands with
//! environment and working directory, settings written and read, a wait, a manual
//! approval (an environment), jobs that need earlier jobs and read their outputs,
//! expressions reading inputs, secrets and earlier steps. Every one is clean under
//! actionlint, so it reads all of it.

use super::rng::Rng;
use super::runbooks::{PATHS, SERVICES, SETTINGS};
use super::text::Text;

/// A workflow of at least `target` bytes (and a step's few hundred more at most).
pub fn workflow(rng: &mut Rng, target: usize) -> String {
    let service = SERVICES[rng.below(SERVICES.len())];
    let mut out = Workflow {
        text: Text::new(rng, target + 1024),
        service,
        jobs: Vec::new(),
    };
    out.header();
    while out.text.out.len() < target || out.jobs.is_empty() {
        out.job(target);
    }
    out.text.out
}

struct Workflow<'r> {
    text: Text<'r>,
    service: &'static str,
    /// Earlier jobs, each with the output it declares.
    jobs: Vec<String>,
}

impl Workflow<'_> {
    fn header(&mut self) {
        let service = self.service;
        let comment = self.text.sentence(10);
        self.text.line(&format!("# {comment}"));
        let title = self.text.sentence(5);
        self.text.line(&format!("name: \"{service}: {title}\""));
        self.text.line("on:");
        self.text.line("  push:");
        self.text.line("    branches: [main]");
        self.text.line("  pull_request:");
        self.text.line("  workflow_dispatch:");
        self.text.line("    inputs:");
        self.text.line("      region:");
        self.text
            .line("        description: Region the change applies to.");
        self.text.line("        type: choice");
        self.text
            .line("        options: [eu-west-1, us-east-1, ap-south-1]");
        self.text.line("        default: eu-west-1");
        self.text.line("      replicas:");
        let s = self.text.sentence(6);
        self.text.line(&format!("        description: {s}"));
        self.text.line("        type: string");
        self.text.line("        default: \"3\"");
        self.text.line("permissions:");
        self.text.line("  contents: read");
        self.text.line("concurrency:");
        self.text
            .line("  group: ${{ github.workflow }}-${{ github.ref }}");
        self.text.line("  cancel-in-progress: true");
        self.text.line("env:");
        self.text.line(&format!("  ENV_FILE: .env.{service}"));
        self.text.line(&format!(
            "  BASE_URL: https://{service}.internal.example.com"
        ));
        self.text.line("jobs:");
    }

    /// A job of a few steps, fewer if the workflow reaches `target` bytes first.
    fn job(&mut self, target: usize) {
        let id = format!("job_{}", self.jobs.len() + 1);
        let title = self.text.sentence(4);
        self.text.line(&format!("  {id}:"));
        self.text.line(&format!("    name: \"{title}\""));
        self.text.line("    runs-on: ubuntu-latest");
        let minutes = 5 + self.text.below(25);
        self.text.line(&format!("    timeout-minutes: {minutes}"));
        if let Some(last) = self.jobs.last().cloned() {
            self.text.line(&format!("    needs: [{last}]"));
        }
        if self.text.below(4) == 0 {
            self.text
                .line("    if: ${{ github.event_name != 'pull_request' }}");
        }
        if self.text.below(4) == 0 {
            // A person approves the job before it starts: the manual gate.
            self.text.line("    environment: production");
        }
        let first = format!("check_{}_1", self.service);
        self.text.line("    outputs:");
        self.text.line(&format!(
            "      status: ${{{{ steps.{first}.outputs.status }}}}"
        ));
        self.text.line("    steps:");
        self.text.line("      - uses: actions/checkout@v5");
        self.http_get(&first);
        let steps = 3 + self.text.below(5);
        for n in 2..=steps {
            if self.text.out.len() >= target {
                break;
            }
            let step = format!("{}_{}", self.service, n);
            match self.text.below(6) {
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
        if self.text.below(6) == 0 {
            self.text
                .line("        if: ${{ inputs.region == 'eu-west-1' }}");
        }
    }

    fn http_get(&mut self, id: &str) {
        let title = self.text.sentence(5);
        let path = self.text.pick(PATHS);
        self.text.line(&format!("      - name: \"{title}\""));
        self.text.line(&format!("        id: {id}"));
        self.when();
        self.text.line("        env:");
        self.text
            .line("          API_TOKEN: ${{ secrets.API_TOKEN }}");
        if let Some(last) = self.jobs.last().cloned() {
            self.text.line(&format!(
                "          PREVIOUS: ${{{{ needs.{last}.outputs.status }}}}"
            ));
        }
        self.text.line("        run: |");
        self.text.line(&format!(
            "          body=\"$(curl -fsS -H \"Authorization: Bearer $API_TOKEN\" \"$BASE_URL/{path}\")\""
        ));
        self.text.line(
            "          echo \"$body\" | jq -e '.success == true and (.errors | length) == 0'",
        );
        let s = self.text.sentence(9);
        self.text.line(&format!("          echo \"{s}\""));
        self.text.line("          echo \"status=$(echo \"$body\" | jq -r .result.status)\" >> \"$GITHUB_OUTPUT\"");
    }

    fn http_post(&mut self, id: &str) {
        let title = self.text.sentence(5);
        let path = self.text.pick(PATHS);
        let reason = self.text.sentence(6);
        self.text.line(&format!("      - name: \"{title}\""));
        self.text.line(&format!("        id: update_{id}"));
        self.when();
        self.text.line("        env:");
        self.text
            .line("          API_TOKEN: ${{ secrets.API_TOKEN }}");
        self.text.line("          REPLICAS: ${{ inputs.replicas }}");
        self.text.line("        run: |");
        self.text
            .line("          curl -fsS -X POST -H \"Authorization: Bearer $API_TOKEN\" \\");
        self.text
            .line("            -H 'Content-Type: application/json' \\");
        self.text.line(&format!(
            "            -d \"{{\\\"replicas\\\": \\\"$REPLICAS\\\", \\\"reason\\\": \\\"{reason}\\\"}}\" \\"
        ));
        self.text.line(&format!("            \"$BASE_URL/{path}\""));
    }

    fn command(&mut self, id: &str) {
        let title = self.text.sentence(5);
        let service = self.service;
        self.text.line(&format!("      - name: \"{title}\""));
        self.text.line(&format!("        id: run_{id}"));
        self.when();
        self.text
            .line(&format!("        working-directory: /srv/{service}"));
        self.text.line("        env:");
        self.text.line("          VALUE: ${{ github.sha }}");
        self.text.line("          REGION: ${{ inputs.region }}");
        self.text.line("        run: |");
        self.text.line(
            "          test -n \"$VALUE\" && echo \"checked $VALUE in $REGION\" | grep -q checked",
        );
        self.text
            .line(&format!("          systemctl is-active {service}"));
    }

    fn set_setting(&mut self, id: &str) {
        let title = self.text.sentence(5);
        let key = self.text.pick(SETTINGS);
        self.text.line(&format!("      - name: \"{title}\""));
        self.text.line(&format!("        id: set_{id}"));
        self.text.line("        env:");
        self.text
            .line("          NEW_VALUE: ${{ inputs.replicas }}");
        self.text.line("        run: |");
        self.text.line(&format!(
            "          sed -i \"s/^{key}=.*/{key}=$NEW_VALUE/\" \"$ENV_FILE\""
        ));
    }

    fn read_setting(&mut self, id: &str) {
        let title = self.text.sentence(5);
        let key = self.text.pick(SETTINGS);
        self.text.line(&format!("      - name: \"{title}\""));
        self.text.line(&format!("        id: read_{id}"));
        self.text.line("        run: |");
        self.text.line(&format!(
            "          value=\"$(grep -m1 '^{key}=' \"$ENV_FILE\" | cut -d= -f2-)\""
        ));
        self.text.line("          echo \"::add-mask::$value\"");
        self.text
            .line("          echo \"value=$value\" >> \"$GITHUB_OUTPUT\"");
    }

    fn wait_for(&mut self, id: &str) {
        let title = self.text.sentence(5);
        let path = self.text.pick(PATHS);
        self.text.line(&format!("      - name: \"{title}\""));
        self.text.line(&format!("        id: wait_{id}"));
        self.text.line("        timeout-minutes: 3");
        self.text.line("        run: |");
        self.text.line(&format!(
            "          until curl -fsS -o /dev/null \"$BASE_URL/{path}\"; do sleep 5; done"
        ));
    }
}
