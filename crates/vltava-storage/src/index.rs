//! The sparse per-segment indexes, kept in memory and written to the
//! `.index` / `.timeindex` files in Kafka's entry formats:
//!
//! * offset index: 8-byte entries, big-endian `relative offset: u32`,
//!   `file position: u32`. The offset is the *last* offset of the batch
//!   that starts at the position (as Kafka writes it).
//! * time index: 12-byte entries, big-endian `timestamp: i64`,
//!   `relative offset: u32` (the last offset of the batch where that
//!   timestamp, the segment's maximum so far, was first reached).
//!
//! Both are sorted; lookups binary search for the greatest entry not above
//! the target and the caller scans batch headers from there.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes per offset index entry.
pub const OFFSET_ENTRY_LEN: usize = 8;
/// Bytes per time index entry.
pub const TIME_ENTRY_LEN: usize = 12;

/// Offset index entries of one segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct OffsetIndex {
    /// (relative offset, position), both strictly increasing.
    pub entries: Vec<(u32, u32)>,
    /// Entries already in the file.
    pub persisted: usize,
    /// The file matches `entries` and is fsynced.
    pub durable: bool,
    pub max_entries: usize,
}

impl OffsetIndex {
    pub fn new(max_entries: usize) -> Self {
        OffsetIndex {
            entries: Vec::new(),
            persisted: 0,
            durable: false,
            max_entries,
        }
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    /// Appends if there is room and the entry is beyond the last one.
    pub fn append(&mut self, rel_offset: u32, position: u32) {
        if self.is_full() {
            return;
        }
        if let Some(&(o, p)) = self.entries.last() {
            if rel_offset <= o || position <= p {
                return;
            }
        }
        self.entries.push((rel_offset, position));
        self.durable = false;
    }

    /// Greatest entry whose offset is <= `rel_offset`.
    pub fn lookup(&self, rel_offset: u32) -> Option<(u32, u32)> {
        let n = self.entries.partition_point(|&(o, _)| o <= rel_offset);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Drops entries at or after file position `position`.
    pub fn truncate_to_position(&mut self, position: u32) {
        let n = self.entries.partition_point(|&(_, p)| p < position);
        if n < self.entries.len() {
            self.entries.truncate(n);
            self.durable = false;
        }
        self.persisted = self.persisted.min(n);
    }

    pub fn encode_entry(&self, i: usize, out: &mut Vec<u8>) {
        let (o, p) = self.entries[i];
        out.extend_from_slice(&o.to_be_bytes());
        out.extend_from_slice(&p.to_be_bytes());
    }

    /// Parses a file's bytes; `Err(reason)` if they are not a valid index
    /// (length, ordering).
    pub fn decode(bytes: &[u8], max_entries: usize) -> std::result::Result<Self, String> {
        if bytes.len() % OFFSET_ENTRY_LEN != 0 {
            return Err(format!(
                "offset index size {} is not a multiple of {OFFSET_ENTRY_LEN}",
                bytes.len()
            ));
        }
        let mut entries = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_LEN);
        for e in bytes.chunks_exact(OFFSET_ENTRY_LEN) {
            let o = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let p = u32::from_be_bytes([e[4], e[5], e[6], e[7]]);
            if let Some(&(lo, lp)) = entries.last() {
                if o <= lo || p <= lp {
                    return Err(format!(
                        "offset index entry ({o}, {p}) does not follow ({lo}, {lp})"
                    ));
                }
            }
            entries.push((o, p));
        }
        let persisted = entries.len();
        Ok(OffsetIndex {
            entries,
            persisted,
            durable: true,
            max_entries,
        })
    }
}

/// Time index entries of one segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeIndex {
    /// (timestamp, relative offset), both strictly increasing.
    pub entries: Vec<(i64, u32)>,
    pub persisted: usize,
    /// The file matches `entries` and is fsynced.
    pub durable: bool,
    pub max_entries: usize,
}

impl TimeIndex {
    pub fn new(max_entries: usize) -> Self {
        TimeIndex {
            entries: Vec::new(),
            persisted: 0,
            durable: false,
            max_entries,
        }
    }

    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    /// Appends `(ts, rel_offset)` if `ts` is newer than the last entry and
    /// (unless `skip_full_check`, used when the segment is sealed, as
    /// Kafka does) the index has room.
    pub fn maybe_append(&mut self, ts: i64, rel_offset: u32, skip_full_check: bool) {
        if ts < 0 || (!skip_full_check && self.is_full()) {
            return;
        }
        if let Some(&(t, o)) = self.entries.last() {
            if ts <= t || rel_offset <= o {
                return;
            }
        }
        self.entries.push((ts, rel_offset));
        self.durable = false;
    }

    /// Greatest entry whose timestamp is <= `ts`.
    pub fn lookup(&self, ts: i64) -> Option<(i64, u32)> {
        let n = self.entries.partition_point(|&(t, _)| t <= ts);
        n.checked_sub(1).map(|i| self.entries[i])
    }

    /// Drops entries whose offset is >= `rel_offset`.
    pub fn truncate_to_offset(&mut self, rel_offset: u32) {
        let n = self.entries.partition_point(|&(_, o)| o < rel_offset);
        if n < self.entries.len() {
            self.entries.truncate(n);
            self.durable = false;
        }
        self.persisted = self.persisted.min(n);
    }

    pub fn encode_entry(&self, i: usize, out: &mut Vec<u8>) {
        let (t, o) = self.entries[i];
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&o.to_be_bytes());
    }

    pub fn decode(bytes: &[u8], max_entries: usize) -> std::result::Result<Self, String> {
        if bytes.len() % TIME_ENTRY_LEN != 0 {
            return Err(format!(
                "time index size {} is not a multiple of {TIME_ENTRY_LEN}",
                bytes.len()
            ));
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(bytes.len() / TIME_ENTRY_LEN);
        for e in bytes.chunks_exact(TIME_ENTRY_LEN) {
            let mut t = [0u8; 8];
            t.copy_from_slice(&e[..8]);
            let t = i64::from_be_bytes(t);
            let o = u32::from_be_bytes([e[8], e[9], e[10], e[11]]);
            if t < 0 {
                return Err(format!("time index entry has negative timestamp {t}"));
            }
            if let Some(&(lt, lo)) = entries.last() {
                if t <= lt || o <= lo {
                    return Err(format!(
                        "time index entry ({t}, {o}) does not follow ({lt}, {lo})"
                    ));
                }
            }
            entries.push((t, o));
        }
        let persisted = entries.len();
        Ok(TimeIndex {
            entries,
            persisted,
            durable: true,
            max_entries,
        })
    }
}

/// Brings an index file in line with its entries: the file is cut to the
/// `keep` entries already persisted (dropping anything stale after them)
/// and `new_entries` (encoded) are appended after them.
pub(crate) fn persist(
    path: &Path,
    entry_len: usize,
    keep: usize,
    new_entries: &[u8],
    fsync: bool,
) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(Error::io("open", path))?;
    let keep = (keep * entry_len) as u64;
    let len = f.metadata().map_err(Error::io("stat", path))?.len();
    if len != keep {
        f.set_len(keep).map_err(Error::io("truncate", path))?;
    }
    if !new_entries.is_empty() {
        f.write_all_at(new_entries, keep)
            .map_err(Error::io("write", path))?;
    }
    if fsync {
        f.sync_all().map_err(Error::io("fsync", path))?;
    }
    Ok(())
}

/// Reads a whole index file; `None` if it does not exist. Refuses files
/// larger than `max_len` (a corrupt or foreign file) as corrupt.
pub(crate) fn read_index_file(path: &Path, max_len: u64) -> Result<Option<Vec<u8>>> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Io {
                op: "open",
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    let len = f.metadata().map_err(Error::io("stat", path))?.len();
    if len > max_len {
        return Err(Error::corrupt(
            path,
            format!("index of {len} bytes is larger than its limit {max_len}"),
        ));
    }
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, 0)
        .map_err(Error::io("read", path))?;
    Ok(Some(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_finds_floor_entry() {
        let mut ix = OffsetIndex::new(10);
        assert_eq!(ix.lookup(5), None);
        ix.append(3, 100);
        ix.append(7, 200);
        ix.append(7, 300); // not increasing: ignored
        ix.append(12, 300);
        assert_eq!(ix.entries.len(), 3);
        assert_eq!(ix.lookup(2), None);
        assert_eq!(ix.lookup(3), Some((3, 100)));
        assert_eq!(ix.lookup(6), Some((3, 100)));
        assert_eq!(ix.lookup(7), Some((7, 200)));
        assert_eq!(ix.lookup(u32::MAX), Some((12, 300)));
        ix.truncate_to_position(200);
        assert_eq!(ix.entries, vec![(3, 100)]);
    }

    #[test]
    fn offset_index_respects_capacity() {
        let mut ix = OffsetIndex::new(2);
        ix.append(1, 1);
        assert!(!ix.is_full());
        ix.append(2, 2);
        assert!(ix.is_full());
        ix.append(3, 3);
        assert_eq!(ix.entries.len(), 2);
    }

    #[test]
    fn time_lookup_and_truncate() {
        let mut ix = TimeIndex::new(10);
        ix.maybe_append(100, 1, false);
        ix.maybe_append(100, 2, false); // same timestamp: ignored
        ix.maybe_append(250, 5, false);
        ix.maybe_append(-1, 6, false); // no timestamp: ignored
        assert_eq!(ix.entries, vec![(100, 1), (250, 5)]);
        assert_eq!(ix.lookup(99), None);
        assert_eq!(ix.lookup(100), Some((100, 1)));
        assert_eq!(ix.lookup(249), Some((100, 1)));
        assert_eq!(ix.lookup(1000), Some((250, 5)));
        ix.truncate_to_offset(5);
        assert_eq!(ix.entries, vec![(100, 1)]);
        // Sealing may exceed the capacity by one, like Kafka.
        let mut full = TimeIndex::new(1);
        full.maybe_append(1, 1, false);
        full.maybe_append(2, 2, false);
        assert_eq!(full.entries.len(), 1);
        full.maybe_append(2, 2, true);
        assert_eq!(full.entries.len(), 2);
    }

    #[test]
    fn encode_decode_and_persist() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let mut ix = OffsetIndex::new(100);
        ix.append(1, 10);
        ix.append(5, 90);
        let save = |ix: &mut OffsetIndex, fsync: bool| {
            let mut buf = Vec::new();
            for i in ix.persisted..ix.entries.len() {
                ix.encode_entry(i, &mut buf);
            }
            persist(&path, OFFSET_ENTRY_LEN, ix.persisted, &buf, fsync).unwrap();
            ix.persisted = ix.entries.len();
        };
        save(&mut ix, true);
        ix.append(9, 200);
        save(&mut ix, false);
        let bytes = read_index_file(&path, 1 << 20).unwrap().unwrap();
        assert_eq!(bytes.len(), 24);
        assert_eq!(&bytes[..8], &[0, 0, 0, 1, 0, 0, 0, 10]);
        let back = OffsetIndex::decode(&bytes, 100).unwrap();
        assert_eq!(back.entries, ix.entries);
        // Truncation then persist shrinks the file.
        ix.truncate_to_position(90);
        save(&mut ix, false);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8);

        assert!(OffsetIndex::decode(&[0; 7], 10).is_err());
        assert!(OffsetIndex::decode(&[0; 16], 10).is_err()); // (0,0) twice
        let mut t = Vec::new();
        let mut ti = TimeIndex::new(10);
        ti.maybe_append(7, 3, false);
        ti.encode_entry(0, &mut t);
        assert_eq!(TimeIndex::decode(&t, 10).unwrap().entries, vec![(7, 3)]);
        assert!(TimeIndex::decode(&[0xff; 12], 10).is_err());
        assert_eq!(read_index_file(&dir.path().join("none"), 10).unwrap(), None);
        assert!(read_index_file(&path, 4).is_err());
    }
}
