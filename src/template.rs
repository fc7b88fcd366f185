//! Templates: the `MiniJinja` environment every runbook string is rendered with
//! (strict undefined, bounded work, the `last4` and `mask` filters), and the
//! static analysis `validate` runs on them — syntax, and which variables a
//! template reads.

use std::fmt::{self, Write as _};
use std::ops::Range;

mod undeclared;

use minijinja::machinery::{Token, parse, tokenize};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::ValueKind;
use minijinja::{Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value};

/// What a masked secret looks like: four bullets and the last four characters.
pub const MASK: &str = "••••";

/// The work one rendering may do, in `MiniJinja`'s fuel: one per instruction,
/// and one per 64 bytes of data made or written (checked before a large string
/// or list is made, so `"a" * 99999999` fails at once). A runbook's templates
/// use a few hundred; this bounds a loop at a quarter of a million steps and
/// the data at 16 MB, so a hostile template fails in milliseconds.
pub const FUEL: u64 = 250_000;

/// The most text one rendering may write from its `{{ … }}`: 1 MiB, as much as
/// a command's output that runbook keeps.
pub const MAX_OUTPUT: usize = 1024 * 1024;

/// Why a rendering stopped at [`MAX_OUTPUT`].
const TOO_LARGE: &str = "the text it writes would be larger than 1 MiB";

/// Strict undefined and bounded work: the base of every environment that
/// renders runbook templates (the plan adds placeholder-aware filters to it).
pub fn bounded() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_formatter(capped);
    env
}

/// The environment shared by validation and rendering.
pub fn environment() -> Environment<'static> {
    let mut env = bounded();
    env.add_filter("last4", last4);
    env.add_filter("mask", mask);
    env
}

/// Whether a rendering failed because it would do more than [`FUEL`] or write
/// more than [`MAX_OUTPUT`] allow, with a sentence saying which.
pub fn exceeded(error: &Error) -> Option<&'static str> {
    match error.kind() {
        ErrorKind::OutOfFuel => {
            Some("it does more work than a template may (a loop too long, a value too large)")
        }
        ErrorKind::InvalidOperation if error.detail() == Some(TOO_LARGE) => Some(TOO_LARGE),
        _ => None,
    }
}

/// Bytes written so far by the `{{ … }}` of the current rendering.
struct Written(usize);

/// Writes a value as `MiniJinja` does without auto-escaping (runbook templates
/// are rendered from strings, never as HTML), refusing to go past [`MAX_OUTPUT`].
fn capped(out: &mut Output<'_>, state: &mut State<'_, '_>, value: &Value) -> Result<(), Error> {
    let written = state.get_or_insert_extension(Written(0));
    let too_large = || Error::new(ErrorKind::InvalidOperation, TOO_LARGE);
    if oversized(value, &mut MAX_OUTPUT.saturating_sub(written.0), 0) {
        return Err(too_large());
    }
    let mut sink = Limited {
        out,
        left: MAX_OUTPUT.saturating_sub(written.0),
        over: false,
    };
    let result = write!(sink, "{value}");
    written.0 = MAX_OUTPUT - sink.left;
    match result {
        Ok(()) => Ok(()),
        Err(_) if sink.over => Err(too_large()),
        Err(error) => Err(Error::from(error)),
    }
}

/// How deeply nested a list or map may be shown.
const MAX_NESTING: usize = 64;

/// Whether showing `value` would write more than `budget` bytes, judged by
/// sizes alone — each item of a list or map shows as a byte at least — before
/// any is written: `MiniJinja` walks every item of a list it shows even once
/// the output refuses more, so `{{ ["a"] * 99999999 }}` would take a minute.
/// Looks at no more items than the budget.
fn oversized(value: &Value, budget: &mut usize, depth: usize) -> bool {
    let mut take = |n: usize| match budget.checked_sub(n) {
        Some(left) => {
            *budget = left;
            false
        }
        None => true,
    };
    if let Some(text) = value.as_str() {
        return take(text.len());
    }
    let kind = value.kind();
    if !matches!(kind, ValueKind::Seq | ValueKind::Map | ValueKind::Iterable) {
        return false;
    }
    // An iterable of unknown length is shown by its type, never walked.
    let Some(len) = value.len() else { return false };
    if depth >= MAX_NESTING || take(len) {
        return true;
    }
    let Ok(items) = value.try_iter() else {
        return false;
    };
    for item in items {
        let item = if kind == ValueKind::Map {
            value.get_item(&item).unwrap_or_default()
        } else {
            item
        };
        if oversized(&item, budget, depth + 1) {
            return true;
        }
    }
    false
}

/// An output that takes at most `left` more bytes.
struct Limited<'o, 'a> {
    out: &'o mut Output<'a>,
    left: usize,
    over: bool,
}

impl fmt::Write for Limited<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if text.len() > self.left {
            self.over = true;
            return Err(fmt::Error);
        }
        self.left -= text.len();
        self.out.write_str(text)
    }
}

/// The last four characters of a value: enough to recognise a token, not to use it.
pub fn last4(value: &str) -> String {
    let count = value.chars().count();
    value.chars().skip(count.saturating_sub(4)).collect()
}

/// `••••` followed by the last four characters.
pub fn mask(value: &str) -> String {
    format!("{MASK}{}", last4(value))
}

/// A template that does not parse, with the byte range of the fault in its text
/// when `MiniJinja` knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub range: Option<Range<usize>>,
}

/// Whether `text` holds a `{{ }}` or `{% %}` block, so is rendered rather than
/// taken as written. Asked of every string of every runbook: one `memchr` for
/// `{` costs less than the two substring searches it replaces.
pub fn has_blocks(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(found) = memchr::memchr(b'{', &bytes[from..]) {
        let at = from + found;
        if matches!(bytes.get(at + 1), Some(b'{' | b'%')) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The variables a template reads, as dotted paths (`steps.old_token.value`), sorted.
/// Loop variables and names the template sets itself are not included.
pub fn references(env: &Environment<'_>, source: &str) -> Result<Vec<String>, SyntaxError> {
    if !has_blocks(source) {
        return Ok(Vec::new());
    }
    // Parsed as `template_from_str` parses (the same parser, name and syntax, so
    // the same errors), but not compiled: only its syntax tree is read.
    let template =
        parse(source, "<string>", env.syntax().clone()).map_err(|error| SyntaxError {
            message: error
                .detail()
                .map_or_else(|| error.kind().to_string(), str::to_owned),
            range: error.range(),
        })?;
    let mut names: Vec<String> = undeclared::paths(&template).into_iter().collect();
    // MiniJinja reports nothing for some expressions (a slice such as
    // `inputs.token[:4]`); the dotted paths written inside `{{ }}` and `{% %}`
    // fill that gap.
    for path in written_paths(source) {
        let covers = |name: &String| {
            name.strip_prefix(path.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
        };
        if !names.iter().any(covers) {
            names.push(path);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// What a template calls by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `{{ x | name }}`, `{% filter name %}`
    Filter,
    /// `{% if x is name %}`, `x is not name`
    Test,
}

impl CallKind {
    pub fn noun(self) -> &'static str {
        match self {
            CallKind::Filter => "filter",
            CallKind::Test => "test",
        }
    }
}

/// A filter or test a template uses that the environment does not have, with
/// the byte range of its name in the template's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCall {
    pub kind: CallKind,
    pub name: String,
    pub range: Range<usize>,
}

/// The filters and tests a template uses that `env` does not have. `MiniJinja`
/// finds them only when a rendering reaches them (a run, maybe in production
/// at the irreversible step), so `validate` reads the names from the
/// template's tokens and asks the environment about each. A template that does
/// not parse has none (its syntax error is reported instead).
///
/// The tokenizer is `MiniJinja`'s own, from its `unstable_machinery` API
/// (pinned by Cargo.lock), so `{% raw %}`, strings and comments are read
/// exactly as a rendering reads them.
pub fn unknown_calls(env: &Environment<'_>, source: &str) -> Vec<UnknownCall> {
    if !has_blocks(source) {
        return Vec::new();
    }
    // A call needs a `|`, an `is` or a `filter` written somewhere; most
    // templates (`{{ inputs.base_url }}/health`) have none, and need no tokens.
    if !source.contains('|') && !source.contains("is") && !source.contains("filter") {
        return Vec::new();
    }
    let mut calls = Vec::new();
    // The tokens before the current one: a call is a name after `|`, after
    // `is` / `is not`, or after `{% filter`; `x.is` is an attribute.
    let mut before: [Option<Token<'_>>; 3] = [None, None, None];
    for token in tokenize(source, false, SyntaxConfig::default()) {
        let Ok((token, span)) = token else { break };
        if let Token::Ident(name) = token {
            let kind = match &before {
                [_, _, Some(Token::Pipe)] => Some(CallKind::Filter),
                [_, Some(Token::BlockStart), Some(Token::Ident("filter"))] => {
                    Some(CallKind::Filter)
                }
                [
                    Some(previous),
                    Some(Token::Ident("is")),
                    Some(Token::Ident("not")),
                ]
                | [_, Some(previous), Some(Token::Ident("is"))]
                    if !matches!(previous, Token::Dot) && name != "not" =>
                {
                    Some(CallKind::Test)
                }
                _ => None,
            };
            if let Some(kind) = kind
                && !known(env, kind, name)
            {
                calls.push(UnknownCall {
                    kind,
                    name: name.to_owned(),
                    range: span.start_offset as usize..span.end_offset as usize,
                });
            }
        }
        before = [before[1].take(), before[2].take(), Some(token)];
    }
    calls
}

/// Whether `env` has the filter or test `name` (an identifier): a one-line
/// rendering that uses it fails with "unknown filter/test" only if it does not.
fn known(env: &Environment<'_>, kind: CallKind, name: &str) -> bool {
    let probe = match kind {
        CallKind::Filter => format!("{{{{ none | {name} }}}}"),
        CallKind::Test => format!("{{% if none is {name} %}}{{% endif %}}"),
    };
    !matches!(
        env.render_str(&probe, minijinja::context! {})
            .map_err(|e| e.kind()),
        Err(ErrorKind::UnknownFilter | ErrorKind::UnknownTest)
    )
}

/// The names offered as a did-you-mean: the filters and tests runbooks use
/// most. Only words, not a second list of what exists: each is offered only
/// if `env` has it.
const COMMON_FILTERS: &[&str] = &[
    "last4",
    "mask",
    "default",
    "length",
    "lower",
    "upper",
    "trim",
    "replace",
    "join",
    "split",
    "first",
    "last",
    "list",
    "map",
    "select",
    "reject",
    "selectattr",
    "rejectattr",
    "sort",
    "unique",
    "int",
    "float",
    "string",
    "bool",
    "round",
    "abs",
    "tojson",
    "urlencode",
    "items",
    "dictsort",
    "title",
    "capitalize",
    "indent",
    "lines",
    "min",
    "max",
    "sum",
    "reverse",
];
const COMMON_TESTS: &[&str] = &[
    "defined",
    "undefined",
    "none",
    "true",
    "false",
    "string",
    "number",
    "integer",
    "float",
    "mapping",
    "sequence",
    "iterable",
    "startingwith",
    "endingwith",
    "divisibleby",
    "even",
    "odd",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "in",
];

/// The common names of `kind` that `env` has, to offer as a did-you-mean.
pub fn suggestions<'e>(
    env: &'e Environment<'_>,
    kind: CallKind,
) -> impl Iterator<Item = &'static str> + 'e {
    let common = match kind {
        CallKind::Filter => COMMON_FILTERS,
        CallKind::Test => COMMON_TESTS,
    };
    common
        .iter()
        .copied()
        .filter(move |name| known(env, kind, name))
}

/// Dotted paths from the template context (`inputs.x`, `steps.y.value`) written
/// inside expression and statement blocks.
fn written_paths(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for block in source.split("{{").skip(1).chain(source.split("{%").skip(1)) {
        let inner = block.split(['}', '%']).next().unwrap_or_default();
        dotted_paths(inner, &mut found);
    }
    found
}

/// The names a dotted path written in a template starts from.
const PATH_ROOTS: [&str; 3] = ["inputs", "steps", "run"];

/// Adds each `root.name[.name…]` in `text` that does not go on from a word:
/// what `\b(?:inputs|steps|run)(?:\.[A-Za-z_][A-Za-z0-9_]*)+` finds, scanned
/// by hand because that search was a tenth of `validate`'s work on templates.
fn dotted_paths(text: &str, found: &mut Vec<String>) {
    let mut after_word = false;
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        if !after_word && let Some(end) = path_end(text.as_bytes(), at) {
            found.push(text[at..end].to_owned());
            // A path ends on a name's character, so what follows is inside a word.
            (after_word, at) = (true, end);
            continue;
        }
        after_word = regex_syntax::is_word_character(c);
        at += c.len_utf8();
    }
}

/// Where the dotted path starting at `at` ends, if one starts there.
fn path_end(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = &bytes[at..];
    let root = PATH_ROOTS
        .iter()
        .find(|root| rest.starts_with(root.as_bytes()))?;
    let name_start = |b: &u8| b.is_ascii_alphabetic() || *b == b'_';
    let name_char = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let mut end = at + root.len();
    let mut names = 0;
    while bytes.get(end) == Some(&b'.') && bytes.get(end + 1).is_some_and(name_start) {
        end += 2;
        while bytes.get(end).is_some_and(name_char) {
            end += 1;
        }
        names += 1;
    }
    (names > 0).then_some(end)
}

/// The expression of a `when:` condition: the inside of one `{{ … }}`, or the
/// whole text written bare. Text around or between `{{ }}` is not a condition
/// (a non-empty string would always be true), nor is a `{% %}` block.
pub fn condition(source: &str) -> Result<&str, String> {
    let trimmed = source.trim();
    let inner = trimmed
        .strip_prefix("{{")
        .and_then(|s| s.strip_suffix("}}"))
        .map(|s| s.trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace()));
    let expression = match inner {
        Some(inner) if !inner.contains("{{") && !inner.contains("}}") => inner,
        Some(_) => return Err("it holds more than one `{{ }}`".to_owned()),
        None if has_blocks(trimmed) => {
            return Err(
                "it mixes text with `{{ }}` or `{% %}`, so it would always be true".to_owned(),
            );
        }
        None => trimmed,
    };
    if expression.is_empty() {
        return Err("it is empty".to_owned());
    }
    Ok(expression)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_blocks_is_a_search_for_either_opening() {
        for text in [
            "", "{", "{ {", "}{", "{x{", "a{b%", "{{", "{%", "x{{", "{ {{", "{{{", "{{}}", "%{",
            "{é{%", "é{{", "{", "a{\n{",
        ] {
            let either = text.contains("{{") || text.contains("{%");
            assert_eq!(has_blocks(text), either, "{text:?}");
        }
    }

    #[test]
    fn dotted_paths_are_what_the_pattern_finds() {
        let pattern =
            regex::Regex::new(r"\b(?:inputs|steps|run)(?:\.[A-Za-z_][A-Za-z0-9_]*)+").unwrap();
        let pieces = [
            "inputs", "steps", "run", ".", ".a", ".b1", "._x", ".9", "x", "_", " ", "é", "²",
            "\u{301}", "\u{200d}", "‿", "[", "]", ":", "|", "(", ")", "\"", "runx", "my",
        ];
        let texts = crate::test_support::sequences(&pieces, 4);
        for text in &texts {
            let mut found = Vec::new();
            dotted_paths(text, &mut found);
            let expected: Vec<&str> = pattern.find_iter(text).map(|m| m.as_str()).collect();
            assert_eq!(found, expected, "in {text:?}");
        }
    }

    #[test]
    fn rendering_is_bounded_in_work_and_output() {
        let env = environment();
        let context = minijinja::context! {};
        for source in [
            r#"{{ "a" * 99999999 }}"#,
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
            "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}{{ ns.x }}",
            r#"{{ ["a"] * 99999999 }}"#,
            r#"{{ [["a"] * 99999999] }}"#,
            r#"{{ {"k": ["a"] * 99999999} }}"#,
        ] {
            let error = env.render_str(source, &context).expect_err(source);
            assert!(exceeded(&error).is_some(), "{source}: {error}");
        }
        let error = env
            .render_str(r#"{{ "a" * 600000 }}{{ "b" * 600000 }}"#, &context)
            .expect_err("two halves over the cap");
        assert_eq!(exceeded(&error), Some(TOO_LARGE), "{error}");
        let fine = env
            .render_str(
                "{% for z in range(300) %}{{ z }},{% endfor %}{{ 'x' * 1000 }}",
                &context,
            )
            .unwrap();
        assert!(fine.starts_with("0,1,2,") && fine.ends_with("xxx"));
    }

    #[test]
    fn masks_keep_only_the_last_four_characters() {
        assert_eq!(last4("cfut_abcdefgh1234"), "1234");
        assert_eq!(mask("cfut_abcdefgh1234"), "••••1234");
        assert_eq!(last4("ab"), "ab");
        assert_eq!(last4("€uro€"), "uro€");
    }

    #[test]
    fn finds_nested_references() {
        let env = environment();
        let refs = references(
            &env,
            "{{ steps.old_token.value | last4 }} {{ inputs.api_base }}/zones/{{ item.id }}\
             {% for z in steps.zones.json.result %}{{ z.name }}{% endfor %}",
        )
        .unwrap();
        assert_eq!(
            refs,
            [
                "inputs.api_base",
                "item.id",
                "steps.old_token.value",
                "steps.zones.json.result"
            ]
        );
    }

    #[test]
    fn finds_references_minijinja_misses() {
        let refs = references(
            &environment(),
            "{{ inputs.token[:4] }} {{ steps.a.json.items[0].id }}",
        )
        .unwrap();
        assert!(refs.contains(&"inputs.token".to_owned()), "{refs:?}");
        assert!(refs.contains(&"steps.a.json.items".to_owned()), "{refs:?}");
        let plain = references(&environment(), "see inputs.x in the docs {{ inputs.y }}").unwrap();
        assert_eq!(plain, ["inputs.y"]);
    }

    #[test]
    fn reports_syntax_errors_with_a_range() {
        let env = environment();
        let error = references(&env, "hello {{ inputs.x ").unwrap_err();
        assert!(
            error.message.contains("unexpected end of input"),
            "{}",
            error.message
        );
        assert!(error.range.is_some());
    }

    #[test]
    fn finds_unknown_filters_and_tests_where_a_rendering_would() {
        let env = environment();
        let names = |source: &str| -> Vec<(CallKind, String)> {
            unknown_calls(&env, source)
                .into_iter()
                .map(|c| {
                    assert_eq!(&source[c.range.clone()], c.name, "{source}");
                    (c.kind, c.name)
                })
                .collect()
        };
        assert_eq!(
            names(
                "{{ x | lenght }} {% if x is not defnied %}{% endif %}{% filter shout %}a{% endfilter %}"
            ),
            [
                (CallKind::Filter, "lenght".to_owned()),
                (CallKind::Test, "defnied".to_owned()),
                (CallKind::Filter, "shout".to_owned()),
            ]
        );
        // Known ones, text that only looks like a call, attributes named `is`.
        for source in [
            "{{ x | last4 }}{{ x | mask }}{{ x | default('a') | upper }}{% if x is defined %}{% endif %}",
            "a | b is c {{ 'x | y' }}{# x | z #}{% raw %}{{ x | nope }}{% endraw %}",
            "{{ x.is }}{{ x is not none }}",
            "{{ x | ",
        ] {
            assert_eq!(names(source), [], "{source}");
        }
        let suggested: Vec<_> = suggestions(&env, CallKind::Filter).collect();
        assert!(suggested.contains(&"last4") && suggested.contains(&"length"));
    }

    #[test]
    fn literal_text_has_no_references() {
        assert_eq!(
            references(&environment(), "plain text").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn strict_undefined_refuses_missing_values() {
        let env = environment();
        let result = env.render_str(
            "{{ inputs.missing }}",
            minijinja::context! { inputs => minijinja::context!{} },
        );
        assert!(result.is_err());
    }
}
