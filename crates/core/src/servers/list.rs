//! `GET /api/v1/servers`: every installation across customers, filtered and ordered, a
//! page at a time. Status and connection mean what the License card shows: the status a
//! verdict would give now, the connection measured in heartbeat intervals.

use pulsekey_db::DbConnection;
use pulsekey_db::Total;
use pulsekey_db::servers::list::{
    self, After, EffectiveStatus, LastHeartbeat, Order, ServerListQuery,
};
use pulsekey_types::{Connection, LicenseStatus, ServerListItem, ServerPage, ServerSort};
use time::{Duration, OffsetDateTime};

use super::license_view;
use crate::DomainError;
use crate::accounts::check_limit;

/// What to list; every filter is optional and they combine.
#[derive(Debug, Clone, Default)]
pub struct ServerFilter {
    pub status: Option<LicenseStatus>,
    pub connection: Option<Connection>,
    pub version: Option<String>,
    pub owner_id: Option<i64>,
    /// A piece of the server's name or of its owner's username.
    pub q: Option<String>,
}

/// The bounds on the last heartbeat that make `connection` true at `now`, as
/// `license::connection` draws them: online within 2 intervals, late within 10.
fn last_heartbeat_for(
    connection: Connection,
    now: OffsetDateTime,
    interval_secs: u64,
) -> LastHeartbeat {
    let interval = Duration::seconds(i64::try_from(interval_secs).unwrap_or(i64::MAX / 20));
    let online_since = pulsekey_db::to_stored(now - interval * 2);
    let late_since = pulsekey_db::to_stored(now - interval * 10);
    match connection {
        Connection::Online => LastHeartbeat::Since(online_since),
        Connection::Late => LastHeartbeat::Between {
            from: late_since,
            before: online_since,
        },
        Connection::Offline => LastHeartbeat::Before(late_since),
        Connection::Never => LastHeartbeat::Never,
    }
}

/// The cursor of a page: the last row's place in the order, in a form only this module
/// reads back. Names travel as hex so that any name makes a URL-safe cursor.
fn cursor_of(sort: ServerSort, item: &ServerListItem) -> String {
    match sort {
        ServerSort::Id => item.id.to_string(),
        ServerSort::Name => format!("n.{}.{}", item.id, crate::crypto::hex(item.name.as_bytes())),
        ServerSort::LastHeartbeatAt => match item.license.last_heartbeat_at {
            Some(at) => format!("h.{}.{}", item.id, at.unix_timestamp_nanos() / 1000),
            None => format!("h.{}.never", item.id),
        },
    }
}

fn parse_cursor(sort: ServerSort, cursor: &str) -> Result<After, DomainError> {
    let invalid = || DomainError::Validation("cursor is not valid for this sort".into());
    let id_of = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(invalid)
    };
    match sort {
        ServerSort::Id => Ok(After::Id(id_of(cursor)?)),
        ServerSort::Name => {
            let (id, name) = cursor
                .strip_prefix("n.")
                .and_then(|rest| rest.split_once('.'))
                .ok_or_else(invalid)?;
            let name = crate::crypto::unhex(name)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(invalid)?;
            Ok(After::Name(name, id_of(id)?))
        }
        ServerSort::LastHeartbeatAt => {
            let (id, at) = cursor
                .strip_prefix("h.")
                .and_then(|rest| rest.split_once('.'))
                .ok_or_else(invalid)?;
            let at = match at {
                "never" => None,
                micros => {
                    let nanos = micros
                        .parse::<i128>()
                        .ok()
                        .and_then(|micros| micros.checked_mul(1000))
                        .ok_or_else(invalid)?;
                    let at =
                        OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?;
                    Some(pulsekey_db::to_stored(at))
                }
            };
            Ok(After::LastHeartbeat(at, id_of(id)?))
        }
    }
}

/// One page of servers across customers, and the cursor of the next if there is one.
pub fn list_servers(
    conn: &mut DbConnection,
    filter: ServerFilter,
    sort: ServerSort,
    cursor: Option<&str>,
    limit: Option<i64>,
    interval_secs: u64,
) -> Result<ServerPage, DomainError> {
    let limit = check_limit(limit)?;
    let now = OffsetDateTime::now_utc();
    let after = cursor
        .filter(|c| !c.is_empty())
        .map(|c| parse_cursor(sort, c))
        .transpose()?;
    let query = ServerListQuery {
        status: filter.status.map(|status| match status {
            LicenseStatus::Active => EffectiveStatus::Active,
            LicenseStatus::Grace => EffectiveStatus::Grace,
            LicenseStatus::Expired => EffectiveStatus::Expired,
        }),
        last_heartbeat: filter
            .connection
            .map(|c| last_heartbeat_for(c, now, interval_secs)),
        version: crate::text_filter("version", filter.version)?,
        owner_id: filter.owner_id,
        search: crate::text_filter("q", filter.q)?,
        order: match sort {
            ServerSort::Id => Order::IdDesc,
            ServerSort::Name => Order::Name,
            ServerSort::LastHeartbeatAt => Order::LastHeartbeatDesc,
        },
        after,
        limit: limit + 1,
        now: pulsekey_db::to_stored(now),
    };
    let rows = list::list(conn, &query)?;
    let total = Total::of_page(query.after.is_none(), rows.len(), limit, || {
        list::total(conn, &query)
    })?;
    let more = rows.len() as i64 > limit;
    let items: Vec<ServerListItem> = rows
        .into_iter()
        .take(limit as usize)
        .map(|listed| ServerListItem {
            id: listed.server.id,
            owner_id: listed.server.owner_id,
            owner_username: listed.owner_username,
            name: listed.server.name.clone(),
            license: license_view(&listed.server, now, interval_secs),
        })
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|item| cursor_of(sort, item)))
        .flatten();
    Ok(ServerPage {
        items,
        next_cursor,
        total: total.count as u64,
        total_capped: total.capped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulsekey_types::LicenseView;
    use time::macros::datetime;

    fn item(id: i64, name: &str, at: Option<OffsetDateTime>) -> ServerListItem {
        ServerListItem {
            id,
            owner_id: 1,
            owner_username: "acme".into(),
            name: name.into(),
            license: LicenseView {
                key_masked: String::new(),
                status: LicenseStatus::Active,
                installed_version: None,
                last_heartbeat_at: at,
                last_heartbeat_ip: None,
                grace_expires_at: None,
                expired_at: None,
                connection: Connection::Never,
            },
        }
    }

    #[test]
    fn every_sort_reads_back_its_own_cursor() {
        let at = datetime!(2026-12-02 16:50:54.123456 UTC);
        let cases = [
            (ServerSort::Id, item(7, "x", None), After::Id(7)),
            (
                ServerSort::Name,
                item(7, "café.prod/1", None),
                After::Name("café.prod/1".into(), 7),
            ),
            (
                ServerSort::LastHeartbeatAt,
                item(7, "x", Some(at)),
                After::LastHeartbeat(Some(pulsekey_db::to_stored(at)), 7),
            ),
            (
                ServerSort::LastHeartbeatAt,
                item(7, "x", None),
                After::LastHeartbeat(None, 7),
            ),
        ];
        for (sort, item, after) in cases {
            let cursor = cursor_of(sort, &item);
            assert!(
                cursor
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.'),
                "{cursor}"
            );
            assert_eq!(parse_cursor(sort, &cursor).unwrap(), after);
        }
    }

    #[test]
    fn a_cursor_of_another_sort_or_a_made_up_one_is_refused() {
        let name_cursor = cursor_of(ServerSort::Name, &item(7, "x", None));
        for (sort, cursor) in [
            (ServerSort::Id, name_cursor.as_str()),
            (ServerSort::LastHeartbeatAt, name_cursor.as_str()),
            (ServerSort::Name, "7"),
            (ServerSort::Name, "n.7.zz"),
            (ServerSort::Name, "n.7.ff"),
            (ServerSort::Name, "n.0.78"),
            (ServerSort::LastHeartbeatAt, "h.7.soon"),
            (ServerSort::LastHeartbeatAt, "h.7.99999999999999999999999"),
            (
                ServerSort::LastHeartbeatAt,
                "h.7.999999999999999999999999999999999999999",
            ),
            (ServerSort::Id, "-3"),
        ] {
            assert!(parse_cursor(sort, cursor).is_err(), "{cursor}");
        }
    }

    #[test]
    fn connection_bounds_match_the_cards() {
        let now = datetime!(2026-12-02 12:00 UTC);
        let ago = |secs: i64| now - Duration::seconds(secs);
        let inside = |bounds: LastHeartbeat, at: OffsetDateTime| {
            let at = pulsekey_db::to_stored(at);
            match bounds {
                LastHeartbeat::Since(t) => at >= t,
                LastHeartbeat::Between { from, before } => at >= from && at < before,
                LastHeartbeat::Before(t) => at < t,
                LastHeartbeat::Never => false,
            }
        };
        for secs in [0, 119, 120, 121, 599, 600, 601, 86_400] {
            let card = crate::license::connection(Some(ago(secs)), now, 60);
            for connection in [Connection::Online, Connection::Late, Connection::Offline] {
                assert_eq!(
                    inside(last_heartbeat_for(connection, now, 60), ago(secs)),
                    card == connection,
                    "{secs} s ago, {connection:?}"
                );
            }
        }
    }
}
