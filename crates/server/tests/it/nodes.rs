//! Two real `pulsekey serve` processes sharing one PostgreSQL database, as behind a load
//! balancer: what one node changes decides the other's next answer, and both sweep expiries
//! without getting in each other's way.

use pulsekey_types::{Role, ServerView, UserView};
use serde_json::json;

use crate::util::serve::{Api, ServeProcess};
use crate::util::test_app::temp_pg_database;

// Test-only secrets, shared by both nodes as the README requires.
const SHARED_SECRETS: [(&str, &str); 3] = [
    (
        "PULSEKEY_JWT_SECRET",
        "two-nodes-test-jwt-secret-of-enough-bytes",
    ),
    (
        "PULSEKEY_DATA_KEY",
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    ),
    (
        "PULSEKEY_SIGNING_KEY",
        "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
    ),
];

struct Node {
    process: ServeProcess,
    api: Api,
}

impl std::ops::Deref for Node {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

async fn start_node(database_url: &str, password: Option<&str>) -> Node {
    let mut env = SHARED_SECRETS.to_vec();
    env.extend([
        ("DATABASE_URL", database_url),
        ("PULSEKEY_EXPIRY_SWEEP_SECS", "1"),
    ]);
    let process = ServeProcess::start_with_env(tempfile::tempdir().unwrap(), &env).await;
    // The first node to start creates the admin and prints its password.
    let password = password.map_or_else(|| process.first_admin_password(), str::to_owned);
    let api = Api::sign_in(&process, "admin", &password).await;
    Node { process, api }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_agree_at_the_next_request() {
    let database = temp_pg_database();
    let a = start_node(&database.url, None).await;
    let b = start_node(&database.url, Some(&a.process.first_admin_password())).await;

    let customer: UserView = a
        .post(
            "/api/v1/users",
            json!({ "username": "acme", "email": "ops@acme.test", "password": "correct horse battery", "role": Role::Customer }),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut servers = Vec::new();
    for name in ["acme-1", "acme-2", "acme-3"] {
        let created = b
            .post(
                "/api/v1/servers",
                json!({ "ownerId": customer.id, "name": name }),
            )
            .await;
        assert_eq!(created.status(), 201);
        servers.push(created.json::<ServerView>().await.unwrap().id);
    }

    // Regenerate on A: the old key is refused by B at its very next request.
    let old_key = a.reveal(servers[0]).await;
    assert_eq!(b.heartbeat(&old_key).await, (200, Some("ACTIVE".into())));
    let regenerated = a
        .post(
            &format!("/api/v1/servers/{}/license/regenerate", servers[0]),
            json!({}),
        )
        .await;
    assert_eq!(regenerated.status(), 200);
    assert_eq!(b.heartbeat(&old_key).await.0, 401);
    let new_key = b.reveal(servers[0]).await;
    assert_eq!(b.heartbeat(&new_key).await, (200, Some("ACTIVE".into())));
    assert_eq!(a.heartbeat(&new_key).await, (200, Some("ACTIVE".into())));

    // Revoke everything on B, then let every grace window end at once: both nodes' sweeps
    // race to store EXPIRED, and neither may fail or leave a row behind.
    for server in &servers {
        let revoked = b
            .post(
                &format!("/api/v1/servers/{server}/license/revoke"),
                json!({ "graceDays": 1 }),
            )
            .await;
        assert_eq!(revoked.status(), 200);
    }
    assert_eq!(a.heartbeat(&new_key).await, (200, Some("GRACE".into())));
    let db = pulsekey_db::Db::open(&database.url, 2).unwrap();
    let mut conn = db.conn().unwrap();
    pulsekey_db::testing::execute(
        &mut conn,
        // Stored timestamps are UTC without a zone, whatever the session's zone is.
        "UPDATE servers SET grace_expires_at = (now() AT TIME ZONE 'UTC') - interval '1 minute'",
    )
    .unwrap();
    let mut stored = Vec::new();
    for _ in 0..50 {
        stored = servers
            .iter()
            .map(|id| {
                pulsekey_db::servers::find(&mut conn, *id)
                    .unwrap()
                    .license_status
            })
            .collect();
        if stored.iter().all(|status| status == "EXPIRED") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(stored, ["EXPIRED"; 3]);
    assert_eq!(a.heartbeat(&new_key).await, (200, Some("EXPIRED".into())));
    assert_eq!(b.heartbeat(&new_key).await, (200, Some("EXPIRED".into())));

    // Both swept, every second, and neither hit a conflict.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for node in [&a, &b] {
        let output = node.process.output();
        assert!(output.contains("expiry sweep"), "{output}");
        assert!(
            !output.contains("sweep failed") && !output.contains("did not run"),
            "{output}"
        );
        assert!(!output.contains("ERROR"), "{output}");
    }
}
