//! `runbook`: declarative runbooks and checklists with gates — a step that changes
//! or destroys something cannot run until the evidence it depends on has passed.
//!
//! The pipeline: `document` (YAML → checked model with diagnostics) → `report`
//! (renderers). `cli` is the edge that reads arguments and prints.

pub mod action;
pub mod approval;
pub mod cli;
pub mod demo;
pub mod document;
pub mod engine;
pub mod error;
pub mod eval;
pub mod graph;
pub mod list;
pub mod manual;
pub mod operator;
pub mod output;
pub mod pem;
pub mod plan;
pub mod postgres;
pub mod report;
pub mod sandbox;
pub mod schema;
pub mod secret;
pub mod status;
pub mod template;
#[cfg(test)]
mod test_support;
pub mod validate;
pub mod verify;
