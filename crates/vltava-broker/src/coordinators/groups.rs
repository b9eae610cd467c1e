//! The adapter around the group coordinator state machine
//! (`vltava-group`): it owns the coordinator behind a lock, turns its
//! delayed answers into awaited futures, appends its records to
//! `__consumer_offsets` before releasing the answers that depend on them,
//! drives its timers from real time, creates the offsets topic, and keeps
//! loaded exactly the partitions of it this node leads: a partition is
//! loaded from the log when this node becomes its leader, in that leader
//! epoch, and unloaded when it stops leading it (Kafka's `onElection` and
//! `onResignation`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, Mutex, Notify};
use tracing::{info, warn};
use vltava_group::{CoordinatorConfig, Effects, GroupCoordinator, Reply, ReplyId};
use vltava_protocol::ErrorCode;

use super::internal_topics::{self, InternalTopic, LogReplay, LoggedRecords, Written};
use super::{
    leadership, settle_for_request, standing, CoordinatorDeps, Leadership, LoadedEpochs, Standing,
};
use crate::error::KafkaError;

pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Limit on a compiled subscription expression (the `regex` crate's own
/// measure): a client cannot make the coordinator build a huge automaton.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The topics of `image` whose whole name `expression` matches and that
/// `visible` lets through, sorted; an error when it is not a valid
/// expression. Kafka matches subscription expressions (RE2/J syntax,
/// which the `regex` crate shares in what matters here) against whole
/// topic names, internal topics included (an expression that names one,
/// quoted, gets it; clients leave them out of their expressions).
pub(crate) fn matching_topics(
    image: &vltava_metadata::MetadataImage,
    expression: &str,
    visible: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    // Parsed alone first: anchored as written, `a)|(b` would parse and
    // escape the anchors; alone it is the error it is.
    let build = |text: &str| {
        regex::RegexBuilder::new(text)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| e.to_string())
    };
    build(expression)?;
    let regex = build(&format!("^(?:{expression})$"))?;
    // Sorted by name already.
    Ok(image
        .topics()
        .into_iter()
        .filter(|t| regex.is_match(&t.name) && visible(&t.name))
        .map(|t| t.name.clone())
        .collect())
}

/// Every topic of the cluster, for the groups of a partition being
/// loaded: their members' expressions are matched again without a
/// principal at hand (each member's next heartbeat matches its own
/// expression with what its principal may see).
struct ClusterTopics(Arc<vltava_metadata::MetadataImage>);

impl vltava_group::consumer::Topics for ClusterTopics {
    fn lookup(&self, name: &str) -> Option<(vltava_protocol::Uuid, i32)> {
        self.0
            .topic(name)
            .map(|t| (t.id, i32::try_from(t.partitions.len()).unwrap_or(i32::MAX)))
    }

    fn matching(&self, expression: &str) -> Result<Vec<String>, String> {
        matching_topics(&self.0, expression, |_| true)
    }
}

struct Inner {
    coordinator: GroupCoordinator,
    waiting: HashMap<ReplyId, oneshot::Sender<Reply>>,
    next_reply: ReplyId,
}

pub struct GroupService {
    inner: Mutex<Inner>,
    /// Wakes the timer task when a call may have moved the next deadline.
    changed: Notify,
    /// Serialises creating the offsets topic.
    creating: Mutex<()>,
    /// The offsets topic's partition count once it exists and the
    /// coordinator follows it (0 before): the fast path of `ensure_topic`.
    partitions: AtomicI32,
    /// Serialises loading and unloading partitions. A request that finds
    /// its partition pending waits for it for at most `SETTLE_WAIT`, then
    /// is answered COORDINATOR_LOAD_IN_PROGRESS.
    loading: Mutex<()>,
    /// The leader epoch each loaded partition was loaded in; changed only
    /// with `inner` held.
    loaded: LoadedEpochs,
    /// Wakes the leadership task (`run_leadership`).
    resettle: Notify,
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
        consumer: vltava_group::consumer::ConsumerGroupConfig {
            session_timeout_ms: config.group_consumer_session_timeout_ms().max(1),
            heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms().max(1),
            max_size: config.group_consumer_max_size().max(1) as usize,
        },
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
            creating: Mutex::new(()),
            partitions: AtomicI32::new(0),
            loading: Mutex::new(()),
            loaded: LoadedEpochs::default(),
            resettle: Notify::new(),
            deps,
        }
    }

    /// Makes sure `__consumer_offsets` exists (creating it at first use)
    /// and the coordinator places groups by its real partition count;
    /// returns that count.
    pub async fn ensure_topic(&self) -> Result<i32, KafkaError> {
        let known = self.partitions.load(Ordering::Acquire);
        if known > 0 {
            return Ok(known);
        }
        let _creating = self.creating.lock().await;
        let known = self.partitions.load(Ordering::Acquire);
        if known > 0 {
            return Ok(known);
        }
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
        self.adopt_partition_count(partitions).await;
        Ok(partitions)
    }

    /// The topic's real partition count decides where groups live.
    async fn adopt_partition_count(&self, partitions: i32) {
        if self.partitions.load(Ordering::Acquire) == partitions {
            return;
        }
        let mut inner = self.inner.lock().await;
        let mut config = inner.coordinator.config().clone();
        if config.partitions != partitions {
            config.partitions = partitions;
            inner.coordinator.set_config(config);
        }
        self.partitions.store(partitions, Ordering::Release);
    }

    /// Makes sure the offsets topic exists and every partition of it is as
    /// this node's leadership wants it (loaded in the epoch it leads it in,
    /// or not loaded): what requests about every group this node
    /// coordinates need (ListGroups). COORDINATOR_LOAD_IN_PROGRESS while a
    /// partition is still pending after `SETTLE_WAIT`.
    pub async fn ensure_ready(&self) -> Result<(), KafkaError> {
        let partitions: Vec<i32> = (0..self.ensure_topic().await?).collect();
        super::ready_for_all(
            &self.deps,
            OFFSETS_TOPIC,
            &partitions,
            &self.loaded,
            &self.loading,
            |p| self.settle(p),
        )
        .await
    }

    /// Makes sure this node is ready to coordinate `group`: the offsets
    /// topic exists, this node leads the group's partition of it, and the
    /// partition is loaded in the epoch it leads it in (NOT_COORDINATOR
    /// when another node leads it, which sends the client to
    /// FindCoordinator; COORDINATOR_LOAD_IN_PROGRESS while it loads). The
    /// first request to see a leadership change settles the partition.
    pub async fn ensure_coordinator(&self, group: &str) -> Result<(), KafkaError> {
        super::check_lease(&self.deps)?;
        let partitions = self.ensure_topic().await?;
        let partition = vltava_group::records::partition_for_group(group, partitions);
        let now = leadership(&self.deps, OFFSETS_TOPIC, partition);
        if standing(now, self.loaded.get(partition)) == Standing::Pending {
            settle_for_request(
                &self.deps,
                OFFSETS_TOPIC,
                &[partition],
                &self.loaded,
                &self.loading,
                |p| self.settle(p),
            )
            .await;
        }
        let now = leadership(&self.deps, OFFSETS_TOPIC, partition);
        match standing(now, self.loaded.get(partition)) {
            Standing::Ready => Ok(()),
            _ => Err(now.refusal(OFFSETS_TOPIC, partition, &format!("group {group}"))),
        }
    }

    /// FindCoordinator for `group`: creates the offsets topic at first use,
    /// and wakes the leadership task if the group's partition is not as
    /// this node's leadership wants it (the client's next request will
    /// likely come here). Returns the group's partition.
    pub async fn prepare_for(&self, group: &str) -> Result<i32, KafkaError> {
        let partitions = self.ensure_topic().await?;
        let partition = vltava_group::records::partition_for_group(group, partitions);
        if !leadership(&self.deps, OFFSETS_TOPIC, partition).settled(self.loaded.get(partition)) {
            self.resettle.notify_one();
        }
        Ok(partition)
    }

    /// Brings one partition in line with this node's leadership of it:
    /// unloads it if it is loaded in an epoch this node does not lead it in
    /// (members waiting for a join or sync answer get NOT_COORDINATOR), and
    /// loads it from the log if this node leads it and it is not loaded.
    /// The caller holds `loading`. Whether the partition is settled
    /// (false: waiting for the partition's role, or the read failed).
    async fn settle(&self, partition: i32) -> bool {
        let wanted = leadership(&self.deps, OFFSETS_TOPIC, partition);
        let loaded = self.loaded.get(partition);
        if wanted.settled(loaded) {
            return true;
        }
        if let Some(epoch) = loaded {
            let mut inner = self.inner.lock().await;
            let effects = inner.coordinator.unload_partition(partition);
            self.loaded.set(partition, None);
            let answered = effects.replies.len();
            // Answers only: an unload writes nothing.
            let outcome = apply(&self.deps, &self.loaded, &mut inner, effects);
            drop(inner);
            let _ = outcome.finish().await;
            info!(
                partition,
                epoch,
                answered,
                "unloaded {OFFSETS_TOPIC} partition: this node no longer leads it in that epoch"
            );
        }
        let Leadership::Leads(epoch) = wanted else {
            return wanted.settled(None);
        };
        let Some(log) = self.deps.replicas.get(OFFSETS_TOPIC, partition) else {
            return false;
        };
        let started = Instant::now();
        let mut replay = LogReplay::default();
        // The bulk of the log without the coordinator, so the groups of the
        // other partitions are served meanwhile.
        if let Err(e) = tokio::task::block_in_place(|| replay.read_to_end(&log.log())) {
            warn!(partition, "loading {OFFSETS_TOPIC}-{partition}: {e}");
            return false;
        }
        let mut inner = self.inner.lock().await;
        // Then what was appended since (transaction markers), holding the
        // coordinator so that no marker's completion falls in between.
        if let Err(e) = tokio::task::block_in_place(|| replay.read_to_end(&log.log())) {
            warn!(partition, "loading {OFFSETS_TOPIC}-{partition}: {e}");
            return false;
        }
        if log.leading_epoch() != Some(epoch) {
            // Lost again while reading; the next settle sees the new role.
            return false;
        }
        let LoggedRecords { records, open } = replay.finish();
        let count = records.len() + open.len();
        let now = self.deps.clock.now_ms();
        let topics = ClusterTopics(self.deps.metadata.image());
        for problem in inner
            .coordinator
            .load_partition(partition, records, now, &topics)
        {
            warn!("{problem}");
        }
        // Offsets committed in transactions still undecided.
        for (producer_id, (key, value)) in open {
            if let Err(problem) = inner
                .coordinator
                .load_pending_txn_offset(producer_id, key, value)
            {
                warn!("{OFFSETS_TOPIC}-{partition}: skipping a transactional record: {problem}");
            }
        }
        self.loaded.set(partition, Some(epoch));
        drop(inner);
        // Timers of the loaded groups (session expiries) start now.
        self.changed.notify_one();
        info!(
            partition,
            epoch,
            records = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded {OFFSETS_TOPIC} partition"
        );
        true
    }

    /// Every partition in line with this node's leadership; whether all
    /// are settled.
    async fn settle_all(&self) -> bool {
        let Some(partitions) = self
            .deps
            .metadata
            .image()
            .topic(OFFSETS_TOPIC)
            .map(|t| t.partitions.len() as i32)
        else {
            return true;
        };
        self.adopt_partition_count(partitions).await;
        let unsettled: Vec<i32> = (0..partitions)
            .filter(|p| !leadership(&self.deps, OFFSETS_TOPIC, *p).settled(self.loaded.get(*p)))
            .collect();
        if unsettled.is_empty() {
            return true;
        }
        let _loading = self.loading.lock().await;
        let mut all = true;
        for p in unsettled {
            all &= self.settle(p).await;
        }
        all
    }

    /// Loads and unloads partitions of the offsets topic as this node's
    /// leadership of them changes (after every sync of partition roles with
    /// the metadata image), until the broker stops. A partition that could
    /// not be settled is tried again a second later.
    pub async fn run_leadership(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut roles = self.deps.replicas.roles_changed();
        loop {
            let settled = self.settle_all().await;
            let retry = if settled {
                Duration::from_secs(3600)
            } else {
                Duration::from_secs(1)
            };
            tokio::select! {
                changed = roles.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                _ = self.resettle.notified() => {}
                _ = tokio::time::sleep(retry) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
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
        let outcome = {
            let mut inner = self.inner.lock().await;
            let id = inner.next_reply;
            inner.next_reply += 1;
            inner.waiting.insert(id, tx);
            let effects = call(&mut inner.coordinator, id);
            apply(&self.deps, &self.loaded, &mut inner, effects)
        };
        self.changed.notify_one();
        // A failed write fails the answers that depend on it (the own
        // answer among them, if it came with this call).
        let _ = outcome.finish().await;
        rx.await.ok()
    }

    /// Runs an immediate call (heartbeat, commit, leave, ...); returns its
    /// answer once the records it produced are written, or the error the
    /// whole answer becomes when they could not be (Kafka's mapping of
    /// append errors for the group coordinator).
    pub async fn call<T>(
        &self,
        call: impl FnOnce(&mut GroupCoordinator) -> (T, Effects),
    ) -> Result<T, ErrorCode> {
        let (result, outcome, offset_write, consumer_changes) = {
            let mut inner = self.inner.lock().await;
            let (result, mut effects) = call(&mut inner.coordinator);
            let offset_write = effects.offset_write.take();
            let consumer_changes = std::mem::take(&mut effects.consumer_changes);
            (
                result,
                apply(&self.deps, &self.loaded, &mut inner, effects),
                offset_write,
                consumer_changes,
            )
        };
        self.changed.notify_one();
        let written = outcome.finish().await;
        // Committed offsets become readable once replicated, before the
        // committer hears back (so its own OffsetFetch sees them).
        if offset_write.is_some() || (written.is_err() && !consumer_changes.is_empty()) {
            let mut inner = self.inner.lock().await;
            if let Some(w) = offset_write {
                inner.coordinator.offsets_written(w, written.is_ok());
            }
            if written.is_err() {
                inner.coordinator.consumer_records_failed(consumer_changes);
            }
        }
        written.map(|()| result)
    }

    /// TxnOffsetCommit: runs `call`, then appends its records as a
    /// transactional batch of the producer, so they count only once the
    /// transaction's commit marker follows them. Every offset of a failed
    /// write gets the write's error.
    pub async fn call_transactional(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        call: impl FnOnce(&mut GroupCoordinator) -> (Vec<ErrorCode>, Effects),
    ) -> Vec<ErrorCode> {
        let (mut errors, appended) = {
            let mut inner = self.inner.lock().await;
            let (errors, effects) = call(&mut inner.coordinator);
            let appended = append_records(
                &self.deps,
                &self.loaded,
                effects.records,
                Some((producer_id, producer_epoch)),
            );
            (errors, appended)
        };
        let outcome = Outcome {
            appended,
            replies: Vec::new(),
            timeout: commit_timeout(&self.deps),
        };
        if let Err(code) = outcome.finish().await {
            for error in errors.iter_mut().filter(|e| **e == ErrorCode::NONE) {
                *error = code;
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

    /// The leader epoch `partition` is loaded in, if it is loaded.
    pub fn loaded_epoch(&self, partition: i32) -> Option<i32> {
        self.loaded.get(partition)
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
            let mut effects = inner.coordinator.tick(self.deps.clock.now_ms());
            let consumer_changes = std::mem::take(&mut effects.consumer_changes);
            let outcome = apply(&self.deps, &self.loaded, &mut inner, effects);
            drop(inner);
            // The answers of completed joins wait for their records to be
            // replicated; the timers go on meanwhile.
            if !outcome.is_empty() {
                let service = self.clone();
                tokio::spawn(async move {
                    if outcome.finish().await.is_err() && !consumer_changes.is_empty() {
                        let mut inner = service.inner.lock().await;
                        inner.coordinator.consumer_records_failed(consumer_changes);
                    }
                });
            }
        }
    }
}

/// Appends the records and takes the answers out of the waiting list; the
/// answers are sent by `Outcome::finish` once the records are replicated.
fn apply(
    deps: &CoordinatorDeps,
    loaded: &LoadedEpochs,
    inner: &mut Inner,
    effects: Effects,
) -> Outcome {
    // Only `GroupService::call` runs OffsetCommit, and it takes the write
    // out first: one left here would stay invisible to OffsetFetch.
    debug_assert!(
        effects.offset_write.is_none(),
        "offsets written outside call()"
    );
    // Taken out by the callers that can make them, to be handed back if
    // the write fails.
    debug_assert!(
        effects.consumer_changes.is_empty(),
        "consumer group changes nobody hands back"
    );
    for (group, removal) in &effects.consumer_removals {
        match removal {
            vltava_group::consumer::Removal::SessionExpired(member) => info!(
                %group, %member,
                "member removed: no heartbeat within group.consumer.session.timeout.ms"
            ),
            vltava_group::consumer::Removal::RevocationTimedOut(member) => info!(
                %group, %member,
                "member removed: it did not give up its revoked partitions within its rebalance timeout"
            ),
        }
    }
    let appended = append_records(deps, loaded, effects.records, None);
    let replies = effects
        .replies
        .into_iter()
        .filter_map(|(id, reply)| inner.waiting.remove(&id).map(|tx| (tx, reply)))
        .collect();
    Outcome {
        appended,
        replies,
        timeout: commit_timeout(deps),
    }
}

/// How long a coordinator's write may take to reach every ISR member
/// (offsets.commit.timeout.ms, which Kafka's group coordinator uses for
/// all its writes).
fn commit_timeout(deps: &CoordinatorDeps) -> Duration {
    Duration::from_millis(deps.metadata.config().offsets_commit_timeout_ms().max(1) as u64)
}

/// A call's records, appended or refused, and the answers that depend on
/// them.
struct Outcome {
    appended: Result<Vec<Written>, ErrorCode>,
    replies: Vec<(oneshot::Sender<Reply>, Reply)>,
    timeout: Duration,
}

impl Outcome {
    /// Nothing was written and nobody waits for an answer.
    fn is_empty(&self) -> bool {
        self.replies.is_empty() && self.appended.as_ref().is_ok_and(|w| w.is_empty())
    }

    /// Waits until the records are on every ISR member, then sends the
    /// answers (failed ones if the records did not make it); the error for
    /// the caller's own answer if they did not.
    async fn finish(self) -> Result<(), ErrorCode> {
        let written = match self.appended {
            Ok(written) => internal_topics::wait_replicated(&written, self.timeout)
                .await
                .map_err(|e| {
                    warn!("a write to {OFFSETS_TOPIC} was not replicated: {e}");
                    internal_topics::append_error(e.code)
                }),
            Err(code) => Err(code),
        };
        for (tx, reply) in self.replies {
            let reply = match written {
                Ok(()) => reply,
                Err(code) => fail_reply(reply, code),
            };
            // The requester may have gone away; nothing to do then.
            let _ = tx.send(reply);
        }
        written
    }
}

/// Appends records to their partitions of the offsets topic, each in the
/// leader epoch it was loaded in; the error for the answers otherwise.
fn append_records(
    deps: &CoordinatorDeps,
    loaded: &LoadedEpochs,
    records: Vec<(i32, Bytes, Option<Bytes>)>,
    producer: Option<(i64, i16)>,
) -> Result<Vec<Written>, ErrorCode> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_partition: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
    for (p, k, v) in records {
        by_partition.entry(p).or_default().push((k, v));
    }
    let now = deps.clock.now_ms();
    let mut written = Vec::with_capacity(by_partition.len());
    let mut failed = None;
    for (p, records) in by_partition {
        match internal_topics::append(
            &deps.replicas,
            OFFSETS_TOPIC,
            p,
            loaded.get(p),
            &records,
            producer,
            now,
        ) {
            Ok(w) => written.push(w),
            Err(e) => {
                warn!(partition = p, "cannot write to {OFFSETS_TOPIC}: {e}");
                failed = Some(internal_topics::append_error(e.code));
            }
        }
    }
    match failed {
        Some(code) => Err(code),
        None => Ok(written),
    }
}

fn fail_reply(reply: Reply, code: ErrorCode) -> Reply {
    match reply {
        Reply::Sync(mut r) if r.error == ErrorCode::NONE => {
            r.error = code;
            r.assignment = Bytes::new();
            Reply::Sync(r)
        }
        other => other,
    }
}
