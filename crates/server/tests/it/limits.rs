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

/// The status line and the JSON error of a raw answer; fails unless it has the JSON shape.
fn json_error(answer: &str) -> (String, ErrorCode) {
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {answer:.200}"));
    assert!(
        head.lines()
            .any(|l| l.eq_ignore_ascii_case("content-type: application/json")),
        "{head}"
    );
    let declared: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap_or_else(|| panic!("no length in {head}"))
        .parse()
        .unwrap();
    assert_eq!(declared, body.len(), "{answer:.400}");
    let error: ErrorBody = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(!error.message.is_empty());
    (
        head.lines().next().unwrap_or_default().to_owned(),
        error.error,
    )
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
    assert_eq!(json_error(&answer).1, ErrorCode::HeadersTooLarge);
    // Requests the HTTP layer cannot parse get the same JSON shape as every other refusal.
    for unparsable in [
        &b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"[..],
        b"POST /heartbeat HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
        b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
    ] {
        let answer = exchange(&server, unparsable, Duration::from_secs(5));
        assert_eq!(
            json_error(&answer),
            ("HTTP/1.1 400 Bad Request".to_owned(), ErrorCode::BadRequest),
            "{}",
            String::from_utf8_lossy(unparsable)
        );
    }

    // Headers that never finish: answered 408 once the configured second is up.
    let started = Instant::now();
    let answer = exchange(
        &server,
        b"POST /heartbeat HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.200}");
    assert_eq!(json_error(&answer).1, ErrorCode::RequestTimeout);
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

/// The attack that took the server down: from one address, hundreds of requests whose
/// headers complete and whose bodies then trickle in a byte a second, against a server
/// whose descriptor limit is lower than their number. Heartbeats from another address must
/// keep being answered at once throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_from_one_address_do_not_reach_heartbeats_from_others() {
    let data_dir = tempfile::tempdir().unwrap();
    let (_, keys) = crate::util::serve::seed(data_dir.path(), 1);
    let server = ServeProcess::start_with_descriptor_limit(
        data_dir,
        &[
            ("PULSEKEY_REQUEST_TIMEOUT_SECS", "2"),
            ("PULSEKEY_MAX_CONNECTIONS_PER_ADDRESS", "32"),
            ("RUST_LOG", "info"),
        ],
        256,
    )
    .await;
    // A new connection for every heartbeat, as a proxy that calls once a minute makes.
    let probe = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 1]))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let heartbeat = || {
        probe
            .post(format!("{}/heartbeat", server.url))
            .bearer_auth(&keys[0])
            .json(&serde_json::json!({ "version": "1.0.0" }))
            .send()
    };
    assert_eq!(heartbeat().await.unwrap().status(), 200);

    // 400 slow clients from 127.0.0.2, each reconnecting as soon as it is closed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let turned_away = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let target: std::net::SocketAddr = address(&server).parse().unwrap();
    let mut attackers = Vec::new();
    for _ in 0..400 {
        let (stop, turned_away) = (stop.clone(), turned_away.clone());
        attackers.push(tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
                let Ok(mut stream) = socket.connect(target).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let headers = "POST /heartbeat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                               Authorization: Bearer pk_slow\r\nContent-Length: 16000\r\n\r\n";
                if stream.write_all(headers.as_bytes()).await.is_err() {
                    continue;
                }
                let mut buf = [0u8; 512];
                loop {
                    tokio::select! {
                        read = stream.read(&mut buf) => {
                            // An answer (429, 408) or a close: this slot is gone.
                            if read.is_ok_and(|n| n > 0) {
                                turned_away.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            // Back a second later, as a slow client that wants to hold on.
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {
                            if stop.load(std::sync::atomic::Ordering::Relaxed)
                                || stream.write_all(b" ").await.is_err()
                            {
                                break;
                            }
                        }
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut slowest = Duration::ZERO;
    let mut failures = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        match tokio::time::timeout(Duration::from_secs(5), heartbeat()).await {
            Ok(Ok(response)) if response.status() == 200 => {}
            Ok(Ok(response)) => failures.push(format!("answered {}", response.status())),
            Ok(Err(err)) => failures.push(format!("failed: {err}")),
            Err(_) => failures.push("timed out after 5 s".to_owned()),
        }
        slowest = slowest.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for attacker in attackers {
        let _ = attacker.await;
    }
    let log = server.output();
    let tail: String = log.lines().rev().take(40).collect::<Vec<_>>().join("\n");
    assert!(
        failures.is_empty() && slowest < Duration::from_millis(500),
        "heartbeats from another address under the attack: slowest {slowest:?}, {failures:?}, {} turned away, {} answered 429, {} answered 408\n{tail}",
        turned_away.load(std::sync::atomic::Ordering::Relaxed),
        log.matches("status=429").count(),
        log.matches("status=408").count()
    );
    assert!(
        turned_away.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no slow client was ever turned away"
    );
    let log = server.output();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("connection limits"), "{log}");
}

/// Behind a trusted proxy every client shares the proxy's connections: there the cap is on
/// each client's requests in progress, by its X-Forwarded-For address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_client_gets_its_own_share() {
    let app = crate::util::test_app::TestApp::builder()
        .behind_proxy_with_requests_per_client(2)
        .spawn(false)
        .await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    // Two slow bodies for 198.51.100.7 hold its two places.
    let slow: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream
                .write_all(
                    b"POST /heartbeat HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.100.7\r\n\
                      Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
                )
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let heartbeat = |client: &'static str| {
        app.client
            .post(app.at("/heartbeat"))
            .header("x-forwarded-for", client)
            .bearer_auth("pk_unknown")
            .json(&serde_json::json!({ "version": "1" }))
            .send()
    };
    let third = heartbeat("198.51.100.7").await.unwrap();
    assert_eq!(third.status(), 429);
    assert_eq!(third.headers()["connection"], "close");
    // Another client behind the same proxy is not affected.
    assert_eq!(heartbeat("203.0.113.5").await.unwrap().status(), 401);
    drop(slow);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(heartbeat("198.51.100.7").await.unwrap().status(), 401);
}
