//! The HTTP application: routes, extractor configuration and the server loop.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, HttpServer, web};
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt as _;
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{json_error, path_error, query_error};
use crate::handlers;
use crate::openapi::ApiDoc;
use crate::state::SharedState;

/// Largest JSON body any route accepts.
pub const JSON_LIMIT: usize = 16 * 1024;

/// Every documented route. Registered through utoipa-actix-web so the OpenAPI document
/// cannot miss one.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(handlers::health::healthz)
        .service(handlers::health::readyz);
}

/// The OpenAPI document, generated from the routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    api
}

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
    let (app, api) = App::new()
        .app_data(state)
        .app_data(
            web::JsonConfig::default()
                .limit(JSON_LIMIT)
                .error_handler(|err, _| json_error(err, JSON_LIMIT).into()),
        )
        .app_data(web::QueryConfig::default().error_handler(|err, _| query_error(err).into()))
        .app_data(web::PathConfig::default().error_handler(|err, _| path_error(err).into()))
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    app.service(SwaggerUi::new("/api-docs/{_:.*}").url("/api-docs/openapi.json", api))
        .default_service(web::to(crate::spa::fallback))
}

/// Serves until the server is stopped (SIGINT/SIGTERM stop it gracefully).
pub async fn serve(state: SharedState, listener: TcpListener) -> std::io::Result<()> {
    HttpServer::new(move || app(state.clone()))
        .listen(listener)?
        .shutdown_timeout(30)
        .run()
        .await
}
