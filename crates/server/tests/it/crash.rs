//! kill -9 in the middle of heartbeats and admin actions: after a restart, every action that
//! answered 2xx is there with its audit entry, and none is half-applied.

use std::collections::HashMap;

use pulsekey_types::{AuditPage, LicenseStatus, LicenseView};

use crate::util::serve::{ServeProcess, seed};

const SERVERS: i64 = 4;

#[tokio::test]
async fn a_killed_server_keeps_every_answered_action_and_its_audit_entry() {
    let data_dir = tempfile::tempdir().unwrap();
    let (_, keys) = seed(data_dir.path(), SERVERS as u32);
    let mut server = ServeProcess::start(data_dir).await;
    let password = server.first_admin_password();
    let token = server.login("admin", &password).await.token;
    let client = reqwest::Client::new();

    // Heartbeats all along.
    let beating = tokio::spawn({
        let (client, url) = (client.clone(), format!("{}/heartbeat", server.url));
        async move {
            loop {
                for key in &keys {
                    let _ = client
                        .post(&url)
                        .bearer_auth(key)
                        .json(&serde_json::json!({ "version": "1" }))
                        .send()
                        .await;
                }
            }
        }
    });
    // Admin actions on every server, in a cycle; each answered one is remembered.
    let acting = tokio::spawn({
        let (client, url, token) = (client.clone(), server.url.clone(), token.clone());
        async move {
            let mut answered: HashMap<i64, Vec<(&'static str, LicenseView)>> = HashMap::new();
            for round in 0.. {
                let action = ["regenerate", "revoke", "reinstate"][round % 3];
                for id in 1..=SERVERS {
                    let Ok(r) = client
                        .post(format!("{url}/api/v1/servers/{id}/license/{action}"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({}))
                        .send()
                        .await
                    else {
                        return answered;
                    };
                    if !r.status().is_success() {
                        return answered;
                    }
                    let Ok(card) = r.json::<LicenseView>().await else {
                        return answered;
                    };
                    answered.entry(id).or_default().push((action, card));
                }
            }
            answered
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.stop(); // SIGKILL
    let answered = acting.await.unwrap();
    beating.abort();
    assert!(
        answered.values().map(Vec::len).sum::<usize>() >= 3 * SERVERS as usize,
        "too few actions ran"
    );

    let data_dir = tempfile::tempdir().unwrap();
    std::fs::remove_dir(data_dir.path()).unwrap();
    std::fs::rename(server.data_dir.path(), data_dir.path()).unwrap();
    let server = ServeProcess::start(data_dir).await;
    let token = server.login("admin", &password).await.token;
    for id in 1..=SERVERS {
        let card: LicenseView = client
            .get(format!("{}/api/v1/servers/{id}/license", server.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut entries = Vec::new();
        let mut cursor = String::new();
        loop {
            let page: AuditPage = client
                .get(format!(
                    "{}/api/v1/audit-log?target={id}&limit=100{cursor}",
                    server.url
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            entries.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        let logged: Vec<&str> = entries
            .iter()
            .rev()
            .filter_map(|e| e.action.strip_prefix("server.license."))
            .filter(|a| ["regenerate", "revoke", "reinstate"].contains(a))
            .collect();
        let done: Vec<&str> = answered.get(&id).map_or(Vec::new(), |a| {
            a.iter().map(|(action, _)| *action).collect()
        });
        // Every answered action is logged, in order; at most one more, whose answer the
        // kill cut off after it committed.
        assert!(
            logged.len() == done.len() || logged.len() == done.len() + 1,
            "server {id}: {logged:?} vs {done:?}"
        );
        assert_eq!(logged[..done.len()], done[..], "server {id}");
        // The state is the one the last logged action leaves: never half-applied.
        let expected = match logged.last().copied() {
            Some("revoke") => LicenseStatus::Grace,
            _ => LicenseStatus::Active,
        };
        assert_eq!(card.status, expected, "server {id} after {logged:?}");
        if logged.len() == done.len()
            && let Some((_, last)) = answered.get(&id).and_then(|a| a.last())
        {
            assert_eq!(
                (card.status, &card.key_masked),
                (last.status, &last.key_masked),
                "server {id}"
            );
        }
    }
}
