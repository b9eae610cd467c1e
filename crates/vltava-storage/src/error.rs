//! The one error type of this crate.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::txnindex::AbortedTxn;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the storage layer. Variants carry what a
/// broker needs to pick a Kafka error code and to log something useful.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error, with the operation and the file it was on.
    Io {
        /// What we were doing ("open", "write", "fsync", ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file's contents are not what this crate writes. Recovery handles
    /// corrupt log data by truncation; this is returned where it cannot
    /// (checkpoint and metadata files, a bad directory name).
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A read or lookup below the log start offset or above the log end
    /// offset (Kafka's `OFFSET_OUT_OF_RANGE`).
    OffsetOutOfRange {
        /// The offset asked for.
        requested: i64,
        /// The log start offset at the time.
        log_start: i64,
        /// The log end offset at the time.
        log_end: i64,
    },
    /// An append larger than a segment (Kafka's `RECORD_LIST_TOO_LARGE` /
    /// `MESSAGE_TOO_LARGE`): it could never fit, even in an empty segment.
    MessageSetTooLarge {
        /// Bytes in the append.
        size: u64,
        /// `segment_bytes`.
        max: u64,
    },
    /// The appended bytes are not a sequence of complete v2 batches, or a
    /// batch is unusable (no records, offset overflow, bad CRC on a
    /// follower append).
    InvalidRecords(String),
    /// A follower append whose offsets go back below the log end or below
    /// an earlier batch of the same append.
    InvalidOffsets {
        /// The lowest offset the log could take next.
        expected: i64,
        /// The offset found.
        found: i64,
    },
    /// [`crate::Log::append_aborted_txn`] refused an entry: its offsets
    /// are impossible (`first_offset` negative or after `last_offset`),
    /// its marker is not in the log (at or beyond the log end, or below
    /// the first segment), or it does not follow the last entry of its
    /// segment.
    InvalidAbortedTxn {
        /// The entry refused.
        txn: AbortedTxn,
        /// Why.
        reason: String,
    },
    /// A [`crate::LogConfig`] value outside what Kafka accepts.
    InvalidConfig(String),
    /// A topic name Kafka would refuse, or a partition below zero.
    InvalidTopicPartition(String),
    /// `create_log` for a partition that exists with another topic id.
    LogAlreadyExists {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// No such partition log.
    UnknownLog {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
    /// The log was closed or deleted.
    Closed,
    /// A segment was replaced by the log cleaner while it was being read;
    /// the read may be retried (`Log::read` retries on its own).
    SegmentReplaced,
    /// The log's directory failed (an I/O error other than a full disk);
    /// nothing in it is read or written until restart.
    LogDirOffline {
        /// The directory.
        dir: PathBuf,
    },
}

impl Error {
    /// Builds a closure mapping an `io::Error` to [`Error::Io`].
    pub(crate) fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
        move |source| Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// Whether this error means the directory holding `path` failed, as
    /// Kafka takes any I/O error: every operating-system error except a
    /// full disk or quota (ENOSPC, EDQUOT), which frees up without a
    /// restart and is answered as a refused write instead.
    pub fn is_dir_failure(&self) -> bool {
        match self {
            Error::Io { source, .. } => !matches!(source.raw_os_error(), Some(28) | Some(122)),
            _ => false,
        }
    }

    /// The file or directory an I/O error was on.
    pub fn io_path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { op, path, source } => {
                write!(f, "{op} {}: {source}", path.display())
            }
            Error::Corrupt { path, reason } => write!(f, "corrupt {}: {reason}", path.display()),
            Error::OffsetOutOfRange {
                requested,
                log_start,
                log_end,
            } => write!(
                f,
                "offset {requested} is out of range [{log_start}, {log_end}]"
            ),
            Error::MessageSetTooLarge { size, max } => write!(
                f,
                "append of {size} bytes is larger than the segment size {max}"
            ),
            Error::InvalidRecords(why) => write!(f, "invalid records: {why}"),
            Error::InvalidOffsets { expected, found } => {
                write!(
                    f,
                    "offsets go backwards: expected at least {expected}, found {found}"
                )
            }
            Error::InvalidAbortedTxn { txn, reason } => write!(
                f,
                "invalid aborted transaction (producer {}, offsets {}..={}): {reason}",
                txn.producer_id, txn.first_offset, txn.last_offset
            ),
            Error::InvalidConfig(why) => write!(f, "invalid log config: {why}"),
            Error::InvalidTopicPartition(why) => write!(f, "invalid topic partition: {why}"),
            Error::LogAlreadyExists { topic, partition } => {
                write!(
                    f,
                    "log {topic}-{partition} already exists with another topic id"
                )
            }
            Error::UnknownLog { topic, partition } => write!(f, "no log {topic}-{partition}"),
            Error::Closed => f.write_str("log is closed"),
            Error::SegmentReplaced => {
                f.write_str("segment replaced by the log cleaner during the read")
            }
            Error::LogDirOffline { dir } => {
                write!(f, "log directory {} is offline", dir.display())
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
