//! A second factor: TOTP (RFC 6238, the codes of any authenticator app) and ten recovery
//! codes that stand in for the device once each.
//!
//! A code is good once: the time step a code was accepted for is stored, and only later
//! steps are accepted after it, by one conditional UPDATE so that two nodes cannot both
//! accept the same code. Wrong codes count against the sign-in budget of [`sign_in`]
//! (the caller checks its gate first), so a stolen password does not buy a million guesses.
//!
//! [`sign_in`]: crate::sign_in

use pulsekey_db::{DbConnection, second_factors, sessions, users};
use pulsekey_types::Role;
use serde_json::json;
use totp_rs::{Algorithm, Totp};

use super::DomainError;
use super::audit::{Audited, Tx};
use super::crypto::{DataKey, random_bytes, sha256};
use super::sign_in::{self, Refusal};

/// The name authenticator apps show above the code.
pub const ISSUER: &str = "pulsekey";
pub const RECOVERY_CODES: usize = 10;
/// Recovery codes are written in this alphabet: no 0/o, 1/l/i to misread from paper.
const RECOVERY_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// Ten letters of a 31-letter alphabet: 49 bits, in two groups of five.
const RECOVERY_LEN: usize = 10;

/// Who must have a second factor (`PULSEKEY_REQUIRE_2FA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Requirement {
    #[default]
    Off,
    Admins,
    All,
}

impl Requirement {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "off" => Some(Self::Off),
            "admins" => Some(Self::Admins),
            "all" => Some(Self::All),
            _ => None,
        }
    }

    pub fn applies_to(self, role: Role) -> bool {
        match self {
            Self::Off => false,
            Self::Admins => role == Role::Admin,
            Self::All => true,
        }
    }
}

/// What enrolment shows the user: the secret in base 32 (to type in) and the
/// `otpauth://` URI (the QR code's content).
pub struct Enrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

/// How a code was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    Totp,
    RecoveryCode { left: i64 },
}

impl Accepted {
    fn describe(self) -> serde_json::Value {
        match self {
            Self::Totp => json!({ "secondFactor": "totp" }),
            Self::RecoveryCode { left } => {
                json!({ "secondFactor": "recovery code", "recoveryCodesLeft": left })
            }
        }
    }
}

fn generator(secret: Vec<u8>, username: &str) -> Result<Totp, DomainError> {
    // Account names may not hold a colon (the label separator); usernames cannot.
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret)
        .with_issuer(Some(ISSUER))
        .with_account_name(username)
        .build()
        .map_err(|err| DomainError::Validation(format!("cannot set up the code generator: {err}")))
}

/// The AAD of a sealed secret: its user, so a ciphertext copied to another user does not open.
fn aad(user_id: i64) -> Vec<u8> {
    format!("totp:{user_id}").into_bytes()
}

fn unix_now() -> u64 {
    u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// A code as typed: digits with spaces are a TOTP code; anything else is read as a
/// recovery code, whatever its case and dashes.
fn normalized_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

fn totp_digits(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| *c != ' ').collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Ten new recovery codes, as the user is shown them (`abcde-fghjk`).
pub fn new_recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let bytes = random_bytes::<RECOVERY_LEN>();
            let letters: String = bytes
                .iter()
                // 256 is not a multiple of 31: the small bias (at most 1/8 of a letter's
                // weight) costs well under a bit of the code's 49.
                .map(|b| RECOVERY_ALPHABET[usize::from(*b) % RECOVERY_ALPHABET.len()] as char)
                .collect();
            format!("{}-{}", &letters[..5], &letters[5..])
        })
        .collect()
}

fn recovery_digest(code: &str) -> [u8; 32] {
    sha256(normalized_recovery_code(code).as_bytes())
}

/// Checks `code` against the user's factor and spends it: a TOTP code's step, or a
/// recovery code. `None` for a wrong, replayed or spent code.
fn spend_code(
    conn: &mut DbConnection,
    data_key: &DataKey,
    factor: &second_factors::TotpRow,
    username: &str,
    code: &str,
) -> Result<Option<Accepted>, DomainError> {
    if let Some(digits) = totp_digits(code) {
        let step = open_generator(data_key, factor, username)?.check(&digits, unix_now());
        let taken = match step.and_then(|s| i64::try_from(s).ok()) {
            Some(step) => second_factors::take_step(conn, factor.user_id, step)?,
            None => false,
        };
        return Ok(taken.then_some(Accepted::Totp));
    }
    if factor.confirmed_at.is_none() {
        return Ok(None);
    }
    let now = pulsekey_db::now();
    if !second_factors::spend_recovery_code(conn, factor.user_id, &recovery_digest(code), now)? {
        return Ok(None);
    }
    let left = second_factors::unused_recovery_codes(conn, factor.user_id)?;
    Ok(Some(Accepted::RecoveryCode { left }))
}

fn open_generator(
    data_key: &DataKey,
    factor: &second_factors::TotpRow,
    username: &str,
) -> Result<Totp, DomainError> {
    let secret = data_key
        .open(&factor.secret_ciphertext, &aad(factor.user_id))
        .map_err(|_| DomainError::UndecryptableKey)?;
    generator(secret, username)
}

/// The user's confirmed factor, if any.
pub fn confirmed(
    conn: &mut DbConnection,
    user_id: i64,
) -> Result<Option<second_factors::TotpRow>, DomainError> {
    Ok(second_factors::find(conn, user_id)?.filter(|f| f.confirmed_at.is_some()))
}

/// Starts enrolment for the signed-in user: a new secret, replacing an unconfirmed one.
pub fn begin_enrolment(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    user_id: i64,
) -> Result<Audited<Enrolment>, DomainError> {
    let user = users::find(tx.conn(), user_id)?;
    if confirmed(tx.conn(), user_id)?.is_some() {
        return Err(DomainError::SecondFactorAlreadyOn);
    }
    let secret = random_bytes::<20>().to_vec();
    let sealed = data_key.seal(&secret, &aad(user_id));
    second_factors::begin(tx.conn(), user_id, &sealed, pulsekey_db::now())?;
    let generator = generator(secret, &user.username)?;
    let enrolment = Enrolment {
        secret: generator.secret().to_base32(),
        otpauth_uri: generator
            .to_url()
            .map_err(|err| DomainError::Validation(format!("cannot write the URI: {err}")))?,
    };
    Ok(tx.audit(
        "user.totp.enrolment_started",
        None,
        json!({ "subjectUserId": user_id }),
        enrolment,
    )?)
}

/// Counts a wrong code against the user's sign-in budget and audits it under `action`.
fn refuse<T>(
    tx: &mut Tx<'_>,
    user: &users::UserRow,
    address: &str,
    action: &str,
) -> Result<Audited<Result<T, Refusal>>, DomainError> {
    sign_in::count_failure(
        tx,
        &sign_in::account_subject(&user.username),
        address,
        pulsekey_db::now(),
    )?;
    Ok(tx.audit(
        action,
        None,
        json!({ "subjectUserId": user.id, "reason": "wrong code" }),
        Err(Refusal::WrongCredentials),
    )?)
}

/// Ends the user's other sessions (`kept` is the one asking), or all of them.
fn end_sessions(tx: &mut Tx<'_>, user_id: i64, kept: Option<&str>) -> Result<(), DomainError> {
    let now = pulsekey_db::now();
    match kept {
        Some(kept) => {
            sessions::revoke_others_of_user(tx.conn(), user_id, kept, now)?;
        }
        None => sessions::revoke_all_for_user(tx.conn(), user_id, now)?,
    }
    Ok(())
}

/// Turns the factor on with a first code from the device, and answers the recovery codes,
/// shown once. The user's other sessions end.
pub fn confirm_enrolment(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    user_id: i64,
    code: &str,
    address: &str,
    kept: Option<&str>,
) -> Result<Audited<Result<Vec<String>, Refusal>>, DomainError> {
    let user = users::find(tx.conn(), user_id)?;
    let factor = match second_factors::find(tx.conn(), user_id)? {
        None => {
            return Err(DomainError::Validation(
                "start enrolment first: no second factor is waiting to be confirmed".into(),
            ));
        }
        Some(f) if f.confirmed_at.is_some() => return Err(DomainError::SecondFactorAlreadyOn),
        Some(f) => f,
    };
    if totp_digits(code).is_none() {
        return Err(DomainError::Validation(
            "enter the 6-digit code your authenticator app shows".into(),
        ));
    }
    if spend_code(tx.conn(), data_key, &factor, &user.username, code)?.is_none() {
        return refuse(tx, &user, address, "user.totp.confirm_failed");
    }
    second_factors::confirm(tx.conn(), user_id, pulsekey_db::now())?;
    let codes = new_recovery_codes();
    let digests: Vec<[u8; 32]> = codes.iter().map(|c| recovery_digest(c)).collect();
    second_factors::replace_recovery_codes(tx.conn(), user_id, &digests)?;
    end_sessions(tx, user_id, kept)?;
    Ok(tx.audit(
        "user.totp.enabled",
        None,
        json!({ "subjectUserId": user_id }),
        Ok(codes),
    )?)
}

/// Turns the user's own factor off, proved by a code or a recovery code. The user's other
/// sessions end.
pub fn disable(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    user_id: i64,
    code: &str,
    address: &str,
    kept: Option<&str>,
) -> Result<Audited<Result<(), Refusal>>, DomainError> {
    let user = users::find(tx.conn(), user_id)?;
    let Some(factor) = confirmed(tx.conn(), user_id)? else {
        return Err(DomainError::NotFound("second factor"));
    };
    if code.trim().is_empty() {
        return Err(DomainError::Validation(
            "enter a code from your authenticator app or a recovery code".into(),
        ));
    }
    let Some(accepted) = spend_code(tx.conn(), data_key, &factor, &user.username, code)? else {
        return refuse(tx, &user, address, "user.totp.disable_failed");
    };
    second_factors::remove(tx.conn(), user_id)?;
    end_sessions(tx, user_id, kept)?;
    let mut metadata = accepted.describe();
    metadata["subjectUserId"] = json!(user_id);
    Ok(tx.audit("user.totp.disabled", None, metadata, Ok(()))?)
}

/// An admin clears another user's factor (a lost phone and lost codes): every session of
/// that user ends, and they sign in with their password alone until they enrol again.
pub fn reset(tx: &mut Tx<'_>, user_id: i64) -> Result<Audited<()>, DomainError> {
    users::find(tx.conn(), user_id)?;
    if !second_factors::remove(tx.conn(), user_id)? {
        return Err(DomainError::NotFound("second factor"));
    }
    end_sessions(tx, user_id, None)?;
    Ok(tx.audit(
        "user.totp.reset",
        None,
        json!({ "subjectUserId": user_id }),
        (),
    )?)
}

/// The second step of a sign-in: a code (or a recovery code) for a user whose password was
/// right. Spent here; a wrong one is counted and audited by the caller.
pub(crate) fn check_for_sign_in(
    conn: &mut DbConnection,
    data_key: &DataKey,
    user: &users::UserRow,
    code: &str,
) -> Result<Option<Accepted>, DomainError> {
    let Some(factor) = confirmed(conn, user.id)? else {
        return Ok(None);
    };
    spend_code(conn, data_key, &factor, &user.username, code)
}

pub(crate) fn audit_metadata(accepted: Accepted) -> serde_json::Value {
    accepted.describe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_vectors() {
        // RFC 6238 appendix B, SHA-1, 8 digits cut to 6 (the last six of each).
        let secret = b"12345678901234567890".to_vec();
        let totp = generator(secret, "alice").unwrap();
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(totp.generate(time).to_string(), code, "at {time}");
            assert!(totp.check(code, time).is_some());
        }
        // One step either side is accepted (a clock a little off), two are not.
        assert!(totp.check("287082", 59 + 30).is_some());
        assert!(totp.check("287082", 59 + 60).is_none());
    }

    #[test]
    fn codes_are_told_apart_and_normalized() {
        assert_eq!(totp_digits("123 456").as_deref(), Some("123456"));
        assert_eq!(totp_digits("12345"), None);
        assert_eq!(totp_digits("abcdef"), None);
        assert_eq!(normalized_recovery_code("ABCDE-fghjk"), "abcdefghjk");
        assert_eq!(
            recovery_digest("abcde fghjk"),
            recovery_digest("ABCDE-FGHJK")
        );
    }

    #[test]
    fn recovery_codes_are_ten_distinct_readable_codes() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), RECOVERY_CODES);
        for code in &codes {
            assert_eq!(code.len(), 11);
            assert_eq!(code.as_bytes()[5], b'-');
            assert!(
                normalized_recovery_code(code)
                    .bytes()
                    .all(|b| RECOVERY_ALPHABET.contains(&b))
            );
        }
    }

    #[test]
    fn the_requirement_reads_its_three_words() {
        assert_eq!(Requirement::parse("admins"), Some(Requirement::Admins));
        assert!(Requirement::Admins.applies_to(Role::Admin));
        assert!(!Requirement::Admins.applies_to(Role::Customer));
        assert!(Requirement::All.applies_to(Role::Customer));
        assert!(!Requirement::Off.applies_to(Role::Admin));
        assert_eq!(Requirement::parse("yes"), None);
    }
}
