//! One consumer group's state: members, generation, chosen protocol,
//! assignments and committed offsets.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

/// Kafka's classic group states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// No members; may still hold committed offsets.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assignment distributed; members heartbeat.
    Stable,
    /// Removed; kept only until nobody refers to it.
    Dead,
}

impl GroupState {
    /// The names DescribeGroups and ListGroups use.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Opaque handle the caller uses to match a delayed answer to its request.
pub type ReplyId = u64;

#[derive(Clone, Debug)]
pub struct PendingJoin {
    pub reply: ReplyId,
    /// The member can be told it is the leader without the member list
    /// (JoinGroup v9+, KIP-814).
    pub supports_skip_assignment: bool,
}

#[derive(Clone, Debug)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub awaiting_join: Option<PendingJoin>,
    pub awaiting_sync: Option<ReplyId>,
    /// The member is removed if it is not heard from by then (unless it is
    /// waiting for a join or sync answer).
    pub heartbeat_deadline: i64,
    /// Order of joining: the first member becomes leader when there is none.
    pub joined_seq: u64,
}

impl Member {
    pub fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }
}

/// A committed offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub state: GroupState,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub generation: i32,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// group.instance.id -> member id of static members.
    pub static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394) that have not
    /// joined yet, with the time they expire.
    pub pending_members: HashMap<String, i64>,
    /// When the current join phase ends at the latest.
    pub rebalance_deadline: Option<i64>,
    /// A join phase that started from Empty waits at least until then
    /// (`group.initial.rebalance.delay.ms`), so members starting together
    /// land in one generation.
    pub initial_delay_until: Option<i64>,
    /// When members that have not sent SyncGroup are removed.
    pub sync_deadline: Option<i64>,
    pub offsets: HashMap<(String, i32), CommittedOffset>,
    pub state_timestamp: i64,
    pub next_seq: u64,
    /// Set while the group is a consumer group of the new protocol
    /// (KIP-848): its members then live here, none in `members`, and
    /// `state` stays `Empty` (the classic states do not apply).
    pub consumer: Option<crate::consumer::ConsumerGroup>,
}

impl Group {
    pub fn new(id: &str, now: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            protocol_type: None,
            protocol: None,
            generation: 0,
            leader: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            sync_deadline: None,
            offsets: HashMap::new(),
            state_timestamp: now,
            next_seq: 0,
            consumer: None,
        }
    }

    /// Whether members of the new protocol are in the group.
    pub fn has_consumer_members(&self) -> bool {
        self.consumer
            .as_ref()
            .is_some_and(|c| !c.members.is_empty())
    }

    pub fn transition(&mut self, state: GroupState, now: i64) {
        self.state = state;
        self.state_timestamp = now;
    }

    /// Protocols every member supports.
    pub fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            candidates.retain(|c| m.supports(c));
        }
        candidates
    }

    /// Whether a joining member with `protocols` could be part of the group.
    pub fn accepts(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self
                .candidate_protocols()
                .iter()
                .any(|c| protocols.iter().any(|(n, _)| n == c))
    }

    /// Kafka's choice: among the protocols all members support, each member
    /// votes for the first of its own preferences that is a candidate; the
    /// most votes wins (ties go to the earliest candidate).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                if let Some(v) = votes.iter_mut().find(|(c, _)| c == name) {
                    v.1 += 1;
                }
            }
        }
        let mut best: Option<(String, usize)> = None;
        for (c, n) in votes {
            if best.as_ref().is_none_or(|(_, b)| n > *b) {
                best = Some((c, n));
            }
        }
        best.map(|(c, _)| c)
    }

    pub fn all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    pub fn max_rebalance_timeout(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// The member that joined first, to lead when the leader left.
    pub fn first_member(&self) -> Option<String> {
        self.members
            .values()
            .min_by_key(|m| m.joined_seq)
            .map(|m| m.member_id.clone())
    }
}
