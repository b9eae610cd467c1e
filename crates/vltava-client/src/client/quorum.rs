//! The KRaft metadata quorum, as Kafka's `kafka-metadata-quorum.sh` shows
//! and changes it: DescribeQuorum (KIP-595; fetch times in v1, endpoints in
//! v2) and KIP-853's AddRaftVoter / RemoveRaftVoter.
//!
//! Only the quorum leader describes the quorum or changes its voters. A
//! Vltava node that does not lead relays DescribeQuorum to the leader (as
//! Kafka's brokers forward it to the active controller); one that cannot
//! answers NOT_LEADER_OR_FOLLOWER with the leader's id, so the client asks
//! any broker first and follows that id (found in the brokers of the
//! cluster metadata). Voter changes go to the leader found that way.

use std::collections::BTreeMap;

use tracing::debug;
use vltava_protocol::messages::{
    add_raft_voter_request, describe_quorum_request, describe_quorum_response, AddRaftVoterRequest,
    DescribeQuorumRequest, DescribeQuorumResponse, RemoveRaftVoterRequest,
};
use vltava_protocol::{ApiKey, ErrorCode, Uuid};

use super::{millis_i32, nonempty, retriable, Client};
use crate::error::{Error, Result};
use crate::types::{QuorumDescription, QuorumEndpoint, QuorumReplica};

/// The one partition that has a quorum.
const METADATA_TOPIC: &str = "__cluster_metadata";
const METADATA_PARTITION: i32 = 0;

/// What one node said to DescribeQuorum.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Described {
    /// It leads: here is the quorum.
    Quorum(QuorumDescription),
    /// It does not lead; the leader it knows of (-1: none).
    LeaderIs(i32),
}

/// -1 is Kafka's "unknown" for the timestamps.
fn known(t: i64) -> Option<i64> {
    (t >= 0).then_some(t)
}

fn replicas(states: Vec<describe_quorum_response::ReplicaState>) -> Vec<QuorumReplica> {
    let mut out: Vec<QuorumReplica> = states
        .into_iter()
        .map(|r| QuorumReplica {
            replica_id: r.replica_id,
            directory_id: r.replica_directory_id,
            log_end_offset: r.log_end_offset,
            last_fetch_timestamp: known(r.last_fetch_timestamp),
            last_caught_up_timestamp: known(r.last_caught_up_timestamp),
        })
        .collect();
    out.sort_by_key(|r| r.replica_id);
    out
}

/// Reads a DescribeQuorum answer.
fn read_describe_quorum(resp: DescribeQuorumResponse) -> Result<Described> {
    let code = ErrorCode(resp.error_code);
    if code.is_error() {
        return Err(Error::broker(
            code,
            nonempty(resp.error_message),
            "describe the metadata quorum",
        ));
    }
    let partition = resp
        .topics
        .into_iter()
        .filter(|t| t.topic_name == METADATA_TOPIC)
        .flat_map(|t| t.partitions)
        .find(|p| p.partition_index == METADATA_PARTITION)
        .ok_or_else(|| {
            Error::Protocol(format!(
                "DescribeQuorum answer leaves out {METADATA_TOPIC}-{METADATA_PARTITION}"
            ))
        })?;
    let code = ErrorCode(partition.error_code);
    if code == ErrorCode::NOT_LEADER_OR_FOLLOWER {
        return Ok(Described::LeaderIs(partition.leader_id));
    }
    if code.is_error() {
        return Err(Error::broker(
            code,
            nonempty(partition.error_message),
            "describe the metadata quorum",
        ));
    }
    let endpoints = resp
        .nodes
        .into_iter()
        .map(|n| {
            let listeners = n
                .listeners
                .into_iter()
                .map(|l| QuorumEndpoint {
                    name: l.name,
                    host: l.host,
                    port: l.port,
                })
                .collect();
            (n.node_id, listeners)
        })
        .collect::<BTreeMap<_, _>>();
    Ok(Described::Quorum(QuorumDescription {
        leader_id: partition.leader_id,
        leader_epoch: partition.leader_epoch,
        high_watermark: partition.high_watermark,
        voters: replicas(partition.current_voters),
        observers: replicas(partition.observers),
        endpoints,
    }))
}

fn describe_quorum_request() -> DescribeQuorumRequest {
    DescribeQuorumRequest {
        topics: vec![describe_quorum_request::TopicData {
            topic_name: METADATA_TOPIC.to_string(),
            partitions: vec![describe_quorum_request::PartitionData {
                partition_index: METADATA_PARTITION,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

impl Client {
    /// The metadata quorum as its leader describes it: asks any broker and
    /// follows NOT_LEADER_OR_FOLLOWER to the leader it names; retries while
    /// there is no leader (an election), `retries` times.
    pub async fn describe_quorum(&mut self) -> Result<QuorumDescription> {
        let mut attempt = 0;
        let mut target = None;
        loop {
            let result = self.describe_quorum_on(target).await;
            let err = match result {
                Ok(Described::Quorum(q)) => return Ok(q),
                // Straight to the leader named, no pause: it is not an
                // error, just the wrong door. `attempt` still bounds the
                // hops, should leadership keep moving.
                Ok(Described::LeaderIs(leader)) if leader >= 0 && target != Some(leader) => {
                    debug!(leader, "following DescribeQuorum to the quorum leader");
                    target = Some(leader);
                    if attempt >= self.config.retries {
                        return Err(no_leader(Some(leader)));
                    }
                    attempt += 1;
                    continue;
                }
                Ok(Described::LeaderIs(leader)) => no_leader((leader >= 0).then_some(leader)),
                Err(e) => e,
            };
            if attempt >= self.config.retries || !(quorum_retriable(&err) || retriable(&err, true))
            {
                return Err(err);
            }
            debug!(attempt, error = %err, "retrying DescribeQuorum");
            attempt += 1;
            target = None;
            tokio::time::sleep(self.config.retry_backoff).await;
        }
    }

    /// DescribeQuorum to `node`, or to any broker.
    async fn describe_quorum_on(&mut self, node: Option<i32>) -> Result<Described> {
        let key = match node {
            Some(node) => self.node_connection(node).await?,
            None => self.any_connection().await?,
        };
        let conn = self.conn_mut(key);
        let version = conn.negotiated_version(ApiKey::DescribeQuorum)?;
        let resp = conn
            .send_version(&describe_quorum_request(), version)
            .await?;
        read_describe_quorum(resp)
    }

    /// A connection to `node`, learning its address from a metadata
    /// refresh if the cached brokers do not list it.
    async fn node_connection(&mut self, node: i32) -> Result<i32> {
        if !self.brokers.contains_key(&node) {
            self.metadata(Some(&[])).await?;
        }
        if !self.brokers.contains_key(&node) {
            // A controller-only node, or a fenced broker: Metadata lists
            // neither, and nothing else tells a client its address.
            return Err(Error::Invalid(format!(
                "node {node} leads the metadata quorum but is not among the brokers the \
                 cluster metadata lists (a controller-only or fenced node); bootstrap from it \
                 directly"
            )));
        }
        self.connection(node).await?;
        Ok(node)
    }

    /// KIP-853 AddRaftVoter: makes `voter_id`, which must already fetch the
    /// metadata log as an observer and have caught up, a voter reached at
    /// `endpoints`. Returns once the new voter set is committed. A node
    /// that has not caught up yet is refused with REQUEST_TIMED_OUT, and so
    /// is a change while another is uncommitted: retry those.
    pub async fn add_raft_voter(
        &mut self,
        voter_id: i32,
        directory_id: Uuid,
        endpoints: &[QuorumEndpoint],
    ) -> Result<()> {
        // Leave the leader room to answer "timed out" before our own
        // request timeout gives up on the connection.
        let timeout_ms = millis_i32(self.config.connection.request_timeout) / 5 * 4;
        let request = AddRaftVoterRequest {
            cluster_id: self.cluster_id.clone(),
            timeout_ms,
            voter_id,
            voter_directory_id: directory_id,
            listeners: endpoints
                .iter()
                .map(|e| add_raft_voter_request::Listener {
                    name: e.name.clone(),
                    host: e.host.clone(),
                    port: e.port,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let context = format!("add node {voter_id} to the metadata quorum's voters");
        self.on_quorum_leader(&context, async |client, leader| {
            let conn = client.conn_mut(leader);
            let version = conn.negotiated_version(ApiKey::AddRaftVoter)?;
            let resp = conn.send_version(&request, version).await?;
            Ok((resp.error_code, resp.error_message))
        })
        .await
    }

    /// KIP-853 RemoveRaftVoter: `voter_id` stops voting (it may go on
    /// fetching as an observer). Returns once committed.
    pub async fn remove_raft_voter(&mut self, voter_id: i32, directory_id: Uuid) -> Result<()> {
        let request = RemoveRaftVoterRequest {
            cluster_id: self.cluster_id.clone(),
            voter_id,
            voter_directory_id: directory_id,
            ..Default::default()
        };
        let context = format!("remove node {voter_id} from the metadata quorum's voters");
        self.on_quorum_leader(&context, async |client, leader| {
            let conn = client.conn_mut(leader);
            let version = conn.negotiated_version(ApiKey::RemoveRaftVoter)?;
            let resp = conn.send_version(&request, version).await?;
            Ok((resp.error_code, resp.error_message))
        })
        .await
    }

    /// Runs `send` (a request answered with an error code and message) on
    /// the quorum leader, finding the leader again when the answer says it
    /// moved.
    async fn on_quorum_leader(
        &mut self,
        context: &str,
        mut send: impl AsyncFnMut(&mut Self, i32) -> Result<(i16, Option<String>)>,
    ) -> Result<()> {
        let mut attempt = 0;
        loop {
            let leader = self.describe_quorum().await?.leader_id;
            let sent = match self.node_connection(leader).await {
                Ok(key) => send(self, key).await,
                Err(e) => Err(e),
            };
            let err = match sent {
                Ok((0, _)) => return Ok(()),
                Ok((code, message)) => Error::broker(ErrorCode(code), nonempty(message), context),
                Err(e) => e,
            };
            // Only a moved leader (or a lost connection before anything was
            // sent) is retried here: a refusal such as "not caught up" is
            // the caller's to judge.
            let moved = err.code() == Some(ErrorCode::NOT_LEADER_OR_FOLLOWER)
                || matches!(err, Error::Connect { .. });
            if !moved || attempt >= self.config.retries {
                return Err(err);
            }
            debug!(attempt, error = %err, "quorum leader moved; retrying");
            attempt += 1;
            tokio::time::sleep(self.config.retry_backoff).await;
        }
    }
}

/// Errors of DescribeQuorum that an election explains.
fn quorum_retriable(err: &Error) -> bool {
    matches!(
        err.code(),
        Some(ErrorCode::NOT_LEADER_OR_FOLLOWER) | Some(ErrorCode::BROKER_NOT_AVAILABLE)
    )
}

fn no_leader(leader: Option<i32>) -> Error {
    Error::broker(
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        Some(match leader {
            Some(l) => format!("node {l} was named as the quorum leader but does not lead"),
            None => "the metadata quorum has no leader".to_string(),
        }),
        "describe the metadata quorum",
    )
}

#[cfg(test)]
mod tests {
    use vltava_protocol::messages::describe_quorum_response::{
        Listener, Node, PartitionData, ReplicaState, TopicData,
    };

    use super::*;

    fn state(id: i32, leo: i64, fetched: i64) -> ReplicaState {
        ReplicaState {
            replica_id: id,
            log_end_offset: leo,
            last_fetch_timestamp: fetched,
            last_caught_up_timestamp: fetched,
            ..Default::default()
        }
    }

    fn answer(partition: PartitionData) -> DescribeQuorumResponse {
        DescribeQuorumResponse {
            topics: vec![TopicData {
                topic_name: METADATA_TOPIC.into(),
                partitions: vec![partition],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_leader_answer_becomes_the_description() {
        let mut resp = answer(PartitionData {
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 100,
            current_voters: vec![state(3, 90, 1_000), state(2, 100, 2_000), state(1, -1, -1)],
            observers: vec![state(4, 100, 1_500)],
            ..Default::default()
        });
        resp.nodes = vec![Node {
            node_id: 2,
            listeners: vec![Listener {
                name: "CONTROLLER".into(),
                host: "h2".into(),
                port: 9093,
                ..Default::default()
            }],
            ..Default::default()
        }];
        let Described::Quorum(q) = read_describe_quorum(resp).unwrap() else {
            panic!("not a description")
        };
        assert_eq!((q.leader_id, q.leader_epoch, q.high_watermark), (2, 7, 100));
        let ids: Vec<i32> = q.voters.iter().map(|v| v.replica_id).collect();
        assert_eq!(ids, [1, 2, 3], "sorted by id");
        assert_eq!(q.voters[0].last_fetch_timestamp, None, "-1 is unknown");
        assert_eq!(q.voters[0].lag(q.high_watermark), None);
        assert_eq!(q.voters[2].lag(q.high_watermark), Some(10));
        assert_eq!(q.voters[2].last_caught_up_timestamp, Some(1_000));
        assert_eq!(q.observers[0].replica_id, 4);
        assert_eq!(q.endpoints[&2][0].port, 9093);
    }

    #[test]
    fn lag_is_never_negative() {
        let r = QuorumReplica {
            replica_id: 1,
            directory_id: Uuid::ZERO,
            log_end_offset: 105,
            last_fetch_timestamp: None,
            last_caught_up_timestamp: None,
        };
        assert_eq!(r.lag(100), Some(0));
        assert_eq!(r.lag(110), Some(5));
    }

    #[test]
    fn a_non_leader_names_the_leader() {
        let resp = answer(PartitionData {
            error_code: ErrorCode::NOT_LEADER_OR_FOLLOWER.0,
            leader_id: 3,
            ..Default::default()
        });
        assert_eq!(read_describe_quorum(resp).unwrap(), Described::LeaderIs(3));
    }

    #[test]
    fn errors_are_reported() {
        let resp = DescribeQuorumResponse {
            error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0,
            error_message: Some("only __cluster_metadata-0 has a quorum".into()),
            ..Default::default()
        };
        let err = read_describe_quorum(resp).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
        assert!(err.to_string().contains("only __cluster_metadata-0"));

        let resp = answer(PartitionData {
            error_code: ErrorCode::BROKER_NOT_AVAILABLE.0,
            ..Default::default()
        });
        assert_eq!(
            read_describe_quorum(resp).unwrap_err().code(),
            Some(ErrorCode::BROKER_NOT_AVAILABLE)
        );
        // An answer about some other partition is a protocol error.
        let resp = DescribeQuorumResponse::default();
        assert!(matches!(
            read_describe_quorum(resp),
            Err(Error::Protocol(_))
        ));
    }
}
