//! Prometheus metrics, kept in atomics and rendered in the text format at `/metrics`.
//!
//! Labels are route patterns, methods, status codes and license statuses: never a key,
//! a user, an address or anything else a caller chooses, so no secret can reach a label and
//! a caller cannot grow the label set.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pulsekey_types::LicenseStatus;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    /// Past the last bucket: `+Inf` is the buckets' sum plus this, so a scrape never shows
    /// `+Inf` below a bucket even while requests are being counted.
    overflow: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        match BUCKETS.iter().position(|&le| seconds <= le) {
            Some(bucket) => self.buckets[bucket].fetch_add(1, Ordering::Relaxed),
            None => self.overflow.fetch_add(1, Ordering::Relaxed),
        };
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// What a heartbeat came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatResult {
    /// A verdict was given: ACTIVE, GRACE or EXPIRED.
    Verdict(LicenseStatus),
    /// Missing, malformed, unknown or regenerated key.
    Refused,
    /// 429: the key's or the address's limit.
    Limited,
    /// 400/413/415: a body or header the proxy should not have sent.
    Malformed,
    /// 5xx: the server could not answer.
    Failed,
}

impl HeartbeatResult {
    /// What a heartbeat that ended in `err` counts as.
    pub fn of_error(err: &crate::ApiError) -> Self {
        use pulsekey_types::ErrorCode;
        match err.code() {
            ErrorCode::InvalidToken => Self::Refused,
            ErrorCode::TooManyRequests => Self::Limited,
            ErrorCode::Internal | ErrorCode::ServiceUnavailable => Self::Failed,
            _ => Self::Malformed,
        }
    }

    const ALL: [Self; 7] = [
        Self::Verdict(LicenseStatus::Active),
        Self::Verdict(LicenseStatus::Grace),
        Self::Verdict(LicenseStatus::Expired),
        Self::Refused,
        Self::Limited,
        Self::Malformed,
        Self::Failed,
    ];

    fn labels(self) -> (&'static str, &'static str) {
        match self {
            Self::Verdict(LicenseStatus::Active) => ("verdict", "ACTIVE"),
            Self::Verdict(LicenseStatus::Grace) => ("verdict", "GRACE"),
            Self::Verdict(LicenseStatus::Expired) => ("verdict", "EXPIRED"),
            Self::Refused => ("refused", ""),
            Self::Limited => ("limited", ""),
            Self::Malformed => ("malformed", ""),
            Self::Failed => ("failed", ""),
        }
    }

    fn slot(self) -> usize {
        Self::ALL.iter().position(|&r| r == self).unwrap_or(0)
    }
}

/// A request's route pattern (`/api/v1/users/{id}`, or `other` for anything unrouted),
/// method and status code.
type RequestKey = (&'static str, &'static str, u16);

/// How a webhook attempt ended, for `pulsekey_webhook_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    /// A 2xx.
    Delivered,
    /// Another status: retried later.
    Rejected,
    /// No answer (timeout, no connection, a refused address): retried later.
    Unreachable,
}

impl DeliveryResult {
    const ALL: [Self; 3] = [Self::Delivered, Self::Rejected, Self::Unreachable];

    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Unreachable => "unreachable",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    heartbeats: [AtomicU64; HeartbeatResult::ALL.len()],
    deliveries: [AtomicU64; DeliveryResult::ALL.len()],
    requests: RwLock<HashMap<RequestKey, Histogram>>,
    /// Route patterns, interned: there are only as many as routes.
    routes: RwLock<HashMap<String, &'static str>>,
}

/// Gauges read at scrape time.
pub struct Snapshot {
    pub pool: pulsekey_db::PoolState,
    /// `None` when the database did not answer.
    pub licenses: Option<Vec<(String, i64)>>,
    pub indexed_licenses: usize,
    /// Heartbeats the index could not answer alone (counter).
    pub index_database_lookups: u64,
    /// Webhook deliveries waiting for an enabled endpoint, and the age in seconds of the
    /// oldest; `None` when the database did not answer.
    pub webhook_queue: Option<(i64, f64)>,
}

impl Metrics {
    pub fn webhook_delivery(&self, result: DeliveryResult) {
        self.deliveries[result as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn heartbeat(&self, result: HeartbeatResult) {
        self.heartbeats[result.slot()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn request(&self, route: Option<&str>, method: &str, status: u16, elapsed: Duration) {
        let route = route.map_or("other", |pattern| self.intern(pattern));
        // Any token is a method to HTTP: only the standard ones get a series of their own.
        let method = match method {
            "GET" => "GET",
            "HEAD" => "HEAD",
            "POST" => "POST",
            "PUT" => "PUT",
            "PATCH" => "PATCH",
            "DELETE" => "DELETE",
            "OPTIONS" => "OPTIONS",
            _ => "other",
        };
        let key = (route, method, status);
        {
            let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
            if let Some(histogram) = requests.get(&key) {
                histogram.observe(elapsed);
                return;
            }
        }
        let mut requests = self.requests.write().unwrap_or_else(|p| p.into_inner());
        requests.entry(key).or_default().observe(elapsed);
    }

    fn intern(&self, pattern: &str) -> &'static str {
        if let Some(&route) = self
            .routes
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(pattern)
        {
            return route;
        }
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        // Patterns come from the route table, never from the request, so this set is
        // bounded by the number of routes; leaking each once is what makes them 'static.
        routes
            .entry(pattern.to_owned())
            .or_insert_with(|| Box::leak(pattern.to_owned().into_boxed_str()))
    }

    /// The Prometheus text exposition.
    pub fn render(&self, snapshot: &Snapshot) -> String {
        let mut out = String::with_capacity(8 * 1024);
        out.push_str(
            "# HELP pulsekey_build_info The running version.\n# TYPE pulsekey_build_info gauge\n",
        );
        let _ = writeln!(
            out,
            "pulsekey_build_info{{version=\"{}\"}} 1",
            crate::VERSION
        );

        out.push_str("# HELP pulsekey_heartbeats_total Heartbeats answered, by result and verdict.\n# TYPE pulsekey_heartbeats_total counter\n");
        for result in HeartbeatResult::ALL {
            let (name, status) = result.labels();
            let count = self.heartbeats[result.slot()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "pulsekey_heartbeats_total{{result=\"{name}\",status=\"{status}\"}} {count}"
            );
        }

        out.push_str("# HELP pulsekey_webhook_deliveries_total Webhook attempts this node made, by result.\n# TYPE pulsekey_webhook_deliveries_total counter\n");
        for result in DeliveryResult::ALL {
            let count = self.deliveries[result as usize].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "pulsekey_webhook_deliveries_total{{result=\"{}\"}} {count}",
                result.label()
            );
        }
        if let Some((depth, oldest)) = snapshot.webhook_queue {
            out.push_str("# HELP pulsekey_webhook_queue_depth Webhook deliveries waiting for an enabled endpoint (the whole cluster's).\n# TYPE pulsekey_webhook_queue_depth gauge\n");
            let _ = writeln!(out, "pulsekey_webhook_queue_depth {depth}");
            out.push_str("# HELP pulsekey_webhook_oldest_pending_seconds Age of the oldest webhook delivery still waiting (0 when none).\n# TYPE pulsekey_webhook_oldest_pending_seconds gauge\n");
            let _ = writeln!(out, "pulsekey_webhook_oldest_pending_seconds {oldest:.3}");
        }

        out.push_str("# HELP pulsekey_http_request_duration_seconds Time to answer a request, by route, method and status.\n# TYPE pulsekey_http_request_duration_seconds histogram\n");
        let requests = self.requests.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<&RequestKey> = requests.keys().collect();
        keys.sort();
        for key in keys {
            let (route, method, status) = key;
            let histogram = &requests[key];
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            let mut cumulative = 0;
            for (le, bucket) in BUCKETS.iter().zip(&histogram.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "pulsekey_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {cumulative}"
                );
            }
            let count = cumulative + histogram.overflow.load(Ordering::Relaxed);
            let sum = histogram.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "pulsekey_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "pulsekey_http_request_duration_seconds_sum{{{labels}}} {sum}"
            );
            let _ = writeln!(
                out,
                "pulsekey_http_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        drop(requests);

        let pool = snapshot.pool;
        out.push_str("# HELP pulsekey_db_pool_connections Database pool connections, by state.\n# TYPE pulsekey_db_pool_connections gauge\n");
        let _ = writeln!(
            out,
            "pulsekey_db_pool_connections{{state=\"max\"}} {}",
            pool.max
        );
        let _ = writeln!(
            out,
            "pulsekey_db_pool_connections{{state=\"open\"}} {}",
            pool.open
        );
        let _ = writeln!(
            out,
            "pulsekey_db_pool_connections{{state=\"idle\"}} {}",
            pool.idle
        );
        let _ = writeln!(
            out,
            "pulsekey_db_pool_connections{{state=\"in_use\"}} {}",
            pool.open.saturating_sub(pool.idle)
        );

        out.push_str("# HELP pulsekey_database_up Whether the database answered this scrape.\n# TYPE pulsekey_database_up gauge\n");
        let _ = writeln!(
            out,
            "pulsekey_database_up {}",
            u8::from(snapshot.licenses.is_some())
        );
        if let Some(licenses) = &snapshot.licenses {
            out.push_str("# HELP pulsekey_licenses Licenses by effective status.\n# TYPE pulsekey_licenses gauge\n");
            for status in ["ACTIVE", "GRACE", "EXPIRED"] {
                let count: i64 = licenses
                    .iter()
                    .filter(|(s, _)| s == status)
                    .map(|(_, n)| n)
                    .sum();
                let _ = writeln!(out, "pulsekey_licenses{{status=\"{status}\"}} {count}");
            }
        }
        out.push_str("# HELP pulsekey_heartbeat_index_licenses Licenses held in this node's heartbeat index.\n# TYPE pulsekey_heartbeat_index_licenses gauge\n");
        let _ = writeln!(
            out,
            "pulsekey_heartbeat_index_licenses {}",
            snapshot.indexed_licenses
        );
        out.push_str("# HELP pulsekey_heartbeat_database_lookups_total Heartbeats the index could not answer alone: a new or changed key's first, or any miss while the index is incomplete.\n# TYPE pulsekey_heartbeat_database_lookups_total counter\n");
        let _ = writeln!(
            out,
            "pulsekey_heartbeat_database_lookups_total {}",
            snapshot.index_database_lookups
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            webhook_queue: Some((3, 12.5)),
            pool: pulsekey_db::PoolState {
                max: 8,
                open: 3,
                idle: 1,
            },
            licenses: Some(vec![("ACTIVE".into(), 5), ("GRACE".into(), 2)]),
            indexed_licenses: 7,
            index_database_lookups: 3,
        }
    }

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = Metrics::default();
        metrics.heartbeat(HeartbeatResult::Verdict(LicenseStatus::Grace));
        metrics.heartbeat(HeartbeatResult::Refused);
        metrics.heartbeat(HeartbeatResult::Refused);
        metrics.request(Some("/heartbeat"), "POST", 200, Duration::from_micros(700));
        metrics.request(Some("/heartbeat"), "POST", 200, Duration::from_millis(30));
        metrics.request(None, "GET", 404, Duration::from_secs(20));
        metrics.request(None, "BREW", 405, Duration::from_millis(1));
        metrics.request(None, "FOO1", 405, Duration::from_millis(1));
        metrics.webhook_delivery(DeliveryResult::Delivered);
        metrics.webhook_delivery(DeliveryResult::Unreachable);
        metrics.webhook_delivery(DeliveryResult::Unreachable);
        let text = metrics.render(&snapshot());
        for line in [
            "pulsekey_heartbeats_total{result=\"verdict\",status=\"GRACE\"} 1",
            "pulsekey_heartbeats_total{result=\"refused\",status=\"\"} 2",
            "pulsekey_heartbeats_total{result=\"verdict\",status=\"ACTIVE\"} 0",
            "pulsekey_http_request_duration_seconds_bucket{route=\"/heartbeat\",method=\"POST\",status=\"200\",le=\"0.0005\"} 0",
            "pulsekey_http_request_duration_seconds_bucket{route=\"/heartbeat\",method=\"POST\",status=\"200\",le=\"0.001\"} 1",
            "pulsekey_http_request_duration_seconds_bucket{route=\"/heartbeat\",method=\"POST\",status=\"200\",le=\"0.05\"} 2",
            "pulsekey_http_request_duration_seconds_count{route=\"/heartbeat\",method=\"POST\",status=\"200\"} 2",
            // Past the last bucket: only in +Inf.
            "pulsekey_http_request_duration_seconds_bucket{route=\"other\",method=\"GET\",status=\"404\",le=\"10\"} 0",
            "pulsekey_http_request_duration_seconds_bucket{route=\"other\",method=\"GET\",status=\"404\",le=\"+Inf\"} 1",
            "pulsekey_http_request_duration_seconds_count{route=\"other\",method=\"other\",status=\"405\"} 2",
            "pulsekey_db_pool_connections{state=\"in_use\"} 2",
            "pulsekey_licenses{status=\"GRACE\"} 2",
            "pulsekey_licenses{status=\"EXPIRED\"} 0",
            "pulsekey_database_up 1",
            "pulsekey_webhook_deliveries_total{result=\"delivered\"} 1",
            "pulsekey_webhook_deliveries_total{result=\"rejected\"} 0",
            "pulsekey_webhook_deliveries_total{result=\"unreachable\"} 2",
            "pulsekey_webhook_queue_depth 3",
            "pulsekey_webhook_oldest_pending_seconds 12.500",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
    }

    #[test]
    fn a_database_that_does_not_answer_drops_the_license_gauges() {
        let text = Metrics::default().render(&Snapshot {
            webhook_queue: None,
            licenses: None,
            ..snapshot()
        });
        assert!(text.contains("pulsekey_database_up 0"));
        assert!(!text.contains("pulsekey_licenses{"));
        assert!(!text.contains("pulsekey_webhook_queue_depth"));
    }
}
