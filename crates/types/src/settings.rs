use serde::{Deserialize, Serialize};

/// `GET /api/v1/settings`: what the server decides that a client shows or checks before
/// asking, so that the web app never hard-codes a copy of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", schema(example = json!({"graceDaysDefault": 5, "graceDaysMin": 1, "graceDaysMax": 365, "heartbeatIntervalSecs": 60, "secondFactorRequired": false})))]
pub struct SettingsView {
    /// The grace window a revoke gets when it names none (`PULSEKEY_GRACE_DAYS`).
    pub grace_days_default: i64,
    /// The shortest grace window a revoke accepts.
    pub grace_days_min: i64,
    /// The longest grace window a revoke accepts.
    pub grace_days_max: i64,
    /// How often proxies are told to send a heartbeat; `connection` is measured in it.
    pub heartbeat_interval_secs: u64,
    /// `PULSEKEY_REQUIRE_2FA` applies to the caller: without a second factor they can only
    /// enrol one.
    #[serde(default)]
    pub second_factor_required: bool,
}
