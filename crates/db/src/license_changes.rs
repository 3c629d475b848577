//! The change log the triggers of `servers` fill (see the migration), read by each node's
//! license index to drop the keys whose verdict changed.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::license_changes;
use crate::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = license_changes)]
pub struct LicenseChange {
    pub rev: i64,
    pub server_id: i64,
    /// The key hash the row had before the change.
    pub key_hash: Vec<u8>,
}

/// Changes after revision `rev`, oldest first, at most `limit`.
pub fn since(conn: &mut DbConnection, rev: i64, limit: i64) -> Result<Vec<LicenseChange>, DbError> {
    Ok(license_changes::table
        .filter(license_changes::rev.gt(rev))
        .order(license_changes::rev.asc())
        .limit(limit)
        .select(LicenseChange::as_select())
        .load(conn)?)
}

/// The newest revision, 0 when nothing ever changed (or all of it was pruned away).
pub fn latest(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(license_changes::table
        .select(diesel::dsl::max(license_changes::rev))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Forgets changes logged before `before`, keeping the newest row whatever its age so the
/// revision never appears to go back. A node that slept through a pruned stretch notices
/// the gap and starts its index over.
pub fn prune(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    let newest = latest(conn)?;
    Ok(diesel::delete(
        license_changes::table
            .filter(license_changes::at.lt(before))
            .filter(license_changes::rev.lt(newest)),
    )
    .execute(conn)?)
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    data_version: i64,
}

/// SQLite's `PRAGMA data_version` for this connection: it changes whenever another
/// connection, in any process, has committed since this one last asked, and answering it
/// reads no pages. `None` on PostgreSQL, which has nothing like it.
pub fn sqlite_data_version(conn: &mut DbConnection) -> Result<Option<i64>, DbError> {
    match conn {
        DbConnection::Sqlite(sqlite) => Ok(Some(
            diesel::sql_query("PRAGMA data_version")
                .get_result::<DataVersion>(sqlite)?
                .data_version,
        )),
        DbConnection::Postgres(_) => Ok(None),
    }
}
