//! The proxy side of pulsekey: reading `config.json`, checking that a heartbeat verdict
//! really comes from the server, and deciding what the proxy must do about it.
//!
//! The decision logic is pure (no I/O, no clock of its own) so that every rule is tested
//! directly; the HTTP client and the supervisor binary build on it.

pub mod client;
pub mod config;
pub mod guard;
pub mod signature;
pub mod state;
pub mod verdict;

pub use client::{Agent, Decision};
pub use config::{AgentConfig, ConfigError};
pub use signature::{SignatureError, verify_refusal, verify_response, verify_signature};
pub use state::{SignedAnswer, StateError, StateFile};
pub use verdict::{
    Action, Backoff, LastAnswer, Outcome, Policy, StopReason, Supervisor, WaitReason,
};
