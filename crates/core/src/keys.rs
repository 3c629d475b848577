//! The license key codec.
//!
//! A key is `pk_` + 43 base62 characters (256 random bits) + 6 base62 characters of CRC32
//! over those 43. The checksum lets the heartbeat reject a mistyped or made-up key before
//! any database work, and gives secret scanners a format they can verify.

use super::crypto::{random_bytes, sha256};

pub const PREFIX: &str = "pk_";
/// The digits of keys and tokens alike.
pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PAYLOAD_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + PAYLOAD_LEN + CHECKSUM_LEN;
/// How a masked key begins; the last 4 characters follow.
pub const MASK_PREFIX: &str = "pk_•••••…•";

/// A well-formed license key. `Debug` never shows it; only [`LicenseKey::expose`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct LicenseKey(String);

impl std::fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LicenseKey({})", self.masked())
    }
}

/// Why a string is not a license key. Deliberately says nothing about which part failed
/// to whoever sent it; the heartbeat answers every case the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("license key has the wrong length or prefix")]
    Shape,
    #[error("license key has a character outside base62")]
    Alphabet,
    #[error("license key checksum does not match")]
    Checksum,
}

impl LicenseKey {
    /// A fresh key of 256 bits from the OS CSPRNG.
    pub fn generate() -> Self {
        let payload = encode_base62(&random_bytes::<32>(), PAYLOAD_LEN);
        let checksum = encode_base62(
            &crc32fast::hash(payload.as_bytes()).to_be_bytes(),
            CHECKSUM_LEN,
        );
        Self(format!("{PREFIX}{payload}{checksum}"))
    }

    /// Checks shape, alphabet and checksum without any I/O.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let rest = s.strip_prefix(PREFIX).ok_or(KeyError::Shape)?;
        if rest.len() != PAYLOAD_LEN + CHECKSUM_LEN {
            return Err(KeyError::Shape);
        }
        if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(KeyError::Alphabet);
        }
        let (payload, checksum) = rest.split_at(PAYLOAD_LEN);
        let expected = encode_base62(
            &crc32fast::hash(payload.as_bytes()).to_be_bytes(),
            CHECKSUM_LEN,
        );
        if checksum != expected {
            return Err(KeyError::Checksum);
        }
        Ok(Self(s.to_owned()))
    }

    /// SHA-256 of the key: what the database indexes and the heartbeat looks up.
    pub fn hash(&self) -> [u8; 32] {
        sha256(self.0.as_bytes())
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    pub fn masked(&self) -> String {
        mask(self.last4())
    }

    /// The plaintext. Call only to encrypt it or to hand it to reveal/install.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The masked form shown everywhere: `pk_•••••…•Ab3f`.
pub fn mask(last4: &str) -> String {
    format!("{MASK_PREFIX}{last4}")
}

/// Big-endian bytes as a base62 number, left-padded with '0' to `width` digits.
fn encode_base62(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while digits.len() < width {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let acc = (remainder << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            remainder = acc % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    digits.reverse();
    digits.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_have_the_documented_shape() {
        for _ in 0..200 {
            let key = LicenseKey::generate();
            assert_eq!(key.expose().len(), KEY_LEN);
            assert!(key.expose().starts_with("pk_"));
            assert_eq!(LicenseKey::parse(key.expose()), Ok(key.clone()));
        }
        assert_ne!(LicenseKey::generate(), LicenseKey::generate());
    }

    #[test]
    fn base62_is_positional() {
        assert_eq!(encode_base62(&[0], 3), "000");
        assert_eq!(encode_base62(&[61], 2), "0z");
        assert_eq!(encode_base62(&[62], 2), "10");
        assert_eq!(encode_base62(&[0xff, 0xff, 0xff, 0xff], 6), "4gfFC3");
    }

    #[test]
    fn mask_keeps_only_the_last_four() {
        let key = LicenseKey::generate();
        let masked = key.masked();
        assert!(masked.starts_with("pk_•••••…•"));
        assert!(masked.ends_with(key.last4()));
        assert!(!format!("{key:?}").contains(key.expose()));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "pk_",
            "pk_short",
            "sk_0000000000000000000000000000000000000000000000000",
            "pk_ééééééééééééééééééééééééééééééééééééééééééééé",
            &"pk_".repeat(40),
        ] {
            assert!(LicenseKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Property: every single-character substitution, deletion, insertion and adjacent swap
    /// of a valid key is rejected, or else is a different key with a different hash.
    #[test]
    fn any_mutation_is_rejected_or_hashes_differently() {
        let alphabet: Vec<char> =
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-é"
                .chars()
                .collect();
        for _ in 0..5 {
            let key = LicenseKey::generate();
            let original: Vec<char> = key.expose().chars().collect();
            let mut mutants: Vec<String> = Vec::new();
            for i in 0..original.len() {
                for &c in &alphabet {
                    let mut m = original.clone();
                    m[i] = c;
                    mutants.push(m.iter().collect());
                    let mut ins = original.clone();
                    ins.insert(i, c);
                    mutants.push(ins.iter().collect());
                }
                let mut del = original.clone();
                del.remove(i);
                mutants.push(del.iter().collect());
                if i + 1 < original.len() {
                    let mut swap = original.clone();
                    swap.swap(i, i + 1);
                    mutants.push(swap.iter().collect());
                }
            }
            for mutant in mutants {
                if mutant == key.expose() {
                    continue;
                }
                match LicenseKey::parse(&mutant) {
                    Err(_) => {}
                    Ok(other) => assert_ne!(other.hash(), key.hash(), "{mutant}"),
                }
            }
        }
    }
}
