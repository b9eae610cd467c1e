//! The consumer-group APIs: FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch, ListGroups,
//! DescribeGroups, DeleteGroups, OffsetDelete. The logic is the group
//! coordinator's (`vltava-group`); this module translates between the wire
//! versions and the coordinator, through `crate::coordinators::groups::GroupService`.

use bytes::{Buf, Bytes};
use vltava_group::{JoinRequest, JoinResult, OffsetToCommit, Reply, SyncRequest, SyncResult};
use vltava_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use vltava_protocol::messages::delete_groups_response::DeletableGroupResult;
use vltava_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use vltava_protocol::messages::find_coordinator_response::Coordinator;
use vltava_protocol::messages::join_group_response::JoinGroupResponseMember;
use vltava_protocol::messages::leave_group_response::MemberResponse;
use vltava_protocol::messages::list_groups_response::ListedGroup;
use vltava_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use vltava_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use vltava_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use vltava_protocol::messages::*;
use vltava_protocol::{ErrorCode, Message, ResponseBody};

use super::authz::{self, Access, Kind, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::coordinators::groups::OFFSETS_TOPIC;
use crate::coordinators::transactions::TRANSACTION_STATE_TOPIC;
use crate::error::KafkaError;

const GROUP_KEY: i8 = 0;
const TRANSACTION_KEY: i8 = 1;

fn client_host(context: &RequestContext<'_>) -> String {
    format!("/{}", context.peer.ip())
}

fn client_id(context: &RequestContext<'_>) -> String {
    context.header.client_id.clone().unwrap_or_default()
}

/// A broker's address on the listener the request came in on.
fn endpoint_of(broker: &Broker, node: i32, listener: &str) -> Option<(String, i32)> {
    let image = broker.metadata.image();
    let b = image.brokers.get(&node).filter(|b| !b.fenced)?;
    b.endpoints
        .iter()
        .find(|e| e.listener == listener)
        .map(|e| (e.host.clone(), i32::from(e.port)))
}

/// The coordinator of `key`: the leader of its partition of the internal
/// topic (`__consumer_offsets` for groups, `__transaction_state` for
/// transactional ids), which is created on first use.
async fn coordinator_of(
    broker: &Broker,
    key_type: i8,
    key: &str,
    listener: &str,
) -> Result<(i32, String, i32), KafkaError> {
    let (topic, partition) = match key_type {
        GROUP_KEY => (OFFSETS_TOPIC, broker.groups.prepare_for(key).await?),
        TRANSACTION_KEY => (TRANSACTION_STATE_TOPIC, broker.txns.prepare_for(key).await?),
        other => {
            return Err(KafkaError::new(
                ErrorCode::INVALID_REQUEST,
                format!("Unknown coordinator key type {other}."),
            ))
        }
    };
    let unavailable = || {
        KafkaError::new(
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            format!("{topic}-{partition} has no available leader."),
        )
    };
    let leader = broker
        .metadata
        .image()
        .partition(topic, partition)
        .map(|p| p.leader)
        .ok_or_else(unavailable)?;
    let (host, port) = endpoint_of(broker, leader, listener).ok_or_else(unavailable)?;
    Ok((leader, host, port))
}

pub async fn find_coordinator(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: FindCoordinatorRequest,
) -> ResponseBody {
    let keys: Vec<String> = if context.version >= 4 {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    };
    // Kafka's checks: Describe on the group or on the transactional id.
    let access = Access::of(broker, context);
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let refused = match request.key_type {
            GROUP_KEY if !access.allows(Op::Describe, Kind::Group, &key) => {
                Some(ErrorCode::GROUP_AUTHORIZATION_FAILED)
            }
            TRANSACTION_KEY if !access.allows(Op::Describe, Kind::TransactionalId, &key) => {
                Some(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            }
            _ => None,
        };
        if let Some(code) = refused {
            found.push((key, Err(KafkaError::new(code, code.message()))));
            continue;
        }
        let outcome =
            coordinator_of(broker, request.key_type, &key, &context.session.listener).await;
        found.push((key, outcome));
    }
    if context.version >= 4 {
        let coordinators = found
            .into_iter()
            .map(|(key, outcome)| match outcome {
                Ok((node_id, host, port)) => Coordinator {
                    key,
                    node_id,
                    host,
                    port,
                    error_code: 0,
                    ..Default::default()
                },
                Err(KafkaError { code, message }) => Coordinator {
                    key,
                    node_id: -1,
                    port: -1,
                    error_code: code.code(),
                    error_message: Some(message),
                    ..Default::default()
                },
            })
            .collect();
        return ResponseBody::FindCoordinator(FindCoordinatorResponse {
            coordinators,
            ..Default::default()
        });
    }
    let (_, outcome) = found.pop().expect("one key before v4");
    ResponseBody::FindCoordinator(match outcome {
        Ok((node_id, host, port)) => FindCoordinatorResponse {
            node_id,
            host,
            port,
            ..Default::default()
        },
        Err(KafkaError { code, message }) => FindCoordinatorResponse {
            error_code: code.code(),
            error_message: (context.version >= 1).then_some(message),
            node_id: -1,
            port: -1,
            ..Default::default()
        },
    })
}

/// Makes sure this node coordinates `group` (it leads the group's
/// partition of the offsets topic, loaded in the epoch it leads it in);
/// the error to answer with otherwise.
/// The group's ACL check (Kafka's: the operation on the group, else
/// GROUP_AUTHORIZATION_FAILED), then [`ready`].
async fn ready_for(
    broker: &Broker,
    access: &Access,
    operation: Op,
    group: &str,
) -> Result<(), ErrorCode> {
    if !access.allows(operation, Kind::Group, group) {
        return Err(ErrorCode::GROUP_AUTHORIZATION_FAILED);
    }
    ready(broker, group).await
}

async fn ready(broker: &Broker, group: &str) -> Result<(), ErrorCode> {
    broker
        .groups
        .ensure_coordinator(group)
        .await
        .map_err(|e| e.code)
}

/// Makes sure the offsets topic exists and exactly its partitions led
/// here are loaded (requests about every group this node coordinates).
async fn ready_all(broker: &Broker) -> Result<(), ErrorCode> {
    broker.groups.ensure_ready().await.map_err(|e| e.code)
}

fn join_response(result: JoinResult, version: i16) -> ResponseBody {
    // protocol_name is nullable only from v7.
    let protocol_name = if version < 7 {
        Some(result.protocol_name.unwrap_or_default())
    } else {
        result.protocol_name
    };
    ResponseBody::JoinGroup(JoinGroupResponse {
        error_code: result.error.code(),
        generation_id: result.generation_id,
        protocol_type: result.protocol_type,
        protocol_name,
        leader: result.leader,
        skip_assignment: result.skip_assignment && version >= 9,
        member_id: result.member_id,
        members: result
            .members
            .into_iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.member_id,
                group_instance_id: m.instance_id,
                metadata: m.metadata,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    })
}

pub async fn join_group(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: JoinGroupRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let version = context.version;
    if let Err(code) = ready_for(broker, &access, Op::Read, &request.group_id).await {
        return join_response(JoinResult::error(code, &request.member_id), version);
    }
    let join = JoinRequest {
        group_id: request.group_id,
        member_id: request.member_id.clone(),
        instance_id: request.group_instance_id,
        client_id: client_id(context),
        client_host: client_host(context),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: Kafka uses the session timeout.
        rebalance_timeout_ms: if version >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type,
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name, p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    };
    let now = broker.now_ms();
    match broker
        .groups
        .call_delayed(|c, id| c.join(now, join, id))
        .await
    {
        Some(Reply::Join(result)) => join_response(result, version),
        _ => join_response(
            JoinResult::error(ErrorCode::UNKNOWN_SERVER_ERROR, &request.member_id),
            version,
        ),
    }
}

fn sync_response(result: SyncResult) -> ResponseBody {
    ResponseBody::SyncGroup(SyncGroupResponse {
        error_code: result.error.code(),
        protocol_type: result.protocol_type,
        protocol_name: result.protocol_name,
        assignment: result.assignment,
        ..Default::default()
    })
}

pub async fn sync_group(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: SyncGroupRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    if let Err(code) = ready_for(broker, &access, Op::Read, &request.group_id).await {
        return sync_response(SyncResult::error(code));
    }
    let sync = SyncRequest {
        group_id: request.group_id,
        generation_id: request.generation_id,
        member_id: request.member_id,
        instance_id: request.group_instance_id,
        protocol_type: request.protocol_type,
        protocol_name: request.protocol_name,
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment))
            .collect(),
    };
    let now = broker.now_ms();
    match broker
        .groups
        .call_delayed(|c, id| c.sync(now, sync, id))
        .await
    {
        Some(Reply::Sync(result)) => sync_response(result),
        _ => sync_response(SyncResult::error(ErrorCode::UNKNOWN_SERVER_ERROR)),
    }
}

pub async fn heartbeat(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: HeartbeatRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let code = match ready_for(broker, &access, Op::Read, &request.group_id).await {
        Err(code) => code,
        Ok(()) => {
            let now = broker.now_ms();
            broker
                .groups
                .call(|c| {
                    (
                        c.heartbeat(
                            now,
                            &request.group_id,
                            request.generation_id,
                            &request.member_id,
                            request.group_instance_id.as_deref(),
                        ),
                        Default::default(),
                    )
                })
                .await
                .unwrap_or_else(|code| code)
        }
    };
    ResponseBody::Heartbeat(HeartbeatResponse {
        error_code: code.code(),
        ..Default::default()
    })
}

/// The cluster's topics for the group coordinator, from a metadata image,
/// as the requesting member's principal may see them (expressions match
/// only topics it may describe, as Kafka filters resolved expressions).
struct ImageTopics<'a>(std::sync::Arc<vltava_metadata::MetadataImage>, &'a Access);

impl vltava_group::consumer::Topics for ImageTopics<'_> {
    fn lookup(&self, name: &str) -> Option<(vltava_protocol::Uuid, i32)> {
        self.0
            .topic(name)
            .map(|t| (t.id, i32::try_from(t.partitions.len()).unwrap_or(i32::MAX)))
    }

    fn matching(&self, expression: &str) -> Result<Vec<String>, String> {
        crate::coordinators::groups::matching_topics(&self.0, expression, |name| {
            self.1.allows(Op::Describe, Kind::Topic, name)
        })
    }
}

/// ConsumerGroupHeartbeat (KIP-848): joins, heartbeats, reconciles and
/// leaves a consumer group of the new protocol, whose assignment the
/// coordinator computes (`vltava_group::consumer`). As Kafka checks it:
/// Read on the group, and Describe on every subscribed topic.
pub async fn consumer_group_heartbeat(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: ConsumerGroupHeartbeatRequest,
) -> ResponseBody {
    let refuse = |code: ErrorCode, message: Option<String>| {
        ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
            error_code: code.code(),
            error_message: message,
            member_epoch: -1,
            ..Default::default()
        })
    };
    let access = Access::of(broker, context);
    if let Err(code) = ready_for(broker, &access, Op::Read, &request.group_id).await {
        return refuse(code, None);
    }
    if let Some(names) = &request.subscribed_topic_names {
        if names
            .iter()
            .any(|t| !access.allows(Op::Describe, Kind::Topic, t))
        {
            return refuse(
                ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                Some("Describe is needed on every subscribed topic".into()),
            );
        }
    }
    let heartbeat = vltava_group::consumer::Heartbeat {
        group_id: request.group_id,
        member_id: request.member_id,
        member_epoch: request.member_epoch,
        instance_id: request.instance_id,
        rack_id: request.rack_id,
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request.subscribed_topic_names,
        subscribed_topic_regex: request.subscribed_topic_regex,
        server_assignor: request.server_assignor,
        owned: request
            .topic_partitions
            .map(|ts| ts.into_iter().map(|t| (t.topic_id, t.partitions)).collect()),
        client_id: context.header.client_id.clone().unwrap_or_default(),
        client_host: format!("/{}", context.peer.ip()),
    };
    let topics = ImageTopics(broker.metadata.image(), &access);
    let now = broker.now_ms();
    let result = broker
        .groups
        .call(|c| c.consumer_heartbeat(now, heartbeat, &topics))
        .await;
    match result {
        Err(code) => refuse(code, None),
        Ok(r) if r.error != ErrorCode::NONE => refuse(r.error, r.message),
        Ok(r) => ResponseBody::ConsumerGroupHeartbeat(ConsumerGroupHeartbeatResponse {
            member_id: r.member_id,
            member_epoch: r.member_epoch,
            heartbeat_interval_ms: r.heartbeat_interval_ms,
            assignment: r
                .assignment
                .map(|a| consumer_group_heartbeat_response::Assignment {
                    topic_partitions: a
                        .into_iter()
                        .map(|(topic_id, partitions)| {
                            consumer_group_heartbeat_response::TopicPartitions {
                                topic_id,
                                partitions,
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                }),
            ..Default::default()
        }),
    }
}

pub async fn leave_group(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: LeaveGroupRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let version = context.version;
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| (m.member_id.clone(), m.group_instance_id.clone()))
            .collect()
    } else {
        vec![(request.member_id.clone(), None)]
    };
    let (code, errors) = match ready_for(broker, &access, Op::Read, &request.group_id).await {
        Err(code) => (code, vec![code; members.len()]),
        Ok(()) => {
            let now = broker.now_ms();
            broker
                .groups
                .call(|c| {
                    let (code, errors, effects) = c.leave(now, &request.group_id, &members);
                    ((code, errors), effects)
                })
                .await
                .unwrap_or_else(|code| (code, vec![code; members.len()]))
        }
    };
    if version >= 3 {
        let members = members
            .into_iter()
            .zip(errors.iter().copied().chain(std::iter::repeat(code)))
            .map(|((member_id, group_instance_id), e)| MemberResponse {
                member_id,
                group_instance_id,
                error_code: e.code(),
                ..Default::default()
            })
            .collect();
        ResponseBody::LeaveGroup(LeaveGroupResponse {
            error_code: code.code(),
            members,
            ..Default::default()
        })
    } else {
        let single = if code.is_error() {
            code
        } else {
            errors.first().copied().unwrap_or(ErrorCode::NONE)
        };
        ResponseBody::LeaveGroup(LeaveGroupResponse {
            error_code: single.code(),
            ..Default::default()
        })
    }
}

pub async fn offset_commit(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: OffsetCommitRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
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
    // Kafka's checks: Read on the group (every partition fails without
    // it), then Read on each topic (only that topic's partitions fail).
    let topic_allowed: Vec<bool> = offsets
        .iter()
        .map(|o| access.allows(Op::Read, Kind::Topic, &o.topic))
        .collect();
    let all = offsets.len();
    let offsets: Vec<OffsetToCommit> = offsets
        .into_iter()
        .zip(&topic_allowed)
        .filter_map(|(o, allowed)| allowed.then_some(o))
        .collect();
    let errors = match ready_for(broker, &access, Op::Read, &request.group_id).await {
        Err(code) => vec![code; all],
        Ok(()) if offsets.is_empty() => Vec::new(),
        Ok(()) => {
            let image = broker.metadata.image();
            let exists = |topic: &str, partition: i32| image.partition(topic, partition).is_some();
            let now = broker.now_ms();
            broker
                .groups
                .call(|c| {
                    c.commit_offsets(
                        now,
                        &request.group_id,
                        request.generation_id_or_member_epoch,
                        &request.member_id,
                        request.group_instance_id.as_deref(),
                        &offsets,
                        &exists,
                    )
                })
                .await
                .unwrap_or_else(|code| vec![code; offsets.len()])
        }
    };
    let errors = if errors.len() == all {
        errors
    } else {
        let mut committed = errors.into_iter();
        topic_allowed
            .iter()
            .map(|allowed| match allowed {
                true => committed.next().unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
                false => ErrorCode::TOPIC_AUTHORIZATION_FAILED,
            })
            .collect()
    };
    let mut errors = errors.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|t| OffsetCommitResponseTopic {
            partitions: t
                .partitions
                .iter()
                .map(|p| OffsetCommitResponsePartition {
                    partition_index: p.partition_index,
                    error_code: errors
                        .next()
                        .unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR)
                        .code(),
                    ..Default::default()
                })
                .collect(),
            name: t.name,
            ..Default::default()
        })
        .collect();
    ResponseBody::OffsetCommit(OffsetCommitResponse {
        topics,
        ..Default::default()
    })
}

/// The group's committed offsets; with `require_stable`, a partition with
/// an offset pending in an open transaction answers UNSTABLE_OFFSET_COMMIT.
fn stable_offsets(
    coordinator: &vltava_group::GroupCoordinator,
    group_id: &str,
    topics: Option<&[(String, Vec<i32>)]>,
    require_stable: bool,
) -> Result<Vec<vltava_group::FetchedOffset>, ErrorCode> {
    let mut offsets = coordinator.fetch_offsets(group_id, topics)?;
    if require_stable {
        for o in &mut offsets {
            if coordinator.has_pending_txn_offset(group_id, &o.topic, o.partition) {
                o.offset = -1;
                o.error = ErrorCode::UNSTABLE_OFFSET_COMMIT;
            }
        }
    }
    tracing::debug!(
        group_id,
        require_stable,
        offsets = ?offsets.iter().map(|o| (&o.topic, o.partition, o.offset, o.error)).collect::<Vec<_>>(),
        "OffsetFetch"
    );
    Ok(offsets)
}

pub async fn offset_fetch(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: OffsetFetchRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let version = context.version;
    // KIP-447 (v7+): a consumer that asks for stable offsets is told to
    // retry while a transaction holds an undecided commit.
    let require_stable = version >= 7 && request.require_stable;
    if version >= 8 {
        let mut groups = Vec::with_capacity(request.groups.len());
        for g in request.groups {
            let topics: Option<Vec<(String, Vec<i32>)>> = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name, t.partition_indexes))
                    .collect()
            });
            let result = match ready_for(broker, &access, Op::Describe, &g.group_id).await {
                Err(code) => Err(code),
                Ok(()) => broker
                    .groups
                    .read(|c| {
                        // v9 (KIP-848): a member of a consumer group reads
                        // at its current epoch.
                        c.check_offset_fetch(&g.group_id, g.member_id.as_deref(), g.member_epoch)?;
                        stable_offsets(c, &g.group_id, topics.as_deref(), require_stable)
                    })
                    .await
                    .map(|o| described_only(&access, o, topics.is_none())),
            };
            groups.push(match result {
                Err(code) => OffsetFetchResponseGroup {
                    group_id: g.group_id,
                    error_code: code.code(),
                    ..Default::default()
                },
                Ok(offsets) => OffsetFetchResponseGroup {
                    group_id: g.group_id,
                    topics: group_by_topic(offsets, |o| OffsetFetchResponsePartitions {
                        partition_index: o.partition,
                        committed_offset: o.offset,
                        committed_leader_epoch: o.leader_epoch,
                        metadata: o.metadata.clone(),
                        error_code: o.error.code(),
                        ..Default::default()
                    })
                    .into_iter()
                    .map(|(name, partitions)| OffsetFetchResponseTopics {
                        name,
                        partitions,
                        ..Default::default()
                    })
                    .collect(),
                    ..Default::default()
                },
            });
        }
        return ResponseBody::OffsetFetch(OffsetFetchResponse {
            groups,
            ..Default::default()
        });
    }
    let topics: Option<Vec<(String, Vec<i32>)>> = request.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let result = match ready_for(broker, &access, Op::Describe, &request.group_id).await {
        Err(code) => Err(code),
        Ok(()) => broker
            .groups
            .read(|c| stable_offsets(c, &request.group_id, topics.as_deref(), require_stable))
            .await
            .map(|o| described_only(&access, o, topics.is_none())),
    };
    match result {
        // Before v2 there is no top-level error: report it per partition.
        Err(code) if version < 2 => ResponseBody::OffsetFetch(OffsetFetchResponse {
            topics: topics
                .unwrap_or_default()
                .into_iter()
                .map(|(name, ps)| OffsetFetchResponseTopic {
                    name,
                    partitions: ps
                        .into_iter()
                        .map(|p| OffsetFetchResponsePartition {
                            partition_index: p,
                            committed_offset: -1,
                            metadata: Some(String::new()),
                            error_code: code.code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        Err(code) => ResponseBody::OffsetFetch(OffsetFetchResponse {
            error_code: code.code(),
            ..Default::default()
        }),
        Ok(offsets) => ResponseBody::OffsetFetch(OffsetFetchResponse {
            topics: group_by_topic(offsets, |o| OffsetFetchResponsePartition {
                partition_index: o.partition,
                committed_offset: o.offset,
                committed_leader_epoch: if version >= 5 { o.leader_epoch } else { -1 },
                metadata: o.metadata.clone(),
                error_code: o.error.code(),
                ..Default::default()
            })
            .into_iter()
            .map(|(name, partitions)| OffsetFetchResponseTopic {
                name,
                partitions,
                ..Default::default()
            })
            .collect(),
            ..Default::default()
        }),
    }
}

/// Kafka's topic check of OffsetFetch: Describe on each topic. Asked for
/// every topic, the others are left out; asked by name, a refused topic's
/// partitions answer TOPIC_AUTHORIZATION_FAILED.
fn described_only(
    access: &Access,
    mut offsets: Vec<vltava_group::FetchedOffset>,
    all_topics: bool,
) -> Vec<vltava_group::FetchedOffset> {
    if !access.enabled() {
        return offsets;
    }
    if all_topics {
        offsets.retain(|o| access.allows(Op::Describe, Kind::Topic, &o.topic));
    } else {
        for o in &mut offsets {
            if !access.allows(Op::Describe, Kind::Topic, &o.topic) {
                o.offset = -1;
                o.leader_epoch = -1;
                o.metadata = Some(String::new());
                o.error = ErrorCode::TOPIC_AUTHORIZATION_FAILED;
            }
        }
    }
    offsets
}

/// Groups fetched offsets by topic, keeping the order topics first appear in.
fn group_by_topic<T>(
    offsets: Vec<vltava_group::FetchedOffset>,
    f: impl Fn(&vltava_group::FetchedOffset) -> T,
) -> Vec<(String, Vec<T>)> {
    let mut out: Vec<(String, Vec<T>)> = Vec::new();
    for o in &offsets {
        match out.iter_mut().find(|(t, _)| *t == o.topic) {
            Some((_, ps)) => ps.push(f(o)),
            None => out.push((o.topic.clone(), vec![f(o)])),
        }
    }
    out
}

pub async fn list_groups(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: ListGroupsRequest,
) -> ResponseBody {
    // Kafka's check: Describe on the cluster lists every group; otherwise
    // only the groups the principal may describe.
    let access = Access::of(broker, context);
    let all_groups = access.allows_cluster(Op::Describe);
    if let Err(code) = ready_all(broker).await {
        return ResponseBody::ListGroups(ListGroupsResponse {
            error_code: code.code(),
            ..Default::default()
        });
    }
    let groups = broker
        .groups
        .read(|c| {
            c.list_groups()
                .into_iter()
                .map(|(id, protocol_type, state)| {
                    let kind = if c.is_consumer_group(&id) {
                        "consumer"
                    } else {
                        "classic"
                    };
                    (id, protocol_type, state, kind)
                })
                .collect::<Vec<_>>()
        })
        .await
        .into_iter()
        .filter(|(_, _, state, _)| {
            request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(state))
        })
        .filter(|(group_id, _, _, _)| {
            all_groups || access.allows(Op::Describe, Kind::Group, group_id)
        })
        .filter(|(_, _, _, kind)| {
            request.types_filter.is_empty()
                || request
                    .types_filter
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(kind))
        })
        .map(|(group_id, protocol_type, state, kind)| ListedGroup {
            group_id,
            protocol_type,
            group_state: state.to_string(),
            group_type: kind.to_string(),
            ..Default::default()
        })
        .collect();
    ResponseBody::ListGroups(ListGroupsResponse {
        groups,
        ..Default::default()
    })
}

pub async fn describe_groups(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DescribeGroupsRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    // With no authorizer, Kafka answers every operation a group supports
    // when they are asked for (v3+), for the groups it could describe.
    let authorized_operations = if request.include_authorized_operations {
        super::metadata::GROUP_AUTHORIZED_OPERATIONS
    } else {
        i32::MIN
    };
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let result = match ready_for(broker, &access, Op::Describe, &group_id).await {
            Err(code) => Err(code),
            Ok(()) => broker.groups.read(|c| c.describe_group(&group_id)).await,
        };
        let group_operations = if access.enabled() && authorized_operations != i32::MIN {
            access.authorized_operations(Kind::Group, &group_id, authz::GROUP_OPERATIONS)
        } else {
            authorized_operations
        };
        groups.push(match result {
            Err(code) => DescribedGroup {
                error_code: code.code(),
                group_id,
                authorized_operations: i32::MIN,
                ..Default::default()
            },
            Ok(d) => DescribedGroup {
                error_code: 0,
                group_id: d.group_id,
                group_state: d.state.to_string(),
                protocol_type: d.protocol_type,
                protocol_data: d.protocol,
                members: d
                    .members
                    .into_iter()
                    .map(|m| DescribedGroupMember {
                        member_id: m.member_id,
                        group_instance_id: m.instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        member_metadata: m.metadata,
                        member_assignment: m.assignment,
                        ..Default::default()
                    })
                    .collect(),
                authorized_operations: group_operations,
                ..Default::default()
            },
        });
    }
    ResponseBody::DescribeGroups(DescribeGroupsResponse {
        groups,
        ..Default::default()
    })
}

/// ConsumerGroupDescribe: consumer groups of the new protocol (KIP-848)
/// with their epochs, assignor and each member's assignment and target.
/// A classic group, or none, is GROUP_ID_NOT_FOUND (Kafka's Admin then
/// describes it with DescribeGroups).
pub async fn consumer_group_describe(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: ConsumerGroupDescribeRequest,
) -> ResponseBody {
    use consumer_group_describe_response as cgd;
    let access = Access::of(broker, context);
    let image = broker.metadata.image();
    let assignment = |a: &vltava_group::consumer::Assignment| cgd::Assignment {
        topic_partitions: a
            .iter()
            .filter(|(_, ps)| !ps.is_empty())
            .map(|(id, ps)| cgd::TopicPartitions {
                topic_id: *id,
                topic_name: image
                    .topic_by_id(id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default(),
                partitions: ps.iter().copied().collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let mut groups = Vec::with_capacity(request.group_ids.len());
    for group_id in request.group_ids {
        let described = match ready_for(broker, &access, Op::Describe, &group_id).await {
            Err(code) => Err((code, None)),
            Ok(()) => {
                broker
                    .groups
                    .read(|c| match c.consumer_group(&group_id) {
                        Err(code) => Err((code, None)),
                        Ok(None) => Err((
                            ErrorCode::GROUP_ID_NOT_FOUND,
                            Some(format!("Group {group_id} is not a consumer group.")),
                        )),
                        Ok(Some(g)) => Ok(cgd::DescribedGroup {
                            group_id: group_id.clone(),
                            group_state: g.state_name().to_string(),
                            group_epoch: g.group_epoch,
                            assignment_epoch: g.group_epoch,
                            assignor_name: g.assignor().to_string(),
                            members: g
                                .members
                                .values()
                                .map(|m| cgd::Member {
                                    member_id: m.member_id.clone(),
                                    instance_id: m.instance_id.clone(),
                                    rack_id: m.rack_id.clone(),
                                    member_epoch: m.member_epoch,
                                    client_id: m.client_id.clone(),
                                    client_host: m.client_host.clone(),
                                    subscribed_topic_names: m.subscribed_topics.clone(),
                                    subscribed_topic_regex: m.subscribed_regex.clone(),
                                    assignment: assignment(&m.assigned),
                                    target_assignment: assignment(
                                        &g.target.get(&m.member_id).cloned().unwrap_or_default(),
                                    ),
                                    ..Default::default()
                                })
                                .collect(),
                            ..Default::default()
                        }),
                    })
                    .await
            }
        };
        // As Kafka (KAFKA-18813): a group whose members read a topic the
        // principal may not describe is not shown.
        let described = described.and_then(|g| {
            let hidden = g.members.iter().any(|m| {
                m.subscribed_topic_names
                    .iter()
                    .chain(m.assignment.topic_partitions.iter().map(|t| &t.topic_name))
                    .chain(
                        m.target_assignment
                            .topic_partitions
                            .iter()
                            .map(|t| &t.topic_name),
                    )
                    .any(|t| !access.allows(Op::Describe, Kind::Topic, t))
            });
            if hidden {
                Err((
                    ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                    Some("the group reads topics this principal may not describe".into()),
                ))
            } else {
                Ok(g)
            }
        });
        groups.push(match described {
            Ok(mut g) => {
                g.authorized_operations = if !request.include_authorized_operations {
                    i32::MIN
                } else if access.enabled() {
                    access.authorized_operations(Kind::Group, &g.group_id, authz::GROUP_OPERATIONS)
                } else {
                    super::metadata::GROUP_AUTHORIZED_OPERATIONS
                };
                g
            }
            Err((code, message)) => cgd::DescribedGroup {
                error_code: code.code(),
                error_message: message,
                group_id,
                authorized_operations: i32::MIN,
                ..Default::default()
            },
        });
    }
    ResponseBody::ConsumerGroupDescribe(ConsumerGroupDescribeResponse {
        groups,
        ..Default::default()
    })
}

pub async fn delete_groups(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: DeleteGroupsRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let code = match ready_for(broker, &access, Op::Delete, &group_id).await {
            Err(code) => code,
            Ok(()) => {
                let now = broker.now_ms();
                broker
                    .groups
                    .call(|c| c.delete_group(now, &group_id))
                    .await
                    .unwrap_or_else(|code| code)
            }
        };
        results.push(DeletableGroupResult {
            group_id,
            error_code: code.code(),
            ..Default::default()
        });
    }
    ResponseBody::DeleteGroups(DeleteGroupsResponse {
        results,
        ..Default::default()
    })
}

/// Whether a consumer-protocol subscription names `topic`.
fn subscribes_to(metadata: &Bytes, topic: &str) -> bool {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return false;
    }
    let version = buf.get_i16();
    ConsumerProtocolSubscription::decode(
        &mut buf,
        version.clamp(
            ConsumerProtocolSubscription::VERSIONS.min,
            ConsumerProtocolSubscription::VERSIONS.max,
        ),
    )
    .map(|s| s.topics.iter().any(|t| t == topic))
    .unwrap_or(false)
}

pub async fn offset_delete(
    broker: &Broker,
    context: &RequestContext<'_>,
    request: OffsetDeleteRequest,
) -> ResponseBody {
    let access = Access::of(broker, context);
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index))
        })
        .collect();
    // Kafka's checks: Delete on the group, then Read on each topic (a
    // refused topic's partitions answer TOPIC_AUTHORIZATION_FAILED).
    let topic_allowed: Vec<bool> = partitions
        .iter()
        .map(|(t, _)| access.allows(Op::Read, Kind::Topic, t))
        .collect();
    let partitions: Vec<(String, i32)> = partitions
        .into_iter()
        .zip(&topic_allowed)
        .filter_map(|(p, allowed)| allowed.then_some(p))
        .collect();
    let (code, errors) = match ready_for(broker, &access, Op::Delete, &request.group_id).await {
        Err(code) => (code, Vec::new()),
        Ok(()) => broker
            .groups
            .call(|c| {
                let (code, errors, effects) =
                    c.delete_offsets(&request.group_id, &partitions, &subscribes_to);
                ((code, errors), effects)
            })
            .await
            .unwrap_or_else(|code| (code, Vec::new())),
    };
    let mut deleted = errors.into_iter();
    let errors: Vec<ErrorCode> = topic_allowed
        .iter()
        .map(|allowed| match allowed {
            true => deleted.next().unwrap_or(ErrorCode::NONE),
            false => ErrorCode::TOPIC_AUTHORIZATION_FAILED,
        })
        .collect();
    if code.is_error() {
        return ResponseBody::OffsetDelete(OffsetDeleteResponse {
            error_code: code.code(),
            ..Default::default()
        });
    }
    let mut errors = errors.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|t| OffsetDeleteResponseTopic {
            partitions: t
                .partitions
                .iter()
                .map(|p| OffsetDeleteResponsePartition {
                    partition_index: p.partition_index,
                    error_code: errors.next().unwrap_or(ErrorCode::NONE).code(),
                })
                .collect(),
            name: t.name,
        })
        .collect();
    ResponseBody::OffsetDelete(OffsetDeleteResponse {
        topics,
        ..Default::default()
    })
}
