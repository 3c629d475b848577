//! Heartbeat bookkeeping (last seen, version, address) coalesced in memory and written in
//! one transaction per flush, instead of one UPDATE per request.
//!
//! Only bookkeeping waits here: verdicts never depend on it. The delay is bounded by the
//! flush interval, a full buffer flushes early, a failed flush keeps its rows for the next
//! one, and shutdown flushes what is left.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use pulsekey_db::Db;
use pulsekey_db::fleet::{self, OldKeyUse};
use pulsekey_db::servers::{self, HeartbeatWrite};
use time::PrimitiveDateTime;

/// Past this many servers waiting, the buffer flushes without waiting for the interval.
const FLUSH_EARLY_AT: usize = 50_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingHeartbeat {
    pub at: PrimitiveDateTime,
    pub version: String,
    pub ip: Option<IpAddr>,
}

#[derive(Default)]
struct Buffer {
    pending: HashMap<i64, PendingHeartbeat>,
    /// `old_key_used` events, written with the next flush.
    old_keys: Vec<OldKeyUse>,
    stopping: bool,
}

#[derive(Default)]
pub struct HeartbeatWriter {
    buffer: Mutex<Buffer>,
    wake: Condvar,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

impl HeartbeatWriter {
    fn buffer(&self) -> MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a heartbeat; the latest one per server wins.
    pub fn record(&self, server_id: i64, heartbeat: PendingHeartbeat) {
        let mut buffer = self.buffer();
        buffer.pending.insert(server_id, heartbeat);
        if buffer.pending.len() >= FLUSH_EARLY_AT {
            self.wake.notify_one();
        }
    }

    /// Notes a use of a retired key, for the next flush.
    pub fn record_old_key(&self, old_key: OldKeyUse) {
        self.buffer().old_keys.push(old_key);
    }

    #[cfg(test)]
    fn pending(&self, server_id: i64) -> Option<PendingHeartbeat> {
        self.buffer().pending.get(&server_id).cloned()
    }

    /// Starts the thread that flushes every `interval`.
    pub fn start(self: &std::sync::Arc<Self>, db: Db, interval: Duration) -> std::io::Result<()> {
        let writer = self.clone();
        let handle = std::thread::Builder::new()
            .name("heartbeat-flush".into())
            .spawn(move || writer.run(&db, interval))?;
        *self.flusher.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        Ok(())
    }

    /// Flushes what is left and stops the flusher; returns once it is written (or failed).
    pub fn shutdown(&self) {
        self.buffer().stopping = true;
        self.wake.notify_one();
        let handle = self
            .flusher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the heartbeat flusher failed; heartbeats still in memory are lost");
        }
    }

    fn run(&self, db: &Db, interval: Duration) {
        loop {
            let (batch, stopping) = {
                let buffer = self.buffer();
                let (mut buffer, _) = self
                    .wake
                    .wait_timeout_while(buffer, interval, |b| {
                        !b.stopping && b.pending.len() < FLUSH_EARLY_AT
                    })
                    .unwrap_or_else(|p| p.into_inner());
                let batch = (
                    std::mem::take(&mut buffer.pending),
                    std::mem::take(&mut buffer.old_keys),
                );
                (batch, buffer.stopping)
            };
            let written =
                (batch.0.is_empty() && batch.1.is_empty()) || self.flush(db, batch, stopping);
            if stopping {
                return;
            }
            if !written {
                // The batch is back in the buffer, likely past the early-flush size: wait a
                // whole interval rather than retrying a failing database in a tight loop.
                let buffer = self.buffer();
                let _ = self
                    .wake
                    .wait_timeout_while(buffer, interval, |b| !b.stopping)
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
    }

    /// Writes `batch`; on failure puts it back and returns false.
    fn flush(
        &self,
        db: &Db,
        (batch, old_keys): (HashMap<i64, PendingHeartbeat>, Vec<OldKeyUse>),
        last: bool,
    ) -> bool {
        let mut writes: Vec<HeartbeatWrite> = batch
            .iter()
            .map(|(&server_id, heartbeat)| HeartbeatWrite {
                server_id,
                at: heartbeat.at,
                version: heartbeat.version.clone(),
                ip: heartbeat.ip.map(|ip| ip.to_string()),
            })
            .collect();
        // One order on every node, so two nodes' flushes never wait on each other in a cycle.
        writes.sort_unstable_by_key(|write| write.server_id);
        let attempts = if last { 3 } else { 1 };
        for attempt in 1..=attempts {
            match db.transaction(|conn| {
                servers::record_heartbeats(conn, &writes)?;
                fleet::record_old_key_uses(conn, &old_keys)
            }) {
                Ok(()) => {
                    tracing::debug!(rows = writes.len(), "heartbeats written");
                    return true;
                }
                Err(err) if attempt < attempts => {
                    tracing::warn!(error = %err, "writing heartbeats failed; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                // Only last-seen bookkeeping is lost (verdicts and audit entries never wait
                // here), but say so loudly.
                Err(err) if last => {
                    tracing::error!(error = %err, rows = writes.len(), "writing heartbeats at shutdown failed; their last-seen times are lost");
                }
                Err(err) => {
                    tracing::warn!(error = %err, rows = writes.len(), "writing heartbeats failed; kept for the next flush");
                }
            }
        }
        // Put the batch back under anything newer that arrived meanwhile.
        let mut buffer = self.buffer();
        for (server_id, heartbeat) in batch {
            buffer.pending.entry(server_id).or_insert(heartbeat);
        }
        buffer.old_keys.extend(old_keys);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(version: &str) -> PendingHeartbeat {
        PendingHeartbeat {
            at: pulsekey_db::now(),
            version: version.into(),
            ip: None,
        }
    }

    #[test]
    fn the_latest_heartbeat_per_server_wins() {
        let writer = HeartbeatWriter::default();
        writer.record(1, heartbeat("1.0"));
        writer.record(1, heartbeat("1.1"));
        writer.record(2, heartbeat("2.0"));
        assert_eq!(writer.pending(1).map(|h| h.version), Some("1.1".into()));
        assert_eq!(writer.buffer().pending.len(), 2);
    }
}
