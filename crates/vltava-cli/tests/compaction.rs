//! Log compaction against a real `vltava server`: the background cleaner
//! keeps the last value of each key, removes tombstones after
//! `delete.retention.ms`, and what it leaves survives a kill -9.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{read_all, TestBroker};
use vltava_client::{Acks, Compression, ConsumedRecord, NewTopic, ProducerRecord};

const TOPIC: &str = "compacted";

/// Base offset of the active (last) segment, from the file names.
fn active_base(broker: &TestBroker) -> i64 {
    let files = broker.segment_files(TOPIC, 0);
    let last: &Path = files.last().expect("segments");
    last.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn key(k: usize) -> Bytes {
    Bytes::from(format!("key-{k:02}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cleaner_keeps_the_last_value_of_each_key_and_drops_old_tombstones() {
    let mut broker = TestBroker::start(&["log.cleaner.backoff.ms=100"]);
    let mut client = broker.client().await;
    let mut topic = NewTopic::new(TOPIC);
    topic.num_partitions = Some(1);
    topic.configs = [
        ("cleanup.policy", "compact"),
        // Small segments (Kafka's internal.segment.bytes, below the 1 MiB
        // minimum of segment.bytes) so there is something to clean.
        ("internal.segment.bytes", "4096"),
        ("min.cleanable.dirty.ratio", "0.01"),
        ("delete.retention.ms", "1000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    client.create_topic(&topic).await.expect("create topic");

    // 30 rounds over 10 keys; key 3 is deleted in round 20 and never
    // written again.
    let mut latest: HashMap<Bytes, Option<Bytes>> = HashMap::new();
    for round in 0..30 {
        let batch: Vec<ProducerRecord> = (0..10)
            .filter(|&k| !(k == 3 && round > 20))
            .map(|k| {
                let value = if k == 3 && round == 20 {
                    None
                } else {
                    Some(Bytes::from(format!("round-{round}-{}", "v".repeat(40))))
                };
                latest.insert(key(k), value.clone());
                ProducerRecord {
                    key: Some(key(k)),
                    value,
                    ..ProducerRecord::default()
                }
            })
            .collect();
        client
            .produce(TOPIC, 0, &batch, Acks::All, Compression::Lz4)
            .await
            .unwrap();
    }
    let produced = read_all(&mut client, TOPIC, 0, 0).await;
    let active = active_base(&broker);
    assert!(active > 0, "the log rolled");

    // Wait for the cleaner: below the active segment, one record per key,
    // and key 3's tombstone gone once delete.retention.ms has passed.
    let deadline = Instant::now() + Duration::from_secs(30);
    let compacted = loop {
        let now = read_all(&mut client, TOPIC, 0, 0).await;
        let below: Vec<&ConsumedRecord> = now.iter().filter(|r| r.offset < active).collect();
        let mut keys: Vec<&Bytes> = below.iter().map(|r| r.key.as_ref().unwrap()).collect();
        keys.sort();
        keys.dedup();
        let unique = keys.len() == below.len();
        let tombstone_gone = !now
            .iter()
            .any(|r| r.key.as_ref() == Some(&key(3)) && r.offset < active);
        if unique && tombstone_gone {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted in time: {} records",
            now.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // What is left: every record of the active segment, and below it
    // exactly the last record of each key that has none in the active
    // segment, unless that record is key 3's (expired) tombstone.
    let mut last_below: HashMap<Bytes, i64> = HashMap::new();
    for r in produced.iter().filter(|r| r.offset < active) {
        last_below.insert(r.key.clone().unwrap(), r.offset);
    }
    let expected: Vec<(i64, Option<Bytes>, Option<Bytes>)> = produced
        .iter()
        .filter(|r| {
            r.offset >= active
                || (last_below[r.key.as_ref().unwrap()] == r.offset && r.value.is_some())
        })
        .map(|r| (r.offset, r.key.clone(), r.value.clone()))
        .collect();
    let got: Vec<(i64, Option<Bytes>, Option<Bytes>)> = compacted
        .iter()
        .map(|r| (r.offset, r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(got, expected);
    assert!(got.len() < produced.len());
    // Every key reads its latest value: a consumer that replays the topic
    // builds the same table.
    let mut table: HashMap<Bytes, Option<Bytes>> = HashMap::new();
    for (_, k, v) in &got {
        table.insert(k.clone().unwrap(), v.clone());
    }
    for (k, v) in &latest {
        match v {
            Some(v) => assert_eq!(table.get(k), Some(&Some(v.clone())), "{k:?}"),
            None => assert!(
                table.get(k).is_none_or(|v| v.is_none()),
                "{k:?} was deleted"
            ),
        }
    }

    // The cleaned log survives a kill -9 and recovery.
    broker.kill9();
    broker.restart();
    let mut client = broker.client().await;
    let after = read_all(&mut client, TOPIC, 0, 0).await;
    let after: Vec<(i64, Option<Bytes>, Option<Bytes>)> = after
        .iter()
        .map(|r| (r.offset, r.key.clone(), r.value.clone()))
        .collect();
    assert_eq!(after, got);
    // Appends go on at the same log end.
    let next = client
        .produce(
            TOPIC,
            0,
            &[ProducerRecord {
                key: Some(key(0)),
                value: Some(Bytes::from_static(b"after restart")),
                ..ProducerRecord::default()
            }],
            Acks::All,
            Compression::None,
        )
        .await
        .unwrap();
    assert_eq!(next, produced.last().unwrap().offset + 1);
}

fn offsets_topic_bytes(broker: &TestBroker) -> u64 {
    broker
        .segment_files("__consumer_offsets", 0)
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum()
}

/// How many records partition 0 of `__consumer_offsets` holds, read from
/// its start.
async fn offsets_topic_records(client: &mut vltava_client::Client) -> usize {
    let mut offset = 0;
    let mut count = 0;
    loop {
        let read = client
            .fetch("__consumer_offsets", 0, offset, 0, 1 << 20)
            .await
            .expect("fetch __consumer_offsets");
        count += read.records.len();
        if read.next_offset >= read.high_watermark || read.next_offset == offset {
            return count;
        }
        offset = read.next_offset;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_survive_compaction_of_the_offsets_topic() {
    let mut broker = TestBroker::start(&[
        "log.cleaner.backoff.ms=100",
        "offsets.topic.num.partitions=1",
        "offsets.topic.segment.bytes=4096",
    ]);
    let mut client = broker.client().await;
    let mut topic = NewTopic::new("data");
    topic.num_partitions = Some(1);
    client.create_topic(&topic).await.expect("create topic");

    // Two groups commit 300 times each: 600 records for 2 keys.
    for i in 0..300i64 {
        for group in ["g1", "g2"] {
            client
                .commit_offsets(
                    group,
                    &[vltava_client::OffsetToCommit {
                        topic: "data".into(),
                        partition: 0,
                        offset: i,
                        leader_epoch: -1,
                        metadata: Some(format!("{group}-{i}")),
                    }],
                )
                .await
                .unwrap();
        }
    }
    assert!(broker.segment_files("__consumer_offsets", 0).len() > 2);
    // Counted in records, not bytes: the cleaner runs while the commits are
    // still being made, so the bytes on disk after the loop are no fixed
    // baseline (a slow machine showed a third of them, already cleaned),
    // while the 600 records appended are.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = offsets_topic_records(&mut client).await;
        // Each group's last commit stays.
        assert!(left >= 2, "only {left} records left in __consumer_offsets");
        if left * 4 <= 600 {
            eprintln!("__consumer_offsets compacted to {left} of 600 records");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "__consumer_offsets not compacted: {left} of 600 records left ({} bytes)",
            offsets_topic_bytes(&broker)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let check = |committed: Vec<vltava_client::CommittedOffset>, group: &str| {
        assert_eq!(committed.len(), 1, "{committed:?}");
        assert_eq!(committed[0].offset, Some(299));
        assert_eq!(
            committed[0].metadata.as_deref(),
            Some(format!("{group}-299").as_str())
        );
    };
    for group in ["g1", "g2"] {
        check(client.fetch_offsets(group, None).await.unwrap(), group);
    }
    // The coordinator rebuilds the same state from the compacted topic.
    broker.kill9();
    broker.restart();
    let mut client = broker.client().await;
    for group in ["g1", "g2"] {
        check(client.fetch_offsets(group, None).await.unwrap(), group);
    }
}
