//! Quorums of real replicas in one process, talking Kafka's protocol over
//! TCP on localhost: elections, replication of proposals, a leader's loss
//! and its successor, restart from disk, and DescribeQuorum.
//!
//! Each replica gets a tiny listener here that answers ApiVersions and
//! hands KRaft requests to `inbound::answer`, which is what the broker's
//! connection layer does for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use vltava_protocol::header::{decode_request, encode_response, split_frame};
use vltava_protocol::messages::{
    api_versions_response::ApiVersion, describe_quorum_request, ApiVersionsResponse,
    DescribeQuorumRequest, RequestBody, ResponseBody,
};
use vltava_protocol::ApiKey;
use vltava_quorum::batch_codec;
use vltava_quorum::disk_log::DiskLog;
use vltava_quorum::driver::{CommittedRead, Quorum, QuorumConfig, QuorumError};
use vltava_quorum::inbound;
use vltava_raft::{BatchKind, Endpoint, RoleKind, Voter, VoterChangeError};

/// The quorum a listener serves; swapped when the replica restarts, and
/// `None` while it is down (requests then go unanswered and the
/// connection closes, as with a dead process).
type Slot = Arc<Mutex<Option<Quorum>>>;

async fn serve_connection(mut stream: TcpStream, slot: Slot) {
    let mut buf = BytesMut::new();
    loop {
        let frame = loop {
            match split_frame(&mut buf, 64 << 20) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(_) => return,
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let Ok((header, body)) = decode_request(frame) else {
            return;
        };
        let version = header.request_api_version;
        let response = if let RequestBody::ApiVersions(_) = body {
            ResponseBody::ApiVersions(ApiVersionsResponse {
                api_keys: [
                    ApiKey::ApiVersions,
                    ApiKey::Vote,
                    ApiKey::BeginQuorumEpoch,
                    ApiKey::EndQuorumEpoch,
                    ApiKey::Fetch,
                    ApiKey::FetchSnapshot,
                    ApiKey::DescribeQuorum,
                ]
                .iter()
                .map(|k| ApiVersion {
                    api_key: *k as i16,
                    min_version: k.versions().min,
                    max_version: k.versions().max,
                    ..Default::default()
                })
                .collect(),
                ..Default::default()
            })
        } else {
            let quorum = slot.lock().await.clone();
            let Some(quorum) = quorum else { return };
            match inbound::answer(&quorum, &body, version, Duration::from_secs(5)).await {
                Some(r) => r,
                None => return,
            }
        };
        let mut out = BytesMut::new();
        if encode_response(header.correlation_id, &response, version, &mut out).is_err() {
            return;
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

struct Replica {
    config: QuorumConfig,
    /// `host:port` of its listener.
    address: String,
    slot: Slot,
}

impl Replica {
    async fn start(&self) {
        let quorum = Quorum::start(self.config.clone()).expect("start");
        *self.slot.lock().await = Some(quorum);
    }

    async fn stop(&self) {
        if let Some(q) = self.slot.lock().await.take() {
            q.shutdown().await;
        }
    }

    async fn quorum(&self) -> Option<Quorum> {
        self.slot.lock().await.clone()
    }
}

struct Cluster {
    replicas: BTreeMap<i32, Replica>,
    _dir: tempfile::TempDir,
}

fn fast(mut c: QuorumConfig) -> QuorumConfig {
    c.election_timeout_ms = 300;
    c.fetch_timeout_ms = 600;
    c.election_backoff_max_ms = 300;
    c.request_timeout_ms = 500;
    c.fetch_max_wait_ms = 100;
    c
}

impl Cluster {
    async fn new(n: i32) -> Cluster {
        Cluster::with_observers(n, 0).await
    }

    /// Voters 1..=n and then `observers` more replicas, which are observers
    /// because `controller.quorum.voters` (the first n) leaves them out.
    async fn with_observers(n: i32, observers: i32) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut listeners = BTreeMap::new();
        for id in 1..=n + observers {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listeners.insert(id, listener);
        }
        let voters: BTreeMap<i32, String> = listeners
            .iter()
            .filter(|(id, _)| **id <= n)
            .map(|(id, l)| (*id, l.local_addr().expect("addr").to_string()))
            .collect();
        let mut replicas = BTreeMap::new();
        for (id, listener) in listeners {
            let listener_address = listener.local_addr().expect("addr").to_string();
            let slot: Slot = Arc::new(Mutex::new(None));
            let accept_slot = slot.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve_connection(stream, accept_slot.clone()));
                }
            });
            let config = fast(QuorumConfig::new(
                id,
                "test-cluster-id",
                voters.clone(),
                node_dir(dir.path(), id),
            ));
            let replica = Replica {
                config,
                address: listener_address,
                slot,
            };
            replica.start().await;
            replicas.insert(id, replica);
        }
        Cluster {
            replicas,
            _dir: dir,
        }
    }

    /// Waits until exactly one running replica leads and every running
    /// replica follows it in the same epoch.
    async fn stable_leader(&self) -> (i32, i32) {
        for _ in 0..200 {
            let mut leaders = Vec::new();
            let mut views = Vec::new();
            for r in self.replicas.values() {
                if let Some(q) = r.quorum().await {
                    let s = q.status().borrow().clone();
                    if s.role == RoleKind::Leader {
                        leaders.push((s.node_id, s.epoch));
                    }
                    views.push((s.leader, s.epoch));
                }
            }
            if let [(leader, epoch)] = leaders[..] {
                if views.iter().all(|v| *v == (Some(leader), epoch)) {
                    return (leader, epoch);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no stable leader within 10 s");
    }
}

/// Voter `id` reached at `address`, with a directory id of its own.
fn voter_at(id: i32, address: &str) -> Voter {
    let (host, port) = address.rsplit_once(':').expect("host:port");
    Voter {
        id,
        directory_id: [id as u8; 16],
        endpoints: vec![Endpoint {
            name: "CONTROLLER".into(),
            host: host.into(),
            port: port.parse().expect("port"),
        }],
    }
}

impl Cluster {
    /// A dynamic quorum (KIP-853): replica 1 is formatted with a bootstrap
    /// checkpoint naming itself (`--standalone`), the others with nothing
    /// (`--no-initial-controllers`). No replica has static voters; all know
    /// only the bootstrap servers (every listener).
    async fn dynamic(n: i32) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut listeners = BTreeMap::new();
        for id in 1..=n {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listeners.insert(id, listener);
        }
        let bootstrap: Vec<String> = listeners
            .values()
            .map(|l| l.local_addr().expect("addr").to_string())
            .collect();
        let mut replicas = BTreeMap::new();
        for (id, listener) in listeners {
            let address = listener.local_addr().expect("addr").to_string();
            let slot: Slot = Arc::new(Mutex::new(None));
            let accept_slot = slot.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve_connection(stream, accept_slot.clone()));
                }
            });
            let mut config = fast(QuorumConfig::new(
                id,
                "test-cluster-id",
                BTreeMap::new(),
                node_dir(dir.path(), id),
            ));
            config.bootstrap_servers = bootstrap.clone();
            config.listener_name = Some("CONTROLLER".into());
            config.directory_id = [id as u8; 16];
            if id == 1 {
                DiskLog::write_bootstrap_checkpoint(&config.log_dir(), &[voter_at(1, &address)])
                    .expect("bootstrap checkpoint");
            }
            let replica = Replica {
                config,
                address,
                slot,
            };
            replica.start().await;
            replicas.insert(id, replica);
        }
        Cluster {
            replicas,
            _dir: dir,
        }
    }
}

/// Adds `id` through the leader `q`, retrying while it catches up.
async fn add_when_caught_up(q: &Quorum, voter: Voter) {
    for _ in 0..200 {
        match q.add_voter(voter.clone()).await {
            Ok(_) => return,
            Err(QuorumError::VoterChange(
                VoterChangeError::NotCaughtUp | VoterChangeError::ChangeInProgress,
            )) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("add_voter {}: {e}", voter.id),
        }
    }
    panic!("replica {} never caught up", voter.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dynamic_quorum_grows_from_one_bootstrapped_voter_and_survives_its_loss() {
    let cluster = Cluster::dynamic(3).await;
    // Replicas 2 and 3 know no voter: they find the leader through the
    // bootstrap servers and follow it as observers.
    let (leader, _) = cluster.stable_leader().await;
    assert_eq!(leader, 1, "the only voter leads");
    let q1 = cluster.replicas[&1].quorum().await.expect("running");
    propose_committed(&q1, "a").await;
    // Observers are described with the directory ids their fetches carry.
    let mut observer_dirs = Vec::new();
    for _ in 0..100 {
        let d = describe(&q1).await;
        observer_dirs = d.topics[0].partitions[0]
            .observers
            .iter()
            .map(|r| (r.replica_id, r.replica_directory_id.0))
            .collect();
        if observer_dirs.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(observer_dirs, vec![(2, [2; 16]), (3, [3; 16])]);
    for id in [2, 3] {
        add_when_caught_up(&q1, voter_at(id, &cluster.replicas[&id].address)).await;
    }
    let d = describe(&q1).await;
    let p = &d.topics[0].partitions[0];
    assert_eq!(ids(&p.current_voters), vec![1, 2, 3]);
    // DescribeQuorum v2 reports each voter's directory id and endpoint.
    for r in &p.current_voters {
        assert_eq!(r.replica_directory_id.0, [r.replica_id as u8; 16]);
    }
    let node3 = d.nodes.iter().find(|n| n.node_id == 3).expect("node 3");
    assert_eq!(node3.listeners[0].name, "CONTROLLER");
    assert_eq!(
        format!("{}:{}", node3.listeners[0].host, node3.listeners[0].port),
        cluster.replicas[&3].address
    );
    // Every replica learns every voter's address from the log (once it
    // has fetched the VotersRecords, which come after "a").
    for id in [2, 3] {
        let q = cluster.replicas[&id].quorum().await.expect("running");
        wait_for_values(&q, &[Bytes::from("a")]).await;
        for other in [1, 2, 3] {
            let want = Some(cluster.replicas[&other].address.clone());
            for _ in 0..100 {
                if q.address_of(other) == want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                q.address_of(other),
                want,
                "replica {id}'s address of {other}"
            );
        }
    }

    // The bootstrapped voter dies: 2 and 3 elect a leader between them,
    // dialling each other at the addresses the log gave them.
    cluster.replicas[&1].stop().await;
    let (leader, _) = stable_leader_among(&cluster, &[2, 3]).await;
    let q = cluster.replicas[&leader].quorum().await.expect("running");
    propose_committed(&q, "b").await;
    // Back from its disk, replica 1 rejoins as a voter and catches up.
    cluster.replicas[&1].start().await;
    let q1 = cluster.replicas[&1].quorum().await.expect("running");
    wait_for_values(&q1, &[Bytes::from("a"), Bytes::from("b")]).await;
    let voters_of_1 = q1.status().borrow().clone();
    assert!(voters_of_1.leader.is_some());
}

/// Like `Cluster::stable_leader`, over the replicas in `among` only.
async fn stable_leader_among(cluster: &Cluster, among: &[i32]) -> (i32, i32) {
    for _ in 0..200 {
        let mut leaders = Vec::new();
        let mut views = Vec::new();
        for id in among {
            if let Some(q) = cluster.replicas[id].quorum().await {
                let s = q.status().borrow().clone();
                if s.role == RoleKind::Leader {
                    leaders.push((s.node_id, s.epoch));
                }
                views.push((s.leader, s.epoch));
            }
        }
        if let [(leader, epoch)] = leaders[..] {
            if views.iter().all(|v| *v == (Some(leader), epoch)) {
                return (leader, epoch);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no stable leader among {among:?} within 10 s");
}

fn node_dir(root: &Path, id: i32) -> PathBuf {
    root.join(format!("node-{id}"))
}

/// Every committed data record's value on `q`, in order.
async fn committed_values(q: &Quorum) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        match q.read_committed(offset, 1 << 20).await.expect("read") {
            CommittedRead::Batches(batches) if batches.is_empty() => return out,
            CommittedRead::Batches(batches) => {
                for b in batches {
                    if b.kind == BatchKind::Data {
                        out.extend(batch_codec::data_values(&b.payload).expect("values"));
                    }
                    offset = b.next_offset();
                }
            }
            CommittedRead::Snapshot(id, _) => offset = id.end_offset,
        }
    }
}

async fn propose_committed(q: &Quorum, value: &str) {
    let (last, epoch) = q
        .propose(vec![Bytes::from(value.to_string())])
        .await
        .expect("propose");
    tokio::time::timeout(Duration::from_secs(10), q.wait_committed(last, epoch))
        .await
        .expect("commit within 10 s")
        .expect("committed");
}

async fn wait_for_values(q: &Quorum, expected: &[Bytes]) {
    for _ in 0..200 {
        if committed_values(q).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        committed_values(q).await,
        expected,
        "replica did not catch up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_voter_elects_itself_and_commits() {
    let cluster = Cluster::new(1).await;
    let (leader, epoch) = cluster.stable_leader().await;
    assert_eq!((leader, epoch), (1, 1));
    let q = cluster.replicas[&1].quorum().await.expect("running");
    propose_committed(&q, "a").await;
    propose_committed(&q, "b").await;
    assert_eq!(
        committed_values(&q).await,
        vec![Bytes::from("a"), Bytes::from("b")]
    );

    // A restart keeps the log and moves to a new epoch.
    cluster.replicas[&1].stop().await;
    cluster.replicas[&1].start().await;
    let (leader, epoch) = cluster.stable_leader().await;
    assert_eq!((leader, epoch), (1, 2));
    let q = cluster.replicas[&1].quorum().await.expect("running");
    propose_committed(&q, "c").await;
    assert_eq!(
        committed_values(&q).await,
        vec![Bytes::from("a"), Bytes::from("b"), Bytes::from("c")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_replicate_and_survive_the_loss_of_the_leader() {
    let cluster = Cluster::new(3).await;
    let (leader, epoch) = cluster.stable_leader().await;
    let q = cluster.replicas[&leader].quorum().await.expect("running");
    let mut expected = Vec::new();
    for i in 0..20 {
        let v = format!("record-{i}");
        propose_committed(&q, &v).await;
        expected.push(Bytes::from(v));
    }
    for r in cluster.replicas.values() {
        wait_for_values(&r.quorum().await.expect("running"), &expected).await;
    }

    // DescribeQuorum from the leader lists three voters, all caught up.
    let described = inbound::answer(
        &q,
        &RequestBody::DescribeQuorum(DescribeQuorumRequest {
            topics: vec![describe_quorum_request::TopicData {
                topic_name: "__cluster_metadata".into(),
                partitions: vec![describe_quorum_request::PartitionData {
                    partition_index: 0,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        2,
        Duration::from_secs(1),
    )
    .await;
    let Some(ResponseBody::DescribeQuorum(d)) = described else {
        panic!("no DescribeQuorum answer")
    };
    let p = &d.topics[0].partitions[0];
    assert_eq!(
        (p.error_code, p.leader_id, p.leader_epoch),
        (0, leader, epoch)
    );
    assert_eq!(p.current_voters.len(), 3);
    assert_eq!(d.nodes.len(), 3);

    // The leader dies; the other two elect a successor in a later epoch,
    // which has every committed record and commits new ones.
    cluster.replicas[&leader].stop().await;
    let survivors: Vec<i32> = cluster
        .replicas
        .keys()
        .copied()
        .filter(|id| *id != leader)
        .collect();
    let (new_leader, new_epoch) = cluster.stable_leader().await;
    assert_ne!(new_leader, leader);
    assert!(new_epoch > epoch);
    let q2 = cluster.replicas[&new_leader]
        .quorum()
        .await
        .expect("running");
    wait_for_values(&q2, &expected).await;
    propose_committed(&q2, "after-failover").await;
    expected.push(Bytes::from("after-failover"));
    for id in &survivors {
        wait_for_values(
            &cluster.replicas[id].quorum().await.expect("running"),
            &expected,
        )
        .await;
    }

    // The old leader returns from its disk and catches up; it does not
    // disturb the new leader (pre-vote).
    cluster.replicas[&leader].start().await;
    let back = cluster.replicas[&leader].quorum().await.expect("running");
    wait_for_values(&back, &expected).await;
    let (still, same_epoch) = cluster.stable_leader().await;
    assert_eq!((still, same_epoch), (new_leader, new_epoch));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_cannot_commit() {
    let cluster = Cluster::new(3).await;
    let (leader, _) = cluster.stable_leader().await;
    let q = cluster.replicas[&leader].quorum().await.expect("running");
    propose_committed(&q, "before").await;
    for (id, r) in &cluster.replicas {
        if *id != leader {
            r.stop().await;
        }
    }
    // The lone leader may still append, but nothing commits; it resigns
    // once it has heard from no majority for its fetch timeout.
    if let Ok((last, epoch)) = q.propose(vec![Bytes::from("alone")]).await {
        let waited =
            tokio::time::timeout(Duration::from_secs(2), q.wait_committed(last, epoch)).await;
        assert!(
            !matches!(waited, Ok(Ok(()))),
            "a write committed without a majority"
        );
    }
    assert_eq!(committed_values(&q).await, vec![Bytes::from("before")]);
}

/// The leader's DescribeQuorum answer (v2, with node endpoints).
async fn describe(q: &Quorum) -> vltava_protocol::messages::DescribeQuorumResponse {
    let described = inbound::answer(
        q,
        &RequestBody::DescribeQuorum(DescribeQuorumRequest {
            topics: vec![describe_quorum_request::TopicData {
                topic_name: "__cluster_metadata".into(),
                partitions: vec![describe_quorum_request::PartitionData {
                    partition_index: 0,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        2,
        Duration::from_secs(1),
    )
    .await;
    let Some(ResponseBody::DescribeQuorum(d)) = described else {
        panic!("no DescribeQuorum answer")
    };
    d
}

fn ids(replicas: &[vltava_protocol::messages::describe_quorum_response::ReplicaState]) -> Vec<i32> {
    replicas.iter().map(|r| r.replica_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_is_added_as_a_voter_with_its_address_and_a_voter_removed() {
    let cluster = Cluster::with_observers(3, 1).await;
    let (leader, _) = cluster.stable_leader().await;
    let q = cluster.replicas[&leader].quorum().await.expect("running");
    propose_committed(&q, "a").await;

    // Replica 4 fetches as an observer; it may be added once caught up.
    let new_address = cluster.replicas[&4].address.clone();
    let mut added = None;
    for _ in 0..100 {
        match q.add_voter(voter_at(4, &new_address)).await {
            Ok(offset) => {
                added = Some(offset);
                break;
            }
            Err(QuorumError::VoterChange(
                VoterChangeError::NotCaughtUp | VoterChangeError::ChangeInProgress,
            )) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("add_voter: {e}"),
        }
    }
    assert!(added.is_some(), "replica 4 never caught up");
    let d = describe(&q).await;
    let p = &d.topics[0].partitions[0];
    assert_eq!(ids(&p.current_voters), vec![1, 2, 3, 4]);
    assert!(ids(&p.observers).is_empty());
    // The address given with the change is the new voter's endpoint.
    let node4 = d.nodes.iter().find(|n| n.node_id == 4).expect("node 4");
    assert_eq!(
        format!("{}:{}", node4.listeners[0].host, node4.listeners[0].port),
        new_address
    );
    assert_eq!(
        q.add_voter(voter_at(4, &new_address)).await,
        Err(QuorumError::VoterChange(VoterChangeError::DuplicateVoter))
    );
    propose_committed(&q, "b").await;
    wait_for_values(
        &cluster.replicas[&4].quorum().await.expect("running"),
        &[Bytes::from("a"), Bytes::from("b")],
    )
    .await;

    // Removing a voter that does not lead leaves three, and the endpoints
    // list only those.
    let gone = (1..=3).find(|id| *id != leader).expect("a follower");
    // A static voter has no directory id: all zeros names it.
    q.remove_voter(gone, [0; 16]).await.expect("remove_voter");
    let d = describe(&q).await;
    let p = &d.topics[0].partitions[0];
    let mut remaining = vec![1, 2, 3, 4];
    remaining.retain(|id| *id != gone);
    assert_eq!(ids(&p.current_voters), remaining);
    let mut node_ids: Vec<i32> = d.nodes.iter().map(|n| n.node_id).collect();
    node_ids.sort();
    assert_eq!(node_ids, remaining);
    assert_eq!(
        q.remove_voter(gone, [0; 16]).await,
        Err(QuorumError::VoterChange(VoterChangeError::VoterNotFound))
    );
    propose_committed(&q, "c").await;
}

/// The driver's snapshot path: a snapshot moves the log start, a read from
/// below it is answered with the snapshot's content, and a snapshot that
/// cannot be read stops the replica rather than hand out empty content
/// (which the broker would load as an empty image).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_below_a_snapshot_get_it_and_an_unreadable_one_stops_the_replica() {
    let cluster = Cluster::new(1).await;
    cluster.stable_leader().await;
    let q = cluster.replicas[&1].quorum().await.expect("running");
    propose_committed(&q, "a").await;
    let (last, epoch) = q.propose(vec![Bytes::from("b")]).await.expect("propose");
    q.wait_committed(last, epoch).await.expect("committed");
    let end = last + 1;
    let id = q
        .create_snapshot(end, Bytes::from_static(b"state at the end"))
        .await
        .expect("running")
        .expect("a snapshot at the high watermark");
    assert_eq!(id.end_offset, end);
    // Not twice at the same offset.
    assert_eq!(q.create_snapshot(end, Bytes::new()).await, Ok(None));
    assert_eq!(
        q.read_committed(0, 1 << 20).await.unwrap(),
        CommittedRead::Snapshot(id, Bytes::from_static(b"state at the end"))
    );
    propose_committed(&q, "c").await;
    assert_eq!(committed_values(&q).await, vec![Bytes::from("c")]);

    // Damage the snapshot's header while the replica is down.
    cluster.replicas[&1].stop().await;
    let file = cluster.replicas[&1]
        .config
        .log_dir()
        .join(vltava_quorum::disk_log::snapshot_file_name(id));
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[..4].copy_from_slice(b"XXXX");
    std::fs::write(&file, bytes).unwrap();
    cluster.replicas[&1].start().await;
    let q = cluster.replicas[&1].quorum().await.expect("running");
    assert!(q.read_committed(0, 1 << 20).await.is_err());
    assert!(q.status().borrow().failed.is_some());
}

/// Every follower learns of a commit at once, not when its parked fetch
/// times out: with two followers, the second one's fetch does not move the
/// HW (the first one's did), and a leader that parked it would leave it
/// unaware of the commit for a whole fetch wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_learn_a_commit_without_waiting_for_a_parked_fetch() {
    let mut cluster = Cluster::new(3).await;
    for replica in cluster.replicas.values_mut() {
        replica.stop().await;
        replica.config.fetch_max_wait_ms = 4000;
        replica.config.fetch_timeout_ms = 10_000;
        replica.config.request_timeout_ms = 6000;
        replica.start().await;
    }
    let (leader, _) = cluster.stable_leader().await;
    let q = cluster.replicas[&leader].quorum().await.expect("running");
    propose_committed(&q, "warm-up").await;
    for round in 0..5 {
        // Let every follower's fetch settle into the leader's wait.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (last, epoch) = q
            .propose(vec![Bytes::from(format!("r{round}"))])
            .await
            .expect("propose");
        q.wait_committed(last, epoch).await.expect("committed");
        let committed_at = tokio::time::Instant::now();
        for r in cluster.replicas.values() {
            let mut status = r.quorum().await.expect("running").status();
            tokio::time::timeout(
                Duration::from_millis(1500),
                status.wait_for(|s| s.high_watermark > last),
            )
            .await
            .expect("a follower learns the HW well within the 4 s fetch wait")
            .expect("running");
        }
        assert!(committed_at.elapsed() < Duration::from_millis(1500));
    }
}
