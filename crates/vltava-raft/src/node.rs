//! The KRaft state machine for one replica.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};

use crate::log::ReplicatedLog;
use crate::messages::*;
use crate::rng::SplitMix64;
use crate::snapshot::{decode_snapshot, encode_snapshot};
use crate::types::*;

/// Settings, under the names of Kafka's `controller.quorum.*` configs.
#[derive(Clone, Debug)]
pub struct Config {
    /// This replica's `node.id`.
    pub node_id: NodeId,
    /// The `directory.id` of this replica's metadata log directory (zeros
    /// when unknown). With its id it is the replica's voter key (KIP-853):
    /// a replica whose directory id is not the one the voter set holds for
    /// its id is not that voter (its disk was replaced and it lacks what
    /// the voter acknowledged), so it neither votes nor stands, and its
    /// fetches do not count.
    pub directory_id: [u8; 16],
    /// The cluster id every request must carry.
    pub cluster_id: String,
    /// The voters (`controller.quorum.voters`). A node not in it is an
    /// observer: it fetches but never votes or stands.
    pub voters: BTreeSet<NodeId>,
    /// `controller.quorum.bootstrap.servers` (KIP-853), as ids the driver
    /// maps to their addresses; negative, as Kafka numbers them (-2, -3,
    /// ...), since who answers there is not known beforehand. A replica
    /// that cannot stand and knows no leader fetches from these in turn
    /// rather than from the voters; the answer names the leader.
    pub bootstrap_servers: Vec<NodeId>,
    /// `controller.quorum.election.timeout.ms`: an election is started after
    /// a random time in `[t, 2t)`.
    pub election_timeout_ms: Millis,
    /// `controller.quorum.fetch.timeout.ms`: a follower that hears nothing
    /// from its leader this long starts a pre-vote; a leader that hears from
    /// no majority for 1.5 times this long resigns.
    pub fetch_timeout_ms: Millis,
    /// `controller.quorum.election.backoff.max.ms`: cap of the exponential
    /// backoff after a lost election.
    pub election_backoff_max_ms: Millis,
    /// `controller.quorum.retry.backoff.ms`: base of backoffs and the delay
    /// before retrying a failed request.
    pub retry_backoff_ms: Millis,
    /// `controller.quorum.request.timeout.ms`: an unanswered request is
    /// sent again after this long.
    pub request_timeout_ms: Millis,
    /// How long a leader parks a Fetch that has nothing new.
    pub fetch_max_wait_ms: u32,
    /// Byte limit of a Fetch response.
    pub fetch_max_bytes: u32,
    /// Byte limit of a FetchSnapshot chunk.
    pub snapshot_chunk_bytes: u32,
    /// Seed of the randomness (election timeouts, backoffs). A real driver
    /// seeds it from the OS; the simulation from its seed.
    pub random_seed: u64,
    /// Deliberate protocol bugs, only for proving that the simulation's
    /// checker catches them. Never set outside tests.
    #[doc(hidden)]
    pub bugs: InjectedBugs,
}

/// Deliberately broken rules (see [`Config::bugs`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InjectedBugs {
    /// Grant votes without comparing logs.
    pub vote_without_log_check: bool,
    /// Count the leader's unflushed appends toward the high watermark.
    pub count_unflushed_on_leader: bool,
    /// Advance the high watermark without an entry of the current epoch.
    pub commit_without_current_epoch_entry: bool,
    /// Send a vote grant before the vote is persisted.
    pub grant_before_persist: bool,
    /// Followers report (fetch from) an end offset they have not flushed.
    pub fetch_before_flush: bool,
}

impl Config {
    /// Kafka's defaults for the timeouts.
    pub fn new(
        node_id: NodeId,
        cluster_id: impl Into<String>,
        voters: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        Config {
            node_id,
            directory_id: [0; 16],
            cluster_id: cluster_id.into(),
            voters: voters.into_iter().collect(),
            bootstrap_servers: Vec::new(),
            election_timeout_ms: 1000,
            fetch_timeout_ms: 2000,
            election_backoff_max_ms: 1000,
            retry_backoff_ms: 20,
            request_timeout_ms: 2000,
            fetch_max_wait_ms: 500,
            fetch_max_bytes: 8 * 1024 * 1024,
            snapshot_chunk_bytes: 1024 * 1024,
            random_seed: 0,
            bugs: InjectedBugs::default(),
        }
    }
}

/// What the driver must do, in the order given. A `PersistQuorumState` is a
/// barrier: it must be durable before any later action is carried out
/// (that is what makes a granted vote survive a crash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write the quorum-state file and fsync it.
    PersistQuorumState(QuorumStateData),
    /// Send a message. Losing it is allowed; the protocol retries.
    Send {
        /// Destination replica.
        to: NodeId,
        /// Kafka's request-header correlation id: chosen here for requests,
        /// echoed from the request for responses. The adapter passes it
        /// through (or maps it) so that a response reaches
        /// [`RaftNode::on_message`] with the id of its request.
        correlation_id: u64,
        /// The message.
        message: Message,
    },
    /// Flush the log (everything appended so far) and report the flushed
    /// end offset with [`RaftNode::on_flushed`].
    Flush,
    /// The high watermark moved: records below it are committed and may be
    /// applied.
    HighWatermark(Offset),
    /// A snapshot fetched from the leader replaced the log; reload the
    /// state from it before applying records from `end_offset` on.
    SnapshotInstalled(SnapshotId),
}

/// The role of a replica, as in Kafka's `QuorumState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// Knows no leader for its epoch; may have voted in it.
    Unattached,
    /// Runs a pre-vote (KIP-996) in its current epoch.
    Prospective,
    /// Stands for election in a bumped epoch.
    Candidate,
    /// Leads its epoch.
    Leader,
    /// Fetches from a known leader.
    Follower,
    /// Was leader of its epoch and gave it up.
    Resigned,
}

/// Whether two directory ids may name the same replica: equal, or one of
/// them unknown (zeros).
fn same_directory(a: [u8; 16], b: [u8; 16]) -> bool {
    a == [0; 16] || b == [0; 16] || a == b
}

/// A voter set and the log offset it is in force from.
#[derive(Clone, Debug)]
struct VoterSetAt {
    from: Offset,
    /// The voters' ids: what consensus counts.
    ids: BTreeSet<NodeId>,
    /// The voters in full, by id.
    voters: Vec<Voter>,
}

impl VoterSetAt {
    fn new(from: Offset, mut voters: Vec<Voter>) -> VoterSetAt {
        voters.sort_by_key(|v| v.id);
        voters.dedup_by_key(|v| v.id);
        VoterSetAt {
            from,
            ids: voters.iter().map(|v| v.id).collect(),
            voters,
        }
    }
}

#[derive(Clone, Debug)]
struct ReplicaProgress {
    /// Offset up to which the replica's log is known to match ours (from
    /// its validated fetch offsets); only ever grows within an epoch.
    end_offset: Option<Offset>,
    last_fetch_ms: Option<Millis>,
    last_caught_up_ms: Option<Millis>,
    /// The high watermark in the last Fetch answer sent to the replica. A
    /// fetch is not parked while the replica has not been told the current
    /// HW: the replica whose fetch did not move the HW (the slower of two
    /// followers) would otherwise learn of the commit only when its parked
    /// fetch times out.
    hw_sent: Option<Offset>,
    /// The directory id its fetches carry (zeros until one does).
    directory_id: [u8; 16],
}

#[derive(Clone, Debug)]
struct LeaderState {
    epoch_start_offset: Offset,
    voters: BTreeMap<NodeId, ReplicaProgress>,
    observers: BTreeMap<NodeId, ReplicaProgress>,
    begin_acked: BTreeSet<NodeId>,
    begin_resend_at: Millis,
    fetched_since_check: BTreeSet<NodeId>,
    check_quorum_deadline: Millis,
    /// Fetches waiting for data: (replica, correlation id, request, until).
    parked: Vec<(NodeId, u64, FetchRequest, Millis)>,
}

#[derive(Clone, Debug)]
struct PendingSnapshot {
    id: SnapshotId,
    data: BytesMut,
}

#[derive(Clone, Debug)]
enum Role {
    Unattached {
        election_deadline: Millis,
    },
    Prospective {
        election_deadline: Millis,
        /// Leader of the epoch we were following, to return to if the
        /// pre-vote fails.
        previous_leader: Option<NodeId>,
        granted: BTreeSet<NodeId>,
        rejected: BTreeSet<NodeId>,
    },
    Candidate {
        election_deadline: Millis,
        granted: BTreeSet<NodeId>,
        rejected: BTreeSet<NodeId>,
        /// Set once the election is lost: when the backoff ends.
        backoff_until: Option<Millis>,
    },
    Leader(Box<LeaderState>),
    Follower {
        fetch_deadline: Millis,
    },
    Resigned {
        election_deadline: Millis,
    },
}

/// Fetch bookkeeping of a follower or observer.
#[derive(Clone, Debug, Default)]
struct Fetcher {
    /// Where the outstanding request goes, until when we wait for it.
    in_flight: Option<(NodeId, u64, Millis)>,
    /// Do not send before this time (backoff after an error).
    not_before: Millis,
    snapshot: Option<PendingSnapshot>,
}

/// A quorum member as the leader sees it, for DescribeQuorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// Replica id.
    pub replica_id: NodeId,
    /// Its log end offset as far as the leader knows (-1 if unknown).
    pub log_end_offset: Offset,
    /// When it last fetched.
    pub last_fetch_ms: Option<Millis>,
    /// When it last fetched up to the leader's end.
    pub last_caught_up_ms: Option<Millis>,
    /// Its directory id: a voter's as the voter set holds it, an
    /// observer's as its fetches carry it (zeros: unknown).
    pub directory_id: [u8; 16],
}

/// DescribeQuorum's partition data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumInfo {
    /// The leader (this node).
    pub leader_id: NodeId,
    /// Its epoch.
    pub leader_epoch: Epoch,
    /// The high watermark.
    pub high_watermark: Offset,
    /// Voters, the leader included.
    pub current_voters: Vec<ReplicaInfo>,
    /// Observers that fetched in this epoch.
    pub observers: Vec<ReplicaInfo>,
}

/// Why AddRaftVoter / RemoveRaftVoter was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoterChangeError {
    /// Only the leader changes the voter set.
    NotLeader(Option<NodeId>),
    /// A previous change is not committed yet, or this leader has not
    /// committed in its epoch yet: retry (Kafka answers REQUEST_TIMED_OUT
    /// once the request's timeout passes).
    ChangeInProgress,
    /// The replica to add has not fetched up to the HW recently.
    NotCaughtUp,
    /// The replica to add already votes.
    DuplicateVoter,
    /// The replica to remove does not vote.
    VoterNotFound,
    /// The replica to add fetches with another directory id than the one
    /// it is to be added under.
    WrongDirectory,
    /// The last voter cannot be removed.
    LastVoter,
}

impl VoterChangeError {
    /// The Kafka error code to answer with.
    pub fn error_code(self) -> ErrorCode {
        match self {
            VoterChangeError::NotLeader(_) => ErrorCode::NOT_LEADER_OR_FOLLOWER,
            VoterChangeError::ChangeInProgress | VoterChangeError::NotCaughtUp => {
                ErrorCode::REQUEST_TIMED_OUT
            }
            VoterChangeError::DuplicateVoter => ErrorCode::DUPLICATE_VOTER,
            VoterChangeError::VoterNotFound | VoterChangeError::LastVoter => {
                ErrorCode::VOTER_NOT_FOUND
            }
            VoterChangeError::WrongDirectory => ErrorCode::INVALID_VOTER_KEY,
        }
    }
}

/// Why a proposal was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// Only the leader appends; here is who leads, if known.
    NotLeader(Option<NodeId>),
}

/// One KRaft replica. Feed it messages, ticks and disk completions; carry
/// out the [`Action`]s each call returns, in order.
pub struct RaftNode<L: ReplicatedLog> {
    cfg: Config,
    log: L,
    rng: SplitMix64,
    epoch: Epoch,
    leader: Option<NodeId>,
    voted: Option<NodeId>,
    persisted: QuorumStateData,
    role: Role,
    /// Offset below which the log is durable.
    flushed: Offset,
    high_watermark: Offset,
    /// Failed elections in a row, for the exponential backoff.
    election_retries: u32,
    /// Last time a valid message came from the current leader.
    last_leader_contact: Option<Millis>,
    fetcher: Fetcher,
    next_correlation_id: u64,
    /// Voter sets by the offset they start at: entry 0 is the base (the
    /// snapshot's or the static one), the rest are VotersRecords in the log.
    voter_sets: Vec<VoterSetAt>,
    /// Whether the base voter set came from a bootstrap checkpoint (a
    /// snapshot at offset 0 written by `storage format`): the first leader
    /// then writes it into the log, as Kafka's does, because replicas
    /// formatted without one (observers that join later) learn the voters
    /// only from the log.
    bootstrapped: bool,
    /// Vote requests to send again after a delivery failure: voter -> when.
    vote_retries: BTreeMap<NodeId, Millis>,
    /// Correlation id of the request being handled, for its response.
    inbound_correlation_id: u64,
    out: Vec<Action>,
}

impl<L: ReplicatedLog> RaftNode<L> {
    /// Starts a replica on a log that is durable as given, with the quorum
    /// state last persisted (default for a fresh node). Call
    /// [`RaftNode::tick`] right away, then again at [`RaftNode::next_deadline`].
    pub fn new(cfg: Config, log: L, persisted: QuorumStateData, now: Millis) -> Self {
        let rng = SplitMix64::new(cfg.random_seed ^ (cfg.node_id as u64).wrapping_mul(0x9E37_79B9));
        let flushed = log.end_offset();
        let high_watermark = log.start_offset();
        let mut rng = rng;
        let next_correlation_id = rng.next_u64() >> 16;
        let mut node = RaftNode {
            cfg,
            log,
            rng,
            epoch: persisted.leader_epoch,
            leader: None,
            voted: persisted.voted_id,
            persisted: persisted.clone(),
            role: Role::Unattached {
                election_deadline: now,
            },
            flushed,
            high_watermark,
            election_retries: 0,
            last_leader_contact: None,
            fetcher: Fetcher::default(),
            // Ids of a previous life must not match this one's requests.
            next_correlation_id,
            vote_retries: BTreeMap::new(),
            voter_sets: Vec::new(),
            bootstrapped: false,
            inbound_correlation_id: 0,
            out: Vec::new(),
        };
        node.rebuild_voter_sets();
        let me = node.cfg.node_id;
        match persisted.leader_id {
            // A leader that restarts may have lost its unflushed tail, so it
            // must not lead this epoch again: it comes back resigned, as
            // Kafka's does.
            Some(l) if l == me => {
                node.leader = Some(me);
                let d = node.random_election_deadline(now);
                node.role = Role::Resigned {
                    election_deadline: d,
                };
            }
            Some(l) => {
                node.leader = Some(l);
                node.role = Role::Follower {
                    fetch_deadline: now + node.cfg.fetch_timeout_ms,
                };
            }
            None => {
                let d = if node.is_voter() && node.voters().len() == 1 {
                    now
                } else {
                    node.random_election_deadline(now)
                };
                node.role = Role::Unattached {
                    election_deadline: d,
                };
            }
        }
        node
    }

    // ----- accessors -------------------------------------------------------

    /// This replica's id.
    pub fn id(&self) -> NodeId {
        self.cfg.node_id
    }
    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }
    /// The leader of the current epoch, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// Whom this node voted for in the current epoch.
    pub fn voted_for(&self) -> Option<NodeId> {
        self.voted
    }
    /// The current role.
    pub fn role(&self) -> RoleKind {
        match self.role {
            Role::Unattached { .. } => RoleKind::Unattached,
            Role::Prospective { .. } => RoleKind::Prospective,
            Role::Candidate { .. } => RoleKind::Candidate,
            Role::Leader(_) => RoleKind::Leader,
            Role::Follower { .. } => RoleKind::Follower,
            Role::Resigned { .. } => RoleKind::Resigned,
        }
    }
    /// Whether this node leads its epoch.
    pub fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader(_))
    }
    /// Records below this offset are committed.
    pub fn high_watermark(&self) -> Offset {
        self.high_watermark
    }
    /// The log is durable below this offset.
    pub fn flushed_offset(&self) -> Offset {
        self.flushed
    }
    /// The log.
    pub fn log(&self) -> &L {
        &self.log
    }
    /// The log, for the driver's I/O bookkeeping (flushing, dirty
    /// tracking). Appending or truncating through it behind the state
    /// machine's back breaks every guarantee.
    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }
    /// The quorum state as last handed out for persisting.
    pub fn quorum_state(&self) -> &QuorumStateData {
        &self.persisted
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// The current voter set: the latest VotersRecord in the log (committed
    /// or not), else the one in the snapshot the log starts from, else the
    /// static `Config::voters`.
    pub fn voters(&self) -> &BTreeSet<NodeId> {
        &self.voter_sets.last().expect("base voter set").ids
    }
    /// The current voters with their directory ids and endpoints.
    pub fn voter_details(&self) -> &[Voter] {
        &self.voter_sets.last().expect("base voter set").voters
    }
    fn is_voter(&self) -> bool {
        self.is_voter_key(self.cfg.node_id, self.cfg.directory_id)
    }
    /// Whether (id, directory) is a voter of the current set. Zeros on
    /// either side match any directory (static voters, older peers).
    fn is_voter_key(&self, id: NodeId, directory_id: [u8; 16]) -> bool {
        self.voter_details()
            .iter()
            .any(|v| v.id == id && same_directory(v.directory_id, directory_id))
    }
    /// The directory id the current set holds for voter `id` (zeros if none
    /// or unknown).
    fn directory_of(&self, id: NodeId) -> [u8; 16] {
        self.voter_details()
            .iter()
            .find(|v| v.id == id)
            .map_or([0; 16], |v| v.directory_id)
    }
    fn majority(&self) -> usize {
        self.voters().len() / 2 + 1
    }
    /// Whether this replica may stand for election: it is in the current
    /// voter set, or it was in the previous one and the change that removed
    /// it is not committed yet. Without the latter, a leader that removed
    /// itself and crashed before the change committed could hold the only
    /// up-to-date log while no member of the new set can win (found by the
    /// simulation: a deadlock). As candidate or leader it counts only the
    /// votes and offsets of the current set, so a majority of the new set
    /// elects it, and it steps down once the change commits.
    fn can_stand(&self) -> bool {
        let me = self.cfg.node_id;
        if self.is_voter() {
            return true;
        }
        let n = self.voter_sets.len();
        let mine = |v: &Voter| v.id == me && same_directory(v.directory_id, self.cfg.directory_id);
        n >= 2
            && !self.voters().contains(&me)
            && self.voter_sets[n - 1].from >= self.high_watermark
            && self.voter_sets[n - 2].voters.iter().any(mine)
    }
    /// Offset of the newest VotersRecord in the log, if any.
    fn last_voters_record(&self) -> Option<Offset> {
        self.voter_sets.iter().skip(1).last().map(|v| v.from)
    }

    /// When [`RaftNode::tick`] must be called next at the latest.
    pub fn next_deadline(&self) -> Millis {
        let mut d = match &self.role {
            Role::Unattached { election_deadline }
            | Role::Prospective {
                election_deadline, ..
            }
            | Role::Resigned { election_deadline } => *election_deadline,
            Role::Candidate {
                election_deadline,
                backoff_until,
                ..
            } => backoff_until.unwrap_or(*election_deadline),
            Role::Follower { fetch_deadline } => *fetch_deadline,
            Role::Leader(ls) => {
                let mut d = ls.check_quorum_deadline.min(ls.begin_resend_at);
                for (_, _, _, until) in &ls.parked {
                    d = d.min(*until);
                }
                d
            }
        };
        if let Some(&at) = self.vote_retries.values().min() {
            d = d.min(at);
        }
        if !self.is_leader() {
            if let Some((_, _, until)) = self.fetcher.in_flight {
                d = d.min(until);
            } else if self.fetch_target().is_some() {
                d = d.min(self.fetcher.not_before);
            }
        }
        d
    }

    fn send_request(&mut self, to: NodeId, message: Message) -> u64 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        self.out.push(Action::Send {
            to,
            correlation_id,
            message,
        });
        correlation_id
    }

    fn send_reply(&mut self, to: NodeId, message: Message) {
        self.out.push(Action::Send {
            to,
            correlation_id: self.inbound_correlation_id,
            message,
        });
    }

    /// The only place the HW moves. It never goes back within a node's
    /// life (after a restart it starts again at the log start), and never
    /// past the log: what is committed here is also here.
    fn advance_high_watermark(&mut self, hw: Offset) {
        assert!(hw > self.high_watermark, "HW must only move forward");
        assert!(hw <= self.log.end_offset(), "HW past the log end");
        self.high_watermark = hw;
        self.out.push(Action::HighWatermark(hw));
    }

    fn take(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.out)
    }

    // ----- driver entry points --------------------------------------------

    /// Advances timers to `now`.
    pub fn tick(&mut self, now: Millis) -> Vec<Action> {
        self.poll_timers(now);
        self.maybe_send_fetch(now);
        self.take()
    }

    /// The driver flushed the log up to `offset` (exclusive).
    pub fn on_flushed(&mut self, offset: Offset, now: Millis) -> Vec<Action> {
        let new = offset.min(self.log.end_offset());
        if new > self.flushed {
            self.flushed = new;
        }
        if self.is_leader() {
            self.leader_update_hw(now);
        }
        self.maybe_send_fetch(now);
        self.take()
    }

    /// The driver could not deliver the request `correlation_id` to `to`, or
    /// the connection closed before an answer (Kafka's NetworkClient reports
    /// a disconnect). The request is retried after `retry_backoff_ms`
    /// instead of waiting for its timeout.
    pub fn on_request_failed(
        &mut self,
        to: NodeId,
        correlation_id: u64,
        now: Millis,
    ) -> Vec<Action> {
        if matches!(self.fetcher.in_flight, Some((t, id, _)) if t == to && id == correlation_id) {
            self.fetch_failed(now);
        }
        if matches!(self.role, Role::Prospective { .. } | Role::Candidate { .. })
            && self.voters().contains(&to)
        {
            self.vote_retries
                .insert(to, now + self.cfg.retry_backoff_ms);
        }
        self.maybe_send_fetch(now);
        self.take()
    }

    /// Leader only: appends `payload` as a batch of `record_count` records.
    /// Returns the batch's base offset and epoch; it is committed once the
    /// high watermark passes it with that epoch still at that offset.
    pub fn propose(
        &mut self,
        payload: Bytes,
        record_count: u32,
        now: Millis,
    ) -> Result<(Offset, Epoch, Vec<Action>), ProposeError> {
        if !self.is_leader() {
            return Err(ProposeError::NotLeader(self.leader));
        }
        assert!(record_count > 0);
        let base = self.log.end_offset();
        self.append_batches(vec![Batch {
            base_offset: base,
            epoch: self.epoch,
            record_count,
            kind: BatchKind::Data,
            payload,
        }]);
        self.out.push(Action::Flush);
        if self.cfg.bugs.count_unflushed_on_leader {
            self.leader_update_hw(now);
        }
        self.complete_parked(now, false);
        Ok((base, self.epoch, self.take()))
    }

    /// Leader only: give up leadership gracefully (Kafka's shutdown path).
    pub fn resign(&mut self, now: Millis) -> Vec<Action> {
        if self.is_leader() {
            self.resign_leadership(now);
        }
        self.take()
    }

    /// The driver wrote a snapshot of the state at `end_offset` (at most the
    /// high watermark); store it and let the log start move up to it.
    pub fn create_snapshot(&mut self, end_offset: Offset, data: Bytes) -> Option<SnapshotId> {
        if end_offset > self.high_watermark || end_offset <= self.log.start_offset() {
            return None;
        }
        if self
            .log
            .latest_snapshot()
            .is_some_and(|s| s.end_offset >= end_offset)
        {
            return None;
        }
        let epoch = self.log.epoch_before(end_offset)?;
        let id = SnapshotId { end_offset, epoch };
        // The HW of a leader counts only flushed offsets, and a follower's
        // HW never passes what it has; a snapshot past the flushed end would
        // still be fine (it is durable itself), but says something is off.
        debug_assert!(end_offset <= self.log.end_offset());
        let voters = self.voters_before(end_offset);
        self.log.store_snapshot(id, encode_snapshot(&voters, &data));
        // Records before the snapshot are gone; their voter set lives on
        // as the base.
        let keep = self.voter_sets[1..].partition_point(|v| v.from < end_offset);
        let rest = self.voter_sets.split_off(1 + keep);
        self.voter_sets = vec![VoterSetAt::new(end_offset, voters)];
        self.bootstrapped = false;
        self.voter_sets.extend(rest);
        if self.flushed < self.log.start_offset() {
            self.flushed = self.log.start_offset();
        }
        Some(id)
    }

    /// DescribeQuorum, answered by the leader.
    pub fn describe_quorum(&self) -> Option<QuorumInfo> {
        let Role::Leader(ls) = &self.role else {
            return None;
        };
        let info = |(id, p): (&NodeId, &ReplicaProgress)| ReplicaInfo {
            replica_id: *id,
            log_end_offset: if *id == self.cfg.node_id {
                self.flushed
            } else {
                p.end_offset.unwrap_or(-1)
            },
            last_fetch_ms: p.last_fetch_ms,
            last_caught_up_ms: p.last_caught_up_ms,
            directory_id: p.directory_id,
        };
        let voter = |entry: (&NodeId, &ReplicaProgress)| ReplicaInfo {
            directory_id: self.directory_of(*entry.0),
            ..info(entry)
        };
        Some(QuorumInfo {
            leader_id: self.cfg.node_id,
            leader_epoch: self.epoch,
            high_watermark: self.high_watermark,
            current_voters: ls.voters.iter().map(voter).collect(),
            observers: ls.observers.iter().map(info).collect(),
        })
    }

    /// A message from `from`, with the correlation id of its Kafka request
    /// header (for a response: the id of the request it answers).
    pub fn on_message(
        &mut self,
        from: NodeId,
        correlation_id: u64,
        message: Message,
        now: Millis,
    ) -> Vec<Action> {
        self.inbound_correlation_id = correlation_id;
        if let Some(cluster) = message.cluster_id() {
            if cluster != self.cfg.cluster_id {
                self.reject_cluster(from, &message);
                return self.take();
            }
        }
        match message {
            Message::VoteRequest(r) => self.handle_vote_request(from, r, now),
            Message::VoteResponse(r) => self.handle_vote_response(from, r, now),
            Message::BeginQuorumEpochRequest(r) => self.handle_begin_quorum(from, r, now),
            Message::BeginQuorumEpochResponse(r) | Message::EndQuorumEpochResponse(r) => {
                if r.partition_error_code == ErrorCode::NONE || r.leader_epoch > self.epoch {
                    self.observe_epoch(r.leader_id, r.leader_epoch, now);
                }
                if let Role::Leader(ls) = &mut self.role {
                    if r.leader_epoch == self.epoch && r.partition_error_code == ErrorCode::NONE {
                        ls.begin_acked.insert(from);
                    }
                }
            }
            Message::EndQuorumEpochRequest(r) => self.handle_end_quorum(from, r, now),
            Message::FetchRequest(r) => self.handle_fetch_request(from, r, now, true),
            Message::FetchResponse(r) => self.handle_fetch_response(from, r, now),
            Message::FetchSnapshotRequest(r) => self.handle_fetch_snapshot_request(from, r, now),
            Message::FetchSnapshotResponse(r) => self.handle_fetch_snapshot_response(from, r, now),
        }
        self.maybe_send_fetch(now);
        self.take()
    }

    // ----- voter sets (KIP-853) ---------------------------------------------

    /// Derives the voter sets from the snapshot and the log (start-up and
    /// snapshot install).
    fn rebuild_voter_sets(&mut self) {
        let start = self.log.start_offset();
        let mut base: Vec<Voter> = self.cfg.voters.iter().map(|&v| Voter::id_only(v)).collect();
        self.bootstrapped = false;
        if let Some(id) = self.log.latest_snapshot().filter(|s| s.end_offset == start) {
            if let Some((_, bytes)) = self.log.read_snapshot(id, 0, usize::MAX) {
                if let Some((voters, _)) = decode_snapshot(&bytes) {
                    base = voters;
                    self.bootstrapped = id.end_offset == 0;
                }
            }
        }
        self.voter_sets = vec![VoterSetAt::new(start, base)];
        let batches = self.log.read(start, usize::MAX);
        self.note_voters_records(&batches);
    }

    fn note_voters_records(&mut self, batches: &[Batch]) {
        for b in batches {
            if let BatchKind::Voters { voters } = &b.kind {
                self.voter_sets
                    .push(VoterSetAt::new(b.base_offset, voters.clone()));
            }
        }
    }

    /// The voter set in force for the record at `offset - 1`.
    fn voters_before(&self, offset: Offset) -> Vec<Voter> {
        let i = self.voter_sets[1..].partition_point(|v| v.from < offset);
        self.voter_sets[i].voters.clone()
    }

    /// Every append goes through here so that a VotersRecord takes effect
    /// the moment it is in the log (KIP-853), on leader and followers alike.
    fn append_batches(&mut self, batches: Vec<Batch>) {
        self.note_voters_records(&batches);
        let changed = batches
            .iter()
            .any(|b| matches!(b.kind, BatchKind::Voters { .. }));
        self.log.append(batches);
        if changed {
            self.sync_leader_voters();
        }
    }

    /// Keeps the leader's replica table in line with the voter set.
    fn sync_leader_voters(&mut self) {
        let voters = self.voters().clone();
        let Role::Leader(ls) = &mut self.role else {
            return;
        };
        let removed: Vec<NodeId> = ls
            .voters
            .keys()
            .copied()
            .filter(|v| !voters.contains(v))
            .collect();
        for v in removed {
            // Its progress as a voter says nothing about whoever fetches
            // under its id next (a replaced disk starts from nothing): only
            // its directory id is kept, to tell that replica apart.
            let p = ls.voters.remove(&v).expect("present");
            ls.observers.insert(
                v,
                ReplicaProgress {
                    end_offset: None,
                    last_fetch_ms: None,
                    last_caught_up_ms: None,
                    hw_sent: None,
                    directory_id: p.directory_id,
                },
            );
        }
        for v in voters {
            if !ls.voters.contains_key(&v) {
                let p = ls.observers.remove(&v).unwrap_or(ReplicaProgress {
                    end_offset: None,
                    last_fetch_ms: None,
                    last_caught_up_ms: None,
                    hw_sent: None,
                    directory_id: [0; 16],
                });
                ls.voters.insert(v, p);
            }
        }
    }

    /// AddRaftVoter (KIP-853), on the leader: appends a VotersRecord with
    /// `voter` added. Returns the record's offset; the change is complete
    /// (and the RPC may be answered) once the HW passes it.
    ///
    /// The observer that has caught up must be the replica named: with the
    /// directory id its fetches carry (a voter added under another one
    /// would have its real fetches refused, and could stall the quorum for
    /// good). A new voter named without a directory id (zeros) gets the
    /// one its fetches carry.
    pub fn add_voter(
        &mut self,
        mut new_voter: Voter,
        now: Millis,
    ) -> Result<(Offset, Vec<Action>), VoterChangeError> {
        self.check_voter_change()?;
        let voter = new_voter.id;
        if self.voters().contains(&voter) {
            return Err(VoterChangeError::DuplicateVoter);
        }
        // The new voter must have caught up (as an observer) first, or it
        // could stall the HW the moment it counts.
        let Role::Leader(ls) = &self.role else {
            unreachable!()
        };
        let Some(p) = ls.observers.get(&voter) else {
            return Err(VoterChangeError::NotCaughtUp);
        };
        let caught_up = p.end_offset.is_some_and(|o| o >= self.high_watermark)
            && p.last_fetch_ms
                .is_some_and(|t| now < t + self.cfg.fetch_timeout_ms);
        if !caught_up {
            return Err(VoterChangeError::NotCaughtUp);
        }
        if new_voter.directory_id == [0; 16] {
            new_voter.directory_id = p.directory_id;
        } else if p.directory_id != [0; 16] && p.directory_id != new_voter.directory_id {
            return Err(VoterChangeError::WrongDirectory);
        }
        let mut voters = self.voter_details().to_vec();
        voters.push(new_voter);
        Ok(self.append_voters_record(voters, now))
    }

    /// UpdateRaftVoter (KIP-853), on the leader: a voter says where it takes
    /// requests now (its listeners changed since the log named them).
    /// Appends a VotersRecord with the voter's new endpoints; the set's
    /// membership stays. The voter is named by id and directory id.
    pub fn update_voter(
        &mut self,
        updated: Voter,
        now: Millis,
    ) -> Result<(Offset, Vec<Action>), VoterChangeError> {
        self.check_voter_change()?;
        let mut voters = self.voter_details().to_vec();
        let Some(v) = voters
            .iter_mut()
            .find(|v| v.id == updated.id && same_directory(v.directory_id, updated.directory_id))
        else {
            return Err(VoterChangeError::VoterNotFound);
        };
        v.endpoints = updated.endpoints;
        if v.directory_id == [0; 16] {
            v.directory_id = updated.directory_id;
        }
        Ok(self.append_voters_record(voters, now))
    }

    /// RemoveRaftVoter (KIP-853), on the leader: appends a VotersRecord
    /// without `voter`. A leader that removes itself keeps leading until the
    /// record commits, then resigns.
    ///
    /// The voter is named by id and directory id, as in Kafka: a replica
    /// whose metadata directory was replaced has a new directory id and is
    /// not the voter the set holds. All zeros names a voter whose directory
    /// id is unknown (a static voter).
    pub fn remove_voter(
        &mut self,
        voter: NodeId,
        directory_id: [u8; 16],
        now: Millis,
    ) -> Result<(Offset, Vec<Action>), VoterChangeError> {
        self.check_voter_change()?;
        if !self
            .voter_details()
            .iter()
            .any(|v| v.id == voter && v.directory_id == directory_id)
        {
            return Err(VoterChangeError::VoterNotFound);
        }
        if self.voters().len() == 1 {
            return Err(VoterChangeError::LastVoter);
        }
        let mut voters = self.voter_details().to_vec();
        voters.retain(|v| v.id != voter);
        Ok(self.append_voters_record(voters, now))
    }

    fn check_voter_change(&self) -> Result<(), VoterChangeError> {
        let Role::Leader(ls) = &self.role else {
            return Err(VoterChangeError::NotLeader(self.leader));
        };
        // One change at a time, and only once this leader has committed in
        // its own epoch: without the latter a leader could add a voter on
        // top of a change from an earlier epoch that is not safe yet (the
        // single-server change bug Ongaro describes).
        if self.high_watermark <= ls.epoch_start_offset
            || self
                .last_voters_record()
                .is_some_and(|o| o >= self.high_watermark)
        {
            return Err(VoterChangeError::ChangeInProgress);
        }
        Ok(())
    }

    fn append_voters_record(
        &mut self,
        mut voters: Vec<Voter>,
        now: Millis,
    ) -> (Offset, Vec<Action>) {
        voters.sort_by_key(|v| v.id);
        let base = self.log.end_offset();
        self.append_batches(vec![Batch {
            base_offset: base,
            epoch: self.epoch,
            record_count: 1,
            kind: BatchKind::Voters { voters },
            payload: Bytes::new(),
        }]);
        self.out.push(Action::Flush);
        self.leader_update_hw(now);
        self.complete_parked(now, false);
        (base, self.take())
    }

    // ----- state transitions ----------------------------------------------

    fn random_election_deadline(&mut self, now: Millis) -> Millis {
        let t = self.cfg.election_timeout_ms;
        now + self.rng.range(t, 2 * t)
    }

    /// Exponential backoff after `retries` lost elections, randomised so
    /// that competing candidates spread out.
    fn election_backoff(&mut self) -> Millis {
        let shift = self.election_retries.min(20);
        let cap = self
            .cfg
            .retry_backoff_ms
            .saturating_mul(1 << shift)
            .min(self.cfg.election_backoff_max_ms)
            .max(1);
        self.rng.range(cap / 2, cap + 1)
    }

    fn persist(&mut self) {
        let state = QuorumStateData {
            leader_epoch: self.epoch,
            leader_id: self.leader,
            voted_id: self.voted,
        };
        if state != self.persisted {
            self.persisted = state.clone();
            self.out.push(Action::PersistQuorumState(state));
        }
    }

    fn set_epoch(&mut self, epoch: Epoch) {
        assert!(epoch >= self.epoch, "epoch must never go backwards");
        if epoch > self.epoch {
            self.epoch = epoch;
            self.voted = None;
            self.leader = None;
            self.last_leader_contact = None;
        }
    }

    fn leave_role(&mut self) {
        self.vote_retries.clear();
        self.fetcher.in_flight = None;
        self.fetcher.snapshot = None;
    }

    fn become_unattached(&mut self, epoch: Epoch, election_deadline: Millis) {
        self.leave_role();
        self.set_epoch(epoch);
        self.leader = None;
        self.role = Role::Unattached { election_deadline };
        self.persist();
    }

    fn become_follower(&mut self, epoch: Epoch, leader: NodeId, now: Millis) {
        assert_ne!(leader, self.cfg.node_id);
        if let Role::Leader(_) = self.role {
            // Another leader in our own epoch would break election safety.
            assert!(epoch > self.epoch, "two leaders in epoch {epoch}");
        }
        self.leave_role();
        if epoch != self.epoch || self.leader != Some(leader) {
            // Contact is counted only from what the leader itself sends;
            // going back to a leader after a failed pre-vote is not contact.
            self.last_leader_contact = None;
        }
        self.set_epoch(epoch);
        self.leader = Some(leader);
        self.election_retries = 0;
        self.fetcher.not_before = now;
        self.role = Role::Follower {
            fetch_deadline: now + self.cfg.fetch_timeout_ms,
        };
        self.persist();
    }

    fn become_prospective(&mut self, now: Millis) {
        debug_assert!(self.can_stand());
        let previous_leader = match self.role {
            Role::Follower { .. } => self.leader,
            _ => None,
        };
        self.leave_role();
        let election_deadline = self.random_election_deadline(now);
        let mut granted = BTreeSet::new();
        granted.insert(self.cfg.node_id);
        self.role = Role::Prospective {
            election_deadline,
            previous_leader,
            granted,
            rejected: BTreeSet::new(),
        };
        // Pre-votes carry the current epoch unchanged: a partitioned node
        // that keeps failing them never inflates the epoch (KIP-996).
        self.send_vote_requests(true);
        self.check_election_result(now);
    }

    fn become_candidate(&mut self, now: Millis) {
        debug_assert!(self.can_stand());
        self.leave_role();
        let epoch = self.epoch + 1;
        self.set_epoch(epoch);
        self.voted = Some(self.cfg.node_id);
        let election_deadline = self.random_election_deadline(now);
        let mut granted = BTreeSet::new();
        granted.insert(self.cfg.node_id);
        self.role = Role::Candidate {
            election_deadline,
            granted,
            rejected: BTreeSet::new(),
            backoff_until: None,
        };
        // The self-vote must be durable before anyone sees the request.
        self.persist();
        self.send_vote_requests(false);
        self.check_election_result(now);
    }

    fn become_leader(&mut self, now: Millis) {
        assert!(matches!(self.role, Role::Candidate { .. }));
        self.leave_role();
        self.leader = Some(self.cfg.node_id);
        self.election_retries = 0;
        let epoch_start_offset = self.log.end_offset();
        let voters: BTreeMap<NodeId, ReplicaProgress> = self
            .voters()
            .iter()
            .map(|&v| {
                (
                    v,
                    ReplicaProgress {
                        end_offset: None,
                        last_fetch_ms: None,
                        last_caught_up_ms: None,
                        hw_sent: None,
                        directory_id: [0; 16],
                    },
                )
            })
            .collect();
        self.role = Role::Leader(Box::new(LeaderState {
            epoch_start_offset,
            voters,
            observers: BTreeMap::new(),
            begin_acked: BTreeSet::new(),
            begin_resend_at: now,
            fetched_since_check: BTreeSet::new(),
            check_quorum_deadline: now + self.cfg.fetch_timeout_ms * 3 / 2,
            parked: Vec::new(),
        }));
        self.persist();
        // Kafka's LeaderChangeMessage: an entry of the new epoch, so the HW
        // can advance (and commit the old entries) without waiting for a
        // client write.
        let voters: Vec<NodeId> = self.voters().iter().copied().collect();
        let mut batches = vec![Batch {
            base_offset: epoch_start_offset,
            epoch: self.epoch,
            record_count: 1,
            kind: BatchKind::LeaderChange {
                leader_id: self.cfg.node_id,
                voters,
            },
            payload: Bytes::new(),
        }];
        // The voters of a bootstrap checkpoint, written into the log by the
        // first leader (see `bootstrapped`).
        if self.bootstrapped && self.last_voters_record().is_none() {
            batches.push(Batch {
                base_offset: epoch_start_offset + 1,
                epoch: self.epoch,
                record_count: 1,
                kind: BatchKind::Voters {
                    voters: self.voter_details().to_vec(),
                },
                payload: Bytes::new(),
            });
        }
        self.append_batches(batches);
        self.out.push(Action::Flush);
        self.send_begin_quorum(now);
        self.leader_update_hw(now);
    }

    fn resign_leadership(&mut self, now: Millis) {
        let Role::Leader(ls) = &self.role else {
            return;
        };
        // Best-placed voters first: they are the ones that can win.
        let mut others: Vec<(Offset, NodeId)> = ls
            .voters
            .iter()
            .filter(|(id, _)| **id != self.cfg.node_id)
            .map(|(id, p)| (p.end_offset.unwrap_or(-1), *id))
            .collect();
        others.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let preferred: Vec<NodeId> = others.iter().map(|&(_, id)| id).collect();
        self.leave_role();
        let d = self.random_election_deadline(now);
        self.role = Role::Resigned {
            election_deadline: d,
        };
        for &to in &preferred {
            self.send_request(
                to,
                Message::EndQuorumEpochRequest(EndQuorumEpochRequest {
                    cluster_id: self.cfg.cluster_id.clone(),
                    leader_id: self.cfg.node_id,
                    leader_epoch: self.epoch,
                    preferred_candidates: preferred.clone(),
                }),
            );
        }
    }

    /// Reacts to a leader id and epoch learnt from a response or request.
    /// Returns true if the role changed.
    fn observe_epoch(&mut self, leader: Option<NodeId>, epoch: Epoch, now: Millis) -> bool {
        let me = self.cfg.node_id;
        if epoch > self.epoch {
            match leader {
                Some(l) if l != me => self.become_follower(epoch, l, now),
                _ => {
                    let d = self.random_election_deadline(now);
                    self.become_unattached(epoch, d);
                }
            }
            return true;
        }
        if epoch == self.epoch {
            if let Some(l) = leader {
                // A prospective that came from following `l` hears `l`
                // from every fellow follower; that is no news.
                if l != me
                    && self.leader != Some(l)
                    && matches!(
                        self.role,
                        Role::Unattached { .. } | Role::Prospective { .. } | Role::Candidate { .. }
                    )
                {
                    self.become_follower(epoch, l, now);
                    return true;
                }
            }
        }
        false
    }

    fn poll_timers(&mut self, now: Millis) {
        self.resend_due_vote_requests(now);
        let several_voters = self.voters().len() > 1;
        if let Some((_, _, until)) = self.fetcher.in_flight {
            if now >= until {
                self.fetcher.in_flight = None;
            }
        }
        let voter = self.can_stand();
        match &mut self.role {
            Role::Unattached { election_deadline } | Role::Resigned { election_deadline } => {
                if now < *election_deadline {
                    return;
                }
                if voter {
                    self.become_prospective(now);
                } else {
                    // Observers never stand; they look for the leader (a
                    // leader that removed itself resigns into this).
                    let d = now + self.cfg.election_timeout_ms;
                    self.become_unattached(self.epoch, d);
                }
            }
            Role::Prospective {
                election_deadline,
                previous_leader,
                ..
            } => {
                if now >= *election_deadline {
                    let prev = *previous_leader;
                    self.lose_pre_vote(prev, now);
                }
            }
            Role::Candidate {
                election_deadline,
                backoff_until,
                ..
            } => {
                let expired = match backoff_until {
                    Some(b) => now >= *b,
                    None => now >= *election_deadline,
                };
                if expired {
                    self.election_retries += 1;
                    self.become_prospective(now);
                }
            }
            Role::Follower { fetch_deadline } => {
                if now < *fetch_deadline {
                    return;
                }
                if voter {
                    self.become_prospective(now);
                } else {
                    let d = now + self.cfg.election_timeout_ms;
                    self.become_unattached(self.epoch, d);
                }
            }
            Role::Leader(ls) => {
                let check_quorum_expired = now >= ls.check_quorum_deadline;
                let resend = now >= ls.begin_resend_at;
                if check_quorum_expired && several_voters {
                    // Check quorum: a leader cut off from a majority must
                    // not keep looking like one.
                    self.resign_leadership(now);
                    return;
                }
                if check_quorum_expired {
                    ls.check_quorum_deadline = now + self.cfg.fetch_timeout_ms;
                }
                if resend {
                    self.send_begin_quorum(now);
                }
                self.complete_parked(now, true);
            }
        }
    }

    fn lose_pre_vote(&mut self, previous_leader: Option<NodeId>, now: Millis) {
        self.election_retries += 1;
        match previous_leader {
            // Go back to the leader we had: it may well be fine, only our
            // link to it was not.
            Some(l) => self.become_follower(self.epoch, l, now),
            None => {
                let d = now + self.cfg.election_timeout_ms + self.election_backoff();
                self.become_unattached(self.epoch, d);
            }
        }
    }

    fn check_election_result(&mut self, now: Millis) {
        let majority = self.majority();
        let set = self.voters().clone();
        let voters = set.len();
        // Only the current set's answers count (a candidate removed by an
        // uncommitted change does not count its own vote).
        let count = |ids: &BTreeSet<NodeId>| ids.intersection(&set).count();
        match &self.role {
            Role::Prospective {
                granted,
                rejected,
                previous_leader,
                ..
            } => {
                if count(granted) >= majority {
                    self.become_candidate(now);
                } else if count(rejected) > voters - majority {
                    let prev = *previous_leader;
                    self.lose_pre_vote(prev, now);
                }
            }
            Role::Candidate {
                granted,
                rejected,
                backoff_until,
                ..
            } => {
                if count(granted) >= majority {
                    self.become_leader(now);
                } else if count(rejected) > voters - majority && backoff_until.is_none() {
                    let b = self.election_backoff();
                    if let Role::Candidate { backoff_until, .. } = &mut self.role {
                        *backoff_until = Some(now + b);
                    }
                }
            }
            _ => {}
        }
    }

    // ----- votes -------------------------------------------------------------

    fn send_vote_requests(&mut self, pre_vote: bool) {
        let me = self.cfg.node_id;
        let targets: Vec<NodeId> = self.voters().iter().copied().filter(|&v| v != me).collect();
        for to in targets {
            self.send_vote_request(to, pre_vote);
        }
    }

    fn send_vote_request(&mut self, to: NodeId, pre_vote: bool) {
        let last_offset = self.log.end_offset();
        let last_offset_epoch = self.log.epoch_before(last_offset).expect("end is in range");
        self.send_request(
            to,
            Message::VoteRequest(VoteRequest {
                cluster_id: self.cfg.cluster_id.clone(),
                voter_id: to,
                voter_directory_id: self.directory_of(to),
                candidate_directory_id: self.cfg.directory_id,
                candidate_epoch: self.epoch,
                candidate_id: self.cfg.node_id,
                last_offset_epoch,
                last_offset,
                pre_vote,
            }),
        );
    }

    /// Voters whose vote request failed and when to ask them again, while
    /// the election lasts.
    fn resend_due_vote_requests(&mut self, now: Millis) {
        let (pre_vote, answered) = match &self.role {
            Role::Prospective {
                granted, rejected, ..
            } => (true, granted | rejected),
            Role::Candidate {
                granted,
                rejected,
                backoff_until: None,
                ..
            } => (false, granted | rejected),
            _ => {
                self.vote_retries.clear();
                return;
            }
        };
        let due: Vec<NodeId> = self
            .vote_retries
            .iter()
            .filter(|(_, &at)| now >= at)
            .map(|(&v, _)| v)
            .collect();
        for v in due {
            self.vote_retries.remove(&v);
            if !answered.contains(&v) {
                self.send_vote_request(v, pre_vote);
            }
        }
    }

    /// Raft's up-to-date rule on (last epoch, end offset).
    fn log_is_up_to_date(&self, last_epoch: Epoch, last_offset: Offset) -> bool {
        if self.cfg.bugs.vote_without_log_check {
            return true;
        }
        let end = self.log.end_offset();
        let my_epoch = self.log.epoch_before(end).expect("end is in range");
        (last_epoch, last_offset) >= (my_epoch, end)
    }

    fn handle_vote_request(&mut self, from: NodeId, r: VoteRequest, now: Millis) {
        let respond = |node: &mut Self, err: ErrorCode, granted: bool| {
            node.send_reply(
                from,
                Message::VoteResponse(VoteResponse {
                    error_code: ErrorCode::NONE,
                    partition_error_code: err,
                    leader_id: node.leader,
                    leader_epoch: node.epoch,
                    vote_granted: granted,
                    pre_vote: r.pre_vote,
                }),
            );
        };
        // Neither side is checked against our voter set, only that the
        // request is addressed to us (KIP-853): our set may lag, or be an
        // uncommitted change that is about to be truncated, and refusing
        // could leave the quorum without the vote it needs (the simulation
        // found that deadlock). The candidate counts only votes of its own
        // set; one vote per epoch per replica keeps that safe, and the log
        // check keeps out a removed replica whose log lacks its removal.
        if r.voter_id != self.cfg.node_id {
            respond(self, ErrorCode::INCONSISTENT_VOTER_SET, false);
            return;
        }
        // Addressed to the voter whose directory this replica no longer
        // has: it must not vote in that voter's place.
        // The same when our own set holds our id with another directory.
        if !same_directory(r.voter_directory_id, self.cfg.directory_id)
            || (self.voters().contains(&self.cfg.node_id) && !self.is_voter())
        {
            respond(self, ErrorCode::INVALID_VOTER_KEY, false);
            return;
        }
        if r.candidate_epoch < self.epoch {
            respond(self, ErrorCode::FENCED_LEADER_EPOCH, false);
            return;
        }
        let log_ok = self.log_is_up_to_date(r.last_offset_epoch, r.last_offset);
        if r.pre_vote {
            // A pre-vote binds nothing and changes no state. It is refused
            // while we still hear from a leader, so a node coming back from
            // a partition cannot unseat a healthy one.
            let hearing_leader = match self.role {
                Role::Leader(_) => r.candidate_epoch == self.epoch,
                Role::Follower { .. } => {
                    r.candidate_epoch == self.epoch
                        && self
                            .last_leader_contact
                            .is_some_and(|t| now < t + self.cfg.fetch_timeout_ms)
                }
                _ => false,
            };
            respond(self, ErrorCode::NONE, log_ok && !hearing_leader);
            return;
        }
        if r.candidate_epoch > self.epoch {
            let d = self.random_election_deadline(now);
            self.become_unattached(r.candidate_epoch, d);
        }
        let can_vote = match self.role {
            Role::Unattached { .. } | Role::Prospective { .. } => {
                self.leader.is_none()
                    && (self.voted.is_none() || self.voted == Some(r.candidate_id))
            }
            Role::Candidate { .. } => false,
            Role::Leader(_) | Role::Follower { .. } | Role::Resigned { .. } => false,
        };
        let grant = can_vote && log_ok;
        if grant {
            assert!(
                self.voted.is_none() || self.voted == Some(r.candidate_id),
                "one vote per epoch"
            );
            self.voted = Some(r.candidate_id);
            if let Role::Prospective { .. } = self.role {
                let d = self.random_election_deadline(now);
                self.role = Role::Unattached {
                    election_deadline: d,
                };
            } else if let Role::Unattached { election_deadline } = &mut self.role {
                *election_deadline = now
                    + self.cfg.election_timeout_ms
                    + self.rng.range(0, self.cfg.election_timeout_ms);
            }
            if self.cfg.bugs.grant_before_persist {
                respond(self, ErrorCode::NONE, grant);
                self.persist();
                return;
            }
            // Barrier: the vote is on disk before the grant leaves.
            self.persist();
        }
        respond(self, ErrorCode::NONE, grant);
    }

    fn handle_vote_response(&mut self, from: NodeId, r: VoteResponse, now: Millis) {
        if r.error_code != ErrorCode::NONE {
            return;
        }
        if self.observe_epoch(r.leader_id, r.leader_epoch, now) {
            return;
        }
        // A pre-vote responder does not adopt our epoch, so its answer may
        // carry an older one; real votes are answered in our epoch.
        let epoch_ok = if r.pre_vote {
            r.leader_epoch <= self.epoch
        } else {
            r.leader_epoch == self.epoch
        };
        if !epoch_ok || !self.voters().contains(&from) {
            return;
        }
        if r.partition_error_code != ErrorCode::NONE
            && r.partition_error_code != ErrorCode::FENCED_LEADER_EPOCH
        {
            return;
        }
        match &mut self.role {
            Role::Prospective {
                granted, rejected, ..
            } if r.pre_vote => {
                if r.vote_granted {
                    granted.insert(from);
                } else {
                    rejected.insert(from);
                }
            }
            Role::Candidate {
                granted, rejected, ..
            } if !r.pre_vote => {
                if r.vote_granted {
                    granted.insert(from);
                } else {
                    rejected.insert(from);
                }
            }
            _ => return,
        }
        self.check_election_result(now);
    }

    // ----- begin / end quorum epoch -----------------------------------------

    fn send_begin_quorum(&mut self, now: Millis) {
        let Role::Leader(ls) = &mut self.role else {
            return;
        };
        ls.begin_resend_at = now
            + self
                .cfg
                .request_timeout_ms
                .min(self.cfg.fetch_timeout_ms / 2)
                .max(1);
        let targets: Vec<NodeId> = ls
            .voters
            .keys()
            .copied()
            .filter(|v| *v != self.cfg.node_id && !ls.begin_acked.contains(v))
            .collect();
        for to in targets {
            self.send_request(
                to,
                Message::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
                    cluster_id: self.cfg.cluster_id.clone(),
                    voter_id: to,
                    voter_directory_id: self.directory_of(to),
                    leader_id: self.cfg.node_id,
                    leader_epoch: self.epoch,
                }),
            );
        }
    }

    fn quorum_epoch_response(&mut self, to: NodeId, err: ErrorCode, begin: bool) {
        let resp = QuorumEpochResponse {
            error_code: ErrorCode::NONE,
            partition_error_code: err,
            leader_id: self.leader,
            leader_epoch: self.epoch,
        };
        let message = if begin {
            Message::BeginQuorumEpochResponse(resp)
        } else {
            Message::EndQuorumEpochResponse(resp)
        };
        self.send_reply(to, message);
    }

    fn handle_begin_quorum(&mut self, from: NodeId, r: BeginQuorumEpochRequest, now: Millis) {
        // The leader is not checked against our voter set, which may lag.
        if r.voter_id != self.cfg.node_id {
            self.quorum_epoch_response(from, ErrorCode::INCONSISTENT_VOTER_SET, true);
            return;
        }
        if !same_directory(r.voter_directory_id, self.cfg.directory_id) {
            self.quorum_epoch_response(from, ErrorCode::INVALID_VOTER_KEY, true);
            return;
        }
        if r.leader_epoch < self.epoch {
            self.quorum_epoch_response(from, ErrorCode::FENCED_LEADER_EPOCH, true);
            return;
        }
        if r.leader_id == self.cfg.node_id {
            // Our own announcement echoed back (e.g. after a restart in the
            // same epoch): ignore it.
            self.quorum_epoch_response(from, ErrorCode::NONE, true);
            return;
        }
        let already = r.leader_epoch == self.epoch
            && self.leader == Some(r.leader_id)
            && matches!(self.role, Role::Follower { .. });
        if already {
            self.note_leader_contact(now);
        } else if r.leader_epoch == self.epoch && matches!(self.role, Role::Resigned { .. }) {
            // We led this epoch: nobody else can have.
            self.quorum_epoch_response(from, ErrorCode::FENCED_LEADER_EPOCH, true);
            return;
        } else {
            self.become_follower(r.leader_epoch, r.leader_id, now);
            self.note_leader_contact(now);
        }
        self.quorum_epoch_response(from, ErrorCode::NONE, true);
    }

    fn handle_end_quorum(&mut self, from: NodeId, r: EndQuorumEpochRequest, now: Millis) {
        if r.leader_epoch < self.epoch {
            self.quorum_epoch_response(from, ErrorCode::FENCED_LEADER_EPOCH, false);
            return;
        }
        let following_it = r.leader_epoch == self.epoch && self.leader == Some(r.leader_id);
        if (r.leader_epoch > self.epoch || following_it) && self.can_stand() {
            // Preferred successors go first; the rest wait longer.
            let pos = r
                .preferred_candidates
                .iter()
                .position(|&c| c == self.cfg.node_id)
                .unwrap_or(r.preferred_candidates.len());
            let wait = if pos == 0 {
                0
            } else {
                self.cfg
                    .retry_backoff_ms
                    .saturating_mul(1 << (pos as u32).min(20))
                    .min(self.cfg.election_backoff_max_ms)
            };
            // Within the same epoch our vote (if any) stands.
            self.become_unattached(r.leader_epoch, now + wait);
        }
        self.quorum_epoch_response(from, ErrorCode::NONE, false);
    }

    // ----- fetch: leader side ------------------------------------------------

    fn fetch_error(&self, err: ErrorCode) -> FetchResponse {
        FetchResponse {
            error_code: ErrorCode::NONE,
            partition_error_code: err,
            high_watermark: self.high_watermark,
            log_start_offset: self.log.start_offset(),
            diverging_epoch: None,
            current_leader: (self.leader, self.epoch),
            snapshot_id: None,
            records: Vec::new(),
        }
    }

    fn reject_cluster(&mut self, from: NodeId, m: &Message) {
        let message = match m {
            Message::VoteRequest(r) => Message::VoteResponse(VoteResponse {
                error_code: ErrorCode::INCONSISTENT_CLUSTER_ID,
                partition_error_code: ErrorCode::NONE,
                leader_id: None,
                leader_epoch: -1,
                vote_granted: false,
                pre_vote: r.pre_vote,
            }),
            Message::FetchRequest(_) => {
                let mut resp = self.fetch_error(ErrorCode::NONE);
                resp.error_code = ErrorCode::INCONSISTENT_CLUSTER_ID;
                Message::FetchResponse(resp)
            }
            Message::FetchSnapshotRequest(r) => {
                Message::FetchSnapshotResponse(FetchSnapshotResponse {
                    error_code: ErrorCode::INCONSISTENT_CLUSTER_ID,
                    partition_error_code: ErrorCode::NONE,
                    snapshot_id: r.snapshot_id,
                    current_leader: (None, -1),
                    size: 0,
                    position: 0,
                    unaligned_records: Bytes::new(),
                })
            }
            Message::BeginQuorumEpochRequest(_) | Message::EndQuorumEpochRequest(_) => {
                let resp = QuorumEpochResponse {
                    error_code: ErrorCode::INCONSISTENT_CLUSTER_ID,
                    partition_error_code: ErrorCode::NONE,
                    leader_id: None,
                    leader_epoch: -1,
                };
                if matches!(m, Message::BeginQuorumEpochRequest(_)) {
                    Message::BeginQuorumEpochResponse(resp)
                } else {
                    Message::EndQuorumEpochResponse(resp)
                }
            }
            _ => return,
        };
        self.send_reply(from, message);
    }

    /// Common epoch checks of Fetch and FetchSnapshot on the receiving side.
    fn check_fetch_epoch(&mut self, current_leader_epoch: Epoch) -> Result<(), ErrorCode> {
        if current_leader_epoch < self.epoch {
            return Err(ErrorCode::FENCED_LEADER_EPOCH);
        }
        if current_leader_epoch > self.epoch {
            return Err(ErrorCode::UNKNOWN_LEADER_EPOCH);
        }
        if !self.is_leader() {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        Ok(())
    }

    fn note_fetch(&mut self, from: NodeId, directory_id: [u8; 16], now: Millis) {
        let majority = self.majority();
        let me = self.cfg.node_id;
        let timeout = self.cfg.fetch_timeout_ms * 3 / 2;
        let Role::Leader(ls) = &mut self.role else {
            return;
        };
        if let Some(p) = ls.voters.get_mut(&from) {
            p.last_fetch_ms = Some(now);
            ls.begin_acked.insert(from);
            ls.fetched_since_check.insert(from);
            if ls.voters.contains_key(&me) {
                ls.fetched_since_check.insert(me);
            }
            if ls.fetched_since_check.len() >= majority {
                ls.fetched_since_check.clear();
                ls.check_quorum_deadline = now + timeout;
            }
        } else {
            let p = ls.observers.entry(from).or_insert(ReplicaProgress {
                end_offset: None,
                last_fetch_ms: None,
                last_caught_up_ms: None,
                hw_sent: None,
                directory_id: [0; 16],
            });
            p.last_fetch_ms = Some(now);
            if directory_id != [0; 16] {
                if p.directory_id != [0; 16] && p.directory_id != directory_id {
                    // Another replica under the same id (a replaced disk):
                    // what the old one had fetched is not its progress.
                    p.end_offset = None;
                    p.last_caught_up_ms = None;
                    p.hw_sent = None;
                }
                p.directory_id = directory_id;
            }
        }
    }

    fn handle_fetch_request(&mut self, from: NodeId, r: FetchRequest, now: Millis, may_park: bool) {
        if let Err(e) = self.check_fetch_epoch(r.current_leader_epoch) {
            let resp = self.fetch_error(e);
            self.send_reply(from, Message::FetchResponse(resp));
            return;
        }
        // A replica with a voter's id but not its directory (its disk was
        // replaced) must not be counted as that voter. It is refused until
        // the old voter key is removed; it then fetches as an observer and
        // can be added under its new key.
        if self.voters().contains(&from) && !self.is_voter_key(from, r.replica_directory_id) {
            let resp = self.fetch_error(ErrorCode::INVALID_VOTER_KEY);
            self.send_reply(from, Message::FetchResponse(resp));
            return;
        }
        self.note_fetch(from, r.replica_directory_id, now);
        let mut resp = self.fetch_error(ErrorCode::NONE);
        match self.validate_fetch(r.fetch_offset, r.last_fetched_epoch) {
            FetchValidation::Snapshot(id) => resp.snapshot_id = Some(id),
            FetchValidation::Diverging(e, o) => resp.diverging_epoch = Some((e, o)),
            FetchValidation::Valid => {
                let hw_before = self.high_watermark;
                self.update_replica(from, r.fetch_offset, now);
                resp.high_watermark = self.high_watermark;
                resp.records = self.log.read(r.fetch_offset, r.max_bytes as usize);
                // Park only when there is nothing to tell: no records, no
                // HW movement (this fetch itself may have moved it), and a
                // HW the replica has already been sent.
                let told = self
                    .progress_of(from)
                    .and_then(|p| p.hw_sent)
                    .is_some_and(|hw| hw >= self.high_watermark);
                let nothing_new =
                    resp.records.is_empty() && self.high_watermark == hw_before && told;
                if nothing_new && may_park && r.max_wait_ms > 0 {
                    let id = self.inbound_correlation_id;
                    if let Role::Leader(ls) = &mut self.role {
                        ls.parked.retain(|(f, _, _, _)| *f != from);
                        let until = now + Millis::from(r.max_wait_ms);
                        ls.parked.push((from, id, r, until));
                    }
                    return;
                }
            }
        }
        if resp.error_code == ErrorCode::NONE && resp.partition_error_code == ErrorCode::NONE {
            let hw = resp.high_watermark;
            if let Some(p) = self.progress_of_mut(from) {
                p.hw_sent = Some(p.hw_sent.map_or(hw, |h| h.max(hw)));
            }
        }
        self.send_reply(from, Message::FetchResponse(resp));
    }

    fn progress_of(&self, replica: NodeId) -> Option<&ReplicaProgress> {
        let Role::Leader(ls) = &self.role else {
            return None;
        };
        ls.voters
            .get(&replica)
            .or_else(|| ls.observers.get(&replica))
    }

    fn progress_of_mut(&mut self, replica: NodeId) -> Option<&mut ReplicaProgress> {
        let Role::Leader(ls) = &mut self.role else {
            return None;
        };
        if ls.voters.contains_key(&replica) {
            ls.voters.get_mut(&replica)
        } else {
            ls.observers.get_mut(&replica)
        }
    }

    /// Answers parked fetches: all of them (new data or HW), or with
    /// `expired_only` those whose wait is over.
    fn complete_parked(&mut self, now: Millis, expired_only: bool) {
        let Role::Leader(ls) = &mut self.role else {
            return;
        };
        let parked = std::mem::take(&mut ls.parked);
        let (due, keep): (Vec<_>, Vec<_>) = parked
            .into_iter()
            .partition(|(_, _, _, until)| !expired_only || now >= *until);
        if let Role::Leader(ls) = &mut self.role {
            ls.parked = keep;
        }
        let inbound = self.inbound_correlation_id;
        for (from, id, r, _) in due {
            self.inbound_correlation_id = id;
            self.handle_fetch_request(from, r, now, false);
        }
        self.inbound_correlation_id = inbound;
    }

    fn validate_fetch(&self, fetch_offset: Offset, last_fetched_epoch: Epoch) -> FetchValidation {
        let start = self.log.start_offset();
        let snapshot = || {
            FetchValidation::Snapshot(
                self.log
                    .latest_snapshot()
                    .expect("a log that does not start at 0 has a snapshot"),
            )
        };
        if fetch_offset < start {
            return snapshot();
        }
        match self.log.end_offset_for_epoch(last_fetched_epoch) {
            None => snapshot(),
            Some((e, end)) if e == last_fetched_epoch && fetch_offset <= end => {
                FetchValidation::Valid
            }
            Some((e, end)) => {
                if end < start {
                    snapshot()
                } else {
                    FetchValidation::Diverging(e, end.min(fetch_offset))
                }
            }
        }
    }

    fn update_replica(&mut self, from: NodeId, fetch_offset: Offset, now: Millis) {
        let end = self.log.end_offset();
        let Role::Leader(ls) = &mut self.role else {
            return;
        };
        let is_voter = ls.voters.contains_key(&from);
        let p = if is_voter {
            ls.voters.get_mut(&from)
        } else {
            ls.observers.get_mut(&from)
        };
        if let Some(p) = p {
            // Fetch offsets of a replica that has flushed them never shrink
            // within an epoch; a late duplicate must not move it back.
            p.end_offset = Some(p.end_offset.map_or(fetch_offset, |o| o.max(fetch_offset)));
            if fetch_offset >= end {
                p.last_caught_up_ms = Some(now);
            }
        }
        if is_voter {
            self.leader_update_hw(now);
        }
    }

    fn leader_update_hw(&mut self, now: Millis) {
        let me = self.cfg.node_id;
        let own = if self.cfg.bugs.count_unflushed_on_leader {
            self.log.end_offset()
        } else {
            self.flushed
        };
        let majority = self.majority();
        let Role::Leader(ls) = &mut self.role else {
            return;
        };
        if let Some(p) = ls.voters.get_mut(&me) {
            p.end_offset = Some(own);
        }
        let mut ends: Vec<Offset> = ls
            .voters
            .values()
            .map(|p| p.end_offset.unwrap_or(-1))
            .collect();
        ends.sort_unstable_by(|a, b| b.cmp(a));
        let candidate = ends[majority - 1];
        let has_current_epoch =
            candidate > ls.epoch_start_offset || self.cfg.bugs.commit_without_current_epoch_entry;
        if candidate > self.high_watermark && has_current_epoch {
            self.advance_high_watermark(candidate);
            self.complete_parked(now, false);
        }
        // KIP-853: a leader removed from the voters leads until that change
        // commits, then steps down.
        let me = self.cfg.node_id;
        if self.is_leader()
            && !self.voters().contains(&me)
            && self
                .last_voters_record()
                .is_some_and(|o| o < self.high_watermark)
        {
            self.resign_leadership(now);
        }
    }

    // ----- fetch: follower / observer side -----------------------------------

    /// Where a non-leader fetches from: its leader, or (an observer without
    /// one) any voter, which will point it to the leader.
    fn fetch_target(&self) -> Option<NodeId> {
        match self.role {
            Role::Follower { .. } => self.leader,
            Role::Unattached { .. } if !self.can_stand() => {
                // Observers know no leader yet: ask the bootstrap servers
                // (or, without them, the voters) in turn (the index moves
                // with each failed fetch's backoff), and the one that
                // answers names the leader.
                let ask: Vec<NodeId> = if self.cfg.bootstrap_servers.is_empty() {
                    self.voters().iter().copied().collect()
                } else {
                    self.cfg.bootstrap_servers.clone()
                };
                let n = ask.len();
                (n > 0).then(|| {
                    ask[(self.log.end_offset() as usize + self.fetcher.not_before as usize) % n]
                })
            }
            _ => None,
        }
    }

    fn maybe_send_fetch(&mut self, now: Millis) {
        let Some(to) = self.fetch_target() else {
            return;
        };
        if self.fetcher.in_flight.is_some() || now < self.fetcher.not_before {
            return;
        }
        let timeout = Millis::from(self.cfg.fetch_max_wait_ms) + self.cfg.request_timeout_ms;
        if let Some(snap) = &self.fetcher.snapshot {
            let msg = Message::FetchSnapshotRequest(FetchSnapshotRequest {
                replica_directory_id: self.cfg.directory_id,
                cluster_id: self.cfg.cluster_id.clone(),
                replica_id: self.cfg.node_id,
                current_leader_epoch: self.epoch,
                snapshot_id: snap.id,
                position: snap.data.len() as u64,
                max_bytes: self.cfg.snapshot_chunk_bytes,
            });
            let id = self.send_request(to, msg);
            self.fetcher.in_flight = Some((to, id, now + timeout));
            return;
        }
        let end = self.log.end_offset();
        if self.flushed < end && !self.cfg.bugs.fetch_before_flush {
            // The leader counts our fetch offset toward the HW, so it must
            // be durable here first.
            return;
        }
        let last_fetched_epoch = self.log.epoch_before(end).expect("end in range");
        let msg = Message::FetchRequest(FetchRequest {
            cluster_id: self.cfg.cluster_id.clone(),
            replica_id: self.cfg.node_id,
            replica_directory_id: self.cfg.directory_id,
            current_leader_epoch: self.epoch,
            fetch_offset: end,
            last_fetched_epoch,
            max_wait_ms: self.cfg.fetch_max_wait_ms,
            max_bytes: self.cfg.fetch_max_bytes,
        });
        let id = self.send_request(to, msg);
        self.fetcher.in_flight = Some((to, id, now + timeout));
    }

    fn note_leader_contact(&mut self, now: Millis) {
        self.last_leader_contact = Some(now);
        if let Role::Follower { fetch_deadline } = &mut self.role {
            *fetch_deadline = now + self.cfg.fetch_timeout_ms;
        }
    }

    fn handle_fetch_response(&mut self, from: NodeId, r: FetchResponse, now: Millis) {
        if !self.is_expected_response(from) {
            return;
        }
        if r.error_code != ErrorCode::NONE {
            self.fetch_failed(now);
            return;
        }
        let (leader, epoch) = r.current_leader;
        if self.observe_epoch(leader, epoch, now) {
            return;
        }
        if !matches!(self.role, Role::Follower { .. })
            || self.leader != Some(from)
            || epoch != self.epoch
        {
            if matches!(self.role, Role::Unattached { .. }) && !self.can_stand() {
                self.fetch_failed(now);
            }
            return;
        }
        if r.partition_error_code != ErrorCode::NONE {
            self.fetch_failed(now);
            return;
        }
        self.note_leader_contact(now);
        self.fetcher.in_flight = None;
        if let Some((div_epoch, div_end)) = r.diverging_epoch {
            let local = self.log.end_offset_for_epoch(div_epoch);
            let target = match local {
                Some((_, local_end)) => local_end.min(div_end),
                None => self.log.start_offset(),
            };
            if target < self.log.end_offset() {
                let target = target.max(self.log.start_offset());
                self.log.truncate_to(target);
                let end = self.log.end_offset();
                self.voter_sets
                    .truncate(1 + self.voter_sets[1..].partition_point(|v| v.from < end));
                // Committed entries are never truncated: the simulation's
                // injected bugs trip this first.
                assert!(
                    end >= self.high_watermark,
                    "node {} truncated to {end} below its high watermark {}",
                    self.cfg.node_id,
                    self.high_watermark
                );
                self.flushed = self.flushed.min(end);
            }
            return;
        }
        if let Some(id) = r.snapshot_id {
            // The leader sends a snapshot id when our fetch offset is below
            // its log start, or when our last epoch is older than anything
            // it still has: then our tail diverges even if our log is longer
            // than the snapshot (found by the simulation), and everything we
            // hold that is committed lies within the snapshot. Replace the
            // log with it either way.
            if id.end_offset >= self.high_watermark
                && self.fetcher.snapshot.as_ref().map(|s| s.id) != Some(id)
            {
                self.fetcher.snapshot = Some(PendingSnapshot {
                    id,
                    data: BytesMut::new(),
                });
            }
            return;
        }
        if let Some(first) = r.records.first() {
            if first.base_offset != self.log.end_offset() {
                // A stale or duplicated answer: our log moved since.
                return;
            }
            self.append_batches(r.records);
            self.out.push(Action::Flush);
        }
        let hw = r.high_watermark.min(self.log.end_offset());
        if hw > self.high_watermark {
            self.advance_high_watermark(hw);
        }
    }

    /// Only the answer to the outstanding request counts: a late or
    /// duplicated answer to an earlier one describes a log we no longer
    /// have (acting on an old DivergingEpoch would cut entries fetched
    /// since). Kafka's client matches correlation ids the same way.
    fn is_expected_response(&self, from: NodeId) -> bool {
        matches!(self.fetcher.in_flight, Some((to, id, _)) if to == from && id == self.inbound_correlation_id)
    }

    fn fetch_failed(&mut self, now: Millis) {
        self.fetcher.in_flight = None;
        self.fetcher.not_before = now + self.cfg.retry_backoff_ms;
    }

    // ----- snapshots -----------------------------------------------------------

    fn handle_fetch_snapshot_request(
        &mut self,
        from: NodeId,
        r: FetchSnapshotRequest,
        now: Millis,
    ) {
        let mut resp = FetchSnapshotResponse {
            error_code: ErrorCode::NONE,
            partition_error_code: ErrorCode::NONE,
            snapshot_id: r.snapshot_id,
            current_leader: (self.leader, self.epoch),
            size: 0,
            position: r.position,
            unaligned_records: Bytes::new(),
        };
        if let Err(e) = self.check_fetch_epoch(r.current_leader_epoch) {
            resp.partition_error_code = e;
        } else if self.voters().contains(&from) && !self.is_voter_key(from, r.replica_directory_id)
        {
            // As for Fetch: not the voter of that id.
            resp.partition_error_code = ErrorCode::INVALID_VOTER_KEY;
        } else {
            self.note_fetch(from, r.replica_directory_id, now);
            match self
                .log
                .read_snapshot(r.snapshot_id, r.position, r.max_bytes as usize)
            {
                None => resp.partition_error_code = ErrorCode::SNAPSHOT_NOT_FOUND,
                Some((size, _)) if r.position > size => {
                    resp.partition_error_code = ErrorCode::POSITION_OUT_OF_RANGE
                }
                Some((size, chunk)) => {
                    resp.size = size;
                    resp.unaligned_records = chunk;
                }
            }
        }
        self.send_reply(from, Message::FetchSnapshotResponse(resp));
    }

    fn handle_fetch_snapshot_response(
        &mut self,
        from: NodeId,
        r: FetchSnapshotResponse,
        now: Millis,
    ) {
        if !self.is_expected_response(from) {
            return;
        }
        if r.error_code != ErrorCode::NONE {
            self.fetch_failed(now);
            return;
        }
        let (leader, epoch) = r.current_leader;
        if self.observe_epoch(leader, epoch, now) {
            return;
        }
        if !matches!(self.role, Role::Follower { .. })
            || self.leader != Some(from)
            || epoch != self.epoch
        {
            return;
        }
        if r.partition_error_code != ErrorCode::NONE {
            // The leader no longer has it (a newer one replaced it): start
            // over with a Fetch, which names the current snapshot.
            self.fetcher.snapshot = None;
            self.fetch_failed(now);
            return;
        }
        self.note_leader_contact(now);
        let Some(pending) = &mut self.fetcher.snapshot else {
            return;
        };
        if pending.id != r.snapshot_id || pending.data.len() as u64 != r.position {
            return;
        }
        self.fetcher.in_flight = None;
        pending.data.extend_from_slice(&r.unaligned_records);
        let done = pending.data.len() as u64 >= r.size;
        if !done && r.unaligned_records.is_empty() {
            self.fetch_failed(now);
            return;
        }
        if done {
            let pending = self.fetcher.snapshot.take().expect("checked above");
            let id = pending.id;
            assert!(id.end_offset >= self.high_watermark);
            self.log.install_snapshot(id, pending.data.freeze());
            self.rebuild_voter_sets();
            self.flushed = id.end_offset;
            self.out.push(Action::SnapshotInstalled(id));
            if id.end_offset > self.high_watermark {
                self.advance_high_watermark(id.end_offset);
            }
        }
    }
}

enum FetchValidation {
    Valid,
    Diverging(Epoch, Offset),
    Snapshot(SnapshotId),
}
