//! The pulsekey server: the command line (`cli.rs`), configuration (`config/`), the HTTP
//! API with the heartbeat endpoint and the embedded web app (`http/`), and the operator
//! commands on the data (`ops/`), and webhook delivery (`webhooks.rs`). The rules live in `pulsekey_core` as plain functions;
//! handlers only parse, authorize, call them and render the result.

pub mod cli;
pub mod config;
pub mod http;
pub mod ops;
pub mod webhooks;

pub use config::Config;
pub use http::error::ApiError;

/// The server's version, as `/healthz` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
