//! The `sessions` table: one row per sign-in, named by the JWT's `sid`.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::{sessions, users};
use crate::users::UserRow;
use crate::{DbConnection, DbError};

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionInsertForm<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub created_at: PrimitiveDateTime,
    pub expires_at: PrimitiveDateTime,
}

pub fn insert(conn: &mut DbConnection, form: &SessionInsertForm<'_>) -> Result<(), DbError> {
    diesel::insert_into(sessions::table)
        .values(form)
        .execute(conn)?;
    Ok(())
}

/// The user behind a live session: not revoked, not expired at `now`.
pub fn find_live_user(
    conn: &mut DbConnection,
    session_id: &str,
    now: PrimitiveDateTime,
) -> Result<Option<UserRow>, DbError> {
    Ok(sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(session_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
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
pub fn revoke_others_of_user(
    conn: &mut DbConnection,
    user_id: i64,
    kept: &str,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::update(sessions::table)
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::id.ne(kept))
        .filter(sessions::revoked_at.is_null())
        .set(sessions::revoked_at.eq(now))
        .execute(conn)?;
    Ok(())
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
