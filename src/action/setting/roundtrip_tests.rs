//! The evidence for the quoting rules: every value `write` accepts is read back byte
//! for byte by real bash (`set -a; source FILE`), by real python-dotenv
//! (`dotenv_values`, interpolation on, as applications call it) and by `read`; and
//! `read` agrees with python-dotenv on a corpus of hand-written oddities.
//!
//! bash is always installed. python-dotenv may not be: those checks are skipped
//! with a message, never failed, when `python3 -c 'import dotenv'` fails.

use std::fs;
use std::path::Path;
use std::process::Command;

use super::{SettingError, read, write};

/// Values that must survive a write and a read by every reader.
const TRICKY: &[&str] = &[
    "",
    "plain-token_AZaz09.:/@+=,%~x",
    "a=b=c",
    "x~y",
    "with space",
    " leading",
    "trailing ",
    "  both  ",
    "tab\there",
    "it's",
    "say \"hi\"",
    "both ' and \"",
    "'",
    "\"",
    "''",
    "\"\"",
    "a#b",
    "a #b",
    "#start",
    "$HOME",
    "$",
    "a$",
    "cost $5 and $(whoami)",
    "`whoami`",
    "${HOME",
    "$HOME\"quoted\"",
    "back\\slash",
    "a\\\\b",
    "\\n is not a newline",
    "\\\\x",
    "\\'",
    "\\\"",
    "it's a \\\\ path",
    "C:\\Windows\\$Recycle",
    "ünïcødé ✓",
    "日本語のトークン",
    "emoji 🎉 party",
    "\u{a0}no-break spaces\u{a0}",
    "line1\nline2",
    "\nleading newline",
    "trailing newline\n",
    "it's\nmulti \"line\"",
    "semi;colon|pipe&amp",
    "glob*?[ab]",
    "{brace,expansion}",
    "~/home",
    "a:~/x",
    "!bang !!",
    "<redirect> >out",
    "KEY=inner",
    "export X=1",
    "v1.AbC-dEf_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
];

/// Values no quoting carries faithfully to both readers: refused, file untouched.
const REFUSED: &[&str] = &[
    "ends in backslash\\",
    "it's $5",
    "it's `x`",
    "\\\\ and $",
    "${HOME}",
    "pre ${X:-default} post",
    "carriage\rreturn",
    "nul\0byte",
];

/// Preamble whose keys get overwritten, in every style a file may already use.
const OLD_STYLES: &[&str] = &[
    "K{i}=old",
    "export K{i}='old value' # keep this comment",
    "K{i} = \"old\nmulti-line\"",
    "K{i}=\"old\"#glued comment",
];

fn python_dotenv() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import dotenv"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!(
            "SKIPPED: python-dotenv checks — `python3 -c 'import dotenv'` failed; install it with `pip install python-dotenv`"
        );
    }
    found
}

/// The values bash sees for `keys` after `set -a; source FILE`.
fn bash_reads(file: &Path, keys: &[String]) -> Vec<String> {
    let output = Command::new("bash")
        .args([
            "-c",
            r#"set -a; source "$1" || exit 9; shift; for k in "$@"; do printf '%s\0' "${!k}"; done"#,
            "bash",
        ])
        .arg(file)
        .args(keys)
        .output()
        .expect("running bash");
    assert!(
        output.status.success() && output.stderr.is_empty(),
        "bash failed on {}: {}\n{}",
        file.display(),
        String::from_utf8_lossy(&output.stderr),
        fs::read_to_string(file).unwrap_or_default()
    );
    split_nul(&output.stdout)
}

/// What python-dotenv's `dotenv_values` returns, in its order: `key\0value\0`, with
/// `\x01` standing for a key without a value.
fn python_reads(file: &Path, interpolate: bool) -> Vec<String> {
    let script = r#"
import sys
from dotenv import dotenv_values
values = dotenv_values(sys.argv[1], interpolate=sys.argv[2] == "1")
out = b""
for key, value in values.items():
    out += key.encode() + b"\0" + ("\x01" if value is None else value).encode() + b"\0"
sys.stdout.buffer.write(out)
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(file)
        .arg(if interpolate { "1" } else { "0" })
        .output()
        .expect("running python3");
    assert!(
        output.status.success(),
        "python-dotenv failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    split_nul(&output.stdout)
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 output");
    let mut parts: Vec<String> = text.split('\0').map(str::to_owned).collect();
    // Every item ends with a NUL, so the last split is empty.
    parts.pop();
    parts
}

fn keys() -> Vec<String> {
    (0..TRICKY.len()).map(|i| format!("K{i}")).collect()
}

/// Writes every tricky value into `file` (starting from `initial`), then checks that
/// `read`, bash and python-dotenv all return exactly what was written.
fn round_trip(file: &Path, initial: &str, python: bool) {
    fs::write(file, initial).expect("writing the fixture");
    let backups = file.with_extension("backups");
    let keys = keys();
    for (key, value) in keys.iter().zip(TRICKY) {
        write(file, key, value, &backups.join(key)).expect("tricky value written");
        assert_eq!(read(file, key).ok().flatten().as_deref(), Some(*value));
    }
    let expected: Vec<String> = TRICKY.iter().map(|value| (*value).to_owned()).collect();
    assert_eq!(bash_reads(file, &keys), expected, "bash disagrees");
    if python {
        let pairs = python_reads(file, true);
        for (key, value) in keys.iter().zip(TRICKY) {
            let at = pairs.iter().step_by(2).position(|k| k == key);
            let got = at.and_then(|at| pairs.get(2 * at + 1));
            assert_eq!(
                got.map(String::as_str),
                Some(*value),
                "python-dotenv, {key}"
            );
        }
    }
}

#[test]
fn bash_and_python_dotenv_read_back_every_value_exactly() {
    let python = python_dotenv();
    let tmp = tempfile::tempdir().expect("a temporary directory");

    round_trip(
        &tmp.path().join("appended.env"),
        "# appended\nEXISTING=1",
        python,
    );

    let initial: String = (0..TRICKY.len())
        .map(|i| OLD_STYLES[i % OLD_STYLES.len()].replace("{i}", &i.to_string()) + "\n")
        .collect();
    round_trip(&tmp.path().join("replaced.env"), &initial, python);
}

#[test]
fn values_no_quoting_carries_are_refused_and_the_file_is_untouched() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join(".env");
    fs::write(&file, "KEY=old\n").expect("fixture");
    for value in REFUSED {
        let error = write(&file, "KEY", value, &tmp.path().join("backup")).expect_err(value);
        assert!(
            matches!(error, SettingError::Unrepresentable { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains(value), "{error}");
        assert_eq!(fs::read_to_string(&file).ok().as_deref(), Some("KEY=old\n"));
    }
}

/// Why the rules are what they are: each line is a quoting the rules avoid, with
/// what bash and python-dotenv make of it (`RB_UNSET` unset, `HOME=/h`).
#[test]
fn the_quotings_the_rules_avoid_are_read_differently() {
    if !python_dotenv() {
        return;
    }
    let cases = [
        // bash expands `$` in double quotes; python-dotenv has no escape for it.
        ("K=\"a $RB_UNSET b\"", "a  b", "a $RB_UNSET b"),
        ("K=\"a\\$b\"", "a$b", "a\\$b"),
        ("K=\"a\\`b\"", "a`b", "a\\`b"),
        // python-dotenv decodes `\\` inside single quotes; bash does not.
        ("K='a\\\\b'", "a\\\\b", "a\\b"),
        // bash expands a leading `~` in an assignment.
        ("K=~/x", "/h/x", "~/x"),
        // python-dotenv expands `${…}` even in single quotes.
        ("K='${RB_UNSET}'", "${RB_UNSET}", ""),
    ];
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join(".env");
    // One file, one key per case, so each reader starts once.
    let mut text = String::new();
    for (i, (line, _, _)) in cases.iter().enumerate() {
        text.push_str(&line.replacen('K', &format!("K{i}"), 1));
        text.push('\n');
    }
    fs::write(&file, &text).expect("fixture");
    let keys: Vec<String> = (0..cases.len()).map(|i| format!("K{i}")).collect();
    let bash_saw = Command::new("bash")
        .args([
            "-c",
            r#"set -a; source "$1"; shift; for k in "$@"; do printf '%s\0' "${!k}"; done"#,
            "bash",
        ])
        .arg(&file)
        .args(&keys)
        .env("HOME", "/h")
        .env_remove("RB_UNSET")
        .output()
        .expect("running bash");
    let bash_saw = split_nul(&bash_saw.stdout);
    let python_saw = python_reads(&file, true);
    for (i, (line, bash, python)) in cases.iter().enumerate() {
        assert_eq!(
            bash_saw.get(i).map(String::as_str),
            Some(*bash),
            "bash, {line}"
        );
        assert_eq!(
            python_saw.get(2 * i + 1).map(String::as_str),
            Some(*python),
            "python-dotenv, {line}"
        );
    }
}

/// Lines operators and other tools write, including broken ones.
const CORPUS: &str = "\
# comment
PLAIN=abc
export EXPORTED=yes
export  TWO_SPACES=2
exportGLUED=3
  INDENTED=4
SPACED = around equals
COMMENTED=value # a comment
COMMENT_TABS=value\t#\ttabs\t
HASH=a#b
NOT_COMMENT=#value
EMPTY_THEN_COMMENT= # c
EMPTY=
NOVALUE
NOVALUE_COMMENT # c
'QUOTED KEY'=q
SINGLE='literal \\n $HOME'
SINGLE_ESC='it\\'s \\\\ done'
SINGLE_COMMENT='a' # c
DOUBLE=\"tab\\tq\\\" b\\\\ n\\n d\\$ z\\z bell\\a\\b\\f\\v\\r\"
DOUBLE_GLUED=\"a\"#c
MULTI=\"line one
line two\"
MULTI_SINGLE='one
two'
TRAILING_JUNK=\"a\" junk
LEAD_TAB=\t tab lead
UNICODE=é # c
NBSP=a\u{a0}#c
=nokey
DUP=first
DUP=second
CRLF=one\r
CRLF_MULTI=\"a\r
b\"\r
LONE_CR=x\rNEXT=y
BACKSLASH_END='x\\'
AFTER='y'
UNTERMINATED=\"never closed
LAST=z";

#[test]
fn read_agrees_with_python_dotenv_on_odd_files() {
    if !python_dotenv() {
        return;
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join("corpus.env");
    fs::write(&file, CORPUS).expect("writing the corpus");
    let pairs = python_reads(&file, false);
    assert!(pairs.len() > 40, "python-dotenv read too little: {pairs:?}");
    let mut expected = Vec::new();
    for pair in pairs.chunks(2) {
        let [key, value] = pair else {
            panic!("odd python output {pairs:?}")
        };
        let value = (value != "\u{1}").then(|| value.clone());
        expected.push((key.clone(), value));
    }
    let ours: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(key, _)| (key.clone(), super::dotenv::get(CORPUS, key)))
        .collect();
    assert_eq!(ours, expected);
    // And no key python-dotenv does not see.
    let mut our_keys: Vec<String> = super::dotenv::parse(CORPUS)
        .into_iter()
        .filter_map(|binding| binding.key)
        .collect();
    our_keys.sort();
    our_keys.dedup();
    let mut their_keys: Vec<String> = expected.into_iter().map(|(key, _)| key).collect();
    their_keys.sort();
    assert_eq!(our_keys, their_keys);
}
