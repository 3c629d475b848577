//! The list of servers across customers: filters that combine, three orders, a keyset
//! cursor for each.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use super::{HeartbeatRow, ServerColumns, ServerRow};
use crate::schema::{server_heartbeats, servers, users};
use crate::sql::{Total, escape_like, lower};
use crate::{DbConnection, DbError};

/// A license's status as a verdict would give it at `now`: a GRACE window that has ended
/// counts as EXPIRED whether or not the sweep has stored it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EffectiveStatus {
    Active,
    Grace,
    Expired,
}

/// When the last heartbeat came, as bounds the caller derives from the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastHeartbeat {
    /// At or after the instant.
    Since(PrimitiveDateTime),
    /// At or after `from`, before `before`.
    Between {
        from: PrimitiveDateTime,
        before: PrimitiveDateTime,
    },
    /// Before the instant.
    Before(PrimitiveDateTime),
    /// None yet.
    Never,
}

/// Where a page starts: just after the last row of the page before, in the page's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// Newest first.
    Id(i64),
    /// By name, then id.
    Name(String, i64),
    /// Most recent heartbeat first, then id; those that never called in come last.
    LastHeartbeat(Option<PrimitiveDateTime>, i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    IdDesc,
    Name,
    LastHeartbeatDesc,
}

#[derive(Debug, Clone)]
pub struct ServerListQuery {
    pub status: Option<EffectiveStatus>,
    pub last_heartbeat: Option<LastHeartbeat>,
    pub version: Option<String>,
    pub owner_id: Option<i64>,
    /// A piece of the server's name or of its owner's username, any case.
    pub search: Option<String>,
    pub order: Order,
    pub after: Option<After>,
    pub limit: i64,
    pub now: PrimitiveDateTime,
}

/// A listed server and its owner's username.
#[derive(Debug, Clone)]
pub struct ListedServer {
    pub server: ServerRow,
    pub owner_username: String,
}

/// Search candidates read from the trigram indexes per round.
const SEARCH_BATCH: i64 = 500;

pub fn list(
    conn: &mut DbConnection,
    query: &ServerListQuery,
) -> Result<Vec<ListedServer>, DbError> {
    let Some(search) = trigram_search(query) else {
        return Ok(list_filtered(conn, query, None, Rows::Page)?.page());
    };
    // Newest first is the indexes' own order, so a page stops after its matches however
    // rare they are. Another order sorts the matches when they are few; when they are
    // many, walking its index meets a page of them early.
    if query.order == Order::IdDesc {
        return Ok(by_trigrams(conn, query, search, Rows::Page)?.page());
    }
    let matches = search_matches(conn, search, i64::MAX, Total::CAP + 1)?;
    if matches.len() as i64 <= Total::CAP {
        let narrowed = ServerListQuery {
            search: None,
            ..query.clone()
        };
        return Ok(list_filtered(conn, &narrowed, Some(&matches), Rows::Page)?.page());
    }
    Ok(list_filtered(conn, query, None, Rows::Page)?.page())
}

/// How many servers the query's filters match, regardless of its order and page.
pub fn total(conn: &mut DbConnection, query: &ServerListQuery) -> Result<Total, DbError> {
    let everywhere = ServerListQuery {
        order: Order::IdDesc,
        // From the newest, as a page walks: without a bound on the id SQLite prefers to
        // scan `server_heartbeats` whole and sort (750 ms at a million), where walking the
        // primary key stops at the cap (4 ms).
        after: Some(After::Id(i64::MAX)),
        limit: Total::CAP + 1,
        ..query.clone()
    };
    let matched = match trigram_search(&everywhere) {
        Some(search) => by_trigrams(conn, &everywhere, search, Rows::Ids)?.len(),
        None => list_filtered(conn, &everywhere, None, Rows::Ids)?.len(),
    };
    Ok(Total::of(matched))
}

/// The search to run through the trigram indexes: three characters make a trigram, and
/// shorter searches match so much that a scan stops early anyway.
fn trigram_search(query: &ServerListQuery) -> Option<&str> {
    query.search.as_deref().filter(|s| s.chars().count() >= 3)
}

/// What a query loads: a page of servers, or only the ids of those that match.
#[derive(Clone, Copy)]
enum Rows {
    Page,
    Ids,
}

enum Loaded {
    Page(Vec<ListedServer>),
    Ids(Vec<i64>),
}

impl Loaded {
    fn len(&self) -> usize {
        match self {
            Loaded::Page(page) => page.len(),
            Loaded::Ids(ids) => ids.len(),
        }
    }

    fn page(self) -> Vec<ListedServer> {
        match self {
            Loaded::Page(page) => page,
            Loaded::Ids(_) => unreachable!("a page was asked for"),
        }
    }

    fn extend(&mut self, more: Loaded) {
        match (self, more) {
            (Loaded::Page(page), Loaded::Page(more)) => page.extend(more),
            (Loaded::Ids(ids), Loaded::Ids(more)) => ids.extend(more),
            _ => unreachable!("one query loads one kind of row"),
        }
    }
}

/// The search through the trigram indexes: its matches newest first, a batch at a time,
/// each batch narrowed by the other filters, until the page is full or the matches run out.
fn by_trigrams(
    conn: &mut DbConnection,
    query: &ServerListQuery,
    search: &str,
    rows: Rows,
) -> Result<Loaded, DbError> {
    let mut before = match query.after {
        Some(After::Id(id)) => id,
        _ => i64::MAX,
    };
    let narrowed = ServerListQuery {
        search: None,
        after: None,
        ..query.clone()
    };
    // Counting matches that nothing else narrows needs no other table.
    let search_only = matches!(rows, Rows::Ids)
        && narrowed.status.is_none()
        && narrowed.last_heartbeat.is_none()
        && narrowed.version.is_none()
        && narrowed.owner_id.is_none();
    if search_only {
        return Ok(Loaded::Ids(search_matches(
            conn,
            search,
            before,
            query.limit,
        )?));
    }
    let mut found = match rows {
        Rows::Page => Loaded::Page(Vec::new()),
        Rows::Ids => Loaded::Ids(Vec::new()),
    };
    loop {
        let ids = search_matches(conn, search, before, SEARCH_BATCH)?;
        let Some(&last) = ids.last() else { break };
        before = last;
        let page = ServerListQuery {
            limit: query.limit - found.len() as i64,
            ..narrowed.clone()
        };
        found.extend(list_filtered(conn, &page, Some(&ids), rows)?);
        if found.len() as i64 >= query.limit || (ids.len() as i64) < SEARCH_BATCH {
            break;
        }
    }
    Ok(found)
}

/// Up to `limit` servers whose name or owner's username contains `search` (any case),
/// newest first, below the id `before`.
///
/// SQLite reads them from the `servers_search` trigram index of both (see its
/// migration). PostgreSQL has a trigram index on each table, which one `OR` across the
/// join cannot use (it scanned everything: 1.2 s at a million), so each is asked apart.
fn search_matches(
    conn: &mut DbConnection,
    search: &str,
    before: i64,
    limit: i64,
) -> Result<Vec<i64>, DbError> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Match {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let matches: Vec<Match> = match conn {
        DbConnection::Sqlite(sqlite) => {
            // One quoted phrase: its trigrams in a row, i.e. the substring, whatever it
            // contains.
            let phrase = format!("\"{}\"", search.replace('"', "\"\""));
            diesel::sql_query(
                "SELECT rowid AS id FROM servers_search WHERE servers_search MATCH ? \
                 AND rowid < ? ORDER BY rowid DESC LIMIT ?",
            )
            .bind::<Text, _>(phrase)
            .bind::<BigInt, _>(before)
            .bind::<BigInt, _>(limit)
            .load(sqlite)?
        }
        DbConnection::Postgres(pg) => {
            let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
            diesel::sql_query(
                "SELECT id FROM ( \
                   (SELECT id FROM servers \
                    WHERE lower(name) LIKE $1 ESCAPE '\\' AND id < $2 \
                    ORDER BY id DESC LIMIT $3) \
                   UNION \
                   (SELECT servers.id FROM servers \
                    JOIN users ON users.id = servers.owner_id \
                    WHERE lower(users.username) LIKE $1 ESCAPE '\\' AND servers.id < $2 \
                    ORDER BY servers.id DESC LIMIT $3) \
                 ) AS matches ORDER BY id DESC LIMIT $3",
            )
            .bind::<Text, _>(pattern)
            .bind::<BigInt, _>(before)
            .bind::<BigInt, _>(limit)
            .load(pg)?
        }
    };
    Ok(matches.into_iter().map(|m| m.id).collect())
}

/// The list with every filter in SQL; `only_ids` narrows it to those servers.
fn list_filtered(
    conn: &mut DbConnection,
    query: &ServerListQuery,
    only_ids: Option<&[i64]>,
    rows: Rows,
) -> Result<Loaded, DbError> {
    let mut select = servers::table
        .inner_join(users::table)
        .left_join(server_heartbeats::table)
        .select((
            ServerColumns::as_select(),
            Option::<HeartbeatRow>::as_select(),
            users::username,
        ))
        .into_boxed();
    if let Some(ids) = only_ids {
        select = select.filter(servers::id.eq_any(ids.to_vec()));
    }
    let now = query.now;
    select = match query.status {
        None => select,
        Some(EffectiveStatus::Active) => select.filter(servers::license_status.eq("ACTIVE")),
        Some(EffectiveStatus::Grace) => select.filter(
            servers::license_status
                .eq("GRACE")
                .and(servers::grace_expires_at.assume_not_null().gt(now)),
        ),
        // A GRACE without an end (only a hand edit makes one) is EXPIRED, as a verdict says.
        Some(EffectiveStatus::Expired) => select.filter(
            servers::license_status
                .eq("EXPIRED")
                .or(servers::license_status.eq("GRACE").and(
                    servers::grace_expires_at
                        .is_null()
                        .or(servers::grace_expires_at.assume_not_null().le(now)),
                )),
        ),
    };
    let heard = server_heartbeats::last_heartbeat_at.nullable();
    select = match query.last_heartbeat {
        None => select,
        Some(LastHeartbeat::Since(t)) => select.filter(heard.ge(t)),
        Some(LastHeartbeat::Between { from, before }) => {
            select.filter(heard.ge(from).and(heard.lt(before)))
        }
        Some(LastHeartbeat::Before(t)) => select.filter(heard.lt(t)),
        // On the join's key, which PostgreSQL reads as an anti-join and walks the primary
        // key with (4 ms at a million); on `last_heartbeat_at` it hashed both tables (1.1 s).
        Some(LastHeartbeat::Never) => {
            select.filter(server_heartbeats::server_id.nullable().is_null())
        }
    };
    if let Some(version) = &query.version {
        select = select.filter(
            server_heartbeats::installed_version
                .nullable()
                .eq(version.clone()),
        );
    }
    if let Some(owner_id) = query.owner_id {
        select = select.filter(servers::owner_id.eq(owner_id));
    }
    if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        select = select.filter(
            lower(servers::name)
                .like(pattern.clone())
                .escape('\\')
                .or(lower(users::username).like(pattern).escape('\\')),
        );
    }
    select = match (&query.order, &query.after) {
        (Order::IdDesc, Some(After::Id(id))) => select.filter(servers::id.lt(*id)),
        // A row-value comparison, which both backends walk the (name, id) index with; the
        // same condition spelt with OR makes PostgreSQL read everything before the cursor.
        (Order::Name, Some(After::Name(name, id))) => select.filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("(servers.name, servers.id) > (")
                .bind::<diesel::sql_types::Text, _>(name.clone())
                .sql(", ")
                .bind::<diesel::sql_types::BigInt, _>(*id)
                .sql(")"),
        ),
        (Order::LastHeartbeatDesc, Some(After::LastHeartbeat(Some(at), id))) => select.filter(
            heard
                .lt(*at)
                .or(heard.eq(*at).and(servers::id.lt(*id)))
                .or(heard.is_null()),
        ),
        (Order::LastHeartbeatDesc, Some(After::LastHeartbeat(None, id))) => {
            select.filter(heard.is_null().and(servers::id.lt(*id)))
        }
        // A cursor of another order cannot happen: the caller parses it for this order.
        (_, _) => select,
    };
    select = match query.order {
        Order::IdDesc => select.order(servers::id.desc()),
        Order::Name => select.order((servers::name.asc(), servers::id.asc())),
        Order::LastHeartbeatDesc => {
            select.order((heard.is_null().asc(), heard.desc(), servers::id.desc()))
        }
    };
    if let Rows::Ids = rows {
        let ids = select.select(servers::id).limit(query.limit).load(conn)?;
        return Ok(Loaded::Ids(ids));
    }
    let page: Vec<(ServerColumns, Option<HeartbeatRow>, String)> =
        select.limit(query.limit).load(conn)?;
    Ok(Loaded::Page(
        page.into_iter()
            .map(|(columns, heartbeat, owner_username)| ListedServer {
                server: (columns, heartbeat).into(),
                owner_username,
            })
            .collect(),
    ))
}
