//! The web app in headless Chromium against a real `pulsekey serve`.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::browser::Browser;

/// `pulsekey serve` as a user would start it, on a fresh data directory.
pub struct ServeProcess {
    pub url: String,
    child: Child,
    _data_dir: tempfile::TempDir,
}

impl ServeProcess {
    pub async fn start() -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        #[allow(clippy::zombie_processes)] // waited for in Drop
        let child = Command::new(env!("CARGO_BIN_EXE_pulsekey"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir.path())
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let mut process = Self {
            url,
            child,
            _data_dir: data_dir,
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
        panic!("pulsekey serve did not become ready");
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_shows_the_version_read_from_the_api() {
    let server = ServeProcess::start().await;
    let browser = Browser::start().await;
    browser.client.goto(&server.url).await.unwrap();
    let version = browser.text_of("server-version").await;
    assert_eq!(version, format!("pulsekey v{}", env!("CARGO_PKG_VERSION")));
    browser.screenshot("home").await;
    browser.close().await;
}
