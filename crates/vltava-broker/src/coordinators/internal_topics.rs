//! What the coordinators (`groups`, `transactions`) share about their
//! internal topics: creating the topic at first use, and reading a
//! partition back for replay with transactions resolved.

use std::collections::HashMap;

use bytes::Bytes;
use tracing::info;
use vltava_metadata::controller::NewTopic;
use vltava_protocol::ErrorCode;
use vltava_records::control::EndTxnMarker;
use vltava_records::RecordBatchBuilder;

use super::CoordinatorDeps;
use crate::error::KafkaError;
use crate::replica::ReplicaManager;

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

/// Reads every batch of a partition log in order.
pub fn read_logged_records(log: &vltava_storage::Log) -> Result<LoggedRecords, String> {
    let mut out = LoggedRecords::default();
    let mut open: HashMap<i64, Vec<KeyValue>> = HashMap::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let read = log
            .read(offset, 1 << 20, end, true)
            .map_err(|e| e.to_string())?;
        if read.records.is_empty() {
            break;
        }
        for batch in vltava_records::BatchSplitter::new(read.records) {
            let batch = batch.map_err(|e| e.to_string())?;
            let records = batch.records().map_err(|e| e.to_string())?;
            if batch.is_control() {
                for record in records {
                    let record = record.map_err(|e| e.to_string())?;
                    let Ok(marker) = EndTxnMarker::from_record(&record) else {
                        continue;
                    };
                    let pending = open.remove(&batch.producer_id()).unwrap_or_default();
                    if marker.commit {
                        out.records.extend(pending);
                    }
                }
                continue;
            }
            for record in records {
                let record = record.map_err(|e| e.to_string())?;
                if batch.is_transactional() {
                    open.entry(batch.producer_id())
                        .or_default()
                        .push((record.key, record.value));
                } else {
                    out.records.push((record.key, record.value));
                }
            }
        }
        offset = read.next_offset;
    }
    let mut open: Vec<(i64, Vec<KeyValue>)> = open.into_iter().collect();
    open.sort_by_key(|(pid, _)| *pid);
    out.open = open
        .into_iter()
        .flat_map(|(pid, records)| records.into_iter().map(move |r| (pid, r)))
        .collect();
    Ok(out)
}

/// Appends records to a partition of an internal topic in one batch; with
/// `producer`, as a transactional batch of that producer without a
/// sequence (a coordinator's write, like Kafka's transactional offset
/// commits).
pub fn append(
    replicas: &ReplicaManager,
    topic: &str,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
    producer: Option<(i64, i16)>,
    now: i64,
) -> Result<(), String> {
    let target = replicas
        .get(topic, partition)
        .ok_or_else(|| format!("{topic}-{partition} is not hosted here"))?;
    let mut builder = RecordBatchBuilder::new();
    if let Some((id, epoch)) = producer {
        builder = builder
            .producer(id, epoch, vltava_records::batch::NO_SEQUENCE)
            .transactional(true);
    }
    for (k, v) in records {
        builder
            .append(now, Some(k), v.as_deref(), &[])
            .map_err(|e| e.to_string())?;
    }
    let batch = builder.build().map_err(|e| e.to_string())?;
    // Not yet acks=all: the coordinators answer once the leader has
    // appended (see docs/compatibility.md, replication).
    target
        .append(batch, false, now)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
