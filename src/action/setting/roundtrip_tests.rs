//! The evidence for the quoting rules: every value `write` accepts is read back byte
//! for byte by real bash (`set -a; source FILE`), by real python-dotenv
//! (`dotenv_values`, interpolation on, as applications call it) and by `read`; and
//! `read` agrees with python-dotenv on a corpus of hand-written oddities.
//!
//! bash is always installed. python-dotenv may not be, or be another release: those
//! checks are then skipped with a notice on the terminal, or failed under
//! `RUNBOOK_REQUIRE_TOOLS=1`, as `.ci/run` runs them.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
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
    "C:\\",
    "C:\\Users\\me\\",
    "\\",
    "\\\\",
    "ends in backslash\\",
    "it's C:\\",
    "say \"C:\\\"",
    "multi\nline\\",
    "${a:b}",
    "${not closed",
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
    "$5 and a final backslash\\",
    "it's $5",
    "it's `x`",
    "\\\\ and $",
    "${HOME}",
    "pre ${X:-default} post",
    "${}",
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

/// The python-dotenv release the dialect follows; `.ci/run` installs exactly this one.
const PYTHON_DOTENV: &str = "1.2.4";

/// Whether python-dotenv [`PYTHON_DOTENV`] is what `python3` imports. When it is not,
/// the test says so on the terminal (past the test harness's capture) and skips its
/// python-dotenv part, unless `RUNBOOK_REQUIRE_TOOLS=1` (set by `.ci/run`) makes that
/// a failure: CI must never pass by skipping.
fn python_dotenv() -> bool {
    let found = Command::new("python3")
        .args([
            "-c",
            "from dotenv.version import __version__; print(__version__)",
        ])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    let problem = match found {
        Some(version) if version == PYTHON_DOTENV => return true,
        Some(version) => format!("python-dotenv {version} is installed"),
        None => "python-dotenv is not installed".to_owned(),
    };
    let message = format!(
        "{problem}, and these checks agree with python-dotenv {PYTHON_DOTENV}: `pip install python-dotenv=={PYTHON_DOTENV}`"
    );
    assert!(
        std::env::var_os("RUNBOOK_REQUIRE_TOOLS").is_none_or(|value| value != "1"),
        "{message} (RUNBOOK_REQUIRE_TOOLS=1 makes a missing tool a failure)"
    );
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    // Straight to the terminal: `eprintln!` is captured and hidden for passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED (python-dotenv part of {test}): {message}"
    );
    false
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
    python_reads_each(&[file], interpolate)
        .pop()
        .unwrap_or_default()
}

/// [`python_reads`] for each of `files`, in one Python process.
fn python_reads_each(files: &[&Path], interpolate: bool) -> Vec<Vec<String>> {
    let script = r#"
import sys
from dotenv import dotenv_values
out = b""
for file in sys.argv[2:]:
    values = dotenv_values(file, interpolate=sys.argv[1] == "1")
    for key, value in values.items():
        out += key.encode() + b"\0" + ("\x01" if value is None else value).encode() + b"\0"
    out += b"\x02\0"
sys.stdout.buffer.write(out)
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(if interpolate { "1" } else { "0" })
        .args(files)
        .output()
        .expect("running python3");
    assert!(
        output.status.success(),
        "python-dotenv failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut each = vec![Vec::new()];
    for item in split_nul(&output.stdout) {
        if item == "\u{2}" {
            each.push(Vec::new());
        } else if let Some(current) = each.last_mut() {
            current.push(item);
        }
    }
    // The last separator opened a list no file fills.
    each.pop();
    each
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
        write(file, &[(key, value)], &backups.join(key)).expect("tricky value written");
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
        let error = write(&file, &[("KEY", value)], &tmp.path().join("backup")).expect_err(value);
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

/// The lines on which python-dotenv 1.2.2 and this reader once disagreed with bash:
/// bash, python-dotenv and `read` now see the same values.
#[test]
fn read_agrees_with_bash_and_python_dotenv_on_empty_values_and_final_backslashes() {
    let text = "\
EMPTY_THEN_COMMENT= # comment
TAB_THEN_COMMENT=\t#c
ESCAPED_BACKSLASH=\"C:\\\\\"
HIDDEN_BEFORE=shown
LATER_QUOTE=\"x y\"
PATH_END=\"C:\\\\Users\\\\me\\\\\" # a Windows path
";
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join(".env");
    fs::write(&file, text).expect("fixture");
    let keys: Vec<String> = super::dotenv::parse(text)
        .into_iter()
        .filter_map(|binding| binding.key)
        .collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    let ours: Vec<String> = keys
        .iter()
        .map(|key| read(&file, key).ok().flatten().unwrap_or_default())
        .collect();
    assert_eq!(
        ours,
        ["", "", "C:\\", "shown", "x y", "C:\\Users\\me\\"],
        "read"
    );
    assert_eq!(bash_reads(&file, &keys), ours, "bash");
    if python_dotenv() {
        let pairs = python_reads(&file, true);
        let theirs: Vec<&String> = pairs.iter().skip(1).step_by(2).collect();
        assert_eq!(theirs, ours.iter().collect::<Vec<_>>(), "python-dotenv");
    }
}

/// Editors on Windows start UTF-8 files with a byte-order mark; python-dotenv drops
/// it, so the first key is `FIRST`, and an edit keeps the mark.
#[test]
fn a_byte_order_mark_reads_and_writes_like_python_dotenv() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join(".env");
    fs::write(&file, "\u{feff}FIRST=1\nSECOND='2'\n").expect("fixture");
    assert_eq!(read(&file, "FIRST").ok().flatten().as_deref(), Some("1"));
    let python = python_dotenv();
    if python {
        assert_eq!(python_reads(&file, true), ["FIRST", "1", "SECOND", "2"]);
    }
    write(&file, &[("FIRST", "a b")], &tmp.path().join("backup")).expect("write");
    assert_eq!(
        fs::read_to_string(&file).ok().as_deref(),
        Some("\u{feff}FIRST='a b'\nSECOND='2'\n")
    );
    if python {
        assert_eq!(python_reads(&file, true), ["FIRST", "a b", "SECOND", "2"]);
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
ESCAPED_BACKSLASH=\"C:\\\\\"
HIDDEN_BY_1_2_2=shown
DOUBLE_AFTER=\"x y\"
SINGLE_ESCAPED_BACKSLASH='D:\\\\'
SINGLE_AFTER='z'
EMPTY_TAB_COMMENT=\t# c
EMPTY_SPACED_COMMENT =  #c
NOT_EMPTY=#c
BACKSLASH_NEWLINE=\"a\\
b\"
BACKSLASH_OTHER='a\\b\\'c'
uglyKey[%$=\"S3cr3t_P4ssw#rD\" #
foo= \"bar#baz\" # comment
export   K_AND_SPACING  =some_value
BACKTICKS=`backticks`
OPTION_A: 1
BACKSLASH_SPACE=bar\\ bar
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
    assert_eq!(bindings_read_by_us(CORPUS), bindings_read_by_python(&pairs));
}

/// Every key `text` sets, with the value `read` gives it (`None`: no value), by key.
fn bindings_read_by_us(text: &str) -> Vec<(String, Option<String>)> {
    let mut keys: Vec<String> = super::dotenv::parse(text)
        .into_iter()
        .filter_map(|binding| binding.key)
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let value = super::dotenv::get(text, &key);
            (key, value)
        })
        .collect()
}

/// The same from [`python_reads`]' output.
fn bindings_read_by_python(pairs: &[String]) -> Vec<(String, Option<String>)> {
    let mut bindings: Vec<(String, Option<String>)> = pairs
        .chunks(2)
        .map(|pair| {
            let value = pair.get(1).filter(|value| *value != "\u{1}").cloned();
            (pair[0].clone(), value)
        })
        .collect();
    bindings.sort();
    bindings
}

/// The cases taken from other dotenv libraries' suites are what python-dotenv reads.
#[test]
fn the_suites_cases_read_like_python_dotenv() {
    if !python_dotenv() {
        return;
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let cases = super::dotenv::tests::SUITE_CASES;
    let files: Vec<PathBuf> = cases
        .iter()
        .enumerate()
        .map(|(i, (line, _, _))| {
            let file = tmp.path().join(format!("{i}.env"));
            fs::write(&file, line).expect("writing a case");
            file
        })
        .collect();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    for ((line, key, expected), pairs) in cases.iter().zip(python_reads_each(&paths, false)) {
        let theirs = bindings_read_by_python(&pairs)
            .into_iter()
            .find(|(their_key, _)| their_key == key)
            .and_then(|(_, value)| value);
        assert_eq!(theirs.as_deref(), *expected, "{line:?}");
    }
}

/// What generated files are made of: the characters and words dotenv syntax uses.
const FILE_PIECES: &[&str] = &[
    "A", "B", "=", " ", "\t", "#", "'", "\"", "\\", "\n", "\r\n", "\r", "export ", "x", "$", "{",
    "}", "é", "\u{feff}", "`", ":", "-", "\u{a0}",
];

/// What generated values are made of: the characters quoting is about.
const VALUE_PIECES: &[&str] = &[
    "a", "\\", "'", "\"", "$", "`", " ", "\n", "#", "{", "}", "~", ":", "é", "-", "!", "${", "\\\\",
];

/// A xorshift64 sequence of numbers below a bound: the same cases on every run.
fn pseudo_random(mut state: u64) -> impl FnMut(usize) -> usize {
    move |below| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        usize::try_from(state % below as u64).unwrap_or(0)
    }
}

/// Files made of the pieces dotenv syntax is made of, in a fixed pseudo-random order:
/// on every one, `read` sees the keys and values python-dotenv sees.
#[test]
fn read_agrees_with_python_dotenv_on_generated_files() {
    if !python_dotenv() {
        return;
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut next = pseudo_random(0x9e37_79b9_7f4a_7c15);
    let texts: Vec<String> = (0..500)
        .map(|_| {
            (0..=next(40))
                .map(|_| FILE_PIECES[next(FILE_PIECES.len())])
                .collect()
        })
        .collect();
    let files: Vec<_> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let file = tmp.path().join(format!("{i}.env"));
            fs::write(&file, text).expect("writing a generated file");
            file
        })
        .collect();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let theirs = python_reads_each(&paths, false);
    assert_eq!(theirs.len(), texts.len());
    for (text, pairs) in texts.iter().zip(theirs) {
        assert_eq!(
            bindings_read_by_us(text),
            bindings_read_by_python(&pairs),
            "{text:?}"
        );
    }
}

/// Values made of the characters quoting is about: each one `write` accepts reads
/// back exactly with bash, python-dotenv and `read`.
#[test]
fn generated_values_read_back_exactly_with_every_reader() {
    let python = python_dotenv();
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let file = tmp.path().join("values.env");
    let mut next = pseudo_random(0x2545_f491_4f6c_dd1d);
    // Edited in memory, written once: `write`'s fsyncs would make this slow and
    // prove nothing more about the format.
    let mut text = String::new();
    let mut values = Vec::new();
    let mut keys = Vec::new();
    for i in 0..600 {
        let value: String = (0..next(9))
            .map(|_| VALUE_PIECES[next(VALUE_PIECES.len())])
            .collect();
        let key = format!("K{i}");
        if let Ok(encoded) = super::dotenv::encode(&value) {
            text = super::dotenv::set(&text, &key, &encoded);
            values.push(value);
            keys.push(key);
        }
    }
    assert!(values.len() > 400, "only {} of 600 written", values.len());
    fs::write(&file, &text).expect("writing the values");
    for (key, value) in keys.iter().zip(&values) {
        assert_eq!(
            read(&file, key).ok().flatten().as_ref(),
            Some(value),
            "read {key}"
        );
    }
    assert_eq!(&bash_reads(&file, &keys), &values, "bash");
    if python {
        let pairs = python_reads(&file, true);
        let theirs: Vec<&String> = pairs.iter().skip(1).step_by(2).collect();
        assert_eq!(theirs, values.iter().collect::<Vec<_>>(), "python-dotenv");
    }
}
