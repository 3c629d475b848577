//! A person's own sessions: seeing where they are signed in, and ending what they do not
//! recognise.

use pulsekey_db::{DbConnection, sessions};
use pulsekey_types::{SessionList, SessionView};
use serde_json::json;
use time::{Duration, PrimitiveDateTime};

use super::DomainError;
use super::audit::{Audited, Tx};

/// How stale a session's "last used" may be: refreshing it on every request would be a
/// write per request.
pub const LAST_USED_PRECISION: Duration = Duration::minutes(1);

/// Whether a request on a session last used at `last_used_at` should record its use.
pub fn due_for_touch(last_used_at: Option<PrimitiveDateTime>, now: PrimitiveDateTime) -> bool {
    last_used_at.is_none_or(|at| now - at >= LAST_USED_PRECISION)
}

/// The user's live sessions, `current` marked.
pub fn list_own(
    conn: &mut DbConnection,
    user_id: i64,
    current: &str,
) -> Result<SessionList, DomainError> {
    let items = sessions::live_of_user(conn, user_id, pulsekey_db::now())?
        .into_iter()
        .map(|row| SessionView {
            current: row.id == current,
            id: row.id,
            created_at: pulsekey_db::from_stored(row.created_at),
            last_used_at: row.last_used_at.map(pulsekey_db::from_stored),
            expires_at: pulsekey_db::from_stored(row.expires_at),
            address: row.address,
            user_agent: row.user_agent,
        })
        .collect();
    Ok(SessionList { items })
}

/// Ends one of the user's own sessions; someone else's is not found.
pub fn end_own(
    tx: &mut Tx<'_>,
    user_id: i64,
    session_id: &str,
) -> Result<Audited<()>, DomainError> {
    if !sessions::revoke_of_user(tx.conn(), user_id, session_id, pulsekey_db::now())? {
        return Err(DomainError::NotFound("session"));
    }
    // The id names a session to its owner only: the audit log keeps a prefix to match.
    let prefix: String = session_id.chars().take(8).collect();
    Ok(tx.audit(
        "auth.session.ended",
        None,
        json!({ "subjectUserId": user_id, "session": prefix }),
        (),
    )?)
}

/// Ends every session of the user but `kept`. Returns how many ended.
pub fn end_others(
    tx: &mut Tx<'_>,
    user_id: i64,
    kept: &str,
) -> Result<Audited<usize>, DomainError> {
    let ended = sessions::revoke_others_of_user(tx.conn(), user_id, kept, pulsekey_db::now())?;
    if ended == 0 {
        return Ok(Audited::nothing_changed(0));
    }
    Ok(tx.audit(
        "auth.sessions.ended_others",
        None,
        json!({ "subjectUserId": user_id, "ended": ended }),
        ended,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn use_is_recorded_at_most_once_a_minute() {
        let now = datetime!(2026-12-04 12:00:00);
        assert!(due_for_touch(None, now));
        assert!(!due_for_touch(Some(now - Duration::seconds(59)), now));
        assert!(due_for_touch(Some(now - Duration::seconds(60)), now));
    }
}
