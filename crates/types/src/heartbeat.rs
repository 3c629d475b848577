use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::LicenseStatus;

/// `POST /heartbeat` body. The license key travels in `Authorization: Bearer`, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"version": "1.4.2", "hostname": "proxy-1", "uptime": 86400})))]
pub struct HeartbeatRequest {
    /// The proxy's version, e.g. `1.4.2` (1–64 printable characters).
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Seconds since the proxy started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime: Option<u64>,
}

/// The verdict for one heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"status": "ACTIVE", "graceExpiresAt": null, "heartbeatIntervalSecs": 60, "serverTime": "2026-11-29T18:04:05Z"})))]
pub struct HeartbeatResponse {
    pub status: LicenseStatus,
    #[serde(with = "time::serde::rfc3339::option")]
    pub grace_expires_at: Option<OffsetDateTime>,
    pub heartbeat_interval_secs: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub server_time: OffsetDateTime,
}
