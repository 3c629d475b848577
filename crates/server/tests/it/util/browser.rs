//! Headless Chromium driven through chromedriver, both in their own process group so a
//! failing test never leaves a browser behind.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    pub async fn start() -> Self {
        let port = free_port();
        let mut command =
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()));
        command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command.spawn().expect(
            "chromedriver is not installed: scripts/test installs chromium and chromium-driver",
        );
        let profile = tempfile::tempdir().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1366,850",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!(),
        };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities);
        let url = format!("http://127.0.0.1:{port}");
        let mut last_error = None;
        for _ in 0..50 {
            match builder.connect(&url).await {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                        downloads,
                    };
                }
                Err(err) => last_error = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("chromedriver did not start a session: {last_error:?}");
    }

    /// Waits for an element by `data-testid` and returns its text.
    pub async fn text_of(&self, test_id: &str) -> String {
        self.element(test_id).await.text().await.unwrap()
    }

    /// Waits up to 15 s for an element by `data-testid`. Every failure to find it is retried,
    /// not only "no such element": while the app navigates (a sign-in redirect),
    /// chromedriver answers "aborted by navigation" instead.
    async fn element(&self, test_id: &str) -> fantoccini::elements::Element {
        let selector = format!("[data-testid='{test_id}']");
        let mut last_error = None;
        for _ in 0..150 {
            match self.client.find(Locator::Css(&selector)).await {
                Ok(element) => return element,
                Err(err) => last_error = Some(err),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element [data-testid={test_id}] within 15 s: {last_error:?}")
    }

    pub async fn click(&self, test_id: &str) {
        self.element(test_id).await.click().await.unwrap();
    }

    pub async fn type_into(&self, test_id: &str, text: &str) {
        let element = self.element(test_id).await;
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// Picks the option whose value is `value` in a `<select>`.
    pub async fn select(&self, test_id: &str, value: &str) {
        self.element(test_id)
            .await
            .select_by_value(value)
            .await
            .unwrap();
    }

    /// Waits until the element's text satisfies `ok`; returns that text.
    pub async fn wait_text(&self, test_id: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        for _ in 0..150 {
            let selector = format!("[data-testid='{test_id}']");
            let text = match self.client.find(Locator::Css(&selector)).await {
                Ok(element) => element.text().await.ok(),
                Err(_) => None,
            };
            if let Some(text) = text {
                if ok(&text) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("[data-testid={test_id}] never matched; last text {last:?}");
    }

    /// Waits for the browser to finish downloading `name`; returns its contents.
    pub async fn downloaded(&self, name: &str) -> String {
        let path = self.downloads.path().join(name);
        for _ in 0..100 {
            match std::fs::read_to_string(&path) {
                Ok(text) if !text.is_empty() => return text,
                _ => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{name} was not downloaded");
    }

    /// Pastes the clipboard into an input (Ctrl+V, as a person would) and returns its value.
    pub async fn paste_into(&self, test_id: &str) -> String {
        let element = self.element(test_id).await;
        element.clear().await.unwrap();
        element
            .send_keys(&(fantoccini::key::Key::Control + "v"))
            .await
            .unwrap();
        element.prop("value").await.unwrap().unwrap_or_default()
    }

    /// Where an element sits on the page: (x, y, width, height).
    pub async fn rect(&self, test_id: &str) -> (f64, f64, f64, f64) {
        self.element(test_id).await.rectangle().await.unwrap()
    }

    /// Whether the page fits the window's width (no sideways scrolling).
    pub async fn fits_width(&self) -> bool {
        self.client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .unwrap()
            == serde_json::Value::Bool(true)
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver (e.g. network throttling).
    pub async fn devtools(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        self.client
            .issue_cmd(DevTools {
                body: serde_json::json!({ "cmd": cmd, "params": params }).to_string(),
            })
            .await
            .unwrap_or_else(|err| panic!("{cmd}: {err}"))
    }

    /// The confirmation `<dialog>`: whether it is open, and its accessible name (the text
    /// of what `aria-labelledby` names).
    pub async fn dialog(&self) -> (bool, String) {
        let found = self
            .client
            .execute(
                "const d = document.querySelector('[data-testid=confirm-dialog]'); \
                 const label = d && document.getElementById(d.getAttribute('aria-labelledby')); \
                 return [!!(d && d.open), label ? label.textContent.trim() : ''];",
                vec![],
            )
            .await
            .unwrap();
        serde_json::from_value(found).unwrap()
    }

    pub async fn press_escape(&self) {
        let focused = self.client.active_element().await.unwrap();
        let escape = char::from(fantoccini::key::Key::Escape).to_string();
        focused.send_keys(&escape).await.unwrap();
    }

    /// The `data-testid` of the focused element ("" if it has none).
    pub async fn focused(&self) -> String {
        let id = self
            .client
            .execute(
                "return (document.activeElement && document.activeElement.dataset.testid) || '';",
                vec![],
            )
            .await
            .unwrap();
        id.as_str().unwrap_or_default().to_owned()
    }

    /// What the tab sees when a person comes back to it.
    pub async fn refocus(&self) {
        self.client
            .execute("window.dispatchEvent(new Event('focus'));", vec![])
            .await
            .unwrap();
    }

    /// Waits for an alert or confirm to open (one that a script, not a click, leads to);
    /// returns its text.
    pub async fn alert_text(&self) -> String {
        for _ in 0..150 {
            if let Ok(text) = self.client.get_alert_text().await {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no alert within 15 s")
    }

    /// Sets an input's value as a picker would, with its change event.
    pub async fn set_value(&self, test_id: &str, value: &str) {
        self.element(test_id).await;
        self.client
            .execute(
                "const e = document.querySelector(`[data-testid='${arguments[0]}']`); \
                 e.value = arguments[1]; e.dispatchEvent(new Event('change', { bubbles: true }));",
                vec![test_id.into(), value.into()],
            )
            .await
            .unwrap();
    }

    /// An input's or a select's current value.
    pub async fn value(&self, test_id: &str) -> String {
        self.element(test_id)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Whether no element with this `data-testid` is on the page now.
    pub async fn absent(&self, test_id: &str) -> bool {
        let selector = format!("[data-testid='{test_id}']");
        self.client
            .find_all(Locator::Css(&selector))
            .await
            .unwrap()
            .is_empty()
    }

    pub async fn title(&self) -> String {
        self.client.title().await.unwrap()
    }

    /// The text of the navigation link marked as the current page.
    pub async fn current_nav(&self) -> String {
        let found = self
            .client
            .execute(
                "const a = document.querySelector('.nav a[aria-current=page]'); \
                 return a ? a.textContent.trim() : '';",
                vec![],
            )
            .await
            .unwrap();
        found.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the first element a CSS selector finds (for what has no `data-testid`, such as
    /// the navigation's links).
    pub async fn click_css(&self, selector: &str) {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|err| panic!("{selector}: {err}"))
            .click()
            .await
            .unwrap();
    }

    /// axe-core's violations on the page as it is now (open dialogs included), at the
    /// window's size and at a phone's (390 × 844), one line each: "rule (impact) at width:
    /// where: what to fix". The window gets its size back.
    pub async fn axe_violations(&self) -> Vec<String> {
        let axe = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../tools/node_modules/axe-core/axe.min.js"),
        )
        .expect("axe-core is not installed: scripts/build-frontend installs it in tools/");
        let loaded = self
            .client
            .execute("return typeof axe !== 'undefined';", vec![])
            .await
            .unwrap();
        if loaded != serde_json::Value::Bool(true) {
            self.client.execute(&axe, vec![]).await.unwrap();
        }
        let (x, y, width, height) = self.client.get_window_rect().await.unwrap();
        let mut found = Vec::new();
        for (w, h) in [(width as u32, height as u32), (390, 844)] {
            self.client.set_window_size(w, h).await.unwrap();
            let violations = self
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1]; \
                     axe.run(document, { resultTypes: ['violations'] }).then((r) => done( \
                       r.violations.map((v) => `${v.id} (${v.impact}) at ${innerWidth} px: ` + \
                         v.nodes.map((n) => n.target.join(' ')).join(', ') + `: ${v.help}`)), \
                       (e) => done([`axe failed: ${e}`]));",
                    vec![],
                )
                .await
                .unwrap();
            found.extend(serde_json::from_value::<Vec<String>>(violations).unwrap());
        }
        self.client
            .set_window_rect(x as u32, y as u32, width as u32, height as u32)
            .await
            .unwrap();
        found
    }

    /// Fails the test with axe-core's findings if the page (at both widths) has any.
    pub async fn assert_accessible(&self, what: &str) {
        let violations = self.axe_violations().await;
        assert!(
            violations.is_empty(),
            "axe-core on {what}:\n{}",
            violations.join("\n")
        );
    }

    pub async fn is_enabled(&self, test_id: &str) -> bool {
        self.element(test_id).await.is_enabled().await.unwrap()
    }

    /// Saves a screenshot under target/e2e-screenshots/ (kept as a CI artifact).
    pub async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/e2e-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // The whole group: chromedriver and every chromium process it started.
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.driver.id())])
                .status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// chromedriver's `POST /session/{id}/goog/cdp/execute`.
#[derive(Debug)]
struct DevTools {
    body: String,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.clone()))
    }
}
