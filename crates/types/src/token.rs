use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What an integrator token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Scope {
    /// Read users, servers, licenses and the audit log.
    #[serde(rename = "read")]
    Read,
    /// Regenerate, revoke, reinstate and reveal licenses; create servers.
    #[serde(rename = "licenses:write")]
    LicensesWrite,
    /// Create and edit users.
    #[serde(rename = "users:write")]
    UsersWrite,
    /// Create, change and delete webhook endpoints; read their secrets' replacements and
    /// their deliveries.
    #[serde(rename = "webhooks:write")]
    WebhooksWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Read,
        Scope::LicensesWrite,
        Scope::UsersWrite,
        Scope::WebhooksWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::LicensesWrite => "licenses:write",
            Self::UsersWrite => "users:write",
            Self::WebhooksWrite => "webhooks:write",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"name": "billing-sync", "scopes": ["read", "licenses:write"], "expiresAt": "2027-01-01T00:00:00Z"})))]
pub struct CreateTokenRequest {
    #[cfg_attr(feature = "openapi", schema(max_length = 100, pattern = "\\S"))]
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
}

/// An integrator token as listed: never the secret, only its prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// The answer to `POST /api/v1/tokens`: the plaintext token, shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreatedToken {
    pub token: String,
    #[serde(flatten)]
    pub view: TokenView,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &"<redacted>")
            .field("view", &self.view)
            .finish()
    }
}

/// `GET /api/v1/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    pub items: Vec<TokenView>,
}
