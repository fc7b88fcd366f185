//! Templates as a plan shows them: every value known before running (answered
//! and default inputs, answered prompts, the environment) filled in, every other
//! value shown as a placeholder such as `‹steps.old_token.value›`, and every
//! secret masked. The same knowledge, unmasked, renders the requests `--probe`
//! sends.
//!
//! Placeholders come from [`Unknown`], a `MiniJinja` object that stands for a
//! value the run will produce: reading a field of it gives another placeholder,
//! and the `last4`/`mask` filters describe what they would do to it. Anything
//! else done to an unknown value (a comparison, another filter) cannot be shown
//! honestly, so the whole expression is shown as written, in `‹ ›`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use minijinja::Environment;
use minijinja::value::{Object, ObjectRepr, Value};
use serde_json::Value as Json;

use crate::document::node::{Node, Value as Yaml};
use crate::eval::values::{self, RenderError, Values};
use crate::secret::Redactor;
use crate::template::{self, MASK};

thread_local! {
    /// The placeholders the current render wrote, so text that only looks like
    /// one (a placeholder upper-cased by a filter) is caught.
    static WRITTEN: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// Whether the current evaluation read an unknown value at all. A condition
    /// that never did (`inputs.mode == 'api' and steps.x.outcome == 'passed'` with
    /// `mode` known to be something else) is decided now; one that did is not,
    /// whatever it evaluated to (an unknown compares unequal to everything).
    static TOUCHED: Cell<bool> = const { Cell::new(false) };
}

/// A value the run produces and the plan cannot know: a step result, `run.*`,
/// `item`, or an input nobody has answered yet. It displays as `‹path›`.
#[derive(Debug)]
struct Unknown(String);

impl Object for Unknown {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        TOUCHED.with(|t| t.set(true));
        let path = match key.as_str() {
            Some(name) => format!("{}.{name}", self.0),
            None => format!("{}[{key}]", self.0),
        };
        Some(Value::from_object(Unknown(path)))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("‹{}›", self.0);
        WRITTEN.with(|w| w.borrow_mut().push(text.clone()));
        f.write_str(&text)
    }
}

/// A map with some entries known (`inputs`, `steps` with answered prompts) and
/// the rest unknown under `prefix`.
#[derive(Debug)]
struct Partial {
    prefix: String,
    known: BTreeMap<String, Value>,
}

impl Object for Partial {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let known = self.known.get(name).cloned();
        // A placeholder stands in for an unknown value: reading it reads one.
        if known
            .as_ref()
            .is_none_or(|v| v.downcast_object_ref::<Unknown>().is_some())
        {
            TOUCHED.with(|t| t.set(true));
        }
        Some(
            known.unwrap_or_else(|| Value::from_object(Unknown(format!("{}.{name}", self.prefix)))),
        )
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("‹{}›", self.prefix);
        WRITTEN.with(|w| w.borrow_mut().push(text.clone()));
        f.write_str(&text)
    }
}

/// What a filter applied to an unknown value would give, described.
fn describe_unknown(value: &Value, what: &str) -> Option<Value> {
    let path = value
        .downcast_object_ref::<Unknown>()
        .map(|u| u.0.clone())
        .or_else(|| {
            value
                .downcast_object_ref::<Partial>()
                .map(|p| p.prefix.clone())
        })?;
    Some(Value::from_object(Unknown(format!("{what} {path}"))))
}

fn last4(value: &Value) -> Value {
    describe_unknown(value, "last 4 of").unwrap_or_else(|| {
        Value::from(template::last4(
            &value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        ))
    })
}

fn mask(value: &Value) -> Value {
    describe_unknown(value, "masked").unwrap_or_else(|| {
        Value::from(template::mask(
            &value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        ))
    })
}

/// The run's environment with `last4` and `mask` that understand placeholders.
fn environment() -> Environment<'static> {
    let mut env = template::bounded();
    env.add_filter("last4", |v: Value| last4(&v));
    env.add_filter("mask", |v: Value| mask(&v));
    env
}

/// What templates read, known values filled in; with `shadow`, every secret
/// replaced by its [`shadow`].
fn context(
    inputs: &BTreeMap<String, (Option<String>, bool)>,
    prompts: &BTreeMap<String, (String, bool)>,
    placeholders: &BTreeMap<String, String>,
    shadow: bool,
) -> Value {
    let shown = |value: &str, secret: bool| {
        Value::from(if secret && shadow {
            self::shadow(value)
        } else {
            value.to_owned()
        })
    };
    let mut input_values: BTreeMap<String, Value> = inputs
        .iter()
        .filter_map(|(name, (value, secret))| {
            Some((name.clone(), shown(value.as_deref()?, *secret)))
        })
        .collect();
    for (name, path) in placeholders {
        input_values
            .entry(name.clone())
            .or_insert_with(|| Value::from_object(Unknown(path.clone())));
    }
    let step_values: BTreeMap<String, Value> = prompts
        .iter()
        .map(|(id, (value, secret))| {
            let partial = Partial {
                prefix: format!("steps.{id}"),
                known: BTreeMap::from([("value".to_owned(), shown(value, *secret))]),
            };
            (id.clone(), Value::from_object(partial))
        })
        .collect();
    minijinja::context! {
        inputs => Value::from_object(Partial { prefix: "inputs".to_owned(), known: input_values }),
        steps => Value::from_object(Partial { prefix: "steps".to_owned(), known: step_values }),
        run => Value::from_object(Unknown("run".to_owned())),
        item => Value::from_object(Unknown("item".to_owned())),
        // The run's environment may not be this one (a plan made on a laptop,
        // run on a server), and it may hold credentials: shown as placeholders.
        env => Value::from_object(Unknown("env".to_owned())),
    }
}

/// A stand-in for a secret: as long, and different in every character.
fn shadow(secret: &str) -> String {
    secret
        .chars()
        .map(|c| if c == 'x' { 'y' } else { 'x' })
        .collect()
}

/// Renders `source`, returning the text and the placeholders it wrote.
fn render_tracked(
    env: &Environment<'_>,
    source: &str,
    context: &Value,
) -> Result<(String, Vec<String>), minijinja::Error> {
    WRITTEN.with(|w| w.borrow_mut().clear());
    let text = env.render_str(source, context)?;
    Ok((text, WRITTEN.with(|w| std::mem::take(&mut *w.borrow_mut()))))
}

/// A `when:` as the plan shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The expression as written, without its `{{ }}`.
    pub expression: String,
    /// Its value when everything it reads is known now; `None` when it depends
    /// on the run.
    pub value: Option<bool>,
}

/// Renders a runbook's templates for a plan.
pub struct Renderer {
    env: Environment<'static>,
    context: Value,
    /// The context with every secret replaced by a same-length value that
    /// differs in every character: a template whose output changes with it
    /// shows (part of) a secret, however a filter reshaped it.
    shadow: Value,
    /// The same knowledge as real values, for `--probe` and for conditions that
    /// can be decided now. Its redactor knows every secret.
    values: Values,
    /// Inputs with a value now.
    known_inputs: BTreeMap<String, bool>,
    /// Prompt steps answered up front.
    answered_prompts: BTreeMap<String, bool>,
}

impl Renderer {
    /// `inputs`: every declared input with its value, if known now, and whether
    /// it is secret. `prompts`: prompt steps answered up front, with the answer
    /// and whether it is secret. `placeholders`: inputs with no value now that
    /// stand for a value the run produces, shown as it (a child's input that its
    /// parent's `with:` gives `‹item›`: name → `item`).
    pub fn new(
        inputs: &BTreeMap<String, (Option<String>, bool)>,
        prompts: &BTreeMap<String, (String, bool)>,
        placeholders: &BTreeMap<String, String>,
    ) -> Renderer {
        // `run.*` is unknown, so `Values` is given no run: a template reading it
        // cannot be rendered for real, which is what a probe must refuse.
        let mut values = Values::new(Json::Object(serde_json::Map::new()));
        let mut known_inputs = BTreeMap::new();
        for (name, (value, secret)) in inputs {
            if let Some(value) = value {
                values.set_input(name, value.clone(), *secret);
                known_inputs.insert(name.clone(), *secret);
            }
        }
        let mut answered = BTreeMap::new();
        for (id, (value, secret)) in prompts {
            let fields: &[String] = if *secret { &["value".to_owned()] } else { &[] };
            values.set_step(id, serde_json::json!({ "value": value }), fields);
            answered.insert(id.clone(), *secret);
        }
        Renderer {
            env: environment(),
            context: context(inputs, prompts, placeholders, false),
            shadow: context(inputs, prompts, placeholders, true),
            values,
            known_inputs,
            answered_prompts: answered,
        }
    }

    /// The real values, for sending a probe.
    pub fn values(&self) -> &Values {
        &self.values
    }

    /// Every known secret.
    pub fn redactor(&self) -> &Redactor {
        &self.values.redactor
    }

    /// `text` with every known secret masked.
    pub fn redact(&self, text: &str) -> String {
        self.values.redactor.redact(text)
    }

    /// The values a template reads that are not known before running, as
    /// dotted paths (`steps.old_token.value`, `inputs.new_token`).
    /// `env.*` counts as known: a probe is sent from here, with this environment.
    pub fn unknowns(&self, source: &str) -> Vec<String> {
        let references = template::references(&self.env, source).unwrap_or_default();
        references
            .into_iter()
            .filter(|r| !self.is_known(r, true))
            .collect()
    }

    /// Whether a reference has a value now; `env.*` only when `env_known`.
    fn is_known(&self, reference: &str, env_known: bool) -> bool {
        let mut parts = reference.split('.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("inputs"), Some(name), _) => self.known_inputs.contains_key(name),
            (Some("steps"), Some(id), Some("value")) => self.answered_prompts.contains_key(id),
            (Some("env"), Some(_), _) => env_known,
            _ => false,
        }
    }

    /// A template as the plan shows it: known values filled in (secrets masked),
    /// unknown ones as `‹placeholders›`.
    pub fn text(&self, source: &str) -> String {
        if !template::has_blocks(source) {
            return source.to_owned();
        }
        if source.contains("{%") || source.contains("{#") {
            // Blocks cannot be shown piece by piece; render the whole when every
            // value is known, else show it as written.
            let references = template::references(&self.env, source).unwrap_or_default();
            if references.iter().all(|r| self.is_known(r, false))
                && let Ok(text) = self.env.render_str(source, &self.context)
                && self.env.render_str(source, &self.shadow).ok().as_ref() == Some(&text)
            {
                return self.redact(&text);
            }
            return self.redact(source);
        }
        let mut out = String::with_capacity(source.len());
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start..];
            let Some(end) = after.find("}}") else {
                out.push_str(after);
                rest = "";
                break;
            };
            let segment = &after[..end + 2];
            out.push_str(&self.expression(segment));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        self.redact(&out)
    }

    /// One `{{ … }}`.
    fn expression(&self, segment: &str) -> String {
        let inner = segment
            .trim_start_matches("{{")
            .trim_end_matches("}}")
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        let as_written = || format!("‹{inner}›");
        let Ok((text, written)) = render_tracked(&self.env, segment, &self.context) else {
            return as_written();
        };
        // An unknown value that went through an operation other than reading a
        // field, joining or `last4`/`mask` (a comparison, another filter) leaves
        // no placeholder, or a changed one, behind: what came out would be made up.
        let mut rest = text.clone();
        for placeholder in &written {
            rest = rest.replace(placeholder.as_str(), "");
        }
        let unknown = template::references(&self.env, segment)
            .unwrap_or_default()
            .iter()
            .any(|r| !self.is_known(r, false));
        if (unknown && written.is_empty()) || rest.contains('‹') || rest.contains('›') {
            return as_written();
        }
        let secret = self
            .env
            .render_str(segment, &self.shadow)
            .map_or(true, |shadowed| shadowed != text)
            || template::references(&self.env, segment)
                .unwrap_or_default()
                .iter()
                .any(|r| self.values.is_secret_reference(r));
        let text = self.redact(&text);
        // A secret reshaped by a filter (a slice, an upper-case copy) is not one
        // of the forms the redactor knows. Its last four characters are not the
        // secret's, so none are shown; four or fewer (`last4`) may be.
        if secret && !text.contains('‹') && !text.contains(MASK) && text.chars().count() > 4 {
            return MASK.to_owned();
        }
        text
    }

    /// A YAML value (a JSON body, an expected value) as the plan shows it.
    pub fn node(&self, node: &Node) -> Json {
        match &node.value {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Int(n) => Json::from(*n),
            Yaml::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
            Yaml::Str(s) => Json::String(self.text(s)),
            Yaml::Seq(items) => Json::Array(items.iter().map(|i| self.node(i)).collect()),
            Yaml::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(key, value)| {
                        let key = match &key.value {
                            Yaml::Str(k) => k.clone(),
                            other => format!("{other:?}"),
                        };
                        (key, self.node(value))
                    })
                    .collect(),
            ),
        }
    }

    /// A `when:` condition: decided now when it reads only known values.
    pub fn condition(&self, source: &str) -> Condition {
        let trimmed = source.trim();
        let expression = trimmed
            .strip_prefix("{{")
            .and_then(|s| s.strip_suffix("}}"))
            .filter(|inner| !inner.contains("{{"))
            .map_or(trimmed, str::trim)
            .to_owned();
        let value = if self.unknowns(source).is_empty() {
            self.values.condition(source).ok()
        } else {
            self.decided_without_unknowns(source)
        };
        Condition { expression, value }
    }

    /// A condition that reads unknown values but may not need them: `and` and `or`
    /// stop at the first operand that decides. Evaluated with the known values;
    /// decided only if no unknown value was read.
    fn decided_without_unknowns(&self, source: &str) -> Option<bool> {
        let expression = values::single_expression(source)?;
        // A bare `item`, `run` or `env` is an unknown read without a field access,
        // which the tracking below would not see.
        if self.unknowns(source).iter().any(|r| !r.contains('.')) {
            return None;
        }
        let compiled = self.env.compile_expression(expression).ok()?;
        TOUCHED.with(|t| t.set(false));
        let value = compiled.eval(&self.context).ok();
        if TOUCHED.with(Cell::take) {
            return None;
        }
        Some(values::truthy(&serde_json::to_value(value?).ok()?))
    }
}

/// The plan renders a step with the very functions the run uses
/// (`eval::rendered`), with placeholders for what is not known yet; `item`
/// stays a placeholder, since the items are known only when the run gets there.
impl crate::eval::rendered::Render for Renderer {
    fn text(&self, source: &str, _item: Option<&Json>) -> Result<String, RenderError> {
        Ok(Renderer::text(self, source))
    }

    fn node(&self, node: &Node, _item: Option<&Json>) -> Result<Json, RenderError> {
        Ok(Renderer::node(self, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn renderer() -> Renderer {
        let inputs = BTreeMap::from([
            (
                "api".to_owned(),
                (Some("https://api.example.com".to_owned()), false),
            ),
            (
                "token".to_owned(),
                (Some("cfut_secretvalue9876".to_owned()), true),
            ),
            ("missing".to_owned(), (None, false)),
        ]);
        let prompts = BTreeMap::from([("zone".to_owned(), ("example.com".to_owned(), false))]);
        Renderer::new(&inputs, &prompts, &BTreeMap::new())
    }

    #[test]
    fn fills_in_known_values_and_shows_placeholders() {
        let r = renderer();
        assert_eq!(
            r.text("{{ inputs.api }}/zones/{{ steps.zones.json.result[0].id }}"),
            "https://api.example.com/zones/‹steps.zones.json.result[0].id›"
        );
        assert_eq!(r.text("{{ inputs.missing }}"), "‹inputs.missing›");
        assert_eq!(r.text("zone {{ steps.zone.value }}"), "zone example.com");
        assert_eq!(r.text("{{ steps.zone.outcome }}"), "‹steps.zone.outcome›");
        assert_eq!(r.text("{{ item.id }}"), "‹item.id›");
        assert_eq!(r.text("{{ run.id }}"), "‹run.id›");
        assert_eq!(r.text("{{ env.HOME }}/bin"), "‹env.HOME›/bin");
        assert_eq!(r.text("{{ env.HOME == '/' }}"), "‹env.HOME == '/'›");
    }

    #[test]
    fn describes_filters_on_unknown_values() {
        let r = renderer();
        assert_eq!(
            r.text("ending in {{ steps.old_token.value | last4 }}"),
            "ending in ‹last 4 of steps.old_token.value›"
        );
        assert_eq!(
            r.text("{{ steps.old.value | mask }}"),
            "‹masked steps.old.value›"
        );
        assert_eq!(
            r.text("{{ steps.old.value | upper }}"),
            "‹steps.old.value | upper›"
        );
        assert_eq!(
            r.text("{{ steps.a.outcome == 'passed' }}"),
            "‹steps.a.outcome == 'passed'›",
            "a comparison with an unknown value is not `false`"
        );
    }

    #[test]
    fn masks_secrets_in_every_shape() {
        let r = renderer();
        assert_eq!(r.text("Bearer {{ inputs.token }}"), "Bearer ••••9876");
        assert_eq!(r.text("{{ inputs.token | last4 }}"), "9876");
        assert_eq!(r.text("{{ inputs.token[:10] }}"), "••••");
        assert_eq!(r.text("{{ inputs.token | upper }}"), "••••");
        assert_eq!(r.text("{{ inputs.token | length }}"), "20");
        assert!(!r.text("{{ inputs.token | urlencode }}").contains("secret"));
    }

    #[test]
    fn decides_conditions_only_on_known_values() {
        let r = renderer();
        let known = r.condition("{{ inputs.api == 'x' }}");
        assert_eq!(known.expression, "inputs.api == 'x'");
        assert_eq!(known.value, Some(false));
        let unknown = r.condition("{{ steps.save.outcome == 'passed' }}");
        assert_eq!(unknown.value, None);
        assert_eq!(
            r.unknowns("{{ steps.save.outcome }} {{ inputs.api }}"),
            ["steps.save.outcome"]
        );
    }

    #[test]
    fn a_condition_the_known_values_settle_is_decided_without_the_unknown_ones() {
        let r = renderer();
        let decided = |source: &str| r.condition(source).value;
        // `and`/`or` stop at the known operand.
        assert_eq!(
            decided("{{ inputs.api == 'x' and steps.save.outcome == 'passed' }}"),
            Some(false)
        );
        assert_eq!(
            decided("{{ inputs.api != 'x' or steps.save.outcome == 'passed' }}"),
            Some(true)
        );
        assert_eq!(
            decided("{{ steps.zone.value == 'example.com' or run.id }}"),
            Some(true)
        );
        // Once an unknown value is read, nothing is decided, whatever it evaluated to.
        for source in [
            "{{ inputs.api != 'x' and steps.save.outcome == 'passed' }}",
            "{{ steps.save.outcome != 'passed' }}",
            "{{ steps.save is defined }}",
            "{{ steps.save.outcome | default('passed') == 'passed' }}",
            "{{ inputs.missing == 'x' or inputs.api == 'x' }}",
            "{{ item }}",
            "text {{ inputs.api == 'x' and steps.save.outcome }}",
        ] {
            assert_eq!(decided(source), None, "{source}");
        }
    }
}
