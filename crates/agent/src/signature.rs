//! Checking that a heartbeat verdict comes from the server, answers this request, and is fresh.
//! The signed form is defined once, in `pulsekey_types::signature`.

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use pulsekey_types::HeartbeatResponse;
use pulsekey_types::signature::{BatchProof, leaf_hash, signed_message};
use time::{Duration, OffsetDateTime};

pub use pulsekey_types::signature::{NONCE_HEADER, SIGNATURE_HEADER};
/// How far the server's clock may be from ours before a verdict counts as replayed.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

/// A response that is not a verdict. The agent treats each like a network error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the response carries no signature")]
    Missing,
    #[error(
        "the signature does not verify (tampered, replayed for another nonce, or another server)"
    )]
    Invalid,
    #[error("the response body is not a heartbeat verdict")]
    Body,
    #[error("the verdict's serverTime is {0} s away from this machine's clock")]
    Stale(i64),
}

/// A fresh nonce for one request: 128 random bits, hex.
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    // Without OS randomness the nonce is still unique per process run and time; the
    // signature check does not depend on its secrecy, only on it not repeating.
    if getrandom::fill(&mut bytes).is_err() {
        let now = OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .to_le_bytes();
        bytes.copy_from_slice(&now[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that the server signed `body` in answer to this proxy's `license_key` and `nonce`.
pub fn verify_signature(
    public_key: &VerifyingKey,
    license_key: &str,
    nonce: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    let signature = signature.ok_or(SignatureError::Missing)?;
    let proof = BatchProof::from_header(signature).ok_or(SignatureError::Invalid)?;
    let root = proof.root(leaf_hash(license_key, nonce, body));
    public_key
        .verify(
            &signed_message(&root),
            &Signature::from_bytes(&proof.signature),
        )
        .map_err(|_| SignatureError::Invalid)
}

/// Verifies `signature` (the `X-Pulsekey-Signature` header) over `nonce` and `body`, then
/// checks the verdict's `serverTime` against `now`.
pub fn verify_response(
    public_key: &VerifyingKey,
    license_key: &str,
    nonce: &str,
    body: &[u8],
    signature: Option<&str>,
    now: OffsetDateTime,
) -> Result<HeartbeatResponse, SignatureError> {
    verify_signature(public_key, license_key, nonce, body, signature)?;
    let verdict: HeartbeatResponse =
        serde_json::from_slice(body).map_err(|_| SignatureError::Body)?;
    let skew = (verdict.server_time - now).whole_seconds();
    if skew.abs() > MAX_CLOCK_SKEW.whole_seconds() {
        return Err(SignatureError::Stale(skew));
    }
    Ok(verdict)
}

/// Checks a 401: signed for this key and nonce, and its body the key refusal. The status
/// line is not signed, so a signed verdict passed off as a 401 must not count as one.
pub fn verify_refusal(
    public_key: &VerifyingKey,
    license_key: &str,
    nonce: &str,
    body: &[u8],
    signature: Option<&str>,
) -> Result<(), SignatureError> {
    verify_signature(public_key, license_key, nonce, body, signature)?;
    match serde_json::from_slice::<pulsekey_types::ErrorBody>(body) {
        Ok(refusal) if refusal.error == pulsekey_types::ErrorCode::InvalidToken => Ok(()),
        _ => Err(SignatureError::Body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-29 12:00 UTC);
    const KEY: &str = "pk_this_proxy";

    /// Signs the answer as the second of a batch of three, as a loaded server would.
    fn sign(key: &SigningKey, nonce: &str, body: &str) -> String {
        let leaves = [
            leaf_hash(KEY, "someone-else", b"{}"),
            leaf_hash(KEY, nonce, body.as_bytes()),
            leaf_hash("pk_a_third", "a-third", b"{}"),
        ];
        let (root, mut paths) = pulsekey_types::signature::merkle_tree(&leaves);
        BatchProof {
            signature: key.sign(&signed_message(&root)).to_bytes(),
            index: 1,
            path: paths.swap_remove(1),
        }
        .to_header()
    }

    fn body(status: &str, at: OffsetDateTime) -> String {
        let at = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        format!(
            r#"{{"status":"{status}","graceExpiresAt":null,"heartbeatIntervalSecs":60,"serverTime":"{at}"}}"#
        )
    }

    #[test]
    fn a_genuine_fresh_verdict_verifies() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let body = body("ACTIVE", NOW);
        let verdict = verify_response(
            &key.verifying_key(),
            KEY,
            "n1",
            body.as_bytes(),
            Some(&sign(&key, "n1", &body)),
            NOW,
        )
        .unwrap();
        assert_eq!(verdict.status, pulsekey_types::LicenseStatus::Active);
    }

    #[test]
    fn a_changed_status_is_rejected() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let genuine = body("EXPIRED", NOW);
        let signature = sign(&key, "n1", &genuine);
        let forged = genuine.replace("EXPIRED", "ACTIVE");
        let result = verify_response(
            &key.verifying_key(),
            KEY,
            "n1",
            forged.as_bytes(),
            Some(&signature),
            NOW,
        );
        assert_eq!(result.unwrap_err(), SignatureError::Invalid);
    }

    #[test]
    fn a_verdict_replayed_for_another_nonce_is_rejected() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let body = body("ACTIVE", NOW);
        let old_signature = sign(&key, "yesterdays-nonce", &body);
        let result = verify_response(
            &key.verifying_key(),
            KEY,
            "todays-nonce",
            body.as_bytes(),
            Some(&old_signature),
            NOW,
        );
        assert_eq!(result.unwrap_err(), SignatureError::Invalid);
    }

    #[test]
    fn another_servers_key_missing_signatures_and_stale_times_are_rejected() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let other = SigningKey::from_bytes(&[2; 32]);
        let body_now = body("ACTIVE", NOW);
        let by_other = sign(&other, "n", &body_now);
        assert_eq!(
            verify_response(
                &key.verifying_key(),
                KEY,
                "n",
                body_now.as_bytes(),
                Some(&by_other),
                NOW
            )
            .unwrap_err(),
            SignatureError::Invalid
        );
        assert_eq!(
            verify_response(
                &key.verifying_key(),
                KEY,
                "n",
                body_now.as_bytes(),
                None,
                NOW
            )
            .unwrap_err(),
            SignatureError::Missing
        );
        assert_eq!(
            verify_response(
                &key.verifying_key(),
                KEY,
                "n",
                body_now.as_bytes(),
                Some("!!"),
                NOW
            )
            .unwrap_err(),
            SignatureError::Invalid
        );
        let old = body("ACTIVE", NOW - Duration::minutes(6));
        let signed_old = sign(&key, "n", &old);
        assert_eq!(
            verify_response(
                &key.verifying_key(),
                KEY,
                "n",
                old.as_bytes(),
                Some(&signed_old),
                NOW
            )
            .unwrap_err(),
            SignatureError::Stale(-360)
        );
        let within = body("ACTIVE", NOW + Duration::minutes(4));
        let signed_within = sign(&key, "n", &within);
        assert!(
            verify_response(
                &key.verifying_key(),
                KEY,
                "n",
                within.as_bytes(),
                Some(&signed_within),
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn a_refusal_counts_only_when_signed_for_this_key_and_nonce_and_is_a_refusal() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let refusal = br#"{"error":"invalid_token","message":"x"}"#;
        let signature = sign(&key, "n1", std::str::from_utf8(refusal).unwrap());
        let public = key.verifying_key();
        assert!(verify_refusal(&public, KEY, "n1", refusal, Some(&signature)).is_ok());
        assert_eq!(
            verify_refusal(&public, KEY, "n2", refusal, Some(&signature)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_refusal(&public, KEY, "n1", refusal, None),
            Err(SignatureError::Missing)
        );
        // Refused for another key (an attacker relaying this proxy's nonce with theirs).
        assert_eq!(
            verify_refusal(&public, "pk_someone_else", "n1", refusal, Some(&signature)),
            Err(SignatureError::Invalid)
        );
        // A genuine signed verdict with its status line changed to 401 is no refusal.
        let verdict = body("ACTIVE", NOW);
        let verdict_signature = sign(&key, "n1", &verdict);
        assert_eq!(
            verify_refusal(
                &public,
                KEY,
                "n1",
                verdict.as_bytes(),
                Some(&verdict_signature)
            ),
            Err(SignatureError::Body)
        );
    }

    #[test]
    fn nonces_do_not_repeat() {
        assert_ne!(new_nonce(), new_nonce());
        assert_eq!(new_nonce().len(), 32);
    }
}
