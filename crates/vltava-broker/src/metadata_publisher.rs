//! Follows the committed metadata log and publishes it: every node, leader
//! or not, reads what the quorum has committed, applies it to its metadata
//! image as a delta (`MetadataImage::apply_all` on the records read, never a
//! replay from the start), publishes the new image in the metadata cache and
//! brings its hosted partitions in line with it (`ReplicaManager::sync`).
//!
//! The first sync waits until the node has *loaded* the metadata: until the
//! quorum says this replica holds everything committed so far
//! (`QuorumStatus::caught_up`) and all of it is applied. Before that the
//! image may be a short prefix of the real one (a node that restarted and
//! has not heard from its leader yet), and a sync would take the logs of
//! topics it has not read about yet for strays and delete them.
//!
//! Progress is published as an [`Applied`] on a watch channel: the
//! controller waits on it so that a change it made is in the image (and the
//! partitions exist) before it answers.

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{error, info, warn};
use vltava_metadata::MetadataRecord;
use vltava_quorum::batch_codec;
use vltava_quorum::driver::{CommittedRead, Quorum};
use vltava_raft::BatchKind;

use crate::clock::Clock;
use crate::metadata_cache::MetadataCache;
use crate::replica::ReplicaManager;

/// Bytes read from the metadata log per step.
const READ_BYTES: usize = 4 << 20;

/// How far the published image has got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Every committed record below this offset is in the published image
    /// (and, once `loaded`, in the hosted partitions).
    pub end: i64,
    /// The node has applied everything committed when it started following
    /// the quorum, and its partitions have been synced with that image.
    pub loaded: bool,
    /// The publisher stopped on a record it could not apply (the log is
    /// inconsistent or was written by something newer); the node keeps its
    /// last image.
    pub failed: bool,
}

/// Starts the publisher task; the receiver follows its progress.
pub fn spawn(
    quorum: Quorum,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    node_id: i32,
    clock: Clock,
) -> watch::Receiver<Applied> {
    let (tx, rx) = watch::channel(Applied::default());
    tokio::spawn(run(quorum, metadata, replicas, node_id, clock, tx));
    rx
}

async fn sync(
    metadata: &Arc<MetadataCache>,
    replicas: &Arc<ReplicaManager>,
    node_id: i32,
    clock: &Clock,
) {
    let image = metadata.image();
    let config = metadata.config();
    let replicas = replicas.clone();
    let now = clock.now_ms();
    // Creating and deleting logs touches the disk and fsyncs.
    let result =
        tokio::task::spawn_blocking(move || replicas.sync(&image, &config, node_id, now)).await;
    match result {
        Ok(Ok(())) => {}
        // A partition whose log cannot be created or deleted is a storage
        // problem of that partition (logged by the sync, retried at the
        // next one), not a reason to stop following the metadata.
        Ok(Err(e)) => warn!("applying metadata to partition logs failed: {e}"),
        Err(e) => warn!("the partition sync task failed: {e}"),
    }
}

async fn run(
    quorum: Quorum,
    metadata: Arc<MetadataCache>,
    replicas: Arc<ReplicaManager>,
    node_id: i32,
    clock: Clock,
    tx: watch::Sender<Applied>,
) {
    let mut status = quorum.status();
    let mut applied = Applied::default();
    loop {
        let read = match quorum.read_committed(applied.end, READ_BYTES).await {
            Ok(read) => read,
            Err(_) => return,
        };
        let batches = match read {
            CommittedRead::Batches(batches) => batches,
            CommittedRead::Snapshot(id, _) => {
                // Nothing takes metadata snapshots yet, so no leader can send
                // one; say so plainly rather than load it wrongly.
                error!(
                    end_offset = id.end_offset,
                    "the metadata log starts at a snapshot, which this version cannot load"
                );
                applied.failed = true;
                tx.send_replace(applied);
                return;
            }
        };
        if batches.is_empty() {
            let caught_up = {
                let s = status.borrow_and_update();
                s.caught_up && applied.end >= s.high_watermark
            };
            if caught_up && !applied.loaded {
                sync(&metadata, &replicas, node_id, &clock).await;
                applied.loaded = true;
                let image = metadata.image();
                info!(
                    offset = applied.end,
                    topics = image.topic_count(),
                    brokers = image.brokers.len(),
                    "metadata loaded"
                );
            }
            tx.send_replace(applied);
            if caught_up && applied.end < status.borrow().high_watermark {
                // More was committed while we synced.
                continue;
            }
            if status.changed().await.is_err() {
                return;
            }
            continue;
        }
        let mut records = Vec::new();
        let mut end = applied.end;
        for batch in &batches {
            if batch.kind == BatchKind::Data {
                match batch_codec::data_values(&batch.payload) {
                    Ok(values) => {
                        for (i, value) in values.into_iter().enumerate() {
                            let offset = batch.base_offset + i as i64;
                            match MetadataRecord::decode(value) {
                                Ok(record) => records.push((offset, record)),
                                Err(e) => {
                                    return stop(&tx, applied, offset, &e.to_string());
                                }
                            }
                        }
                    }
                    Err(e) => return stop(&tx, applied, batch.base_offset, &e.to_string()),
                }
            }
            end = batch.next_offset();
        }
        if !records.is_empty() {
            let image = metadata.image();
            match image.apply_all(records.iter().map(|(o, r)| (*o, r))) {
                Ok(next) => metadata.publish(next),
                Err(e) => return stop(&tx, applied, records[0].0, &e.to_string()),
            }
            if applied.loaded {
                sync(&metadata, &replicas, node_id, &clock).await;
            }
        }
        applied.end = end;
        tx.send_replace(applied);
    }
}

/// Kafka halts a broker that cannot apply committed metadata; this node
/// stops following instead (it keeps serving its last image, and says why).
fn stop(tx: &watch::Sender<Applied>, mut applied: Applied, offset: i64, why: &str) {
    error!(offset, "cannot apply the committed metadata record at this offset: {why}; metadata updates stop here");
    applied.failed = true;
    tx.send_replace(applied);
}
