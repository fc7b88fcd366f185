//! What templates can read during a run — inputs, step results, `run`, `env` and
//! `item` — and rendering against it. Values that came from a secret (a secret
//! input, a secret step, or a template that used one) are tracked, and every secret
//! is registered with the run's [`Redactor`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError, RwLock};

use minijinja::Environment;
use minijinja::value::{Enumerator, Object};
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
    /// Dotted paths holding secrets: `inputs.new_token`, `steps.old_token.value`.
    secret_paths: BTreeSet<String>,
    pub redactor: Redactor,
    /// What templates read, each value converted once when it is recorded: the
    /// first version re-serialised every earlier result after each step, which
    /// made a run quadratic in its templated steps.
    seen: Context,
    /// The same with every secret replaced by a stand-in (see `learn_derived`).
    stand_in: Context,
}

/// A template context whose `inputs` and `steps` are read as they are at the
/// moment of rendering.
struct Context {
    inputs: Arc<LiveMap>,
    steps: Arc<LiveMap>,
    base: minijinja::Value,
}

impl Context {
    fn new(run: &minijinja::Value, env: &minijinja::Value) -> Self {
        let inputs = Arc::new(LiveMap::default());
        let steps = Arc::new(LiveMap::default());
        let base = minijinja::context! {
            inputs => minijinja::Value::from_dyn_object(inputs.clone()),
            steps => minijinja::Value::from_dyn_object(steps.clone()),
            run => run.clone(),
            env => env.clone(),
        };
        Context {
            inputs,
            steps,
            base,
        }
    }
}

/// Named values behind a lock, so a recorded value joins the context in place.
#[derive(Debug, Default)]
struct LiveMap(RwLock<BTreeMap<String, minijinja::Value>>);

impl LiveMap {
    fn insert(&self, name: &str, value: minijinja::Value) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), value);
    }
}

impl Object for LiveMap {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(key.as_str()?).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        Enumerator::Values(
            map.keys()
                .map(|k| minijinja::Value::from(k.as_str()))
                .collect(),
        )
    }
}

impl Values {
    pub fn new(run: Json) -> Self {
        let run = minijinja::Value::from(minijinja::value::Serde(run));
        let env = serialized(&std::env::vars().collect::<BTreeMap<String, String>>());
        Values {
            env: template::environment(),
            inputs: BTreeMap::new(),
            steps: BTreeMap::new(),
            secret_paths: BTreeSet::new(),
            redactor: Redactor::default(),
            seen: Context::new(&run, &env),
            stand_in: Context::new(&run, &env),
        }
    }

    pub fn set_input(&mut self, name: &str, value: String, secret: bool) {
        if secret {
            self.redactor.add(&value);
            self.secret_paths.insert(format!("inputs.{name}"));
        }
        let seen = minijinja::Value::from(value.as_str());
        let stand_in = if self.secret_paths.contains(&format!("inputs.{name}")) {
            minijinja::Value::from(hide(&value))
        } else {
            seen.clone()
        };
        self.seen.inputs.insert(name, seen);
        self.stand_in.inputs.insert(name, stand_in);
        self.inputs.insert(name.to_owned(), value);
    }

    pub fn has_input(&self, name: &str) -> bool {
        self.inputs.contains_key(name)
    }

    pub fn input(&self, name: &str) -> Option<&str> {
        self.inputs.get(name).map(String::as_str)
    }

    /// Records a step's results. `secret_fields` name the result fields that hold
    /// secrets (their values are registered with the redactor): top-level, or a
    /// dotted path (`outputs.password`).
    pub fn set_step(&mut self, id: &str, results: Json, secret_fields: &[String]) {
        for field in secret_fields {
            if let Some(Json::String(value)) = self::field(&results, field) {
                // A command's output ends in a newline that is not part of the
                // secret: masked as `••••2b4f`, on any line it is printed on.
                self.redactor.add(value.trim());
            }
            self.secret_paths.insert(format!("steps.{id}.{field}"));
        }
        let seen = serialized(&results);
        let prefix = format!("steps.{id}.");
        let has_secrets = self
            .secret_paths
            .range(prefix.clone()..)
            .next()
            .is_some_and(|path| path.starts_with(&prefix));
        let stand_in = match &results {
            Json::Object(fields) if has_secrets => {
                let mut hidden = fields.clone();
                for (field, value) in &mut hidden {
                    if let Json::String(text) = value
                        && self.secret_paths.contains(&format!("{prefix}{field}"))
                    {
                        *text = hide(text);
                    }
                }
                serialized(&hidden)
            }
            _ => seen.clone(),
        };
        self.seen.steps.insert(id, seen);
        self.stand_in.steps.insert(id, stand_in);
        self.steps.insert(id.to_owned(), results);
    }

    /// Every step starts `pending`, so a template may ask about a step that has
    /// not run (`steps.revoke.outcome != 'passed'` in a rollback's `when`).
    pub fn declare_steps(&mut self, runbook: &crate::document::model::Runbook) {
        for step in runbook.all_steps() {
            self.set_step(
                &step.id.value,
                serde_json::json!({"outcome": "pending", "reason": null}),
                &[],
            );
        }
    }

    pub fn step(&self, id: &str) -> Option<&Json> {
        self.steps.get(id)
    }

    /// Whether a dotted reference reads (part of) a secret: a secret path, a part
    /// of one, or something that holds one. Lookups in the ordered set, so the
    /// cost does not grow with the number of secrets.
    pub fn is_secret_reference(&self, reference: &str) -> bool {
        let holds = reference
            .match_indices('.')
            .map(|(end, _)| &reference[..end])
            .chain([reference])
            .any(|path| self.secret_paths.contains(path));
        let prefix = format!("{reference}.");
        holds
            || self
                .secret_paths
                .range(prefix.clone()..)
                .next()
                .is_some_and(|path| path.starts_with(&prefix))
    }

    /// Whether a secret path is written anywhere in the text (`inputs.token[:10]`
    /// reads it though `MiniJinja` reports no reference). Paths are dotted names, so
    /// each run of name characters is looked up prefix by prefix, not every path
    /// searched for in the text.
    fn mentions_secret(&self, source: &str) -> bool {
        let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
        source.char_indices().any(|(start, _)| {
            let rest = &source[start..];
            if !rest.starts_with("inputs.") && !rest.starts_with("steps.") {
                return false;
            }
            let run = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            (1..=run).any(|end| self.secret_paths.contains(&rest[..end]))
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
        with_item(self.seen.base.clone(), item)
    }

    fn uses_secret(&self, source: &str, item: Option<&Json>, output: &str) -> bool {
        // MiniJinja reports no reference for some expressions (a slice such as
        // `inputs.token[:10]`), so a plain mention of a secret path counts too.
        let referenced = template::references(&self.env, source)
            .unwrap_or_default()
            .iter()
            .any(|r| self.is_secret_reference(r))
            || self.mentions_secret(source);
        let item_secret = item.is_some_and(|i| self.redactor.leaks(&i.to_string()));
        referenced || item_secret || self.redactor.leaks(output)
    }

    /// Renders a template to text.
    pub fn render(&self, source: &str, item: Option<&Json>) -> Result<Rendered, RenderError> {
        if !template::has_blocks(source) {
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
        let stand_in = with_item(self.stand_in.base.clone(), item);
        let Ok(stand_in) = self.env.render_str(source, stand_in) else {
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

    /// Every string in a value evaluated from a secret is hidden from now on:
    /// the items `{{ inputs.hosts | split(',') }}` gives are each part of the
    /// secret, and messages name an item by its value. Four characters or fewer
    /// are let through, as in `learn_derived`.
    fn learn_strings(&self, value: &Json) {
        match value {
            Json::String(text) if text.chars().count() > 4 => self.redactor.add(text),
            Json::Array(items) => items.iter().for_each(|v| self.learn_strings(v)),
            Json::Object(fields) => fields.values().for_each(|v| self.learn_strings(v)),
            _ => {}
        }
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
            let value = serde_json::to_value(&value).map_err(|e| RenderError(e.to_string()))?;
            if self.uses_secret(source, item, &value.to_string()) {
                self.learn_strings(&value);
            }
            return Ok(value);
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

/// The result at `field` of a step's results: a top-level field (`value`), or
/// a dotted path into them (`outputs.password`, a child runbook's output).
pub fn field<'a>(results: &'a Json, field: &str) -> Option<&'a Json> {
    field
        .split('.')
        .try_fold(results, |value, part| match value {
            Json::Array(items) => items.get(part.parse::<usize>().ok()?),
            _ => value.get(part),
        })
}

/// Puts `value` at `field` (as [`field`] reads it) of a step's results.
pub fn set_field(results: &mut Json, field: &str, value: Json) {
    let mut at = results;
    for part in field.split('.') {
        let index = part
            .parse::<usize>()
            .ok()
            .filter(|i| at.as_array().is_some_and(|items| *i < items.len()));
        at = match index {
            Some(index) => &mut at[index],
            None => {
                if !at.is_object() {
                    *at = Json::Object(Map::new());
                }
                &mut at[part]
            }
        };
    }
    *at = value;
}

/// A base context with `item` added (a `for_each` step's current item).
fn with_item(base: minijinja::Value, item: Option<&Json>) -> minijinja::Value {
    match item {
        Some(item) => minijinja::context! { item => serialized(item), ..base },
        None => base,
    }
}

/// A secret's stand-in: as many `§`s as it has characters.
fn hide(value: &str) -> String {
    "§".repeat(value.chars().count())
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

    #[test]
    fn results_join_the_context_as_they_are_recorded() {
        let mut v = values();
        assert_eq!(v.render("{{ steps | length }}", None).unwrap().text, "2");
        v.set_step("later", json!({"outcome": "passed", "status": 204}), &[]);
        assert_eq!(
            v.render(
                "{{ steps.later.status }} {{ steps | sort | join(',') }}",
                None
            )
            .unwrap()
            .text,
            "204 later,old,zones"
        );
        v.set_step("later", json!({"outcome": "failed"}), &[]);
        assert_eq!(
            v.render("{{ steps.later.outcome }}", None).unwrap().text,
            "failed"
        );
        assert!(v.render("{{ steps.later.status }}", None).is_err());
    }

    #[test]
    fn fields_are_read_and_written_at_dotted_paths_into_lists_too() {
        let mut results = json!({"results": [{"outputs": {"pw": "a"}}, {"outputs": {}}]});
        assert_eq!(field(&results, "results.0.outputs.pw"), Some(&json!("a")));
        assert_eq!(field(&results, "results.1.outputs.pw"), None);
        set_field(&mut results, "results.1.outputs.pw", json!("b"));
        set_field(&mut results, "outputs.token", json!("c"));
        assert_eq!(field(&results, "results.1.outputs.pw"), Some(&json!("b")));
        assert_eq!(field(&results, "outputs.token"), Some(&json!("c")));
    }

    #[test]
    fn knows_which_references_read_secrets() {
        let v = values();
        for secret in [
            "inputs.token",
            "steps.old.value",
            "steps.old",
            "steps",
            "inputs",
        ] {
            assert!(v.is_secret_reference(secret), "{secret}");
        }
        for plain in [
            "inputs.api",
            "steps.zones.json",
            "steps.old.outcome",
            "inputs.tok",
        ] {
            assert!(!v.is_secret_reference(plain), "{plain}");
        }
        assert!(v.mentions_secret("{{ (inputs.token)[2:] }}"));
        assert!(v.mentions_secret("{{ xsteps.old.values }}"));
        assert!(!v.mentions_secret("{{ inputs.tok }} steps.old"));
    }
}
