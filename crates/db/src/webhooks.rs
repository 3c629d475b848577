//! Webhook endpoints (`webhooks`), the events they hear (`webhook_events`), one delivery
//! per event and endpoint (`webhook_deliveries`) and each attempt (`webhook_attempts`).

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Timestamp};
use time::PrimitiveDateTime;

use crate::schema::{webhook_attempts, webhook_deliveries, webhook_events, webhooks};
use crate::{DbConnection, DbError};

/// `events` for an endpoint that hears every type.
pub const ALL_EVENTS: &str = "*";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: i64,
    pub url: String,
    pub description: String,
    /// `*`, or the subscribed types each between spaces (` license.revoked server.created `),
    /// which one `LIKE` matches on both backends.
    pub events: String,
    pub enabled: bool,
    pub secret_ciphertext: Vec<u8>,
    pub previous_secret_ciphertext: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<PrimitiveDateTime>,
    pub disabled_reason: Option<String>,
    pub failing_since: Option<PrimitiveDateTime>,
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub struct WebhookInsertForm<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a str,
    pub enabled: bool,
    pub secret_ciphertext: &'a [u8],
    pub created_at: PrimitiveDateTime,
    pub updated_at: PrimitiveDateTime,
}

/// What a change sets; `None` leaves a column as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChangeset {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<String>,
    pub enabled: Option<bool>,
    pub disabled_reason: Option<Option<String>>,
    pub failing_since: Option<Option<PrimitiveDateTime>>,
    pub secret_ciphertext: Option<Vec<u8>>,
    pub previous_secret_ciphertext: Option<Option<Vec<u8>>>,
    pub previous_secret_expires_at: Option<Option<PrimitiveDateTime>>,
    pub updated_at: Option<PrimitiveDateTime>,
}

pub fn insert(
    conn: &mut DbConnection,
    form: &WebhookInsertForm<'_>,
) -> Result<WebhookRow, DbError> {
    let id: i64 = diesel::insert_into(webhooks::table)
        .values(form)
        .returning(webhooks::id)
        .get_result(conn)?;
    find(conn, id)
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<WebhookRow, DbError> {
    Ok(webhooks::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)?)
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<WebhookRow>, DbError> {
    Ok(webhooks::table
        .order(webhooks::id.desc())
        .select(WebhookRow::as_select())
        .load(conn)?)
}

/// Applies `changes`; false when there is no such endpoint.
pub fn update(
    conn: &mut DbConnection,
    id: i64,
    changes: &WebhookChangeset,
) -> Result<bool, DbError> {
    Ok(diesel::update(webhooks::table.find(id))
        .set(changes)
        .execute(conn)?
        == 1)
}

/// Deletes an endpoint with its deliveries and attempts; false when there is none.
pub fn delete(conn: &mut DbConnection, id: i64) -> Result<bool, DbError> {
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::webhook_id.eq(id)))
        .execute(conn)?;
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::webhook_id.eq(id)))
        .execute(conn)?;
    Ok(diesel::delete(webhooks::table.find(id)).execute(conn)? == 1)
}

#[derive(Debug, Insertable)]
#[diesel(table_name = webhook_events)]
pub struct EventInsertForm<'a> {
    pub msg_id: &'a str,
    #[diesel(column_name = type_)]
    pub event_type: &'a str,
    pub at: PrimitiveDateTime,
    pub payload: &'a str,
}

/// Writes an event and a pending delivery of it for every endpoint that hears its type,
/// enabled or not (a disabled endpoint's deliveries wait for it), on the caller's
/// connection: inside an action's transaction, both commit with it or neither does. An
/// event nobody hears is not written. Returns the event's id, if written.
pub fn publish(
    conn: &mut DbConnection,
    event: &EventInsertForm<'_>,
) -> Result<Option<i64>, DbError> {
    let subscribed = format!("% {} %", event.event_type);
    let listeners: Vec<i64> = webhooks::table
        .filter(
            webhooks::events
                .eq(ALL_EVENTS)
                .or(webhooks::events.like(subscribed)),
        )
        .select(webhooks::id)
        .load(conn)?;
    if listeners.is_empty() {
        return Ok(None);
    }
    let id = insert_event(conn, event)?;
    for webhook_id in listeners {
        queue(conn, webhook_id, id, event.at)?;
    }
    Ok(Some(id))
}

/// Writes an event for no one yet (see [`queue`]).
pub fn insert_event(conn: &mut DbConnection, event: &EventInsertForm<'_>) -> Result<i64, DbError> {
    Ok(diesel::insert_into(webhook_events::table)
        .values(event)
        .returning(webhook_events::id)
        .get_result(conn)?)
}

/// A pending delivery of event `event_id` to one endpoint, due at `at`.
pub fn queue(
    conn: &mut DbConnection,
    webhook_id: i64,
    event_id: i64,
    at: PrimitiveDateTime,
) -> Result<i64, DbError> {
    Ok(diesel::insert_into(webhook_deliveries::table)
        .values((
            webhook_deliveries::webhook_id.eq(webhook_id),
            webhook_deliveries::event_id.eq(event_id),
            webhook_deliveries::state.eq(PENDING),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::next_attempt_at.eq(Some(at)),
            webhook_deliveries::created_at.eq(at),
            webhook_deliveries::updated_at.eq(at),
        ))
        .returning(webhook_deliveries::id)
        .get_result(conn)?)
}

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

/// A delivery a node has claimed, with what it needs to make the attempt.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: i64,
    /// The claim: its record applies only while the delivery is still this node's.
    pub claimed_until: PrimitiveDateTime,
    pub webhook_id: i64,
    pub attempts: i32,
    pub msg_id: String,
    pub event_type: String,
    pub payload: String,
    pub url: String,
    pub secret_ciphertext: Vec<u8>,
    pub previous_secret_ciphertext: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<PrimitiveDateTime>,
}

/// Whether any delivery is due at `now` for an enabled endpoint and unclaimed: a read, so
/// that an idle node need not take SQLite's write lock to learn it has nothing to do.
pub fn any_due(conn: &mut DbConnection, now: PrimitiveDateTime) -> Result<bool, DbError> {
    let due = webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::state.eq(PENDING))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(webhooks::enabled.eq(true))
        .filter(
            webhook_deliveries::claimed_until
                .is_null()
                .or(webhook_deliveries::claimed_until.le(now)),
        );
    Ok(diesel::select(diesel::dsl::exists(due)).get_result(conn)?)
}

/// Claims up to `limit` deliveries that are due at `now` for enabled endpoints, until
/// `until`: no other node attempts them meanwhile, and a node that stops lets its claims
/// lapse. Oldest due first.
pub fn claim_due(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
    until: PrimitiveDateTime,
    limit: i64,
) -> Result<Vec<ClaimedDelivery>, DbError> {
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    // PostgreSQL: rows another node is claiming are skipped, not waited for. SQLite's
    // writers take turns, so the subquery sees every earlier claim.
    let due = "SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
               WHERE d.state = 'pending' AND d.next_attempt_at <= {now} AND w.enabled \
               AND (d.claimed_until IS NULL OR d.claimed_until <= {now}) \
               ORDER BY d.next_attempt_at LIMIT {limit}";
    let claimed: Vec<Claimed> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(format!(
            "UPDATE webhook_deliveries SET claimed_until = $2 WHERE id IN ({} FOR UPDATE OF d SKIP LOCKED) \
             RETURNING id",
            due.replace("{now}", "$1").replace("{limit}", "$3")
        ))
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(until)
        .bind::<BigInt, _>(limit)
        .load(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(format!(
            "UPDATE webhook_deliveries SET claimed_until = ?2 WHERE id IN ({}) RETURNING id",
            due.replace("{now}", "?1").replace("{limit}", "?3")
        ))
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(until)
        .bind::<BigInt, _>(limit)
        .load(sqlite)?,
    };
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = claimed.into_iter().map(|c| c.id).collect();
    Ok(webhook_deliveries::table
        .inner_join(webhook_events::table)
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::id.eq_any(ids))
        .order(webhook_deliveries::next_attempt_at.asc())
        .select((
            webhook_deliveries::id,
            webhook_deliveries::webhook_id,
            webhook_deliveries::attempts,
            webhook_events::msg_id,
            webhook_events::type_,
            webhook_events::payload,
            webhooks::url,
            webhooks::secret_ciphertext,
            webhooks::previous_secret_ciphertext,
            webhooks::previous_secret_expires_at,
        ))
        .load::<(
            i64,
            i64,
            i32,
            String,
            String,
            String,
            String,
            Vec<u8>,
            Option<Vec<u8>>,
            Option<PrimitiveDateTime>,
        )>(conn)?
        .into_iter()
        .map(
            |(
                id,
                webhook_id,
                attempts,
                msg_id,
                event_type,
                payload,
                url,
                secret,
                previous,
                previous_until,
            )| {
                ClaimedDelivery {
                    id,
                    claimed_until: until,
                    webhook_id,
                    attempts,
                    msg_id,
                    event_type,
                    payload,
                    url,
                    secret_ciphertext: secret,
                    previous_secret_ciphertext: previous,
                    previous_secret_expires_at: previous_until,
                }
            },
        )
        .collect())
}

/// An attempt's outcome, as recorded.
#[derive(Debug, Clone)]
pub struct AttemptForm<'a> {
    pub delivery_id: i64,
    /// The claim the attempt was made under (see [`ClaimedDelivery`]).
    pub claimed_until: PrimitiveDateTime,
    pub webhook_id: i64,
    pub at: PrimitiveDateTime,
    pub status_code: Option<i32>,
    pub error: Option<&'a str>,
    pub duration_ms: i64,
    pub response_head: &'a str,
    pub delivered: bool,
    /// After a failure: when to try again, or `None` when the retries are spent.
    pub next_attempt_at: Option<PrimitiveDateTime>,
}

/// Records an attempt and, when the delivery is still under this attempt's claim, moves it
/// on and keeps the endpoint's failing streak. A claim that lapsed (another node may have
/// sent it since, or an admin asked for a retry) leaves the delivery as it is now.
pub fn record_attempt(conn: &mut DbConnection, attempt: &AttemptForm<'_>) -> Result<(), DbError> {
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::delivery_id.eq(attempt.delivery_id),
            webhook_attempts::webhook_id.eq(attempt.webhook_id),
            webhook_attempts::at.eq(attempt.at),
            webhook_attempts::status_code.eq(attempt.status_code),
            webhook_attempts::error.eq(attempt.error),
            webhook_attempts::duration_ms.eq(attempt.duration_ms),
            webhook_attempts::response_head.eq(attempt.response_head),
        ))
        .execute(conn)?;
    let state = match (attempt.delivered, attempt.next_attempt_at) {
        (true, _) => DELIVERED,
        (false, Some(_)) => PENDING,
        (false, None) => FAILED,
    };
    let moved = diesel::update(
        webhook_deliveries::table
            .find(attempt.delivery_id)
            .filter(webhook_deliveries::state.eq(PENDING))
            .filter(webhook_deliveries::claimed_until.eq(attempt.claimed_until)),
    )
    .set((
        webhook_deliveries::state.eq(state),
        webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
        webhook_deliveries::next_attempt_at
            .eq(attempt.next_attempt_at.filter(|_| !attempt.delivered)),
        webhook_deliveries::claimed_until.eq(None::<PrimitiveDateTime>),
        webhook_deliveries::updated_at.eq(attempt.at),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Ok(());
    }
    let endpoint = webhooks::table.find(attempt.webhook_id);
    if attempt.delivered {
        diesel::update(endpoint.filter(webhooks::failing_since.is_not_null()))
            .set(webhooks::failing_since.eq(None::<PrimitiveDateTime>))
            .execute(conn)?;
    } else {
        diesel::update(endpoint.filter(webhooks::failing_since.is_null()))
            .set(webhooks::failing_since.eq(Some(attempt.at)))
            .execute(conn)?;
    }
    Ok(())
}

/// Disables the enabled endpoints failing since before `since`, with `reason`, in one
/// statement (an admin's enable in between is not undone; two nodes disable each once);
/// returns their ids and URLs.
pub fn disable_failing(
    conn: &mut DbConnection,
    since: PrimitiveDateTime,
    reason: &str,
    now: PrimitiveDateTime,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(diesel::update(
        webhooks::table
            .filter(webhooks::enabled.eq(true))
            .filter(webhooks::failing_since.le(since)),
    )
    .set((
        webhooks::enabled.eq(false),
        webhooks::disabled_reason.eq(Some(reason)),
        webhooks::updated_at.eq(now),
    ))
    .returning((webhooks::id, webhooks::url))
    .get_results(conn)?)
}

/// Makes an endpoint's waiting deliveries due at `now`, their schedules started over: what
/// an enable (or a new URL) owes the deliveries that waited for it.
pub fn resume(
    conn: &mut DbConnection,
    webhook_id: i64,
    now: PrimitiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .filter(webhook_deliveries::state.eq(PENDING)),
    )
    .set((
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(Some(now)),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Makes a delivery of endpoint `webhook_id` pending and due at `now`, its schedule
/// started again; false when it has no such delivery.
pub fn retry(
    conn: &mut DbConnection,
    webhook_id: i64,
    delivery_id: i64,
    now: PrimitiveDateTime,
) -> Result<bool, DbError> {
    Ok(diesel::update(
        webhook_deliveries::table
            .find(delivery_id)
            .filter(webhook_deliveries::webhook_id.eq(webhook_id)),
    )
    .set((
        webhook_deliveries::state.eq(PENDING),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::next_attempt_at.eq(Some(now)),
        webhook_deliveries::updated_at.eq(now),
    ))
    .execute(conn)?
        == 1)
}

/// An attempt with its delivery's state and its event.
#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: i64,
    pub delivery_id: i64,
    pub at: PrimitiveDateTime,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub response_head: String,
    pub state: String,
    pub next_attempt_at: Option<PrimitiveDateTime>,
    pub msg_id: String,
    pub event_type: String,
}

/// An endpoint's attempts, newest first, below the attempt id `before`.
pub fn attempts(
    conn: &mut DbConnection,
    webhook_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AttemptRow>, DbError> {
    let mut select = webhook_attempts::table
        .inner_join(webhook_deliveries::table.inner_join(webhook_events::table))
        .filter(webhook_attempts::webhook_id.eq(webhook_id))
        .into_boxed();
    if let Some(before) = before {
        select = select.filter(webhook_attempts::id.lt(before));
    }
    let rows = select
        .order(webhook_attempts::id.desc())
        .limit(limit)
        .select((
            webhook_attempts::id,
            webhook_attempts::delivery_id,
            webhook_attempts::at,
            webhook_attempts::status_code,
            webhook_attempts::error,
            webhook_attempts::duration_ms,
            webhook_attempts::response_head,
            webhook_deliveries::state,
            webhook_deliveries::next_attempt_at,
            webhook_events::msg_id,
            webhook_events::type_,
        ))
        .load::<(
            i64,
            i64,
            PrimitiveDateTime,
            Option<i32>,
            Option<String>,
            i64,
            String,
            String,
            Option<PrimitiveDateTime>,
            String,
            String,
        )>(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                delivery_id,
                at,
                status_code,
                error,
                duration_ms,
                response_head,
                state,
                next_attempt_at,
                msg_id,
                event_type,
            )| AttemptRow {
                id,
                delivery_id,
                at,
                status_code,
                error,
                duration_ms,
                response_head,
                state,
                next_attempt_at,
                msg_id,
                event_type,
            },
        )
        .collect())
}

/// The queue: deliveries waiting for an enabled endpoint, and when the oldest was due.
pub fn queue_depth(conn: &mut DbConnection) -> Result<(i64, Option<PrimitiveDateTime>), DbError> {
    let pending = webhook_deliveries::table
        .inner_join(webhooks::table)
        .filter(webhook_deliveries::state.eq(PENDING))
        .filter(webhooks::enabled.eq(true));
    let depth: i64 = pending.count().get_result(conn)?;
    let oldest: Option<PrimitiveDateTime> = pending
        .select(diesel::dsl::min(webhook_deliveries::created_at))
        .first(conn)?;
    Ok((depth, oldest))
}

/// Deletes what is over: attempts, finished deliveries and events from before `before`
/// (pending deliveries and their events stay, however old). Returns how many deliveries.
pub fn prune(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    diesel::delete(webhook_attempts::table.filter(webhook_attempts::at.lt(before)))
        .execute(conn)?;
    let finished = || {
        webhook_deliveries::table
            .filter(webhook_deliveries::state.ne(PENDING))
            .filter(webhook_deliveries::updated_at.lt(before))
    };
    diesel::delete(
        webhook_attempts::table.filter(
            webhook_attempts::delivery_id.eq_any(finished().select(webhook_deliveries::id)),
        ),
    )
    .execute(conn)?;
    let deliveries = diesel::delete(finished()).execute(conn)?;
    let still_delivered = webhook_deliveries::table.select(webhook_deliveries::event_id);
    diesel::delete(
        webhook_events::table
            .filter(webhook_events::at.lt(before))
            .filter(webhook_events::id.ne_all(still_delivered)),
    )
    .execute(conn)?;
    Ok(deliveries)
}
