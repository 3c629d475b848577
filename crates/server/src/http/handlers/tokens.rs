use actix_web::{HttpResponse, delete, get, post, web};
use pulsekey_types::{CreateTokenRequest, CreatedToken, ErrorBody, TokenList};

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::tokens;

/// Integrator tokens (never their secrets).
#[utoipa::path(
    tag = "tokens",
    operation_id = "list_tokens",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "All tokens, newest first", body = TokenList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin's session", body = ErrorBody),
    ),
)]
#[get("/tokens")]
pub async fn list_tokens(
    state: SharedState,
    principal: Principal,
) -> Result<web::Json<TokenList>, ApiError> {
    principal.require_admin_session()?;
    let rows = state
        .read(|conn| Ok(pulsekey_db::tokens::list(conn)?))
        .await?;
    Ok(web::Json(TokenList {
        items: rows.iter().map(tokens::view).collect(),
    }))
}

/// Create an integrator token. Its plaintext is in this answer and nowhere else, ever.
#[utoipa::path(
    tag = "tokens",
    operation_id = "create_token",
    request_body = CreateTokenRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "Created; `token` is shown this once", body = CreatedToken),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin's session", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
)]
#[post("/tokens")]
pub async fn create_token(
    state: SharedState,
    principal: Principal,
    body: super::JsonObject<CreateTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin_session()?;
    let actor = principal.actor();
    let owner = principal.user_id;
    let (token, view) = state
        .act(actor, move |tx| tokens::create(tx, owner, &body))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(CreatedToken { token, view }))
}

/// Revoke a token; it stops working at once.
#[utoipa::path(
    tag = "tokens",
    operation_id = "revoke_token",
    params(("id" = i64, Path, description = "Token id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 204, description = "Revoked (or already was)"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin's session", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    ),
)]
#[delete("/tokens/{id}")]
pub async fn revoke_token(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin_session()?;
    let actor = principal.actor();
    let id = id.into_inner();
    state.act(actor, move |tx| tokens::revoke(tx, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}
