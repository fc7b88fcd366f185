//! Templates: the `MiniJinja` environment every runbook string is rendered with
//! (strict undefined, the `last4` and `mask` filters), and the static analysis
//! `validate` runs on them — syntax, and which variables a template reads.

use std::ops::Range;

use minijinja::{Environment, UndefinedBehavior};
use regex::Regex;

/// What a masked secret looks like: four bullets and the last four characters.
pub const MASK: &str = "••••";

/// The environment shared by validation and rendering.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("last4", last4);
    env.add_filter("mask", mask);
    env
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

/// The variables a template reads, as dotted paths (`steps.old_token.value`), sorted.
/// Loop variables and names the template sets itself are not included.
pub fn references(env: &Environment<'_>, source: &str) -> Result<Vec<String>, SyntaxError> {
    if !source.contains("{{") && !source.contains("{%") {
        return Ok(Vec::new());
    }
    let template = env.template_from_str(source).map_err(|error| SyntaxError {
        message: error
            .detail()
            .map_or_else(|| error.kind().to_string(), str::to_owned),
        range: error.range(),
    })?;
    let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
    // MiniJinja reports nothing for some expressions (a slice such as
    // `inputs.token[:4]`); the dotted paths written inside `{{ }}` and `{% %}`
    // fill that gap.
    for path in written_paths(source) {
        if !names
            .iter()
            .any(|n| *n == path || n.starts_with(&format!("{path}.")))
        {
            names.push(path);
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// Dotted paths from the template context (`inputs.x`, `steps.y.value`) written
/// inside expression and statement blocks.
fn written_paths(source: &str) -> Vec<String> {
    static PATH: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let path = PATH.get_or_init(|| {
        Regex::new(r"\b(?:inputs|steps|run)(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
            .expect("the path pattern is valid")
    });
    let mut found = Vec::new();
    for block in source.split("{{").skip(1).chain(source.split("{%").skip(1)) {
        let inner = block.split(['}', '%']).next().unwrap_or_default();
        found.extend(path.find_iter(inner).map(|m| m.as_str().to_owned()));
    }
    found
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
        None if trimmed.contains("{{") || trimmed.contains("{%") => {
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
