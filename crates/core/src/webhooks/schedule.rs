//! When a failed delivery is tried again, and when an endpoint that keeps failing is
//! disabled.

use time::Duration;

/// The wait before each retry, after the first attempt (made as soon as the event is
/// written). Together: 75 h 35 min 5 s, past three days, before jitter.
pub const RETRY_AFTER: [Duration; 9] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(10),
    Duration::hours(24),
    Duration::hours(24),
];

/// An endpoint whose every attempt has failed for this long is disabled. It is shorter
/// than the retries of one event, so no event gives up before its endpoint is disabled:
/// re-enabling it resumes every delivery that was pending.
pub const DISABLE_AFTER: Duration = Duration::days(3);

/// The wait after failed attempt number `attempts` (1 for the first), or `None` when that
/// was the last. Jitter adds up to a fifth, drawn from `jitter` in `0.0..1.0`, so that the
/// retries of many events failing at once do not arrive together; it only lengthens.
pub fn retry_after(attempts: u32, jitter: f64) -> Option<Duration> {
    let wait = *RETRY_AFTER.get(usize::try_from(attempts).ok()?.checked_sub(1)?)?;
    Some(wait + wait * (jitter.clamp(0.0, 1.0) / 5.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_span_more_than_three_days_and_then_stop() {
        let total: Duration = (1..=9).map(|n| retry_after(n, 0.0).unwrap()).sum();
        assert!(total > Duration::days(3), "{total}");
        assert_eq!(retry_after(10, 0.5), None);
        assert_eq!(retry_after(0, 0.5), None);
        assert_eq!(retry_after(1, 0.0), Some(Duration::seconds(5)));
        assert_eq!(retry_after(1, 1.0), Some(Duration::seconds(6)));
        assert_eq!(
            retry_after(2, 7.0),
            Some(Duration::minutes(6)),
            "jitter is clamped"
        );
    }

    #[test]
    fn an_endpoint_is_disabled_before_any_of_its_events_gives_up() {
        let retries: Duration = RETRY_AFTER.iter().sum();
        assert!(DISABLE_AFTER < retries);
    }
}
