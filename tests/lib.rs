//! Integration tests: one binary driving the built `runbook` executable, the way
//! users and CI run it.

mod loopback;
mod pg_cluster;
mod recording;
mod redis_server;
mod support;
mod tty;

mod agreement;
mod approval;
mod attack_tls;
mod ci;
mod cli;
mod conventions;
mod corpus;
mod demo;
mod engine;
mod formats;
mod hostile;
mod leak;
mod mutation;
mod operator_pty;
mod overview;
mod plan;
mod postgres;
mod postgres_tls;
mod procedures;
mod pty;
mod runbooks;
mod sandbox;
mod tls;
mod yaml_oracle;
