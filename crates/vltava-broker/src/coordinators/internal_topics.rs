//! What the coordinators (`groups`, `transactions`) share about their
//! internal topics: creating the topic at first use, reading a partition
//! back for replay with transactions resolved, and appending to it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::info;
use vltava_metadata::controller::NewTopic;
use vltava_protocol::ErrorCode;
use vltava_records::control::EndTxnMarker;
use vltava_records::RecordBatchBuilder;

use super::CoordinatorDeps;
use crate::error::KafkaError;
use crate::replica::{Partition, ReplicaManager};

/// Kafka's minimum for the `segment.bytes` topic config.
const MIN_SEGMENT_BYTES: i32 = 1 << 20;

/// The settings of an internal topic.
pub struct InternalTopic<'a> {
    pub name: &'a str,
    pub partitions: i32,
    pub replication_factor: i16,
    pub segment_bytes: i32,
    /// The config key that sets the replication factor, for the error.
    pub replication_key: &'a str,
}

/// Creates the topic if it does not exist; returns its partition count.
/// Errors are COORDINATOR_NOT_AVAILABLE: the coordinator cannot work
/// without the topic, and clients retry that code.
pub async fn ensure(deps: &CoordinatorDeps, topic: InternalTopic<'_>) -> Result<i32, KafkaError> {
    let name = topic.name;
    if let Some(t) = deps.metadata.image().topic(name) {
        return Ok(t.partitions.len() as i32);
    }
    let brokers = deps.metadata.image().brokers.len() as i16;
    let rf = topic.replication_factor;
    if rf > brokers {
        return Err(KafkaError::new(
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            format!(
                "{} is {rf} but only {brokers} broker(s) are registered",
                topic.replication_key
            ),
        ));
    }
    let new = NewTopic {
        name: name.into(),
        num_partitions: topic.partitions,
        replication_factor: rf,
        ..Default::default()
    };
    // The broker setting may go below segment.bytes' 1 MiB minimum (its
    // own minimum is 1, as in Kafka): such a size goes in as
    // internal.segment.bytes, which has no minimum.
    let segment_key = if topic.segment_bytes < MIN_SEGMENT_BYTES {
        "internal.segment.bytes"
    } else {
        "segment.bytes"
    };
    let configs = vec![
        ("cleanup.policy".to_string(), Some("compact".to_string())),
        ("compression.type".to_string(), Some("producer".to_string())),
        (
            segment_key.to_string(),
            Some(topic.segment_bytes.to_string()),
        ),
    ];
    match deps.channel.create_topic(new, configs).await {
        Ok(partitions) => {
            info!(partitions, "created {name}");
            Ok(partitions)
        }
        // Another node created it; until this node's image has it, the
        // coordinator cannot know where groups live: not ready yet (a
        // partition count of 0 here would be kept for good).
        Err(e) if e.code == ErrorCode::TOPIC_ALREADY_EXISTS => deps
            .metadata
            .image()
            .topic(name)
            .map(|t| t.partitions.len() as i32)
            .ok_or_else(|| {
                KafkaError::new(
                    ErrorCode::COORDINATOR_NOT_AVAILABLE,
                    format!("{name} exists but has not reached this node yet"),
                )
            }),
        Err(e) => Err(KafkaError::new(
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            format!("cannot create {name}: {e}"),
        )),
    }
}

/// A record's key and value.
pub type KeyValue = (Option<Bytes>, Option<Bytes>);

/// A partition read back for replay.
#[derive(Default)]
pub struct LoggedRecords {
    /// Every record that counts, in log order: plain records, and the
    /// records of committed transactions at the position of their commit
    /// marker. Aborted transactions' records are left out.
    pub records: Vec<KeyValue>,
    /// Records of transactions with no marker yet, by producer id.
    pub open: Vec<(i64, KeyValue)>,
}

/// Reads a partition log for replay, in order, possibly in several steps:
/// a coordinator reads the bulk of a partition it is taking over without
/// holding its state, then the few batches appended since under it.
#[derive(Default)]
pub struct LogReplay {
    /// Where the next read starts (`None`: at the log start).
    next_offset: Option<i64>,
    out: LoggedRecords,
    open: HashMap<i64, Vec<KeyValue>>,
}

impl LogReplay {
    /// Reads every batch from where the last call stopped to the log end.
    pub fn read_to_end(&mut self, log: &vltava_storage::Log) -> Result<(), String> {
        let mut offset = self
            .next_offset
            .unwrap_or_else(|| log.log_start_offset())
            .max(log.log_start_offset());
        let end = log.log_end_offset();
        while offset < end {
            let read = log
                .read(offset, 1 << 20, end, true)
                .map_err(|e| e.to_string())?;
            if read.records.is_empty() {
                break;
            }
            self.replay(read.records)?;
            offset = read.next_offset;
        }
        self.next_offset = Some(offset.max(self.next_offset.unwrap_or(offset)));
        Ok(())
    }

    fn replay(&mut self, batches: Bytes) -> Result<(), String> {
        for batch in vltava_records::BatchSplitter::new(batches) {
            let batch = batch.map_err(|e| e.to_string())?;
            let records = batch.records().map_err(|e| e.to_string())?;
            if batch.is_control() {
                for record in records {
                    let record = record.map_err(|e| e.to_string())?;
                    let Ok(marker) = EndTxnMarker::from_record(&record) else {
                        continue;
                    };
                    let pending = self.open.remove(&batch.producer_id()).unwrap_or_default();
                    if marker.commit {
                        self.out.records.extend(pending);
                    }
                }
                continue;
            }
            for record in records {
                let record = record.map_err(|e| e.to_string())?;
                if batch.is_transactional() {
                    self.open
                        .entry(batch.producer_id())
                        .or_default()
                        .push((record.key, record.value));
                } else {
                    self.out.records.push((record.key, record.value));
                }
            }
        }
        Ok(())
    }

    /// Everything read, with the transactions still open at the end.
    pub fn finish(self) -> LoggedRecords {
        let mut out = self.out;
        let mut open: Vec<(i64, Vec<KeyValue>)> = self.open.into_iter().collect();
        open.sort_by_key(|(pid, _)| *pid);
        out.open = open
            .into_iter()
            .flat_map(|(pid, records)| records.into_iter().map(move |r| (pid, r)))
            .collect();
        out
    }
}

/// Records a coordinator appended, not yet known to be on every ISR
/// member: its answer waits for them (`wait_replicated`).
pub struct Written {
    partition: Arc<Partition>,
    leader_epoch: i32,
    next_offset: i64,
}

/// Appends records to a partition of an internal topic in one batch; with
/// `producer`, as a transactional batch of that producer without a
/// sequence (a coordinator's write, like Kafka's transactional offset
/// commits). Only while this node leads the partition in `loaded_epoch`,
/// the epoch the coordinator's state of it was loaded in: a coordinator
/// that lost the partition and got it back must not write from the state
/// it had before. The coordinator answers once `wait_replicated` says the
/// records are on every ISR member (Kafka's coordinators append with
/// acks=all), so an answered change survives the loss of this node.
pub fn append(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    loaded_epoch: Option<i32>,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16)>,
    now: i64,
) -> Result<Written, KafkaError> {
    let target = replicas.get(topic, partition).ok_or_else(|| {
        KafkaError::new(
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            format!("{topic}-{partition} is not hosted here"),
        )
    })?;
    let leading = target.leading_epoch();
    if loaded_epoch.is_none() || leading != loaded_epoch {
        return Err(KafkaError::new(
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            format!(
                "{topic}-{partition} was loaded in leader epoch {loaded_epoch:?}, \
                 this node leads it in {leading:?}"
            ),
        ));
    }
    let mut builder = RecordBatchBuilder::new();
    if let Some((id, epoch)) = producer {
        builder = builder
            .producer(id, epoch, vltava_records::batch::NO_SEQUENCE)
            .transactional(true);
    }
    let invalid = |e: String| KafkaError::new(ErrorCode::UNKNOWN_SERVER_ERROR, e);
    for (k, v) in records {
        builder
            .append(now, Some(k), v.as_deref(), &[])
            .map_err(|e| invalid(e.to_string()))?;
    }
    let batch = builder.build().map_err(|e| invalid(e.to_string()))?;
    // acks=all: min.insync.replicas is checked before appending.
    let appended = target.append(batch, true, now)?;
    Ok(Written {
        partition: target,
        leader_epoch: appended.leader_epoch,
        next_offset: appended.next_offset,
    })
}

/// Waits, for at most `timeout`, until every record of `written` is on
/// every ISR member of its partition (the high watermark passed it in the
/// epoch it was written in). Woken by the high watermark, never polled.
pub async fn wait_replicated(written: &[Written], timeout: Duration) -> Result<(), KafkaError> {
    let deadline = std::time::Instant::now() + timeout;
    for w in written {
        w.partition
            .wait_committed(w.leader_epoch, w.next_offset, deadline)
            .await?;
    }
    Ok(())
}

/// What a client is told when a coordinator's records could not be
/// appended (the mapping of Kafka's group and transaction coordinators): a
/// partition this node no longer leads sends it to FindCoordinator, a
/// shortage of replicas makes it retry.
pub fn append_error(code: ErrorCode) -> ErrorCode {
    match code {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        | ErrorCode::NOT_ENOUGH_REPLICAS
        | ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND
        | ErrorCode::REQUEST_TIMED_OUT => ErrorCode::COORDINATOR_NOT_AVAILABLE,
        ErrorCode::NOT_LEADER_OR_FOLLOWER
        | ErrorCode::FENCED_LEADER_EPOCH
        | ErrorCode::KAFKA_STORAGE_ERROR => ErrorCode::NOT_COORDINATOR,
        _ => ErrorCode::UNKNOWN_SERVER_ERROR,
    }
}
