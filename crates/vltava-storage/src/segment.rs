//! One segment: a `.log` file of whole batches plus its in-memory indexes.
//!
//! What may change while readers look (size, next offset) is atomic; the
//! index and the timestamp bookkeeping sit behind a short `RwLock`. Only
//! the log's writer (under the log's writer mutex) changes a segment.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use vltava_records::batch::{offsets, BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC_V2, MIN_BATCH_LENGTH};
use vltava_records::RecordBatch;

use crate::config::LogConfig;
use crate::error::{Error, Result};
use crate::fdcache::{FdCache, FileSlot};
use crate::index::{self, OffsetIndex, TimeIndex, OFFSET_ENTRY_LEN, TIME_ENTRY_LEN};
use crate::txnindex::{self, AbortedTxn, TxnIndex, TXN_INDEX_SUFFIX};

/// Extension of segment data files.
pub const LOG_SUFFIX: &str = "log";
/// Extension of offset index files.
pub const INDEX_SUFFIX: &str = "index";
/// Extension of time index files.
pub const TIME_INDEX_SUFFIX: &str = "timeindex";
/// Appended to a file name while it is being deleted.
pub const DELETED_SUFFIX: &str = ".deleted";

/// Bytes read at a time when scanning batch headers.
const SCAN_BUF: usize = 8 * 1024;
/// Bytes read at a time when validating whole batches in recovery.
const RECOVERY_CHUNK: usize = 1 << 20;
/// Largest relative offset (Kafka: an int).
pub(crate) const MAX_RELATIVE_OFFSET: i64 = i32::MAX as i64;
/// Largest segment base offset accepted: leaves room for any relative
/// offset (u32) plus one without overflowing an i64.
pub(crate) const MAX_BASE_OFFSET: i64 = i64::MAX - (1 << 33);
/// Largest file position an index entry can hold (Kafka: an int).
pub(crate) const MAX_POSITION: u64 = i32::MAX as u64;

/// `<20-digit base offset>.<ext>`.
pub fn segment_file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// The header fields the log needs, read from the first 61 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    pub position: u64,
    pub size: u64,
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub leader_epoch: i32,
    /// -1 when the batch has no producer.
    pub producer_id: i64,
    /// The batch attributes (codec, transactional, control, ...).
    pub attributes: i16,
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Parses a batch header (`b` holds at least 61 bytes). Checks what the
/// log relies on: magic 2, a sane length, a non-empty offset range that
/// does not overflow. The CRC is not checked here.
pub(crate) fn parse_header(b: &[u8], position: u64) -> std::result::Result<BatchHeader, String> {
    debug_assert!(b.len() >= BATCH_HEADER_LEN);
    let length = be_i32(b, offsets::BATCH_LENGTH);
    let magic = b[offsets::MAGIC] as i8;
    if magic != MAGIC_V2 {
        return Err(format!("magic {magic} at position {position}"));
    }
    if length < MIN_BATCH_LENGTH {
        return Err(format!("batch length {length} at position {position}"));
    }
    let base_offset = be_i64(b, offsets::BASE_OFFSET);
    let delta = be_i32(b, offsets::LAST_OFFSET_DELTA);
    if base_offset < 0 || delta < 0 {
        return Err(format!(
            "base offset {base_offset} / last offset delta {delta} at position {position}"
        ));
    }
    let last_offset = base_offset
        .checked_add(i64::from(delta))
        .filter(|&l| l < i64::MAX)
        .ok_or_else(|| format!("offset overflow at position {position}"))?;
    Ok(BatchHeader {
        position,
        size: LOG_OVERHEAD as u64 + length as u64,
        base_offset,
        last_offset,
        max_timestamp: be_i64(b, offsets::MAX_TIMESTAMP),
        leader_epoch: be_i32(b, offsets::PARTITION_LEADER_EPOCH),
        producer_id: be_i64(b, offsets::PRODUCER_ID),
        attributes: i16::from_be_bytes([b[offsets::ATTRIBUTES], b[offsets::ATTRIBUTES + 1]]),
    })
}

/// Why a header scan stopped early.
#[derive(Debug)]
pub(crate) enum ScanError {
    Io(io::Error),
    /// The bytes at `position` are not a complete, sane batch.
    Invalid {
        position: u64,
        reason: String,
    },
}

/// Walks the batch headers of `[start, end)` of a segment file, reading
/// them in small chunks and never the records of large batches.
pub(crate) struct HeaderScanner<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
    buf_pos: u64,
}

impl<'a> HeaderScanner<'a> {
    pub fn new(file: &'a File, start: u64, end: u64) -> Self {
        HeaderScanner {
            file,
            pos: start,
            end,
            buf: Vec::new(),
            buf_pos: 0,
        }
    }

    pub fn next_header(&mut self) -> std::result::Result<Option<BatchHeader>, ScanError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let remaining = self.end - self.pos;
        let invalid = |position, reason: &str| ScanError::Invalid {
            position,
            reason: reason.to_string(),
        };
        if remaining < BATCH_HEADER_LEN as u64 {
            return Err(invalid(self.pos, "partial batch header"));
        }
        let hdr = BATCH_HEADER_LEN as u64;
        let cached =
            self.pos >= self.buf_pos && self.pos + hdr <= self.buf_pos + self.buf.len() as u64;
        if !cached {
            let n = remaining.min(SCAN_BUF as u64) as usize;
            self.buf.resize(n, 0);
            match self.file.read_exact_at(&mut self.buf, self.pos) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => {
                    self.buf.clear();
                    return Err(invalid(self.pos, "file shorter than expected"));
                }
                Err(e) => {
                    self.buf.clear();
                    return Err(ScanError::Io(e));
                }
            }
            self.buf_pos = self.pos;
        }
        let off = (self.pos - self.buf_pos) as usize;
        let h = parse_header(&self.buf[off..off + BATCH_HEADER_LEN], self.pos).map_err(|r| {
            ScanError::Invalid {
                position: self.pos,
                reason: r,
            }
        })?;
        if h.size > remaining {
            return Err(invalid(self.pos, "batch extends past the end of the data"));
        }
        self.pos += h.size;
        Ok(Some(h))
    }
}

/// Index entries and timestamp bookkeeping of a segment.
#[derive(Debug)]
pub(crate) struct SegmentState {
    pub offsets: OffsetIndex,
    pub times: TimeIndex,
    pub bytes_since_last_entry: u64,
    /// Largest batch max timestamp (-1: none yet).
    pub max_timestamp: i64,
    /// Last offset of the first batch that reached `max_timestamp`.
    pub offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch (-1: none), for `segment.ms`.
    pub rolling_timestamp: i64,
}

impl SegmentState {
    pub fn new(cfg: &LogConfig) -> Self {
        SegmentState {
            offsets: OffsetIndex::new(cfg.max_offset_index_entries()),
            times: TimeIndex::new(cfg.max_time_index_entries()),
            bytes_since_last_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            rolling_timestamp: -1,
        }
    }

    /// Accounts for one appended batch, adding index entries every
    /// `interval` bytes as Kafka's `LogSegment.append` does.
    pub fn on_batch(&mut self, base_offset: i64, h: &BatchHeader, interval: u32) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset;
        }
        if h.position == 0 {
            self.rolling_timestamp = h.max_timestamp;
        }
        if self.bytes_since_last_entry > u64::from(interval) {
            let rel = (h.last_offset - base_offset) as u32;
            self.offsets.append(rel, h.position as u32);
            if self.offset_of_max_timestamp >= base_offset {
                let rel_max = (self.offset_of_max_timestamp - base_offset) as u32;
                self.times.maybe_append(self.max_timestamp, rel_max, false);
            }
            self.bytes_since_last_entry = 0;
        }
        self.bytes_since_last_entry += h.size;
    }

    /// Adds the final time index entry when the segment stops being active
    /// (or is closed), even if the time index is full.
    pub fn seal(&mut self, base_offset: i64) {
        if self.max_timestamp >= 0 && self.offset_of_max_timestamp >= base_offset {
            let rel = (self.offset_of_max_timestamp - base_offset) as u32;
            self.times.maybe_append(self.max_timestamp, rel, true);
        }
    }

    pub fn is_full(&self) -> bool {
        self.offsets.is_full() || self.times.is_full()
    }
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    pub log_path: PathBuf,
    pub index_path: PathBuf,
    pub time_index_path: PathBuf,
    pub txn_index_path: PathBuf,
    pub slot: Arc<FileSlot>,
    /// Bytes of whole batches readers may see.
    pub size: AtomicU64,
    /// Offset after the last batch (= base offset when empty).
    pub next_offset: AtomicI64,
    /// `now_ms` of the first append (-1: empty). For a loaded segment: the
    /// first batch's timestamp, or the load time if it has none.
    pub first_append_ms: AtomicI64,
    state: RwLock<SegmentState>,
    /// Aborted transactions whose markers are in this segment. Changed
    /// only by the log's writer; read by `collect_aborted_txns`.
    txns: RwLock<TxnIndex>,
}

impl Segment {
    fn paths(dir: &Path, base: i64) -> (PathBuf, PathBuf, PathBuf) {
        (
            dir.join(segment_file_name(base, LOG_SUFFIX)),
            dir.join(segment_file_name(base, INDEX_SUFFIX)),
            dir.join(segment_file_name(base, TIME_INDEX_SUFFIX)),
        )
    }

    fn build(
        dir: &Path,
        base: i64,
        fds: &FdCache,
        state: SegmentState,
        size: u64,
        next: i64,
        now_ms: i64,
    ) -> Segment {
        let (log_path, index_path, time_index_path) = Self::paths(dir, base);
        Segment {
            base_offset: base,
            slot: fds.new_slot(log_path.clone()),
            log_path,
            index_path,
            time_index_path,
            txn_index_path: dir.join(segment_file_name(base, TXN_INDEX_SUFFIX)),
            size: AtomicU64::new(size),
            next_offset: AtomicI64::new(next),
            first_append_ms: AtomicI64::new(if size == 0 {
                -1
            } else if state.rolling_timestamp >= 0 {
                state.rolling_timestamp
            } else {
                now_ms
            }),
            state: RwLock::new(state),
            txns: RwLock::new(TxnIndex::default()),
        }
    }

    /// A segment the log cleaner wrote: its files are in place and
    /// fsynced, `txns` is its transaction index.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cleaned(
        dir: &Path,
        base: i64,
        fds: &FdCache,
        mut state: SegmentState,
        size: u64,
        next: i64,
        now_ms: i64,
        txns: Vec<AbortedTxn>,
    ) -> Arc<Segment> {
        state.offsets.persisted = state.offsets.entries.len();
        state.offsets.durable = true;
        state.times.persisted = state.times.entries.len();
        state.times.durable = true;
        let seg = Segment::build(dir, base, fds, state, size, next, now_ms);
        *seg.txns_mut() = TxnIndex::new(txns);
        Arc::new(seg)
    }

    pub fn state(&self) -> RwLockReadGuard<'_, SegmentState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state_mut(&self) -> RwLockWriteGuard<'_, SegmentState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn txns(&self) -> RwLockReadGuard<'_, TxnIndex> {
        self.txns.read().unwrap_or_else(|e| e.into_inner())
    }

    fn txns_mut(&self) -> RwLockWriteGuard<'_, TxnIndex> {
        self.txns.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    pub fn max_timestamp(&self) -> i64 {
        self.state().max_timestamp
    }

    /// Creates an empty segment file (replacing an empty leftover of the
    /// same name) and returns the segment with its read-write handle.
    pub fn create(
        dir: &Path,
        base: i64,
        cfg: &LogConfig,
        fds: &FdCache,
        now_ms: i64,
    ) -> Result<(Arc<Segment>, File)> {
        let seg = Segment::build(dir, base, fds, SegmentState::new(cfg), 0, base, now_ms);
        for p in [&seg.index_path, &seg.time_index_path, &seg.txn_index_path] {
            remove_if_exists(p)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&seg.log_path)
            .map_err(Error::io("create", &seg.log_path))?;
        Ok((Arc::new(seg), file))
    }

    /// Opens the `.log` for appending at `size()`.
    pub fn open_rw(&self) -> Result<File> {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.log_path)
            .map_err(Error::io("open", &self.log_path))?;
        f.seek(SeekFrom::Start(self.size()))
            .map_err(Error::io("seek", &self.log_path))?;
        Ok(f)
    }

    /// Loads a segment from disk. With `trust` (clean shutdown, or below
    /// the recovery point) the index files are loaded and sanity checked
    /// and only the batch headers after the last index entry are read;
    /// when that fails, or without `trust`, every batch is validated
    /// (length, magic, CRC, contiguous offsets), the file is cut at the
    /// first invalid byte and the indexes are rebuilt.
    pub fn load(
        dir: &Path,
        base: i64,
        cfg: &LogConfig,
        fds: &FdCache,
        trust: bool,
        now_ms: i64,
    ) -> Result<LoadedSegment> {
        let (log_path, ..) = Self::paths(dir, base);
        let file = File::open(&log_path).map_err(Error::io("open", &log_path))?;
        let len = file.metadata().map_err(Error::io("stat", &log_path))?.len();
        if trust {
            match Self::load_trusted(dir, base, cfg, fds, &file, len, now_ms) {
                Ok(seg) => {
                    seg.load_txn_index(false)?;
                    return Ok(LoadedSegment {
                        segment: Arc::new(seg),
                        truncated: false,
                    });
                }
                Err(LoadError::Io(e)) => return Err(e),
                Err(LoadError::Insane(reason)) => {
                    tracing::warn!(
                        segment = %log_path.display(),
                        %reason,
                        "segment indexes failed the sanity check; rebuilding them by scanning"
                    );
                }
            }
        }
        drop(file);
        Self::recover(dir, base, cfg, fds, now_ms)
    }

    fn load_trusted(
        dir: &Path,
        base: i64,
        cfg: &LogConfig,
        fds: &FdCache,
        file: &File,
        len: u64,
        now_ms: i64,
    ) -> std::result::Result<Segment, LoadError> {
        let (log_path, index_path, time_index_path) = Self::paths(dir, base);
        let insane = |s: String| LoadError::Insane(s);
        if len > MAX_POSITION {
            return Err(insane(format!("segment of {len} bytes is too large")));
        }
        // An index can at most have one entry per minimal batch.
        let max_entries = (len / BATCH_HEADER_LEN as u64 + 2) as usize;
        let ix_bytes = index::read_index_file(&index_path, (max_entries * OFFSET_ENTRY_LEN) as u64)
            .map_err(|e| insane(e.to_string()))?
            .ok_or_else(|| insane("offset index file missing".into()))?;
        let tix_bytes = index::read_index_file(
            &time_index_path,
            ((max_entries + 1) * TIME_ENTRY_LEN) as u64,
        )
        .map_err(|e| insane(e.to_string()))?
        .ok_or_else(|| insane("time index file missing".into()))?;
        let offsets =
            OffsetIndex::decode(&ix_bytes, cfg.max_offset_index_entries()).map_err(insane)?;
        let times = TimeIndex::decode(&tix_bytes, cfg.max_time_index_entries()).map_err(insane)?;
        let mut st = SegmentState {
            offsets,
            times,
            bytes_since_last_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            rolling_timestamp: -1,
        };
        if let Some(&(t, o)) = st.times.entries.last() {
            st.max_timestamp = t;
            st.offset_of_max_timestamp = base + i64::from(o);
        }
        let last_entry = st.offsets.entries.last().copied();
        let tail_start = last_entry.map_or(0, |(_, p)| u64::from(p));
        if tail_start >= len && len > 0 {
            return Err(insane(format!(
                "index points at {tail_start}, past the end {len}"
            )));
        }
        if len == 0 && (last_entry.is_some() || !st.times.entries.is_empty()) {
            return Err(insane("index entries for an empty segment".into()));
        }
        // The first header gives the rolling timestamp (and, with no index
        // entry, is the start of the tail scan).
        let mut next = base;
        if len > 0 {
            let mut first = HeaderScanner::new(file, 0, len);
            match first.next_header() {
                // The cleaner may have removed the segment's first batches:
                // the first one left may start after the base offset.
                Ok(Some(h)) if h.base_offset >= base => st.rolling_timestamp = h.max_timestamp,
                Ok(Some(h)) => {
                    return Err(insane(format!(
                        "first batch at offset {} in segment {base}",
                        h.base_offset
                    )))
                }
                Ok(None) => {}
                Err(ScanError::Io(e)) => {
                    return Err(LoadError::Io(Error::Io {
                        op: "read",
                        path: log_path.clone(),
                        source: e,
                    }))
                }
                Err(ScanError::Invalid { reason, .. }) => return Err(insane(reason)),
            }
        }
        let mut scan = HeaderScanner::new(file, tail_start, len);
        let mut expected: Option<i64> = if tail_start == 0 { Some(base) } else { None };
        loop {
            let h = match scan.next_header() {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(ScanError::Io(e)) => {
                    return Err(LoadError::Io(Error::Io {
                        op: "read",
                        path: log_path.clone(),
                        source: e,
                    }))
                }
                Err(ScanError::Invalid { reason, .. }) => return Err(insane(reason)),
            };
            // Offsets only grow; gaps are where the cleaner removed batches.
            if let Some(e) = expected {
                if h.base_offset < e {
                    return Err(insane(format!(
                        "batch at {} has offset {}, expected at least {e}",
                        h.position, h.base_offset
                    )));
                }
            }
            if h.last_offset - base > MAX_RELATIVE_OFFSET {
                return Err(insane(format!(
                    "batch at {} is beyond the segment's range",
                    h.position
                )));
            }
            if h.position == tail_start && tail_start > 0 {
                // The indexed batch itself: check the entry points at it.
                let (rel, _) = last_entry.expect("tail_start > 0 only with an entry");
                if h.last_offset != base + i64::from(rel) {
                    return Err(insane(format!(
                        "index entry offset {} but batch there ends at {}",
                        base + i64::from(rel),
                        h.last_offset
                    )));
                }
                if h.max_timestamp > st.max_timestamp {
                    st.max_timestamp = h.max_timestamp;
                    st.offset_of_max_timestamp = h.last_offset;
                }
                st.bytes_since_last_entry = h.size;
            } else {
                st.on_batch(base, &h, cfg.index_interval_bytes);
            }
            expected = Some(h.last_offset + 1);
            next = h.last_offset + 1;
        }
        if let Some(&(_, o)) = st.times.entries.last() {
            if base + i64::from(o) >= next {
                return Err(insane(format!(
                    "time index entry offset {} beyond the data",
                    base + i64::from(o)
                )));
            }
        }
        Ok(Segment::build(dir, base, fds, st, len, next, now_ms))
    }

    /// Full validation of every batch; truncates the file at the first
    /// invalid byte and rewrites both index files.
    fn recover(
        dir: &Path,
        base: i64,
        cfg: &LogConfig,
        fds: &FdCache,
        now_ms: i64,
    ) -> Result<LoadedSegment> {
        let (log_path, _, _) = Self::paths(dir, base);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(Error::io("open", &log_path))?;
        let len = file.metadata().map_err(Error::io("stat", &log_path))?.len();
        let mut st = SegmentState::new(cfg);
        let mut pos = 0u64;
        let mut buf = Bytes::new();
        let mut buf_pos = 0u64;
        let mut expected = base;
        let stop: Option<String> = loop {
            if pos >= len {
                break None;
            }
            let remaining = len - pos;
            if remaining < BATCH_HEADER_LEN as u64 {
                break Some(format!("partial batch header of {remaining} bytes"));
            }
            let ensure = |need: u64, buf: &mut Bytes, buf_pos: &mut u64| -> Result<()> {
                if pos >= *buf_pos && pos + need <= *buf_pos + buf.len() as u64 {
                    return Ok(());
                }
                let n = need.max(remaining.min(RECOVERY_CHUNK as u64)) as usize;
                let mut v = vec![0u8; n];
                file.read_exact_at(&mut v, pos)
                    .map_err(Error::io("read", &log_path))?;
                *buf = Bytes::from(v);
                *buf_pos = pos;
                Ok(())
            };
            ensure(BATCH_HEADER_LEN as u64, &mut buf, &mut buf_pos)?;
            let off = (pos - buf_pos) as usize;
            let h = match parse_header(&buf[off..off + BATCH_HEADER_LEN], pos) {
                Ok(h) => h,
                Err(reason) => break Some(reason),
            };
            if h.size > remaining {
                break Some(format!(
                    "batch of {} bytes at {pos} but only {remaining} remain",
                    h.size
                ));
            }
            if pos + h.size > MAX_POSITION {
                break Some(format!("batch at {pos} ends beyond the largest segment"));
            }
            // Offsets only grow; gaps are where the cleaner removed batches.
            if h.base_offset < expected {
                break Some(format!(
                    "batch at {pos} has offset {}, expected at least {expected}",
                    h.base_offset
                ));
            }
            if h.last_offset - base > MAX_RELATIVE_OFFSET {
                break Some(format!("batch at {pos} overflows the relative offset"));
            }
            ensure(h.size, &mut buf, &mut buf_pos)?;
            let off = (pos - buf_pos) as usize;
            let bytes = buf.slice(off..off + h.size as usize);
            if let Err(e) = RecordBatch::new(bytes).and_then(|b| b.validate()) {
                break Some(format!("batch at {pos}: {e}"));
            }
            st.on_batch(base, &h, cfg.index_interval_bytes);
            expected = h.last_offset + 1;
            pos += h.size;
        };
        let truncated = stop.is_some();
        if let Some(reason) = stop {
            tracing::warn!(
                segment = %log_path.display(),
                valid_bytes = pos,
                file_bytes = len,
                %reason,
                "truncating segment at the first invalid batch"
            );
            file.set_len(pos)
                .map_err(Error::io("truncate", &log_path))?;
        }
        // The recovered bytes may only have been in the page cache: make
        // them durable so the recovery point can move past them.
        file.sync_all().map_err(Error::io("fsync", &log_path))?;
        drop(file);
        let seg = Segment::build(dir, base, fds, st, pos, expected, now_ms);
        seg.persist_indexes(true)?;
        seg.load_txn_index(true)?;
        Ok(LoadedSegment {
            segment: Arc::new(seg),
            truncated,
        })
    }

    /// Writes the index entries not yet in the files (all of them if the
    /// files are stale), fsyncing if asked. Skips an index whose file is
    /// known to match and be durable. The entries are copied under the
    /// read lock and written without it, so index lookups by readers
    /// never wait for this I/O. Callers serialise changes (the log's
    /// writer lock, or single-threaded loading).
    pub fn persist_indexes(&self, fsync: bool) -> Result<()> {
        let (offsets, times) = {
            let st = self.state();
            let job =
                |durable: bool, persisted: usize, len: usize, enc: &dyn Fn(usize, &mut Vec<u8>)| {
                    if durable {
                        return None;
                    }
                    let keep = persisted.min(len);
                    let mut buf = Vec::new();
                    for i in keep..len {
                        enc(i, &mut buf);
                    }
                    Some((keep, len, buf))
                };
            (
                job(
                    st.offsets.durable,
                    st.offsets.persisted,
                    st.offsets.entries.len(),
                    &|i, b| st.offsets.encode_entry(i, b),
                ),
                job(
                    st.times.durable,
                    st.times.persisted,
                    st.times.entries.len(),
                    &|i, b| st.times.encode_entry(i, b),
                ),
            )
        };
        if let Some((keep, len, buf)) = &offsets {
            index::persist(&self.index_path, OFFSET_ENTRY_LEN, *keep, buf, fsync)?;
            let mut st = self.state_mut();
            if st.offsets.entries.len() == *len {
                st.offsets.persisted = *len;
                st.offsets.durable = fsync;
            }
        }
        if let Some((keep, len, buf)) = &times {
            index::persist(&self.time_index_path, TIME_ENTRY_LEN, *keep, buf, fsync)?;
            let mut st = self.state_mut();
            if st.times.entries.len() == *len {
                st.times.persisted = *len;
                st.times.durable = fsync;
            }
        }
        if fsync {
            self.sync_txn_index()?;
        }
        Ok(())
    }

    /// Loads the `.txnindex` (entries must have their markers in
    /// `[base, next_offset)`; see [`txnindex::load`]). With `fsync` (a
    /// recovered segment) a kept file is fsynced even if unchanged.
    fn load_txn_index(&self, fsync: bool) -> Result<()> {
        let loaded = txnindex::load(&self.txn_index_path, self.base_offset, self.next_offset())?;
        if loaded.removed {
            if let Some(dir) = self.txn_index_path.parent() {
                crate::checkpoint::fsync_dir(dir)?;
            }
        } else if fsync && !loaded.changed && !loaded.index.is_empty() {
            txnindex::sync_file(&self.txn_index_path)?;
        }
        *self.txns_mut() = loaded.index;
        Ok(())
    }

    /// Adds an aborted transaction whose marker (`txn.last_offset`) is in
    /// this segment, writing it to the file at once (fsynced only with
    /// `fsync`). Markers must come in increasing order; an entry equal to
    /// one already present is accepted and changes nothing (a retry).
    /// Callers hold the log's writer lock.
    pub fn append_aborted_txn(&self, txn: AbortedTxn, fsync: bool) -> Result<()> {
        let keep = {
            let t = self.txns();
            if let Some(last) = t.entries().last() {
                if txn.last_offset <= last.last_offset {
                    if t.contains(&txn) {
                        return Ok(());
                    }
                    return Err(Error::InvalidAbortedTxn {
                        txn,
                        reason: format!(
                            "marker offset {} does not follow the segment's last entry at {}",
                            txn.last_offset, last.last_offset
                        ),
                    });
                }
            }
            t.len()
        };
        // Written without the lock: lookups never wait for this I/O.
        txnindex::write_entry(&self.txn_index_path, keep, &txn)?;
        {
            let mut t = self.txns_mut();
            t.push(txn);
            t.durable = false;
            t.dir_dirty |= keep == 0;
        }
        if fsync {
            self.sync_txn_index()?;
        }
        Ok(())
    }

    /// fsyncs the `.txnindex` (and the directory, if the file is new) if
    /// it has entries not yet durable.
    pub fn sync_txn_index(&self) -> Result<()> {
        let (n, dir_dirty) = {
            let t = self.txns();
            if t.durable || t.is_empty() {
                return Ok(());
            }
            (t.len(), t.dir_dirty)
        };
        txnindex::sync_file(&self.txn_index_path)?;
        if dir_dirty {
            if let Some(dir) = self.txn_index_path.parent() {
                crate::checkpoint::fsync_dir(dir)?;
            }
        }
        let mut t = self.txns_mut();
        if t.len() == n {
            t.durable = true;
            t.dir_dirty = false;
        }
        Ok(())
    }

    /// Drops the aborted transactions whose marker is at or after
    /// `offset`, cutting (and fsyncing) or removing the file.
    pub fn truncate_txn_index(&self, offset: i64) -> Result<()> {
        let keep = {
            let t = self.txns();
            let keep = t.count_below(offset);
            if keep == t.len() {
                return Ok(());
            }
            keep
        };
        let dir_dirty = {
            let mut t = self.txns_mut();
            t.truncate(keep);
            t.dir_dirty
        };
        let removed = txnindex::cut_file(&self.txn_index_path, keep)?;
        if removed || dir_dirty {
            if let Some(dir) = self.txn_index_path.parent() {
                crate::checkpoint::fsync_dir(dir)?;
            }
        }
        let mut t = self.txns_mut();
        if t.len() == keep {
            // The file now matches and is fsynced (or gone).
            t.durable = true;
            t.dir_dirty = false;
        }
        Ok(())
    }

    /// The batch containing `target` (the first whose last offset is >=
    /// target), found from the offset index, scanning headers below `end`.
    pub fn find_batch(
        &self,
        file: &File,
        target: i64,
        end: u64,
    ) -> std::result::Result<Option<BatchHeader>, ScanError> {
        let start = self.index_position(target);
        let mut scan = HeaderScanner::new(file, start, end);
        while let Some(h) = scan.next_header()? {
            if h.last_offset >= target {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    /// File position to start scanning from for `target`.
    pub fn index_position(&self, target: i64) -> u64 {
        let rel = target.saturating_sub(self.base_offset);
        if rel < 0 {
            return 0;
        }
        let rel = rel.min(i64::from(u32::MAX)) as u32;
        self.state()
            .offsets
            .lookup(rel)
            .map_or(0, |(_, p)| u64::from(p))
    }

    /// Renames the files to `*.deleted` and removes them. Readers that
    /// already hold the file keep reading it.
    pub fn delete_files(&self, fds: &FdCache) -> Result<()> {
        self.slot.unpin(fds);
        for p in [
            &self.log_path,
            &self.index_path,
            &self.time_index_path,
            &self.txn_index_path,
        ] {
            let mut d = p.as_os_str().to_os_string();
            d.push(DELETED_SUFFIX);
            let d = PathBuf::from(d);
            match fs::rename(p, &d) {
                Ok(()) => remove_if_exists(&d)?,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io {
                        op: "rename",
                        path: p.clone(),
                        source: e,
                    })
                }
            }
        }
        Ok(())
    }

    /// Largest timestamp for time retention: the max batch timestamp, or
    /// (no timestamps) the file's modification time, as Kafka does.
    pub fn largest_timestamp(&self) -> i64 {
        let ts = self.max_timestamp();
        if ts >= 0 {
            return ts;
        }
        fs::metadata(&self.log_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(-1, |d| d.as_millis() as i64)
    }
}

/// A loaded segment and whether recovery cut bytes off it.
pub(crate) struct LoadedSegment {
    pub segment: Arc<Segment>,
    pub truncated: bool,
}

enum LoadError {
    Io(Error),
    Insane(String),
}

pub(crate) fn remove_if_exists(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::Io {
            op: "remove",
            path: p.to_path_buf(),
            source: e,
        }),
    }
}

/// Per-segment jitter for `segment.ms`: a hash of the log and the base
/// offset, so it is stable across restarts and needs no random source.
pub(crate) fn roll_jitter(log_key: u64, base_offset: i64, jitter_ms: i64) -> i64 {
    if jitter_ms <= 0 {
        return 0;
    }
    // SplitMix64 finaliser over the two inputs.
    let mut z = log_key ^ (base_offset as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z % jitter_ms as u64) as i64
}
