//! HTTP handlers, one module per resource. Each parses, authorizes, calls the domain and
//! maps the result; nothing else.

pub mod audit;
pub mod auth;
pub mod fleet;
pub mod health;
pub mod heartbeat;
pub mod me;
pub mod security;
pub mod servers;
pub mod settings;
pub mod tokens;
pub mod users;
pub mod webhooks;

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload};
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::error::ApiError;

/// Largest JSON body any route accepts.
pub const JSON_LIMIT: usize = 16 * 1024;

/// Every documented route. Registered through utoipa-actix-web so the OpenAPI document
/// cannot miss one.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(health::metrics)
        .service(heartbeat::heartbeat)
        .service(
            utoipa_actix_web::scope("/api/v1")
                .service(auth::login)
                .service(auth::login_mfa)
                .service(auth::logout)
                .service(auth::change_password)
                .service(auth::me)
                .service(security::begin_totp_enrolment)
                .service(security::confirm_totp)
                .service(security::disable_totp)
                .service(security::list_sessions)
                .service(security::end_other_sessions)
                .service(security::end_session)
                .service(settings::get_settings)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::get_user)
                .service(users::update_user)
                .service(users::list_user_servers)
                .service(security::reset_user_totp)
                .service(fleet::get_fleet)
                .service(fleet::get_fleet_history)
                .service(servers::list_servers)
                .service(servers::create_server)
                .service(servers::get_server)
                .service(servers::update_server)
                .service(servers::delete_server)
                .service(servers::list_server_events)
                .service(servers::get_license)
                .service(servers::reveal_license)
                .service(servers::regenerate_license)
                .service(servers::revoke_license)
                .service(servers::reinstate_license)
                .service(audit::list_audit_log)
                .service(me::list_my_servers)
                .service(me::get_install_config)
                .service(tokens::list_tokens)
                .service(tokens::create_token)
                .service(tokens::revoke_token)
                .service(webhooks::list_webhooks)
                .service(webhooks::create_webhook)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_webhook_secret)
                .service(webhooks::test_webhook)
                .service(webhooks::list_webhook_deliveries)
                .service(webhooks::retry_webhook_delivery),
        );
}

/// A request body read whole, refused with a JSON 413 past [`JSON_LIMIT`].
/// Reading it also matters for keep-alive: actix closes connections whose body is left.
pub struct Body(pub actix_web::web::Bytes);

impl FromRequest for Body {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = JSON_LIMIT;
        // The whole body must arrive within the request timeout: a client that trickles it
        // would otherwise hold its connection (and a descriptor) as long as it likes.
        let deadline = req
            .app_data::<crate::http::state::SharedState>()
            .map_or(std::time::Duration::from_secs(10), |state| {
                state.config.request_timeout
            });
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|len| len > limit) {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            let read = async {
                let mut body = actix_web::web::BytesMut::new();
                while let Some(chunk) = payload.next().await {
                    let chunk = chunk.map_err(|err| {
                        ApiError::BadRequest(format!("could not read the body: {err}"))
                    })?;
                    if body.len() + chunk.len() > limit {
                        return Err(ApiError::PayloadTooLarge { limit });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(Body(body.freeze()))
            };
            tokio::time::timeout(deadline, read)
                .await
                .map_err(|_| ApiError::BodyTimeout {
                    secs: deadline.as_secs(),
                })?
        })
    }
}

/// A JSON object body as `T`: 415 unless it is JSON, 400 unless it is an object (serde alone
/// would also read a struct from an array), 413 past the size limit.
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = Body::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move { parse_json(&req, &body.await?.0).map(JsonObject) })
    }
}

/// 415 unless the request says its body is JSON.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "the body must be JSON (Content-Type: application/json)".into(),
        ))
    }
}

pub fn parse_json<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    require_json(req)?;
    // serde would also read a struct from an array (`[5]`); our bodies are objects.
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|err| ApiError::BadRequest(format!("invalid JSON body: {err}")))
}

/// An optional JSON body: empty (or a JSON `null`) means `None`; anything else must be a
/// JSON object.
pub fn optional_json<T: DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<Option<T>, ApiError> {
    if body.trim_ascii() == b"null" || body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_json(req, body).map(Some)
}
