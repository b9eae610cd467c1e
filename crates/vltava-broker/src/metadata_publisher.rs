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
//!
//! # Snapshots (KIP-630)
//!
//! Every node, leader or follower, snapshots its own image: when
//! `metadata.log.max.record.bytes.between.snapshots` bytes of batches were
//! applied since the last snapshot, or `metadata.log.max.snapshot.interval.ms`
//! passed with anything applied since (0 turns the time trigger off). The
//! snapshot is of the published image, which is the image at exactly
//! `Applied::end` (a batch boundary, never past the high watermark); its
//! content is the records that rebuild the image
//! (`MetadataImage::to_snapshot_records`) in Kafka's metadata record framing,
//! as v2 record batches (`batch_codec::snapshot_content`). The quorum stores
//! it and drops the log before it.
//!
//! A read below the log start is answered with the newest snapshot: at
//! start when the log begins at one, and after the quorum installed a
//! leader's snapshot (`QuorumStatus::snapshots_installed` moves and wakes
//! the publisher; the replaced log ended before the snapshot, so the next
//! read is below it). The snapshot's image replaces the image whole and
//! reading goes on from its end offset. A node still loading only syncs
//! once caught up, as above; a loaded node syncs at once.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};
use vltava_config::BrokerConfig;
use vltava_metadata::{MetadataImage, MetadataRecord};
use vltava_quorum::batch_codec;
use vltava_quorum::driver::{CommittedRead, Quorum};
use vltava_raft::BatchKind;

use crate::clock::Clock;
use crate::metadata_cache::MetadataCache;
use crate::replica::{ReplicaManager, SyncScope};

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

/// The topics `records` touch, for a sync of those alone: by name, the id
/// of a removed topic looked up in the image before them (`old`), of a
/// new partition in the image after (`new`). A broker config change moves
/// every topic's defaults: all of them. Records of brokers, producer ids,
/// ACLs, credentials and quotas touch no partition.
fn scope_of(
    old: &MetadataImage,
    new: &MetadataImage,
    records: &[(i64, MetadataRecord)],
) -> SyncScope {
    let mut topics = std::collections::HashSet::new();
    let name_of = |id| {
        new.topic_by_id(id)
            .or_else(|| old.topic_by_id(id))
            .map(|t| t.name.clone())
    };
    for (_, record) in records {
        match record {
            MetadataRecord::Topic { name, .. } => {
                topics.insert(name.clone());
            }
            MetadataRecord::Partition { topic_id, .. }
            | MetadataRecord::PartitionChange { topic_id, .. }
            | MetadataRecord::RemoveTopic { topic_id } => match name_of(topic_id) {
                Some(name) => {
                    topics.insert(name);
                }
                // Not in either image (created and removed within these
                // records): look at everything rather than guess.
                None => return SyncScope::All,
            },
            MetadataRecord::Config {
                resource_type,
                resource_name,
                ..
            } => {
                if *resource_type == vltava_metadata::image::RESOURCE_TOPIC {
                    topics.insert(resource_name.clone());
                } else {
                    return SyncScope::All;
                }
            }
            // A feature (eligible leader replicas) changes how every
            // partition's high watermark moves.
            MetadataRecord::FeatureLevel { .. } => return SyncScope::All,
            // Which directory holds a replica changes nothing a sync does.
            MetadataRecord::AssignDirectories { .. }
            | MetadataRecord::BrokerLogDirs { .. }
            | MetadataRecord::RegisterBroker { .. }
            | MetadataRecord::UnregisterBroker { .. }
            | MetadataRecord::FenceBroker { .. }
            | MetadataRecord::UnfenceBroker { .. }
            | MetadataRecord::BrokerRegistrationChange { .. }
            | MetadataRecord::ProducerIds { .. }
            | MetadataRecord::AccessControlEntry { .. }
            | MetadataRecord::RemoveAccessControlEntry { .. }
            | MetadataRecord::UserScramCredential { .. }
            | MetadataRecord::RemoveUserScramCredential { .. }
            | MetadataRecord::DelegationToken { .. }
            | MetadataRecord::RemoveDelegationToken { .. }
            | MetadataRecord::ClientQuota { .. } => {}
        }
    }
    SyncScope::Topics(topics)
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
    scope: SyncScope,
) {
    let image = metadata.image();
    let config = metadata.config();
    let replicas = replicas.clone();
    let now = clock.now_ms();
    // Creating and deleting logs touches the disk and fsyncs.
    let result = tokio::task::spawn_blocking(move || {
        replicas.sync_scoped(&image, &config, node_id, now, &scope)
    })
    .await;
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
    let mut installed_seen = status.borrow().snapshots_installed;
    let mut applied = Applied::default();
    let mut snapshots = SnapshotSchedule::new(SnapshotPolicy::of(metadata.static_config()));
    loop {
        let installed = status.borrow().snapshots_installed;
        if installed != installed_seen {
            // The quorum replaced this replica's log with a leader's
            // snapshot. The log it replaced ended before the snapshot's end,
            // and nothing past that log was applied, so the read below
            // starts under the new log start and is answered with the
            // snapshot: the image is reloaded from it.
            installed_seen = installed;
            info!(
                applied = applied.end,
                "a metadata snapshot was installed from the leader; reloading from it"
            );
        }
        let read = match quorum.read_committed(applied.end, READ_BYTES).await {
            Ok(read) => read,
            Err(_) => return,
        };
        let batches = match read {
            CommittedRead::Batches(batches) => batches,
            CommittedRead::Snapshot(id, content) => {
                // Decoding and replaying a large snapshot is CPU work.
                let loaded =
                    tokio::task::spawn_blocking(move || image_of_snapshot(content, id.end_offset))
                        .await;
                let image = match loaded {
                    Ok(Ok(image)) => image,
                    Ok(Err(why)) => return stop(&tx, applied, id.end_offset - 1, &why),
                    Err(e) => return stop(&tx, applied, id.end_offset - 1, &e.to_string()),
                };
                info!(
                    end_offset = id.end_offset,
                    epoch = id.epoch,
                    topics = image.topic_count(),
                    brokers = image.brokers.len(),
                    "metadata image loaded from a snapshot"
                );
                // The snapshot replaces the image whole: it is the state at
                // its end offset, whatever this node had applied before.
                metadata.publish(image);
                snapshots.loaded(id.end_offset, id.epoch);
                // A node still loading syncs once it is caught up (the
                // module docs); one that was loaded syncs now, as after any
                // change, since the snapshot is committed metadata.
                if applied.loaded {
                    sync(&metadata, &replicas, node_id, &clock, SyncScope::All).await;
                }
                applied.end = id.end_offset;
                tx.send_replace(applied);
                continue;
            }
        };
        if batches.is_empty() {
            // Marks the status seen: a HW that moved after the read above
            // must be caught by the check below, or the wait would sleep
            // through it until the next change (which may not come).
            let (caught_up, high_watermark) = {
                let s = status.borrow_and_update();
                (
                    s.caught_up && applied.end >= s.high_watermark,
                    s.high_watermark,
                )
            };
            if caught_up && !applied.loaded {
                sync(&metadata, &replicas, node_id, &clock, SyncScope::All).await;
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
            if applied.end < high_watermark.max(status.borrow().high_watermark) {
                // More was committed since the read (or while we synced).
                continue;
            }
            if snapshots.due(applied.end, Instant::now()) {
                snapshot(&quorum, &metadata, &clock, &mut snapshots, applied.end).await;
                continue;
            }
            // Nothing new: wait for the quorum, or for the time trigger of
            // records applied since the last snapshot.
            match snapshots.deadline(applied.end) {
                Some(at) => {
                    tokio::select! {
                        changed = status.changed() => if changed.is_err() { return },
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => {
                    if status.changed().await.is_err() {
                        return;
                    }
                }
            }
            continue;
        }
        if let Some(first) = batches.first() {
            if first.base_offset != applied.end {
                // Records after a gap would apply to an image missing what
                // the gap held.
                let why = format!(
                    "the read from {} began at {}",
                    applied.end, first.base_offset
                );
                return stop(&tx, applied, applied.end, &why);
            }
        }
        let mut records = Vec::new();
        let mut end = applied.end;
        let mut bytes = 0u64;
        let mut epoch = snapshots.epoch;
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
            bytes += batch.size() as u64;
            epoch = batch.epoch;
            end = batch.next_offset();
        }
        tracing::debug!(
            from = applied.end,
            to = end,
            records = records.len(),
            "applying committed metadata records"
        );
        if !records.is_empty() {
            let image = metadata.image();
            let next = match image.apply_all(records.iter().map(|(o, r)| (*o, r))) {
                Ok(next) => next,
                Err(e) => return stop(&tx, applied, records[0].0, &e.to_string()),
            };
            let scope = scope_of(&image, &next, &records);
            metadata.publish(next);
            if applied.loaded {
                sync(&metadata, &replicas, node_id, &clock, scope).await;
            }
        }
        applied.end = end;
        snapshots.applied(bytes, epoch);
        tx.send_replace(applied);
        // After publishing progress, so the controller waiting on it is not
        // held up by the snapshot.
        if snapshots.due(applied.end, Instant::now()) {
            snapshot(&quorum, &metadata, &clock, &mut snapshots, applied.end).await;
        }
    }
}

/// When to snapshot: Kafka's two triggers, read once at start (both
/// settings are read-only).
#[derive(Clone, Copy, Debug)]
struct SnapshotPolicy {
    /// `metadata.log.max.record.bytes.between.snapshots`.
    max_bytes: u64,
    /// `metadata.log.max.snapshot.interval.ms`; `None` for 0 (no time
    /// trigger).
    interval: Option<Duration>,
}

impl SnapshotPolicy {
    fn of(config: &BrokerConfig) -> SnapshotPolicy {
        let interval_ms = config.metadata_log_max_snapshot_interval_ms();
        SnapshotPolicy {
            max_bytes: config
                .metadata_log_max_record_bytes_between_snapshots()
                .max(1) as u64,
            interval: (interval_ms > 0).then(|| Duration::from_millis(interval_ms as u64)),
        }
    }
}

/// What the publisher has applied since its last snapshot (made here, or
/// loaded). Time is the runtime's monotonic clock, not the broker's
/// `Clock`: the trigger needs a timer to sleep on, and a wall clock that
/// jumps must not fire (or starve) it.
#[derive(Debug)]
struct SnapshotSchedule {
    policy: SnapshotPolicy,
    /// Batch bytes applied since the last snapshot (Kafka counts the
    /// committed batches' sizes the same way).
    bytes_since: u64,
    /// The end offset of the last snapshot made or loaded: records up to
    /// here are in one already.
    last_end: i64,
    /// When the last snapshot was made or loaded (or the publisher started).
    last_at: Instant,
    /// The epoch of the last batch applied: a snapshot at `applied.end`
    /// gets it (the raft snapshot id's epoch is the same one), and its
    /// batches carry it as Kafka's do.
    epoch: i32,
}

impl SnapshotSchedule {
    fn new(policy: SnapshotPolicy) -> SnapshotSchedule {
        SnapshotSchedule {
            policy,
            bytes_since: 0,
            last_end: 0,
            last_at: Instant::now(),
            epoch: 0,
        }
    }

    fn applied(&mut self, bytes: u64, epoch: i32) {
        self.bytes_since += bytes;
        self.epoch = epoch;
    }

    fn loaded(&mut self, end: i64, epoch: i32) {
        self.bytes_since = 0;
        self.last_end = end;
        self.last_at = Instant::now();
        self.epoch = epoch;
    }

    /// Whether the image at `end` should be snapshotted now: something was
    /// applied since the last snapshot and one of the triggers fired.
    fn due(&self, end: i64, now: Instant) -> bool {
        end > self.last_end
            && (self.bytes_since >= self.policy.max_bytes
                || self.deadline(end).is_some_and(|at| now >= at))
    }

    /// When the time trigger fires for records applied up to `end`, if it
    /// is on and there are any.
    fn deadline(&self, end: i64) -> Option<Instant> {
        let interval = self.policy.interval?;
        (end > self.last_end).then(|| self.last_at + interval)
    }
}

/// Snapshots the published image, which is the image at exactly `end` (the
/// publisher is its only writer and has applied everything below `end`
/// and nothing more), and hands it to the quorum, which stores it and drops
/// the log prefix it replaces.
async fn snapshot(
    quorum: &Quorum,
    metadata: &Arc<MetadataCache>,
    clock: &Clock,
    schedule: &mut SnapshotSchedule,
    end: i64,
) {
    let image = metadata.image();
    let epoch = schedule.epoch;
    let now_ms = clock.now_ms();
    // Whatever happens below, the next attempt waits for the next trigger:
    // a failure that repeats must not turn the publisher into a busy loop.
    schedule.loaded(end, epoch);
    // Encoding every record of a large image is CPU work.
    let content =
        match tokio::task::spawn_blocking(move || snapshot_content(&image, epoch, now_ms)).await {
            Ok(Ok(content)) => content,
            Ok(Err(e)) => {
                warn!(end_offset = end, "cannot encode a metadata snapshot: {e}");
                return;
            }
            Err(e) => {
                warn!(end_offset = end, "the snapshot encoding task failed: {e}");
                return;
            }
        };
    let size = content.len();
    match quorum.create_snapshot(end, content).await {
        Ok(Some(id)) => info!(
            end_offset = id.end_offset,
            epoch = id.epoch,
            bytes = size,
            "metadata snapshot created"
        ),
        // The quorum already holds a snapshot at or past `end` (one
        // installed from the leader, say): this image is in it.
        Ok(None) => debug!(end_offset = end, "metadata snapshot not needed"),
        // The quorum stopped; the next read says so and ends the task.
        Err(e) => warn!(end_offset = end, "cannot store a metadata snapshot: {e:?}"),
    }
}

/// A snapshot's content for `image` (KIP-630): the records that rebuild
/// it, in Kafka's metadata record framing, as v2 record batches.
pub fn snapshot_content(image: &MetadataImage, epoch: i32, now_ms: i64) -> Result<Bytes, String> {
    let values = image
        .to_snapshot_records()
        .iter()
        .map(MetadataRecord::encode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(batch_codec::snapshot_content(&values, epoch, now_ms))
}

/// The image a snapshot's content holds, at `end_offset`.
pub fn image_of_snapshot(content: Bytes, end_offset: i64) -> Result<MetadataImage, String> {
    let values = batch_codec::snapshot_values(content)
        .map_err(|e| format!("the metadata snapshot ending at {end_offset} is malformed: {e}"))?;
    let records = values
        .into_iter()
        .map(MetadataRecord::decode)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("a record of the metadata snapshot ending at {end_offset}: {e}"))?;
    MetadataImage::from_snapshot_records(&records, end_offset)
        .map_err(|e| format!("the metadata snapshot ending at {end_offset}: {e}"))
}

/// Kafka halts a broker that cannot apply committed metadata; this node
/// stops following instead (it keeps serving its last image, and says why).
fn stop(tx: &watch::Sender<Applied>, mut applied: Applied, offset: i64, why: &str) {
    error!(offset, "cannot apply the committed metadata record at this offset: {why}; metadata updates stop here");
    applied.failed = true;
    tx.send_replace(applied);
}

#[cfg(test)]
mod tests {
    use super::*;
    use vltava_metadata::image::RESOURCE_TOPIC;
    use vltava_protocol::Uuid;

    #[test]
    fn a_sync_looks_at_the_topics_the_records_touched() {
        let a = Uuid([1; 16]);
        let partition = |topic_id| MetadataRecord::Partition {
            topic_id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            removing_replicas: vec![],
            adding_replicas: vec![],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            elr: Vec::new(),
            last_known_elr: Vec::new(),
        };
        let created = vec![
            (
                0,
                MetadataRecord::Topic {
                    name: "a".into(),
                    topic_id: a,
                },
            ),
            (1, partition(a)),
        ];
        let empty = MetadataImage::empty();
        let with_a = empty
            .apply_all(created.iter().map(|(o, r)| (*o, r)))
            .unwrap();
        let names = |list: &[&str]| SyncScope::Topics(list.iter().map(|s| s.to_string()).collect());
        assert_eq!(scope_of(&empty, &with_a, &created), names(&["a"]));
        // Removed: the name comes from the image before.
        let removed = vec![(2, MetadataRecord::RemoveTopic { topic_id: a })];
        let without = with_a
            .apply_all(removed.iter().map(|(o, r)| (*o, r)))
            .unwrap();
        assert_eq!(scope_of(&with_a, &without, &removed), names(&["a"]));
        // A topic's config: that topic; a broker's: everything.
        let topic_config = vec![(
            3,
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "a".into(),
                name: "retention.ms".into(),
                value: Some("1000".into()),
            },
        )];
        assert_eq!(scope_of(&with_a, &with_a, &topic_config), names(&["a"]));
        let broker_config = vec![(
            4,
            MetadataRecord::Config {
                resource_type: vltava_metadata::image::RESOURCE_BROKER,
                resource_name: String::new(),
                name: "log.retention.ms".into(),
                value: Some("1000".into()),
            },
        )];
        assert_eq!(scope_of(&with_a, &with_a, &broker_config), SyncScope::All);
        // A partition of a topic neither image knows: everything.
        let unknown = vec![(5, partition(Uuid([9; 16])))];
        assert_eq!(scope_of(&with_a, &with_a, &unknown), SyncScope::All);
        // Records that touch no partition: nothing.
        let fenced = vec![(6, MetadataRecord::FenceBroker { id: 2, epoch: 7 })];
        assert_eq!(scope_of(&with_a, &with_a, &fenced), names(&[]));
    }

    fn policy(max_bytes: u64, interval_ms: u64) -> SnapshotPolicy {
        SnapshotPolicy {
            max_bytes,
            interval: (interval_ms > 0).then(|| Duration::from_millis(interval_ms)),
        }
    }

    #[test]
    fn the_byte_trigger_fires_once_enough_was_applied() {
        let mut s = SnapshotSchedule::new(policy(1000, 0));
        let now = Instant::now();
        assert!(!s.due(0, now));
        s.applied(999, 1);
        assert!(!s.due(10, now));
        s.applied(1, 2);
        assert!(s.due(11, now));
        assert_eq!(s.epoch, 2);
        // Made (or loaded): nothing is due until more is applied.
        s.loaded(11, 2);
        assert!(!s.due(11, now));
        // Without the time trigger there is never a deadline.
        assert_eq!(s.deadline(20), None);
    }

    #[test]
    fn the_time_trigger_needs_new_records() {
        let mut s = SnapshotSchedule::new(policy(u64::MAX, 50));
        let start = s.last_at;
        let later = start + Duration::from_millis(60);
        // Nothing applied: no deadline, nothing due however long it waits.
        assert_eq!(s.deadline(0), None);
        assert!(!s.due(0, later));
        s.applied(10, 1);
        assert_eq!(s.deadline(5), Some(start + Duration::from_millis(50)));
        assert!(!s.due(5, start + Duration::from_millis(49)));
        assert!(s.due(5, later));
        s.loaded(5, 1);
        assert_eq!(s.deadline(5), None);
    }

    #[test]
    fn the_policy_reads_kafkas_settings() {
        let set = |k: &str, v: &str| (k.to_string(), v.to_string());
        let config = BrokerConfig::from_sources(
            vec![
                set("metadata.log.max.record.bytes.between.snapshots", "123"),
                set("metadata.log.max.snapshot.interval.ms", "0"),
            ],
            vec![],
        )
        .unwrap();
        let p = SnapshotPolicy::of(&config);
        assert_eq!((p.max_bytes, p.interval), (123, None));
        let p = SnapshotPolicy::of(&BrokerConfig::new());
        assert_eq!(p.max_bytes, 20 << 20);
        assert_eq!(p.interval, Some(Duration::from_secs(3600)));
    }

    #[test]
    fn snapshot_content_loads_back_as_the_same_image() {
        let id = Uuid([5; 16]);
        let records = [
            MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid([1; 16]),
                broker_epoch: 0,
                endpoints: vec![],
                rack: None,
                fenced: false,
            },
            MetadataRecord::Topic {
                name: "t".into(),
                topic_id: id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                replicas: vec![1],
                isr: vec![1],
                removing_replicas: vec![],
                adding_replicas: vec![],
                leader: 1,
                leader_epoch: 0,
                partition_epoch: 0,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
            },
            MetadataRecord::Config {
                resource_type: RESOURCE_TOPIC,
                resource_name: "t".into(),
                name: "retention.ms".into(),
                value: Some("1".into()),
            },
        ];
        let image = MetadataImage::empty()
            .apply_all(records.iter().enumerate().map(|(i, r)| (i as i64, r)))
            .unwrap();
        let content = snapshot_content(&image, 3, 1000).unwrap();
        // Kafka's layout: record batches of framed metadata records.
        let batches = batch_codec::decode_batches_bytes(content.clone()).unwrap();
        assert_eq!(batches.len(), 1);
        assert_eq!((batches[0].base_offset, batches[0].epoch), (0, 3));
        let loaded = image_of_snapshot(content.clone(), image.offset + 1).unwrap();
        assert_eq!(loaded, image);
        // Damaged content is refused, not loaded as something else.
        let mut damaged = content.to_vec();
        let n = damaged.len();
        damaged[n - 2] ^= 0xff;
        assert!(image_of_snapshot(Bytes::from(damaged), 4).is_err());
        // The empty image has empty content and loads back empty.
        let empty = snapshot_content(&MetadataImage::empty(), 0, 0).unwrap();
        assert_eq!(image_of_snapshot(empty, 0).unwrap(), MetadataImage::empty());
    }
}
