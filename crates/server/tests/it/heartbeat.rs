use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use pulsekey_types::{ErrorBody, ErrorCode, InstallConfig, Role};
use serde_json::json;

both_backends! {
    async fn bad_keys_all_get_the_same_401(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let mut wrong_checksum = key.clone();
        wrong_checksum.replace_range(10..11, if &key[10..11] == "A" { "B" } else { "A" });
        let unknown = "pk_".to_owned() + &"0".repeat(43) + "000000";
        let cases: Vec<Option<String>> = vec![
            None,
            Some("Bearer".into()),
            Some("Basic abc".into()),
            Some("Bearer not-a-key".into()),
            Some(format!("Bearer {wrong_checksum}")),
            Some(format!("Bearer {unknown}")),
            Some(format!("Bearer {}", "pk_".to_owned() + &"x".repeat(5000))),
        ];
        let mut bodies = std::collections::HashSet::new();
        for auth in cases {
            let mut request = app.client.post(app.at("/heartbeat")).json(&json!({ "version": "1.0" }));
            if let Some(auth) = &auth {
                request = request.header("authorization", auth);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{auth:?}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
            bodies.insert(response.text().await.unwrap());
        }
        assert_eq!(bodies.len(), 1);
        let body: ErrorBody = serde_json::from_str(bodies.iter().next().unwrap()).unwrap();
        assert_eq!(body.error, ErrorCode::InvalidToken);
    }

    async fn bad_bodies_get_clear_4xx_and_record_nothing(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let key = app.reveal(&admin, server).await;
        let post = |body: Vec<u8>, content_type: &'static str| {
            app.client.post(app.at("/heartbeat")).bearer_auth(&key).header("content-type", content_type).body(body).send()
        };
        assert_eq!(post(b"{".to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(b"{}".to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(br#"{"version":""}"#.to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(br#"{"version":5}"#.to_vec(), "application/json").await.unwrap().status(), 400);
        assert_eq!(post(vec![0xff, 0xfe], "application/json").await.unwrap().status(), 400);
        assert_eq!(post(br#"{"version":"1"}"#.to_vec(), "text/plain").await.unwrap().status(), 415);
        let huge = format!(r#"{{"version":"1","hostname":"{}"}}"#, "h".repeat(100_000));
        let r = post(huge.into_bytes(), "application/json").await.unwrap();
        assert_eq!(r.status(), 413);
        assert_eq!(r.json::<ErrorBody>().await.unwrap().error, ErrorCode::PayloadTooLarge);
        // Several flush intervals (50 ms here) pass: anything recorded would be written by now.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let card: pulsekey_types::LicenseView = app.get(&format!("/api/v1/servers/{server}/license"), &admin).await.json().await.unwrap();
        assert!(card.last_heartbeat_at.is_none());
    }

    async fn verdicts_are_signed_over_nonce_and_body(app) {
        let admin = app.admin_token().await;
        let acme = app.create_user("acme", Role::Customer).await;
        let server = app.create_server(&admin, acme.id, "acme-prod").await;
        let token = app.login(&acme).await;
        let config: InstallConfig = app.get(&format!("/api/v1/me/servers/{server}/install"), &token).await.json().await.unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let public: [u8; 32] = b64.decode(&config.public_key).unwrap().try_into().unwrap();
        let public = VerifyingKey::from_bytes(&public).unwrap();
        let response = app.client.post(app.at("/heartbeat")).bearer_auth(&config.license_key)
            .header("x-pulsekey-nonce", "n0nce-123").json(&json!({ "version": "2.0" })).send().await.unwrap();
        let signature = b64.decode(response.headers()["x-pulsekey-signature"].to_str().unwrap()).unwrap();
        let signature = Signature::from_slice(&signature).unwrap();
        let body = response.bytes().await.unwrap();
        let signed = |nonce: &str, body: &[u8]| [b"pulsekey-heartbeat-v1\n".as_slice(), nonce.as_bytes(), b"\n", body].concat();
        assert!(public.verify(&signed("n0nce-123", &body), &signature).is_ok());
        assert!(public.verify(&signed("other-nonce", &body), &signature).is_err());
        let refused = app.client.post(app.at("/heartbeat")).bearer_auth("pk_unknown")
            .header("x-pulsekey-nonce", "refusal-nonce").json(&json!({ "version": "2.0" })).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        let refusal_signature = b64.decode(refused.headers()["x-pulsekey-signature"].to_str().unwrap()).unwrap();
        let refusal_signature = Signature::from_slice(&refusal_signature).unwrap();
        let refusal = refused.bytes().await.unwrap();
        assert!(public.verify(&signed("refusal-nonce", &refusal), &refusal_signature).is_ok());
        let tampered = String::from_utf8(body.to_vec()).unwrap().replace("ACTIVE", "EXPIRED");
        assert!(public.verify(&signed("n0nce-123", tampered.as_bytes()), &signature).is_err());
    }
}
