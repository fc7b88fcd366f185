//! Mutation testing of the checker: thousands of random edits of the bundled runbooks
//! (lines deleted, duplicated, swapped and re-indented, truncation, stray YAML and
//! template punctuation, anchors, tags, unicode, replaced scalars, pieces spliced in
//! from other runbooks) must never make `validate` panic or hang, and every
//! diagnostic must point inside the text it is about. A second test runs the built
//! binary over a directory of mutated files, some of them not even UTF-8.
//!
//! The edits come from a fixed seed, so a failure reproduces run after run. A
//! failing input is shrunk to a small reproducer, written under the cargo target's
//! tmp directory and printed.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use runbook::document::{self, diagnostic::Diagnostic};
use runbook::report;

use crate::support;

const SEED: u64 = 0x5eed_2025_0b00_c0de;
/// In-process cases, spread evenly over the bundled runbooks.
const CASES: usize = 3_120;
/// Mutated files the built binary validates in one run, and how long it may take
/// (a few seconds, normally).
const BINARY_FILES: usize = 300;
const BINARY_LIMIT: Duration = Duration::from_secs(120);
/// One check takes milliseconds, even in a debug build: a case still running after
/// this long is a hang, and fails the test with its input.
const CASE_LIMIT: Duration = Duration::from_secs(20);
/// A backstop on the whole run (a few thousand checks take well under a minute on
/// two idle cores); generous, because a loaded CI machine is slower.
const WATCHDOG: Duration = Duration::from_secs(300);
const WORKERS: usize = 2;

/// A runbook's real path (children resolve next to it) and a mutation of its text.
type Case = (PathBuf, String);

/// What a worker is checking and since when, so a hang can name its input.
#[derive(Clone)]
struct Slot {
    case: Option<Case>,
    since: Instant,
}

#[test]
fn mutated_runbooks_never_panic_and_spans_stay_in_the_text() {
    let corpus = corpus();
    let mut cases = Vec::new();
    let mut rng = Rng::new(SEED);
    for n in 0..CASES {
        let index = n % corpus.len();
        cases.push((corpus[index].0.clone(), mutate(&mut rng, &corpus, index)));
    }
    cases.extend(hostile_cases(&corpus[0].0));
    let total = cases.len();
    assert!(total >= 3_000, "only {total} cases");

    let slots = Arc::new(Mutex::new(vec![
        Slot {
            case: None,
            since: Instant::now(),
        };
        WORKERS
    ]));
    let (sender, receiver) = mpsc::channel();
    let cases = Arc::new(cases);
    for worker in 0..WORKERS {
        let (cases, slots, sender) = (Arc::clone(&cases), Arc::clone(&slots), sender.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            for (path, text) in cases.iter().skip(worker).step_by(WORKERS) {
                slots.lock().unwrap_or_else(PoisonError::into_inner)[worker] = Slot {
                    case: Some((path.clone(), text.clone())),
                    since: Instant::now(),
                };
                if let Err(problem) = examine(path, text) {
                    failures.push((path.clone(), text.clone(), problem));
                }
            }
            let _ = sender.send(failures);
        });
    }
    drop(sender);

    let started = Instant::now();
    let mut failures = Vec::new();
    let mut finished = 0;
    while finished < WORKERS {
        match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(found) => {
                failures.extend(found);
                finished += 1;
                continue;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("a worker thread died"),
        }
        let slots = slots.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let stuck: Vec<&Slot> = slots
            .iter()
            .filter(|slot| slot.case.is_some() && slot.since.elapsed() > CASE_LIMIT)
            .collect();
        if stuck.is_empty() && started.elapsed() < WATCHDOG {
            continue;
        }
        let mut message =
            format!("a check ran over {CASE_LIMIT:?}, or all {total} over {WATCHDOG:?}: a hang\n");
        for (worker, slot) in slots.iter().enumerate() {
            let Some((path, text)) = &slot.case else {
                continue;
            };
            let saved = save_reproducer(&format!("hang-{worker}"), text);
            let _ = writeln!(
                message,
                "checking a mutation of {} for {:?} (saved to {}):\n{text:?}",
                path.display(),
                slot.since.elapsed(),
                saved.display()
            );
        }
        panic!("{message}");
    }
    report_failures(&failures, total);
}

#[test]
fn validate_binary_survives_a_directory_of_mutated_files() {
    let corpus = corpus();
    let dir = tempfile::tempdir().expect("a temp dir");
    let repo = support::repo();
    // The originals sit next to the mutations, so `runbook: other.yaml` steps resolve.
    for (path, text) in &corpus {
        let relative = path.strip_prefix(&repo).expect("a bundled runbook");
        write(&dir.path().join(relative), text.as_bytes());
    }
    let mut rng = Rng::new(SEED ^ 0xb17a_c0de);
    for n in 0..BINARY_FILES {
        let index = rng.below(corpus.len());
        let mut bytes = mutate(&mut rng, &corpus, index).into_bytes();
        // A few files that are not UTF-8 text at all.
        if n % 50 == 7 {
            let at = rng.below(bytes.len() + 1);
            bytes.insert(at, [0xff, 0x00, 0xc3][rng.below(3)]);
        }
        let relative = corpus[index]
            .0
            .strip_prefix(&repo)
            .expect("a bundled runbook");
        let stem = relative.file_stem().and_then(|s| s.to_str()).unwrap_or("x");
        write(
            &dir.path()
                .join(relative)
                .with_file_name(format!("m{n:04}-{stem}.yaml")),
            &bytes,
        );
    }
    let expected_files = runbook::validate::files(dir.path()).len();
    assert_eq!(expected_files, corpus.len() + BINARY_FILES);

    let ran = run_with_deadline(
        Command::new(support::binary())
            .args(["validate", "--format", "json"])
            .arg(dir.path()),
        BINARY_LIMIT,
    );
    let crashed = !matches!(ran.status, Some(0 | 1)) || ran.stderr.contains("panicked");
    if crashed {
        let culprits = crashing_files(dir.path());
        panic!(
            "`runbook validate DIR --format json` exited with {:?}\n--- stderr ---\n{}\n\
             files that crash it on their own: {culprits:#?}",
            ran.status, ran.stderr
        );
    }
    let json: serde_json::Value = serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", ran.stdout));
    assert_eq!(json["summary"]["files"], expected_files, "{json:#}");
    let files = json["files"].as_array().expect("a files array");
    assert_eq!(files.len(), expected_files);
    for file in files {
        for diagnostic in file["diagnostics"].as_array().expect("a diagnostics array") {
            let line = diagnostic["line"].as_u64().unwrap_or(0);
            let column = diagnostic["column"].as_u64().unwrap_or(0);
            assert!(line >= 1 && column >= 1, "bad position in {diagnostic:#}");
        }
    }
}

/// The bundled runbooks and examples, with their real paths.
pub(crate) fn corpus() -> Vec<(PathBuf, String)> {
    let files = runbook::validate::files(&support::repo().join("runbooks"));
    assert!(files.len() >= 3, "no bundled runbooks found");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a bundled runbook is UTF-8");
            (path, text)
        })
        .collect()
}

/// Checks one text the way `validate` does, rendering included. `Err` says what went
/// wrong: a panic or a diagnostic that points outside the text.
fn examine(path: &Path, text: &str) -> Result<(), String> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let checked = document::check(path, text);
        for diagnostic in &checked.diagnostics {
            span_problem(text, diagnostic)?;
        }
        let shown = path.display().to_string();
        report::human::render(&shown, Some(text), &checked.diagnostics, false);
        Ok(())
    }));
    outcome.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic".to_owned());
        Err(format!("panicked: {message}"))
    })
}

fn span_problem(text: &str, diagnostic: &Diagnostic) -> Result<(), String> {
    let span = diagnostic.span;
    let end = span.offset.checked_add(span.len);
    let fine = span.line >= 1
        && span.col >= 1
        && end.is_some_and(|end| end <= text.len())
        && text.is_char_boundary(span.offset);
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{} span {span:?} lies outside the text ({} bytes, {} lines): {}",
            diagnostic.code,
            text.len(),
            text.lines().count(),
            diagnostic.message
        ))
    }
}

/// Distinct problems shrunk and shown; one bug tends to fail many mutations.
const SHOWN_PROBLEMS: usize = 5;

fn report_failures(failures: &[(PathBuf, String, String)], total: usize) {
    if failures.is_empty() {
        return;
    }
    let mut message = format!("{} of {total} mutated runbooks failed\n", failures.len());
    let mut kinds: Vec<(String, usize)> = Vec::new();
    for (_, _, problem) in failures {
        let kind = kind_of(problem);
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, count)) => *count += 1,
            None => kinds.push((kind, 1)),
        }
    }
    for (n, (kind, count)) in kinds.iter().enumerate().take(SHOWN_PROBLEMS) {
        let Some((path, text, problem)) = failures.iter().find(|(_, _, p)| kind_of(p) == *kind)
        else {
            continue;
        };
        let small = shrink(text, |candidate| {
            examine(path, candidate).is_err_and(|p| kind_of(&p) == *kind)
        });
        let saved = save_reproducer(&format!("failure-{n}"), &small);
        let _ = writeln!(
            message,
            "\n{problem}\n  ({count} cases like it) a mutation of {}, shrunk from {} to {} bytes, \
             saved to {}:\n  {small:?}",
            path.display(),
            text.len(),
            small.len(),
            saved.display()
        );
    }
    if kinds.len() > SHOWN_PROBLEMS {
        let _ = writeln!(
            message,
            "\nand {} more kinds of problem",
            kinds.len() - SHOWN_PROBLEMS
        );
    }
    panic!("{message}");
}

/// What a problem is, without the details that change as its input shrinks: the
/// code of a misplaced diagnostic, or the start of a panic message without numbers.
fn kind_of(problem: &str) -> String {
    match problem.split_once(" span ") {
        Some((code, _)) if !problem.starts_with("panicked") => format!("{code} span"),
        _ => problem
            .chars()
            .filter(|c| !c.is_ascii_digit())
            .take(60)
            .collect(),
    }
}

/// Removes lines, then characters, while the input still fails: greedy chunks
/// halving down to one unit.
fn shrink(text: &str, fails: impl Fn(&str) -> bool) -> String {
    let mut current = text.to_owned();
    let mut attempts = 0;
    for by_lines in [true, false] {
        let units = |s: &str| -> Vec<String> {
            if by_lines {
                s.split_inclusive('\n').map(str::to_owned).collect()
            } else {
                s.chars().map(String::from).collect()
            }
        };
        let mut chunk = units(&current).len().div_ceil(2).max(1);
        loop {
            let mut start = 0;
            while start < units(&current).len() && attempts < 2_000 {
                let parts = units(&current);
                let candidate: String = parts[..start]
                    .iter()
                    .chain(parts.iter().skip(start + chunk))
                    .map(String::as_str)
                    .collect();
                attempts += 1;
                if fails(&candidate) {
                    current = candidate;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    current
}

fn save_reproducer(name: &str, text: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mutation-{name}.yaml"));
    let _ = std::fs::write(&path, text);
    path
}

// ---------------------------------------------------------------------------
// Mutations

/// Punctuation and tokens that YAML or the template language give meaning to, and
/// characters that trip up byte/char arithmetic.
const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "&anchor ",
    "*alias",
    "!!tag ",
    "!!str ",
    "!!int ",
    "!!map ",
    "!!binary ",
    "!custom ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    " ",
    "  ",
    "#",
    "|",
    "|-",
    ">",
    ">-",
    "?",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.2\n",
    "%TAG ! tag:x,2000:\n",
    "<<: *alias\n",
    "~",
    "null",
    "é",
    "ß",
    "ü",
    "🦀",
    "👩\u{200d}💻",
    "\u{200b}",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "\u{301}",
    "ﬁ",
    "𝔘",
    "\\",
    "\\u",
    "@",
    "`",
    "%",
    "{{ steps.",
    "{{ inputs.",
    " | last4 }}",
    "{{ item }}",
    "{{ env.HOME }}",
    "{{ run.id }}",
    "{% if x %}",
    "{% endif %}",
    "{{ steps.restart.json.result }}",
    "{{ inputs.new_token | mask }}",
    "needs: [",
    "effect: irreversible\n",
    "id: ",
    "steps:\n",
    "phases:\n",
    "runbook: ",
    "- id: dup\n  manual: x\n",
];

/// Values a scalar can be replaced with.
const SCALARS: &[&str] = &[
    "",
    "~",
    "null",
    "[]",
    "{}",
    "[a, b]",
    "{ step: x, within: 30m }",
    "0",
    "-1",
    "1.5",
    "1e400",
    "-.inf",
    ".nan",
    "99999999999999999999999",
    "0x1F",
    "true",
    "yes",
    "y",
    "\"\"",
    "''",
    "\"{{\"",
    "\"}}\"",
    "\"{{ x\"",
    "\"{{ inputs.nope }}\"",
    "\"{{ steps.zzz.value }}\"",
    "\"{{ steps.create_token.json.id }}\"",
    "\"{{ item.name }}\"",
    "'{% for x in y %}{{ x }}'",
    "\"{{ 1 + }}\"",
    "\"{{ steps.save_token.outcome == 'passed' }}\"",
    "0s",
    "30m",
    "1h 25m",
    "-5m",
    "999999999999h",
    "P0",
    "P9",
    "irreversible",
    "change",
    "probe",
    "manual",
    "bogus",
    "GET",
    "DELETE",
    "200",
    "[200, 204]",
    "{ equals: 1 }",
    "{ matches: \"[\" }",
    "{ not_empty: maybe }",
    "\"http://example.com/x\"",
    "\"ftp://\"",
    "cloudflare-token-rotation.yaml",
    "production-deployment-checklist.yaml",
    "missing.yaml",
    "../../../../etc/passwd",
    "/",
    "\"\\u00e9\\t\\x00\"",
    "!!binary aGVsbG8=",
    "&a value",
    "*a",
    "\"sk_live_abcdefghijklmnopqrstuvwx\"",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "é🦀\u{200b}",
    "|\n  block\n  text",
];

/// One to three random edits of `corpus[index]`, weighted so that about half the
/// results are still valid YAML and reach the rules behind the parser.
pub(crate) fn mutate(rng: &mut Rng, corpus: &[(PathBuf, String)], index: usize) -> String {
    let mut text = corpus[index].1.clone();
    let edits = [1, 1, 1, 1, 1, 1, 2, 2, 2, 3][rng.below(10)];
    for _ in 0..edits {
        text = match rng.below(17) {
            0 | 1 => delete_lines(rng, &text),
            2 | 3 => duplicate_lines(rng, &text),
            4 => swap_lines(rng, &text),
            5 => reindent(rng, &text),
            6 => truncate(rng, &text),
            7..=9 => insert(rng, &text),
            10..=12 => replace_scalar(rng, &text),
            13 => {
                let other = rng.below(corpus.len());
                splice(rng, &text, &corpus[other].1)
            }
            14 => anchor_and_alias(rng, &text),
            15 => child_step(rng, &text, corpus),
            _ => drop_gate(rng, &text),
        };
    }
    text
}

fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn delete_lines(rng: &mut Rng, text: &str) -> String {
    let mut lines = lines(text);
    if lines.is_empty() {
        return String::new();
    }
    let start = rng.below(lines.len());
    let count = 1 + rng.below(3).min(lines.len() - start - 1);
    lines.drain(start..start + count);
    lines.concat()
}

fn duplicate_lines(rng: &mut Rng, text: &str) -> String {
    let mut lines = lines(text);
    if lines.is_empty() {
        return text.to_owned();
    }
    let start = rng.below(lines.len());
    let end = (start + 1 + rng.below(6)).min(lines.len());
    let copy: Vec<&str> = lines[start..end].to_vec();
    let at = if rng.below(2) == 0 {
        end
    } else {
        rng.below(lines.len() + 1)
    };
    lines.splice(at..at, copy);
    lines.concat()
}

/// Swaps two lines: anywhere, or (half the time) two nearby lines at the same
/// indentation, such as sibling keys or steps.
fn swap_lines(rng: &mut Rng, text: &str) -> String {
    let mut lines = lines(text);
    if lines.len() < 2 {
        return text.to_owned();
    }
    let a = rng.below(lines.len());
    let b = if rng.below(2) == 0 {
        rng.below(lines.len())
    } else {
        (a + 1..lines.len().min(a + 30))
            .find(|&b| indentation(lines[b]) == indentation(lines[a]))
            .unwrap_or(a)
    };
    lines.swap(a, b);
    lines.concat()
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn reindent(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = lines(text).into_iter().map(str::to_owned).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = rng.below(lines.len());
    let count = 1 + rng.below(4);
    let how = rng.below(4);
    for line in lines.iter_mut().skip(start).take(count) {
        let body = line.trim_start_matches(' ').to_owned();
        let indent = line.len() - body.len();
        let indent = match how {
            0 => indent + 1 + rng.below(4),
            1 => indent.saturating_sub(1 + rng.below(4)),
            2 => rng.below(12),
            _ => {
                *line = format!("\t{body}");
                continue;
            }
        };
        *line = format!("{}{body}", " ".repeat(indent));
    }
    lines.concat()
}

fn truncate(rng: &mut Rng, text: &str) -> String {
    let at = boundary(rng, text);
    text[..at].to_owned()
}

fn insert(rng: &mut Rng, text: &str) -> String {
    let at = boundary(rng, text);
    let piece = match rng.below(4) {
        0 => random_chars(rng),
        _ => TOKENS[rng.below(TOKENS.len())].to_owned(),
    };
    format!("{}{piece}{}", &text[..at], &text[at..])
}

/// A few characters from all over Unicode: ASCII controls, Latin, combining marks,
/// CJK, astral planes.
fn random_chars(rng: &mut Rng) -> String {
    (0..=rng.below(4))
        .filter_map(|_| {
            let limit = [0x80, 0x800, 0x1_0000, 0x11_0000][rng.below(4)];
            char::from_u32(u32::try_from(rng.below(limit)).unwrap_or(0))
        })
        .collect()
}

fn replace_scalar(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = lines(text).into_iter().map(str::to_owned).collect();
    let candidates: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(": ") || lines[i].trim_start().starts_with("- "))
        .collect();
    if candidates.is_empty() {
        return text.to_owned();
    }
    let i = candidates[rng.below(candidates.len())];
    let line = &lines[i];
    let value_at = line
        .find(": ")
        .map(|p| p + 2)
        .or_else(|| line.find("- ").map(|p| p + 2))
        .unwrap_or(line.len());
    let newline = if line.ends_with('\n') { "\n" } else { "" };
    let scalar = SCALARS[rng.below(SCALARS.len())];
    lines[i] = format!("{}{scalar}{newline}", &line[..value_at]);
    lines.concat()
}

/// Inserts a run of lines from `other`: anywhere, or (half the time) before a line
/// with the same indentation as the first inserted one.
fn splice(rng: &mut Rng, text: &str, other: &str) -> String {
    let mut lines = lines(text);
    let theirs = self::lines(other);
    if theirs.is_empty() {
        return text.to_owned();
    }
    let start = rng.below(theirs.len());
    let end = (start + 1 + rng.below(20)).min(theirs.len());
    let mut piece = theirs[start..end].concat();
    if !piece.ends_with('\n') {
        piece.push('\n');
    }
    let at = rng.below(lines.len() + 1);
    let at = if rng.below(2) == 0 {
        at
    } else {
        (at..lines.len())
            .find(|&i| indentation(lines[i]) == indentation(theirs[start]))
            .unwrap_or(at)
    };
    lines.insert(at, &piece);
    lines.concat()
}

/// Anchors a value and aliases it elsewhere: YAML's shared nodes, whose spans point
/// at the anchor, not at the alias.
fn anchor_and_alias(rng: &mut Rng, text: &str) -> String {
    let mut lines: Vec<String> = lines(text).into_iter().map(str::to_owned).collect();
    let values: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(": ") && !lines[i].trim_start().starts_with('#'))
        .collect();
    if values.len() < 2 {
        return text.to_owned();
    }
    let (a, b) = (
        values[rng.below(values.len())],
        values[rng.below(values.len())],
    );
    // Mostly anchor before alias, as YAML requires; sometimes the other way round.
    let (a, b) = if rng.below(4) == 0 {
        (a.max(b), a.min(b))
    } else {
        (a.min(b), a.max(b))
    };
    lines[a] = lines[a].replacen(": ", ": &a ", 1);
    let key_end = lines[b].find(": ").map_or(0, |p| p + 2);
    let newline = if lines[b].ends_with('\n') { "\n" } else { "" };
    lines[b] = format!("{}*a{newline}", &lines[b][..key_end]);
    lines.concat()
}

/// Deletes one line of a gate (`needs`, `confirm`, `effect`, a `within`), which the
/// evidence rules must then notice.
fn drop_gate(rng: &mut Rng, text: &str) -> String {
    const GATE_KEYS: &[&str] = &[
        "needs:",
        "confirm:",
        "effect:",
        "phrase:",
        "- { step:",
        "- identify",
    ];
    let mut lines = lines(text);
    let gates: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            GATE_KEYS
                .iter()
                .any(|k| lines[i].trim_start().starts_with(k))
        })
        .collect();
    if gates.is_empty() {
        return text.to_owned();
    }
    lines.remove(gates[rng.below(gates.len())]);
    lines.concat()
}

/// Adds a step that runs a bundled runbook (or this one) as a child, which
/// exercises child resolution and cycle detection.
fn child_step(rng: &mut Rng, text: &str, corpus: &[(PathBuf, String)]) -> String {
    let target = corpus[rng.below(corpus.len())]
        .0
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("x.yaml");
    let mut lines = lines(text);
    let steps: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].trim_start().starts_with("- id: "))
        .collect();
    if steps.is_empty() {
        return format!("{text}\nsteps:\n  - id: child\n    runbook: {target}\n");
    }
    let at = steps[rng.below(steps.len())];
    let indent = " ".repeat(indentation(lines[at]));
    let step = format!(
        "{indent}- id: child_{}\n{indent}  runbook: {target}\n",
        rng.below(100)
    );
    lines.insert(at, &step);
    lines.concat()
}

/// A random char boundary of `text`.
fn boundary(rng: &mut Rng, text: &str) -> usize {
    let mut at = rng.below(text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Inputs built to exhaust something: depth, aliases, width, length.
pub(crate) fn hostile_cases(path: &Path) -> Vec<(PathBuf, String)> {
    let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for (name, previous) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let _ = writeln!(
            laughs,
            "{name}: &{name} [*{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}, *{previous}]"
        );
    }
    laughs.push_str("runbook: x\nsteps: *i\n");
    let mut many_steps = String::new();
    for i in 0..2_000 {
        let previous = i.max(1) - 1;
        let _ = write!(
            many_steps,
            "  - id: s{i}\n    needs: [s{previous}]\n    manual: \"{{{{ steps.s{previous}.outcome }}}}\"\n"
        );
    }
    let texts = [
        "[".repeat(10_000),
        "{".repeat(10_000),
        "- ".repeat(10_000),
        format!("runbook: x\nsteps:\n{}", "  - ".repeat(5_000)),
        format!("runbook: x\ntitle: \"{}\"\n", "{{".repeat(5_000)),
        format!(
            "runbook: x\nsteps:\n  - id: a\n    manual: \"{}\"\n",
            "{{ x }}".repeat(5_000)
        ),
        format!("runbook: x\ntitle: {}\n", "é".repeat(100_000)),
        laughs,
        format!("runbook: x\nsteps:\n{many_steps}"),
        "\u{feff}runbook: x\n".to_owned(),
        "\r\n\r\nrunbook: x\r\nsteps:\r\n  - id: a\r\n    manual: b\r\n".to_owned(),
        "---\nrunbook: a\n---\nrunbook: b\n".to_owned(),
        String::new(),
        "\n".to_owned(),
        "\0".to_owned(),
        "#".to_owned(),
        "é".to_owned(),
    ];
    texts.into_iter().map(|t| (path.to_path_buf(), t)).collect()
}

/// xorshift64*: small, fast and the same on every machine.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------
// The binary

struct Finished {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `command`, killing it if it outlives `limit` (a hang fails the test).
fn run_with_deadline(command: &mut Command, limit: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the runbook binary");
    // Drain both pipes on their own threads, so a full pipe cannot stall the child.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the runbook binary") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`runbook validate` still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        status: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// After a crash: which files crash the binary on their own.
fn crashing_files(dir: &Path) -> Vec<PathBuf> {
    runbook::validate::files(dir)
        .into_iter()
        .filter(|file| {
            let ran = run_with_deadline(
                Command::new(support::binary())
                    .args(["validate", "--format", "json"])
                    .arg(file),
                Duration::from_secs(20),
            );
            !matches!(ran.status, Some(0 | 1)) || ran.stderr.contains("panicked")
        })
        .collect()
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent dirs");
    }
    std::fs::write(path, bytes).expect("write a mutated runbook");
}
