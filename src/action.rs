//! The actions a step can take, one module per kind. Each takes values the engine
//! has already rendered from templates and returns what happened; none of them
//! knows about gates, journals or the operator's screen.

pub mod command;
pub mod connections;
pub mod expect;
pub mod fan_out;
pub mod generate;
pub mod http;
pub mod setting;
pub mod tls;
pub mod wait;
