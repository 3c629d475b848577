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

/// An embedded file: its bytes and its ETag.
fn asset(path: &str) -> Option<(&'static [u8], &'static str)> {
    SPA_ASSETS
        .iter()
        .find(|(name, _, _)| *name == path)
        .map(|(_, bytes, etag)| (*bytes, *etag))
}

/// Whether an `Accept-Encoding` value accepts `coding` (by name or `*`, with a q above 0).
fn accepts(accept_encoding: &str, coding: &str) -> bool {
    let mut wildcard = false;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        let q = parts
            .find_map(|param| param.trim().strip_prefix("q="))
            .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
        if name.eq_ignore_ascii_case(coding) {
            return q > 0.0;
        }
        if name == "*" {
            wildcard = q > 0.0;
        }
    }
    wildcard
}

/// The stored copy of `name` to send for this request: brotli, else gzip, else as it is.
fn encoded(
    req: &HttpRequest,
    name: &str,
    bytes: &'static [u8],
    etag: &'static str,
) -> (&'static [u8], &'static str, Option<&'static str>) {
    let accept = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    for coding in ["br", "gzip"] {
        if accepts(accept, coding)
            && let Some((bytes, etag)) = asset(&format!("{name}.{}", extension(coding)))
        {
            return (bytes, etag, Some(coding));
        }
    }
    (bytes, etag, None)
}

fn extension(coding: &str) -> &'static str {
    if coding == "br" { "br" } else { "gz" }
}

/// Whether the browser's cached copy (`If-None-Match`) is this one.
fn still_fresh(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|tag| tag.trim().trim_start_matches("W/"))
                .any(|tag| tag == etag || tag == "*")
        })
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
    let (name, bytes, etag) = match asset(name) {
        Some((bytes, etag)) if !name.is_empty() => (name, bytes, etag),
        // An asset of another build (a page opened before an upgrade) is gone, not the app.
        _ if name.starts_with("assets/") => {
            return Err(ApiError::NotFound(format!("no asset {path} in this build")));
        }
        _ => match asset("index.html") {
            Some((bytes, etag)) => ("index.html", bytes, etag),
            None => ("index.html", NOT_BUILT.as_bytes(), "\"not-built\""),
        },
    };
    let (body, etag, encoding) = encoded(&req, name, bytes, etag);
    // Hashed names change with their content, so they may be kept a year; index.html names
    // them and is revalidated each time (a 304 of a few hundred bytes when unchanged).
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut response = if still_fresh(&req, etag) {
        HttpResponse::NotModified().finish()
    } else {
        let mut ok = HttpResponse::Ok();
        ok.insert_header((header::CONTENT_TYPE, content_type(name)));
        if let Some(coding) = encoding {
            ok.insert_header((header::CONTENT_ENCODING, coding));
        }
        ok.body(body)
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::ETAG, HeaderValue::from_static(etag));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if name.starts_with("assets/") {
        // A script, style or wasm file: a content security policy, framing and referrer
        // rules apply to the page that loads it, not to it (260 bytes a file saved on the
        // first visit); it is only never to be read as another type.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    } else {
        page_headers(headers, CONTENT_SECURITY_POLICY);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::accepts;

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip, deflate, br, zstd", "gzip"));
        assert!(!accepts("gzip, deflate", "br"));
        assert!(!accepts("br;q=0, gzip", "br"));
        assert!(accepts("BR;q=0.5", "br"));
        assert!(accepts("*", "gzip"));
        assert!(!accepts("*, gzip;q=0", "gzip"));
        assert!(!accepts("identity", "gzip"));
        assert!(!accepts("", "br"));
    }
}
