//! The `server_events` table: what happened to each installation. Triggers on the
//! heartbeat bookkeeping write it (see its migration); this module only reads and prunes.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::server_events;
use crate::{DbConnection, DbError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
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
