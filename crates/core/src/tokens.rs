//! Integrator API tokens: `pkt_` + 40 base62 characters, stored only as SHA-256.

use pulsekey_db::{DbConnection, tokens, users};
use pulsekey_types::{CreateTokenRequest, Role, Scope, TokenView};
use serde_json::json;
use time::OffsetDateTime;

use super::DomainError;
use super::audit::{Audited, Tx};
use super::crypto::{random_bytes, sha256};

pub const TOKEN_PREFIX: &str = "pkt_";

/// `len` characters of base62, uniformly drawn (rejection sampling) from the OS CSPRNG.
pub fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<64>() {
            // 248 = 4 × 62: bytes above it would bias the low digits.
            if byte < 248 && out.len() < len {
                out.push(char::from(crate::keys::ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    out
}

pub fn parse_scopes(stored: &str) -> Vec<Scope> {
    stored.split_whitespace().filter_map(Scope::parse).collect()
}

pub fn view(row: &tokens::TokenRow) -> TokenView {
    TokenView {
        id: row.id,
        name: row.name.clone(),
        prefix: row.prefix.clone(),
        scopes: parse_scopes(&row.scopes),
        created_at: pulsekey_db::from_stored(row.created_at),
        last_used_at: row.last_used_at.map(pulsekey_db::from_stored),
        expires_at: row.expires_at.map(pulsekey_db::from_stored),
        revoked_at: row.revoked_at.map(pulsekey_db::from_stored),
    }
}

/// Creates a token; returns its plaintext (shown once) and its view.
pub fn create(
    tx: &mut Tx<'_>,
    owner_id: i64,
    request: &CreateTokenRequest,
) -> Result<Audited<(String, TokenView)>, DomainError> {
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(DomainError::Validation(
            "name must be 1–100 characters".into(),
        ));
    }
    if request.scopes.is_empty() {
        return Err(DomainError::Validation(
            "give the token at least one scope".into(),
        ));
    }
    if request
        .expires_at
        .is_some_and(|at| at <= OffsetDateTime::now_utc())
    {
        return Err(DomainError::Validation(
            "expiresAt must be in the future".into(),
        ));
    }
    let mut scopes: Vec<&str> = request.scopes.iter().map(|s| s.as_str()).collect();
    scopes.sort_unstable();
    scopes.dedup();
    let scopes = scopes.join(" ");
    let secret = format!("{TOKEN_PREFIX}{}", random_base62(40));
    let prefix = &secret[..TOKEN_PREFIX.len() + 8];
    let row = tokens::insert(
        tx.conn(),
        &tokens::TokenInsertForm {
            owner_id,
            name,
            prefix,
            token_hash: &sha256(secret.as_bytes()),
            scopes: &scopes,
            created_at: pulsekey_db::now(),
            expires_at: request.expires_at.map(pulsekey_db::to_stored),
        },
    )?;
    let value = (secret, view(&row));
    Ok(tx.audit(
        "token.create",
        None,
        json!({ "tokenId": row.id, "name": row.name, "scopes": scopes, "prefix": row.prefix }),
        value,
    )?)
}

pub fn revoke(tx: &mut Tx<'_>, id: i64) -> Result<Audited<()>, DomainError> {
    if !tokens::exists(tx.conn(), id)? {
        return Err(DomainError::NotFound("token"));
    }
    // Revoking twice is not an error, but only the first one is an action worth auditing.
    if tokens::revoke(tx.conn(), id, pulsekey_db::now())? {
        Ok(tx.audit("token.revoke", None, json!({ "tokenId": id }), ())?)
    } else {
        Ok(Audited::nothing_changed(()))
    }
}

/// The token and its owner, if the token is live: not revoked, not expired, and owned by
/// an enabled admin.
pub fn authenticate(
    conn: &mut DbConnection,
    secret: &str,
) -> Result<Option<(tokens::TokenRow, users::UserRow)>, DomainError> {
    let Some(row) = tokens::find_by_hash(conn, &sha256(secret.as_bytes()))? else {
        return Ok(None);
    };
    let now = pulsekey_db::now();
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|at| at <= now) {
        return Ok(None);
    }
    let owner = users::find(conn, row.owner_id)?;
    if owner.disabled || Role::parse(&owner.role) != Some(Role::Admin) {
        return Ok(None);
    }
    tokens::touch_last_used(conn, row.id, now)?;
    Ok(Some((row, owner)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_base62_has_the_length_and_alphabet() {
        let s = random_base62(40);
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(random_base62(40), s);
    }

    #[test]
    fn scopes_round_trip_and_ignore_unknown_words() {
        assert_eq!(
            parse_scopes("licenses:write read"),
            vec![Scope::LicensesWrite, Scope::Read]
        );
        assert_eq!(parse_scopes("bogus"), Vec::<Scope>::new());
    }
}
