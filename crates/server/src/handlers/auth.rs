use actix_web::{HttpRequest, HttpResponse, get, post, web};
use pulsekey_types::{ErrorBody, LoginRequest, LoginResponse, UserView};
use serde_json::json;

use crate::auth::{Principal, Via, encode_session, expired_session_cookie, session_cookie};
use crate::domain::accounts;
use crate::domain::audit::{self, Actor};
use crate::error::ApiError;
use crate::state::SharedState;

/// Sign in. Returns a bearer token for API clients and sets the same session in an
/// HttpOnly cookie for the web app.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong username or password (one answer for both)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = ErrorBody),
    ),
)]
#[post("/auth/login")]
pub async fn login(
    state: SharedState,
    req: HttpRequest,
    body: super::JsonObject<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    let ip = crate::net::client_ip(&req, &state.config.trusted_proxies).map(|ip| ip.to_string());
    let account_key = format!("user:{}", username.to_lowercase());
    let address_key = format!("ip:{}", ip.as_deref().unwrap_or("unknown"));
    for key in [&account_key, &address_key] {
        let limiter = if key.starts_with("user:") {
            &state.login_by_account
        } else {
            &state.login_by_address
        };
        limiter
            .check(key)
            .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
    }
    let attempt = username.clone();
    let audit_ip = ip.clone();
    let signed_in = state
        .blocking(move |db| {
            let mut conn = db.conn()?;
            let Some(user) = accounts::check_credentials(&mut conn, &attempt, &password)? else {
                let actor = Actor {
                    ip: audit_ip,
                    ..Actor::default()
                };
                audit::record(
                    &mut conn,
                    &actor,
                    "auth.login.failed",
                    None,
                    json!({ "username": attempt }),
                )?;
                return Ok(None);
            };
            let (session_id, expires_at) = accounts::start_session(&mut conn, user.id)?;
            let actor = Actor {
                user_id: Some(user.id),
                username: Some(user.username.clone()),
                token_id: None,
                ip: audit_ip,
            };
            audit::record(&mut conn, &actor, "auth.login", None, json!({}))?;
            Ok(Some((accounts::view(&user), session_id, expires_at)))
        })
        .await?;
    let Some((user, session_id, expires_at)) = signed_in else {
        state.login_by_account.record_failure(&account_key);
        state.login_by_address.record_failure(&address_key);
        return Err(ApiError::Unauthorized);
    };
    state.login_by_account.clear(&account_key);
    let token = encode_session(&state.secrets.jwt_secret, user.id, &session_id, expires_at)?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&token, state.config.secure_cookies))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(LoginResponse {
            token,
            expires_at,
            user,
        }))
}

/// Sign out: the session's token stops working at once, wherever it was copied.
#[utoipa::path(
    tag = "auth",
    operation_id = "logout",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
)]
#[post("/auth/logout")]
pub async fn logout(state: SharedState, principal: Principal) -> Result<HttpResponse, ApiError> {
    if let Via::Session { session_id } = principal.via {
        state
            .blocking(move |db| {
                Ok(pulsekey_db::sessions::revoke(
                    &mut *db.conn()?,
                    &session_id,
                    pulsekey_db::now(),
                )?)
            })
            .await?;
    }
    Ok(HttpResponse::NoContent()
        .cookie(expired_session_cookie(state.config.secure_cookies))
        .finish())
}

/// The signed-in user.
#[utoipa::path(
    tag = "auth",
    operation_id = "get_me",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The current user", body = UserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
)]
#[get("/auth/me")]
pub async fn me(state: SharedState, principal: Principal) -> Result<web::Json<UserView>, ApiError> {
    let id = principal.user_id;
    let user = state
        .blocking(move |db| Ok(accounts::get_user(&mut *db.conn()?, id)?))
        .await?;
    Ok(web::Json(user))
}
