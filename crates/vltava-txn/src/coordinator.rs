//! The transaction coordinator: one [`Transaction`] per transactional id of
//! the `__transaction_state` partitions loaded here.
//!
//! Every change of a transaction is a record for `__transaction_state`,
//! returned in [`Effects`]; the caller appends it before answering, and puts
//! the previous state back with [`TransactionCoordinator::restore`] if the
//! append fails. Ending a transaction returns a [`Completion`]: the markers
//! to write to each partition of the transaction, after which the caller
//! calls [`TransactionCoordinator::complete`]. A completion that could not be
//! finished stays in a Prepare state and is offered again by
//! [`TransactionCoordinator::pending_completions`].
//!
//! The rules follow Kafka's `TransactionCoordinator` (error codes included,
//! since producers' retry logic depends on them).

use std::collections::{BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use vltava_protocol::ErrorCode;

use crate::records;

/// The coordinator's settings (broker configs of the same names).
#[derive(Clone, Debug, PartialEq)]
pub struct TxnConfig {
    /// Partitions of `__transaction_state`.
    pub partitions: i32,
    /// transaction.max.timeout.ms: the largest timeout a producer may ask for.
    pub max_timeout_ms: i32,
    /// transactional.id.expiration.ms: an id idle this long is forgotten.
    pub id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            partitions: 50,
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
        }
    }
}

/// Kafka's transaction states, with the ids its log records use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    fn is_prepare(self) -> bool {
        matches!(
            self,
            TxnState::PrepareCommit | TxnState::PrepareAbort | TxnState::PrepareEpochFence
        )
    }
}

/// What the coordinator knows of one transactional id.
#[derive(Clone, Debug, PartialEq)]
pub struct Transaction {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhausted), or -1.
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, or -1: lets a retried InitProducerId
    /// get the same answer (KIP-360).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    /// The partitions of the ongoing (or ending) transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the current transaction began (first partition added), or -1.
    pub start_ms: i64,
    pub last_update_ms: i64,
}

/// The markers that end a transaction: write one to each partition, then
/// call [`TransactionCoordinator::complete`].
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<(String, i32)>,
}

/// What a call produced.
#[derive(Debug, Default)]
pub struct Effects {
    /// (partition of `__transaction_state`, key, value or tombstone).
    pub records: Vec<(i32, Bytes, Option<Bytes>)>,
    pub completions: Vec<Completion>,
    /// The state of each changed transactional id before the call, for
    /// [`TransactionCoordinator::restore`].
    pub undo: Vec<(String, Option<Transaction>)>,
}

/// The answer to InitProducerId.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitOutcome {
    Ready {
        producer_id: i64,
        producer_epoch: i16,
    },
    /// A new producer id is needed: call again with one.
    NeedProducerId,
    Error(ErrorCode),
}

/// Kafka's `isProducerEpochExhausted`: the last two epochs are kept back
/// so that a fence (which bumps the epoch) is always possible.
fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

pub struct TransactionCoordinator {
    config: TxnConfig,
    transactions: HashMap<String, Transaction>,
    loaded: HashSet<i32>,
    /// Time as this coordinator has seen it pass: the sum of the forward
    /// moves of `now` between calls. A wall clock stepped back is not
    /// counted, so a transaction begun before such a step still times out
    /// on time; `start_ms` alone (what the records keep, as Kafka's do)
    /// would keep it open for the size of the step, holding every
    /// read_committed reader of its partitions at the last stable offset.
    elapsed_ms: i64,
    last_now_ms: Option<i64>,
    /// When each transaction began (or was first seen ongoing here), in
    /// `elapsed_ms`; memory only.
    began_at: HashMap<String, i64>,
}

impl TransactionCoordinator {
    pub fn new(config: TxnConfig) -> TransactionCoordinator {
        TransactionCoordinator {
            config,
            transactions: HashMap::new(),
            loaded: HashSet::new(),
            elapsed_ms: 0,
            last_now_ms: None,
            began_at: HashMap::new(),
        }
    }

    /// Advances `elapsed_ms` by how far `now` moved forward since the last
    /// call (nothing when the clock went back) and returns it.
    fn observe(&mut self, now: i64) -> i64 {
        if let Some(last) = self.last_now_ms {
            self.elapsed_ms = self
                .elapsed_ms
                .saturating_add(now.saturating_sub(last).max(0));
        }
        self.last_now_ms = Some(now);
        self.elapsed_ms
    }

    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: TxnConfig) {
        self.config = config;
    }

    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        records::partition_for(transactional_id, self.config.partitions)
    }

    pub fn is_partition_loaded(&self, partition: i32) -> bool {
        self.loaded.contains(&partition)
    }

    fn check_loaded(&self, transactional_id: &str) -> Result<(), ErrorCode> {
        if self.loaded.contains(&self.partition_for(transactional_id)) {
            Ok(())
        } else {
            Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
        }
    }

    pub fn get(&self, transactional_id: &str) -> Option<&Transaction> {
        self.transactions.get(transactional_id)
    }

    pub fn transactions(&self) -> impl Iterator<Item = &Transaction> {
        self.transactions.values()
    }

    /// Replays one partition of `__transaction_state` (records in log
    /// order). Malformed records are skipped and returned as messages for a
    /// log line. Transactions left in a Prepare state are then offered by
    /// `pending_completions`.
    pub fn load_partition(
        &mut self,
        partition: i32,
        records: impl IntoIterator<Item = (Option<Bytes>, Option<Bytes>)>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let partitions = self.config.partitions;
        self.began_at
            .retain(|id, _| records::partition_for(id, partitions) != partition);
        for (key, value) in records {
            let Some(key) = key else {
                problems.push(format!("partition {partition}: a record without a key"));
                continue;
            };
            let id = match records::parse_key(key) {
                Ok(id) => id,
                Err(e) => {
                    problems.push(format!("partition {partition}: skipping a record: {e}"));
                    continue;
                }
            };
            match value {
                None => {
                    self.transactions.remove(&id);
                }
                Some(value) => match records::parse_value(&id, value) {
                    Ok(txn) => {
                        self.transactions.insert(id, txn);
                    }
                    Err(e) => problems.push(format!(
                        "partition {partition}: skipping the record of {id:?}: {e}"
                    )),
                },
            }
        }
        self.loaded.insert(partition);
        problems
    }

    /// Forgets one partition of `__transaction_state`: this broker no
    /// longer coordinates its transactional ids (leadership of the
    /// partition moved, Kafka's `onResignation`). Every transaction of the
    /// partition is dropped, whatever its state: one that was ending is
    /// finished by the partition's new leader, which finds it in a Prepare
    /// state in the log. Until the partition is loaded again its ids get
    /// COORDINATOR_LOAD_IN_PROGRESS here. Returns how many ids were dropped.
    pub fn unload_partition(&mut self, partition: i32) -> usize {
        let partitions = self.config.partitions;
        let before = self.transactions.len();
        self.transactions
            .retain(|id, _| records::partition_for(id, partitions) != partition);
        // What this coordinator saw begin is stale once another leads the
        // partition: a later load times its transactions afresh.
        self.began_at
            .retain(|id, _| records::partition_for(id, partitions) != partition);
        self.loaded.remove(&partition);
        before - self.transactions.len()
    }

    /// Puts back the states a failed call changed.
    pub fn restore(&mut self, undo: Vec<(String, Option<Transaction>)>) {
        for (id, previous) in undo.into_iter().rev() {
            match previous {
                Some(txn) => self.transactions.insert(id, txn),
                None => self.transactions.remove(&id),
            };
        }
    }

    /// Records the change of `id` made by `change`, remembering the
    /// previous state for `restore`.
    fn update(
        &mut self,
        effects: &mut Effects,
        id: &str,
        change: impl FnOnce(&mut Transaction),
    ) -> Transaction {
        let partition = self.partition_for(id);
        let txn = self.transactions.get_mut(id).expect("caller checked");
        effects.undo.push((id.to_string(), Some(txn.clone())));
        change(txn);
        effects
            .records
            .push((partition, records::key(id), Some(records::value(txn))));
        txn.clone()
    }

    /// InitProducerId with a transactional id: a new producer id (epoch 0)
    /// for a new id, otherwise the next epoch of the current one, which
    /// fences every older producer instance. An ongoing transaction is
    /// aborted first (the answer is then CONCURRENT_TRANSACTIONS, and the
    /// producer retries). `expected` is the producer id and epoch the
    /// producer already has (KIP-360), if any.
    pub fn init_producer_id(
        &mut self,
        now: i64,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_producer_id: Option<i64>,
    ) -> (InitOutcome, Effects) {
        let mut effects = Effects::default();
        let fail = |code| (InitOutcome::Error(code), Effects::default());
        // Longer ids could not be written in the record's key (a 16-bit
        // length); the request's own string (compact in v2+) has no such limit.
        if transactional_id.is_empty() || transactional_id.len() > i16::MAX as usize {
            return fail(ErrorCode::INVALID_REQUEST);
        }
        if let Err(code) = self.check_loaded(transactional_id) {
            return fail(code);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return fail(ErrorCode::INVALID_TRANSACTION_TIMEOUT);
        }
        let Some(txn) = self.transactions.get(transactional_id) else {
            let Some(producer_id) = fresh_producer_id else {
                return (InitOutcome::NeedProducerId, effects);
            };
            let txn = Transaction {
                transactional_id: transactional_id.to_string(),
                producer_id,
                previous_producer_id: -1,
                producer_epoch: 0,
                last_producer_epoch: -1,
                timeout_ms,
                state: TxnState::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now,
            };
            effects.undo.push((transactional_id.to_string(), None));
            effects.records.push((
                self.partition_for(transactional_id),
                records::key(transactional_id),
                Some(records::value(&txn)),
            ));
            self.transactions.insert(transactional_id.to_string(), txn);
            return (
                InitOutcome::Ready {
                    producer_id,
                    producer_epoch: 0,
                },
                effects,
            );
        };
        if let Some((pid, epoch)) = expected {
            let current = pid == txn.producer_id
                && (epoch == txn.producer_epoch || epoch == txn.last_producer_epoch);
            let rotated = pid == txn.previous_producer_id && pid >= 0;
            if !current && !rotated {
                return fail(ErrorCode::PRODUCER_FENCED);
            }
            // A retry of the InitProducerId that made the current epoch.
            if pid == txn.producer_id
                && epoch == txn.last_producer_epoch
                && epoch >= 0
                && !txn.state.is_prepare()
                && txn.state != TxnState::Ongoing
            {
                return (
                    InitOutcome::Ready {
                        producer_id: txn.producer_id,
                        producer_epoch: txn.producer_epoch,
                    },
                    effects,
                );
            }
        }
        match txn.state {
            TxnState::PrepareCommit
            | TxnState::PrepareAbort
            | TxnState::PrepareEpochFence
            | TxnState::Dead => fail(ErrorCode::CONCURRENT_TRANSACTIONS),
            TxnState::Ongoing => {
                // Fence the current producer and abort its transaction.
                self.abort_with_fence(now, transactional_id, &mut effects);
                (
                    InitOutcome::Error(ErrorCode::CONCURRENT_TRANSACTIONS),
                    effects,
                )
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let rotate = epoch_exhausted(txn.producer_epoch);
                if rotate && fresh_producer_id.is_none() {
                    return (InitOutcome::NeedProducerId, effects);
                }
                let txn = self.update(&mut effects, transactional_id, |txn| {
                    match fresh_producer_id.filter(|_| rotate) {
                        Some(pid) => {
                            txn.previous_producer_id = txn.producer_id;
                            txn.producer_id = pid;
                            txn.producer_epoch = 0;
                            txn.last_producer_epoch = -1;
                        }
                        None => {
                            // Only a bump the producer asked for (KIP-360,
                            // naming its epoch) may be retried with the
                            // epoch before it; after a plain InitProducerId
                            // (a new instance) the old epoch is fenced, as
                            // in Kafka, or a zombie could get the new one.
                            txn.last_producer_epoch = if expected.is_some() {
                                txn.producer_epoch
                            } else {
                                -1
                            };
                            txn.producer_epoch += 1;
                        }
                    }
                    txn.timeout_ms = timeout_ms;
                    txn.state = TxnState::Empty;
                    txn.partitions.clear();
                    txn.start_ms = -1;
                    txn.last_update_ms = now;
                });
                (
                    InitOutcome::Ready {
                        producer_id: txn.producer_id,
                        producer_epoch: txn.producer_epoch,
                    },
                    effects,
                )
            }
        }
    }

    /// Bumps the epoch of an ongoing transaction (so its producer is
    /// fenced) and starts aborting it.
    fn abort_with_fence(&mut self, now: i64, id: &str, effects: &mut Effects) {
        let txn = self.update(effects, id, |txn| {
            if !epoch_exhausted(txn.producer_epoch) {
                txn.last_producer_epoch = txn.producer_epoch;
                txn.producer_epoch += 1;
            }
            txn.state = TxnState::PrepareAbort;
            txn.last_update_ms = now;
        });
        effects.completions.push(completion_of(&txn, false));
    }

    /// The checks shared by the calls of a running producer.
    fn check_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&Transaction, ErrorCode> {
        self.check_loaded(transactional_id)?;
        let txn = self
            .transactions
            .get(transactional_id)
            .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?;
        if txn.producer_id != producer_id || txn.state == TxnState::Dead {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if txn.producer_epoch != producer_epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        Ok(txn)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's offsets
    /// partition): the partitions join the transaction, which begins if it
    /// had not.
    pub fn add_partitions(
        &mut self,
        now: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> (ErrorCode, Effects) {
        let mut effects = Effects::default();
        let txn = match self.check_producer(transactional_id, producer_id, producer_epoch) {
            Ok(txn) => txn,
            Err(code) => return (code, effects),
        };
        if txn.state.is_prepare() {
            return (ErrorCode::CONCURRENT_TRANSACTIONS, effects);
        }
        if txn.state == TxnState::Ongoing && partitions.iter().all(|p| txn.partitions.contains(p)) {
            return (ErrorCode::NONE, effects);
        }
        let begins = txn.state != TxnState::Ongoing;
        self.update(&mut effects, transactional_id, |txn| {
            if txn.state != TxnState::Ongoing {
                txn.start_ms = now;
                txn.state = TxnState::Ongoing;
            }
            txn.partitions.extend(partitions.iter().cloned());
            txn.last_update_ms = now;
        });
        let at = self.observe(now);
        if begins {
            self.began_at.insert(transactional_id.to_string(), at);
        }
        (ErrorCode::NONE, effects)
    }

    /// Whether `partition` is part of the ongoing transaction of this
    /// producer: what a transactional produce must satisfy (KIP-890's
    /// verification, which keeps a late write from opening a transaction
    /// the coordinator no longer knows about).
    pub fn verify_partition(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), ErrorCode> {
        let txn = self.check_producer(transactional_id, producer_id, producer_epoch)?;
        if txn.state == TxnState::Ongoing && txn.partitions.contains(partition) {
            Ok(())
        } else {
            Err(ErrorCode::INVALID_TXN_STATE)
        }
    }

    /// EndTxn: commit or abort. On success the transaction is in
    /// PrepareCommit/PrepareAbort and the effects carry its completion.
    pub fn end_txn(
        &mut self,
        now: i64,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> (ErrorCode, Effects) {
        let mut effects = Effects::default();
        let txn = match self.check_producer(transactional_id, producer_id, producer_epoch) {
            Ok(txn) => txn,
            Err(code) => return (code, effects),
        };
        let code = match (txn.state, commit) {
            (TxnState::Ongoing, _) => {
                let txn = self.update(&mut effects, transactional_id, |txn| {
                    txn.state = if commit {
                        TxnState::PrepareCommit
                    } else {
                        TxnState::PrepareAbort
                    };
                    txn.last_update_ms = now;
                });
                effects.completions.push(completion_of(&txn, commit));
                ErrorCode::NONE
            }
            // A retry of an EndTxn that already finished.
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => ErrorCode::NONE,
            // A retry while its markers are still being written.
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                ErrorCode::CONCURRENT_TRANSACTIONS
            }
            (TxnState::PrepareEpochFence, _) => ErrorCode::CONCURRENT_TRANSACTIONS,
            _ => ErrorCode::INVALID_TXN_STATE,
        };
        (code, effects)
    }

    /// Every partition of `completion` has its marker: the transaction is
    /// complete. A completion that no longer matches the transaction (the
    /// producer moved on) changes nothing.
    pub fn complete(&mut self, now: i64, completion: &Completion) -> Effects {
        let mut effects = Effects::default();
        let expected = if completion.commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        let matches = self
            .transactions
            .get(&completion.transactional_id)
            .is_some_and(|t| {
                t.producer_id == completion.producer_id
                    && t.producer_epoch == completion.producer_epoch
                    && t.state == expected
            });
        if matches {
            self.update(&mut effects, &completion.transactional_id, |txn| {
                txn.state = if completion.commit {
                    TxnState::CompleteCommit
                } else {
                    TxnState::CompleteAbort
                };
                txn.partitions.clear();
                txn.last_update_ms = now;
            });
        }
        effects
    }

    /// Transactions whose markers are still to be written (after a reload,
    /// or a marker write that failed).
    pub fn pending_completions(&self) -> Vec<Completion> {
        self.pending_where(|_| true)
    }

    /// The pending completions of one partition's transactional ids: what
    /// a coordinator that just loaded the partition resumes.
    pub fn pending_completions_in(&self, partition: i32) -> Vec<Completion> {
        self.pending_where(|id| self.partition_for(id) == partition)
    }

    fn pending_where(&self, mut keep: impl FnMut(&str) -> bool) -> Vec<Completion> {
        let mut out: Vec<Completion> = self
            .transactions
            .values()
            .filter(|t| matches!(t.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .filter(|t| keep(&t.transactional_id))
            .map(|t| completion_of(t, t.state == TxnState::PrepareCommit))
            .collect();
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// Aborts transactions past their timeout (fencing their producers),
    /// and forgets transactional ids idle past `id_expiration_ms`.
    pub fn tick(&mut self, now: i64) -> Effects {
        let mut effects = Effects::default();
        let mut timed_out: Vec<String> = Vec::new();
        let mut expired: Vec<String> = Vec::new();
        let elapsed = self.observe(now);
        // Ongoing transactions this coordinator did not see begin (loaded
        // from the log) are timed from now on as well: at the latest one
        // timeout after the load, whatever their recorded start says.
        let unseen: Vec<String> = self
            .transactions
            .values()
            .filter(|t| {
                t.state == TxnState::Ongoing && !self.began_at.contains_key(&t.transactional_id)
            })
            .map(|t| t.transactional_id.clone())
            .collect();
        for id in unseen {
            self.began_at.insert(id, elapsed);
        }
        for txn in self.transactions.values() {
            if !self
                .loaded
                .contains(&self.partition_for(&txn.transactional_id))
            {
                continue;
            }
            let timeout = i64::from(txn.timeout_ms);
            match txn.state {
                TxnState::Ongoing
                    if txn.start_ms.saturating_add(timeout) <= now
                        || self
                            .began_at
                            .get(&txn.transactional_id)
                            .is_some_and(|&began| elapsed.saturating_sub(began) >= timeout) =>
                {
                    timed_out.push(txn.transactional_id.clone());
                }
                TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                    if txn
                        .last_update_ms
                        .saturating_add(self.config.id_expiration_ms)
                        <= now =>
                {
                    expired.push(txn.transactional_id.clone());
                }
                _ => {}
            }
        }
        timed_out.sort();
        expired.sort();
        for id in timed_out {
            self.abort_with_fence(now, &id, &mut effects);
        }
        for id in expired {
            let partition = self.partition_for(&id);
            let previous = self.transactions.remove(&id);
            self.began_at.remove(&id);
            effects.undo.push((id.clone(), previous));
            effects.records.push((partition, records::key(&id), None));
        }
        effects
    }
}

fn completion_of(txn: &Transaction, commit: bool) -> Completion {
    Completion {
        transactional_id: txn.transactional_id.clone(),
        producer_id: txn.producer_id,
        producer_epoch: txn.producer_epoch,
        commit,
        partitions: txn.partitions.iter().cloned().collect(),
    }
}
