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
fn a_backslash_escapes_the_next_character_so_a_lone_final_one_closes_nothing() {
    // python-dotenv 1.2.4: `\'` is an escaped quote, never a closing one.
    assert_eq!(value("A='x\\'", "A"), None);
    assert_eq!(value("A=\"x\\\"", "A"), None);
    assert_eq!(value("A='x\\'\nB=2\n", "B").as_deref(), Some("2"));
}

#[test]
fn a_quoted_value_ending_in_an_escaped_backslash_hides_no_later_line() {
    // Each quote has a later one of its kind that a `\"` scan would run on to.
    let text = "A=\"C:\\\\\"\nB=2\nC=\"x y\"\nD='E:\\\\'\nF=6\nG='z'\n";
    let read = |key| value(text, key);
    assert_eq!(read("A").as_deref(), Some("C:\\"));
    assert_eq!(read("B").as_deref(), Some("2"));
    assert_eq!(read("C").as_deref(), Some("x y"));
    assert_eq!(read("D").as_deref(), Some("E:\\"));
    assert_eq!(read("F").as_deref(), Some("6"));
    assert_eq!(read("G").as_deref(), Some("z"));
    // B is found where it is, not appended a second time.
    assert_eq!(set(text, "B", "3"), text.replace("B=2", "B=3"));
}

#[test]
fn an_empty_value_before_a_comment_is_empty_and_the_comment_stays() {
    assert_eq!(value("KEY= # comment", "KEY").as_deref(), Some(""));
    assert_eq!(value("KEY =\t#c\nNEXT=1", "KEY").as_deref(), Some(""));
    assert_eq!(value("KEY= # c\nNEXT=1", "NEXT").as_deref(), Some("1"));
    // Without a blank after `=`, `#` starts the value (bash agrees).
    assert_eq!(value("KEY=#novalue", "KEY").as_deref(), Some("#novalue"));
    assert_eq!(set("KEY= # comment\n", "KEY", "new"), "KEY=new # comment\n");
}

#[test]
fn an_empty_value_on_a_line_with_a_comment_is_written_as_two_single_quotes() {
    // `KEY= # c` is empty for bash and python-dotenv 1.2.4 but `# c` for older
    // python-dotenv releases; `''` is empty for every reader.
    let edited = set("KEY=old # why\n", "KEY", "");
    assert_eq!(edited, "KEY='' # why\n");
    assert!(edit_is_faithful("KEY=old # why\n", &edited, "KEY", ""));
    assert_eq!(set("KEY=old\n", "KEY", ""), "KEY=\n");
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_key() {
    let text = "\u{feff}KEY=v\nB=2\n";
    assert_eq!(value(text, "KEY").as_deref(), Some("v"));
    assert_eq!(value(text, "\u{feff}KEY"), None);
    // Editing keeps the mark, like every other byte.
    assert_eq!(set(text, "KEY", "w"), "\u{feff}KEY=w\nB=2\n");
    assert_eq!(set(text, "C", "3"), "\u{feff}KEY=v\nB=2\nC=3\n");
    // Only at the very start: elsewhere it is text.
    assert_eq!(value("A=1\n\u{feff}B=2\n", "B"), None);
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
fn replacing_a_key_written_twice_replaces_every_occurrence() {
    // Readers disagree on which occurrence wins (python-dotenv, bash, Node and Ruby:
    // the last; dotenvy: the first, as it never overrides a variable already set),
    // and an old secret left on a dead line is still a secret on disk.
    let text = "export KEY=first # one\nOTHER=x\nKEY='second'\nTAIL=1\n";
    let edited = set(text, "KEY", "third");
    assert_eq!(
        edited,
        "export KEY=third # one\nOTHER=x\nKEY=third\nTAIL=1\n"
    );
    assert!(edit_is_faithful(text, &edited, "KEY", "third"));
    // An edit that leaves one occurrence with another value is not faithful.
    assert!(!edit_is_faithful(
        text,
        "KEY=first\nOTHER=x\nKEY=third\nTAIL=1\n",
        "KEY",
        "third"
    ));
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
        // A final backslash would escape a closing single quote: double quotes.
        ("C:\\", "\"C:\\\\\""),
        ("C:\\Users\\me\\", "\"C:\\\\Users\\\\me\\\\\""),
        ("\\", "\"\\\\\""),
        ("it's C:\\", "\"it's C:\\\\\""),
        // `${…}` only where python-dotenv's interpolation pattern matches.
        ("${a:b}", "'${a:b}'"),
        ("${a", "'${a'"),
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
        "$5 a\\",
        "it's $5",
        "it's `x`",
        "a\\\\$",
        "${HOME}",
        "${}",
        "x${A:-default}y",
        "a\rb",
        "a\0b",
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

/// Facts from the test suites of python-dotenv, dotenvy, bkeepers/dotenv (Ruby) and
/// motdotla/dotenv (Node), as python-dotenv 1.2.4 reads them (`roundtrip_tests.rs`
/// asks it): a line, a key, its value. Where those libraries read a line otherwise,
/// the comment says how and why this dialect does not follow.
pub const SUITE_CASES: &[(&str, &str, Option<&str>)] = &[
    // Keys: anything up to `=`, blank or `#`; quoted keys; `export`.
    ("[=b", "[", Some("b")),
    (
        "uglyKey[%$=\"S3cr3t_P4ssw#rD\" #",
        "uglyKey[%$",
        Some("S3cr3t_P4ssw#rD"),
    ),
    ("FOO.BAR=foobar", "FOO.BAR", Some("foobar")),
    (" export 'a'=b", "a", Some("b")),
    ("export export_a=1", "export_a", Some("1")),
    (
        "export   SPACED_EXPORT=parsed",
        "SPACED_EXPORT",
        Some("parsed"),
    ),
    (
        "export   K_AND_SPACING  =some_value",
        "K_AND_SPACING",
        Some("some_value"),
    ),
    ("export=\"export as key\"", "export", Some("export as key")),
    // Blanks around the key, `=` and the value.
    (" a = b ", "a", Some("b")),
    ("    SPACED_KEY = parsed", "SPACED_KEY", Some("parsed")),
    (
        "KEY11=    \"whitespace after =\"",
        "KEY11",
        Some("whitespace after ="),
    ),
    (
        "TRIM=    some spaced out string",
        "TRIM",
        Some("some spaced out string"),
    ),
    ("a=b\tc", "a", Some("b\tc")),
    ("a=b\u{a0} c", "a", Some("b\u{a0} c")),
    // Comments: `#` after a blank, never inside quotes.
    ("a=b#c", "a", Some("b#c")),
    ("a=b\t#c", "a", Some("b")),
    (
        "INLINE=inline comments # work #very #well",
        "INLINE",
        Some("inline comments"),
    ),
    (
        "SPACE=start with a#number sign",
        "SPACE",
        Some("start with a#number sign"),
    ),
    ("foo= \"bar#baz\" # comment", "foo", Some("bar#baz")),
    ("foo='ba#r'  ", "foo", Some("ba#r")),
    ("KEY6=\"lol\" #well you see", "KEY6", Some("lol")),
    ("# HELLO=world", "HELLO", None),
    // Empty values, and keys without `=`.
    ("EMPTY=", "EMPTY", Some("")),
    ("EMPTY_SINGLE=''", "EMPTY_SINGLE", Some("")),
    ("EMPTY_DOUBLE=\"\"", "EMPTY_DOUBLE", Some("")),
    ("no_value_var", "no_value_var", None),
    // Quotes: kept inside the other kind; escapes only in double quotes.
    (
        "Q='double \"quotes\" inside'",
        "Q",
        Some("double \"quotes\" inside"),
    ),
    (
        "Q=\"single 'quotes' inside\"",
        "Q",
        Some("single 'quotes' inside"),
    ),
    (
        "RETAIN={\"foo\": \"bar\"}",
        "RETAIN",
        Some("{\"foo\": \"bar\"}"),
    ),
    ("a=\"b\\\"c\"", "a", Some("b\"c")),
    ("a='b\\'c'", "a", Some("b'c")),
    (
        "NL=\"expand\\nnew\\nlines\"",
        "NL",
        Some("expand\nnew\nlines"),
    ),
    (
        "NL='dontexpand\\nnewlines'",
        "NL",
        Some("dontexpand\\nnewlines"),
    ),
    (
        "NL=dontexpand\\nnewlines",
        "NL",
        Some("dontexpand\\nnewlines"),
    ),
    ("KEY5=\"'\\\"yay\\\\\"", "KEY5", Some("'\"yay\\")),
    ("EQUAL_SIGNS=equals==", "EQUAL_SIGNS", Some("equals==")),
    // Node reads backticks as a third quote; python-dotenv and bash do not.
    ("BACKTICKS=`backticks`", "BACKTICKS", Some("`backticks`")),
    // dotenvy and Ruby expand `$VAR` here; python-dotenv only expands `${VAR}`,
    // and `read_setting` expands nothing.
    ("KEY2=$sweet", "KEY2", Some("$sweet")),
    ("BAR=\"quote ${FOO}\"", "BAR", Some("quote ${FOO}")),
    // Ruby's parser accepts YAML-style `KEY: value`; python-dotenv does not.
    ("OPTION_A: 1", "OPTION_A", None),
    ("a: b", "a", None),
    // Ruby and Node read a backslash-space unquoted; python-dotenv keeps it.
    ("FOO=bar\\ bar", "FOO", Some("bar\\ bar")),
];

#[test]
fn cases_from_the_dotenv_libraries_suites() {
    for (line, key, expected) in SUITE_CASES {
        assert_eq!(value(line, key).as_deref(), *expected, "{line:?}");
    }
    // Line terminators of every kind, as in Node's and Ruby's suites.
    for text in [
        "SERVER=localhost\rPASSWORD=password\rDB=tests\r",
        "SERVER=localhost\nPASSWORD=password\nDB=tests\n",
        "SERVER=localhost\r\nPASSWORD=password\r\nDB=tests\r\n",
    ] {
        assert_eq!(
            value(text, "PASSWORD").as_deref(),
            Some("password"),
            "{text:?}"
        );
        assert_eq!(value(text, "DB").as_deref(), Some("tests"), "{text:?}");
    }
    // An unterminated quote loses its own line only (Node's suite, and python-dotenv's).
    assert_eq!(value("a=\"\nb=c", "b").as_deref(), Some("c"));
    assert_eq!(value("a=\"\nb=c", "a"), None);
}
