//! The KRaft RPCs as plain structs. Each carries the fields of the Kafka
//! message that the protocol needs, for one partition (`__cluster_metadata-0`),
//! so that a wire adapter maps them 1:1 onto the generated request and
//! response types. Topic name and partition index are the adapter's business.
//!
//! Requests and responses travel as [`Message`]s addressed to a node; the
//! adapter pairs a response with the connection its request came on.

use bytes::Bytes;

use crate::types::{Batch, Epoch, ErrorCode, NodeId, Offset, SnapshotId};

/// Vote (API key 52). With `pre_vote` set it is KIP-996's pre-vote: the
/// epoch is the sender's current epoch, not a bumped one, and granting it
/// binds nothing. (Version 2 of the wire schema carries `PreVote`; the
/// specs in this repository stop at version 1, so the adapter needs v2.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteRequest {
    /// Cluster id of the sender.
    pub cluster_id: String,
    /// The replica this request is addressed to.
    pub voter_id: NodeId,
    /// Its directory id as the sender's voter set has it (zeros: unknown,
    /// matches any).
    pub voter_directory_id: [u8; 16],
    /// The sender's own directory id.
    pub candidate_directory_id: [u8; 16],
    /// `CandidateEpoch` (v0-1) / `ReplicaEpoch` (v2): the epoch the sender
    /// wants to be elected in (real vote) or its current epoch (pre-vote).
    pub candidate_epoch: Epoch,
    /// The sender.
    pub candidate_id: NodeId,
    /// Epoch of the last record in the sender's log.
    pub last_offset_epoch: Epoch,
    /// The sender's log end offset (`LastOffset`).
    pub last_offset: Offset,
    /// KIP-996 pre-vote.
    pub pre_vote: bool,
}

/// Answer to a [`VoteRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoteResponse {
    /// Top-level error (cluster id mismatch).
    pub error_code: ErrorCode,
    /// Partition-level error.
    pub partition_error_code: ErrorCode,
    /// The leader the responder knows of, if any.
    pub leader_id: Option<NodeId>,
    /// The responder's epoch.
    pub leader_epoch: Epoch,
    /// Whether the vote (or pre-vote) was granted.
    pub vote_granted: bool,
    /// Echo of the request's `pre_vote`, which Kafka's client remembers from
    /// the request it sent; carried here so responses are self-describing.
    pub pre_vote: bool,
}

/// BeginQuorumEpoch (API key 53): a new leader announces itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeginQuorumEpochRequest {
    /// Cluster id of the leader.
    pub cluster_id: String,
    /// The voter this is addressed to.
    pub voter_id: NodeId,
    /// Its directory id as the leader's voter set has it (zeros: any).
    pub voter_directory_id: [u8; 16],
    /// The new leader.
    pub leader_id: NodeId,
    /// Its epoch.
    pub leader_epoch: Epoch,
}

/// Answer to [`BeginQuorumEpochRequest`] (and to EndQuorumEpoch, whose
/// response has the same fields).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumEpochResponse {
    /// Top-level error.
    pub error_code: ErrorCode,
    /// Partition-level error.
    pub partition_error_code: ErrorCode,
    /// The leader the responder knows of.
    pub leader_id: Option<NodeId>,
    /// The responder's epoch.
    pub leader_epoch: Epoch,
}

/// EndQuorumEpoch (API key 54): a leader resigns gracefully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndQuorumEpochRequest {
    /// Cluster id of the leader.
    pub cluster_id: String,
    /// The resigning leader.
    pub leader_id: NodeId,
    /// Its epoch.
    pub leader_epoch: Epoch,
    /// `PreferredCandidates`: voters sorted by how far their logs got, best
    /// first; position `i` waits a backoff that grows with `i`.
    pub preferred_candidates: Vec<NodeId>,
}

/// Fetch (API key 1), replica fields only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchRequest {
    /// Cluster id of the fetcher.
    pub cluster_id: String,
    /// The fetching replica (voter or observer).
    pub replica_id: NodeId,
    /// Its directory id (zeros: unknown).
    pub replica_directory_id: [u8; 16],
    /// The epoch the fetcher believes is current.
    pub current_leader_epoch: Epoch,
    /// The fetcher's log end offset (it has flushed everything below it).
    pub fetch_offset: Offset,
    /// Epoch of the record at `fetch_offset - 1` in the fetcher's log.
    pub last_fetched_epoch: Epoch,
    /// How long the leader may park the request when there is nothing new.
    pub max_wait_ms: u32,
    /// Byte limit for the records returned.
    pub max_bytes: u32,
}

/// Answer to [`FetchRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    /// Top-level error.
    pub error_code: ErrorCode,
    /// Partition-level error.
    pub partition_error_code: ErrorCode,
    /// The leader's high watermark.
    pub high_watermark: Offset,
    /// The leader's log start offset.
    pub log_start_offset: Offset,
    /// `DivergingEpoch`: set when the fetcher's log diverges; it must
    /// truncate to at most `end_offset` (of `epoch`) and fetch again.
    pub diverging_epoch: Option<(Epoch, Offset)>,
    /// `CurrentLeader`: leader id (if known) and epoch of the responder.
    pub current_leader: (Option<NodeId>, Epoch),
    /// `SnapshotId`: set when the fetch offset is below the leader's log
    /// start; the fetcher must FetchSnapshot it.
    pub snapshot_id: Option<SnapshotId>,
    /// `Records`: batches starting exactly at the fetch offset.
    pub records: Vec<Batch>,
}

/// FetchSnapshot (API key 59).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSnapshotRequest {
    /// Cluster id of the fetcher.
    pub cluster_id: String,
    /// The fetching replica.
    pub replica_id: NodeId,
    /// Its directory id (zeros: unknown).
    pub replica_directory_id: [u8; 16],
    /// The epoch the fetcher believes is current.
    pub current_leader_epoch: Epoch,
    /// The snapshot wanted.
    pub snapshot_id: SnapshotId,
    /// Byte position to read from.
    pub position: u64,
    /// Byte limit of the chunk.
    pub max_bytes: u32,
}

/// Answer to [`FetchSnapshotRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchSnapshotResponse {
    /// Top-level error.
    pub error_code: ErrorCode,
    /// Partition-level error.
    pub partition_error_code: ErrorCode,
    /// The snapshot this chunk belongs to.
    pub snapshot_id: SnapshotId,
    /// `CurrentLeader`.
    pub current_leader: (Option<NodeId>, Epoch),
    /// Total size of the snapshot in bytes.
    pub size: u64,
    /// Position of `unaligned_records` in the snapshot.
    pub position: u64,
    /// The chunk.
    pub unaligned_records: Bytes,
}

/// Every message the state machine sends or receives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Message {
    VoteRequest(VoteRequest),
    VoteResponse(VoteResponse),
    BeginQuorumEpochRequest(BeginQuorumEpochRequest),
    BeginQuorumEpochResponse(QuorumEpochResponse),
    EndQuorumEpochRequest(EndQuorumEpochRequest),
    EndQuorumEpochResponse(QuorumEpochResponse),
    FetchRequest(FetchRequest),
    FetchResponse(FetchResponse),
    FetchSnapshotRequest(FetchSnapshotRequest),
    FetchSnapshotResponse(FetchSnapshotResponse),
}

impl Message {
    /// The cluster id carried by requests (responses carry none).
    pub fn cluster_id(&self) -> Option<&str> {
        match self {
            Message::VoteRequest(r) => Some(&r.cluster_id),
            Message::BeginQuorumEpochRequest(r) => Some(&r.cluster_id),
            Message::EndQuorumEpochRequest(r) => Some(&r.cluster_id),
            Message::FetchRequest(r) => Some(&r.cluster_id),
            Message::FetchSnapshotRequest(r) => Some(&r.cluster_id),
            _ => None,
        }
    }
}
