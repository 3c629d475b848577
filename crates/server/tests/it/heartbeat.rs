use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use pulsekey_types::{ErrorBody, ErrorCode, InstallConfig, Role};
use serde_json::json;

both_backends! {
    // Two nodes flush on their own schedules: the later heartbeat wins whatever order the
    // writes arrive in.
    async fn a_stale_flush_never_moves_the_last_heartbeat_back(app) {
        use pulsekey_db::servers::{HeartbeatWrite, record_heartbeats};
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let now = pulsekey_db::now();
        let write = |at, version: &str| HeartbeatWrite {
            server_id: server,
            at,
            version: version.into(),
            ip: None,
        };
        let newer = write(now, "3.2");
        let older = write(now - time::Duration::seconds(30), "3.1");
        let db = app.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn().unwrap();
            record_heartbeats(&mut conn, &[newer]).unwrap();
            record_heartbeats(&mut conn, &[older]).unwrap();
        })
        .await
        .unwrap();
        let card: pulsekey_types::LicenseView =
            app.get(&format!("/api/v1/servers/{server}/license"), &admin).await.json().await.unwrap();
        assert_eq!(card.installed_version.as_deref(), Some("3.2"));
        assert_eq!(card.last_heartbeat_at, Some(pulsekey_db::from_stored(now)));
    }

    async fn bad_keys_all_get_the_same_401(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let mut wrong_checksum = key.clone();
        wrong_checksum.replace_range(10..11, if &key[10..11] == "A" { "B" } else { "A" });
        let unknown = "pk_".to_owned() + &"0".repeat(43) + "000000";
        let cases: Vec<Option<String>> = vec![
            None,
            Some("Bearer".into()),
            Some("Basic abc".into()),
            Some("Bearer not-a-key".into()),
            Some(format!("Bearer {wrong_checksum}")),
            Some(format!("Bearer {unknown}")),
            Some(format!("Bearer {}", "pk_".to_owned() + &"x".repeat(5000))),
        ];
        let mut bodies = std::collections::HashSet::new();
        for auth in cases {
            let mut request = app.client.post(app.at("/heartbeat")).json(&json!({ "version": "1.0" }));
            if let Some(auth) = &auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{auth:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
            bodies.insert(response.text().await.unwrap());
        }
        assert_eq!(bodies.len(), 1);
        let body: ErrorBody = serde_json::from_str(bodies.iter().next().unwrap()).unwrap();
        assert_eq!(body.error, ErrorCode::InvalidToken);
    }

    async fn bad_bodies_get_clear_4xx_and_record_nothing(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let post = |body: Vec<u8>, content_type: &'static str| {
            app.client.post(app.at("/heartbeat")).bearer_auth(&key).header("content-type", content_type).body(body).send()
        };
        assert_eq!(post(b"{".to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(b"{}".to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(br#"{"version":""}"#.to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(br#"{"version":5}"#.to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(vec![0xff, 0xfe], "application/json").await.unwrap().status(), 400);
        assert_eq!(post(br#"{"version":"1"}"#.to_vec(), "text/plain").await.unwrap().status(), 415);
        let huge = format!(r#"{{"version":"1","hostname":"{}"}}"#, "h".repeat(100_000));
        let r = post(huge.into_bytes(), "application/json").await.unwrap();
        assert_eq!(r.status(), 413);
        assert_eq!(r.json::<ErrorBody>().await.unwrap().error, ErrorCode::PayloadTooLarge);
        // Several flush intervals (50 ms here) pass: anything recorded would be written by now.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let card: pulsekey_types::LicenseView = app.get(&format!("/api/v1/servers/{server}/license"), &admin).await.json().await.unwrap();
        assert!(card.last_heartbeat_at.is_none());
    }

    async fn verdicts_are_signed_over_nonce_and_body(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let token = app.login(&acme).await;
        let config: InstallConfig = app.get(&format!("/api/v1/me/servers/{server}/install"), &token).await.json().await.unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let public: [u8; 32] = b64.decode(&config.public_key).unwrap().try_into().unwrap();
        let public = VerifyingKey::from_bytes(&public).unwrap();
        let beat = |key: String, nonce: String| {
            app.client.post(app.at("/heartbeat")).bearer_auth(key)
                .header("x-pulsekey-nonce", nonce).json(&json!({ "version": "2.0" })).send()
        };
        let response = beat(config.license_key.clone(), "n0nce-123".into()).await.unwrap();
        let header = response.headers()["x-pulsekey-signature"].to_str().unwrap().to_owned();
        let body = response.bytes().await.unwrap();
        let key = config.license_key.as_str();
        assert!(verifies(&public, key, "n0nce-123", &body, &header));
        assert!(!verifies(&public, key, "other-nonce", &body, &header));
        assert!(!verifies(&public, "pk_another_key", "n0nce-123", &body, &header));
        let tampered = String::from_utf8(body.to_vec()).unwrap().replace("ACTIVE", "EXPIRED");
        assert!(!verifies(&public, key, "n0nce-123", tampered.as_bytes(), &header));

        let refused = beat("pk_unknown".into(), "refusal-nonce".into()).await.unwrap();
        assert_eq!(refused.status(), 401);
        let header = refused.headers()["x-pulsekey-signature"].to_str().unwrap().to_owned();
        let refusal = refused.bytes().await.unwrap();
        assert!(verifies(&public, "pk_unknown", "refusal-nonce", &refusal, &header));
        // Refused for the key that was presented, not for the proxy whose nonce it relayed.
        assert!(!verifies(&public, key, "refusal-nonce", &refusal, &header));

        // Answers produced together may share a signature; each still proves its own.
        let answers = futures_util::future::join_all((0..40).map(|n| beat(config.license_key.clone(), format!("nonce-{n}")))).await;
        for (n, answer) in answers.into_iter().enumerate() {
            let answer = answer.unwrap();
            assert_eq!(answer.status(), 200);
            let header = answer.headers()["x-pulsekey-signature"].to_str().unwrap().to_owned();
            let body = answer.bytes().await.unwrap();
            assert!(verifies(&public, key, &format!("nonce-{n}"), &body, &header), "answer {n}");
            assert!(!verifies(&public, key, &format!("nonce-{}", n + 1), &body, &header), "answer {n}");
        }
    }

    // Each node keeps its own license index; a change made through one must decide the
    // next heartbeat another node answers, with no delay to wait out.
    async fn a_change_on_one_node_decides_the_next_heartbeat_on_another(app) {
        let node_b = app.another_node().await;
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let on_b = |key: String| {
            let url = format!("{}/heartbeat", node_b.url);
            let client = app.client.clone();
            async move {
                let r = client.post(url).bearer_auth(key).json(&json!({ "version": "3.0" })).send().await.unwrap();
                let code = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap();
                (code, body["status"].as_str().map(str::to_owned))
            }
        };
        assert_eq!(on_b(key.clone()).await, (200, Some("ACTIVE".into())));

        let r = app.post(&format!("/api/v1/servers/{server}/license/regenerate"), &admin, json!({})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(on_b(key.clone()).await.0, 401);
        let new_key = app.reveal(&admin, server).await;
        assert_eq!(on_b(new_key.clone()).await, (200, Some("ACTIVE".into())));

        let r = app.post(&format!("/api/v1/servers/{server}/license/revoke"), &admin, json!({ "graceDays": 2 })).await;
        assert_eq!(r.status(), 200);
        assert_eq!(on_b(new_key.clone()).await, (200, Some("GRACE".into())));
        let r = app.post(&format!("/api/v1/servers/{server}/license/reinstate"), &admin, json!({})).await;
        assert_eq!(r.status(), 200);
        assert_eq!(on_b(new_key.clone()).await, (200, Some("ACTIVE".into())));

        // What node B recorded reaches the card node A serves.
        let card = app.card_after_flush(&admin, server).await;
        assert_eq!(card.installed_version.as_deref(), Some("3.0"));
    }

    // Heartbeats racing a regenerate: none sent after the regenerate answered may pass.
    async fn no_heartbeat_sent_after_a_regenerate_answered_passes_with_the_old_key(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let senders: Vec<_> = (0..8).map(|_| {
            let (client, url, key, stop) = (app.client.clone(), app.at("/heartbeat"), key.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let sent = std::time::Instant::now();
                    let r = client.post(&url).bearer_auth(&key).json(&json!({ "version": "1" })).send().await.unwrap();
                    seen.push((sent, r.status().as_u16()));
                }
                seen
            })
        }).collect();
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let r = app.post(&format!("/api/v1/servers/{server}/license/regenerate"), &admin, json!({})).await;
        assert_eq!(r.status(), 200);
        let answered = std::time::Instant::now();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let mut before = 0;
        let mut after = 0;
        for sender in senders {
            for (sent, status) in sender.await.unwrap() {
                if sent > answered {
                    assert_eq!(status, 401, "a heartbeat sent after the regenerate answered passed");
                    after += 1;
                } else if status == 200 {
                    before += 1;
                }
            }
        }
        assert!(before > 0 && after > 0, "the race did not happen: {before} before, {after} after");
    }

    // The verdict inputs are held in memory; an operator's SQL must still decide the very
    // next heartbeat, the way the seed's ops guide edits grace_expires_at by hand.
    async fn hand_edits_in_the_database_decide_the_next_heartbeat(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let other = app.create_server(&admin, acme.id, "acme-edge").await;
        let key = app.reveal(&admin, server).await;
        let other_key = app.reveal(&admin, other).await;
        assert_eq!(verdict_of(&app, &key).await, (200, Some("ACTIVE".into())));

        app.sql(&format!("UPDATE servers SET license_status = 'GRACE', grace_expires_at = '2999-01-01 00:00:00' WHERE id = {server}")).await;
        assert_eq!(verdict_of(&app, &key).await, (200, Some("GRACE".into())));
        app.sql(&format!("UPDATE servers SET grace_expires_at = '2000-01-01 00:00:00' WHERE id = {server}")).await;
        assert_eq!(verdict_of(&app, &key).await, (200, Some("EXPIRED".into())));
        app.sql(&format!("UPDATE servers SET license_status = 'ACTIVE', grace_expires_at = NULL WHERE id = {server}")).await;
        assert_eq!(verdict_of(&app, &key).await, (200, Some("ACTIVE".into())));

        // Deleting the row by hand refuses its key; the other license is untouched.
        assert_eq!(verdict_of(&app, &other_key).await, (200, Some("ACTIVE".into())));
        app.sql(&format!("DELETE FROM servers WHERE id = {other}")).await;
        assert_eq!(verdict_of(&app, &other_key).await.0, 401);
        assert_eq!(verdict_of(&app, &key).await, (200, Some("ACTIVE".into())));
    }
}

/// A heartbeat's HTTP status and verdict status.
async fn verdict_of(app: &crate::util::test_app::TestApp, key: &str) -> (u16, Option<String>) {
    let r = app.heartbeat(key).await;
    let code = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap();
    (code, body["status"].as_str().map(str::to_owned))
}

/// Checks an `X-Pulsekey-Signature` header the way the agent does.
fn verifies(public: &VerifyingKey, key: &str, nonce: &str, body: &[u8], header: &str) -> bool {
    use pulsekey_types::signature::{BatchProof, leaf_hash, signed_message};
    let Some(proof) = BatchProof::from_header(header) else {
        return false;
    };
    let root = proof.root(leaf_hash(key, nonce, body));
    public
        .verify(
            &signed_message(&root),
            &Signature::from_bytes(&proof.signature),
        )
        .is_ok()
}

/// Refused heartbeats count against their address and, past the limit, wait; a valid key
/// from the same address (a NAT, a load balancer) is always answered. Well-formed unknown
/// keys are refused from the index, without a database read.
async fn refused_keys_never_make_a_valid_key_wait(postgres: bool) {
    let app = crate::util::test_app::TestApp::builder()
        .heartbeat_failures_per_minute(3)
        .spawn(postgres)
        .await;
    let admin = app.admin_token().await;
    let acme = app.create_user("acme", Role::Customer).await;
    let server = app.create_server(&admin, acme.id, "acme-prod").await;
    let key = app.reveal(&admin, server).await;
    assert_eq!(app.heartbeat(&key).await.status(), 200);
    let lookups_before = database_lookups(&app).await;
    let strangers: Vec<String> = (0..50)
        .map(|_| {
            pulsekey_core::keys::LicenseKey::generate()
                .expose()
                .to_owned()
        })
        .collect();
    for stranger in &strangers[..3] {
        assert_eq!(app.heartbeat(stranger).await.status(), 401);
    }
    for stranger in &strangers[3..] {
        crate::util::assert_retry_after(app.heartbeat(stranger).await, 60).await;
    }
    assert_eq!(
        app.heartbeat(&key).await.status(),
        200,
        "a valid key waited for strangers"
    );
    assert_eq!(
        database_lookups(&app).await,
        lookups_before,
        "well-formed unknown keys reached the database"
    );
    // A regenerated key: the old one is refused, the new one answered, each read once.
    let regenerated = app
        .post(
            &format!("/api/v1/servers/{server}/license/regenerate"),
            &admin,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(regenerated.status(), 200);
    let new_key = app.reveal(&admin, server).await;
    assert_eq!(app.heartbeat(&new_key).await.status(), 200);
    assert_eq!(app.heartbeat(&new_key).await.status(), 200);
    // The old key is a refusal, over this address's limit by now.
    crate::util::assert_retry_after(app.heartbeat(&key).await, 60).await;
    crate::util::assert_retry_after(app.heartbeat(&key).await, 60).await;
    assert_eq!(database_lookups(&app).await, lookups_before + 2);
}

async fn database_lookups(app: &crate::util::test_app::TestApp) -> u64 {
    let text = app
        .client
        .get(app.at("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix("pulsekey_heartbeat_database_lookups_total "))
        .and_then(|n| n.parse().ok())
        .expect("no database lookup counter in /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_keys_never_make_a_valid_key_wait_sqlite() {
    refused_keys_never_make_a_valid_key_wait(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_keys_never_make_a_valid_key_wait_postgres() {
    refused_keys_never_make_a_valid_key_wait(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_that_sends_too_many_heartbeats_waits_for_the_next_minute() {
    let app = crate::util::test_app::TestApp::builder()
        .heartbeats_per_key_per_minute(3)
        .spawn(false)
        .await;
    let admin = app.admin_token().await;
    let acme = app.create_user("acme", Role::Customer).await;
    let noisy = app.create_server(&admin, acme.id, "acme-noisy").await;
    let quiet = app.create_server(&admin, acme.id, "acme-quiet").await;
    let (noisy, quiet) = (
        app.reveal(&admin, noisy).await,
        app.reveal(&admin, quiet).await,
    );
    // The count is per clock minute: start early in one so the test stays inside it.
    let second = time::OffsetDateTime::now_utc().second();
    if second > 45 {
        tokio::time::sleep(std::time::Duration::from_secs(u64::from(61 - second))).await;
    }
    for _ in 0..3 {
        assert_eq!(app.heartbeat(&noisy).await.status(), 200);
    }
    crate::util::assert_retry_after(app.heartbeat(&noisy).await, 60).await;
    // Other keys, from the same address, are not held back.
    assert_eq!(app.heartbeat(&quiet).await.status(), 200);
}
