//! The adapter around the group coordinator state machine
//! (`vltava-group`): it owns the coordinator behind a lock, turns its
//! delayed answers into awaited futures, appends its records to
//! `__consumer_offsets` before releasing the answers that depend on them,
//! drives its timers from real time, and creates and loads the offsets topic.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{oneshot, Mutex, Notify};
use tracing::{info, warn};
use vltava_group::{CoordinatorConfig, Effects, GroupCoordinator, Reply, ReplyId};
use vltava_metadata::controller::NewTopic;
use vltava_protocol::ErrorCode;
use vltava_records::RecordBatchBuilder;

use crate::state::{now_ms, Broker};

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

struct Inner {
    coordinator: GroupCoordinator,
    waiting: HashMap<ReplyId, oneshot::Sender<Reply>>,
    next_reply: ReplyId,
}

pub struct GroupService {
    inner: Mutex<Inner>,
    /// Wakes the timer task when a call may have moved the next deadline.
    changed: Notify,
    /// Serialises creating and loading the offsets topic.
    setup: Mutex<()>,
    /// Set once every partition of the offsets topic is loaded: the fast
    /// path of `ensure_ready` for every later group request.
    ready: std::sync::atomic::AtomicBool,
}

pub fn coordinator_config(config: &vltava_config::BrokerConfig) -> CoordinatorConfig {
    CoordinatorConfig {
        partitions: config.offsets_topic_num_partitions(),
        min_session_timeout_ms: config.group_min_session_timeout_ms(),
        max_session_timeout_ms: config.group_max_session_timeout_ms(),
        initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms(),
        max_group_size: config.group_max_size().max(1) as usize,
        offsets_retention_ms: config.offsets_retention_ms(),
        max_metadata_bytes: config.offset_metadata_max_bytes().max(0) as usize,
    }
}

impl GroupService {
    pub fn new(config: CoordinatorConfig, id_seed: u64) -> GroupService {
        GroupService {
            inner: Mutex::new(Inner {
                coordinator: GroupCoordinator::new(config, id_seed),
                waiting: HashMap::new(),
                next_reply: 1,
            }),
            changed: Notify::new(),
            setup: Mutex::new(()),
            ready: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Makes sure `__consumer_offsets` exists and every partition of it is
    /// loaded into the coordinator. Called by FindCoordinator and by every
    /// group request (a no-op once done).
    pub async fn ensure_ready(&self, broker: &Broker) -> Result<(), (ErrorCode, String)> {
        if self.ready.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let _setup = self.setup.lock().await;
        let image = broker.image();
        let partitions = match image.topic(OFFSETS_TOPIC) {
            Some(t) => t.partitions.len() as i32,
            None => {
                let config = broker.config();
                let brokers = image.brokers.len() as i16;
                let rf = config.offsets_topic_replication_factor();
                if rf > brokers {
                    return Err((
                        ErrorCode::COORDINATOR_NOT_AVAILABLE,
                        format!("offsets.topic.replication.factor is {rf} but only {brokers} broker(s) are registered"),
                    ));
                }
                let topic = NewTopic {
                    name: OFFSETS_TOPIC.into(),
                    num_partitions: config.offsets_topic_num_partitions(),
                    replication_factor: rf,
                    ..Default::default()
                };
                let configs = vec![
                    ("cleanup.policy".to_string(), Some("compact".to_string())),
                    ("compression.type".to_string(), Some("producer".to_string())),
                    (
                        "segment.bytes".to_string(),
                        Some(config.offsets_topic_segment_bytes().to_string()),
                    ),
                ];
                match broker.create_topic(topic, configs, false).await {
                    Ok(created) => {
                        info!(
                            partitions = created.num_partitions,
                            "created {OFFSETS_TOPIC}"
                        );
                        created.num_partitions
                    }
                    Err((ErrorCode::TOPIC_ALREADY_EXISTS, _)) => broker
                        .image()
                        .topic(OFFSETS_TOPIC)
                        .map_or(0, |t| t.partitions.len() as i32),
                    Err((code, message)) => {
                        return Err((
                            ErrorCode::COORDINATOR_NOT_AVAILABLE,
                            format!("cannot create {OFFSETS_TOPIC}: {code}: {message}"),
                        ))
                    }
                }
            }
        };
        let mut inner = self.inner.lock().await;
        let mut config = inner.coordinator.config().clone();
        if config.partitions != partitions {
            // The topic's real partition count decides where groups live.
            config.partitions = partitions;
            inner.coordinator.set_config(config);
        }
        for p in 0..partitions {
            if inner.coordinator.is_partition_loaded(p) {
                continue;
            }
            let records = match broker.replicas.get(OFFSETS_TOPIC, p) {
                Some(partition) => tokio::task::block_in_place(|| read_key_values(partition.log())),
                None => Ok(Vec::new()),
            };
            match records {
                Ok(records) => {
                    let count = records.len();
                    for problem in inner.coordinator.load_partition(p, records, now_ms()) {
                        warn!("{problem}");
                    }
                    if count > 0 {
                        info!(
                            partition = p,
                            records = count,
                            "loaded {OFFSETS_TOPIC} partition"
                        );
                    }
                }
                Err(e) => {
                    return Err((
                        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                        format!("loading {OFFSETS_TOPIC}-{p}: {e}"),
                    ))
                }
            }
        }
        self.ready.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Runs `call` on the coordinator with a fresh reply id, applies its
    /// effects, and waits for the answer addressed to that id.
    pub async fn call_delayed(
        &self,
        broker: &Broker,
        call: impl FnOnce(&mut GroupCoordinator, ReplyId) -> Effects,
    ) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.inner.lock().await;
            let id = inner.next_reply;
            inner.next_reply += 1;
            inner.waiting.insert(id, tx);
            let effects = call(&mut inner.coordinator, id);
            apply(broker, &mut inner, effects);
        }
        self.changed.notify_one();
        rx.await.ok()
    }

    /// Runs an immediate call (heartbeat, commit, leave, ...), applying the
    /// records it produced before returning its answer.
    pub async fn call<T>(
        &self,
        broker: &Broker,
        call: impl FnOnce(&mut GroupCoordinator) -> (T, Effects),
    ) -> T {
        let result = {
            let mut inner = self.inner.lock().await;
            let (result, effects) = call(&mut inner.coordinator);
            apply(broker, &mut inner, effects);
            result
        };
        self.changed.notify_one();
        result
    }

    /// Read-only access (OffsetFetch, DescribeGroups, ListGroups).
    pub async fn read<T>(&self, f: impl FnOnce(&GroupCoordinator) -> T) -> T {
        f(&self.inner.lock().await.coordinator)
    }

    /// Drives the coordinator's timers until the broker stops.
    pub async fn run_timers(
        self: Arc<Self>,
        broker: Arc<Broker>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let next = { self.inner.lock().await.coordinator.next_deadline() };
            let now = now_ms();
            // Wake at the next deadline, and at least every second so offset
            // retention is checked.
            let wait = next.map_or(1000, |t| (t - now).clamp(0, 1000)) as u64;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = self.changed.notified() => continue,
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let mut inner = self.inner.lock().await;
            let effects = inner.coordinator.tick(now_ms());
            apply(&broker, &mut inner, effects);
        }
    }
}

/// Appends the records, then releases the answers.
fn apply(broker: &Broker, inner: &mut Inner, effects: Effects) {
    let mut failed = false;
    if !effects.records.is_empty() {
        let mut by_partition: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
        for (p, k, v) in effects.records {
            by_partition.entry(p).or_default().push((k, v));
        }
        let now = now_ms();
        for (p, records) in by_partition {
            if let Err(e) = append(broker, p, &records, now) {
                warn!(partition = p, "cannot write to {OFFSETS_TOPIC}: {e}");
                failed = true;
            }
        }
    }
    for (id, reply) in effects.replies {
        let reply = if failed { fail_reply(reply) } else { reply };
        if let Some(tx) = inner.waiting.remove(&id) {
            // The requester may have gone away; nothing to do then.
            let _ = tx.send(reply);
        }
    }
}

fn fail_reply(reply: Reply) -> Reply {
    match reply {
        Reply::Sync(mut r) if r.error == ErrorCode::NONE => {
            r.error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
            r.assignment = Bytes::new();
            Reply::Sync(r)
        }
        other => other,
    }
}

fn append(
    broker: &Broker,
    partition: i32,
    records: &[(Bytes, Option<Bytes>)],
    now: i64,
) -> Result<(), String> {
    let target = broker
        .replicas
        .get(OFFSETS_TOPIC, partition)
        .ok_or_else(|| format!("{OFFSETS_TOPIC}-{partition} is not hosted here"))?;
    let mut builder = RecordBatchBuilder::new();
    for (k, v) in records {
        builder
            .append(now, Some(k), v.as_deref(), &[])
            .map_err(|e| e.to_string())?;
    }
    let batch = builder.build().map_err(|e| e.to_string())?;
    target
        .append(batch, now)
        .map(|_| ())
        .map_err(|r| format!("{}: {}", r.code, r.message))
}

/// A record's key and value.
type KeyValue = (Option<Bytes>, Option<Bytes>);

/// Every (key, value) of a partition log, in order.
fn read_key_values(log: &vltava_storage::Log) -> Result<Vec<KeyValue>, String> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let read = log
            .read(offset, 1 << 20, end, true)
            .map_err(|e| e.to_string())?;
        if read.records.is_empty() {
            break;
        }
        for batch in vltava_records::BatchSplitter::new(read.records) {
            let batch = batch.map_err(|e| e.to_string())?;
            if batch.is_control() {
                continue;
            }
            for record in batch.records().map_err(|e| e.to_string())? {
                let record = record.map_err(|e| e.to_string())?;
                out.push((record.key, record.value));
            }
        }
        offset = read.next_offset;
    }
    Ok(out)
}
