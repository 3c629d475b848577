//! `/api/v1/servers/{id}`: renaming and deleting an installation.

use pulsekey_types::{ErrorBody, ErrorCode, Role, ServerView};
use serde_json::json;

both_backends! {
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
