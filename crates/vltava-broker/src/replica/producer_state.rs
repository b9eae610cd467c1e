//! Idempotent and transactional producers (KIP-98): for each partition,
//! the epoch of every producer id, the sequence ranges and offsets of its
//! last five batches, and where its open transaction (if any) began here. This is what lets the leader refuse a gap in the
//! sequence (OUT_OF_ORDER_SEQUENCE_NUMBER), refuse a fenced epoch
//! (INVALID_PRODUCER_EPOCH), and answer a retried batch with the offsets it
//! got the first time instead of appending it twice.
//!
//! The rules are Kafka's (`ProducerAppendInfo`, `ProducerStateEntry`):
//! - a batch whose epoch and sequence range equal one of the last five of
//!   its producer is a duplicate;
//! - an older epoch is refused; a newer one must start at sequence 0;
//! - in the same epoch the first sequence must follow the last one (with
//!   wrap-around at `i32::MAX`);
//! - a producer the partition knows nothing about (new, expired, or state
//!   lost in a restart) may start at any sequence (KIP-360).
//!
//! The open transactions give the last stable offset: the first offset of
//! the oldest one (`first_unstable_offset`). A transaction opens with its
//! producer's first transactional batch and closes with the marker the
//! transaction coordinator writes (`end_transaction`).
//!
//! A pure state machine: no I/O, no clock (times are passed in).
//!
//! The table survives restarts as Kafka keeps it: snapshots
//! (`snapshot_entries` / `from_snapshot_entries`, one entry per producer
//! with its last batch, in Kafka's `ProducerSnapshot` format, see
//! `producer_snapshot`) taken at segment rolls and at clean shutdown, plus
//! a replay of the batches after the snapshot
//! (`Partition::load_producer_states`). As in Kafka, a producer loaded from
//! a snapshot remembers only its last batch, not the last five: a retry of
//! an older one of its in-flight batches after the restart is
//! OUT_OF_ORDER_SEQUENCE_NUMBER rather than a duplicate.
//!
//! Without a usable snapshot (a log written before snapshots existed, or
//! every snapshot corrupt) the table is rebuilt from the batches of the
//! last 16 MiB of the log: producers older than that are unknown, which
//! the KIP-360 rule above lets continue at any sequence. A transaction
//! still open whose producer's first batch in that tail is transactional
//! may have begun earlier: the headers before the tail are walked back to
//! the producer's previous marker to find its real start
//! (`extend_open_transaction`), so the last stable offset is right.

use std::collections::{BTreeSet, HashMap, VecDeque};

use vltava_protocol::messages::producer_snapshot::ProducerEntry;
use vltava_protocol::ErrorCode;

use crate::error::KafkaError;

/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`: also the most
/// in-flight requests an idempotent producer may have.
pub const BATCHES_RETAINED: usize = 5;

/// How often, at most, `expire` walks the table.
const EXPIRY_INTERVAL_MS: i64 = 60_000;

/// The producer fields of one batch header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub last_seq: i32,
    /// Part of a transaction (the batch's transactional bit).
    pub transactional: bool,
}

/// Where an appended batch went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOffsets {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
}

#[derive(Clone, Debug)]
struct Entry {
    epoch: i16,
    batches: VecDeque<BatchOffsets>,
    /// When this broker last heard from the producer (for expiry).
    last_update_ms: i64,
    /// The max timestamp of its last batch or marker (Kafka's
    /// `lastTimestamp`; -1 if none). Kept for the snapshots.
    last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker (-1 if none).
    coordinator_epoch: i32,
}

impl Entry {
    fn new(epoch: i16, now_ms: i64) -> Entry {
        Entry {
            epoch,
            batches: VecDeque::with_capacity(BATCHES_RETAINED),
            last_update_ms: now_ms,
            last_timestamp: -1,
            coordinator_epoch: -1,
        }
    }

    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }
}

/// What to do with an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// A retry of a batch already in the log, at these offsets.
    Duplicate(BatchOffsets),
}

#[derive(Default)]
pub struct ProducerStates {
    entries: HashMap<i64, Entry>,
    last_expiry_ms: i64,
    /// Producer id -> first offset of its open transaction in this partition.
    open: HashMap<i64, i64>,
    /// The same, ordered by first offset: the oldest gives the LSO.
    open_by_offset: BTreeSet<(i64, i64)>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) && next >= 0 || (next == 0 && last == i32::MAX)
}

/// The sequence `delta` before `seq`, in sequences that wrap from
/// `i32::MAX` to 0 (the first sequence of a batch from its last and its
/// offset delta).
fn sequence_before(seq: i32, delta: i32) -> i32 {
    if seq >= delta {
        seq - delta
    } else {
        // Wrapped: delta - seq - 1 steps back from i32::MAX.
        i32::MAX - (delta - seq - 1)
    }
}

impl ProducerStates {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks the idempotent batches of one append, in order. A duplicate of
    /// any of them makes the whole append a duplicate (Kafka answers with
    /// that batch's offsets and appends nothing).
    pub fn check(&self, batches: &[ProducerBatch]) -> Result<Verdict, KafkaError> {
        // Epoch and last sequence per producer as the earlier batches of
        // this same append leave them.
        let mut pending: HashMap<i64, (i16, i32)> = HashMap::new();
        for b in batches {
            let current = self.entries.get(&b.producer_id);
            if b.first_seq < 0 {
                // A coordinator's write (transactional offset commits):
                // no sequence, only the epoch is checked.
                if let Some(entry) = current.filter(|e| b.epoch < e.epoch) {
                    return Err(KafkaError::new(
                        ErrorCode::INVALID_PRODUCER_EPOCH,
                        format!(
                            "Epoch of producer {} is {}, which is smaller than the last seen epoch {}",
                            b.producer_id, b.epoch, entry.epoch
                        ),
                    ));
                }
                continue;
            }
            if let Some(entry) = current.filter(|e| e.epoch == b.epoch) {
                if let Some(dup) = entry
                    .batches
                    .iter()
                    .find(|m| m.first_seq == b.first_seq && m.last_seq == b.last_seq)
                {
                    return Ok(Verdict::Duplicate(*dup));
                }
            }
            let known = pending
                .get(&b.producer_id)
                .map(|&(epoch, last)| (epoch, Some(last)))
                .or_else(|| current.map(|e| (e.epoch, e.last_seq())));
            if let Some((epoch, last_seq)) = known {
                if b.epoch < epoch {
                    return Err(KafkaError::new(
                        ErrorCode::INVALID_PRODUCER_EPOCH,
                        format!(
                            "Epoch of producer {} at offset is {}, which is smaller than the last seen epoch {epoch}",
                            b.producer_id, b.epoch
                        ),
                    ));
                }
                if b.epoch > epoch {
                    if b.first_seq != 0 {
                        return Err(KafkaError::new(
                            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                            format!(
                                "Invalid sequence number for new epoch of producer {}: {} (request epoch), {} (seq. number), {epoch} (current producer epoch)",
                                b.producer_id, b.epoch, b.first_seq
                            ),
                        ));
                    }
                } else if let Some(last) = last_seq {
                    if !in_sequence(last, b.first_seq) {
                        return Err(KafkaError::new(
                            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                            format!(
                                "Out of order sequence number for producer {}: {} (incoming seq. number), {last} (current end sequence number)",
                                b.producer_id, b.first_seq
                            ),
                        ));
                    }
                }
            }
            if !b.transactional && self.open.contains_key(&b.producer_id) {
                return Err(KafkaError::new(
                    ErrorCode::INVALID_TXN_STATE,
                    format!(
                        "Expected a transactional write from producer {}, which has an open transaction",
                        b.producer_id
                    ),
                ));
            }
            pending.insert(b.producer_id, (b.epoch, b.last_seq));
        }
        Ok(Verdict::Append)
    }

    /// Records a batch that was appended (after `check` said `Append`);
    /// `max_timestamp` is the max timestamp of the batch as stored.
    pub fn record(
        &mut self,
        batch: ProducerBatch,
        offsets: BatchOffsets,
        max_timestamp: i64,
        now_ms: i64,
    ) {
        let entry = self
            .entries
            .entry(batch.producer_id)
            .or_insert_with(|| Entry::new(batch.epoch, now_ms));
        if entry.epoch < batch.epoch || (entry.epoch != batch.epoch && batch.first_seq >= 0) {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if batch.first_seq >= 0 {
            if entry.batches.len() == BATCHES_RETAINED {
                entry.batches.pop_front();
            }
            entry.batches.push_back(offsets);
        }
        entry.last_update_ms = now_ms;
        entry.last_timestamp = max_timestamp;
        if batch.transactional && !self.open.contains_key(&batch.producer_id) {
            self.open.insert(batch.producer_id, offsets.first_offset);
            self.open_by_offset
                .insert((offsets.first_offset, batch.producer_id));
        }
    }

    /// Puts back an earlier batch of a producer loaded from a snapshot,
    /// which keeps only each producer's last batch (Kafka's format): read
    /// from the log just before the snapshot, newest first, so that a retry
    /// of one of the last few batches is still answered as a duplicate
    /// rather than OUT_OF_ORDER_SEQUENCE_NUMBER, which an idempotent
    /// producer takes as fatal. Only batches of the producer's current
    /// epoch, older than every batch it has, up to `BATCHES_RETAINED`.
    pub fn remember_earlier(&mut self, batch: ProducerBatch, offsets: BatchOffsets) {
        let Some(entry) = self.entries.get_mut(&batch.producer_id) else {
            return;
        };
        if entry.epoch != batch.epoch || batch.first_seq < 0 {
            return;
        }
        let Some(oldest) = entry.batches.front() else {
            return;
        };
        if offsets.last_offset >= oldest.first_offset
            || entry.batches.len() == BATCHES_RETAINED
            || !in_sequence(offsets.last_seq, oldest.first_seq)
        {
            return;
        }
        entry.batches.push_front(offsets);
    }

    /// Records a transaction marker of `producer_id` at `epoch`, written by
    /// the coordinator in `coordinator_epoch` with timestamp `timestamp`:
    /// closes its open transaction and returns where that began (None if
    /// it had no batch here). A marker of a newer epoch (the coordinator
    /// fenced the producer) moves the producer to that epoch.
    pub fn end_transaction(
        &mut self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        timestamp: i64,
        now_ms: i64,
    ) -> Option<i64> {
        let entry = self
            .entries
            .entry(producer_id)
            .or_insert_with(|| Entry::new(epoch, now_ms));
        if epoch > entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.last_update_ms = now_ms;
        entry.last_timestamp = timestamp;
        entry.coordinator_epoch = coordinator_epoch;
        let first = self.open.remove(&producer_id)?;
        self.open_by_offset.remove(&(first, producer_id));
        Some(first)
    }

    /// The first offset of the oldest open transaction: nothing at or
    /// after it is stable.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open_by_offset.first().map(|&(offset, _)| offset)
    }

    /// Moves the start of `producer_id`'s open transaction back to
    /// `first_offset` (it began before the part of the log its state was
    /// rebuilt from). Does nothing if no transaction is open or it already
    /// starts at or before that offset.
    pub fn extend_open_transaction(&mut self, producer_id: i64, first_offset: i64) {
        let Some(current) = self.open.get_mut(&producer_id) else {
            return;
        };
        if first_offset >= *current {
            return;
        }
        self.open_by_offset.remove(&(*current, producer_id));
        *current = first_offset;
        self.open_by_offset.insert((first_offset, producer_id));
    }

    /// The coordinator epoch of `producer_id`'s last transaction marker
    /// here (-1 before any), if the producer is known.
    pub fn coordinator_epoch(&self, producer_id: i64) -> Option<i32> {
        self.entries.get(&producer_id).map(|e| e.coordinator_epoch)
    }

    /// The first offset of `producer_id`'s open transaction here.
    pub fn open_transaction(&self, producer_id: i64) -> Option<i64> {
        self.open.get(&producer_id).copied()
    }

    /// The table as a snapshot holds it (Kafka's `ProducerSnapshot`
    /// entries), ordered by producer id: per producer its epoch, its last
    /// batch (sequence -1 and offset -1 if none), the timestamp and
    /// coordinator epoch of its last write, and where its open transaction
    /// began (-1 if none).
    pub fn snapshot_entries(&self) -> Vec<ProducerEntry> {
        let mut out: Vec<ProducerEntry> = self
            .entries
            .iter()
            .map(|(&producer_id, e)| {
                let last = e.batches.back();
                ProducerEntry {
                    producer_id,
                    epoch: e.epoch,
                    last_sequence: last.map_or(-1, |b| b.last_seq),
                    last_offset: last.map_or(-1, |b| b.last_offset),
                    offset_delta: last.map_or(0, |b| {
                        i32::try_from(b.last_offset - b.first_offset).unwrap_or(i32::MAX)
                    }),
                    timestamp: e.last_timestamp,
                    coordinator_epoch: e.coordinator_epoch,
                    current_txn_first_offset: self.open.get(&producer_id).copied().unwrap_or(-1),
                }
            })
            .collect();
        out.sort_unstable_by_key(|e| e.producer_id);
        out
    }

    /// The table a snapshot's entries describe, as Kafka loads one: each
    /// producer with its last batch only (when the entry has one: an offset
    /// and a sequence of at least 0), heard from at `now_ms`. A later entry
    /// for the same producer replaces an earlier one.
    pub fn from_snapshot_entries(entries: &[ProducerEntry], now_ms: i64) -> ProducerStates {
        let mut states = ProducerStates::default();
        for e in entries {
            let mut entry = Entry::new(e.epoch, now_ms);
            entry.last_timestamp = e.timestamp;
            entry.coordinator_epoch = e.coordinator_epoch;
            if e.last_offset >= 0 && e.last_sequence >= 0 {
                let delta = e.offset_delta.max(0);
                entry.batches.push_back(BatchOffsets {
                    first_seq: sequence_before(e.last_sequence, delta),
                    last_seq: e.last_sequence,
                    first_offset: e.last_offset.saturating_sub(i64::from(delta)).max(0),
                    last_offset: e.last_offset,
                });
            }
            states.entries.insert(e.producer_id, entry);
            if let Some(first) = states.open.remove(&e.producer_id) {
                states.open_by_offset.remove(&(first, e.producer_id));
            }
            if e.current_txn_first_offset >= 0 {
                states
                    .open
                    .insert(e.producer_id, e.current_txn_first_offset);
                states
                    .open_by_offset
                    .insert((e.current_txn_first_offset, e.producer_id));
            }
        }
        states
    }

    /// The batches remembered for `producer_id`, oldest first.
    #[cfg(test)]
    pub fn retained_batches(&self, producer_id: i64) -> Vec<BatchOffsets> {
        self.entries
            .get(&producer_id)
            .map(|e| e.batches.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Forgets producers not heard from for `expiration_ms`
    /// (producer.id.expiration.ms); walks the table at most once a minute.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        if now_ms - self.last_expiry_ms < EXPIRY_INTERVAL_MS {
            return;
        }
        self.last_expiry_ms = now_ms;
        // A producer with an open transaction stays until its marker.
        let open = &self.open;
        self.entries.retain(|pid, e| {
            open.contains_key(pid) || now_ms.saturating_sub(e.last_update_ms) < expiration_ms
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, first: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: first,
            // Sequences wrap from i32::MAX to 0.
            last_seq: ((i64::from(first) + i64::from(count) - 1) % (i64::from(i32::MAX) + 1))
                as i32,
            transactional: false,
        }
    }

    fn txn_batch(pid: i64, epoch: i16, first: i32, count: i32) -> ProducerBatch {
        ProducerBatch {
            transactional: true,
            ..batch(pid, epoch, first, count)
        }
    }

    fn append(states: &mut ProducerStates, b: ProducerBatch, first_offset: i64) -> Verdict {
        let verdict = states.check(&[b]).expect("accepted");
        if verdict == Verdict::Append {
            let offsets = BatchOffsets {
                first_seq: b.first_seq,
                last_seq: b.last_seq,
                first_offset,
                last_offset: first_offset
                    + (i64::from(b.last_seq) - i64::from(b.first_seq))
                        .rem_euclid(i64::from(i32::MAX) + 1),
            };
            states.record(b, offsets, 0, 0);
        }
        verdict
    }

    fn refused(states: &ProducerStates, b: ProducerBatch) -> ErrorCode {
        states.check(&[b]).expect_err("refused").code
    }

    #[test]
    fn sequences_must_follow_and_retries_are_duplicates() {
        let mut s = ProducerStates::default();
        assert_eq!(append(&mut s, batch(7, 0, 0, 3), 0), Verdict::Append);
        assert_eq!(append(&mut s, batch(7, 0, 3, 2), 3), Verdict::Append);
        // A retry of either batch gets its original offsets.
        assert_eq!(
            append(&mut s, batch(7, 0, 0, 3), 99),
            Verdict::Duplicate(BatchOffsets {
                first_seq: 0,
                last_seq: 2,
                first_offset: 0,
                last_offset: 2
            })
        );
        assert!(matches!(
            append(&mut s, batch(7, 0, 3, 2), 99),
            Verdict::Duplicate(BatchOffsets {
                first_offset: 3,
                ..
            })
        ));
        // A gap, or a sequence from the past that is no batch we have.
        assert_eq!(
            refused(&s, batch(7, 0, 6, 1)),
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(
            refused(&s, batch(7, 0, 1, 1)),
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(append(&mut s, batch(7, 0, 5, 1), 5), Verdict::Append);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered() {
        let mut s = ProducerStates::default();
        for i in 0..6 {
            append(&mut s, batch(1, 0, i, 1), i64::from(i));
        }
        assert_eq!(
            refused(&s, batch(1, 0, 0, 1)),
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert!(matches!(
            append(&mut s, batch(1, 0, 1, 1), 99),
            Verdict::Duplicate(_)
        ));
    }

    #[test]
    fn epochs() {
        let mut s = ProducerStates::default();
        append(&mut s, batch(1, 3, 0, 1), 0);
        assert_eq!(
            refused(&s, batch(1, 2, 1, 1)),
            ErrorCode::INVALID_PRODUCER_EPOCH
        );
        // A new epoch starts over at 0, and nothing else.
        assert_eq!(
            refused(&s, batch(1, 4, 1, 1)),
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
        assert_eq!(append(&mut s, batch(1, 4, 0, 1), 1), Verdict::Append);
        // The old epoch's batches are no longer duplicates.
        assert_eq!(
            refused(&s, batch(1, 3, 0, 1)),
            ErrorCode::INVALID_PRODUCER_EPOCH
        );
    }

    #[test]
    fn unknown_producers_start_anywhere_and_sequences_wrap() {
        let mut s = ProducerStates::default();
        assert_eq!(
            append(&mut s, batch(9, 0, i32::MAX - 1, 2), 0),
            Verdict::Append
        );
        assert_eq!(append(&mut s, batch(9, 0, 0, 1), 2), Verdict::Append);
        assert_eq!(append(&mut s, batch(10, 5, 1234, 1), 3), Verdict::Append);
    }

    #[test]
    fn batches_of_one_append_are_checked_in_order() {
        let mut s = ProducerStates::default();
        append(&mut s, batch(1, 0, 0, 2), 0);
        assert_eq!(
            s.check(&[batch(1, 0, 2, 2), batch(1, 0, 4, 1)]),
            Ok(Verdict::Append)
        );
        assert_eq!(
            s.check(&[batch(1, 0, 2, 2), batch(1, 0, 5, 1)])
                .unwrap_err()
                .code,
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
        );
    }

    #[test]
    fn idle_producers_expire() {
        let mut s = ProducerStates::default();
        append(&mut s, batch(1, 0, 0, 1), 0);
        s.expire(30_000, 86_400_000);
        assert_eq!(s.len(), 1);
        s.expire(86_400_000 + 60_000, 86_400_000);
        assert!(s.is_empty());
    }

    #[test]
    fn open_transactions_hold_back_the_stable_offset() {
        let mut s = ProducerStates::default();
        assert_eq!(s.first_unstable_offset(), None);
        append(&mut s, batch(1, 0, 0, 1), 0);
        assert_eq!(s.first_unstable_offset(), None);
        append(&mut s, txn_batch(2, 0, 0, 2), 1);
        append(&mut s, txn_batch(3, 0, 0, 1), 3);
        append(&mut s, txn_batch(2, 0, 2, 1), 4);
        assert_eq!(s.first_unstable_offset(), Some(1));
        assert_eq!(s.open_transaction(2), Some(1));
        // A producer in a transaction may not write outside it.
        assert_eq!(refused(&s, batch(2, 0, 3, 1)), ErrorCode::INVALID_TXN_STATE);
        assert_eq!(s.end_transaction(2, 0, -1, 0, 0), Some(1));
        assert_eq!(s.first_unstable_offset(), Some(3));
        assert_eq!(s.end_transaction(3, 0, -1, 0, 0), Some(3));
        assert_eq!(s.first_unstable_offset(), None);
        // A marker for a producer with nothing open here closes nothing.
        assert_eq!(s.end_transaction(3, 0, -1, 0, 0), None);
        // Its next transaction opens at its next batch.
        append(&mut s, txn_batch(2, 0, 3, 1), 9);
        assert_eq!(s.first_unstable_offset(), Some(9));
    }

    #[test]
    fn a_fencing_marker_moves_the_producer_to_the_new_epoch() {
        let mut s = ProducerStates::default();
        append(&mut s, txn_batch(4, 0, 0, 1), 0);
        assert_eq!(s.end_transaction(4, 1, -1, 0, 0), Some(0));
        assert_eq!(
            refused(&s, txn_batch(4, 0, 1, 1)),
            ErrorCode::INVALID_PRODUCER_EPOCH
        );
        assert_eq!(append(&mut s, txn_batch(4, 1, 0, 1), 2), Verdict::Append);
    }

    /// A snapshot keeps, per producer, what Kafka's does: the epoch, the
    /// last batch, the open transaction, the last timestamp and
    /// coordinator epoch. Loaded back, the last batch is still a duplicate
    /// and the next sequence follows it; an older batch is no longer known.
    #[test]
    fn a_snapshot_keeps_each_producers_last_batch_and_transaction() {
        let mut s = ProducerStates::default();
        for i in 0..3 {
            append(&mut s, batch(1, 2, i * 4, 4), i64::from(i) * 4); // 0..=11
        }
        append(&mut s, txn_batch(2, 0, 0, 2), 12); // 12..=13, open
        append(&mut s, txn_batch(3, 5, 0, 1), 14);
        assert_eq!(s.end_transaction(3, 6, 17, 999, 0), Some(14)); // fenced
                                                                   // Sequences that wrap inside the last batch.
        append(&mut s, batch(4, 0, i32::MAX - 1, 3), 16); // MAX-1, MAX, 0
        let entries = s.snapshot_entries();
        let ids: Vec<i64> = entries.iter().map(|e| e.producer_id).collect();
        assert_eq!(ids, vec![1, 2, 3, 4], "ordered by producer id");
        assert_eq!(
            entries[0],
            ProducerEntry {
                producer_id: 1,
                epoch: 2,
                last_sequence: 11,
                last_offset: 11,
                offset_delta: 3,
                timestamp: 0,
                coordinator_epoch: -1,
                current_txn_first_offset: -1,
            }
        );
        assert_eq!(entries[1].current_txn_first_offset, 12);
        // A producer known by its marker only: no batch.
        assert_eq!(
            (
                entries[2].epoch,
                entries[2].last_sequence,
                entries[2].last_offset
            ),
            (6, -1, -1)
        );
        assert_eq!(
            (entries[2].timestamp, entries[2].coordinator_epoch),
            (999, 17)
        );

        let loaded = ProducerStates::from_snapshot_entries(&entries, 0);
        assert_eq!(loaded.snapshot_entries(), entries);
        assert_eq!(loaded.first_unstable_offset(), Some(12));
        assert_eq!(
            loaded.check(&[batch(1, 2, 8, 4)]),
            Ok(Verdict::Duplicate(BatchOffsets {
                first_seq: 8,
                last_seq: 11,
                first_offset: 8,
                last_offset: 11
            }))
        );
        assert_eq!(loaded.check(&[batch(1, 2, 12, 1)]), Ok(Verdict::Append));
        assert_eq!(
            refused(&loaded, batch(1, 2, 4, 4)),
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            "only the last batch survives a snapshot, as in Kafka"
        );
        assert_eq!(
            refused(&loaded, txn_batch(3, 5, 1, 1)),
            ErrorCode::INVALID_PRODUCER_EPOCH
        );
        assert_eq!(
            refused(&loaded, batch(2, 0, 2, 1)),
            ErrorCode::INVALID_TXN_STATE
        );
        assert!(matches!(
            loaded.check(&[batch(4, 0, i32::MAX - 1, 3)]),
            Ok(Verdict::Duplicate(BatchOffsets {
                first_offset: 16,
                ..
            }))
        ));
        assert_eq!(loaded.check(&[batch(4, 0, 1, 1)]), Ok(Verdict::Append));
    }

    #[test]
    fn producers_with_open_transactions_do_not_expire() {
        let mut s = ProducerStates::default();
        append(&mut s, txn_batch(1, 0, 0, 1), 0);
        append(&mut s, batch(2, 0, 0, 1), 1);
        s.expire(86_400_000 + 60_000, 86_400_000);
        assert_eq!(s.len(), 1);
        assert_eq!(s.first_unstable_offset(), Some(0));
    }
}
