//! A real pulsekey HTTP server on a free loopback port, with its own fresh database.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

use pulsekey_db::Db;
use pulsekey_db::testing::TempPgDatabase;
use pulsekey_server::Config;
use pulsekey_server::config::secrets::{SecretSource, Secrets};
use pulsekey_server::http::state::AppState;

#[allow(dead_code)]
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub data_dir: tempfile::TempDir,
    database_url: String,
    options: TestAppBuilder,
    server: actix_web::dev::ServerHandle,
    // Dropped after the server stops (fields drop in order).
    _pg: Option<TempPgDatabase>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn unique_suffix() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh PostgreSQL database on `PULSEKEY_TEST_DATABASE_URL`'s server, dropped with it.
pub fn temp_pg_database() -> TempPgDatabase {
    let admin_url = std::env::var("PULSEKEY_TEST_DATABASE_URL").expect(
        "PULSEKEY_TEST_DATABASE_URL is not set: the PostgreSQL half of the suite needs \
         it (scripts/test sets it; e.g. postgres://postgres@127.0.0.1:5432/test)",
    );
    TempPgDatabase::create(&admin_url, &unique_suffix()).unwrap()
}

fn no_secret(variable: &'static str) -> SecretSource<'static> {
    SecretSource {
        variable,
        value: None,
        shared_database: false,
    }
}

impl TestApp {
    pub async fn sqlite() -> Self {
        Self::builder().spawn(false).await
    }

    pub async fn postgres() -> Self {
        Self::builder().spawn(true).await
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            heartbeat_interval_secs: 60,
            // Off: tests send refused heartbeats in bulk; one test turns it on.
            heartbeat_failures_per_minute: 0,
            heartbeats_per_key_per_minute: 0,
            behind_proxy_with_requests_per_client: None,
            fleet_sample_secs: None,
            webhooks: false,
            webhook_allow_private: true,
            require_2fa: pulsekey_core::second_factor::Requirement::Off,
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

#[derive(Clone)]
pub struct TestAppBuilder {
    heartbeat_interval_secs: u64,
    heartbeat_failures_per_minute: u32,
    heartbeats_per_key_per_minute: u32,
    /// The test client as a trusted proxy (127.0.0.1), and this many requests in progress
    /// per X-Forwarded-For client.
    behind_proxy_with_requests_per_client: Option<u32>,
    /// Runs the fleet sampler every this many seconds (off by default: most tests need not
    /// share the database with it).
    fleet_sample_secs: Option<u64>,
    /// Runs the webhook worker (off by default, for the same reason).
    webhooks: bool,
    /// `PULSEKEY_WEBHOOK_ALLOW_PRIVATE`: on, as the tests' receivers are on this machine.
    webhook_allow_private: bool,
    /// `PULSEKEY_REQUIRE_2FA`.
    require_2fa: pulsekey_core::second_factor::Requirement,
}

impl TestAppBuilder {
    #[allow(dead_code)]
    pub fn behind_proxy_with_requests_per_client(mut self, limit: u32) -> Self {
        self.behind_proxy_with_requests_per_client = Some(limit);
        self
    }

    #[allow(dead_code)]
    pub fn heartbeat_interval_secs(mut self, secs: u64) -> Self {
        self.heartbeat_interval_secs = secs;
        self
    }

    #[allow(dead_code)]
    pub fn fleet_sample_secs(mut self, secs: u64) -> Self {
        self.fleet_sample_secs = Some(secs);
        self
    }

    #[allow(dead_code)]
    pub fn webhooks(mut self) -> Self {
        self.webhooks = true;
        self
    }

    #[allow(dead_code)]
    pub fn webhook_allow_private(mut self, allow: bool) -> Self {
        self.webhook_allow_private = allow;
        self
    }

    #[allow(dead_code)]
    pub fn require_2fa(mut self, requirement: pulsekey_core::second_factor::Requirement) -> Self {
        self.require_2fa = requirement;
        self
    }

    #[allow(dead_code)]
    pub fn heartbeat_failures_per_minute(mut self, limit: u32) -> Self {
        self.heartbeat_failures_per_minute = limit;
        self
    }

    #[allow(dead_code)]
    pub fn heartbeats_per_key_per_minute(mut self, limit: u32) -> Self {
        self.heartbeats_per_key_per_minute = limit;
        self
    }

    pub async fn spawn(self, postgres: bool) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let pg = postgres.then(temp_pg_database);
        let database_url = match &pg {
            Some(pg) => pg.url.clone(),
            None => data_dir
                .path()
                .join("pulsekey.sqlite3")
                .display()
                .to_string(),
        };
        let url = database_url.clone();
        let db = tokio::task::spawn_blocking(move || Db::open(&url, 8))
            .await
            .unwrap()
            .unwrap();
        let (url, server) = start_node(db.clone(), data_dir.path(), &self);
        TestApp {
            url,
            client: reqwest::Client::new(),
            db,
            data_dir,
            database_url,
            options: self,
            server,
            _pg: pg,
        }
    }
}

/// A second `pulsekey serve` on the same database and secrets, as in a multi-node setup.
#[allow(dead_code)]
pub struct TestNode {
    pub url: String,
    server: actix_web::dev::ServerHandle,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

#[allow(dead_code)]
impl TestApp {
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    pub async fn another_node(&self) -> TestNode {
        self.another_node_with(|options| options).await
    }

    /// Another node, its options changed by `change` (its webhook worker, say).
    pub async fn another_node_with(
        &self,
        change: impl FnOnce(TestAppBuilder) -> TestAppBuilder,
    ) -> TestNode {
        let options = change(self.options.clone());
        let url = self.database_url.clone();
        let db = tokio::task::spawn_blocking(move || Db::open(&url, 8))
            .await
            .unwrap()
            .unwrap();
        let (url, server) = start_node(db, self.data_dir.path(), &options);
        TestNode { url, server }
    }
}

/// Serves the app on a free port from a thread of its own.
fn start_node(
    db: Db,
    data_dir: &std::path::Path,
    options: &TestAppBuilder,
) -> (String, actix_web::dev::ServerHandle) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        bind: addr,
        data_dir: data_dir.to_owned(),
        database_url: String::new(),
        public_url: format!("http://{addr}"),
        grace_days: 5,
        heartbeat_interval_secs: options.heartbeat_interval_secs,
        // Short, so tests that read bookkeeping back wait little.
        heartbeat_flush: std::time::Duration::from_millis(50),
        heartbeat_failures_per_minute: options.heartbeat_failures_per_minute,
        heartbeats_per_key_per_minute: options.heartbeats_per_key_per_minute,
        login_failures_per_account: 5,
        login_failures_per_address: 20,
        request_timeout: std::time::Duration::from_secs(10),
        max_connections_per_address: options.behind_proxy_with_requests_per_client.unwrap_or(256),
        max_connections_per_worker: None,
        expiry_sweep: std::time::Duration::from_secs(30),
        fleet: pulsekey_core::fleet::FleetSettings {
            interval_secs: options.heartbeat_interval_secs,
            sample_every_secs: options.fleet_sample_secs.unwrap_or(60),
            history_kept: time::Duration::days(90),
        },
        metrics_token: None,
        trusted_proxies: options
            .behind_proxy_with_requests_per_client
            .map(|_| vec![std::net::IpAddr::from([127, 0, 0, 1])])
            .unwrap_or_default(),
        secure_cookies: false,
        webhook_allow_private: options.webhook_allow_private,
        require_2fa: options.require_2fa,
    };
    let secrets = Secrets::load(
        data_dir,
        no_secret("PULSEKEY_JWT_SECRET"),
        no_secret("PULSEKEY_DATA_KEY"),
        no_secret("PULSEKEY_SIGNING_KEY"),
    )
    .unwrap();
    let state = AppState::new(db, config, secrets).unwrap();
    let sampling = options.fleet_sample_secs.is_some();
    let delivering = options.webhooks;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        let sampled = state.clone();
        let server = actix_web::HttpServer::new(move || {
            pulsekey_server::http::app::app(state.clone().into())
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .disable_signals()
        .run();
        let _ = tx.send(server.handle());
        let _ = system.block_on(async move {
            if delivering {
                pulsekey_server::webhooks::spawn_worker(sampled.clone().into());
            }
            if sampling {
                pulsekey_server::http::app::spawn_fleet_sampler(sampled.into());
            }
            server.await
        });
    });
    (format!("http://{addr}"), rx.recv().unwrap())
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the returned future only awaits completion.
        drop(self.server.stop(false));
    }
}

/// A user made directly in the database, with the password to sign in with.
#[allow(dead_code)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub password: String,
}

#[allow(dead_code)]
impl TestApp {
    pub async fn create_user(&self, username: &str, role: pulsekey_types::Role) -> TestUser {
        use pulsekey_core::accounts::{NewUser, create_user};
        let password = format!("{username}-password-123");
        let request = pulsekey_types::CreateUserRequest {
            username: username.to_owned(),
            email: format!("{username}@example.com"),
            password: password.clone(),
            role,
        };
        let db = self.db.clone();
        let view = tokio::task::spawn_blocking(move || {
            let user = NewUser::prepare(&request).unwrap();
            pulsekey_core::audit::act(&db, &Default::default(), |tx| create_user(tx, &user))
                .unwrap()
        })
        .await
        .unwrap();
        TestUser {
            id: view.id,
            username: username.to_owned(),
            password,
        }
    }

    pub async fn login(&self, user: &TestUser) -> String {
        let response = self
            .client
            .post(self.at("/api/v1/auth/login"))
            .json(&serde_json::json!({ "username": user.username, "password": user.password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login as {}", user.username);
        response
            .json::<pulsekey_types::LoginResponse>()
            .await
            .unwrap()
            .token
    }

    /// An admin, signed in: its bearer token.
    pub async fn admin_token(&self) -> String {
        let admin = self
            .create_user("root-admin", pulsekey_types::Role::Admin)
            .await;
        self.login(&admin).await
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.at(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.at(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a server for `owner` through the API; returns its id.
    pub async fn create_server(&self, admin: &str, owner: i64, name: &str) -> i64 {
        let response = self
            .post(
                "/api/v1/servers",
                admin,
                serde_json::json!({ "ownerId": owner, "name": name }),
            )
            .await;
        assert_eq!(response.status(), 201);
        response
            .json::<pulsekey_types::ServerView>()
            .await
            .unwrap()
            .id
    }

    /// The license card once the last heartbeat's bookkeeping has been flushed (every 50 ms
    /// here): last seen, version and address are written in batches, not per request.
    pub async fn card_after_flush(&self, admin: &str, server: i64) -> pulsekey_types::LicenseView {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let card: pulsekey_types::LicenseView = self
                .get(&format!("/api/v1/servers/{server}/license"), admin)
                .await
                .json()
                .await
                .unwrap();
            if card.last_heartbeat_at.is_some() || std::time::Instant::now() > deadline {
                return card;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn reveal(&self, admin: &str, server: i64) -> String {
        let response = self
            .post(
                &format!("/api/v1/servers/{server}/license/reveal"),
                admin,
                serde_json::json!({}),
            )
            .await;
        assert_eq!(response.status(), 200);
        response
            .json::<pulsekey_types::RevealResponse>()
            .await
            .unwrap()
            .key
    }

    pub async fn heartbeat(&self, key: &str) -> reqwest::Response {
        self.client
            .post(self.at("/heartbeat"))
            .bearer_auth(key)
            .json(&serde_json::json!({ "version": "1.4.2" }))
            .send()
            .await
            .unwrap()
    }

    /// Raw SQL, as an operator would type it.
    pub async fn sql(&self, sql: &str) {
        let db = self.db.clone();
        let sql = sql.to_owned();
        tokio::task::spawn_blocking(move || {
            pulsekey_db::testing::execute(&mut db.conn().unwrap(), &sql).unwrap()
        })
        .await
        .unwrap();
    }

    pub async fn audit(&self, admin: &str, query: &str) -> Vec<pulsekey_types::AuditEntry> {
        let response = self.get(&format!("/api/v1/audit-log?{query}"), admin).await;
        assert_eq!(response.status(), 200);
        response
            .json::<pulsekey_types::AuditPage>()
            .await
            .unwrap()
            .items
    }
}
