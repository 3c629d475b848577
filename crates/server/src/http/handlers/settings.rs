use actix_web::{get, web};
use pulsekey_core::license::GRACE_DAYS_RANGE;
use pulsekey_types::{ErrorBody, SettingsView};

use crate::http::auth::{Principal, Via};
use crate::http::state::SharedState;

/// The settings a client needs to show and check input the way the server will: the grace
/// window's default and range, the heartbeat interval. Any signed-in caller.
#[utoipa::path(
    tag = "settings",
    operation_id = "get_settings",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The server's settings", body = SettingsView),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
)]
#[get("/settings")]
pub async fn get_settings(state: SharedState, principal: Principal) -> web::Json<SettingsView> {
    web::Json(SettingsView {
        grace_days_default: state.config.grace_days,
        grace_days_min: *GRACE_DAYS_RANGE.start(),
        grace_days_max: *GRACE_DAYS_RANGE.end(),
        heartbeat_interval_secs: state.config.heartbeat_interval_secs,
        // Integrator tokens are never asked for a second factor.
        second_factor_required: matches!(principal.via, Via::Session { .. })
            && state.config.require_2fa.applies_to(principal.role),
    })
}
