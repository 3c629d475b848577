//! `pulsekey serve` run as a user would run it: the real binary, its output in files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct ServeProcess {
    pub url: String,
    pub data_dir: tempfile::TempDir,
    child: Child,
}

pub fn pulsekey(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulsekey"));
    command
        .env_remove("DATABASE_URL")
        .env("PULSEKEY_DATA_DIR", data_dir)
        .env("RUST_LOG", "debug");
    command
}

/// `pulsekey dev seed --customers N --keys-out DATA_DIR/keys.txt`: the command's output and
/// the keys it wrote.
pub fn seed(data_dir: &Path, customers: u32) -> (std::process::Output, Vec<String>) {
    let keys_file = data_dir.join("keys.txt");
    let seeded = pulsekey(data_dir)
        .args([
            "dev",
            "seed",
            "--customers",
            &customers.to_string(),
            "--keys-out",
        ])
        .arg(&keys_file)
        .output()
        .unwrap();
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let keys = std::fs::read_to_string(&keys_file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    (seeded, keys)
}

impl ServeProcess {
    /// Starts on a free port with `data_dir`; stdout and stderr go to files in it.
    pub async fn start(data_dir: tempfile::TempDir) -> Self {
        Self::start_with_env(data_dir, &[]).await
    }

    /// Like [`Self::start`], with extra environment variables.
    pub async fn start_with_env(data_dir: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        Self::start_command(data_dir, env, None).await
    }

    /// Like [`Self::start_with_env`], under a file-descriptor limit of `descriptors` (soft
    /// and hard, so the server cannot raise it), as a packaged service might run.
    pub async fn start_with_descriptor_limit(
        data_dir: tempfile::TempDir,
        env: &[(&str, &str)],
        descriptors: u64,
    ) -> Self {
        Self::start_command(data_dir, env, Some(descriptors)).await
    }

    async fn start_command(
        data_dir: tempfile::TempDir,
        env: &[(&str, &str)],
        descriptors: Option<u64>,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let stdout = std::fs::File::create(data_dir.path().join("stdout.log")).unwrap();
        let stderr = std::fs::File::create(data_dir.path().join("stderr.log")).unwrap();
        let mut command = pulsekey(data_dir.path());
        if let Some(limit) = descriptors {
            // util-linux's prlimit runs the real binary with the limit already in place.
            let mut limited = Command::new("prlimit");
            limited
                .arg(format!("--nofile={limit}:{limit}"))
                .arg("--")
                .arg(command.get_program())
                .envs(command.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
                .env_remove("DATABASE_URL");
            command = limited;
        }
        #[allow(clippy::zombie_processes)] // waited for in Drop
        let child = command
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .envs(env.iter().copied())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .spawn()
            .unwrap();
        let mut process = Self {
            url: format!("http://127.0.0.1:{port}"),
            data_dir,
            child,
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            let ready = client.get(format!("{}/readyz", process.url)).send().await;
            if ready.is_ok_and(|response| response.status() == 200) {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let _ = process.child.kill();
        panic!("pulsekey serve did not become ready: {}", process.output());
    }

    /// The password of the `admin` the first start created, as printed on stdout.
    pub fn first_admin_password(&self) -> String {
        std::fs::read_to_string(self.log_path("stdout.log"))
            .unwrap()
            .lines()
            .find_map(|l| l.trim().strip_prefix("password: ").map(str::to_owned))
            .unwrap()
    }

    /// Signs in through the API.
    pub async fn login(&self, username: &str, password: &str) -> pulsekey_types::LoginResponse {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.url))
            .json(&serde_json::json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.data_dir.path().join(name)
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        let read = |name| std::fs::read_to_string(self.log_path(name)).unwrap_or_default();
        format!("{}{}", read("stdout.log"), read("stderr.log"))
    }

    /// Sends SIGTERM, as systemd or docker would, and waits for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "pulsekey did not exit within 30 s of SIGTERM: {}",
            self.output()
        );
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The API of a running `pulsekey serve`, signed in.
pub struct Api {
    pub url: String,
    pub client: reqwest::Client,
    pub token: String,
}

#[allow(dead_code)]
impl Api {
    pub async fn sign_in(server: &ServeProcess, username: &str, password: &str) -> Self {
        Self {
            url: server.url.clone(),
            client: reqwest::Client::new(),
            token: server.login(username, password).await.token,
        }
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    /// A heartbeat: the status code and the verdict's status, if any.
    pub async fn heartbeat(&self, key: &str) -> (u16, Option<String>) {
        let response = self
            .client
            .post(format!("{}/heartbeat", self.url))
            .bearer_auth(key)
            .json(&serde_json::json!({ "version": "3.1" }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (status, body["status"].as_str().map(str::to_owned))
    }

    pub async fn reveal(&self, server: i64) -> String {
        let response = self
            .post(
                &format!("/api/v1/servers/{server}/license/reveal"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json::<serde_json::Value>().await.unwrap()["key"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a customer and one server for it: (customer id, server id).
    pub async fn customer_with_server(&self, username: &str) -> (i64, i64) {
        let customer = self
            .post(
                "/api/v1/users",
                serde_json::json!({ "username": username, "email": format!("{username}@example.test"), "password": "correct horse battery", "role": "customer" }),
            )
            .await;
        assert_eq!(customer.status(), 201);
        let customer: pulsekey_types::UserView = customer.json().await.unwrap();
        let server = self
            .post(
                "/api/v1/servers",
                serde_json::json!({ "ownerId": customer.id, "name": format!("{username}-prod") }),
            )
            .await;
        assert_eq!(server.status(), 201);
        let server: pulsekey_types::ServerView = server.json().await.unwrap();
        (customer.id, server.id)
    }
}
