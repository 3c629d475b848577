//! Counting failures per key (a client address) in a fixed window, in memory: refused
//! heartbeats. Sign-in failures are counted in the database (`crate::sign_in`).
//! Per node: with several nodes an address gets the limit once per node; refused
//! heartbeats cost no database work, so that is only a bound on log noise and signing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds to wait)` while `key` has used up its failures in the current window.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let now = Instant::now();
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match entries.get(key) {
            Some(&(count, started))
                if count >= self.max_failures && now < started + self.window =>
            {
                Err((started + self.window - now).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() > 100_000 {
            let window = self.window;
            entries.retain(|_, (_, started)| now < *started + window);
        }
        let entry = entries.entry(key.to_owned()).or_insert((0, now));
        if now >= entry.1 + self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let throttle = Throttle::new(3, Duration::from_millis(200));
        for _ in 0..3 {
            assert!(throttle.check("alice").is_ok());
            throttle.record_failure("alice");
        }
        assert_eq!(throttle.check("alice"), Err(1));
        assert!(throttle.check("bob").is_ok());
        std::thread::sleep(Duration::from_millis(250));
        assert!(throttle.check("alice").is_ok());
    }
}
