//! Actions and their audit entries. An action is a function of a [`Tx`], which exists only
//! inside a transaction that [`act`] opens, and it must return an [`Audited`], which only
//! [`Tx::audit`] makes: an action outside a transaction, or one that forgets its entry, does
//! not compile. The entry is written on the action's own connection, so both commit or
//! neither does.

use pulsekey_db::{Db, DbConnection, DbError, audit};
use serde_json::Value;

use crate::DomainError;

/// An action in progress: a connection inside a transaction, and who acts.
pub struct Tx<'a> {
    conn: &'a mut DbConnection,
    actor: &'a Actor,
}

/// What an action returns once its audit entry is written.
#[must_use = "an action's result reaches its caller only through `act`"]
pub struct Audited<T>(T);

impl<T> Audited<T> {
    /// For an action that turned out to change nothing (revoking a revoked token): no
    /// change, no entry.
    pub(crate) fn nothing_changed(value: T) -> Self {
        Self(value)
    }

    pub(crate) fn map<U>(self, f: impl FnOnce(T) -> U) -> Audited<U> {
        Audited(f(self.0))
    }
}

impl Tx<'_> {
    /// Storage, for core's own functions only.
    pub(crate) fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    pub fn actor(&self) -> &Actor {
        self.actor
    }

    /// Appends the action's entry, by this transaction's actor; `metadata` must be a JSON
    /// object.
    pub fn audit<T>(
        &mut self,
        action: &str,
        target: Option<i64>,
        metadata: Value,
        value: T,
    ) -> Result<Audited<T>, DbError> {
        let actor = self.actor;
        self.audit_as(actor, action, target, metadata, value)
    }

    /// As [`Tx::audit`], by someone the action itself established (a sign-in's user).
    pub fn audit_as<T>(
        &mut self,
        actor: &Actor,
        action: &str,
        target: Option<i64>,
        metadata: Value,
        value: T,
    ) -> Result<Audited<T>, DbError> {
        record(self.conn, actor, action, target, metadata)?;
        Ok(Audited(value))
    }
}

/// Runs `action` by `actor` in one transaction: committed with its entry, or not at all.
pub fn act<T>(
    db: &Db,
    actor: &Actor,
    action: impl FnOnce(&mut Tx<'_>) -> Result<Audited<T>, DomainError>,
) -> Result<T, DomainError> {
    db.transaction(|conn| action(&mut Tx { conn, actor }).map(|Audited(value)| value))
}

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

    /// pulsekey itself, acting at start (the first admin).
    pub fn system() -> Self {
        Self {
            username: Some("pulsekey".into()),
            ..Self::default()
        }
    }
}

fn record(
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
