//! A real pulsekey HTTP server on a free loopback port, with its own fresh database.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

use pulsekey_db::Db;
use pulsekey_db::testing::TempPgDatabase;
use pulsekey_server::Config;
use pulsekey_server::secrets::{SecretSource, Secrets};
use pulsekey_server::state::AppState;

#[allow(dead_code)]
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub data_dir: tempfile::TempDir,
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
        }
    }

    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

pub struct TestAppBuilder {
    heartbeat_interval_secs: u64,
}

impl TestAppBuilder {
    #[allow(dead_code)]
    pub fn heartbeat_interval_secs(mut self, secs: u64) -> Self {
        self.heartbeat_interval_secs = secs;
        self
    }

    pub async fn spawn(self, postgres: bool) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let pg = postgres.then(|| {
            let admin_url = std::env::var("PULSEKEY_TEST_DATABASE_URL").expect(
                "PULSEKEY_TEST_DATABASE_URL is not set: the PostgreSQL half of the suite needs \
                 it (scripts/test sets it; e.g. postgres://postgres@127.0.0.1:5432/test)",
            );
            TempPgDatabase::create(&admin_url, &unique_suffix()).unwrap()
        });
        let database_url = match &pg {
            Some(pg) => pg.url.clone(),
            None => data_dir
                .path()
                .join("pulsekey.sqlite3")
                .display()
                .to_string(),
        };
        let db = tokio::task::spawn_blocking(move || Db::open(&database_url, 8))
            .await
            .unwrap()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config {
            bind: addr,
            data_dir: data_dir.path().to_owned(),
            database_url: String::new(),
            public_url: format!("http://{addr}"),
            grace_days: 5,
            heartbeat_interval_secs: self.heartbeat_interval_secs,
            trusted_proxies: Vec::new(),
            secure_cookies: false,
        };
        let secrets = Secrets::load(
            data_dir.path(),
            no_secret("PULSEKEY_JWT_SECRET"),
            no_secret("PULSEKEY_DATA_KEY"),
            no_secret("PULSEKEY_SIGNING_KEY"),
        )
        .unwrap();
        let state = AppState::new(db.clone(), config, secrets);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            let server =
                actix_web::HttpServer::new(move || pulsekey_server::app::app(state.clone().into()))
                    .workers(2)
                    .listen(listener)
                    .unwrap()
                    .disable_signals()
                    .run();
            let _ = tx.send(server.handle());
            let _ = system.block_on(server);
        });
        let server = rx.recv().unwrap();
        TestApp {
            url: format!("http://{addr}"),
            client: reqwest::Client::new(),
            db,
            data_dir,
            server,
            _pg: pg,
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Sends the stop command at once; the returned future only awaits completion.
        drop(self.server.stop(false));
    }
}
