//! The `server_events` table: what happened to each installation. Triggers on the
//! heartbeat bookkeeping write it (see its migration); this module reads and prunes it,
//! and hands the new events to webhooks once (`relayed`).

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::server_events;
use crate::{DbConnection, DbError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = server_events)]
pub struct ServerEventRow {
    pub id: i64,
    pub server_id: i64,
    pub at: PrimitiveDateTime,
    pub kind: String,
    /// A JSON object.
    pub data: String,
}

/// One server's events, newest first, those before `before_id` when given.
pub fn list(
    conn: &mut DbConnection,
    server_id: i64,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<ServerEventRow>, DbError> {
    let mut select = server_events::table
        .filter(server_events::server_id.eq(server_id))
        .select(ServerEventRow::as_select())
        .into_boxed();
    if let Some(before) = before_id {
        select = select.filter(server_events::id.lt(before));
    }
    Ok(select
        .order(server_events::id.desc())
        .limit(limit)
        .load(conn)?)
}

/// Deletes events from before `before`; returns how many.
pub fn prune(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(server_events::table.filter(server_events::at.lt(before))).execute(conn)?)
}

/// Up to `limit` events not yet handed to webhooks, oldest first, claimed for the caller's
/// transaction: on PostgreSQL another node's relay skips them, on SQLite writers take
/// turns.
pub fn claim_unrelayed(
    conn: &mut DbConnection,
    limit: i64,
) -> Result<Vec<ServerEventRow>, DbError> {
    use diesel::sql_types::BigInt;
    let select = "SELECT id, server_id, at, kind, data FROM server_events \
                  WHERE NOT relayed ORDER BY id LIMIT";
    Ok(match conn {
        DbConnection::Postgres(pg) => {
            diesel::sql_query(format!("{select} $1 FOR UPDATE SKIP LOCKED"))
                .bind::<BigInt, _>(limit)
                .load(pg)?
        }
        DbConnection::Sqlite(sqlite) => diesel::sql_query(format!("{select} ?"))
            .bind::<BigInt, _>(limit)
            .load(sqlite)?,
    })
}

/// Whether any event waits to be relayed: a read, so that an idle node need not take
/// SQLite's write lock to learn there is none.
pub fn any_unrelayed(conn: &mut DbConnection) -> Result<bool, DbError> {
    let waiting = server_events::table.filter(server_events::relayed.eq(false));
    Ok(diesel::select(diesel::dsl::exists(waiting)).get_result(conn)?)
}

pub fn mark_relayed(conn: &mut DbConnection, ids: &[i64]) -> Result<(), DbError> {
    diesel::update(server_events::table.filter(server_events::id.eq_any(ids)))
        .set(server_events::relayed.eq(true))
        .execute(conn)?;
    Ok(())
}
