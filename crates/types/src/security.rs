//! Second factors and sessions: the rest of signing in.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::LoginResponse;

/// `POST /api/v1/auth/login` after a right password, for a user with a second factor: no
/// session yet. Send the token with a code to `POST /api/v1/auth/login/mfa` within 5 minutes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"mfaRequired": true, "mfaToken": "eyJ…"})))]
pub struct MfaChallenge {
    /// Always true: tells this answer from a signed-in one.
    pub mfa_required: bool,
    pub mfa_token: String,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("mfa_token", &"<redacted>")
            .finish()
    }
}

/// What `POST /api/v1/auth/login` answers: a session, or the request for a second factor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum LoginAnswer {
    SignedIn(LoginResponse),
    MfaRequired(MfaChallenge),
}

/// `POST /api/v1/auth/login/mfa`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"mfaToken": "eyJ…", "code": "123456"})))]
pub struct MfaLoginRequest {
    pub mfa_token: String,
    /// A 6-digit code from the authenticator app, or one of the recovery codes.
    pub code: String,
}

impl std::fmt::Debug for MfaLoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaLoginRequest")
            .field("mfa_token", &"<redacted>")
            .field("code", &"<redacted>")
            .finish()
    }
}

/// `POST /api/v1/auth/totp`: a new secret for the signed-in user's authenticator app. Not on
/// until `POST /api/v1/auth/totp/confirm` proves the app holds it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"secret": "JBSWY3DPEHPK3PXP…", "otpauthUri": "otpauth://totp/pulsekey:alice?secret=JBSWY3DPEHPK3PXP…&issuer=pulsekey"})))]
pub struct TotpEnrolment {
    /// The secret in base 32, for typing into an app that cannot scan.
    pub secret: String,
    /// The `otpauth://` URI the QR code holds.
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

/// A code: `POST /api/v1/auth/totp/confirm` (from the app) and `DELETE /api/v1/auth/totp`
/// (from the app, or a recovery code).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"code": "123456"})))]
pub struct TotpCode {
    pub code: String,
}

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCode(<redacted>)")
    }
}

/// The ten recovery codes, shown once: each signs in once in place of the app.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"recoveryCodes": ["•••••-•••••"]})))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodes(<redacted>)")
    }
}

/// One of the signed-in user's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The address it signed in from.
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// The session asking.
    pub current: bool,
}

/// `GET /api/v1/auth/sessions`: the caller's live sessions, the most recently used first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    pub items: Vec<SessionView>,
}
