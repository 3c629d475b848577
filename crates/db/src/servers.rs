//! The `servers` table, which also holds each server's license.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::{server_heartbeats, servers};
use crate::{DbConnection, DbError};

pub mod list;

/// A server with its license and, once it has sent one, its last heartbeat.
#[derive(Debug, Clone)]
pub struct ServerRow {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub license_key_hash: Vec<u8>,
    pub license_key_ciphertext: Vec<u8>,
    pub license_key_last4: String,
    pub license_status: String,
    pub grace_expires_at: Option<PrimitiveDateTime>,
    pub license_issued_at: PrimitiveDateTime,
    pub license_rotated_at: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
    pub heartbeat: Option<HeartbeatRow>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = servers)]
struct ServerColumns {
    id: i64,
    owner_id: i64,
    name: String,
    license_key_hash: Vec<u8>,
    license_key_ciphertext: Vec<u8>,
    license_key_last4: String,
    license_status: String,
    grace_expires_at: Option<PrimitiveDateTime>,
    license_issued_at: PrimitiveDateTime,
    license_rotated_at: Option<PrimitiveDateTime>,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

/// The last heartbeat written for a server.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = server_heartbeats)]
pub struct HeartbeatRow {
    pub last_heartbeat_at: PrimitiveDateTime,
    pub installed_version: String,
    pub last_heartbeat_ip: Option<String>,
}

impl From<(ServerColumns, Option<HeartbeatRow>)> for ServerRow {
    fn from((s, heartbeat): (ServerColumns, Option<HeartbeatRow>)) -> Self {
        Self {
            id: s.id,
            owner_id: s.owner_id,
            name: s.name,
            license_key_hash: s.license_key_hash,
            license_key_ciphertext: s.license_key_ciphertext,
            license_key_last4: s.license_key_last4,
            license_status: s.license_status,
            grace_expires_at: s.grace_expires_at,
            license_issued_at: s.license_issued_at,
            license_rotated_at: s.license_rotated_at,
            created_at: s.created_at,
            updated_at: s.updated_at,
            heartbeat,
        }
    }
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
    let row: (ServerColumns, Option<HeartbeatRow>) = servers::table
        .left_join(server_heartbeats::table)
        .filter(servers::id.eq(id))
        .select((
            ServerColumns::as_select(),
            Option::<HeartbeatRow>::as_select(),
        ))
        .first(conn)?;
    Ok(row.into())
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

/// Renames a server; its license is untouched.
pub fn rename(
    conn: &mut DbConnection,
    id: i64,
    name: &str,
    at: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let touched = diesel::update(servers::table.find(id))
        .set((servers::name.eq(name), servers::updated_at.eq(at)))
        .execute(conn)?;
    Ok(touched == 1)
}

/// Deletes a server with its license. The change log names its key hash (a trigger), so
/// every node's index refuses the key at its next request; another trigger removes its
/// heartbeat row.
pub fn delete(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    let deleted = diesel::delete(servers::table.find(id)).execute(conn)?;
    Ok(deleted == 1)
}

pub fn list_by_owner(conn: &mut DbConnection, owner_id: i64) -> Result<Vec<ServerRow>, DbError> {
    let rows: Vec<(ServerColumns, Option<HeartbeatRow>)> = servers::table
        .left_join(server_heartbeats::table)
        .filter(servers::owner_id.eq(owner_id))
        .order(servers::id.asc())
        .select((
            ServerColumns::as_select(),
            Option::<HeartbeatRow>::as_select(),
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(ServerRow::from).collect())
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

/// A stored key as re-encryption sees it: `(id, key hash, key ciphertext)`.
pub type StoredCiphertext = (i64, Vec<u8>, Vec<u8>);

/// One page of stored keys after `after_id`, by id: what re-encrypting every stored key
/// walks through.
pub fn ciphertext_page(
    conn: &mut DbConnection,
    after_id: i64,
    limit: i64,
) -> Result<Vec<StoredCiphertext>, DbError> {
    Ok(servers::table
        .filter(servers::id.gt(after_id))
        .order(servers::id)
        .limit(limit)
        .select((
            servers::id,
            servers::license_key_hash,
            servers::license_key_ciphertext,
        ))
        .load(conn)?)
}

/// Replaces a stored key's ciphertext only; the key, and so the license index, is unchanged.
pub fn set_ciphertext(conn: &mut DbConnection, id: i64, ciphertext: &[u8]) -> Result<(), DbError> {
    expect_one(
        diesel::update(servers::table.find(id))
            .set(servers::license_key_ciphertext.eq(ciphertext))
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

/// The licenses whose key is one of `hashes` (a hash no license has is left out).
pub fn licenses_by_key_hashes(
    conn: &mut DbConnection,
    hashes: &[Vec<u8>],
) -> Result<Vec<LicenseIndexRow>, DbError> {
    let mut rows = Vec::new();
    for chunk in hashes.chunks(500) {
        rows.extend(
            servers::table
                .filter(servers::license_key_hash.eq_any(chunk))
                .select(LicenseIndexRow::as_select())
                .load(conn)?,
        );
    }
    Ok(rows)
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

/// Writes a batch of heartbeats in multi-row upserts; run it inside a transaction.
/// Deliberately leaves `servers.updated_at` alone: it tracks admin changes.
pub fn record_heartbeats(
    conn: &mut DbConnection,
    writes: &[HeartbeatWrite],
) -> Result<(), DbError> {
    use diesel::dsl::case_when;
    use diesel::upsert::excluded;
    // Four parameters a row; SQLite allows 32766 a statement.
    for chunk in writes.chunks(4000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|w| {
                (
                    server_heartbeats::server_id.eq(w.server_id),
                    server_heartbeats::last_heartbeat_at.eq(w.at),
                    server_heartbeats::installed_version.eq(w.version.as_str()),
                    server_heartbeats::last_heartbeat_ip.eq(w.ip.as_deref()),
                )
            })
            .collect();
        let newer =
            excluded(server_heartbeats::last_heartbeat_at).ge(server_heartbeats::last_heartbeat_at);
        let query = diesel::insert_into(server_heartbeats::table)
            .values(rows)
            .on_conflict(server_heartbeats::server_id)
            .do_update()
            // Nodes flush on their own schedules: a write older than the stored one is
            // stale and must not move the last heartbeat (or its version) back. (A WHERE on
            // the upsert would say it shorter; diesel does not build one for SQLite batches.)
            .set((
                server_heartbeats::last_heartbeat_at.eq(case_when(
                    newer,
                    excluded(server_heartbeats::last_heartbeat_at),
                )
                .otherwise(server_heartbeats::last_heartbeat_at)),
                server_heartbeats::installed_version.eq(case_when(
                    newer,
                    excluded(server_heartbeats::installed_version),
                )
                .otherwise(server_heartbeats::installed_version)),
                server_heartbeats::last_heartbeat_ip.eq(case_when(
                    newer,
                    excluded(server_heartbeats::last_heartbeat_ip),
                )
                .otherwise(server_heartbeats::last_heartbeat_ip)),
                // A newer heartbeat ends an offline spell; the trigger writes `came_online`.
                server_heartbeats::offline_since.eq(case_when(
                    newer,
                    None::<PrimitiveDateTime>
                        .into_sql::<diesel::sql_types::Nullable<diesel::sql_types::Timestamp>>(),
                )
                .otherwise(server_heartbeats::offline_since)),
            ));
        match conn {
            DbConnection::Sqlite(sqlite) => query.execute(sqlite)?,
            DbConnection::Postgres(pg) => query.execute(pg)?,
        };
    }
    Ok(())
}

/// Licenses per stored status, with GRACE rows whose window has passed by `now` counted as
/// EXPIRED (the sweep may not have stored it yet): what a verdict would say.
pub fn count_by_status(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
) -> Result<Vec<(String, i64)>, DbError> {
    let mut counts: Vec<(String, i64)> = servers::table
        .group_by(servers::license_status)
        .select((servers::license_status, diesel::dsl::count_star()))
        .load(conn)?;
    // A GRACE without an end (only a hand edit makes one) is EXPIRED, as a verdict says.
    let ended: i64 = servers::table
        .filter(servers::license_status.eq("GRACE"))
        .filter(
            servers::grace_expires_at
                .is_null()
                .or(servers::grace_expires_at.le(now)),
        )
        .count()
        .get_result(conn)?;
    if ended > 0 {
        for (status, count) in &mut counts {
            match status.as_str() {
                "GRACE" => *count -= ended,
                "EXPIRED" => *count += ended,
                _ => {}
            }
        }
        if !counts.iter().any(|(status, _)| status == "EXPIRED") {
            counts.push(("EXPIRED".into(), ended));
        }
    }
    Ok(counts)
}

/// GRACE windows ending after `now` and at or before `until`, soonest first:
/// `(server_id, name, owner's username, grace_expires_at)`.
pub fn grace_ending(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    until: PrimitiveDateTime,
    limit: i64,
) -> Result<Vec<(i64, String, String, PrimitiveDateTime)>, DbError> {
    use crate::schema::users;
    Ok(servers::table
        .inner_join(users::table)
        .filter(servers::license_status.eq("GRACE"))
        .filter(servers::grace_expires_at.gt(now))
        .filter(servers::grace_expires_at.le(until))
        // The index's own order, so the first `limit` end the scan (a tie-breaker on id made
        // PostgreSQL read and sort every window: 249 ms for 10,000 at 1 M, now 0.5 ms).
        .order(servers::grace_expires_at.asc())
        .limit(limit)
        .select((
            servers::id,
            servers::name,
            users::username,
            servers::grace_expires_at.assume_not_null(),
        ))
        .load(conn)?)
}

/// Persists GRACE → EXPIRED for every window that has passed. Idempotent, so every node may
/// run it at once. Returns how many rows changed.
pub fn expire_passed_grace(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
) -> Result<Vec<i64>, DbError> {
    Ok(diesel::update(servers::table)
        .filter(servers::license_status.eq("GRACE"))
        .filter(servers::grace_expires_at.le(now))
        .set((
            servers::license_status.eq("EXPIRED"),
            servers::updated_at.eq(now),
        ))
        .returning(servers::id)
        .get_results(conn)?)
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
        .inner_join(server_heartbeats::table)
        .filter(servers::owner_id.eq_any(owner_ids))
        .group_by(servers::owner_id)
        .select((servers::owner_id, max(server_heartbeats::last_heartbeat_at)))
        .load(conn)?)
}
