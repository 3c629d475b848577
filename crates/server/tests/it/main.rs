//! The integration suite: one binary, files mirroring the routes. Tests that touch storage
//! run twice, on SQLite and on PostgreSQL (`PULSEKEY_TEST_DATABASE_URL`, which
//! `scripts/test` sets; without it the PostgreSQL half fails rather than skips).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod util;

mod accounts;
mod authz;
mod browser;
mod cli;
mod crash;
mod deploy;
mod fleet;
mod health;
mod heartbeat;
mod licenses;
mod limits;
mod nodes;
mod observability;
mod openapi;
mod operations;
mod secrets_in_logs;
mod servers;
mod shutdown;
mod storage;
mod two_factor;
mod webhooks;
