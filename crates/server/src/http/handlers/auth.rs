use actix_web::{HttpRequest, HttpResponse, get, post, web};
use pulsekey_types::{ChangePasswordRequest, ErrorBody, LoginRequest, LoginResponse, UserView};

use crate::http::auth::{Principal, Via, encode_session, expired_session_cookie, session_cookie};
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::{accounts, sign_in};

/// Waits out an account's slow-down, or refuses while the address is locked out: the one
/// budget of wrong passwords that sign-in and a password change share.
async fn pass_sign_in_gate(
    state: &SharedState,
    account: &str,
    address: &str,
) -> Result<(), ApiError> {
    let limits = sign_in::Limits {
        per_account: state.config.login_failures_per_account.into(),
        per_address: state.config.login_failures_per_address.into(),
    };
    let (account, at) = (account.to_owned(), address.to_owned());
    let counts = state
        .read(move |conn| sign_in::counts(conn, &account, &at, pulsekey_db::now()))
        .await?;
    match sign_in::gate(limits, &counts, pulsekey_db::now()) {
        sign_in::Gate::Closed { retry_after_secs } => {
            Err(ApiError::SignInLocked { retry_after_secs })
        }
        sign_in::Gate::Open { delay } => {
            if delay.is_positive() {
                tokio::time::sleep(delay.unsigned_abs()).await;
            }
            Ok(())
        }
    }
}

/// Sign in. Returns a bearer token for API clients and sets the same session in an
/// HttpOnly cookie for the web app.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong username or password (one answer for both), or the right password of a disabled account", body = ErrorBody),
        (status = 422, description = "An empty username or password (not counted as a failure)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address (for this account, or in all); see Retry-After. An account failing from many addresses is slowed, not shut", body = ErrorBody),
    ),
)]
#[post("/auth/login")]
pub async fn login(
    state: SharedState,
    req: HttpRequest,
    body: super::JsonObject<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.into_inner();
    sign_in::check_filled(&username, &password)?;
    let ip =
        crate::http::net::client_ip(&req, &state.config.trusted_proxies).map(|ip| ip.to_string());
    let address = ip.clone().unwrap_or_else(|| "unknown".into());
    pass_sign_in_gate(&state, &username, &address).await?;
    let signed_in = state
        // Who acts is known only once the password is checked: the attempt names its actor.
        .act(Default::default(), move |tx| {
            sign_in::attempt(tx, &username, &password, &address, ip)
        })
        .await?;
    let (user, session_id, expires_at) = signed_in.map_err(|refusal| match refusal {
        sign_in::Refusal::WrongCredentials => ApiError::WrongCredentials,
        sign_in::Refusal::Disabled => ApiError::AccountDisabled,
    })?;
    let user = accounts::view(&user);
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

/// Change one's own password, proving the current one. Every other session of the user ends;
/// the one asking stays signed in. A wrong current password counts against the same limits as
/// a failed sign-in. Audited as `user.password.change` (or `user.password.change.failed`).
#[utoipa::path(
    tag = "auth",
    operation_id = "change_password",
    request_body = ChangePasswordRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Changed; other sessions ended"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "An API token cannot change a password", body = ErrorBody),
        (status = 422, description = "The current password is wrong, or the new one is too short or too long", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords from this address; see Retry-After", body = ErrorBody),
    ),
)]
#[post("/auth/password")]
pub async fn change_password(
    state: SharedState,
    req: HttpRequest,
    principal: Principal,
    body: super::JsonObject<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let kept = match &principal.via {
        Via::Session { session_id } => session_id.clone(),
        Via::Token { .. } => {
            return Err(ApiError::Forbidden(
                "an API token cannot change a password; sign in to change it".into(),
            ));
        }
    };
    let ChangePasswordRequest {
        current_password,
        new_password,
    } = body.into_inner();
    let address = crate::http::net::client_ip(&req, &state.config.trusted_proxies)
        .map_or_else(|| "unknown".into(), |ip| ip.to_string());
    pass_sign_in_gate(&state, &principal.username, &address).await?;
    let user_id = principal.user_id;
    state
        .act(principal.actor(), move |tx| {
            sign_in::change_own_password(
                tx,
                user_id,
                &current_password,
                &new_password,
                &address,
                Some(&kept),
            )
        })
        .await?
        .map_err(|_| ApiError::Validation("the current password is wrong".into()))?;
    Ok(HttpResponse::NoContent().finish())
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
    let user = state.read(move |conn| accounts::get_user(conn, id)).await?;
    Ok(web::Json(user))
}
