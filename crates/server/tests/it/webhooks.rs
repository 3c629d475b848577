//! Webhooks, delivered to a real receiver (`tools/webhook-receiver.mjs`) that verifies
//! every delivery with `standardwebhooks`, the Standard Webhooks reference library.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pulsekey_types::{
    DeliveryState, ErrorBody, Role, WebhookAttemptPage, WebhookView, WebhookWithSecret,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::util::serve::{Api, ServeProcess};
use crate::util::test_app::TestApp;

/// `$name::sqlite` and `$name::postgres`: the test `$name(postgres)` on each backend.
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(true).await;
            }
        }
    };
}

/// The receiver process, killed when dropped.
pub(crate) struct Receiver {
    child: Child,
    base: String,
    client: reqwest::Client,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Received {
    pub id: String,
    /// How the receiver was answering when it came.
    mode: String,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub verified: bool,
    attempt: u32,
    path: String,
    body: String,
}

impl Received {
    fn mode_was_ok(&self) -> bool {
        self.mode == "ok"
    }
}

impl Receiver {
    pub(crate) fn start() -> Self {
        Self::start_on(0, None)
    }

    /// On `port` (0: any free one), verifying with `secret` from the first delivery.
    fn start_on(port: u16, secret: Option<&str>) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tools/webhook-receiver.mjs"
        );
        let mut child = Command::new("node")
            .arg(script)
            .arg(port.to_string())
            .env("WEBHOOK_SECRET", secret.unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the receiver (scripts/test installs tools/node_modules)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("the receiver said {line:?}"));
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        }
    }

    fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub(crate) fn url(&self) -> String {
        format!("{}/hooks/pulsekey", self.base)
    }

    pub(crate) async fn control(&self, what: &str, body: &str) {
        let answer = self
            .client
            .put(format!("{}/control/{what}", self.base))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 204);
    }

    async fn received(&self) -> Vec<Received> {
        self.client
            .get(format!("{}/control/received", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits (up to 20 s) until `done` holds for what arrived.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received().await;
            if done(&received) {
                return received;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{what}: still waiting after 20 s; received {received:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app delivering webhooks, an admin's token, a receiver and an endpoint for it that
/// hears `events` (the receiver knows its secret).
async fn app_with_receiver(
    postgres: bool,
    events: Value,
) -> (TestApp, String, Receiver, WebhookWithSecret) {
    let app = TestApp::builder().webhooks().spawn(postgres).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start();
    let created = create_webhook(
        &app,
        &admin,
        json!({ "url": receiver.url(), "events": events }),
    )
    .await;
    receiver.control("secret", &created.secret).await;
    (app, admin, receiver, created)
}

async fn create_webhook(app: &TestApp, admin: &str, body: Value) -> WebhookWithSecret {
    let answer = app.post("/api/v1/webhooks", admin, body).await;
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    answer.json().await.unwrap()
}

fn types(received: &[Received]) -> Vec<&str> {
    received
        .iter()
        .map(|r| r.event_type.as_deref().unwrap_or("?"))
        .collect()
}

async fn every_action_reaches_a_real_receiver_signed(postgres: bool) {
    let app = TestApp::builder().webhooks().spawn(postgres).await;
    let receiver = Receiver::start();
    let admin = app.admin_token().await;
    let created = create_webhook(
        &app,
        &admin,
        json!({ "url": receiver.url(), "description": "billing", "events": "all" }),
    )
    .await;
    assert!(
        created.secret.starts_with("whsec_"),
        "a Standard Webhooks secret"
    );
    receiver.control("secret", &created.secret).await;
    // Only the endpoint that hears a type gets it.
    let receiver_b = Receiver::start();
    let only_revokes = create_webhook(
        &app,
        &admin,
        json!({ "url": receiver_b.url(), "events": ["license.revoked"] }),
    )
    .await;
    receiver_b.control("secret", &only_revokes.secret).await;

    let acme = app.create_user("acme", Role::Customer).await;
    let server = app.create_server(&admin, acme.id, "acme-prod").await;
    let key = app.reveal(&admin, server).await;
    let license = |action: &str| format!("/api/v1/servers/{server}/license/{action}");
    assert_eq!(
        app.post(&license("regenerate"), &admin, json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post(&license("revoke"), &admin, json!({ "graceDays": 3 }))
            .await
            .status(),
        200
    );
    // An action that fails publishes nothing.
    assert_eq!(
        app.post(&license("revoke"), &admin, json!({ "graceDays": 3 }))
            .await
            .status(),
        409
    );
    assert_eq!(
        app.post(&license("reinstate"), &admin, json!({}))
            .await
            .status(),
        200
    );
    let r = app
        .client
        .delete(app.at(&format!("/api/v1/servers/{server}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let test = app
        .post(
            &format!("/api/v1/webhooks/{}/test", created.webhook.id),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(test.status(), 202);

    let expected = [
        "server.created",
        "license.regenerated",
        "license.revoked",
        "license.reinstated",
        "server.deleted",
        "webhook.test",
    ];
    let received = receiver
        .wait_for("six events", |r| r.len() >= expected.len())
        .await;
    let mut got = types(&received);
    got.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(got, want);
    assert!(
        received.iter().all(|r| r.verified),
        "every signature verifies: {received:#?}"
    );
    let ids: std::collections::HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), received.len(), "one webhook-id per event");
    let only = receiver_b.wait_for("the revoke", |r| !r.is_empty()).await;
    assert_eq!(types(&only), ["license.revoked"]);
    assert!(only[0].verified);

    // What the payload says: the server, its owner and its license, never a key.
    let revoked = received
        .iter()
        .find(|r| r.event_type.as_deref() == Some("license.revoked"))
        .unwrap();
    let payload: Value = serde_json::from_str(&revoked.body).unwrap();
    assert_eq!(payload["type"], "license.revoked");
    assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        payload["data"]["server"],
        json!({ "id": server, "name": "acme-prod", "ownerId": acme.id })
    );
    assert_eq!(
        payload["data"]["owner"],
        json!({ "id": acme.id, "username": "acme" })
    );
    assert_eq!(payload["data"]["license"]["status"], "GRACE");
    assert_eq!(payload["data"]["graceDays"], 3);
    assert!(
        payload["data"]["license"]["keyMasked"]
            .as_str()
            .unwrap()
            .starts_with("pk_•")
    );
    for r in &received {
        assert!(!r.body.contains(&key), "{}", r.body);
        assert!(!r.body.contains(&key[3..]), "{}", r.body);
    }

    // The deliveries page: each attempt, delivered (recorded just after the receiver
    // answered).
    let started = Instant::now();
    loop {
        let all: WebhookAttemptPage = attempts(&app, &admin, created.webhook.id, "").await;
        if all.items.len() == expected.len() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page: WebhookAttemptPage = attempts(&app, &admin, created.webhook.id, "?limit=4").await;
    assert_eq!(page.items.len(), 4);
    assert!(
        page.items
            .iter()
            .all(|a| a.status_code == Some(204) && a.state == DeliveryState::Delivered)
    );
    assert!(
        page.items.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    let rest: WebhookAttemptPage = app
        .get(
            &format!(
                "/api/v1/webhooks/{}/deliveries?limit=4&cursor={}",
                created.webhook.id,
                page.next_cursor.unwrap()
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((rest.items.len(), rest.next_cursor), (2, None));

    // Each change to an endpoint is audited, without its secret.
    let entries = app.audit(&admin, "action=webhook.create").await;
    assert_eq!(entries.len(), 2);
    let log = serde_json::to_string(&app.audit(&admin, "").await).unwrap();
    assert!(!log.contains(&created.secret[6..]));
}

on_both_backends!(every_action_reaches_a_real_receiver_signed);

/// A receiver answering 500 gets the event again after the first wait (5 s), with the same
/// `webhook-id`; a rotated secret keeps the old one signing beside it.
async fn failures_are_retried_and_secrets_rotate(postgres: bool) {
    let (app, admin, receiver, created) =
        app_with_receiver(postgres, json!(["server.created"])).await;
    let id = created.webhook.id;
    receiver.control("mode", "fail").await;
    let acme = app.create_user("acme", Role::Customer).await;
    app.create_server(&admin, acme.id, "acme-prod").await;
    let first = receiver
        .wait_for("the first attempt", |r| !r.is_empty())
        .await;
    receiver.control("mode", "ok").await;
    let view: WebhookView = app
        .get(&format!("/api/v1/webhooks/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(view.failing_since.is_some(), "{view:?}");
    let page: WebhookAttemptPage = attempts(&app, &admin, id, "").await;
    let failed = &page.items[0];
    assert_eq!(
        (failed.status_code, failed.state),
        (Some(500), DeliveryState::Pending)
    );
    assert_eq!(failed.error.as_deref(), Some("answered 500"));
    assert_eq!(failed.response_head, "receiver is failing on purpose");
    let wait = failed.next_attempt_at.unwrap() - failed.at;
    assert!(
        wait >= time::Duration::seconds(5) && wait <= time::Duration::seconds(6),
        "{wait}"
    );

    let both = receiver.wait_for("the retry", |r| r.len() >= 2).await;
    assert_eq!(
        (both[1].id.as_str(), both[1].attempt),
        (first[0].id.as_str(), 2)
    );
    assert!(both[1].verified);
    let view: WebhookView = app
        .get(&format!("/api/v1/webhooks/{id}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view.failing_since, None, "a success ends the streak");

    // A retry asked for sends a delivered event again, at once.
    let retry = app
        .post(
            &format!(
                "/api/v1/webhooks/{id}/deliveries/{}/retry",
                failed.delivery_id
            ),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(retry.status(), 202);
    receiver.wait_for("the asked retry", |r| r.len() >= 3).await;
    let missing = app
        .post(
            &format!("/api/v1/webhooks/{id}/deliveries/999999/retry"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(missing.status(), 404);

    // Rotation: the new secret answered once; the old one still verifies for 24 h.
    let rotated: WebhookWithSecret = app
        .post(
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            &admin,
            json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(rotated.secret, created.secret);
    app.create_server(&admin, acme.id, "acme-eu").await;
    let old = receiver
        .wait_for("an event after the rotation", |r| r.len() >= 4)
        .await;
    assert!(old[3].verified, "the old secret still verifies");
    receiver.control("secret", &rotated.secret).await;
    app.create_server(&admin, acme.id, "acme-us").await;
    let new = receiver
        .wait_for("an event with the new secret", |r| r.len() >= 5)
        .await;
    assert!(new[4].verified, "the new secret verifies");
    receiver
        .control("secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        .await;
    app.create_server(&admin, acme.id, "acme-ap").await;
    let other = receiver
        .wait_for("an event checked with a wrong secret", |r| r.len() >= 6)
        .await;
    assert!(!other[5].verified, "a wrong secret does not verify");
}

on_both_backends!(failures_are_retried_and_secrets_rotate);

/// Without `PULSEKEY_WEBHOOK_ALLOW_PRIVATE`, an endpoint cannot be aimed at this machine
/// or its network, by address or by a name that resolves to one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_addresses_are_refused_unless_allowed() {
    let app = TestApp::builder()
        .webhook_allow_private(false)
        .spawn(false)
        .await;
    let admin = app.admin_token().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.8/hook",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
    ] {
        let answer = app
            .post(
                "/api/v1/webhooks",
                &admin,
                json!({ "url": url, "events": "all" }),
            )
            .await;
        assert_eq!(answer.status(), 422, "{url}");
        let error: ErrorBody = answer.json().await.unwrap();
        assert!(
            error.message.contains("PULSEKEY_WEBHOOK_ALLOW_PRIVATE"),
            "{url}: {}",
            error.message
        );
    }
    for (body, status) in [
        (json!({ "url": "ftp://example.com/", "events": "all" }), 422),
        (
            json!({ "url": "https://u:p@example.com/", "events": "all" }),
            422,
        ),
        (json!({ "url": "https://example.com/", "events": [] }), 422),
        (
            json!({ "url": "https://example.com/", "events": ["webhook.test"] }),
            422,
        ),
        (
            json!({ "url": "https://example.com/", "events": "some" }),
            400,
        ),
        (json!({ "url": "https://example.com/" }), 400),
    ] {
        let answer = app.post("/api/v1/webhooks", &admin, body.clone()).await;
        assert_eq!(answer.status(), status, "{body}");
        assert!(answer.json::<ErrorBody>().await.is_ok());
    }
    let list: Value = app
        .get("/api/v1/webhooks", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]), "nothing refused was stored");
}

async fn beat(base: &str, key: &str, version: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/heartbeat"))
        .bearer_auth(key)
        .json(&json!({ "version": version }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// What the heartbeat bookkeeping records (a first heartbeat, a new version, an old key
/// still calling) and a grace window that ends reach webhooks once, with two nodes each
/// relaying and delivering.
async fn heartbeats_and_ended_graces_reach_webhooks_once(postgres: bool) {
    let events = [
        "server.came_online",
        "server.version_changed",
        "license.old_key_used",
        "license.expired",
    ];
    let (app, admin, receiver, created) = app_with_receiver(postgres, json!(events)).await;
    let node_b = app.another_node().await;
    let acme = app.create_user("acme", Role::Customer).await;
    let server = app.create_server(&admin, acme.id, "acme-prod").await;
    let old_key = app.reveal(&admin, server).await;

    assert_eq!(beat(&app.url, &old_key, "1.0").await, 200);
    receiver.wait_for("came_online", |r| !r.is_empty()).await;
    assert_eq!(beat(&node_b.url, &old_key, "1.1").await, 200);
    receiver.wait_for("version_changed", |r| r.len() >= 2).await;
    let license = |action: &str| format!("/api/v1/servers/{server}/license/{action}");
    assert_eq!(
        app.post(&license("regenerate"), &admin, json!({}))
            .await
            .status(),
        200
    );
    assert_ne!(beat(&app.url, &old_key, "1.1").await, 200);
    receiver.wait_for("old_key_used", |r| r.len() >= 3).await;

    assert_eq!(
        app.post(&license("revoke"), &admin, json!({ "graceDays": 3 }))
            .await
            .status(),
        200
    );
    app.sql(&format!(
        "UPDATE servers SET grace_expires_at = '2020-01-01 00:00:00' WHERE id = {server}"
    ))
    .await;
    // Every node sweeps: the window ends once.
    let db = app.db.clone();
    let ended = tokio::task::spawn_blocking(move || {
        let now = time::OffsetDateTime::now_utc();
        let first = pulsekey_core::servers::expire_ended_graces(&db, now, 60).unwrap();
        let second = pulsekey_core::servers::expire_ended_graces(&db, now, 60).unwrap();
        (first, second)
    })
    .await
    .unwrap();
    assert_eq!(ended, (1, 0));
    receiver.wait_for("license.expired", |r| r.len() >= 4).await;
    // A test event behind them all: nothing came twice meanwhile.
    app.post(
        &format!("/api/v1/webhooks/{}/test", created.webhook.id),
        &admin,
        json!({}),
    )
    .await;
    let received = receiver
        .wait_for("the test event", |r| {
            r.iter()
                .any(|r| r.event_type.as_deref() == Some("webhook.test"))
        })
        .await;
    assert_eq!(
        types(&received),
        [&events[..], &["webhook.test"]].concat(),
        "{received:#?}"
    );
    assert!(
        received.iter().all(|r| r.verified && r.attempt == 1),
        "{received:#?}"
    );

    let data = |i: usize| serde_json::from_str::<Value>(&received[i].body).unwrap()["data"].clone();
    assert_eq!(data(0)["server"]["name"], "acme-prod");
    assert_eq!(
        (data(1)["from"].clone(), data(1)["to"].clone()),
        (json!("1.0"), json!("1.1"))
    );
    assert_eq!(data(2)["keyLast4"], json!(&old_key[old_key.len() - 4..]));
    assert_eq!(data(2)["ip"], "127.0.0.1");
    assert_eq!(data(3)["license"]["status"], "EXPIRED");
    for r in &received {
        assert!(!r.body.contains(&old_key), "{}", r.body);
    }
}

on_both_backends!(heartbeats_and_ended_graces_reach_webhooks_once);

/// A receiver that is down gets every event once it is back: here, at the first retry.
async fn a_receiver_down_gets_everything_when_back(postgres: bool) {
    let (app, admin, receiver, created) =
        app_with_receiver(postgres, json!(["server.created"])).await;
    let port = receiver.port();
    drop(receiver);
    let acme = app.create_user("acme", Role::Customer).await;
    for i in 0..5 {
        app.create_server(&admin, acme.id, &format!("acme-{i}"))
            .await;
    }
    // Each first attempt finds nothing listening.
    let id = created.webhook.id;
    let started = Instant::now();
    loop {
        let page: WebhookAttemptPage = attempts(&app, &admin, id, "").await;
        if page.items.len() >= 5 {
            assert!(
                page.items
                    .iter()
                    .all(|a| a.status_code.is_none() && a.state == DeliveryState::Pending),
                "{page:#?}"
            );
            assert_eq!(page.items[0].error.as_deref(), Some("could not connect"));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{page:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receiver = Receiver::start_on(port, Some(&created.secret));
    let received = receiver.wait_for("the five events", |r| r.len() >= 5).await;
    assert!(
        received.iter().all(|r| r.verified && r.attempt == 1),
        "{received:#?}"
    );
    let ids: std::collections::HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 5);
}

on_both_backends!(a_receiver_down_gets_everything_when_back);

/// `kill -9` while deliveries are in flight (the receiver holds them open): after a
/// restart every event arrives, once its claim has lapsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_delivers_every_event_after_a_restart() {
    let env = [("PULSEKEY_WEBHOOK_ALLOW_PRIVATE", "true")];
    let receiver = Receiver::start();
    receiver.control("mode", "hang").await;
    let mut server = ServeProcess::start_with_env(tempfile::tempdir().unwrap(), &env).await;
    let password = server.first_admin_password();
    let api = Api::sign_in(&server, "admin", &password).await;
    let answer = api
        .post(
            "/api/v1/webhooks",
            json!({ "url": receiver.url(), "events": ["server.created"] }),
        )
        .await;
    assert_eq!(answer.status(), 201);
    let created: WebhookWithSecret = answer.json().await.unwrap();
    receiver.control("secret", &created.secret).await;
    for i in 0..10 {
        api.customer_with_server(&format!("customer-{i}")).await;
    }
    receiver
        .wait_for("attempts in flight", |r| !r.is_empty())
        .await;
    server.stop(); // SIGKILL
    receiver.control("mode", "ok").await;
    let data_dir = std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap());
    let _restarted = ServeProcess::start_with_env(data_dir, &env).await;
    let started = Instant::now();
    loop {
        let received = receiver.received().await;
        let delivered: std::collections::HashSet<&str> = received
            .iter()
            .filter(|r| r.verified && r.mode_was_ok())
            .map(|r| r.id.as_str())
            .collect();
        if delivered.len() == 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{} of 10 delivered after the restart: {received:#?}",
            delivered.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Enabling an endpoint again sends what waited for it at once, its retries counted
/// afresh; an answer that is not text is stored (PostgreSQL's text cannot hold NUL).
async fn an_endpoint_enabled_again_sends_what_waited_at_once(postgres: bool) {
    let (app, admin, receiver, created) =
        app_with_receiver(postgres, json!(["server.created"])).await;
    let id = created.webhook.id;
    let patch = |body: Value| {
        app.client
            .patch(app.at(&format!("/api/v1/webhooks/{id}")))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    receiver.control("mode", "fail").await;
    let acme = app.create_user("acme", Role::Customer).await;
    app.create_server(&admin, acme.id, "acme-prod").await;
    receiver
        .wait_for("the failed attempt", |r| !r.is_empty())
        .await;
    let disabled: WebhookView = patch(json!({ "enabled": false }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!disabled.enabled);
    receiver.control("mode", "binary").await;
    // While disabled, nothing is sent: a second event waits with the first.
    app.create_server(&admin, acme.id, "acme-eu").await;
    let page: WebhookAttemptPage = attempts(&app, &admin, id, "").await;
    assert_eq!(page.items.len(), 1, "{page:#?}");
    let enabled_at = Instant::now();
    let enabled: WebhookView = patch(json!({ "enabled": true }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(enabled.enabled && enabled.disabled_reason.is_none());
    let received = receiver.wait_for("both events", |r| r.len() >= 3).await;
    assert!(
        enabled_at.elapsed() < Duration::from_secs(4),
        "sent at once, not at the first retry (5 s after the failure)"
    );
    assert!(received[1..].iter().all(|r| r.verified));
    let started = Instant::now();
    loop {
        let page: WebhookAttemptPage = attempts(&app, &admin, id, "").await;
        if page
            .items
            .iter()
            .filter(|a| a.state == DeliveryState::Delivered)
            .count()
            >= 2
        {
            assert_eq!(page.items[0].response_head, "a\u{fffd}b");
            assert_eq!(page.items[0].status_code, Some(200));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{page:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

on_both_backends!(an_endpoint_enabled_again_sends_what_waited_at_once);

/// The endpoint `id` as the API shows it.
async fn webhook(app: &TestApp, admin: &str, id: i64) -> WebhookView {
    app.get(&format!("/api/v1/webhooks/{id}"), admin)
        .await
        .json()
        .await
        .unwrap()
}

/// A page of endpoint `id`'s attempts; `query` starts with `?` when there is one.
async fn attempts(app: &TestApp, admin: &str, id: i64, query: &str) -> WebhookAttemptPage {
    app.get(&format!("/api/v1/webhooks/{id}/deliveries{query}"), admin)
        .await
        .json()
        .await
        .unwrap()
}

/// Waits (up to 20 s) for the first attempt at endpoint `id`'s deliveries.
async fn first_attempt(app: &TestApp, admin: &str, id: i64) -> pulsekey_types::WebhookAttempt {
    let started = Instant::now();
    loop {
        let page: WebhookAttemptPage = attempts(app, admin, id, "").await;
        if let Some(attempt) = page.items.into_iter().last() {
            return attempt;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no attempt at endpoint {id} within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An endpoint every attempt at which has failed for 3 days is disabled, with its reason
/// and an audit entry; one failing for 2 days is not. (The failures' start is moved back
/// in the database; a node checks when it starts, then once a minute.)
async fn an_endpoint_failing_for_three_days_is_disabled_with_why(postgres: bool) {
    let (app, admin, receiver, long) = app_with_receiver(postgres, json!(["server.created"])).await;
    let short = create_webhook(
        &app,
        &admin,
        json!({ "url": receiver.url(), "events": ["server.created"] }),
    )
    .await;
    receiver.control("mode", "fail").await;
    for id in [long.webhook.id, short.webhook.id] {
        let sent = app
            .post(&format!("/api/v1/webhooks/{id}/test"), &admin, json!({}))
            .await;
        assert_eq!(sent.status(), 202);
        first_attempt(&app, &admin, id).await;
        assert!(webhook(&app, &admin, id).await.failing_since.is_some());
    }
    let back = |id: i64, days: u32| match postgres {
        true => format!(
            "UPDATE webhooks SET failing_since = failing_since - interval '{days} days' WHERE id = {id}"
        ),
        false => format!(
            "UPDATE webhooks SET failing_since = datetime(failing_since, '-{days} days') WHERE id = {id}"
        ),
    };
    app.sql(&back(long.webhook.id, 3)).await;
    app.sql(&back(short.webhook.id, 2)).await;
    let _checking = app.another_node().await;
    let started = Instant::now();
    let disabled = loop {
        let view = webhook(&app, &admin, long.webhook.id).await;
        if !view.enabled {
            break view;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not disabled: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        disabled.disabled_reason.as_deref(),
        Some("every delivery failed for 3 days")
    );
    let still = webhook(&app, &admin, short.webhook.id).await;
    assert!(
        still.enabled && still.disabled_reason.is_none(),
        "{still:?}"
    );
    let audit = app.audit(&admin, "action=webhook.disable").await;
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0].metadata["url"], json!(receiver.url()));
}

on_both_backends!(an_endpoint_failing_for_three_days_is_disabled_with_why);

/// A name is checked again when a delivery connects: an endpoint saved while private
/// addresses were allowed, at a name that resolves to loopback, gets nothing from a node
/// that does not allow them, and its attempt says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_to_a_private_address_is_refused_when_sending() {
    let app = TestApp::builder().spawn(false).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start();
    let created = create_webhook(
        &app,
        &admin,
        json!({ "url": format!("http://localhost:{}/hooks/pulsekey", receiver.port()), "events": "all" }),
    )
    .await;
    receiver.control("secret", &created.secret).await;
    let _strict = app
        .another_node_with(|options| options.webhooks().webhook_allow_private(false))
        .await;
    let id = created.webhook.id;
    let sent = app
        .post(&format!("/api/v1/webhooks/{id}/test"), &admin, json!({}))
        .await;
    assert_eq!(sent.status(), 202);
    let attempt = first_attempt(&app, &admin, id).await;
    assert_eq!(attempt.status_code, None);
    let error = attempt.error.unwrap_or_default();
    assert!(error.contains("non-public"), "{error}");
    assert!(
        receiver.received().await.is_empty(),
        "the delivery got through"
    );
}

/// A redirect is an answer, not a way elsewhere: it is not followed, and not a delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let (app, admin, receiver, created) = app_with_receiver(false, json!("all")).await;
    receiver.control("mode", "redirect").await;
    let id = created.webhook.id;
    let sent = app
        .post(&format!("/api/v1/webhooks/{id}/test"), &admin, json!({}))
        .await;
    assert_eq!(sent.status(), 202);
    let attempt = first_attempt(&app, &admin, id).await;
    assert_eq!(
        (attempt.status_code, attempt.state),
        (Some(307), DeliveryState::Pending)
    );
    let received = receiver.received().await;
    assert_eq!(received.len(), 1, "{received:#?}");
    assert_eq!(received[0].path, "/hooks/pulsekey");
}

/// An endpoint that never answers is given up on after 10 s, and meanwhile another
/// endpoint's events go out as fast as ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_and_holds_up_nobody() {
    let (app, admin, hanging, stuck) = app_with_receiver(false, json!(["server.created"])).await;
    hanging.control("mode", "hang").await;
    let healthy = Receiver::start();
    let fine = create_webhook(
        &app,
        &admin,
        json!({ "url": healthy.url(), "events": ["server.created"] }),
    )
    .await;
    healthy.control("secret", &fine.secret).await;
    let acme = app.create_user("acme", Role::Customer).await;
    app.create_server(&admin, acme.id, "acme-0").await;
    hanging
        .wait_for("the attempt that hangs", |r| !r.is_empty())
        .await;
    // While it hangs, the other endpoint's events arrive within a round or two each.
    let started = Instant::now();
    for i in 1..=5 {
        app.create_server(&admin, acme.id, &format!("acme-{i}"))
            .await;
        healthy.wait_for("the next event", |r| r.len() > i).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "held up: {:?} for 5 events",
        started.elapsed()
    );
    let attempt = first_attempt(&app, &admin, stuck.webhook.id).await;
    assert_eq!(attempt.error.as_deref(), Some("no answer within 10 s"));
    assert!(
        (10_000..12_000).contains(&attempt.duration_ms),
        "{} ms",
        attempt.duration_ms
    );
}

/// Two nodes delivering 300 events at once: each event reaches the receiver once (the
/// receiver answers 2xx, so once per attempt is once), and each is recorded once.
async fn two_nodes_deliver_each_event_once(postgres: bool) {
    let (app, admin, receiver, created) = app_with_receiver(postgres, json!("all")).await;
    let _second = app.another_node_with(|options| options.webhooks()).await;
    let id = created.webhook.id;
    let path = format!("/api/v1/webhooks/{id}/test");
    let sends = (0..300).map(|_| app.post(&path, &admin, json!({})));
    for answer in futures_util::future::join_all(sends).await {
        assert_eq!(answer.status(), 202);
    }
    let received = receiver.wait_for("300 events", |r| r.len() >= 300).await;
    let ids: std::collections::HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 300);
    assert!(received.iter().all(|r| r.verified));
    let started = Instant::now();
    loop {
        let page: WebhookAttemptPage = attempts(&app, &admin, id, "?limit=200").await;
        let rest: WebhookAttemptPage = match &page.next_cursor {
            Some(cursor) => {
                attempts(&app, &admin, id, &format!("?limit=200&cursor={cursor}")).await
            }
            None => WebhookAttemptPage {
                items: Vec::new(),
                next_cursor: None,
            },
        };
        if page.items.len() + rest.items.len() >= 300 {
            assert_eq!(page.items.len() + rest.items.len(), 300);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing arrived twice while the records were being written.
    assert_eq!(receiver.received().await.len(), 300);
}

on_both_backends!(two_nodes_deliver_each_event_once);
