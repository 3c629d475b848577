use actix_web::{HttpResponse, get, http::StatusCode};
use pulsekey_types::HealthResponse;

use crate::state::SharedState;

fn body(status: &str) -> HealthResponse {
    HealthResponse {
        status: status.to_owned(),
        version: crate::VERSION.to_owned(),
    }
}

/// Liveness: the process answers.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_healthz",
    responses((status = 200, description = "The server is up", body = HealthResponse)),
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(body("ok"))
}

/// Readiness: the database answers a query.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_readyz",
    responses(
        (status = 200, description = "The database answers", body = HealthResponse),
        (status = 503, description = "The database does not answer", body = HealthResponse),
    ),
)]
#[get("/readyz")]
pub async fn readyz(state: SharedState) -> HttpResponse {
    let db = state.db.clone();
    let ready = actix_web::web::block(move || db.ping()).await;
    match ready {
        Ok(Ok(())) => HttpResponse::Ok().json(body("ok")),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(body("unavailable"))
        }
        Err(_) => HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(body("unavailable")),
    }
}
