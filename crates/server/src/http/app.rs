//! The HTTP application: routes, extractor configuration and the server loop.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::error::{path_error, query_error};
use crate::http::handlers;
use crate::http::state::SharedState;

pub fn app(
    state: SharedState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let (app, _) = App::new()
        .wrap_fn(crate::http::middleware::docs_headers)
        .wrap_fn(crate::http::middleware::limit_in_flight)
        .wrap_fn(crate::http::middleware::limit_headers)
        // Outermost, so it also times and counts what the header limit turns away.
        .wrap_fn(crate::http::middleware::observe)
        .app_data(state)
        .app_data(web::QueryConfig::default().error_handler(|err, _| query_error(err).into()))
        .app_data(web::PathConfig::default().error_handler(|err, _| path_error(err).into()))
        .into_utoipa_app()
        .configure(handlers::routes)
        .split_for_parts();
    let api = crate::http::openapi::document().clone();
    app.service(SwaggerUi::new("/api-docs/{_:.*}").url("/api-docs/openapi.json", api))
        .default_service(web::to(crate::http::spa::fallback))
}

/// Serves until the server is stopped (SIGINT/SIGTERM stop it gracefully).
pub async fn serve(state: SharedState, listener: TcpListener) -> std::io::Result<()> {
    spawn_expiry_sweep(state.clone());
    let heartbeats = state.heartbeats.clone();
    let request_timeout = state.config.request_timeout;
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let descriptors = crate::http::connections::raise_descriptor_limit();
    let per_worker = state.config.max_connections_per_worker.map_or_else(
        || crate::http::connections::connections_per_worker(descriptors, workers),
        |n| n as usize,
    );
    tracing::info!(
        descriptors,
        workers,
        connections_per_worker = per_worker,
        "connection limits"
    );
    let on_connect = crate::http::connections::on_connect(
        state.in_flight.clone(),
        state.config.trusted_proxies.clone(),
    );
    let served = HttpServer::new(move || app(state.clone()))
        .on_connect(on_connect)
        .workers(workers)
        // A client that trickles its headers gets 408 instead of holding a connection.
        .client_request_timeout(request_timeout)
        // Past this a worker stops accepting, so the process never runs out of descriptors.
        .max_connections(per_worker)
        .listen(listener)?
        .shutdown_timeout(30)
        .run()
        .await;
    // Every request has finished: write the heartbeats still waiting in memory.
    if let Err(err) = web::block(move || heartbeats.shutdown()).await {
        tracing::error!(error = %err, "the heartbeats still in memory may not have been written");
    }
    served
}

/// Persists GRACE → EXPIRED every `PULSEKEY_EXPIRY_SWEEP_SECS`. Reads never depend on it (they compute the
/// effective status); it keeps the stored column honest for reports and ad-hoc SQL.
/// Idempotent, so every node may run it.
fn spawn_expiry_sweep(state: SharedState) {
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(state.config.expiry_sweep);
        loop {
            tick.tick().await;
            let db = state.db.clone();
            let swept = web::block(move || {
                let mut conn = db.conn()?;
                let now = pulsekey_db::now();
                // A day of changes is plenty for nodes to catch up; one asleep for longer
                // starts its index over.
                pulsekey_db::license_changes::prune(&mut conn, now - time::Duration::days(1))?;
                pulsekey_db::login_failures::prune(
                    &mut conn,
                    now - pulsekey_core::sign_in::WINDOW,
                )?;
                pulsekey_db::servers::expire_passed_grace(&mut conn, now)
            })
            .await;
            match swept {
                Ok(Ok(0)) => tracing::debug!("expiry sweep: no grace window ended"),
                Ok(Ok(n)) => tracing::info!(expired = n, "grace windows ended"),
                Ok(Err(err)) => tracing::warn!(error = %err, "expiry sweep failed"),
                Err(err) => tracing::warn!(error = %err, "expiry sweep did not run"),
            }
        }
    });
}
