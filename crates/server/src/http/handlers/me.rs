use actix_web::{HttpResponse, get, web};
use pulsekey_types::{ErrorBody, InstallConfig, MyServerList};

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::servers;

/// The signed-in customer's servers, with effective status (and the grace expiry for the
/// banner while in GRACE).
#[utoipa::path(
    tag = "customer",
    operation_id = "list_my_servers",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Your servers", body = MyServerList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a customer", body = ErrorBody),
    ),
)]
#[get("/me/servers")]
pub async fn list_my_servers(
    state: SharedState,
    principal: Principal,
) -> Result<web::Json<MyServerList>, ApiError> {
    let owner = principal.require_customer()?;
    let interval = state.config.heartbeat_interval_secs;
    Ok(web::Json(
        state
            .read(move |conn| servers::my_servers(conn, owner, interval))
            .await?,
    ))
}

/// The proxy's `config.json` for one of your servers, as a download (audited as
/// `server.license.install`).
#[utoipa::path(
    tag = "customer",
    operation_id = "get_install_config",
    params(("id" = i64, Path, description = "Server id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "config.json", body = InstallConfig),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a customer", body = ErrorBody),
        (status = 404, description = "No such server among yours", body = ErrorBody),
    ),
)]
#[get("/me/servers/{id}/install")]
pub async fn get_install_config(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let owner = principal.require_customer()?;
    let (id, data_key) = (id.into_inner(), state.secrets.data_key.clone());
    let license_key = state
        .act(principal.actor(), move |tx| {
            servers::install_key(tx, &data_key, owner, id)
        })
        .await?;
    let config = InstallConfig {
        server_url: state.config.public_url.clone(),
        license_key,
        heartbeat_interval_secs: state.config.heartbeat_interval_secs,
        public_key: state.secrets.public_key_base64(),
    };
    Ok(HttpResponse::Ok()
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"config.json\"",
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(config))
}
