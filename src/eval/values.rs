//! What templates can read during a run — inputs, step results, `run`, `env` and
//! `item` — and rendering against it. Values that came from a secret (a secret
//! input, a secret step, or a template that used one) are tracked, and every secret
//! is registered with the run's [`Redactor`].

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use minijinja::Environment;
use serde_json::{Map, Value as Json};

use crate::document::node::{Node, Value as Yaml};
use crate::secret::Redactor;
use crate::template;

/// A rendered string, and whether a secret went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    pub secret: bool,
}

/// A template that failed at run time (an undefined value, a bad filter). The
/// message is redacted by the caller like every other output.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// Everything a template may read, plus which parts of it are secret.
pub struct Values {
    env: Environment<'static>,
    inputs: BTreeMap<String, String>,
    steps: BTreeMap<String, Json>,
    run: Json,
    process_env: BTreeMap<String, String>,
    /// Dotted paths holding secrets: `inputs.new_token`, `steps.old_token.value`.
    secret_paths: BTreeSet<String>,
    pub redactor: Redactor,
    /// The context without `item`, built once per change of the values: rendering
    /// a fan-out's thousand items must not serialise every result a thousand times.
    base: RefCell<Option<minijinja::Value>>,
    /// The same with every secret replaced by a stand-in (see `learn_derived`).
    stand_in_base: RefCell<Option<minijinja::Value>>,
}

impl Values {
    pub fn new(run: Json) -> Self {
        Values {
            env: template::environment(),
            inputs: BTreeMap::new(),
            steps: BTreeMap::new(),
            run,
            process_env: std::env::vars().collect(),
            secret_paths: BTreeSet::new(),
            redactor: Redactor::default(),
            base: RefCell::new(None),
            stand_in_base: RefCell::new(None),
        }
    }

    pub fn set_input(&mut self, name: &str, value: String, secret: bool) {
        if secret {
            self.redactor.add(&value);
            self.secret_paths.insert(format!("inputs.{name}"));
        }
        self.inputs.insert(name.to_owned(), value);
        self.invalidate();
    }

    pub fn has_input(&self, name: &str) -> bool {
        self.inputs.contains_key(name)
    }

    pub fn input(&self, name: &str) -> Option<&str> {
        self.inputs.get(name).map(String::as_str)
    }

    /// Records a step's results. `secret_fields` name the result fields that hold
    /// secrets (their values are registered with the redactor).
    pub fn set_step(&mut self, id: &str, results: Json, secret_fields: &[String]) {
        for field in secret_fields {
            if let Some(Json::String(value)) = results.get(field) {
                // A command's output ends in a newline that is not part of the
                // secret: masked as `••••2b4f`, on any line it is printed on.
                self.redactor.add(value.trim());
            }
            self.secret_paths.insert(format!("steps.{id}.{field}"));
        }
        self.steps.insert(id.to_owned(), results);
        self.invalidate();
    }

    /// Every step starts `pending`, so a template may ask about a step that has
    /// not run (`steps.revoke.outcome != 'passed'` in a rollback's `when`).
    pub fn declare_steps(&mut self, runbook: &crate::document::model::Runbook) {
        for step in runbook.all_steps() {
            self.steps.insert(
                step.id.value.clone(),
                serde_json::json!({"outcome": "pending", "reason": null}),
            );
        }
        self.invalidate();
    }

    pub fn step(&self, id: &str) -> Option<&Json> {
        self.steps.get(id)
    }

    /// Whether a dotted reference reads (part of) a secret.
    pub fn is_secret_reference(&self, reference: &str) -> bool {
        self.secret_paths.iter().any(|path| {
            path == reference
                || path.starts_with(&format!("{reference}."))
                || reference.starts_with(&format!("{path}."))
        })
    }

    /// The inputs a template reads that have no value yet.
    pub fn missing_inputs(&self, source: &str) -> Vec<String> {
        let Ok(references) = template::references(&self.env, source) else {
            return Vec::new();
        };
        references
            .iter()
            .filter_map(|r| r.strip_prefix("inputs."))
            .map(|r| r.split('.').next().unwrap_or(r).to_owned())
            .filter(|name| !self.inputs.contains_key(name))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    fn context(&self, item: Option<&Json>) -> minijinja::Value {
        let base = self
            .base
            .borrow_mut()
            .get_or_insert_with(|| self.build_base(&self.inputs, &self.steps))
            .clone();
        with_item(base, item)
    }

    fn build_base(
        &self,
        inputs: &BTreeMap<String, String>,
        steps: &BTreeMap<String, Json>,
    ) -> minijinja::Value {
        minijinja::context! {
            inputs => serialized(inputs),
            steps => serialized(steps),
            run => serialized(&self.run),
            env => serialized(&self.process_env),
        }
    }

    /// The values changed: the cached contexts are stale.
    fn invalidate(&mut self) {
        *self.base.get_mut() = None;
        *self.stand_in_base.get_mut() = None;
    }

    fn uses_secret(&self, source: &str, item: Option<&Json>, output: &str) -> bool {
        // MiniJinja reports no reference for some expressions (a slice such as
        // `inputs.token[:10]`), so a plain mention of a secret path counts too.
        let referenced = template::references(&self.env, source)
            .unwrap_or_default()
            .iter()
            .any(|r| self.is_secret_reference(r))
            || self
                .secret_paths
                .iter()
                .any(|path| source.contains(path.as_str()));
        let item_secret = item.is_some_and(|i| self.redactor.leaks(&i.to_string()));
        referenced || item_secret || self.redactor.leaks(output)
    }

    /// Renders a template to text.
    pub fn render(&self, source: &str, item: Option<&Json>) -> Result<Rendered, RenderError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(Rendered {
                text: source.to_owned(),
                secret: false,
            });
        }
        let text = self
            .env
            .render_str(source, self.context(item))
            .map_err(|e| RenderError(describe(&e)))?;
        let secret = self.uses_secret(source, item, &text);
        if secret {
            self.learn_derived(source, item, &text);
        }
        Ok(Rendered { text, secret })
    }

    /// A template that used a secret may show it reshaped (sliced, upper-cased)
    /// where the redactor would not recognise it. Rendering it again with every
    /// secret replaced by a stand-in of the same length shows which part of the
    /// text came from secrets; that part is hidden from now on. Four characters or
    /// fewer are let through: they are what a mask shows anyway (`| last4`).
    fn learn_derived(&self, source: &str, item: Option<&Json>, text: &str) {
        let Ok(stand_in) = self.env.render_str(source, self.stand_in_context(item)) else {
            return;
        };
        let prefix: usize = text
            .chars()
            .zip(stand_in.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        let suffix: usize = text[prefix..]
            .chars()
            .rev()
            .zip(stand_in[prefix.min(stand_in.len())..].chars().rev())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        let derived = &text[prefix..text.len() - suffix];
        if derived.chars().count() > 4 {
            self.redactor.add(derived);
        }
    }

    /// The template context with every secret value replaced by `§`s.
    fn stand_in_context(&self, item: Option<&Json>) -> minijinja::Value {
        let base = self
            .stand_in_base
            .borrow_mut()
            .get_or_insert_with(|| self.build_stand_in_base())
            .clone();
        with_item(base, item)
    }

    fn build_stand_in_base(&self) -> minijinja::Value {
        let hide = |value: &str| "§".repeat(value.chars().count());
        let mut inputs = self.inputs.clone();
        for (name, value) in &mut inputs {
            if self.secret_paths.contains(&format!("inputs.{name}")) {
                *value = hide(value);
            }
        }
        let mut steps = self.steps.clone();
        for (id, results) in &mut steps {
            if let Json::Object(fields) = results {
                for (field, value) in fields.iter_mut() {
                    if let Json::String(text) = value
                        && self.secret_paths.contains(&format!("steps.{id}.{field}"))
                    {
                        *text = hide(text);
                    }
                }
            }
        }
        self.build_base(&inputs, &steps)
    }

    /// Evaluates a template that is one `{{ expression }}` to a value; any other
    /// template renders to a string value.
    pub fn evaluate(&self, source: &str, item: Option<&Json>) -> Result<Json, RenderError> {
        if let Some(expression) = single_expression(source) {
            let compiled = self
                .env
                .compile_expression(expression)
                .map_err(|e| RenderError(describe(&e)))?;
            let value = compiled
                .eval(self.context(item))
                .map_err(|e| RenderError(describe(&e)))?;
            return serde_json::to_value(&value).map_err(|e| RenderError(e.to_string()));
        }
        Ok(Json::String(self.render(source, item)?.text))
    }

    /// A `when:` condition: the expression's truth, or for text, anything but
    /// empty, `false`, `no` or `0`.
    pub fn condition(&self, source: &str) -> Result<bool, RenderError> {
        Ok(truthy(&self.evaluate(source, None)?))
    }

    /// A YAML node (an HTTP `json:` body, an expected value) as JSON, with every
    /// string in it rendered. Returns whether a secret went in.
    pub fn render_node(
        &self,
        node: &Node,
        item: Option<&Json>,
    ) -> Result<(Json, bool), RenderError> {
        Ok(match &node.value {
            Yaml::Null => (Json::Null, false),
            Yaml::Bool(b) => (Json::Bool(*b), false),
            Yaml::Int(n) => (Json::from(*n), false),
            Yaml::Float(f) => (
                serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
                false,
            ),
            Yaml::Str(s) => {
                let rendered = self.render(s, item)?;
                (Json::String(rendered.text), rendered.secret)
            }
            Yaml::Seq(items) => {
                let mut secret = false;
                let mut out = Vec::with_capacity(items.len());
                for child in items {
                    let (value, s) = self.render_node(child, item)?;
                    secret |= s;
                    out.push(value);
                }
                (Json::Array(out), secret)
            }
            Yaml::Map(entries) => {
                let mut secret = false;
                let mut out = Map::new();
                for (key, value) in entries {
                    let key = match &key.value {
                        Yaml::Str(k) => k.clone(),
                        other => format!("{other:?}"),
                    };
                    let (value, s) = self.render_node(value, item)?;
                    secret |= s;
                    out.insert(key, value);
                }
                (Json::Object(out), secret)
            }
        })
    }
}

/// A base context with `item` added (a `for_each` step's current item).
fn with_item(base: minijinja::Value, item: Option<&Json>) -> minijinja::Value {
    match item {
        Some(item) => minijinja::context! { item => serialized(item), ..base },
        None => base,
    }
}

fn serialized<T: serde::Serialize>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

/// The expression inside a template that is exactly one `{{ … }}`.
/// Whether a `when:` value holds: an expression's truth, or for text, anything but
/// empty, `false`, `no` or `0`.
pub fn truthy(value: &Json) -> bool {
    match value {
        Json::Bool(b) => *b,
        Json::Null => false,
        Json::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Json::String(s) => !matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "" | "false" | "no" | "0"
        ),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

/// The expression of a template that is one `{{ … }}` and nothing else.
pub fn single_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%"))
        .then_some(inner.trim())
}

/// A `MiniJinja` error as one readable sentence.
fn describe(error: &minijinja::Error) -> String {
    let mut text = error
        .detail()
        .map_or_else(|| error.kind().to_string(), str::to_owned);
    if error.kind() == minijinja::ErrorKind::UndefinedError {
        text = format!("a value it reads is not defined ({text})");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> Values {
        let mut values = Values::new(json!({"id": "r1", "operator": "ana"}));
        values.set_input("api", "https://api.example.com".into(), false);
        values.set_input("token", "cfut_abcdefgh1234".into(), true);
        values.set_step(
            "zones",
            json!({"outcome": "passed", "json": {"result": [{"id": "z1"}, {"id": "z2"}]}}),
            &[],
        );
        values.set_step(
            "old",
            json!({"outcome": "passed", "value": "old-secret-9876"}),
            &["value".to_owned()],
        );
        values
    }

    #[test]
    fn renders_and_tracks_secrets() {
        let v = values();
        let plain = v.render("{{ inputs.api }}/zones", None).unwrap();
        assert_eq!(
            plain,
            Rendered {
                text: "https://api.example.com/zones".into(),
                secret: false
            }
        );
        let secret = v.render("Bearer {{ inputs.token }}", None).unwrap();
        assert!(secret.secret);
        let last4 = v.render("{{ steps.old.value | last4 }}", None).unwrap();
        assert_eq!(last4.text, "9876");
        assert!(last4.secret, "derived from a secret, so treated as one");
        assert_eq!(v.redactor.redact("x old-secret-9876 y"), "x ••••9876 y");
    }

    #[test]
    fn evaluates_lists_and_conditions() {
        let v = values();
        let list = v.evaluate("{{ steps.zones.json.result }}", None).unwrap();
        assert_eq!(list, json!([{"id": "z1"}, {"id": "z2"}]));
        assert!(
            v.condition("{{ steps.zones.outcome == 'passed' }}")
                .unwrap()
        );
        assert!(
            !v.condition("{{ steps.zones.outcome == 'failed' }}")
                .unwrap()
        );
        let item = json!({"id": "z9"});
        assert_eq!(
            v.render("/zones/{{ item.id }}", Some(&item)).unwrap().text,
            "/zones/z9"
        );
    }

    #[test]
    fn reshaped_secrets_are_hidden_but_last4_is_not() {
        let v = values();
        let sliced = v.render("key={{ inputs.token[:10] }}!", None).unwrap();
        assert!(sliced.secret);
        assert_eq!(sliced.text, "key=cfut_abcde!");
        assert!(!v.redactor.redact("echo cfut_abcde").contains("cfut_abcde"));
        let upper = v.render("{{ inputs.token | upper }}", None).unwrap();
        assert!(!v.redactor.redact(&upper.text).contains("ABCDEFGH"));
        let last4 = v
            .render("ends in {{ inputs.token | last4 }}", None)
            .unwrap();
        assert_eq!(v.redactor.redact(&last4.text), "ends in 1234");
    }

    #[test]
    fn undefined_values_are_errors_not_blanks() {
        let v = values();
        let err = v
            .render("{{ steps.zones.nothing.here }}", None)
            .unwrap_err();
        assert!(err.0.contains("not defined"), "{err}");
        assert_eq!(
            v.missing_inputs("{{ inputs.api }} {{ inputs.other }}"),
            ["other"]
        );
    }
}
