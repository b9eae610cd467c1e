//! The aborted-transaction index of a segment (`.txnindex`), in the file
//! format of Kafka's `TransactionIndex`.
//!
//! Each entry records one aborted transaction: the producer, the offset of
//! its first record, the offset of its abort marker and the last stable
//! offset when it was aborted. An entry is kept by the segment that holds
//! its abort marker (`last_offset`), so its `first_offset` may lie in an
//! earlier segment. Within a segment, entries are in strictly increasing
//! `last_offset` order.
//!
//! On disk: 34-byte big-endian entries `version: i16 (0)`,
//! `producer_id: i64`, `first_offset: i64`, `last_offset: i64`,
//! `last_stable_offset: i64`. A file exists only while its segment has
//! entries. The entries also live in memory (aborts are rare), so
//! [`crate::Log::collect_aborted_txns`] reads no file.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Extension of aborted-transaction index files.
pub const TXN_INDEX_SUFFIX: &str = "txnindex";
/// Bytes per aborted-transaction index entry.
pub const TXN_ENTRY_LEN: usize = 34;
/// The only entry version there is.
const TXN_ENTRY_VERSION: i16 = 0;

/// One aborted transaction, as the transaction index stores it and as a
/// `read_committed` fetch reports it (`AbortedTransactions` carries the
/// producer id and first offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose transaction was aborted.
    pub producer_id: i64,
    /// Offset of the transaction's first record in this partition.
    pub first_offset: i64,
    /// Offset of the abort marker (the control batch).
    pub last_offset: i64,
    /// The partition's last stable offset once the abort completed.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// Appends the 34-byte file entry.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&TXN_ENTRY_VERSION.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&self.last_offset.to_be_bytes());
        out.extend_from_slice(&self.last_stable_offset.to_be_bytes());
    }

    /// Parses one 34-byte entry; `Err(reason)` for an unknown version or
    /// an impossible offset range.
    pub(crate) fn decode(e: &[u8]) -> std::result::Result<AbortedTxn, String> {
        debug_assert_eq!(e.len(), TXN_ENTRY_LEN);
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&e[at..at + 8]);
            i64::from_be_bytes(a)
        };
        let version = i16::from_be_bytes([e[0], e[1]]);
        if version != TXN_ENTRY_VERSION {
            return Err(format!("entry version {version}"));
        }
        let txn = AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        };
        if let Some(why) = txn.range_problem() {
            return Err(why);
        }
        Ok(txn)
    }

    /// Why the offsets cannot describe a transaction, if they cannot.
    pub(crate) fn range_problem(&self) -> Option<String> {
        if self.first_offset < 0 {
            Some(format!("first offset {} is negative", self.first_offset))
        } else if self.first_offset > self.last_offset {
            Some(format!(
                "first offset {} is after last offset {}",
                self.first_offset, self.last_offset
            ))
        } else {
            None
        }
    }
}

/// The entries of one segment's transaction index.
#[derive(Debug, Clone)]
pub(crate) struct TxnIndex {
    /// Strictly increasing `last_offset`. The file holds exactly these
    /// (entries are written as they are added).
    entries: Vec<AbortedTxn>,
    /// Smallest `first_offset` (`i64::MAX` when empty): lets a lookup skip
    /// a segment whose transactions all start at or after its upper bound.
    min_first_offset: i64,
    /// The file is fsynced (or absent because there are no entries).
    pub durable: bool,
    /// The file was created since the directory was last fsynced.
    pub dir_dirty: bool,
}

impl Default for TxnIndex {
    fn default() -> Self {
        TxnIndex::new(Vec::new())
    }
}

impl TxnIndex {
    /// An index of entries already in a durable file.
    pub(crate) fn new(entries: Vec<AbortedTxn>) -> Self {
        TxnIndex {
            min_first_offset: min_first_offset(&entries),
            entries,
            durable: true,
            dir_dirty: false,
        }
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds an entry already written to the file.
    pub fn push(&mut self, txn: AbortedTxn) {
        debug_assert!(self
            .entries
            .last()
            .is_none_or(|l| l.last_offset < txn.last_offset));
        self.min_first_offset = self.min_first_offset.min(txn.first_offset);
        self.entries.push(txn);
    }

    /// Whether `txn` is already here (same marker, same contents).
    pub fn contains(&self, txn: &AbortedTxn) -> bool {
        let i = self
            .entries
            .partition_point(|e| e.last_offset < txn.last_offset);
        self.entries.get(i) == Some(txn)
    }

    /// Number of entries whose marker is below `offset`.
    pub fn count_below(&self, offset: i64) -> usize {
        self.entries.partition_point(|e| e.last_offset < offset)
    }

    /// Keeps the first `n` entries.
    pub fn truncate(&mut self, n: usize) {
        if n < self.entries.len() {
            self.entries.truncate(n);
            self.min_first_offset = min_first_offset(&self.entries);
        }
    }

    /// Adds to `out` every entry with `last_offset >= from` and
    /// `first_offset < upper`, in file order.
    pub fn collect(&self, from: i64, upper: i64, out: &mut Vec<AbortedTxn>) {
        if self.min_first_offset >= upper {
            return;
        }
        let start = self.count_below(from);
        out.extend(
            self.entries[start..]
                .iter()
                .filter(|t| t.first_offset < upper),
        );
    }
}

fn min_first_offset(entries: &[AbortedTxn]) -> i64 {
    entries
        .iter()
        .map(|t| t.first_offset)
        .min()
        .unwrap_or(i64::MAX)
}

/// Writes `txn` as entry number `keep` of the file at `path` (creating
/// it), cutting anything after the first `keep` entries first. No fsync.
pub(crate) fn write_entry(path: &Path, keep: usize, txn: &AbortedTxn) -> Result<()> {
    let mut buf = Vec::with_capacity(TXN_ENTRY_LEN);
    txn.encode(&mut buf);
    crate::index::persist(path, TXN_ENTRY_LEN, keep, &buf, false)
}

/// Cuts the file to its first `keep` entries and fsyncs it, or removes it
/// if `keep` is 0. Returns whether a file was removed (the directory then
/// needs an fsync).
pub(crate) fn cut_file(path: &Path, keep: usize) -> Result<bool> {
    if keep == 0 {
        return match std::fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Io {
                op: "remove",
                path: path.to_path_buf(),
                source: e,
            }),
        };
    }
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    f.set_len((keep * TXN_ENTRY_LEN) as u64)
        .map_err(Error::io("truncate", path))?;
    f.sync_all().map_err(Error::io("fsync", path))?;
    Ok(false)
}

/// fsyncs the file at `path`.
pub(crate) fn sync_file(path: &Path) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(Error::io("open", path))?;
    f.sync_all().map_err(Error::io("fsync", path))
}

/// What [`load`] found.
pub(crate) struct Loaded {
    pub index: TxnIndex,
    /// The file was cut or removed.
    pub changed: bool,
    /// The file was removed (the directory needs an fsync).
    pub removed: bool,
}

/// Loads the index of the segment `[base, next)` from `path` (absent:
/// empty). Keeps the longest valid prefix of entries and cuts the file to
/// it, with a warning: a torn trailing entry, an entry with an unknown
/// version or an impossible range, an entry out of order or outside the
/// segment, and every entry whose marker is at or beyond `next` (lost in
/// a crash) are dropped together with everything after them. An empty
/// file is removed. Never fails on bad contents, only on I/O errors.
pub(crate) fn load(path: &Path, base: i64, next: i64) -> Result<Loaded> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Ok(Loaded {
                index: TxnIndex::default(),
                changed: false,
                removed: false,
            })
        }
        Err(e) => {
            return Err(Error::Io {
                op: "open",
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let len = f.metadata().map_err(Error::io("stat", path))?.len();
    // Each entry has its own marker offset in [base, next): more bytes
    // than that are certainly invalid and are not even read.
    let max_entries = u64::try_from(next.saturating_sub(base)).unwrap_or(0);
    let cap = max_entries.saturating_mul(TXN_ENTRY_LEN as u64);
    let n = len.min(cap) as usize;
    let mut bytes = vec![0u8; n];
    f.read_exact_at(&mut bytes, 0)
        .map_err(Error::io("read", path))?;
    drop(f);

    let mut entries: Vec<AbortedTxn> = Vec::with_capacity(n / TXN_ENTRY_LEN);
    let mut problem: Option<String> = None;
    for (i, e) in bytes.chunks_exact(TXN_ENTRY_LEN).enumerate() {
        let txn = match AbortedTxn::decode(e) {
            Ok(t) => t,
            Err(why) => {
                problem = Some(format!("entry {i}: {why}"));
                break;
            }
        };
        if txn.last_offset < base {
            problem = Some(format!(
                "entry {i}: marker offset {} is below the segment base {base}",
                txn.last_offset
            ));
            break;
        }
        if let Some(prev) = entries.last() {
            if txn.last_offset <= prev.last_offset {
                problem = Some(format!(
                    "entry {i}: marker offset {} does not follow {}",
                    txn.last_offset, prev.last_offset
                ));
                break;
            }
        }
        if txn.last_offset >= next {
            problem = Some(format!(
                "entry {i}: marker offset {} is at or beyond the segment's end {next} \
                 (the marker did not survive)",
                txn.last_offset
            ));
            break;
        }
        entries.push(txn);
    }
    if problem.is_none() {
        if len > n as u64 {
            problem = Some(format!(
                "{len} bytes: more entries than the segment [{base}, {next}) has offsets"
            ));
        } else if n % TXN_ENTRY_LEN != 0 {
            problem = Some(format!(
                "torn trailing entry of {} bytes",
                n % TXN_ENTRY_LEN
            ));
        }
    }
    let mut changed = false;
    let mut removed = false;
    if let Some(reason) = problem {
        tracing::warn!(
            file = %path.display(),
            kept_entries = entries.len(),
            file_bytes = len,
            %reason,
            "cutting the transaction index at its first invalid entry"
        );
        removed = cut_file(path, entries.len())?;
        changed = true;
    } else if len == 0 {
        removed = cut_file(path, 0)?;
        changed = true;
    }
    Ok(Loaded {
        index: TxnIndex::new(entries),
        changed,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: first,
        }
    }

    fn write(path: &Path, txns: &[AbortedTxn]) {
        let mut buf = Vec::new();
        for t in txns {
            t.encode(&mut buf);
        }
        std::fs::write(path, buf).unwrap();
    }

    #[test]
    fn entry_format_is_kafkas() {
        let t = AbortedTxn {
            producer_id: 0x0102_0304_0506_0708,
            first_offset: 5,
            last_offset: 9,
            last_stable_offset: -1,
        };
        let mut buf = Vec::new();
        t.encode(&mut buf);
        assert_eq!(buf.len(), TXN_ENTRY_LEN);
        assert_eq!(&buf[..2], &[0, 0]);
        assert_eq!(&buf[2..10], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&buf[10..18], &5i64.to_be_bytes());
        assert_eq!(&buf[18..26], &9i64.to_be_bytes());
        assert_eq!(&buf[26..34], &[0xff; 8]);
        assert_eq!(AbortedTxn::decode(&buf), Ok(t));
        buf[1] = 1;
        assert!(AbortedTxn::decode(&buf).unwrap_err().contains("version 1"));
        let mut bad = Vec::new();
        txn(1, 10, 9).encode(&mut bad);
        assert!(AbortedTxn::decode(&bad).is_err());
    }

    #[test]
    fn collect_filters_and_skips() {
        let mut ix = TxnIndex::default();
        assert!(ix.is_empty());
        ix.push(txn(1, 3, 10));
        ix.push(txn(2, 12, 14));
        ix.push(txn(3, 1, 20));
        fn pids(ix: &TxnIndex, from: i64, upper: i64) -> Vec<i64> {
            let mut v = Vec::new();
            ix.collect(from, upper, &mut v);
            v.iter().map(|t| t.producer_id).collect()
        }
        let get = |from, upper| pids(&ix, from, upper);
        assert_eq!(get(0, i64::MAX), vec![1, 2, 3]);
        assert_eq!(get(11, i64::MAX), vec![2, 3]);
        assert_eq!(get(0, 3), vec![3]);
        assert_eq!(get(0, 1), Vec::<i64>::new());
        assert_eq!(get(15, 13), vec![3]);
        assert_eq!(get(21, i64::MAX), Vec::<i64>::new());
        assert!(ix.contains(&txn(2, 12, 14)));
        assert!(!ix.contains(&txn(9, 12, 14)));
        ix.truncate(ix.count_below(14));
        assert_eq!(ix.len(), 1);
        // The minimum first offset follows the truncation.
        assert_eq!(pids(&ix, 0, 3), Vec::<i64>::new());
        assert_eq!(pids(&ix, 0, 4), vec![1]);
    }

    #[test]
    fn load_keeps_the_valid_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.txnindex");
        // Absent: empty, nothing created.
        let l = load(&path, 0, 100).unwrap();
        assert!(l.index.is_empty() && !l.changed && !path.exists());
        // Valid.
        write(&path, &[txn(1, 0, 5), txn(2, 1, 8)]);
        let l = load(&path, 0, 100).unwrap();
        assert_eq!(l.index.entries(), &[txn(1, 0, 5), txn(2, 1, 8)]);
        assert!(!l.changed);
        // Torn tail.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[0, 0, 7]);
        std::fs::write(&path, &bytes).unwrap();
        let l = load(&path, 0, 100).unwrap();
        assert_eq!(l.index.len(), 2);
        assert!(l.changed && !l.removed);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 68);
        // Markers beyond the segment's end are dropped.
        let l = load(&path, 0, 8).unwrap();
        assert_eq!(l.index.entries(), &[txn(1, 0, 5)]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 34);
        // Out of order: cut there.
        write(&path, &[txn(1, 0, 5), txn(2, 1, 5), txn(3, 1, 9)]);
        assert_eq!(load(&path, 0, 100).unwrap().index.len(), 1);
        // Below the base, first entry: file removed.
        write(&path, &[txn(1, 0, 5)]);
        let l = load(&path, 10, 100).unwrap();
        assert!(l.index.is_empty() && l.removed && !path.exists());
        // Empty file: removed.
        std::fs::write(&path, b"").unwrap();
        assert!(load(&path, 0, 100).unwrap().removed);
        assert!(!path.exists());
        // Larger than the segment could need: only the plausible part is
        // read, the rest cut.
        write(&path, &[txn(1, 0, 0), txn(2, 0, 1), txn(3, 0, 2)]);
        let l = load(&path, 0, 2).unwrap();
        assert_eq!(l.index.len(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 68);
    }

    #[test]
    fn write_and_cut_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.txnindex");
        write_entry(&path, 0, &txn(1, 0, 1)).unwrap();
        write_entry(&path, 1, &txn(2, 0, 2)).unwrap();
        // A stale third entry is overwritten, not kept.
        write_entry(&path, 2, &txn(3, 0, 3)).unwrap();
        write_entry(&path, 2, &txn(4, 0, 4)).unwrap();
        let l = load(&path, 0, 10).unwrap();
        assert_eq!(
            l.index
                .entries()
                .iter()
                .map(|t| t.producer_id)
                .collect::<Vec<_>>(),
            vec![1, 2, 4]
        );
        assert!(!cut_file(&path, 1).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 34);
        sync_file(&path).unwrap();
        assert!(cut_file(&path, 0).unwrap());
        assert!(!path.exists());
        assert!(!cut_file(&path, 0).unwrap());
    }
}
