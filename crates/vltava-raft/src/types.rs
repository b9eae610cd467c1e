//! Identifiers, log entries and the persisted quorum state.

use bytes::Bytes;

/// A replica id (Kafka's `node.id`).
pub type NodeId = i32;
/// A leader epoch (Raft's term).
pub type Epoch = i32;
/// A record offset in the replicated log.
pub type Offset = i64;
/// Milliseconds on the driver's clock. Only differences matter.
pub type Millis = u64;

/// What a batch carries. Control batches are written by the protocol itself,
/// as Kafka writes control records into `__cluster_metadata`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BatchKind {
    /// Records proposed by the application (opaque payload).
    Data,
    /// Kafka's LeaderChangeMessage: the first batch of every new leader's
    /// epoch. Committing it commits everything before it (Raft's rule that a
    /// leader only counts replicas for entries of its own term).
    LeaderChange {
        /// The elected leader.
        leader_id: NodeId,
        /// The voters, in the order Kafka lists them.
        voters: Vec<NodeId>,
    },
    /// Kafka's VotersRecord (KIP-853): the voter set from this offset on.
    /// It takes effect when appended, committed or not, and is undone if
    /// the batch is truncated away.
    Voters {
        /// The voters, by replica id.
        voters: Vec<Voter>,
    },
}

/// A listener a voter takes KRaft requests on, as a VotersRecord and
/// AddRaftVoter name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The listener's name (`CONTROLLER`, ...).
    pub name: String,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// A voter as KIP-853 names it: the replica id, the directory id of its
/// metadata log (all zero when unknown, as for voters from
/// `controller.quorum.voters`), and its endpoints. Consensus reads only the
/// id; the rest travels with the voter set through the log and snapshots,
/// so that every replica learns from the log how to reach every voter, and
/// a voter whose disk was wiped (a new directory id) is not taken for the
/// old one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Voter {
    /// The replica id (`node.id`).
    pub id: NodeId,
    /// The metadata log directory's `directory.id`, zero if unknown.
    pub directory_id: [u8; 16],
    /// Where it takes requests; may be empty for static voters.
    pub endpoints: Vec<Endpoint>,
}

impl Voter {
    /// A voter known by its id alone (a static voter).
    pub fn id_only(id: NodeId) -> Voter {
        Voter {
            id,
            directory_id: [0; 16],
            endpoints: Vec::new(),
        }
    }
}

/// One batch of the log: `record_count` consecutive offsets written in one
/// epoch. Offsets count records, as in Kafka, not batches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Batch {
    /// Offset of the first record.
    pub base_offset: Offset,
    /// Leader epoch the batch was appended in.
    pub epoch: Epoch,
    /// Number of records, at least 1.
    pub record_count: u32,
    /// What the batch is.
    pub kind: BatchKind,
    /// Opaque record bytes (empty for control batches in this model).
    pub payload: Bytes,
}

impl Batch {
    /// Offset of the last record in the batch.
    pub fn last_offset(&self) -> Offset {
        self.base_offset + Offset::from(self.record_count) - 1
    }

    /// Offset just past the batch.
    pub fn next_offset(&self) -> Offset {
        self.base_offset + Offset::from(self.record_count)
    }

    /// Bytes the batch accounts for against fetch size limits.
    pub fn size(&self) -> usize {
        // A fixed overhead stands in for the 61-byte v2 batch header, so that
        // empty control batches still count against `max_bytes`.
        61 + self.payload.len()
    }
}

/// A snapshot is named by the offset just past its last included record and
/// the epoch of that last record (Kafka's `SnapshotId`/`OffsetAndEpoch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SnapshotId {
    /// Offset just past the last record the snapshot covers.
    pub end_offset: Offset,
    /// Epoch of the record at `end_offset - 1`.
    pub epoch: Epoch,
}

/// The quorum state that must be durable before the node acts on it
/// (Kafka's `quorum-state` file, `QuorumStateData`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QuorumStateData {
    /// The latest epoch this node knows of.
    pub leader_epoch: Epoch,
    /// The leader of `leader_epoch`, if known.
    pub leader_id: Option<NodeId>,
    /// The candidate this node voted for in `leader_epoch`, if any.
    pub voted_id: Option<NodeId>,
}

/// Kafka error codes used by the KRaft RPCs, under Kafka's names.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No error.
    NONE,
    /// The requested offset is outside the range the server holds.
    OFFSET_OUT_OF_RANGE,
    /// The receiver is not the leader (or not a replica).
    NOT_LEADER_OR_FOLLOWER,
    /// The receiver cannot serve the request right now (e.g. it is resigning).
    BROKER_NOT_AVAILABLE,
    /// The request's epoch is older than the receiver's.
    FENCED_LEADER_EPOCH,
    /// The request's epoch is newer than the receiver's.
    UNKNOWN_LEADER_EPOCH,
    /// The sender or receiver is not one of the expected voters.
    INCONSISTENT_VOTER_SET,
    /// The requested snapshot does not exist.
    SNAPSHOT_NOT_FOUND,
    /// The snapshot position is negative or past its size.
    POSITION_OUT_OF_RANGE,
    /// The request's cluster id differs from the receiver's.
    INCONSISTENT_CLUSTER_ID,
    /// The request did not complete in time (AddRaftVoter/RemoveRaftVoter
    /// while another change is pending or the new voter lags).
    REQUEST_TIMED_OUT,
    /// AddRaftVoter of a replica that already votes.
    DUPLICATE_VOTER,
    /// RemoveRaftVoter of a replica that does not vote.
    VOTER_NOT_FOUND,
    /// The request names a voter by a directory id that is not the
    /// receiver's, or comes from a replica whose directory id is not the
    /// voter's of that id (a voter whose disk was replaced).
    INVALID_VOTER_KEY,
}

impl ErrorCode {
    /// Kafka's numeric code, for the wire adapter.
    pub fn code(self) -> i16 {
        match self {
            ErrorCode::NONE => 0,
            ErrorCode::OFFSET_OUT_OF_RANGE => 1,
            ErrorCode::NOT_LEADER_OR_FOLLOWER => 6,
            ErrorCode::BROKER_NOT_AVAILABLE => 8,
            ErrorCode::FENCED_LEADER_EPOCH => 74,
            ErrorCode::UNKNOWN_LEADER_EPOCH => 75,
            ErrorCode::INCONSISTENT_VOTER_SET => 94,
            ErrorCode::SNAPSHOT_NOT_FOUND => 98,
            ErrorCode::POSITION_OUT_OF_RANGE => 99,
            ErrorCode::INCONSISTENT_CLUSTER_ID => 104,
            ErrorCode::REQUEST_TIMED_OUT => 7,
            ErrorCode::DUPLICATE_VOTER => 126,
            ErrorCode::VOTER_NOT_FOUND => 127,
            ErrorCode::INVALID_VOTER_KEY => 125,
        }
    }
}
