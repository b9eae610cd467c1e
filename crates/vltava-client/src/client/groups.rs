//! Consumer-group administration: finding a group's coordinator, listing,
//! describing and deleting groups, and fetching, committing and deleting
//! committed offsets (as Kafka's admin client does; this client does not
//! join groups itself).
//!
//! Every request about one group goes to the group's coordinator, found
//! with FindCoordinator and remembered per group. When the answer is
//! NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE the coordinator is looked up
//! again; after COORDINATOR_LOAD_IN_PROGRESS the same one is asked again.
//! Either way, and after connect failures (and I/O errors and timeouts: all
//! of these requests may be repeated), the request is retried after
//! `retry_backoff`, `retries` times.

use std::collections::BTreeMap;

use tracing::debug;
use vltava_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use vltava_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use vltava_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use vltava_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, ListGroupsRequest,
    OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest,
};
use vltava_protocol::{ApiKey, ErrorCode};

use super::{nonempty, Client};
use crate::consumer_protocol::{by_topic, decode_assignment, CONSUMER_PROTOCOL_TYPE};
use crate::error::{Error, Result};
use crate::types::*;

/// FindCoordinator's key type of a consumer group.
const GROUP_KEY_TYPE: i8 = 0;

/// Whether a group request that failed with `err` may be sent again.
pub(crate) fn group_retriable(err: &Error) -> bool {
    err.is_coordinator_error()
        || matches!(
            err,
            Error::Connect { .. } | Error::Io { .. } | Error::Timeout { .. }
        )
}

/// Splits an error into the per-item result (a broker's answer about this
/// item) or the error of the whole call (everything else).
fn per_item<T>(result: Result<T>) -> Result<Result<T>> {
    match result {
        Err(e @ Error::Broker(_)) => Ok(Err(e)),
        Err(e) => Err(e),
        Ok(v) => Ok(Ok(v)),
    }
}

impl Client {
    /// Sleeps before attempt `attempt + 1` of a request about `group` if
    /// `err` allows another try, forgetting the coordinator unless it is
    /// only still loading.
    async fn group_backoff(&mut self, group: &str, err: &Error, attempt: u32) -> bool {
        if attempt >= self.config.retries || !group_retriable(err) {
            return false;
        }
        if err.code() != Some(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS) {
            self.coordinators.remove(group);
        }
        debug!(group, attempt, error = %err, "retrying");
        tokio::time::sleep(self.config.retry_backoff).await;
        true
    }

    /// Runs `op` until it succeeds, or fails in a way `group_backoff`
    /// does not retry.
    async fn retry_group<T>(
        &mut self,
        group: &str,
        mut op: impl AsyncFnMut(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            match op(self).await {
                Err(e) if self.group_backoff(group, &e, attempt).await => attempt += 1,
                other => return other,
            }
        }
    }

    /// The broker that coordinates `group` (asked anew, not from the cache).
    pub async fn find_coordinator(&mut self, group: &str) -> Result<BrokerMetadata> {
        self.retry_group(group, async |c| c.find_coordinator_once(group).await)
            .await
    }

    async fn find_coordinator_once(&mut self, group: &str) -> Result<BrokerMetadata> {
        let coordinator = self.locate_coordinator(GROUP_KEY_TYPE, group).await?;
        self.coordinators
            .insert(group.to_string(), coordinator.node_id);
        Ok(coordinator)
    }

    /// FindCoordinator for one key of `key_type` (0 a group, 1 a
    /// transactional id), once; the broker it names is added to the known
    /// brokers.
    pub(crate) async fn locate_coordinator(
        &mut self,
        key_type: i8,
        key: &str,
    ) -> Result<BrokerMetadata> {
        let what = if key_type == GROUP_KEY_TYPE {
            "group"
        } else {
            "transactional id"
        };
        let conn_key = self.any_connection().await?;
        let conn = self.conn_mut(conn_key);
        let version = conn.negotiated_version(ApiKey::FindCoordinator)?;
        let req = if version >= 4 {
            FindCoordinatorRequest {
                key_type,
                coordinator_keys: vec![key.to_string()],
                ..Default::default()
            }
        } else {
            FindCoordinatorRequest {
                key: key.to_string(),
                key_type,
                ..Default::default()
            }
        };
        let resp = conn.send_version(&req, version).await?;
        let (code, message, node_id, host, port) = if version >= 4 {
            let c = resp
                .coordinators
                .into_iter()
                .find(|c| c.key == key)
                .ok_or_else(|| {
                    Error::Protocol(format!("FindCoordinator answer leaves out {what} {key}"))
                })?;
            (c.error_code, c.error_message, c.node_id, c.host, c.port)
        } else {
            (
                resp.error_code,
                resp.error_message,
                resp.node_id,
                resp.host,
                resp.port,
            )
        };
        let code = ErrorCode(code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                nonempty(message),
                format!("find the coordinator of {what} {key}"),
            ));
        }
        if node_id < 0 || port <= 0 {
            return Err(Error::Protocol(format!(
                "FindCoordinator named node {node_id} at {host}:{port} for {what} {key}"
            )));
        }
        // A broker the last metadata answer did not list yet: connect by
        // the address the coordinator answer gives.
        Ok(self
            .brokers
            .entry(node_id)
            .or_insert(BrokerMetadata {
                node_id,
                host,
                port,
                rack: None,
            })
            .clone())
    }

    /// The node id of the coordinator of `group`, remembered or found.
    async fn coordinator_for(&mut self, group: &str) -> Result<i32> {
        if let Some(&node) = self.coordinators.get(group) {
            if self.brokers.contains_key(&node) {
                return Ok(node);
            }
        }
        Ok(self.find_coordinator_once(group).await?.node_id)
    }

    // ---- groups ------------------------------------------------------

    /// Every group of the cluster (ListGroups to every broker), sorted by
    /// group id.
    pub async fn list_groups(&mut self) -> Result<Vec<ListedGroup>> {
        self.metadata(Some(&[])).await?;
        let nodes: Vec<i32> = self.brokers.keys().copied().collect();
        let mut all: BTreeMap<String, ListedGroup> = BTreeMap::new();
        for node in nodes {
            let mut attempt = 0;
            let groups = loop {
                match self.list_groups_on(node).await {
                    Ok(groups) => break groups,
                    Err(e) if attempt < self.config.retries && group_retriable(&e) => {
                        debug!(node, attempt, error = %e, "retrying");
                        attempt += 1;
                        tokio::time::sleep(self.config.retry_backoff).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            for g in groups {
                all.insert(g.group_id.clone(), g);
            }
        }
        Ok(all.into_values().collect())
    }

    async fn list_groups_on(&mut self, node: i32) -> Result<Vec<ListedGroup>> {
        let conn = self.connection(node).await?;
        let version = conn.negotiated_version(ApiKey::ListGroups)?;
        let resp = conn
            .send_version(&ListGroupsRequest::default(), version)
            .await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                None,
                format!("list the groups of broker {node}"),
            ));
        }
        Ok(resp
            .groups
            .into_iter()
            .map(|g| ListedGroup {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                state: (version >= 4).then_some(g.group_state),
                group_type: (version >= 5).then_some(g.group_type),
            })
            .collect())
    }

    /// Describes groups; one result per group, in order. A group that does
    /// not exist is described with state `Dead` (as Kafka does). The outer
    /// error is for failures other than a broker's answer.
    pub async fn describe_groups(
        &mut self,
        groups: &[&str],
    ) -> Result<Vec<Result<GroupDescription>>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            out.push(per_item(self.describe_group(group).await)?);
        }
        Ok(out)
    }

    /// Describes one group.
    pub async fn describe_group(&mut self, group: &str) -> Result<GroupDescription> {
        self.retry_group(group, async |c| c.describe_group_once(group).await)
            .await
    }

    async fn describe_group_once(&mut self, group: &str) -> Result<GroupDescription> {
        let node = self.coordinator_for(group).await?;
        let coordinator = self.brokers[&node].clone();
        let conn = self.connection(node).await?;
        // A consumer group of the new protocol (KIP-848) is described by
        // ConsumerGroupDescribe; any other answers GROUP_ID_NOT_FOUND
        // there and is described by DescribeGroups (as Kafka's Admin
        // does).
        if conn
            .broker_versions(ApiKey::ConsumerGroupDescribe)
            .is_some()
        {
            let resp = conn
                .send(&vltava_protocol::messages::ConsumerGroupDescribeRequest {
                    group_ids: vec![group.to_string()],
                    ..Default::default()
                })
                .await?;
            if let Some(g) = resp.groups.into_iter().find(|g| g.group_id == group) {
                let code = ErrorCode(g.error_code);
                if code == ErrorCode::NONE {
                    return Ok(consumer_group_description(g, coordinator));
                }
                // Kafka 3.7-3.9 brokers without the new coordinator answer
                // UNSUPPORTED_VERSION here.
                if code != ErrorCode::GROUP_ID_NOT_FOUND && code != ErrorCode::UNSUPPORTED_VERSION {
                    return Err(Error::broker(
                        code,
                        g.error_message,
                        format!("describe group {group}"),
                    ));
                }
            }
        }
        let req = DescribeGroupsRequest {
            groups: vec![group.to_string()],
            include_authorized_operations: false,
            ..Default::default()
        };
        let resp = conn.send(&req).await?;
        let g = resp
            .groups
            .into_iter()
            .find(|g| g.group_id == group)
            .ok_or_else(|| {
                Error::Protocol(format!("DescribeGroups answer leaves out group {group}"))
            })?;
        let code = ErrorCode(g.error_code);
        if code.is_error() {
            return Err(Error::broker(code, None, format!("describe group {group}")));
        }
        let consumer = g.protocol_type == CONSUMER_PROTOCOL_TYPE;
        let members = g
            .members
            .into_iter()
            .map(|m| GroupMember {
                consumer_assignment: if consumer && !m.member_assignment.is_empty() {
                    decode_assignment(&m.member_assignment)
                } else {
                    None
                },
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                metadata: m.member_metadata,
                assignment: m.member_assignment,
            })
            .collect();
        Ok(GroupDescription {
            group_id: g.group_id,
            state: g.group_state,
            protocol_type: g.protocol_type,
            protocol: g.protocol_data,
            members,
            coordinator,
        })
    }

    /// Deletes groups with their committed offsets; one result per group,
    /// in order. Only groups without members can be deleted
    /// (NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND for unknown groups).
    /// The outer error is for failures other than a broker's answer.
    pub async fn delete_groups(&mut self, groups: &[&str]) -> Result<Vec<Result<()>>> {
        let mut out = Vec::with_capacity(groups.len());
        for group in groups {
            out.push(per_item(self.delete_group(group).await)?);
        }
        Ok(out)
    }

    /// Deletes one group.
    pub async fn delete_group(&mut self, group: &str) -> Result<()> {
        self.retry_group(group, async |c| c.delete_group_once(group).await)
            .await
    }

    async fn delete_group_once(&mut self, group: &str) -> Result<()> {
        let node = self.coordinator_for(group).await?;
        let conn = self.connection(node).await?;
        let req = DeleteGroupsRequest {
            groups_names: vec![group.to_string()],
            ..Default::default()
        };
        let resp = conn.send(&req).await?;
        let r = resp
            .results
            .into_iter()
            .find(|r| r.group_id == group)
            .ok_or_else(|| {
                Error::Protocol(format!("DeleteGroups answer leaves out group {group}"))
            })?;
        let code = ErrorCode(r.error_code);
        if code.is_error() {
            return Err(Error::broker(code, None, format!("delete group {group}")));
        }
        Ok(())
    }

    // ---- committed offsets -------------------------------------------

    /// The offsets `group` committed: for `partitions`, or every partition
    /// it committed for when `None`. Sorted by topic and partition; a
    /// partition without a committed offset has `offset: None`.
    pub async fn fetch_offsets(
        &mut self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<CommittedOffset>> {
        self.retry_group(group, async |c| {
            c.fetch_offsets_once(group, partitions).await
        })
        .await
    }

    async fn fetch_offsets_once(
        &mut self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<CommittedOffset>> {
        let node = self.coordinator_for(group).await?;
        let conn = self.connection(node).await?;
        // v0 reads offsets from ZooKeeper; "all partitions" (null) needs v2.
        let min = if partitions.is_none() { 2 } else { 1 };
        let version = conn.negotiated_version_at_least(ApiKey::OffsetFetch, min)?;
        let topics =
            partitions.map(|ps| by_topic(ps.iter().map(|tp| (tp.topic.as_str(), tp.partition))));
        let req = if version >= 8 {
            OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup {
                    group_id: group.to_string(),
                    member_id: None,
                    member_epoch: -1,
                    topics: topics.map(|ts| {
                        ts.into_iter()
                            .map(|(name, partition_indexes)| OffsetFetchRequestTopics {
                                name,
                                partition_indexes,
                                ..Default::default()
                            })
                            .collect()
                    }),
                    ..Default::default()
                }],
                require_stable: false,
                ..Default::default()
            }
        } else {
            OffsetFetchRequest {
                group_id: group.to_string(),
                topics: topics.map(|ts| {
                    ts.into_iter()
                        .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                            name,
                            partition_indexes,
                            ..Default::default()
                        })
                        .collect()
                }),
                ..Default::default()
            }
        };
        let resp = conn.send_version(&req, version).await?;
        let context = || format!("fetch the committed offsets of group {group}");
        // (topic, partition, offset, leader epoch, metadata, error)
        let mut rows: Vec<(String, i32, i64, i32, Option<String>, i16)> = Vec::new();
        if version >= 8 {
            let g = resp
                .groups
                .into_iter()
                .find(|g| g.group_id == group)
                .ok_or_else(|| {
                    Error::Protocol(format!("OffsetFetch answer leaves out group {group}"))
                })?;
            let code = ErrorCode(g.error_code);
            if code.is_error() {
                return Err(Error::broker(code, None, context()));
            }
            for t in g.topics {
                for p in t.partitions {
                    rows.push((
                        t.name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        p.metadata,
                        p.error_code,
                    ));
                }
            }
        } else {
            let code = ErrorCode(resp.error_code);
            if code.is_error() {
                return Err(Error::broker(code, None, context()));
            }
            for t in resp.topics {
                for p in t.partitions {
                    rows.push((
                        t.name.clone(),
                        p.partition_index,
                        p.committed_offset,
                        if version >= 5 {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        p.metadata,
                        p.error_code,
                    ));
                }
            }
        }
        let mut out = Vec::with_capacity(rows.len());
        for (topic, partition, offset, leader_epoch, metadata, code) in rows {
            let code = ErrorCode(code);
            if code.is_error() {
                return Err(Error::broker(
                    code,
                    None,
                    format!("fetch the committed offset of group {group} for {topic}-{partition}"),
                ));
            }
            out.push(CommittedOffset {
                topic,
                partition,
                offset: (offset >= 0).then_some(offset),
                leader_epoch,
                metadata,
            });
        }
        if let Some(asked) = partitions {
            if let Some(missing) = asked.iter().find(|tp| {
                !out.iter()
                    .any(|o| o.topic == tp.topic && o.partition == tp.partition)
            }) {
                return Err(Error::Protocol(format!(
                    "OffsetFetch answer leaves out {missing}"
                )));
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    /// Commits offsets for `group` as a consumer outside the group would
    /// (generation -1, no member id: Kafka's admin `alterConsumerGroupOffsets`).
    /// The coordinator accepts this only while the group has no members
    /// (UNKNOWN_MEMBER_ID otherwise). Fails with the first partition's
    /// error if any partition was refused.
    pub async fn commit_offsets(&mut self, group: &str, offsets: &[OffsetToCommit]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        self.retry_group(group, async |c| c.commit_offsets_once(group, offsets).await)
            .await
    }

    async fn commit_offsets_once(&mut self, group: &str, offsets: &[OffsetToCommit]) -> Result<()> {
        let node = self.coordinator_for(group).await?;
        let conn = self.connection(node).await?;
        // v0 commits to ZooKeeper; v1 carries a timestamp per partition.
        let version = conn.negotiated_version_at_least(ApiKey::OffsetCommit, 2)?;
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for o in offsets {
            let partition = OffsetCommitRequestPartition {
                partition_index: o.partition,
                committed_offset: o.offset,
                committed_leader_epoch: if version >= 6 { o.leader_epoch } else { -1 },
                commit_timestamp: -1,
                committed_metadata: o.metadata.clone(),
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.name == o.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(OffsetCommitRequestTopic {
                    name: o.topic.clone(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let req = OffsetCommitRequest {
            group_id: group.to_string(),
            generation_id_or_member_epoch: -1,
            member_id: String::new(),
            group_instance_id: None,
            retention_time_ms: -1,
            topics,
            ..Default::default()
        };
        let resp = conn.send_version(&req, version).await?;
        let mut first_error = None;
        for o in offsets {
            let p = resp
                .topics
                .iter()
                .filter(|t| t.name == o.topic)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.partition_index == o.partition)
                .ok_or_else(|| {
                    Error::Protocol(format!(
                        "OffsetCommit answer leaves out {}-{}",
                        o.topic, o.partition
                    ))
                })?;
            let code = ErrorCode(p.error_code);
            if code.is_error() {
                let e = Error::broker(
                    code,
                    None,
                    format!(
                        "commit offset {} of group {group} for {}-{}",
                        o.offset, o.topic, o.partition
                    ),
                );
                // A coordinator error anywhere means the whole commit is retried.
                if e.is_coordinator_error() {
                    return Err(e);
                }
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Deletes committed offsets of `group` (OffsetDelete); one result per
    /// partition, in order. Refused per partition
    /// (GROUP_SUBSCRIBED_TO_TOPIC) for topics the group's members consume;
    /// the outer error covers the group as a whole (GROUP_ID_NOT_FOUND, ...).
    pub async fn delete_offsets(
        &mut self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Result<()>>> {
        self.retry_group(group, async |c| {
            c.delete_offsets_once(group, partitions).await
        })
        .await
    }

    async fn delete_offsets_once(
        &mut self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Result<()>>> {
        let node = self.coordinator_for(group).await?;
        let conn = self.connection(node).await?;
        let req = OffsetDeleteRequest {
            group_id: group.to_string(),
            topics: by_topic(
                partitions
                    .iter()
                    .map(|tp| (tp.topic.as_str(), tp.partition)),
            )
            .into_iter()
            .map(|(name, ps)| OffsetDeleteRequestTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|partition_index| OffsetDeleteRequestPartition { partition_index })
                    .collect(),
            })
            .collect(),
        };
        let resp = conn.send(&req).await?;
        let code = ErrorCode(resp.error_code);
        if code.is_error() {
            return Err(Error::broker(
                code,
                None,
                format!("delete committed offsets of group {group}"),
            ));
        }
        partitions
            .iter()
            .map(|tp| {
                let p = resp
                    .topics
                    .iter()
                    .filter(|t| t.name == tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == tp.partition)
                    .ok_or_else(|| {
                        Error::Protocol(format!("OffsetDelete answer leaves out {tp}"))
                    })?;
                let code = ErrorCode(p.error_code);
                Ok(if code.is_error() {
                    Err(Error::broker(
                        code,
                        None,
                        format!("delete the committed offset of group {group} for {tp}"),
                    ))
                } else {
                    Ok(())
                })
            })
            .collect()
    }
}

/// A ConsumerGroupDescribe answer in the form DescribeGroups' answers take
/// here: protocol type `consumer`, the assignor as the protocol, and each
/// member's current assignment decoded (there are no classic metadata or
/// assignment bytes).
fn consumer_group_description(
    g: vltava_protocol::messages::consumer_group_describe_response::DescribedGroup,
    coordinator: BrokerMetadata,
) -> GroupDescription {
    let members = g
        .members
        .into_iter()
        .map(|m| {
            let mut partitions: Vec<TopicPartition> = m
                .assignment
                .topic_partitions
                .into_iter()
                .flat_map(|t| {
                    let topic = t.topic_name;
                    t.partitions.into_iter().map(move |p| TopicPartition {
                        topic: topic.clone(),
                        partition: p,
                    })
                })
                .collect();
            partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
            GroupMember {
                member_id: m.member_id,
                group_instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                metadata: bytes::Bytes::new(),
                assignment: bytes::Bytes::new(),
                consumer_assignment: Some(MemberAssignment {
                    partitions,
                    user_data: None,
                }),
            }
        })
        .collect();
    GroupDescription {
        group_id: g.group_id,
        state: g.group_state,
        protocol_type: CONSUMER_PROTOCOL_TYPE.to_string(),
        protocol: g.assignor_name,
        members,
        coordinator,
    }
}
