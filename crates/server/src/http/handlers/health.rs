use actix_web::{HttpResponse, get, http::StatusCode};
use pulsekey_types::HealthResponse;

use crate::http::state::SharedState;

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
        (status = 503, description = "The database does not answer (`unavailable`), or it refuses writes for lack of storage (`storage_failing`)", body = HealthResponse),
    ),
)]
#[get("/readyz")]
pub async fn readyz(state: SharedState) -> HttpResponse {
    let db = state.db.clone();
    // A full disk still answers reads: after a write failed for lack of storage, only a
    // write that succeeds makes this node ready again.
    let ready = actix_web::web::block(move || {
        db.ping()?;
        if pulsekey_db::storage::failure_seen() {
            db.probe_write()?;
        }
        Ok::<_, pulsekey_db::DbError>(())
    })
    .await;
    match ready {
        Ok(Ok(())) => HttpResponse::Ok().json(body("ok")),
        Ok(Err(pulsekey_db::DbError::StorageFailing(err))) => {
            tracing::warn!(error = %err, "readiness check failed: storage is full or failing");
            HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(body("storage_failing"))
        }
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(body("unavailable"))
        }
        Err(_) => HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE).json(body("unavailable")),
    }
}

/// Prometheus metrics (text format): heartbeats by result, request latency by route, the
/// database pool, licenses by status. When `PULSEKEY_METRICS_TOKEN` is set, only a scraper
/// presenting it as a bearer token may read them.
#[utoipa::path(
    tag = "operations",
    operation_id = "get_metrics",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
        (status = 401, description = "PULSEKEY_METRICS_TOKEN is set and was not presented", body = pulsekey_types::ErrorBody),
    ),
)]
#[get("/metrics")]
pub async fn metrics(
    state: SharedState,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, crate::ApiError> {
    if let Some(expected) = &state.config.metrics_token {
        let presented = pulsekey_core::heartbeat::input::presented_key(
            req.headers()
                .get(actix_web::http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        );
        if !pulsekey_core::crypto::same_secret(presented.as_bytes(), expected.as_bytes()) {
            return Err(crate::ApiError::Unauthorized);
        }
    }
    let db = state.db.clone();
    let counted = actix_web::web::block(move || {
        let mut conn = db.conn()?;
        let now = pulsekey_db::now();
        let licenses = pulsekey_db::servers::count_by_status(&mut conn, now);
        let queue = pulsekey_db::webhooks::queue_depth(&mut conn).map(|(depth, oldest)| {
            let age = oldest.map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
            (depth, age)
        });
        Ok::<_, pulsekey_db::DbError>((licenses, queue))
    })
    .await;
    // A gauge the database could not give is left out rather than the whole scrape
    // failing; the reason is logged.
    let (licenses, webhook_queue) = match counted {
        Ok(Ok((licenses, queue))) => (licenses.map_err(|e| e.to_string()), queue.ok()),
        Ok(Err(err)) => (Err(err.to_string()), None),
        Err(err) => (Err(err.to_string()), None),
    };
    let licenses = match licenses {
        Ok(counts) => Some(counts),
        Err(err) => {
            tracing::warn!(error = %err, "metrics: cannot count the licenses");
            None
        }
    };
    let snapshot = crate::http::metrics::Snapshot {
        pool: state.db.pool_state(),
        licenses,
        indexed_licenses: state.heartbeats.indexed_licenses(),
        index_database_lookups: state.heartbeats.database_lookups(),
        webhook_queue,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render(&snapshot)))
}
