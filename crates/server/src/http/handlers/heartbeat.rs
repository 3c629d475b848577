//! The heartbeat endpoint: parse, ask the engine (`pulsekey_core::heartbeat`), sign, render.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post};
use pulsekey_core::heartbeat::{Answer, input};
use pulsekey_core::keys::LicenseKey;
use pulsekey_types::signature::{NONCE_HEADER, SIGNATURE_HEADER};
use pulsekey_types::{ErrorBody, ErrorCode, HeartbeatRequest, HeartbeatResponse};
use time::OffsetDateTime;

use crate::http::error::ApiError;
use crate::http::metrics::HeartbeatResult;
use crate::http::state::SharedState;

/// A proxy's heartbeat: the license's verdict, signed.
///
/// The 200, and the 401 for a refused key, carry `X-Pulsekey-Signature`: an Ed25519
/// signature, by the key whose public half is config.json's `publicKey`, that covers the
/// presented license key (hashed), the request's `X-Pulsekey-Nonce` and the exact response body (whose `serverTime` lets the
/// proxy refuse a replayed verdict). Answers produced together share one signature over a
/// Merkle root; the header is `{signature}.{index}.{path}` (see the README).
#[utoipa::path(
    tag = "heartbeat",
    operation_id = "heartbeat",
    request_body = HeartbeatRequest,
    params(
        ("X-Pulsekey-Nonce" = Option<String>, Header, description = "1–128 visible ASCII characters, echoed into the signed bytes", pattern = "^[!-~]{1,128}$"),
    ),
    security(("license_key" = [])),
    responses(
        (status = 200, description = "The verdict", body = HeartbeatResponse, headers(
            ("X-Pulsekey-Signature" = String, description = "`{signature}.{index}.{path}`: Ed25519 over a Merkle root whose leaf `index` is SHA-256(0x00 ‖ `pulsekey-heartbeat-v1\\n` ‖ SHA-256(key) ‖ `{nonce}\\n{body}`)"),
        )),
        (status = 400, description = "Malformed body or nonce", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or regenerated key (one answer for all); signed like a verdict", body = ErrorBody,
            headers(
                ("WWW-Authenticate" = String, description = "Bearer error=\"invalid_token\""),
                ("X-Pulsekey-Signature" = String, description = "`{signature}.{index}.{path}`, as on the 200"),
            )),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "This key sent more heartbeats this minute than PULSEKEY_HEARTBEATS_PER_KEY_PER_MINUTE, or this refused key comes from an address that sent more refused ones than PULSEKEY_HEARTBEAT_FAILURES_PER_MINUTE (a valid key is always answered)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "seconds until the minute is over"))),
    ),
)]
#[post("/heartbeat")]
pub async fn heartbeat(
    state: SharedState,
    req: HttpRequest,
    body: super::Body,
) -> Result<HttpResponse, ApiError> {
    let answered = answer(&state, &req, &body.0).await;
    state.metrics.heartbeat(match &answered {
        Ok((_, result)) => *result,
        Err(err) => HeartbeatResult::of_error(err),
    });
    answered.map(|(response, _)| response)
}

async fn answer(
    state: &SharedState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(HttpResponse, HeartbeatResult), ApiError> {
    let nonce = input::nonce(req.headers().get(NONCE_HEADER).map(|v| v.as_bytes()))?;
    let presented_key = input::presented_key(
        req.headers()
            .get(header::AUTHORIZATION)
            .map(header::HeaderValue::as_bytes),
    );
    // A key that is not even a key's shape is refused before the body is looked at.
    let presented = match LicenseKey::parse(presented_key) {
        Ok(key) => {
            super::require_json(req)?;
            Some((key, input::request(body)?))
        }
        Err(_) => None,
    };
    let address = crate::http::net::client_ip(req, &state.config.trusted_proxies);
    let now = OffsetDateTime::now_utc();
    let sign = |response, body| signed(state, presented_key, &nonce, response, body);
    match state.heartbeats.answer(presented, address, now).await? {
        Answer::Verdict(verdict) => {
            let result = HeartbeatResult::Verdict(verdict.status);
            let body = json(&verdict)?;
            Ok((sign(HttpResponse::Ok(), body).await?, result))
        }
        // Signed as well, so nobody between proxy and server can forge the "key refused"
        // that makes a proxy stop itself.
        Answer::Refused => {
            let body = json(&ErrorBody {
                error: ErrorCode::InvalidToken,
                message: ApiError::InvalidLicenseKey.to_string(),
            })?;
            let mut response = HttpResponse::Unauthorized();
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            Ok((sign(response, body).await?, HeartbeatResult::Refused))
        }
    }
}

fn json(value: &impl serde::Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value).map_err(|err| ApiError::Internal(err.to_string()))
}

async fn signed(
    state: &SharedState,
    presented_key: &str,
    nonce: &str,
    mut response: actix_web::HttpResponseBuilder,
    body: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    let leaf = pulsekey_types::signature::leaf_hash(presented_key, nonce, &body);
    let proof = state
        .signer
        .sign(leaf)
        .await
        .ok_or_else(|| ApiError::Internal("the signing task went away".into()))?;
    Ok(response
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((SIGNATURE_HEADER, proof.to_header()))
        .body(body))
}
