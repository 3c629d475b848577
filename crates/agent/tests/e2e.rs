//! The real `pulsekey` server and the real `pulsekey-agent` supervising a tiny proxy
//! (`sh` writing its pid, then sleeping), with a 1-second heartbeat interval.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const INTERVAL: u64 = 1;

/// Binaries of this workspace sit next to each other in the target directory.
fn binary(name: &str) -> PathBuf {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let path = deps.parent().unwrap().join(name);
    assert!(
        path.exists(),
        "{} is not built: run the workspace tests (cargo nextest run --workspace)",
        path.display()
    );
    path
}

struct Server {
    url: String,
    data: tempfile::TempDir,
    child: Child,
    admin_token: String,
}

impl Server {
    async fn start(data: tempfile::TempDir, port: u16) -> Self {
        let stdout = std::fs::File::create(data.path().join("stdout.log")).unwrap();
        let child = Command::new(binary("pulsekey"))
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env_remove("DATABASE_URL")
            .env("PULSEKEY_DATA_DIR", data.path())
            .env("PULSEKEY_HEARTBEAT_INTERVAL_SECS", INTERVAL.to_string())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http
                .get(format!("{url}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let password = std::fs::read_to_string(data.path().join("stdout.log"))
            .unwrap()
            .lines()
            .find_map(|l| l.trim().strip_prefix("password: ").map(str::to_owned))
            .unwrap_or_default();
        let mut server = Self {
            url,
            data,
            child,
            admin_token: String::new(),
        };
        if !password.is_empty() {
            server.admin_token = server.login("admin", &password).await;
        }
        server
    }

    async fn login(&self, username: &str, password: &str) -> String {
        let response: Value = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        response["token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{method} {path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// A customer with one server; returns the server id and writes its config.json.
    async fn install(&self, config: &Path) -> i64 {
        let admin = self.admin_token.clone();
        let customer = self.call("POST", "/api/v1/users", &admin, json!({
            "username": "acme", "email": "ops@acme.example", "password": "acme-password-123", "role": "customer"
        })).await;
        let server = self
            .call(
                "POST",
                "/api/v1/servers",
                &admin,
                json!({ "ownerId": customer["id"], "name": "acme-prod" }),
            )
            .await;
        let id = server["id"].as_i64().unwrap();
        let token = self.login("acme", "acme-password-123").await;
        let config_json = self
            .call(
                "GET",
                &format!("/api/v1/me/servers/{id}/install"),
                &token,
                Value::Null,
            )
            .await;
        std::fs::write(config, config_json.to_string()).unwrap();
        id
    }

    async fn license(&self, id: i64, action: &str) {
        self.call(
            "POST",
            &format!("/api/v1/servers/{id}/license/{action}"),
            &self.admin_token.clone(),
            json!({}),
        )
        .await;
    }

    fn sql(&self, sql: &str) {
        let db = pulsekey_db::Db::open(
            &self
                .data
                .path()
                .join("pulsekey.sqlite3")
                .display()
                .to_string(),
            1,
        )
        .unwrap();
        pulsekey_db::testing::execute(&mut db.conn().unwrap(), sql).unwrap();
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

struct AgentRun {
    child: Child,
    proxy_pid_file: PathBuf,
    worker_pid_file: PathBuf,
    log: PathBuf,
}

/// The proxy: writes its pid, forks a worker that ignores SIGTERM (so only a SIGKILL to
/// the whole group ends it) and writes the worker's pid, then waits.
const PROXY: &str = "echo $$ > \"$1\"; (trap '' TERM; exec sleep 600) & echo $! > \"$2\"; wait";

fn pid_alive(file: &Path) -> bool {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|pid| pid.trim().parse::<u32>().ok())
        .is_some_and(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        })
}

impl AgentRun {
    fn start(config: &Path, work: &Path) -> Self {
        Self::start_with(config, work, &[])
    }

    fn start_with(config: &Path, work: &Path, extra: &[&str]) -> Self {
        let run = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let proxy_pid_file = work.join(format!("proxy-{run}.pid"));
        let worker_pid_file = work.join(format!("worker-{run}.pid"));
        let log = work.join(format!("agent-{run}.log"));
        let child = Command::new(binary("pulsekey-agent"))
            .args(["run", "--config"])
            .arg(config)
            .args(["--version-string", "9.9.9", "--stop-timeout-secs", "2"])
            .args(extra)
            .args(["--", "sh", "-c", PROXY, "proxy"])
            .arg(&proxy_pid_file)
            .arg(&worker_pid_file)
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        Self {
            child,
            proxy_pid_file,
            worker_pid_file,
            log,
        }
    }

    /// The agent's exit code if it exits within `limit`.
    async fn exit_within(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or(-1));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    fn proxy_alive(&self) -> bool {
        pid_alive(&self.proxy_pid_file)
    }

    fn worker_alive(&self) -> bool {
        pid_alive(&self.worker_pid_file)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_for_proxy(&self) {
        for _ in 0..100 {
            if self.proxy_alive() && self.worker_alive() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the proxy did not start:\n{}", self.log());
    }

    /// Waits until the agent has logged `needle` at least `times` times.
    async fn wait_for_log(&self, needle: &str, times: usize) {
        for _ in 0..200 {
            if self.log().matches(needle).count() >= times {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the agent never logged {needle:?} {times} times:\n{}",
            self.log()
        );
    }

    /// Waits until neither the proxy nor its worker runs.
    async fn tree_gone_within(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if !self.proxy_alive() && !self.worker_alive() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for AgentRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn setup() -> (Server, tempfile::TempDir, PathBuf, i64) {
    let server = Server::start(tempfile::tempdir().unwrap(), free_port()).await;
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("config.json");
    let id = server.install(&config).await;
    (server, work, config, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_stops_the_proxy_within_one_interval() {
    let (server, work, config, id) = setup().await;
    let mut agent = AgentRun::start(&config, work.path());
    agent.wait_for_proxy().await;
    assert_eq!(agent.exit_within(Duration::from_secs(2)).await, None);
    server.license(id, "regenerate").await;
    let code = agent.exit_within(Duration::from_secs(INTERVAL + 4)).await;
    assert_eq!(
        code,
        Some(4),
        "the agent should exit with the key-refused code"
    );
    assert!(!agent.proxy_alive(), "the proxy was left running");
    assert!(
        agent.tree_gone_within(Duration::from_secs(1)).await,
        "the proxy's worker (which ignores SIGTERM) was left running"
    );

    // Started again while the server is down: the refusal on record keeps the proxy stopped.
    let mut server = server;
    server.stop();
    let mut again = AgentRun::start(&config, work.path());
    again
        .wait_for_log(
            "the last verified answer refused this key: the proxy is not started",
            2,
        )
        .await;
    assert_eq!(again.exit_within(Duration::from_millis(100)).await, None);
    assert!(!again.proxy_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_without_the_server_starts_only_on_a_fresh_verdict_on_record() {
    let (mut server, work, config, _id) = setup().await;
    // Never a verdict: waits and retries, one line per attempt, the proxy not started.
    let down = tempfile::tempdir().unwrap();
    let elsewhere = down.path().join("config.json");
    let mut text: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    text["serverUrl"] = json!(format!("http://127.0.0.1:{}", free_port()));
    std::fs::write(&elsewhere, text.to_string()).unwrap();
    let mut never = AgentRun::start(&elsewhere, down.path());
    never
        .wait_for_log(
            "no verified verdict for this key is on record: the proxy is not started; retrying",
            3,
        )
        .await;
    assert!(!never.proxy_alive());
    assert_eq!(never.exit_within(Duration::from_millis(100)).await, None);
    drop(never);

    // One verified ACTIVE, then the agent and the server go away.
    let first = AgentRun::start(&config, work.path());
    first.wait_for_proxy().await;
    let state = work.path().join("config.json.state");
    assert!(state.exists(), "no state file beside the config");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o600
    );
    drop(first);
    server.stop();

    // Within the tolerance, the verdict on record starts the proxy.
    let restarted = AgentRun::start(&config, work.path());
    restarted.wait_for_proxy().await;
    assert!(
        restarted
            .log()
            .contains("starting the proxy on the verified verdict on record")
    );
    drop(restarted);

    // With a tolerance it has outlived, it does not: the allowance does not start over.
    let mut outlived =
        AgentRun::start_with(&config, work.path(), &["--offline-tolerance-hours", "0"]);
    outlived
        .wait_for_log(
            "is older than the offline tolerance: the proxy is not started",
            2,
        )
        .await;
    assert!(!outlived.proxy_alive());
    assert_eq!(outlived.exit_within(Duration::from_millis(100)).await, None);
    drop(outlived);

    // A hand-edited state file is not trusted.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut record: Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let body = String::from_utf8(b64.decode(record["body"].as_str().unwrap()).unwrap()).unwrap();
    assert!(body.contains("\"ACTIVE\""), "{body}");
    record["body"] = json!(b64.encode(body.replace("\"ACTIVE\"", "\"GRACE\"")));
    let edited = record.to_string();
    std::fs::write(&state, edited).unwrap();
    let mut distrusted = AgentRun::start(&config, work.path());
    distrusted.wait_for_log("not trusted", 1).await;
    distrusted.wait_for_log("the proxy is not started", 1).await;
    assert!(!distrusted.proxy_alive());
    assert_eq!(
        distrusted.exit_within(Duration::from_millis(100)).await,
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_tree_does_not_outlive_an_agent_killed_with_sigkill() {
    let (_server, work, config, _id) = setup().await;
    let mut agent = AgentRun::start(&config, work.path());
    agent.wait_for_proxy().await;
    agent.child.kill().unwrap();
    agent.child.wait().unwrap();
    assert!(
        agent.tree_gone_within(Duration::from_secs(6)).await,
        "after kill -9 of the agent: proxy alive {}, worker alive {}",
        agent.proxy_alive(),
        agent.worker_alive()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grace_keeps_running_its_end_stops_and_reinstate_recovers_a_restart_loop() {
    let (server, work, config, id) = setup().await;
    let mut agent = AgentRun::start(&config, work.path());
    agent.wait_for_proxy().await;
    server.license(id, "revoke").await;
    assert_eq!(
        agent.exit_within(Duration::from_secs(3)).await,
        None,
        "GRACE must keep the proxy running"
    );
    assert!(agent.proxy_alive());

    // The grace window ends (an operator's edit): the next heartbeat says EXPIRED.
    server.sql(&format!(
        "UPDATE servers SET grace_expires_at = '2020-01-01 00:00:00' WHERE id = {id}"
    ));
    assert_eq!(
        agent.exit_within(Duration::from_secs(INTERVAL + 4)).await,
        Some(3)
    );
    assert!(!agent.proxy_alive());

    // Restarted by its supervisor, it refuses to start the proxy while EXPIRED…
    let mut restarted = AgentRun::start(&config, work.path());
    assert_eq!(restarted.exit_within(Duration::from_secs(5)).await, Some(3));
    assert!(!restarted.proxy_alive());

    // …and runs again once reinstated.
    server.license(id, "reinstate").await;
    let again = AgentRun::start(&config, work.path());
    again.wait_for_proxy().await;
    let mut again = again;
    assert_eq!(
        again.exit_within(Duration::from_secs(INTERVAL + 2)).await,
        None
    );
    assert!(again.proxy_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_outage_is_not_a_verdict() {
    let (mut server, work, config, _id) = setup().await;
    let mut agent = AgentRun::start(&config, work.path());
    agent.wait_for_proxy().await;
    server.stop();
    assert_eq!(
        agent
            .exit_within(Duration::from_secs(INTERVAL * 4 + 1))
            .await,
        None
    );
    assert!(
        agent.proxy_alive(),
        "the proxy must keep running while the server is down"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_broken_config_is_a_clear_error() {
    let work = tempfile::tempdir().unwrap();
    let output = Command::new(binary("pulsekey-agent"))
        .args(["run", "--config"])
        .arg(work.path().join("missing.json"))
        .args(["--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.json"));
}
