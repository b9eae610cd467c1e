//! [`DiskLog`]: vltava-raft's [`ReplicatedLog`] on disk, as Kafka keeps
//! `__cluster_metadata`: a `vltava-storage` [`Log`] of v2 record batches
//! (exactly as [`encode_batch`] makes them, partition leader epoch = raft
//! epoch) plus snapshot files, all in one directory such as
//! `DATA/metadata/__cluster_metadata-0`.
//!
//! # Files
//!
//! - `<base offset:020>.log` / `.index` / `.timeindex`: the storage log.
//! - `<end offset:020>-<epoch:010>.checkpoint`: a snapshot, named as Kafka
//!   names them. Written as `<name>.checkpoint.part` (Kafka's partial
//!   suffix), fsynced, renamed, and the directory fsynced. The newest two
//!   are kept.
//! - Kafka keeps `quorum-state` in this directory too; that is fine (the
//!   storage log ignores it, and removes only a stale `quorum-state.tmp`
//!   at open, which is never read anyway).
//!
//! Each batch's timestamp is this replica's wall clock when it appended it:
//! a raft [`Batch`] carries no timestamp, so replicas hold the same
//! batches with different timestamps (Kafka followers copy the leader's
//! bytes). Nothing in the protocol reads the timestamps.
//!
//! # The epoch cache
//!
//! Kafka keeps a `leader-epoch-checkpoint` file; here the [`EpochCache`] is
//! rebuilt at every open by reading the whole log from its start (which
//! also decodes and so validates every batch). That is fine because the
//! metadata log is small: snapshots cut its prefix. A large log would want
//! the checkpoint file.
//!
//! # Durability
//!
//! - Appends are written (page cache) at once and are durable only after a
//!   flush. [`DiskLog::flusher`] gives a [`Flusher`] the driver runs off the
//!   state machine's task (e.g. in `spawn_blocking`): it fsyncs the active
//!   segment without the storage log's writer lock, so appends continue
//!   while it runs.
//! - Truncations are durable when [`ReplicatedLog::truncate_to`] returns:
//!   the storage log fsyncs the cut segment, and we fsync the directory so
//!   that deleted later segments cannot come back. They are therefore
//!   durable before any later append is, which is the trait's requirement.
//! - A truncation and a flush never overlap: both take the same gate, so a
//!   flush's fsync covers a stable prefix, and a truncation waits for a
//!   flush in progress (truncations are rare: a follower meeting a new
//!   leader's divergence).
//! - A flush can finish before a truncation and be *reported* after it, by
//!   which time the offsets it covered may hold new, unflushed batches. The
//!   driver must therefore report `min(flushed, durable_end())` — or simply
//!   [`DiskLog::durable_end`] — to `RaftNode::on_flushed`, read on the state
//!   machine's task when it reports: every truncation lowers it at once.
//! - Snapshots are durable when `store_snapshot` / `install_snapshot`
//!   return, and before the log prefix they replace is deleted.
//! - Opening fsyncs the segments once, so everything recovered (which the
//!   state machine counts as flushed) really is on disk, even if the
//!   previous process died with it only in the page cache.
//!
//! # Errors
//!
//! The trait cannot fail, and the state machine must not act on a log
//! that silently lost a write, so the first I/O (or corruption) error is
//! kept: later calls change nothing and read what is already known (the
//! offsets and epochs in memory; no batches). The driver checks
//! [`DiskLog::take_error`] after each call and stops the node, as Kafka
//! halts on a metadata log I/O error. Breaking the trait's contract (a
//! non-contiguous append, truncating below the log start) panics, as
//! [`vltava_raft::MemLog`] does: that is a bug in the caller, not a disk
//! problem.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use vltava_raft::{Batch, Epoch, EpochCache, Offset, ReplicatedLog, SnapshotId, Voter};
use vltava_records::BatchSplitter;
use vltava_storage::{segment_file_name, Log, LogConfig, LogOpenOptions, LOG_SUFFIX};

use crate::batch_codec::{decode_batch, decode_batches_bytes, encode_batch};

/// Suffix of a finished snapshot file.
pub const SNAPSHOT_SUFFIX: &str = ".checkpoint";
/// Suffix of a snapshot being written (Kafka's `.checkpoint.part`).
pub const PARTIAL_SNAPSHOT_SUFFIX: &str = ".checkpoint.part";
/// Suffix Kafka gives snapshots it is deleting.
const DELETED_SNAPSHOT_SUFFIX: &str = ".checkpoint.deleted";
/// Snapshot files kept: the newest, and the one before it for a follower
/// still fetching it in chunks.
const SNAPSHOTS_KEPT: usize = 2;
/// Bytes asked of the storage log per read while scanning or reading.
const READ_CHUNK: usize = 1 << 20;

/// How to open a [`DiskLog`].
#[derive(Debug, Clone)]
pub struct DiskLogOptions {
    /// `metadata.log.segment.bytes` (Kafka's default: 1 GiB).
    pub segment_bytes: u32,
}

impl Default for DiskLogOptions {
    fn default() -> Self {
        DiskLogOptions {
            segment_bytes: 1 << 30,
        }
    }
}

/// The file name of a snapshot: `{end_offset:020}-{epoch:010}.checkpoint`.
pub fn snapshot_file_name(id: SnapshotId) -> String {
    format!("{:020}-{:010}{SNAPSHOT_SUFFIX}", id.end_offset, id.epoch)
}

/// The snapshot a file name names, if it is one.
pub fn parse_snapshot_file_name(name: &str) -> Option<SnapshotId> {
    let stem = name.strip_suffix(SNAPSHOT_SUFFIX)?;
    let (offset, epoch) = stem.split_once('-')?;
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(offset, 20) || !digits(epoch, 10) {
        return None;
    }
    Some(SnapshotId {
        end_offset: offset.parse().ok()?,
        epoch: epoch.parse().ok()?,
    })
}

/// State shared by the log and its flushers.
#[derive(Debug)]
struct Shared {
    /// Held by a flush for its whole fsync and by every change that removes
    /// offsets (truncation, prefix deletion, snapshot install).
    gate: Mutex<()>,
    /// Everything below this offset that is in the log now is durable.
    /// Raised by flushes, lowered by truncations, both under `gate`.
    durable: AtomicI64,
}

/// The durable, disk-backed [`ReplicatedLog`]. See the module docs.
pub struct DiskLog {
    dir: PathBuf,
    log: Arc<Log>,
    shared: Arc<Shared>,
    start: Offset,
    end: Offset,
    cache: EpochCache,
    /// Snapshot files present, with their sizes.
    snapshots: BTreeMap<SnapshotId, u64>,
    /// Set by the first error; never cleared.
    failed: AtomicBool,
    /// The first error, until taken.
    error: Mutex<Option<io::Error>>,
}

impl std::fmt::Debug for DiskLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskLog")
            .field("dir", &self.dir)
            .field("start", &self.start)
            .field("end", &self.end)
            .field("snapshots", &self.snapshots)
            .field("failed", &self.failed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Makes a [`DiskLog`]'s appends durable from another thread. Cheap to
/// clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct Flusher {
    dir: PathBuf,
    log: Arc<Log>,
    shared: Arc<Shared>,
}

impl Flusher {
    /// Makes every batch appended before the call durable and returns the
    /// log end offset when it started: everything below it that is still
    /// in the log is on disk. Blocks for an fsync; run it on a blocking
    /// thread. Report it through [`DiskLog::durable_end`] (see the module
    /// docs on flushes racing truncations).
    pub fn flush(&self) -> io::Result<i64> {
        let _gate = lock(&self.shared.gate);
        let end = self.log.log_end_offset();
        // Only the last segment can hold unsynced bytes: the storage log
        // fsyncs a segment before rolling past it, and a truncation that
        // makes an older segment active fsyncs it. Offsets below `end`
        // were written before `end` was published, so they are in this
        // segment or an older one; a roll after we listed the segments
        // fsyncs the one we are about to sync anyway. No truncation or
        // deletion can remove the file meanwhile: they wait for the gate.
        let base = *self
            .log
            .segment_base_offsets()
            .last()
            .expect("a storage log always has a segment");
        let path = self.dir.join(segment_file_name(base, LOG_SUFFIX));
        File::open(&path)?.sync_data()?;
        self.shared.durable.fetch_max(end, Ordering::AcqRel);
        Ok(end)
    }
}

impl DiskLog {
    /// Opens the log in `dir` (created if absent; its name must be
    /// `<topic>-<partition>`, e.g. `__cluster_metadata-0`), recovering it
    /// as the storage log does after an unclean stop, and reconciling it
    /// with the newest snapshot: the log then starts at that snapshot's
    /// end offset. If the log disagrees with the snapshot there (a crash
    /// interrupted `install_snapshot` before the old log was removed), it
    /// is emptied and starts at the snapshot, as the install would have.
    pub fn open(dir: &Path, options: DiskLogOptions) -> io::Result<DiskLog> {
        fs::create_dir_all(dir)?;
        let mut snapshots = scan_snapshots(dir)?;
        let config = LogConfig {
            segment_bytes: options.segment_bytes,
            // The metadata log is trimmed by snapshots only.
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        // Default options: no clean-shutdown trust, so every segment is
        // validated (CRC, offsets) and a torn tail is cut.
        let log =
            Log::open(dir, config, LogOpenOptions::default(), now_ms()).map_err(storage_error)?;
        let log = Arc::new(log);
        let mut start = log.log_start_offset();
        let mut end = log.log_end_offset();
        let mut headers = scan(&log, start, end)?;

        let newest = snapshots.keys().next_back().copied();
        let mut base_epoch = 0;
        if let Some(snap) = newest {
            base_epoch = snap.epoch;
            if snap.end_offset < start {
                return Err(invalid(format!(
                    "{}: the log starts at {start}, after the newest snapshot {snap:?}",
                    dir.display()
                )));
            }
            let matches = snap.end_offset == start
                || headers
                    .iter()
                    .any(|h| h.next == snap.end_offset && h.epoch == snap.epoch);
            if snap.end_offset > end || !matches {
                tracing::warn!(dir = %dir.display(), snapshot = ?snap, log_start = start, log_end = end,
                    "log does not agree with the newest snapshot; starting the log over at it");
                log.truncate_fully_and_start_at(snap.end_offset, now_ms())
                    .map_err(storage_error)?;
                headers.clear();
            } else if snap.end_offset > start {
                // `store_snapshot` deleted the prefix, but the storage log
                // remembers its start only in memory: move it again.
                log.delete_records_before(snap.end_offset, end)
                    .map_err(storage_error)?;
                headers.retain(|h| h.base >= snap.end_offset);
            }
            start = snap.end_offset;
            end = log.log_end_offset();
        }

        let mut cache = EpochCache::new(base_epoch, start);
        for h in &headers {
            if h.epoch < cache.last_epoch() {
                return Err(invalid(format!(
                    "{}: batch at offset {} has epoch {} after epoch {}",
                    dir.display(),
                    h.base,
                    h.epoch,
                    cache.last_epoch()
                )));
            }
            cache.assign(h.epoch, h.base);
        }

        // What the state machine is told was recovered counts as flushed,
        // so make sure it is on disk, not just in the page cache.
        for base in log.segment_base_offsets() {
            File::open(dir.join(segment_file_name(base, LOG_SUFFIX)))?.sync_data()?;
        }
        prune_snapshots(dir, &mut snapshots)?;
        fsync_dir(dir)?;

        Ok(DiskLog {
            dir: dir.to_path_buf(),
            log,
            shared: Arc::new(Shared {
                gate: Mutex::new(()),
                durable: AtomicI64::new(end),
            }),
            start,
            end,
            cache,
            snapshots,
            failed: AtomicBool::new(false),
            error: Mutex::new(None),
        })
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A handle that flushes this log from another thread.
    pub fn flusher(&self) -> Flusher {
        Flusher {
            dir: self.dir.clone(),
            log: self.log.clone(),
            shared: self.shared.clone(),
        }
    }

    /// Every record below this offset that is in the log now is durable:
    /// what to report to `RaftNode::on_flushed` after a flush completes.
    pub fn durable_end(&self) -> Offset {
        self.shared.durable.load(Ordering::Acquire).min(self.end)
    }

    /// The first error the log met, once; `None` if there was none (or it
    /// was taken). After an error the log stays inert: reopen it.
    pub fn take_error(&mut self) -> Option<io::Error> {
        lock(&self.error).take()
    }

    /// Whether an error has made the log inert.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Snapshot files present, oldest first.
    pub fn snapshot_ids(&self) -> Vec<SnapshotId> {
        self.snapshots.keys().copied().collect()
    }

    /// Clean close: the storage log writes its indexes and fsyncs.
    pub fn close(self) -> io::Result<()> {
        self.log.close().map_err(storage_error)
    }

    fn fail(&self, e: io::Error) {
        tracing::error!(dir = %self.dir.display(), error = %e, "metadata log I/O error");
        if !self.failed.swap(true, Ordering::AcqRel) {
            *lock(&self.error) = Some(e);
        }
    }

    /// Writes KIP-853's bootstrap checkpoint into the log directory `dir`:
    /// a snapshot at offset 0, epoch 0, holding the initial voters and no
    /// content (what `storage format --standalone` or
    /// `--initial-controllers` leaves). The replica then takes its voter
    /// set from it, and the first leader writes that set into the log.
    /// Refused if the log already holds records or snapshots.
    pub fn write_bootstrap_checkpoint(dir: &Path, voters: &[Voter]) -> io::Result<()> {
        let mut log = DiskLog::open(dir, DiskLogOptions::default())?;
        if log.end != 0 || !log.snapshots.is_empty() {
            return Err(invalid(format!(
                "{}: the metadata log is not empty; a bootstrap checkpoint goes only into a new one",
                dir.display()
            )));
        }
        log.write_snapshot(
            SnapshotId {
                end_offset: 0,
                epoch: 0,
            },
            &vltava_raft::encode_snapshot(voters, &[]),
        )?;
        log.close()
    }

    fn snapshot_path(&self, id: SnapshotId) -> PathBuf {
        self.dir.join(snapshot_file_name(id))
    }

    /// Writes a snapshot file durably (see the module docs).
    fn write_snapshot(&mut self, id: SnapshotId, data: &[u8]) -> io::Result<()> {
        let path = self.snapshot_path(id);
        let part = self.dir.join(format!(
            "{:020}-{:010}{PARTIAL_SNAPSHOT_SUFFIX}",
            id.end_offset, id.epoch
        ));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&part)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&part, &path)?;
            fsync_dir(&self.dir)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&part);
        }
        result?;
        self.snapshots.insert(id, data.len() as u64);
        Ok(())
    }

    fn read_batches(&self, from: Offset, max_bytes: usize) -> io::Result<Vec<Batch>> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut pos = from;
        // Sizes count as `Batch::size` does (as in MemLog), not bytes on
        // disk: a control batch is larger on disk than the raft model says.
        'chunks: while pos < self.end {
            let res = self
                .log
                .read(pos, max_bytes.clamp(4096, READ_CHUNK), i64::MAX, true)
                .map_err(storage_error)?;
            if res.records.is_empty() {
                break;
            }
            for b in decode_batches_bytes(res.records).map_err(|e| invalid(e.to_string()))? {
                if out.is_empty() && b.base_offset != from {
                    // `from` is inside a batch: MemLog answers nothing.
                    return Ok(out);
                }
                if !out.is_empty() && bytes + b.size() > max_bytes {
                    break 'chunks;
                }
                bytes += b.size();
                pos = b.next_offset();
                out.push(b);
            }
        }
        Ok(out)
    }
}

impl ReplicatedLog for DiskLog {
    fn start_offset(&self) -> Offset {
        self.start
    }

    fn end_offset(&self) -> Offset {
        self.end
    }

    fn epoch_before(&self, offset: Offset) -> Option<Epoch> {
        if offset < self.start || offset > self.end {
            return None;
        }
        Some(self.cache.epoch_before(offset))
    }

    fn end_offset_for_epoch(&self, epoch: Epoch) -> Option<(Epoch, Offset)> {
        self.cache.end_offset_for_epoch(epoch, self.end)
    }

    fn read(&self, from: Offset, max_bytes: usize) -> Vec<Batch> {
        if self.has_failed() || from < self.start || from >= self.end {
            return Vec::new();
        }
        match self.read_batches(from, max_bytes) {
            Ok(batches) => batches,
            Err(e) => {
                self.fail(e);
                Vec::new()
            }
        }
    }

    fn append(&mut self, batches: Vec<Batch>) {
        if self.has_failed() {
            return;
        }
        let now = now_ms();
        for b in batches {
            assert_eq!(b.base_offset, self.end, "append must be contiguous");
            assert!(b.record_count > 0);
            assert!(
                b.epoch >= self.cache.last_epoch(),
                "epoch went backwards: {} < {}",
                b.epoch,
                self.cache.last_epoch()
            );
            let bytes = encode_batch(&b, now);
            // A data payload that is not `record_count` well-formed records
            // (an application bug) would make every later open of the log
            // fail: refuse it before it reaches the disk.
            if !decode_batches_bytes(bytes.clone()).is_ok_and(|d| d == [b.clone()]) {
                self.fail(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "batch at offset {} is not a valid raft batch (payload of {} records?)",
                        b.base_offset, b.record_count
                    ),
                ));
                return;
            }
            // One batch per storage append, so a segment can roll between
            // batches of one call.
            if let Err(e) = self.log.append_as_follower(bytes, now) {
                self.fail(storage_error(e));
                return;
            }
            self.cache.assign(b.epoch, b.base_offset);
            self.end = b.next_offset();
        }
    }

    fn truncate_to(&mut self, offset: Offset) {
        assert!(offset >= self.start, "truncate below log start");
        if self.has_failed() || offset >= self.end {
            return;
        }
        let _gate = lock(&self.shared.gate);
        let result = self
            .log
            .truncate_to(offset)
            .map_err(storage_error)
            // The storage log fsyncs the cut segment but not the directory
            // after deleting later segments; without this a crash could
            // bring a truncated segment back.
            .and_then(|_| fsync_dir(&self.dir));
        // Whatever happened, never claim more than the log now holds.
        let new_end = self.log.log_end_offset().min(self.end);
        self.shared.durable.fetch_min(new_end, Ordering::AcqRel);
        if let Err(e) = result {
            self.fail(e);
            return;
        }
        self.end = new_end;
        self.cache.truncate_to(new_end);
    }

    fn latest_snapshot(&self) -> Option<SnapshotId> {
        self.snapshots.keys().next_back().copied()
    }

    fn read_snapshot(
        &self,
        id: SnapshotId,
        position: u64,
        max_bytes: usize,
    ) -> Option<(u64, Bytes)> {
        if self.has_failed() {
            return None;
        }
        let &size = self.snapshots.get(&id)?;
        let from = position.min(size);
        let len = (size - from).min(max_bytes as u64) as usize;
        let result = (|| {
            let mut f = File::open(self.snapshot_path(id))?;
            f.seek(SeekFrom::Start(from))?;
            let mut buf = vec![0u8; len];
            f.read_exact(&mut buf)?;
            Ok::<_, io::Error>(buf)
        })();
        match result {
            Ok(buf) => Some((size, Bytes::from(buf))),
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn store_snapshot(&mut self, id: SnapshotId, data: Bytes) {
        assert!(id.end_offset >= self.start && id.end_offset <= self.end);
        if self.has_failed() {
            return;
        }
        // The snapshot must cover whole batches, as in MemLog.
        if id.end_offset < self.end {
            match self.read_batches(id.end_offset, 0) {
                Ok(b) if !b.is_empty() => {}
                Ok(_) => panic!("snapshot end {} is not a batch boundary", id.end_offset),
                Err(e) => return self.fail(e),
            }
        }
        if let Err(e) = self.write_snapshot(id, &data) {
            return self.fail(e);
        }
        // Only now that the snapshot is durable may the prefix go.
        {
            let _gate = lock(&self.shared.gate);
            if let Err(e) = self.log.delete_records_before(id.end_offset, self.end) {
                return self.fail(storage_error(e));
            }
        }
        self.start = id.end_offset;
        self.cache.truncate_from_start(id.epoch, id.end_offset);
        if let Err(e) = prune_snapshots(&self.dir, &mut self.snapshots) {
            self.fail(e);
        }
    }

    fn install_snapshot(&mut self, id: SnapshotId, data: Bytes) {
        if self.has_failed() {
            return;
        }
        if let Err(e) = self.write_snapshot(id, &data) {
            return self.fail(e);
        }
        {
            let _gate = lock(&self.shared.gate);
            // The old log goes only once the snapshot is durable; a crash
            // in between is repaired by `open`.
            if let Err(e) = self
                .log
                .truncate_fully_and_start_at(id.end_offset, now_ms())
            {
                self.shared
                    .durable
                    .fetch_min(self.log.log_end_offset(), Ordering::AcqRel);
                return self.fail(storage_error(e));
            }
            // An empty log: nothing below its start is in it.
            self.shared.durable.store(id.end_offset, Ordering::Release);
        }
        self.start = id.end_offset;
        self.end = id.end_offset;
        self.cache = EpochCache::new(id.epoch, id.end_offset);
        if let Err(e) = prune_snapshots(&self.dir, &mut self.snapshots) {
            self.fail(e);
        }
    }
}

/// A batch's place in the log, from its header.
#[derive(Debug, Clone, Copy)]
struct Header {
    base: Offset,
    next: Offset,
    epoch: Epoch,
}

/// Reads and decodes the whole log from `start`, checking that batches are
/// contiguous (a raft log has no gaps) and valid raft batches.
fn scan(log: &Log, start: Offset, end: Offset) -> io::Result<Vec<Header>> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let res = log
            .read(pos, READ_CHUNK, i64::MAX, true)
            .map_err(storage_error)?;
        if res.records.is_empty() {
            break;
        }
        for item in BatchSplitter::new(res.records) {
            let batch = item.map_err(|e| invalid(format!("metadata log at {pos}: {e}")))?;
            let b =
                decode_batch(&batch).map_err(|e| invalid(format!("metadata log at {pos}: {e}")))?;
            if b.base_offset != pos {
                return Err(invalid(format!(
                    "metadata log: batch at {} where {pos} was expected",
                    b.base_offset
                )));
            }
            pos = b.next_offset();
            out.push(Header {
                base: b.base_offset,
                next: pos,
                epoch: b.epoch,
            });
        }
    }
    Ok(out)
}

/// Lists snapshot files, removing partial and half-deleted ones.
fn scan_snapshots(dir: &Path) -> io::Result<BTreeMap<SnapshotId, u64>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.ends_with(PARTIAL_SNAPSHOT_SUFFIX) || name.ends_with(DELETED_SNAPSHOT_SUFFIX) {
            tracing::warn!(file = %name, "removing unfinished snapshot file");
            fs::remove_file(entry.path())?;
            continue;
        }
        if let Some(id) = parse_snapshot_file_name(&name) {
            out.insert(id, entry.metadata()?.len());
        } else if name.ends_with(SNAPSHOT_SUFFIX) {
            tracing::warn!(file = %name, "ignoring snapshot file with a bad name");
        }
    }
    Ok(out)
}

/// Deletes snapshot files beyond the newest [`SNAPSHOTS_KEPT`].
fn prune_snapshots(dir: &Path, snapshots: &mut BTreeMap<SnapshotId, u64>) -> io::Result<()> {
    while snapshots.len() > SNAPSHOTS_KEPT {
        let (&oldest, _) = snapshots.iter().next().expect("non-empty");
        match fs::remove_file(dir.join(snapshot_file_name(oldest))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        snapshots.remove(&oldest);
    }
    Ok(())
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn storage_error(e: vltava_storage::Error) -> io::Error {
    match e {
        vltava_storage::Error::Io { ref source, .. } => io::Error::new(source.kind(), e),
        e => io::Error::other(e),
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves nothing half-changed that
    // the lock protects (a unit gate, an error slot).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// The driver moves the log into its task and the flusher into blocking
// threads.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<DiskLog>();
    send_sync::<Flusher>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch_codec::data_payload;
    use vltava_raft::{BatchKind, MemLog, SplitMix64};

    fn log_dir(tmp: &tempfile::TempDir) -> PathBuf {
        tmp.path().join("metadata").join("__cluster_metadata-0")
    }

    fn data(base: Offset, epoch: Epoch, n: u32) -> Batch {
        let values: Vec<Bytes> = (0..n)
            .map(|i| Bytes::from(format!("record {}", base + i64::from(i))))
            .collect();
        Batch {
            base_offset: base,
            epoch,
            record_count: n,
            kind: BatchKind::Data,
            payload: data_payload(&values, 0),
        }
    }

    fn leader_change(base: Offset, epoch: Epoch) -> Batch {
        Batch {
            base_offset: base,
            epoch,
            record_count: 1,
            kind: BatchKind::LeaderChange {
                leader_id: epoch % 3,
                voters: vec![0, 1, 2],
            },
            payload: Bytes::new(),
        }
    }

    fn small_segments() -> DiskLogOptions {
        // Small enough that the tests roll and delete segments.
        DiskLogOptions { segment_bytes: 200 }
    }

    /// Everything a state machine can observe through the trait.
    fn observe(log: &dyn ReplicatedLog, batch_bases: &[Offset]) -> Vec<String> {
        let mut out = vec![
            format!("start {}", log.start_offset()),
            format!("end {}", log.end_offset()),
            format!("snapshot {:?}", log.latest_snapshot()),
        ];
        let (start, end) = (log.start_offset(), log.end_offset());
        for o in start.saturating_sub(2)..=end + 2 {
            out.push(format!("epoch_before {o} {:?}", log.epoch_before(o)));
        }
        let max_epoch = log.epoch_before(end).unwrap_or(0);
        for e in 0..=max_epoch + 1 {
            out.push(format!("eofe {e} {:?}", log.end_offset_for_epoch(e)));
        }
        for &o in batch_bases
            .iter()
            .chain([start, end, start + 1, end - 1].iter())
        {
            for max in [0, 100, 300, 10_000] {
                out.push(format!("read {o} {max} {:?}", log.read(o, max)));
            }
        }
        if let Some(id) = log.latest_snapshot() {
            for (pos, max) in [(0, 1), (0, 1 << 20), (3, 5), (1 << 40, 10)] {
                out.push(format!(
                    "snap {pos} {max} {:?}",
                    log.read_snapshot(id, pos, max)
                ));
            }
        }
        out
    }

    fn bases(mem: &MemLog) -> Vec<Offset> {
        mem.batches().iter().map(|b| b.base_offset).collect()
    }

    fn assert_same(disk: &DiskLog, mem: &MemLog, context: &str) {
        let b = bases(mem);
        let (d, m) = (observe(disk, &b), observe(mem, &b));
        for (x, y) in d.iter().zip(&m) {
            assert_eq!(x, y, "{context}");
        }
        assert_eq!(d.len(), m.len(), "{context}");
    }

    #[test]
    fn trait_contract_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = log_dir(&tmp);
        let mut log = DiskLog::open(&dir, small_segments()).unwrap();
        assert_eq!((log.start_offset(), log.end_offset()), (0, 0));
        assert_eq!(log.epoch_before(0), Some(0));
        assert_eq!(log.latest_snapshot(), None);

        log.append(vec![leader_change(0, 1), data(1, 1, 3), data(4, 1, 2)]);
        log.append(vec![leader_change(6, 3), data(7, 3, 4)]);
        assert_eq!(log.end_offset(), 11);
        assert_eq!(log.epoch_before(0), Some(0));
        assert_eq!(log.epoch_before(1), Some(1));
        assert_eq!(log.epoch_before(6), Some(1));
        assert_eq!(log.epoch_before(7), Some(3));
        assert_eq!(log.epoch_before(12), None);
        assert_eq!(log.end_offset_for_epoch(0), Some((0, 0)));
        assert_eq!(log.end_offset_for_epoch(2), Some((1, 6)));
        assert_eq!(log.end_offset_for_epoch(9), Some((3, 11)));
        let all = log.read(0, usize::MAX);
        assert_eq!(all.len(), 5);
        assert_eq!(all[2], data(4, 1, 2));
        assert_eq!(log.read(0, 0).len(), 1, "at least one batch");
        assert!(log.read(2, 1000).is_empty(), "not a batch start");
        assert!(log.read(11, 1000).is_empty());
        assert!(log.storage_segments() > 1, "the test should roll segments");
        log.flusher().flush().unwrap();
        assert_eq!(log.durable_end(), 11);

        // Truncation inside a batch drops the whole batch.
        log.truncate_to(9);
        assert_eq!(log.end_offset(), 7);
        assert_eq!(log.durable_end(), 7);
        assert_eq!(log.end_offset_for_epoch(3), Some((3, 7)));
        log.append(vec![data(7, 4, 2)]);
        assert_eq!(log.end_offset_for_epoch(3), Some((3, 7)));
        assert_eq!(log.end_offset_for_epoch(4), Some((4, 9)));

        // A snapshot moves the start up and answers reads by position.
        let snap = SnapshotId {
            end_offset: 6,
            epoch: 1,
        };
        log.store_snapshot(snap, Bytes::from_static(b"snapshot at six"));
        assert_eq!(log.start_offset(), 6);
        assert_eq!(log.latest_snapshot(), Some(snap));
        assert_eq!(log.epoch_before(6), Some(1));
        assert_eq!(log.epoch_before(5), None);
        assert_eq!(log.end_offset_for_epoch(0), None);
        assert!(log.read(4, 1000).is_empty());
        assert_eq!(
            log.read_snapshot(snap, 9, 3),
            Some((15, Bytes::from_static(b"at ")))
        );
        assert_eq!(log.read_snapshot(snap, 99, 3), Some((15, Bytes::new())));
        assert!(dir
            .join("00000000000000000006-0000000001.checkpoint")
            .exists());
        let before = (log.read(6, usize::MAX), log.end_offset());
        log.flusher().flush().unwrap();
        drop(log);

        let mut log = DiskLog::open(&dir, small_segments()).unwrap();
        assert_eq!(log.start_offset(), 6);
        assert_eq!((log.read(6, usize::MAX), log.end_offset()), before);
        assert_eq!(log.end_offset_for_epoch(4), Some((4, 9)));
        assert_eq!(log.epoch_before(6), Some(1));
        assert_eq!(log.durable_end(), 9);

        // Installing a snapshot replaces the log.
        let installed = SnapshotId {
            end_offset: 100,
            epoch: 7,
        };
        log.install_snapshot(installed, Bytes::from_static(b"from the leader"));
        assert_eq!((log.start_offset(), log.end_offset()), (100, 100));
        assert_eq!(log.epoch_before(100), Some(7));
        assert_eq!(log.end_offset_for_epoch(4), None);
        log.append(vec![leader_change(100, 8)]);
        log.close().unwrap();
        let log = DiskLog::open(&dir, small_segments()).unwrap();
        assert_eq!((log.start_offset(), log.end_offset()), (100, 101));
        assert_eq!(log.latest_snapshot(), Some(installed));
        assert_eq!(log.end_offset_for_epoch(7), Some((7, 100)));
        assert_eq!(log.snapshot_ids(), vec![snap, installed]);
    }

    impl DiskLog {
        fn storage_segments(&self) -> usize {
            self.log.segment_count()
        }
    }

    /// One random step applied to both logs.
    fn random_step(rng: &mut SplitMix64, disk: &mut DiskLog, mem: &mut MemLog) -> String {
        let (start, end) = (mem.start_offset(), mem.end_offset());
        let last_epoch = mem.epoch_before(end).unwrap();
        match rng.range(0, 9) {
            0..=4 => {
                let mut epoch = last_epoch + i32::from(rng.chance(0.3));
                let mut next = end;
                let mut batches = Vec::new();
                for _ in 0..rng.range(1, 4) {
                    let b = if rng.chance(0.2) {
                        epoch += 1;
                        leader_change(next, epoch)
                    } else {
                        data(next, epoch, rng.range(1, 5) as u32)
                    };
                    next = b.next_offset();
                    batches.push(b);
                }
                disk.append(batches.clone());
                mem.append(batches);
                format!("append to {next}")
            }
            5 => {
                let offset = start + rng.range(0, (end - start + 3) as u64) as i64;
                disk.truncate_to(offset);
                mem.truncate_to(offset);
                format!("truncate_to {offset}")
            }
            6 => {
                let mut boundaries = bases(mem);
                boundaries.push(end);
                let at = boundaries[rng.range(0, boundaries.len() as u64) as usize];
                let id = SnapshotId {
                    end_offset: at,
                    epoch: mem.epoch_before(at).unwrap(),
                };
                let data = Bytes::from(format!("snapshot {id:?}").repeat(rng.range(1, 4) as usize));
                disk.store_snapshot(id, data.clone());
                mem.store_snapshot(id, data);
                format!("store_snapshot {id:?}")
            }
            7 => {
                let id = SnapshotId {
                    end_offset: end + rng.range(0, 20) as i64,
                    epoch: last_epoch + rng.range(0, 2) as i32,
                };
                disk.install_snapshot(id, Bytes::from(format!("installed {id:?}")));
                mem.install_snapshot(id, Bytes::from(format!("installed {id:?}")));
                format!("install_snapshot {id:?}")
            }
            _ => {
                disk.flusher().flush().unwrap();
                "flush".into()
            }
        }
    }

    #[test]
    fn behaves_like_memlog() {
        let seeds: u64 = std::env::var("VLTAVA_DISKLOG_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(12);
        for seed in 0..seeds {
            let tmp = tempfile::tempdir().unwrap();
            let mut rng = SplitMix64::new(seed);
            let mut disk = DiskLog::open(&log_dir(&tmp), small_segments()).unwrap();
            let mut mem = MemLog::new();
            let mut steps = Vec::new();
            for _ in 0..60 {
                if rng.chance(0.1) {
                    // Reopen, cleanly or not: the page cache keeps
                    // unflushed writes across a process exit, so both
                    // must give the same log.
                    if rng.chance(0.5) {
                        disk.close().unwrap();
                    } else {
                        drop(disk);
                    }
                    disk = DiskLog::open(&log_dir(&tmp), small_segments()).unwrap();
                    steps.push("reopen".into());
                }
                steps.push(random_step(&mut rng, &mut disk, &mut mem));
                assert!(disk.take_error().is_none());
                let context = format!("seed {seed}, steps {steps:?}");
                assert_same(&disk, &mem, &context);
            }
        }
    }

    #[test]
    fn torn_tail_reopens_as_a_prefix() {
        for seed in 0..20u64 {
            let tmp = tempfile::tempdir().unwrap();
            let dir = log_dir(&tmp);
            let mut rng = SplitMix64::new(seed);
            // One big segment, so the torn bytes are in the last file.
            let mut log = DiskLog::open(&dir, DiskLogOptions::default()).unwrap();
            let mut written = Vec::new();
            let mut next = 0;
            for i in 0..20 {
                let b = if i % 7 == 0 {
                    leader_change(next, i / 7 + 1)
                } else {
                    data(next, i / 7 + 1, rng.range(1, 4) as u32)
                };
                next = b.next_offset();
                written.push(b.clone());
                log.append(vec![b]);
                if i == 9 {
                    assert_eq!(log.flusher().flush().unwrap(), next);
                }
            }
            let flushed = log.durable_end();
            drop(log);
            // A crash loses an arbitrary amount of what was not flushed,
            // possibly in the middle of a batch.
            let seg = dir.join(segment_file_name(0, LOG_SUFFIX));
            let len = fs::metadata(&seg).unwrap().len();
            let flushed_bytes: u64 = written
                .iter()
                .take_while(|b| b.next_offset() <= flushed)
                .map(|b| encode_batch(b, 0).len() as u64)
                .sum();
            let cut = flushed_bytes + rng.range(0, len - flushed_bytes + 1);
            OpenOptions::new()
                .write(true)
                .open(&seg)
                .unwrap()
                .set_len(cut)
                .unwrap();

            let log = DiskLog::open(&dir, DiskLogOptions::default()).unwrap();
            let got = log.read(0, usize::MAX);
            assert!(log.end_offset() >= flushed, "seed {seed}");
            assert_eq!(got, written[..got.len()], "seed {seed}: not a prefix");
            assert_eq!(got.last().map_or(0, Batch::next_offset), log.end_offset());
        }
    }

    #[test]
    fn open_repairs_interrupted_snapshot_operations() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = log_dir(&tmp);
        let mut log = DiskLog::open(&dir, small_segments()).unwrap();
        let batches: Vec<Batch> = (0..10).map(|i| data(i * 2, 3, 2)).collect();
        log.append(batches.clone());
        log.close().unwrap();

        // A stray partial snapshot (crash while writing one) is removed.
        let part = dir.join("00000000000000000004-0000000003.checkpoint.part");
        fs::write(&part, b"half").unwrap();
        // store_snapshot crashed after the snapshot was durable but before
        // the prefix went: the log must start at the snapshot anyway.
        let stored = SnapshotId {
            end_offset: 6,
            epoch: 3,
        };
        fs::write(dir.join(snapshot_file_name(stored)), b"six").unwrap();
        let log = DiskLog::open(&dir, small_segments()).unwrap();
        assert!(!part.exists());
        assert_eq!((log.start_offset(), log.end_offset()), (6, 20));
        assert_eq!(log.read(6, usize::MAX), batches[3..].to_vec());
        assert_eq!(log.epoch_before(6), Some(3));
        drop(log);

        // install_snapshot crashed after the snapshot was durable but
        // before the old log went, and the old log disagrees with it (other
        // epoch at its end): the log starts over at the snapshot.
        let installed = SnapshotId {
            end_offset: 10,
            epoch: 5,
        };
        fs::write(dir.join(snapshot_file_name(installed)), b"ten").unwrap();
        let log = DiskLog::open(&dir, small_segments()).unwrap();
        assert_eq!((log.start_offset(), log.end_offset()), (10, 10));
        assert_eq!(log.epoch_before(10), Some(5));
        assert_eq!(log.latest_snapshot(), Some(installed));
        drop(log);

        // A snapshot beyond the log's end (install crashed, log shorter).
        let far = SnapshotId {
            end_offset: 50,
            epoch: 6,
        };
        fs::write(dir.join(snapshot_file_name(far)), b"fifty").unwrap();
        let log = DiskLog::open(&dir, small_segments()).unwrap();
        assert_eq!((log.start_offset(), log.end_offset()), (50, 50));
        // Only the newest two snapshots are kept.
        assert_eq!(log.snapshot_ids(), vec![installed, far]);
        assert!(!dir.join(snapshot_file_name(stored)).exists());
    }

    #[test]
    fn snapshot_file_names_are_kafkas() {
        let id = SnapshotId {
            end_offset: 1234,
            epoch: 5,
        };
        assert_eq!(
            snapshot_file_name(id),
            "00000000000000001234-0000000005.checkpoint"
        );
        assert_eq!(parse_snapshot_file_name(&snapshot_file_name(id)), Some(id));
        for bad in [
            "00000000000000001234-0000000005.checkpoint.part",
            "1234-5.checkpoint",
            "00000000000000001234-000000000x.checkpoint",
            "00000000000000000000.log",
        ] {
            assert_eq!(parse_snapshot_file_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn io_errors_are_kept_not_panicked() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = log_dir(&tmp);
        let mut log = DiskLog::open(&dir, DiskLogOptions::default()).unwrap();
        log.append(vec![leader_change(0, 1), data(1, 1, 2)]);
        // The directory vanishes under the log: writing a snapshot fails.
        fs::remove_dir_all(&dir).unwrap();
        log.store_snapshot(
            SnapshotId {
                end_offset: 1,
                epoch: 1,
            },
            Bytes::from_static(b"x"),
        );
        assert!(log.has_failed());
        let err = log.take_error().expect("an error is kept");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(log.take_error().is_none(), "reported once");
        // Later calls change nothing and answer from what is known.
        log.append(vec![data(3, 1, 1)]);
        log.truncate_to(1);
        assert_eq!((log.start_offset(), log.end_offset()), (0, 3));
        assert_eq!(log.latest_snapshot(), None);
        assert!(log.read(0, 100).is_empty());
        assert_eq!(log.epoch_before(3), Some(1));
    }

    #[test]
    fn malformed_batches_never_reach_the_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = log_dir(&tmp);
        let mut log = DiskLog::open(&dir, DiskLogOptions::default()).unwrap();
        log.append(vec![data(0, 1, 2)]);
        // Says three records, carries two.
        let mut bad = data(2, 1, 2);
        bad.record_count = 3;
        log.append(vec![bad]);
        assert_eq!(
            log.take_error().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidInput)
        );
        assert_eq!(log.end_offset(), 2);
        drop(log);
        let log = DiskLog::open(&dir, DiskLogOptions::default()).unwrap();
        assert_eq!(log.read(0, usize::MAX), vec![data(0, 1, 2)]);
    }

    #[test]
    fn flushing_from_another_thread_while_appending() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = log_dir(&tmp);
        let mut log = DiskLog::open(&dir, small_segments()).unwrap();
        let flusher = log.flusher();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut last = 0;
                let mut flushes = 0;
                while !stop.load(Ordering::Acquire) {
                    let end = flusher.flush().unwrap();
                    assert!(end >= last);
                    last = end;
                    flushes += 1;
                }
                flushes
            })
        };
        let mut next = 0;
        for i in 0..300 {
            let b = data(next, 1 + i / 100, 1);
            next = b.next_offset();
            log.append(vec![b]);
            assert!(log.durable_end() <= log.end_offset());
        }
        stop.store(true, Ordering::Release);
        assert!(handle.join().unwrap() > 0);
        assert_eq!(log.flusher().flush().unwrap(), 300);
        assert_eq!(log.durable_end(), 300);
        log.truncate_to(150);
        assert_eq!(log.durable_end(), 150);
        assert!(log.take_error().is_none());
    }
}

/// The real state machine over `DiskLog`s and `quorum-state` files: three
/// voters in one thread, messages delivered in order, flushes done at once
/// through the `Flusher` and reported through `durable_end`, one node
/// crashing and coming back after the leader snapshotted past its log.
#[cfg(test)]
mod cluster_tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::batch_codec::{data_payload, data_values};
    use crate::quorum_state;
    use vltava_raft::{Action, Config, Message, NodeId, RaftNode};

    struct Cluster {
        root: tempfile::TempDir,
        nodes: Vec<Option<RaftNode<DiskLog>>>,
        queue: VecDeque<(NodeId, NodeId, u64, Message)>,
        now: u64,
        seed: u64,
    }

    impl Cluster {
        fn dir(&self, id: NodeId) -> PathBuf {
            self.root
                .path()
                .join(format!("node{id}"))
                .join("__cluster_metadata-0")
        }

        fn start(&mut self, id: NodeId) {
            let dir = self.dir(id);
            let log = DiskLog::open(&dir, DiskLogOptions { segment_bytes: 400 }).unwrap();
            let state = quorum_state::read(&dir.join(quorum_state::FILE_NAME))
                .unwrap()
                .unwrap_or_default();
            let mut cfg = Config::new(id, "cluster", [0, 1, 2]);
            cfg.random_seed = self.seed;
            cfg.snapshot_chunk_bytes = 7;
            self.nodes[id as usize] = Some(RaftNode::new(cfg, log, state, self.now));
        }

        fn run(&mut self, id: NodeId, actions: Vec<Action>) {
            let mut todo: VecDeque<Action> = actions.into();
            while let Some(a) = todo.pop_front() {
                let dir = self.dir(id);
                let node = self.nodes[id as usize].as_mut().unwrap();
                match a {
                    Action::PersistQuorumState(q) => {
                        quorum_state::write(&dir.join(quorum_state::FILE_NAME), &q).unwrap()
                    }
                    Action::Send {
                        to,
                        correlation_id,
                        message,
                    } => self.queue.push_back((id, to, correlation_id, message)),
                    Action::Flush => {
                        node.log().flusher().flush().unwrap();
                        let durable = node.log().durable_end();
                        todo.extend(node.on_flushed(durable, self.now));
                    }
                    Action::HighWatermark(_) | Action::SnapshotInstalled(_) => {}
                }
                let node = self.nodes[id as usize].as_mut().unwrap();
                assert!(node.log_mut().take_error().is_none());
            }
        }

        fn step(&mut self) {
            self.now += 5;
            for _ in 0..self.queue.len() {
                let (from, to, corr, msg) = self.queue.pop_front().unwrap();
                match self.nodes[to as usize].as_mut() {
                    Some(node) => {
                        let actions = node.on_message(from, corr, msg, self.now);
                        self.run(to, actions);
                    }
                    None => {
                        if let Some(sender) = self.nodes[from as usize].as_mut() {
                            let actions = sender.on_request_failed(to, corr, self.now);
                            self.run(from, actions);
                        }
                    }
                }
            }
            for id in 0..3 {
                if let Some(node) = self.nodes[id as usize].as_mut() {
                    if node.next_deadline() <= self.now {
                        let actions = node.tick(self.now);
                        self.run(id, actions);
                    }
                }
            }
        }

        fn leader(&self) -> Option<NodeId> {
            (0..3).find(|&id| {
                self.nodes[id as usize]
                    .as_ref()
                    .is_some_and(|n| n.is_leader())
            })
        }

        fn run_until(&mut self, what: &str, mut done: impl FnMut(&Cluster) -> bool) {
            for _ in 0..20_000 {
                if done(self) {
                    return;
                }
                self.step();
            }
            panic!("seed {}: no {what} in time", self.seed);
        }

        fn propose(&mut self, value: &str) -> bool {
            let Some(id) = self.leader() else {
                return false;
            };
            let payload = data_payload(&[Bytes::from(value.to_string())], 0);
            let node = self.nodes[id as usize].as_mut().unwrap();
            match node.propose(payload, 1, self.now) {
                Ok((_, _, actions)) => {
                    self.run(id, actions);
                    true
                }
                Err(_) => false,
            }
        }
    }

    fn values(log: &DiskLog) -> Vec<Bytes> {
        log.read(log.start_offset(), usize::MAX)
            .iter()
            .filter(|b| b.kind == BatchKind::Data)
            .flat_map(|b| data_values(&b.payload).unwrap())
            .collect()
    }

    use vltava_raft::BatchKind;

    #[test]
    fn three_voters_on_disk_with_a_crash_and_a_snapshot() {
        for seed in 0..3u64 {
            let mut c = Cluster {
                root: tempfile::tempdir().unwrap(),
                nodes: vec![None, None, None],
                queue: VecDeque::new(),
                now: 0,
                seed,
            };
            for id in 0..3 {
                c.start(id);
            }
            c.run_until("leader", |c| c.leader().is_some());
            let leader = c.leader().unwrap();
            let victim = (leader + 1) % 3;

            for i in 0..5 {
                assert!(c.propose(&format!("before {i}")));
                c.step();
            }
            c.run_until("replication", |c| {
                (0..3).all(|id| {
                    let n = c.nodes[id].as_ref().unwrap();
                    n.log().end_offset()
                        == c.nodes[leader as usize]
                            .as_ref()
                            .unwrap()
                            .log()
                            .end_offset()
                })
            });

            // One follower crashes; the other two go on and the leader
            // snapshots past everything the crashed one has.
            c.nodes[victim as usize] = None;
            for i in 0..20 {
                c.propose(&format!("during {i}"));
                c.step();
            }
            let l = c.leader().expect("two of three still lead");
            c.run_until("commit", |c| {
                let n = c.nodes[l as usize].as_ref().unwrap();
                n.high_watermark() == n.log().end_offset()
            });
            let node = c.nodes[l as usize].as_mut().unwrap();
            let hw = node.high_watermark();
            let snap = node
                .create_snapshot(hw, Bytes::from_static(b"state machine image"))
                .expect("snapshot at the HW");
            assert!(node.log_mut().take_error().is_none());
            assert_eq!(node.log().start_offset(), hw);

            // It comes back, fetches the snapshot in chunks and catches up.
            c.start(victim);
            for i in 0..5 {
                c.propose(&format!("after {i}"));
                c.step();
            }
            c.run_until("catch-up", |c| {
                let Some(l) = c.leader() else { return false };
                let end = c.nodes[l as usize].as_ref().unwrap().log().end_offset();
                (0..3).all(|id| {
                    let n = c.nodes[id].as_ref().unwrap();
                    n.log().end_offset() == end && n.high_watermark() == end
                })
            });
            let victim_log = c.nodes[victim as usize].as_ref().unwrap().log();
            assert!(victim_log.latest_snapshot().unwrap() >= snap, "seed {seed}");
            let (_, bytes) = victim_log
                .read_snapshot(victim_log.latest_snapshot().unwrap(), 0, usize::MAX)
                .unwrap();
            let (_, content) = vltava_raft::decode_snapshot(&bytes).unwrap();
            assert_eq!(&content[..], b"state machine image");

            // Same log suffix everywhere, and it survives a restart of all.
            let l = c.leader().unwrap();
            let expected = values(c.nodes[l as usize].as_ref().unwrap().log());
            assert!(expected.iter().any(|v| &v[..] == b"after 4"));
            for id in 0..3 {
                c.nodes[id as usize] = None;
                c.start(id);
                let log = c.nodes[id as usize].as_ref().unwrap().log();
                let got = values(log);
                // Logs start at different snapshots: compare what both hold.
                let n = got.len().min(expected.len());
                assert!(n > 0);
                assert_eq!(
                    got[got.len() - n..],
                    expected[expected.len() - n..],
                    "seed {seed}, node {id}"
                );
            }
        }
    }
}
