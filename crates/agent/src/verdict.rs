//! What the proxy must do after each heartbeat, and how long to wait before the next.

use pulsekey_types::{HeartbeatResponse, LicenseStatus};
use time::{Duration, OffsetDateTime};

/// What one heartbeat attempt produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A verdict that verified (signature, nonce, freshness).
    Verdict(HeartbeatResponse),
    /// The server refused the key (401): regenerated, unknown or malformed.
    KeyRefused,
    /// No verdict: network error, time-out, 5xx, bad signature. Never a reason to stop
    /// by itself.
    NoVerdict(String),
}

/// Why the proxy has to stop. Each has its own exit code for the service manager's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Expired,
    KeyRefused,
    OfflineTooLong,
}

impl StopReason {
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Expired => 3,
            Self::KeyRefused => 4,
            Self::OfflineTooLong => 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Keep (or start) the proxy running.
    Run,
    /// Keep running, and warn: the license is in its grace period.
    Warn {
        grace_expires_at: Option<OffsetDateTime>,
    },
    /// Stop the proxy and exit with the reason's code.
    Stop(StopReason),
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long the agent keeps the proxy running with no verdict at all.
    pub offline_tolerance: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            offline_tolerance: Duration::hours(72),
        }
    }
}

/// The agent's memory between heartbeats.
#[derive(Debug, Clone)]
pub struct Supervisor {
    policy: Policy,
    /// The last verified verdict, or when the agent started if none came yet.
    last_verdict_at: OffsetDateTime,
}

impl Supervisor {
    pub fn new(policy: Policy, started_at: OffsetDateTime) -> Self {
        Self {
            policy,
            last_verdict_at: started_at,
        }
    }

    pub fn decide(&mut self, outcome: &Outcome, now: OffsetDateTime) -> Action {
        match outcome {
            Outcome::Verdict(verdict) => {
                self.last_verdict_at = now;
                match verdict.status {
                    LicenseStatus::Active => Action::Run,
                    LicenseStatus::Grace => Action::Warn {
                        grace_expires_at: verdict.grace_expires_at,
                    },
                    LicenseStatus::Expired => Action::Stop(StopReason::Expired),
                }
            }
            Outcome::KeyRefused => Action::Stop(StopReason::KeyRefused),
            Outcome::NoVerdict(_) if now - self.last_verdict_at > self.policy.offline_tolerance => {
                Action::Stop(StopReason::OfflineTooLong)
            }
            Outcome::NoVerdict(_) => Action::Run,
        }
    }
}

/// Capped exponential backoff with jitter, for retries after a failed attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: std::time::Duration,
    cap: std::time::Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: std::time::Duration, cap: std::time::Duration) -> Self {
        Self {
            base,
            cap,
            failures: 0,
        }
    }

    /// The wait after one more failure. `jitter` in [0, 1) spreads the fleet out: the wait
    /// is between half and all of the capped exponential step.
    pub fn next_delay(&mut self, jitter: f64) -> std::time::Duration {
        let step = self
            .base
            .saturating_mul(2u32.saturating_pow(self.failures.min(30)))
            .min(self.cap);
        self.failures = self.failures.saturating_add(1);
        step.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const START: OffsetDateTime = datetime!(2026-11-29 12:00 UTC);

    fn verdict(status: LicenseStatus) -> Outcome {
        Outcome::Verdict(HeartbeatResponse {
            status,
            grace_expires_at: (status == LicenseStatus::Grace).then_some(START + Duration::days(5)),
            heartbeat_interval_secs: 60,
            server_time: START,
        })
    }

    #[test]
    fn verdicts_map_to_actions() {
        let mut s = Supervisor::new(Policy::default(), START);
        assert_eq!(
            s.decide(&verdict(LicenseStatus::Active), START),
            Action::Run
        );
        assert_eq!(
            s.decide(&verdict(LicenseStatus::Grace), START),
            Action::Warn {
                grace_expires_at: Some(START + Duration::days(5))
            }
        );
        assert_eq!(
            s.decide(&verdict(LicenseStatus::Expired), START),
            Action::Stop(StopReason::Expired)
        );
        assert_eq!(
            s.decide(&Outcome::KeyRefused, START),
            Action::Stop(StopReason::KeyRefused)
        );
    }

    #[test]
    fn no_verdict_keeps_running_until_the_offline_tolerance_runs_out() {
        let policy = Policy {
            offline_tolerance: Duration::hours(72),
        };
        let mut s = Supervisor::new(policy, START);
        let down = Outcome::NoVerdict("connection refused".into());
        assert_eq!(s.decide(&down, START + Duration::hours(71)), Action::Run);
        assert_eq!(
            s.decide(&down, START + Duration::hours(73)),
            Action::Stop(StopReason::OfflineTooLong)
        );
        // A verdict restarts the clock.
        let mut s = Supervisor::new(policy, START);
        s.decide(&verdict(LicenseStatus::Active), START + Duration::hours(70));
        assert_eq!(s.decide(&down, START + Duration::hours(140)), Action::Run);
    }

    #[test]
    fn exit_codes_are_distinct_and_non_zero() {
        let codes = [
            StopReason::Expired,
            StopReason::KeyRefused,
            StopReason::OfflineTooLong,
        ]
        .map(StopReason::exit_code);
        assert!(codes.iter().all(|c| *c != 0));
        assert_ne!(codes[0], codes[1]);
        assert_ne!(codes[1], codes[2]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_and_resets() {
        use std::time::Duration as Std;
        let mut b = Backoff::new(Std::from_secs(1), Std::from_secs(60));
        assert_eq!(b.next_delay(1.0), Std::from_secs(1));
        assert_eq!(b.next_delay(1.0), Std::from_secs(2));
        assert_eq!(b.next_delay(1.0), Std::from_secs(4));
        assert_eq!(b.next_delay(0.0), Std::from_secs(4));
        for _ in 0..50 {
            assert!(b.next_delay(1.0) <= Std::from_secs(60));
        }
        assert_eq!(b.next_delay(0.0), Std::from_secs(30));
        b.reset();
        assert_eq!(b.next_delay(1.0), Std::from_secs(1));
    }
}
