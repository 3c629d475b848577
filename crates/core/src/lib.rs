//! pulsekey's rules and its heartbeat engine. Nothing here speaks HTTP, parses a command
//! line or writes SQL: this crate depends on neither actix, clap nor utoipa, and reaches
//! storage only through `pulsekey_db` (ARCHITECTURE.md, "Code map"). The server calls in;
//! nothing here calls out.

pub mod accounts;
pub mod audit;
pub mod audit_log;
pub mod crypto;
pub mod heartbeat;
pub mod keys;
pub mod license;
pub mod servers;
pub mod sign_in;
pub mod tokens;

#[cfg(test)]
mod tests {
    #[test]
    fn bidirectional_controls_are_unprintable() {
        for c in [
            '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200F}', '\u{061C}', '\n', '\0',
        ] {
            assert!(super::is_unprintable(c), "{c:?}");
        }
        for c in ['a', 'é', '名', '-', ' '] {
            assert!(!super::is_unprintable(c), "{c:?}");
        }
    }
}

/// Characters no name, address or version shown to an admin may hold: control characters,
/// and the bidirectional controls (U+202E and kin) that make `gpj.exe` read as `exe.jpg`.
pub fn is_unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// What a domain operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Validation(String),
    /// Input that is not even the right shape (a 400, where `Validation` is a 422).
    #[error("{0}")]
    Malformed(String),
    #[error("username is already taken")]
    UsernameTaken,
    #[error("only an ACTIVE license can be revoked (this one is {0})")]
    LicenseNotActive(pulsekey_types::LicenseStatus),
    #[error("only a license in GRACE or EXPIRED can be reinstated (this one is ACTIVE)")]
    LicenseNotInGrace,
    #[error("servers belong to customers; user {0} is not a customer")]
    OwnerNotCustomer(i64),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("too many attempts; retry after {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("stored license key cannot be decrypted with the configured data key")]
    UndecryptableKey,
    #[error(transparent)]
    Db(#[from] pulsekey_db::DbError),
}
