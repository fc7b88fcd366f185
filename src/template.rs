//! Templates: the `MiniJinja` environment every runbook string is rendered with
//! (strict undefined, the `last4` and `mask` filters), and the static analysis
//! `validate` runs on them — syntax, and which variables a template reads.

use std::ops::Range;

use minijinja::{Environment, UndefinedBehavior};

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
    names.sort();
    Ok(names)
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
