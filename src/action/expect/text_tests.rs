//! Command expectations judged on real processes, and text matchers on a real
//! loopback response: exit code lists, stdout/stderr text rules, stdout read as
//! JSON, headers — with the plan's words for each.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::json;

use super::*;
use crate::action::command::{self, CommandSpec};
use crate::action::http::tests::{serve, test_client};
use crate::action::http::{Request, send};

async fn ran(script: &str) -> CommandOutput {
    let spec = CommandSpec {
        run: script.to_owned(),
        env: Vec::new(),
        cwd: None,
        timeout: Some(Duration::from_secs(20)),
    };
    command::run(&spec).await.expect("the command runs")
}

fn command_expecting() -> Expectation {
    Expectation {
        subject: Subject::Command,
        ..Expectation::default()
    }
}

fn said(expect: &Expectation, output: &CommandOutput) -> Vec<String> {
    check_command(expect, output)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("a valid test regex")
}

#[tokio::test]
async fn stdout_and_stderr_rules_and_exit_code_lists_judge_a_real_process() {
    let output = ran("printf 'count = 10\\n'; echo 'warning: slow' >&2; exit 3").await;
    let passing = Expectation {
        exit_codes: vec![0, 3],
        stdout: vec![
            TextCheck::Equals("count = 10".into()),
            TextCheck::NotContains("error".into()),
            TextCheck::Matches(regex(r"^count = \d+$")),
        ],
        stderr: vec![TextCheck::Contains("slow".into())],
        ..command_expecting()
    };
    assert_eq!(said(&passing, &output), Vec::<String>::new());

    // The substring check "10" passes for "count = 0" is what `equals` is for.
    let failing = Expectation {
        exit_codes: vec![0],
        stdout: vec![TextCheck::Equals("count = 0".into())],
        stderr: vec![TextCheck::NotContains("warning".into())],
        ..command_expecting()
    };
    assert_eq!(
        said(&failing, &output),
        vec![
            "exit code 3, expected 0".to_owned(),
            "stdout: expected \"count = 0\", got \"count = 10\"".to_owned(),
            "stderr: expected not to contain \"warning\", got \"warning: slow\"".to_owned(),
        ]
    );
}

#[tokio::test]
async fn equals_ignores_one_trailing_newline_and_no_more() {
    let one = ran("echo ready").await;
    let two = ran("printf 'ready\\n\\n'").await;
    let bare = ran("printf ready").await;
    let expect = Expectation {
        stdout: vec![TextCheck::Equals("ready\n".into())],
        ..command_expecting()
    };
    assert!(check_command(&expect, &one).is_empty());
    assert!(check_command(&expect, &bare).is_empty());
    assert_eq!(
        said(&expect, &two),
        vec!["stdout: expected \"ready\", got \"ready\\n\"".to_owned()]
    );
    let empty = ran("true").await;
    assert_eq!(
        said(&expect, &empty),
        vec!["stdout: expected \"ready\", got nothing (it is empty)".to_owned()]
    );
}

#[tokio::test]
async fn stdout_is_read_as_json_by_path_and_as_a_whole() {
    let zero = ran("echo 0").await;
    let ten = ran("echo 10").await;
    let whole = Expectation {
        json: vec![(String::new(), Check::Compare(Comparison::Lt, 1.0.into()))],
        ..command_expecting()
    };
    assert!(check_command(&whole, &zero).is_empty());
    assert_eq!(
        said(&whole, &ten),
        vec!["the JSON stdout: expected < 1, got 10".to_owned()]
    );

    let document = ran(r#"echo '{"replicas": {"ready": 2}, "items": []}'"#).await;
    let paths = Expectation {
        json: vec![
            ("replicas.ready".into(), Check::Equals(json!(2))),
            ("items".into(), Check::NotEmpty(true)),
            ("replicas.wanted".into(), Check::Exists(true)),
        ],
        ..command_expecting()
    };
    assert_eq!(
        said(&paths, &document),
        vec![
            "`items`: expected not empty, got []".to_owned(),
            "`replicas.wanted`: expected to exist, got nothing (`replicas` has no key `wanted`)"
                .to_owned(),
        ]
    );

    // `*`: every element, each named by its own path; none is no evidence.
    let nodes = ran(r#"echo '{"nodes": [{"ready": true}, {"ready": false}], "pods": []}'"#).await;
    let every = Expectation {
        json: vec![
            ("nodes.*.ready".into(), Check::Equals(json!(true))),
            ("pods.*.phase".into(), Check::Exists(false)),
        ],
        ..command_expecting()
    };
    assert_eq!(
        said(&every, &nodes),
        vec![
            "`nodes.1.ready`: expected true, got false (1 of 2 places `nodes.*.ready` leads to fail)"
                .to_owned(),
            "`pods.*`: expected not to exist, got nothing (`pods` is empty: `*` needs at least one element)"
                .to_owned(),
        ]
    );

    let text = ran("echo hello; echo world").await;
    assert_eq!(
        said(&paths, &text),
        vec![
            "stdout is not JSON, so `replicas.ready`, `items`, `replicas.wanted` cannot be \
             checked (got: hello world)"
                .to_owned()
        ]
    );
}

#[tokio::test]
async fn a_secret_output_is_never_quoted_in_a_failure() {
    let output = ran("echo 'hunter2-s3cr3t'").await;
    let expect = Expectation {
        stdout: vec![TextCheck::Equals("other".into())],
        json: vec![(String::new(), Check::Equals(json!(1)))],
        secret_output: true,
        ..command_expecting()
    };
    let messages = said(&expect, &output);
    assert_eq!(messages.len(), 2, "{messages:?}");
    for message in &messages {
        assert!(!message.contains("hunter2"), "{message}");
        assert!(message.contains("not shown"), "{message}");
    }
    // A `*` over an object names its keys, which are the secret output's too.
    let keyed = ran(r#"echo '{"users": {"hunter2-s3cr3t": 0}}'"#).await;
    let every = Expectation {
        json: vec![("users.*".into(), Check::Equals(json!(1)))],
        secret_output: true,
        ..command_expecting()
    };
    assert_eq!(
        said(&every, &keyed),
        vec![
            "`users.*`: expected 1, got something else (not shown: the output is secret)"
                .to_owned()
        ]
    );
}

#[tokio::test]
async fn headers_and_body_take_text_rules_on_a_real_response() {
    let router = Router::new().route(
        "/health",
        get(|| async { ([("X-Served-By", "b.test")], "status: ready\n") }),
    );
    let address = serve(router).await;
    let request = Request::get(format!("http://{address}/health"), Duration::from_secs(10));
    let response = send(&test_client(), &request).await.expect("a response");
    let passing = Expectation {
        body: vec![
            TextCheck::Equals("status: ready".into()),
            TextCheck::Matches(regex("ready$")),
        ],
        headers: vec![
            ("x-served-by".into(), TextCheck::Equals("b.test".into())),
            ("x-debug".into(), TextCheck::NotContains("secret".into())),
        ],
        ..Expectation::default()
    };
    assert_eq!(check(&passing, &response).len(), 0);

    let failing = Expectation {
        body: vec![TextCheck::NotContains("ready".into())],
        headers: vec![
            ("x-served-by".into(), TextCheck::Contains("a.test".into())),
            ("x-version".into(), TextCheck::Contains("2".into())),
        ],
        ..Expectation::default()
    };
    let messages: Vec<String> = check(&failing, &response)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        messages,
        vec![
            "body: expected not to contain \"ready\", got \"status: ready\"".to_owned(),
            "header x-served-by: expected to contain \"a.test\", got \"b.test\"".to_owned(),
            "header x-version: expected to contain \"2\", got no such header".to_owned(),
        ]
    );
}

#[test]
fn the_plan_words_every_rule() {
    let expect = Expectation {
        subject: Subject::Command,
        exit_codes: vec![0, 3],
        json: vec![
            (String::new(), Check::Compare(Comparison::Lt, 1.0.into())),
            ("a.b".into(), Check::Equals(json!("x"))),
        ],
        stdout: vec![
            TextCheck::Contains("up".into()),
            TextCheck::NotContains("down".into()),
        ],
        stderr: vec![
            TextCheck::Equals(String::new()),
            TextCheck::Matches(regex("^$")),
        ],
        ..Expectation::default()
    };
    assert_eq!(
        expect.lines(),
        [
            "exit code 0 or 3",
            "json < 1",
            "json a.b = \"x\"",
            "stdout contains \"up\"",
            "stdout does not contain \"down\"",
            "stderr equals \"\"",
            "stderr matches /^$/",
        ]
    );
    let http = Expectation {
        body: vec![TextCheck::Contains("ok".into())],
        headers: vec![("content-type".into(), TextCheck::Contains("json".into()))],
        ..Expectation::default()
    };
    assert_eq!(
        http.lines(),
        [
            "status 2xx",
            "body contains \"ok\"",
            "header content-type contains \"json\""
        ]
    );
}

#[tokio::test]
async fn not_equals_holds_for_any_other_whole_text_and_for_an_absent_header() {
    let changed = ran("echo 0B").await;
    let same = ran("printf 0A").await;
    let expect = Expectation {
        stdout: vec![TextCheck::NotEquals("0A\n".into())],
        ..command_expecting()
    };
    assert!(check_command(&expect, &changed).is_empty());
    // One trailing newline is ignored, as for `equals`.
    assert_eq!(
        said(&expect, &same),
        vec!["stdout: expected anything but \"0A\", got \"0A\"".to_owned()]
    );
    assert_eq!(expect.stdout[0].words(), "does not equal \"0A\\n\"");
    // A part of the text is not the whole of it.
    let longer = Expectation {
        stdout: vec![TextCheck::NotEquals("0".into())],
        ..command_expecting()
    };
    assert!(check_command(&longer, &ran("echo 10").await).is_empty());

    let mut mismatches = Vec::new();
    text::check_all(
        &[TextCheck::NotEquals("old".into())],
        "header x-served-by",
        None,
        true,
        &mut mismatches,
    );
    assert!(mismatches.is_empty(), "{mismatches:?}");
}
