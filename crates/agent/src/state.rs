//! The state file: the last answer the server verifiably gave, kept across agent restarts so
//! that a restart neither starts a proxy without a verdict nor resets the offline allowance.
//!
//! The file holds the signed bytes themselves (body, nonce, signature header) and is checked
//! again on every load with the public key from config.json: a hand-edited file, or one
//! copied from another installation, fails the signature (which binds the key) and is
//! refused. Its `serverTime` is the signed one, so the offline clock cannot be wound back
//! by editing. What a signature cannot rule out is rolling the file back to an older genuine
//! answer; the offline tolerance bounds how old such an answer can be and still count.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::signature::{verify_refusal, verify_signature};
use crate::verdict::LastAnswer;

const FORMAT: &str = "pulsekey-agent-state/1";

/// One answer exactly as it arrived: what the signature covers, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAnswer {
    pub refusal: bool,
    pub nonce: String,
    pub body: Vec<u8>,
    pub signature: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StateRecord {
    format: String,
    /// SHA-256 of the license key (hex): says which key the answer is for without holding it.
    key_sha256: String,
    answer: AnswerKind,
    nonce: String,
    /// The signed response body, base64.
    body: String,
    signature: String,
    /// The verdict's signed `serverTime`, repeated for people reading the file; checked
    /// against the body on load.
    server_time: Option<String>,
    saved_at: String,
}

#[derive(Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum AnswerKind {
    Verdict,
    Refusal,
}

/// Why a state file is not used. The agent then behaves as if it had none.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path} is not a pulsekey-agent state file")]
    Malformed { path: String },
    #[error("{path} is for another license key")]
    ForeignKey { path: String },
    #[error(
        "{path} does not verify against this config's public key (edited by hand, or from another server)"
    )]
    Unverified { path: String },
    #[error("cannot write {path}: {reason}")]
    Unwritable { path: String, reason: String },
}

/// Where the state lives and how it is checked: the key and public key of config.json.
pub struct StateFile {
    path: PathBuf,
    license_key: String,
    public_key: VerifyingKey,
}

fn key_sha256(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl StateFile {
    pub fn new(path: PathBuf, license_key: &str, public_key: VerifyingKey) -> Self {
        Self {
            path,
            license_key: license_key.to_owned(),
            public_key,
        }
    }

    /// The default place: beside config.json, named after it.
    pub fn default_path(config: &Path) -> PathBuf {
        let mut name = config.file_name().unwrap_or_default().to_owned();
        name.push(".state");
        config.with_file_name(name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    /// The verified last answer; `Ok(None)` when there is no file yet.
    pub fn load(&self) -> Result<Option<LastAnswer>, StateError> {
        let text = match std::fs::read(&self.path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(StateError::Unreadable {
                    path: self.shown(),
                    reason: err.to_string(),
                });
            }
        };
        let malformed = || StateError::Malformed { path: self.shown() };
        let record: StateRecord = serde_json::from_slice(&text).map_err(|_| malformed())?;
        if record.format != FORMAT {
            return Err(malformed());
        }
        if record.key_sha256 != key_sha256(&self.license_key) {
            return Err(StateError::ForeignKey { path: self.shown() });
        }
        let body = base64::engine::general_purpose::STANDARD
            .decode(&record.body)
            .map_err(|_| malformed())?;
        let unverified = || StateError::Unverified { path: self.shown() };
        match record.answer {
            AnswerKind::Refusal => {
                verify_refusal(
                    &self.public_key,
                    &self.license_key,
                    &record.nonce,
                    &body,
                    Some(&record.signature),
                )
                .map_err(|_| unverified())?;
                Ok(Some(LastAnswer::Refused))
            }
            AnswerKind::Verdict => {
                verify_signature(
                    &self.public_key,
                    &self.license_key,
                    &record.nonce,
                    &body,
                    Some(&record.signature),
                )
                .map_err(|_| unverified())?;
                let verdict: pulsekey_types::HeartbeatResponse =
                    serde_json::from_slice(&body).map_err(|_| unverified())?;
                if record.server_time.as_deref() != Some(rfc3339(verdict.server_time).as_str()) {
                    return Err(unverified());
                }
                Ok(Some(LastAnswer::Verdict(verdict)))
            }
        }
    }

    /// Replaces the file atomically (a temporary file, synced, renamed over it, the directory
    /// synced): a crash leaves the old answer or the new one, never half of either. 0600.
    pub fn save(&self, answer: &SignedAnswer, now: OffsetDateTime) -> Result<(), StateError> {
        let server_time = if answer.refusal {
            None
        } else {
            serde_json::from_slice::<pulsekey_types::HeartbeatResponse>(&answer.body)
                .ok()
                .map(|v| rfc3339(v.server_time))
        };
        let record = StateRecord {
            format: FORMAT.into(),
            key_sha256: key_sha256(&self.license_key),
            answer: if answer.refusal {
                AnswerKind::Refusal
            } else {
                AnswerKind::Verdict
            },
            nonce: answer.nonce.clone(),
            body: base64::engine::general_purpose::STANDARD.encode(&answer.body),
            signature: answer.signature.clone(),
            server_time,
            saved_at: rfc3339(now),
        };
        let bytes = serde_json::to_vec_pretty(&record).map_err(|err| self.unwritable(err))?;
        let tmp = self.tmp_path();
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok::<_, std::io::Error>(())
        })();
        written.map_err(|err| {
            let _ = std::fs::remove_file(&tmp);
            self.unwritable(err)
        })
    }

    /// Fails at start, with the path, when the state cannot be written: better found when the
    /// agent is installed than at the first outage.
    pub fn check_writable(&self) -> Result<(), StateError> {
        let tmp = self.tmp_path();
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|_| std::fs::remove_file(&tmp))
            .map_err(|err| self.unwritable(err))
    }

    fn tmp_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_owned();
        name.push(".tmp");
        self.path.with_file_name(name)
    }

    fn unwritable(&self, err: impl std::fmt::Display) -> StateError {
        StateError::Unwritable {
            path: self.shown(),
            reason: err.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer as _, SigningKey};
    use pulsekey_types::signature::{BatchProof, leaf_hash, signed_message};

    const KEY: &str = "pk_this_installation";
    const ACTIVE: &str = r#"{"status":"ACTIVE","graceExpiresAt":null,"heartbeatIntervalSecs":60,"serverTime":"2026-12-01T10:00:00Z"}"#;

    fn signing() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn signed(key: &SigningKey, license_key: &str, body: &str, refusal: bool) -> SignedAnswer {
        let leaf = leaf_hash(license_key, "n1", body.as_bytes());
        let signature = BatchProof {
            signature: key.sign(&signed_message(&leaf)).to_bytes(),
            index: 0,
            path: Vec::new(),
        }
        .to_header();
        SignedAnswer {
            refusal,
            nonce: "n1".into(),
            body: body.as_bytes().to_vec(),
            signature,
        }
    }

    fn state(dir: &Path) -> StateFile {
        StateFile::new(
            dir.join("config.json.state"),
            KEY,
            signing().verifying_key(),
        )
    }

    #[test]
    fn a_saved_verdict_loads_back_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = state(dir.path());
        assert!(file.load().unwrap().is_none());
        file.save(
            &signed(&signing(), KEY, ACTIVE, false),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        let Some(LastAnswer::Verdict(verdict)) = file.load().unwrap() else {
            panic!("no verdict")
        };
        assert_eq!(verdict.status, pulsekey_types::LicenseStatus::Active);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(!text.contains(KEY), "the key itself is never stored");
    }

    #[test]
    fn a_saved_refusal_loads_as_a_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let file = state(dir.path());
        let refusal = r#"{"error":"invalid_token","message":"no"}"#;
        file.save(
            &signed(&signing(), KEY, refusal, true),
            OffsetDateTime::now_utc(),
        )
        .unwrap();
        assert_eq!(file.load().unwrap(), Some(LastAnswer::Refused));
    }

    #[test]
    fn edited_foreign_or_garbage_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = state(dir.path());
        let now = OffsetDateTime::now_utc();

        // An EXPIRED answer edited to read ACTIVE.
        let expired = ACTIVE.replace("ACTIVE", "EXPIRED");
        file.save(&signed(&signing(), KEY, &expired, false), now)
            .unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let edited = text.replace(&b64.encode(&expired), &b64.encode(ACTIVE));
        std::fs::write(file.path(), edited).unwrap();
        assert!(matches!(file.load(), Err(StateError::Unverified { .. })));

        // The server time moved forward by hand, to stretch the offline allowance.
        file.save(&signed(&signing(), KEY, ACTIVE, false), now)
            .unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        std::fs::write(
            file.path(),
            text.replace("2026-12-01T10:00:00Z", "2099-12-01T10:00:00Z"),
        )
        .unwrap();
        assert!(matches!(file.load(), Err(StateError::Unverified { .. })));

        // Signed by another server.
        file.save(
            &signed(&SigningKey::from_bytes(&[9; 32]), KEY, ACTIVE, false),
            now,
        )
        .unwrap();
        assert!(matches!(file.load(), Err(StateError::Unverified { .. })));

        // Another installation's file: another key.
        let other = StateFile::new(
            file.path().to_owned(),
            "pk_another",
            signing().verifying_key(),
        );
        other
            .save(&signed(&signing(), "pk_another", ACTIVE, false), now)
            .unwrap();
        assert!(matches!(file.load(), Err(StateError::ForeignKey { .. })));

        // A file cut short (a full disk, say).
        let text = std::fs::read_to_string(file.path()).unwrap();
        std::fs::write(file.path(), &text[..text.len() / 2]).unwrap();
        assert!(matches!(file.load(), Err(StateError::Malformed { .. })));
    }

    #[test]
    fn an_unwritable_place_is_reported_with_its_path() {
        let file = StateFile::new(
            PathBuf::from("/nonexistent-dir/config.json.state"),
            KEY,
            signing().verifying_key(),
        );
        let err = file.check_writable().unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir"), "{err}");
        assert_eq!(
            StateFile::default_path(Path::new("/etc/proxy/config.json")),
            PathBuf::from("/etc/proxy/config.json.state")
        );
    }
}
