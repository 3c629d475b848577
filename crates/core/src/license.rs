//! The license status machine, as pure functions of the stored state and
//! the time.
//!
//! ```text
//! ACTIVE --revoke(days)--> GRACE --window passes--> EXPIRED
//!   ^                        |                         |
//!   +------- reinstate ------+-------- reinstate ------+
//! ```

use pulsekey_types::{Connection, LicenseStatus};
use time::{Duration, OffsetDateTime};

use super::DomainError;

/// The status to report, whatever the row says: a GRACE whose window has passed IS
/// expired, whether or not the sweep has written that down yet. A GRACE without an expiry
/// (only possible by hand-editing) fails closed as EXPIRED.
pub fn effective_status(
    stored: LicenseStatus,
    grace_expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> LicenseStatus {
    match (stored, grace_expires_at) {
        (LicenseStatus::Grace, Some(expires)) if expires > now => LicenseStatus::Grace,
        (LicenseStatus::Grace, _) => LicenseStatus::Expired,
        (other, _) => other,
    }
}

/// Reads a stored status; anything unexpected (a hand-edit typo) fails closed.
pub fn parse_stored_status(stored: &str) -> LicenseStatus {
    LicenseStatus::parse(stored).unwrap_or(LicenseStatus::Expired)
}

/// The state after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LicenseState {
    pub status: LicenseStatus,
    pub grace_expires_at: Option<OffsetDateTime>,
}

/// Revoke: ACTIVE → GRACE for `grace_days`. From GRACE or EXPIRED it is refused.
pub fn revoke(
    current: LicenseStatus,
    grace_days: i64,
    now: OffsetDateTime,
) -> Result<LicenseState, DomainError> {
    if current != LicenseStatus::Active {
        return Err(DomainError::LicenseNotActive(current));
    }
    validate_grace_days(grace_days)?;
    Ok(LicenseState {
        status: LicenseStatus::Grace,
        grace_expires_at: Some(now + Duration::days(grace_days)),
    })
}

/// Reinstate: GRACE or EXPIRED → ACTIVE, clearing the window. From ACTIVE it is refused.
pub fn reinstate(current: LicenseStatus) -> Result<LicenseState, DomainError> {
    if current == LicenseStatus::Active {
        return Err(DomainError::LicenseNotInGrace);
    }
    Ok(LicenseState {
        status: LicenseStatus::Active,
        grace_expires_at: None,
    })
}

/// The grace windows a revoke may ask for, and the configured default must fall in.
pub const GRACE_DAYS_RANGE: std::ops::RangeInclusive<i64> = 1..=365;

pub fn validate_grace_days(grace_days: i64) -> Result<(), DomainError> {
    if GRACE_DAYS_RANGE.contains(&grace_days) {
        Ok(())
    } else {
        Err(DomainError::Validation(format!(
            "graceDays must be between 1 and 365, got {grace_days}"
        )))
    }
}

/// How recently the proxy called in: online within 2 intervals, late within 10.
pub fn connection(
    last_heartbeat_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
    interval_secs: u64,
) -> Connection {
    let Some(last) = last_heartbeat_at else {
        return Connection::Never;
    };
    let interval = Duration::seconds(i64::try_from(interval_secs).unwrap_or(i64::MAX / 20));
    let age = now - last;
    if age <= interval * 2 {
        Connection::Online
    } else if age <= interval * 10 {
        Connection::Late
    } else {
        Connection::Offline
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LicenseStatus::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-29 12:00 UTC);

    #[test]
    fn grace_is_expired_once_the_window_has_passed() {
        let later = NOW + Duration::seconds(1);
        assert_eq!(effective_status(Grace, Some(later), NOW), Grace);
        assert_eq!(effective_status(Grace, Some(NOW), NOW), Expired);
        assert_eq!(
            effective_status(Grace, Some(NOW - Duration::days(1)), NOW),
            Expired
        );
        assert_eq!(effective_status(Grace, None, NOW), Expired);
        assert_eq!(
            effective_status(Active, Some(NOW - Duration::days(1)), NOW),
            Active
        );
        assert_eq!(effective_status(Expired, None, NOW), Expired);
    }

    #[test]
    fn revoke_starts_a_window_only_from_active() {
        let state = revoke(Active, 5, NOW).unwrap();
        assert_eq!(state.status, Grace);
        assert_eq!(state.grace_expires_at, Some(NOW + Duration::days(5)));
        assert!(matches!(
            revoke(Grace, 5, NOW),
            Err(DomainError::LicenseNotActive(Grace))
        ));
        assert!(matches!(
            revoke(Expired, 5, NOW),
            Err(DomainError::LicenseNotActive(Expired))
        ));
    }

    #[test]
    fn revoke_checks_the_window_length() {
        for days in [0, -1, 366, i64::MAX, i64::MIN] {
            assert!(
                matches!(revoke(Active, days, NOW), Err(DomainError::Validation(_))),
                "{days}"
            );
        }
        assert!(revoke(Active, 1, NOW).is_ok());
        assert!(revoke(Active, 365, NOW).is_ok());
    }

    #[test]
    fn reinstate_clears_the_window_and_refuses_active() {
        for from in [Grace, Expired] {
            assert_eq!(
                reinstate(from).unwrap(),
                LicenseState {
                    status: Active,
                    grace_expires_at: None
                }
            );
        }
        assert!(matches!(
            reinstate(Active),
            Err(DomainError::LicenseNotInGrace)
        ));
    }

    #[test]
    fn unknown_stored_status_fails_closed() {
        assert_eq!(parse_stored_status("ACTIVE"), Active);
        assert_eq!(parse_stored_status("active"), Expired);
        assert_eq!(parse_stored_status(""), Expired);
    }

    #[test]
    fn connection_is_measured_in_intervals() {
        let at = |secs: i64| Some(NOW - Duration::seconds(secs));
        assert_eq!(connection(None, NOW, 60), Connection::Never);
        assert_eq!(connection(at(0), NOW, 60), Connection::Online);
        assert_eq!(connection(at(120), NOW, 60), Connection::Online);
        assert_eq!(connection(at(121), NOW, 60), Connection::Late);
        assert_eq!(connection(at(600), NOW, 60), Connection::Late);
        assert_eq!(connection(at(601), NOW, 60), Connection::Offline);
        assert_eq!(connection(at(0), NOW, u64::MAX), Connection::Online);
    }
}
