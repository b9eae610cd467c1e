//! The leader epoch cache (KIP-101, KIP-279, KIP-320): for each leader
//! epoch that wrote to the log, the offset of its first record.
//!
//! A follower that meets a new leader asks it where the follower's latest
//! epoch ended (OffsetsForLeaderEpoch, or the diverging epoch of a Fetch
//! response) and truncates there, instead of truncating to its high
//! watermark. The leader answers from this cache. The semantics are those
//! of Kafka's `LeaderEpochFileCache`; the file is Kafka's
//! `leader-epoch-checkpoint`, in the partition directory:
//!
//! ```text
//! 0                      version
//! 3                      number of entries
//! 0 0                    <epoch> <start offset>, epochs increasing
//! 3 120
//! 5 480
//! ```
//!
//! [`LeaderEpochCache`] is the in-memory part, no I/O.
//! [`LeaderEpochFileCache`] (crate-internal) pairs it with the file and
//! decides when the file is written and when memory changes; see its docs
//! for the locking.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use crate::checkpoint::{self, write_atomic};
use crate::error::{Error, Result};
use crate::fdcache::lock;

/// File name of the leader epoch checkpoint in a partition directory.
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// Kafka's `UNDEFINED_EPOCH`: no epoch is known.
pub const UNDEFINED_EPOCH: i32 = -1;
/// Kafka's `UNDEFINED_EPOCH_OFFSET`: no end offset is known.
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

/// The epochs of a log and where each began, in memory.
///
/// Invariant: entries are ordered with both the epochs and the start
/// offsets strictly increasing, every value non-negative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// An empty cache.
    pub fn new() -> LeaderEpochCache {
        LeaderEpochCache::default()
    }

    /// A cache holding `entries` as they are, if they keep the invariant
    /// (what a checkpoint file must hold); `None` otherwise.
    pub fn from_entries(entries: Vec<(i32, i64)>) -> Option<LeaderEpochCache> {
        let ordered = entries
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1);
        let non_negative = entries.iter().all(|&(e, s)| e >= 0 && s >= 0);
        (ordered && non_negative).then_some(LeaderEpochCache { entries })
    }

    /// `(epoch, start offset)` pairs, oldest first.
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The latest entry.
    pub fn latest_entry(&self) -> Option<(i32, i64)> {
        self.entries.last().copied()
    }

    /// The earliest entry.
    pub fn earliest_entry(&self) -> Option<(i32, i64)> {
        self.entries.first().copied()
    }

    /// The latest epoch that wrote to the log.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|&(e, _)| e)
    }

    /// Kafka's `isUpdateNeeded`: a different epoch than the latest one, or
    /// the latest epoch starting earlier than recorded.
    fn update_needed(&self, epoch: i32, start_offset: i64) -> bool {
        self.latest_entry()
            .is_none_or(|(e, s)| epoch != e || start_offset < s)
    }

    /// Records that `epoch` begins at `start_offset`. Returns whether the
    /// cache changed.
    ///
    /// As Kafka: nothing happens when `epoch` is the latest epoch and
    /// `start_offset` is not below its start. Otherwise every entry at the
    /// end whose epoch is >= `epoch` or whose start is >= `start_offset`
    /// is removed (they would break the ordering), with a warning when
    /// that removes more than an entry for the same start offset, and the
    /// new entry becomes the latest.
    ///
    /// A negative epoch or offset is refused (returns `false`, logs a
    /// warning); Kafka throws there. The log never passes one.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || start_offset < 0 {
            tracing::warn!(
                epoch,
                start_offset,
                "ignoring an invalid leader epoch entry"
            );
            return false;
        }
        if !self.update_needed(epoch, start_offset) {
            return false;
        }
        let keep = self
            .entries
            .iter()
            .rposition(|&(e, s)| e < epoch && s < start_offset)
            .map_or(0, |i| i + 1);
        let removed = self.entries.split_off(keep);
        // Removing one entry that starts where the new one does is the
        // ordinary case of an epoch that never wrote anything; anything
        // more discards history.
        if removed.len() > 1 || removed.first().is_some_and(|&(_, s)| s != start_offset) {
            tracing::warn!(
                epoch,
                start_offset,
                ?removed,
                remaining = self.entries.len(),
                "new leader epoch entry truncated conflicting entries"
            );
        }
        self.entries.push((epoch, start_offset));
        true
    }

    /// Kafka's `endOffsetFor`: `(epoch, end offset)` for a requested epoch,
    /// where the end offset of an epoch is the start of the next higher
    /// epoch, and the epoch returned is the largest one <= the requested.
    ///
    /// * requested [`UNDEFINED_EPOCH`], or no epoch above the requested
    ///   one and it is not the latest (including an empty cache):
    ///   `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`;
    /// * requested == latest epoch: `(latest, log_end_offset)`;
    /// * requested below every epoch: `(requested, start of the first
    ///   epoch)` (the data before it is gone; the follower replicates from
    ///   there);
    /// * otherwise `(largest epoch <= requested, start of the next higher
    ///   epoch)`.
    pub fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> (i32, i64) {
        if requested_epoch == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if self.latest_epoch() == Some(requested_epoch) {
            return (requested_epoch, log_end_offset);
        }
        // First entry with a higher epoch.
        let higher = self.entries.partition_point(|&(e, _)| e <= requested_epoch);
        let Some(&(_, next_start)) = self.entries.get(higher) else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match higher.checked_sub(1).map(|i| self.entries[i]) {
            None => (requested_epoch, next_start),
            Some((floor_epoch, _)) => (floor_epoch, next_start),
        }
    }

    /// Removes every entry starting at or after `end_offset` (the log was
    /// truncated to it). Returns whether anything was removed. A negative
    /// `end_offset` does nothing, as in Kafka.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        if end_offset < 0 {
            return false;
        }
        let keep = self.entries.partition_point(|&(_, s)| s < end_offset);
        let removed = self.entries.len() - keep;
        self.entries.truncate(keep);
        removed > 0
    }

    /// The log now starts at `start_offset`: entries starting at or below
    /// it are removed and the last of them is put back starting at
    /// `start_offset` (its epoch still holds the first record). Entries
    /// above it stay. Returns whether anything was removed (even if put
    /// back unchanged), as Kafka.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let removed = self.entries.partition_point(|&(_, s)| s <= start_offset);
        if removed == 0 {
            return false;
        }
        let epoch = self.entries[removed - 1].0;
        self.entries.drain(..removed - 1);
        self.entries[0] = (epoch, start_offset);
        true
    }

    /// Kafka's `epochForOffset`: the epoch of the entry starting exactly at
    /// `offset`, else of the last entry starting before it.
    pub fn epoch_for_offset(&self, offset: i64) -> Option<i32> {
        let i = self.entries.partition_point(|&(_, s)| s <= offset);
        i.checked_sub(1).map(|i| self.entries[i].0)
    }

    /// Removes every entry. Returns whether there was any.
    pub fn clear(&mut self) -> bool {
        let had = !self.entries.is_empty();
        self.entries.clear();
        had
    }
}

/// Renders the checkpoint file.
fn render(entries: &[(i32, i64)]) -> String {
    let mut s = format!("0\n{}\n", entries.len());
    for (epoch, start) in entries {
        s.push_str(&format!("{epoch} {start}\n"));
    }
    s
}

/// Writes a `leader-epoch-checkpoint` file atomically (temp file, fsync,
/// rename, fsync of the directory).
pub fn write_leader_epoch_checkpoint(path: &Path, entries: &[(i32, i64)]) -> Result<()> {
    write_atomic(path, render(entries).as_bytes())
}

/// Reads a `leader-epoch-checkpoint` file. `Ok(None)` when it does not
/// exist; [`Error::Corrupt`] when it is not exactly Kafka's version-0
/// format with increasing epochs and start offsets.
pub fn read_leader_epoch_checkpoint(path: &Path) -> Result<Option<LeaderEpochCache>> {
    let Some(text) = checkpoint::read_optional(path)? else {
        return Ok(None);
    };
    let bad = |why: String| Error::corrupt(path, why);
    let mut lines = text.lines();
    match lines.next() {
        Some("0") => {}
        Some(v) => return Err(bad(format!("unsupported version {v:?}"))),
        None => return Err(bad("empty file".into())),
    }
    let count: usize = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| bad("bad entry count".into()))?;
    let mut entries = Vec::with_capacity(count.min(1024));
    for line in lines.by_ref().take(count) {
        let mut parts = line.split_whitespace();
        let (Some(epoch), Some(start), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad(format!("bad entry {line:?}")));
        };
        let epoch: i32 = epoch
            .parse()
            .map_err(|_| bad(format!("bad epoch in {line:?}")))?;
        let start: i64 = start
            .parse()
            .map_err(|_| bad(format!("bad start offset in {line:?}")))?;
        entries.push((epoch, start));
    }
    if entries.len() != count {
        return Err(bad(format!(
            "expected {count} entries, found {}",
            entries.len()
        )));
    }
    if lines.any(|l| !l.trim().is_empty()) {
        return Err(bad("entries after the declared count".into()));
    }
    LeaderEpochCache::from_entries(entries)
        .map(Some)
        .ok_or_else(|| bad("entries are not increasing or are negative".into()))
}

/// What [`LeaderEpochFileCache::load`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// The file was read.
    File,
    /// There was no file.
    Missing,
    /// The file could not be used (logged); the cache starts empty.
    Corrupt,
}

/// The cache of one log together with its checkpoint file.
///
/// # Locking
///
/// Two locks, never held by readers and the file I/O at once:
///
/// * `state` (an `RwLock`) guards the entries in memory. Readers
///   (OffsetsForLeaderEpoch, Fetch's diverging-epoch check) take it to
///   copy or look up a few entries; it is never held across I/O.
/// * `io` (a mutex) serialises the changes: a change computes the new
///   entries, writes the file and installs them in memory while holding
///   it, so two changes can never write their files in the opposite order
///   of their memory updates. Readers never take it.
///
/// In the log every change already happens under the log's writer lock
/// (so `io` is never contended there); the fsync of this small file under
/// the writer lock is accepted because epoch changes are rare: a new
/// leader's first append, a truncation, the log start moving.
#[derive(Debug)]
pub(crate) struct LeaderEpochFileCache {
    path: PathBuf,
    state: RwLock<LeaderEpochCache>,
    io: Mutex<()>,
}

/// When memory changes relative to the file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Only after the file holds the change: the entry must be on disk
    /// before any record of its epoch is (an assignment).
    FileFirst,
    /// At once, even if writing the file fails: the log already changed,
    /// and a file that still has entries past the log end or below its
    /// start is trimmed at the next open (a truncation).
    MemoryFirst,
}

impl LeaderEpochFileCache {
    /// Reads `dir/leader-epoch-checkpoint`. A missing file gives an empty
    /// cache; an unreadable or corrupt one is logged and gives an empty
    /// cache too (the log rebuilds it from its batches).
    pub(crate) fn load(dir: &Path, log: &dyn std::fmt::Display) -> (LeaderEpochFileCache, Loaded) {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let (cache, loaded) = match read_leader_epoch_checkpoint(&path) {
            Ok(Some(c)) => (c, Loaded::File),
            Ok(None) => (LeaderEpochCache::new(), Loaded::Missing),
            Err(e) => {
                tracing::warn!(log = %log, error = %e,
                    "ignoring unreadable leader epoch checkpoint; rebuilding it from the log");
                (LeaderEpochCache::new(), Loaded::Corrupt)
            }
        };
        (
            LeaderEpochFileCache {
                path,
                state: RwLock::new(cache),
                io: Mutex::new(()),
            },
            loaded,
        )
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, LeaderEpochCache> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the entries.
    pub(crate) fn entries(&self) -> Vec<(i32, i64)> {
        self.read().entries().to_vec()
    }

    /// A copy of the cache.
    pub(crate) fn snapshot(&self) -> LeaderEpochCache {
        self.read().clone()
    }

    /// The latest epoch.
    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.read().latest_epoch()
    }

    /// See [`LeaderEpochCache::end_offset_for`].
    pub(crate) fn end_offset_for(&self, requested_epoch: i32, log_end_offset: i64) -> (i32, i64) {
        self.read().end_offset_for(requested_epoch, log_end_offset)
    }

    /// Applies `change` to a copy of the entries; if it changed them,
    /// writes the file and installs the copy (see [`Durability`]).
    /// Returns whether the entries changed.
    fn update(
        &self,
        durability: Durability,
        change: impl FnOnce(&mut LeaderEpochCache) -> bool,
    ) -> Result<bool> {
        let _io = lock(&self.io);
        let mut next = self.snapshot();
        if !change(&mut next) || next == *self.read() {
            return Ok(false);
        }
        let entries = next.entries().to_vec();
        if durability == Durability::MemoryFirst {
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = next;
            write_leader_epoch_checkpoint(&self.path, &entries)?;
        } else {
            write_leader_epoch_checkpoint(&self.path, &entries)?;
            *self.state.write().unwrap_or_else(|e| e.into_inner()) = next;
        }
        Ok(true)
    }

    /// Assigns each `(epoch, start offset)` in turn (see
    /// [`LeaderEpochCache::assign`]) and writes the file once. Memory
    /// changes only once the file is written.
    pub(crate) fn assign_all(&self, entries: &[(i32, i64)]) -> Result<bool> {
        self.update(Durability::FileFirst, |c| {
            entries
                .iter()
                .fold(false, |changed, &(e, s)| c.assign(e, s) | changed)
        })
    }

    /// See [`LeaderEpochCache::truncate_from_end`]; persisted.
    pub(crate) fn truncate_from_end(&self, end_offset: i64) -> Result<bool> {
        self.update(Durability::MemoryFirst, |c| c.truncate_from_end(end_offset))
    }

    /// See [`LeaderEpochCache::truncate_from_start`]; persisted.
    pub(crate) fn truncate_from_start(&self, start_offset: i64) -> Result<bool> {
        self.update(Durability::MemoryFirst, |c| {
            c.truncate_from_start(start_offset)
        })
    }

    /// Removes every entry; persisted.
    pub(crate) fn clear(&self) -> Result<bool> {
        self.update(Durability::MemoryFirst, LeaderEpochCache::clear)
    }

    /// Replaces the entries in memory without writing the file (the log
    /// uses it while it opens, then calls [`flush`](Self::flush)).
    pub(crate) fn replace(&self, cache: LeaderEpochCache) {
        let _io = lock(&self.io);
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = cache;
    }

    /// Writes the file with the entries in memory.
    pub(crate) fn flush(&self) -> Result<()> {
        let _io = lock(&self.io);
        let entries = self.entries();
        write_leader_epoch_checkpoint(&self.path, &entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        LeaderEpochCache::from_entries(entries.to_vec()).expect("valid entries")
    }

    #[test]
    fn end_offset_for_gives_kafkas_answers() {
        let leo = 100;
        let three = cache(&[(2, 10), (4, 20), (7, 50)]);
        let cases: &[(&str, &LeaderEpochCache, i32, (i32, i64))] = &[
            ("empty cache", &LeaderEpochCache::new(), 0, (-1, -1)),
            (
                "empty cache, undefined",
                &LeaderEpochCache::new(),
                -1,
                (-1, -1),
            ),
            ("undefined epoch", &three, UNDEFINED_EPOCH, (-1, -1)),
            ("latest epoch gets the log end", &three, 7, (7, leo)),
            (
                "first epoch ends where the second starts",
                &three,
                2,
                (2, 20),
            ),
            ("middle epoch", &three, 4, (4, 50)),
            ("gap between 2 and 4 -> epoch 2", &three, 3, (2, 20)),
            ("gap between 4 and 7 -> epoch 4", &three, 5, (4, 50)),
            ("gap between 4 and 7 -> epoch 4 (6)", &three, 6, (4, 50)),
            ("below every epoch", &three, 1, (1, 10)),
            ("epoch 0 below every epoch", &three, 0, (0, 10)),
            (
                "other negative epochs are not undefined",
                &three,
                -2,
                (-2, 10),
            ),
            ("above the latest", &three, 8, (-1, -1)),
            ("far above the latest", &three, i32::MAX, (-1, -1)),
            ("single entry, its epoch", &cache(&[(5, 0)]), 5, (5, leo)),
            ("single entry, below it", &cache(&[(5, 7)]), 4, (4, 7)),
            ("single entry, above it", &cache(&[(5, 7)]), 6, (-1, -1)),
        ];
        for (name, c, requested, expected) in cases {
            assert_eq!(c.end_offset_for(*requested, leo), *expected, "{name}");
        }
    }

    #[test]
    fn assign_adds_only_new_epochs() {
        let mut c = LeaderEpochCache::new();
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 0), "same epoch, same offset");
        assert!(!c.assign(0, 5), "same epoch, later offset");
        assert!(c.assign(3, 10));
        assert!(c.assign(5, 20));
        assert_eq!(c.entries(), &[(0, 0), (3, 10), (5, 20)]);
        assert_eq!(c.latest_epoch(), Some(5));
        assert_eq!(c.latest_entry(), Some((5, 20)));
        assert_eq!(c.earliest_entry(), Some((0, 0)));
        // Negative values are refused.
        assert!(!c.assign(-1, 30));
        assert!(!c.assign(6, -1));
        assert_eq!(c.entries(), &[(0, 0), (3, 10), (5, 20)]);
    }

    #[test]
    fn assign_resolves_conflicts_as_kafka() {
        // The latest epoch starting earlier than recorded moves it down
        // (Kafka's isUpdateNeeded: startOffset < latest start).
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(c.assign(5, 15));
        assert_eq!(c.entries(), &[(0, 0), (3, 10), (5, 15)]);

        // A new epoch at the start offset of the latest one replaces it
        // (that epoch wrote nothing).
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(c.assign(6, 20));
        assert_eq!(c.entries(), &[(0, 0), (3, 10), (6, 20)]);

        // A new epoch starting below existing entries removes every entry
        // starting at or after it.
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(c.assign(7, 5));
        assert_eq!(c.entries(), &[(0, 0), (7, 5)]);

        // A lower epoch removes every entry with an epoch >= it, even
        // those that start before it.
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(c.assign(4, 30));
        assert_eq!(c.entries(), &[(0, 0), (3, 10), (4, 30)]);
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(c.assign(2, 12));
        assert_eq!(c.entries(), &[(0, 0), (2, 12)]);

        // Both at once, down to nothing.
        let mut c = cache(&[(2, 10), (3, 20)]);
        assert!(c.assign(1, 5));
        assert_eq!(c.entries(), &[(1, 5)]);

        // An existing middle epoch at a later offset is not the latest,
        // so it is an update: everything from it on is replaced.
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(c.assign(3, 25));
        assert_eq!(c.entries(), &[(0, 0), (3, 25)]);
    }

    #[test]
    fn truncate_from_end_drops_entries_at_or_after() {
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(!c.truncate_from_end(21), "nothing starts at or after 21");
        assert!(!c.truncate_from_end(-1), "negative: no-op");
        assert!(c.truncate_from_end(20));
        assert_eq!(c.entries(), &[(0, 0), (3, 10)]);
        assert!(c.truncate_from_end(5));
        assert_eq!(c.entries(), &[(0, 0)]);
        assert!(c.truncate_from_end(0));
        assert!(c.is_empty());
        assert!(!c.truncate_from_end(0));
    }

    #[test]
    fn truncate_from_start_moves_the_first_kept_entry() {
        let mut c = cache(&[(0, 0), (3, 10), (5, 20)]);
        assert!(c.truncate_from_start(15));
        assert_eq!(c.entries(), &[(3, 15), (5, 20)]);
        // Exactly at an entry's start: it stays as it is.
        assert!(c.truncate_from_start(20));
        assert_eq!(c.entries(), &[(5, 20)]);
        // Below the first entry: nothing changes.
        let mut c = cache(&[(3, 10), (5, 20)]);
        assert!(!c.truncate_from_start(9));
        assert_eq!(c.entries(), &[(3, 10), (5, 20)]);
        // Past every entry: the latest epoch starts at the new start.
        assert!(c.truncate_from_start(100));
        assert_eq!(c.entries(), &[(5, 100)]);
        let mut e = LeaderEpochCache::new();
        assert!(!e.truncate_from_start(10));
    }

    #[test]
    fn epoch_for_offset_finds_the_covering_epoch() {
        let c = cache(&[(1, 5), (3, 10), (5, 20)]);
        assert_eq!(c.epoch_for_offset(4), None);
        assert_eq!(c.epoch_for_offset(5), Some(1));
        assert_eq!(c.epoch_for_offset(9), Some(1));
        assert_eq!(c.epoch_for_offset(10), Some(3));
        assert_eq!(c.epoch_for_offset(1000), Some(5));
    }

    #[test]
    fn from_entries_checks_the_ordering() {
        assert!(LeaderEpochCache::from_entries(vec![]).is_some());
        assert!(LeaderEpochCache::from_entries(vec![(0, 0), (1, 1)]).is_some());
        assert!(LeaderEpochCache::from_entries(vec![(1, 0), (1, 1)]).is_none());
        assert!(LeaderEpochCache::from_entries(vec![(0, 5), (1, 5)]).is_none());
        assert!(LeaderEpochCache::from_entries(vec![(2, 0), (1, 1)]).is_none());
        assert!(LeaderEpochCache::from_entries(vec![(-1, 0)]).is_none());
        assert!(LeaderEpochCache::from_entries(vec![(0, -1)]).is_none());
    }

    #[test]
    fn file_format_is_kafkas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT);
        assert_eq!(read_leader_epoch_checkpoint(&path).unwrap(), None);
        write_leader_epoch_checkpoint(&path, &[(0, 0), (3, 120), (5, 480)]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "0\n3\n0 0\n3 120\n5 480\n"
        );
        let c = read_leader_epoch_checkpoint(&path).unwrap().unwrap();
        assert_eq!(c.entries(), &[(0, 0), (3, 120), (5, 480)]);
        write_leader_epoch_checkpoint(&path, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "0\n0\n");
        assert!(read_leader_epoch_checkpoint(&path)
            .unwrap()
            .unwrap()
            .is_empty());
        // Kafka's reader splits on any whitespace.
        std::fs::write(&path, "0\n1\n4\t  9\n").unwrap();
        let c = read_leader_epoch_checkpoint(&path).unwrap().unwrap();
        assert_eq!(c.entries(), &[(4, 9)]);
    }

    #[test]
    fn corrupt_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT);
        for bad in [
            "",
            "1\n0\n",
            "0\n",
            "0\nx\n",
            "0\n2\n0 0\n",
            "0\n1\n0 0\n1 1\n",
            "0\n1\n0\n",
            "0\n1\n0 0 0\n",
            "0\n1\na 0\n",
            "0\n1\n0 b\n",
            "0\n2\n3 10\n2 20\n",
            "0\n2\n2 10\n3 10\n",
            "0\n1\n-1 0\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(
                matches!(
                    read_leader_epoch_checkpoint(&path),
                    Err(Error::Corrupt { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn file_cache_persists_each_change_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LEADER_EPOCH_CHECKPOINT);
        let (fc, loaded) = LeaderEpochFileCache::load(dir.path(), &"t-0");
        assert_eq!(loaded, Loaded::Missing);
        assert!(fc.entries().is_empty());
        assert!(!path.exists(), "loading writes nothing");

        let reload = || {
            let (fc, loaded) = LeaderEpochFileCache::load(dir.path(), &"t-0");
            assert_eq!(loaded, Loaded::File);
            fc.entries()
        };
        assert!(fc.assign_all(&[(0, 0)]).unwrap());
        assert_eq!(reload(), vec![(0, 0)]);
        assert!(fc.assign_all(&[(2, 10), (4, 30)]).unwrap());
        assert_eq!(reload(), vec![(0, 0), (2, 10), (4, 30)]);
        assert!(!fc.assign_all(&[(4, 40)]).unwrap(), "same epoch: no change");
        assert!(fc.truncate_from_end(30).unwrap());
        assert_eq!(reload(), vec![(0, 0), (2, 10)]);
        assert!(fc.truncate_from_start(12).unwrap());
        assert_eq!(reload(), vec![(2, 12)]);
        // Truncating at the first entry's own start changes nothing and
        // writes nothing.
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        assert!(!fc.truncate_from_start(12).unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        assert_eq!(fc.latest_epoch(), Some(2));
        assert_eq!(fc.end_offset_for(1, 50), (1, 12));
        assert_eq!(fc.end_offset_for(2, 50), (2, 50));
        assert!(fc.clear().unwrap());
        assert_eq!(reload(), vec![]);
        assert!(!fc.clear().unwrap());
        // No temp file left behind.
        assert!(!dir
            .path()
            .join(format!(
                "{LEADER_EPOCH_CHECKPOINT}{}",
                checkpoint::TMP_SUFFIX
            ))
            .exists());
    }

    #[test]
    fn file_cache_loads_a_corrupt_file_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), "0\n5\n1 1\n").unwrap();
        let (fc, loaded) = LeaderEpochFileCache::load(dir.path(), &"t-0");
        assert_eq!(loaded, Loaded::Corrupt);
        assert!(fc.entries().is_empty());
    }

    #[test]
    fn a_failed_assignment_leaves_memory_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("gone");
        std::fs::create_dir(&sub).unwrap();
        let (fc, _) = LeaderEpochFileCache::load(&sub, &"t-0");
        fc.assign_all(&[(1, 0)]).unwrap();
        std::fs::remove_dir_all(&sub).unwrap();
        assert!(fc.assign_all(&[(2, 5)]).is_err());
        assert_eq!(fc.entries(), vec![(1, 0)], "not assigned without the file");
        // A truncation applies in memory even when the file cannot be
        // written: the log has changed already.
        assert!(fc.truncate_from_end(0).is_err());
        assert!(fc.entries().is_empty());
    }
}
