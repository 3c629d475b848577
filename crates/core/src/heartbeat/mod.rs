//! The heartbeat hot path: verdicts from an in-memory license index that is provably
//! current, and bookkeeping writes coalesced into batches.
//!
//! The promise: a change committed before a heartbeat arrives (regenerate, revoke, reinstate,
//! expiry, an operator's hand edit) decides that heartbeat, on every node. Before it trusts
//! the index, each request waits for a catch-up round that *started after it arrived*: one
//! read of the change log past the applied revision. Concurrent requests share rounds, so
//! under load one query serves many heartbeats.

mod index;
pub mod input;
mod refusals;
mod signer;
mod verdict;
mod writes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pulsekey_db::{Backend, Db, DbConnection, DbError, license_changes, retired_keys, servers};
use time::OffsetDateTime;

pub use index::{
    Census, IndexedLicense, KeyHash, LicenseIndex, Lookup, OLD_KEY_REPORT_EVERY_MINUTES,
};
pub use signer::BatchSigner;
use verdict::minute_of;
pub use verdict::{Answer, Settings, Verdict};
pub use writes::{HeartbeatWriter, PendingHeartbeat};

use crate::license;

/// Change-log rows read per query while catching up.
const CATCH_UP_PAGE: i64 = 1000;
/// Rows per query while filling the index at start.
const FILL_PAGE: i64 = 20_000;
/// How long a regenerated key is told apart from a stranger's (`old_key_used`).
pub const RETIRED_KEYS_KEPT_FOR: time::Duration = time::Duration::days(90);

pub struct Heartbeats {
    db: Db,
    settings: Settings,
    /// Refused heartbeats per client address.
    refusals: refusals::Throttle,
    index: LicenseIndex,
    writer: Arc<HeartbeatWriter>,
    /// The catch-up connection, outside the pool so a busy pool never stalls heartbeats.
    catch_up: tokio::sync::Mutex<Option<CatchUp>>,
    rounds_started: AtomicU64,
    rounds_done: AtomicU64,
    /// Heartbeats the index could not answer alone, for `/metrics`.
    database_lookups: AtomicU64,
}

impl Heartbeats {
    /// Fills the index from the database and starts the flusher.
    pub fn start(db: Db, settings: Settings) -> Result<Arc<Self>, DbError> {
        let refusals = match settings.refusals_per_address_per_minute {
            0 => u32::MAX,
            limit => limit,
        };
        let heartbeats = Arc::new(Self {
            catch_up: tokio::sync::Mutex::new(Some(CatchUp::new(db.dedicated()?))),
            db,
            refusals: refusals::Throttle::new(refusals, Duration::from_secs(60)),
            settings,
            index: LicenseIndex::default(),
            writer: Arc::default(),
            rounds_started: AtomicU64::new(0),
            rounds_done: AtomicU64::new(0),
            database_lookups: AtomicU64::new(0),
        });
        heartbeats.fill()?;
        heartbeats
            .writer
            .start(heartbeats.db.clone(), heartbeats.settings.flush_interval)
            .map_err(|err| DbError::Unavailable(format!("cannot start the flusher: {err}")))?;
        Ok(heartbeats)
    }

    /// Loads every license. The revision is read first: whatever changes after it is
    /// dropped again by the first catch-up, so nothing older than the rows can survive.
    fn fill(&self) -> Result<(), DbError> {
        let started = Instant::now();
        let mut conn = self.db.conn()?;
        self.index.reset(license_changes::latest(&mut conn)?);
        let seen = self.index.applied();
        let mut after = 0;
        loop {
            let rows = servers::license_index_page(&mut conn, after, FILL_PAGE)?;
            if after == 0 && rows.len() as i64 == FILL_PAGE {
                self.index.reserve(servers::count(&mut conn)? as usize);
            }
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in rows {
                if let Some(hash) = key_hash(&row.license_key_hash) {
                    self.index.insert_if_current(
                        hash,
                        indexed(row.id, &row.license_status, row.grace_expires_at),
                        seen,
                        None,
                    );
                }
            }
        }
        let since = pulsekey_db::now() - RETIRED_KEYS_KEPT_FOR;
        let mut after = Vec::new();
        loop {
            let rows = retired_keys::page(&mut conn, since, &after, FILL_PAGE)?;
            let Some((last, _)) = rows.last() else { break };
            after = last.clone();
            for (hash, server_id) in rows {
                if let Some(hash) = key_hash(&hash) {
                    self.index.retire(hash, server_id);
                }
            }
        }
        self.index.mark_complete();
        tracing::info!(
            licenses = self.index.licenses(),
            millis = started.elapsed().as_millis() as u64,
            "license index filled"
        );
        Ok(())
    }

    /// The verdict for the key with this hash, or `None` when no license has it.
    async fn verdict(
        &self,
        hash: KeyHash,
        now: OffsetDateTime,
    ) -> Result<Option<Verdict>, DbError> {
        self.catch_up().await?;
        let minute = minute_of(now);
        match self.index.lookup(&hash, minute) {
            Lookup::Found(license, count) => return Ok(Some(Verdict::of(license, count, now))),
            Lookup::Absent => return Ok(None),
            Lookup::Unknown => {}
        }
        // The database is current by definition.
        self.database_lookups.fetch_add(1, Ordering::Relaxed);
        let seen = self.index.applied();
        let db = self.db.clone();
        let (row, retired) = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            let row = servers::find_by_key_hash(&mut conn, &hash.0)?;
            let retired = match row {
                Some(_) => None,
                None => retired_keys::find(
                    &mut conn,
                    &hash.0,
                    pulsekey_db::now() - RETIRED_KEYS_KEPT_FOR,
                )?,
            };
            Ok::<_, DbError>((row, retired))
        })
        .await
        .map_err(|_| DbError::Unavailable("the database worker pool is gone".into()))??;
        if row.is_none() {
            if let Some(server_id) = retired {
                self.index.retire(hash, server_id);
            }
            self.index.settle_absent(hash, seen);
        }
        Ok(row.map(|row| {
            let license = indexed(row.id, &row.license_status, row.grace_expires_at);
            self.index
                .insert_if_current(hash, license, seen, Some(minute));
            Verdict::of(license, 1, now)
        }))
    }

    /// Heartbeats so far that needed a database read (a changed or new key, or any miss
    /// while the index is incomplete).
    pub fn database_lookups(&self) -> u64 {
        self.database_lookups.load(Ordering::Relaxed)
    }

    /// Licenses per effective status at `now`, exact: the index is caught up first, and the
    /// licenses changed since it last read them are read from the database. `None` while
    /// the index is incomplete (after a gap in the change log).
    pub async fn census(&self, now: OffsetDateTime) -> Result<Option<Census>, DbError> {
        self.catch_up().await?;
        // A round applied while the shards were walked may have moved a key from one shard's
        // map to another's unsettled set: count again (a few times at most; busy is fine).
        let mut census = None;
        for _ in 0..3 {
            let applied = self.index.applied();
            census = self.index.census(now);
            if self.index.applied() == applied {
                break;
            }
        }
        let Some(mut census) = census else {
            return Ok(None);
        };
        let unsettled = std::mem::take(&mut census.unsettled);
        if unsettled.is_empty() {
            return Ok(Some(census));
        }
        let seen = self.index.applied();
        let db = self.db.clone();
        let hashes: Vec<Vec<u8>> = unsettled.iter().map(|hash| hash.0.to_vec()).collect();
        let (rows, retired) = tokio::task::spawn_blocking(move || {
            let mut conn = db.conn()?;
            let rows = servers::licenses_by_key_hashes(&mut conn, &hashes)?;
            let absent: Vec<Vec<u8>> = hashes
                .into_iter()
                .filter(|hash| !rows.iter().any(|row| &row.license_key_hash == hash))
                .collect();
            let since = pulsekey_db::now() - RETIRED_KEYS_KEPT_FOR;
            let retired = retired_keys::find_many(&mut conn, &absent, since)?;
            Ok::<_, DbError>((rows, retired))
        })
        .await
        .map_err(|_| DbError::Unavailable("the database worker pool is gone".into()))??;
        // What was read settles those keys, as a heartbeat's read would, so the next count
        // does not read them again.
        for (hash, server_id) in &retired {
            if let Some(hash) = key_hash(hash) {
                self.index.retire(hash, server_id.to_owned());
            }
        }
        for hash in &unsettled {
            if !rows.iter().any(|row| row.license_key_hash == hash.0) {
                self.index.settle_absent(*hash, seen);
            }
        }
        for row in rows {
            if let Some(hash) = key_hash(&row.license_key_hash) {
                self.index.insert_if_current(
                    hash,
                    indexed(row.id, &row.license_status, row.grace_expires_at),
                    seen,
                    None,
                );
            }
            let expires = row.grace_expires_at.map(pulsekey_db::from_stored);
            match license::effective_status(
                license::parse_stored_status(&row.license_status),
                expires,
                now,
            ) {
                pulsekey_types::LicenseStatus::Active => census.active += 1,
                pulsekey_types::LicenseStatus::Grace => census.grace += 1,
                pulsekey_types::LicenseStatus::Expired => census.expired += 1,
            }
        }
        Ok(Some(census))
    }

    /// How many licenses this node holds in memory.
    pub fn indexed_licenses(&self) -> usize {
        self.index.licenses()
    }

    /// Notes a heartbeat's bookkeeping for the next flush.
    fn record(&self, server_id: i64, heartbeat: PendingHeartbeat) {
        self.writer.record(server_id, heartbeat);
    }

    /// Writes the remaining heartbeats; call once the server has stopped taking requests.
    pub fn shutdown(&self) {
        self.writer.shutdown();
    }

    /// Returns once a catch-up round that started after this call has finished.
    async fn catch_up(&self) -> Result<(), DbError> {
        // Any round numbered `need` or later is numbered after this point.
        let need = self.rounds_started.load(Ordering::SeqCst) + 1;
        // Let the other requests ready on this worker reach this point too: the first to
        // take the lock then runs one round for all of them.
        tokio::task::yield_now().await;
        let mut slot = self.catch_up.lock().await;
        if self.rounds_done.load(Ordering::SeqCst) >= need {
            return Ok(());
        }
        let round = self.rounds_started.fetch_add(1, Ordering::SeqCst) + 1;
        let catch_up = match slot.take() {
            Some(catch_up) => catch_up,
            None => CatchUp::new(self.db.dedicated()?),
        };
        let applied = self.index.applied();
        let (catch_up, changes) = match self.db.backend() {
            // In-process and usually answered without reading a page: cheaper than a hop.
            Backend::Sqlite => catch_up.read(applied),
            Backend::Postgres => tokio::task::spawn_blocking(move || catch_up.read(applied))
                .await
                .map_err(|_| DbError::Unavailable("the database worker pool is gone".into()))?,
        };
        // A connection that failed is dropped; the next round opens a new one.
        let changes = changes?;
        *slot = Some(catch_up);
        self.apply(applied, &changes);
        self.rounds_done.store(round, Ordering::SeqCst);
        Ok(())
    }

    fn apply(&self, applied: i64, changes: &[license_changes::LicenseChange]) {
        let Some(last) = changes.last() else {
            return;
        };
        // Revisions have no gaps (see the migration); one here means rows were pruned
        // before this node read them, possibly between two pages of this very read: what
        // they named cannot be known, so the index starts over.
        if follows_without_gap(applied, changes) {
            self.index.apply(changes);
        } else {
            tracing::warn!(
                applied,
                newest = last.rev,
                "license change log has a gap; starting the index over (until this node \
                 restarts, heartbeats the index cannot answer read the database)"
            );
            self.index.reset(last.rev);
        }
    }
}

/// Whether `changes` are exactly the revisions after `applied`, one by one.
fn follows_without_gap(applied: i64, changes: &[license_changes::LicenseChange]) -> bool {
    std::iter::once(applied)
        .chain(changes.iter().map(|change| change.rev))
        .zip(changes.iter().map(|change| change.rev))
        .all(|(before, rev)| rev == before + 1)
}

/// The catch-up connection and, on SQLite, the `data_version` it saw at its last read.
struct CatchUp {
    conn: DbConnection,
    data_version: Option<i64>,
}

impl CatchUp {
    fn new(conn: DbConnection) -> Self {
        Self {
            conn,
            data_version: None,
        }
    }

    /// Every change after `applied`. On SQLite, an unchanged `data_version` proves nobody
    /// committed since the last read, so the log need not be read at all. It is taken
    /// before the log, so a commit racing the read shows up at the next round.
    fn read(
        mut self,
        applied: i64,
    ) -> (Self, Result<Vec<license_changes::LicenseChange>, DbError>) {
        let version = match license_changes::sqlite_data_version(&mut self.conn) {
            Ok(version) => version,
            Err(err) => return (self, Err(err)),
        };
        if version.is_some() && version == self.data_version {
            return (self, Ok(Vec::new()));
        }
        let changes = read_changes(&mut self.conn, applied);
        if changes.is_ok() {
            self.data_version = version;
        }
        (self, changes)
    }
}

/// Reads every change after `applied`, page by page.
fn read_changes(
    conn: &mut DbConnection,
    applied: i64,
) -> Result<Vec<license_changes::LicenseChange>, DbError> {
    let mut all = Vec::new();
    let mut after = applied;
    loop {
        let page = license_changes::since(conn, after, CATCH_UP_PAGE)?;
        let full = page.len() as i64 == CATCH_UP_PAGE;
        if let Some(last) = page.last() {
            after = last.rev;
        }
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// A license as the index keeps it, from its stored columns.
fn indexed(
    server_id: i64,
    stored_status: &str,
    grace_expires_at: Option<time::PrimitiveDateTime>,
) -> IndexedLicense {
    IndexedLicense {
        server_id,
        status: license::parse_stored_status(stored_status),
        grace_expires_at,
    }
}

fn key_hash(bytes: &[u8]) -> Option<KeyHash> {
    <[u8; 32]>::try_from(bytes).ok().map(KeyHash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(revs: &[i64]) -> Vec<license_changes::LicenseChange> {
        revs.iter()
            .map(|&rev| license_changes::LicenseChange {
                rev,
                server_id: 1,
                key_hash: vec![0; 32],
            })
            .collect()
    }

    #[test]
    fn a_gap_anywhere_in_a_catch_up_is_noticed() {
        assert!(follows_without_gap(7, &changes(&[])));
        assert!(follows_without_gap(7, &changes(&[8, 9, 10])));
        assert!(!follows_without_gap(7, &changes(&[9, 10])));
        assert!(!follows_without_gap(7, &changes(&[8, 10, 11])));
    }
}
