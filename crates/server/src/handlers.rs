//! HTTP handlers, one module per resource. Each parses, authorizes, calls the domain and
//! maps the result; nothing else.

pub mod health;
