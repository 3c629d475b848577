//! The `api_tokens` table: integrator tokens, stored as SHA-256 hashes.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::api_tokens;
use crate::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct TokenRow {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub prefix: String,
    pub token_hash: Vec<u8>,
    /// Space-separated scope names.
    pub scopes: String,
    pub created_at: PrimitiveDateTime,
    pub last_used_at: Option<PrimitiveDateTime>,
    pub expires_at: Option<PrimitiveDateTime>,
    pub revoked_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = api_tokens)]
pub struct TokenInsertForm<'a> {
    pub owner_id: i64,
    pub name: &'a str,
    pub prefix: &'a str,
    pub token_hash: &'a [u8],
    pub scopes: &'a str,
    pub created_at: PrimitiveDateTime,
    pub expires_at: Option<PrimitiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, form: &TokenInsertForm<'_>) -> Result<TokenRow, DbError> {
    let id: i64 = diesel::insert_into(api_tokens::table)
        .values(form)
        .returning(api_tokens::id)
        .get_result(conn)?;
    Ok(api_tokens::table
        .find(id)
        .select(TokenRow::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<TokenRow>, DbError> {
    Ok(api_tokens::table
        .order(api_tokens::id.desc())
        .select(TokenRow::as_select())
        .load(conn)?)
}

pub fn find_by_hash(conn: &mut DbConnection, hash: &[u8]) -> Result<Option<TokenRow>, DbError> {
    Ok(api_tokens::table
        .filter(api_tokens::token_hash.eq(hash))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes a token; false when there is no such token or it was revoked already.
pub fn revoke(conn: &mut DbConnection, id: i64, now: PrimitiveDateTime) -> Result<bool, DbError> {
    let changed = diesel::update(api_tokens::table.find(id))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(now))
        .execute(conn)?;
    Ok(changed == 1)
}

/// Revokes every live token a user owns (disabled or demoted: the tokens must not come
/// back with a later re-enable). Returns how many were revoked.
pub fn revoke_all_for_owner(
    conn: &mut DbConnection,
    owner_id: i64,
    now: PrimitiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(api_tokens::table)
        .filter(api_tokens::owner_id.eq(owner_id))
        .filter(api_tokens::revoked_at.is_null())
        .set(api_tokens::revoked_at.eq(now))
        .execute(conn)?)
}

pub fn exists(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    let found: Option<i64> = api_tokens::table
        .find(id)
        .select(api_tokens::id)
        .first(conn)
        .optional()?;
    Ok(found.is_some())
}

pub fn touch_last_used(
    conn: &mut DbConnection,
    id: i64,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::update(api_tokens::table.find(id))
        .set(api_tokens::last_used_at.eq(now))
        .execute(conn)?;
    Ok(())
}
