//! The `sessions` table: one row per sign-in, named by the JWT's `sid`.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::{sessions, totp_factors, users};
use crate::users::UserRow;
use crate::{DbConnection, DbError};

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionInsertForm<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    pub last_used_at: PrimitiveDateTime,
    pub address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A session as its owner sees it on the Security page.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub id: String,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
    pub last_used_at: Option<PrimitiveDateTime>,
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// A live session's user, when it was last used, and whether the user has a confirmed
/// second factor (what a policy requiring one asks).
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub user: UserRow,
    pub last_used_at: Option<PrimitiveDateTime>,
    pub second_factor: bool,
}

pub fn insert(conn: &mut DbConnection, form: &SessionInsertForm<'_>) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values(form)
        .execute(conn)?;
    Ok(())
}

/// The user behind a live session: not revoked, not expired at `now`.
pub fn find_live(
    conn: &mut DbConnection,
    session_id: &str,
    now: PrimitiveDateTime,
) -> Result<Option<LiveSession>, DbError> {
    let found: Option<(
        UserRow,
        Option<PrimitiveDateTime>,
        Option<PrimitiveDateTime>,
    )> = sessions::table
        .inner_join(users::table.left_join(totp_factors::table))
        .filter(sessions::id.eq(session_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select((
            UserRow::as_select(),
            sessions::last_used_at,
            totp_factors::confirmed_at.nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(|(user, last_used_at, confirmed)| LiveSession {
        user,
        last_used_at,
        second_factor: confirmed.is_some(),
    }))
}

/// Marks a session used at `now` (the caller writes it at most once a minute).
pub fn touch(
    conn: &mut DbConnection,
    session_id: &str,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::update(sessions::table.find(session_id))
        .set(sessions::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// A user's live sessions, the most recently used first.
pub fn live_of_user(
    conn: &mut DbConnection,
    user_id: i64,
    now: PrimitiveDateTime,
) -> Result<Vec<SessionRow>, DbError> {
    Ok(sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order((sessions::last_used_at.desc(), sessions::created_at.desc()))
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// Ends one live session of a user: false when the user has no such live session.
pub fn revoke_of_user(
    conn: &mut DbConnection,
    user_id: i64,
    session_id: &str,
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let ended = diesel::update(sessions::table.find(session_id))
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
    Ok(ended == 1)
}

pub fn revoke(
    conn: &mut DbConnection,
    session_id: &str,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::update(sessions::table.find(session_id))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Ends every session of a user but `kept` (their own password change ends the others).
/// Returns how many ended.
pub fn revoke_others_of_user(
    conn: &mut DbConnection,
    user_id: i64,
    kept: &str,
    now: PrimitiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::id.ne(kept))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?)
}

/// Ends every session of a user (disabled, or password changed).
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: i64,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
    Ok(())
}
