//! Randomness, hashing and the AEAD that protects stored license keys.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand_core::Rng as _;
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 24;

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS generator failing means the machine cannot do cryptography at all.
    rand_core::UnwrapErr(getrandom::SysRng).fill_bytes(&mut buf);
    buf
}

/// Compares two secrets in time that depends on neither: their digests are compared, so a
/// timing difference says nothing about the secret's bytes.
pub fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    sha256(presented) == sha256(expected)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The key that encrypts stored license keys (XChaCha20-Poly1305, random 192-bit nonces).
/// Lower-case hexadecimal, as session ids and checksums are shown.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes `hex` wrote; None for anything else.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// The ciphertext did not open: wrong data key, or a tampered or mismatched row.
#[derive(Debug, thiserror::Error)]
#[error("ciphertext does not decrypt under this data key")]
pub struct DecryptError;

impl DataKey {
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Encrypts `plaintext` bound to `aad` (the row's key hash, so a ciphertext copied to
    /// another row does not open). Output: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = XNonce::from(nonce_bytes);
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Encryption fails only for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, DecryptError> {
        if sealed.len() < NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce_bytes: [u8; NONCE_LEN] = nonce_bytes.try_into().map_err(|_| DecryptError)?;
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        cipher
            .decrypt(
                &XNonce::from(nonce_bytes),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_only_with_same_key_and_aad() {
        let key = DataKey::new(random_bytes());
        let sealed = key.seal(b"pk_secret", b"row-a");
        assert!(!sealed.windows(9).any(|w| w == b"pk_secret"));
        assert_eq!(key.open(&sealed, b"row-a").unwrap(), b"pk_secret");
        assert!(key.open(&sealed, b"row-b").is_err());
        assert!(
            DataKey::new(random_bytes())
                .open(&sealed, b"row-a")
                .is_err()
        );
        assert!(key.open(&sealed[..10], b"row-a").is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open(&tampered, b"row-a").is_err());
    }

    #[test]
    fn nonces_differ_between_seals() {
        let key = DataKey::new(random_bytes());
        assert_ne!(key.seal(b"x", b""), key.seal(b"x", b""));
    }
}
