//! Answers the KRaft requests a node's listener receives: Vote,
//! BeginQuorumEpoch, EndQuorumEpoch, FetchSnapshot, a replica's Fetch of
//! `__cluster_metadata-0`, and DescribeQuorum. The broker's connection
//! layer hands such requests here and sends back what comes out.

use std::time::Duration;

use vltava_protocol::messages::{
    describe_quorum_response as dq, BeginQuorumEpochResponse, DescribeQuorumResponse,
    EndQuorumEpochResponse, FetchResponse, FetchSnapshotResponse, RequestBody, ResponseBody,
    VoteResponse,
};
use vltava_protocol::ErrorCode;
use vltava_raft::Message;

use crate::driver::{wall_clock_ms, Quorum, QuorumDescription};
use crate::wire::{self, WireError};

/// Whether `body` is a request this module answers.
pub fn is_quorum_request(body: &RequestBody, version: i16) -> bool {
    match body {
        RequestBody::Vote(_)
        | RequestBody::BeginQuorumEpoch(_)
        | RequestBody::EndQuorumEpoch(_)
        | RequestBody::FetchSnapshot(_)
        | RequestBody::DescribeQuorum(_) => true,
        RequestBody::Fetch(f) => wire::is_metadata_fetch(f, version),
        _ => false,
    }
}

/// The answer to a KRaft request (see [`is_quorum_request`]); `None` for
/// any other request. `wait` bounds how long a request may be held (a
/// parked Fetch is answered by the leader within its own max wait).
pub async fn answer(
    quorum: &Quorum,
    body: &RequestBody,
    version: i16,
    wait: Duration,
) -> Option<ResponseBody> {
    let error = |e: WireError| match e {
        WireError::WrongPartition(code) => code,
        _ => ErrorCode::INVALID_REQUEST,
    };
    Some(match body {
        RequestBody::Vote(req) => {
            ResponseBody::Vote(match wire::vote_request_from_wire(req, version) {
                Ok((from, r)) => match quorum
                    .handle_request(from, Message::VoteRequest(r), wait)
                    .await
                {
                    Some(Message::VoteResponse(r)) => wire::vote_response_to_wire(&r),
                    _ => VoteResponse {
                        error_code: ErrorCode::BROKER_NOT_AVAILABLE.0,
                        ..Default::default()
                    },
                },
                Err(e) => VoteResponse {
                    error_code: error(e).0,
                    ..Default::default()
                },
            })
        }
        RequestBody::BeginQuorumEpoch(req) => ResponseBody::BeginQuorumEpoch(
            match wire::begin_quorum_epoch_request_from_wire(req, version) {
                Ok((from, r)) => match quorum
                    .handle_request(from, Message::BeginQuorumEpochRequest(r), wait)
                    .await
                {
                    Some(Message::BeginQuorumEpochResponse(r)) => {
                        wire::begin_quorum_epoch_response_to_wire(&r)
                    }
                    _ => BeginQuorumEpochResponse {
                        error_code: ErrorCode::BROKER_NOT_AVAILABLE.0,
                        ..Default::default()
                    },
                },
                Err(e) => BeginQuorumEpochResponse {
                    error_code: error(e).0,
                    ..Default::default()
                },
            },
        ),
        RequestBody::EndQuorumEpoch(req) => ResponseBody::EndQuorumEpoch(
            match wire::end_quorum_epoch_request_from_wire(req, version) {
                Ok((from, r)) => match quorum
                    .handle_request(from, Message::EndQuorumEpochRequest(r), wait)
                    .await
                {
                    Some(Message::EndQuorumEpochResponse(r)) => {
                        wire::end_quorum_epoch_response_to_wire(&r)
                    }
                    _ => EndQuorumEpochResponse {
                        error_code: ErrorCode::BROKER_NOT_AVAILABLE.0,
                        ..Default::default()
                    },
                },
                Err(e) => EndQuorumEpochResponse {
                    error_code: error(e).0,
                    ..Default::default()
                },
            },
        ),
        RequestBody::FetchSnapshot(req) => {
            ResponseBody::FetchSnapshot(match wire::fetch_snapshot_request_from_wire(req) {
                Ok((from, r)) => match quorum
                    .handle_request(from, Message::FetchSnapshotRequest(r), wait)
                    .await
                {
                    Some(Message::FetchSnapshotResponse(r)) => {
                        wire::fetch_snapshot_response_to_wire(&r)
                    }
                    _ => FetchSnapshotResponse {
                        error_code: ErrorCode::BROKER_NOT_AVAILABLE.0,
                        ..Default::default()
                    },
                },
                Err(e) => FetchSnapshotResponse {
                    error_code: error(e).0,
                    ..Default::default()
                },
            })
        }
        RequestBody::Fetch(req) if wire::is_metadata_fetch(req, version) => {
            ResponseBody::Fetch(match wire::fetch_request_from_wire(req, version) {
                Ok((from, r)) => {
                    // The leader parks an empty fetch for the request's
                    // max wait; allow that on top of `wait`.
                    let wait = wait + Duration::from_millis(r.max_wait_ms.into());
                    match quorum
                        .handle_request(from, Message::FetchRequest(r), wait)
                        .await
                    {
                        Some(Message::FetchResponse(r)) => {
                            let leader = r.current_leader.0;
                            let mut resp =
                                wire::fetch_response_to_wire(&r, version, wall_clock_ms());
                            // Where the leader is reached, so a replica
                            // that asked a bootstrap server (or any
                            // non-leader) can dial it (KIP-853, KIP-951).
                            if let Some((leader, address)) = leader
                                .and_then(|l| Some((l, quorum.address_of(l)?)))
                                .filter(|_| version >= 16)
                            {
                                if let Some((host, port)) = crate::driver::split_host_port(&address)
                                {
                                    wire::add_fetch_leader_endpoint(&mut resp, leader, host, port);
                                }
                            }
                            resp
                        }
                        _ => FetchResponse {
                            error_code: ErrorCode::BROKER_NOT_AVAILABLE.0,
                            ..Default::default()
                        },
                    }
                }
                Err(e) => FetchResponse {
                    error_code: error(e).0,
                    ..Default::default()
                },
            })
        }
        RequestBody::DescribeQuorum(req) => {
            let names_ours = req.topics.iter().all(|t| {
                t.topic_name == wire::METADATA_TOPIC
                    && t.partitions
                        .iter()
                        .all(|p| p.partition_index == wire::METADATA_PARTITION)
            });
            ResponseBody::DescribeQuorum(if !names_ours || req.topics.is_empty() {
                DescribeQuorumResponse {
                    error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
                    error_message: Some(format!(
                        "only {}-{} has a quorum",
                        wire::METADATA_TOPIC,
                        wire::METADATA_PARTITION
                    )),
                    ..Default::default()
                }
            } else {
                match quorum.describe().await {
                    Ok(Some(d)) => describe_quorum_response(&d, version),
                    Ok(None) => {
                        let status = quorum.status().borrow().clone();
                        let mut resp = DescribeQuorumResponse::default();
                        resp.topics.push(dq::TopicData {
                            topic_name: wire::METADATA_TOPIC.to_string(),
                            partitions: vec![dq::PartitionData {
                                partition_index: wire::METADATA_PARTITION,
                                error_code: ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
                                error_message: Some(match status.leader {
                                    Some(l) => format!("node {l} leads the metadata quorum"),
                                    None => "the metadata quorum has no leader".to_string(),
                                }),
                                leader_id: status.leader.unwrap_or(-1),
                                leader_epoch: status.epoch,
                                high_watermark: status.high_watermark,
                                ..Default::default()
                            }],
                            ..Default::default()
                        });
                        resp
                    }
                    Err(e) => DescribeQuorumResponse {
                        error_code: ErrorCode::BROKER_NOT_AVAILABLE.0,
                        error_message: Some(e.to_string()),
                        ..Default::default()
                    },
                }
            })
        }
        _ => return None,
    })
}

/// DescribeQuorum's answer from the leader's view, in `version` (fetch
/// times arrived in v1, node endpoints in v2).
pub fn describe_quorum_response(d: &QuorumDescription, version: i16) -> DescribeQuorumResponse {
    let wall = |t: Option<u64>| match t {
        Some(t) if version >= 1 => d.wall_clock_at_start_ms + t as i64,
        _ => -1,
    };
    let now = wall_clock_ms();
    let replica = |r: &vltava_raft::ReplicaInfo| {
        // The leader does not fetch from itself; like Kafka, report it as
        // having fetched and caught up just now.
        let (fetched, caught_up) = if r.replica_id == d.info.leader_id && version >= 1 {
            (now, now)
        } else {
            (wall(r.last_fetch_ms), wall(r.last_caught_up_ms))
        };
        dq::ReplicaState {
            replica_id: r.replica_id,
            replica_directory_id: vltava_protocol::Uuid(r.directory_id),
            log_end_offset: r.log_end_offset,
            last_fetch_timestamp: fetched,
            last_caught_up_timestamp: caught_up,
            ..Default::default()
        }
    };
    // Endpoints of the current voters only: the address book also keeps
    // removed voters (they may come back) and is not the voter set. A voter
    // the log names with endpoints is reported with all of them; a static
    // one with the address it is dialled at.
    let nodes = d
        .info
        .current_voters
        .iter()
        .filter(|_| version >= 2)
        .filter_map(|r| {
            let id = r.replica_id;
            let listeners: Vec<dq::Listener> = match d.voters.iter().find(|v| v.id == id) {
                Some(v) if !v.endpoints.is_empty() => v
                    .endpoints
                    .iter()
                    .map(|e| dq::Listener {
                        name: e.name.clone(),
                        host: e.host.clone(),
                        port: e.port,
                        ..Default::default()
                    })
                    .collect(),
                _ => {
                    let (host, port) = crate::driver::split_host_port(d.voter_addresses.get(&id)?)?;
                    vec![dq::Listener {
                        name: "CONTROLLER".to_string(),
                        host: host.to_string(),
                        port,
                        ..Default::default()
                    }]
                }
            };
            Some(dq::Node {
                node_id: id,
                listeners,
                ..Default::default()
            })
        })
        .collect();
    DescribeQuorumResponse {
        topics: vec![dq::TopicData {
            topic_name: wire::METADATA_TOPIC.to_string(),
            partitions: vec![dq::PartitionData {
                partition_index: wire::METADATA_PARTITION,
                leader_id: d.info.leader_id,
                leader_epoch: d.info.leader_epoch,
                high_watermark: d.info.high_watermark,
                current_voters: d.info.current_voters.iter().map(replica).collect(),
                observers: d.info.observers.iter().map(replica).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        nodes,
        ..Default::default()
    }
}
