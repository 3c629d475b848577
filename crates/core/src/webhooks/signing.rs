//! Signatures as the Standard Webhooks specification defines them, so that a receiver
//! verifies with its language's `standardwebhooks` (or `svix`) library.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::crypto::random_bytes;

const PREFIX: &str = "whsec_";

/// An endpoint's signing secret: the key, and its `whsec_` text form. Its `Debug` shows
/// neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(Vec<u8>);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(…)")
    }
}

impl SigningSecret {
    /// 24 random bytes, as the specification's reference libraries make them.
    pub fn generate() -> Self {
        Self(random_bytes::<24>().to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text an integrator copies: `whsec_` and the key in base64.
    pub fn to_text(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `v1,…` signature of `body` sent as message `id` at `timestamp` (Unix seconds):
    /// HMAC-SHA256 over `id.timestamp.body`, in base64.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            unreachable!("HMAC takes a key of any length")
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one signature per live secret, space-separated, which
/// receivers accept when any one verifies (how a rotated secret keeps working for a while).
pub fn signature_header(
    secrets: &[&SigningSecret],
    id: &str,
    timestamp: i64,
    body: &str,
) -> String {
    secrets
        .iter()
        .map(|secret| secret.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_text(text: &str) -> SigningSecret {
        let key = text.strip_prefix(PREFIX).unwrap();
        SigningSecret::from_bytes(STANDARD.decode(key).unwrap())
    }

    #[test]
    fn signs_as_the_specification_example() {
        // The example in the Standard Webhooks specification and its reference libraries.
        let secret = from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_generated_secret_reads_back_and_hides_in_debug() {
        let secret = SigningSecret::generate();
        assert_eq!(secret.as_bytes().len(), 24);
        assert_eq!(from_text(&secret.to_text()), secret);
        assert!(!format!("{secret:?}").contains(&secret.to_text()[PREFIX.len()..]));
        assert_ne!(SigningSecret::generate(), secret);
    }

    #[test]
    fn every_live_secret_signs() {
        let (old, new) = (SigningSecret::generate(), SigningSecret::generate());
        let header = signature_header(&[&new, &old], "msg_1", 1, "{}");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(
            parts,
            [new.sign("msg_1", 1, "{}"), old.sign("msg_1", 1, "{}")]
        );
    }
}
