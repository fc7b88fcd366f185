//! Decoding `expect:`: HTTP statuses, JSON path expectations and their matchers,
//! exit codes and output checks.

use super::Decoder;
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{Comparison, Expect, Matcher, Spanned};
use crate::document::node::{Node, Value};

const EXPECT_KEYS: &[&str] = &[
    "status",
    "json",
    "exit_code",
    "stdout_contains",
    "body_contains",
];
const MATCHER_KEYS: &[&str] = &[
    "equals",
    "not_empty",
    "exists",
    "gt",
    "ge",
    "lt",
    "le",
    "matches",
    "len",
];

impl Decoder<'_> {
    pub(super) fn expect(&mut self, node: &Node) -> Option<Expect> {
        let fields = self.fields(node, "`expect`", EXPECT_KEYS)?;
        let mut expect = Expect {
            span: fields.span,
            ..Expect::default()
        };
        if let Some(n) = fields.get("status") {
            let items: Vec<&Node> = match &n.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![n],
            };
            for item in items {
                if let Some(status) = self.integer(item, "`status`") {
                    if (100..=599).contains(&status.value) {
                        expect.status.push(status);
                    } else {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidValue,
                                item.span,
                                format!("{} is not an HTTP status", status.value),
                            )
                            .help("an HTTP status is between 100 and 599"),
                        );
                    }
                }
            }
        }
        if let Some(n) = fields.get("json") {
            self.json_expectations(n, "", &mut expect.json);
        }
        expect.exit_code = fields
            .get("exit_code")
            .and_then(|n| self.integer(n, "`exit_code`"));
        expect.stdout_contains = fields
            .get("stdout_contains")
            .and_then(|n| self.template(n, "`stdout_contains`"));
        expect.body_contains = fields
            .get("body_contains")
            .and_then(|n| self.template(n, "`body_contains`"));
        Some(expect)
    }

    /// `json:` maps dotted paths to values or matchers; a nested map that is not a
    /// matcher continues the path, so `{result: {status: active}}` reads as
    /// `{result.status: active}`.
    pub(super) fn json_expectations(
        &mut self,
        node: &Node,
        prefix: &str,
        out: &mut Vec<(Spanned<String>, Matcher)>,
    ) {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                "`expect.json`",
                "a map of JSON paths to expected values",
            );
            return;
        };
        for (key, value) in entries {
            let Some(part) = self.text(key, "a JSON path") else {
                continue;
            };
            let path = if prefix.is_empty() {
                part.value.clone()
            } else {
                format!("{prefix}.{}", part.value)
            };
            if let Some((first, _)) = out.iter().find(|(p, _)| p.value == path) {
                let line = first.span.line;
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{path}` is checked twice (first on line {line})"),
                    )
                    .help("keep one expectation per path; both could never hold"),
                );
                continue;
            }
            if path.split('.').any(str::is_empty) {
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        key.span,
                        format!("`{path}` is not a JSON path"),
                    )
                    .help("write the path as names and indexes joined by dots, e.g. `result.0.id`"),
                );
                continue;
            }
            let path = Spanned::new(path, key.span);
            match &value.value {
                Value::Map(inner) if is_matcher(inner) => {
                    if let Some(matcher) = self.matcher(value) {
                        out.push((path, matcher));
                    }
                }
                Value::Map(inner) if !inner.is_empty() => {
                    self.json_expectations(value, &path.value, out);
                }
                _ => out.push((path, Matcher::Equals(value.clone()))),
            }
        }
    }

    pub(super) fn matcher(&mut self, node: &Node) -> Option<Matcher> {
        let fields = self.fields(node, "a JSON matcher", MATCHER_KEYS)?;
        if fields.entries.len() != 1 {
            self.report(
                Diagnostic::new(Code::InvalidValue, fields.span, "a JSON matcher has exactly one key")
                    .help("split the checks: one path per matcher, or use `{equals: …}` to compare a whole object"),
            );
            return None;
        }
        let (key, _, value) = fields.entries[0];
        Some(match key {
            "equals" => Matcher::Equals(value.clone()),
            "not_empty" => Matcher::NotEmpty(self.boolean(value, "`not_empty`")?.value),
            "exists" => Matcher::Exists(self.boolean(value, "`exists`")?.value),
            "matches" => Matcher::Matches(self.regex(
                value,
                "`matches`",
                crate::document::pattern::Use::Search,
            )?),
            "len" => {
                let len = self.integer(value, "`len`")?;
                let Ok(n) = u64::try_from(len.value) else {
                    self.report(
                        Diagnostic::new(Code::InvalidValue, value.span, "`len` cannot be negative")
                            .help("give a length of 0 or more"),
                    );
                    return None;
                };
                Matcher::Len(Spanned::new(n, len.span))
            }
            op => {
                let comparison = match op {
                    "gt" => Comparison::Gt,
                    "ge" => Comparison::Ge,
                    "lt" => Comparison::Lt,
                    _ => Comparison::Le,
                };
                Matcher::Compare(comparison, self.number(value, &format!("`{op}`"))?)
            }
        })
    }
}

fn is_matcher(entries: &[(Node, Node)]) -> bool {
    entries
        .iter()
        .any(|(key, _)| matches!(&key.value, Value::Str(k) if MATCHER_KEYS.contains(&k.as_str())))
}
