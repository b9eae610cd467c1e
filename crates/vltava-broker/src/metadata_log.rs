//! The metadata log on a single node: a one-voter log of metadata records
//! in `DATA_DIR/metadata/__cluster_metadata-0`, one record batch per
//! controller decision, fsynced before the decision is published. The
//! multi-node work replicates this log with Raft; the records stay the same.

use std::path::Path;

use bytes::Bytes;
use vltava_metadata::MetadataRecord;
use vltava_records::RecordBatchBuilder;
use vltava_storage::{Log, LogConfig, LogOpenOptions};

/// Kept apart from the topic logs so that nothing that manages those
/// (retention, stray-log cleanup) can ever touch it.
pub const METADATA_DIR: &str = "metadata";
const METADATA_LOG: &str = "__cluster_metadata-0";

pub struct MetadataLog {
    log: Log,
}

#[derive(Debug)]
pub struct MetadataLogError(pub String);

impl std::fmt::Display for MetadataLogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "metadata log: {}", self.0)
    }
}

impl std::error::Error for MetadataLogError {}

fn err(e: impl std::fmt::Display) -> MetadataLogError {
    MetadataLogError(e.to_string())
}

impl MetadataLog {
    /// Opens (recovering after an unclean stop) the metadata log under `data_dir`.
    pub fn open(data_dir: &Path, now_ms: i64) -> Result<MetadataLog, MetadataLogError> {
        let dir = data_dir.join(METADATA_DIR).join(METADATA_LOG);
        std::fs::create_dir_all(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        // Metadata is never deleted by retention; every append is fsynced.
        let config = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let log = Log::open(&dir, config, LogOpenOptions::default(), now_ms).map_err(err)?;
        Ok(MetadataLog { log })
    }

    /// Every record from the start, with its offset.
    pub fn replay(&self) -> Result<Vec<(i64, MetadataRecord)>, MetadataLogError> {
        let mut out = Vec::new();
        let mut offset = self.log.log_start_offset();
        let end = self.log.log_end_offset();
        while offset < end {
            let read = self.log.read(offset, 1 << 20, end, true).map_err(err)?;
            if read.records.is_empty() {
                break;
            }
            for batch in vltava_records::BatchSplitter::new(read.records) {
                let batch = batch.map_err(err)?;
                for record in batch.records().map_err(err)? {
                    let record = record.map_err(err)?;
                    let value = record
                        .value
                        .ok_or_else(|| err(format!("record at {} has no value", record.offset)))?;
                    out.push((record.offset, MetadataRecord::decode(value).map_err(err)?));
                }
            }
            offset = read.next_offset;
        }
        Ok(out)
    }

    /// Appends one decision durably; returns the offset of its first record.
    pub fn append(&self, records: &[MetadataRecord], now_ms: i64) -> Result<i64, MetadataLogError> {
        let mut builder = RecordBatchBuilder::new();
        for record in records {
            let value: Bytes = record.encode().map_err(err)?;
            builder
                .append(now_ms, None, Some(&value), &[])
                .map_err(err)?;
        }
        let batch = builder.build().map_err(err)?;
        let info = self.log.append_as_leader(batch, now_ms, 0).map_err(err)?;
        self.log.flush(now_ms).map_err(err)?;
        Ok(info.first_offset)
    }

    pub fn close(&self) -> Result<(), MetadataLogError> {
        self.log.close().map_err(err)
    }
}
