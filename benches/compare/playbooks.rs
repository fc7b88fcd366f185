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
use super::runbooks::{PATHS, SERVICES, SETTINGS, sentence};

/// A playbook of at least `target` bytes (and a few hundred more at most).
pub fn playbook(rng: &mut Rng, target: usize) -> String {
    let service = SERVICES[rng.below(SERVICES.len())];
    let mut out = Playbook {
        rng,
        text: String::with_capacity(target + 1024),
        service,
        tasks: 0,
        settings: Vec::new(),
    };
    out.header();
    // The rescue section comes after every task; leave it room.
    while out.text.len() + 150 * (out.settings.len() + 1) < target || out.tasks == 0 {
        out.task();
    }
    out.rescue();
    out.text
}

struct Playbook<'r> {
    rng: &'r mut Rng,
    text: String,
    service: &'static str,
    tasks: usize,
    /// The registers of the settings written so far, whose backups the rescue puts back.
    settings: Vec<String>,
}

/// Tasks sit in the `block` of the play's one task: eight spaces in.
const IN: &str = "        ";

impl Playbook<'_> {
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
        self.line(&format!("- name: \"{service}: {title}\""));
        self.line("  hosts: all");
        self.line("  gather_facts: false");
        self.line("  vars:");
        self.line(&format!("    env_file: .env.{service}"));
        self.line(&format!(
            "    base_url: \"https://{service}.internal.example.com\""
        ));
        self.line("    region: eu-west-1");
        self.line("    replicas: \"3\"");
        self.line("  vars_prompt:");
        self.line("    - name: api_token");
        self.line(&format!("      prompt: Paste the {service} API token"));
        self.line("      private: true");
        self.line("  tasks:");
        self.line("    - name: The procedure, put back on failure");
        self.line("      block:");
    }

    fn task(&mut self) {
        self.tasks += 1;
        let id = format!("{}_{}", self.service, self.tasks);
        let title = self.sentence(5);
        self.line(&format!("{IN}- name: \"{title}\""));
        if self.tasks > 1 && self.rng.below(8) == 0 {
            self.line(&format!("{IN}  when: region == 'eu-west-1'"));
        }
        match self.rng.below(20) {
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
        self.line(&format!("{IN}  ansible.builtin.pause:"));
        self.line(&format!("{IN}    prompt: |"));
        for n in 1..=2 + self.rng.below(5) {
            let words = 6 + self.rng.below(8);
            let s = self.sentence(words);
            self.line(&format!("{IN}      {n}. {s} See {{{{ base_url }}}}."));
        }
    }

    fn http_get(&mut self, id: &str) {
        let path = PATHS[self.rng.below(PATHS.len())];
        self.line(&format!("{IN}  ansible.builtin.uri:"));
        self.line(&format!("{IN}    url: \"{{{{ base_url }}}}/{path}\""));
        self.line(&format!("{IN}    headers:"));
        self.line(&format!(
            "{IN}      Authorization: \"Bearer {{{{ api_token }}}}\""
        ));
        self.line(&format!("{IN}      Accept: application/json"));
        self.line(&format!("{IN}    status_code: 200"));
        self.line(&format!("{IN}    return_content: true"));
        self.line(&format!("{IN}    timeout: 10"));
        self.line(&format!("{IN}  register: check_{id}"));
        self.line(&format!("{IN}  retries: 3"));
        self.line(&format!("{IN}  delay: 2"));
        self.line(&format!("{IN}  until: check_{id}.status == 200"));
        let title = self.sentence(5);
        let message = self.sentence(9);
        self.line(&format!("{IN}- name: \"{title}\""));
        self.line(&format!("{IN}  ansible.builtin.assert:"));
        self.line(&format!("{IN}    that:"));
        self.line(&format!("{IN}      - check_{id}.json.success"));
        self.line(&format!(
            "{IN}      - check_{id}.json.result.status == 'active'"
        ));
        self.line(&format!("{IN}      - check_{id}.json.errors | length == 0"));
        self.line(&format!("{IN}    fail_msg: \"{message}\""));
    }

    fn http_post(&mut self, id: &str) {
        let path = PATHS[self.rng.below(PATHS.len())];
        let method = ["POST", "PUT", "PATCH"][self.rng.below(3)];
        let reason = self.sentence(6);
        self.line(&format!("{IN}  ansible.builtin.uri:"));
        self.line(&format!("{IN}    url: \"{{{{ base_url }}}}/{path}\""));
        self.line(&format!("{IN}    method: {method}"));
        self.line(&format!("{IN}    headers:"));
        self.line(&format!(
            "{IN}      Authorization: \"Bearer {{{{ api_token }}}}\""
        ));
        self.line(&format!("{IN}    body_format: json"));
        self.line(&format!("{IN}    body:"));
        self.line(&format!("{IN}      name: \"{{{{ env_file }}}}\""));
        self.line(&format!("{IN}      replicas: \"{{{{ replicas }}}}\""));
        self.line(&format!("{IN}      reason: {reason}"));
        self.line(&format!("{IN}    status_code: [200, 201, 204]"));
        self.line(&format!("{IN}  register: update_{id}"));
    }

    fn command(&mut self, id: &str) {
        let service = self.service;
        self.line(&format!("{IN}  ansible.builtin.command:"));
        self.line(&format!(
            "{IN}    cmd: sh -c 'test -n \"$VALUE\" && echo \"checked $VALUE in $REGION\"'"
        ));
        self.line(&format!("{IN}    chdir: /srv/{service}"));
        self.line(&format!("{IN}  environment:"));
        self.line(&format!("{IN}    VALUE: \"{{{{ replicas }}}}\""));
        self.line(&format!("{IN}    REGION: \"{{{{ region }}}}\""));
        self.line(&format!("{IN}  register: run_{id}"));
        self.line(&format!("{IN}  changed_when: false"));
        self.line(&format!(
            "{IN}  failed_when: run_{id}.rc != 0 or 'checked' not in run_{id}.stdout"
        ));
    }

    fn set_setting(&mut self, id: &str) {
        let key = SETTINGS[self.rng.below(SETTINGS.len())];
        self.line(&format!("{IN}  ansible.builtin.lineinfile:"));
        self.line(&format!("{IN}    path: \"{{{{ env_file }}}}\""));
        self.line(&format!("{IN}    regexp: \"^{key}=\""));
        self.line(&format!("{IN}    line: \"{key}={{{{ replicas }}}}\""));
        self.line(&format!("{IN}    backup: true"));
        self.line(&format!("{IN}  register: set_{id}"));
        self.settings.push(format!("set_{id}"));
    }

    fn read_setting(&mut self, id: &str) {
        let key = SETTINGS[self.rng.below(SETTINGS.len())];
        self.line(&format!("{IN}  ansible.builtin.command:"));
        self.line(&format!(
            "{IN}    cmd: grep -m1 '^{key}=' \"{{{{ env_file }}}}\""
        ));
        self.line(&format!("{IN}  register: read_{id}"));
        self.line(&format!("{IN}  changed_when: false"));
        self.line(&format!("{IN}  no_log: true"));
    }

    fn wait_for(&mut self) {
        let path = PATHS[self.rng.below(PATHS.len())];
        self.line(&format!("{IN}  ansible.builtin.uri:"));
        self.line(&format!("{IN}    url: \"{{{{ base_url }}}}/{path}\""));
        self.line(&format!("{IN}    status_code: 200"));
        self.line(&format!("{IN}  register: waited"));
        self.line(&format!("{IN}  until: waited.status == 200"));
        self.line(&format!("{IN}  retries: 36"));
        self.line(&format!("{IN}  delay: 5"));
    }

    fn prompt(&mut self, id: &str) {
        let s = self.sentence(6);
        self.line(&format!("{IN}  ansible.builtin.pause:"));
        self.line(&format!("{IN}    prompt: \"{s} (yes-continue or stop)\""));
        self.line(&format!("{IN}  register: ask_{id}"));
        let title = self.sentence(4);
        self.line(&format!("{IN}- name: \"{title}\""));
        self.line(&format!("{IN}  ansible.builtin.assert:"));
        self.line(&format!(
            "{IN}    that: ask_{id}.user_input in ['yes-continue', 'stop']"
        ));
    }

    fn rescue(&mut self) {
        self.line("      rescue:");
        self.line("        - name: Say what failed");
        self.line("          ansible.builtin.debug:");
        self.line(
            "            msg: \"{{ ansible_failed_task.name }} failed; putting the settings back\"",
        );
        let settings = std::mem::take(&mut self.settings);
        for register in settings {
            self.line(&format!(
                "        - name: Put back what {register} replaced"
            ));
            self.line(&format!("          when: {register}.backup is defined"));
            self.line("          ansible.builtin.copy:");
            self.line(&format!("            src: \"{{{{ {register}.backup }}}}\""));
            self.line("            dest: \"{{ env_file }}\"");
            self.line("            remote_src: true");
        }
    }
}
