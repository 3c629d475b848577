//! The HTTP layer's error: every failure is rendered here, once, into the one JSON shape
//! `{"error": code, "message": text}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use pulsekey_db::DbError;
use pulsekey_types::{ErrorBody, ErrorCode};

use pulsekey_core::DomainError;

const STORAGE_FAILING: &str = "storage is full or failing: nothing was saved; an operator must \
     free disk space or repair the disk, then retry";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Validation(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request headers are larger than {limit} bytes together")]
    HeadersTooLarge { limit: usize },
    #[error("sign in first: no valid session or token was presented")]
    Unauthorized,
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("this account is disabled; an administrator can enable it again")]
    AccountDisabled,
    /// Sign-in's own limit, in words a person reads on the login page.
    #[error("too many failed sign-ins; try again in {}", wait_in_words(*retry_after_secs))]
    SignInLocked { retry_after_secs: u64 },
    /// A heartbeat's key is missing, malformed, unknown or regenerated: one answer for all.
    #[error("the license key is missing, malformed or not valid")]
    InvalidLicenseKey,
    #[error("{0}")]
    Forbidden(String),
    /// `PULSEKEY_REQUIRE_2FA` applies to this user, who has no second factor yet.
    #[error(
        "this server requires a second factor for your account: set one up on the Security page first"
    )]
    SecondFactorRequired,
    /// The token between password and code expired or is not one.
    #[error("the sign-in step has expired; enter your password again")]
    MfaTokenInvalid,
    #[error("{0}")]
    NotFound(String),
    #[error("{method} is not allowed here; this path answers {}", allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<&'static str>,
    },
    #[error(transparent)]
    Domain(DomainError),
    #[error("too many attempts; retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("this address already has {limit} requests in progress; retry when one ends")]
    TooManyInFlight { limit: u32 },
    #[error("the request body did not arrive within {secs} s")]
    BodyTimeout { secs: u64 },
    #[error("the database is not reachable right now; retry shortly")]
    Unavailable,
    /// The cause goes to the log; the client sees a generic message.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Validation(_) => ErrorCode::ValidationFailed,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::HeadersTooLarge { .. } => ErrorCode::HeadersTooLarge,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::Unauthorized | Self::WrongCredentials | Self::AccountDisabled => {
                ErrorCode::Unauthorized
            }
            Self::InvalidLicenseKey => ErrorCode::InvalidToken,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::SecondFactorRequired => ErrorCode::SecondFactorRequired,
            Self::MfaTokenInvalid => ErrorCode::Unauthorized,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::Domain(err) => match err {
                DomainError::NotFound(_) => ErrorCode::NotFound,
                DomainError::Validation(_) => ErrorCode::ValidationFailed,
                DomainError::Malformed(_) => ErrorCode::BadRequest,
                DomainError::UsernameTaken => ErrorCode::UsernameTaken,
                DomainError::LicenseNotActive(_) => ErrorCode::LicenseNotActive,
                DomainError::LicenseNotInGrace => ErrorCode::LicenseNotInGrace,
                DomainError::OwnerNotCustomer(_) => ErrorCode::OwnerNotCustomer,
                DomainError::Forbidden(_) => ErrorCode::Forbidden,
                DomainError::TooManyAttempts { .. } => ErrorCode::TooManyRequests,
                DomainError::SecondFactorAlreadyOn => ErrorCode::SecondFactorAlreadyOn,
                DomainError::UndecryptableKey => ErrorCode::Internal,
                DomainError::Db(DbError::Unavailable(_)) => ErrorCode::ServiceUnavailable,
                DomainError::Db(DbError::StorageFailing(_)) => ErrorCode::StorageFailing,
                DomainError::Db(DbError::NotFound) => ErrorCode::NotFound,
                DomainError::Db(_) => ErrorCode::Internal,
            },
            Self::TooManyRequests { .. }
            | Self::SignInLocked { .. }
            | Self::TooManyInFlight { .. } => ErrorCode::TooManyRequests,
            Self::BodyTimeout { .. } => ErrorCode::RequestTimeout,
            Self::Unavailable => ErrorCode::ServiceUnavailable,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    fn public_message(&self) -> String {
        match self.code() {
            ErrorCode::Internal => "internal error; the server log has the details".to_owned(),
            ErrorCode::ServiceUnavailable => ApiError::Unavailable.to_string(),
            ErrorCode::StorageFailing => STORAGE_FAILING.to_owned(),
            ErrorCode::NotFound if matches!(self, Self::Domain(DomainError::Db(_))) => {
                "not found".to_owned()
            }
            _ => self.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self.code() {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::Unauthorized | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::SecondFactorRequired => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::UsernameTaken
            | ErrorCode::LicenseNotActive
            | ErrorCode::LicenseNotInGrace
            | ErrorCode::SecondFactorAlreadyOn => StatusCode::CONFLICT,
            ErrorCode::OwnerNotCustomer => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::ServiceUnavailable | ErrorCode::StorageFailing => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // Causes from storage carry no secrets: bind parameters are not in their text.
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = HttpResponse::build(status);
        match self {
            Self::InvalidLicenseKey => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            Self::Unauthorized | Self::WrongCredentials | Self::AccountDisabled => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::MethodNotAllowed { allowed, .. } => {
                response.insert_header((header::ALLOW, allowed.join(", ")));
            }
            Self::TooManyRequests { retry_after_secs }
            | Self::SignInLocked { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            // Both leave the rest of a request unread: the connection cannot be reused, and
            // closing it is what frees its descriptor.
            Self::TooManyInFlight { .. } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
                response.force_close();
            }
            Self::BodyTimeout { .. } => {
                response.force_close();
            }
            _ => {}
        }
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        response.json(ErrorBody {
            error: self.code(),
            message: self.public_message(),
        })
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            // One rendering, with its Retry-After, whoever counted.
            DomainError::TooManyAttempts { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            err => Self::Domain(err),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(err: DbError) -> Self {
        Self::Domain(DomainError::Db(err))
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(err: actix_web::error::BlockingError) -> Self {
        Self::Internal(err.to_string())
    }
}

/// `895` → "15 minutes", `40` → "40 seconds": rounded up, never "0".
fn wait_in_words(secs: u64) -> String {
    match secs {
        0..=1 => "1 second".to_owned(),
        2..=59 => format!("{secs} seconds"),
        60 => "1 minute".to_owned(),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

pub fn query_error(err: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::BadRequest(format!("invalid query string: {err}"))
}

pub fn path_error(err: actix_web::error::PathError) -> ApiError {
    ApiError::BadRequest(format!("invalid path parameter: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_as_words() {
        assert_eq!(wait_in_words(0), "1 second");
        assert_eq!(wait_in_words(40), "40 seconds");
        assert_eq!(wait_in_words(60), "1 minute");
        assert_eq!(wait_in_words(61), "2 minutes");
        assert_eq!(wait_in_words(895), "15 minutes");
        assert_eq!(
            ApiError::SignInLocked {
                retry_after_secs: 895
            }
            .to_string(),
            "too many failed sign-ins; try again in 15 minutes"
        );
    }
}
