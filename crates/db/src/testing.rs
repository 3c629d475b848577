//! Test support: throwaway PostgreSQL databases and the hand edits operators make.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

use crate::{DbConnection, DbError};

/// A PostgreSQL database created for one test and dropped when this is dropped.
pub struct TempPgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TempPgDatabase {
    /// Creates `pulsekey_test_<random>` on the server `admin_url` points at.
    pub fn create(admin_url: &str, suffix: &str) -> Result<Self, DbError> {
        let mut admin = PgConnection::establish(admin_url)
            .map_err(|err| DbError::Unavailable(format!("PULSEKEY_TEST_DATABASE_URL: {err}")))?;
        let name = format!("pulsekey_test_{suffix}");
        // Separate statements: a multi-statement batch is one implicit transaction, which
        // CREATE/DROP DATABASE refuse.
        admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
        admin.batch_execute(&format!("CREATE DATABASE {name}"))?;
        let url = replace_database(admin_url, &name);
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for TempPgDatabase {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `postgres://u@h:p/db?x` with `db` replaced.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs raw SQL, as an operator at a `psql` prompt would.
pub fn execute(conn: &mut DbConnection, sql: &str) -> Result<(), DbError> {
    conn.batch_execute(sql)?;
    Ok(())
}

/// A connection to a SQLite file with no migrations run: to look at a database that
/// refused to open.
pub fn open_sqlite_unmigrated(path: &str) -> Result<DbConnection, DbError> {
    use diesel::Connection as _;
    diesel::SqliteConnection::establish(path)
        .map(DbConnection::Sqlite)
        .map_err(|err| DbError::Unavailable(err.to_string()))
}

/// The one number `sql` selects (as a column named `n`).
pub fn query_number(conn: &mut DbConnection, sql: &str) -> Result<i64, DbError> {
    use diesel::RunQueryDsl as _;
    #[derive(diesel::QueryableByName)]
    struct Number {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    Ok(diesel::sql_query(sql).get_result::<Number>(conn)?.n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_only_the_database_name() {
        assert_eq!(
            super::replace_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_database("postgres://h", "x"),
            "postgres://h/x"
        );
    }
}
