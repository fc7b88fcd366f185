//! `runbook plan` through the built binary (SPEC §5): an honest dry run. A
//! loopback server counts every request and the temp directory is hashed before
//! and after, so the tests prove that `plan` requests nothing and writes nothing
//! (no `.runbook/` either) in every format; `--probe` sends only GETs; and a plan
//! artifact makes `run --plan` refuse a runbook or inputs that changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::recording::Server;
use crate::support::{Ran, binary, repo};

/// The secret the tests give through the environment; it must never be shown.
const SECRET: &str = "cfut_TOPSECRETtokenvalue_9Xy7";

/// A temp directory with runbook files, where the binary runs.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new(files: &[(&str, &str)]) -> Work {
        let work = Work {
            dir: tempfile::tempdir().expect("a temp dir"),
        };
        for (name, text) in files {
            work.write(name, text);
        }
        work
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(path, text).expect("write a test file");
    }

    /// `runbook ARGS…` here, with no `RUNBOOK_*` of the test's own environment.
    fn runbook(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let mut command = Command::new(binary());
        command
            .args(args)
            .current_dir(self.path())
            .env_remove("NO_COLOR")
            .stdin(Stdio::null());
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("RUNBOOK_") {
                command.env_remove(key);
            }
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("run the runbook binary");
        Ran {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    fn expect(&self, args: &[&str], env: &[(&str, &str)], status: i32) -> Ran {
        let ran = self.runbook(args, env);
        assert_eq!(
            ran.status, status,
            "exit status of {args:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            ran.stdout, ran.stderr
        );
        ran
    }

    /// Every file and directory below the temp dir with the SHA-256 of its
    /// contents (and its permissions), to compare before and after.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .expect("read a dir")
                .flatten()
                .collect();
            entries.sort_by_key(std::fs::DirEntry::path);
            for entry in entries {
                let path = entry.path();
                let relative = path.strip_prefix(root).expect("below root").to_path_buf();
                let metadata = std::fs::symlink_metadata(&path).expect("metadata");
                if metadata.is_dir() {
                    out.insert(relative, "dir".to_owned());
                    walk(root, &path, out);
                } else {
                    use std::os::unix::fs::PermissionsExt as _;
                    let bytes = std::fs::read(&path).expect("read a file");
                    let hash = format!("{:x}", Sha256::digest(&bytes));
                    out.insert(
                        relative,
                        format!("{hash} {:o}", metadata.permissions().mode()),
                    );
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.path(), self.path(), &mut out);
        out
    }
}

/// A runbook with every kind of action, a secret input, a missing input, an
/// irreversible step, a rollback and a child; `@BASE@` is the server.
const FULL: &str = r#"
runbook: full
title: Rotate a token
owner: platform
priority: P1
estimate: 15m
inputs:
  env_file: { default: .env.auth }
  api_base: { default: "@BASE@" }
  restart_command: { default: "touch restarted.marker" }
  new_token: { secret: true, prompt: Paste the new token }
  ticket: { description: The change ticket }
steps:
  - id: create_token
    title: Create a new token
    manual: |
      Create the token for ticket {{ inputs.ticket }}.
      Copy it now.
  - id: old_token
    title: Read the old token
    secret: true
    read_setting: { file: "{{ inputs.env_file }}", key: CLOUDFLARE_API_TOKEN }
  - id: test_new_token
    title: Test the new token
    needs: [create_token]
    http:
      url: "{{ inputs.api_base }}/user/tokens/verify"
      bearer: "{{ inputs.new_token }}"
    expect:
      status: 200
      json: { result.status: active }
  - id: identify_old
    title: Identify the old token
    http:
      url: "{{ inputs.api_base }}/user/tokens/verify"
      bearer: "{{ steps.old_token.value }}"
    outputs:
      token_id: "{{ steps.identify_old.json.result.id }}"
  - id: save_token
    title: Save the new token
    needs: [test_new_token]
    set_setting: { file: "{{ inputs.env_file }}", key: CLOUDFLARE_API_TOKEN, value: "{{ inputs.new_token }}" }
  - id: restart
    title: Restart the platform
    needs: [save_token]
    effect: change
    command: "{{ inputs.restart_command }}"
    wait_for:
      http: { url: "{{ inputs.api_base }}/health" }
      expect: { status: 200 }
      timeout: 5s
  - id: notify
    title: Tell the platform
    needs: [restart]
    http:
      method: POST
      url: "{{ inputs.api_base }}/notify"
      json: { token: "{{ inputs.new_token }}", ticket: "{{ inputs.ticket }}" }
  - id: verify
    title: Verify through the platform
    needs: [restart]
    http: { url: "{{ inputs.api_base }}/zones" }
    expect: { status: 200 }
  - id: revoke_old_token
    title: Revoke the old token
    needs: [identify_old, { step: verify, within: 30m }]
    effect: irreversible
    confirm:
      message: Revoke the token ending in {{ steps.old_token.value | last4 }}?
      phrase: "{{ steps.old_token.value | last4 }}"
    http:
      method: DELETE
      url: "{{ inputs.api_base }}/user/tokens/{{ steps.identify_old.outputs.token_id }}"
      bearer: "{{ steps.old_token.value }}"
  - id: child
    title: Run the follow-up
    needs: [revoke_old_token]
    runbook: child.yaml
rollback:
  - id: restore_token
    title: Put the old token back
    when: "{{ steps.save_token.outcome == 'passed' }}"
    restore_setting: save_token
"#;

const CHILD: &str = r#"
runbook: child
title: Follow-up
steps:
  - id: child_check
    title: Check the platform from the child
    http: { url: "{{ inputs.base }}/health" }
inputs:
  base: { default: "http://127.0.0.1:9" }
"#;

fn full(server: &Server) -> Work {
    Work::new(&[
        ("full.yaml", &FULL.replace("@BASE@", &server.url())),
        ("child.yaml", CHILD),
        (
            ".env.auth",
            "CLOUDFLARE_API_TOKEN=cfut_old_value_1234\nOTHER=1\n",
        ),
    ])
}

#[test]
fn plan_requests_nothing_and_writes_nothing_in_any_format() {
    let server = Server::start(&[
        (
            "GET /user/tokens/verify",
            200,
            json!({"result": {"status": "active"}}),
        ),
        ("GET /health", 200, json!({})),
        ("GET /zones", 200, json!({})),
    ]);
    let work = full(&server);
    let before = work.snapshot();
    for format in ["human", "markdown", "json"] {
        let ran = work.expect(
            &[
                "plan",
                "full.yaml",
                "--format",
                format,
                "--set",
                "ticket=CHG-1",
            ],
            &[("RUNBOOK_INPUT_NEW_TOKEN", SECRET)],
            0,
        );
        assert!(ran.stdout.contains("revoke_old_token"), "{}", ran.stdout);
        assert_eq!(
            server.seen(),
            Vec::<String>::new(),
            "plan sent a request ({format})"
        );
        assert_eq!(
            work.snapshot(),
            before,
            "plan changed the directory ({format})"
        );
        assert!(!work.path().join(".runbook").exists());
        assert!(
            !work.path().join("restarted.marker").exists(),
            "plan ran a command"
        );
    }
}

#[test]
fn unknowns_are_placeholders_and_secrets_are_masked() {
    let server = Server::start(&[]);
    let work = full(&server);
    let base = server.url();
    let env = [("RUNBOOK_INPUT_NEW_TOKEN", SECRET)];
    let human = work.expect(&["plan", "full.yaml"], &env, 0).stdout;
    let markdown = work
        .expect(&["plan", "full.yaml", "--format", "markdown"], &env, 0)
        .stdout;
    let json = work
        .expect(&["plan", "full.yaml", "--format", "json"], &env, 0)
        .stdout;
    for (format, text) in [("human", &human), ("markdown", &markdown), ("json", &json)] {
        assert!(!text.contains(SECRET), "{format} shows the secret:\n{text}");
        assert!(
            !text.contains("TOPSECRET"),
            "{format} shows part of the secret:\n{text}"
        );
        assert!(
            text.contains("••••9Xy7"),
            "{format} lacks the masked secret:\n{text}"
        );
        for needle in [
            format!("GET {base}/user/tokens/verify"),
            "set CLOUDFLARE_API_TOKEN in .env.auth".to_owned(),
            "$ touch restarted.marker".to_owned(),
            "run child child.yaml".to_owned(),
            "‹steps.old_token.value›".to_owned(),
            "‹last 4 of steps.old_token.value›".to_owned(),
            format!("DELETE {base}/user/tokens/‹steps.identify_old.outputs.token_id›"),
            "‹inputs.ticket›".to_owned(),
            "‹steps.identify_old.json.result.id›".to_owned(),
            "steps.save_token.outcome == 'passed'".to_owned(),
        ] {
            assert!(text.contains(&needle), "{format} lacks {needle:?}:\n{text}");
        }
    }
    assert!(human.contains("bearer ••••9Xy7"), "{human}");
    assert!(human.contains(" = ••••9Xy7"), "{human}");
    assert!(human.contains("⚠ IRREVERSIBLE"), "{human}");
    assert!(
        human.contains("type ‹last 4 of steps.old_token.value›"),
        "{human}"
    );
    assert!(
        human.contains("without a terminal: --confirm revoke_old_token"),
        "{human}"
    );
    assert!(human.contains("verify (passed within 30m)"), "{human}");
    assert!(
        human.contains("Create the token for ticket ‹inputs.ticket›."),
        "{human}"
    );
    assert!(
        !human.contains('\u{1b}'),
        "no colour without a terminal:\n{human}"
    );

    // An answer fills its placeholder in.
    let answered = work
        .expect(&["plan", "full.yaml", "--set", "ticket=CHG-42"], &env, 0)
        .stdout;
    assert!(answered.contains("for ticket CHG-42."), "{answered}");
    assert!(answered.contains("\"ticket\":\"CHG-42\""), "{answered}");

    // Without the secret, it is a placeholder too.
    let unknown = work.expect(&["plan", "full.yaml"], &[], 0).stdout;
    assert!(unknown.contains("bearer ‹inputs.new_token›"), "{unknown}");
}

#[test]
fn markdown_is_a_numbered_checklist_with_effects_and_gates() {
    let server = Server::start(&[]);
    let work = full(&server);
    let markdown = work
        .expect(&["plan", "full.yaml", "--format", "markdown"], &[], 0)
        .stdout;
    let items: Vec<&str> = markdown
        .lines()
        .filter(|l| l.starts_with("- [ ] "))
        .collect();
    let ids = [
        "create_token",
        "old_token",
        "test_new_token",
        "identify_old",
        "save_token",
        "restart",
        "notify",
        "verify",
        "revoke_old_token",
        "child",
        "restore_token",
    ];
    assert_eq!(items.len(), ids.len(), "{markdown}");
    for (index, id) in ids.iter().take(10).enumerate() {
        let prefix = format!("- [ ] {}. **", index + 1);
        assert!(items[index].starts_with(&prefix), "{}", items[index]);
        assert!(
            items[index].contains(&format!("(`{id}`) — ")),
            "{}",
            items[index]
        );
    }
    assert_eq!(
        items[0],
        "- [ ] 1. **Create a new token** (`create_token`) — manual"
    );
    assert_eq!(
        items[4],
        "- [ ] 5. **Save the new token** (`save_token`) — change · needs `test_new_token`"
    );
    assert_eq!(
        items[8],
        "- [ ] 9. **Revoke the old token** (`revoke_old_token`) — ⚠️ **IRREVERSIBLE** · needs `identify_old`, `verify` within 30m"
    );
    assert!(
        items[10].starts_with("- [ ] R1. **Put the old token back**"),
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "  - [ ] 10.1. **Check the platform from the child** (`child_check`) — probe"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("  - confirm: type `‹last 4 of steps.old_token.value›` (without a terminal: `--confirm revoke_old_token`)"), "{markdown}");
    assert!(markdown.contains("### Rollback"), "{markdown}");
    assert!(
        markdown.contains("> ⚠️ **Irreversible:** step 9"),
        "{markdown}"
    );
}

#[test]
fn a_checklist_plans_with_its_phases_as_headings() {
    let work = Work::new(&[(
        "list.yaml",
        r"
runbook: list
title: Go live
phases:
  - id: one
    title: 'Phase 1: Security'
    steps:
      - id: a
        manual: Do A.
  - id: two
    title: 'Phase 2: Release'
    steps:
      - id: b
        needs: [a]
        manual: Do B.
",
    )]);
    let markdown = work
        .expect(&["plan", "list.yaml", "--format", "markdown"], &[], 0)
        .stdout;
    let one = markdown.find("### Phase 1: Security").expect(&markdown);
    let two = markdown.find("### Phase 2: Release").expect(&markdown);
    let a = markdown
        .find("- [ ] 1. **a** (`a`) — manual")
        .expect(&markdown);
    let b = markdown
        .find("- [ ] 2. **b** (`b`) — manual · needs `a`")
        .expect(&markdown);
    assert!(one < a && a < two && two < b, "{markdown}");
    let human = work.expect(&["plan", "list.yaml"], &[], 0).stdout;
    assert!(human.contains("\nPhase 1: Security\n"), "{human}");
}

#[test]
fn json_is_versioned_and_has_every_documented_field() {
    let server = Server::start(&[]);
    let work = full(&server);
    let text = work
        .expect(
            &["plan", "full.yaml", "--format", "json"],
            &[("RUNBOOK_INPUT_NEW_TOKEN", SECRET)],
            0,
        )
        .stdout;
    let plan: Value = serde_json::from_str(&text).expect("plan --format json is JSON");
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["runbook"], "full");
    assert_eq!(plan["title"], "Rotate a token");
    assert_eq!(plan["probed"], false);
    assert_eq!(plan["checklist"], false);
    for key in [
        "version",
        "runbook",
        "title",
        "description",
        "file",
        "owner",
        "priority",
        "estimate",
        "guide",
        "checklist",
        "probed",
        "inputs",
        "phases",
        "rollback",
        "summary",
        "problems",
    ] {
        assert!(plan.get(key).is_some(), "plan lacks {key}");
    }
    let steps = plan["phases"][0]["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 10);
    for step in steps {
        for key in [
            "number",
            "id",
            "title",
            "description",
            "action",
            "effect",
            "irreversible",
            "target",
            "details",
            "instructions",
            "expect",
            "needs",
            "when",
            "confirm",
            "for_each",
            "retry",
            "timeout",
            "secret",
            "outputs",
            "priority",
            "estimate",
            "guide",
            "child",
            "probe",
        ] {
            assert!(step.get(key).is_some(), "step {} lacks {key}", step["id"]);
        }
    }
    let revoke = &steps[8];
    assert_eq!(revoke["id"], "revoke_old_token");
    assert_eq!(revoke["number"], 9);
    assert_eq!(revoke["effect"], "irreversible");
    assert_eq!(revoke["irreversible"], true);
    assert_eq!(revoke["action"], "http");
    assert_eq!(
        revoke["needs"],
        json!([{"step": "identify_old", "within": null}, {"step": "verify", "within": "30m"}])
    );
    assert_eq!(
        revoke["confirm"]["phrase"],
        "‹last 4 of steps.old_token.value›"
    );
    assert_eq!(
        revoke["confirm"]["non_interactive"],
        "--confirm revoke_old_token"
    );
    assert_eq!(steps[1]["secret"], true);
    assert_eq!(steps[5]["effect"], "change");
    assert_eq!(steps[6]["effect"], "change", "a POST changes something");
    assert_eq!(steps[9]["child"]["runbook"], "child");
    assert_eq!(
        steps[9]["child"]["phases"][0]["steps"][0]["target"],
        "GET http://127.0.0.1:9/health"
    );
    let new_token = plan["inputs"]
        .as_array()
        .and_then(|i| i.iter().find(|i| i["name"] == "new_token"))
        .expect("the new_token input");
    assert_eq!(new_token["value"], "••••9Xy7");
    assert_eq!(new_token["source"], "environment");
    assert_eq!(new_token["secret"], true);
    assert_eq!(
        plan["rollback"][0]["when"]["expression"],
        "steps.save_token.outcome == 'passed'"
    );
    assert_eq!(plan["rollback"][0]["when"]["value"], Value::Null);
    assert_eq!(plan["summary"]["irreversible"], json!(["revoke_old_token"]));
    assert_eq!(plan["summary"]["unresolved_inputs"], json!(["ticket"]));
    assert_eq!(plan["summary"]["steps"], 10);
}

#[test]
fn probe_sends_only_read_only_requests_and_changes_nothing() {
    let server = Server::start(&[
        (
            "GET /user/tokens/verify",
            200,
            json!({"result": {"status": "active"}}),
        ),
        ("GET /health", 200, json!({})),
        ("GET /zones", 503, json!({})),
    ]);
    let work = full(&server);
    let before = work.snapshot();
    let ran = work.expect(
        &["plan", "full.yaml", "--probe", "--format", "json"],
        &[("RUNBOOK_INPUT_NEW_TOKEN", SECRET)],
        0,
    );
    let mut seen = server.seen();
    seen.sort();
    assert_eq!(
        seen,
        ["GET /user/tokens/verify", "GET /zones"],
        "only the probes whose values are known are sent"
    );
    assert_eq!(work.snapshot(), before, "--probe changed the directory");
    assert!(!work.path().join(".runbook").exists());
    assert!(!work.path().join("restarted.marker").exists());
    let plan: Value = serde_json::from_str(&ran.stdout).expect("JSON");
    assert_eq!(plan["probed"], true);
    let steps = &plan["phases"][0]["steps"];
    assert_eq!(steps[2]["probe"]["outcome"], "passed", "{}", steps[2]);
    assert_eq!(steps[2]["probe"]["status"], 200);
    assert_eq!(steps[3]["probe"]["outcome"], "not_probed");
    assert!(
        steps[3]["probe"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("‹steps.old_token.value›")),
        "{}",
        steps[3]
    );
    assert_eq!(steps[7]["probe"]["outcome"], "failed");
    assert!(
        steps[7]["probe"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("503")),
        "{}",
        steps[7]
    );
    for index in [4, 5, 6, 8] {
        assert_eq!(steps[index]["probe"], Value::Null, "{}", steps[index]);
    }
    assert!(!ran.stdout.contains(SECRET));
    // The child's probe was tried too: nothing listens on port 9.
    assert_eq!(
        steps[9]["child"]["phases"][0]["steps"][0]["probe"]["outcome"],
        "failed"
    );

    // A command declared `probe` is still never run.
    let work = Work::new(&[(
        "cmd.yaml",
        "runbook: cmd\nsteps:\n  - id: look\n    effect: probe\n    command: touch ran.marker\n",
    )]);
    let ran = work.expect(&["plan", "cmd.yaml", "--probe"], &[], 0);
    assert!(!work.path().join("ran.marker").exists());
    assert!(
        ran.stdout.contains("a plan runs no process"),
        "{}",
        ran.stdout
    );
}

#[test]
fn probe_polls_wait_for() {
    let server = Server::start(&[("GET /health", 200, json!({}))]);
    let work = Work::new(&[(
        "wait.yaml",
        &format!(
            "runbook: wait\nsteps:\n  - id: up\n    wait_for:\n      http: {{ url: \"{}/health\" }}\n      expect: {{ status: 200 }}\n      timeout: 5s\n",
            server.url()
        ),
    )]);
    let ran = work.expect(&["plan", "wait.yaml", "--probe"], &[], 0);
    assert!(
        ran.stdout
            .contains("✓ passed: ready after 1 attempt(s): 200"),
        "{}",
        ran.stdout
    );
    assert_eq!(server.seen(), ["GET /health"]);
}

#[test]
fn probe_of_a_fan_out_over_zero_items_is_skipped_not_passed() {
    let server = Server::start(&[]);
    let work = Work::new(&[(
        "fan.yaml",
        &format!(
            "runbook: fan\ninputs:\n  ids: {{ default: \"\" }}\nsteps:\n  - id: each\n    for_each: \"{{{{ inputs.ids | split(',') | reject('equalto', '') | list }}}}\"\n    http: {{ url: \"{}/items/{{{{ item }}}}\" }}\n",
            server.url()
        ),
    )]);
    let ran = work.expect(&["plan", "fan.yaml", "--probe", "--format", "json"], &[], 0);
    let plan: Value = serde_json::from_str(&ran.stdout).expect("a JSON plan");
    let probe = &plan["phases"][0]["steps"][0]["probe"];
    assert_eq!(probe["outcome"], "skipped", "{probe}");
    assert!(
        probe["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no items")),
        "{probe}"
    );
    assert!(server.seen().is_empty());
}

#[test]
fn a_plan_artifact_lets_only_the_reviewed_run_start() {
    let server = Server::start(&[("GET /ok", 200, json!({}))]);
    let runbook = format!(
        r#"
runbook: small
inputs:
  api: {{ default: "{}" }}
  token: {{ secret: true }}
  later: {{ description: decided at run time }}
steps:
  - id: check
    http: {{ url: "{{{{ inputs.api }}}}/ok", bearer: "{{{{ inputs.token }}}}" }}
  - id: child
    needs: [check]
    runbook: sub/child.yaml
"#,
        server.url()
    );
    let child = "runbook: child\nsteps:\n  - id: note\n    manual: Note it.\n";
    let work = Work::new(&[("small.yaml", &runbook), ("sub/child.yaml", child)]);
    let secret = [("RUNBOOK_INPUT_TOKEN", SECRET)];
    let before = work.snapshot();
    let ran = work.expect(&["plan", "small.yaml", "--out", "plan.json"], &secret, 0);
    assert!(
        ran.stderr
            .contains("runbook run small.yaml --plan plan.json"),
        "{}",
        ran.stderr
    );
    let mut after = work.snapshot();
    assert!(after.remove(Path::new("plan.json")).is_some());
    assert_eq!(after, before, "--out writes only the artifact");
    assert!(server.seen().is_empty());

    let artifact: Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("plan.json")).expect("read"),
    )
    .expect("the artifact is JSON");
    assert_eq!(artifact["version"], 1);
    assert_eq!(artifact["kind"], "runbook-plan");
    assert_eq!(artifact["runbook"], "small");
    assert_eq!(artifact["file_hash"].as_str().map(str::len), Some(64));
    assert!(
        artifact["child_file_hashes"]["sub/child.yaml"].is_string(),
        "{artifact}"
    );
    assert_eq!(artifact["inputs"]["api"]["value"], server.url());
    assert!(
        artifact["inputs"]["token"]["fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("sha256:"))
    );
    assert_eq!(artifact["inputs"]["later"], json!({"secret": false}));
    assert_eq!(artifact["plan"]["runbook"], "small");
    let text = std::fs::read_to_string(work.path().join("plan.json")).expect("read");
    assert!(!text.contains(SECRET), "the artifact holds the secret");

    let run = |extra: &[&str], env: &[(&str, &str)], status: i32| {
        let mut args = vec![
            "run",
            "small.yaml",
            "--plan",
            "plan.json",
            "--non-interactive",
            "--yes",
        ];
        args.extend(extra);
        work.expect(&args, env, status)
    };
    // The reviewed run starts; an input with no value when planning may be given.
    run(&["--set", "later=now"], &secret, 0);
    assert_eq!(server.seen(), ["GET /ok"]);

    // Another value for a planned input is refused before anything starts.
    let refused = run(&["--set", "api=http://127.0.0.1:9"], &secret, 2);
    assert!(
        refused.stderr.contains(&format!(
            "the input `api` is `http://127.0.0.1:9` now; the plan was made with `{}`",
            server.url()
        )),
        "{}",
        refused.stderr
    );
    let refused = run(&[], &[("RUNBOOK_INPUT_TOKEN", "another-secret-value")], 2);
    assert!(
        refused
            .stderr
            .contains("the secret input `token` is not the value the plan was made with"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("another-secret"),
        "{}",
        refused.stderr
    );
    let refused = run(&[], &[], 2);
    assert!(
        refused
            .stderr
            .contains("the input `token` has no value now"),
        "{}",
        refused.stderr
    );

    // An edited child, then an edited runbook.
    work.write("sub/child.yaml", &format!("{child}# edited\n"));
    let refused = run(&[], &secret, 2);
    assert!(
        refused
            .stderr
            .contains("the child runbook `sub/child.yaml` changed"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("the runbook file"),
        "{}",
        refused.stderr
    );
    work.write("small.yaml", &format!("{runbook}# edited\n"));
    let refused = run(&[], &secret, 2);
    assert!(
        refused
            .stderr
            .contains("the runbook file `small.yaml` changed since the plan was made"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("help: have the new plan reviewed"),
        "{}",
        refused.stderr
    );
    assert_eq!(server.seen(), ["GET /ok"], "a refused run sends nothing");

    // A plan of another runbook, and a file that is no plan.
    let other = Work::new(&[(
        "other.yaml",
        "runbook: other\nsteps:\n  - id: a\n    manual: A.\n",
    )]);
    other.expect(&["plan", "other.yaml", "--out", "plan.json"], &[], 0);
    other.write("small.yaml", &runbook);
    other.write("sub/child.yaml", child);
    let refused = other.expect(
        &[
            "run",
            "small.yaml",
            "--plan",
            "plan.json",
            "--non-interactive",
        ],
        &secret,
        2,
    );
    assert!(
        refused
            .stderr
            .contains("is for the runbook `other`, not `small`"),
        "{}",
        refused.stderr
    );
    other.write("plan.json", "{}");
    let refused = other.expect(
        &[
            "run",
            "other.yaml",
            "--plan",
            "plan.json",
            "--non-interactive",
        ],
        &[],
        2,
    );
    assert!(
        refused.stderr.contains("is not a plan artifact"),
        "{}",
        refused.stderr
    );
}

#[test]
fn bad_answers_are_refused_like_run_refuses_them() {
    let server = Server::start(&[]);
    let work = full(&server);
    let ran = work.expect(&["plan", "full.yaml", "--set", "tiket=1"], &[], 2);
    assert!(
        ran.stderr.contains("did you mean `ticket`?"),
        "{}",
        ran.stderr
    );
    let ran = work.expect(
        &["plan", "full.yaml", "--set", &format!("new_token={SECRET}")],
        &[],
        2,
    );
    assert!(
        ran.stderr.contains("cannot be given with --set"),
        "{}",
        ran.stderr
    );
    assert!(!ran.stderr.contains(SECRET));
    work.write("broken.yaml", "runbook: broken\nsteps:\n  - id: a\n");
    work.expect(&["plan", "broken.yaml"], &[], 2);
}

#[test]
fn the_flagship_runbooks_plan_cleanly() {
    let work = Work::new(&[]);
    for name in [
        "cloudflare-token-rotation.yaml",
        "production-deployment-checklist.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join("runbooks").join(name)).expect("read");
        work.write(&format!("runbooks/{name}"), &text);
    }
    let before = work.snapshot();
    let file = "runbooks/cloudflare-token-rotation.yaml";
    let human = work.expect(&["plan", file], &[], 0).stdout;
    for needle in [
        "Plan: Rotate the Cloudflare API token (cloudflare-token-rotation)",
        "GET https://api.cloudflare.com/client/v4/user/tokens/verify",
        "set CLOUDFLARE_API_TOKEN in .env.auth",
        "$ docker restart ops-center",
        "then wait for GET http://127.0.0.1:8084/health until status 200, every 2s, up to 1m",
        "bearer ‹inputs.new_token›",
        "item of ‹steps.verify_zones.json.result›, 4 at a time",
        "GET https://api.cloudflare.com/client/v4/zones/‹item.id›/dns_records",
        "Revoke the old token through the API  [revoke_old_token]  ⚠ IRREVERSIBLE",
        "Revoke the old token in the Cloudflare dashboard  [revoke_old_token_in_dashboard]  ⚠ IRREVERSIBLE",
        "DELETE https://api.cloudflare.com/client/v4/user/tokens/‹steps.identify_old_token.outputs.token_id›",
        "type ‹last 4 of steps.old_token.value›",
        // `revoke_with` is known (its default): the API revoke is settled now.
        "inputs.revoke_with == 'api' and steps.identify_old_token.outputs.state == 'active' (false now: the step will be skipped)",
        "inputs.revoke_with == 'dashboard' or steps.identify_old_token.outputs.state != 'active' (true now)",
        "Rollback",
        "restore CLOUDFLARE_API_TOKEN in .env.auth as it was before `save_token`",
    ] {
        assert!(
            human.contains(needle),
            "the plan lacks {needle:?}:\n{human}"
        );
    }
    let json: Value = serde_json::from_str(
        &work
            .expect(&["plan", file, "--format", "json"], &[], 0)
            .stdout,
    )
    .expect("JSON");
    assert_eq!(
        json["summary"]["irreversible"],
        json!(["revoke_old_token", "revoke_old_token_in_dashboard"])
    );
    assert_eq!(json["problems"], json!([]));
    work.expect(&["plan", file, "--format", "markdown"], &[], 0);

    let checklist = "runbooks/production-deployment-checklist.yaml";
    let markdown = work
        .expect(&["plan", checklist, "--format", "markdown"], &[], 0)
        .stdout;
    assert!(
        markdown.contains("### Phase 1: Security hardening"),
        "{markdown}"
    );
    assert!(
        markdown.contains("(`cloudflare_token_rotation`) — ⚠️ **IRREVERSIBLE**"),
        "a child with an irreversible step is irreversible:\n{markdown}"
    );
    let revoke = markdown
        .lines()
        .find(|l| l.contains("**Revoke the old token through the API** (`revoke_old_token`) — ⚠️ **IRREVERSIBLE**"))
        .expect("the child's irreversible step is in the checklist's plan");
    assert!(
        revoke.starts_with("    - [ ] 2."),
        "nested under item 2: {revoke}"
    );
    assert_eq!(work.snapshot(), before);
    assert!(!work.path().join("runbooks/.runbook").exists());
}

/// A `wait_for`'s checks are its step's checks: in `expect`, as every other
/// step's, with only how often and how long in `details`.
#[test]
fn a_wait_for_lists_its_checks_in_expect() {
    let ran = crate::support::Test::new()
        .file(
            "wait.yaml",
            "runbook: wait\nsteps:\n  - id: up\n    effect: probe\n    wait_for:\n      command: echo ready\n      expect: { stdout: { contains: ready }, json: { count: { ge: 2 } } }\n      interval: 100ms\n      timeout: 2s\n",
        )
        .args(["plan", "wait.yaml", "--format", "json"])
        .status(0);
    let plan: Value = serde_json::from_str(&ran.stdout).expect("plan --format json is JSON");
    let step = &plan["phases"][0]["steps"][0];
    assert_eq!(
        step["expect"],
        json!(["exit code 0", "json count ≥ 2", "stdout contains \"ready\""]),
        "{step}"
    );
    assert_eq!(
        step["details"],
        json!(["polled every 100ms, up to 2s, until every check holds"]),
        "{step}"
    );
}
