use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One row of the append-only audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"id": 1051, "at": "2026-11-29T18:00:00Z", "action": "server.license.revoke", "target": 42, "targetOwnerId": 7, "userId": 1, "username": "admin", "metadata": {"graceDays": 5, "graceExpiresAt": "2026-12-04T18:00:00Z"}, "ip": "198.51.100.4"})))]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// e.g. `server.license.revoke`.
    pub action: String,
    /// The server acted on (`server.*` actions); null for other actions, whose subject
    /// is in `metadata` (`subjectUserId`, `tokenId`).
    pub target: Option<i64>,
    /// The customer who owns `target`, while that server exists: where a reader finds it.
    #[serde(default)]
    pub target_owner_id: Option<i64>,
    /// The acting user, if one was signed in.
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub metadata: serde_json::Value,
    pub ip: Option<String>,
}

/// `GET /api/v1/audit-log`: one page in the asked order; pass `nextCursor` back as
/// `cursor` with the same filters and sort.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
    /// How many entries the filters match on every page together, counted up to 1,000.
    pub total: u64,
    /// There are more than `total`: counting stopped at 1,000.
    pub total_capped: bool,
}

/// The order of `GET /api/v1/audit-log` and of its exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum AuditSort {
    /// Newest first.
    #[default]
    Newest,
    /// Oldest first: what happened, in the order it happened.
    Oldest,
}
