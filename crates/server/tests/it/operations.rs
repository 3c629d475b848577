//! The operator commands against real `pulsekey serve` processes: backup while serving and
//! restore, SQLite → PostgreSQL migration with counts and checksums compared, data-key
//! rotation with reveals still working.

use std::process::Output;

use serde_json::{Value, json};

use crate::util::serve::{Api, ServeProcess, pulsekey, seed};
use crate::util::test_app::temp_pg_database;

fn run(data_dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    pulsekey(data_dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn succeeded(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn failed_with(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} in {stderr}"
    );
}

/// Stops the server with SIGTERM and hands back its data directory.
fn stop(mut server: ServeProcess) -> tempfile::TempDir {
    assert!(server.terminate().success());
    std::mem::replace(&mut server.data_dir, tempfile::tempdir().unwrap())
}

async fn admin(server: &ServeProcess, password: &str) -> Api {
    Api::sign_in(server, "admin", password).await
}

async fn audit_actions(api: &Api) -> Vec<String> {
    let page: Value = api
        .get("/api/v1/audit-log?limit=200")
        .await
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_serving_restores_exactly_that_moment() {
    let server = ServeProcess::start(tempfile::tempdir().unwrap()).await;
    let password = server.first_admin_password();
    let api = admin(&server, &password).await;
    let (_, kept) = api.customer_with_server("acme").await;
    let key = api.reveal(kept).await;

    let backup = server.data_dir.path().join("backup.sqlite3");
    let out = succeeded(&run(
        server.data_dir.path(),
        &["backup", "--out", backup.to_str().unwrap()],
        &[],
    ));
    assert!(out.contains("backed up to"), "{out}");
    // Never over an existing file.
    failed_with(
        &run(
            server.data_dir.path(),
            &["backup", "--out", backup.to_str().unwrap()],
            &[],
        ),
        "already exists",
    );
    let (_, later) = api.customer_with_server("globex").await;
    // Not under a live server: what it writes meanwhile would be lost.
    for args in [
        &["restore", "--from", backup.to_str().unwrap()][..],
        &["keys", "rotate-data-key"][..],
    ] {
        failed_with(
            &run(server.data_dir.path(), args, &[]),
            "a pulsekey server is running",
        );
    }

    let data_dir = stop(server);
    // A file that is not a database changes nothing.
    let junk = data_dir.path().join("junk");
    std::fs::write(&junk, b"not a database").unwrap();
    failed_with(
        &run(
            data_dir.path(),
            &["restore", "--from", junk.to_str().unwrap()],
            &[],
        ),
        "not an intact pulsekey database",
    );
    let out = succeeded(&run(
        data_dir.path(),
        &["restore", "--from", backup.to_str().unwrap()],
        &[],
    ));
    assert!(out.contains("kept as"), "{out}");

    let server = ServeProcess::start(data_dir).await;
    let api = admin(&server, &password).await;
    assert_eq!(api.reveal(kept).await, key);
    assert_eq!(api.heartbeat(&key).await, (200, Some("ACTIVE".into())));
    assert_eq!(
        api.get(&format!("/api/v1/servers/{later}")).await.status(),
        404
    );
    let actions = audit_actions(&api).await;
    assert!(actions.contains(&"server.create".to_owned()), "{actions:?}");
    assert_eq!(
        actions.iter().filter(|a| *a == "server.create").count(),
        1,
        "{actions:?}"
    );
    // The replaced database was moved aside, not deleted.
    let aside = std::fs::read_dir(server.data_dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("pulsekey.sqlite3.before-restore-")
        });
    assert!(aside);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_postgres_copies_everything_and_the_copy_serves() {
    let data_dir = tempfile::tempdir().unwrap();
    let (_, keys) = seed(data_dir.path(), 40);
    let server = ServeProcess::start(data_dir).await;
    let password = server.first_admin_password();
    let api = admin(&server, &password).await;
    // An endpoint (a public address no one answers at) and the deliveries the actions
    // below queue for it.
    let r = api
        .post(
            "/api/v1/webhooks",
            json!({ "url": "https://192.0.43.10/hooks/pulsekey", "events": "all" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (_, revoked) = api.customer_with_server("acme").await;
    let r = api
        .post(
            &format!("/api/v1/servers/{revoked}/license/revoke"),
            json!({ "graceDays": 3 }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let (_, regenerated) = api.customer_with_server("globex").await;
    let r = api
        .post(
            &format!("/api/v1/servers/{regenerated}/license/regenerate"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(api.heartbeat(&keys[7]).await.0, 200);
    let data_dir = stop(server);

    let database = temp_pg_database();
    let out = succeeded(&run(
        data_dir.path(),
        &["migrate-to", "--database-url", &database.url],
        &[],
    ));
    assert!(out.contains("copied and verified"), "{out}");

    // Counted and checksummed again here, independently of the command's own check.
    let source = pulsekey_db::Db::open(
        &data_dir
            .path()
            .join("pulsekey.sqlite3")
            .display()
            .to_string(),
        1,
    )
    .unwrap();
    let target = pulsekey_db::Db::open(&database.url, 1).unwrap();
    let expected = pulsekey_db::copy::summarize(&mut source.conn().unwrap()).unwrap();
    let copied = pulsekey_db::copy::summarize(&mut target.conn().unwrap()).unwrap();
    assert_eq!(expected, copied);
    let rows = |table: &str| expected.iter().find(|s| s.table == table).unwrap().rows;
    assert_eq!(rows("servers"), 42);
    assert!(
        rows("audit_log") >= 4 && rows("server_heartbeats") >= 1,
        "{expected:?}"
    );
    assert_eq!(
        (rows("webhooks"), rows("webhook_deliveries")),
        (1, 4),
        "{expected:?}"
    );
    // The first heartbeat's `came_online` is copied once, not written again by a trigger.
    assert_eq!(
        rows("server_events"),
        rows("server_heartbeats"),
        "{expected:?}"
    );
    assert_eq!(rows("retired_keys"), 1, "{expected:?}");
    assert!(rows("fleet_samples") >= 1, "{expected:?}");

    // Only into PostgreSQL, and a mistyped URL creates nothing.
    failed_with(
        &run(
            data_dir.path(),
            &["migrate-to", "--database-url", "pulsekey.db"],
            &[],
        ),
        "must be a postgres:// URL",
    );
    assert!(!data_dir.path().join("pulsekey.db").exists());
    // A second run never mixes two databases.
    failed_with(
        &run(
            data_dir.path(),
            &["migrate-to", "--database-url", &database.url],
            &[],
        ),
        "not empty",
    );

    // The same data directory (its secrets) on PostgreSQL: same admin, same keys, same
    // statuses, and new rows get new ids.
    let server = ServeProcess::start_with_env(data_dir, &[("DATABASE_URL", &database.url)]).await;
    let api = admin(&server, &password).await;
    assert_eq!(api.heartbeat(&keys[0]).await, (200, Some("ACTIVE".into())));
    let revoked_key = api.reveal(revoked).await;
    assert_eq!(
        api.heartbeat(&revoked_key).await,
        (200, Some("GRACE".into()))
    );
    let (_, fresh) = api.customer_with_server("initech").await;
    assert!(fresh > revoked, "{fresh} should follow {revoked}");
    assert!(
        audit_actions(&api)
            .await
            .contains(&"server.license.revoke".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_data_key_keeps_every_key_revealable() {
    let server = ServeProcess::start(tempfile::tempdir().unwrap()).await;
    let password = server.first_admin_password();
    let api = admin(&server, &password).await;
    let (_, first) = api.customer_with_server("acme").await;
    let (_, second) = api.customer_with_server("globex").await;
    let keys = [api.reveal(first).await, api.reveal(second).await];
    let data_dir = stop(server);
    let key_file = data_dir.path().join("data-key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    // A leftover from a rotation that never committed is cleaned up, nothing else.
    std::fs::write(
        data_dir.path().join("data-key.next"),
        "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
    )
    .unwrap();
    failed_with(
        &run(data_dir.path(), &["serve", "--bind", "127.0.0.1:0"], &[]),
        "rotation was interrupted",
    );
    let out = succeeded(&run(data_dir.path(), &["keys", "rotate-data-key"], &[]));
    assert!(out.contains("had not committed"), "{out}");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), old_key);

    let out = succeeded(&run(data_dir.path(), &["keys", "rotate-data-key"], &[]));
    assert!(out.contains("re-encrypted 2 license keys"), "{out}");
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert!(
        !out.contains(new_key.trim()),
        "a key in a file is not printed"
    );

    let server = ServeProcess::start(data_dir).await;
    let api = admin(&server, &password).await;
    assert_eq!([api.reveal(first).await, api.reveal(second).await], keys);
    assert_eq!(api.heartbeat(&keys[1]).await, (200, Some("ACTIVE".into())));
    assert!(
        audit_actions(&api)
            .await
            .contains(&"data_key.rotate".to_owned())
    );
    let data_dir = stop(server);

    // With the key in the environment: the new one comes from stdin and goes to every
    // node's environment; the old one no longer opens anything.
    use std::io::Write as _;
    let env_key = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=";
    let mut child = pulsekey(data_dir.path())
        .args(["keys", "rotate-data-key", "--new-key-stdin"])
        .env("PULSEKEY_DATA_KEY", new_key.trim())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{env_key}").unwrap();
    let out = succeeded(&child.wait_with_output().unwrap());
    assert!(out.contains("set PULSEKEY_DATA_KEY"), "{out}");
    assert!(!out.contains(env_key));
    let server = ServeProcess::start_with_env(data_dir, &[("PULSEKEY_DATA_KEY", env_key)]).await;
    let api = admin(&server, &password).await;
    assert_eq!(api.reveal(first).await, keys[0]);
}

// The JWT secret signs sessions only: changing it signs everybody out, and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_jwt_secret_ends_every_session_and_nothing_else() {
    let old_secret = [(
        "PULSEKEY_JWT_SECRET",
        "first-jwt-secret-for-this-test-0123456789",
    )];
    let server = ServeProcess::start_with_env(tempfile::tempdir().unwrap(), &old_secret).await;
    let password = server.first_admin_password();
    let api = admin(&server, &password).await;
    let (_, licensed) = api.customer_with_server("acme").await;
    let key = api.reveal(licensed).await;
    let data_dir = stop(server);

    let new_secret = [(
        "PULSEKEY_JWT_SECRET",
        "second-jwt-secret-for-this-test-987654321",
    )];
    let server = ServeProcess::start_with_env(data_dir, &new_secret).await;
    let stale = Api {
        url: server.url.clone(),
        ..api
    };
    assert_eq!(stale.get("/api/v1/auth/me").await.status(), 401);
    let api = admin(&server, &password).await;
    assert_eq!(api.get("/api/v1/auth/me").await.status(), 200);
    assert_eq!(api.reveal(licensed).await, key);
    assert_eq!(api.heartbeat(&key).await, (200, Some("ACTIVE".into())));
}
