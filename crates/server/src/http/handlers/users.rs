use actix_web::{HttpResponse, get, patch, post, web};
use pulsekey_types::{
    CreateUserRequest, ErrorBody, Role, Scope, ServerList, UpdateUserRequest, UserList, UserSort,
    UserView,
};
use serde::Deserialize;

use crate::http::auth::Principal;
use crate::http::error::ApiError;
use crate::http::state::SharedState;
use pulsekey_core::accounts::{self, NewUser, UserChanges};
use pulsekey_core::audit;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Only users of this role.
    role: Option<Role>,
    /// Case-insensitive part of the username or email.
    q: Option<String>,
    /// `id` (default, newest first) or `username` (A to Z, whatever its case).
    sort: Option<UserSort>,
    /// `nextCursor` of the previous page, asked with the same filters and sort.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<i64>,
}

/// Users, newest first or by username, by keyset pages.
#[utoipa::path(
    tag = "users",
    operation_id = "list_users",
    params(ListUsersQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "One page of users", body = UserList),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `read`)", body = ErrorBody),
        (status = 422, description = "Bad cursor or limit", body = ErrorBody),
    ),
)]
#[get("/users")]
pub async fn list_users(
    state: SharedState,
    principal: Principal,
    query: web::Query<ListUsersQuery>,
) -> Result<web::Json<UserList>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let ListUsersQuery {
        role,
        q,
        sort,
        cursor,
        limit,
    } = query.into_inner();
    let sort = sort.unwrap_or_default();
    let page = state
        .read(move |conn| accounts::list_users(conn, role, q, sort, cursor.as_deref(), limit))
        .await?;
    Ok(web::Json(page))
}

/// Create a user.
#[utoipa::path(
    tag = "users",
    operation_id = "create_user",
    request_body = CreateUserRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `users:write`)", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid field", body = ErrorBody),
    ),
)]
#[post("/users")]
pub async fn create_user(
    state: SharedState,
    principal: Principal,
    body: super::JsonObject<CreateUserRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require_admin(Scope::UsersWrite)?;
    let actor = principal.actor();
    let user = state
        .blocking(move |db| {
            // Hashed before the transaction: argon2 must not hold the write lock.
            let new_user = NewUser::prepare(&body)?;
            Ok(audit::act(db, &actor, |tx| {
                accounts::create_user(tx, &new_user)
            })?)
        })
        .await?;
    Ok(HttpResponse::Created().json(user))
}

/// One user.
#[utoipa::path(
    tag = "users",
    operation_id = "get_user",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
#[get("/users/{id}")]
pub async fn get_user(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<web::Json<UserView>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let id = id.into_inner();
    Ok(web::Json(
        state.read(move |conn| accounts::get_user(conn, id)).await?,
    ))
}

/// Change a user: any of username, email, role, disabled, password. Disabling a user or
/// changing their password ends their sessions at once.
#[utoipa::path(
    tag = "users",
    operation_id = "update_user",
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUserRequest,
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin (or a token without `users:write`)", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 409, description = "Username taken", body = ErrorBody),
        (status = 422, description = "Invalid field, or the change would leave no enabled admin", body = ErrorBody),
    ),
)]
#[patch("/users/{id}")]
pub async fn update_user(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
    body: super::JsonObject<UpdateUserRequest>,
) -> Result<web::Json<UserView>, ApiError> {
    principal.require_admin(Scope::UsersWrite)?;
    let id = id.into_inner();
    let actor = principal.actor();
    let user = state
        .blocking(move |db| {
            // Hashed before the transaction: argon2 must not hold the write lock.
            let changes = UserChanges::prepare(&body)?;
            Ok(audit::act(db, &actor, |tx| {
                accounts::update_user(tx, id, &changes)
            })?)
        })
        .await?;
    Ok(web::Json(user))
}

/// The servers a customer owns, each with its license card.
#[utoipa::path(
    tag = "users",
    operation_id = "list_user_servers",
    params(("id" = i64, Path, description = "User id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "The user's servers", body = ServerList),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
)]
#[get("/users/{id}/servers")]
pub async fn list_user_servers(
    state: SharedState,
    principal: Principal,
    id: web::Path<i64>,
) -> Result<web::Json<ServerList>, ApiError> {
    principal.require_admin(Scope::Read)?;
    let id = id.into_inner();
    let interval = state.config.heartbeat_interval_secs;
    let list = state
        .read(move |conn| pulsekey_core::servers::list_for_owner(conn, id, interval))
        .await?;
    Ok(web::Json(list))
}
