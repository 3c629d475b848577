//! Webhooks: the endpoints admins register, the events actions publish to them, and the
//! rules their delivery follows. Sending is the server's business (it owns the HTTP
//! client); everything it decides with lives here.

pub mod address;
pub mod schedule;
pub mod signing;

use pulsekey_db::{DbConnection, DbError, webhooks as db};
use pulsekey_types::{
    CreateWebhookRequest, LicenseView, UpdateWebhookRequest, WebhookEventType, WebhookEvents,
    WebhookView,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::DomainError;
use crate::audit::{Audited, Tx};
use crate::crypto::{DataKey, random_bytes};
use signing::SigningSecret;

/// How long finished deliveries, their attempts and their events are kept (pending ones
/// stay until they finish).
pub const DELIVERIES_KEPT_FOR: time::Duration = time::Duration::days(30);

/// How long a rotated-out secret keeps signing beside the new one.
pub const PREVIOUS_SECRET_LIFETIME: time::Duration = time::Duration::hours(24);

/// What binds a sealed secret to its purpose: a license key's ciphertext cannot be passed
/// off as a webhook secret, or the reverse.
const SECRET_AAD: &[u8] = b"pulsekey webhook signing secret";

const MAX_DESCRIPTION_CHARS: usize = 200;

/// The stored form of an endpoint's events.
fn events_to_stored(events: &WebhookEvents) -> Result<String, DomainError> {
    match events {
        WebhookEvents::All => Ok(db::ALL_EVENTS.to_owned()),
        WebhookEvents::Only(types) => {
            if types.is_empty() {
                return Err(DomainError::Validation(
                    "events must name at least one type, or be \"all\"".into(),
                ));
            }
            if types.contains(&WebhookEventType::WebhookTest) {
                return Err(DomainError::Validation(
                    "webhook.test is sent on request (POST …/test), not subscribed to".into(),
                ));
            }
            let mut types = types.clone();
            types.sort();
            types.dedup();
            let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
            Ok(format!(" {} ", names.join(" ")))
        }
    }
}

fn events_from_stored(stored: &str) -> WebhookEvents {
    if stored == db::ALL_EVENTS {
        return WebhookEvents::All;
    }
    WebhookEvents::Only(
        stored
            .split_whitespace()
            .filter_map(WebhookEventType::parse)
            .collect(),
    )
}

pub fn webhook_view(row: &db::WebhookRow) -> WebhookView {
    WebhookView {
        id: row.id,
        url: row.url.clone(),
        description: row.description.clone(),
        events: events_from_stored(&row.events),
        enabled: row.enabled,
        created_at: pulsekey_db::from_stored(row.created_at),
        disabled_reason: row.disabled_reason.clone(),
        failing_since: row.failing_since.map(pulsekey_db::from_stored),
    }
}

fn validate_description(description: &str) -> Result<&str, DomainError> {
    let description = description.trim();
    if description.chars().count() > MAX_DESCRIPTION_CHARS
        || description.chars().any(crate::is_unprintable)
    {
        return Err(DomainError::Validation(
            "description must be at most 200 printable characters".into(),
        ));
    }
    Ok(description)
}

/// Opens a sealed signing secret.
pub fn open_secret(data_key: &DataKey, sealed: &[u8]) -> Result<SigningSecret, DomainError> {
    data_key
        .open(sealed, SECRET_AAD)
        .map(SigningSecret::from_bytes)
        .map_err(|_| DomainError::UndecryptableKey)
}

/// A new endpoint with a new secret, answered this once (audited as `webhook.create`;
/// the entry holds the URL, never the secret). `url` has been checked by the caller,
/// which alone can resolve it.
pub fn create_webhook(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    request: &CreateWebhookRequest,
) -> Result<Audited<(WebhookView, SigningSecret)>, DomainError> {
    let url = address::validate_url(&request.url)?;
    let description = validate_description(&request.description)?;
    let events = events_to_stored(&request.events)?;
    let secret = SigningSecret::generate();
    let now = pulsekey_db::now();
    let row = db::insert(
        tx.conn(),
        &db::WebhookInsertForm {
            url: url.as_str(),
            description,
            events: &events,
            enabled: request.enabled,
            secret_ciphertext: &data_key.seal(secret.as_bytes(), SECRET_AAD),
            created_at: now,
            updated_at: now,
        },
    )?;
    let view = webhook_view(&row);
    Ok(tx.audit(
        "webhook.create",
        Some(row.id),
        json!({ "url": address::for_the_record(&row.url), "events": view.events, "enabled": row.enabled }),
        (view, secret),
    )?)
}

/// Changes what `request` gives (audited as `webhook.update` with each change). Enabling
/// clears the reason it was disabled and its failing streak, so that its waiting
/// deliveries resume at once.
pub fn update_webhook(
    tx: &mut Tx<'_>,
    id: i64,
    request: &UpdateWebhookRequest,
) -> Result<Audited<WebhookView>, DomainError> {
    let before = find(tx.conn(), id)?;
    let mut changes = db::WebhookChangeset::default();
    let mut changed = serde_json::Map::new();
    if let Some(url) = &request.url {
        let url = address::validate_url(url)?;
        if url.as_str() != before.url {
            changed.insert(
                "url".into(),
                json!({
                    "from": address::for_the_record(&before.url),
                    "to": address::for_the_record(url.as_str()),
                }),
            );
            changes.url = Some(url.into());
            // The old address's failures say nothing of the new one.
            changes.failing_since = Some(None);
        }
    }
    if let Some(description) = &request.description {
        let description = validate_description(description)?;
        if description != before.description {
            changed.insert(
                "description".into(),
                json!({ "from": before.description, "to": description }),
            );
            changes.description = Some(description.to_owned());
        }
    }
    if let Some(events) = &request.events {
        let stored = events_to_stored(events)?;
        if stored != before.events {
            changed.insert(
                "events".into(),
                json!({ "from": events_from_stored(&before.events), "to": events }),
            );
            changes.events = Some(stored);
        }
    }
    if let Some(enabled) = request.enabled
        && enabled != before.enabled
    {
        changed.insert(
            "enabled".into(),
            json!({ "from": before.enabled, "to": enabled }),
        );
        changes.enabled = Some(enabled);
        if enabled {
            changes.disabled_reason = Some(None);
            changes.failing_since = Some(None);
        }
    }
    if changed.is_empty() {
        return Ok(Audited::nothing_changed(webhook_view(&before)));
    }
    let now = pulsekey_db::now();
    changes.updated_at = Some(now);
    db::update(tx.conn(), id, &changes)?;
    // Waiting deliveries go at once, their retries counted afresh: an event that waited
    // out a disabled endpoint must not give up at its next failure.
    if changes.url.is_some() || changes.enabled == Some(true) {
        db::resume(tx.conn(), id, now)?;
    }
    let after = find(tx.conn(), id)?;
    Ok(tx.audit(
        "webhook.update",
        Some(id),
        Value::Object(changed),
        webhook_view(&after),
    )?)
}

pub fn delete_webhook(tx: &mut Tx<'_>, id: i64) -> Result<Audited<()>, DomainError> {
    let before = find(tx.conn(), id)?;
    if !db::delete(tx.conn(), id)? {
        return Err(DomainError::NotFound("webhook"));
    }
    Ok(tx.audit(
        "webhook.delete",
        Some(id),
        json!({ "url": address::for_the_record(&before.url) }),
        (),
    )?)
}

/// A new secret, answered this once; the one it replaces keeps signing beside it for
/// [`PREVIOUS_SECRET_LIFETIME`], so receivers can switch without losing a delivery.
pub fn rotate_secret(
    tx: &mut Tx<'_>,
    data_key: &DataKey,
    id: i64,
) -> Result<Audited<(WebhookView, SigningSecret)>, DomainError> {
    let before = find(tx.conn(), id)?;
    let secret = SigningSecret::generate();
    let now = OffsetDateTime::now_utc();
    db::update(
        tx.conn(),
        id,
        &db::WebhookChangeset {
            secret_ciphertext: Some(data_key.seal(secret.as_bytes(), SECRET_AAD)),
            previous_secret_ciphertext: Some(Some(before.secret_ciphertext)),
            previous_secret_expires_at: Some(Some(pulsekey_db::to_stored(
                now + PREVIOUS_SECRET_LIFETIME,
            ))),
            updated_at: Some(pulsekey_db::to_stored(now)),
            ..Default::default()
        },
    )?;
    let after = find(tx.conn(), id)?;
    let expires = (now + PREVIOUS_SECRET_LIFETIME).format(&Rfc3339).ok();
    Ok(tx.audit(
        "webhook.rotate_secret",
        Some(id),
        json!({ "previousSecretSignsUntil": expires }),
        (webhook_view(&after), secret),
    )?)
}

/// Queues a `webhook.test` event for this endpoint alone, due now (audited).
pub fn send_test(tx: &mut Tx<'_>, id: i64) -> Result<Audited<String>, DomainError> {
    find(tx.conn(), id)?;
    let now = OffsetDateTime::now_utc();
    let kind = WebhookEventType::WebhookTest;
    let (msg_id, payload) = event_form(kind, now, json!({ "webhookId": id }));
    let event_id = db::insert_event(
        tx.conn(),
        &db::EventInsertForm {
            msg_id: &msg_id,
            event_type: kind.as_str(),
            at: pulsekey_db::to_stored(now),
            payload: &payload,
        },
    )?;
    db::queue(tx.conn(), id, event_id, pulsekey_db::to_stored(now))?;
    Ok(tx.audit(
        "webhook.test",
        Some(id),
        json!({ "eventId": msg_id }),
        msg_id,
    )?)
}

/// Starts a delivery's schedule again, due now (audited).
pub fn retry_delivery(
    tx: &mut Tx<'_>,
    id: i64,
    delivery_id: i64,
) -> Result<Audited<()>, DomainError> {
    if !db::retry(tx.conn(), id, delivery_id, pulsekey_db::now())? {
        return Err(DomainError::NotFound("delivery"));
    }
    Ok(tx.audit(
        "webhook.delivery.retry",
        Some(id),
        json!({ "deliveryId": delivery_id }),
        (),
    )?)
}

/// Disables the endpoints every attempt of which has failed for
/// [`schedule::DISABLE_AFTER`], each with its reason and an audit entry
/// (`webhook.disable`); their deliveries wait until an admin enables them again.
pub fn disable_failing(
    tx: &mut Tx<'_>,
    now: OffsetDateTime,
    reason: &str,
) -> Result<Audited<Vec<i64>>, DomainError> {
    let failing = db::disable_failing(
        tx.conn(),
        pulsekey_db::to_stored(now - schedule::DISABLE_AFTER),
        reason,
        pulsekey_db::to_stored(now),
    )?;
    let ids: Vec<i64> = failing.iter().map(|(id, _)| *id).collect();
    let mut audited = Audited::nothing_changed(());
    for (id, url) in failing {
        audited = tx.audit(
            "webhook.disable",
            Some(id),
            json!({ "url": address::for_the_record(&url), "reason": reason }),
            (),
        )?;
    }
    Ok(audited.map(|()| ids))
}

/// Seals every endpoint's secrets (the current one and a rotated-out one still signing)
/// under `new`, inside a data key rotation's transaction. Returns how many were resealed.
pub(crate) fn reseal_secrets(
    tx: &mut Tx<'_>,
    old: &DataKey,
    new: &DataKey,
) -> Result<u64, DomainError> {
    let mut resealed = 0;
    for row in db::list(tx.conn())? {
        let reseal = |sealed: &[u8]| -> Result<Vec<u8>, DomainError> {
            let secret = open_secret(old, sealed)?;
            Ok(new.seal(secret.as_bytes(), SECRET_AAD))
        };
        let previous = row
            .previous_secret_ciphertext
            .as_deref()
            .map(reseal)
            .transpose()?;
        resealed += 1 + u64::from(previous.is_some());
        db::update(
            tx.conn(),
            row.id,
            &db::WebhookChangeset {
                secret_ciphertext: Some(reseal(&row.secret_ciphertext)?),
                previous_secret_ciphertext: previous.map(Some),
                ..Default::default()
            },
        )?;
    }
    Ok(resealed)
}

/// An endpoint, or `NotFound("webhook")`.
pub fn find(conn: &mut DbConnection, id: i64) -> Result<db::WebhookRow, DomainError> {
    db::find(conn, id).map_err(|err| match err {
        DbError::NotFound => DomainError::NotFound("webhook"),
        other => other.into(),
    })
}

/// An event's `webhook-id` and body.
fn event_form(event_type: WebhookEventType, at: OffsetDateTime, data: Value) -> (String, String) {
    let msg_id = format!("msg_{}", crate::crypto::hex(&random_bytes::<16>()));
    let payload = json!({
        "type": event_type.as_str(),
        "timestamp": at.format(&Rfc3339).unwrap_or_default(),
        "data": data,
    })
    .to_string();
    (msg_id, payload)
}

/// Publishes an event about a server to every endpoint that hears its type, on the
/// action's connection, so it commits with the action or not at all. Its data: the
/// server, its owner and its license as the web app shows it (the key masked, never the
/// key), and `more` (an object) beside them.
pub(crate) fn publish_about_server(
    conn: &mut DbConnection,
    event_type: WebhookEventType,
    server: &pulsekey_db::servers::ServerRow,
    license: &LicenseView,
    more: Value,
) -> Result<(), DbError> {
    publish_about_server_at(
        conn,
        event_type,
        server,
        license,
        more,
        OffsetDateTime::now_utc(),
    )
}

/// As [`publish_about_server`], for something that happened at `at`.
fn publish_about_server_at(
    conn: &mut DbConnection,
    event_type: WebhookEventType,
    server: &pulsekey_db::servers::ServerRow,
    license: &LicenseView,
    more: Value,
    at: OffsetDateTime,
) -> Result<(), DbError> {
    let owner = pulsekey_db::users::find(conn, server.owner_id)?;
    let mut data = json!({
        "server": { "id": server.id, "name": server.name, "ownerId": server.owner_id },
        "owner": { "id": owner.id, "username": owner.username },
        "license": license,
    });
    if let (Value::Object(data), Value::Object(more)) = (&mut data, more) {
        data.extend(more);
    }
    let (msg_id, payload) = event_form(event_type, at, data);
    db::publish(
        conn,
        &db::EventInsertForm {
            msg_id: &msg_id,
            event_type: event_type.as_str(),
            at: pulsekey_db::to_stored(at),
            payload: &payload,
        },
    )?;
    Ok(())
}

/// Events the relay reads per transaction.
const RELAY_BATCH: i64 = 500;

/// Hands what the heartbeat bookkeeping and the fleet job recorded (`server_events`) to
/// webhooks: each event once for the whole cluster, in the order written. Returns how many
/// events it read; a full batch means more may wait.
pub fn relay_server_events(
    db: &pulsekey_db::Db,
    now: OffsetDateTime,
    interval_secs: u64,
) -> Result<usize, DomainError> {
    if !pulsekey_db::server_events::any_unrelayed(&mut *db.conn()?)? {
        return Ok(0);
    }
    db.transaction(|conn| {
        let events = pulsekey_db::server_events::claim_unrelayed(conn, RELAY_BATCH)?;
        for event in &events {
            let event_type = match event.kind.as_str() {
                "came_online" => WebhookEventType::ServerCameOnline,
                "went_offline" => WebhookEventType::ServerWentOffline,
                "version_changed" => WebhookEventType::ServerVersionChanged,
                "old_key_used" => WebhookEventType::LicenseOldKeyUsed,
                // `address_changed` is for the installation's page only.
                _ => continue,
            };
            // A server deleted since: its `server.deleted` said the last word.
            let server = match pulsekey_db::servers::find(conn, event.server_id) {
                Ok(server) => server,
                Err(DbError::NotFound) => continue,
                Err(err) => return Err(err.into()),
            };
            let license = crate::servers::license_view(&server, now, interval_secs);
            // What the event itself records (`from`/`to`, `keyLast4`/`ip`, `offlineSince`).
            let detail: Value = serde_json::from_str(&event.data).unwrap_or_else(|_| json!({}));
            publish_about_server_at(
                conn,
                event_type,
                &server,
                &license,
                detail,
                pulsekey_db::from_stored(event.at),
            )?;
        }
        let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
        if !ids.is_empty() {
            pulsekey_db::server_events::mark_relayed(conn, &ids)?;
        }
        Ok(events.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_stored_between_spaces_sorted_once() {
        let events = WebhookEvents::Only(vec![
            WebhookEventType::ServerCreated,
            WebhookEventType::LicenseRevoked,
            WebhookEventType::ServerCreated,
        ]);
        let stored = events_to_stored(&events).unwrap();
        assert_eq!(stored, " license.revoked server.created ");
        assert_eq!(
            events_from_stored(&stored),
            WebhookEvents::Only(vec![
                WebhookEventType::LicenseRevoked,
                WebhookEventType::ServerCreated
            ])
        );
        assert_eq!(events_to_stored(&WebhookEvents::All).unwrap(), "*");
        assert_eq!(events_from_stored("*"), WebhookEvents::All);
        assert!(events_to_stored(&WebhookEvents::Only(vec![])).is_err());
        assert!(
            events_to_stored(&WebhookEvents::Only(vec![WebhookEventType::WebhookTest])).is_err()
        );
    }

    #[test]
    fn a_sealed_secret_opens_only_as_a_secret() {
        let key = DataKey::new([7; 32]);
        let secret = SigningSecret::generate();
        let sealed = key.seal(secret.as_bytes(), SECRET_AAD);
        assert_eq!(open_secret(&key, &sealed).unwrap(), secret);
        let license_like = key.seal(secret.as_bytes(), b"some key hash");
        assert!(open_secret(&key, &license_like).is_err());
    }
}
