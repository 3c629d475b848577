//! Every route × every kind of caller → the expected answer. Fails when a route is added
//! to the OpenAPI document without a row here.

use std::collections::BTreeSet;

use pulsekey_types::Role;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Reaches the handler: any answer but 401, 403, 404 or 5xx.
    Allowed,
    Unauthorized,
    Forbidden,
    NotFound,
}
use Expect::*;

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Public,
    LicenseKey,
    SignedIn,
    /// Any signed-in person, by a session (an API token is refused).
    SignedInSession,
    AdminRead,
    AdminLicensesWrite,
    AdminUsersWrite,
    AdminWebhooksWrite,
    AdminSessionOnly,
    Customer,
    OwningCustomer,
}

const CALLERS: [&str; 10] = [
    "anonymous",
    "customer",
    "other_customer",
    "admin",
    "token_read",
    "token_licenses_write",
    "token_users_write",
    "token_webhooks_write",
    "expired_token",
    "forged_token",
];

fn expected(rule: Rule, caller: &str) -> Expect {
    let bad_credentials = matches!(caller, "expired_token" | "forged_token");
    match rule {
        Rule::Public => Allowed,
        Rule::LicenseKey => Unauthorized,
        _ if caller == "anonymous" || bad_credentials => Unauthorized,
        Rule::SignedIn => Allowed,
        Rule::SignedInSession if caller.starts_with("token_") => Forbidden,
        Rule::SignedInSession => Allowed,
        Rule::AdminRead
        | Rule::AdminLicensesWrite
        | Rule::AdminUsersWrite
        | Rule::AdminWebhooksWrite
        | Rule::AdminSessionOnly => {
            let scope = match rule {
                Rule::AdminRead => "token_read",
                Rule::AdminLicensesWrite => "token_licenses_write",
                Rule::AdminUsersWrite => "token_users_write",
                Rule::AdminWebhooksWrite => "token_webhooks_write",
                _ => "none",
            };
            match caller {
                "admin" => Allowed,
                c if c == scope => Allowed,
                _ => Forbidden,
            }
        }
        Rule::Customer => {
            if caller.ends_with("customer") {
                Allowed
            } else {
                Forbidden
            }
        }
        Rule::OwningCustomer => match caller {
            "customer" => Allowed,
            "other_customer" => NotFound,
            _ => Forbidden,
        },
    }
}

/// (method, OpenAPI path, rule). Order matters only in that logout comes last.
fn routes() -> Vec<(&'static str, &'static str, Rule)> {
    vec![
        ("get", "/healthz", Rule::Public),
        ("get", "/readyz", Rule::Public),
        ("get", "/metrics", Rule::Public),
        ("post", "/heartbeat", Rule::LicenseKey),
        ("post", "/api/v1/auth/login", Rule::Public),
        ("get", "/api/v1/auth/me", Rule::SignedIn),
        ("get", "/api/v1/settings", Rule::SignedIn),
        ("get", "/api/v1/users", Rule::AdminRead),
        ("post", "/api/v1/users", Rule::AdminUsersWrite),
        ("get", "/api/v1/users/{id}", Rule::AdminRead),
        ("patch", "/api/v1/users/{id}", Rule::AdminUsersWrite),
        ("get", "/api/v1/users/{id}/servers", Rule::AdminRead),
        ("get", "/api/v1/fleet", Rule::AdminRead),
        ("get", "/api/v1/fleet/history", Rule::AdminRead),
        ("get", "/api/v1/servers", Rule::AdminRead),
        ("post", "/api/v1/servers", Rule::AdminLicensesWrite),
        ("get", "/api/v1/servers/{id}", Rule::AdminRead),
        ("patch", "/api/v1/servers/{id}", Rule::AdminLicensesWrite),
        ("delete", "/api/v1/servers/{id}", Rule::AdminLicensesWrite),
        ("get", "/api/v1/servers/{id}/events", Rule::AdminRead),
        ("get", "/api/v1/servers/{id}/license", Rule::AdminRead),
        (
            "post",
            "/api/v1/servers/{id}/license/reveal",
            Rule::AdminLicensesWrite,
        ),
        (
            "post",
            "/api/v1/servers/{id}/license/regenerate",
            Rule::AdminLicensesWrite,
        ),
        (
            "post",
            "/api/v1/servers/{id}/license/revoke",
            Rule::AdminLicensesWrite,
        ),
        (
            "post",
            "/api/v1/servers/{id}/license/reinstate",
            Rule::AdminLicensesWrite,
        ),
        ("get", "/api/v1/audit-log", Rule::AdminRead),
        ("get", "/api/v1/me/servers", Rule::Customer),
        (
            "get",
            "/api/v1/me/servers/{id}/install",
            Rule::OwningCustomer,
        ),
        ("get", "/api/v1/tokens", Rule::AdminSessionOnly),
        ("post", "/api/v1/tokens", Rule::AdminSessionOnly),
        ("delete", "/api/v1/tokens/{id}", Rule::AdminSessionOnly),
        ("get", "/api/v1/webhooks", Rule::AdminWebhooksWrite),
        ("post", "/api/v1/webhooks", Rule::AdminWebhooksWrite),
        ("get", "/api/v1/webhooks/{id}", Rule::AdminWebhooksWrite),
        ("patch", "/api/v1/webhooks/{id}", Rule::AdminWebhooksWrite),
        ("delete", "/api/v1/webhooks/{id}", Rule::AdminWebhooksWrite),
        (
            "post",
            "/api/v1/webhooks/{id}/rotate-secret",
            Rule::AdminWebhooksWrite,
        ),
        (
            "post",
            "/api/v1/webhooks/{id}/test",
            Rule::AdminWebhooksWrite,
        ),
        (
            "get",
            "/api/v1/webhooks/{id}/deliveries",
            Rule::AdminWebhooksWrite,
        ),
        (
            "post",
            "/api/v1/webhooks/{id}/deliveries/{deliveryId}/retry",
            Rule::AdminWebhooksWrite,
        ),
        ("post", "/api/v1/auth/login/mfa", Rule::Public),
        ("post", "/api/v1/auth/totp", Rule::SignedInSession),
        ("post", "/api/v1/auth/totp/confirm", Rule::SignedInSession),
        ("delete", "/api/v1/auth/totp", Rule::SignedInSession),
        ("delete", "/api/v1/users/{id}/totp", Rule::AdminSessionOnly),
        ("get", "/api/v1/auth/sessions", Rule::SignedInSession),
        (
            "delete",
            "/api/v1/auth/sessions/{id}",
            Rule::SignedInSession,
        ),
        ("delete", "/api/v1/auth/sessions", Rule::SignedInSession),
        ("post", "/api/v1/auth/logout", Rule::SignedIn),
        ("post", "/api/v1/auth/password", Rule::SignedInSession),
    ]
}

#[test]
fn every_documented_route_has_a_row() {
    let spec = serde_json::to_value(pulsekey_server::http::openapi::document()).unwrap();
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let listed: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, listed,
        "the authorization matrix and the OpenAPI document disagree"
    );
}

both_backends! {
    async fn every_route_answers_every_caller_as_its_rule_says(app) {
        let admin_user = app.create_user("root-admin", Role::Admin).await;
        let admin = app.login(&admin_user).await;
        let customer = app.create_user("acme", Role::Customer).await;
        let other = app.create_user("globex", Role::Customer).await;
        let new_webhook = || async {
            let r = app.post("/api/v1/webhooks", &admin, json!({ "url": "http://127.0.0.1:9/hook", "events": "all" })).await;
            r.json::<pulsekey_types::WebhookWithSecret>().await.unwrap().webhook.id
        };
        // Heard before the server exists, so that its creation is delivery 1 (no worker runs
        // here: the delivery stays pending).
        let webhook = new_webhook().await;
        let delivery = 1;
        let server = app.create_server(&admin, customer.id, "acme-prod").await;
        let mut tokens = std::collections::HashMap::new();
        for (name, scope) in [("token_read", "read"), ("token_licenses_write", "licenses:write"), ("token_users_write", "users:write"), ("token_webhooks_write", "webhooks:write"), ("expired_token", "read")] {
            let r = app.post("/api/v1/tokens", &admin, json!({ "name": name, "scopes": [scope] })).await;
            let created: pulsekey_types::CreatedToken = r.json().await.unwrap();
            if name == "expired_token" {
                app.sql(&format!("UPDATE api_tokens SET expires_at = '2020-01-01 00:00:00' WHERE id = {}", created.view.id)).await;
            }
            tokens.insert(name, created.token);
        }
        // The admin reset needs a second factor to clear: a user of its own, enrolled.
        let initech = app.create_user("initech", Role::Customer).await;
        let initech_session = app.login(&initech).await;
        let enrolment: pulsekey_types::TotpEnrolment = app.post("/api/v1/auth/totp", &initech_session, json!({})).await.json().await.unwrap();
        let secret = totp_rs::Secret::try_from_base32(&enrolment.secret).unwrap();
        let code = totp_rs::Builder::new().with_secret(secret).build().unwrap().generate_current().to_string();
        assert_eq!(app.post("/api/v1/auth/totp/confirm", &initech_session, json!({ "code": code })).await.status(), 200);
        let victim: pulsekey_types::CreatedToken = app.post("/api/v1/tokens", &admin, json!({ "name": "victim", "scopes": ["read"] })).await.json().await.unwrap();
        let mut forged: Vec<String> = admin.split('.').map(str::to_owned).collect();
        forged[2] = "c2lnbmF0dXJl".into();

        let mut counter = 0;
        let mut failures = Vec::new();
        for (method, template, rule) in routes() {
            for caller in CALLERS {
                // Sessions are made fresh per call so that logout cannot spoil later rows.
                let bearer = match caller {
                    "anonymous" => None,
                    "customer" => Some(app.login(&customer).await),
                    "other_customer" => Some(app.login(&other).await),
                    "admin" => Some(app.login(&admin_user).await),
                    "forged_token" => Some(forged.join(".")),
                    token => Some(tokens[token].clone()),
                };
                counter += 1;
                // A delete that is allowed takes its server away: each caller gets its own.
                let server = if (method, template) == ("delete", "/api/v1/servers/{id}") {
                    app.create_server(&admin, customer.id, &format!("doomed-{counter}")).await
                } else {
                    server
                };
                let webhook = if (method, template) == ("delete", "/api/v1/webhooks/{id}") {
                    new_webhook().await
                } else {
                    webhook
                };
                // A session's own id: ending it is allowed (the session is this call's alone).
                let own_session = match (&bearer, template) {
                    (Some(bearer), "/api/v1/auth/sessions/{id}") if !bearer.starts_with("pkt_") => {
                        let list = app.get("/api/v1/auth/sessions", bearer).await;
                        match list.json::<pulsekey_types::SessionList>().await {
                            Ok(list) => list.items.into_iter().find(|s| s.current).map(|s| s.id),
                            Err(_) => None,
                        }
                    }
                    _ => None,
                };
                let path = template
                    .replace("/users/{id}/totp", &format!("/users/{}/totp", initech.id))
                    .replace("/users/{id}", &format!("/users/{}", other.id))
                    .replace("/sessions/{id}", &format!("/sessions/{}", own_session.as_deref().unwrap_or("none")))
                    .replace("/servers/{id}", &format!("/servers/{server}"))
                    .replace("/tokens/{id}", &format!("/tokens/{}", victim.view.id))
                    .replace("/webhooks/{id}", &format!("/webhooks/{webhook}"))
                    .replace("{deliveryId}", &delivery.to_string());
                let body: Value = match (method, template) {
                    ("post", "/api/v1/auth/login") => json!({ "username": "acme", "password": customer.password }),
                    // A wrong current password: a 422 that changes nothing for later callers.
                    ("post", "/api/v1/auth/password") => json!({ "currentPassword": "not-it-at-all", "newPassword": "a-new-password-1" }),
                    ("post", "/api/v1/users") => json!({ "username": format!("new-user-{counter}"), "email": "n@example.com", "password": "new-user-password-1", "role": "customer" }),
                    ("patch", "/api/v1/servers/{id}") => json!({ "name": format!("renamed-{counter}") }),
                    ("patch", "/api/v1/webhooks/{id}") => json!({ "description": format!("changed-{counter}") }),
                    ("post", "/api/v1/webhooks") => json!({ "url": "http://127.0.0.1:9/hook", "events": ["server.created"] }),
                    ("patch", _) => json!({ "email": "globex@example.com" }),
                    ("post", "/api/v1/servers") => json!({ "ownerId": customer.id, "name": format!("srv-{counter}") }),
                    ("post", "/api/v1/tokens") => json!({ "name": format!("t-{counter}"), "scopes": ["read"] }),
                    ("post", "/heartbeat") => json!({ "version": "1.0" }),
                    _ => json!({}),
                };
                let mut request = app.client.request(method.to_uppercase().parse().unwrap(), app.at(&path));
                if let Some(bearer) = &bearer {
                    request = request.bearer_auth(bearer);
                }
                if method != "get" && method != "delete" {
                    request = request.json(&body);
                }
                let status = request.send().await.unwrap().status().as_u16();
                let got = match status {
                    401 => Unauthorized,
                    403 => Forbidden,
                    404 => NotFound,
                    s if s >= 500 => panic!("{method} {path} as {caller}: {s}"),
                    _ => Allowed,
                };
                let want = expected(rule, caller);
                if got != want {
                    failures.push(format!("{method} {template} as {caller}: want {want:?}, got {status}"));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
