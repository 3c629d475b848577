use pulsekey_types::{ErrorBody, ErrorCode, Role, UserList, UserView};
use serde_json::json;

both_backends! {
    async fn a_users_write_token_never_creates_or_changes_an_admin(app) {
        let admin_user = app.create_user("root-admin", Role::Admin).await;
        let admin = app.login(&admin_user).await;
        let other_admin = app.create_user("ops-admin", Role::Admin).await;
        let customer = app.create_user("acme", Role::Customer).await;
        let created: pulsekey_types::CreatedToken = app
            .post("/api/v1/tokens", &admin, json!({ "name": "crm", "scopes": ["users:write"] }))
            .await.json().await.unwrap();
        let token = created.token;
        let patch = |id: i64, body: serde_json::Value| {
            app.client.patch(app.at(&format!("/api/v1/users/{id}"))).bearer_auth(&token).json(&body).send()
        };

        let r = app.post("/api/v1/users", &token, json!({ "username": "mallory", "email": "m@example.com", "password": "mallory-password-1", "role": "admin" })).await;
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<ErrorBody>().await.unwrap().error, ErrorCode::Forbidden);
        for body in [
            json!({ "password": "taken-over-password-1" }),
            json!({ "disabled": true }),
            json!({ "role": "customer" }),
            json!({ "email": "evil@example.com" }),
        ] {
            assert_eq!(patch(other_admin.id, body.clone()).await.unwrap().status(), 403, "{body}");
        }
        assert_eq!(patch(customer.id, json!({ "role": "admin" })).await.unwrap().status(), 403);
        // Nothing changed: the admin still signs in with their own password, mallory does not exist.
        app.login(&other_admin).await;
        let users: UserList = app.get("/api/v1/users?q=mallory", &admin).await.json().await.unwrap();
        assert!(users.items.is_empty());
        let me: UserView = app.get(&format!("/api/v1/users/{}", customer.id), &admin).await.json().await.unwrap();
        assert_eq!(me.role, Role::Customer);

        // What an integrator is for still works: customers.
        let r = app.post("/api/v1/users", &token, json!({ "username": "initech", "email": "i@example.com", "password": "initech-password-1", "role": "customer" })).await;
        assert_eq!(r.status(), 201);
        assert_eq!(patch(customer.id, json!({ "password": "acme-new-password-1" })).await.unwrap().status(), 200);
        // A signed-in admin may do what the token may not.
        let r = app.client.patch(app.at(&format!("/api/v1/users/{}", other_admin.id))).bearer_auth(&admin)
            .json(&json!({ "email": "ops@example.com" })).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    async fn a_disabled_admins_tokens_stay_revoked_after_re_enabling(app) {
        let root = app.create_user("root-admin", Role::Admin).await;
        let root_session = app.login(&root).await;
        let ops = app.create_user("ops-admin", Role::Admin).await;
        let ops_session = app.login(&ops).await;
        let created: pulsekey_types::CreatedToken = app
            .post("/api/v1/tokens", &ops_session, json!({ "name": "billing", "scopes": ["read"] }))
            .await.json().await.unwrap();
        assert_eq!(app.get("/api/v1/users", &created.token).await.status(), 200);
        let set_disabled = |disabled: bool| {
            app.client.patch(app.at(&format!("/api/v1/users/{}", ops.id))).bearer_auth(&root_session)
                .json(&json!({ "disabled": disabled })).send()
        };
        assert_eq!(set_disabled(true).await.unwrap().status(), 200);
        assert_eq!(app.get("/api/v1/users", &created.token).await.status(), 401);
        assert_eq!(set_disabled(false).await.unwrap().status(), 200);
        assert_eq!(app.get("/api/v1/users", &created.token).await.status(), 401, "the token came back with its owner");
        let entries = app.audit(&root_session, "action=user.disable").await;
        assert_eq!(entries[0].metadata["changed"]["tokensRevoked"], 1);
    }

    async fn a_password_reset_may_revoke_the_users_tokens(app) {
        let root = app.create_user("root-admin", Role::Admin).await;
        let root_session = app.login(&root).await;
        let ops = app.create_user("ops-admin", Role::Admin).await;
        let ops_session = app.login(&ops).await;
        let mut tokens = Vec::new();
        for name in ["one", "two"] {
            let created: pulsekey_types::CreatedToken = app
                .post("/api/v1/tokens", &ops_session, json!({ "name": name, "scopes": ["read"] }))
                .await.json().await.unwrap();
            tokens.push(created.token);
        }
        let reset = |body: serde_json::Value| {
            app.client.patch(app.at(&format!("/api/v1/users/{}", ops.id))).bearer_auth(&root_session).json(&body).send()
        };
        // Without a password the flag means nothing and is refused, changing nothing.
        assert_eq!(reset(json!({ "revokeTokens": true })).await.unwrap().status(), 422);
        assert_eq!(app.get("/api/v1/users", &tokens[0]).await.status(), 200);
        // A plain reset ends sessions and keeps tokens; with the flag, tokens end too.
        assert_eq!(reset(json!({ "password": "ops-new-password-1" })).await.unwrap().status(), 200);
        assert_eq!(app.get("/api/v1/auth/me", &ops_session).await.status(), 401);
        assert_eq!(app.get("/api/v1/users", &tokens[0]).await.status(), 200);
        assert_eq!(reset(json!({ "password": "ops-newer-password-1", "revokeTokens": true })).await.unwrap().status(), 200);
        for token in &tokens {
            assert_eq!(app.get("/api/v1/users", token).await.status(), 401);
        }
    }

    async fn failures_from_one_address_do_not_lock_the_owner_out_elsewhere(app) {
        let admin = app.create_user("admin", Role::Admin).await;
        let from = |source: &str| {
            reqwest::Client::builder().local_address(source.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
        };
        let attacker = from("127.0.0.2");
        let login = |client: &reqwest::Client, password: &str| {
            client.post(app.at("/api/v1/auth/login")).json(&json!({ "username": "admin", "password": password })).send()
        };
        for _ in 0..5 {
            assert_eq!(login(&attacker, "wrong-password-1").await.unwrap().status(), 401);
        }
        // The attacker's address now waits, even with the right password…
        crate::util::assert_retry_after(login(&attacker, &admin.password).await.unwrap(), 900).await;
        // …while the owner, elsewhere, gets in: slowed, not shut out.
        let started = std::time::Instant::now();
        assert_eq!(login(&from("127.0.0.3"), &admin.password).await.unwrap().status(), 200);
        assert!(started.elapsed() >= std::time::Duration::from_millis(900), "the account was not slowed");
        // A success clears the account's count: the next sign-in is not slowed.
        let started = std::time::Instant::now();
        assert_eq!(login(&from("127.0.0.3"), &admin.password).await.unwrap().status(), 200);
        assert!(started.elapsed() < std::time::Duration::from_millis(900));
    }

    async fn usernames_are_one_account_whatever_their_case(app) {
        let admin_user = app.create_user("admin", Role::Admin).await;
        let admin = app.login(&admin_user).await;
        let r = app.post("/api/v1/users", &admin, json!({ "username": "ADMIN", "email": "x@example.com", "password": "another-password-1", "role": "admin" })).await;
        assert_eq!(r.status(), 409);
        assert_eq!(r.json::<ErrorBody>().await.unwrap().error, ErrorCode::UsernameTaken);
        let acme = app.create_user("acme", Role::Customer).await;
        let r = app.client.patch(app.at(&format!("/api/v1/users/{}", acme.id))).bearer_auth(&admin)
            .json(&json!({ "username": "Admin" })).send().await.unwrap();
        assert_eq!(r.status(), 409);
        for spelling in ["Admin", "ADMIN"] {
            let r = app.client.post(app.at("/api/v1/auth/login"))
                .json(&json!({ "username": spelling, "password": admin_user.password })).send().await.unwrap();
            assert_eq!(r.status(), 200, "{spelling}");
            let me: pulsekey_types::LoginResponse = r.json().await.unwrap();
            assert_eq!(me.user.username, "admin");
        }
    }

    async fn a_failed_sign_in_stores_a_bounded_username(app) {
        let admin = app.admin_token().await;
        let r = app.client.post(app.at("/api/v1/auth/login"))
            .json(&json!({ "username": "u".repeat(8 * 1024), "password": "whatever-password" })).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let failures = app.audit(&admin, "action=auth.login.failed").await;
        assert_eq!(failures[0].metadata["username"].as_str().unwrap().len(), 64);
        assert_eq!(failures[0].metadata["usernameTruncated"], true);
    }

    async fn login_me_and_logout(app) {
        let alice = app.create_user("alice", Role::Customer).await;
        let token = app.login(&alice).await;
        let me: UserView = app.get("/api/v1/auth/me", &token).await.json().await.unwrap();
        assert_eq!((me.username.as_str(), me.role, me.disabled), ("alice", Role::Customer, false));
        let out = app.post("/api/v1/auth/logout", &token, json!({})).await;
        assert_eq!(out.status(), 204);
        assert_eq!(app.get("/api/v1/auth/me", &token).await.status(), 401);
    }

    async fn wrong_password_and_unknown_user_get_the_same_answer_and_are_audited(app) {
        let admin = app.admin_token().await;
        app.create_user("bob", Role::Customer).await;
        let mut bodies = Vec::new();
        for (username, password) in [("bob", "not-bobs-password"), ("nobody", "whatever-password")] {
            let response = app.client.post(app.at("/api/v1/auth/login"))
                .json(&json!({ "username": username, "password": password })).send().await.unwrap();
            assert_eq!(response.status(), 401);
            bodies.push(response.text().await.unwrap());
        }
        assert_eq!(bodies[0], bodies[1]);
        let body: ErrorBody = serde_json::from_str(&bodies[0]).unwrap();
        assert_eq!(body.message, "wrong username or password");
        // A form sent too soon says what is missing, and counts as no attempt.
        for (username, password, message) in [
            ("", "", "enter a username and a password"),
            ("  ", "x", "enter a username"),
            ("bob", "", "enter a password"),
        ] {
            let response = app.client.post(app.at("/api/v1/auth/login"))
                .json(&json!({ "username": username, "password": password })).send().await.unwrap();
            assert_eq!(response.status(), 422);
            assert_eq!(response.json::<ErrorBody>().await.unwrap().message, message);
        }
        let failures = app.audit(&admin, "action=auth.login.failed").await;
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[0].metadata["username"], "nobody");
        assert_eq!(failures[0].ip.as_deref(), Some("127.0.0.1"));
        assert!(!failures[0].metadata.to_string().contains("whatever-password"));
    }

    async fn repeated_failures_are_throttled_with_retry_after(app) {
        let carol = app.create_user("carol", Role::Customer).await;
        for _ in 0..5 {
            let r = app.client.post(app.at("/api/v1/auth/login"))
                .json(&json!({ "username": "carol", "password": "wrong-password-1" })).send().await.unwrap();
            assert_eq!(r.status(), 401);
        }
        let r = app.client.post(app.at("/api/v1/auth/login"))
            .json(&json!({ "username": "carol", "password": carol.password })).send().await.unwrap();
        assert_eq!(r.status(), 429);
        let retry_after = r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap();
        assert!(retry_after > 14 * 60, "{retry_after}");
        let body = r.json::<ErrorBody>().await.unwrap();
        assert_eq!(body.error, ErrorCode::TooManyRequests);
        assert_eq!(body.message, "too many failed sign-ins; try again in 15 minutes");
    }

    async fn people_change_their_own_password_and_their_other_sessions_end(app) {
        let admin = app.admin_token().await;
        let erin = app.create_user("erin", Role::Customer).await;
        let (here, elsewhere) = (app.login(&erin).await, app.login(&erin).await);
        let change = |bearer: String, current: &str, new: &str| {
            app.client.post(app.at("/api/v1/auth/password")).bearer_auth(bearer)
                .json(&json!({ "currentPassword": current, "newPassword": new })).send()
        };
        let wrong = change(here.clone(), "not-erins-password", "erins-new-password-1").await.unwrap();
        assert_eq!(wrong.status(), 422);
        assert_eq!(wrong.json::<ErrorBody>().await.unwrap().message, "the current password is wrong");
        let short = change(here.clone(), &erin.password, "short").await.unwrap();
        assert_eq!(short.status(), 422);
        assert_eq!(app.get("/api/v1/auth/me", &elsewhere).await.status(), 200, "a refusal ended a session");
        let done = change(here.clone(), &erin.password, "erins-new-password-1").await.unwrap();
        assert_eq!(done.status(), 204);
        assert_eq!(app.get("/api/v1/auth/me", &here).await.status(), 200);
        assert_eq!(app.get("/api/v1/auth/me", &elsewhere).await.status(), 401);
        let login = |password: &str| app.client.post(app.at("/api/v1/auth/login"))
            .json(&json!({ "username": "erin", "password": password })).send();
        assert_eq!(login("erins-new-password-1").await.unwrap().status(), 200);
        let old = login(&erin.password).await.unwrap();
        assert_eq!(old.status(), 401);
        let changed = app.audit(&admin, "action=user.password.change").await;
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].user_id, Some(erin.id));
        let failed = app.audit(&admin, "action=user.password.change.failed").await;
        assert_eq!(failed.len(), 1);
        let text = serde_json::to_string(&failed[0]).unwrap();
        assert!(!text.contains("not-erins-password") && !text.contains("erins-new-password-1"));
        // Wrong current passwords count against the sign-in limits.
        for _ in 0..5 {
            change(here.clone(), "still-not-it", "erins-new-password-2").await.unwrap();
        }
        let locked = change(here.clone(), "erins-new-password-1", "erins-new-password-2").await.unwrap();
        assert_eq!(locked.status(), 429);
    }

    async fn disabling_a_user_ends_their_sessions_at_once(app) {
        let admin = app.admin_token().await;
        let dave = app.create_user("dave", Role::Customer).await;
        let token = app.login(&dave).await;
        let r = app.client.patch(app.at(&format!("/api/v1/users/{}", dave.id))).bearer_auth(&admin)
            .json(&json!({ "disabled": true })).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(app.get("/api/v1/me/servers", &token).await.status(), 401);
        let login = app.client.post(app.at("/api/v1/auth/login"))
            .json(&json!({ "username": "dave", "password": dave.password })).send().await.unwrap();
        assert_eq!(login.status(), 401);
        // Only the right password learns that the account is disabled.
        let message = login.json::<ErrorBody>().await.unwrap().message;
        assert_eq!(message, "this account is disabled; an administrator can enable it again");
        let wrong = app.client.post(app.at("/api/v1/auth/login"))
            .json(&json!({ "username": "dave", "password": "not-daves-password" })).send().await.unwrap();
        assert_eq!(wrong.json::<ErrorBody>().await.unwrap().message, "wrong username or password");
        let failures = app.audit(&admin, "action=auth.login.failed").await;
        assert_eq!(failures.len(), 2);
        assert_eq!(failures[1].metadata["reason"], "disabled");
        assert!(failures[0].metadata.get("reason").is_none());
        let entries = app.audit(&admin, "action=user.disable").await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].metadata["subjectUserId"], dave.id);
    }

    async fn forged_and_expired_session_tokens_are_refused(app) {
        let alice = app.create_user("alice", Role::Admin).await;
        let token = app.login(&alice).await;
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[2] = "AAAA".into();
        assert_eq!(app.get("/api/v1/users", &parts.join(".")).await.status(), 401);
        assert_eq!(app.get("/api/v1/users", "garbage").await.status(), 401);
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";
        let unsigned = format!("{header}.{}.", parts[1]);
        assert_eq!(app.get("/api/v1/users", &unsigned).await.status(), 401);
    }

    async fn admin_creates_lists_and_edits_users(app) {
        let admin = app.admin_token().await;
        let r = app.post("/api/v1/users", &admin, json!({
            "username": "erin", "email": "erin@example.com", "password": "erin-password-123", "role": "customer"
        })).await;
        assert_eq!(r.status(), 201);
        let erin: UserView = r.json().await.unwrap();
        let dup = app.post("/api/v1/users", &admin, json!({
            "username": "erin", "email": "x@example.com", "password": "erin-password-123", "role": "customer"
        })).await;
        assert_eq!(dup.status(), 409);
        assert_eq!(dup.json::<ErrorBody>().await.unwrap().error, ErrorCode::UsernameTaken);
        let bad = app.post("/api/v1/users", &admin, json!({
            "username": "x y", "email": "nope", "password": "short", "role": "customer"
        })).await;
        assert_eq!(bad.status(), 422);
        let bad_role = app.post("/api/v1/users", &admin, json!({
            "username": "frank", "email": "f@example.com", "password": "frank-password-1", "role": "root"
        })).await;
        assert_eq!(bad_role.status(), 400);
        for name in ["user1", "user2", "user3"] {
            app.create_user(name, Role::Customer).await;
        }
        let page: UserList = app.get("/api/v1/users?role=customer&limit=2", &admin).await.json().await.unwrap();
        assert_eq!(page.items.len(), 2);
        let cursor = page.next_cursor.unwrap();
        let rest: UserList = app.get(&format!("/api/v1/users?role=customer&limit=2&cursor={cursor}"), &admin).await.json().await.unwrap();
        assert_eq!(rest.items.len(), 2);
        assert!(rest.next_cursor.is_none());
        let found: UserList = app.get("/api/v1/users?q=ERIN", &admin).await.json().await.unwrap();
        // A NUL matches nothing anywhere; PostgreSQL would refuse it as an error.
        assert_eq!(app.get("/api/v1/users?q=er%00in", &admin).await.status(), 422);
        assert_eq!(found.items.iter().map(|u| u.id).collect::<Vec<_>>(), vec![erin.id]);
        let r = app.client.patch(app.at(&format!("/api/v1/users/{}", erin.id))).bearer_auth(&admin)
            .json(&json!({ "email": "erin@new.example.com" })).send().await.unwrap();
        assert_eq!(r.json::<UserView>().await.unwrap().email, "erin@new.example.com");
        let created = app.audit(&admin, "action=user.create").await;
        let created = created.iter().find(|e| e.metadata["subjectUserId"] == erin.id).unwrap();
        assert_eq!(created.username.as_deref(), Some("root-admin"));
        assert_eq!(app.get("/api/v1/users?limit=0", &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/users?cursor=abc", &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/users/abc", &admin).await.status(), 400);
        assert_eq!(app.get("/api/v1/users/999999", &admin).await.status(), 404);
    }

    // SQLite answers searches of 3+ characters from a trigram index kept by triggers,
    // PostgreSQL from trigram indexes: the answers must be the plain substring semantics.
    async fn user_search_matches_substrings_of_username_and_email(app) {
        let admin = app.admin_token().await;
        let mut ids = std::collections::HashMap::new();
        for name in ["alice-west", "bob-east", "carol-west", "dave_north"] {
            ids.insert(name, app.create_user(name, Role::Customer).await.id);
        }
        let boss = app.create_user("west-boss", Role::Admin).await.id;

        assert_eq!(found(&search(&app, &admin, "q=WEST").await), vec![boss, ids["carol-west"], ids["alice-west"]]);
        let customers = vec![ids["dave_north"], ids["carol-west"], ids["bob-east"], ids["alice-west"]];
        assert_eq!(found(&search(&app, &admin, "q=%40Example&role=customer").await), customers);
        assert_eq!(found(&search(&app, &admin, "q=%40example&role=customer&limit=2").await), customers[..2]);
        let rest = search(&app, &admin, &format!("q=%40example&role=customer&limit=2&cursor={}", customers[1])).await;
        assert_eq!(found(&rest), customers[2..]);
        assert!(rest.next_cursor.is_none());
        // Totals count every page of the filter: by the trigram index (SQLite, 3+ characters)
        // and by the scan alike.
        for (query, total) in [("q=%40example&role=customer&limit=2", 4), ("q=west", 3), ("q=we", 3), ("role=admin", 2), ("q=nobody", 0), ("", 6)] {
            let page = search(&app, &admin, query).await;
            assert_eq!((page.total, page.total_capped), (total, false), "{query}");
        }
        // The email too, and LIKE's and FTS's special characters are plain text: as
        // wildcards `a%t` and `b_b` would match, as FTS syntax the quotes would break out.
        assert_eq!(found(&search(&app, &admin, "q=e_north%40example").await), vec![ids["dave_north"]]);
        assert_eq!(found(&search(&app, &admin, "q=a%25t").await), Vec::<i64>::new());
        assert_eq!(found(&search(&app, &admin, "q=b_b").await), Vec::<i64>::new());
        assert_eq!(found(&search(&app, &admin, "q=k%22q").await), Vec::<i64>::new());
        assert_eq!(found(&search(&app, &admin, "q=%22%20OR%20%22a").await), Vec::<i64>::new());
        assert_eq!(found(&search(&app, &admin, "q=west%22%20OR%20%22bob").await), Vec::<i64>::new());
        assert_eq!(found(&search(&app, &admin, "q=no-such-user").await), Vec::<i64>::new());
        // Short searches take the other path and mean the same.
        assert_eq!(found(&search(&app, &admin, "q=ol").await), vec![ids["carol-west"]]);

        // New emails are searchable at once; the old ones are gone.
        let r = app.client.patch(app.at(&format!("/api/v1/users/{}", ids["bob-east"]))).bearer_auth(&admin)
            .json(&json!({ "email": "robert@elsewhere.test" })).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(found(&search(&app, &admin, "q=elsewhere").await), vec![ids["bob-east"]]);
        assert_eq!(found(&search(&app, &admin, "q=bob-east%40example").await), Vec::<i64>::new());
    }

    // By username whatever its case, page after page: along the username index, and (SQLite,
    // a search of 3+ characters) by sorting the few matches of the trigram index.
    async fn users_sort_by_username_whatever_their_case(app) {
        let admin = app.admin_token().await;
        for (name, role) in [("carol-West", Role::Customer), ("alice-west", Role::Customer), ("Bob-east", Role::Customer), ("west-boss", Role::Admin), ("Dave_north", Role::Customer)] {
            app.create_user(name, role).await;
        }
        for (query, expected) in [
            ("", &["alice-west", "Bob-east", "carol-West", "Dave_north", "root-admin", "west-boss"][..]),
            ("&q=west", &["alice-west", "carol-West", "west-boss"]),
            ("&q=we", &["alice-west", "carol-West", "west-boss"]),
            ("&role=customer", &["alice-west", "Bob-east", "carol-West", "Dave_north"]),
            ("&role=admin&q=west", &["west-boss"]),
            ("&q=nobody", &[]),
        ] {
            let (names, totals) = by_username(&app, &admin, &format!("limit=2{query}")).await;
            assert_eq!(names, expected, "{query}");
            assert!(totals.iter().all(|t| *t == expected.len() as u64), "{query}: {totals:?}");
        }
        // A cursor belongs to its order.
        let first = search(&app, &admin, "sort=username&limit=1").await;
        let cursor = first.next_cursor.unwrap();
        assert_eq!(app.get(&format!("/api/v1/users?cursor={cursor}"), &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/users?sort=username&cursor=7", &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/users?sort=username&cursor=u.zz", &admin).await.status(), 422);
        assert_eq!(app.get("/api/v1/users?sort=email", &admin).await.status(), 400);

        // A search that matches more than a count's worth walks the username index instead.
        let series = if app.is_postgres() {
            "generate_series(1, 1001) AS i".to_owned()
        } else {
            "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1001) SELECT i FROM n)".to_owned()
        };
        app.sql(&format!(
            "INSERT INTO users (username, email, role, password_hash, disabled, created_at, updated_at) \
             SELECT 'crowd-' || i, 'crowd-' || i || '@example.com', 'customer', 'no-password', false, \
             '2026-12-01 00:00:00', '2026-12-01 00:00:00' FROM {series}"
        ))
        .await;
        let crowd = search(&app, &admin, "sort=username&q=crowd&limit=3").await;
        assert_eq!(names(&crowd), ["crowd-1", "crowd-10", "crowd-100"]);
        assert_eq!((crowd.total, crowd.total_capped), (1_000, true));
        let next = search(&app, &admin, &format!("sort=username&q=crowd&limit=3&cursor={}", crowd.next_cursor.unwrap())).await;
        assert_eq!(names(&next), ["crowd-1000", "crowd-1001", "crowd-101"]);
        let few = search(&app, &admin, "sort=username&q=crowd-100&limit=2").await;
        assert_eq!((names(&few), few.total), (vec!["crowd-100".to_owned(), "crowd-1000".to_owned()], 3));
    }

    // serde reads a struct from an array too; every body must be a JSON object.
    async fn arrays_are_not_bodies(app) {
        let admin = app.admin_token().await;
        let user = app.create_user("acme", Role::Customer).await;
        for (method, path) in [
            (reqwest::Method::POST, "/api/v1/auth/login".to_owned()),
            (reqwest::Method::POST, "/api/v1/users".to_owned()),
            (reqwest::Method::PATCH, format!("/api/v1/users/{}", user.id)),
            (reqwest::Method::POST, "/api/v1/servers".to_owned()),
            (reqwest::Method::POST, "/api/v1/tokens".to_owned()),
        ] {
            let r = app.client.request(method.clone(), app.at(&path)).bearer_auth(&admin)
                .header("content-type", "application/json").body("[null, null]").send().await.unwrap();
            assert_eq!(r.status(), 400, "{method} {path}");
            assert_eq!(r.json::<ErrorBody>().await.unwrap().error, ErrorCode::BadRequest);
        }
        let unchanged: UserView = app.get(&format!("/api/v1/users/{}", user.id), &admin).await.json().await.unwrap();
        assert_eq!(unchanged.username, "acme");
    }

    async fn the_last_admin_cannot_lock_everyone_out(app) {
        let root = app.create_user("root-admin", Role::Admin).await;
        let token = app.login(&root).await;
        let r = app.client.patch(app.at(&format!("/api/v1/users/{}", root.id))).bearer_auth(&token)
            .json(&json!({ "disabled": true })).send().await.unwrap();
        assert_eq!(r.status(), 422);
    }

    async fn integrator_tokens_have_scopes_and_can_be_revoked(app) {
        let admin = app.admin_token().await;
        let r = app.post("/api/v1/tokens", &admin, json!({ "name": "billing", "scopes": ["read"] })).await;
        assert_eq!(r.status(), 201);
        let created: pulsekey_types::CreatedToken = r.json().await.unwrap();
        assert!(created.token.starts_with(&created.view.prefix));
        assert_eq!(app.get("/api/v1/users", &created.token).await.status(), 200);
        let write = app.post("/api/v1/users", &created.token, json!({
            "username": "gina", "email": "g@example.com", "password": "gina-password-1", "role": "customer"
        })).await;
        assert_eq!(write.status(), 403);
        assert_eq!(app.get("/api/v1/tokens", &created.token).await.status(), 403);
        let listed: pulsekey_types::TokenList = app.get("/api/v1/tokens", &admin).await.json().await.unwrap();
        let text = serde_json::to_string(&listed).unwrap();
        assert!(!text.contains(&created.token));
        assert!(listed.items[0].last_used_at.is_some());
        let del = app.client.delete(app.at(&format!("/api/v1/tokens/{}", created.view.id))).bearer_auth(&admin).send().await.unwrap();
        assert_eq!(del.status(), 204);
        assert_eq!(app.get("/api/v1/users", &created.token).await.status(), 401);
        assert_eq!(app.audit(&admin, "action=token.revoke").await.len(), 1);
    }

    async fn cookie_sessions_need_the_csrf_header_for_changes(app) {
        let admin = app.create_user("root-admin", Role::Admin).await;
        let r = app.client.post(app.at("/api/v1/auth/login"))
            .json(&json!({ "username": admin.username, "password": admin.password })).send().await.unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let pair = cookie.split(';').next().unwrap().to_owned();
        let get = app.client.get(app.at("/api/v1/users")).header("cookie", &pair).send().await.unwrap();
        assert_eq!(get.status(), 200);
        let body = json!({ "username": "hank", "email": "h@example.com", "password": "hank-password-1", "role": "customer" });
        let no_csrf = app.client.post(app.at("/api/v1/users")).header("cookie", &pair).json(&body).send().await.unwrap();
        assert_eq!(no_csrf.status(), 403);
        let with_csrf = app.client.post(app.at("/api/v1/users")).header("cookie", &pair)
            .header("x-pulsekey-csrf", "1").json(&body).send().await.unwrap();
        assert_eq!(with_csrf.status(), 201);
    }
}

async fn search(app: &crate::util::test_app::TestApp, admin: &str, query: &str) -> UserList {
    app.get(&format!("/api/v1/users?{query}"), admin)
        .await
        .json()
        .await
        .unwrap()
}

fn names(page: &UserList) -> Vec<String> {
    page.items.iter().map(|u| u.username.clone()).collect()
}

/// Every page of `query` by username: the names, and the total each page gave.
async fn by_username(
    app: &crate::util::test_app::TestApp,
    admin: &str,
    query: &str,
) -> (Vec<String>, Vec<u64>) {
    let (mut all, mut totals, mut cursor) = (Vec::new(), Vec::new(), String::new());
    for _ in 0..20 {
        let page = search(
            app,
            admin,
            &format!("sort=username&{query}&cursor={cursor}"),
        )
        .await;
        all.extend(names(&page));
        totals.push(page.total);
        match page.next_cursor {
            Some(next) => cursor = next,
            None => return (all, totals),
        }
    }
    panic!("{query}: still paging after 20 pages: {all:?}")
}

fn found(page: &UserList) -> Vec<i64> {
    page.items.iter().map(|u| u.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_sign_in_budget() {
    let app = crate::util::test_app::TestApp::postgres().await;
    let carol = app.create_user("carol", Role::Customer).await;
    let node_b = app.another_node().await;
    for (n, url) in [&app.url, &node_b.url, &app.url, &node_b.url, &app.url]
        .into_iter()
        .enumerate()
    {
        let r = app
            .client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&json!({ "username": "carol", "password": "wrong-password-1" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "attempt {n}");
    }
    for url in [&app.url, &node_b.url] {
        let r = app
            .client
            .post(format!("{url}/api/v1/auth/login"))
            .json(&json!({ "username": "carol", "password": carol.password }))
            .send()
            .await
            .unwrap();
        crate::util::assert_retry_after(r, 900).await;
    }
}

/// A database from before usernames were unique regardless of case, holding `admin` and
/// `Admin`: the upgrade stops, names both, and changes nothing.
#[test]
fn an_upgrade_that_meets_case_duplicates_names_them_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3").display().to_string();
    let db = pulsekey_db::Db::open(&path, 1).unwrap();
    let mut conn = db.conn().unwrap();
    // Back to the schema before the migration, then the duplicates it forbids.
    pulsekey_db::testing::execute(
        &mut conn,
        "DROP TABLE login_failures; DROP INDEX users_username_lower; \
         DELETE FROM __diesel_schema_migrations WHERE version LIKE '20261202000007%'; \
         INSERT INTO users (username, email, role, password_hash, disabled, created_at, updated_at) VALUES \
           ('admin', 'a@example.com', 'admin', 'x', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), \
           ('Admin', 'b@example.com', 'admin', 'x', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00'), \
           ('bob', 'c@example.com', 'customer', 'x', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00');",
    )
    .unwrap();
    drop(conn);
    drop(db);
    let Err(err) = pulsekey_db::Db::open(&path, 1) else {
        panic!("the upgrade went ahead")
    };
    let err = err.to_string();
    assert!(
        err.contains("admin (id 1)") && err.contains("Admin (id 2)"),
        "{err}"
    );
    assert!(!err.contains("bob"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    // Nothing changed: both rows are there and the migration is still pending.
    let mut conn = pulsekey_db::testing::open_sqlite_unmigrated(&path).unwrap();
    let mut count = |sql: &str| pulsekey_db::testing::query_number(&mut conn, sql).unwrap();
    assert_eq!(
        count("SELECT COUNT(*) AS n FROM users WHERE lower(username) = 'admin'"),
        2
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) AS n FROM __diesel_schema_migrations WHERE version LIKE '20261202000007%'"
        ),
        0
    );
}
