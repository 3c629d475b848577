use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use pulsekey_types::{
    Connection, CreateServerRequest, ErrorBody, LicenseStatus, LicenseView, RevealResponse,
    RevokeRequest, Scope, ServerEventPage, ServerPage, ServerSort, ServerView, UpdateServerRequest,
};
use serde::Deserialize;

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::servers;
use pulsekey_core::servers::list::ServerFilter;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListServersQuery {
    /// Only licenses in this status as a heartbeat would get it now (a grace window that
    /// has ended is EXPIRED).
    status: Option<LicenseStatus>,
    /// Only installations whose last heartbeat puts them here: `online` within 2 heartbeat
    /// intervals, `late` within 10, `offline` beyond, `never` none yet.
    connection: Option<Connection>,
    /// Only installations that last reported exactly this version.
    version: Option<String>,
    /// Only this customer's servers.
    owner_id: Option<i64>,
    /// Case-insensitive part of the server's name or of its owner's username.
    q: Option<String>,
    /// `id` (newest first, the default), `name` (A to Z) or `lastHeartbeatAt` (most recent
    /// first, never-seen last).
    sort: Option<ServerSort>,
    /// `nextCursor` of the previous page, with the same filters and sort.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
}

/// Every server across customers, with its owner and license; filters combine.
#[utoipa::path(
    tag = "servers",
    operation_id = "list_servers",
    params(ListServersQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "One page of servers", body = ServerPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `read`)", body = ErrorBody),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody),
    ),
)]
#[get("/servers")]
pub async fn list_servers(
    state: SharedState,
    principal: Principal,
    query: web::Query<ListServersQuery>,
) -> Result<web::Json<ServerPage>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let ListServersQuery {
        status,
        connection,
        version,
        owner_id,
        q,
        sort,
        cursor,
        limit,
    } = query.into_inner();
    let filter = ServerFilter {
        status,
        connection,
        version,
        owner_id,
        q,
    };
    let interval = state.config.heartbeat_interval_secs;
    let page = state
        .read(move |conn| {
            servers::list::list_servers(
                conn,
                filter,
                sort.unwrap_or_default(),
                cursor.as_deref(),
                limit,
                interval,
            )
        })
        .await?;
    Ok(web::Json(page))
}

/// Create a server for a customer; it gets a fresh ACTIVE license.
#[utoipa::path(
    tag = "servers",
    operation_id = "create_server",
    request_body = CreateServerRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "Created, with its license card", body = ServerView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `licenses:write`)", body = ErrorBody),
        (status = 422, description = "Invalid name, or the owner is not a customer", body = ErrorBody),
    ),
)]
#[post("/servers")]
pub async fn create_server(
    state: SharedState,
    principal: Principal,
    body: super::JsonObject<CreateServerRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::LicensesWrite)?;
    let actor = principal.actor();
    let interval = state.config.heartbeat_interval_secs;
    let data_key = state.secrets.data_key.clone();
    let server = state
        .act(actor, move |tx| {
            servers::create_server(tx, &data_key, body.owner_id, &body.name, interval)
        })
        .await?;
    Ok(HttpResponse::Created().json(server))
}

/// One server and its license card.
#[utoipa::path(
    tag = "servers",
    operation_id = "get_server",
    params(("id" = i64, Path, description = "Server id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The server", body = ServerView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
    ),
)]
#[get("/servers/{id}")]
pub async fn get_server(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<web::Json<ServerView>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let id = id.into_inner();
    let interval = state.config.heartbeat_interval_secs;
    Ok(web::Json(
        state
            .read(move |conn| servers::get_server(conn, id, interval))
            .await?,
    ))
}

/// Rename a server (audited as `server.update`); its license and key are untouched.
#[utoipa::path(
    tag = "servers",
    operation_id = "update_server",
    params(("id" = i64, Path, description = "Server id")),
    request_body = UpdateServerRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The server as it now is", body = ServerView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `licenses:write`)", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
    ),
)]
#[patch("/servers/{id}")]
pub async fn update_server(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
    body: super::JsonObject<UpdateServerRequest>,
) -> Result<web::Json<ServerView>, ApiError> {
    principal.require_admin(Scope::LicensesWrite)?;
    let (id, changes) = (id.into_inner(), body.into_inner());
    let interval = state.config.heartbeat_interval_secs;
    let server = match changes.name {
        Some(name) => {
            state
                .act(principal.actor(), move |tx| {
                    servers::rename_server(tx, id, &name, interval)
                })
                .await?
        }
        None => {
            state
                .read(move |conn| servers::get_server(conn, id, interval))
                .await?
        }
    };
    Ok(web::Json(server))
}

/// Delete a server and its license (audited as `server.delete`): its key is refused at
/// its next heartbeat on every node.
#[utoipa::path(
    tag = "servers",
    operation_id = "delete_server",
    params(("id" = i64, Path, description = "Server id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `licenses:write`)", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
    ),
)]
#[delete("/servers/{id}")]
pub async fn delete_server(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::LicensesWrite)?;
    let id = id.into_inner();
    let interval = state.config.heartbeat_interval_secs;
    state
        .act(principal.actor(), move |tx| {
            servers::delete_server(tx, id, interval)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
}

/// What happened to one installation, newest first: `version_changed` and
/// `address_changed` (`data` `{from, to}`), seen in its heartbeats. Kept 90 days.
#[utoipa::path(
    tag = "servers",
    operation_id = "list_server_events",
    params(("id" = i64, Path, description = "Server id"), ListEventsQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "One page of events", body = ServerEventPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `read`)", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody),
    ),
)]
#[get("/servers/{id}/events")]
pub async fn list_server_events(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
    query: web::Query<ListEventsQuery>,
) -> Result<web::Json<ServerEventPage>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let (id, ListEventsQuery { cursor, limit }) = (id.into_inner(), query.into_inner());
    let page = state
        .read(move |conn| servers::events::list_events(conn, id, cursor.as_deref(), limit))
        .await?;
    Ok(web::Json(page))
}

/// The License card: masked key, effective status, last heartbeat, grace expiry.
#[utoipa::path(
    tag = "licenses",
    operation_id = "get_license",
    params(("id" = i64, Path, description = "Server id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The license card", body = LicenseView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
    ),
)]
#[get("/servers/{id}/license")]
pub async fn get_license(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<web::Json<LicenseView>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let id = id.into_inner();
    let interval = state.config.heartbeat_interval_secs;
    let server = state
        .read(move |conn| servers::get_server(conn, id, interval))
        .await?;
    Ok(web::Json(server.license))
}

/// The plaintext key (audited as `server.license.reveal`).
#[utoipa::path(
    tag = "licenses",
    operation_id = "reveal_license",
    params(("id" = i64, Path, description = "Server id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The key", body = RevealResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `licenses:write`)", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
    ),
)]
#[post("/servers/{id}/license/reveal")]
pub async fn reveal_license(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::LicensesWrite)?;
    let (id, data_key) = (id.into_inner(), state.secrets.data_key.clone());
    let key = state
        .act(principal.actor(), move |tx| {
            servers::reveal(tx, &data_key, id)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(RevealResponse { key }))
}

/// A new key; the old one gets 401 from its very next heartbeat. Status is unchanged.
#[utoipa::path(
    tag = "licenses",
    operation_id = "regenerate_license",
    params(("id" = i64, Path, description = "Server id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The card, with the new key's mask", body = LicenseView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `licenses:write`)", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
    ),
)]
#[post("/servers/{id}/license/regenerate")]
pub async fn regenerate_license(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<web::Json<LicenseView>, ApiError> {
    principal.require_admin(Scope::LicensesWrite)?;
    let (id, data_key) = (id.into_inner(), state.secrets.data_key.clone());
    let interval = state.config.heartbeat_interval_secs;
    let view = state
        .act(principal.actor(), move |tx| {
            servers::regenerate(tx, &data_key, id, interval)
        })
        .await?;
    Ok(web::Json(view))
}

/// Revoke: ACTIVE → GRACE for `graceDays` (1–365, default from configuration).
#[utoipa::path(
    tag = "licenses",
    operation_id = "revoke_license",
    params(("id" = i64, Path, description = "Server id")),
    request_body(content = Option<RevokeRequest>, description = "Optional; an empty body uses the default window"),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The card, now in GRACE", body = LicenseView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `licenses:write`)", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 409, description = "Not ACTIVE (`license_not_active`)", body = ErrorBody),
        (status = 415, description = "A body that is not JSON", body = ErrorBody),
        (status = 422, description = "graceDays outside 1–365", body = ErrorBody),
    ),
)]
#[post("/servers/{id}/license/revoke")]
pub async fn revoke_license(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
    req: HttpRequest,
    body: super::Body,
) -> Result<web::Json<LicenseView>, ApiError> {
    principal.require_admin(Scope::LicensesWrite)?;
    let request: RevokeRequest = super::optional_json(&req, &body.0)?.unwrap_or_default();
    let grace_days = request.grace_days.unwrap_or(state.config.grace_days);
    let id = id.into_inner();
    let interval = state.config.heartbeat_interval_secs;
    let view = state
        .act(principal.actor(), move |tx| {
            servers::revoke(tx, id, grace_days, interval)
        })
        .await?;
    Ok(web::Json(view))
}

/// Reinstate: GRACE or EXPIRED → ACTIVE, clearing the grace window.
#[utoipa::path(
    tag = "licenses",
    operation_id = "reinstate_license",
    params(("id" = i64, Path, description = "Server id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The card, ACTIVE again", body = LicenseView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `licenses:write`)", body = ErrorBody),
        (status = 404, description = "No such server", body = ErrorBody),
        (status = 409, description = "Already ACTIVE (`license_not_in_grace`)", body = ErrorBody),
    ),
)]
#[post("/servers/{id}/license/reinstate")]
pub async fn reinstate_license(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<web::Json<LicenseView>, ApiError> {
    principal.require_admin(Scope::LicensesWrite)?;
    let id = id.into_inner();
    let interval = state.config.heartbeat_interval_secs;
    let view = state
        .act(principal.actor(), move |tx| {
            servers::reinstate(tx, id, interval)
        })
        .await?;
    Ok(web::Json(view))
}
