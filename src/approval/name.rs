//! The name an approval is bound to ([`super::Binding::step`]): the step's id,
//! qualified through the steps that run it as a child runbook — and, in a
//! `for_each` fan-out, through the item by its value: `revoke`, `kid.revoke`,
//! `kid["a"].revoke`, `outer[2].kid["a"].revoke`. Each item's child run asks
//! for an approval of its own, so one item's approval never opens another's.
//!
//! The item is written as compact JSON, as fan-out messages show it (`item
//! "a"`); [`parse`] reads a name back, taking an item that is not JSON as a
//! string (`kid[a].revoke` names `kid["a"].revoke`), and [`join`] writes
//! the one spelling the stores hold. An item that holds a secret is named by
//! its fingerprint instead (`kid["sha256:…"].revoke`, see the engine's
//! `item_named`): no store, hint or journal ever holds the secret.

use serde_json::Value as Json;

/// One step of a qualified name: a step's id, and the item of its fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub step: String,
    pub item: Option<Json>,
}

/// What `prefix` (the qualified name of the step that runs a child, `kid`)
/// puts before the child's step ids: `kid.`, or `kid["a"].` for an item.
pub fn child_scope(parent_step: &str, item: Option<&Json>) -> String {
    match item {
        Some(item) => format!("{parent_step}[{item}]."),
        None => format!("{parent_step}."),
    }
}

/// The segments of `name`; `Err` says what is wrong with it.
pub fn parse(name: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = name;
    loop {
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        let step = &rest[..end];
        if step.is_empty() {
            return Err(format!(
                "`{name}` has an empty step id: name it as `STEP`, `KID.STEP` or `KID[ITEM].STEP`"
            ));
        }
        rest = &rest[end..];
        let mut item = None;
        if let Some(inside) = rest.strip_prefix('[') {
            let (value, after) = item_value(inside).ok_or_else(|| {
                format!("`{name}` has a `[` with no `]`: name an item as `KID[ITEM].STEP`")
            })?;
            item = Some(value);
            rest = after;
        }
        segments.push(Segment {
            step: step.to_owned(),
            item,
        });
        if rest.is_empty() {
            return Ok(segments);
        }
        rest = rest.strip_prefix('.').ok_or_else(|| {
            format!("`{name}` goes on after an item without a `.`: `KID[ITEM].STEP`")
        })?;
        if rest.is_empty() {
            return Err(format!("`{name}` ends with a `.`: name the step after it"));
        }
    }
}

/// The item at the start of `text` (after its `[`) and what follows its `]`:
/// a JSON value, else the text up to the first `]` as a string.
fn item_value(text: &str) -> Option<(Json, &str)> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<Json>();
    if let Some(Ok(value)) = values.next() {
        let after = text[values.byte_offset()..].trim_start();
        if let Some(after) = after.strip_prefix(']') {
            return Some((value, after));
        }
    }
    let end = text.find(']')?;
    Some((Json::String(text[..end].to_owned()), &text[end + 1..]))
}

/// The name `segments` spell, as the stores hold it.
pub fn join(segments: &[Segment]) -> String {
    let mut name = String::new();
    for (at, segment) in segments.iter().enumerate() {
        if at + 1 == segments.len() {
            name.push_str(&segment.step);
        } else {
            name.push_str(&child_scope(&segment.step, segment.item.as_ref()));
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canonical(name: &str) -> Result<String, String> {
        parse(name).map(|segments| join(&segments))
    }

    #[test]
    fn names_read_back_to_the_one_spelling() {
        for name in [
            "revoke",
            "kid.revoke",
            r#"kid["a"].revoke"#,
            r#"outer[2].kid["a.b]"].revoke"#,
            r#"kid[{"host":"x"}].revoke"#,
        ] {
            assert_eq!(canonical(name).as_deref(), Ok(name));
        }
        assert_eq!(
            canonical("kid[a].revoke").as_deref(),
            Ok(r#"kid["a"].revoke"#)
        );
        assert_eq!(
            parse(r#"kid["a.b]"].revoke"#).unwrap()[0].item,
            Some(json!("a.b]"))
        );
    }

    #[test]
    fn a_malformed_name_says_what_is_wrong() {
        for (name, says) in [
            ("kid[a.revoke", "no `]`"),
            ("kid[a]revoke", "without a `.`"),
            ("kid.", "ends with a `.`"),
            (".revoke", "empty step id"),
        ] {
            let error = parse(name).expect_err(name);
            assert!(error.contains(says), "{name}: {error}");
        }
    }
}
