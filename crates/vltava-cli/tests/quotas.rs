//! Client quotas against a real `vltava server`: AlterClientQuotas and
//! DescribeClientQuotas through the `vltava quotas` tool and the client
//! (filters, Kafka's refusals, the quotas surviving a restart), and the
//! quotas in force: a producer or consumer over its byte rate gets
//! throttle_time_ms and its connection is muted, so a client that ignores
//! the throttle time is still held to the rate; a consumer's throttled
//! fetches carry no records and lose none; an IP over its connection
//! creation rate has its new connections closed unanswered.
//!
//! The brokers measure rates over `quota.window.num=2` windows of one
//! second, so a rate shows within a second or two instead of the ten a
//! default broker takes to count a client as over its quota.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestBroker;
use serde_json::{json, Value};
use vltava_client::batches::build_batch;
use vltava_client::protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use vltava_client::protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use vltava_client::protocol::messages::{FetchRequest, ProduceRequest};
use vltava_client::{
    Acks, Compression, Connection, ConnectionConfig, ErrorCode, NewTopic, OffsetSpec,
    ProducerRecord, QuotaFilterComponent, QuotaMatch,
};

const FAST_WINDOWS: [&str; 2] = ["quota.window.num=2", "quota.window.size.seconds=1"];

/// Runs `vltava ARGS --bootstrap ...`: (exit code, stdout, stderr).
fn vltava(broker: &TestBroker, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_vltava"))
        .args(args)
        .arg("--bootstrap")
        .arg(broker.bootstrap())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vltava");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn vltava_ok(broker: &TestBroker, args: &[&str]) -> String {
    let (code, stdout, stderr) = vltava(broker, args);
    assert_eq!(code, 0, "vltava {args:?} failed:\n{stdout}\n{stderr}");
    stdout
}

fn describe_json(broker: &TestBroker, args: &[&str]) -> Value {
    let mut full = vec!["quotas", "describe"];
    full.extend(args);
    full.extend(["--output", "json"]);
    let stdout = vltava_ok(broker, &full);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[test]
fn quotas_are_set_described_refused_and_survive_a_restart() {
    let mut broker = TestBroker::start(&[]);
    vltava_ok(
        &broker,
        &[
            "quotas",
            "set",
            "--user",
            "alice",
            "--add",
            "producer_byte_rate=1024,consumer_byte_rate=2048",
        ],
    );
    vltava_ok(
        &broker,
        &[
            "quotas",
            "set",
            "--user",
            "alice",
            "--client-id-default",
            "--add",
            "request_percentage=50",
        ],
    );
    vltava_ok(
        &broker,
        &[
            "quotas",
            "set",
            "--client-id",
            "app",
            "--add",
            "producer_byte_rate=4096,request_percentage=12.5",
        ],
    );
    vltava_ok(
        &broker,
        &[
            "quotas",
            "set",
            "--ip-default",
            "--add",
            "connection_creation_rate=100",
        ],
    );
    // Checked but not made.
    let out = vltava_ok(
        &broker,
        &[
            "quotas",
            "set",
            "--user",
            "bob",
            "--add",
            "producer_byte_rate=1",
            "--validate-only",
        ],
    );
    assert!(out.starts_with("Validated"), "{out}");

    // Refusals, with Kafka's reasons.
    let refused = |args: &[&str], why: &str| {
        let (code, stdout, stderr) = vltava(&broker, args);
        assert_eq!(code, 1, "{args:?} succeeded: {stdout}");
        assert!(stderr.contains(why), "{args:?}: {stderr}");
    };
    refused(
        &["quotas", "set", "--user", "bob", "--add", "no_such_rate=1"],
        "INVALID_REQUEST",
    );
    // An IP entity takes only connection_creation_rate.
    refused(
        &[
            "quotas",
            "set",
            "--ip",
            "10.0.0.1",
            "--add",
            "producer_byte_rate=1",
        ],
        "INVALID_REQUEST",
    );
    refused(
        &[
            "quotas",
            "set",
            "--ip",
            "not-an-ip",
            "--add",
            "connection_creation_rate=1",
        ],
        "INVALID_REQUEST",
    );
    refused(
        &[
            "quotas",
            "set",
            "--user",
            "bob",
            "--add",
            "producer_byte_rate=-5",
        ],
        "INVALID_REQUEST",
    );
    // Byte rates are whole numbers.
    refused(
        &[
            "quotas",
            "set",
            "--user",
            "bob",
            "--add",
            "producer_byte_rate=1.5",
        ],
        "cannot be a fractional value",
    );

    let expected_all = json!([
        {"entity": [{"type": "client-id", "name": "app"}],
         "quotas": {"producer_byte_rate": 4096.0, "request_percentage": 12.5}},
        {"entity": [{"type": "ip", "name": null}],
         "quotas": {"connection_creation_rate": 100.0}},
        {"entity": [{"type": "user", "name": "alice"}],
         "quotas": {"consumer_byte_rate": 2048.0, "producer_byte_rate": 1024.0}},
        {"entity": [{"type": "user", "name": "alice"}, {"type": "client-id", "name": null}],
         "quotas": {"request_percentage": 50.0}},
    ]);
    assert_eq!(describe_json(&broker, &[]), expected_all);
    // Filters: a user matches every entity with that user part, unless
    // strict; "any user" every entity with a user part.
    assert_eq!(
        describe_json(&broker, &["--user", "alice"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        describe_json(&broker, &["--user", "alice", "--strict"]),
        json!([{"entity": [{"type": "user", "name": "alice"}],
                "quotas": {"consumer_byte_rate": 2048.0, "producer_byte_rate": 1024.0}}])
    );
    assert_eq!(
        describe_json(&broker, &["--any-user", "--client-id-default"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        describe_json(&broker, &["--any-ip"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(describe_json(&broker, &["--user", "bob"]), json!([]));
    let table = vltava_ok(
        &broker,
        &["quotas", "describe", "--user", "alice", "--strict"],
    );
    assert!(
        table.contains("user=alice  producer_byte_rate  1024.0"),
        "{table}"
    );

    // The quotas are in the metadata log: a restart replays them.
    broker.stop();
    broker.restart();
    assert_eq!(describe_json(&broker, &[]), expected_all);

    // Removing a key; an entity with no key left is not listed.
    vltava_ok(
        &broker,
        &[
            "quotas",
            "set",
            "--client-id",
            "app",
            "--delete",
            "producer_byte_rate,request_percentage",
        ],
    );
    let all = describe_json(&broker, &[]);
    assert_eq!(all.as_array().unwrap().len(), 3, "{all}");
    assert!(!all.to_string().contains("\"app\""), "{all}");
}

/// A filter the broker refuses: Kafka's error for the whole request.
#[tokio::test]
async fn a_bad_describe_filter_is_refused() {
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    let err = client
        .describe_client_quotas(
            &[
                QuotaFilterComponent {
                    entity_type: "ip".into(),
                    matching: QuotaMatch::Any,
                },
                QuotaFilterComponent {
                    entity_type: "user".into(),
                    matching: QuotaMatch::Any,
                },
            ],
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_REQUEST), "{err}");
    let err = client
        .describe_client_quotas(
            &[QuotaFilterComponent {
                entity_type: "group".into(),
                matching: QuotaMatch::Any,
            }],
            false,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UNSUPPORTED_VERSION), "{err}");
}

async fn connection(broker: &TestBroker, client_id: &str) -> Connection {
    Connection::connect(
        &broker.bootstrap(),
        ConnectionConfig {
            client_id: Some(client_id.to_string()),
            request_timeout: Duration::from_secs(30),
            ..ConnectionConfig::default()
        },
    )
    .await
    .expect("connect")
}

fn produce_request(topic: &str, value_bytes: usize, n: usize) -> ProduceRequest {
    let records: Vec<ProducerRecord> = (0..n)
        .map(|i| ProducerRecord::value(format!("{i:08}{}", "x".repeat(value_bytes - 8))))
        .collect();
    ProduceRequest {
        acks: 1,
        timeout_ms: 5000,
        topic_data: vec![TopicProduceData {
            name: topic.to_string(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(build_batch(&records, Compression::None).unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Sends `requests` produce requests of ~20 KiB back to back, ignoring the
/// throttle time as a careless client would: (throttle times, elapsed).
async fn produce_flat_out(
    conn: &mut Connection,
    topic: &str,
    requests: usize,
) -> (Vec<i32>, Duration) {
    let request = produce_request(topic, 1000, 20);
    let started = Instant::now();
    let mut throttles = Vec::new();
    for _ in 0..requests {
        let resp = conn.send(&request).await.expect("produce");
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!(ErrorCode(p.error_code), ErrorCode::NONE);
        throttles.push(resp.throttle_time_ms);
    }
    (throttles, started.elapsed())
}

#[tokio::test]
async fn a_producer_over_its_byte_rate_is_throttled_and_muted() {
    let broker = TestBroker::start(&FAST_WINDOWS);
    let mut client = broker.client().await;
    client
        .create_topics(&[NewTopic::new("q")])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    // 100 KiB/s for client id "slow"; other clients have no quota.
    let changed = client
        .alter_client_quotas(
            &[(
                vec![("client-id".into(), Some("slow".into()))],
                vec![("producer_byte_rate".into(), Some(100.0 * 1024.0))],
            )],
            false,
        )
        .await
        .unwrap();
    assert!(changed[0].is_ok());

    // Another client id is not measured against "slow"'s quota.
    let mut fast = connection(&broker, "fast").await;
    let (throttles, _) = produce_flat_out(&mut fast, "q", 15).await;
    assert!(throttles.iter().all(|&t| t == 0), "{throttles:?}");

    // 30 requests of ~20 KiB, 600 KiB in all, at 100 KiB/s take about
    // six seconds less the two-second window a burst fits in; the client
    // does not wait, so the broker's muting alone holds it back.
    let mut slow = connection(&broker, "slow").await;
    let (throttles, elapsed) = produce_flat_out(&mut slow, "q", 30).await;
    let throttled = throttles.iter().filter(|&&t| t > 0).count();
    eprintln!("throttle times {throttles:?}; {elapsed:?} for 600 KiB");
    assert!(throttled >= 5, "{throttles:?}");
    assert!(
        elapsed >= Duration::from_secs(3),
        "600 KiB at 100 KiB/s went through in {elapsed:?}"
    );
    // The metrics show the sensor and the throttles.
    let metrics = scrape(&broker);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("kafka_server_produce_byte_rate{user=\"\",client_id=\"slow\"}")),
        "{metrics}"
    );
    let throttled = metric_value(&metrics, "vltava_quota_throttled_total{quota=\"produce\"}");
    assert!(throttled >= throttled_count_floor(&throttles), "{metrics}");
    assert!(
        metric_value(
            &metrics,
            "vltava_quota_throttle_seconds_total{quota=\"produce\"}"
        ) > 0.0
    );
    // Every record was written once.
    let end = client
        .list_offsets("q", 0, OffsetSpec::Latest)
        .await
        .unwrap();
    assert_eq!(end.offset, 45 * 20);
}

fn fetch_request(topic: &str, offset: i64) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 100,
        min_bytes: 1,
        max_bytes: 1 << 20,
        topics: vec![FetchTopic {
            topic: topic.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                current_leader_epoch: -1,
                fetch_offset: offset,
                log_start_offset: -1,
                partition_max_bytes: 1 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn a_consumer_over_its_byte_rate_gets_empty_throttled_fetches_and_loses_nothing() {
    let broker = TestBroker::start(&FAST_WINDOWS);
    let mut client = broker.client().await;
    client
        .create_topics(&[NewTopic::new("r")])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    // 600 records of 1000 bytes.
    for chunk in 0..30 {
        let records: Vec<ProducerRecord> = (0..20)
            .map(|i| {
                let n = chunk * 20 + i;
                ProducerRecord::value(format!("{n:08}{}", "y".repeat(992)))
            })
            .collect();
        client
            .produce("r", 0, &records, Acks::Leader, Compression::None)
            .await
            .unwrap();
    }
    set_quota(
        &mut client,
        "client-id",
        "reader",
        "consumer_byte_rate",
        Some(100.0 * 1024.0),
    )
    .await;

    let mut conn = connection(&broker, "reader").await;
    let started = Instant::now();
    let mut offset = 0i64;
    let mut values = Vec::new();
    let mut throttled_empty = 0;
    let mut largest = 0usize;
    while offset < 600 {
        let mut resp = conn
            .send_version(&fetch_request("r", offset), 12)
            .await
            .unwrap();
        assert_eq!(ErrorCode(resp.error_code), ErrorCode::NONE);
        if resp.throttle_time_ms > 0 {
            // Kafka's throttled fetch: no partitions, so nothing is lost.
            assert!(resp.responses.is_empty(), "a throttled fetch carried data");
            throttled_empty += 1;
            continue;
        }
        let p = resp.responses.remove(0).partitions.remove(0);
        let data = p.records.unwrap_or_default();
        largest = largest.max(data.len());
        let (records, next) =
            vltava_client::batches::decode_fetched(Some(data), "r", 0, offset, 1 << 20).unwrap();
        for r in records {
            values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap()[..8].to_string());
        }
        offset = next;
    }
    let elapsed = started.elapsed();
    eprintln!("{throttled_empty} throttled fetches; largest answer {largest} B; {elapsed:?}");
    let expected: Vec<String> = (0..600).map(|n| format!("{n:08}")).collect();
    assert_eq!(values, expected, "every record once, in order");
    assert!(throttled_empty >= 1);
    // A fetch is bounded by what the quota allows in its window (one
    // second of 100 KiB here), not the 1 MiB asked for.
    assert!(largest <= 110 * 1024, "an answer of {largest} bytes");
    assert!(
        elapsed >= Duration::from_secs(3),
        "600 KB read in {elapsed:?}"
    );

    // Another client id reads without a throttle.
    let mut conn = connection(&broker, "unlimited").await;
    let resp = conn.send_version(&fetch_request("r", 0), 12).await.unwrap();
    assert_eq!(resp.throttle_time_ms, 0);
    assert!(!resp.responses.is_empty());
}

/// `n` connections opened at once, each asking ApiVersions v0: whether
/// each was answered.
async fn connect_at_once(addr: &str, n: usize) -> Vec<bool> {
    connect_at_once_waiting(addr, n, Duration::from_secs(5)).await
}

async fn connect_at_once_waiting(addr: &str, n: usize, wait: Duration) -> Vec<bool> {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let addr = addr.to_string();
            std::thread::spawn(move || answered(&addr, wait))
        })
        .collect();
    tokio::task::spawn_blocking(move || threads.into_iter().map(|t| t.join().unwrap()).collect())
        .await
        .unwrap()
}

/// Opens a TCP connection and asks ApiVersions v0; whether it was answered.
fn answered(addr: &str, wait: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    s.set_read_timeout(Some(wait)).unwrap();
    // size, api key 18, version 0, correlation id 7, client id "t".
    let req = [0, 0, 0, 11, 0, 18, 0, 0, 0, 0, 0, 7, 0, 1, b't'];
    if s.write_all(&req).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    s.read_exact(&mut head).is_ok() && head[4..8] == [0, 0, 0, 7]
}

#[tokio::test]
async fn an_ip_over_its_connection_rate_has_new_connections_closed() {
    let broker = TestBroker::start(&FAST_WINDOWS);
    let mut client = broker.client().await;
    set_quota(
        &mut client,
        "ip",
        "127.0.0.1",
        "connection_creation_rate",
        Some(2.0),
    )
    .await;
    // At 2 a second, measured over two one-second windows, a burst of 12
    // has at most 4 or so let in.
    let results = connect_at_once(&broker.bootstrap(), 12).await;
    let refused = results.iter().filter(|&&a| !a).count();
    eprintln!("connections answered: {results:?}");
    assert!(
        refused < 12,
        "some connections are within the rate: {results:?}"
    );
    assert!(refused >= 6, "{results:?}");

    // Without the quota every connection is answered again (the client's
    // connection, opened before, was never closed).
    set_quota(
        &mut client,
        "ip",
        "127.0.0.1",
        "connection_creation_rate",
        None,
    )
    .await;
    let results = connect_at_once(&broker.bootstrap(), 12).await;
    assert!(results.iter().all(|&a| a), "{results:?}");
}

#[tokio::test]
async fn a_client_over_its_request_percentage_is_throttled_on_any_api() {
    let broker = TestBroker::start(&FAST_WINDOWS);
    let mut client = broker.client().await;
    client
        .create_topics(&[NewTopic::new("m")])
        .await
        .unwrap()
        .remove(0)
        .unwrap();
    // 0.1 % of a thread: one millisecond of handling a second.
    set_quota(
        &mut client,
        "client-id",
        "busy",
        "request_percentage",
        Some(0.1),
    )
    .await;
    let request = produce_request("m", 1000, 20);
    let mut busy = connection(&broker, "busy").await;
    let mut first_throttle = None;
    for i in 0..400 {
        let resp = busy.send(&request).await.unwrap();
        if resp.throttle_time_ms > 0 {
            first_throttle = Some((i, resp.throttle_time_ms));
            break;
        }
    }
    let (i, ms) = first_throttle.expect("a produce flood over 0.1 % of a thread is throttled");
    eprintln!("throttled {ms} ms after {i} produce requests");
    // Throttled on another API too: the quota is on time, not bytes.
    let metadata = vltava_client::protocol::messages::MetadataRequest::default();
    let resp = busy.send(&metadata).await.unwrap();
    let mut throttled_metadata = resp.throttle_time_ms > 0;
    for _ in 0..400 {
        if throttled_metadata {
            break;
        }
        busy.send(&request).await.unwrap();
        throttled_metadata = busy.send(&metadata).await.unwrap().throttle_time_ms > 0;
    }
    assert!(
        throttled_metadata,
        "Metadata answers carry the request throttle"
    );

    // Another client id has no request quota.
    let mut other = connection(&broker, "idle").await;
    for _ in 0..20 {
        assert_eq!(other.send(&request).await.unwrap().throttle_time_ms, 0);
    }
}

/// A listener's `max.connection.creation.rate` (KIP-612): connections
/// over the rate are not refused but taken up late. (The broker-wide
/// setting does not apply here: the only listener is also the
/// inter-broker one, which Kafka exempts from it.)
#[tokio::test]
async fn a_listener_over_the_connection_creation_rate_takes_connections_up_late() {
    let broker = TestBroker::start(&[
        "quota.window.num=2",
        "quota.window.size.seconds=1",
        "max.connection.creation.rate=2",
        "listener.name.plaintext.max.connection.creation.rate=2",
    ]);
    // Let the connections of the start-up check age out of the window.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let results = connect_at_once_waiting(&broker.bootstrap(), 6, Duration::from_secs(30)).await;
    let elapsed = started.elapsed();
    eprintln!("6 connections answered {results:?} in {elapsed:?}");
    assert!(results.iter().all(|&a| a), "{results:?}");
    assert!(
        elapsed >= Duration::from_millis(1500),
        "6 connections at 2 a second were all taken up in {elapsed:?}"
    );
}

/// `/metrics` of the broker's HTTP listener.
fn scrape(broker: &TestBroker) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", broker.http_port)).expect("HTTP listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

/// The value of the sample named exactly `series` (name and labels).
fn metric_value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

/// Throttled answers the client saw: the broker counted at least these.
fn throttled_count_floor(throttles: &[i32]) -> f64 {
    throttles.iter().filter(|&&t| t > 0).count() as f64
}

fn creatable(
    name: &str,
    partitions: i32,
) -> vltava_client::protocol::messages::create_topics_request::CreatableTopic {
    vltava_client::protocol::messages::create_topics_request::CreatableTopic {
        name: name.to_string(),
        num_partitions: partitions,
        replication_factor: -1,
        ..Default::default()
    }
}

/// KIP-599: partitions created or deleted take credits from the client's
/// controller_mutation_rate; a burst goes through, then topics are refused
/// with THROTTLING_QUOTA_EXCEEDED (new request versions) until the credits
/// recover, or let through and throttled (old versions).
#[tokio::test]
async fn topic_mutations_over_the_controller_mutation_rate_are_refused_then_allowed() {
    use vltava_client::protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest};
    let broker = TestBroker::start(&FAST_WINDOWS);
    let mut client = broker.client().await;
    // 1 partition a second; over two one-second samples, a burst of 2.
    set_quota(
        &mut client,
        "client-id",
        "admin",
        "controller_mutation_rate",
        Some(1.0),
    )
    .await;
    // A throttled answer mutes its connection until the credits recover,
    // so each step that must find them overdrawn has a connection of its
    // own (the same client id shares the credits).
    let mut first = connection(&broker, "admin").await;
    let mut second = connection(&broker, "admin").await;
    let mut third = connection(&broker, "admin").await;
    let mut fourth = connection(&broker, "admin").await;
    let create = |names: &[(&str, i32)]| CreateTopicsRequest {
        topics: names.iter().map(|(n, p)| creatable(n, *p)).collect(),
        timeout_ms: 10_000,
        ..Default::default()
    };
    let codes = |r: &vltava_client::protocol::messages::CreateTopicsResponse| {
        let mut c: Vec<(String, i16)> = r
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.error_code))
            .collect();
        c.sort();
        c
    };
    // m1's 2 partitions take the burst; m2's overdraw it and are still
    // allowed (only a mutation on overdrawn credits is refused); m3 is
    // refused, and the request goes on without it.
    let throttled = ErrorCode::THROTTLING_QUOTA_EXCEEDED.code();
    let resp = first
        .send_version(&create(&[("m1", 2), ("m2", 2), ("m3", 1)]), 7)
        .await
        .unwrap();
    assert_eq!(
        codes(&resp),
        vec![("m1".into(), 0), ("m2".into(), 0), ("m3".into(), throttled)]
    );
    assert!(
        resp.throttle_time_ms > 0,
        "overdrawn: the answer is throttled"
    );
    // On another connection of the same client id, at once: refused.
    let resp = second
        .send_version(&create(&[("m4", 1), ("m5", 1)]), 7)
        .await
        .unwrap();
    assert_eq!(
        codes(&resp),
        vec![("m4".into(), throttled), ("m5".into(), throttled)]
    );
    assert!(resp.throttle_time_ms > 0);
    let deleted = third
        .send_version(
            &DeleteTopicsRequest {
                topic_names: vec!["m1".into()],
                timeout_ms: 10_000,
                ..Default::default()
            },
            5,
        )
        .await
        .unwrap();
    assert_eq!(deleted.responses[0].error_code, throttled);
    // CreateTopics v5 predates the error: let through, and throttled.
    let resp = fourth.send_version(&create(&[("m6", 1)]), 5).await.unwrap();
    assert_eq!(codes(&resp), vec![("m6".into(), 0)]);
    assert!(resp.throttle_time_ms > 0);
    // Once the credits are back, topics are created again: the muted
    // connection is read again just then.
    let resp = fourth.send_version(&create(&[("m7", 1)]), 7).await.unwrap();
    assert_eq!(codes(&resp), vec![("m7".into(), 0)]);
    // Another client id is not held to the quota.
    let mut other = connection(&broker, "other").await;
    let resp = other
        .send_version(&create(&[("o1", 8), ("o2", 8)]), 7)
        .await
        .unwrap();
    assert_eq!(codes(&resp), vec![("o1".into(), 0), ("o2".into(), 0)]);
    assert_eq!(resp.throttle_time_ms, 0);
}

/// Sets (`Some`) or removes (`None`) one key of a one-part quota entity,
/// which must be accepted.
async fn set_quota(
    client: &mut vltava_client::Client,
    entity_type: &str,
    name: &str,
    key: &str,
    value: Option<f64>,
) {
    client
        .alter_client_quotas(
            &[(
                vec![(entity_type.into(), Some(name.into()))],
                vec![(key.into(), value)],
            )],
            false,
        )
        .await
        .unwrap()
        .remove(0)
        .unwrap();
}
