//! Where a dotted JSON path (`result.0.id`) leads in a document. A `*` segment
//! stands for every element of a list (or every value of an object), so
//! `certificates.*.residualTime` leads to one place per certificate, each named
//! by its own path (`certificates.2.residualTime`) for the message that says
//! which one failed.
//!
//! A `*` over nothing leads nowhere: "every certificate has a year left" must not
//! pass because kubeadm listed no certificate at all, so an empty list (or a
//! value that is no list) under a `*` is a place with nothing in it, which fails
//! every check — `exists: false` too.

use serde_json::Value;

use super::{Document, kind, render};

/// The segment that stands for every element.
pub const EVERY: &str = "*";

/// Where a path leads, or why it leads nowhere.
pub enum Lookup<'v> {
    Found(&'v Value),
    /// Why not, worded for the message ("`result` has no key `status`").
    Missing(String),
    /// A `*` found no element there: not even `exists: false` holds of
    /// nothing, so that "no certificate is expired" never passes on an empty
    /// list.
    NoElements(String),
}

/// One place a path leads to: its own path (with indexes for every `*`) and
/// what is there.
pub struct Place<'v> {
    pub path: String,
    pub lookup: Lookup<'v>,
}

/// Whether `path` has a `*` segment, so that it stands for many places.
pub fn has_every(path: &str) -> bool {
    path.split('.').any(|segment| segment == EVERY)
}

/// Every place `path` leads to in `document`, in document order: one for a
/// path without `*` (the empty path is the whole document).
pub fn places<'v>(root: Document, document: &'v Value, path: &str) -> Vec<Place<'v>> {
    let mut walking = vec![Place {
        path: String::new(),
        lookup: Lookup::Found(document),
    }];
    if path.is_empty() {
        return walking;
    }
    for segment in path.split('.') {
        let mut next = Vec::with_capacity(walking.len());
        for place in walking {
            let Lookup::Found(value) = place.lookup else {
                // Where the walk stopped, it stays stopped.
                next.push(place);
                continue;
            };
            let walked = place.path;
            let here = if walked.is_empty() {
                format!("the {}", root.name())
            } else {
                format!("`{walked}`")
            };
            let joined = |key: &str| {
                if walked.is_empty() {
                    key.to_owned()
                } else {
                    format!("{walked}.{key}")
                }
            };
            if segment == EVERY {
                let before = next.len();
                match value {
                    Value::Array(list) => next.extend(
                        list.iter()
                            .enumerate()
                            .map(|(index, element)| found(joined(&index.to_string()), element)),
                    ),
                    Value::Object(map) => {
                        next.extend(map.iter().map(|(key, v)| found(joined(key), v)));
                    }
                    scalar => next.push(no_elements(
                        joined(EVERY),
                        format!(
                            "{here} is {} ({}), which has no elements",
                            render(scalar),
                            kind(scalar)
                        ),
                    )),
                }
                if next.len() == before {
                    next.push(no_elements(
                        joined(EVERY),
                        format!("{here} is empty: `*` needs at least one element"),
                    ));
                }
                continue;
            }
            let step = match value {
                Value::Object(map) => map
                    .get(segment)
                    .ok_or_else(|| format!("{here} has no key `{segment}`")),
                Value::Array(list) => match segment.parse::<usize>() {
                    Ok(index) => list.get(index).ok_or_else(|| match list.len() {
                        0 => format!("{here} has no element {index}: it is empty"),
                        1 => format!("{here} has no element {index}: it has 1"),
                        n => format!("{here} has no element {index}: it has {n}"),
                    }),
                    Err(_) => Err(format!(
                        "{here} is a list, and `{segment}` is not an index (0, 1, …, or * for every element)"
                    )),
                },
                scalar => Err(format!(
                    "{here} is {}, which has no `{segment}`",
                    render(scalar)
                )),
            };
            next.push(match step {
                Ok(value) => found(joined(segment), value),
                Err(reason) => missing(joined(segment), reason),
            });
        }
        walking = next;
    }
    walking
}

fn found(path: String, value: &Value) -> Place<'_> {
    Place {
        path,
        lookup: Lookup::Found(value),
    }
}

fn no_elements<'v>(path: String, reason: String) -> Place<'v> {
    Place {
        path,
        lookup: Lookup::NoElements(reason),
    }
}

fn missing<'v>(path: String, reason: String) -> Place<'v> {
    Place {
        path,
        lookup: Lookup::Missing(reason),
    }
}
