//! Moving a replica between this broker's log directories
//! (AlterReplicaLogDirs, Kafka's `ReplicaAlterLogDirsThread`).
//!
//! The replica keeps serving from its current log while a task copies it
//! into a future log in the destination directory, batch by batch with
//! the offsets, leader epochs and aborted-transaction entries as they are.
//! Once the copy has caught up, the current log is sealed under the
//! partition's producers lock (so no marker or idempotent append is half
//! done), the last batches are copied, and `LogDirs::promote_future` puts
//! the future log in place; `Partition::on_log` makes the writes that
//! arrived in between wait for it and go to the new log. A move whose
//! partition goes away (deleted, reassigned) is abandoned, and so is one a
//! newer request replaced.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use vltava_protocol::ErrorCode;
use vltava_storage::{FutureLog, Log, TopicPartition};

use crate::clock::Clock;
use crate::error::KafkaError;
use crate::replica::{Partition, ReplicaManager};

/// Bytes copied per step of a move.
const COPY_CHUNK_BYTES: usize = 4 << 20;

/// How long a caught-up move waits for new data before it looks again.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// What AlterReplicaLogDirs asked for one partition, and what happened.
#[derive(Debug, PartialEq, Eq)]
pub enum MoveStarted {
    /// The replica is already in that directory (a no-op, NONE).
    AlreadyThere,
    /// A copy into the directory is under way (NONE).
    Copying,
}

impl ReplicaManager {
    /// AlterReplicaLogDirs for one partition: `dir` must be one of this
    /// broker's log directories, as configured (LOG_DIR_NOT_FOUND), and
    /// online (KAFKA_STORAGE_ERROR). A partition not hosted here yet is
    /// created in `dir` when it comes (NOT_LEADER_OR_FOLLOWER now, or
    /// UNKNOWN_TOPIC_OR_PARTITION when `known` says the cluster has no
    /// such partition), as Kafka answers. Otherwise the move starts (or
    /// the one under way continues) and runs in the background.
    pub fn alter_log_dir(
        self: &Arc<Self>,
        topic: &str,
        partition: i32,
        dir: &str,
        known: bool,
        clock: &Clock,
    ) -> Result<MoveStarted, KafkaError> {
        let log_dirs = self.log_dirs();
        let Some(target) = log_dirs.index_of_path(std::path::Path::new(dir)) else {
            return Err(KafkaError::new(
                ErrorCode::LOG_DIR_NOT_FOUND,
                format!("{dir} is not a log directory of this broker"),
            ));
        };
        if log_dirs.dirs()[target].is_offline() {
            return Err(KafkaError::new(
                ErrorCode::KAFKA_STORAGE_ERROR,
                format!("log directory {dir} is offline"),
            ));
        }
        let tp = TopicPartition::new(topic, partition)
            .map_err(|e| KafkaError::new(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, e.to_string()))?;
        let Some(hosted) = self.get(topic, partition) else {
            if !known {
                return Err(KafkaError::new(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{tp} does not exist"),
                ));
            }
            log_dirs.prefer(tp.clone(), target);
            return Err(KafkaError::new(
                ErrorCode::NOT_LEADER_OR_FOLLOWER,
                format!("{tp} has no replica on this broker yet; it will be created in {dir}"),
            ));
        };
        let storage = |e: vltava_storage::Error| {
            KafkaError::new(ErrorCode::KAFKA_STORAGE_ERROR, format!("{tp}: {e}"))
        };
        if log_dirs.dir_of(topic, partition) == Some(target) {
            // Back to where it is: a move elsewhere under way is cancelled.
            if tokio::task::block_in_place(|| log_dirs.abandon_future(&tp)).map_err(storage)? {
                info!(%tp, dir, "cancelled the move of the replica: it stays in its log directory");
            }
            return Ok(MoveStarted::AlreadyThere);
        }
        if log_dirs.future(&tp).is_some_and(|f| f.dir == target) {
            return Ok(MoveStarted::Copying);
        }
        let current = hosted.log();
        let future = tokio::task::block_in_place(|| {
            log_dirs.create_future_log(
                &tp,
                hosted.topic_id,
                (*current.config()).clone(),
                target,
                current.log_start_offset(),
                clock.now_ms(),
            )
        })
        .map_err(storage)?;
        info!(%tp, dir, "moving the replica to another log directory");
        self.start_move(hosted, tp, future, clock);
        Ok(MoveStarted::Copying)
    }

    /// Resumes the moves a stop interrupted (`LogDirs::open` keeps their
    /// copies) of the partitions hosted now: each copy is first cut where
    /// it stops agreeing with the current log (`align`). Called at start
    /// and after every sync (a partition is hosted from its first sync).
    pub fn resume_moves(self: &Arc<Self>, clock: &Clock) {
        for (tp, future) in self.log_dirs().futures() {
            let Some(partition) = self.get(&tp.topic, tp.partition) else {
                continue;
            };
            if self.has_mover(&tp) {
                continue;
            }
            let current = partition.log();
            let now = clock.now_ms();
            match tokio::task::block_in_place(|| align(&current, &future.log, now)) {
                Ok(()) => {
                    info!(%tp, from = future.log.log_end_offset(), "resuming the move of the replica to another log directory");
                    self.start_move(partition, tp, future, clock);
                }
                Err(e) => {
                    warn!(%tp, "the copy of an interrupted move does not fit its log; the move is dropped: {e}");
                    let _ = tokio::task::block_in_place(|| self.log_dirs().abandon_future(&tp));
                }
            }
        }
    }

    fn has_mover(&self, tp: &TopicPartition) -> bool {
        self.movers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(tp.topic.clone(), tp.partition))
    }

    /// Spawns the task of a move, unless one runs for the partition.
    fn start_move(
        self: &Arc<Self>,
        partition: Arc<Partition>,
        tp: TopicPartition,
        future: FutureLog,
        clock: &Clock,
    ) {
        let key = (tp.topic.clone(), tp.partition);
        if !self
            .movers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone())
        {
            return;
        }
        let replicas = self.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            run_move(replicas.clone(), partition, tp, future, clock).await;
            replicas
                .movers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key);
        });
    }
}

/// Cuts `future` (a copy of `current` a stop interrupted) where it stops
/// agreeing with `current`, by their leader epochs, as a follower does with
/// its leader's (KIP-101, KIP-279): a cut of the current log that happened
/// before the stop may not have been carried into the copy. A copy with
/// nothing `current` still agrees with starts over at its start.
fn align(current: &Log, future: &Log, now_ms: i64) -> Result<(), vltava_storage::Error> {
    let restart = || future.truncate_fully_and_start_at(current.log_start_offset(), now_ms);
    if future.log_end_offset() <= future.log_start_offset() {
        return restart();
    }
    let Some(latest) = future.latest_epoch() else {
        return restart();
    };
    let (epoch, end) = match current.end_offset_for_epoch(latest) {
        // An epoch newer than any the log has: the log's latest epoch is
        // the newest they can share, up to the log's end.
        (epoch, _) if epoch < 0 => match current.latest_epoch() {
            Some(newest) if newest < latest => (newest, current.log_end_offset()),
            _ => return restart(),
        },
        found => found,
    };
    // The current log has the copy's latest epoch up to `end`; or it has
    // only an older one, `epoch`, which the copy holds up to its own end
    // for it.
    let cut = if epoch == latest {
        end
    } else {
        end.min(future.end_offset_for_epoch(epoch).1)
    };
    if cut <= future.log_start_offset() {
        return restart();
    }
    if cut < future.log_end_offset() {
        future.truncate_to(cut)?;
    }
    Ok(())
}

/// The task of one move.
async fn run_move(
    replicas: Arc<ReplicaManager>,
    partition: Arc<Partition>,
    tp: TopicPartition,
    future: FutureLog,
    clock: Clock,
) {
    let log_dirs = replicas.log_dirs().clone();
    loop {
        // Still ours? The partition may be gone, or a newer request may
        // have replaced or cancelled this future log.
        let ours = log_dirs
            .future(&tp)
            .is_some_and(|f| Arc::ptr_eq(&f.log, &future.log));
        if !ours {
            return;
        }
        let hosted = replicas
            .get(&tp.topic, tp.partition)
            .is_some_and(|p| Arc::ptr_eq(&p, &partition));
        if !hosted {
            let _ = tokio::task::block_in_place(|| log_dirs.abandon_future(&tp));
            return;
        }
        let current = partition.log();
        let target = future.log.clone();
        let now = clock.now_ms();
        let step = tokio::task::spawn_blocking(move || copy_chunk(&current, &target, now)).await;
        match step {
            Ok(Ok(Copied {
                caught_up: true, ..
            })) => break,
            Ok(Ok(Copied { bytes: 0, .. })) => {
                let _ = tokio::time::timeout(IDLE_WAIT, partition.appended().notified()).await;
            }
            Ok(Ok(_)) => tokio::task::yield_now().await,
            Ok(Err(vltava_storage::Error::Closed)) => {
                // Shutdown closed the logs.
                return;
            }
            Ok(Err(e)) => {
                warn!(%tp, "moving the replica failed, it stays where it was: {e}");
                let _ = tokio::task::block_in_place(|| log_dirs.abandon_future(&tp));
                return;
            }
            Err(e) => {
                warn!(%tp, "moving the replica failed: {e}");
                let _ = tokio::task::block_in_place(|| log_dirs.abandon_future(&tp));
                return;
            }
        }
    }
    let now = clock.now_ms();
    let swapped = {
        let partition = partition.clone();
        let tp = tp.clone();
        let log_dirs = log_dirs.clone();
        tokio::task::spawn_blocking(move || swap(&partition, &log_dirs, &tp, &future, now)).await
    };
    match swapped {
        Ok(Ok(dir)) => info!(%tp, dir = %dir, "moved the replica to another log directory"),
        Ok(Err(e)) => warn!(%tp, "finishing the move failed, the replica stays where it was: {e}"),
        Err(e) => warn!(%tp, "finishing the move failed: {e}"),
    }
}

/// What one copy step did.
struct Copied {
    bytes: usize,
    /// The future log reached the current one's end.
    caught_up: bool,
}

/// Copies the next batches of `current` (from `future`'s end) into
/// `future`, with the aborted-transaction entries of the markers copied,
/// after cutting `future` where `current` was truncated since the last
/// step.
/// A current log whose start moved past the future's end (retention,
/// DeleteRecords) restarts the future log at that start.
fn copy_chunk(current: &Log, future: &Log, now_ms: i64) -> Result<Copied, vltava_storage::Error> {
    // A truncation of the current log (a follower cutting a divergent
    // tail) since the last step: what the copy holds from there on may be
    // gone, or read before the cut. Cut the copy there too; the batches
    // are read again.
    if let Some(mark) = current.take_truncation_mark() {
        if mark <= future.log_start_offset() {
            future.truncate_fully_and_start_at(current.log_start_offset(), now_ms)?;
        } else if mark < future.log_end_offset() {
            future.truncate_to(mark)?;
        }
    }
    let from = future.log_end_offset();
    let end = current.log_end_offset();
    if from >= end {
        return Ok(Copied {
            bytes: 0,
            caught_up: true,
        });
    }
    if current.log_start_offset() > from {
        future.truncate_fully_and_start_at(current.log_start_offset(), now_ms)?;
        return copy_chunk(current, future, now_ms);
    }
    let read = current.read(from, COPY_CHUNK_BYTES, i64::MAX, true)?;
    let bytes = read.records.len();
    if bytes == 0 {
        return Ok(Copied {
            bytes,
            caught_up: false,
        });
    }
    future.append_as_follower(read.records, now_ms)?;
    for txn in current.collect_aborted_txns(from, read.next_offset) {
        if txn.last_offset >= from && txn.last_offset < read.next_offset {
            future.append_aborted_txn(txn)?;
        }
    }
    Ok(Copied {
        bytes,
        caught_up: future.log_end_offset() >= end,
    })
}

/// Seals the current log, copies what it got since the last step, and
/// puts the future log in its place. Returns the new directory. If it
/// fails before the current log was renamed away, the current log is
/// opened again and keeps the replica, and the future log is removed;
/// after that, the future log is the only copy and is left for the next
/// start to promote.
fn swap(
    partition: &Partition,
    log_dirs: &vltava_storage::LogDirs,
    tp: &TopicPartition,
    future: &FutureLog,
    now_ms: i64,
) -> Result<String, vltava_storage::Error> {
    let current = partition.log();
    partition.moving.store(true, Ordering::Release);
    let sealed = {
        // No idempotent append, marker or follower append is between its
        // check and its write while the log is sealed.
        let _producers = partition
            .producers
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        current.close()
    };
    let result = sealed
        .and_then(|()| {
            while !copy_chunk(&current, &future.log, now_ms)?.caught_up {}
            log_dirs.promote_future(&current, now_ms)
        })
        .and_then(|moved| {
            moved.set_config((*current.config()).clone())?;
            Ok(moved)
        });
    let outcome = match result {
        Ok(moved) => {
            partition.replace_log(moved);
            Ok(log_dirs.dirs()[future.dir].path.display().to_string())
        }
        Err(e) if log_dirs.get_log(&tp.topic, tp.partition).is_none() => {
            // The current log was already renamed away: the future log is
            // the only copy. It stays for the next start to promote.
            warn!(%tp, "the moved replica could not be put in place; it is served again after a restart");
            Err(e)
        }
        Err(e) => {
            let _ = log_dirs.abandon_future(tp);
            match log_dirs.reopen_current(tp, now_ms) {
                Ok(reopened) => partition.replace_log(reopened),
                Err(again) => {
                    warn!(%tp, "the replica's log could not be opened again after a failed move: {again}")
                }
            }
            Err(e)
        }
    };
    partition.moving.store(false, Ordering::Release);
    partition.appended().notify_waiters();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use vltava_records::{BatchSplitter, RecordBatchBuilder};
    use vltava_storage::{KafkaUuid, LogConfig, LogDirs, LogManagerOptions};

    fn batch(tag: &str, count: usize) -> Bytes {
        let mut b = RecordBatchBuilder::new();
        for i in 0..count {
            b.append(0, None, Some(format!("{tag}{i}").as_bytes()), &[])
                .unwrap();
        }
        b.build().unwrap()
    }

    /// Every record value of a log, with its offset.
    fn contents(log: &Log) -> Vec<(i64, Vec<u8>)> {
        let read = log
            .read(log.log_start_offset(), 1 << 30, i64::MAX, true)
            .unwrap();
        BatchSplitter::new(read.records)
            .map(|b| b.unwrap())
            .flat_map(|b| {
                let base = b.base_offset();
                b.records()
                    .unwrap()
                    .map(move |r| {
                        let r = r.unwrap();
                        (base + r.offset_delta as i64, r.value.unwrap().to_vec())
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Two log directories under `root`, a topic id and a config of small
    /// segments.
    fn two_dirs(root: &std::path::Path) -> (LogDirs, KafkaUuid, LogConfig) {
        let dirs = LogDirs::open(
            &[
                (root.join("a"), KafkaUuid::random()),
                (root.join("b"), KafkaUuid::random()),
            ],
            LogManagerOptions::default(),
            0,
        )
        .unwrap();
        let config = LogConfig {
            segment_bytes: 2048,
            ..LogConfig::default()
        };
        (dirs, KafkaUuid::random(), config)
    }

    /// A follower that cuts its log (a divergent tail) and appends its
    /// leader's batches while a copy of it is under way: the copy ends
    /// with the log's records, not the ones cut.
    #[test]
    fn a_truncation_during_a_copy_is_carried_into_the_copy() {
        let root = tempfile::tempdir().unwrap();
        let (dirs, id, config) = two_dirs(root.path());
        let current = dirs.create_log("t", 0, id, config.clone(), 0).unwrap();
        for i in 0..20 {
            current
                .append_as_leader(batch(&format!("old{i}-"), 3), 0, 1)
                .unwrap();
        }
        let tp = TopicPartition::new("t", 0).unwrap();
        let future = dirs
            .create_future_log(&tp, id, config, 1, 0, 0)
            .unwrap()
            .log;
        // The copy has everything; then the log loses its last 10 batches
        // and gets others in their place.
        while !copy_chunk(&current, &future, 0).unwrap().caught_up {}
        assert_eq!(future.log_end_offset(), 60);
        current.truncate_to(30).unwrap();
        for i in 0..12 {
            current
                .append_as_leader(batch(&format!("new{i}-"), 3), 0, 2)
                .unwrap();
        }
        assert_eq!(current.log_end_offset(), 66);
        while !copy_chunk(&current, &future, 0).unwrap().caught_up {}
        assert_eq!(contents(&future), contents(&current));
        assert!(contents(&future)
            .iter()
            .any(|(o, v)| *o == 30 && v.starts_with(b"new0-")));
        // A cut below the copy's start starts it over at the log's start.
        current.truncate_fully_and_start_at(100, 0).unwrap();
        current.append_as_leader(batch("late-", 2), 0, 3).unwrap();
        while !copy_chunk(&current, &future, 0).unwrap().caught_up {}
        assert_eq!(future.log_start_offset(), 100);
        assert_eq!(contents(&future), contents(&current));
    }

    /// A copy a stop interrupted, whose log was cut and rewritten in a new
    /// leader epoch before the stop without the copy knowing (the mark is
    /// in memory only): `align` cuts the copy where the epochs part, and
    /// the copy then ends with the log's records.
    #[test]
    fn a_resumed_copy_is_cut_where_its_epochs_leave_the_log() {
        let root = tempfile::tempdir().unwrap();
        let (dirs, id, config) = two_dirs(root.path());
        let current = dirs.create_log("t", 0, id, config.clone(), 0).unwrap();
        for i in 0..10 {
            current
                .append_as_leader(batch(&format!("e1-{i}-"), 2), 0, 1)
                .unwrap();
        }
        for i in 0..10 {
            current
                .append_as_leader(batch(&format!("e2-{i}-"), 2), 0, 2)
                .unwrap();
        }
        let tp = TopicPartition::new("t", 0).unwrap();
        let future = dirs
            .create_future_log(&tp, id, config, 1, 0, 0)
            .unwrap()
            .log;
        while !copy_chunk(&current, &future, 0).unwrap().caught_up {}
        assert_eq!(future.log_end_offset(), 40);
        // Epoch 2's records past offset 30 were never committed: the log
        // loses them and gets epoch 3's, and the cut's mark is lost.
        current.truncate_to(30).unwrap();
        current.take_truncation_mark();
        for i in 0..3 {
            current
                .append_as_leader(batch(&format!("e3-{i}-"), 2), 0, 3)
                .unwrap();
        }
        align(&current, &future, 0).unwrap();
        assert_eq!(future.log_end_offset(), 30);
        while !copy_chunk(&current, &future, 0).unwrap().caught_up {}
        assert_eq!(contents(&future), contents(&current));
        assert_eq!(future.epoch_entries(), current.epoch_entries());

        // A copy with an epoch the log never had keeps only what the log's
        // older epoch holds.
        let other = dirs
            .create_log("u", 0, id, LogConfig::default(), 0)
            .unwrap();
        other.append_as_leader(batch("x-", 4), 0, 1).unwrap();
        let tp = TopicPartition::new("u", 0).unwrap();
        let copy = dirs
            .create_future_log(&tp, id, LogConfig::default(), 1, 0, 0)
            .unwrap()
            .log;
        while !copy_chunk(&other, &copy, 0).unwrap().caught_up {}
        copy.append_as_leader(batch("stale-", 4), 0, 5).unwrap();
        align(&other, &copy, 0).unwrap();
        assert_eq!(copy.log_end_offset(), 4);
        assert_eq!(contents(&copy), contents(&other));
    }
}
