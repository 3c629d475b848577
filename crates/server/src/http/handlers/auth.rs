use actix_web::{HttpRequest, HttpResponse, get, post, web};
use pulsekey_types::{
    ChangePasswordRequest, ErrorBody, LoginAnswer, LoginRequest, LoginResponse, MfaChallenge,
    MfaLoginRequest, UserView,
};

use crate::http::auth::{
    Principal, Via, decode_mfa_token, encode_mfa_token, encode_session, expired_session_cookie,
    session_cookie,
};
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::{accounts, sign_in};

/// Waits out an account's slow-down, or refuses while the address is locked out: the one
/// budget of wrong passwords that sign-in and a password change share.
pub(super) async fn pass_sign_in_gate(
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

/// Where a request comes from: its address (behind trusted proxies, the forwarded one) and
/// its user agent, bounded, for the sessions list.
pub(super) fn client_of(state: &SharedState, req: &HttpRequest) -> sign_in::Client {
    const MAX_USER_AGENT: usize = 256;
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| {
            ua.chars()
                .filter(|c| !c.is_control())
                .take(MAX_USER_AGENT)
                .collect()
        })
        .filter(|ua: &String| !ua.is_empty());
    sign_in::Client {
        ip: crate::http::net::client_ip(req, &state.config.trusted_proxies)
            .map(|ip| ip.to_string()),
        user_agent,
    }
}

/// The gate's and the counters' name for an address the server could not read.
pub(super) fn address_of(client: &sign_in::Client) -> String {
    client.ip.clone().unwrap_or_else(|| "unknown".into())
}

fn signed_in_response(
    state: &SharedState,
    (user, session_id, expires_at): sign_in::SignedIn,
    totp_enabled: bool,
) -> Result<HttpResponse, ApiError> {
    let mut user = accounts::view(&user);
    user.totp_enabled = totp_enabled;
    let token = encode_session(&state.secrets.jwt_secret, user.id, &session_id, expires_at)?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&token, state.config.secure_cookies))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(LoginAnswer::SignedIn(LoginResponse {
            token,
            expires_at,
            user,
        })))
}

fn refusal(refusal: sign_in::Refusal) -> ApiError {
    match refusal {
        sign_in::Refusal::WrongCredentials => ApiError::WrongCredentials,
        sign_in::Refusal::Disabled => ApiError::AccountDisabled,
    }
}

/// Sign in. Returns a bearer token for API clients and sets the same session in an
/// HttpOnly cookie for the web app; or, for a user with a second factor, `{mfaRequired,
/// mfaToken}` to finish at `POST /api/v1/auth/login/mfa`.
#[utoipa::path(
    tag = "auth",
    operation_id = "login",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in (`LoginResponse`), or the password was right and a second factor is needed (`MfaChallenge`)", body = LoginAnswer),
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
    let client = client_of(&state, &req);
    let address = address_of(&client);
    pass_sign_in_gate(&state, &username, &address).await?;
    let accepted = state
        // Who acts is known only once the password is checked: the attempt names its actor.
        .act(Default::default(), move |tx| {
            sign_in::attempt(tx, &username, &password, &address, &client)
        })
        .await?
        .map_err(refusal)?;
    match accepted {
        sign_in::PasswordAccepted::SignedIn(signed_in) => {
            signed_in_response(&state, signed_in, false)
        }
        sign_in::PasswordAccepted::SecondFactorNeeded(user) => {
            let mfa_token = encode_mfa_token(&state.secrets.jwt_secret, user.id)?;
            Ok(HttpResponse::Ok()
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                .json(LoginAnswer::MfaRequired(MfaChallenge {
                    mfa_required: true,
                    mfa_token,
                })))
        }
    }
}

/// The second step of signing in: the `mfaToken` from `POST /api/v1/auth/login` (good for 5
/// minutes) and a code from the authenticator app or a recovery code. A code is good once; a
/// wrong one counts against the same limits as a wrong password.
#[utoipa::path(
    tag = "auth",
    operation_id = "login_mfa",
    request_body = MfaLoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginAnswer),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "A wrong, used or replayed code; or the `mfaToken` expired (enter the password again); or the account was disabled meanwhile", body = ErrorBody),
        (status = 422, description = "An empty code (not counted as a failure)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts from this address; see Retry-After", body = ErrorBody),
    ),
)]
#[post("/auth/login/mfa")]
pub async fn login_mfa(
    state: SharedState,
    req: HttpRequest,
    body: super::JsonObject<MfaLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let MfaLoginRequest { mfa_token, code } = body.into_inner();
    let user_id =
        decode_mfa_token(&state.secrets.jwt_secret, &mfa_token).ok_or(ApiError::MfaTokenInvalid)?;
    let client = client_of(&state, &req);
    let address = address_of(&client);
    let username = state
        .read(move |conn| Ok(pulsekey_db::users::find(conn, user_id)?.username))
        .await?;
    pass_sign_in_gate(&state, &username, &address).await?;
    let data_key = state.secrets.data_key.clone();
    let signed_in = state
        .act(Default::default(), move |tx| {
            sign_in::finish_with_second_factor(tx, &data_key, user_id, &code, &address, &client)
        })
        .await?
        .map_err(refusal)?;
    signed_in_response(&state, signed_in, true)
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
    let address = address_of(&client_of(&state, &req));
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
