//! `config.json`, exactly as the install endpoint serves it.

use std::path::Path;

use base64::Engine as _;
use pulsekey_types::InstallConfig;

/// Why a config cannot be used, naming the file and the field, never the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} is not a pulsekey config.json: {reason}")]
    Malformed { path: String, reason: String },
}

/// A checked config. `Debug` masks the license key.
#[derive(Clone)]
pub struct AgentConfig {
    pub server_url: String,
    license_key: String,
    pub heartbeat_interval_secs: u64,
    pub public_key: ed25519_dalek::VerifyingKey,
}

impl std::fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentConfig")
            .field("server_url", &self.server_url)
            .field("license_key", &self.masked_key())
            .field("heartbeat_interval_secs", &self.heartbeat_interval_secs)
            .finish_non_exhaustive()
    }
}

impl AgentConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::Unreadable {
            path: shown.clone(),
            reason: err.to_string(),
        })?;
        Self::parse(&text).map_err(|reason| ConfigError::Malformed {
            path: shown,
            reason,
        })
    }

    /// Parses and checks the JSON; the error says what is wrong without echoing values.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: InstallConfig = serde_json::from_str(text).map_err(|err| {
            // serde's message can quote the offending value, which may be the key.
            format!(
                "invalid JSON at line {} column {}",
                err.line(),
                err.column()
            )
        })?;
        if !(raw.server_url.starts_with("http://") || raw.server_url.starts_with("https://")) {
            return Err("serverUrl must start with http:// or https://".into());
        }
        if !raw.license_key.starts_with("pk_") || raw.license_key.len() < 20 {
            return Err("licenseKey is not a pulsekey license key".into());
        }
        if !(1..=86_400).contains(&raw.heartbeat_interval_secs) {
            return Err("heartbeatIntervalSecs must be between 1 and 86400".into());
        }
        let public_key = base64::engine::general_purpose::STANDARD
            .decode(raw.public_key.trim())
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .and_then(|bytes| ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok())
            .ok_or("publicKey is not a base64 Ed25519 public key")?;
        Ok(Self {
            server_url: raw.server_url.trim_end_matches('/').to_owned(),
            license_key: raw.license_key,
            heartbeat_interval_secs: raw.heartbeat_interval_secs,
            public_key,
        })
    }

    /// The key, for the `Authorization` header only.
    pub fn license_key(&self) -> &str {
        &self.license_key
    }

    /// `pk_•••••…•` and the last 4 characters, for logs.
    pub fn masked_key(&self) -> String {
        let last4 = &self.license_key[self.license_key.len().saturating_sub(4)..];
        format!("pk_•••••…•{last4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "pk_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghAbcd12";

    fn public_key() -> String {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        base64::engine::general_purpose::STANDARD.encode(signing.verifying_key().as_bytes())
    }

    fn config_json(url: &str, key: &str, interval: u64, public: &str) -> String {
        serde_json::json!({ "serverUrl": url, "licenseKey": key, "heartbeatIntervalSecs": interval, "publicKey": public })
            .to_string()
    }

    #[test]
    fn reads_what_the_install_endpoint_serves() {
        let config = AgentConfig::parse(&config_json(
            "https://lic.example.com/",
            KEY,
            60,
            &public_key(),
        ))
        .unwrap();
        assert_eq!(config.server_url, "https://lic.example.com");
        assert_eq!(config.license_key(), KEY);
        assert_eq!(config.heartbeat_interval_secs, 60);
    }

    #[test]
    fn the_key_never_shows_in_debug_or_errors() {
        let config = AgentConfig::parse(&config_json("http://x", KEY, 60, &public_key())).unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains(KEY) && debug.contains("pk_•••••…•cd12"),
            "{debug}"
        );
        let broken = format!("{{\"licenseKey\": \"{KEY}\", \"serverUrl\": 5}}");
        let err = AgentConfig::parse(&broken).unwrap_err();
        assert!(!err.contains(KEY), "{err}");
    }

    #[test]
    fn clear_errors_for_bad_fields_and_files() {
        assert!(
            AgentConfig::parse(&config_json("ftp://x", KEY, 60, &public_key()))
                .unwrap_err()
                .contains("serverUrl")
        );
        assert!(
            AgentConfig::parse(&config_json("http://x", "nope", 60, &public_key()))
                .unwrap_err()
                .contains("licenseKey")
        );
        assert!(
            AgentConfig::parse(&config_json("http://x", KEY, 0, &public_key()))
                .unwrap_err()
                .contains("heartbeatIntervalSecs")
        );
        assert!(
            AgentConfig::parse(&config_json("http://x", KEY, 60, "AAAA"))
                .unwrap_err()
                .contains("publicKey")
        );
        let missing = AgentConfig::load(Path::new("/nonexistent/config.json")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/config.json"),
            "{missing}"
        );
    }
}
