//! The dotenv format: reading it the way python-dotenv does, choosing a quoting that
//! bash's `source` and python-dotenv both read back exactly, and editing one key while
//! every other byte of the file stays as it was.
//!
//! The parser mirrors python-dotenv 1.2.4's (`dotenv/parser.py`) statement by
//! statement, so "the value of KEY" means what the platform reading the file will see.
//! It does not expand `${VAR}`: `read_setting` returns the text as written.

/// One statement of a dotenv file: a binding, a comment, or a line python-dotenv
/// cannot parse (skipped, `key` and `value` both `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub key: Option<String>,
    /// `None` for `KEY` with no `=` (python-dotenv's "no value").
    pub value: Option<String>,
    /// Where the statement starts (its `export` or key), past leading blank lines.
    start: usize,
    /// Where the key starts, past any `export ` prefix.
    key_start: usize,
    /// Where the value's text ends: what follows up to `line_end` is blanks and a
    /// comment.
    value_end: usize,
    /// Where the line terminator starts.
    line_end: usize,
}

/// The value of `key`, python-dotenv style: when a key occurs several times the last
/// occurrence wins (later assignments override earlier ones, as in a shell).
pub fn get(text: &str, key: &str) -> Option<String> {
    parse(text)
        .into_iter()
        .rev()
        .find(|binding| binding.key.as_deref() == Some(key))
        .and_then(|binding| binding.value)
}

/// `text` without any statement of `key` (each line removed with its terminator).
pub fn unset(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut kept = 0;
    for binding in parse(text) {
        if binding.key.as_deref() != Some(key) {
            continue;
        }
        out.push_str(&text[kept..binding.start]);
        let rest = &text[binding.line_end..];
        kept = binding.line_end
            + if rest.starts_with("\r\n") {
                2
            } else {
                usize::from(rest.starts_with(['\n', '\r']))
            };
    }
    out.push_str(&text[kept..]);
    out
}

/// `text` with `key` set to the already-quoted `encoded` value.
///
/// EVERY occurrence of the key is replaced: readers disagree on which one wins
/// (python-dotenv, bash, Node and Ruby take the last; dotenvy's default loader never
/// overrides a variable already set, so it keeps the first), and an old secret left
/// on an earlier line would still sit in the file. Each statement becomes
/// `[export ]KEY=encoded`, keeping its `export ` prefix, its indentation, its trailing
/// comment and its line terminator. An absent key is appended as `KEY=encoded`, after
/// adding the final newline the file may have lacked.
pub fn set(text: &str, key: &str, encoded: &str) -> String {
    let bindings = parse(text);
    let mut occurrences = bindings
        .iter()
        .filter(|binding| binding.key.as_deref() == Some(key))
        .peekable();
    if occurrences.peek().is_none() {
        let newline = if first_newline_is_crlf(text) {
            "\r\n"
        } else {
            "\n"
        };
        let mut out = String::with_capacity(text.len() + key.len() + encoded.len() + 3);
        out.push_str(text);
        if !text.is_empty() && !text.ends_with(['\n', '\r']) {
            out.push_str(newline);
        }
        out.push_str(key);
        out.push('=');
        out.push_str(encoded);
        out.push_str(newline);
        return out;
    }
    let mut out = String::with_capacity(text.len() + encoded.len());
    let mut copied = 0;
    for binding in occurrences {
        out.push_str(&text[copied..binding.key_start]);
        let tail = &text[binding.value_end..binding.line_end];
        let comment = tail.trim_start_matches(is_space).starts_with('#');
        out.push_str(key);
        out.push('=');
        // `KEY= # c` is empty for bash and python-dotenv 1.2.4, but `# c` for the
        // python-dotenv releases before it; `''` is empty for every reader.
        out.push_str(if comment && encoded.is_empty() {
            "''"
        } else {
            encoded
        });
        if comment {
            // A comment glued to a closing quote (`"x"#c`) would become part of an
            // unquoted value: python-dotenv only sees a comment after a blank.
            if !tail.starts_with(is_space) {
                out.push(' ');
            }
            out.push_str(tail);
        }
        copied = binding.line_end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether `edited` (the result of [`set`]) reads back `value` for every occurrence
/// of `key`, and every other statement exactly as `original` did. This catches the
/// cases where a new line would be swallowed by something earlier, like an
/// unterminated quote.
pub fn edit_is_faithful(original: &str, edited: &str, key: &str, value: &str) -> bool {
    let (mine, others_edited): (Vec<Binding>, Vec<Binding>) = parse(edited)
        .into_iter()
        .partition(|binding| binding.key.as_deref() == Some(key));
    let others_original = parse(original)
        .into_iter()
        .filter(|binding| binding.key.as_deref() != Some(key));
    !mine.is_empty()
        && mine
            .iter()
            .all(|binding| binding.value.as_deref() == Some(value))
        && others_original
            .map(|binding| (binding.key, binding.value))
            .eq(others_edited
                .into_iter()
                .map(|binding| (binding.key, binding.value)))
}

/// Why a value cannot be written so that bash and python-dotenv agree on it.
pub type Unrepresentable = &'static str;

/// `value` as it should appear after `KEY=`.
///
/// - Plain values (ASCII letters, digits, `_-.:/@+=,%~`) stay unquoted, so readers
///   that know no quoting at all (`docker --env-file`) get them right too. A `~` at
///   the start or after a `:` is not plain: bash expands it in an assignment.
/// - Otherwise single quotes, literal in both bash and python-dotenv, when the value
///   has no `'`, no `\\` and does not end in `\` (python-dotenv decodes `\\` and
///   `\'` inside single quotes; bash does not).
/// - Otherwise double quotes escaping `\` and `"` (the only escapes both decode the
///   same way), newlines literal, when the value has no `$` or backtick (which bash
///   expands and python-dotenv cannot escape). A final backslash is written `\\`,
///   which python-dotenv 1.2.4 and bash both read as one backslash.
///
/// What is left cannot be written faithfully for both readers: values with `$` or a
/// backtick *and* a `'`, a `\\` or a final `\`; values with `${…}` as python-dotenv
/// expands it (even inside single quotes); carriage returns and NULs (which neither
/// keeps).
pub fn encode(value: &str) -> Result<String, Unrepresentable> {
    if value.contains('\r') {
        return Err("contains a carriage return, which dotenv readers turn into a newline");
    }
    if value.contains('\0') {
        return Err("contains a NUL character, which no environment variable can hold");
    }
    if python_dotenv_interpolates(value) {
        return Err("contains `${…}`, which python-dotenv expands even inside quotes");
    }
    if is_plain(value) {
        return Ok(value.to_owned());
    }
    if !value.contains('\'') && !value.contains("\\\\") && !value.ends_with('\\') {
        return Ok(format!("'{value}'"));
    }
    if !value.contains(['$', '`']) {
        let mut out = String::with_capacity(value.len() + 2);
        out.push('"');
        for c in value.chars() {
            if matches!(c, '\\' | '"') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        return Ok(out);
    }
    Err(
        "has `$` or a backtick together with a single quote, a double backslash or a final backslash: bash expands `$` inside double quotes and python-dotenv decodes backslashes inside single quotes",
    )
}

/// Whether python-dotenv's interpolation pattern, `\$\{[^}:]*(:-[^}]*)?\}`, matches
/// somewhere in `value` (`dotenv/variables.py`).
fn python_dotenv_interpolates(value: &str) -> bool {
    value.match_indices("${").any(|(at, _)| {
        let rest = &value[at + 2..];
        match rest.find(['}', ':']) {
            Some(end) if rest[end..].starts_with('}') => true,
            Some(end) => rest[end + 1..]
                .strip_prefix('-')
                .is_some_and(|default| default.contains('}')),
            None => false,
        }
    })
}

fn is_plain(value: &str) -> bool {
    let mut previous = None;
    value.chars().all(|c| {
        let tilde_expands = c == '~' && matches!(previous, None | Some(':'));
        previous = Some(c);
        !tilde_expands && (c.is_ascii_alphanumeric() || "_-.:/@+=,%~".contains(c))
    })
}

fn first_newline_is_crlf(text: &str) -> bool {
    text.find('\n').is_some_and(|at| text[..at].ends_with('\r'))
}

/// Python's `\s` (`str.isspace`), which python-dotenv's patterns use: Unicode white
/// space plus the ASCII separators U+001C..U+001F.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python-dotenv's `[^\S\r\n]`: a blank that does not end a line.
fn is_blank(c: char) -> bool {
    is_space(c) && c != '\r' && c != '\n'
}

fn skip(text: &str, from: usize, keep: impl Fn(char) -> bool) -> usize {
    text[from..]
        .find(|c: char| !keep(c))
        .map_or(text.len(), |at| from + at)
}

/// Every statement of `text`, in order (python-dotenv's `parse_stream`).
pub fn parse(text: &str) -> Vec<Binding> {
    let mut bindings = Vec::new();
    // A byte-order mark at the start is no part of the first key (python-dotenv 1.2.4).
    let mut pos = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    while pos < text.len() {
        let start = skip(text, pos, is_space);
        if start == text.len() {
            break;
        }
        match statement(text, start) {
            Ok((binding, next)) => {
                bindings.push(binding);
                pos = next;
            }
            Err(failed_at) => {
                // Like python-dotenv: drop the rest of the line where parsing failed.
                let end = skip(text, failed_at, |c| c != '\r' && c != '\n');
                pos = end + usize::from(end < text.len());
                bindings.push(Binding {
                    key: None,
                    value: None,
                    start,
                    key_start: start,
                    value_end: start,
                    line_end: end,
                });
            }
        }
    }
    bindings
}

/// One statement starting at `start`; on failure, where it failed.
fn statement(text: &str, start: usize) -> Result<(Binding, usize), usize> {
    let mut pos = start;
    if let Some(rest) = text[pos..].strip_prefix("export") {
        let after = skip(text, text.len() - rest.len(), is_blank);
        if after > text.len() - rest.len() {
            pos = after;
        }
    }
    let key_start = pos;
    let key = if text[pos..].starts_with('#') {
        None
    } else if let Some(rest) = text[pos..].strip_prefix('\'') {
        match rest.find('\'') {
            Some(len) if len > 0 => {
                pos += len + 2;
                Some(normalize_newlines(&rest[..len]))
            }
            _ => return Err(pos),
        }
    } else {
        let end = skip(text, pos, |c| c != '=' && c != '#' && !is_space(c));
        if end == pos {
            return Err(pos);
        }
        let key = text[pos..end].to_owned();
        pos = end;
        Some(key)
    };
    let mut value_end = pos;
    pos = skip(text, pos, is_blank);
    let value = if text[pos..].starts_with('=') {
        let after_equals = pos + 1;
        let value_start = skip(text, after_equals, is_blank);
        if value_start > after_equals && text[value_start..].starts_with('#') {
            // `KEY= # c`: an empty value, then a comment (python-dotenv 1.2.4, bash).
            value_end = after_equals;
            pos = value_start;
            Some(String::new())
        } else {
            let (value, end) = parse_value(text, value_start)?;
            value_end = end;
            pos = end;
            Some(value)
        }
    } else {
        None
    };
    let after_blanks = skip(text, pos, is_blank);
    if text[after_blanks..].starts_with('#') {
        pos = skip(text, after_blanks, |c| c != '\r' && c != '\n');
    }
    let line_end = skip(text, pos, is_blank);
    let next = if line_end == text.len() {
        line_end
    } else if text[line_end..].starts_with("\r\n") {
        line_end + 2
    } else if text[line_end..].starts_with(['\r', '\n']) {
        line_end + 1
    } else {
        return Err(pos);
    };
    let binding = Binding {
        key,
        value,
        start,
        key_start,
        value_end,
        line_end,
    };
    Ok((binding, next))
}

/// The value starting at `pos` and where its text ends.
fn parse_value(text: &str, pos: usize) -> Result<(String, usize), usize> {
    match text[pos..].chars().next() {
        Some(quote @ ('\'' | '"')) => {
            let (raw, end) = quoted(text, pos, quote).ok_or(pos)?;
            Ok((unescape(&normalize_newlines(raw), quote), end))
        }
        None | Some('\r' | '\n') => Ok((String::new(), pos)),
        Some(_) => {
            let line = &text[pos..skip(text, pos, |c| c != '\r' && c != '\n')];
            let value = strip_comment(line).trim_end_matches(is_space);
            Ok((value.to_owned(), pos + value.len()))
        }
    }
}

/// An unquoted value loses everything from the first blank run followed by `#`.
fn strip_comment(line: &str) -> &str {
    let mut run_start = None;
    for (at, c) in line.char_indices() {
        if is_space(c) {
            run_start = run_start.or(Some(at));
        } else if c == '#' && run_start.is_some() {
            return &line[..run_start.unwrap_or(at)];
        } else {
            run_start = None;
        }
    }
    line
}

/// The raw body of the quoted value opening at `open`, and the position after its
/// closing quote. Python-dotenv 1.2.4's pattern is `Q((?:\\.|[^Q\\])*)Q`: a
/// backslash escapes whatever follows it, so `\\` never starts an escaped quote and
/// `\Q` never closes the value.
fn quoted(text: &str, open: usize, quote: char) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    // Quotes and backslashes are ASCII, and a UTF-8 continuation byte is neither, so
    // byte scanning never closes the value inside a character.
    let quote = u8::try_from(quote).ok()?;
    let body = open + 1;
    let mut at = body;
    while let Some(&byte) = bytes.get(at) {
        if byte == b'\\' {
            at += 2;
        } else if byte == quote {
            return Some((&text[body..at], at + 1));
        } else {
            at += 1;
        }
    }
    None
}

/// Python reads files with universal newlines: `\r\n` and `\r` arrive as `\n`.
fn normalize_newlines(raw: &str) -> String {
    raw.replace("\r\n", "\n").replace('\r', "\n")
}

/// Python-dotenv's escapes: `\\` and `\'` in single quotes; those plus `\"` and
/// `\a \b \f \n \r \t \v` in double quotes. Any other backslash is kept as is (so
/// `"\$"` reads as `\$`, unlike in bash).
fn unescape(raw: &str, quote: char) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match (quote, chars.peek()) {
            (_, Some('\\')) => Some('\\'),
            (_, Some('\'')) => Some('\''),
            ('"', Some('"')) => Some('"'),
            ('"', Some('a')) => Some('\u{7}'),
            ('"', Some('b')) => Some('\u{8}'),
            ('"', Some('f')) => Some('\u{c}'),
            ('"', Some('n')) => Some('\n'),
            ('"', Some('r')) => Some('\r'),
            ('"', Some('t')) => Some('\t'),
            ('"', Some('v')) => Some('\u{b}'),
            _ => None,
        };
        match decoded {
            Some(decoded) => {
                chars.next();
                out.push(decoded);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
#[path = "dotenv_tests.rs"]
pub mod tests;
