//! The partitions this broker hosts: each wraps a storage `Log` with what
//! the request handlers need around it — the topic's effective settings,
//! leadership facts from the metadata image, and the wake-up that long-poll
//! fetches wait on.
//!
//! On a single node every partition's leader is this broker and the ISR is
//! {this broker}, so the high watermark is the log end offset. Replication
//! will move the high watermark under followers' progress without changing
//! the handlers.

pub mod leadership;
pub mod moves;
pub mod producer_snapshot;
pub mod producer_state;
pub mod replication_quota;
pub mod zero_copy;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use tokio::sync::Notify;
use tracing::{debug, info, warn};
use vltava_config::{BrokerConfig, EffectiveTopicConfig, TopicConfig};
use vltava_metadata::MetadataImage;
use vltava_protocol::ErrorCode;
use vltava_records::control::EndTxnMarker;
use vltava_records::{BatchSplitter, RecordBatch, TimestampType};
use vltava_storage::{AbortedTxn, CleanupPolicy, KafkaUuid, Log, LogConfig, LogDirs};

use crate::error::KafkaError;
use crate::replica::producer_state::{BatchOffsets, ProducerBatch, ProducerStates, Verdict};
use crate::stats::PartitionStats;

/// The topic rules the produce path checks, resolved once per config change.
#[derive(Debug, Clone)]
pub struct TopicSettings {
    pub max_message_bytes: i32,
    pub segment_bytes: i64,
    pub timestamp_type: TimestampType,
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    pub compacted: bool,
    pub min_insync_replicas: i32,
    /// Upper bound on a batch's decompressed size when the broker must look
    /// inside it (compacted topics): the batch may expand at most this far.
    pub max_decompressed_bytes: usize,
    /// producer.id.expiration.ms: idle producers' state is dropped after it.
    pub producer_id_expiration_ms: i64,
    /// compression.type other than "producer": the codec (and level)
    /// batches are stored with, recompressed on produce when they differ.
    pub compression: Option<(vltava_records::Compression, Option<i32>)>,
    /// The topic's partitions whose replication this broker throttles as
    /// a leader, and as a follower (see `replication_quota`).
    pub leader_throttled: replication_quota::ThrottledReplicas,
    pub follower_throttled: replication_quota::ThrottledReplicas,
}

/// Decompressed batches larger than this are refused on compacted topics
/// (where the broker reads keys). Kafka has no such knob; ours is the size
/// a single request may reach (`socket.request.max.bytes`).
fn settings_from(effective: &EffectiveTopicConfig, broker: &BrokerConfig) -> TopicSettings {
    TopicSettings {
        max_message_bytes: effective.max_message_bytes,
        segment_bytes: effective.segment_bytes.into(),
        timestamp_type: match effective.message_timestamp_type {
            vltava_config::TimestampType::CreateTime => TimestampType::CreateTime,
            vltava_config::TimestampType::LogAppendTime => TimestampType::LogAppendTime,
        },
        timestamp_before_max_ms: effective.message_timestamp_before_max_ms,
        timestamp_after_max_ms: effective.message_timestamp_after_max_ms,
        compacted: effective.cleanup_policy.compact,
        min_insync_replicas: effective.min_insync_replicas,
        max_decompressed_bytes: broker.socket_request_max_bytes().max(0) as usize,
        producer_id_expiration_ms: broker.producer_id_expiration_ms().into(),
        compression: topic_codec(effective),
        // (Node 1 when node.id is unset, as `Broker` takes it.)
        leader_throttled: replication_quota::ThrottledReplicas::parse(
            &effective.leader_replication_throttled_replicas,
            broker.node_id().unwrap_or(1),
        ),
        follower_throttled: replication_quota::ThrottledReplicas::parse(
            &effective.follower_replication_throttled_replicas,
            broker.node_id().unwrap_or(1),
        ),
    }
}

/// The codec and level compression.type asks for, `None` for "producer".
fn topic_codec(
    effective: &EffectiveTopicConfig,
) -> Option<(vltava_records::Compression, Option<i32>)> {
    use vltava_config::CompressionType as T;
    use vltava_records::Compression as C;
    Some(match effective.compression_type {
        T::Producer => return None,
        T::Uncompressed => (C::None, None),
        // -1 is gzip's own default level.
        T::Gzip => (
            C::Gzip,
            Some(effective.compression_gzip_level).filter(|l| *l >= 0),
        ),
        T::Snappy => (C::Snappy, None),
        T::Lz4 => (C::Lz4, Some(effective.compression_lz4_level)),
        T::Zstd => (C::Zstd, Some(effective.compression_zstd_level)),
    })
}

/// The storage configuration of a topic's logs.
pub fn log_config_from(effective: &EffectiveTopicConfig) -> LogConfig {
    LogConfig {
        segment_bytes: effective.segment_bytes.max(0) as u32,
        segment_ms: effective.max_segment_ms(),
        segment_jitter_ms: effective.segment_jitter_ms,
        index_interval_bytes: effective.index_interval_bytes.max(0) as u32,
        segment_index_bytes: effective.segment_index_bytes.max(0) as u32,
        retention_ms: effective.retention_ms,
        retention_bytes: effective.retention_bytes,
        flush_messages: effective.flush_messages,
        flush_ms: effective.flush_ms,
        file_delete_delay_ms: effective.file_delete_delay_ms,
        message_timestamp_type: match effective.message_timestamp_type {
            vltava_config::TimestampType::CreateTime => TimestampType::CreateTime,
            vltava_config::TimestampType::LogAppendTime => TimestampType::LogAppendTime,
        },
        cleanup_policy: CleanupPolicy {
            delete: effective.cleanup_policy.delete,
            compact: effective.cleanup_policy.compact,
        },
        delete_retention_ms: effective.delete_retention_ms,
        min_cleanable_dirty_ratio: effective.min_cleanable_dirty_ratio,
        min_compaction_lag_ms: effective.min_compaction_lag_ms,
        max_compaction_lag_ms: effective.max_compaction_lag_ms,
    }
}

/// Resolves a topic's effective config from its overrides in the image.
pub fn effective_topic_config(
    image: &MetadataImage,
    topic: &str,
    broker: &BrokerConfig,
) -> EffectiveTopicConfig {
    let overrides = image.topic_configs(topic);
    match TopicConfig::from_overrides(overrides.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(config) => config.resolve(broker),
        Err(e) => {
            // Overrides were validated before they were written; a record
            // that no longer validates (an older version's key) is skipped.
            warn!(topic, "ignoring invalid topic config overrides: {e}");
            TopicConfig::new().resolve(broker)
        }
    }
}

/// Why stored batches are replayed into the producer state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Replay {
    /// Loading the state from the log (a snapshot's tail, or the whole tail).
    Load,
    /// A follower's append of what its leader sent.
    FollowerAppend,
}

/// What a successful append reports.
#[derive(Debug)]
pub struct Appended {
    pub base_offset: i64,
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    /// One past the last offset written (or, for a retried batch, first
    /// written): acks=all waits until the high watermark reaches it.
    pub next_offset: i64,
    /// The leader epoch it was written in.
    pub leader_epoch: i32,
}

/// One hosted partition.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    pub topic_id: KafkaUuid,
    /// This broker's id.
    local_id: i32,
    /// The current log. Replaced only when the replica moves to another
    /// log directory (`moves`): every writer goes through `on_log`.
    log: RwLock<Arc<Log>>,
    /// Set while a move seals the current log and puts the new one in
    /// place: a write refused as closed meanwhile waits for the new log.
    moving: AtomicBool,
    /// The broker's log directories, told about I/O errors (a directory
    /// that fails goes offline); `None` in unit tests.
    log_dirs: Option<Arc<LogDirs>>,
    /// The log's directory failed: nothing is read or written (answers
    /// KAFKA_STORAGE_ERROR) until restart.
    dir_offline: AtomicBool,
    settings: RwLock<Arc<TopicSettings>>,
    /// Leader, follower or offline (see `leadership`).
    role: Mutex<leadership::Role>,
    /// See `Partition::high_watermark`.
    high_watermark: AtomicI64,
    /// Woken when the high watermark moves or leadership changes.
    committed: Notify,
    /// Woken on every append and high watermark move; long-poll fetches
    /// wait on it.
    appended: Notify,
    /// Idempotent producers' epochs and last batches, and the open
    /// transactions; held across the check and the append so the two are
    /// one step, and by a follower across its append and the replay of
    /// what it appended: whoever holds it sees every producer batch below
    /// the log end recorded (what a snapshot needs). Loaded from the newest
    /// snapshot and the log after it at first use (`load_producer_states`).
    producers: Mutex<Option<ProducerStates>>,
    /// The offset of the last producer snapshot this process wrote (-1:
    /// none, or a truncation removed it): a shutdown with nothing new
    /// since writes none.
    snapshot_offset: AtomicI64,
    /// Whether `producers` is loaded: lets fetches skip the lock.
    producers_loaded: AtomicBool,
    /// The first offset of the oldest open transaction, `NO_OPEN_TXN` if
    /// none: the last stable offset without taking the producers' lock.
    /// Lowered before a transactional batch becomes visible and raised
    /// only after a marker's aborted-transaction entry is written, so a
    /// read_committed fetch never passes an undecided or unindexed batch.
    first_unstable: AtomicI64,
    /// Traffic counters (`/metrics`).
    pub stats: PartitionStats,
}

const NO_OPEN_TXN: i64 = i64::MAX;

/// How long a write waits for a move between log directories to put the
/// new log in place before it fails.
const MOVE_SWAP_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl Partition {
    pub fn settings(&self) -> Arc<TopicSettings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Woken on every append; long-poll fetches wait on it.
    pub fn appended(&self) -> &Notify {
        &self.appended
    }

    /// The current log (see `on_log` for writes).
    pub fn log(&self) -> Arc<Log> {
        self.log.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs a write on the current log. A write the log refused as closed
    /// because a move to another log directory sealed it is run again on
    /// the log that replaced it (the move copies everything the sealed log
    /// had; the window is the copy of its last few batches and two
    /// renames). Bounded by `MOVE_SWAP_WAIT`.
    fn on_log<T>(
        &self,
        mut write: impl FnMut(&Log) -> Result<T, vltava_storage::Error>,
    ) -> Result<T, vltava_storage::Error> {
        let deadline = std::time::Instant::now() + MOVE_SWAP_WAIT;
        loop {
            let log = self.log();
            self.check_dir_online(&log)?;
            match write(&log).inspect_err(|e| self.note_storage_error(&log, e)) {
                Err(vltava_storage::Error::Closed)
                    if (self.moving.load(Ordering::Acquire) || !Arc::ptr_eq(&log, &self.log()))
                        && std::time::Instant::now() < deadline =>
                {
                    if Arc::ptr_eq(&log, &self.log()) {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
                result => return result,
            }
        }
    }

    /// `LogDirOffline` when the log's directory failed.
    fn check_dir_online(&self, log: &Log) -> Result<(), vltava_storage::Error> {
        if self.dir_offline.load(Ordering::Acquire) {
            return Err(vltava_storage::Error::LogDirOffline {
                dir: log.dir().parent().unwrap_or(log.dir()).to_path_buf(),
            });
        }
        Ok(())
    }

    /// Tells the log directories about an error on this partition's log:
    /// an I/O error that means the directory failed takes it offline, and
    /// this partition with it at once (the others of that directory when
    /// the broker's watcher sees it).
    fn note_storage_error(&self, log: &Log, error: &vltava_storage::Error) {
        let Some(dirs) = &self.log_dirs else { return };
        dirs.note_error(error);
        let offline = log
            .dir()
            .parent()
            .and_then(|parent| dirs.index_of_path(parent))
            .is_some_and(|i| dirs.dirs()[i].is_offline());
        if offline {
            self.take_offline();
        }
    }

    /// Stops serving this partition: its log directory failed.
    pub fn take_offline(&self) {
        if !self.dir_offline.swap(true, Ordering::AcqRel) {
            warn!(topic = %self.topic, partition = self.index, "the replica's log directory is offline: it is not served until restart");
            self.appended.notify_waiters();
        }
    }

    /// Whether the log's directory failed.
    pub fn is_dir_offline(&self) -> bool {
        self.dir_offline.load(Ordering::Acquire)
    }

    /// Puts `log` in place of the current log (a finished move).
    fn replace_log(&self, log: Arc<Log>) {
        *self.log.write().unwrap_or_else(|e| e.into_inner()) = log;
    }

    /// The offset below which every transaction is decided: the first
    /// offset of the oldest open transaction, or the high watermark.
    pub fn last_stable_offset(&self, now_ms: i64) -> i64 {
        if !self.producers_loaded.load(Ordering::Acquire) {
            drop(self.producers(now_ms));
        }
        // The high watermark first: an append that opens a transaction
        // lowers the bound before its batch raises the high watermark, so a
        // high watermark that includes the batch comes with the bound.
        let high_watermark = self.high_watermark();
        high_watermark.min(self.first_unstable.load(Ordering::SeqCst))
    }

    /// The producer state, loaded from the log on first use.
    fn producers(&self, now_ms: i64) -> MutexGuard<'_, Option<ProducerStates>> {
        let mut guard = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let states = self.load_producer_states(now_ms);
            self.publish_first_unstable(&states);
            *guard = Some(states);
            self.producers_loaded.store(true, Ordering::Release);
        }
        guard
    }

    fn publish_first_unstable(&self, states: &ProducerStates) {
        self.first_unstable.store(
            states.first_unstable_offset().unwrap_or(NO_OPEN_TXN),
            Ordering::SeqCst,
        );
    }

    /// The aborted transactions a read_committed fetch from `from` up to
    /// `upper` must tell the consumer about: (producer id, first offset).
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<(i64, i64)> {
        self.log()
            .collect_aborted_txns(from, upper)
            .into_iter()
            .map(|t| (t.producer_id, t.first_offset))
            .collect()
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log().log_start_offset()
    }

    pub fn size_in_bytes(&self) -> u64 {
        self.log().size_in_bytes()
    }

    /// Appends validated batches. Batches with a producer id go through the
    /// producer checks first: a retried batch is answered with the offsets
    /// it got the first time and not appended again; a transactional batch
    /// opens its producer's transaction here if none is open.
    ///
    /// Only the leader appends; `acks_all` also checks min.insync.replicas
    /// first (NOT_ENOUGH_REPLICAS).
    pub fn append(
        &self,
        records: Bytes,
        acks_all: bool,
        now_ms: i64,
    ) -> Result<Appended, KafkaError> {
        let epoch = self.epoch_for_append(acks_all)?;
        let batches: Vec<(Option<ProducerBatch>, i64, i64)> = BatchSplitter::new(records.clone())
            .filter_map(Result::ok)
            .map(|b| {
                let producer = (b.producer_id() >= 0).then(|| ProducerBatch {
                    producer_id: b.producer_id(),
                    epoch: b.producer_epoch(),
                    first_seq: b.base_sequence(),
                    last_seq: b.last_sequence(),
                    transactional: b.is_transactional(),
                });
                (
                    producer,
                    i64::from(b.last_offset_delta()),
                    b.max_timestamp(),
                )
            })
            .collect();
        let idempotent: Vec<ProducerBatch> = batches.iter().filter_map(|b| b.0).collect();
        let mut guard = (!idempotent.is_empty()).then(|| self.producers(now_ms));
        let mut producers = guard.as_mut().and_then(|g| g.as_mut());
        if let Some(producers) = &producers {
            match producers.check(&idempotent) {
                Ok(Verdict::Append) => {}
                Ok(Verdict::Duplicate(original)) => {
                    return Ok(Appended {
                        base_offset: original.first_offset,
                        log_append_time_ms: -1,
                        log_start_offset: self.log_start_offset(),
                        next_offset: original.last_offset + 1,
                        leader_epoch: epoch,
                    })
                }
                Err(refused) => return Err(refused),
            }
        }
        if idempotent.iter().any(|b| b.transactional) {
            // The batch lands at or after the current end: hold the stable
            // offset there until its real position is recorded below.
            self.first_unstable
                .fetch_min(self.log().log_end_offset(), Ordering::SeqCst);
        }
        let appended = self
            .on_log(|log| log.append_as_leader(records.clone(), now_ms, epoch))
            .map_err(|e| storage_rejection(&self.topic, self.index, e));
        if let Some(producers) = &mut producers {
            if let Ok(info) = &appended {
                let mut first_offset = info.first_offset;
                for (producer, delta, max_timestamp) in batches {
                    if let Some(batch) = producer {
                        let offsets = BatchOffsets {
                            first_seq: batch.first_seq,
                            last_seq: batch.last_seq,
                            first_offset,
                            last_offset: first_offset + delta,
                        };
                        // As stored: LogAppendTime replaced the producer's.
                        let stored_timestamp = if info.log_append_time >= 0 {
                            info.log_append_time
                        } else {
                            max_timestamp
                        };
                        producers.record(batch, offsets, stored_timestamp, now_ms);
                    }
                    first_offset += delta + 1;
                }
                producers.expire(now_ms, self.settings().producer_id_expiration_ms);
            }
            self.publish_first_unstable(producers);
        }
        drop(guard);
        let info = appended?;
        self.after_local_append(epoch);
        self.appended.notify_waiters();
        self.snapshot_if_rolled(now_ms);
        Ok(Appended {
            base_offset: info.first_offset,
            log_append_time_ms: info.log_append_time,
            log_start_offset: info.log_start_offset,
            next_offset: info.last_offset + 1,
            leader_epoch: epoch,
        })
    }

    /// Writes a transaction marker (what Kafka's WriteTxnMarkers does on a
    /// partition leader) and closes the producer's transaction here. For an
    /// abort, the aborted-transaction index gets its entry before the
    /// stable offset moves past the transaction. Returns the marker's
    /// offset and the leader epoch it was written in (Kafka writes markers
    /// with acks=all: the caller waits for the commit).
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<(i64, i32), KafkaError> {
        let epoch = self.epoch_for_append(false)?;
        let mut guard = self.producers(now_ms);
        let producers = guard.as_mut().expect("loaded by producers()");
        // A marker from a coordinator older than the one that wrote this
        // producer's last marker is a deposed coordinator's (the
        // transaction moved on without it): refused, as Kafka does.
        if let Some(newer) = producers
            .coordinator_epoch(producer_id)
            .filter(|e| *e > coordinator_epoch)
        {
            return Err(KafkaError::new(
                ErrorCode::TRANSACTION_COORDINATOR_FENCED,
                format!(
                    "a marker of coordinator epoch {coordinator_epoch} for producer \
                     {producer_id}, whose last marker here was of epoch {newer}"
                ),
            ));
        }
        let marker = EndTxnMarker {
            commit,
            coordinator_epoch,
        }
        .to_batch(0, epoch, producer_id, producer_epoch, now_ms)
        .map_err(|e| KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
        let info = self
            .on_log(|log| log.append_as_leader(marker.clone(), now_ms, epoch))
            .map_err(|e| storage_rejection(&self.topic, self.index, e))?;
        let offset = info.first_offset;
        if let Some(first_offset) = producers.open_transaction(producer_id) {
            if !commit {
                let others = producers
                    .first_unstable_offset()
                    .filter(|&o| o != first_offset);
                // The log the marker went to: a move seals the log only
                // under the producers lock, which this holds.
                self.log()
                    .append_aborted_txn(AbortedTxn {
                        producer_id,
                        first_offset,
                        last_offset: offset,
                        last_stable_offset: others.unwrap_or(offset + 1).min(offset + 1),
                    })
                    .map_err(|e| storage_rejection(&self.topic, self.index, e))?;
            }
        }
        // The marker's timestamp is `now_ms` (`to_batch`, and LogAppendTime
        // stamps the same).
        producers.end_transaction(
            producer_id,
            producer_epoch,
            coordinator_epoch,
            now_ms,
            now_ms,
        );
        self.publish_first_unstable(producers);
        drop(guard);
        self.after_local_append(epoch);
        self.appended.notify_waiters();
        self.snapshot_if_rolled(now_ms);
        Ok((offset, epoch))
    }

    /// A follower's append of what its leader sent (`records`, with the
    /// leader's offsets), with its producer state kept in step: the
    /// producers lock is held across the append and the replay, so a
    /// snapshot never sees the log end past batches not yet recorded. A
    /// state not loaded yet is loaded from the log now, which covers these
    /// batches: a follower must write the aborted-transaction entries of
    /// the abort markers it receives, as its leader did.
    fn append_and_replay_as_follower(
        &self,
        records: Bytes,
        now_ms: i64,
    ) -> Result<(), vltava_storage::Error> {
        let mut guard = self.producers.lock().unwrap_or_else(|e| e.into_inner());
        self.on_log(|log| log.append_as_follower(records.clone(), now_ms))?;
        let Some(states) = guard.as_mut() else {
            let states = self.load_producer_states(now_ms);
            self.publish_first_unstable(&states);
            *guard = Some(states);
            self.producers_loaded.store(true, Ordering::Release);
            return Ok(());
        };
        for batch in BatchSplitter::new(records) {
            let Ok(batch) = batch else { break };
            if batch.producer_id() >= 0 {
                self.replay_batch(states, &batch, now_ms, Replay::FollowerAppend);
            }
        }
        states.expire(now_ms, self.settings().producer_id_expiration_ms);
        self.publish_first_unstable(states);
        Ok(())
    }

    /// Applies one stored batch with a producer id to `states`: a data
    /// batch is recorded, a marker ends its producer's transaction. The one
    /// replay a follower's appends, a load after a snapshot and the tail
    /// scan share.
    fn replay_batch(
        &self,
        states: &mut ProducerStates,
        batch: &RecordBatch,
        now_ms: i64,
        replay: Replay,
    ) {
        if batch.is_control() {
            self.replay_marker(states, batch, now_ms, replay);
            return;
        }
        let producer = ProducerBatch {
            producer_id: batch.producer_id(),
            epoch: batch.producer_epoch(),
            first_seq: batch.base_sequence(),
            last_seq: batch.last_sequence(),
            transactional: batch.is_transactional(),
        };
        let offsets = BatchOffsets {
            first_seq: producer.first_seq,
            last_seq: producer.last_seq,
            first_offset: batch.base_offset(),
            last_offset: batch.last_offset(),
        };
        states.record(producer, offsets, batch.max_timestamp(), now_ms);
    }

    /// Replays the batches with a producer id from `from` up to `end`
    /// (batches starting below `from` are skipped), calling `visit` with
    /// each before it is applied. Returns how many were replayed; a read
    /// error stops it where it got.
    fn replay_log(
        &self,
        states: &mut ProducerStates,
        from: i64,
        end: i64,
        now_ms: i64,
        mut visit: impl FnMut(&RecordBatch),
    ) -> Result<usize, vltava_storage::Error> {
        let mut replayed = 0;
        let mut offset = from;
        while offset < end {
            let read = self.log().read(offset, 1 << 20, end, true)?.records;
            let mut next = offset;
            for batch in BatchSplitter::new(read) {
                let Ok(batch) = batch else { break };
                next = batch.next_offset();
                if batch.base_offset() < from || batch.producer_id() < 0 {
                    continue;
                }
                visit(&batch);
                self.replay_batch(states, &batch, now_ms, Replay::Load);
                replayed += 1;
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        Ok(replayed)
    }

    /// The producer state at first use: the newest usable snapshot and the
    /// batches after it (`load_from_snapshot`), as Kafka loads it; without
    /// one, the tail scan (`load_from_tail`). Neither fails the caller: an
    /// error is logged and the state is what was read so far.
    fn load_producer_states(&self, now_ms: i64) -> ProducerStates {
        self.load_from_snapshot(now_ms)
            .unwrap_or_else(|| self.load_from_tail(now_ms))
    }

    /// The newest snapshot at or below the log end (and not below the log
    /// start) whose CRC and content check, plus a replay of every batch
    /// after its offset. A snapshot that does not check is logged, deleted
    /// and the next older one tried. `None` without a usable snapshot.
    fn load_from_snapshot(&self, now_ms: i64) -> Option<ProducerStates> {
        let (start, end) = (self.log().log_start_offset(), self.log().log_end_offset());
        let offsets = match self.log().producer_snapshot_offsets() {
            Ok(offsets) => offsets,
            Err(e) => {
                warn!(topic = %self.topic, partition = self.index, "listing producer snapshots: {e}");
                return None;
            }
        };
        for &offset in offsets.iter().rev() {
            if offset > end || offset < start {
                continue;
            }
            let bytes = match self.log().read_producer_snapshot(offset) {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue,
                Err(e) => {
                    warn!(topic = %self.topic, partition = self.index, offset, "reading a producer snapshot: {e}");
                    continue;
                }
            };
            let entries = match producer_snapshot::decode(&bytes) {
                Ok(entries) => entries,
                Err(reason) => {
                    warn!(topic = %self.topic, partition = self.index, offset, "deleting a corrupt producer snapshot: {reason}");
                    if let Err(e) = self.log().delete_producer_snapshot(offset) {
                        warn!(topic = %self.topic, partition = self.index, offset, "deleting a producer snapshot: {e}");
                    }
                    continue;
                }
            };
            let mut states = ProducerStates::from_snapshot_entries(&entries, now_ms);
            let replayed = self
                .replay_log(&mut states, offset, end, now_ms, |_| {})
                .unwrap_or_else(|e| {
                    warn!(topic = %self.topic, partition = self.index, "loading producer state after the snapshot at {offset}: {e}");
                    0
                });
            self.remember_batches_before(&mut states, offset);
            info!(topic = %self.topic, partition = self.index, snapshot = offset, batches = replayed, producers = states.len(), "loaded producer state from a snapshot and the log after it");
            return Some(states);
        }
        None
    }

    /// Reads back the producer batches before a snapshot at `snapshot`, within
    /// the last `PRODUCER_DEDUP_SCAN_BYTES` of the log, into `states`' retained
    /// batches (`ProducerStates::remember_earlier`): a producer whose batch
    /// timed out at a leader that then failed retries it at the new one,
    /// which may have just loaded its state from a snapshot taken after it.
    fn remember_batches_before(&self, states: &mut ProducerStates, snapshot: i64) {
        let from = match tail_start_offset(&self.log(), PRODUCER_DEDUP_SCAN_BYTES) {
            Ok(offset) => offset.max(self.log().log_start_offset()),
            Err(e) => {
                warn!(topic = %self.topic, partition = self.index, "reading batches before a producer snapshot: {e}");
                return;
            }
        };
        let mut earlier = Vec::new();
        let mut offset = from;
        while offset < snapshot {
            let Ok(read) = self.log().read(offset, 1 << 20, snapshot, true) else {
                break;
            };
            let mut next = offset;
            for batch in BatchSplitter::new(read.records) {
                let Ok(batch) = batch else { break };
                next = batch.next_offset();
                if batch.producer_id() < 0 || batch.is_control() || batch.last_offset() >= snapshot
                {
                    continue;
                }
                earlier.push((
                    ProducerBatch {
                        producer_id: batch.producer_id(),
                        epoch: batch.producer_epoch(),
                        first_seq: batch.base_sequence(),
                        last_seq: batch.last_sequence(),
                        transactional: batch.is_transactional(),
                    },
                    BatchOffsets {
                        first_seq: batch.base_sequence(),
                        last_seq: batch.last_sequence(),
                        first_offset: batch.base_offset(),
                        last_offset: batch.last_offset(),
                    },
                ));
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
        for (batch, offsets) in earlier.into_iter().rev() {
            states.remember_earlier(batch, offsets);
        }
    }

    /// The fallback without a snapshot (a log written before snapshots
    /// existed, or every snapshot corrupt): the producer batches and
    /// transaction markers in the last `PRODUCER_STATE_SCAN_BYTES` of the
    /// log, read batch by batch. Older producers count as unknown, which
    /// KIP-360 lets start at any sequence; a transaction whose first batch
    /// lies before the window is traced back to its real start
    /// (`find_transaction_starts`).
    ///
    /// An abort marker whose aborted-transaction entry is missing (the
    /// broker stopped between the two writes) gets its entry now (in the
    /// replay after a snapshot too).
    fn load_from_tail(&self, now_ms: i64) -> ProducerStates {
        let mut states = ProducerStates::default();
        let end = self.log().log_end_offset();
        let window_start = match tail_start_offset(&self.log(), PRODUCER_STATE_SCAN_BYTES) {
            Ok(offset) => offset,
            Err(e) => {
                warn!(topic = %self.topic, partition = self.index, "loading producer state: {e}");
                return states;
            }
        };
        // Producers whose first batch in the window is transactional data:
        // their transaction may have begun before the window.
        let mut maybe_earlier: HashSet<i64> = HashSet::new();
        let mut seen: HashSet<i64> = HashSet::new();
        let visit = |batch: &RecordBatch| {
            if seen.insert(batch.producer_id()) && batch.is_transactional() && !batch.is_control() {
                maybe_earlier.insert(batch.producer_id());
            }
        };
        if let Err(e) = self.replay_log(&mut states, window_start, end, now_ms, visit) {
            warn!(topic = %self.topic, partition = self.index, "loading producer state: {e}");
        }
        maybe_earlier.retain(|pid| states.open_transaction(*pid).is_some());
        if !maybe_earlier.is_empty() && window_start > self.log().log_start_offset() {
            self.find_transaction_starts(&mut states, maybe_earlier, window_start);
        }
        if !states.is_empty() {
            info!(topic = %self.topic, partition = self.index, producers = states.len(), "loaded producer state from the log's tail (no snapshot)");
        }
        states
    }

    /// After an append: if the log rolled a segment, a snapshot of the
    /// producer state at the log end, as Kafka takes one at each roll.
    ///
    /// The log reports its rolls (`Log::take_rolled`, a flag asked after
    /// each append) rather than calling back into the broker: the roll
    /// happens inside the log's append, under its writer lock, before the
    /// appender (holding the producers lock) has recorded the batches. So
    /// the snapshot is taken after the append and named by the log end it
    /// covers: the end of the append that rolled, a few offsets past the
    /// new segment's base, where Kafka's is at the base itself (its roll
    /// runs before the producer state is updated). For loading (the newest
    /// snapshot plus the batches after it) and for deletion (by the log
    /// start and end) either offset serves. Comparing segment counts after
    /// each append instead would miss a roll when retention deleted a
    /// segment in between. A roll by retention itself is reported at the
    /// next append.
    fn snapshot_if_rolled(&self, now_ms: i64) {
        if self.log().take_rolled().is_some() {
            self.snapshot_producer_state(now_ms, true);
        }
    }

    /// Writes a snapshot of the producer state at the log end
    /// (`<offset>.snapshot`, see `producer_snapshot`), unless one at that
    /// offset was written already. With `load` the state is loaded first
    /// if it is not yet; without, an unloaded state is skipped (the
    /// snapshots and the log on disk still give it). The state is copied
    /// under the producers lock and the file written after it is
    /// released. A failure is logged: a missing snapshot only makes the
    /// next load replay more.
    fn snapshot_producer_state(&self, now_ms: i64, load: bool) {
        let (entries, at) = {
            let guard = if load {
                self.producers(now_ms)
            } else {
                self.producers.lock().unwrap_or_else(|e| e.into_inner())
            };
            let Some(states) = guard.as_ref() else {
                return;
            };
            let at = self.log().snapshot_point();
            if at.offset() == self.snapshot_offset.load(Ordering::Acquire) {
                return;
            }
            (states.snapshot_entries(), at)
        };
        let producers = entries.len();
        let bytes = producer_snapshot::encode(entries);
        match self.log().write_producer_snapshot(at, &bytes, now_ms) {
            Ok(true) => {
                self.snapshot_offset.store(at.offset(), Ordering::Release);
                debug!(topic = %self.topic, partition = self.index, offset = at.offset(), producers, "wrote a producer snapshot");
            }
            Ok(false) => {
                debug!(topic = %self.topic, partition = self.index, offset = at.offset(), "a producer snapshot went stale before it was written");
            }
            Err(e) => {
                warn!(topic = %self.topic, partition = self.index, offset = at.offset(), "writing a producer snapshot: {e}");
            }
        }
    }

    /// For transactions still open after the tail scan whose producer's
    /// first batch in the tail was transactional data: walks the batch
    /// headers before the tail, segment by segment towards the log start,
    /// until each producer's previous marker (or non-transactional batch),
    /// and moves the transaction's start to its earliest batch after it.
    /// Without this a transaction older than the tail would start, after a
    /// restart, at its first batch inside the tail, and read_committed
    /// consumers could read its earlier records before it is decided.
    /// Only headers are read.
    fn find_transaction_starts(
        &self,
        states: &mut ProducerStates,
        mut pending: HashSet<i64>,
        window_start: i64,
    ) {
        let log_start = self.log().log_start_offset();
        let mut upper = window_start;
        let bases = self.log().segment_base_offsets();
        for &base in bases.iter().rev() {
            if pending.is_empty() || upper <= log_start {
                break;
            }
            if base >= upper {
                continue;
            }
            let summaries = match self.log().batch_summaries(base.max(log_start), upper) {
                Ok(s) => s,
                Err(e) => {
                    warn!(topic = %self.topic, partition = self.index, "looking for where open transactions began: {e}");
                    return;
                }
            };
            for b in summaries.iter().rev() {
                if b.base_offset >= upper || !pending.contains(&b.producer_id) {
                    continue;
                }
                if b.is_control || !b.is_transactional {
                    pending.remove(&b.producer_id);
                } else {
                    states.extend_open_transaction(b.producer_id, b.base_offset);
                }
            }
            upper = base;
        }
    }

    fn replay_marker(
        &self,
        states: &mut ProducerStates,
        batch: &vltava_records::RecordBatch,
        now_ms: i64,
        replay: Replay,
    ) {
        let marker = batch
            .records()
            .ok()
            .and_then(|mut records| records.next())
            .and_then(Result::ok)
            .and_then(|record| EndTxnMarker::from_record(&record).ok());
        let Some(marker) = marker else { return };
        let producer_id = batch.producer_id();
        let offset = batch.base_offset();
        if let (false, Some(first_offset)) = (marker.commit, states.open_transaction(producer_id)) {
            let indexed = self
                .log()
                .collect_aborted_txns(offset, offset + 1)
                .iter()
                .any(|t| t.producer_id == producer_id && t.last_offset == offset);
            if !indexed {
                let entry = AbortedTxn {
                    producer_id,
                    first_offset,
                    last_offset: offset,
                    last_stable_offset: offset + 1,
                };
                match self.log().append_aborted_txn(entry) {
                    // A follower indexes every abort it receives here: only
                    // an entry missing at a load is worth an operator's eye.
                    Ok(()) if replay == Replay::Load => {
                        info!(topic = %self.topic, partition = self.index, producer_id, offset, "restored a missing aborted-transaction entry")
                    }
                    Ok(()) => {
                        debug!(topic = %self.topic, partition = self.index, producer_id, offset, "indexed an aborted transaction")
                    }
                    Err(e) => {
                        warn!(topic = %self.topic, partition = self.index, "restoring an aborted-transaction entry: {e}")
                    }
                }
            }
        }
        states.end_transaction(
            producer_id,
            batch.producer_epoch(),
            marker.coordinator_epoch,
            batch.max_timestamp(),
            now_ms,
        );
    }

    /// Whole batches from `offset`, below `upper` (the high watermark or
    /// last stable offset), at most `max_bytes` unless `min_one_batch`.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper: i64,
        min_one_batch: bool,
    ) -> Result<Bytes, ErrorCode> {
        self.read_for(offset, max_bytes, upper, min_one_batch, None)
    }

    /// Like [`Partition::read`]; with `zero_copy`, a large enough read is
    /// not read but located, and a placeholder for it is returned (see
    /// [`zero_copy`]).
    pub fn read_for(
        &self,
        offset: i64,
        max_bytes: usize,
        upper: i64,
        min_one_batch: bool,
        zero_copy: Option<&zero_copy::ZeroCopy>,
    ) -> Result<Bytes, ErrorCode> {
        let log = self.log();
        if self.check_dir_online(&log).is_err() {
            return Err(ErrorCode::KAFKA_STORAGE_ERROR);
        }
        let read = match zero_copy {
            None => log
                .read(offset, max_bytes, upper, min_one_batch)
                .map(|r| r.records),
            Some(zero_copy) => log
                .locate(offset, max_bytes, upper, min_one_batch)
                .and_then(|located| zero_copy.stand_in(located)),
        }
        .inspect_err(|e| self.note_storage_error(&log, e));
        match read {
            Ok(records) => Ok(records),
            Err(vltava_storage::Error::OffsetOutOfRange { .. }) => {
                Err(ErrorCode::OFFSET_OUT_OF_RANGE)
            }
            Err(e) => {
                warn!(topic = %self.topic, partition = self.index, "read failed: {e}");
                Err(ErrorCode::KAFKA_STORAGE_ERROR)
            }
        }
    }

    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, ErrorCode> {
        self.log()
            .offset_for_timestamp(ts)
            .map(|r| r.map(|t| (t.offset, t.timestamp)))
            .map_err(|e| {
                warn!(topic = %self.topic, partition = self.index, "timestamp lookup failed: {e}");
                ErrorCode::KAFKA_STORAGE_ERROR
            })
    }

    pub fn max_timestamp_offset(&self) -> Option<(i64, i64)> {
        self.log()
            .max_timestamp_offset()
            .ok()
            .flatten()
            .map(|t| (t.offset, t.timestamp))
    }

    /// DescribeProducers: the producers this replica tracks (Kafka's
    /// `UnifiedLog.activeProducers`), each with its epoch, last sequence
    /// and timestamp, the coordinator epoch of its last marker and the
    /// first offset of its open transaction (-1 if none), by producer id.
    pub fn active_producers(
        &self,
        now_ms: i64,
    ) -> Vec<vltava_protocol::messages::producer_snapshot::ProducerEntry> {
        self.producers(now_ms)
            .as_ref()
            .map(|states| states.snapshot_entries())
            .unwrap_or_default()
    }

    /// DeleteRecords: offset -1 means "up to the high watermark".
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, ErrorCode> {
        let hw = self.high_watermark();
        let target = if offset == -1 { hw } else { offset };
        if target < 0 || target > hw {
            return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        self.on_log(|log| log.delete_records_before(target, hw))
            .map_err(|e| {
                warn!(topic = %self.topic, partition = self.index, "delete records failed: {e}");
                ErrorCode::KAFKA_STORAGE_ERROR
            })
    }
}

#[cfg(test)]
impl Partition {
    /// A partition around an open log, with the broker's default settings.
    fn for_test(log: Log) -> Partition {
        let broker = BrokerConfig::new();
        let effective = TopicConfig::new().resolve(&broker);
        let partition = Partition {
            topic: log.topic().to_string(),
            index: log.partition(),
            topic_id: KafkaUuid([0; 16]),
            local_id: 0,
            log: RwLock::new(Arc::new(log)),
            moving: AtomicBool::new(false),
            log_dirs: None,
            dir_offline: AtomicBool::new(false),
            settings: RwLock::new(Arc::new(settings_from(&effective, &broker))),
            role: Mutex::new(leadership::Role::Offline { leader_epoch: -1 }),
            high_watermark: AtomicI64::new(0),
            committed: Notify::new(),
            appended: Notify::new(),
            producers: Mutex::new(None),
            snapshot_offset: AtomicI64::new(-1),
            producers_loaded: AtomicBool::new(false),
            first_unstable: AtomicI64::new(NO_OPEN_TXN),
            stats: PartitionStats::default(),
        };
        // The sole replica, leading.
        partition.apply_partition_state(
            0,
            vltava_replication::PartitionState {
                replicas: vec![0],
                isr: vec![0],
                leader_epoch: 0,
                partition_epoch: 0,
            },
            0,
            30_000,
            None,
        );
        partition
    }
}

/// How much of a log's tail `load_producer_states` reads.
const PRODUCER_STATE_SCAN_BYTES: u64 = 16 << 20;

/// How much of the log's tail is read back for the batches before a
/// producer snapshot (`remember_batches_before`): the few last batches of
/// each producer that a retry may repeat are near the end.
const PRODUCER_DEDUP_SCAN_BYTES: u64 = 1 << 20;

/// An offset from which about `window` bytes of the log remain (or the log
/// start): walks segments newest first and, in the segment where the window
/// begins, binary-searches the offset whose batch lies at that position.
fn tail_start_offset(log: &Log, window: u64) -> Result<i64, vltava_storage::Error> {
    let start = log.log_start_offset();
    let mut last = log.log_end_offset() - 1;
    let mut remaining = window;
    while last >= start {
        // (segment base, position of the batch holding `last`, its base).
        let Some((segment, position, _)) = log.lookup_position(last)? else {
            return Ok(start);
        };
        if position < remaining {
            remaining -= position;
            last = segment.max(start) - 1;
            continue;
        }
        let target = position - remaining;
        let (mut lo, mut hi) = (segment.max(start), last);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match log.lookup_position(mid)? {
                Some((_, p, _)) if p >= target => hi = mid,
                _ => lo = mid + 1,
            }
        }
        return Ok(lo);
    }
    Ok(start)
}

fn storage_rejection(topic: &str, partition: i32, e: vltava_storage::Error) -> KafkaError {
    let code = match &e {
        vltava_storage::Error::MessageSetTooLarge { .. } => ErrorCode::RECORD_LIST_TOO_LARGE,
        vltava_storage::Error::InvalidRecords(_) => ErrorCode::CORRUPT_MESSAGE,
        // Said once, when the directory went offline.
        vltava_storage::Error::LogDirOffline { .. } => ErrorCode::KAFKA_STORAGE_ERROR,
        _ => {
            warn!(topic, partition, "append failed: {e}");
            ErrorCode::KAFKA_STORAGE_ERROR
        }
    };
    KafkaError::new(code, e.to_string())
}

/// Every partition this broker hosts, kept in step with the metadata image.
pub struct ReplicaManager {
    logs: Arc<LogDirs>,
    partitions: RwLock<HashMap<(String, i32), Arc<Partition>>>,
    checkpointed_hws: std::sync::OnceLock<HashMap<(String, i32), i64>>,
    /// Bumped after every `sync`: the replica fetchers re-read which
    /// partitions they follow.
    roles_changed: tokio::sync::watch::Sender<u64>,
    /// Poked when a follower outside an ISR fetched: an expansion may be
    /// due (the ISR updater wakes).
    isr_check: Notify,
    /// Each topic's resolved settings as of the last `sync`, with what they
    /// were resolved from; used only by `sync` (one at a time).
    topic_settings: Mutex<TopicSettingsCache>,
    /// A sync failed for some partition: the next one looks at every topic,
    /// so the failed partition is tried again even if nothing touches it.
    full_sync_due: AtomicBool,
    /// Replication throttles: bytes this broker sent as a leader, and
    /// fetched as a follower, for throttled replicas.
    pub leader_quota: replication_quota::ReplicationQuota,
    pub follower_quota: replication_quota::ReplicationQuota,
    /// The partitions whose move between log directories has a task
    /// (`moves`): one task per move.
    movers: Mutex<HashSet<(String, i32)>>,
}

/// Which topics a [`ReplicaManager::sync_scoped`] brings in line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncScope {
    /// Every topic, and the logs on disk no topic owns: at start, after a
    /// snapshot replaced the image, after a broker config change (every
    /// topic's defaults), and after a sync that failed somewhere.
    All,
    /// Only these topics (by name), the ones the applied records touched.
    /// A metadata change touches a few topics; looking at every partition
    /// after each one made a cluster of N partitions pay O(N) per change.
    Topics(std::collections::HashSet<String>),
}

impl SyncScope {
    fn covers(&self, topic: &str) -> bool {
        match self {
            SyncScope::All => true,
            SyncScope::Topics(t) => t.contains(topic),
        }
    }
}

/// Resolved topic settings, kept between syncs: resolving a topic's
/// config walks every key with its broker-level synonyms, and `sync` runs
/// after every metadata change, so resolving every topic each time made
/// creating N topics cost O(N^2) (thousands of topics took minutes). A
/// topic is resolved again only when its overrides or the broker's config
/// changed.
#[derive(Default)]
struct TopicSettingsCache {
    broker: Option<BrokerConfig>,
    topics: HashMap<String, CachedTopicSettings>,
}

struct CachedTopicSettings {
    overrides: Arc<std::collections::BTreeMap<String, String>>,
    settings: Arc<TopicSettings>,
    log_config: LogConfig,
}

impl TopicSettingsCache {
    /// Forgets everything when the broker's config is not the one the
    /// cache was filled with.
    fn check_broker(&mut self, broker: &BrokerConfig) {
        if self.broker.as_ref() != Some(broker) {
            self.topics.clear();
            self.broker = Some(broker.clone());
        }
    }

    fn get(
        &mut self,
        image: &MetadataImage,
        topic: &str,
        broker: &BrokerConfig,
    ) -> (Arc<TopicSettings>, LogConfig) {
        let overrides = image.topic_configs(topic);
        if let Some(c) = self.topics.get(topic) {
            // Equal overrides (usually the same `Arc`; a topic without
            // any gets a fresh empty map each time): nothing to resolve.
            if Arc::ptr_eq(&c.overrides, &overrides) || c.overrides == overrides {
                return (c.settings.clone(), c.log_config.clone());
            }
        }
        let effective = effective_topic_config(image, topic, broker);
        let settings = Arc::new(settings_from(&effective, broker));
        let log_config = log_config_from(&effective);
        self.topics.insert(
            topic.to_string(),
            CachedTopicSettings {
                overrides,
                settings: settings.clone(),
                log_config: log_config.clone(),
            },
        );
        (settings, log_config)
    }
}

impl ReplicaManager {
    pub fn new(logs: Arc<LogDirs>) -> Self {
        ReplicaManager {
            logs,
            partitions: RwLock::new(HashMap::new()),
            checkpointed_hws: std::sync::OnceLock::new(),
            roles_changed: tokio::sync::watch::Sender::new(0),
            isr_check: Notify::new(),
            topic_settings: Mutex::new(TopicSettingsCache::default()),
            full_sync_due: AtomicBool::new(false),
            leader_quota: Default::default(),
            follower_quota: Default::default(),
            movers: Mutex::new(HashSet::new()),
        }
    }

    /// Takes offline every hosted partition whose log is in a directory
    /// that failed; returns how many went offline now.
    pub fn take_failed_dirs_offline(&self) -> usize {
        let offline: Vec<&std::path::Path> = self
            .logs
            .dirs()
            .iter()
            .filter(|d| d.is_offline())
            .map(|d| d.path.as_path())
            .collect();
        if offline.is_empty() {
            return 0;
        }
        let mut n = 0;
        for p in self.all() {
            if p.is_dir_offline() {
                continue;
            }
            let log = p.log();
            if log.dir().parent().is_some_and(|d| offline.contains(&d)) {
                p.take_offline();
                n += 1;
            }
        }
        n
    }

    /// Every log directory and its logs.
    pub fn log_dirs(&self) -> &Arc<LogDirs> {
        &self.logs
    }

    /// Changes after every sync of roles with the metadata image.
    pub fn roles_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.roles_changed.subscribe()
    }

    pub fn isr_check(&self) -> &Notify {
        &self.isr_check
    }

    /// The high watermark this broker last checkpointed for a partition
    /// (`replication-offset-checkpoint`), read once at startup.
    fn checkpointed_high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        let checkpoint =
            self.checkpointed_hws
                .get_or_init(|| match self.logs.read_high_watermarks() {
                    Ok(hws) => hws
                        .into_iter()
                        .map(|(tp, hw)| ((tp.topic.clone(), tp.partition), hw))
                        .collect(),
                    Err(e) => {
                        warn!("reading the high watermark checkpoint: {e}");
                        HashMap::new()
                    }
                });
        checkpoint.get(&(topic.to_string(), partition)).copied()
    }

    /// Retention over every hosted partition, never deleting at or above
    /// its high watermark (records a follower may not have yet, or that a
    /// new leader may still need). Returns the segments deleted; a log that
    /// fails is logged and skipped, the first error returned at the end.
    pub fn run_retention(&self, now_ms: i64) -> Result<usize, vltava_storage::Error> {
        let mut total = 0;
        let mut first_error = None;
        for p in self.all().into_iter().filter(|p| !p.is_dir_offline()) {
            match p.log().delete_retention_up_to(now_ms, p.high_watermark()) {
                Ok(n) => total += n,
                Err(vltava_storage::Error::Closed) => {}
                Err(e) => {
                    warn!(topic = %p.topic, partition = p.index, "retention failed: {e}");
                    first_error.get_or_insert(e);
                }
            }
        }
        if total > 0 {
            self.logs.checkpoint_all()?;
        }
        first_error.map_or(Ok(total), Err)
    }

    /// A producer snapshot of every hosted partition whose producer state
    /// is loaded and changed since its last snapshot (clean shutdown, as
    /// Kafka takes one when it closes a log). An unloaded state needs none:
    /// the snapshots and the log on disk give it as they did.
    pub fn snapshot_producer_states(&self, now_ms: i64) {
        for p in self.all() {
            p.snapshot_producer_state(now_ms, false);
        }
    }

    /// Writes every hosted partition's high watermark to
    /// `replication-offset-checkpoint` (periodically and at shutdown), so a
    /// restarted leader does not start from 0 and hide committed records.
    pub fn checkpoint_high_watermarks(&self) -> Result<(), vltava_storage::Error> {
        let hws = self
            .all()
            .iter()
            .filter_map(|p| {
                vltava_storage::TopicPartition::new(&p.topic, p.index)
                    .ok()
                    .map(|tp| (tp, p.high_watermark()))
            })
            .collect();
        self.logs.write_high_watermarks(&hws)
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Brings the hosted partitions in line with `image`: creates logs for
    /// new partitions (and for partitions a reassignment adds this broker
    /// to: it starts empty and its fetcher from offset 0), removes the logs
    /// of deleted topics (and of logs left from a topic since deleted and
    /// recreated) and of partitions this broker is no longer a replica of
    /// (a completed or cancelled reassignment took it out), and applies
    /// config and leadership changes. A partition that fails (out of file
    /// descriptors, a disk error) is logged and skipped so that every other
    /// partition is still brought in line; the first error is returned
    /// after all were tried.
    pub fn sync(
        &self,
        image: &MetadataImage,
        broker: &BrokerConfig,
        node_id: i32,
        now_ms: i64,
    ) -> Result<(), vltava_storage::Error> {
        self.sync_scoped(image, broker, node_id, now_ms, &SyncScope::All)
    }

    /// [`ReplicaManager::sync`] for the topics of `scope` only (every topic
    /// when the last sync failed somewhere).
    pub fn sync_scoped(
        &self,
        image: &MetadataImage,
        broker: &BrokerConfig,
        node_id: i32,
        now_ms: i64,
        scope: &SyncScope,
    ) -> Result<(), vltava_storage::Error> {
        let scope = if self.full_sync_due.swap(false, Ordering::Relaxed) {
            &SyncScope::All
        } else {
            scope
        };
        // The topics to look at: all of them, or those of the scope the
        // image still has (a deleted one is handled by the first loop).
        let in_scope: Vec<&Arc<vltava_metadata::TopicImage>> = match scope {
            SyncScope::All => image.topics_unordered().collect(),
            SyncScope::Topics(names) => names.iter().filter_map(|n| image.topic(n)).collect(),
        };
        let mut first_error = None;
        let mut failed = |what: &str, topic: &str, partition: i32, e: vltava_storage::Error| {
            warn!(topic, partition, "{what} failed: {e}");
            first_error.get_or_insert(e);
        };
        // Which logs go, decided under the partitions lock; deleted after it
        // is released. Deleting waits for a running cleaning pass, and the
        // cleaner asks this manager for each log's upper bound (a read of
        // `partitions`): holding the write lock across the delete deadlocks
        // the broker.
        let mut doomed: Vec<(String, i32)> = Vec::new();
        {
            let mut partitions = self.partitions.write().unwrap_or_else(|e| e.into_inner());
            // Drop what the image no longer has, or no longer has here.
            let existing: Vec<(String, i32)> = partitions
                .keys()
                .filter(|(topic, _)| scope.covers(topic))
                .cloned()
                .collect();
            for key in existing {
                let state = image
                    .topic(&key.0)
                    .filter(|t| KafkaUuid(t.id.0) == partitions[&key].topic_id)
                    .and_then(|t| t.partitions.get(key.1 as usize));
                match state {
                    Some(s) if s.replicas.contains(&node_id) => {}
                    Some(s) => {
                        // Out of the map first (fetchers and handlers stop
                        // finding it), stopped, and its log deleted below,
                        // outside the lock.
                        if let Some(p) = partitions.remove(&key) {
                            p.stop(s.leader_epoch);
                        }
                        info!(topic = %key.0, partition = key.1, "no longer a replica: deleting the log");
                        doomed.push(key);
                    }
                    None => {
                        if let Some(p) = partitions.remove(&key) {
                            p.stop(-1);
                        }
                        info!(topic = %key.0, partition = key.1, "deleting the log of a deleted partition");
                        doomed.push(key);
                    }
                }
            }
            // Logs on disk that the image does not know (deleted while we
            // were down) or does not place here (reassigned away meanwhile).
            let on_disk = match scope {
                SyncScope::All => self.logs.logs(),
                SyncScope::Topics(_) => Vec::new(),
            };
            for log in on_disk {
                let stray = match image.topic(log.topic()) {
                    None => true,
                    Some(t) => {
                        log.topic_id().is_some_and(|id| id.0 != t.id.0)
                            || t.partitions
                                .get(log.partition() as usize)
                                .is_none_or(|s| !s.replicas.contains(&node_id))
                    }
                };
                let key = (log.topic().to_string(), log.partition());
                if stray && !partitions.contains_key(&key) && !doomed.contains(&key) {
                    warn!(
                        topic = log.topic(),
                        partition = log.partition(),
                        "deleting a log the cluster metadata does not know"
                    );
                    doomed.push(key);
                }
            }
        }
        for (topic, partition) in &doomed {
            if let Err(e) = self.logs.delete_log(topic, *partition) {
                failed("deleting the log", topic, *partition, e);
            }
        }
        // Logs of new partitions are created without the partitions lock:
        // creating one makes a directory and files and fsyncs, and every
        // request that looks up a partition would wait behind it. They are
        // inserted under the lock afterwards; a partition another caller
        // inserted meanwhile is kept (`create_log` handed both callers the
        // same log).
        let mut missing: Vec<(String, i32, KafkaUuid, LogConfig)> = Vec::new();
        {
            let mut cache = self
                .topic_settings
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            cache.check_broker(broker);
            let partitions = self.partitions.read().unwrap_or_else(|e| e.into_inner());
            for topic in &in_scope {
                for (index, state) in topic.partitions.iter().enumerate() {
                    if !state.replicas.contains(&node_id) {
                        continue;
                    }
                    let key = (topic.name.clone(), index as i32);
                    if partitions.contains_key(&key) {
                        continue;
                    }
                    let (_, log_config) = cache.get(image, &topic.name, broker);
                    missing.push((key.0, key.1, KafkaUuid(topic.id.0), log_config));
                }
            }
        }
        let mut created: HashMap<(String, i32), Arc<Log>> = HashMap::new();
        for (topic, index, topic_id, log_config) in missing {
            match self
                .logs
                .create_log(&topic, index, topic_id, log_config, now_ms)
            {
                Ok(log) => {
                    created.insert((topic, index), log);
                }
                Err(e) => failed("creating the log", &topic, index, e),
            }
        }
        let mut cache = self
            .topic_settings
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut partitions = self.partitions.write().unwrap_or_else(|e| e.into_inner());
        match scope {
            SyncScope::All => cache.topics.retain(|name, _| image.topic(name).is_some()),
            SyncScope::Topics(names) => {
                for name in names.iter().filter(|n| image.topic(n).is_none()) {
                    cache.topics.remove(name);
                }
            }
        }
        let replica_lag_time_max_ms = broker.replica_lag_time_max_ms();
        let elr_enabled = vltava_metadata::features::elr_enabled(image);
        for topic in in_scope {
            if !topic
                .partitions
                .iter()
                .any(|s| s.replicas.contains(&node_id))
            {
                continue;
            }
            let (settings, log_config) = cache.get(image, &topic.name, broker);
            for (index, state) in topic.partitions.iter().enumerate() {
                if !state.replicas.contains(&node_id) {
                    continue;
                }
                let key = (topic.name.clone(), index as i32);
                let partition = match partitions.get(&key) {
                    Some(p) => p.clone(),
                    None => {
                        // No log: its creation failed above (logged).
                        let Some(log) = created.remove(&key) else {
                            continue;
                        };
                        let high_watermark = self
                            .checkpointed_high_watermark(&topic.name, index as i32)
                            .unwrap_or(0)
                            .min(log.log_end_offset());
                        let p = Arc::new(Partition {
                            topic: topic.name.clone(),
                            index: index as i32,
                            topic_id: KafkaUuid(topic.id.0),
                            local_id: node_id,
                            log: RwLock::new(log),
                            moving: AtomicBool::new(false),
                            log_dirs: Some(self.logs.clone()),
                            dir_offline: AtomicBool::new(false),
                            settings: RwLock::new(settings.clone()),
                            role: Mutex::new(leadership::Role::Offline { leader_epoch: -1 }),
                            high_watermark: AtomicI64::new(high_watermark),
                            committed: Notify::new(),
                            appended: Notify::new(),
                            producers: Mutex::new(None),
                            snapshot_offset: AtomicI64::new(-1),
                            producers_loaded: AtomicBool::new(false),
                            first_unstable: AtomicI64::new(NO_OPEN_TXN),
                            stats: PartitionStats::default(),
                        });
                        partitions.insert(key, p.clone());
                        p
                    }
                };
                if *partition.log().config() != log_config {
                    if let Err(e) = partition.log().set_config(log_config.clone()) {
                        failed("changing the log config", &topic.name, index as i32, e);
                    }
                }
                *partition
                    .settings
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = settings.clone();
                // KIP-966: while eligible leader replicas are on, the high
                // watermark moves only with min.insync.replicas in the ISR.
                // (Kafka's effective min ISR: never more than the replicas.)
                let strict_min_isr = elr_enabled.then(|| {
                    (settings.min_insync_replicas.max(1) as usize).min(state.replicas.len().max(1))
                });
                partition.apply_partition_state(
                    state.leader,
                    vltava_replication::PartitionState {
                        replicas: state.replicas.clone(),
                        isr: state.isr.clone(),
                        leader_epoch: state.leader_epoch,
                        partition_epoch: state.partition_epoch,
                    },
                    now_ms,
                    replica_lag_time_max_ms,
                    strict_min_isr,
                );
            }
        }
        drop(partitions);
        drop(cache);
        self.roles_changed.send_modify(|g| *g += 1);
        if first_error.is_some() {
            self.full_sync_due.store(true, Ordering::Relaxed);
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_protocol::messages::producer_snapshot::ProducerEntry;
    use vltava_records::RecordBatchBuilder;
    use vltava_storage::LogOpenOptions;

    /// A log of 100 one-record batches of about 235 bytes in segments of
    /// 4 KiB.
    fn log_of_100_batches(dir: &std::path::Path) -> Log {
        let config = LogConfig {
            segment_bytes: 4096,
            index_interval_bytes: 64,
            retention_ms: -1,
            ..LogConfig::default()
        };
        let log = Log::open(&dir.join("t-0"), config, LogOpenOptions::default(), 0).unwrap();
        for i in 0..100 {
            let mut b = RecordBatchBuilder::new().producer(7, 0, i);
            b.append(i64::from(i), Some(b"key"), Some(&[b'v'; 150]), &[])
                .unwrap();
            log.append_as_leader(b.build().unwrap(), 0, 0).unwrap();
        }
        assert!(log.segment_count() > 4);
        log
    }

    #[test]
    fn tail_start_offset_covers_about_the_window() {
        let dir = std::env::temp_dir().join(format!(
            "vltava-replica-test-{}-{}",
            std::process::id(),
            now_nanos()
        ));
        let log = log_of_100_batches(&dir);
        let at = |window| tail_start_offset(&log, window).unwrap();
        assert_eq!(at(u64::MAX), 0);
        assert_eq!(at(0), 99);
        assert!((93..=96).contains(&at(1000)), "{}", at(1000));
        // Across segment boundaries.
        assert!((70..=78).contains(&at(6000)), "{}", at(6000));
        let mut previous = i64::MAX;
        for window in (0..30_000).step_by(250) {
            let offset = at(window);
            assert!(offset <= previous, "window {window}: {offset} > {previous}");
            previous = offset;
        }
        assert_eq!(previous, 0);
        log.close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn now_nanos() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "vltava-replica-{name}-{}-{}",
            std::process::id(),
            now_nanos()
        ))
    }

    fn open_log(dir: &std::path::Path) -> Log {
        let config = LogConfig {
            retention_ms: -1,
            ..LogConfig::default()
        };
        Log::open(&dir.join("t-0"), config, LogOpenOptions::default(), 0).unwrap()
    }

    /// A batch of `count` records from producer `pid`, transactional or not.
    fn batch(pid: i64, seq: i32, count: i32, transactional: bool) -> Bytes {
        let mut b = RecordBatchBuilder::new();
        if pid >= 0 {
            b = b.producer(pid, 0, seq).transactional(transactional);
        }
        for i in 0..count {
            b.append(0, None, Some(format!("v{i}").as_bytes()), &[])
                .unwrap();
        }
        b.build().unwrap()
    }

    #[test]
    fn states_that_leave_the_leader_out_of_its_isr_do_not_take_it_down() {
        let dir = temp_dir("isr-without-leader");
        let p = Partition::for_test(open_log(&dir));
        let without_leader = |partition_epoch| vltava_replication::PartitionState {
            replicas: vec![0, 1],
            isr: vec![1],
            leader_epoch: 0,
            partition_epoch,
        };
        // An AlterPartition answer: refused, the ISR stays.
        p.isr_change_done(Ok(without_leader(1)));
        assert!(p.is_leader());
        assert_eq!(p.isr_size(), 1);
        // Metadata naming this broker leader of a new epoch outside its ISR:
        // it leads, counted in.
        p.apply_partition_state(
            0,
            vltava_replication::PartitionState {
                leader_epoch: 1,
                ..without_leader(2)
            },
            0,
            30_000,
            None,
        );
        assert!(p.is_leader());
        assert_eq!((p.leader_epoch(), p.isr_size()), (1, 2));
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn open_transactions_hold_the_last_stable_offset_until_their_marker() {
        let dir = temp_dir("lso");
        let p = Partition::for_test(open_log(&dir));
        p.append(batch(-1, 0, 2, false), false, 0).unwrap(); // 0..=1
        assert_eq!(p.last_stable_offset(0), 2);
        p.append(batch(7, 0, 3, true), false, 0).unwrap(); // 2..=4, txn of 7
        p.append(batch(-1, 0, 1, false), false, 0).unwrap(); // 5
        p.append(batch(8, 0, 2, true), false, 0).unwrap(); // 6..=7, txn of 8
        assert_eq!(p.high_watermark(), 8);
        assert_eq!(p.last_stable_offset(0), 2);
        // Producer 8 aborts: the index gets its entry, the LSO stays at 7's.
        let marker = p.append_marker(8, 0, false, 0, 0).unwrap().0;
        assert_eq!(marker, 8);
        assert_eq!(p.last_stable_offset(0), 2);
        assert_eq!(p.aborted_transactions(0, 100), vec![(8, 6)]);
        // Producer 7 commits: everything is stable, nothing more aborted.
        assert_eq!(p.append_marker(7, 0, true, 0, 0).unwrap().0, 9);
        assert_eq!(p.last_stable_offset(0), 10);
        assert_eq!(p.aborted_transactions(0, 100), vec![(8, 6)]);
        // A fetch that starts after the aborted transaction is told nothing.
        assert!(p.aborted_transactions(9, 100).is_empty());
        // A later transaction of producer 7 is ended by a coordinator of
        // epoch 3; a marker of the deposed epoch-0 coordinator is refused
        // and writes nothing.
        p.append(batch(7, 3, 1, true), false, 0).unwrap(); // 10
        assert_eq!(p.append_marker(7, 0, false, 3, 0).unwrap().0, 11);
        let end = p.log().log_end_offset();
        let fenced = p.append_marker(7, 0, true, 0, 0).unwrap_err();
        assert_eq!(fenced.code, ErrorCode::TRANSACTION_COORDINATOR_FENCED);
        assert_eq!(p.log().log_end_offset(), end);
        assert_eq!(p.append_marker(7, 0, true, 3, 0).unwrap().0, end);
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_producer_in_a_transaction_cannot_write_outside_it() {
        let dir = temp_dir("outside");
        let p = Partition::for_test(open_log(&dir));
        p.append(batch(7, 0, 1, true), false, 0).unwrap();
        let refused = p.append(batch(7, 1, 1, false), false, 0).unwrap_err();
        assert_eq!(refused.code, ErrorCode::INVALID_TXN_STATE);
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn transaction_state_is_rebuilt_after_a_restart() {
        let dir = temp_dir("restart");
        {
            let p = Partition::for_test(open_log(&dir));
            p.append(batch(7, 0, 2, true), false, 0).unwrap(); // 0..=1 aborted below
            p.append_marker(7, 0, false, 0, 0).unwrap(); // 2
            p.append(batch(9, 0, 1, true), false, 0).unwrap(); // 3, still open
            p.log().close().unwrap();
        }
        let p = Partition::for_test(open_log(&dir));
        assert_eq!(p.high_watermark(), 4);
        assert_eq!(p.last_stable_offset(0), 3);
        assert_eq!(p.aborted_transactions(0, 4), vec![(7, 0)]);
        p.append_marker(9, 0, true, 0, 0).unwrap();
        assert_eq!(p.last_stable_offset(0), 5);
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_transaction_older_than_the_scanned_tail_keeps_its_start_after_a_restart() {
        let dir = temp_dir("old-txn");
        let open_small = |dir: &std::path::Path| {
            let config = LogConfig {
                retention_ms: -1,
                segment_bytes: 4 << 20,
                ..LogConfig::default()
            };
            Log::open(&dir.join("t-0"), config, LogOpenOptions::default(), 0).unwrap()
        };
        let big = || {
            let mut b = RecordBatchBuilder::new();
            b.append(0, None, Some(&vec![b'x'; 1 << 20]), &[]).unwrap();
            b.build().unwrap()
        };
        {
            let p = Partition::for_test(open_small(&dir));
            p.append(batch(5, 0, 1, true), false, 0).unwrap(); // 0: txn of 5
            p.append_marker(5, 0, true, 0, 0).unwrap(); // 1: committed
            p.append(batch(-1, 0, 1, false), false, 0).unwrap(); // 2
            p.append(batch(9, 0, 2, true), false, 0).unwrap(); // 3..=4: txn of 9 opens
            p.append(batch(5, 1, 1, true), false, 0).unwrap(); // 5: a new txn of 5
            p.append_marker(5, 0, false, 0, 0).unwrap(); // 6: aborted
            for _ in 0..40 {
                p.append(big(), false, 0).unwrap(); // 7..=46, well past the 16 MiB tail
            }
            p.append(batch(9, 2, 1, true), false, 0).unwrap(); // 47: still txn of 9
            assert_eq!(p.last_stable_offset(0), 3);
            p.log().close().unwrap();
        }
        // Loaded from the snapshot of the last roll: it has the start.
        {
            let p = Partition::for_test(open_small(&dir));
            assert!(
                p.load_from_snapshot(0).is_some(),
                "the rolls left snapshots"
            );
            assert_eq!(p.last_stable_offset(0), 3);
            p.log().close().unwrap();
        }
        // Without snapshots (a log from before them), the tail scan's
        // fallback: rebuilt from the tail alone, 9's transaction would
        // start at 47.
        remove_producer_snapshots(&dir.join("t-0"));
        let p = Partition::for_test(open_small(&dir));
        assert!(p.log().segment_count() > 4);
        assert!(p.load_from_snapshot(0).is_none());
        assert_eq!(p.last_stable_offset(0), 3);
        p.append_marker(9, 0, true, 0, 0).unwrap();
        assert_eq!(p.last_stable_offset(0), p.high_watermark());
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn remove_producer_snapshots(log_dir: &std::path::Path) {
        for path in producer_snapshot_files(log_dir) {
            std::fs::remove_file(path).unwrap();
        }
    }

    fn producer_snapshot_files(log_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(log_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "snapshot"))
            .collect();
        files.sort();
        files
    }

    /// `count` records of producer `pid` in `epoch` from sequence `seq`.
    fn producer_batch(
        pid: i64,
        epoch: i16,
        seq: i32,
        count: i32,
        transactional: bool,
        timestamp: i64,
    ) -> Bytes {
        let mut b = RecordBatchBuilder::new()
            .producer(pid, epoch, seq)
            .transactional(transactional);
        for i in 0..count {
            let value = format!("{pid}/{epoch}/{seq}/{i}:{}", "v".repeat(40));
            b.append(timestamp, None, Some(value.as_bytes()), &[])
                .unwrap();
        }
        b.build().unwrap()
    }

    /// The sequence `count` after `seq` (sequences wrap to 0 after
    /// i32::MAX).
    fn sequence_after(seq: i32, count: i32) -> i32 {
        ((i64::from(seq) + i64::from(count)) % (i64::from(i32::MAX) + 1)) as i32
    }

    impl Partition {
        /// What replaying the whole log gives.
        fn replay_everything(&self, now_ms: i64) -> ProducerStates {
            let mut states = ProducerStates::default();
            let (start, end) = (self.log().log_start_offset(), self.log().log_end_offset());
            self.replay_log(&mut states, start, end, now_ms, |_| {})
                .unwrap();
            states
        }

        /// The loaded producer state's snapshot entries and first unstable
        /// offset (`None` if not loaded).
        fn loaded_state(&self) -> Option<(Vec<ProducerEntry>, Option<i64>)> {
            let guard = self.producers.lock().unwrap();
            guard
                .as_ref()
                .map(|s| (s.snapshot_entries(), s.first_unstable_offset()))
        }
    }

    /// `loaded` (a snapshot and the batches after it) holds what `full` (a
    /// replay of the whole log) holds: every field a snapshot keeps per
    /// producer (epoch, last batch, timestamp, coordinator epoch, open
    /// transaction), the same first unstable offset, and of the batches
    /// remembered the newest ones of the full replay's (a snapshot keeps a
    /// producer's last batch only, as Kafka's does).
    fn assert_same_state(loaded: &ProducerStates, full: &ProducerStates, context: &str) {
        assert_eq!(
            loaded.snapshot_entries(),
            full.snapshot_entries(),
            "{context}: the entries"
        );
        assert_eq!(
            loaded.first_unstable_offset(),
            full.first_unstable_offset(),
            "{context}: the first unstable offset"
        );
        for entry in full.snapshot_entries() {
            let ours = loaded.retained_batches(entry.producer_id);
            let all = full.retained_batches(entry.producer_id);
            assert!(
                all.ends_with(&ours) && (ours.is_empty() == all.is_empty()),
                "{context}: producer {} remembers {ours:?}, the full replay {all:?}",
                entry.producer_id
            );
        }
    }

    #[derive(Debug)]
    struct ModelProducer {
        pid: i64,
        epoch: i16,
        next_seq: i32,
        transactional: bool,
        in_txn: bool,
        /// The last batch appended in the current epoch and its offset.
        last: Option<(Bytes, i64)>,
    }

    /// Random histories of idempotent and transactional producers
    /// (commits, aborts, fencing markers, epoch bumps, retries, batches
    /// without a producer, sequences that wrap) in a log of small segments
    /// that rolls every few batches, mirrored to a follower; restarted at
    /// random, with a shutdown snapshot or without one. After every
    /// restart the state loaded from the newest snapshot plus the batches
    /// after it equals a replay of the whole log and the state before the
    /// restart, and every producer's last batch retried is answered with
    /// its original offset and not appended again.
    #[test]
    fn snapshot_and_replay_give_what_a_full_replay_gives() {
        use vltava_raft::SplitMix64;
        use vltava_storage::LogOpenOptions;

        let mut from_snapshots = 0;
        for seed in 1..=4u64 {
            let dir = temp_dir(&format!("snapshot-replay-{seed}"));
            let open = |name: &str| {
                let config = LogConfig {
                    retention_ms: -1,
                    segment_bytes: 2048,
                    ..LogConfig::default()
                };
                let log = Log::open(&dir.join(name), config, LogOpenOptions::default(), 0).unwrap();
                Partition::for_test(log)
            };
            let mut rng = SplitMix64::new(seed);
            let mut leader = open("t-0");
            let mut follower = open("t-1");
            let mut producers: Vec<ModelProducer> = (1..=6)
                .map(|pid| ModelProducer {
                    pid,
                    epoch: 0,
                    // Producer 6 starts near the end of the sequences.
                    next_seq: if pid == 6 { i32::MAX - 5 } else { 0 },
                    transactional: pid % 2 == 0,
                    in_txn: false,
                    last: None,
                })
                .collect();
            let mut coordinator_epoch = 0;
            let mut now = 1_000;
            for step in 0..400 {
                now += 7;
                let context = format!("seed {seed} step {step}");
                let i = rng.range(0, producers.len() as u64) as usize;
                let roll = rng.range(0, 100);
                if roll < 12 && producers[i].transactional && producers[i].in_txn {
                    let p = &mut producers[i];
                    let fence = rng.chance(0.15);
                    let commit = !fence && rng.chance(0.5);
                    if rng.chance(0.2) {
                        coordinator_epoch += 1;
                    }
                    let epoch = if fence { p.epoch + 1 } else { p.epoch };
                    leader
                        .append_marker(p.pid, epoch, commit, coordinator_epoch, now)
                        .unwrap();
                    p.in_txn = false;
                    if fence {
                        p.epoch = epoch;
                        p.next_seq = 0;
                        p.last = None;
                    }
                } else if roll < 16 && !producers[i].in_txn {
                    // A new epoch (InitProducerId again): starts at 0.
                    let p = &mut producers[i];
                    p.epoch += 1;
                    p.next_seq = 0;
                    p.last = None;
                } else if roll < 26 {
                    let values = batch(-1, 0, 1 + rng.range(0, 3) as i32, false);
                    leader.append(values, false, now).unwrap();
                } else if roll < 34 {
                    let p = &producers[i];
                    if let Some((bytes, offset)) = &p.last {
                        let end = leader.log().log_end_offset();
                        let again = leader.append(bytes.clone(), false, now).unwrap();
                        assert_eq!(again.base_offset, *offset, "{context}: a retry");
                        assert_eq!(leader.log().log_end_offset(), end, "{context}");
                    }
                } else if roll < 37 {
                    // A clean restart: a snapshot at shutdown, then the log
                    // closes.
                    leader.snapshot_producer_state(now, false);
                    follower.snapshot_producer_state(now, false);
                    (leader, follower) = restart(
                        leader,
                        follower,
                        &open,
                        &producers,
                        now,
                        &context,
                        &mut from_snapshots,
                    );
                } else if roll < 39 {
                    // A restart without the shutdown snapshot: the next
                    // load starts from the last roll's snapshot.
                    (leader, follower) = restart(
                        leader,
                        follower,
                        &open,
                        &producers,
                        now,
                        &context,
                        &mut from_snapshots,
                    );
                } else {
                    let p = &mut producers[i];
                    let count = 1 + rng.range(0, 4) as i32;
                    let txn = p.transactional;
                    let bytes = producer_batch(p.pid, p.epoch, p.next_seq, count, txn, now);
                    let appended = leader.append(bytes.clone(), false, now).unwrap();
                    p.next_seq = sequence_after(p.next_seq, count);
                    p.last = Some((bytes, appended.base_offset));
                    p.in_txn |= txn;
                }
                mirror(&leader, &follower, now);
            }
            leader.snapshot_producer_state(now, false);
            follower.snapshot_producer_state(now, false);
            let _ = restart(
                leader,
                follower,
                &open,
                &producers,
                now,
                "at the end",
                &mut from_snapshots,
            );
            let _ = std::fs::remove_dir_all(&dir);
        }
        assert!(
            from_snapshots >= 20,
            "only {from_snapshots} loads came from a snapshot"
        );
    }

    /// Appends to `follower` what `leader` has beyond its log end, as a
    /// replica fetcher does.
    fn mirror(leader: &Partition, follower: &Partition, now_ms: i64) {
        loop {
            let from = follower.log().log_end_offset();
            let end = leader.log().log_end_offset();
            if from >= end {
                return;
            }
            let records = leader.log().read(from, 1 << 16, end, true).unwrap().records;
            follower.append_as_follower(records, end, now_ms).unwrap();
        }
    }

    /// Closes both logs and opens them again, then checks what the loads
    /// give (see `snapshot_and_replay_give_what_a_full_replay_gives`).
    fn restart(
        leader: Partition,
        follower: Partition,
        open: &dyn Fn(&str) -> Partition,
        producers: &[ModelProducer],
        now_ms: i64,
        context: &str,
        from_snapshots: &mut usize,
    ) -> (Partition, Partition) {
        let before = leader.loaded_state();
        let follower_before = follower.loaded_state();
        leader.log().close().unwrap();
        follower.log().close().unwrap();
        let (leader, follower) = (open("t-0"), open("t-1"));
        for (p, name, before) in [
            (&leader, "leader", &before),
            (&follower, "follower", &follower_before),
        ] {
            let context = format!("{context}, {name}");
            let full = p.replay_everything(now_ms);
            match p.load_from_snapshot(now_ms) {
                Some(loaded) => {
                    *from_snapshots += 1;
                    assert_same_state(&loaded, &full, &context);
                }
                None => assert!(
                    producer_snapshot_files(p.log().dir()).is_empty(),
                    "{context}: a snapshot was there but not used"
                ),
            }
            if let Some((entries, first_unstable)) = before {
                assert_eq!(
                    &full.snapshot_entries(),
                    entries,
                    "{context}: the state before the restart"
                );
                assert_eq!(full.first_unstable_offset(), *first_unstable, "{context}");
            }
        }
        assert_eq!(
            leader.loaded_state(),
            None,
            "the checks above loaded nothing"
        );
        // Every producer's last batch is still known: a retry is answered
        // with its offset and not appended again.
        for p in producers {
            if let Some((bytes, offset)) = &p.last {
                let end = leader.log().log_end_offset();
                let again = leader.append(bytes.clone(), false, now_ms).unwrap();
                assert_eq!(
                    again.base_offset, *offset,
                    "{context}: producer {}'s retry",
                    p.pid
                );
                assert_eq!(leader.log().log_end_offset(), end, "{context}");
            }
        }
        (leader, follower)
    }

    /// A snapshot whose CRC does not check is logged and deleted, and the
    /// one before it used (with a longer replay); with none left, the tail
    /// scan.
    #[test]
    fn a_corrupt_snapshot_is_deleted_and_the_one_before_it_used() {
        let dir = temp_dir("corrupt-snapshot");
        let open = || {
            let config = LogConfig {
                retention_ms: -1,
                segment_bytes: 1024,
                ..LogConfig::default()
            };
            let log = Log::open(
                &dir.join("t-0"),
                config,
                vltava_storage::LogOpenOptions::default(),
                0,
            )
            .unwrap();
            Partition::for_test(log)
        };
        let p = open();
        for seq in 0..40 {
            p.append(producer_batch(7, 0, seq, 1, false, 0), false, 0)
                .unwrap();
        }
        p.append(producer_batch(8, 0, 0, 2, true, 0), false, 0)
            .unwrap();
        p.snapshot_producer_state(0, false);
        let end = p.log().log_end_offset();
        p.log().close().unwrap();
        let files = producer_snapshot_files(&dir.join("t-0"));
        assert!(files.len() >= 2, "{files:?}");
        let newest = files.last().unwrap().clone();
        assert!(newest.ends_with(format!("{end:020}.snapshot")));
        let mut bytes = std::fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&newest, bytes).unwrap();

        let p = open();
        let loaded = p.load_from_snapshot(0).expect("the older snapshot");
        assert!(!newest.exists(), "the corrupt snapshot is deleted");
        assert_same_state(&loaded, &p.replay_everything(0), "after a corrupt snapshot");
        assert_eq!(loaded.first_unstable_offset(), Some(40));
        // Every snapshot corrupt: none is used, the tail scan is.
        for file in producer_snapshot_files(&dir.join("t-0")) {
            std::fs::write(file, b"\x00\x01garbage").unwrap();
        }
        assert!(p.load_from_snapshot(0).is_none());
        assert!(producer_snapshot_files(&dir.join("t-0")).is_empty());
        assert_eq!(p.last_stable_offset(0), 40);
        let again = p.append(producer_batch(7, 0, 39, 1, false, 0), false, 0);
        assert_eq!(
            again.unwrap().base_offset,
            39,
            "the tail scan knows 7's last batch"
        );
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A producer's batch times out at a leader that then fails; the new
    /// leader loaded its producer state from a snapshot taken after that
    /// batch, and a snapshot keeps only the last batch of each producer.
    /// The retry must still be a duplicate (answered with its offsets), not
    /// OUT_OF_ORDER_SEQUENCE_NUMBER, which librdkafka takes as fatal (a
    /// 3-node fault run, seed 24, lost both of its producers to it).
    #[test]
    fn a_retry_of_a_batch_before_the_snapshot_is_still_a_duplicate() {
        let dir = temp_dir("retry-before-snapshot");
        let open = || {
            let log = Log::open(
                &dir.join("t-0"),
                LogConfig {
                    retention_ms: -1,
                    ..LogConfig::default()
                },
                vltava_storage::LogOpenOptions::default(),
                0,
            )
            .unwrap();
            Partition::for_test(log)
        };
        let p = open();
        let mut offsets = Vec::new();
        for seq in 0..6 {
            let a = p
                .append(producer_batch(7, 0, seq, 1, false, 0), false, 0)
                .unwrap();
            offsets.push(a.base_offset);
        }
        p.snapshot_producer_state(0, false);
        p.log().close().unwrap();

        let p = open();
        let loaded = p.load_from_snapshot(0).expect("the snapshot");
        drop(loaded);
        let end = p.log().log_end_offset();
        // The last five batches are duplicates; the one before them is too
        // old to tell (Kafka keeps five as well), and the next one appends.
        for seq in 1..6 {
            let again = p
                .append(producer_batch(7, 0, seq, 1, false, 0), false, 0)
                .unwrap_or_else(|e| panic!("retry of seq {seq}: {e:?}"));
            assert_eq!(again.base_offset, offsets[seq as usize], "seq {seq}");
            assert_eq!(p.log().log_end_offset(), end, "seq {seq} appended nothing");
        }
        assert!(p
            .append(producer_batch(7, 0, 0, 1, false, 0), false, 0)
            .is_err());
        let next = p
            .append(producer_batch(7, 0, 6, 1, false, 0), false, 0)
            .unwrap();
        assert_eq!(next.base_offset, end);
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_aborted_entry_is_restored_from_the_marker() {
        let dir = temp_dir("reconcile");
        {
            // The marker without its index entry: what a crash between the
            // two writes leaves.
            let log = open_log(&dir);
            log.append_as_leader(batch(7, 0, 2, true), 0, 0).unwrap();
            let marker = EndTxnMarker {
                commit: false,
                coordinator_epoch: 0,
            }
            .to_batch(0, 0, 7, 0, 0)
            .unwrap();
            log.append_as_leader(marker, 0, 0).unwrap();
            assert!(log.collect_aborted_txns(0, 10).is_empty());
            log.close().unwrap();
        }
        let p = Partition::for_test(open_log(&dir));
        assert_eq!(p.last_stable_offset(0), 3);
        assert_eq!(p.aborted_transactions(0, 10), vec![(7, 0)]);
        p.log().close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A reassignment adds this broker (a new, empty log it follows from
    /// offset 0) and later takes it out: the partition leaves the map, stops
    /// (its role is offline, so nothing leads or follows through an old
    /// handle) and its log is deleted; a log left from a partition
    /// reassigned away while the broker was down goes at the next sync.
    /// A scoped sync brings in line the topics of its scope and no other;
    /// a full one everything.
    #[test]
    fn a_scoped_sync_touches_only_its_topics() {
        use std::collections::HashSet;
        use vltava_metadata::{MetadataImage, MetadataRecord};
        use vltava_protocol::codec::Uuid;

        let dir = temp_dir("sync-scoped");
        let replicas = ReplicaManager::new(Arc::new(
            LogDirs::open(
                &[(dir.clone(), KafkaUuid::random())],
                vltava_storage::LogManagerOptions::default(),
                0,
            )
            .unwrap(),
        ));
        let topic = |name: &str, id: u8, offset: i64| {
            [
                (
                    offset,
                    MetadataRecord::Topic {
                        name: name.into(),
                        topic_id: Uuid([id; 16]),
                    },
                ),
                (
                    offset + 1,
                    MetadataRecord::Partition {
                        topic_id: Uuid([id; 16]),
                        partition: 0,
                        replicas: vec![1],
                        isr: vec![1],
                        removing_replicas: vec![],
                        adding_replicas: vec![],
                        leader: 1,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                    },
                ),
            ]
        };
        let records: Vec<_> = topic("a", 1, 0)
            .into_iter()
            .chain(topic("b", 2, 2))
            .collect();
        let image = MetadataImage::empty()
            .apply_all(records.iter().map(|(o, r)| (*o, r)))
            .unwrap();
        let config = BrokerConfig::new();
        let only = |name: &str| SyncScope::Topics(HashSet::from([name.to_string()]));
        replicas
            .sync_scoped(&image, &config, 1, 0, &only("a"))
            .unwrap();
        assert!(replicas.get("a", 0).is_some());
        assert!(replicas.get("b", 0).is_none(), "b is not in the scope");
        replicas
            .sync_scoped(&image, &config, 1, 0, &only("b"))
            .unwrap();
        assert!(replicas.get("b", 0).is_some());
        // a removed, but the scope names b: a stays until a sync covers it.
        let removed = image
            .apply(
                4,
                &MetadataRecord::RemoveTopic {
                    topic_id: Uuid([1; 16]),
                },
            )
            .unwrap();
        replicas
            .sync_scoped(&removed, &config, 1, 0, &only("b"))
            .unwrap();
        assert!(replicas.get("a", 0).is_some());
        replicas
            .sync_scoped(&removed, &config, 1, 0, &only("a"))
            .unwrap();
        assert!(replicas.get("a", 0).is_none());
        assert!(!dir.join("a-0").exists(), "the log of a is deleted");
        assert!(replicas.get("b", 0).is_some());
    }

    /// The settings `sync` keeps per topic follow the topic's overrides
    /// and the broker's config: each change reaches the partition, and a
    /// sync with neither changed hands out the same resolved settings.
    #[test]
    fn sync_resolves_a_topic_again_only_when_its_config_changed() {
        use vltava_metadata::{MetadataImage, MetadataRecord};
        use vltava_protocol::codec::Uuid;

        let dir = temp_dir("sync-settings");
        let replicas = ReplicaManager::new(Arc::new(
            LogDirs::open(
                &[(dir.clone(), KafkaUuid::random())],
                vltava_storage::LogManagerOptions::default(),
                0,
            )
            .unwrap(),
        ));
        let id = Uuid([9; 16]);
        let image = MetadataImage::empty()
            .apply_all([
                (
                    0,
                    &MetadataRecord::Topic {
                        name: "s".into(),
                        topic_id: id,
                    },
                ),
                (
                    1,
                    &MetadataRecord::Partition {
                        topic_id: id,
                        partition: 0,
                        replicas: vec![1],
                        isr: vec![1],
                        removing_replicas: vec![],
                        adding_replicas: vec![],
                        leader: 1,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                    },
                ),
            ])
            .unwrap();
        let mut config = BrokerConfig::new();
        replicas.sync(&image, &config, 1, 0).unwrap();
        let p = replicas.get("s", 0).unwrap();
        let first = p.settings();
        assert_eq!(first.max_message_bytes, 1048588, "the broker default");
        // Nothing changed: the same resolved settings.
        replicas.sync(&image, &config, 1, 0).unwrap();
        assert!(Arc::ptr_eq(&first, &p.settings()));
        // The broker's default changed: resolved again.
        config
            .set_dynamic_default("message.max.bytes", "2000")
            .unwrap();
        replicas.sync(&image, &config, 1, 0).unwrap();
        assert_eq!(p.settings().max_message_bytes, 2000);
        // The topic's override: resolved again, and it wins.
        let image = image
            .apply(
                2,
                &MetadataRecord::Config {
                    resource_type: vltava_metadata::image::RESOURCE_TOPIC,
                    resource_name: "s".into(),
                    name: "max.message.bytes".into(),
                    value: Some("3000".into()),
                },
            )
            .unwrap();
        replicas.sync(&image, &config, 1, 0).unwrap();
        assert_eq!(p.settings().max_message_bytes, 3000);
        // And removed again: back to the broker's.
        let image = image
            .apply(
                3,
                &MetadataRecord::Config {
                    resource_type: vltava_metadata::image::RESOURCE_TOPIC,
                    resource_name: "s".into(),
                    name: "max.message.bytes".into(),
                    value: None,
                },
            )
            .unwrap();
        replicas.sync(&image, &config, 1, 0).unwrap();
        assert_eq!(p.settings().max_message_bytes, 2000);
    }

    #[test]
    fn a_reassignment_adds_and_removes_this_broker() {
        use vltava_metadata::{MetadataImage, MetadataRecord, NO_LEADER_CHANGE};
        use vltava_protocol::codec::Uuid;

        let dir = temp_dir("sync-reassign");
        let open = || {
            Arc::new(ReplicaManager::new(Arc::new(
                LogDirs::open(
                    &[(dir.clone(), KafkaUuid::random())],
                    vltava_storage::LogManagerOptions::default(),
                    0,
                )
                .unwrap(),
            )))
        };
        let replicas = open();
        let id = Uuid([7; 16]);
        let change = |replicas: Vec<i32>, isr: Vec<i32>, leader| MetadataRecord::PartitionChange {
            topic_id: id,
            partition: 0,
            isr: Some(isr),
            leader,
            replicas: Some(replicas),
            removing_replicas: Some(vec![]),
            adding_replicas: Some(vec![]),
            leader_recovery_state: -1,
            elr: None,
            last_known_elr: None,
        };
        let image = MetadataImage::empty()
            .apply_all([
                (
                    0,
                    &MetadataRecord::Topic {
                        name: "moving".into(),
                        topic_id: id,
                    },
                ),
                (
                    1,
                    &MetadataRecord::Partition {
                        topic_id: id,
                        partition: 0,
                        replicas: vec![2, 3],
                        isr: vec![2, 3],
                        removing_replicas: vec![],
                        adding_replicas: vec![],
                        leader: 2,
                        leader_epoch: 0,
                        partition_epoch: 0,
                        elr: Vec::new(),
                        last_known_elr: Vec::new(),
                    },
                ),
            ])
            .unwrap();
        let config = BrokerConfig::new();
        replicas.sync(&image, &config, 1, 0).unwrap();
        assert!(replicas.get("moving", 0).is_none());
        // Broker 1 is being added: it hosts an empty log and follows 2.
        let image = image
            .apply(
                2,
                &MetadataRecord::PartitionChange {
                    topic_id: id,
                    partition: 0,
                    isr: None,
                    leader: NO_LEADER_CHANGE,
                    replicas: Some(vec![1, 3, 2]),
                    removing_replicas: Some(vec![2]),
                    adding_replicas: Some(vec![1]),
                    leader_recovery_state: -1,
                    elr: None,
                    last_known_elr: None,
                },
            )
            .unwrap();
        replicas.sync(&image, &config, 1, 0).unwrap();
        let p = replicas.get("moving", 0).expect("hosted once added");
        assert_eq!(p.following(), Some((2, 0)));
        assert_eq!(p.log().log_end_offset(), 0);
        let log_dir = dir.join("moving-0");
        assert!(log_dir.is_dir());
        // Cancelled: 1 is out again; the old handle sees it stopped.
        let image = image.apply(3, &change(vec![3, 2], vec![2, 3], 2)).unwrap();
        replicas.sync(&image, &config, 1, 0).unwrap();
        assert!(replicas.get("moving", 0).is_none());
        assert_eq!(p.following(), None);
        assert_eq!(p.leader_epoch(), 1);
        assert!(
            !log_dir.exists(),
            "the log of a replica taken away is deleted"
        );

        // Added again and then taken away while this broker is down: the
        // log it left is deleted at the next start's sync.
        let added = image
            .apply(4, &change(vec![1, 3, 2], vec![2, 3], 2))
            .unwrap();
        replicas.sync(&added, &config, 1, 0).unwrap();
        assert!(log_dir.is_dir());
        replicas.log_dirs().close().unwrap();
        drop(replicas);
        let restarted = open();
        let gone = added.apply(5, &change(vec![3, 2], vec![2, 3], 2)).unwrap();
        restarted.sync(&gone, &config, 1, 0).unwrap();
        assert!(restarted.get("moving", 0).is_none());
        assert!(!log_dir.exists(), "a stray replica's log is deleted");
    }

    /// The cleaner holds its pass lock while it asks this manager for each
    /// compacted log's upper bound (a read of `partitions`); deleting a
    /// topic waits for a running pass. `sync` once held the partitions
    /// write lock across that wait, and the broker stopped for good (found
    /// by tools/chaos: a topic deleted during a cleaning pass).
    #[test]
    fn deleting_a_topic_during_a_cleaning_pass_does_not_deadlock() {
        use std::sync::mpsc;
        use std::time::Duration;
        use vltava_metadata::image::RESOURCE_TOPIC;
        use vltava_metadata::{MetadataImage, MetadataRecord};
        use vltava_protocol::codec::Uuid;

        let dir = temp_dir("sync-cleaner");
        let logs = Arc::new(
            LogDirs::open(
                &[(dir.clone(), KafkaUuid::random())],
                vltava_storage::LogManagerOptions::default(),
                0,
            )
            .unwrap(),
        );
        let replicas = Arc::new(ReplicaManager::new(logs));
        let (kept, doomed) = (Uuid([1; 16]), Uuid([2; 16]));
        let partition = |topic_id| MetadataRecord::Partition {
            topic_id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
        let records = [
            MetadataRecord::Topic {
                name: "compacted".into(),
                topic_id: kept,
            },
            partition(kept),
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "compacted".into(),
                name: "cleanup.policy".into(),
                value: Some("compact".into()),
            },
            MetadataRecord::Topic {
                name: "doomed".into(),
                topic_id: doomed,
            },
            partition(doomed),
        ];
        let image = MetadataImage::empty()
            .apply_all(records.iter().enumerate().map(|(i, r)| (i as i64, r)))
            .unwrap();
        let config = BrokerConfig::new();
        replicas.sync(&image, &config, 1, 0).unwrap();
        let after = image
            .apply(5, &MetadataRecord::RemoveTopic { topic_id: doomed })
            .unwrap();

        let (entered, in_pass) = mpsc::channel();
        let cleaner = std::thread::spawn({
            let replicas = replicas.clone();
            move || {
                let upper = |log: &Log| {
                    let _ = entered.send(());
                    // Let the delete below take its locks first.
                    std::thread::sleep(Duration::from_millis(300));
                    replicas
                        .get(log.topic(), log.partition())
                        .map(|p| p.log().log_end_offset())
                };
                let limits = vltava_storage::CleanerLimits {
                    map_budget_bytes: 1 << 20,
                    max_decompressed_bytes: 1 << 20,
                    max_io_bytes_per_second: f64::INFINITY,
                };
                let _ = replicas.log_dirs().clean_dirtiest(0, &upper, limits);
            }
        });
        in_pass.recv().unwrap();
        let (done, synced) = mpsc::channel();
        std::thread::spawn({
            let replicas = replicas.clone();
            move || {
                let result = replicas.sync(&after, &config, 1, 0);
                let _ = done.send(result.is_ok());
            }
        });
        let ok = synced
            .recv_timeout(Duration::from_secs(20))
            .expect("sync and a cleaning pass deadlocked");
        assert!(ok);
        cleaner.join().unwrap();
        assert!(replicas.get("doomed", 0).is_none());
        assert!(replicas.get("compacted", 0).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Creating a log makes files and fsyncs; `sync` once held the
    /// partitions write lock across it, so every request's partition lookup
    /// waited on the disk. Here the creation is held up for as long as the
    /// test likes: a FIFO stands where the new log's `partition.metadata`
    /// is first written, and opening it for writing blocks until the test
    /// opens it for reading.
    #[test]
    fn creating_a_log_does_not_block_partition_lookups() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::mpsc;
        use std::time::Duration;
        use vltava_metadata::{MetadataImage, MetadataRecord};
        use vltava_protocol::codec::Uuid;

        let dir = temp_dir("sync-create");
        let logs = Arc::new(
            LogDirs::open(
                &[(dir.clone(), KafkaUuid::random())],
                vltava_storage::LogManagerOptions::default(),
                0,
            )
            .unwrap(),
        );
        let replicas = Arc::new(ReplicaManager::new(logs));
        let (hosted, fresh) = (Uuid([1; 16]), Uuid([2; 16]));
        let topic = |name: &str, topic_id| {
            [
                MetadataRecord::Topic {
                    name: name.into(),
                    topic_id,
                },
                MetadataRecord::Partition {
                    topic_id,
                    partition: 0,
                    replicas: vec![1],
                    isr: vec![1],
                    removing_replicas: vec![],
                    adding_replicas: vec![],
                    leader: 1,
                    leader_epoch: 0,
                    partition_epoch: 0,
                    elr: Vec::new(),
                    last_known_elr: Vec::new(),
                },
            ]
        };
        let image = MetadataImage::empty()
            .apply_all(
                topic("hosted", hosted)
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as i64, r)),
            )
            .unwrap();
        let config = BrokerConfig::new();
        replicas.sync(&image, &config, 1, 0).unwrap();
        let after = image
            .apply_all(
                topic("fresh", fresh)
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as i64 + 2, r)),
            )
            .unwrap();

        let fresh_dir = dir.join("fresh-0");
        std::fs::create_dir_all(&fresh_dir).unwrap();
        let fifo = fresh_dir.join("partition.metadata.tmp");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c_path` is a NUL-terminated path that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);

        let syncing = std::thread::spawn({
            let replicas = replicas.clone();
            let config = config.clone();
            let after = after.clone();
            move || replicas.sync(&after, &config, 1, 0)
        });
        // Let the sync reach the FIFO and block there.
        std::thread::sleep(Duration::from_millis(300));
        let (found, lookup) = mpsc::channel();
        std::thread::spawn({
            let replicas = replicas.clone();
            move || {
                let _ = found.send(replicas.get("hosted", 0).is_some());
            }
        });
        let looked_up = lookup.recv_timeout(Duration::from_secs(5));
        // Release the creation whatever happened, then judge. A reader
        // opened without blocking lets the writer's open return, and never
        // waits itself, even if the creation did not stop at the FIFO.
        let reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let _ = syncing.join().unwrap();
        drop(reader);
        assert_eq!(
            looked_up,
            Ok(true),
            "a partition lookup waited for a log creation"
        );
        // The FIFO cannot be fsynced, so that creation failed; the next sync
        // creates the log.
        let _ = std::fs::remove_file(&fifo);
        replicas.sync(&after, &config, 1, 0).unwrap();
        assert!(replicas.get("fresh", 0).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
