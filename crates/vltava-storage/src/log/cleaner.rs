//! Log compaction (Kafka's log cleaner), for logs whose `cleanup.policy`
//! has `compact`: every key keeps at least its last record.
//!
//! One pass of [`Log::clean`]:
//!
//! 1. **Key map.** The dirty section, from the first offset not yet
//!    cleaned (the caller's checkpoint) to the first uncleanable offset,
//!    is read and every key's last offset goes into a map. Records of
//!    aborted transactions and control records are left out. The map has
//!    a memory budget; when it is full the pass ends the dirty section
//!    early at a batch boundary and the next pass continues from there.
//! 2. **Rewrite.** Every non-active segment below the map's end is read
//!    from the log start, in groups of consecutive segments that fit in
//!    one segment, and written to a new segment with the same base
//!    offset. A record is kept unless the map has a later offset for its
//!    key, it has no key, it is a tombstone past its delete horizon, or it
//!    belongs to an aborted transaction. A transaction marker is dropped
//!    once its transaction has no records left and its delete horizon has
//!    passed.
//! 3. **Swap.** The new segment replaces the group under the writer lock
//!    (crash-safe through `.swap` files; see [`complete_swaps`]).
//!
//! Rewritten batches keep their base offset and their last offset (so a
//! producer's sequence numbers still line up); a batch whose records are
//! all removed is dropped, unless it is the last batch of its producer,
//! which stays as an empty batch so the producer's state survives a
//! restart. Batches kept whole are copied byte for byte.
//!
//! Delete horizons (KIP-534): the first pass that keeps a tombstone, or a
//! marker whose transaction has no records left, rewrites its batch with
//! `delete horizon = now + delete.retention.ms` in the base timestamp;
//! a later pass removes it once the horizon has passed. Consumers that
//! lag by less than `delete.retention.ms` therefore still see deletes.
//!
//! The active segment is never cleaned, nor anything at or above the
//! caller's upper bound (the last stable offset: an open transaction's
//! records may yet be aborted), nor a segment holding records newer than
//! `min.compaction.lag.ms`.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use vltava_records::batch::BATCH_HEADER_LEN;
use vltava_records::{ControlRecordType, RecordBatch, RecordBatchBuilder, TimestampType};

use super::{next_or_io, Log};
use crate::checkpoint::fsync_dir;
use crate::error::{Error, Result};
use crate::index::{self, OFFSET_ENTRY_LEN, TIME_ENTRY_LEN};
use crate::segment::{
    self, parse_header, BatchHeader, HeaderScanner, Segment, SegmentState, INDEX_SUFFIX,
    LOG_SUFFIX, MAX_RELATIVE_OFFSET, TIME_INDEX_SUFFIX,
};
use crate::txnindex::{self, AbortedTxn, TXN_INDEX_SUFFIX};

/// Suffix of a cleaned segment's files while they are written.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a cleaned segment's files once committed, before they
/// replace the old segments.
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// Bytes a key costs in the key map beyond its own length (the boxed
/// slice, the offset and the hash table's share), for the budget.
const MAP_ENTRY_OVERHEAD: usize = 48;

/// Each key of the dirty section and the offset of its last record. Whole
/// keys, not digests: no two keys can collide (Kafka keeps MD5 digests,
/// which crafted keys could collide to delete another key's record).
type KeyMap = HashMap<Box<[u8]>, i64>;

/// Where a log stands for the cleaner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanableRange {
    /// The first offset not yet cleaned: the caller's checkpoint, moved
    /// to the log start if it is outside the log.
    pub first_dirty_offset: i64,
    /// The first offset the cleaner may not touch: the active segment's
    /// base, the caller's upper bound, or the first segment with records
    /// newer than `min.compaction.lag.ms`, whichever is lowest.
    pub first_uncleanable_offset: i64,
    /// Bytes of the segments wholly below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the segments from the first dirty offset up to the first
    /// uncleanable one.
    pub dirty_bytes: u64,
    /// The oldest dirty record is older than `max.compaction.lag.ms`.
    pub overdue: bool,
}

impl CleanableRange {
    /// `dirty / (clean + dirty)`, 0 for nothing cleanable.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

/// Limits of one cleaning pass.
#[derive(Debug, Clone, Copy)]
pub struct CleanerLimits {
    /// Memory for the key map (`log.cleaner.dedupe.buffer.size`).
    pub map_budget_bytes: usize,
    /// Largest decompressed batch the cleaner reads.
    pub max_decompressed_bytes: usize,
    /// Bytes per second the pass may read plus write
    /// (`log.cleaner.io.max.bytes.per.second`); infinite (or below 1) for
    /// no limit.
    pub max_io_bytes_per_second: f64,
}

impl Default for CleanerLimits {
    fn default() -> Self {
        CleanerLimits {
            map_budget_bytes: 128 << 20,
            max_decompressed_bytes: vltava_records::compression::DEFAULT_MAX_DECOMPRESSED,
            max_io_bytes_per_second: f64::INFINITY,
        }
    }
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Where the dirty section began.
    pub first_dirty_offset: i64,
    /// Where the next pass's dirty section begins (the new checkpoint).
    pub end_offset: i64,
    /// Segments read and rewritten.
    pub segments_read: usize,
    /// Segments that replaced them (groups whose contents changed).
    pub segments_written: usize,
    /// Bytes of the segments read.
    pub bytes_read: u64,
    /// Bytes of what stands in their place.
    pub bytes_written: u64,
    /// Records (and markers) looked at.
    pub records_read: u64,
    /// Records (and markers) removed.
    pub records_removed: u64,
    /// Distinct keys in the key map.
    pub keys_mapped: usize,
    /// Earliest delete horizon of a tombstone or removable marker still
    /// in the log: the next pass worth running for them alone.
    pub next_delete_horizon: Option<i64>,
    /// The log changed under the pass (retention, truncation) and it
    /// stopped before the end; `end_offset` is still correct.
    pub interrupted: bool,
}

impl Log {
    /// The cleanable range for a cleaner checkpoint `checkpoint` and an
    /// upper bound (the last stable offset) at `now_ms`.
    pub fn cleanable_range(
        &self,
        checkpoint: i64,
        upper_bound: i64,
        now_ms: i64,
    ) -> CleanableRange {
        let cfg = self.config();
        let segs = self.snapshot();
        let log_start = self.log_start_offset();
        let log_end = self.log_end_offset();
        let first_dirty = if checkpoint < log_start || checkpoint > log_end {
            log_start
        } else {
            checkpoint
        };
        let active_base = segs.last().map_or(log_end, |s| s.base_offset);
        let mut uncleanable = active_base.min(upper_bound).min(log_end);
        if cfg.min_compaction_lag_ms > 0 {
            let horizon = now_ms.saturating_sub(cfg.min_compaction_lag_ms);
            if let Some(young) = segs.iter().find(|s| {
                s.next_offset() > first_dirty && s.size() > 0 && s.largest_timestamp() > horizon
            }) {
                uncleanable = uncleanable.min(young.base_offset.max(first_dirty));
            }
        }
        let uncleanable = uncleanable.max(first_dirty);
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        let mut overdue = false;
        for s in &segs {
            if s.base_offset >= uncleanable {
                break;
            }
            if s.next_offset() <= first_dirty || first_dirty >= uncleanable {
                clean_bytes += s.size();
            } else {
                dirty_bytes += s.size();
                if !overdue && cfg.max_compaction_lag_ms < i64::MAX && s.size() > 0 {
                    let first_ts = s.state().rolling_timestamp;
                    overdue = first_ts >= 0
                        && now_ms.saturating_sub(first_ts) > cfg.max_compaction_lag_ms;
                }
            }
        }
        CleanableRange {
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: uncleanable,
            clean_bytes,
            dirty_bytes,
            overdue,
        }
    }

    fn check_cleaning_allowed(&self) -> Result<()> {
        if self.cleaning_halted() {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// The log was deleted or closed, or `stop_cleaning` was called.
    fn cleaning_halted(&self) -> bool {
        self.is_closed()
            || self
                .cleaning_stopped
                .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the log has a segment the cleaner could rewrite (one that
    /// is not the active segment).
    pub fn has_inactive_segments(&self) -> bool {
        self.segment_count() > 1
    }

    /// One cleaning pass (see the module docs). `checkpoint` is where the
    /// last pass ended; `upper_bound` the last stable offset. Returns what
    /// was done, including the next checkpoint.
    pub fn clean(
        &self,
        checkpoint: i64,
        upper_bound: i64,
        now_ms: i64,
        limits: CleanerLimits,
    ) -> Result<CleanStats> {
        match self.clean_pass(checkpoint, upper_bound, now_ms, limits) {
            // Retention (or the log start moving) took a segment the pass
            // was reading: not a failure of the log. The dirty section
            // starts where it did (re-cleaning clean records is harmless).
            Err(Error::OffsetOutOfRange { .. } | Error::SegmentReplaced) => {
                let first_dirty = self
                    .cleanable_range(checkpoint, upper_bound, now_ms)
                    .first_dirty_offset;
                Ok(CleanStats {
                    first_dirty_offset: first_dirty,
                    end_offset: first_dirty,
                    interrupted: true,
                    ..CleanStats::default()
                })
            }
            other => other,
        }
    }

    fn clean_pass(
        &self,
        checkpoint: i64,
        upper_bound: i64,
        now_ms: i64,
        limits: CleanerLimits,
    ) -> Result<CleanStats> {
        let cfg = self.config();
        let range = self.cleanable_range(checkpoint, upper_bound, now_ms);
        let mut stats = CleanStats {
            first_dirty_offset: range.first_dirty_offset,
            end_offset: range.first_dirty_offset,
            ..CleanStats::default()
        };

        let mut throttle = Throttle::new(limits.max_io_bytes_per_second);
        // 1. The key map over the dirty section.
        let (map, map_end) = self.build_key_map(&range, limits, &mut throttle)?;
        stats.keys_mapped = map.len();
        stats.end_offset = map_end;

        // 2. The segments to rewrite: every non-active one below the map's end.
        let segs = self.snapshot();
        let Some((_active, older)) = segs.split_last() else {
            return Ok(stats);
        };
        // Only segments wholly below the first uncleanable offset: above the
        // last stable offset an abort marker may not have its index entry
        // yet, and that entry must not be lost in a swap.
        let targets: Vec<Arc<Segment>> = older
            .iter()
            .filter(|s| {
                s.base_offset < map_end.max(range.first_dirty_offset)
                    && s.next_offset() <= range.first_uncleanable_offset
            })
            .cloned()
            .collect();
        if targets.is_empty() {
            return Ok(stats);
        }
        let last_batch_of_producer = self.last_batches_of_producers(&targets)?;
        let upper = targets.last().map_or(0, |s| s.next_offset());
        let mut txns = TxnCleaning::new(self.collect_aborted_txns(self.log_start_offset(), upper));
        let ctx = PassContext {
            map: &map,
            last_batch_of_producer: &last_batch_of_producer,
            now_ms,
            delete_retention_ms: cfg.delete_retention_ms,
            max_decompressed: limits.max_decompressed_bytes,
        };
        for group in group_segments(&targets, u64::from(cfg.segment_bytes)) {
            let done =
                self.clean_group(&group, &ctx, &mut txns, &cfg, &mut stats, &mut throttle)?;
            if !done {
                stats.interrupted = true;
                // Nothing after the group was cleaned: the dirty section
                // still starts where it did unless the map ended before.
                stats.end_offset = stats
                    .end_offset
                    .min(group[0].base_offset)
                    .max(range.first_dirty_offset);
                break;
            }
        }
        Ok(stats)
    }

    /// Maps every key of the dirty section to its last offset. Returns the
    /// map and the offset it covers up to (exclusive).
    fn build_key_map(
        &self,
        range: &CleanableRange,
        limits: CleanerLimits,
        throttle: &mut Throttle,
    ) -> Result<(KeyMap, i64)> {
        let mut map = KeyMap::new();
        let (from, to) = (range.first_dirty_offset, range.first_uncleanable_offset);
        if from >= to {
            return Ok((map, from));
        }
        let mut used = 0usize;
        let mut aborted = AbortedTracker::new(self.collect_aborted_txns(from, to));
        let mut keys: Vec<(Bytes, i64)> = Vec::new();
        let mut map_end = to;
        self.visit_headers(from, to, |seg, file, h| {
            self.check_cleaning_allowed()?;
            throttle.account(h.size, || self.cleaning_halted());
            let batch = self.read_batch(seg, file, h)?;
            let is_aborted = aborted.batch_is_aborted(&batch);
            if batch.is_control() || is_aborted {
                return Ok(ControlFlow::Continue(()));
            }
            keys.clear();
            let records = batch
                .records_with_limit(limits.max_decompressed_bytes)
                .map_err(|e| Error::corrupt(&seg.log_path, e.to_string()))?;
            for r in records {
                let r = r.map_err(|e| Error::corrupt(&seg.log_path, e.to_string()))?;
                if let Some(k) = r.key {
                    keys.push((k, r.offset));
                }
            }
            let extra: usize = keys
                .iter()
                .filter(|(k, _)| !map.contains_key(&k[..]))
                .map(|(k, _)| k.len() + MAP_ENTRY_OVERHEAD)
                .sum();
            if used + extra > limits.map_budget_bytes {
                if map.is_empty() {
                    return Err(Error::InvalidConfig(format!(
                        "the cleaner's key map budget of {} bytes cannot hold the keys of the batch at offset {} of {}",
                        limits.map_budget_bytes, h.base_offset, self.tp
                    )));
                }
                // Full: the dirty section ends before this batch.
                map_end = h.base_offset;
                return Ok(ControlFlow::Break(()));
            }
            used += extra;
            for (k, offset) in keys.drain(..) {
                map.insert(Box::from(&k[..]), offset);
            }
            Ok(ControlFlow::Continue(()))
        })?;
        Ok((map, map_end))
    }

    /// The last offset of the last batch of each producer in `segs`.
    fn last_batches_of_producers(&self, segs: &[Arc<Segment>]) -> Result<HashMap<i64, i64>> {
        let mut last = HashMap::new();
        for seg in segs {
            if seg.size() == 0 {
                continue;
            }
            let file = self.segment_file(seg, seg.base_offset)?;
            let mut scan = HeaderScanner::new(&file, 0, seg.size());
            while let Some(h) = next_or_io(&mut scan, seg)? {
                if h.producer_id >= 0 {
                    last.insert(h.producer_id, h.last_offset);
                }
            }
        }
        Ok(last)
    }

    /// Rewrites one group of segments into one and swaps it in. Returns
    /// false if the log changed under it (nothing swapped).
    fn clean_group(
        &self,
        group: &[Arc<Segment>],
        ctx: &PassContext<'_>,
        txns: &mut TxnCleaning,
        cfg: &crate::config::LogConfig,
        stats: &mut CleanStats,
        throttle: &mut Throttle,
    ) -> Result<bool> {
        let base = group[0].base_offset;
        let paths = SegmentPaths::new(&self.dir, base);
        let out_path = paths.with_suffix(LOG_SUFFIX, CLEANED_SUFFIX);
        // Several segments always become one. A single segment is written
        // only from its first change on (the batches kept before it are
        // then copied over as they are): a pass that changes nothing in it,
        // such as the first one after a restart looking for expired
        // tombstones, only reads it.
        let mut out = if group.len() > 1 {
            Some(CleanedWriter::create(&out_path, cfg)?)
        } else {
            None
        };
        let mut unchanged_prefix: Vec<BatchHeader> = Vec::new();
        let mut kept_txns: Vec<AbortedTxn> = Vec::new();
        let bytes_in: u64 = group.iter().map(|s| s.size()).sum();
        let result = (|| -> Result<()> {
            for seg in group {
                if seg.size() == 0 {
                    continue;
                }
                let file = self.segment_file(seg, seg.base_offset)?;
                let mut scan = HeaderScanner::new(&file, 0, seg.size());
                while let Some(h) = next_or_io(&mut scan, seg)? {
                    // A deleted log (its directory is going) or a shutdown
                    // stops the pass.
                    self.check_cleaning_allowed()?;
                    throttle.account(h.size, || self.cleaning_halted());
                    let batch = self.read_batch(seg, &file, &h)?;
                    let decision = ctx
                        .decide(&batch, txns, &mut kept_txns, stats)
                        .map_err(|e| Error::corrupt(&seg.log_path, e))?;
                    if matches!(decision, Decision::Keep) && out.is_none() {
                        unchanged_prefix.push(h);
                        continue;
                    }
                    let writer = match &mut out {
                        Some(w) => w,
                        None => {
                            let mut w = CleanedWriter::create(&out_path, cfg)?;
                            let prefix: u64 = unchanged_prefix.iter().map(|h| h.size).sum();
                            throttle.account(prefix, || self.cleaning_halted());
                            w.copy_prefix(base, &file, &seg.log_path, &unchanged_prefix)?;
                            out.insert(w)
                        }
                    };
                    match decision {
                        Decision::Keep => {
                            throttle.account(h.size, || self.cleaning_halted());
                            writer.write_batch(base, batch.as_bytes())?;
                        }
                        Decision::Replace(bytes) => {
                            throttle.account(bytes.len() as u64, || self.cleaning_halted());
                            writer.write_batch(base, &bytes)?;
                        }
                        Decision::Drop => {}
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = result {
            paths.remove_all(CLEANED_SUFFIX);
            return Err(e);
        }
        stats.segments_read += group.len();
        stats.bytes_read += bytes_in;
        let Some(out) = out else {
            // Nothing in the one segment changed: it stays as it is.
            stats.bytes_written += bytes_in;
            return Ok(true);
        };
        let (state, size, next) = match out.finish(base) {
            Ok(v) => v,
            Err(e) => {
                paths.remove_all(CLEANED_SUFFIX);
                return Err(e);
            }
        };
        if let Err(e) = write_cleaned_indexes(&paths, &state, &kept_txns) {
            paths.remove_all(CLEANED_SUFFIX);
            return Err(e);
        }

        // 3. The swap, under the writer lock so no retention, truncation or
        // roll runs at the same time.
        let w = match self.lock_writer() {
            Ok(w) => w,
            Err(e) => {
                paths.remove_all(CLEANED_SUFFIX);
                return Err(e);
            }
        };
        let still_there = {
            let map = self.segments_read();
            group
                .iter()
                .all(|s| map.get(&s.base_offset).is_some_and(|m| Arc::ptr_eq(m, s)))
                && !group.iter().any(|s| Arc::ptr_eq(s, &w.active))
        };
        if !still_there {
            paths.remove_all(CLEANED_SUFFIX);
            return Ok(false);
        }
        // Commit: the `.log.swap` rename, after the index files' renames.
        for ext in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
            rename(
                &paths.with_suffix(ext, CLEANED_SUFFIX),
                &paths.with_suffix(ext, SWAP_SUFFIX),
            )?;
        }
        fsync_dir(&self.dir)?;
        rename(
            &paths.with_suffix(LOG_SUFFIX, CLEANED_SUFFIX),
            &paths.with_suffix(LOG_SUFFIX, SWAP_SUFFIX),
        )?;
        fsync_dir(&self.dir)?;
        // From here on a crash is completed by `complete_swaps` at open.
        // The new segment is published first, reading through a handle on
        // the `.swap` file (its final name still holds the old bytes); the
        // old segments are retired next, so a reader holding one starts
        // over and finds the new one; then the files take their names.
        let swap_log = paths.with_suffix(LOG_SUFFIX, SWAP_SUFFIX);
        let swap_file = Arc::new(File::open(&swap_log).map_err(Error::io("open", &swap_log))?);
        let seg = Segment::from_cleaned(
            &self.dir, base, &self.fds, state, size, next, ctx.now_ms, kept_txns,
        );
        seg.slot.pin(&self.fds, swap_file);
        {
            let mut map = self.segments_write();
            for s in group {
                map.remove(&s.base_offset);
            }
            map.insert(base, seg.clone());
        }
        for s in group {
            s.slot.retire(&self.fds);
        }
        for s in &group[1..] {
            s.delete_files(&self.fds)?;
        }
        finish_swap(&self.dir, base)?;
        fsync_dir(&self.dir)?;
        // Later opens find the new file under its final name.
        seg.slot.unpin(&self.fds);
        drop(w);
        stats.segments_written += 1;
        stats.bytes_written += size;
        tracing::debug!(log = %self.tp, base_offset = base, segments = group.len(), bytes_in, bytes_out = size, "cleaned segments");
        Ok(true)
    }
}

/// Paces a pass to `log.cleaner.io.max.bytes.per.second`, as Kafka's
/// `Throttler`: after each read or write it sleeps for as long as the pass
/// is ahead of the rate, measured over windows of about a second. The only
/// use of the clock in this crate, and for pacing alone: nothing a pass
/// decides depends on it.
pub(crate) struct Throttle {
    bytes_per_second: f64,
    window_start: std::time::Instant,
    window_bytes: u64,
}

impl Throttle {
    fn new(bytes_per_second: f64) -> Self {
        Throttle {
            bytes_per_second,
            window_start: std::time::Instant::now(),
            window_bytes: 0,
        }
    }

    /// Sleeps while the pass is ahead of the rate, in short steps so that
    /// `halted` (a deleted log, a shutdown) ends the wait.
    fn account(&mut self, bytes: u64, halted: impl Fn() -> bool) {
        // Below one byte a second is not a usable rate (and could make the
        // wait overflow): no throttle, as for infinity.
        if !self.bytes_per_second.is_finite() || self.bytes_per_second < 1.0 {
            return;
        }
        self.window_bytes += bytes;
        let due = std::time::Duration::try_from_secs_f64(
            self.window_bytes as f64 / self.bytes_per_second,
        )
        .unwrap_or(std::time::Duration::MAX);
        loop {
            let elapsed = self.window_start.elapsed();
            if due <= elapsed || halted() {
                break;
            }
            std::thread::sleep((due - elapsed).min(std::time::Duration::from_millis(100)));
        }
        if self.window_start.elapsed() >= std::time::Duration::from_secs(1) {
            self.window_start = std::time::Instant::now();
            self.window_bytes = 0;
        }
    }
}

/// Consecutive runs of segments whose bytes fit in one segment and whose
/// offsets fit the relative offsets of one index.
fn group_segments(segs: &[Arc<Segment>], max_bytes: u64) -> Vec<Vec<Arc<Segment>>> {
    let mut groups: Vec<Vec<Arc<Segment>>> = Vec::new();
    let mut size = 0u64;
    for s in segs {
        let fits = groups.last().is_some_and(|g| {
            size + s.size() <= max_bytes
                && s.next_offset().max(s.base_offset) - g[0].base_offset <= MAX_RELATIVE_OFFSET
        });
        if fits {
            size += s.size();
            groups.last_mut().expect("non-empty").push(s.clone());
        } else {
            size = s.size();
            groups.push(vec![s.clone()]);
        }
    }
    groups
}

/// What a pass knows while it decides about batches.
struct PassContext<'a> {
    map: &'a KeyMap,
    last_batch_of_producer: &'a HashMap<i64, i64>,
    now_ms: i64,
    delete_retention_ms: i64,
    max_decompressed: usize,
}

enum Decision {
    Keep,
    Replace(Bytes),
    Drop,
}

impl PassContext<'_> {
    fn new_horizon(&self) -> i64 {
        self.now_ms.saturating_add(self.delete_retention_ms)
    }

    fn horizon_passed(&self, batch: &RecordBatch) -> bool {
        batch.has_delete_horizon() && self.now_ms >= batch.base_timestamp()
    }

    fn note_horizon(stats: &mut CleanStats, horizon: i64) {
        stats.next_delete_horizon = Some(
            stats
                .next_delete_horizon
                .map_or(horizon, |h| h.min(horizon)),
        );
    }

    fn decide(
        &self,
        batch: &RecordBatch,
        txns: &mut TxnCleaning,
        kept_txns: &mut Vec<AbortedTxn>,
        stats: &mut CleanStats,
    ) -> std::result::Result<Decision, String> {
        let count = u64::try_from(batch.record_count().max(0)).unwrap_or(0);
        stats.records_read += count;
        txns.start_batch(batch.base_offset());
        if batch.is_control() {
            let kind = control_type(batch)?;
            let removable = txns.on_marker(batch.producer_id(), kind, kept_txns);
            // A producer's last batch stays, markers included: its state
            // (epoch, sequence, no open transaction) is rebuilt from it.
            if !removable || self.is_last_of_producer(batch) {
                return Ok(Decision::Keep);
            }
            if self.horizon_passed(batch) {
                stats.records_removed += count;
                return Ok(Decision::Drop);
            }
            if batch.has_delete_horizon() {
                Self::note_horizon(stats, batch.base_timestamp());
                return Ok(Decision::Keep);
            }
            let horizon = self.new_horizon();
            Self::note_horizon(stats, horizon);
            return self
                .rewrite(batch, Some(horizon), |_| true)
                .map(Decision::Replace);
        }
        let aborted = batch.is_transactional() && txns.on_data(batch.producer_id());
        let retain_deletes = !self.horizon_passed(batch);
        let mut kept = 0u64;
        let mut tombstones = 0u64;
        if !aborted {
            let records = batch
                .records_with_limit(self.max_decompressed)
                .map_err(|e| e.to_string())?;
            for r in records {
                let r = r.map_err(|e| e.to_string())?;
                if self.keeps(&r, retain_deletes) {
                    kept += 1;
                    tombstones += u64::from(r.value.is_none());
                }
            }
        }
        stats.records_removed += count - kept;
        if kept == 0 {
            if !self.is_last_of_producer(batch) {
                return Ok(Decision::Drop);
            }
            if count == 0 {
                return Ok(Decision::Keep);
            }
            return self.empty_batch(batch).map(Decision::Replace);
        }
        let horizon = if tombstones == 0 {
            None
        } else if batch.has_delete_horizon() {
            Some(batch.base_timestamp())
        } else {
            Some(self.new_horizon())
        };
        if let Some(h) = horizon {
            Self::note_horizon(stats, h);
        }
        if kept == count && (tombstones == 0 || batch.has_delete_horizon()) {
            return Ok(Decision::Keep);
        }
        self.rewrite(batch, horizon, |r| self.keeps(r, retain_deletes))
            .map(Decision::Replace)
    }

    fn is_last_of_producer(&self, batch: &RecordBatch) -> bool {
        batch.producer_id() >= 0
            && self.last_batch_of_producer.get(&batch.producer_id()) == Some(&batch.last_offset())
    }

    fn keeps(&self, r: &vltava_records::Record, retain_deletes: bool) -> bool {
        let Some(key) = &r.key else {
            return false;
        };
        let latest = self.map.get(&key[..]).is_none_or(|&o| o <= r.offset);
        latest && (r.value.is_some() || retain_deletes)
    }

    /// The batch with only the records `keep` accepts, with the same base
    /// and last offset, producer fields, codec and flags.
    fn rewrite(
        &self,
        batch: &RecordBatch,
        horizon: Option<i64>,
        keep: impl Fn(&vltava_records::Record) -> bool,
    ) -> std::result::Result<Bytes, String> {
        let mut b = builder_like(batch)?;
        if let Some(h) = horizon {
            b = b.delete_horizon(h);
        }
        if batch.timestamp_type() == TimestampType::LogAppendTime {
            b = b.max_timestamp(batch.max_timestamp());
        }
        let records = batch
            .records_with_limit(self.max_decompressed)
            .map_err(|e| e.to_string())?;
        for r in records {
            let r = r.map_err(|e| e.to_string())?;
            if keep(&r) {
                b.append_record(&r).map_err(|e| e.to_string())?;
            }
        }
        b.build().map_err(|e| e.to_string())
    }

    /// The header of `batch` with no records (Kafka keeps one per
    /// producer so its state can be rebuilt from the log).
    fn empty_batch(&self, batch: &RecordBatch) -> std::result::Result<Bytes, String> {
        builder_like(batch)?
            .compression(vltava_records::Compression::None)
            .base_timestamp(batch.max_timestamp())
            .max_timestamp(batch.max_timestamp())
            .build()
            .map_err(|e| e.to_string())
    }
}

fn builder_like(batch: &RecordBatch) -> std::result::Result<RecordBatchBuilder, String> {
    Ok(RecordBatchBuilder::new()
        .compression(batch.compression().map_err(|e| e.to_string())?)
        .base_offset(batch.base_offset())
        .partition_leader_epoch(batch.partition_leader_epoch())
        .timestamp_type(batch.timestamp_type())
        .producer(
            batch.producer_id(),
            batch.producer_epoch(),
            batch.base_sequence(),
        )
        .transactional(batch.is_transactional())
        .control(batch.is_control())
        .last_offset_delta(batch.last_offset_delta()))
}

fn control_type(batch: &RecordBatch) -> std::result::Result<ControlRecordType, String> {
    let mut records = batch.records().map_err(|e| e.to_string())?;
    match records.next() {
        Some(Ok(r)) => {
            let key = r.key.ok_or("control record without a key")?;
            ControlRecordType::parse_key(&key).map_err(|e| e.to_string())
        }
        Some(Err(e)) => Err(e.to_string()),
        None => Err("control batch without records".into()),
    }
}

/// Tells whether transactional batches belong to aborted transactions,
/// from the aborted-transaction index, while batches are read in order.
struct AbortedTracker {
    /// Sorted by first offset; consumed from the front.
    pending: std::collections::VecDeque<AbortedTxn>,
    /// Producers inside an aborted transaction at the current offset.
    ongoing: HashMap<i64, AbortedTxn>,
}

impl AbortedTracker {
    fn new(mut aborted: Vec<AbortedTxn>) -> Self {
        aborted.sort_by_key(|t| (t.first_offset, t.last_offset));
        AbortedTracker {
            pending: aborted.into(),
            ongoing: HashMap::new(),
        }
    }

    fn start_batch(&mut self, base_offset: i64) {
        while self
            .pending
            .front()
            .is_some_and(|t| t.first_offset <= base_offset)
        {
            let t = self.pending.pop_front().expect("front exists");
            self.ongoing.insert(t.producer_id, t);
        }
    }

    fn batch_is_aborted(&mut self, batch: &RecordBatch) -> bool {
        self.start_batch(batch.base_offset());
        if batch.is_control() {
            self.ongoing.remove(&batch.producer_id());
            return false;
        }
        batch.is_transactional() && self.ongoing.contains_key(&batch.producer_id())
    }
}

/// Transaction bookkeeping of a rewrite (Kafka's cleaned-transaction
/// metadata): which data batches are aborted, and which markers have no
/// records left and may go.
struct TxnCleaning {
    aborted: AbortedTracker,
    /// Producers in an aborted transaction, and whether its records were
    /// seen (and removed) in this pass.
    seen_aborted: HashSet<i64>,
    /// Producers in a transaction with records seen in this pass.
    ongoing_committed: HashSet<i64>,
}

impl TxnCleaning {
    fn new(aborted: Vec<AbortedTxn>) -> Self {
        TxnCleaning {
            aborted: AbortedTracker::new(aborted),
            seen_aborted: HashSet::new(),
            ongoing_committed: HashSet::new(),
        }
    }

    fn start_batch(&mut self, base_offset: i64) {
        self.aborted.start_batch(base_offset);
    }

    /// A transactional data batch: true if it is aborted (to be removed).
    fn on_data(&mut self, producer_id: i64) -> bool {
        if self.aborted.ongoing.contains_key(&producer_id) {
            self.seen_aborted.insert(producer_id);
            true
        } else {
            self.ongoing_committed.insert(producer_id);
            false
        }
    }

    /// A marker: whether it may be removed (its transaction has no records
    /// left). An abort marker that stays keeps its index entry.
    fn on_marker(
        &mut self,
        producer_id: i64,
        kind: ControlRecordType,
        kept_txns: &mut Vec<AbortedTxn>,
    ) -> bool {
        match kind {
            ControlRecordType::Abort => {
                let txn = self.aborted.ongoing.remove(&producer_id);
                if self.seen_aborted.remove(&producer_id) {
                    // Its records were removed in this pass: keep the
                    // marker (and the entry) once more; the next pass
                    // finds the transaction empty.
                    if let Some(t) = txn {
                        kept_txns.push(t);
                    }
                    false
                } else {
                    true
                }
            }
            ControlRecordType::Commit => !self.ongoing_committed.remove(&producer_id),
            _ => false,
        }
    }
}

/// Writes the cleaned segment's log file and tracks its index state.
struct CleanedWriter {
    path: PathBuf,
    out: BufWriter<File>,
    state: SegmentState,
    pos: u64,
    next: Option<i64>,
    interval: u32,
}

impl CleanedWriter {
    fn create(path: &Path, cfg: &crate::config::LogConfig) -> Result<Self> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(Error::io("create", path))?;
        Ok(CleanedWriter {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, f),
            state: SegmentState::new(cfg),
            pos: 0,
            next: None,
            interval: cfg.index_interval_bytes,
        })
    }

    fn write_batch(&mut self, base: i64, bytes: &[u8]) -> Result<()> {
        let mut h: BatchHeader = parse_header(&bytes[..BATCH_HEADER_LEN], self.pos)
            .map_err(|e| Error::corrupt(&self.path, e))?;
        h.position = self.pos;
        self.out
            .write_all(bytes)
            .map_err(Error::io("write", &self.path))?;
        self.state.on_batch(base, &h, self.interval);
        self.pos += h.size;
        self.next = Some(h.last_offset + 1);
        Ok(())
    }

    /// Copies the batches `headers` (the first ones of `file`, kept
    /// unchanged, so at the same positions) into the still empty output.
    fn copy_prefix(
        &mut self,
        base: i64,
        file: &File,
        file_path: &Path,
        headers: &[BatchHeader],
    ) -> Result<()> {
        debug_assert_eq!(self.pos, 0);
        let len: u64 = headers.iter().map(|h| h.size).sum();
        let mut buf = vec![0u8; len.min(1 << 20) as usize];
        let mut at = 0u64;
        while at < len {
            let n = (len - at).min(buf.len() as u64) as usize;
            file.read_exact_at(&mut buf[..n], at)
                .map_err(Error::io("read", file_path))?;
            self.out
                .write_all(&buf[..n])
                .map_err(Error::io("write", &self.path))?;
            at += n as u64;
        }
        for h in headers {
            debug_assert_eq!(h.position, self.pos);
            self.state.on_batch(base, h, self.interval);
            self.pos += h.size;
            self.next = Some(h.last_offset + 1);
        }
        Ok(())
    }

    /// Flushes and fsyncs; returns the index state, size and next offset.
    fn finish(mut self, base: i64) -> Result<(SegmentState, u64, i64)> {
        self.out.flush().map_err(Error::io("write", &self.path))?;
        let f = self
            .out
            .into_inner()
            .map_err(|e| Error::io("write", &self.path)(e.into_error()))?;
        f.sync_all().map_err(Error::io("fsync", &self.path))?;
        self.state.seal(base);
        Ok((self.state, self.pos, self.next.unwrap_or(base)))
    }
}

fn write_cleaned_indexes(
    paths: &SegmentPaths,
    state: &SegmentState,
    txns: &[AbortedTxn],
) -> Result<()> {
    let write = |ext: &str, entry_len: usize, n: usize, encode: &dyn Fn(usize, &mut Vec<u8>)| {
        let mut buf = Vec::with_capacity(n * entry_len);
        for i in 0..n {
            encode(i, &mut buf);
        }
        index::persist(
            &paths.with_suffix(ext, CLEANED_SUFFIX),
            entry_len,
            0,
            &buf,
            true,
        )
    };
    write(
        INDEX_SUFFIX,
        OFFSET_ENTRY_LEN,
        state.offsets.entries.len(),
        &|i, b| state.offsets.encode_entry(i, b),
    )?;
    write(
        TIME_INDEX_SUFFIX,
        TIME_ENTRY_LEN,
        state.times.entries.len(),
        &|i, b| state.times.encode_entry(i, b),
    )?;
    // Written even when empty, so every committed swap has all four files
    // and a crash can be completed without guessing (an empty index is
    // removed after the swap).
    write(
        TXN_INDEX_SUFFIX,
        txnindex::TXN_ENTRY_LEN,
        txns.len(),
        &|i, b| txns[i].encode(b),
    )
}

/// The file names of one segment, with extra suffixes.
struct SegmentPaths {
    dir: PathBuf,
    base: i64,
}

impl SegmentPaths {
    fn new(dir: &Path, base: i64) -> Self {
        SegmentPaths {
            dir: dir.to_path_buf(),
            base,
        }
    }

    fn final_path(&self, ext: &str) -> PathBuf {
        self.dir.join(segment::segment_file_name(self.base, ext))
    }

    fn with_suffix(&self, ext: &str, suffix: &str) -> PathBuf {
        let mut name = segment::segment_file_name(self.base, ext);
        name.push_str(suffix);
        self.dir.join(name)
    }

    /// Best effort: the files are leftovers `Log::open` removes anyway.
    fn remove_all(&self, suffix: &str) {
        for ext in [
            LOG_SUFFIX,
            INDEX_SUFFIX,
            TIME_INDEX_SUFFIX,
            TXN_INDEX_SUFFIX,
        ] {
            let _ = segment::remove_if_exists(&self.with_suffix(ext, suffix));
        }
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(Error::io("rename", from))
}

/// Moves a committed cleaned segment's `.swap` files over the final names,
/// indexes first and the log last. An index `.swap` already gone was
/// renamed before a crash. An empty transaction index is then removed.
fn finish_swap(dir: &Path, base: i64) -> Result<()> {
    let paths = SegmentPaths::new(dir, base);
    for ext in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX] {
        let swap = paths.with_suffix(ext, SWAP_SUFFIX);
        match fs::rename(&swap, paths.final_path(ext)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("rename", &swap)(e)),
        }
    }
    rename(
        &paths.with_suffix(LOG_SUFFIX, SWAP_SUFFIX),
        &paths.final_path(LOG_SUFFIX),
    )?;
    let txn = paths.final_path(TXN_INDEX_SUFFIX);
    if fs::metadata(&txn).is_ok_and(|m| m.len() == 0) {
        segment::remove_if_exists(&txn)?;
    }
    Ok(())
}

/// Finishes swaps a crash interrupted, before the log is loaded: for each
/// committed `<base>.log.swap`, the segments it replaced (every `.log`
/// with a base offset from `base` up to the swap's last offset) are
/// removed and the `.swap` files take their names. Uncommitted files
/// (`.cleaned`, index `.swap` files without a `.log.swap`) are left for
/// `scan_dir`, which removes them. Returns whether anything changed.
pub(crate) fn complete_swaps(dir: &Path) -> Result<bool> {
    let mut swaps = Vec::new();
    let mut logs = Vec::new();
    for entry in fs::read_dir(dir).map_err(Error::io("list", dir))? {
        let entry = entry.map_err(Error::io("list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name
            .get(..20)
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        let rest = &name[20..];
        if rest == format!(".{LOG_SUFFIX}{SWAP_SUFFIX}") {
            swaps.push(base);
        } else if rest == format!(".{LOG_SUFFIX}") {
            logs.push(base);
        }
    }
    if swaps.is_empty() {
        return Ok(false);
    }
    swaps.sort_unstable();
    for base in swaps {
        let paths = SegmentPaths::new(dir, base);
        let swap_log = paths.with_suffix(LOG_SUFFIX, SWAP_SUFFIX);
        let next = next_offset_of(&swap_log, base)?;
        tracing::warn!(file = %swap_log.display(), "completing a log cleaner swap interrupted by a crash");
        for &old in logs.iter().filter(|&&b| b > base && b < next.max(base + 1)) {
            for ext in [
                LOG_SUFFIX,
                INDEX_SUFFIX,
                TIME_INDEX_SUFFIX,
                TXN_INDEX_SUFFIX,
            ] {
                segment::remove_if_exists(&dir.join(segment::segment_file_name(old, ext)))?;
            }
        }
        finish_swap(dir, base)?;
    }
    fsync_dir(dir)?;
    Ok(true)
}

/// The offset after the last whole batch of a segment file (`base` if it
/// has none).
fn next_offset_of(path: &Path, base: i64) -> Result<i64> {
    let file = File::open(path).map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    let mut scan = HeaderScanner::new(&file, 0, len);
    let mut next = base;
    loop {
        match scan.next_header() {
            Ok(Some(h)) => next = h.last_offset + 1,
            Ok(None) | Err(crate::segment::ScanError::Invalid { .. }) => return Ok(next),
            Err(crate::segment::ScanError::Io(e)) => return Err(Error::io("read", path)(e)),
        }
    }
}
