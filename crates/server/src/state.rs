//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use pulsekey_db::Db;

use crate::config::Config;
use crate::error::ApiError;
use crate::secrets::Secrets;
use crate::throttle::Throttle;

pub struct AppState {
    pub db: Db,
    pub config: Config,
    pub secrets: Secrets,
    /// Failed sign-ins per account and per client address.
    pub login_by_account: Throttle,
    pub login_by_address: Throttle,
}

pub type SharedState = web::Data<AppState>;

impl AppState {
    pub fn new(db: Db, config: Config, secrets: Secrets) -> Arc<Self> {
        Arc::new(Self {
            db,
            config,
            secrets,
            login_by_account: Throttle::new(5, Duration::from_secs(15 * 60)),
            login_by_address: Throttle::new(20, Duration::from_secs(15 * 60)),
        })
    }

    /// Runs blocking storage work off the async workers.
    pub async fn blocking<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, ApiError> + Send + 'static,
    {
        let db = self.db.clone();
        web::block(move || f(&db)).await?
    }
}
