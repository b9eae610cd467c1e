//! The adapter around the transaction coordinator state machine
//! (`vltava-txn`): it owns the coordinator behind a lock, creates
//! `__transaction_state` and keeps loaded exactly the partitions of it this
//! node leads (loaded from the log in the leader epoch it leads them in,
//! unloaded when it stops leading them: Kafka's `onElection` and
//! `onResignation`), appends the coordinator's records before answering,
//! writes the transaction markers to the partitions (directly to the
//! partitions this node leads, by WriteTxnMarkers to the leaders of the
//! others) with the leader epoch of the transactional id's partition as the
//! coordinator epoch, resumes the transactions a newly loaded partition
//! left ending, and aborts transactions past their timeout. A partition
//! leader asks the transactional id's coordinator, wherever it is, whether
//! a transactional write belongs to an ongoing transaction (KIP-890).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Mutex, Notify};
use tracing::{info, warn};
use vltava_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use vltava_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use vltava_protocol::messages::{AddPartitionsToTxnRequest, WriteTxnMarkersRequest};
use vltava_protocol::ErrorCode;
use vltava_txn::{
    Completion, Effects, InitOutcome, Transaction, TransactionCoordinator, TxnConfig,
};

use super::groups::{GroupService, OFFSETS_TOPIC};
use super::internal_topics::{self, InternalTopic, LogReplay};
use super::{
    leadership, settle_for_request, standing, CoordinatorDeps, Leadership, LoadedEpochs, Standing,
};
use crate::error::KafkaError;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

pub struct TxnService {
    coordinator: Mutex<TransactionCoordinator>,
    /// Serialises creating the topic.
    creating: Mutex<()>,
    /// The topic's partition count once it exists and the coordinator
    /// follows it (0 before).
    partitions: AtomicI32,
    /// Serialises loading and unloading partitions (a request that finds
    /// its partition pending waits for at most `SETTLE_WAIT`).
    loading: Mutex<()>,
    /// The leader epoch each loaded partition was loaded in, which is also
    /// the coordinator epoch of its transactions' markers; changed only
    /// with `coordinator` held.
    loaded: LoadedEpochs,
    /// Partitions loaded (in that epoch) whose ending transactions are
    /// still to be resumed by the leadership task.
    to_resume: std::sync::Mutex<Vec<(i32, i32)>>,
    /// Wakes the leadership task (`run_leadership`).
    resettle: Notify,
    deps: CoordinatorDeps,
    /// Told when a marker reaches `__consumer_offsets`, where it decides
    /// offsets committed in the transaction.
    groups: Arc<GroupService>,
}

pub fn txn_config(config: &vltava_config::BrokerConfig) -> TxnConfig {
    TxnConfig {
        partitions: config.transaction_state_log_num_partitions(),
        max_timeout_ms: config.transaction_max_timeout_ms(),
        id_expiration_ms: config.transactional_id_expiration_ms().into(),
    }
}

impl TxnService {
    pub fn new(config: TxnConfig, deps: CoordinatorDeps, groups: Arc<GroupService>) -> TxnService {
        TxnService {
            coordinator: Mutex::new(TransactionCoordinator::new(config)),
            creating: Mutex::new(()),
            partitions: AtomicI32::new(0),
            loading: Mutex::new(()),
            loaded: LoadedEpochs::default(),
            to_resume: std::sync::Mutex::new(Vec::new()),
            resettle: Notify::new(),
            deps,
            groups,
        }
    }

    /// Makes sure `__transaction_state` exists (creating it at first use)
    /// and the coordinator places ids by its real partition count; returns
    /// that count.
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
                name: TRANSACTION_STATE_TOPIC,
                partitions: config.transaction_state_log_num_partitions(),
                replication_factor: config.transaction_state_log_replication_factor(),
                segment_bytes: config.transaction_state_log_segment_bytes(),
                replication_key: "transaction.state.log.replication.factor",
            },
        )
        .await?;
        self.adopt_partition_count(partitions).await;
        Ok(partitions)
    }

    async fn adopt_partition_count(&self, partitions: i32) {
        if self.partitions.load(Ordering::Acquire) == partitions {
            return;
        }
        let mut coordinator = self.coordinator.lock().await;
        let mut config = coordinator.config().clone();
        if config.partitions != partitions {
            config.partitions = partitions;
            coordinator.set_config(config);
        }
        self.partitions.store(partitions, Ordering::Release);
    }

    fn unsettled(&self, partition: i32) -> bool {
        !leadership(&self.deps, TRANSACTION_STATE_TOPIC, partition)
            .settled(self.loaded.get(partition))
    }

    /// Makes sure the topic exists and exactly its partitions this node
    /// leads are loaded (ListTransactions); COORDINATOR_LOAD_IN_PROGRESS
    /// while one of them is still pending after `SETTLE_WAIT`.
    pub async fn ensure_ready(&self) -> Result<(), KafkaError> {
        let partitions: Vec<i32> = (0..self.ensure_topic().await?).collect();
        super::ready_for_all(
            &self.deps,
            TRANSACTION_STATE_TOPIC,
            &partitions,
            &self.loaded,
            &self.loading,
            |p| self.settle(p),
        )
        .await
    }

    /// FindCoordinator for `transactional_id`: creates the topic at first
    /// use, and wakes the leadership task if the id's partition is not as
    /// this node's leadership wants it. Returns the id's partition.
    pub async fn prepare_for(&self, transactional_id: &str) -> Result<i32, KafkaError> {
        let partitions = self.ensure_topic().await?;
        let partition = vltava_txn::records::partition_for(transactional_id, partitions);
        if self.unsettled(partition) {
            self.resettle.notify_one();
        }
        Ok(partition)
    }

    /// Brings one partition in line with this node's leadership of it:
    /// unloads it if it is loaded in an epoch this node does not lead it in,
    /// and loads it from the log if this node leads it and it is not
    /// loaded; its ending transactions are then resumed by the leadership
    /// task. The caller holds `loading`. Whether the partition is settled.
    async fn settle(&self, partition: i32) -> bool {
        let wanted = leadership(&self.deps, TRANSACTION_STATE_TOPIC, partition);
        let loaded = self.loaded.get(partition);
        if wanted.settled(loaded) {
            return true;
        }
        if let Some(epoch) = loaded {
            let mut coordinator = self.coordinator.lock().await;
            let dropped = coordinator.unload_partition(partition);
            self.loaded.set(partition, None);
            info!(
                partition,
                epoch,
                transactional_ids = dropped,
                "unloaded {TRANSACTION_STATE_TOPIC} partition: this node no longer leads it in that epoch"
            );
        }
        let Leadership::Leads(epoch) = wanted else {
            return wanted.settled(None);
        };
        let Some(log) = self.deps.replicas.get(TRANSACTION_STATE_TOPIC, partition) else {
            return false;
        };
        let started = Instant::now();
        let mut replay = LogReplay::default();
        // Nothing appends to the partition while it is not loaded here, so
        // one read without the coordinator held sees all of it.
        if let Err(e) = tokio::task::block_in_place(|| replay.read_to_end(&log.log())) {
            warn!(
                partition,
                "loading {TRANSACTION_STATE_TOPIC}-{partition}: {e}"
            );
            return false;
        }
        let records = replay.finish().records;
        let count = records.len();
        let mut coordinator = self.coordinator.lock().await;
        if log.leading_epoch() != Some(epoch) {
            return false;
        }
        for problem in coordinator.load_partition(partition, records) {
            warn!("{TRANSACTION_STATE_TOPIC}: {problem}");
        }
        self.loaded.set(partition, Some(epoch));
        let ending = coordinator.pending_completions_in(partition).len();
        drop(coordinator);
        info!(
            partition,
            epoch,
            records = count,
            ending,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded {TRANSACTION_STATE_TOPIC} partition"
        );
        if ending > 0 {
            self.to_resume
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((partition, epoch));
            self.resettle.notify_one();
        }
        true
    }

    /// Every partition in line with this node's leadership; whether all
    /// are settled.
    async fn settle_all(&self) -> bool {
        let Some(partitions) = self
            .deps
            .metadata
            .image()
            .topic(TRANSACTION_STATE_TOPIC)
            .map(|t| t.partitions.len() as i32)
        else {
            return true;
        };
        self.adopt_partition_count(partitions).await;
        let unsettled: Vec<i32> = (0..partitions).filter(|p| self.unsettled(*p)).collect();
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

    /// Finishes the transactions a newly loaded partition left in
    /// PrepareCommit or PrepareAbort (their producers' EndTxn, or a timeout,
    /// was answered or decided under the partition's previous leader), if
    /// the partition is still loaded in that epoch.
    async fn resume(&self, partition: i32, epoch: i32) {
        let mut coordinator = self.coordinator.lock().await;
        if self.loaded.get(partition) != Some(epoch) {
            return;
        }
        let pending = coordinator.pending_completions_in(partition);
        info!(
            partition,
            epoch,
            count = pending.len(),
            "finishing the transactions that were ending under the partition's last leader"
        );
        self.finish(&mut coordinator, pending).await;
    }

    /// Loads and unloads partitions of `__transaction_state` as this
    /// node's leadership of them changes (after every sync of partition
    /// roles with the metadata image), and resumes the ending transactions
    /// of each partition it loads, until the broker stops.
    pub async fn run_leadership(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut roles = self.deps.replicas.roles_changed();
        loop {
            let settled = self.settle_all().await;
            let resumable =
                std::mem::take(&mut *self.to_resume.lock().unwrap_or_else(|e| e.into_inner()));
            for (partition, epoch) in resumable {
                self.resume(partition, epoch).await;
            }
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

    /// What the service works with (WriteTxnMarkers writes markers with it).
    pub fn deps(&self) -> &CoordinatorDeps {
        &self.deps
    }

    /// The partition of `__transaction_state` that holds `transactional_id`.
    pub async fn partition_for(&self, transactional_id: &str) -> i32 {
        self.coordinator
            .lock()
            .await
            .partition_for(transactional_id)
    }

    /// This node coordinates `transactional_id`: it leads the id's
    /// partition of the topic, loaded in the epoch it leads it in
    /// (NOT_COORDINATOR when another node leads it,
    /// COORDINATOR_LOAD_IN_PROGRESS while it loads).
    async fn ensure_coordinator(&self, transactional_id: &str) -> Result<(), ErrorCode> {
        super::check_lease(&self.deps).map_err(|e| e.code)?;
        let partitions = self.ensure_topic().await.map_err(|e| e.code)?;
        let partition = vltava_txn::records::partition_for(transactional_id, partitions);
        let now = leadership(&self.deps, TRANSACTION_STATE_TOPIC, partition);
        if standing(now, self.loaded.get(partition)) == Standing::Pending {
            // The first request to see a leadership change settles it.
            settle_for_request(
                &self.deps,
                TRANSACTION_STATE_TOPIC,
                &[partition],
                &self.loaded,
                &self.loading,
                |p| self.settle(p),
            )
            .await;
        }
        let now = leadership(&self.deps, TRANSACTION_STATE_TOPIC, partition);
        match standing(now, self.loaded.get(partition)) {
            Standing::Ready => Ok(()),
            _ => Err(now
                .refusal(
                    TRANSACTION_STATE_TOPIC,
                    partition,
                    &format!("transactional id {transactional_id}"),
                )
                .code),
        }
    }

    /// InitProducerId with a transactional id.
    pub async fn init_producer_id(
        &self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        self.ensure_coordinator(transactional_id).await?;
        let mut coordinator = self.coordinator.lock().await;
        let mut fresh = None;
        loop {
            let (outcome, effects) = coordinator.init_producer_id(
                self.deps.clock.now_ms(),
                transactional_id,
                timeout_ms,
                expected,
                fresh,
            );
            match outcome {
                InitOutcome::NeedProducerId => {
                    fresh = Some(
                        self.deps
                            .channel
                            .allocate_producer_id()
                            .await
                            .map_err(|e| e.code)?,
                    );
                }
                InitOutcome::Ready {
                    producer_id,
                    producer_epoch,
                } => {
                    self.apply(&mut coordinator, effects).await?;
                    return Ok((producer_id, producer_epoch));
                }
                InitOutcome::Error(code) => {
                    // The effects of a fence: the old transaction's abort.
                    self.apply(&mut coordinator, effects).await?;
                    return Err(code);
                }
            }
        }
    }

    /// AddPartitionsToTxn and AddOffsetsToTxn.
    pub async fn add_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> ErrorCode {
        if let Err(code) = self.ensure_coordinator(transactional_id).await {
            return code;
        }
        let mut coordinator = self.coordinator.lock().await;
        let (code, effects) = coordinator.add_partitions(
            self.deps.clock.now_ms(),
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
        );
        match self.apply(&mut coordinator, effects).await {
            Ok(()) => code,
            Err(code) => code,
        }
    }

    /// Whether a transactional produce to `partition` belongs to the
    /// producer's ongoing transaction (see `verify_partition`).
    pub async fn verify_partition(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), ErrorCode> {
        // The coordinator is the leader of the id's partition of
        // __transaction_state; ask it when it is another node.
        if let Some(coordinator) = self.coordinator_node(transactional_id) {
            if coordinator != self.deps.node_id {
                return self
                    .verify_remotely(
                        coordinator,
                        transactional_id,
                        producer_id,
                        producer_epoch,
                        partition,
                    )
                    .await;
            }
        }
        self.ensure_coordinator(transactional_id).await?;
        self.coordinator.lock().await.verify_partition(
            transactional_id,
            producer_id,
            producer_epoch,
            partition,
        )
    }

    /// The node coordinating `transactional_id` per the published image,
    /// once `__transaction_state` exists.
    fn coordinator_node(&self, transactional_id: &str) -> Option<i32> {
        let image = self.deps.metadata.image();
        let partitions = image.topic(TRANSACTION_STATE_TOPIC)?.partitions.len() as i32;
        let p = vltava_txn::records::partition_for(transactional_id, partitions);
        super::partition_leader(&self.deps, TRANSACTION_STATE_TOPIC, p)
    }

    /// AddPartitionsToTxn v4 with `verify_only` to the coordinator node.
    async fn verify_remotely(
        &self,
        coordinator: i32,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), ErrorCode> {
        let request = AddPartitionsToTxnRequest {
            transactions: vec![AddPartitionsToTxnTransaction {
                transactional_id: transactional_id.to_string(),
                producer_id,
                producer_epoch,
                verify_only: true,
                topics: vec![AddPartitionsToTxnTopic {
                    name: partition.0.clone(),
                    partitions: vec![partition.1],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = self
            .deps
            .peers
            .send(coordinator, &request)
            .await
            .map_err(|_| ErrorCode::NOT_COORDINATOR)?;
        if ErrorCode(response.error_code).is_error() {
            return Err(ErrorCode(response.error_code));
        }
        let code = response
            .results_by_transaction
            .iter()
            .flat_map(|t| &t.topic_results)
            .flat_map(|t| &t.results_by_partition)
            .map(|p| ErrorCode(p.partition_error_code))
            .find(|c| c.is_error());
        match code {
            Some(code) => Err(code),
            None => Ok(()),
        }
    }

    /// EndTxn: answers once every marker is written.
    pub async fn end_txn(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> ErrorCode {
        if let Err(code) = self.ensure_coordinator(transactional_id).await {
            return code;
        }
        let mut coordinator = self.coordinator.lock().await;
        let (code, effects) = coordinator.end_txn(
            self.deps.clock.now_ms(),
            transactional_id,
            producer_id,
            producer_epoch,
            commit,
        );
        match self.apply(&mut coordinator, effects).await {
            Ok(()) => code,
            Err(code) => code,
        }
    }

    /// A copy of one transaction's state (DescribeTransactions).
    pub async fn describe(&self, transactional_id: &str) -> Result<Option<Transaction>, ErrorCode> {
        self.ensure_coordinator(transactional_id).await?;
        Ok(self.coordinator.lock().await.get(transactional_id).cloned())
    }

    /// Copies of every transaction's state (ListTransactions).
    pub async fn list(&self) -> Result<Vec<Transaction>, ErrorCode> {
        self.ensure_ready().await.map_err(|e| e.code)?;
        let mut all: Vec<Transaction> = self
            .coordinator
            .lock()
            .await
            .transactions()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(all)
    }

    /// Aborts timed-out transactions, expires idle transactional ids and
    /// retries unfinished completions, every
    /// transaction.abort.timed.out.transaction.cleanup.interval.ms.
    pub async fn run_timers(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let every = self
            .deps
            .metadata
            .config()
            .transaction_abort_timed_out_transaction_cleanup_interval_ms()
            .max(10) as u64;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(every)) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            if self.partitions.load(Ordering::Acquire) == 0 {
                continue;
            }
            let mut coordinator = self.coordinator.lock().await;
            let effects = coordinator.tick(self.deps.clock.now_ms());
            for c in &effects.completions {
                info!(transactional_id = %c.transactional_id, producer_id = c.producer_id, "aborting a transaction past its timeout");
            }
            if let Err(code) = self.apply(&mut coordinator, effects).await {
                warn!("transaction timeouts: {code}");
            }
            let pending = coordinator.pending_completions();
            self.finish(&mut coordinator, pending).await;
        }
    }

    /// Appends the records (undoing the state change if that fails), then
    /// writes the markers of each completion and completes it.
    async fn apply(
        &self,
        coordinator: &mut TransactionCoordinator,
        effects: Effects,
    ) -> Result<(), ErrorCode> {
        if let Err(e) = self
            .append_records(self.deps.clock.now_ms(), effects.records)
            .await
        {
            warn!("cannot write to {TRANSACTION_STATE_TOPIC}: {e}");
            coordinator.restore(effects.undo);
            return Err(internal_topics::append_error(e.code));
        }
        self.finish(coordinator, effects.completions).await;
        Ok(())
    }

    /// Writes every marker of each completion; completes those whose markers
    /// are all written. The others stay in their Prepare state and are
    /// retried by the timer.
    async fn finish(&self, coordinator: &mut TransactionCoordinator, completions: Vec<Completion>) {
        let clock = &self.deps.clock;
        for completion in completions {
            // Kafka's coordinator epoch: the leader epoch the id's
            // partition is loaded in. Not loaded any more: its new leader
            // finishes the transaction.
            let partition = coordinator.partition_for(&completion.transactional_id);
            let Some(coordinator_epoch) = self.loaded.get(partition) else {
                continue;
            };
            if self
                .write_markers(clock.now_ms(), &completion, coordinator_epoch)
                .await
            {
                let effects = coordinator.complete(clock.now_ms(), &completion);
                if let Err(e) = self.append_records(clock.now_ms(), effects.records).await {
                    warn!("cannot write to {TRANSACTION_STATE_TOPIC}: {e}");
                    coordinator.restore(effects.undo);
                }
            }
        }
    }

    async fn write_markers(&self, now: i64, c: &Completion, coordinator_epoch: i32) -> bool {
        let mut all_written = true;
        // Partitions led elsewhere get their markers by WriteTxnMarkers, one
        // request per leader.
        let mut remote: HashMap<i32, Vec<(String, i32)>> = HashMap::new();
        for (topic, index) in &c.partitions {
            let leader = super::partition_leader(&self.deps, topic, *index);
            match leader {
                Some(l) if l != self.deps.node_id => {
                    remote.entry(l).or_default().push((topic.clone(), *index));
                    continue;
                }
                None if self.deps.metadata.image().topic(topic).is_some() => {
                    warn!(
                        topic,
                        partition = index,
                        "no leader for a transaction marker"
                    );
                    all_written = false;
                    continue;
                }
                _ => {}
            }
            if write_marker_here(
                &self.deps,
                &self.groups,
                c,
                coordinator_epoch,
                topic,
                *index,
                now,
            )
            .await
            .is_err()
            {
                all_written = false;
            }
        }
        for (leader, partitions) in remote {
            if !self
                .write_markers_at(leader, c, coordinator_epoch, partitions)
                .await
            {
                all_written = false;
            }
        }
        all_written
    }

    /// WriteTxnMarkers to `leader` for `partitions`; whether every marker
    /// was written.
    async fn write_markers_at(
        &self,
        leader: i32,
        c: &Completion,
        coordinator_epoch: i32,
        partitions: Vec<(String, i32)>,
    ) -> bool {
        let mut topics: Vec<WritableTxnMarkerTopic> = Vec::new();
        for (topic, index) in partitions {
            match topics.iter_mut().find(|t| t.name == topic) {
                Some(t) => t.partition_indexes.push(index),
                None => topics.push(WritableTxnMarkerTopic {
                    name: topic,
                    partition_indexes: vec![index],
                    ..Default::default()
                }),
            }
        }
        let request = WriteTxnMarkersRequest {
            markers: vec![WritableTxnMarker {
                producer_id: c.producer_id,
                producer_epoch: c.producer_epoch,
                transaction_result: c.commit,
                topics,
                coordinator_epoch,
                ..Default::default()
            }],
            ..Default::default()
        };
        match self.deps.peers.send(leader, &request).await {
            Ok(response) => {
                let mut ok = true;
                for marker in &response.markers {
                    for t in &marker.topics {
                        for p in &t.partitions {
                            let code = ErrorCode(p.error_code);
                            // A partition deleted since it joined the
                            // transaction needs no marker.
                            if code.is_error() && code != ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
                                warn!(
                                    topic = %t.name,
                                    partition = p.partition_index,
                                    leader,
                                    "transaction marker refused: {code}"
                                );
                                ok = false;
                            }
                        }
                    }
                }
                ok
            }
            Err(e) => {
                warn!(leader, "cannot send transaction markers: {e}");
                false
            }
        }
    }

    /// Appends records to their partitions, each in the leader epoch it
    /// was loaded in, and waits until they are on every ISR member (for at
    /// most request.timeout.ms, as Kafka's transaction coordinator).
    async fn append_records(
        &self,
        now: i64,
        records: Vec<(i32, Bytes, Option<Bytes>)>,
    ) -> Result<(), KafkaError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut by_partition: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
        for (p, k, v) in records {
            by_partition.entry(p).or_default().push((k, v));
        }
        let mut written = Vec::with_capacity(by_partition.len());
        for (p, records) in by_partition {
            written.push(internal_topics::append(
                &self.deps.replicas,
                TRANSACTION_STATE_TOPIC,
                p,
                self.loaded.get(p),
                &records,
                None,
                now,
            )?);
        }
        let timeout = self
            .deps
            .metadata
            .static_config()
            .request_timeout_ms()
            .max(1) as u64;
        internal_topics::wait_replicated(&written, Duration::from_millis(timeout)).await
    }
}

/// Writes one transaction marker to a partition this node hosts (and tells
/// the group coordinator when the partition is one of `__consumer_offsets`):
/// the coordinator's local case, and WriteTxnMarkers from another node's
/// coordinator. `coordinator_epoch` is the leader epoch of the transactional
/// id's partition of `__transaction_state` at its coordinator; the marker
/// carries it. Whether it was written (a partition deleted since it joined
/// the transaction counts as written: nothing is left to mark).
pub async fn write_marker_here(
    deps: &CoordinatorDeps,
    groups: &GroupService,
    c: &Completion,
    coordinator_epoch: i32,
    topic: &str,
    index: i32,
    now: i64,
) -> Result<(), ErrorCode> {
    let Some(partition) = deps.replicas.get(topic, index) else {
        warn!(
            topic,
            partition = index,
            "no marker for a partition that no longer exists"
        );
        return Ok(());
    };
    // Kafka writes markers with acks=all: the transaction is complete only
    // once its markers are on every ISR member of their partitions.
    let timeout = deps.metadata.static_config().request_timeout_ms().max(0) as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout);
    let written = match partition.append_marker(
        c.producer_id,
        c.producer_epoch,
        c.commit,
        coordinator_epoch,
        now,
    ) {
        Ok((offset, epoch)) => partition.wait_committed(epoch, offset + 1, deadline).await,
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            if topic == OFFSETS_TOPIC {
                groups
                    .complete_transaction(c.producer_id, index, c.commit)
                    .await;
            }
            Ok(())
        }
        Err(e) => {
            warn!(
                topic,
                partition = index,
                "cannot write a transaction marker: {e}"
            );
            Err(e.code)
        }
    }
}
