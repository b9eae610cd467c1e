//! The adapter around the transaction coordinator state machine
//! (`vltava-txn`): it owns the coordinator behind a lock, creates and
//! loads `__transaction_state`, appends the coordinator's records before
//! answering, writes the transaction markers to the partitions (directly to
//! the partitions this node leads, by WriteTxnMarkers to the leaders of the
//! others), and aborts transactions past their timeout. A partition leader
//! asks the transactional id's coordinator, wherever it is, whether a
//! transactional write belongs to an ongoing transaction (KIP-890).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Mutex;
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
use super::internal_topics::{self, read_logged_records, InternalTopic};
use super::CoordinatorDeps;
use crate::error::KafkaError;

pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

pub struct TxnService {
    coordinator: Mutex<TransactionCoordinator>,
    /// Serialises creating and loading the topic.
    setup: Mutex<()>,
    /// Set once every partition of the topic is loaded.
    ready: AtomicBool,
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
            setup: Mutex::new(()),
            ready: AtomicBool::new(false),
            deps,
            groups,
        }
    }

    /// Makes sure `__transaction_state` exists and is loaded, and finishes
    /// the transactions that were ending when the broker stopped.
    pub async fn ensure_ready(&self) -> Result<(), KafkaError> {
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let _setup = self.setup.lock().await;
        if self.ready.load(Ordering::Acquire) {
            return Ok(());
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
        let mut coordinator = self.coordinator.lock().await;
        let mut txn_config = coordinator.config().clone();
        if txn_config.partitions != partitions {
            txn_config.partitions = partitions;
            coordinator.set_config(txn_config);
        }
        for p in 0..partitions {
            // Only the partitions this node leads: the others' transactional
            // ids are coordinated by their leaders.
            if coordinator.is_partition_loaded(p)
                || super::partition_leader(&self.deps, TRANSACTION_STATE_TOPIC, p)
                    != Some(self.deps.node_id)
            {
                continue;
            }
            let records = match self.deps.replicas.get(TRANSACTION_STATE_TOPIC, p) {
                Some(partition) => {
                    tokio::task::block_in_place(|| read_logged_records(partition.log()))
                        .map(|r| r.records)
                }
                None => Ok(Vec::new()),
            };
            match records {
                Ok(records) => {
                    let count = records.len();
                    for problem in coordinator.load_partition(p, records) {
                        warn!("{TRANSACTION_STATE_TOPIC}: {problem}");
                    }
                    if count > 0 {
                        info!(
                            partition = p,
                            records = count,
                            "loaded {TRANSACTION_STATE_TOPIC} partition"
                        );
                    }
                }
                Err(e) => {
                    return Err(KafkaError::new(
                        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                        format!("loading {TRANSACTION_STATE_TOPIC}-{p}: {e}"),
                    ))
                }
            }
        }
        let pending = coordinator.pending_completions();
        if !pending.is_empty() {
            info!(
                count = pending.len(),
                "finishing transactions that were ending at the last stop"
            );
            self.finish(&mut coordinator, pending).await;
        }
        self.ready.store(true, Ordering::Release);
        Ok(())
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

    /// The topic is loaded and this node coordinates `transactional_id`
    /// (NOT_COORDINATOR otherwise).
    async fn ensure_coordinator(&self, transactional_id: &str) -> Result<(), ErrorCode> {
        self.ensure_ready().await.map_err(|e| e.code)?;
        let partition = self.partition_for(transactional_id).await;
        super::check_owner(
            &self.deps,
            TRANSACTION_STATE_TOPIC,
            partition,
            &format!("transactional id {transactional_id}"),
        )
        .map_err(|e| e.code)
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
        self.ensure_ready().await.map_err(|e| e.code)?;
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
            if !self.ready.load(Ordering::Acquire) {
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
        if let Err(e) = self.append_records(self.deps.clock.now_ms(), effects.records) {
            warn!("cannot write to {TRANSACTION_STATE_TOPIC}: {e}");
            coordinator.restore(effects.undo);
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
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
            if self.write_markers(clock.now_ms(), &completion).await {
                let effects = coordinator.complete(clock.now_ms(), &completion);
                if let Err(e) = self.append_records(clock.now_ms(), effects.records) {
                    warn!("cannot write to {TRANSACTION_STATE_TOPIC}: {e}");
                    coordinator.restore(effects.undo);
                }
            }
        }
    }

    async fn write_markers(&self, now: i64, c: &Completion) -> bool {
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
            if !write_marker_here(&self.deps, &self.groups, c, topic, *index, now).await {
                all_written = false;
            }
        }
        for (leader, partitions) in remote {
            if !self.write_markers_at(leader, c, partitions).await {
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
                coordinator_epoch: 0,
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

    fn append_records(
        &self,
        now: i64,
        records: Vec<(i32, Bytes, Option<Bytes>)>,
    ) -> Result<(), String> {
        let mut by_partition: HashMap<i32, Vec<(Bytes, Option<Bytes>)>> = HashMap::new();
        for (p, k, v) in records {
            by_partition.entry(p).or_default().push((k, v));
        }
        for (p, records) in by_partition {
            internal_topics::append(
                &self.deps.replicas,
                TRANSACTION_STATE_TOPIC,
                p,
                &records,
                None,
                now,
            )?;
        }
        Ok(())
    }
}

/// Writes one transaction marker to a partition this node hosts (and tells
/// the group coordinator when the partition is one of `__consumer_offsets`):
/// the coordinator's local case, and WriteTxnMarkers from another node's
/// coordinator. Whether it was written (a partition deleted since it joined
/// the transaction counts as written: nothing is left to mark).
pub async fn write_marker_here(
    deps: &CoordinatorDeps,
    groups: &GroupService,
    c: &Completion,
    topic: &str,
    index: i32,
    now: i64,
) -> bool {
    let Some(partition) = deps.replicas.get(topic, index) else {
        warn!(
            topic,
            partition = index,
            "no marker for a partition that no longer exists"
        );
        return true;
    };
    // Kafka writes markers with acks=all: the transaction is complete only
    // once its markers are on every ISR member of their partitions.
    let timeout = deps.metadata.static_config().request_timeout_ms().max(0) as u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(timeout);
    let written = match partition.append_marker(c.producer_id, c.producer_epoch, c.commit, 0, now) {
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
            true
        }
        Err(e) => {
            warn!(
                topic,
                partition = index,
                "cannot write a transaction marker: {e}"
            );
            false
        }
    }
}
