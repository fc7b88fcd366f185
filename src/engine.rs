//! The interpreter: runs a checked runbook step by step, enforcing gates, keeping
//! a durable journal, and resuming after an interruption.

pub mod journal;
pub mod lock;
pub mod outcome;
pub mod state_dir;
