//! Webhooks: endpoints that hear what happens, signed per the Standard Webhooks
//! specification.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// What a webhook tells: the `type` of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum WebhookEventType {
    /// A license got a new key; the old one is refused from now on.
    #[serde(rename = "license.regenerated")]
    LicenseRegenerated,
    /// A license was revoked, with a grace window or at once.
    #[serde(rename = "license.revoked")]
    LicenseRevoked,
    /// A revoked license is ACTIVE again.
    #[serde(rename = "license.reinstated")]
    LicenseReinstated,
    /// A grace window ended: once for the whole cluster.
    #[serde(rename = "license.expired")]
    LicenseExpired,
    /// A key this server had before a regenerate is still calling.
    #[serde(rename = "license.old_key_used")]
    LicenseOldKeyUsed,
    #[serde(rename = "server.created")]
    ServerCreated,
    #[serde(rename = "server.deleted")]
    ServerDeleted,
    /// Past the offline threshold since its last heartbeat.
    #[serde(rename = "server.went_offline")]
    ServerWentOffline,
    /// Its first heartbeat, or the first after being offline.
    #[serde(rename = "server.came_online")]
    ServerCameOnline,
    #[serde(rename = "server.version_changed")]
    ServerVersionChanged,
    /// Sent by `POST /api/v1/webhooks/{id}/test`, to that endpoint only.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl WebhookEventType {
    /// The types an endpoint can subscribe to (not `webhook.test`, which is asked for).
    pub const SUBSCRIBABLE: [Self; 10] = [
        Self::LicenseRegenerated,
        Self::LicenseRevoked,
        Self::LicenseReinstated,
        Self::LicenseExpired,
        Self::LicenseOldKeyUsed,
        Self::ServerCreated,
        Self::ServerDeleted,
        Self::ServerWentOffline,
        Self::ServerCameOnline,
        Self::ServerVersionChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LicenseRegenerated => "license.regenerated",
            Self::LicenseRevoked => "license.revoked",
            Self::LicenseReinstated => "license.reinstated",
            Self::LicenseExpired => "license.expired",
            Self::LicenseOldKeyUsed => "license.old_key_used",
            Self::ServerCreated => "server.created",
            Self::ServerDeleted => "server.deleted",
            Self::ServerWentOffline => "server.went_offline",
            Self::ServerCameOnline => "server.came_online",
            Self::ServerVersionChanged => "server.version_changed",
            Self::WebhookTest => "webhook.test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::SUBSCRIBABLE
            .into_iter()
            .chain([Self::WebhookTest])
            .find(|t| t.as_str() == s)
    }
}

/// The events an endpoint hears: `"all"` (those added later too), or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvents {
    All,
    Only(Vec<WebhookEventType>),
}

impl Serialize for WebhookEvents {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::All => serializer.serialize_str("all"),
            Self::Only(types) => types.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for WebhookEvents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Word(String),
            List(Vec<WebhookEventType>),
        }
        match Wire::deserialize(deserializer) {
            Ok(Wire::Word(word)) if word == "all" => Ok(Self::All),
            Ok(Wire::List(types)) => Ok(Self::Only(types)),
            _ => Err(serde::de::Error::custom(
                "events must be \"all\" or a list of event types",
            )),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for WebhookEvents {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["all"]))
                    .description(Some("Every event type, those added later too.")),
            )
            .item(
                ArrayBuilder::new()
                    .items(utoipa::openapi::Ref::from_schema_name("WebhookEventType"))
                    .min_items(Some(1)),
            )
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for WebhookEvents {}

/// An endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"id": 3, "url": "https://billing.example.com/hooks/pulsekey", "description": "billing", "events": ["license.revoked", "license.expired"], "enabled": true, "createdAt": "2026-12-03T10:00:00Z", "disabledReason": null, "failingSince": null})))]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub description: String,
    pub events: WebhookEvents,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Why pulsekey disabled it, when it did; null once re-enabled.
    pub disabled_reason: Option<String>,
    /// Every attempt since then has failed; null while deliveries succeed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub failing_since: Option<OffsetDateTime>,
}

/// `POST /api/v1/webhooks` and `…/rotate-secret`: the endpoint and its signing secret,
/// shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_` and the base64 of the key, as Standard Webhooks libraries take it.
    pub secret: String,
}

/// `GET /api/v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookList {
    pub items: Vec<WebhookView>,
}

/// `POST /api/v1/webhooks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"url": "https://billing.example.com/hooks/pulsekey", "description": "billing", "events": ["license.revoked", "license.expired"]})))]
pub struct CreateWebhookRequest {
    /// `https://` (or `http://`), without credentials.
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub url: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub description: String,
    pub events: WebhookEvents,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// `PATCH /api/v1/webhooks/{id}`: what is given changes. Enabling a disabled endpoint
/// resumes its deliveries from where they stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"enabled": true})))]
pub struct UpdateWebhookRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<WebhookEvents>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub enum DeliveryState {
    /// Waiting for its next attempt (or for its endpoint to be enabled).
    Pending,
    /// A 2xx came back.
    Delivered,
    /// Every scheduled attempt failed; a retry starts it again.
    Failed,
}

/// One attempt to deliver an event, in `GET /api/v1/webhooks/{id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"id": 91, "deliveryId": 40, "eventId": "msg_2Jx8mZfK3Pq7", "eventType": "license.revoked", "at": "2026-12-03T10:00:01Z", "statusCode": 500, "error": null, "durationMs": 84, "responseHead": "upstream unavailable", "state": "pending", "nextAttemptAt": "2026-12-03T10:05:01Z"})))]
pub struct WebhookAttempt {
    pub id: i64,
    /// For `POST …/deliveries/{deliveryId}/retry`.
    pub delivery_id: i64,
    /// The `webhook-id` the receiver saw.
    pub event_id: String,
    pub event_type: WebhookEventType,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The answer's status, when one came.
    pub status_code: Option<u16>,
    /// Why no answer came (timeout, refused connection, refused address).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The first bytes of the answer.
    pub response_head: String,
    /// Where the delivery stands now.
    pub state: DeliveryState,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
}

/// `GET /api/v1/webhooks/{id}/deliveries`: newest attempt first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttemptPage {
    pub items: Vec<WebhookAttempt>,
    pub next_cursor: Option<String>,
}

/// What a receiver gets: the body every event has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookPayload {
    #[serde(rename = "type")]
    pub event_type: WebhookEventType,
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The server, its owner and its license view (never a key).
    pub data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_all_or_a_list() {
        let all: WebhookEvents = serde_json::from_str("\"all\"").unwrap();
        assert_eq!(all, WebhookEvents::All);
        let some: WebhookEvents =
            serde_json::from_str("[\"license.revoked\",\"server.created\"]").unwrap();
        assert_eq!(
            some,
            WebhookEvents::Only(vec![
                WebhookEventType::LicenseRevoked,
                WebhookEventType::ServerCreated
            ])
        );
        assert_eq!(
            serde_json::to_string(&some).unwrap(),
            "[\"license.revoked\",\"server.created\"]"
        );
        assert_eq!(serde_json::to_string(&all).unwrap(), "\"all\"");
        for bad in ["\"some\"", "[\"license.nope\"]", "3", "{}"] {
            assert!(serde_json::from_str::<WebhookEvents>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_type_parses_back_from_its_name() {
        for t in WebhookEventType::SUBSCRIBABLE
            .into_iter()
            .chain([WebhookEventType::WebhookTest])
        {
            assert_eq!(WebhookEventType::parse(t.as_str()), Some(t));
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
