//! Decoding what guards and explains a step: `needs`, `effect`, `confirm`,
//! `retry` and `explain`.

use super::Decoder;
use crate::document::diagnostic::{Code, Diagnostic, did_you_mean};
use crate::document::model::{Confirm, Effect, Need, Retry, Spanned, Template};
use crate::document::node::{Node, Value};

const NEED_KEYS: &[&str] = &["step", "within"];
const CONFIRM_KEYS: &[&str] = &["message", "phrase"];
const RETRY_KEYS: &[&str] = &["attempts", "delay", "backoff"];

impl Decoder<'_> {
    pub(super) fn needs(&mut self, node: &Node) -> Vec<Need> {
        let items: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            Value::Str(_) => vec![node],
            _ => {
                self.wrong_type(node, "`needs`", "a list of step ids");
                return Vec::new();
            }
        };
        let mut needs = Vec::new();
        for item in items {
            if let Value::Map(_) = item.value {
                let Some(fields) = self.fields(item, "a `needs` entry", NEED_KEYS) else {
                    continue;
                };
                let Some(step) = fields.get("step") else {
                    self.missing(
                        &fields,
                        "step",
                        "this `needs` entry",
                        "name the step: `{step: verify, within: 30m}`",
                    );
                    continue;
                };
                let within = fields
                    .get("within")
                    .and_then(|n| self.duration(n, "`within`"));
                if let Some(step) = self.text(step, "`step`") {
                    needs.push(Need { step, within });
                }
            } else if let Some(step) = self.text(item, "a `needs` entry") {
                needs.push(Need { step, within: None });
            }
        }
        needs
    }

    pub(super) fn effect(&mut self, node: &Node) -> Option<Spanned<Effect>> {
        let text = self.text(node, "`effect`")?;
        if let Some(effect) = Effect::parse(&text.value) {
            return Some(Spanned::new(effect, node.span));
        }
        let help = match did_you_mean(&text.value, Effect::NAMES) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("an effect is one of: {}", Effect::NAMES.join(", ")),
        };
        self.report(
            Diagnostic::new(
                Code::InvalidValue,
                node.span,
                format!("`{}` is not an effect", text.value),
            )
            .help(help),
        );
        None
    }

    pub(super) fn confirm(&mut self, node: &Node) -> Option<Confirm> {
        if let Value::Bool(yes) = node.value {
            return yes.then_some(Confirm {
                span: node.span,
                message: None,
                phrase: None,
            });
        }
        let fields = self.fields(node, "`confirm`", CONFIRM_KEYS)?;
        Some(Confirm {
            span: fields.span,
            message: fields
                .get("message")
                .and_then(|n| self.template(n, "`message`")),
            phrase: fields
                .get("phrase")
                .and_then(|n| self.template(n, "`phrase`")),
        })
    }

    pub(super) fn retry(&mut self, node: &Node) -> Option<Retry> {
        let fields = self.fields(node, "`retry`", RETRY_KEYS)?;
        let Some(attempts) = fields.get("attempts") else {
            self.missing(
                &fields,
                "attempts",
                "`retry`",
                "say how many `attempts` in all, e.g. `attempts: 3`",
            );
            return None;
        };
        let attempts = self.positive(attempts, "`attempts`");
        let delay = fields.get("delay").and_then(|n| {
            let delay = self.duration(n, "`delay`")?;
            if delay.value.0 > Retry::MAX_DELAY {
                self.report(
                    Diagnostic::new(
                        Code::InvalidValue,
                        n.span,
                        format!(
                            "`delay` {} is longer than {}, the longest wait between attempts",
                            humantime::format_duration(delay.value.0),
                            humantime::format_duration(Retry::MAX_DELAY)
                        ),
                    )
                    .help("a retry is for a flake: wait seconds or minutes; to wait for a change to land, use `wait_for` with a `timeout`"),
                );
                return None;
            }
            Some(delay)
        });
        let backoff = fields.get("backoff").and_then(|n| {
            let factor = self.number(n, "`backoff`")?;
            let message = if factor.value < 1.0 || factor.value.is_nan() {
                format!("`backoff` {} would shrink the delay", factor.value)
            } else if factor.value > Retry::MAX_BACKOFF {
                format!(
                    "`backoff` above {} would grow the delay past any use",
                    Retry::MAX_BACKOFF
                )
            } else {
                return Some(factor);
            };
            self.report(
                Diagnostic::new(Code::InvalidValue, n.span, message)
                .help(format!(
                    "`backoff` multiplies each delay: use 1 for a fixed delay, 2 to double it, at most {}; a wait never exceeds {}",
                    Retry::MAX_BACKOFF,
                    humantime::format_duration(Retry::MAX_DELAY)
                )),
            );
            None
        });
        Some(Retry {
            span: fields.span,
            attempts: attempts?,
            delay,
            backoff,
        })
    }

    pub(super) fn explain(&mut self, node: &Node) -> Vec<(Spanned<i64>, Template)> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(
                node,
                "`explain`",
                "a map of status or exit codes to messages",
            );
            return Vec::new();
        };
        let mut out: Vec<(Spanned<i64>, Template)> = Vec::new();
        for (key, value) in entries {
            let code = match &key.value {
                Value::Int(code) => Some(*code),
                Value::Str(text) => text.trim().parse().ok(),
                _ => None,
            };
            let Some(code) = code else {
                self.report(
                    Diagnostic::new(
                        Code::WrongType,
                        key.span,
                        "keys of `explain` must be status or exit codes",
                    )
                    .help("write e.g. `401: The token is invalid.`"),
                );
                continue;
            };
            if out.iter().any(|(seen, _)| seen.value == code) {
                self.report(
                    Diagnostic::new(
                        Code::DuplicateKey,
                        key.span,
                        format!("`{code}` is explained twice"),
                    )
                    .help("keep one message"),
                );
                continue;
            }
            if let Some(message) = self.template(value, "an `explain` message") {
                out.push((Spanned::new(code, key.span), message));
            }
        }
        out
    }
}
