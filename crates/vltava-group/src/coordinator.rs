//! The classic group coordinator (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup / OffsetCommit / OffsetFetch and the admin calls) as a
//! deterministic state machine.
//!
//! Inputs are requests, records replayed from `__consumer_offsets`, and
//! `tick(now)`; time is always passed in. Outputs are answers and records to
//! append ([`Effects`]). JoinGroup and SyncGroup answers may be delayed until
//! other members act or a timer fires: the caller passes a [`ReplyId`] and
//! receives the answer later in some call's `Effects::replies`. The caller
//! appends `Effects::records` durably *before* sending the replies of the
//! same `Effects`.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use vltava_protocol::messages::group_metadata_value::MemberMetadata;
use vltava_protocol::messages::{GroupMetadataValue, OffsetCommitValue};
use vltava_protocol::ErrorCode;

use crate::consumer::{self, ConsumerGroup, ConsumerGroupConfig, HeartbeatResult, TopicLookup};
use crate::consumer_records;
use crate::group::{CommittedOffset, Group, GroupState, Member, PendingJoin, ReplyId};
use crate::records::{self, OffsetsRecord};

/// Broker settings the coordinator follows (Kafka's names).
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// `offsets.topic.num.partitions`.
    pub partitions: i32,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: i32,
    /// `group.max.size`.
    pub max_group_size: usize,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub max_metadata_bytes: usize,
    /// `group.consumer.*`: groups of the new protocol (KIP-848).
    pub consumer: ConsumerGroupConfig,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            partitions: 50,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_group_size: i32::MAX as usize,
            offsets_retention_ms: 7 * 24 * 3_600_000,
            max_metadata_bytes: 4096,
            consumer: ConsumerGroupConfig::default(),
        }
    }
}

/// A JoinGroup request as the coordinator needs it.
#[derive(Clone, Debug, Default)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: a first join gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
    /// JoinGroup v9+.
    pub supports_skip_assignment: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JoinMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JoinResult {
    pub error: ErrorCode,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    pub member_id: String,
    /// Filled for the leader only.
    pub members: Vec<JoinMember>,
}

impl JoinResult {
    pub fn error(error: ErrorCode, member_id: &str) -> JoinResult {
        JoinResult {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SyncResult {
    pub error: ErrorCode,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: ErrorCode) -> SyncResult {
        SyncResult {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    Join(JoinResult),
    Sync(SyncResult),
}

/// What a call produced: records to append (partition of
/// `__consumer_offsets`, key, value or tombstone), then answers to send.
#[derive(Debug, Default)]
pub struct Effects {
    pub records: Vec<(i32, Bytes, Option<Bytes>)>,
    pub replies: Vec<(ReplyId, Reply)>,
    /// Offsets this call committed (OffsetCommit). They are not visible to
    /// OffsetFetch until the caller reports, with
    /// [`GroupCoordinator::offsets_written`], whether `records` reached
    /// every in-sync replica: a read must never see an offset that a
    /// coordinator failover could still lose (Kafka keeps such commits
    /// pending the same way).
    pub offset_write: Option<OffsetWrite>,
    /// Members of new-protocol groups removed by `tick` (group, why), for
    /// the log.
    pub consumer_removals: Vec<(String, consumer::Removal)>,
    /// The changes of new-protocol groups that `records` write. If the
    /// records cannot be written, hand them back with
    /// [`GroupCoordinator::consumer_records_failed`], so they are written
    /// with the group's next ones (otherwise a coordinator that loads the
    /// partition later would miss them).
    pub consumer_changes: Vec<(String, consumer::Changes)>,
}

/// One OffsetCommit's offsets, pending until their records are replicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OffsetWrite(u64);

/// Offsets written but not yet known to be replicated.
#[derive(Clone, Debug)]
struct PendingOffsetWrite {
    /// The `__consumer_offsets` partition the records went to.
    partition: i32,
    group: String,
    offsets: Vec<((String, i32), CommittedOffset)>,
}

impl Effects {
    fn reply(&mut self, id: ReplyId, reply: Reply) {
        self.replies.push((id, reply));
    }

    /// The records of what changed in a new-protocol group since they
    /// were last taken.
    fn write_consumer_group(&mut self, partition: i32, group_id: &str, group: &mut ConsumerGroup) {
        let changes = group.take_changes();
        if changes.is_empty() {
            return;
        }
        for (key, value) in consumer_records::records(group_id, group, &changes) {
            self.records.push((partition, key, value));
        }
        self.consumer_changes.push((group_id.to_string(), changes));
    }

    /// Tombstones for every record of a new-protocol group that is
    /// deleted or becomes a classic group.
    fn delete_consumer_group(&mut self, partition: i32, group_id: &str, group: &ConsumerGroup) {
        for (key, value) in consumer_records::tombstones(group_id, group) {
            self.records.push((partition, key, value));
        }
    }
}

/// A SyncGroup request.
#[derive(Clone, Debug, Default)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// One partition of an OffsetCommit.
#[derive(Clone, Debug)]
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// One partition of an OffsetFetch answer.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchedOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub error: ErrorCode,
}

/// A group as DescribeGroups shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// A group as monitoring sees it (`GroupCoordinator::group_offsets`).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupOffsets {
    pub group_id: String,
    pub state: &'static str,
    pub members: usize,
    /// (topic, partition, committed offset, commit timestamp in ms).
    pub offsets: Vec<(String, i32, i64, i64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// The length of what [`GroupCoordinator::new_member_id`] puts after the
/// client or instance id: `-` and a UUID.
const MEMBER_ID_SUFFIX: usize = 37;

/// The coordinator of the groups whose `__consumer_offsets` partitions this
/// broker has loaded.
pub struct GroupCoordinator {
    config: CoordinatorConfig,
    groups: HashMap<String, Group>,
    /// Offsets committed inside transactions not yet decided (TxnOffsetCommit,
    /// KIP-98): producer id -> (group, topic, partition) -> offset. They
    /// become committed offsets when the commit marker reaches the group's
    /// partition, and vanish on abort.
    pending_txn: HashMap<i64, HashMap<(String, String, i32), CommittedOffset>>,
    /// OffsetCommits appended but not yet replicated, in append order (the
    /// order of the log of each partition).
    pending_offset_writes: BTreeMap<OffsetWrite, PendingOffsetWrite>,
    next_offset_write: u64,
    loaded: HashSet<i32>,
    /// Source of unique member ids: a per-process random prefix plus a counter.
    id_prefix: String,
    id_counter: u64,
}

impl GroupCoordinator {
    /// `id_seed` makes member ids unique across restarts (pass random bits;
    /// tests pass a constant).
    pub fn new(config: CoordinatorConfig, id_seed: u64) -> GroupCoordinator {
        GroupCoordinator {
            config,
            groups: HashMap::new(),
            pending_txn: HashMap::new(),
            pending_offset_writes: BTreeMap::new(),
            next_offset_write: 0,
            loaded: HashSet::new(),
            id_prefix: format!("{id_seed:016x}"),
            id_counter: 0,
        }
    }

    pub fn config(&self) -> &CoordinatorConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: CoordinatorConfig) {
        self.config = config;
    }

    pub fn partition_for(&self, group_id: &str) -> i32 {
        records::partition_for_group(group_id, self.config.partitions)
    }

    pub fn is_partition_loaded(&self, partition: i32) -> bool {
        self.loaded.contains(&partition)
    }

    /// Whether the group's partition is loaded here.
    pub fn is_loaded(&self, group_id: &str) -> bool {
        self.loaded.contains(&self.partition_for(group_id))
    }

    /// Kafka's form (ClassicGroup.generateMemberId): the group instance id
    /// of a static member, else the client id, then '-' and a UUID-shaped
    /// unique suffix (8-4-4-4-12 hex digits: the per-process prefix, then
    /// the counter).
    fn new_member_id(&mut self, client_id: &str, instance_id: Option<&str>) -> String {
        // (MEMBER_ID_SUFFIX is the length of what follows the prefix.)
        self.id_counter += 1;
        let hex = format!("{}{:016x}", self.id_prefix, self.id_counter);
        format!(
            "{}-{}-{}-{}-{}-{}",
            instance_id.unwrap_or(client_id),
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    /// Replays one partition of `__consumer_offsets` (records in log order).
    /// Malformed records are skipped and returned as messages for a log line,
    /// with what had to be repaired in new-protocol groups. `topics`
    /// matches those groups' subscription expressions again (as the
    /// cluster's topics are now).
    pub fn load_partition(
        &mut self,
        partition: i32,
        records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>)>,
        now: i64,
        topics: TopicLookup<'_>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let mut consumer_groups: HashSet<String> = HashSet::new();
        for (key, value) in records {
            match records::decode(key, value) {
                Ok(OffsetsRecord::Offset {
                    group,
                    topic,
                    partition: p,
                    value,
                }) => {
                    let g = self
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now));
                    match value {
                        Some(v) => {
                            g.offsets.insert(
                                (topic, p),
                                CommittedOffset {
                                    offset: v.offset,
                                    leader_epoch: v.leader_epoch,
                                    metadata: v.metadata,
                                    commit_timestamp: v.commit_timestamp,
                                },
                            );
                        }
                        None => {
                            g.offsets.remove(&(topic, p));
                        }
                    }
                }
                Ok(OffsetsRecord::Group {
                    group,
                    value: Some(v),
                }) => {
                    let g = self
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now));
                    // A classic group's metadata replaces whatever the
                    // group was before, a consumer group's included.
                    g.consumer = None;
                    consumer_groups.remove(&group);
                    g.generation = v.generation;
                    g.protocol_type =
                        (!v.protocol_type.is_empty()).then_some(v.protocol_type.clone());
                    g.protocol = v.protocol.clone();
                    g.leader = v.leader.clone();
                    g.members.clear();
                    g.static_members.clear();
                    for m in &v.members {
                        let seq = g.next_seq;
                        g.next_seq += 1;
                        if let Some(instance) = &m.group_instance_id {
                            g.static_members
                                .insert(instance.clone(), m.member_id.clone());
                        }
                        let protocols = match &v.protocol {
                            Some(p) => vec![(p.clone(), m.subscription.clone())],
                            None => Vec::new(),
                        };
                        g.members.insert(
                            m.member_id.clone(),
                            Member {
                                member_id: m.member_id.clone(),
                                instance_id: m.group_instance_id.clone(),
                                client_id: m.client_id.clone(),
                                client_host: m.client_host.clone(),
                                session_timeout_ms: m.session_timeout,
                                rebalance_timeout_ms: if m.rebalance_timeout > 0 {
                                    m.rebalance_timeout
                                } else {
                                    m.session_timeout
                                },
                                protocol_type: v.protocol_type.clone(),
                                protocols,
                                assignment: m.assignment.clone(),
                                awaiting_join: None,
                                awaiting_sync: None,
                                heartbeat_deadline: now + i64::from(m.session_timeout),
                                joined_seq: seq,
                            },
                        );
                    }
                    let state = if g.members.is_empty() {
                        GroupState::Empty
                    } else {
                        GroupState::Stable
                    };
                    g.transition(state, now);
                }
                Ok(OffsetsRecord::Group { group, value: None }) => {
                    // The group's metadata was deleted; offsets have their own records.
                    if let Some(g) = self.groups.get_mut(&group) {
                        g.members.clear();
                        g.static_members.clear();
                        g.transition(GroupState::Empty, now);
                    }
                }
                Ok(OffsetsRecord::Consumer {
                    group,
                    record: consumer::GroupRecord::Epoch(None),
                }) => {
                    // The last of a deleted (or converted) group's records.
                    if let Some(g) = self.groups.get_mut(&group) {
                        if g.consumer.take().is_some() {
                            g.protocol_type = None;
                        }
                    }
                    consumer_groups.remove(&group);
                }
                Ok(OffsetsRecord::Consumer { group, record })
                    if record.is_tombstone()
                        && self.groups.get(&group).is_none_or(|g| g.consumer.is_none()) =>
                {
                    // What is left of a group deleted before: nothing to undo.
                }
                Ok(OffsetsRecord::Consumer { group, record }) => {
                    let g = self
                        .groups
                        .entry(group.clone())
                        .or_insert_with(|| Group::new(&group, now));
                    if g.consumer.is_none() {
                        // A consumer group's records replace whatever
                        // classic group there was.
                        g.members.clear();
                        g.static_members.clear();
                        g.generation = 0;
                        g.protocol = None;
                        g.leader = None;
                        g.transition(GroupState::Empty, now);
                    }
                    g.consumer
                        .get_or_insert_with(ConsumerGroup::default)
                        .replay(record);
                    g.protocol_type = Some("consumer".to_string());
                    consumer_groups.insert(group);
                }
                Err(e) => problems.push(format!(
                    "__consumer_offsets-{partition}: skipping a record: {e}"
                )),
            }
        }
        let mut finished: Vec<String> = consumer_groups.into_iter().collect();
        finished.sort();
        for id in finished {
            let Some(consumer) = self.groups.get_mut(&id).and_then(|g| g.consumer.as_mut()) else {
                continue;
            };
            for problem in consumer.finish_load(now, &self.config.consumer, topics) {
                problems.push(format!(
                    "__consumer_offsets-{partition}: group {id}: {problem}"
                ));
            }
        }
        self.loaded.insert(partition);
        // Groups with neither members nor offsets have nothing left to keep.
        self.groups.retain(|_, g| {
            !(g.members.is_empty()
                && g.offsets.is_empty()
                && g.generation == 0
                && g.protocol_type.is_none())
        });
        problems
    }

    /// Forgets one partition of `__consumer_offsets`: this broker no longer
    /// coordinates its groups (leadership of the partition moved, Kafka's
    /// `onResignation`). Every group of the partition is dropped with its
    /// members and offsets, and so are the offsets that undecided
    /// transactions committed for those groups; members waiting for a
    /// JoinGroup or SyncGroup answer get NOT_COORDINATOR in the returned
    /// effects (which carry no records), so they look for the new
    /// coordinator. Until it is loaded again, requests for its groups get
    /// COORDINATOR_LOAD_IN_PROGRESS from here; the state a later load
    /// builds comes from the log alone.
    pub fn unload_partition(&mut self, partition: i32) -> Effects {
        let mut effects = Effects::default();
        let partitions = self.config.partitions;
        let here = |group: &str| records::partition_for_group(group, partitions) == partition;
        let mut gone: Vec<String> = self.groups.keys().filter(|g| here(g)).cloned().collect();
        // Answers in a stable order (the map's is not).
        gone.sort();
        for id in gone {
            let mut group = self.groups.remove(&id).expect("listed above");
            for member in group.members.values_mut() {
                if let Some(pending) = member.awaiting_join.take() {
                    effects.reply(
                        pending.reply,
                        Reply::Join(JoinResult::error(
                            ErrorCode::NOT_COORDINATOR,
                            &member.member_id,
                        )),
                    );
                }
                if let Some(reply) = member.awaiting_sync.take() {
                    effects.reply(
                        reply,
                        Reply::Sync(SyncResult::error(ErrorCode::NOT_COORDINATOR)),
                    );
                }
            }
        }
        self.pending_txn.retain(|_, offsets| {
            offsets.retain(|(group, _, _), _| !here(group));
            !offsets.is_empty()
        });
        self.pending_offset_writes
            .retain(|_, w| w.partition != partition);
        self.loaded.remove(&partition);
        effects
    }

    fn check_loaded(&self, group_id: &str) -> Result<(), ErrorCode> {
        // Longer ids could not be written in the records' keys.
        if group_id.is_empty() || group_id.len() > records::MAX_STRING {
            Err(ErrorCode::INVALID_GROUP_ID)
        } else if !self.is_loaded(group_id) {
            Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
        } else {
            Ok(())
        }
    }

    // -----------------------------------------------------------------
    // JoinGroup
    // -----------------------------------------------------------------

    pub fn join(&mut self, now: i64, request: JoinRequest, reply: ReplyId) -> Effects {
        let mut effects = Effects::default();
        let fail = |effects: &mut Effects, e: ErrorCode| {
            effects.reply(reply, Reply::Join(JoinResult::error(e, &request.member_id)))
        };
        if let Err(e) = self.check_loaded(&request.group_id) {
            fail(&mut effects, e);
            return effects;
        }
        // Every string of the group's metadata record must fit its
        // non-flexible encoding, the member id made of the instance or
        // client id too.
        let fits = |s: &str| s.len() <= records::MAX_STRING;
        let prefix = request.instance_id.as_deref().unwrap_or(&request.client_id);
        if !(fits(&request.member_id)
            && prefix.len() + MEMBER_ID_SUFFIX <= records::MAX_STRING
            && fits(&request.client_host)
            && fits(&request.protocol_type)
            && request.protocols.iter().all(|(name, _)| fits(name)))
        {
            fail(&mut effects, ErrorCode::INVALID_REQUEST);
            return effects;
        }
        if request.session_timeout_ms < self.config.min_session_timeout_ms
            || request.session_timeout_ms > self.config.max_session_timeout_ms
        {
            fail(&mut effects, ErrorCode::INVALID_SESSION_TIMEOUT);
            return effects;
        }
        let exists = self.groups.contains_key(&request.group_id);
        if !exists && !request.member_id.is_empty() {
            fail(&mut effects, ErrorCode::UNKNOWN_MEMBER_ID);
            return effects;
        }
        let new_id = if request.member_id.is_empty() {
            Some(self.new_member_id(&request.client_id, request.instance_id.as_deref()))
        } else {
            None
        };
        let partition = self.partition_for(&request.group_id);
        let config = self.config.clone();
        let group = self
            .groups
            .entry(request.group_id.clone())
            .or_insert_with(|| Group::new(&request.group_id, now));
        if group.state == GroupState::Dead {
            fail(&mut effects, ErrorCode::COORDINATOR_NOT_AVAILABLE);
            return effects;
        }
        // A consumer group of the new protocol takes no classic members
        // while it has members of its own; once empty, it becomes a
        // classic group again (its offsets stay).
        if group.has_consumer_members() {
            fail(&mut effects, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
            return effects;
        }
        if let Some(old) = group.consumer.take() {
            // An empty consumer group becomes a classic one: its records go.
            effects.delete_consumer_group(partition, &request.group_id, &old);
            group.protocol_type = None;
        }
        if !group.accepts(&request.protocol_type, &request.protocols) {
            fail(&mut effects, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
            return effects;
        }
        match new_id {
            Some(member_id) => join_unknown_member(
                group,
                &config,
                partition,
                now,
                request,
                member_id,
                reply,
                &mut effects,
            ),
            None => join_known_member(group, &config, partition, now, request, reply, &mut effects),
        }
        effects
    }

    // -----------------------------------------------------------------
    // ConsumerGroupHeartbeat (KIP-848)
    // -----------------------------------------------------------------

    /// Answers a ConsumerGroupHeartbeat; `topics` resolves subscribed
    /// topic names to their ids and partition counts. The effects carry
    /// the records of what changed in the group; the answer must wait
    /// for them (see [`consumer_records`]).
    pub fn consumer_heartbeat(
        &mut self,
        now: i64,
        request: consumer::Heartbeat,
        topics: TopicLookup<'_>,
    ) -> (HeartbeatResult, Effects) {
        let mut effects = Effects::default();
        let group_id = request.group_id.clone();
        let result = self.answer_consumer_heartbeat(now, request, topics, &mut effects);
        let partition = self.partition_for(&group_id);
        if let Some(consumer) = self
            .groups
            .get_mut(&group_id)
            .and_then(|g| g.consumer.as_mut())
        {
            effects.write_consumer_group(partition, &group_id, consumer);
        }
        (result, effects)
    }

    /// Changes whose records could not be written (see
    /// [`Effects::consumer_changes`]): written again with the groups' next.
    pub fn consumer_records_failed(&mut self, failed: Vec<(String, consumer::Changes)>) {
        for (group_id, changes) in failed {
            if let Some(consumer) = self
                .groups
                .get_mut(&group_id)
                .and_then(|g| g.consumer.as_mut())
            {
                consumer.restore_changes(changes);
            }
        }
    }

    fn answer_consumer_heartbeat(
        &mut self,
        now: i64,
        request: consumer::Heartbeat,
        topics: TopicLookup<'_>,
        effects: &mut Effects,
    ) -> HeartbeatResult {
        if request.group_id.is_empty() {
            return HeartbeatResult::error(ErrorCode::INVALID_REQUEST, "GroupId can't be empty.");
        }
        // The records' keys hold the group and member ids in non-flexible
        // strings; longer ones could not be written.
        let member_id_length = if request.member_id.is_empty() {
            request.client_id.len() + MEMBER_ID_SUFFIX
        } else {
            request.member_id.len()
        };
        if request.group_id.len() > records::MAX_STRING || member_id_length > records::MAX_STRING {
            return HeartbeatResult::error(
                ErrorCode::INVALID_REQUEST,
                format!(
                    "GroupId and MemberId (or the client id it is made of) must be at most {} bytes.",
                    records::MAX_STRING
                ),
            );
        }
        if !self.is_loaded(&request.group_id) {
            return HeartbeatResult::error(
                ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                "the group's partition of __consumer_offsets is not loaded here",
            );
        }
        let partition = self.partition_for(&request.group_id);
        let fresh = (request.member_epoch == 0 && request.member_id.is_empty())
            .then(|| self.new_member_id(&request.client_id, None));
        let created = !self.groups.contains_key(&request.group_id);
        if created {
            if request.member_epoch != 0 {
                // No such group (deleted, or expired with its members):
                // the member joins again.
                return HeartbeatResult::error(
                    ErrorCode::UNKNOWN_MEMBER_ID,
                    format!("group {} has no members here", request.group_id),
                );
            }
            self.groups
                .insert(request.group_id.clone(), Group::new(&request.group_id, now));
        }
        let config = self.config.consumer.clone();
        let group = self.groups.get_mut(&request.group_id).expect("present");
        if group.state == GroupState::Dead {
            return HeartbeatResult::error(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                "the group is being removed",
            );
        }
        let converted = group.consumer.is_none();
        if converted {
            if !group.members.is_empty() || !group.pending_members.is_empty() {
                return HeartbeatResult::error(
                    ErrorCode::GROUP_ID_NOT_FOUND,
                    format!("Group {} is not a consumer group.", group.id),
                );
            }
            group.consumer = Some(ConsumerGroup::default());
        }
        let consumer = group.consumer.as_mut().expect("set above");
        let had_members = !consumer.members.is_empty();
        let result = consumer.heartbeat(now, request, &config, topics, &mut || {
            fresh.clone().unwrap_or_default()
        });
        if result.error != ErrorCode::NONE && consumer.members.is_empty() {
            // A refused first heartbeat leaves nothing behind: no new
            // group, and a classic group stays classic.
            if created {
                let id = group.id.clone();
                self.groups.remove(&id);
                return result;
            }
            if converted {
                group.consumer = None;
                return result;
            }
        }
        if converted {
            // An empty classic group becomes a consumer group: its classic
            // metadata goes (the offsets stay), as Kafka converts it.
            if group.protocol_type.is_some() || group.generation > 0 {
                effects
                    .records
                    .push((partition, records::group_metadata_key(&group.id), None));
            }
            group.protocol_type = Some("consumer".to_string());
            group.protocol = None;
        }
        // The group's state time marks when it last gained its first
        // member or lost its last (offset retention counts from then).
        let has_members = !consumer.members.is_empty();
        if had_members != has_members {
            group.transition(GroupState::Empty, now);
        }
        result
    }

    /// OffsetFetch v9's check of the member that asks (Kafka's rule): in a
    /// consumer group of the new protocol, a request that names a member
    /// or an epoch must come from a member (UNKNOWN_MEMBER_ID) at its
    /// current epoch (STALE_MEMBER_EPOCH); one that names neither (the
    /// admin client, older clients) reads freely, as everyone does from a
    /// classic group.
    pub fn check_offset_fetch(
        &self,
        group_id: &str,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), ErrorCode> {
        if member_id.is_none() && member_epoch < 0 {
            return Ok(());
        }
        let Some(consumer) = self.groups.get(group_id).and_then(|g| g.consumer.as_ref()) else {
            return Ok(());
        };
        consumer.check_commit(member_id.unwrap_or(""), member_epoch)
    }

    /// Whether `group_id` is a consumer group of the new protocol.
    pub fn is_consumer_group(&self, group_id: &str) -> bool {
        self.groups
            .get(group_id)
            .is_some_and(|g| g.consumer.is_some())
    }

    /// A consumer group of the new protocol, for ConsumerGroupDescribe.
    pub fn consumer_group(&self, group_id: &str) -> Result<Option<&ConsumerGroup>, ErrorCode> {
        self.check_loaded(group_id)?;
        Ok(self.groups.get(group_id).and_then(|g| g.consumer.as_ref()))
    }

    // -----------------------------------------------------------------
    // SyncGroup
    // -----------------------------------------------------------------

    pub fn sync(&mut self, now: i64, request: SyncRequest, reply: ReplyId) -> Effects {
        let mut effects = Effects::default();
        let fail = |effects: &mut Effects, e: ErrorCode| {
            effects.reply(reply, Reply::Sync(SyncResult::error(e)))
        };
        if let Err(e) = self.check_loaded(&request.group_id) {
            fail(&mut effects, e);
            return effects;
        }
        let partition = self.partition_for(&request.group_id);
        let Some(group) = self.groups.get_mut(&request.group_id) else {
            fail(&mut effects, ErrorCode::UNKNOWN_MEMBER_ID);
            return effects;
        };
        if let Err(e) = validate_member(group, &request.member_id, request.instance_id.as_deref()) {
            fail(&mut effects, e);
            return effects;
        }
        if request.generation_id != group.generation {
            fail(&mut effects, ErrorCode::ILLEGAL_GENERATION);
            return effects;
        }
        if request
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref())
            || request
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != group.protocol.as_ref())
        {
            fail(&mut effects, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
            return effects;
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => {
                fail(&mut effects, ErrorCode::UNKNOWN_MEMBER_ID)
            }
            GroupState::PreparingRebalance => fail(&mut effects, ErrorCode::REBALANCE_IN_PROGRESS),
            GroupState::CompletingRebalance => {
                let member = group
                    .members
                    .get_mut(&request.member_id)
                    .expect("validated");
                member.awaiting_sync = Some(reply);
                member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
                if group.leader.as_deref() == Some(request.member_id.as_str()) {
                    let assignments: HashMap<String, Bytes> =
                        request.assignments.into_iter().collect();
                    for m in group.members.values_mut() {
                        m.assignment = assignments.get(&m.member_id).cloned().unwrap_or_default();
                    }
                    store_group(group, partition, now, &mut effects);
                    group.transition(GroupState::Stable, now);
                    group.sync_deadline = None;
                    let (protocol_type, protocol_name) =
                        (group.protocol_type.clone(), group.protocol.clone());
                    for m in group.members.values_mut() {
                        if let Some(id) = m.awaiting_sync.take() {
                            effects.reply(
                                id,
                                Reply::Sync(SyncResult {
                                    error: ErrorCode::NONE,
                                    protocol_type: protocol_type.clone(),
                                    protocol_name: protocol_name.clone(),
                                    assignment: m.assignment.clone(),
                                }),
                            );
                        }
                    }
                }
            }
            GroupState::Stable => {
                let member = group
                    .members
                    .get_mut(&request.member_id)
                    .expect("validated");
                member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
                effects.reply(
                    reply,
                    Reply::Sync(SyncResult {
                        error: ErrorCode::NONE,
                        protocol_type: group.protocol_type.clone(),
                        protocol_name: group.protocol.clone(),
                        assignment: member.assignment.clone(),
                    }),
                );
            }
        }
        effects
    }

    // -----------------------------------------------------------------
    // Heartbeat and LeaveGroup
    // -----------------------------------------------------------------

    pub fn heartbeat(
        &mut self,
        now: i64,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> ErrorCode {
        if let Err(e) = self.check_loaded(group_id) {
            return e;
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if let Err(e) = validate_member(group, member_id, instance_id) {
            return e;
        }
        match group.state {
            GroupState::Dead => return ErrorCode::COORDINATOR_NOT_AVAILABLE,
            GroupState::Empty => return ErrorCode::UNKNOWN_MEMBER_ID,
            _ => {}
        }
        if generation != group.generation {
            return ErrorCode::ILLEGAL_GENERATION;
        }
        let member = group.members.get_mut(member_id).expect("validated");
        member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
        match group.state {
            // The member must rejoin; the heartbeat still keeps it alive.
            GroupState::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            // Members may heartbeat between their join answer and sync.
            _ => ErrorCode::NONE,
        }
    }

    /// LeaveGroup: `members` are (member id, group instance id); v0-2
    /// requests pass one member. Returns the per-member errors.
    pub fn leave(
        &mut self,
        now: i64,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> (ErrorCode, Vec<ErrorCode>, Effects) {
        let mut effects = Effects::default();
        if let Err(e) = self.check_loaded(group_id) {
            return (e, Vec::new(), effects);
        }
        let partition = self.partition_for(group_id);
        let config = self.config.clone();
        let Some(group) = self.groups.get_mut(group_id) else {
            return (
                ErrorCode::NONE,
                vec![ErrorCode::UNKNOWN_MEMBER_ID; members.len()],
                effects,
            );
        };
        let mut errors = Vec::with_capacity(members.len());
        let mut removed_any = false;
        for (member_id, instance_id) in members {
            // v3+: a static member may leave by instance id alone.
            let resolved = match (member_id.is_empty(), instance_id) {
                (true, Some(instance)) => group.static_members.get(instance).cloned(),
                _ => Some(member_id.clone()),
            };
            let result = match resolved {
                None => Err(ErrorCode::UNKNOWN_MEMBER_ID),
                Some(id) => {
                    if let Some(instance) = instance_id {
                        match group.static_members.get(instance) {
                            Some(current) if *current != id => Err(ErrorCode::FENCED_INSTANCE_ID),
                            _ => Ok(id),
                        }
                    } else {
                        Ok(id)
                    }
                }
            };
            match result {
                Ok(id) if group.members.contains_key(&id) => {
                    remove_member(group, &id, &mut effects);
                    removed_any = true;
                    errors.push(ErrorCode::NONE);
                }
                Ok(id) if group.pending_members.remove(&id).is_some() => {
                    removed_any = true;
                    errors.push(ErrorCode::NONE);
                }
                Ok(_) => errors.push(ErrorCode::UNKNOWN_MEMBER_ID),
                Err(e) => errors.push(e),
            }
        }
        if removed_any {
            after_membership_change(group, &config, partition, now, &mut effects);
        }
        (ErrorCode::NONE, errors, effects)
    }

    // -----------------------------------------------------------------
    // Offsets
    // -----------------------------------------------------------------

    /// OffsetCommit. `partition_exists` tells whether a topic partition
    /// exists in the cluster. Returns one error per offset, in order.
    // The arguments are the request's own fields; a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn commit_offsets(
        &mut self,
        now: i64,
        group_id: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: &[OffsetToCommit],
        partition_exists: &dyn Fn(&str, i32) -> bool,
    ) -> (Vec<ErrorCode>, Effects) {
        let mut effects = Effects::default();
        let all = |e: ErrorCode| vec![e; offsets.len()];
        if let Err(e) = self.check_loaded(group_id) {
            return (all(e), effects);
        }
        let partition = self.partition_for(group_id);
        let max_metadata = self.config.max_metadata_bytes.min(records::MAX_STRING);
        if !self.groups.contains_key(group_id) {
            if generation >= 0 {
                return (all(ErrorCode::ILLEGAL_GENERATION), effects);
            }
            // A consumer using assign() commits into a group that has no members.
            self.groups
                .insert(group_id.to_string(), Group::new(group_id, now));
        }
        let group = self.groups.get_mut(group_id).expect("present");
        let check = if group.state == GroupState::Dead {
            Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
        } else if let Some(consumer) = group.consumer.as_ref().filter(|c| !c.members.is_empty()) {
            // KIP-848: the generation is the member's epoch.
            consumer.check_commit(member_id, generation)
        } else if generation < 0 && group.state == GroupState::Empty {
            Ok(())
        } else if let Err(e) = validate_member(group, member_id, instance_id) {
            Err(e)
        } else if generation != group.generation {
            Err(ErrorCode::ILLEGAL_GENERATION)
        } else if group.state == GroupState::CompletingRebalance {
            Err(ErrorCode::REBALANCE_IN_PROGRESS)
        } else {
            if let Some(m) = group.members.get_mut(member_id) {
                m.heartbeat_deadline = now + i64::from(m.session_timeout_ms);
            }
            Ok(())
        };
        if let Err(e) = check {
            return (all(e), effects);
        }
        let mut errors = Vec::with_capacity(offsets.len());
        let mut pending = Vec::with_capacity(offsets.len());
        for o in offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if metadata.len() > max_metadata {
                errors.push(ErrorCode::OFFSET_METADATA_TOO_LARGE);
                continue;
            }
            if !partition_exists(&o.topic, o.partition) {
                errors.push(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
                continue;
            }
            let value = OffsetCommitValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: metadata.clone(),
                commit_timestamp: now,
                ..Default::default()
            };
            effects.records.push((
                partition,
                records::offset_commit_key(group_id, &o.topic, o.partition),
                Some(records::offset_commit_value(&value)),
            ));
            pending.push((
                (o.topic.clone(), o.partition),
                CommittedOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata,
                    commit_timestamp: now,
                },
            ));
            errors.push(ErrorCode::NONE);
        }
        if !pending.is_empty() {
            let id = OffsetWrite(self.next_offset_write);
            self.next_offset_write += 1;
            self.pending_offset_writes.insert(
                id,
                PendingOffsetWrite {
                    partition,
                    group: group_id.to_string(),
                    offsets: pending,
                },
            );
            effects.offset_write = Some(id);
        }
        (errors, effects)
    }

    /// The caller's report on an OffsetCommit's records: replicated to
    /// every in-sync replica, or not (refused, timed out, leadership
    /// lost). Replicated, its offsets become visible, together with those
    /// of every earlier write to the same partition still pending: a
    /// later record replicated means every earlier one is. Not replicated,
    /// its offsets are dropped (the committer was told it failed; its
    /// records may still turn up in the log, as a retry's would).
    pub fn offsets_written(&mut self, write: OffsetWrite, replicated: bool) {
        if !replicated {
            self.pending_offset_writes.remove(&write);
            return;
        }
        let Some(partition) = self.pending_offset_writes.get(&write).map(|w| w.partition) else {
            return; // already applied by a later write's report, or dropped
        };
        let done: Vec<OffsetWrite> = self
            .pending_offset_writes
            .range(..=write)
            .filter(|(_, w)| w.partition == partition)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let w = self.pending_offset_writes.remove(&id).expect("listed");
            let first_commit = w.offsets.first().map_or(0, |(_, c)| c.commit_timestamp);
            let group = self
                .groups
                .entry(w.group.clone())
                .or_insert_with(|| Group::new(&w.group, first_commit));
            for (key, committed) in w.offsets {
                group.offsets.insert(key, committed);
            }
        }
    }

    /// TxnOffsetCommit: offsets committed as part of producer
    /// `producer_id`'s transaction. They are validated like OffsetCommit
    /// (the generation and member only when given: v3+ producers send
    /// their consumer's group metadata so a zombie is fenced) and held
    /// pending until `complete_transaction`. Returns one error per offset
    /// and the records to append transactionally.
    #[allow(clippy::too_many_arguments)]
    pub fn txn_commit_offsets(
        &mut self,
        now: i64,
        group_id: &str,
        producer_id: i64,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: &[OffsetToCommit],
        partition_exists: &dyn Fn(&str, i32) -> bool,
    ) -> (Vec<ErrorCode>, Effects) {
        let mut effects = Effects::default();
        let all = |e: ErrorCode| vec![e; offsets.len()];
        if let Err(e) = self.check_loaded(group_id) {
            return (all(e), effects);
        }
        let partition = self.partition_for(group_id);
        let max_metadata = self.config.max_metadata_bytes.min(records::MAX_STRING);
        let group = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, now));
        let check = if group.state == GroupState::Dead {
            Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
        } else if member_id.is_empty() && generation < 0 {
            // A producer that does not pass its consumer's group metadata.
            Ok(())
        } else if let Some(consumer) = &group.consumer {
            // KIP-848: the generation is the member's epoch; a producer
            // whose consumer fell behind gets the error its classic
            // counterpart gets.
            consumer
                .check_commit(member_id, generation)
                .map_err(|e| match e {
                    ErrorCode::UNKNOWN_MEMBER_ID => e,
                    _ => ErrorCode::ILLEGAL_GENERATION,
                })
        } else if let Err(e) = validate_member(group, member_id, instance_id) {
            Err(e)
        } else if generation != group.generation {
            Err(ErrorCode::ILLEGAL_GENERATION)
        } else {
            Ok(())
        };
        if let Err(e) = check {
            return (all(e), effects);
        }
        let mut errors = Vec::with_capacity(offsets.len());
        for o in offsets {
            let metadata = o.metadata.clone().unwrap_or_default();
            if metadata.len() > max_metadata {
                errors.push(ErrorCode::OFFSET_METADATA_TOO_LARGE);
                continue;
            }
            if !partition_exists(&o.topic, o.partition) {
                errors.push(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION);
                continue;
            }
            let value = OffsetCommitValue {
                offset: o.offset,
                leader_epoch: o.leader_epoch,
                metadata: metadata.clone(),
                commit_timestamp: now,
                ..Default::default()
            };
            effects.records.push((
                partition,
                records::offset_commit_key(group_id, &o.topic, o.partition),
                Some(records::offset_commit_value(&value)),
            ));
            self.pending_txn.entry(producer_id).or_default().insert(
                (group_id.to_string(), o.topic.clone(), o.partition),
                CommittedOffset {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata,
                    commit_timestamp: now,
                },
            );
            errors.push(ErrorCode::NONE);
        }
        (errors, effects)
    }

    /// Replays an offset record of a transaction still open at load time
    /// (its marker is not in the log yet): it is pending again.
    pub fn load_pending_txn_offset(
        &mut self,
        producer_id: i64,
        key: Option<Bytes>,
        value: Option<Bytes>,
    ) -> Result<(), String> {
        match records::decode(key, value) {
            Ok(OffsetsRecord::Offset {
                group,
                topic,
                partition,
                value: Some(v),
            }) => {
                self.pending_txn.entry(producer_id).or_default().insert(
                    (group, topic, partition),
                    CommittedOffset {
                        offset: v.offset,
                        leader_epoch: v.leader_epoch,
                        metadata: v.metadata,
                        commit_timestamp: v.commit_timestamp,
                    },
                );
                Ok(())
            }
            Ok(_) => Err("a transactional record that is not an offset commit".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The marker of producer `producer_id`'s transaction reached
    /// `__consumer_offsets` partition `partition`: its pending offsets for
    /// the groups of that partition are committed, or dropped on abort.
    pub fn complete_transaction(
        &mut self,
        now: i64,
        producer_id: i64,
        partition: i32,
        commit: bool,
    ) {
        let Some(pending) = self.pending_txn.get_mut(&producer_id) else {
            return;
        };
        let partitions = self.config.partitions;
        let here: Vec<(String, String, i32)> = pending
            .keys()
            .filter(|(group, _, _)| records::partition_for_group(group, partitions) == partition)
            .cloned()
            .collect();
        for key in here {
            let offset = pending.remove(&key).expect("listed above");
            let (group, topic, p) = key;
            if commit {
                self.groups
                    .entry(group.clone())
                    .or_insert_with(|| Group::new(&group, now))
                    .offsets
                    .insert((topic, p), offset);
            }
        }
        if pending.is_empty() {
            self.pending_txn.remove(&producer_id);
        }
    }

    /// Whether a transaction holds an undecided offset for this partition
    /// of the group (OffsetFetch with require_stable answers
    /// UNSTABLE_OFFSET_COMMIT then, KIP-447).
    pub fn has_pending_txn_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.pending_txn.values().any(|p| p.contains_key(&key))
    }

    /// OffsetFetch for one group; `None` topics means every committed offset.
    /// Unknown groups and partitions answer offset -1 without an error, as
    /// Kafka does (clients rely on it).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<Vec<FetchedOffset>, ErrorCode> {
        self.check_loaded(group_id)?;
        let group = self.groups.get(group_id);
        let found = |topic: &str, partition: i32| -> FetchedOffset {
            match group.and_then(|g| g.offsets.get(&(topic.to_string(), partition))) {
                Some(c) => FetchedOffset {
                    topic: topic.to_string(),
                    partition,
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: Some(c.metadata.clone()),
                    error: ErrorCode::NONE,
                },
                None => FetchedOffset {
                    topic: topic.to_string(),
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: Some(String::new()),
                    error: ErrorCode::NONE,
                },
            }
        };
        Ok(match topics {
            Some(topics) => topics
                .iter()
                .flat_map(|(t, ps)| ps.iter().map(move |p| (t, *p)))
                .map(|(t, p)| found(t, p))
                .collect(),
            None => {
                let mut all: Vec<FetchedOffset> = group
                    .map(|g| g.offsets.keys().map(|(t, p)| found(t, *p)).collect())
                    .unwrap_or_default();
                all.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
                all
            }
        })
    }

    // -----------------------------------------------------------------
    // Admin
    // -----------------------------------------------------------------

    /// (group id, protocol type, state) of every group, for ListGroups.
    pub fn list_groups(&self) -> Vec<(String, String, &'static str)> {
        let mut out: Vec<_> = self
            .groups
            .values()
            .filter(|g| {
                self.loaded.contains(&self.partition_for(&g.id)) && g.state != GroupState::Dead
            })
            .map(|g| match &g.consumer {
                Some(c) => (g.id.clone(), "consumer".to_string(), c.state_name()),
                None => (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state.name(),
                ),
            })
            .collect();
        out.sort();
        out
    }

    /// Every loaded, live group with its state, member count and committed
    /// offsets (topic, partition, offset, commit timestamp), sorted: what
    /// monitoring reads (lag, group state) without one call per group.
    pub fn group_offsets(&self) -> Vec<GroupOffsets> {
        let mut out: Vec<GroupOffsets> = self
            .groups
            .values()
            .filter(|g| {
                self.loaded.contains(&self.partition_for(&g.id)) && g.state != GroupState::Dead
            })
            .map(|g| {
                let mut offsets: Vec<(String, i32, i64, i64)> = g
                    .offsets
                    .iter()
                    .map(|((t, p), c)| (t.clone(), *p, c.offset, c.commit_timestamp))
                    .collect();
                offsets.sort();
                GroupOffsets {
                    group_id: g.id.clone(),
                    state: g
                        .consumer
                        .as_ref()
                        .map_or(g.state.name(), |c| c.state_name()),
                    members: g.members.len() + g.consumer.as_ref().map_or(0, |c| c.members.len()),
                    offsets,
                }
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    pub fn describe_group(&self, group_id: &str) -> Result<GroupDescription, ErrorCode> {
        self.check_loaded(group_id)?;
        // DescribeGroups describes classic groups only: as Kafka's answer
        // up to v5 (the versions served here), a consumer group of the
        // new protocol looks like one that does not exist (Dead, no
        // error); ConsumerGroupDescribe describes it.
        let Some(group) = self.groups.get(group_id).filter(|g| g.consumer.is_none()) else {
            return Ok(GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead.name(),
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            });
        };
        // Members' metadata and assignments are shown only once stable (as Kafka does).
        let stable = group.state == GroupState::Stable;
        let mut members: Vec<&Member> = group.members.values().collect();
        members.sort_by_key(|m| m.joined_seq);
        Ok(GroupDescription {
            group_id: group.id.clone(),
            state: group.state.name(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                group.protocol.clone().unwrap_or_default()
            } else {
                String::new()
            },
            members: members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        group
                            .protocol
                            .as_deref()
                            .map(|p| m.metadata_for(p))
                            .unwrap_or_default()
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        })
    }

    /// DeleteGroups for one group: only groups without members.
    pub fn delete_group(&mut self, now: i64, group_id: &str) -> (ErrorCode, Effects) {
        let mut effects = Effects::default();
        // Kafka 4's coordinator looks the empty id up like any other, so it
        // is a group that does not exist (the classic coordinator of Kafka
        // 3 refused it as INVALID_GROUP_ID).
        if group_id.is_empty() {
            return (ErrorCode::GROUP_ID_NOT_FOUND, effects);
        }
        if let Err(e) = self.check_loaded(group_id) {
            return (e, effects);
        }
        let partition = self.partition_for(group_id);
        let Some(group) = self.groups.get(group_id) else {
            return (ErrorCode::GROUP_ID_NOT_FOUND, effects);
        };
        match group.state {
            GroupState::Dead => return (ErrorCode::GROUP_ID_NOT_FOUND, effects),
            GroupState::Empty if !group.has_consumer_members() => {}
            _ => return (ErrorCode::NON_EMPTY_GROUP, effects),
        }
        for (topic, p) in group.offsets.keys() {
            effects.records.push((
                partition,
                records::offset_commit_key(group_id, topic, *p),
                None,
            ));
        }
        if let Some(consumer) = &group.consumer {
            effects.delete_consumer_group(partition, group_id, consumer);
        }
        effects
            .records
            .push((partition, records::group_metadata_key(group_id), None));
        let _ = now;
        self.groups.remove(group_id);
        // A commit still in flight must not bring the offsets back after
        // the tombstones that follow it in the log.
        self.pending_offset_writes
            .retain(|_, w| w.group != group_id);
        (ErrorCode::NONE, effects)
    }

    /// OffsetDelete: removes committed offsets of topics the group does not
    /// consume. Returns the group error and one error per partition.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
        subscribed: &dyn Fn(&Bytes, &str) -> bool,
    ) -> (ErrorCode, Vec<ErrorCode>, Effects) {
        let mut effects = Effects::default();
        if let Err(e) = self.check_loaded(group_id) {
            return (e, Vec::new(), effects);
        }
        let partition = self.partition_for(group_id);
        let Some(group) = self.groups.get_mut(group_id) else {
            return (ErrorCode::GROUP_ID_NOT_FOUND, Vec::new(), effects);
        };
        if group.state == GroupState::Dead {
            return (ErrorCode::GROUP_ID_NOT_FOUND, Vec::new(), effects);
        }
        let protocol = group.protocol.clone();
        let consumer = group.protocol_type.as_deref() == Some("consumer");
        let mut errors = Vec::with_capacity(partitions.len());
        for (topic, p) in partitions {
            let classic_use = group.state != GroupState::Empty
                && consumer
                && group.members.values().any(|m| {
                    protocol
                        .as_deref()
                        .is_some_and(|pr| subscribed(&m.metadata_for(pr), topic))
                });
            // A KIP-848 member subscribed to it by name or expression.
            let consumer_use = group.consumer.as_ref().is_some_and(|c| {
                c.members
                    .values()
                    .any(|m| m.subscription().any(|t| t == topic))
            });
            let in_use = classic_use || consumer_use;
            if in_use {
                errors.push(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC);
                continue;
            }
            let key = (topic.clone(), *p);
            let mut in_flight = false;
            for w in self.pending_offset_writes.values_mut() {
                if w.group == group_id {
                    let before = w.offsets.len();
                    w.offsets.retain(|(k, _)| *k != key);
                    in_flight |= w.offsets.len() != before;
                }
            }
            if group.offsets.remove(&key).is_some() || in_flight {
                effects.records.push((
                    partition,
                    records::offset_commit_key(group_id, topic, *p),
                    None,
                ));
            }
            errors.push(ErrorCode::NONE);
        }
        (ErrorCode::NONE, errors, effects)
    }

    // -----------------------------------------------------------------
    // Time
    // -----------------------------------------------------------------

    /// The earliest time at which `tick` has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let mut next: Option<i64> = None;
        let mut consider = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        for g in self.groups.values() {
            for &t in g.pending_members.values() {
                consider(t);
            }
            for m in g.members.values() {
                if m.awaiting_join.is_none() && m.awaiting_sync.is_none() {
                    consider(m.heartbeat_deadline);
                }
            }
            if g.state == GroupState::PreparingRebalance {
                if let Some(t) = g.rebalance_deadline {
                    consider(t);
                }
                if let Some(t) = g.initial_delay_until {
                    consider(t);
                }
            }
            if let Some(t) = g.sync_deadline {
                consider(t);
            }
            if let Some(t) = g.consumer.as_ref().and_then(ConsumerGroup::next_deadline) {
                consider(t);
            }
        }
        next
    }

    /// Expires sessions, ends join phases whose time is up, drops members
    /// that never synced, and expires offsets of groups without members.
    pub fn tick(&mut self, now: i64) -> Effects {
        let mut effects = Effects::default();
        let config = self.config.clone();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        let mut expired_groups = Vec::new();
        // A group whose first commit is still in flight is not expired.
        let pending_groups: HashSet<String> = self
            .pending_offset_writes
            .values()
            .map(|w| w.group.clone())
            .collect();
        for id in ids {
            let partition = records::partition_for_group(&id, config.partitions);
            let group = self.groups.get_mut(&id).expect("listed");
            let mut changed = false;
            let before = group.pending_members.len();
            group.pending_members.retain(|_, t| *t > now);
            changed |= group.pending_members.len() != before;
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| {
                    m.awaiting_join.is_none()
                        && m.awaiting_sync.is_none()
                        && m.heartbeat_deadline <= now
                })
                .map(|m| m.member_id.clone())
                .collect();
            for member in &expired {
                remove_member(group, member, &mut effects);
                changed = true;
            }
            if group.state == GroupState::CompletingRebalance
                && group.sync_deadline.is_some_and(|t| t <= now)
            {
                // Members that did not send SyncGroup in time are removed.
                let laggards: Vec<String> = group
                    .members
                    .values()
                    .filter(|m| m.awaiting_sync.is_none())
                    .map(|m| m.member_id.clone())
                    .collect();
                for member in &laggards {
                    remove_member(group, member, &mut effects);
                }
                group.sync_deadline = None;
                changed = true;
                if !laggards.is_empty() || group.members.is_empty() {
                    prepare_rebalance(group, &config, now, &mut effects);
                }
            }
            if changed {
                after_membership_change(group, &config, partition, now, &mut effects);
            }
            if group.state == GroupState::PreparingRebalance {
                let delay_over = group.initial_delay_until.is_none_or(|t| t <= now);
                let timed_out = group.rebalance_deadline.is_some_and(|t| t <= now);
                if (delay_over && group.all_members_joined()) || timed_out {
                    complete_join(group, partition, now, &mut effects);
                }
            }
            if let Some(consumer) = group.consumer.as_mut() {
                let had_members = !consumer.members.is_empty();
                effects
                    .consumer_removals
                    .extend(consumer.expire(now).into_iter().map(|r| (id.clone(), r)));
                effects.write_consumer_group(partition, &id, consumer);
                if had_members && consumer.members.is_empty() {
                    group.transition(GroupState::Empty, now);
                }
            }
            if group.state == GroupState::Empty && !group.has_consumer_members() {
                let retention = config.offsets_retention_ms;
                let stale: Vec<(String, i32)> = group
                    .offsets
                    .iter()
                    .filter(|(_, c)| c.commit_timestamp + retention <= now)
                    .map(|(k, _)| k.clone())
                    .collect();
                for (topic, p) in stale {
                    group.offsets.remove(&(topic.clone(), p));
                    effects.records.push((
                        partition,
                        records::offset_commit_key(&id, &topic, p),
                        None,
                    ));
                }
                if group.offsets.is_empty()
                    && !pending_groups.contains(&id)
                    && group.members.is_empty()
                    && group.pending_members.is_empty()
                    && group.state_timestamp + retention <= now
                {
                    expired_groups.push((id.clone(), partition));
                }
            }
        }
        for (id, partition) in expired_groups {
            let group = self.groups.remove(&id).expect("listed");
            if let Some(consumer) = &group.consumer {
                effects.delete_consumer_group(partition, &id, consumer);
            }
            effects
                .records
                .push((partition, records::group_metadata_key(&id), None));
        }
        effects
    }
}

// ---------------------------------------------------------------------
// Join helpers (free functions over one group, so the coordinator's other
// fields stay borrowable)
// ---------------------------------------------------------------------

fn validate_member(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<(), ErrorCode> {
    // As Kafka's ClassicGroup.validateMember: a request naming a group
    // instance id must come from that static member; an instance the
    // group does not know is an unknown member.
    if let Some(instance) = instance_id {
        match group.static_members.get(instance) {
            None => return Err(ErrorCode::UNKNOWN_MEMBER_ID),
            Some(current) if current != member_id => return Err(ErrorCode::FENCED_INSTANCE_ID),
            Some(_) => {}
        }
    }
    if !group.members.contains_key(member_id) {
        return Err(ErrorCode::UNKNOWN_MEMBER_ID);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn join_unknown_member(
    group: &mut Group,
    config: &CoordinatorConfig,
    partition: i32,
    now: i64,
    request: JoinRequest,
    member_id: String,
    reply: ReplyId,
    effects: &mut Effects,
) {
    if let Some(instance) = request.instance_id.clone() {
        if let Some(old_id) = group.static_members.get(&instance).cloned() {
            rejoin_static_member(
                group, config, partition, now, request, old_id, member_id, reply, effects,
            );
            return;
        }
    }
    if group.members.len() + group.pending_members.len() >= config.max_group_size {
        effects.reply(
            reply,
            Reply::Join(JoinResult::error(
                ErrorCode::GROUP_MAX_SIZE_REACHED,
                &member_id,
            )),
        );
        return;
    }
    if request.require_known_member_id && request.instance_id.is_none() {
        // KIP-394: hand out the id first; the member joins with it.
        group.pending_members.insert(
            member_id.clone(),
            now + i64::from(request.session_timeout_ms),
        );
        effects.reply(
            reply,
            Reply::Join(JoinResult::error(ErrorCode::MEMBER_ID_REQUIRED, &member_id)),
        );
        return;
    }
    add_member_and_rebalance(
        group, config, partition, now, &request, member_id, reply, effects,
    );
}

#[allow(clippy::too_many_arguments)]
fn add_member_and_rebalance(
    group: &mut Group,
    config: &CoordinatorConfig,
    partition: i32,
    now: i64,
    request: &JoinRequest,
    member_id: String,
    reply: ReplyId,
    effects: &mut Effects,
) {
    let seq = group.next_seq;
    group.next_seq += 1;
    if let Some(instance) = &request.instance_id {
        group
            .static_members
            .insert(instance.clone(), member_id.clone());
    }
    group.members.insert(
        member_id.clone(),
        Member {
            member_id: member_id.clone(),
            instance_id: request.instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocol_type: request.protocol_type.clone(),
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some(PendingJoin {
                reply,
                supports_skip_assignment: request.supports_skip_assignment,
            }),
            awaiting_sync: None,
            heartbeat_deadline: now + i64::from(request.session_timeout_ms),
            joined_seq: seq,
        },
    );
    if group.protocol_type.is_none() {
        group.protocol_type = Some(request.protocol_type.clone());
    }
    if group.leader.is_none() {
        group.leader = Some(member_id);
    }
    if group.state == GroupState::PreparingRebalance {
        if group.initial_delay_until.is_some() {
            // A new member during the initial delay extends it, up to the
            // rebalance timeout (Kafka's InitialDelayedJoin).
            let extended = now + i64::from(config.initial_rebalance_delay_ms);
            let cap = group.rebalance_deadline.unwrap_or(extended);
            group.initial_delay_until = Some(extended.min(cap));
        }
        maybe_complete_join(group, partition, now, effects);
    } else {
        prepare_rebalance(group, config, now, effects);
        maybe_complete_join(group, partition, now, effects);
    }
}

#[allow(clippy::too_many_arguments)]
fn rejoin_static_member(
    group: &mut Group,
    config: &CoordinatorConfig,
    partition: i32,
    now: i64,
    request: JoinRequest,
    old_id: String,
    new_id: String,
    reply: ReplyId,
    effects: &mut Effects,
) {
    // The old incarnation is fenced: its pending answers fail.
    let mut member = group
        .members
        .remove(&old_id)
        .expect("static members are members");
    if let Some(pending) = member.awaiting_join.take() {
        effects.reply(
            pending.reply,
            Reply::Join(JoinResult::error(ErrorCode::FENCED_INSTANCE_ID, &old_id)),
        );
    }
    if let Some(pending) = member.awaiting_sync.take() {
        effects.reply(
            pending,
            Reply::Sync(SyncResult::error(ErrorCode::FENCED_INSTANCE_ID)),
        );
    }
    // The leader before the replacement: what a client that cannot skip the
    // assignment is told (below).
    let previous_leader = group.leader.clone();
    member.member_id = new_id.clone();
    member.client_id = request.client_id.clone();
    member.client_host = request.client_host.clone();
    member.session_timeout_ms = request.session_timeout_ms;
    member.rebalance_timeout_ms = request.rebalance_timeout_ms;
    member.protocols = request.protocols.clone();
    member.heartbeat_deadline = now + i64::from(request.session_timeout_ms);
    let was_leader = group.leader.as_deref() == Some(old_id.as_str());
    if was_leader {
        group.leader = Some(new_id.clone());
    }
    group
        .static_members
        .insert(request.instance_id.clone().expect("static"), new_id.clone());
    group.members.insert(new_id.clone(), member);
    // Kafka rebalances a stable group only if the member's new protocols
    // would change the selected protocol; other changes to its metadata
    // (e.g. the partitions a cooperative member owns, which a restarted
    // member no longer lists) do not.
    let protocol_kept = group.state == GroupState::Stable
        && group.protocol.is_some()
        && group.select_protocol() == group.protocol;
    match group.state {
        GroupState::Stable if protocol_kept => {
            // KIP-345: a restarted static member gets its old assignment back
            // without a rebalance.
            store_group(group, partition, now, effects);
            let skip = was_leader && request.supports_skip_assignment;
            // Before JoinGroup v9 the answer names the previous leader, so a
            // restarted leader does not take itself for the leader and run
            // an assignment a stable group would ignore (Kafka's
            // updateStaticMemberAndRebalance).
            let leader = if request.supports_skip_assignment {
                group.leader.clone()
            } else {
                previous_leader
            };
            effects.reply(
                reply,
                Reply::Join(JoinResult {
                    error: ErrorCode::NONE,
                    generation_id: group.generation,
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol.clone(),
                    leader: leader.unwrap_or_default(),
                    skip_assignment: skip,
                    member_id: new_id,
                    members: if skip {
                        join_members(group)
                    } else {
                        Vec::new()
                    },
                }),
            );
        }
        _ => {
            group
                .members
                .get_mut(&new_id)
                .expect("inserted above")
                .awaiting_join = Some(PendingJoin {
                reply,
                supports_skip_assignment: request.supports_skip_assignment,
            });
            if group.state != GroupState::PreparingRebalance {
                prepare_rebalance(group, config, now, effects);
            }
            maybe_complete_join(group, partition, now, effects);
        }
    }
}

fn join_known_member(
    group: &mut Group,
    config: &CoordinatorConfig,
    partition: i32,
    now: i64,
    request: JoinRequest,
    reply: ReplyId,
    effects: &mut Effects,
) {
    let member_id = request.member_id.clone();
    if group.pending_members.remove(&member_id).is_some() {
        add_member_and_rebalance(
            group, config, partition, now, &request, member_id, reply, effects,
        );
        return;
    }
    if let Err(e) = validate_member(group, &member_id, request.instance_id.as_deref()) {
        effects.reply(reply, Reply::Join(JoinResult::error(e, &member_id)));
        return;
    }
    let is_leader = group.leader.as_deref() == Some(member_id.as_str());
    let member = group.members.get_mut(&member_id).expect("validated");
    let unchanged = member.protocols == request.protocols;
    member.heartbeat_deadline = now + i64::from(request.session_timeout_ms);
    member.session_timeout_ms = request.session_timeout_ms;
    member.rebalance_timeout_ms = request.rebalance_timeout_ms;
    let pending = PendingJoin {
        reply,
        supports_skip_assignment: request.supports_skip_assignment,
    };
    match group.state {
        GroupState::PreparingRebalance => {
            member.protocols = request.protocols;
            if let Some(old) = member.awaiting_join.replace(pending) {
                // A second join from the same member replaces the first.
                effects.reply(
                    old.reply,
                    Reply::Join(JoinResult::error(
                        ErrorCode::REBALANCE_IN_PROGRESS,
                        &member_id,
                    )),
                );
            }
            maybe_complete_join(group, partition, now, effects);
        }
        GroupState::CompletingRebalance if unchanged => {
            // The join answer was lost; send it again.
            let result = join_result_for(group, &member_id, request.supports_skip_assignment);
            effects.reply(reply, Reply::Join(result));
        }
        GroupState::Stable if unchanged && !is_leader => {
            let result = JoinResult {
                error: ErrorCode::NONE,
                generation_id: group.generation,
                protocol_type: group.protocol_type.clone(),
                protocol_name: group.protocol.clone(),
                leader: group.leader.clone().unwrap_or_default(),
                skip_assignment: false,
                member_id: member_id.clone(),
                members: Vec::new(),
            };
            effects.reply(reply, Reply::Join(result));
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            member.protocols = request.protocols;
            member.awaiting_join = Some(pending);
            prepare_rebalance(group, config, now, effects);
            maybe_complete_join(group, partition, now, effects);
        }
        GroupState::Empty | GroupState::Dead => {
            effects.reply(
                reply,
                Reply::Join(JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, &member_id)),
            );
        }
    }
}

fn prepare_rebalance(
    group: &mut Group,
    config: &CoordinatorConfig,
    now: i64,
    effects: &mut Effects,
) {
    if group.state == GroupState::CompletingRebalance {
        // Assignments of the generation being abandoned are void.
        for m in group.members.values_mut() {
            m.assignment = Bytes::new();
            if let Some(id) = m.awaiting_sync.take() {
                effects.reply(
                    id,
                    Reply::Sync(SyncResult::error(ErrorCode::REBALANCE_IN_PROGRESS)),
                );
            }
        }
        group.sync_deadline = None;
    }
    let timeout = group.max_rebalance_timeout();
    if group.state == GroupState::Empty {
        let delay = i64::from(config.initial_rebalance_delay_ms).min(timeout.max(0));
        group.initial_delay_until = Some(now + delay);
    } else {
        group.initial_delay_until = None;
    }
    group.rebalance_deadline = Some(now + timeout);
    group.transition(GroupState::PreparingRebalance, now);
}

fn maybe_complete_join(group: &mut Group, partition: i32, now: i64, effects: &mut Effects) {
    if group.state == GroupState::PreparingRebalance
        && group.initial_delay_until.is_none_or(|t| t <= now)
        && group.all_members_joined()
    {
        complete_join(group, partition, now, effects);
    }
}

/// Ends a join phase: members that did not rejoin are dropped (static ones
/// stay until their session expires), the generation advances, and every
/// waiting member gets its answer.
fn complete_join(group: &mut Group, partition: i32, now: i64, effects: &mut Effects) {
    let missing: Vec<String> = group
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
        .map(|m| m.member_id.clone())
        .collect();
    for id in missing {
        remove_member(group, &id, effects);
    }
    group.pending_members.clear();
    group.rebalance_deadline = None;
    group.initial_delay_until = None;
    // Static members that did not rejoin are not part of this generation's answer.
    let joined: Vec<String> = group
        .members
        .values()
        .filter(|m| m.awaiting_join.is_some())
        .map(|m| m.member_id.clone())
        .collect();
    if joined.is_empty() && !group.members.is_empty() {
        // Only static members that have not rejoined are left. Kafka does not
        // empty a group that still has members: the join phase goes on for
        // another rebalance timeout, until they rejoin or their sessions
        // expire (onCompleteJoin: "could not complete rebalance because no
        // members rejoined"). At least a second, so that a zero timeout
        // cannot spin the timer.
        group.rebalance_deadline = Some(now + group.max_rebalance_timeout().max(1_000));
        return;
    }
    if joined.is_empty() {
        group.generation += 1;
        group.protocol = None;
        group.leader = None;
        // The protocol type stays: an empty consumer group is still a
        // consumer group (Kafka never clears it).
        group.transition(GroupState::Empty, now);
        store_group(group, partition, now, effects);
        return;
    }
    if group.leader.as_ref().is_none_or(|l| !joined.contains(l)) {
        group.leader = group
            .members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .min_by_key(|m| m.joined_seq)
            .map(|m| m.member_id.clone());
    }
    group.generation += 1;
    group.protocol = group.select_protocol();
    group.transition(GroupState::CompletingRebalance, now);
    group.sync_deadline = Some(now + group.max_rebalance_timeout());
    let ids: Vec<String> = group.members.keys().cloned().collect();
    for id in ids {
        let Some(pending) = group
            .members
            .get_mut(&id)
            .and_then(|m| m.awaiting_join.take())
        else {
            continue;
        };
        let result = join_result_for(group, &id, pending.supports_skip_assignment);
        let member = group.members.get_mut(&id).expect("listed");
        member.heartbeat_deadline = now + i64::from(member.session_timeout_ms);
        effects.reply(pending.reply, Reply::Join(result));
    }
}

fn join_members(group: &Group) -> Vec<JoinMember> {
    let protocol = group.protocol.clone().unwrap_or_default();
    let mut members: Vec<&Member> = group.members.values().collect();
    members.sort_by_key(|m| m.joined_seq);
    members
        .into_iter()
        .map(|m| JoinMember {
            member_id: m.member_id.clone(),
            instance_id: m.instance_id.clone(),
            metadata: m.metadata_for(&protocol),
        })
        .collect()
}

fn join_result_for(group: &Group, member_id: &str, _supports_skip: bool) -> JoinResult {
    let is_leader = group.leader.as_deref() == Some(member_id);
    JoinResult {
        error: ErrorCode::NONE,
        generation_id: group.generation,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        skip_assignment: false,
        member_id: member_id.to_string(),
        members: if is_leader {
            join_members(group)
        } else {
            Vec::new()
        },
    }
}

fn remove_member(group: &mut Group, member_id: &str, effects: &mut Effects) {
    if let Some(mut m) = group.members.remove(member_id) {
        if let Some(p) = m.awaiting_join.take() {
            effects.reply(
                p.reply,
                Reply::Join(JoinResult::error(ErrorCode::UNKNOWN_MEMBER_ID, member_id)),
            );
        }
        if let Some(id) = m.awaiting_sync.take() {
            effects.reply(
                id,
                Reply::Sync(SyncResult::error(ErrorCode::UNKNOWN_MEMBER_ID)),
            );
        }
        if let Some(instance) = &m.instance_id {
            if group.static_members.get(instance).map(String::as_str) == Some(member_id) {
                group.static_members.remove(instance);
            }
        }
    }
    if group.leader.as_deref() == Some(member_id) {
        group.leader = group.first_member();
    }
}

/// After members left or expired: a stable group rebalances; a group in
/// its join phase may now be complete.
fn after_membership_change(
    group: &mut Group,
    config: &CoordinatorConfig,
    partition: i32,
    now: i64,
    effects: &mut Effects,
) {
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            prepare_rebalance(group, config, now, effects);
            maybe_complete_join(group, partition, now, effects);
        }
        GroupState::PreparingRebalance => maybe_complete_join(group, partition, now, effects),
        GroupState::Empty | GroupState::Dead => {}
    }
}

/// The group-metadata record of the current generation.
fn store_group(group: &Group, partition: i32, now: i64, effects: &mut Effects) {
    let protocol = group.protocol.clone();
    let mut members: Vec<&Member> = group.members.values().collect();
    members.sort_by_key(|m| m.joined_seq);
    let value = GroupMetadataValue {
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        generation: group.generation,
        protocol: protocol.clone(),
        leader: group.leader.clone(),
        current_state_timestamp: now,
        members: members
            .into_iter()
            .map(|m| MemberMetadata {
                member_id: m.member_id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout: m.rebalance_timeout_ms,
                session_timeout: m.session_timeout_ms,
                subscription: protocol
                    .as_deref()
                    .map(|p| m.metadata_for(p))
                    .unwrap_or_default(),
                assignment: m.assignment.clone(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    effects.records.push((
        partition,
        records::group_metadata_key(&group.id),
        Some(records::group_metadata_value(&value)),
    ));
}
