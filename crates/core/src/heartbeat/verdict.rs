//! One heartbeat, start to finish: from the parsed key and body to the finished answer the
//! server signs and renders. Every rule that decides what a proxy hears lives here: the
//! verdict from the index, the per-key limit, the per-address limit on refusals, and the
//! bookkeeping that a counted heartbeat leaves behind.

use std::net::IpAddr;
use std::time::Duration;

use pulsekey_types::{HeartbeatRequest, HeartbeatResponse, LicenseStatus};
use time::OffsetDateTime;

use super::{Heartbeats, IndexedLicense, KeyHash, PendingHeartbeat};
use crate::DomainError;
use crate::keys::LicenseKey;
use crate::license;

/// What the engine is told at start.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// What every verdict tells the proxy to wait before the next heartbeat.
    pub interval_secs: u64,
    /// How often coalesced heartbeat writes reach the database.
    pub flush_interval: Duration,
    /// Heartbeats one key may send per minute on one node; 0 for no limit.
    pub per_key_per_minute: u32,
    /// Refused heartbeats one address may send per minute on one node; 0 for no limit.
    pub refusals_per_address_per_minute: u32,
}

/// What a proxy is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Verdict(HeartbeatResponse),
    /// The key is missing, malformed, unknown or regenerated: one answer for all, so a
    /// refusal tells nobody which keys exist.
    Refused,
}

/// A license's answer to one heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub server_id: i64,
    pub status: LicenseStatus,
    pub grace_expires_at: Option<OffsetDateTime>,
    /// Heartbeats with this key in the current minute on this node, this one included.
    pub heartbeats_this_minute: u32,
}

/// The minute `now` falls in, as the index counts heartbeats.
pub(super) fn minute_of(now: OffsetDateTime) -> u32 {
    (now.unix_timestamp() / 60) as u32
}

impl Verdict {
    pub(super) fn of(
        license: IndexedLicense,
        heartbeats_this_minute: u32,
        now: OffsetDateTime,
    ) -> Self {
        let grace_expires_at = license.grace_expires_at.map(pulsekey_db::from_stored);
        let status = license::effective_status(license.status, grace_expires_at, now);
        Self {
            server_id: license.server_id,
            status,
            grace_expires_at: grace_expires_at.filter(|_| status == LicenseStatus::Grace),
            heartbeats_this_minute,
        }
    }
}

impl Heartbeats {
    /// The answer to one heartbeat: `presented` is the key and body when the key has a
    /// license key's shape (`None` otherwise), `address` the client it came from.
    ///
    /// `Err(TooManyAttempts)` when this key, or this address's refused keys, went past
    /// their limit this minute. Only refusals count against an address, and only refusals
    /// wait for it: a valid key is answered whatever others behind the same address (a NAT,
    /// a load balancer) send.
    pub async fn answer(
        &self,
        presented: Option<(LicenseKey, HeartbeatRequest)>,
        address: Option<IpAddr>,
        now: OffsetDateTime,
    ) -> Result<Answer, DomainError> {
        let found = match presented {
            Some((key, request)) => {
                let hash = KeyHash(key.hash());
                let verdict = self.verdict(hash, now).await?;
                if verdict.is_none() {
                    self.notice_old_key(&hash, &key, address, now);
                }
                verdict.map(|verdict| (verdict, request))
            }
            None => None,
        };
        let Some((verdict, request)) = found else {
            return self.refuse(address);
        };
        let limit = self.settings.per_key_per_minute;
        if limit != 0 && verdict.heartbeats_this_minute > limit {
            return Err(DomainError::TooManyAttempts {
                retry_after_secs: u64::from(60 - now.second()).max(1),
            });
        }
        self.record(
            verdict.server_id,
            PendingHeartbeat {
                at: pulsekey_db::to_stored(now),
                version: request.version,
                ip: address,
            },
        );
        Ok(Answer::Verdict(HeartbeatResponse {
            status: verdict.status,
            grace_expires_at: verdict.grace_expires_at,
            heartbeat_interval_secs: self.settings.interval_secs,
            server_time: now,
        }))
    }

    /// A key that was some server's before a regenerate is refused like any other, but its
    /// server's events say so: the customer has not re-run Install.
    fn notice_old_key(
        &self,
        hash: &KeyHash,
        key: &LicenseKey,
        address: Option<IpAddr>,
        now: OffsetDateTime,
    ) {
        if let Some(server_id) = self.index.report_old_key(hash, minute_of(now)) {
            self.writer.record_old_key(pulsekey_db::fleet::OldKeyUse {
                server_id,
                at: pulsekey_db::to_stored(now),
                key_last4: key.last4().to_owned(),
                ip: address.map(|ip| ip.to_string()),
            });
        }
    }

    fn refuse(&self, address: Option<IpAddr>) -> Result<Answer, DomainError> {
        let address = address.map(|ip| ip.to_string()).unwrap_or_default();
        self.refusals
            .check(&address)
            .map_err(|retry_after_secs| DomainError::TooManyAttempts { retry_after_secs })?;
        self.refusals.record_failure(&address);
        Ok(Answer::Refused)
    }
}
