//! Integration tests against real `vltava server` processes: round trips,
//! restarts, crash recovery, segment rolls, retention, DeleteRecords and
//! hostile input. Each test starts its own broker on a free port.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{read_all, TestBroker};
use vltava_client::{
    Acks, Client, Compression, ConsumedRecord, ErrorCode, NewTopic, OffsetSpec, ProducerRecord,
};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn create(client: &mut Client, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name);
    topic.num_partitions = Some(partitions);
    topic.configs = configs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    client.create_topic(&topic).await.expect("create topic");
}

fn record(i: usize) -> ProducerRecord {
    ProducerRecord {
        key: Some(Bytes::from(format!("key-{i}"))),
        value: Some(Bytes::from(format!("value-{i}-{}", "x".repeat(i % 50)))),
        headers: vec![
            ("h".to_string(), Some(Bytes::from(format!("{i}")))),
            ("h".to_string(), None),
            ("trace".to_string(), Some(Bytes::from_static(b"abc"))),
        ],
        timestamp: None,
    }
}

fn assert_records(got: &[ConsumedRecord], first_offset: i64, expected: &[ProducerRecord]) {
    assert_eq!(got.len(), expected.len(), "record count");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!(g.offset, first_offset + i as i64, "dense offsets");
        assert_eq!(g.key, e.key, "key of record {i}");
        assert_eq!(g.value, e.value, "value of record {i}");
        let headers: Vec<(String, Option<Bytes>)> = g
            .headers
            .iter()
            .map(|h| (String::from_utf8(h.key.to_vec()).unwrap(), h.value.clone()))
            .collect();
        assert_eq!(
            headers, e.headers,
            "headers of record {i} (order and duplicates kept)"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_with_every_codec_and_headers() {
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "codecs", 1, &[]).await;
    let mut expected = Vec::new();
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let batch: Vec<ProducerRecord> =
            (expected.len()..expected.len() + 40).map(record).collect();
        let base = client
            .produce("codecs", 0, &batch, Acks::All, codec)
            .await
            .expect("produce");
        assert_eq!(base, expected.len() as i64, "{codec:?} batch base offset");
        expected.extend(batch);
    }
    let got = read_all(&mut client, "codecs", 0, 0).await;
    assert_records(&got, 0, &expected);
    // A fetch from inside a batch returns the rest of it.
    let tail = read_all(&mut client, "codecs", 0, 55).await;
    assert_records(&tail, 55, &expected[55..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn megabyte_fetches_round_trip() {
    // Fetched records are written from the read buffers (vectored writes,
    // partial writes when the socket fills), which are pooled and reused.
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "large", 1, &[]).await;
    let expected: Vec<ProducerRecord> = (0..3000)
        .map(|i| ProducerRecord {
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(vec![(i % 251) as u8; 1000 + i % 7])),
            headers: Vec::new(),
            timestamp: None,
        })
        .collect();
    for chunk in expected.chunks(500) {
        client
            .produce("large", 0, chunk, Acks::Leader, Compression::None)
            .await
            .expect("produce");
    }
    for _ in 0..2 {
        let got = read_all(&mut client, "large", 0, 0).await;
        assert_records(&got, 0, &expected);
    }
    let tail = read_all(&mut client, "large", 0, 2222).await;
    assert_records(&tail, 2222, &expected[2222..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_records_survive_clean_restart_and_kill_9() {
    let mut broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "durable", 2, &[]).await;
    let first: Vec<ProducerRecord> = (0..100).map(record).collect();
    for chunk in first.chunks(10) {
        client
            .produce("durable", 1, chunk, Acks::All, Compression::Lz4)
            .await
            .unwrap();
    }
    drop(client);
    broker.stop();
    broker.restart();
    let mut client = broker.client().await;
    assert_records(&read_all(&mut client, "durable", 1, 0).await, 0, &first);

    let second: Vec<ProducerRecord> = (100..200).map(record).collect();
    for chunk in second.chunks(10) {
        client
            .produce("durable", 1, chunk, Acks::Leader, Compression::None)
            .await
            .unwrap();
    }
    drop(client);
    broker.kill9();
    broker.restart();
    let mut client = broker.client().await;
    let all: Vec<ProducerRecord> = first.iter().chain(&second).cloned().collect();
    assert_records(&read_all(&mut client, "durable", 1, 0).await, 0, &all);
    let next = client
        .produce("durable", 1, &[record(200)], Acks::All, Compression::None)
        .await
        .unwrap();
    assert_eq!(next, 200, "appends continue after the recovered log end");
    // The topic and its other partition came back too.
    assert_eq!(client.partition_count("durable").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn torn_tail_is_truncated_after_kill_9() {
    let mut broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "torn", 1, &[]).await;
    let records: Vec<ProducerRecord> = (0..30).map(record).collect();
    for chunk in records.chunks(3) {
        client
            .produce("torn", 0, chunk, Acks::All, Compression::None)
            .await
            .unwrap();
    }
    drop(client);
    broker.kill9();
    // Half a batch at the end of the active segment, as a write cut short
    // by a crash leaves it: a plausible header whose body never arrived.
    let segment = broker.segment_files("torn", 0).pop().expect("a segment");
    let mut torn = Vec::new();
    torn.extend_from_slice(&30i64.to_be_bytes());
    torn.extend_from_slice(&500i32.to_be_bytes());
    torn.extend_from_slice(&[0, 0, 0, 0, 2, 1, 2, 3]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&torn)
        .unwrap();
    broker.restart();
    let mut client = broker.client().await;
    assert_records(&read_all(&mut client, "torn", 0, 0).await, 0, &records);
    let next = client
        .produce("torn", 0, &[record(30)], Acks::All, Compression::None)
        .await
        .unwrap();
    assert_eq!(next, 30);
    let all = read_all(&mut client, "torn", 0, 0).await;
    assert_eq!(all.len(), 31, "the torn bytes are gone, not served");
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_roll_and_time_retention_deletes_old_ones() {
    let broker = TestBroker::start(&["log.retention.check.interval.ms=200"]);
    let mut client = broker.client().await;
    // Small segments (Kafka's internal.segment.bytes, below segment.bytes'
    // 1 MiB minimum) and one minute of retention.
    create(
        &mut client,
        "aged",
        1,
        &[
            ("internal.segment.bytes", "4096"),
            ("retention.ms", "60000"),
        ],
    )
    .await;
    let old = now_ms() - 2 * 3_600_000;
    for i in 0..40 {
        let batch: Vec<ProducerRecord> = (0..5)
            .map(|j| ProducerRecord {
                timestamp: Some(old + (i * 5 + j) as i64),
                ..ProducerRecord::value(vec![b'o'; 200])
            })
            .collect();
        client
            .produce("aged", 0, &batch, Acks::All, Compression::None)
            .await
            .unwrap();
    }
    // Fresh records in the newest segment keep it (and what follows) alive.
    let fresh: Vec<ProducerRecord> = (0..5)
        .map(|_| ProducerRecord::value(vec![b'n'; 200]))
        .collect();
    let fresh_offset = client
        .produce("aged", 0, &fresh, Acks::All, Compression::None)
        .await
        .unwrap();
    assert_eq!(fresh_offset, 200);

    let deadline = Instant::now() + Duration::from_secs(15);
    let earliest = loop {
        let earliest = client
            .list_offsets("aged", 0, OffsetSpec::Earliest)
            .await
            .unwrap()
            .offset;
        if earliest > 0 || Instant::now() > deadline {
            break earliest;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        earliest > 0,
        "retention never advanced the log start offset"
    );
    assert!(
        earliest <= fresh_offset,
        "retention deleted fresh records (start {earliest})"
    );
    let err = client.fetch("aged", 0, 0, 0, 1 << 20).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE));
    let rest = read_all(&mut client, "aged", 0, earliest).await;
    assert_eq!(rest.last().unwrap().offset, 204);
    assert!(!broker.segment_files("aged", 0).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn size_retention_and_segment_rolls() {
    let broker = TestBroker::start(&["log.retention.check.interval.ms=200"]);
    let mut client = broker.client().await;
    create(
        &mut client,
        "sized",
        1,
        &[
            ("internal.segment.bytes", "4096"),
            ("retention.bytes", "10000"),
        ],
    )
    .await;
    for _ in 0..60 {
        let batch: Vec<ProducerRecord> = (0..4)
            .map(|_| ProducerRecord::value(vec![b's'; 250]))
            .collect();
        client
            .produce("sized", 0, &batch, Acks::All, Compression::None)
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let size: u64 = broker
            .segment_files("sized", 0)
            .iter()
            .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
            .sum();
        let earliest = client
            .list_offsets("sized", 0, OffsetSpec::Earliest)
            .await
            .unwrap()
            .offset;
        if earliest > 0 && size <= 10_000 + 4096 {
            assert!(
                broker.segment_files("sized", 0).len() >= 2,
                "segments rolled"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "size retention did not bring {size} bytes down (start {earliest})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client
            .list_offsets("sized", 0, OffsetSpec::Latest)
            .await
            .unwrap()
            .offset,
        240
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_records_advances_the_log_start_offset() {
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "trim", 1, &[]).await;
    let records: Vec<ProducerRecord> = (0..10).map(record).collect();
    for r in &records {
        client
            .produce(
                "trim",
                0,
                std::slice::from_ref(r),
                Acks::All,
                Compression::None,
            )
            .await
            .unwrap();
    }
    let low = client.delete_records("trim", 0, 6).await.unwrap();
    assert_eq!(low, 6);
    assert_eq!(
        client
            .list_offsets("trim", 0, OffsetSpec::Earliest)
            .await
            .unwrap()
            .offset,
        6
    );
    let err = client.fetch("trim", 0, 3, 0, 1 << 20).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE));
    assert_records(&read_all(&mut client, "trim", 0, 6).await, 6, &records[6..]);
    // Beyond the high watermark is refused.
    let err = client.delete_records("trim", 0, 11).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE));
}

#[tokio::test(flavor = "multi_thread")]
async fn long_poll_fetch_is_woken_by_an_append() {
    let broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "poll", 1, &[]).await;
    let mut fetcher = broker.client().await;
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let fetched = fetcher.fetch("poll", 0, 0, 20_000, 1 << 20).await.unwrap();
        (fetched.records.len(), started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    client
        .produce("poll", 0, &[record(1)], Acks::All, Compression::None)
        .await
        .unwrap();
    let (count, waited) = waiting.await.unwrap();
    assert_eq!(count, 1, "the waiting fetch returned the appended record");
    assert!(
        waited < Duration::from_secs(15),
        "the fetch waited for its timeout ({waited:?}) instead of the append"
    );
}

/// A request frame: size prefix, header v1 (key, version, correlation id,
/// client id), then `body`.
fn frame(api_key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::new();
    msg.extend_from_slice(&api_key.to_be_bytes());
    msg.extend_from_slice(&version.to_be_bytes());
    msg.extend_from_slice(&7i32.to_be_bytes());
    msg.extend_from_slice(&4i16.to_be_bytes());
    msg.extend_from_slice(b"evil");
    msg.extend_from_slice(body);
    let mut out = (msg.len() as i32).to_be_bytes().to_vec();
    out.extend(msg);
    out
}

fn closed_by_broker(mut stream: TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(0) | Err(_))
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_requests_close_only_their_connection() {
    let broker = TestBroker::start(&["socket.request.max.bytes=100000"]);
    // Metadata v4 whose topic count is 2^31-1, backed by one byte.
    let mut stream = TcpStream::connect(broker.bootstrap()).unwrap();
    stream
        .write_all(&frame(3, 4, &[0x7f, 0xff, 0xff, 0xff, 0x00]))
        .unwrap();
    assert!(
        closed_by_broker(stream),
        "the hostile request got an answer"
    );
    // A frame declaring more than socket.request.max.bytes.
    let mut stream = TcpStream::connect(broker.bootstrap()).unwrap();
    stream.write_all(&200_000i32.to_be_bytes()).unwrap();
    assert!(closed_by_broker(stream), "the oversized frame was accepted");
    // An API key that does not exist.
    let mut stream = TcpStream::connect(broker.bootstrap()).unwrap();
    stream.write_all(&frame(999, 0, &[])).unwrap();
    assert!(closed_by_broker(stream));
    // The broker still serves everyone else.
    let mut client = broker.client().await;
    create(&mut client, "still-here", 1, &[]).await;
    assert!(client
        .list_topics(false)
        .await
        .unwrap()
        .contains(&"still-here".to_string()));
}

/// Rewrites the metadata log of a stopped broker in the record encoding
/// Vltava used before it adopted Kafka's metadata records, batch for batch.
fn rewrite_metadata_log_in_legacy_encoding(data_dir: &std::path::Path) {
    use vltava_metadata::records::legacy;
    use vltava_metadata::MetadataRecord;
    use vltava_storage::{Log, LogConfig, LogOpenOptions};

    let dir = data_dir.join("metadata").join("__cluster_metadata-0");
    let open = || Log::open(&dir, LogConfig::default(), LogOpenOptions::default(), 0).unwrap();
    let log = open();
    let mut batches = Vec::new();
    let read = log
        .read(0, i32::MAX as usize, log.log_end_offset(), true)
        .unwrap();
    for batch in vltava_records::BatchSplitter::new(read.records) {
        let batch = batch.unwrap();
        // Logs of that time had no quorum control batches, and no records
        // the old encoding cannot express (broker epochs and fencing).
        if batch.is_control() {
            continue;
        }
        let mut builder = vltava_records::RecordBatchBuilder::new();
        let mut kept = 0;
        for record in batch.records().unwrap() {
            let record = record.unwrap();
            let decoded = MetadataRecord::decode(record.value.unwrap()).unwrap();
            let Ok(old) = legacy::encode(&decoded) else {
                continue;
            };
            builder
                .append(record.timestamp, None, Some(&old), &[])
                .unwrap();
            kept += 1;
        }
        if kept > 0 {
            batches.push(builder.build().unwrap());
        }
    }
    assert!(!batches.is_empty(), "the topic's records at least");
    log.close().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let log = open();
    for batch in batches {
        log.append_as_leader(batch, 0, 0).unwrap();
    }
    log.flush(0).unwrap();
    log.close().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn data_directory_from_before_kafka_metadata_records_is_migrated() {
    let mut broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "old", 3, &[("retention.ms", "123456")]).await;
    let records: Vec<ProducerRecord> = (0..10).map(record).collect();
    client
        .produce("old", 2, &records, Acks::All, Compression::None)
        .await
        .unwrap();
    let before = client.topic_metadata("old").await.unwrap();
    drop(client);
    broker.stop();

    rewrite_metadata_log_in_legacy_encoding(broker.path());
    broker.restart();
    let mut client = broker.client().await;
    let after = client.topic_metadata("old").await.unwrap();
    assert_eq!(after.topic_id, before.topic_id);
    assert_eq!(after.partitions.len(), 3);
    let configs = client
        .describe_configs(&vltava_client::ConfigResource::Topic("old".into()))
        .await
        .unwrap();
    let retention = configs.iter().find(|c| c.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("123456"));
    assert_records(&read_all(&mut client, "old", 2, 0).await, 0, &records);
    // New decisions are appended after the migrated ones and survive a restart.
    create(&mut client, "new", 1, &[]).await;
    drop(client);
    broker.stop();
    assert!(!broker
        .path()
        .join("metadata")
        .join("migration-old")
        .exists());
    assert!(!broker
        .path()
        .join("metadata")
        .join("migration-new")
        .exists());
    broker.restart();
    let mut client = broker.client().await;
    assert_eq!(client.partition_count("old").await.unwrap(), 3);
    assert_eq!(client.partition_count("new").await.unwrap(), 1);
}

/// An idempotent producer (InitProducerId without a transactional id).
async fn init_idempotent_producer(broker: &TestBroker) -> (i64, i16) {
    use vltava_client::protocol::messages::InitProducerIdRequest;
    use vltava_client::{Connection, ConnectionConfig};
    let mut conn = Connection::connect(&broker.bootstrap(), ConnectionConfig::default())
        .await
        .expect("connect");
    let request = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: -1,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let resp = conn.send_version(&request, 4).await.unwrap();
    assert_eq!(ErrorCode(resp.error_code), ErrorCode::NONE);
    (resp.producer_id, resp.producer_epoch)
}

/// `count` records of producer `pid` from sequence `seq`.
fn idempotent_batch(pid: i64, epoch: i16, seq: i32, count: i32) -> Bytes {
    let mut b = vltava_records::RecordBatchBuilder::new().producer(pid, epoch, seq);
    for i in 0..count {
        let value = format!("idempotent {}", seq + i);
        b.append(now_ms(), None, Some(value.as_bytes()), &[])
            .unwrap();
    }
    b.build().unwrap()
}

/// Producer state survives restarts through `.snapshot` files, however
/// old the producer's last batch: here more than the 16 MiB of log tail
/// the broker scans when it has no snapshot lie after it. After a kill -9
/// (the snapshot of the last segment roll, and the log after it) and after
/// a clean restart (the snapshot taken at shutdown), a retry of the last
/// batch is answered with its original offset and not written again, and a
/// sequence gap is refused (an unknown producer could start anywhere).
/// Without the snapshots, it is unknown.
#[tokio::test(flavor = "multi_thread")]
async fn an_idempotent_producer_older_than_the_scanned_tail_survives_restarts() {
    let mut broker = TestBroker::start(&[]);
    let mut client = broker.client().await;
    create(&mut client, "idem", 1, &[("segment.bytes", "1048576")]).await;
    let (pid, epoch) = init_idempotent_producer(&broker).await;
    let mut offsets = Vec::new();
    for seq in (0..12).step_by(3) {
        let batch = idempotent_batch(pid, epoch, seq, 3);
        offsets.push(
            client
                .produce_batch("idem", 0, batch, Acks::All)
                .await
                .unwrap(),
        );
    }
    assert_eq!(offsets, vec![0, 3, 6, 9]);
    let last = idempotent_batch(pid, epoch, 9, 3);
    // 25 MB of other records after it, ten batches a segment.
    for _ in 0..250 {
        let big = ProducerRecord::value(vec![b'x'; 100_000]);
        client
            .produce("idem", 0, &[big], Acks::Leader, Compression::None)
            .await
            .unwrap();
    }
    let end = 12 + 250;
    let latest = async |client: &mut Client| {
        client
            .list_offsets("idem", 0, OffsetSpec::Latest)
            .await
            .unwrap()
            .offset
    };
    assert_eq!(latest(&mut client).await, end);
    let snapshots = || {
        std::fs::read_dir(broker.partition_dir("idem", 0))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "snapshot")
            })
            .count()
    };
    assert!(snapshots() > 0, "the segment rolls took snapshots");
    drop(client);

    for clean in [false, true] {
        if clean {
            broker.stop();
        } else {
            broker.kill9();
        }
        broker.restart();
        let mut client = broker.client().await;
        let retried = client
            .produce_batch("idem", 0, last.clone(), Acks::All)
            .await
            .unwrap();
        assert_eq!(
            retried, 9,
            "clean={clean}: the retry gets its original offset"
        );
        assert_eq!(
            latest(&mut client).await,
            end,
            "clean={clean}: and is not written again"
        );
        let gap = client
            .produce_batch("idem", 0, idempotent_batch(pid, epoch, 20, 1), Acks::All)
            .await
            .unwrap_err();
        assert_eq!(
            gap.code(),
            Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER),
            "clean={clean}: the producer is known"
        );
    }
    // What the snapshots made the difference for: without them the scan of
    // the log's tail does not reach the producer, which is then unknown
    // and may continue at any sequence (KIP-360).
    broker.stop();
    for entry in std::fs::read_dir(broker.partition_dir("idem", 0)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "snapshot") {
            std::fs::remove_file(path).unwrap();
        }
    }
    broker.restart();
    let mut client = broker.client().await;
    let anywhere = client
        .produce_batch("idem", 0, idempotent_batch(pid, epoch, 20, 1), Acks::All)
        .await
        .unwrap();
    assert_eq!(anywhere, end);
}
