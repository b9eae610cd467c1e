//! The metadata-quorum requests against two in-process fake nodes: node 1
//! does not lead and answers DescribeQuorum with NOT_LEADER_OR_FOLLOWER
//! naming node 2, which leads. The client must follow that to node 2 and
//! send AddRaftVoter / RemoveRaftVoter there.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vltava_client::{Client, ClientConfig, ErrorCode, QuorumEndpoint};
use vltava_protocol::header::{decode_request, encode_response, split_frame};
use vltava_protocol::messages::api_versions_response::ApiVersion;
use vltava_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use vltava_protocol::messages::metadata_response::MetadataResponseBroker;
use vltava_protocol::messages::{
    AddRaftVoterResponse, ApiVersionsResponse, DescribeQuorumResponse, MetadataResponse,
    RemoveRaftVoterResponse,
};
use vltava_protocol::{ApiKey, RequestBody, ResponseBody, Uuid};

type Log = Arc<Mutex<Vec<RequestBody>>>;

/// Requests one fake node received (ApiVersions and Metadata left out).
fn quorum_requests(log: &Log) -> Vec<RequestBody> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|b| !matches!(b, RequestBody::ApiVersions(_) | RequestBody::Metadata(_)))
        .cloned()
        .collect()
}

fn describe_answer(leader: bool) -> DescribeQuorumResponse {
    let replica = |id: i32, leo: i64| ReplicaState {
        replica_id: id,
        log_end_offset: leo,
        last_fetch_timestamp: 1_000,
        last_caught_up_timestamp: 1_000,
        ..Default::default()
    };
    let partition = if leader {
        PartitionData {
            leader_id: 2,
            leader_epoch: 5,
            high_watermark: 42,
            current_voters: vec![replica(2, 42), replica(1, 40)],
            observers: vec![replica(3, 42)],
            ..Default::default()
        }
    } else {
        PartitionData {
            error_code: ErrorCode::NOT_LEADER_OR_FOLLOWER.code(),
            leader_id: 2,
            leader_epoch: 5,
            ..Default::default()
        }
    };
    DescribeQuorumResponse {
        topics: vec![TopicData {
            topic_name: "__cluster_metadata".into(),
            partitions: vec![partition],
            ..Default::default()
        }],
        nodes: if leader {
            vec![Node {
                node_id: 2,
                listeners: vec![Listener {
                    name: "CONTROLLER".into(),
                    host: "127.0.0.1".into(),
                    port: 9093,
                    ..Default::default()
                }],
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

fn answer(node: i32, addrs: &[String], header_key: i16, version: i16) -> ResponseBody {
    let leader = node == 2;
    match ApiKey::from_i16(header_key).expect("known api") {
        ApiKey::ApiVersions => ResponseBody::ApiVersions(ApiVersionsResponse {
            api_keys: [
                (ApiKey::ApiVersions, 3),
                (ApiKey::Metadata, 12),
                (ApiKey::DescribeQuorum, 2),
                (ApiKey::AddRaftVoter, 0),
                (ApiKey::RemoveRaftVoter, 0),
            ]
            .iter()
            .map(|(k, max)| ApiVersion {
                api_key: *k as i16,
                min_version: 0,
                max_version: *max,
                ..Default::default()
            })
            .collect(),
            ..Default::default()
        }),
        ApiKey::Metadata => ResponseBody::Metadata(MetadataResponse {
            brokers: addrs
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let (host, port) = a.rsplit_once(':').unwrap();
                    MetadataResponseBroker {
                        node_id: i as i32 + 1,
                        host: host.into(),
                        port: port.parse().unwrap(),
                        ..Default::default()
                    }
                })
                .collect(),
            cluster_id: Some("fake-cluster".into()),
            controller_id: 2,
            ..Default::default()
        }),
        ApiKey::DescribeQuorum => ResponseBody::DescribeQuorum(describe_answer(leader)),
        ApiKey::AddRaftVoter => ResponseBody::AddRaftVoter(AddRaftVoterResponse {
            error_code: if leader {
                0
            } else {
                ErrorCode::NOT_LEADER_OR_FOLLOWER.code()
            },
            ..Default::default()
        }),
        ApiKey::RemoveRaftVoter => ResponseBody::RemoveRaftVoter(RemoveRaftVoterResponse {
            error_code: if leader {
                ErrorCode::VOTER_NOT_FOUND.code()
            } else {
                ErrorCode::NOT_LEADER_OR_FOLLOWER.code()
            },
            error_message: Some("node 9 is not a voter".into()),
            ..Default::default()
        }),
        other => panic!("unexpected {other:?} v{version}"),
    }
}

async fn serve(mut stream: TcpStream, node: i32, addrs: Arc<Vec<String>>, log: Log) {
    let mut buf = BytesMut::new();
    loop {
        let frame = loop {
            if let Some(frame) = split_frame(&mut buf, 1 << 20).unwrap() {
                break frame;
            }
            if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
        };
        let (header, body) = decode_request(frame).expect("decodable request");
        log.lock().unwrap().push(body.clone());
        let version = header.request_api_version;
        let resp = answer(node, &addrs, header.request_api_key, version);
        let mut out = BytesMut::new();
        encode_response(header.correlation_id, &resp, version, &mut out).unwrap();
        stream.write_all(&out).await.unwrap();
    }
}

/// Starts fake nodes 1 and 2; returns their addresses and request logs.
async fn two_nodes() -> (Vec<String>, Vec<Log>) {
    let listeners = [
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let addrs: Arc<Vec<String>> = Arc::new(
        listeners
            .iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect(),
    );
    let mut logs = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let log: Log = Arc::default();
        logs.push(log.clone());
        let addrs = addrs.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, i as i32 + 1, addrs.clone(), log.clone()));
            }
        });
    }
    (addrs.to_vec(), logs)
}

async fn client_of(addr: &str) -> Client {
    let mut config = ClientConfig::new([addr.to_string()]);
    config.connection.request_timeout = Duration::from_secs(2);
    config.retry_backoff = Duration::from_millis(10);
    Client::connect(config).await.unwrap()
}

#[tokio::test]
async fn describe_quorum_follows_the_leader_a_follower_names() {
    let (addrs, logs) = two_nodes().await;
    let mut client = client_of(&addrs[0]).await;
    let q = client.describe_quorum().await.unwrap();
    assert_eq!((q.leader_id, q.leader_epoch, q.high_watermark), (2, 5, 42));
    let voters: Vec<(i32, Option<i64>)> = q
        .voters
        .iter()
        .map(|v| (v.replica_id, v.lag(q.high_watermark)))
        .collect();
    assert_eq!(voters, [(1, Some(2)), (2, Some(0))]);
    assert_eq!(q.observers[0].replica_id, 3);
    assert_eq!(q.voters[0].last_fetch_timestamp, Some(1_000));
    assert_eq!(q.endpoints[&2][0].port, 9093);
    // Asked node 1 once, then node 2 (the leader it named) once.
    assert_eq!(quorum_requests(&logs[0]).len(), 1);
    assert_eq!(quorum_requests(&logs[1]).len(), 1);
    let RequestBody::DescribeQuorum(r) = &quorum_requests(&logs[0])[0] else {
        panic!("not DescribeQuorum")
    };
    assert_eq!(r.topics[0].topic_name, "__cluster_metadata");
    assert_eq!(r.topics[0].partitions[0].partition_index, 0);
}

#[tokio::test]
async fn voter_changes_go_to_the_quorum_leader() {
    let (addrs, logs) = two_nodes().await;
    let mut client = client_of(&addrs[0]).await;
    let endpoint = QuorumEndpoint {
        name: "CONTROLLER".into(),
        host: "10.0.0.4".into(),
        port: 9094,
    };
    client
        .add_raft_voter(4, Uuid([4; 16]), std::slice::from_ref(&endpoint))
        .await
        .unwrap();
    let add = quorum_requests(&logs[1])
        .into_iter()
        .find_map(|b| match b {
            RequestBody::AddRaftVoter(r) => Some(r),
            _ => None,
        })
        .expect("AddRaftVoter reached the leader");
    assert_eq!(add.voter_id, 4);
    assert_eq!(add.voter_directory_id, Uuid([4; 16]));
    assert_eq!(add.cluster_id.as_deref(), Some("fake-cluster"));
    assert_eq!(
        (
            add.listeners[0].name.as_str(),
            add.listeners[0].host.as_str(),
            add.listeners[0].port
        ),
        ("CONTROLLER", "10.0.0.4", 9094)
    );
    assert!(add.timeout_ms > 0 && add.timeout_ms < 2_000);
    assert!(
        !quorum_requests(&logs[0])
            .iter()
            .any(|b| matches!(b, RequestBody::AddRaftVoter(_))),
        "the follower was never asked to change voters"
    );

    // A refusal comes back with its code and the leader's message.
    let err = client
        .remove_raft_voter(9, Uuid::ZERO)
        .await
        .expect_err("node 9 is not a voter");
    assert_eq!(err.code(), Some(ErrorCode::VOTER_NOT_FOUND));
    assert!(err.to_string().contains("node 9 is not a voter"));
}
