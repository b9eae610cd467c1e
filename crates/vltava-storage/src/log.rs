//! One partition's log: an ordered set of segments, the last one active.
//!
//! # Concurrency
//!
//! * `writer` (a mutex) serialises everything that changes the log:
//!   appends, rolls, truncation, retention, flush bookkeeping, close.
//! * `segments` (an `RwLock` over `Arc<Segment>`s) is held only long enough
//!   to find or clone a segment; never across I/O.
//! * Readers never take `writer`. They load the log end offset (published
//!   with `Release` after the bytes are written), clone the segments they
//!   need, and `pread` the files, so a fetch never waits behind an append
//!   or an fsync. The active segment's handle is shared: appends write at
//!   the file cursor, reads use positioned reads.
//! * `epochs` (the leader epoch cache) has its own short lock for readers
//!   (OffsetsForLeaderEpoch, Fetch's diverging-epoch check), never held
//!   across I/O. It changes only under `writer`, which also covers the
//!   fsync of its small checkpoint file on a change: epoch changes are
//!   rare (a new leader's first append, truncation, the log start moving),
//!   and readers never wait for it.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{self, ErrorKind, IoSlice, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use vltava_records::batch::{offsets, Attributes, BATCH_HEADER_LEN};
use vltava_records::{patch, BatchSplitter, RecordBatch, TimestampType};

use crate::checkpoint::{self, fsync_dir, TopicPartition};
use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fdcache::{lock, FdCache, DEFAULT_MAX_OPEN_SEGMENT_FILES};
use crate::leader_epoch::{LeaderEpochFileCache, Loaded};
use crate::segment::{
    self, roll_jitter, BatchHeader, HeaderScanner, ScanError, Segment, DELETED_SUFFIX,
    INDEX_SUFFIX, LOG_SUFFIX, MAX_RELATIVE_OFFSET, TIME_INDEX_SUFFIX,
};
use crate::txnindex::{AbortedTxn, TXN_INDEX_SUFFIX};
use crate::uuid::KafkaUuid;

mod cleaner;
mod located;
mod producer_snapshots;
pub use cleaner::{CleanStats, CleanableRange, CleanerLimits};
use located::Rewriting;
pub use located::{FileSlice, Located};
pub use producer_snapshots::{
    SnapshotPoint, PRODUCER_SNAPSHOTS_RETAINED, PRODUCER_SNAPSHOT_SUFFIX,
};
#[cfg(test)]
mod epoch_tests;

/// How to open a log. `Default` is "unclean, no checkpoints, private fd
/// cache": every segment is recovered by scanning.
#[derive(Debug, Clone, Default)]
pub struct LogOpenOptions {
    /// The data directory had a clean-shutdown marker: trust the files.
    pub clean_shutdown: bool,
    /// From the recovery-point checkpoint: segments wholly below it are
    /// trusted even after an unclean shutdown.
    pub recovery_point: i64,
    /// From the log-start-offset checkpoint.
    pub log_start_offset: Option<i64>,
    /// Topic id to record in `partition.metadata` if the file is missing.
    pub topic_id: Option<KafkaUuid>,
    /// The shared cache of read-only segment files (a private one of
    /// [`DEFAULT_MAX_OPEN_SEGMENT_FILES`] if `None`).
    pub fd_cache: Option<Arc<FdCache>>,
}

/// What an append did (Kafka's `LogAppendInfo`, the parts a broker uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the first record appended.
    pub first_offset: i64,
    /// Offset of the last record appended.
    pub last_offset: i64,
    /// The append time stamped on the batches, or -1 for CreateTime.
    pub log_append_time: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// Largest batch max timestamp in the append (-1 if none).
    pub max_timestamp: i64,
    /// Offset of that timestamp: the first offset for LogAppendTime, else
    /// the last offset of the batch that has it (Kafka's shallow offset).
    pub offset_of_max_timestamp: i64,
    /// Batches appended.
    pub batch_count: usize,
    /// Bytes appended.
    pub size_in_bytes: u64,
}

/// The result of [`Log::read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, as stored, concatenated.
    pub records: Bytes,
    /// Base offset of the first batch returned (`None` if empty). May be
    /// below the requested offset: a read inside a batch returns the whole
    /// batch.
    pub first_batch_offset: Option<i64>,
    /// Offset after the last batch returned (the requested offset if
    /// nothing was returned).
    pub next_offset: i64,
    /// Log start offset when the read began.
    pub log_start_offset: i64,
    /// Log end offset when the read began.
    pub log_end_offset: i64,
}

/// Who wrote a batch, from its header alone ([`Log::batch_summaries`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// First offset of the batch.
    pub base_offset: i64,
    /// Last offset of the batch.
    pub last_offset: i64,
    /// -1 when the batch has no producer.
    pub producer_id: i64,
    /// Part of a transaction.
    pub is_transactional: bool,
    /// A control batch (a transaction marker).
    pub is_control: bool,
}

/// A timestamp and the offset of the record that has it (ListOffsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampAndOffset {
    /// The record's timestamp.
    pub timestamp: i64,
    /// The record's offset.
    pub offset: i64,
    /// Partition leader epoch of its batch (-1 unknown).
    pub leader_epoch: i32,
}

impl Writer {
    fn file(&self) -> Result<&Arc<File>> {
        self.file.as_ref().ok_or(Error::Closed)
    }
}

struct Writer {
    active: Arc<Segment>,
    /// Read-write handle of the active segment (also pinned in its slot
    /// for readers). Writes go through the file cursor.
    /// `None` once closed.
    file: Option<Arc<File>>,
    last_flush_ms: i64,
    closed: bool,
}

/// One partition's log. `Send + Sync`; share it with an `Arc`.
pub struct Log {
    tp: TopicPartition,
    dir: PathBuf,
    topic_id: Option<KafkaUuid>,
    log_key: u64,
    config: RwLock<Arc<LogConfig>>,
    segments: RwLock<BTreeMap<i64, Arc<Segment>>>,
    writer: Mutex<Writer>,
    log_start_offset: AtomicI64,
    log_end_offset: AtomicI64,
    recovery_point: AtomicI64,
    /// Earliest delete horizon the last cleaning pass left in the log
    /// (`i64::MAX`: none; 0 after open: not known yet).
    next_delete_horizon: AtomicI64,
    fds: Arc<FdCache>,
    /// Where each leader epoch began (`leader-epoch-checkpoint`). Changed
    /// only under `writer`; see the module docs for the locking.
    epochs: LeaderEpochFileCache,
    closed: AtomicBool,
    /// Set by `stop_cleaning` (shutdown): a cleaning pass stops at its
    /// next batch.
    cleaning_stopped: AtomicBool,
    /// Base offset of the last segment rolled and not yet reported by
    /// `take_rolled` (-1: none).
    rolled_at: AtomicI64,
    /// Truncations so far (see `SnapshotPoint`).
    truncations: AtomicU64,
    /// The lowest offset truncated at since `take_truncation_mark` last
    /// took it (`i64::MAX`: none).
    truncation_mark: AtomicI64,
    /// In-place rewrites of segment bytes (truncations) begun and ended:
    /// odd while one is under way. Senders of located ranges check it
    /// (see `Located::unchanged`).
    rewrites: Arc<AtomicU64>,
    /// Bytes of the segments `open` recovered by scanning (0 after a
    /// clean shutdown), for the start-up progress log.
    recovered_bytes: u64,
    /// Held while producer snapshot files are written or deleted; never
    /// while taking `writer` (a snapshot's flush happens before it).
    snapshot_files: Mutex<()>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("log_start_offset", &self.log_start_offset())
            .field("log_end_offset", &self.log_end_offset())
            .finish_non_exhaustive()
    }
}

/// A batch about to be written: its patched header and the bytes after it.
struct Pending {
    header: [u8; BATCH_HEADER_LEN],
    rest: Bytes,
    info: BatchHeader,
}

impl Log {
    /// Opens (or creates) the log in `dir`, whose name must be
    /// `<topic>-<partition>`. Recovers as [`LogOpenOptions`] says; see the
    /// crate docs.
    pub fn open(dir: &Path, config: LogConfig, opts: LogOpenOptions, now_ms: i64) -> Result<Log> {
        config.validate()?;
        let name = dir.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            Error::InvalidTopicPartition(format!("bad log dir {}", dir.display()))
        })?;
        // A future log (a replica being moved between log directories)
        // is named `<topic>-<partition>.<id>-future`.
        let tp = TopicPartition::from_dir_name(name)
            .or_else(|_| TopicPartition::from_future_dir_name(name))?;
        fs::create_dir_all(dir).map_err(Error::io("create dir", dir))?;
        let fds = opts
            .fd_cache
            .clone()
            .unwrap_or_else(|| FdCache::new(DEFAULT_MAX_OPEN_SEGMENT_FILES));

        let topic_id = match checkpoint::read_partition_metadata(dir) {
            Ok(Some(id)) => Some(id),
            Ok(None) => {
                if let Some(id) = opts.topic_id {
                    checkpoint::write_partition_metadata(dir, id)?;
                }
                opts.topic_id
            }
            Err(e) => {
                tracing::warn!(log = %tp, error = %e, "ignoring unreadable partition.metadata");
                if let Some(id) = opts.topic_id {
                    checkpoint::write_partition_metadata(dir, id)?;
                }
                opts.topic_id
            }
        };

        let (epochs, epochs_loaded) = LeaderEpochFileCache::load(dir, &tp);

        // A cleaner swap a crash interrupted is finished first.
        let swapped = cleaner::complete_swaps(dir)?;
        let (bases, mut dir_changed) = scan_dir(dir)?;
        dir_changed |= swapped;
        let mut segments = BTreeMap::new();
        let mut expected: Option<i64> = None;
        let mut cut = false;
        // Base offset of the first segment recovered by scanning.
        let mut first_recovered: Option<i64> = None;
        let mut recovered_bytes = 0u64;
        for (i, &base) in bases.iter().enumerate() {
            // A segment may start past the previous one's last batch (the
            // cleaner removed batches there) but never inside it.
            if let Some(e) = expected {
                if !cut && base < e {
                    tracing::warn!(log = %tp, segment_base = base, expected = e,
                        "segment overlaps the previous one; removing it and later segments");
                    cut = true;
                }
            }
            if cut {
                tracing::warn!(log = %tp, segment_base = base, "removing segment after a truncated or discontinuous one");
                delete_segment_files(dir, base)?;
                dir_changed = true;
                continue;
            }
            let below_recovery_point = bases
                .get(i + 1)
                .is_some_and(|&next| next <= opts.recovery_point);
            let trust = opts.clean_shutdown || below_recovery_point;
            // Recovery may create index files.
            dir_changed |= !trust;
            if !trust {
                first_recovered.get_or_insert(base);
            }
            let loaded = Segment::load(dir, base, &config, &fds, trust, now_ms)?;
            if !trust {
                recovered_bytes += loaded.segment.size();
            }
            if loaded.truncated {
                cut = true;
            }
            expected = Some(loaded.segment.next_offset());
            segments.insert(base, loaded.segment);
        }

        let checkpoint_start = opts
            .log_start_offset
            .unwrap_or(0)
            .clamp(0, segment::MAX_BASE_OFFSET);
        if segments.is_empty() {
            let (seg, _) = Segment::create(dir, checkpoint_start, &config, &fds, now_ms)?;
            segments.insert(checkpoint_start, seg);
            dir_changed = true;
        }
        let first_base = *segments.keys().next().expect("non-empty");
        let mut log_end = segments
            .values()
            .next_back()
            .expect("non-empty")
            .next_offset();
        let mut log_start = checkpoint_start.max(first_base);
        let mut started_over = false;
        if log_start > log_end {
            tracing::warn!(log = %tp, log_start, log_end,
                "log start offset checkpoint is beyond the log end; starting the log over at it");
            for seg in segments.values() {
                seg.delete_files(&fds)?;
            }
            segments.clear();
            let (seg, _) = Segment::create(dir, log_start, &config, &fds, now_ms)?;
            segments.insert(log_start, seg);
            log_end = log_start;
            dir_changed = true;
            started_over = true;
        }
        if dir_changed {
            fsync_dir(dir)?;
        }
        log_start = log_start.min(log_end);

        let active = segments.values().next_back().expect("non-empty").clone();
        let file = Arc::new(active.open_rw()?);
        active.slot.pin(&fds, file.clone());

        let mut h = std::collections::hash_map::DefaultHasher::new();
        tp.hash(&mut h);
        let log = Log {
            log_key: h.finish(),
            tp,
            dir: dir.to_path_buf(),
            topic_id,
            config: RwLock::new(Arc::new(config)),
            segments: RwLock::new(segments),
            writer: Mutex::new(Writer {
                active,
                file: Some(file),
                last_flush_ms: now_ms,
                closed: false,
            }),
            log_start_offset: AtomicI64::new(log_start),
            log_end_offset: AtomicI64::new(log_end),
            // Trusted segments were fsynced before the checkpoint was
            // written; recovered ones were fsynced by recovery.
            recovery_point: AtomicI64::new(log_end),
            next_delete_horizon: AtomicI64::new(0),
            fds,
            epochs,
            closed: AtomicBool::new(false),
            cleaning_stopped: AtomicBool::new(false),
            rolled_at: AtomicI64::new(-1),
            truncations: AtomicU64::new(0),
            truncation_mark: AtomicI64::new(i64::MAX),
            rewrites: Arc::new(AtomicU64::new(0)),
            recovered_bytes,
            snapshot_files: Mutex::new(()),
        };
        log.load_epochs(epochs_loaded, first_recovered, started_over)?;
        // Producer snapshots of data the recovery cut off, or from before
        // the log start, describe a log that is not this one.
        log.delete_producer_snapshots_where(|o| o > log_end || o < log_start)?;
        Ok(log)
    }

    /// Brings the leader epoch cache in line with the log just opened.
    ///
    /// Entries are rebuilt from batch headers (each batch's partition
    /// leader epoch, at its base offset, when it is above the latest epoch
    /// so far, as Kafka's segment recovery does); no records are read.
    ///
    /// * No usable file (missing: a new log or one written before the
    ///   cache existed; corrupt), or the log was started over: rebuild
    ///   from the log start, reading every header once.
    /// * The file's entries past the log end are dropped (an assignment
    ///   is written before its batches, so a crash may leave one beyond
    ///   the data).
    /// * If the last batch of the log carries an epoch above the file's
    ///   latest, the file is older than the log (written by a version
    ///   without the cache, or restored): rebuild from the log start.
    ///   Checking costs one short header scan.
    /// * Otherwise entries below the first segment recovered by scanning
    ///   (the recovery point) are kept and only the recovered segments
    ///   are read again: their batches may differ from what the file was
    ///   written for. Usually that is the active segment alone; after a
    ///   clean shutdown, nothing.
    ///
    /// Then entries below the log start are trimmed, and the file written
    /// if anything changed or it was unusable (but not for a new, empty
    /// log: a missing file reads as empty). A compacted log may rebuild
    /// other start offsets than it recorded (the first batches of an epoch
    /// may have been cleaned away); either answer is safe for truncation.
    fn load_epochs(
        &self,
        loaded: Loaded,
        first_recovered: Option<i64>,
        started_over: bool,
    ) -> Result<()> {
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        let before = self.epochs.snapshot();
        let mut cache = before.clone();
        let rebuild_from = if loaded != Loaded::File || started_over {
            cache.clear();
            Some(log_start)
        } else {
            cache.truncate_from_end(log_end);
            let last_epoch = self
                .last_batch_header()?
                .map(|h| h.leader_epoch)
                .filter(|&e| e >= 0);
            if last_epoch.is_some_and(|e| cache.latest_epoch().is_none_or(|l| e > l)) {
                tracing::warn!(log = %self.tp, latest_in_file = ?cache.latest_epoch(), last_batch_epoch = ?last_epoch,
                    "leader epoch checkpoint is older than the log; rebuilding it from every batch");
                cache.clear();
                Some(log_start)
            } else if let Some(base) = first_recovered.filter(|&b| b < log_end) {
                cache.truncate_from_end(base);
                Some(base)
            } else {
                None
            }
        };
        if let Some(from) = rebuild_from {
            self.visit_headers(from, i64::MAX, |_, _, h| {
                let e = h.leader_epoch;
                if e >= 0 && cache.latest_epoch().is_none_or(|l| e > l) {
                    cache.assign(e, h.base_offset);
                }
                Ok(ControlFlow::Continue(()))
            })?;
        }
        cache.truncate_from_start(log_start);
        let changed = cache != before;
        if changed {
            tracing::info!(log = %self.tp, entries = ?cache.entries(), "leader epoch cache recovered");
        }
        // A new, empty log gets its file with its first epoch: writing
        // an empty one here would cost two fsyncs per partition created.
        let new_log = loaded == Loaded::Missing && log_start == log_end && cache.is_empty();
        self.epochs.replace(cache);
        if changed || (loaded != Loaded::File && !new_log) {
            self.epochs.flush()?;
        }
        Ok(())
    }

    /// The header of the last batch in the log, if any (a scan from the
    /// last offset index entry of the last non-empty segment).
    fn last_batch_header(&self) -> Result<Option<BatchHeader>> {
        let Some(seg) = self.snapshot().into_iter().rev().find(|s| s.size() > 0) else {
            return Ok(None);
        };
        let file = self.segment_file(&seg, seg.base_offset)?;
        let from = seg.index_position(seg.next_offset() - 1);
        let mut scan = HeaderScanner::new(&file, from, seg.size());
        let mut last = None;
        while let Some(h) = next_or_io(&mut scan, &seg)? {
            last = Some(h);
        }
        Ok(last)
    }

    /// Topic.
    pub fn topic(&self) -> &str {
        &self.tp.topic
    }
    /// Partition.
    pub fn partition(&self) -> i32 {
        self.tp.partition
    }
    /// Topic and partition.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Topic id from `partition.metadata`, if any.
    pub fn topic_id(&self) -> Option<KafkaUuid> {
        self.topic_id
    }
    /// First offset still in the log.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }
    /// Offset the next append gets.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }
    /// The earliest delete horizon (KIP-534) of a tombstone or marker the
    /// cleaner left in the log: a pass after it removes something even if
    /// nothing is dirty. 0 when not known (after open); `i64::MAX` when
    /// there is none.
    pub fn next_delete_horizon(&self) -> i64 {
        self.next_delete_horizon.load(Ordering::Acquire)
    }
    /// Records the earliest delete horizon after a cleaning pass.
    pub fn set_next_delete_horizon(&self, horizon: Option<i64>) {
        self.next_delete_horizon
            .store(horizon.unwrap_or(i64::MAX), Ordering::Release);
    }
    /// Everything below this offset is fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }
    /// The latest leader epoch that wrote to the log (from the leader
    /// epoch cache), `None` if no batch carries one.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }
    /// Kafka's `endOffsetFor` over this log's epochs, with the current log
    /// end offset: `(largest epoch <= epoch, start of the next higher
    /// epoch)`, `(epoch, log end)` for the latest epoch, `(epoch, start of
    /// the first epoch)` below every epoch, and
    /// [`(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`](crate::UNDEFINED_EPOCH)
    /// for -1, above the latest, or when no epoch is known. See
    /// [`LeaderEpochCache::end_offset_for`](crate::LeaderEpochCache::end_offset_for).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }
    /// The leader epoch cache: `(epoch, start offset)`, oldest first (for
    /// tests and tools).
    pub fn epoch_entries(&self) -> Vec<(i32, i64)> {
        self.epochs.entries()
    }
    /// ListOffsets `EARLIEST` (-2).
    pub fn earliest_offset(&self) -> i64 {
        self.log_start_offset()
    }
    /// ListOffsets `LATEST` (-1), before any high watermark the caller
    /// applies.
    pub fn latest_offset(&self) -> i64 {
        self.log_end_offset()
    }
    /// The config in force.
    pub fn config(&self) -> Arc<LogConfig> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// Replaces the config; it applies from the next append (index sizes
    /// from the next segment).
    pub fn set_config(&self, config: LogConfig) -> Result<()> {
        config.validate()?;
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        Ok(())
    }
    /// Total bytes of all segments.
    /// Bytes `open` checked by scanning segments past the recovery point
    /// (0 after a clean shutdown).
    pub fn recovered_bytes(&self) -> u64 {
        self.recovered_bytes
    }
    pub fn size_in_bytes(&self) -> u64 {
        self.snapshot().iter().map(|s| s.size()).sum()
    }
    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments_read().len()
    }
    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments_read().keys().copied().collect()
    }

    fn segments_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Arc<Segment>>> {
        self.segments.read().unwrap_or_else(|e| e.into_inner())
    }
    fn segments_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i64, Arc<Segment>>> {
        self.segments.write().unwrap_or_else(|e| e.into_inner())
    }
    fn snapshot(&self) -> Vec<Arc<Segment>> {
        self.segments_read().values().cloned().collect()
    }
    fn floor_segment(&self, offset: i64) -> Option<Arc<Segment>> {
        self.segments_read()
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s.clone())
    }
    /// The segment after `seg`, if `seg` is still in the log (`None` if it
    /// was removed or replaced).
    fn successor(&self, seg: &Arc<Segment>) -> Option<Option<Arc<Segment>>> {
        let map = self.segments_read();
        if !map
            .get(&seg.base_offset)
            .is_some_and(|s| Arc::ptr_eq(s, seg))
        {
            return None;
        }
        Some(
            map.range(seg.base_offset.saturating_add(1)..)
                .next()
                .map(|(_, s)| s.clone()),
        )
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>> {
        let w = lock(&self.writer);
        if w.closed {
            return Err(Error::Closed);
        }
        Ok(w)
    }
    fn out_of_range(&self, requested: i64) -> Error {
        Error::OffsetOutOfRange {
            requested,
            log_start: self.log_start_offset(),
            log_end: self.log_end_offset(),
        }
    }

    // ---------------------------------------------------------------- append

    /// Appends a Produce request's `records` (one or more v2 batches the
    /// broker has validated): assigns offsets from the log end, stamps the
    /// partition leader epoch and, for LogAppendTime topics, `now_ms` as max
    /// timestamp (CRC recomputed). The record bytes are written as they
    /// arrived; only the 61-byte headers are copied.
    ///
    /// A `leader_epoch` other than the log's latest epoch is recorded in
    /// the leader epoch cache (and its file) at the first offset of the
    /// append before anything is written. As in Kafka, an epoch below the
    /// latest one (which only a fenced leader or a damaged log could give:
    /// the replica manager checks the epoch) replaces the entries it
    /// conflicts with, with a warning, rather than blocking the partition.
    /// A negative epoch is stamped but not recorded.
    pub fn append_as_leader(
        &self,
        batches: Bytes,
        now_ms: i64,
        leader_epoch: i32,
    ) -> Result<AppendInfo> {
        let cfg = self.config();
        let list = split_batches(batches)?;
        let log_append = cfg.message_timestamp_type == TimestampType::LogAppendTime;
        let mut w = self.lock_writer()?;
        let first = self.log_end_offset();
        let new_epoch = (leader_epoch >= 0 && self.epochs.latest_epoch() != Some(leader_epoch))
            .then_some((leader_epoch, first));
        let mut next = first;
        let mut pending = Vec::with_capacity(list.len());
        let mut max_ts = -1i64;
        let mut offset_of_max = -1i64;
        for b in list {
            let delta = i64::from(b.last_offset_delta());
            let base = next;
            let last = base
                .checked_add(delta)
                .filter(|l| *l < i64::MAX)
                .ok_or_else(|| Error::InvalidRecords("offset overflow".into()))?;
            let bytes = b.into_bytes();
            let mut header = [0u8; BATCH_HEADER_LEN];
            header.copy_from_slice(&bytes[..BATCH_HEADER_LEN]);
            let rest = bytes.slice(BATCH_HEADER_LEN..);
            patch::set_base_offset(&mut header, base)
                .map_err(|e| Error::InvalidRecords(e.to_string()))?;
            patch::set_partition_leader_epoch(&mut header, leader_epoch)
                .map_err(|e| Error::InvalidRecords(e.to_string()))?;
            if log_append {
                stamp_log_append_time(&mut header, &rest, now_ms);
            }
            // The patched header, read back as the segment will see it.
            let info = segment::parse_header(&header, 0).map_err(Error::InvalidRecords)?;
            let ts = info.max_timestamp;
            if ts > max_ts {
                max_ts = ts;
                offset_of_max = if log_append { first } else { last };
            }
            pending.push(Pending { header, info, rest });
            next = last + 1;
        }
        let new_epochs: Vec<(i32, i64)> = new_epoch.into_iter().collect();
        let mut info = self.write_pending(&mut w, pending, &new_epochs, &cfg, now_ms)?;
        info.log_append_time = if log_append { now_ms } else { -1 };
        info.max_timestamp = max_ts;
        info.offset_of_max_timestamp = offset_of_max;
        Ok(info)
    }

    /// Appends batches whose offsets were assigned by a leader (replication).
    /// Offsets must only grow, from the log end offset on; gaps are allowed,
    /// because a leader's compacted log has them where the cleaner removed
    /// whole batches (a follower fetching there gets the next batch kept, as
    /// Kafka's followers do). Each batch is fully validated (CRC), since the
    /// bytes come from another broker.
    ///
    /// Each batch whose partition leader epoch is above the latest epoch
    /// so far is recorded in the leader epoch cache at its base offset,
    /// before anything is written. Lower or undefined (-1) epochs are not
    /// recorded: a leader's log never goes back in epochs, and a batch
    /// that does must not erase the history (Kafka would assign it and
    /// drop the later entries).
    pub fn append_as_follower(&self, batches: Bytes, now_ms: i64) -> Result<AppendInfo> {
        let cfg = self.config();
        let list = split_batches(batches)?;
        let mut w = self.lock_writer()?;
        let mut next = self.log_end_offset();
        let mut pending = Vec::with_capacity(list.len());
        let mut max_ts = -1i64;
        let mut offset_of_max = -1i64;
        let mut latest_epoch = self.epochs.latest_epoch();
        let mut new_epochs = Vec::new();
        for b in list {
            b.validate()
                .map_err(|e| Error::InvalidRecords(e.to_string()))?;
            if b.base_offset() < next {
                return Err(Error::InvalidOffsets {
                    expected: next,
                    found: b.base_offset(),
                });
            }
            let last = b.last_offset();
            if last == i64::MAX {
                return Err(Error::InvalidRecords("offset overflow".into()));
            }
            if b.max_timestamp() > max_ts {
                max_ts = b.max_timestamp();
                offset_of_max = last;
            }
            let bytes = b.into_bytes();
            let mut header = [0u8; BATCH_HEADER_LEN];
            header.copy_from_slice(&bytes[..BATCH_HEADER_LEN]);
            let info = segment::parse_header(&header, 0).map_err(Error::InvalidRecords)?;
            let epoch = info.leader_epoch;
            if epoch >= 0 && latest_epoch.is_none_or(|l| epoch > l) {
                new_epochs.push((epoch, info.base_offset));
                latest_epoch = Some(epoch);
            }
            pending.push(Pending {
                header,
                rest: bytes.slice(BATCH_HEADER_LEN..),
                info,
            });
            next = last + 1;
        }
        // One fetch may carry more than a segment holds (replica.fetch.max.bytes
        // above the topic's segment size): it is written in pieces that each
        // fit, rolling between them, each with the epoch entries of its own
        // batches. A single batch larger than a segment is still refused.
        let mut info: Option<AppendInfo> = None;
        for piece in split_to_fit(pending, u64::from(cfg.segment_bytes)) {
            let (first, last) = (
                piece[0].info.base_offset,
                piece[piece.len() - 1].info.last_offset,
            );
            let epochs: Vec<(i32, i64)> = new_epochs
                .iter()
                .copied()
                .filter(|(_, offset)| (first..=last).contains(offset))
                .collect();
            let written = self.write_pending(&mut w, piece, &epochs, &cfg, now_ms)?;
            info = Some(match info {
                None => written,
                Some(before) => AppendInfo {
                    first_offset: before.first_offset,
                    batch_count: before.batch_count + written.batch_count,
                    size_in_bytes: before.size_in_bytes + written.size_in_bytes,
                    ..written
                },
            });
        }
        let mut info = info.expect("split_batches returns at least one batch");
        info.max_timestamp = max_ts;
        info.offset_of_max_timestamp = offset_of_max;
        Ok(info)
    }

    /// Writes `pending` at the log end. `new_epochs` are recorded in the
    /// leader epoch cache first (its file written, under the writer lock),
    /// after the checks that could refuse the append, so an entry is never
    /// missing from the file for a batch that reached the log.
    fn write_pending(
        &self,
        w: &mut Writer,
        mut pending: Vec<Pending>,
        new_epochs: &[(i32, i64)],
        cfg: &LogConfig,
        now_ms: i64,
    ) -> Result<AppendInfo> {
        let total: u64 = pending.iter().map(|p| p.info.size).sum();
        if total > u64::from(cfg.segment_bytes) {
            return Err(Error::MessageSetTooLarge {
                size: total,
                max: u64::from(cfg.segment_bytes),
            });
        }
        let first = pending[0].info.base_offset;
        let last = pending[pending.len() - 1].info.last_offset;
        let incoming_max_ts = pending
            .iter()
            .map(|p| p.info.max_timestamp)
            .max()
            .unwrap_or(-1);
        if self.should_roll(w, total, last, incoming_max_ts, now_ms, cfg) {
            self.roll(w, cfg, now_ms)?;
        }
        if !new_epochs.is_empty() {
            self.epochs.assign_all(new_epochs)?;
        }
        let seg = w.active.clone();
        let start = seg.size();
        let mut pos = start;
        for p in &mut pending {
            p.info.position = pos;
            pos += p.info.size;
        }
        let file = w.file()?;
        if let Err(e) = write_all_vectored(file, &pending) {
            // Drop whatever part of the append reached the file.
            let _ = file.set_len(start);
            let _ = (&**file).seek(SeekFrom::Start(start));
            return Err(Error::Io {
                op: "append",
                path: seg.log_path.clone(),
                source: e,
            });
        }
        {
            let mut st = seg.state_mut();
            for p in &pending {
                st.on_batch(seg.base_offset, &p.info, cfg.index_interval_bytes);
            }
        }
        if start == 0 {
            seg.first_append_ms.store(now_ms, Ordering::Release);
        }
        seg.next_offset.store(last + 1, Ordering::Release);
        seg.size.store(pos, Ordering::Release);
        self.log_end_offset.store(last + 1, Ordering::Release);

        let unflushed = last + 1 - self.recovery_point();
        if unflushed >= cfg.flush_messages || now_ms.saturating_sub(w.last_flush_ms) >= cfg.flush_ms
        {
            self.flush_locked(w, now_ms)?;
        }
        Ok(AppendInfo {
            first_offset: first,
            last_offset: last,
            log_append_time: -1,
            log_start_offset: self.log_start_offset(),
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            batch_count: pending.len(),
            size_in_bytes: total,
        })
    }

    fn should_roll(
        &self,
        w: &Writer,
        incoming: u64,
        last_offset: i64,
        incoming_max_ts: i64,
        now_ms: i64,
        cfg: &LogConfig,
    ) -> bool {
        let seg = &w.active;
        let size = seg.size();
        if size == 0 {
            return false;
        }
        let roll_ms =
            cfg.segment_ms - roll_jitter(self.log_key, seg.base_offset, cfg.segment_jitter_ms);
        let first_append = seg.first_append_ms.load(Ordering::Acquire);
        let (full, rolling_ts) = {
            let st = seg.state();
            (st.is_full(), st.rolling_timestamp)
        };
        // segment.ms: the segment's age by the injected clock, or (KIP-33)
        // the span of record time it covers.
        let aged = (first_append >= 0 && now_ms.saturating_sub(first_append) > roll_ms)
            || (rolling_ts >= 0
                && incoming_max_ts >= 0
                && incoming_max_ts.saturating_sub(rolling_ts) > roll_ms);
        size + incoming > u64::from(cfg.segment_bytes)
            || aged
            || full
            || last_offset - seg.base_offset > MAX_RELATIVE_OFFSET
    }

    /// Seals the active segment (final time index entry, index files
    /// written and fsynced, log fsynced) and starts a new one at the log
    /// end offset.
    fn roll(&self, w: &mut Writer, cfg: &LogConfig, now_ms: i64) -> Result<()> {
        let old = w.active.clone();
        let new_base = self.log_end_offset();
        old.state_mut().seal(old.base_offset);
        old.persist_indexes(true)?;
        w.file()?
            .sync_all()
            .map_err(Error::io("fsync", &old.log_path))?;
        let (seg, file) = Segment::create(&self.dir, new_base, cfg, &self.fds, now_ms)?;
        fsync_dir(&self.dir)?;
        let file = Arc::new(file);
        seg.slot.pin(&self.fds, file.clone());
        self.segments_write().insert(new_base, seg.clone());
        old.slot.unpin(&self.fds);
        w.active = seg;
        w.file = Some(file);
        // Every older segment was fsynced when it was rolled.
        self.recovery_point.fetch_max(new_base, Ordering::AcqRel);
        self.rolled_at.store(new_base, Ordering::Release);
        tracing::debug!(log = %self.tp, base_offset = new_base, "rolled new segment");
        Ok(())
    }

    // ------------------------------------------------------------------ read

    /// Reads whole batches from the batch containing `start_offset`, up to
    /// `max_bytes`, never including a batch that reaches
    /// `max_offset_exclusive` (the high watermark, or `i64::MAX`). With
    /// `min_one_batch` the first batch is returned whole even if larger
    /// than `max_bytes` (KIP-74). Continues into later segments while room
    /// remains. `start_offset == log end` returns nothing; below the log
    /// start or above the log end is [`Error::OffsetOutOfRange`].
    pub fn read(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
    ) -> Result<ReadResult> {
        self.locate(start_offset, max_bytes, max_offset_exclusive, min_one_batch)?
            .load()
    }

    /// Finds what [`Log::read`] would return without reading it: the byte
    /// ranges of the segment files that hold those whole batches, to be
    /// read with [`Located::load`] or sent straight from the files.
    pub fn locate(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
    ) -> Result<Located> {
        retry_replaced(|| {
            self.locate_once(start_offset, max_bytes, max_offset_exclusive, min_one_batch)
        })
    }

    fn locate_once(
        &self,
        start_offset: i64,
        max_bytes: usize,
        max_offset_exclusive: i64,
        min_one_batch: bool,
    ) -> Result<Located> {
        // Before anything is planned: a truncation that begins after this
        // moves the count, which tells a sender of the planned ranges.
        let rewrites_seen = self.rewrites.load(Ordering::SeqCst);
        let log_end = self.log_end_offset();
        let log_start = self.log_start_offset();
        if start_offset < log_start || start_offset > log_end {
            return Err(Error::OffsetOutOfRange {
                requested: start_offset,
                log_start,
                log_end,
            });
        }
        let mut located = Located {
            slices: Vec::new(),
            planned_bases: Vec::new(),
            len: 0,
            records: 0,
            start_offset,
            first_batch_offset: None,
            next_offset: start_offset,
            log_start_offset: log_start,
            log_end_offset: log_end,
            rewrites: self.rewrites.clone(),
            rewrites_seen,
        };
        let limit = max_offset_exclusive.min(log_end);
        if start_offset >= limit {
            return Ok(located);
        }
        let max_bytes = max_bytes as u64;
        // Plan: ranges of whole batches, and the base offsets of the
        // batches in them, to check what is read.
        let mut plan: Vec<FileSlice> = Vec::new();
        let mut planned_bases: Vec<i64> = Vec::new();
        let mut records = 0u64;
        let mut total = 0u64;
        let mut first_base = None;
        let mut next_offset = start_offset;
        let mut seg = self
            .floor_segment(start_offset)
            .ok_or_else(|| self.out_of_range(start_offset))?;
        let mut first_segment = true;
        'segments: loop {
            let end = seg.size();
            let file = self.segment_file(&seg, start_offset)?;
            let from = if first_segment {
                seg.index_position(start_offset)
            } else {
                0
            };
            first_segment = false;
            let mut scan = HeaderScanner::new(&file, from, end);
            let mut range: Option<(u64, u64)> = None;
            let mut stop = false;
            loop {
                let h = match scan.next_header() {
                    Ok(Some(h)) => h,
                    Ok(None) => break,
                    Err(ScanError::Io(e)) => {
                        return Err(Error::Io {
                            op: "read",
                            path: seg.log_path.clone(),
                            source: e,
                        })
                    }
                    // Concurrent truncation: serve what was planned.
                    Err(ScanError::Invalid { .. }) => {
                        stop = true;
                        break;
                    }
                };
                if h.last_offset < next_offset {
                    continue;
                }
                if h.last_offset >= limit {
                    stop = true;
                    break;
                }
                if total + h.size > max_bytes && !(total == 0 && min_one_batch) {
                    stop = true;
                    break;
                }
                first_base.get_or_insert(h.base_offset);
                planned_bases.push(h.base_offset);
                records += (h.last_offset - h.base_offset + 1) as u64;
                range = Some(match range {
                    None => (h.position, h.size),
                    Some((s, l)) => (s, l + h.size),
                });
                total += h.size;
                next_offset = h.last_offset + 1;
                if total >= max_bytes {
                    stop = true;
                    break;
                }
            }
            if let Some((position, len)) = range {
                plan.push(FileSlice {
                    file,
                    position,
                    len,
                    path: seg.log_path.clone(),
                });
            }
            if stop || next_offset >= limit {
                break 'segments;
            }
            // Go on only if this segment was read to its end (it may have
            // grown and rolled while it was scanned) and is still in the
            // log (retention or the cleaner may have replaced it and its
            // neighbours): offsets may have gaps, so the batches read
            // cannot tell. The successor first: once it exists, this
            // segment takes no more appends.
            let Some(next) = self.successor(&seg) else {
                // Replaced while it was scanned. With nothing planned yet,
                // an empty answer would tell the reader there is nothing
                // at `start_offset` when the replacement (a cleaned
                // segment, or the ones after it) has data: plan again.
                if plan.is_empty() {
                    return Err(Error::SegmentReplaced);
                }
                break 'segments;
            };
            if seg.size() != end {
                break 'segments;
            }
            match next {
                Some(n) => seg = n,
                None => break,
            }
        }
        located.slices = plan;
        located.planned_bases = planned_bases;
        located.len = total;
        located.records = records;
        located.first_batch_offset = first_base;
        located.next_offset = next_offset;
        Ok(located)
    }

    fn segment_file(&self, seg: &Arc<Segment>, requested: i64) -> Result<Arc<File>> {
        match seg.slot.get(&self.fds) {
            Ok(f) => Ok(f),
            Err(e) if crate::fdcache::is_retired(&e) => Err(Error::SegmentReplaced),
            Err(e) if e.kind() == ErrorKind::NotFound && requested < self.log_start_offset() => {
                Err(self.out_of_range(requested))
            }
            Err(e) => Err(Error::Io {
                op: "open",
                path: seg.log_path.clone(),
                source: e,
            }),
        }
    }

    fn read_batch(&self, seg: &Arc<Segment>, file: &File, h: &BatchHeader) -> Result<RecordBatch> {
        let mut buf = vec![0u8; h.size as usize];
        file.read_exact_at(&mut buf, h.position)
            .map_err(Error::io("read", &seg.log_path))?;
        RecordBatch::new(Bytes::from(buf)).map_err(|e| Error::corrupt(&seg.log_path, e.to_string()))
    }

    // --------------------------------------------------------------- lookups

    /// The file position of the batch containing `offset` in its segment,
    /// as (segment base offset, position, batch base offset). For tests
    /// and tools.
    pub fn lookup_position(&self, offset: i64) -> Result<Option<(i64, u64, i64)>> {
        if offset < self.log_start_offset() || offset >= self.log_end_offset() {
            return Ok(None);
        }
        let Some(seg) = self.floor_segment(offset) else {
            return Ok(None);
        };
        let file = self.segment_file(&seg, offset)?;
        match seg.find_batch(&file, offset, seg.size()) {
            Ok(Some(h)) => Ok(Some((seg.base_offset, h.position, h.base_offset))),
            Ok(None) | Err(ScanError::Invalid { .. }) => Ok(None),
            Err(ScanError::Io(e)) => Err(Error::Io {
                op: "read",
                path: seg.log_path.clone(),
                source: e,
            }),
        }
    }

    /// ListOffsets by timestamp: the first record (at or after the log
    /// start) whose timestamp is >= `timestamp`, found through the time
    /// index, then the offset index, then batch headers, then the records
    /// of the one batch. `None` when no record is that new.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampAndOffset>> {
        retry_replaced(|| self.offset_for_timestamp_once(timestamp))
    }

    fn offset_for_timestamp_once(&self, timestamp: i64) -> Result<Option<TimestampAndOffset>> {
        let log_start = self.log_start_offset();
        for seg in self.snapshot() {
            if seg.max_timestamp() < timestamp || seg.next_offset() <= log_start {
                continue;
            }
            let from_offset = {
                let st = seg.state();
                st.times
                    .lookup(timestamp)
                    .map_or(seg.base_offset, |(_, rel)| seg.base_offset + i64::from(rel))
            }
            .max(log_start);
            let file = self.segment_file(&seg, from_offset)?;
            let mut scan = HeaderScanner::new(&file, seg.index_position(from_offset), seg.size());
            while let Some(h) = next_or_io(&mut scan, &seg)? {
                if h.last_offset < log_start || h.max_timestamp < timestamp {
                    continue;
                }
                let batch = self.read_batch(&seg, &file, &h)?;
                let records = batch
                    .records()
                    .map_err(|e| Error::corrupt(&seg.log_path, e.to_string()))?;
                for r in records {
                    let r = r.map_err(|e| Error::corrupt(&seg.log_path, e.to_string()))?;
                    if r.timestamp >= timestamp && r.offset >= log_start {
                        return Ok(Some(TimestampAndOffset {
                            timestamp: r.timestamp,
                            offset: r.offset,
                            leader_epoch: h.leader_epoch,
                        }));
                    }
                }
            }
        }
        Ok(None)
    }

    /// ListOffsets `MAX_TIMESTAMP` (-3): the record with the largest
    /// timestamp (the first one, if several), `None` for an empty log.
    pub fn max_timestamp_offset(&self) -> Result<Option<TimestampAndOffset>> {
        retry_replaced(|| self.max_timestamp_offset_once())
    }

    fn max_timestamp_offset_once(&self) -> Result<Option<TimestampAndOffset>> {
        let mut best: Option<(i64, Arc<Segment>)> = None;
        for seg in self.snapshot() {
            let ts = seg.max_timestamp();
            if ts >= 0 && best.as_ref().is_none_or(|(b, _)| ts > *b) {
                best = Some((ts, seg));
            }
        }
        let Some((ts, seg)) = best else {
            return Ok(None);
        };
        let shallow = seg.state().offset_of_max_timestamp;
        let file = self.segment_file(&seg, shallow)?;
        let mut scan = HeaderScanner::new(&file, seg.index_position(shallow), seg.size());
        while let Some(h) = next_or_io(&mut scan, &seg)? {
            if h.max_timestamp != ts {
                continue;
            }
            let batch = self.read_batch(&seg, &file, &h)?;
            if batch.timestamp_type() == TimestampType::LogAppendTime {
                return Ok(Some(TimestampAndOffset {
                    timestamp: ts,
                    offset: h.base_offset,
                    leader_epoch: h.leader_epoch,
                }));
            }
            let records = batch
                .records()
                .map_err(|e| Error::corrupt(&seg.log_path, e.to_string()))?;
            for r in records {
                let r = r.map_err(|e| Error::corrupt(&seg.log_path, e.to_string()))?;
                if r.timestamp == ts {
                    return Ok(Some(TimestampAndOffset {
                        timestamp: ts,
                        offset: r.offset,
                        leader_epoch: h.leader_epoch,
                    }));
                }
            }
            // A header max timestamp no record has: report the batch.
            return Ok(Some(TimestampAndOffset {
                timestamp: ts,
                offset: h.last_offset,
                leader_epoch: h.leader_epoch,
            }));
        }
        Ok(None)
    }

    /// The batches from the one holding `from` up to those at or beyond
    /// `to`, from their headers only (no records are read): what a broker
    /// needs to find where a producer's transaction began.
    pub fn batch_summaries(&self, from: i64, to: i64) -> Result<Vec<BatchSummary>> {
        retry_replaced(|| self.batch_summaries_once(from, to))
    }

    fn batch_summaries_once(&self, from: i64, to: i64) -> Result<Vec<BatchSummary>> {
        let mut out = Vec::new();
        self.visit_headers(from.max(self.log_start_offset()), to, |_, _, h| {
            let attrs = Attributes(h.attributes);
            out.push(BatchSummary {
                base_offset: h.base_offset,
                last_offset: h.last_offset,
                producer_id: h.producer_id,
                is_transactional: attrs.is_transactional(),
                is_control: attrs.is_control(),
            });
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    /// Calls `visit` with every batch header that reaches into
    /// `[from, to)`, in log order, with its segment and open file (to read
    /// the batch), until `visit` breaks. Reads headers only.
    fn visit_headers(
        &self,
        from: i64,
        to: i64,
        mut visit: impl FnMut(&Arc<Segment>, &File, &BatchHeader) -> Result<ControlFlow<()>>,
    ) -> Result<()> {
        let segs: Vec<Arc<Segment>> = {
            let map = self.segments_read();
            let first = map.range(..=from).next_back().map_or(i64::MIN, |(&b, _)| b);
            map.range(first..).map(|(_, s)| s.clone()).collect()
        };
        for seg in segs {
            if seg.base_offset >= to {
                break;
            }
            if seg.size() == 0 || seg.next_offset() <= from {
                continue;
            }
            let file = self.segment_file(&seg, from)?;
            let mut scan = HeaderScanner::new(&file, seg.index_position(from), seg.size());
            while let Some(h) = next_or_io(&mut scan, &seg)? {
                if h.last_offset < from {
                    continue;
                }
                if h.base_offset >= to || visit(&seg, &file, &h)?.is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------- retention

    /// Time and size retention (if `cleanup.policy` has `delete`) and
    /// removal of segments wholly below the log start offset, as Kafka's
    /// `deleteOldSegments`, with the log end offset as high watermark.
    /// Returns the number of segments deleted.
    pub fn delete_retention(&self, now_ms: i64) -> Result<usize> {
        self.delete_retention_up_to(now_ms, i64::MAX)
    }

    /// [`delete_retention`](Self::delete_retention) deleting nothing at or
    /// above `high_watermark`: a segment goes only if all its offsets are
    /// below it. An expired, non-empty active segment is rolled first and
    /// then deleted, as Kafka does.
    pub fn delete_retention_up_to(&self, now_ms: i64, high_watermark: i64) -> Result<usize> {
        let cfg = self.config();
        let mut w = self.lock_writer()?;
        let mut deleted = 0;
        if cfg.cleanup_policy.delete {
            if cfg.retention_ms >= 0 {
                deleted +=
                    self.delete_segments_while(&mut w, &cfg, now_ms, high_watermark, |seg, _| {
                        now_ms.saturating_sub(seg.largest_timestamp()) > cfg.retention_ms
                    })?;
            }
            if cfg.retention_bytes >= 0 {
                let size: u64 = self.snapshot().iter().map(|s| s.size()).sum();
                if size as i64 >= cfg.retention_bytes {
                    let mut diff = size as i64 - cfg.retention_bytes;
                    deleted += self.delete_segments_while(
                        &mut w,
                        &cfg,
                        now_ms,
                        high_watermark,
                        |seg, _| {
                            let s = seg.size() as i64;
                            if diff - s >= 0 {
                                diff -= s;
                                true
                            } else {
                                false
                            }
                        },
                    )?;
                }
            }
        }
        let log_start = self.log_start_offset();
        deleted +=
            self.delete_segments_while(&mut w, &cfg, now_ms, high_watermark, |_, next| {
                next.is_some_and(|n| n.base_offset <= log_start)
            })?;
        let log_start = self.log_start_offset();
        drop(w);
        if deleted > 0 {
            self.delete_producer_snapshots_where(|o| o < log_start)?;
        }
        Ok(deleted)
    }

    /// Deletes the oldest segments while `pred(segment, next)` holds, the
    /// segment lies below `high_watermark` and it is not the empty active
    /// segment. Rolls first if that would delete every segment.
    fn delete_segments_while(
        &self,
        w: &mut Writer,
        cfg: &LogConfig,
        now_ms: i64,
        high_watermark: i64,
        mut pred: impl FnMut(&Segment, Option<&Segment>) -> bool,
    ) -> Result<usize> {
        let segs = self.snapshot();
        let log_end = self.log_end_offset();
        let hw = high_watermark.min(log_end);
        let mut n = 0;
        for (i, seg) in segs.iter().enumerate() {
            let next = segs.get(i + 1);
            let upper = next.map_or(log_end, |s| s.base_offset);
            let last_and_empty = next.is_none() && seg.size() == 0;
            if hw >= upper && !last_and_empty && pred(seg, next.map(|s| &**s)) {
                n += 1;
            } else {
                break;
            }
        }
        if n == 0 {
            return Ok(0);
        }
        if n == segs.len() {
            self.roll(w, cfg, now_ms)?;
        }
        let doomed = &segs[..n];
        {
            let mut map = self.segments_write();
            for s in doomed {
                map.remove(&s.base_offset);
            }
            let first = *map.keys().next().expect("the active segment stays");
            self.log_start_offset.fetch_max(first, Ordering::AcqRel);
        }
        for s in doomed {
            tracing::info!(log = %self.tp, base_offset = s.base_offset, size = s.size(), "deleting segment");
            s.delete_files(&self.fds)?;
        }
        self.epochs.truncate_from_start(self.log_start_offset())?;
        Ok(n)
    }

    /// DeleteRecords: moves the log start offset up to `offset` and deletes
    /// the segments wholly below it. `offset` above `high_watermark` (or the
    /// log end) is [`Error::OffsetOutOfRange`]; below the current log start
    /// it changes nothing. Returns the new low watermark.
    pub fn delete_records_before(&self, offset: i64, high_watermark: i64) -> Result<i64> {
        let cfg = self.config();
        let mut w = self.lock_writer()?;
        let limit = high_watermark.min(self.log_end_offset());
        if offset > limit || offset < 0 {
            return Err(self.out_of_range(offset));
        }
        let moved = offset > self.log_start_offset();
        if moved {
            self.log_start_offset.fetch_max(offset, Ordering::AcqRel);
            let log_start = self.log_start_offset();
            self.delete_segments_while(&mut w, &cfg, i64::MIN, i64::MAX, |_, next| {
                next.is_some_and(|n| n.base_offset <= log_start)
            })?;
            self.epochs.truncate_from_start(log_start)?;
        }
        let log_start = self.log_start_offset();
        drop(w);
        if moved {
            self.delete_producer_snapshots_where(|o| o < log_start)?;
        }
        Ok(log_start)
    }

    // ------------------------------------------------------------ truncation

    /// Drops every batch at or above `offset` (a follower after a leader
    /// change): later segments are deleted, the segment holding `offset` is
    /// cut before the batch containing it and becomes active, indexes are
    /// trimmed and rewritten, aborted transactions whose markers were cut
    /// off are dropped, and so are leader epoch entries starting at or
    /// after the new log end (after the data is cut: a crash in between
    /// leaves entries past the log end, which the next open drops).
    /// Truncating at or past the log end still drops epoch entries at or
    /// past it (an epoch assigned by an append that then failed), as
    /// Kafka does. Returns whether anything was removed.
    pub fn truncate_to(&self, offset: i64) -> Result<bool> {
        if offset < 0 {
            return Err(self.out_of_range(offset));
        }
        let cfg = self.config();
        let mut w = self.lock_writer()?;
        if offset >= self.log_end_offset() {
            self.epochs.truncate_from_end(self.log_end_offset())?;
            return Ok(false);
        }
        let first_base = *self.segments_read().keys().next().expect("non-empty");
        if offset < first_base {
            self.truncate_fully_locked(&mut w, offset, &cfg, 0)?;
            return Ok(true);
        }
        // Producer snapshots above the cut go first (a crash then leaves
        // fewer snapshots, never one of data that is gone). Snapshots sit at
        // batch boundaries, so none lies inside the batch cut below and
        // those at or below `offset` stay at or below the new end.
        let _rewriting = Rewriting::begin(&self.rewrites);
        self.begin_truncation(offset);
        self.delete_producer_snapshots_where(|o| o > offset)?;
        let target = self.floor_segment(offset).expect("offset >= first base");
        // Later segments first, so a crash leaves a prefix of the log.
        let later: Vec<Arc<Segment>> = self
            .segments_read()
            .range(offset.saturating_add(1)..)
            .map(|(_, s)| s.clone())
            .collect();
        let later: Vec<_> = later
            .into_iter()
            .filter(|s| s.base_offset > target.base_offset)
            .collect();
        {
            let mut map = self.segments_write();
            for s in &later {
                map.remove(&s.base_offset);
            }
        }
        for s in &later {
            s.delete_files(&self.fds)?;
        }
        // Cut the target segment before the batch containing `offset`.
        let file = Arc::new(OpenOptionsExt::rw(&target.log_path)?);
        let size = target.size();
        let cut = match target.find_batch(&file, offset, size) {
            Ok(Some(h)) => h.position,
            Ok(None) => size,
            Err(ScanError::Invalid { position, .. }) => position,
            Err(ScanError::Io(e)) => {
                return Err(Error::Io {
                    op: "read",
                    path: target.log_path.clone(),
                    source: e,
                })
            }
        };
        // Readers see the smaller size before the bytes go away.
        target.size.store(cut, Ordering::Release);
        file.set_len(cut)
            .map_err(Error::io("truncate", &target.log_path))?;
        (&*file)
            .seek(SeekFrom::Start(cut))
            .map_err(Error::io("seek", &target.log_path))?;
        let new_end = rebuild_tail_state(&target, &file, cut, &cfg)?;
        target.next_offset.store(new_end, Ordering::Release);
        if cut == 0 {
            target.first_append_ms.store(-1, Ordering::Release);
        }
        file.sync_all()
            .map_err(Error::io("fsync", &target.log_path))?;
        target.persist_indexes(true)?;
        // Only after the data is cut: a crash in between leaves entries
        // beyond the log end, which the next open drops.
        target.truncate_txn_index(new_end)?;
        if !Arc::ptr_eq(&w.active, &target) {
            w.active.slot.unpin(&self.fds);
            target.slot.pin(&self.fds, file.clone());
            w.active = target;
        } else {
            target.slot.pin(&self.fds, file.clone());
        }
        w.file = Some(file);
        self.log_end_offset.store(new_end, Ordering::Release);
        self.recovery_point.fetch_min(new_end, Ordering::AcqRel);
        self.log_start_offset.fetch_min(new_end, Ordering::AcqRel);
        self.epochs.truncate_from_end(new_end)?;
        tracing::info!(log = %self.tp, offset, log_end = new_end, "truncated log");
        Ok(true)
    }

    /// Deletes every segment and starts the log over, empty, at `offset`
    /// (log start = log end = `offset`). The leader epoch cache is
    /// cleared: no epoch is known for the data to come.
    pub fn truncate_fully_and_start_at(&self, offset: i64, now_ms: i64) -> Result<()> {
        if !(0..=segment::MAX_BASE_OFFSET).contains(&offset) {
            return Err(self.out_of_range(offset));
        }
        let cfg = self.config();
        let mut w = self.lock_writer()?;
        self.truncate_fully_locked(&mut w, offset, &cfg, now_ms)
    }

    fn truncate_fully_locked(
        &self,
        w: &mut Writer,
        offset: i64,
        cfg: &LogConfig,
        now_ms: i64,
    ) -> Result<()> {
        let _rewriting = Rewriting::begin(&self.rewrites);
        self.begin_truncation(offset);
        self.delete_producer_snapshots_where(|_| true)?;
        let old: Vec<Arc<Segment>> = {
            let mut map = self.segments_write();
            std::mem::take(&mut *map).into_values().collect()
        };
        for s in &old {
            s.delete_files(&self.fds)?;
        }
        let (seg, file) = Segment::create(&self.dir, offset, cfg, &self.fds, now_ms)?;
        fsync_dir(&self.dir)?;
        let file = Arc::new(file);
        seg.slot.pin(&self.fds, file.clone());
        self.segments_write().insert(offset, seg.clone());
        w.active = seg;
        w.file = Some(file);
        self.log_end_offset.store(offset, Ordering::Release);
        self.log_start_offset.store(offset, Ordering::Release);
        self.recovery_point.store(offset, Ordering::Release);
        self.epochs.clear()?;
        tracing::info!(log = %self.tp, offset, "truncated log fully");
        Ok(())
    }

    // ---------------------------------------------------- aborted transactions

    /// Records an aborted transaction in the transaction index of the
    /// segment holding its abort marker (`txn.last_offset`), normally the
    /// active one. The marker must already be in the log
    /// (`last_offset < log_end_offset()`), `0 <= first_offset <=
    /// last_offset`, and within a segment markers must come in increasing
    /// order; otherwise [`Error::InvalidAbortedTxn`]. Adding an entry
    /// identical to one already recorded is a no-op (a retry).
    ///
    /// The entry is written to the `.txnindex` file at once; it is fsynced
    /// with the segment's data (flush, roll, close, truncation), or at once
    /// if the segment is no longer the active one.
    pub fn append_aborted_txn(&self, txn: AbortedTxn) -> Result<()> {
        if let Some(reason) = txn.range_problem() {
            return Err(Error::InvalidAbortedTxn { txn, reason });
        }
        let w = self.lock_writer()?;
        let log_end = self.log_end_offset();
        if txn.last_offset >= log_end {
            return Err(Error::InvalidAbortedTxn {
                txn,
                reason: format!(
                    "marker offset {} is not below the log end {log_end}",
                    txn.last_offset
                ),
            });
        }
        let seg = self
            .floor_segment(txn.last_offset)
            .ok_or_else(|| Error::InvalidAbortedTxn {
                txn,
                reason: format!(
                    "marker offset {} is below the first segment",
                    txn.last_offset
                ),
            })?;
        let active = Arc::ptr_eq(&seg, &w.active);
        seg.append_aborted_txn(txn, !active)
    }

    /// The aborted transactions a fetch of `[from_offset, upper_offset)`
    /// must report: every recorded entry with `last_offset >= from_offset`
    /// and `first_offset < upper_offset`, in log order (segment by segment,
    /// each in marker order). Reads memory only.
    ///
    /// The scan starts at the segment containing `from_offset` (earlier
    /// segments only hold markers below it) and goes on to the end of the
    /// log: a transaction that starts below `upper_offset` may have its
    /// marker in a much later segment. Segments whose entries all start at
    /// or after `upper_offset` are skipped without looking at them.
    /// `last_stable_offset` is stored but not relied on.
    pub fn collect_aborted_txns(&self, from_offset: i64, upper_offset: i64) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        let map = self.segments_read();
        let start = map
            .range(..=from_offset)
            .next_back()
            .map_or(i64::MIN, |(&b, _)| b);
        for seg in map.range(start..).map(|(_, s)| s) {
            seg.txns().collect(from_offset, upper_offset, &mut out);
        }
        out
    }

    // ----------------------------------------------------------------- flush

    /// fsyncs everything appended so far and moves the recovery point to
    /// the log end. Also writes new index entries (without fsync: indexes
    /// above the recovery point are rebuilt after a crash anyway) and
    /// fsyncs new transaction index entries (those are not rebuilt).
    pub fn flush(&self, now_ms: i64) -> Result<()> {
        let mut w = self.lock_writer()?;
        self.flush_locked(&mut w, now_ms)
    }

    /// Flushes if `flush.messages` or `flush.ms` says so; the broker calls
    /// this from a timer. Returns whether it flushed.
    pub fn maybe_flush(&self, now_ms: i64) -> Result<bool> {
        let cfg = self.config();
        let mut w = self.lock_writer()?;
        let unflushed = self.log_end_offset() - self.recovery_point();
        if unflushed > 0
            && (unflushed >= cfg.flush_messages
                || now_ms.saturating_sub(w.last_flush_ms) >= cfg.flush_ms)
        {
            self.flush_locked(&mut w, now_ms)?;
            return Ok(true);
        }
        Ok(false)
    }

    fn flush_locked(&self, w: &mut Writer, now_ms: i64) -> Result<()> {
        let log_end = self.log_end_offset();
        let rp = self.recovery_point();
        // Any segment holding offsets above the recovery point (normally
        // just the active one: older ones were fsynced when rolled).
        for seg in self.snapshot().iter().rev() {
            if seg.next_offset() <= rp && !Arc::ptr_eq(seg, &w.active) {
                break;
            }
            if Arc::ptr_eq(seg, &w.active) {
                w.file()?
                    .sync_data()
                    .map_err(Error::io("fsync", &seg.log_path))?;
                seg.persist_indexes(false)?;
            } else {
                let f = self.segment_file(seg, seg.base_offset)?;
                f.sync_data().map_err(Error::io("fsync", &seg.log_path))?;
            }
            // Unlike the offset and time indexes, the transaction index
            // cannot be rebuilt from the data: make it as durable as the
            // data.
            seg.sync_txn_index()?;
        }
        self.recovery_point.fetch_max(log_end, Ordering::AcqRel);
        w.last_flush_ms = now_ms;
        Ok(())
    }

    /// Clean close: seals the active segment's time index, writes and
    /// fsyncs its indexes and data, and refuses later appends. Reads keep
    /// working.
    pub fn close(&self) -> Result<()> {
        let mut w = lock(&self.writer);
        if w.closed {
            return Ok(());
        }
        let seg = w.active.clone();
        seg.state_mut().seal(seg.base_offset);
        seg.persist_indexes(true)?;
        // The recovery point only moves past fsynced data.
        if self.recovery_point() < self.log_end_offset() {
            w.file()?
                .sync_all()
                .map_err(Error::io("fsync", &seg.log_path))?;
        }
        self.recovery_point
            .store(self.log_end_offset(), Ordering::Release);
        seg.slot.unpin(&self.fds);
        w.file = None;
        w.closed = true;
        self.closed.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes a running cleaning pass stop at its next batch, and later
    /// passes stop at once (for shutdown). Nothing is swapped halfway: a
    /// stopped pass leaves the log as its last finished group did.
    pub fn stop_cleaning(&self) {
        self.cleaning_stopped.store(true, Ordering::Release);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Closes the log and releases every file handle it holds (for
    /// deletion of the log directory).
    pub(crate) fn close_for_delete(&self) {
        let mut w = lock(&self.writer);
        w.closed = true;
        w.file = None;
        self.closed.store(true, Ordering::Release);
        for s in self.snapshot() {
            s.slot.unpin(&self.fds);
        }
    }
}

/// The ways to open a file this module needs.
struct OpenOptionsExt;
impl OpenOptionsExt {
    fn rw(path: &Path) -> Result<File> {
        fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(Error::io("open", path))
    }
}

/// Runs a read-only operation again when the cleaner replaced a segment
/// under it (it then sees the new segment list). Each swap needs the
/// writer lock and a full cleaning pass, so a few attempts suffice.
fn retry_replaced<T>(mut op: impl FnMut() -> Result<T>) -> Result<T> {
    for _ in 0..4 {
        match op() {
            Err(Error::SegmentReplaced) => continue,
            other => return other,
        }
    }
    op()
}

fn next_or_io(scan: &mut HeaderScanner<'_>, seg: &Segment) -> Result<Option<BatchHeader>> {
    match scan.next_header() {
        Ok(h) => Ok(h),
        Err(ScanError::Invalid { .. }) => Ok(None),
        Err(ScanError::Io(e)) => Err(Error::Io {
            op: "read",
            path: seg.log_path.clone(),
            source: e,
        }),
    }
}

/// Recomputes a truncated segment's bookkeeping: trims index entries at
/// or beyond `cut`, then rescans the headers after the last remaining
/// entry for the timestamps and the next offset.
fn rebuild_tail_state(seg: &Segment, file: &File, cut: u64, cfg: &LogConfig) -> Result<i64> {
    let mut st = seg.state_mut();
    st.offsets
        .truncate_to_position(cut.min(u64::from(u32::MAX)) as u32);
    let tail_start = st.offsets.entries.last().map_or(0, |&(_, p)| u64::from(p));
    let mut scan = HeaderScanner::new(file, tail_start, cut);
    let mut headers = Vec::new();
    while let Some(h) = next_or_io(&mut scan, seg)? {
        headers.push(h);
    }
    let next = headers.last().map_or_else(
        || {
            st.offsets
                .entries
                .last()
                .map_or(seg.base_offset, |&(o, _)| {
                    seg.base_offset + i64::from(o) + 1
                })
        },
        |h| h.last_offset + 1,
    );
    st.times
        .truncate_to_offset((next - seg.base_offset).clamp(0, i64::from(u32::MAX)) as u32);
    st.max_timestamp = -1;
    st.offset_of_max_timestamp = -1;
    if let Some(&(t, o)) = st.times.entries.last() {
        st.max_timestamp = t;
        st.offset_of_max_timestamp = seg.base_offset + i64::from(o);
    }
    if cut == 0 {
        st.rolling_timestamp = -1;
    }
    st.bytes_since_last_entry = 0;
    for h in &headers {
        if h.position == tail_start && tail_start > 0 {
            if h.max_timestamp > st.max_timestamp {
                st.max_timestamp = h.max_timestamp;
                st.offset_of_max_timestamp = h.last_offset;
            }
            st.bytes_since_last_entry = h.size;
        } else {
            st.on_batch(seg.base_offset, h, cfg.index_interval_bytes);
        }
    }
    Ok(next)
}

/// Splits and sanity checks an append's bytes (whole v2 batches, each with
/// at least one offset).
fn split_batches(batches: Bytes) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for b in BatchSplitter::new(batches) {
        let b = b.map_err(|e| Error::InvalidRecords(e.to_string()))?;
        if b.last_offset_delta() < 0 || b.record_count() < 0 {
            return Err(Error::InvalidRecords(format!(
                "batch with last offset delta {} and {} records",
                b.last_offset_delta(),
                b.record_count()
            )));
        }
        out.push(b);
    }
    if out.is_empty() {
        return Err(Error::InvalidRecords("no record batches".into()));
    }
    Ok(out)
}

/// Sets LogAppendTime and max timestamp in a header and recomputes the CRC
/// over the patched header tail and the untouched record bytes (one pass,
/// no copy of the records).
fn stamp_log_append_time(header: &mut [u8; BATCH_HEADER_LEN], rest: &[u8], now_ms: i64) {
    let at = offsets::ATTRIBUTES;
    let attrs = i16::from_be_bytes([header[at], header[at + 1]]) | Attributes::TIMESTAMP_TYPE;
    header[at..at + 2].copy_from_slice(&attrs.to_be_bytes());
    header[offsets::MAX_TIMESTAMP..offsets::MAX_TIMESTAMP + 8]
        .copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header[offsets::ATTRIBUTES..]), rest);
    header[offsets::CRC..offsets::CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Writes every pending batch (header from its buffer, the rest straight
/// from the request's `Bytes`) with `writev`, looping over partial writes.
fn write_all_vectored(file: &File, pending: &[Pending]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(pending.len() * 2);
    for p in pending {
        slices.push(IoSlice::new(&p.header));
        if !p.rest.is_empty() {
            slices.push(IoSlice::new(&p.rest));
        }
    }
    let mut bufs = &mut slices[..];
    let mut f = file;
    while !bufs.is_empty() {
        match f.write_vectored(bufs) {
            Ok(0) => return Err(io::Error::new(ErrorKind::WriteZero, "write returned 0")),
            Ok(n) => IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Lists a log directory: removes leftovers (`*.deleted`, `*.tmp`,
/// `*.cleaned`, `*.swap`, indexes without a `.log`) and returns the base
/// offsets of the `.log` files, sorted.
fn scan_dir(dir: &Path) -> Result<(Vec<i64>, bool)> {
    let mut removed = false;
    let mut bases = Vec::new();
    let mut indexes = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let path = entry.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        // `.cleaned` and `.swap` files left here were never committed
        // (`cleaner::complete_swaps` ran first).
        if name.ends_with(DELETED_SUFFIX)
            || name.ends_with(checkpoint::TMP_SUFFIX)
            || name.ends_with(cleaner::CLEANED_SUFFIX)
            || name.ends_with(cleaner::SWAP_SUFFIX)
        {
            tracing::warn!(file = %path.display(), "removing leftover file");
            segment::remove_if_exists(&path)?;
            removed = true;
            continue;
        }
        let Some((stem, ext)) = name.rsplit_once('.') else {
            continue;
        };
        let base = if stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()) {
            stem.parse::<i64>()
                .ok()
                .filter(|&b| b <= segment::MAX_BASE_OFFSET)
        } else {
            None
        };
        match (ext, base) {
            (LOG_SUFFIX, Some(b)) => bases.push(b),
            (INDEX_SUFFIX | TIME_INDEX_SUFFIX | TXN_INDEX_SUFFIX, Some(b)) => {
                indexes.push((b, path))
            }
            (LOG_SUFFIX | INDEX_SUFFIX | TIME_INDEX_SUFFIX | TXN_INDEX_SUFFIX, None) => {
                tracing::warn!(file = %path.display(), "ignoring segment file with a bad name");
            }
            _ => {}
        }
    }
    bases.sort_unstable();
    for (b, path) in indexes {
        if bases.binary_search(&b).is_err() {
            tracing::warn!(file = %path.display(), "removing index without a segment");
            segment::remove_if_exists(&path)?;
            removed = true;
        }
    }
    Ok((bases, removed))
}

fn delete_segment_files(dir: &Path, base: i64) -> Result<()> {
    for ext in [
        LOG_SUFFIX,
        INDEX_SUFFIX,
        TIME_INDEX_SUFFIX,
        TXN_INDEX_SUFFIX,
    ] {
        segment::remove_if_exists(&dir.join(segment::segment_file_name(base, ext)))?;
    }
    Ok(())
}

/// Groups `pending` in order into pieces of at most `limit` bytes each (a
/// batch larger than `limit` alone in its piece, for `write_pending` to
/// refuse).
fn split_to_fit(pending: Vec<Pending>, limit: u64) -> Vec<Vec<Pending>> {
    let mut pieces: Vec<Vec<Pending>> = Vec::new();
    let mut size = 0u64;
    for p in pending {
        match pieces.last_mut() {
            Some(piece) if size + p.info.size <= limit => {
                size += p.info.size;
                piece.push(p);
            }
            _ => {
                size = p.info.size;
                pieces.push(vec![p]);
            }
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn log_is_send_and_sync() {
        assert_send_sync::<Log>();
    }
}
