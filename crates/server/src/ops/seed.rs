//! `pulsekey dev seed`: demo and benchmark data, N customers with one server each.

use std::io::Write as _;
use std::path::Path;

use pulsekey_db::{Db, servers, users};
use serde_json::json;

use crate::config::ConfigError;
use pulsekey_core::audit::{self, Actor};
use pulsekey_core::crypto::DataKey;
use pulsekey_core::keys::LicenseKey;
use pulsekey_core::{accounts, tokens};

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
    let failed = |err: pulsekey_core::DomainError| ConfigError(format!("seeding failed: {err}"));

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
                let usernames: Vec<String> = (created..created + batch)
                    .map(|n| format!("seed-{run}-{n}"))
                    .collect();
                let emails: Vec<String> = usernames
                    .iter()
                    .map(|u| format!("{u}@users.invalid"))
                    .collect();
                let user_forms: Vec<users::UserInsertForm<'_>> = usernames
                    .iter()
                    .zip(&emails)
                    .map(|(username, email)| users::UserInsertForm {
                        username,
                        email,
                        role: "customer",
                        password_hash: &password_hash,
                        disabled: false,
                        created_at: now,
                        updated_at: now,
                    })
                    .collect();
                let ids: std::collections::HashMap<String, i64> =
                    users::insert_many(conn, &user_forms)?
                        .into_iter()
                        .map(|(id, name)| (name, id))
                        .collect();
                let keys: Vec<LicenseKey> =
                    usernames.iter().map(|_| LicenseKey::generate()).collect();
                let hashes: Vec<[u8; 32]> = keys.iter().map(LicenseKey::hash).collect();
                let sealed: Vec<Vec<u8>> = keys
                    .iter()
                    .zip(&hashes)
                    .map(|(key, hash)| data_key.seal(key.expose().as_bytes(), hash))
                    .collect();
                let names: Vec<String> = usernames.iter().map(|u| format!("{u}-server")).collect();
                let mut server_forms = Vec::with_capacity(keys.len());
                for (i, username) in usernames.iter().enumerate() {
                    let owner_id = *ids.get(username).ok_or(pulsekey_db::DbError::NotFound)?;
                    server_forms.push(servers::ServerInsertForm {
                        owner_id,
                        name: &names[i],
                        license_key_hash: &hashes[i],
                        license_key_ciphertext: &sealed[i],
                        license_key_last4: keys[i].last4(),
                        license_status: "ACTIVE",
                        license_issued_at: now,
                        created_at: now,
                        updated_at: now,
                    });
                }
                servers::insert_many(conn, &server_forms)?;
                Ok::<_, pulsekey_core::DomainError>(keys)
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
    audit::act(db, &Actor::cli(), |tx| {
        let metadata = json!({ "customers": customers, "usernamePrefix": format!("seed-{run}-") });
        Ok(tx.audit("dev.seed", None, metadata, ())?)
    })
    .map_err(failed)?;
    Ok(password)
}
