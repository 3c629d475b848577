//! Heartbeat bookkeeping waits in memory between flushes; stopping must not lose it.

use crate::util::serve::{ServeProcess, seed};

/// The SQLite database a stopped server left behind.
fn stopped_database(server: &ServeProcess) -> pulsekey_db::Db {
    let path = server.data_dir.path().join("pulsekey.sqlite3");
    pulsekey_db::Db::open(path.to_str().unwrap(), 1).unwrap()
}

#[tokio::test]
async fn sigterm_writes_the_heartbeats_still_waiting_in_memory() {
    let data_dir = tempfile::tempdir().unwrap();
    let (_, keys) = seed(data_dir.path(), 20);

    // A flush interval far longer than the test: only the shutdown flush can write these.
    let mut server =
        ServeProcess::start_with_env(data_dir, &[("PULSEKEY_HEARTBEAT_FLUSH_MS", "60000")]).await;
    let client = reqwest::Client::new();
    let beats = keys.iter().map(|key| {
        client
            .post(format!("{}/heartbeat", server.url))
            .bearer_auth(key)
            .json(&serde_json::json!({ "version": "9.9.9" }))
            .send()
    });
    for answer in futures_util::future::join_all(beats).await {
        assert_eq!(answer.unwrap().status(), 200);
    }
    let status = server.terminate();
    assert!(status.success(), "{status}: {}", server.output());

    let db = stopped_database(&server);
    let mut conn = db.conn().unwrap();
    for id in 1..=20 {
        let row = pulsekey_db::servers::find(&mut conn, id).unwrap();
        let heartbeat = row
            .heartbeat
            .unwrap_or_else(|| panic!("server {id} lost its heartbeat"));
        assert_eq!(heartbeat.installed_version, "9.9.9");
        assert_eq!(heartbeat.last_heartbeat_ip.as_deref(), Some("127.0.0.1"));
    }
}

// SIGTERM in the middle of a load: requests in flight are answered, and every heartbeat that
// was answered 200 is on disk after the exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_keeps_every_answered_heartbeat() {
    let data_dir = tempfile::tempdir().unwrap();
    let (_, keys) = seed(data_dir.path(), 200);
    let mut server = ServeProcess::start_with_env(
        data_dir,
        &[
            ("PULSEKEY_HEARTBEAT_FLUSH_MS", "60000"),
            ("PULSEKEY_HEARTBEATS_PER_KEY_PER_MINUTE", "0"),
        ],
    )
    .await;
    let url = format!("{}/heartbeat", server.url);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = keys
        .chunks(25)
        .map(|chunk| {
            let (chunk, url, stop) = (chunk.to_vec(), url.clone(), stop.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut answered = Vec::new();
                'load: while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for (index, key) in chunk.iter().enumerate() {
                        let sent = client
                            .post(&url)
                            .bearer_auth(key)
                            .json(&serde_json::json!({ "version": "7.0" }))
                            .send()
                            .await;
                        match sent {
                            Ok(response) => {
                                assert_eq!(response.status(), 200);
                                answered.push(index);
                            }
                            // Refused once the server stopped listening.
                            Err(_) => break 'load,
                        }
                    }
                }
                (chunk, answered)
            })
        })
        .collect();
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let status = tokio::task::block_in_place(|| server.terminate());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(status.success(), "{status}: {}", server.output());

    let mut answered_keys = std::collections::BTreeSet::new();
    for worker in workers {
        let (chunk, answered) = worker.await.unwrap();
        answered_keys.extend(answered.into_iter().map(|index| chunk[index].clone()));
    }
    assert!(
        answered_keys.len() > 20,
        "the load barely ran: {}",
        answered_keys.len()
    );
    let db = stopped_database(&server);
    let mut conn = db.conn().unwrap();
    for key in &answered_keys {
        let hash = pulsekey_core::keys::LicenseKey::parse(key).unwrap().hash();
        let row = pulsekey_db::servers::find_by_key_hash(&mut conn, &hash)
            .unwrap()
            .unwrap();
        let row = pulsekey_db::servers::find(&mut conn, row.id).unwrap();
        let heartbeat = row
            .heartbeat
            .unwrap_or_else(|| panic!("server {} lost its heartbeat", row.id));
        assert_eq!(heartbeat.installed_version, "7.0");
    }
}
