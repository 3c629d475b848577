use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, ConnectionError, PgConnection, RunQueryDsl, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::DbError;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Every SQLite connection: WAL so readers never wait for the writer, a busy timeout so a
/// writer waits for another instead of failing with "database is locked", NORMAL sync (safe
/// in WAL: a power cut may lose the last commits, never corrupt the file).
const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

/// Any advisory-lock key will do, as long as it is the same on every node.
const MIGRATION_LOCK_KEY: i64 = 0x7075_6c73_656b;

/// A connection to either backend; diesel generates the shared query backend.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; `sqlite://PATH` or a plain
    /// path selects SQLite. Returns the backend and what to hand its driver.
    pub fn from_url(url: &str) -> Result<(Self, &str), DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok((Self::Postgres, url))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Ok((Self::Sqlite, path))
        } else if url.contains("://") {
            Err(DbError::Unavailable(
                "DATABASE_URL must start with postgres:// or sqlite:// (or be a file path)".into(),
            ))
        } else {
            Ok((Self::Sqlite, url))
        }
    }
}

/// Opens connections for the pool, set up for their backend.
#[derive(Debug)]
pub struct ConnectionManager {
    backend: Backend,
    target: String,
}

impl r2d2::ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConnection, ConnectionError> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target)?;
                conn.batch_execute(SQLITE_PRAGMAS)
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
                Ok(DbConnection::Sqlite(conn))
            }
            Backend::Postgres => Ok(DbConnection::Postgres(PgConnection::establish(
                &self.target,
            )?)),
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        match conn {
            DbConnection::Sqlite(_) => false,
            DbConnection::Postgres(pg) => diesel::r2d2::R2D2Connection::is_broken(pg),
        }
    }
}

pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Connections of the pool: `open - idle` are in use; `open == max` with none idle is
/// saturation, and requests then wait for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    pub max: u32,
    pub open: u32,
    pub idle: u32,
}

/// The database: a connection pool plus which backend it is. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnectionManager>,
    manager: std::sync::Arc<ConnectionManager>,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// Connects, runs pending migrations, and hands out a pool of `pool_size` connections.
    pub fn open(url: &str, pool_size: u32) -> Result<Self, DbError> {
        let (backend, target) = Backend::from_url(url)?;
        let manager = ConnectionManager {
            backend,
            target: target.to_owned(),
        };
        // Connect once outside the pool so a bad URL or a down server is reported with the
        // driver's own reason rather than r2d2's generic time-out.
        let mut first = r2d2::ManageConnection::connect(&manager)
            .map_err(|err| DbError::Unavailable(describe_connection_error(&err)))?;
        run_migrations(&mut first)?;
        drop(first);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .build(ConnectionManager {
                backend,
                target: target.to_owned(),
            })?;
        Ok(Self {
            pool,
            manager: std::sync::Arc::new(manager),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection from the pool; blocks for up to 5 s when all are busy.
    pub fn conn(&self) -> Result<PooledConnection, DbError> {
        Ok(self.pool.get()?)
    }

    /// A connection of its own, outside the pool, for work that must never wait for one.
    pub fn dedicated(&self) -> Result<DbConnection, DbError> {
        r2d2::ManageConnection::connect(&*self.manager)
            .map_err(|err| DbError::Unavailable(describe_connection_error(&err)))
    }

    /// How busy the pool is now, for the metrics endpoint.
    pub fn pool_state(&self) -> PoolState {
        let state = self.pool.state();
        PoolState {
            max: self.pool.max_size(),
            open: state.connections,
            idle: state.idle_connections,
        }
    }

    /// Answers whether the database takes a query now (readiness).
    pub fn ping(&self) -> Result<(), DbError> {
        let mut conn = self.pool.get_timeout(Duration::from_secs(2))?;
        diesel::sql_query("SELECT 1").execute(&mut *conn)?;
        Ok(())
    }

    /// Writes one row and commits: whether storage takes writes at all. Readiness runs it
    /// after a storage failure, and a success clears what that failure noted.
    pub fn probe_write(&self) -> Result<(), DbError> {
        use diesel::ExpressionMethods as _;
        let now = crate::now();
        self.transaction(|conn| {
            diesel::update(crate::schema::storage_probe::table)
                .set(crate::schema::storage_probe::at.eq(now))
                .execute(conn)
                .map_err(DbError::from)
        })?;
        crate::storage::probe_succeeded();
        Ok(())
    }

    /// Runs `f` on one read snapshot: on SQLite a deferred transaction, which takes no
    /// write lock, so a running server carries on writing meanwhile (to the WAL). Rolled
    /// back at the end: `f` is meant to read.
    pub fn read_snapshot<T>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let mut pooled = self.conn()?;
        let conn: &mut DbConnection = &mut pooled;
        match conn {
            DbConnection::Sqlite(sqlite) => {
                AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN DEFERRED")?
            }
            DbConnection::Postgres(pg) => AnsiTransactionManager::begin_transaction_sql(
                pg,
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            )?,
        }
        let result = f(conn);
        let _ = match conn {
            DbConnection::Sqlite(sqlite) => AnsiTransactionManager::rollback_transaction(sqlite),
            DbConnection::Postgres(pg) => AnsiTransactionManager::rollback_transaction(pg),
        };
        result
    }

    /// Runs `f` in one transaction: it commits when `f` returns `Ok`, rolls back otherwise.
    ///
    /// On SQLite the transaction takes the write lock at BEGIN (`BEGIN IMMEDIATE`). A
    /// deferred one that reads first and writes later cannot wait for another writer: if one
    /// committed meanwhile, its snapshot is stale and SQLite fails it at once with "database
    /// is locked", busy timeout or not. Taking the lock first makes it wait its turn.
    pub fn transaction<T, E>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<DbError>,
    {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        let mut pooled = self.conn()?;
        let conn: &mut DbConnection = &mut pooled;
        if let DbConnection::Sqlite(sqlite) = conn {
            AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")
                .map_err(|err| E::from(DbError::from(err)))?;
            let result = f(conn);
            let DbConnection::Sqlite(sqlite) = conn else {
                unreachable!("the connection is SQLite: matched above");
            };
            return match result {
                Ok(value) => AnsiTransactionManager::commit_transaction(sqlite)
                    .map(|()| value)
                    .map_err(|err| E::from(DbError::from(err))),
                Err(err) => {
                    // The caller's error says more than a failed rollback would.
                    let _ = AnsiTransactionManager::rollback_transaction(sqlite);
                    Err(err)
                }
            };
        }
        conn.transaction::<T, TxError<E>, _>(|tx| f(tx).map_err(TxError::Caller))
            .map_err(|err| match err {
                TxError::Caller(err) => err,
                TxError::Database(err) => E::from(DbError::from(err)),
            })
    }
}

/// Lets callers keep their own error type while diesel reports BEGIN/COMMIT failures.
enum TxError<E> {
    Caller(E),
    Database(diesel::result::Error),
}

impl<E> From<diesel::result::Error> for TxError<E> {
    fn from(err: diesel::result::Error) -> Self {
        Self::Database(err)
    }
}

fn describe_connection_error(err: &ConnectionError) -> String {
    // libpq's messages end in a newline and sometimes span lines; keep one clean line.
    err.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The migration that makes usernames unique regardless of case.
const USERNAME_CASE_MIGRATION: &str = "username_case";

/// Before that migration: existing names that differ only by case would make it fail with
/// a bare "UNIQUE constraint failed". Name them instead, and change nothing.
fn check_username_case(conn: &mut DbConnection, pending: &[String]) -> Result<(), DbError> {
    if !pending
        .iter()
        .any(|name| name.contains(USERNAME_CASE_MIGRATION))
    {
        return Ok(());
    }
    // A database this new has no users table yet.
    if pending.iter().any(|name| name.contains("_init")) {
        return Ok(());
    }
    let duplicates = crate::users::case_duplicates(conn)?;
    if duplicates.is_empty() {
        return Ok(());
    }
    let listed = duplicates
        .iter()
        .map(|(id, name)| format!("{name} (id {id})"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(DbError::Migration(format!(
        "usernames must now be unique regardless of case, and these differ only by case: \
         {listed}; rename all but one of each group (UPDATE users SET username = … WHERE id = …) \
         and start again; nothing was changed"
    )))
}

fn pending_names<C>(conn: &mut C, source: EmbeddedMigrations) -> Result<Vec<String>, DbError>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    Ok(conn
        .pending_migrations(source)
        .map_err(|err| DbError::Migration(err.to_string()))?
        .iter()
        .map(|m| m.name().to_string())
        .collect())
}

fn run_migrations(conn: &mut DbConnection) -> Result<(), DbError> {
    let failed =
        |err: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(err.to_string());
    let pending = match conn {
        DbConnection::Sqlite(sqlite) => pending_names(sqlite, SQLITE_MIGRATIONS)?,
        DbConnection::Postgres(pg) => pending_names(pg, POSTGRES_MIGRATIONS)?,
    };
    check_username_case(conn, &pending)?;
    match conn {
        DbConnection::Sqlite(sqlite) => {
            sqlite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(failed)?;
        }
        DbConnection::Postgres(pg) => {
            // Several nodes may start at once; one migrates while the others wait.
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .execute(pg)?;
            let result = pg
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|_| ())
                .map_err(failed);
            diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                .execute(pg)?;
            result?;
        }
    }
    Ok(())
}
