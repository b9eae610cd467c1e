//! KRaft's RPCs as Kafka requests and responses: `vltava-raft`'s plain
//! messages to and from the generated types of Vote, BeginQuorumEpoch,
//! EndQuorumEpoch, Fetch and FetchSnapshot, for the one partition
//! `__cluster_metadata-0`.
//!
//! Two directions, four kinds of function:
//! - a node *receiving* a request: `*_request_from_wire` (who sent it and
//!   what it asks) and `*_response_to_wire` (the state machine's answer in
//!   the version the request came in);
//! - a node *sending* a request: `*_request_to_wire` (in the version the
//!   connection negotiated) and `*_response_from_wire`.
//!
//! Everything here is a pure conversion; a request that does not name
//! exactly our partition is refused with the error Kafka gives.

use bytes::Bytes;
use vltava_protocol::messages::{
    begin_quorum_epoch_request as bqe_req, begin_quorum_epoch_response as bqe_resp,
    end_quorum_epoch_request as eqe_req, end_quorum_epoch_response as eqe_resp, fetch_request,
    fetch_response, fetch_snapshot_request as fs_req, fetch_snapshot_response as fs_resp,
    vote_request, vote_response, BeginQuorumEpochRequest, BeginQuorumEpochResponse,
    EndQuorumEpochRequest, EndQuorumEpochResponse, FetchRequest, FetchResponse,
    FetchSnapshotRequest, FetchSnapshotResponse, VoteRequest, VoteResponse,
};
use vltava_protocol::{ErrorCode, Uuid};
use vltava_raft as raft;
use vltava_raft::{NodeId, SnapshotId};

use crate::batch_codec;

/// The metadata topic's name.
pub const METADATA_TOPIC: &str = "__cluster_metadata";
/// Its only partition.
pub const METADATA_PARTITION: i32 = 0;
/// Kafka's fixed topic id of `__cluster_metadata` (`Uuid.METADATA_TOPIC_ID`:
/// most significant bits 0, least significant 1), used by Fetch v13+.
pub const METADATA_TOPIC_ID: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/// Why a message could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The request does not address `__cluster_metadata-0` alone (Kafka
    /// answers such requests with this code at the top level).
    WrongPartition(ErrorCode),
    /// The message cannot be expressed in the negotiated version.
    Version(String),
    /// The peer's answer is malformed (wrong partition, undecodable
    /// records, an error code the protocol does not know).
    Malformed(String),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::WrongPartition(code) => {
                write!(f, "request does not address {METADATA_TOPIC}-0: {code}")
            }
            WireError::Version(m) => write!(f, "version: {m}"),
            WireError::Malformed(m) => write!(f, "malformed: {m}"),
        }
    }
}

impl std::error::Error for WireError {}

/// A Kafka error code as the state machine knows it.
pub fn error_to_wire(code: raft::ErrorCode) -> ErrorCode {
    ErrorCode(code.code())
}

/// The state machine's view of a Kafka error code; `None` for codes the
/// KRaft protocol never sends (the caller treats the answer as a failed
/// request).
pub fn error_from_wire(code: i16) -> Option<raft::ErrorCode> {
    use raft::ErrorCode as E;
    let all = [
        E::NONE,
        E::OFFSET_OUT_OF_RANGE,
        E::NOT_LEADER_OR_FOLLOWER,
        E::BROKER_NOT_AVAILABLE,
        E::FENCED_LEADER_EPOCH,
        E::UNKNOWN_LEADER_EPOCH,
        E::INCONSISTENT_VOTER_SET,
        E::SNAPSHOT_NOT_FOUND,
        E::POSITION_OUT_OF_RANGE,
        E::INCONSISTENT_CLUSTER_ID,
        E::REQUEST_TIMED_OUT,
        E::DUPLICATE_VOTER,
        E::VOTER_NOT_FOUND,
    ];
    all.into_iter().find(|e| e.code() == code)
}

fn leader_to_wire(leader: Option<NodeId>) -> i32 {
    leader.unwrap_or(-1)
}

fn leader_from_wire(id: i32) -> Option<NodeId> {
    (id >= 0).then_some(id)
}

fn cluster_from_wire(id: &Option<String>) -> String {
    id.clone().unwrap_or_default()
}

fn known_error(code: i16, what: &str) -> Result<raft::ErrorCode, WireError> {
    error_from_wire(code).ok_or_else(|| {
        WireError::Malformed(format!(
            "{what}: error {} is not one KRaft answers with",
            ErrorCode(code)
        ))
    })
}

/// The one partition of a request, or the error Kafka answers with when
/// the request names anything else.
fn only_partition<'a, T, P>(
    topics: &'a [T],
    topic_name: impl Fn(&T) -> &str,
    partitions: impl Fn(&'a T) -> &'a [P],
    index: impl Fn(&P) -> i32,
) -> Result<&'a P, WireError> {
    match topics {
        [t] if topic_name(t) == METADATA_TOPIC => match partitions(t) {
            [p] if index(p) == METADATA_PARTITION => Ok(p),
            _ => Err(WireError::WrongPartition(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            )),
        },
        [_] => Err(WireError::WrongPartition(
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        )),
        _ => Err(WireError::WrongPartition(ErrorCode::INVALID_REQUEST)),
    }
}

// ---------------------------------------------------------------- Vote

/// A received Vote: the candidate and its request.
pub fn vote_request_from_wire(
    req: &VoteRequest,
    version: i16,
) -> Result<(NodeId, raft::VoteRequest), WireError> {
    let p = only_partition(
        &req.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    Ok((
        p.candidate_id,
        raft::VoteRequest {
            cluster_id: cluster_from_wire(&req.cluster_id),
            // v0 has no VoterId: such a request is for whoever receives it.
            voter_id: if version >= 1 { req.voter_id } else { -1 },
            voter_directory_id: p.voter_directory_id.0,
            candidate_directory_id: p.candidate_directory_id.0,
            candidate_epoch: p.candidate_epoch,
            candidate_id: p.candidate_id,
            last_offset_epoch: p.last_offset_epoch,
            last_offset: p.last_offset,
            pre_vote: version >= 2 && p.pre_vote,
        },
    ))
}

/// Vote to send in `version`; a pre-vote needs v2.
pub fn vote_request_to_wire(r: &raft::VoteRequest, version: i16) -> Result<VoteRequest, WireError> {
    if r.pre_vote && version < 2 {
        return Err(WireError::Version(format!(
            "a pre-vote needs Vote v2, the peer speaks v{version}"
        )));
    }
    Ok(VoteRequest {
        cluster_id: Some(r.cluster_id.clone()),
        voter_id: if version >= 1 { r.voter_id } else { -1 },
        topics: vec![vote_request::TopicData {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![vote_request::PartitionData {
                partition_index: METADATA_PARTITION,
                candidate_epoch: r.candidate_epoch,
                candidate_id: r.candidate_id,
                candidate_directory_id: Uuid(r.candidate_directory_id),
                voter_directory_id: Uuid(r.voter_directory_id),
                last_offset_epoch: r.last_offset_epoch,
                last_offset: r.last_offset,
                pre_vote: r.pre_vote,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    })
}

/// The state machine's answer to a Vote.
pub fn vote_response_to_wire(r: &raft::VoteResponse) -> VoteResponse {
    VoteResponse {
        error_code: r.error_code.code(),
        topics: vec![vote_response::TopicData {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![vote_response::PartitionData {
                partition_index: METADATA_PARTITION,
                error_code: r.partition_error_code.code(),
                leader_id: leader_to_wire(r.leader_id),
                leader_epoch: r.leader_epoch,
                vote_granted: r.vote_granted,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A Vote answer received; `pre_vote` is what the request asked (Kafka's
/// client remembers it from the request too).
pub fn vote_response_from_wire(
    resp: &VoteResponse,
    pre_vote: bool,
) -> Result<raft::VoteResponse, WireError> {
    let error_code = known_error(resp.error_code, "Vote")?;
    let Some(p) = resp
        .topics
        .iter()
        .find(|t| t.topic_name == METADATA_TOPIC)
        .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
    else {
        // A top-level error comes without partitions.
        return Ok(raft::VoteResponse {
            error_code,
            partition_error_code: error_code,
            leader_id: None,
            leader_epoch: -1,
            vote_granted: false,
            pre_vote,
        });
    };
    Ok(raft::VoteResponse {
        error_code,
        partition_error_code: known_error(p.error_code, "Vote partition")?,
        leader_id: leader_from_wire(p.leader_id),
        leader_epoch: p.leader_epoch,
        vote_granted: p.vote_granted,
        pre_vote,
    })
}

// ---------------------------------------------------- BeginQuorumEpoch

/// A received BeginQuorumEpoch: the new leader and its request.
pub fn begin_quorum_epoch_request_from_wire(
    req: &BeginQuorumEpochRequest,
    version: i16,
) -> Result<(NodeId, raft::BeginQuorumEpochRequest), WireError> {
    let p = only_partition(
        &req.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    Ok((
        p.leader_id,
        raft::BeginQuorumEpochRequest {
            cluster_id: cluster_from_wire(&req.cluster_id),
            voter_id: if version >= 1 { req.voter_id } else { -1 },
            voter_directory_id: p.voter_directory_id.0,
            leader_id: p.leader_id,
            leader_epoch: p.leader_epoch,
        },
    ))
}

/// BeginQuorumEpoch to send in `version`.
pub fn begin_quorum_epoch_request_to_wire(
    r: &raft::BeginQuorumEpochRequest,
    version: i16,
) -> BeginQuorumEpochRequest {
    BeginQuorumEpochRequest {
        cluster_id: Some(r.cluster_id.clone()),
        voter_id: if version >= 1 { r.voter_id } else { -1 },
        topics: vec![bqe_req::TopicData {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![bqe_req::PartitionData {
                partition_index: METADATA_PARTITION,
                voter_directory_id: Uuid(r.voter_directory_id),
                leader_id: r.leader_id,
                leader_epoch: r.leader_epoch,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The state machine's answer to BeginQuorumEpoch.
pub fn begin_quorum_epoch_response_to_wire(
    r: &raft::QuorumEpochResponse,
) -> BeginQuorumEpochResponse {
    BeginQuorumEpochResponse {
        error_code: r.error_code.code(),
        topics: vec![bqe_resp::TopicData {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![bqe_resp::PartitionData {
                partition_index: METADATA_PARTITION,
                error_code: r.partition_error_code.code(),
                leader_id: leader_to_wire(r.leader_id),
                leader_epoch: r.leader_epoch,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn quorum_epoch_response(
    error_code: i16,
    partition: Option<(i16, i32, i32)>,
    what: &str,
) -> Result<raft::QuorumEpochResponse, WireError> {
    let error_code = known_error(error_code, what)?;
    Ok(match partition {
        Some((code, leader, epoch)) => raft::QuorumEpochResponse {
            error_code,
            partition_error_code: known_error(code, what)?,
            leader_id: leader_from_wire(leader),
            leader_epoch: epoch,
        },
        None => raft::QuorumEpochResponse {
            error_code,
            partition_error_code: error_code,
            leader_id: None,
            leader_epoch: -1,
        },
    })
}

/// A BeginQuorumEpoch answer received.
pub fn begin_quorum_epoch_response_from_wire(
    resp: &BeginQuorumEpochResponse,
) -> Result<raft::QuorumEpochResponse, WireError> {
    let p = resp
        .topics
        .iter()
        .find(|t| t.topic_name == METADATA_TOPIC)
        .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
        .map(|p| (p.error_code, p.leader_id, p.leader_epoch));
    quorum_epoch_response(resp.error_code, p, "BeginQuorumEpoch")
}

// ------------------------------------------------------ EndQuorumEpoch

/// A received EndQuorumEpoch: the resigning leader and its request.
pub fn end_quorum_epoch_request_from_wire(
    req: &EndQuorumEpochRequest,
    version: i16,
) -> Result<(NodeId, raft::EndQuorumEpochRequest), WireError> {
    let p = only_partition(
        &req.topics,
        |t| &t.topic_name,
        |t| &t.partitions,
        |p| p.partition_index,
    )?;
    // v0 lists successors by id; v1 lists candidates with directory ids.
    let preferred_candidates = if version >= 1 {
        p.preferred_candidates
            .iter()
            .map(|c| c.candidate_id)
            .collect()
    } else {
        p.preferred_successors.clone()
    };
    Ok((
        p.leader_id,
        raft::EndQuorumEpochRequest {
            cluster_id: cluster_from_wire(&req.cluster_id),
            leader_id: p.leader_id,
            leader_epoch: p.leader_epoch,
            preferred_candidates,
        },
    ))
}

/// EndQuorumEpoch to send in `version`.
pub fn end_quorum_epoch_request_to_wire(
    r: &raft::EndQuorumEpochRequest,
    version: i16,
) -> EndQuorumEpochRequest {
    let mut partition = eqe_req::PartitionData {
        partition_index: METADATA_PARTITION,
        leader_id: r.leader_id,
        leader_epoch: r.leader_epoch,
        ..Default::default()
    };
    if version >= 1 {
        partition.preferred_candidates = r
            .preferred_candidates
            .iter()
            .map(|&candidate_id| eqe_req::ReplicaInfo {
                candidate_id,
                ..Default::default()
            })
            .collect();
    } else {
        partition.preferred_successors = r.preferred_candidates.clone();
    }
    EndQuorumEpochRequest {
        cluster_id: Some(r.cluster_id.clone()),
        topics: vec![eqe_req::TopicData {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![partition],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The state machine's answer to EndQuorumEpoch.
pub fn end_quorum_epoch_response_to_wire(r: &raft::QuorumEpochResponse) -> EndQuorumEpochResponse {
    EndQuorumEpochResponse {
        error_code: r.error_code.code(),
        topics: vec![eqe_resp::TopicData {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![eqe_resp::PartitionData {
                partition_index: METADATA_PARTITION,
                error_code: r.partition_error_code.code(),
                leader_id: leader_to_wire(r.leader_id),
                leader_epoch: r.leader_epoch,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// An EndQuorumEpoch answer received.
pub fn end_quorum_epoch_response_from_wire(
    resp: &EndQuorumEpochResponse,
) -> Result<raft::QuorumEpochResponse, WireError> {
    let p = resp
        .topics
        .iter()
        .find(|t| t.topic_name == METADATA_TOPIC)
        .and_then(|t| t.partitions.iter().find(|p| p.partition_index == 0))
        .map(|p| (p.error_code, p.leader_id, p.leader_epoch));
    quorum_epoch_response(resp.error_code, p, "EndQuorumEpoch")
}

// --------------------------------------------------------------- Fetch

/// Whether a Fetch request is a replica fetching `__cluster_metadata`
/// (which the quorum answers) rather than an ordinary fetch.
pub fn is_metadata_fetch(req: &FetchRequest, version: i16) -> bool {
    req.topics.iter().any(|t| {
        if version >= 13 {
            t.topic_id == METADATA_TOPIC_ID
        } else {
            t.topic == METADATA_TOPIC
        }
    })
}

fn fetch_replica_id(req: &FetchRequest, version: i16) -> i32 {
    // KIP-903 moved the replica id into ReplicaState in v15.
    if version >= 15 {
        req.replica_state.replica_id
    } else {
        req.replica_id
    }
}

/// A received Fetch of `__cluster_metadata-0`: the fetching replica and its
/// request. A consumer (replica id < 0) may not fetch the metadata log.
pub fn fetch_request_from_wire(
    req: &FetchRequest,
    version: i16,
) -> Result<(NodeId, raft::FetchRequest), WireError> {
    let p = match req.topics.as_slice() {
        [t] if is_metadata_fetch(req, version) => match t.partitions.as_slice() {
            [p] if p.partition == METADATA_PARTITION => p,
            _ => {
                return Err(WireError::WrongPartition(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                ))
            }
        },
        _ => return Err(WireError::WrongPartition(ErrorCode::INVALID_REQUEST)),
    };
    let replica_id = fetch_replica_id(req, version);
    if replica_id < 0 {
        return Err(WireError::WrongPartition(ErrorCode::INVALID_REQUEST));
    }
    Ok((
        replica_id,
        raft::FetchRequest {
            cluster_id: cluster_from_wire(&req.cluster_id),
            replica_id,
            replica_directory_id: p.replica_directory_id.0,
            current_leader_epoch: p.current_leader_epoch,
            fetch_offset: p.fetch_offset,
            last_fetched_epoch: p.last_fetched_epoch,
            max_wait_ms: req.max_wait_ms.max(0) as u32,
            max_bytes: p.partition_max_bytes.max(0) as u32,
        },
    ))
}

/// Fetch to send in `version` (at least 12, the first with KRaft's
/// fields; the caller negotiates that).
pub fn fetch_request_to_wire(
    r: &raft::FetchRequest,
    version: i16,
) -> Result<FetchRequest, WireError> {
    if version < 12 {
        return Err(WireError::Version(format!(
            "KRaft fetches need Fetch v12 or later, the peer speaks v{version}"
        )));
    }
    let mut req = FetchRequest {
        cluster_id: Some(r.cluster_id.clone()),
        max_wait_ms: r.max_wait_ms as i32,
        min_bytes: 0,
        max_bytes: r.max_bytes as i32,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![fetch_request::FetchTopic {
            topic: if version < 13 {
                METADATA_TOPIC.to_string()
            } else {
                String::new()
            },
            topic_id: if version >= 13 {
                METADATA_TOPIC_ID
            } else {
                Uuid::ZERO
            },
            partitions: vec![fetch_request::FetchPartition {
                partition: METADATA_PARTITION,
                current_leader_epoch: r.current_leader_epoch,
                fetch_offset: r.fetch_offset,
                last_fetched_epoch: r.last_fetched_epoch,
                log_start_offset: -1,
                partition_max_bytes: r.max_bytes as i32,
                replica_directory_id: Uuid(r.replica_directory_id),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    if version >= 15 {
        req.replica_id = -1;
        req.replica_state.replica_id = r.replica_id;
        req.replica_state.replica_epoch = -1;
    } else {
        req.replica_id = r.replica_id;
    }
    Ok(req)
}

/// The state machine's answer to a Fetch, in `version`; the records are
/// encoded as Kafka record batches, stamped `timestamp_ms`.
pub fn fetch_response_to_wire(
    r: &raft::FetchResponse,
    version: i16,
    timestamp_ms: i64,
) -> FetchResponse {
    let mut records = Vec::new();
    for b in &r.records {
        records.extend_from_slice(&batch_codec::encode_batch(b, timestamp_ms));
    }
    let mut partition = fetch_response::PartitionData {
        partition_index: METADATA_PARTITION,
        error_code: r.partition_error_code.code(),
        high_watermark: r.high_watermark,
        last_stable_offset: r.high_watermark,
        log_start_offset: r.log_start_offset,
        records: Some(Bytes::from(records)),
        preferred_read_replica: -1,
        ..Default::default()
    };
    if let Some((epoch, end_offset)) = r.diverging_epoch {
        partition.diverging_epoch.epoch = epoch;
        partition.diverging_epoch.end_offset = end_offset;
    } else {
        partition.diverging_epoch.epoch = -1;
        partition.diverging_epoch.end_offset = -1;
    }
    partition.current_leader.leader_id = leader_to_wire(r.current_leader.0);
    partition.current_leader.leader_epoch = r.current_leader.1;
    if let Some(id) = r.snapshot_id {
        partition.snapshot_id.end_offset = id.end_offset;
        partition.snapshot_id.epoch = id.epoch;
    } else {
        partition.snapshot_id.end_offset = -1;
        partition.snapshot_id.epoch = -1;
    }
    FetchResponse {
        error_code: r.error_code.code(),
        session_id: 0,
        responses: vec![fetch_response::FetchableTopicResponse {
            topic: if version < 13 {
                METADATA_TOPIC.to_string()
            } else {
                String::new()
            },
            topic_id: if version >= 13 {
                METADATA_TOPIC_ID
            } else {
                Uuid::ZERO
            },
            partitions: vec![partition],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Names where `leader` is reached in a Fetch answer (NodeEndpoints, v16+;
/// Kafka fills it in for the current leader), so that a replica that asked
/// a bootstrap server, or any non-leader, can dial the leader it names.
pub fn add_fetch_leader_endpoint(resp: &mut FetchResponse, leader: NodeId, host: &str, port: u16) {
    if resp.node_endpoints.iter().all(|e| e.node_id != leader) {
        resp.node_endpoints.push(fetch_response::NodeEndpoint {
            node_id: leader,
            host: host.to_string(),
            port: i32::from(port),
            ..Default::default()
        });
    }
}

/// The endpoints a Fetch answer names, as `(node id, host:port)`.
pub fn fetch_response_endpoints(resp: &FetchResponse) -> Vec<(NodeId, String)> {
    resp.node_endpoints
        .iter()
        .filter(|e| !e.host.is_empty() && (1..=i32::from(u16::MAX)).contains(&e.port))
        .map(|e| (e.node_id, crate::driver::host_port(&e.host, e.port as u16)))
        .collect()
}

/// A Fetch answer to `request` received.
pub fn fetch_response_from_wire(
    resp: &FetchResponse,
    request: &raft::FetchRequest,
) -> Result<raft::FetchResponse, WireError> {
    let error_code = known_error(resp.error_code, "Fetch")?;
    let partition = resp
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.partition_index == METADATA_PARTITION);
    let Some(p) = partition else {
        if error_code == raft::ErrorCode::NONE {
            return Err(WireError::Malformed(
                "Fetch answer without the metadata partition".to_string(),
            ));
        }
        return Ok(raft::FetchResponse {
            error_code,
            partition_error_code: error_code,
            high_watermark: -1,
            log_start_offset: -1,
            diverging_epoch: None,
            current_leader: (None, -1),
            snapshot_id: None,
            records: Vec::new(),
        });
    };
    let records = match &p.records {
        Some(bytes) if !bytes.is_empty() => {
            let mut batches = batch_codec::decode_batches(bytes)
                .map_err(|e| WireError::Malformed(format!("Fetch records: {e}")))?;
            // A leader answers from the fetch offset; anything else is a
            // broken peer, and appending it would break the log.
            if batches
                .first()
                .is_some_and(|b| b.base_offset != request.fetch_offset)
            {
                return Err(WireError::Malformed(format!(
                    "Fetch records start at {}, not at the fetch offset {}",
                    batches[0].base_offset, request.fetch_offset
                )));
            }
            for pair in batches.windows(2) {
                if pair[1].base_offset != pair[0].next_offset() {
                    return Err(WireError::Malformed(
                        "Fetch records are not contiguous".to_string(),
                    ));
                }
            }
            batches.shrink_to_fit();
            batches
        }
        _ => Vec::new(),
    };
    let diverging_epoch = (p.diverging_epoch.epoch >= 0)
        .then_some((p.diverging_epoch.epoch, p.diverging_epoch.end_offset));
    let snapshot_id =
        (p.snapshot_id.end_offset >= 0 && p.snapshot_id.epoch >= 0).then_some(SnapshotId {
            end_offset: p.snapshot_id.end_offset,
            epoch: p.snapshot_id.epoch,
        });
    Ok(raft::FetchResponse {
        error_code,
        partition_error_code: known_error(p.error_code, "Fetch partition")?,
        high_watermark: p.high_watermark,
        log_start_offset: p.log_start_offset,
        diverging_epoch,
        current_leader: (
            leader_from_wire(p.current_leader.leader_id),
            p.current_leader.leader_epoch,
        ),
        snapshot_id,
        records,
    })
}

// ------------------------------------------------------- FetchSnapshot

/// A received FetchSnapshot: the fetching replica and its request.
pub fn fetch_snapshot_request_from_wire(
    req: &FetchSnapshotRequest,
) -> Result<(NodeId, raft::FetchSnapshotRequest), WireError> {
    let p = only_partition(&req.topics, |t| &t.name, |t| &t.partitions, |p| p.partition)?;
    if p.position < 0 {
        return Err(WireError::WrongPartition(ErrorCode::POSITION_OUT_OF_RANGE));
    }
    Ok((
        req.replica_id,
        raft::FetchSnapshotRequest {
            cluster_id: cluster_from_wire(&req.cluster_id),
            replica_id: req.replica_id,
            replica_directory_id: p.replica_directory_id.0,
            current_leader_epoch: p.current_leader_epoch,
            snapshot_id: SnapshotId {
                end_offset: p.snapshot_id.end_offset,
                epoch: p.snapshot_id.epoch,
            },
            position: p.position as u64,
            max_bytes: req.max_bytes.max(0) as u32,
        },
    ))
}

/// FetchSnapshot to send.
pub fn fetch_snapshot_request_to_wire(r: &raft::FetchSnapshotRequest) -> FetchSnapshotRequest {
    FetchSnapshotRequest {
        cluster_id: Some(r.cluster_id.clone()),
        replica_id: r.replica_id,
        max_bytes: r.max_bytes as i32,
        topics: vec![fs_req::TopicSnapshot {
            name: METADATA_TOPIC.to_string(),
            partitions: vec![fs_req::PartitionSnapshot {
                partition: METADATA_PARTITION,
                current_leader_epoch: r.current_leader_epoch,
                snapshot_id: fs_req::SnapshotId {
                    end_offset: r.snapshot_id.end_offset,
                    epoch: r.snapshot_id.epoch,
                    ..Default::default()
                },
                position: r.position as i64,
                replica_directory_id: Uuid(r.replica_directory_id),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The state machine's answer to FetchSnapshot.
pub fn fetch_snapshot_response_to_wire(r: &raft::FetchSnapshotResponse) -> FetchSnapshotResponse {
    FetchSnapshotResponse {
        error_code: r.error_code.code(),
        topics: vec![fs_resp::TopicSnapshot {
            name: METADATA_TOPIC.to_string(),
            partitions: vec![fs_resp::PartitionSnapshot {
                index: METADATA_PARTITION,
                error_code: r.partition_error_code.code(),
                snapshot_id: fs_resp::SnapshotId {
                    end_offset: r.snapshot_id.end_offset,
                    epoch: r.snapshot_id.epoch,
                    ..Default::default()
                },
                current_leader: fs_resp::LeaderIdAndEpoch {
                    leader_id: leader_to_wire(r.current_leader.0),
                    leader_epoch: r.current_leader.1,
                    ..Default::default()
                },
                size: r.size as i64,
                position: r.position as i64,
                unaligned_records: r.unaligned_records.clone(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A FetchSnapshot answer received.
pub fn fetch_snapshot_response_from_wire(
    resp: &FetchSnapshotResponse,
    request: &raft::FetchSnapshotRequest,
) -> Result<raft::FetchSnapshotResponse, WireError> {
    let error_code = known_error(resp.error_code, "FetchSnapshot")?;
    let p = resp
        .topics
        .iter()
        .find(|t| t.name == METADATA_TOPIC)
        .and_then(|t| t.partitions.iter().find(|p| p.index == METADATA_PARTITION));
    let Some(p) = p else {
        if error_code == raft::ErrorCode::NONE {
            return Err(WireError::Malformed(
                "FetchSnapshot answer without the metadata partition".to_string(),
            ));
        }
        return Ok(raft::FetchSnapshotResponse {
            error_code,
            partition_error_code: error_code,
            snapshot_id: request.snapshot_id,
            current_leader: (None, -1),
            size: 0,
            position: request.position,
            unaligned_records: Bytes::new(),
        });
    };
    if p.size < 0 || p.position < 0 {
        return Err(WireError::Malformed(
            "FetchSnapshot answer with a negative size or position".to_string(),
        ));
    }
    Ok(raft::FetchSnapshotResponse {
        error_code,
        partition_error_code: known_error(p.error_code, "FetchSnapshot partition")?,
        snapshot_id: SnapshotId {
            end_offset: p.snapshot_id.end_offset,
            epoch: p.snapshot_id.epoch,
        },
        current_leader: (
            leader_from_wire(p.current_leader.leader_id),
            p.current_leader.leader_epoch,
        ),
        size: p.size as u64,
        position: p.position as u64,
        unaligned_records: p.unaligned_records.clone(),
    })
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use vltava_protocol::Message as _;

    use super::*;

    /// Encodes `m` in `version` and decodes it back, as the wire would.
    fn through_wire<M: vltava_protocol::Message>(m: &M, version: i16) -> M {
        let mut buf = BytesMut::new();
        m.encode(&mut buf, version).expect("encode");
        let mut bytes = buf.freeze();
        let back = M::decode(&mut bytes, version).expect("decode");
        assert!(bytes.is_empty());
        back
    }

    #[test]
    fn vote_round_trips_in_every_version_that_can_carry_it() {
        for pre_vote in [false, true] {
            let r = raft::VoteRequest {
                cluster_id: "c".into(),
                voter_id: 3,
                voter_directory_id: [3; 16],
                candidate_directory_id: [2; 16],
                candidate_epoch: 7,
                candidate_id: 2,
                last_offset_epoch: 6,
                last_offset: 120,
                pre_vote,
            };
            for version in 0..=2 {
                let wire = match vote_request_to_wire(&r, version) {
                    Ok(w) => w,
                    Err(WireError::Version(_)) => {
                        assert!(pre_vote && version < 2);
                        continue;
                    }
                    Err(e) => panic!("{e}"),
                };
                let (from, back) =
                    vote_request_from_wire(&through_wire(&wire, version), version).expect("ours");
                assert_eq!(from, 2);
                let mut expected = r.clone();
                if version == 0 {
                    expected.voter_id = -1;
                    expected.voter_directory_id = [0; 16];
                    expected.candidate_directory_id = [0; 16];
                }
                assert_eq!(back, expected, "v{version}");
            }
        }
        let answer = raft::VoteResponse {
            error_code: raft::ErrorCode::NONE,
            partition_error_code: raft::ErrorCode::FENCED_LEADER_EPOCH,
            leader_id: Some(1),
            leader_epoch: 8,
            vote_granted: false,
            pre_vote: true,
        };
        let back = vote_response_from_wire(&through_wire(&vote_response_to_wire(&answer), 2), true)
            .expect("ours");
        assert_eq!(back, answer);
    }

    #[test]
    fn quorum_epoch_messages_round_trip() {
        let begin = raft::BeginQuorumEpochRequest {
            cluster_id: "c".into(),
            voter_id: 2,
            voter_directory_id: [2; 16],
            leader_id: 1,
            leader_epoch: 4,
        };
        for version in 0..=1 {
            let w = through_wire(
                &begin_quorum_epoch_request_to_wire(&begin, version),
                version,
            );
            let (from, back) = begin_quorum_epoch_request_from_wire(&w, version).expect("ours");
            assert_eq!(from, 1);
            assert_eq!(back.leader_epoch, 4);
            assert_eq!(back.voter_id, if version >= 1 { 2 } else { -1 });
            assert_eq!(
                back.voter_directory_id,
                if version >= 1 { [2; 16] } else { [0; 16] }
            );
        }
        let end = raft::EndQuorumEpochRequest {
            cluster_id: "c".into(),
            leader_id: 1,
            leader_epoch: 4,
            preferred_candidates: vec![3, 2],
        };
        for version in 0..=1 {
            let w = through_wire(&end_quorum_epoch_request_to_wire(&end, version), version);
            let (from, back) = end_quorum_epoch_request_from_wire(&w, version).expect("ours");
            assert_eq!((from, back), (1, end.clone()));
        }
        let answer = raft::QuorumEpochResponse {
            error_code: raft::ErrorCode::NONE,
            partition_error_code: raft::ErrorCode::NONE,
            leader_id: None,
            leader_epoch: 4,
        };
        let w = through_wire(&begin_quorum_epoch_response_to_wire(&answer), 1);
        assert_eq!(
            begin_quorum_epoch_response_from_wire(&w).expect("ours"),
            answer
        );
        let w = through_wire(&end_quorum_epoch_response_to_wire(&answer), 1);
        assert_eq!(
            end_quorum_epoch_response_from_wire(&w).expect("ours"),
            answer
        );
    }

    #[test]
    fn fetch_round_trips_and_picks_the_replica_id_field_by_version() {
        let r = raft::FetchRequest {
            cluster_id: "c".into(),
            replica_id: 2,
            replica_directory_id: [2; 16],
            current_leader_epoch: 5,
            fetch_offset: 40,
            last_fetched_epoch: 4,
            max_wait_ms: 500,
            max_bytes: 1 << 20,
        };
        for version in 12..=FetchRequest::VERSIONS.max {
            let w = through_wire(&fetch_request_to_wire(&r, version).expect("v12+"), version);
            assert!(is_metadata_fetch(&w, version));
            let (from, back) = fetch_request_from_wire(&w, version).expect("ours");
            let mut expected = r.clone();
            if version < 17 {
                expected.replica_directory_id = [0; 16];
            }
            assert_eq!((from, back), (2, expected), "v{version}");
        }
        assert!(fetch_request_to_wire(&r, 11).is_err());

        let batches = vec![
            raft::Batch {
                base_offset: 40,
                epoch: 5,
                record_count: 1,
                kind: raft::BatchKind::LeaderChange {
                    leader_id: 1,
                    voters: vec![1, 2, 3],
                },
                payload: Bytes::new(),
            },
            raft::Batch {
                base_offset: 41,
                epoch: 5,
                record_count: 2,
                kind: raft::BatchKind::Data,
                payload: batch_codec::data_payload(&[Bytes::from("x"), Bytes::from("y")], 1),
            },
        ];
        let answer = raft::FetchResponse {
            error_code: raft::ErrorCode::NONE,
            partition_error_code: raft::ErrorCode::NONE,
            high_watermark: 41,
            log_start_offset: 0,
            diverging_epoch: None,
            current_leader: (Some(1), 5),
            snapshot_id: None,
            records: batches,
        };
        for version in [12, 13, FetchRequest::VERSIONS.max] {
            let w = through_wire(&fetch_response_to_wire(&answer, version, 1), version);
            assert_eq!(fetch_response_from_wire(&w, &r).expect("ours"), answer);
        }
        let diverging = raft::FetchResponse {
            diverging_epoch: Some((4, 38)),
            records: Vec::new(),
            ..answer.clone()
        };
        let w = through_wire(&fetch_response_to_wire(&diverging, 13, 1), 13);
        assert_eq!(fetch_response_from_wire(&w, &r).expect("ours"), diverging);

        // Records that do not start at the fetch offset are refused.
        let elsewhere = raft::FetchRequest {
            fetch_offset: 39,
            ..r.clone()
        };
        let w = through_wire(&fetch_response_to_wire(&answer, 13, 1), 13);
        assert!(matches!(
            fetch_response_from_wire(&w, &elsewhere),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn fetch_snapshot_round_trips() {
        let r = raft::FetchSnapshotRequest {
            cluster_id: "c".into(),
            replica_id: 3,
            replica_directory_id: [3; 16],
            current_leader_epoch: 2,
            snapshot_id: SnapshotId {
                end_offset: 100,
                epoch: 2,
            },
            position: 4096,
            max_bytes: 1024,
        };
        let w = through_wire(&fetch_snapshot_request_to_wire(&r), 1);
        assert_eq!(
            fetch_snapshot_request_from_wire(&w).expect("ours"),
            (3, r.clone())
        );
        let answer = raft::FetchSnapshotResponse {
            error_code: raft::ErrorCode::NONE,
            partition_error_code: raft::ErrorCode::NONE,
            snapshot_id: r.snapshot_id,
            current_leader: (Some(1), 2),
            size: 10_000,
            position: 4096,
            unaligned_records: Bytes::from_static(b"chunk"),
        };
        let w = through_wire(&fetch_snapshot_response_to_wire(&answer), 1);
        assert_eq!(
            fetch_snapshot_response_from_wire(&w, &r).expect("ours"),
            answer
        );
    }

    #[test]
    fn requests_for_other_partitions_are_refused() {
        let mut w = vote_request_to_wire(
            &raft::VoteRequest {
                cluster_id: "c".into(),
                voter_id: 1,
                voter_directory_id: [0; 16],
                candidate_directory_id: [0; 16],
                candidate_epoch: 1,
                candidate_id: 2,
                last_offset_epoch: 0,
                last_offset: 0,
                pre_vote: false,
            },
            2,
        )
        .expect("v2");
        w.topics[0].partitions[0].partition_index = 1;
        assert_eq!(
            vote_request_from_wire(&w, 2),
            Err(WireError::WrongPartition(
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            ))
        );
        w.topics[0].topic_name = "other".into();
        assert!(vote_request_from_wire(&w, 2).is_err());
        w.topics.clear();
        assert_eq!(
            vote_request_from_wire(&w, 2),
            Err(WireError::WrongPartition(ErrorCode::INVALID_REQUEST))
        );
        // A consumer (replica id -1) may not fetch the metadata log.
        let mut f = fetch_request_to_wire(
            &raft::FetchRequest {
                cluster_id: "c".into(),
                replica_id: 1,
                replica_directory_id: [0; 16],
                current_leader_epoch: 1,
                fetch_offset: 0,
                last_fetched_epoch: 0,
                max_wait_ms: 0,
                max_bytes: 1,
            },
            13,
        )
        .expect("v13");
        f.replica_id = -1;
        assert!(fetch_request_from_wire(&f, 13).is_err());
    }
}
