//! The `totp_factors` and `recovery_codes` tables: each user's second factor.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::{recovery_codes, totp_factors};
use crate::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = totp_factors)]
pub struct TotpRow {
    pub user_id: i64,
    pub secret_ciphertext: Vec<u8>,
    pub confirmed_at: Option<PrimitiveDateTime>,
    pub last_step: i64,
    pub created_at: PrimitiveDateTime,
}

pub fn find(conn: &mut DbConnection, user_id: i64) -> Result<Option<TotpRow>, DbError> {
    Ok(totp_factors::table
        .find(user_id)
        .select(TotpRow::as_select())
        .first(conn)
        .optional()?)
}

/// Starts an enrolment: replaces an unconfirmed factor, if any, with this secret. The
/// caller has checked that no confirmed factor exists.
pub fn begin(
    conn: &mut DbConnection,
    user_id: i64,
    secret_ciphertext: &[u8],
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(totp_factors::table.find(user_id))
        .filter(totp_factors::confirmed_at.is_null())
        .execute(conn)?;
    diesel::insert_into(totp_factors::table)
        .values((
            totp_factors::user_id.eq(user_id),
            totp_factors::secret_ciphertext.eq(secret_ciphertext),
            totp_factors::last_step.eq(0),
            totp_factors::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes time step `step` as used, if no later or equal step was: true when it was free.
/// One conditional UPDATE, so two nodes given the same code cannot both accept it.
pub fn take_step(conn: &mut DbConnection, user_id: i64, step: i64) -> Result<bool, DbError> {
    let taken = diesel::update(totp_factors::table.find(user_id))
        .filter(totp_factors::last_step.lt(step))
        .set(totp_factors::last_step.eq(step))
        .execute(conn)?;
    Ok(taken == 1)
}

pub fn confirm(
    conn: &mut DbConnection,
    user_id: i64,
    now: PrimitiveDateTime,
) -> Result<(), DbError> {
    diesel::update(totp_factors::table.find(user_id))
        .set(totp_factors::confirmed_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Removes the factor and every recovery code. True when there was a factor.
pub fn remove(conn: &mut DbConnection, user_id: i64) -> Result<bool, DbError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    let removed = diesel::delete(totp_factors::table.find(user_id)).execute(conn)?;
    Ok(removed == 1)
}

/// Of `user_ids`, those with a confirmed factor.
pub fn confirmed_among(conn: &mut DbConnection, user_ids: &[i64]) -> Result<Vec<i64>, DbError> {
    Ok(totp_factors::table
        .filter(totp_factors::user_id.eq_any(user_ids))
        .filter(totp_factors::confirmed_at.is_not_null())
        .select(totp_factors::user_id)
        .load(conn)?)
}

/// Replaces a user's recovery codes with these digests.
pub fn replace_recovery_codes(
    conn: &mut DbConnection,
    user_id: i64,
    code_hashes: &[[u8; 32]],
) -> Result<(), DbError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    // One statement per code: the two backends share no batch-insert form (ten rows).
    for hash in code_hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash.as_slice()),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Spends the unused recovery code with this digest: true when there was one. A
/// conditional UPDATE, so a code is spent once however many ask at the same moment.
pub fn spend_recovery_code(
    conn: &mut DbConnection,
    user_id: i64,
    code_hash: &[u8; 32],
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let spent = diesel::update(recovery_codes::table)
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::code_hash.eq(code_hash.as_slice()))
        .filter(recovery_codes::used_at.is_null())
        .set(recovery_codes::used_at.eq(now))
        .execute(conn)?;
    Ok(spent == 1)
}

pub fn unused_recovery_codes(conn: &mut DbConnection, user_id: i64) -> Result<i64, DbError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}
