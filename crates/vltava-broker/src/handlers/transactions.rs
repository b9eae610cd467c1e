//! The transaction APIs (KIP-98): AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn, TxnOffsetCommit, DescribeTransactions and ListTransactions.
//! The logic is the transaction coordinator's (`vltava-txn`, through
//! `crate::coordinators::transactions::TxnService`) and, for TxnOffsetCommit, the group
//! coordinator's; this module translates between wire versions and them.

use vltava_group::OffsetToCommit;
use vltava_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use vltava_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use vltava_protocol::messages::describe_transactions_response::{self, TopicData};
use vltava_protocol::messages::list_transactions_response;
use vltava_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use vltava_protocol::messages::*;
use vltava_protocol::{ErrorCode, ResponseBody};
use vltava_txn::TxnState;

use super::authz::{Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::coordinators::groups::OFFSETS_TOPIC;

/// Before KIP-588 (these versions) clients know a fenced producer only as
/// INVALID_PRODUCER_EPOCH.
pub fn fenced_for(code: ErrorCode, version: i16, first_version_with_fenced: i16) -> ErrorCode {
    if code == ErrorCode::PRODUCER_FENCED && version < first_version_with_fenced {
        ErrorCode::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// The topic results of one transaction's AddPartitionsToTxn: every
/// partition gets `code`, except unknown ones, which get
/// UNKNOWN_TOPIC_OR_PARTITION while the rest get OPERATION_NOT_ATTEMPTED.
async fn add_partitions_for(
    broker: &Broker,
    transactional_id: &str,
    (producer_id, producer_epoch): (i64, i16),
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
    version: i16,
    access: &Access,
) -> Vec<AddPartitionsToTxnTopicResult> {
    // Kafka's checks for a producer's request: Write on the transactional
    // id (every partition fails without it), then Write on each topic (a
    // refused topic fails, the others are not attempted).
    if !verify_only {
        let answer = |code_of: &dyn Fn(&str) -> ErrorCode| {
            topics
                .iter()
                .map(|t| AddPartitionsToTxnTopicResult {
                    name: t.name.clone(),
                    results_by_partition: t
                        .partitions
                        .iter()
                        .map(|&p| AddPartitionsToTxnPartitionResult {
                            partition_index: p,
                            partition_error_code: code_of(&t.name).code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect()
        };
        if !access.allows(Op::Write, Kind::TransactionalId, transactional_id) {
            return answer(&|_| ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
        }
        if topics
            .iter()
            .any(|t| !access.allows(Op::Write, Kind::Topic, &t.name))
        {
            return answer(&|name| {
                if access.allows(Op::Write, Kind::Topic, name) {
                    ErrorCode::OPERATION_NOT_ATTEMPTED
                } else {
                    ErrorCode::TOPIC_AUTHORIZATION_FAILED
                }
            });
        }
    }
    let image = broker.metadata.image();
    let exists = |topic: &str, p: i32| {
        image
            .topic(topic)
            .is_some_and(|t| p >= 0 && (p as usize) < t.partitions.len())
    };
    let any_unknown = topics
        .iter()
        .any(|t| t.partitions.iter().any(|&p| !exists(&t.name, p)));
    let wanted: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|&p| (t.name.clone(), p)))
        .collect();
    let outcome = |topic: &str, p: i32, code: ErrorCode| {
        if any_unknown {
            if exists(topic, p) {
                ErrorCode::OPERATION_NOT_ATTEMPTED
            } else {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            }
        } else {
            code
        }
    };
    let mut per_partition: Vec<ErrorCode> = Vec::with_capacity(wanted.len());
    if any_unknown {
        per_partition.resize(wanted.len(), ErrorCode::NONE);
    } else if verify_only {
        for partition in &wanted {
            per_partition.push(
                match broker
                    .txns
                    .verify_partition(transactional_id, producer_id, producer_epoch, partition)
                    .await
                {
                    Ok(()) => ErrorCode::NONE,
                    Err(code) => code,
                },
            );
        }
    } else {
        let code = broker
            .txns
            .add_partitions(transactional_id, producer_id, producer_epoch, &wanted)
            .await;
        per_partition.resize(wanted.len(), code);
    }
    let mut codes = per_partition.into_iter();
    topics
        .iter()
        .map(|t| AddPartitionsToTxnTopicResult {
            name: t.name.clone(),
            results_by_partition: t
                .partitions
                .iter()
                .map(|&p| {
                    let code = outcome(&t.name, p, codes.next().unwrap_or(ErrorCode::NONE));
                    AddPartitionsToTxnPartitionResult {
                        partition_index: p,
                        partition_error_code: fenced_for(code, version, 2).code(),
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect()
}

pub async fn add_partitions_to_txn(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: AddPartitionsToTxnRequest,
) -> ResponseBody {
    let version = context.version;
    let access = Access::of(broker, context);
    if version < 4 {
        let results = add_partitions_for(
            broker,
            &request.v3_and_below_transactional_id,
            (
                request.v3_and_below_producer_id,
                request.v3_and_below_producer_epoch,
            ),
            &request.v3_and_below_topics,
            false,
            version,
            &access,
        )
        .await;
        return ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: results,
            ..Default::default()
        });
    }
    // v4+: several transactions per request (the broker-to-broker form):
    // a broker's verify-only request needs ClusterAction.
    if request.transactions.iter().any(|t| t.verify_only)
        && !access.allows_cluster(Op::ClusterAction)
    {
        return ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
            error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED.code(),
            ..Default::default()
        });
    }
    let mut results_by_transaction = Vec::with_capacity(request.transactions.len());
    for txn in &request.transactions {
        let topic_results = add_partitions_for(
            broker,
            &txn.transactional_id,
            (txn.producer_id, txn.producer_epoch),
            &txn.topics,
            txn.verify_only,
            version,
            &access,
        )
        .await;
        results_by_transaction.push(AddPartitionsToTxnResult {
            transactional_id: txn.transactional_id.clone(),
            topic_results,
            ..Default::default()
        });
    }
    ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
        results_by_transaction,
        ..Default::default()
    })
}

pub async fn add_offsets_to_txn(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: AddOffsetsToTxnRequest,
) -> ResponseBody {
    // Kafka's checks: Write on the transactional id, Read on the group.
    let access = Access::of(broker, context);
    let refused = if !access.allows(Op::Write, Kind::TransactionalId, &request.transactional_id) {
        Some(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !access.allows(Op::Read, Kind::Group, &request.group_id) {
        Some(ErrorCode::GROUP_AUTHORIZATION_FAILED)
    } else {
        None
    };
    if let Some(code) = refused {
        return ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
            error_code: code.code(),
            ..Default::default()
        });
    }
    // Sent to the transaction coordinator: only the group's partition is
    // needed here, wherever the group is coordinated.
    let code = match broker.groups.ensure_topic().await {
        Err(e) => e.code,
        Ok(_) => {
            let partition = broker.groups.partition_for(&request.group_id).await;
            broker
                .txns
                .add_partitions(
                    &request.transactional_id,
                    request.producer_id,
                    request.producer_epoch,
                    &[(OFFSETS_TOPIC.to_string(), partition)],
                )
                .await
        }
    };
    ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
        error_code: fenced_for(code, context.version, 2).code(),
        ..Default::default()
    })
}

pub async fn end_txn(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: EndTxnRequest,
) -> ResponseBody {
    // Kafka's check: Write on the transactional id.
    let access = Access::of(broker, context);
    if !access.allows(Op::Write, Kind::TransactionalId, &request.transactional_id) {
        return ResponseBody::EndTxn(EndTxnResponse {
            error_code: ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED.code(),
            ..Default::default()
        });
    }
    let code = broker
        .txns
        .end_txn(
            &request.transactional_id,
            request.producer_id,
            request.producer_epoch,
            request.committed,
        )
        .await;
    ResponseBody::EndTxn(EndTxnResponse {
        error_code: fenced_for(code, context.version, 2).code(),
        ..Default::default()
    })
}

/// The group's offsets partition must be part of the producer's ongoing
/// transaction (AddOffsetsToTxn came first): otherwise no marker would ever
/// decide these offsets, and consumers asking for stable offsets would wait
/// on them for good.
async fn txn_offset_commit_allowed(
    broker: &Broker,
    request: &TxnOffsetCommitRequest,
) -> Result<(), ErrorCode> {
    // TxnOffsetCommit goes to the group's coordinator.
    broker
        .groups
        .ensure_coordinator(&request.group_id)
        .await
        .map_err(|e| e.code)?;
    let partition = broker.groups.partition_for(&request.group_id).await;
    broker
        .txns
        .verify_partition(
            &request.transactional_id,
            request.producer_id,
            request.producer_epoch,
            &(OFFSETS_TOPIC.to_string(), partition),
        )
        .await
        // TxnOffsetCommit has no PRODUCER_FENCED (KIP-588 left it out).
        .map_err(|code| fenced_for(code, 0, 1))
}

pub async fn txn_offset_commit(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: TxnOffsetCommitRequest,
) -> ResponseBody {
    let offsets: Vec<OffsetToCommit> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| OffsetToCommit {
                topic: t.name.clone(),
                partition: p.partition_index,
                offset: p.committed_offset,
                leader_epoch: p.committed_leader_epoch,
                metadata: p.committed_metadata.clone(),
            })
        })
        .collect();
    // Kafka's checks: Write on the transactional id, Read on the group
    // (every partition fails without either), Read on each topic.
    let access = Access::of(broker, context);
    let refused = if !access.allows(Op::Write, Kind::TransactionalId, &request.transactional_id) {
        Some(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
    } else if !access.allows(Op::Read, Kind::Group, &request.group_id) {
        Some(ErrorCode::GROUP_AUTHORIZATION_FAILED)
    } else if offsets
        .iter()
        .any(|o| !access.allows(Op::Read, Kind::Topic, &o.topic))
    {
        Some(ErrorCode::TOPIC_AUTHORIZATION_FAILED)
    } else {
        None
    };
    let errors = match refused.map_or_else(|| Ok(()), Err) {
        Err(ErrorCode::TOPIC_AUTHORIZATION_FAILED) => offsets
            .iter()
            .map(|o| {
                if access.allows(Op::Read, Kind::Topic, &o.topic) {
                    ErrorCode::OPERATION_NOT_ATTEMPTED
                } else {
                    ErrorCode::TOPIC_AUTHORIZATION_FAILED
                }
            })
            .collect(),
        Err(code) => vec![code; offsets.len()],
        Ok(()) => match txn_offset_commit_allowed(broker, &request).await {
            Err(code) => vec![code; offsets.len()],
            Ok(()) => {
                let image = broker.metadata.image();
                let exists = |topic: &str, p: i32| {
                    image
                        .topic(topic)
                        .is_some_and(|t| p >= 0 && (p as usize) < t.partitions.len())
                };
                // v3+ carries the consumer's group metadata; before that the
                // producer is not a member and only the group id is known.
                let (generation, member_id, instance_id) = if context.version >= 3 {
                    (
                        request.generation_id,
                        request.member_id.as_str(),
                        request.group_instance_id.as_deref(),
                    )
                } else {
                    (-1, "", None)
                };
                let now = broker.now_ms();
                broker
                    .groups
                    .call_transactional(request.producer_id, request.producer_epoch, |c| {
                        c.txn_commit_offsets(
                            now,
                            &request.group_id,
                            request.producer_id,
                            generation,
                            member_id,
                            instance_id,
                            &offsets,
                            &exists,
                        )
                    })
                    .await
            }
        },
    };
    tracing::debug!(
        group_id = %request.group_id,
        producer_id = request.producer_id,
        generation = request.generation_id,
        member_id = %request.member_id,
        offsets = ?offsets.iter().map(|o| (&o.topic, o.partition, o.offset)).collect::<Vec<_>>(),
        errors = ?errors,
        "TxnOffsetCommit"
    );
    let mut errors = errors.into_iter();
    let topics = request
        .topics
        .iter()
        .map(|t| TxnOffsetCommitResponseTopic {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| TxnOffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: errors.next().unwrap_or(ErrorCode::NONE).code(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ResponseBody::TxnOffsetCommit(TxnOffsetCommitResponse {
        topics,
        ..Default::default()
    })
}

pub async fn describe_transactions(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeTransactionsRequest,
) -> ResponseBody {
    // Kafka's check: Describe on each transactional id.
    let access = Access::of(broker, context);
    let mut states = Vec::with_capacity(request.transactional_ids.len());
    for id in &request.transactional_ids {
        if !access.allows(Op::Describe, Kind::TransactionalId, id) {
            states.push(describe_transactions_response::TransactionState {
                error_code: ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED.code(),
                transactional_id: id.clone(),
                ..Default::default()
            });
            continue;
        }
        let state = match broker.txns.describe(id).await {
            Ok(Some(txn)) => {
                let mut topics: Vec<TopicData> = Vec::new();
                for (topic, p) in &txn.partitions {
                    match topics.last_mut() {
                        Some(t) if &t.topic == topic => t.partitions.push(*p),
                        _ => topics.push(TopicData {
                            topic: topic.clone(),
                            partitions: vec![*p],
                            ..Default::default()
                        }),
                    }
                }
                describe_transactions_response::TransactionState {
                    error_code: 0,
                    transactional_id: id.clone(),
                    transaction_state: txn.state.name().to_string(),
                    transaction_timeout_ms: txn.timeout_ms,
                    transaction_start_time_ms: txn.start_ms,
                    producer_id: txn.producer_id,
                    producer_epoch: txn.producer_epoch,
                    topics,
                    ..Default::default()
                }
            }
            Ok(None) => describe_transactions_response::TransactionState {
                error_code: ErrorCode::TRANSACTIONAL_ID_NOT_FOUND.code(),
                transactional_id: id.clone(),
                ..Default::default()
            },
            Err(code) => describe_transactions_response::TransactionState {
                error_code: code.code(),
                transactional_id: id.clone(),
                ..Default::default()
            },
        };
        states.push(state);
    }
    ResponseBody::DescribeTransactions(DescribeTransactionsResponse {
        transaction_states: states,
        ..Default::default()
    })
}

/// DescribeProducers (KIP-664): the idempotent and transactional
/// producers of each partition this node holds a replica of, as Kafka's
/// `ReplicaManager.activeProducerState` answers: a partition of an unknown
/// topic, or beyond its count, is UNKNOWN_TOPIC_OR_PARTITION; one that
/// exists but has no replica here is NOT_LEADER_OR_FOLLOWER (a follower
/// answers too, from its own copy of the producer state).
pub fn describe_producers(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeProducersRequest,
) -> ResponseBody {
    // Kafka's check: Read on each topic.
    let access = Access::of(broker, context);
    use vltava_protocol::messages::describe_producers_response::{
        PartitionResponse, ProducerState, TopicResponse,
    };
    let image = broker.metadata.image();
    let now_ms = broker.now_ms();
    let topics = request
        .topics
        .into_iter()
        .map(|t| TopicResponse {
            partitions: t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let mut response = PartitionResponse {
                        partition_index: index,
                        ..Default::default()
                    };
                    match broker.replicas.get(&t.name, index) {
                        _ if !access.allows(Op::Read, Kind::Topic, &t.name) => {
                            response.error_code = ErrorCode::TOPIC_AUTHORIZATION_FAILED.code();
                        }
                        Some(partition) => {
                            response.active_producers = partition
                                .active_producers(now_ms)
                                .into_iter()
                                .map(|e| ProducerState {
                                    producer_id: e.producer_id,
                                    producer_epoch: i32::from(e.epoch),
                                    last_sequence: e.last_sequence,
                                    last_timestamp: e.timestamp,
                                    coordinator_epoch: e.coordinator_epoch,
                                    current_txn_start_offset: e.current_txn_first_offset,
                                    ..Default::default()
                                })
                                .collect();
                        }
                        None if image.partition(&t.name, index).is_some() => {
                            response.error_code = ErrorCode::NOT_LEADER_OR_FOLLOWER.code();
                        }
                        None => {
                            response.error_code = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code();
                        }
                    }
                    response
                })
                .collect(),
            name: t.name,
            ..Default::default()
        })
        .collect();
    ResponseBody::DescribeProducers(DescribeProducersResponse {
        topics,
        ..Default::default()
    })
}

const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

pub async fn list_transactions(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: ListTransactionsRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let unknown_state_filters: Vec<String> = request
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|s| s.name() == f.as_str()))
        .cloned()
        .collect();
    let all = match broker.txns.list().await {
        Ok(all) => all,
        Err(code) => {
            return ResponseBody::ListTransactions(ListTransactionsResponse {
                error_code: code.code(),
                ..Default::default()
            })
        }
    };
    let now = broker.now_ms();
    // v1+: only transactions running longer than this (KIP-994).
    let min_duration = if context.version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let transaction_states = all
        .into_iter()
        .filter(|t| {
            request.state_filters.is_empty()
                || request.state_filters.iter().any(|f| f == t.state.name())
        })
        .filter(|t| {
            request.producer_id_filters.is_empty()
                || request.producer_id_filters.contains(&t.producer_id)
        })
        .filter(|t| {
            min_duration < 0 || (t.state == TxnState::Ongoing && now - t.start_ms >= min_duration)
        })
        // Kafka's check: only the ids the principal may describe.
        .filter(|t| access.allows(Op::Describe, Kind::TransactionalId, &t.transactional_id))
        .map(|t| list_transactions_response::TransactionState {
            transactional_id: t.transactional_id,
            producer_id: t.producer_id,
            transaction_state: t.state.name().to_string(),
            ..Default::default()
        })
        .collect();
    ResponseBody::ListTransactions(ListTransactionsResponse {
        unknown_state_filters,
        transaction_states,
        ..Default::default()
    })
}

/// WriteTxnMarkers: a transaction coordinator on another node asks this
/// node, the leader of the listed partitions, to write the commit or abort
/// markers. A partition not led here is NOT_LEADER_OR_FOLLOWER (the
/// coordinator retries after learning the new leader); one that does not
/// exist is UNKNOWN_TOPIC_OR_PARTITION (deleted: nothing left to mark).
pub async fn write_txn_markers(
    broker: &Broker,
    _context: &RequestContext<'_>,
    request: WriteTxnMarkersRequest,
) -> ResponseBody {
    use vltava_protocol::messages::write_txn_markers_response::{
        WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
    };
    let mut markers = Vec::with_capacity(request.markers.len());
    for marker in request.markers {
        let completion = vltava_txn::Completion {
            transactional_id: String::new(),
            producer_id: marker.producer_id,
            producer_epoch: marker.producer_epoch,
            commit: marker.transaction_result,
            partitions: Vec::new(),
        };
        let mut topics = Vec::with_capacity(marker.topics.len());
        for t in marker.topics {
            let mut partitions = Vec::with_capacity(t.partition_indexes.len());
            for index in t.partition_indexes {
                let image = broker.metadata.image();
                let code = match image.partition(&t.name, index) {
                    None => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(p) if p.leader != broker.node_id => ErrorCode::NOT_LEADER_OR_FOLLOWER,
                    // The append's own error (NOT_ENOUGH_REPLICAS, a
                    // replication timeout, a fenced coordinator epoch...),
                    // as Kafka answers: the coordinator retries on it.
                    Some(_) => crate::coordinators::transactions::write_marker_here(
                        broker.txns.deps(),
                        &broker.groups,
                        &completion,
                        marker.coordinator_epoch,
                        &t.name,
                        index,
                        broker.now_ms(),
                    )
                    .await
                    .err()
                    .unwrap_or(ErrorCode::NONE),
                };
                partitions.push(WritableTxnMarkerPartitionResult {
                    partition_index: index,
                    error_code: code.code(),
                    ..Default::default()
                });
            }
            topics.push(WritableTxnMarkerTopicResult {
                name: t.name,
                partitions,
                ..Default::default()
            });
        }
        markers.push(WritableTxnMarkerResult {
            producer_id: marker.producer_id,
            topics,
            ..Default::default()
        });
    }
    ResponseBody::WriteTxnMarkers(WriteTxnMarkersResponse {
        markers,
        ..Default::default()
    })
}
