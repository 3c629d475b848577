//! The JSON contract of pulsekey: one definition of every request and response body,
//! shared by the server, the web app and the agent so they cannot drift.
//!
//! Field names are camelCase on the wire. Timestamps are RFC 3339 in UTC.

pub mod audit;
pub mod error;
pub mod fleet;
pub mod health;
pub mod heartbeat;
pub mod license;
pub mod security;
pub mod server;
pub mod settings;
pub mod signature;
pub mod token;
pub mod user;
pub mod webhook;

pub use audit::{AuditEntry, AuditPage, AuditSort};
pub use error::{ErrorBody, ErrorCode};
pub use fleet::{
    ConnectionCounts, FleetHistory, FleetSample, FleetSummary, GraceEnding, LicenseCounts,
    VersionCount,
};
pub use health::HealthResponse;
pub use heartbeat::{HeartbeatRequest, HeartbeatResponse};
pub use license::{
    Connection, InstallConfig, LicenseStatus, LicenseView, RevealResponse, RevokeRequest,
};
pub use security::{
    LoginAnswer, MfaChallenge, MfaLoginRequest, RecoveryCodes, SessionList, SessionView, TotpCode,
    TotpEnrolment,
};
pub use server::{
    CreateServerRequest, MyServer, MyServerList, ServerEvent, ServerEventPage, ServerList,
    ServerListItem, ServerPage, ServerSort, ServerView, UpdateServerRequest,
};
pub use settings::SettingsView;
pub use token::{CreateTokenRequest, CreatedToken, Scope, TokenList, TokenView};
pub use user::{
    ChangePasswordRequest, CreateUserRequest, LoginRequest, LoginResponse, Role, UpdateUserRequest,
    UserList, UserSort, UserView,
};
pub use webhook::{
    CreateWebhookRequest, DeliveryState, UpdateWebhookRequest, WebhookAttempt, WebhookAttemptPage,
    WebhookEventType, WebhookEvents, WebhookList, WebhookPayload, WebhookView, WebhookWithSecret,
};
