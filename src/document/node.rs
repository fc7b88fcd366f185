//! A YAML document as a tree of [`Node`]s, each carrying the exact source span it
//! came from.
//!
//! The tree is built straight from the events of granit-parser, the YAML parser
//! serde-saphyr is built on (and re-exports for this use). A first version went
//! through serde-saphyr's `Spanned<T>` for every value; serde's data model carries a
//! position only as a map of four fields per value, which made reading a runbook
//! 1.3–1.5× slower than parsing it. The events carry their spans for free.
//!
//! The rest of the language is decoded from this tree by hand (see `decode.rs`)
//! rather than by `#[derive(Deserialize)]`, because a derived deserializer stops at
//! the first problem while `validate` must report them all, each at its node.
//!
//! What the builder does besides: YAML 1.2 core-schema scalars (see `scalar.rs`),
//! aliases copied with a budget (an alias bomb is refused, not expanded), merge keys
//! (`<<`), a nesting limit, and one document per file.

mod scalar;

use std::borrow::Cow;

use foldhash::{HashMap, HashMapExt, HashSet};
use serde_saphyr::granit_parser::{
    ErrorKind, Event, Marker, Options, Parser, ScalarStyle, ScanError, Span as ParserSpan, Tag,
};

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
    /// What to do about it.
    pub help: &'static str,
}

/// The help for what the parser itself reports.
const SYNTAX_HELP: &str =
    "fix the YAML syntax: check indentation, colons and quotes around this point";

/// Parses `text` into a node tree. Nesting deeper than [`MAX_DEPTH`], alias bombs and
/// more than one document are refused with an error, never a panic. A document that
/// is empty or null is a `Null` node at the start of the file.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut options = Options::default();
    // The parser's own limits stop a hostile file before the builder recurses; they
    // sit above the builder's so a deep runbook hears about MAX_DEPTH, in its terms.
    options.flow_nesting_limit = 2 * MAX_DEPTH;
    options.block_nesting_limit = 2 * MAX_DEPTH;
    let mut builder = Builder {
        text,
        parser: Parser::new_from_str_with_options(text, options),
        anchors: HashMap::new(),
        copied: Size::default(),
    };
    builder.stream()
}

/// How deep a runbook may nest. Real runbooks stay under 15 levels; the limit keeps a
/// hostile file from exhausting the stack of the recursive walks that follow.
const MAX_DEPTH: usize = 48;

/// How much aliases may copy in one file, in nodes and in bytes of text. Shared blocks
/// in a real runbook are a few dozen nodes; ten aliases of ten aliases of … reach
/// billions, and a thousand aliases of a megabyte-long string, a gigabyte.
const ALIAS_NODES: usize = 100_000;
const ALIAS_BYTES: usize = 10 * 1024 * 1024;

struct Builder<'input> {
    text: &'input str,
    parser: Parser<'input, serde_saphyr::granit_parser::StrInput<'input>>,
    /// Anchored nodes by the parser's anchor id, each complete (an alias to a node
    /// still being built would be a cycle).
    anchors: HashMap<usize, Node>,
    /// What aliases have copied so far.
    copied: Size,
}

impl<'input> Builder<'input> {
    /// The whole stream: at most one document, whose root is the result.
    fn stream(&mut self) -> Result<Node, SyntaxError> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd => {}
                Event::StreamEnd => break,
                Event::DocumentStart(..) if root.is_some() => {
                    return Err(SyntaxError {
                        message: "a runbook file holds one YAML document, this one has more \
                                  (a `---` line starts another)"
                            .to_owned(),
                        help: "keep one runbook per file: move what follows the `---` to a file of its own, or remove the line",
                        span: self.span(&span),
                    });
                }
                Event::DocumentStart(..) => {
                    let (event, span) = self.next()?;
                    root = Some(self.node(event, span, 0)?);
                }
                other => return Err(self.unexpected(&other, &span)),
            }
        }
        Ok(match root {
            Some(node) if node.value != Value::Null => node,
            _ => Node {
                value: Value::Null,
                span: Span::START,
            },
        })
    }

    fn node(
        &mut self,
        event: Event<'input>,
        span: ParserSpan,
        depth: usize,
    ) -> Result<Node, SyntaxError> {
        let at = self.span(&span);
        if depth > MAX_DEPTH {
            return Err(SyntaxError {
                message: format!("the document nests deeper than {MAX_DEPTH} levels"),
                help: "flatten the structure: a runbook needs far fewer levels",
                span: at,
            });
        }
        // A problem with a tag is reported at the tag, not at the content after it.
        let tag_at = span.tag_span().map_or(at, |tag| self.span(&tag));
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let value = scalar_value(text, style, tag.as_deref(), tag_at)?;
                if let Value::Float(number) = value
                    && !number.is_finite()
                {
                    return Err(SyntaxError {
                        message: "a runbook has no use for an infinite or not-a-number value; \
                                  quote it if it is text"
                            .to_owned(),
                        help: "quote the value if it is text: `\".inf\"`",
                        span: at,
                    });
                }
                (Node { value, span: at }, anchor)
            }
            Event::SequenceStart(_, anchor, tag) => {
                collection_tag(tag.as_deref(), "seq", tag_at)?;
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(event, span, depth + 1)?);
                }
                let value = Value::Seq(items);
                (Node { value, span: at }, anchor)
            }
            Event::MappingStart(_, anchor, tag) => {
                collection_tag(tag.as_deref(), "map", tag_at)?;
                let value = Value::Map(self.entries(depth)?);
                (Node { value, span: at }, anchor)
            }
            Event::Alias(id) => return self.alias(id, at, depth),
            other => return Err(self.unexpected(&other, &span)),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// A map's entries up to its end, with merge keys (`<<: *defaults`) applied: a
    /// merged entry fills in only keys the map does not write itself.
    fn entries(&mut self, depth: usize) -> Result<Vec<(Node, Node)>, SyntaxError> {
        let mut entries = Vec::new();
        let mut merged = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                break;
            }
            let is_merge = matches!(
                &event,
                Event::Scalar(text, ScalarStyle::Plain, _, None) if text == "<<"
            );
            let key = self.node(event, span, depth + 1)?;
            let (event, span) = self.next()?;
            let value = self.node(event, span, depth + 1)?;
            if is_merge {
                merge_sources(value, &mut merged)?;
            } else {
                entries.push((key, value));
            }
        }
        // Most maps merge nothing: the keys they write are gathered only for a merge.
        if merged.is_empty() {
            return Ok(entries);
        }
        let written: HashSet<String> = entries
            .iter()
            .filter_map(|(k, _)| identity(&k.value))
            .collect();
        entries.extend(
            merged
                .into_iter()
                .filter(|(key, _)| identity(&key.value).is_none_or(|id| !written.contains(&id))),
        );
        Ok(entries)
    }

    /// A copy of the anchored node, every span moved to the alias: a problem inside
    /// shared content is reported where it was used.
    fn alias(&mut self, id: usize, at: Span, depth: usize) -> Result<Node, SyntaxError> {
        let Some(anchored) = self.anchors.get(&id) else {
            return Err(SyntaxError {
                message: "this alias refers to a node that contains it".to_owned(),
                help: "an alias can only refer to an anchored node that ends before it",
                span: at,
            });
        };
        let size = Size::of(anchored);
        // The copy nests as deep as the anchored node, from here.
        if depth + size.height > MAX_DEPTH {
            return Err(SyntaxError {
                message: format!("the document nests deeper than {MAX_DEPTH} levels"),
                help: "flatten the structure: a runbook needs far fewer levels",
                span: at,
            });
        }
        self.copied.nodes += size.nodes;
        self.copied.bytes += size.bytes;
        if self.copied.nodes > ALIAS_NODES || self.copied.bytes > ALIAS_BYTES {
            return Err(SyntaxError {
                message: "the document expands to too many values (aliases repeating aliases?)"
                    .to_owned(),
                help: "use fewer aliases of aliases: a runbook's shared blocks are small",
                span: at,
            });
        }
        let mut copy = anchored.clone();
        restamp(&mut copy, at);
        Ok(copy)
    }

    fn next(&mut self) -> Result<(Event<'input>, ParserSpan), SyntaxError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(error)) => Err(self.scan_error(&error)),
            // The parser ends with `StreamEnd`, which the stream loop stops at.
            None => Err(SyntaxError {
                message: "the document ends too early".to_owned(),
                help: SYNTAX_HELP,
                span: Span {
                    line: u32::try_from(self.text.lines().count()).unwrap_or(u32::MAX),
                    col: 1,
                    offset: self.text.len(),
                    len: 0,
                },
            }),
        }
    }

    fn scan_error(&self, error: &ScanError) -> SyntaxError {
        let at = self.at(error.marker());
        match error.kind() {
            ErrorKind::RecursionLimitExceeded => SyntaxError {
                message: format!("the document nests deeper than {MAX_DEPTH} levels"),
                help: "flatten the structure: a runbook needs far fewer levels",
                span: at,
            },
            kind @ (ErrorKind::TabInBlockIndentation
            | ErrorKind::TabNotAllowed
            | ErrorKind::TabInPlainScalar) => SyntaxError {
                message: "a tab where YAML allows only spaces (YAML indents with spaces)"
                    .to_owned(),
                help: "replace the tab with spaces",
                span: self.tab_near(at, matches!(kind, ErrorKind::TabInPlainScalar)),
            },
            _ => SyntaxError {
                message: error.info(),
                help: SYNTAX_HELP,
                span: at,
            },
        }
    }

    /// The tab a tab error is about. The parser reports it after the tabs that indent
    /// a line, or (`ahead`) at the start of the plain scalar a tab continues; either
    /// way the operator needs to see the tab itself.
    fn tab_near(&self, at: Span, ahead: bool) -> Span {
        // The blanks just before the reported point, on its line: the first tab there.
        let before = &self.text[..at.offset];
        let blanks = &before[before.trim_end_matches([' ', '\t']).len()..];
        if let Some(tab) = blanks.find('\t') {
            let back = u32::try_from(blanks.len() - tab).unwrap_or(0);
            return Span {
                col: at.col.saturating_sub(back).max(1),
                offset: at.offset - (blanks.len() - tab),
                len: 1,
                ..at
            };
        }
        let Some(found) = self.text[at.offset..].find('\t').filter(|_| ahead) else {
            return at;
        };
        let between = &self.text[at.offset..at.offset + found];
        let newlines = between.matches('\n').count();
        let col = match between.rfind('\n') {
            Some(newline) => between[newline + 1..].chars().count() + 1,
            None => at.col as usize + between.chars().count(),
        };
        Span {
            line: at.line + u32::try_from(newlines).unwrap_or(0),
            col: u32::try_from(col).unwrap_or(u32::MAX),
            offset: at.offset + found,
            len: 1,
        }
    }

    fn unexpected(&self, event: &Event<'_>, span: &ParserSpan) -> SyntaxError {
        SyntaxError {
            message: format!("unexpected YAML event {event:?}"),
            help: SYNTAX_HELP,
            span: self.span(span),
        }
    }

    fn span(&self, span: &ParserSpan) -> Span {
        let mut at = self.at(&span.start);
        let end = span
            .end
            .byte_offset()
            .unwrap_or(at.offset)
            .min(self.text.len());
        at.len = end.saturating_sub(at.offset);
        at
    }

    /// A parser marker as a span of no length: 1-based line and column, byte offset.
    fn at(&self, marker: &Marker) -> Span {
        let offset = marker
            .byte_offset()
            .unwrap_or_else(|| byte_of_char(self.text, marker.index()))
            .min(self.text.len());
        Span {
            line: u32::try_from(marker.line()).unwrap_or(u32::MAX).max(1),
            col: u32::try_from(marker.col() + 1).unwrap_or(u32::MAX),
            offset,
            len: 0,
        }
    }
}

fn byte_of_char(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(i, _)| i)
}

fn scalar_value(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
    at: Span,
) -> Result<Value, SyntaxError> {
    let Some(tag) = tag else {
        return Ok(if style == ScalarStyle::Plain {
            scalar::resolve(text)
        } else {
            Value::Str(text.into_owned())
        });
    };
    let wrong = |what: &str| SyntaxError {
        message: format!("`{}` marks {what}, and `{text}` is not one", tag_name(tag)),
        help: "remove the tag, or write a value of the kind it names",
        span: at,
    };
    match tag.core_suffix() {
        Some("str") => Ok(Value::Str(text.into_owned())),
        Some("null") => scalar::null(&text).ok_or_else(|| wrong("null")),
        Some("bool") => scalar::boolean(&text).ok_or_else(|| wrong("a boolean")),
        Some("int") => scalar::integer(&text).ok_or_else(|| wrong("an integer")),
        // `!!float 1` is 1.0: the tag says which number type.
        #[allow(clippy::cast_precision_loss)]
        Some("float") => scalar::float(&text)
            .or_else(|| match scalar::integer(&text)? {
                Value::Int(int) => Some(Value::Float(int as f64)),
                other => Some(other),
            })
            .ok_or_else(|| wrong("a number")),
        // `! value`: the non-specific tag, which makes any scalar a string.
        _ if tag.handle().is_empty() && tag.suffix() == "!" => Ok(Value::Str(text.into_owned())),
        _ => Err(unsupported_tag(tag, at)),
    }
}

fn collection_tag(tag: Option<&Tag>, kind: &str, at: Span) -> Result<(), SyntaxError> {
    match tag {
        None => Ok(()),
        Some(tag) if tag.core_suffix() == Some(kind) => Ok(()),
        Some(tag) => Err(unsupported_tag(tag, at)),
    }
}

fn unsupported_tag(tag: &Tag, at: Span) -> SyntaxError {
    SyntaxError {
        message: format!(
            "a runbook does not use YAML tags like `{}`; remove it",
            tag_name(tag)
        ),
        help: "remove the tag: a runbook's values are plain YAML",
        span: at,
    }
}

fn tag_name(tag: &Tag) -> String {
    match tag.core_suffix() {
        Some(suffix) => format!("!!{suffix}"),
        None => format!("{}{}", tag.original_handle(), tag.suffix()),
    }
}

/// The entries `<<` brings in: from one map, or from a list of maps, earlier ones first.
fn merge_sources(value: Node, merged: &mut Vec<(Node, Node)>) -> Result<(), SyntaxError> {
    let sources = match value.value {
        Value::Map(entries) => vec![entries],
        Value::Seq(items) => items
            .into_iter()
            .map(|item| match item.value {
                Value::Map(entries) => Ok(entries),
                other => Err(not_mergeable(other.kind(), item.span)),
            })
            .collect::<Result<_, _>>()?,
        other => return Err(not_mergeable(other.kind(), value.span)),
    };
    let mut seen: HashSet<String> = merged
        .iter()
        .filter_map(|(k, _)| identity(&k.value))
        .collect();
    for (key, value) in sources.into_iter().flatten() {
        if identity(&key.value).is_none_or(|id| seen.insert(id)) {
            merged.push((key, value));
        }
    }
    Ok(())
}

fn not_mergeable(kind: &str, span: Span) -> SyntaxError {
    SyntaxError {
        message: format!("`<<` merges a map or a list of maps, not {kind}"),
        span,
        help: "write `<<: *defaults` or `<<: [*a, *b]`, each alias naming a map",
    }
}

/// What makes two scalar keys the same key, for merges (compared in a set: a merge of
/// many keys must not take quadratic time). A list or map used as a key has none:
/// such a key is never the same as another, and the decoder refuses it anyway.
fn identity(value: &Value) -> Option<String> {
    match value {
        Value::Str(text) => Some(format!("s{text}")),
        Value::Seq(_) | Value::Map(_) => None,
        scalar => Some(format!("{scalar:?}")),
    }
}

/// How big a node is: its nodes (itself included), the bytes of its strings, and
/// how many levels it nests.
#[derive(Debug, Default, Clone, Copy)]
struct Size {
    nodes: usize,
    bytes: usize,
    height: usize,
}

impl Size {
    fn of(node: &Node) -> Size {
        let mut size = Size {
            nodes: 1,
            bytes: 0,
            height: usize::from(matches!(node.value, Value::Seq(_) | Value::Map(_))),
        };
        let mut add = |child: &Node| {
            let child = Size::of(child);
            size.nodes += child.nodes;
            size.bytes += child.bytes;
            size.height = size.height.max(child.height + 1);
        };
        match &node.value {
            Value::Seq(items) => items.iter().for_each(&mut add),
            Value::Map(entries) => entries.iter().for_each(|(k, v)| {
                add(k);
                add(v);
            }),
            Value::Str(text) => size.bytes = text.len(),
            _ => {}
        }
        size
    }
}

fn restamp(node: &mut Node, span: Span) {
    node.span = span;
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|item| restamp(item, span)),
        Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            restamp(k, span);
            restamp(v, span);
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> Vec<(String, &Node)> {
        let Value::Map(entries) = &node.value else {
            panic!("not a map: {node:?}");
        };
        entries
            .iter()
            .map(|(k, v)| match &k.value {
                Value::Str(key) => (key.clone(), v),
                other => panic!("a key that is not a string: {other:?}"),
            })
            .collect()
    }

    fn refused(text: &str) -> SyntaxError {
        parse(text).expect_err("a syntax error")
    }

    #[test]
    fn spans_point_at_keys_and_values_in_bytes() {
        let text = "a: é1\nsteps:\n  - id: x\n    needs: [y, {step: z}]\n";
        let root = parse(text).unwrap();
        let entries = map(&root);
        assert_eq!(entries[0].1.value, Value::Str("é1".to_owned()));
        assert_eq!(
            entries[0].1.span,
            Span {
                line: 1,
                col: 4,
                offset: 3,
                len: 3
            }
        );
        let Value::Seq(steps) = &entries[1].1.value else {
            panic!()
        };
        let step = map(&steps[0]);
        let Value::Seq(needs) = &step[1].1.value else {
            panic!()
        };
        // `y` stays a step id, and the flow map starts at its brace.
        assert_eq!(needs[0].value, Value::Str("y".to_owned()));
        assert_eq!((needs[1].span.line, needs[1].span.col), (4, 16));
        assert_eq!(&text[needs[0].span.offset..][..needs[0].span.len], "y");
    }

    #[test]
    fn empty_and_null_documents_are_null_at_the_start() {
        for text in ["", "# only a comment\n", "---\n", "~\n", "null"] {
            assert_eq!(
                parse(text).unwrap(),
                Node {
                    value: Value::Null,
                    span: Span::START
                },
                "{text:?}"
            );
        }
    }

    #[test]
    fn quoted_and_block_scalars_are_strings_and_tags_are_read_or_refused() {
        let root =
            parse("a: '200'\nb: |\n  true\nc: !!str 5\nd: !!int '7'\ne: ! 1.5\nf: !!float 1\n")
                .unwrap();
        let values: Vec<&Value> = map(&root).into_iter().map(|(_, v)| &v.value).collect();
        assert_eq!(
            values,
            [
                &Value::Str("200".to_owned()),
                &Value::Str("true\n".to_owned()),
                &Value::Str("5".to_owned()),
                &Value::Int(7),
                &Value::Str("1.5".to_owned()),
                &Value::Float(1.0),
            ]
        );
        assert!(
            refused("a: !!int seven\n")
                .message
                .contains("`!!int` marks an integer")
        );
        let custom = refused("a: b\nc: !vault secret\n");
        assert!(custom.message.contains("`!vault`"), "{}", custom.message);
        assert_eq!((custom.span.line, custom.span.col), (2, 4));
    }

    #[test]
    fn non_finite_numbers_are_refused_at_their_node() {
        for (text, col) in [("a: .inf\n", 4), ("a: [1, 1e400]\n", 8), ("a: .NaN\n", 4)] {
            let error = refused(text);
            assert!(
                error.message.contains("infinite"),
                "{text:?}: {}",
                error.message
            );
            assert_eq!((error.span.line, error.span.col), (1, col), "{text:?}");
        }
    }

    #[test]
    fn an_alias_copies_its_anchor_with_the_alias_position() {
        let text = "base: &b {method: GET, url: x}\nuse: *b\n";
        let root = parse(text).unwrap();
        let entries = map(&root);
        let copy = map(entries[1].1);
        let keys: Vec<&str> = copy.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["method", "url"]);
        assert_eq!(copy[0].1.value, Value::Str("GET".to_owned()));
        let Value::Map(inner) = &entries[1].1.value else {
            panic!()
        };
        for (key, value) in inner {
            assert_eq!((key.span.line, key.span.col), (2, 6));
            assert_eq!((value.span.line, value.span.col), (2, 6));
        }
    }

    #[test]
    fn merge_keys_fill_in_what_the_map_does_not_write() {
        let text = "d: &d {a: 1, b: 2}\ne: &e {c: 3, a: 9}\nm:\n  b: 20\n  <<: [*d, *e]\n";
        let root = parse(text).unwrap();
        let merged: Vec<(String, Value)> = map(map(&root)[2].1)
            .into_iter()
            .map(|(k, v)| (k, v.value.clone()))
            .collect();
        assert_eq!(
            merged,
            [
                ("b".to_owned(), Value::Int(20)),
                ("a".to_owned(), Value::Int(1)),
                ("c".to_owned(), Value::Int(3)),
            ]
        );
        let error = refused("m:\n  <<: 5\n");
        assert!(error.message.contains("merges a map"), "{}", error.message);
        // A quoted `<<` is an ordinary key.
        assert_eq!(map(&parse("'<<': 1\n").unwrap())[0].0, "<<");
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_expands() {
        let mut text = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n".to_owned();
        for level in 1..12 {
            let refs = vec![format!("*l{}", level - 1); 10].join(", ");
            text.push_str(&format!("l{level}: &l{level} [{refs}]\n"));
        }
        let error = refused(&text);
        assert!(
            error.message.contains("too many values"),
            "{}",
            error.message
        );
        // Levels 1–3 copy 12,330 nodes; level 4's ten copies of 11,111 pass 100,000.
        assert_eq!(error.span.line, 5);
    }

    #[test]
    fn aliases_of_a_long_string_are_refused_before_they_fill_memory() {
        let mut text = format!("s: &s \"{}\"\nall: [", "x".repeat(200_000));
        text.push_str(&vec!["*s"; 5_000].join(", "));
        text.push_str("]\n");
        let error = refused(&text);
        assert!(
            error.message.contains("too many values"),
            "{}",
            error.message
        );
    }

    #[test]
    fn an_alias_nests_as_deep_as_what_it_copies() {
        // Each anchor nests one level deeper than the one it repeats.
        let mut text = "l0: &l0 [x]\n".to_owned();
        for level in 1..60 {
            text.push_str(&format!("l{level}: &l{level} [*l{}]\n", level - 1));
        }
        let error = refused(&text);
        assert!(
            error.message.contains("deeper than 48"),
            "{}",
            error.message
        );
        assert_eq!(error.span.line, 48);
    }

    #[test]
    fn own_keys_win_over_many_merged_ones() {
        // 40,000 merged keys, half of them written by the map itself.
        let keys = |range: std::ops::Range<u32>, value: &str| -> Vec<String> {
            range.map(|i| format!("k{i}: {value}")).collect()
        };
        let text = format!(
            "base: &b {{{}}}\nm:\n  <<: *b\n  {}\n",
            keys(0..40_000, "merged").join(", "),
            keys(20_000..40_000, "own").join("\n  ")
        );
        let root = parse(&text).unwrap();
        let merged = map(map(&root)[1].1);
        assert_eq!(merged.len(), 40_000);
        let own = merged
            .iter()
            .filter(|(_, v)| v.value == Value::Str("own".to_owned()))
            .count();
        assert_eq!(own, 20_000);
    }

    #[test]
    fn deep_nesting_and_second_documents_are_refused() {
        let mut deep = String::new();
        for depth in 0..60 {
            deep.push_str(&"  ".repeat(depth));
            deep.push_str("a:\n");
        }
        let error = refused(&deep);
        assert!(
            error.message.contains("deeper than 48"),
            "{}",
            error.message
        );
        assert!(
            refused(&"[".repeat(100_000))
                .message
                .contains("deeper than 48")
        );
        let second = refused("a: 1\n---\nb: 2\n");
        assert!(second.message.contains("one YAML document"));
        assert!(second.help.contains("a file of its own"), "{}", second.help);
        assert_eq!((second.span.line, second.span.col), (2, 1));
    }

    #[test]
    fn a_tab_error_points_at_the_tab() {
        for (text, line, col) in [
            ("a:\n\tb: 1\n", 2, 1),
            ("a:\n  b:\n  \t\tc: 1\n", 3, 3),
            ("steps:\n  - id: x\n    \tmanual: y\n", 3, 5),
            ("a:\n\t  b: 1\n", 2, 1),
        ] {
            let error = refused(text);
            assert!(
                error.message.contains("a tab"),
                "{text:?}: {}",
                error.message
            );
            assert_eq!((error.span.line, error.span.col), (line, col), "{text:?}");
            assert_eq!(&text[error.span.offset..][..1], "\t", "{text:?}");
            assert_eq!(error.help, "replace the tab with spaces");
        }
    }

    #[test]
    fn parser_errors_keep_the_parser_message_and_position() {
        let error = refused("steps:\n  - id: check\n     manual: x\n");
        assert_eq!((error.span.line, error.span.col), (3, 12));
        assert!(
            error.message.contains("mapping values"),
            "{}",
            error.message
        );
    }
}
