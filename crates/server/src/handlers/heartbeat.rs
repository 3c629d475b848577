use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post};
use pulsekey_types::{ErrorBody, ErrorCode, HeartbeatRequest, HeartbeatResponse};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::metrics::HeartbeatResult;
use crate::state::SharedState;
use pulsekey_core::heartbeat::input;
use pulsekey_core::heartbeat::{KeyHash, PendingHeartbeat};

use pulsekey_types::signature::{NONCE_HEADER, SIGNATURE_HEADER};

fn authorization(req: &HttpRequest) -> Option<&[u8]> {
    req.headers()
        .get(header::AUTHORIZATION)
        .map(header::HeaderValue::as_bytes)
}

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
    let address = crate::net::client_ip(req, &state.config.trusted_proxies);
    match verdict(state, req, address, body).await {
        Ok(response) => {
            let result = HeartbeatResult::Verdict(response.status);
            let body =
                serde_json::to_vec(&response).map_err(|err| ApiError::Internal(err.to_string()))?;
            let response = signed(state, req, &nonce, HttpResponse::Ok(), body).await?;
            Ok((response, result))
        }
        // Signed as well, so nobody between proxy and server can forge the "key refused"
        // that makes a proxy stop itself.
        Err(ApiError::InvalidLicenseKey) => {
            // Only refusals count against an address, and only refusals wait: a valid key is
            // answered whatever others behind the same address (a NAT, a load balancer) send.
            let address_key = address.map(|ip| ip.to_string()).unwrap_or_default();
            state
                .heartbeat_failures
                .check(&address_key)
                .map_err(|retry_after_secs| ApiError::TooManyRequests { retry_after_secs })?;
            state.heartbeat_failures.record_failure(&address_key);
            let refusal = ErrorBody {
                error: ErrorCode::InvalidToken,
                message: ApiError::InvalidLicenseKey.to_string(),
            };
            let body =
                serde_json::to_vec(&refusal).map_err(|err| ApiError::Internal(err.to_string()))?;
            let mut response = HttpResponse::Unauthorized();
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
            let response = signed(state, req, &nonce, response, body).await?;
            Ok((response, HeartbeatResult::Refused))
        }
        Err(other) => Err(other),
    }
}

async fn verdict(
    state: &SharedState,
    req: &HttpRequest,
    address: Option<std::net::IpAddr>,
    body: &[u8],
) -> Result<HeartbeatResponse, ApiError> {
    let key = input::license_key(authorization(req)).ok_or(ApiError::InvalidLicenseKey)?;
    super::require_json(req)?;
    let request = input::request(body)?;
    let now = OffsetDateTime::now_utc();
    let verdict = state
        .heartbeats
        .verdict(KeyHash(key.hash()), now)
        .await?
        .ok_or(ApiError::InvalidLicenseKey)?;
    let limit = state.config.heartbeats_per_key_per_minute;
    if limit != 0 && verdict.heartbeats_this_minute > limit {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: u64::from(60 - now.second()).max(1),
        });
    }
    state.heartbeats.record(
        verdict.server_id,
        PendingHeartbeat {
            at: pulsekey_db::to_stored(now),
            version: request.version,
            ip: address,
        },
    );
    Ok(HeartbeatResponse {
        status: verdict.status,
        grace_expires_at: verdict.grace_expires_at,
        heartbeat_interval_secs: state.config.heartbeat_interval_secs,
        server_time: now,
    })
}

async fn signed(
    state: &SharedState,
    req: &HttpRequest,
    nonce: &str,
    mut response: actix_web::HttpResponseBuilder,
    body: Vec<u8>,
) -> Result<HttpResponse, ApiError> {
    let presented = input::presented_key(authorization(req));
    let leaf = pulsekey_types::signature::leaf_hash(presented, nonce, &body);
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
