use pulsekey_types::{
    Connection, ErrorBody, ErrorCode, HeartbeatResponse, InstallConfig, LicenseStatus, LicenseView,
    MyServerList, Role, SettingsView,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

both_backends! {
    async fn the_whole_lifecycle_of_the_seed_page(app) {
        let admin = app.admin_token().await;
        let customer = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, customer.id, "acme-prod").await;
        let card: LicenseView = app.get(&format!("/api/v1/servers/{server}/license"), &admin).await.json().await.unwrap();
        assert_eq!((card.status, card.connection), (LicenseStatus::Active, Connection::Never));
        assert!(card.key_masked.starts_with("pk_•••••…•"));

        // Heartbeat records version, time and address.
        let key = app.reveal(&admin, server).await;
        assert!(card.key_masked.ends_with(&key[key.len() - 4..]));
        let beat = app.heartbeat(&key).await;
        assert_eq!(beat.status(), 200);
        let verdict: HeartbeatResponse = beat.json().await.unwrap();
        assert_eq!((verdict.status, verdict.grace_expires_at, verdict.heartbeat_interval_secs), (LicenseStatus::Active, None, 60));
        let card = app.card_after_flush(&admin, server).await;
        assert_eq!(card.installed_version.as_deref(), Some("1.4.2"));
        assert_eq!(card.last_heartbeat_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(card.connection, Connection::Online);
        let owner: pulsekey_types::UserView =
            app.get(&format!("/api/v1/users/{}", customer.id), &admin).await.json().await.unwrap();
        assert_eq!(owner.last_heartbeat_at, card.last_heartbeat_at);
        let listed: pulsekey_types::UserList = app.get("/api/v1/users", &admin).await.json().await.unwrap();
        for user in &listed.items {
            let expected = if user.id == customer.id { card.last_heartbeat_at } else { None };
            assert_eq!(user.last_heartbeat_at, expected, "{}", user.username);
        }

        // Regenerate: old key 401 at once, new key 200; status unchanged.
        let r = app.post(&format!("/api/v1/servers/{server}/license/regenerate"), &admin, json!({})).await;
        assert_eq!(r.status(), 200);
        let regenerated: LicenseView = r.json().await.unwrap();
        let old = app.heartbeat(&key).await;
        assert_eq!(old.status(), 401);
        assert_eq!(old.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
        let new_key = app.reveal(&admin, server).await;
        assert_ne!(new_key, key);
        assert!(regenerated.key_masked.ends_with(&new_key[new_key.len() - 4..]));
        assert_eq!(app.heartbeat(&new_key).await.status(), 200);

        // Revoke with the default window.
        let r = app.client.post(app.at(&format!("/api/v1/servers/{server}/license/revoke"))).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let grace: LicenseView = r.json().await.unwrap();
        assert_eq!(grace.status, LicenseStatus::Grace);
        let expires = grace.grace_expires_at.unwrap();
        let expected = OffsetDateTime::now_utc() + Duration::days(5);
        assert!((expires - expected).abs() < Duration::minutes(1), "{expires} vs {expected}");
        let verdict: HeartbeatResponse = app.heartbeat(&new_key).await.json().await.unwrap();
        assert_eq!(verdict.status, LicenseStatus::Grace);
        assert_eq!(verdict.grace_expires_at, Some(expires));
        let again = app.post(&format!("/api/v1/servers/{server}/license/revoke"), &admin, json!({ "graceDays": 3 })).await;
        assert_eq!(again.status(), 409);
        assert_eq!(again.json::<ErrorBody>().await.unwrap().error, ErrorCode::LicenseNotActive);

        // An operator ends the window by hand: every read path says EXPIRED at once.
        app.sql(&format!("UPDATE servers SET grace_expires_at = '2020-01-01 00:00:00' WHERE id = {server}")).await;
        let verdict: HeartbeatResponse = app.heartbeat(&new_key).await.json().await.unwrap();
        assert_eq!((verdict.status, verdict.grace_expires_at), (LicenseStatus::Expired, None));
        let card: LicenseView = app.get(&format!("/api/v1/servers/{server}/license"), &admin).await.json().await.unwrap();
        assert_eq!((card.status, card.grace_expires_at), (LicenseStatus::Expired, None));
        // When it expired is on the card: the end of its window.
        assert_eq!(card.expired_at, Some(time::macros::datetime!(2020-01-01 00:00:00 UTC)));

        // Reinstate: ACTIVE, window cleared; reinstating an ACTIVE license is a 409.
        let r = app.post(&format!("/api/v1/servers/{server}/license/reinstate"), &admin, json!({})).await;
        let active: LicenseView = r.json().await.unwrap();
        assert_eq!((active.status, active.grace_expires_at, active.expired_at), (LicenseStatus::Active, None, None));
        assert_eq!(app.heartbeat(&new_key).await.json::<HeartbeatResponse>().await.unwrap().status, LicenseStatus::Active);
        let again = app.post(&format!("/api/v1/servers/{server}/license/reinstate"), &admin, json!({})).await;
        assert_eq!(again.status(), 409);
        assert_eq!(again.json::<ErrorBody>().await.unwrap().error, ErrorCode::LicenseNotInGrace);

        // Each action audited with every field.
        let entries = app.audit(&admin, &format!("target={server}")).await;
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, [
            "server.license.reinstate", "server.license.revoke", "server.license.reveal",
            "server.license.regenerate", "server.license.reveal", "server.create",
        ]);
        for entry in &entries {
            assert_eq!(entry.target, Some(server));
            assert_eq!(entry.username.as_deref(), Some("root-admin"));
            assert!(entry.user_id.is_some());
            assert_eq!(entry.ip.as_deref(), Some("127.0.0.1"));
        }
        assert_eq!(entries[1].metadata["graceDays"], 5);
        assert!(entries[1].metadata["graceExpiresAt"].is_string());
        assert_eq!(entries[3].metadata["oldLast4"], key[key.len() - 4..]);
        assert_eq!(entries[3].metadata["newLast4"], new_key[new_key.len() - 4..]);
        assert_eq!(entries[0].metadata["previousStatus"], "EXPIRED");
        let text = serde_json::to_string(&entries).unwrap();
        assert!(!text.contains(&key) && !text.contains(&new_key));
    }

    async fn revoke_validates_grace_days_and_changes_nothing_on_error(app) {
        let admin = app.admin_token().await;
        let customer = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, customer.id, "acme-prod").await;
        let path = format!("/api/v1/servers/{server}/license/revoke");
        for body in [json!({ "graceDays": 0 }), json!({ "graceDays": -3 }), json!({ "graceDays": 366 })] {
            assert_eq!(app.post(&path, &admin, body).await.status(), 422);
        }
        for body in [json!({ "graceDays": "5" }), json!({ "graceDays": 1e40 }), json!({ "bogus": 1 }), json!([1])] {
            assert_eq!(app.post(&path, &admin, body).await.status(), 400);
        }
        let text = app.client.post(app.at(&path)).bearer_auth(&admin).header("content-type", "text/plain").body("graceDays=3").send().await.unwrap();
        assert_eq!(text.status(), 415);
        let card: LicenseView = app.get(&format!("/api/v1/servers/{server}/license"), &admin).await.json().await.unwrap();
        assert_eq!(card.status, LicenseStatus::Active);
        assert!(app.audit(&admin, "action=server.license.revoke").await.is_empty());
        let ok: LicenseView = app.post(&path, &admin, json!({ "graceDays": 3 })).await.json().await.unwrap();
        let expected = OffsetDateTime::now_utc() + Duration::days(3);
        assert!((ok.grace_expires_at.unwrap() - expected).abs() < Duration::minutes(1));
        assert_eq!(app.post("/api/v1/servers/999999/license/revoke", &admin, json!({})).await.status(), 404);
        assert_eq!(app.post("/api/v1/servers/abc/license/revoke", &admin, json!({})).await.status(), 400);
    }

    async fn settings_tell_clients_the_grace_window_the_server_applies(app) {
        let admin = app.admin_token().await;
        let customer = app.create_user("acme", Role::Customer).await;
        let session = app.login(&customer).await;
        let settings: SettingsView = app.get("/api/v1/settings", &session).await.json().await.unwrap();
        assert_eq!(settings, app.get("/api/v1/settings", &admin).await.json::<SettingsView>().await.unwrap());
        assert_eq!(settings.heartbeat_interval_secs, 60);
        let server = app.create_server(&admin, customer.id, "acme-prod").await;
        let path = format!("/api/v1/servers/{server}/license/revoke");
        let too_long = json!({ "graceDays": settings.grace_days_max + 1 });
        assert_eq!(app.post(&path, &admin, too_long).await.status(), 422);
        let too_short = json!({ "graceDays": settings.grace_days_min - 1 });
        assert_eq!(app.post(&path, &admin, too_short).await.status(), 422);
        let by_default: LicenseView = app.post(&path, &admin, json!({})).await.json().await.unwrap();
        let expected = OffsetDateTime::now_utc() + Duration::days(settings.grace_days_default);
        assert!((by_default.grace_expires_at.unwrap() - expected).abs() < Duration::minutes(1));
        app.post(&format!("/api/v1/servers/{server}/license/reinstate"), &admin, json!({})).await;
        let longest = json!({ "graceDays": settings.grace_days_max });
        assert_eq!(app.post(&path, &admin, longest).await.status(), 200);
    }

    async fn customers_see_only_their_own_servers_and_install_a_working_config(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let other = app.create_user("globex", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let acme_token = app.login(&acme).await;
        let other_token = app.login(&other).await;

        let mine: MyServerList = app.get("/api/v1/me/servers", &acme_token).await.json().await.unwrap();
        assert_eq!(mine.items.len(), 1);
        let theirs: MyServerList = app.get("/api/v1/me/servers", &other_token).await.json().await.unwrap();
        assert!(theirs.items.is_empty());
        let r = app.get(&format!("/api/v1/me/servers/{server}/install"), &acme_token).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"].to_str().unwrap().contains("config.json"));
        let config: InstallConfig = r.json().await.unwrap();
        assert_eq!(config.server_url, app.url);
        assert_eq!(config.heartbeat_interval_secs, 60);
        assert_eq!(app.heartbeat(&config.license_key).await.status(), 200);
        assert_eq!(app.get(&format!("/api/v1/me/servers/{server}/install"), &other_token).await.status(), 404);
        assert_eq!(app.get(&format!("/api/v1/servers/{server}"), &acme_token).await.status(), 403);
        assert_eq!(app.post(&format!("/api/v1/servers/{server}/license/regenerate"), &acme_token, json!({})).await.status(), 403);
        let installs = app.audit(&admin, "action=server.license.install").await;
        assert_eq!((installs.len(), installs[0].user_id), (1, Some(acme.id)));

        // The grace banner's data.
        app.post(&format!("/api/v1/servers/{server}/license/revoke"), &admin, json!({ "graceDays": 2 })).await;
        let mine: MyServerList = app.get("/api/v1/me/servers", &acme_token).await.json().await.unwrap();
        assert_eq!(mine.items[0].license.status, LicenseStatus::Grace);
        assert!(mine.items[0].license.grace_expires_at.is_some());
    }

    async fn servers_belong_to_customers_only(app) {
        let admin = app.admin_token().await;
        let other_admin = app.create_user("second-admin", Role::Admin).await;
        let r = app.post("/api/v1/servers", &admin, json!({ "ownerId": other_admin.id, "name": "x" })).await;
        assert_eq!(r.status(), 422);
        assert_eq!(r.json::<ErrorBody>().await.unwrap().error, ErrorCode::OwnerNotCustomer);
        let r = app.post("/api/v1/servers", &admin, json!({ "ownerId": 99999, "name": "x" })).await;
        assert_eq!(r.status(), 422);
        let acme = app.create_user("acme", Role::Customer).await;
        let r = app.post("/api/v1/servers", &admin, json!({ "ownerId": acme.id, "name": "" })).await;
        assert_eq!(r.status(), 422);
        app.create_server(&admin, acme.id, "one").await;
        app.create_server(&admin, acme.id, "two").await;
        let list: pulsekey_types::ServerList = app.get(&format!("/api/v1/users/{}/servers", acme.id), &admin).await.json().await.unwrap();
        assert_eq!(list.items.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["one", "two"]);
    }

    async fn the_expiry_sweep_persists_ended_windows_idempotently(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        app.post(&format!("/api/v1/servers/{server}/license/revoke"), &admin, json!({})).await;
        app.sql(&format!("UPDATE servers SET grace_expires_at = '2020-01-01 00:00:00' WHERE id = {server}")).await;
        let db = app.db.clone();
        let counts = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn().unwrap();
            let first = pulsekey_db::servers::expire_passed_grace(&mut conn, pulsekey_db::now()).unwrap().len();
            let second = pulsekey_db::servers::expire_passed_grace(&mut conn, pulsekey_db::now()).unwrap().len();
            let row = pulsekey_db::servers::find(&mut conn, server).unwrap();
            (first, second, row.license_status)
        }).await.unwrap();
        assert_eq!(counts, (1, 0, "EXPIRED".to_owned()));
    }

    async fn audit_log_filters_pages_and_exports(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        for _ in 0..3 {
            app.post(&format!("/api/v1/servers/{server}/license/regenerate"), &admin, json!({})).await;
        }
        let page: pulsekey_types::AuditPage = app.get("/api/v1/audit-log?action=server.license.regenerate&limit=2", &admin).await.json().await.unwrap();
        assert_eq!(page.items.len(), 2);
        assert!(page.items[0].id > page.items[1].id);
        // The total counts every page of the filter, not this one.
        assert_eq!((page.total, page.total_capped), (3, false));
        // Each entry names the owner of its server, so a reader links it without a lookup.
        assert!(page.items.iter().all(|e| (e.target, e.target_owner_id) == (Some(server), Some(acme.id))));
        let sign_ins = app.audit(&admin, "action=auth.login").await;
        assert!(!sign_ins.is_empty() && sign_ins.iter().all(|e| e.target_owner_id.is_none()));
        let next: pulsekey_types::AuditPage = app.get(&format!("/api/v1/audit-log?action=server.license.regenerate&limit=2&cursor={}", page.next_cursor.clone().unwrap()), &admin).await.json().await.unwrap();
        assert_eq!((next.items.len(), next.next_cursor.clone(), next.total), (1, None, 3));
        // Oldest first, page after page; a cursor belongs to its order.
        let oldest: pulsekey_types::AuditPage = app.get("/api/v1/audit-log?action=server.license.regenerate&limit=2&sort=oldest", &admin).await.json().await.unwrap();
        let cursor = oldest.next_cursor.clone().unwrap();
        let rest: pulsekey_types::AuditPage = app.get(&format!("/api/v1/audit-log?action=server.license.regenerate&limit=2&sort=oldest&cursor={cursor}"), &admin).await.json().await.unwrap();
        let ids = |pages: &[&pulsekey_types::AuditPage]| pages.iter().flat_map(|p| p.items.iter().map(|e| e.id)).collect::<Vec<_>>();
        let newest = ids(&[&page, &next]);
        assert_eq!(ids(&[&oldest, &rest]), newest.iter().rev().copied().collect::<Vec<_>>());
        assert_eq!((oldest.total, rest.total, rest.next_cursor), (3, 3, None));
        assert_eq!(app.get(&format!("/api/v1/audit-log?cursor={cursor}"), &admin).await.status(), 422);
        assert_eq!(app.get(&format!("/api/v1/audit-log?sort=oldest&cursor={}", newest[0]), &admin).await.status(), 422);
        let future = app.audit(&admin, "from=2999-01-01T00:00:00Z").await;
        assert!(future.is_empty());
        let past = app.audit(&admin, "to=2000-01-01T00:00:00Z").await;
        assert!(past.is_empty());
        assert_eq!(app.get("/api/v1/audit-log?from=yesterday", &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/audit-log?format=xml", &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/audit-log?action=server%00", &admin).await.status(), 422);

        let csv = app.get("/api/v1/audit-log?format=csv&action=server.license.regenerate", &admin).await;
        assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
        let csv = csv.text().await.unwrap();
        assert_eq!(csv.lines().count(), 4, "{csv}");
        assert!(csv.starts_with("id,at,action,target,userId,username,metadata,ip\n"));
        // Exports follow the order too.
        let csv_ids = |csv: &str| csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse::<i64>().unwrap()).collect::<Vec<_>>();
        let oldest_csv = app.get("/api/v1/audit-log?format=csv&action=server.license.regenerate&sort=oldest", &admin).await.text().await.unwrap();
        let mut reversed = csv_ids(&csv);
        reversed.reverse();
        assert_eq!(csv_ids(&oldest_csv), reversed);
        let jsonl = app.get(&format!("/api/v1/audit-log?format=jsonl&target={server}"), &admin).await.text().await.unwrap();
        let entries: Vec<pulsekey_types::AuditEntry> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(entries.len(), 4);
    }

    // Two admins racing revoke and reinstate: every answered action has its entry, the
    // rest were refused with 409 and left no trace, and the state is the last entry's.
    async fn racing_admins_end_in_the_state_of_the_last_audit_entry(app) {
        let first = app.admin_token().await;
        let other = app.create_user("other-admin", Role::Admin).await;
        let second = app.login(&other).await;
        let customer = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&first, customer.id, "acme-prod").await;
        let requests = (0..40).map(|n| {
            let token = if n % 2 == 0 { first.clone() } else { second.clone() };
            let action = if n % 4 < 2 { "revoke" } else { "reinstate" };
            let request = app.client
                .post(app.at(&format!("/api/v1/servers/{server}/license/{action}")))
                .bearer_auth(token)
                .json(&json!({}));
            async move { request.send().await.unwrap().status().as_u16() }
        });
        let statuses = futures_util::future::join_all(requests).await;
        assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "{statuses:?}");
        let succeeded = statuses.iter().filter(|s| **s == 200).count();
        let entries: Vec<String> = app.audit(&first, &format!("target={server}&limit=100")).await
            .into_iter()
            .map(|e| e.action)
            .filter(|a| a == "server.license.revoke" || a == "server.license.reinstate")
            .collect();
        assert_eq!(entries.len(), succeeded);
        // Newest first: they alternate, as only revoke-then-reinstate can both succeed.
        for pair in entries.windows(2) {
            assert_ne!(pair[0], pair[1], "{entries:?}");
        }
        let card: LicenseView = app.get(&format!("/api/v1/servers/{server}/license"), &first).await.json().await.unwrap();
        let expected = match entries.first().map(String::as_str) {
            Some("server.license.revoke") => LicenseStatus::Grace,
            _ => LicenseStatus::Active,
        };
        assert_eq!(card.status, expected, "{entries:?}");
    }

    // Reads-then-writes (reveal reads the row, then appends its audit entry) racing other
    // writers (more reveals, the heartbeat flusher, new users): none may fail with
    // SQLite's "database is locked" or any other 5xx.
    async fn concurrent_writers_all_succeed(app) {
        let admin = app.admin_token().await;
        let customer = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, customer.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(1500);
        let tasks: Vec<_> = (0..12).map(|n| {
            let (client, base, admin, key) = (app.client.clone(), app.url.clone(), admin.clone(), key.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                let mut i = 0;
                while std::time::Instant::now() < until {
                    i += 1;
                    let request = match n % 3 {
                        0 => client.post(format!("{base}/api/v1/servers/{server}/license/reveal")).bearer_auth(&admin).json(&json!({})),
                        1 => client.post(format!("{base}/heartbeat")).bearer_auth(&key).json(&json!({ "version": format!("{n}.{i}") })),
                        _ => client.post(format!("{base}/api/v1/users")).bearer_auth(&admin).json(&json!({
                            "username": format!("user-{n}-{i}"), "email": format!("u{n}-{i}@example.com"),
                            "password": "long-enough-password", "role": "customer"
                        })),
                    };
                    statuses.push(request.send().await.unwrap().status().as_u16());
                }
                statuses
            })
        }).collect();
        let mut seen = 0;
        for task in tasks {
            for status in task.await.unwrap() {
                assert!(status == 200 || status == 201, "a concurrent write answered {status}");
                seen += 1;
            }
        }
        assert!(seen > 50, "only {seen} requests ran");
    }
}
