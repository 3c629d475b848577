//! What wraps every request before routing.

use actix_web::Error;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use futures_util::future::{Either, FutureExt as _, Ready, ready};

use crate::error::ApiError;

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
