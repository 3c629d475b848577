//! The fleet at a glance and over time: `GET /api/v1/fleet`, the sampling job that writes
//! `fleet_samples` (and the `went_offline` events) once per period for the whole cluster,
//! and `GET /api/v1/fleet/history`.
//!
//! What an admin changes (statuses, grace windows) is counted at the moment of the request,
//! from the heartbeat engine's in-memory index; what moves with every heartbeat
//! (connections, versions) is counted by the sample, a scan of the heartbeat bookkeeping
//! that no index slows the flushes for.

use pulsekey_db::fleet::{self as store, FleetCounts, HeartbeatCensus};
use pulsekey_db::{Db, DbConnection, DbError, servers};
use pulsekey_types::{
    ConnectionCounts, FleetHistory, FleetSample, FleetSummary, GraceEnding, LicenseCounts,
    VersionCount,
};
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::DomainError;
use crate::heartbeat::{Census, Heartbeats, OLD_KEY_REPORT_EVERY_MINUTES};

/// How far ahead `graceEndingSoon` looks, and how many it lists.
pub const GRACE_ENDING_WITHIN: Duration = Duration::days(7);
pub const GRACE_ENDING_LISTED: i64 = 20;
/// A chart's worth: longer ranges of history are thinned to about this many samples.
pub const HISTORY_POINTS: i64 = 1440;
/// Versions a sample keeps (the summary lists them all).
const SAMPLE_VERSIONS: usize = 10;

/// How the fleet is measured; the same on every node.
#[derive(Debug, Clone, Copy)]
pub struct FleetSettings {
    pub interval_secs: u64,
    /// One sample per this many seconds for the whole cluster (1–60).
    pub sample_every_secs: u64,
    pub history_kept: Duration,
}

impl FleetSettings {
    fn interval(&self) -> Duration {
        Duration::seconds(i64::try_from(self.interval_secs).unwrap_or(3600))
    }

    /// Heartbeats at or after this are online (`license::connection`: within 2 intervals).
    fn online_since(&self, now: PrimitiveDateTime) -> PrimitiveDateTime {
        now - self.interval() * 2
    }

    /// At or after this, late; before it, offline (within 10 intervals).
    fn late_since(&self, now: PrimitiveDateTime) -> PrimitiveDateTime {
        now - self.interval() * 10
    }

    /// The sampling period `now` falls in; the cluster takes one sample per slot.
    pub fn slot_of(&self, now: OffsetDateTime) -> i64 {
        now.unix_timestamp() / self.sample_every_secs.max(1) as i64
    }
}

/// `GET /api/v1/fleet`. `census` is the heartbeat engine's count of statuses, `None` when
/// its index cannot count (then the database does, more slowly).
pub fn summary(
    conn: &mut DbConnection,
    census: Option<Census>,
    now: OffsetDateTime,
    settings: &FleetSettings,
) -> Result<FleetSummary, DomainError> {
    let stored_now = pulsekey_db::to_stored(now);
    let licenses = match census {
        Some(census) => LicenseCounts {
            active: census.active,
            grace: census.grace,
            expired: census.expired,
        },
        None => stored_counts(conn, stored_now)?,
    };
    let grace_ending_soon = servers::grace_ending(
        conn,
        stored_now,
        stored_now + GRACE_ENDING_WITHIN,
        GRACE_ENDING_LISTED,
    )?
    .into_iter()
    .map(|(server_id, server_name, owner_username, at)| GraceEnding {
        server_id,
        server_name,
        owner_username,
        grace_expires_at: pulsekey_db::from_stored(at),
    })
    .collect();
    // The newest finished sample, however old (`sampledAt` says when): while a node takes a
    // long one (a mass outage marks many servers offline), the one before still answers.
    // Only a database that has never been sampled is counted now, once per request.
    let (connections, versions, old_keys_in_use, sampled_at) = match store::latest_sample(conn)? {
        Some(sample) => (
            connection_counts(&sample.counts),
            parse_versions(&sample.counts.versions),
            sample.counts.old_keys_in_use,
            sample.at,
        ),
        None => {
            let total = licenses.active + licenses.grace + licenses.expired;
            let counts = count(conn, licenses, total, stored_now, settings)?;
            (
                connection_counts(&counts),
                parse_versions(&counts.versions),
                counts.old_keys_in_use,
                stored_now,
            )
        }
    };
    Ok(FleetSummary {
        licenses,
        connections,
        versions,
        grace_ending_soon,
        old_keys_in_use,
        sampled_at: Some(pulsekey_db::from_stored(sampled_at)),
    })
}

fn stored_counts(
    conn: &mut DbConnection,
    now: PrimitiveDateTime,
) -> Result<LicenseCounts, DomainError> {
    let mut licenses = LicenseCounts::default();
    for (status, n) in servers::count_by_status(conn, now)? {
        match crate::license::parse_stored_status(&status) {
            pulsekey_types::LicenseStatus::Active => licenses.active += n,
            pulsekey_types::LicenseStatus::Grace => licenses.grace += n,
            pulsekey_types::LicenseStatus::Expired => licenses.expired += n,
        }
    }
    Ok(licenses)
}

/// Counts connections, versions and old keys now: one scan of the heartbeat bookkeeping.
fn count(
    conn: &mut DbConnection,
    licenses: LicenseCounts,
    total: i64,
    now: PrimitiveDateTime,
    settings: &FleetSettings,
) -> Result<FleetCounts, DomainError> {
    let HeartbeatCensus {
        heard,
        online,
        late,
        versions,
    } = store::heartbeat_census(conn, settings.online_since(now), settings.late_since(now))?;
    let old_keys_in_use = store::servers_using_old_keys(
        conn,
        now - Duration::minutes(i64::from(OLD_KEY_REPORT_EVERY_MINUTES) + 5),
    )?;
    let versions: Vec<VersionCount> = versions
        .into_iter()
        .map(|(version, count)| VersionCount { version, count })
        .collect();
    Ok(FleetCounts {
        active: licenses.active,
        grace: licenses.grace,
        expired: licenses.expired,
        online,
        late,
        offline: heard - online - late,
        // A heartbeat row left by a flush racing a delete is counted as heard; never below 0.
        never: (total - heard).max(0),
        old_keys_in_use,
        versions: serde_json::to_string(&versions).unwrap_or_else(|_| "[]".into()),
    })
}

fn connection_counts(counts: &FleetCounts) -> ConnectionCounts {
    ConnectionCounts {
        online: counts.online,
        late: counts.late,
        offline: counts.offline,
        never: counts.never,
    }
}

fn parse_versions(json: &str) -> Vec<VersionCount> {
    serde_json::from_str(json).unwrap_or_default()
}

/// One run of the sampling job: `None` when another node has this period, else how many
/// servers went offline since the last sample.
pub async fn sample(
    heartbeats: &Heartbeats,
    db: &Db,
    now: OffsetDateTime,
    settings: &FleetSettings,
) -> Result<Option<usize>, DomainError> {
    let settings = *settings;
    let claimed = blocking(db, move |db| {
        Ok(store::claim_sample(
            &mut *db.conn()?,
            settings.slot_of(now),
            pulsekey_db::to_stored(now),
        )?)
    })
    .await?;
    if !claimed {
        return Ok(None);
    }
    let late_since = settings.late_since(pulsekey_db::to_stored(now));
    // Read outside any write transaction; marked in short ones, so a mass outage never
    // holds the write lock for long.
    let candidates = blocking(db, move |db| {
        Ok(store::newly_offline(&mut *db.conn()?, late_since)?)
    })
    .await?;
    let mut went_offline = 0;
    for chunk in candidates.chunks(1000) {
        let chunk = chunk.to_vec();
        went_offline += blocking(db, move |db| {
            db.transaction(|conn| mark_offline(conn, &chunk, now, &settings))
        })
        .await?;
    }
    let census = heartbeats.census(now).await?;
    blocking(db, move |db| {
        complete(&mut *db.conn()?, census, now, &settings)
    })
    .await?;
    Ok(Some(went_offline))
}

/// Runs `f` off the async workers.
async fn blocking<T: Send + 'static>(
    db: &Db,
    f: impl FnOnce(&Db) -> Result<T, DomainError> + Send + 'static,
) -> Result<T, DomainError> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|_| {
            DomainError::Db(DbError::Unavailable(
                "the database worker pool is gone".into(),
            ))
        })?
}

/// Marks these servers offline and writes their `went_offline` events, at the moment each
/// crossed the threshold; run inside a transaction. A server whose newer heartbeat was
/// flushed meanwhile is left alone; a transition older than events are kept (the first
/// sample after an upgrade, or after a long stop) is marked without one; the heartbeat row
/// of a server deleted meanwhile is deleted. Returns how many went offline.
fn mark_offline(
    conn: &mut DbConnection,
    candidates: &[(i64, PrimitiveDateTime)],
    now: OffsetDateTime,
    settings: &FleetSettings,
) -> Result<usize, DomainError> {
    let late_since = settings.late_since(pulsekey_db::to_stored(now));
    let ids: Vec<i64> = candidates.iter().map(|(id, _)| *id).collect();
    let stray = store::delete_stray_heartbeats(conn, &ids)?;
    let oldest_event = pulsekey_db::to_stored(now) - crate::servers::events::KEPT_FOR;
    let mut marked = 0;
    for &(server_id, last) in candidates {
        if stray.contains(&server_id) {
            continue;
        }
        // Offline is *beyond* 10 intervals: the first instant past it.
        let since = last + settings.interval() * 10 + Duration::microseconds(1);
        let event = since >= oldest_event;
        if store::mark_offline(conn, server_id, last, late_since, since, event)? {
            marked += 1;
        }
    }
    Ok(marked)
}

/// Counts the fleet for the sample of the period `now` falls in, which this node claimed.
fn complete(
    conn: &mut DbConnection,
    census: Option<Census>,
    now: OffsetDateTime,
    settings: &FleetSettings,
) -> Result<(), DomainError> {
    let stored_now = pulsekey_db::to_stored(now);
    let licenses = match census {
        Some(census) => LicenseCounts {
            active: census.active,
            grace: census.grace,
            expired: census.expired,
        },
        None => stored_counts(conn, stored_now)?,
    };
    let total = licenses.active + licenses.grace + licenses.expired;
    let counts = count(conn, licenses, total, stored_now, settings)?;
    store::complete_sample(conn, settings.slot_of(now), &counts)?;
    Ok(())
}

/// `GET /api/v1/fleet/history?from=&to=`: by default the last 24 hours.
pub fn history(
    conn: &mut DbConnection,
    from: Option<&str>,
    to: Option<&str>,
    now: OffsetDateTime,
    settings: &FleetSettings,
) -> Result<FleetHistory, DomainError> {
    let from = crate::audit_log::parse_time("from", from)?;
    let to = crate::audit_log::parse_time("to", to)?.unwrap_or(now);
    let from = match from {
        Some(from) => from,
        None => to
            .checked_sub(Duration::days(1))
            .ok_or_else(|| DomainError::Validation("to is too far in the past".into()))?,
    };
    if from >= to {
        return Err(DomainError::Validation("from must be before to".into()));
    }
    let period = settings.sample_every_secs.max(1) as i64;
    let span = (to - from).whole_seconds().max(1);
    // Whole periods between kept samples, so that the slot arithmetic below picks them.
    let every = ((span / period + HISTORY_POINTS - 1) / HISTORY_POINTS).max(1);
    let samples = store::samples_between(
        conn,
        pulsekey_db::to_stored(from),
        pulsekey_db::to_stored(to),
        every,
        HISTORY_POINTS + 1,
    )?
    .into_iter()
    .map(|sample| {
        let mut versions = parse_versions(&sample.counts.versions);
        versions.truncate(SAMPLE_VERSIONS);
        FleetSample {
            at: pulsekey_db::from_stored(sample.at),
            licenses: LicenseCounts {
                active: sample.counts.active,
                grace: sample.counts.grace,
                expired: sample.counts.expired,
            },
            connections: connection_counts(&sample.counts),
            versions,
            old_keys_in_use: sample.counts.old_keys_in_use,
        }
    })
    .collect();
    Ok(FleetHistory {
        from,
        to,
        every_secs: every * period,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SETTINGS: FleetSettings = FleetSettings {
        interval_secs: 60,
        sample_every_secs: 60,
        history_kept: Duration::days(90),
    };

    #[test]
    fn thresholds_match_the_connection_of_a_single_license() {
        let now = datetime!(2026-12-03 12:00);
        assert_eq!(SETTINGS.online_since(now), datetime!(2026-12-03 11:58));
        assert_eq!(SETTINGS.late_since(now), datetime!(2026-12-03 11:50));
        for (age, expected) in [
            (120, pulsekey_types::Connection::Online),
            (121, pulsekey_types::Connection::Late),
            (600, pulsekey_types::Connection::Late),
            (601, pulsekey_types::Connection::Offline),
        ] {
            let last = now - Duration::seconds(age);
            let by_threshold = if last >= SETTINGS.online_since(now) {
                pulsekey_types::Connection::Online
            } else if last >= SETTINGS.late_since(now) {
                pulsekey_types::Connection::Late
            } else {
                pulsekey_types::Connection::Offline
            };
            assert_eq!(by_threshold, expected, "{age} s");
            assert_eq!(
                crate::license::connection(
                    Some(pulsekey_db::from_stored(last)),
                    pulsekey_db::from_stored(now),
                    60
                ),
                expected
            );
        }
    }

    #[test]
    fn one_slot_per_period() {
        let settings = FleetSettings {
            sample_every_secs: 60,
            ..SETTINGS
        };
        let at = datetime!(2026-12-03 12:00:00 UTC);
        assert_eq!(
            settings.slot_of(at),
            settings.slot_of(at + Duration::seconds(59))
        );
        assert_eq!(
            settings.slot_of(at) + 1,
            settings.slot_of(at + Duration::seconds(60))
        );
    }
}
