//! KIP-853's voter changes of the metadata quorum: AddRaftVoter and
//! RemoveRaftVoter. Only the quorum leader changes the voter set; it appends
//! a VotersRecord and answers once that record commits. A node that does
//! not lead relays both requests to the leader (`ControllerChannel::forward`),
//! as Kafka's brokers forward them to the active controller: Kafka's Admin
//! client sends them to any broker. Only when the relay fails does the node
//! answer here, NOT_LEADER_OR_FOLLOWER naming the leader.
//!
//! A voter is its node id and directory id, as in Kafka: the new voter's
//! directory id and every listener it names go into the VotersRecord, so
//! each replica learns from the log where it is reached, and RemoveRaftVoter
//! must name the directory id the voter was added with (all zeros for a
//! static voter from `controller.quorum.voters`).

use std::time::Duration;

use vltava_protocol::messages::{
    update_raft_voter_response, AddRaftVoterRequest, AddRaftVoterResponse, RemoveRaftVoterRequest,
    RemoveRaftVoterResponse, UpdateRaftVoterRequest, UpdateRaftVoterResponse,
};
use vltava_protocol::{ErrorCode, ResponseBody};
use vltava_quorum::driver::{split_host_port, QuorumError};
use vltava_raft::{Endpoint, Voter, VoterChangeError};

use crate::broker::Broker;

/// Used when a request asks for no time (or a negative one): a change
/// takes one commit, well below this on a healthy quorum.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The error code and message a refused or failed change is answered with.
fn refusal(voter: i32, e: &QuorumError) -> (ErrorCode, String) {
    let leader = |l: &Option<i32>| match l {
        Some(l) => format!("node {l} leads the metadata quorum"),
        None => "the metadata quorum has no leader".to_string(),
    };
    match e {
        QuorumError::NotLeader(l) | QuorumError::VoterChange(VoterChangeError::NotLeader(l)) => {
            (ErrorCode::NOT_LEADER_OR_FOLLOWER, leader(l))
        }
        QuorumError::VoterChange(v) => {
            let message = match v {
                VoterChangeError::ChangeInProgress => {
                    "an earlier voter change is not committed yet, or the leader has not \
                     committed in its epoch yet; retry"
                        .to_string()
                }
                VoterChangeError::NotCaughtUp => format!(
                    "node {voter} has not caught up: it must fetch the metadata log as an \
                     observer up to the high watermark first"
                ),
                VoterChangeError::DuplicateVoter => format!("node {voter} is already a voter"),
                VoterChangeError::VoterNotFound => format!("node {voter} is not a voter"),
                VoterChangeError::WrongDirectory => format!(
                    "node {voter} fetches with another directory id than the one given: \
                     its metadata directory's meta.properties names the right one"
                ),
                VoterChangeError::LastVoter => {
                    format!("node {voter} is the last voter and cannot be removed")
                }
                VoterChangeError::NotLeader(_) => unreachable!("matched above"),
            };
            (ErrorCode(v.error_code().code()), message)
        }
        // The VotersRecord was truncated away: leadership moved before it
        // committed, so the change should be asked of the new leader.
        QuorumError::Lost => (
            ErrorCode::NOT_LEADER_OR_FOLLOWER,
            "leadership changed before the voter change committed".to_string(),
        ),
        QuorumError::Stopped => (ErrorCode::BROKER_NOT_AVAILABLE, e.to_string()),
    }
}

/// The voter an AddRaftVoter or UpdateRaftVoter names: its id, directory
/// id and listeners (names upper-cased, as the config's are).
fn voter_of<'a>(
    id: i32,
    directory_id: vltava_protocol::Uuid,
    listeners: impl Iterator<Item = (&'a String, &'a String, u16)>,
) -> Voter {
    Voter {
        id,
        directory_id: directory_id.0,
        endpoints: listeners
            .map(|(name, host, port)| Endpoint {
                name: name.to_ascii_uppercase(),
                host: host.clone(),
                port,
            })
            .collect(),
    }
}

fn timeout_of(ms: i32) -> Duration {
    if ms > 0 {
        Duration::from_millis(ms as u64)
    } else {
        DEFAULT_TIMEOUT
    }
}

fn wrong_cluster(broker: &Broker, cluster_id: &Option<String>) -> Option<String> {
    match cluster_id {
        Some(id) if *id != broker.cluster_id => Some(format!(
            "cluster id {id} is not this cluster's ({})",
            broker.cluster_id
        )),
        _ => None,
    }
}

pub async fn add_raft_voter(broker: &Broker, r: AddRaftVoterRequest) -> ResponseBody {
    let answer = |code: ErrorCode, message: Option<String>| {
        ResponseBody::AddRaftVoter(AddRaftVoterResponse {
            error_code: code.0,
            error_message: message,
            ..Default::default()
        })
    };
    if let Some(m) = wrong_cluster(broker, &r.cluster_id) {
        return answer(ErrorCode::INCONSISTENT_CLUSTER_ID, Some(m));
    }
    if r.voter_id < 0 {
        return answer(
            ErrorCode::INVALID_REQUEST,
            Some(format!("{} is not a node id", r.voter_id)),
        );
    }
    if r.listeners.is_empty() {
        return answer(
            ErrorCode::INVALID_REQUEST,
            Some("the new voter needs at least one listener endpoint".to_string()),
        );
    }
    if let Some(listener) = r
        .listeners
        .iter()
        .find(|l| l.host.is_empty() || l.port == 0)
    {
        return answer(
            ErrorCode::INVALID_REQUEST,
            Some(format!(
                "listener {} has no usable host and port",
                listener.name
            )),
        );
    }
    let voter = voter_of(
        r.voter_id,
        r.voter_directory_id,
        r.listeners.iter().map(|l| (&l.name, &l.host, l.port)),
    );
    let change = broker.controller.quorum().add_voter(voter);
    match tokio::time::timeout(timeout_of(r.timeout_ms), change).await {
        Ok(Ok(_)) => answer(ErrorCode::NONE, None),
        Ok(Err(e)) => {
            let (code, message) = refusal(r.voter_id, &e);
            answer(code, Some(message))
        }
        Err(_) => answer(
            ErrorCode::REQUEST_TIMED_OUT,
            Some(format!(
                "adding node {} did not commit in time; it may still",
                r.voter_id
            )),
        ),
    }
}

pub async fn remove_raft_voter(broker: &Broker, r: RemoveRaftVoterRequest) -> ResponseBody {
    let answer = |code: ErrorCode, message: Option<String>| {
        ResponseBody::RemoveRaftVoter(RemoveRaftVoterResponse {
            error_code: code.0,
            error_message: message,
            ..Default::default()
        })
    };
    if let Some(m) = wrong_cluster(broker, &r.cluster_id) {
        return answer(ErrorCode::INCONSISTENT_CLUSTER_ID, Some(m));
    }
    // The request has no timeout field; a bound keeps a stalled quorum
    // from holding the connection forever.
    let change = broker
        .controller
        .quorum()
        .remove_voter(r.voter_id, r.voter_directory_id.0);
    match tokio::time::timeout(DEFAULT_TIMEOUT, change).await {
        Ok(Ok(_)) => answer(ErrorCode::NONE, None),
        Ok(Err(e)) => {
            let (code, message) = refusal(r.voter_id, &e);
            answer(code, Some(message))
        }
        Err(_) => answer(
            ErrorCode::REQUEST_TIMED_OUT,
            Some(format!(
                "removing node {} did not commit in time; it may still",
                r.voter_id
            )),
        ),
    }
}

/// UpdateRaftVoter (KIP-853): a voter, named by id and directory id, takes
/// requests at the listeners it names now. Only voters send it, to the
/// leader they know (a ClusterAction RPC); the answer names the leader
/// and its endpoint, so a voter that asked another node can try there.
pub async fn update_raft_voter(broker: &Broker, r: UpdateRaftVoterRequest) -> ResponseBody {
    let quorum = broker.controller.quorum();
    let status = quorum.status().borrow().clone();
    let answer = |code: ErrorCode| {
        let mut current_leader = update_raft_voter_response::CurrentLeader {
            leader_id: status.leader.unwrap_or(-1),
            leader_epoch: status.epoch,
            ..Default::default()
        };
        if let Some(address) = status.leader.and_then(|l| quorum.address_of(l)) {
            if let Some((host, port)) = split_host_port(&address) {
                current_leader.host = host.to_string();
                current_leader.port = i32::from(port);
            }
        }
        ResponseBody::UpdateRaftVoter(UpdateRaftVoterResponse {
            error_code: code.0,
            current_leader,
            ..Default::default()
        })
    };
    if wrong_cluster(broker, &r.cluster_id).is_some() {
        return answer(ErrorCode::INCONSISTENT_CLUSTER_ID);
    }
    if r.current_leader_epoch >= 0 && r.current_leader_epoch < status.epoch {
        return answer(ErrorCode::FENCED_LEADER_EPOCH);
    }
    if r.current_leader_epoch > status.epoch {
        return answer(ErrorCode::UNKNOWN_LEADER_EPOCH);
    }
    if r.voter_id < 0
        || r.listeners.is_empty()
        || r.listeners.iter().any(|l| l.host.is_empty() || l.port == 0)
    {
        return answer(ErrorCode::INVALID_REQUEST);
    }
    let voter = voter_of(
        r.voter_id,
        r.voter_directory_id,
        r.listeners.iter().map(|l| (&l.name, &l.host, l.port)),
    );
    match tokio::time::timeout(DEFAULT_TIMEOUT, quorum.update_voter(voter)).await {
        Ok(Ok(_)) => answer(ErrorCode::NONE),
        Ok(Err(e)) => answer(refusal(r.voter_id, &e).0),
        Err(_) => answer(ErrorCode::REQUEST_TIMED_OUT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_kafka_codes() {
        let code = |e: QuorumError| refusal(4, &e).0;
        assert_eq!(
            code(QuorumError::NotLeader(Some(2))),
            ErrorCode::NOT_LEADER_OR_FOLLOWER
        );
        assert_eq!(
            code(QuorumError::VoterChange(VoterChangeError::NotLeader(None))),
            ErrorCode::NOT_LEADER_OR_FOLLOWER
        );
        assert_eq!(
            code(QuorumError::VoterChange(VoterChangeError::DuplicateVoter)),
            ErrorCode::DUPLICATE_VOTER
        );
        assert_eq!(
            code(QuorumError::VoterChange(VoterChangeError::VoterNotFound)),
            ErrorCode::VOTER_NOT_FOUND
        );
        assert_eq!(
            code(QuorumError::VoterChange(VoterChangeError::LastVoter)),
            ErrorCode::VOTER_NOT_FOUND
        );
        assert_eq!(
            code(QuorumError::VoterChange(VoterChangeError::NotCaughtUp)),
            ErrorCode::REQUEST_TIMED_OUT
        );
        assert_eq!(code(QuorumError::Lost), ErrorCode::NOT_LEADER_OR_FOLLOWER);
        assert_eq!(code(QuorumError::Stopped), ErrorCode::BROKER_NOT_AVAILABLE);
        assert!(refusal(4, &QuorumError::NotLeader(Some(2)))
            .1
            .contains("node 2 leads"));
        assert!(
            refusal(4, &QuorumError::VoterChange(VoterChangeError::NotCaughtUp))
                .1
                .contains("node 4 has not caught up")
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(timeout_of(0), DEFAULT_TIMEOUT);
        assert_eq!(timeout_of(-1), DEFAULT_TIMEOUT);
        assert_eq!(timeout_of(1500), Duration::from_millis(1500));
    }
}
