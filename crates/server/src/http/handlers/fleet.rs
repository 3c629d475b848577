use actix_web::{get, web};
use pulsekey_core::fleet;
use pulsekey_types::{ErrorBody, FleetHistory, FleetSummary, Scope};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::state::SharedState;

/// The fleet at a glance: licenses by status, installations by connection and version,
/// grace windows ending soon, old keys still calling.
#[utoipa::path(
    tag = "fleet",
    operation_id = "get_fleet",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The fleet's counts", body = FleetSummary),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `read`)", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ),
)]
#[get("/fleet")]
pub async fn get_fleet(
    state: SharedState,
    principal: Principal,
) -> Result<web::Json<FleetSummary>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let now = OffsetDateTime::now_utc();
    let census = state.heartbeats.census(now).await?;
    let settings = state.config.fleet;
    let summary = state
        .read(move |conn| fleet::summary(conn, census, now, &settings))
        .await?;
    Ok(web::Json(summary))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct FleetHistoryQuery {
    /// Samples at or after this instant (RFC 3339); default: a day before `to`.
    from: Option<String>,
    /// Samples at or before this instant (RFC 3339); default: now.
    to: Option<String>,
}

/// The fleet's counts over time: one sample a minute (`PULSEKEY_FLEET_SAMPLE_SECS`) for the
/// whole cluster, kept `PULSEKEY_FLEET_HISTORY_DAYS`; long ranges are thinned.
#[utoipa::path(
    tag = "fleet",
    operation_id = "get_fleet_history",
    params(FleetHistoryQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Samples, oldest first", body = FleetHistory),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `read`)", body = ErrorBody),
        (status = 422, description = "A time that is not RFC 3339, or `from` not before `to`", body = ErrorBody),
        (status = 503, description = "Storage unavailable", body = ErrorBody),
    ),
)]
#[get("/fleet/history")]
pub async fn get_fleet_history(
    state: SharedState,
    principal: Principal,
    query: web::Query<FleetHistoryQuery>,
) -> Result<web::Json<FleetHistory>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let FleetHistoryQuery { from, to } = query.into_inner();
    let settings = state.config.fleet;
    let now = OffsetDateTime::now_utc();
    let history = state
        .read(move |conn| fleet::history(conn, from.as_deref(), to.as_deref(), now, &settings))
        .await?;
    Ok(web::Json(history))
}
