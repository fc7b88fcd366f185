//! The machine-readable formats of `validate` — github, sarif, junit and json —
//! checked against what their readers expect: GitHub's workflow-command syntax,
//! the OASIS SARIF 2.1.0 schema, well-formed `JUnit` XML, and our documented JSON.

use runbook::document::diagnostic::Code;
use serde_json::Value;

use crate::support::{Ran, Test, repo};

/// A file with two errors: an unknown key whose name needs escaping in every
/// format, and a misspelt `needs`.
const BROKEN: &str = "\
runbook: broken
title: A broken runbook
steps:
  - id: look
    manual: Look around.
    \"50%<off>&\": true
  - id: again
    needs: [lok]
    manual: Again.
";

const CLEAN: &str = "\
runbook: clean
title: A clean runbook
steps:
  - id: look
    manual: Look around.
";

/// A file whose only problem is a warning (an input nothing uses).
const WARNS: &str = "\
runbook: warns
title: Only a warning
inputs:
  unused:
    default: x
steps:
  - id: look
    manual: Look around.
";

const FILES: [&str; 3] = ["broken.yaml", "clean.yaml", "warns.yaml"];

/// The three fixture files, validated in `format`. Errors make it exit 1.
fn validate(format: &str) -> Ran {
    Test::new()
        .file("broken.yaml", BROKEN)
        .file("clean.yaml", CLEAN)
        .file("warns.yaml", WARNS)
        .args(["validate", "--format", format])
        .args(FILES)
        .status(1)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn github_prints_one_workflow_command_per_diagnostic() {
    let ran = validate("github");
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "one line per diagnostic:\n{}", ran.stdout);

    // `%` and the newline before the help are escaped as the Actions toolkit does.
    assert!(
        lines[0].starts_with(
            "::error file=broken.yaml,line=6,col=5,title=RB004::unknown key `50%25<off>&` in a step%0Ahelp: "
        ),
        "{}",
        lines[0]
    );
    assert_eq!(
        lines[1],
        "::error file=broken.yaml,line=8,col=13,title=RB010::no step `lok` to need%0Ahelp: did you mean `look`?"
    );
    assert_eq!(
        lines[2],
        "::warning file=warns.yaml,line=4,col=3,title=RB024::input `unused` is never used%0Ahelp: use it as `{{ inputs.unused }}` or remove it"
    );
    assert!(!ran.stdout.contains("clean.yaml"), "{}", ran.stdout);
}

#[test]
fn github_escapes_commas_and_colons_in_the_file_property() {
    let ran = Test::new()
        .file("odd,dir:x/warns.yaml", WARNS)
        .args(["validate", "--format", "github", "odd,dir:x/warns.yaml"])
        .status(0);
    assert!(
        ran.stdout
            .starts_with("::warning file=odd%2Cdir%3Ax/warns.yaml,line=4,col=3,title=RB024::"),
        "{}",
        ran.stdout
    );
}

/// Validates `document` against the OASIS SARIF 2.1.0 schema (draft-04), with
/// formats (`uri`, `uri-reference`) checked, and lists every violation.
pub(crate) fn sarif_violations(document: &Value) -> Vec<String> {
    let schema = json(
        &std::fs::read_to_string(repo().join("tests/data/sarif-schema-2.1.0.json"))
            .expect("read tests/data/sarif-schema-2.1.0.json"),
    );
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles");
    validator
        .iter_errors(document)
        .map(|e| format!("at {} (schema {}): {e}", e.instance_path, e.schema_path))
        .collect()
}

#[test]
fn sarif_validates_against_the_oasis_schema() {
    let document = json(&validate("sarif").stdout);
    let violations = sarif_violations(&document);
    assert!(
        violations.is_empty(),
        "SARIF output violates the 2.1.0 schema:\n{}",
        violations.join("\n")
    );

    // The check has teeth: a level SARIF does not define is caught.
    let mut wrong = document.clone();
    wrong["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(
        !sarif_violations(&wrong).is_empty(),
        "the schema check caught nothing"
    );

    // With no result at all, too.
    let ran = Test::new()
        .file("clean.yaml", CLEAN)
        .args(["validate", "--format", "sarif", "clean.yaml"])
        .status(0);
    let clean = json(&ran.stdout);
    assert_eq!(sarif_violations(&clean), Vec::<String>::new());
    assert_eq!(clean["runs"][0]["results"], serde_json::json!([]));
}

/// SARIF is written file by file (its results wait in an unnamed temporary
/// file): the bytes must still be the whole document pretty-printed at once, as
/// they were when it was built in memory, and nothing may stay on disk.
#[test]
fn sarif_streamed_is_the_document_pretty_printed_and_leaves_no_file() {
    let spool = tempfile::tempdir().expect("a temp dir");
    let spool_dir = spool.path().to_str().expect("a UTF-8 path");
    let many = validate("sarif");
    let clean = Test::new()
        .file("clean.yaml", CLEAN)
        .env("TMPDIR", spool_dir)
        .args(["validate", "--format", "sarif", "clean.yaml"])
        .status(0);
    let corpus = repo().join("tests/corpus");
    let corpus = Test::new()
        .env("TMPDIR", spool_dir)
        .args(["validate", "--format", "sarif"])
        .args([corpus.to_str().expect("a UTF-8 path")])
        .status(1);
    for ran in [many, clean, corpus] {
        let whole = serde_json::to_string_pretty(&json(&ran.stdout)).expect("JSON");
        assert!(
            ran.stdout == format!("{whole}\n"),
            "not as pretty-printed:\n{}",
            ran.stdout
        );
    }
    let left: Vec<_> = std::fs::read_dir(spool.path())
        .expect("read the dir")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sarif_rules_are_the_codes_and_results_point_at_them() {
    let document = json(&validate("sarif").stdout);
    assert_eq!(document["version"], "2.1.0");
    let run = &document["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "runbook");

    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules is an array");
    let ids: Vec<&str> = rules.iter().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(ids.len(), rules.len(), "every rule has an id");
    let expected: Vec<&str> = Code::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(ids, expected, "rule ids are the codes, in order");
    let rule = |id: &str| &rules[ids.iter().position(|r| *r == id).expect("a rule")];
    assert_eq!(rule("RB004")["defaultConfiguration"]["level"], "error");
    assert_eq!(rule("RB024")["defaultConfiguration"]["level"], "warning");

    let results = run["results"].as_array().expect("results is an array");
    let summary: Vec<(String, String, String, u64, u64)> = results
        .iter()
        .map(|r| {
            let rule_id = r["ruleId"].as_str().expect("ruleId").to_owned();
            let index = usize::try_from(r["ruleIndex"].as_u64().expect("ruleIndex"))
                .expect("a small index");
            assert_eq!(ids[index], rule_id, "ruleIndex points at the rule: {r:#}");
            let location = &r["locations"][0]["physicalLocation"];
            let region = &location["region"];
            (
                rule_id,
                r["level"].as_str().expect("level").to_owned(),
                location["artifactLocation"]["uri"]
                    .as_str()
                    .expect("uri")
                    .to_owned(),
                region["startLine"].as_u64().expect("startLine"),
                region["startColumn"].as_u64().expect("startColumn"),
            )
        })
        .collect();
    let owned = |code: &str, level: &str, uri: &str, line, col| {
        (code.to_owned(), level.to_owned(), uri.to_owned(), line, col)
    };
    assert_eq!(
        summary,
        vec![
            owned("RB004", "error", "broken.yaml", 6, 5),
            owned("RB010", "error", "broken.yaml", 8, 13),
            owned("RB024", "warning", "warns.yaml", 4, 3),
        ]
    );
    let message = results[1]["message"]["text"].as_str().expect("a message");
    assert!(message.contains("no step `lok` to need"), "{message}");
    assert!(message.contains("did you mean `look`?"), "{message}");
}

#[test]
fn junit_has_one_testcase_per_file_failing_only_on_errors() {
    let ran = validate("junit");
    let xml = roxmltree::Document::parse(&ran.stdout)
        .unwrap_or_else(|e| panic!("junit output is not well-formed XML ({e}):\n{}", ran.stdout));
    let root = xml.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");

    let cases: Vec<roxmltree::Node> = xml
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    assert_eq!(names, FILES, "one testcase per file");

    let failures = |case: &roxmltree::Node| -> Vec<String> {
        case.children()
            .filter(|n| n.has_tag_name("failure"))
            .map(|n| n.text().unwrap_or_default().to_owned())
            .collect()
    };
    let broken = failures(&cases[0]);
    assert_eq!(broken.len(), 1, "the invalid file fails once");
    // The markup in the key survives escaping and unescaping intact.
    assert!(broken[0].contains("`50%<off>&`"), "{}", broken[0]);
    assert!(broken[0].contains("RB004"), "{}", broken[0]);
    assert!(broken[0].contains("RB010"), "{}", broken[0]);
    assert!(failures(&cases[1]).is_empty(), "the clean file passes");
    assert!(failures(&cases[2]).is_empty(), "a warning is not a failure");

    let suite = xml
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    assert_eq!(suite.attribute("tests"), Some("3"));
    assert_eq!(suite.attribute("failures"), Some("1"));
}

#[test]
fn json_has_the_documented_shape() {
    let document = json(&validate("json").stdout);
    let keys = |value: &Value| -> Vec<String> {
        let mut keys: Vec<String> = value
            .as_object()
            .unwrap_or_else(|| panic!("an object: {value:#}"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&document), ["files", "summary", "version"]);
    assert_eq!(document["version"], 1);
    assert_eq!(
        document["summary"],
        serde_json::json!({"files": 3, "errors": 2, "warnings": 1, "suppressed": 0})
    );

    let files = document["files"].as_array().expect("files is an array");
    let paths: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(paths, FILES);
    for file in files {
        assert_eq!(keys(file), ["diagnostics", "path", "runbook", "suppressed"]);
        for d in file["diagnostics"].as_array().expect("diagnostics") {
            assert_eq!(
                keys(d),
                [
                    "code", "column", "help", "line", "message", "path", "severity"
                ]
            );
            assert_eq!(d["path"], file["path"]);
        }
    }
    assert_eq!(files[0]["runbook"], "broken");
    assert_eq!(
        files[0]["diagnostics"][1],
        serde_json::json!({
            "code": "RB010",
            "severity": "error",
            "message": "no step `lok` to need",
            "help": "did you mean `look`?",
            "path": "broken.yaml",
            "line": 8,
            "column": 13,
        })
    );
    assert_eq!(files[0]["diagnostics"][0]["code"], "RB004");
    assert_eq!(files[1]["diagnostics"], serde_json::json!([]));
    assert_eq!(files[2]["diagnostics"][0]["severity"], "warning");
    assert_eq!(files[2]["diagnostics"][0]["code"], "RB024");
}

#[test]
fn json_runbook_is_null_when_the_file_is_not_yaml() {
    let ran = Test::new()
        .file("bad.yaml", "runbook: [unclosed\n")
        .args(["validate", "--format", "json", "bad.yaml"])
        .status(1);
    let document = json(&ran.stdout);
    assert_eq!(document["files"][0]["runbook"], Value::Null);
    assert_eq!(document["files"][0]["diagnostics"][0]["code"], "RB001");
}
