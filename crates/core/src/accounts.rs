//! Users, passwords and sessions.

mod list;

pub use list::list_users;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use pulsekey_db::{DbConnection, DbError, sessions, tokens, users};
use pulsekey_types::{CreateUserRequest, Role, UpdateUserRequest, UserView};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::DomainError;
use super::audit::{Audited, Tx};

pub const MIN_PASSWORD_LEN: usize = 12;
const MAX_PASSWORD_LEN: usize = 1024;
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

pub fn hash_password(password: &str) -> Result<String, DomainError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|err| DomainError::Validation(format!("cannot hash password: {err}")))
}

/// Verifies against the stored hash; an unparsable hash never matches.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash no password matches, verified for unknown usernames so that a wrong username
/// costs the same time as a wrong password.
pub fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        hash_password("pulsekey-timing-equaliser-not-a-password").unwrap_or_default()
    })
}

pub fn validate_username(username: &str) -> Result<(), DomainError> {
    let ok_len = (3..=64).contains(&username.chars().count());
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok_len && ok_chars {
        Ok(())
    } else {
        Err(DomainError::Validation(
            "username must be 3–64 characters of letters, digits, '.', '_', '-' or '@'".into(),
        ))
    }
}

pub fn validate_email(email: &str) -> Result<(), DomainError> {
    let valid = email.len() <= 254
        && !email
            .chars()
            .any(|c| c.is_whitespace() || super::is_unprintable(c))
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(())
    } else {
        Err(DomainError::Validation(
            "email is not a valid address".into(),
        ))
    }
}

pub fn validate_password(password: &str) -> Result<(), DomainError> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(DomainError::Validation(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(DomainError::Validation(format!(
            "password must be at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

pub fn view(row: &users::UserRow) -> UserView {
    UserView {
        id: row.id,
        username: row.username.clone(),
        email: row.email.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::Customer),
        disabled: row.disabled,
        totp_enabled: false,
        last_heartbeat_at: None,
        created_at: pulsekey_db::from_stored(row.created_at),
        updated_at: pulsekey_db::from_stored(row.updated_at),
    }
}

fn taken(err: DbError) -> DomainError {
    match err {
        DbError::UniqueViolation(_) => DomainError::UsernameTaken,
        other => DomainError::Db(other),
    }
}

/// Validates and hashes outside the transaction: argon2 is slow and holds no lock.
pub struct NewUser {
    username: String,
    email: String,
    role: Role,
    password_hash: String,
}

impl NewUser {
    pub fn prepare(request: &CreateUserRequest) -> Result<Self, DomainError> {
        validate_username(&request.username)?;
        validate_email(&request.email)?;
        validate_password(&request.password)?;
        Ok(Self {
            username: request.username.clone(),
            email: request.email.clone(),
            role: request.role,
            password_hash: hash_password(&request.password)?,
        })
    }
}

/// Integrator tokens manage customers only. Creating, promoting, re-passwording, disabling or
/// re-enabling an admin takes an admin signed in at the web app, so that a leaked token with
/// `users:write` cannot mint an admin of its own and, through it, every key and scope.
pub fn token_may_change(
    target_is_admin: bool,
    requested_role: Option<Role>,
) -> Result<(), DomainError> {
    if target_is_admin || requested_role == Some(Role::Admin) {
        return Err(DomainError::Forbidden(
            "integrator tokens manage customer accounts only; an admin account is changed by a signed-in admin",
        ));
    }
    Ok(())
}

pub fn create_user(tx: &mut Tx<'_>, user: &NewUser) -> Result<Audited<UserView>, DomainError> {
    if tx.actor().token_id.is_some() {
        token_may_change(false, Some(user.role))?;
    }
    let now = pulsekey_db::now();
    let row = users::insert(
        tx.conn(),
        &users::UserInsertForm {
            username: &user.username,
            email: &user.email,
            role: user.role.as_str(),
            password_hash: &user.password_hash,
            disabled: false,
            created_at: now,
            updated_at: now,
        },
    )
    .map_err(taken)?;
    let value = view(&row);
    Ok(tx.audit(
        "user.create",
        None,
        json!({ "subjectUserId": row.id, "username": row.username, "role": row.role }),
        value,
    )?)
}

/// A checked partial update, password already hashed.
pub struct UserChanges {
    request: UpdateUserRequest,
    password_hash: Option<String>,
}

impl UserChanges {
    pub fn prepare(request: &UpdateUserRequest) -> Result<Self, DomainError> {
        if let Some(username) = &request.username {
            validate_username(username)?;
        }
        if let Some(email) = &request.email {
            validate_email(email)?;
        }
        let password_hash = match &request.password {
            Some(password) => {
                validate_password(password)?;
                Some(hash_password(password)?)
            }
            None => None,
        };
        Ok(Self {
            request: request.clone(),
            password_hash,
        })
    }
}

pub fn update_user(
    tx: &mut Tx<'_>,
    id: i64,
    changes: &UserChanges,
) -> Result<Audited<UserView>, DomainError> {
    let request = &changes.request;
    if !users::lock(tx.conn(), id)? {
        return Err(DomainError::NotFound("user"));
    }
    let before = users::find(tx.conn(), id).map_err(not_found)?;
    if tx.actor().token_id.is_some() {
        token_may_change(before.role == "admin", request.role)?;
    }
    if request.revoke_tokens == Some(true) && changes.password_hash.is_none() {
        return Err(DomainError::Validation(
            "revokeTokens goes with a new password".into(),
        ));
    }
    let losing_admin = before.role == "admin"
        && !before.disabled
        && (request.role == Some(Role::Customer) || request.disabled == Some(true));
    if losing_admin && users::count_other_enabled_admins(tx.conn(), id)? == 0 {
        return Err(DomainError::Validation(
            "this is the last enabled admin: it cannot be disabled or made a customer".into(),
        ));
    }
    if request.role == Some(Role::Admin)
        && before.role == "customer"
        && users::owns_servers(tx.conn(), id)?
    {
        return Err(DomainError::Validation(
            "this customer owns servers; an admin owns none".into(),
        ));
    }
    let now = pulsekey_db::now();
    let after = users::update(
        tx.conn(),
        id,
        &users::UserUpdateForm {
            username: request.username.clone(),
            email: request.email.clone(),
            role: request.role.map(|r| r.as_str().to_owned()),
            password_hash: changes.password_hash.clone(),
            disabled: request.disabled,
            updated_at: Some(now),
        },
    )
    .map_err(taken)?;

    let mut changed = serde_json::Map::new();
    if before.username != after.username {
        changed.insert(
            "username".into(),
            json!({ "from": before.username, "to": after.username }),
        );
    }
    if before.email != after.email {
        changed.insert(
            "email".into(),
            json!({ "from": before.email, "to": after.email }),
        );
    }
    if before.role != after.role {
        changed.insert(
            "role".into(),
            json!({ "from": before.role, "to": after.role }),
        );
    }
    if changes.password_hash.is_some() {
        changed.insert("password".into(), json!("changed"));
    }
    let disabled_now = !before.disabled && after.disabled;
    if before.disabled != after.disabled {
        changed.insert("disabled".into(), json!(after.disabled));
    }
    // Disabling or a new password ends every session at once.
    if disabled_now || changes.password_hash.is_some() {
        sessions::revoke_all_for_user(tx.conn(), id, now)?;
    }
    // A disabled or demoted admin's tokens end for good: re-enabling must not bring back
    // tokens that were live when the account was taken away.
    let demoted = before.role == "admin" && after.role != "admin";
    if disabled_now || demoted || request.revoke_tokens == Some(true) {
        let revoked = tokens::revoke_all_for_owner(tx.conn(), id, now)?;
        if revoked > 0 {
            changed.insert("tokensRevoked".into(), json!(revoked));
        }
    }
    let action = if disabled_now {
        "user.disable"
    } else {
        "user.update"
    };
    let mut value = [view(&after)];
    list::complete_views(tx.conn(), &mut value)?;
    let [value] = value;
    Ok(tx.audit(
        action,
        None,
        json!({ "subjectUserId": id, "changed": changed }),
        value,
    )?)
}

fn not_found(err: DbError) -> DomainError {
    match err {
        DbError::NotFound => DomainError::NotFound("user"),
        other => DomainError::Db(other),
    }
}

/// A new session for `user`, valid for [`SESSION_LIFETIME`]. Returns its id and expiry.
pub fn start_session(
    conn: &mut DbConnection,
    user_id: i64,
    client: &super::sign_in::Client,
) -> Result<(String, OffsetDateTime), DomainError> {
    let id = super::crypto::hex(&super::crypto::random_bytes::<16>());
    let now = OffsetDateTime::now_utc();
    let expires_at = now + SESSION_LIFETIME;
    sessions::insert(
        conn,
        &sessions::SessionInsertForm {
            id: &id,
            user_id,
            created_at: pulsekey_db::to_stored(now),
            expires_at: pulsekey_db::to_stored(expires_at),
            last_used_at: pulsekey_db::to_stored(now),
            address: client.ip.as_deref(),
            user_agent: client.user_agent.as_deref(),
        },
    )?;
    Ok((id, expires_at))
}

/// Creates `admin` with a random password when no admin exists at all (first start).
/// Returns the password, to be shown once. Run it as [`Actor::system`].
pub fn bootstrap_admin(tx: &mut Tx<'_>) -> Result<Audited<Option<String>>, DomainError> {
    if users::count_admins(tx.conn())? > 0 {
        return Ok(Audited::nothing_changed(None));
    }
    let password = super::tokens::random_base62(24);
    let user = NewUser::prepare(&CreateUserRequest {
        username: "admin".into(),
        email: "admin@localhost.localdomain".into(),
        password: password.clone(),
        role: Role::Admin,
    })?;
    Ok(create_user(tx, &user)?.map(|_| Some(password)))
}

/// Parses a listing cursor: the id of the last row of the previous page.
pub fn parse_cursor(cursor: Option<&str>) -> Result<Option<i64>, DomainError> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| DomainError::Validation("cursor is not valid".into()))
        })
        .transpose()
}

pub fn check_limit(limit: Option<i64>) -> Result<i64, DomainError> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(n) => Err(DomainError::Validation(format!(
            "limit must be between 1 and 200, got {n}"
        ))),
    }
}

pub fn get_user(conn: &mut DbConnection, id: i64) -> Result<UserView, DomainError> {
    let mut user = [view(&users::find(conn, id).map_err(not_found)?)];
    list::complete_views(conn, &mut user)?;
    let [user] = user;
    Ok(user)
}

/// Checks a username and password. Always runs one argon2 verification, whether or not the
/// user exists, so timing does not tell which was wrong. A disabled user cannot sign in.
pub fn check_credentials(
    conn: &mut DbConnection,
    username: &str,
    password: &str,
) -> Result<Credentials, DomainError> {
    let user = users::find_by_username(conn, username)?;
    let hash = user
        .as_ref()
        .map_or(dummy_hash(), |u| u.password_hash.as_str());
    let matches = verify_password(password, hash);
    Ok(match user {
        Some(user) if matches && user.disabled => Credentials::Disabled,
        Some(user) if matches => Credentials::Valid(Box::new(user)),
        _ => Credentials::Wrong,
    })
}

/// What a username and password come to.
#[derive(Debug)]
pub enum Credentials {
    Valid(Box<users::UserRow>),
    /// No such user, or another password: one answer for both, so that names cannot be
    /// probed.
    Wrong,
    /// The right password of a disabled account: only its holder learns that it is disabled.
    Disabled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password(
            "pulsekey-timing-equaliser-not-a-password-x",
            dummy_hash()
        ));
    }

    #[test]
    fn validation() {
        assert!(validate_username("alice").is_ok());
        assert!(validate_username("al").is_err());
        assert!(validate_username("alice smith").is_err());
        assert!(validate_username("'; DROP TABLE users; --").is_err());
        assert!(validate_email("a@example.com").is_ok());
        assert!(validate_email("a@b").is_err());
        assert!(validate_email("no-at-sign").is_err());
        assert!(validate_email("a@exa\u{202E}moc.com").is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough password").is_ok());
        assert!(validate_password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn tokens_manage_customers_only() {
        assert!(token_may_change(false, None).is_ok());
        assert!(token_may_change(false, Some(Role::Customer)).is_ok());
        assert!(token_may_change(false, Some(Role::Admin)).is_err());
        assert!(token_may_change(true, None).is_err());
        assert!(token_may_change(true, Some(Role::Customer)).is_err());
    }
}
