//! Copying a whole pulsekey database to another backend (`pulsekey migrate-to`), row for
//! row with the same ids, and proving the copy: per table, a row count and a SHA-256 over
//! every row in id order, computed on both sides.

use diesel::prelude::*;
use sha2::{Digest as _, Sha256};
use time::PrimitiveDateTime;

use crate::fleet::SampleRow;
use crate::schema::{
    api_tokens, audit_log, fleet_samples, recovery_codes, retired_keys, server_events,
    server_heartbeats, servers, sessions, totp_factors, users, webhook_attempts,
    webhook_deliveries, webhook_events, webhooks,
};
use crate::{DbConnection, DbError};

const PAGE: i64 = 1_000;

/// One table's count and checksum on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub table: &'static str,
    pub rows: u64,
    pub sha256: [u8; 32],
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
struct User {
    id: i64,
    username: String,
    email: String,
    role: String,
    password_hash: String,
    disabled: bool,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
struct Session {
    id: String,
    user_id: i64,
    created_at: PrimitiveDateTime,
    expires_at: PrimitiveDateTime,
    revoked_at: Option<PrimitiveDateTime>,
    last_used_at: Option<PrimitiveDateTime>,
    address: Option<String>,
    user_agent: Option<String>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = totp_factors)]
struct TotpFactor {
    user_id: i64,
    secret_ciphertext: Vec<u8>,
    confirmed_at: Option<PrimitiveDateTime>,
    last_step: i64,
    created_at: PrimitiveDateTime,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = recovery_codes)]
struct RecoveryCode {
    id: i64,
    user_id: i64,
    code_hash: Vec<u8>,
    used_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = servers)]
struct Server {
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

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = server_heartbeats)]
struct Heartbeat {
    server_id: i64,
    last_heartbeat_at: PrimitiveDateTime,
    installed_version: String,
    last_heartbeat_ip: Option<String>,
    offline_since: Option<PrimitiveDateTime>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = retired_keys)]
struct RetiredKey {
    key_hash: Vec<u8>,
    server_id: i64,
    retired_at: PrimitiveDateTime,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = server_events)]
struct ServerEvent {
    id: i64,
    server_id: i64,
    at: PrimitiveDateTime,
    kind: String,
    data: String,
    relayed: bool,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_tokens)]
struct Token {
    id: i64,
    owner_id: i64,
    name: String,
    prefix: String,
    token_hash: Vec<u8>,
    scopes: String,
    created_at: PrimitiveDateTime,
    last_used_at: Option<PrimitiveDateTime>,
    expires_at: Option<PrimitiveDateTime>,
    revoked_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhooks)]
struct Webhook {
    id: i64,
    url: String,
    description: String,
    events: String,
    enabled: bool,
    secret_ciphertext: Vec<u8>,
    previous_secret_ciphertext: Option<Vec<u8>>,
    previous_secret_expires_at: Option<PrimitiveDateTime>,
    disabled_reason: Option<String>,
    failing_since: Option<PrimitiveDateTime>,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_events)]
struct WebhookEvent {
    id: i64,
    msg_id: String,
    type_: String,
    at: PrimitiveDateTime,
    payload: String,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_deliveries)]
struct WebhookDelivery {
    id: i64,
    webhook_id: i64,
    event_id: i64,
    state: String,
    attempts: i32,
    next_attempt_at: Option<PrimitiveDateTime>,
    claimed_until: Option<PrimitiveDateTime>,
    created_at: PrimitiveDateTime,
    updated_at: PrimitiveDateTime,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = webhook_attempts)]
struct WebhookAttempt {
    id: i64,
    delivery_id: i64,
    webhook_id: i64,
    at: PrimitiveDateTime,
    status_code: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
    response_head: String,
}

#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
struct AuditEntry {
    id: i64,
    at: PrimitiveDateTime,
    action: String,
    target: Option<i64>,
    user_id: Option<i64>,
    username: Option<String>,
    metadata: String,
    ip: Option<String>,
}

/// Reads one table page by page in key order, on either backend, handing each page to
/// `visit`.
macro_rules! for_each_page {
    ($conn:expr, $table:ident, $row:ty, $key:expr, $visit:expr) => {{
        let mut after = None;
        loop {
            macro_rules! page {
                ($c:expr) => {{
                    let mut query = $table::table
                        .select(<$row>::as_select())
                        .order($key)
                        .limit(PAGE)
                        .into_boxed();
                    if let Some(after) = after.clone() {
                        query = query.filter($key.gt(after));
                    }
                    query.load::<$row>($c)?
                }};
            }
            let page: Vec<$row> = match &mut *$conn {
                DbConnection::Sqlite(c) => page!(c),
                DbConnection::Postgres(c) => page!(c),
            };
            let Some(last) = page.last() else { break };
            after = Some(Keyed::key(last));
            $visit(page)?;
        }
    }};
}

/// The count and checksum of every copied table.
pub fn summarize(conn: &mut DbConnection) -> Result<Vec<TableSummary>, DbError> {
    macro_rules! summarize_table {
        ($table:ident, $row:ty, $key:expr) => {{
            let mut hasher = Sha256::new();
            let mut rows = 0u64;
            for_each_page!(conn, $table, $row, $key, |page: Vec<$row>| {
                for row in &page {
                    hasher.update(format!("{row:?}\n").as_bytes());
                }
                rows += page.len() as u64;
                Ok::<_, DbError>(())
            });
            TableSummary {
                table: stringify!($table),
                rows,
                sha256: hasher.finalize().into(),
            }
        }};
    }
    Ok(vec![
        summarize_table!(users, User, users::id),
        summarize_table!(sessions, Session, sessions::id),
        summarize_table!(totp_factors, TotpFactor, totp_factors::user_id),
        summarize_table!(recovery_codes, RecoveryCode, recovery_codes::id),
        summarize_table!(servers, Server, servers::id),
        summarize_table!(server_heartbeats, Heartbeat, server_heartbeats::server_id),
        summarize_table!(server_events, ServerEvent, server_events::id),
        summarize_table!(retired_keys, RetiredKey, retired_keys::key_hash),
        summarize_table!(fleet_samples, SampleRow, fleet_samples::slot),
        summarize_table!(api_tokens, Token, api_tokens::id),
        summarize_table!(audit_log, AuditEntry, audit_log::id),
        summarize_table!(webhooks, Webhook, webhooks::id),
        summarize_table!(webhook_events, WebhookEvent, webhook_events::id),
        summarize_table!(webhook_deliveries, WebhookDelivery, webhook_deliveries::id),
        summarize_table!(webhook_attempts, WebhookAttempt, webhook_attempts::id),
    ])
}

/// Each row's key, for paging.
trait Keyed {
    type Key: Clone;
    fn key(&self) -> Self::Key;
}

macro_rules! keyed {
    ($row:ty, $field:ident, $key:ty) => {
        impl Keyed for $row {
            type Key = $key;
            fn key(&self) -> $key {
                self.$field.clone()
            }
        }
    };
}
keyed!(User, id, i64);
keyed!(Session, id, String);
keyed!(TotpFactor, user_id, i64);
keyed!(RecoveryCode, id, i64);
keyed!(Server, id, i64);
keyed!(Heartbeat, server_id, i64);
keyed!(ServerEvent, id, i64);
keyed!(RetiredKey, key_hash, Vec<u8>);
keyed!(SampleRow, slot, i64);
keyed!(Token, id, i64);
keyed!(AuditEntry, id, i64);
keyed!(Webhook, id, i64);
keyed!(WebhookEvent, id, i64);
keyed!(WebhookDelivery, id, i64);
keyed!(WebhookAttempt, id, i64);

/// Copies every table from `source` (SQLite) into `target` (PostgreSQL, migrated and
/// empty), keeping ids, inside the caller's transaction on `target`; then moves the
/// target's id sequences past the copied ids.
pub fn sqlite_to_postgres(
    source: &mut DbConnection,
    target: &mut DbConnection,
) -> Result<(), DbError> {
    let DbConnection::Postgres(pg) = target else {
        return Err(DbError::Unsupported("the target must be PostgreSQL".into()));
    };
    let present: i64 = users::table.count().get_result(pg)?;
    let servers_present: i64 = servers::table.count().get_result(pg)?;
    let audit_present: i64 = audit_log::table.count().get_result(pg)?;
    if present + servers_present + audit_present > 0 {
        return Err(DbError::Unsupported(
            "the target database is not empty; migrate into a new database".into(),
        ));
    }
    macro_rules! copy {
        ($table:ident, $row:ty, $key:expr) => {
            for_each_page!(source, $table, $row, $key, |page: Vec<$row>| {
                diesel::insert_into($table::table)
                    .values(&page)
                    .execute(pg)
                    .map(|_| ())
            })
        };
    }
    copy!(users, User, users::id);
    copy!(sessions, Session, sessions::id);
    copy!(totp_factors, TotpFactor, totp_factors::user_id);
    copy!(recovery_codes, RecoveryCode, recovery_codes::id);
    copy!(servers, Server, servers::id);
    // The copied events already hold each installation's first `came_online`: the trigger
    // that writes it must not add another (nor take an id the copy is about to insert).
    // Inside the caller's transaction, so a failed copy leaves it on.
    diesel::sql_query("ALTER TABLE server_heartbeats DISABLE TRIGGER server_heartbeats_first")
        .execute(pg)?;
    copy!(server_heartbeats, Heartbeat, server_heartbeats::server_id);
    diesel::sql_query("ALTER TABLE server_heartbeats ENABLE TRIGGER server_heartbeats_first")
        .execute(pg)?;
    copy!(server_events, ServerEvent, server_events::id);
    copy!(retired_keys, RetiredKey, retired_keys::key_hash);
    copy!(fleet_samples, SampleRow, fleet_samples::slot);
    copy!(api_tokens, Token, api_tokens::id);
    copy!(audit_log, AuditEntry, audit_log::id);
    copy!(webhooks, Webhook, webhooks::id);
    copy!(webhook_events, WebhookEvent, webhook_events::id);
    copy!(webhook_deliveries, WebhookDelivery, webhook_deliveries::id);
    copy!(webhook_attempts, WebhookAttempt, webhook_attempts::id);
    for table in [
        "users",
        "recovery_codes",
        "servers",
        "server_events",
        "api_tokens",
        "audit_log",
        "webhooks",
        "webhook_events",
        "webhook_deliveries",
        "webhook_attempts",
    ] {
        diesel::sql_query(format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
        ))
        .execute(pg)?;
    }
    Ok(())
}
