use pulsekey_types::{ErrorBody, ErrorCode, HealthResponse};

use crate::util::test_app::TestApp;

both_backends! {
    async fn healthz_and_readyz_answer_with_the_version(app) {
        for path in ["/healthz", "/readyz"] {
            let response = app.client.get(app.at(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let body: HealthResponse = response.json().await.unwrap();
            assert_eq!(body.status, "ok");
            assert_eq!(body.version, env!("CARGO_PKG_VERSION"));
        }
    }

    async fn unknown_api_paths_are_json_404s(app) {
        for (method, path) in [
            (reqwest::Method::GET, "/api/v1/nothing-here"),
            (reqwest::Method::POST, "/api/v1/nothing-here"),
            (reqwest::Method::GET, "/api"),
            (reqwest::Method::DELETE, "/admin/users"),
        ] {
            let response = app.client.request(method.clone(), app.at(path)).send().await.unwrap();
            assert_eq!(response.status(), 404, "{method} {path}");
            let body: ErrorBody = response.json().await.unwrap();
            assert_eq!(body.error, ErrorCode::NotFound);
        }
    }

    async fn a_known_path_with_another_method_is_a_405_naming_the_allowed_ones(app) {
        for (method, path, allow) in [
            (reqwest::Method::GET, "/heartbeat", "POST"),
            (reqwest::Method::DELETE, "/api/v1/users/3", "GET, PATCH"),
            (reqwest::Method::PUT, "/api/v1/servers/1/license/revoke", "POST"),
            (reqwest::Method::OPTIONS, "/api/v1/auth/login", "POST"),
        ] {
            let response = app.client.request(method.clone(), app.at(path)).send().await.unwrap();
            assert_eq!(response.status(), 405, "{method} {path}");
            assert_eq!(response.headers()["allow"], allow, "{method} {path}");
            // No CORS grant, not even to a preflight: the API is same-origin only.
            assert!(response.headers().get("access-control-allow-origin").is_none());
            let body: ErrorBody = response.json().await.unwrap();
            assert_eq!(body.error, ErrorCode::MethodNotAllowed);
        }
    }

    async fn the_api_docs_carry_the_web_apps_protections(app) {
        for path in ["/api-docs/", "/api-docs/swagger-ui-bundle.js", "/api-docs/openapi.json"] {
            let response = app.client.get(app.at(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("script-src 'self';") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
            assert_eq!(response.headers()["x-frame-options"], "DENY", "{path}");
            assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(response.headers()["referrer-policy"], "no-referrer", "{path}");
        }
    }

    async fn other_paths_serve_the_web_app_for_client_side_routing(app) {
        for path in ["/", "/login", "/admin/users/42"] {
            let response = app.client.get(app.at(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"), "{csp}");
            assert!(!csp.contains("unsafe-inline"), "{csp}");
            assert_eq!(response.headers()["x-frame-options"], "DENY");
            assert_eq!(response.headers()["x-content-type-options"], "nosniff");
            assert_eq!(response.headers()["referrer-policy"], "no-referrer");
            assert!(response.headers().get("access-control-allow-origin").is_none());
            assert!(response.text().await.unwrap().contains("<title>pulsekey</title>"));
        }
    }
}

/// The app's files: compressed copies by `Accept-Encoding`, hashed names kept a year, and
/// `index.html` revalidated by its ETag.
#[tokio::test]
async fn assets_are_sent_compressed_cached_by_name_and_revalidated_by_etag() {
    let app = TestApp::builder().spawn(false).await;
    let index = app.client.get(app.at("/")).send().await.unwrap();
    assert_eq!(index.headers()["cache-control"], "no-cache");
    let etag = index.headers()["etag"].to_str().unwrap().to_owned();
    let html = index.text().await.unwrap();
    let wasm = html
        .split('"')
        .find(|part| part.starts_with("/assets/frontend_bg-") && part.ends_with(".wasm"))
        .expect("index.html names the hashed wasm")
        .to_owned();
    assert!(html.contains("data-testid=\"shell\""), "no shell to paint");

    let fetch = |accept: &'static str| {
        app.client
            .get(app.at(&wasm))
            .header("accept-encoding", accept)
            .send()
    };
    let mut sizes = Vec::new();
    for (accept, encoding) in [
        ("gzip, deflate, br, zstd", Some("br")),
        ("gzip, br;q=0", Some("gzip")),
        ("identity", None),
    ] {
        let response = fetch(accept).await.unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        let headers = response.headers();
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(headers["content-type"], "application/wasm");
        assert_eq!(
            headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(headers["vary"], "Accept-Encoding");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        sizes.push(response.bytes().await.unwrap().len());
    }
    assert!(sizes[0] < sizes[1] && sizes[1] < sizes[2], "{sizes:?}");

    let again = app
        .client
        .get(app.at("/admin/users"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());

    let stale = app
        .client
        .get(app.at("/assets/frontend_bg-0000000000000000.wasm"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 404);
}
