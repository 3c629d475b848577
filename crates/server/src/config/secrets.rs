//! The server's three secrets: the JWT secret, the data key (encrypts stored license keys)
//! and the Ed25519 key that signs heartbeat verdicts. Each comes from its variable or, for
//! the embedded default, from a file generated once into the data directory (mode 0600).

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::config::ConfigError;
use pulsekey_core::crypto::{DataKey, random_bytes};

/// The secrets of a running server. Never printed: `Debug` shows nothing of them.
pub struct Secrets {
    pub jwt_secret: Vec<u8>,
    pub data_key: DataKey,
    pub signing_key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

/// Where a secret's value came from, and whether several nodes could disagree on it.
pub struct SecretSource<'a> {
    pub variable: &'static str,
    pub value: Option<&'a str>,
    /// True when the database is shared (PostgreSQL): a generated secret would differ per node.
    pub shared_database: bool,
}

impl Secrets {
    pub fn load(
        data_dir: &Path,
        jwt: SecretSource<'_>,
        data_key: SecretSource<'_>,
        signing: SecretSource<'_>,
    ) -> Result<Self, ConfigError> {
        let jwt_secret = resolve(data_dir, "jwt-secret", jwt, decode_jwt_secret, || {
            BASE64.encode(random_bytes::<48>())
        })?;
        let data_key = load_data_key(data_dir, data_key)?;
        let seed = resolve(data_dir, "signing-key", signing, decode_32, || {
            BASE64.encode(random_bytes::<32>())
        })?;
        Ok(Self {
            jwt_secret,
            data_key,
            signing_key: ed25519_dalek::SigningKey::from_bytes(&seed),
        })
    }

    /// The public half of the heartbeat signing key, as config.json carries it.
    pub fn public_key_base64(&self) -> String {
        BASE64.encode(self.signing_key.verifying_key().as_bytes())
    }
}

/// Checks the secrets that are set, without reading or writing the data directory: what
/// `pulsekey config check` can say before a start. The error names the variable, never
/// the value.
pub fn check_values(
    jwt: SecretSource<'_>,
    data_key: SecretSource<'_>,
    signing: SecretSource<'_>,
) -> Result<(), ConfigError> {
    fn set<'a>(source: &SecretSource<'a>) -> Option<&'a str> {
        source.value.filter(|v| !v.is_empty())
    }
    if let Some(value) = set(&jwt) {
        decode_jwt_secret(value).map_err(|why| ConfigError(format!("{}: {why}", jwt.variable)))?;
    }
    for source in [&data_key, &signing] {
        if let Some(value) = set(source) {
            decode_32(value).map_err(|why| ConfigError(format!("{}: {why}", source.variable)))?;
        }
    }
    Ok(())
}

/// Where a data-key rotation keeps the new key until its transaction has committed.
pub const PENDING_DATA_KEY: &str = "data-key.next";
/// The data key's file in the data directory.
pub const DATA_KEY_FILE: &str = "data-key";

/// Only the data key: what commands that write licenses need.
pub fn load_data_key(data_dir: &Path, source: SecretSource<'_>) -> Result<DataKey, ConfigError> {
    let from_file = source.value.is_none_or(str::is_empty);
    if from_file && data_dir.join(PENDING_DATA_KEY).exists() {
        return Err(ConfigError(format!(
            "{} exists: a data-key rotation was interrupted; run `pulsekey keys rotate-data-key` to finish it",
            data_dir.join(PENDING_DATA_KEY).display()
        )));
    }
    let bytes = resolve(data_dir, "data-key", source, decode_32, || {
        BASE64.encode(random_bytes::<32>())
    })?;
    Ok(DataKey::new(bytes))
}

fn decode_jwt_secret(s: &str) -> Result<Vec<u8>, &'static str> {
    (s.len() >= 32)
        .then(|| s.as_bytes().to_vec())
        .ok_or("must be at least 32 bytes")
}

pub fn decode_32(s: &str) -> Result<[u8; 32], &'static str> {
    let bytes = BASE64
        .decode(s.trim())
        .map_err(|_| "must be standard base64")?;
    bytes
        .try_into()
        .map_err(|_| "must decode to exactly 32 bytes")
}

fn resolve<T>(
    data_dir: &Path,
    file_name: &str,
    source: SecretSource<'_>,
    decode: impl Fn(&str) -> Result<T, &'static str>,
    generate: impl FnOnce() -> String,
) -> Result<T, ConfigError> {
    if let Some(value) = source.value.filter(|v| !v.is_empty()) {
        return decode(value).map_err(|why| ConfigError(format!("{}: {why}", source.variable)));
    }
    let path = data_dir.join(file_name);
    if source.shared_database {
        tracing::warn!(
            variable = source.variable,
            file = %path.display(),
            "secret not set; using the data directory's copy. Set it to the same value on every node that shares the database"
        );
    }
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let text = generate();
            write_private(&path, &text)?;
            text
        }
        Err(err) => {
            return Err(ConfigError(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    decode(text.trim()).map_err(|why| ConfigError(format!("{} {why}", path.display())))
}

/// Creates `path` readable by the owner only; never overwrites an existing secret.
pub fn write_private(path: &Path, text: &str) -> Result<(), ConfigError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let cannot =
        |err: std::io::Error| ConfigError(format!("cannot write {}: {err}", path.display()));
    let mut file = options.open(path).map_err(cannot)?;
    file.write_all(text.as_bytes()).map_err(cannot)?;
    file.sync_all().map_err(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(value: Option<&str>) -> SecretSource<'_> {
        SecretSource {
            variable: "PULSEKEY_TEST",
            value,
            shared_database: false,
        }
    }

    #[test]
    fn generated_once_with_owner_only_mode_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Secrets::load(dir.path(), source(None), source(None), source(None)).unwrap();
        let again = Secrets::load(dir.path(), source(None), source(None), source(None)).unwrap();
        assert_eq!(first.jwt_secret, again.jwt_secret);
        assert_eq!(first.public_key_base64(), again.public_key_base64());
        #[cfg(unix)]
        for name in ["jwt-secret", "data-key", "signing-key"] {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn configured_values_are_validated_and_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let err = Secrets::load(
            dir.path(),
            source(Some("short-secret-value")),
            source(None),
            source(None),
        )
        .unwrap_err();
        assert!(err.0.contains("PULSEKEY_TEST"));
        assert!(!err.0.contains("short-secret-value"));
        let err = load_data_key(dir.path(), source(Some("bm90IDMyIGJ5dGVz"))).unwrap_err();
        assert!(err.0.contains("32 bytes"), "{err}");
        assert!(
            !format!(
                "{:?}",
                Secrets::load(dir.path(), source(None), source(None), source(None)).unwrap()
            )
            .contains(&BASE64.encode(b"x"))
        );
    }
}
