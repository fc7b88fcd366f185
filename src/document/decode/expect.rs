//! Decoding `expect:`: HTTP statuses, JSON path expectations and their matchers,
//! exit codes, and text matchers on a body, a header, stdout or stderr.

use super::Decoder;
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{
    Comparison, Expect, Matcher, Number, Spanned, Template, TextMatch, TextRule, TlsField,
    TlsMatch, chomp,
};
use crate::document::node::{Node, Value};

const EXPECT_KEYS: &[&str] = &[
    "status",
    "json",
    "exit_code",
    "stdout",
    "stderr",
    "stdout_contains",
    "body",
    "headers",
    "body_contains",
    "tls",
];
/// The keys a text matcher on the list of names (`sans`) takes.
const NAMES_KEYS: &[&str] = &["contains", "not_contains"];
const TEXT_KEYS: &[&str] = &[
    "contains",
    "not_contains",
    "equals",
    "not_equals",
    "matches",
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
            for item in self.one_or_more(n, "status", "`status: 200` or `status: [200, 204]`") {
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
        if let Some(n) = fields.get("exit_code") {
            expect.exit_code = self.exit_codes(n);
        }
        expect.stdout_contains = fields
            .get("stdout_contains")
            .and_then(|n| self.template(n, "`stdout_contains`"));
        expect.body_contains = fields
            .get("body_contains")
            .and_then(|n| self.template(n, "`body_contains`"));
        expect.stdout = fields
            .get("stdout")
            .and_then(|n| self.text_match(n, "`expect.stdout`"));
        expect.stderr = fields
            .get("stderr")
            .and_then(|n| self.text_match(n, "`expect.stderr`"));
        expect.body = fields
            .get("body")
            .and_then(|n| self.text_match(n, "`expect.body`"));
        if let Some(n) = fields.get("headers") {
            expect.headers = self.header_matches(n);
        }
        if let Some(n) = fields.get("tls") {
            expect.tls = self.tls_matches(n);
        }
        Some(expect)
    }

    /// `KEY: X` or `KEY: [X, …]` as its items. An empty list names nothing,
    /// which would silently mean the default (`2xx`, `0`): it is refused.
    fn one_or_more<'n>(&mut self, node: &'n Node, key: &str, example: &str) -> Vec<&'n Node> {
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.report(
                    Diagnostic::new(
                        Code::EmptyCheck,
                        node.span,
                        format!("`{key}: []` names nothing to expect"),
                    )
                    .help(format!(
                        "name what passes: {example}, or leave `{key}` out for the default"
                    )),
                );
                Vec::new()
            }
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        }
    }

    /// `exit_code: 0` or `exit_code: [0, 3]`.
    fn exit_codes(&mut self, node: &Node) -> Vec<Spanned<i64>> {
        let items = self.one_or_more(node, "exit_code", "`exit_code: 0` or `exit_code: [0, 3]`");
        let mut codes = Vec::new();
        for item in items {
            let Some(code) = self.integer(item, "`exit_code`") else {
                continue;
            };
            if (0..=255).contains(&code.value) {
                codes.push(code);
            } else {
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        item.span,
                        format!("{} is not an exit code", code.value),
                    )
                    .help("a process exits with a code between 0 and 255"),
                );
            }
        }
        codes
    }

    /// `{contains, not_contains, equals, not_equals, matches}`: at least one,
    /// all must hold.
    fn text_match(&mut self, node: &Node, what: &str) -> Option<TextMatch> {
        if matches!(node.value, Value::Str(_)) {
            self.report(
                Diagnostic::new(
                    Code::WrongType,
                    node.span,
                    format!("{what} must be a text matcher, found a string"),
                )
                .help("say how the text must relate: `{contains: …}`, `{not_contains: …}`, `{equals: …}`, `{not_equals: …}` or `{matches: REGEX}`"),
            );
            return None;
        }
        let fields = self.fields(node, what, TEXT_KEYS)?;
        let mut rules = Vec::new();
        for (key, _, value) in &fields.entries {
            let rule = match *key {
                "matches" => TextRule::Matches(self.regex(
                    value,
                    "`matches`",
                    crate::document::pattern::Use::Search,
                )?),
                key => {
                    let template = self.template(value, &format!("`{key}`"))?;
                    match key {
                        "contains" => TextRule::Contains(template),
                        "not_contains" => TextRule::NotContains(template),
                        "not_equals" => TextRule::NotEquals(template),
                        _ => TextRule::Equals(template),
                    }
                }
            };
            rules.push(rule);
        }
        if matches!(&node.value, Value::Map(entries) if entries.is_empty()) {
            self.report(
                Diagnostic::new(
                    Code::EmptyCheck,
                    node.span,
                    format!("{what} checks nothing"),
                )
                .help("give `contains`, `not_contains`, `equals`, `not_equals` or `matches`, or remove it"),
            );
            return None;
        }
        if rules.is_empty() {
            return None;
        }
        self.contradictions(&rules, what);
        Some(TextMatch {
            span: node.span,
            rules,
        })
    }

    /// Literal rules that can never all hold, found before any run: `equals`
    /// against a `contains` it lacks, a `not_contains` it has or a
    /// `not_equals` of the same text, and a `contains` that is also a
    /// `not_contains`.
    fn contradictions(&mut self, rules: &[TextRule], what: &str) {
        let literal = |t: &Template| t.is_literal().then(|| t.source.clone());
        let equals = rules.iter().find_map(|r| match r {
            TextRule::Equals(t) => literal(t),
            _ => None,
        });
        for rule in rules {
            let (needle, wanted) = match rule {
                TextRule::Contains(t) => (t, true),
                TextRule::NotContains(t) => (t, false),
                TextRule::NotEquals(t) => {
                    if let (Some(whole), Some(other)) = (&equals, literal(t))
                        && chomp(whole) == chomp(&other)
                    {
                        self.report(
                            Diagnostic::new(
                                Code::ContradictoryCheck,
                                t.span,
                                format!("{what} must both equal and not equal {whole:?}"),
                            )
                            .help("these checks can never all pass; keep the one you mean"),
                        );
                    }
                    continue;
                }
                TextRule::Equals(_) | TextRule::Matches(_) => continue,
            };
            let Some(text) = literal(needle) else {
                continue;
            };
            let problem = if let Some(whole) = &equals
                && whole.contains(&text) != wanted
            {
                Some(if wanted {
                    format!("{what} must equal {whole:?}, which does not contain {text:?}")
                } else {
                    format!("{what} must equal {whole:?}, which contains {text:?}")
                })
            } else if wanted
                && rules.iter().any(
                    |r| matches!(r, TextRule::NotContains(t) if literal(t).as_ref() == Some(&text)),
                )
            {
                Some(format!("{what} must both contain and not contain {text:?}"))
            } else {
                None
            };
            if let Some(message) = problem {
                self.report(
                    Diagnostic::new(Code::ContradictoryCheck, needle.span, message)
                        .help("these checks can never all pass; keep the one you mean"),
                );
            }
        }
    }

    /// `tls: {field: matcher}` on the served certificate: a text matcher on
    /// the text fields, `{contains | not_contains: NAME}` on `sans`, a number
    /// matcher on `days_left`.
    fn tls_matches(&mut self, node: &Node) -> Vec<(Spanned<TlsField>, TlsMatch)> {
        let keys: Vec<&str> = TlsField::ALL.iter().map(|f| f.key()).collect();
        let Some(fields) = self.fields(node, "`expect.tls`", &keys) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, key_node, value) in &fields.entries {
            let Some(field) = TlsField::parse(key) else {
                continue;
            };
            let what = format!("`expect.tls.{key}`");
            let matcher = match field {
                TlsField::DaysLeft => {
                    if !matches!(value.value, Value::Map(_)) {
                        self.wrong_type(value, &what, "a number matcher such as `{ge: 30}`");
                        continue;
                    }
                    self.matcher(value).map(TlsMatch::Number)
                }
                TlsField::Sans => {
                    if let Value::Map(entries) = &value.value
                        && let Some((bad, _)) = entries.iter().find(|(k, _)| {
                            matches!(&k.value, Value::Str(k) if TEXT_KEYS.contains(&k.as_str()) && !NAMES_KEYS.contains(&k.as_str()))
                        })
                    {
                        self.report(
                            Diagnostic::new(
                                Code::InvalidValue,
                                bad.span,
                                format!("{what} is a list of names: it takes `contains` or `not_contains`"),
                            )
                            .help("check one name at a time: `sans: {contains: a.example}` holds when one name is exactly `a.example`"),
                        );
                        continue;
                    }
                    self.text_match(value, &what).map(TlsMatch::Names)
                }
                TlsField::Subject
                | TlsField::Issuer
                | TlsField::NotBefore
                | TlsField::NotAfter
                | TlsField::Sha256
                | TlsField::Serial => self.text_match(value, &what).map(TlsMatch::Text),
            };
            if let Some(matcher) = matcher {
                out.push((Spanned::new(field, key_node.span), matcher));
            }
        }
        out
    }

    /// `headers: {name: matcher}`; names are matched in any case, so two
    /// spellings of one name are one header given twice.
    fn header_matches(&mut self, node: &Node) -> Vec<(Spanned<String>, TextMatch)> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                "`expect.headers`",
                "a map of header names to text matchers",
            );
            return Vec::new();
        };
        let mut out: Vec<(Spanned<String>, TextMatch)> = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.text(key, "a header name") else {
                continue;
            };
            if let Some((first, _)) = out
                .iter()
                .find(|(n, _)| n.value.eq_ignore_ascii_case(&name.value))
            {
                let line = first.span.line;
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!(
                            "header `{}` is checked twice (first on line {line})",
                            name.value
                        ),
                    )
                    .help("header names are matched in any case; put both rules in one matcher"),
                );
                continue;
            }
            if let Some(matcher) = self.text_match(value, &format!("header `{}`", name.value)) {
                out.push((name, matcher));
            }
        }
        out
    }

    /// `json:` maps dotted paths to values or matchers; a nested map that is not a
    /// matcher continues the path, so `{result: {status: active}}` reads as
    /// `{result.status: active}`. At the top, a matcher (`{lt: 1}`) or a plain
    /// value that is not a map checks the whole document.
    pub(super) fn json_expectations(
        &mut self,
        node: &Node,
        prefix: &str,
        out: &mut Vec<(Spanned<String>, Matcher)>,
    ) {
        let Value::Map(entries) = &node.value else {
            // Only the top can be anything but a map: a nested map is what
            // continues a path.
            out.push((
                Spanned::new(String::new(), node.span),
                Matcher::Equals(node.clone()),
            ));
            return;
        };
        if prefix.is_empty() && is_matcher(entries) {
            if let Some(matcher) = self.matcher(node) {
                out.push((Spanned::new(String::new(), node.span), matcher));
            }
            return;
        }
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
            "len" if is_template(value) => {
                Matcher::Len(Number::Template(self.template(value, "`len`")?))
            }
            "len" => {
                let len = self.integer(value, "`len`")?;
                let Ok(n) = u64::try_from(len.value) else {
                    self.report(
                        Diagnostic::new(Code::InvalidValue, value.span, "`len` cannot be negative")
                            .help("give a length of 0 or more"),
                    );
                    return None;
                };
                Matcher::Len(Number::Literal(Spanned::new(n, len.span)))
            }
            op => {
                let comparison = match op {
                    "gt" => Comparison::Gt,
                    "ge" => Comparison::Ge,
                    "lt" => Comparison::Lt,
                    _ => Comparison::Le,
                };
                let what = format!("`{op}`");
                let operand = if is_template(value) {
                    Number::Template(self.template(value, &what)?)
                } else {
                    Number::Literal(self.number(value, &what)?)
                };
                Matcher::Compare(comparison, operand)
            }
        })
    }
}

/// A string with `{{ }}` where a number goes: rendered when the step runs.
fn is_template(node: &Node) -> bool {
    matches!(&node.value, Value::Str(text) if crate::template::has_blocks(text))
}

fn is_matcher(entries: &[(Node, Node)]) -> bool {
    entries
        .iter()
        .any(|(key, _)| matches!(&key.value, Value::Str(k) if MATCHER_KEYS.contains(&k.as_str())))
}
