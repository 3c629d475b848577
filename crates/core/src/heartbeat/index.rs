//! Every license's verdict inputs in memory, so a heartbeat needs no storage round trip.
//!
//! The index is a cache with exact invalidation, never a source of truth: entries come from
//! the database (filled at start, or read on a miss), and the change log written by the
//! `servers` triggers says which keys to drop.
//!
//! It is also *complete* once filled: the change log names every key hash that can come
//! into being (a new server's, a regenerated one's) as well as every one that goes, and
//! those stay *unsettled* until the database has been read for them. A key that is in
//! neither the map nor the unsettled set therefore belongs to no license, and is refused
//! without a database read: a flood of well-formed unknown keys costs one hash lookup
//! each. After a reset (a gap in the change log) the index is incomplete, and every miss
//! reads the database as before, until the node restarts.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use pulsekey_db::license_changes::LicenseChange;
use pulsekey_types::LicenseStatus;
use time::{OffsetDateTime, PrimitiveDateTime};

const SHARDS: usize = 64;

/// SHA-256 of a license key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyHash(pub [u8; 32]);

// Only a prefix: enough to tell two apart in a failing test, too little to look a key up by.
impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

// The bytes are already a uniform hash, so eight of them are the map's hash. Only keys read
// back from the database enter the map, so nobody can grind colliding entries into it.
impl Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

type Licenses = HashMap<KeyHash, Entry, BuildHasherDefault<PassThrough>>;

#[derive(Default)]
struct Shard {
    licenses: Licenses,
    /// Hashes a change named that have not been read back from the database since; only
    /// change-log hashes enter, never one a request presented.
    unsettled: HashSet<KeyHash, BuildHasherDefault<PassThrough>>,
    /// Keys a regenerate replaced, by the server they belonged to: a proxy still calling
    /// with one is refused like a stranger, but its server hears of it (`old_key_used`).
    retired: HashMap<KeyHash, Retired, BuildHasherDefault<PassThrough>>,
}

struct Retired {
    server_id: i64,
    /// The minute (any clock's minute number, plus one) this node last reported the key's
    /// use; 0 for never.
    reported: AtomicU32,
}

/// How often one node reports the same old key still calling: it calls every interval, and
/// support needs to know it still does, not every time.
pub const OLD_KEY_REPORT_EVERY_MINUTES: u32 = 60;

/// Licenses per effective status, as the index holds them at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    pub active: i64,
    pub grace: i64,
    pub expired: i64,
    /// Hashes whose license only the database can tell (changed since last read); their
    /// licenses are not in the counts.
    pub unsettled: Vec<KeyHash>,
}

/// What the index knows of a key hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The license, and the key's heartbeats so far this minute.
    Found(IndexedLicense, u32),
    /// No license has this key: certain, without asking the database.
    Absent,
    /// Only the database can tell.
    Unknown,
}

/// One license as the index keeps it: 24 bytes beside its 32-byte key. A million licenses
/// take about two million buckets, so each byte here costs about 2 MB.
struct Entry {
    server_id: i64,
    /// `grace_expires_at` in Unix microseconds (exact: stored timestamps are truncated to
    /// microseconds), `i64::MIN` for none.
    grace_expires_micros: i64,
    /// Heartbeats in the current minute: the minute (mod 2^16) in the high half, the count
    /// (saturating at 65535) in the low half. Here rather than in a map of its own, so the
    /// per-key limit costs no second lookup. A key silent for exactly a multiple of 2^16
    /// minutes (45 days) may find an old count; a limit can afford that.
    recent: AtomicU32,
    status: LicenseStatus,
}

const NO_GRACE: i64 = i64::MIN;

impl Entry {
    /// `first_heartbeat`: the minute of the heartbeat that read it from the database, if
    /// one did (filling the index counts none).
    fn new(license: IndexedLicense, first_heartbeat: Option<u32>) -> Self {
        let grace_expires_micros = license.grace_expires_at.map_or(NO_GRACE, |at| {
            (at.assume_utc().unix_timestamp_nanos() / 1000) as i64
        });
        Self {
            server_id: license.server_id,
            grace_expires_micros,
            recent: AtomicU32::new(first_heartbeat.map_or(0, |minute| (minute & 0xFFFF) << 16 | 1)),
            status: license.status,
        }
    }

    fn license(&self) -> IndexedLicense {
        let grace_expires_at = (self.grace_expires_micros != NO_GRACE)
            .then(|| {
                OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(self.grace_expires_micros) * 1000,
                )
                .ok()
            })
            .flatten()
            .map(|at| PrimitiveDateTime::new(at.date(), at.time()));
        IndexedLicense {
            server_id: self.server_id,
            status: self.status,
            grace_expires_at,
        }
    }

    /// Counts one heartbeat in `minute`; returns the count so far in that minute.
    fn count(&self, minute: u32) -> u32 {
        let tag = minute & 0xFFFF;
        let step = |seen: u32| {
            let count = if seen >> 16 == tag {
                (seen & 0xFFFF).saturating_add(1).min(0xFFFF)
            } else {
                1
            };
            tag << 16 | count
        };
        // A compare-and-swap loop: exact, and it only ever spins on one key's own racing
        // heartbeats.
        let previous = self
            .recent
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |seen| {
                Some(step(seen))
            })
            .unwrap_or_else(|seen| seen);
        step(previous) & 0xFFFF
    }
}

/// What a verdict needs, as stored (the effective status is worked out per request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexedLicense {
    pub server_id: i64,
    pub status: LicenseStatus,
    pub grace_expires_at: Option<PrimitiveDateTime>,
}

pub struct LicenseIndex {
    shards: Box<[RwLock<Shard>]>,
    /// The change-log revision applied so far. It also guards inserts: a row read while a
    /// change was being applied may predate it, so it is kept only if this did not move.
    applied: AtomicI64,
    /// Filled from the database and never reset since: a miss outside `unsettled` is final.
    complete: AtomicBool,
}

impl Default for LicenseIndex {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            applied: AtomicI64::new(0),
            complete: AtomicBool::new(false),
        }
    }
}

impl LicenseIndex {
    fn shard(&self, hash: &KeyHash) -> &RwLock<Shard> {
        // Bytes the map's hash does not use, so shards and buckets spread independently.
        &self.shards[usize::from(hash.0[31]) % SHARDS]
    }

    /// The license of `hash`, counting a heartbeat in `minute` (any clock's minute number):
    /// with it, how many the key has sent in that minute.
    pub fn lookup(&self, hash: &KeyHash, minute: u32) -> Lookup {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = shard.licenses.get(hash) {
            return Lookup::Found(entry.license(), entry.count(minute));
        }
        if self.complete.load(Ordering::SeqCst) && !shard.unsettled.contains(hash) {
            Lookup::Absent
        } else {
            Lookup::Unknown
        }
    }

    /// The license of `hash` if the index holds it (tests and callers that only want hits).
    pub fn get(&self, hash: &KeyHash, minute: u32) -> Option<(IndexedLicense, u32)> {
        match self.lookup(hash, minute) {
            Lookup::Found(license, count) => Some((license, count)),
            Lookup::Absent | Lookup::Unknown => None,
        }
    }

    /// Declares the index complete: called once every license has been loaded after the
    /// revision the fill started from.
    pub fn mark_complete(&self) {
        self.complete.store(true, Ordering::SeqCst);
    }

    pub fn is_complete(&self) -> bool {
        self.complete.load(Ordering::SeqCst)
    }

    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::SeqCst)
    }

    /// Keeps `license`, read from the database when the applied revision was `seen`, unless a
    /// change has been applied since: the row might predate it.
    /// `first_heartbeat`: the minute of the heartbeat that read the row, counted for it.
    pub fn insert_if_current(
        &self,
        hash: KeyHash,
        license: IndexedLicense,
        seen: i64,
        first_heartbeat: Option<u32>,
    ) -> bool {
        let mut shard = self.shard(&hash).write().unwrap_or_else(|p| p.into_inner());
        // Checked under the shard lock: `apply` moves the revision before it takes any shard
        // lock to remove, so either this insert sees the move or the removal sees the entry.
        if self.applied() != seen {
            return false;
        }
        shard.unsettled.remove(&hash);
        shard
            .licenses
            .insert(hash, Entry::new(license, first_heartbeat));
        true
    }

    /// Records that the database, read when the applied revision was `seen`, has no license
    /// with `hash`, unless a change has been applied since.
    pub fn settle_absent(&self, hash: KeyHash, seen: i64) {
        let mut shard = self.shard(&hash).write().unwrap_or_else(|p| p.into_inner());
        if self.applied() == seen {
            shard.unsettled.remove(&hash);
        }
    }

    /// Drops the keys the changes name, which must follow the applied revision, and leaves
    /// them unsettled until the database is read for them.
    pub fn apply(&self, changes: &[LicenseChange]) {
        let Some(last) = changes.last() else {
            return;
        };
        self.applied.store(last.rev, Ordering::SeqCst);
        for change in changes {
            if let Ok(bytes) = <[u8; 32]>::try_from(change.key_hash.as_slice()) {
                let hash = KeyHash(bytes);
                let mut shard = self.shard(&hash).write().unwrap_or_else(|p| p.into_inner());
                shard.licenses.remove(&hash);
                shard.unsettled.insert(hash);
            }
        }
    }

    /// Forgets everything; used when the change log no longer reaches back to `applied`.
    pub fn reset(&self, rev: i64) {
        self.complete.store(false, Ordering::SeqCst);
        self.applied.store(rev, Ordering::SeqCst);
        for shard in &self.shards {
            let mut shard = shard.write().unwrap_or_else(|p| p.into_inner());
            shard.licenses.clear();
            shard.unsettled.clear();
            shard.retired.clear();
        }
    }

    /// Makes room for `licenses` entries in all, so filling does not rehash.
    pub fn reserve(&self, licenses: usize) {
        for shard in &self.shards {
            shard
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .licenses
                .reserve(licenses / SHARDS + 1);
        }
    }

    /// Remembers that `hash` was `server_id`'s key before a regenerate.
    pub fn retire(&self, hash: KeyHash, server_id: i64) {
        let mut shard = self.shard(&hash).write().unwrap_or_else(|p| p.into_inner());
        shard.retired.entry(hash).or_insert(Retired {
            server_id,
            reported: AtomicU32::new(0),
        });
    }

    /// The server whose retired key `hash` is, when its use in `minute` is to be reported
    /// (at most once per [`OLD_KEY_REPORT_EVERY_MINUTES`] per node).
    pub fn report_old_key(&self, hash: &KeyHash, minute: u32) -> Option<i64> {
        let shard = self.shard(hash).read().unwrap_or_else(|p| p.into_inner());
        let retired = shard.retired.get(hash)?;
        // 0 means never, so the one minute that would wrap to it shares the next one.
        let now = minute.wrapping_add(1).max(1);
        retired
            .reported
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                (last == 0 || now.wrapping_sub(last) >= OLD_KEY_REPORT_EVERY_MINUTES).then_some(now)
            })
            .ok()
            .map(|_| retired.server_id)
    }

    /// Counts the licenses by their effective status at `now`; `None` while the index is
    /// incomplete (then only the database can count).
    pub fn census(&self, now: OffsetDateTime) -> Option<Census> {
        if !self.is_complete() {
            return None;
        }
        let now_micros = (now.unix_timestamp_nanos() / 1000) as i64;
        let mut census = Census::default();
        for shard in &self.shards {
            let shard = shard.read().unwrap_or_else(|p| p.into_inner());
            for entry in shard.licenses.values() {
                match entry.status {
                    LicenseStatus::Active => census.active += 1,
                    // As `license::effective_status`: a window that has passed, or none, is
                    // EXPIRED.
                    LicenseStatus::Grace if entry.grace_expires_micros > now_micros => {
                        census.grace += 1
                    }
                    LicenseStatus::Grace | LicenseStatus::Expired => census.expired += 1,
                }
            }
            census.unsettled.extend(shard.unsettled.iter().copied());
        }
        Some(census)
    }

    pub fn licenses(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .licenses
                    .len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn license(server_id: i64) -> IndexedLicense {
        IndexedLicense {
            server_id,
            status: LicenseStatus::Active,
            grace_expires_at: None,
        }
    }

    fn change(rev: i64, server_id: i64, hash: &KeyHash) -> LicenseChange {
        LicenseChange {
            rev,
            server_id,
            key_hash: hash.0.to_vec(),
        }
    }

    #[test]
    fn a_change_drops_exactly_the_key_it_names() {
        let index = LicenseIndex::default();
        let (a, b) = (KeyHash([1; 32]), KeyHash([2; 32]));
        assert!(index.insert_if_current(a, license(1), 0, Some(0)));
        assert!(index.insert_if_current(b, license(2), 0, Some(0)));
        index.apply(&[change(1, 1, &a)]);
        assert_eq!(index.get(&a, 0), None);
        assert_eq!(index.get(&b, 0), Some((license(2), 2)));
        assert_eq!(index.applied(), 1);
    }

    #[test]
    fn a_row_read_before_a_change_was_applied_is_not_kept() {
        let index = LicenseIndex::default();
        let a = KeyHash([1; 32]);
        let seen = index.applied();
        index.apply(&[change(1, 1, &a)]);
        assert!(!index.insert_if_current(a, license(1), seen, None));
        assert_eq!(index.get(&a, 0), None);
        assert!(index.insert_if_current(a, license(1), index.applied(), None));
    }

    #[test]
    fn heartbeats_are_counted_per_key_and_minute() {
        let index = LicenseIndex::default();
        let (a, b) = (KeyHash([1; 32]), KeyHash([2; 32]));
        assert!(index.insert_if_current(a, license(1), 0, Some(7)));
        assert!(index.insert_if_current(b, license(2), 0, Some(7)));
        assert_eq!(index.get(&a, 7), Some((license(1), 2)));
        assert_eq!(index.get(&a, 7), Some((license(1), 3)));
        assert_eq!(index.get(&b, 7), Some((license(2), 2)));
        // A new minute starts over.
        assert_eq!(index.get(&a, 8), Some((license(1), 1)));
        assert_eq!(index.get(&a, 8), Some((license(1), 2)));
    }

    #[test]
    fn the_count_saturates_instead_of_changing_minute() {
        let entry = Entry::new(license(1), Some(3));
        entry.recent.store(3 << 16 | 0xFFFE, Ordering::Relaxed);
        assert_eq!(entry.count(3), 0xFFFF);
        assert_eq!(entry.count(3), 0xFFFF);
        assert_eq!(entry.count(4), 1);
    }

    #[test]
    fn an_entry_gives_back_exactly_what_went_in() {
        let at = time::macros::datetime!(2026-11-30 12:34:56.789012);
        let graced = IndexedLicense {
            server_id: i64::MAX,
            status: LicenseStatus::Grace,
            grace_expires_at: Some(at),
        };
        assert_eq!(Entry::new(graced, None).license(), graced);
        assert_eq!(Entry::new(license(7), None).license(), license(7));
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[test]
    fn a_complete_index_refuses_unknown_keys_and_asks_about_changed_ones() {
        let index = LicenseIndex::default();
        let (a, stranger, new_key) = (KeyHash([1; 32]), KeyHash([9; 32]), KeyHash([5; 32]));
        assert!(index.insert_if_current(a, license(1), 0, None));
        // Before it is complete, a miss is for the database to answer.
        assert_eq!(index.lookup(&stranger, 0), Lookup::Unknown);
        index.mark_complete();
        assert_eq!(index.lookup(&stranger, 0), Lookup::Absent);
        // A regenerate names the old key and the new one: both go to the database once.
        index.apply(&[change(1, 1, &a), change(2, 1, &new_key)]);
        assert_eq!(index.lookup(&a, 0), Lookup::Unknown);
        assert_eq!(index.lookup(&new_key, 0), Lookup::Unknown);
        assert!(index.insert_if_current(new_key, license(1), 2, Some(0)));
        index.settle_absent(a, 2);
        assert_eq!(index.lookup(&a, 0), Lookup::Absent);
        assert!(matches!(index.lookup(&new_key, 0), Lookup::Found(..)));
        // An absence read before a later change is not believed.
        index.apply(&[change(3, 1, &a)]);
        index.settle_absent(a, 2);
        assert_eq!(index.lookup(&a, 0), Lookup::Unknown);
        // A reset makes every miss a question for the database again.
        index.reset(4);
        assert!(!index.is_complete());
        assert_eq!(index.lookup(&stranger, 0), Lookup::Unknown);
    }

    #[test]
    fn an_old_key_is_reported_once_an_hour() {
        let index = LicenseIndex::default();
        let (old, stranger) = (KeyHash([3; 32]), KeyHash([4; 32]));
        index.retire(old, 9);
        assert_eq!(index.report_old_key(&stranger, 100), None);
        assert_eq!(index.report_old_key(&old, 100), Some(9));
        assert_eq!(index.report_old_key(&old, 100), None);
        assert_eq!(index.report_old_key(&old, 159), None);
        assert_eq!(index.report_old_key(&old, 160), Some(9));
        // Minute 0 (and the clock's wrap) is a minute like any other.
        let other = KeyHash([5; 32]);
        index.retire(other, 10);
        assert_eq!(index.report_old_key(&other, u32::MAX), Some(10));
        assert_eq!(index.report_old_key(&other, 0), None);
    }

    #[test]
    fn the_census_counts_effective_statuses_and_leaves_changed_keys_to_the_database() {
        let now = time::macros::datetime!(2026-12-03 12:00 UTC);
        let index = LicenseIndex::default();
        assert_eq!(index.census(now), None);
        let graced = |id, at| IndexedLicense {
            server_id: id,
            status: LicenseStatus::Grace,
            grace_expires_at: Some(at),
        };
        let (a, b, c, d, e) = (
            KeyHash([1; 32]),
            KeyHash([2; 32]),
            KeyHash([3; 32]),
            KeyHash([4; 32]),
            KeyHash([5; 32]),
        );
        assert!(index.insert_if_current(a, license(1), 0, None));
        assert!(index.insert_if_current(
            b,
            graced(2, time::macros::datetime!(2026-12-04 12:00)),
            0,
            None
        ));
        // A window that ended, and a GRACE with no end at all, are EXPIRED.
        assert!(index.insert_if_current(
            c,
            graced(3, time::macros::datetime!(2026-12-03 12:00)),
            0,
            None
        ));
        let endless = IndexedLicense {
            grace_expires_at: None,
            ..graced(4, time::macros::datetime!(2026-12-04 12:00))
        };
        assert!(index.insert_if_current(d, endless, 0, None));
        assert!(index.insert_if_current(e, license(5), 0, None));
        index.mark_complete();
        index.apply(&[change(1, 5, &e)]);
        let census = index.census(now).unwrap();
        assert_eq!((census.active, census.grace, census.expired), (1, 1, 2));
        assert!(census.unsettled == vec![e]);
    }

    #[test]
    fn reset_forgets_everything() {
        let index = LicenseIndex::default();
        index.reserve(1000);
        for n in 0..=255u8 {
            let mut bytes = [n; 32];
            bytes[0] = n.wrapping_mul(7);
            assert!(index.insert_if_current(KeyHash(bytes), license(i64::from(n)), 0, None));
        }
        assert_eq!(index.licenses(), 256);
        index.reset(9);
        assert_eq!(index.licenses(), 0);
        assert_eq!(index.applied(), 9);
    }
}
