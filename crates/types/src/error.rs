use serde::{Deserialize, Serialize};

/// The one error shape of the API: `{"error":"license_not_in_grace","message":"…"}`.
///
/// `error` is stable and machine-readable; `message` is for people and may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"error": "license_not_in_grace", "message": "only a license in GRACE or EXPIRED can be reinstated (this one is ACTIVE)"})))]
pub struct ErrorBody {
    pub error: ErrorCode,
    pub message: String,
}

/// Stable error codes. Integrators branch on these, so a variant is never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed: bad JSON, bad query string, wrong field types.
    BadRequest,
    /// The request is well-formed but a field's value is not acceptable.
    ValidationFailed,
    /// The body is larger than the route accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The request's headers together are larger than the server accepts.
    HeadersTooLarge,
    /// No valid session or token was presented.
    Unauthorized,
    /// A heartbeat's license key is missing, malformed, unknown or regenerated.
    InvalidToken,
    /// Signed in, but not allowed to do this.
    Forbidden,
    /// No such resource (or not one the caller may see).
    NotFound,
    /// The path exists but not with this method; see `Allow`.
    MethodNotAllowed,
    /// The username is already taken.
    UsernameTaken,
    /// Revoke applies only to an ACTIVE license.
    LicenseNotActive,
    /// Reinstate applies only to a license in GRACE or EXPIRED.
    LicenseNotInGrace,
    /// A server can be created only for a customer.
    OwnerNotCustomer,
    /// The server requires a second factor of this user, who has none: enrol one
    /// (`POST /api/v1/auth/totp`) before anything else.
    SecondFactorRequired,
    /// A second factor is already on; turn it off before enrolling another.
    SecondFactorAlreadyOn,
    /// The request, its body included, did not arrive within the server's deadline.
    RequestTimeout,
    /// Too many attempts; see `Retry-After`.
    TooManyRequests,
    /// The database could not be reached; safe to retry.
    ServiceUnavailable,
    /// Storage is full or failing: writes cannot be saved until an operator frees space or
    /// repairs the disk. Nothing was changed; safe to retry later.
    StorageFailing,
    /// Something failed on the server; the details are in its log, not here.
    Internal,
}

impl ErrorCode {
    /// The wire form of the code, as serde writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::ValidationFailed => "validation_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::HeadersTooLarge => "headers_too_large",
            Self::Unauthorized => "unauthorized",
            Self::InvalidToken => "invalid_token",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UsernameTaken => "username_taken",
            Self::LicenseNotActive => "license_not_active",
            Self::LicenseNotInGrace => "license_not_in_grace",
            Self::OwnerNotCustomer => "owner_not_customer",
            Self::SecondFactorRequired => "second_factor_required",
            Self::SecondFactorAlreadyOn => "second_factor_already_on",
            Self::RequestTimeout => "request_timeout",
            Self::TooManyRequests => "too_many_requests",
            Self::ServiceUnavailable => "service_unavailable",
            Self::StorageFailing => "storage_failing",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::ValidationFailed,
            ErrorCode::PayloadTooLarge,
            ErrorCode::UnsupportedMediaType,
            ErrorCode::HeadersTooLarge,
            ErrorCode::Unauthorized,
            ErrorCode::InvalidToken,
            ErrorCode::Forbidden,
            ErrorCode::NotFound,
            ErrorCode::MethodNotAllowed,
            ErrorCode::UsernameTaken,
            ErrorCode::LicenseNotActive,
            ErrorCode::LicenseNotInGrace,
            ErrorCode::OwnerNotCustomer,
            ErrorCode::SecondFactorRequired,
            ErrorCode::SecondFactorAlreadyOn,
            ErrorCode::RequestTimeout,
            ErrorCode::TooManyRequests,
            ErrorCode::ServiceUnavailable,
            ErrorCode::StorageFailing,
            ErrorCode::Internal,
        ] {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }
}
