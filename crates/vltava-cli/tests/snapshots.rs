//! Metadata snapshots across real `vltava server` processes (KIP-630): a
//! node is stopped, the others take so many metadata changes (with tiny
//! snapshot thresholds) that their logs start past everything it has, and
//! when it returns it can only catch up by fetching a snapshot
//! (FetchSnapshot), installing it and loading its image.

mod common;

use std::path::Path;
use std::time::Duration;

use common::cluster::{client_of, converged, eventually, topic, Cluster};
use vltava_quorum::disk_log::{parse_snapshot_file_name, DiskLog, DiskLogOptions};
use vltava_raft::{ReplicatedLog, SnapshotId};

/// The snapshot files in a metadata log directory, oldest first.
fn snapshots(dir: &Path) -> Vec<SnapshotId> {
    let mut ids: Vec<SnapshotId> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| parse_snapshot_file_name(&e.ok()?.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_fell_behind_the_log_start_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start_with(
        3,
        0,
        // A snapshot every few changes, and small segments so that the log
        // before a snapshot really goes.
        "metadata.log.max.record.bytes.between.snapshots=1000\n\
         metadata.log.max.snapshot.interval.ms=0\n\
         internal.metadata.log.segment.bytes=4096\n",
    );
    let controller = converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    let victim = if controller == 3 { 2 } else { 3 };
    let survivors: Vec<i32> = (1..=3).filter(|id| *id != victim).collect();

    // The victim stops; what its log holds is all it will have.
    cluster.node(victim).kill9();
    let victim_end = {
        let log = DiskLog::open(
            &cluster.node(victim).metadata_log_dir(),
            DiskLogOptions::default(),
        )
        .expect("the stopped node's metadata log");
        let end = log.end_offset();
        log.close().unwrap();
        end
    };

    // Many changes through the survivors (any of them: the client follows
    // NOT_CONTROLLER to the active one).
    converged(&cluster, &survivors, &survivors).await;
    let names: Vec<String> = (0..60).map(|i| format!("snap-{i:02}")).collect();
    let bootstrap = cluster.node(survivors[0]).bootstrap();
    let mut client = client_of(&bootstrap).await.expect("a client");
    for name in &names {
        client
            .create_topic(&topic(name, 1))
            .await
            .expect("create topic");
    }

    // Every survivor snapshots, and its log now starts past the victim's
    // end: the victim cannot catch up by Fetch alone.
    for id in &survivors {
        let dir = cluster.node(*id).metadata_log_dir();
        eventually(
            Duration::from_secs(20),
            &format!("node {id}'s log to start past {victim_end}"),
            || {
                let dir = dir.clone();
                async move {
                    snapshots(&dir)
                        .last()
                        .filter(|s| s.end_offset > victim_end)
                        .copied()
                }
            },
        )
        .await;
    }

    // The victim returns, fetches a snapshot, loads it and lists every
    // topic, created while it was away.
    cluster.node(victim).start();
    let back = cluster.node(victim).bootstrap();
    let listed = eventually(
        Duration::from_secs(30),
        "the returning node to list every topic",
        || {
            let back = back.clone();
            let names = names.clone();
            async move {
                let mut c = client_of(&back).await?;
                let topics = c.list_topics(false).await.ok()?;
                names.iter().all(|n| topics.contains(n)).then_some(topics)
            }
        },
    )
    .await;
    assert_eq!(listed.len(), names.len(), "{listed:?}");
    // Its log now starts at a snapshot past where it stopped: it was
    // installed from the leader, not rebuilt from its old log.
    let installed = snapshots(&cluster.node(victim).metadata_log_dir());
    assert!(
        installed.iter().any(|s| s.end_offset > victim_end),
        "{installed:?} after stopping at {victim_end}"
    );
    // It registers again and is unfenced: the whole cluster converges.
    converged(&cluster, &[1, 2, 3], &[1, 2, 3]).await;
    for id in 1..=3 {
        assert!(cluster.node(id).is_running(), "node {id} exited");
    }
}
