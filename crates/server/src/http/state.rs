//! What every handler shares.

use std::sync::Arc;

use actix_web::web;
use pulsekey_core::DomainError;
use pulsekey_core::audit::{self, Actor, Audited, Tx};
use pulsekey_db::{Db, DbConnection, DbError};

use crate::config::Config;
use crate::config::secrets::Secrets;
use crate::http::error::ApiError;
use pulsekey_core::heartbeat::{self, BatchSigner, Heartbeats};

pub struct AppState {
    pub db: Db,
    pub config: Config,
    pub secrets: Secrets,
    pub heartbeats: Arc<Heartbeats>,
    pub signer: BatchSigner,
    /// Requests in progress per client address.
    pub in_flight: Arc<crate::http::connections::InFlight>,
    pub metrics: crate::http::metrics::Metrics,
}

pub type SharedState = web::Data<AppState>;

impl AppState {
    /// Fills the license index and starts the heartbeat flusher.
    pub fn new(db: Db, config: Config, secrets: Secrets) -> Result<Arc<Self>, DbError> {
        let heartbeats = Heartbeats::start(
            db.clone(),
            heartbeat::Settings {
                interval_secs: config.heartbeat_interval_secs,
                flush_interval: config.heartbeat_flush,
                per_key_per_minute: config.heartbeats_per_key_per_minute,
                refusals_per_address_per_minute: config.heartbeat_failures_per_minute,
            },
        )?;
        Ok(Arc::new(Self {
            db,
            heartbeats,
            signer: BatchSigner::new(secrets.signing_key.clone()),
            secrets,
            in_flight: crate::http::connections::InFlight::new(config.max_connections_per_address),
            metrics: crate::http::metrics::Metrics::default(),
            config,
        }))
    }

    /// Runs blocking storage work off the async workers: the one way onto the pool.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
    {
        let db = self.db.clone();
        web::block(move || f(&db)).await?
    }

    /// A read: `f` gets a pooled connection.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DomainError> + Send + 'static,
    {
        self.blocking(move |db| Ok(f(&mut *db.conn()?)?)).await
    }

    /// An action by `actor`, with its audit entry, in one transaction.
    pub async fn act<T, F>(&self, actor: Actor, action: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<Audited<T>, DomainError> + Send + 'static,
    {
        self.blocking(move |db| Ok(audit::act(db, &actor, action)?))
            .await
    }
}
