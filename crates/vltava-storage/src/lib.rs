//! Durable, segmented partition logs in Kafka's on-disk model. Files only:
//! no network, no Kafka request types, no wall clock (every time-dependent
//! call takes `now_ms`; the cleaner's I/O throttle sleeps, for pacing only).
//!
//! See the crate's `README.md` for the layout, the recovery rules, the
//! file-handle policy and the limits.
//!
//! * [`Log`] — one partition: append (leader / follower), read, offset and
//!   timestamp lookups, retention, DeleteRecords, truncation, compaction
//!   ([`Log::clean`]), flush, close.
//! * [`LogManager`] — the logs of one data directory: open with recovery,
//!   create, delete, checkpoints, retention and flush over all logs, clean
//!   shutdown.
//! * [`LogDirs`] — every log directory of a broker (JBOD): placement of
//!   new logs, and moves of a replica between directories (future logs).
//! * [`LogConfig`] — Kafka's topic configs that concern the log.
//! * [`checkpoint`] — Kafka's small files: offset checkpoints,
//!   `partition.metadata`, `meta.properties`.
//! * [`FdCache`] — the bound on open read-only segment files.
//! * [`LeaderEpochCache`] — where each leader epoch began in a log
//!   (Kafka's `leader-epoch-checkpoint`), kept by [`Log`].
//! * [`AbortedTxn`] — an entry of the aborted-transaction index
//!   (`.txnindex`), kept per segment by [`Log`].
//! * [`SnapshotPoint`] — where a producer-state snapshot (`.snapshot`,
//!   content opaque here) is taken; [`Log`] keeps the files in step with
//!   its data (flushed first, dropped by truncation and retention).

#![doc = include_str!("../README.md")]

pub mod checkpoint;
mod config;
mod error;
mod fdcache;
mod index;
mod leader_epoch;
mod log;
mod log_dirs;
mod manager;
mod readbuf;
mod segment;
mod txnindex;
mod uuid;

pub use checkpoint::{
    read_meta_properties, write_meta_properties, MetaProperties, TopicPartition, FUTURE_DIR_SUFFIX,
    REPLICATION_OFFSET_CHECKPOINT,
};
pub use config::{CleanupPolicy, LogConfig, TimestampType, SEVEN_DAYS_MS};
pub use error::{Error, Result};
pub use fdcache::{FdCache, DEFAULT_MAX_OPEN_SEGMENT_FILES};
pub use index::{OFFSET_ENTRY_LEN, TIME_ENTRY_LEN};
pub use leader_epoch::{
    read_leader_epoch_checkpoint, write_leader_epoch_checkpoint, LeaderEpochCache,
    LEADER_EPOCH_CHECKPOINT, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET,
};
pub use log::{
    AppendInfo, BatchSummary, CleanStats, CleanableRange, CleanerLimits, FileSlice, Located, Log,
    LogOpenOptions, ReadResult, SnapshotPoint, TimestampAndOffset, PRODUCER_SNAPSHOTS_RETAINED,
    PRODUCER_SNAPSHOT_SUFFIX,
};
pub use log_dirs::{FutureLog, LogDir, LogDirs};
pub use manager::{
    CleanedLog, LogManager, LogManagerOptions, CLEANER_OFFSET_CHECKPOINT, CLEAN_SHUTDOWN_FILE,
    DELETE_DIR_SUFFIX,
};
pub use segment::{segment_file_name, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
pub use txnindex::{AbortedTxn, TXN_ENTRY_LEN, TXN_INDEX_SUFFIX};
pub use uuid::KafkaUuid;
