//! The node builder (`document::node`, which walks granit-parser's events) checked
//! against an oracle: serde-saphyr reading the same text through its `Spanned<T>`
//! wrapper, the way the first version of the builder did. Both sit on the same
//! parser, so on every bundled runbook, corpus file and thousands of mutations they
//! must agree on what is a syntax error, on every value, and on every node's line,
//! column and byte range — the positions every diagnostic is built on.
//!
//! Where they differ by design, the difference is named where it is allowed: the
//! builder reads plain scalars by the YAML 1.2 core schema, where serde-saphyr also
//! takes Rust's float spellings (`inf`, `NaN`), `1_000`, and reads `0755` as 755.0
//! ([`same_scalar`]); it refuses tags, and points at the `---` of a second document
//! and at a stray tab itself.

use std::fmt;
use std::path::PathBuf;

use runbook::document::node::{self, Node, Span, Value};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::mutation::{Rng, corpus, hostile_cases, mutate};
use crate::support::repo;

const CASES: usize = 3_000;

#[test]
fn builder_agrees_with_serde_saphyr_spanned() {
    let runbooks = corpus();
    let mut texts: Vec<(PathBuf, String)> = runbooks.clone();
    texts.extend(corpus_files());
    texts.extend(hostile_cases(&runbooks[0].0));
    let mut rng = Rng::new(0x0e4a_c1e0);
    for n in 0..CASES {
        let index = n % runbooks.len();
        texts.push((
            runbooks[index].0.clone(),
            mutate(&mut rng, &runbooks, index),
        ));
    }

    let mut parsed = 0;
    let mut disagreements = Vec::new();
    for (path, text) in &texts {
        let ours = node::parse(text);
        let theirs = oracle(text);
        let verdict = match (&ours, &theirs) {
            (Ok(ours), Ok(theirs)) => {
                parsed += 1;
                same_node(ours, theirs)
            }
            (Err(ours), Err(theirs)) if ours.span.line == theirs.line => Ok(()),
            // The builder points at the `---` that starts a second document, serde-saphyr
            // at what follows it; at a stray tab itself, serde-saphyr at the scalar or
            // after the indentation it is in; their alias budgets differ, and so which
            // alias breaks it.
            (Err(ours), Err(theirs))
                if ours.message.contains("more (a `---` line")
                    || ours.message.contains("a tab where YAML allows only spaces")
                    || (ours.message.contains("too many values")
                        && theirs.message.contains("budget breached")) =>
            {
                Ok(())
            }
            // The builder refuses YAML tags a runbook has no use for (`!!binary`,
            // `!custom`) where serde-saphyr ignores them.
            (Err(ours), _) if ours.message.contains("does not use YAML tags") => Ok(()),
            (Err(ours), Err(theirs)) => Err(format!(
                "syntax error at line {} (ours: {}), serde-saphyr at line {} ({})",
                ours.span.line, ours.message, theirs.line, theirs.message
            )),
            (Ok(_), Err(theirs)) => Err(format!(
                "only serde-saphyr fails, at line {}: {}",
                theirs.line, theirs.message
            )),
            (Err(ours), Ok(_)) => Err(format!(
                "only the builder fails, at {}:{}: {}",
                ours.span.line, ours.span.col, ours.message
            )),
        };
        if let Err(problem) = verdict {
            disagreements.push(format!("{}: {problem}\n{text}", path.display()));
        }
    }
    assert!(
        parsed > CASES / 3,
        "only {parsed} texts parsed: the comparison says little"
    );
    assert!(
        disagreements.is_empty(),
        "{} of {} texts read differently; the first:\n{}",
        disagreements.len(),
        texts.len(),
        disagreements
            .iter()
            .map(|d| d.lines().next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn corpus_files() -> Vec<(PathBuf, String)> {
    let mut files = runbook::validate::files(&repo().join("tests/corpus"));
    files.sort();
    assert!(files.len() >= 40, "the corpus is missing");
    files
        .into_iter()
        .filter_map(|path| Some((path.clone(), std::fs::read_to_string(&path).ok()?)))
        .collect()
}

fn same_node(ours: &Node, theirs: &Node) -> Result<(), String> {
    if ours.span != theirs.span {
        return Err(format!(
            "{} at {:?}, serde-saphyr has it at {:?}",
            describe(&ours.value),
            ours.span,
            theirs.span
        ));
    }
    match (&ours.value, &theirs.value) {
        (Value::Seq(a), Value::Seq(b)) if a.len() == b.len() => {
            a.iter().zip(b).try_for_each(|(a, b)| same_node(a, b))
        }
        (Value::Map(a), Value::Map(b)) if a.len() == b.len() => {
            a.iter().zip(b).try_for_each(|((ak, av), (bk, bv))| {
                same_node(ak, bk)?;
                same_node(av, bv)
            })
        }
        (a, b) if same_scalar(a, b) => Ok(()),
        (a, b) => Err(format!(
            "at {:?}: builder reads {}, serde-saphyr {}",
            ours.span,
            describe(a),
            describe(b)
        )),
    }
}

/// Equal scalars, or one of the deliberate differences of the core schema.
fn same_scalar(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
        // `0755`: an integer by the core schema, 755.0 to serde-saphyr.
        #[allow(clippy::cast_precision_loss)]
        (Value::Int(a), Value::Float(b)) => (*a as f64 - b).abs() < f64::EPSILON,
        // `inf`, `NaN`, `1_000`: strings by the core schema.
        (Value::Str(text), Value::Float(_) | Value::Int(_)) => {
            let lower = text.to_ascii_lowercase();
            text.contains('_') || lower.contains("inf") || lower.contains("nan")
        }
        (a, b) => a == b && !matches!(a, Value::Seq(_) | Value::Map(_)),
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Seq(items) => format!("a list of {}", items.len()),
        Value::Map(entries) => format!("a map of {}", entries.len()),
        scalar => format!("{scalar:?}"),
    }
}

// ---------------------------------------------------------------------------
// The oracle: serde-saphyr with `Spanned<T>` on every value, as the builder's
// first version read runbooks.

struct OracleError {
    line: u32,
    message: String,
}

fn oracle(text: &str) -> Result<Node, OracleError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: 48, flow_nesting_limit: 48 },
        with_snippet: false,
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<Tree>>>(text, options) {
        Ok(Some(spanned)) if spanned.value.0 != Value::Null => Ok(node_of(spanned)),
        Ok(_) => Ok(Node {
            value: Value::Null,
            span: Span::START,
        }),
        Err(error) => Err(OracleError {
            line: error
                .location()
                .map_or(1, |at| u32::try_from(at.line()).unwrap_or(u32::MAX)),
            message: error.to_string(),
        }),
    }
}

fn node_of(spanned: Spanned<Tree>) -> Node {
    let location = &spanned.referenced;
    let span = location.span();
    Node {
        value: spanned.value.0,
        span: Span {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            col: u32::try_from(location.column()).unwrap_or(u32::MAX),
            offset: usize::try_from(span.byte_offset().unwrap_or(span.offset()))
                .unwrap_or(usize::MAX),
            len: usize::try_from(span.byte_len().unwrap_or(span.len())).unwrap_or(0),
        },
    }
}

/// A node value as serde sees it.
struct Tree(Value);

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TreeVisitor).map(Tree)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        #[allow(clippy::cast_precision_loss)]
        let float = v as f64;
        Ok(i64::try_from(v).map_or(Value::Float(float), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Tree>>()? {
            items.push(node_of(item));
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Spanned<Tree>, Spanned<Tree>>()? {
            entries.push((node_of(key), node_of(value)));
        }
        Ok(Value::Map(entries))
    }
}
