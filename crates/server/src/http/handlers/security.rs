//! A signed-in person's own security: their second factor and their sessions; and the admin
//! reset of someone else's second factor.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use pulsekey_types::{ErrorBody, RecoveryCodes, SessionList, TotpCode, TotpEnrolment};

use super::auth::{address_of, client_of, pass_sign_in_gate};
use crate::http::auth::{Principal, Via};
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::{second_factor, sessions};

/// The session asking: these routes are for people, not integrator tokens.
fn own_session(principal: &Principal, what: &str) -> Result<String, ApiError> {
    match &principal.via {
        Via::Session { session_id } => Ok(session_id.clone()),
        Via::Token { .. } => Err(ApiError::Forbidden(format!(
            "an API token cannot {what}; sign in to do it"
        ))),
    }
}

fn wrong_code(_: pulsekey_core::sign_in::Refusal) -> ApiError {
    ApiError::Validation(
        "that code is not right (or was already used); check that your device's clock is \
         correct and try the next code"
            .into(),
    )
}

/// Start enrolling a second factor (TOTP): a new secret and the `otpauth://` URI for an
/// authenticator app. Nothing changes for sign-in until `POST /api/v1/auth/totp/confirm`.
/// Starting again replaces a secret not yet confirmed.
#[utoipa::path(
    tag = "auth",
    operation_id = "begin_totp_enrolment",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The secret, shown this once", body = TotpEnrolment),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An API token cannot enrol a second factor", body = ErrorBody),
        (status = 409, description = "A second factor is already on", body = ErrorBody),
    ),
)]
#[post("/auth/totp")]
pub async fn begin_totp_enrolment(
    state: SharedState,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    own_session(&principal, "enrol a second factor")?;
    let data_key = state.secrets.data_key.clone();
    let user_id = principal.user_id;
    let enrolment = state
        .act(principal.actor(), move |tx| {
            second_factor::begin_enrolment(tx, &data_key, user_id)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(TotpEnrolment {
            secret: enrolment.secret,
            otpauth_uri: enrolment.otpauth_uri,
        }))
}

/// Turn the second factor on with a first code from the app. Answers ten recovery codes,
/// shown once. Every other session of the user ends.
#[utoipa::path(
    tag = "auth",
    operation_id = "confirm_totp",
    request_body = TotpCode,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "On; the recovery codes, shown this once", body = RecoveryCodes),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An API token cannot enrol a second factor", body = ErrorBody),
        (status = 409, description = "A second factor is already on", body = ErrorBody),
        (status = 422, description = "A wrong code, or no enrolment started", body = ErrorBody),
        (status = 429, description = "Too many wrong codes or passwords from this address; see Retry-After", body = ErrorBody),
    ),
)]
#[post("/auth/totp/confirm")]
pub async fn confirm_totp(
    state: SharedState,
    req: HttpRequest,
    principal: Principal,
    // Read raw and parsed after the caller is known: a bad body must not answer before a
    // missing session does.
    body: super::Body,
) -> Result<HttpResponse, ApiError> {
    let kept = own_session(&principal, "enrol a second factor")?;
    let TotpCode { code } = super::parse_json(&req, &body.0)?;
    let address = address_of(&client_of(&state, &req));
    pass_sign_in_gate(&state, &principal.username, &address).await?;
    let data_key = state.secrets.data_key.clone();
    let user_id = principal.user_id;
    let recovery_codes = state
        .act(principal.actor(), move |tx| {
            second_factor::confirm_enrolment(tx, &data_key, user_id, &code, &address, Some(&kept))
        })
        .await?
        .map_err(wrong_code)?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(RecoveryCodes { recovery_codes }))
}

/// Turn one's own second factor off, proved by a code from the app or a recovery code.
/// Every other session of the user ends.
#[utoipa::path(
    tag = "auth",
    operation_id = "disable_totp",
    request_body = TotpCode,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Off; other sessions ended"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An API token cannot change a second factor", body = ErrorBody),
        (status = 404, description = "No second factor is on", body = ErrorBody),
        (status = 422, description = "A wrong or used code", body = ErrorBody),
        (status = 429, description = "Too many wrong codes or passwords from this address; see Retry-After", body = ErrorBody),
    ),
)]
#[delete("/auth/totp")]
pub async fn disable_totp(
    state: SharedState,
    req: HttpRequest,
    principal: Principal,
    body: super::Body,
) -> Result<HttpResponse, ApiError> {
    let kept = own_session(&principal, "change a second factor")?;
    let TotpCode { code } = super::parse_json(&req, &body.0)?;
    let address = address_of(&client_of(&state, &req));
    pass_sign_in_gate(&state, &principal.username, &address).await?;
    let data_key = state.secrets.data_key.clone();
    let user_id = principal.user_id;
    state
        .act(principal.actor(), move |tx| {
            second_factor::disable(tx, &data_key, user_id, &code, &address, Some(&kept))
        })
        .await?
        .map_err(wrong_code)?;
    Ok(HttpResponse::NoContent().finish())
}

/// Clear another user's second factor (a lost phone and lost recovery codes). Every session
/// of that user ends; they sign in with their password until they enrol again. An admin's
/// session only: not an integrator token.
#[utoipa::path(
    tag = "users",
    operation_id = "reset_user_totp",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Cleared; the user's sessions ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin's session", body = ErrorBody),
        (status = 404, description = "No such user, or no second factor", body = ErrorBody),
        (status = 422, description = "One's own: turn it off on the Security page with a code", body = ErrorBody),
    ),
)]
#[delete("/users/{id}/totp")]
pub async fn reset_user_totp(
    state: SharedState,
    principal: Principal,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin_session()?;
    let user_id = path.into_inner();
    if user_id == principal.user_id {
        return Err(ApiError::Validation(
            "that is your own second factor: turn it off on the Security page, with a code".into(),
        ));
    }
    state
        .act(principal.actor(), move |tx| {
            second_factor::reset(tx, user_id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's live sessions: when each began and was last used, from where, in what.
#[utoipa::path(
    tag = "auth",
    operation_id = "list_sessions",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The caller's sessions, the most recently used first", body = SessionList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An API token has no sessions", body = ErrorBody),
    ),
)]
#[get("/auth/sessions")]
pub async fn list_sessions(
    state: SharedState,
    principal: Principal,
) -> Result<web::Json<SessionList>, ApiError> {
    let current = own_session(&principal, "list sessions")?;
    let user_id = principal.user_id;
    let list = state
        .read(move |conn| sessions::list_own(conn, user_id, &current))
        .await?;
    Ok(web::Json(list))
}

/// End one of the caller's sessions (the current one too: that is signing out).
#[utoipa::path(
    tag = "auth",
    operation_id = "end_session",
    params(("id" = String, Path, description = "Session id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An API token has no sessions", body = ErrorBody),
        (status = 404, description = "No such live session of the caller", body = ErrorBody),
    ),
)]
#[delete("/auth/sessions/{id}")]
pub async fn end_session(
    state: SharedState,
    principal: Principal,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    own_session(&principal, "end sessions")?;
    let user_id = principal.user_id;
    let session_id = path.into_inner();
    state
        .act(principal.actor(), move |tx| {
            sessions::end_own(tx, user_id, &session_id)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// End every session of the caller but the one asking.
#[utoipa::path(
    tag = "auth",
    operation_id = "end_other_sessions",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Every other session ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An API token has no sessions", body = ErrorBody),
    ),
)]
#[delete("/auth/sessions")]
pub async fn end_other_sessions(
    state: SharedState,
    principal: Principal,
) -> Result<HttpResponse, ApiError> {
    let kept = own_session(&principal, "end sessions")?;
    let user_id = principal.user_id;
    state
        .act(principal.actor(), move |tx| {
            sessions::end_others(tx, user_id, &kept)
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
