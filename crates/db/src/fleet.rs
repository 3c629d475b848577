//! The fleet as a whole: the census of heartbeat bookkeeping, the `went_offline`
//! transitions, and `fleet_samples`, one row per sampling period for the whole cluster.

use diesel::dsl::{case_when, count_star, sum};
use diesel::prelude::*;
use diesel::sql_types::Integer;
use time::PrimitiveDateTime;

use crate::schema::{fleet_samples, server_events, server_heartbeats, servers};
use crate::{DbConnection, DbError};

/// What the heartbeat bookkeeping says of the fleet at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatCensus {
    /// Installations heard from at all.
    pub heard: i64,
    pub online: i64,
    pub late: i64,
    /// Every installation's last reported version with its count, most installed first.
    pub versions: Vec<(String, i64)>,
}

/// Counts connections and versions in one pass over the bookkeeping (it has no index but its
/// key, so that flushes stay cheap: this is a scan, run once a sample).
/// `online_since` and `late_since` are the instants a heartbeat must be at or after.
pub fn heartbeat_census(
    conn: &mut DbConnection,
    online_since: PrimitiveDateTime,
    late_since: PrimitiveDateTime,
) -> Result<HeartbeatCensus, DbError> {
    let at = server_heartbeats::last_heartbeat_at;
    let rows: Vec<(String, i64, Option<i64>, Option<i64>)> = server_heartbeats::table
        .group_by(server_heartbeats::installed_version)
        .select((
            server_heartbeats::installed_version,
            count_star(),
            sum(case_when(at.ge(online_since), 1.into_sql::<Integer>())
                .otherwise(0.into_sql::<Integer>())),
            sum(case_when(
                at.lt(online_since).and(at.ge(late_since)),
                1.into_sql::<Integer>(),
            )
            .otherwise(0.into_sql::<Integer>())),
        ))
        .load(conn)?;
    let mut census = HeartbeatCensus::default();
    for (version, count, online, late) in rows {
        census.heard += count;
        census.online += online.unwrap_or(0);
        census.late += late.unwrap_or(0);
        census.versions.push((version, count));
    }
    census
        .versions
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(census)
}

/// Servers whose last heartbeat came before `before` and that have not been marked offline
/// since: `(server_id, last_heartbeat_at)`.
pub fn newly_offline(
    conn: &mut DbConnection,
    before: PrimitiveDateTime,
) -> Result<Vec<(i64, PrimitiveDateTime)>, DbError> {
    Ok(server_heartbeats::table
        .filter(server_heartbeats::offline_since.is_null())
        .filter(server_heartbeats::last_heartbeat_at.lt(before))
        // The flush's order, so the marking and a flush never wait on each other in a cycle.
        .order(server_heartbeats::server_id.asc())
        .select((
            server_heartbeats::server_id,
            server_heartbeats::last_heartbeat_at,
        ))
        .load(conn)?)
}

/// Marks one server offline since `since` and, with `event`, writes its `went_offline`,
/// unless it was heard from since `silent_before` (a newer heartbeat flushed meanwhile) or is
/// marked already (then nothing is written and `false` is returned). Run it inside a
/// transaction. The read `last_heartbeat_at` goes into the event only: on SQLite the stored
/// text of a time written by hand may differ from diesel's for the same instant, so the row
/// is matched by the threshold, as `newly_offline` found it.
pub fn mark_offline(
    conn: &mut DbConnection,
    server_id: i64,
    last_heartbeat_at: PrimitiveDateTime,
    silent_before: PrimitiveDateTime,
    since: PrimitiveDateTime,
    event: bool,
) -> Result<bool, DbError> {
    let changed = diesel::update(
        server_heartbeats::table
            .filter(server_heartbeats::server_id.eq(server_id))
            .filter(server_heartbeats::offline_since.is_null())
            .filter(server_heartbeats::last_heartbeat_at.lt(silent_before)),
    )
    .set(server_heartbeats::offline_since.eq(since))
    .execute(conn)?;
    if changed == 0 {
        return Ok(false);
    }
    if !event {
        return Ok(true);
    }
    let data = serde_json::json!({ "lastHeartbeatAt": crate::from_stored(last_heartbeat_at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default() });
    diesel::insert_into(server_events::table)
        .values((
            server_events::server_id.eq(server_id),
            server_events::at.eq(since),
            server_events::kind.eq("went_offline"),
            server_events::data.eq(data.to_string()),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Deletes the heartbeat rows of these servers if the servers are gone: a flush that lands
/// just after a delete writes one back (see `server_heartbeats`). Returns the ids deleted.
pub fn delete_stray_heartbeats(
    conn: &mut DbConnection,
    server_ids: &[i64],
) -> Result<Vec<i64>, DbError> {
    let present: Vec<i64> = servers::table
        .filter(servers::id.eq_any(server_ids))
        .select(servers::id)
        .load(conn)?;
    let stray: Vec<i64> = server_ids
        .iter()
        .copied()
        .filter(|id| !present.contains(id))
        .collect();
    if !stray.is_empty() {
        diesel::delete(
            server_heartbeats::table.filter(server_heartbeats::server_id.eq_any(&stray)),
        )
        .execute(conn)?;
    }
    Ok(stray)
}

/// One use of a key a regenerate replaced, for the `old_key_used` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldKeyUse {
    pub server_id: i64,
    pub at: PrimitiveDateTime,
    pub key_last4: String,
    pub ip: Option<String>,
}

/// Writes `old_key_used` events, skipping servers deleted meanwhile. Run it inside a
/// transaction.
pub fn record_old_key_uses(conn: &mut DbConnection, uses: &[OldKeyUse]) -> Result<(), DbError> {
    for chunk in uses.chunks(1000) {
        let ids: Vec<i64> = chunk.iter().map(|u| u.server_id).collect();
        let present: Vec<i64> = servers::table
            .filter(servers::id.eq_any(&ids))
            .select(servers::id)
            .load(conn)?;
        let rows: Vec<_> = chunk
            .iter()
            .filter(|u| present.contains(&u.server_id))
            .map(|u| {
                let at = crate::from_stored(u.at)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let data = serde_json::json!({"keyLast4": u.key_last4, "ip": u.ip, "at": at});
                (
                    server_events::server_id.eq(u.server_id),
                    server_events::at.eq(u.at),
                    server_events::kind.eq("old_key_used"),
                    server_events::data.eq(data.to_string()),
                )
            })
            .collect();
        if !rows.is_empty() {
            let query = diesel::insert_into(server_events::table).values(rows);
            match conn {
                DbConnection::Sqlite(sqlite) => query.execute(sqlite)?,
                DbConnection::Postgres(pg) => query.execute(pg)?,
            };
        }
    }
    Ok(())
}

/// Servers with an `old_key_used` event at or after `since`.
pub fn servers_using_old_keys(
    conn: &mut DbConnection,
    since: PrimitiveDateTime,
) -> Result<i64, DbError> {
    Ok(server_events::table
        .filter(server_events::at.ge(since))
        .filter(server_events::kind.eq("old_key_used"))
        .select(diesel::dsl::count(server_events::server_id).aggregate_distinct())
        .first(conn)?)
}

/// Takes sampling period `slot` for this node: `true` when no node has it yet.
pub fn claim_sample(
    conn: &mut DbConnection,
    slot: i64,
    at: PrimitiveDateTime,
) -> Result<bool, DbError> {
    let query = diesel::insert_into(fleet_samples::table)
        .values((fleet_samples::slot.eq(slot), fleet_samples::at.eq(at)))
        .on_conflict_do_nothing();
    let inserted = match conn {
        DbConnection::Sqlite(sqlite) => query.execute(sqlite)?,
        DbConnection::Postgres(pg) => query.execute(pg)?,
    };
    Ok(inserted == 1)
}

/// The counts of one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetCounts {
    pub active: i64,
    pub grace: i64,
    pub expired: i64,
    pub online: i64,
    pub late: i64,
    pub offline: i64,
    pub never: i64,
    pub old_keys_in_use: i64,
    /// A JSON array of `{version, count}`.
    pub versions: String,
}

/// A finished sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSample {
    pub slot: i64,
    pub at: PrimitiveDateTime,
    pub counts: FleetCounts,
}

/// Stores what the node that claimed `slot` counted.
pub fn complete_sample(
    conn: &mut DbConnection,
    slot: i64,
    counts: &FleetCounts,
) -> Result<(), DbError> {
    diesel::update(fleet_samples::table.find(slot))
        .set((
            fleet_samples::active.eq(counts.active),
            fleet_samples::grace.eq(counts.grace),
            fleet_samples::expired.eq(counts.expired),
            fleet_samples::online.eq(counts.online),
            fleet_samples::late.eq(counts.late),
            fleet_samples::offline.eq(counts.offline),
            fleet_samples::never.eq(counts.never),
            fleet_samples::old_keys_in_use.eq(counts.old_keys_in_use),
            fleet_samples::versions.eq(&counts.versions),
        ))
        .execute(conn)?;
    Ok(())
}

/// A row as stored: the counts stay NULL until the node that claimed the slot fills them.
/// (The backend-to-backend copy moves these rows as they are.)
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = fleet_samples)]
pub(crate) struct SampleRow {
    pub(crate) slot: i64,
    at: PrimitiveDateTime,
    active: Option<i64>,
    grace: Option<i64>,
    expired: Option<i64>,
    online: Option<i64>,
    late: Option<i64>,
    offline: Option<i64>,
    never: Option<i64>,
    old_keys_in_use: Option<i64>,
    versions: Option<String>,
}

fn finished(row: SampleRow) -> Option<FleetSample> {
    Some(FleetSample {
        slot: row.slot,
        at: row.at,
        counts: FleetCounts {
            active: row.active?,
            grace: row.grace?,
            expired: row.expired?,
            online: row.online?,
            late: row.late?,
            offline: row.offline?,
            never: row.never?,
            old_keys_in_use: row.old_keys_in_use?,
            versions: row.versions?,
        },
    })
}

/// The newest finished sample.
pub fn latest_sample(conn: &mut DbConnection) -> Result<Option<FleetSample>, DbError> {
    // By time, not slot: a slot is a number of periods, and the period may have changed.
    let rows: Vec<SampleRow> = fleet_samples::table
        .filter(fleet_samples::versions.is_not_null())
        .order(fleet_samples::at.desc())
        .limit(1)
        .select(SampleRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().find_map(finished))
}

/// Finished samples taken at or after `from` and at or before `to`, oldest first, only those
/// whose slot is a multiple of `every` (1 for all) and the newest, at most `limit` (+1).
pub fn samples_between(
    conn: &mut DbConnection,
    from: PrimitiveDateTime,
    to: PrimitiveDateTime,
    every: i64,
    limit: i64,
) -> Result<Vec<FleetSample>, DbError> {
    let mut select = fleet_samples::table
        .filter(fleet_samples::at.ge(from))
        .filter(fleet_samples::at.le(to))
        .filter(fleet_samples::versions.is_not_null())
        .select(SampleRow::as_select())
        .order(fleet_samples::at.asc())
        .limit(limit)
        .into_boxed();
    if every > 1 {
        // Diesel has no `%` for integers; the same SQL on both backends.
        select = select.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("slot % ")
                .bind::<diesel::sql_types::BigInt, _>(every)
                .sql(" = 0"),
        );
    }
    let mut samples: Vec<FleetSample> = select
        .load::<SampleRow>(conn)?
        .into_iter()
        .filter_map(finished)
        .collect();
    // A thinned range still ends at its newest sample, so a chart reaches the present.
    if every > 1 && (samples.len() as i64) < limit {
        let newest: Option<SampleRow> = fleet_samples::table
            .filter(fleet_samples::at.ge(from))
            .filter(fleet_samples::at.le(to))
            .filter(fleet_samples::versions.is_not_null())
            .order(fleet_samples::at.desc())
            .select(SampleRow::as_select())
            .first(conn)
            .optional()?;
        if let Some(newest) = newest.and_then(finished)
            && samples.last().is_none_or(|last| last.at < newest.at)
        {
            samples.push(newest);
        }
    }
    Ok(samples)
}

/// Deletes samples taken before `before`; returns how many.
pub fn prune_samples(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(fleet_samples::table.filter(fleet_samples::at.lt(before))).execute(conn)?)
}
