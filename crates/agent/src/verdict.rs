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
    /// The proxy has not started and may not yet: retry the server. Only before the first
    /// start; a running proxy is stopped instead.
    Wait(WaitReason),
    /// Stop the proxy and exit with the reason's code.
    Stop(StopReason),
}

/// Why an agent that cannot reach the server keeps the proxy stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// No verified answer on record for this key.
    NothingOnRecord,
    /// The last verified verdict (`serverTime`) is older than the offline tolerance.
    TooOld { server_time: OffsetDateTime },
    /// The last verified answer refused the key.
    Refused,
    /// The last verified verdict was EXPIRED, or a GRACE whose window has ended since.
    Expired,
}

impl WaitReason {
    /// What stopping a running proxy for the same reason is called.
    fn stop_reason(self) -> StopReason {
        match self {
            Self::NothingOnRecord | Self::TooOld { .. } => StopReason::OfflineTooLong,
            Self::Refused => StopReason::KeyRefused,
            Self::Expired => StopReason::Expired,
        }
    }
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NothingOnRecord => f.write_str("no verified verdict for this key is on record"),
            Self::TooOld { server_time } => write!(
                f,
                "the last verified verdict ({}) is older than the offline tolerance",
                server_time
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            ),
            Self::Refused => f.write_str("the last verified answer refused this key"),
            Self::Expired => f.write_str("the last verified verdict is EXPIRED"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long the agent keeps the proxy running with no verdict at all, counted from the
    /// signed `serverTime` of the last verified verdict, across agent restarts.
    pub offline_tolerance: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            offline_tolerance: Duration::hours(72),
        }
    }
}

/// The last answer the server verifiably gave for this key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LastAnswer {
    Verdict(HeartbeatResponse),
    Refused,
}

/// The agent's memory between heartbeats, seeded at start from the state file.
#[derive(Debug, Clone)]
pub struct Supervisor {
    policy: Policy,
    last: Option<LastAnswer>,
    /// Whether the proxy has been allowed to start: from then on, losing the permit stops
    /// it rather than keeping it waiting.
    started: bool,
}

impl Supervisor {
    pub fn new(policy: Policy, last: Option<LastAnswer>) -> Self {
        Self {
            policy,
            last,
            started: false,
        }
    }

    pub fn decide(&mut self, outcome: &Outcome, now: OffsetDateTime) -> Action {
        let action = match outcome {
            Outcome::Verdict(verdict) => {
                self.last = Some(LastAnswer::Verdict(verdict.clone()));
                match verdict.status {
                    LicenseStatus::Active => Action::Run,
                    LicenseStatus::Grace => Action::Warn {
                        grace_expires_at: verdict.grace_expires_at,
                    },
                    LicenseStatus::Expired => Action::Stop(StopReason::Expired),
                }
            }
            Outcome::KeyRefused => {
                self.last = Some(LastAnswer::Refused);
                Action::Stop(StopReason::KeyRefused)
            }
            Outcome::NoVerdict(_) => match self.offline_permit(now) {
                Ok(action) => action,
                Err(reason) if self.started => Action::Stop(reason.stop_reason()),
                Err(reason) => Action::Wait(reason),
            },
        };
        if matches!(action, Action::Run | Action::Warn { .. }) {
            self.started = true;
        }
        action
    }

    /// What the last verified answer allows while the server cannot be reached.
    fn offline_permit(&self, now: OffsetDateTime) -> Result<Action, WaitReason> {
        let verdict = match &self.last {
            None => return Err(WaitReason::NothingOnRecord),
            Some(LastAnswer::Refused) => return Err(WaitReason::Refused),
            Some(LastAnswer::Verdict(verdict)) => verdict,
        };
        if now - verdict.server_time > self.policy.offline_tolerance {
            return Err(WaitReason::TooOld {
                server_time: verdict.server_time,
            });
        }
        match verdict.status {
            LicenseStatus::Active => Ok(Action::Run),
            // A grace window that has ended is EXPIRED, offline as on the server.
            LicenseStatus::Grace if verdict.grace_expires_at.is_some_and(|end| end <= now) => {
                Err(WaitReason::Expired)
            }
            LicenseStatus::Grace => Ok(Action::Warn {
                grace_expires_at: verdict.grace_expires_at,
            }),
            LicenseStatus::Expired => Err(WaitReason::Expired),
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
        let mut s = Supervisor::new(Policy::default(), None);
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

    fn verdict_at(status: LicenseStatus, at: OffsetDateTime) -> LastAnswer {
        let Outcome::Verdict(mut v) = verdict(status) else {
            unreachable!()
        };
        v.server_time = at;
        LastAnswer::Verdict(v)
    }

    const DOWN: fn() -> Outcome = || Outcome::NoVerdict("connection refused".into());

    #[test]
    fn no_verdict_keeps_running_until_the_offline_tolerance_runs_out() {
        let policy = Policy {
            offline_tolerance: Duration::hours(72),
        };
        let mut s = Supervisor::new(policy, None);
        assert_eq!(
            s.decide(&verdict(LicenseStatus::Active), START),
            Action::Run
        );
        assert_eq!(s.decide(&DOWN(), START + Duration::hours(71)), Action::Run);
        assert_eq!(
            s.decide(&DOWN(), START + Duration::hours(73)),
            Action::Stop(StopReason::OfflineTooLong)
        );
        // A verdict restarts the clock, counted from its signed server time.
        let mut s = Supervisor::new(policy, None);
        s.decide(
            &Outcome::Verdict(HeartbeatResponse {
                server_time: START + Duration::hours(70),
                ..match verdict(LicenseStatus::Active) {
                    Outcome::Verdict(v) => v,
                    _ => unreachable!(),
                }
            }),
            START + Duration::hours(70),
        );
        assert_eq!(s.decide(&DOWN(), START + Duration::hours(140)), Action::Run);
    }

    #[test]
    fn a_start_without_the_server_needs_a_fresh_active_or_grace_on_record() {
        let policy = Policy::default();
        let later = START + Duration::hours(1);
        let cases = [
            (None, Action::Wait(WaitReason::NothingOnRecord)),
            (Some(LastAnswer::Refused), Action::Wait(WaitReason::Refused)),
            (
                Some(verdict_at(LicenseStatus::Expired, START)),
                Action::Wait(WaitReason::Expired),
            ),
            (Some(verdict_at(LicenseStatus::Active, START)), Action::Run),
            (
                Some(verdict_at(LicenseStatus::Grace, START)),
                Action::Warn {
                    grace_expires_at: Some(START + Duration::days(5)),
                },
            ),
            (
                Some(verdict_at(
                    LicenseStatus::Active,
                    START - Duration::hours(72),
                )),
                Action::Wait(WaitReason::TooOld {
                    server_time: START - Duration::hours(72),
                }),
            ),
        ];
        for (last, want) in cases {
            let mut s = Supervisor::new(policy, last.clone());
            assert_eq!(s.decide(&DOWN(), later), want, "{last:?}");
        }
        // A grace window that ended while offline (within a long tolerance): EXPIRED, not
        // started.
        let long = Policy {
            offline_tolerance: Duration::days(10),
        };
        let mut s = Supervisor::new(long, Some(verdict_at(LicenseStatus::Grace, START)));
        assert_eq!(
            s.decide(&DOWN(), START + Duration::days(5)),
            Action::Wait(WaitReason::Expired)
        );
    }

    #[test]
    fn a_running_proxy_stops_when_its_grace_ends_offline() {
        let policy = Policy {
            offline_tolerance: Duration::days(10),
        };
        let mut s = Supervisor::new(policy, None);
        assert!(matches!(
            s.decide(&verdict(LicenseStatus::Grace), START),
            Action::Warn { .. }
        ));
        assert!(matches!(
            s.decide(&DOWN(), START + Duration::days(4)),
            Action::Warn { .. }
        ));
        assert_eq!(
            s.decide(&DOWN(), START + Duration::days(5)),
            Action::Stop(StopReason::Expired)
        );
    }

    #[test]
    fn waiting_turns_into_running_once_a_verdict_arrives() {
        let mut s = Supervisor::new(Policy::default(), None);
        assert_eq!(
            s.decide(&DOWN(), START),
            Action::Wait(WaitReason::NothingOnRecord)
        );
        assert_eq!(
            s.decide(&verdict(LicenseStatus::Active), START),
            Action::Run
        );
        assert_eq!(s.decide(&DOWN(), START), Action::Run);
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
