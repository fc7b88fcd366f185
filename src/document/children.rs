//! Child runbooks (`runbook: PATH` steps) seen from their parent: whether the chain
//! of children loops back, the strongest effect a child has, and what it takes
//! and gives (its inputs and `outputs:`).

use std::path::{Path, PathBuf};

use super::model::{Action, Effect, Runbook};
use super::{decode, node};

/// Reads and decodes a child runbook, ignoring its own diagnostics (the child is
/// validated as a file of its own). An error says why it cannot be read at all.
fn load(path: &Path) -> Result<Runbook, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let root = node::parse(&text).map_err(|e| format!("line {}: {}", e.span.line, e.message))?;
    let mut ignored = Vec::new();
    decode::decode(&root, &text, &mut ignored).ok_or_else(|| "it is not a runbook".to_owned())
}

/// What a child runbook takes and gives, as its parent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Each declared input: its name, whether it is secret, whether it has a default.
    pub inputs: Vec<ChildInput>,
    /// The names of its `outputs:`.
    pub outputs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInput {
    pub name: String,
    pub secret: bool,
    pub required: bool,
}

/// The inputs and outputs of the child in `path`, or `None` if it cannot be read.
pub fn interface(path: &Path) -> Option<Interface> {
    let runbook = load(path).ok()?;
    Some(Interface {
        inputs: runbook
            .inputs
            .iter()
            .map(|input| ChildInput {
                name: input.name.value.clone(),
                secret: input.secret.as_ref().is_some_and(|s| s.value),
                required: input.default.is_none(),
            })
            .collect(),
        outputs: runbook
            .outputs
            .iter()
            .map(|(n, _)| n.value.clone())
            .collect(),
    })
}

/// Follows the children of `path`; `chain` holds the canonical paths of the
/// runbooks that lead here. Returns the cycle (as file paths) if one is found.
pub fn find_cycle(path: &Path, chain: &mut Vec<PathBuf>) -> Result<Option<Vec<PathBuf>>, String> {
    let canonical = path.canonicalize().map_err(|e| e.to_string())?;
    if let Some(start) = chain.iter().position(|p| *p == canonical) {
        let mut cycle = chain[start..].to_vec();
        cycle.push(canonical);
        return Ok(Some(cycle));
    }
    // Deep but acyclic chains are legitimate; this bound only stops pathological ones.
    if chain.len() > 32 {
        return Err("child runbooks nest more than 32 levels deep".to_owned());
    }
    let runbook = load(&canonical)?;
    chain.push(canonical.clone());
    let base = canonical
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    for step in runbook.all_steps() {
        if let Action::Runbook(child) = &step.action {
            let target = base.join(&child.value);
            if target.is_file()
                && let Some(cycle) = find_cycle(&target, chain)?
            {
                return Ok(Some(cycle));
            }
        }
    }
    chain.pop();
    Ok(None)
}

/// The strongest effect among the child's steps (and its children's, to a depth
/// that a cycle cannot exceed), or `None` if it cannot be read.
pub fn strongest_effect(path: &Path) -> Option<Effect> {
    strongest(path, 0)
}

fn strongest(path: &Path, depth: usize) -> Option<Effect> {
    if depth > 32 {
        return None;
    }
    let runbook = load(path).ok()?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    runbook
        .steps()
        .filter_map(|step| match &step.action {
            Action::Runbook(child) => strongest(&base.join(&child.value), depth + 1),
            _ => step.effect(),
        })
        .max()
}
