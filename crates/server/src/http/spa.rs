//! Serves the web app embedded at build time, with client-side routing: any GET that is not
//! an asset, the API or the docs gets `index.html`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

use crate::http::error::ApiError;

include!(concat!(env!("OUT_DIR"), "/spa_assets.rs"));

/// No inline script anywhere; wasm needs `wasm-unsafe-eval`, nothing more.
/// The API docs (Swagger UI, vendored): no wasm, and React sets inline styles.
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// What every page served to a browser carries: the app's and the API docs' alike, on the
/// origin of the admin's session cookie.
pub fn page_headers(headers: &mut actix_web::http::header::HeaderMap, policy: &'static str) {
    use actix_web::http::header::HeaderValue;
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT: &str = "<!doctype html><title>pulsekey</title><p>This build of pulsekey \
     has no web app: run <code>scripts/build-frontend</code>, then rebuild the server. The API \
     is at <a href=\"/api-docs/\">/api-docs/</a>.</p>";

fn asset(path: &str) -> Option<&'static [u8]> {
    SPA_ASSETS
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The app's fallback route: a known API path with another method is a 405, unknown API
/// paths are JSON 404s, the rest is the SPA.
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    let is_api = path == "/api" || path.starts_with("/api/") || path.starts_with("/api-docs");
    let is_read = req.method() == actix_web::http::Method::GET
        || req.method() == actix_web::http::Method::HEAD;
    if let Some(allowed) = crate::http::known_routes::KnownRoutes::get().allowed(path) {
        return Err(ApiError::MethodNotAllowed {
            method: req.method().to_string(),
            allowed: allowed.iter().map(|m| m.as_str()).collect(),
        });
    }
    if is_api || !is_read {
        return Err(ApiError::NotFound(format!(
            "no route for {} {}",
            req.method(),
            path
        )));
    }
    let name = path.trim_start_matches('/');
    let (name, bytes) = match asset(name) {
        Some(bytes) if !name.is_empty() => (name, bytes),
        _ => match asset("index.html") {
            Some(bytes) => ("index.html", bytes),
            None => ("index.html", NOT_BUILT.as_bytes()),
        },
    };
    let mut response = HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type(name)))
        // Asset names are not content-hashed: always revalidate.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .body(bytes);
    page_headers(response.headers_mut(), CONTENT_SECURITY_POLICY);
    Ok(response)
}
