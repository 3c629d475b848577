//! Everything that speaks HTTP: the actix app and its limits, authentication, the routes
//! and their handlers, the one error renderer, the OpenAPI document, metrics and the web
//! app's files. Nothing here is imported by `config/` or `ops/`.

pub mod app;
pub mod auth;
pub mod connections;
pub mod error;
pub(crate) mod handlers;
pub(crate) mod known_routes;
pub mod metrics;
pub(crate) mod middleware;
pub mod net;
pub mod openapi;
pub(crate) mod spa;
pub mod state;
pub(crate) mod wire;
