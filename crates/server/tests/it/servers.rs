//! `/api/v1/servers`: the list across customers; `/api/v1/servers/{id}`: renaming and
//! deleting an installation.

use pulsekey_types::{ErrorBody, ErrorCode, Role, ServerPage, ServerView};
use serde_json::json;
use time::{Duration, OffsetDateTime};

use crate::util::test_app::TestApp;

/// A heartbeat to `base` from the address `from`, reporting `version`.
async fn beat_from(base: &str, from: [u8; 4], key: &str, version: &str) {
    let client = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(from))
        .build()
        .unwrap();
    let answer = client
        .post(format!("{base}/heartbeat"))
        .bearer_auth(key)
        .json(&json!({ "version": version }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
}

async fn events_of(
    app: &TestApp,
    admin: &str,
    server: i64,
    query: &str,
) -> pulsekey_types::ServerEventPage {
    let answer = app
        .get(&format!("/api/v1/servers/{server}/events{query}"), admin)
        .await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

/// Waits until the card shows what a flush of `version` from `ip` writes.
async fn flushed(app: &TestApp, admin: &str, server: i64, version: &str, ip: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let card: pulsekey_types::LicenseView = app
            .get(&format!("/api/v1/servers/{server}/license"), admin)
            .await
            .json()
            .await
            .unwrap();
        if (
            card.installed_version.as_deref(),
            card.last_heartbeat_ip.as_deref(),
        ) == (Some(version), Some(ip))
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never flushed: {card:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every page of `query`, followed cursor by cursor with `limit`, as (name) in order.
async fn all_pages(app: &TestApp, admin: &str, query: &str, limit: u32) -> Vec<String> {
    let mut totals = Vec::new();
    let mut names = Vec::new();
    let mut cursor = String::new();
    for _ in 0..50 {
        let path = format!("/api/v1/servers?limit={limit}&{query}&cursor={cursor}");
        let answer = app.get(&path, admin).await;
        assert_eq!(answer.status(), 200, "{path}");
        let page: ServerPage = answer.json().await.unwrap();
        assert!(page.items.len() <= limit as usize);
        totals.push((page.total, page.total_capped));
        names.extend(page.items.into_iter().map(|s| s.name));
        match page.next_cursor {
            Some(next) => cursor = next,
            None => {
                // Every page states the total of them all.
                assert!(
                    totals.iter().all(|t| *t == (names.len() as u64, false)),
                    "{query}: {totals:?} for {} servers",
                    names.len()
                );
                return names;
            }
        }
    }
    panic!("more than 50 pages for {query}");
}

/// Writes a last heartbeat `secs_ago` seconds back, as a node's flush would.
pub async fn heard_from(app: &TestApp, server: i64, secs_ago: i64, version: &str) {
    // Whole milliseconds written with six digits: trailing zeros diesel itself never writes,
    // as a hand edit or another tool might.
    let at = OffsetDateTime::now_utc() - Duration::seconds(secs_ago);
    let at = at
        .replace_microsecond(at.millisecond() as u32 * 1000)
        .unwrap();
    let at = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.microsecond()
    );
    app.sql(&format!(
        "INSERT INTO server_heartbeats (server_id, last_heartbeat_at, installed_version, last_heartbeat_ip) \
         VALUES ({server}, '{at}', '{version}', '203.0.113.7')"
    ))
    .await;
}

both_backends! {
    async fn the_list_filters_sorts_and_pages_across_customers(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let globex = app.create_user("Globex", Role::Customer).await;
        // name, owner, seconds since the last heartbeat (None: never), version
        let fleet = [
            ("acme-prod", acme.id, Some(30), "2.0"),
            ("acme-staging", acme.id, Some(300), "1.9"),
            ("acme_lab", acme.id, None, ""),
            ("globex-eu", globex.id, Some(3_000), "2.0"),
            ("globex-us", globex.id, Some(90), "2.0"),
            ("Zeta 100%", globex.id, None, ""),
        ];
        let mut ids = std::collections::HashMap::new();
        for (name, owner, ago, version) in fleet {
            let id = app.create_server(&admin, owner, name).await;
            if let Some(ago) = ago {
                heard_from(&app, id, ago, version).await;
            }
            ids.insert(name, id);
        }
        // acme-staging in GRACE; globex-eu's grace window ended but the sweep has not run.
        app.post(&format!("/api/v1/servers/{}/license/revoke", ids["acme-staging"]), &admin, json!({ "graceDays": 3 })).await;
        app.post(&format!("/api/v1/servers/{}/license/revoke", ids["globex-eu"]), &admin, json!({ "graceDays": 3 })).await;
        app.sql(&format!("UPDATE servers SET grace_expires_at = '2020-01-01 00:00:00' WHERE id = {}", ids["globex-eu"])).await;

        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let by_id = all_pages(&app, &admin, "", 2).await;
        assert_eq!(by_id, names(&["Zeta 100%", "globex-us", "globex-eu", "acme_lab", "acme-staging", "acme-prod"]));
        let by_name = all_pages(&app, &admin, "sort=name", 4).await;
        assert_eq!(by_name, names(&["Zeta 100%", "acme-prod", "acme-staging", "acme_lab", "globex-eu", "globex-us"]));
        let by_heartbeat = all_pages(&app, &admin, "sort=lastHeartbeatAt", 1).await;
        assert_eq!(by_heartbeat, names(&["acme-prod", "globex-us", "acme-staging", "globex-eu", "Zeta 100%", "acme_lab"]));

        for (query, expected) in [
            ("status=ACTIVE", vec!["Zeta 100%", "globex-us", "acme_lab", "acme-prod"]),
            ("status=GRACE", vec!["acme-staging"]),
            ("status=EXPIRED", vec!["globex-eu"]),
            ("connection=online", vec!["globex-us", "acme-prod"]),
            ("connection=late", vec!["acme-staging"]),
            ("connection=offline", vec!["globex-eu"]),
            ("connection=never", vec!["Zeta 100%", "acme_lab"]),
            ("version=2.0", vec!["globex-us", "globex-eu", "acme-prod"]),
            (&format!("ownerId={}", globex.id), vec!["Zeta 100%", "globex-us", "globex-eu"]),
            ("q=GLOBEX", vec!["Zeta 100%", "globex-us", "globex-eu"]),
            ("q=staging", vec!["acme-staging"]),
            // LIKE's wildcards are taken literally.
            ("q=_", vec!["acme_lab"]),
            ("q=%25", vec!["Zeta 100%"]),
            // Filters combine.
            ("version=2.0&connection=online&q=acme", vec!["acme-prod"]),
            ("status=ACTIVE&connection=never&sort=name", vec!["Zeta 100%", "acme_lab"]),
            ("status=GRACE&ownerId=999999", vec![]),
        ] {
            assert_eq!(all_pages(&app, &admin, query, 2).await, names(&expected), "{query}");
        }

        let page: ServerPage = app.get("/api/v1/servers?q=acme-prod", &admin).await.json().await.unwrap();
        let item = &page.items[0];
        assert_eq!((item.owner_id, item.owner_username.as_str()), (acme.id, "acme"));
        assert_eq!(item.license.installed_version.as_deref(), Some("2.0"));
        assert_eq!(item.license.connection, pulsekey_types::Connection::Online);
        assert!(item.license.key_masked.starts_with("pk_•"));
        let text = serde_json::to_string(&page).unwrap();
        let key = app.reveal(&admin, ids["acme-prod"]).await;
        assert!(!text.contains(&key));

        // A GRACE without an end (a hand edit) is EXPIRED, as its verdict is.
        app.sql(&format!("UPDATE servers SET grace_expires_at = NULL WHERE id = {}", ids["acme-staging"])).await;
        assert_eq!(all_pages(&app, &admin, "status=EXPIRED", 2).await, names(&["globex-eu", "acme-staging"]));
        assert!(all_pages(&app, &admin, "status=GRACE", 2).await.is_empty());

        // Bad queries: a clear 4xx each.
        let name_cursor = app.get("/api/v1/servers?sort=name&limit=1", &admin).await.json::<ServerPage>().await.unwrap().next_cursor.unwrap();
        for (query, status) in [
            ("status=active", 400),
            ("connection=sometimes", 400),
            ("sort=owner", 400),
            ("ownerId=abc", 400),
            ("limit=0", 422),
            ("limit=201", 422),
            ("cursor=banana", 422),
            ("q=a%00b", 422),
            ("version=a%00b", 422),
            (&format!("cursor={name_cursor}"), 422),
            (&format!("sort=lastHeartbeatAt&cursor={name_cursor}"), 422),
        ] {
            let answer = app.get(&format!("/api/v1/servers?{query}"), &admin).await;
            assert_eq!(answer.status(), status, "{query}");
            assert!(answer.json::<ErrorBody>().await.is_ok(), "{query}");
        }
    }

    async fn search_follows_renames_and_deletes_and_pages_past_many_matches(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let prod = app.create_server(&admin, acme.id, "acme-prod").await;
        let lab = app.create_server(&admin, acme.id, "acme-lab").await;
        // 600 more, more than one batch of the search index's matches; every 7th in GRACE,
        // so that the other filter drops most of each batch.
        let bytes = if app.is_postgres() {
            "decode(md5(i::text) || md5(i::text), 'hex')"
        } else {
            "randomblob(32)"
        };
        let series = if app.is_postgres() {
            "generate_series(1, 600) AS i".to_owned()
        } else {
            "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600) SELECT i FROM n)".to_owned()
        };
        app.sql(&format!(
            "INSERT INTO servers (owner_id, name, license_key_hash, license_key_ciphertext, license_key_last4, \
             license_status, grace_expires_at, license_issued_at, created_at, updated_at) \
             SELECT {owner}, 'bulk-' || i, {bytes}, {bytes}, 'abcd', \
             CASE WHEN i % 7 = 0 THEN 'GRACE' ELSE 'ACTIVE' END, \
             CASE WHEN i % 7 = 0 THEN {far} END, \
             '2026-12-01 00:00:00', '2026-12-01 00:00:00', '2026-12-01 00:00:00' FROM {series}",
            owner = acme.id,
            far = if app.is_postgres() { "TIMESTAMP '2999-01-01 00:00:00'" } else { "'2999-01-01 00:00:00'" },
        ))
        .await;
        let graced = all_pages(&app, &admin, "q=BULK&status=GRACE", 20).await;
        let expected: Vec<String> = (1..=600).rev().filter(|i| i % 7 == 0).map(|i| format!("bulk-{i}")).collect();
        assert_eq!(graced, expected);
        // One page holds them all, though no batch of matches does.
        let page: ServerPage = app.get("/api/v1/servers?q=bulk&status=GRACE&limit=200", &admin).await.json().await.unwrap();
        assert_eq!((page.items.len(), page.next_cursor), (expected.len(), None));
        assert_eq!(all_pages(&app, &admin, "q=bulk-59", 4).await.len(), 11, "bulk-59 and bulk-590…599");
        assert_eq!(all_pages(&app, &admin, "q=acme", 200).await.len(), 602, "the owner's name matches all");

        // A rename, an owner's rename and a delete are searched at once.
        let r = app.client.patch(app.at(&format!("/api/v1/servers/{prod}"))).bearer_auth(&admin).json(&json!({ "name": "zebra-prod" })).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(all_pages(&app, &admin, "q=zebra", 5).await, vec!["zebra-prod".to_owned()]);
        assert!(all_pages(&app, &admin, "q=acme-prod", 5).await.is_empty());
        let r = app.client.patch(app.at(&format!("/api/v1/users/{}", acme.id))).bearer_auth(&admin).json(&json!({ "username": "initech" })).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(all_pages(&app, &admin, "q=initech&sort=name", 200).await.len(), 602);
        assert_eq!(all_pages(&app, &admin, "q=acme", 5).await, vec!["acme-lab".to_owned()]);
        let r = app.client.delete(app.at(&format!("/api/v1/servers/{lab}"))).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert!(all_pages(&app, &admin, "q=acme-lab", 5).await.is_empty());

        // Past 1,000 the total stops counting and says so.
        app.sql(&format!(
            "INSERT INTO servers (owner_id, name, license_key_hash, license_key_ciphertext, license_key_last4, \
             license_status, license_issued_at, created_at, updated_at) \
             SELECT {owner}, 'mass-' || i, {bytes}, {bytes}, 'abcd', 'ACTIVE', \
             '2026-12-01 00:00:00', '2026-12-01 00:00:00', '2026-12-01 00:00:00' FROM {series}",
            owner = acme.id,
            bytes = bytes.replace("md5(i::text)", "md5('mass' || i)"),
            series = series.replace("600", "1001"),
        ))
        .await;
        for (query, total) in [("q=mass", (1_000, true)), ("", (1_000, true)), ("status=GRACE&q=initech", (85, false)), ("q=mass-100", (3, false)), ("q=mass&status=GRACE", (0, false))] {
            let page: ServerPage = app.get(&format!("/api/v1/servers?limit=1&{query}"), &admin).await.json().await.unwrap();
            assert_eq!((page.total, page.total_capped), total, "{query}");
        }
        // In another order a search sorts its few matches, and walks the order's index
        // past many.
        let tens = ["mass-10", "mass-100", "mass-1000", "mass-1001"].into_iter().map(String::from);
        let tens: Vec<String> = tens.chain((101..=109).map(|i| format!("mass-{i}"))).collect();
        assert_eq!(all_pages(&app, &admin, "q=MASS-10&sort=name", 4).await, tens);
        let mut newest_first: Vec<String> = (1000..=1001).chain(100..=109).chain([10]).map(|i| format!("mass-{i}")).collect();
        newest_first[..2].reverse();
        newest_first[2..12].reverse();
        assert_eq!(all_pages(&app, &admin, "q=mass-10&sort=lastHeartbeatAt", 5).await, newest_first);
        let page: ServerPage = app.get("/api/v1/servers?limit=3&q=mass&sort=name", &admin).await.json().await.unwrap();
        let first: Vec<&str> = page.items.iter().map(|s| s.name.as_str()).collect();
        assert_eq!((first, page.total, page.total_capped), (vec!["mass-1", "mass-10", "mass-100"], 1_000, true));
    }

    async fn a_rename_changes_the_name_only_and_is_audited_once(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let path = app.at(&format!("/api/v1/servers/{server}"));
        let patch = |body: serde_json::Value| app.client.patch(&path).bearer_auth(&admin).json(&body).send();

        let renamed: ServerView = patch(json!({ "name": "acme-prod-eu" })).await.unwrap().json().await.unwrap();
        assert_eq!((renamed.id, renamed.owner_id, renamed.name.as_str()), (server, acme.id, "acme-prod-eu"));
        assert_eq!(app.heartbeat(&key).await.status(), 200, "the key still works");
        // The same name again, and an empty patch, change nothing and write nothing.
        assert_eq!(patch(json!({ "name": "acme-prod-eu" })).await.unwrap().status(), 200);
        let unchanged: ServerView = patch(json!({})).await.unwrap().json().await.unwrap();
        assert_eq!(unchanged.name, "acme-prod-eu");
        let entries = app.audit(&admin, "action=server.update").await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].target, Some(server));
        assert_eq!(entries[0].metadata["name"], json!({ "from": "acme-prod", "to": "acme-prod-eu" }));

        // Bad input is refused and changes nothing.
        for (body, status) in [
            (json!({ "name": "" }), 422),
            (json!({ "name": "   " }), 422),
            (json!({ "name": "x".repeat(101) }), 422),
            (json!({ "name": "evil\u{202e}name" }), 422),
            (json!({ "name": 5 }), 400),
            (json!({ "ownerId": 1 }), 400),
            (json!([]), 400),
        ] {
            let answer = patch(body.clone()).await.unwrap();
            assert_eq!(answer.status(), status, "{body}");
            assert!(answer.json::<ErrorBody>().await.is_ok(), "{body}");
        }
        let missing = app.client.patch(app.at("/api/v1/servers/999999")).bearer_auth(&admin).json(&json!({ "name": "x" })).send().await.unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(missing.json::<ErrorBody>().await.unwrap().error, ErrorCode::NotFound);
        let card: ServerView = app.get(&format!("/api/v1/servers/{server}"), &admin).await.json().await.unwrap();
        assert_eq!(card.name, "acme-prod-eu");
        assert_eq!(app.audit(&admin, "action=server.update").await.len(), 1);
    }

    async fn version_and_address_changes_become_events_once_whichever_node_saw_them(app) {
        let node_b = app.another_node().await;
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let events = |query: &'static str| events_of(&app, &admin, server, query);

        // The first sighting, and the same again: nothing changed.
        beat_from(&app.url, [127, 0, 0, 1], &key, "1.0").await;
        flushed(&app, &admin, server, "1.0", "127.0.0.1").await;
        beat_from(&node_b.url, [127, 0, 0, 1], &key, "1.0").await;
        beat_from(&app.url, [127, 0, 0, 1], &key, "1.0").await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let first: Vec<String> = events("").await.items.into_iter().map(|e| e.kind).collect();
        assert_eq!(first, vec!["came_online"], "only the first sighting is news");

        // A new version through node B, then a new address through node A.
        beat_from(&node_b.url, [127, 0, 0, 1], &key, "2.0").await;
        flushed(&app, &admin, server, "2.0", "127.0.0.1").await;
        beat_from(&app.url, [127, 0, 0, 2], &key, "2.0").await;
        flushed(&app, &admin, server, "2.0", "127.0.0.2").await;
        let all = events("").await;
        let seen: Vec<(&str, &serde_json::Value)> = all.items.iter().map(|e| (e.kind.as_str(), &e.data)).collect();
        assert_eq!(seen, vec![
            ("address_changed", &json!({ "from": "127.0.0.1", "to": "127.0.0.2" })),
            ("version_changed", &json!({ "from": "1.0", "to": "2.0" })),
            ("came_online", &json!({})),
        ]);
        assert!(all.items[0].id > all.items[1].id);
        assert!(OffsetDateTime::now_utc() - all.items[0].at < Duration::minutes(1));

        // Pages, and refusals.
        let first = events("?limit=1").await;
        assert_eq!(first.items.len(), 1);
        let cursor = first.next_cursor.unwrap();
        let second = app.get(&format!("/api/v1/servers/{server}/events?limit=1&cursor={cursor}"), &admin).await;
        let second: pulsekey_types::ServerEventPage = second.json().await.unwrap();
        assert_eq!(second.items[0].kind, "version_changed");
        let cursor = second.next_cursor.unwrap();
        let third = app.get(&format!("/api/v1/servers/{server}/events?limit=1&cursor={cursor}"), &admin).await;
        let third: pulsekey_types::ServerEventPage = third.json().await.unwrap();
        assert_eq!((third.items[0].kind.as_str(), third.next_cursor), ("came_online", None));
        assert_eq!(app.get(&format!("/api/v1/servers/{server}/events?cursor=x"), &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/servers/999999/events", &admin).await.status(), 404);

        // Both at once, in one flush: the version first, as on either backend.
        beat_from(&app.url, [127, 0, 0, 1], &key, "3.0").await;
        flushed(&app, &admin, server, "3.0", "127.0.0.1").await;
        let newest = events("?limit=2").await;
        let seen: Vec<(&str, &serde_json::Value)> = newest.items.iter().map(|e| (e.kind.as_str(), &e.data)).collect();
        assert_eq!(seen, vec![
            ("address_changed", &json!({ "from": "127.0.0.2", "to": "127.0.0.1" })),
            ("version_changed", &json!({ "from": "2.0", "to": "3.0" })),
        ]);

        // A deleted server takes its events with it.
        let deleted = app.client.delete(app.at(&format!("/api/v1/servers/{server}"))).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(app.get(&format!("/api/v1/servers/{server}/events"), &admin).await.status(), 404);
        let left = pulsekey_db::testing::query_number(
            &mut app.db.conn().unwrap(),
            &format!("SELECT COUNT(*) AS n FROM server_events WHERE server_id = {server}"),
        )
        .unwrap();
        assert_eq!(left, 0, "events outlived their server");
    }

    async fn a_deleted_servers_key_is_refused_at_once_on_every_node(app) {
        let node_b = app.another_node().await;
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let kept = app.create_server(&admin, acme.id, "acme-staging").await;
        let key = app.reveal(&admin, server).await;
        let kept_key = app.reveal(&admin, kept).await;
        let beat_on_b = |key: String| {
            let (client, url) = (app.client.clone(), format!("{}/heartbeat", node_b.url));
            async move { client.post(url).bearer_auth(key).json(&json!({ "version": "1.0" })).send().await.unwrap().status().as_u16() }
        };
        assert_eq!(beat_on_b(key.clone()).await, 200);
        assert_eq!(app.heartbeat(&key).await.status(), 200);

        let path = app.at(&format!("/api/v1/servers/{server}"));
        let deleted = app.client.delete(&path).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(deleted.status(), 204);
        assert_eq!(beat_on_b(key.clone()).await, 401, "node B still knew the key");
        assert_eq!(app.heartbeat(&key).await.status(), 401);
        assert_eq!(beat_on_b(kept_key).await, 200, "another server of the owner is untouched");

        assert_eq!(app.get(&format!("/api/v1/servers/{server}"), &admin).await.status(), 404);
        let left: pulsekey_types::ServerList = app.get(&format!("/api/v1/users/{}/servers", acme.id), &admin).await.json().await.unwrap();
        assert_eq!(left.items.iter().map(|s| s.id).collect::<Vec<_>>(), vec![kept]);
        let again = app.client.delete(&path).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(again.status(), 404);

        // The audit log keeps what was deleted, never the key.
        let entries = app.audit(&admin, "action=server.delete").await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].target, Some(server));
        assert_eq!(entries[0].metadata["name"], "acme-prod");
        assert_eq!(entries[0].metadata["ownerId"], acme.id);
        assert_eq!(entries[0].metadata["keyLast4"], key[key.len() - 4..]);
        assert!(!serde_json::to_string(&entries).unwrap().contains(&key));
    }
}
