use pulsekey_types::{ErrorBody, ErrorCode, Role, UserList, UserView};
use serde_json::json;

both_backends! {
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
        assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
        assert_eq!(r.json::<ErrorBody>().await.unwrap().error, ErrorCode::TooManyRequests);
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

fn found(page: &UserList) -> Vec<i64> {
    page.items.iter().map(|u| u.id).collect()
}
