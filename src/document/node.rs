//! A YAML document as a tree of [`Node`]s, each carrying the exact source span it
//! came from.
//!
//! serde-saphyr parses the text; its `Spanned` wrapper gives every value — map keys
//! included — a position. The rest of the language is decoded from this tree by
//! hand (see `decode.rs`) rather than by `#[derive(Deserialize)]`, because a derived
//! deserializer stops at the first problem while `validate` must report them all,
//! each at the node that caused it.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a node sits in its source: 1-based line and column, and a byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub line: u32,
    pub col: u32,
    pub offset: usize,
    pub len: usize,
}

impl Span {
    /// The start of a file, for problems that belong to no node.
    pub const START: Span = Span {
        line: 1,
        col: 1,
        offset: 0,
        len: 0,
    };
}

/// One YAML value with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

/// The shapes a YAML value can take. Maps keep their source order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// The name of this kind of value, as a diagnostic says it ("expected a string, found a map").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// A YAML syntax error with the position the parser reported.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

/// Parses `text` into a node tree. Nesting deeper than the parser budget, alias
/// bombs and oversized documents are refused with an error, never a panic.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: MAX_DEPTH, flow_nesting_limit: MAX_DEPTH },
        with_snippet: false,
        // YAML 1.1 read `y`, `no` and `on` as booleans: `needs: [y]` must stay a step id.
        strict_booleans: true,
        // Duplicate keys reach the decoder, which reports them as RB027 and goes on
        // instead of stopping at a syntax error.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<Value>>>(text, options) {
        Ok(Some(spanned)) => Ok(node_from(spanned, text)),
        Ok(None) => Ok(Node {
            value: Value::Null,
            span: Span::START,
        }),
        Err(error) => {
            let span = error
                .location()
                .map_or(Span::START, |location| span_from(&location, text));
            Err(SyntaxError {
                message: syntax_message(&error),
                span,
            })
        }
    }
}

/// How deep a runbook may nest. Real runbooks stay under 15 levels; the limit keeps a
/// hostile file from exhausting the stack of the recursive walks that follow.
const MAX_DEPTH: usize = 48;

fn syntax_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    // serde-saphyr appends " at line X, column Y" (which the snippet already shows)
    // and speaks of its own API in some messages; say it in the runbook's terms.
    let first = text.lines().next().unwrap_or("invalid YAML").trim();
    let first = first.find(" at line ").map_or(first, |cut| &first[..cut]);
    if first.starts_with("multiple YAML documents") {
        return "a runbook file holds one YAML document, this one has more (a `---` line starts another)".to_owned();
    }
    if first.contains("budget breached") {
        return if first.contains("Depth") || first.contains("recursion") {
            format!("the document nests deeper than {MAX_DEPTH} levels")
        } else if first.contains("Alias") || first.contains("Nodes") || first.contains("Anchor") {
            "the document expands to too many values (aliases repeating aliases?)".to_owned()
        } else {
            "the document is too large to be a runbook".to_owned()
        };
    }
    if first.contains("recursion limit exceeded") {
        return format!("the document nests deeper than {MAX_DEPTH} levels");
    }
    first.to_owned()
}

fn span_from(location: &serde_saphyr::Location, text: &str) -> Span {
    let line = u32::try_from(location.line()).unwrap_or(u32::MAX).max(1);
    let col = u32::try_from(location.column()).unwrap_or(u32::MAX).max(1);
    let span = location.span();
    let offset = span
        .byte_offset()
        .and_then(|o| usize::try_from(o).ok())
        .unwrap_or_else(|| offset_of(text, line, col));
    let len = span
        .byte_len()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0);
    let offset = offset.min(text.len());
    Span {
        line,
        col,
        offset,
        len: len.min(text.len() - offset),
    }
}

/// The byte offset of a 1-based line and (character) column.
fn offset_of(text: &str, line: u32, col: u32) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => return text.len(),
        }
    }
    let line_text = &text[start..];
    line_text
        .char_indices()
        .nth(col.saturating_sub(1) as usize)
        .map_or(text.len(), |(i, _)| start + i)
}

fn node_from(spanned: Spanned<Value>, text: &str) -> Node {
    Node {
        value: spanned.value,
        span: span_from(&spanned.referenced, text),
    }
}

/// Children are deserialized as `Spanned<RawValue>` and turned into nodes once the
/// whole document is read, when the source text is at hand to resolve byte offsets.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
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
        // Beyond i64 only a float holds it; a runbook never needs that precision.
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
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(pending(item));
        }
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((key, value)) = map.next_entry::<Spanned<Value>, Spanned<Value>>()? {
            entries.push((pending(key), pending(value)));
        }
        Ok(Value::Map(entries))
    }
}

fn pending(spanned: Spanned<Value>) -> Node {
    let location = &spanned.referenced;
    let span = location.span();
    Node {
        value: spanned.value,
        span: Span {
            line: u32::try_from(location.line()).unwrap_or(u32::MAX),
            col: u32::try_from(location.column()).unwrap_or(u32::MAX),
            offset: usize::try_from(span.byte_offset().unwrap_or(span.offset()))
                .unwrap_or(usize::MAX),
            len: usize::try_from(span.byte_len().unwrap_or(span.len())).unwrap_or(0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "a: é1\nsteps:\n  - id: x\n    needs: [y, {step: z}]\n    run: \"200\"\n    m: |\n      hi {{ x }}\n      there\n";
        let node = parse(text).unwrap();
        println!("{node:#?}");
    }
}
