//! Child runbooks (`runbook: PATH` steps) seen from their parent: whether the chain
//! of children loops back, and the strongest effect a child has.

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
