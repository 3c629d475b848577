//! What wraps every request before routing.

use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use futures_util::future::{Either, FutureExt as _, Ready, ready};

use crate::http::error::ApiError;

/// Largest total size of a request's headers. actix-http itself allows 128 KiB; a license
/// key, a session cookie and a browser's usual headers need a fraction of 16.
pub const HEADER_LIMIT: usize = 16 * 1024;

fn header_bytes(req: &ServiceRequest) -> usize {
    req.headers()
        .iter()
        // Name, value, ": " and CRLF, as on the wire.
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Answers a request with oversized headers 431 in the JSON error shape, before any handler
/// or extractor looks at it.
#[allow(clippy::type_complexity)]
pub fn limit_headers<S, B>(
    req: ServiceRequest,
    service: &S,
) -> Either<
    Ready<Result<ServiceResponse<EitherBody<B>>, Error>>,
    futures_util::future::Map<
        S::Future,
        fn(Result<ServiceResponse<B>, Error>) -> Result<ServiceResponse<EitherBody<B>>, Error>,
    >,
>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    if header_bytes(&req) > HEADER_LIMIT {
        let response = req.error_response(ApiError::HeadersTooLarge {
            limit: HEADER_LIMIT,
        });
        return Either::Left(ready(Ok(response.map_into_right_body())));
    }
    Either::Right(service.call(req).map(
        (|result| result.map(ServiceResponse::map_into_left_body))
            as fn(Result<ServiceResponse<B>, Error>) -> _,
    ))
}

/// `X-Request-Id`: the caller's, if it is a sane token, else a fresh one. Logged with every
/// line the request causes and returned on the response, so a report can be matched to
/// the log.
pub const REQUEST_ID: &str = "x-request-id";

fn request_id(req: &ServiceRequest) -> String {
    let offered = req
        .headers()
        .get(REQUEST_ID)
        .map(actix_web::http::header::HeaderValue::as_bytes)
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
        });
    match offered {
        Some(id) => String::from_utf8_lossy(id).into_owned(),
        None => next_request_id(),
    }
}

/// A process-unique id: a random prefix per process (nodes differ) and a counter.
fn next_request_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: LazyLock<u32> =
        LazyLock::new(|| u32::from_le_bytes(pulsekey_core::crypto::random_bytes::<4>()));
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:08x}-{:x}", *PREFIX, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Gives the request its id and a tracing span, times it, and counts it in the metrics by
/// route pattern, method and status.
pub fn observe<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<B>, Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    use tracing::Instrument as _;
    let started = std::time::Instant::now();
    let id = request_id(&req);
    let span = tracing::info_span!("request", id = %id, method = %req.method());
    let state = req.app_data::<crate::http::state::SharedState>().cloned();
    let method = req.method().clone();
    let call = {
        let _entered = span.enter();
        service.call(req)
    };
    async move {
        let mut response = call.await?;
        let status = response.status().as_u16();
        let route = response.request().match_pattern();
        if let Some(state) = state {
            state
                .metrics
                .request(route.as_deref(), method.as_str(), status, started.elapsed());
        }
        tracing::debug!(
            status,
            route = route.as_deref().unwrap_or("other"),
            elapsed_us = started.elapsed().as_micros() as u64,
            "answered"
        );
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&id) {
            response.headers_mut().insert(
                actix_web::http::header::HeaderName::from_static(REQUEST_ID),
                value,
            );
        }
        Ok(response)
    }
    .instrument(span)
}

/// For requests that come through a trusted proxy (whose connections are not capped, see
/// `connections`): holds a slot of the client address's requests in progress for as long
/// as the request runs, its body read included; past the address's limit, 429 and the
/// connection closed.
pub fn limit_in_flight<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<EitherBody<B>>, Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    let state = req.app_data::<crate::http::state::SharedState>().cloned();
    let proxied = |state: &crate::http::state::SharedState| {
        req.peer_addr()
            .is_some_and(|peer| state.config.trusted_proxies.contains(&peer.ip()))
    };
    let client = state
        .as_ref()
        .filter(|state| proxied(state))
        .and_then(|state| {
            crate::http::net::client_ip(req.request(), &state.config.trusted_proxies)
                .map(|ip| (state.clone(), ip))
        });
    let slot = match client {
        Some((state, ip)) => match state.in_flight.enter(ip) {
            Some(slot) => Some(slot),
            None => {
                let refused = req.error_response(ApiError::TooManyInFlight {
                    limit: state.config.max_connections_per_address,
                });
                return Either::Left(ready(Ok(refused.map_into_right_body())));
            }
        },
        None => None,
    };
    let call = service.call(req);
    Either::Right(async move {
        let response = call.await;
        drop(slot);
        response.map(ServiceResponse::map_into_left_body)
    })
}

/// The API docs come from a vendored Swagger UI, which sets no headers of its own: give its
/// pages the same protections as the web app's (they share the session cookie's origin).
pub fn docs_headers<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl std::future::Future<Output = Result<ServiceResponse<B>, Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    let docs = req.path().starts_with("/api-docs");
    let call = service.call(req);
    async move {
        let mut response = call.await?;
        if docs {
            crate::http::spa::page_headers(
                response.headers_mut(),
                crate::http::spa::DOCS_CONTENT_SECURITY_POLICY,
            );
        }
        Ok(response)
    }
}
