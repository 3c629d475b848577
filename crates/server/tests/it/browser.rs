//! The web app in headless Chromium against a real `pulsekey serve`.

use crate::util::browser::Browser;
use crate::util::serve::ServeProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_shows_the_version_read_from_the_api() {
    let server = ServeProcess::start(tempfile::tempdir().unwrap()).await;
    let browser = Browser::start().await;
    browser.client.goto(&server.url).await.unwrap();
    let version = browser.text_of("server-version").await;
    assert_eq!(version, format!("pulsekey v{}", env!("CARGO_PKG_VERSION")));
    browser.screenshot("home").await;
    browser.close().await;
}
