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
