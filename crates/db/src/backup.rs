//! Copies of the embedded database.

use diesel::RunQueryDsl;
use diesel::sql_types::Text;

use crate::{DbConnection, DbError};

/// Writes a consistent copy of the SQLite database to `path`, which must not exist, while
/// the server keeps running: `VACUUM INTO` reads one snapshot and writes it compacted.
pub fn sqlite_into(conn: &mut DbConnection, path: &str) -> Result<(), DbError> {
    match conn {
        DbConnection::Sqlite(conn) => {
            diesel::sql_query("VACUUM INTO ?")
                .bind::<Text, _>(path)
                .execute(conn)?;
            Ok(())
        }
        DbConnection::Postgres(_) => Err(DbError::Unsupported(
            "backup copies the embedded SQLite database; for PostgreSQL use pg_dump (see the README)"
                .into(),
        )),
    }
}

/// Whether the file at `path` is a pulsekey SQLite database, before anything migrates it:
/// it has the migrations table and the tables every pulsekey database has.
pub fn sqlite_is_pulsekey_backup(path: &str) -> Result<bool, DbError> {
    use diesel::Connection as _;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let Ok(mut conn) = diesel::SqliteConnection::establish(path) else {
        return Ok(false);
    };
    let found: Result<Vec<Count>, _> = diesel::sql_query(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN \
         ('__diesel_schema_migrations', 'users', 'servers', 'audit_log')",
    )
    .load(&mut conn);
    // Not a database at all reads as an error here: not a backup either.
    Ok(found.is_ok_and(|rows| rows.first().is_some_and(|c| c.n == 4)))
}

/// Whether the SQLite file at `conn` passes `PRAGMA integrity_check`.
pub fn sqlite_is_intact(conn: &mut DbConnection) -> Result<bool, DbError> {
    #[derive(diesel::QueryableByName)]
    struct Check {
        #[diesel(sql_type = Text)]
        integrity_check: String,
    }
    match conn {
        DbConnection::Sqlite(conn) => {
            let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(conn)?;
            Ok(rows.len() == 1 && rows[0].integrity_check == "ok")
        }
        DbConnection::Postgres(_) => Err(DbError::Unsupported("not a SQLite database".into())),
    }
}
