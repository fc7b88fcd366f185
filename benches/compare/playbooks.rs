//! Ansible playbooks for `ansible-playbook --syntax-check`, written to a given size
//! out of the same vocabulary as the generated runbooks and with a task for each of
//! their step kinds, in the modules Ansible has for them: a manual step is a
//! `pause` with the instructions, an HTTP check or change is `uri` with its
//! `status_code` and an `assert` on the JSON, a command is `command` with its
//! environment and `failed_when`, a setting written or read is `lineinfile` or a
//! `grep` with `no_log`, a wait is `uri` with `until`, a prompt is `pause` with a
//! prompt, and the rollback is a `rescue` that puts the settings back. Only
//! `ansible.builtin` modules, so ansible-core alone resolves every one.

use super::rng::Rng;
use super::runbooks::{PATHS, SERVICES, SETTINGS};
use super::text::Text;

/// A playbook of at least `target` bytes (and a few hundred more at most).
pub fn playbook(rng: &mut Rng, target: usize) -> String {
    let service = SERVICES[rng.below(SERVICES.len())];
    let mut out = Playbook {
        text: Text::new(rng, target + 1024),
        service,
        tasks: 0,
        settings: Vec::new(),
    };
    out.header();
    // The rescue section comes after every task; leave it room.
    while out.text.out.len() + 150 * (out.settings.len() + 1) < target || out.tasks == 0 {
        out.task();
    }
    out.rescue();
    out.text.out
}

struct Playbook<'r> {
    text: Text<'r>,
    service: &'static str,
    tasks: usize,
    /// The registers of the settings written so far, whose backups the rescue puts back.
    settings: Vec<String>,
}

/// Tasks sit in the `block` of the play's one task: eight spaces in.
const IN: &str = "        ";

impl Playbook<'_> {
    fn header(&mut self) {
        let service = self.service;
        let comment = self.text.sentence(10);
        self.text.line(&format!("# {comment}"));
        let title = self.text.sentence(5);
        self.text.line(&format!("- name: \"{service}: {title}\""));
        self.text.line("  hosts: all");
        self.text.line("  gather_facts: false");
        self.text.line("  vars:");
        self.text.line(&format!("    env_file: .env.{service}"));
        self.text.line(&format!(
            "    base_url: \"https://{service}.internal.example.com\""
        ));
        self.text.line("    region: eu-west-1");
        self.text.line("    replicas: \"3\"");
        self.text.line("  vars_prompt:");
        self.text.line("    - name: api_token");
        self.text
            .line(&format!("      prompt: Paste the {service} API token"));
        self.text.line("      private: true");
        self.text.line("  tasks:");
        self.text
            .line("    - name: The procedure, put back on failure");
        self.text.line("      block:");
    }

    fn task(&mut self) {
        self.tasks += 1;
        let id = format!("{}_{}", self.service, self.tasks);
        let title = self.text.sentence(5);
        self.text.line(&format!("{IN}- name: \"{title}\""));
        if self.tasks > 1 && self.text.below(8) == 0 {
            self.text
                .line(&format!("{IN}  when: region == 'eu-west-1'"));
        }
        match self.text.below(20) {
            0..=4 => self.manual(),
            5..=8 => self.http_get(&id),
            9 | 10 => self.http_post(&id),
            11..=13 => self.command(&id),
            14 | 15 => self.set_setting(&id),
            16 | 17 => self.read_setting(&id),
            18 => self.wait_for(),
            _ => self.prompt(&id),
        }
    }

    fn manual(&mut self) {
        self.text.line(&format!("{IN}  ansible.builtin.pause:"));
        self.text.line(&format!("{IN}    prompt: |"));
        for n in 1..=2 + self.text.below(5) {
            let words = 6 + self.text.below(8);
            let s = self.text.sentence(words);
            self.text
                .line(&format!("{IN}      {n}. {s} See {{{{ base_url }}}}."));
        }
    }

    fn http_get(&mut self, id: &str) {
        let path = self.text.pick(PATHS);
        self.text.line(&format!("{IN}  ansible.builtin.uri:"));
        self.text
            .line(&format!("{IN}    url: \"{{{{ base_url }}}}/{path}\""));
        self.text.line(&format!("{IN}    headers:"));
        self.text.line(&format!(
            "{IN}      Authorization: \"Bearer {{{{ api_token }}}}\""
        ));
        self.text
            .line(&format!("{IN}      Accept: application/json"));
        self.text.line(&format!("{IN}    status_code: 200"));
        self.text.line(&format!("{IN}    return_content: true"));
        self.text.line(&format!("{IN}    timeout: 10"));
        self.text.line(&format!("{IN}  register: check_{id}"));
        self.text.line(&format!("{IN}  retries: 3"));
        self.text.line(&format!("{IN}  delay: 2"));
        self.text
            .line(&format!("{IN}  until: check_{id}.status == 200"));
        let title = self.text.sentence(5);
        let message = self.text.sentence(9);
        self.text.line(&format!("{IN}- name: \"{title}\""));
        self.text.line(&format!("{IN}  ansible.builtin.assert:"));
        self.text.line(&format!("{IN}    that:"));
        self.text
            .line(&format!("{IN}      - check_{id}.json.success"));
        self.text.line(&format!(
            "{IN}      - check_{id}.json.result.status == 'active'"
        ));
        self.text
            .line(&format!("{IN}      - check_{id}.json.errors | length == 0"));
        self.text.line(&format!("{IN}    fail_msg: \"{message}\""));
    }

    fn http_post(&mut self, id: &str) {
        let path = self.text.pick(PATHS);
        let method = ["POST", "PUT", "PATCH"][self.text.below(3)];
        let reason = self.text.sentence(6);
        self.text.line(&format!("{IN}  ansible.builtin.uri:"));
        self.text
            .line(&format!("{IN}    url: \"{{{{ base_url }}}}/{path}\""));
        self.text.line(&format!("{IN}    method: {method}"));
        self.text.line(&format!("{IN}    headers:"));
        self.text.line(&format!(
            "{IN}      Authorization: \"Bearer {{{{ api_token }}}}\""
        ));
        self.text.line(&format!("{IN}    body_format: json"));
        self.text.line(&format!("{IN}    body:"));
        self.text
            .line(&format!("{IN}      name: \"{{{{ env_file }}}}\""));
        self.text
            .line(&format!("{IN}      replicas: \"{{{{ replicas }}}}\""));
        self.text.line(&format!("{IN}      reason: {reason}"));
        self.text
            .line(&format!("{IN}    status_code: [200, 201, 204]"));
        self.text.line(&format!("{IN}  register: update_{id}"));
    }

    fn command(&mut self, id: &str) {
        let service = self.service;
        self.text.line(&format!("{IN}  ansible.builtin.command:"));
        self.text.line(&format!(
            "{IN}    cmd: sh -c 'test -n \"$VALUE\" && echo \"checked $VALUE in $REGION\"'"
        ));
        self.text.line(&format!("{IN}    chdir: /srv/{service}"));
        self.text.line(&format!("{IN}  environment:"));
        self.text
            .line(&format!("{IN}    VALUE: \"{{{{ replicas }}}}\""));
        self.text
            .line(&format!("{IN}    REGION: \"{{{{ region }}}}\""));
        self.text.line(&format!("{IN}  register: run_{id}"));
        self.text.line(&format!("{IN}  changed_when: false"));
        self.text.line(&format!(
            "{IN}  failed_when: run_{id}.rc != 0 or 'checked' not in run_{id}.stdout"
        ));
    }

    fn set_setting(&mut self, id: &str) {
        let key = self.text.pick(SETTINGS);
        self.text
            .line(&format!("{IN}  ansible.builtin.lineinfile:"));
        self.text
            .line(&format!("{IN}    path: \"{{{{ env_file }}}}\""));
        self.text.line(&format!("{IN}    regexp: \"^{key}=\""));
        self.text
            .line(&format!("{IN}    line: \"{key}={{{{ replicas }}}}\""));
        self.text.line(&format!("{IN}    backup: true"));
        self.text.line(&format!("{IN}  register: set_{id}"));
        self.settings.push(format!("set_{id}"));
    }

    fn read_setting(&mut self, id: &str) {
        let key = self.text.pick(SETTINGS);
        self.text.line(&format!("{IN}  ansible.builtin.command:"));
        self.text.line(&format!(
            "{IN}    cmd: grep -m1 '^{key}=' \"{{{{ env_file }}}}\""
        ));
        self.text.line(&format!("{IN}  register: read_{id}"));
        self.text.line(&format!("{IN}  changed_when: false"));
        self.text.line(&format!("{IN}  no_log: true"));
    }

    fn wait_for(&mut self) {
        let path = self.text.pick(PATHS);
        self.text.line(&format!("{IN}  ansible.builtin.uri:"));
        self.text
            .line(&format!("{IN}    url: \"{{{{ base_url }}}}/{path}\""));
        self.text.line(&format!("{IN}    status_code: 200"));
        self.text.line(&format!("{IN}  register: waited"));
        self.text
            .line(&format!("{IN}  until: waited.status == 200"));
        self.text.line(&format!("{IN}  retries: 36"));
        self.text.line(&format!("{IN}  delay: 5"));
    }

    fn prompt(&mut self, id: &str) {
        let s = self.text.sentence(6);
        self.text.line(&format!("{IN}  ansible.builtin.pause:"));
        self.text
            .line(&format!("{IN}    prompt: \"{s} (yes-continue or stop)\""));
        self.text.line(&format!("{IN}  register: ask_{id}"));
        let title = self.text.sentence(4);
        self.text.line(&format!("{IN}- name: \"{title}\""));
        self.text.line(&format!("{IN}  ansible.builtin.assert:"));
        self.text.line(&format!(
            "{IN}    that: ask_{id}.user_input in ['yes-continue', 'stop']"
        ));
    }

    fn rescue(&mut self) {
        self.text.line("      rescue:");
        self.text.line("        - name: Say what failed");
        self.text.line("          ansible.builtin.debug:");
        self.text.line(
            "            msg: \"{{ ansible_failed_task.name }} failed; putting the settings back\"",
        );
        let settings = std::mem::take(&mut self.settings);
        for register in settings {
            self.text.line(&format!(
                "        - name: Put back what {register} replaced"
            ));
            self.text
                .line(&format!("          when: {register}.backup is defined"));
            self.text.line("          ansible.builtin.copy:");
            self.text
                .line(&format!("            src: \"{{{{ {register}.backup }}}}\""));
            self.text.line("            dest: \"{{ env_file }}\"");
            self.text.line("            remote_src: true");
        }
    }
}
