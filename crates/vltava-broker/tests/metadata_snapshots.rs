//! Metadata snapshots on one node, end to end: with tiny snapshot and
//! segment sizes, creating topics makes the publisher snapshot its image,
//! the quorum drops the log before it (old segments deleted), and a restart
//! loads the snapshot and the log after it back into the same metadata.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vltava_broker::metadata_publisher::image_of_snapshot;
use vltava_broker::Broker;
use vltava_config::BrokerConfig;
use vltava_metadata::controller::NewTopic;
use vltava_metadata::MetadataImage;
use vltava_quorum::disk_log::parse_snapshot_file_name;
use vltava_raft::SnapshotId;

fn config() -> BrokerConfig {
    let set = |k: &str, v: &str| (k.to_string(), v.to_string());
    BrokerConfig::from_sources(
        vec![
            // A snapshot after every few topic creations...
            set("metadata.log.max.record.bytes.between.snapshots", "2000"),
            // ...and one soon after the last change, covering all of it.
            set("metadata.log.max.snapshot.interval.ms", "300"),
            // Segments of a few batches, so that snapshots free whole ones;
            // a batch must fit in one, and a restart writes one that moves
            // the leadership of all 80 partitions (~6 KB).
            set("internal.metadata.log.segment.bytes", "8192"),
        ],
        vec![],
    )
    .unwrap()
}

fn log_dir(data: &Path) -> PathBuf {
    data.join("metadata").join("__cluster_metadata-0")
}

fn files(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(suffix))
        .collect();
    names.sort();
    names
}

fn snapshots(dir: &Path) -> Vec<SnapshotId> {
    files(dir, ".checkpoint")
        .iter()
        .filter_map(|n| parse_snapshot_file_name(n))
        .collect()
}

/// The image a snapshot file holds (after the state machine's voter header).
fn image_in(dir: &Path, id: SnapshotId) -> MetadataImage {
    let name = vltava_quorum::disk_log::snapshot_file_name(id);
    let bytes = bytes::Bytes::from(std::fs::read(dir.join(name)).unwrap());
    let (voters, content) = vltava_raft::decode_snapshot(&bytes).expect("voter header");
    assert_eq!(voters.iter().map(|v| v.id).collect::<Vec<_>>(), vec![1]);
    image_of_snapshot(content, id.end_offset).unwrap()
}

/// The image's records without what a restart changes: the broker's
/// registration, and the leader and partition epochs that its fencing and
/// unfencing bump (its partitions lose their leader and get it back).
fn without_registrations(image: &MetadataImage) -> Vec<vltava_metadata::MetadataRecord> {
    use vltava_metadata::MetadataRecord;
    image
        .to_snapshot_records()
        .into_iter()
        .filter(|r| {
            !matches!(
                r,
                MetadataRecord::RegisterBroker { .. }
                    | MetadataRecord::BrokerRegistrationChange { .. }
                    | MetadataRecord::BrokerLogDirs { .. }
            )
        })
        .map(|r| match r {
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                removing_replicas,
                adding_replicas,
                leader,
                ..
            } => MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                removing_replicas,
                adding_replicas,
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
            other => other,
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn snapshots_cut_the_log_and_a_restart_loads_the_same_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().to_path_buf();
    let dir = log_dir(&data);

    // First run: enough changes for many snapshots.
    let before = runtime().block_on(async {
        let broker = Broker::open(config(), &data).await.unwrap();
        for i in 0..80 {
            let configs = if i % 3 == 0 {
                vec![("retention.ms".to_string(), Some(format!("{}", 1000 + i)))]
            } else {
                vec![]
            };
            broker
                .controller
                .create_topic(
                    NewTopic {
                        name: format!("topic-{i:03}"),
                        num_partitions: 1 + i % 3,
                        replication_factor: 1,
                        ..Default::default()
                    },
                    configs,
                    false,
                )
                .await
                .unwrap();
        }
        let image = broker.metadata.image();
        let end = broker.applied.borrow().end;
        // The time trigger snapshots everything applied, shortly.
        let deadline = Instant::now() + Duration::from_secs(20);
        while snapshots(&dir).last().map(|s| s.end_offset) != Some(end) {
            assert!(
                Instant::now() < deadline,
                "no snapshot at {end}: {:?}",
                snapshots(&dir)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            broker.applied.borrow().end,
            end,
            "nothing else was written meanwhile"
        );
        // The newest snapshot is exactly the image at its end offset.
        let newest = *snapshots(&dir).last().unwrap();
        let mut expected = (*image).clone();
        expected.offset = newest.end_offset - 1;
        assert_eq!(image_in(&dir, newest), expected);
        broker.shutdown().await;
        image
    });
    assert_eq!(before.topic_count(), 80);

    // The log starts at a snapshot: the newest two are kept, and the
    // segments before the latest one are gone.
    let ids = snapshots(&dir);
    assert_eq!(ids.len(), 2, "{ids:?}");
    let segments = files(&dir, ".log");
    assert!(
        !segments.contains(&format!("{:020}.log", 0)),
        "the first segment is deleted: {segments:?}"
    );
    let first_base: i64 = segments[0].trim_end_matches(".log").parse().unwrap();
    assert!(
        first_base > 0 && first_base <= ids[1].end_offset,
        "{segments:?} {ids:?}"
    );

    // Second run: the snapshot and the log after it give the same metadata.
    runtime().block_on(async {
        let broker = Broker::open(config(), &data).await.unwrap();
        let mut applied = broker.applied.clone();
        tokio::time::timeout(Duration::from_secs(20), applied.wait_for(|a| a.loaded))
            .await
            .expect("loaded in time")
            .unwrap();
        let after = broker.metadata.image();
        assert_eq!(
            without_registrations(&after),
            without_registrations(&before)
        );
        assert_eq!(
            after.brokers.keys().collect::<Vec<_>>(),
            before.brokers.keys().collect::<Vec<_>>()
        );
        assert!(!after.brokers[&1].fenced, "the node registered again");
        // Its partitions were synced from the loaded image.
        for topic in before.topics() {
            for p in 0..topic.partitions.len() as i32 {
                assert!(
                    broker.replicas.log_dirs().get_log(&topic.name, p).is_some(),
                    "{}-{p} is hosted",
                    topic.name
                );
            }
        }
        broker.shutdown().await;
    });
}
