//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3, v7+),
//! earliest local (-4, v8+: the same as earliest without tiered storage),
//! latest tiered (-5, v9+: none without tiered storage),
//! and offset by timestamp through the time index. v0 answers in the old
//! shape (`old_style_offsets`), which Burrow still reads.

use vltava_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use vltava_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use vltava_protocol::{ErrorCode, ResponseBody};

use super::authz::{Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::replica::Partition;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

pub fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: ListOffsetsRequest,
) -> ResponseBody {
    let version = context.version;
    let read_committed = request.isolation_level == 1;
    // Kafka's check: Describe on each topic.
    let access = Access::of(broker, context);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| ListOffsetsTopicResponse {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let result = match broker.replicas.get(&topic.name, p.partition_index) {
                        _ if !access.allows(Op::Describe, Kind::Topic, &topic.name) => {
                            Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED)
                        }
                        None => Err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
                        // A special timestamp older than the version that
                        // introduced it is refused, as Kafka does: an old
                        // client cannot have meant it.
                        Some(_) if !timestamp_allowed(p.timestamp, version) => {
                            Err(ErrorCode::UNSUPPORTED_VERSION)
                        }
                        Some(partition) => lookup(
                            &partition,
                            p.timestamp,
                            p.current_leader_epoch,
                            read_committed,
                            broker.now_ms(),
                        ),
                    };
                    match result {
                        // v0 has only the old-style offset list; timestamp and
                        // offset arrive in v1, the leader epoch in v4.
                        Ok((offset, _, _)) if version == 0 => ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            error_code: 0,
                            old_style_offsets: if offset >= 0 && p.max_num_offsets > 0 {
                                vec![offset]
                            } else {
                                Vec::new()
                            },
                            ..Default::default()
                        },
                        Ok((offset, timestamp, epoch)) => ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            error_code: 0,
                            timestamp,
                            offset,
                            leader_epoch: if version >= 4 { epoch } else { -1 },
                            ..Default::default()
                        },
                        Err(code) => ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            error_code: code.code(),
                            ..Default::default()
                        },
                    }
                })
                .collect(),
            name: topic.name,
            ..Default::default()
        })
        .collect();
    ResponseBody::ListOffsets(ListOffsetsResponse {
        topics,
        ..Default::default()
    })
}

/// Whether `version` knows the special timestamp: max timestamp from v7
/// (KIP-734), earliest local from v8 (KIP-405), latest tiered from v9
/// (KIP-1005).
fn timestamp_allowed(timestamp: i64, version: i16) -> bool {
    match timestamp {
        MAX_TIMESTAMP => version >= 7,
        EARLIEST_LOCAL => version >= 8,
        LATEST_TIERED => version >= 9,
        _ => true,
    }
}

/// (offset, timestamp, leader epoch); offset -1 when no record qualifies.
fn lookup(
    partition: &Partition,
    timestamp: i64,
    current_leader_epoch: i32,
    read_committed: bool,
    now_ms: i64,
) -> Result<(i64, i64, i32), ErrorCode> {
    // Only the leader answers (KIP-320 epochs checked), as for consumers'
    // fetches: a follower's high watermark may trail.
    let epoch = partition
        .check_leader(current_leader_epoch)
        .map_err(|e| e.code)?;
    let upper = if read_committed {
        partition.last_stable_offset(now_ms)
    } else {
        partition.high_watermark()
    };
    Ok(match timestamp {
        LATEST => (upper, -1, epoch),
        EARLIEST | EARLIEST_LOCAL => (partition.log_start_offset(), -1, epoch),
        // Without tiered storage nothing is in remote storage: no offset,
        // as Kafka answers when remote storage is off.
        LATEST_TIERED => (-1, -1, -1),
        MAX_TIMESTAMP => match partition.max_timestamp_offset() {
            Some((offset, ts)) if offset < upper => (offset, ts, epoch),
            _ => (-1, -1, -1),
        },
        ts if ts < 0 => return Err(ErrorCode::INVALID_REQUEST),
        ts => match partition
            .offset_for_timestamp(ts)
            .map_err(|_| ErrorCode::KAFKA_STORAGE_ERROR)?
        {
            Some((offset, found)) if offset < upper => (offset, found, epoch),
            _ => (-1, -1, -1),
        },
    })
}
