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
use vltava_protocol::ErrorCode;

use super::internal_topics::{self, read_logged_records, InternalTopic, LoggedRecords};
use super::CoordinatorDeps;
use crate::error::KafkaError;

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
    deps: CoordinatorDeps,
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
    pub fn new(config: CoordinatorConfig, id_seed: u64, deps: CoordinatorDeps) -> GroupService {
        GroupService {
            inner: Mutex::new(Inner {
                coordinator: GroupCoordinator::new(config, id_seed),
                waiting: HashMap::new(),
                next_reply: 1,
            }),
            changed: Notify::new(),
            setup: Mutex::new(()),
            ready: std::sync::atomic::AtomicBool::new(false),
            deps,
        }
    }

    /// Makes sure `__consumer_offsets` exists and every partition of it is
    /// loaded into the coordinator. Called by FindCoordinator and by every
    /// group request (a no-op once done).
    pub async fn ensure_ready(&self) -> Result<(), KafkaError> {
        if self.ready.load(std::sync::atomic::Ordering::Acquire) {
            return Ok(());
        }
        let _setup = self.setup.lock().await;
        let config = self.deps.metadata.config();
        let partitions = internal_topics::ensure(
            &self.deps,
            InternalTopic {
                name: OFFSETS_TOPIC,
                partitions: config.offsets_topic_num_partitions(),
                replication_factor: config.offsets_topic_replication_factor(),
                segment_bytes: config.offsets_topic_segment_bytes(),
                replication_key: "offsets.topic.replication.factor",
            },
        )
        .await?;
        let mut inner = self.inner.lock().await;
        let mut config = inner.coordinator.config().clone();
        if config.partitions != partitions {
            // The topic's real partition count decides where groups live.
            config.partitions = partitions;
            inner.coordinator.set_config(config);
        }
        for p in 0..partitions {
            // Only the partitions this node leads: the others' groups are
            // coordinated by their leaders.
            if inner.coordinator.is_partition_loaded(p)
                || super::partition_leader(&self.deps, OFFSETS_TOPIC, p) != Some(self.deps.node_id)
            {
                continue;
            }
            let records = match self.deps.replicas.get(OFFSETS_TOPIC, p) {
                Some(partition) => {
                    tokio::task::block_in_place(|| read_logged_records(partition.log()))
                }
                None => Ok(LoggedRecords::default()),
            };
            match records {
                Ok(LoggedRecords { records, open }) => {
                    let count = records.len() + open.len();
                    for problem in
                        inner
                            .coordinator
                            .load_partition(p, records, self.deps.clock.now_ms())
                    {
                        warn!("{problem}");
                    }
                    // Offsets committed in transactions still undecided.
                    for (producer_id, (key, value)) in open {
                        if let Err(problem) =
                            inner
                                .coordinator
                                .load_pending_txn_offset(producer_id, key, value)
                        {
                            warn!(
                                "{OFFSETS_TOPIC}-{p}: skipping a transactional record: {problem}"
                            );
                        }
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
                    return Err(KafkaError::new(
                        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                        format!("loading {OFFSETS_TOPIC}-{p}: {e}"),
                    ))
                }
            }
        }
        self.ready.store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Makes sure this node is ready to coordinate `group`: the offsets
    /// topic is loaded and this node leads the group's partition of it
    /// (NOT_COORDINATOR otherwise, which sends the client to
    /// FindCoordinator).
    pub async fn ensure_coordinator(&self, group: &str) -> Result<(), KafkaError> {
        self.ensure_ready().await?;
        let partition = self.read(|c| c.partition_for(group)).await;
        super::check_owner(
            &self.deps,
            OFFSETS_TOPIC,
            partition,
            &format!("group {group}"),
        )
    }

    /// The partition of the offsets topic that holds `group`.
    pub async fn partition_for(&self, group: &str) -> i32 {
        self.read(|c| c.partition_for(group)).await
    }

    /// Runs `call` on the coordinator with a fresh reply id, applies its
    /// effects, and waits for the answer addressed to that id.
    pub async fn call_delayed(
        &self,
        call: impl FnOnce(&mut GroupCoordinator, ReplyId) -> Effects,
    ) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        {
            let mut inner = self.inner.lock().await;
            let id = inner.next_reply;
            inner.next_reply += 1;
            inner.waiting.insert(id, tx);
            let effects = call(&mut inner.coordinator, id);
            apply(&self.deps, &mut inner, effects);
        }
        self.changed.notify_one();
        rx.await.ok()
    }

    /// Runs an immediate call (heartbeat, commit, leave, ...), applying the
    /// records it produced before returning its answer.
    pub async fn call<T>(&self, call: impl FnOnce(&mut GroupCoordinator) -> (T, Effects)) -> T {
        let result = {
            let mut inner = self.inner.lock().await;
            let (result, effects) = call(&mut inner.coordinator);
            apply(&self.deps, &mut inner, effects);
            result
        };
        self.changed.notify_one();
        result
    }

    /// TxnOffsetCommit: runs `call`, then appends its records as a
    /// transactional batch of the producer, so they count only once the
    /// transaction's commit marker follows them. Every offset of a failed
    /// append gets COORDINATOR_NOT_AVAILABLE.
    pub async fn call_transactional(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        call: impl FnOnce(&mut GroupCoordinator) -> (Vec<ErrorCode>, Effects),
    ) -> Vec<ErrorCode> {
        let mut inner = self.inner.lock().await;
        let (mut errors, effects) = call(&mut inner.coordinator);
        let mut by_partition: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
        for (p, k, v) in effects.records {
            by_partition.entry(p).or_default().push((k, v));
        }
        let now = self.deps.clock.now_ms();
        for (p, records) in by_partition {
            if let Err(e) = internal_topics::append(
                &self.deps.replicas,
                OFFSETS_TOPIC,
                p,
                &records,
                Some((producer_id, producer_epoch)),
                now,
            ) {
                warn!(partition = p, "cannot write to {OFFSETS_TOPIC}: {e}");
                for error in errors.iter_mut().filter(|e| **e == ErrorCode::NONE) {
                    *error = ErrorCode::COORDINATOR_NOT_AVAILABLE;
                }
            }
        }
        errors
    }

    /// A transaction marker reached `__consumer_offsets` partition
    /// `partition`: the producer's pending offsets there are decided.
    pub async fn complete_transaction(&self, producer_id: i64, partition: i32, commit: bool) {
        tracing::debug!(
            producer_id,
            partition,
            commit,
            "transaction marker reached __consumer_offsets"
        );
        self.inner.lock().await.coordinator.complete_transaction(
            self.deps.clock.now_ms(),
            producer_id,
            partition,
            commit,
        );
    }

    /// Read-only access (OffsetFetch, DescribeGroups, ListGroups).
    pub async fn read<T>(&self, f: impl FnOnce(&GroupCoordinator) -> T) -> T {
        f(&self.inner.lock().await.coordinator)
    }

    /// Drives the coordinator's timers until the broker stops.
    pub async fn run_timers(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            let next = { self.inner.lock().await.coordinator.next_deadline() };
            let now = self.deps.clock.now_ms();
            // Wake at the next deadline, and at least every second so offset
            // retention is checked.
            let wait = next.map_or(1000, |t| (t - now).clamp(0, 1000)) as u64;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                _ = self.changed.notified() => continue,
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let mut inner = self.inner.lock().await;
            let effects = inner.coordinator.tick(self.deps.clock.now_ms());
            apply(&self.deps, &mut inner, effects);
        }
    }
}

/// Appends the records, then releases the answers.
fn apply(deps: &CoordinatorDeps, inner: &mut Inner, effects: Effects) {
    let mut failed = false;
    if !effects.records.is_empty() {
        let mut by_partition: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
        for (p, k, v) in effects.records {
            by_partition.entry(p).or_default().push((k, v));
        }
        let now = deps.clock.now_ms();
        for (p, records) in by_partition {
            if let Err(e) =
                internal_topics::append(&deps.replicas, OFFSETS_TOPIC, p, &records, None, now)
            {
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
