//! The repository's own runbooks and JSON Schema: the committed schema is what
//! `runbook schema` prints, every bundled runbook validates clean and points its
//! editor at that schema, and the schema agrees with `validate` on what it can see
//! (it accepts every bundled runbook and rejects the corpus files marked so).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{binary, repo};

/// Where the committed schema lives, relative to the repository root.
const SCHEMA: &str = "schema/runbook.schema.json";

/// The first line of every bundled runbook, before the relative path.
const MODELINE: &str = "# yaml-language-server: $schema=";

/// Runs the binary in the repository root and returns (status, stdout, stderr).
fn run_in_repo(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(binary())
        .args(args)
        .current_dir(repo())
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the runbook binary");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Every file below `dir` whose name ends with one of `extensions`, sorted;
/// hidden directories are skipped, as `validate` skips them.
fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read directory {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_dir() {
                if !hidden {
                    pending.push(path);
                }
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The bundled runbooks: every `.yaml`/`.yml` file under `runbooks/`.
fn bundled() -> Vec<PathBuf> {
    let found = files_under(&repo().join("runbooks"), &["yaml", "yml"]);
    assert!(
        found.len() >= 2,
        "expected the flagship runbooks under runbooks/, found {found:?}"
    );
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(repo())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A YAML file as JSON, the way an editor hands it to a JSON Schema validator.
fn yaml_value(path: &Path) -> Value {
    serde_saphyr::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not YAML a schema can check: {e}", relative(path)))
}

fn schema_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&read(&repo().join(SCHEMA)))
        .unwrap_or_else(|e| panic!("{SCHEMA} is not JSON: {e}"));
    jsonschema::draft7::new(&schema).unwrap_or_else(|e| panic!("{SCHEMA} is not draft-07: {e}"))
}

#[test]
fn committed_schema_is_what_runbook_schema_prints() {
    let (status, printed, stderr) = run_in_repo(&["schema"]);
    assert_eq!(status, 0, "runbook schema failed: {stderr}");
    let committed = std::fs::read_to_string(repo().join(SCHEMA)).unwrap_or_default();
    assert!(
        committed == printed,
        "{SCHEMA} is out of date with `runbook schema`; regenerate it with\n\n    \
         cargo run --quiet -- schema > {SCHEMA}\n\nand commit the result"
    );
}

#[test]
fn bundled_runbooks_validate_clean_with_deny_warnings() {
    let (status, human, stderr) = run_in_repo(&["validate", "--deny-warnings"]);
    assert_eq!(
        status, 0,
        "`runbook validate --deny-warnings` found problems in runbooks/:\n{human}{stderr}"
    );

    let (status, json, stderr) = run_in_repo(&["validate", "--deny-warnings", "--format", "json"]);
    assert_eq!(status, 0, "{json}{stderr}");
    let report: Value = serde_json::from_str(&json).expect("the json format is JSON");
    let summary = &report["summary"];
    assert_eq!(summary["errors"], 0, "{json}");
    assert_eq!(summary["warnings"], 0, "{json}");

    // Every bundled runbook was checked (none silently skipped), with no diagnostic.
    let files = report["files"].as_array().expect("files is an array");
    let checked: Vec<PathBuf> = files
        .iter()
        .map(|f| repo().join(f["path"].as_str().expect("a file's path is a string")))
        .collect();
    assert_eq!(checked, bundled(), "the files `validate` checked");
    for file in files {
        assert_eq!(
            file["diagnostics"].as_array().map(Vec::len),
            Some(0),
            "{file:#}"
        );
        assert!(file["runbook"].is_string(), "{file:#}");
    }
}

#[test]
fn bundled_runbooks_point_their_editor_at_the_schema() {
    let schema = repo()
        .join(SCHEMA)
        .canonicalize()
        .expect("the committed schema exists");
    for path in bundled() {
        let text = read(&path);
        let first = text.lines().next().unwrap_or_default();
        let target = first.strip_prefix(MODELINE).unwrap_or_else(|| {
            panic!(
                "{} must start with `{MODELINE}<relative path to {SCHEMA}>`, \
                 but starts with {first:?}",
                relative(&path)
            )
        });
        let resolved = path
            .parent()
            .expect("a file has a parent")
            .join(target.trim());
        assert_eq!(
            resolved.canonicalize().ok().as_ref(),
            Some(&schema),
            "the $schema of {} ({target}) does not lead to {SCHEMA}",
            relative(&path)
        );
    }
}

#[test]
fn schema_accepts_every_bundled_runbook() {
    let validator = schema_validator();
    let mut problems = Vec::new();
    for path in bundled() {
        let value = yaml_value(&path);
        for error in validator.iter_errors(&value) {
            problems.push(format!(
                "{} at {}: {error}",
                relative(&path),
                error.instance_path
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the schema rejects bundled runbooks:\n{}",
        problems.join("\n")
    );
}

/// Whether a corpus file's leading comment block holds `# schema: reject`.
fn marked_schema_reject(text: &str) -> bool {
    text.lines()
        .take_while(|line| line.starts_with('#'))
        .any(|line| line.trim_start_matches('#').trim() == "schema: reject")
}

#[test]
fn schema_rejects_the_corpus_files_marked_so() {
    let corpus = repo().join("tests/corpus");
    let marked: Vec<PathBuf> = if corpus.is_dir() {
        files_under(&corpus, &["yaml", "yml"])
            .into_iter()
            .filter(|path| marked_schema_reject(&read(path)))
            .collect()
    } else {
        Vec::new()
    };
    assert!(
        marked.len() >= 10,
        "expected at least 10 files in tests/corpus/ marked `# schema: reject`, found {}",
        marked.len()
    );
    let validator = schema_validator();
    let accepted: Vec<String> = marked
        .iter()
        .filter(|path| validator.is_valid(&yaml_value(path)))
        .map(|path| relative(path))
        .collect();
    assert!(
        accepted.is_empty(),
        "the schema accepts corpus files marked `# schema: reject`:\n{}",
        accepted.join("\n")
    );
}
