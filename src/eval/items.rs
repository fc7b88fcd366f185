//! The items of a `for_each`, computed once for `run` and `plan --probe`: a
//! list, or the product of several (`{node: …, component: …}` gives every
//! `{node, component}` pair, the first list varying slowest). And how messages
//! name an item: by its value, never by its place in the list alone.

use serde_json::{Map, Value as Json};

use crate::document::model::{Axis, ForEach};
use crate::eval::values::{RenderError, Values};

/// A product larger than this is refused: no procedure means a million runs,
/// and a typo (a list of characters instead of a list of hosts) could.
pub const MAX_ITEMS: usize = 10_000;

/// Why `for_each` gave no items to run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ItemsError {
    #[error("the `{place}` template failed: {error}")]
    Render { place: String, error: RenderError },
    #[error("`{place}` must give a list, it gave {kind}")]
    NotAList { place: String, kind: &'static str },
    #[error("`for_each` gives {count} items, more than the {MAX_ITEMS} a step may run")]
    TooMany { count: usize },
}

/// The items `for_each` gives now.
pub fn items(values: &Values, for_each: &ForEach) -> Result<Vec<Json>, ItemsError> {
    match for_each {
        ForEach::List(axis) => {
            let items = list(values, axis, "for_each")?;
            if items.len() > MAX_ITEMS {
                return Err(ItemsError::TooMany { count: items.len() });
            }
            Ok(items)
        }
        ForEach::Product { axes, .. } => {
            let mut lists = Vec::with_capacity(axes.len());
            let mut count: usize = 1;
            for (name, axis) in axes {
                let items = list(values, axis, &format!("for_each.{}", name.value))?;
                count = count.saturating_mul(items.len());
                lists.push((name.value.as_str(), items));
            }
            if count > MAX_ITEMS {
                return Err(ItemsError::TooMany { count });
            }
            Ok(product(&lists))
        }
    }
}

/// Every combination of `lists`, each as `{name: element, …}`.
fn product(lists: &[(&str, Vec<Json>)]) -> Vec<Json> {
    let mut combinations = vec![Map::new()];
    for (name, items) in lists {
        combinations = combinations
            .iter()
            .flat_map(|partial| {
                items.iter().map(move |item| {
                    let mut next = partial.clone();
                    next.insert((*name).to_owned(), item.clone());
                    next
                })
            })
            .collect();
    }
    combinations.into_iter().map(Json::Object).collect()
}

fn list(values: &Values, axis: &Axis, place: &str) -> Result<Vec<Json>, ItemsError> {
    let value = match axis {
        Axis::Template(template) => values.evaluate(&template.source, None),
        Axis::Items(node) => values.render_node(node, None).map(|(value, _)| value),
    }
    .map_err(|error| ItemsError::Render {
        place: place.to_owned(),
        error,
    })?;
    match value {
        Json::Array(items) => Ok(items),
        other => Err(ItemsError::NotAList {
            place: place.to_owned(),
            kind: kind(&other),
        }),
    }
}

/// The first item `items` holds twice, if any. A child run of a fan-out is
/// known by its item's value (its state directory, and resume finding it
/// again), so a repeated item would be taken for the run of the first.
pub fn repeated(items: &[Json]) -> Option<&Json> {
    let mut seen = std::collections::BTreeSet::new();
    items.iter().find(|item| !seen.insert(item.to_string()))
}

/// An item of a fan-out as messages name it: by its value (`item "b.test"`,
/// `item {"node":"n1","component":"api"}`), cut at 60 characters.
pub fn label(item: &Json) -> String {
    const SHOWN: usize = 60;
    let text = item.to_string();
    match text.char_indices().nth(SHOWN) {
        Some((end, _)) => format!("item {}…", &text[..end]),
        None => format!("item {text}"),
    }
}

/// What kind of JSON value this is, for messages.
pub fn kind(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::model::Template;
    use crate::document::node::Span;
    use serde_json::json;

    fn template(source: &str) -> Axis {
        Axis::Template(Template {
            source: source.to_owned(),
            span: Span::default(),
        })
    }

    fn named(name: &str, axis: Axis) -> (crate::document::model::Spanned<String>, Axis) {
        (
            crate::document::model::Spanned::new(name.to_owned(), Span::default()),
            axis,
        )
    }

    #[test]
    fn a_product_gives_every_combination_the_first_list_slowest() {
        let values = Values::new(json!({}));
        let for_each = ForEach::Product {
            span: Span::default(),
            axes: vec![
                named("node", template("{{ ['n1', 'n2'] }}")),
                named("component", template("{{ ['api', 'worker', 'cron'] }}")),
            ],
        };
        let items = items(&values, &for_each).unwrap();
        assert_eq!(items.len(), 6);
        assert_eq!(items[0], json!({"node": "n1", "component": "api"}));
        assert_eq!(items[2], json!({"node": "n1", "component": "cron"}));
        assert_eq!(items[3], json!({"node": "n2", "component": "api"}));
    }

    #[test]
    fn a_list_that_is_not_one_is_named_and_a_huge_product_is_refused() {
        let values = Values::new(json!({}));
        let for_each = ForEach::Product {
            span: Span::default(),
            axes: vec![named("node", template("{{ 'n1' }}"))],
        };
        let error = items(&values, &for_each).unwrap_err().to_string();
        assert_eq!(error, "`for_each.node` must give a list, it gave a string");
        let big = ForEach::Product {
            span: Span::default(),
            axes: vec![
                named("a", template("{{ range(200) | list }}")),
                named("b", template("{{ range(200) | list }}")),
            ],
        };
        assert!(matches!(
            items(&values, &big),
            Err(ItemsError::TooMany { count: 40_000 })
        ));
    }

    #[test]
    fn items_are_named_by_value() {
        assert_eq!(label(&json!("b.test")), "item \"b.test\"");
        let long = json!("x".repeat(100));
        assert!(label(&long).ends_with('…'));
    }
}
