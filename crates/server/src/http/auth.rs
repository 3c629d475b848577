//! Who is calling: a session (JWT in `Authorization: Bearer` or the web app's HttpOnly
//! cookie) or an integrator token (`pkt_…`), checked against the database on every request
//! so that logout, disabling a user and revoking a token take effect at once.
//!
//! The web app's cookie is `SameSite=Strict`, and a cookie-authenticated request with an
//! unsafe method must also carry `X-Pulsekey-Csrf: 1`, a header no cross-site form can send
//! and no cross-origin script may send without a CORS grant (none is given).

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pulsekey_db::{sessions, users::UserRow};
use pulsekey_types::{Role, Scope};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::http::error::ApiError;
use crate::http::state::AppState;
use pulsekey_core::audit::Actor;
use pulsekey_core::tokens::{self, TOKEN_PREFIX};

pub const SESSION_COOKIE: &str = "pulsekey_session";
pub const CSRF_HEADER: &str = "x-pulsekey-csrf";
/// The one algorithm accepted: a token naming any other (`none` included) is refused.
const ALGORITHM: Algorithm = Algorithm::HS256;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
}

pub fn encode_session(
    secret: &[u8],
    user_id: i64,
    session_id: &str,
    expires_at: OffsetDateTime,
) -> Result<String, ApiError> {
    let claims = Claims {
        sub: user_id.to_string(),
        sid: session_id.to_owned(),
        iat: OffsetDateTime::now_utc().unix_timestamp(),
        exp: expires_at.unix_timestamp(),
    };
    let key = EncodingKey::from_secret(secret)
        .map_err(|err| ApiError::Internal(format!("bad JWT secret: {err}")))?;
    jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &key)
        .map_err(|err| ApiError::Internal(format!("cannot sign session: {err}")))
}

/// The session id a valid token names; `None` for anything forged, expired or malformed.
fn decode_session(secret: &[u8], token: &str) -> Option<(i64, String)> {
    let mut validation = Validation::new(ALGORITHM);
    validation.leeway = 5;
    validation.set_required_spec_claims(&["exp", "sub"]);
    let key = DecodingKey::from_secret(secret).ok()?;
    let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).ok()?;
    Some((data.claims.sub.parse().ok()?, data.claims.sid))
}

/// The audience of the short-lived token between a right password and its second factor: a
/// session token has none, and each decoder requires its own shape, so neither passes for
/// the other.
const MFA_AUDIENCE: &str = "pulsekey-mfa";
/// How long a person has to type their code after their password.
pub const MFA_TOKEN_LIFETIME: time::Duration = time::Duration::minutes(5);

#[derive(Debug, Serialize, Deserialize)]
struct MfaClaims {
    sub: String,
    aud: String,
    iat: i64,
    exp: i64,
}

/// A token naming `user_id`, whose password was right, for [`MFA_TOKEN_LIFETIME`].
pub fn encode_mfa_token(secret: &[u8], user_id: i64) -> Result<String, ApiError> {
    let now = OffsetDateTime::now_utc();
    let claims = MfaClaims {
        sub: user_id.to_string(),
        aud: MFA_AUDIENCE.to_owned(),
        iat: now.unix_timestamp(),
        exp: (now + MFA_TOKEN_LIFETIME).unix_timestamp(),
    };
    let key = EncodingKey::from_secret(secret)
        .map_err(|err| ApiError::Internal(format!("bad JWT secret: {err}")))?;
    jsonwebtoken::encode(&Header::new(ALGORITHM), &claims, &key)
        .map_err(|err| ApiError::Internal(format!("cannot sign the sign-in step: {err}")))
}

/// The user a valid, unexpired MFA token names.
pub fn decode_mfa_token(secret: &[u8], token: &str) -> Option<i64> {
    let mut validation = Validation::new(ALGORITHM);
    validation.leeway = 5;
    validation.set_required_spec_claims(&["exp", "sub", "aud"]);
    validation.set_audience(&[MFA_AUDIENCE]);
    let key = DecodingKey::from_secret(secret).ok()?;
    let data = jsonwebtoken::decode::<MfaClaims>(token, &key, &validation).ok()?;
    data.claims.sub.parse().ok()
}

pub fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(actix_web::cookie::time::Duration::seconds(
            pulsekey_core::accounts::SESSION_LIFETIME.whole_seconds(),
        ))
        .finish()
}

pub fn expired_session_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = session_cookie("", secure);
    cookie.make_removal();
    cookie
}

#[derive(Debug, Clone)]
pub enum Via {
    Session { session_id: String },
    Token { token_id: i64, scopes: Vec<Scope> },
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: i64,
    pub username: String,
    pub role: Role,
    pub via: Via,
    pub ip: Option<String>,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user_id),
            username: Some(self.username.clone()),
            token_id: match self.via {
                Via::Token { token_id, .. } => Some(token_id),
                Via::Session { .. } => None,
            },
            ip: self.ip.clone(),
        }
    }

    /// Admin routes: an admin's session, or a token holding `scope`.
    pub fn require_admin(&self, scope: Scope) -> Result<(), ApiError> {
        if self.role != Role::Admin {
            return Err(ApiError::Forbidden("this needs an admin".into()));
        }
        match &self.via {
            Via::Session { .. } => Ok(()),
            Via::Token { scopes, .. } if scopes.contains(&scope) => Ok(()),
            Via::Token { .. } => Err(ApiError::Forbidden(format!(
                "this token lacks the {} scope",
                scope.as_str()
            ))),
        }
    }

    /// Routes for people at the web app only (token management, for one).
    pub fn require_admin_session(&self) -> Result<(), ApiError> {
        self.require_admin(Scope::Read)?;
        match self.via {
            Via::Session { .. } => Ok(()),
            Via::Token { .. } => Err(ApiError::Forbidden(
                "integrator tokens cannot manage tokens".into(),
            )),
        }
    }

    /// Customer routes: a customer's own session. Returns the customer's id.
    pub fn require_customer(&self) -> Result<i64, ApiError> {
        match (self.role, &self.via) {
            (Role::Customer, Via::Session { .. }) => Ok(self.user_id),
            _ => Err(ApiError::Forbidden("this is for customers".into())),
        }
    }
}

enum Credential {
    Session(String),
    Token(String),
}

fn credential(req: &HttpRequest) -> Result<Credential, ApiError> {
    if let Some(header) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let token = pulsekey_core::heartbeat::input::presented_key(Some(header.as_bytes()));
        if token.is_empty() {
            return Err(ApiError::Unauthorized);
        }
        return Ok(if token.starts_with(TOKEN_PREFIX) {
            Credential::Token(token.to_owned())
        } else {
            Credential::Session(token.to_owned())
        });
    }
    let cookie = req.cookie(SESSION_COOKIE).ok_or(ApiError::Unauthorized)?;
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method
        && req
            .headers()
            .get(CSRF_HEADER)
            .is_none_or(|v| v.as_bytes() != b"1")
    {
        return Err(ApiError::Forbidden(
            "cookie-authenticated requests that change state need the X-Pulsekey-Csrf: 1 header"
                .into(),
        ));
    }
    Ok(Credential::Session(cookie.value().to_owned()))
}

/// What someone who must enrol a second factor may still reach: enough to see who they are,
/// enrol, and leave.
fn open_before_enrolment(path: &str) -> bool {
    matches!(
        path,
        "/api/v1/auth/me"
            | "/api/v1/auth/logout"
            | "/api/v1/auth/totp"
            | "/api/v1/auth/totp/confirm"
            | "/api/v1/settings"
    )
}

fn principal_of(user: &UserRow, via: Via, ip: Option<String>) -> Option<Principal> {
    (!user.disabled).then(|| Principal {
        user_id: user.id,
        username: user.username.clone(),
        role: Role::parse(&user.role).unwrap_or(Role::Customer),
        via,
        ip,
    })
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let credential = credential(req);
        let path = req.path().to_owned();
        let ip = state
            .as_ref()
            .and_then(|s| crate::http::net::client_ip(req, &s.config.trusted_proxies))
            .map(|ip| ip.to_string());
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("no app state".into()))?;
            match credential? {
                Credential::Session(jwt) => {
                    let (user_id, session_id) = decode_session(&state.secrets.jwt_secret, &jwt)
                        .ok_or(ApiError::Unauthorized)?;
                    let sid = session_id.clone();
                    let live = state
                        .blocking(move |db| {
                            let mut conn = db.conn()?;
                            let now = pulsekey_db::now();
                            let live = sessions::find_live(&mut conn, &sid, now)?;
                            if live.as_ref().is_some_and(|live| {
                                pulsekey_core::sessions::due_for_touch(live.last_used_at, now)
                            }) {
                                sessions::touch(&mut conn, &sid, now)?;
                            }
                            Ok(live)
                        })
                        .await?
                        .filter(|live| live.user.id == user_id)
                        .ok_or(ApiError::Unauthorized)?;
                    let principal = principal_of(&live.user, Via::Session { session_id }, ip)
                        .ok_or(ApiError::Unauthorized)?;
                    if !live.second_factor
                        && state.config.require_2fa.applies_to(principal.role)
                        && !open_before_enrolment(&path)
                    {
                        return Err(ApiError::SecondFactorRequired);
                    }
                    Ok(principal)
                }
                Credential::Token(secret) => {
                    let (token, owner) = state
                        .blocking(move |db| {
                            let mut conn = db.conn()?;
                            Ok(tokens::authenticate(&mut conn, &secret)?)
                        })
                        .await?
                        .ok_or(ApiError::Unauthorized)?;
                    let via = Via::Token {
                        token_id: token.id,
                        scopes: tokens::parse_scopes(&token.scopes),
                    };
                    principal_of(&owner, via, ip).ok_or(ApiError::Unauthorized)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn round_trip_and_rejections() {
        let exp = OffsetDateTime::now_utc() + time::Duration::hours(1);
        let token = encode_session(SECRET, 7, "sid", exp).unwrap();
        assert_eq!(decode_session(SECRET, &token), Some((7, "sid".to_owned())));
        assert_eq!(
            decode_session(b"another-secret-another-secret-xx", &token),
            None
        );
        let expired = encode_session(
            SECRET,
            7,
            "sid",
            OffsetDateTime::now_utc() - time::Duration::hours(1),
        )
        .unwrap();
        assert_eq!(decode_session(SECRET, &expired), None);
        assert_eq!(decode_session(SECRET, "not.a.jwt"), None);
    }

    #[test]
    fn alg_none_is_refused() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let exp = OffsetDateTime::now_utc().unix_timestamp() + 3600;
        let claims = b64.encode(format!(r#"{{"sub":"1","sid":"s","iat":0,"exp":{exp}}}"#));
        assert_eq!(decode_session(SECRET, &format!("{header}.{claims}.")), None);
    }
}
