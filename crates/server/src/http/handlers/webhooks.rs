use actix_web::{HttpResponse, delete, get, patch, post, web};
use pulsekey_types::{
    CreateWebhookRequest, DeliveryState, ErrorBody, Scope, UpdateWebhookRequest, WebhookAttempt,
    WebhookAttemptPage, WebhookEventType, WebhookList, WebhookView, WebhookWithSecret,
};
use serde::Deserialize;

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::webhooks;

/// Refuses a URL whose address webhooks may not reach, before anything is stored.
async fn check_url(state: &SharedState, url: &str) -> Result<(), ApiError> {
    let url = webhooks::address::validate_url(url)?;
    crate::webhooks::check_destination(&url, state.config.webhook_allow_private)
        .await
        .map_err(|refused| ApiError::Validation(format!("url: {refused}")))
}

/// Webhook endpoints, newest first (never their secrets).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhooks",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "Every endpoint", body = WebhookList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
    ),
)]
#[get("/webhooks")]
pub async fn list_webhooks(
    state: SharedState,
    principal: Principal,
) -> Result<web::Json<WebhookList>, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    let rows = state
        .read(|conn| Ok(pulsekey_db::webhooks::list(conn)?))
        .await?;
    Ok(web::Json(WebhookList {
        items: rows.iter().map(webhooks::webhook_view).collect(),
    }))
}

/// Register an endpoint. Its signing secret is in this answer and nowhere else, ever (a
/// new one can be had with `rotate-secret`).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body = CreateWebhookRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "Created; `secret` is shown this once", body = WebhookWithSecret),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 422, description = "Invalid field, or a URL whose address is not public", body = ErrorBody),
    ),
)]
#[post("/webhooks")]
pub async fn create_webhook(
    state: SharedState,
    principal: Principal,
    body: super::JsonObject<CreateWebhookRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    check_url(&state, &body.url).await?;
    let data_key = state.secrets.data_key.clone();
    let (webhook, secret) = state
        .act(principal.actor(), move |tx| {
            webhooks::create_webhook(tx, &data_key, &body)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(WebhookWithSecret {
            webhook,
            secret: secret.to_text(),
        }))
}

#[utoipa::path(
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ),
)]
#[get("/webhooks/{id}")]
pub async fn get_webhook(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<web::Json<WebhookView>, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    let id = id.into_inner();
    let row = state.read(move |conn| webhooks::find(conn, id)).await?;
    Ok(web::Json(webhooks::webhook_view(&row)))
}

/// Change an endpoint. `enabled: true` on a disabled one resumes its waiting deliveries.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "update_webhook",
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhookRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The endpoint as changed", body = WebhookView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 422, description = "Invalid field, or a URL whose address is not public", body = ErrorBody),
    ),
)]
#[patch("/webhooks/{id}")]
pub async fn update_webhook(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
    body: super::JsonObject<UpdateWebhookRequest>,
) -> Result<web::Json<WebhookView>, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    if let Some(url) = &body.url {
        check_url(&state, url).await?;
    }
    let id = id.into_inner();
    let view = state
        .act(principal.actor(), move |tx| {
            webhooks::update_webhook(tx, id, &body)
        })
        .await?;
    Ok(web::Json(view))
}

/// Delete an endpoint with its deliveries.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ),
)]
#[delete("/webhooks/{id}")]
pub async fn delete_webhook(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    let id = id.into_inner();
    state
        .act(principal.actor(), move |tx| {
            webhooks::delete_webhook(tx, id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new signing secret, shown this once. The previous one keeps signing beside it for
/// 24 hours (each delivery then carries both signatures), so receivers switch without
/// losing one.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The new secret, shown this once", body = WebhookWithSecret),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ),
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    let id = id.into_inner();
    let data_key = state.secrets.data_key.clone();
    let (webhook, secret) = state
        .act(principal.actor(), move |tx| {
            webhooks::rotate_secret(tx, &data_key, id)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(WebhookWithSecret {
            webhook,
            secret: secret.to_text(),
        }))
}

/// The answer to `POST /api/v1/webhooks/{id}/test`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestSent {
    /// The `webhook-id` the receiver will see.
    pub event_id: String,
}

/// Send a `webhook.test` event to this endpoint now (its outcome appears among the
/// deliveries).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "test_webhook",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 202, description = "Queued, due now", body = TestSent),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
    ),
)]
#[post("/webhooks/{id}/test")]
pub async fn test_webhook(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    let id = id.into_inner();
    let event_id = state
        .act(principal.actor(), move |tx| webhooks::send_test(tx, id))
        .await?;
    Ok(HttpResponse::Accepted().json(TestSent { event_id }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListAttemptsQuery {
    /// `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
}

/// An endpoint's delivery attempts, newest first: each with its event, its answer (or
/// why there was none), and where its delivery stands now.
#[utoipa::path(
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = i64, Path, description = "Webhook id"), ListAttemptsQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of attempts", body = WebhookAttemptPage),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 404, description = "No such webhook", body = ErrorBody),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody),
    ),
)]
#[get("/webhooks/{id}/deliveries")]
pub async fn list_webhook_deliveries(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
    query: web::Query<ListAttemptsQuery>,
) -> Result<web::Json<WebhookAttemptPage>, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    let id = id.into_inner();
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Validation("limit must be 1–200".into()));
    }
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| ApiError::Validation("cursor is not one this list gave".into()))?,
        ),
    };
    let rows = state
        .read(move |conn| {
            webhooks::find(conn, id)?;
            Ok(pulsekey_db::webhooks::attempts(
                conn,
                id,
                before,
                limit + 1,
            )?)
        })
        .await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<WebhookAttempt> = rows
        .into_iter()
        .take(limit as usize)
        .map(|row| WebhookAttempt {
            id: row.id,
            delivery_id: row.delivery_id,
            event_id: row.msg_id,
            event_type: WebhookEventType::parse(&row.event_type)
                .unwrap_or(WebhookEventType::WebhookTest),
            at: pulsekey_db::from_stored(row.at),
            status_code: row.status_code.and_then(|c| u16::try_from(c).ok()),
            error: row.error,
            duration_ms: u64::try_from(row.duration_ms).unwrap_or(0),
            response_head: row.response_head,
            state: match row.state.as_str() {
                pulsekey_db::webhooks::DELIVERED => DeliveryState::Delivered,
                pulsekey_db::webhooks::FAILED => DeliveryState::Failed,
                _ => DeliveryState::Pending,
            },
            next_attempt_at: row.next_attempt_at.map(pulsekey_db::from_stored),
        })
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|last| last.id.to_string()))
        .flatten();
    Ok(web::Json(WebhookAttemptPage { items, next_cursor }))
}

/// Try a delivery again now, its retry schedule started over (also one that gave up).
#[utoipa::path(
    tag = "webhooks",
    operation_id = "retry_webhook_delivery",
    params(
        ("id" = i64, Path, description = "Webhook id"),
        ("deliveryId" = i64, Path, description = "Delivery id, from the deliveries list"),
    ),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 202, description = "Due now"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `webhooks:write`)", body = ErrorBody),
        (status = 404, description = "No such webhook or delivery", body = ErrorBody),
    ),
)]
#[post("/webhooks/{id}/deliveries/{deliveryId}/retry")]
pub async fn retry_webhook_delivery(
    state: SharedState,
    principal: Principal,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::WebhooksWrite)?;
    let (id, delivery_id) = path.into_inner();
    state
        .act(principal.actor(), move |tx| {
            webhooks::retry_delivery(tx, id, delivery_id)
        })
        .await?;
    Ok(HttpResponse::Accepted().finish())
}
