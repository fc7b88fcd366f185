//! The plan and the run agree. For generated runbooks — a few hundred, each a
//! mix of HTTP and command steps whose URLs, headers, bodies, command lines,
//! environments and expectations are templates — `plan --format json` is
//! compared with what `run` then does, observed from outside:
//!
//! - what is **sent**: a loopback server records every request (method, URL,
//!   headers, body), and a recording `sh` first on `PATH` records every command
//!   line and environment; each must be exactly the step's `target` and
//!   `details` in the plan (a secret as the plan masks it);
//! - how it is **judged**: the server answers each step with a response that
//!   meets or misses its checks, chosen at random; the plan's `expect` lines,
//!   read literally by this test (`status 200 or 201`, `json result.count > 2`,
//!   `body contains "x"`), predict the step's outcome, and the run must reach
//!   exactly that outcome — a check the plan shows and the run skips (or the
//!   other way round) makes them differ on some case.
//!
//! The run stops at the first failed step, so nothing after it may be sent.
//!
//! The bundled examples that talk to a service or run commands are held to the
//! same (a child runbook's, once per item, as its nested plan shows them): each
//! request and command line must be what the plan shows, where a
//! placeholder (`‹item›`, `‹steps.zones.json.result›`) stands for whatever the
//! run fills in, and each example must pass.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::recording::{Seen, Server};
use crate::support::{binary, repo};

/// How many runbooks are generated; each is planned and run once.
const CASES: u64 = 160;

/// The secret input's value, given through the environment as users do.
const TOKEN: &str = "agree_SECRET_token_value_7Qz3";

/// Names an input may take: plain, with spaces, quotes, unicode, URL syntax.
const NAMES: &[&str] = &["web-1", "db_2", "Ünïcode", "x y", "a&b=c", "it's", "42"];

/// A small deterministic generator: every case is reproducible from its number.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        usize::try_from(value >> 33).expect("31 bits fit") % sides
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.roll(100) < percent
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.roll(from.len())]
    }
}

/// One generated runbook and what the server answers for each HTTP step.
struct Case {
    yaml: String,
    name: String,
}

/// Writes a YAML string in double quotes, escaped.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

fn generate(number: u64, server: &Server) -> Case {
    let mut dice = Dice(number.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let name = dice.pick(NAMES).to_owned();
    let mut yaml = format!(
        "runbook: agree-{number}\ntitle: Agreement case {number}\ninputs:\n  base: {{ description: the server }}\n  name: {{ description: a name }}\n  token: {{ description: a token, secret: true }}\nsteps:\n"
    );
    for step in 0..=dice.roll(5) {
        match dice.roll(10) {
            0..6 => http_step(&mut dice, &mut yaml, number, step, &name, server),
            6..9 => command_step(&mut dice, &mut yaml, step),
            _ => wait_step(&mut dice, &mut yaml, step),
        }
    }
    Case { yaml, name }
}

fn http_step(
    dice: &mut Dice,
    yaml: &mut String,
    case: u64,
    step: usize,
    name: &str,
    server: &Server,
) {
    let method = dice.pick(&["GET", "GET", "HEAD", "POST", "PUT", "PATCH"]);
    let path = format!("/c{case}/s{step}");
    let query = dice.pick(&[
        "",
        "?q={{ inputs.name }}",
        "?n={{ inputs.name | upper }}&k=1",
    ]);
    yaml.push_str(&format!(
        "  - id: s{step}\n    title: Step {step}\n    http:\n      method: {method}\n      url: {}\n",
        quoted(&format!("{{{{ inputs.base }}}}{path}/{{{{ inputs.name }}}}{query}"))
    ));
    if dice.chance(50) {
        yaml.push_str("      headers:\n        X-Trace: \"t-{{ inputs.name }}\"\n");
    }
    if dice.chance(50) {
        yaml.push_str("      bearer: \"{{ inputs.token }}\"\n");
    }
    if method != "GET" && method != "HEAD" && dice.chance(70) {
        yaml.push_str(
            "      json: { name: \"{{ inputs.name }}\", n: 3, tags: [a, \"{{ inputs.name }}\"] }\n",
        );
    }
    // What the server answers: the checks below are met or missed at random.
    let status = *[200u16, 200, 201, 404, 500]
        .get(dice.roll(5))
        .expect("an index below 5");
    let id = if dice.chance(75) {
        name
    } else {
        "someone-else"
    };
    let count = dice.roll(5);
    let tags: Vec<&str> = (0..dice.roll(4)).map(|_| "t").collect();
    let list: Vec<usize> = (0..dice.roll(2)).collect();
    let body = json!({ "result": {
        "id": id, "count": count, "tags": tags, "list": list, "note": format!("hello {name}"),
    } });
    server.answer_on(
        &format!("{method} {path}/{}", url_path_segment(name)),
        status,
        body.to_string(),
    );
    if method == "HEAD" {
        // A HEAD response has no body: only the status is judged.
        if dice.chance(60) {
            yaml.push_str("    expect:\n      status: [200, 201]\n");
        }
        return;
    }
    let mut expect = String::new();
    match dice.roll(3) {
        0 => {}
        1 => expect.push_str("      status: 200\n"),
        _ => expect.push_str("      status: [200, 201]\n"),
    }
    let mut json = String::new();
    if dice.chance(50) {
        json.push_str("        result.id: { equals: \"{{ inputs.name }}\" }\n");
    }
    if dice.chance(40) {
        json.push_str(&format!(
            "        result.count: {{ {}: 2 }}\n",
            dice.pick(&["gt", "ge", "lt", "le"])
        ));
    }
    if dice.chance(30) {
        json.push_str(&format!(
            "        result.tags: {{ len: {} }}\n",
            dice.roll(3)
        ));
    }
    if dice.chance(30) {
        json.push_str(&format!(
            "        result.{}: {{ exists: {} }}\n",
            dice.pick(&["note", "absent"]),
            dice.pick(&["true", "false"])
        ));
    }
    if dice.chance(20) {
        json.push_str(&format!(
            "        result.list: {{ not_empty: {} }}\n",
            dice.pick(&["true", "false"])
        ));
    }
    if !json.is_empty() {
        expect.push_str("      json:\n");
        expect.push_str(&json);
    }
    if dice.chance(30) {
        expect.push_str(&format!(
            "      body_contains: {}\n",
            quoted(dice.pick(&["hello {{ inputs.name }}", "nowhere"]))
        ));
    }
    if !expect.is_empty() {
        yaml.push_str("    expect:\n");
        yaml.push_str(&expect);
    }
}

/// How a URL path segment is sent: what `url::Url` percent-encodes in a path.
fn url_path_segment(name: &str) -> String {
    let mut out = String::new();
    for byte in name.bytes() {
        match byte {
            b' ' | b'"' | b'#' | b'<' | b'>' | b'?' | b'`' | b'{' | b'}' => {
                out.push_str(&format!("%{byte:02X}"));
            }
            0x80.. => out.push_str(&format!("%{byte:02X}")),
            _ => out.push(char::from(byte)),
        }
    }
    out
}

/// The command lines a generated step may run.
const COMMAND_LINES: &[&str] = &[
    "printf '%s\\n' \"{{ inputs.name }}\"",
    "echo \"name={{ inputs.name | lower }}\"; exit {{ 1 if inputs.name == 'db_2' else 0 }}",
    "printf 'seen %s' \"$NAME\"",
    "test -n \"{{ inputs.name }}\"",
];

fn command_step(dice: &mut Dice, yaml: &mut String, step: usize) {
    let run = dice.pick(COMMAND_LINES);
    yaml.push_str(&format!(
        "  - id: s{step}\n    title: Step {step}\n    command:\n      run: {}\n",
        quoted(run)
    ));
    if run.contains("$NAME") || dice.chance(30) {
        yaml.push_str(
            "      env: { NAME: \"{{ inputs.name }}\", TOKEN: \"{{ inputs.token }}\" }\n",
        );
    }
    yaml.push_str(&format!("    effect: {}\n", dice.pick(&["none", "probe"])));
    let mut expect = String::new();
    if dice.chance(40) {
        expect.push_str(&format!("      exit_code: {}\n", dice.pick(&["0", "1"])));
    }
    if dice.chance(50) {
        expect.push_str(&format!(
            "      stdout_contains: {}\n",
            quoted(dice.pick(&["{{ inputs.name }}", "name=", "seen", "absent-text"]))
        ));
    }
    if !expect.is_empty() {
        yaml.push_str("    expect:\n");
        yaml.push_str(&expect);
    }
}

/// A `wait_for` polling a command; short, so one that never holds ends soon.
fn wait_step(dice: &mut Dice, yaml: &mut String, step: usize) {
    let run = dice.pick(COMMAND_LINES);
    yaml.push_str(&format!(
        "  - id: s{step}\n    title: Step {step}\n    effect: probe\n    wait_for:\n      command: {}\n      interval: 100ms\n      timeout: 400ms\n",
        quoted(run)
    ));
    let mut expect = String::new();
    if dice.chance(40) {
        expect.push_str(&format!("        exit_code: {}\n", dice.pick(&["0", "1"])));
    }
    if dice.chance(70) {
        expect.push_str(&format!(
            "        stdout_contains: {}\n",
            quoted(dice.pick(&["{{ inputs.name }}", "name=", "absent-text"]))
        ));
    }
    if !expect.is_empty() {
        yaml.push_str("      expect:\n");
        yaml.push_str(&expect);
    }
}

/// A recording `sh`: notes the command line and environment of every command
/// runbook runs (`sh -c RUN`), then runs it with the real shell.
fn recording_shell(dir: &Path) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("a bin dir");
    let shell = bin.join("sh");
    std::fs::write(
        &shell,
        // Named by the time it started, to the nanosecond: read back in order.
        "#!/bin/sh\nat=\"$AGREE_LOG/$(date +%s%N)-$$\"\nprintf '%s' \"$2\" > \"$at.cmd\"\nenv -0 > \"$at.env\"\nexec /bin/sh \"$@\"\n",
    )
    .expect("write the recording shell");
    let mut permissions = std::fs::metadata(&shell).expect("it exists").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&shell, permissions).expect("make it executable");
}

/// A command as the recording shell saw it: its line and its environment.
struct Ran {
    line: String,
    env: BTreeMap<String, String>,
}

/// The commands run since the last call, in the order they started.
fn take_ran(log: &Path) -> Vec<Ran> {
    let mut ran = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(log)
        .expect("read the log dir")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "cmd"))
        .collect();
    entries.sort();
    for cmd in entries {
        let line = std::fs::read_to_string(&cmd).expect("read a command line");
        let env_file = cmd.with_extension("env");
        let env = std::fs::read(&env_file)
            .expect("read an environment")
            .split(|b| *b == 0)
            .filter_map(|pair| {
                let pair = String::from_utf8_lossy(pair);
                pair.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        std::fs::remove_file(&cmd).expect("remove the command record");
        std::fs::remove_file(&env_file).expect("remove the environment record");
        ran.push(Ran { line, env });
    }
    ran
}

/// `••••` and the last four characters, as every output masks a secret.
fn masked(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("••••{tail}")
}

/// What the plan's `expect` lines, read literally, say of a response.
fn http_lines_hold(lines: &[String], status: u16, body: &str) -> Result<bool, String> {
    let document: Option<Value> = serde_json::from_str(body).ok();
    for line in lines {
        let holds = if let Some(statuses) = line.strip_prefix("status ") {
            if statuses == "2xx" {
                (200..300).contains(&status)
            } else {
                statuses.split(" or ").any(|s| s.parse() == Ok(status))
            }
        } else if let Some(rest) = line.strip_prefix("json ") {
            let (path, relation) = rest
                .split_once(' ')
                .ok_or(format!("unread line {line:?}"))?;
            let value = document.as_ref().and_then(|d| at_path(d, path));
            json_relation_holds(value, relation).ok_or(format!("unread line {line:?}"))?
        } else if let Some(needle) = line.strip_prefix("body contains ") {
            let needle: String =
                serde_json::from_str(needle).map_err(|e| format!("{line:?}: {e}"))?;
            body.contains(&needle)
        } else {
            return Err(format!("the test cannot read the plan's line {line:?}"));
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

fn at_path<'v>(document: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .try_fold(document, |value, part| match value {
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            Value::Object(map) => map.get(part),
            _ => None,
        })
}

fn json_relation_holds(value: Option<&Value>, relation: &str) -> Option<bool> {
    let number = |text: &str| text.trim().parse::<f64>().ok();
    Some(match relation {
        "exists" => value.is_some(),
        "absent" => value.is_none(),
        "not empty" => match value {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(_) => true,
        },
        _ => {
            if let Some(expected) = relation.strip_prefix("= ") {
                let expected: Value = serde_json::from_str(expected).ok()?;
                value == Some(&expected)
            } else if let Some(length) = relation.strip_prefix("has length ") {
                let length = length.parse::<usize>().ok()?;
                match value {
                    Some(Value::Array(a)) => a.len() == length,
                    Some(Value::String(s)) => s.chars().count() == length,
                    Some(Value::Object(o)) => o.len() == length,
                    _ => false,
                }
            } else {
                let (sign, operand) = relation.split_once(' ')?;
                let operand = number(operand)?;
                let Some(actual) = value.and_then(Value::as_f64) else {
                    return Some(false);
                };
                match sign {
                    ">" => actual > operand,
                    "≥" => actual >= operand,
                    "<" => actual < operand,
                    "≤" => actual <= operand,
                    _ => return None,
                }
            }
        }
    })
}

/// What the plan's `expect` lines say of a finished command.
fn command_lines_hold(lines: &[String], code: i32, stdout: &str) -> Result<bool, String> {
    for line in lines {
        let holds = if let Some(codes) = line.strip_prefix("exit code ") {
            codes.split(" or ").any(|c| c.parse() == Ok(code))
        } else if let Some(needle) = line.strip_prefix("stdout contains ") {
            let needle: String =
                serde_json::from_str(needle).map_err(|e| format!("{line:?}: {e}"))?;
            stdout.contains(&needle)
        } else {
            return Err(format!("the test cannot read the plan's line {line:?}"));
        };
        if !holds {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The outcome and results of each step that finished, from the run's events.
fn outcomes(events: &str) -> BTreeMap<String, (String, Value)> {
    events
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["event"] == "step_finished")
        .map(|e| {
            (
                e["step"].as_str().unwrap_or_default().to_owned(),
                (
                    e["outcome"].as_str().unwrap_or_default().to_owned(),
                    e["results"].clone(),
                ),
            )
        })
        .collect()
}

/// Every step's check of one case; returns a description of each disagreement.
fn check_case(number: u64, server: &Server, work: &Path) -> Vec<String> {
    let case = generate(number, server);
    let file = work.join(format!("agree-{number}.yaml"));
    std::fs::write(&file, &case.yaml).expect("write the runbook");
    let base = format!("http://{}", server.address);
    let sets = [
        "--set".to_owned(),
        format!("base={base}"),
        "--set".to_owned(),
        format!("name={}", case.name),
    ];
    let log = work.join("log");
    let path = format!(
        "{}:{}",
        work.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let runbook = |args: &[&str]| {
        Command::new(binary())
            .args(args)
            .args(&sets)
            .current_dir(work)
            .env("RUNBOOK_INPUT_TOKEN", TOKEN)
            .env("RUNBOOK_STATE_DIR", work.join("state"))
            .env("AGREE_LOG", &log)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .output()
            .expect("runbook runs")
    };
    let file_arg = file.to_str().expect("a UTF-8 path");
    let planned = runbook(&["plan", file_arg, "--format", "json"]);
    let context = || format!("case {number}:\n{}", case.yaml);
    assert!(
        planned.status.success(),
        "{}\nplan failed: {}",
        context(),
        String::from_utf8_lossy(&planned.stderr)
    );
    let plan: Value = serde_json::from_slice(&planned.stdout).expect("the plan is JSON");
    let events = work.join(format!("events-{number}.jsonl"));
    let ran = runbook(&[
        "run",
        file_arg,
        "--yes",
        "--events",
        events.to_str().expect("a UTF-8 path"),
    ]);
    let outcomes = outcomes(&std::fs::read_to_string(&events).unwrap_or_default());
    let mut requests = server.take_seen().into_iter();
    let mut commands = take_ran(&log).into_iter();
    let mut problems = Vec::new();
    let mut failed_before = false;
    let steps = plan["phases"][0]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for step in &steps {
        let id = step["id"].as_str().unwrap_or_default();
        let target = step["target"].as_str().unwrap_or_default();
        let details: Vec<String> = strings(&step["details"]);
        let expect: Vec<String> = strings(&step["expect"]);
        let outcome = outcomes.get(id).map(|(outcome, _)| outcome.as_str());
        let results = outcomes.get(id).map(|(_, results)| results);
        if failed_before {
            if outcome.is_some() {
                problems.push(format!("{id}: ran after a failed step"));
            }
            continue;
        }
        let predicted = match step["action"].as_str() {
            Some("http") => {
                let Some(seen) = requests.next() else {
                    problems.push(format!("{id}: the plan shows `{target}`, nothing was sent"));
                    continue;
                };
                let sent = format!("{} {base}{}", seen.method, seen.target);
                if sent != target {
                    problems.push(format!(
                        "{id}: the plan shows `{target}`, the run sent `{sent}`"
                    ));
                }
                problems.extend(http_details_differ(id, &details, &seen));
                let (status, body) = server
                    .answer_for(&seen.line())
                    .unwrap_or((404, "{}".to_owned()));
                let body = if seen.method == "HEAD" {
                    String::new()
                } else {
                    body
                };
                http_lines_hold(&expect, status, &body)
            }
            Some("command") => {
                let Some(command) = commands.next() else {
                    problems.push(format!("{id}: the plan shows `{target}`, nothing ran"));
                    continue;
                };
                let shown = format!("$ {}", command.line);
                if shown != target {
                    problems.push(format!(
                        "{id}: the plan shows `{target}`, the run ran `{shown}`"
                    ));
                }
                for detail in &details {
                    let Some((name, value)) =
                        detail.strip_prefix("env ").and_then(|d| d.split_once('='))
                    else {
                        continue;
                    };
                    let given = command
                        .env
                        .get(name)
                        .map(|v| if v == TOKEN { masked(v) } else { v.clone() });
                    if given.as_deref() != Some(value) {
                        problems.push(format!(
                            "{id}: the plan shows env {name}={value}, the command got {given:?}"
                        ));
                    }
                }
                let again = rerun(&command);
                command_lines_hold(
                    &expect,
                    again.status.code().unwrap_or(-1),
                    &String::from_utf8_lossy(&again.stdout),
                )
            }
            Some("wait_for") => {
                let Some(command) = commands.next() else {
                    problems.push(format!("{id}: the plan shows `{target}`, nothing ran"));
                    continue;
                };
                // Every poll ran the same line: the later ones are skipped.
                let attempts = results.and_then(|r| r["attempts"].as_u64()).unwrap_or(1);
                for _ in 1..attempts {
                    if commands
                        .next()
                        .is_none_or(|again| again.line != command.line)
                    {
                        problems.push(format!(
                            "{id}: fewer polls ran than the {attempts} attempts the run counts"
                        ));
                    }
                }
                let shown = format!("wait for $ {}", command.line);
                if shown != target {
                    problems.push(format!(
                        "{id}: the plan shows `{target}`, the run polled `{shown}`"
                    ));
                }
                let again = rerun(&command);
                command_lines_hold(
                    &expect,
                    again.status.code().unwrap_or(-1),
                    &String::from_utf8_lossy(&again.stdout),
                )
            }
            other => panic!(
                "{}\nan action this test does not generate: {other:?}",
                context()
            ),
        };
        let predicted = match predicted {
            Ok(holds) => holds,
            Err(problem) => {
                problems.push(format!("{id}: {problem}"));
                continue;
            }
        };
        let expected = if predicted { "passed" } else { "failed" };
        if outcome != Some(expected) {
            problems.push(format!(
                "{id}: the plan's checks {expect:?} say `{expected}`, the run says {outcome:?}"
            ));
        }
        failed_before = !predicted;
    }
    if let Some(extra) = requests.next() {
        problems.push(format!(
            "a request the plan does not show: {} {}",
            extra.method, extra.target
        ));
    }
    if commands.next().is_some() {
        problems.push("a command the plan does not show ran".to_owned());
    }
    let code = ran.status.code();
    let want = if failed_before { Some(1) } else { Some(0) };
    if code != want {
        problems.push(format!(
            "exit code {code:?}, expected {want:?}: {}",
            String::from_utf8_lossy(&ran.stderr)
        ));
    }
    if !problems.is_empty() {
        problems.insert(0, context());
    }
    problems
}

/// The command's own output, recomputed by running its line again with the
/// real shell and the environment it was given (the lines are deterministic).
fn rerun(command: &Ran) -> std::process::Output {
    Command::new("/bin/sh")
        .args(["-c", &command.line])
        .env_clear()
        .envs(&command.env)
        .output()
        .expect("sh runs")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The plan's `header`, `bearer` and `json` lines against the request sent.
fn http_details_differ(id: &str, details: &[String], seen: &Seen) -> Vec<String> {
    let mut problems = Vec::new();
    // Values are sent as UTF-8 bytes (HTTP's obs-text), not only ASCII.
    let header = |name: &str| {
        seen.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    for detail in details {
        if let Some(rest) = detail.strip_prefix("header ") {
            let (name, value) = rest.split_once(": ").unwrap_or((rest, ""));
            if header(name).as_deref() != Some(value) {
                problems.push(format!(
                    "{id}: the plan shows `{detail}`, the server got {:?}",
                    header(name)
                ));
            }
        } else if let Some(bearer) = detail.strip_prefix("bearer ") {
            let sent = header("authorization")
                .map(|a| a.strip_prefix("Bearer ").map_or(a.clone(), masked));
            if sent.as_deref() != Some(bearer) {
                problems.push(format!(
                    "{id}: the plan shows `{detail}`, the server got {sent:?}"
                ));
            }
        } else if let Some(body) = detail.strip_prefix("json ") {
            let shown: Option<Value> = serde_json::from_str(body).ok();
            let sent: Option<Value> = serde_json::from_slice(&seen.body).ok();
            if shown.is_none() || shown != sent {
                problems.push(format!(
                    "{id}: the plan shows `{detail}`, the server got {sent:?}"
                ));
            }
        }
    }
    let shows_bearer = details.iter().any(|d| d.starts_with("bearer "));
    if !shows_bearer && header("authorization").is_some() {
        problems.push(format!(
            "{id}: an Authorization header the plan does not show"
        ));
    }
    if !details.iter().any(|d| d.starts_with("json ")) && !seen.body.is_empty() {
        problems.push(format!("{id}: a body the plan does not show"));
    }
    problems
}

#[test]
fn what_the_plan_shows_is_what_the_run_sends_and_judges() {
    let server = Server::start(&[]);
    let work = tempfile::tempdir().expect("a temp dir");
    recording_shell(work.path());
    std::fs::create_dir_all(work.path().join("log")).expect("a log dir");
    let mut problems = Vec::new();
    for number in 0..CASES {
        problems.extend(check_case(number, &server, work.path()));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Whether `sent` is what the plan `shown` says, each `‹…›` placeholder
/// standing for any text (the value is decided at run time).
fn fits(shown: &str, sent: &str) -> bool {
    // The literal text between placeholders, in order.
    let mut literals = Vec::new();
    let mut rest = shown;
    while let Some(open) = rest.find('‹') {
        let Some(close) = rest[open..].find('›') else {
            return shown == sent;
        };
        literals.push(&rest[..open]);
        rest = &rest[open + close + '›'.len_utf8()..];
    }
    let [first, middle @ ..] = literals.as_slice() else {
        return shown == sent;
    };
    let Some(mut unmatched) = sent
        .strip_prefix(first)
        .and_then(|after| after.strip_suffix(rest))
    else {
        return false;
    };
    for piece in middle {
        match unmatched.find(piece) {
            Some(at) => unmatched = &unmatched[at + piece.len()..],
            None => return false,
        }
    }
    true
}

#[test]
fn placeholders_stand_for_any_text_and_nothing_else_does() {
    assert!(fits("GET http://h/a", "GET http://h/a"));
    assert!(!fits("GET http://h/a", "GET http://h/ab"));
    assert!(fits("$ test -n ‹item.name›", "$ test -n b.test"));
    assert!(fits("GET ‹x›/zones/‹item.id›/r", "GET http://h/zones/42/r"));
    assert!(!fits(
        "GET ‹x›/zones/‹item.id›/r",
        "GET http://h/zones/42/s"
    ));
    assert!(!fits("DELETE ‹x›", "GET http://h"));
}

/// What a run sent and ran, taken in order as the plan's steps account for it.
struct Sent<'b> {
    base: &'b str,
    requests: std::iter::Peekable<std::vec::IntoIter<Seen>>,
    commands: std::iter::Peekable<std::vec::IntoIter<Ran>>,
    problems: Vec<String>,
}

impl Sent<'_> {
    /// `count` requests or command lines (`$ …`) that fit what the plan shows.
    fn expect(&mut self, id: &str, shown: &str, count: usize) {
        for _ in 0..count {
            let actual = if let Some(line) = shown.strip_prefix("$ ") {
                self.commands
                    .next()
                    .map(|c| (fits(line, &c.line), format!("$ {}", c.line)))
            } else {
                self.requests.next().map(|r| {
                    let sent = format!("{} {}{}", r.method, self.base, r.target);
                    (fits(shown, &sent), sent)
                })
            };
            match actual {
                Some((true, _)) => {}
                Some((false, actual)) => self.problems.push(format!(
                    "{id}: the plan shows `{shown}`, the run did `{actual}`"
                )),
                None => self.problems.push(format!(
                    "{id}: the plan shows `{shown}`, the run did nothing of it"
                )),
            }
        }
    }

    /// Takes the next request or command if it fits `shown`.
    fn next_fits(&mut self, shown: &str) -> bool {
        if let Some(line) = shown.strip_prefix("$ ") {
            self.commands.next_if(|c| fits(line, &c.line)).is_some()
        } else {
            let base = self.base;
            self.requests
                .next_if(|r| fits(shown, &format!("{} {base}{}", r.method, r.target)))
                .is_some()
        }
    }
}

/// The bundled examples that send requests or run commands, with the inputs
/// that point them at the test's server.
#[test]
fn bundled_examples_send_and_run_what_their_plans_show() {
    let server = Server::start(&[]);
    let zones = json!({
        "success": true, "errors": [], "messages": [],
        "result": [{ "id": "z1", "name": "a.test" }, { "id": "z2", "name": "b.test" }],
        "result_info": { "page": 1, "total_count": 2 },
    });
    server.answer_on("GET /health", 200, "{}".to_owned());
    server.answer_on("GET /api/cloudflare/zones", 200, zones.to_string());
    let work = tempfile::tempdir().expect("a temp dir");
    recording_shell(work.path());
    let log = work.path().join("log");
    std::fs::create_dir_all(&log).expect("a log dir");
    let base = format!("http://{}", server.address);
    let path = format!(
        "{}:{}",
        work.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut problems = Vec::new();
    for (example, inputs) in [
        ("http", vec![format!("base_url={base}")]),
        ("for-each", vec![format!("base_url={base}")]),
        ("wait-for", vec![format!("base_url={base}")]),
        ("command", Vec::new()),
        ("fan-out-runbook", Vec::new()),
    ] {
        let sets: Vec<&str> = inputs.iter().flat_map(|i| ["--set", i.as_str()]).collect();
        let file = repo()
            .join("runbooks/examples")
            .join(format!("{example}.yaml"));
        let runbook = |args: &[&str]| {
            Command::new(binary())
                .args(args)
                .args(&sets)
                .current_dir(work.path())
                .env("RUNBOOK_STATE_DIR", work.path().join("state"))
                .env("AGREE_LOG", &log)
                .env("PATH", &path)
                .env("NO_COLOR", "1")
                .output()
                .expect("runbook runs")
        };
        let file = file.to_str().expect("a UTF-8 path");
        let planned = runbook(&["plan", file, "--format", "json"]);
        assert!(
            planned.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&planned.stderr)
        );
        let plan: Value = serde_json::from_slice(&planned.stdout).expect("the plan is JSON");
        let events = work.path().join(format!("{example}.jsonl"));
        let ran = runbook(&[
            "run",
            file,
            "--yes",
            "--events",
            events.to_str().expect("UTF-8"),
        ]);
        if !ran.status.success() {
            problems.push(format!(
                "{example}: the run did not pass: {}",
                String::from_utf8_lossy(&ran.stdout)
            ));
        }
        let results = outcomes(&std::fs::read_to_string(&events).unwrap_or_default());
        let mut sent = Sent {
            base: &base,
            requests: server.take_seen().into_iter().peekable(),
            commands: take_ran(&log).into_iter().peekable(),
            problems: Vec::new(),
        };
        for step in plan["phases"][0]["steps"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let id = step["id"].as_str().unwrap_or_default();
            let target = step["target"].as_str().unwrap_or_default();
            let result = results.get(id).map(|(_, r)| r.clone()).unwrap_or_default();
            // A fan-out sends or runs once per item; a poll once per attempt.
            let items = result["results"].as_array().map_or(1, Vec::len);
            let attempts = result["attempts"]
                .as_u64()
                .map_or(1, |n| usize::try_from(n).unwrap_or(1));
            match step["action"].as_str() {
                Some("http" | "command") => sent.expect(id, target, items),
                // A child run per item: each runs what the child's plan shows.
                Some("runbook") => {
                    let child_steps = step["child"]["phases"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .flat_map(|phase| phase["steps"].as_array().cloned().unwrap_or_default());
                    for child in child_steps {
                        if matches!(child["action"].as_str(), Some("http" | "command")) {
                            let shown = child["target"].as_str().unwrap_or_default();
                            sent.expect(id, shown, items);
                        }
                    }
                }
                Some("wait_for") => {
                    sent.expect(
                        id,
                        target.strip_prefix("wait for ").unwrap_or(target),
                        attempts,
                    );
                }
                _ => {}
            }
            // `then wait for …`: polled until it holds, at least once.
            for then in strings(&step["details"])
                .iter()
                .filter_map(|d| d.strip_prefix("then wait for "))
            {
                let poll = then.split(" until ").next().unwrap_or(then);
                sent.expect(id, poll, 1);
                while sent.next_fits(poll) {}
            }
        }
        problems.append(&mut sent.problems);
        let Sent {
            mut requests,
            mut commands,
            ..
        } = sent;
        let requests = requests.by_ref();
        let commands = commands.by_ref();
        problems.extend(requests.map(|r| {
            format!(
                "{example}: a request no step shows: {} {}",
                r.method, r.target
            )
        }));
        problems
            .extend(commands.map(|c| format!("{example}: a command no step shows: {}", c.line)));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
