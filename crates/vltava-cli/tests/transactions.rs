//! Transactions against a real `vltava server`, driven request by request
//! (InitProducerId, AddPartitionsToTxn, a transactional Produce, EndTxn) so
//! that each answer is checked: what read_committed and read_uncommitted
//! fetches see while the transaction is open, after an abort and after a
//! kill -9; fencing by a newer epoch; DescribeProducers; and
//! `vltava transactions`.

mod common;

use std::process::Command;

use bytes::Bytes;
use common::TestBroker;
use serde_json::Value;
use vltava_client::protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use vltava_client::protocol::messages::describe_producers_request::TopicRequest;
use vltava_client::protocol::messages::describe_producers_response::PartitionResponse;
use vltava_client::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use vltava_client::protocol::messages::fetch_response::PartitionData;
use vltava_client::protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use vltava_client::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use vltava_client::protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use vltava_client::protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, DescribeProducersRequest, EndTxnRequest,
    FetchRequest, InitProducerIdRequest, OffsetFetchRequest, ProduceRequest,
    TxnOffsetCommitRequest,
};
use vltava_client::{Connection, ConnectionConfig, ErrorCode, NewTopic};
use vltava_records::RecordBatchBuilder;

const TOPIC: &str = "txn-topic";
const TXN_ID: &str = "test-txn";

/// Runs `vltava transactions ARGS --output json`, which must succeed.
fn transactions_json(broker: &TestBroker, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .arg("transactions")
        .args(args)
        .args(["--output", "json", "--bootstrap", &broker.bootstrap()])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vltava transactions");
    assert!(
        output.status.success(),
        "vltava transactions {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

async fn connect(broker: &TestBroker) -> Connection {
    Connection::connect(&broker.bootstrap(), ConnectionConfig::default())
        .await
        .expect("connect")
}

async fn init_producer_id(conn: &mut Connection) -> (i64, i16) {
    let request = InitProducerIdRequest {
        transactional_id: Some(TXN_ID.into()),
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let resp = conn.send_version(&request, 4).await.unwrap();
    assert_eq!(ErrorCode(resp.error_code), ErrorCode::NONE);
    (resp.producer_id, resp.producer_epoch)
}

async fn add_partition(conn: &mut Connection, pid: i64, epoch: i16) -> ErrorCode {
    add_partition_v(conn, pid, epoch, 3).await
}

async fn add_partition_v(conn: &mut Connection, pid: i64, epoch: i16, version: i16) -> ErrorCode {
    let request = AddPartitionsToTxnRequest {
        v3_and_below_transactional_id: TXN_ID.into(),
        v3_and_below_producer_id: pid,
        v3_and_below_producer_epoch: epoch,
        v3_and_below_topics: vec![AddPartitionsToTxnTopic {
            name: TOPIC.into(),
            partitions: vec![0],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send_version(&request, version).await.unwrap();
    ErrorCode(resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code)
}

/// Produces `values` as one transactional batch; the partition's error.
async fn produce(
    conn: &mut Connection,
    pid: i64,
    epoch: i16,
    seq: i32,
    values: &[&str],
) -> ErrorCode {
    let mut batch = RecordBatchBuilder::new()
        .producer(pid, epoch, seq)
        .transactional(true);
    for v in values {
        batch.append(0, None, Some(v.as_bytes()), &[]).unwrap();
    }
    let request = ProduceRequest {
        transactional_id: Some(TXN_ID.into()),
        acks: -1,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch.build().unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send_version(&request, 9).await.unwrap();
    ErrorCode(resp.responses[0].partition_responses[0].error_code)
}

async fn end_txn(conn: &mut Connection, pid: i64, epoch: i16, commit: bool) -> ErrorCode {
    let request = EndTxnRequest {
        transactional_id: TXN_ID.into(),
        producer_id: pid,
        producer_epoch: epoch,
        committed: commit,
        ..Default::default()
    };
    ErrorCode(conn.send_version(&request, 3).await.unwrap().error_code)
}

/// Fetches partition 0 from offset 0.
async fn fetch(conn: &mut Connection, read_committed: bool) -> PartitionData {
    let request = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: i8::from(read_committed),
        topics: vec![FetchTopic {
            topic: TOPIC.into(),
            partitions: vec![FetchPartition {
                partition: 0,
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
    let mut resp = conn.send_version(&request, 12).await.unwrap();
    resp.responses.remove(0).partitions.remove(0)
}

/// The values of the data records in fetched bytes (markers left out).
fn values(records: &Option<Bytes>) -> Vec<String> {
    let mut out = Vec::new();
    for batch in vltava_records::BatchSplitter::new(records.clone().unwrap_or_default()) {
        let batch = batch.unwrap();
        if batch.is_control() {
            continue;
        }
        for r in batch.records().unwrap() {
            let r = r.unwrap();
            out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aborted_transaction_is_hidden_from_read_committed_across_a_kill() {
    let mut broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    client.create_topic(&NewTopic::new(TOPIC)).await.unwrap();
    let mut conn = connect(&broker).await;

    let (pid, epoch) = init_producer_id(&mut conn).await;
    // Producing before the partition joined the transaction is refused.
    assert_eq!(
        produce(&mut conn, pid, epoch, 0, &["early"]).await,
        ErrorCode::INVALID_TXN_STATE
    );
    assert_eq!(add_partition(&mut conn, pid, epoch).await, ErrorCode::NONE);
    // A producer's batch without a sequence number is refused.
    assert_eq!(
        produce(&mut conn, pid, epoch, -1, &["unsequenced"]).await,
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        produce(&mut conn, pid, epoch, 0, &["a0", "a1", "a2"]).await,
        ErrorCode::NONE
    );

    // Open: read_uncommitted sees the records, read_committed stops before them.
    let open = fetch(&mut conn, true).await;
    assert_eq!((open.high_watermark, open.last_stable_offset), (3, 0));
    assert!(values(&open.records).is_empty());
    assert_eq!(
        values(&fetch(&mut conn, false).await.records),
        ["a0", "a1", "a2"]
    );
    let described = transactions_json(&broker, &["describe", TXN_ID]);
    assert_eq!(described["state"], "Ongoing");
    assert_eq!(described["producer_id"], pid);
    assert_eq!(described["partitions"][0]["topic"], TOPIC);
    let listed = transactions_json(&broker, &["list", "--state", "Ongoing"]);
    assert_eq!(listed[0]["transactional_id"], TXN_ID);

    assert_eq!(end_txn(&mut conn, pid, epoch, false).await, ErrorCode::NONE);
    assert_eq!(
        transactions_json(&broker, &["describe", TXN_ID])["state"],
        "CompleteAbort"
    );
    assert!(transactions_json(&broker, &["list", "--state", "Ongoing"])
        .as_array()
        .unwrap()
        .is_empty());

    // Aborted: the marker took offset 3; read_committed gets the batch and
    // the aborted transaction to drop it by.
    let check_aborted = |data: PartitionData| {
        assert_eq!((data.high_watermark, data.last_stable_offset), (4, 4));
        let aborted = data
            .aborted_transactions
            .expect("read_committed lists them");
        assert_eq!(aborted.len(), 1);
        assert_eq!((aborted[0].producer_id, aborted[0].first_offset), (pid, 0));
    };
    check_aborted(fetch(&mut conn, true).await);

    broker.kill9();
    broker.restart();
    let mut conn = connect(&broker).await;
    check_aborted(fetch(&mut conn, true).await);

    // A new instance fences the old epoch; its transaction commits.
    let (pid2, epoch2) = init_producer_id(&mut conn).await;
    assert_eq!((pid2, epoch2), (pid, epoch + 1));
    assert_eq!(
        add_partition(&mut conn, pid, epoch).await,
        ErrorCode::PRODUCER_FENCED
    );
    assert_eq!(
        add_partition_v(&mut conn, pid, epoch, 1).await,
        ErrorCode::INVALID_PRODUCER_EPOCH,
        "before KIP-588 (v2) a fenced producer is told INVALID_PRODUCER_EPOCH"
    );
    assert_eq!(
        add_partition(&mut conn, pid2, epoch2).await,
        ErrorCode::NONE
    );
    assert_eq!(
        produce(&mut conn, pid2, epoch2, 0, &["b0"]).await,
        ErrorCode::NONE
    );
    assert_eq!(
        end_txn(&mut conn, pid2, epoch2, true).await,
        ErrorCode::NONE
    );
    let committed = fetch(&mut conn, true).await;
    assert_eq!(committed.last_stable_offset, 6);
    assert_eq!(values(&committed.records), ["a0", "a1", "a2", "b0"]);
    assert_eq!(committed.aborted_transactions.unwrap().len(), 1);
}

/// TxnOffsetCommit of `offset` for t-0 in group `g`; the partition's error.
async fn txn_offset_commit(conn: &mut Connection, pid: i64, epoch: i16, offset: i64) -> ErrorCode {
    let request = TxnOffsetCommitRequest {
        transactional_id: TXN_ID.into(),
        group_id: "g".into(),
        producer_id: pid,
        producer_epoch: epoch,
        generation_id: -1,
        member_id: String::new(),
        topics: vec![TxnOffsetCommitRequestTopic {
            name: TOPIC.into(),
            partitions: vec![TxnOffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(String::new()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send_version(&request, 3).await.unwrap();
    ErrorCode(resp.topics[0].partitions[0].error_code)
}

/// OffsetFetch v7 of t-0 in group `g`: (offset, partition error).
async fn committed(conn: &mut Connection, require_stable: bool) -> (i64, ErrorCode) {
    let request = OffsetFetchRequest {
        group_id: "g".into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: TOPIC.into(),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        require_stable,
        ..Default::default()
    };
    let resp = conn.send_version(&request, 7).await.unwrap();
    let p = &resp.topics[0].partitions[0];
    (p.committed_offset, ErrorCode(p.error_code))
}

#[tokio::test(flavor = "multi_thread")]
async fn offsets_committed_in_a_transaction_count_once_it_commits() {
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    client.create_topic(&NewTopic::new(TOPIC)).await.unwrap();
    client.find_coordinator("g").await.unwrap();
    let mut conn = connect(&broker).await;
    let (pid, epoch) = init_producer_id(&mut conn).await;

    // Offsets before AddOffsetsToTxn: no marker would ever decide them.
    assert_eq!(
        txn_offset_commit(&mut conn, pid, epoch, 5).await,
        ErrorCode::INVALID_TXN_STATE
    );
    let add = AddOffsetsToTxnRequest {
        transactional_id: TXN_ID.into(),
        producer_id: pid,
        producer_epoch: epoch,
        group_id: "g".into(),
        ..Default::default()
    };
    assert_eq!(
        ErrorCode(conn.send_version(&add, 3).await.unwrap().error_code),
        ErrorCode::NONE
    );
    assert_eq!(
        txn_offset_commit(&mut conn, pid, epoch, 5).await,
        ErrorCode::NONE
    );

    // Pending: invisible, and unstable for consumers that ask (KIP-447).
    assert_eq!(committed(&mut conn, false).await, (-1, ErrorCode::NONE));
    assert_eq!(
        committed(&mut conn, true).await,
        (-1, ErrorCode::UNSTABLE_OFFSET_COMMIT)
    );
    assert_eq!(end_txn(&mut conn, pid, epoch, true).await, ErrorCode::NONE);
    assert_eq!(committed(&mut conn, true).await, (5, ErrorCode::NONE));

    // An aborted transaction's offset never counts.
    let (pid, epoch) = init_producer_id(&mut conn).await;
    let add = AddOffsetsToTxnRequest {
        producer_epoch: epoch,
        ..add
    };
    assert_eq!(
        ErrorCode(conn.send_version(&add, 3).await.unwrap().error_code),
        ErrorCode::NONE
    );
    assert_eq!(
        txn_offset_commit(&mut conn, pid, epoch, 9).await,
        ErrorCode::NONE
    );
    assert_eq!(end_txn(&mut conn, pid, epoch, false).await, ErrorCode::NONE);
    assert_eq!(committed(&mut conn, true).await, (5, ErrorCode::NONE));
}

/// DescribeProducers for partitions 0 and 1 of `topic`.
async fn describe_producers(conn: &mut Connection, topic: &str) -> Vec<PartitionResponse> {
    let request = DescribeProducersRequest {
        topics: vec![TopicRequest {
            name: topic.into(),
            partition_indexes: vec![0, 1],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut resp = conn.send_version(&request, 0).await.unwrap();
    assert_eq!(resp.topics.len(), 1);
    assert_eq!(resp.topics[0].name, topic);
    resp.topics.remove(0).partitions
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_producers_shows_each_producer_and_its_open_transaction() {
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    client.create_topic(&NewTopic::new(TOPIC)).await.unwrap();
    let mut conn = connect(&broker).await;

    // No producer yet; partition 1 does not exist.
    let described = describe_producers(&mut conn, TOPIC).await;
    assert_eq!(described[0].error_code, 0);
    assert!(described[0].active_producers.is_empty());
    assert_eq!(described[1].partition_index, 1);
    assert_eq!(
        ErrorCode(described[1].error_code),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
    let unknown = describe_producers(&mut conn, "no-such-topic").await;
    assert_eq!(
        ErrorCode(unknown[0].error_code),
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );

    let (pid, epoch) = init_producer_id(&mut conn).await;
    assert_eq!(add_partition(&mut conn, pid, epoch).await, ErrorCode::NONE);
    assert_eq!(
        produce(&mut conn, pid, epoch, 0, &["a0", "a1", "a2"]).await,
        ErrorCode::NONE
    );
    let open = describe_producers(&mut conn, TOPIC).await;
    let state = &open[0].active_producers;
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].producer_id, pid);
    assert_eq!(state[0].producer_epoch, i32::from(epoch));
    assert_eq!(state[0].last_sequence, 2);
    // The batch's max timestamp: this test's records carry 0.
    assert_eq!(state[0].last_timestamp, 0);
    assert_eq!(state[0].coordinator_epoch, -1);
    assert_eq!(state[0].current_txn_start_offset, 0);

    assert_eq!(end_txn(&mut conn, pid, epoch, true).await, ErrorCode::NONE);
    let done = describe_producers(&mut conn, TOPIC).await;
    let state = &done[0].active_producers;
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].last_sequence, 2);
    assert_eq!(state[0].current_txn_start_offset, -1);
    assert!(state[0].coordinator_epoch >= 0);
}
