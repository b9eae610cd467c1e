//! OffsetsForLeaderEpoch (KIP-101, KIP-279, KIP-320): where a leader epoch
//! ends on this partition's log, from its leader-epoch cache. Consumers use
//! it after a leader change to check that their position was not truncated
//! away; followers of older versions used it to find where to truncate (ours
//! use Fetch's DivergingEpoch instead).
//!
//! Only the leader answers, except for the "debug" replica id -2 (the
//! default before v3), which any replica answers from its own log, as Kafka
//! does; the request's current leader epoch (v2+) is checked either way.

use vltava_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use vltava_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use vltava_protocol::{ErrorCode, ResponseBody};

use super::authz::{Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;

/// The replica id of a request that may be answered by any replica.
const DEBUG_REPLICA_ID: i32 = -2;

pub fn handle(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: OffsetForLeaderEpochRequest,
) -> ResponseBody {
    let any_replica = context.version < 3 || request.replica_id == DEBUG_REPLICA_ID;
    // Kafka's check: Describe on each topic.
    let access = Access::of(broker, context);
    let topics = request
        .topics
        .into_iter()
        .map(|topic| OffsetForLeaderTopicResult {
            partitions: topic
                .partitions
                .iter()
                .map(|p| {
                    let answer = |code: ErrorCode, (epoch, end): (i32, i64)| EpochEndOffset {
                        error_code: code.code(),
                        partition: p.partition,
                        leader_epoch: epoch,
                        end_offset: end,
                        ..Default::default()
                    };
                    if !access.allows(Op::Describe, Kind::Topic, &topic.topic) {
                        return answer(ErrorCode::TOPIC_AUTHORIZATION_FAILED, (-1, -1));
                    }
                    let Some(partition) = broker.replicas.get(&topic.topic, p.partition) else {
                        return answer(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, (-1, -1));
                    };
                    let checked = if any_replica {
                        partition.check_epoch(p.current_leader_epoch)
                    } else {
                        partition.check_leader(p.current_leader_epoch)
                    };
                    if let Err(e) = checked {
                        return answer(e.code, (-1, -1));
                    }
                    answer(
                        ErrorCode::NONE,
                        partition.log().end_offset_for_epoch(p.leader_epoch),
                    )
                })
                .collect(),
            topic: topic.topic,
            ..Default::default()
        })
        .collect();
    ResponseBody::OffsetForLeaderEpoch(OffsetForLeaderEpochResponse {
        topics,
        ..Default::default()
    })
}
