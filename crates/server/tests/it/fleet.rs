//! `/api/v1/fleet` and its history, and the events only the fleet job or an old key make:
//! `went_offline`, `came_online`, `old_key_used`.

use std::time::{Duration as StdDuration, Instant};

use pulsekey_types::{
    FleetHistory, FleetSummary, LicenseCounts, Role, ServerEvent, ServerEventPage,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::servers::heard_from;
use crate::util::test_app::TestApp;

async fn fleet(app: &TestApp, admin: &str) -> FleetSummary {
    let answer = app.get("/api/v1/fleet", admin).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

async fn events(app: &TestApp, admin: &str, server: i64) -> Vec<ServerEvent> {
    let page: ServerEventPage = app
        .get(&format!("/api/v1/servers/{server}/events"), admin)
        .await
        .json()
        .await
        .unwrap();
    page.items
}

/// Polls `check` every 50 ms until it gives `Some`, for at most `secs`.
async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + StdDuration::from_secs(secs);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
}

fn kinds(events: &[ServerEvent]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

async fn counts_statuses_now_and_connections_by_sample(postgres: bool) {
    let app = TestApp::builder()
        .fleet_sample_secs(1)
        .spawn(postgres)
        .await;
    let admin = app.admin_token().await;
    let acme = app.create_user("acme", Role::Customer).await;
    let server = |name: &'static str| app.create_server(&admin, acme.id, name);
    let (online, graced, ended, never, late, gone) = (
        server("online").await,
        server("graced").await,
        server("ended").await,
        server("never").await,
        server("late").await,
        server("gone").await,
    );
    let key = app.reveal(&admin, online).await;
    assert_eq!(app.heartbeat(&key).await.status(), 200);
    heard_from(&app, late, 5 * 60, "1.3.0").await;
    heard_from(&app, gone, 60 * 60, "1.3.0").await;
    // A flush that lands just after its server was deleted leaves a stray row: no news, not
    // counted, and the sampler removes it.
    heard_from(&app, 999_999, 60 * 60, "0.1").await;
    for revoked in [graced, ended] {
        let r = app
            .post(
                &format!("/api/v1/servers/{revoked}/license/revoke"),
                &admin,
                json!({ "graceDays": 3 }),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    // A grace window that has ended counts as EXPIRED before the sweep stores it.
    app.sql(&format!(
        "UPDATE servers SET grace_expires_at = '2026-01-01 00:00:00' WHERE id = {ended}"
    ))
    .await;

    let summary = wait_for(10, "a sample with the online heartbeat", || async {
        let summary = fleet(&app, &admin).await;
        (summary.connections.online == 1).then_some(summary)
    })
    .await;
    assert_eq!(
        summary.licenses,
        LicenseCounts {
            active: 4,
            grace: 1,
            expired: 1
        }
    );
    let c = summary.connections;
    assert_eq!((c.online, c.late, c.offline, c.never), (1, 1, 1, 3));
    let versions: Vec<(&str, i64)> = summary
        .versions
        .iter()
        .map(|v| (v.version.as_str(), v.count))
        .collect();
    assert_eq!(versions, vec![("1.3.0", 2), ("1.4.2", 1)]);
    assert_eq!(summary.grace_ending_soon.len(), 1);
    let soon = &summary.grace_ending_soon[0];
    assert_eq!(
        (
            soon.server_id,
            soon.server_name.as_str(),
            soon.owner_username.as_str()
        ),
        (graced, "graced", "acme")
    );
    assert!(soon.grace_expires_at - OffsetDateTime::now_utc() > Duration::days(2));
    assert_eq!(summary.old_keys_in_use, 0);
    let sampled_at = summary.sampled_at.unwrap();
    assert!(OffsetDateTime::now_utc() - sampled_at < Duration::seconds(5));
    // The wire names are the contract's.
    let raw: serde_json::Value = app.get("/api/v1/fleet", &admin).await.json().await.unwrap();
    assert_eq!(
        raw["licenses"],
        json!({ "ACTIVE": 4, "GRACE": 1, "EXPIRED": 1 })
    );
    assert!(raw["graceEndingSoon"][0]["graceExpiresAt"].is_string());
    assert!(raw["oldKeysInUse"].is_number());

    // What an admin changes shows at once, without waiting for a sample.
    let r = app
        .post(
            &format!("/api/v1/servers/{ended}/license/reinstate"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        fleet(&app, &admin).await.licenses,
        LicenseCounts {
            active: 5,
            grace: 1,
            expired: 0
        }
    );

    // The installation silent for an hour went offline (once), after it came online.
    let gone_events = wait_for(5, "went_offline", || async {
        let e = events(&app, &admin, gone).await;
        (e.len() == 2).then_some(e)
    })
    .await;
    assert_eq!(kinds(&gone_events), vec!["went_offline", "came_online"]);
    let since = gone_events[0].at;
    let last = gone_events[1].at;
    assert_eq!(
        since - last,
        Duration::minutes(10) + Duration::microseconds(1)
    );
    assert!(gone_events[0].data["lastHeartbeatAt"].is_string());
    assert_eq!(
        kinds(&events(&app, &admin, never).await),
        Vec::<&str>::new()
    );
    let db = app.db.clone();
    let (stray_rows, stray_events) = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let mut q = |sql: &str| pulsekey_db::testing::query_number(&mut conn, sql).unwrap();
        (
            q("SELECT COUNT(*) AS n FROM server_heartbeats WHERE server_id = 999999"),
            q("SELECT COUNT(*) AS n FROM server_events WHERE server_id = 999999"),
        )
    })
    .await
    .unwrap();
    assert_eq!((stray_rows, stray_events), (0, 0));

    // History: samples, oldest first, one per period at most, the newest as counted.
    let history: FleetHistory = app
        .get("/api/v1/fleet/history", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        history.every_secs, 60,
        "a day of one-second samples is thinned to 1,440"
    );
    // One a minute, and the newest, so that a chart reaches the present.
    let (newest, thinned) = history.samples.split_last().unwrap();
    assert!(thinned.iter().all(|s| s.at.unix_timestamp() % 60 == 0));
    assert!(OffsetDateTime::now_utc() - newest.at < Duration::seconds(5));
    let now = OffsetDateTime::now_utc();
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let recent: FleetHistory = app
        .get(
            &format!(
                "/api/v1/fleet/history?from={}&to={}",
                fmt(now - Duration::minutes(5)),
                fmt(now + Duration::minutes(1))
            ),
            &admin,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recent.every_secs, 1);
    assert!(recent.samples.windows(2).all(|w| w[0].at < w[1].at));
    let newest = recent.samples.last().unwrap();
    assert_eq!(newest.connections.online, 1);
    assert_eq!(newest.versions.len(), 2);
    for bad in [
        "from=yesterday",
        "from=2026-12-03T10:00:00Z&to=2026-12-03T09:00:00Z",
        "to=2026-12-03T10:00:00Z&from=2026-12-03T10:00:00Z",
        // Valid RFC 3339, but past the year 9999 in UTC.
        "to=9999-12-31T23:00:00-05:00",
        "to=-9999-01-01T00:00:00Z",
    ] {
        let answer = app
            .get(&format!("/api/v1/fleet/history?{bad}"), &admin)
            .await;
        assert_eq!(answer.status(), 422, "{bad}");
    }
    // A customer sees none of it.
    let customer = app.login(&acme).await;
    assert_eq!(app.get("/api/v1/fleet", &customer).await.status(), 403);
    assert_eq!(
        app.get("/api/v1/fleet/history", &customer).await.status(),
        403
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_statuses_now_and_connections_by_sample_sqlite() {
    counts_statuses_now_and_connections_by_sample(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_statuses_now_and_connections_by_sample_postgres() {
    counts_statuses_now_and_connections_by_sample(true).await;
}

/// Two nodes sampling every second, heartbeats every second (offline after 10 s of
/// silence): one sample per second for the cluster, one event per transition.
async fn going_offline_and_back_is_one_event_each_on_two_nodes(postgres: bool) {
    let builder = TestApp::builder()
        .heartbeat_interval_secs(1)
        .fleet_sample_secs(1);
    let app = builder.spawn(postgres).await;
    let node_b = app.another_node().await;
    let admin = app.admin_token().await;
    let acme = app.create_user("acme", Role::Customer).await;
    let server = app.create_server(&admin, acme.id, "acme-prod").await;
    let key = app.reveal(&admin, server).await;
    let started = OffsetDateTime::now_utc();
    assert_eq!(app.heartbeat(&key).await.status(), 200);
    let last = app
        .card_after_flush(&admin, server)
        .await
        .last_heartbeat_at
        .unwrap();

    let went = wait_for(20, "went_offline", || async {
        let e = events(&app, &admin, server).await;
        e.iter().any(|e| e.kind == "went_offline").then_some(e)
    })
    .await;
    let noticed = OffsetDateTime::now_utc();
    assert_eq!(kinds(&went), vec!["went_offline", "came_online"]);
    assert_eq!(
        went[0].at,
        last + Duration::seconds(10) + Duration::microseconds(1)
    );
    // Within two sampling periods (and the poll) of the threshold.
    assert!(
        noticed - went[0].at < Duration::seconds(3),
        "{}",
        noticed - went[0].at
    );
    let card = app
        .get(&format!("/api/v1/servers/{server}/license"), &admin)
        .await;
    assert_eq!(
        card.json::<serde_json::Value>().await.unwrap()["connection"],
        "offline"
    );

    // Back, through node B.
    let answer = app
        .client
        .post(format!("{}/heartbeat", node_b.url))
        .bearer_auth(&key)
        .json(&json!({ "version": "1.4.2" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let back = wait_for(5, "came_online", || async {
        let e = events(&app, &admin, server).await;
        (e.len() == 3).then_some(e)
    })
    .await;
    assert_eq!(
        kinds(&back),
        vec!["came_online", "went_offline", "came_online"]
    );
    // The same instant as the went_offline, in RFC 3339 on both backends (to the ms).
    let offline_since = OffsetDateTime::parse(
        back[0].data["offlineSince"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!((offline_since - went[0].at).abs() < Duration::milliseconds(1));
    // Two more sampling periods on both nodes: still one event per transition.
    tokio::time::sleep(StdDuration::from_millis(2500)).await;
    assert_eq!(events(&app, &admin, server).await.len(), 3);

    // One finished sample per second for the whole cluster, none left half-taken.
    let db = app.db.clone();
    let (samples, unfinished) = tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        let mut q = |sql: &str| pulsekey_db::testing::query_number(&mut conn, sql).unwrap();
        (
            q("SELECT COUNT(*) AS n FROM fleet_samples WHERE versions IS NOT NULL"),
            // Slots are Unix seconds here (one sample a second).
            q(&format!(
                "SELECT COUNT(*) AS n FROM fleet_samples WHERE versions IS NULL AND slot < {}",
                OffsetDateTime::now_utc().unix_timestamp() - 3
            )),
        )
    })
    .await
    .unwrap();
    let elapsed = (OffsetDateTime::now_utc() - started).whole_seconds();
    assert!(
        samples >= elapsed - 3 && samples <= elapsed + 2,
        "{samples} samples in {elapsed} s"
    );
    assert_eq!(unfinished, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_offline_and_back_is_one_event_each_on_two_nodes_sqlite() {
    going_offline_and_back_is_one_event_each_on_two_nodes(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_offline_and_back_is_one_event_each_on_two_nodes_postgres() {
    going_offline_and_back_is_one_event_each_on_two_nodes(true).await;
}

async fn beat_from(base: &str, from: [u8; 4], key: &str) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap();
    client
        .post(format!("{base}/heartbeat"))
        .bearer_auth(key)
        .json(&json!({ "version": "1.4.2" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

both_backends! {
    async fn an_old_key_still_calling_is_an_event_of_its_server(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let other = app.create_server(&admin, acme.id, "acme-staging").await;
        let old_key = app.reveal(&admin, server).await;
        assert_eq!(beat_from(&app.url, [127, 0, 0, 1], &old_key).await, 200);
        let r = app.post(&format!("/api/v1/servers/{server}/license/regenerate"), &admin, json!({})).await;
        assert_eq!(r.status(), 200);

        // Refused as any wrong key is, but its server hears of it: when, from where, which.
        assert_eq!(beat_from(&app.url, [127, 0, 0, 2], &old_key).await, 401);
        let used = wait_for(5, "old_key_used", || async {
            let e = events(&app, &admin, server).await;
            e.into_iter().find(|e| e.kind == "old_key_used")
        })
        .await;
        assert_eq!(used.data["keyLast4"], old_key[old_key.len() - 4..]);
        assert_eq!(used.data["ip"], "127.0.0.2");
        assert!(OffsetDateTime::now_utc() - used.at < Duration::seconds(5));
        assert!(!serde_json::to_string(&used).unwrap().contains(&old_key));

        // Every minute it calls again; the node says so once an hour, not each time.
        for _ in 0..3 {
            assert_eq!(beat_from(&app.url, [127, 0, 0, 2], &old_key).await, 401);
        }
        // A node started after the regenerate knows the old key from the start.
        let node_b = app.another_node().await;
        assert_eq!(beat_from(&node_b.url, [127, 0, 0, 3], &old_key).await, 401);
        let all = wait_for(5, "node B's old_key_used", || async {
            let e = events(&app, &admin, server).await;
            let n = e.iter().filter(|e| e.kind == "old_key_used").count();
            (n == 2).then_some(e)
        })
        .await;
        assert_eq!(all[0].data["ip"], "127.0.0.3");
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        let olds = events(&app, &admin, server).await.into_iter().filter(|e| e.kind == "old_key_used").count();
        assert_eq!(olds, 2, "one report per node per hour");

        // A key nobody ever had stays anonymous; other servers hear nothing.
        let stranger = format!("{}{}", &old_key[..old_key.len() - 4], "zzzz");
        assert_eq!(beat_from(&app.url, [127, 0, 0, 2], &stranger).await, 401);
        tokio::time::sleep(StdDuration::from_millis(300)).await;
        assert!(events(&app, &admin, other).await.is_empty());
        let new_key = app.reveal(&admin, server).await;
        assert_eq!(beat_from(&app.url, [127, 0, 0, 1], &new_key).await, 200);
    }
}
