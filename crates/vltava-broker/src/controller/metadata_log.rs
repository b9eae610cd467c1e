//! The migration of a metadata log written by earlier versions.
//!
//! `DATA_DIR/metadata/__cluster_metadata-0` is the KRaft quorum's log
//! (`vltava-quorum`); before the quorum existed, a single node wrote it
//! directly, one batch per controller decision. Such a log is a valid
//! quorum log already (data batches of epoch 0), except when its records
//! are in the earlier encoding.
//!
//! Record values are in Kafka's metadata record framing
//! ([`vltava_metadata::records`]). A log written before that, in our own
//! encoding, is migrated when it is opened: every batch is rewritten, with
//! the same offsets and timestamps, into a new log beside it, which then
//! replaces the old one (see [`MetadataLog::open`]).

use std::path::Path;

use bytes::Bytes;
use tracing::{info, warn};
use vltava_metadata::records::{self, legacy};
use vltava_metadata::MetadataRecord;
use vltava_records::RecordBatchBuilder;
use vltava_storage::{Log, LogConfig, LogOpenOptions};

/// Kept apart from the topic logs so that nothing that manages those
/// (retention, stray-log cleanup) can ever touch it.
pub const METADATA_DIR: &str = "metadata";
const METADATA_LOG: &str = "__cluster_metadata-0";
/// Under `METADATA_DIR`: where a migration builds the new log, and where the
/// old log waits while the new one takes its place.
const MIGRATION_NEW: &str = "migration-new";
const MIGRATION_OLD: &str = "migration-old";

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

fn io_err(what: &str, path: &Path, e: std::io::Error) -> MetadataLogError {
    MetadataLogError(format!("{what} {}: {e}", path.display()))
}

/// One record as stored: offset, timestamp, value.
type StoredRecord = (i64, i64, Bytes);

fn open_log(dir: &Path, now_ms: i64) -> Result<Log, MetadataLogError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("creating", dir, e))?;
    // Metadata is never deleted by retention; every append is fsynced.
    let config = LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        ..LogConfig::default()
    };
    Log::open(dir, config, LogOpenOptions::default(), now_ms).map_err(err)
}

/// Every batch of `log` from the start, as its records.
fn read_batches(log: &Log) -> Result<Vec<Vec<StoredRecord>>, MetadataLogError> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let read = log.read(offset, 1 << 20, end, true).map_err(err)?;
        if read.records.is_empty() {
            break;
        }
        for batch in vltava_records::BatchSplitter::new(read.records) {
            let batch = batch.map_err(err)?;
            let mut records = Vec::new();
            for record in batch.records().map_err(err)? {
                let record = record.map_err(err)?;
                let value = record
                    .value
                    .ok_or_else(|| err(format!("record at {} has no value", record.offset)))?;
                records.push((record.offset, record.timestamp, value));
            }
            out.push(records);
        }
        offset = read.next_offset;
    }
    Ok(out)
}

fn fsync_dir(dir: &Path) -> Result<(), MetadataLogError> {
    vltava_storage::checkpoint::fsync_dir(dir).map_err(err)
}

fn remove_dir_if_present(dir: &Path) -> Result<(), MetadataLogError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing", dir, e)),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), MetadataLogError> {
    std::fs::rename(from, to).map_err(|e| {
        MetadataLogError(format!(
            "renaming {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

/// Finishes or undoes a migration that a crash interrupted. The swap is two
/// renames: live -> `migration-old/`, then `migration-new/` -> live. With
/// the old log parked and no live log, the crash fell between them: the
/// old log goes back (and is migrated again). With both present, the swap
/// was done and only the clean-up was missing. `migration-new/` left over
/// is never trusted.
fn recover_interrupted_migration(metadata_dir: &Path) -> Result<(), MetadataLogError> {
    let live = metadata_dir.join(METADATA_LOG);
    let old_parent = metadata_dir.join(MIGRATION_OLD);
    let old = old_parent.join(METADATA_LOG);
    if old.exists() {
        if live.exists() {
            info!(dir = %old_parent.display(), "removing the metadata log a finished migration replaced");
        } else {
            warn!(dir = %metadata_dir.display(), "a metadata log migration was interrupted: restoring the old log to migrate it again");
            rename(&old, &live)?;
            fsync_dir(metadata_dir)?;
        }
    }
    remove_dir_if_present(&old_parent)?;
    remove_dir_if_present(&metadata_dir.join(MIGRATION_NEW))?;
    fsync_dir(metadata_dir)
}

/// Rewrites `old` (in our former encoding, at `metadata_dir/METADATA_LOG`)
/// into Kafka's framing, crash-safely, and returns the new log, opened.
fn migrate(metadata_dir: &Path, old: Log, now_ms: i64) -> Result<Log, MetadataLogError> {
    let live = metadata_dir.join(METADATA_LOG);
    let fail = |e: MetadataLogError| {
        MetadataLogError(format!(
            "{} is in the encoding of earlier Vltava versions and could not be migrated to \
             Kafka's metadata records ({}); the old log is untouched: keep it and report this, \
             or remove the data directory to start empty",
            live.display(),
            e.0
        ))
    };
    let batches = read_batches(&old).map_err(fail)?;
    let count: usize = batches.iter().map(Vec::len).sum();
    warn!(dir = %live.display(), records = count, "migrating the metadata log from the earlier Vltava encoding to Kafka's metadata records");

    // 1. Build the new log beside the old one, batch for batch, and check
    //    that it reads back as the same records at the same offsets.
    let new_parent = metadata_dir.join(MIGRATION_NEW);
    let new_dir = new_parent.join(METADATA_LOG);
    let new = open_log(&new_dir, now_ms).map_err(fail)?;
    let mut expected = Vec::with_capacity(count);
    for batch in &batches {
        let mut builder = RecordBatchBuilder::new();
        for (offset, timestamp, value) in batch {
            let record = legacy::decode(value.clone())
                .map_err(|e| err(format!("record at offset {offset}: {e}")))
                .map_err(fail)?;
            let encoded = record.encode().map_err(err).map_err(fail)?;
            builder
                .append(*timestamp, None, Some(&encoded), &[])
                .map_err(err)
                .map_err(fail)?;
            expected.push((*offset, record));
        }
        let first = batch.first().map(|r| r.0);
        let info = new
            .append_as_leader(builder.build().map_err(err).map_err(fail)?, now_ms, 0)
            .map_err(err)
            .map_err(fail)?;
        if Some(info.first_offset) != first {
            return Err(fail(err(format!(
                "a batch at offset {first:?} was rewritten at offset {}",
                info.first_offset
            ))));
        }
    }
    new.flush(now_ms).map_err(err).map_err(fail)?;
    if decode_all(&new).map_err(fail)? != expected {
        return Err(fail(err(
            "the rewritten log does not read back as the old one",
        )));
    }
    new.close().map_err(err).map_err(fail)?;
    old.close().map_err(err).map_err(fail)?;
    fsync_dir(&new_parent)?;
    fsync_dir(metadata_dir)?;

    // 2. Swap: park the old log, move the new one in. A crash anywhere here
    //    is resolved by `recover_interrupted_migration` at the next start.
    let old_parent = metadata_dir.join(MIGRATION_OLD);
    std::fs::create_dir_all(&old_parent).map_err(|e| io_err("creating", &old_parent, e))?;
    fsync_dir(metadata_dir)?;
    rename(&live, &old_parent.join(METADATA_LOG))?;
    fsync_dir(&old_parent)?;
    fsync_dir(metadata_dir)?;
    rename(&new_dir, &live)?;
    fsync_dir(&new_parent)?;
    fsync_dir(metadata_dir)?;

    // 3. Clean up.
    remove_dir_if_present(&old_parent)?;
    remove_dir_if_present(&new_parent)?;
    fsync_dir(metadata_dir)?;
    info!(dir = %live.display(), records = count, "metadata log migrated");
    open_log(&live, now_ms)
}

/// Every record of `log` from the start, with its offset.
fn decode_all(log: &Log) -> Result<Vec<(i64, MetadataRecord)>, MetadataLogError> {
    let mut out = Vec::new();
    for batch in read_batches(log)? {
        for (offset, _, value) in batch {
            let record = MetadataRecord::decode(value)
                .map_err(|e| err(format!("record at offset {offset}: {e}")))?;
            out.push((offset, record));
        }
    }
    Ok(out)
}

/// Whether the log's first record is in our former encoding (the whole log
/// then is: a migration rewrites it in one piece).
fn is_legacy(log: &Log) -> Result<bool, MetadataLogError> {
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    if start >= end {
        return Ok(false);
    }
    let read = log.read(start, 1 << 16, end, true).map_err(err)?;
    let Some(batch) = vltava_records::BatchSplitter::new(read.records).next() else {
        return Ok(false);
    };
    let batch = batch.map_err(err)?;
    // The quorum starts every leadership with a control batch; the earlier
    // encoding predates the quorum and never wrote one.
    if batch.is_control() {
        return Ok(false);
    }
    let first = batch.records().map_err(err)?.next();
    match first {
        Some(record) => Ok(record
            .map_err(err)?
            .value
            .is_some_and(|v| records::is_legacy(&v))),
        None => Ok(false),
    }
}

impl MetadataLog {
    /// Opens (recovering after an unclean stop) the metadata log under
    /// `data_dir`, migrating a log in the earlier Vltava encoding to Kafka's
    /// metadata records first.
    pub fn open(data_dir: &Path, now_ms: i64) -> Result<MetadataLog, MetadataLogError> {
        MetadataLog::open_dir(&data_dir.join(METADATA_DIR), now_ms)
    }

    /// [`MetadataLog::open`] of the log in `metadata_dir` (the directory
    /// that holds `__cluster_metadata-0`).
    pub fn open_dir(metadata_dir: &Path, now_ms: i64) -> Result<MetadataLog, MetadataLogError> {
        let metadata_dir = metadata_dir.to_path_buf();
        std::fs::create_dir_all(&metadata_dir).map_err(|e| io_err("creating", &metadata_dir, e))?;
        recover_interrupted_migration(&metadata_dir)?;
        let dir = metadata_dir.join(METADATA_LOG);
        let log = open_log(&dir, now_ms)?;
        let log = if is_legacy(&log)? {
            migrate(&metadata_dir, log, now_ms)?
        } else {
            log
        };
        Ok(MetadataLog { log })
    }

    /// Every record from the start, with its offset.
    pub fn replay(&self) -> Result<Vec<(i64, MetadataRecord)>, MetadataLogError> {
        decode_all(&self.log)
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

    pub fn close(self) -> Result<(), MetadataLogError> {
        self.log.close().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_metadata::Endpoint;
    use vltava_protocol::codec::Uuid;

    fn temp_data_dir(name: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!(
            "vltava-metadata-log-{name}-{}-{nanos}",
            std::process::id()
        ))
    }

    fn decisions() -> Vec<Vec<MetadataRecord>> {
        let id = Uuid([9; 16]);
        vec![
            vec![MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid::ZERO,
                broker_epoch: 0,
                fenced: false,
                endpoints: vec![Endpoint {
                    listener: "PLAINTEXT".into(),
                    host: "127.0.0.1".into(),
                    port: 9092,
                    security_protocol: 0,
                }],
                rack: None,
            }],
            vec![
                MetadataRecord::Topic {
                    name: "orders".into(),
                    topic_id: id,
                },
                MetadataRecord::Partition {
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
                MetadataRecord::Config {
                    resource_type: 2,
                    resource_name: "orders".into(),
                    name: "retention.ms".into(),
                    value: Some("1000".into()),
                },
            ],
            vec![MetadataRecord::ProducerIds {
                broker_id: 1,
                next_producer_id: 1000,
            }],
        ]
    }

    fn with_offsets(decisions: &[Vec<MetadataRecord>]) -> Vec<(i64, MetadataRecord)> {
        decisions
            .iter()
            .flatten()
            .cloned()
            .enumerate()
            .map(|(i, r)| (i as i64, r))
            .collect()
    }

    /// Writes a metadata log at `dir` as Vltava did before it used Kafka's
    /// records: the same batches, values in the legacy encoding.
    fn write_legacy_log(dir: &Path, decisions: &[Vec<MetadataRecord>]) {
        let log = open_log(dir, 1).unwrap();
        for decision in decisions {
            let mut builder = RecordBatchBuilder::new();
            for record in decision {
                let value = legacy::encode(record).unwrap();
                builder.append(1, None, Some(&value), &[]).unwrap();
            }
            log.append_as_leader(builder.build().unwrap(), 1, 0)
                .unwrap();
        }
        log.flush(1).unwrap();
        log.close().unwrap();
    }

    fn first_values(dir: &Path) -> Vec<Bytes> {
        let log = open_log(dir, 1).unwrap();
        let values = read_batches(&log)
            .unwrap()
            .into_iter()
            .flatten()
            .map(|(_, _, v)| v)
            .collect();
        log.close().unwrap();
        values
    }

    fn live(data_dir: &Path) -> std::path::PathBuf {
        data_dir.join(METADATA_DIR).join(METADATA_LOG)
    }

    #[test]
    fn new_log_is_written_in_kafka_framing() {
        let data = temp_data_dir("new");
        let log = MetadataLog::open(&data, 1).unwrap();
        for decision in decisions() {
            log.append(&decision, 1).unwrap();
        }
        log.close().unwrap();
        let values = first_values(&live(&data));
        assert_eq!(values.len(), 5);
        // Frame version 1, then the record type: RegisterBrokerRecord (0)
        // v3, TopicRecord (2) v0, PartitionRecord (3) v2.
        assert_eq!(&values[0][..3], &[1, 0, 3]);
        assert_eq!(&values[1][..3], &[1, 2, 0]);
        assert_eq!(&values[2][..3], &[1, 3, 2]);
        let log = MetadataLog::open(&data, 1).unwrap();
        assert_eq!(log.replay().unwrap(), with_offsets(&decisions()));
        log.close().unwrap();
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn legacy_log_is_migrated_when_opened() {
        let data = temp_data_dir("migrate");
        write_legacy_log(&live(&data), &decisions());
        assert!(first_values(&live(&data))
            .iter()
            .all(|v| records::is_legacy(v)));

        let log = MetadataLog::open(&data, 2).unwrap();
        assert_eq!(log.replay().unwrap(), with_offsets(&decisions()));
        let extra = MetadataRecord::RemoveTopic {
            topic_id: Uuid([9; 16]),
        };
        assert_eq!(log.append(std::slice::from_ref(&extra), 2).unwrap(), 5);
        log.close().unwrap();

        let values = first_values(&live(&data));
        assert!(values.iter().all(|v| !records::is_legacy(v)));
        assert!(!data.join(METADATA_DIR).join(MIGRATION_NEW).exists());
        assert!(!data.join(METADATA_DIR).join(MIGRATION_OLD).exists());
        // Reopening finds nothing to migrate and the same records.
        let log = MetadataLog::open(&data, 3).unwrap();
        let mut expected = with_offsets(&decisions());
        expected.push((5, extra));
        assert_eq!(log.replay().unwrap(), expected);
        log.close().unwrap();
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn interrupted_migrations_are_finished_or_redone() {
        let metadata = |data: &Path| data.join(METADATA_DIR);

        // Crash while building the new log: a partial log in migration-new.
        let data = temp_data_dir("crash-build");
        write_legacy_log(&live(&data), &decisions());
        write_legacy_log(
            &metadata(&data).join(MIGRATION_NEW).join(METADATA_LOG),
            &decisions()[..1],
        );
        let log = MetadataLog::open(&data, 2).unwrap();
        assert_eq!(log.replay().unwrap(), with_offsets(&decisions()));
        log.close().unwrap();
        std::fs::remove_dir_all(&data).unwrap();

        // Crash between the two renames: no live log, the old one parked,
        // the new one complete in migration-new.
        let data = temp_data_dir("crash-swap");
        write_legacy_log(
            &metadata(&data).join(MIGRATION_OLD).join(METADATA_LOG),
            &decisions(),
        );
        let new = MetadataLog {
            log: open_log(&metadata(&data).join(MIGRATION_NEW).join(METADATA_LOG), 1).unwrap(),
        };
        for decision in decisions() {
            new.append(&decision, 1).unwrap();
        }
        new.close().unwrap();
        let log = MetadataLog::open(&data, 2).unwrap();
        assert_eq!(log.replay().unwrap(), with_offsets(&decisions()));
        log.close().unwrap();
        assert!(!metadata(&data).join(MIGRATION_OLD).exists());
        assert!(!metadata(&data).join(MIGRATION_NEW).exists());
        std::fs::remove_dir_all(&data).unwrap();

        // Crash during the clean-up: the new log is live, the old one still
        // parked. The live one wins (it has a record the old one lacks).
        let data = temp_data_dir("crash-cleanup");
        write_legacy_log(
            &metadata(&data).join(MIGRATION_OLD).join(METADATA_LOG),
            &decisions()[..1],
        );
        let new = MetadataLog {
            log: open_log(&live(&data), 1).unwrap(),
        };
        for decision in decisions() {
            new.append(&decision, 1).unwrap();
        }
        new.close().unwrap();
        let log = MetadataLog::open(&data, 2).unwrap();
        assert_eq!(log.replay().unwrap(), with_offsets(&decisions()));
        log.close().unwrap();
        assert!(!metadata(&data).join(MIGRATION_OLD).exists());
        std::fs::remove_dir_all(&data).unwrap();
    }

    #[test]
    fn a_log_that_cannot_be_migrated_is_refused_and_left_untouched() {
        let data = temp_data_dir("refuse");
        write_legacy_log(&live(&data), &decisions());
        // A later record that is not in the legacy encoding (type 7 never
        // existed in it).
        let log = open_log(&live(&data), 1).unwrap();
        let mut builder = RecordBatchBuilder::new();
        builder.append(1, None, Some(&[7, 0, 1]), &[]).unwrap();
        log.append_as_leader(builder.build().unwrap(), 1, 0)
            .unwrap();
        log.close().unwrap();
        let before = first_values(&live(&data));

        let error = MetadataLog::open(&data, 2).err().expect("refused");
        let text = error.to_string();
        assert!(text.contains(&live(&data).display().to_string()), "{text}");
        assert!(text.contains("earlier Vltava versions"), "{text}");
        assert!(text.contains("offset 5"), "{text}");
        assert_eq!(first_values(&live(&data)), before);
        std::fs::remove_dir_all(&data).unwrap();
    }
}
