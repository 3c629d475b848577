//! pulsekey's rules and its heartbeat engine. Nothing here speaks HTTP, parses a command
//! line or writes SQL: this crate depends on neither actix, clap nor utoipa, and reaches
//! storage only through `pulsekey_db` (ARCHITECTURE.md, "Code map"). The server calls in;
//! nothing here calls out.

pub mod accounts;
pub mod audit;
pub mod audit_log;
pub mod crypto;
pub mod fleet;
pub mod heartbeat;
pub mod keys;
pub mod license;
pub mod second_factor;
pub mod servers;
pub mod sessions;
pub mod sign_in;
pub mod tokens;
pub mod webhooks;

#[cfg(test)]
mod tests {
    #[test]
    fn text_filters_are_trimmed_and_refuse_control_characters() {
        assert_eq!(super::text_filter("q", None).unwrap(), None);
        assert_eq!(super::text_filter("q", Some("  ".into())).unwrap(), None);
        assert_eq!(
            super::text_filter("q", Some(" acme ".into())).unwrap(),
            Some("acme".into())
        );
        for bad in ["a\0b", "a\u{202e}b", "a\nb"] {
            assert!(
                super::text_filter("q", Some(bad.into())).is_err(),
                "{bad:?}"
            );
        }
    }

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

/// A text filter of a listing (`q`, `version`, `action`): trimmed, empty as none, and
/// refused when it holds a character no stored value can (a NUL would also reach
/// PostgreSQL, which refuses it as a database error rather than matching nothing).
pub fn text_filter(name: &str, value: Option<String>) -> Result<Option<String>, DomainError> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.chars().any(is_unprintable) {
        return Err(DomainError::Validation(format!(
            "{name} must not hold control characters"
        )));
    }
    Ok(Some(value))
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
    #[error("a second factor is already on; turn it off before enrolling another")]
    SecondFactorAlreadyOn,
    #[error("stored license key cannot be decrypted with the configured data key")]
    UndecryptableKey,
    #[error(transparent)]
    Db(#[from] pulsekey_db::DbError),
}
