//! Servers and their licenses: creation, the admin actions of the seed's License card, the
//! customer's own view, and the heartbeat's lookup. Each action and its audit entry commit
//! in the caller's one transaction.

use pulsekey_db::servers::{self, ServerRow};
use pulsekey_db::{DbConnection, DbError, users};
use pulsekey_types::{
    LicenseStatus, LicenseView, MyServer, MyServerList, Role, ServerList, ServerView,
    WebhookEventType,
};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::DomainError;
use super::audit::{Audited, Tx};
use super::crypto::DataKey;
use super::keys::{self, LicenseKey};
use super::license;
use super::webhooks;

pub mod events;
pub mod list;

/// What the card shows, with the status computed now (never the stale stored one).
pub fn license_view(row: &ServerRow, now: OffsetDateTime, interval_secs: u64) -> LicenseView {
    let grace_expires_at = row.grace_expires_at.map(pulsekey_db::from_stored);
    let status = license::effective_status(
        license::parse_stored_status(&row.license_status),
        grace_expires_at,
        now,
    );
    let heartbeat = row.heartbeat.as_ref();
    let last_heartbeat_at = heartbeat.map(|h| pulsekey_db::from_stored(h.last_heartbeat_at));
    LicenseView {
        key_masked: keys::mask(&row.license_key_last4),
        status,
        installed_version: heartbeat.map(|h| h.installed_version.clone()),
        last_heartbeat_at,
        last_heartbeat_ip: heartbeat.and_then(|h| h.last_heartbeat_ip.clone()),
        grace_expires_at: grace_expires_at.filter(|_| status == LicenseStatus::Grace),
        expired_at: grace_expires_at.filter(|_| status == LicenseStatus::Expired),
        connection: license::connection(last_heartbeat_at, now, interval_secs),
    }
}

pub fn server_view(row: &ServerRow, now: OffsetDateTime, interval_secs: u64) -> ServerView {
    ServerView {
        id: row.id,
        owner_id: row.owner_id,
        name: row.name.clone(),
        license: license_view(row, now, interval_secs),
    }
}

pub(crate) fn server_not_found(err: DbError) -> DomainError {
    match err {
        DbError::NotFound => DomainError::NotFound("server"),
        other => DomainError::Db(other),
    }
}

pub fn get_server(
    conn: &mut DbConnection,
    id: i64,
    interval_secs: u64,
) -> Result<ServerView, DomainError> {
    let row = servers::find(conn, id).map_err(server_not_found)?;
    Ok(server_view(&row, OffsetDateTime::now_utc(), interval_secs))
}

pub fn list_for_owner(
    conn: &mut DbConnection,
    owner_id: i64,
    interval_secs: u64,
) -> Result<ServerList, DomainError> {
    users::find(conn, owner_id).map_err(|err| match err {
        DbError::NotFound => DomainError::NotFound("user"),
        other => DomainError::Db(other),
    })?;
    let now = OffsetDateTime::now_utc();
    let rows = servers::list_by_owner(conn, owner_id)?;
    Ok(ServerList {
        items: rows
            .iter()
            .map(|row| server_view(row, now, interval_secs))
            .collect(),
    })
}

/// The new key's columns: hash for lookup, ciphertext (bound to the hash) for reveal.
struct SealedKey {
    key: LicenseKey,
    hash: [u8; 32],
    ciphertext: Vec<u8>,
}

fn seal(data_key: &DataKey) -> SealedKey {
    let key = LicenseKey::generate();
    let hash = key.hash();
    let ciphertext = data_key.seal(key.expose().as_bytes(), &hash);
    SealedKey {
        key,
        hash,
        ciphertext,
    }
}

pub fn validate_server_name(name: &str) -> Result<&str, DomainError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(super::is_unprintable) {
        return Err(DomainError::Validation(
            "name must be 1–100 printable characters".into(),
        ));
    }
    Ok(name)
}

/// A new server for a customer, with a fresh ACTIVE license.
pub fn create_server(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    owner_id: i64,
    name: &str,
    interval_secs: u64,
) -> Result<Audited<ServerView>, DomainError> {
    let name = validate_server_name(name)?;
    let owner = users::find(tx.conn(), owner_id).map_err(|err| match err {
        DbError::NotFound => DomainError::Validation(format!("ownerId {owner_id} is not a user")),
        other => DomainError::Db(other),
    })?;
    if Role::parse(&owner.role) != Some(Role::Customer) {
        return Err(DomainError::OwnerNotCustomer(owner_id));
    }
    let sealed = seal(data_key);
    let now = pulsekey_db::now();
    let row = servers::insert(
        tx.conn(),
        &servers::ServerInsertForm {
            owner_id,
            name,
            license_key_hash: &sealed.hash,
            license_key_ciphertext: &sealed.ciphertext,
            license_key_last4: sealed.key.last4(),
            license_status: LicenseStatus::Active.as_str(),
            license_issued_at: now,
            created_at: now,
            updated_at: now,
        },
    )?;
    let value = server_view(&row, OffsetDateTime::now_utc(), interval_secs);
    webhooks::publish_about_server(
        tx.conn(),
        WebhookEventType::ServerCreated,
        &row,
        &value.license,
        json!({}),
    )?;
    Ok(tx.audit(
        "server.create",
        Some(row.id),
        json!({ "ownerId": owner_id, "name": name, "keyLast4": sealed.key.last4() }),
        value,
    )?)
}

/// Renames a server (audited as `server.update` with the name before and after). The same
/// name again changes nothing and writes no entry.
pub fn rename_server(
    tx: &mut Tx<'_>,
    id: i64,
    name: &str,
    interval_secs: u64,
) -> Result<Audited<ServerView>, DomainError> {
    let name = validate_server_name(name)?;
    let row = lock_and_read(tx.conn(), id)?;
    if row.name == name {
        return Ok(Audited::nothing_changed(server_view(
            &row,
            OffsetDateTime::now_utc(),
            interval_secs,
        )));
    }
    servers::rename(tx.conn(), id, name, pulsekey_db::now())?;
    let renamed = servers::find(tx.conn(), id)?;
    let value = server_view(&renamed, OffsetDateTime::now_utc(), interval_secs);
    Ok(tx.audit(
        "server.update",
        Some(id),
        json!({ "ownerId": row.owner_id, "name": { "from": row.name, "to": name } }),
        value,
    )?)
}

/// Deletes a server and its license (audited as `server.delete`). Its key's very next
/// heartbeat, on any node, finds nothing; the audit log keeps what it was.
pub fn delete_server(
    tx: &mut Tx<'_>,
    id: i64,
    interval_secs: u64,
) -> Result<Audited<()>, DomainError> {
    let row = lock_and_read(tx.conn(), id)?;
    let last_seen = license_view(&row, OffsetDateTime::now_utc(), interval_secs);
    webhooks::publish_about_server(
        tx.conn(),
        WebhookEventType::ServerDeleted,
        &row,
        &last_seen,
        json!({}),
    )?;
    if !servers::delete(tx.conn(), id)? {
        return Err(DomainError::NotFound("server"));
    }
    Ok(tx.audit(
        "server.delete",
        Some(id),
        json!({
            "ownerId": row.owner_id,
            "name": row.name,
            "keyLast4": row.license_key_last4,
            "status": current_status(&row, OffsetDateTime::now_utc()).as_str(),
        }),
        (),
    )?)
}

/// Stores GRACE → EXPIRED for every grace window that has ended, and publishes
/// `license.expired` for each in the same transaction. The update changes a row once, so
/// when every node sweeps, each ended window is announced once for the whole cluster.
/// Returns how many ended.
pub fn expire_ended_graces(
    db: &pulsekey_db::Db,
    now: OffsetDateTime,
    interval_secs: u64,
) -> Result<usize, DomainError> {
    db.transaction(|conn| {
        let ended = servers::expire_passed_grace(conn, pulsekey_db::to_stored(now))?;
        for id in &ended {
            let row = servers::find(conn, *id)?;
            let license = license_view(&row, now, interval_secs);
            webhooks::publish_about_server(
                conn,
                WebhookEventType::LicenseExpired,
                &row,
                &license,
                json!({}),
            )?;
        }
        Ok(ended.len())
    })
}

/// Locks the server row for this transaction and reads it.
fn lock_and_read(conn: &mut DbConnection, id: i64) -> Result<ServerRow, DomainError> {
    if !servers::lock(conn, id)? {
        return Err(DomainError::NotFound("server"));
    }
    servers::find(conn, id).map_err(server_not_found)
}

/// Writes a transition's outcome.
fn store_status(
    conn: &mut DbConnection,
    id: i64,
    next: &license::LicenseState,
) -> Result<(), DomainError> {
    servers::set_status(
        conn,
        id,
        &servers::LicenseStatusForm {
            license_status: next.status.as_str(),
            grace_expires_at: next.grace_expires_at.map(pulsekey_db::to_stored),
            updated_at: pulsekey_db::now(),
        },
    )?;
    Ok(())
}

/// The card as it stands after an action, read back inside the same transaction.
fn card(conn: &mut DbConnection, id: i64, interval_secs: u64) -> Result<LicenseView, DomainError> {
    let row = servers::find(conn, id)?;
    Ok(license_view(&row, OffsetDateTime::now_utc(), interval_secs))
}

fn current_status(row: &ServerRow, now: OffsetDateTime) -> LicenseStatus {
    license::effective_status(
        license::parse_stored_status(&row.license_status),
        row.grace_expires_at.map(pulsekey_db::from_stored),
        now,
    )
}

/// A new key, in any status. The old key's hash is gone from the table when this commits,
/// so its very next heartbeat, on any node, finds nothing.
pub fn regenerate(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    id: i64,
    interval_secs: u64,
) -> Result<Audited<LicenseView>, DomainError> {
    let before = lock_and_read(tx.conn(), id)?;
    let sealed = seal(data_key);
    let now = pulsekey_db::now();
    servers::set_key(
        tx.conn(),
        id,
        &servers::LicenseKeyForm {
            license_key_hash: &sealed.hash,
            license_key_ciphertext: &sealed.ciphertext,
            license_key_last4: sealed.key.last4(),
            license_rotated_at: now,
            updated_at: now,
        },
    )?;
    let value = card(tx.conn(), id, interval_secs)?;
    webhooks::publish_about_server(
        tx.conn(),
        WebhookEventType::LicenseRegenerated,
        &before,
        &value,
        json!({ "oldKeyLast4": before.license_key_last4 }),
    )?;
    Ok(tx.audit(
        "server.license.regenerate",
        Some(id),
        json!({ "oldLast4": before.license_key_last4, "newLast4": sealed.key.last4() }),
        value,
    )?)
}

pub fn revoke(
    tx: &mut Tx<'_>,
    id: i64,
    grace_days: i64,
    interval_secs: u64,
) -> Result<Audited<LicenseView>, DomainError> {
    license::validate_grace_days(grace_days)?;
    let before = lock_and_read(tx.conn(), id)?;
    let now = OffsetDateTime::now_utc();
    let next = license::revoke(current_status(&before, now), grace_days, now)?;
    store_status(tx.conn(), id, &next)?;
    // As stored (to the microsecond), so the entry matches the row exactly.
    let expires_text = next
        .grace_expires_at
        .map(|at| pulsekey_db::from_stored(pulsekey_db::to_stored(at)))
        .and_then(|at| at.format(&Rfc3339).ok());
    let value = card(tx.conn(), id, interval_secs)?;
    webhooks::publish_about_server(
        tx.conn(),
        WebhookEventType::LicenseRevoked,
        &before,
        &value,
        json!({ "graceDays": grace_days, "graceExpiresAt": expires_text }),
    )?;
    Ok(tx.audit(
        "server.license.revoke",
        Some(id),
        json!({ "graceDays": grace_days, "graceExpiresAt": expires_text }),
        value,
    )?)
}

pub fn reinstate(
    tx: &mut Tx<'_>,
    id: i64,
    interval_secs: u64,
) -> Result<Audited<LicenseView>, DomainError> {
    let before = lock_and_read(tx.conn(), id)?;
    let now = OffsetDateTime::now_utc();
    let previous = current_status(&before, now);
    let next = license::reinstate(previous)?;
    store_status(tx.conn(), id, &next)?;
    let value = card(tx.conn(), id, interval_secs)?;
    webhooks::publish_about_server(
        tx.conn(),
        WebhookEventType::LicenseReinstated,
        &before,
        &value,
        json!({ "previousStatus": previous }),
    )?;
    Ok(tx.audit(
        "server.license.reinstate",
        Some(id),
        json!({ "previousStatus": previous }),
        value,
    )?)
}

fn decrypt(row: &ServerRow, data_key: &DataKey) -> Result<String, DomainError> {
    let plaintext = data_key
        .open(&row.license_key_ciphertext, &row.license_key_hash)
        .map_err(|_| DomainError::UndecryptableKey)?;
    String::from_utf8(plaintext).map_err(|_| DomainError::UndecryptableKey)
}

/// The plaintext key, for an admin (audited).
pub fn reveal(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    id: i64,
) -> Result<Audited<String>, DomainError> {
    let row = servers::find(tx.conn(), id).map_err(server_not_found)?;
    let key = decrypt(&row, data_key)?;
    let value = key;
    Ok(tx.audit(
        "server.license.reveal",
        Some(id),
        json!({ "keyLast4": row.license_key_last4 }),
        value,
    )?)
}

/// The plaintext key for the proxy's config.json, for the owning customer only (audited).
/// Another customer's server is reported as not found, not forbidden.
pub fn install_key(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    owner_id: i64,
    id: i64,
) -> Result<Audited<String>, DomainError> {
    let row = servers::find(tx.conn(), id).map_err(server_not_found)?;
    if row.owner_id != owner_id {
        return Err(DomainError::NotFound("server"));
    }
    let key = decrypt(&row, data_key)?;
    let value = key;
    Ok(tx.audit(
        "server.license.install",
        Some(id),
        json!({ "keyLast4": row.license_key_last4 }),
        value,
    )?)
}

pub fn my_servers(
    conn: &mut DbConnection,
    owner_id: i64,
    interval_secs: u64,
) -> Result<MyServerList, DomainError> {
    let now = OffsetDateTime::now_utc();
    let rows = servers::list_by_owner(conn, owner_id)?;
    Ok(MyServerList {
        items: rows
            .iter()
            .map(|row| MyServer {
                id: row.id,
                name: row.name.clone(),
                license: license_view(row, now, interval_secs),
            })
            .collect(),
    })
}

/// Re-encrypts every stored license key from `old` to `new`, and audits it. Run it inside
/// one transaction: a key that does not open under `old` fails the whole rotation, so no
/// row is ever left under a key nobody holds.
pub fn rotate_data_key(
    tx: &mut Tx<'_>,
    old: &DataKey,
    new: &DataKey,
) -> Result<Audited<u64>, DomainError> {
    const PAGE: i64 = 2_000;
    let mut after = 0;
    let mut rotated = 0u64;
    loop {
        let page = servers::ciphertext_page(tx.conn(), after, PAGE)?;
        let Some(&(last, _, _)) = page.last() else {
            break;
        };
        for (id, hash, ciphertext) in page {
            let plaintext = old
                .open(&ciphertext, &hash)
                .map_err(|_| DomainError::UndecryptableKey)?;
            servers::set_ciphertext(tx.conn(), id, &new.seal(&plaintext, &hash))?;
            rotated += 1;
        }
        after = last;
    }
    let webhooks = webhooks::reseal_secrets(tx, old, new)?;
    let value = rotated;
    Ok(tx.audit(
        "data_key.rotate",
        None,
        json!({ "licenses": rotated, "webhookSecrets": webhooks }),
        value,
    )?)
}
