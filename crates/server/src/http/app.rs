//! The HTTP application: routes, extractor configuration and the server loop.

use std::net::TcpListener;

use actix_service::{IntoServiceFactory as _, ServiceFactoryExt as _, fn_service, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::AppConfig;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, web};
use utoipa_actix_web::AppExt as _;
use utoipa_swagger_ui::SwaggerUi;

use crate::http::error::{path_error, query_error};
use crate::http::handlers;
use crate::http::state::SharedState;
use crate::http::wire::Wire;

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
    spawn_fleet_sampler(state.clone());
    crate::webhooks::spawn_worker(state.clone());
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
    let (in_flight, trusted_proxies) = (
        state.in_flight.clone(),
        state.config.trusted_proxies.clone(),
    );
    let server = actix_server::Server::build();
    // Idle keep-alive connections close as soon as a graceful stop begins, as actix-web's
    // own HttpServer arranges it.
    let stopping = server.graceful_shutdown_signal();
    let local = listener.local_addr()?;
    let served = server
        .workers(workers)
        // Past this a worker stops accepting, so the process never runs out of descriptors.
        .max_concurrent_connections(per_worker)
        .shutdown_timeout(30)
        .listen("pulsekey", listener, move || {
            let (in_flight, trusted_proxies) = (in_flight.clone(), trusted_proxies.clone());
            let stopping = stopping.clone();
            let app = app(state.clone())
                .into_factory()
                .map_err(|err| err.error_response());
            // Each connection is admitted (or shut) by its address's connection count, then
            // served through `Wire`, which gives the parser's own refusals the JSON shape.
            fn_service(move |stream: actix_web::rt::net::TcpStream| {
                let peer = stream.peer_addr().ok();
                let slot = crate::http::connections::admit(&stream, &in_flight, &trusted_proxies);
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    Wire::new(stream, slot),
                    peer,
                )))
            })
            .and_then(
                actix_http::HttpService::build()
                    .keep_alive(actix_http::KeepAlive::default())
                    // A client that trickles its headers gets 408 instead of holding a connection.
                    .client_request_timeout(request_timeout)
                    .client_disconnect_timeout(std::time::Duration::from_secs(1))
                    .h1_allow_half_closed(true)
                    .local_addr(local)
                    .graceful_shutdown_signal(move || {
                        let stopping = stopping.clone();
                        async move { stopping.notified().await }
                    })
                    // Its host and address serve only URL generation and ConnectionInfo's
                    // fallbacks, which pulsekey does not use (it reads the peer and headers).
                    .h1(map_config(app, |_| AppConfig::default())),
            )
        })?
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
            let fleet = state.config.fleet;
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
                pulsekey_db::server_events::prune(
                    &mut conn,
                    now - pulsekey_core::servers::events::KEPT_FOR,
                )?;
                pulsekey_db::retired_keys::prune(
                    &mut conn,
                    now - pulsekey_core::heartbeat::RETIRED_KEYS_KEPT_FOR,
                )?;
                pulsekey_db::fleet::prune_samples(&mut conn, now - fleet.history_kept)?;
                // Past deliveries are history: failing to prune them must not stop grace
                // windows from ending.
                if let Err(err) = pulsekey_db::webhooks::prune(
                    &mut conn,
                    now - pulsekey_core::webhooks::DELIVERIES_KEPT_FOR,
                ) {
                    tracing::warn!(error = %err, "old webhook deliveries not pruned");
                }
                drop(conn);
                pulsekey_core::servers::expire_ended_graces(
                    &db,
                    pulsekey_db::from_stored(now),
                    fleet.interval_secs,
                )
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

/// Samples the fleet once per `PULSEKEY_FLEET_SAMPLE_SECS` for the whole cluster: every
/// node tries, the one whose claim of the period succeeds counts (and marks the servers that
/// went offline since), the others skip it.
pub fn spawn_fleet_sampler(state: SharedState) {
    actix_web::rt::spawn(async move {
        let period = std::time::Duration::from_secs(state.config.fleet.sample_every_secs);
        let mut tick = actix_web::rt::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = std::time::Instant::now();
            let now = time::OffsetDateTime::now_utc();
            let sampled = pulsekey_core::fleet::sample(
                &state.heartbeats,
                &state.db,
                now,
                &state.config.fleet,
            )
            .await;
            match sampled {
                Ok(None) => {}
                Ok(Some(went_offline)) => tracing::debug!(
                    went_offline,
                    millis = started.elapsed().as_millis() as u64,
                    "fleet sampled"
                ),
                Err(err) => tracing::warn!(error = %err, "fleet sample failed"),
            }
        }
    });
}
