//! Per-log configuration with Kafka's names, semantics and defaults.

pub use vltava_records::TimestampType;

use crate::error::{Error, Result};

/// `cleanup.policy`: which of `delete` and `compact` are on. With `delete`
/// off, time and size retention are skipped, as in Kafka; with `compact`
/// on, the log cleaner (`Log::clean`) keeps the last record of each key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CleanupPolicy {
    /// Time/size retention deletes old segments.
    pub delete: bool,
    /// Log compaction by key.
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

/// Configuration of one partition log. Field names are Kafka's topic config
/// names with `_` for `.`; defaults are Kafka's.
///
/// A live log's config can be replaced with [`crate::Log::set_config`]; the
/// new values apply from the next append (index sizes from the next
/// segment).
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the next append would not fit. Default
    /// 1 GiB; at most `i32::MAX` (index positions are 32-bit).
    pub segment_bytes: u32,
    /// `segment.ms`: roll a segment whose first batch is older than this.
    /// Default 7 days.
    pub segment_ms: i64,
    /// `segment.jitter.ms`: subtracted from `segment_ms` per segment, so
    /// many partitions do not roll at once. Default 0. Kafka draws it at
    /// random; here it is derived from the partition and the segment's base
    /// offset, so behaviour is reproducible.
    pub segment_jitter_ms: i64,
    /// `index.interval.bytes`: log bytes between offset index entries.
    /// Default 4096.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: the largest an index may grow; a full offset
    /// (8-byte entries) or time (12-byte entries) index rolls the segment.
    /// Default 10 MiB.
    pub segment_index_bytes: u32,
    /// `retention.ms`: delete segments whose newest timestamp is older.
    /// -1 = unlimited. Default 7 days.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while the log is larger.
    /// -1 = unlimited (the default).
    pub retention_bytes: i64,
    /// `flush.messages`: fsync after this many unflushed messages.
    /// Default `i64::MAX` (off: replication is the durability).
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this.
    /// Default `i64::MAX` (off).
    pub flush_ms: i64,
    /// `file.delete.delay.ms`. Accepted for compatibility but not waited
    /// for: deleted segments are renamed to `*.deleted` and removed at once.
    /// Readers that already hold the file keep reading it (POSIX unlink
    /// semantics), which is what the delay protects in Kafka.
    pub file_delete_delay_ms: i64,
    /// `message.timestamp.type`: `LogAppendTime` makes the leader stamp
    /// every batch with its append time.
    pub message_timestamp_type: TimestampType,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long the cleaner keeps a tombstone (or
    /// the marker of a transaction with no records left) after it first
    /// saw it, so consumers that are behind still see the delete. Default
    /// 1 day.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: share of the cleanable bytes not yet
    /// cleaned before a log is cleaned. Default 0.5.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: a segment holding a record newer than this
    /// is not cleaned yet. Default 0.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log whose oldest uncleaned record is
    /// older than this is cleaned whatever its dirty ratio. Default
    /// `i64::MAX` (off).
    pub max_compaction_lag_ms: i64,
}

/// 7 days in milliseconds.
pub const SEVEN_DAYS_MS: i64 = 7 * 24 * 60 * 60 * 1000;

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: SEVEN_DAYS_MS,
            segment_jitter_ms: 0,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            retention_ms: SEVEN_DAYS_MS,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            file_delete_delay_ms: 60_000,
            message_timestamp_type: TimestampType::CreateTime,
            cleanup_policy: CleanupPolicy::default(),
            delete_retention_ms: 86_400_000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

impl LogConfig {
    /// Checks the values against Kafka's validators.
    pub fn validate(&self) -> Result<()> {
        fn bad(why: String) -> Result<()> {
            Err(Error::InvalidConfig(why))
        }
        // Kafka: segment.bytes >= LegacyRecord.RECORD_OVERHEAD_V0 (14).
        if self.segment_bytes < 14 || self.segment_bytes > i32::MAX as u32 {
            return bad(format!(
                "segment.bytes {} not in [14, {}]",
                self.segment_bytes,
                i32::MAX
            ));
        }
        if self.segment_ms < 1 {
            return bad(format!("segment.ms {} < 1", self.segment_ms));
        }
        if self.segment_jitter_ms < 0 {
            return bad(format!("segment.jitter.ms {} < 0", self.segment_jitter_ms));
        }
        if self.segment_index_bytes < 4 || self.segment_index_bytes > i32::MAX as u32 {
            return bad(format!(
                "segment.index.bytes {} not in [4, {}]",
                self.segment_index_bytes,
                i32::MAX
            ));
        }
        if self.index_interval_bytes > i32::MAX as u32 {
            return bad(format!(
                "index.interval.bytes {} > {}",
                self.index_interval_bytes,
                i32::MAX
            ));
        }
        if self.retention_ms < -1 {
            return bad(format!("retention.ms {} < -1", self.retention_ms));
        }
        if self.flush_messages < 1 {
            return bad(format!("flush.messages {} < 1", self.flush_messages));
        }
        if self.flush_ms < 0 {
            return bad(format!("flush.ms {} < 0", self.flush_ms));
        }
        if self.delete_retention_ms < 0 {
            return bad(format!(
                "delete.retention.ms {} < 0",
                self.delete_retention_ms
            ));
        }
        if !(0.0..=1.0).contains(&self.min_cleanable_dirty_ratio) {
            return bad(format!(
                "min.cleanable.dirty.ratio {} not in [0, 1]",
                self.min_cleanable_dirty_ratio
            ));
        }
        if self.min_compaction_lag_ms < 0 || self.max_compaction_lag_ms < 1 {
            return bad(format!(
                "min.compaction.lag.ms {} < 0 or max.compaction.lag.ms {} < 1",
                self.min_compaction_lag_ms, self.max_compaction_lag_ms
            ));
        }
        if self.file_delete_delay_ms < 0 {
            return bad(format!(
                "file.delete.delay.ms {} < 0",
                self.file_delete_delay_ms
            ));
        }
        Ok(())
    }

    /// Entries an offset index may hold (`segment.index.bytes / 8`).
    pub fn max_offset_index_entries(&self) -> usize {
        self.segment_index_bytes as usize / crate::index::OFFSET_ENTRY_LEN
    }

    /// Entries a time index may hold (`segment.index.bytes / 12`).
    pub fn max_time_index_entries(&self) -> usize {
        self.segment_index_bytes as usize / crate::index::TIME_ENTRY_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas_and_valid() {
        let c = LogConfig::default();
        c.validate().unwrap();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.max_offset_index_entries(), 1_310_720);
        assert_eq!(c.max_time_index_entries(), 873_813);
    }

    #[test]
    fn validation_refuses_out_of_range() {
        let c = LogConfig {
            segment_bytes: 13,
            ..LogConfig::default()
        };
        assert!(c.validate().is_err());
        let c = LogConfig {
            retention_ms: -2,
            ..LogConfig::default()
        };
        assert!(c.validate().is_err());
        let c = LogConfig {
            segment_bytes: u32::MAX,
            ..LogConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
