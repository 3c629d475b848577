//! What an operator watches: `/metrics` after real traffic, request ids, JSON logs.

use pulsekey_types::Role;
use serde_json::{Value, json};

use crate::util::serve::ServeProcess;

fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

both_backends! {
    async fn metrics_count_heartbeats_requests_and_licenses(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let active = app.create_server(&admin, acme.id, "acme-1").await;
        let revoked = app.create_server(&admin, acme.id, "acme-2").await;
        let key = app.reveal(&admin, active).await;
        let revoked_key = app.reveal(&admin, revoked).await;
        let r = app.post(&format!("/api/v1/servers/{revoked}/license/revoke"), &admin, json!({})).await;
        assert_eq!(r.status(), 200);
        for _ in 0..3 {
            assert_eq!(app.heartbeat(&key).await.status(), 200);
        }
        assert_eq!(app.heartbeat(&revoked_key).await.status(), 200);
        assert_eq!(app.heartbeat("pk_nonsense").await.status(), 401);

        let response = app.client.get(app.at("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
        let metrics = response.text().await.unwrap();
        assert_eq!(sample(&metrics, r#"pulsekey_heartbeats_total{result="verdict",status="ACTIVE"}"#), 3.0);
        assert_eq!(sample(&metrics, r#"pulsekey_heartbeats_total{result="verdict",status="GRACE"}"#), 1.0);
        assert_eq!(sample(&metrics, r#"pulsekey_heartbeats_total{result="refused",status=""}"#), 1.0);
        assert_eq!(sample(&metrics, r#"pulsekey_http_request_duration_seconds_count{route="/heartbeat",method="POST",status="200"}"#), 4.0);
        assert_eq!(sample(&metrics, r#"pulsekey_http_request_duration_seconds_count{route="/api/v1/servers/{id}/license/revoke",method="POST",status="200"}"#), 1.0);
        assert_eq!(sample(&metrics, r#"pulsekey_licenses{status="ACTIVE"}"#), 1.0);
        assert_eq!(sample(&metrics, r#"pulsekey_licenses{status="GRACE"}"#), 1.0);
        assert_eq!(sample(&metrics, "pulsekey_database_up"), 1.0);
        assert!(sample(&metrics, r#"pulsekey_db_pool_connections{state="max"}"#) >= 1.0);
        for secret in [&key, &revoked_key, &admin] {
            assert!(!metrics.contains(secret.as_str()));
        }
    }

    async fn every_answer_carries_a_request_id(app) {
        let first = app.client.get(app.at("/healthz")).send().await.unwrap();
        let second = app.client.get(app.at("/api/v1/nothing")).send().await.unwrap();
        let (a, b) = (&first.headers()["x-request-id"], &second.headers()["x-request-id"]);
        assert_ne!(a, b);
        // A sane id from the caller (a load balancer's) is kept; anything else is replaced.
        let kept = app.client.get(app.at("/healthz")).header("x-request-id", "lb-7f3a").send().await.unwrap();
        assert_eq!(kept.headers()["x-request-id"], "lb-7f3a");
        let replaced = app.client.get(app.at("/healthz")).header("x-request-id", "a b\"c").send().await.unwrap();
        assert_ne!(replaced.headers()["x-request-id"], "a b\"c");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_request_ids_and_a_metrics_token_guards_the_scrape() {
    let server = ServeProcess::start_with_env(
        tempfile::tempdir().unwrap(),
        &[
            ("PULSEKEY_LOG_FORMAT", "json"),
            ("PULSEKEY_METRICS_TOKEN", "scrape-token-for-tests"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let denied = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let scraped = client
        .get(format!("{}/metrics", server.url))
        .bearer_auth("scrape-token-for-tests")
        .header("x-request-id", "scrape-1")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(
        scraped
            .text()
            .await
            .unwrap()
            .contains("pulsekey_build_info")
    );

    // RUST_LOG=debug (ServeProcess): every line is one JSON object; the scrape's carries
    // its id.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let stderr = std::fs::read_to_string(server.log_path("stderr.log")).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["id"] == "scrape-1" && l["fields"]["route"] == "/metrics"),
        "{stderr}"
    );
    assert!(!stderr.contains("scrape-token-for-tests"));
}
