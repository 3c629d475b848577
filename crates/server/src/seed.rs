//! `pulsekey dev seed`: demo and benchmark data, N customers with one server each.

use std::io::Write as _;
use std::path::Path;

use pulsekey_db::{Db, servers, users};
use serde_json::json;

use crate::config::ConfigError;
use crate::domain::audit::{self, Actor};
use crate::domain::crypto::DataKey;
use crate::domain::keys::LicenseKey;
use crate::domain::{accounts, tokens};

const BATCH: u64 = 1000;

/// Creates `customers` customers (`seed-<run>-<n>`), each owning one ACTIVE server, and
/// writes their license keys, one per line, into the new file `keys_out` (mode 0600).
/// Returns the customers' shared password, so the demo accounts can sign in.
pub fn seed(
    db: &Db,
    data_key: &DataKey,
    customers: u64,
    keys_out: &Path,
) -> Result<String, ConfigError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(keys_out).map_err(|err| {
        ConfigError(format!(
            "cannot create {} (it must not exist yet): {err}",
            keys_out.display()
        ))
    })?;
    let mut out = std::io::BufWriter::new(file);
    let failed = |err: crate::domain::DomainError| ConfigError(format!("seeding failed: {err}"));

    // One password for every seeded customer: argon2 per user would take hours at 1 M.
    let password = tokens::random_base62(20);
    let password_hash = accounts::hash_password(&password).map_err(failed)?;
    let run = tokens::random_base62(6).to_lowercase();
    let mut created = 0;
    while created < customers {
        let batch = BATCH.min(customers - created);
        let keys = db
            .transaction(|conn| {
                let now = pulsekey_db::now();
                let mut keys = Vec::with_capacity(batch as usize);
                for n in created..created + batch {
                    let username = format!("seed-{run}-{n}");
                    let email = format!("{username}@users.invalid");
                    let user = users::insert(
                        conn,
                        &users::UserInsertForm {
                            username: &username,
                            email: &email,
                            role: "customer",
                            password_hash: &password_hash,
                            disabled: false,
                            created_at: now,
                            updated_at: now,
                        },
                    )?;
                    let key = LicenseKey::generate();
                    let hash = key.hash();
                    let ciphertext = data_key.seal(key.expose().as_bytes(), &hash);
                    servers::insert(
                        conn,
                        &servers::ServerInsertForm {
                            owner_id: user.id,
                            name: &format!("{username}-server"),
                            license_key_hash: &hash,
                            license_key_ciphertext: &ciphertext,
                            license_key_last4: key.last4(),
                            license_status: "ACTIVE",
                            license_issued_at: now,
                            created_at: now,
                            updated_at: now,
                        },
                    )?;
                    keys.push(key);
                }
                Ok::<_, crate::domain::DomainError>(keys)
            })
            .map_err(failed)?;
        for key in &keys {
            writeln!(out, "{}", key.expose())
                .map_err(|err| ConfigError(format!("cannot write keys: {err}")))?;
        }
        created += batch;
    }
    out.flush()
        .map_err(|err| ConfigError(format!("cannot write keys: {err}")))?;
    db.transaction(|conn| {
        let actor = Actor {
            username: Some("cli".into()),
            ..Actor::default()
        };
        audit::record(
            conn,
            &actor,
            "dev.seed",
            None,
            json!({ "customers": customers, "usernamePrefix": format!("seed-{run}-") }),
        )
        .map_err(crate::domain::DomainError::from)
    })
    .map_err(failed)?;
    Ok(password)
}
