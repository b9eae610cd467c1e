//! The log the state machine replicates, as seen by the state machine.
//!
//! The state machine never does I/O: it reads and changes the log through
//! [`ReplicatedLog`], whose changes are *not durable* until the driver has
//! flushed them and reported so with `RaftNode::on_flushed`. That split is
//! the whole durability contract (see the crate docs).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::types::{Batch, Epoch, Offset, SnapshotId};

/// Storage for the replicated log and its snapshots.
///
/// Appends and truncations take effect for reads at once. Appends become
/// durable only when the driver flushes; a truncation must be durable no
/// later than any append made after it (a serial disk queue gives that).
/// Snapshots given to [`ReplicatedLog::store_snapshot`] and
/// [`ReplicatedLog::install_snapshot`] must be durable when the call returns.
pub trait ReplicatedLog {
    /// First offset still in the log (the latest snapshot's end offset once
    /// the prefix is deleted, else 0).
    fn start_offset(&self) -> Offset;
    /// Offset just past the last record.
    fn end_offset(&self) -> Offset;
    /// Epoch of the record at `offset - 1`, for `start_offset() <= offset <=
    /// end_offset()`; at the log start that is the snapshot's epoch (0 for an
    /// empty log that never had a snapshot).
    fn epoch_before(&self, offset: Offset) -> Option<Epoch>;
    /// Kafka's `endOffsetForEpoch`: the largest epoch `e' <= epoch` the log
    /// (or the snapshot it starts from) knows, and the offset where `e'`
    /// ends (the start of the next epoch, or the log end). `None` when
    /// `epoch` is older than everything the log knows.
    fn end_offset_for_epoch(&self, epoch: Epoch) -> Option<(Epoch, Offset)>;
    /// Whole batches starting exactly at `from`, at least one if any exist,
    /// then more while they fit in `max_bytes`.
    fn read(&self, from: Offset, max_bytes: usize) -> Vec<Batch>;
    /// Appends batches at the end (`batches[0].base_offset == end_offset()`).
    fn append(&mut self, batches: Vec<Batch>);
    /// Drops every record at or after `offset`; a batch that holds `offset`
    /// goes whole, as in Kafka's segment truncation (a divergence point
    /// computed from the leader's epochs can fall inside a batch of ours).
    fn truncate_to(&mut self, offset: Offset);
    /// The newest snapshot, if any.
    fn latest_snapshot(&self) -> Option<SnapshotId>;
    /// `(total size, chunk)` of a stored snapshot from `position`.
    fn read_snapshot(
        &self,
        id: SnapshotId,
        position: u64,
        max_bytes: usize,
    ) -> Option<(u64, Bytes)>;
    /// Stores a snapshot of the committed prefix ending at `id.end_offset`
    /// and deletes the log before it (the log start moves up).
    fn store_snapshot(&mut self, id: SnapshotId, data: Bytes);
    /// Replaces the whole log with a snapshot fetched from the leader: the
    /// log becomes empty, starting at `id.end_offset` after `id.epoch`.
    fn install_snapshot(&mut self, id: SnapshotId, data: Bytes);
}

/// Leader-epoch cache: the start offset of every epoch present in the log,
/// preceded by a base entry for the log start (Kafka's leader-epoch
/// checkpoint). It answers "where does epoch e end" without a scan.
#[derive(Clone, Debug, Default)]
pub struct EpochCache {
    // (epoch, start offset), epochs strictly increasing, offsets
    // non-decreasing. entries[0] is the base: (snapshot epoch or 0, start).
    entries: Vec<(Epoch, Offset)>,
}

impl EpochCache {
    /// A cache for a log starting at `start` after a record of `epoch`.
    pub fn new(epoch: Epoch, start: Offset) -> Self {
        EpochCache {
            entries: vec![(epoch, start)],
        }
    }

    /// Records that a batch of `epoch` starts at `offset`.
    pub fn assign(&mut self, epoch: Epoch, offset: Offset) {
        let &(last_epoch, last_start) = self.entries.last().expect("base entry");
        assert!(
            epoch >= last_epoch,
            "epoch went backwards: {epoch} < {last_epoch}"
        );
        assert!(offset >= last_start);
        if epoch > last_epoch {
            self.entries.push((epoch, offset));
        }
    }

    /// Forgets epochs starting at or after `offset` (the base stays).
    pub fn truncate_to(&mut self, offset: Offset) {
        while self.entries.len() > 1 && self.entries.last().expect("non-empty").1 >= offset {
            self.entries.pop();
        }
    }

    /// The log now starts at `start` after a record of `epoch`.
    pub fn truncate_from_start(&mut self, epoch: Epoch, start: Offset) {
        let mut rest: Vec<(Epoch, Offset)> = self
            .entries
            .iter()
            .copied()
            .filter(|&(e, s)| s >= start && e > epoch)
            .collect();
        let mut entries = vec![(epoch, start)];
        entries.append(&mut rest);
        self.entries = entries;
    }

    /// The last epoch known.
    pub fn last_epoch(&self) -> Epoch {
        self.entries.last().expect("base entry").0
    }

    /// Epoch of the record at `offset - 1` (the base epoch at the start).
    pub fn epoch_before(&self, offset: Offset) -> Epoch {
        let mut epoch = self.entries[0].0;
        for &(e, s) in &self.entries[1..] {
            if s < offset {
                epoch = e;
            } else {
                break;
            }
        }
        epoch
    }

    /// See [`ReplicatedLog::end_offset_for_epoch`].
    pub fn end_offset_for_epoch(&self, epoch: Epoch, log_end: Offset) -> Option<(Epoch, Offset)> {
        let idx = self.entries.iter().rposition(|&(e, _)| e <= epoch)?;
        let end = self
            .entries
            .get(idx + 1)
            .map(|&(_, s)| s)
            .unwrap_or(log_end);
        Some((self.entries[idx].0, end))
    }
}

/// An in-memory [`ReplicatedLog`] that tracks which of its contents a crash
/// would keep: for the simulation, tests, and as the reference behaviour a
/// disk-backed log must match.
#[derive(Clone, Debug)]
pub struct MemLog {
    start: Offset,
    batches: Vec<Batch>,
    cache: EpochCache,
    /// Number of leading batches that are durable.
    durable_batches: usize,
    snapshots: BTreeMap<SnapshotId, Bytes>,
    /// Lowest offset whose content changed since `take_dirty_from`.
    dirty_from: Option<Offset>,
}

impl Default for MemLog {
    fn default() -> Self {
        Self::new()
    }
}

impl MemLog {
    /// An empty log starting at offset 0.
    pub fn new() -> Self {
        MemLog {
            start: 0,
            batches: Vec::new(),
            cache: EpochCache::new(0, 0),
            durable_batches: 0,
            snapshots: BTreeMap::new(),
            dirty_from: None,
        }
    }

    /// The lowest offset whose record changed (appended, truncated away or
    /// replaced by a snapshot install) since the last call: lets a checker
    /// look only at what changed.
    pub fn take_dirty_from(&mut self) -> Option<Offset> {
        self.dirty_from.take()
    }

    fn mark_dirty(&mut self, offset: Offset) {
        self.dirty_from = Some(self.dirty_from.map_or(offset, |d| d.min(offset)));
    }

    /// Makes everything appended so far durable; returns the durable end.
    pub fn flush(&mut self) -> Offset {
        self.durable_batches = self.batches.len();
        self.end_offset()
    }

    /// Offset just past the durable prefix.
    pub fn durable_end(&self) -> Offset {
        match self.durable_batches {
            0 => self.start,
            n => self.batches[n - 1].next_offset(),
        }
    }

    /// What survives a crash: the durable prefix and the snapshots.
    pub fn crash(&self) -> MemLog {
        let mut log = self.clone();
        log.dirty_from = Some(0);
        let keep = self.durable_batches;
        let cut = log.durable_end();
        log.batches.truncate(keep);
        log.cache.truncate_to(cut);
        log
    }

    /// All batches currently in the log.
    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    /// The stored bytes of a snapshot.
    pub fn snapshot_data(&self, id: SnapshotId) -> Option<&Bytes> {
        self.snapshots.get(&id)
    }

    fn index_of(&self, offset: Offset) -> Result<usize, usize> {
        self.batches
            .binary_search_by(|b| b.base_offset.cmp(&offset))
    }
}

impl ReplicatedLog for MemLog {
    fn start_offset(&self) -> Offset {
        self.start
    }

    fn end_offset(&self) -> Offset {
        self.batches
            .last()
            .map(Batch::next_offset)
            .unwrap_or(self.start)
    }

    fn epoch_before(&self, offset: Offset) -> Option<Epoch> {
        if offset < self.start || offset > self.end_offset() {
            return None;
        }
        Some(self.cache.epoch_before(offset))
    }

    fn end_offset_for_epoch(&self, epoch: Epoch) -> Option<(Epoch, Offset)> {
        self.cache.end_offset_for_epoch(epoch, self.end_offset())
    }

    fn read(&self, from: Offset, max_bytes: usize) -> Vec<Batch> {
        let Ok(mut idx) = self.index_of(from) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        while let Some(b) = self.batches.get(idx) {
            if !out.is_empty() && bytes + b.size() > max_bytes {
                break;
            }
            bytes += b.size();
            out.push(b.clone());
            idx += 1;
        }
        out
    }

    fn append(&mut self, batches: Vec<Batch>) {
        for b in batches {
            assert_eq!(
                b.base_offset,
                self.end_offset(),
                "append must be contiguous"
            );
            assert!(b.record_count > 0);
            self.mark_dirty(b.base_offset);
            self.cache.assign(b.epoch, b.base_offset);
            self.batches.push(b);
        }
    }

    fn truncate_to(&mut self, offset: Offset) {
        assert!(offset >= self.start, "truncate below log start");
        // The batch holding `offset` goes whole.
        let idx = self.batches.partition_point(|b| b.next_offset() <= offset);
        self.batches.truncate(idx);
        let end = self.end_offset();
        self.mark_dirty(end);
        self.durable_batches = self.durable_batches.min(idx);
        self.cache.truncate_to(end);
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
        let data = self.snapshots.get(&id)?;
        let len = data.len() as u64;
        let from = position.min(len) as usize;
        let to = (from + max_bytes).min(data.len());
        Some((len, data.slice(from..to)))
    }

    fn store_snapshot(&mut self, id: SnapshotId, data: Bytes) {
        assert!(id.end_offset >= self.start && id.end_offset <= self.end_offset());
        self.snapshots.insert(id, data);
        // Delete the prefix at once so lagging replicas exercise
        // FetchSnapshot; a real log would wait for retention.
        let idx = match self.index_of(id.end_offset) {
            Ok(i) => i,
            Err(i) if i == self.batches.len() => i,
            Err(_) => panic!("snapshot end {} is not a batch boundary", id.end_offset),
        };
        self.batches.drain(..idx);
        self.durable_batches = self.durable_batches.saturating_sub(idx);
        self.start = id.end_offset;
        self.cache.truncate_from_start(id.epoch, id.end_offset);
    }

    fn install_snapshot(&mut self, id: SnapshotId, data: Bytes) {
        self.snapshots.insert(id, data);
        self.mark_dirty(0);
        self.batches.clear();
        self.durable_batches = 0;
        self.start = id.end_offset;
        self.cache = EpochCache::new(id.epoch, id.end_offset);
    }
}
