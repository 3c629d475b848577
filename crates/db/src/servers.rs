//! The `servers` table, which also holds each server's license.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::servers;
use crate::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = servers)]
pub struct ServerRow {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub license_key_hash: Vec<u8>,
    pub license_key_ciphertext: Vec<u8>,
    pub license_key_last4: String,
    pub license_status: String,
    pub grace_expires_at: Option<PrimitiveDateTime>,
    pub installed_version: Option<String>,
    pub last_heartbeat_at: Option<PrimitiveDateTime>,
    pub last_heartbeat_ip: Option<String>,
    pub license_issued_at: PrimitiveDateTime,
    pub license_rotated_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = servers)]
pub struct ServerInsertForm<'a> {
    pub owner_id: i64,
    pub name: &'a str,
    pub license_key_hash: &'a [u8],
    pub license_key_ciphertext: &'a [u8],
    pub license_key_last4: &'a str,
    pub license_status: &'a str,
    pub license_issued_at: PrimitiveDateTime,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// What the heartbeat needs to give a verdict, read fresh on every request.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = servers)]
pub struct LicenseCheckRow {
    pub id: i64,
    pub license_status: String,
    pub grace_expires_at: Option<PrimitiveDateTime>,
}

/// A new key for a license.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = servers)]
pub struct LicenseKeyForm<'a> {
    pub license_key_hash: &'a [u8],
    pub license_key_ciphertext: &'a [u8],
    pub license_key_last4: &'a str,
    pub license_rotated_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// A status change; `grace_expires_at: None` clears the column.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = servers, treat_none_as_null = true)]
pub struct LicenseStatusForm<'a> {
    pub license_status: &'a str,
    pub grace_expires_at: Option<PrimitiveDateTime>,
    pub updated_at: PrimitiveDateTime,
}

pub fn insert(conn: &mut DbConnection, form: &ServerInsertForm<'_>) -> Result<ServerRow, DbError> {
    let id: i64 = diesel::insert_into(servers::table)
        .values(form)
        .returning(servers::id)
        .get_result(conn)?;
    find(conn, id)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<ServerRow, DbError> {
    Ok(servers::table
        .find(id)
        .select(ServerRow::as_select())
        .first(conn)?)
}

/// Takes the write lock on one server for the rest of the transaction (a row lock on
/// PostgreSQL, the database write lock on SQLite) so that a read-decide-write sequence
/// cannot interleave with another admin's. Returns false when there is no such server.
pub fn lock(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    let touched = diesel::update(servers::table.find(id))
        .set(servers::updated_at.eq(servers::updated_at))
        .execute(conn)?;
    Ok(touched == 1)
}

pub fn list_by_owner(conn: &mut DbConnection, owner_id: i64) -> Result<Vec<ServerRow>, DbError> {
    Ok(servers::table
        .filter(servers::owner_id.eq(owner_id))
        .order(servers::id.asc())
        .select(ServerRow::as_select())
        .load(conn)?)
}

pub fn find_by_key_hash(
    conn: &mut DbConnection,
    hash: &[u8],
) -> Result<Option<LicenseCheckRow>, DbError> {
    Ok(servers::table
        .filter(servers::license_key_hash.eq(hash))
        .select(LicenseCheckRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn set_key(conn: &mut DbConnection, id: i64, form: &LicenseKeyForm<'_>) -> Result<(), DbError> {
    expect_one(
        diesel::update(servers::table.find(id))
            .set(form)
            .execute(conn)?,
    )
}

pub fn set_status(
    conn: &mut DbConnection,
    id: i64,
    form: &LicenseStatusForm<'_>,
) -> Result<(), DbError> {
    expect_one(
        diesel::update(servers::table.find(id))
            .set(form)
            .execute(conn)?,
    )
}

/// A license as the in-memory index holds it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = servers)]
pub struct LicenseIndexRow {
    pub id: i64,
    pub license_key_hash: Vec<u8>,
    pub license_status: String,
    pub grace_expires_at: Option<PrimitiveDateTime>,
}

pub fn count(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(servers::table.count().get_result(conn)?)
}

/// One page of every license, by id, for filling the index at start.
pub fn license_index_page(
    conn: &mut DbConnection,
    after_id: i64,
    limit: i64,
) -> Result<Vec<LicenseIndexRow>, DbError> {
    Ok(servers::table
        .filter(servers::id.gt(after_id))
        .order(servers::id.asc())
        .limit(limit)
        .select(LicenseIndexRow::as_select())
        .load(conn)?)
}

/// The last heartbeat a node saw from one server, waiting to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatWrite {
    pub server_id: i64,
    pub at: PrimitiveDateTime,
    pub version: String,
    pub ip: Option<String>,
}

/// Writes a batch of heartbeats; run it inside a transaction. Rows that no longer exist are
/// skipped. Deliberately leaves `updated_at` alone: it tracks admin changes.
pub fn record_heartbeats(
    conn: &mut DbConnection,
    writes: &[HeartbeatWrite],
) -> Result<(), DbError> {
    match conn {
        // In-process: one cached prepared UPDATE per row costs microseconds.
        DbConnection::Sqlite(_) => {
            for write in writes {
                record_heartbeat(
                    conn,
                    write.server_id,
                    write.at,
                    &write.version,
                    write.ip.as_deref(),
                )?;
            }
        }
        // One statement per chunk: a round trip per row would not keep up with 16 k/s.
        DbConnection::Postgres(pg) => {
            use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
            for chunk in writes.chunks(5000) {
                diesel::sql_query(
                    "UPDATE servers AS s SET last_heartbeat_at = v.at, \
                     installed_version = v.version, last_heartbeat_ip = v.ip \
                     FROM unnest($1::bigint[], $2::timestamp[], $3::text[], $4::text[]) \
                     AS v(id, at, version, ip) WHERE s.id = v.id",
                )
                .bind::<Array<BigInt>, _>(chunk.iter().map(|w| w.server_id).collect::<Vec<_>>())
                .bind::<Array<Timestamp>, _>(chunk.iter().map(|w| w.at).collect::<Vec<_>>())
                .bind::<Array<Text>, _>(
                    chunk.iter().map(|w| w.version.as_str()).collect::<Vec<_>>(),
                )
                .bind::<Array<Nullable<Text>>, _>(
                    chunk.iter().map(|w| w.ip.as_deref()).collect::<Vec<_>>(),
                )
                .execute(pg)?;
            }
        }
    }
    Ok(())
}

/// Records one heartbeat. Deliberately leaves `updated_at` alone: it tracks admin changes.
pub fn record_heartbeat(
    conn: &mut DbConnection,
    id: i64,
    at: PrimitiveDateTime,
    version: &str,
    ip: Option<&str>,
) -> Result<(), DbError> {
    diesel::update(servers::table.find(id))
        .set((
            servers::last_heartbeat_at.eq(at),
            servers::installed_version.eq(version),
            servers::last_heartbeat_ip.eq(ip),
        ))
        .execute(conn)?;
    Ok(())
}

/// Persists GRACE → EXPIRED for every window that has passed. Idempotent, so every node may
/// run it at once. Returns how many rows changed.
pub fn expire_passed_grace(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(servers::table)
        .filter(servers::license_status.eq("GRACE"))
        .filter(servers::grace_expires_at.le(now))
        .set((
            servers::license_status.eq("EXPIRED"),
            servers::updated_at.eq(now),
        ))
        .execute(conn)?)
}

fn expect_one(changed: usize) -> Result<(), DbError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(DbError::NotFound)
    }
}

/// Inserts many servers in one statement (see `users::insert_many`).
pub fn insert_many(
    conn: &mut DbConnection,
    forms: &[ServerInsertForm<'_>],
) -> Result<usize, DbError> {
    let query = diesel::insert_into(servers::table).values(forms);
    Ok(match conn {
        DbConnection::Sqlite(sqlite) => query.execute(sqlite)?,
        DbConnection::Postgres(pg) => query.execute(pg)?,
    })
}

/// The most recent heartbeat among each owner's servers, for the owners given.
pub fn last_heartbeat_by_owner(
    conn: &mut DbConnection,
    owner_ids: &[i64],
) -> Result<Vec<(i64, Option<PrimitiveDateTime>)>, DbError> {
    use diesel::dsl::max;
    Ok(servers::table
        .filter(servers::owner_id.eq_any(owner_ids))
        .group_by(servers::owner_id)
        .select((servers::owner_id, max(servers::last_heartbeat_at)))
        .load(conn)?)
}
