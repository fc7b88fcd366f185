//! Decoding `for_each`: a template or a written-out list (`item` is each
//! element), or a map of such lists whose product the step runs over
//! (`item.<name>` is one element of each, as a GitHub Actions matrix).

use super::Decoder;
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{Axis, ForEach};
use crate::document::node::{Node, Value};

impl Decoder<'_> {
    pub(super) fn for_each(&mut self, node: &Node) -> Option<ForEach> {
        match &node.value {
            Value::Map(entries) => {
                if entries.is_empty() {
                    self.report(
                        Diagnostic::new(Code::ForEachShape, node.span, "`for_each: {}` names no list, so it gives no items")
                            .help("name each list: `for_each: {node: \"{{ inputs.nodes }}\", component: [api, worker]}`"),
                    );
                    return None;
                }
                let mut axes: Vec<(crate::document::model::Spanned<String>, Axis)> = Vec::new();
                for (key, value) in entries {
                    let Some(name) = self.text(key, "a name in `for_each`") else {
                        continue;
                    };
                    self.check_id(&name, "`for_each` name");
                    if let Some((first, _)) = axes.iter().find(|(n, _)| n.value == name.value) {
                        let line = first.span.line;
                        self.report(
                            Diagnostic::new(
                                Code::DuplicateKey,
                                key.span,
                                format!(
                                    "`{}` is given twice in `for_each` (first on line {line})",
                                    name.value
                                ),
                            )
                            .help("keep one of them; YAML would silently use the last"),
                        );
                        continue;
                    }
                    let what = format!("`for_each.{}`", name.value);
                    if let Some(axis) = self.axis(value, &what) {
                        axes.push((name, axis));
                    }
                }
                if axes.len() < entries.len() {
                    // A list that could not be read: the product is not what was meant.
                    return None;
                }
                Some(ForEach::Product {
                    span: node.span,
                    axes,
                })
            }
            _ => self.axis(node, "`for_each`").map(ForEach::List),
        }
    }

    fn axis(&mut self, node: &Node, what: &str) -> Option<Axis> {
        match &node.value {
            Value::Seq(items) if items.is_empty() => {
                self.report(
                    Diagnostic::new(
                        Code::ForEachShape,
                        node.span,
                        format!("{what} is an empty list, so the step would never run"),
                    )
                    .help("list the items, or remove the step"),
                );
                None
            }
            Value::Seq(_) => Some(Axis::Items(node.clone())),
            Value::Str(_) => {
                let template = self.template(node, what)?;
                if template.is_literal() {
                    // Text with no `{{ }}` is one string at run time, never a list.
                    self.report(
                        Diagnostic::new(
                            Code::ForEachShape,
                            node.span,
                            format!("{what} is the text `{}`, not a list or a template that gives one", template.source),
                        )
                        .help(format!("write {what} as `[{0}]` for one item, or as a template: `\"{{{{ inputs.names | split(',') }}}}\"`", template.source)),
                    );
                    return None;
                }
                Some(Axis::Template(template))
            }
            _ => {
                self.report(
                    Diagnostic::new(
                        Code::ForEachShape,
                        node.span,
                        format!(
                            "{what} must be a list or a template that gives one, found {}",
                            node.value.kind()
                        ),
                    )
                    .help(format!(
                        "write {what} as `[a, b]` or `\"{{{{ inputs.names }}}}\"`"
                    )),
                );
                None
            }
        }
    }
}
