//! The `login_failures` table: failed sign-ins per account, per address and per pair of
//! both, in fixed windows, shared by every node.

use diesel::prelude::*;
use time::PrimitiveDateTime;

use crate::schema::login_failures;
use crate::{DbConnection, DbError};

/// What is counted: the scopes of `login_failures.scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Account,
    Address,
    Pair,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Address => "address",
            Self::Pair => "pair",
        }
    }
}

/// One counter: failures since `window_start`, the last at `last_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    pub failures: i64,
    pub window_start: PrimitiveDateTime,
    pub last_at: PrimitiveDateTime,
}

/// The counter of `subject` in `scope`, if its window started after `window_opened_after`.
pub fn get(
    conn: &mut DbConnection,
    scope: Scope,
    subject: &str,
    window_opened_after: PrimitiveDateTime,
) -> Result<Option<Count>, DbError> {
    let row: Option<(i64, PrimitiveDateTime, PrimitiveDateTime)> = login_failures::table
        .filter(login_failures::scope.eq(scope.as_str()))
        .filter(login_failures::subject.eq(subject))
        .filter(login_failures::window_start.gt(window_opened_after))
        .select((
            login_failures::failures,
            login_failures::window_start,
            login_failures::last_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(failures, window_start, last_at)| Count {
        failures,
        window_start,
        last_at,
    }))
}

/// Counts one failure in one statement (nodes race here): a window that started at or
/// before `window_opened_after` starts over at `now`.
pub fn record(
    conn: &mut DbConnection,
    scope: Scope,
    subject: &str,
    now: PrimitiveDateTime,
    window_opened_after: PrimitiveDateTime,
) -> Result<(), DbError> {
    use diesel::dsl::case_when;
    use diesel::upsert::excluded;
    let stale = login_failures::window_start.le(window_opened_after);
    let query = diesel::insert_into(login_failures::table)
        .values((
            login_failures::scope.eq(scope.as_str()),
            login_failures::subject.eq(subject),
            login_failures::window_start.eq(now),
            login_failures::failures.eq(1i64),
            login_failures::last_at.eq(now),
        ))
        .on_conflict((login_failures::scope, login_failures::subject))
        .do_update()
        .set((
            login_failures::failures.eq(case_when::<_, _, diesel::sql_types::BigInt>(
                stale,
                1i64.into_sql::<diesel::sql_types::BigInt>(),
            )
            .otherwise(login_failures::failures + 1i64)),
            login_failures::window_start.eq(case_when(
                login_failures::window_start.le(window_opened_after),
                excluded(login_failures::window_start),
            )
            .otherwise(login_failures::window_start)),
            login_failures::last_at.eq(excluded(login_failures::last_at)),
        ));
    // Upserts do not go through the multi-backend connection.
    match conn {
        DbConnection::Sqlite(sqlite) => query.execute(sqlite)?,
        DbConnection::Postgres(pg) => query.execute(pg)?,
    };
    Ok(())
}

pub fn clear(conn: &mut DbConnection, scope: Scope, subject: &str) -> Result<(), DbError> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::scope.eq(scope.as_str()))
            .filter(login_failures::subject.eq(subject)),
    )
    .execute(conn)?;
    Ok(())
}

/// Drops counters whose window started before `before`; returns how many.
pub fn prune(conn: &mut DbConnection, before: PrimitiveDateTime) -> Result<usize, DbError> {
    Ok(
        diesel::delete(login_failures::table.filter(login_failures::window_start.lt(before)))
            .execute(conn)?,
    )
}
