//! The producer-state snapshot files of a log (`<offset>.snapshot`, 20
//! digits, in the partition directory, as Kafka names them). A snapshot
//! named `N` holds the producer state that replaying every batch below
//! offset `N` gives; its content is the broker's business (Kafka's
//! `ProducerSnapshot` format) and opaque bytes here. What this module keeps
//! is the files' relation to the log:
//!
//! * a snapshot never covers data that is not durable: the log is flushed
//!   up to its offset before it is written, so an unclean shutdown cannot
//!   leave a snapshot of batches the recovery cut off;
//! * a snapshot never names an offset above the log end, nor one below the
//!   log start: truncation deletes those above the new end, retention and
//!   DeleteRecords those below the new start, opening the log both;
//! * a snapshot whose state was copied before a truncation is never
//!   written after it (the [`SnapshotPoint`] carries the log's truncation
//!   count, checked under the snapshot lock the deletions also take);
//! * only the newest [`PRODUCER_SNAPSHOTS_RETAINED`] are kept.
//!
//! Writes are atomic (temp file, fsync, rename, fsync of the directory); a
//! temp file a crash left is removed when the log is opened.

use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::Log;
use crate::checkpoint;
use crate::error::{Error, Result};
use crate::fdcache::lock;
use crate::segment;

/// Extension of producer-state snapshot files (Kafka's
/// `LogFileUtils.PRODUCER_SNAPSHOT_FILE_SUFFIX`, without the dot).
pub const PRODUCER_SNAPSHOT_SUFFIX: &str = "snapshot";

/// How many snapshots a log keeps (the newest). Kafka keeps one per
/// segment; only the newest is read at a load, the older ones serve a
/// truncation below it, which in practice reaches back a few batches.
/// Without any, loading falls back to the broker's scan of the log tail.
pub const PRODUCER_SNAPSHOTS_RETAINED: usize = 3;

/// Where a producer-state snapshot is taken: the log end offset, and how
/// many truncations the log had seen, at one moment. Read it with
/// [`Log::snapshot_point`] while nothing can append a producer's batch
/// (the broker holds its producer-state lock), copy the state, and pass it
/// to [`Log::write_producer_snapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPoint {
    offset: i64,
    truncations: u64,
}

impl SnapshotPoint {
    /// The snapshot covers every batch below this offset (the log end
    /// offset when the point was read).
    pub fn offset(&self) -> i64 {
        self.offset
    }
}

impl Log {
    /// The current [`SnapshotPoint`].
    pub fn snapshot_point(&self) -> SnapshotPoint {
        // The count first: a truncation bumps it before it moves the end,
        // so an end read after it is never from after a truncation the
        // count does not include.
        let truncations = self.truncations.load(Ordering::Acquire);
        SnapshotPoint {
            offset: self.log_end_offset(),
            truncations,
        }
    }

    /// The base offset of the newest segment rolled since the last call,
    /// if any: the broker takes a producer-state snapshot at each roll, as
    /// Kafka does.
    pub fn take_rolled(&self) -> Option<i64> {
        let base = self.rolled_at.swap(-1, Ordering::AcqRel);
        (base >= 0).then_some(base)
    }

    /// Writes `contents` as the snapshot at `at.offset`, atomically, after
    /// flushing the log up to that offset if it is not yet durable. Returns
    /// false, writing nothing, when the point is stale: the log was
    /// truncated since it was read, or the offset is now outside the log
    /// (retention passed it). Older snapshots beyond the newest
    /// [`PRODUCER_SNAPSHOTS_RETAINED`] are deleted.
    ///
    /// Works on a closed log too (its data is all durable).
    pub fn write_producer_snapshot(
        &self,
        at: SnapshotPoint,
        contents: &[u8],
        now_ms: i64,
    ) -> Result<bool> {
        if self.recovery_point() < at.offset && !self.is_closed() {
            self.flush(now_ms)?;
        }
        let _files = lock(&self.snapshot_files);
        if self.truncations.load(Ordering::Acquire) != at.truncations
            || at.offset > self.log_end_offset()
            || at.offset < self.log_start_offset()
            || self.recovery_point() < at.offset
        {
            return Ok(false);
        }
        checkpoint::write_atomic(&self.producer_snapshot_path(at.offset), contents)?;
        let offsets = self.list_producer_snapshots()?;
        let excess = offsets.len().saturating_sub(PRODUCER_SNAPSHOTS_RETAINED);
        for &offset in &offsets[..excess] {
            self.remove_producer_snapshot(offset)?;
        }
        Ok(true)
    }

    /// The offsets of the snapshot files, ascending.
    pub fn producer_snapshot_offsets(&self) -> Result<Vec<i64>> {
        self.list_producer_snapshots()
    }

    /// The content of the snapshot at `offset`; `None` if it is gone.
    pub fn read_producer_snapshot(&self, offset: i64) -> Result<Option<Vec<u8>>> {
        let path = self.producer_snapshot_path(offset);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                op: "read",
                path,
                source: e,
            }),
        }
    }

    /// Deletes the snapshot at `offset` (one the broker found corrupt).
    pub fn delete_producer_snapshot(&self, offset: i64) -> Result<()> {
        let _files = lock(&self.snapshot_files);
        self.remove_producer_snapshot(offset)
    }

    /// Deletes the snapshots whose offset `doomed` picks. Truncation calls
    /// it under the writer lock (waiting for a snapshot being written is
    /// safe: a writer never waits for the writer lock while it holds the
    /// snapshot lock); retention after releasing it.
    pub(super) fn delete_producer_snapshots_where(
        &self,
        doomed: impl Fn(i64) -> bool,
    ) -> Result<()> {
        let _files = lock(&self.snapshot_files);
        for offset in self.list_producer_snapshots()? {
            if doomed(offset) {
                tracing::debug!(log = %self.tp, offset, "deleting a producer snapshot");
                self.remove_producer_snapshot(offset)?;
            }
        }
        Ok(())
    }

    /// Marks the start of a truncation at `offset`: a snapshot point read
    /// before it is stale from now on, and a copy of the log (a move
    /// between directories) must be cut there too (see
    /// [`Log::take_truncation_mark`]). Called under the writer lock, before
    /// any data is cut.
    pub(super) fn begin_truncation(&self, offset: i64) {
        self.truncation_mark.fetch_min(offset, Ordering::AcqRel);
        self.truncations.fetch_add(1, Ordering::AcqRel);
    }

    /// The lowest offset the log was truncated at since the last call
    /// (`None`: no truncation). Whoever copies the log batch by batch takes
    /// it before each step: a copy's batches at or above it may be ones the
    /// log no longer has.
    pub fn take_truncation_mark(&self) -> Option<i64> {
        let mark = self.truncation_mark.swap(i64::MAX, Ordering::AcqRel);
        (mark != i64::MAX).then_some(mark)
    }

    fn producer_snapshot_path(&self, offset: i64) -> PathBuf {
        self.dir
            .join(segment::segment_file_name(offset, PRODUCER_SNAPSHOT_SUFFIX))
    }

    fn remove_producer_snapshot(&self, offset: i64) -> Result<()> {
        let path = self.producer_snapshot_path(offset);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Io {
                op: "delete",
                path,
                source: e,
            }),
        }
    }

    fn list_producer_snapshots(&self) -> Result<Vec<i64>> {
        let mut offsets = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(Error::io("list", &self.dir))? {
            let entry = entry.map_err(Error::io("list", &self.dir))?;
            let name = entry.file_name();
            let Some((stem, ext)) = name.to_str().and_then(|n| n.rsplit_once('.')) else {
                continue;
            };
            if ext != PRODUCER_SNAPSHOT_SUFFIX
                || stem.len() != 20
                || !stem.bytes().all(|b| b.is_ascii_digit())
            {
                continue;
            }
            if let Ok(offset) = stem.parse::<i64>() {
                offsets.push(offset);
            }
        }
        offsets.sort_unstable();
        Ok(offsets)
    }
}
