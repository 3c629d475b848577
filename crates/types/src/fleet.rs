//! The fleet at a glance (`GET /api/v1/fleet`) and over time (`GET /api/v1/fleet/history`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Licenses per effective status: a grace window that has ended counts as EXPIRED.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "UPPERCASE")]
pub struct LicenseCounts {
    pub active: i64,
    pub grace: i64,
    pub expired: i64,
}

/// Installations per `connection`: online within 2 heartbeat intervals of the last
/// heartbeat, late within 10, offline beyond, never when none came.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConnectionCounts {
    pub online: i64,
    pub late: i64,
    pub offline: i64,
    pub never: i64,
}

/// How many installations last reported this version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionCount {
    pub version: String,
    pub count: i64,
}

/// A grace window that ends soon, soonest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GraceEnding {
    pub server_id: i64,
    pub server_name: String,
    pub owner_username: String,
    #[serde(with = "time::serde::rfc3339")]
    pub grace_expires_at: OffsetDateTime,
}

/// `GET /api/v1/fleet`. Licenses and grace windows are exact at the moment of the request;
/// connections, versions and old keys are as of the newest fleet sample (`sampledAt`,
/// normally less than one sampling period old), since they move with every heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"licenses": {"ACTIVE": 1890, "GRACE": 12, "EXPIRED": 98}, "connections": {"online": 1802, "late": 31, "offline": 140, "never": 27}, "versions": [{"version": "1.5.0", "count": 1211}, {"version": "1.4.2", "count": 762}], "graceEndingSoon": [{"serverId": 42, "serverName": "acme-prod", "ownerUsername": "acme", "graceExpiresAt": "2026-12-05T09:00:00Z"}], "oldKeysInUse": 3, "sampledAt": "2026-12-03T08:41:00Z"})))]
pub struct FleetSummary {
    pub licenses: LicenseCounts,
    pub connections: ConnectionCounts,
    /// Most installed first.
    pub versions: Vec<VersionCount>,
    /// GRACE windows ending within 7 days, soonest first (at most 20).
    pub grace_ending_soon: Vec<GraceEnding>,
    /// Servers whose previous key (replaced by a regenerate) called in the last hour: their
    /// customers have not re-run Install.
    pub old_keys_in_use: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub sampled_at: Option<OffsetDateTime>,
}

/// The fleet's counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetSample {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub licenses: LicenseCounts,
    pub connections: ConnectionCounts,
    /// The ten most installed versions.
    pub versions: Vec<VersionCount>,
    pub old_keys_in_use: i64,
}

/// `GET /api/v1/fleet/history`: samples from `from` to `to`, oldest first. A long range is
/// thinned to one sample every `everySecs` so that it stays a chart's worth (≤ 1,440).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FleetHistory {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub every_secs: i64,
    pub samples: Vec<FleetSample>,
}
