//! The records of consumer groups of the new protocol (KIP-848) in
//! `__consumer_offsets`, in Kafka's binary formats (generated from the
//! group-coordinator specs), so Kafka's tools that read the topic see
//! what Kafka would write and a coordinator that loads the partition
//! rebuilds the groups.
//!
//! Each kind of record has its own key version (3 to 8, the version the
//! key's spec names): the group epoch, the subscribed topics' metadata,
//! a member's metadata, the target assignment's epoch, a member's target
//! assignment, a member's current assignment. Values are version 0; a
//! null value is a tombstone. A group's changes are written in Kafka's
//! order: a leaving member's current assignment, target and metadata
//! tombstones; members' metadata; the epoch with the topics' metadata;
//! members' targets, then the target's epoch; members' current
//! assignments.

use std::collections::BTreeMap;

use bytes::Bytes;
use vltava_protocol::messages::{
    consumer_group_current_member_assignment_value as current_value,
    consumer_group_partition_metadata_value as topics_value,
    consumer_group_target_assignment_member_value as target_value,
    ConsumerGroupCurrentMemberAssignmentKey, ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey, ConsumerGroupMemberMetadataValue, ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue, ConsumerGroupPartitionMetadataKey,
    ConsumerGroupPartitionMetadataValue, ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue, ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
};
use vltava_protocol::{DecodeError, Message, Uuid};

use crate::consumer::{
    Assignment, Changes, ConsumerGroup, CurrentAssignment, GroupRecord, MemberMetadata, MemberState,
};
use crate::records::versioned;

pub const EPOCH_KEY: i16 = 3;
pub const TOPICS_KEY: i16 = 4;
pub const MEMBER_KEY: i16 = 5;
pub const TARGET_EPOCH_KEY: i16 = 6;
pub const TARGET_KEY: i16 = 7;
pub const CURRENT_KEY: i16 = 8;
const VALUE_VERSION: i16 = 0;

fn value<M: Message>(message: &M) -> Option<Bytes> {
    Some(versioned(VALUE_VERSION, message))
}

fn epoch_key(group: &str) -> Bytes {
    versioned(
        EPOCH_KEY,
        &ConsumerGroupMetadataKey {
            group_id: group.into(),
        },
    )
}

fn topics_key(group: &str) -> Bytes {
    versioned(
        TOPICS_KEY,
        &ConsumerGroupPartitionMetadataKey {
            group_id: group.into(),
        },
    )
}

fn member_key(group: &str, member: &str) -> Bytes {
    versioned(
        MEMBER_KEY,
        &ConsumerGroupMemberMetadataKey {
            group_id: group.into(),
            member_id: member.into(),
        },
    )
}

fn target_epoch_key(group: &str) -> Bytes {
    versioned(
        TARGET_EPOCH_KEY,
        &ConsumerGroupTargetAssignmentMetadataKey {
            group_id: group.into(),
        },
    )
}

fn target_key(group: &str, member: &str) -> Bytes {
    versioned(
        TARGET_KEY,
        &ConsumerGroupTargetAssignmentMemberKey {
            group_id: group.into(),
            member_id: member.into(),
        },
    )
}

fn current_key(group: &str, member: &str) -> Bytes {
    versioned(
        CURRENT_KEY,
        &ConsumerGroupCurrentMemberAssignmentKey {
            group_id: group.into(),
            member_id: member.into(),
        },
    )
}

fn member_value(m: &MemberMetadata) -> ConsumerGroupMemberMetadataValue {
    ConsumerGroupMemberMetadataValue {
        instance_id: m.instance_id.clone(),
        rack_id: m.rack_id.clone(),
        client_id: m.client_id.clone(),
        client_host: m.client_host.clone(),
        subscribed_topic_names: m.subscribed_topics.clone(),
        subscribed_topic_regex: m.subscribed_regex.clone(),
        rebalance_timeout_ms: m.rebalance_timeout_ms,
        server_assignor: m.server_assignor.clone(),
        ..Default::default()
    }
}

fn current_partitions(a: &Assignment) -> Vec<current_value::TopicPartitions> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(topic_id, ps)| current_value::TopicPartitions {
            topic_id: *topic_id,
            partitions: ps.iter().copied().collect(),
            ..Default::default()
        })
        .collect()
}

fn assignment_of<'a>(topics: impl Iterator<Item = (&'a Uuid, &'a Vec<i32>)>) -> Assignment {
    let mut out = Assignment::new();
    for (topic_id, ps) in topics {
        if !ps.is_empty() {
            out.entry(*topic_id).or_default().extend(ps.iter().copied());
        }
    }
    out
}

/// The records for what changed in `group` (see the module's order).
pub fn records(
    group_id: &str,
    group: &ConsumerGroup,
    changes: &Changes,
) -> Vec<(Bytes, Option<Bytes>)> {
    let mut out = Vec::new();
    for id in &changes.removed {
        out.push((current_key(group_id, id), None));
        out.push((target_key(group_id, id), None));
        out.push((member_key(group_id, id), None));
    }
    for id in &changes.metadata {
        if let Some(m) = group.members.get(id) {
            out.push((
                member_key(group_id, id),
                value(&member_value(&m.metadata())),
            ));
        }
    }
    if changes.epoch {
        out.push((topics_key(group_id), value(&topics_record(&group.topics))));
        out.push((
            epoch_key(group_id),
            value(&ConsumerGroupMetadataValue {
                epoch: group.group_epoch,
                ..Default::default()
            }),
        ));
    }
    for id in &changes.target {
        let target = group.target.get(id).cloned().unwrap_or_default();
        out.push((
            target_key(group_id, id),
            value(&ConsumerGroupTargetAssignmentMemberValue {
                topic_partitions: target
                    .iter()
                    .filter(|(_, ps)| !ps.is_empty())
                    .map(|(topic_id, ps)| target_value::TopicPartition {
                        topic_id: *topic_id,
                        partitions: ps.iter().copied().collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
        ));
    }
    if changes.epoch {
        out.push((
            target_epoch_key(group_id),
            value(&ConsumerGroupTargetAssignmentMetadataValue {
                assignment_epoch: group.group_epoch,
                ..Default::default()
            }),
        ));
    }
    for id in &changes.current {
        if let Some(m) = group.members.get(id) {
            out.push((
                current_key(group_id, id),
                value(&ConsumerGroupCurrentMemberAssignmentValue {
                    member_epoch: m.member_epoch,
                    previous_member_epoch: m.previous_member_epoch,
                    state: m.state.code(),
                    assigned_partitions: current_partitions(&m.assigned),
                    partitions_pending_revocation: current_partitions(&m.pending_revocation),
                    ..Default::default()
                }),
            ));
        }
    }
    out
}

fn topics_record(topics: &BTreeMap<String, (Uuid, i32)>) -> ConsumerGroupPartitionMetadataValue {
    ConsumerGroupPartitionMetadataValue {
        topics: topics
            .iter()
            .map(|(name, (id, partitions))| topics_value::TopicMetadata {
                topic_id: *id,
                topic_name: name.clone(),
                num_partitions: *partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every record of the group, as tombstones: it is deleted, or becomes a
/// classic group (its members' first, then the group's own).
pub fn tombstones(group_id: &str, group: &ConsumerGroup) -> Vec<(Bytes, Option<Bytes>)> {
    let mut out = Vec::new();
    // Members gone whose tombstones are not written yet (their write
    // failed) are members of the log still.
    let ids: std::collections::BTreeSet<&String> = group
        .members
        .keys()
        .chain(group.unwritten_removals())
        .collect();
    for id in ids {
        out.push((current_key(group_id, id), None));
        out.push((target_key(group_id, id), None));
        out.push((member_key(group_id, id), None));
    }
    out.push((target_epoch_key(group_id), None));
    out.push((topics_key(group_id), None));
    out.push((epoch_key(group_id), None));
    out
}

/// Why a record of a consumer group could not be read.
#[derive(Clone, Debug, PartialEq)]
pub enum ConsumerRecordError {
    Decode(DecodeError),
    UnknownValueVersion(i16),
    UnknownMemberState(i8),
    NotAConsumerGroupKey(i16),
}

impl std::fmt::Display for ConsumerRecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsumerRecordError::Decode(e) => write!(f, "{e}"),
            ConsumerRecordError::UnknownValueVersion(v) => write!(f, "unknown value version {v}"),
            ConsumerRecordError::UnknownMemberState(s) => write!(f, "unknown member state {s}"),
            ConsumerRecordError::NotAConsumerGroupKey(v) => {
                write!(f, "key version {v} is not a consumer group record's")
            }
        }
    }
}

fn decode_value<M: Message>(value: Option<Bytes>) -> Result<Option<M>, ConsumerRecordError> {
    let Some(mut v) = value else {
        return Ok(None);
    };
    let version = vltava_protocol::codec::read_i16(&mut v).map_err(ConsumerRecordError::Decode)?;
    // Newer values add fields at the end or as tagged fields; ours is the
    // only one the specs here define.
    if version != VALUE_VERSION {
        return Err(ConsumerRecordError::UnknownValueVersion(version));
    }
    M::decode(&mut v, version)
        .map(Some)
        .map_err(ConsumerRecordError::Decode)
}

/// Decodes a record whose key version (3 to 8) says it is one of a
/// consumer group's; `key` is what follows the version. Returns the group
/// id and the record.
pub fn decode(
    key_version: i16,
    mut key: Bytes,
    value: Option<Bytes>,
) -> Result<(String, GroupRecord), ConsumerRecordError> {
    let d = ConsumerRecordError::Decode;
    Ok(match key_version {
        EPOCH_KEY => {
            let k = ConsumerGroupMetadataKey::decode(&mut key, key_version).map_err(d)?;
            let v = decode_value::<ConsumerGroupMetadataValue>(value)?;
            (k.group_id, GroupRecord::Epoch(v.map(|v| v.epoch)))
        }
        TOPICS_KEY => {
            let k = ConsumerGroupPartitionMetadataKey::decode(&mut key, key_version).map_err(d)?;
            let v = decode_value::<ConsumerGroupPartitionMetadataValue>(value)?;
            let topics = v.map(|v| {
                v.topics
                    .into_iter()
                    .map(|t| (t.topic_name, (t.topic_id, t.num_partitions)))
                    .collect()
            });
            (k.group_id, GroupRecord::Topics(topics))
        }
        MEMBER_KEY => {
            let k = ConsumerGroupMemberMetadataKey::decode(&mut key, key_version).map_err(d)?;
            let v = decode_value::<ConsumerGroupMemberMetadataValue>(value)?;
            let m = v.map(|v| MemberMetadata {
                instance_id: v.instance_id,
                rack_id: v.rack_id,
                client_id: v.client_id,
                client_host: v.client_host,
                subscribed_topics: v.subscribed_topic_names,
                subscribed_regex: v.subscribed_topic_regex.filter(|r| !r.is_empty()),
                rebalance_timeout_ms: v.rebalance_timeout_ms,
                server_assignor: v.server_assignor,
            });
            (k.group_id, GroupRecord::Member(k.member_id, m))
        }
        TARGET_EPOCH_KEY => {
            let k = ConsumerGroupTargetAssignmentMetadataKey::decode(&mut key, key_version)
                .map_err(d)?;
            let v = decode_value::<ConsumerGroupTargetAssignmentMetadataValue>(value)?;
            (
                k.group_id,
                GroupRecord::TargetEpoch(v.map(|v| v.assignment_epoch)),
            )
        }
        TARGET_KEY => {
            let k =
                ConsumerGroupTargetAssignmentMemberKey::decode(&mut key, key_version).map_err(d)?;
            let v = decode_value::<ConsumerGroupTargetAssignmentMemberValue>(value)?;
            let target = v.map(|v| {
                assignment_of(
                    v.topic_partitions
                        .iter()
                        .map(|t| (&t.topic_id, &t.partitions)),
                )
            });
            (k.group_id, GroupRecord::Target(k.member_id, target))
        }
        CURRENT_KEY => {
            let k = ConsumerGroupCurrentMemberAssignmentKey::decode(&mut key, key_version)
                .map_err(d)?;
            let v = decode_value::<ConsumerGroupCurrentMemberAssignmentValue>(value)?;
            let current = match v {
                None => None,
                Some(v) => Some(CurrentAssignment {
                    member_epoch: v.member_epoch,
                    previous_member_epoch: v.previous_member_epoch,
                    state: MemberState::from_code(v.state)
                        .ok_or(ConsumerRecordError::UnknownMemberState(v.state))?,
                    assigned: assignment_of(
                        v.assigned_partitions
                            .iter()
                            .map(|t| (&t.topic_id, &t.partitions)),
                    ),
                    pending_revocation: assignment_of(
                        v.partitions_pending_revocation
                            .iter()
                            .map(|t| (&t.topic_id, &t.partitions)),
                    ),
                }),
            };
            (k.group_id, GroupRecord::Current(k.member_id, current))
        }
        other => return Err(ConsumerRecordError::NotAConsumerGroupKey(other)),
    })
}
