//! Consumer groups of the new protocol (KIP-848): membership by
//! ConsumerGroupHeartbeat, assignment computed here by a server-side
//! assignor, and each member moved towards its target assignment
//! incrementally, so no member stops consuming partitions that are not
//! moving.
//!
//! The model, in our words:
//! - The *group epoch* counts changes that call for a new assignment: a
//!   member joining or leaving, a subscription or the assignor changing,
//!   a subscribed topic gaining partitions. Each bump recomputes the
//!   *target assignment* at once (the assignors here are synchronous), so
//!   the target's epoch is always the group epoch.
//! - Each member has a *member epoch*, the target epoch it has caught up
//!   with. A member behind the target first gives up what it must
//!   (`UnrevokedPartitions`: the answer shows the smaller assignment and
//!   the member keeps its epoch until it reports, in a heartbeat, that it
//!   no longer owns them), then takes the new epoch and whatever of its
//!   target no other member still holds (`UnreleasedPartitions` until the
//!   rest is released, then `Stable`). A partition is never owned by two
//!   members at once.
//! - A member is removed when its session times out (no heartbeat within
//!   `group.consumer.session.timeout.ms`) or when it does not revoke
//!   within its rebalance timeout; its partitions become free.
//!
//! Deterministic: time comes in as `now`, topic metadata as a lookup, and
//! every collection iterates in a fixed order.
//!
//! A member subscribes to topic names, to a regular expression
//! (ConsumerGroupHeartbeat v1), or both; the caller resolves expressions
//! against the cluster's topics ([`Topics::matching`]) on every
//! heartbeat, so a new topic that matches joins the subscription at the
//! next one.
//!
//! Every change is noted ([`Changes`]) so the coordinator can write it to
//! `__consumer_offsets` as Kafka's records of these groups
//! ([`crate::consumer_records`]); a coordinator that loads the partition
//! later rebuilds the same members, epochs, targets and assignments
//! ([`ConsumerGroup::replay`], [`ConsumerGroup::finish_load`]), and the
//! members go on where they were.
//!
//! A static member (one with an instance id) that leaves with epoch -2
//! keeps its partitions and target until its session ends; the instance
//! that joins again (a new member id, the same instance id) takes them
//! over without a new assignment for anyone.

use std::collections::{BTreeMap, BTreeSet};

use vltava_protocol::{ErrorCode, Uuid};

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The epoch a static member leaves with (and keeps while it is away).
pub const LEFT_STATIC_MEMBER_EPOCH: i32 = -2;

/// The assignors this coordinator runs, in Kafka's names; the first is
/// the default (`group.consumer.assignors`).
pub const ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// Where a member is on its way to its target assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// It has its whole target at the target's epoch.
    Stable,
    /// It must give up partitions before it can move on.
    UnrevokedPartitions,
    /// It is at the target's epoch, but part of its target is still held
    /// by members that have not given it up yet.
    UnreleasedPartitions,
}

impl MemberState {
    /// Kafka's code for the state in its records.
    pub fn code(self) -> i8 {
        match self {
            MemberState::Stable => 0,
            MemberState::UnrevokedPartitions => 1,
            MemberState::UnreleasedPartitions => 2,
        }
    }

    pub fn from_code(code: i8) -> Option<MemberState> {
        match code {
            0 => Some(MemberState::Stable),
            1 => Some(MemberState::UnrevokedPartitions),
            2 => Some(MemberState::UnreleasedPartitions),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout_ms: i32,
    /// Sorted, without duplicates.
    pub subscribed_topics: Vec<String>,
    /// The regular expression it subscribed with, if any.
    pub subscribed_regex: Option<String>,
    /// The topics the expression matched at the last heartbeat (sorted).
    pub regex_topics: Vec<String>,
    pub server_assignor: Option<String>,
    /// What the member may consume now.
    pub assigned: Assignment,
    /// What it was asked to give up and has not yet said it gave up.
    pub pending_revocation: Assignment,
    /// Removed unless it heartbeats before then.
    pub session_deadline: i64,
    /// Removed unless it revokes before then (its rebalance timeout).
    pub revocation_deadline: Option<i64>,
    /// The assignment last sent, so that answers carry it only when it
    /// changed (or the member asks with a full request).
    sent: Option<Assignment>,
}

impl ConsumerMember {
    /// A member as it comes back from the records, before
    /// [`ConsumerGroup::finish_load`] gives it its deadlines.
    pub(crate) fn blank(member_id: &str) -> ConsumerMember {
        ConsumerMember {
            member_id: member_id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            member_epoch: 0,
            previous_member_epoch: -1,
            state: MemberState::Stable,
            rebalance_timeout_ms: 0,
            subscribed_topics: Vec::new(),
            subscribed_regex: None,
            regex_topics: Vec::new(),
            server_assignor: None,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline: 0,
            revocation_deadline: None,
            sent: None,
        }
    }

    /// The topics it subscribes to: by name and by expression.
    pub fn subscription(&self) -> impl Iterator<Item = &String> {
        let mut all: BTreeSet<&String> = self.subscribed_topics.iter().collect();
        all.extend(self.regex_topics.iter());
        all.into_iter()
    }
}

/// The settings these groups follow (Kafka's names).
#[derive(Clone, Debug)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub max_size: usize,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: i32::MAX as usize,
        }
    }
}

/// A ConsumerGroupHeartbeat as the coordinator needs it. `None` fields
/// did not change since the member's last heartbeat.
#[derive(Clone, Debug, Default)]
pub struct Heartbeat {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// -1: unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// The partitions the member owns.
    pub owned: Option<Vec<(Uuid, Vec<i32>)>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HeartbeatResult {
    pub error: ErrorCode,
    pub message: Option<String>,
    pub member_id: Option<String>,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Present when it changed since the last answer, or was asked for.
    pub assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}

impl HeartbeatResult {
    pub fn error(error: ErrorCode, message: impl Into<String>) -> HeartbeatResult {
        HeartbeatResult {
            error,
            message: Some(message.into()),
            member_id: None,
            member_epoch: 0,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

/// The cluster's topics as the coordinator needs them.
pub trait Topics {
    /// A topic's id and partition count.
    fn lookup(&self, name: &str) -> Option<(Uuid, i32)>;
    /// The topics whose whole name `regex` matches, sorted; an error when
    /// it is not a valid expression.
    fn matching(&self, regex: &str) -> Result<Vec<String>, String>;
}

/// Topic metadata for a call (see [`Topics`]).
pub type TopicLookup<'a> = &'a dyn Topics;

/// One consumer group's membership and assignment.
#[derive(Clone, Debug, Default)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// Each member's target assignment, at epoch `group_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics' ids and partition counts the target was
    /// computed from.
    pub topics: BTreeMap<String, (Uuid, i32)>,
    /// What changed since the coordinator last wrote the group.
    changes: Changes,
    /// Only while the group is replayed from its records.
    replayed: Replayed,
}

/// One of Kafka's records of a consumer group as the state machine reads
/// it back (`None`: a tombstone), decoded by [`crate::consumer_records`].
#[derive(Clone, Debug, PartialEq)]
pub enum GroupRecord {
    /// ConsumerGroupMetadata: the group epoch.
    Epoch(Option<i32>),
    /// ConsumerGroupPartitionMetadata: the subscribed topics' ids and
    /// partition counts.
    Topics(Option<BTreeMap<String, (Uuid, i32)>>),
    /// ConsumerGroupMemberMetadata.
    Member(String, Option<MemberMetadata>),
    /// ConsumerGroupTargetAssignmentMetadata: the target's epoch.
    TargetEpoch(Option<i32>),
    /// ConsumerGroupTargetAssignmentMember.
    Target(String, Option<Assignment>),
    /// ConsumerGroupCurrentMemberAssignment.
    Current(String, Option<CurrentAssignment>),
}

impl GroupRecord {
    pub fn is_tombstone(&self) -> bool {
        match self {
            GroupRecord::Epoch(v) | GroupRecord::TargetEpoch(v) => v.is_none(),
            GroupRecord::Topics(v) => v.is_none(),
            GroupRecord::Member(_, v) => v.is_none(),
            GroupRecord::Target(_, v) => v.is_none(),
            GroupRecord::Current(_, v) => v.is_none(),
        }
    }
}

/// A member's metadata record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemberMetadata {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topics: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
}

/// A member's current assignment record.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentAssignment {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub assigned: Assignment,
    pub pending_revocation: Assignment,
}

impl ConsumerMember {
    pub fn metadata(&self) -> MemberMetadata {
        MemberMetadata {
            instance_id: self.instance_id.clone(),
            rack_id: self.rack_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            subscribed_topics: self.subscribed_topics.clone(),
            subscribed_regex: self.subscribed_regex.clone(),
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            server_assignor: self.server_assignor.clone(),
        }
    }

    pub fn current(&self) -> CurrentAssignment {
        CurrentAssignment {
            member_epoch: self.member_epoch,
            previous_member_epoch: self.previous_member_epoch,
            state: self.state,
            assigned: self.assigned.clone(),
            pending_revocation: self.pending_revocation.clone(),
        }
    }
}

/// What replaying a group's records has seen that the state itself does
/// not keep; checked by [`ConsumerGroup::finish_load`].
#[derive(Clone, Debug, Default)]
struct Replayed {
    /// Members with a metadata record (one without is not a member).
    described: BTreeSet<String>,
    target_epoch: Option<i32>,
}

/// What of a group changed since its records were last taken
/// ([`ConsumerGroup::take_changes`]); the coordinator writes those parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Changes {
    /// The group epoch moved: the epoch, the subscribed topics' metadata
    /// and the target's epoch are written.
    pub epoch: bool,
    /// Members who joined, or whose subscription or other metadata changed.
    pub metadata: BTreeSet<String>,
    /// Members whose target assignment changed.
    pub target: BTreeSet<String>,
    /// Members whose epochs, state or partitions changed.
    pub current: BTreeSet<String>,
    /// Members who left.
    pub removed: BTreeSet<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        !self.epoch
            && self.metadata.is_empty()
            && self.target.is_empty()
            && self.current.is_empty()
            && self.removed.is_empty()
    }

    fn merge(&mut self, other: Changes) {
        self.epoch |= other.epoch;
        self.metadata.extend(other.metadata);
        self.target.extend(other.target);
        self.current.extend(other.current);
        self.removed.extend(other.removed);
    }
}

/// Why a member left the group, for the log.
#[derive(Clone, Debug, PartialEq)]
pub enum Removal {
    SessionExpired(String),
    RevocationTimedOut(String),
}

impl ConsumerGroup {
    /// Kafka's consumer group states: Empty, Assigning (never seen here:
    /// targets are computed at once), Reconciling, Stable.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self
            .members
            .values()
            .all(|m| m.state == MemberState::Stable && m.member_epoch == self.group_epoch)
        {
            "Stable"
        } else {
            "Reconciling"
        }
    }

    /// The assignor the group runs: the one most members ask for (ties to
    /// the earlier in [`ASSIGNORS`]), the default when none asks.
    pub fn assignor(&self) -> &'static str {
        let mut best = ASSIGNORS[0];
        let mut best_votes = 0;
        for name in ASSIGNORS {
            let votes = self
                .members
                .values()
                .filter(|m| m.server_assignor.as_deref() == Some(name))
                .count();
            if votes > best_votes {
                best = name;
                best_votes = votes;
            }
        }
        best
    }

    /// Answers one heartbeat. `new_member_id` gives an id to a member that
    /// joins without one (clients before KIP-1082). What it changed is
    /// noted for [`ConsumerGroup::take_changes`].
    pub fn heartbeat(
        &mut self,
        now: i64,
        request: Heartbeat,
        config: &ConsumerGroupConfig,
        topics: TopicLookup<'_>,
        new_member_id: &mut dyn FnMut() -> String,
    ) -> HeartbeatResult {
        // Only the heartbeating member's own records can change here
        // (besides the targets, which `new_target` notes), so one copy of
        // it tells what to write.
        let before = self.members.get(&request.member_id).cloned();
        let result = self.answer_heartbeat(now, request, config, topics, new_member_id);
        if let Some(after) = result
            .member_id
            .as_ref()
            .and_then(|id| self.members.get(id))
        {
            let was = before.as_ref().filter(|b| b.member_id == after.member_id);
            if was.is_none_or(|b| b.metadata() != after.metadata()) {
                self.changes.metadata.insert(after.member_id.clone());
            }
            if was.is_none_or(|b| b.current() != after.current()) {
                self.changes.current.insert(after.member_id.clone());
            }
        }
        result
    }

    /// What changed since the last call, to be written; what is gone is
    /// only in `removed`, what is here never is.
    pub fn take_changes(&mut self) -> Changes {
        let mut changes = std::mem::take(&mut self.changes);
        let members = &self.members;
        changes.removed.retain(|id| !members.contains_key(id));
        changes.metadata.retain(|id| members.contains_key(id));
        changes.current.retain(|id| members.contains_key(id));
        changes.target.retain(|id| members.contains_key(id));
        changes
    }

    /// Members gone whose tombstones are not written yet.
    pub fn unwritten_removals(&self) -> impl Iterator<Item = &String> {
        self.changes.removed.iter()
    }

    /// Changes taken whose records could not be written: they are written
    /// again with the next ones (from the state as it is then).
    pub fn restore_changes(&mut self, changes: Changes) {
        self.changes.merge(changes);
    }

    /// Applies one record read back from `__consumer_offsets`, in log
    /// order; [`ConsumerGroup::finish_load`] completes the group.
    pub fn replay(&mut self, record: GroupRecord) {
        match record {
            GroupRecord::Epoch(epoch) => self.group_epoch = epoch.unwrap_or(0),
            GroupRecord::Topics(topics) => self.topics = topics.unwrap_or_default(),
            GroupRecord::TargetEpoch(epoch) => self.replayed.target_epoch = epoch,
            GroupRecord::Member(id, None) => {
                self.members.remove(&id);
                self.replayed.described.remove(&id);
            }
            GroupRecord::Member(id, Some(m)) => {
                let member = self
                    .members
                    .entry(id.clone())
                    .or_insert_with(|| ConsumerMember::blank(&id));
                member.instance_id = m.instance_id;
                member.rack_id = m.rack_id;
                member.client_id = m.client_id;
                member.client_host = m.client_host;
                member.subscribed_topics = m.subscribed_topics;
                member.subscribed_regex = m.subscribed_regex;
                member.rebalance_timeout_ms = m.rebalance_timeout_ms;
                member.server_assignor = m.server_assignor;
                self.replayed.described.insert(id);
            }
            GroupRecord::Target(id, None) => {
                self.target.remove(&id);
            }
            GroupRecord::Target(id, Some(target)) => {
                self.target.insert(id, target);
            }
            GroupRecord::Current(id, None) => {
                if let Some(m) = self.members.get_mut(&id) {
                    let blank = ConsumerMember::blank(&id);
                    m.member_epoch = blank.member_epoch;
                    m.previous_member_epoch = blank.previous_member_epoch;
                    m.state = blank.state;
                    m.assigned.clear();
                    m.pending_revocation.clear();
                }
            }
            GroupRecord::Current(id, Some(c)) => {
                let member = self
                    .members
                    .entry(id.clone())
                    .or_insert_with(|| ConsumerMember::blank(&id));
                member.member_epoch = c.member_epoch;
                member.previous_member_epoch = c.previous_member_epoch;
                member.state = c.state;
                member.assigned = c.assigned;
                member.pending_revocation = c.pending_revocation;
            }
        }
    }

    /// Completes a group replayed from its records: members get fresh
    /// sessions (and members asked to revoke a fresh rebalance timeout)
    /// from `now`, as Kafka's coordinator schedules them on load; their
    /// expressions are matched again; whatever the records left
    /// inconsistent is repaired and returned as messages for the log
    /// (a member without metadata is dropped, a target of no member
    /// forgotten, a partition held twice left to the first holder).
    pub fn finish_load(
        &mut self,
        now: i64,
        config: &ConsumerGroupConfig,
        topics: TopicLookup<'_>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let replayed = std::mem::take(&mut self.replayed);
        let undescribed: Vec<String> = self
            .members
            .keys()
            .filter(|id| !replayed.described.contains(*id))
            .cloned()
            .collect();
        // Repairs are noted as changes, so their records are written with
        // the group's next ones and the next load finds nothing to repair.
        let mut repaired = false;
        for id in undescribed {
            problems.push(format!(
                "member {id} has an assignment but no metadata record; dropped"
            ));
            self.members.remove(&id);
            self.changes.removed.insert(id);
            repaired = true;
        }
        let strays: Vec<String> = self
            .target
            .keys()
            .filter(|id| !self.members.contains_key(*id))
            .cloned()
            .collect();
        for id in strays {
            problems.push(format!("a target of {id}, who is no member, dropped"));
            self.target.remove(&id);
            self.changes.removed.insert(id);
        }
        let known = &self.topics;
        let mut held = Assignment::new();
        for member in self.members.values_mut() {
            let mine = union(&member.assigned, &member.pending_revocation);
            let twice = intersect(&mine, &held);
            if !is_empty(&twice) {
                problems.push(format!(
                    "member {} holds partitions another member holds; they stay with the other",
                    member.member_id
                ));
                member.assigned = minus(&member.assigned, &twice);
                member.pending_revocation = minus(&member.pending_revocation, &twice);
                self.changes.current.insert(member.member_id.clone());
                repaired = true;
            }
            held = union(&held, &mine);
            if member.member_epoch > self.group_epoch {
                problems.push(format!(
                    "member {} is at epoch {}, past the group's {}",
                    member.member_id, member.member_epoch, self.group_epoch
                ));
                self.group_epoch = member.member_epoch;
            }
            if member.member_epoch == LEFT_STATIC_MEMBER_EPOCH {
                // Away: nothing to revoke (Kafka may have written its state
                // as it was when it left).
                member.state = MemberState::Stable;
                member.pending_revocation.clear();
            }
            member.session_deadline = now + i64::from(config.session_timeout_ms);
            member.revocation_deadline = (member.state == MemberState::UnrevokedPartitions)
                .then(|| now + i64::from(member.rebalance_timeout_ms.max(0)));
            // Only topics the group was subscribed to: the member's
            // principal may not see the others (its next heartbeat
            // matches the expression with what it may see).
            member.regex_topics = match &member.subscribed_regex {
                None => Vec::new(),
                Some(regex) => topics
                    .matching(regex)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| known.contains_key(t))
                    .collect(),
            };
            member.sent = None;
        }
        let target_complete = self.members.keys().all(|id| self.target.contains_key(id));
        if !self.target_is_exclusive() {
            problems.push("the target assignment gives a partition to two members".to_string());
            repaired = true;
        }
        if !self.members.is_empty()
            && (repaired || replayed.target_epoch != Some(self.group_epoch) || !target_complete)
        {
            problems.push(format!(
                "the target assignment (epoch {:?}, group epoch {}) is computed again",
                replayed.target_epoch, self.group_epoch
            ));
            // Sized by the cluster's topics as they are now, not by the
            // recorded PartitionMetadata: it may be stale, or damaged with a
            // partition count the assignor would walk for a long time.
            self.topics = self.subscribed_metadata(topics);
            // At a new epoch (written with the next changes), so members
            // move on from what they have.
            self.new_target();
        }
        problems
    }

    fn answer_heartbeat(
        &mut self,
        now: i64,
        request: Heartbeat,
        config: &ConsumerGroupConfig,
        topics: TopicLookup<'_>,
        new_member_id: &mut dyn FnMut() -> String,
    ) -> HeartbeatResult {
        if let Err((code, message)) = validate(&request) {
            return HeartbeatResult::error(code, message);
        }
        if request.member_epoch < 0 {
            return self.leave(&request, topics);
        }
        if let Some(regex) = request
            .subscribed_topic_regex
            .as_ref()
            .filter(|r| !r.is_empty())
        {
            if let Err(why) = topics.matching(regex) {
                return HeartbeatResult::error(
                    ErrorCode::INVALID_REGULAR_EXPRESSION,
                    format!("SubscribedTopicRegex {regex} is not valid: {why}"),
                );
            }
        }
        let member_id = if request.member_id.is_empty() {
            new_member_id()
        } else {
            request.member_id.clone()
        };
        let mut changed = false;
        if request.member_epoch == 0 {
            // A static member that left with epoch -2 keeps its slot (its
            // partitions and target) until its session ends; the instance
            // that joins again takes the slot over under its new member id,
            // with no new assignment for anyone (KIP-345 for KIP-848).
            // (The same member id coming back after leaving with -2, as
            // Java's consumer does after unsubscribe and subscribe, takes
            // its slot back the same way.)
            let mut replaced = None;
            if let Some(instance) = &request.instance_id {
                if let Some(other) = self.members.values().find(|m| {
                    m.instance_id.as_ref() == Some(instance)
                        && (m.member_id != member_id || m.member_epoch == LEFT_STATIC_MEMBER_EPOCH)
                }) {
                    if other.member_epoch != LEFT_STATIC_MEMBER_EPOCH {
                        return HeartbeatResult::error(
                            ErrorCode::UNRELEASED_INSTANCE_ID,
                            format!(
                                "static member {instance} is in the group as {}",
                                other.member_id
                            ),
                        );
                    }
                    let old_id = other.member_id.clone();
                    let old = self.members.remove(&old_id).expect("found");
                    let target = self.target.remove(&old_id);
                    self.changes.removed.insert(old_id);
                    replaced = Some((old, target));
                }
            }
            if let Some((old, target)) = replaced {
                // Its subscription and assignor as they were: the request's
                // own, applied below, count as changes only if they differ.
                self.members.insert(
                    member_id.clone(),
                    ConsumerMember {
                        member_id: member_id.clone(),
                        client_id: request.client_id.clone(),
                        client_host: request.client_host.clone(),
                        member_epoch: 0,
                        previous_member_epoch: -1,
                        state: MemberState::Stable,
                        pending_revocation: Assignment::new(),
                        session_deadline: now,
                        revocation_deadline: None,
                        sent: None,
                        ..old
                    },
                );
                if let Some(target) = target {
                    self.target.insert(member_id.clone(), target);
                    self.changes.target.insert(member_id.clone());
                }
            } else {
                let rejoining = self.members.contains_key(&member_id);
                if !rejoining && self.members.len() >= config.max_size {
                    return HeartbeatResult::error(
                        ErrorCode::GROUP_MAX_SIZE_REACHED,
                        format!(
                            "the group has {} members (group.consumer.max.size)",
                            self.members.len()
                        ),
                    );
                }
                // A first join, or a member that was fenced joining again
                // with the id it had: it owns nothing now.
                if rejoining {
                    self.members.remove(&member_id);
                    self.target.remove(&member_id);
                }
                self.members.insert(
                    member_id.clone(),
                    ConsumerMember {
                        member_id: member_id.clone(),
                        instance_id: None,
                        rack_id: None,
                        client_id: request.client_id.clone(),
                        client_host: request.client_host.clone(),
                        member_epoch: 0,
                        previous_member_epoch: -1,
                        state: MemberState::Stable,
                        rebalance_timeout_ms: request.rebalance_timeout_ms,
                        subscribed_topics: Vec::new(),
                        subscribed_regex: None,
                        regex_topics: Vec::new(),
                        server_assignor: None,
                        assigned: Assignment::new(),
                        pending_revocation: Assignment::new(),
                        session_deadline: now,
                        revocation_deadline: None,
                        sent: None,
                    },
                );
                changed = true;
            }
        } else {
            let Some(member) = self.members.get(&member_id) else {
                // A static member replaced by a newer instance of itself.
                if let Some(instance) = &request.instance_id {
                    if let Some(other) = self
                        .members
                        .values()
                        .find(|m| m.instance_id.as_ref() == Some(instance))
                    {
                        return HeartbeatResult::error(
                            ErrorCode::FENCED_INSTANCE_ID,
                            format!(
                                "static member {instance} is in the group as {}",
                                other.member_id
                            ),
                        );
                    }
                }
                return HeartbeatResult::error(
                    ErrorCode::UNKNOWN_MEMBER_ID,
                    format!("member {member_id} is not in the group"),
                );
            };
            if member.member_epoch == LEFT_STATIC_MEMBER_EPOCH {
                return HeartbeatResult::error(
                    ErrorCode::FENCED_MEMBER_EPOCH,
                    format!(
                        "static member {member_id} left the group; it joins again with epoch 0"
                    ),
                );
            }
            // An instance id is one member's: another member may not take it.
            if let Some(instance) = &request.instance_id {
                if let Some(other) = self
                    .members
                    .values()
                    .find(|m| m.instance_id.as_ref() == Some(instance) && m.member_id != member_id)
                {
                    return HeartbeatResult::error(
                        ErrorCode::FENCED_INSTANCE_ID,
                        format!(
                            "static member {instance} is in the group as {}",
                            other.member_id
                        ),
                    );
                }
            }
            if let Err(message) = check_epoch(member, request.member_epoch, &request.owned) {
                return HeartbeatResult::error(ErrorCode::FENCED_MEMBER_EPOCH, message);
            }
        }
        let member = self.members.get_mut(&member_id).expect("present");
        member.session_deadline = now + i64::from(config.session_timeout_ms);
        if request.rebalance_timeout_ms >= 0 {
            member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        }
        if request.instance_id.is_some() {
            member.instance_id = request.instance_id.clone();
        }
        if request.rack_id.is_some() {
            member.rack_id = request.rack_id.clone();
        }
        if let Some(names) = &request.subscribed_topic_names {
            let names: Vec<String> = names
                .iter()
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if names != member.subscribed_topics {
                member.subscribed_topics = names;
                changed = true;
            }
        }
        if let Some(regex) = &request.subscribed_topic_regex {
            // librdkafka sends an empty expression for "none".
            let regex = Some(regex.clone()).filter(|r| !r.is_empty());
            if regex != member.subscribed_regex {
                member.subscribed_regex = regex;
                changed = true;
            }
        }
        if request.server_assignor.is_some() && request.server_assignor != member.server_assignor {
            member.server_assignor = request.server_assignor.clone();
            changed = true;
        }
        // A member's expression is matched again at each of its
        // heartbeats (topics come and go), with what its principal may
        // see (`topics` is the requester's view); checked when it came.
        let found = match &member.subscribed_regex {
            None => Vec::new(),
            Some(regex) => topics.matching(regex).unwrap_or_default(),
        };
        if found != member.regex_topics {
            member.regex_topics = found;
            changed = true;
        }
        let metadata = self.subscribed_metadata(topics);
        if metadata != self.topics {
            self.topics = metadata;
            changed = true;
        }
        if changed {
            self.new_target();
        }
        // A joining member owns nothing, whether it says so or not (a
        // member taking a static slot over must not be asked to revoke).
        let owned = match &request.owned {
            _ if request.member_epoch == 0 => Some(Assignment::new()),
            Some(o) => Some(to_assignment(o)),
            None => None,
        };
        let full = request.member_epoch == 0 || request.owned.is_some();
        self.reconcile(now, &member_id, owned.as_ref());
        let member = self.members.get_mut(&member_id).expect("present");
        let assignment = if full || member.sent.as_ref() != Some(&member.assigned) {
            member.sent = Some(member.assigned.clone());
            Some(from_assignment(&member.assigned))
        } else {
            None
        };
        HeartbeatResult {
            error: ErrorCode::NONE,
            message: None,
            member_id: Some(member_id),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms: config.heartbeat_interval_ms,
            assignment,
        }
    }

    fn leave(&mut self, request: &Heartbeat, topics: TopicLookup<'_>) -> HeartbeatResult {
        if request.member_epoch == LEFT_STATIC_MEMBER_EPOCH {
            // A static member leaving for now: it keeps its slot until its
            // session (as its last heartbeat set it) ends, and nobody's
            // assignment changes. Found by its instance id, as Kafka does.
            let instance = request.instance_id.as_deref().unwrap_or_default();
            let Some(member) = self
                .members
                .values_mut()
                .find(|m| m.instance_id.as_deref() == Some(instance))
            else {
                return HeartbeatResult::error(
                    ErrorCode::UNKNOWN_MEMBER_ID,
                    format!("static member {instance} is not in the group"),
                );
            };
            if member.member_id != request.member_id {
                return HeartbeatResult::error(
                    ErrorCode::FENCED_INSTANCE_ID,
                    format!(
                        "static member {instance} is in the group as {}",
                        member.member_id
                    ),
                );
            }
            member.member_epoch = LEFT_STATIC_MEMBER_EPOCH;
            member.pending_revocation.clear();
            member.revocation_deadline = None;
            member.state = MemberState::Stable;
            return HeartbeatResult {
                error: ErrorCode::NONE,
                message: None,
                member_id: Some(request.member_id.clone()),
                member_epoch: LEFT_STATIC_MEMBER_EPOCH,
                heartbeat_interval_ms: 0,
                assignment: None,
            };
        }
        if self.members.remove(&request.member_id).is_none() {
            return HeartbeatResult::error(
                ErrorCode::UNKNOWN_MEMBER_ID,
                format!("member {} is not in the group", request.member_id),
            );
        }
        self.target.remove(&request.member_id);
        self.changes.removed.insert(request.member_id.clone());
        self.topics = self.subscribed_metadata(topics);
        self.new_target();
        HeartbeatResult {
            error: ErrorCode::NONE,
            message: None,
            member_id: Some(request.member_id.clone()),
            member_epoch: request.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }

    /// Removes members whose session ended or who did not revoke in time,
    /// and computes a new target when any went.
    pub fn expire(&mut self, now: i64) -> Vec<Removal> {
        let mut removed = Vec::new();
        for member in self.members.values() {
            if member.session_deadline <= now {
                removed.push(Removal::SessionExpired(member.member_id.clone()));
            } else if member.revocation_deadline.is_some_and(|t| t <= now) {
                removed.push(Removal::RevocationTimedOut(member.member_id.clone()));
            }
        }
        for r in &removed {
            let (Removal::SessionExpired(id) | Removal::RevocationTimedOut(id)) = r;
            self.members.remove(id);
            self.target.remove(id);
            self.changes.removed.insert(id.clone());
        }
        if !removed.is_empty() {
            self.new_target();
        }
        removed
    }

    /// The earliest session or revocation deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| std::iter::once(m.session_deadline).chain(m.revocation_deadline))
            .min()
    }

    /// Whether `member_id` at `epoch` may commit offsets, or read them
    /// (OffsetFetch v9): Kafka's rule for consumer groups, the member's
    /// current epoch exactly (any other is STALE_MEMBER_EPOCH, which
    /// clients retry with their latest epoch).
    pub fn check_commit(&self, member_id: &str, epoch: i32) -> Result<(), ErrorCode> {
        let Some(member) = self.members.get(member_id) else {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        if epoch == member.member_epoch {
            Ok(())
        } else {
            Err(ErrorCode::STALE_MEMBER_EPOCH)
        }
    }

    fn subscribed_metadata(&self, topics: TopicLookup<'_>) -> BTreeMap<String, (Uuid, i32)> {
        let names: BTreeSet<&String> = self
            .members
            .values()
            .flat_map(ConsumerMember::subscription)
            .collect();
        names
            .into_iter()
            .filter_map(|n| topics.lookup(n).map(|t| (n.clone(), t)))
            .collect()
    }

    /// Bumps the group epoch and computes the target assignment for it.
    fn new_target(&mut self) {
        self.group_epoch += 1;
        let subscriptions: BTreeMap<String, Vec<String>> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), m.subscription().cloned().collect()))
            .collect();
        let previous = std::mem::take(&mut self.target);
        self.target = match self.assignor() {
            "range" => assign_range(&subscriptions, &self.topics),
            _ => assign_uniform(&subscriptions, &self.topics, &previous),
        };
        debug_assert!(self.target_is_exclusive());
        self.changes.epoch = true;
        for (id, target) in &self.target {
            if previous.get(id) != Some(target) {
                self.changes.target.insert(id.clone());
            }
        }
    }

    fn target_is_exclusive(&self) -> bool {
        let mut seen = BTreeSet::new();
        self.target
            .values()
            .flat_map(|a| {
                a.iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            })
            .all(|tp| seen.insert(tp))
    }

    /// Moves `member_id` as far towards its target as it can go now;
    /// `owned` is what it says it owns (when it said).
    fn reconcile(&mut self, now: i64, member_id: &str, owned: Option<&Assignment>) {
        let epoch = self.group_epoch;
        let member = &self.members[member_id];
        if member.state == MemberState::UnrevokedPartitions {
            let revoked = owned.is_some_and(|o| !overlaps(o, &member.pending_revocation));
            if !revoked {
                return;
            }
        } else if member.member_epoch == epoch && member.state == MemberState::Stable {
            return;
        }
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let held = self.held_by_others(member_id);
        let member = self.members.get_mut(member_id).expect("present");
        if member.state == MemberState::UnrevokedPartitions {
            member.pending_revocation.clear();
            member.revocation_deadline = None;
            member.state = MemberState::Stable;
        }
        let keep = intersect(&member.assigned, &target);
        let revoke = minus(&member.assigned, &target);
        // A member whose request already shows it no longer owns them
        // (it missed the answer that asked, or gave them up on its own)
        // has nothing to revoke: asking would leave it waiting for a
        // change it never makes (as Kafka's CurrentAssignmentBuilder).
        let still_owned = owned.is_none_or(|o| overlaps(o, &revoke));
        if !is_empty(&revoke) && still_owned {
            // Give up first, keeping the epoch: what it keeps it may go on
            // consuming meanwhile.
            member.assigned = keep;
            member.pending_revocation = revoke;
            member.state = MemberState::UnrevokedPartitions;
            member.revocation_deadline = Some(now + i64::from(member.rebalance_timeout_ms.max(0)));
            return;
        }
        let wanted = minus(&target, &member.assigned);
        let free = minus(&wanted, &held);
        let unreleased = !is_empty(&minus(&wanted, &free));
        member.assigned = union(&keep, &free);
        if member.member_epoch != epoch {
            member.previous_member_epoch = member.member_epoch;
            member.member_epoch = epoch;
        }
        member.state = if unreleased {
            MemberState::UnreleasedPartitions
        } else {
            MemberState::Stable
        };
        debug_assert!(is_empty(&intersect(&member.assigned, &held)));
    }

    /// What the other members own or have yet to give up.
    fn held_by_others(&self, member_id: &str) -> Assignment {
        let mut held = Assignment::new();
        for m in self.members.values().filter(|m| m.member_id != member_id) {
            held = union(&held, &m.assigned);
            held = union(&held, &m.pending_revocation);
        }
        held
    }
}

/// Kafka's checks of a heartbeat's fields (INVALID_REQUEST), and of the
/// assignor's name (UNSUPPORTED_ASSIGNOR).
fn validate(request: &Heartbeat) -> Result<(), (ErrorCode, String)> {
    let invalid = |m: &str| Err((ErrorCode::INVALID_REQUEST, m.to_string()));
    if request.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if request.member_epoch < -2 {
        return invalid("MemberEpoch is invalid.");
    }
    if request.member_id.len() > crate::records::MAX_STRING {
        return invalid("MemberId is too long.");
    }
    if request.member_epoch != 0 && request.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if request.member_epoch == -2 && request.instance_id.is_none() {
        return invalid("InstanceId can't be null.");
    }
    if request.member_epoch == 0 {
        if request.rebalance_timeout_ms < 0 {
            return invalid("RebalanceTimeoutMs must be provided in first request.");
        }
        // librdkafka sends an empty expression when it subscribes by name.
        let regex = request
            .subscribed_topic_regex
            .as_ref()
            .is_some_and(|r| !r.is_empty());
        if request.subscribed_topic_names.is_none() && !regex {
            return invalid(
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
            );
        }
        // Kafka wants an empty list here; librdkafka sends none at all,
        // which says the same.
        if request
            .owned
            .as_ref()
            .is_some_and(|o| o.iter().any(|(_, ps)| !ps.is_empty()))
        {
            return invalid("TopicPartitions must be empty when (re-)joining.");
        }
    }
    if let Some(name) = &request.server_assignor {
        if !ASSIGNORS.contains(&name.as_str()) {
            return Err((
                ErrorCode::UNSUPPORTED_ASSIGNOR,
                format!(
                    "ServerAssignor {name} is not supported. Supported assignors: {}.",
                    ASSIGNORS.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A heartbeat's epoch against the member's: the current epoch, or the
/// previous one when the member missed the answer that moved it on and
/// owns nothing it was not given.
fn check_epoch(
    member: &ConsumerMember,
    epoch: i32,
    owned: &Option<Vec<(Uuid, Vec<i32>)>>,
) -> Result<(), String> {
    if epoch == member.member_epoch {
        return Ok(());
    }
    // As Kafka: the member must say what it owns (a full request), and own
    // nothing it was not given.
    let owns_only_assigned = owned
        .as_ref()
        .is_some_and(|o| is_empty(&minus(&to_assignment(o), &member.assigned)));
    if epoch == member.previous_member_epoch && epoch < member.member_epoch && owns_only_assigned {
        return Ok(());
    }
    Err(format!(
        "the member's epoch is {}, the request's {epoch}",
        member.member_epoch
    ))
}

// ---------------------------------------------------------------------
// Assignors
// ---------------------------------------------------------------------

/// Kafka's "uniform" assignor, in its spirit: every partition of a
/// subscribed topic goes to one member subscribed to it, partitions stay
/// where they were when balance allows (sticky), and no member has two
/// more than another member that could take one of its partitions.
pub fn assign_uniform(
    subscriptions: &BTreeMap<String, Vec<String>>,
    topics: &BTreeMap<String, (Uuid, i32)>,
    previous: &BTreeMap<String, Assignment>,
) -> BTreeMap<String, Assignment> {
    let subscribed = |member: &str, topic: &str| {
        subscriptions
            .get(member)
            .is_some_and(|s| s.iter().any(|t| t == topic))
    };
    // Each partition with its owner: the previous one while it is still
    // a member subscribed to the topic.
    let mut owner: BTreeMap<(String, i32), Option<String>> = BTreeMap::new();
    for (name, (id, count)) in topics {
        if !subscriptions.values().any(|s| s.contains(name)) {
            continue;
        }
        for p in 0..*count {
            let before = previous
                .iter()
                .find(|(_, a)| a.get(id).is_some_and(|ps| ps.contains(&p)))
                .map(|(m, _)| m.clone())
                .filter(|m| subscribed(m, name));
            owner.insert((name.clone(), p), before);
        }
    }
    let mut load: BTreeMap<String, usize> = subscriptions.keys().map(|m| (m.clone(), 0)).collect();
    for m in owner.values().flatten() {
        *load.get_mut(m).expect("a member") += 1;
    }
    // Partitions without an owner go to the least loaded member that can
    // take them.
    let unowned: Vec<(String, i32)> = owner
        .iter()
        .filter(|(_, o)| o.is_none())
        .map(|(k, _)| k.clone())
        .collect();
    for (topic, p) in unowned {
        let best = load
            .iter()
            .filter(|(m, _)| subscribed(m, &topic))
            .min_by_key(|(m, l)| (**l, (*m).clone()))
            .map(|(m, _)| m.clone());
        if let Some(m) = best {
            *load.get_mut(&m).expect("a member") += 1;
            owner.insert((topic, p), Some(m));
        }
    }
    // Then balance: move a partition from a member to one subscribed to
    // its topic that has at least two fewer, until none can move. Each
    // move lowers the sum of squared loads, so this ends.
    for _ in 0..=owner.len() * subscriptions.len().max(1) {
        let mut moved = false;
        let mut heavy: Vec<(String, usize)> = load.iter().map(|(m, l)| (m.clone(), *l)).collect();
        heavy.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        'search: for (from, from_load) in &heavy {
            // Its partitions, the last ones first (the first stay put).
            let mine: Vec<(String, i32)> = owner
                .iter()
                .rev()
                .filter(|(_, o)| o.as_deref() == Some(from.as_str()))
                .map(|(k, _)| k.clone())
                .collect();
            for (topic, p) in mine {
                let to = load
                    .iter()
                    .filter(|(m, l)| **l + 1 < *from_load && subscribed(m, &topic))
                    .min_by_key(|(m, l)| (**l, (*m).clone()))
                    .map(|(m, _)| m.clone());
                if let Some(to) = to {
                    *load.get_mut(from).expect("a member") -= 1;
                    *load.get_mut(&to).expect("a member") += 1;
                    owner.insert((topic, p), Some(to));
                    moved = true;
                    break 'search;
                }
            }
        }
        if !moved {
            break;
        }
    }
    let mut out: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for ((topic, p), m) in owner {
        if let Some(m) = m {
            let id = topics[&topic].0;
            out.get_mut(&m)
                .expect("a member")
                .entry(id)
                .or_default()
                .insert(p);
        }
    }
    out
}

/// Kafka's "range" assignor: each topic's partitions split into
/// contiguous ranges over the members subscribed to it, in member id
/// order, the first ones taking one more when they do not divide evenly.
pub fn assign_range(
    subscriptions: &BTreeMap<String, Vec<String>>,
    topics: &BTreeMap<String, (Uuid, i32)>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = subscriptions
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    for (name, (id, count)) in topics {
        let members: Vec<&String> = subscriptions
            .iter()
            .filter(|(_, s)| s.contains(name))
            .map(|(m, _)| m)
            .collect();
        if members.is_empty() {
            continue;
        }
        let count = usize::try_from(*count).unwrap_or(0);
        let (each, extra) = (count / members.len(), count % members.len());
        let mut next = 0;
        for (i, m) in members.into_iter().enumerate() {
            let n = each + usize::from(i < extra);
            let range: BTreeSet<i32> = (next..next + n).map(|p| p as i32).collect();
            next += n;
            if !range.is_empty() {
                out.get_mut(m).expect("a member").insert(*id, range);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------
// Assignment arithmetic
// ---------------------------------------------------------------------

fn to_assignment(partitions: &[(Uuid, Vec<i32>)]) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in partitions {
        if !ps.is_empty() {
            out.entry(*t).or_default().extend(ps.iter().copied());
        }
    }
    out
}

fn from_assignment(a: &Assignment) -> Vec<(Uuid, Vec<i32>)> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| (*t, ps.iter().copied().collect()))
        .collect()
}

fn is_empty(a: &Assignment) -> bool {
    a.values().all(BTreeSet::is_empty)
}

fn intersect(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        if let Some(other) = b.get(t) {
            let both: BTreeSet<i32> = ps.intersection(other).copied().collect();
            if !both.is_empty() {
                out.insert(*t, both);
            }
        }
    }
    out
}

fn minus(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = Assignment::new();
    for (t, ps) in a {
        let rest: BTreeSet<i32> = match b.get(t) {
            Some(other) => ps.difference(other).copied().collect(),
            None => ps.clone(),
        };
        if !rest.is_empty() {
            out.insert(*t, rest);
        }
    }
    out
}

fn union(a: &Assignment, b: &Assignment) -> Assignment {
    let mut out = a.clone();
    for (t, ps) in b {
        if !ps.is_empty() {
            out.entry(*t).or_default().extend(ps.iter().copied());
        }
    }
    out
}

fn overlaps(a: &Assignment, b: &Assignment) -> bool {
    !is_empty(&intersect(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic_id(n: u8) -> Uuid {
        Uuid([n; 16])
    }

    /// Topics "a" (6 partitions) and "b" (4).
    fn lookup(name: &str) -> Option<(Uuid, i32)> {
        match name {
            "a" => Some((topic_id(1), 6)),
            "b" => Some((topic_id(2), 4)),
            _ => None,
        }
    }

    /// The topics of `lookup`; an expression is a name or a prefix and
    /// `.*`, and invalid when it holds `(`.
    struct TestTopics;

    impl Topics for TestTopics {
        fn lookup(&self, name: &str) -> Option<(Uuid, i32)> {
            lookup(name)
        }
        fn matching(&self, regex: &str) -> Result<Vec<String>, String> {
            if regex.contains('(') {
                return Err("unclosed group".into());
            }
            let prefix = regex.strip_suffix(".*");
            Ok(["a", "b"]
                .iter()
                .filter(|t| prefix.map_or(**t == regex, |p| t.starts_with(p)))
                .map(|t| t.to_string())
                .collect())
        }
    }

    struct Harness {
        group: ConsumerGroup,
        config: ConsumerGroupConfig,
        next_id: u32,
    }

    impl Harness {
        fn new() -> Harness {
            Harness {
                group: ConsumerGroup::default(),
                config: ConsumerGroupConfig::default(),
                next_id: 0,
            }
        }

        fn beat(&mut self, now: i64, request: Heartbeat) -> HeartbeatResult {
            let next_id = &mut self.next_id;
            let result = self
                .group
                .heartbeat(now, request, &self.config, &TestTopics, &mut || {
                    *next_id += 1;
                    format!("m{next_id}")
                });
            self.check_invariants();
            result
        }

        fn join(&mut self, now: i64, topics: &[&str], assignor: Option<&str>) -> HeartbeatResult {
            self.beat(
                now,
                Heartbeat {
                    group_id: "g".into(),
                    member_epoch: 0,
                    rebalance_timeout_ms: 30_000,
                    subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
                    server_assignor: assignor.map(str::to_string),
                    owned: Some(Vec::new()),
                    ..Default::default()
                },
            )
        }

        fn check_invariants(&self) {
            // No partition is owned (or still being given up) by two members.
            let mut seen = BTreeSet::new();
            for m in self.group.members.values() {
                for a in [&m.assigned, &m.pending_revocation] {
                    for (t, ps) in a {
                        for p in ps {
                            assert!(
                                seen.insert((*t, *p)),
                                "{t:?}-{p} owned twice: {:#?}",
                                self.group.members
                            );
                        }
                    }
                }
                assert!(m.member_epoch <= self.group.group_epoch);
            }
            assert!(self.group.target_is_exclusive());
        }
    }

    /// A client as the protocol expects one to behave: it remembers its
    /// member id, epoch and assignment from answers, and owns exactly what
    /// it was last given.
    #[derive(Clone, Debug)]
    struct Client {
        id: String,
        epoch: i32,
        owned: Assignment,
    }

    impl Client {
        fn beat(&mut self, h: &mut Harness, now: i64) -> HeartbeatResult {
            let r = h.beat(
                now,
                Heartbeat {
                    group_id: "g".into(),
                    member_id: self.id.clone(),
                    member_epoch: self.epoch,
                    rebalance_timeout_ms: -1,
                    owned: Some(from_assignment(&self.owned)),
                    ..Default::default()
                },
            );
            self.take(&r);
            r
        }

        fn take(&mut self, r: &HeartbeatResult) {
            if r.error == ErrorCode::NONE {
                self.epoch = r.member_epoch;
                if let Some(a) = &r.assignment {
                    self.owned = to_assignment(a);
                }
            }
        }
    }

    fn joined(h: &mut Harness, now: i64, topics: &[&str]) -> Client {
        rejoined(h, now, topics, "")
    }

    /// Joins with `member_id` (empty: the coordinator picks one).
    fn rejoined(h: &mut Harness, now: i64, topics: &[&str], member_id: &str) -> Client {
        joined_as(h, now, topics, member_id, None)
    }

    /// Joins with `member_id` (empty: the coordinator picks one), as a
    /// static member when `instance` is given.
    fn joined_as(
        h: &mut Harness,
        now: i64,
        topics: &[&str],
        member_id: &str,
        instance: Option<&str>,
    ) -> Client {
        let r = h.beat(
            now,
            Heartbeat {
                group_id: "g".into(),
                member_id: member_id.into(),
                member_epoch: 0,
                instance_id: instance.map(str::to_string),
                rebalance_timeout_ms: 30_000,
                subscribed_topic_names: Some(topics.iter().map(|t| t.to_string()).collect()),
                owned: Some(Vec::new()),
                ..Default::default()
            },
        );
        assert_eq!(r.error, ErrorCode::NONE, "{r:?}");
        let mut c = Client {
            id: r.member_id.clone().unwrap(),
            epoch: 0,
            owned: Assignment::new(),
        };
        c.take(&r);
        c
    }

    fn count(a: &Assignment) -> usize {
        a.values().map(BTreeSet::len).sum()
    }

    #[test]
    fn a_lone_member_gets_every_partition_at_the_first_epoch() {
        let mut h = Harness::new();
        let c = joined(&mut h, 0, &["a", "b", "missing"]);
        assert_eq!(c.epoch, 1);
        assert_eq!(count(&c.owned), 10);
        assert_eq!(h.group.state_name(), "Stable");
    }

    #[test]
    fn a_second_member_gets_partitions_only_after_the_first_revokes_them() {
        let mut h = Harness::new();
        let mut one = joined(&mut h, 0, &["a"]);
        assert_eq!(count(&one.owned), 6);
        let mut two = joined(&mut h, 10, &["a"]);
        // The target moved to epoch 2, but all 6 are still one's.
        assert_eq!(h.group.group_epoch, 2);
        assert_eq!(count(&two.owned), 0);
        assert_eq!(two.epoch, 2);
        assert_eq!(
            h.group.members[&two.id].state,
            MemberState::UnreleasedPartitions
        );
        // One is told to keep 3: its epoch stays until it says it gave up
        // the others.
        let r = one.beat(&mut h, 20);
        assert_eq!((r.member_epoch, count(&one.owned)), (1, 3));
        assert_eq!(
            h.group.members[&one.id].state,
            MemberState::UnrevokedPartitions
        );
        assert_eq!(h.group.state_name(), "Reconciling");
        // Reporting the 3 it kept, it moves to epoch 2.
        let r = one.beat(&mut h, 30);
        assert_eq!((r.member_epoch, count(&one.owned)), (2, 3));
        // Two now gets the released 3.
        two.beat(&mut h, 40);
        assert_eq!(count(&two.owned), 3);
        assert!(is_empty(&intersect(&one.owned, &two.owned)));
        assert_eq!(h.group.state_name(), "Stable");
        // An answer with nothing new carries no assignment.
        assert_eq!(h.group.members[&two.id].state, MemberState::Stable);
        let r = h.beat(
            50,
            Heartbeat {
                group_id: "g".into(),
                member_id: two.id.clone(),
                member_epoch: two.epoch,
                ..Default::default()
            },
        );
        assert_eq!(r.assignment, None);
    }

    #[test]
    fn a_member_that_leaves_or_times_out_frees_its_partitions() {
        let mut h = Harness::new();
        let mut one = joined(&mut h, 0, &["a"]);
        let mut two = joined(&mut h, 0, &["a"]);
        for t in 1..5 {
            one.beat(&mut h, t);
            two.beat(&mut h, t);
        }
        assert_eq!((count(&one.owned), count(&two.owned)), (3, 3));
        let r = h.beat(
            10,
            Heartbeat {
                group_id: "g".into(),
                member_id: two.id.clone(),
                member_epoch: -1,
                ..Default::default()
            },
        );
        assert_eq!((r.error, r.member_epoch), (ErrorCode::NONE, -1));
        one.beat(&mut h, 11);
        assert_eq!(count(&one.owned), 6);

        // A third joins; then one stops heartbeating.
        let mut three = joined(&mut h, 20, &["a"]);
        for t in 21..25 {
            one.beat(&mut h, t);
            three.beat(&mut h, t);
        }
        assert_eq!(count(&three.owned), 3);
        let session = i64::from(h.config.session_timeout_ms);
        assert_eq!(h.group.next_deadline(), Some(24 + session));
        three.beat(&mut h, 20 + session);
        let removed = h.group.expire(24 + session);
        assert_eq!(removed, vec![Removal::SessionExpired(one.id.clone())]);
        three.beat(&mut h, 25 + session);
        assert_eq!(count(&three.owned), 6);
        // The expired member is fenced out: it must join again.
        let r = one.beat(&mut h, 26 + session);
        assert_eq!(r.error, ErrorCode::UNKNOWN_MEMBER_ID);
    }

    #[test]
    fn a_member_that_does_not_revoke_within_its_rebalance_timeout_is_removed() {
        let mut h = Harness::new();
        let mut one = joined(&mut h, 0, &["a"]);
        let _two = joined(&mut h, 0, &["a"]);
        one.beat(&mut h, 1);
        assert_eq!(
            h.group.members[&one.id].state,
            MemberState::UnrevokedPartitions
        );
        assert_eq!(h.group.members[&one.id].revocation_deadline, Some(30_001));
        assert!(h.group.expire(30_000).is_empty());
        assert_eq!(
            h.group.expire(30_001),
            vec![Removal::RevocationTimedOut(one.id.clone())]
        );
    }

    #[test]
    fn epochs_ahead_are_fenced_and_the_previous_epoch_is_forgiven() {
        let mut h = Harness::new();
        let mut one = joined(&mut h, 0, &["a"]);
        let mut two = joined(&mut h, 0, &["a"]);
        for t in 1..5 {
            one.beat(&mut h, t);
            two.beat(&mut h, t);
        }
        assert_eq!(one.epoch, 2);
        let mut ahead = one.clone();
        ahead.epoch = 3;
        assert_eq!(ahead.beat(&mut h, 6).error, ErrorCode::FENCED_MEMBER_EPOCH);
        // Epoch 1 without saying what it owns is fenced (Kafka's rule).
        let r = h.beat(
            6,
            Heartbeat {
                group_id: "g".into(),
                member_id: one.id.clone(),
                member_epoch: 1,
                rebalance_timeout_ms: -1,
                ..Default::default()
            },
        );
        assert_eq!(r.error, ErrorCode::FENCED_MEMBER_EPOCH);
        // One lost the answer that moved it from 1 to 2: epoch 1 with what
        // it was given is still accepted, and answered with epoch 2.
        let mut behind = one.clone();
        behind.epoch = 1;
        let r = behind.beat(&mut h, 7);
        assert_eq!((r.error, r.member_epoch), (ErrorCode::NONE, 2));
        // Claiming partitions it was not given, it is fenced.
        let mut greedy = one.clone();
        greedy.epoch = 1;
        greedy.owned = union(&one.owned, &two.owned);
        assert_eq!(greedy.beat(&mut h, 8).error, ErrorCode::FENCED_MEMBER_EPOCH);
        // Commits: the current epoch only.
        assert_eq!(h.group.check_commit(&one.id, 2), Ok(()));
        assert_eq!(
            h.group.check_commit(&one.id, 1),
            Err(ErrorCode::STALE_MEMBER_EPOCH)
        );
        assert_eq!(
            h.group.check_commit(&one.id, 3),
            Err(ErrorCode::STALE_MEMBER_EPOCH)
        );
        assert_eq!(
            h.group.check_commit("nobody", 2),
            Err(ErrorCode::UNKNOWN_MEMBER_ID)
        );
    }

    #[test]
    fn bad_requests_get_kafkas_errors() {
        let mut h = Harness::new();
        let r = h.join(0, &["a"], Some("sticky"));
        assert_eq!(r.error, ErrorCode::UNSUPPORTED_ASSIGNOR);
        let base = Heartbeat {
            group_id: "g".into(),
            member_epoch: 0,
            rebalance_timeout_ms: 1000,
            subscribed_topic_names: Some(vec!["a".into()]),
            owned: Some(Vec::new()),
            ..Default::default()
        };
        for (what, request) in [
            (
                "no group",
                Heartbeat {
                    group_id: String::new(),
                    ..base.clone()
                },
            ),
            (
                "no subscription",
                Heartbeat {
                    subscribed_topic_names: None,
                    ..base.clone()
                },
            ),
            (
                "no rebalance timeout",
                Heartbeat {
                    rebalance_timeout_ms: -1,
                    ..base.clone()
                },
            ),
            (
                "owning on join",
                Heartbeat {
                    owned: Some(vec![(topic_id(1), vec![0])]),
                    ..base.clone()
                },
            ),
            (
                "no member id",
                Heartbeat {
                    member_epoch: 3,
                    ..base.clone()
                },
            ),
            (
                "epoch -3",
                Heartbeat {
                    member_id: "x".into(),
                    member_epoch: -3,
                    ..base.clone()
                },
            ),
            (
                "neither names nor expression",
                Heartbeat {
                    subscribed_topic_names: None,
                    subscribed_topic_regex: Some(String::new()),
                    ..base.clone()
                },
            ),
        ] {
            assert_eq!(
                h.beat(0, request).error,
                ErrorCode::INVALID_REQUEST,
                "{what}"
            );
        }
        let bad = Heartbeat {
            subscribed_topic_regex: Some("a(".into()),
            ..base.clone()
        };
        assert_eq!(h.beat(0, bad).error, ErrorCode::INVALID_REGULAR_EXPRESSION);
        assert!(h.group.members.is_empty());
        h.config.max_size = 1;
        assert_eq!(h.beat(0, base.clone()).error, ErrorCode::NONE);
        assert_eq!(h.beat(0, base).error, ErrorCode::GROUP_MAX_SIZE_REACHED);
    }

    /// The case a lost answer makes: a member whose request shows it does
    /// not own what its new target takes away goes straight to the new
    /// epoch; asked to revoke what it does not hold, it would never
    /// answer (clients send their owned partitions only when they change).
    #[test]
    fn a_member_is_not_asked_to_revoke_what_its_request_shows_it_does_not_own() {
        let mut h = Harness::new();
        let mut one = joined(&mut h, 0, &["a"]);
        let mut two = joined(&mut h, 1, &["a"]);
        // One revokes three; two gets them in its next heartbeat, whose
        // answer is lost: the server has two owning 3, the client none.
        one.beat(&mut h, 2);
        one.beat(&mut h, 3);
        let mut lost = two.clone();
        lost.beat(&mut h, 4);
        assert_eq!(count(&h.group.members[&two.id].assigned), 3);
        assert_eq!(count(&two.owned), 0);
        // A third member: two's target shrinks to 2.
        let _three = joined(&mut h, 5, &["a"]);
        let epoch = h.group.group_epoch;
        // Two resends a full request at its old epoch, owning nothing.
        let r = two.beat(&mut h, 6);
        assert_eq!(r.error, ErrorCode::NONE, "{r:?}");
        assert_eq!(h.group.members[&two.id].state, MemberState::Stable);
        assert_eq!(r.member_epoch, epoch);
        assert_eq!(count(&two.owned), 2);
    }

    #[test]
    fn static_members_are_unique_and_leave_with_their_instance_id() {
        let mut h = Harness::new();
        let join = |id: &str| Heartbeat {
            group_id: "g".into(),
            member_id: id.into(),
            member_epoch: 0,
            instance_id: Some("i-1".into()),
            rebalance_timeout_ms: 1000,
            subscribed_topic_names: Some(vec!["a".into()]),
            owned: Some(Vec::new()),
            ..Default::default()
        };
        assert_eq!(h.beat(0, join("x")).error, ErrorCode::NONE);
        assert_eq!(
            h.beat(1, join("y")).error,
            ErrorCode::UNRELEASED_INSTANCE_ID
        );
        // The same member joining again is not another instance.
        assert_eq!(h.beat(2, join("x")).error, ErrorCode::NONE);
        let leave = |instance: Option<&str>| Heartbeat {
            group_id: "g".into(),
            member_id: "x".into(),
            member_epoch: -2,
            instance_id: instance.map(str::to_string),
            ..Default::default()
        };
        assert_eq!(h.beat(3, leave(None)).error, ErrorCode::INVALID_REQUEST);
        assert_eq!(h.beat(4, leave(Some("i-1"))).error, ErrorCode::NONE);
        assert_eq!(h.beat(5, join("y")).error, ErrorCode::NONE);
    }

    #[test]
    fn static_slots_follow_kafkas_rules_for_ids_epochs_and_what_is_owned() {
        let mut h = Harness::new();
        let beat = |id: &str, epoch: i32, instance: &str, owned: Option<Vec<(Uuid, Vec<i32>)>>| {
            Heartbeat {
                group_id: "g".into(),
                member_id: id.into(),
                member_epoch: epoch,
                instance_id: Some(instance.into()),
                rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
                subscribed_topic_names: (epoch == 0).then(|| vec!["a".into()]),
                owned,
                ..Default::default()
            }
        };
        let first = h.beat(0, beat("s", 0, "i-s", Some(Vec::new())));
        let mut s = Client {
            id: "s".into(),
            epoch: 0,
            owned: Assignment::new(),
        };
        s.take(&first);
        let t = h.beat(0, beat("t", 0, "i-t", Some(Vec::new())));
        assert_eq!(t.error, ErrorCode::NONE);
        // s gives half up to t.
        s.beat(&mut h, 1);
        s.beat(&mut h, 1);
        assert_eq!(count(&s.owned), 3);
        // A member may not take another's instance id.
        let epoch = h.group.members["t"].member_epoch;
        assert_eq!(
            h.beat(1, beat("t", epoch, "i-s", None)).error,
            ErrorCode::FENCED_INSTANCE_ID
        );
        // Leaving with -2 is checked by instance: another member's id is
        // fenced, an unknown instance is unknown.
        assert_eq!(
            h.beat(2, beat("t", -2, "i-s", None)).error,
            ErrorCode::FENCED_INSTANCE_ID
        );
        assert_eq!(
            h.beat(2, beat("s", -2, "i-x", None)).error,
            ErrorCode::UNKNOWN_MEMBER_ID
        );
        assert_eq!(h.beat(3, beat("s", -2, "i-s", None)).error, ErrorCode::NONE);
        let slot = h.group.members["s"].assigned.clone();
        assert_eq!(count(&slot), 3);
        // Away, it is fenced at any epoch but 0.
        let s_epoch = h.group.group_epoch;
        assert_eq!(
            h.beat(4, beat("s", s_epoch, "i-s", None)).error,
            ErrorCode::FENCED_MEMBER_EPOCH
        );
        // While it is away a third member joins: its target shrinks to 2.
        let _u = joined(&mut h, 5, &["a"]);
        assert_eq!(count(&h.group.target["s"]), 2);
        // It comes back with the same member id (Java's consumer after
        // unsubscribe and subscribe), saying nothing of what it owns: it
        // is given its target at once, not asked to revoke.
        let back = h.beat(6, beat("s", 0, "i-s", None));
        assert_eq!(back.error, ErrorCode::NONE, "{back:?}");
        assert_eq!(back.member_epoch, h.group.group_epoch);
        assert_eq!(h.group.members["s"].state, MemberState::Stable);
        assert!(is_empty(&h.group.members["s"].pending_revocation));
        let got = to_assignment(&back.assignment.unwrap());
        assert_eq!(count(&got), 2);
        assert!(is_empty(&minus(&got, &slot)), "{got:?} not within {slot:?}");
    }

    #[test]
    fn a_static_member_that_leaves_keeps_its_slot_for_its_next_instance() {
        let mut h = Harness::new();
        let static_join = |id: &str| Heartbeat {
            group_id: "g".into(),
            member_id: id.into(),
            member_epoch: 0,
            instance_id: Some("i-1".into()),
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["a".into()]),
            owned: Some(Vec::new()),
            ..Default::default()
        };
        let r = h.beat(0, static_join("s1"));
        let mut s1 = Client {
            id: "s1".into(),
            epoch: 0,
            owned: Assignment::new(),
        };
        s1.take(&r);
        let mut d = joined(&mut h, 1, &["a"]);
        for now in 2..6 {
            s1.beat(&mut h, now);
            d.beat(&mut h, now);
        }
        assert_eq!(h.group.state_name(), "Stable");
        let (epoch, held) = (h.group.group_epoch, s1.owned.clone());
        assert_eq!((count(&held), count(&d.owned)), (3, 3));

        // It leaves for now: nobody's assignment changes, its slot stays.
        let left = h.beat(
            10,
            Heartbeat {
                group_id: "g".into(),
                member_id: "s1".into(),
                member_epoch: LEFT_STATIC_MEMBER_EPOCH,
                instance_id: Some("i-1".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            (left.error, left.member_epoch),
            (ErrorCode::NONE, LEFT_STATIC_MEMBER_EPOCH)
        );
        assert_eq!(h.group.group_epoch, epoch);
        assert_eq!(h.group.members["s1"].assigned, held);
        let r = d.beat(&mut h, 11);
        assert_eq!((r.member_epoch, count(&d.owned)), (epoch, 3));

        // Its next instance takes the slot over: the same partitions, at
        // the same group epoch, under its own member id.
        let _ = h.group.take_changes();
        let r = h.beat(20, static_join("s2"));
        assert_eq!(r.error, ErrorCode::NONE, "{r:?}");
        assert_eq!(r.member_epoch, epoch);
        assert_eq!(to_assignment(&r.assignment.unwrap()), held);
        assert_eq!(h.group.group_epoch, epoch);
        assert!(!h.group.members.contains_key("s1"));
        let changes = h.group.take_changes();
        assert!(changes.removed.contains("s1") && changes.target.contains("s2"));
        assert!(!changes.epoch);
        // The old instance is fenced (told so when it names its instance).
        assert_eq!(s1.beat(&mut h, 21).error, ErrorCode::UNKNOWN_MEMBER_ID);
        let stale = h.beat(
            21,
            Heartbeat {
                group_id: "g".into(),
                member_id: "s1".into(),
                member_epoch: epoch,
                instance_id: Some("i-1".into()),
                ..Default::default()
            },
        );
        assert_eq!(stale.error, ErrorCode::FENCED_INSTANCE_ID);

        // Away for longer than its session: its partitions go to the others.
        let left = h.beat(
            30,
            Heartbeat {
                group_id: "g".into(),
                member_id: "s2".into(),
                member_epoch: LEFT_STATIC_MEMBER_EPOCH,
                instance_id: Some("i-1".into()),
                ..Default::default()
            },
        );
        assert_eq!(left.error, ErrorCode::NONE);
        let session = i64::from(h.config.session_timeout_ms);
        d.beat(&mut h, 30 + session - 1);
        assert_eq!(
            h.group.expire(30 + session),
            vec![Removal::SessionExpired("s2".into())]
        );
        let r = d.beat(&mut h, 31 + session);
        assert_eq!(r.member_epoch, epoch + 1);
        assert_eq!(count(&d.owned), 6);
    }

    #[test]
    fn an_expression_subscribes_to_the_topics_it_matches() {
        let mut h = Harness::new();
        let r = h.beat(
            0,
            Heartbeat {
                group_id: "g".into(),
                member_epoch: 0,
                rebalance_timeout_ms: 1000,
                subscribed_topic_regex: Some(".*".into()),
                owned: Some(Vec::new()),
                ..Default::default()
            },
        );
        assert_eq!(r.error, ErrorCode::NONE);
        let all: usize = r.assignment.unwrap().iter().map(|(_, ps)| ps.len()).sum();
        assert_eq!(all, 10);
        // Narrowed to "a": b's partitions are taken back.
        let r = h.beat(
            1,
            Heartbeat {
                group_id: "g".into(),
                member_id: r.member_id.unwrap(),
                member_epoch: 1,
                rebalance_timeout_ms: -1,
                subscribed_topic_regex: Some("a".into()),
                ..Default::default()
            },
        );
        let topics: Vec<Uuid> = r.assignment.unwrap().iter().map(|(t, _)| *t).collect();
        assert_eq!(topics, [topic_id(1)]);
    }

    #[test]
    fn range_gives_contiguous_ranges_and_uniform_balances_mixed_subscriptions() {
        let subs: BTreeMap<String, Vec<String>> = [
            ("m1".to_string(), vec!["a".to_string()]),
            ("m2".to_string(), vec!["a".to_string(), "b".to_string()]),
        ]
        .into();
        let topics: BTreeMap<String, (Uuid, i32)> = [
            ("a".to_string(), lookup("a").unwrap()),
            ("b".to_string(), lookup("b").unwrap()),
        ]
        .into();
        let range = assign_range(&subs, &topics);
        assert_eq!(range["m1"][&topic_id(1)], (0..3).collect());
        assert_eq!(range["m2"][&topic_id(1)], (3..6).collect());
        assert_eq!(range["m2"][&topic_id(2)], (0..4).collect());
        // Uniform: b's 4 can only go to m2, so m1 takes all of a but
        // one, which balances the two.
        let uniform = assign_uniform(&subs, &topics, &BTreeMap::new());
        assert_eq!(count(&uniform["m1"]), 5);
        assert_eq!(uniform["m1"].keys().collect::<Vec<_>>(), [&topic_id(1)]);
        assert_eq!(count(&uniform["m2"]), 5);
        // Sticky: a third member of "a" takes partitions only from the
        // most loaded, and each member keeps the rest of what it had.
        let mut subs3 = subs.clone();
        subs3.insert("m3".into(), vec!["a".into()]);
        let next = assign_uniform(&subs3, &topics, &uniform);
        let loads: Vec<usize> = ["m1", "m2", "m3"]
            .iter()
            .map(|m| count(&next[*m]))
            .collect();
        assert_eq!(loads, [3, 4, 3]);
        for m in ["m1", "m2"] {
            assert!(
                is_empty(&minus(&next[m], &uniform[m])),
                "{m} gained partitions it did not have"
            );
        }
    }

    /// A member's metadata: subscribed to "a".
    fn subscriber_of_a() -> MemberMetadata {
        MemberMetadata {
            client_id: "c".into(),
            subscribed_topics: vec!["a".into()],
            rebalance_timeout_ms: 30_000,
            ..Default::default()
        }
    }

    /// A group rebuilt from `records`, before `finish_load`.
    fn replayed(records: impl IntoIterator<Item = GroupRecord>) -> ConsumerGroup {
        let mut g = ConsumerGroup::default();
        for record in records {
            g.replay(record);
        }
        g
    }

    #[test]
    fn a_load_repairs_what_the_records_left_inconsistent_and_writes_the_repair() {
        let a: Assignment = [(topic_id(1), BTreeSet::from([0, 1]))].into();
        let current = |assigned: &Assignment| CurrentAssignment {
            member_epoch: 3,
            previous_member_epoch: 2,
            state: MemberState::Stable,
            assigned: assigned.clone(),
            pending_revocation: Assignment::new(),
        };
        let member = subscriber_of_a();
        let mut g = replayed([
            GroupRecord::Epoch(Some(3)),
            GroupRecord::Topics(Some([("a".to_string(), (topic_id(1), 6))].into())),
            GroupRecord::Member("m1".into(), Some(member.clone())),
            GroupRecord::Member("m2".into(), Some(member)),
            GroupRecord::Target("m1".into(), Some(a.clone())),
            GroupRecord::Target("m2".into(), Some(a.clone())),
            GroupRecord::Target("ghost".into(), Some(Assignment::new())),
            GroupRecord::TargetEpoch(Some(3)),
            // Both hold partitions 0 and 1; m3 has no metadata.
            GroupRecord::Current("m1".into(), Some(current(&a))),
            GroupRecord::Current("m2".into(), Some(current(&a))),
            GroupRecord::Current("m3".into(), Some(current(&Assignment::new()))),
        ]);
        let problems = g.finish_load(0, &ConsumerGroupConfig::default(), &TestTopics);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert_eq!(g.members.keys().collect::<Vec<_>>(), ["m1", "m2"]);
        assert_eq!(g.members["m1"].assigned, a);
        assert!(is_empty(&g.members["m2"].assigned));
        // A new epoch with an exclusive target; all of it to be written.
        assert_eq!(g.group_epoch, 4);
        assert!(g.target_is_exclusive());
        let changes = g.take_changes();
        assert!(changes.epoch);
        assert_eq!(
            changes.removed,
            BTreeSet::from(["ghost".into(), "m3".into()])
        );
        assert!(changes.current.contains("m2"));
    }

    #[test]
    fn a_target_computed_at_load_is_sized_by_the_cluster_not_the_records() {
        // A damaged partition count for "a" (6 in the cluster), and a target
        // behind the group's epoch, so the load computes a new one.
        let mut g = replayed([
            GroupRecord::Epoch(Some(3)),
            GroupRecord::Topics(Some([("a".to_string(), (topic_id(1), 1000))].into())),
            GroupRecord::Member("m1".into(), Some(subscriber_of_a())),
            GroupRecord::TargetEpoch(Some(2)),
        ]);
        let problems = g.finish_load(0, &ConsumerGroupConfig::default(), &TestTopics);
        assert!(
            problems.iter().any(|p| p.contains("computed again")),
            "{problems:?}"
        );
        assert_eq!(g.topics["a"], (topic_id(1), 6));
        assert_eq!(g.target["m1"][&topic_id(1)], (0..6).collect());
        assert!(g.take_changes().epoch, "the refreshed counts are written");
    }

    /// `__consumer_offsets` as compaction leaves it: the last record of
    /// each key, in the order of the last writes.
    #[derive(Default)]
    struct CompactedLog {
        next: u64,
        by_key: BTreeMap<Vec<u8>, u64>,
        records: BTreeMap<u64, (bytes::Bytes, Option<bytes::Bytes>)>,
    }

    impl CompactedLog {
        fn write(&mut self, group: &mut ConsumerGroup) {
            let changes = group.take_changes();
            for (key, value) in crate::consumer_records::records("g", group, &changes) {
                if let Some(old) = self.by_key.insert(key.to_vec(), self.next) {
                    self.records.remove(&old);
                }
                self.records.insert(self.next, (key, value));
                self.next += 1;
            }
        }

        fn check_rebuilds(
            &self,
            live: &ConsumerGroup,
            now: i64,
            config: &ConsumerGroupConfig,
            seed: u64,
        ) {
            let mut rebuilt = ConsumerGroup::default();
            for (key, value) in self.records.values() {
                match crate::records::decode(Some(key.clone()), value.clone()) {
                    Ok(crate::records::OffsetsRecord::Consumer { group, record }) => {
                        assert_eq!(group, "g");
                        rebuilt.replay(record);
                    }
                    other => panic!("seed {seed}: {other:?}"),
                }
            }
            let problems = rebuilt.finish_load(now, config, &TestTopics);
            assert!(problems.is_empty(), "seed {seed}: {problems:?}");
            assert_eq!(rebuilt.group_epoch, live.group_epoch, "seed {seed}");
            assert_eq!(rebuilt.topics, live.topics, "seed {seed}");
            assert_eq!(rebuilt.target, live.target, "seed {seed}");
            let view = |g: &ConsumerGroup| -> Vec<(String, MemberMetadata, CurrentAssignment)> {
                g.members
                    .values()
                    .map(|m| (m.member_id.clone(), m.metadata(), m.current()))
                    .collect()
            };
            assert_eq!(view(&rebuilt), view(live), "seed {seed}");
        }
    }

    /// Seeded runs of members joining, heartbeating (sometimes losing the
    /// answer), leaving and being expired: no partition is ever owned by
    /// two members, and once everyone heartbeats without faults the group
    /// is stable with every partition assigned and loads within one.
    #[test]
    fn simulation() {
        // Static members that came back to their slot, over all seeds (the
        // run must have some to say anything about them).
        let mut slots_taken_over = 0;
        for seed in 1..=200u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut h = Harness::new();
            // Short enough for members that die to be expired in a run.
            h.config.session_timeout_ms = 5_000;
            let mut clients: Vec<Client> = Vec::new();
            // Instance ids of the static clients among them, and of
            // static members away (left with epoch -2): (member id,
            // instance id).
            let mut instances: BTreeMap<String, String> = BTreeMap::new();
            let mut away: Vec<(String, String)> = Vec::new();
            let mut next_instance = 0;
            let mut log = CompactedLog::default();
            let mut now = 0;
            for _ in 0..300 {
                // After each step, the group as its records rebuild it
                // (on a coordinator that loads the compacted partition)
                // is the group.
                log.write(&mut h.group);
                log.check_rebuilds(&h.group, now, &h.config, seed);
                now += 1 + next(200) as i64;
                match next(12) {
                    0 if clients.len() < 5 => {
                        let instance = (next(2) == 0).then(|| {
                            next_instance += 1;
                            format!("i{next_instance}")
                        });
                        let c = joined_as(&mut h, now, &["a", "b"], "", instance.as_deref());
                        if let Some(i) = instance {
                            instances.insert(c.id.clone(), i);
                        }
                        clients.push(c);
                    }
                    10 if !clients.is_empty() => {
                        // A static client leaves for now (epoch -2).
                        let i = next(clients.len() as u64) as usize;
                        if let Some(instance) = instances.get(&clients[i].id).cloned() {
                            let c = clients.remove(i);
                            let r = h.beat(
                                now,
                                Heartbeat {
                                    group_id: "g".into(),
                                    member_id: c.id.clone(),
                                    member_epoch: LEFT_STATIC_MEMBER_EPOCH,
                                    instance_id: Some(instance.clone()),
                                    ..Default::default()
                                },
                            );
                            assert_eq!(r.error, ErrorCode::NONE, "seed {seed}: {r:?}");
                            instances.remove(&c.id);
                            away.push((c.id, instance));
                        }
                    }
                    11 if !away.is_empty() && clients.len() < 5 => {
                        // Its next instance comes back under a new id.
                        let (old, instance) = away.remove(next(away.len() as u64) as usize);
                        let c = joined_as(&mut h, now, &["a", "b"], "", Some(&instance));
                        assert!(!h.group.members.contains_key(&old), "seed {seed}");
                        slots_taken_over += 1;
                        instances.insert(c.id.clone(), instance);
                        clients.push(c);
                    }
                    1 if !clients.is_empty() => {
                        let c = clients.remove(next(clients.len() as u64) as usize);
                        instances.remove(&c.id);
                        h.beat(
                            now,
                            Heartbeat {
                                group_id: "g".into(),
                                member_id: c.id,
                                member_epoch: -1,
                                ..Default::default()
                            },
                        );
                    }
                    3 if !clients.is_empty() && next(5) == 0 => {
                        // It dies: its session will end.
                        clients.remove(next(clients.len() as u64) as usize);
                    }
                    2 if !clients.is_empty() => {
                        // The answer is lost: the client keeps what it had.
                        let i = next(clients.len() as u64) as usize;
                        let mut copy = clients[i].clone();
                        copy.beat(&mut h, now);
                    }
                    _ if !clients.is_empty() => {
                        let i = next(clients.len() as u64) as usize;
                        let r = clients[i].beat(&mut h, now);
                        if r.error != ErrorCode::NONE {
                            // Fenced: it gives everything up and joins
                            // again with its id (KIP-1082).
                            assert!(
                                matches!(
                                    r.error,
                                    ErrorCode::FENCED_MEMBER_EPOCH | ErrorCode::UNKNOWN_MEMBER_ID
                                ),
                                "seed {seed}: {r:?}"
                            );
                            let id = clients[i].id.clone();
                            let instance = instances.get(&id).cloned();
                            clients[i] =
                                joined_as(&mut h, now, &["a", "b"], &id, instance.as_deref());
                        }
                    }
                    _ => {}
                }
                for removal in h.group.expire(now) {
                    let (Removal::SessionExpired(id) | Removal::RevocationTimedOut(id)) = removal;
                    clients.retain(|c| c.id != id);
                    away.retain(|(a, _)| *a != id);
                    instances.remove(&id);
                }
            }
            // Quiet: everyone heartbeats in turn, each second, until the
            // sessions of the dead have ended.
            for _ in 0..8 {
                now += 1_000;
                for c in clients.iter_mut() {
                    now += 1;
                    let r = c.beat(&mut h, now);
                    if r.error == ErrorCode::FENCED_MEMBER_EPOCH {
                        // It lost the answers of two epochs in the loop
                        // above: fenced, it joins again.
                        let instance = instances.get(&c.id).cloned();
                        *c = joined_as(&mut h, now, &["a", "b"], &c.id, instance.as_deref());
                        continue;
                    }
                    assert_eq!(r.error, ErrorCode::NONE, "seed {seed}: {r:?}");
                }
                let expired = h.group.expire(now);
                assert!(
                    expired
                        .iter()
                        .all(|r| matches!(r, Removal::SessionExpired(id) if clients.iter().all(|c| &c.id != id))),
                    "seed {seed}: {expired:?}"
                );
            }
            log.write(&mut h.group);
            log.check_rebuilds(&h.group, now, &h.config, seed);
            if clients.is_empty() {
                assert_eq!(h.group.state_name(), "Empty");
                continue;
            }
            assert_eq!(
                h.group.state_name(),
                "Stable",
                "seed {seed}: {:#?}",
                h.group.members
            );
            let loads: Vec<usize> = clients.iter().map(|c| count(&c.owned)).collect();
            assert_eq!(loads.iter().sum::<usize>(), 10, "seed {seed}");
            assert!(
                loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1,
                "seed {seed}: {loads:?}"
            );
            for c in &clients {
                assert_eq!(c.owned, h.group.members[&c.id].assigned, "seed {seed}");
                assert_eq!(c.epoch, h.group.group_epoch, "seed {seed}");
            }
        }
        assert!(slots_taken_over > 100, "{slots_taken_over}");
    }
}
