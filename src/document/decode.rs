//! Turns the YAML node tree into the model (`model.rs`), reporting every structural
//! problem — wrong types, unknown or missing keys, bad ids, durations and actions —
//! at the node that has it, and carrying on so one pass finds them all.

mod action;
mod approve;
mod expect;
mod for_each;
mod gates;
mod runbook;
mod step;

use std::fmt::Write as _;

use foldhash::{HashSet, HashSetExt};

use super::diagnostic::{Code, Diagnostic, did_you_mean};
use super::model::{Runbook, Spanned, Template, Timespan};
use super::node::{Node, Span, Value};
use super::pattern;

/// Decodes a whole document. Returns `None` only when the root is not a map at all.
pub fn decode(root: &Node, source: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<Runbook> {
    Decoder {
        source,
        diagnostics,
    }
    .runbook(root)
}

struct Decoder<'a> {
    source: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
}

/// The entries of one YAML map, checked for duplicate and unknown keys.
struct Fields<'n> {
    span: Span,
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, _, value)| *value)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(name, _, _)| *name == key)
            .map(|(_, key, _)| key.span)
    }
}

impl Decoder<'_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        let found = node.value.kind();
        self.report(
            Diagnostic::new(
                Code::WrongType,
                node.span,
                format!("{what} must be {expected}, found {found}"),
            )
            .help(format!("write {what} as {expected}")),
        );
    }

    /// Reads a map's keys, reporting duplicates and keys outside `known`.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, known: &[&str]) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, what, "a map");
            return None;
        };
        let mut fields = Fields {
            span: node.span,
            entries: Vec::with_capacity(entries.len()),
        };
        for (key, value) in entries {
            let Value::Str(name) = &key.value else {
                self.report(
                    Diagnostic::new(
                        Code::WrongType,
                        key.span,
                        format!("keys of {what} must be strings"),
                    )
                    .help(format!("the keys {what} takes are: {}", known.join(", "))),
                );
                continue;
            };
            if let Some(first) = fields.key_span(name) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!(
                            "`{name}` is given twice in {what} (first on line {})",
                            first.line
                        ),
                    )
                    .help("keep one of them; YAML would silently use the last"),
                );
                continue;
            }
            if !known.contains(&name.as_str()) {
                let help = match did_you_mean(name, known.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("the keys {what} takes are: {}", known.join(", ")),
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownKey,
                        key.span,
                        format!("unknown key `{name}` in {what}"),
                    )
                    .help(help),
                );
                continue;
            }
            fields.entries.push((name.as_str(), key, value));
        }
        Some(fields)
    }

    fn missing(&mut self, fields: &Fields<'_>, key: &str, what: &str, help: &str) {
        self.report(
            Diagnostic::new(
                Code::MissingKey,
                fields.span,
                format!("{what} has no `{key}`"),
            )
            .help(help.to_owned()),
        );
    }

    /// A scalar read as text: numbers and booleans keep their source spelling.
    fn text(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        let text = match &node.value {
            Value::Str(text) => text.clone(),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => self
                .source
                .get(node.span.offset..node.span.offset + node.span.len)
                .map_or_else(|| scalar_text(&node.value), str::to_owned),
            _ => {
                self.wrong_type(node, what, "a string");
                return None;
            }
        };
        Some(Spanned::new(text, node.span))
    }

    fn template(&mut self, node: &Node, what: &str) -> Option<Template> {
        self.text(node, what).map(|text| Template {
            source: text.value,
            span: text.span,
        })
    }

    /// A `when:` condition. A bare expression (`inputs.flag == 'yes'`, as
    /// Ansible's `when` and GitHub's `if` are written) is kept as the template
    /// `{{ … }}` that evaluates it, so everything after decoding reads one form;
    /// text mixed with `{{ }}` is no condition at all, and is refused.
    fn condition(&mut self, node: &Node) -> Option<Template> {
        let template = self.template(node, "`when`")?;
        match crate::template::condition(&template.source) {
            Ok(expression) => Some(Template {
                source: format!("{{{{ {expression} }}}}"),
                span: template.span,
            }),
            Err(problem) => {
                self.report(
                    Diagnostic::new(Code::TemplateSyntax, node.span, format!("`when` is not a condition: {problem}"))
                        .help("write one expression, bare (`when: inputs.flag == 'yes'`) or in braces (`when: \"{{ inputs.flag == 'yes' }}\"`)"),
                );
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, what: &str) -> Option<Spanned<bool>> {
        if let Value::Bool(value) = node.value {
            Some(Spanned::new(value, node.span))
        } else {
            self.wrong_type(node, what, "true or false");
            None
        }
    }

    fn integer(&mut self, node: &Node, what: &str) -> Option<Spanned<i64>> {
        if let Value::Int(value) = node.value {
            Some(Spanned::new(value, node.span))
        } else {
            self.wrong_type(node, what, "an integer");
            None
        }
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        match node.value {
            #[allow(clippy::cast_precision_loss)]
            Value::Int(value) => Some(Spanned::new(value as f64, node.span)),
            Value::Float(value) => Some(Spanned::new(value, node.span)),
            _ => {
                self.wrong_type(node, what, "a number");
                None
            }
        }
    }

    fn positive(&mut self, node: &Node, what: &str) -> Option<Spanned<u32>> {
        if let Value::Float(_) = node.value {
            self.report(
                Diagnostic::new(
                    Code::InvalidValue,
                    node.span,
                    format!("{what} must be a whole number of at least 1"),
                )
                .help(format!("set {what} to a whole number such as 4")),
            );
            return None;
        }
        let value = self.integer(node, what)?;
        match u32::try_from(value.value) {
            Ok(n) if n >= 1 => Some(Spanned::new(n, value.span)),
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        node.span,
                        format!(
                            "{what} must be a whole number of at least 1, not {}",
                            value.value
                        ),
                    )
                    .help(format!("set {what} to 1 or more")),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Spanned<Timespan>> {
        if let Value::Int(_) | Value::Float(_) = node.value {
            let text = scalar_text(&node.value);
            self.report(
                Diagnostic::new(
                    Code::InvalidDuration,
                    node.span,
                    format!("{what} `{text}` has no unit"),
                )
                .help(format!("write a unit, e.g. `{text}s` or `{text}m`")),
            );
            return None;
        }
        let text = self.text(node, what)?;
        match humantime::parse_duration(text.value.trim()) {
            Ok(duration) => Some(Spanned::new(Timespan(duration), node.span)),
            Err(error) => {
                self.report(
                    Diagnostic::new(
                        Code::InvalidDuration,
                        node.span,
                        format!("{what} `{}` is not a duration: {error}", text.value),
                    )
                    .help("write a duration such as `30s`, `15m`, `1h 30m` or `500ms`"),
                );
                None
            }
        }
    }

    fn id(&mut self, node: &Node, what: &str, kebab: bool) -> Option<Spanned<String>> {
        let id = self.text(node, what)?;
        let valid = id
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase())
            && id.value.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (kebab && c == '-')
            });
        if !valid {
            let rule = if kebab {
                "a lowercase letter, then lowercase letters, digits, `_` or `-`"
            } else {
                "a lowercase letter, then lowercase letters, digits or `_`"
            };
            let suggestion = suggest_id(&id.value, kebab);
            let mut help = format!("{what} must be {rule}");
            if !suggestion.is_empty() {
                let _ = write!(help, ", e.g. `{suggestion}`");
            }
            self.report(
                Diagnostic::new(
                    Code::InvalidId,
                    node.span,
                    format!("`{}` is not a valid {what}", id.value),
                )
                .help(help),
            );
        }
        Some(id)
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.value {
            Value::Seq(items) => items,
            Value::Null => &[],
            _ => {
                self.wrong_type(node, what, "a list");
                &[]
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        self.list(node, what)
            .iter()
            .filter_map(|item| self.text(item, what))
            .collect()
    }

    fn template_map(&mut self, node: &Node, what: &str) -> Vec<(Spanned<String>, Template)> {
        let Value::Map(entries) = &node.value else {
            if node.value != Value::Null {
                self.wrong_type(node, what, "a map");
            }
            return Vec::new();
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.text(key, &format!("a key of {what}")) else {
                continue;
            };
            if !seen.insert(name.value.clone()) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{}` is given twice in {what}", name.value),
                    )
                    .help("keep one of them"),
                );
                continue;
            }
            if let Some(template) = self.template(value, &format!("`{what}.{}`", name.value)) {
                out.push((name, template));
            }
        }
        out
    }

    /// Reports keys given twice in a free-form map (a JSON body), at any depth:
    /// only the last would be sent.
    fn duplicate_keys(&mut self, node: &Node, what: &str) {
        match &node.value {
            Value::Map(entries) => {
                let mut seen: Vec<(&str, u32)> = Vec::new();
                for (key, value) in entries {
                    if let Value::Str(name) = &key.value {
                        if let Some((_, line)) = seen.iter().find(|(n, _)| n == name) {
                            self.report(
                                Diagnostic::new(
                                    Code::DuplicateKey,
                                    key.span,
                                    format!(
                                        "`{name}` is given twice in {what} (first on line {line})"
                                    ),
                                )
                                .help("keep one of them; only the last would be sent"),
                            );
                        } else {
                            seen.push((name, key.span.line));
                        }
                    }
                    self.duplicate_keys(value, what);
                }
            }
            Value::Seq(items) => items
                .iter()
                .for_each(|item| self.duplicate_keys(item, what)),
            _ => {}
        }
    }

    /// A regular expression, checked in the form the engine will compile it.
    fn regex(&mut self, node: &Node, what: &str, usage: pattern::Use) -> Option<Spanned<String>> {
        let source = self.text(node, what)?;
        let used = usage.source(&source.value);
        let parser = || regex_syntax::Parser::new();
        let hir = match parser().parse(&used) {
            Ok(hir) => hir,
            // The pattern's own error says where; if it has none, it is the anchoring
            // that breaks it (a `(?x)` comment running past its end).
            Err(error) => {
                let (message, help) = match parser().parse(&source.value) {
                    Err(own) => (
                        format!(
                            "{what} is not a valid regular expression: {}",
                            last_line(&own.to_string())
                        ),
                        "fix the pattern (Rust `regex` syntax); escape literal characters such as `.` or `(` with `\\`",
                    ),
                    Ok(_) => (
                        format!(
                            "{what} stops working when it must match the whole answer: {}",
                            last_line(&error.to_string())
                        ),
                        "end a `(?x)` pattern's trailing `# comment` with a line break, or drop the comment",
                    ),
                };
                self.report(Diagnostic::new(Code::InvalidValue, node.span, message).help(help));
                return Some(source);
            }
        };
        // A valid pattern can still be too large to compile; only those the size
        // estimate cannot vouch for are compiled here (compiling costs more than the
        // rest of the check).
        if pattern::may_exceed_size_limit(&hir)
            && let Err(error) = regex::Regex::new(&used)
        {
            self.report(
                Diagnostic::new(Code::InvalidValue, node.span, format!("{what} cannot be compiled: {error}"))
                    .help("simplify the pattern: large counted repetitions (`{1000}`) of large classes (`\\w`) multiply"),
            );
        }
        Some(source)
    }
}

/// The last line of a regex-syntax error (the earlier ones draw the pattern).
fn last_line(reason: &str) -> String {
    let last = reason.lines().last().unwrap_or("invalid").trim();
    last.strip_prefix("error: ").unwrap_or(last).to_owned()
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Str(text) => text.clone(),
        Value::Int(n) => n.to_string(),
        Value::Float(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// A valid id close to an invalid one: `Restart-Service` → `restart_service`.
fn suggest_id(text: &str, kebab: bool) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || (kebab && c == '-') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let trimmed = out
        .trim_matches('_')
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
    trimmed.to_owned()
}
