//! Transaction coordinator failover between real `vltava server` processes:
//! five combined nodes (so that two may be down at once and the metadata
//! quorum still stands), `__transaction_state` with replication factor 3.
//! A transaction whose commit was decided (PrepareCommit in the log) but
//! whose marker could not be written yet is finished by the next leader of
//! its `__transaction_state` partition, with that partition's leader epoch
//! as the coordinator epoch of the marker.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::{client_of, converged, eventually, internal_partition, Cluster, Node};
use vltava_client::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use vltava_client::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use vltava_client::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use vltava_client::protocol::messages::{
    AddPartitionsToTxnRequest, DescribeTransactionsRequest, EndTxnRequest, FetchRequest,
    FindCoordinatorRequest, InitProducerIdRequest, ProduceRequest,
};
use vltava_client::{Connection, ConnectionConfig, ErrorCode, NewTopic};
use vltava_records::control::EndTxnMarker;
use vltava_records::RecordBatchBuilder;

const TXN_STATE: &str = "__transaction_state";
const PARTITIONS: i32 = 3;
const TXN_ID: &str = "failover-txn";
const TOPIC: &str = "side";

async fn connect(bootstrap: &str) -> Option<Connection> {
    Connection::connect(bootstrap, ConnectionConfig::default())
        .await
        .ok()
}

/// The transactional id's coordinator as node `via` names it.
async fn coordinator(via: &str) -> Option<i32> {
    let mut conn = connect(via).await?;
    let request = FindCoordinatorRequest {
        key_type: 1,
        coordinator_keys: vec![TXN_ID.into()],
        ..Default::default()
    };
    let resp = conn.send_version(&request, 4).await.ok()?;
    let c = resp.coordinators.first()?;
    (c.error_code == 0 && c.node_id > 0).then_some(c.node_id)
}

/// (leader, leader epoch, replicas, sorted ISR) of one partition as `via`
/// sees it.
async fn partition_state(
    via: &str,
    topic: &str,
    partition: i32,
) -> Option<(i32, i32, Vec<i32>, Vec<i32>)> {
    let mut c = client_of(via).await?;
    let md = c.topic_metadata(topic).await.ok()?;
    let p = md.partitions.iter().find(|p| p.partition == partition)?;
    let mut isr = p.isr.clone();
    isr.sort();
    Some((p.leader, p.leader_epoch, p.replicas.clone(), isr))
}

/// DescribeTransactions at `node`: (error, state, producer id, epoch).
async fn describe(bootstrap: &str) -> Option<(ErrorCode, String, i64, i16)> {
    let mut conn = connect(bootstrap).await?;
    let request = DescribeTransactionsRequest {
        transactional_ids: vec![TXN_ID.into()],
        ..Default::default()
    };
    let resp = conn.send_version(&request, 0).await.ok()?;
    let t = resp.transaction_states.into_iter().next()?;
    Some((
        ErrorCode(t.error_code),
        t.transaction_state,
        t.producer_id,
        t.producer_epoch,
    ))
}

async fn init_producer_id(conn: &mut Connection) -> (ErrorCode, i64, i16) {
    let request = InitProducerIdRequest {
        transactional_id: Some(TXN_ID.into()),
        transaction_timeout_ms: 120_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let resp = conn
        .send_version(&request, 4)
        .await
        .expect("InitProducerId");
    (
        ErrorCode(resp.error_code),
        resp.producer_id,
        resp.producer_epoch,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decided_commit_is_finished_by_the_next_coordinator() {
    let mut cluster = Cluster::start_with(
        5,
        0,
        &format!(
            "replica.lag.time.max.ms=3000\n\
             transaction.state.log.num.partitions={PARTITIONS}\n\
             transaction.state.log.replication.factor=3\n\
             transaction.abort.timed.out.transaction.cleanup.interval.ms=500\n"
        ),
    );
    let all = [1, 2, 3, 4, 5];
    converged(&cluster, &all, &all).await;
    let bootstraps: Vec<String> = cluster.nodes.iter().map(Node::bootstrap).collect();
    let bootstrap_of = |id: i32| bootstraps[(id - 1) as usize].clone();
    let mut admin = client_of(&bootstraps[0]).await.unwrap();
    // One replica per partition, spread over the nodes.
    admin
        .create_topic(&NewTopic {
            num_partitions: Some(5),
            replication_factor: Some(1),
            ..NewTopic::new(TOPIC)
        })
        .await
        .expect("create the topic");

    // FindCoordinator creates __transaction_state; wait for a full ISR of
    // the id's partition.
    let first = eventually(Duration::from_secs(20), "the coordinator", || {
        coordinator(&bootstraps[0])
    })
    .await;
    let tp = internal_partition(TXN_ID, PARTITIONS);
    let replicas = eventually(Duration::from_secs(30), "a full ISR", || {
        let b = bootstraps[0].clone();
        async move {
            let (leader, _, replicas, isr) = partition_state(&b, TXN_STATE, tp).await?;
            let mut sorted = replicas.clone();
            sorted.sort();
            (leader == first && isr == sorted).then_some(replicas)
        }
    })
    .await;
    let next = replicas[1];
    // Every node has loaded the partitions it leads (each answered a
    // FindCoordinator): the next coordinator must load the partition when
    // it gains it, not only at its first request.
    for b in &bootstraps {
        assert_eq!(coordinator(b).await, Some(first));
    }
    // A partition of the topic led by a node that is neither coordinator.
    let (x, px) = eventually(Duration::from_secs(20), "the topic's leaders", || {
        let b = bootstraps[0].clone();
        let replicas = replicas.clone();
        async move {
            let mut c = client_of(&b).await?;
            let md = c.topic_metadata(TOPIC).await.ok()?;
            md.partitions
                .iter()
                .find(|p| p.leader > 0 && !replicas[..2].contains(&p.leader))
                .map(|p| (p.leader, p.partition))
        }
    })
    .await;

    let mut at_first = connect(&bootstrap_of(first)).await.unwrap();
    let (code, pid, epoch) = init_producer_id(&mut at_first).await;
    assert_eq!(code, ErrorCode::NONE);
    let add = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: TXN_ID.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: TOPIC.into(),
            partitions: vec![px],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = at_first.send_version(&add, 3).await.unwrap();
    assert_eq!(
        resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    let mut batch = RecordBatchBuilder::new()
        .producer(pid, epoch, 0)
        .transactional(true);
    batch.append(0, None, Some(b"decided"), &[]).unwrap();
    let produce = ProduceRequest {
        transactional_id: Some(TXN_ID.into()),
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.into(),
            partition_data: vec![PartitionProduceData {
                index: px,
                records: Some(batch.build().unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut at_x = connect(&bootstrap_of(x)).await.unwrap();
    let resp = at_x.send_version(&produce, 9).await.unwrap();
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);

    // The partition's only replica dies: the commit is decided, but its
    // marker cannot be written.
    cluster.node(x).kill9();
    eventually(
        Duration::from_secs(20),
        "the partition without leader",
        || {
            let b = bootstrap_of(first);
            async move {
                let (leader, ..) = partition_state(&b, TOPIC, px).await?;
                (leader < 0).then_some(())
            }
        },
    )
    .await;
    let end = EndTxnRequest {
        transactional_id: TXN_ID.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: true,
        ..Default::default()
    };
    let resp = at_first.send_version(&end, 3).await.unwrap();
    assert_eq!(ErrorCode(resp.error_code), ErrorCode::NONE);
    let (_, state, ..) = describe(&bootstrap_of(first)).await.unwrap();
    assert_eq!(state, "PrepareCommit");

    // The coordinator dies too (two of five nodes down; the quorum
    // stands): the next replica of the id's partition loads it, ending
    // transaction included.
    cluster.node(first).kill9();
    let killed_at = Instant::now();
    let coordinator_now = eventually(Duration::from_secs(20), "a new coordinator", || {
        let b = bootstrap_of(next);
        async move { coordinator(&b).await.filter(|c| *c != first) }
    })
    .await;
    assert_eq!(coordinator_now, next);
    let loaded = eventually(
        Duration::from_secs(20),
        "the transaction at the new coordinator",
        || {
            let b = bootstrap_of(next);
            async move { describe(&b).await.filter(|d| d.0 == ErrorCode::NONE) }
        },
    )
    .await;
    eprintln!(
        "kill -9 of the transaction coordinator (node {first}): node {next} serves the \
         transaction after {} ms",
        killed_at.elapsed().as_millis()
    );
    assert_eq!(
        loaded,
        (ErrorCode::NONE, "PrepareCommit".to_string(), pid, epoch),
        "the decided commit, as the log has it"
    );

    // The partition's replica returns: the new coordinator writes the
    // marker and completes the transaction.
    cluster.node(x).start();
    eventually(Duration::from_secs(30), "the commit completed", || {
        let b = bootstrap_of(next);
        async move {
            let (_, state, ..) = describe(&b).await?;
            (state == "CompleteCommit").then_some(())
        }
    })
    .await;
    let (_, txn_epoch, ..) = partition_state(&bootstrap_of(next), TXN_STATE, tp)
        .await
        .unwrap();
    assert!(txn_epoch > 0, "a new leader epoch after the failover");

    // read_committed sees the record, and the marker carries the leader
    // epoch of the id's partition as the coordinator epoch.
    let fetched = eventually(Duration::from_secs(20), "the committed record", || {
        let b = bootstrap_of(x);
        async move {
            let mut conn = connect(&b).await?;
            let request = FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 1 << 20,
                isolation_level: 1,
                topics: vec![FetchTopic {
                    topic: TOPIC.into(),
                    partitions: vec![FetchPartition {
                        partition: px,
                        current_leader_epoch: -1,
                        fetch_offset: 0,
                        log_start_offset: -1,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            };
            let mut resp = conn.send_version(&request, 12).await.ok()?;
            let data = resp.responses.remove(0).partitions.remove(0);
            (data.error_code == 0 && data.last_stable_offset == 2).then_some(data.records)
        }
    })
    .await;
    let mut values = Vec::new();
    let mut markers = Vec::new();
    for batch in vltava_records::BatchSplitter::new(fetched.unwrap_or_default()) {
        let batch = batch.unwrap();
        for r in batch.records().unwrap() {
            let r = r.unwrap();
            if batch.is_control() {
                markers.push(EndTxnMarker::from_record(&r).unwrap());
            } else {
                values.push(r.value.unwrap_or_else(Bytes::new));
            }
        }
    }
    assert_eq!(values, vec![Bytes::from_static(b"decided")]);
    assert_eq!(markers.len(), 1);
    assert!(markers[0].commit);
    assert_eq!(
        markers[0].coordinator_epoch, txn_epoch,
        "the marker's coordinator epoch is the leader epoch of {TXN_STATE}-{tp}"
    );

    // The producer's next instance gets the next epoch of the same id.
    let mut at_next = connect(&bootstrap_of(next)).await.unwrap();
    assert_eq!(
        init_producer_id(&mut at_next).await,
        (ErrorCode::NONE, pid, epoch + 1)
    );
}
