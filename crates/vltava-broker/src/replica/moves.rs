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
        tokio::spawn(run_move(self.clone(), hosted, tp, future, clock.clone()));
        Ok(MoveStarted::Copying)
    }
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
/// `future`, with the aborted-transaction entries of the markers copied.
/// A current log whose start moved past the future's end (retention,
/// DeleteRecords) restarts the future log at that start.
fn copy_chunk(current: &Log, future: &Log, now_ms: i64) -> Result<Copied, vltava_storage::Error> {
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
