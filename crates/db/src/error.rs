use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong in storage, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("row not found")]
    NotFound,
    /// A unique constraint refused the write (e.g. a username that is taken).
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// No connection could be had: the database is down or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// The disk is full or failing: nothing could be written.
    #[error("storage is full or failing: {0}")]
    StorageFailing(String),
    #[error("database error: {0}")]
    Query(DieselError),
    /// The operation does not apply to this backend.
    #[error("{0}")]
    Unsupported(String),
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => Self::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                Self::UniqueViolation(info.message().to_owned())
            }
            DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                Self::Unavailable(info.message().to_owned())
            }
            DieselError::DatabaseError(_, info) if is_storage_failure(info.message()) => {
                storage::noted_failure();
                Self::StorageFailing(info.message().to_owned())
            }
            other => Self::Query(other),
        }
    }
}

impl From<r2d2::Error> for DbError {
    fn from(err: r2d2::Error) -> Self {
        Self::Unavailable(err.to_string())
    }
}

/// SQLite's SQLITE_FULL and SQLITE_IOERR, PostgreSQL's disk_full and failed writes, by the
/// message each driver gives (neither exposes the code through diesel).
fn is_storage_failure(message: &str) -> bool {
    const SIGNS: [&str; 5] = [
        "database or disk is full",
        "disk I/O error",
        "No space left on device",
        "could not extend file",
        "could not write to file",
    ];
    SIGNS.iter().any(|sign| message.contains(sign))
}

/// Whether a storage failure has been seen since the last successful write probe: what
/// readiness reports, shared by every connection of the process.
pub mod storage {
    use std::sync::atomic::{AtomicBool, Ordering};

    static FAILING: AtomicBool = AtomicBool::new(false);

    pub(crate) fn noted_failure() {
        FAILING.store(true, Ordering::SeqCst);
    }

    /// A write failed for lack of storage and no probe has succeeded since.
    pub fn failure_seen() -> bool {
        FAILING.load(Ordering::SeqCst)
    }

    pub(crate) fn probe_succeeded() {
        FAILING.store(false, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn full_and_failing_disks_are_told_apart_from_other_errors() {
        assert!(super::is_storage_failure("database or disk is full"));
        assert!(super::is_storage_failure(
            "could not extend file \"base/16384/2619\": No space left on device"
        ));
        assert!(!super::is_storage_failure(
            "UNIQUE constraint failed: users.username"
        ));
    }
}
