//! Produce: validate each partition's batches at the batch-header level,
//! then hand the bytes to the log, which assigns offsets by patching headers
//! in place and appends them as they arrived.
//!
//! Records are decoded only where a rule needs them: on compacted topics
//! (every record must have a key), and on topics whose compression.type
//! names a codec (batches in another codec are recompressed, as Kafka does).
//! Everything else is checked from the 61-byte batch headers: magic, CRC,
//! length, record count, timestamps, size limits.

use std::time::{Duration, Instant};

use bytes::Bytes;
use vltava_protocol::messages::produce_request::TopicProduceData;
use vltava_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use vltava_protocol::messages::{ProduceRequest, ProduceResponse};
use vltava_protocol::{ErrorCode, ResponseBody};
use vltava_records::{BatchSplitter, Compression, RecordBatchBuilder, TimestampType};

use super::authz::{Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::replica::{Appended, Partition, TopicSettings};
use crate::stats::{add, BrokerStats};

/// The client id Kafka's own tools use when they may write internal topics.
const ADMIN_CLIENT_ID: &str = "__admin_client";

/// A partition-level rejection as Produce reports it: the error, and
/// (KIP-467) which records were bad, by index within the batch.
#[derive(Debug)]
pub struct Rejection {
    pub error: KafkaError,
    pub record_errors: Vec<(i32, String)>,
    /// The partition's log start offset when the log refused the records,
    /// -1 otherwise.
    pub log_start_offset: i64,
}

impl Rejection {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        KafkaError::new(code, message).into()
    }
}

impl From<KafkaError> for Rejection {
    fn from(error: KafkaError) -> Rejection {
        Rejection {
            error,
            record_errors: Vec::new(),
            log_start_offset: -1,
        }
    }
}

pub async fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: ProduceRequest,
) -> Option<ResponseBody> {
    let acks = request.acks;
    let now_ms = broker.now_ms();
    let responses: Vec<TopicProduceResponse> = if !matches!(acks, -1..=1) {
        // INVALID_REQUIRED_ACKS applies to every partition of the request.
        request
            .topic_data
            .iter()
            .map(|t| {
                error_for_topic(
                    t,
                    Rejection::new(
                        ErrorCode::INVALID_REQUIRED_ACKS,
                        format!("acks={acks} is not -1, 0 or 1"),
                    ),
                )
            })
            .collect()
    } else {
        // Every partition is appended first; acks=all then waits for all of
        // them together, until `timeout_ms` from now.
        let deadline = Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
        let mut appended = Vec::with_capacity(request.topic_data.len());
        let image = broker.metadata.image();
        // Kafka's checks: Write on the transactional id (every partition
        // fails without it), then Write on each topic.
        let access = Access::of(broker, context);
        let txn_denied = request
            .transactional_id
            .as_deref()
            .is_some_and(|id| !access.allows(Op::Write, Kind::TransactionalId, id));
        for topic in request.topic_data {
            let topic_denied = !access.allows(Op::Write, Kind::Topic, &topic.name);
            // Only the coordinators write the internal topics (they append
            // to the log directly); a client's records there would be read
            // back as group or transaction state. Kafka refuses them too,
            // except from its own "__admin_client".
            let internal = image.topic(&topic.name).is_some_and(|t| t.is_internal())
                && context.header.client_id.as_deref() != Some(ADMIN_CLIENT_ID);
            let mut partitions = Vec::with_capacity(topic.partition_data.len());
            for p in topic.partition_data {
                let (result, partition) = match broker.replicas.get(&topic.name, p.index) {
                    _ if txn_denied => (
                        Err(Rejection::new(
                            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                            "",
                        )),
                        None,
                    ),
                    _ if topic_denied => (
                        Err(Rejection::new(ErrorCode::TOPIC_AUTHORIZATION_FAILED, "")),
                        None,
                    ),
                    _ if internal => (
                        Err(Rejection::new(
                            ErrorCode::INVALID_TOPIC_EXCEPTION,
                            format!("Cannot append to internal topic {}", topic.name),
                        )),
                        None,
                    ),
                    None => (
                        Err(Rejection::new(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, "")),
                        None,
                    ),
                    Some(partition) => match verify_transactional(
                        broker,
                        request.transactional_id.as_deref(),
                        &topic.name,
                        p.index,
                        p.records.as_ref(),
                        context.version,
                    )
                    .await
                    {
                        Ok(()) => (
                            produce_counted(&partition, p.records, acks, now_ms),
                            Some(partition),
                        ),
                        Err(rejection) => (Err(rejection), None),
                    },
                };
                partitions.push((p.index, result, partition));
            }
            appended.push((topic.name, partitions));
        }
        let mut responses = Vec::with_capacity(appended.len());
        for (name, partitions) in appended {
            let mut out = Vec::with_capacity(partitions.len());
            for (index, mut result, partition) in partitions {
                if let (-1, Ok(a), Some(partition)) = (acks, &result, &partition) {
                    let _waiting = BrokerStats::waiting(&broker.stats.produce_waiting);
                    if let Err(e) = partition
                        .wait_committed(a.leader_epoch, a.next_offset, deadline)
                        .await
                    {
                        add(&partition.stats.failed_produce_requests, 1);
                        result = Err(e.into());
                    }
                }
                out.push(partition_response(index, result));
            }
            responses.push(TopicProduceResponse {
                name,
                partition_responses: out,
                ..Default::default()
            });
        }
        responses
    };
    if acks == 0 {
        // acks=0: the client expects no response at all.
        return None;
    }
    Some(ResponseBody::Produce(ProduceResponse {
        responses,
        ..Default::default()
    }))
}

/// A transactional batch must belong to a partition its producer added to
/// its ongoing transaction (KIP-890's verification): otherwise a late or
/// fenced write would open a transaction no coordinator will ever end, and
/// hold back the partition's last stable offset for good.
async fn verify_transactional(
    broker: &Broker,
    transactional_id: Option<&str>,
    topic: &str,
    partition: i32,
    records: Option<&Bytes>,
    version: i16,
) -> Result<(), Rejection> {
    let Some(first) = records.and_then(|r| BatchSplitter::new(r.clone()).next()) else {
        return Ok(());
    };
    let Ok(batch) = first else { return Ok(()) };
    if !batch.is_transactional() || batch.is_control() {
        return Ok(());
    }
    let Some(transactional_id) = transactional_id else {
        return Err(Rejection::new(
            ErrorCode::INVALID_REQUEST,
            "a transactional batch in a produce request without a transactional id",
        ));
    };
    broker
        .txns
        .verify_partition(
            transactional_id,
            batch.producer_id(),
            batch.producer_epoch(),
            &(topic.to_string(), partition),
        )
        .await
        .map_err(|code| {
            let code = match code {
                ErrorCode::PRODUCER_FENCED => ErrorCode::INVALID_PRODUCER_EPOCH,
                // Produce v11 clients know TRANSACTION_ABORTABLE (KIP-890)
                // and abort the transaction on it, as Kafka answers them;
                // older ones get INVALID_TXN_STATE.
                ErrorCode::INVALID_TXN_STATE if version >= 11 => {
                    ErrorCode::TRANSACTION_ABORTABLE
                }
                code => code,
            };
            Rejection::new(
                code,
                format!("{topic}-{partition} is not part of the ongoing transaction of {transactional_id:?}"),
            )
        })
}

/// `produce_to`, counted in the partition's BrokerTopicMetrics.
fn produce_counted(
    partition: &Partition,
    records: Option<Bytes>,
    acks: i16,
    now_ms: i64,
) -> Result<Appended, Rejection> {
    let bytes = records.as_ref().map_or(0, Bytes::len) as u64;
    let result = produce_to(partition, records, acks, now_ms);
    let stats = &partition.stats;
    add(&stats.produce_requests, 1);
    match &result {
        Ok(a) => {
            add(&stats.bytes_in, bytes);
            // Offsets assigned; a retried batch answered from the producer
            // state (nothing appended) reports the offsets of its first
            // append and is counted again.
            add(
                &stats.messages_in,
                (a.next_offset - a.base_offset).max(0) as u64,
            );
        }
        Err(_) => add(&stats.failed_produce_requests, 1),
    }
    result
}

fn produce_to(
    partition: &Partition,
    records: Option<Bytes>,
    acks: i16,
    now_ms: i64,
) -> Result<Appended, Rejection> {
    let settings = partition.settings();
    let Some(records) = records.filter(|r| !r.is_empty()) else {
        return Err(Rejection::new(
            ErrorCode::INVALID_RECORD,
            "the produce request carried no record batch",
        ));
    };
    validate(&records, &settings, now_ms)
        .and_then(|()| match settings.compression {
            Some((codec, level)) => recompress(&records, codec, level, &settings),
            None => Ok(records),
        })
        .and_then(|records| {
            partition
                .append(records, acks == -1, now_ms)
                .map_err(Rejection::from)
        })
        .map_err(|mut r| {
            // As Kafka's ReplicaManager: a refusal by the partition's log
            // carries its log start offset, except for the errors it lists
            // as answered without one (unknown partition, not the leader,
            // too large, corrupt, storage).
            if !matches!(
                r.error.code,
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    | ErrorCode::NOT_LEADER_OR_FOLLOWER
                    | ErrorCode::MESSAGE_TOO_LARGE
                    | ErrorCode::RECORD_LIST_TOO_LARGE
                    | ErrorCode::CORRUPT_MESSAGE
                    | ErrorCode::KAFKA_STORAGE_ERROR
            ) {
                r.log_start_offset = partition.log_start_offset();
            }
            r
        })
}

/// The batches re-encoded with the topic's codec (compression.type other
/// than "producer"), as Kafka stores them; batches already in it are kept
/// as they are. Offsets deltas, timestamps, producer id, epoch and
/// sequence, and the transactional bit stay; the log patches the base
/// offset and leader epoch as for any batch. Only here are records
/// decompressed on a topic that is not compacted: a topic that asks for a
/// codec pays for it.
pub fn recompress(
    records: &Bytes,
    codec: Compression,
    level: Option<i32>,
    settings: &TopicSettings,
) -> Result<Bytes, Rejection> {
    let corrupt =
        |e: vltava_records::Error| Rejection::new(ErrorCode::CORRUPT_MESSAGE, e.to_string());
    let mut out = Vec::with_capacity(records.len());
    for batch in BatchSplitter::new(records.clone()) {
        let batch = batch.map_err(corrupt)?;
        if batch.compression().map_err(corrupt)? == codec {
            out.extend_from_slice(batch.as_bytes());
            continue;
        }
        let mut b = RecordBatchBuilder::new()
            .compression(codec)
            .compression_level(level)
            .timestamp_type(batch.timestamp_type())
            .producer(
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence(),
            )
            .transactional(batch.is_transactional())
            .last_offset_delta(batch.last_offset_delta());
        if batch.timestamp_type() == TimestampType::LogAppendTime {
            b = b.max_timestamp(batch.max_timestamp());
        }
        for record in batch
            .records_with_limit(settings.max_decompressed_bytes)
            .map_err(corrupt)?
        {
            b.append_record(&record.map_err(corrupt)?)
                .map_err(corrupt)?;
        }
        let rebuilt = b.build().map_err(corrupt)?;
        // Kafka checks the size of the batch it stores.
        if rebuilt.len() as u64 > settings.max_message_bytes as u64 {
            return Err(Rejection::new(
                ErrorCode::MESSAGE_TOO_LARGE,
                format!(
                    "batch of {} bytes recompressed with {codec:?} exceeds max.message.bytes {}",
                    rebuilt.len(),
                    settings.max_message_bytes
                ),
            ));
        }
        out.extend_from_slice(&rebuilt);
    }
    Ok(Bytes::from(out))
}

/// Checks every batch of a produce request against the topic's rules.
pub fn validate(records: &Bytes, settings: &TopicSettings, now_ms: i64) -> Result<(), Rejection> {
    if records.len() as u64 > settings.segment_bytes as u64 {
        return Err(Rejection::new(
            ErrorCode::RECORD_LIST_TOO_LARGE,
            format!(
                "{} bytes of records exceed segment.bytes {}",
                records.len(),
                settings.segment_bytes
            ),
        ));
    }
    for batch in BatchSplitter::new(records.clone()) {
        let batch = batch.map_err(|e| match e {
            vltava_records::Error::LegacyMessageSet { magic } => Rejection::new(
                ErrorCode::INVALID_RECORD,
                format!("message format v{magic} is not supported; only record batches (magic 2)"),
            ),
            other => Rejection::new(ErrorCode::CORRUPT_MESSAGE, other.to_string()),
        })?;
        if batch.size_in_bytes() as u64 > settings.max_message_bytes as u64 {
            return Err(Rejection::new(
                ErrorCode::MESSAGE_TOO_LARGE,
                format!(
                    "batch of {} bytes exceeds max.message.bytes {}",
                    batch.size_in_bytes(),
                    settings.max_message_bytes
                ),
            ));
        }
        batch
            .validate()
            .map_err(|e| Rejection::new(ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
        if batch.is_control() {
            return Err(Rejection::new(
                ErrorCode::INVALID_RECORD,
                "clients may not write control batches",
            ));
        }
        // Only a coordinator writes unsequenced batches of a producer
        // (transactional offset commits); a client's would slip past the
        // sequence checks.
        if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
            return Err(Rejection::new(
                ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
                format!(
                    "batch of producer {} has no sequence number",
                    batch.producer_id()
                ),
            ));
        }
        if i64::from(batch.record_count()) != i64::from(batch.last_offset_delta()) + 1 {
            return Err(Rejection::new(
                ErrorCode::INVALID_RECORD,
                format!(
                    "record count {} does not match last offset delta {}",
                    batch.record_count(),
                    batch.last_offset_delta()
                ),
            ));
        }
        if settings.timestamp_type == TimestampType::CreateTime {
            // Kafka checks every record; the batch's max timestamp bounds the
            // newest and its base timestamp is the first record's.
            let too_new =
                batch.max_timestamp().saturating_sub(now_ms) > settings.timestamp_after_max_ms;
            let too_old =
                now_ms.saturating_sub(batch.base_timestamp()) > settings.timestamp_before_max_ms;
            if too_new || too_old {
                return Err(Rejection {
                    error: KafkaError::new(
                        ErrorCode::INVALID_TIMESTAMP,
                        format!(
                            "timestamp {} is outside the allowed range around broker time {now_ms} (message.timestamp.before.max.ms / after.max.ms)",
                            if too_new { batch.max_timestamp() } else { batch.base_timestamp() }
                        ),
                    ),
                    record_errors: vec![(0, "timestamp out of range".into())],
                    log_start_offset: -1,
                });
            }
        }
        if settings.compacted {
            let records = batch
                .records_with_limit(settings.max_decompressed_bytes)
                .map_err(|e| Rejection::new(ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
            let mut record_errors = Vec::new();
            for (index, record) in records.enumerate() {
                let record = record
                    .map_err(|e| Rejection::new(ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
                if record.key.is_none() {
                    record_errors.push((
                        index as i32,
                        "Compacted topic cannot accept message without key.".to_string(),
                    ));
                }
            }
            if !record_errors.is_empty() {
                return Err(Rejection {
                    error: KafkaError::new(
                        ErrorCode::INVALID_RECORD,
                        "One or more records have been rejected",
                    ),
                    record_errors,
                    log_start_offset: -1,
                });
            }
        }
    }
    Ok(())
}

fn partition_response(index: i32, result: Result<Appended, Rejection>) -> PartitionProduceResponse {
    match result {
        Ok(a) => PartitionProduceResponse {
            index,
            error_code: 0,
            base_offset: a.base_offset,
            log_append_time_ms: a.log_append_time_ms,
            log_start_offset: a.log_start_offset,
            ..Default::default()
        },
        Err(r) => PartitionProduceResponse {
            index,
            error_code: r.error.code.code(),
            base_offset: -1,
            log_append_time_ms: -1,
            log_start_offset: r.log_start_offset,
            record_errors: r
                .record_errors
                .into_iter()
                .map(|(i, m)| BatchIndexAndErrorMessage {
                    batch_index: i,
                    batch_index_error_message: Some(m),
                    ..Default::default()
                })
                .collect(),
            error_message: (!r.error.message.is_empty()).then_some(r.error.message),
            ..Default::default()
        },
    }
}

fn error_for_topic(topic: &TopicProduceData, rejection: Rejection) -> TopicProduceResponse {
    TopicProduceResponse {
        name: topic.name.clone(),
        partition_responses: topic
            .partition_data
            .iter()
            .map(|p| partition_response(p.index, Err(rejection.error.clone().into())))
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    use vltava_config::BrokerConfig;
    use vltava_metadata::controller::NewTopic;
    use vltava_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use vltava_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
    use vltava_protocol::{RequestBody, ResponseBody};
    use vltava_records::RecordBatchBuilder;

    use crate::broker::Broker;
    use crate::clock::Clock;
    use crate::handlers::{self, RequestContext};
    use crate::replica::TopicSettings;

    fn settings(max_message_bytes: i32) -> TopicSettings {
        TopicSettings {
            max_message_bytes,
            segment_bytes: 1 << 30,
            timestamp_type: vltava_records::TimestampType::CreateTime,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
            compacted: false,
            min_insync_replicas: 1,
            max_decompressed_bytes: 1 << 20,
            producer_id_expiration_ms: 86_400_000,
            compression: None,
            leader_throttled: Default::default(),
            follower_throttled: Default::default(),
        }
    }

    /// A topic with compression.type=gzip stores gzip batches: another
    /// codec is re-encoded with every record, offset delta, timestamp and
    /// producer field kept; a gzip batch is kept byte for byte.
    #[test]
    fn batches_are_recompressed_to_the_topic_codec() {
        use vltava_records::{BatchSplitter, Compression};
        let mut b = RecordBatchBuilder::new()
            .compression(Compression::Snappy)
            .producer(42, 3, 7)
            .transactional(true);
        b.append(1_000, Some(b"k0"), Some(b"v0"), &[(b"h", Some(b"x"))])
            .unwrap();
        b.append_with_offset_delta(2, 1_005, None, Some(b"v2"), &[])
            .unwrap();
        let snappy = b.build().unwrap();
        let mut g = RecordBatchBuilder::new().compression(Compression::Gzip);
        g.append(9, None, Some(b"already gzip"), &[]).unwrap();
        let gzip = g.build().unwrap();
        let both = bytes::Bytes::from([&snappy[..], &gzip[..]].concat());

        let out = super::recompress(&both, Compression::Gzip, None, &settings(1 << 20)).unwrap();
        let batches: Vec<_> = BatchSplitter::new(out).map(Result::unwrap).collect();
        assert_eq!(batches.len(), 2);
        let (a, before) = (
            &batches[0],
            BatchSplitter::new(snappy).next().unwrap().unwrap(),
        );
        assert_eq!(a.compression().unwrap(), Compression::Gzip);
        a.validate().unwrap();
        assert_eq!(
            (a.producer_id(), a.producer_epoch(), a.base_sequence()),
            (42, 3, 7)
        );
        assert!(a.is_transactional());
        assert_eq!(a.last_offset_delta(), 2);
        assert_eq!(a.max_timestamp(), 1_005);
        let records = |b: &vltava_records::RecordBatch| -> Vec<_> {
            b.records().unwrap().map(Result::unwrap).collect()
        };
        assert_eq!(records(a), records(&before));
        assert_eq!(batches[1].as_bytes(), &gzip);

        // The recompressed batch must fit max.message.bytes.
        let refused = super::recompress(&both, Compression::None, None, &settings(60)).unwrap_err();
        assert_eq!(
            refused.error.code,
            vltava_protocol::ErrorCode::MESSAGE_TOO_LARGE
        );
    }

    /// The clock handed to `open_with_clock` is the one requests see: a
    /// batch produced to a LogAppendTime topic is stamped with the manual
    /// clock's time, not the system's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_read_the_clock_the_broker_was_opened_with() {
        let dir = std::env::temp_dir().join(format!(
            "vltava-broker-clock-{}-{}",
            std::process::id(),
            Clock::system().now_ms()
        ));
        let time = Arc::new(AtomicI64::new(1_000_000));
        let clock = Clock::from_fn({
            let time = time.clone();
            move || time.load(Ordering::SeqCst)
        });
        let broker = Broker::open_with_clock(BrokerConfig::new(), &dir, clock)
            .await
            .unwrap();
        broker
            .controller
            .create_topic(
                NewTopic {
                    name: "stamped".into(),
                    num_partitions: 1,
                    replication_factor: 1,
                    ..Default::default()
                },
                vec![(
                    "message.timestamp.type".into(),
                    Some("LogAppendTime".into()),
                )],
                false,
            )
            .await
            .unwrap();
        time.store(2_000_000, Ordering::SeqCst);

        let mut batch = RecordBatchBuilder::new();
        batch.append(5, None, Some(b"v"), &[]).unwrap();
        let request = ProduceRequest {
            acks: 1,
            timeout_ms: 1000,
            topic_data: vec![TopicProduceData {
                name: "stamped".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch.build().unwrap()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let header = RequestHeader {
            request_api_key: ApiKey::Produce as i16,
            request_api_version: 9,
            ..Default::default()
        };
        let session = handlers::Session {
            listener: "PLAINTEXT".into(),
            protocol: vltava_config::SecurityProtocol::Plaintext,
            principal: "User:ANONYMOUS".into(),
            token_authenticated: false,
            relayed: false,
            roles: handlers::ListenerRoles::BROKER,
        };
        let context = RequestContext {
            header: &header,
            version: 9,
            peer: "127.0.0.1:1".parse().unwrap(),
            session: &session,
            zero_copy: None,
        };
        let response = handlers::handle(&broker, &context, RequestBody::Produce(request))
            .await
            .unwrap();
        let Some(ResponseBody::Produce(response)) = response else {
            panic!("not a produce response: {response:?}");
        };
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0, "{:?}", partition.error_message);
        assert_eq!(partition.log_append_time_ms, 2_000_000);

        broker.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
