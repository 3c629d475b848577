//! Connection-level limits of the real binary: header size, slow clients, and the sign-in
//! limits as configured through the environment.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use pulsekey_types::{ErrorBody, ErrorCode};

use crate::util::serve::ServeProcess;

fn address(server: &ServeProcess) -> String {
    server.url.trim_start_matches("http://").to_owned()
}

/// Sends `request` as is and reads until the server closes or `timeout` passes.
fn exchange(server: &ServeProcess, request: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    // The server may answer and close before it has read everything (that is the point of
    // a limit): a failed write is expected then; the answer is what counts.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_and_slow_clients_are_turned_away_and_the_server_carries_on() {
    let server = ServeProcess::start_with_env(
        tempfile::tempdir().unwrap(),
        &[("PULSEKEY_REQUEST_TIMEOUT_SECS", "1")],
    )
    .await;

    // Past 16 KiB of headers: the JSON error, from every route.
    for path in ["/heartbeat", "/api/v1/auth/login", "/admin/users"] {
        let response = reqwest::Client::new()
            .post(format!("{}{path}", server.url))
            .header("authorization", format!("Bearer {}", "A".repeat(20 * 1024)))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 431, "{path}");
        assert_eq!(
            response.json::<ErrorBody>().await.unwrap().error,
            ErrorCode::HeadersTooLarge
        );
    }
    // Past what the HTTP layer buffers at all: refused before parsing finishes.
    let huge = format!(
        "POST /heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        "A".repeat(200 * 1024)
    );
    let answer = exchange(&server, huge.as_bytes(), Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");

    // Headers that never finish: answered 408 once the configured second is up.
    let started = Instant::now();
    let answer = exchange(
        &server,
        b"POST /heartbeat HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.200}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let health = reqwest::get(format!("{}/healthz", server.url))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_limit_is_configurable_and_says_when_to_retry() {
    let server = ServeProcess::start_with_env(
        tempfile::tempdir().unwrap(),
        &[("PULSEKEY_LOGIN_FAILURES_PER_ACCOUNT", "2")],
    )
    .await;
    let client = reqwest::Client::new();
    let attempt = |password: &'static str| {
        client
            .post(format!("{}/api/v1/auth/login", server.url))
            .json(&serde_json::json!({ "username": "admin", "password": password }))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attempt("wrong-password").await.unwrap().status(), 401);
    }
    // Locked now, even with the right password.
    let password = server.first_admin_password();
    let locked = client
        .post(format!("{}/api/v1/auth/login", server.url))
        .json(&serde_json::json!({ "username": "admin", "password": password }))
        .send()
        .await
        .unwrap();
    crate::util::assert_retry_after(locked, 15 * 60).await;
}
