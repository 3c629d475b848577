//! Heartbeat bookkeeping waits in memory between flushes; stopping must not lose it.

use crate::util::serve::{ServeProcess, seed};

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

    let db = pulsekey_db::Db::open(
        server
            .data_dir
            .path()
            .join("pulsekey.sqlite3")
            .to_str()
            .unwrap(),
        1,
    )
    .unwrap();
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
