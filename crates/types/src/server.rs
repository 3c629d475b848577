use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::LicenseView;

/// A customer's installation and its license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"id": 42, "ownerId": 7, "name": "acme-prod", "license": {"keyMasked": "pk_•••••…•Ab3f", "status": "ACTIVE", "installedVersion": "1.4.2", "lastHeartbeatAt": "2026-11-29T18:04:05Z", "lastHeartbeatIp": "203.0.113.7", "graceExpiresAt": null, "connection": "online"}})))]
pub struct ServerView {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub license: LicenseView,
}

/// `GET /api/v1/users/{id}/servers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerList {
    pub items: Vec<ServerView>,
}

/// One row of `GET /api/v1/servers`: an installation of any customer, with its owner's
/// username and its license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"id": 42, "ownerId": 7, "ownerUsername": "acme", "name": "acme-prod", "license": {"keyMasked": "pk_•••••…•Ab3f", "status": "ACTIVE", "installedVersion": "1.4.2", "lastHeartbeatAt": "2026-11-29T18:04:05Z", "lastHeartbeatIp": "203.0.113.7", "graceExpiresAt": null, "connection": "online"}})))]
pub struct ServerListItem {
    pub id: i64,
    pub owner_id: i64,
    pub owner_username: String,
    pub name: String,
    pub license: LicenseView,
}

/// `GET /api/v1/servers`: one page, in the order asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServerPage {
    pub items: Vec<ServerListItem>,
    /// Pass as `cursor` (with the same filters and sort) for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// How many servers the filters match on every page together, counted up to 1,000.
    pub total: u64,
    /// There are more than `total`: counting stopped at 1,000.
    pub total_capped: bool,
}

/// The order of `GET /api/v1/servers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum ServerSort {
    /// Newest first.
    #[default]
    Id,
    /// By name, A to Z.
    Name,
    /// Most recent heartbeat first; installations that never called in last.
    LastHeartbeatAt,
}

/// `POST /api/v1/servers`: the server is created with a fresh ACTIVE license.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"ownerId": 7, "name": "acme-prod"})))]
pub struct CreateServerRequest {
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub owner_id: i64,
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 100,
            pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub name: String,
}

/// `PATCH /api/v1/servers/{id}`: what to change; an absent field stays as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "acme-prod-eu"})))]
pub struct UpdateServerRequest {
    #[cfg_attr(
        feature = "openapi",
        schema(
            max_length = 100,
            pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
        )
    )]
    pub name: Option<String>,
}

/// A customer's own server, as their dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MyServer {
    pub id: i64,
    pub name: String,
    pub license: LicenseView,
}

/// `GET /api/v1/me/servers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MyServerList {
    pub items: Vec<MyServer>,
}

/// Something that happened to an installation: `version_changed` and `address_changed`
/// with `data` `{from, to}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"id": 901, "at": "2026-12-02T16:50:54Z", "type": "version_changed", "data": {"from": "1.4.2", "to": "1.5.0"}})))]
pub struct ServerEvent {
    pub id: i64,
    /// When the heartbeat that showed the change arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: serde_json::Value,
}

/// `GET /api/v1/servers/{id}/events`: one page, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ServerEventPage {
    pub items: Vec<ServerEvent>,
    pub next_cursor: Option<String>,
}
