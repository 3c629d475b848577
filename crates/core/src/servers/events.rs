//! `GET /api/v1/servers/{id}/events`: what happened to one installation, newest first.

use pulsekey_db::{DbConnection, server_events, servers};
use pulsekey_types::{ServerEvent, ServerEventPage};

use crate::DomainError;
use crate::accounts::{check_limit, parse_cursor};

/// How long events are kept; the expiry sweep deletes older ones.
pub const KEPT_FOR: time::Duration = time::Duration::days(90);

pub fn list_events(
    conn: &mut DbConnection,
    server_id: i64,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<ServerEventPage, DomainError> {
    let limit = check_limit(limit)?;
    let before = parse_cursor(cursor)?;
    // A server that is gone has no events to show, rather than an empty list.
    servers::find(conn, server_id).map_err(super::server_not_found)?;
    let rows = server_events::list(conn, server_id, before, limit + 1)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<ServerEvent> = rows
        .into_iter()
        .take(limit as usize)
        .map(|row| ServerEvent {
            id: row.id,
            at: pulsekey_db::from_stored(row.at),
            kind: row.kind,
            data: serde_json::from_str(&row.data).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(ServerEventPage { items, next_cursor })
}
