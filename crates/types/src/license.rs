use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The status of a license as proxies and admins see it (always the *effective* status:
/// a GRACE whose window has passed is reported as EXPIRED).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub enum LicenseStatus {
    Active,
    Grace,
    Expired,
}

impl LicenseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Grace => "GRACE",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "GRACE" => Some(Self::Grace),
            "EXPIRED" => Some(Self::Expired),
            _ => None,
        }
    }
}

impl std::fmt::Display for LicenseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How recently the proxy called in, measured in heartbeat intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    /// Within 2 intervals.
    Online,
    /// Within 10 intervals.
    Late,
    /// Longer ago.
    Offline,
    /// No heartbeat yet.
    Never,
}

/// The License card: everything about a license except the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"keyMasked": "pk_•••••…•Ab3f", "status": "GRACE", "installedVersion": "1.4.2", "lastHeartbeatAt": "2026-11-29T18:04:05Z", "lastHeartbeatIp": "203.0.113.7", "graceExpiresAt": "2026-12-04T18:00:00Z", "connection": "online"})))]
pub struct LicenseView {
    /// `pk_•••••…•` followed by the key's last 4 characters.
    pub key_masked: String,
    pub status: LicenseStatus,
    pub installed_version: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_heartbeat_at: Option<OffsetDateTime>,
    pub last_heartbeat_ip: Option<String>,
    /// Set only while the status is GRACE.
    #[serde(with = "time::serde::rfc3339::option")]
    pub grace_expires_at: Option<OffsetDateTime>,
    /// Set only while the status is EXPIRED: when its grace window ended.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expired_at: Option<OffsetDateTime>,
    pub connection: Connection,
}

/// `POST /api/v1/servers/{id}/license/revoke`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"graceDays": 5})))]
pub struct RevokeRequest {
    /// Length of the grace window, 1–365 days; the server's default (5) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_days: Option<i64>,
}

/// `POST /api/v1/servers/{id}/license/reveal`: the plaintext key (audited).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"key": "pk_•••••…•Ab3f"})))]
pub struct RevealResponse {
    pub key: String,
}

impl std::fmt::Debug for RevealResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevealResponse")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The proxy's `config.json`, served by the install endpoint and read by the agent.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"serverUrl": "https://licenses.example.com", "licenseKey": "pk_•••••…•Ab3f", "heartbeatIntervalSecs": 60, "publicKey": "MCowBQYDK2VwAyEA…"})))]
pub struct InstallConfig {
    pub server_url: String,
    pub license_key: String,
    pub heartbeat_interval_secs: u64,
    /// Ed25519 public key (standard base64) that signs heartbeat responses.
    pub public_key: String,
}

impl std::fmt::Debug for InstallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallConfig")
            .field("server_url", &self.server_url)
            .field("license_key", &"<redacted>")
            .field("heartbeat_interval_secs", &self.heartbeat_interval_secs)
            .field("public_key", &self.public_key)
            .finish()
    }
}
