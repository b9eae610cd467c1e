//! Fetching from the closest replica (KIP-392) between real `vltava
//! server` processes: three combined nodes, each in a rack of its own,
//! with `replica.selector.class` set to Kafka's RackAwareReplicaSelector.
//! A leader sends a consumer from another rack to the in-sync follower in
//! the consumer's rack (`preferred_read_replica`, no records); that
//! follower serves the consumer's fetch up to its high watermark; epochs
//! are checked as on a leader, and fetches older than v11 still need the
//! leader.

mod common;

use std::time::Duration;

use common::cluster::{client_of, converged, eventually, Cluster, Node};
use vltava_client::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use vltava_client::protocol::messages::fetch_response::PartitionData;
use vltava_client::protocol::messages::FetchRequest;
use vltava_client::{
    Acks, Compression, Connection, ConnectionConfig, ErrorCode, NewTopic, ProducerRecord,
};

const SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// One partition's answer to a consumer's fetch of `topic`-0 from `offset`
/// in `version`, sent to `addr`, naming `rack` and `epoch`.
async fn fetch(
    addr: &str,
    version: i16,
    topic: &str,
    offset: i64,
    epoch: i32,
    rack: &str,
) -> PartitionData {
    let request = FetchRequest {
        replica_id: -1,
        max_wait_ms: 100,
        min_bytes: 1,
        max_bytes: 1 << 20,
        rack_id: rack.into(),
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                current_leader_epoch: epoch,
                fetch_offset: offset,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut conn = Connection::connect(addr, ConnectionConfig::default())
        .await
        .expect("connect");
    let mut response = conn
        .send_version(&request, version)
        .await
        .expect("a fetch answer");
    assert_eq!(response.error_code, 0);
    response.responses.remove(0).partitions.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_is_sent_to_the_replica_in_its_rack_and_reads_there() {
    let cluster = Cluster::start_with_each(3, 0, |id| {
        format!("broker.rack=rack-{id}\nreplica.selector.class={SELECTOR}\n")
    });
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    admin
        .create_topic(&NewTopic {
            num_partitions: Some(1),
            replication_factor: Some(3),
            ..NewTopic::new("nearby")
        })
        .await
        .unwrap();
    let partition = eventually(Duration::from_secs(20), "a full ISR", || {
        let b = bootstraps[0].clone();
        async move {
            let mut c = client_of(&b).await?;
            let p = c.topic_metadata("nearby").await.ok()?.partitions.remove(0);
            (p.leader > 0 && p.isr.len() == 3).then_some(p)
        }
    })
    .await;
    let leader = partition.leader;
    let epoch = partition.leader_epoch;
    let addr_of = |id: i32| bootstraps[id as usize - 1].clone();
    let records: Vec<ProducerRecord> = (0..100)
        .map(|i| ProducerRecord::value(format!("r{i}")))
        .collect();
    let mut producer = client_of(&addr_of(leader)).await.unwrap();
    producer
        .produce("nearby", 0, &records, Acks::All, Compression::None)
        .await
        .unwrap();
    let follower = (1..=3).find(|id| *id != leader).unwrap();

    // The leader sends a consumer in the follower's rack there, without
    // records, once the follower has what it asks for.
    let sent = eventually(Duration::from_secs(20), "a preferred read replica", || {
        let addr = addr_of(leader);
        let rack = format!("rack-{follower}");
        async move {
            let p = fetch(&addr, 12, "nearby", 0, epoch, &rack).await;
            (p.preferred_read_replica >= 0).then_some(p)
        }
    })
    .await;
    assert_eq!(sent.preferred_read_replica, follower);
    assert_eq!(sent.error_code, 0);
    assert!(sent.records.as_ref().is_none_or(|r| r.is_empty()));
    assert_eq!(sent.high_watermark, 100);

    // A consumer in the leader's rack, in no rack, or in a rack without a
    // replica reads from the leader.
    for rack in [format!("rack-{leader}"), String::new(), "elsewhere".into()] {
        let p = fetch(&addr_of(leader), 12, "nearby", 0, epoch, &rack).await;
        assert_eq!(p.preferred_read_replica, -1, "rack {rack:?}");
        assert!(
            p.records.as_ref().is_some_and(|r| !r.is_empty()),
            "rack {rack:?}"
        );
    }

    // The follower serves the consumer up to its high watermark.
    let served = eventually(Duration::from_secs(20), "records from the follower", || {
        let addr = addr_of(follower);
        let rack = format!("rack-{follower}");
        async move {
            let p = fetch(&addr, 12, "nearby", 0, epoch, &rack).await;
            (p.error_code == 0 && p.high_watermark == 100).then_some(p)
        }
    })
    .await;
    let bytes = served.records.expect("records");
    let batch = vltava_records::RecordBatch::new(bytes.slice(..)).expect("a record batch");
    assert_eq!(batch.base_offset(), 0);
    assert_eq!(batch.last_offset(), 99);
    assert_eq!(served.preferred_read_replica, -1, "only a leader redirects");

    // Epochs are checked on the follower as on a leader (KIP-320).
    let ahead = fetch(&addr_of(follower), 12, "nearby", 0, epoch + 1, "").await;
    assert_eq!(ErrorCode(ahead.error_code), ErrorCode::UNKNOWN_LEADER_EPOCH);
    if epoch > 0 {
        let behind = fetch(&addr_of(follower), 12, "nearby", 0, epoch - 1, "").await;
        assert_eq!(ErrorCode(behind.error_code), ErrorCode::FENCED_LEADER_EPOCH);
    }
    // Before v11 a consumer may fetch only from the leader.
    let old = fetch(&addr_of(follower), 10, "nearby", 0, epoch, "").await;
    assert_eq!(ErrorCode(old.error_code), ErrorCode::NOT_LEADER_OR_FOLLOWER);
}
