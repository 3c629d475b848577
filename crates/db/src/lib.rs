//! Storage for pulsekey. Every SQL statement of the project lives in this crate, one module
//! per table; callers see row structs, forms and plain functions over a [`DbConnection`].
//!
//! Diesel is synchronous: the server runs these functions on a blocking thread pool.

pub mod audit;
pub mod backup;
mod connection;
pub mod copy;
mod error;
pub mod fleet;
pub mod license_changes;
pub mod login_failures;
pub mod retired_keys;
pub mod schema;
pub mod second_factors;
pub mod server_events;
pub mod servers;
pub mod sessions;
mod sql;
pub use sql::Total;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tokens;
pub mod users;
pub mod webhooks;

pub use connection::{Backend, Db, DbConnection, PoolState, PooledConnection};
pub use error::{DbError, storage};

/// The current time in UTC as stored: timestamps columns hold UTC without an offset,
/// truncated to microseconds because that is what PostgreSQL keeps.
pub fn now() -> time::PrimitiveDateTime {
    to_stored(time::OffsetDateTime::now_utc())
}

/// Converts a UTC instant to the stored form (see [`now`]).
pub fn to_stored(at: time::OffsetDateTime) -> time::PrimitiveDateTime {
    let utc = at.to_offset(time::UtcOffset::UTC);
    let micros = utc.microsecond();
    let utc = utc.replace_microsecond(micros).unwrap_or(utc);
    time::PrimitiveDateTime::new(utc.date(), utc.time())
}

/// Reads a stored timestamp back as a UTC instant.
pub fn from_stored(at: time::PrimitiveDateTime) -> time::OffsetDateTime {
    at.assume_utc()
}
