//! Decoding `approve: {count, from, message}`, the four-eyes gate, with the
//! checks of its shape: at least one approver, each named once, and a count
//! between 1 and the number of approvers.

use super::Decoder;
use crate::document::diagnostic::{Code, Diagnostic};
use crate::document::model::{Approve, Spanned};
use crate::document::node::{Node, Value};

const APPROVE_KEYS: &[&str] = &["count", "from", "message"];

impl Decoder<'_> {
    pub(super) fn approve(&mut self, node: &Node) -> Option<Approve> {
        let fields = self.fields(node, "`approve`", APPROVE_KEYS)?;
        let message = fields
            .get("message")
            .and_then(|n| self.template(n, "`approve.message`"));
        let from = match fields.get("from") {
            Some(n) => self.approvers(n),
            None => {
                self.report(
                    Diagnostic::new(Code::ApproverList, fields.span, "`approve` has no `from`: nobody could approve")
                        .help("name who may approve: `from: [alice, bob]` (user names on this host, or database roles with `--state postgres://…`)"),
                );
                return None;
            }
        }?;
        let count = match fields.get("count") {
            Some(n) => self.approval_count(n, from.len())?,
            None => Spanned::new(1, fields.span),
        };
        Some(Approve {
            span: fields.span,
            count,
            from,
            message,
        })
    }

    fn approvers(&mut self, node: &Node) -> Option<Vec<Spanned<String>>> {
        let Value::Seq(items) = &node.value else {
            self.wrong_type(node, "`approve.from`", "a list of names");
            return None;
        };
        if items.is_empty() {
            self.report(
                Diagnostic::new(
                    Code::ApproverList,
                    node.span,
                    "`approve.from` is empty: nobody could approve",
                )
                .help("name who may approve: `from: [alice, bob]`"),
            );
            return None;
        }
        let mut names: Vec<Spanned<String>> = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(name) = self.text(item, "an approver") else {
                ok = false;
                continue;
            };
            let problem = if name.value.trim().is_empty() {
                Some("an approver's name is blank".to_owned())
            } else if name
                .value
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ',')
            {
                Some(format!(
                    "`{}` is not a user name: it holds a blank, a comma or a control character",
                    name.value.escape_debug()
                ))
            } else {
                names
                    .iter()
                    .find(|seen| seen.value == name.value)
                    .map(|first| {
                        format!(
                            "`{}` is named twice in `approve.from` (first on line {})",
                            name.value, first.span.line
                        )
                    })
            };
            if let Some(problem) = problem {
                self.report(
                    Diagnostic::new(Code::ApproverList, item.span, problem)
                        .help("list each approver once, by the user name they log in with (or their database role)"),
                );
                ok = false;
                continue;
            }
            names.push(name);
        }
        ok.then_some(names)
    }

    fn approval_count(&mut self, node: &Node, approvers: usize) -> Option<Spanned<u32>> {
        let count = match &node.value {
            Value::Int(n) => Some(*n),
            Value::Float(_) => None,
            _ => {
                self.wrong_type(node, "`approve.count`", "a whole number");
                return None;
            }
        };
        match count.and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 && n as usize <= approvers => Some(Spanned::new(n, node.span)),
            _ => {
                let text = self
                    .source
                    .get(node.span.offset..node.span.offset + node.span.len)
                    .unwrap_or("this");
                let (message, help) = if count.is_some_and(|n| n > 0) {
                    (
                        format!(
                            "`approve.count` is {text}, but `from` names {approvers}: the gate could never open"
                        ),
                        format!("ask for at most {approvers}, or name more approvers"),
                    )
                } else {
                    (
                        format!("`approve.count` must be a whole number of at least 1, not {text}"),
                        "ask for 1 approval or more (leave `count` out for 1)".to_owned(),
                    )
                };
                self.report(Diagnostic::new(Code::ApprovalCount, node.span, message).help(help));
                None
            }
        }
    }
}
