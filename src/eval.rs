//! Evaluation: what both the planner and the engine need to read a runbook with
//! values — loading a checked runbook, the answers given up front, the inputs,
//! the values templates read, and each step prepared from them (every template
//! of the step rendered once, by the same code for `plan`, `--probe` and `run`).
//! It sits below `plan` and `engine`; neither reaches into the other.

pub mod answers;
pub mod inputs;
pub mod items;
pub mod load;
pub mod rendered;
pub mod values;

pub use load::{LoadError, load};
