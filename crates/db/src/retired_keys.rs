//! The `retired_keys` table: key hashes a regenerate replaced, with their server. A trigger
//! on `servers` writes it (see its migration); this module reads and prunes.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::retired_keys;
use crate::{DbConnection, DbError};

/// `(key_hash, server_id)` of keys retired at or after `since`, after `after_hash` in hash
/// order, at most `limit`: pages for filling the index.
pub fn page(
    conn: &mut DbConnection,
    since: PrimitiveDateTime,
    after_hash: &[u8],
    limit: i64,
) -> Result<Vec<(Vec<u8>, i64)>, DbError> {
    Ok(retired_keys::table
        .filter(retired_keys::retired_at.ge(since))
        .filter(retired_keys::key_hash.gt(after_hash))
        .order(retired_keys::key_hash.asc())
        .limit(limit)
        .select((retired_keys::key_hash, retired_keys::server_id))
        .load(conn)?)
}

/// The server a retired key belonged to, if it was retired at or after `since`.
pub fn find(
    conn: &mut DbConnection,
    key_hash: &[u8],
    since: PrimitiveDateTime,
) -> Result<Option<i64>, DbError> {
    Ok(retired_keys::table
        .filter(retired_keys::key_hash.eq(key_hash))
        .filter(retired_keys::retired_at.ge(since))
        .select(retired_keys::server_id)
        .first(conn)
        .optional()?)
}

/// `(key_hash, server_id)` of those of `key_hashes` that were retired at or after `since`.
pub fn find_many(
    conn: &mut DbConnection,
    key_hashes: &[Vec<u8>],
    since: PrimitiveDateTime,
) -> Result<Vec<(Vec<u8>, i64)>, DbError> {
    let mut found = Vec::new();
    for chunk in key_hashes.chunks(500) {
        found.extend(
            retired_keys::table
                .filter(retired_keys::key_hash.eq_any(chunk))
                .filter(retired_keys::retired_at.ge(since))
                .select((retired_keys::key_hash, retired_keys::server_id))
                .load::<(Vec<u8>, i64)>(conn)?,
        );
    }
    Ok(found)
}

/// Forgets keys retired before `before`; returns how many.
pub fn prune(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(retired_keys::table.filter(retired_keys::retired_at.lt(before)))
            .execute(conn)?,
    )
}
