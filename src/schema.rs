//! `runbook schema`: a JSON Schema (draft-07) of the runbook language, for editors
//! (yaml-language-server completes and checks against it) and other tools. The
//! enums come from the model's `JsonSchema` derives; the shapes Rust types do not
//! express — one action per step, `steps` or `phases` — are written out here.
//! `validate` remains the authority: it also checks references, gates and secrets.

use schemars::generate::SchemaSettings;
use schemars::{Schema, json_schema};
use serde_json::{Value, json};

use crate::document::model::{Action, Effect, Method, Priority, Retry};

/// The schema as pretty JSON, ending with a newline (the committed file's form).
pub fn render() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// A number matcher's operand: a number, or a template rendering to one when
/// the step runs.
fn operand(kind: &str) -> Value {
    json!({"anyOf": [{"type": kind}, operand_template()]})
}

fn operand_template() -> Value {
    json!({
        "type": "string",
        "pattern": "\\{[{%]",
        "description": "A template that renders to a number when the step runs (`validate` cannot check it).",
    })
}

pub fn schema() -> Schema {
    let mut generator = SchemaSettings::draft07().into_generator();
    let priority = generator.subschema_for::<Priority>().to_value();
    let effect = generator.subschema_for::<Effect>().to_value();
    let method = generator.subschema_for::<Method>().to_value();
    let mut definitions: serde_json::Map<String, Value> = generator.take_definitions(true);

    let text = json!({"type": ["string", "number", "boolean"]});
    let template = json!({"type": ["string", "number", "boolean"], "description": "Text; `{{ … }}` expressions are MiniJinja templates."});
    let id = json!({"type": "string", "pattern": "^[a-z][a-z0-9_]*$"});
    let duration = json!({"type": "string", "pattern": "^\\s*([0-9]+\\s*[a-zA-Zµ]+\\s*)+$", "description": "A duration: `30s`, `15m`, `1h 30m`, `500ms`."});
    let string_map = json!({"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}});
    let r = |name: &str| json!({"$ref": format!("#/definitions/{name}")});

    let mut add = |name: &str, schema: Value| {
        definitions.insert(name.to_owned(), schema);
    };
    add("Text", text);
    add("Template", template);
    add("Id", id);
    add("Duration", duration);
    add("StringMap", string_map);
    add(
        "Input",
        json!({
            "type": ["object", "null"],
            "additionalProperties": false,
            "properties": {
                "description": r("Text"),
                "default": r("Template"),
                "secret": {"type": "boolean"},
                "prompt": r("Text"),
                "pattern": {"type": "string"},
                "choices": {"type": "array", "items": r("Text")},
            },
        }),
    );
    add(
        "HttpRequest",
        json!({
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["url"],
                    "properties": {
                        "method": method,
                        "url": r("Template"),
                        "headers": r("StringMap"),
                        "bearer": r("Template"),
                        "json": {},
                        "body": r("Template"),
                        "timeout": r("Duration"),
                        "tls": r("TlsFiles"),
                        "resolve": {
                            "type": "object",
                            "description": "Host names of the URL to the IP address to connect to (no port: the URL's); SNI and Host keep the name. Host names and addresses are templates.",
                            "additionalProperties": r("Template"),
                        },
                    },
                },
            ],
        }),
    );
    add(
        "TlsFiles",
        json!({
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "description": "PEM files; relative paths are relative to the directory runbook runs in.",
            "properties": {
                "ca": {"$ref": "#/definitions/Template", "description": "The CA the server's certificate must come from, instead of the built-in roots."},
                "cert": {"$ref": "#/definitions/Template", "description": "A client certificate (with `key`)."},
                "key": {"$ref": "#/definitions/Template", "description": "The client certificate's private key (a secret file: never shown)."},
            },
        }),
    );
    add(
        "TlsExpect",
        json!({
            "type": "object",
            "additionalProperties": false,
            "description": "Checks on the certificate the server presented.",
            "properties": {
                "subject": r("TextMatch"),
                "issuer": r("TextMatch"),
                "not_before": r("TextMatch"),
                "not_after": r("TextMatch"),
                "sha256": r("TextMatch"),
                "serial": r("TextMatch"),
                "sans": {
                    "type": "object",
                    "additionalProperties": false,
                    "minProperties": 1,
                    "description": "Holds when one name is exactly (`contains`) or none is (`not_contains`) the name given.",
                    "properties": {"contains": r("Template"), "not_contains": r("Template")},
                },
                "days_left": r("Matcher"),
            },
        }),
    );
    add(
        "Command",
        json!({
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["run"],
                    "properties": {"run": r("Template"), "env": r("StringMap"), "cwd": r("Template")},
                },
            ],
        }),
    );
    add(
        "Matcher",
        json!({
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1,
            "properties": {
                "equals": {},
                "not_empty": {"type": "boolean"},
                "exists": {"type": "boolean"},
                "gt": operand("number"), "ge": operand("number"),
                "lt": operand("number"), "le": operand("number"),
                "matches": {"type": "string"},
                "len": {"anyOf": [{"type": "integer", "minimum": 0}, operand_template()]},
            },
        }),
    );
    add(
        "Expect",
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "status": {"anyOf": [
                    {"type": "integer", "minimum": 100, "maximum": 599},
                    {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 100, "maximum": 599}},
                ]},
                "json": {"description": "Dotted JSON paths to expected values or matchers (a `*` segment: every element, at least one); a matcher or a non-map value checks the whole document. On a command, stdout parsed as JSON."},
                "exit_code": {"anyOf": [
                    {"type": "integer", "minimum": 0, "maximum": 255},
                    {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0, "maximum": 255}},
                ]},
                "stdout": r("TextMatch"),
                "stderr": r("TextMatch"),
                "stdout_contains": r("Template"),
                "body": r("TextMatch"),
                "headers": {
                    "type": "object",
                    "description": "Response header names (any case) to text matchers.",
                    "additionalProperties": r("TextMatch"),
                },
                "body_contains": r("Template"),
                "tls": r("TlsExpect"),
            },
        }),
    );
    add(
        "TextMatch",
        json!({
            "type": "object",
            "additionalProperties": false,
            "minProperties": 1,
            "description": "Every rule given must hold; `equals` and `not_equals` ignore one trailing newline.",
            "properties": {
                "contains": r("Template"),
                "not_contains": r("Template"),
                "equals": r("Template"),
                "not_equals": r("Template"),
                "matches": {"type": "string", "description": "A regular expression searched in the text."},
            },
        }),
    );
    add(
        "WaitFor",
        json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "http": r("HttpRequest"),
                "command": r("Command"),
                "expect": r("Expect"),
                "interval": r("Duration"),
                "timeout": r("Duration"),
            },
            "oneOf": [{"required": ["http"]}, {"required": ["command"]}],
        }),
    );
    add(
        "Need",
        json!({
            "anyOf": [
                r("Id"),
                {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["step"],
                    "properties": {"step": r("Id"), "within": r("Duration")},
                },
            ],
        }),
    );
    add("Step", step_schema(&effect, &priority));
    add(
        "Phase",
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "steps"],
            "properties": {
                "id": r("Id"),
                "title": r("Text"),
                "description": r("Text"),
                "steps": {"type": "array", "items": r("Step")},
            },
        }),
    );

    json_schema!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "runbook",
        "description": "A runbook or checklist for the `runbook` engine.",
        "type": "object",
        "additionalProperties": false,
        "required": ["runbook"],
        "properties": {
            "runbook": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*$", "description": "The runbook id: the file name without `.yaml`."},
            "title": r("Text"),
            "description": r("Text"),
            "owner": r("Text"),
            "priority": priority,
            "estimate": r("Duration"),
            "guide": r("Text"),
            "keep_secrets": {"type": "boolean", "description": "Whether the secrets a run still needs are kept at rest (0600, in the run's state directory) for `resume`; default true."},
            "inputs": {
                "type": "object",
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                "additionalProperties": r("Input"),
            },
            "steps": {"type": "array", "items": r("Step")},
            "phases": {"type": "array", "items": r("Phase")},
            "rollback": {"type": "array", "items": r("Step")},
            "outputs": {
                "type": "object",
                "description": "What a parent that runs this runbook reads as `steps.<id>.outputs.NAME` (per item: `steps.<id>.results[i].outputs.NAME`); rendered when the run passed.",
                "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                "additionalProperties": r("Template"),
            },
        },
        "oneOf": [{"required": ["steps"]}, {"required": ["phases"]}],
        "definitions": definitions,
    })
}

/// A step: its common keys, exactly one action key (`command` may be followed by
/// `wait_for`).
fn step_schema(effect: &Value, priority: &Value) -> Value {
    let r = |name: &str| json!({"$ref": format!("#/definitions/{name}")});
    let properties = json!({
        "id": r("Id"),
        "title": r("Text"),
        "description": r("Text"),
        "needs": {"anyOf": [r("Id"), {"type": "array", "items": r("Need")}]},
        "when": r("Template"),
        "effect": effect,
        "confirm": {"anyOf": [
            {"type": "boolean"},
            {"type": "object", "additionalProperties": false, "properties": {"message": r("Template"), "phrase": r("Template")}},
        ]},
        "approve": {
            "type": "object",
            "additionalProperties": false,
            "required": ["from"],
            "description": "A gate only other people open: `count` of the people in `from` (never the run's operator) approve with `runbook approve FILE STEP`.",
            "properties": {
                "count": {"type": "integer", "minimum": 1},
                "from": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "string", "pattern": "^[^\\s,]+$"}},
                "message": r("Template"),
            },
        },
        "secret": {"type": "boolean"},
        "timeout": r("Duration"),
        "retry": {
            "type": "object",
            "additionalProperties": false,
            "required": ["attempts"],
            "properties": {
                "attempts": {"type": "integer", "minimum": 1},
                "delay": r("Duration"),
                "backoff": {"type": "number", "minimum": 1, "maximum": Retry::MAX_BACKOFF},
            },
        },
        "explain": {"type": "object", "propertyNames": {"pattern": "^[0-9]+$"}, "additionalProperties": r("Template")},
        "outputs": {"type": "object", "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"}, "additionalProperties": r("Template")},
        "priority": priority,
        "estimate": r("Duration"),
        "guide": r("Text"),
        "for_each": {
            "description": "The items to repeat an `http`, `command` or `runbook` action over: a template that gives a list, a list, or a map of lists whose every combination is an item (`{node: …, component: [api, worker]}` gives `item.node`, `item.component`).",
            "anyOf": [
                r("Template"),
                {"type": "array", "minItems": 1},
                {
                    "type": "object",
                    "minProperties": 1,
                    "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
                    "additionalProperties": {"anyOf": [r("Template"), {"type": "array", "minItems": 1}]},
                },
            ],
        },
        "with": {
            "type": "object",
            "description": "The inputs of the child runbook (`runbook:` steps only): name → template, rendered in this runbook's context (`item` in a fan-out).",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]*$"},
            "additionalProperties": r("Template"),
        },
        "concurrency": {"type": "integer", "minimum": 1},
        "expect": r("Expect"),
        "manual": r("Template"),
        "prompt": {"anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "message": r("Template"),
                    "secret": {"type": "boolean"},
                    "pattern": {"type": "string"},
                    "choices": {"type": "array", "items": r("Text")},
                    "default": r("Template"),
                },
            },
        ]},
        "read_setting": {
            "type": "object", "additionalProperties": false, "required": ["file", "key"],
            "properties": {"file": r("Template"), "key": {"type": "string"}},
        },
        "set_setting": {
            "type": "object", "additionalProperties": false, "required": ["file"],
            "properties": {
                "file": r("Template"), "key": {"type": "string"}, "value": r("Template"),
                "values": {
                    "type": "object", "minProperties": 1,
                    "description": "Several keys, written in one atomic write.",
                    "additionalProperties": r("Template"),
                },
            },
            "oneOf": [
                {"required": ["key", "value"], "not": {"required": ["values"]}},
                {"required": ["values"], "not": {"anyOf": [{"required": ["key"]}, {"required": ["value"]}]}},
            ],
        },
        "restore_setting": r("Id"),
        "write_file": {
            "type": "object", "additionalProperties": false, "required": ["path"],
            "properties": {
                "path": r("Template"),
                "content": r("Template"),
                "from": {"allOf": [r("Template")], "description": "A file whose bytes are written, read at run time."},
                "mode": {"anyOf": [
                    {"type": "string", "pattern": "^(0o)?[0-7]{1,4}$"},
                    {"type": "integer", "minimum": 0},
                ], "description": "Permission bits in octal, as chmod takes them."},
            },
            "oneOf": [{"required": ["content"]}, {"required": ["from"]}],
        },
        "restore_file": r("Id"),
        "generate_secret": {
            "type": "object", "additionalProperties": false, "required": ["length"],
            "description": "A new secret from the OS's secure random source, in `steps.<id>.value`.",
            "properties": {
                "length": {"type": "integer", "minimum": 1, "maximum": 4096},
                "alphabet": {"type": "string", "minLength": 2, "description": "The characters to draw from, each once; letters and digits when absent."},
            },
        },
        "http": r("HttpRequest"),
        "command": r("Command"),
        "wait_for": r("WaitFor"),
        "runbook": {"type": "string", "description": "A child runbook, relative to this file."},
    });
    debug_assert!(Action::KEYS.iter().all(|k| properties.get(k).is_some()));
    let one_action: Vec<Value> = Action::KEYS
        .iter()
        .map(|key| match *key {
            "wait_for" => json!({"required": ["wait_for"], "not": {"required": ["command"]}}),
            key => json!({"required": [key]}),
        })
        .collect();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id"],
        "properties": properties,
        "oneOf": one_action,
    })
}
