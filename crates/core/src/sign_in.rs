//! Signing in with a password, and the limits on failing at it.
//!
//! Failures are counted in the database, so every node of a cluster enforces one budget,
//! in three counters over a fixed 15-minute window:
//! - per (account, address): past `PULSEKEY_LOGIN_FAILURES_PER_ACCOUNT`, that address waits
//!   for the window to end before it may try that account again (429);
//! - per address: past `PULSEKEY_LOGIN_FAILURES_PER_ADDRESS`, the address waits (one
//!   address trying many accounts);
//! - per account, from anywhere: never a wall, since anyone could raise it and lock the
//!   owner out. Past the same free allowance each attempt is slowed instead, by a delay that
//!   doubles with every further failure up to [`MAX_ACCOUNT_DELAY`], counted from the last
//!   failure. The right password still gets in, after the wait.

use pulsekey_db::login_failures::{self, Count, Scope};
use pulsekey_db::{DbConnection, users};
use serde_json::json;
use time::{Duration, PrimitiveDateTime};

use super::DomainError;
use super::accounts;
use super::audit::{Actor, Audited, Tx};
use super::crypto::DataKey;
use super::second_factor;

pub const WINDOW: Duration = Duration::minutes(15);
pub const MAX_ACCOUNT_DELAY: Duration = Duration::seconds(8);
/// Usernames are at most 64 characters; anything longer is stored and counted cut here.
const MAX_ATTEMPTED_USERNAME: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Failures one address may have against one account per window.
    pub per_account: i64,
    /// Failures one address may have per window, over all accounts.
    pub per_address: i64,
}

/// Whether an attempt may go ahead, and after how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open { delay: Duration },
    Closed { retry_after_secs: u64 },
}

/// The counters that bear on one attempt.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    pub pair: Option<Count>,
    pub address: Option<Count>,
    pub account: Option<Count>,
}

/// The attempted name as counted and stored: lowercased and bounded.
pub fn account_subject(username: &str) -> String {
    let mut subject: String = username.chars().take(MAX_ATTEMPTED_USERNAME + 1).collect();
    subject.make_ascii_lowercase();
    subject
}

fn pair_subject(account: &str, address: &str) -> String {
    format!("{address} {account}")
}

/// The rule, with no storage in it.
pub fn gate(limits: Limits, counts: &Counts, now: PrimitiveDateTime) -> Gate {
    let wait_out = |count: &Count| Gate::Closed {
        retry_after_secs: u64::try_from((count.window_start + WINDOW - now).whole_seconds())
            .unwrap_or(0)
            .max(1),
    };
    for (count, limit) in [
        (&counts.pair, limits.per_account),
        (&counts.address, limits.per_address),
    ] {
        if let Some(count) = count.as_ref().filter(|c| c.failures >= limit) {
            return wait_out(count);
        }
    }
    let delay = counts.account.as_ref().map_or(Duration::ZERO, |count| {
        let waited: Duration = now - count.last_at;
        (account_delay(count.failures, limits.per_account) - waited).max(Duration::ZERO)
    });
    Gate::Open { delay }
}

/// How long after its last failure an account's next attempt waits: nothing within the
/// free allowance, then 1 s, 2 s, 4 s… up to [`MAX_ACCOUNT_DELAY`].
pub fn account_delay(failures: i64, free: i64) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(failures - free).unwrap_or(u32::MAX).min(8);
    (Duration::SECOND * 2i32.pow(doublings)).min(MAX_ACCOUNT_DELAY)
}

/// Reads the counters for an attempt at `username` from `address`.
pub fn counts(
    conn: &mut DbConnection,
    username: &str,
    address: &str,
    now: PrimitiveDateTime,
) -> Result<Counts, DomainError> {
    let account = account_subject(username);
    let opened_after = now - WINDOW;
    Ok(Counts {
        pair: login_failures::get(
            conn,
            Scope::Pair,
            &pair_subject(&account, address),
            opened_after,
        )?,
        address: login_failures::get(conn, Scope::Address, address, opened_after)?,
        account: login_failures::get(conn, Scope::Account, &account, opened_after)?,
    })
}

/// A signed-in user, the new session's id and its expiry.
pub type SignedIn = (users::UserRow, String, time::OffsetDateTime);

/// Where a sign-in comes from, as its session remembers it for the Security page.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A right password: signed in, or a second factor still to show.
#[derive(Debug)]
pub enum PasswordAccepted {
    SignedIn(SignedIn),
    SecondFactorNeeded(users::UserRow),
}

/// Why a sign-in with a well-formed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such user or another password (one answer for both).
    WrongCredentials,
    /// The right password of a disabled account.
    Disabled,
}

/// An empty username or password is a form sent too soon, not a failed attempt: refused
/// before anything is counted.
pub fn check_filled(username: &str, password: &str) -> Result<(), DomainError> {
    match (username.trim().is_empty(), password.is_empty()) {
        (false, false) => Ok(()),
        (true, true) => Err(DomainError::Validation(
            "enter a username and a password".into(),
        )),
        (true, false) => Err(DomainError::Validation("enter a username".into())),
        (false, true) => Err(DomainError::Validation("enter a password".into())),
    }
}

/// Counts one wrong password against the account, the address and the pair: the budget that
/// sign-in and a password change share.
pub(crate) fn count_failure(
    tx: &mut Tx<'_>,
    account: &str,
    address: &str,
    now: PrimitiveDateTime,
) -> Result<(), DomainError> {
    let opened_after = now - WINDOW;
    let pair = pair_subject(account, address);
    for (scope, subject) in [
        (Scope::Pair, pair.as_str()),
        (Scope::Address, address),
        (Scope::Account, account),
    ] {
        login_failures::record(tx.conn(), scope, subject, now, opened_after)?;
    }
    Ok(())
}

/// A signed-in user changes their own password, proving the current one. A wrong current
/// password is counted like a failed sign-in (the caller checks [`gate`] first) and audited;
/// a change ends every other session of the user (`kept` is the one asking) and is audited.
pub fn change_own_password(
    tx: &mut Tx<'_>,
    user_id: i64,
    current: &str,
    new: &str,
    address: &str,
    kept: Option<&str>,
) -> Result<Audited<Result<(), Refusal>>, DomainError> {
    if current.is_empty() {
        return Err(DomainError::Validation("enter the current password".into()));
    }
    accounts::validate_password(new)?;
    let user = users::find(tx.conn(), user_id)?;
    let now = pulsekey_db::now();
    if !accounts::verify_password(current, &user.password_hash) {
        count_failure(tx, &account_subject(&user.username), address, now)?;
        let metadata = json!({ "subjectUserId": user_id, "reason": "wrong current password" });
        return Ok(tx.audit(
            "user.password.change.failed",
            None,
            metadata,
            Err(Refusal::WrongCredentials),
        )?);
    }
    users::update(
        tx.conn(),
        user_id,
        &users::UserUpdateForm {
            password_hash: Some(accounts::hash_password(new)?),
            updated_at: Some(now),
            ..Default::default()
        },
    )?;
    match kept {
        Some(kept) => {
            pulsekey_db::sessions::revoke_others_of_user(tx.conn(), user_id, kept, now)?;
        }
        None => pulsekey_db::sessions::revoke_all_for_user(tx.conn(), user_id, now)?,
    }
    Ok(tx.audit(
        "user.password.change",
        None,
        json!({ "subjectUserId": user_id }),
        Ok(()),
    )?)
}

/// Checks the password; on failure counts it and audits it. On success, a user with a
/// second factor is asked for it (nothing cleared, no session yet); anyone else has the
/// account's counters cleared and a session started. Each in the caller's transaction.
pub fn attempt(
    tx: &mut Tx<'_>,
    username: &str,
    password: &str,
    address: &str,
    client: &Client,
) -> Result<Audited<Result<PasswordAccepted, Refusal>>, DomainError> {
    let account = account_subject(username);
    let now = pulsekey_db::now();
    let checked = match accounts::check_credentials(tx.conn(), username, password)? {
        accounts::Credentials::Valid(user) => Ok(*user),
        accounts::Credentials::Wrong => Err(Refusal::WrongCredentials),
        accounts::Credentials::Disabled => Err(Refusal::Disabled),
    };
    let user = match checked {
        Ok(user) => user,
        Err(refusal) => {
            count_failure(tx, &account, address, now)?;
            let actor = Actor {
                ip: client.ip.clone(),
                ..Actor::default()
            };
            let truncated = username.chars().count() > MAX_ATTEMPTED_USERNAME;
            let attempted: String = username.chars().take(MAX_ATTEMPTED_USERNAME).collect();
            let mut metadata = json!({ "username": attempted });
            if truncated {
                metadata["usernameTruncated"] = json!(true);
            }
            if refusal == Refusal::Disabled {
                metadata["reason"] = json!("disabled");
            }
            return Ok(tx.audit_as(&actor, "auth.login.failed", None, metadata, Err(refusal))?);
        }
    };
    let actor = actor_of(&user, client);
    if second_factor::confirmed(tx.conn(), user.id)?.is_some() {
        // The password was right: worth a line in the audit log, as only the second
        // factor now stands between whoever typed it and the account.
        return Ok(tx.audit_as(
            &actor,
            "auth.login.password_accepted",
            None,
            json!({ "secondFactor": "required" }),
            Ok(PasswordAccepted::SecondFactorNeeded(user)),
        )?);
    }
    let signed_in = open_session(tx, user, address, client)?;
    Ok(tx.audit_as(
        &actor,
        "auth.login",
        None,
        json!({}),
        Ok(PasswordAccepted::SignedIn(signed_in)),
    )?)
}

/// The second step of a sign-in, for a user whose password was right moments ago: a code
/// from the authenticator app or a recovery code. A wrong one counts like a wrong password.
pub fn finish_with_second_factor(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    user_id: i64,
    code: &str,
    address: &str,
    client: &Client,
) -> Result<Audited<Result<SignedIn, Refusal>>, DomainError> {
    if code.trim().is_empty() {
        return Err(DomainError::Validation(
            "enter the code from your authenticator app, or a recovery code".into(),
        ));
    }
    let user = users::find(tx.conn(), user_id)?;
    let actor = actor_of(&user, client);
    if user.disabled {
        let metadata = json!({ "username": user.username, "reason": "disabled" });
        return Ok(tx.audit_as(
            &actor,
            "auth.login.failed",
            None,
            metadata,
            Err(Refusal::Disabled),
        )?);
    }
    let Some(accepted) = second_factor::check_for_sign_in(tx.conn(), data_key, &user, code)? else {
        count_failure(
            tx,
            &account_subject(&user.username),
            address,
            pulsekey_db::now(),
        )?;
        let metadata = json!({ "username": user.username, "reason": "wrong second factor" });
        return Ok(tx.audit_as(
            &actor,
            "auth.login.failed",
            None,
            metadata,
            Err(Refusal::WrongCredentials),
        )?);
    };
    let signed_in = open_session(tx, user, address, client)?;
    Ok(tx.audit_as(
        &actor,
        "auth.login",
        None,
        second_factor::audit_metadata(accepted),
        Ok(signed_in),
    )?)
}

fn actor_of(user: &users::UserRow, client: &Client) -> Actor {
    Actor {
        user_id: Some(user.id),
        username: Some(user.username.clone()),
        token_id: None,
        ip: client.ip.clone(),
    }
}

/// Clears the account's failures (a whole sign-in succeeded) and starts its session.
fn open_session(
    tx: &mut Tx<'_>,
    user: users::UserRow,
    address: &str,
    client: &Client,
) -> Result<SignedIn, DomainError> {
    let account = account_subject(&user.username);
    login_failures::clear(tx.conn(), Scope::Pair, &pair_subject(&account, address))?;
    login_failures::clear(tx.conn(), Scope::Account, &account)?;
    let (session_id, expires_at) = accounts::start_session(tx.conn(), user.id, client)?;
    Ok((user, session_id, expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: PrimitiveDateTime = datetime!(2026-12-02 12:00);
    const LIMITS: Limits = Limits {
        per_account: 5,
        per_address: 20,
    };

    fn count(failures: i64, minutes_ago: i64, last_secs_ago: i64) -> Option<Count> {
        Some(Count {
            failures,
            window_start: NOW - Duration::minutes(minutes_ago),
            last_at: NOW - Duration::seconds(last_secs_ago),
        })
    }

    #[test]
    fn a_pair_or_an_address_past_its_limit_waits_for_the_window() {
        let pair = Counts {
            pair: count(5, 5, 1),
            ..Counts::default()
        };
        assert_eq!(
            gate(LIMITS, &pair, NOW),
            Gate::Closed {
                retry_after_secs: 600
            }
        );
        let address = Counts {
            address: count(20, 14, 1),
            ..Counts::default()
        };
        assert_eq!(
            gate(LIMITS, &address, NOW),
            Gate::Closed {
                retry_after_secs: 60
            }
        );
        let under = Counts {
            pair: count(4, 5, 1),
            address: count(19, 5, 1),
            ..Counts::default()
        };
        assert_eq!(
            gate(LIMITS, &under, NOW),
            Gate::Open {
                delay: Duration::ZERO
            }
        );
    }

    #[test]
    fn an_account_failing_from_everywhere_is_slowed_never_shut() {
        // However many failures, the attempt is open: only slower.
        for failures in [5, 6, 7, 50, 10_000] {
            let counts = Counts {
                account: count(failures, 1, 0),
                ..Counts::default()
            };
            assert!(matches!(gate(LIMITS, &counts, NOW), Gate::Open { .. }));
        }
        assert_eq!(account_delay(4, 5), Duration::ZERO);
        assert_eq!(account_delay(5, 5), Duration::seconds(1));
        assert_eq!(account_delay(6, 5), Duration::seconds(2));
        assert_eq!(account_delay(7, 5), Duration::seconds(4));
        assert_eq!(account_delay(9, 5), MAX_ACCOUNT_DELAY);
        assert_eq!(account_delay(i64::MAX, 5), MAX_ACCOUNT_DELAY);
        // The delay counts from the last failure: time already waited is not waited again.
        let counts = Counts {
            account: count(7, 1, 3),
            ..Counts::default()
        };
        assert_eq!(
            gate(LIMITS, &counts, NOW),
            Gate::Open {
                delay: Duration::seconds(1)
            }
        );
    }

    #[test]
    fn attempted_names_are_lowercased_and_bounded() {
        assert_eq!(account_subject("Admin"), "admin");
        assert_eq!(account_subject(&"X".repeat(16 * 1024)).len(), 65);
    }
}
