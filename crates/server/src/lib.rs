//! The pulsekey server: configuration, the HTTP API, the heartbeat endpoint and the embedded
//! web app. The rules live in `pulsekey_core` as plain functions; handlers only parse,
//! authorize, call them and render the result.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod connections;
pub mod error;
mod handlers;
mod known_routes;
pub mod metrics;
mod middleware;
mod migrate;
pub mod net;
pub mod openapi;
pub mod operations;
pub mod secrets;
mod seed;
mod spa;
pub mod state;
mod storage;

pub use config::Config;
pub use error::ApiError;

/// The server's version, as `/healthz` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
