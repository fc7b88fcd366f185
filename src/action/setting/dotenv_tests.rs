//! Tests of the dotenv parser, quoting and in-place editing. The comparison with
//! real bash and python-dotenv lives in `roundtrip_tests.rs`.

use super::{edit_is_faithful, encode, get, parse, set};

fn value(text: &str, key: &str) -> Option<String> {
    get(text, key)
}

#[test]
fn reads_the_forms_operators_write() {
    let text = "\
# a comment
PLAIN=abc
export EXPORTED=yes
SPACED = around equals
COMMENTED=value # a comment
HASH=a#b
SINGLE='literal \\n $HOME # not a comment'
DOUBLE=\"tab\\tquote\\\" backslash\\\\ newline\\n dollar\\$\"
MULTI=\"line one
line two\"
EMPTY=
NOVALUE
'QUOTED_KEY'=q
";
    assert_eq!(value(text, "PLAIN").as_deref(), Some("abc"));
    assert_eq!(value(text, "EXPORTED").as_deref(), Some("yes"));
    assert_eq!(value(text, "SPACED").as_deref(), Some("around equals"));
    assert_eq!(value(text, "COMMENTED").as_deref(), Some("value"));
    assert_eq!(value(text, "HASH").as_deref(), Some("a#b"));
    assert_eq!(
        value(text, "SINGLE").as_deref(),
        Some("literal \\n $HOME # not a comment")
    );
    // python-dotenv keeps `\$` as written: bash would drop the backslash.
    assert_eq!(
        value(text, "DOUBLE").as_deref(),
        Some("tab\tquote\" backslash\\ newline\n dollar\\$")
    );
    assert_eq!(value(text, "MULTI").as_deref(), Some("line one\nline two"));
    assert_eq!(value(text, "EMPTY").as_deref(), Some(""));
    assert_eq!(value(text, "NOVALUE"), None);
    assert_eq!(value(text, "QUOTED_KEY").as_deref(), Some("q"));
    assert_eq!(value(text, "ABSENT"), None);
}

#[test]
fn the_last_occurrence_wins() {
    let text = "KEY=first\nOTHER=x\nKEY=second\n";
    assert_eq!(value(text, "KEY").as_deref(), Some("second"));
}

#[test]
fn crlf_files_read_like_python_reads_them() {
    let text = "A=one\r\nB=\"two\r\nlines\"\r\nC=three";
    assert_eq!(value(text, "A").as_deref(), Some("one"));
    assert_eq!(value(text, "B").as_deref(), Some("two\nlines"));
    assert_eq!(value(text, "C").as_deref(), Some("three"));
}

#[test]
fn unparseable_lines_are_skipped_not_fatal() {
    let text = "GOOD=1\n=nokey\nBAD=\"unterminated\nAFTER=2\n";
    assert_eq!(value(text, "GOOD").as_deref(), Some("1"));
    assert_eq!(value(text, "AFTER").as_deref(), Some("2"));
    assert_eq!(value(text, "BAD"), None);
}

#[test]
fn an_escaped_closing_quote_closes_only_when_nothing_later_does() {
    // python-dotenv's greedy regex backtracks to the last `\'`.
    assert_eq!(value("A='x\\'", "A").as_deref(), Some("x\\"));
    assert_eq!(value("A=\"x\\\"", "A").as_deref(), Some("x\\"));
}

#[test]
fn replacing_keeps_every_other_byte() {
    let text = "\
# Platform settings

export API_TOKEN='old token' # rotated by hand
OTHER=\"keep me\"  # and me
\tINDENTED=x
";
    let edited = set(text, "API_TOKEN", "new");
    assert_eq!(
        edited,
        "\
# Platform settings

export API_TOKEN=new # rotated by hand
OTHER=\"keep me\"  # and me
\tINDENTED=x
"
    );
    assert_eq!(
        set(&edited, "INDENTED", "'y z'"),
        edited.replace("\tINDENTED=x", "\tINDENTED='y z'")
    );
}

#[test]
fn replacing_updates_the_last_occurrence_only() {
    let text = "KEY=first\nKEY=second\nTAIL=1\n";
    assert_eq!(set(text, "KEY", "third"), "KEY=first\nKEY=third\nTAIL=1\n");
}

#[test]
fn replacing_a_multi_line_value_replaces_all_its_lines() {
    let text = "A=1\nKEY=\"one\ntwo\"\nB=2\n";
    assert_eq!(set(text, "KEY", "x"), "A=1\nKEY=x\nB=2\n");
}

#[test]
fn replacing_normalises_the_statement_and_keeps_a_glued_comment_a_comment() {
    assert_eq!(set("KEY = 'a'#note\n", "KEY", "b"), "KEY=b #note\n");
    assert_eq!(set("'KEY'=a\n", "KEY", "b"), "KEY=b\n");
    assert_eq!(set("KEY\n", "KEY", "b"), "KEY=b\n");
    assert_eq!(set("KEY # why\n", "KEY", "b"), "KEY=b # why\n");
}

#[test]
fn appending_fixes_a_missing_final_newline_and_keeps_crlf() {
    assert_eq!(set("", "KEY", "v"), "KEY=v\n");
    assert_eq!(set("A=1", "KEY", "v"), "A=1\nKEY=v\n");
    assert_eq!(set("A=1\n", "KEY", "v"), "A=1\nKEY=v\n");
    assert_eq!(set("A=1\r\nB=2", "KEY", "v"), "A=1\r\nB=2\r\nKEY=v\r\n");
}

#[test]
fn an_edit_swallowed_by_an_unterminated_quote_is_caught() {
    let text = "A=\"never closed\n";
    let edited = set(text, "KEY", "\"x\"");
    assert!(!edit_is_faithful(text, &edited, "KEY", "x"));
    let fine = "A=1\n";
    assert!(edit_is_faithful(fine, &set(fine, "KEY", "v"), "KEY", "v"));
}

#[test]
fn quoting_rules() {
    let cases = [
        ("", ""),
        ("abc-DEF_1.2:3/4@5+6=7,8%9~", "abc-DEF_1.2:3/4@5+6=7,8%9~"),
        ("~/x", "'~/x'"),
        ("a:~", "'a:~'"),
        ("with space", "'with space'"),
        ("$HOME `x` \"q\" #", "'$HOME `x` \"q\" #'"),
        ("it's", "\"it's\""),
        ("a\\\\b", "\"a\\\\\\\\b\""),
        ("back\\slash", "'back\\slash'"),
        ("line\nbreak", "'line\nbreak'"),
        ("it's\n\"x\"", "\"it's\n\\\"x\\\"\""),
        ("ünï", "'ünï'"),
    ];
    for (raw, encoded) in cases {
        assert_eq!(encode(raw).as_deref(), Ok(encoded), "encoding {raw:?}");
        let file = format!("K={encoded}\n");
        assert_eq!(value(&file, "K").as_deref(), Some(raw), "reading {file:?}");
    }
}

#[test]
fn values_no_quoting_can_carry_are_refused() {
    for raw in [
        "a\\", "it's $5", "it's `x`", "a\\\\$", "${HOME}", "a\rb", "a\0b",
    ] {
        assert!(encode(raw).is_err(), "{raw:?} should be refused");
    }
    // `${` without a closing brace is not interpolated by python-dotenv.
    assert!(encode("${").is_ok());
}

#[test]
fn every_statement_is_found_once() {
    let text = "A=1\n\n# c\nexport B='2'\nC=\"3\n4\"\n";
    let keys: Vec<_> = parse(text).into_iter().map(|b| b.key).collect();
    assert_eq!(
        keys,
        [
            Some("A".to_owned()),
            None,
            Some("B".to_owned()),
            Some("C".to_owned())
        ]
    );
}
