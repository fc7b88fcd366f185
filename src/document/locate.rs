//! Narrowing a diagnostic from a whole template node to the exact text inside it:
//! the reference `steps.old_tokn.value` or the spot of a syntax error.

use super::model::Template;
use super::node::Span;

/// The span of `range` (byte offsets into the template's text) in the file, when
/// the template's text appears verbatim in the node's source (plain and block
/// scalars); the whole node otherwise (quoted scalars with escapes).
pub fn within(file: &str, node: Span, text: &str, range: std::ops::Range<usize>) -> Span {
    let raw = raw_text(file, node);
    let Some(fault) = text.get(range.clone()) else {
        return node;
    };
    if let Some(start) = raw.find(text) {
        return sub_span(file, node, start + range.start, fault.len());
    }
    // A block scalar loses its indentation, so look for the faulty text alone.
    match raw.find(fault) {
        Some(at) if !fault.is_empty() => sub_span(file, node, at, fault.len()),
        _ => node,
    }
}

/// The span of the first occurrence of `needle` — or of its longest leading
/// dotted prefix that occurs — inside the template node.
pub fn needle(file: &str, template: &Template, needle: &str) -> Span {
    let raw = raw_text(file, template.span);
    let mut candidate = needle;
    loop {
        if let Some(at) = raw.find(candidate) {
            return sub_span(file, template.span, at, candidate.len());
        }
        match candidate.rfind('.') {
            Some(cut) => candidate = &candidate[..cut],
            None => return template.span,
        }
    }
}

fn raw_text(file: &str, node: Span) -> &str {
    let end = node.offset.saturating_add(node.len).min(file.len());
    file.get(node.offset..end).unwrap_or("")
}

/// A span `len` bytes long starting `at` bytes into the node's source.
fn sub_span(file: &str, node: Span, at: usize, len: usize) -> Span {
    let offset = node.offset + at;
    let Some(before) = file.get(node.offset..offset) else {
        return node;
    };
    let newlines = before.matches('\n').count();
    let col = match before.rfind('\n') {
        Some(last) => before[last + 1..].chars().count() + 1,
        None => node.col as usize + before.chars().count(),
    };
    Span {
        line: node.line + u32::try_from(newlines).unwrap_or(0),
        col: u32::try_from(col).unwrap_or(u32::MAX),
        offset,
        len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_inside_plain_and_block_scalars() {
        let file = "url: x{{ inputs.api }}\nmanual: |\n  hello\n  {{ steps.a.value }}\n";
        let plain = Template {
            source: "x{{ inputs.api }}".into(),
            span: Span {
                line: 1,
                col: 6,
                offset: 5,
                len: 17,
            },
        };
        let span = needle(file, &plain, "inputs.api");
        assert_eq!((span.line, span.col, span.len), (1, 10, 10));
        let block = Template {
            source: "hello\n{{ steps.a.value }}\n".into(),
            span: Span {
                line: 3,
                col: 3,
                offset: 33,
                len: 30,
            },
        };
        let span = needle(file, &block, "steps.a.value");
        assert_eq!((span.line, span.col), (4, 6));
    }
}
