//! Writing audit entries. Every caller passes the same connection its change uses, inside
//! one transaction: no action without its entry, no entry without its action.

use pulsekey_db::{DbConnection, DbError, audit};
use serde_json::Value;

/// Who did something, and from where.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub username: Option<String>,
    /// Set when the actor is an integrator token rather than a session.
    pub token_id: Option<i64>,
    pub ip: Option<String>,
}

impl Actor {
    /// An operator at the command line (`pulsekey users create`, `dev seed`, `keys …`).
    pub fn cli() -> Self {
        Self {
            username: Some("cli".into()),
            ..Self::default()
        }
    }
}

/// Appends one entry. `metadata` must be a JSON object.
pub fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    action: &str,
    target: Option<i64>,
    mut metadata: Value,
) -> Result<i64, DbError> {
    if let (Some(token_id), Value::Object(map)) = (actor.token_id, &mut metadata) {
        map.insert("viaTokenId".to_owned(), Value::from(token_id));
    }
    let metadata = metadata.to_string();
    audit::insert(
        conn,
        &audit::AuditInsertForm {
            at: pulsekey_db::now(),
            action,
            target,
            user_id: actor.user_id,
            username: actor.username.as_deref(),
            metadata: &metadata,
            ip: actor.ip.as_deref(),
        },
    )
}
