//! Second factors (TOTP and recovery codes), `PULSEKEY_REQUIRE_2FA`, and the sessions API.

use pulsekey_core::second_factor::Requirement;
use pulsekey_types::{LoginAnswer, RecoveryCodes, Role, SessionList, TotpEnrolment, UserView};
use serde_json::{Value, json};

use crate::util::test_app::{TestApp, TestUser};

macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(false).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(true).await;
            }
        }
    };
}

/// The code an authenticator app shows `steps_ahead` 30-second steps from now.
fn code(secret: &str, steps_ahead: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let totp = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + steps_ahead * 30;
    totp.generate(u64::try_from(now).unwrap()).to_string()
}

async fn delete(app: &TestApp, path: &str, token: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = app.client.delete(app.at(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Enrols `token`'s user: the secret and the recovery codes. The confirming code is the
/// current step's.
async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let r = app.post("/api/v1/auth/totp", token, json!({})).await;
    assert_eq!(r.status(), 200);
    let enrolment: TotpEnrolment = r.json().await.unwrap();
    let r = app
        .post(
            "/api/v1/auth/totp/confirm",
            token,
            json!({ "code": code(&enrolment.secret, 0) }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let codes: RecoveryCodes = r.json().await.unwrap();
    (enrolment.secret, codes.recovery_codes)
}

async fn password_step(app: &TestApp, user: &TestUser) -> String {
    let r = app
        .client
        .post(app.at("/api/v1/auth/login"))
        .json(&json!({ "username": user.username, "password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    match r.json::<LoginAnswer>().await.unwrap() {
        LoginAnswer::MfaRequired(challenge) => {
            assert!(challenge.mfa_required);
            challenge.mfa_token
        }
        LoginAnswer::SignedIn(_) => panic!("signed in without a second factor"),
    }
}

async fn code_step(app: &TestApp, mfa_token: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.at("/api/v1/auth/login/mfa"))
        .json(&json!({ "mfaToken": mfa_token, "code": code }))
        .send()
        .await
        .unwrap()
}

async fn signed_in_token(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    match r.json::<LoginAnswer>().await.unwrap() {
        LoginAnswer::SignedIn(signed_in) => {
            assert!(signed_in.user.totp_enabled);
            signed_in.token
        }
        LoginAnswer::MfaRequired(_) => panic!("asked for a second factor twice"),
    }
}

async fn sign_in_with_codes(postgres: bool) {
    let app = TestApp::builder().spawn(postgres).await;
    let admin = app.admin_token().await;
    let alice = app.create_user("alice", Role::Customer).await;
    let token = app.login(&alice).await;

    let r = app.post("/api/v1/auth/totp", &token, json!({})).await;
    let enrolment: TotpEnrolment = r.json().await.unwrap();
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/pulsekey:alice?")
    );
    assert!(
        enrolment
            .otpauth_uri
            .contains(&format!("secret={}", enrolment.secret))
    );
    // Not on until confirmed: the password alone still signs in.
    app.login(&alice).await;
    let wrong = if code(&enrolment.secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = app
        .post(
            "/api/v1/auth/totp/confirm",
            &token,
            json!({ "code": wrong }),
        )
        .await;
    assert_eq!(r.status(), 422);
    let now = code(&enrolment.secret, 0);
    let r = app
        .post("/api/v1/auth/totp/confirm", &token, json!({ "code": now }))
        .await;
    assert_eq!(r.status(), 200);
    let codes: RecoveryCodes = r.json().await.unwrap();
    assert_eq!(codes.recovery_codes.len(), 10);
    let me: UserView = app
        .get("/api/v1/auth/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert!(me.totp_enabled);
    // Enrolling again while on is a conflict.
    assert_eq!(
        app.post("/api/v1/auth/totp", &token, json!({}))
            .await
            .status(),
        409
    );

    // The password now only asks for the code; the code used to confirm is spent.
    let mfa = password_step(&app, &alice).await;
    assert_eq!(code_step(&app, &mfa, &now).await.status(), 401);
    let next = code(&enrolment.secret, 1);
    let signed_in = signed_in_token(code_step(&app, &mfa, &next).await).await;
    assert_eq!(app.get("/api/v1/auth/me", &signed_in).await.status(), 200);
    // A code is good once, on any node: replayed at once, refused.
    assert_eq!(code_step(&app, &mfa, &next).await.status(), 401);

    // A recovery code signs in once, typed in any case and without its dash.
    let recovery = codes.recovery_codes[3].to_uppercase().replace('-', "");
    signed_in_token(code_step(&app, &mfa, &recovery).await).await;
    assert_eq!(code_step(&app, &mfa, &recovery).await.status(), 401);
    // An MFA token is not a session, nor a forged one a way in.
    assert_eq!(app.get("/api/v1/auth/me", &mfa).await.status(), 401);
    assert_eq!(code_step(&app, "not-a-token", &next).await.status(), 401);

    let entries = app.audit(&admin, "action=auth.login").await;
    let factors: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.metadata["secondFactor"].as_str())
        .collect();
    assert!(
        factors.contains(&"totp") && factors.contains(&"recovery code"),
        "{factors:?}"
    );
    assert!(
        !app.audit(&admin, "action=user.totp.enabled")
            .await
            .is_empty()
    );
    let audit_text = serde_json::to_string(&app.audit(&admin, "").await).unwrap();
    assert!(
        !audit_text.contains(&enrolment.secret),
        "the secret is in the audit log"
    );
    assert!(
        !audit_text.contains(&codes.recovery_codes[0]),
        "a recovery code is in the audit log"
    );
}
on_both_backends!(sign_in_with_codes);

async fn wrong_codes_count_like_wrong_passwords(postgres: bool) {
    let app = TestApp::builder().spawn(postgres).await;
    let bob = app.create_user("bob", Role::Customer).await;
    let token = app.login(&bob).await;
    let (secret, _) = enrol(&app, &token).await;
    let mfa = password_step(&app, &bob).await;
    let right = code(&secret, 1);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    // Five wrong codes from one address (the test's per-account limit), then a wall.
    for _ in 0..5 {
        assert_eq!(code_step(&app, &mfa, wrong).await.status(), 401);
    }
    let r = code_step(&app, &mfa, &right).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
}
on_both_backends!(wrong_codes_count_like_wrong_passwords);

async fn turning_off_resetting_and_sessions(postgres: bool) {
    let app = TestApp::builder().spawn(postgres).await;
    let admin = app.admin_token().await;
    let carol = app.create_user("carol", Role::Customer).await;
    let first = app.login(&carol).await;
    let second = app.login(&carol).await;
    let sessions: SessionList = app
        .get("/api/v1/auth/sessions", &first)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions.items.len(), 2);
    assert_eq!(sessions.items.iter().filter(|s| s.current).count(), 1);
    assert!(
        sessions
            .items
            .iter()
            .all(|s| s.address.as_deref() == Some("127.0.0.1"))
    );

    // Enrolling ends the other sessions, keeps the one asking.
    let (secret, codes) = enrol(&app, &first).await;
    assert_eq!(app.get("/api/v1/auth/me", &second).await.status(), 401);
    assert_eq!(app.get("/api/v1/auth/me", &first).await.status(), 200);

    // Another session, then end it by id from the first; a stranger's id is not found.
    let mfa = password_step(&app, &carol).await;
    let third = signed_in_token(code_step(&app, &mfa, &code(&secret, 1)).await).await;
    let sessions: SessionList = app
        .get("/api/v1/auth/sessions", &first)
        .await
        .json()
        .await
        .unwrap();
    let other = sessions
        .items
        .iter()
        .find(|s| !s.current)
        .unwrap()
        .id
        .clone();
    assert_eq!(
        delete(
            &app,
            &format!("/api/v1/auth/sessions/{other}"),
            &first,
            None
        )
        .await
        .status(),
        204
    );
    assert_eq!(app.get("/api/v1/auth/me", &third).await.status(), 401);
    assert_eq!(
        delete(
            &app,
            &format!("/api/v1/auth/sessions/{other}"),
            &first,
            None
        )
        .await
        .status(),
        404
    );
    let admin_sessions: SessionList = app
        .get("/api/v1/auth/sessions", &admin)
        .await
        .json()
        .await
        .unwrap();
    let admins = &admin_sessions.items[0].id;
    assert_eq!(
        delete(
            &app,
            &format!("/api/v1/auth/sessions/{admins}"),
            &first,
            None
        )
        .await
        .status(),
        404
    );
    assert_eq!(app.get("/api/v1/auth/me", &admin).await.status(), 200);

    // Turning it off needs a code; a recovery code will do.
    let r = delete(
        &app,
        "/api/v1/auth/totp",
        &first,
        Some(json!({ "code": "zzzzz-zzzzz" })),
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = delete(
        &app,
        "/api/v1/auth/totp",
        &first,
        Some(json!({ "code": codes[0] })),
    )
    .await;
    assert_eq!(r.status(), 204);
    app.login(&carol).await;

    // The admin reset: for a lost phone. Ends every session of the user.
    let (_, _) = enrol(&app, &first).await;
    let r = delete(
        &app,
        &format!("/api/v1/users/{}/totp", carol.id),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.get("/api/v1/auth/me", &first).await.status(), 401);
    let fresh = app.login(&carol).await;
    let r = delete(
        &app,
        &format!("/api/v1/users/{}/totp", carol.id),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status(), 404);
    let entries = app.audit(&admin, "action=user.totp.reset").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].metadata["subjectUserId"], json!(carol.id));

    // End every other session at once.
    let another = app.login(&carol).await;
    assert_eq!(
        delete(&app, "/api/v1/auth/sessions", &fresh, None)
            .await
            .status(),
        204
    );
    assert_eq!(app.get("/api/v1/auth/me", &another).await.status(), 401);
    assert_eq!(app.get("/api/v1/auth/me", &fresh).await.status(), 200);
}
on_both_backends!(turning_off_resetting_and_sessions);

async fn required_for_admins(postgres: bool) {
    let app = TestApp::builder()
        .require_2fa(Requirement::Admins)
        .spawn(postgres)
        .await;
    let admin = app.admin_token().await;
    let r = app.get("/api/v1/servers", &admin).await;
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "second_factor_required");
    let settings: Value = app
        .get("/api/v1/settings", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["secondFactorRequired"], json!(true));
    assert_eq!(app.get("/api/v1/auth/me", &admin).await.status(), 200);
    // Customers are not asked.
    let dave = app.create_user("dave", Role::Customer).await;
    let customer = app.login(&dave).await;
    assert_eq!(app.get("/api/v1/me/servers", &customer).await.status(), 200);
    enrol(&app, &admin).await;
    assert_eq!(app.get("/api/v1/servers", &admin).await.status(), 200);
}
on_both_backends!(required_for_admins);
